// SPDX-License-Identifier: MIT
/*
 * The I/O engine: io_uring rings and the operations in flight on them.
 * Documentation/io.rst explains the design; in short:
 *
 *   engine   (struct tpio_engine) one io_uring. Each pool gets one at its
 *            first overlapped operation; the pool's idle workers drive it
 *            (worker.c: one of them at a time is the leader, which reaps
 *            completions and sleeps in io_uring_enter()). One more engine,
 *            the service engine, serves operations without a pool.
 *   op       (struct tpio_op) one overlapped operation in flight. Ops live
 *            in chunks that are never freed (an op index is always safe to
 *            read) and are recycled through a global free list and a small
 *            per-thread cache. At most TPIO_IO_INFLIGHT exist.
 *   service  one thread per process: it submits for threads that must not
 *            own io_uring requests (a request is cancelled when the thread
 *            that submitted it exits: only pool workers that stay, and the
 *            service, submit), reaps the service engine, and runs the pool
 *            stall detector's tick (stall_detector.c) while a pool asks
 *            for it (pool.c).
 *
 * Where io_uring cannot be set up, or TPIO_IO_ENGINE=epoll, the service's
 * start chooses the readiness engine (epoll_engine.c) instead, once: the
 * entry points at the end of this file then forward to it.
 *
 * Submission: a worker of the op's pool issues the op itself: it prepares
 * the SQE and leaves it in the SQ when it will enter the ring soon (it is
 * the leader, or about to be), so the submission rides on the leader's
 * io_uring_enter() that also waits; otherwise it submits at once. Other
 * threads push the op to the service.
 *
 * Locking: an engine's sq_mu protects its SQ (prepare, flush, submit);
 * only the holder of the engine's leadership (worker.c) or the service (for
 * its own engine) reads the CQ. free_mu protects the global free list and
 * the chunk table. A pipe's pending reads wait in their fd's FIFO
 * (fd_table.c lock), only the oldest armed. Lock order: sq_mu, then an fd
 * lock or free_mu.
 *
 * Op fields: r, eng and gen are written by the issuer before the op is
 * published (SQ, FIFO or service stack); then only the thread that owns
 * the engine's CQ (or a canceller that took the op out of a FIFO) touches
 * phase and the FIFO link; state and cancel_gen are atomics.
 */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"

#define OPS_PER_CHUNK	256
#define OPS_MAX		32768
#define SQ_ENTRIES	256
#define CQ_ENTRIES	4096		/* the kernel keeps overflow (NODROP) */
#define REAP_BATCH	64
#define SQ_DEFER_MAX	32		/* prepared SQEs before a worker submits */
#define OP_CACHE	32		/* free ops a thread keeps */
#define TICKS_QUIET	100		/* the stall detector's hysteresis */

/* user_data: (gen << 32) | op index, gen never 0; or one of these */
#define UD_DOORBELL	0ULL
#define UD_CANCEL	1ULL
#define UD_PORT		2ULL

enum { PH_NEW, PH_IO, PH_POLL, PH_QUEUED };
enum { OS_LIVE, OS_DONE };

struct tpio_engine {
	struct io_uring ring;
	pthread_mutex_t sq_mu;
	uint32_t unsubmitted;		/* prepared, not yet submitted; sq_mu */
	int efd;			/* the doorbell (eventfd) */
	uint64_t efd_buf;
	int db_armed;			/* CQ owner: the doorbell read waits */
	int port_fd;			/* polled for posts from elsewhere */
	int port_armed;			/* CQ owner: its poll waits */
	struct _TP_POOL *pool;		/* NULL: the service engine */
	_Atomic int dying;		/* destroyed, or being destroyed */
	_Atomic uint32_t ops;		/* live ops (and holds) on it */
	struct tpio_engine *free_next;	/* engine_free's list */
};

struct tpio_op {
	struct tpio_io_req r;
	uint32_t idx, gen;
	struct tpio_engine *_Atomic eng;	/* read by the cancel scan */
	_Atomic int phase;		/* PH_* */
	_Atomic int state;		/* OS_*: LIVE from publication to finish */
	_Atomic uint32_t cancel_gen;	/* == gen once cancelled */
	/* what CancelIoEx/CancelIo match, readable by the scan at any time */
	_Atomic uint32_t key_gen;
	_Atomic int key_fd;
	_Atomic(void *) key_ov;
	_Atomic uint32_t key_tid;
	struct tpio_op *fd_next;	/* the fd's read FIFO (fd lock) */
	struct tpio_op *f_next;		/* free lists */
	struct tpio_op *s_next;		/* the service's submission stack */
};

/* a cancel the service submits: the op's user_data in its engine */
struct cancel_req {
	struct cancel_req *next;
	struct tpio_engine *eng;
	uint64_t ud;
};

static struct {
	pthread_mutex_t free_mu;
	pthread_cond_t free_cv;
	struct tpio_op *free;
	struct tpio_op *_Atomic chunks[OPS_MAX / OPS_PER_CHUNK];
	uint32_t nchunks, free_waiters;
	_Atomic uint32_t in_flight;
	_Atomic uint32_t starved;	/* threads waiting for a free op */
} O = {
	.free_mu = PTHREAD_MUTEX_INITIALIZER,
	.free_cv = PTHREAD_COND_INITIALIZER,
};

/* the service thread and its engine */
static struct {
	struct tpio_engine eng;
	int err;			/* why it cannot run, or 0 */
	struct tpio_op *_Atomic subs;	/* ops to submit for other threads */
	struct cancel_req *_Atomic cancels;
	_Atomic int asleep;
	_Atomic int ticking;
} S;

static pthread_once_t svc_once = PTHREAD_ONCE_INIT;
static _Atomic int svc_up;

static __thread struct tpio_op *op_cache;
static __thread uint32_t op_cache_n;

static void svc_start(void);
static void svc_kick(void);
static void arm(struct tpio_op *op);

/* ---- ops ---- */

