// SPDX-License-Identifier: MIT
/*
 * Documentation/contract.rst, sections 2 and 3, and scenarios 1-5, 9-13, 15
 * and 29: the accounting of one object (Start, Cancel, arrival, Wait,
 * Close), plus bad input and the thread-locality of GetLastError.
 * Completions are posted with tpio_post_completion where the scenario says
 * "a pending read completes". Included by scenarios.c.
 */

/* 1: Wait(F) with nothing started returns at once; no callback. */
TEST_F(tp, s01_wait_idle_returns)
{
	static struct probe p;
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
	EXPECT_EQ(0U, tpio_io_count());
}

/* 2: Start 1 with no I/O issued keeps Wait(F) blocked; Cancel releases it. */
TEST_F(tp, s02_started_io_blocks_wait)
{
	static struct probe p;
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	CancelThreadpoolIo(io);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

/* 3: the started read completes: one callback with its arguments; the waiter returns. */
TEST_F(tp, s03_completion_runs_callback)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	/* Wait(F) returned: the callback has ended, nothing else may come. */
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_NE(NULL, p.rec[0].inst);
	EXPECT_EQ((PVOID)&p, p.rec[0].ctx);
	EXPECT_EQ((PVOID)&ov, p.rec[0].ov);
	EXPECT_EQ(0U, p.rec[0].result);
	EXPECT_EQ(1U, p.rec[0].bytes);
	EXPECT_EQ(io, p.rec[0].io);
	EXPECT_FALSE(pthread_equal(pthread_self(), p.rec[0].thread));
	CloseThreadpoolIo(io);
	EXPECT_EQ(1, atomic_load(&p.started));
}

/* 4: Start 2, two completions, Wait(F): two callbacks of 1 byte each. */
TEST_F(tp, s04_two_completions_two_callbacks)
{
	static struct probe p;
	OVERLAPPED ov[2] = { 0 };
	PTP_IO io;
	int i;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[0], ERROR_SUCCESS, 1));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[1], ERROR_SUCCESS, 1));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(1U, p.rec[i].bytes);
		EXPECT_EQ(0U, p.rec[i].result);
		EXPECT_EQ(io, p.rec[i].io);
	}
	/* each OVERLAPPED exactly once, in either order */
	EXPECT_TRUE((p.rec[0].ov == &ov[0] && p.rec[1].ov == &ov[1]) ||
		    (p.rec[0].ov == &ov[1] && p.rec[1].ov == &ov[0]));
	CloseThreadpoolIo(io);
}

/*
 * 5: Start 1, nothing issued, Wait(T) returns at once with no callback.
 * The start became skipped: its late completion is swallowed.
 */
TEST_F(tp, s05_wait_cancel_returns_at_once)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_true, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));

	/* the object still works: a new start runs its callback */
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 2));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(2U, p.rec[0].bytes);
	CloseThreadpoolIo(io);
}

/*
 * §3 Wait(TRUE) drops queued callbacks: with the only worker busy, a
 * queued completion is dropped by Wait(T), which returns without waiting
 * for it, and its callback never runs.
 */
TEST_F(tp, wait_cancel_drops_queued)
{
	static struct probe busy, p;
	static struct gate g;
	OVERLAPPED ov[3] = { 0 };
	PTP_IO io_busy, io;
	struct bg w;
	int h2[2];

	gate_init(&g);
	probe_init(&busy, act_block);
	busy.gate = &g;
	probe_init(&p, NULL);
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_EQ(0, pipe(h2));
	io_busy = CreateThreadpoolIo(tpio_handle_from_fd(h2[0]), probe_cb,
				     &busy, &self->env);
	ASSERT_NE(NULL, io_busy);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);

	StartThreadpoolIo(io_busy);
	ASSERT_EQ(TRUE, tpio_post_completion(io_busy, &ov[0], 0, 0));
	ASSERT_TRUE(wait_count(&busy.started, 1, RELEASED_MS));

	/* two queued, one pending; the only worker is busy */
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[1], 0, 1));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[2], 0, 1));
	ASSERT_TRUE(bg_start(&w, bg_wait_true, io));
	EXPECT_EQ(0, bg_join(&w, RELEASED_MS));
	gate_open(&g);
	WaitForThreadpoolIoCallbacks(io_busy, FALSE);
	/* the skipped start's completion arrives late: swallowed */
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[1], 0, 1));
	sleep_ms(STILL_BLOCKED_MS);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(0, atomic_load(&p.started));
	EXPECT_EQ(0, atomic_load(&busy.bad));
	CloseThreadpoolIo(io);
	CloseThreadpoolIo(io_busy);
	close(h2[0]);
	close(h2[1]);
}

