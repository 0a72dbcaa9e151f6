// SPDX-License-Identifier: MIT
/*
 * Timers: Documentation/contract.rst, "Timers" (CreateThreadpoolTimer ...
 * CloseThreadpoolTimer): due times, periods, a timer set again in its own
 * callback, SetThreadpoolTimerEx, Wait(TRUE), Close, cleanup groups, and
 * many timers at once (the timer heap). Included by scenarios.c.
 */

struct tprobe {
	atomic_int calls, done, bad;
	PTP_TIMER timer;
	struct gate *gate;	/* the first callback blocks while closed */
	int reset_first;
	int close_self;
	int64_t first_ms;	/* now_ms() at the first callback */
};

static void ft_set(FILETIME *ft, int64_t v)
{
	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)((uint64_t)v >> 32);
}

static VOID CALLBACK tprobe_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PTP_TIMER timer)
{
	struct tprobe *p = ctx;
	int i = atomic_fetch_add(&p->calls, 1);

	if (i == 0)
		p->first_ms = now_ms();
	if (!inst || (p->timer && timer != p->timer))
		atomic_store(&p->bad, 1);
	if (p->reset_first && i == 0) {
		FILETIME ft;

		ft_set(&ft, -10 * 10000LL);
		SetThreadpoolTimer(timer, &ft, 0, 0);
	}
	if (p->gate && i == 0)
		gate_wait(p->gate);
	if (p->close_self)
		CloseThreadpoolTimer(timer);
	atomic_fetch_add(&p->done, 1);
}

/* the FILETIME now + @ms */
static void ft_abs_ms(FILETIME *ft, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ft_set(ft, 116444736000000000LL + (int64_t)ts.tv_sec * 10000000LL +
		   ts.tv_nsec / 100 + ms * 10000);
}

static PTP_TIMER tprobe_timer(struct tprobe *p, PTP_CALLBACK_ENVIRON env)
{
	p->timer = CreateThreadpoolTimer(tprobe_cb, p, env);
	return p->timer;
}

static void timer_stop_close(PTP_TIMER t)
{
	SetThreadpoolTimer(t, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(t, TRUE);
	CloseThreadpoolTimer(t);
}

TEST_F(tp, timer_relative_one_shot)
{
	static struct tprobe p;
	FILETIME ft;
	int64_t t0;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	EXPECT_EQ(FALSE, IsThreadpoolTimerSet(p.timer));
	ft_set(&ft, -50 * 10000LL);
	t0 = now_ms();
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	EXPECT_EQ(TRUE, IsThreadpoolTimerSet(p.timer));
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_GE(p.first_ms - t0, 49);
	EXPECT_EQ(0, atomic_load(&p.bad));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	/* still "set" after a one-shot expiry, until NULL (Wine) */
	EXPECT_EQ(TRUE, IsThreadpoolTimerSet(p.timer));
	SetThreadpoolTimer(p.timer, NULL, 0, 0);
	EXPECT_EQ(FALSE, IsThreadpoolTimerSet(p.timer));
	CloseThreadpoolTimer(p.timer);
}

TEST_F(tp, timer_absolute_zero_and_past)
{
	static struct tprobe p;
	FILETIME ft;
	int64_t t0;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_abs_ms(&ft, 60);
	t0 = now_ms();
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_GE(p.first_ms - t0, 50);
	ft_set(&ft, 0);
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	EXPECT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	ft_abs_ms(&ft, -1000);
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	EXPECT_TRUE(wait_count(&p.done, 3, RELEASED_MS));
	timer_stop_close(p.timer);
}

TEST_F(tp, timer_null_due_time_stops_it)
{
	static struct tprobe p;
	FILETIME ft;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -50 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 10, 0);
	SetThreadpoolTimer(p.timer, NULL, 0, 0);
	sleep_ms(STILL_BLOCKED_MS * 2);
	EXPECT_EQ(0, atomic_load(&p.calls));
	CloseThreadpoolTimer(p.timer);
}

