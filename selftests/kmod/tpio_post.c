// SPDX-License-Identifier: MIT
/*
 * /dev/tpio completions: POST validation and results, ring entries, the
 * overflow list and its bound, the arrival rule with skipped completions,
 * cancel of queued entries (epochs), and zombies.
 */
#define _GNU_SOURCE
#include "tpio_test.h"

static __u32 query_skipped(int fd, __u32 io)
{
	struct tpio_io_query_args qa;

	if (io_query(fd, io, &qa))
		return 0xffffffffU;
	return qa.skipped;
}


TEST(post_validation)
{
	struct tpio_completion c[TPIO_POST_MAX + 1];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	__u32 io, i;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));
	io_start(&p, io, 2);
	memset(c, 0, sizeof(c));
	for (i = 0; i <= TPIO_POST_MAX; i++)
		c[i].io = io;

	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 0;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	pa.count = TPIO_POST_MAX + 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	pa.count = 1;
	pa.pad = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	pa.pad = 0;
	pa.flags = 2;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	pa.flags = 0;
	pa.completions = 8;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	pa.completions = (uintptr_t)c;

	/* a bad pad in the last completion: nothing of the batch applies */
	pa.count = 3;
	pa.flags = TPIO_POST_RESULTS;
	c[2].pad = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	c[2].pad = 0;
	EXPECT_EQ(2, tpio_w_pending(word_load(&p, io)));
	EXPECT_EQ(0, tpio_w_queued(word_load(&p, io)));
	EXPECT_EQ(0, tail_load(&p));

	/* an unknown object in the batch: ENOENT, nothing applies */
	c[2].io = io + 0x10000;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(ENOENT, errno);
	c[2].io = io;
	EXPECT_EQ(2, tpio_w_pending(word_load(&p, io)));
	EXPECT_EQ(0, tail_load(&p));

	/* the full-size batch is legal */
	pa.count = TPIO_POST_MAX;
	pa.done = 0xcccccccc;
	EXPECT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(TPIO_POST_MAX, pa.done);
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[0].result);
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[1].result);
	for (i = 2; i < TPIO_POST_MAX; i++)
		EXPECT_EQ(TPIO_POSTED_DROPPED, c[i].result);
	EXPECT_EQ(0, tpio_w_pending(word_load(&p, io)));
	EXPECT_EQ(2, tpio_w_queued(word_load(&p, io)));
	EXPECT_EQ(2, tail_load(&p));
	port_close(&p);
}

