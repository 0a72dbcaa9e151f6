// SPDX-License-Identifier: MIT
/*
 * NT's rule and its safety net (Documentation/libtpio.rst, "Workers" and
 * "Concurrency and stalls"), with the concurrency value set to 1
 * (TPIO_CONCURRENCY, read when the pool's first object is made in this
 * test's process):
 *   - callbacks that never block run one at a time, however many workers
 *     the pool has;
 *   - a completion a callback posts to itself waits for that callback to
 *     return, but if the callback blocks, the stall detector lets another
 *     worker run it within a bounded delay;
 *   - an object's completions that pass through a mailbox still start in
 *     arrival order.
 */

/*
 * The bound this suite holds the detector to: 2 ticks of 1 ms, plus slack;
 * more slack in the sanitizer builds, which run the module backend in an
 * emulated VM on the debug kernel too (136 ms was seen there under TSan).
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define STALL_BOUND_MS	1000
#else
#define STALL_BOUND_MS	100
#endif

FIXTURE(nt) {
	PTP_POOL pool;
	TP_CALLBACK_ENVIRON env;
};

FIXTURE_SETUP(nt)
{
	self->pool = NULL;
}

/*
 * The pool of a test, with the settings read when the library first
 * needs them (this test's process): concurrency 1, and a stall
 * detector's tick of @stall_us.
 */
static void nt_start(struct __test_metadata *_metadata,
		     FIXTURE_DATA(nt) *self, const char *stall_us)
{
	setenv("TPIO_CONCURRENCY", "1", 1);
	setenv("TPIO_STALL_US", stall_us, 1);
#if defined(__SANITIZE_THREAD__)
	/*
	 * TSan's runtime sleeps on its own locks inside the callbacks (their
	 * atomics): the module's concurrency control rightly counts those as
	 * blocks and lets another worker run, so the exact counts here would
	 * not hold. These tests are of the library's own rule; the plain and
	 * ASan builds run them with the control on (and t_conc.c tests it).
	 */
	setenv("TPIO_KERNEL_CONC", "0", 1);
#endif
	self->pool = CreateThreadpool(NULL);
	ASSERT_NE(NULL, self->pool);
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 4));
	InitializeThreadpoolEnvironment(&self->env);
	SetThreadpoolCallbackPool(&self->env, self->pool);
}

FIXTURE_TEARDOWN(nt)
{
	if (!self->pool)
		return;
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	DestroyThreadpoolEnvironment(&self->env);
	CloseThreadpool(self->pool);
}

/* An object on a fresh pipe; the pipe's fds go in @fds. */
static PTP_IO nt_object(PTP_CALLBACK_ENVIRON env, PTP_WIN32_IO_CALLBACK cb,
			void *ctx, int fds[2])
{
	if (pipe(fds))
		return NULL;
	return CreateThreadpoolIo(tpio_handle_from_fd(fds[0]), cb, ctx, env);
}

static void nt_close(PTP_IO io, int fds[2])
{
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	close(fds[0]);
	close(fds[1]);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- one at a time ---- */

static atomic_int nt_running, nt_max, nt_done;

static VOID CALLBACK busy_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			     ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	int now = atomic_fetch_add(&nt_running, 1) + 1, m;
	int64_t end = now_us() + 200;

	(void)inst; (void)ctx; (void)ov; (void)res; (void)bytes; (void)io;
	m = atomic_load(&nt_max);
	while (now > m && !atomic_compare_exchange_weak(&nt_max, &m, now))
		;
	while (now_us() < end)	/* busy, never blocked */
		;
	atomic_fetch_sub(&nt_running, 1);
	atomic_fetch_add(&nt_done, 1);
}

/*
 * 4 workers, 40 short callbacks that never block: one runs at a time. The
 * stall detector's tick is long here (1 s, its maximum): on a loaded test
 * machine (a VM whose host is busy) a callback preempted by the host for a
 * tick would look blocked.
 */
