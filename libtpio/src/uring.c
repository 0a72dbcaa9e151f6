// SPDX-License-Identifier: MIT
/*
 * The I/O engine: one io_uring per process, driven by one engine thread.
 * Documentation/io.rst explains the design; in short:
 *
 *   op       (struct tpio_op) one overlapped operation in flight. Ops live
 *            in chunks that are never freed (an op index is always safe to
 *            read) and are recycled through a free list. At most `budget`
 *            exist: a submitter that finds none free waits for one.
 *   engine   the only thread that calls io_uring_enter: it takes new ops
 *            and cancel requests from two lock-free stacks, prepares their
 *            SQEs, submits, reaps CQEs in batches, writes each finished
 *            op's OVERLAPPED and posts its completion to the op's pool
 *            (one transport post per pool per batch). Requests belong to
 *            the task that submitted them, so none dies with the thread
 *            that called ReadFile.
 *
 * Locking: free_mu protects the free list and the chunk table; each
 * bucket's mu protects its list of in-flight ops (hashed by fd, for
 * CancelIoEx/CancelIo); post_mu is held by the engine while it finishes
 * ops and posts them, and by tpio_engine_forget_pool, so that a pool is
 * never destroyed under a post. Lock order: post_mu, then a bucket's mu
 * or free_mu (never two of those), then the transport's locks.
 *
 * Op fields: the request (r) and gen are written by the submitter before
 * the op is published (bucket insert, then the release CAS of the
 * submission stack); after that only the engine touches the op, except
 * cstate (CAS by cancellers) and pool (cleared by forget_pool under
 * post_mu).
 */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "internal.h"

#define OPS_PER_CHUNK	256
#define OPS_MAX		32768		/* CQ entries are capped at 65536 */
#define OPS_DEFAULT	8192
#define SQ_ENTRIES	256
#define REAP_BATCH	256
#define NBUCKETS	256

/* user_data: (gen << 32) | op index; gen is never 0 */
#define UD_DOORBELL	0ULL
#define UD_CANCEL	1ULL

enum { PH_NEW, PH_IO, PH_POLL };

/*
 * cstate: LIVE → PUSHED (a canceller queued it) → LIVE again once the
 * engine took the cancel (a later CancelIoEx cancels again: io-wq cancels
 * are best effort); LIVE → COMPLETE when it finishes. An op that finishes
 * while its cancel is queued is freed by the cancel pass, not by its
 * completion, so a queued pointer never names a recycled op.
 */
enum { CS_LIVE, CS_PUSHED, CS_COMPLETE };

struct tpio_op {
	struct tpio_io_req r;
	uint32_t idx, gen;
	int phase;			/* engine: PH_* */
	uint64_t seq;			/* engine: take order of a stream read */
	int cancelled;			/* engine: its cancel was taken */
	int finished;			/* engine: finished, cancel still queued */
	_Atomic int cstate;
	struct _TP_POOL *_Atomic pool;	/* NULL once forgotten */
	struct tpio_op *s_next;		/* submission stack */
	struct tpio_op *c_next;		/* cancel stack */
	struct tpio_op *b_next, *b_prev;	/* bucket list */
	struct tpio_op *f_next;		/* free list */
};

struct bucket {
	pthread_mutex_t mu;
	struct tpio_op *head;
};

struct pending_post {
	struct _TP_POOL *pool;
	struct tpio_completion c;
};

static struct engine {
	struct io_uring ring;
	int efd;			/* the doorbell (eventfd) */
	uint64_t db_buf;
	int err;			/* why the engine cannot run, or 0 */

	struct tpio_op *_Atomic subs;	/* submission stack (LIFO) */
	struct tpio_op *_Atomic cancels;	/* cancel stack (LIFO) */
	_Atomic int sleeping;		/* the engine waits in io_uring_enter */

	pthread_mutex_t free_mu;
	pthread_cond_t free_cv;
	struct tpio_op *free;
	struct tpio_op *_Atomic chunks[OPS_MAX / OPS_PER_CHUNK];
	uint32_t nchunks, budget, used, free_waiters;
	_Atomic ULONG in_flight;

	pthread_mutex_t post_mu;
	struct pending_post posts[REAP_BATCH];
	uint32_t nposts;