/*
 * §3 attribution by count: with a skipped start and a new pending one, the
 * next completion goes to the pending start (a callback), the one after is
 * swallowed by the skipped start, a third is dropped.
 */
TEST_F(tp, arrival_prefers_pending_over_skipped)
{
	static struct probe p;
	OVERLAPPED ov[3] = { 0 };
	PTP_IO io;
	int i;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, TRUE);
	StartThreadpoolIo(io);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[i], 0, i));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	ASSERT_EQ(1, atomic_load(&p.started));
	EXPECT_EQ((PVOID)&ov[0], p.rec[0].ov);
	/* nothing left over: a new start waits for its own completion */
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[0], 0, 7));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(7U, p.rec[1].bytes);
	CloseThreadpoolIo(io);
}

/* 9: Start 1, Cancel 1, then the completion arrives: no callback. */
TEST_F(tp, s09_cancelled_start_then_completion)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	CancelThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	/* a wrongly queued callback would run before Wait(F) returns */
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

/* 10: Create then Close with nothing started: freed at once, binding released. */
TEST_F(tp, s10_close_idle_frees_at_once)
{
	static struct probe p;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	EXPECT_EQ(1U, tpio_io_count());
	CloseThreadpoolIo(io);
	EXPECT_EQ(0U, tpio_io_count());
	/* [T] the fd binding ends at Close */
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	CloseThreadpoolIo(io);
	EXPECT_EQ(0U, tpio_io_count());
	EXPECT_EQ(0, atomic_load(&p.started));
}

/*
 * 11: Start 1, Wait(T), Close: the skipped completion that arrives after
 * Close runs no callback and crashes nothing. With nothing pending, queued
 * or running, the TP_IO is released at Close (tpio_io_count drops; the
 * port keeps the skipped count); the header documents that a post to a
 * closed object then fails with ERROR_INVALID_HANDLE.
 */
TEST_F(tp, s11_close_with_skipped_swallows_late_completion)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, TRUE);
	CloseThreadpoolIo(io);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	/* the late completion of the skipped I/O */
	SetLastError(0xdead);
	EXPECT_EQ(FALSE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	/* the binding was released at Close */
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	CloseThreadpoolIo(io);
}

/* 12: Start 1, Close, then the completion: the callback runs once after Close. */
TEST_F(tp, s12_callback_runs_after_close)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	CloseThreadpoolIo(io);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1U, tpio_io_count());
	EXPECT_EQ(0, atomic_load(&p.started));
	EXPECT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	ASSERT_TRUE(wait_count(&p.finished, 1, RELEASED_MS));
	EXPECT_EQ((PVOID)&ov, p.rec[0].ov);
	EXPECT_EQ(1U, p.rec[0].bytes);
	EXPECT_EQ(io, p.rec[0].io);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.started));
}

/* 13: a completion with no Start: no callback; Wait(F) returns. */
TEST_F(tp, s13_completion_without_start)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	EXPECT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	/* the dropped completion was not saved for a later start */
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	CancelThreadpoolIo(io);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

/* 15: a second CreateThreadpoolIo on a bound fd fails; Close releases the binding. */
TEST_F(tp, s15_second_bind_fails)
{
	static struct probe p;
	PTP_IO io, io2, io_w;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	SetLastError(0xdead);
	io2 = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	EXPECT_EQ(NULL, io2);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	/* the same number through a fresh handle value is the same fd */
	io2 = CreateThreadpoolIo(tpio_handle_from_fd(self->pfd[0]), probe_cb,
				 &p, NULL);
	EXPECT_EQ(NULL, io2);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	/* the other end of the pipe is another fd */
	io_w = CreateThreadpoolIo(tpio_handle_from_fd(self->pfd[1]), probe_cb,
				  &p, &self->env);
	ASSERT_NE(NULL, io_w);
	CloseThreadpoolIo(io_w);
	CloseThreadpoolIo(io);
	io2 = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io2);
	CloseThreadpoolIo(io2);
}

