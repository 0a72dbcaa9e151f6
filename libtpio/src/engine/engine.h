/* SPDX-License-Identifier: MIT */
/*
 * libtpio's engine layer (Documentation/map.rst): pools, their workers
 * and scheduler, the TP_IO objects and their accounting, the delivery of
 * completions, the I/O engine on io_uring and the stall detector. It sees
 * the transport layer and uapi/, common/ and tpio.h (for the Win32 types);
 * what it must tell the API layer above goes through callbacks that the
 * API registers (struct tpio_io_upcalls, the instance's and the object's
 * hooks). Object model:
 *
 *   pool    (struct _TP_POOL)   one port (a transport instance), its workers,
 *                               its I/O engine (an io_uring, created at the
 *                               first overlapped operation) and the shared
 *                               scheduler. Workers take turns as the engine's
 *                               leader: the one idle worker that waits in
 *                               io_uring_enter() and reaps completions.
 *   port    (struct tpio_port)  the completion ring and the state words, seen
 *                               the same way for both transports.
 *   io      (struct _TP_IO)     one TP_IO: a slot of its pool's port. Its
 *                               counters live in the port's state word, changed
 *                               only by atomic RMWs (common/tpio_word.h).
 *   worker  (struct tpio_worker) a pool thread; owns a one-entry mailbox for
 *                               the completion it will run next.
 *
 * Documentation/libtpio.rst describes the path of a completion and the
 * wake-up rules; Documentation/io.rst the engine.
 *
 * TP_IO structs are type-stable: they are never returned to the system, so
 * reading the magic of a closed object is defined and detects misuse.
 */
#ifndef TPIO_ENGINE_H
#define TPIO_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include "transport.h"
#include "tpio_list.h"
#include "tpio.h"

/* ---- configuration: read once from the environment (config.c) ---- */
struct tpio_config {
	uint32_t idle_timeout_ms;	/* TPIO_IDLE_TIMEOUT_MS */
	uint32_t spin_us;		/* TPIO_SPIN_US (0 with one CPU) */
	uint32_t concurrency;		/* TPIO_CONCURRENCY, default: CPUs */
	uint32_t stall_us;		/* TPIO_STALL_US: stall detector tick */
	int meter;			/* TPIO_CPU_METER: the detector's meter */
	uint32_t kernel_conc;		/* TPIO_KERNEL_CONC: 0, 1 ports, 2 pools */
	uint32_t cpus;			/* CPUs in the affinity mask at start */
	int socket_poll;		/* TPIO_SOCKET_RECV=poll */
	int stats;			/* TPIO_STATS: anything but empty or 0 */
	uint32_t stats_ms;		/* TPIO_STATS_MS, 10..10000, default 100 */
};

TPIO_HIDDEN const struct tpio_config *tpio_config(void);
/* TPIO_RING_ENTRIES and TPIO_MAX_OBJECTS, read for each new pool */
TPIO_HIDDEN void tpio_config_port(uint32_t *ring_entries,
				  uint32_t *max_objects);
/* TPIO_IO_INFLIGHT, read at the first overlapped operation */
TPIO_HIDDEN uint32_t tpio_config_io_inflight(void);

/* the process's transport (TPIO_BACKEND), NULL when none can be used */
TPIO_HIDDEN const struct tpio_transport *tpio_transport_get(void);

/* ---- diagnostics (diag.c) ---- */
TPIO_HIDDEN int tpio_debug(void);
TPIO_HIDDEN void tpio_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
TPIO_HIDDEN void tpio_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* ---- the scheduler: per-slot FIFO, per-priority round robin ---- */
struct tpio_entry {
	struct tpio_snode node;		/* a slot's queue, a park queue, free */
	struct tpio_cqe cqe;
};

static inline struct tpio_entry *tpio_entry_of(struct tpio_snode *n)
{
	return n ? tpio_container_of(n, struct tpio_entry, node) : NULL;
}

struct tpio_slot_q {
	struct tpio_fifo q;		/* struct tpio_entry, oldest first */
	int32_t rr_next;		/* next slot on its priority list */
	uint8_t prio;
	uint8_t listed;
	_Atomic uint64_t dropped_said;	/* TPIO_DEBUG: 1 << 32 | handle told */
};

