/* SPDX-License-Identifier: MIT */
/*
 * tpio_fuzz: a grammar-aware fuzzer of /dev/tpio. The declarations shared by
 * its parts:
 *
 *   tpio_fuzz.c  the supervisor: options, rounds, watchdog, kernel log,
 *                statistics, the KTAP result
 *   round.c      one round: a process (maybe unprivileged) with worker
 *                threads, a controller, child processes
 *   model.c      the model of ports, fds, mappings and handles, and the
 *                choice of plausible, boundary and garbage arguments
 *   ops_ioctl.c  the ioctls, with the errno each may return and the
 *                consistency of their outputs
 *   ops_mm.c     fds, mappings, shared-memory protocol, fork, signals
 *   report.c     traces of the last calls, statistics, violations
 *
 * Documentation/kmod.rst ("Security", "Fuzzing") says what it checks.
 */
#ifndef TPIO_FUZZ_H
#define TPIO_FUZZ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <linux/tpio.h>
#include "tpio_word.h"

#define PAGE		4096UL
#define MAX_WORKERS	8	/* worker threads of a round process */
#define MAX_PORTS	4	/* ports a round process keeps at once */
#define MAX_FDS		4	/* fds of one port (open, dup, SCM_RIGHTS) */
#define MAX_MAPS	4	/* mappings of one port */
#define MAX_LIVE	48	/* handles remembered as live, per port */
#define MAX_CLOSED	32	/* handles remembered as closed, per port */
#define HINT_SLOTS	8	/* slots whose generation is tracked */
#define MAX_STALE_FDS	16	/* fd numbers closed earlier */
#define MAX_KIDS	8	/* child processes alive at once */
#define KIDS_PER_ROUND	40	/* child processes started per round */
#define KID_CALLS	300	/* calls of a forked child */
#define MAX_SLOTS	(MAX_WORKERS + KIDS_PER_ROUND + 4)
#define TRACE_LEN	32	/* calls kept per thread */
#define AREA_A_LEN	PAGE		/* an argument structure */
#define AREA_B_LEN	(3 * PAGE)	/* a POST array (256 * 32 bytes) */
#define ARG_LEN		(AREA_A_LEN + AREA_B_LEN)
#define MAX_ATT		8	/* CONC attachments a thread tracks */
#define CONC_KINDS	5	/* ATTACH, DETACH, SET, QUERY, a bad op */

/*
 * Below this many IO_CREATEs per port no slot can have gone round its
 * 65535 generations (forked children add at most KIDS_PER_ROUND *
 * KID_CALLS), so a handle value names one object only: the checks that
 * compare handles are sound.
 */
#define HANDLE_CHECK_CREATES	25000

#define UNBOUNDED	UINT64_MAX
#define NSEC		1000000000ULL
#define MSEC		1000000ULL
#define KTIME_MAX_NS	((uint64_t)INT64_MAX)

/* exit status of a round process or a child */
#define EXIT_VIOLATION	3
#define EXIT_SKIP	4

enum op {
	OP_VERSION, OP_SETUP, OP_IO_CREATE, OP_IO_CLOSE, OP_POST, OP_WAIT,
	OP_DRAIN, OP_WAKE, OP_IO_QUERY, OP_CONC, OP_BAD_CMD,
	/* not ioctls of /dev/tpio */
	OP_OPEN, OP_CLOSE, OP_DUP, OP_SENDFD, OP_MMAP, OP_MUNMAP, OP_MPROTECT,
	OP_MADVISE, OP_MREMAP, OP_START, OP_CONSUME, OP_SCRIBBLE, OP_FORK,
	OP_SLEEPER, OP_KILL, OP_SIGNAL, OP_POLL, OP_EPOLL, OP_FLICKER,
	OP_COUNT
};