static uint64_t op_ud(const struct tpio_op *op)
{
	return ((uint64_t)op->gen << 32) | op->idx;
}

static struct tpio_op *op_from_ud(uint64_t ud)
{
	uint32_t idx = (uint32_t)ud, gen = (uint32_t)(ud >> 32);
	struct tpio_op *chunk;

	if (idx >= OPS_MAX)
		return NULL;
	chunk = atomic_load_explicit(&O.chunks[idx / OPS_PER_CHUNK],
				     memory_order_acquire);
	/*
	 * The op's fields were written before its key_gen (seq_cst store in
	 * tpio_engine_submit): this acquire orders them for the reaper,
	 * which learned of the op through the kernel, not through memory.
	 */
	if (!chunk || atomic_load_explicit(&chunk[idx % OPS_PER_CHUNK].key_gen,
					   memory_order_acquire) != gen)
		return NULL;
	return &chunk[idx % OPS_PER_CHUNK];
}

/* Grow by one chunk. free_mu held; -ENOMEM or 0. */
static int grow(void)
{
	uint32_t i, base = O.nchunks * OPS_PER_CHUNK;
	struct tpio_op *chunk;

	if (O.nchunks == OPS_MAX / OPS_PER_CHUNK)
		return -ENOMEM;
	chunk = calloc(OPS_PER_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (i = OPS_PER_CHUNK; i-- > 0;) {
		chunk[i].idx = base + i;
		atomic_store(&chunk[i].state, OS_DONE);
		chunk[i].f_next = O.free;
		O.free = &chunk[i];
	}
	/* pairs with the acquire loads in op_from_ud and the cancel scan */
	atomic_store_explicit(&O.chunks[O.nchunks], chunk,
			      memory_order_release);
	O.nchunks++;
	return 0;
}

/* Take up to @n ops from the global free list into this thread's cache. */
static void cache_refill(uint32_t n)
{
	pthread_mutex_lock(&O.free_mu);
	while (n--) {
		if (!O.free && grow())
			break;
		O.free->s_next = NULL;
		{
			struct tpio_op *op = O.free;

			O.free = op->f_next;
			op->f_next = op_cache;
			op_cache = op;
			op_cache_n++;
		}
	}
	pthread_mutex_unlock(&O.free_mu);
}

static void cache_spill(uint32_t keep)
{
	pthread_mutex_lock(&O.free_mu);
	while (op_cache_n > keep) {
		struct tpio_op *op = op_cache;

		op_cache = op->f_next;
		op_cache_n--;
		op->f_next = O.free;
		O.free = op;
	}
	if (O.free_waiters)
		pthread_cond_broadcast(&O.free_cv);
	pthread_mutex_unlock(&O.free_mu);
}

/*
 * A free op, within the TPIO_IO_INFLIGHT budget. A thread that finds the
 * budget used up waits; the stall detector then reaps pools whose
 * completions nobody reaps (the waiter may be the pool's only worker).
 */
static struct tpio_op *op_alloc(void)
{
	static _Atomic int told;
	uint32_t budget = tpio_config_io_inflight();
	struct tpio_op *op;

	while (atomic_fetch_add(&O.in_flight, 1) >= budget) {
		struct timespec ts;

		atomic_fetch_sub(&O.in_flight, 1);
		if (!atomic_exchange(&told, 1))
			tpio_warn("%u overlapped operations in flight (TPIO_IO_INFLIGHT): new ones wait for room",
				  budget);
		atomic_fetch_add(&O.starved, 1);
		svc_kick();
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&O.free_mu);
		O.free_waiters++;
		if (atomic_load(&O.in_flight) >= budget)
			pthread_cond_timedwait(&O.free_cv, &O.free_mu, &ts);
		O.free_waiters--;
		pthread_mutex_unlock(&O.free_mu);
		atomic_fetch_sub(&O.starved, 1);
	}
	if (!op_cache)
		cache_refill(OP_CACHE / 2);
	op = op_cache;
	if (!op) {
		atomic_fetch_sub(&O.in_flight, 1);
		return NULL;
	}
	op_cache = op->f_next;
	op_cache_n--;
	op->gen = op->gen + 1 ? op->gen + 1 : 1;
	atomic_store(&op->phase, PH_NEW);
	op->fd_next = NULL;
	op->s_next = NULL;
	atomic_store(&op->cancel_gen, 0);
	return op;
}

static void op_free(struct tpio_op *op)
{
	struct tpio_engine *e = op->eng;

	op->f_next = op_cache;
	op_cache = op;
	if (++op_cache_n > OP_CACHE || atomic_load(&O.starved))
		cache_spill(atomic_load(&O.starved) ? 0 : OP_CACHE / 2);
	atomic_fetch_sub(&O.in_flight, 1);
	atomic_fetch_sub(&e->ops, 1);
}

static int op_cancelled(const struct tpio_op *op)
{
	return atomic_load(&op->cancel_gen) == op->gen;
}

static int stream_read(const struct tpio_op *op)
{
	return op->r.kind == TPIO_OP_READ && op->r.fd_kind == TPIO_FD_STREAM;
}

/* ---- engines ---- */

/*
 * Engines are type-stable, like ops: a destroyed engine's struct goes to
 * a free list, its mutex stays initialized, dying stays set until reuse,
 * so a late look at a stale engine pointer (a cancel racing a pool's
 * end) is harmless.
 */
static pthread_mutex_t eng_free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tpio_engine *eng_free;

static struct tpio_engine *engine_alloc(void)
{
	struct tpio_engine *e;

	pthread_mutex_lock(&eng_free_mu);
	e = eng_free;
	if (e)
		eng_free = e->free_next;
	pthread_mutex_unlock(&eng_free_mu);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e)
			pthread_mutex_init(&e->sq_mu, NULL);
	}
	return e;
}

