// SPDX-License-Identifier: MIT
/*
 * Pool workers (Documentation/libtpio.rst, "Workers").
 *
 * A worker runs, in this order of preference: the entry in its own
 * mailbox (a completion it posted to itself, or kept from what it reaped),
 * an entry of the shared scheduler, and otherwise it idles in one of three
 * ways: as the engine's leader (it owns the pool's io_uring: reaps its
 * completions and sleeps in io_uring_enter(), which also submits what the
 * pool's threads prepared), spinning for a while (never with one CPU), or
 * asleep in the transport's worker_wait (LIFO).
 *
 * NT's rule decides who is woken: a worker that takes work counts as
 * active (pool->running) until it next finds none; work queued for others
 * wakes an idle worker only while fewer than the concurrency value are
 * active. A completion posted by an active worker is kept for itself
 * (completion.c). When that leaves work waiting behind a callback that blocks,
 * the stall detector (stall_detector.c) wakes another worker after one tick;
 * on kmod with the module's concurrency control (pool->kconc) the kernel
 * releases a sleeper at the block, and an idle worker refused by the
 * library's count asks the kernel's counts (conc_admitted, conc_over).
 *
 * worker.c is the top of the engine: it also creates and destroys pools
 * (tpio_pool_create, tpio_default_pool, tpio_pool_destroy), registering
 * with each the ops through which pool.c reaches the files above it.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "engine.h"


/* ---- one worker ---- */

static void set_active(struct _TP_POOL *pool, struct tpio_worker *self,
		       int active)
{
	if (self->active == active)
		return;
	/* relaxed: conc_admitted reads other workers' */
	__atomic_store_n(&self->active, active, __ATOMIC_RELAXED);
	tpio_act_seq_bump(self);
	if (active)
		atomic_fetch_add(&pool->running, 1);
	else
		atomic_fetch_sub(&pool->running, 1);
}

/* Begin the callback of @c (queued--, running++, assoc++); 0 if stale. */
static int begin(struct _TP_POOL *pool, const struct tpio_cqe *c)
{
	return tpio_word_begin(&pool->port.r.words[c->slot], c->epoch);
}

/*
 * The oldest entry of the worker's local queue, begun: 1, or 0 when there
 * is none or it was stale. The object's parked entries follow it once it
 * has begun.
 */
static int take_local(struct _TP_POOL *pool, struct tpio_worker *self,
		      struct tpio_cqe *c)
{
	struct tpio_local l;
	int ok;

	if (!tpio_local_take(self, &l))
		return 0;
	*c = l.cqe;
	ok = begin(pool, c);
	tpio_io_unpark((struct _TP_IO *)(uintptr_t)c->cookie, l.inc, pool);
	return ok;
}

/*
 * NT's rule at dequeue: a worker that is active (it just ran a callback)
 * takes the next entry at once; an idle one only while fewer than the
 * concurrency value are active, or with a grant of the stall detector.
 * @use consumes the grant.
 */
static int admitted(struct _TP_POOL *pool, struct tpio_worker *self, int use)
{
	if (self->active)
		return 1;
	if (!use)
		return atomic_load(&pool->running) < pool->concurrency ||
		       atomic_load(&pool->grants);
	if (tpio_worker_take_place(pool, self))
		return 1;
	if (!tpio_take_one(&pool->grants))
		return 0;
	set_active(pool, self, 1);
	return 1;
}

/*
 * The other workers counted in pool->running, if all are inside their
 * callbacks: 1 and the sum of their callback sequences in *@seq, else 0.
 * pool->mu held.
 */
static int others_in_callbacks(struct _TP_POOL *pool, struct tpio_worker *self,
			       uint32_t *seq)
{
	struct tpio_worker *w;
	uint32_t sum = 0;

	tpio_list_for_each(w, &pool->workers, link) {
		if (w == self || !__atomic_load_n(&w->active, __ATOMIC_RELAXED))
			continue;
		if (!atomic_load_explicit(&w->in_cb, memory_order_acquire))
			return 0;
		sum += atomic_load_explicit(&w->cb_seq, memory_order_relaxed);
	}
	*seq = sum;
	return 1;
}

