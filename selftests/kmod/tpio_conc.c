// SPDX-License-Identifier: MIT
/*
 * Concurrency control (TPIO_FEAT_CONC, TPIO_IOC_CONC): attached worker
 * threads count as active while they run outside TPIO_IOC_WAIT; a block
 * of one releases exactly one sleeper when completions wait; a port with a
 * value picks no more sleepers while the value's worth run; attachments of
 * threads that exit, exec or fork, and of ports closed meanwhile, go away
 * cleanly (the VM stage then checks the kernel log, kmemleak and rmmod).
 * switch_cost prints what the scheduler hooks cost per context switch.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>
#include <stdatomic.h>

#include "tpio_test.h"

static int conc(int fd, __u32 op, __u32 value, struct tpio_conc_args *out)
{
	struct tpio_conc_args a = { .op = op, .value = value };
	int ret = ioctl(fd, TPIO_IOC_CONC, &a);

	if (out)
		*out = a;
	return ret;
}

static struct tpio_conc_args counts(int fd)
{
	struct tpio_conc_args a;

	if (conc(fd, TPIO_CONC_QUERY, 0, &a))
		memset(&a, 0xff, sizeof(a));
	return a;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Polls @cond (an expression) for up to RELEASE_MS; its last value. */
#define EVENTUALLY(cond) ({						\
	int __i, __ok = 0;						\
	for (__i = 0; __i < RELEASE_MS / 5; __i++) {			\
		__ok = (cond);						\
		if (__ok)						\
			break;						\
		sleep_ms(5);						\
	}								\
	__ok;								\
})

/* Queues @n completions on @io (Start, then POST). */
static int post_n(struct port *p, __u32 io, int n)
{
	__u32 r;
	int i;

	for (i = 0; i < n; i++) {
		io_start(p, io, 1);
		if (post_one(p->fd, io, i + 1, &r) || r != TPIO_POSTED_QUEUED)
			return -1;
	}
	return 0;
}

