// SPDX-License-Identifier: MIT
/*
 * Work items: Documentation/contract.rst, "Work items" (CreateThreadpoolWork
 * ... CloseThreadpoolWork, TrySubmitThreadpoolCallback), with pools,
 * priorities, cleanup groups and callback instances, and the second
 * CallbackMayRunLong of a callback. Included by scenarios.c.
 */

struct wprobe {
	atomic_int calls, done, inside, overlap, max_inside;
	atomic_int bad;
	PTP_WORK work;
	struct gate *gate;	/* block while closed: every call, or the first */
	int block_first;
	int resubmit;		/* submit again from the first callback */
	int close_self;
	int tag;
	BOOL may[2];
	int may_twice;
	int disassoc;
};

static atomic_int w_order[8];
static atomic_int w_norder;

static VOID CALLBACK wprobe_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PTP_WORK work)
{
	struct wprobe *p = ctx;
	int i = atomic_fetch_add(&p->calls, 1);
	int in = atomic_fetch_add(&p->inside, 1) + 1, m;
	int o = atomic_fetch_add(&w_norder, 1);

	if (o < 8)
		atomic_store(&w_order[o], p->tag);
	if (in > 1)
		atomic_store(&p->overlap, 1);
	m = atomic_load(&p->max_inside);
	while (in > m && !atomic_compare_exchange_weak(&p->max_inside, &m, in))
		;
	if (!inst || (p->work && work != p->work))
		atomic_store(&p->bad, 1);
	if (p->disassoc)
		DisassociateCurrentThreadFromCallback(inst);
	if (p->may_twice) {
		p->may[0] = CallbackMayRunLong(inst);
		p->may[1] = CallbackMayRunLong(inst);
	}
	if (p->resubmit && i == 0) {
		SubmitThreadpoolWork(work);
		sleep_ms(20);
	}
	if (p->gate && (!p->block_first || i == 0))
		gate_wait(p->gate);
	atomic_fetch_sub(&p->inside, 1);
	if (p->close_self)
		CloseThreadpoolWork(work);
	atomic_fetch_add(&p->done, 1);
}

static VOID CALLBACK wsimple_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx)
{
	struct wprobe *p = ctx;

	if (!inst)
		atomic_store(&p->bad, 1);
	atomic_fetch_add(&p->calls, 1);
	if (p->gate)
		gate_wait(p->gate);
	atomic_fetch_add(&p->done, 1);
}

static PTP_WORK wprobe_work(struct wprobe *p, PTP_CALLBACK_ENVIRON env)
{
	p->work = CreateThreadpoolWork(wprobe_cb, p, env);
	return p->work;
}

static void bg_work_wait_false(void *w)
{
	WaitForThreadpoolWorkCallbacks(w, FALSE);
}

static void bg_work_wait_true(void *w)
{
	WaitForThreadpoolWorkCallbacks(w, TRUE);
}

TEST_F(tp, work_submit_runs_callback)
{
	static struct wprobe p;
	PTP_WORK w = wprobe_work(&p, &self->env);
	int i;

	ASSERT_NE(NULL, w);
	EXPECT_EQ(1U, tpio_io_count());
	for (i = 0; i < 5; i++)
		SubmitThreadpoolWork(w);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	EXPECT_EQ(5, atomic_load(&p.done));
	EXPECT_EQ(0, atomic_load(&p.bad));
	CloseThreadpoolWork(w);
}

TEST_F(tp, work_on_default_pool)
{
	static struct wprobe p;
	PTP_WORK w = wprobe_work(&p, NULL);

	ASSERT_NE(NULL, w);
	SubmitThreadpoolWork(w);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	EXPECT_EQ(1, atomic_load(&p.done));
	CloseThreadpoolWork(w);
}

TEST_F(tp, work_bad_arguments)
{
	static struct wprobe p;
	TP_CALLBACK_ENVIRON bad = self->env;
	PTP_WORK w;

	SetLastError(0);
	EXPECT_EQ(NULL, CreateThreadpoolWork(NULL, &p, &self->env));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	bad.CallbackPriority = TP_CALLBACK_PRIORITY_INVALID;
	EXPECT_EQ(NULL, CreateThreadpoolWork(wprobe_cb, &p, &bad));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(FALSE, TrySubmitThreadpoolCallback(NULL, &p, &self->env));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	/* NULL, a TP_IO and a closed work object are ignored */
	SubmitThreadpoolWork(NULL);
	WaitForThreadpoolWorkCallbacks(NULL, TRUE);
	CloseThreadpoolWork(NULL);
	{
		PTP_IO io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);

		ASSERT_NE(NULL, io);
		SubmitThreadpoolWork((PTP_WORK)io);
		CloseThreadpoolWork((PTP_WORK)io);
		EXPECT_EQ(1U, tpio_io_count());
		CloseThreadpoolIo(io);
	}
	w = wprobe_work(&p, &self->env);
	ASSERT_NE(NULL, w);
	CloseThreadpoolWork(w);
	SubmitThreadpoolWork(w);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.calls));
}

