// SPDX-License-Identifier: MIT
/*
 * Cleanup groups: Documentation/contract.rst, section 6, and scenarios
 * 18-21. Included by scenarios.c.
 */

#define GROUP_MAX_CANCELS 8

static struct {
	atomic_int calls;
	PVOID obj_ctx[GROUP_MAX_CANCELS];
	PVOID cleanup_ctx[GROUP_MAX_CANCELS];
	pthread_t thread[GROUP_MAX_CANCELS];
} gc;

static VOID CALLBACK group_cancel_cb(PVOID obj_ctx, PVOID cleanup_ctx)
{
	int n = atomic_fetch_add(&gc.calls, 1);

	if (n < GROUP_MAX_CANCELS) {
		gc.obj_ctx[n] = obj_ctx;
		gc.cleanup_ctx[n] = cleanup_ctx;
		gc.thread[n] = pthread_self();
	}
}

struct group_close {
	PTP_CLEANUP_GROUP group;
	BOOL cancel;
	PVOID ctx;
};

static void bg_close_members(void *arg)
{
	struct group_close *c = arg;

	CloseThreadpoolCleanupGroupMembers(c->group, c->cancel, c->ctx);
}

/* A group with its cancel callback in self->env; a second pipe in @pfd. */
static PTP_CLEANUP_GROUP group_setup(struct __test_metadata *_metadata,
				     FIXTURE_DATA(tp) *self, int pfd[2])
{
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();

	EXPECT_NE(NULL, g);
	EXPECT_EQ(0, pipe(pfd));
	SetThreadpoolCallbackCleanupGroup(&self->env, g, group_cancel_cb);
	return g;
}

/* 18: group release without cancel waits for a disassociated, blocked callback. */
TEST_F(tp, s18_group_waits_for_disassociated_callback)
{
	static struct probe p;
	static struct gate g;
	struct group_close c = { 0 };
	OVERLAPPED ov = { 0 };
	struct bg w;
	int pfd2[2];
	PTP_IO io;

	gate_init(&g);
	probe_init(&p, act_disassoc_block);
	p.gate = &g;
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 1));
	ASSERT_TRUE(wait_count(&p.started, 1, RELEASED_MS));
	/* the object's own wait does not count the disassociated callback */
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));

	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	gate_open(&g);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(0, atomic_load(&gc.calls));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}

/*
 * 19: release with cancel: one member has a blocked callback and one more
 * started I/O, another member is idle. The release returns after the
 * running callback ends, calls the cancel callback once per member on the
 * calling thread, and the started I/O's late completion runs no callback.
 */
TEST_F(tp, s19_group_cancel_release)
{
	static struct probe p1, p2;
	static struct gate g;
	struct group_close c = { 0 };
	OVERLAPPED ov[2] = { 0 };
	int i, seen1 = 0, seen2 = 0;
	PTP_IO io1, io2;
	struct bg w;
	int pfd2[2];

	gate_init(&g);
	probe_init(&p1, act_block);
	p1.gate = &g;
	probe_init(&p2, NULL);
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	c.cancel = TRUE;
	c.ctx = &c;
	io1 = CreateThreadpoolIo(self->h, probe_cb, &p1, &self->env);
	ASSERT_NE(NULL, io1);
	io2 = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb, &p2,
				 &self->env);
	ASSERT_NE(NULL, io2);
	StartThreadpoolIo(io1);
	StartThreadpoolIo(io1);
	ASSERT_EQ(TRUE, tpio_post_completion(io1, &ov[0], 0, 1));
	ASSERT_TRUE(wait_count(&p1.started, 1, RELEASED_MS));

	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	for (i = 0; i < atomic_load(&gc.calls) && i < GROUP_MAX_CANCELS; i++)
		EXPECT_NE((PVOID)&p1, gc.obj_ctx[i]);
	gate_open(&g);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p1.finished));

	ASSERT_EQ(2, atomic_load(&gc.calls));
	for (i = 0; i < 2; i++) {
		seen1 += gc.obj_ctx[i] == &p1;
		seen2 += gc.obj_ctx[i] == &p2;
		EXPECT_EQ((PVOID)&c, gc.cleanup_ctx[i]);
		EXPECT_TRUE(pthread_equal(w.thread, gc.thread[i]));
	}
	EXPECT_EQ(1, seen1);
	EXPECT_EQ(1, seen2);

	/*
	 * Both members are released; io1's skipped I/O completes late: no
	 * callback, no crash (the header: a post to a closed object fails).
	 */
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	SetLastError(0xdead);
	EXPECT_EQ(FALSE, tpio_post_completion(io1, &ov[1], 0, 1));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p1.started));
	EXPECT_EQ(0, atomic_load(&p2.started));
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}