static void engine_free(struct tpio_engine *e)
{
	pthread_mutex_lock(&eng_free_mu);
	e->free_next = eng_free;
	eng_free = e;
	pthread_mutex_unlock(&eng_free_mu);
}

static int engine_init(struct tpio_engine *e, struct _TP_POOL *pool)
{
	struct io_uring_params p;
	int ret;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	ret = io_uring_queue_init_params(SQ_ENTRIES, &e->ring, &p);
	if (ret < 0)
		return ret;
	/* blocking: an io_uring read of a non-blocking fd fails, not waits */
	e->efd = eventfd(0, EFD_CLOEXEC);
	if (e->efd < 0) {
		ret = -errno;
		io_uring_queue_exit(&e->ring);
		return ret;
	}
	e->pool = pool;
	e->port_fd = pool ? pool->port.t->poll_fd(&pool->port) : -1;
	e->db_armed = e->port_armed = 0;
	__atomic_store_n(&e->unsubmitted, 0, __ATOMIC_RELAXED);
	atomic_store(&e->ops, 0);
	atomic_store(&e->dying, 0);
	return 0;
}

struct tpio_engine *tpio_engine_of(struct _TP_POOL *pool)
{
	struct tpio_engine *e = atomic_load(&pool->eng);
	int ret;

	if (e)
		return e;
	pthread_mutex_lock(&pool->eng_mu);
	e = atomic_load(&pool->eng);
	if (!e) {
		e = engine_alloc();
		ret = e ? engine_init(e, pool) : -ENOMEM;
		if (ret) {
			tpio_warn("the pool's io_uring cannot be set up (%s): overlapped I/O fails with ERROR_NOT_SUPPORTED",
				  strerror(-ret));
			if (e)
				engine_free(e);
			e = NULL;
		} else {
			atomic_store(&pool->eng, e);
		}
	}
	pthread_mutex_unlock(&pool->eng_mu);
	return e;
}

/* sq_mu held: an SQE, submitting what is prepared when the SQ is full */
static struct io_uring_sqe *sq_get(struct tpio_engine *e)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&e->ring))) {
		io_uring_submit(&e->ring);
		__atomic_store_n(&e->unsubmitted, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&e->unsubmitted, e->unsubmitted + 1,
			 __ATOMIC_RELAXED);
	return sqe;
}

/*
 * sq_mu held: make the prepared SQEs visible to the kernel without
 * entering it, as liburing's submit does first: each one's index goes
 * into the SQ array (liburing 2.3 fills it only here; later versions
 * fill it once at setup, where these stores are no-ops), then the tail.
 * Returns how many SQEs the kernel has not taken yet.
 */
static unsigned int sq_flush(struct tpio_engine *e)
{
	struct io_uring_sq *sq = &e->ring.sq;
	unsigned int mask = sq->ring_mask;
	unsigned int ktail = *sq->ktail;	/* only flushers write it: sq_mu */

	while (sq->sqe_head != sq->sqe_tail) {
		if (sq->array)
			sq->array[ktail & mask] = sq->sqe_head & mask;
		ktail++;
		sq->sqe_head++;
	}
	/* pairs with the kernel's acquire of the SQ tail */
	__atomic_store_n(sq->ktail, ktail, __ATOMIC_RELEASE);
	return ktail - __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
}

/*
 * sq_mu held: submit everything prepared now (one system call). The
 * kernel takes what the SQ holds, up to n; a leader's io_uring_enter()
 * outside the lock may have taken some first. What it cannot take now
 * (EAGAIN, EBUSY) waits in the SQ for the next enter.
 */
static void sq_submit(struct tpio_engine *e)
{
	unsigned int n = sq_flush(e);
	int ret;

	__atomic_store_n(&e->unsubmitted, 0, __ATOMIC_RELAXED);
	if (!n)
		return;
	do {
		ret = io_uring_enter(e->ring.ring_fd, n, 0, 0, NULL);
	} while (ret == -EINTR);
	if (ret < 0 && ret != -EAGAIN && ret != -EBUSY)
		tpio_warn("io_uring_enter (submit): %s", strerror(-ret));
}

static void prep_poll(struct io_uring_sqe *sqe, int fd, unsigned int mask,
		      uint64_t ud)
{
	io_uring_prep_poll_add(sqe, fd, mask);
	io_uring_sqe_set_data64(sqe, ud);
}

/* sq_mu held: the SQE of @op's next step */
static void prep_op(struct tpio_engine *e, struct tpio_op *op, int poll)
{
	struct io_uring_sqe *sqe = sq_get(e);
	char *buf = (char *)op->r.buf + op->r.done;
	unsigned int len = op->r.len - op->r.done;
	uint64_t off = op->r.fd_kind == TPIO_FD_FILE ? op->r.off + op->r.done :
		       (uint64_t)-1;

	if (poll) {
		unsigned int mask = POLLIN;

		if (op->r.kind == TPIO_OP_WRITE || op->r.kind == TPIO_OP_SEND ||
		    op->r.kind == TPIO_OP_CONNECT)
			mask = POLLOUT;
		prep_poll(sqe, op->r.fd, mask, op_ud(op));
		atomic_store(&op->phase, PH_POLL);
		return;
	}
	switch (op->r.kind) {
	case TPIO_OP_READ:
		io_uring_prep_read(sqe, op->r.fd, buf, len, off);
		break;
	case TPIO_OP_WRITE:
		io_uring_prep_write(sqe, op->r.fd, buf, len, off);
		break;
	case TPIO_OP_RECV:
		io_uring_prep_recv(sqe, op->r.fd, buf, len, 0);
		break;
	case TPIO_OP_SEND:
		io_uring_prep_send(sqe, op->r.fd, buf, len, MSG_NOSIGNAL);
		break;
	case TPIO_OP_ACCEPT:
		io_uring_prep_accept(sqe, op->r.fd, NULL, NULL, SOCK_CLOEXEC);
		break;
	case TPIO_OP_CONNECT:
		io_uring_prep_connect(sqe, op->r.fd,
				      (struct sockaddr *)&op->r.addr,
				      op->r.addrlen);
		break;
	case TPIO_OP_POLLIN:
		io_uring_prep_poll_add(sqe, op->r.fd, POLLIN);
		break;
	}
	io_uring_sqe_set_data64(sqe, op_ud(op));
	atomic_store(&op->phase,
		     op->r.kind == TPIO_OP_POLLIN ? PH_POLL : PH_IO);
}