TEST(feature_and_validation)
{
	struct tpio_conc_args a;
	struct port p = { .fd = -1 };
	int fd;

	OPEN_PORT(fd);
	/* before SETUP: like every ioctl but VERSION and SETUP */
	EXPECT_EQ(-1, conc(fd, TPIO_CONC_QUERY, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	close(fd);

	PORT_OPEN(&p, 8, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC (no preempt notifiers)");
	EXPECT_EQ(-1, conc(p.fd, 0, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, conc(p.fd, 5, 0, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, conc(p.fd, TPIO_CONC_QUERY, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, conc(p.fd, TPIO_CONC_SET, TPIO_CONC_MAX + 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	memset(&a, 0, sizeof(a));
	a.op = TPIO_CONC_QUERY;
	a.reserved = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_CONC, &a));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_CONC, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 3, &a));
	EXPECT_EQ(3, a.value);
	EXPECT_EQ(0, a.attached);
	EXPECT_EQ(0, a.active);

	/* attach, twice, detach, twice */
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_ATTACH, 0, &a));
	EXPECT_EQ(1, a.attached);
	EXPECT_EQ(1, a.active);
	EXPECT_EQ(0, a.blocked);
	EXPECT_EQ(-1, conc(p.fd, TPIO_CONC_ATTACH, 0, NULL));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_DETACH, 0, &a));
	EXPECT_EQ(0, a.attached);
	EXPECT_EQ(0, a.active);
	EXPECT_EQ(-1, conc(p.fd, TPIO_CONC_DETACH, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
out:
	port_close(&p);
}

TEST(attach_limit_per_thread)
{
	struct port p[TPIO_CONC_TASK_MAX + 1];
	int i;

	for (i = 0; i <= TPIO_CONC_TASK_MAX; i++) {
		p[i].fd = -1;
		PORT_OPEN(&p[i], 2, 1);
	}
	if (!(p[0].sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	for (i = 0; i < TPIO_CONC_TASK_MAX; i++)
		ASSERT_EQ(0, conc(p[i].fd, TPIO_CONC_ATTACH, 0, NULL));
	EXPECT_EQ(-1, conc(p[i].fd, TPIO_CONC_ATTACH, 0, NULL));
	EXPECT_EQ(ENOSPC, errno);
	for (i = 0; i < TPIO_CONC_TASK_MAX; i++)
		ASSERT_EQ(0, conc(p[i].fd, TPIO_CONC_DETACH, 0, NULL));
out:
	for (i = 0; i <= TPIO_CONC_TASK_MAX; i++)
		port_close(&p[i]);
}

/*
 * A worker: attached, it WAITs (no timeout) and, once back, takes an entry
 * and counts it; its "callback" then spins, never blocking, until @stop.
 * The test stops the workers with the value off and a WAKE.
 */
struct worker {
	pthread_t th;
	struct port *p;
	atomic_int took;	/* entries taken */
	atomic_int stop;
	int attach_ret;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct tpio_cqe c;

	w->attach_ret = conc(w->p->fd, TPIO_CONC_ATTACH, 0, NULL);
	if (w->attach_ret)
		return NULL;
	while (!atomic_load(&w->stop)) {
		if (port_wait(w->p->fd, TPIO_INFINITE) ||
		    !ring_take(w->p, &c))
			continue;
		atomic_fetch_add(&w->took, 1);
		while (!atomic_load(&w->stop))
			;
	}
	conc(w->p->fd, TPIO_CONC_DETACH, 0, NULL);
	return NULL;
}

static void workers_start(struct __test_metadata *_metadata,
			  struct port *p, struct worker *w, int n)
{
	int i;

	memset(w, 0, n * sizeof(*w));
	for (i = 0; i < n; i++) {
		w[i].p = p;
		ASSERT_EQ(0, pthread_create(&w[i].th, NULL, worker_fn, &w[i]));
	}
}

static void workers_stop(struct __test_metadata *_metadata,
			 struct port *p, struct worker *w, int n)
{
	int i;

	for (i = 0; i < n; i++)
		atomic_store(&w[i].stop, 1);
	ASSERT_EQ(0, conc(p->fd, TPIO_CONC_SET, 0, NULL));
	wake_workers(p->fd, n);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, join_within(w[i].th, RELEASE_MS));
		EXPECT_EQ(0, w[i].attach_ret);
	}
}

/*
 * A thread that is active without blocking: attached, it spins (never
 * sleeps) until told to stop; a block counts once stopped.
 */
struct spinner {
	pthread_t th;
	struct port *p;
	atomic_int ready;
	atomic_int stop;
	int block;		/* then blocks on this pipe (or -1) */
};

static void *spinner_fn(void *arg)
{
	struct spinner *s = arg;
	char b;

	if (conc(s->p->fd, TPIO_CONC_ATTACH, 0, NULL))
		return NULL;
	atomic_store(&s->ready, 1);
	while (!atomic_load(&s->stop))
		;
	if (s->block >= 0 && read(s->block, &b, 1) != 1)
		return NULL;
	conc(s->p->fd, TPIO_CONC_DETACH, 0, NULL);
	return NULL;
}

/* @s spins attached to @p (then blocks on @block, or -1) */
static void spinner_start(struct __test_metadata *_metadata,
			  struct spinner *s, struct port *p, int block)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->block = block;
	ASSERT_EQ(0, pthread_create(&s->th, NULL, spinner_fn, s));
	ASSERT_TRUE(EVENTUALLY(atomic_load(&s->ready)));
}

static int sleepers(struct port *p)
{
	return __atomic_load_n(ring_u32(p, p->sa.ring_off.waiters),
			       __ATOMIC_SEQ_CST);
}

static int took(struct worker *w, int n)
{
	int i, t = 0;

	for (i = 0; i < n; i++)
		t += atomic_load(&w[i].took);
	return t;
}

/*
 * Value 1: a spinning attached thread takes the place; completions wait
 * and 3 attached workers sleep. When the spinner blocks, exactly one
 * sleeper is released; when it runs again the count is over the value
 * and nothing more is handed out, until the released worker waits again.
 */
TEST(block_releases_exactly_one)
{
	struct port p = { .fd = -1 };
	struct worker w[3];
	struct spinner s;
	int pipefd[2];
	__u32 io;

	PORT_OPEN(&p, 16, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));

	spinner_start(_metadata, &s, &p, pipefd[0]);

	workers_start(_metadata, &p, w, 3);
	ASSERT_TRUE(EVENTUALLY(sleepers(&p) == 3));
	EXPECT_EQ(1, counts(p.fd).active);

	/* nothing blocks: the value's worth runs, nothing is picked */
	ASSERT_EQ(0, post_n(&p, io, 3));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(0, took(w, 3));
	EXPECT_EQ(3, sleepers(&p));
	EXPECT_EQ(0, counts(p.fd).released);

	/* the spinner blocks on the pipe: one sleeper is released */
	atomic_store(&s.stop, 1);
	ASSERT_TRUE(EVENTUALLY(took(w, 3) == 1));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(1, took(w, 3));
	EXPECT_EQ(2, sleepers(&p));
	EXPECT_EQ(1, counts(p.fd).released);
	EXPECT_EQ(1, counts(p.fd).blocked);
	EXPECT_EQ(1, counts(p.fd).active);

	/*
	 * The blocker runs again, over the value: it detaches, and until
	 * then nothing more is handed out (a WAKE picks nobody).
	 */
	ASSERT_EQ(0, wake_workers(p.fd, 1));
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(0, join_within(s.th, RELEASE_MS));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(1, took(w, 3));
	EXPECT_EQ(2, sleepers(&p));
	EXPECT_EQ(1, counts(p.fd).released);

	workers_stop(_metadata, &p, w, 3);
	EXPECT_EQ(0, counts(p.fd).attached);
	EXPECT_EQ(0, counts(p.fd).active);
	EXPECT_EQ(0, counts(p.fd).blocked);
	EXPECT_EQ(0, counts(p.fd).woken);
	close(pipefd[0]);
	close(pipefd[1]);
out:
	port_close(&p);
}

