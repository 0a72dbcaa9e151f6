// SPDX-License-Identifier: MIT
/*
 * Callback-instance scenarios: Documentation/contract.rst, section 3
 * (Disassociate, Wait and Close from inside a callback), section 5
 * (CallbackMayRunLong, the *WhenCallbackReturns actions and the
 * finalization callback) and scenarios 16, 17, 22, 23, 24 and 28.
 * Included by scenarios.c.
 */

/* Objects the actions below use; fresh in every test process. */
static struct {
	OVERLAPPED ov[4];
	HANDLE ev, ev2, sem, mutex;
	CRITICAL_SECTION cs;
	int use_cs;
	PTP_CALLBACK_INSTANCE inst;	/* published by act_publish_block */
	atomic_int fin_calls;
	atomic_int fin_bad;
	atomic_int fin_done;
	PVOID fin_ctx;
} ix;

/* ov[0]: wait for the object from inside (after disassociating); else block. */
static void act_wait_inside(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			    struct cb_rec *rec, int disassociate)
{
	if (rec->ov != &ix.ov[0]) {
		act_block(p, inst, rec);
		return;
	}
	if (disassociate)
		DisassociateCurrentThreadFromCallback(inst);
	atomic_store(&p->flag2, 1);
	WaitForThreadpoolIoCallbacks(rec->io, FALSE);
	atomic_store(&p->flag, 1);
}

static void act_disassoc_then_wait(struct probe *p, PTP_CALLBACK_INSTANCE inst,
				   struct cb_rec *rec)
{
	act_wait_inside(p, inst, rec, 1);
}

static void act_wait_without_disassoc(struct probe *p,
				      PTP_CALLBACK_INSTANCE inst,
				      struct cb_rec *rec)
{
	act_wait_inside(p, inst, rec, 0);
}

/*
 * Two callbacks run on two workers: ov[1]'s blocks on the gate, ov[0]'s
 * waits for its own object. The inner wait returns only after the blocked
 * callback ends.
 */
static void run_wait_inside(struct __test_metadata *_metadata,
			    FIXTURE_DATA(tp) *self, probe_action action)
{
	static struct probe p;
	static struct gate g;
	PTP_IO io;

	gate_init(&g);
	probe_init(&p, action);
	p.gate = &g;
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 2));
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[1], 0, 1));
	ASSERT_TRUE(wait_count(&p.started, 1, RELEASED_MS));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p.flag2, 1, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.flag));
	gate_open(&g);
	EXPECT_TRUE(wait_count(&p.flag, 1, RELEASED_MS));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	/* Wait(F) does not wait for a disassociated callback to return */
	EXPECT_TRUE(wait_count(&p.finished, 2, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.bad));
	CloseThreadpoolIo(io);
}

/* 16: Wait(F) inside its own callback after Disassociate. */
TEST_F(tp, s16_wait_inside_after_disassociate)
{
	run_wait_inside(_metadata, self, act_disassoc_then_wait);
}

/* §3 [T]: Wait(F) inside its own callback, not disassociated: no deadlock. */
TEST_F(tp, wait_inside_without_disassociate)
{
	run_wait_inside(_metadata, self, act_wait_without_disassoc);
}

/* 17: a disassociated callback blocked on an event does not hold Wait(F). */
TEST_F(tp, s17_disassociated_callback_releases_wait)
{
	static struct probe p;
	static struct gate g;
	struct bg w;
	PTP_IO io;

	gate_init(&g);
	probe_init(&p, act_disassoc_block);
	p.gate = &g;
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p.started, 1, RELEASED_MS));
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.finished));
	gate_open(&g);
	EXPECT_TRUE(wait_count(&p.finished, 1, RELEASED_MS));
	CloseThreadpoolIo(io);
}

static void act_disassoc_twice_block(struct probe *p,
				     PTP_CALLBACK_INSTANCE inst,
				     struct cb_rec *rec)
{
	if (rec->ov == &ix.ov[0]) {
		DisassociateCurrentThreadFromCallback(inst);
		DisassociateCurrentThreadFromCallback(inst);
	}
	act_block(p, inst, rec);
}

