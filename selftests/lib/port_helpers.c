// SPDX-License-Identifier: MIT
/*
 * Unit test of the port rules of common/tpio_port.h, the pure helpers that
 * the kernel module and libtpio's in-process transport share: handle and
 * generation arithmetic (the wrap past 0xffff to 1, never 0), ring room
 * (full, wrapped indexes, a garbage head), FIFOs of any size (wrapping,
 * against a model), the arrival, flush and cancel decisions, the
 * saturating skipped count and the LIFO order of sleepers. Exits 1 on the
 * first failed check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tpio_port.h"

static unsigned int checks;

#define CHECK(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		fprintf(stderr, "port_helpers: %s:%d: %s\n", __FILE__,	\
			__LINE__, #cond);				\
		exit(1);						\
	}								\
} while (0)

static void handles(void)
{
	__u16 gen = TPIO_GEN_FIRST;
	__u32 i;

	CHECK(tpio_p_gen_next(1) == 2);
	CHECK(tpio_p_gen_next(0xfffe) == 0xffff);
	CHECK(tpio_p_gen_next(0xffff) == TPIO_GEN_FIRST);
	/* twice around: never 0, period 0xffff */
	for (i = 1; i <= 2 * 0xffff; i++) {
		gen = tpio_p_gen_next(gen);
		CHECK(gen != 0);
		CHECK(gen == (i % 0xffff) + 1);
	}
	CHECK(tpio_p_handle(1, 0) == 0x10000);
	CHECK(tpio_p_handle(0xffff, 0xffff) == 0xffffffffU);
	CHECK(tpio_p_gen(0xabcd1234) == 0xabcd);
	CHECK(TPIO_IO_SLOT(tpio_p_handle(7, 42)) == 42);
	CHECK(tpio_p_gen_ok(tpio_p_handle(7, 42), 7));
	CHECK(!tpio_p_gen_ok(tpio_p_handle(7, 42), 8));
	/* no generation is 0, so the handle 0 names nothing */
	CHECK(!tpio_p_gen_ok(0, TPIO_GEN_FIRST));
	CHECK(tpio_p_slot_ok(tpio_p_handle(1, 9), 10));
	CHECK(!tpio_p_slot_ok(tpio_p_handle(1, 10), 10));
	CHECK(tpio_p_slot_ok(tpio_p_handle(1, 0xffff), TPIO_OBJECTS_MAX));
}

static void ring(void)
{
	CHECK(tpio_p_ring_room(0, 0, 4) == 4);
	CHECK(tpio_p_ring_room(3, 0, 4) == 1);
	CHECK(tpio_p_ring_room(4, 0, 4) == 0);
	/* indexes wrap past 2^32 */
	CHECK(tpio_p_ring_room(2, 0xfffffffeU, 4) == 0);
	CHECK(tpio_p_ring_room(1, 0xfffffffeU, 4) == 1);
	/* a garbage head (ahead of tail, or far behind) is a full ring */
	CHECK(tpio_p_ring_room(10, 11, 4) == 0);
	CHECK(tpio_p_ring_room(100, 10, 4) == 0);
	CHECK(tpio_p_ring_at(5, 4) == 1);
	CHECK(tpio_p_ring_at(0xffffffffU, 16384) == 16383);
	CHECK(tpio_p_ring_at(0xffffffffU + 1U, 2) == 0);
}

/* a FIFO of @size against a model, through many wraps */
static void fifo_model(__u32 size)
{
	struct tpio_fifo f = { 0, 0 };
	__u32 stored[64], model[64], mhead = 0, mcount = 0, next = 0;
	__u32 i, step, idx;

	for (step = 0; step < 50 * size; step++) {
		/* push while the pattern says so and there is room */
		if (mcount < size && (mcount == 0 || (step * 7 + size) % 3)) {
			idx = tpio_p_fifo_push(&f, size);
			CHECK(idx < size);
			stored[idx] = next;
			model[(mhead + mcount) % size] = next;
			mcount++;
			next++;
		} else {
			idx = tpio_p_fifo_pop(&f, size);
			CHECK(idx < size);
			CHECK(stored[idx] == model[mhead]);
			mhead = (mhead + 1) % size;
			mcount--;
		}
		CHECK(f.count == mcount);
		CHECK(f.head == mhead);
		for (i = 0; i < mcount; i++)
			CHECK(stored[tpio_p_fifo_at(&f, i, size)] ==
			      model[(mhead + i) % size]);
	}
}

static void fifos(void)
{
	struct tpio_fifo f = { 2, 1 };
	__u16 gen = 0xffff;
	__u32 size;

	/* the full FIFO: the position after the last is the head again */
	CHECK(tpio_p_fifo_at(&f, 3, 3) == 2);
	f.head = 2;
	f.count = 2;
	CHECK(tpio_p_fifo_push(&f, 3) == 1);
	CHECK(f.count == 3);
	CHECK(tpio_p_fifo_pop(&f, 3) == 2);
	CHECK(f.head == 0);
	CHECK(tpio_p_fifo_pop(&f, 3) == 0);
	CHECK(tpio_p_fifo_pop(&f, 3) == 1);
	CHECK(f.count == 0 && f.head == 2);
	for (size = 1; size <= 64; size++)
		fifo_model(size);
	/* freeing a slot: the generation moves on, the slot joins the tail */
	f.head = 1;
	f.count = 2;
	CHECK(tpio_p_slot_put(&f, 4, &gen) == 3);
	CHECK(gen == TPIO_GEN_FIRST);
	CHECK(tpio_p_slot_put(&f, 4, &gen) == 0);
	CHECK(gen == 2 && f.count == 4);
}