	struct bucket buckets[NBUCKETS];
	uint64_t read_seq;		/* engine: stream reads taken so far */
} E = {
	.free_mu = PTHREAD_MUTEX_INITIALIZER,
	.free_cv = PTHREAD_COND_INITIALIZER,
	.post_mu = PTHREAD_MUTEX_INITIALIZER,
};

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static _Atomic int engine_up;

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
	chunk = atomic_load_explicit(&E.chunks[idx / OPS_PER_CHUNK],
				     memory_order_acquire);
	if (!chunk || chunk[idx % OPS_PER_CHUNK].gen != gen)
		return NULL;
	return &chunk[idx % OPS_PER_CHUNK];
}

/* Grow by one chunk. free_mu held; -ENOMEM or 0. */
static int grow(void)
{
	uint32_t i, base = E.nchunks * OPS_PER_CHUNK;
	struct tpio_op *chunk;

	if (E.nchunks == OPS_MAX / OPS_PER_CHUNK)
		return -ENOMEM;
	chunk = calloc(OPS_PER_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (i = OPS_PER_CHUNK; i-- > 0;) {
		chunk[i].idx = base + i;
		chunk[i].f_next = E.free;
		E.free = &chunk[i];
	}
	/* pairs with the acquire load in op_from_ud */
	atomic_store_explicit(&E.chunks[E.nchunks], chunk,
			      memory_order_release);
	E.nchunks++;
	return 0;
}

/* A free op, waiting for one while the budget is used up. */
static struct tpio_op *op_alloc(void)
{
	static _Atomic int told;
	struct tpio_op *op;

	pthread_mutex_lock(&E.free_mu);
	while (E.used >= E.budget || !E.free) {
		if (E.used < E.budget && !grow())
			continue;
		if (!atomic_exchange(&told, 1))
			tpio_warn("%u overlapped operations in flight (TPIO_IO_INFLIGHT): new ones wait for room",
				  E.budget);
		E.free_waiters++;
		pthread_cond_wait(&E.free_cv, &E.free_mu);
		E.free_waiters--;
	}
	op = E.free;
	E.free = op->f_next;
	E.used++;
	pthread_mutex_unlock(&E.free_mu);
	op->gen = op->gen + 1 ? op->gen + 1 : 1;
	op->phase = PH_NEW;
	op->cancelled = 0;
	op->finished = 0;
	atomic_store_explicit(&op->cstate, CS_LIVE, memory_order_relaxed);
	atomic_fetch_add(&E.in_flight, 1);
	return op;
}

static void op_free(struct tpio_op *op)
{
	atomic_fetch_sub(&E.in_flight, 1);
	pthread_mutex_lock(&E.free_mu);
	op->f_next = E.free;
	E.free = op;
	E.used--;
	if (E.free_waiters)
		pthread_cond_signal(&E.free_cv);
	pthread_mutex_unlock(&E.free_mu);
}

static struct bucket *bucket_of(int fd)
{
	return &E.buckets[(unsigned int)fd % NBUCKETS];
}

static void bucket_insert(struct tpio_op *op)
{
	struct bucket *b = bucket_of(op->r.fd);

	pthread_mutex_lock(&b->mu);
	op->b_prev = NULL;
	op->b_next = b->head;
	if (b->head)
		b->head->b_prev = op;
	b->head = op;
	pthread_mutex_unlock(&b->mu);
}

static void bucket_remove(struct tpio_op *op)
{
	struct bucket *b = bucket_of(op->r.fd);

	pthread_mutex_lock(&b->mu);
	if (op->b_prev)
		op->b_prev->b_next = op->b_next;
	else
		b->head = op->b_next;
	if (op->b_next)
		op->b_next->b_prev = op->b_prev;
	pthread_mutex_unlock(&b->mu);
}

static void push(struct tpio_op *_Atomic *stack, struct tpio_op *op,
		 struct tpio_op **link)
{
	struct tpio_op *head = atomic_load_explicit(stack, memory_order_relaxed);

	do {
		*link = head;
	} while (!atomic_compare_exchange_weak_explicit(stack, &head, op,
							memory_order_seq_cst,
							memory_order_relaxed));
}

/* Wake the engine if it sleeps. Called after a push (seq_cst: Dekker with
 * the engine's store of sleeping and its re-check of the stacks). */
static void doorbell(void)
{
	uint64_t one = 1;

	if (atomic_load(&E.sleeping) && atomic_exchange(&E.sleeping, 0)) {
		if (write(E.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			tpio_warn("engine doorbell: %s", strerror(errno));
	}
}

/* ---- the engine thread ---- */

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&E.ring)))
		io_uring_submit(&E.ring);
	return sqe;
}

