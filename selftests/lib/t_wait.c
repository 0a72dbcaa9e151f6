// SPDX-License-Identifier: MIT
/*
 * Waits: Documentation/contract.rst, "Waits" (CreateThreadpoolWait ...
 * CloseThreadpoolWait) on events, semaphores and mutexes: WAIT_OBJECT_0
 * and WAIT_TIMEOUT, a wait set again in its callback, a wait timing out,
 * SetThreadpoolWaitEx, Wait(TRUE), Close, cleanup groups, a signal racing
 * with the timeout; and the Linux extension, waits on a readable fd
 * handle, on each I/O engine. Included by scenarios.c.
 */

#include <sys/eventfd.h>

struct xprobe {
	atomic_int calls, done, bad;
	atomic_int signalled;	/* callbacks with WAIT_OBJECT_0 */
	DWORD result[8];
	PTP_WAIT wait;
	HANDLE h;
	int rearm;		/* set the wait again from the first this many */
	struct gate *gate;	/* the first callback blocks while closed */
	int close_self;
	int drain;		/* h is a pipe: read one byte before re-arming */
};

static VOID CALLBACK xprobe_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PTP_WAIT wait, TP_WAIT_RESULT res)
{
	struct xprobe *p = ctx;
	int i = atomic_fetch_add(&p->calls, 1);

	if (i < 8)
		p->result[i] = res;
	if (res == WAIT_OBJECT_0)
		atomic_fetch_add(&p->signalled, 1);
	if (!inst || (p->wait && wait != p->wait))
		atomic_store(&p->bad, 1);
	if (p->drain) {
		char c;

		if (read(tpio_fd_from_handle(p->h), &c, 1) != 1)
			atomic_store(&p->bad, 1);
	}
	if (i < p->rearm)
		SetThreadpoolWait(wait, p->h, NULL);
	if (p->gate && i == 0)
		gate_wait(p->gate);
	if (p->close_self)
		CloseThreadpoolWait(wait);
	atomic_fetch_add(&p->done, 1);
}

static PTP_WAIT xprobe_wait(struct xprobe *p, PTP_CALLBACK_ENVIRON env)
{
	p->wait = CreateThreadpoolWait(xprobe_cb, p, env);
	return p->wait;
}

static void wait_stop_close(PTP_WAIT w)
{
	SetThreadpoolWait(w, NULL, NULL);
	WaitForThreadpoolWaitCallbacks(w, TRUE);
	CloseThreadpoolWait(w);
}

TEST_F(tp, wait_event_signalled)
{
	static struct xprobe p;

	p.h = CreateEventW(NULL, FALSE, FALSE, NULL);
	ASSERT_NE(NULL, p.h);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	EXPECT_EQ(TRUE, SetEvent(p.h));
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[0]);
	EXPECT_EQ(0, atomic_load(&p.bad));
	/* the auto-reset event went to the wait; one callback per setting */
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(p.h, 0));
	SetEvent(p.h);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(p.h, 0));
	wait_stop_close(p.wait);
	CloseHandle(p.h);
}

TEST_F(tp, wait_signalled_already_and_timeout_zero)
{
	static struct xprobe p;
	FILETIME zero = { 0, 0 };

	p.h = CreateEventW(NULL, TRUE, TRUE, NULL);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[0]);
	/* timeout 0: WAIT_TIMEOUT at once, also on a signalled object */
	SetThreadpoolWait(p.wait, p.h, &zero);
	ASSERT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	EXPECT_EQ(WAIT_TIMEOUT, p.result[1]);
	wait_stop_close(p.wait);
	CloseHandle(p.h);
}

/* Windows: a wait that times out gets WAIT_TIMEOUT, once */
TEST_F(tp, wait_times_out)
{
	static struct xprobe p;
	FILETIME ft;
	int64_t t0;

	p.h = CreateEventW(NULL, FALSE, FALSE, NULL);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	ft_set(&ft, -60 * 10000LL);
	t0 = now_ms();
	SetThreadpoolWait(p.wait, p.h, &ft);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_GE(now_ms() - t0, 59);
	EXPECT_EQ(WAIT_TIMEOUT, p.result[0]);
	SetEvent(p.h);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(p.h, 0));
	/* an absolute timeout */
	ft_abs_ms(&ft, 50);
	SetThreadpoolWait(p.wait, p.h, &ft);
	ASSERT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	EXPECT_EQ(WAIT_TIMEOUT, p.result[1]);
	wait_stop_close(p.wait);
	CloseHandle(p.h);
}