/*
 * The library's count is full but the kernel's leaves room (callbacks
 * counted in pool->running are blocked): take a place beyond the count.
 * pool->mu held; @kroom: a first look at the kernel's counts said room.
 * A worker between callbacks, or that just took its place, runs the
 * library's own code, where a moment's sleep on pool->mu is a block to
 * the kernel, not a blocked callback: so the kernel's counts are read
 * again while every other counted worker is inside the same callback
 * before and after. Two workers that ask at once may both get one; the
 * one above the value gives it back after its callback (conc_over).
 */
static int conc_admitted(struct _TP_POOL *pool, struct tpio_worker *self,
			 int kroom)
{
	uint32_t before, after;

	if (!kroom || !others_in_callbacks(pool, self, &before) ||
	    !tpio_conc_room(pool) || !others_in_callbacks(pool, self, &after) ||
	    before != after)
		return 0;
	set_active(pool, self, 1);
	atomic_fetch_add_explicit(&pool->conc_admits, 1, memory_order_relaxed);
	return 1;
}

/*
 * After a callback, above the library's count: if the kernel counts the
 * value's worth running without this worker (a blocked callback woke up),
 * it gives its place back rather than take more work, so that a blocker
 * that wakes does not keep the pool above the value. A system call, only
 * while the pool runs above its count.
 */
static int conc_over(struct _TP_POOL *pool, struct tpio_worker *self)
{
	struct tpio_conc_args a;

	if (!pool->kconc || !self->active ||
	    atomic_load(&pool->running) <= pool->concurrency ||
	    tpio_conc_query(pool, &a) || !a.value)
		return 0;
	/* this worker is in active (attached, running) */
	if (a.active + a.woken <= a.value)
		return 0;
	set_active(pool, self, 0);
	atomic_fetch_add_explicit(&pool->conc_yields, 1, memory_order_relaxed);
	return 1;
}

/*
 * After a callback, above the value: the stall detector's meter saw the
 * pool keep more callbacks runnable than the value (stall_detector.c)
 * and takes a place back: this worker goes idle rather than take more
 * work, and what its mailbox holds goes to the shared scheduler, where
 * the workers that keep their places take it (a callback that submits
 * its own next work would otherwise keep its place for good). One load
 * of a counter that is almost always 0.
 */
static int meter_yield(struct _TP_POOL *pool, struct tpio_worker *self)
{
	if (!self->active || !atomic_load_explicit(&pool->revokes,
						   memory_order_relaxed) ||
	    atomic_load(&pool->running) <= pool->concurrency ||
	    !tpio_take_one(&pool->revokes))
		return 0;
	set_active(pool, self, 0);
	tpio_local_spill(pool, self);
	return 1;
}

/* An entry of the shared scheduler (or the port's ring), begun. */
static int take_shared(struct _TP_POOL *pool, struct tpio_worker *self,
		       struct tpio_cqe *c)
{
	int was_active = self->active, ok = 0, kroom = 0;

	if (!atomic_load(&pool->sched_count) && !tpio_ring_nonempty(pool))
		return 0;
	/* refused by the library's count: the kernel may see blocked ones */
	if (!admitted(pool, self, 0) && !(kroom = tpio_conc_room(pool)))
		return 0;
	pthread_mutex_lock(&pool->mu);
	tpio_pull_ring(pool);
	/*
	 * The place is taken under the lock, once an entry is there: a
	 * worker that lost the entry to another never counts as running.
	 */
	if (atomic_load(&pool->sched_count) &&
	    (admitted(pool, self, 1) || conc_admitted(pool, self, kroom))) {
		ok = tpio_pick(pool, c);
		/* only stale entries were left: give the place back */
		if (!ok && !was_active)
			set_active(pool, self, 0);
	}
	pthread_mutex_unlock(&pool->mu);
	return ok;
}