/*
 * Value 2, 4 attached sleepers, 4 completions: POST picks 2, which run
 * (spin) without blocking; the others stay asleep, and a worker that
 * comes back from a WAIT while 2 run is not handed an entry.
 */
TEST(no_more_than_value_run)
{
	struct port p = { .fd = -1 };
	struct worker w[4];
	__u32 io;

	PORT_OPEN(&p, 16, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 2, NULL));
	workers_start(_metadata, &p, w, 4);
	ASSERT_TRUE(EVENTUALLY(sleepers(&p) == 4));
	ASSERT_EQ(0, post_n(&p, io, 4));
	EXPECT_TRUE(EVENTUALLY(took(w, 4) == 2))
		TH_LOG("took %d, sleepers %d, active %u, woken %u",
		       took(w, 4), sleepers(&p), counts(p.fd).active,
		       counts(p.fd).woken);
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(2, took(w, 4));
	EXPECT_EQ(2, sleepers(&p));
	EXPECT_EQ(2, counts(p.fd).active);
	EXPECT_EQ(0, counts(p.fd).woken);
	/* a WAIT with entries in the ring: not admitted, it times out */
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_ATTACH, 0, NULL));
	EXPECT_EQ(-1, port_wait(p.fd, deadline_ms(50)));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_DETACH, 0, NULL));
	/* unattached it counts nowhere, but is governed all the same */
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	workers_stop(_metadata, &p, w, 4);
	EXPECT_EQ(0, counts(p.fd).attached);
	EXPECT_EQ(0, counts(p.fd).woken);
out:
	port_close(&p);
}

/*
 * Value 1 with a spinning attached thread and 3 sleepers, 3 entries
 * waiting: raising the value to 2 releases exactly one sleeper.
 */
TEST(raising_the_value_releases)
{
	struct port p = { .fd = -1 };
	struct worker w[3];
	struct spinner s;
	__u32 io;

	PORT_OPEN(&p, 16, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	spinner_start(_metadata, &s, &p, -1);
	workers_start(_metadata, &p, w, 3);
	ASSERT_TRUE(EVENTUALLY(sleepers(&p) == 3));
	ASSERT_EQ(0, post_n(&p, io, 3));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(0, took(w, 3));

	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 2, NULL));
	ASSERT_TRUE(EVENTUALLY(took(w, 3) == 1));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(1, took(w, 3));
	EXPECT_EQ(2, sleepers(&p));

	atomic_store(&s.stop, 1);
	ASSERT_EQ(0, join_within(s.th, RELEASE_MS));
	workers_stop(_metadata, &p, w, 3);
	EXPECT_EQ(0, counts(p.fd).attached);