static void arm_doorbell(void)
{
	struct io_uring_sqe *sqe = get_sqe();

	io_uring_prep_read(sqe, E.efd, &E.db_buf, sizeof(E.db_buf), 0);
	io_uring_sqe_set_data64(sqe, UD_DOORBELL);
}

static void issue(struct tpio_op *op)
{
	struct io_uring_sqe *sqe = get_sqe();
	char *buf = (char *)op->r.buf + op->r.done;
	unsigned int len = op->r.len - op->r.done;
	uint64_t off = op->r.fd_kind == TPIO_FD_FILE ? op->r.off + op->r.done :
		       (uint64_t)-1;

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
	op->phase = op->r.kind == TPIO_OP_POLLIN ? PH_POLL : PH_IO;
}

/* The fd said "try again": wait for readiness, then issue again. */
static void poll_then_issue(struct tpio_op *op)
{
	struct io_uring_sqe *sqe = get_sqe();
	unsigned int mask = POLLIN;

	if (op->r.kind == TPIO_OP_WRITE || op->r.kind == TPIO_OP_SEND ||
	    op->r.kind == TPIO_OP_CONNECT)
		mask = POLLOUT;
	io_uring_prep_poll_add(sqe, op->r.fd, mask);
	io_uring_sqe_set_data64(sqe, op_ud(op));
	op->phase = PH_POLL;
}

static void flush_posts(void);

/*
 * The op is done: write its OVERLAPPED, set its event, queue its
 * completion for the pool, and release it. post_mu held.
 */
static void finish(struct tpio_op *op, DWORD status, ULONG_PTR bytes)
{
	struct _TP_POOL *pool = atomic_load(&op->pool);
	int cs = CS_LIVE;

	bucket_remove(op);
	tpio_ov_finish(op->r.ov, op->r.event, status, bytes);
	if (pool) {
		struct pending_post *p;

		if (E.nposts == REAP_BATCH)
			flush_posts();
		p = &E.posts[E.nposts++];
		memset(p, 0, sizeof(*p));
		p->pool = pool;
		p->c.io = op->r.io;
		p->c.status = status;
		p->c.overlapped = (__u64)(uintptr_t)op->r.ov;
		p->c.information = bytes;
	}
	if (atomic_compare_exchange_strong(&op->cstate, &cs, CS_COMPLETE))
		op_free(op);
	else
		op->finished = 1;	/* the cancel pass frees it */
}

static void finish_error(struct tpio_op *op, int res)
{
	DWORD status;

	if (res == -ECANCELED || (op->cancelled && res == -EINTR))
		status = ERROR_OPERATION_ABORTED;
	else
		status = tpio_win32_from_errno(-res);
	finish(op, status, op->r.done);
}

static void connect_polled(struct tpio_op *op)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(op->r.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		finish_error(op, -err);
	else
		finish(op, ERROR_SUCCESS, 0);
}

/*
 * Pipe, FIFO and character-device reads wait for readiness with a poll
 * request, then read in the engine without blocking. Where the kernel has
 * no non-blocking pipe reads (6.1), an io_uring read would block an io-wq
 * worker, one per pending read, and cancelling it is best effort; a poll
 * request is always cancellable.
 */
static int stream_read(const struct tpio_op *op)
{
	return op->r.kind == TPIO_OP_READ && op->r.fd_kind == TPIO_FD_STREAM;
}

/*
 * Pending reads of one pipe take its data in the order they were issued,
 * as on Windows. Every armed poll on the pipe fires when data arrives, and
 * the kernel may post the newer one first: a read whose poll fired while
 * an older read of the same fd still waits for its own poll re-arms
 * instead (the older one's completion comes from the same wake-up).
 * Engine thread only; the bucket lock orders it with inserts.
 */