/*
 * Whether pipes take non-blocking reads (RWF_NOWAIT; not on 6.1): then an
 * io_uring read of an empty pipe arms io_uring's own poll and completes
 * with the data, one system call less than a poll and a read of ours.
 * Without it such a read would block an io-wq worker, which a cancel
 * cannot reliably stop. Asked once.
 */
static int pipes_nowait(void)
{
	static _Atomic int known;	/* 0 unknown, 1 no, 2 yes */
	int k = atomic_load(&known);

	if (!k) {
		char c;
		struct iovec iov = { &c, 1 };
		int p[2];

		k = 1;
		if (!pipe2(p, O_CLOEXEC)) {
			if (preadv2(p[0], &iov, 1, -1, RWF_NOWAIT) < 0 &&
			    errno == EAGAIN)
				k = 2;
			close(p[0]);
			close(p[1]);
		}
		atomic_store(&known, k);
	}
	return k == 2;
}

/*
 * The first step of @op: readiness first for reads of pipes (unless they
 * take non-blocking reads), of other streams (character devices), and of
 * sockets in poll mode.
 */
static int first_step_polls(const struct tpio_op *op)
{
	if (stream_read(op))
		return !op->r.fifo || !pipes_nowait();
	return op->r.kind == TPIO_OP_RECV && tpio_config()->socket_poll;
}

/*
 * May this thread own io_uring requests of @e? The service may; a worker
 * of e's pool may if it stays for the pool's life (engine-bound workers
 * never retire; pool.c bounds their number).
 */
static int may_submit(struct tpio_engine *e)
{
	struct tpio_worker *self = tpio_self;

	if (!e->pool || !self || self->pool != e->pool)
		return 0;
	return self->engine_bound || tpio_pool_bind(e->pool, self);
}

static void finish(struct tpio_op *op, DWORD status, ULONG_PTR bytes,
		   struct tpio_batch *b);

/*
 * Submit @op's first step into its engine from this thread. The SQE stays
 * in the SQ (no system call) while the leader is awake, or absent: the
 * next io_uring_enter() of a leader submits it, which is the one that
 * also waits. Only a leader asleep in the ring makes it submit now.
 * A cancel that came first (see cancel_op) is seen here, under sq_mu.
 */
static void arm_here(struct tpio_op *op, int poll)
{
	struct tpio_engine *e = op->eng;

	pthread_mutex_lock(&e->sq_mu);
	if (op_cancelled(op)) {
		pthread_mutex_unlock(&e->sq_mu);
		finish(op, ERROR_OPERATION_ABORTED, op->r.done, NULL);
		return;
	}
	prep_op(e, op, poll);
	if (atomic_load(&e->pool->leader_asleep) ||
	    e->unsubmitted >= SQ_DEFER_MAX)
		sq_submit(e);
	pthread_mutex_unlock(&e->sq_mu);
}

/* Push @op to the service, which submits it (or finishes it, cancelled). */
static void to_service(struct tpio_op *op)
{
	struct tpio_op *head = atomic_load_explicit(&S.subs,
						    memory_order_relaxed);

	do {
		op->s_next = head;
	} while (!atomic_compare_exchange_weak(&S.subs, &head, op));
	svc_kick();
}

/* The op's next step, from wherever it is decided (issuer or reaper). */
static void arm(struct tpio_op *op)
{
	if (may_submit(op->eng))
		arm_here(op, first_step_polls(op));
	else
		to_service(op);
}

/* The CQ owner re-arms a step on its own engine (never deferred long). */
static void rearm(struct tpio_op *op, int poll)
{
	struct tpio_engine *e = op->eng;

	pthread_mutex_lock(&e->sq_mu);
	prep_op(e, op, poll);
	/* the owner enters the ring before it sleeps: it flushes then */
	if (e->unsubmitted >= SQ_DEFER_MAX)
		sq_submit(e);
	pthread_mutex_unlock(&e->sq_mu);
}

/* ---- finishing ---- */

static void fifo_next(struct tpio_op *op);

/*
 * The op is done: write its OVERLAPPED, set its event, deliver its
 * completion (into @b when the caller batches), and release it.
 */
static void finish(struct tpio_op *op, DWORD status, ULONG_PTR bytes,
		   struct tpio_batch *b)
{
	struct tpio_engine *e = op->eng;
	struct tpio_target to = op->r.to;
	int live = OS_LIVE;

	if (!atomic_compare_exchange_strong(&op->state, &live, OS_DONE))
		return;
	if (stream_read(op))
		fifo_next(op);
	op->r.up->finish(op->r.ov, op->r.event, status, bytes);
	if ((to.pool || to.iocp) && !atomic_load(&e->dying)) {
		if (b && b->pool != to.pool)
			b = NULL;
		tpio_complete(&to, (__u64)(uintptr_t)op->r.ov, status, bytes,
			      b);
	}
	op_free(op);
}

static void finish_error(struct tpio_op *op, int res, struct tpio_batch *b)
{
	DWORD status;

	if (res == -ECANCELED || (op_cancelled(op) && res == -EINTR))
		status = ERROR_OPERATION_ABORTED;
	else
		status = op->r.up->status_from_errno(-res);
	finish(op, status, op->r.done, b);
}

static void connect_polled(struct tpio_op *op, struct tpio_batch *b)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(op->r.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		finish_error(op, -err, b);
	else
		finish(op, ERROR_SUCCESS, 0, b);
}