/* 29: Cancel with nothing pending leaves the count at 0: later waits work. */
TEST_F(tp, s29_cancel_with_nothing_pending)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	CancelThreadpoolIo(io);
	CancelThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));

	/* a later start still counts as one: blocked, then one callback */
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, ERROR_SUCCESS, 1));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p.finished));
	CloseThreadpoolIo(io);
}

/* VOID functions on a NULL object do nothing; the post helper reports it. */
TEST_F(tp, bad_null_io)
{
	OVERLAPPED ov = { 0 };

	WaitForThreadpoolIoCallbacks(NULL, FALSE);
	WaitForThreadpoolIoCallbacks(NULL, TRUE);
	CloseThreadpoolIo(NULL);
	SetLastError(0xdead);
	EXPECT_EQ(FALSE, tpio_post_completion(NULL, &ov, 0, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
}

/* §7 binding: bad handles fail with ERROR_INVALID_HANDLE. */
TEST_F(tp, bad_handle)
{
	static struct probe p;
	HANDLE ev;
	PTP_IO io;
	int fd;

	probe_init(&p, NULL);
	SetLastError(0xdead);
	io = CreateThreadpoolIo(INVALID_HANDLE_VALUE, probe_cb, &p, &self->env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(INVALID_HANDLE_VALUE, tpio_handle_from_fd(-1));
	EXPECT_EQ(-1, tpio_fd_from_handle(INVALID_HANDLE_VALUE));

	/* a closed fd */
	fd = dup(self->pfd[0]);
	ASSERT_LE(0, fd);
	EXPECT_EQ(fd, tpio_fd_from_handle(tpio_handle_from_fd(fd)));
	close(fd);
	SetLastError(0xdead);
	io = CreateThreadpoolIo(tpio_handle_from_fd(fd), probe_cb, &p,
				&self->env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());

	/* an object handle is not an fd */
	ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ASSERT_NE(NULL, ev);
	SetLastError(0xdead);
	io = CreateThreadpoolIo(ev, probe_cb, &p, &self->env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(TRUE, CloseHandle(ev));
	EXPECT_EQ(0U, tpio_io_count());
}

/* A bad environment or callback fails with ERROR_INVALID_PARAMETER. */
TEST_F(tp, bad_environment)
{
	static struct probe p;
	TP_CALLBACK_ENVIRON env;
	PTP_IO io;

	probe_init(&p, NULL);
	env = self->env;
	env.Version = 2;
	SetLastError(0xdead);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());

	env = self->env;
	SetThreadpoolCallbackPriority(&env, TP_CALLBACK_PRIORITY_INVALID);
	SetLastError(0xdead);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());

	SetLastError(0xdead);
	io = CreateThreadpoolIo(self->h, NULL, &p, &self->env);
	EXPECT_EQ(NULL, io);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());

	/* none of the failures left a binding behind */
	EXPECT_EQ(0U, tpio_io_count());
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	CloseThreadpoolIo(io);
}

static void lasterror_thread(void *arg)
{
	DWORD *seen = arg;

	seen[0] = GetLastError();
	SetLastError(77);
	/* a failing call sets this thread's error only */
	CreateThreadpoolIo(INVALID_HANDLE_VALUE, probe_cb, NULL, NULL);
	seen[1] = GetLastError();
}

/* GetLastError/SetLastError are per thread. */
TEST_F(tp, last_error_is_thread_local)
{
	DWORD seen[2] = { 0xcccccccc, 0xcccccccc };
	struct bg t;

	SetLastError(1234);
	ASSERT_TRUE(bg_start(&t, lasterror_thread, seen));
	ASSERT_EQ(0, bg_join(&t, RELEASED_MS));
	EXPECT_EQ(0U, seen[0]);
	EXPECT_EQ(ERROR_INVALID_HANDLE, seen[1]);
	EXPECT_EQ(1234U, GetLastError());
}

/* How many objects a new pool takes with TPIO_MAX_OBJECTS=@objects. */
static int objects_of_a_pool(struct __test_metadata *_metadata,
			     const char *objects)
{
	TP_CALLBACK_ENVIRON env;
	static struct probe p;
	PTP_IO ios[64];
	int fds[64];
	PTP_POOL pool;
	int n, i;

	setenv("TPIO_MAX_OBJECTS", objects, 1);
	pool = CreateThreadpool(NULL);
	EXPECT_NE(NULL, pool);
	if (!pool)
		return -1;
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	probe_init(&p, NULL);
	for (n = 0; n < 64; n++) {
		fds[n] = dup(0);
		if (fds[n] < 0)
			break;
		ios[n] = CreateThreadpoolIo(tpio_handle_from_fd(fds[n]), probe_cb,
					    &p, &env);
		if (!ios[n]) {
			EXPECT_EQ(ERROR_NOT_ENOUGH_MEMORY, GetLastError());
			close(fds[n]);
			break;
		}
	}
	for (i = 0; i < n; i++) {
		CloseThreadpoolIo(ios[i]);
		close(fds[i]);
	}
	CloseThreadpool(pool);
	return n;
}

/*
 * [T] TPIO_MAX_OBJECTS (and TPIO_RING_ENTRIES) size one pool and are read
 * again for each new pool: a process can make a larger pool after a
 * smaller one.
 */
TEST(pool_sizes_are_read_per_pool)
{
	int small = objects_of_a_pool(_metadata, "4");
	int large = objects_of_a_pool(_metadata, "16");

	EXPECT_LE(1, small);
	EXPECT_GE(4, small);
	EXPECT_LT(small + 8, large);
	EXPECT_GE(16, large);
}

static VOID CALLBACK noop_io_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)ctx; (void)ov; (void)res; (void)bytes; (void)io;
}