static int older_read_waits(const struct tpio_op *op)
{
	struct bucket *b = bucket_of(op->r.fd);
	const struct tpio_op *o;
	int found = 0;

	pthread_mutex_lock(&b->mu);
	for (o = b->head; o && !found; o = o->b_next)
		found = o != op && o->r.fd == op->r.fd && stream_read(o) &&
			o->seq && o->seq < op->seq && o->phase == PH_POLL &&
			!o->cancelled && !o->finished;
	pthread_mutex_unlock(&b->mu);
	return found;
}

static void stream_read_polled(struct tpio_op *op)
{
	ssize_t n;

	if (older_read_waits(op)) {
		poll_then_issue(op);
		return;
	}
	n = tpio_stream_read_nowait(op->r.fd, op->r.buf, op->r.len);
	if (n == -EAGAIN)
		poll_then_issue(op);	/* another reader was first */
	else if (n == -ENOTTY)
		issue(op);		/* cannot tell: let io_uring read */
	else if (n < 0)
		finish_error(op, (int)n);
	else if (!n && op->r.len)
		finish(op, op->r.eof_status, 0);
	else
		finish(op, ERROR_SUCCESS, (ULONG_PTR)n);
}

static void on_cqe(struct tpio_op *op, int res)
{
	int again = res == -EAGAIN ||
		    (op->r.kind == TPIO_OP_CONNECT &&
		     (res == -EINPROGRESS || res == -EALREADY));

	if (op->phase == PH_POLL) {
		if (res < 0)
			finish_error(op, res);
		else if (op->cancelled)
			finish(op, ERROR_OPERATION_ABORTED, op->r.done);
		else if (op->r.kind == TPIO_OP_POLLIN)
			finish(op, ERROR_SUCCESS, 0);
		else if (op->r.kind == TPIO_OP_CONNECT)
			connect_polled(op);
		else if (stream_read(op))
			stream_read_polled(op);
		else
			issue(op);
		return;
	}
	if (again) {
		if (op->cancelled)
			finish(op, ERROR_OPERATION_ABORTED, op->r.done);
		else
			poll_then_issue(op);
		return;
	}
	if (res < 0) {
		finish_error(op, res);
		return;
	}
	switch (op->r.kind) {
	case TPIO_OP_ACCEPT:
		*op->r.accepted = tpio_handle_from_fd(res);
		finish(op, ERROR_SUCCESS, 0);
		break;
	case TPIO_OP_CONNECT:
		finish(op, ERROR_SUCCESS, 0);
		break;
	case TPIO_OP_READ:
	case TPIO_OP_RECV:
		if (!res && op->r.len)
			finish(op, op->r.eof_status, 0);
		else
			finish(op, ERROR_SUCCESS, (ULONG_PTR)res);
		break;
	default:	/* writes complete when everything is written */
		op->r.done += (uint32_t)res;
		if (op->r.done < op->r.len && res > 0 && !op->cancelled)
			issue(op);
		else
			finish(op, op->r.done < op->r.len ?
			       ERROR_OPERATION_ABORTED : ERROR_SUCCESS,
			       op->r.done);
		break;
	}
}

/* Post one pool's share of a batch; waits for room, never drops. */
static void post_pool(struct _TP_POOL *pool, struct tpio_completion *c,
		      uint32_t n)
{
	uint32_t done, i;
	int ret;

	while (n) {
		ret = pool->port.t->post(&pool->port, c, n, &done);
		if (!ret) {
			c += done;
			n -= done;
		} else if (ret == -EAGAIN) {
			/* full: move entries out of the ring, then retry */
			tpio_pool_make_progress(pool);
			sched_yield();
		} else if (ret == -ENOENT) {
			/* an object is gone: post one by one, dropping it */
			for (i = 0; i < n; i++) {
				ret = tpio_post_retry(pool, &c[i]);
				if (ret && ret != -ENOENT)
					tpio_warn("engine post: %s",
						  strerror(-ret));
			}
			return;
		} else {
			tpio_warn("engine post of %u completions failed: %s",
				  n, strerror(-ret));
			return;
		}
	}
}

/* Post the queued completions, grouped by pool. post_mu held. */
static void flush_posts(void)
{
	struct tpio_completion c[REAP_BATCH];
	uint32_t i, j, n;

	for (i = 0; i < E.nposts; i++) {
		struct _TP_POOL *pool = E.posts[i].pool;

		if (!pool)
			continue;
		for (n = 0, j = i; j < E.nposts; j++) {
			if (E.posts[j].pool != pool)
				continue;
			c[n++] = E.posts[j].c;
			E.posts[j].pool = NULL;
		}
		post_pool(pool, c, n);
	}
	E.nposts = 0;
}

