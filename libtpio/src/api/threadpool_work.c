// SPDX-License-Identifier: MIT
/*
 * TP_WORK: CreateThreadpoolWork, SubmitThreadpoolWork,
 * WaitForThreadpoolWorkCallbacks, CloseThreadpoolWork, and
 * TrySubmitThreadpoolCallback (Documentation/contract.rst, "Work
 * items"). A work object is an engine object of kind TPIO_OBJ_WORK; a
 * submission is one completion entry of its pool's port
 * (threadpool_obj.c).
 */
#include <errno.h>
#include "api.h"

static VOID CALLBACK work_tramp(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG status, ULONG_PTR bytes,
				PTP_IO io)
{
	(void)ov;
	(void)status;
	(void)bytes;
	((PTP_WORK_CALLBACK)io->ucb)(inst, ctx, (PTP_WORK)io);
}

static VOID CALLBACK simple_tramp(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				  PVOID ov, ULONG status, ULONG_PTR bytes,
				  PTP_IO io)
{
	(void)ov;
	(void)status;
	(void)bytes;
	((PTP_SIMPLE_CALLBACK)io->ucb)(inst, ctx);
}

/* the live work object @pwk, or NULL (diagnostic with TPIO_DEBUG=1) */
static struct _TP_IO *work_of(PTP_WORK pwk, const char *fn)
{
	if (!tpio_obj_valid(pwk, TPIO_OBJ_WORK)) {
		tpio_diag("%s(%p): not a live TP_WORK", fn, (void *)pwk);
		return NULL;
	}
	return (struct _TP_IO *)pwk;
}

PTP_WORK CreateThreadpoolWork(PTP_WORK_CALLBACK pfnwk, PVOID pv,
			      PTP_CALLBACK_ENVIRON pcbe)
{
	return (PTP_WORK)tpio_obj_create(TPIO_OBJ_WORK, work_tramp,
					 (void (*)(void))pfnwk, pv, pcbe, NULL);
}

VOID SubmitThreadpoolWork(PTP_WORK pwk)
{
	struct _TP_IO *io = work_of(pwk, "SubmitThreadpoolWork");
	int ret;

	if (!io)
		return;
	if (atomic_load_explicit(&io->closing, memory_order_relaxed)) {
		tpio_diag("SubmitThreadpoolWork(%p): object is closed",
			  (void *)pwk);
		return;
	}
	ret = tpio_obj_post(io, 0);
	if (ret)
		tpio_warn("SubmitThreadpoolWork(%p): not submitted (%d)",
			  (void *)pwk, ret);
}

VOID WaitForThreadpoolWorkCallbacks(PTP_WORK pwk, BOOL fCancelPendingCallbacks)
{
	struct _TP_IO *io = work_of(pwk, "WaitForThreadpoolWorkCallbacks");

	if (io)
		tpio_obj_wait(io, fCancelPendingCallbacks,
			      "WaitForThreadpoolWorkCallbacks");
}

VOID CloseThreadpoolWork(PTP_WORK pwk)
{
	struct _TP_IO *io = work_of(pwk, "CloseThreadpoolWork");

	if (io)
		tpio_io_close_internal(io, 0);
}

/*
 * A one-shot object: created, submitted and closed at once, so that it is
 * freed after its callback (or when a group release cancels it).
 */
BOOL TrySubmitThreadpoolCallback(PTP_SIMPLE_CALLBACK pfns, PVOID pv,
				 PTP_CALLBACK_ENVIRON pcbe)
{
	struct _TP_IO *io = tpio_obj_create(TPIO_OBJ_SIMPLE, simple_tramp,
					    (void (*)(void))pfns, pv, pcbe, NULL);
	int ret;

	if (!io)
		return FALSE;
	ret = tpio_obj_post(io, 0);
	tpio_io_close_internal(io, 1);
	if (ret) {
		SetLastError(ret == -EBUSY ? ERROR_TOO_MANY_POSTS :
			     tpio_win32_from_errno(-ret));
		return FALSE;
	}
	return TRUE;
}
