// SPDX-License-Identifier: MIT
/*
 * How completions flow to callbacks: the values a completion carries
 * (Documentation/contract.rst, section 4; the statuses of scenarios 8 and 31
 * without the real I/O, which comes with the io_uring engine), the default
 * pool, posts from inside a callback, a backlog far larger than the
 * completion ring, and several waiters on one object. Included by
 * scenarios.c.
 */

/* §4, scenarios 8 and 31: status and byte count reach the callback unchanged. */
TEST_F(tp, completion_values_pass_through)
{
	static const struct {
		ULONG result;
		ULONG_PTR bytes;
	} v[] = {
		{ ERROR_OPERATION_ABORTED, 0 },		/* cancelled (8) */
		{ ERROR_HANDLE_EOF, 0 },		/* file EOF (31) */
		{ ERROR_BROKEN_PIPE, 0 },		/* writer gone (31) */
		{ ERROR_SUCCESS, (ULONG_PTR)1 << 40 },	/* 64-bit count */
		{ 0xfffffffeU, ~(ULONG_PTR)0 },
	};
	static struct probe p;
	static OVERLAPPED ov[5];
	PTP_IO io;
	int i, j, n = (int)(sizeof(v) / sizeof(v[0]));

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	for (i = 0; i < n; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < n; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], v[i].result,
						     v[i].bytes));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(n, atomic_load(&p.finished));
	for (i = 0; i < n; i++) {
		for (j = 0; j < n && p.rec[j].ov != &ov[i]; j++)
			;
		ASSERT_LT(j, n);
		EXPECT_EQ(v[i].result, p.rec[j].result);
		EXPECT_EQ(v[i].bytes, p.rec[j].bytes);
	}
	CloseThreadpoolIo(io);
}

/* A NULL environment and a version-1 environment use the default pool. */
TEST_F(tp, default_pool)
{
	static struct probe p;
	TP_CALLBACK_ENVIRON env1;
	OVERLAPPED ov = { 0 };
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, NULL);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 5));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(5U, p.rec[0].bytes);
	CloseThreadpoolIo(io);

	InitializeThreadpoolEnvironment(&env1);
	env1.Version = 1;
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &env1);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 6));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(6U, p.rec[1].bytes);
	CloseThreadpoolIo(io);
	DestroyThreadpoolEnvironment(&env1);
}

#define CHAIN_LEN 20

static void act_chain(struct probe *p, PTP_CALLBACK_INSTANCE inst,
		      struct cb_rec *rec)
{
	static OVERLAPPED ov[CHAIN_LEN];
	int n = atomic_fetch_add(&p->flag, 1) + 1;

	(void)inst;
	if (n >= CHAIN_LEN)
		return;
	/* the next I/O is started before this callback ends */
	StartThreadpoolIo(rec->io);
	sleep_ms(1);
	if (!tpio_post_completion(rec->io, &ov[n], 0, n))
		atomic_fetch_add(&p->bad, 1);
}

/*
 * A callback starts the next I/O and posts its completion itself: Wait(F)
 * from outside returns only at the end of the chain.
 */
TEST_F(tp, start_and_post_from_callback)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;
	int i;

	probe_init(&p, act_chain);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 0));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS * 2));
	EXPECT_EQ(CHAIN_LEN, atomic_load(&p.finished));
	EXPECT_EQ(0, atomic_load(&p.bad));
	for (i = 0; i < CHAIN_LEN; i++)
		EXPECT_EQ((ULONG_PTR)i, p.rec[i].bytes);
	CloseThreadpoolIo(io);
}

#define BACKLOG 3000

static void act_count_order(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			    struct cb_rec *rec)
{
	int n = atomic_fetch_add(&p->flag, 1);

	(void)inst;
	/* FIFO: the n-th callback carries byte count n */
	if (rec->bytes != (ULONG_PTR)n)
		atomic_fetch_add(&p->bad, 1);
}

/*
 * Far more completions than the ring holds, while the only worker is
 * busy: no post fails or blocks for good, none is lost, FIFO holds.
 */