/* errno classes, for the allowed sets and the statistics */
enum eclass {
	E_OK, E_FAULT, E_INVAL, E_NOENT, E_NOSPC, E_AGAIN, E_TIMEDOUT, E_INTR,
	E_BUSY, E_NOMEM, E_NOTTY, E_BADF, E_PERM, E_ACCES, E_MFILE, E_DQUOT,
	E_OTHER, E_COUNT
};
#define M(e)		(1U << (e))

/* what an argument pointer points to */
enum ptr_kind {
	PK_NONE_ARG,	/* the call takes no pointer */
	PK_PLAIN,	/* a private read-write buffer */
	PK_MISALIGN,	/* the same, 1..7 bytes off */
	PK_RO,		/* a read-only view of a memfd page */
	PK_EDGE,	/* straddles into a PROT_NONE page */
	PK_NULL,
	PK_KERNEL,	/* a kernel or non-canonical address */
	PK_PROTNONE,	/* a PROT_NONE page */
	PK_RING,	/* into a read-only ring mapping of a port */
	PK_SHARED,	/* into a shared mapping of a port (scribbled) */
	PK_FLICKER,	/* a page whose protection another thread flips */
	PK_COUNT
};

/* how the kernel can access an argument */
enum access { ACC_RW, ACC_RO, ACC_NONE, ACC_ANY };

/* what an fd argument is */
enum fd_kind {
	FD_PORT,	/* an fd of a port the model knows */
	FD_BAD,		/* -1 or far above any open fd: EBADF */
	FD_OTHER,	/* /dev/null: ENOTTY */
	FD_STALE,	/* a number closed earlier, maybe reused: anything */
};

/* One call in a thread's trace. */
struct trace_ent {
	uint64_t t_ns;		/* since the round began */
	uint16_t op;
	uint8_t pk;		/* enum ptr_kind of the main argument */
	uint8_t done;		/* 0 while in flight */
	int32_t fd;
	uint64_t cmd;
	uint64_t a[4];		/* op-specific, see report.c */
	int64_t ret;
	int32_t err;
};

/*
 * A thread's record in memory shared with the supervisor, which reads it
 * without locks to find hangs and to print the last calls.
 */
struct tslot {
	int32_t pid, tid;
	uint32_t round;
	int32_t worker;		/* worker index; -1 forked child, -2 sleeper */
	uint64_t seed;
	_Atomic uint64_t seq;		/* calls begun */
	_Atomic uint64_t start_ns;	/* of the call in flight; 0: idle */
	_Atomic uint64_t bound_ns;	/* it may run until then (+ grace) */
	_Atomic uint64_t unstick_seq;	/* the call the controller signalled */
	_Atomic uint64_t unstick_ns;	/* when it first did */
	struct trace_ent ring[TRACE_LEN];
};

/* Shared by the supervisor and every process of every round. */
struct shm {
	_Atomic uint64_t calls;
	_Atomic uint64_t by_op[OP_COUNT][E_COUNT];
	_Atomic uint64_t by_conc[CONC_KINDS][E_COUNT];	/* CONC by op */
	_Atomic uint32_t next_slot;
	_Atomic int stop;		/* the supervisor wants the round to end */
	_Atomic int reported;		/* a violation is being printed */
	uint64_t round_t0;		/* CLOCK_MONOTONIC when the round began */
	struct tslot slots[MAX_SLOTS];
};

/* The options, fixed for the whole run. */
struct config {
	uint64_t seed;
	uint64_t seconds;
	uint64_t max_calls;		/* 0: no limit */
	int threads;
	long only_round;		/* -1: all rounds */
	int keep_going;
	int unpriv;			/* 0 mix, 1 always, -1 never */
	uint64_t grace_ns;		/* watchdog slack */
	int verbose;
	int is_root;
	int conc;			/* the module has TPIO_FEAT_CONC */
};

