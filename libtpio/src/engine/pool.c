// SPDX-License-Identifier: MIT
/*
 * Pools: the backend, pool objects, their thread counts and NT's wake-up
 * and admission rules (tpio_pool_wake, tpio_worker_take_place). The
 * workers' loop is in worker.c, the shared scheduler in scheduler.c.
 *
 * pool.c is low in the engine: completion.c, io_engine.c and the stall
 * detector call it. What it needs from the files above it (a worker
 * thread's body, the pool's destruction, the engine's doorbell, the stall
 * detector's tick) it calls through pool->ops, which worker.c registers
 * when it creates the pool (Documentation/map.rst).
 *
 * Locking: pool->mu protects the scheduler (slots[], rr[], the entry free
 * list), the worker list and counts, and the pool's state; the counters
 * that the hot paths read without it are atomics (engine.h). Lock
 * order: pool->mu, then the transport's port lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine.h"

__thread struct tpio_worker *tpio_self;
__thread struct _TP_CALLBACK_INSTANCE *tpio_cur_instance;

#define POOL_MAGIC		0x4c4f4f50U
#define POOL_DEFAULT_MAX	500

/* ---- backend selection ---- */

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static const struct tpio_transport *backend;

static void backend_select(void)
{
	const char *want = getenv("TPIO_BACKEND");
	char why[256];

	if (!want || !*want || !strcmp(want, "auto")) {
		backend = &tpio_transport_kmod;
		if (tpio_kmod_probe(why, sizeof(why))) {
			backend = &tpio_transport_user;
			tpio_diag("TPIO_BACKEND=auto: the in-process backend, since %s",
				  why);
		}
	} else if (!strcmp(want, "user")) {
		backend = &tpio_transport_user;
	} else if (!strcmp(want, "kmod")) {
		if (tpio_kmod_probe(why, sizeof(why)))
			tpio_warn("TPIO_BACKEND=kmod but %s; thread pools will fail with ERROR_NOT_SUPPORTED",
				  why);
		else
			backend = &tpio_transport_kmod;
	} else {
		tpio_warn("TPIO_BACKEND=%s is not auto, kmod or user; thread pools will fail with ERROR_NOT_SUPPORTED",
			  want);
	}
}

const struct tpio_transport *tpio_transport_get(void)
{
	pthread_once(&backend_once, backend_select);
	return backend;
}

/* ---- waking ---- */

/*
 * Wake one idle worker (a sleeper, else the leader); 1 when one was. The
 * woken worker counts as active (pool->woken) until it claims the wake on
 * its way out of the sleep, so that a burst of posts does not wake more
 * workers than the concurrency value asks for (NT does the same: a thread
 * released from the port is active at once). A wake counts only when the
 * transport says it picked a sleeper: one that left its sleep by itself
 * meanwhile (a timeout, the wake sequence) is not relied on.
 */
int tpio_pool_wake_one(struct _TP_POOL *pool)
{
	struct tpio_engine *e;

	if (__atomic_load_n(pool->port.r.waiters, __ATOMIC_SEQ_CST)) {
		atomic_fetch_add(&pool->woken, 1);
		if (pool->port.t->wake_workers(&pool->port, 1) > 0)
			return 1;
		tpio_claim_wake(pool);
	}
	e = atomic_load(&pool->eng);
	if (e && atomic_load(&pool->leader_asleep) &&
	    atomic_exchange(&pool->leader_asleep, 0)) {
		atomic_fetch_add(&pool->woken, 1);
		pool->ops->doorbell(e);
		return 1;
	}
	return 0;
}

/*
 * Rely on a spinning worker for one entry: it counts as woken, and its
 * spin is claimed (pool->spinning counts the spins nobody relies on yet),
 * so that no two entries rely on the same spinner. 1 when one was.
 */
static int claim_spinner(struct _TP_POOL *pool)
{
	if (!atomic_load(&pool->spinning))
		return 0;
	atomic_fetch_add(&pool->woken, 1);
	if (tpio_take_one(&pool->spinning))
		return 1;
	tpio_claim_wake(pool);
	return 0;
}

/*
 * @entries were queued where idle workers find them (the shared scheduler
 * or the port's ring). First the wake sequence moves (the futex rule of
 * the transports' worker_wait), then NT's rule: wake idle workers while
 * fewer than the concurrency value are active, spinning ones first (they
 * need no system call), else start a worker within the pool's maximum.
 */
