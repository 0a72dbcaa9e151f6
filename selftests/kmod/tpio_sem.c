// SPDX-License-Identifier: MIT
/*
 * /dev/tpio sleeps and wake-ups: drain waits (WAITERS, WAKE, timeouts,
 * signals, GROUP and SELF, close) and worker waits (LIFO, WAKE_WORKERS,
 * wake-ups per queued completion).
 */
#define _GNU_SOURCE
#include "tpio_test.h"

/* A drain sleeper: TPIO_IOC_DRAIN on its own thread. */
struct drainer {
	struct blocked_call call;
	struct tpio_drain_args args;
};

static int drainer_start(struct drainer *d, int fd, __u32 io, __u32 flags,
			 __u64 timeout)
{
	d->args.io = io;
	d->args.flags = flags;
	d->args.timeout = timeout;
	return blocked_call_start(&d->call, fd, TPIO_IOC_DRAIN, &d->args);
}

static int waiters_seen(struct port *p, __u32 io)
{
	return tpio_w_waiters(word_load(p, io));
}

TEST(drain_blocks_until_wake)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 2);

	/* not drained: pending 2 */
	EXPECT_EQ(-1, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, waiters_seen(&p, io));

	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(1, qa.waiters);
	EXPECT_TRUE(tpio_w_waiters(qa.word));

	/* a WAKE while not drained: the sleeper rechecks and sleeps on */
	EXPECT_EQ(1, io_cancel(&p, io));
	EXPECT_LE(0, io_wake(p.fd, io));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	EXPECT_TRUE(waiters_seen(&p, io));

	/* Cancel drains it; WAITERS is set, so the canceller WAKEs */
	EXPECT_EQ(1, io_cancel(&p, io));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d.call.ret);
	EXPECT_EQ(0, waiters_seen(&p, io));
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(0, qa.waiters);
	EXPECT_EQ(0, qa.word & ~EPOCH_MASK);
	port_close(&p);
}

/* Two sleepers on one object: one WAKE releases both. */
TEST(drain_two_sleepers)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	struct drainer d1, d2;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 1);
	ASSERT_EQ(0, drainer_start(&d1, p.fd, io, 0, TPIO_INFINITE));
	ASSERT_EQ(0, drainer_start(&d2, p.fd, io, TPIO_DRAIN_GROUP,
				   TPIO_INFINITE));
	ASSERT_TRUE(POLL_UNTIL(!io_query(p.fd, io, &qa) && qa.waiters == 2,
			       RELEASE_MS * 2));
	EXPECT_EQ(ETIMEDOUT, join_within(d1.call.thread, BLOCKED_MS));
	EXPECT_EQ(ETIMEDOUT, join_within(d2.call.thread, BLOCKED_MS));
	EXPECT_EQ(1, io_cancel(&p, io));
	ASSERT_EQ(0, join_within(d1.call.thread, RELEASE_MS));
	ASSERT_EQ(0, join_within(d2.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d1.call.ret);
	EXPECT_EQ(0, d2.call.ret);
	EXPECT_EQ(0, waiters_seen(&p, io));
	port_close(&p);
}

TEST(drain_timeout)
{
	struct port p = { .fd = -1 };
	__u64 t0, t1;
	__u32 io;
	int ret;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 1);

	t0 = now_ns();
	ret = port_drain(p.fd, io, 0, t0 + 200000000ULL);
	t1 = now_ns();
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(t0 + 200000000ULL, t1);
	EXPECT_EQ(0, waiters_seen(&p, io));

	/* a deadline in the past: at once */
	ret = port_drain(p.fd, io, 0, 1);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, waiters_seen(&p, io));
	EXPECT_EQ(1, tpio_w_pending(word_load(&p, io)));
	port_close(&p);
}

TEST(drain_signal)
{
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, install_eintr_handler());
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 1);
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_EQ(0, pthread_kill(d.call.thread, SIGUSR1));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(-1, d.call.ret);
	EXPECT_EQ(EINTR, d.call.err);
	EXPECT_EQ(0, waiters_seen(&p, io));
	EXPECT_EQ(1, tpio_w_pending(word_load(&p, io)));
	port_close(&p);
}

/* Starts one callback: Start, POST, take the entry, begin. */
static void run_callback_begin(struct __test_metadata *_metadata,
			       struct port *p, __u32 io)
{
	struct tpio_cqe e;
	__u32 res;