TEST_F(nt, callbacks_that_never_block_run_one_at_a_time)
{
	OVERLAPPED ov;
	int fds[2], i;
	PTP_IO io;

	nt_start(_metadata, self, "1000000");
	io = nt_object(&self->env, busy_cb, NULL, fds);
	ASSERT_NE(NULL, io);
	atomic_store(&nt_running, 0);
	atomic_store(&nt_max, 0);
	atomic_store(&nt_done, 0);
	for (i = 0; i < 40; i++) {
		StartThreadpoolIo(io);
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 0));
	}
	ASSERT_TRUE(wait_count(&nt_done, 40, RELEASED_MS));
	TH_LOG("at most %d callbacks ran at once", atomic_load(&nt_max));
	EXPECT_EQ(1, atomic_load(&nt_max));
	nt_close(io, fds);
}

/*
 * The same over many pools, each with 4 workers that wake at once: an idle
 * worker takes the concurrency value's place together with its check, so
 * two of them that look at the same moment never both run (a check, then
 * a separate count, let about one pool in ten run two at once).
 */
TEST_F(nt, admission_is_exact_when_workers_race)
{
	OVERLAPPED ov;
	int fds[2], i, round, over = 0;
	PTP_POOL pool;
	PTP_IO io;

	nt_start(_metadata, self, "1000000");
	for (round = 0; round < 60 && !over; round++) {
		pool = CreateThreadpool(NULL);
		ASSERT_NE(NULL, pool);
		ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(pool, 4));
		SetThreadpoolCallbackPool(&self->env, pool);
		io = nt_object(&self->env, busy_cb, NULL, fds);
		ASSERT_NE(NULL, io);
		atomic_store(&nt_running, 0);
		atomic_store(&nt_max, 0);
		atomic_store(&nt_done, 0);
		for (i = 0; i < 20; i++) {
			StartThreadpoolIo(io);
			ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 0));
		}
		ASSERT_TRUE(wait_count(&nt_done, 20, RELEASED_MS));
		if (atomic_load(&nt_max) != 1)
			over = round + 1;
		nt_close(io, fds);
		CloseThreadpool(pool);
	}
	SetThreadpoolCallbackPool(&self->env, self->pool);
	EXPECT_EQ(0, over);
}

/* ---- a callback that blocks after posting its own completion ---- */

struct self_post {
	PTP_IO other;			/* the object it posts to */
	OVERLAPPED ov[3];
	int count;			/* completions it posts */
	int block;			/* then wait until they ran */
	struct gate ran_all;
	atomic_int ran;
	atomic_int order[3];
	DWORD order_tid[3];		/* the thread that ran each */
	int64_t posted_us, first_us;
	DWORD poster_tid, runner_tid;
	atomic_int poster_done;
};

static VOID CALLBACK other_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			      ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	struct self_post *s = ctx;
	int i = atomic_fetch_add(&s->ran, 1);

	(void)inst; (void)res; (void)bytes; (void)io;
	if (!i) {
		s->first_us = now_us();
		s->runner_tid = GetCurrentThreadId();
	}
	if (i < 3) {
		s->order_tid[i] = GetCurrentThreadId();
		atomic_store(&s->order[i], (int)((OVERLAPPED *)ov - s->ov));
	}
	if (i + 1 == s->count)
		gate_open(&s->ran_all);
}

static VOID CALLBACK poster_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			       ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	struct self_post *s = ctx;
	int i;

	(void)inst; (void)ov; (void)res; (void)bytes; (void)io;
	s->poster_tid = GetCurrentThreadId();
	s->posted_us = now_us();
	for (i = 0; i < s->count; i++) {
		StartThreadpoolIo(s->other);
		tpio_post_completion(s->other, &s->ov[i], 0, 0);
	}
	if (s->block)
		gate_wait(&s->ran_all);	/* blocks until they ran */
	atomic_store(&s->poster_done, 1);
}