struct profile {
	int workers;
	int unpriv;
	int scribbler;		/* a thread scribbles over shared areas */
	int flicker;		/* a thread flips the flicker page */
	int max_ports;
	uint32_t bad_ptr_pct;	/* share of garbage pointers */
	uint32_t focus_pct;	/* share of calls on the round's hot port */
	uint32_t unstick_ms;	/* unbounded sleepers are signalled after */
	uint32_t weights[OP_COUNT];
	uint64_t length_ns;
	uint64_t kill_at_ns;	/* the supervisor SIGKILLs the round; 0 never */
	uint32_t calls_per_worker;
};

struct mapping {
	unsigned char *addr;	/* NULL: unused */
	size_t len;
	int shared;		/* the SHARED area, else the RING area */
	int prot;
	int zapped;		/* MADV_DONTNEED: do not touch from user space */
	int dontfork;
};

struct handle {
	uint32_t io;
	uint64_t cookie;
};

enum setup_state { SETUP_NO, SETUP_YES, SETUP_MAYBE };

/*
 * A port as the model knows it. Protected by round.lock, except maps[],
 * which map_lock protects: readers hold it while they touch the mapped
 * memory, writers while they map, unmap, protect or zap.
 */
struct port {
	int used;
	_Atomic uint32_t serial;	/* changes when the slot is reused */
	int fds[MAX_FDS];		/* -1: none */
	int fd_mode[MAX_FDS];		/* O_ACCMODE of each */
	uint32_t tag;			/* high half of this port's cookies */
	int untagged;			/* a cookie without the tag exists */
	int setup;			/* enum setup_state */
	uint32_t entries, objects;	/* 0: unknown */
	int sa_known;
	struct tpio_setup_args sa;
	pthread_rwlock_t map_lock;
	struct mapping maps[MAX_MAPS];
	struct handle live[MAX_LIVE];
	int nlive;
	uint32_t closed[MAX_CLOSED];
	uint32_t closed_seq[MAX_CLOSED];	/* close_seq when recorded */
	int nclosed, closed_next;
	uint32_t close_seq;
	uint16_t hint[HINT_SLOTS];	/* last generation seen per slot */
	uint64_t creates;
	uint32_t cookie_ctr;
};

struct round;

/* A port the thread attached itself to with TPIO_IOC_CONC (ATTACH). */
struct att {
	struct port *p;		/* stays after the port is closed */
	uint32_t serial;	/* p's serial then: a reused slot is another */
	int sure;		/* 0: maybe (the result did not tell) */
};

struct worker {
	struct round *r;
	int idx;		/* -1 in a forked child, -2 in a sleeper */
	int child;		/* no fork, no signals to others, no unbounded sleep */
	int long_sleep;		/* a sleeper child: long or no timeouts */
	uint64_t rng;
	struct tslot *ts;
	pthread_t th;
	pid_t tid;
	uint64_t calls;
	_Atomic int finished;
	/* argument memory: mapped at round start, never unmapped */
	unsigned char *buf;	/* ARG_LEN, private RW */
	unsigned char *rw;	/* ARG_LEN, RW view of a memfd */
	unsigned char *ro;	/* ARG_LEN, RO view of the same memfd */
	unsigned char *edge;	/* a RW page, then a PROT_NONE page */
	/*
	 * The thread's CONC attachments (the kernel's are per thread, and a
	 * forked child starts with none); conc_fuzzy: a call on an fd that
	 * raced with a close, or on memory others write, may have attached
	 * or detached the thread anywhere: only loose checks from then on.
	 */
	struct att att[MAX_ATT];
	int natt;
	int conc_fuzzy;
};

struct kid {
	pid_t pid;
	int killed;		/* we sent SIGKILL */
	int stopped;		/* we sent SIGSTOP */
	int slot;
};