	io_start(p, io, 1);
	ASSERT_EQ(0, post_one(p->fd, io, 7, &res));
	ASSERT_EQ(TPIO_POSTED_QUEUED, res);
	ASSERT_TRUE(ring_take(p, &e));
	ASSERT_TRUE(io_begin(p, io, e.epoch));
}

/*
 * DRAIN with CANCEL applies the cancel even when the wait itself times
 * out on a running callback: pending became skipped, queued went stale.
 */
TEST(drain_cancel_then_timeout)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	__u32 io, res;
	__u64 w;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	run_callback_begin(_metadata, &p, io);
	io_start(&p, io, 3);
	ASSERT_EQ(0, post_one(p.fd, io, 2, &res));
	ASSERT_EQ(TPIO_POSTED_QUEUED, res);
	EXPECT_EQ(-1, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(2, qa.skipped);
	w = qa.word;
	EXPECT_EQ(0, tpio_w_pending(w));
	EXPECT_EQ(0, tpio_w_queued(w));
	EXPECT_EQ(1, tpio_w_running(w));
	EXPECT_EQ(0, tpio_w_waiters(w));
	io_end(&p, io);
	EXPECT_EQ(0, port_drain(p.fd, io, 0, 0));
	port_close(&p);
}

/*
 * With an SA_RESTART handler a signal does not end the waits: they restart
 * (their timeouts are absolute) and still return 0 on the real wake-up,
 * or ETIMEDOUT at the original deadline.
 */
TEST(signal_restart)
{
	struct tpio_wait_args wa = { .timeout = TPIO_INFINITE };
	struct port p = { .fd = -1 };
	struct blocked_call w;
	struct drainer d;
	__u64 t0, t1;
	__u32 io, res;
	int ret;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, install_handler(SA_RESTART));
	ASSERT_EQ(0, io_create(p.fd, 1, &io));

	io_start(&p, io, 1);
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	ASSERT_EQ(0, pthread_kill(d.call.thread, SIGUSR1));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	EXPECT_EQ(1, io_cancel(&p, io));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d.call.ret);

	ASSERT_EQ(0, blocked_call_start(&w, p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(ETIMEDOUT, join_within(w.thread, BLOCKED_MS));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	EXPECT_EQ(ETIMEDOUT, join_within(w.thread, BLOCKED_MS));
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	ASSERT_EQ(0, join_within(w.thread, RELEASE_MS));
	EXPECT_EQ(0, w.ret);

	/* a restarted timed wait keeps its deadline */
	io_start(&p, io, 1);
	t0 = now_ns();
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, t0 + 400000000ULL));
	usleep(100000);
	pthread_kill(d.call.thread, SIGUSR1);
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	t1 = now_ns();
	ret = d.call.ret;
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ETIMEDOUT, d.call.err);
	EXPECT_LE(t0 + 400000000ULL, t1);
	port_close(&p);
}

TEST(drain_group_and_self)
{
	struct port p = { .fd = -1 };
	struct drainer d;
	__u64 w;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	run_callback_begin(_metadata, &p, io);
	w = word_load(&p, io);
	ASSERT_EQ(1, tpio_w_running(w));
	ASSERT_EQ(1, tpio_w_assoc(w));

	/* a running, associated callback holds both kinds of drain */
	EXPECT_EQ(-1, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, port_drain(p.fd, io, TPIO_DRAIN_GROUP, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	/* ... unless the caller is that callback */
	EXPECT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_SELF, 0));
	EXPECT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_SELF | TPIO_DRAIN_GROUP,
				0));
	EXPECT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_SELF | TPIO_DRAIN_CANCEL,
				TPIO_INFINITE));

	/* disassociated: the plain drain is satisfied, the group one not */
	__atomic_fetch_sub(word_of(&p, io), tpio_w_disassoc_delta(),
			   __ATOMIC_SEQ_CST);
	EXPECT_EQ(0, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(-1, port_drain(p.fd, io, TPIO_DRAIN_GROUP, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, drainer_start(&d, p.fd, io, TPIO_DRAIN_GROUP,
				   TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));

	/* the callback ends (not associated any more): WAKE */
	w = __atomic_sub_fetch(word_of(&p, io), tpio_w_end_delta(0),
			       __ATOMIC_SEQ_CST);
	EXPECT_TRUE(tpio_w_drained(w, TPIO_DRAIN_GROUP));
	EXPECT_TRUE(tpio_w_waiters(w));
	EXPECT_LE(0, io_wake(p.fd, io));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d.call.ret);
	EXPECT_EQ(0, word_load(&p, io) & ~EPOCH_MASK);
	port_close(&p);
}