TEST_F(tp, backlog_larger_than_ring)
{
	static struct probe p, busy;
	static struct gate g;
	static OVERLAPPED ov[BACKLOG];
	OVERLAPPED bov = { 0 };
	PTP_IO io, io_busy;
	int i, pfd2[2];

	gate_init(&g);
	probe_init(&busy, act_block);
	busy.gate = &g;
	probe_init(&p, act_count_order);
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_EQ(0, pipe(pfd2));
	io_busy = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb,
				     &busy, &self->env);
	ASSERT_NE(NULL, io_busy);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io_busy);
	ASSERT_EQ(TRUE, tpio_post_completion(io_busy, &bov, 0, 0));
	ASSERT_TRUE(wait_count(&busy.started, 1, RELEASED_MS));

	for (i = 0; i < BACKLOG; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < BACKLOG; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], 0, i));
	EXPECT_EQ(0, atomic_load(&p.started));
	gate_open(&g);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(BACKLOG, atomic_load(&p.finished));
	EXPECT_EQ(0, atomic_load(&p.bad));
	WaitForThreadpoolIoCallbacks(io_busy, FALSE);
	CloseThreadpoolIo(io);
	CloseThreadpoolIo(io_busy);
	close(pfd2[0]);
	close(pfd2[1]);
}

/*
 * One object with more completions waiting for a callback than its state
 * word can count (65535): the post beyond the limit waits (back-pressure)
 * instead of dropping the completion, and every callback runs once the
 * only worker is free again.
 */
#define QLIMIT_POSTS	(65535 + 2000)

struct qlimit_poster {
	PTP_IO io;
	OVERLAPPED ov;
	atomic_int posted;
	atomic_int failed;
};

static void qlimit_post_all(void *arg)
{
	struct qlimit_poster *qp = arg;
	int i;

	for (i = 0; i < QLIMIT_POSTS; i++) {
		if (!tpio_post_completion(qp->io, &qp->ov, 0, 1))
			atomic_fetch_add(&qp->failed, 1);
		atomic_fetch_add(&qp->posted, 1);
	}
}

TEST_F_TIMEOUT(tp, queued_limit_is_backpressure, 180)
{
	static struct probe p, busy;
	static struct qlimit_poster qp;
	static struct gate g;
	OVERLAPPED bov = { 0 };
	PTP_IO io_busy;
	struct bg poster;
	int i, t, pfd2[2], posted;

	gate_init(&g);
	probe_init(&busy, act_block);
	busy.gate = &g;
	probe_init(&p, NULL);
	memset(&qp, 0, sizeof(qp));
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_EQ(0, pipe(pfd2));
	io_busy = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb,
				     &busy, &self->env);
	ASSERT_NE(NULL, io_busy);
	qp.io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, qp.io);
	StartThreadpoolIo(io_busy);
	ASSERT_EQ(TRUE, tpio_post_completion(io_busy, &bov, 0, 0));
	ASSERT_TRUE(wait_count(&busy.started, 1, RELEASED_MS));

	for (i = 0; i < QLIMIT_POSTS; i++)
		StartThreadpoolIo(qp.io);
	ASSERT_TRUE(bg_start(&poster, qlimit_post_all, &qp));
	/*
	 * The worker is blocked: the poster reaches the limit (however slow
	 * the machine: a debug kernel posts a few 10,000 a second) and stays
	 * there.
	 */
	for (t = 0; atomic_load(&qp.posted) < 65535 && t < 120000; t += 10)
		sleep_ms(10);
	EXPECT_EQ(ETIMEDOUT, bg_join(&poster, 500));
	posted = atomic_load(&qp.posted);
	EXPECT_GE(posted, 65535);
	EXPECT_LT(posted, QLIMIT_POSTS);
	EXPECT_EQ(0, atomic_load(&p.started));
	gate_open(&g);
	EXPECT_EQ(0, bg_join(&poster, 120000));
	EXPECT_EQ(0, atomic_load(&qp.failed));
	WaitForThreadpoolIoCallbacks(qp.io, FALSE);
	EXPECT_EQ(QLIMIT_POSTS, atomic_load(&p.finished));
	WaitForThreadpoolIoCallbacks(io_busy, FALSE);
	CloseThreadpoolIo(qp.io);
	CloseThreadpoolIo(io_busy);
	close(pfd2[0]);
	close(pfd2[1]);
}

/* Several threads in Wait(F) on one object are all released by one drain. */
TEST_F(tp, several_waiters_released_together)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w[3];
	PTP_IO io;
	int i;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	for (i = 0; i < 3; i++)
		ASSERT_TRUE(bg_start(&w[i], bg_wait_false, io));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(ETIMEDOUT, bg_join(&w[i], i ? 0 : STILL_BLOCKED_MS));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 1));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, bg_join(&w[i], RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p.finished));
	CloseThreadpoolIo(io);
}
