// SPDX-License-Identifier: MIT
/*
 * Callback instances. An instance lives on the worker's stack for one
 * callback; tpio_cur_instance names it on that thread only, so "the right
 * instance, on its own thread, during the callback" is one comparison.
 */
#include "api.h"

/*
 * After the callback and the finalization callback, in Windows' order: the
 * worker calls it through inst->on_return, which the functions below set.
 */
static void run_actions(struct _TP_CALLBACK_INSTANCE *inst)
{
	if (inst->cs)
		LeaveCriticalSection(inst->cs);
	if (inst->mutex && !ReleaseMutex(inst->mutex))
		tpio_diag("ReleaseMutexWhenCallbackReturns: ReleaseMutex failed (%u)",
			  GetLastError());
	if (inst->sem && !ReleaseSemaphore(inst->sem, (LONG)inst->sem_count, NULL))
		tpio_diag("ReleaseSemaphoreWhenCallbackReturns: ReleaseSemaphore failed (%u)",
			  GetLastError());
	if (inst->event && !SetEvent(inst->event))
		tpio_diag("SetEventWhenCallbackReturns: SetEvent failed (%u)",
			  GetLastError());
}

static struct _TP_CALLBACK_INSTANCE *current(PTP_CALLBACK_INSTANCE pci,
					     const char *fn)
{
	if (!pci || pci != tpio_cur_instance) {
		tpio_diag("%s(%p): not the current callback instance of this thread",
			  fn, (void *)pci);
		return NULL;
	}
	return pci;
}

BOOL CallbackMayRunLong(PTP_CALLBACK_INSTANCE pci)
{
	struct _TP_CALLBACK_INSTANCE *inst = current(pci, "CallbackMayRunLong");

	if (!inst)
		return FALSE;
	/*
	 * [T] Marked already (a second call, or a RunsLong environment): the
	 * pool took this callback as long-running when it was marked, so the
	 * answer is TRUE, as Wine's (Documentation/contract.rst).
	 */
	if (inst->may_run_long)
		return TRUE;
	inst->may_run_long = 1;
	return tpio_pool_may_run_long(inst->pool);
}

VOID DisassociateCurrentThreadFromCallback(PTP_CALLBACK_INSTANCE pci)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "DisassociateCurrentThreadFromCallback");

	if (!inst || !inst->associated)
		return;
	inst->associated = 0;
	tpio_io_disassociate(inst->io);
}

VOID SetEventWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE evt)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "SetEventWhenCallbackReturns");

	if (inst && !inst->event) {
		inst->event = evt;
		inst->on_return = run_actions;
	}
}

VOID ReleaseSemaphoreWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					 HANDLE sem, DWORD crel)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "ReleaseSemaphoreWhenCallbackReturns");

	if (inst && !inst->sem) {
		inst->sem = sem;
		inst->sem_count = crel;
		inst->on_return = run_actions;
	}
}

VOID ReleaseMutexWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE mut)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "ReleaseMutexWhenCallbackReturns");

	if (inst && !inst->mutex) {
		inst->mutex = mut;
		inst->on_return = run_actions;
	}
}

VOID LeaveCriticalSectionWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					     PCRITICAL_SECTION pcs)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "LeaveCriticalSectionWhenCallbackReturns");

	if (inst && !inst->cs) {
		inst->cs = pcs;
		inst->on_return = run_actions;
	}
}