/*
 * Pipe, FIFO and character-device reads wait for readiness with a poll
 * request, then read without blocking; where the kernel has no
 * non-blocking pipe reads (6.1) an io_uring read would block an io-wq
 * worker per pending read. The pending reads of one fd take its data in
 * the order they were issued, as on Windows: they wait in the fd's FIFO
 * and only the oldest is armed.
 */
static int fifo_add(struct tpio_op *op)
{
	struct tpio_fd *f = tpio_fd_get(op->r.fd, 1);
	int head;

	if (!f)
		return 1;	/* no table entry: arm it alone */
	tpio_fd_lock(f);
	op->fd_next = NULL;
	if (f->rtail)
		f->rtail->fd_next = op;
	else
		f->rhead = op;
	f->rtail = op;
	head = f->rhead == op;
	if (!head)
		atomic_store(&op->phase, PH_QUEUED);
	tpio_fd_unlock(f);
	return head;
}

/*
 * Remove @op (of generation @gen) from @fd's FIFO; 1 when it waited there
 * behind an older read (not armed: nothing of it is in any ring).
 */
static int fifo_remove_waiting(struct tpio_op *op, int fd, uint32_t gen)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);
	struct tpio_op **pp, *prev = NULL;
	int found = 0;

	if (!f)
		return 0;
	tpio_fd_lock(f);
	for (pp = &f->rhead; *pp; prev = *pp, pp = &(*pp)->fd_next) {
		if (*pp != op)
			continue;
		if (pp == &f->rhead || atomic_load(&op->key_gen) != gen)
			break;		/* the head is armed: cancel it */
		*pp = op->fd_next;
		if (f->rtail == op)
			f->rtail = prev;
		found = 1;
		break;
	}
	tpio_fd_unlock(f);
	return found;
}

/* @op (the head) is done: the next read of the fd gets armed. */
static void fifo_next(struct tpio_op *op)
{
	struct tpio_fd *f = tpio_fd_get(op->r.fd, 0);
	struct tpio_op *next = NULL;

	if (!f)
		return;
	tpio_fd_lock(f);
	if (f->rhead == op) {
		f->rhead = op->fd_next;
		if (!f->rhead)
			f->rtail = NULL;
		next = f->rhead;
	}
	tpio_fd_unlock(f);
	if (next) {
		atomic_store(&next->phase, PH_NEW);
		arm(next);
	}
}

static void stream_read_ready(struct tpio_op *op, struct tpio_batch *b)
{
	ssize_t n = tpio_stream_read_nowait(op->r.fd, op->r.buf, op->r.len);

	if (n == -EAGAIN)
		rearm(op, 1);		/* another reader was first */
	else if (n == -ENOTTY)
		rearm(op, 0);		/* cannot tell: let io_uring read */
	else if (n < 0)
		finish_error(op, (int)n, b);
	else if (!n && op->r.len)
		finish(op, op->r.eof_status, 0, b);
	else
		finish(op, ERROR_SUCCESS, (ULONG_PTR)n, b);
}

static void socket_recv_ready(struct tpio_op *op, struct tpio_batch *b)
{
	ssize_t n;

	do {
		n = recv(op->r.fd, op->r.buf, op->r.len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		rearm(op, 1);
	else if (n < 0)
		finish_error(op, -errno, b);
	else if (!n && op->r.len)
		finish(op, op->r.eof_status, 0, b);
	else
		finish(op, ERROR_SUCCESS, (ULONG_PTR)n, b);
}

static void on_polled(struct tpio_op *op, int res, struct tpio_batch *b)
{
	if (res < 0)
		finish_error(op, res, b);
	else if (op_cancelled(op))
		finish(op, ERROR_OPERATION_ABORTED, op->r.done, b);
	else if (op->r.kind == TPIO_OP_POLLIN)
		finish(op, ERROR_SUCCESS, 0, b);
	else if (op->r.kind == TPIO_OP_CONNECT)
		connect_polled(op, b);
	else if (stream_read(op))
		stream_read_ready(op, b);
	else if (op->r.kind == TPIO_OP_RECV && tpio_config()->socket_poll)
		socket_recv_ready(op, b);
	else
		rearm(op, 0);
}

static void on_cqe(struct tpio_op *op, int res, struct tpio_batch *b)
{
	int again = res == -EAGAIN ||
		    (op->r.kind == TPIO_OP_CONNECT &&
		     (res == -EINPROGRESS || res == -EALREADY));

	if (atomic_load(&op->phase) == PH_POLL) {
		on_polled(op, res, b);
		return;
	}
	if (again) {
		if (op_cancelled(op))
			finish(op, ERROR_OPERATION_ABORTED, op->r.done, b);
		else
			rearm(op, 1);
		return;
	}
	if (res < 0) {
		finish_error(op, res, b);
		return;
	}
	switch (op->r.kind) {
	case TPIO_OP_ACCEPT:
		*op->r.accepted = op->r.up->handle_from_fd(res);
		finish(op, ERROR_SUCCESS, 0, b);
		break;
	case TPIO_OP_CONNECT:
		finish(op, ERROR_SUCCESS, 0, b);
		break;
	case TPIO_OP_READ:
	case TPIO_OP_RECV:
		if (!res && op->r.len)
			finish(op, op->r.eof_status, 0, b);
		else
			finish(op, ERROR_SUCCESS, (ULONG_PTR)res, b);
		break;
	default:	/* writes complete when everything is written */
		op->r.done += (uint32_t)res;
		if (op->r.done < op->r.len && res > 0 && !op_cancelled(op))
			rearm(op, 0);
		else
			finish(op, op->r.done < op->r.len ?
			       ERROR_OPERATION_ABORTED : ERROR_SUCCESS,
			       op->r.done, b);
		break;
	}
}

/* ---- the CQ owner's side ---- */

/* CQ owner: the doorbell read and the port poll wait in the ring */
static void arm_wakers(struct tpio_engine *e)
{
	struct io_uring_sqe *sqe;

	if (e->db_armed && (e->port_fd < 0 || e->port_armed))
		return;
	pthread_mutex_lock(&e->sq_mu);
	if (!e->db_armed) {
		sqe = sq_get(e);
		io_uring_prep_read(sqe, e->efd, &e->efd_buf,
				   sizeof(e->efd_buf), 0);
		io_uring_sqe_set_data64(sqe, UD_DOORBELL);
		e->db_armed = 1;
	}
	if (e->port_fd >= 0 && !e->port_armed) {
		sqe = sq_get(e);
		prep_poll(sqe, e->port_fd, POLLIN, UD_PORT);
		e->port_armed = 1;
	}
	pthread_mutex_unlock(&e->sq_mu);
}

/*
 * Reap what the CQ holds (CQ owner only): each finished op's completion
 * goes into @b (its pool's batch). Returns the CQEs seen that concern
 * the caller's pool: op completions and the port's poll.
 */
unsigned int tpio_engine_reap(struct tpio_engine *e, struct tpio_batch *b)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned int n, i, total = 0, useful = 0;

	while (total < 4 * REAP_BATCH &&
	       (n = io_uring_peek_batch_cqe(&e->ring, cqes, REAP_BATCH))) {
		for (i = 0; i < n; i++) {
			uint64_t ud = io_uring_cqe_get_data64(cqes[i]);
			struct tpio_op *op;

			if (ud == UD_DOORBELL) {
				e->db_armed = 0;
				continue;
			}
			if (ud == UD_PORT) {
				e->port_armed = 0;
				useful++;
				continue;
			}
			if (ud == UD_CANCEL)
				continue;
			op = op_from_ud(ud);
			if (!op) {
				tpio_warn("engine: completion for no operation (%#llx)",
					  (unsigned long long)ud);
				continue;
			}
			on_cqe(op, cqes[i]->res, b);
			useful++;
		}
		io_uring_cq_advance(&e->ring, n);
		total += n;
	}
	return useful;
}

/*
 * Leader: submit what is prepared and sleep until a completion, the
 * doorbell or a post from elsewhere. 0, or a negative errno.
 */
int tpio_engine_wait(struct tpio_engine *e)
{
	unsigned int n;
	int ret;

	arm_wakers(e);
	pthread_mutex_lock(&e->sq_mu);
	n = sq_flush(e);
	__atomic_store_n(&e->unsubmitted, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&e->sq_mu);
	ret = io_uring_enter(e->ring.ring_fd, n, 1, IORING_ENTER_GETEVENTS,
			     NULL);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
	    ret != -ETIME) {
		tpio_warn("engine: io_uring_enter: %s", strerror(-ret));
		usleep(1000);
	}
	return ret < 0 ? ret : 0;
}

