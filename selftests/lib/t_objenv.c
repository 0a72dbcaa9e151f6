// SPDX-License-Identifier: MIT
/*
 * Timers and waits with callback environments and callback instances
 * (Documentation/contract.rst, "Timers" and "Waits"): priorities order
 * their queued callbacks as they order work items; a RunsLong environment
 * makes CallbackMayRunLong TRUE at the thread limit; the *WhenCallbackReturns
 * actions run at the callback's end, and DisassociateCurrentThreadFromCallback
 * lets WaitFor...Callbacks return while the callback still runs; a timer's
 * window length never delays it ([T]). Included by scenarios.c, after
 * t_work.c (its gated work item blocks the pool's one worker).
 */

struct oprobe {
	atomic_int calls, done, may;	/* may: 2 TRUE, 1 FALSE */
	int tag;
	HANDLE ev, sem;			/* SetEvent/ReleaseSemaphore...Returns */
	struct gate *gate;		/* blocks, disassociated, while closed */
	PTP_TIMER timer;
	PTP_WAIT wait;
};

static atomic_int o_order[8];
static atomic_int o_norder;

static void oprobe_run(struct oprobe *p, PTP_CALLBACK_INSTANCE inst)
{
	int o = atomic_fetch_add(&o_norder, 1);

	if (o < 8)
		atomic_store(&o_order[o], p->tag);
	atomic_store(&p->may, CallbackMayRunLong(inst) ? 2 : 1);
	if (p->ev)
		SetEventWhenCallbackReturns(inst, p->ev);
	if (p->sem)
		ReleaseSemaphoreWhenCallbackReturns(inst, p->sem, 1);
	atomic_fetch_add(&p->calls, 1);
	if (p->gate) {
		DisassociateCurrentThreadFromCallback(inst);
		gate_wait(p->gate);
	}
	atomic_fetch_add(&p->done, 1);
}

static VOID CALLBACK otimer_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PTP_TIMER timer)
{
	(void)timer;
	oprobe_run(ctx, inst);
}

static VOID CALLBACK owait_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			      PTP_WAIT wait, TP_WAIT_RESULT res)
{
	(void)wait;
	(void)res;
	oprobe_run(ctx, inst);
}

/*
 * A timer (@timers) due now (an absolute FILETIME of 0), or a wait on the
 * signalled event @set, for @p on @env: its callback is queued. 0 if the
 * object could not be made.
 */
static int oprobe_arm(struct oprobe *p, PTP_CALLBACK_ENVIRON env, int timers,
		      HANDLE set)
{
	FILETIME ft = { 0, 0 };

	if (timers) {
		p->timer = CreateThreadpoolTimer(otimer_cb, p, env);
		if (p->timer)
			SetThreadpoolTimer(p->timer, &ft, 0, 0);
		return p->timer != NULL;
	}
	p->wait = CreateThreadpoolWait(owait_cb, p, env);
	if (p->wait)
		SetThreadpoolWait(p->wait, set, NULL);
	return p->wait != NULL;
}

/* Stop, drain and close @p's timer or wait. */
static void oprobe_end(struct oprobe *p)
{
	if (p->timer)
		timer_stop_close(p->timer);
	else
		wait_stop_close(p->wait);
}

static void bg_timer_wait_false(void *t)
{
	WaitForThreadpoolTimerCallbacks(t, FALSE);
}

static void bg_wait_wait_false(void *w)
{
	WaitForThreadpoolWaitCallbacks(w, FALSE);
}

/*
 * Three objects of one kind, environments LOW, NORMAL, HIGH, queued in
 * that order behind a work item that holds the pool's only worker: they
 * run HIGH, NORMAL, LOW, as work items do (work_priorities).
 */
static void obj_priorities(struct __test_metadata *_metadata,
			   FIXTURE_DATA(tp) *self, int timers)
{
	static struct wprobe blk;
	static struct oprobe p[3];
	static struct gate g;
	TP_CALLBACK_ENVIRON env[3];
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	int i;

	memset(&blk, 0, sizeof(blk));
	memset(p, 0, sizeof(p));
	gate_init(&g);
	blk.gate = &g;
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_NE(NULL, wprobe_work(&blk, &self->env));
	SubmitThreadpoolWork(blk.work);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	atomic_store(&o_norder, 0);
	for (i = 0; i < 3; i++) {
		env[i] = self->env;
		SetThreadpoolCallbackPriority(&env[i], (TP_CALLBACK_PRIORITY)(2 - i));
		p[i].tag = 2 - i;
		ASSERT_TRUE(oprobe_arm(&p[i], &env[i], timers, set));
	}
	/* all three queued (by the timer thread, or the event's watchers) */
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&o_norder));
	gate_open(&g);
	for (i = 0; i < 3; i++) {
		EXPECT_TRUE(wait_count(&p[i].done, 1, RELEASED_MS));
		oprobe_end(&p[i]);
	}
	EXPECT_EQ(TP_CALLBACK_PRIORITY_HIGH, atomic_load(&o_order[0]));
	EXPECT_EQ(TP_CALLBACK_PRIORITY_NORMAL, atomic_load(&o_order[1]));
	EXPECT_EQ(TP_CALLBACK_PRIORITY_LOW, atomic_load(&o_order[2]));
	WaitForThreadpoolWorkCallbacks(blk.work, FALSE);
	CloseThreadpoolWork(blk.work);
	CloseHandle(set);
}