TEST_F(tp, timer_periodic)
{
	static struct tprobe p;
	FILETIME ft;
	int n;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -10 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 20, 0);
	EXPECT_TRUE(wait_count(&p.done, 5, RELEASED_MS));
	SetThreadpoolTimer(p.timer, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(p.timer, FALSE);
	n = atomic_load(&p.done);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(n, atomic_load(&p.done));
	CloseThreadpoolTimer(p.timer);
}

/* Windows: a timer set again inside its own callback expires again */
TEST_F(tp, timer_reset_inside_its_callback)
{
	static struct tprobe p;
	FILETIME ft;

	p.reset_first = 1;
	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -10 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	EXPECT_TRUE(wait_count(&p.done, 2, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(2, atomic_load(&p.calls));
	timer_stop_close(p.timer);
}

/* [T] SetThreadpoolTimerEx: TRUE when an armed timer was replaced or stopped */
TEST_F(tp, timer_set_ex_says_whether_it_was_armed)
{
	static struct tprobe p;
	FILETIME ft;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -10000 * 10000LL);
	EXPECT_EQ(FALSE, SetThreadpoolTimerEx(p.timer, &ft, 0, 0));
	EXPECT_EQ(TRUE, SetThreadpoolTimerEx(p.timer, &ft, 0, 0));
	EXPECT_EQ(TRUE, SetThreadpoolTimerEx(p.timer, NULL, 0, 0));
	EXPECT_EQ(FALSE, SetThreadpoolTimerEx(p.timer, NULL, 0, 0));
	ft_set(&ft, -10 * 10000LL);
	EXPECT_EQ(FALSE, SetThreadpoolTimerEx(p.timer, &ft, 0, 0));
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	/* expired: set, but no expiry was left to cancel */
	EXPECT_EQ(TRUE, IsThreadpoolTimerSet(p.timer));
	EXPECT_EQ(FALSE, SetThreadpoolTimerEx(p.timer, NULL, 0, 0));
	CloseThreadpoolTimer(p.timer);
}

/* Wait(TRUE) cancels an expiry queued behind a busy worker; the timer stays set */
TEST_F(tp, timer_wait_true_cancels_queued_expiry)
{
	static struct tprobe blk, p;
	static struct gate g;
	FILETIME ft;

	gate_init(&g);
	blk.gate = &g;
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_NE(NULL, tprobe_timer(&blk, &self->env));
	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, 0);
	SetThreadpoolTimer(blk.timer, &ft, 0, 0);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	SetThreadpoolTimer(p.timer, &ft, 0, 0);
	sleep_ms(STILL_BLOCKED_MS);
	WaitForThreadpoolTimerCallbacks(p.timer, TRUE);
	EXPECT_EQ(TRUE, IsThreadpoolTimerSet(p.timer));
	gate_open(&g);
	WaitForThreadpoolTimerCallbacks(blk.timer, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
	timer_stop_close(p.timer);
	timer_stop_close(blk.timer);
}

TEST_F(tp, timer_close_while_set)
{
	static struct tprobe p;
	FILETIME ft;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -30 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 10, 0);
	CloseThreadpoolTimer(p.timer);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
}

TEST_F(tp, timer_close_inside_its_callback)
{
	static struct tprobe p;
	FILETIME ft;

	p.close_self = 1;
	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -10 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 1000, 0);
	EXPECT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
}