/* CQ owner, or anyone as a hint: completions wait in the CQ. */
int tpio_engine_cq_ready(struct tpio_engine *e)
{
	/* the kernel's tail, the CQ owner's head: both read atomically */
	return __atomic_load_n(e->ring.cq.ktail, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(e->ring.cq.khead, __ATOMIC_RELAXED) ||
	       (__atomic_load_n(e->ring.sq.kflags, __ATOMIC_RELAXED) &
		IORING_SQ_CQ_OVERFLOW);
}

/* Operations in flight on @e (a hint). */
int tpio_engine_busy(struct tpio_engine *e)
{
	return atomic_load(&e->ops) != 0;
}

/* Prepared SQEs nobody submitted yet (a hint). */
int tpio_engine_unsubmitted(struct tpio_engine *e)
{
	return __atomic_load_n(&e->unsubmitted, __ATOMIC_RELAXED) != 0;
}

/* Submit what is prepared now (a worker that will not enter soon). */
void tpio_engine_submit_now(struct tpio_engine *e)
{
	pthread_mutex_lock(&e->sq_mu);
	if (e->unsubmitted)
		sq_submit(e);
	pthread_mutex_unlock(&e->sq_mu);
}

/* Wake the engine's sleeping leader. */
void tpio_engine_doorbell(struct tpio_engine *e)
{
	uint64_t one = 1;

	if (write(e->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tpio_warn("engine doorbell: %s", strerror(errno));
}

/* Calls @fn on each live op (a racy scan: @fn re-checks under locks). */
static void for_each_live_op(void (*fn)(struct tpio_op *op, uint32_t gen,
					void *arg),
			     void *arg)
{
	uint32_t c, i;

	for (c = 0; c < OPS_MAX / OPS_PER_CHUNK; c++) {
		struct tpio_op *chunk = atomic_load_explicit(&O.chunks[c],
							     memory_order_acquire);

		if (!chunk)
			break;
		for (i = 0; i < OPS_PER_CHUNK; i++) {
			struct tpio_op *op = &chunk[i];
			uint32_t gen = atomic_load(&op->key_gen);

			if (atomic_load(&op->state) == OS_LIVE)
				fn(op, gen, arg);
		}
	}
}

static void destroy_queued(struct tpio_op *op, uint32_t gen, void *arg)
{
	int fd = atomic_load(&op->key_fd);

	if (op->eng == arg && atomic_load(&op->phase) == PH_QUEUED &&
	    fifo_remove_waiting(op, fd, gen))
		finish(op, ERROR_OPERATION_ABORTED, op->r.done, NULL);
}

/*
 * The pool is going away: nobody runs its workers any more. Cancel what
 * is in flight on its engine (the I/O of objects that were closed with
 * operations outstanding), finish it all without posting, and free it.
 */
void tpio_engine_destroy(struct tpio_engine *e)
{
	atomic_store(&e->dying, 1);
	/* reads waiting in FIFOs, not in the ring */
	for_each_live_op(destroy_queued, e);
	while (atomic_load(&e->ops)) {
		struct io_uring_sqe *sqe;

		pthread_mutex_lock(&e->sq_mu);
		sqe = sq_get(e);
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		sq_submit(e);
		pthread_mutex_unlock(&e->sq_mu);
		io_uring_enter(e->ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS,
			       NULL);
		tpio_engine_reap(e, NULL);
		if (atomic_load(&e->ops))
			usleep(1000);	/* the service may still hold some */
	}
	pthread_mutex_lock(&e->sq_mu);
	io_uring_queue_exit(&e->ring);
	close(e->efd);
	e->pool = NULL;
	pthread_mutex_unlock(&e->sq_mu);
	engine_free(e);
}

/* ---- the service thread ---- */

static void svc_kick(void)
{
	pthread_once(&svc_once, svc_start);
	if (atomic_load(&S.asleep) && atomic_exchange(&S.asleep, 0))
		tpio_engine_doorbell(&S.eng);
}

/* the stall detector's tick (tpio_stall_register sets it) */
static int (*_Atomic svc_tick)(uint32_t starved);

void tpio_service_set_tick(int (*tick)(uint32_t starved))
{
	atomic_store(&svc_tick, tick);
}

/* The stall detector's tick is wanted (pool.c): start ticking. */
void tpio_service_tick_on(void)
{
	if (atomic_load_explicit(&tpio_epoll_on, memory_order_acquire)) {
		tpio_epoll_tick_on(atomic_load(&svc_tick));
		return;
	}
	if (atomic_load_explicit(&S.ticking, memory_order_relaxed))
		return;
	if (!atomic_exchange(&S.ticking, 1))
		svc_kick();
	if (atomic_load(&tpio_epoll_on))	/* chosen by that kick */
		tpio_epoll_tick_on(atomic_load(&svc_tick));
}

/*
 * An op was submitted into @pool's engine by the service: its completion
 * needs a leader. An idle worker takes the role; none idle, the stall
 * detector keeps an eye.
 */
static void need_leader(struct _TP_POOL *pool)
{
	if (atomic_load(&pool->leader))
		return;
	__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	if (!atomic_load(&pool->spinning) && !tpio_pool_wake_one(pool))
		tpio_pool_watch(pool);
}

/* Submit the ops other threads pushed, each into its engine. */
static unsigned int svc_take_subs(void)
{
	struct tpio_op *op = atomic_exchange(&S.subs, NULL), *next, *rev = NULL;
	unsigned int n = 0;

	for (; op; op = next) {		/* oldest first */
		next = op->s_next;
		op->s_next = rev;
		rev = op;
	}
	for (op = rev; op; op = next, n++) {
		struct tpio_engine *e = op->eng;

		next = op->s_next;
		/* the engine (and its pool) stay while we hold a count */
		atomic_fetch_add(&e->ops, 1);
		pthread_mutex_lock(&e->sq_mu);
		if (op_cancelled(op) || atomic_load(&e->dying)) {
			pthread_mutex_unlock(&e->sq_mu);
			finish(op, ERROR_OPERATION_ABORTED, op->r.done, NULL);
		} else {
			prep_op(e, op, first_step_polls(op));
			/* the service's own engine is flushed when it sleeps */
			if (e != &S.eng)
				sq_submit(e);
			pthread_mutex_unlock(&e->sq_mu);
			if (e->pool)
				need_leader(e->pool);
		}
		atomic_fetch_sub(&e->ops, 1);
	}
	return n;
}

/* Cancel requests of other threads: an ASYNC_CANCEL into the op's engine. */
static unsigned int svc_take_cancels(void)
{
	struct cancel_req *c = atomic_exchange(&S.cancels, NULL), *next;
	unsigned int n = 0;

	for (; c; c = next, n++) {
		struct tpio_engine *e = c->eng;
		struct io_uring_sqe *sqe;

		next = c->next;
		pthread_mutex_lock(&e->sq_mu);
		if (!atomic_load(&e->dying)) {
			sqe = sq_get(e);
			io_uring_prep_cancel64(sqe, c->ud, 0);
			io_uring_sqe_set_data64(sqe, UD_CANCEL);
			if (e != &S.eng)
				sq_submit(e);
		}
		pthread_mutex_unlock(&e->sq_mu);
		atomic_fetch_sub(&e->ops, 1);	/* cancel_op's hold */
		free(c);
	}
	return n;
}

static void *svc_main(void *arg)
{
	const struct tpio_config *cfg = tpio_config();
	struct __kernel_timespec ts;
	__u64 next_tick = 0;
	unsigned int quiet = 0;

	(void)arg;
	for (;;) {
		unsigned int work = svc_take_subs();

		work += svc_take_cancels();
		work += tpio_engine_reap(&S.eng, NULL);
		if (atomic_load(&S.ticking)) {
			__u64 now = tpio_now_ns();

			if (now >= next_tick) {
				int (*tick)(uint32_t) = atomic_load(&svc_tick);

				if (tick && tick(atomic_load(&O.starved)))
					quiet = 0;
				else if (++quiet >= TICKS_QUIET)
					atomic_store(&S.ticking, 0);
				next_tick = now + cfg->stall_us * 1000ULL;
			}
		}
		if (work)
			continue;
		arm_wakers(&S.eng);
		atomic_store(&S.asleep, 1);
		if (atomic_load(&S.subs) || atomic_load(&S.cancels)) {
			atomic_store(&S.asleep, 0);
			continue;
		}
		pthread_mutex_lock(&S.eng.sq_mu);
		sq_submit(&S.eng);
		pthread_mutex_unlock(&S.eng.sq_mu);
		if (atomic_load(&S.ticking)) {
			struct io_uring_cqe *cqe;
			__u64 now = tpio_now_ns();
			__u64 d = next_tick > now ? next_tick - now : 0;

			ts.tv_sec = (long long)(d / 1000000000ULL);
			ts.tv_nsec = (long long)(d % 1000000000ULL);
			io_uring_wait_cqe_timeout(&S.eng.ring, &cqe, &ts);
		} else {
			io_uring_enter(S.eng.ring.ring_fd, 0, 1,
				       IORING_ENTER_GETEVENTS, NULL);
		}
		atomic_store(&S.asleep, 0);
	}
	return NULL;
}

static void svc_start(void)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t th;
	int ret;

	if (tpio_epoll_choose(0))	/* TPIO_IO_ENGINE=epoll */
		return;
	ret = engine_init(&S.eng, NULL);
	if (ret && tpio_epoll_choose(ret))	/* the readiness fallback */
		return;
	if (ret) {
		S.err = -ret;
		tpio_warn("io_uring is not available (%s): overlapped I/O fails with ERROR_NOT_SUPPORTED",
			  strerror(-ret));
		return;
	}
	/* the service takes no signals: SIGPIPE of its writes stays pending */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, svc_main, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		S.err = ret;
		tpio_warn("cannot create the tpio service thread: %s",
			  strerror(ret));
		return;
	}
	pthread_setname_np(th, "tpio-service");
	atomic_store(&svc_up, 1);
}

/* ---- the interface to the I/O family ---- */

int tpio_engine_submit(const struct tpio_io_req *r)
{
	struct tpio_engine *e;
	struct tpio_op *op;

	pthread_once(&svc_once, svc_start);
	if (atomic_load_explicit(&tpio_epoll_on, memory_order_acquire))
		return tpio_epoll_submit(r);
	if (S.err)
		return -S.err;
	e = r->ring_pool ? tpio_engine_of(r->ring_pool) : &S.eng;
	if (!e)
		return -ENOTSUP;
	op = op_alloc();
	if (!op)
		return -ENOMEM;
	op->r = *r;
	op->eng = e;
	atomic_fetch_add(&e->ops, 1);
	atomic_store(&op->key_fd, r->fd);
	atomic_store(&op->key_ov, r->ov);
	atomic_store(&op->key_tid, r->tid);
	atomic_store(&op->key_gen, op->gen);
	atomic_store(&op->state, OS_LIVE);
	if (stream_read(op) && !fifo_add(op))
		return 0;	/* an older read of the fd arms it later */
	arm(op);
	return 0;
}

/* Whether reads of @fd are in flight: a new read must queue behind them. */
int tpio_engine_reads_pending(int fd)
{
	struct tpio_fd *f;

	if (atomic_load_explicit(&tpio_epoll_on, memory_order_acquire))
		return tpio_epoll_reads_pending(fd);
	f = tpio_fd_get(fd, 0);
	return f && __atomic_load_n(&f->rhead, __ATOMIC_ACQUIRE) != NULL;
}

/*
 * Cancel @op, of generation @gen (CancelIoEx/CancelIo). Mark it; a read
 * that waits behind an older one is finished here; one not yet prepared
 * is finished by its submitter, which checks the mark under sq_mu after
 * we set it; one in a ring gets an ASYNC_CANCEL from the service (a
 * cancel request completes at once, so any thread could own it, but
 * submitting would also submit other SQEs waiting in the SQ, which must
 * stay owned by a thread that does not exit).
 */
static void cancel_op(struct tpio_op *op, uint32_t gen, int fd)
{
	struct tpio_engine *e = op->eng;
	struct cancel_req *c, *head;
	int phase;

	atomic_store(&op->cancel_gen, gen);
	if (fifo_remove_waiting(op, fd, gen)) {
		finish(op, ERROR_OPERATION_ABORTED, op->r.done, NULL);
		return;
	}
	pthread_mutex_lock(&e->sq_mu);
	phase = atomic_load(&op->phase);
	pthread_mutex_unlock(&e->sq_mu);
	if (phase == PH_NEW || phase == PH_QUEUED)
		return;		/* the submitter sees the mark */
	c = malloc(sizeof(*c));
	if (!c) {
		tpio_warn("out of memory: a cancel was not sent");
		return;
	}
	c->eng = e;
	c->ud = ((uint64_t)gen << 32) | op->idx;
	atomic_fetch_add(&e->ops, 1);	/* the engine stays until it is sent */
	head = atomic_load_explicit(&S.cancels, memory_order_relaxed);
	do {
		c->next = head;
	} while (!atomic_compare_exchange_weak(&S.cancels, &head, c));
	svc_kick();
}

struct cancel_match {
	int fd;
	LPOVERLAPPED ov;
	DWORD tid;
	unsigned int n;
};

static void cancel_one(struct tpio_op *op, uint32_t gen, void *arg)
{
	struct cancel_match *m = arg;

	if (atomic_load(&op->key_fd) != m->fd ||
	    (m->ov && atomic_load(&op->key_ov) != m->ov) ||
	    (m->tid && atomic_load(&op->key_tid) != m->tid) ||
	    (!m->ov && atomic_load(&op->key_tid) == TPIO_TID_WAIT))
		return;
	/* still the same operation, live */
	if (atomic_load(&op->state) != OS_LIVE ||
	    atomic_load(&op->key_gen) != gen)
		return;
	m->n++;
	cancel_op(op, gen, m->fd);
}

/*
 * CancelIoEx/CancelIo: every live op of @fd (of @ov, of thread @tid). A
 * scan of the op table: cancelling is rare, the table small.
 */
unsigned int tpio_engine_cancel(int fd, LPOVERLAPPED ov, DWORD tid)
{
	struct cancel_match m = { fd, ov, tid, 0 };

	if (atomic_load(&tpio_epoll_on))
		return tpio_epoll_cancel(fd, ov, tid);
	if (!atomic_load(&svc_up))
		return 0;
	for_each_live_op(cancel_one, &m);
	return m.n;
}

const char *tpio_io_engine(void)
{
	pthread_once(&svc_once, svc_start);
	if (atomic_load(&tpio_epoll_on))
		return "epoll";
	return S.err ? NULL : "uring";
}

ULONG tpio_io_ops_in_flight(void)
{
	if (atomic_load(&tpio_epoll_on))
		return tpio_epoll_ops();
	return atomic_load(&O.in_flight);
}