struct tpio_rr {
	int32_t head, tail;		/* slots, -1 when empty */
};

struct tpio_engine;

/* an entry of a worker's local queue: the entry, its object's life */
struct tpio_local {
	struct tpio_cqe cqe;
	uint32_t inc;
};

#define TPIO_LOCAL_MAX	64		/* a power of two */

/* a pool thread (pool.c) */
struct tpio_worker {
	struct _TP_POOL *pool;
	struct tpio_link link;		/* pool->workers, pool->mu */
	/*
	 * The local queue (its "mailbox"): entries this thread posted to
	 * itself or kept from what it reaped as the leader, which it runs
	 * next, in order, without the pool mutex. Only the owner pushes (at
	 * lq_tail, release); the owner and the stall detector take from
	 * lq_head with a CAS, after copying the entry (the port ring's
	 * protocol). At most one entry per object (io->parked).
	 */
	_Atomic uint32_t lq_head;
	_Atomic uint32_t lq_tail;
	struct tpio_local lq[TPIO_LOCAL_MAX];
	_Atomic uint32_t cb_seq;	/* callbacks begun (stall detector) */
	uint32_t mon_seq;		/* the detector's last look, pool->mu */
	struct tpio_batch *batch;	/* the leader's completions */
	int engine_bound;		/* may submit to the engine's ring */
	int active;			/* counted in pool->running */
	int persistent;
	int attached;			/* counted by the kernel (pool->kconc) */
	_Atomic int in_cb;		/* inside a callback (kconc: conc_admitted) */
	int long_detached;		/* CallbackMayRunLong left the counts */
	int pending_waits;		/* kconc: sleep_idle's pending WAITs */
	pid_t tid;			/* its thread id, once started */
	_Atomic uint32_t act_seq;	/* changes of active (the meter) */
};

/*
 * The worker changed between active and idle (the CPU meter's act_seq):
 * only the worker itself writes it, so no read-modify-write is needed.
 */