/* §3: a second Disassociate does nothing (the other callback still holds Wait(F)). */
TEST_F(tp, disassociate_twice_counts_once)
{
	static struct probe p;
	static struct gate g;
	struct bg w;
	PTP_IO io;

	gate_init(&g);
	probe_init(&p, act_disassoc_twice_block);
	p.gate = &g;
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 2));
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[1], 0, 1));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p.started, 2, RELEASED_MS));
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	gate_open(&g);
	EXPECT_EQ(0, bg_join(&w, RELEASED_MS));
	/* the disassociated one may still be returning */
	EXPECT_TRUE(wait_count(&p.finished, 2, RELEASED_MS));
	CloseThreadpoolIo(io);
}

static void act_publish_block(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			      struct cb_rec *rec)
{
	ix.inst = inst;
	atomic_store(&p->flag, 1);
	act_block(p, inst, rec);
}

/* Instance functions called from another thread do nothing. */
TEST_F(tp, instance_functions_on_wrong_thread)
{
	static struct probe p;
	static struct gate g;
	struct bg w;
	PTP_IO io;

	gate_init(&g);
	probe_init(&p, act_publish_block);
	p.gate = &g;
	ix.ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ASSERT_NE(NULL, ix.ev);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p.flag, 1, RELEASED_MS));

	DisassociateCurrentThreadFromCallback(ix.inst);
	SetEventWhenCallbackReturns(ix.inst, ix.ev);
	EXPECT_EQ(FALSE, CallbackMayRunLong(ix.inst));
	/* still associated: Wait(F) stays blocked */
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	gate_open(&g);
	EXPECT_EQ(0, bg_join(&w, RELEASED_MS));
	/* the event registration from this thread was ignored */
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(ix.ev, STILL_BLOCKED_MS));
	CloseThreadpoolIo(io);
	EXPECT_EQ(TRUE, CloseHandle(ix.ev));
	/* outside any callback */
	EXPECT_EQ(FALSE, CallbackMayRunLong(NULL));
}

static void act_may_run_long(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			     struct cb_rec *rec)
{
	(void)rec;
	atomic_store(&p->flag, CallbackMayRunLong(inst) ? 2 : 1);
}

static int may_run_long(struct __test_metadata *_metadata,
			FIXTURE_DATA(tp) *self, TP_CALLBACK_ENVIRON *env)
{
	static struct probe p;
	PTP_IO io;
	int ret;

	probe_init(&p, act_may_run_long);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, env);
	EXPECT_NE(NULL, io);
	if (!io)
		return -1;
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ret = atomic_load(&p.flag);
	CloseThreadpoolIo(io);
	return ret;
}

/* 22: CallbackMayRunLong is FALSE at the thread limit, TRUE with a spare worker. */
TEST_F(tp, s22_may_run_long_at_limit)
{
	SetThreadpoolThreadMaximum(self->pool, 1);
	EXPECT_EQ(1, may_run_long(_metadata, self, &self->env));
	/* a maximum of 0 means 1 */
	SetThreadpoolThreadMaximum(self->pool, 0);
	EXPECT_EQ(1, may_run_long(_metadata, self, &self->env));
}

TEST_F(tp, s22_may_run_long_with_spare_worker)
{
	SetThreadpoolThreadMaximum(self->pool, 2);
	EXPECT_EQ(2, may_run_long(_metadata, self, &self->env));
}

/* 23: in a RunsLong environment it is TRUE at once, even at the limit. */
TEST_F(tp, s23_runs_long_environment)
{
	SetThreadpoolThreadMaximum(self->pool, 1);
	SetThreadpoolCallbackRunsLong(&self->env);
	EXPECT_EQ(2, may_run_long(_metadata, self, &self->env));
}