static void run_callback(struct _TP_POOL *pool, struct tpio_worker *self,
			 const struct tpio_cqe *c)
{
	struct _TP_IO *io = (struct _TP_IO *)(uintptr_t)c->cookie;
	struct _TP_CALLBACK_INSTANCE inst;

	atomic_fetch_add_explicit(&self->cb_seq, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->cb_begun, 1, memory_order_relaxed);
	memset(&inst, 0, sizeof(inst));
	inst.io = io;
	inst.pool = pool;
	inst.associated = 1;
	inst.may_run_long = io->long_function;
	if (io->persistent)
		self->persistent = 1;
	tpio_cur_instance = &inst;
	/* release: a reader that sees it sees cb_seq's new value */
	atomic_store_explicit(&self->in_cb, 1, memory_order_release);
	io->cb(&inst, io->ctx, (PVOID)(uintptr_t)c->overlapped, c->status,
	       (ULONG_PTR)c->information, io);
	if (io->finalization)
		io->finalization(&inst, io->ctx);
	atomic_store_explicit(&self->in_cb, 0, memory_order_relaxed);
	tpio_cur_instance = NULL;
	/* the API's actions for the callback's end (SetEventWhen...) */
	if (inst.on_return)
		inst.on_return(&inst);
	tpio_io_end(io, inst.associated);
	/* CallbackMayRunLong took it out of the counts: back in, idle */
	tpio_conc_long_end(pool, self);
}

/* CloseThreadpool sets it under pool->mu; idle workers look without. */
static int stopping(struct _TP_POOL *pool)
{
	return __atomic_load_n(&pool->stopping, __ATOMIC_SEQ_CST);
}

/* Work this worker may take now (admission included). */
static int work_visible(struct _TP_POOL *pool, struct tpio_worker *self)
{
	return tpio_local_nonempty(self) ||
	       ((atomic_load(&pool->sched_count) || tpio_ring_nonempty(pool)) &&
		admitted(pool, self, 0));
}

/* Completions wait in the engine and nobody leads it. */
static int engine_unled(struct _TP_POOL *pool, struct tpio_engine *e)
{
	return e && !atomic_load(&pool->leader) &&
	       (tpio_engine_cq_ready(e) || tpio_engine_unsubmitted(e));
}

static void leader_release(struct _TP_POOL *pool, struct tpio_engine *e)
{
	/* what this leader prepared must not wait while it runs callbacks */
	if (tpio_engine_unsubmitted(e))
		tpio_engine_submit_now(e);
	atomic_store(&pool->leader, 0);
}

/*
 * The leader leaves the ring to run callbacks while operations are in
 * flight. A completion that arrives meanwhile is reaped by the first
 * worker that is free: this one after its callbacks (it runs what it
 * reaps: NT's rule for a reaped completion), a spinning one, or, if the
 * callbacks block, the stall detector, which this asks to watch. No
 * sleeper is woken to take the ring: that made every completion of a
 * chain (a ping-pong, an echo's next read) change threads, at the price
 * of a wake-up, while the chain's own thread would be free in a moment.
 * Work queued beside the one taken still wakes workers (tpio_pool_wake).
 */
static void keep_led(struct _TP_POOL *pool, struct tpio_engine *e)
{
	if (!tpio_engine_busy(e) || atomic_load(&pool->leader) ||
	    atomic_load(&pool->spinning))
		return;
	tpio_pool_watch(pool);
}

/*
 * Be the engine's leader for as long as there is nothing else to do:
 * reap, or sleep in the ring. Returns 1 when it did something or work may
 * be waiting, 0 when it could not lead.
 */
