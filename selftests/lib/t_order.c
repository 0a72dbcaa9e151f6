// SPDX-License-Identifier: MIT
/*
 * Threads and ordering: Documentation/contract.rst, section 5, and scenarios
 * 25-27. Ordering is observed with one worker (pool maximum 1) kept busy by
 * a "gate" object while the completions under test queue up. Included by
 * scenarios.c.
 */

#define ORDER_MAX 64

/* Callback start order across objects: (probe, OVERLAPPED) pairs. */
static struct {
	atomic_int n;
	struct probe *who[ORDER_MAX];
	PVOID ov[ORDER_MAX];
} olog;

static void act_log(struct probe *p, PTP_CALLBACK_INSTANCE inst,
		    struct cb_rec *rec)
{
	int n = atomic_fetch_add(&olog.n, 1);

	(void)inst;
	if (n < ORDER_MAX) {
		olog.who[n] = p;
		olog.ov[n] = rec->ov;
	}
}

/* 25: completions of one object start in arrival order (FIFO) [T]. */
TEST_F(tp, s25_fifo_per_object)
{
	static struct busy_worker b;
	static struct probe p;
	static OVERLAPPED ov[8];
	PTP_IO io;
	int i;

	probe_init(&p, act_log);
	ASSERT_TRUE(hold_worker(_metadata, self, &b));
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	for (i = 0; i < 8; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], 0, i));
	release_worker(&b);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(8, atomic_load(&olog.n));
	for (i = 0; i < 8; i++) {
		EXPECT_EQ((PVOID)&ov[i], olog.ov[i]);
		EXPECT_EQ((ULONG_PTR)i, p.rec[i].bytes);
	}
	CloseThreadpoolIo(io);
}

/* 25: two objects with 10 queued each interleave on one worker (round-robin) [T]. */
TEST_F(tp, s25_objects_round_robin)
{
	static struct busy_worker b;
	static struct probe pa, pb;
	static OVERLAPPED ova[10], ovb[10];
	int i, na = 0, nb = 0, pfd2[2];
	PTP_IO ioa, iob;

	probe_init(&pa, act_log);
	probe_init(&pb, act_log);
	ASSERT_EQ(0, pipe(pfd2));
	ASSERT_TRUE(hold_worker(_metadata, self, &b));
	ioa = CreateThreadpoolIo(self->h, probe_cb, &pa, &self->env);
	ASSERT_NE(NULL, ioa);
	iob = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb, &pb,
				 &self->env);
	ASSERT_NE(NULL, iob);
	for (i = 0; i < 10; i++) {
		StartThreadpoolIo(ioa);
		StartThreadpoolIo(iob);
	}
	/* all of a's first, then all of b's */
	for (i = 0; i < 10; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(ioa, &ova[i], 0, 1));
	for (i = 0; i < 10; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(iob, &ovb[i], 0, 1));
	release_worker(&b);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	WaitForThreadpoolIoCallbacks(iob, FALSE);
	ASSERT_EQ(20, atomic_load(&olog.n));
	for (i = 0; i < 20; i++) {
		/* FIFO within each object */
		if (olog.who[i] == &pa) {
			EXPECT_EQ((PVOID)&ova[na++], olog.ov[i]);
		} else {
			EXPECT_EQ((PVOID)&ovb[nb++], olog.ov[i]);
		}
		/* strict alternation: neither object runs twice in a row */
		if (i)
			EXPECT_NE(olog.who[i - 1], olog.who[i]);
	}
	EXPECT_EQ(10, na);
	EXPECT_EQ(10, nb);
	CloseThreadpoolIo(ioa);
	CloseThreadpoolIo(iob);
	close(pfd2[0]);
	close(pfd2[1]);
}