/* Windows: a wait set again in its callback waits again */
TEST_F(tp, wait_rearmed_in_its_callback)
{
	static struct xprobe p;
	int i;

	p.h = CreateEventW(NULL, FALSE, FALSE, NULL);
	p.rearm = 3;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	for (i = 1; i <= 4; i++) {
		SetEvent(p.h);
		ASSERT_TRUE(wait_count(&p.done, i, RELEASED_MS));
	}
	SetEvent(p.h);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(4, atomic_load(&p.calls));
	wait_stop_close(p.wait);
	CloseHandle(p.h);
}

TEST_F(tp, wait_semaphore_and_mutex)
{
	static struct xprobe p, m;
	LONG prev;

	p.h = CreateSemaphoreW(NULL, 0, 5, NULL);
	m.h = CreateMutexW(NULL, TRUE, NULL);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	ASSERT_NE(NULL, xprobe_wait(&m, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	SetThreadpoolWait(m.wait, m.h, NULL);
	EXPECT_EQ(TRUE, ReleaseSemaphore(p.h, 2, &prev));
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(p.h, 0));
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(p.h, 0));
	/* owned mutex: no callback until it is released */
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&m.calls));
	EXPECT_EQ(TRUE, ReleaseMutex(m.h));
	ASSERT_TRUE(wait_count(&m.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, m.result[0]);
	/* [T] the wait did not take the mutex */
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(m.h, 0));
	EXPECT_EQ(TRUE, ReleaseMutex(m.h));
	wait_stop_close(p.wait);
	wait_stop_close(m.wait);
	CloseHandle(p.h);
	CloseHandle(m.h);
}

TEST_F(tp, wait_manual_event_two_waits)
{
	static struct xprobe a, b;
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);

	ASSERT_NE(NULL, xprobe_wait(&a, &self->env));
	ASSERT_NE(NULL, xprobe_wait(&b, &self->env));
	SetThreadpoolWait(a.wait, ev, NULL);
	SetThreadpoolWait(b.wait, ev, NULL);
	SetEvent(ev);
	EXPECT_TRUE(wait_count(&a.done, 1, RELEASED_MS));
	EXPECT_TRUE(wait_count(&b.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
	wait_stop_close(a.wait);
	wait_stop_close(b.wait);
	CloseHandle(ev);
}

/* [T] SetThreadpoolWaitEx: TRUE when a set, unsatisfied wait was replaced or stopped */
TEST_F(tp, wait_set_ex_says_whether_it_was_set)
{
	static struct xprobe p;
	HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);

	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, ev, NULL, NULL));
	EXPECT_EQ(TRUE, SetThreadpoolWaitEx(p.wait, ev, NULL, NULL));
	EXPECT_EQ(TRUE, SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL));
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL));
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, ev, NULL, &p));
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, ev, NULL, NULL));
	SetEvent(ev);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	/* satisfied: nothing left to cancel */
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL));
	CloseThreadpoolWait(p.wait);
	CloseHandle(ev);
}

TEST_F(tp, wait_wait_true_cancels_queued_callback)
{
	static struct xprobe blk, p;
	static struct gate g;
	HANDLE ev = CreateEventW(NULL, TRUE, TRUE, NULL);

	gate_init(&g);
	blk.gate = &g;
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_NE(NULL, xprobe_wait(&blk, &self->env));
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(blk.wait, ev, NULL);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	SetThreadpoolWait(p.wait, ev, NULL);
	WaitForThreadpoolWaitCallbacks(p.wait, TRUE);
	gate_open(&g);
	WaitForThreadpoolWaitCallbacks(blk.wait, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	wait_stop_close(p.wait);
	wait_stop_close(blk.wait);
	CloseHandle(ev);
}

TEST_F(tp, wait_close_while_set_and_inside_callback)
{
	static struct xprobe p, s;
	HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);
	FILETIME ft;

	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	/*
	 * A timeout long enough that the Close comes first even on a slow
	 * sanitizer run (30 ms once did not, and its callback ran), and that
	 * ends within the look after it.
	 */
	ft_set(&ft, -(int64_t)STILL_BLOCKED_MS * 10000LL);
	SetThreadpoolWait(p.wait, ev, &ft);
	CloseThreadpoolWait(p.wait);
	SetEvent(ev);
	sleep_ms(STILL_BLOCKED_MS * 2);
	EXPECT_EQ(0, atomic_load(&p.calls));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
	s.close_self = 1;
	ASSERT_NE(NULL, xprobe_wait(&s, &self->env));
	SetThreadpoolWait(s.wait, ev, NULL);
	SetEvent(ev);
	EXPECT_TRUE(wait_count(&s.done, 1, RELEASED_MS));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	CloseHandle(ev);
}