out:
	port_close(&p);
}

/*
 * Work queued in user memory (TPIO_FEAT_WAIT_SEQ): a poster bumped
 * wake_seq but did not WAKE, the value being reached. When the running
 * worker blocks, the sleeper whose seq is behind is released.
 */
struct flag_sleeper {
	struct port *p;
	__u32 flags;		/* of its WAITs */
	__u32 seq;		/* with TPIO_WAIT_SEQ */
	__u32 timeout0_err;	/* errno of a first WAIT with timeout 0 */
	int ret;
	atomic_int back;
};

static int wait_flags(int fd, __u64 timeout, __u32 flags, __u32 seq)
{
	struct tpio_wait_args wa = {
		.timeout = timeout, .flags = flags, .seq = seq,
	};

	return ioctl(fd, TPIO_IOC_WAIT, &wa);
}

/* attached: a WAIT with timeout 0, then one without a timeout */
static void *flag_sleeper_fn(void *arg)
{
	struct flag_sleeper *q = arg;

	q->ret = conc(q->p->fd, TPIO_CONC_ATTACH, 0, NULL);
	if (!q->ret) {
		if (wait_flags(q->p->fd, 0, q->flags, q->seq))
			q->timeout0_err = errno;
		q->ret = wait_flags(q->p->fd, TPIO_INFINITE, q->flags, q->seq);
	}
	atomic_store(&q->back, 1);
	conc(q->p->fd, TPIO_CONC_DETACH, 0, NULL);
	return NULL;
}

TEST(block_releases_for_user_queued_work)
{
	struct port p = { .fd = -1 };
	struct flag_sleeper q;
	struct spinner s;
	pthread_t th;
	int pipefd[2];
	__u32 *seq;

	PORT_OPEN(&p, 16, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	seq = (__u32 *)(p.shared + p.sa.shared_off.wake_seq);

	spinner_start(_metadata, &s, &p, pipefd[0]);

	memset(&q, 0, sizeof(q));
	q.p = &p;
	q.flags = TPIO_WAIT_SEQ;
	q.seq = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
	ASSERT_EQ(0, pthread_create(&th, NULL, flag_sleeper_fn, &q));
	ASSERT_TRUE(EVENTUALLY(sleepers(&p) == 1));
	/* the poster: work queued, value reached, no WAKE */
	__atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&q.back));

	atomic_store(&s.stop, 1);
	ASSERT_EQ(0, join_within(th, RELEASE_MS));
	EXPECT_EQ(0, q.ret);
	EXPECT_EQ(ETIMEDOUT, q.timeout0_err);
	EXPECT_EQ(1, counts(p.fd).released);
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(0, join_within(s.th, RELEASE_MS));
	EXPECT_EQ(0, counts(p.fd).attached);
	close(pipefd[0]);
	close(pipefd[1]);
out:
	port_close(&p);
}

/*
 * TPIO_WAIT_PENDING: a worker that the value refused leaves work in its
 * own memory (no ring entry, wake_seq unchanged) and says so. Value 1, an
 * attached spinner runs: the pending WAIT of another attached thread
 * sleeps (with timeout 0, ETIMEDOUT); when the spinner blocks, the block
 * releases it. While the spinner stays blocked, a pending WAIT returns at
 * once, a plain one does not. With the value 0, PENDING changes nothing.
 */