/* Register every *WhenCallbackReturns action; check none has run yet. */
static void act_register_all(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			     struct cb_rec *rec)
{
	(void)rec;
	if (ix.use_cs) {
		EnterCriticalSection(&ix.cs);
		LeaveCriticalSectionWhenCallbackReturns(inst, &ix.cs);
	}
	if (ix.mutex) {
		if (WaitForSingleObject(ix.mutex, 0) != WAIT_OBJECT_0)
			atomic_fetch_add(&p->bad, 1);
		ReleaseMutexWhenCallbackReturns(inst, ix.mutex);
	}
	if (ix.sem) {
		ReleaseSemaphoreWhenCallbackReturns(inst, ix.sem, 1);
		/* only the first registration counts */
		ReleaseSemaphoreWhenCallbackReturns(inst, ix.sem, 2);
	}
	if (ix.ev) {
		SetEventWhenCallbackReturns(inst, ix.ev);
		if (ix.ev2)
			SetEventWhenCallbackReturns(inst, ix.ev2);
	}
	atomic_store(&p->flag, 1);
	sleep_ms(20);
	if (ix.ev && WaitForSingleObject(ix.ev, 0) != WAIT_TIMEOUT)
		atomic_fetch_add(&p->bad, 1);
	if (ix.sem && WaitForSingleObject(ix.sem, 0) != WAIT_TIMEOUT)
		atomic_fetch_add(&p->bad, 1);
}

static VOID CALLBACK finalization_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx)
{
	struct probe *p = ctx;

	atomic_fetch_add(&ix.fin_calls, 1);
	ix.fin_ctx = ctx;
	/* after the callback, before its actions */
	if (!inst || atomic_load(&p->finished) != 1)
		atomic_fetch_add(&ix.fin_bad, 1);
	sleep_ms(20);
	if (ix.ev && WaitForSingleObject(ix.ev, 0) != WAIT_TIMEOUT)
		atomic_fetch_add(&ix.fin_bad, 1);
	if (ix.sem && WaitForSingleObject(ix.sem, 0) != WAIT_TIMEOUT)
		atomic_fetch_add(&ix.fin_bad, 1);
	atomic_store(&ix.fin_done, 1);
}

/* Run one callback of act_register_all (with a finalization callback). */
static PTP_IO run_register_all(struct __test_metadata *_metadata,
			       FIXTURE_DATA(tp) *self, struct probe *p)
{
	PTP_IO io;

	probe_init(p, act_register_all);
	self->env.FinalizationCallback = finalization_cb;
	io = CreateThreadpoolIo(self->h, probe_cb, p, &self->env);
	EXPECT_NE(NULL, io);
	if (!io)
		return NULL;
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	return io;
}

/* 24: the event is set only after the callback and the finalization callback. */
TEST_F(tp, s24_event_after_callback_and_finalization)
{
	static struct probe p;
	PTP_IO io;

	ix.ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ix.ev2 = CreateEventW(NULL, TRUE, FALSE, NULL);
	ASSERT_NE(NULL, ix.ev);
	ASSERT_NE(NULL, ix.ev2);
	io = run_register_all(_metadata, self, &p);
	ASSERT_NE(NULL, io);
	ASSERT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ix.ev, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&ix.fin_done));
	EXPECT_EQ(1, atomic_load(&ix.fin_calls));
	EXPECT_EQ((PVOID)&p, ix.fin_ctx);
	EXPECT_EQ(0, atomic_load(&ix.fin_bad));
	EXPECT_EQ(0, atomic_load(&p.bad));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	/* only the first event registration counts */
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(ix.ev2, STILL_BLOCKED_MS));
	CloseThreadpoolIo(io);
	EXPECT_EQ(TRUE, CloseHandle(ix.ev));
	EXPECT_EQ(TRUE, CloseHandle(ix.ev2));
}

/* 24: ReleaseSemaphoreWhenCallbackReturns raises the count by exactly 1. */
TEST_F(tp, s24_semaphore_released_once)
{
	static struct probe p;
	PTP_IO io;

	ix.sem = CreateSemaphoreW(NULL, 0, 10, NULL);
	ASSERT_NE(NULL, ix.sem);
	io = run_register_all(_metadata, self, &p);
	ASSERT_NE(NULL, io);
	ASSERT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ix.sem, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&ix.fin_done));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(ix.sem, 0));
	EXPECT_EQ(0, atomic_load(&ix.fin_bad));
	EXPECT_EQ(0, atomic_load(&p.bad));
	CloseThreadpoolIo(io);
	EXPECT_EQ(TRUE, CloseHandle(ix.sem));
}

