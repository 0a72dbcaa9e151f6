// SPDX-License-Identifier: MIT
/*
 * libtpio smoke test: the library's own quick checks of the scenarios of
 * Documentation/contract.rst that need no I/O engine (completions come from
 * tpio_post_completion). The full scenario suite is selftests/lib/. Prints
 * one "ok"/"not ok" line per check and exits non-zero on failure.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <tpio.h>

static int failures, checks;

#define CHECK(cond, ...) do {						\
	checks++;							\
	if (cond) {							\
		printf("ok %d - ", checks);				\
	} else {							\
		failures++;						\
		printf("not ok %d - (%s:%d: %s) ", checks, __FILE__,	\
		       __LINE__, #cond);				\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	fflush(stdout);							\
} while (0)

struct rec {
	atomic_int calls;
	PVOID ov;
	ULONG result;
	ULONG_PTR bytes;
	PTP_IO io;
	PVOID ctx;
	HANDLE block;		/* the callback waits on it if set */
	HANDLE started;		/* the callback sets it if set */
	int disassociate;
	int close_self;
	int wait_self;
	int order[64];
	atomic_int norder;
	int tag;
	int may_run_long;
	atomic_int concurrent, max_concurrent;
};

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;

static void CALLBACK cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct rec *r = ctx;
	int c = atomic_fetch_add(&r->concurrent, 1) + 1, m;

	m = atomic_load(&r->max_concurrent);
	while (c > m && !atomic_compare_exchange_weak(&r->max_concurrent, &m, c))
		;
	pthread_mutex_lock(&rec_mu);
	r->ov = ov;
	r->result = result;
	r->bytes = bytes;
	r->io = io;
	r->ctx = ctx;
	{
		int i = atomic_fetch_add(&r->norder, 1);

		if (i < 64)
			r->order[i] = (int)(ULONG_PTR)ov;
	}
	pthread_mutex_unlock(&rec_mu);
	if (r->may_run_long)
		r->may_run_long = CallbackMayRunLong(inst) ? 1 : 2;
	if (r->disassociate)
		DisassociateCurrentThreadFromCallback(inst);
	if (r->started)
		SetEvent(r->started);
	if (r->block)
		WaitForSingleObject(r->block, INFINITE);
	if (r->wait_self)
		WaitForThreadpoolIoCallbacks(io, FALSE);
	atomic_fetch_sub(&r->concurrent, 1);
	atomic_fetch_add(&r->calls, 1);
	if (r->close_self)
		CloseThreadpoolIo(io);
}

static PTP_IO mk(PTP_CALLBACK_ENVIRON env, struct rec *r, int *fd)
{
	int p[2];
	PTP_IO io;

	if (pipe(p))
		abort();
	*fd = p[0];
	close(p[1]);
	io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), cb, r, env);
	if (!io)
		printf("# CreateThreadpoolIo failed: %u\n", GetLastError());
	return io;
}

static void msleep(int ms)
{
	Sleep((DWORD)ms);
}

struct waiter {
	PTP_IO io;
	BOOL cancel;
	atomic_int done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	WaitForThreadpoolIoCallbacks(w->io, w->cancel);
	atomic_store(&w->done, 1);
	return NULL;
}

static int wait_calls(struct rec *r, int n, int ms)
{
	while (ms-- > 0 && atomic_load(&r->calls) < n)
		msleep(1);
	return atomic_load(&r->calls);
}