TEST(block_releases_a_pending_sleeper)
{
	struct port p = { .fd = -1 };
	struct flag_sleeper q;
	struct spinner s;
	pthread_t th;
	int pipefd[2];

	PORT_OPEN(&p, 16, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC_PENDING))
		SKIP(goto out, "no TPIO_FEAT_CONC_PENDING");
	ASSERT_EQ(0, pipe(pipefd));

	/* value 0: a pending WAIT is a plain one */
	EXPECT_EQ(-1, wait_flags(p.fd, 0, TPIO_WAIT_PENDING, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	spinner_start(_metadata, &s, &p, pipefd[0]);

	memset(&q, 0, sizeof(q));
	q.p = &p;
	q.flags = TPIO_WAIT_PENDING;
	ASSERT_EQ(0, pthread_create(&th, NULL, flag_sleeper_fn, &q));
	ASSERT_TRUE(EVENTUALLY(sleepers(&p) == 1));
	sleep_ms(BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&q.back));
	EXPECT_EQ(0, counts(p.fd).released);

	/* the spinner blocks: the pending sleeper is released */
	atomic_store(&s.stop, 1);
	ASSERT_EQ(0, join_within(th, RELEASE_MS));
	EXPECT_EQ(0, q.ret);
	EXPECT_EQ(ETIMEDOUT, q.timeout0_err);
	EXPECT_EQ(1, counts(p.fd).released);

	/* the spinner stays blocked: room for one, a pending WAIT takes it */
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).blocked == 1));
	EXPECT_EQ(0, counts(p.fd).active);
	EXPECT_EQ(0, wait_flags(p.fd, 0, TPIO_WAIT_PENDING, 0));
	EXPECT_EQ(0, wait_flags(p.fd, TPIO_INFINITE,
				TPIO_WAIT_PENDING | TPIO_WAIT_SEQ, 0));
	EXPECT_EQ(-1, wait_flags(p.fd, 0, 0, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(0, join_within(s.th, RELEASE_MS));
	EXPECT_EQ(0, counts(p.fd).attached);
	EXPECT_EQ(0, counts(p.fd).active);
	EXPECT_EQ(0, counts(p.fd).blocked);
	EXPECT_EQ(0, counts(p.fd).woken);
	close(pipefd[0]);
	close(pipefd[1]);
out:
	port_close(&p);
}

/*
 * A burst: 8 attached workers, value 2, 200 completions whose callbacks
 * block half of the time (a 1 ms sleep) and spin otherwise. All run; the
 * port never deadlocks; the counts come back to 0. (How many sleepers the
 * blocks release depends on the timing: a worker that ends a callback
 * takes the next entry without a WAIT, so there may be none.)
 */
struct bworker {
	pthread_t th;
	struct port *p;
	atomic_int *done;
	int total;
};

static void *burst_fn(void *arg)
{
	struct bworker *b = arg;
	struct tpio_cqe c;
	__u64 t;

	if (conc(b->p->fd, TPIO_CONC_ATTACH, 0, NULL))
		return NULL;
	while (atomic_load(b->done) < b->total) {
		if (port_wait(b->p->fd, deadline_ms(20)))
			continue;
		while (ring_take(b->p, &c)) {
			if (c.overlapped & 1) {
				sleep_ms(1);
			} else {
				t = now_ns() + 200000;
				while (now_ns() < t)
					;
			}
			atomic_fetch_add(b->done, 1);
		}
	}
	conc(b->p->fd, TPIO_CONC_DETACH, 0, NULL);
	return NULL;
}

TEST(burst_of_blocking_callbacks)
{
	struct port p = { .fd = -1 };
	struct bworker b[8];
	atomic_int done = 0;
	int i, posted = 0;
	__u64 end;
	__u32 io;

	PORT_OPEN(&p, 64, 4);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 2, NULL));
	for (i = 0; i < 8; i++) {
		b[i].p = &p;
		b[i].done = &done;
		b[i].total = 200;
		ASSERT_EQ(0, pthread_create(&b[i].th, NULL, burst_fn, &b[i]));
	}
	end = deadline_ms(30000);
	while (posted < 200 && now_ns() < end) {
		__u32 r;

		io_start(&p, io, 1);
		if (post_one(p.fd, io, posted, &r) == 0) {
			posted++;
			continue;
		}
		/* full: give the start back and let the workers run */
		io_cancel(&p, io);
		sleep_ms(1);
	}
	ASSERT_EQ(200, posted);
	while (atomic_load(&done) < 200 && now_ns() < end)
		sleep_ms(5);
	EXPECT_EQ(200, atomic_load(&done));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, join_within(b[i].th, RELEASE_MS));
	TH_LOG("released %llu sleepers for blocks",
	       (unsigned long long)counts(p.fd).released);
	EXPECT_EQ(0, counts(p.fd).attached);
	EXPECT_EQ(0, counts(p.fd).active);
	EXPECT_EQ(0, counts(p.fd).blocked);
	EXPECT_EQ(0, counts(p.fd).woken);