void tpio_pool_wake(struct _TP_POOL *pool, uint32_t entries)
{
	uint32_t i;

	__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < entries; i++) {
		if (atomic_load(&pool->running) + atomic_load(&pool->woken) >=
		    pool->concurrency) {
			/*
			 * Callbacks counted here may be blocked: with the
			 * kernel's control, its value decides whether a
			 * sleeper may take this (one system call, only
			 * while the pool's count is full and sleepers exist).
			 */
			if (pool->kconc &&
			    __atomic_load_n(pool->port.r.waiters,
					    __ATOMIC_SEQ_CST) &&
			    pool->port.t->wake_workers(&pool->port, 1) > 0)
				continue;
			tpio_pool_watch(pool);
			return;
		}
		if (claim_spinner(pool) || tpio_pool_wake_one(pool))
			continue;
		/*
		 * Sleepers there, none picked: the kernel's value refused
		 * (threads it counts as running, some idle on their way to
		 * look again); a new thread would only be refused too.
		 */
		if (pool->kconc &&
		    __atomic_load_n(pool->port.r.waiters, __ATOMIC_SEQ_CST)) {
			tpio_pool_watch(pool);
			return;
		}
		if (!tpio_spawn(pool))
			tpio_pool_watch(pool);
		return;
	}
}

/* ---- workers: their places ---- */

/*
 * An idle worker becomes active if fewer than the concurrency value are:
 * the place is taken with the check, so two idle workers that look at
 * once never both get the last one. 1 when it did.
 */
int tpio_worker_take_place(struct _TP_POOL *pool, struct tpio_worker *self)
{
	uint32_t r = atomic_load(&pool->running);

	if (self->active)
		return 1;
	while (r < pool->concurrency) {
		if (atomic_compare_exchange_weak(&pool->running, &r, r + 1)) {
			__atomic_store_n(&self->active, 1, __ATOMIC_RELAXED);
			tpio_act_seq_bump(self);
			return 1;
		}
	}
	return 0;
}

/*
 * May @self own io_uring requests of the pool's engine? A request dies
 * with the thread that submitted it, so such a worker never retires; at
 * most concurrency + 2 of them per pool.
 */
int tpio_pool_bind(struct _TP_POOL *pool, struct tpio_worker *self)
{
	int ok;

	if (self->engine_bound)
		return 1;
	pthread_mutex_lock(&pool->mu);
	ok = pool->bound < pool->concurrency + 2;
	if (ok) {
		pool->bound++;
		self->engine_bound = 1;
	}
	pthread_mutex_unlock(&pool->mu);
	return ok;
}

/* ---- workers: starting one ---- */

static int start_thread(struct _TP_POOL *pool, struct tpio_worker *w)
{
	pthread_attr_t a;
	pthread_t th;
	int ret;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, pool->ops->worker_main, w);
	pthread_attr_destroy(&a);
	if (ret)
		tpio_warn("cannot create a worker thread: %s", strerror(ret));
	return ret;
}

/* pool->mu held: a new worker, counted and listed; NULL at a limit. */
static struct tpio_worker *worker_new(struct _TP_POOL *pool)
{
	struct tpio_worker *w;

	if (pool->stopping || pool->threads >= pool->max_threads)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (w)
		w->batch = malloc(sizeof(*w->batch));
	if (!w || !w->batch) {
		if (w)
			free(w);
		return NULL;
	}
	w->pool = pool;
	tpio_list_push(&pool->workers, &w->link);
	/* atomic stores: completion.c reads the count without the lock */
	__atomic_store_n(&pool->threads, pool->threads + 1, __ATOMIC_RELAXED);
	return w;
}

/* pool->mu held: @w leaves the pool's list and count. */
void tpio_worker_unlink(struct _TP_POOL *pool, struct tpio_worker *w)
{
	tpio_list_del(&w->link);
	__atomic_store_n(&pool->threads, pool->threads - 1, __ATOMIC_RELAXED);
	if (w->engine_bound)
		pool->bound--;
	pthread_cond_broadcast(&pool->exit_cv);
}

/* pool->mu held: undo worker_new after a failed thread start. */
static void worker_unlist(struct _TP_POOL *pool, struct tpio_worker *w)
{
	tpio_worker_unlink(pool, w);
	free(w->batch);
	free(w);
}

