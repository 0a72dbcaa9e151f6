// SPDX-License-Identifier: MIT
/*
 * TP_WAIT: CreateThreadpoolWait, SetThreadpoolWait(Ex),
 * WaitForThreadpoolWaitCallbacks, CloseThreadpoolWait
 * (Documentation/contract.rst, "Waits"). A wait object is an engine object
 * of kind TPIO_OBJ_WAIT. Setting it registers it as a watcher of the
 * synchronisation object (handles_sync.c) and, with a timeout, arms the
 * engine's timer for it. Whichever comes first claims the wait by clearing
 * the armed bit of io->w_state (one compare-and-swap; the bits above it
 * count the settings, so a late claimant of an older setting fails) and
 * queues the callback as one completion entry of the pool's port, with
 * WAIT_OBJECT_0 or WAIT_TIMEOUT as its status.
 *
 * Setting, stopping and closing are serialised by waits_mu (they are rare
 * and short); the object's signal path and the timer thread never take it.
 * Lock order: waits_mu, then an object's mutex or the timer lock.
 */
#include <errno.h>
#include "api.h"

static pthread_mutex_t waits_mu = PTHREAD_MUTEX_INITIALIZER;

static VOID CALLBACK wait_tramp(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG status, ULONG_PTR bytes,
				PTP_IO io)
{
	(void)ov;
	(void)bytes;
	((PTP_WAIT_CALLBACK)io->ucb)(inst, ctx, (PTP_WAIT)io, status);
}

/* Clear the armed bit: 1 when this call claimed the current setting. */
static int claim(struct _TP_IO *io)
{
	uint32_t st = atomic_load(&io->w_state);

	while (st & 1)
		if (atomic_compare_exchange_weak(&io->w_state, &st, st & ~1U))
			return 1;
	return 0;
}

/* the object satisfied the wait (its mutex held, the claim made) */
static void wait_fire(struct _TP_IO *io, DWORD result)
{
	int ret = tpio_obj_post(io, result);

	if (ret)
		tpio_warn("thread-pool wait %p: callback not queued (%d)",
			  (void *)io, ret);
}

/* the timer thread: the timeout came; queue WAIT_TIMEOUT if it claims */
static int wait_expire(struct _TP_IO *io, DWORD *status)
{
	if (!claim(io))
		return 0;
	*status = WAIT_TIMEOUT;
	return 1;
}

/* waits_mu held: stop waiting; whether the wait was set */
static int wait_stop(struct _TP_IO *io)
{
	int was = claim(io);

	tpio_timer_disarm(io);
	tpio_watch_del(io);
	return was;
}

static void wait_shutdown(struct _TP_IO *io)
{
	pthread_mutex_lock(&waits_mu);
	wait_stop(io);
	pthread_mutex_unlock(&waits_mu);
}

static struct _TP_IO *wait_of(PTP_WAIT pwa, const char *fn)
{
	if (!tpio_obj_valid(pwa, TPIO_OBJ_WAIT)) {
		tpio_diag("%s(%p): not a live TP_WAIT", fn, (void *)pwa);
		return NULL;
	}
	return (struct _TP_IO *)pwa;
}

PTP_WAIT CreateThreadpoolWait(PTP_WAIT_CALLBACK pfnwa, PVOID pv,
			      PTP_CALLBACK_ENVIRON pcbe)
{
	static const struct tpio_obj_hooks hooks = {
		.shutdown = wait_shutdown,
		.t_expire = wait_expire,
	};

	return (PTP_WAIT)tpio_obj_create(TPIO_OBJ_WAIT, wait_tramp,
					 (void (*)(void))pfnwa, pv, pcbe,
					 &hooks);
}

static BOOL wait_set(PTP_WAIT pwa, HANDLE h, PFILETIME timeout,
		     const char *fn)
{
	struct _TP_IO *io = wait_of(pwa, fn);
	uint32_t st;
	int was, ret;

	if (!io)
		return FALSE;
	if (atomic_load_explicit(&io->closing, memory_order_relaxed)) {
		tpio_diag("%s(%p): object is closed", fn, (void *)pwa);
		return FALSE;
	}
	pthread_mutex_lock(&waits_mu);
	was = wait_stop(io);
	if (h) {
		/* a new setting: the next generation, armed */
		st = (atomic_load(&io->w_state) + 2) & ~1U;
		atomic_store(&io->w_state, st | 1);
		if (timeout && !timeout->dwLowDateTime && !timeout->dwHighDateTime) {
			/* a timeout of 0 times out at once, object unseen [D] */
			if (claim(io))
				wait_fire(io, WAIT_TIMEOUT);
		} else if (tpio_watch_add(h, io, wait_fire) < 0) {
			atomic_store(&io->w_state, st);
			tpio_diag("%s(%p, %p): not an event, semaphore or mutex of this library; ignored",
				  fn, (void *)pwa, h);
		} else if (timeout && (atomic_load(&io->w_state) & 1)) {
			ret = tpio_timer_arm(io, tpio_due_of(timeout), 0);
			if (ret < 0)
				tpio_warn("%s(%p): the timer thread cannot run (%d); no timeout",
					  fn, (void *)pwa, ret);
		}
	}
	pthread_mutex_unlock(&waits_mu);
	return was ? TRUE : FALSE;
}

VOID SetThreadpoolWait(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout)
{
	wait_set(pwa, h, pftTimeout, "SetThreadpoolWait");
}

BOOL SetThreadpoolWaitEx(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout,
			 PVOID Reserved)
{
	if (Reserved) {
		tpio_diag("SetThreadpoolWaitEx(%p): Reserved is not NULL",
			  (void *)pwa);
		return FALSE;
	}
	return wait_set(pwa, h, pftTimeout, "SetThreadpoolWaitEx");
}

VOID WaitForThreadpoolWaitCallbacks(PTP_WAIT pwa, BOOL fCancelPendingCallbacks)
{
	struct _TP_IO *io = wait_of(pwa, "WaitForThreadpoolWaitCallbacks");

	if (io)
		tpio_obj_wait(io, fCancelPendingCallbacks,
			      "WaitForThreadpoolWaitCallbacks");
}

VOID CloseThreadpoolWait(PTP_WAIT pwa)
{
	struct _TP_IO *io = wait_of(pwa, "CloseThreadpoolWait");

	if (!io)
		return;
	wait_shutdown(io);
	tpio_io_close_internal(io, 0);
}