/* 25: HIGH before NORMAL before LOW, whatever the arrival order [T]. */
TEST_F(tp, s25_priorities)
{
	static const TP_CALLBACK_PRIORITY prio[3] = {
		TP_CALLBACK_PRIORITY_LOW, TP_CALLBACK_PRIORITY_NORMAL,
		TP_CALLBACK_PRIORITY_HIGH,
	};
	static struct busy_worker b;
	static struct probe p[3];
	static OVERLAPPED ov[3];
	TP_CALLBACK_ENVIRON env[3];
	int i, pfd[3][2];
	PTP_IO io[3];

	ASSERT_TRUE(hold_worker(_metadata, self, &b));
	for (i = 0; i < 3; i++) {
		probe_init(&p[i], act_log);
		ASSERT_EQ(0, pipe(pfd[i]));
		env[i] = self->env;
		SetThreadpoolCallbackPriority(&env[i], prio[i]);
		io[i] = CreateThreadpoolIo(tpio_handle_from_fd(pfd[i][0]),
					   probe_cb, &p[i], &env[i]);
		ASSERT_NE(NULL, io[i]);
		StartThreadpoolIo(io[i]);
	}
	/* arrival order: LOW, NORMAL, HIGH */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io[i], &ov[i], 0, 1));
	release_worker(&b);
	for (i = 0; i < 3; i++)
		WaitForThreadpoolIoCallbacks(io[i], FALSE);
	ASSERT_EQ(3, atomic_load(&olog.n));
	EXPECT_EQ(&p[2], olog.who[0]);
	EXPECT_EQ(&p[1], olog.who[1]);
	EXPECT_EQ(&p[0], olog.who[2]);
	for (i = 0; i < 3; i++) {
		CloseThreadpoolIo(io[i]);
		close(pfd[i][0]);
		close(pfd[i][1]);
	}
}

/* Callbacks meet: each waits (bounded) until @p->flag2 callbacks have arrived. */
static void act_rendezvous(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			   struct cb_rec *rec)
{
	int want = atomic_load(&p->flag2);

	(void)inst;
	(void)rec;
	atomic_fetch_add(&p->flag, 1);
	if (!wait_count(&p->flag, want, RELEASED_MS * 2))
		atomic_fetch_add(&p->bad, 1);
}

static void rendezvous(struct __test_metadata *_metadata,
		       FIXTURE_DATA(tp) *self, int n)
{
	static struct probe p;
	static OVERLAPPED ov[8];
	PTP_IO io;
	int i;

	probe_init(&p, act_rendezvous);
	atomic_store(&p.flag2, n);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	for (i = 0; i < n; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < n; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], 0, 1));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	/* every callback saw all n running at once */
	EXPECT_EQ(n, atomic_load(&p.finished));
	EXPECT_EQ(0, atomic_load(&p.bad));
	CloseThreadpoolIo(io);
}

/* 26: two queued completions on a 2-worker pool run concurrently. */
TEST_F(tp, s26_two_workers_run_concurrently)
{
	SetThreadpoolThreadMaximum(self->pool, 2);
	rendezvous(_metadata, self, 2);
}

/*
 * 26, over fresh pools: two completions posted at once from outside the
 * pool each get a worker, whether the pool's worker is asleep, spinning or
 * not started yet. Each entry relies on a different idle worker (a burst
 * that counted one spinning worker for both left the second entry behind
 * a callback that blocks).
 */
TEST_F(tp, s26_burst_wakes_a_worker_per_entry)
{
	static struct probe p;
	static OVERLAPPED ov[2];
	TP_CALLBACK_ENVIRON env;
	int round, i, bad = 0;
	PTP_POOL pool;
	PTP_IO io;

	for (round = 0; round < 100 && !bad; round++) {
		pool = CreateThreadpool(NULL);
		ASSERT_NE(NULL, pool);
		SetThreadpoolThreadMaximum(pool, 2);
		env = self->env;
		SetThreadpoolCallbackPool(&env, pool);
		probe_init(&p, act_rendezvous);
		atomic_store(&p.flag2, 2);
		io = CreateThreadpoolIo(self->h, probe_cb, &p, &env);
		ASSERT_NE(NULL, io);
		/* the pool's first worker may be anywhere in its idle path */
		if (round % 4)
			usleep(round % 4 == 1 ? 50 : 2000);
		for (i = 0; i < 2; i++)
			StartThreadpoolIo(io);
		for (i = 0; i < 2; i++)
			ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], 0, 1));
		WaitForThreadpoolIoCallbacks(io, FALSE);
		if (atomic_load(&p.bad))
			bad = round + 1;
		CloseThreadpoolIo(io);
		CloseThreadpool(pool);
	}
	EXPECT_EQ(0, bad);
}

/* 27: SetThreadpoolThreadMinimum(4) creates 4 workers and raises the maximum. */
TEST_F(tp, s27_thread_minimum)
{
	int n;

	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 4));
	/* they exist when it returns */
	EXPECT_LE(4U, tpio_pool_thread_count(self->pool));
	n = task_count();	/* -1 where /proc is not mounted */
	if (n >= 0)
		EXPECT_LE(5, n);
	/* and the maximum let all four run at once */
	rendezvous(_metadata, self, 4);
	SetLastError(0xdead);
	EXPECT_EQ(FALSE, SetThreadpoolThreadMinimum(self->pool, 1024));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
}