/* group release stops a periodic member; with cancel a queued expiry never runs */
static void timer_group_release(struct __test_metadata *_metadata,
				FIXTURE_DATA(tp) *self, BOOL cancel)
{
	static struct tprobe blk, per, q;
	static struct gate g;
	TP_CALLBACK_ENVIRON genv;
	struct wg_release r;
	struct bg b;
	FILETIME ft;
	int n;

	gate_init(&g);
	blk.gate = &g;
	r.g = CreateThreadpoolCleanupGroup();
	r.cancel = cancel;
	ASSERT_NE(NULL, r.g);
	SetThreadpoolThreadMaximum(self->pool, 1);
	genv = self->env;
	SetThreadpoolCallbackCleanupGroup(&genv, r.g, wg_cancel);
	ASSERT_NE(NULL, tprobe_timer(&blk, &self->env));
	ASSERT_NE(NULL, tprobe_timer(&per, &genv));
	ASSERT_NE(NULL, tprobe_timer(&q, &genv));
	ft_set(&ft, -10 * 10000LL);
	SetThreadpoolTimer(per.timer, &ft, 20, 0);
	ASSERT_TRUE(wait_count(&per.done, 1, RELEASED_MS));
	ft_set(&ft, 0);
	SetThreadpoolTimer(blk.timer, &ft, 0, 0);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	SetThreadpoolTimer(q.timer, &ft, 0, 0);
	sleep_ms(STILL_BLOCKED_MS);
	ASSERT_TRUE(bg_start(&b, bg_group_release, &r));
	if (!cancel) {
		/* it waits for the queued expiries */
		EXPECT_EQ(ETIMEDOUT, bg_join(&b, STILL_BLOCKED_MS));
	} else {
		/* nothing to wait for: blk is no member */
		EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	}
	gate_open(&g);
	if (!cancel) {
		EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	}
	n = atomic_load(&per.done);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(n, atomic_load(&per.done));
	EXPECT_EQ(cancel ? 0 : 1, atomic_load(&q.done));
	EXPECT_EQ(cancel ? 2 : 0, atomic_load(&wg.calls));
	timer_stop_close(blk.timer);
	CloseThreadpoolCleanupGroup(r.g);
}

TEST_F(tp, timer_group_release)
{
	timer_group_release(_metadata, self, FALSE);
}

TEST_F(tp, timer_group_release_cancel)
{
	timer_group_release(_metadata, self, TRUE);
}

TEST_F(tp, timer_bad_arguments)
{
	static struct tprobe p;
	FILETIME ft;

	ft_set(&ft, 0);
	SetLastError(0);
	EXPECT_EQ(NULL, CreateThreadpoolTimer(NULL, &p, &self->env));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetThreadpoolTimer(NULL, &ft, 0, 0);
	EXPECT_EQ(FALSE, SetThreadpoolTimerEx(NULL, &ft, 0, 0));
	EXPECT_EQ(FALSE, IsThreadpoolTimerSet(NULL));
	WaitForThreadpoolTimerCallbacks(NULL, TRUE);
	CloseThreadpoolTimer(NULL);
	{
		PTP_WORK w = CreateThreadpoolWork(wprobe_cb, &p, &self->env);

		ASSERT_NE(NULL, w);
		SetThreadpoolTimer((PTP_TIMER)w, &ft, 0, 0);
		CloseThreadpoolTimer((PTP_TIMER)w);
		EXPECT_EQ(1U, tpio_io_count());
		CloseThreadpoolWork(w);
	}
}

/* many timers with scattered due times: each expires once (the heap) */
TEST_F(tp, timer_many)
{
	enum { N = 200 };
	static struct tprobe p[N];
	FILETIME ft;
	int i, total = 0;

	for (i = 0; i < N; i++) {
		ASSERT_NE(NULL, tprobe_timer(&p[i], &self->env));
		/* 300 to 349 ms: the stops below come well before */
		ft_set(&ft, -(int64_t)(300 + (i * 37) % 50) * 10000LL);
		SetThreadpoolTimer(p[i].timer, &ft, 0, 0);
	}
	/* replace some settings, stop others */
	for (i = 0; i < N; i += 7)
		SetThreadpoolTimer(p[i].timer, NULL, 0, 0);
	for (i = 0; i < N; i++)
		if (i % 7)
			total++;
	sleep_ms(400);
	for (i = 0; i < N; i++) {
		if (i % 7) {
			EXPECT_TRUE(wait_count(&p[i].done, 1, RELEASED_MS));
		}
		WaitForThreadpoolTimerCallbacks(p[i].timer, FALSE);
	}
	for (i = 0; i < N; i++) {
		total -= atomic_load(&p[i].calls);
		timer_stop_close(p[i].timer);
	}
	EXPECT_EQ(0, total);
}