/*
 * DRAIN_SELF from inside one of two running callbacks: it waits for the
 * other one only, and the other one's end (which leaves exactly one
 * associated callback) must wake it.
 */
TEST(drain_self_waits_for_others)
{
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	run_callback_begin(_metadata, &p, io);
	run_callback_begin(_metadata, &p, io);
	ASSERT_EQ(2, tpio_w_running(word_load(&p, io)));
	EXPECT_EQ(-1, port_drain(p.fd, io, TPIO_DRAIN_SELF, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, drainer_start(&d, p.fd, io, TPIO_DRAIN_SELF,
				   TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	io_end(&p, io);
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d.call.ret);
	EXPECT_EQ(1, tpio_w_running(word_load(&p, io)));
	io_end(&p, io);
	port_close(&p);
}

/* A plain drain sleeper is released by a callback's end (assoc 0). */
TEST(drain_released_by_callback_end)
{
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	run_callback_begin(_metadata, &p, io);
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	io_end(&p, io);
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(0, d.call.ret);
	port_close(&p);
}

/* IO_CLOSE while a drain sleeper waits: the sleeper gets ENOENT. */
TEST(drain_close_wakes)
{
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	run_callback_begin(_metadata, &p, io);
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	ASSERT_EQ(0, io_close(p.fd, io));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(-1, d.call.ret);
	EXPECT_EQ(ENOENT, d.call.err);
	EXPECT_EQ(-1, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	port_close(&p);
}

/* Same with pending I/O: close turns it into a zombie; ENOENT too. */
TEST(drain_close_pending_wakes)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	struct drainer d;
	__u32 io, res;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 1);
	ASSERT_EQ(0, drainer_start(&d, p.fd, io, 0, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(d.call.thread, BLOCKED_MS));
	ASSERT_TRUE(POLL_UNTIL(waiters_seen(&p, io), RELEASE_MS));
	ASSERT_EQ(0, io_close(p.fd, io));
	ASSERT_EQ(0, join_within(d.call.thread, RELEASE_MS));
	EXPECT_EQ(-1, d.call.ret);
	EXPECT_EQ(ENOENT, d.call.err);
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(TPIO_IO_F_CLOSED, qa.flags);
	EXPECT_EQ(1, qa.skipped);
	EXPECT_EQ(0, qa.waiters);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(-1, io_query(p.fd, io, &qa));
	EXPECT_EQ(ENOENT, errno);
	port_close(&p);
}

/* A worker sleeper: TPIO_IOC_WAIT on its own thread. */
struct waiter {
	struct blocked_call call;
	struct tpio_wait_args args;
};

static int waiter_start(struct waiter *w, int fd, __u64 timeout)
{
	memset(&w->args, 0, sizeof(w->args));
	w->args.timeout = timeout;
	return blocked_call_start(&w->call, fd, TPIO_IOC_WAIT, &w->args);
}

TEST(wait_timeout)
{
	struct port p = { .fd = -1 };
	__u64 t0, t1;
	int ret;

	PORT_OPEN(&p, 8, 2);
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	t0 = now_ns();
	ret = port_wait(p.fd, t0 + 200000000ULL);
	t1 = now_ns();
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_LE(t0 + 200000000ULL, t1);
	EXPECT_EQ(-1, port_wait(p.fd, 1));
	EXPECT_EQ(ETIMEDOUT, errno);
	port_close(&p);
}

TEST(wait_returns_with_entries)
{
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, res;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	ASSERT_EQ(TPIO_POSTED_QUEUED, res);
	EXPECT_EQ(0, port_wait(p.fd, 0));
	EXPECT_EQ(0, port_wait(p.fd, TPIO_INFINITE));
	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	port_close(&p);
}

TEST(wait_released_by_post)
{
	struct port p = { .fd = -1 };
	struct waiter w;
	__u32 io, res;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, waiter_start(&w, p.fd, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(w.call.thread, BLOCKED_MS));

	/* a dropped completion queues nothing: nobody is woken */
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	EXPECT_EQ(TPIO_POSTED_DROPPED, res);
	EXPECT_EQ(ETIMEDOUT, join_within(w.call.thread, BLOCKED_MS));

	/* nor a skipped one */
	io_start(&p, io, 1);
	ASSERT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, 0));
	ASSERT_EQ(0, post_one(p.fd, io, 2, &res));
	EXPECT_EQ(TPIO_POSTED_SKIPPED, res);
	EXPECT_EQ(ETIMEDOUT, join_within(w.call.thread, BLOCKED_MS));

	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 3, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	ASSERT_EQ(0, join_within(w.call.thread, RELEASE_MS));
	EXPECT_EQ(0, w.call.ret);
	port_close(&p);
}