/* 20: release without cancel: no cancel callback; it waits for started I/O. */
TEST_F(tp, s20_group_waits_for_started_io)
{
	static struct probe p;
	struct group_close c = { 0 };
	OVERLAPPED ov = { 0 };
	struct bg w;
	int pfd2[2];
	PTP_IO io;

	probe_init(&p, NULL);
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	c.ctx = &c;
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	EXPECT_EQ(TRUE, tpio_post_completion(io, &ov, 0, 3));
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ((PVOID)&ov, p.rec[0].ov);
	EXPECT_EQ(3U, p.rec[0].bytes);
	EXPECT_EQ(0, atomic_load(&gc.calls));
	EXPECT_EQ(0U, tpio_io_count());
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}

static void act_block_close_self(struct probe *p, PTP_CALLBACK_INSTANCE inst,
				 struct cb_rec *rec)
{
	act_block(p, inst, rec);
	CloseThreadpoolIo(rec->io);
}

/* 21: a member closing itself in its callback during release gets no cancel callback. */
TEST_F(tp, s21_member_closes_itself_during_release)
{
	static struct probe p1, p2;
	static struct gate g;
	struct group_close c = { 0 };
	OVERLAPPED ov = { 0 };
	PTP_IO io1, io2;
	struct bg w;
	int pfd2[2];

	gate_init(&g);
	probe_init(&p1, act_block_close_self);
	p1.gate = &g;
	probe_init(&p2, NULL);
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	c.cancel = TRUE;
	c.ctx = &c;
	io1 = CreateThreadpoolIo(self->h, probe_cb, &p1, &self->env);
	ASSERT_NE(NULL, io1);
	io2 = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb, &p2,
				 &self->env);
	ASSERT_NE(NULL, io2);
	StartThreadpoolIo(io1);
	ASSERT_EQ(TRUE, tpio_post_completion(io1, &ov, 0, 1));
	ASSERT_TRUE(wait_count(&p1.started, 1, RELEASED_MS));

	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	gate_open(&g);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(1, atomic_load(&p1.finished));
	/* only the idle member is cancelled */
	ASSERT_EQ(1, atomic_load(&gc.calls));
	EXPECT_EQ((PVOID)&p2, gc.obj_ctx[0]);
	EXPECT_EQ((PVOID)&c, gc.cleanup_ctx[0]);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}

/* §6: CloseThreadpoolCleanupGroup releases members left in the group. */
TEST_F(tp, group_close_releases_members)
{
	static struct probe p;
	PTP_CLEANUP_GROUP g;
	int pfd2[2];
	PTP_IO io;

	probe_init(&p, NULL);
	g = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, g);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	io = CreateThreadpoolIo(tpio_handle_from_fd(pfd2[0]), probe_cb, &p,
				&self->env);
	ASSERT_NE(NULL, io);
	EXPECT_EQ(2U, tpio_io_count());
	CloseThreadpoolCleanupGroup(g);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&gc.calls));
	close(pfd2[0]);
	close(pfd2[1]);
}

/*
 * §6 release with cancel drops queued callbacks: the only worker is busy
 * (outside the group), a member has two queued completions and one
 * pending start. The release does not wait for the busy worker; the
 * member's callbacks never run; its cancel callback runs once.
 */
TEST_F(tp, group_cancel_drops_queued)
{
	static struct busy_worker b;
	static struct probe p;
	struct group_close c = { 0 };
	OVERLAPPED ov[3] = { 0 };
	struct bg w;
	int pfd2[2];
	PTP_IO io;

	probe_init(&p, NULL);
	ASSERT_TRUE(hold_worker(_metadata, self, &b));
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	c.cancel = TRUE;
	c.ctx = &c;
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[0], 0, 1));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[1], 0, 1));

	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(0, bg_join(&w, RELEASED_MS));
	ASSERT_EQ(1, atomic_load(&gc.calls));
	EXPECT_EQ((PVOID)&p, gc.obj_ctx[0]);
	release_worker(&b);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}

/* §6 release without cancel runs the queued callbacks first. */
TEST_F(tp, group_release_runs_queued)
{
	static struct busy_worker b;
	static struct probe p;
	struct group_close c = { 0 };
	OVERLAPPED ov[2] = { 0 };
	struct bg w;
	int pfd2[2];
	PTP_IO io;

	probe_init(&p, NULL);
	ASSERT_TRUE(hold_worker(_metadata, self, &b));
	c.group = group_setup(_metadata, self, pfd2);
	ASSERT_NE(NULL, c.group);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[0], 0, 1));
	ASSERT_EQ(TRUE, tpio_post_completion(io, &ov[1], 0, 1));

	ASSERT_TRUE(bg_start(&w, bg_close_members, &c));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	release_worker(&b);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(0, atomic_load(&gc.calls));
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	CloseThreadpoolCleanupGroup(c.group);
	close(pfd2[0]);
	close(pfd2[1]);
}