/* cancelling group release: a waiting member never fires; a queued callback is dropped */
static void wait_group_release(struct __test_metadata *_metadata,
			       FIXTURE_DATA(tp) *self, BOOL cancel)
{
	static struct xprobe blk, p, q;
	static struct gate g;
	TP_CALLBACK_ENVIRON genv;
	struct wg_release r;
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	HANDLE unset = CreateEventW(NULL, TRUE, FALSE, NULL);
	struct bg b;

	gate_init(&g);
	blk.gate = &g;
	r.g = CreateThreadpoolCleanupGroup();
	r.cancel = cancel;
	ASSERT_NE(NULL, r.g);
	SetThreadpoolThreadMaximum(self->pool, 1);
	genv = self->env;
	SetThreadpoolCallbackCleanupGroup(&genv, r.g, wg_cancel);
	ASSERT_NE(NULL, xprobe_wait(&blk, &self->env));
	ASSERT_NE(NULL, xprobe_wait(&p, &genv));
	ASSERT_NE(NULL, xprobe_wait(&q, &genv));
	SetThreadpoolWait(blk.wait, set, NULL);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	SetThreadpoolWait(p.wait, unset, NULL);
	SetThreadpoolWait(q.wait, set, NULL);
	sleep_ms(STILL_BLOCKED_MS);
	ASSERT_TRUE(bg_start(&b, bg_group_release, &r));
	if (!cancel) {
		/* it waits for q's queued callback, not for p's signal */
		EXPECT_EQ(ETIMEDOUT, bg_join(&b, STILL_BLOCKED_MS));
		gate_open(&g);
	}
	EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	gate_open(&g);
	SetEvent(unset);
	WaitForThreadpoolWaitCallbacks(blk.wait, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	EXPECT_EQ(cancel ? 0 : 1, atomic_load(&q.calls));
	EXPECT_EQ(cancel ? 2 : 0, atomic_load(&wg.calls));
	wait_stop_close(blk.wait);
	CloseThreadpoolCleanupGroup(r.g);
	CloseHandle(set);
	CloseHandle(unset);
}

TEST_F(tp, wait_group_release)
{
	wait_group_release(_metadata, self, FALSE);
}

TEST_F(tp, wait_group_release_cancel)
{
	wait_group_release(_metadata, self, TRUE);
}

/* signals racing with timeouts: each setting ends in exactly one callback */
TEST_F(tp, wait_signal_races_timeout)
{
	enum { N = 300 };
	static struct xprobe p;
	FILETIME ft;
	int i;

	p.h = CreateSemaphoreW(NULL, 0, N, NULL);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	for (i = 0; i < N; i++) {
		ft_set(&ft, -(int64_t)(i % 3) * 10000LL);
		SetThreadpoolWait(p.wait, p.h, &ft);
		if (i % 2)
			ReleaseSemaphore(p.h, 1, NULL);
		ASSERT_TRUE(wait_count(&p.done, i + 1, RELEASED_MS));
	}
	sleep_ms(20);
	EXPECT_EQ(N, atomic_load(&p.calls));
	wait_stop_close(p.wait);
	/* each release went to one wait or is still in the count */
	{
		int left = 0;

		while (WaitForSingleObject(p.h, 0) == WAIT_OBJECT_0)
			left++;
		EXPECT_EQ(N / 2, atomic_load(&p.signalled) + left);
	}
	CloseHandle(p.h);
}

/* the handle of an fd number that is not open */
static HANDLE closed_fd_handle(void)
{
	int fd = dup(0);

	if (fd >= 0)
		close(fd);
	return tpio_handle_from_fd(fd < 0 ? 1000000 : fd);
}

TEST_F(tp, wait_bad_arguments)
{
	static struct xprobe p;
	HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);

	SetLastError(0);
	EXPECT_EQ(NULL, CreateThreadpoolWait(NULL, &p, &self->env));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetThreadpoolWait(NULL, ev, NULL);
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(NULL, ev, NULL, NULL));
	WaitForThreadpoolWaitCallbacks(NULL, TRUE);
	CloseThreadpoolWait(NULL);
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	/* a closed handle, a closed fd: ignored, no callback */
	SetThreadpoolWait(p.wait, (HANDLE)(uintptr_t)0x7ff0002, NULL);
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, closed_fd_handle(), NULL,
					     NULL));
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	CloseThreadpoolWait(p.wait);
	CloseHandle(ev);
}