static int lead(struct _TP_POOL *pool, struct tpio_worker *self)
{
	struct tpio_engine *e = atomic_load(&pool->eng);
	struct tpio_batch *b = self->batch;

	if (!e || atomic_load(&pool->leader) || !tpio_pool_bind(pool, self) ||
	    atomic_exchange(&pool->leader, 1))
		return 0;
	b->kept = 0;
	b->shared = 0;
	b->nslow = 0;
	b->pool = pool;
	for (;;) {
		if (tpio_engine_reap(e, b)) {
			leader_release(pool, e);
			/* the entries it kept count it active before others wake */
			if (b->kept)
				set_active(pool, self, 1);
			tpio_complete_flush(b);
			keep_led(pool, e);
			break;
		}
		if (stopping(pool) || work_visible(pool, self)) {
			leader_release(pool, e);
			break;
		}
		/* Dekker with posters: asleep before the last look */
		atomic_store(&pool->leader_asleep, 1);
		if (stopping(pool) || work_visible(pool, self)) {
			atomic_store(&pool->leader_asleep, 0);
			leader_release(pool, e);
			break;
		}
		tpio_engine_wait(e);
		atomic_store(&pool->leader_asleep, 0);
		tpio_claim_wake(pool);
	}
	return 1;
}

/*
 * Watch for work for a while before sleeping (TPIO_SPIN_US; 0 with one
 * CPU, where spinning would take the CPU from the thread it waits for).
 * 1 when work or an unled engine showed up.
 */
static int spin(struct _TP_POOL *pool, struct tpio_worker *self)
{
	uint32_t us = tpio_config()->spin_us;
	__u64 end;
	unsigned int i;
	int found = 0;

	if (!us)
		return 0;
	atomic_fetch_add(&pool->spinning, 1);
	end = tpio_now_ns() + (__u64)us * 1000;
	for (i = 1;; i++) {
		if (work_visible(pool, self) ||
		    engine_unled(pool, atomic_load(&pool->eng))) {
			found = 1;
			break;
		}
		tpio_cpu_relax();
		if (!(i % 64) && tpio_now_ns() >= end)
			break;
	}
	/*
	 * None left to end: a poster relied on this spin (claim_spinner;
	 * spinners are interchangeable): look again.
	 */
	if (!tpio_take_one(&pool->spinning)) {
		tpio_claim_wake(pool);
		found = 1;
	}
	return found;
}

/*
 * Pending WAITs in a row (sleep_idle) before a worker refused again and
 * again sleeps without saying so, and leaves the work to the detector.
 */
#define TPIO_PENDING_WAITS	64

/*
 * Work waits that the count refused this worker: with the kernel's control
 * (pool->kconc) the WAIT says so (TPIO_WAIT_PENDING), so that it returns
 * at once if the kernel's counts leave room (the worker then asks them,
 * take_shared), and a callback that blocks later releases this sleeper,
 * as it releases one whose wake_seq is behind. A worker that came back
 * that way and was refused again (conc_admitted's guard: another counted
 * worker between callbacks) yields first, to let that worker on; after
 * TPIO_PENDING_WAITS such rounds without a callback it sleeps plainly.
 */
static int pending_wait(struct _TP_POOL *pool, struct tpio_worker *self,
			int waits)
{
	if (!pool->kconc || !self->attached || !waits ||
	    self->pending_waits >= TPIO_PENDING_WAITS)
		return 0;
	if (self->pending_waits++)
		sched_yield();
	return 1;
}

/* Sleep in the transport until woken; -ETIMEDOUT after the idle timeout. */
static int sleep_idle(struct _TP_POOL *pool, struct tpio_worker *self)
{
	uint32_t seq = __atomic_load_n(pool->port.r.wake_seq, __ATOMIC_SEQ_CST);
	struct tpio_engine *e = atomic_load(&pool->eng);
	int ret, waits;

	if (work_visible(pool, self) || stopping(pool))
		return 0;
	/*
	 * Work waits that the count refused this worker: the detector must
	 * look, or callbacks that block could hold it back for good. The
	 * posters asked it only if they found the count full, and a burst
	 * that started threads instead (running + woken below the value
	 * while those threads start) left nobody asking.
	 */
	waits = atomic_load(&pool->sched_count) || tpio_ring_nonempty(pool);
	if (waits)
		tpio_pool_watch(pool);
	/* an idle worker that may submit leads a vacant engine */
	if (e && !atomic_load(&pool->leader) && tpio_pool_bind(pool, self))
		return 0;
	ret = pool->port.t->worker_wait(&pool->port,
		tpio_now_ns() + tpio_config()->idle_timeout_ms * 1000000ULL,
		seq, pending_wait(pool, self, waits));
	tpio_claim_wake(pool);
	return ret;
}

