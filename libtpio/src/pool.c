// SPDX-License-Identifier: MIT
/*
 * Pools: the backend, pool objects and their thread counts. The workers
 * themselves are in worker.c, the shared scheduler in sched.c.
 *
 * Locking: pool->mu protects the scheduler (slots[], rr[], the entry free
 * list), the worker list and counts, and the pool's state; the counters
 * that the hot paths read without it are atomics (internal.h). Lock
 * order: pool->mu, then the transport's port lock.
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

const char *tpio_backend(void)
{
	const struct tpio_transport *t = tpio_transport_get();

	return t ? t->name : NULL;
}

/* ---- workers: starting one ---- */

static int start_thread(struct _TP_POOL *pool, struct tpio_worker *w)
{
	pthread_attr_t a;
	pthread_t th;
	int ret;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, tpio_worker_main, w);
	pthread_attr_destroy(&a);
	if (ret)
		tpio_warn("cannot create a worker thread: %s", strerror(ret));
	(void)pool;
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
	w->next = pool->workers;
	if (w->next)
		w->next->prev = w;
	pool->workers = w;
	/* atomic stores: post.c reads the count without the lock */
	__atomic_store_n(&pool->threads, pool->threads + 1, __ATOMIC_RELAXED);
	return w;
}

/* pool->mu held: @w leaves the pool's list and count. */
void tpio_worker_unlink(struct _TP_POOL *pool, struct tpio_worker *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		pool->workers = w->next;
	if (w->next)
		w->next->prev = w->prev;
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
 * (one is started when none is idle, as Windows does).
 */
BOOL tpio_pool_may_run_long(struct _TP_POOL *pool)
{
	uint32_t running = atomic_load(&pool->running);
	BOOL idle, room;

	pthread_mutex_lock(&pool->mu);
	idle = pool->threads > running;
	room = pool->threads < pool->max_threads && !pool->stopping;
	pthread_mutex_unlock(&pool->mu);
	if (!idle && room)
		tpio_spawn(pool);
	return idle || room;
}

/* ---- pool objects ---- */

static struct _TP_POOL *pool_create(int is_default)
{
	const struct tpio_transport *t = tpio_transport_get();
	const struct tpio_config *cfg = tpio_config();
	struct _TP_POOL *pool;
	pthread_condattr_t ca;
	uint32_t i, entries, objects;
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
	pool->port.t = t;
	tpio_config_port(&entries, &objects);
	ret = t->setup(&pool->port, entries, objects);
	if (ret) {
		tpio_warn("%s port setup failed: %s", t->name, strerror(-ret));
		free(pool);
		/* the module's per-user memory budget (max_user_mib) is spent */
		SetLastError(ret == -EDQUOT ? ERROR_NOT_ENOUGH_QUOTA :
			     tpio_win32_from_errno(-ret));
		return NULL;
	}
	pool->slots = calloc(objects, sizeof(*pool->slots));
	if (!pool->slots) {
		t->destroy(&pool->port);
		free(pool);
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	for (i = 0; i < TP_CALLBACK_PRIORITY_COUNT; i++)
		pool->rr[i].head = pool->rr[i].tail = -1;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_mutex_init(&pool->eng_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->exit_cv, &ca);
	pthread_condattr_destroy(&ca);
	pool->max_threads = POOL_DEFAULT_MAX;
	pool->concurrency = cfg->concurrency;
	pool->first_prio = -1;
	pool->is_default = is_default;
	pool->magic = POOL_MAGIC;
	tpio_stall_register(pool);
	tpio_stats_register(pool);
	return pool;
}

/* No worker runs and no object is left: free everything. */
void tpio_pool_destroy(struct _TP_POOL *pool)
{
	struct tpio_engine *e = atomic_load(&pool->eng);

	tpio_stall_unregister(pool);
	tpio_stats_unregister(pool);
	pool->magic = 0;
	if (e)
		tpio_engine_destroy(e);
	tpio_sched_free(pool);
	free(pool->slots);
	pool->port.t->destroy(&pool->port);
	pthread_cond_destroy(&pool->exit_cv);
	pthread_mutex_destroy(&pool->eng_mu);
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
static void wake_all(struct _TP_POOL *pool, uint32_t n)
{
	struct tpio_engine *e = atomic_load(&pool->eng);

	__atomic_fetch_add(pool->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	if (n)
		pool->port.t->wake_workers(&pool->port, n);
	if (e)
		tpio_engine_doorbell(e);
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
		tpio_pool_destroy(pool);
	else
		wake_all(pool, n);
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
	__atomic_store_n(&ptpp->stopping, 1, __ATOMIC_SEQ_CST);
	while (ptpp->threads) {
		uint32_t n = ptpp->threads;

		pthread_mutex_unlock(&ptpp->mu);
		/* repeated: a worker may not have reached its sleep yet */
		wake_all(ptpp, n);
		pthread_mutex_lock(&ptpp->mu);
		at = tpio_now_ns() + 10000000ULL;
		ts.tv_sec = at / 1000000000ULL;
		ts.tv_nsec = at % 1000000000ULL;
		if (ptpp->threads)
			pthread_cond_timedwait(&ptpp->exit_cv, &ptpp->mu, &ts);
	}
	pthread_mutex_unlock(&ptpp->mu);
	tpio_pool_destroy(ptpp);
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
	if (!tpio_pool_valid(ptpp) || cthrdMic > POOL_THREADS_CAP) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	pthread_mutex_lock(&ptpp->mu);
	ptpp->min_threads = cthrdMic;
	if (ptpp->max_threads < cthrdMic)
		ptpp->max_threads = cthrdMic;
	pthread_mutex_unlock(&ptpp->mu);
	for (;;) {
		uint32_t have;

		pthread_mutex_lock(&ptpp->mu);
		have = ptpp->threads;
		pthread_mutex_unlock(&ptpp->mu);
		if (have >= cthrdMic)
			return TRUE;
		if (!tpio_spawn(ptpp)) {
			SetLastError(ERROR_NOT_ENOUGH_MEMORY);
			return FALSE;
		}
	}
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