TEST(post_results)
{
	struct tpio_completion c[3];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	struct tpio_cqe *e;
	__u32 io, res, t0;
	__u64 w0, w;

	PORT_OPEN(&p, 8, 4);
	ASSERT_EQ(0, io_create(p.fd, 0xc00c1e, &io));
	w0 = word_load(&p, io);

	/* nothing pending: dropped, nothing changes */
	res = 0xcccccccc;
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	EXPECT_EQ(TPIO_POSTED_DROPPED, res);
	EXPECT_EQ(w0, word_load(&p, io));
	EXPECT_EQ(0, tail_load(&p));

	/* Start, then the completion is queued with its entry in the ring */
	io_start(&p, io, 1);
	EXPECT_EQ(1, tpio_w_pending(word_load(&p, io)));
	t0 = tail_load(&p);
	memset(c, 0, sizeof(c));
	c[0].io = io;
	c[0].status = 995;
	c[0].overlapped = 0xdeadbeefcafeULL;
	c[0].information = 4242;
	c[0].result = 0xcccccccc;
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 1;
	pa.flags = TPIO_POST_RESULTS;
	pa.done = 0xcccccccc;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(1, pa.done);
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[0].result);
	w = word_load(&p, io);
	EXPECT_EQ(0, tpio_w_pending(w));
	EXPECT_EQ(1, tpio_w_queued(w));
	EXPECT_EQ(0, tpio_w_running(w));
	EXPECT_EQ(tpio_w_epoch(w0), tpio_w_epoch(w));
	EXPECT_EQ(t0 + 1, tail_load(&p));
	e = &ring_cqes(&p)[(tail_load(&p) - 1) & 7];
	EXPECT_EQ(0xc00c1e, e->cookie);
	EXPECT_EQ(0xdeadbeefcafeULL, e->overlapped);
	EXPECT_EQ(4242, e->information);
	EXPECT_EQ(995, e->status);
	EXPECT_EQ(TPIO_IO_SLOT(io), e->slot);
	EXPECT_EQ(tpio_w_epoch(w), e->epoch);

	/* without TPIO_POST_RESULTS the result field is left alone */
	io_start(&p, io, 1);
	c[0].result = 0xcccccccc;
	pa.flags = 0;
	pa.done = 0xcccccccc;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(1, pa.done);
	EXPECT_EQ(0xcccccccc, c[0].result);
	EXPECT_EQ(2, tpio_w_queued(word_load(&p, io)));
	EXPECT_EQ(t0 + 2, tail_load(&p));

	/* a mixed batch, in order: queued, queued, dropped */
	io_start(&p, io, 2);
	c[0].result = c[1].result = c[2].result = 0xcccccccc;
	c[1] = c[0];
	c[2] = c[0];
	c[0].overlapped = 10;
	c[1].overlapped = 11;
	c[2].overlapped = 12;
	pa.count = 3;
	pa.flags = TPIO_POST_RESULTS;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(3, pa.done);
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[0].result);
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[1].result);
	EXPECT_EQ(TPIO_POSTED_DROPPED, c[2].result);
	EXPECT_EQ(t0 + 4, tail_load(&p));
	EXPECT_EQ(10, ring_cqes(&p)[(t0 + 2) & 7].overlapped);
	EXPECT_EQ(11, ring_cqes(&p)[(t0 + 3) & 7].overlapped);
	EXPECT_EQ(4, tpio_w_queued(word_load(&p, io)));
	port_close(&p);
}

/*
 * POST with TPIO_POST_RESULTS on an array the caller cannot write: the
 * call fails with EFAULT, and then it must not have applied anything (the
 * caller cannot learn what was applied, and would post again).
 */
TEST(post_results_unwritable)
{
	struct tpio_completion *c;
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	__u32 io;
	__u64 w;
	int ret;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));
	io_start(&p, io, 2);
	c = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c);
	c[0].io = io;
	c[1].io = io;
	ASSERT_EQ(0, mprotect(c, 4096, PROT_READ));
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 2;
	pa.flags = TPIO_POST_RESULTS;
	ret = ioctl(p.fd, TPIO_IOC_POST, &pa);
	w = word_load(&p, io);
	if (ret == 0) {
		/* acceptable only if it told the truth */
		EXPECT_EQ(2, pa.done);
	} else {
		EXPECT_EQ(EFAULT, errno);
		EXPECT_EQ(2, tpio_w_pending(w));
		EXPECT_EQ(0, tpio_w_queued(w));
		EXPECT_EQ(0, tail_load(&p));
	}
	/* the same array without RESULTS is only read: it posts */
	pa.flags = 0;
	if (ret) {
		ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
		EXPECT_EQ(2, pa.done);
		EXPECT_EQ(2, tpio_w_queued(word_load(&p, io)));
	}
	munmap(c, 4096);
	port_close(&p);
}

/*
 * A full ring spills into the overflow list, which holds ring_entries
 * more; beyond that a batch is applied in part (`done` says how far) or,
 * when nothing fits, fails with EAGAIN, and nothing accepted is lost;
 * consuming and a WAIT move the overflow into the ring in FIFO order.
 */
