// SPDX-License-Identifier: MIT
/*
 * libtpio scenario tests: Documentation/contract.rst, section 8, run
 * through the Win32 API.
 *
 * The same binary runs on both backends: natively with TPIO_BACKEND=user
 * and in the VM with TPIO_BACKEND=kmod. When TPIO_BACKEND names a backend,
 * the fixture fails unless the library really uses it (no silent
 * fallback). Completions that the scenarios describe as "a pending read
 * completes" are delivered with tpio_post_completion, which goes through
 * the same arrival rule as the I/O engine.
 *
 * Every test runs in its own process (the harness forks), creates a
 * private pool unless the scenario says otherwise, and must leave no
 * TP_IO object behind: the teardown checks tpio_io_count() on both
 * backends, and runs LeakSanitizer in the ASan build.
 *
 * One translation unit: the 6.1 kselftest harness defines its runner in
 * the header, so the t_*.c files are included below rather than linked.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "kselftest_harness.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

FIXTURE(tp) {
	PTP_POOL pool;
	TP_CALLBACK_ENVIRON env;
	int pfd[2];		/* a pipe; the read end is what tests bind */
	HANDLE h;		/* handle of pfd[0] */
};

FIXTURE_SETUP(tp)
{
	const char *want = getenv("TPIO_BACKEND");

	self->pfd[0] = self->pfd[1] = -1;
	self->pool = CreateThreadpool(NULL);
	ASSERT_NE(NULL, self->pool);
	if (want && strcmp(want, "auto")) {
		ASSERT_NE(NULL, tpio_backend());
		ASSERT_STREQ(want, tpio_backend());
	}
	InitializeThreadpoolEnvironment(&self->env);
	SetThreadpoolCallbackPool(&self->env, self->pool);
	ASSERT_EQ(0, pipe(self->pfd));
	self->h = tpio_handle_from_fd(self->pfd[0]);
	ASSERT_EQ(self->pfd[0], tpio_fd_from_handle(self->h));
	ASSERT_EQ(0U, tpio_io_count());
}

FIXTURE_TEARDOWN(tp)
{
	/* every object the test made is closed and, once its callbacks end, freed */
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	DestroyThreadpoolEnvironment(&self->env);
	if (self->pool)
		CloseThreadpool(self->pool);
	if (self->pfd[0] >= 0)
		close(self->pfd[0]);
	if (self->pfd[1] >= 0)
		close(self->pfd[1]);
#if defined(__SANITIZE_ADDRESS__)
	/* the harness child leaves with _exit, so the exit-time check never runs */
	sleep_ms(20);
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
#endif
}

/*
 * A one-worker pool whose worker is held by a callback of @busy, so that
 * completions under test queue up behind it.
 */
struct busy_worker {
	struct probe busy;
	struct gate gate;
	int pfd[2];
	PTP_IO io;
	OVERLAPPED ov;
};

static int hold_worker(struct __test_metadata *_metadata,
		       FIXTURE_DATA(tp) *self, struct busy_worker *b)
{
	gate_init(&b->gate);
	probe_init(&b->busy, act_block);
	b->busy.gate = &b->gate;
	SetThreadpoolThreadMaximum(self->pool, 1);
	EXPECT_EQ(0, pipe(b->pfd));
	b->io = CreateThreadpoolIo(tpio_handle_from_fd(b->pfd[0]), probe_cb,
				   &b->busy, &self->env);
	EXPECT_NE(NULL, b->io);
	if (!b->io)
		return 0;
	StartThreadpoolIo(b->io);
	EXPECT_EQ(TRUE, tpio_post_completion(b->io, &b->ov, 0, 0));
	return wait_count(&b->busy.started, 1, RELEASED_MS);
}

static void release_worker(struct busy_worker *b)
{
	gate_open(&b->gate);
	WaitForThreadpoolIoCallbacks(b->io, FALSE);
	CloseThreadpoolIo(b->io);
	close(b->pfd[0]);
	close(b->pfd[1]);
}

#include "t_basic.c"
#include "t_flow.c"
#include "t_instance.c"
#include "t_group.c"
#include "t_order.c"
#include "t_stress.c"
#include "t_nt.c"
#include "t_conc.c"
#include "t_iocp.c"
#include "t_work.c"
#include "t_timer.c"
#include "t_wait.c"
#include "t_objenv.c"

TEST_HARNESS_MAIN
