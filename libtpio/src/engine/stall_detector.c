// SPDX-License-Identifier: MIT
/*
 * The stall detector (Documentation/libtpio.rst, "Concurrency and
 * stalls"). NT's rule leaves work waiting while the concurrency value's
 * worth of callbacks run, and a worker keeps the completion it posted for
 * itself: if such a callback then blocks, that work would wait for it.
 * Where the kernel cannot tell a blocked callback from a running one (the
 * user backend, a module without TPIO_FEAT_CONC), the service thread looks every TPIO_STALL_US (1 ms) at the pools that asked
 * it to (tpio_pool_watch): a pool where work waits and no callback began
 * between two looks a tick apart gets its local queues emptied into the
 * shared scheduler, its engine reaped if nobody leads it, and one more worker
 * woken (or started, within the pool's maximum), whatever the concurrency
 * value says. So such work waits at most about two ticks. Callbacks
 * that block for less than a tick at a time keep that rule quiet: the
 * CPU meter (cpu_meter.c, meter_look) sees them in the workers' CPU and
 * run-queue time, adds places for them, and takes back places that keep
 * more callbacks runnable than the value. With the
 * kernel's counts (pool->kconc) it acts only where they leave room, and
 * grants nothing: the woken worker takes its place by those counts.
 *
 * The service ticks only while a pool is watched: from a worker's call
 * to tpio_pool_watch until a tick finds the pool quiet (no work waiting,
 * and the engine led or idle); it stops ticking after TICKS_QUIET quiet
 * ticks in a row, so that a busy pool does not have to wake it again
 * and again.
 */
#include <stdlib.h>
#include <string.h>
#include "engine.h"

static pthread_mutex_t mon_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tpio_list mon_pools = {	/* _TP_POOL.mon_link, mon_mu */
	.head = { &mon_pools.head, &mon_pools.head },
};

static int stall_tick(uint32_t starved);

void tpio_stall_register(struct _TP_POOL *pool)
{
	tpio_service_set_tick(stall_tick);
	pthread_mutex_lock(&mon_mu);
	tpio_list_push(&mon_pools, &pool->mon_link);
	pthread_mutex_unlock(&mon_mu);
}

/* After this the detector never touches @pool again. */
void tpio_stall_unregister(struct _TP_POOL *pool)
{
	pthread_mutex_lock(&mon_mu);
	tpio_list_del(&pool->mon_link);
	tpio_meter_free(pool->meter);
	pool->meter = NULL;
	pthread_mutex_unlock(&mon_mu);
}

static int local_nonempty(struct _TP_POOL *pool)
{
	struct tpio_worker *w;
	int any = 0;

	pthread_mutex_lock(&pool->mu);
	tpio_list_for_each(w, &pool->workers, link) {
		any = tpio_local_nonempty(w);
		if (any)
			break;
	}
	pthread_mutex_unlock(&pool->mu);
	return any;
}

/*
 * The service leads an engine nobody leads: it submits what waits in the
 * SQ (it never exits, so it may own the requests) and reaps; completions
 * go to the shared scheduler (the service runs no callback).
 */
static void reap_unled(struct _TP_POOL *pool)
{
	struct tpio_engine *e = atomic_load(&pool->eng);
	struct tpio_batch *b;

	if (!e || atomic_load(&pool->leader) || atomic_exchange(&pool->leader, 1))
		return;
	b = malloc(sizeof(*b));
	if (b) {
		memset(b, 0, offsetof(struct tpio_batch, slow));
		b->pool = pool;
		tpio_engine_submit_now(e);
		while (tpio_engine_reap(e, b))
			;
	}
	atomic_store(&pool->leader, 0);
	if (b) {
		tpio_complete_flush(b);
		free(b);
	}
}

/* One more worker may run, whatever the concurrency value says. */
static void grant(struct _TP_POOL *pool)
{
	/* a place the meter took back and nobody gave yet stays */
	atomic_store(&pool->revokes, 0);
	atomic_fetch_add(&pool->grants, 1);
	__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	if (!tpio_pool_wake_one(pool))
		tpio_spawn(pool);
}

/* The meter's margin: a quarter of a CPU, in its unit (1/1000 CPU). */
#define METER_SLACK	250

/*
 * Work waits, and the meter's window ended (cpu_meter.c); V is the
 * concurrency value, cpu and wait the workers' sums in CPUs. A place more
 * while the value's worth of workers, active through the window, were
 * runnable (cpu + wait) less than V and left more than a quarter of a CPU
 * unused: their callbacks block, if for less than a tick at a time (the
 * tick rule below sees only callbacks that block for a whole tick), and
 * one more worker would find a CPU. A place back while the pool runs
 * above the value and its workers were runnable more than V + 0.75: the
 * places granted keep more callbacks runnable than the value's CPUs run
 * (callbacks that blocked no longer do, or other threads took the CPUs).
 * One change per window, so that each is measured before the next.
 */