static void self_post_run(struct __test_metadata *_metadata,
			  FIXTURE_DATA(nt) *self, struct self_post *s,
			  const char *stall_us)
{
	int pf[2], of[2];
	PTP_IO poster;
	OVERLAPPED ov;

	nt_start(_metadata, self, stall_us);
	gate_init(&s->ran_all);
	s->other = nt_object(&self->env, other_cb, s, of);
	poster = nt_object(&self->env, poster_cb, s, pf);
	ASSERT_NE(NULL, s->other);
	ASSERT_NE(NULL, poster);
	StartThreadpoolIo(poster);
	ASSERT_EQ(TRUE, tpio_post_completion(poster, &ov, 0, 0));
	ASSERT_TRUE(wait_count(&s->ran, s->count, RELEASED_MS));
	ASSERT_TRUE(wait_count(&s->poster_done, 1, RELEASED_MS));
	nt_close(poster, pf);
	nt_close(s->other, of);
}

/*
 * The posted completion waits in the poster's mailbox while the poster
 * runs (concurrency 1); the poster then blocks until it ran: the stall
 * detector hands it to another worker within the bound.
 */
TEST_F(nt, blocked_poster_releases_its_own_completion)
{
	static struct self_post s;
	int64_t delay;

	memset(&s, 0, sizeof(s));
	s.count = 1;
	s.block = 1;
	self_post_run(_metadata, self, &s, "1000");
	delay = s.first_us - s.posted_us;
	TH_LOG("the completion a blocked callback posted itself ran after %lld us",
	       (long long)delay);
	EXPECT_NE(s.poster_tid, s.runner_tid);
	EXPECT_GT(STALL_BOUND_MS * 1000, delay);
}

/*
 * Three of one object through a mailbox, poster blocked: still FIFO. The
 * stall detector normally releases one worker, which runs the three in
 * order. On a slow host (TSan under emulation) a second tick can release a
 * second worker while the first runs: two callbacks of one object then run
 * at once, as Windows allows, and the order in which they record themselves
 * is a race. What stays true is the dequeue order, seen by each thread: the
 * completions one thread ran are in the order they were posted.
 */
TEST_F(nt, mailbox_keeps_fifo_when_stolen)
{
	static struct self_post s;
	int i, j, one_thread;

	memset(&s, 0, sizeof(s));
	s.count = 3;
	s.block = 1;
	self_post_run(_metadata, self, &s, "1000");
	one_thread = s.order_tid[0] == s.order_tid[1] &&
		     s.order_tid[1] == s.order_tid[2];
	if (one_thread) {
		EXPECT_EQ(0, atomic_load(&s.order[0]));
		EXPECT_EQ(1, atomic_load(&s.order[1]));
		EXPECT_EQ(2, atomic_load(&s.order[2]));
	} else {
		TH_LOG("the detector released more than one worker: FIFO checked per thread");
	}
	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (s.order_tid[i] == s.order_tid[j])
				EXPECT_LT(atomic_load(&s.order[i]),
					  atomic_load(&s.order[j]));
}

/*
 * The same, the poster returning: it runs them itself, in order. The
 * detector's tick is long (1 s), as in the test of one at a time: a
 * poster that the host preempts for two 1 ms ticks would look blocked.
 */
TEST_F(nt, mailbox_keeps_fifo_on_return)
{
	static struct self_post s;

	memset(&s, 0, sizeof(s));
	s.count = 3;
	self_post_run(_metadata, self, &s, "1000000");
	EXPECT_EQ(0, atomic_load(&s.order[0]));
	EXPECT_EQ(1, atomic_load(&s.order[1]));
	EXPECT_EQ(2, atomic_load(&s.order[2]));
	/* not blocked: NT's rule keeps them on the posting thread */
	EXPECT_EQ(s.poster_tid, s.runner_tid);
}
