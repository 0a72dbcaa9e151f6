/* SPDX-License-Identifier: MIT */
/*
 * libtpio internals. Object model:
 *
 *   pool  (struct _TP_POOL)  one port (a transport instance), its workers,
 *                            and the scheduler lists. Protected by pool->mu.
 *   port  (struct tpio_port) the completion ring and the state words, seen
 *                            the same way for both transports.
 *   io    (struct _TP_IO)    one TP_IO: a slot of its pool's port. Its
 *                            counters live in the port's state word, changed
 *                            only by atomic RMWs (common/tpio_word.h).
 *
 * TP_IO structs are type-stable: they are never returned to the system, so
 * reading the magic of a closed object is defined and detects misuse.
 */
#ifndef TPIO_INTERNAL_H
#define TPIO_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <linux/tpio.h>
#include "tpio_word.h"
#include "tpio.h"

#define TPIO_HIDDEN __attribute__((visibility("hidden")))

/* ---- ring and words, as the consumers see them (both transports) ---- */
struct tpio_ring_view {
	uint32_t *head;			/* consumers' index (CAS) */
	const uint32_t *tail;		/* producer's index, store-release */
	const uint32_t *flags;		/* TPIO_RING_F_* */
	const struct tpio_cqe *cqes;
	uint32_t entries;
	uint32_t mask;
	__u64 *words;		/* one state word per slot */
	uint32_t max_objects;
};

struct tpio_port;

/*
 * A transport: the port through /dev/tpio (kmod) or in-process (user).
 * Functions return 0 or a negative errno (the kernel's errnos).
 */
struct tpio_transport {
	const char *name;
	int (*setup)(struct tpio_port *port, uint32_t ring_entries,
		     uint32_t max_objects);
	void (*destroy)(struct tpio_port *port);
	int (*io_create)(struct tpio_port *port, __u64 cookie, uint32_t *io);
	int (*io_close)(struct tpio_port *port, uint32_t io);
	/* *done = completions applied; -EAGAIN when none fit */
	int (*post)(struct tpio_port *port, struct tpio_completion *c,
		    uint32_t count, uint32_t *done);
	int (*worker_wait)(struct tpio_port *port, __u64 abs_ns);
	int (*drain)(struct tpio_port *port, uint32_t io, uint32_t flags,
		     __u64 abs_ns);
	int (*wake_io)(struct tpio_port *port, uint32_t io);
	int (*wake_workers)(struct tpio_port *port, uint32_t count);
};

struct tpio_port {
	const struct tpio_transport *t;
	struct tpio_ring_view r;
	void *priv;
};

TPIO_HIDDEN extern const struct tpio_transport tpio_transport_user;
TPIO_HIDDEN extern const struct tpio_transport tpio_transport_kmod;

/* the process's transport (TPIO_BACKEND), NULL when none can be used */
TPIO_HIDDEN const struct tpio_transport *tpio_transport_get(void);
TPIO_HIDDEN int tpio_kmod_probe(char *why, size_t len);

/* ---- the scheduler: per-slot FIFO, per-priority round robin ---- */
struct tpio_entry {
	struct tpio_entry *next;
	struct tpio_cqe cqe;
};

struct tpio_slot_q {
	struct tpio_entry *head, *tail;
	int32_t rr_next;		/* next slot on its priority list */
	uint8_t prio;
	uint8_t listed;
};

struct tpio_rr {
	int32_t head, tail;		/* slots, -1 when empty */
};

struct _TP_POOL {
	uint32_t magic;
	int is_default;
	struct tpio_port port;
	uint32_t kick_io;		/* the pool's wake-up object */
	uint32_t kick_slot;

	pthread_mutex_t mu;		/* protects everything below */
	pthread_cond_t exit_cv;
	struct tpio_slot_q *slots;	/* [max_objects] */
	struct tpio_rr rr[TP_CALLBACK_PRIORITY_COUNT];
	uint32_t sched_count;		/* entries in the slot queues */
	struct tpio_entry *free_entries;
	uint32_t threads;		/* workers that exist (or are starting) */
	uint32_t idle;			/* workers spinning or sleeping */
	uint32_t kicks_pending;		/* kick completions not yet pulled */
	uint32_t max_threads, min_threads;
	uint32_t io_count;
	int stopping;			/* see CloseThreadpool */
	int close_deferred;
};

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
	_Atomic int fd;			/* bound fd, -1 once unbound */
	_Atomic uint8_t fd_kind;	/* TPIO_FD_*, cached by the I/O family */
	_Atomic uint8_t notify_modes;	/* SetFileCompletionNotificationModes */
	TP_CALLBACK_PRIORITY prio;
	int long_function;
	int persistent;
	PTP_SIMPLE_CALLBACK finalization;
	PTP_CLEANUP_GROUP_CANCEL_CALLBACK cancel_cb;
	/* cleanup group membership, protected by group->mu */
	struct _TP_CLEANUP_GROUP *group;
	struct _TP_IO *g_next, *g_prev;
	int g_hold;			/* group release in progress on it */
	int g_free_deferred;		/* freeing waits for g_hold == 0 */
	struct _TP_IO *free_next;	/* slab free list */
};

#define TPIO_IO_CLAIMED	0x80000000U
#define TPIO_IO_MAGIC	0x54504f49U	/* live */
#define TPIO_IO_DEAD	0x44454144U

struct _TP_CLEANUP_GROUP {
	uint32_t magic;
	pthread_mutex_t mu;
	struct _TP_IO *members;
};

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
};

TPIO_HIDDEN extern __thread struct _TP_CALLBACK_INSTANCE *tpio_cur_instance;

