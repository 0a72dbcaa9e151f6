/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TP_IO accounting rules, once, as pure functions on the 64-bit state
 * word of uapi/linux/tpio.h. Included by the kernel module and by libtpio
 * (both of its transports), so the rules cannot drift apart.
 *
 * Every function takes a word value and returns the next value (or says
 * that the transition is not allowed); callers apply it with a
 * compare-and-swap on the shared word. Nothing here touches memory.
 */
#ifndef _TPIO_WORD_H
#define _TPIO_WORD_H

#include <linux/types.h>
#include <linux/tpio.h>

#define TPIO_W_MASK(bits)	((((__u64)1) << (bits)) - 1)
#define TPIO_W_ONE(f)		(((__u64)1) << TPIO_W_##f##_SHIFT)
#define TPIO_W_GET(w, f)	\
	((__u32)(((w) >> TPIO_W_##f##_SHIFT) & TPIO_W_MASK(TPIO_W_##f##_BITS)))
#define TPIO_W_MAX(f)		((__u32)TPIO_W_MASK(TPIO_W_##f##_BITS))
#define TPIO_W_WAITERS		(((__u64)1) << TPIO_W_WAITERS_SHIFT)

static inline __u32 tpio_w_pending(__u64 w) { return TPIO_W_GET(w, PENDING); }
static inline __u32 tpio_w_queued(__u64 w) { return TPIO_W_GET(w, QUEUED); }
static inline __u32 tpio_w_running(__u64 w) { return TPIO_W_GET(w, RUNNING); }
static inline __u32 tpio_w_assoc(__u64 w) { return TPIO_W_GET(w, ASSOC); }
static inline __u32 tpio_w_epoch(__u64 w) { return TPIO_W_GET(w, EPOCH); }
static inline int tpio_w_waiters(__u64 w) { return !!(w & TPIO_W_WAITERS); }

/* A fresh word for a slot whose previous epoch was @epoch. */
static inline __u64 tpio_w_fresh(__u32 epoch)
{
	return ((__u64)((epoch + 1) & TPIO_W_MAX(EPOCH))) << TPIO_W_EPOCH_SHIFT;
}

/*
 * Drained (WaitForThreadpoolIoCallbacks): pending == queued == assoc == 0.
 * Group-drained (cleanup-group release): pending == queued == running == 0.
 * With TPIO_DRAIN_SELF the caller is itself one such callback and does not
 * count.
 */
static inline int tpio_w_drained(__u64 w, __u32 drain_flags)
{
	__u32 busy = (drain_flags & TPIO_DRAIN_GROUP) ? tpio_w_running(w) :
							tpio_w_assoc(w);

	if (tpio_w_pending(w) || tpio_w_queued(w))
		return 0;
	return busy <= ((drain_flags & TPIO_DRAIN_SELF) ? 1U : 0U);
}

/*
 * Some drain condition holds, for some kind of sleeper (with or without
 * TPIO_DRAIN_SELF): a sleeper may need a wake. A SELF sleeper is satisfied
 * with one associated (or running) callback left, so a transition that
 * leaves exactly one must wake too.
 */
static inline int tpio_w_any_drained(__u64 w)
{
	return tpio_w_drained(w, TPIO_DRAIN_SELF) ||
	       tpio_w_drained(w, TPIO_DRAIN_GROUP | TPIO_DRAIN_SELF);
}

/* StartThreadpoolIo: pending++. Fails (returns 0) at the field's limit. */
static inline int tpio_w_start(__u64 w, __u64 *next)
{
	if (tpio_w_pending(w) == TPIO_W_MAX(PENDING))
		return 0;
	*next = w + TPIO_W_ONE(PENDING);
	return 1;
}

/* CancelThreadpoolIo: pending--. Fails (returns 0) when nothing is pending. */
static inline int tpio_w_cancel(__u64 w, __u64 *next)
{
	if (!tpio_w_pending(w))
		return 0;
	*next = w - TPIO_W_ONE(PENDING);
	return 1;
}

/*
 * A completion arrives. Returns 1 with pending > 0: it becomes queued;
 * 0 with nothing pending: the caller consults the object's skipped count,
 * then drops it; -1 when the object already has TPIO_W_MAX(QUEUED)
 * completions waiting for a callback: nothing may change, the poster must
 * retry once callbacks have started (back-pressure, never a lost
 * completion: queued is not bounded by the ring, because a scheduler may
 * take entries out of the ring before their callbacks start).
 */
static inline int tpio_w_arrive(__u64 w, __u64 *next)
{
	if (!tpio_w_pending(w))
		return 0;
	if (tpio_w_queued(w) == TPIO_W_MAX(QUEUED))
		return -1;
	*next = w - TPIO_W_ONE(PENDING) + TPIO_W_ONE(QUEUED);
	return 1;
}

/*
 * Cancel everything not yet running (Wait(TRUE), group cancel, close):
 * pending becomes skipped (the caller adds tpio_w_pending(w) to its skipped
 * count), queued entries are dropped by moving to a new epoch.
 */
static inline __u64 tpio_w_cancel_all(__u64 w)
{
	__u64 keep = w & ~((TPIO_W_MASK(TPIO_W_PENDING_BITS) << TPIO_W_PENDING_SHIFT) |
			   (TPIO_W_MASK(TPIO_W_QUEUED_BITS) << TPIO_W_QUEUED_SHIFT) |
			   (TPIO_W_MASK(TPIO_W_EPOCH_BITS) << TPIO_W_EPOCH_SHIFT));
	__u32 epoch = tpio_w_epoch(w);

	if (tpio_w_queued(w))
		epoch = (epoch + 1) & TPIO_W_MAX(EPOCH);
	return keep | ((__u64)epoch << TPIO_W_EPOCH_SHIFT);
}

/*
 * A worker took an entry of @epoch from the ring: the callback starts
 * (queued--, running++, assoc++) when the entry is current. Returns 0 for
 * a stale entry (dropped by a cancel or by a close): it must not run.
 */
static inline int tpio_w_begin(__u64 w, __u32 epoch, __u64 *next)
{
	if (tpio_w_epoch(w) != epoch || !tpio_w_queued(w))
		return 0;
	/*
	 * running and assoc cannot overflow: a pool has at most
	 * TPIO_W_MAX(RUNNING) threads and a thread runs one callback at a time.
	 */
	*next = w - TPIO_W_ONE(QUEUED) + TPIO_W_ONE(RUNNING) + TPIO_W_ONE(ASSOC);
	return 1;
}

/* What a callback's end subtracts: running, and assoc if still associated. */
static inline __u64 tpio_w_end_delta(int associated)
{
	return TPIO_W_ONE(RUNNING) + (associated ? TPIO_W_ONE(ASSOC) : 0);
}

/* DisassociateCurrentThreadFromCallback subtracts this. */
static inline __u64 tpio_w_disassoc_delta(void)
{
	return TPIO_W_ONE(ASSOC);
}

#endif /* _TPIO_WORD_H */