static unsigned int reap(void)
{
	struct io_uring_cqe *cqes[REAP_BATCH];
	unsigned int n, i, total = 0;

	pthread_mutex_lock(&E.post_mu);
	while (total < 4 * REAP_BATCH &&
	       (n = io_uring_peek_batch_cqe(&E.ring, cqes, REAP_BATCH))) {
		for (i = 0; i < n; i++) {
			uint64_t ud = io_uring_cqe_get_data64(cqes[i]);
			struct tpio_op *op;

			if (ud == UD_DOORBELL) {
				arm_doorbell();
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
			on_cqe(op, cqes[i]->res);
		}
		io_uring_cq_advance(&E.ring, n);
		total += n;
		flush_posts();
	}
	pthread_mutex_unlock(&E.post_mu);
	return total;
}

/* Reverse a popped LIFO chain into submission order. */
static struct tpio_op *fifo(struct tpio_op *op, int cancel_chain)
{
	struct tpio_op *out = NULL, *next;

	for (; op; op = next) {
		if (cancel_chain) {
			next = op->c_next;
			op->c_next = out;
		} else {
			next = op->s_next;
			op->s_next = out;
		}
		out = op;
	}
	return out;
}

static unsigned int take_submissions(void)
{
	struct tpio_op *op = fifo(atomic_exchange(&E.subs, NULL), 0), *next;
	unsigned int n = 0;

	for (; op; op = next, n++) {
		next = op->s_next;
		if (op->cancelled) {
			/* cancelled before it reached the ring */
			pthread_mutex_lock(&E.post_mu);
			finish(op, ERROR_OPERATION_ABORTED, op->r.done);
			flush_posts();
			pthread_mutex_unlock(&E.post_mu);
			continue;
		}
		if (stream_read(op)) {
			op->seq = ++E.read_seq;
			poll_then_issue(op);
		} else {
			issue(op);
		}
	}
	return n;
}

static unsigned int take_cancels(void)
{
	struct tpio_op *op = fifo(atomic_exchange(&E.cancels, NULL), 1), *next;
	unsigned int n = 0;

	for (; op; op = next, n++) {
		next = op->c_next;
		if (op->finished) {
			op_free(op);
			continue;
		}
		op->cancelled = 1;
		if (op->phase != PH_NEW) {
			struct io_uring_sqe *sqe = get_sqe();

			io_uring_prep_cancel64(sqe, op_ud(op), 0);
			io_uring_sqe_set_data64(sqe, UD_CANCEL);
		}
		/* taken: cancellable again (only the engine finishes ops) */
		atomic_store(&op->cstate, CS_LIVE);
	}
	return n;
}

static void *engine_main(void *arg)
{
	int ret;

	(void)arg;
	arm_doorbell();
	for (;;) {
		unsigned int work = take_submissions();

		work += take_cancels();
		work += reap();
		if (work) {
			if (io_uring_sq_ready(&E.ring))
				io_uring_submit(&E.ring);
			continue;
		}
		atomic_store(&E.sleeping, 1);
		if (atomic_load(&E.subs) || atomic_load(&E.cancels)) {
			atomic_store(&E.sleeping, 0);
			continue;
		}
		ret = io_uring_submit_and_wait(&E.ring, 1);
		atomic_store(&E.sleeping, 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY && ret != -ETIME) {
			tpio_warn("engine: io_uring_enter: %s", strerror(-ret));
			usleep(1000);
		}
	}
	return NULL;
}

static uint32_t budget_from_env(void)
{
	const char *s = getenv("TPIO_IO_INFLIGHT");
	unsigned long v;
	char *end;

	if (!s || !*s)
		return OPS_DEFAULT;
	v = strtoul(s, &end, 0);
	if (*end || v < 1 || v > OPS_MAX) {
		tpio_warn("TPIO_IO_INFLIGHT=%s out of range 1..%u, using %u",
			  s, OPS_MAX, OPS_DEFAULT);
		return OPS_DEFAULT;
	}
	return (uint32_t)v;
}

static void engine_start(void)
{
	struct io_uring_params p;
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t th;
	uint32_t cq;
	int i, ret;

	for (i = 0; i < NBUCKETS; i++)
		pthread_mutex_init(&E.buckets[i].mu, NULL);
	E.budget = budget_from_env();
	/* a CQE per op, per poll of an op, per cancel: room for all */
	for (cq = 2 * SQ_ENTRIES; cq < 4 * E.budget && cq < 65536; cq <<= 1)
		;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	ret = io_uring_queue_init_params(SQ_ENTRIES, &E.ring, &p);
	if (ret < 0) {
		E.err = -ret;
		tpio_warn("io_uring is not available (%s): overlapped I/O fails with ERROR_NOT_SUPPORTED",
			  strerror(-ret));
		return;
	}
	E.efd = eventfd(0, EFD_CLOEXEC);
	if (E.efd < 0) {
		E.err = errno;
		io_uring_queue_exit(&E.ring);
		tpio_warn("engine eventfd: %s", strerror(E.err));
		return;
	}
	/* the engine takes no signals: SIGPIPE of its writes stays pending */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, engine_main, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		E.err = ret;
		close(E.efd);
		io_uring_queue_exit(&E.ring);
		tpio_warn("cannot create the engine thread: %s", strerror(ret));
		return;
	}
	pthread_setname_np(th, "tpio-engine");
	atomic_store(&engine_up, 1);
}