static void take_mutex_then_try_cs(void *arg)
{
	atomic_int *res = arg;

	if (WaitForSingleObject(ix.mutex, RELEASED_MS) != WAIT_OBJECT_0)
		return;
	/* the critical section is left before the mutex is released */
	if (TryEnterCriticalSection(&ix.cs)) {
		LeaveCriticalSection(&ix.cs);
		atomic_store(res, 1);
	} else {
		atomic_store(res, 2);
	}
	ReleaseMutex(ix.mutex);
}

/* 24: critical section before mutex, mutex released on the worker. */
TEST_F(tp, s24_mutex_after_critical_section)
{
	static struct probe p;
	static atomic_int res;
	struct bg t;
	PTP_IO io;

	InitializeCriticalSection(&ix.cs);
	ix.use_cs = 1;
	ix.mutex = CreateMutexW(NULL, FALSE, NULL);
	ASSERT_NE(NULL, ix.mutex);
	io = run_register_all(_metadata, self, &p);
	ASSERT_NE(NULL, io);
	/* the callback owns the mutex and the critical section now */
	ASSERT_TRUE(wait_count(&p.flag, 1, RELEASED_MS));
	ASSERT_TRUE(bg_start(&t, take_mutex_then_try_cs, &res));
	ASSERT_EQ(0, bg_join(&t, RELEASED_MS * 2));
	EXPECT_EQ(1, atomic_load(&res));
	EXPECT_EQ(1, atomic_load(&ix.fin_done));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(0, atomic_load(&p.bad));
	EXPECT_EQ(0, atomic_load(&ix.fin_bad));
	CloseThreadpoolIo(io);
	EXPECT_EQ(TRUE, CloseHandle(ix.mutex));
	DeleteCriticalSection(&ix.cs);
}

/* 24: mutex before semaphore, semaphore before event. */
TEST_F(tp, s24_actions_order)
{
	static struct probe p;
	PTP_IO io;

	ix.mutex = CreateMutexW(NULL, FALSE, NULL);
	ix.sem = CreateSemaphoreW(NULL, 0, 10, NULL);
	ix.ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ASSERT_NE(NULL, ix.mutex);
	ASSERT_NE(NULL, ix.sem);
	ASSERT_NE(NULL, ix.ev);
	io = run_register_all(_metadata, self, &p);
	ASSERT_NE(NULL, io);
	ASSERT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ix.sem, RELEASED_MS));
	/* nothing else touches the mutex: it must be free already */
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ix.mutex, 0));
	EXPECT_EQ(TRUE, ReleaseMutex(ix.mutex));
	ASSERT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ix.ev, RELEASED_MS));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(0, atomic_load(&p.bad));
	EXPECT_EQ(0, atomic_load(&ix.fin_bad));
	CloseThreadpoolIo(io);
	EXPECT_EQ(TRUE, CloseHandle(ix.mutex));
	EXPECT_EQ(TRUE, CloseHandle(ix.sem));
	EXPECT_EQ(TRUE, CloseHandle(ix.ev));
}

static void act_close_self(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			   struct cb_rec *rec)
{
	(void)inst;
	CloseThreadpoolIo(rec->io);
	/* still inside the callback: the object must not be gone yet */
	sleep_ms(20);
	atomic_store(&p->flag, 1);
}

/* 28: Close from inside its own callback; freed after the callback returns. */
TEST_F(tp, s28_close_inside_own_callback)
{
	static struct probe p;
	PTP_IO io;

	probe_init(&p, act_close_self);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ix.ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p.flag, 1, RELEASED_MS));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p.finished));
	/* [T] the binding ended at Close */
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	CloseThreadpoolIo(io);
}
