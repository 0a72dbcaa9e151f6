// SPDX-License-Identifier: MIT
/*
 * Delivering a completion to a pool (Documentation/libtpio.rst, "The path
 * of a completion").
 *
 * Fast path: the arrival rule applied here, with one compare-and-swap on
 * the object's state word (pending--, queued++), when the word's epoch is
 * the one the operation began in and something is pending. The entry then
 * goes, without a system call:
 *   - to the calling worker's local queue (its "mailbox"), when that
 *     worker will run it next without breaking an order (NT's rule: a
 *     completion posted by a pool thread is run by that thread when it is
 *     free, unless fewer callbacks run than the concurrency value): no
 *     lock at all;
 *   - else to the pool's shared scheduler (pool->mu), and idle workers are
 *     woken per NT's rule (tpio_pool_wake).
 * Slow path, for everything the fast path cannot decide (nothing pending:
 * skipped or dropped; a new epoch; a full queued count; a zombie): the
 * transport's POST, where the kernel (or the user transport, rule for
 * rule) is authoritative.
 *
 * FIFO per object with local queues: while an entry of an object waits in
 * a local queue (io->parked), later entries of the object wait in
 * io->parkq; they move to the shared scheduler once that entry has begun
 * (or was moved there itself by the stall detector).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine.h"

/* A slow-path POST of one completion: waits for room, never drops. */
int tpio_post_retry(struct _TP_POOL *pool, struct tpio_completion *c)
{
	struct timespec ts = { 0, 50000 };
	uint32_t done;
	int tries = 0, ret;

	for (;;) {
		c->result = 0;
		ret = pool->port.t->post(&pool->port, c, 1, &done);
		if (!ret && done == 1)
			return 0;
		if (ret != -EAGAIN && ret)
			return ret;
		/* the port is full: move entries out of it, then retry */
		tpio_pool_make_progress(pool);
		if (++tries > 4)
			nanosleep(&ts, NULL);
		else
			sched_yield();
	}
}

/*
 * TPIO_DEBUG=1: a completion that found nothing pending nor skipped was
 * dropped, the classic missing StartThreadpoolIo. Said once per object:
 * per slot, for the handle it holds (a slot's next object has another).
 */
static void diag_dropped(struct _TP_POOL *pool, const struct tpio_completion *c)
{
	uint32_t slot = TPIO_IO_SLOT(c->io);
	/* the bit above the handle: a handle may be 0 */
	uint64_t said = 1ULL << 32 | c->io;

	if (c->result != TPIO_POSTED_DROPPED || !tpio_debug() ||
	    slot >= pool->port.r.max_objects ||
	    atomic_exchange(&pool->slots[slot].dropped_said, said) == said)
		return;
	tpio_diag("a completion of object %#x was dropped: no StartThreadpoolIo was outstanding for it (said once per object)",
		  c->io);
}

/* Entries the slow path queued in the transport's ring need a worker. */
static void slow_queued(struct _TP_POOL *pool, uint32_t n)
{
	if (n && !pool->port.t->post_wakes)
		tpio_pool_wake(pool, n);
}

static int post_slow(struct _TP_POOL *pool, struct tpio_completion *c)
{
	int ret = tpio_post_retry(pool, c);

	if (!ret) {
		slow_queued(pool, c->result == TPIO_POSTED_QUEUED);
		diag_dropped(pool, c);
	}
	return ret;
}

/*
 * May the calling thread keep @c for itself, to run once it is free? It
 * must be a worker of @pool with room in its local queue; nothing else of
 * the object may be queued (FIFO per object), nothing may wait in the
 * shared scheduler (round robin between objects), the pool runs one
 * priority, and NT's rule must not ask for another thread. A worker in a
 * callback keeps it when as many callbacks run as the concurrency value
 * allows, or no worker is idle. The leader, not yet active, keeps the
 * first entry of its batch if it can take a place among the active
 * workers (then it runs them), and the others only when no further
 * thread may run (@b->kept).
 */
static int local_ok(struct _TP_POOL *pool, __u64 w, struct tpio_batch *b)
{
	struct tpio_worker *self = tpio_self;
	uint32_t running, t;

	if (!self || self->pool != pool || tpio_w_queued(w) != 1)
		return 0;
	t = atomic_load_explicit(&self->lq_tail, memory_order_relaxed);
	/* acquire: pairs with the head's move by a thief (stall_detector.c) */
	if (t - atomic_load_explicit(&self->lq_head, memory_order_acquire) >=
	    TPIO_LOCAL_MAX)
		return 0;
	if (__atomic_load_n(&pool->prio_mixed, __ATOMIC_RELAXED) ||
	    atomic_load(&pool->sched_count) || tpio_ring_nonempty(pool))
		return 0;
	/* the leader's later entries: it counts itself already */
	if (!tpio_cur_instance && b && b->kept)
		return atomic_load(&pool->running) >= pool->concurrency;
	/* the first: an idle worker takes its place (worker.c) with the check */
	if (!tpio_cur_instance && !self->active)
		return tpio_worker_take_place(pool, self);
	running = atomic_load(&pool->running);
	return running >= pool->concurrency ||
	       __atomic_load_n(&pool->threads, __ATOMIC_RELAXED) <= running;
}