/* ---- the interface to the I/O family ---- */

int tpio_engine_submit(const struct tpio_io_req *r)
{
	struct tpio_op *op;

	pthread_once(&engine_once, engine_start);
	if (E.err)
		return -E.err;
	op = op_alloc();
	op->r = *r;
	atomic_store_explicit(&op->pool, r->pool, memory_order_relaxed);
	bucket_insert(op);
	push(&E.subs, op, &op->s_next);
	doorbell();
	return 0;
}

/* Whether reads of @fd are in flight: a new read must queue behind them. */
int tpio_engine_reads_pending(int fd)
{
	struct bucket *b = bucket_of(fd);
	const struct tpio_op *op;
	int found = 0;

	if (!atomic_load(&engine_up))
		return 0;
	pthread_mutex_lock(&b->mu);
	for (op = b->head; op && !found; op = op->b_next)
		found = op->r.fd == fd && stream_read(op);
	pthread_mutex_unlock(&b->mu);
	return found;
}

unsigned int tpio_engine_cancel(int fd, LPOVERLAPPED ov, DWORD tid)
{
	struct bucket *b = bucket_of(fd);
	struct tpio_op *op, *todo = NULL;
	unsigned int n = 0;

	if (!atomic_load(&engine_up))
		return 0;
	pthread_mutex_lock(&b->mu);
	for (op = b->head; op; op = op->b_next) {
		int cs = CS_LIVE;

		if (op->r.fd != fd || (ov && op->r.ov != ov) ||
		    (tid && op->r.tid != tid))
			continue;
		n++;
		if (atomic_compare_exchange_strong(&op->cstate, &cs,
						   CS_PUSHED)) {
			op->c_next = todo;
			todo = op;
		}
	}
	pthread_mutex_unlock(&b->mu);
	while (todo) {
		op = todo;
		todo = op->c_next;
		push(&E.cancels, op, &op->c_next);
	}
	if (n)
		doorbell();
	return n;
}

void tpio_engine_forget_pool(struct _TP_POOL *pool)
{
	uint32_t c, i, nchunks;

	if (!atomic_load(&engine_up))
		return;
	pthread_mutex_lock(&E.post_mu);
	pthread_mutex_lock(&E.free_mu);
	nchunks = E.nchunks;
	pthread_mutex_unlock(&E.free_mu);
	for (c = 0; c < nchunks; c++) {
		struct tpio_op *chunk = atomic_load(&E.chunks[c]);

		for (i = 0; i < OPS_PER_CHUNK; i++) {
			struct _TP_POOL *expect = pool;

			atomic_compare_exchange_strong(&chunk[i].pool, &expect,
						       NULL);
		}
	}
	pthread_mutex_unlock(&E.post_mu);
}

ULONG tpio_io_ops_in_flight(void)
{
	return atomic_load(&E.in_flight);
}
