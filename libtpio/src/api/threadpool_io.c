// SPDX-License-Identifier: MIT
/*
 * The TP_IO functions: CreateThreadpoolIo, StartThreadpoolIo,
 * CancelThreadpoolIo, WaitForThreadpoolIoCallbacks, CloseThreadpoolIo and
 * tpio_post_completion (Documentation/contract.rst). The object and its
 * accounting are the engine's (engine/tp_io.c); this file checks the
 * arguments and turns the engine's errnos into Win32 errors.
 */
#include <errno.h>
#include <fcntl.h>
#include "api.h"

/* the Win32 error of a pool's or an object's creation failure */
DWORD tpio_pool_error(int err)
{
	switch (err) {
	case -EOPNOTSUPP:	return ERROR_NOT_SUPPORTED;
	case -ENOMEM:		return ERROR_NOT_ENOUGH_MEMORY;
	/* the module's per-user memory budget (max_user_mib) is spent */
	case -EDQUOT:		return ERROR_NOT_ENOUGH_QUOTA;
	default:		return tpio_win32_from_errno(-err);
	}
}

/* 0, or the Win32 error of a bad callback environment */
DWORD tpio_env_check(PTP_CALLBACK_ENVIRON e)
{
	if (!e)
		return 0;
	if (e->Version != 1 && e->Version != 3)
		return ERROR_INVALID_PARAMETER;
	if (e->Version == 3 &&
	    (unsigned int)e->CallbackPriority >= TP_CALLBACK_PRIORITY_INVALID)
		return ERROR_INVALID_PARAMETER;
	if (e->RaceDll || e->ActivationContext)
		return ERROR_CALL_NOT_IMPLEMENTED;
	if (e->Pool && !tpio_pool_valid(e->Pool))
		return ERROR_INVALID_PARAMETER;
	if (e->CleanupGroup && !tpio_group_valid(e->CleanupGroup))
		return ERROR_INVALID_PARAMETER;
	return 0;
}

/*
 * What a callback environment gives every object made with it: the pool
 * (the default one when it names none) and the callback settings in @p.
 * 0, or the Win32 error that fails the creation.
 */
DWORD tpio_env_params(PTP_CALLBACK_ENVIRON pcbe, struct tpio_io_params *p,
		      struct _TP_POOL **pool)
{
	DWORD err = tpio_env_check(pcbe);
	int ret;

	if (err)
		return err;
	if (pcbe && pcbe->Pool) {
		*pool = pcbe->Pool;
	} else {
		ret = tpio_default_pool(pool);
		if (ret)
			return tpio_pool_error(ret);
	}
	p->prio = pcbe && pcbe->Version >= 3 ? pcbe->CallbackPriority :
		  TP_CALLBACK_PRIORITY_NORMAL;
	p->long_function = pcbe ? pcbe->u.s.LongFunction : 0;
	p->persistent = pcbe ? pcbe->u.s.Persistent : 0;
	p->finalization = pcbe ? pcbe->FinalizationCallback : NULL;
	p->cancel_cb = pcbe ? pcbe->CleanupGroupCancelCallback : NULL;
	return 0;
}

PTP_IO CreateThreadpoolIo(HANDLE fl, PTP_WIN32_IO_CALLBACK pfnio, PVOID pv,
			  PTP_CALLBACK_ENVIRON pcbe)
{
	struct tpio_io_params p;
	struct _TP_POOL *pool;
	struct _TP_IO *io;
	DWORD err;
	int fd, ret;

	if (!tpio_transport_get()) {
		SetLastError(ERROR_NOT_SUPPORTED);
		return NULL;
	}
	fd = tpio_handle_is_fd(fl) ? tpio_fd_from_handle(fl) : -1;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return NULL;
	}
	if (!pfnio) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	err = tpio_env_params(pcbe, &p, &pool);
	if (err) {
		SetLastError(err);
		return NULL;
	}
	p.cb = pfnio;
	p.ctx = pv;
	p.kind = TPIO_OBJ_IO;
	p.ucb = NULL;
	ret = tpio_io_create(pool, fd, &p, &io);
	if (ret) {
		SetLastError(ret == -EBUSY || ret == -EINVAL ?
			     ERROR_INVALID_PARAMETER :
			     ret == -ENOSPC ? ERROR_NOT_ENOUGH_MEMORY :
			     tpio_pool_error(ret));
		return NULL;
	}
	if (pcbe && pcbe->CleanupGroup)
		tpio_group_add(pcbe->CleanupGroup, io);
	return io;
}

VOID StartThreadpoolIo(PTP_IO pio)
{
	if (!tpio_io_valid(pio)) {
		tpio_diag("StartThreadpoolIo(%p): not a live TP_IO", (void *)pio);
		return;
	}
	if (atomic_load_explicit(&pio->closing, memory_order_relaxed)) {
		tpio_diag("StartThreadpoolIo(%p): object is closed", (void *)pio);
		return;
	}
	if (tpio_io_start(pio))
		SetLastError(ERROR_TOO_MANY_POSTS);
}

VOID CancelThreadpoolIo(PTP_IO pio)
{
	if (!tpio_io_valid(pio)) {
		tpio_diag("CancelThreadpoolIo(%p): not a live TP_IO", (void *)pio);
		return;
	}
	if (tpio_io_cancel(pio))
		tpio_diag("CancelThreadpoolIo(%p): nothing pending (ignored)",
			  (void *)pio);
}

VOID WaitForThreadpoolIoCallbacks(PTP_IO pio, BOOL fCancelPendingCallbacks)
{
	struct _TP_CALLBACK_INSTANCE *inst = tpio_cur_instance;
	uint32_t flags = fCancelPendingCallbacks ? TPIO_DRAIN_CANCEL : 0;

	uint32_t inc;

	if (!tpio_io_valid(pio)) {
		tpio_diag("WaitForThreadpoolIoCallbacks(%p): not a live TP_IO",
			  (void *)pio);
		return;
	}
	inc = atomic_load(&pio->inc);
	if (inst && inst->io == pio && inst->associated) {
		tpio_diag("WaitForThreadpoolIoCallbacks(%p) from its own callback: not waiting for the caller",
			  (void *)pio);
		flags |= TPIO_DRAIN_SELF;
	}
	if (!(flags & TPIO_DRAIN_CANCEL) &&
	    tpio_w_drained(tpio_word_load(pio->word), flags))
		return;
	tpio_drain(pio, flags);
	tpio_io_try_free(pio, inc);
}

VOID CloseThreadpoolIo(PTP_IO pio)
{
	if (!tpio_io_valid(pio)) {
		tpio_diag("CloseThreadpoolIo(%p): not a live TP_IO", (void *)pio);
		return;
	}
	tpio_io_close_internal(pio, 0);
}

BOOL tpio_post_completion(PTP_IO io, LPOVERLAPPED ov, ULONG io_result,
			  ULONG_PTR bytes)
{
	struct tpio_target t;
	int ret;

	if (!tpio_io_valid(io)) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	t.pool = io->pool;
	t.io = io;
	t.handle = io->handle;
	t.epoch = tpio_w_epoch(tpio_word_load(io->word));
	ret = tpio_complete(&t, (__u64)(uintptr_t)ov, io_result, bytes, NULL);
	if (ret) {
		SetLastError(ret == -ENOENT ? ERROR_INVALID_HANDLE :
			     tpio_win32_from_errno(-ret));
		return FALSE;
	}
	return TRUE;
}