static void local_put(struct _TP_POOL *pool, struct _TP_IO *io,
		      const struct tpio_cqe *c, struct tpio_batch *b)
{
	struct tpio_worker *self = tpio_self;
	uint32_t inc = atomic_load(&io->inc);
	uint32_t t = atomic_load_explicit(&self->lq_tail, memory_order_relaxed);
	struct tpio_local *l = &self->lq[t & (TPIO_LOCAL_MAX - 1)];

	/* later entries of io see it parked before the entry is visible */
	atomic_store(&io->parked, tpio_park_value(inc));
	l->cqe = *c;
	l->inc = inc;
	/* pairs with the acquire of lq_tail in tpio_local_take */
	atomic_store_explicit(&self->lq_tail, t + 1, memory_order_release);
	if (b)
		b->kept++;
	/* in a callback that may block: the stall detector keeps an eye */
	if (tpio_cur_instance)
		tpio_pool_watch(pool);
}

/*
 * @io has an entry in a local queue: append @c to its parkq and return 1,
 * or return 0 when that entry began meanwhile (queue @c normally).
 */
static int park_append(struct _TP_IO *io, const struct tpio_cqe *c)
{
	struct tpio_entry *e = tpio_entry_new();
	uint64_t v;

	if (!e)
		return 0;	/* the shared scheduler then; order is lost */
	e->cqe = *c;
	tpio_spin_lock(&io->park_lock);
	v = atomic_load(&io->parked);
	/* the owner clears a value without PARK_MORE without the lock */
	while (v && !(v & PARK_MORE) &&
	       !atomic_compare_exchange_weak(&io->parked, &v, v | PARK_MORE))
		;
	if (!v) {
		tpio_spin_unlock(&io->park_lock);
		free(e);
		return 0;
	}
	tpio_fifo_push(&io->parkq, &e->node);
	tpio_spin_unlock(&io->park_lock);
	return 1;
}

void tpio_io_unpark(struct _TP_IO *io, uint32_t inc, struct _TP_POOL *pool)
{
	uint64_t v = tpio_park_value(inc);
	struct tpio_snode *q, *next;
	uint32_t n = 0;

	if (atomic_compare_exchange_strong(&io->parked, &v, 0))
		return;
	tpio_spin_lock(&io->park_lock);
	if ((atomic_load(&io->parked) & ~PARK_MORE) != tpio_park_value(inc)) {
		/* already unparked, or the object's next life */
		tpio_spin_unlock(&io->park_lock);
		return;
	}
	q = tpio_fifo_take_all(&io->parkq);
	atomic_store(&io->parked, 0);
	tpio_spin_unlock(&io->park_lock);
	if (!q)
		return;
	pthread_mutex_lock(&pool->mu);
	for (; q; q = next, n++) {
		next = q->next;
		tpio_sched_add(pool, &tpio_entry_of(q)->cqe, 0);
		free(tpio_entry_of(q));
	}
	pthread_mutex_unlock(&pool->mu);
	tpio_pool_wake(pool, n);
}

/*
 * The local queues of @pool's workers (of @only, unless NULL) go to the
 * shared scheduler, each in order, each entry followed by its object's
 * parked entries: the stall detector's remedy for a stuck worker, and
 * what a worker that gives its place back leaves to the others.
 */
uint32_t tpio_local_spill(struct _TP_POOL *pool, struct tpio_worker *only)
{
	struct { struct _TP_IO *io; uint32_t inc; } moved[64];
	struct tpio_worker *w;
	struct tpio_local l;
	uint32_t n = 0, i;

	pthread_mutex_lock(&pool->mu);
	tpio_list_for_each(w, &pool->workers, link) {
		if (only && w != only)
			continue;
		while (n < 64 && tpio_local_take(w, &l)) {
			tpio_sched_add(pool, &l.cqe, 0);
			moved[n].io = (struct _TP_IO *)(uintptr_t)l.cqe.cookie;
			moved[n].inc = l.inc;
			n++;
		}
	}
	pthread_mutex_unlock(&pool->mu);
	for (i = 0; i < n; i++)
		tpio_io_unpark(moved[i].io, moved[i].inc, pool);
	return n;
}

/* At the object's release: park entries left behind are all stale. */
void tpio_io_parkq_drop(struct _TP_IO *io)
{
	struct tpio_snode *q, *next;

	tpio_spin_lock(&io->park_lock);
	q = tpio_fifo_take_all(&io->parkq);
	atomic_store(&io->parked, 0);
	tpio_spin_unlock(&io->park_lock);
	for (; q; q = next) {
		next = q->next;
		free(tpio_entry_of(q));
	}
}