TEST(overflow_list)
{
	struct tpio_completion c[64];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, i, next, accepted, total = 0;
	int ret;

	PORT_OPEN(&p, 4, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));
	io_start(&p, io, 64);
	memset(c, 0, sizeof(c));
	for (i = 0; i < 64; i++) {
		c[i].io = io;
		c[i].overlapped = i;
		c[i].result = 0xcccccccc;
	}
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.flags = TPIO_POST_RESULTS;

	/* fill the ring exactly */
	pa.count = 4;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(4, pa.done);
	EXPECT_EQ(4, tail_load(&p));
	EXPECT_EQ(0, ring_flags(&p) & TPIO_RING_F_OVERFLOW);
	EXPECT_EQ(0, ring_overflow(&p));

	/* one more goes to the overflow list */
	pa.completions = (uintptr_t)&c[4];
	pa.count = 1;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(TPIO_POSTED_QUEUED, c[4].result);
	EXPECT_EQ(4, tail_load(&p));
	EXPECT_EQ(TPIO_RING_F_OVERFLOW, ring_flags(&p) & TPIO_RING_F_OVERFLOW);
	EXPECT_EQ(1, ring_overflow(&p));
	EXPECT_EQ(5, tpio_w_queued(word_load(&p, io)));
	total = 5;

	/*
	 * until the bound (ring + an overflow list of ring_entries): a batch
	 * that does not fit is applied in part, `done` says how far, and
	 * the rest is untouched; a batch of which nothing fits fails with
	 * EAGAIN. Nothing accepted is lost.
	 */
	pa.completions = (uintptr_t)&c[5];
	pa.count = 59;
	pa.done = 0xcccccccc;
	ret = ioctl(p.fd, TPIO_IOC_POST, &pa);
	EXPECT_EQ(0, ret);
	accepted = pa.done;
	EXPECT_EQ(3, accepted);
	for (i = 0; i < accepted; i++)
		EXPECT_EQ(TPIO_POSTED_QUEUED, c[5 + i].result);
	EXPECT_EQ(0xcccccccc, c[5 + accepted].result);
	total += accepted;
	EXPECT_EQ(8, total);
	EXPECT_EQ(total - 4, ring_overflow(&p));

	pa.completions = (uintptr_t)&c[total];
	pa.count = 2;
	ret = ioctl(p.fd, TPIO_IOC_POST, &pa);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0xcccccccc, c[total].result);

	EXPECT_EQ(total - 4, ring_overflow(&p));
	EXPECT_EQ(total, tpio_w_queued(word_load(&p, io)));
	EXPECT_EQ(64 - total, tpio_w_pending(word_load(&p, io)));
	EXPECT_EQ(4, tail_load(&p));

	/* consume everything: FIFO across the ring and the overflow list */
	next = 0;
	while (next < total) {
		while (ring_take(&p, &e)) {
			EXPECT_EQ(next, e.overlapped);
			EXPECT_EQ(TPIO_IO_SLOT(io), e.slot);
			EXPECT_TRUE(io_begin(&p, io, e.epoch));
			io_end(&p, io);
			next++;
		}
		if (next == total)
			break;
		ASSERT_EQ(TPIO_RING_F_OVERFLOW,
			  ring_flags(&p) & TPIO_RING_F_OVERFLOW);
		/* a WAIT that does not sleep flushes the overflow list */
		ret = port_wait(p.fd, 0);
		ASSERT_EQ(0, ret);
		ASSERT_NE(0, ring_count(&p));
	}
	EXPECT_EQ(total, next);
	EXPECT_EQ(0, ring_flags(&p) & TPIO_RING_F_OVERFLOW);
	EXPECT_EQ(0, ring_overflow(&p));
	EXPECT_EQ(0, tpio_w_queued(word_load(&p, io)));
	EXPECT_EQ(0, tpio_w_running(word_load(&p, io)));
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	/* the rest of the batch posts fine now */
	pa.completions = (uintptr_t)&c[total];
	pa.count = 4;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(4, pa.done);
	for (i = 0; i < 4; i++) {
		ASSERT_TRUE(ring_take(&p, &e));
		EXPECT_EQ(total + i, e.overlapped);
	}
	port_close(&p);
}

