// SPDX-License-Identifier: MIT
/*
 * Pools and their workers.
 *
 * One port per pool. Workers take entries from the port's ring (CAS on
 * head, the shared consumer protocol), move them into per-object FIFO
 * queues kept on per-priority round-robin lists, and pick the next entry
 * to run from the highest priority. An entry stays "queued" in its
 * object's state word until tpio_w_begin at pick time, so a cancel still
 * drops it (begin fails on a stale epoch).
 *
 * Locking: pool->mu protects the scheduler (slots[], rr[], sched_count,
 * the entry free list) and the worker counts. Lock order: pool->mu, then
 * the transport's port lock.
 *
 * Waking: idle workers sleep in the transport's worker_wait (the kernel's
 * LIFO sleeper list for kmod). A worker that leaves entries in the
 * scheduler for other workers wakes them with a *kick*: a completion posted
 * to the pool's private kick object. A kick sits in the ring until it is
 * taken, so a worker that was about to sleep does not sleep past it (a
 * plain wake-up would be lost if that worker had not reached its sleep yet).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

#define POOL_MAGIC		0x4c4f4f50U
#define POOL_DEFAULT_MAX	500
#define POOL_THREADS_CAP	TPIO_W_MAX(RUNNING)	/* 1023 */

/* ---- backend selection ---- */

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;
static const struct tpio_transport *backend;

static void backend_select(void)
{
	const char *want = getenv("TPIO_BACKEND");
	char why[256];

	if (!want || !*want || !strcmp(want, "auto")) {
		backend = tpio_kmod_probe(why, sizeof(why)) ?
			  &tpio_transport_user : &tpio_transport_kmod;
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

const char *tpio_backend(void)
{
	const struct tpio_transport *t = tpio_transport_get();

	return t ? t->name : NULL;
}

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo,
			uint32_t hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 0);
	if (*end || v < lo || v > hi) {
		tpio_warn("%s=%s out of range %u..%u, using %u", name, s, lo, hi,
			  def);
		return def;
	}
	return (uint32_t)v;
}

/* ---- workers ---- */

struct spawn_plan {
	uint32_t kicks;
	uint32_t spawn;
};

/*
 * After a pull (and maybe a pick): wake idle workers for entries left in
 * the scheduler, and keep one spare worker for new arrivals. pool->mu held.
 */
static void plan_wakeups(struct _TP_POOL *pool, struct spawn_plan *plan)
{
	uint32_t left = pool->sched_count;

	plan->kicks = 0;
	plan->spawn = 0;
	if (pool->stopping)
		return;
	if (left && pool->idle > pool->kicks_pending) {
		plan->kicks = pool->idle - pool->kicks_pending;
		if (plan->kicks > left)
			plan->kicks = left;
		pool->kicks_pending += plan->kicks;
	}
	if (pool->idle <= pool->kicks_pending &&
	    pool->threads < pool->max_threads) {
		/* a new worker counts as idle until it first takes pool->mu */
		pool->threads++;
		pool->idle++;
		plan->spawn = 1;
	}
}

static void *worker_main(void *arg);

static void kick(struct _TP_POOL *pool, uint32_t n)
{
	struct tpio_completion c[16];
	__u64 *word = &pool->port.r.words[pool->kick_slot];
	uint32_t i, done = 0;
	int ret;

	if (n > 16)
		n = 16;
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		c[i].io = pool->kick_io;
		__atomic_add_fetch(word, TPIO_W_ONE(PENDING), __ATOMIC_SEQ_CST);
	}
	ret = pool->port.t->post(&pool->port, c, n, &done);
	if (ret && ret != -EAGAIN)
		tpio_warn("kick POST failed: %s", strerror(-ret));
	if (done < n) {
		/* the ring is full: sleepers do not sleep; take the starts back */
		__u64 w = tpio_word_load(word), next;

		for (i = done; i < n; i++) {
			do {
				if (!tpio_w_cancel(w, &next))
					break;
			} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
		}
		pthread_mutex_lock(&pool->mu);
		pool->kicks_pending -= n - done < pool->kicks_pending ?
				       n - done : pool->kicks_pending;
		pthread_mutex_unlock(&pool->mu);
	}
}

static int spawn(struct _TP_POOL *pool)
{
	pthread_attr_t a;
	pthread_t th;
	int ret;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, worker_main, pool);
	pthread_attr_destroy(&a);
	if (ret) {
		pthread_mutex_lock(&pool->mu);
		pool->threads--;
		pool->idle--;
		pthread_cond_broadcast(&pool->exit_cv);
		pthread_mutex_unlock(&pool->mu);
		tpio_warn("cannot create a worker thread: %s", strerror(ret));
	}
	return ret;
}