/* Start one more worker if the maximum allows: 1 when one was started. */
int tpio_spawn(struct _TP_POOL *pool)
{
	struct tpio_worker *w;

	pthread_mutex_lock(&pool->mu);
	w = worker_new(pool);
	pthread_mutex_unlock(&pool->mu);
	if (!w)
		return 0;
	if (start_thread(pool, w)) {
		pthread_mutex_lock(&pool->mu);
		worker_unlist(pool, w);
		pthread_mutex_unlock(&pool->mu);
		return 0;
	}
	return 1;
}

/* After a POST found the port full: get its ring emptied. */
void tpio_pool_make_progress(struct _TP_POOL *pool)
{
	pthread_mutex_lock(&pool->mu);
	tpio_pull_ring(pool);
	pthread_mutex_unlock(&pool->mu);
	tpio_pool_wake(pool, 1);
}

/*
 * CallbackMayRunLong: TRUE when another worker is idle or can be started
 * (one is started when none is idle, as Windows does). With the kernel's
 * concurrency control, a TRUE also takes the callback out of the counts,
 * as on Windows: its worker leaves pool->running and detaches from the
 * port until the callback returns (tpio_conc_long_end), so that another
 * worker may take its place; pool->longs keeps it out of "idle".
 */
BOOL tpio_pool_may_run_long(struct _TP_POOL *pool)
{
	uint32_t running = atomic_load(&pool->running) +
			   atomic_load(&pool->longs);
	struct tpio_worker *self = tpio_self;
	BOOL idle, room;

	pthread_mutex_lock(&pool->mu);
	idle = pool->threads > running;
	room = pool->threads < pool->max_threads && !pool->stopping;
	pthread_mutex_unlock(&pool->mu);
	if (!idle && room)
		tpio_spawn(pool);
	if ((idle || room) && pool->kconc && self && self->pool == pool &&
	    self->active && !self->long_detached) {
		self->long_detached = 1;
		__atomic_store_n(&self->active, 0, __ATOMIC_RELAXED);
		atomic_fetch_add(&pool->longs, 1);
		atomic_fetch_sub(&pool->running, 1);
		tpio_conc_detach(pool, self);
		tpio_pool_wake(pool, (uint32_t)!!atomic_load(&pool->sched_count));
	}
	return idle || room;
}

/* ---- the kernel's concurrency control (pool->kconc) ---- */

int tpio_conc_query(struct _TP_POOL *pool, struct tpio_conc_args *a)
{
	return tpio_port_conc(&pool->port, TPIO_CONC_QUERY, 0, a);
}

/*
 * The kernel counts a worker active while it runs outside its WAIT, blocked
 * while it sleeps elsewhere (a callback that blocks, or the leader in
 * io_uring_enter()), and a sleeper it picked as woken until it is back.
 * Room for the caller to run: active + woken <= value with the caller
 * counted in active (an attached worker is, running now; another thread,
 * the stall detector's, is added).
 */
int tpio_conc_room(struct _TP_POOL *pool)
{
	struct tpio_worker *self = tpio_self;

	/* the caller, running now, is in active unless it is not attached */
	return pool->kconc &&
	       tpio_port_conc_room(&pool->port, self && self->pool == pool &&
					       self->attached);
}

void tpio_conc_attach(struct _TP_POOL *pool, struct tpio_worker *self)
{
	struct tpio_conc_args a;

	/* ENOSPC (a port's or a thread's limit): the worker goes uncounted */
	self->attached = pool->kconc &&
			 !tpio_port_conc(&pool->port, TPIO_CONC_ATTACH, 0, &a);
}

void tpio_conc_detach(struct _TP_POOL *pool, struct tpio_worker *self)
{
	struct tpio_conc_args a;

	if (!self->attached)
		return;
	tpio_port_conc(&pool->port, TPIO_CONC_DETACH, 0, &a);
	self->attached = 0;
}

void tpio_conc_long_end(struct _TP_POOL *pool, struct tpio_worker *self)
{
	if (!self->long_detached)
		return;
	self->long_detached = 0;
	atomic_fetch_sub(&pool->longs, 1);
	tpio_conc_attach(pool, self);
}

/* A new pool on a port that has the control: the value is the pool's. */
static void conc_setup(struct _TP_POOL *pool)
{
	struct tpio_conc_args a;

	pool->kconc = !tpio_port_conc(&pool->port, TPIO_CONC_SET,
				      pool->concurrency, &a);
}