struct round {
	uint32_t id;
	uint64_t seed;
	struct profile prof;
	pthread_mutex_t lock;		/* the model */
	struct port ports[MAX_PORTS];
	_Atomic uint64_t closes;	/* close() of port fds so far */
	/*
	 * SETUPs begun and in flight, round-wide: a SETUP whose fd raced
	 * with a close() may have set up whichever port got the number.
	 */
	uint32_t setups;
	int setups_inflight;
	uint32_t setups_raced;		/* of those, set up who knows what */
	/* the same for IO_CREATE: its cookie may land on any port */
	int creates_inflight;
	uint32_t creates_raced;
	int stale_fds[MAX_STALE_FDS];
	int nstale;
	int devnull;
	int epfd;			/* an epoll instance of the round */
	int nworkers;
	struct worker workers[MAX_WORKERS];
	struct kid kids[MAX_KIDS];
	int kids_started;
	_Atomic int stop;
	_Atomic int ending;		/* kids may now die of our SIGKILL */
	uint64_t t0, end_ns;
	unsigned char *protnone;	/* ARG_LEN of PROT_NONE, never unmapped */
	unsigned char *flicker;		/* 2 * ARG_LEN: the flipped view */
	unsigned char *flicker_rw;	/* an always-writable view of it */
	int flicker_fd;
};

extern struct shm *g_shm;
extern struct config g_cfg;

/* ---- small helpers ---- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* splitmix64: one stream per seed; also derives seeds from seeds */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t derive_seed(uint64_t seed, uint64_t k)
{
	uint64_t s = seed ^ (k * 0xd1b54a32d192ed03ULL);

	return rng_next(&s);
}

static inline uint64_t rnd(struct worker *w)
{
	return rng_next(&w->rng);
}

/* 0..n-1 (n > 0) */
static inline uint64_t below(struct worker *w, uint64_t n)
{
	return rnd(w) % n;
}

/* true with probability pct % */
static inline int chance(struct worker *w, unsigned int pct)
{
	return below(w, 100) < pct;
}

/* ---- report.c ---- */
struct tslot *slot_alloc(uint32_t round, int worker, uint64_t seed);
void trace_begin(struct worker *w, enum op op, int fd, uint64_t cmd,
		 enum ptr_kind pk, const uint64_t a[4], uint64_t bound_ns);
