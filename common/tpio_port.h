/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The port rules, once, as pure functions: object handles and slot
 * generations, ring room and FIFO arithmetic, the arrival decision, the
 * overflow flush decision, cancel-all, the skipped count and the order in
 * which sleeping workers are woken. Included by the kernel module
 * (kmod/port.c, kmod/io.c) and by libtpio's in-process transport
 * (transport/user.c), so that the two ports cannot drift apart; the state
 * word's rules are common/tpio_word.h's.
 *
 * Nothing here locks, allocates or calls anything: each function computes
 * a decision or updates the caller's own structure, under the caller's
 * port lock. Documentation/kmod.rst describes the rules.
 */
#ifndef _TPIO_PORT_H
#define _TPIO_PORT_H

#include <linux/types.h>
#include <linux/tpio.h>
#include "tpio_word.h"

#ifdef __KERNEL__
#include <linux/stddef.h>
#else
#include <stddef.h>
#endif

/*
 * Bounds on the work of one hold of the port lock: overflow entries
 * examined per flush, sleepers woken per hold. They shape what a POST
 * does (it flushes once), so both ports use the same values.
 */
#define TPIO_FLUSH_BATCH	64
#define TPIO_WAKE_BATCH		16

/* ---- handles: (generation << 16) | slot ---- */

/*
 * A slot's generation is 1..0xffff and moves on each time the slot is
 * freed, so a stale handle stops naming the slot and 0 is never a handle.
 */
#define TPIO_GEN_FIRST		1U
#define TPIO_GEN_LAST		0xffffU

static inline __u32 tpio_p_handle(__u16 gen, __u32 slot)
{
	return ((__u32)gen << 16) | slot;
}

static inline __u16 tpio_p_gen(__u32 io)
{
	return (__u16)(io >> 16);
}

static inline __u16 tpio_p_gen_next(__u16 gen)
{
	return gen >= TPIO_GEN_LAST ? TPIO_GEN_FIRST : (__u16)(gen + 1);
}

/* @io's slot exists in a table of @max_objects (check before indexing). */
static inline int tpio_p_slot_ok(__u32 io, __u32 max_objects)
{
	return TPIO_IO_SLOT(io) < max_objects;
}

/* @io names the object now in its slot, whose generation is @gen. */
static inline int tpio_p_gen_ok(__u32 io, __u16 gen)
{
	return tpio_p_gen(io) == gen;
}

/* ---- the ring ---- */

/*
 * Free entries of a ring of @entries (a power of two) with producer index
 * @tail and consumer index @head. head is written by the consumers: one
 * more than @entries behind tail (garbage) makes the ring look full, which
 * only stalls this port.
 */
static inline __u32 tpio_p_ring_room(__u32 tail, __u32 head, __u32 entries)
{
	__u32 used = tail - head;

	return used >= entries ? 0 : entries - used;
}

/* Where index @pos of a ring of @entries (a power of two) lives. */
static inline __u32 tpio_p_ring_at(__u32 pos, __u32 entries)
{
	return pos & (entries - 1);
}

/* ---- FIFOs: the overflow entries, the free slots ---- */

/* A circular FIFO of indexes into the caller's array of @size elements. */
struct tpio_fifo {
	__u32 head;	/* the oldest element */
	__u32 count;
};

/* Element @n (0 is the oldest) of @f; n <= size. */
static inline __u32 tpio_p_fifo_at(const struct tpio_fifo *f, __u32 n,
				   __u32 size)
{
	__u32 i = f->head + n;

	return i >= size ? i - size : i;
}

/* Appends an element (count < size): returns where the caller stores it. */
static inline __u32 tpio_p_fifo_push(struct tpio_fifo *f, __u32 size)
{
	__u32 i = tpio_p_fifo_at(f, f->count, size);

	f->count++;
	return i;
}

/* Removes the oldest element (count > 0): returns where it is stored. */
static inline __u32 tpio_p_fifo_pop(struct tpio_fifo *f, __u32 size)
{
	__u32 i = f->head;

	f->head = tpio_p_fifo_at(f, 1, size);
	f->count--;
	return i;
}

/* ---- slots ---- */

/*
 * A slot is freed: its generation moves on and it joins the tail of the
 * free FIFO (the least recently freed slot is reused first, which keeps a
 * slot's epoch from cycling quickly). Returns where the caller stores the
 * slot number in its free array of @max_objects.
 */
static inline __u32 tpio_p_slot_put(struct tpio_fifo *free_fifo,
				    __u32 max_objects, __u16 *gen)
{
	*gen = tpio_p_gen_next(*gen);
	return tpio_p_fifo_push(free_fifo, max_objects);
}

/*
 * An object's completions that will never be queued: the starts pending
 * when everything was cancelled. Saturates rather than wrapping.
 */
static inline __u32 tpio_p_skipped_add(__u32 skipped, __u32 pending)
{
	return pending > 0xffffffffU - skipped ? 0xffffffffU : skipped + pending;
}

/*
 * Cancel-all (Wait(TRUE), group cancel, close) changed the object's word
 * from @old with tpio_w_cancel_all: its pending starts become skipped,
 * and its cancel count moves on, which makes its overflow entries stale.
 */