/* Windows: a work object submitted while its callback runs runs again */
TEST_F(tp, work_submitted_inside_its_callback)
{
	static struct wprobe p;
	PTP_WORK w;

	SetThreadpoolThreadMaximum(self->pool, 1);
	p.resubmit = 1;
	w = wprobe_work(&p, &self->env);
	ASSERT_NE(NULL, w);
	SubmitThreadpoolWork(w);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	EXPECT_EQ(2, atomic_load(&p.done));
	EXPECT_EQ(0, atomic_load(&p.overlap));
	CloseThreadpoolWork(w);
}

/* callbacks of one work object run at the same time on several workers */
TEST_F(tp, work_callbacks_run_concurrently)
{
	static struct wprobe p;
	static struct gate g;
	PTP_WORK w;

	gate_init(&g);
	p.gate = &g;
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 2));
	w = wprobe_work(&p, &self->env);
	ASSERT_NE(NULL, w);
	SubmitThreadpoolWork(w);
	SubmitThreadpoolWork(w);
	EXPECT_TRUE(wait_count(&p.max_inside, 2, RELEASED_MS));
	gate_open(&g);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	EXPECT_EQ(2, atomic_load(&p.done));
	CloseThreadpoolWork(w);
}

/* Wait(TRUE) cancels the submissions whose callbacks have not started */
TEST_F(tp, work_wait_true_cancels_pending)
{
	static struct wprobe p;
	static struct gate g;
	struct bg b;
	PTP_WORK w;
	int i;

	gate_init(&g);
	p.gate = &g;
	p.block_first = 1;
	SetThreadpoolThreadMaximum(self->pool, 1);
	w = wprobe_work(&p, &self->env);
	ASSERT_NE(NULL, w);
	for (i = 0; i < 4; i++)
		SubmitThreadpoolWork(w);
	ASSERT_TRUE(wait_count(&p.calls, 1, RELEASED_MS));
	ASSERT_TRUE(bg_start(&b, bg_work_wait_true, w));
	EXPECT_EQ(ETIMEDOUT, bg_join(&b, STILL_BLOCKED_MS));
	gate_open(&g);
	EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.calls));
	/* the object is still usable */
	SubmitThreadpoolWork(w);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	EXPECT_EQ(2, atomic_load(&p.done));
	CloseThreadpoolWork(w);
}

/* Close with queued callbacks: they still run, then the object is freed */
TEST_F(tp, work_close_with_queued_callbacks)
{
	static struct wprobe p;
	static struct gate g;
	PTP_WORK w;
	int i;

	gate_init(&g);
	p.gate = &g;
	p.block_first = 1;
	SetThreadpoolThreadMaximum(self->pool, 1);
	w = wprobe_work(&p, &self->env);
	ASSERT_NE(NULL, w);
	for (i = 0; i < 3; i++)
		SubmitThreadpoolWork(w);
	ASSERT_TRUE(wait_count(&p.calls, 1, RELEASED_MS));
	CloseThreadpoolWork(w);
	EXPECT_EQ(1U, tpio_io_count());
	gate_open(&g);
	EXPECT_TRUE(wait_count(&p.done, 3, RELEASED_MS));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
}

TEST_F(tp, work_close_inside_its_callback)
{
	static struct wprobe p;

	p.close_self = 1;
	ASSERT_NE(NULL, wprobe_work(&p, &self->env));
	SubmitThreadpoolWork(p.work);
	EXPECT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
}

/* Wait(FALSE) does not wait for a disassociated callback */
TEST_F(tp, work_disassociated_callback)
{
	static struct wprobe p;
	static struct gate g;
	struct bg b;

	gate_init(&g);
	p.gate = &g;
	p.disassoc = 1;
	ASSERT_NE(NULL, wprobe_work(&p, &self->env));
	SubmitThreadpoolWork(p.work);
	ASSERT_TRUE(wait_count(&p.calls, 1, RELEASED_MS));
	ASSERT_TRUE(bg_start(&b, bg_work_wait_false, p.work));
	EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	gate_open(&g);
	EXPECT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	CloseThreadpoolWork(p.work);
}

/* many submissions of one object: every one runs (no queue is lost) */
TEST_F(tp, work_many_submissions)
{
	static struct wprobe p;
	int i;

	ASSERT_NE(NULL, wprobe_work(&p, &self->env));
	for (i = 0; i < 20000; i++)
		SubmitThreadpoolWork(p.work);
	WaitForThreadpoolWorkCallbacks(p.work, FALSE);
	EXPECT_EQ(20000, atomic_load(&p.done));
	CloseThreadpoolWork(p.work);
}