TEST_F(tp, timer_priorities)
{
	obj_priorities(_metadata, self, 1);
}

TEST_F(tp, wait_priorities)
{
	obj_priorities(_metadata, self, 0);
}

/*
 * One object of one kind, at a thread maximum of 1: CallbackMayRunLong is
 * FALSE in a plain environment and TRUE in a RunsLong one; the callback's
 * SetEventWhenCallbackReturns and ReleaseSemaphoreWhenCallbackReturns act
 * when it returns, not before; after DisassociateCurrentThreadFromCallback
 * WaitFor...Callbacks(FALSE) returns while the callback still blocks.
 */
static void obj_instance(struct __test_metadata *_metadata,
			 FIXTURE_DATA(tp) *self, int timers)
{
	static struct oprobe p;
	static struct gate g;
	TP_CALLBACK_ENVIRON env;
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	struct bg b;
	int runs_long;

	SetThreadpoolThreadMaximum(self->pool, 1);
	for (runs_long = 0; runs_long < 2; runs_long++) {
		memset(&p, 0, sizeof(p));
		gate_init(&g);
		p.gate = &g;
		p.ev = CreateEventW(NULL, TRUE, FALSE, NULL);
		p.sem = CreateSemaphoreW(NULL, 0, 4, NULL);
		ASSERT_NE(NULL, p.ev);
		ASSERT_NE(NULL, p.sem);
		env = self->env;
		if (runs_long)
			SetThreadpoolCallbackRunsLong(&env);
		ASSERT_TRUE(oprobe_arm(&p, &env, timers, set));
		ASSERT_TRUE(wait_count(&p.calls, 1, RELEASED_MS));
		EXPECT_EQ(runs_long ? 2 : 1, atomic_load(&p.may));
		ASSERT_TRUE(bg_start(&b, timers ? bg_timer_wait_false :
					     bg_wait_wait_false,
				     timers ? (void *)p.timer : (void *)p.wait));
		/* disassociated: the wait for its callbacks does not wait */
		EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
		EXPECT_EQ(0, atomic_load(&p.done));
		EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(p.ev, 0));
		EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(p.sem, 0));
		gate_open(&g);
		bg_join(&b, RELEASED_MS);	/* if it did wait */
		EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(p.ev, RELEASED_MS));
		EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(p.sem, RELEASED_MS));
		/* released by exactly 1 */
		EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(p.sem, 0));
		EXPECT_EQ(1, atomic_load(&p.done));
		oprobe_end(&p);
		CloseHandle(p.ev);
		CloseHandle(p.sem);
	}
	CloseHandle(set);
}

TEST_F(tp, timer_environment_and_instance)
{
	obj_instance(_metadata, self, 1);
}

TEST_F(tp, wait_environment_and_instance)
{
	obj_instance(_metadata, self, 0);
}

/*
 * [T] The window length is accepted and never delays an expiry: a window
 * of 10 s does not move a 50 ms one-shot timer, nor a 20 ms period.
 */
TEST_F(tp, timer_window_length_never_delays)
{
	static struct tprobe p;
	FILETIME ft;
	int64_t t0;

	ASSERT_NE(NULL, tprobe_timer(&p, &self->env));
	ft_set(&ft, -50 * 10000LL);
	t0 = now_ms();
	SetThreadpoolTimer(p.timer, &ft, 0, 10000);
	ASSERT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_GE(p.first_ms - t0, 49);
	SetThreadpoolTimer(p.timer, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(p.timer, FALSE);
	ft_set(&ft, -10 * 10000LL);
	SetThreadpoolTimer(p.timer, &ft, 20, 10000);
	/* five periods in well under the window */
	EXPECT_TRUE(wait_count(&p.done, 6, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.bad));
	timer_stop_close(p.timer);
}
