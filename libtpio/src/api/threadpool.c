// SPDX-License-Identifier: MIT
/*
 * The pool functions: CreateThreadpool, CloseThreadpool,
 * SetThreadpoolThreadMaximum/Minimum, and the library's tpio_backend and
 * tpio_pool_thread_count. The pools themselves are the engine's
 * (engine/pool.c, engine/worker.c).
 */
#include <errno.h>
#include <time.h>
#include "api.h"

const char *tpio_backend(void)
{
	const struct tpio_transport *t = tpio_transport_get();

	return t ? t->name : NULL;
}

PTP_POOL CreateThreadpool(PVOID reserved)
{
	struct _TP_POOL *pool;
	int ret;

	if (reserved) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	ret = tpio_pool_create(0, &pool);
	if (ret) {
		SetLastError(tpio_pool_error(ret));
		return NULL;
	}
	return pool;
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
		tpio_pool_wake_all(ptpp, n);
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
	if (cthrdMost > TPIO_POOL_THREADS_CAP)
		cthrdMost = TPIO_POOL_THREADS_CAP;
	pthread_mutex_lock(&ptpp->mu);
	ptpp->max_threads = cthrdMost;
	if (ptpp->min_threads > cthrdMost)
		ptpp->min_threads = cthrdMost;
	pthread_mutex_unlock(&ptpp->mu);
}

BOOL SetThreadpoolThreadMinimum(PTP_POOL ptpp, DWORD cthrdMic)
{
	if (!tpio_pool_valid(ptpp) || cthrdMic > TPIO_POOL_THREADS_CAP) {
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

	if (!pool && tpio_default_pool(&pool))
		return 0;
	if (!tpio_pool_valid(pool))
		return 0;
	pthread_mutex_lock(&pool->mu);
	n = pool->threads;
	pthread_mutex_unlock(&pool->mu);
	return n;
}