/*
 * A head that makes no sense (ahead of the tail) reads as a full ring:
 * completions wait in the overflow list, and nothing is lost once the
 * head is sane again.
 */
TEST(garbage_head)
{
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, res, t0, i;

	PORT_OPEN(&p, 4, 2);
	ASSERT_EQ(0, io_create(p.fd, 9, &io));
	io_start(&p, io, 2);
	t0 = tail_load(&p);
	__atomic_store_n(shared_head(&p), t0 + 3, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, post_one(p.fd, io, 10 + i, &res));
		EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	}
	EXPECT_EQ(t0, tail_load(&p));
	EXPECT_EQ(2, ring_overflow(&p));
	EXPECT_EQ(TPIO_RING_F_OVERFLOW, ring_flags(&p) & TPIO_RING_F_OVERFLOW);

	__atomic_store_n(shared_head(&p), t0, __ATOMIC_RELEASE);
	EXPECT_EQ(0, port_wait(p.fd, 0));
	EXPECT_EQ(0, ring_overflow(&p));
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(ring_take(&p, &e));
		EXPECT_EQ(10 + i, e.overlapped);
		EXPECT_TRUE(io_begin(&p, io, e.epoch));
		io_end(&p, io);
	}
	EXPECT_EQ(0, word_load(&p, io) & ~EPOCH_MASK);
	port_close(&p);
}

/*
 * An object whose word already counts the most queued completions it can
 * (queued is not bounded by the ring: a library may take entries out of
 * the ring before their callbacks start): POST refuses with EAGAIN and
 * applies nothing, so the completion is never lost; once a callback
 * starts, the same post is queued.
 */