static void counts(void)
{
	__u32 skipped = 0, cancels = 0;
	__u64 w = 0, next;

	CHECK(tpio_p_skipped_add(0, 0) == 0);
	CHECK(tpio_p_skipped_add(5, 7) == 12);
	CHECK(tpio_p_skipped_add(0xfffffffeU, 1) == 0xffffffffU);
	CHECK(tpio_p_skipped_add(0xfffffffeU, 2) == 0xffffffffU);
	CHECK(tpio_p_skipped_add(0xffffffffU, TPIO_W_MAX(PENDING)) ==
	      0xffffffffU);
	CHECK(tpio_p_skipped_add(0xffffffffU, 0) == 0xffffffffU);

	/* cancel-all: pending 5, queued 1 */
	CHECK(tpio_w_start(w, &w));
	CHECK(tpio_w_arrive(w, &w) == 1);
	for (int i = 0; i < 5; i++)
		CHECK(tpio_w_start(w, &w));
	next = tpio_w_cancel_all(w);
	tpio_p_cancel_all(w, &skipped, &cancels);
	CHECK(skipped == 5 && cancels == 1);
	CHECK(!tpio_w_pending(next) && !tpio_w_queued(next));
	CHECK(tpio_w_epoch(next) == tpio_w_epoch(w) + 1);
	skipped = 0xfffffffcU;
	tpio_p_cancel_all(w, &skipped, &cancels);
	CHECK(skipped == 0xffffffffU && cancels == 2);

	/* a skipped arrival, a dropped one; a zombie is freed at 0 */
	skipped = 2;
	CHECK(tpio_p_unqueued(&skipped) == TPIO_POSTED_SKIPPED && skipped == 1);
	CHECK(!tpio_p_free_now(1, skipped));
	CHECK(tpio_p_unqueued(&skipped) == TPIO_POSTED_SKIPPED && skipped == 0);
	CHECK(tpio_p_free_now(1, skipped));
	CHECK(!tpio_p_free_now(0, skipped));
	CHECK(tpio_p_unqueued(&skipped) == TPIO_POSTED_DROPPED && skipped == 0);
}

static void arrival_and_flush(void)
{
	struct tpio_completion c;
	struct tpio_ovf e;

	CHECK(tpio_p_arrive_to(0, 1, 4) == TPIO_P_TO_RING);
	CHECK(tpio_p_arrive_to(0, 0, 4) == TPIO_P_TO_OVERFLOW);
	/* the FIFO continues the ring: never to the ring while it holds any */
	CHECK(tpio_p_arrive_to(1, 4, 4) == TPIO_P_TO_OVERFLOW);
	CHECK(tpio_p_arrive_to(3, 0, 4) == TPIO_P_TO_OVERFLOW);
	CHECK(tpio_p_arrive_to(4, 0, 4) == TPIO_P_FULL);
	CHECK(tpio_p_arrive_to(4, 2, 4) == TPIO_P_FULL);

	memset(&e, 0, sizeof(e));
	e.io = tpio_p_handle(3, 1);
	e.cancels = 7;
	CHECK(!tpio_p_ovf_stale(&e, 1, 7));
	CHECK(tpio_p_ovf_stale(&e, 1, 8));
	CHECK(tpio_p_ovf_stale(&e, 0, 7));
	CHECK(tpio_p_flush_step(1, 0) == TPIO_P_FLUSH_DROP);
	CHECK(tpio_p_flush_step(1, 3) == TPIO_P_FLUSH_DROP);
	CHECK(tpio_p_flush_step(0, 3) == TPIO_P_FLUSH_MOVE);
	CHECK(tpio_p_flush_step(0, 0) == TPIO_P_FLUSH_STOP);

	memset(&c, 0, sizeof(c));
	c.io = e.io;
	c.status = 997;
	c.overlapped = 0x1234;
	c.information = 77;
	tpio_p_entry(&e.cqe, 0xc00c1e, 1, TPIO_W_MAX(EPOCH), &c);
	CHECK(e.cqe.cookie == 0xc00c1e && e.cqe.overlapped == 0x1234 &&
	      e.cqe.information == 77 && e.cqe.status == 997 &&
	      e.cqe.slot == 1 && e.cqe.epoch == TPIO_W_MAX(EPOCH));
}

static void sleepers(void)
{
	struct tpio_sleepers s = { NULL, 0 };
	struct tpio_sleeper n[4];

	CHECK(!tpio_p_sleeper_pick(&s));
	tpio_p_sleeper_add(&s, &n[0]);
	tpio_p_sleeper_add(&s, &n[1]);
	tpio_p_sleeper_add(&s, &n[2]);
	tpio_p_sleeper_add(&s, &n[3]);
	CHECK(s.count == 4);
	/* one leaves from the middle, then the newest and the oldest */
	tpio_p_sleeper_del(&s, &n[1]);
	CHECK(s.count == 3);
	tpio_p_sleeper_del(&s, &n[3]);
	tpio_p_sleeper_add(&s, &n[3]);
	CHECK(tpio_p_sleeper_pick(&s) == &n[3]);
	CHECK(tpio_p_sleeper_pick(&s) == &n[2]);
	tpio_p_sleeper_add(&s, &n[1]);
	CHECK(tpio_p_sleeper_pick(&s) == &n[1]);
	tpio_p_sleeper_del(&s, &n[0]);
	CHECK(s.count == 0 && !s.newest);
	CHECK(!tpio_p_sleeper_pick(&s));
}

int main(void)
{
	handles();
	ring();
	fifos();
	counts();
	arrival_and_flush();
	sleepers();
	printf("port_helpers: %u checks passed\n", checks);
	return 0;
}