static void carry_out(struct _TP_POOL *pool, struct spawn_plan *plan)
{
	if (plan->kicks)
		kick(pool, plan->kicks);
	if (plan->spawn)
		spawn(pool);
}

static void run_callback(struct _TP_POOL *pool, const struct tpio_cqe *c,
			 int *persistent)
{
	struct _TP_IO *io = (struct _TP_IO *)(uintptr_t)c->cookie;
	struct _TP_CALLBACK_INSTANCE inst;

	memset(&inst, 0, sizeof(inst));
	inst.io = io;
	inst.pool = pool;
	inst.associated = 1;
	inst.may_run_long = io->long_function;
	if (io->persistent)
		*persistent = 1;
	tpio_cur_instance = &inst;
	io->cb(&inst, io->ctx, (PVOID)(uintptr_t)c->overlapped, c->status,
	       (ULONG_PTR)c->information, io);
	if (io->finalization)
		io->finalization(&inst, io->ctx);
	tpio_cur_instance = NULL;
	tpio_run_instance_actions(&inst);
	tpio_io_end(io, inst.associated);
}

static uint32_t idle_timeout_ms(void)
{
	static uint32_t ms;

	if (!ms)
		ms = env_u32("TPIO_IDLE_TIMEOUT_MS", 10000, 1, 3600000);
	return ms;
}

static uint32_t spin_us(void)
{
	static uint32_t us = UINT32_MAX;

	if (us == UINT32_MAX)
		us = env_u32("TPIO_SPIN_US", 20, 0, 1000);
	return us;
}

static int ring_nonempty(struct _TP_POOL *pool);

/*
 * Before sleeping, watch the ring for a while (TPIO_SPIN_US, default
 * 20 µs; 0 sleeps at once): a completion that comes soon then costs no
 * sleep and no wake-up. The budget is time, not iterations, because a
 * pause instruction costs from a few to over a hundred cycles depending on
 * the CPU. (Yielding inside the spin helps a producer that shares this
 * CPU, but made the cold wake-up placement worse: see
 * Documentation/performance.md.)
 */
static void spin_for_work(struct _TP_POOL *pool)
{
	__u64 end = tpio_now_ns() + (__u64)spin_us() * 1000;
	unsigned int i;

	for (i = 1; !ring_nonempty(pool); i++) {
		tpio_cpu_relax();
		if (!(i % 64) && tpio_now_ns() >= end)
			return;
	}
}