TEST_F(tp, work_priorities)
{
	static struct wprobe blk, p[3];
	static struct gate g;
	TP_CALLBACK_ENVIRON env[3];
	int i;

	gate_init(&g);
	blk.gate = &g;
	blk.tag = 9;
	SetThreadpoolThreadMaximum(self->pool, 1);
	ASSERT_NE(NULL, wprobe_work(&blk, &self->env));
	SubmitThreadpoolWork(blk.work);
	ASSERT_TRUE(wait_count(&blk.calls, 1, RELEASED_MS));
	atomic_store(&w_norder, 0);
	for (i = 0; i < 3; i++) {
		env[i] = self->env;
		/* LOW, NORMAL, HIGH, submitted in that order */
		SetThreadpoolCallbackPriority(&env[i], (TP_CALLBACK_PRIORITY)(2 - i));
		p[i].tag = 2 - i;
		ASSERT_NE(NULL, wprobe_work(&p[i], &env[i]));
		SubmitThreadpoolWork(p[i].work);
	}
	gate_open(&g);
	for (i = 0; i < 3; i++) {
		WaitForThreadpoolWorkCallbacks(p[i].work, FALSE);
		CloseThreadpoolWork(p[i].work);
	}
	EXPECT_EQ(TP_CALLBACK_PRIORITY_HIGH, atomic_load(&w_order[0]));
	EXPECT_EQ(TP_CALLBACK_PRIORITY_NORMAL, atomic_load(&w_order[1]));
	EXPECT_EQ(TP_CALLBACK_PRIORITY_LOW, atomic_load(&w_order[2]));
	WaitForThreadpoolWorkCallbacks(blk.work, FALSE);
	CloseThreadpoolWork(blk.work);
}

TEST_F(tp, try_submit_simple_callback)
{
	static struct wprobe p;

	EXPECT_EQ(TRUE, TrySubmitThreadpoolCallback(wsimple_cb, &p, &self->env));
	EXPECT_TRUE(wait_count(&p.done, 1, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.bad));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
}

static struct {
	atomic_int calls;
	PVOID obj, cleanup;
} wg;

static VOID CALLBACK wg_cancel(PVOID obj, PVOID cleanup)
{
	wg.obj = obj;
	wg.cleanup = cleanup;
	atomic_fetch_add(&wg.calls, 1);
}

struct wg_release {
	PTP_CLEANUP_GROUP g;
	BOOL cancel;
};

static void bg_group_release(void *arg)
{
	struct wg_release *r = arg;

	CloseThreadpoolCleanupGroupMembers(r->g, r->cancel, &wg);
}

/* a member with one callback running and two queued, released with @cancel */
static void work_group_release(struct __test_metadata *_metadata,
			       FIXTURE_DATA(tp) *self, BOOL cancel)
{
	static struct wprobe p, s;
	static struct gate g;
	struct wg_release r;
	struct bg b;
	int i;

	gate_init(&g);
	p.gate = &g;
	p.block_first = 1;
	r.g = CreateThreadpoolCleanupGroup();
	r.cancel = cancel;
	ASSERT_NE(NULL, r.g);
	SetThreadpoolThreadMaximum(self->pool, 1);
	SetThreadpoolCallbackCleanupGroup(&self->env, r.g, wg_cancel);
	ASSERT_NE(NULL, wprobe_work(&p, &self->env));
	for (i = 0; i < 3; i++)
		SubmitThreadpoolWork(p.work);
	/* a simple callback member, queued behind the blocked worker */
	ASSERT_EQ(TRUE, TrySubmitThreadpoolCallback(wsimple_cb, &s, &self->env));
	ASSERT_TRUE(wait_count(&p.calls, 1, RELEASED_MS));
	ASSERT_TRUE(bg_start(&b, bg_group_release, &r));
	EXPECT_EQ(ETIMEDOUT, bg_join(&b, STILL_BLOCKED_MS));
	gate_open(&g);
	EXPECT_EQ(0, bg_join(&b, RELEASED_MS));
	if (cancel) {
		EXPECT_EQ(1, atomic_load(&p.done));
		EXPECT_EQ(0, atomic_load(&s.calls));
		/* one per member: the work object and the simple callback */
		EXPECT_EQ(2, atomic_load(&wg.calls));
		EXPECT_EQ(&wg, wg.cleanup);
	} else {
		EXPECT_EQ(3, atomic_load(&p.done));
		EXPECT_EQ(1, atomic_load(&s.done));
		EXPECT_EQ(0, atomic_load(&wg.calls));
	}
	EXPECT_EQ(0U, tpio_io_count());
	CloseThreadpoolCleanupGroup(r.g);
}

TEST_F(tp, work_group_release)
{
	work_group_release(_metadata, self, FALSE);
}

TEST_F(tp, work_group_release_cancel)
{
	work_group_release(_metadata, self, TRUE);
}

/*
 * [T] The second CallbackMayRunLong of a callback returns TRUE (the first
 * marked it long-running already), as Wine does, in a one-thread pool
 * where the first returns FALSE.
 */
TEST_F(tp, may_run_long_twice)
{
	static struct wprobe p;

	SetThreadpoolThreadMaximum(self->pool, 1);
	p.may_twice = 1;
	ASSERT_NE(NULL, wprobe_work(&p, &self->env));
	SubmitThreadpoolWork(p.work);
	WaitForThreadpoolWorkCallbacks(p.work, FALSE);
	EXPECT_EQ(FALSE, p.may[0]);
	EXPECT_EQ(TRUE, p.may[1]);
	CloseThreadpoolWork(p.work);
}