out:
	port_close(&p);
}

/* A thread that exits attached: its attachment goes away by itself. */
static void *attach_and_exit(void *arg)
{
	struct port *p = arg;

	return (void *)(intptr_t)conc(p->fd, TPIO_CONC_ATTACH, 0, NULL);
}

TEST(thread_exits_attached)
{
	struct port p = { .fd = -1 };
	pthread_t th;
	void *ret;
	int i;

	PORT_OPEN(&p, 2, 1);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, pthread_create(&th, NULL, attach_and_exit, &p));
		ASSERT_EQ(0, pthread_join(th, &ret));
		ASSERT_EQ(NULL, ret);
	}
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 0));
	EXPECT_EQ(0, counts(p.fd).active);
	EXPECT_EQ(0, counts(p.fd).blocked);
out:
	port_close(&p);
}

/*
 * A process whose 16 attached threads block, spin or sleep in WAIT is
 * killed: every attachment goes away, and the counts come back to 0.
 */
static void *killed_fn(void *arg)
{
	struct port *p = arg;
	long i = 0;

	if (conc(p->fd, TPIO_CONC_ATTACH, 0, NULL))
		return NULL;
	for (;;) {
		switch (i++ % 3) {
		case 0:
			sleep_ms(1);
			break;
		case 1:
			port_wait(p->fd, deadline_ms(1));
			break;
		default:
			for (__u64 t = now_ns() + 100000; now_ns() < t;)
				;
		}
	}
	return NULL;
}

TEST(process_killed_while_attached)
{
	struct port p = { .fd = -1 };
	int status, i, round;
	pid_t pid;

	PORT_OPEN(&p, 2, 1);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 2, NULL));
	for (round = 0; round < 3; round++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			pthread_t th;

			for (i = 0; i < 16; i++)
				if (pthread_create(&th, NULL, killed_fn, &p))
					_exit(1);
			pause();
			_exit(0);
		}
		ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 16));
		sleep_ms(20 * round);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status));
		ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 0));
		EXPECT_EQ(0, counts(p.fd).active);
		EXPECT_EQ(0, counts(p.fd).blocked);
		EXPECT_EQ(0, counts(p.fd).woken);
	}
out:
	port_close(&p);
}

/*
 * The port's fds closed while a thread is attached and blocked: the
 * attachment keeps the port; the thread then runs, blocks and exits.
 */
struct closer {
	int fd;
	int pipe_rd;
	int ret;
};

static void *attach_block_exit(void *arg)
{
	struct closer *c = arg;
	char b;

	c->ret = conc(c->fd, TPIO_CONC_ATTACH, 0, NULL);
	if (read(c->pipe_rd, &b, 1) != 1)
		c->ret = -1;
	sleep_ms(2);		/* blocks once more on a closed port */
	return NULL;
}

TEST(port_closed_while_attached)
{
	struct port p = { .fd = -1 };
	struct closer c;
	pthread_t th;
	int pipefd[2];

	PORT_OPEN(&p, 2, 1);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	ASSERT_EQ(0, pipe(pipefd));
	c.fd = p.fd;
	c.pipe_rd = pipefd[0];
	c.ret = -2;
	ASSERT_EQ(0, pthread_create(&th, NULL, attach_block_exit, &c));
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).blocked == 1));
	port_close(&p);		/* every fd and mapping */
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(0, join_within(th, RELEASE_MS));
	EXPECT_EQ(0, c.ret);
	close(pipefd[0]);
	close(pipefd[1]);
out:
	port_close(&p);
}

/*
 * fork: the child is not attached (it may attach itself); exec: the
 * attachment of the exec'd thread stops counting at its next block and
 * goes away when it exits.
 */
