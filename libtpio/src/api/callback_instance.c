// SPDX-License-Identifier: MIT
/*
 * Callback instances. An instance lives on the worker's stack for one
 * callback; tpio_cur_instance names it on that thread only, so "the right
 * instance, on its own thread, during the callback" is one comparison.
 */
#include "internal.h"

__thread struct _TP_CALLBACK_INSTANCE *tpio_cur_instance;

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
	inst->may_run_long = 1;
	if (inst->io->long_function)
		return TRUE;
	return tpio_pool_may_run_long(inst->pool);
}

VOID DisassociateCurrentThreadFromCallback(PTP_CALLBACK_INSTANCE pci)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "DisassociateCurrentThreadFromCallback");
	struct _TP_IO *io;
	__u64 w;

	if (!inst || !inst->associated)
		return;
	io = inst->io;
	inst->associated = 0;
	w = __atomic_sub_fetch(io->word, tpio_w_disassoc_delta(),
			       __ATOMIC_SEQ_CST);
	if (tpio_w_waiters(w) && tpio_w_any_drained(w))
		io->pool->port.t->wake_io(&io->pool->port, io->handle);
}

VOID SetEventWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE evt)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "SetEventWhenCallbackReturns");

	if (inst && !inst->event)
		inst->event = evt;
}

VOID ReleaseSemaphoreWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					 HANDLE sem, DWORD crel)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "ReleaseSemaphoreWhenCallbackReturns");

	if (inst && !inst->sem) {
		inst->sem = sem;
		inst->sem_count = crel;
	}
}

VOID ReleaseMutexWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci, HANDLE mut)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "ReleaseMutexWhenCallbackReturns");

	if (inst && !inst->mutex)
		inst->mutex = mut;
}

VOID LeaveCriticalSectionWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					     PCRITICAL_SECTION pcs)
{
	struct _TP_CALLBACK_INSTANCE *inst =
		current(pci, "LeaveCriticalSectionWhenCallbackReturns");

	if (inst && !inst->cs)
		inst->cs = pcs;
}

/* After the callback and the finalization callback, in Windows' order. */
void tpio_run_instance_actions(struct _TP_CALLBACK_INSTANCE *inst)
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