/* ---- core.c ---- */
TPIO_HIDDEN int tpio_io_valid(PTP_IO io);
TPIO_HIDDEN void tpio_io_end(struct _TP_IO *io, int associated);
TPIO_HIDDEN void tpio_io_try_free(struct _TP_IO *io, uint32_t inc);
TPIO_HIDDEN void tpio_io_close_internal(struct _TP_IO *io, int from_group);
TPIO_HIDDEN void tpio_io_free_now(struct _TP_IO *io);
TPIO_HIDDEN void tpio_io_release(struct _TP_IO *io);
TPIO_HIDDEN int tpio_drain(struct _TP_IO *io, uint32_t flags);
TPIO_HIDDEN __u64 tpio_now_ns(void);
TPIO_HIDDEN int tpio_post_retry(struct _TP_POOL *pool,
				struct tpio_completion *c);

/* the binding of an fd, as tpio_io_from_fd copies it under its lock */
struct tpio_binding {
	struct _TP_IO *io;
	uint32_t handle;		/* io->handle */
	struct _TP_POOL *pool;		/* io->pool */
};

TPIO_HIDDEN int tpio_io_from_fd(int fd, struct tpio_binding *b);

/* ---- ring.c (pool->mu held) ---- */
TPIO_HIDDEN void tpio_pull_ring(struct _TP_POOL *pool);
TPIO_HIDDEN int tpio_pick(struct _TP_POOL *pool, struct tpio_cqe *out);

/* ---- pool.c ---- */
TPIO_HIDDEN struct _TP_POOL *tpio_default_pool(void);
TPIO_HIDDEN int tpio_pool_valid(PTP_POOL p);
TPIO_HIDDEN int tpio_pool_add_io(struct _TP_POOL *pool, struct _TP_IO *io);
TPIO_HIDDEN void tpio_pool_del_io(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_pool_make_progress(struct _TP_POOL *pool);
TPIO_HIDDEN BOOL tpio_pool_may_run_long(struct _TP_POOL *pool);
TPIO_HIDDEN void tpio_run_instance_actions(struct _TP_CALLBACK_INSTANCE *inst);

/* ---- the I/O family: overlapped.c, socket.c, uring.c ---- */

/* what an fd is, for the I/O family (0: not known yet) */
enum { TPIO_FD_FILE = 1, TPIO_FD_STREAM, TPIO_FD_SOCKET };

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
 * One overlapped operation, as the I/O family hands it to the engine. The
 * engine copies it; ov, buf, accepted and event must stay valid until the
 * operation completes (the Windows rule).
 */
struct tpio_io_req {
	int fd;
	uint8_t kind;			/* enum tpio_op_kind */
	uint8_t fd_kind;		/* TPIO_FD_* */
	uint8_t skip;			/* no post of a success at once */
	DWORD eof_status;		/* a read of 0 bytes (len > 0) ends so */
	void *buf;
	uint32_t len;
	uint32_t done;			/* bytes already transferred */
	uint64_t off;
	LPOVERLAPPED ov;
	HANDLE event;			/* set at completion, or NULL */
	struct _TP_POOL *pool;		/* post the completion there, or NULL */
	uint32_t io;			/* to this transport object */
	DWORD tid;			/* the issuing thread (CancelIo) */
	HANDLE *accepted;		/* TPIO_OP_ACCEPT: the new socket */
	uint32_t addrlen;		/* TPIO_OP_CONNECT */
	struct sockaddr_storage addr;
};

#define TPIO_STATUS_PENDING	0x103	/* OVERLAPPED.Internal while pending */

TPIO_HIDDEN int tpio_engine_submit(const struct tpio_io_req *r);
TPIO_HIDDEN int tpio_engine_reads_pending(int fd);
TPIO_HIDDEN unsigned int tpio_engine_cancel(int fd, LPOVERLAPPED ov,
					    DWORD tid);
/* weak: see pool_destroy */
TPIO_HIDDEN void tpio_engine_forget_pool(struct _TP_POOL *pool)
	__attribute__((weak));
TPIO_HIDDEN void tpio_ov_finish(LPOVERLAPPED ov, HANDLE event, DWORD status,
				ULONG_PTR bytes);
TPIO_HIDDEN DWORD tpio_req_init(struct tpio_io_req *r, HANDLE h,
				LPOVERLAPPED ov, enum tpio_op_kind kind);
TPIO_HIDDEN BOOL tpio_req_pend(struct tpio_io_req *r);
TPIO_HIDDEN BOOL tpio_req_fail(struct tpio_io_req *r, DWORD err);
TPIO_HIDDEN ssize_t tpio_stream_read_nowait(int fd, void *buf, size_t len);

/* ---- env.c ---- */
TPIO_HIDDEN int tpio_group_remove(struct _TP_IO *io);
TPIO_HIDDEN int tpio_group_add(PTP_CLEANUP_GROUP g, struct _TP_IO *io);
TPIO_HIDDEN int tpio_group_valid(PTP_CLEANUP_GROUP g);

/* ---- sync.c ---- */
TPIO_HIDDEN int tpio_handle_is_fd(HANDLE h);

/* ---- errors.c ---- */
TPIO_HIDDEN DWORD tpio_win32_from_errno(int err);
TPIO_HIDDEN int tpio_debug(void);
TPIO_HIDDEN void tpio_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
TPIO_HIDDEN void tpio_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* a spin-wait hint to the CPU */
static inline void tpio_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline __u64 tpio_word_load(const __u64 *w)
{
	return __atomic_load_n(w, __ATOMIC_SEQ_CST);
}

#endif /* TPIO_INTERNAL_H */