static void basic(PTP_CALLBACK_ENVIRON env)
{
	struct rec r = { 0 };
	OVERLAPPED ov[4];
	struct waiter w = { 0 };
	pthread_t th;
	PTP_IO io;
	ULONG base = tpio_io_count();
	int fd;

	io = mk(env, &r, &fd);
	CHECK(io != NULL, "create");
	CHECK(tpio_io_count() == base + 1, "io count +1");
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CHECK(r.calls == 0, "1: wait with nothing started returns");

	StartThreadpoolIo(io);
	w.io = io;
	pthread_create(&th, NULL, wait_thread, &w);
	msleep(100);
	CHECK(!atomic_load(&w.done), "2: wait blocked after Start");
	CHECK(tpio_post_completion(io, &ov[0], 0, 1), "post");
	pthread_join(th, NULL);
	CHECK(r.calls == 1 && r.ov == &ov[0] && r.result == 0 && r.bytes == 1 &&
	      r.io == io && r.ctx == &r, "3: callback args, waiter released");

	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	tpio_post_completion(io, &ov[1], 0, 1);
	tpio_post_completion(io, &ov[2], 0, 1);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CHECK(r.calls == 3, "4: two more callbacks (%d)", r.calls);

	StartThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, TRUE);
	CHECK(r.calls == 3, "5: Wait(TRUE) returns at once");
	tpio_post_completion(io, &ov[3], 0, 1);
	msleep(20);
	CHECK(r.calls == 3, "11: skipped completion swallowed");

	StartThreadpoolIo(io);
	CancelThreadpoolIo(io);
	tpio_post_completion(io, &ov[3], 0, 1);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	msleep(20);
	CHECK(r.calls == 3, "9: cancelled start: no callback");
	tpio_post_completion(io, &ov[3], 0, 1);
	msleep(20);
	CHECK(r.calls == 3, "13: completion without Start dropped");
	CancelThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CHECK(1, "29: cancel with nothing pending, wait returns");

	{
		PTP_IO io2 = CreateThreadpoolIo(tpio_handle_from_fd(fd), cb, &r, env);

		CHECK(!io2 && GetLastError() == ERROR_INVALID_PARAMETER,
		      "15: second bind fails with 87 (%u)", GetLastError());
	}
	CHECK(!CreateThreadpoolIo(INVALID_HANDLE_VALUE, cb, &r, env) &&
	      GetLastError() == ERROR_INVALID_HANDLE, "bad handle: 6");

	StartThreadpoolIo(io);
	CloseThreadpoolIo(io);
	CHECK(tpio_io_count() == base + 1, "12: closed with pending: alive");
	tpio_post_completion(io, &ov[0], 0, 7);
	wait_calls(&r, 4, 2000);
	CHECK(r.calls == 4 && r.bytes == 7, "12: callback after close");
	for (int i = 0; i < 200 && tpio_io_count() != base; i++)
		msleep(1);
	CHECK(tpio_io_count() == base, "12: freed after its callback");
	CHECK(!tpio_post_completion(io, &ov[0], 0, 1) &&
	      GetLastError() == ERROR_INVALID_HANDLE, "post to closed io: 6");
	close(fd);

	io = mk(env, &r, &fd);
	CloseThreadpoolIo(io);
	CHECK(tpio_io_count() == base, "10: close with nothing: freed at once");
	close(fd);
}

static void disassoc(PTP_CALLBACK_ENVIRON env)
{
	struct rec r = { 0 };
	PTP_IO io;
	int fd;

	r.block = CreateEventW(NULL, TRUE, FALSE, NULL);
	r.started = CreateEventW(NULL, TRUE, FALSE, NULL);
	r.disassociate = 1;
	io = mk(env, &r, &fd);
	StartThreadpoolIo(io);
	tpio_post_completion(io, NULL, 0, 0);
	WaitForSingleObject(r.started, INFINITE);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CHECK(r.calls == 0, "17: Wait returns while disassociated callback blocks");
	SetEvent(r.block);
	wait_calls(&r, 1, 2000);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	close(fd);

	/* 16 / wait in own callback without disassociating: no deadlock */
	memset(&r, 0, sizeof(r));
	r.wait_self = 1;
	io = mk(env, &r, &fd);
	StartThreadpoolIo(io);
	tpio_post_completion(io, NULL, 0, 0);
	CHECK(wait_calls(&r, 1, 3000) == 1, "Wait inside own callback returns");
	CloseThreadpoolIo(io);
	close(fd);
	CloseHandle(r.block);
}