static inline void tpio_p_cancel_all(__u64 old, __u32 *skipped,
				     __u32 *cancels)
{
	*skipped = tpio_p_skipped_add(*skipped, tpio_w_pending(old));
	++*cancels;
}

/* After a close, or a skipped arrival at a closed object: free the slot. */
static inline int tpio_p_free_now(int closed, __u32 skipped)
{
	return closed && !skipped;
}

/* ---- arrival ---- */

/*
 * The entry of a completion of object (@cookie, @slot), queued in @epoch
 * (the word's epoch before its arrival).
 */
static inline void tpio_p_entry(struct tpio_cqe *e, __u64 cookie, __u16 slot,
				__u32 epoch, const struct tpio_completion *c)
{
	e->cookie = cookie;
	e->overlapped = c->overlapped;
	e->information = c->information;
	e->status = c->status;
	e->slot = slot;
	e->epoch = (__u16)epoch;
}

/* Where an arriving completion goes (see tpio_p_arrive_to). */
enum tpio_p_dest {
	TPIO_P_TO_RING,
	TPIO_P_TO_OVERFLOW,
	TPIO_P_FULL,
};

/*
 * The overflow FIFO continues the ring: while it is not empty every new
 * entry goes to it, so the undelivered entries are always, in arrival
 * order, the ring's then the overflow's. Full when both are. Decided
 * before the word changes, so that no entry is lost.
 */
static inline enum tpio_p_dest tpio_p_arrive_to(__u32 ovf_count, __u32 room,
						__u32 entries)
{
	if (!ovf_count && room)
		return TPIO_P_TO_RING;
	return ovf_count >= entries ? TPIO_P_FULL : TPIO_P_TO_OVERFLOW;
}

/*
 * A completion that found nothing pending, or whose object is closed (a
 * zombie only swallows: nothing of it is queued): a skipped start
 * swallows it (TPIO_POSTED_SKIPPED, *skipped goes down), else it is
 * dropped (TPIO_POSTED_DROPPED).
 */
static inline __u32 tpio_p_unqueued(__u32 *skipped)
{
	if (!*skipped)
		return TPIO_POSTED_DROPPED;
	--*skipped;
	return TPIO_POSTED_SKIPPED;
}

/* ---- the overflow FIFO ---- */

/*
 * An entry of the overflow FIFO: the completion, the handle it was posted
 * to and the object's cancel count then. A cancel does not search the
 * FIFO: the entry is dropped when it reaches the head, if its object is
 * gone or was cancelled since (never mapped: private to the port).
 */
struct tpio_ovf {
	struct tpio_cqe cqe;
	__u32 io;
	__u32 cancels;
};

/* @found: the handle still names an object, whose cancel count is @cancels */
static inline int tpio_p_ovf_stale(const struct tpio_ovf *e, int found,
				   __u32 cancels)
{
	return !found || e->cancels != cancels;
}

/* What a flush does with the head entry of the overflow FIFO. */
enum tpio_p_flush {
	TPIO_P_FLUSH_MOVE,	/* to the ring */
	TPIO_P_FLUSH_DROP,	/* stale: dropped, room or not */
	TPIO_P_FLUSH_STOP,	/* current but the ring is full: stop */
};

static inline enum tpio_p_flush tpio_p_flush_step(int stale, __u32 room)
{
	if (stale)
		return TPIO_P_FLUSH_DROP;
	return room ? TPIO_P_FLUSH_MOVE : TPIO_P_FLUSH_STOP;
}

/* ---- sleeping workers: the most recent is woken first ---- */

struct tpio_sleeper {
	struct tpio_sleeper *newer, *older;
};

struct tpio_sleepers {
	struct tpio_sleeper *newest;
	__u32 count;		/* what the port publishes as waiters */
};

static inline void tpio_p_sleeper_add(struct tpio_sleepers *s,
				      struct tpio_sleeper *n)
{
	n->newer = NULL;
	n->older = s->newest;
	if (n->older)
		n->older->newer = n;
	s->newest = n;
	s->count++;
}

/* Takes @n (a sleeper of @s) out: woken, or leaving on its own. */
static inline void tpio_p_sleeper_del(struct tpio_sleepers *s,
				      struct tpio_sleeper *n)
{
	if (n->newer)
		n->newer->older = n->older;
	else
		s->newest = n->older;
	if (n->older)
		n->older->newer = n->newer;
	n->newer = NULL;
	n->older = NULL;
	s->count--;
}

/* The sleeper to wake next, left in @s, or NULL: the newest (LIFO). */
static inline struct tpio_sleeper *tpio_p_sleeper_peek(struct tpio_sleepers *s)
{
	return s->newest;
}

/* The sleeper to wake next, taken out of @s, or NULL: the newest (LIFO). */
static inline struct tpio_sleeper *tpio_p_sleeper_pick(struct tpio_sleepers *s)
{
	struct tpio_sleeper *n = tpio_p_sleeper_peek(s);

	if (n)
		tpio_p_sleeper_del(s, n);
	return n;
}

#endif /* _TPIO_PORT_H */