/* The "was dropped" lines in what @f received, read from its start. */
static int dropped_lines(FILE *f)
{
	char line[512];
	int n = 0;

	fflush(f);
	rewind(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "was dropped") != NULL;
	return n;
}

/*
 * TPIO_DEBUG=1 says when a completion is dropped because no
 * StartThreadpoolIo was outstanding (the classic misuse), once per
 * object: three drops of one object make one line, a new object's drop
 * another, and a completion that was started makes none.
 */
TEST(debug_says_a_dropped_completion_once_per_object)
{
	static OVERLAPPED ov[5];
	TP_CALLBACK_ENVIRON env;
	int fds[2], saved, i;
	PTP_POOL pool;
	PTP_IO io;
	FILE *err;

	/* read by the library once, at its first look, in this process */
	ASSERT_EQ(0, setenv("TPIO_DEBUG", "1", 1));
	err = tmpfile();
	ASSERT_NE(NULL, err);
	saved = dup(2);
	ASSERT_LE(0, saved);
	ASSERT_EQ(2, dup2(fileno(err), 2));

	pool = CreateThreadpool(NULL);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	ASSERT_EQ(0, pipe(fds));
	io = CreateThreadpoolIo(tpio_handle_from_fd(fds[0]), noop_io_cb, NULL,
				&env);
	for (i = 0; io && i < 3; i++)
		tpio_post_completion(io, &ov[i], 0, 0);
	if (io) {
		StartThreadpoolIo(io);
		tpio_post_completion(io, &ov[3], 0, 0);
		WaitForThreadpoolIoCallbacks(io, FALSE);
		CloseThreadpoolIo(io);
	}
	/* another object, maybe in the same slot: said again */
	io = CreateThreadpoolIo(tpio_handle_from_fd(fds[0]), noop_io_cb, NULL,
				&env);
	if (io) {
		tpio_post_completion(io, &ov[4], 0, 0);
		CloseThreadpoolIo(io);
	}

	dup2(saved, 2);
	close(saved);
	EXPECT_NE(NULL, pool);
	EXPECT_EQ(2, dropped_lines(err));
	fclose(err);
	close(fds[0]);
	close(fds[1]);
	DestroyThreadpoolEnvironment(&env);
	if (pool)
		CloseThreadpool(pool);
}