static void close_self(PTP_CALLBACK_ENVIRON env)
{
	struct rec r = { 0 };
	ULONG base = tpio_io_count();
	PTP_IO io;
	int fd;

	r.close_self = 1;
	io = mk(env, &r, &fd);
	StartThreadpoolIo(io);
	tpio_post_completion(io, NULL, 0, 0);
	wait_calls(&r, 1, 2000);
	for (int i = 0; i < 200 && tpio_io_count() != base; i++)
		msleep(1);
	CHECK(r.calls == 1 && tpio_io_count() == base,
	      "28: close from own callback, freed after");
	close(fd);
}

static int cancel_calls;
static PVOID cancel_obj, cancel_ctx;
static DWORD cancel_tid;

static void CALLBACK group_cancel(PVOID obj, PVOID ctx)
{
	cancel_calls++;
	cancel_obj = obj;
	cancel_ctx = ctx;
	cancel_tid = GetCurrentThreadId();
}

static void *unblock100(void *a)
{
	msleep(100);
	SetEvent(a);
	return NULL;
}

static void *unblock50(void *a)
{
	msleep(50);
	SetEvent(a);
	return NULL;
}

static void *post_later(void *a)
{
	msleep(100);
	tpio_post_completion(a, NULL, 0, 3);
	return NULL;
}