/* pool->mu held: should this idle worker retire? */
static int should_exit(struct _TP_POOL *pool, struct tpio_worker *self,
		       int timed_out)
{
	uint32_t keep = pool->min_threads > 1 ? pool->min_threads : 1;

	if (pool->stopping)
		return 1;
	/* an engine-bound worker owns io_uring requests: it stays */
	if (self->persistent || self->engine_bound)
		return 0;
	if (pool->threads > pool->max_threads)
		return 1;
	return timed_out && pool->threads > keep;
}

static void worker_exit(struct _TP_POOL *pool, struct tpio_worker *self)
{
	int last;

	/* before the pool (and its port) can go */
	tpio_conc_detach(pool, self);
	tpio_worker_unlink(pool, self);
	last = !pool->threads;
	/* a deferred CloseThreadpool: the last worker frees the pool */
	if (last && pool->stopping == 2) {
		pthread_mutex_unlock(&pool->mu);
		tpio_pool_destroy(pool);
	} else {
		pthread_mutex_unlock(&pool->mu);
	}
	tpio_self = NULL;
	free(self->batch);
	free(self);
}

void *tpio_worker_main(void *arg)
{
	struct tpio_worker *self = arg;
	struct _TP_POOL *pool = self->pool;
	struct tpio_cqe c;
	sigset_t pipe_set;
	int timed_out = 0;

	/* a write to a closed pipe fails with EPIPE here, as on Windows */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	tpio_self = self;
	__atomic_store_n(&self->tid, (pid_t)syscall(SYS_gettid),
			 __ATOMIC_RELAXED);
	if (pool->kconc)
		tpio_conc_attach(pool, self);
	for (;;) {
		if ((!meter_yield(pool, self) && take_local(pool, self, &c)) ||
		    (!conc_over(pool, self) && take_shared(pool, self, &c))) {
			set_active(pool, self, 1);
			timed_out = 0;
			self->pending_waits = 0;
			run_callback(pool, self, &c);
			continue;
		}
		set_active(pool, self, 0);
		pthread_mutex_lock(&pool->mu);
		if (should_exit(pool, self, timed_out))
			break;
		pthread_mutex_unlock(&pool->mu);
		timed_out = 0;
		if (lead(pool, self) || spin(pool, self))
			continue;
		timed_out = sleep_idle(pool, self) == -ETIMEDOUT;
	}
	worker_exit(pool, self);	/* unlocks pool->mu */
	return NULL;
}

/* ---- pools: the top of the engine creates and destroys them ---- */

static const struct tpio_pool_ops pool_ops = {
	.worker_main = tpio_worker_main,
	.destroy = tpio_pool_destroy,
	.doorbell = tpio_engine_doorbell,
	.watch = tpio_service_tick_on,
};

int tpio_pool_create(int is_default, struct _TP_POOL **out)
{
	int ret = tpio_pool_new(is_default, &pool_ops, out);

	if (!ret) {
		tpio_stall_register(*out);
		tpio_stats_register(*out);
	}
	return ret;
}

/* No worker runs and no object is left: free everything. */
void tpio_pool_destroy(struct _TP_POOL *pool)
{
	struct tpio_engine *e;

	/* a poster may still be waking a worker (tpio_complete): briefly */
	while (atomic_load(&pool->posting))
		sched_yield();
	e = atomic_load(&pool->eng);
	tpio_stall_unregister(pool);
	tpio_stats_unregister(pool);
	pool->magic = 0;
	if (e)
		tpio_engine_destroy(e);
	tpio_epoll_pool_gone(pool);	/* the readiness engine's ops of it */
	tpio_pool_free(pool);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct _TP_POOL *default_pool;
static int default_error;

static void default_create(void)
{
	default_error = tpio_pool_create(1, &default_pool);
}

int tpio_default_pool(struct _TP_POOL **out)
{
	pthread_once(&default_once, default_create);
	*out = default_pool;
	return default_error;
}
