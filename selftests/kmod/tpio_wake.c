// SPDX-License-Identifier: MIT
/*
 * The wake-up protocol for work the kernel cannot see (TPIO_FEAT_WAIT_SEQ)
 * and poll() of a port (TPIO_FEAT_POLL): a poster that queued work in user
 * space bumps wake_seq in the SHARED area, then reads the ring header's
 * waiters and WAKEs when it is not 0; a worker reads wake_seq, checks for
 * work, and sleeps in WAIT with TPIO_WAIT_SEQ, which returns at once when
 * wake_seq moved. No wake-up may be lost.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdatomic.h>

#include "tpio_test.h"

static __u32 *wake_seq(struct port *p)
{
	return (__u32 *)(p->shared + p->sa.shared_off.wake_seq);
}

static __u32 waiters(struct port *p)
{
	return __atomic_load_n(ring_u32(p, p->sa.ring_off.waiters),
			       __ATOMIC_SEQ_CST);
}

static int wait_seq(int fd, __u32 seq, __u64 timeout)
{
	struct tpio_wait_args wa = {
		.timeout = timeout, .flags = TPIO_WAIT_SEQ, .seq = seq,
	};

	return ioctl(fd, TPIO_IOC_WAIT, &wa);
}

TEST(features_and_offsets)
{
	struct port p = { .fd = -1 };

	PORT_OPEN(&p, 2, 2);
	EXPECT_TRUE(p.sa.features & TPIO_FEAT_WAIT_SEQ);
	EXPECT_TRUE(p.sa.features & TPIO_FEAT_POLL);
	EXPECT_NE(0, p.sa.ring_off.waiters);
	EXPECT_GT(p.sa.ring_off.tail, p.sa.ring_off.waiters);
	EXPECT_NE(0, p.sa.shared_off.wake_seq);
	/* each on a cache line of its own: head, wake_seq, then the words */
	EXPECT_LE(p.sa.shared_off.head + 64, p.sa.shared_off.wake_seq);
	EXPECT_LE(p.sa.shared_off.wake_seq + 64, p.sa.shared_off.words);
	EXPECT_EQ(0, p.sa.shared_off.resv[0]);
	EXPECT_EQ(0, waiters(&p));
	port_close(&p);
}