static int queue_entry(struct _TP_POOL *pool, struct _TP_IO *io,
		       const struct tpio_cqe *c, __u64 w,
		       struct tpio_batch *batch)
{
	int ret;

	if (atomic_load(&io->parked) && park_append(io, c))
		return 0;
	if (local_ok(pool, w, batch)) {
		local_put(pool, io, c, batch);
		return 0;
	}
	pthread_mutex_lock(&pool->mu);
	ret = tpio_sched_add(pool, c, 0);
	pthread_mutex_unlock(&pool->mu);
	if (ret)
		return ret;
	if (batch)
		batch->shared++;
	else
		tpio_pool_wake(pool, 1);
	return 0;
}

static int complete_pool(const struct tpio_target *t, __u64 overlapped,
			 DWORD status, ULONG_PTR bytes,
			 struct tpio_batch *batch)
{
	struct _TP_POOL *pool = t->pool;
	uint32_t slot = TPIO_IO_SLOT(t->handle);
	struct tpio_completion sc;
	struct tpio_cqe c;
	__u64 next = 0;

	if (slot >= pool->port.r.max_objects)
		goto slow;
	if (!tpio_word_arrive(&pool->port.r.words[slot], t->epoch, &next))
		goto slow;
	memset(&c, 0, sizeof(c));
	c.cookie = (__u64)(uintptr_t)t->io;
	c.overlapped = overlapped;
	c.information = bytes;
	c.status = status;
	c.slot = (__u16)slot;
	c.epoch = (__u16)t->epoch;
	return queue_entry(pool, t->io, &c, next, batch);

slow:
	memset(&sc, 0, sizeof(sc));
	sc.io = t->handle;
	sc.status = status;
	sc.overlapped = overlapped;
	sc.information = bytes;
	if (!batch)
		return post_slow(pool, &sc);
	if (batch->nslow == TPIO_POST_MAX)
		tpio_complete_flush(batch);
	batch->slow[batch->nslow++] = sc;
	return 0;
}

/*
 * One completion for @t. The caller holds a pending count of the object,
 * which keeps it, and so its pool, alive until the entry is queued; from
 * then on its callback may run, close the object, and CloseThreadpool may
 * end the pool while this thread is still waking a worker of it. So a
 * thread that is not the pool's own engine (@batch NULL: the timer
 * thread, a SetEvent, a submission, an overlapped call) counts itself in
 * pool->posting for the whole call, and the pool's destruction waits
 * until nobody does (tpio_pool_destroy).
 */
int tpio_complete(const struct tpio_target *t, __u64 overlapped,
		  DWORD status, ULONG_PTR bytes, struct tpio_batch *batch)
{
	struct _TP_POOL *pool = t->pool;
	int ret;

	if (!pool)	/* a completion port's, or no port completion */
		return t->iocp ? tpio_iocp_deliver(t, overlapped, status,
						   bytes) : 0;
	if (batch)
		return complete_pool(t, overlapped, status, bytes, batch);
	atomic_fetch_add(&pool->posting, 1);
	ret = complete_pool(t, overlapped, status, bytes, NULL);
	atomic_fetch_sub(&pool->posting, 1);	/* last touch of the pool */
	return ret;
}

/* The slow completions of a batch in as few POSTs as fit; then wake. */
void tpio_complete_flush(struct tpio_batch *b)
{
	struct _TP_POOL *pool = b->pool;
	struct tpio_completion *c = b->slow;
	uint32_t n = b->nslow, done, i, queued = 0;
	int ret;

	while (n) {
		for (i = 0; i < n; i++)
			c[i].result = 0;
		ret = pool->port.t->post(&pool->port, c, n, &done);
		if (ret == -EAGAIN) {
			/* full: move entries out of the ring, then retry */
			tpio_pool_make_progress(pool);
			sched_yield();
			continue;
		}
		if (ret == -ENOENT) {
			/* an object is gone: one by one, dropping it */
			for (i = 0; i < n; i++)
				if (post_slow(pool, &c[i]) &&
				    tpio_debug())
					tpio_diag("completion for a closed object dropped");
			break;
		}
		if (ret) {
			tpio_warn("POST of %u completions failed: %s", n,
				  strerror(-ret));
			break;
		}
		for (i = 0; i < done; i++) {
			queued += c[i].result == TPIO_POSTED_QUEUED;
			diag_dropped(pool, &c[i]);
		}
		c += done;
		n -= done;
	}
	b->nslow = 0;
	slow_queued(pool, queued);
	if (b->shared)
		tpio_pool_wake(pool, b->shared);
	b->shared = 0;
}