static void groups(PTP_POOL pool)
{
	TP_CALLBACK_ENVIRON env;
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	struct rec r1 = { 0 }, r2 = { 0 };
	ULONG base = tpio_io_count();
	PTP_IO io1, io2;
	int fd1, fd2;

	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	SetThreadpoolCallbackCleanupGroup(&env, g, group_cancel);

	/* 19: one blocked callback, one more started I/O, release with cancel */
	r1.block = CreateEventW(NULL, TRUE, FALSE, NULL);
	r1.started = CreateEventW(NULL, TRUE, FALSE, NULL);
	r1.disassociate = 1;
	io1 = mk(&env, &r1, &fd1);
	io2 = mk(&env, &r2, &fd2);
	StartThreadpoolIo(io1);
	StartThreadpoolIo(io1);
	tpio_post_completion(io1, NULL, 0, 0);
	WaitForSingleObject(r1.started, INFINITE);
	StartThreadpoolIo(io2);
	{
		struct timespec t0, t1;
		pthread_t th;

		pthread_create(&th, NULL, unblock100, r1.block);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CloseThreadpoolCleanupGroupMembers(g, TRUE, (PVOID)0x1234);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		pthread_join(th, NULL);
		CHECK((t1.tv_sec - t0.tv_sec) * 1000 +
		      (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 90,
		      "19: release waited for the running callback");
	}
	CHECK(r1.calls == 1 && r2.calls == 0, "19: no more callbacks");
	CHECK(cancel_calls == 2 && cancel_ctx == (PVOID)0x1234 &&
	      cancel_tid == GetCurrentThreadId(),
	      "19: cancel callback per member on this thread (%d)", cancel_calls);
	CHECK(tpio_io_count() == base, "19: members freed");
	close(fd1);
	close(fd2);

	/* 20: without cancel it waits for the started I/O */
	cancel_calls = 0;
	memset(&r1, 0, sizeof(r1));
	io1 = mk(&env, &r1, &fd1);
	StartThreadpoolIo(io1);
	{
		pthread_t th;

		pthread_create(&th, NULL, post_later, io1);
		CloseThreadpoolCleanupGroupMembers(g, FALSE, NULL);
		pthread_join(th, NULL);
	}
	CHECK(r1.calls == 1 && cancel_calls == 0,
	      "20: waited for the I/O, no cancel callback");
	close(fd1);

	/* 21: member closes itself during release */
	memset(&r1, 0, sizeof(r1));
	r1.close_self = 1;
	r1.block = CreateEventW(NULL, TRUE, FALSE, NULL);
	r1.started = CreateEventW(NULL, TRUE, FALSE, NULL);
	io1 = mk(&env, &r1, &fd1);
	StartThreadpoolIo(io1);
	tpio_post_completion(io1, NULL, 0, 0);
	WaitForSingleObject(r1.started, INFINITE);
	{
		pthread_t th;

		pthread_create(&th, NULL, unblock50, r1.block);
		CloseThreadpoolCleanupGroupMembers(g, TRUE, NULL);
		pthread_join(th, NULL);
	}
	CHECK(cancel_calls == 0 && tpio_io_count() == base,
	      "21: self-closed member: no cancel callback, freed");
	close(fd1);
	CloseThreadpoolCleanupGroup(g);
}

static void ordering(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	TP_CALLBACK_ENVIRON env, envh, envl;
	struct rec blk = { 0 }, a = { 0 }, b = { 0 }, hi = { 0 }, lo = { 0 };
	static int seq[64];
	static atomic_int nseq;
	PTP_IO iob, ioa, iobb, ioh, iol;
	int f1, f2, f3, f4, f5, i;

	(void)seq;
	SetThreadpoolThreadMaximum(pool, 1);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	envh = env;
	envl = env;
	SetThreadpoolCallbackPriority(&envh, TP_CALLBACK_PRIORITY_HIGH);
	SetThreadpoolCallbackPriority(&envl, TP_CALLBACK_PRIORITY_LOW);
	blk.block = CreateEventW(NULL, FALSE, FALSE, NULL);
	blk.started = CreateEventW(NULL, FALSE, FALSE, NULL);
	blk.may_run_long = 1;
	iob = mk(&env, &blk, &f1);
	ioa = mk(&env, &a, &f2);
	iobb = mk(&env, &b, &f3);
	ioh = mk(&envh, &hi, &f4);
	iol = mk(&envl, &lo, &f5);

	StartThreadpoolIo(iob);
	tpio_post_completion(iob, NULL, 0, 0);
	WaitForSingleObject(blk.started, INFINITE);
	for (i = 0; i < 10; i++) {
		StartThreadpoolIo(ioa);
		StartThreadpoolIo(iobb);
	}
	for (i = 0; i < 10; i++)
		tpio_post_completion(ioa, (LPOVERLAPPED)(ULONG_PTR)(100 + i), 0, 0);
	for (i = 0; i < 10; i++)
		tpio_post_completion(iobb, (LPOVERLAPPED)(ULONG_PTR)(200 + i), 0, 0);
	StartThreadpoolIo(iol);
	StartThreadpoolIo(ioh);
	tpio_post_completion(iol, (LPOVERLAPPED)1, 0, 0);
	tpio_post_completion(ioh, (LPOVERLAPPED)2, 0, 0);
	SetEvent(blk.block);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	WaitForThreadpoolIoCallbacks(iobb, FALSE);
	WaitForThreadpoolIoCallbacks(iol, FALSE);
	WaitForThreadpoolIoCallbacks(ioh, FALSE);
	CHECK(blk.may_run_long == 2, "22: CallbackMayRunLong FALSE at max 1");
	{
		int fifo = 1;

		for (i = 0; i < 10; i++)
			fifo &= a.order[i] == 100 + i && b.order[i] == 200 + i;
		CHECK(fifo, "25: per-object FIFO");
	}
	CHECK(a.calls == 10 && b.calls == 10 && hi.calls == 1 && lo.calls == 1,
	      "25: all ran");
	(void)nseq;
	CloseThreadpoolIo(iob);
	CloseThreadpoolIo(ioa);
	CloseThreadpoolIo(iobb);
	CloseThreadpoolIo(ioh);
	CloseThreadpoolIo(iol);
	close(f1); close(f2); close(f3); close(f4); close(f5);
	CloseThreadpool(pool);
}

/* global order log for interleave/priority checks */
static atomic_int glog_n;
static int glog[64];

static void CALLBACK logcb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	int i = atomic_fetch_add(&glog_n, 1);

	(void)inst; (void)result; (void)bytes; (void)io;
	if (ctx)
		WaitForSingleObject(ctx, INFINITE);
	else if (i < 64)
		glog[i] = (int)(ULONG_PTR)ov;
}