/*
 * A pool closed the moment a callback queued by a thread that is not one
 * of its workers (the timer thread, a SetEvent, a SubmitThreadpoolWork)
 * has closed its object: the poster may still be waking a worker of that
 * pool, and the pool must outlive it (under ASan or TSan a use after free
 * here is a report). Many short rounds make the window likely.
 */
enum { POSTER_TIMER, POSTER_EVENT, POSTER_SUBMIT };

struct close_race {
	atomic_int done;
	int kind;
	PTP_TIMER timer;
	PTP_WAIT wait;
	PTP_WORK work;
	HANDLE ev;
};

static VOID CALLBACK race_timer_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				   PTP_TIMER t)
{
	struct close_race *r = ctx;

	(void)inst;
	CloseThreadpoolTimer(t);
	atomic_store(&r->done, 1);
}

static VOID CALLBACK race_wait_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				  PTP_WAIT w, TP_WAIT_RESULT res)
{
	struct close_race *r = ctx;

	(void)inst;
	(void)res;
	CloseThreadpoolWait(w);
	atomic_store(&r->done, 1);
}

static VOID CALLBACK race_work_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				  PTP_WORK w)
{
	struct close_race *r = ctx;

	(void)inst;
	CloseThreadpoolWork(w);
	atomic_store(&r->done, 1);
}

static void race_poster(void *arg)
{
	struct close_race *r = arg;

	if (r->kind == POSTER_EVENT)
		SetEvent(r->ev);
	else
		SubmitThreadpoolWork(r->work);
}

static void pool_close_race(struct __test_metadata *_metadata, int kind)
{
	enum { ROUNDS = 150 };
	int i;

	for (i = 0; i < ROUNDS; i++) {
		static struct close_race r;
		TP_CALLBACK_ENVIRON env;
		PTP_POOL pool = CreateThreadpool(NULL);
		struct bg b = { 0 };
		FILETIME ft;

		ASSERT_NE(NULL, pool);
		memset(&r, 0, sizeof(r));
		r.kind = kind;
		InitializeThreadpoolEnvironment(&env);
		SetThreadpoolCallbackPool(&env, pool);
		if (kind == POSTER_TIMER) {
			r.timer = CreateThreadpoolTimer(race_timer_cb, &r, &env);
			ASSERT_NE(NULL, r.timer);
			ft_set(&ft, 0);
			SetThreadpoolTimer(r.timer, &ft, 0, 0);
		} else if (kind == POSTER_EVENT) {
			r.ev = CreateEventW(NULL, FALSE, FALSE, NULL);
			ASSERT_NE(NULL, r.ev);
			r.wait = CreateThreadpoolWait(race_wait_cb, &r, &env);
			ASSERT_NE(NULL, r.wait);
			SetThreadpoolWait(r.wait, r.ev, NULL);
			ASSERT_TRUE(bg_start(&b, race_poster, &r));
		} else {
			r.work = CreateThreadpoolWork(race_work_cb, &r, &env);
			ASSERT_NE(NULL, r.work);
			ASSERT_TRUE(bg_start(&b, race_poster, &r));
		}
		while (!atomic_load(&r.done))
			sched_yield();
		/* at once: the poster may still be inside its post */
		CloseThreadpool(pool);
		DestroyThreadpoolEnvironment(&env);
		if (b.started)
			ASSERT_EQ(0, bg_join(&b, RELEASED_MS));
		if (r.ev)
			CloseHandle(r.ev);
		ASSERT_TRUE(wait_io_count(0, RELEASED_MS));
	}
}

TEST_F(tp, pool_closed_right_after_a_timer_callback)
{
	pool_close_race(_metadata, POSTER_TIMER);
}

TEST_F(tp, pool_closed_right_after_a_wait_callback)
{
	pool_close_race(_metadata, POSTER_EVENT);
}

TEST_F(tp, pool_closed_right_after_a_submitted_callback)
{
	pool_close_race(_metadata, POSTER_SUBMIT);
}
