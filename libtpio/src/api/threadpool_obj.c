// SPDX-License-Identifier: MIT
/*
 * What work items, timers and waits share (Documentation/contract.rst,
 * "Work items, timers and waits"). Each of them is an engine object like a
 * TP_IO: a slot of its pool's port with the same state word, so that one
 * callback of it is one completion entry of the port, through the path of
 * TP_IO completions (engine/completion.c: the arrival rule on the word,
 * then a worker's mailbox or the shared scheduler; the transport's POST,
 * i.e. TPIO_IOC_POST on kmod, when the word cannot decide). Queueing a
 * callback is StartThreadpoolIo and a completion in one step; the waits,
 * the close, cleanup groups and callback instances are TP_IO's.
 */
#include <errno.h>
#include "api.h"

struct _TP_IO *tpio_obj_create(int kind, PTP_WIN32_IO_CALLBACK tramp,
			       void (*ucb)(void), PVOID pv,
			       PTP_CALLBACK_ENVIRON pcbe,
			       const struct tpio_obj_hooks *hooks)
{
	struct tpio_io_params p;
	struct _TP_POOL *pool;
	struct _TP_IO *io;
	DWORD err;
	int ret;

	if (!tpio_transport_get()) {
		SetLastError(ERROR_NOT_SUPPORTED);
		return NULL;
	}
	if (!ucb) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	err = tpio_env_params(pcbe, &p, &pool);
	if (err) {
		SetLastError(err);
		return NULL;
	}
	p.cb = tramp;
	p.ctx = pv;
	p.kind = (uint8_t)kind;
	p.ucb = ucb;
	ret = tpio_io_create(pool, -1, &p, &io);
	if (ret) {
		SetLastError(ret == -EINVAL ? ERROR_INVALID_PARAMETER :
			     ret == -ENOSPC ? ERROR_NOT_ENOUGH_MEMORY :
			     tpio_pool_error(ret));
		return NULL;
	}
	if (hooks) {
		io->shutdown = hooks->shutdown;
		io->t_expire = hooks->t_expire;
	}
	/* a group release may see the object from here on */
	if (pcbe && pcbe->CleanupGroup)
		tpio_group_add(pcbe->CleanupGroup, io);
	return io;
}

void tpio_obj_wait(struct _TP_IO *io, BOOL cancel, const char *fn)
{
	struct _TP_CALLBACK_INSTANCE *inst = tpio_cur_instance;
	uint32_t flags = cancel ? TPIO_DRAIN_CANCEL : 0;
	uint32_t inc = atomic_load(&io->inc);

	if (inst && inst->io == io && inst->associated) {
		tpio_diag("%s(%p) from its own callback: not waiting for the caller",
			  fn, (void *)io);
		flags |= TPIO_DRAIN_SELF;
	}
	if (!(flags & TPIO_DRAIN_CANCEL) &&
	    tpio_w_drained(tpio_word_load(io->word), flags))
		return;
	tpio_drain(io, flags);
	tpio_io_try_free(io, inc);
}