static void interleave(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	TP_CALLBACK_ENVIRON env, envh, envl;
	HANDLE blk = CreateEventW(NULL, TRUE, FALSE, NULL);
	PTP_IO iob, ioa, iobb, ioh, iol;
	int p[5][2], i, ok = 1;

	for (i = 0; i < 5; i++)
		if (pipe(p[i]))
			abort();
	SetThreadpoolThreadMaximum(pool, 1);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	envh = env;
	envl = env;
	SetThreadpoolCallbackPriority(&envh, TP_CALLBACK_PRIORITY_HIGH);
	SetThreadpoolCallbackPriority(&envl, TP_CALLBACK_PRIORITY_LOW);
	iob = CreateThreadpoolIo(tpio_handle_from_fd(p[0][0]), logcb, blk, &env);
	ioa = CreateThreadpoolIo(tpio_handle_from_fd(p[1][0]), logcb, NULL, &env);
	iobb = CreateThreadpoolIo(tpio_handle_from_fd(p[2][0]), logcb, NULL, &env);
	iol = CreateThreadpoolIo(tpio_handle_from_fd(p[3][0]), logcb, NULL, &envl);
	ioh = CreateThreadpoolIo(tpio_handle_from_fd(p[4][0]), logcb, NULL, &envh);
	StartThreadpoolIo(iob);
	tpio_post_completion(iob, NULL, 0, 0);
	while (atomic_load(&glog_n) < 1)
		msleep(1);
	atomic_store(&glog_n, 0);
	StartThreadpoolIo(iol);
	tpio_post_completion(iol, (LPOVERLAPPED)1, 0, 0);
	for (i = 0; i < 3; i++) {
		StartThreadpoolIo(ioa);
		StartThreadpoolIo(iobb);
	}
	for (i = 0; i < 3; i++)
		tpio_post_completion(ioa, (LPOVERLAPPED)(ULONG_PTR)(100 + i), 0, 0);
	for (i = 0; i < 3; i++)
		tpio_post_completion(iobb, (LPOVERLAPPED)(ULONG_PTR)(200 + i), 0, 0);
	StartThreadpoolIo(ioh);
	tpio_post_completion(ioh, (LPOVERLAPPED)2, 0, 0);
	SetEvent(blk);
	WaitForThreadpoolIoCallbacks(iol, FALSE);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	WaitForThreadpoolIoCallbacks(iobb, FALSE);
	{
		int want[8] = { 2, 100, 200, 101, 201, 102, 202, 1 };

		for (i = 0; i < 8; i++)
			ok &= glog[i] == want[i];
		CHECK(ok, "25: HIGH first, round robin, LOW last: %d %d %d %d %d %d %d %d",
		      glog[0], glog[1], glog[2], glog[3], glog[4], glog[5],
		      glog[6], glog[7]);
	}
	CloseThreadpoolIo(iob); CloseThreadpoolIo(ioa); CloseThreadpoolIo(iobb);
	CloseThreadpoolIo(ioh); CloseThreadpoolIo(iol);
	CloseThreadpool(pool);
	CloseHandle(blk);
}

static void concurrency(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	TP_CALLBACK_ENVIRON env;
	struct rec r = { 0 };
	PTP_IO io;
	int fd;

	CHECK(SetThreadpoolThreadMinimum(pool, 4) &&
	      tpio_pool_thread_count(pool) >= 4, "27: minimum 4 creates 4");
	SetThreadpoolThreadMaximum(pool, 2);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	r.block = CreateSemaphoreW(NULL, 0, 10, NULL);
	io = mk(&env, &r, &fd);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	tpio_post_completion(io, NULL, 0, 0);
	tpio_post_completion(io, NULL, 0, 0);
	for (int i = 0; i < 2000 && atomic_load(&r.max_concurrent) < 2; i++)
		msleep(1);
	CHECK(atomic_load(&r.max_concurrent) == 2, "26: two callbacks run concurrently");
	ReleaseSemaphore(r.block, 2, NULL);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	close(fd);
	CloseThreadpool(pool);
	CloseHandle(r.block);
}

static HANDLE ev, sem;
static atomic_int ev_early;