TEST(wait_seq_validation)
{
	struct tpio_wait_args wa;
	struct port p = { .fd = -1 };

	PORT_OPEN(&p, 2, 2);
	memset(&wa, 0, sizeof(wa));
	wa.flags = 0x4;	/* unknown (0x2 is TPIO_WAIT_PENDING) */
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(EINVAL, errno);
	memset(&wa, 0, sizeof(wa));
	wa.seq = 1;	/* a seq without the flag */
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(EINVAL, errno);
	/* timeout 0 with the flag: a poll, nothing queued */
	EXPECT_EQ(-1, wait_seq(p.fd, *wake_seq(&p), 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	port_close(&p);
}

/* A stale seq: the worker missed a bump and must look again at once. */
TEST(wait_seq_mismatch_returns_at_once)
{
	struct port p = { .fd = -1 };
	__u64 t0;

	PORT_OPEN(&p, 2, 2);
	__atomic_store_n(wake_seq(&p), 41, __ATOMIC_SEQ_CST);
	t0 = now_ns();
	EXPECT_EQ(0, wait_seq(p.fd, 40, deadline_ms(5000)));
	EXPECT_GT(t0 + 1000000000ULL, now_ns());
	EXPECT_EQ(0, waiters(&p));
	port_close(&p);
}

struct seq_sleeper {
	pthread_t thread;
	struct port *p;
	__u32 seq;
	int ret, err;
};

static void *seq_sleeper_fn(void *arg)
{
	struct seq_sleeper *s = arg;

	s->ret = wait_seq(s->p->fd, s->seq, TPIO_INFINITE);
	s->err = errno;
	return NULL;
}

/*
 * A sleeper with the current seq stays asleep and shows in waiters; the
 * poster's bump alone does not wake it (the kernel cannot see user
 * memory change), the poster's WAKE does.
 */
TEST(wait_seq_sleeps_until_woken)
{
	struct seq_sleeper s = { 0 };
	struct port p = { .fd = -1 };

	PORT_OPEN(&p, 2, 2);
	s.p = &p;
	s.seq = *wake_seq(&p);
	ASSERT_EQ(0, pthread_create(&s.thread, NULL, seq_sleeper_fn, &s));
	ASSERT_TRUE(POLL_UNTIL(waiters(&p) == 1, RELEASE_MS));
	EXPECT_EQ(ETIMEDOUT, join_within(s.thread, BLOCKED_MS));
	__atomic_fetch_add(wake_seq(&p), 1, __ATOMIC_SEQ_CST);
	EXPECT_EQ(ETIMEDOUT, join_within(s.thread, BLOCKED_MS));
	ASSERT_EQ(1, waiters(&p));
	EXPECT_EQ(1, wake_workers(p.fd, 1));
	ASSERT_EQ(0, join_within(s.thread, RELEASE_MS));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, waiters(&p));
	port_close(&p);
}

/* A signal and a timeout take the sleeper out of waiters again. */
TEST(wait_seq_timeout_and_signal_leave_waiters)
{
	struct seq_sleeper s = { 0 };
	struct port p = { .fd = -1 };

	PORT_OPEN(&p, 2, 2);
	ASSERT_EQ(0, install_eintr_handler());
	EXPECT_EQ(-1, wait_seq(p.fd, *wake_seq(&p), deadline_ms(50)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, waiters(&p));
	s.p = &p;
	s.seq = *wake_seq(&p);
	ASSERT_EQ(0, pthread_create(&s.thread, NULL, seq_sleeper_fn, &s));
	ASSERT_TRUE(POLL_UNTIL(waiters(&p) == 1, RELEASE_MS));
	pthread_kill(s.thread, SIGUSR1);
	ASSERT_EQ(0, join_within(s.thread, RELEASE_MS));
	EXPECT_EQ(-1, s.ret);
	EXPECT_EQ(EINTR, s.err);
	EXPECT_EQ(0, waiters(&p));
	port_close(&p);
}

/*
 * No lost wake-up: a producer hands tokens to a consumer through a plain
 * counter, with the protocol (bump wake_seq, then WAKE if waiters); the
 * consumer reads wake_seq, checks the counter, sleeps with the seq. A
 * lost wake-up would leave the consumer asleep until its 5 s timeout.
 */
struct handoff {
	struct port *p;
	_Atomic unsigned long produced, consumed;
	_Atomic unsigned long rounds;	/* final once the producer stops */
	_Atomic int lost;
	unsigned long wakes, sleeps;
};

static void *consumer_fn(void *arg)
{
	struct handoff *h = arg;

	while (atomic_load(&h->consumed) < atomic_load(&h->rounds)) {
		__u32 seq = __atomic_load_n(wake_seq(h->p), __ATOMIC_SEQ_CST);

		if (atomic_load(&h->produced) > atomic_load(&h->consumed)) {
			atomic_fetch_add(&h->consumed, 1);
			continue;
		}
		h->sleeps++;
		if (wait_seq(h->p->fd, seq, deadline_ms(5000)) &&
		    errno == ETIMEDOUT) {
			atomic_store(&h->lost, 1);
			return NULL;
		}
	}
	return NULL;
}

/*
 * At most TPIO_WAKE_ROUNDS tokens (20000) or 10 s of them, whichever ends
 * first: a sleep and a wake-up cost much more on some kernels under
 * emulation (6.12: 10 times 6.1's) and the count is what matters.
 */
TEST(no_lost_wakeup)
{
	struct handoff h = { 0 };
	struct port p = { .fd = -1 };
	__u64 end = deadline_ms(10000);
	pthread_t c;
	unsigned long i, max;

	PORT_OPEN(&p, 2, 2);
	h.p = &p;
	max = env_ul("TPIO_WAKE_ROUNDS", 20000);
	atomic_store(&h.rounds, max);
	ASSERT_EQ(0, pthread_create(&c, NULL, consumer_fn, &h));
	for (i = 0; i < max && !atomic_load(&h.lost) &&
	     (i % 256 || now_ns() < end); i++) {
		/* wait until the previous token was taken: one in flight */
		while (atomic_load(&h.consumed) < i && !atomic_load(&h.lost))
			sched_yield();
		atomic_fetch_add(&h.produced, 1);
		__atomic_fetch_add(wake_seq(&p), 1, __ATOMIC_SEQ_CST);
		if (waiters(&p)) {
			wake_workers(p.fd, 1);
			h.wakes++;
		}
	}
	/* the last token's end: the consumer may sleep, the protocol again */
	atomic_store(&h.rounds, i);
	__atomic_fetch_add(wake_seq(&p), 1, __ATOMIC_SEQ_CST);
	if (waiters(&p))
		wake_workers(p.fd, 1);
	pthread_join(c, NULL);
	TH_LOG("%lu tokens, %lu consumer sleeps, %lu wakes", i, h.sleeps,
	       h.wakes);
	EXPECT_EQ(0, atomic_load(&h.lost));
	EXPECT_EQ(i, atomic_load(&h.consumed));
	EXPECT_LE(1000, i);
	port_close(&p);
}

/* poll(): readable while entries wait; a POST wakes a poller. */
struct poller {
	pthread_t thread;
	int fd, ret;
	short revents;
};

static void *poller_fn(void *arg)
{
	struct poller *pl = arg;
	struct pollfd pfd = { .fd = pl->fd, .events = POLLIN };

	pl->ret = poll(&pfd, 1, 10000);
	pl->revents = pfd.revents;
	return NULL;
}

TEST(poll_port)
{
	struct pollfd pfd;
	struct poller pl = { 0 };
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, r;

	PORT_OPEN(&p, 2, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));
	pfd.fd = p.fd;
	pfd.events = POLLIN;
	EXPECT_EQ(0, poll(&pfd, 1, 0));

	pl.fd = p.fd;
	ASSERT_EQ(0, pthread_create(&pl.thread, NULL, poller_fn, &pl));
	EXPECT_EQ(ETIMEDOUT, join_within(pl.thread, BLOCKED_MS));
	io_start(&p, io, 1);
	ASSERT_EQ(0, post_one(p.fd, io, 1, &r));
	EXPECT_EQ(TPIO_POSTED_QUEUED, r);
	ASSERT_EQ(0, join_within(pl.thread, RELEASE_MS));
	EXPECT_EQ(1, pl.ret);
	EXPECT_TRUE(pl.revents & POLLIN);

	pfd.revents = 0;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLIN);
	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	port_close(&p);
}

/* A port not set up yet polls as an error, without sleeping. */
TEST(poll_before_setup)
{
	struct pollfd pfd;
	int fd;

	OPEN_PORT(fd);
	pfd.fd = fd;
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	EXPECT_TRUE(pfd.revents & POLLERR);
	close(fd);
}

TEST_HARNESS_MAIN