TEST(fork_and_exec_while_attached)
{
	struct port p = { .fd = -1 };
	int status, fd;
	pid_t pid;

	PORT_OPEN(&p, 2, 1);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_ATTACH, 0, NULL));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* not inherited: DETACH finds nothing, ATTACH works */
		if (conc(p.fd, TPIO_CONC_DETACH, 0, NULL) != -1 ||
		    errno != ENOENT)
			_exit(1);
		if (conc(p.fd, TPIO_CONC_ATTACH, 0, NULL))
			_exit(2);
		if (counts(p.fd).attached != 2)
			_exit(3);
		_exit(0);	/* exits attached */
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 1));

	/* a child that attaches, then execs a program that sleeps */
	fd = dup(p.fd);		/* without O_CLOEXEC: the exec'd keeps it */
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (conc(fd, TPIO_CONC_ATTACH, 0, NULL))
			_exit(2);
		execl("/proc/self/exe", "tpio_conc", "--sleep-child", NULL);
		_exit(4);
	}
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 2));
	/* the exec'd program sleeps: it counts neither active nor blocked */
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).active == 1 &&
			       counts(p.fd).blocked == 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_TRUE(EVENTUALLY(counts(p.fd).attached == 1));
	close(fd);
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_DETACH, 0, NULL));
out:
	port_close(&p);
}

/*
 * The hooks' cost per context switch: two threads ping-pong a byte
 * through two pipes (every round trip is two blocks and two wake-ups),
 * first unattached, then both attached to a port with a value (so each
 * block runs the full check, with no sleeper to release). Printed, not
 * asserted: TCG timings are noisy.
 */
/* Both threads on CPU 0: every switch is a local one. */
static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

#define PP_MS	1000	/* each measure runs this long */

struct pp {
	int rd, wr;
	int fd;			/* port to attach to, or -1 */
};

/* Echoes bytes until it echoes a 'q'. */
static void *pong_fn(void *arg)
{
	struct pp *pp = arg;
	char b = 0;

	pin_cpu0();
	if (pp->fd >= 0 && conc(pp->fd, TPIO_CONC_ATTACH, 0, NULL))
		return (void *)1;
	while (b != 'q') {
		if (read(pp->rd, &b, 1) != 1 || write(pp->wr, &b, 1) != 1)
			return (void *)1;
	}
	if (pp->fd >= 0)
		conc(pp->fd, TPIO_CONC_DETACH, 0, NULL);
	return NULL;
}

/* ns per round trip over PP_MS, or 0 on a failure. */
static __u64 ping_pong(int fd)
{
	__u64 t0, end, n = 0;
	int a[2], b[2];
	struct pp pp;
	pthread_t th;
	void *ret;
	char c = 'x';

	if (pipe(a) || pipe(b))
		return 0;
	pp.rd = a[0];
	pp.wr = b[1];
	pp.fd = fd;
	if (pthread_create(&th, NULL, pong_fn, &pp))
		return 0;
	if (fd >= 0 && conc(fd, TPIO_CONC_ATTACH, 0, NULL))
		return 0;
	t0 = now_ns();
	end = t0 + PP_MS * 1000000ULL;
	do {
		c = now_ns() < end ? 'x' : 'q';
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			return 0;
		n++;
	} while (c != 'q');
	t0 = now_ns() - t0;
	if (fd >= 0)
		conc(fd, TPIO_CONC_DETACH, 0, NULL);
	pthread_join(th, &ret);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	return ret ? 0 : t0 / n;
}

TEST(switch_cost)
{
	struct port p = { .fd = -1 };
	__u64 plain[3], attached[3];
	int i;

	pin_cpu0();
	PORT_OPEN(&p, 2, 1);
	if (!(p.sa.features & TPIO_FEAT_CONC))
		SKIP(goto out, "no TPIO_FEAT_CONC");
	ASSERT_EQ(0, conc(p.fd, TPIO_CONC_SET, 1, NULL));
	for (i = 0; i < 3; i++) {
		plain[i] = ping_pong(-1);
		attached[i] = ping_pong(p.fd);
		ASSERT_NE(0, plain[i]);
		ASSERT_NE(0, attached[i]);
	}
	TH_LOG("ns per round trip (4 switches, one CPU), unattached: %llu %llu %llu; attached: %llu %llu %llu",
	       (unsigned long long)plain[0], (unsigned long long)plain[1],
	       (unsigned long long)plain[2], (unsigned long long)attached[0],
	       (unsigned long long)attached[1],
	       (unsigned long long)attached[2]);
	EXPECT_EQ(0, counts(p.fd).attached);
out:
	port_close(&p);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--sleep-child")) {
		sleep_ms(300);
		return 0;
	}
	return test_harness_run(argc, argv);
}