static void CALLBACK actcb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG res, ULONG_PTR n, PTP_IO io)
{
	(void)ctx; (void)ov; (void)res; (void)n; (void)io;
	SetEventWhenCallbackReturns(inst, ev);
	ReleaseSemaphoreWhenCallbackReturns(inst, sem, 1);
	msleep(50);
	atomic_store(&ev_early, WaitForSingleObject(ev, 0) != WAIT_TIMEOUT);
}

static void instance_actions(PTP_CALLBACK_ENVIRON env)
{
	LONG prev = -1;
	PTP_IO io;
	int p[2];

	ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	sem = CreateSemaphoreW(NULL, 0, 5, NULL);

	if (pipe(p))
		abort();
	io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), actcb, NULL, env);
	StartThreadpoolIo(io);
	tpio_post_completion(io, NULL, 0, 0);
	CHECK(WaitForSingleObject(ev, 5000) == WAIT_OBJECT_0 && !ev_early,
	      "24: event set after the callback, not during");
	ReleaseSemaphore(sem, 1, &prev);
	CHECK(prev == 1, "24: semaphore released by 1 (%d)", prev);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	close(p[0]);
	close(p[1]);
	CloseHandle(ev);
	CloseHandle(sem);
}

static void overflow(void)
{
	/* TPIO_RING_ENTRIES=4 is set by main(): 300 posts through a blocked pool */
	PTP_POOL pool = CreateThreadpool(NULL);
	TP_CALLBACK_ENVIRON env;
	struct rec r = { 0 };
	PTP_IO io;
	int fd, i, ok = 1;

	SetThreadpoolThreadMaximum(pool, 1);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	io = mk(&env, &r, &fd);
	for (i = 0; i < 300; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < 300; i++)
		ok &= !!tpio_post_completion(io, (LPOVERLAPPED)(ULONG_PTR)i, 0, 0);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CHECK(ok && r.calls == 300, "overflow: 300 completions through a 4-entry ring (%d)",
	      r.calls);
	ok = 1;
	for (i = 0; i < 64; i++)
		ok &= r.order[i] == i;
	CHECK(ok, "overflow: arrival order kept");
	CloseThreadpoolIo(io);
	close(fd);
	CloseThreadpool(pool);
}

static void sync_objects(void)
{
	HANDLE m = CreateMutexW(NULL, TRUE, NULL), e;
	WCHAR name[2] = { 'x', 0 };

	CHECK(ReleaseMutex(m) && !ReleaseMutex(m) &&
	      GetLastError() == ERROR_NOT_OWNER, "mutex ownership");
	CHECK(!CreateEventW(NULL, FALSE, FALSE, name) &&
	      GetLastError() == ERROR_CALL_NOT_IMPLEMENTED, "named event refused");
	e = CreateEventW(NULL, FALSE, TRUE, NULL);
	CHECK(WaitForSingleObject(e, 0) == WAIT_OBJECT_0 &&
	      WaitForSingleObject(e, 10) == WAIT_TIMEOUT, "auto-reset event");
	CHECK(CloseHandle(e) && !CloseHandle(e) &&
	      GetLastError() == ERROR_INVALID_HANDLE, "closed handle");
	CHECK(WaitForSingleObject(e, 0) == WAIT_FAILED, "wait on closed handle");
	CloseHandle(m);
	CHECK(tpio_fd_from_handle(tpio_handle_from_fd(7)) == 7 &&
	      tpio_fd_from_handle(INVALID_HANDLE_VALUE) == -1 &&
	      tpio_handle_from_fd(-1) == INVALID_HANDLE_VALUE, "fd handles");
}

static void *own_and_exit(void *arg)
{
	WaitForSingleObject(arg, INFINITE);
	return NULL;
}

static void abandoned(void)
{
	HANDLE m = CreateMutexW(NULL, FALSE, NULL);
	pthread_t th;

	pthread_create(&th, NULL, own_and_exit, m);
	pthread_join(th, NULL);
	CHECK(WaitForSingleObject(m, 0) == WAIT_ABANDONED &&
	      WaitForSingleObject(m, 0) == WAIT_OBJECT_0 && ReleaseMutex(m) &&
	      ReleaseMutex(m) && !ReleaseMutex(m), "abandoned mutex, then recursive");
	CloseHandle(m);
}