/* ---- waits on a readable fd handle (Linux extension, section 11) ---- */

/*
 * Each fd test runs twice: on the I/O engine the process gets (io_uring,
 * or the readiness engine where io_uring is blocked) and on the readiness
 * engine chosen with TPIO_IO_ENGINE=epoll (the harness runs each test in
 * a fresh process, which chooses its engine at its first request).
 */
#define FDW_TEST(name)							\
	static void name##_body(struct __test_metadata *_metadata,	\
				FIXTURE_DATA(tp) *self);		\
	TEST_F(tp, name)						\
	{								\
		name##_body(_metadata, self);				\
	}								\
	TEST_F(tp, name##_epoll)					\
	{								\
		setenv("TPIO_IO_ENGINE", "epoll", 1);			\
		ASSERT_STREQ("epoll", tpio_io_engine());		\
		name##_body(_metadata, self);				\
	}								\
	static void name##_body(struct __test_metadata *_metadata,	\
				FIXTURE_DATA(tp) *self)

static void put_byte(int fd)
{
	if (write(fd, "x", 1) != 1)
		abort();
}

static void take_byte(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		abort();
}

/* the engine's requests of the stopped waits end (cancelled and reaped) */
static int fdw_requests_gone(void)
{
	int64_t end = now_ms() + RELEASED_MS;

	while (tpio_io_ops_in_flight()) {
		if (now_ms() > end)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

/* a pipe becoming readable fires once; data there already fires at once */
FDW_TEST(wait_fd_readable_pipe)
{
	static struct xprobe p;

	p.h = self->h;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	put_byte(self->pfd[1]);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[0]);
	EXPECT_EQ(0, atomic_load(&p.bad));
	/* one callback per setting, though the byte is still there */
	put_byte(self->pfd[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	/* set again with data waiting: at once; the wait read nothing */
	SetThreadpoolWait(p.wait, p.h, NULL);
	ASSERT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[1]);
	take_byte(self->pfd[0]);
	take_byte(self->pfd[0]);
	/* an eventfd is an fd handle too */
	{
		int efd = eventfd(0, EFD_CLOEXEC);
		uint64_t one = 1;

		ASSERT_LE(0, efd);
		p.h = tpio_handle_from_fd(efd);
		SetThreadpoolWait(p.wait, p.h, NULL);
		sleep_ms(STILL_BLOCKED_MS / 2);
		EXPECT_EQ(2, atomic_load(&p.calls));
		ASSERT_EQ(8, write(efd, &one, 8));
		ASSERT_TRUE(wait_count(&p.done, 3, RELEASED_MS));
		EXPECT_EQ(WAIT_OBJECT_0, p.result[2]);
		wait_stop_close(p.wait);
		close(efd);
	}
	EXPECT_TRUE(fdw_requests_gone());
}

/* the timeout: WAIT_TIMEOUT once, and data later queues nothing */
FDW_TEST(wait_fd_times_out)
{
	static struct xprobe p;
	FILETIME ft;
	int64_t t0;

	p.h = self->h;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	ft_set(&ft, -50 * 10000LL);
	t0 = now_ms();
	SetThreadpoolWait(p.wait, p.h, &ft);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_GE(now_ms() - t0, 49);
	EXPECT_EQ(WAIT_TIMEOUT, p.result[0]);
	/* the request of the setting that timed out went with it */
	EXPECT_TRUE(fdw_requests_gone());
	put_byte(self->pfd[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	/* readiness first: WAIT_OBJECT_0, and the timeout queues nothing */
	SetThreadpoolWait(p.wait, p.h, &ft);
	ASSERT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(2, atomic_load(&p.calls));
	/* a timeout of 0: WAIT_TIMEOUT at once, readable or not [D] */
	ft.dwLowDateTime = ft.dwHighDateTime = 0;
	SetThreadpoolWait(p.wait, p.h, &ft);
	ASSERT_TRUE(wait_count(&p.done, 3, RELEASED_MS));
	EXPECT_EQ(WAIT_TIMEOUT, p.result[2]);
	wait_stop_close(p.wait);
	EXPECT_TRUE(fdw_requests_gone());
}

/* set again in its callback (which reads the byte): one callback a byte */
FDW_TEST(wait_fd_rearmed_in_its_callback)
{
	static struct xprobe p;
	int i;

	p.h = self->h;
	p.rearm = 3;
	p.drain = 1;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	for (i = 1; i <= 4; i++) {
		put_byte(self->pfd[1]);
		ASSERT_TRUE(wait_count(&p.done, i, RELEASED_MS));
	}
	put_byte(self->pfd[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(4, atomic_load(&p.calls));
	EXPECT_EQ(0, atomic_load(&p.bad));
	wait_stop_close(p.wait);
	EXPECT_TRUE(fdw_requests_gone());
}

/*
 * A setting replaced or stopped never fires: SetThreadpoolWaitEx says it
 * cancelled it; each setting ends in exactly one callback or one TRUE.
 */
FDW_TEST(wait_fd_replaced_never_fires)
{
	enum { N = 200 };
	static struct xprobe p;
	HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);
	FILETIME ft;
	int q[2], i, cancelled = 0;

	ASSERT_EQ(0, pipe(q));
	p.h = self->h;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	/*
	 * On the pipe with a timeout, replaced by another, empty pipe (the
	 * first request's cancel ends while the second setting is armed),
	 * then by an event. Were it not replaced, its timeout (250 ms) would
	 * show at the second look at p.calls.
	 */
	ft_set(&ft, -250 * 10000LL);
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait, p.h, &ft, NULL));
	sleep_ms(20);
	EXPECT_EQ(TRUE, SetThreadpoolWaitEx(p.wait, tpio_handle_from_fd(q[0]),
					    NULL, NULL));
	sleep_ms(STILL_BLOCKED_MS / 2);
	EXPECT_EQ(TRUE, SetThreadpoolWaitEx(p.wait, ev, NULL, NULL));
	put_byte(self->pfd[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	/* the event satisfies it */
	SetEvent(ev);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[0]);
	/* an empty pipe stopped with NULL, then written to: nothing */
	EXPECT_EQ(FALSE, SetThreadpoolWaitEx(p.wait,
					     tpio_handle_from_fd(q[0]), NULL,
					     NULL));
	EXPECT_EQ(TRUE, SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL));
	put_byte(q[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	/* settings on a readable pipe replaced as fast as they come */
	for (i = 0; i < N; i++)
		cancelled += SetThreadpoolWaitEx(p.wait, self->h, NULL, NULL);
	cancelled += SetThreadpoolWaitEx(p.wait, NULL, NULL, NULL);
	WaitForThreadpoolWaitCallbacks(p.wait, FALSE);
	sleep_ms(20);
	EXPECT_EQ(N, atomic_load(&p.calls) - 1 + cancelled);
	CloseThreadpoolWait(p.wait);
	CloseHandle(ev);
	close(q[0]);
	close(q[1]);
	EXPECT_TRUE(fdw_requests_gone());
}

/* closed while set, or in a group released: a later readiness queues nothing */
FDW_TEST(wait_fd_close_while_set)
{
	static struct xprobe p, g1;
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	TP_CALLBACK_ENVIRON genv;
	FILETIME ft;

	ASSERT_NE(NULL, g);
	p.h = g1.h = self->h;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	ft_set(&ft, -30 * 10000LL);
	SetThreadpoolWait(p.wait, p.h, &ft);
	CloseThreadpoolWait(p.wait);
	genv = self->env;
	SetThreadpoolCallbackCleanupGroup(&genv, g, NULL);
	ASSERT_NE(NULL, xprobe_wait(&g1, &genv));
	SetThreadpoolWait(g1.wait, g1.h, NULL);
	CloseThreadpoolCleanupGroupMembers(g, FALSE, NULL);
	put_byte(self->pfd[1]);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	EXPECT_EQ(0, atomic_load(&g1.calls));
	CloseThreadpoolCleanupGroup(g);
	EXPECT_TRUE(fdw_requests_gone());
}

/* a callback queued behind the busy worker, then Wait(TRUE): it never runs */
FDW_TEST(wait_fd_wait_true_cancels_queued_callback)
{
	static struct xprobe blk, p;
	static struct gate gt;
	HANDLE ev = CreateEventW(NULL, TRUE, TRUE, NULL);

	gate_init(&gt);
	blk.gate = &gt;
	p.h = self->h;
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_NE(NULL, xprobe_wait(&blk, &self->env));
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(blk.wait, ev, NULL);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	put_byte(self->pfd[1]);
	SetThreadpoolWait(p.wait, p.h, NULL);
	/* its request ended: the callback is queued */
	ASSERT_TRUE(fdw_requests_gone());
	WaitForThreadpoolWaitCallbacks(p.wait, TRUE);
	gate_open(&gt);
	WaitForThreadpoolWaitCallbacks(blk.wait, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	wait_stop_close(p.wait);
	wait_stop_close(blk.wait);
	CloseHandle(ev);
}

/*
 * [T] Hang-up counts as readable (a read would not block: it returns 0);
 * so does a regular file, at once, as poll(2) says. CancelIoEx on the fd
 * (no OVERLAPPED) leaves a wait's request alone: it is no I/O operation.
 */
FDW_TEST(wait_fd_hangup_file_and_cancel_io)
{
	static struct xprobe p;
	FILE *f = tmpfile();
	BOOL ret;

	ASSERT_NE(NULL, f);
	p.h = self->h;
	ASSERT_NE(NULL, xprobe_wait(&p, &self->env));
	SetThreadpoolWait(p.wait, p.h, NULL);
	ret = CancelIoEx(p.h, NULL);
	EXPECT_EQ(FALSE, ret);
	sleep_ms(STILL_BLOCKED_MS / 2);
	EXPECT_EQ(0, atomic_load(&p.calls));
	close(self->pfd[1]);
	self->pfd[1] = -1;
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[0]);
	SetThreadpoolWait(p.wait, tpio_handle_from_fd(fileno(f)), NULL);
	ASSERT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	EXPECT_EQ(WAIT_OBJECT_0, p.result[1]);
	wait_stop_close(p.wait);
	fclose(f);
	EXPECT_TRUE(fdw_requests_gone());
}

/* many waits at once: two on each of many pipes, each fires once */
FDW_TEST(wait_fd_many)
{
	enum { PIPES = 64, W = 2 * PIPES };
	static struct xprobe p[W];
	static int fds[PIPES][2];
	int i, total = 0;

	for (i = 0; i < PIPES; i++)
		ASSERT_EQ(0, pipe(fds[i]));
	for (i = 0; i < W; i++) {
		p[i].h = tpio_handle_from_fd(fds[i / 2][0]);
		ASSERT_NE(NULL, xprobe_wait(&p[i], &self->env));
		SetThreadpoolWait(p[i].wait, p[i].h, NULL);
	}
	for (i = 0; i < PIPES; i++)
		put_byte(fds[i][1]);
	for (i = 0; i < W; i++) {
		EXPECT_TRUE(wait_count(&p[i].done, 1, RELEASED_MS));
		EXPECT_EQ(WAIT_OBJECT_0, p[i].result[0]);
	}
	sleep_ms(20);
	for (i = 0; i < W; i++) {
		total += atomic_load(&p[i].calls);
		wait_stop_close(p[i].wait);
	}
	EXPECT_EQ(W, total);
	for (i = 0; i < PIPES; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	EXPECT_TRUE(fdw_requests_gone());
}