void trace_end(struct worker *w, int64_t ret, int err);
void stats_add(enum op op, int64_t ret, int err);
enum eclass errno_class(int err);
const char *errno_name(int err);
const char *op_name(enum op op);
void mask_names(uint32_t mask, char *buf, size_t len);
void print_slot(const struct tslot *s, int last, const char *why);
void print_round_slots(uint32_t round, int last);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void violation(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void print_stats(void);
void repro_line(char *buf, size_t len, uint32_t round);

/* ---- round.c ---- */
void make_profile(const struct config *cfg, uint32_t id, uint64_t seed,
		  uint64_t left_ns, struct profile *p);
int round_main(uint32_t id, uint64_t seed, const struct profile *p);
int fork_locked(struct worker *w, int worker_kind, uint64_t seed);
void install_handlers(void);
uint32_t sig1_count(void);

/* ---- model.c ---- */
void model_lock(struct round *r);
void model_unlock(struct round *r);
void port_init(struct port *p, int fd, int mode, uint32_t tag);
void port_forget_fd(struct round *r, struct port *p, int i);
void port_maybe_free(struct port *p);
void ports_maybe_setup(struct round *r);
void ports_untagged(struct round *r);
int port_nfds(const struct port *p);
struct port *pick_port(struct worker *w, int want_setup);
int pick_port_fd(struct worker *w, struct port *p, int *mode);
uint32_t pick_handle(struct worker *w, struct port *p, int *kind);
uint64_t pick_timeout(struct worker *w, uint64_t *bound);
uint32_t pick_entries(struct worker *w);
uint32_t pick_objects(struct worker *w);
void handle_add(struct port *p, uint32_t io, uint64_t cookie);
void handle_closed(struct port *p, uint32_t io);
int handle_is_closed(const struct port *p, uint32_t io);
int handle_bad_form(const struct port *p, uint32_t io);
int handle_checks_on(const struct port *p);
const struct handle *handle_find(const struct port *p, uint32_t io);
uint32_t handle_of_slot(const struct port *p, uint32_t slot);
struct mapping *port_map(struct port *p, int shared, size_t need, int prot);

/* handle kinds from pick_handle */
enum { HK_LIVE, HK_CLOSED, HK_GUESS, HK_OTHER, HK_BAD, HK_RANDOM };

/* the context of one ioctl */
struct call {
	enum op op;
	struct port *port;	/* NULL unless fd_kind is FD_PORT */
	uint32_t serial;
	int fd;
	enum fd_kind fd_kind;
	int fd_mode;
	int setup;		/* the port's setup state when chosen */
	uint32_t objects;	/* max_objects, 0: unknown */
	uint64_t closes;	/* round.closes when chosen */
	uint32_t attempts;	/* round.setups when chosen */
	enum ptr_kind pk, pk2;	/* main argument, POST array */
	uint64_t t0, t1;
	int64_t ret;
	int err;
	uint32_t sig1;		/* SIGUSR1 handled during the call */
};

void call_pick(struct worker *w, struct call *c, enum op op, int want_setup);
void call_on_port(struct worker *w, struct call *c, struct port *p);
void *place_arg(struct worker *w, struct call *c, int area, const void *src,
		size_t len, enum ptr_kind *pk);
const void *arg_view(struct worker *w, enum ptr_kind pk, const void *ptr,
		     int area, size_t len);
enum access ptr_access(enum ptr_kind pk);
void do_ioctl(struct worker *w, struct call *c, unsigned long cmd, void *arg,
	      const uint64_t a[4], uint64_t bound);
int call_port_valid(struct worker *w, const struct call *c);
void call_settle(struct worker *w, struct call *c);
uint32_t fd_allows(struct worker *w, struct call *c, uint32_t expect);
void check_result(struct worker *w, struct call *c, uint32_t mask);
extern const uint32_t doc_errors[OP_COUNT];

/* ---- ops_ioctl.c, ops_mm.c ---- */
typedef void (*op_fn)(struct worker *w);
extern const op_fn op_table[OP_COUNT];	/* NULL for OP_FLICKER */
void op_version(struct worker *w);
void op_setup(struct worker *w);
void op_io_create(struct worker *w);
void op_io_close(struct worker *w);
void op_post(struct worker *w);
void op_wait(struct worker *w);
void op_drain(struct worker *w);
void op_wake(struct worker *w);
void op_io_query(struct worker *w);
void op_conc(struct worker *w);
void op_bad_cmd(struct worker *w);
void wake_io(struct worker *w, struct port *p, uint32_t io);
void sleeper_call(struct worker *w);
void op_open(struct worker *w);
void op_close(struct worker *w);
void op_dup(struct worker *w);
void op_sendfd(struct worker *w);
void op_mmap(struct worker *w);
void op_munmap(struct worker *w);
void op_mprotect(struct worker *w);
void op_madvise(struct worker *w);
void op_mremap(struct worker *w);
void op_start(struct worker *w);
void op_consume(struct worker *w);
void op_scribble(struct worker *w);
void op_fork(struct worker *w);
void op_sleeper(struct worker *w);
void op_kill(struct worker *w);
void op_signal(struct worker *w);
void op_poll(struct worker *w);
void op_epoll(struct worker *w);
void scribble_once(struct worker *w, struct port *p);
void non_ioctl(struct worker *w, enum op op, int fd, const uint64_t a[4],
	       int64_t ret, int err);
void non_ioctl_begin(struct worker *w, enum op op, int fd,
		     const uint64_t a[4]);
void non_ioctl_end(struct worker *w, enum op op, int64_t ret, int err);

#endif /* TPIO_FUZZ_H */