TEST(queued_limit_is_eagain)
{
	struct port p = { .fd = -1 };
	__u64 full, w;
	__u32 io, res;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	w = word_load(&p, io);
	full = w + TPIO_W_ONE(PENDING) +
	       (__u64)TPIO_W_MAX(QUEUED) * TPIO_W_ONE(QUEUED);
	__atomic_store_n(word_of(&p, io), full, __ATOMIC_SEQ_CST);

	res = 0;
	EXPECT_EQ(-1, post_one(p.fd, io, 7, &res));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(full, word_load(&p, io));
	EXPECT_EQ(0, tail_load(&p));

	/* a callback starts (queued--): now the post is applied */
	__atomic_fetch_sub(word_of(&p, io), TPIO_W_ONE(QUEUED), __ATOMIC_SEQ_CST);
	ASSERT_EQ(0, post_one(p.fd, io, 7, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	w = word_load(&p, io);
	EXPECT_EQ(0, tpio_w_pending(w));
	EXPECT_EQ(TPIO_W_MAX(QUEUED), tpio_w_queued(w));
	EXPECT_EQ(1, tail_load(&p));
	port_close(&p);
}

TEST(skip_rule)
{
	struct port p = { .fd = -1 };
	__u32 io, res;
	__u64 w0, w;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	w0 = word_load(&p, io);
	io_start(&p, io, 2);

	/* nothing queued or running: the cancel leaves it drained at once */
	ASSERT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, 0));
	w = word_load(&p, io);
	EXPECT_EQ(0, tpio_w_pending(w));
	EXPECT_EQ(0, tpio_w_queued(w));
	EXPECT_EQ(0, tpio_w_waiters(w));
	/* no queued entry was dropped: the epoch stays */
	EXPECT_EQ(tpio_w_epoch(w0), tpio_w_epoch(w));
	EXPECT_EQ(2, query_skipped(p.fd, io));

	res = 0;
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(1, query_skipped(p.fd, io));
	ASSERT_EQ(0, post_one(p.fd, io, 2, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(0, query_skipped(p.fd, io));
	ASSERT_EQ(0, post_one(p.fd, io, 3, &res));
	EXPECT_EQ(TPIO_POSTED_DROPPED, res);
	EXPECT_EQ(0, tail_load(&p));
	EXPECT_EQ(w, word_load(&p, io));

	/* with an infinite timeout it also returns at once */
	io_start(&p, io, 1);
	ASSERT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, TPIO_INFINITE));
	EXPECT_EQ(1, query_skipped(p.fd, io));
	/* a Start after the cancel is served before the skip */
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 4, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	EXPECT_EQ(1, query_skipped(p.fd, io));
	ASSERT_EQ(0, post_one(p.fd, io, 5, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(0, query_skipped(p.fd, io));
	port_close(&p);
}

TEST(cancel_drops_queued)
{
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, res, i;
	__u64 w0, w;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	w0 = word_load(&p, io);
	io_start(&p, io, 3);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	ASSERT_EQ(0, post_one(p.fd, io, 2, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	w = word_load(&p, io);
	EXPECT_EQ(2, tpio_w_queued(w));
	EXPECT_EQ(1, tpio_w_pending(w));

	ASSERT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, 0));
	w = word_load(&p, io);
	EXPECT_EQ(0, tpio_w_pending(w));
	EXPECT_EQ(0, tpio_w_queued(w));
	EXPECT_EQ((tpio_w_epoch(w0) + 1) & TPIO_W_MAX(EPOCH),
		  tpio_w_epoch(w));
	EXPECT_EQ(1, query_skipped(p.fd, io));

	/* the entries stay in the ring with the old epoch: stale */
	EXPECT_EQ(2, ring_count(&p));
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(ring_take(&p, &e));
		EXPECT_EQ(tpio_w_epoch(w0), e.epoch);
		EXPECT_FALSE(io_begin(&p, io, e.epoch));
	}
	EXPECT_EQ(w, word_load(&p, io));

	/* a new Start gets a current entry, which runs */
	ASSERT_EQ(0, post_one(p.fd, io, 3, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 4, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_EQ(4, e.overlapped);
	EXPECT_EQ(tpio_w_epoch(w), e.epoch);
	EXPECT_TRUE(io_begin(&p, io, e.epoch));
	w = word_load(&p, io);
	EXPECT_EQ(1, tpio_w_running(w));
	EXPECT_EQ(1, tpio_w_assoc(w));
	EXPECT_EQ(0, tpio_w_queued(w));
	io_end(&p, io);
	EXPECT_EQ(0, word_load(&p, io) & ~EPOCH_MASK);
	port_close(&p);
}

/* Cancel reaches entries still in the overflow list too. */
TEST(cancel_drops_overflow)
{
	struct tpio_completion c[6];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 a, b, i, ran_b = 0;
	__u64 wa;

	PORT_OPEN(&p, 2, 2);
	ASSERT_EQ(0, io_create(p.fd, 0xa, &a));
	ASSERT_EQ(0, io_create(p.fd, 0xb, &b));
	io_start(&p, a, 3);
	io_start(&p, b, 1);
	memset(c, 0, sizeof(c));
	/* ring: a0 a1; overflow: b0 a2 */
	c[0].io = a; c[0].overlapped = 0;
	c[1].io = a; c[1].overlapped = 1;
	c[2].io = b; c[2].overlapped = 100;
	c[3].io = a; c[3].overlapped = 2;
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 4;
	pa.flags = TPIO_POST_RESULTS;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	ASSERT_EQ(4, pa.done);
	EXPECT_EQ(2, ring_overflow(&p));
	EXPECT_EQ(3, tpio_w_queued(word_load(&p, a)));

	ASSERT_EQ(0, port_drain(p.fd, a, TPIO_DRAIN_CANCEL, 0));
	wa = word_load(&p, a);
	EXPECT_EQ(0, tpio_w_queued(wa));
	EXPECT_EQ(1, tpio_w_queued(word_load(&p, b)));

	/* everything of a is stale now, b's entry still runs */
	for (i = 0; i < 8; i++) {
		while (ring_take(&p, &e)) {
			if (e.slot == TPIO_IO_SLOT(a)) {
				EXPECT_FALSE(io_begin(&p, a, e.epoch));
			} else {
				EXPECT_EQ(100, e.overlapped);
				EXPECT_TRUE(io_begin(&p, b, e.epoch));
				io_end(&p, b);
				ran_b++;
			}
		}
		if (!(ring_flags(&p) & TPIO_RING_F_OVERFLOW))
			break;
		port_wait(p.fd, 0);
	}
	EXPECT_EQ(1, ran_b);
	EXPECT_EQ(0, ring_overflow(&p));
	EXPECT_EQ(wa, word_load(&p, a));
	EXPECT_EQ(0, word_load(&p, b) & ~EPOCH_MASK);
	port_close(&p);
}

TEST(zombie)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, io2, res;
	__u64 w0;

	PORT_OPEN(&p, 8, 1);
	ASSERT_EQ(0, io_create(p.fd, 0x5a, &io));
	w0 = word_load(&p, io);
	io_start(&p, io, 3);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	ASSERT_EQ(TPIO_POSTED_QUEUED, res);

	/* close: pending becomes skipped, the queued entry goes stale */
	ASSERT_EQ(0, io_close(p.fd, io));
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(TPIO_IO_F_CLOSED, qa.flags);
	EXPECT_EQ(2, qa.skipped);
	EXPECT_EQ(0x5a, qa.cookie);
	EXPECT_EQ(0, tpio_w_pending(qa.word));
	EXPECT_EQ(0, tpio_w_queued(qa.word));
	EXPECT_NE(tpio_w_epoch(w0), tpio_w_epoch(qa.word));
	/* a zombie is not live: no DRAIN; a WAKE(IO) is harmless */
	EXPECT_EQ(-1, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, io_wake(p.fd, io));
	/* a zombie takes no second close, and its slot is not free */
	EXPECT_EQ(-1, io_close(p.fd, io));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, io_create(p.fd, 1, &io2));
	EXPECT_EQ(ENOSPC, errno);

	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_FALSE(io_begin(&p, io, e.epoch));

	/*
	 * a Start after close (a caller bug) queues nothing: a zombie only
	 * swallows, since its cookie may name freed memory
	 */
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 2, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(0, ring_count(&p));
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(1, qa.skipped);
	ASSERT_EQ(0, post_one(p.fd, io, 3, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	/* the last skipped completion freed it */
	EXPECT_EQ(-1, io_query(p.fd, io, &qa));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, post_one(p.fd, io, 4, &res));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, ring_count(&p));

	ASSERT_EQ(0, io_create(p.fd, 2, &io2));
	EXPECT_NE(io, io2);
	EXPECT_EQ(0, word_load(&p, io2) & ~EPOCH_MASK);
	port_close(&p);
}

/* A batch whose skipped completions free a zombie half-way. */
TEST(zombie_freed_mid_batch)
{
	struct tpio_completion c[3];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 2);
	ASSERT_EQ(0, io_close(p.fd, io));
	memset(c, 0, sizeof(c));
	c[0].io = c[1].io = c[2].io = io;
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 3;
	pa.flags = TPIO_POST_RESULTS;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(3, pa.done);
	EXPECT_EQ(TPIO_POSTED_SKIPPED, c[0].result);
	EXPECT_EQ(TPIO_POSTED_SKIPPED, c[1].result);
	EXPECT_EQ(TPIO_POSTED_DROPPED, c[2].result);
	EXPECT_EQ(-1, io_close(p.fd, io));
	EXPECT_EQ(ENOENT, errno);
	port_close(&p);
}

TEST_HARNESS_MAIN