static inline void tpio_act_seq_bump(struct tpio_worker *self)
{
	atomic_store_explicit(&self->act_seq,
			      atomic_load_explicit(&self->act_seq,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* *@v - 1 unless it is 0: 1 when it took one. */
static inline int tpio_take_one(_Atomic uint32_t *v)
{
	uint32_t n = atomic_load(v);

	while (n)
		if (atomic_compare_exchange_weak(v, &n, n - 1))
			return 1;
	return 0;
}

/* Entries wait in @w's local queue (a hint for other threads). */
static inline int tpio_local_nonempty(struct tpio_worker *w)
{
	return atomic_load_explicit(&w->lq_head, memory_order_acquire) !=
	       atomic_load_explicit(&w->lq_tail, memory_order_acquire);
}

/*
 * Take the oldest entry of @w's local queue into @out: 1, or 0 when it is
 * empty. The owner and the stall detector both take this way.
 */
static inline int tpio_local_take(struct tpio_worker *w,
				  struct tpio_local *out)
{
	uint32_t h = atomic_load_explicit(&w->lq_head, memory_order_acquire);

	for (;;) {
		/* pairs with the owner's release store of lq_tail */
		if (h == atomic_load_explicit(&w->lq_tail, memory_order_acquire))
			return 0;
		*out = w->lq[h & (TPIO_LOCAL_MAX - 1)];
		/* the copy is ordered before the slot is given back */
		if (atomic_compare_exchange_weak_explicit(&w->lq_head, &h, h + 1,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return 1;
	}
}

/* the current thread's worker, NULL on threads that are not pool workers */
TPIO_HIDDEN extern __thread struct tpio_worker *tpio_self;

/*
 * What pool.c, low in the engine, must have done by the files above it:
 * the top of the engine (worker.c) registers these with each pool it
 * creates, so that no file of the engine calls up by name.
 */
struct tpio_pool_ops {
	void *(*worker_main)(void *worker);	/* a new worker's thread */
	void (*destroy)(struct _TP_POOL *pool);	/* a closed pool's last object left */
	void (*doorbell)(struct tpio_engine *e);	/* wake the engine's leader */
	void (*watch)(void);			/* the stall detector should tick */
};

struct _TP_POOL {
	uint32_t magic;
	const struct tpio_pool_ops *ops;
	int is_default;
	struct tpio_port port;
	uint32_t concurrency;		/* NT's concurrency value */

	pthread_mutex_t mu;		/* protects the fields up to "atomics" */
	pthread_cond_t exit_cv;
	struct tpio_slot_q *slots;	/* [max_objects] */
	struct tpio_rr rr[TP_CALLBACK_PRIORITY_COUNT];
	struct tpio_stack free_entries;	/* struct tpio_entry */
	struct tpio_list workers;	/* every worker (tpio_worker.link) */
	uint32_t threads;		/* workers that exist (or are starting) */
	uint32_t bound;			/* workers with engine_bound */
	uint32_t max_threads, min_threads;
	uint32_t io_count;
	int stopping;			/* see CloseThreadpool */
	int close_deferred;
	int prio_mixed;			/* objects of several priorities */
	int first_prio;			/* the priority of the first object */
	uint32_t mon_cb;		/* stall detector: callbacks seen */
	int mon_armed;			/* ... since a look that counts */
	struct tpio_meter *meter;	/* the detector's CPU meter, mon_mu */
	int mon_over;			/* its last window: too many runnable */
	uint32_t mon_hold;		/* ticks before the tick rule may grant */
	/*
	 * The kernel's concurrency control (kmod with TPIO_FEAT_CONC): the
	 * port's value is the pool's, its workers are attached, and an idle
	 * worker that the library's count refuses asks the kernel's counts
	 * (Documentation/libtpio.rst, "Concurrency and stalls").
	 */
	int kconc;

	/* atomics, read without pool->mu */
	_Atomic uint32_t sched_count;	/* entries in the slot queues */
	_Atomic uint32_t running;	/* callbacks running (NT's "active") */
	_Atomic uint32_t spinning;	/* idle workers watching, not asleep */
	_Atomic uint32_t woken;		/* wakes issued, not yet claimed */
	_Atomic uint32_t grants;	/* the stall detector's extra admissions */
	_Atomic uint32_t revokes;	/* ... and places it takes back */
	_Atomic uint32_t cb_begun;	/* callbacks begun, ever */
	_Atomic uint32_t posting;	/* threads inside tpio_complete */
	_Atomic uint32_t longs;		/* CallbackMayRunLong callbacks (kconc) */
	_Atomic uint64_t conc_admits;	/* places given by the kernel's counts */
	_Atomic uint64_t conc_yields;	/* places given back above the value */
	_Atomic uint64_t stall_grants;	/* the detector's grants: tick rule */
	_Atomic uint64_t meter_grants;	/* ... the meter's */
	_Atomic uint64_t meter_revokes;	/* places the meter took back */
	_Atomic int leader;		/* an idle worker holds the engine */
	_Atomic int leader_asleep;	/* ... and waits in io_uring_enter() */
	_Atomic int watch;		/* the stall detector should look */
	struct tpio_engine *_Atomic eng;	/* NULL before the first I/O */
	pthread_mutex_t eng_mu;		/* creating eng */
	struct tpio_link mon_link;	/* the detector's list, mon_mu */
};

/* Take back one count of pool->woken, if there is one. */
static inline void tpio_claim_wake(struct _TP_POOL *pool)
{
	tpio_take_one(&pool->woken);
}

/* ---- TP_IO ---- */
struct _TP_IO {
	_Atomic uint32_t magic;
	_Atomic int closing;		/* CloseThreadpoolIo or group release */
	_Atomic uint32_t inc;		/* incarnation: changes at each reuse */
	_Atomic uint32_t claim;		/* inc, | TPIO_IO_CLAIMED once claimed */
	uint32_t handle;		/* the transport's object handle */
	uint32_t slot;
	__u64 *word;
	struct _TP_POOL *pool;
	PTP_WIN32_IO_CALLBACK cb;
	PVOID ctx;
	uint8_t kind;			/* TPIO_OBJ_*: what the handle is */
	void (*ucb)(void);		/* the user's callback of a non-IO kind */
	_Atomic int fd;			/* bound fd, -1 once unbound */
	_Atomic uint8_t fd_kind;	/* TPIO_FD_*, cached by the I/O family */
	_Atomic uint8_t notify_modes;	/* SetFileCompletionNotificationModes */
	TP_CALLBACK_PRIORITY prio;
	int long_function;
	int persistent;
	PTP_SIMPLE_CALLBACK finalization;
	PTP_CLEANUP_GROUP_CANCEL_CALLBACK cancel_cb;
	/*
	 * An entry of this object waits in a worker's mailbox: later entries
	 * wait in parkq (FIFO per object) until it begins. PARK_* below, with
	 * the incarnation in the upper half so that a late unpark cannot touch
	 * the object's next life. parkq is protected by park_lock.
	 */
	_Atomic uint64_t parked;
	atomic_flag park_lock;
	struct tpio_fifo parkq;		/* struct tpio_entry */
	/*
	 * Cleanup group membership (the API's, protected by group->mu):
	 * group_remove, set with group, is what freeing calls to leave it
	 * (0: a group release holds the object and frees it itself).
	 */
	struct _TP_CLEANUP_GROUP *group;
	int (*group_remove)(struct _TP_IO *io);
	struct tpio_link g_link;	/* the group's members */
	int g_hold;			/* group release in progress on it */
	int g_free_deferred;		/* freeing waits for g_hold == 0 */
	/*
	 * Work items, timers and waits: what closing the object or releasing
	 * its group must stop first (a timer's expiries, a wait's
	 * registration), set by its creator; NULL for TP_IO and work.
	 */
	void (*shutdown)(struct _TP_IO *io);
	/* TPIO_OBJ_TIMER (timer.c), under the timer lock */
	__u64 t_due;			/* next expiry, CLOCK_MONOTONIC ns */
	uint32_t t_period_ms;		/* 0: one expiry */
	int32_t t_heap;			/* index in the timer heap, -1: not armed */
	int t_set;			/* IsThreadpoolTimerSet */
	/*
	 * An expiry of an object that is not a plain timer (a wait's timeout)
	 * asks this hook first, under the timer lock: 1 and *status to queue
	 * the callback with that status, 0 to drop the expiry. Set by the
	 * API (NULL: a timer, status 0).
	 */
	int (*t_expire)(struct _TP_IO *io, DWORD *status);
	/* TPIO_OBJ_WAIT: the API's (api/threadpool_wait.c, handles_sync.c) */
	_Atomic uint32_t w_state;	/* generation << 1 | 1 while armed */
	struct tpio_link w_link;	/* the waited object's watchers */
	void *w_obj;			/* that object, referenced, or NULL */
	void *_Atomic w_fd;		/* a setting's readiness request on an
					 * fd handle, or NULL (set under the
					 * API's fdw_mu) */
	struct tpio_snode free_node;	/* slab free list */
};

/*
 * io->kind. Work items, timers and waits are engine objects like a TP_IO
 * (a slot of the pool's port, the same state word and path): the API
 * hands each of them out under its own type and runs the user's callback
 * (io->ucb) from io->cb, a trampoline of its own.
 */
enum { TPIO_OBJ_IO, TPIO_OBJ_WORK, TPIO_OBJ_SIMPLE, TPIO_OBJ_TIMER,
       TPIO_OBJ_WAIT };

#define TPIO_IO_CLAIMED	0x80000000U
#define TPIO_IO_MAGIC	0x54504f49U	/* live */
#define TPIO_IO_DEAD	0x44454144U

/* io->parked: 0, or (inc << 1) | PARK_MORE */
#define PARK_MORE	1ULL

static inline uint64_t tpio_park_value(uint32_t inc)
{
	return (uint64_t)inc << 1;
}

/* a callback instance: on the worker's stack for one callback */
struct _TP_CALLBACK_INSTANCE {
	struct _TP_IO *io;
	struct _TP_POOL *pool;
	int associated;
	int may_run_long;
	PCRITICAL_SECTION cs;
	HANDLE mutex;
	HANDLE sem;
	DWORD sem_count;
	HANDLE event;
	/* set by the API when it recorded an action for the callback's end */
	void (*on_return)(struct _TP_CALLBACK_INSTANCE *inst);
};

/* the instance of the callback this thread runs now (worker.c) */
TPIO_HIDDEN extern __thread struct _TP_CALLBACK_INSTANCE *tpio_cur_instance;

/*
 * Where a completion goes: the pool and object it is for, and the epoch
 * of the object's word when the operation began (the fast path applies
 * the arrival rule itself only while the epoch is unchanged, so a slot
 * freed and reused meanwhile never gets a completion of its old object).
 */
struct tpio_target {
	struct _TP_POOL *pool;		/* NULL: no port completion */
	struct tpio_iocp *iocp;		/* or a completion port's (iocp.c) */
	struct _TP_IO *io;		/* type-stable */
	uint32_t handle;		/* the transport's handle */
	uint32_t epoch;
};

/* ---- TP_IO objects (tp_io.c) ---- */

/* what CreateThreadpoolIo takes from its callback environment */
struct tpio_io_params {
	PTP_WIN32_IO_CALLBACK cb;
	PVOID ctx;
	uint8_t kind;			/* TPIO_OBJ_* */
	void (*ucb)(void);		/* the user's callback (not TPIO_OBJ_IO) */
	TP_CALLBACK_PRIORITY prio;
	int long_function;
	int persistent;
	PTP_SIMPLE_CALLBACK finalization;
	PTP_CLEANUP_GROUP_CANCEL_CALLBACK cancel_cb;
};

TPIO_HIDDEN int tpio_io_create(struct _TP_POOL *pool, int fd,
			       const struct tpio_io_params *p,
			       struct _TP_IO **out);
TPIO_HIDDEN int tpio_io_start(struct _TP_IO *io);
TPIO_HIDDEN int tpio_io_cancel(struct _TP_IO *io);
TPIO_HIDDEN void tpio_io_disassociate(struct _TP_IO *io);
TPIO_HIDDEN int tpio_io_valid(PTP_IO io);
/* @p is a live object of @kind (TPIO_OBJ_*) */
TPIO_HIDDEN int tpio_obj_valid(const void *p, int kind);
TPIO_HIDDEN void tpio_io_end(struct _TP_IO *io, int associated);
TPIO_HIDDEN void tpio_io_try_free(struct _TP_IO *io, uint32_t inc);
TPIO_HIDDEN void tpio_io_close_internal(struct _TP_IO *io, int from_group);
TPIO_HIDDEN void tpio_io_free_now(struct _TP_IO *io);
TPIO_HIDDEN void tpio_io_release(struct _TP_IO *io);
TPIO_HIDDEN int tpio_drain(struct _TP_IO *io, uint32_t flags);
TPIO_HIDDEN int tpio_post_retry(struct _TP_POOL *pool,
				struct tpio_completion *c);

/* the binding of an fd, as tpio_io_from_fd read it */
struct tpio_binding {
	struct _TP_IO *io;
	uint32_t handle;		/* io->handle */
	uint32_t epoch;			/* of io's word, now */
	struct _TP_POOL *pool;		/* io->pool */
};

TPIO_HIDDEN int tpio_io_from_fd(int fd, struct tpio_binding *b);

/* ---- work items, timers (tp_obj.c, timer.c) ---- */

/* queue one callback of @io (a submission, an expiry, a wait's end) */
TPIO_HIDDEN int tpio_obj_post(struct _TP_IO *io, DWORD status);
/* its first step: pending++, and the completion's target in @t */
TPIO_HIDDEN int tpio_obj_start(struct _TP_IO *io, struct tpio_target *t);
/*
 * Arm timer @io: first expiry at @due_ns (CLOCK_MONOTONIC), then every
 * @period_ms (0: once). Returns whether it was armed before (a later
 * expiry was cancelled), or -errno when the timer thread cannot start.
 */
TPIO_HIDDEN int tpio_timer_arm(struct _TP_IO *io, __u64 due_ns,
			       uint32_t period_ms);
/* Disarm (no new expiry) and clear t_set: whether it was armed. */
TPIO_HIDDEN int tpio_timer_disarm(struct _TP_IO *io);
TPIO_HIDDEN int tpio_timer_is_set(struct _TP_IO *io);

/* ---- completions (completion.c) ---- */

/*
 * Deliver a completion to @t's pool: the arrival rule with a CAS on the
 * word when the epoch still matches (no lock, no system call), else the
 * transport's POST. Returns 0, or a negative errno from the transport.
 * With @batch the wake-ups wait for tpio_complete_flush().
 */
struct tpio_batch {
	struct _TP_POOL *pool;
	uint32_t kept;			/* entries the leader kept for itself */
	uint32_t shared;		/* entries queued to the scheduler */
	uint32_t nslow;
	struct tpio_completion slow[TPIO_POST_MAX];
};

TPIO_HIDDEN int tpio_complete(const struct tpio_target *t, __u64 overlapped,
			      DWORD status, ULONG_PTR bytes,
			      struct tpio_batch *batch);
TPIO_HIDDEN void tpio_complete_flush(struct tpio_batch *batch);

/* ---- scheduler.c (the shared scheduler; pool->mu held unless said) ---- */
TPIO_HIDDEN void tpio_pull_ring(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_pick(struct _TP_POOL *pool, struct tpio_cqe *out);
TPIO_HIDDEN int tpio_sched_add(struct _TP_POOL *pool,
			       const struct tpio_cqe *c, int front);
TPIO_HIDDEN void tpio_sched_free(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_ring_nonempty(struct _TP_POOL *pool);
TPIO_HIDDEN struct tpio_entry *tpio_entry_new(void);

/* ---- pool.c, worker.c, stall_detector.c ---- */
#define TPIO_POOL_THREADS_CAP	TPIO_W_MAX(RUNNING)	/* 1023 */
/* a new pool, or the process's default one: 0 or -errno (-EOPNOTSUPP:
 * no transport can be used); worker.c */
TPIO_HIDDEN int tpio_pool_create(int is_default, struct _TP_POOL **out);
/* pool.c's part of it: the object, its port and scheduler, its @ops */
TPIO_HIDDEN int tpio_pool_new(int is_default, const struct tpio_pool_ops *ops,
			      struct _TP_POOL **out);
/* ... and of tpio_pool_destroy: what tpio_pool_new made */
TPIO_HIDDEN void tpio_pool_free(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_default_pool(struct _TP_POOL **out);
/* wake every worker of a closing pool (@n: how many there are) */
TPIO_HIDDEN void tpio_pool_wake_all(struct _TP_POOL *pool, uint32_t n);
TPIO_HIDDEN int tpio_spawn(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_worker_unlink(struct _TP_POOL *pool,
				    struct tpio_worker *w);
TPIO_HIDDEN void *tpio_worker_main(void *arg);
TPIO_HIDDEN void tpio_pool_destroy(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_pool_bind(struct _TP_POOL *pool,
			       struct tpio_worker *self);
TPIO_HIDDEN int tpio_pool_wake_one(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_worker_take_place(struct _TP_POOL *pool,
				       struct tpio_worker *self);
TPIO_HIDDEN void tpio_stall_register(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_stall_unregister(struct _TP_POOL *pool);

/* ---- the stall detector's CPU meter (cpu_meter.c) ---- */
#define TPIO_METER_TICKS	8	/* the detector's ticks in a window */
struct tpio_meter;
struct tpio_meter_reading {
	uint32_t threads;	/* workers active through the window */
	uint32_t cpu;		/* their time on a CPU, 1/1000 CPU */
	uint32_t wait;		/* their time waiting for one, 1/1000 CPU */
};
/* 1 and @r at a window's end; the detector's thread only (mon_mu) */
TPIO_HIDDEN int tpio_meter_tick(struct _TP_POOL *pool,
				struct tpio_meter_reading *r);
/* the pool went quiet: the next tick opens a window */
TPIO_HIDDEN void tpio_meter_reset(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_meter_free(struct tpio_meter *m);
/* TPIO_STATS: the pool's statistics file (stats.c) */
TPIO_HIDDEN void tpio_stats_register(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_stats_unregister(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_service_tick_on(void);
/* the stall detector's tick, which the service thread calls (io_engine.c) */
TPIO_HIDDEN void tpio_service_set_tick(int (*tick)(uint32_t starved));
TPIO_HIDDEN int tpio_pool_valid(PTP_POOL p);
TPIO_HIDDEN int tpio_pool_add_io(struct _TP_POOL *pool, struct _TP_IO *io);
TPIO_HIDDEN void tpio_pool_del_io(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_pool_make_progress(struct _TP_POOL *pool);
TPIO_HIDDEN BOOL tpio_pool_may_run_long(struct _TP_POOL *pool);
/*
 * The kernel's concurrency control (pool->kconc). attach/detach: the
 * calling worker. room: fewer than the value run by the kernel's counts
 * (the calling thread, if it is an attached worker, counts as running);
 * 0 when the kernel cannot say. query: the counts, 0 or -errno.
 */
TPIO_HIDDEN void tpio_conc_attach(struct _TP_POOL *pool,
				  struct tpio_worker *self);
TPIO_HIDDEN void tpio_conc_detach(struct _TP_POOL *pool,
				  struct tpio_worker *self);
TPIO_HIDDEN int tpio_conc_room(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_conc_query(struct _TP_POOL *pool,
				struct tpio_conc_args *a);
/* the end of a callback that CallbackMayRunLong took out of the counts */
TPIO_HIDDEN void tpio_conc_long_end(struct _TP_POOL *pool,
				    struct tpio_worker *self);
/* work was queued where idle workers must find it: wake per NT's rule */
TPIO_HIDDEN void tpio_pool_wake(struct _TP_POOL *pool, uint32_t entries);
/* the stall detector should look at @pool soon */
TPIO_HIDDEN void tpio_pool_watch(struct _TP_POOL *pool);
/* the workers' mailboxes (@only's, unless NULL) to the shared scheduler */
TPIO_HIDDEN uint32_t tpio_local_spill(struct _TP_POOL *pool,
				       struct tpio_worker *only);
/* unpark @io's later entries after its mailbox entry began or moved */
TPIO_HIDDEN void tpio_io_unpark(struct _TP_IO *io, uint32_t inc,
				struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_io_parkq_drop(struct _TP_IO *io);

/* ---- the I/O family: overlapped.c, socket.c, io_engine.c, fd_table.c ---- */

/* what an fd is, for the I/O family (0: not known yet) */
enum { TPIO_FD_FILE = 1, TPIO_FD_STREAM, TPIO_FD_SOCKET };
#define TPIO_FD_FIFO	0x10		/* with TPIO_FD_STREAM: a pipe or FIFO */

/* what an engine operation does */
enum tpio_op_kind {
	TPIO_OP_READ,			/* read(2) at off (files) or -1 */
	TPIO_OP_WRITE,			/* write(2) at off (files) or -1 */
	TPIO_OP_RECV,
	TPIO_OP_SEND,
	TPIO_OP_ACCEPT,
	TPIO_OP_CONNECT,
	TPIO_OP_POLLIN,			/* a zero-byte socket read */
};

/*
 * What the engine calls back into the API layer when an operation ends:
 * the API registers them with each request (tpio_io_req.up), so the
 * engine never calls up by name.
 */
struct tpio_io_upcalls {
	/* write OVERLAPPED's status and count, wake its waiters, set @event */
	void (*finish)(LPOVERLAPPED ov, HANDLE event, DWORD status,
		       ULONG_PTR bytes);
	/* the Win32 status of a failed operation's errno */
	DWORD (*status_from_errno)(int err);
	/* the handle of a socket that an accept made */
	HANDLE (*handle_from_fd)(int fd);
};

/*
 * One overlapped operation, as the I/O family hands it to the engine. The
 * engine copies it; ov, buf, accepted and event must stay valid until the
 * operation completes (the Windows rule).
 */
struct tpio_io_req {
	int fd;
	uint8_t kind;			/* enum tpio_op_kind */
	uint8_t fd_kind;		/* TPIO_FD_* */
	uint8_t fifo;			/* a pipe or FIFO */
	uint8_t skip;			/* no post of a success at once */
	DWORD eof_status;		/* a read of 0 bytes (len > 0) ends so */
	void *buf;
	uint32_t len;
	uint32_t done;			/* bytes already transferred */
	uint64_t off;
	LPOVERLAPPED ov;
	HANDLE event;			/* set at completion, or NULL */
	struct tpio_target to;		/* to.pool NULL: no port completion */
	struct _TP_POOL *ring_pool;	/* whose engine runs it (NULL: helper) */
	DWORD tid;			/* the issuing thread (CancelIo) */
	HANDLE *accepted;		/* TPIO_OP_ACCEPT: the new socket */
	uint32_t addrlen;		/* TPIO_OP_CONNECT */
	struct sockaddr_storage addr;
	const struct tpio_io_upcalls *up;	/* the API's, never NULL */
};

#define TPIO_STATUS_PENDING	0x103	/* OVERLAPPED.Internal while pending */
/*
 * tpio_io_req.tid of a thread-pool wait's readiness request on an fd (no
 * thread has that id): CancelIo and CancelIoEx without an OVERLAPPED do
 * not match it, only a cancel that names its ov does.
 */
#define TPIO_TID_WAIT		0xffffffffU

/* per-fd state of the I/O family (fd_table.c): found without a lock */
struct tpio_op;
struct tpio_fd {
	struct _TP_IO *_Atomic io;	/* the bound TP_IO, or NULL */
	struct tpio_iocp_assoc *_Atomic assoc;	/* its completion port (iocp.c) */
	atomic_flag lock;		/* the stream-read FIFO below */
	struct tpio_op *rhead, *rtail;	/* pending stream reads, in order */
};

TPIO_HIDDEN struct tpio_fd *tpio_fd_get(int fd, int create);
TPIO_HIDDEN void tpio_fd_lock(struct tpio_fd *f);
TPIO_HIDDEN void tpio_fd_unlock(struct tpio_fd *f);

TPIO_HIDDEN int tpio_engine_submit(const struct tpio_io_req *r);
TPIO_HIDDEN int tpio_engine_reads_pending(int fd);
TPIO_HIDDEN unsigned int tpio_engine_cancel(int fd, LPOVERLAPPED ov,
					    DWORD tid);
/* the pool's engine, created at the first operation on its objects */
TPIO_HIDDEN struct tpio_engine *tpio_engine_of(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_engine_destroy(struct tpio_engine *e);
/* the leader's side (pool.c): reap what is there, or sleep for it */
TPIO_HIDDEN unsigned int tpio_engine_reap(struct tpio_engine *e,
					  struct tpio_batch *b);
TPIO_HIDDEN int tpio_engine_wait(struct tpio_engine *e);
TPIO_HIDDEN int tpio_engine_cq_ready(struct tpio_engine *e);
TPIO_HIDDEN int tpio_engine_unsubmitted(struct tpio_engine *e);
TPIO_HIDDEN int tpio_engine_busy(struct tpio_engine *e);
TPIO_HIDDEN void tpio_engine_submit_now(struct tpio_engine *e);
TPIO_HIDDEN void tpio_engine_doorbell(struct tpio_engine *e);
/*
 * Read from a pipe, FIFO or character device without blocking: the bytes
 * read, 0 at the end of data, -EAGAIN when nothing is there, -ENOTTY when
 * that cannot be told, or another -errno (stream_read.c).
 */
TPIO_HIDDEN ssize_t tpio_stream_read_nowait(int fd, void *buf, size_t len);
/*
 * Write to a pipe, FIFO or character device without blocking: bytes
 * written, -EAGAIN when it would block, or -errno (stream_read.c).
 * @mask_sigpipe: the calling thread does not block SIGPIPE itself (not a
 * pool worker); the write blocks it and takes back a SIGPIPE it raised.
 */
TPIO_HIDDEN ssize_t tpio_stream_write_nowait(int fd, const void *buf,
					     size_t len, int mask_sigpipe);

/*
 * The readiness engine (epoll_engine.c): the fallback where io_uring
 * cannot be used, or TPIO_IO_ENGINE=epoll. Chosen once, when io_engine.c's
 * service starts; tpio_epoll_on is then set for the process's life and
 * io_engine.c's entry points forward to it (the stall detector's tick
 * with tpio_epoll_tick_on; worker.c tells it of a pool's end).
 */
TPIO_HIDDEN extern _Atomic int tpio_epoll_on;
TPIO_HIDDEN int tpio_epoll_choose(int uring_err);
TPIO_HIDDEN int tpio_epoll_submit(const struct tpio_io_req *r);
TPIO_HIDDEN int tpio_epoll_reads_pending(int fd);
TPIO_HIDDEN unsigned int tpio_epoll_cancel(int fd, LPOVERLAPPED ov,
					   DWORD tid);
TPIO_HIDDEN void tpio_epoll_tick_on(int (*tick)(uint32_t starved));
TPIO_HIDDEN void tpio_epoll_pool_gone(struct _TP_POOL *pool);
TPIO_HIDDEN ULONG tpio_epoll_ops(void);

/* the monotonic clock in nanoseconds */
static inline __u64 tpio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

#include "iocp.h"

#endif /* TPIO_ENGINE_H */