static int ring_nonempty(struct _TP_POOL *pool)
{
	struct tpio_ring_view *r = &pool->port.r;

	return __atomic_load_n(r->head, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(r->tail, __ATOMIC_ACQUIRE) ||
	       (__atomic_load_n(r->flags, __ATOMIC_ACQUIRE) &
		TPIO_RING_F_OVERFLOW);
}

static void pool_destroy(struct _TP_POOL *pool);

static void *worker_main(void *arg)
{
	struct _TP_POOL *pool = arg;
	struct spawn_plan plan;
	struct tpio_cqe c;
	int persistent = 0, timed_out = 0, last;
	uint32_t keep;

	pthread_mutex_lock(&pool->mu);
	pool->idle--;
	for (;;) {
		tpio_pull_ring(pool);
		if (pool->stopping)
			break;
		if (pool->threads > pool->max_threads && !persistent)
			break;
		if (tpio_pick(pool, &c)) {
			timed_out = 0;
			plan_wakeups(pool, &plan);
			pthread_mutex_unlock(&pool->mu);
			carry_out(pool, &plan);
			run_callback(pool, &c, &persistent);
			pthread_mutex_lock(&pool->mu);
			continue;
		}
		keep = pool->min_threads > 1 ? pool->min_threads : 1;
		if (timed_out && pool->threads > keep && !persistent)
			break;
		pool->idle++;
		pthread_mutex_unlock(&pool->mu);

		spin_for_work(pool);
		timed_out = 0;
		if (!ring_nonempty(pool))
			timed_out = pool->port.t->worker_wait(&pool->port,
				tpio_now_ns() + idle_timeout_ms() * 1000000ULL) ==
				-ETIMEDOUT;
		pthread_mutex_lock(&pool->mu);
		pool->idle--;
	}
	pool->threads--;
	last = !pool->threads;
	pthread_cond_broadcast(&pool->exit_cv);
	/* a deferred CloseThreadpool: the last worker frees the pool */
	if (last && pool->stopping == 2) {
		pthread_mutex_unlock(&pool->mu);
		pool_destroy(pool);
		return NULL;
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

/* Post-EAGAIN help: empty the ring into the scheduler and wake workers. */
void tpio_pool_make_progress(struct _TP_POOL *pool)
{
	struct spawn_plan plan;

	pthread_mutex_lock(&pool->mu);
	tpio_pull_ring(pool);
	plan_wakeups(pool, &plan);
	pthread_mutex_unlock(&pool->mu);
	carry_out(pool, &plan);
}

BOOL tpio_pool_may_run_long(struct _TP_POOL *pool)
{
	struct spawn_plan plan = { 0, 0 };
	BOOL ok;

	pthread_mutex_lock(&pool->mu);
	ok = pool->idle > pool->kicks_pending ||
	     pool->threads < pool->max_threads;
	if (pool->idle <= pool->kicks_pending &&
	    pool->threads < pool->max_threads && !pool->stopping) {
		pool->threads++;
		pool->idle++;
		plan.spawn = 1;
	}
	pthread_mutex_unlock(&pool->mu);
	carry_out(pool, &plan);
	return ok;
}

/* ---- pool objects ---- */

static struct _TP_POOL *pool_create(int is_default)
{
	const struct tpio_transport *t = tpio_transport_get();
	struct _TP_POOL *pool;
	pthread_condattr_t ca;
	uint32_t ring, objs, i;
	int ret;

	if (!t) {
		SetLastError(ERROR_NOT_SUPPORTED);
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	ring = env_u32("TPIO_RING_ENTRIES", 1024, TPIO_RING_MIN, TPIO_RING_MAX);
	if (ring & (ring - 1)) {
		tpio_warn("TPIO_RING_ENTRIES=%u is not a power of two, using 1024",
			  ring);
		ring = 1024;
	}
	objs = env_u32("TPIO_MAX_OBJECTS", 16384, 2, TPIO_OBJECTS_MAX);
	pool->port.t = t;
	ret = t->setup(&pool->port, ring, objs);
	if (ret) {
		tpio_warn("%s port setup failed: %s", t->name, strerror(-ret));
		free(pool);
		/* the module's per-user memory budget (max_user_mib) is spent */
		SetLastError(ret == -EDQUOT ? ERROR_NOT_ENOUGH_QUOTA :
			     tpio_win32_from_errno(-ret));
		return NULL;
	}
	pool->slots = calloc(objs, sizeof(*pool->slots));
	ret = pool->slots ? t->io_create(&pool->port, 0, &pool->kick_io) : -ENOMEM;
	if (ret) {
		free(pool->slots);
		t->destroy(&pool->port);
		free(pool);
		SetLastError(tpio_win32_from_errno(-ret));
		return NULL;
	}
	pool->kick_slot = TPIO_IO_SLOT(pool->kick_io);
	for (i = 0; i < TP_CALLBACK_PRIORITY_COUNT; i++)
		pool->rr[i].head = pool->rr[i].tail = -1;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->exit_cv, &ca);
	pthread_condattr_destroy(&ca);
	pool->max_threads = POOL_DEFAULT_MAX;
	pool->is_default = is_default;
	pool->magic = POOL_MAGIC;
	return pool;
}

static void pool_destroy(struct _TP_POOL *pool)
{
	struct tpio_entry *e;
	uint32_t i;

	/*
	 * Engine operations still in flight must not post to a freed port.
	 * Weak: a static program that issues no I/O links no engine (and no
	 * liburing), and then has nothing to forget.
	 */
	if (tpio_engine_forget_pool)
		tpio_engine_forget_pool(pool);
	pool->magic = 0;
	for (i = 0; i < pool->port.r.max_objects; i++) {
		while ((e = pool->slots[i].head)) {
			pool->slots[i].head = e->next;
			free(e);
		}
	}
	while ((e = pool->free_entries)) {
		pool->free_entries = e->next;
		free(e);
	}
	free(pool->slots);
	pool->port.t->destroy(&pool->port);
	pthread_cond_destroy(&pool->exit_cv);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct _TP_POOL *default_pool;
static DWORD default_error;

static void default_create(void)
{
	default_pool = pool_create(1);
	if (!default_pool)
		default_error = GetLastError();
}

struct _TP_POOL *tpio_default_pool(void)
{
	pthread_once(&default_once, default_create);
	if (!default_pool)
		SetLastError(default_error);
	return default_pool;
}

int tpio_pool_valid(PTP_POOL p)
{
	return p && p->magic == POOL_MAGIC;
}

int tpio_pool_add_io(struct _TP_POOL *pool, struct _TP_IO *io)
{
	struct spawn_plan plan = { 0, 0 };

	pthread_mutex_lock(&pool->mu);
	if (pool->stopping || pool->close_deferred) {
		pthread_mutex_unlock(&pool->mu);
		return -EINVAL;
	}
	pool->io_count++;
	pool->slots[io->slot].prio = (uint8_t)io->prio;
	if (!pool->threads) {
		pool->threads++;
		pool->idle++;
		plan.spawn = 1;
	}
	pthread_mutex_unlock(&pool->mu);
	carry_out(pool, &plan);
	return 0;
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
	pool->stopping = 2;
	n = pool->threads;
	destroy = !n;
	pthread_mutex_unlock(&pool->mu);
	if (destroy)
		pool_destroy(pool);
	else
		pool->port.t->wake_workers(&pool->port, n);
}

PTP_POOL CreateThreadpool(PVOID reserved)
{
	if (reserved) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	return pool_create(0);
}

/*
 * stopping: 0 running; 1 the closer waits for the workers and frees the
 * pool itself; 2 (a close deferred by close_deferred until the last
 * object is freed) the last worker to exit frees the pool.
 */
VOID CloseThreadpool(PTP_POOL ptpp)
{
	struct timespec ts;
	__u64 at;

	if (!tpio_pool_valid(ptpp) || ptpp->is_default || ptpp->stopping ||
	    ptpp->close_deferred) {
		tpio_diag("CloseThreadpool(%p): not an open private pool",
			  (void *)ptpp);
		return;
	}
	pthread_mutex_lock(&ptpp->mu);
	if (ptpp->io_count) {
		ptpp->close_deferred = 1;
		pthread_mutex_unlock(&ptpp->mu);
		return;
	}
	ptpp->stopping = 1;
	while (ptpp->threads) {
		uint32_t n = ptpp->threads;

		pthread_mutex_unlock(&ptpp->mu);
		/* repeated: a worker may not have reached its sleep yet */
		ptpp->port.t->wake_workers(&ptpp->port, n);
		pthread_mutex_lock(&ptpp->mu);
		at = tpio_now_ns() + 10000000ULL;
		ts.tv_sec = at / 1000000000ULL;
		ts.tv_nsec = at % 1000000000ULL;
		if (ptpp->threads)
			pthread_cond_timedwait(&ptpp->exit_cv, &ptpp->mu, &ts);
	}
	pthread_mutex_unlock(&ptpp->mu);
	pool_destroy(ptpp);
}

VOID SetThreadpoolThreadMaximum(PTP_POOL ptpp, DWORD cthrdMost)
{
	if (!tpio_pool_valid(ptpp)) {
		tpio_diag("SetThreadpoolThreadMaximum(%p): not a pool",
			  (void *)ptpp);
		return;
	}
	if (!cthrdMost)
		cthrdMost = 1;
	if (cthrdMost > POOL_THREADS_CAP)
		cthrdMost = POOL_THREADS_CAP;
	pthread_mutex_lock(&ptpp->mu);
	ptpp->max_threads = cthrdMost;
	if (ptpp->min_threads > cthrdMost)
		ptpp->min_threads = cthrdMost;
	pthread_mutex_unlock(&ptpp->mu);
}

BOOL SetThreadpoolThreadMinimum(PTP_POOL ptpp, DWORD cthrdMic)
{
	uint32_t n = 0;

	if (!tpio_pool_valid(ptpp) || cthrdMic > POOL_THREADS_CAP) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	pthread_mutex_lock(&ptpp->mu);
	ptpp->min_threads = cthrdMic;
	if (ptpp->max_threads < cthrdMic)
		ptpp->max_threads = cthrdMic;
	if (ptpp->threads < cthrdMic) {
		n = cthrdMic - ptpp->threads;
		ptpp->threads += n;
		ptpp->idle += n;
	}
	pthread_mutex_unlock(&ptpp->mu);
	while (n--) {
		if (spawn(ptpp)) {
			pthread_mutex_lock(&ptpp->mu);
			ptpp->threads -= n;
			ptpp->idle -= n;
			pthread_mutex_unlock(&ptpp->mu);
			SetLastError(ERROR_NOT_ENOUGH_MEMORY);
			return FALSE;
		}
	}
	return TRUE;
}

DWORD tpio_pool_thread_count(PTP_POOL pool)
{
	DWORD n;

	if (!pool)
		pool = tpio_default_pool();
	if (!tpio_pool_valid(pool))
		return 0;
	pthread_mutex_lock(&pool->mu);
	n = pool->threads;
	pthread_mutex_unlock(&pool->mu);
	return n;
}
