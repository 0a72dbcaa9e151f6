// SPDX-License-Identifier: MIT
/*
 * The ring consumer and the scheduler of a pool, shared by both transports.
 *
 * Consumers (any number of threads): h = load_acquire(head); t =
 * load_acquire(tail) (pairs with the producer's store-release of tail);
 * copy the entries; compare-and-swap head from h to h + n. The copies are
 * valid because the producer rewrites a slot only after head has passed it.
 *
 * Entries then wait in per-object FIFO queues, kept on one round-robin
 * list per priority. All of it is protected by pool->mu (callers hold it).
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define PULL_BATCH	64

static struct tpio_entry *entry_get(struct _TP_POOL *pool)
{
	struct tpio_entry *e = pool->free_entries;

	if (e) {
		pool->free_entries = e->next;
		return e;
	}
	return malloc(sizeof(*e));
}

static void entry_put(struct _TP_POOL *pool, struct tpio_entry *e)
{
	e->next = pool->free_entries;
	pool->free_entries = e;
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

/* A kick entry: account it as a callback that starts and ends at once. */
static void consume_kick(struct _TP_POOL *pool, const struct tpio_cqe *c)
{
	__u64 *word = &pool->port.r.words[c->slot];
	__u64 w = tpio_word_load(word), next;

	do {
		if (!tpio_w_begin(w, c->epoch, &next))
			goto out;
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	__atomic_sub_fetch(word, tpio_w_end_delta(1), __ATOMIC_SEQ_CST);
out:
	if (pool->kicks_pending)
		pool->kicks_pending--;
}

static void sched_add(struct _TP_POOL *pool, const struct tpio_cqe *c)
{
	struct tpio_slot_q *q;
	struct tpio_entry *e;

	if (c->slot >= pool->port.r.max_objects) {
		tpio_warn("ring entry for slot %u beyond %u objects, dropped",
			  c->slot, pool->port.r.max_objects);
		return;
	}
	if (c->slot == pool->kick_slot) {
		consume_kick(pool, c);
		return;
	}
	e = entry_get(pool);
	if (!e) {
		/* cannot queue it: run nothing, but keep the counts exact */
		tpio_warn("out of memory: completion for slot %u dropped", c->slot);
		return;
	}
	e->cqe = *c;
	e->next = NULL;
	q = &pool->slots[c->slot];
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	if (!q->listed)
		rr_append(pool, c->slot);
	__atomic_store_n(&pool->sched_count, pool->sched_count + 1,
			 __ATOMIC_RELAXED);
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
			pool->port.t->worker_wait(&pool->port, 0);
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
			sched_add(pool, &batch[i]);
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
			struct tpio_entry *e = q->head;
			__u64 *word = &pool->port.r.words[slot];
			__u64 w, next;
			int ok;

			rr->head = q->rr_next;
			if (rr->head < 0)
				rr->tail = -1;
			q->listed = 0;
			q->head = e->next;
			if (!q->head)
				q->tail = NULL;
			else
				rr_append(pool, slot);
			__atomic_store_n(&pool->sched_count,
					 pool->sched_count - 1, __ATOMIC_RELAXED);
			*out = e->cqe;
			entry_put(pool, e);

			w = tpio_word_load(word);
			do {
				ok = tpio_w_begin(w, out->epoch, &next);
			} while (ok && !__atomic_compare_exchange_n(word, &w, next,
					0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
			if (ok)
				return 1;
			/* stale: dropped by a cancel or a close, never run */
		}
	}
	return 0;
}