TEST(wait_signal)
{
	struct port p = { .fd = -1 };
	struct waiter w;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, install_eintr_handler());
	ASSERT_EQ(0, waiter_start(&w, p.fd, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(w.call.thread, BLOCKED_MS));
	ASSERT_EQ(0, pthread_kill(w.call.thread, SIGUSR1));
	ASSERT_EQ(0, join_within(w.call.thread, RELEASE_MS));
	EXPECT_EQ(-1, w.call.ret);
	EXPECT_EQ(EINTR, w.call.err);
	/* the interrupted sleeper left the list: a wake finds nobody */
	EXPECT_EQ(0, wake_workers(p.fd, 1));
	port_close(&p);
}

/* One queued completion wakes the most recent sleeper only. */
TEST(wait_lifo)
{
	struct port p = { .fd = -1 };
	struct waiter older, newer;
	__u32 io, res;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, waiter_start(&older, p.fd, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(older.call.thread, BLOCKED_MS));
	ASSERT_EQ(0, waiter_start(&newer, p.fd, TPIO_INFINITE));
	EXPECT_EQ(ETIMEDOUT, join_within(newer.call.thread, BLOCKED_MS));

	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &res));
	ASSERT_EQ(TPIO_POSTED_QUEUED, res);
	ASSERT_EQ(0, join_within(newer.call.thread, RELEASE_MS));
	EXPECT_EQ(0, newer.call.ret);
	EXPECT_EQ(ETIMEDOUT, join_within(older.call.thread, BLOCKED_MS));

	EXPECT_EQ(1, wake_workers(p.fd, 5));
	ASSERT_EQ(0, join_within(older.call.thread, RELEASE_MS));
	EXPECT_EQ(0, older.call.ret);
	port_close(&p);
}

/* WAKE_WORKERS wakes up to count sleepers, newest first, and says how many. */
TEST(wake_workers_count)
{
	struct port p = { .fd = -1 };
	struct waiter w[3];
	int i;

	PORT_OPEN(&p, 8, 2);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, waiter_start(&w[i], p.fd, TPIO_INFINITE));
		EXPECT_EQ(ETIMEDOUT, join_within(w[i].call.thread,
						 BLOCKED_MS));
	}
	EXPECT_EQ(2, wake_workers(p.fd, 2));
	ASSERT_EQ(0, join_within(w[2].call.thread, RELEASE_MS));
	ASSERT_EQ(0, join_within(w[1].call.thread, RELEASE_MS));
	EXPECT_EQ(0, w[2].call.ret);
	EXPECT_EQ(0, w[1].call.ret);
	EXPECT_EQ(ETIMEDOUT, join_within(w[0].call.thread, BLOCKED_MS));
	EXPECT_EQ(1, wake_workers(p.fd, 0xffffffffU));
	ASSERT_EQ(0, join_within(w[0].call.thread, RELEASE_MS));
	EXPECT_EQ(0, w[0].call.ret);
	EXPECT_EQ(0, wake_workers(p.fd, 1));
	port_close(&p);
}

/* A POST of n queued completions wakes at most n sleepers. */
TEST(post_wakes_per_completion)
{
	struct tpio_completion c[2];
	struct tpio_post_args pa;
	struct port p = { .fd = -1 };
	struct waiter w[3];
	__u32 io;
	int i;

	PORT_OPEN(&p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, waiter_start(&w[i], p.fd, TPIO_INFINITE));
		EXPECT_EQ(ETIMEDOUT, join_within(w[i].call.thread,
						 BLOCKED_MS));
	}
	io_start(&p, io, 2);
	memset(c, 0, sizeof(c));
	c[0].io = c[1].io = io;
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 2;
	ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
	ASSERT_EQ(0, join_within(w[2].call.thread, RELEASE_MS));
	ASSERT_EQ(0, join_within(w[1].call.thread, RELEASE_MS));
	EXPECT_EQ(ETIMEDOUT, join_within(w[0].call.thread, BLOCKED_MS));
	EXPECT_EQ(1, wake_workers(p.fd, 1));
	ASSERT_EQ(0, join_within(w[0].call.thread, RELEASE_MS));
	port_close(&p);
}

TEST_HARNESS_MAIN
