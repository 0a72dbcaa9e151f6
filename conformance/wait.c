// SPDX-License-Identifier: MIT
/*
 * wait: TP_WAIT on events, semaphores and mutexes. Documentation/contract.rst,
 * section "Waits" (scenarios x1-x14): WAIT_OBJECT_0 and WAIT_TIMEOUT, an
 * object signalled already, timeouts 0 and relative, one callback per
 * setting, a wait set again in its callback, a semaphore, a manual-reset
 * event with two waits, stopping with NULL, a replaced setting, Wait(TRUE)
 * with a callback queued, Close while set, cleanup groups with and
 * without cancel, priorities (x13), and a RunsLong environment with
 * CallbackMayRunLong, ReleaseSemaphoreWhenCallbackReturns and
 * DisassociateCurrentThreadFromCallback (x14). SetThreadpoolWaitEx is not here: Wine 8.0 lacks it
 * (selftests/lib/t_wait.c tests it).
 */
#include "harness.h"

struct xctx {
	atomic_int calls;
	atomic_int done;
	atomic_int bad;
	DWORD result[16];
	int rearm;			/* set the wait again this many times */
	int block_first;
	PTP_WAIT wait;
	HANDLE h;			/* what it waits for */
	HANDLE entered;			/* auto-reset */
	HANDLE release;			/* manual-reset */
};

static VOID CALLBACK wait_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_WAIT wait, TP_WAIT_RESULT res)
{
	struct xctx *x = ctx;
	int i = atomic_fetch_add(&x->calls, 1);

	if (i < 16)
		x->result[i] = res;
	if (!inst || (x->wait && wait != x->wait))
		atomic_store(&x->bad, 1);
	if (i < x->rearm)
		SetThreadpoolWait(wait, x->h, NULL);
	SetEvent(x->entered);
	if (x->block_first && i == 0)
		WaitForSingleObject(x->release, LONG_MS);
	atomic_fetch_add(&x->done, 1);
}

static struct xctx *xctx_new(void)
{
	struct xctx *x = calloc(1, sizeof(*x));

	if (!x)
		die("calloc");
	x->entered = CreateEventW(NULL, FALSE, FALSE, NULL);
	x->release = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!x->entered || !x->release)
		die("CreateEvent");
	return x;
}

static void xctx_free(struct xctx *x)
{
	CloseHandle(x->entered);
	CloseHandle(x->release);
	free(x);
}

static PTP_POOL pool_env(DWORD max, TP_CALLBACK_ENVIRON *env)
{
	PTP_POOL pool = CreateThreadpool(NULL);

	if (!pool)
		die("CreateThreadpool");
	if (max)
		SetThreadpoolThreadMaximum(pool, max);
	InitializeThreadpoolEnvironment(env);
	SetThreadpoolCallbackPool(env, pool);
	return pool;
}

static PTP_WAIT wait_new(struct xctx *x, TP_CALLBACK_ENVIRON *env)
{
	x->wait = CreateThreadpoolWait(wait_cb, x, env);
	if (!x->wait)
		die("CreateThreadpoolWait");
	return x->wait;
}

static const char *res_name(DWORD r)
{
	return r == WAIT_OBJECT_0 ? "WAIT_OBJECT_0" :
	       r == WAIT_TIMEOUT ? "WAIT_TIMEOUT" :
	       r == WAIT_ABANDONED ? "WAIT_ABANDONED" : "other";
}

static int entered(struct xctx *x)
{
	return WaitForSingleObject(x->entered, LONG_MS) == WAIT_OBJECT_0;
}

static int not_entered(struct xctx *x)
{
	return WaitForSingleObject(x->entered, SHORT_MS) == WAIT_TIMEOUT;
}

static void ft_rel(FILETIME *ft, LONGLONG ms)
{
	LONGLONG v = -ms * 10000;

	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)((ULONGLONG)v >> 32);
}

static void wait_end(struct xctx *x)
{
	SetThreadpoolWait(x->wait, NULL, NULL);
	WaitForThreadpoolWaitCallbacks(x->wait, TRUE);
	CloseThreadpoolWait(x->wait);
}

