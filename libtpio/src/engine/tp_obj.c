// SPDX-License-Identifier: MIT
/*
 * Work items, timers and waits are engine objects like a TP_IO (a slot of
 * the pool's port, the same state word): one callback of them is one
 * completion entry of the port, queued here through the path of the I/O
 * completions (completion.c).
 */
#include "engine.h"

/*
 * The first step of one more callback of @io: pending++ (StartThreadpoolIo's
 * rule), and where its completion goes, read while the pending count keeps
 * the object alive. 0, or -EBUSY at the pending limit.
 */
int tpio_obj_start(struct _TP_IO *io, struct tpio_target *t)
{
	int ret = tpio_io_start(io);

	if (ret)
		return ret;
	t->pool = io->pool;
	t->io = io;
	t->handle = io->handle;
	t->epoch = tpio_w_epoch(tpio_word_load(io->word));
	return 0;
}

/*
 * One more callback of @io, whose status argument is @status: the start,
 * then the completion (pending--, queued++). A Wait(TRUE) between the two
 * steps turns the pending count into a skipped one, and the completion is
 * then swallowed: the callback is cancelled, as a submission that lost the
 * race with the cancel should be.
 */
int tpio_obj_post(struct _TP_IO *io, DWORD status)
{
	struct tpio_target t;
	int ret;

	ret = tpio_obj_start(io, &t);
	if (ret)
		return ret;
	ret = tpio_complete(&t, 0, status, 0, NULL);
	if (ret)
		tpio_io_cancel(io);
	return ret;
}