static void meter_look(struct _TP_POOL *pool)
{
	struct tpio_meter_reading r;
	uint32_t v = pool->concurrency, running, back;

	if (!tpio_meter_tick(pool, &r))
		return;
	running = atomic_load(&pool->running);
	pool->mon_over = r.cpu + r.wait > v * 1000 + 3 * METER_SLACK;
	if (r.threads >= v && r.cpu + r.wait < v * 1000 &&
	    r.cpu + METER_SLACK < v * 1000 && !atomic_load(&pool->grants)) {
		atomic_fetch_add_explicit(&pool->meter_grants, 1,
					  memory_order_relaxed);
		grant(pool);
	} else if (pool->mon_over && running > v) {
		/* a place per CPU's worth runnable above the value */
		back = (r.cpu + r.wait - v * 1000) / 1000;
		back = back < 1 ? 1 : back > running - v ? running - v : back;
		atomic_fetch_add_explicit(&pool->meter_revokes, back,
					  memory_order_relaxed);
		/* grants not yet taken go first */
		while (back && tpio_take_one(&pool->grants))
			back--;
		atomic_store(&pool->revokes, back);
	}
}

/* One pool, one tick: 1 while it should stay watched. */
static int check_pool(struct _TP_POOL *pool, uint32_t starved)
{
	struct tpio_engine *e = atomic_load(&pool->eng);
	uint32_t cb = atomic_load(&pool->cb_begun);
	int unled = e && !atomic_load(&pool->leader) &&
		    (tpio_engine_cq_ready(e) || tpio_engine_unsubmitted(e));
	int waiting = unled || atomic_load(&pool->sched_count) ||
		      tpio_ring_nonempty(pool) || local_nonempty(pool);

	if (unled && starved)
		reap_unled(pool);	/* ops to free: no need to wait */
	if (!waiting) {
		tpio_meter_reset(pool);
		pool->mon_over = 0;
		pool->mon_hold = 0;
		pool->mon_cb = cb;
		pool->mon_armed = 1;
		/* a completion may come while nobody waits for it */
		return e && !atomic_load(&pool->leader) && tpio_engine_busy(e);
	}
	if (pool->mon_hold)
		pool->mon_hold--;
	if (!pool->kconc)
		meter_look(pool);
	/*
	 * The first look after the pool was quiet only counts what began:
	 * "nothing began for a whole tick" needs a tick between two looks.
	 */
	if (!pool->kconc && (!pool->mon_armed || cb != pool->mon_cb)) {
		pool->mon_cb = cb;	/* callbacks begin: not stuck */
		pool->mon_armed = 1;
		return 1;
	}
	/*
	 * Nothing began for a whole tick while work waited. With the
	 * kernel's counts no quiet tick is needed: work waits and they leave
	 * room (a counted callback is blocked now, even if callbacks keep
	 * beginning between its blocks), or they do not (callbacks that run,
	 * rather than block, the value's worth are left alone). The worker
	 * woken below takes its place by the same counts (no grant): the
	 * kernel releases a sleeper at a block only if that sleeper slept
	 * before the last post, so this tick is what catches the others.
	 */
	if (pool->kconc && !tpio_conc_room(pool)) {
		pool->mon_cb = cb;
		return 1;
	}
	tpio_local_spill(pool, NULL);
	if (unled)
		reap_unled(pool);
	if (pool->kconc) {
		__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
		if (!tpio_pool_wake_one(pool))
			tpio_spawn(pool);
	} else if (!pool->mon_hold) {
		/*
		 * The meter is taking places back: one of those is dropped
		 * instead (a place kept is a place given), else one more.
		 */
		if (!tpio_take_one(&pool->revokes)) {
			atomic_fetch_add_explicit(&pool->stall_grants, 1,
						  memory_order_relaxed);
			grant(pool);
		}
		/*
		 * The meter saw more callbacks runnable than the value: no
		 * callback began because they wait for CPUs, not because
		 * they block, and a worker more only adds to the queue. One
		 * change per window then, not per tick, so that its
		 * take-backs keep up; still one, for callbacks that spin
		 * waiting for the work that waits.
		 */
		if (pool->mon_over)
			pool->mon_hold = TPIO_METER_TICKS;
	}
	pool->mon_cb = cb;
	return 1;
}

/* The service's tick; 1 while some pool should stay watched. */
static int stall_tick(uint32_t starved)
{
	struct _TP_POOL *pool;
	int any = 0;

	pthread_mutex_lock(&mon_mu);
	tpio_list_for_each(pool, &mon_pools, mon_link) {
		if (!atomic_load(&pool->watch) && !starved)
			continue;
		/*
		 * Cleared before the look: a worker that asks again after
		 * it (tpio_pool_watch) is not lost, and one that asked
		 * before it queued its work where this look sees it.
		 */
		atomic_store(&pool->watch, 0);
		if (check_pool(pool, starved)) {
			atomic_store(&pool->watch, 1);
			any = 1;
		} else {
			pool->mon_armed = 0;
		}
	}
	pthread_mutex_unlock(&mon_mu);
	return any || starved;
}