/* ---- pool objects ---- */

int tpio_pool_new(int is_default, const struct tpio_pool_ops *ops,
		  struct _TP_POOL **out)
{
	const struct tpio_transport *t = tpio_transport_get();
	const struct tpio_config *cfg = tpio_config();
	struct _TP_POOL *pool;
	pthread_condattr_t ca;
	uint32_t i, entries, objects;
	int ret;

	if (!t)
		return -EOPNOTSUPP;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->port.t = t;
	pool->ops = ops;
	tpio_config_port(&entries, &objects);
	ret = t->setup(&pool->port, entries, objects);
	if (ret) {
		tpio_warn("%s port setup failed: %s", t->name, strerror(-ret));
		free(pool);
		return ret;
	}
	pool->slots = calloc(objects, sizeof(*pool->slots));
	if (!pool->slots) {
		t->destroy(&pool->port);
		free(pool);
		return -ENOMEM;
	}
	for (i = 0; i < TP_CALLBACK_PRIORITY_COUNT; i++)
		pool->rr[i].head = pool->rr[i].tail = -1;
	tpio_list_init(&pool->workers);
	tpio_link_init(&pool->mon_link);
	pthread_mutex_init(&pool->mu, NULL);
	pthread_mutex_init(&pool->eng_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->exit_cv, &ca);
	pthread_condattr_destroy(&ca);
	pool->max_threads = POOL_DEFAULT_MAX;
	pool->concurrency = cfg->concurrency;
	if (cfg->kernel_conc >= 2)
		conc_setup(pool);
	pool->first_prio = -1;
	pool->is_default = is_default;
	pool->magic = POOL_MAGIC;
	*out = pool;
	return 0;
}

/* No worker runs, no object is left, the engine is gone: free the rest. */
void tpio_pool_free(struct _TP_POOL *pool)
{
	tpio_sched_free(pool);
	free(pool->slots);
	pool->port.t->destroy(&pool->port);
	pthread_cond_destroy(&pool->exit_cv);
	pthread_mutex_destroy(&pool->eng_mu);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
}

int tpio_pool_valid(PTP_POOL p)
{
	return p && p->magic == POOL_MAGIC;
}

int tpio_pool_add_io(struct _TP_POOL *pool, struct _TP_IO *io)
{
	int need_worker;

	pthread_mutex_lock(&pool->mu);
	if (pool->stopping || pool->close_deferred) {
		pthread_mutex_unlock(&pool->mu);
		return -EINVAL;
	}
	pool->io_count++;
	pool->slots[io->slot].prio = (uint8_t)io->prio;
	/* one priority only: a worker may run its own completions first */
	if (pool->first_prio < 0)
		pool->first_prio = (int)io->prio;
	else if (pool->first_prio != (int)io->prio)
		__atomic_store_n(&pool->prio_mixed, 1, __ATOMIC_RELAXED);
	need_worker = !pool->threads;
	pthread_mutex_unlock(&pool->mu);
	if (need_worker)
		tpio_spawn(pool);
	return 0;
}

/* Wake every worker: followers, the leader, spinners see the state. */
void tpio_pool_wake_all(struct _TP_POOL *pool, uint32_t n)
{
	struct tpio_engine *e = atomic_load(&pool->eng);

	__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	if (n)
		pool->port.t->wake_workers(&pool->port, n);
	if (e)
		pool->ops->doorbell(e);
}

void tpio_pool_del_io(struct _TP_POOL *pool)
{
	int destroy = 0;
	uint32_t n;

	pthread_mutex_lock(&pool->mu);
	pool->io_count--;
	if (pool->io_count || !pool->close_deferred) {
		pthread_mutex_unlock(&pool->mu);
		return;
	}
	/* CloseThreadpool was deferred until now */
	__atomic_store_n(&pool->stopping, 2, __ATOMIC_SEQ_CST);
	n = pool->threads;
	destroy = !n;
	pthread_mutex_unlock(&pool->mu);
	if (destroy)
		pool->ops->destroy(pool);
	else
		tpio_pool_wake_all(pool, n);
}

/* The stall detector should look at @pool soon (stall_detector.c). */
void tpio_pool_watch(struct _TP_POOL *pool)
{
	if (!atomic_load_explicit(&pool->watch, memory_order_relaxed))
		atomic_store(&pool->watch, 1);
	pool->ops->watch();
}
