// SPDX-License-Identifier: MIT
/*
 * TP_TIMER: CreateThreadpoolTimer, SetThreadpoolTimer(Ex),
 * IsThreadpoolTimerSet, WaitForThreadpoolTimerCallbacks,
 * CloseThreadpoolTimer (Documentation/contract.rst, "Timers"). A timer is
 * an engine object of kind TPIO_OBJ_TIMER; the engine's timer thread
 * (engine/timer.c) turns each expiry into one completion entry of the
 * timer's pool port. This file turns FILETIMEs into CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <time.h>
#include "api.h"

/* FILETIME of 1970-01-01 UTC: 100 ns units since 1601-01-01 */
#define FT_UNIX_EPOCH	116444736000000000LL

static VOID CALLBACK timer_tramp(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				 PVOID ov, ULONG status, ULONG_PTR bytes,
				 PTP_IO io)
{
	(void)ov;
	(void)status;
	(void)bytes;
	((PTP_TIMER_CALLBACK)io->ucb)(inst, ctx, (PTP_TIMER)io);
}

/* closing the timer or releasing its group: no expiry after this */
static void timer_shutdown(struct _TP_IO *io)
{
	tpio_timer_disarm(io);
}

static struct _TP_IO *timer_of(PTP_TIMER pti, const char *fn)
{
	if (!tpio_obj_valid(pti, TPIO_OBJ_TIMER)) {
		tpio_diag("%s(%p): not a live TP_TIMER", fn, (void *)pti);
		return NULL;
	}
	return (struct _TP_IO *)pti;
}

PTP_TIMER CreateThreadpoolTimer(PTP_TIMER_CALLBACK pfnti, PVOID pv,
				PTP_CALLBACK_ENVIRON pcbe)
{
	static const struct tpio_obj_hooks hooks = {
		.shutdown = timer_shutdown,
	};

	return (PTP_TIMER)tpio_obj_create(TPIO_OBJ_TIMER, timer_tramp,
					  (void (*)(void))pfnti, pv, pcbe,
					  &hooks);
}

/* the CLOCK_MONOTONIC time of FILETIME @ft (absolute, or negative: relative) */
__u64 tpio_due_of(const FILETIME *ft)
{
	int64_t v = (int64_t)(((uint64_t)ft->dwHighDateTime << 32) |
			      ft->dwLowDateTime);
	__u64 now = tpio_now_ns();
	struct timespec rt;
	int64_t ft_now;

	if (v < 0)
		return now + (__u64)(-(v + 1) + 1) * 100;
	clock_gettime(CLOCK_REALTIME, &rt);
	ft_now = FT_UNIX_EPOCH + (int64_t)rt.tv_sec * 10000000LL +
		 rt.tv_nsec / 100;
	return v <= ft_now ? now : now + (__u64)(v - ft_now) * 100;
}

static BOOL timer_set(PTP_TIMER pti, PFILETIME due, DWORD period,
		      const char *fn)
{
	struct _TP_IO *io = timer_of(pti, fn);
	int ret;

	if (!io)
		return FALSE;
	if (atomic_load_explicit(&io->closing, memory_order_relaxed)) {
		tpio_diag("%s(%p): object is closed", fn, (void *)pti);
		return FALSE;
	}
	if (!due)
		return tpio_timer_disarm(io) ? TRUE : FALSE;
	ret = tpio_timer_arm(io, tpio_due_of(due), period);
	if (ret < 0) {
		tpio_warn("%s(%p): the timer thread cannot run (%d)", fn,
			  (void *)pti, ret);
		return FALSE;
	}
	return ret ? TRUE : FALSE;
}

VOID SetThreadpoolTimer(PTP_TIMER pti, PFILETIME pftDueTime, DWORD msPeriod,
			DWORD msWindowLength)
{
	(void)msWindowLength;
	timer_set(pti, pftDueTime, msPeriod, "SetThreadpoolTimer");
}

BOOL SetThreadpoolTimerEx(PTP_TIMER pti, PFILETIME pftDueTime, DWORD msPeriod,
			  DWORD msWindowLength)
{
	(void)msWindowLength;
	return timer_set(pti, pftDueTime, msPeriod, "SetThreadpoolTimerEx");
}

BOOL IsThreadpoolTimerSet(PTP_TIMER pti)
{
	struct _TP_IO *io = timer_of(pti, "IsThreadpoolTimerSet");

	return io && tpio_timer_is_set(io) ? TRUE : FALSE;
}

VOID WaitForThreadpoolTimerCallbacks(PTP_TIMER pti,
				     BOOL fCancelPendingCallbacks)
{
	struct _TP_IO *io = timer_of(pti, "WaitForThreadpoolTimerCallbacks");

	if (io)
		tpio_obj_wait(io, fCancelPendingCallbacks,
			      "WaitForThreadpoolTimerCallbacks");
}

VOID CloseThreadpoolTimer(PTP_TIMER pti)
{
	struct _TP_IO *io = timer_of(pti, "CloseThreadpoolTimer");

	if (!io)
		return;
	tpio_timer_disarm(io);
	tpio_io_close_internal(io, 0);
}