static void idle_exit(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	TP_CALLBACK_ENVIRON env;
	struct rec r = { 0 };
	PTP_IO io;
	int fd, i;

	SetThreadpoolThreadMaximum(pool, 4);
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	r.block = CreateEventW(NULL, TRUE, FALSE, NULL);
	io = mk(&env, &r, &fd);
	for (i = 0; i < 4; i++)
		StartThreadpoolIo(io);
	for (i = 0; i < 4; i++)
		tpio_post_completion(io, NULL, 0, 0);
	for (i = 0; i < 2000 && atomic_load(&r.concurrent) < 4; i++)
		msleep(1);
	CHECK(atomic_load(&r.concurrent) == 4 && tpio_pool_thread_count(pool) == 4,
	      "4 blocking callbacks on 4 workers (max 4)");
	SetEvent(r.block);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	for (i = 0; i < 3000 && tpio_pool_thread_count(pool) > 1; i++)
		msleep(1);
	CHECK(tpio_pool_thread_count(pool) == 1, "idle workers exit, one stays (%u)",
	      tpio_pool_thread_count(pool));
	CloseThreadpoolIo(io);
	close(fd);
	CloseThreadpool(pool);
	CloseHandle(r.block);
}

struct stress_arg {
	PTP_POOL pool;
	int seed;
	atomic_long *callbacks;
};

static atomic_long s_cb;

static void CALLBACK scb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			 ULONG res, ULONG_PTR n, PTP_IO io)
{
	(void)inst; (void)ctx; (void)ov; (void)res; (void)n; (void)io;
	atomic_fetch_add(&s_cb, 1);
}

static void *stress_thread(void *arg)
{
	struct stress_arg *a = arg;
	TP_CALLBACK_ENVIRON env;
	unsigned int seed = (unsigned int)a->seed;
	int i, p[2];

	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, a->pool);
	for (i = 0; i < 200; i++) {
		PTP_IO io;
		int k, n = rand_r(&seed) % 8;

		if (pipe(p))
			abort();
		io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), scb, NULL, &env);
		for (k = 0; k < n; k++)
			StartThreadpoolIo(io);
		for (k = 0; k < n; k++) {
			switch (rand_r(&seed) % 3) {
			case 0: CancelThreadpoolIo(io); break;
			default: tpio_post_completion(io, NULL, 0, 0); break;
			}
		}
		if (rand_r(&seed) % 2)
			WaitForThreadpoolIoCallbacks(io, TRUE);
		CloseThreadpoolIo(io);
		close(p[0]);
		close(p[1]);
	}
	return NULL;
}

static void stress(PTP_POOL pool)
{
	pthread_t th[4];
	struct stress_arg a[4];
	ULONG base = tpio_io_count();
	int i;

	for (i = 0; i < 4; i++) {
		a[i].pool = pool;
		a[i].seed = i + 1;
		pthread_create(&th[i], NULL, stress_thread, &a[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 3000 && tpio_io_count() != base; i++)
		msleep(1);
	CHECK(tpio_io_count() == base, "32: stress leaves no object (%u vs %u)",
	      tpio_io_count(), base);
}

int main(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool;

	setenv("TPIO_IDLE_TIMEOUT_MS", "200", 0);
	printf("# backend %s\n", tpio_backend() ? tpio_backend() : "(none)");
	CHECK(tpio_backend() != NULL, "a backend is available");
	pool = CreateThreadpool(NULL);
	CHECK(pool != NULL, "CreateThreadpool");
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);

	basic(NULL);
	basic(&env);
	disassoc(&env);
	close_self(&env);
	groups(pool);
	ordering();
	interleave();
	concurrency();
	instance_actions(&env);
	sync_objects();
	abandoned();
	idle_exit();
	stress(pool);
	setenv("TPIO_RING_ENTRIES", "4", 1);
	overflow();
	CloseThreadpool(pool);
	printf("# %d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
