// SPDX-License-Identifier: MIT
/*
 * The shared scheduler of a pool, and the consumer of its port's ring.
 *
 * Entries come from the fast path of completion.c (pushed directly) and from the
 * port's ring (the slow path, and posts from other processes). They wait
 * in per-object FIFO queues, kept on one round-robin list per priority.
 * All of it is protected by pool->mu (callers hold it); sched_count is
 * also read without the lock, as a hint.
 *
 * Ring consumers (any number of threads): h = load_acquire(head); t =
 * load_acquire(tail) (pairs with the producer's store-release of tail);
 * copy the entries; compare-and-swap head from h to h + n. The copies are
 * valid because the producer rewrites a slot only after head has passed it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

#define PULL_BATCH	64

struct tpio_entry *tpio_entry_new(void)
{
	return malloc(sizeof(struct tpio_entry));
}

static struct tpio_entry *entry_get(struct _TP_POOL *pool)
{
	struct tpio_entry *e = tpio_entry_of(tpio_stack_pop(&pool->free_entries));

	return e ? e : tpio_entry_new();
}

static void entry_put(struct _TP_POOL *pool, struct tpio_entry *e)
{
	tpio_stack_push(&pool->free_entries, &e->node);
}

static void rr_append(struct _TP_POOL *pool, uint32_t slot)
{
	struct tpio_slot_q *q = &pool->slots[slot];
	struct tpio_rr *rr = &pool->rr[q->prio];

	q->rr_next = -1;
	q->listed = 1;
	if (rr->tail < 0)
		rr->head = (int32_t)slot;
	else
		pool->slots[rr->tail].rr_next = (int32_t)slot;
	rr->tail = (int32_t)slot;
}

/*
 * Queue @c on its object, at the back (or the front with @front). 0, or
 * -ENOMEM: then the entry is lost and its object's queued count with it,
 * which only a new epoch (a cancel) repairs; warned.
 */
int tpio_sched_add(struct _TP_POOL *pool, const struct tpio_cqe *c, int front)
{
	struct tpio_slot_q *q;
	struct tpio_entry *e;

	if (c->slot >= pool->port.r.max_objects) {
		tpio_warn("ring entry for slot %u beyond %u objects, dropped",
			  c->slot, pool->port.r.max_objects);
		return -EINVAL;
	}
	e = entry_get(pool);
	if (!e) {
		tpio_warn("out of memory: completion for slot %u dropped", c->slot);
		return -ENOMEM;
	}
	e->cqe = *c;
	q = &pool->slots[c->slot];
	if (front)
		tpio_fifo_push_front(&q->q, &e->node);
	else
		tpio_fifo_push(&q->q, &e->node);
	if (!q->listed)
		rr_append(pool, c->slot);
	atomic_fetch_add(&pool->sched_count, 1);
	return 0;
}

/* Every entry and the free list, at the pool's end. */
void tpio_sched_free(struct _TP_POOL *pool)
{
	struct tpio_entry *e;
	uint32_t i;

	for (i = 0; i < pool->port.r.max_objects; i++) {
		while ((e = tpio_entry_of(tpio_fifo_pop(&pool->slots[i].q))))
			free(e);
	}
	while ((e = tpio_entry_of(tpio_stack_pop(&pool->free_entries))))
		free(e);
}

/* Entries wait in the port's ring (a hint: no lock). */
int tpio_ring_nonempty(struct _TP_POOL *pool)
{
	struct tpio_ring_view *r = &pool->port.r;

	return __atomic_load_n(r->head, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(r->tail, __ATOMIC_ACQUIRE) ||
	       (__atomic_load_n(r->flags, __ATOMIC_ACQUIRE) &
		TPIO_RING_F_OVERFLOW);
}

/* Move every ring entry into the scheduler; flush the overflow list. */
void tpio_pull_ring(struct _TP_POOL *pool)
{
	struct tpio_ring_view *r = &pool->port.r;
	struct tpio_cqe batch[PULL_BATCH];
	uint32_t h, t, n, i;

	for (;;) {
		h = __atomic_load_n(r->head, __ATOMIC_ACQUIRE);
		/* pairs with the producer's store-release of tail */
		t = __atomic_load_n(r->tail, __ATOMIC_ACQUIRE);
		if (h == t) {
			if (!(__atomic_load_n(r->flags, __ATOMIC_ACQUIRE) &
			      TPIO_RING_F_OVERFLOW))
				return;
			/* timeout 0: moves the overflow list into the ring */
			pool->port.t->worker_wait(&pool->port, 0, 0, 0);
			if (__atomic_load_n(r->tail, __ATOMIC_ACQUIRE) == h)
				return;
			continue;
		}
		n = t - h;
		if (n > r->entries)
			n = r->entries;	/* never trust more than a ring */
		if (n > PULL_BATCH)
			n = PULL_BATCH;
		for (i = 0; i < n; i++)
			batch[i] = r->cqes[(h + i) & r->mask];
		/*
		 * The producer rewrites these slots only after head passed
		 * them; the copies above are ordered before this acq_rel CAS.
		 */
		if (!__atomic_compare_exchange_n(r->head, &h, h + n, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		for (i = 0; i < n; i++)
			tpio_sched_add(pool, &batch[i], 0);
	}
}

/* The next entry to run, with its callback begun; NULL when none. */
int tpio_pick(struct _TP_POOL *pool, struct tpio_cqe *out)
{
	int p;

	for (p = 0; p < TP_CALLBACK_PRIORITY_COUNT; p++) {
		struct tpio_rr *rr = &pool->rr[p];

		while (rr->head >= 0) {
			uint32_t slot = (uint32_t)rr->head;
			struct tpio_slot_q *q = &pool->slots[slot];
			struct tpio_entry *e = tpio_entry_of(tpio_fifo_pop(&q->q));

			rr->head = q->rr_next;
			if (rr->head < 0)
				rr->tail = -1;
			q->listed = 0;
			if (!tpio_fifo_empty(&q->q))
				rr_append(pool, slot);
			atomic_fetch_sub(&pool->sched_count, 1);
			*out = e->cqe;
			entry_put(pool, e);

			if (tpio_word_begin(&pool->port.r.words[slot],
					    out->epoch))
				return 1;
			/* stale: dropped by a cancel or a close, never run */
		}
	}
	return 0;
}