static void x1(void)
{
	struct xctx *x = xctx_new();

	x->h = CreateEventW(NULL, FALSE, FALSE, NULL);
	wait_new(x, NULL);
	SetThreadpoolWait(x->wait, x->h, NULL);
	say("x1", "not signalled: no callback=%s", yesno(not_entered(x)));
	SetEvent(x->h);
	say("x1", "SetEvent: callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x1", "WaitResult=%s Wait==wait, Context==pv, Instance set=%s",
	    res_name(x->result[0]), yesno(!atomic_load(&x->bad)));
	say("x1", "auto-reset event taken by the wait=%s",
	    yesno(WaitForSingleObject(x->h, 0) == WAIT_TIMEOUT));
	SetEvent(x->h);
	say("x1", "one callback per setting: none for a second SetEvent=%s",
	    yesno(not_entered(x)));
	say("x1", "the event stays set=%s",
	    yesno(WaitForSingleObject(x->h, 0) == WAIT_OBJECT_0));
	wait_end(x);
	CloseHandle(x->h);
	xctx_free(x);
}

static void x2(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();
	FILETIME ft;

	x->h = CreateEventW(NULL, TRUE, TRUE, NULL);
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	say("x2", "signalled already: callback=%s", yesno(entered(x)));
	ResetEvent(x->h);
	ft_rel(&ft, 0);
	SetThreadpoolWait(x->wait, x->h, &ft);
	say("x2", "timeout 0, not signalled: callback=%s", yesno(entered(x)));
	SetEvent(x->h);
	SetThreadpoolWait(x->wait, x->h, &ft);
	say("x2", "timeout 0, signalled: callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x2", "results %s, %s, %s", res_name(x->result[0]),
	    res_name(x->result[1]), res_name(x->result[2]));
	wait_end(x);
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static void x3(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();
	FILETIME ft;

	x->h = CreateEventW(NULL, FALSE, FALSE, NULL);
	wait_new(x, &env);
	ft_rel(&ft, 50);
	SetThreadpoolWait(x->wait, x->h, &ft);
	say("x3", "timeout 50 ms: not before 20 ms=%s",
	    yesno(WaitForSingleObject(x->entered, 20) == WAIT_TIMEOUT));
	say("x3", "callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x3", "WaitResult=%s", res_name(x->result[0]));
	SetEvent(x->h);
	say("x3", "timed out: no callback for a later SetEvent=%s",
	    yesno(not_entered(x)));
	say("x3", "callbacks=%d", atomic_load(&x->calls));
	wait_end(x);
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static void x4(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();
	int i, ok = 1;

	x->h = CreateEventW(NULL, FALSE, FALSE, NULL);
	x->rearm = 2;
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	for (i = 0; i < 3; i++) {
		SetEvent(x->h);
		ok &= entered(x);
	}
	say("x4", "set again in its callback twice: 3 SetEvents, 3 callbacks=%s",
	    yesno(ok));
	SetEvent(x->h);
	say("x4", "not set again after the third: no callback=%s",
	    yesno(not_entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x4", "callbacks=%d", atomic_load(&x->done));
	wait_end(x);
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static void x5(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();
	LONG prev = -1;

	x->h = CreateSemaphoreW(NULL, 0, 10, NULL);
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	ReleaseSemaphore(x->h, 2, &prev);
	say("x5", "semaphore released by 2: callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x5", "WaitResult=%s", res_name(x->result[0]));
	say("x5", "the wait took one: one left=%s",
	    yesno(WaitForSingleObject(x->h, 0) == WAIT_OBJECT_0 &&
		  WaitForSingleObject(x->h, 0) == WAIT_TIMEOUT));
	wait_end(x);
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static void x6(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *a = xctx_new(), *b = xctx_new();
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);

	wait_new(a, &env);
	wait_new(b, &env);
	SetThreadpoolWait(a->wait, ev, NULL);
	SetThreadpoolWait(b->wait, ev, NULL);
	SetEvent(ev);
	say("x6", "manual-reset event, two waits: both callbacks=%s",
	    yesno(entered(a) && entered(b)));
	say("x6", "the event stays set=%s",
	    yesno(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0));
	wait_end(a);
	wait_end(b);
	CloseHandle(ev);
	CloseThreadpool(pool);
	xctx_free(a);
	xctx_free(b);
}

static void x7(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();
	HANDLE ev2 = CreateEventW(NULL, FALSE, FALSE, NULL);
	FILETIME ft;

	x->h = CreateEventW(NULL, FALSE, FALSE, NULL);
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	SetThreadpoolWait(x->wait, NULL, NULL);
	SetEvent(x->h);
	say("x7", "stopped with NULL: no callback=%s", yesno(not_entered(x)));
	say("x7", "the event was not taken=%s",
	    yesno(WaitForSingleObject(x->h, 0) == WAIT_OBJECT_0));
	ft_rel(&ft, 50);
	SetThreadpoolWait(x->wait, x->h, &ft);
	SetThreadpoolWait(x->wait, ev2, NULL);
	SetEvent(x->h);
	Sleep(SHORT_MS);
	say("x7", "replaced by a wait on another event: no timeout, no callback=%s",
	    yesno(not_entered(x)));
	SetEvent(ev2);
	say("x7", "the other event: callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x7", "callbacks=%d WaitResult=%s", atomic_load(&x->calls),
	    res_name(x->result[0]));
	wait_end(x);
	CloseHandle(x->h);
	CloseHandle(ev2);
	CloseThreadpool(pool);
	xctx_free(x);
}

/* x8: a callback queued behind the one busy worker, then Wait(TRUE) */
static void x8(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct xctx *blk = xctx_new(), *x = xctx_new();
	HANDLE ev = CreateEventW(NULL, TRUE, TRUE, NULL);

	blk->block_first = 1;
	wait_new(blk, &env);
	wait_new(x, &env);
	SetThreadpoolWait(blk->wait, ev, NULL);
	entered(blk);
	SetThreadpoolWait(x->wait, ev, NULL);
	settle();
	WaitForThreadpoolWaitCallbacks(x->wait, TRUE);
	SetEvent(blk->release);
	WaitForThreadpoolWaitCallbacks(blk->wait, FALSE);
	settle();
	say("x8", "Wait(TRUE) with a callback queued: it never runs=%s",
	    yesno(atomic_load(&x->calls) == 0));
	wait_end(x);
	wait_end(blk);
	CloseHandle(ev);
	CloseThreadpool(pool);
	xctx_free(blk);
	xctx_free(x);
}

static void x9(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();

	x->h = CreateEventW(NULL, FALSE, FALSE, NULL);
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	CloseThreadpoolWait(x->wait);
	SetEvent(x->h);
	say("x9", "closed while set: no callback=%s", yesno(not_entered(x)));
	say("x9", "the event was not taken=%s",
	    yesno(WaitForSingleObject(x->h, 0) == WAIT_OBJECT_0));
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static char cleanup_token;
static atomic_int gcalls;
static PVOID gclean;

static VOID CALLBACK group_cancel(PVOID obj_ctx, PVOID cleanup_ctx)
{
	(void)obj_ctx;
	atomic_fetch_add(&gcalls, 1);
	gclean = cleanup_ctx;
}

/* x10 (FALSE), x11 (TRUE): a member waiting, one with its callback queued */
static void group_release(const char *scen, BOOL cancel)
{
	TP_CALLBACK_ENVIRON env, genv;
	PTP_POOL pool = pool_env(1, &env);
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	struct xctx *blk = xctx_new(), *p = xctx_new(), *q = xctx_new();
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	HANDLE unset = CreateEventW(NULL, TRUE, FALSE, NULL);

	if (!g)
		die("CreateThreadpoolCleanupGroup");
	atomic_store(&gcalls, 0);
	genv = env;
	SetThreadpoolCallbackCleanupGroup(&genv, g, group_cancel);
	blk->block_first = 1;
	wait_new(blk, &env);
	wait_new(p, &genv);
	wait_new(q, &genv);
	SetThreadpoolWait(blk->wait, set, NULL);
	entered(blk);
	SetThreadpoolWait(p->wait, unset, NULL);
	SetThreadpoolWait(q->wait, set, NULL);
	settle();
	if (!cancel)
		SetEvent(blk->release);
	CloseThreadpoolCleanupGroupMembers(g, cancel, &cleanup_token);
	say(scen, "CloseMembers(%s) returned", cancel ? "TRUE" : "FALSE");
	SetEvent(blk->release);
	SetEvent(unset);
	WaitForThreadpoolWaitCallbacks(blk->wait, FALSE);
	settle();
	say(scen, "waiting member: no callback after the release=%s",
	    yesno(atomic_load(&p->calls) == 0));
	say(scen, "member with its callback queued: callbacks=%d",
	    atomic_load(&q->calls));
	say(scen, "cancel callbacks=%d Cleanup==ctx %s", atomic_load(&gcalls),
	    yesno(!atomic_load(&gcalls) || gclean == &cleanup_token));
	wait_end(blk);
	CloseThreadpoolCleanupGroup(g);
	CloseHandle(set);
	CloseHandle(unset);
	CloseThreadpool(pool);
	xctx_free(blk);
	xctx_free(p);
	xctx_free(q);
}

static void x12(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct xctx *x = xctx_new();

	x->h = CreateMutexW(NULL, FALSE, NULL);
	wait_new(x, &env);
	SetThreadpoolWait(x->wait, x->h, NULL);
	say("x12", "free mutex: callback=%s", yesno(entered(x)));
	WaitForThreadpoolWaitCallbacks(x->wait, FALSE);
	say("x12", "WaitResult=%s", res_name(x->result[0]));
	wait_end(x);
	CloseHandle(x->h);
	CloseThreadpool(pool);
	xctx_free(x);
}

static VOID CALLBACK ecb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_WAIT wait,
			 TP_WAIT_RESULT res)
{
	(void)wait;
	(void)res;
	ectx_run(ctx, inst);
}

static void ewait_new(struct ectx *e, TP_CALLBACK_ENVIRON *env)
{
	e->wait = CreateThreadpoolWait(ecb, e, env);
	if (!e->wait)
		die("CreateThreadpoolWait");
}

static void ewait_end(struct ectx *e)
{
	SetThreadpoolWait(e->wait, NULL, NULL);
	WaitForThreadpoolWaitCallbacks(e->wait, TRUE);
	CloseThreadpoolWait(e->wait);
	ectx_free(e);
}

static void ewait_wait_cbs(struct ectx *e)
{
	WaitForThreadpoolWaitCallbacks(e->wait, FALSE);
}

/* x13: callbacks of LOW, NORMAL, HIGH waits queued behind the one worker */
static void x13(void)
{
	TP_CALLBACK_ENVIRON env, penv[3];
	PTP_POOL pool = pool_env(1, &env);
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	static struct ectx blk, e[3];
	static struct eorder ord;
	static const char tags[3] = { 'L', 'N', 'H' };
	int i;

	if (!set)
		die("CreateEvent");
	ectx_init(&blk, 'b', NULL, 1);
	ewait_new(&blk, &env);
	SetThreadpoolWait(blk.wait, set, NULL);
	WaitForSingleObject(blk.entered, LONG_MS);
	for (i = 0; i < 3; i++) {
		penv[i] = env;
		SetThreadpoolCallbackPriority(&penv[i], (TP_CALLBACK_PRIORITY)(2 - i));
		ectx_init(&e[i], tags[i], &ord, 0);
		ewait_new(&e[i], &penv[i]);
		SetThreadpoolWait(e[i].wait, set, NULL);
	}
	settle();
	say("x13", "none ran behind the busy worker=%s", yesno(atomic_load(&ord.n) == 0));
	SetEvent(blk.release);
	for (i = 0; i < 3; i++)
		WaitForSingleObject(e[i].entered, LONG_MS);
	say("x13", "satisfied LOW, NORMAL, HIGH: ran %.3s", ord.tag);
	for (i = 0; i < 3; i++)
		ewait_end(&e[i]);
	ewait_end(&blk);
	CloseThreadpool(pool);
	CloseHandle(set);
}

/* x14: at a maximum of 1, a plain and a RunsLong environment */
static void x14(void)
{
	TP_CALLBACK_ENVIRON env, renv;
	PTP_POOL pool = pool_env(1, &env);
	HANDLE set = CreateEventW(NULL, TRUE, TRUE, NULL);
	static struct ectx e;
	int runs_long;

	if (!set)
		die("CreateEvent");
	for (runs_long = 0; runs_long < 2; runs_long++) {
		renv = env;
		if (runs_long)
			SetThreadpoolCallbackRunsLong(&renv);
		ectx_init(&e, 'x', NULL, 1);
		ewait_new(&e, &renv);
		SetThreadpoolWait(e.wait, set, NULL);
		WaitForSingleObject(e.entered, LONG_MS);
		ectx_say_act("x14", runs_long ? "RunsLong" : "plain", &e,
			     ewait_wait_cbs);
		ewait_end(&e);
	}
	CloseThreadpool(pool);
	CloseHandle(set);
}

int main(void)
{
	port_init();
	x1();
	x2();
	x3();
	x4();
	x5();
	x6();
	x7();
	x8();
	x9();
	group_release("x10", FALSE);
	group_release("x11", TRUE);
	x12();
	x13();
	x14();
	return port_finish();
}
