// SPDX-License-Identifier: MIT
/*
 * timer: TP_TIMER. Documentation/contract.rst, section "Timers"
 * (scenarios t1-t12): relative, absolute, zero and past due times, a NULL
 * due time, periods, a timer set again in its own callback, Wait(TRUE)
 * with an expiry queued, Close of a set timer and from its own callback,
 * cleanup groups with and without cancel, a callback instance, priorities
 * (t11), and a RunsLong environment with CallbackMayRunLong,
 * ReleaseSemaphoreWhenCallbackReturns and DisassociateCurrentThreadFromCallback
 * (t12).
 * SetThreadpoolTimerEx is not here: Wine 8.0 lacks it
 * (selftests/lib/t_timer.c tests it).
 */
#include "harness.h"

enum { T_NONE, T_RESET_FIRST, T_CLOSE_SELF, T_SET_EVENT, T_BLOCK_FIRST };

struct tctx {
	atomic_int calls;
	atomic_int done;
	atomic_int bad;
	int mode;
	PTP_TIMER timer;
	HANDLE entered;			/* auto-reset */
	HANDLE release;			/* manual-reset */
	HANDLE ev;
};

static void ft_rel(FILETIME *ft, LONGLONG ms)
{
	LONGLONG v = -ms * 10000;

	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)((ULONGLONG)v >> 32);
}

static void ft_abs(FILETIME *ft, ULONGLONG v)
{
	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)(v >> 32);
}

static VOID CALLBACK timer_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			      PTP_TIMER timer)
{
	struct tctx *t = ctx;
	int i = atomic_fetch_add(&t->calls, 1);
	FILETIME ft;

	if (!inst || (t->timer && timer != t->timer))
		atomic_store(&t->bad, 1);
	SetEvent(t->entered);
	switch (t->mode) {
	case T_RESET_FIRST:
		if (i == 0) {
			ft_rel(&ft, 20);
			SetThreadpoolTimer(timer, &ft, 0, 0);
		}
		break;
	case T_CLOSE_SELF:
		CloseThreadpoolTimer(timer);
		break;
	case T_SET_EVENT:
		SetEventWhenCallbackReturns(inst, t->ev);
		Sleep(SHORT_MS / 4);
		if (WaitForSingleObject(t->ev, 0) == WAIT_OBJECT_0)
			atomic_store(&t->bad, 2);
		break;
	case T_BLOCK_FIRST:
		if (i == 0)
			WaitForSingleObject(t->release, LONG_MS);
		break;
	}
	atomic_fetch_add(&t->done, 1);
}

static struct tctx *tctx_new(int mode)
{
	struct tctx *t = calloc(1, sizeof(*t));

	if (!t)
		die("calloc");
	t->mode = mode;
	t->entered = CreateEventW(NULL, FALSE, FALSE, NULL);
	t->release = CreateEventW(NULL, TRUE, FALSE, NULL);
	t->ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!t->entered || !t->release || !t->ev)
		die("CreateEvent");
	return t;
}

static void tctx_free(struct tctx *t)
{
	CloseHandle(t->entered);
	CloseHandle(t->release);
	CloseHandle(t->ev);
	free(t);
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

static PTP_TIMER timer_new(struct tctx *t, TP_CALLBACK_ENVIRON *env)
{
	t->timer = CreateThreadpoolTimer(timer_cb, t, env);
	if (!t->timer)
		die("CreateThreadpoolTimer");
	return t->timer;
}

static int entered(struct tctx *t)
{
	return WaitForSingleObject(t->entered, LONG_MS) == WAIT_OBJECT_0;
}

/* stop, drain, close */
static void timer_end(struct tctx *t)
{
	SetThreadpoolTimer(t->timer, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(t->timer, TRUE);
	CloseThreadpoolTimer(t->timer);
}

static void t1(void)
{
	struct tctx *t = tctx_new(T_NONE);
	FILETIME ft;

	timer_new(t, NULL);
	say("t1", "new timer set=%s", yesno(IsThreadpoolTimerSet(t->timer)));
	ft_rel(&ft, 20);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t1", "relative 20 ms: set=%s", yesno(IsThreadpoolTimerSet(t->timer)));
	say("t1", "callback ran=%s", yesno(entered(t)));
	WaitForThreadpoolTimerCallbacks(t->timer, FALSE);
	settle();
	say("t1", "one-shot: callbacks=%d Timer==timer, Context==pv, Instance set=%s",
	    atomic_load(&t->done), yesno(!atomic_load(&t->bad)));
	say("t1", "after the expiry set=%s", yesno(IsThreadpoolTimerSet(t->timer)));
	SetThreadpoolTimer(t->timer, NULL, 0, 0);
	say("t1", "after NULL set=%s", yesno(IsThreadpoolTimerSet(t->timer)));
	CloseThreadpoolTimer(t->timer);
	tctx_free(t);
}

static void t2(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_NONE);
	FILETIME ft;
	ULONGLONG now;

	timer_new(t, &env);
	port_filetime_now(&ft);
	now = ((ULONGLONG)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	ft_abs(&ft, now + 50 * 10000);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t2", "absolute now+50 ms: not before 20 ms=%s",
	    yesno(WaitForSingleObject(t->entered, 20) == WAIT_TIMEOUT));
	say("t2", "absolute now+50 ms: callback ran=%s", yesno(entered(t)));
	ft_abs(&ft, 0);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t2", "due time 0: callback ran=%s", yesno(entered(t)));
	ft_abs(&ft, now - 10000000ULL);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t2", "absolute time past: callback ran=%s", yesno(entered(t)));
	WaitForThreadpoolTimerCallbacks(t->timer, FALSE);
	settle();
	say("t2", "callbacks=%d", atomic_load(&t->done));
	timer_end(t);
	CloseThreadpool(pool);
	tctx_free(t);
}

static void t3(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_NONE);
	FILETIME ft;

	timer_new(t, &env);
	ft_rel(&ft, SHORT_MS);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	SetThreadpoolTimer(t->timer, NULL, 0, 0);
	Sleep(SHORT_MS * 2);
	say("t3", "NULL before the expiry: callbacks=%d", atomic_load(&t->calls));
	ft_rel(&ft, SHORT_MS);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t3", "set again to 10 ms: callback ran=%s", yesno(entered(t)));
	Sleep(SHORT_MS * 2);
	say("t3", "the replaced setting never expires: callbacks=%d",
	    atomic_load(&t->calls));
	timer_end(t);
	CloseThreadpool(pool);
	tctx_free(t);
}

static void t4(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_NONE);
	FILETIME ft;
	int n1, n2, ok = 1, i;

	timer_new(t, &env);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(t->timer, &ft, 30, 0);
	for (i = 0; i < 3; i++)
		ok &= entered(t);
	say("t4", "period 30 ms: 3 callbacks=%s", yesno(ok));
	say("t4", "periodic: set=%s", yesno(IsThreadpoolTimerSet(t->timer)));
	SetThreadpoolTimer(t->timer, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(t->timer, FALSE);
	n1 = atomic_load(&t->done);
	settle();
	n2 = atomic_load(&t->done);
	say("t4", "stopped: no callback after the stop and the wait=%s",
	    yesno(n1 == n2));
	CloseThreadpoolTimer(t->timer);
	CloseThreadpool(pool);
	tctx_free(t);
}

static void t5(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_RESET_FIRST);
	FILETIME ft;

	timer_new(t, &env);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	entered(t);
	say("t5", "set again in its own callback: second callback=%s",
	    yesno(entered(t)));
	WaitForThreadpoolTimerCallbacks(t->timer, FALSE);
	settle();
	say("t5", "callbacks=%d", atomic_load(&t->done));
	timer_end(t);
	CloseThreadpool(pool);
	tctx_free(t);
}

/* t6: an expiry queued behind the busy worker, then Wait(TRUE) */
static void t6(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct tctx *blk = tctx_new(T_BLOCK_FIRST), *t = tctx_new(T_NONE);
	FILETIME ft;

	timer_new(blk, &env);
	timer_new(t, &env);
	ft_abs(&ft, 0);
	SetThreadpoolTimer(blk->timer, &ft, 0, 0);
	entered(blk);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	settle();
	WaitForThreadpoolTimerCallbacks(t->timer, TRUE);
	say("t6", "Wait(TRUE) with an expiry queued: returned, set=%s",
	    yesno(IsThreadpoolTimerSet(t->timer)));
	SetEvent(blk->release);
	WaitForThreadpoolTimerCallbacks(blk->timer, FALSE);
	settle();
	say("t6", "the cancelled expiry never runs: callbacks=%d",
	    atomic_load(&t->calls));
	timer_end(t);
	timer_end(blk);
	CloseThreadpool(pool);
	tctx_free(t);
	tctx_free(blk);
}

static void t7(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_NONE), *s = tctx_new(T_CLOSE_SELF);
	FILETIME ft;

	timer_new(t, &env);
	ft_rel(&ft, SHORT_MS / 2);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	CloseThreadpoolTimer(t->timer);
	Sleep(SHORT_MS * 2);
	say("t7", "closed while set: callbacks=%d", atomic_load(&t->calls));
	timer_new(s, &env);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(s->timer, &ft, 1000, 0);
	say("t7", "periodic, closed in its own callback: callback ran=%s",
	    yesno(entered(s)));
	Sleep(SHORT_MS);
	say("t7", "no expiry after that close=%s", yesno(atomic_load(&s->calls) == 1));
	CloseThreadpool(pool);
	tctx_free(t);
	tctx_free(s);
}

static char cleanup_token;
static atomic_int gcalls;
static PVOID gobj, gclean;

static VOID CALLBACK group_cancel(PVOID obj_ctx, PVOID cleanup_ctx)
{
	atomic_fetch_add(&gcalls, 1);
	gobj = obj_ctx;
	gclean = cleanup_ctx;
}

/* t8 (FALSE), t9 (TRUE): a periodic member and one with an expiry queued */
static void group_release(const char *scen, BOOL cancel)
{
	TP_CALLBACK_ENVIRON env, genv;
	PTP_POOL pool = pool_env(1, &env);
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	struct tctx *blk = tctx_new(T_BLOCK_FIRST), *p = tctx_new(T_NONE),
		    *q = tctx_new(T_NONE);
	FILETIME ft;
	int n;

	if (!g)
		die("CreateThreadpoolCleanupGroup");
	atomic_store(&gcalls, 0);
	genv = env;
	SetThreadpoolCallbackCleanupGroup(&genv, g, group_cancel);
	timer_new(blk, &env);
	timer_new(p, &genv);
	timer_new(q, &genv);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(p->timer, &ft, 20, 0);
	entered(p);
	ft_abs(&ft, 0);
	SetThreadpoolTimer(blk->timer, &ft, 0, 0);
	entered(blk);
	SetThreadpoolTimer(q->timer, &ft, 0, 0);
	settle();
	if (!cancel)
		SetEvent(blk->release);
	CloseThreadpoolCleanupGroupMembers(g, cancel, &cleanup_token);
	n = atomic_load(&p->done);
	say(scen, "CloseMembers(%s) returned", cancel ? "TRUE" : "FALSE");
	SetEvent(blk->release);
	WaitForThreadpoolTimerCallbacks(blk->timer, FALSE);
	Sleep(SHORT_MS);
	say(scen, "periodic member: no expiry after the release=%s",
	    yesno(atomic_load(&p->done) == n));
	say(scen, "member with an expiry queued: callbacks=%d", atomic_load(&q->done));
	say(scen, "cancel callbacks=%d Cleanup==ctx %s", atomic_load(&gcalls),
	    yesno(!atomic_load(&gcalls) || gclean == &cleanup_token));
	timer_end(blk);
	CloseThreadpoolCleanupGroup(g);
	CloseThreadpool(pool);
	tctx_free(blk);
	tctx_free(p);
	tctx_free(q);
}

static void t10(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct tctx *t = tctx_new(T_SET_EVENT);
	FILETIME ft;

	timer_new(t, &env);
	ft_rel(&ft, 10);
	SetThreadpoolTimer(t->timer, &ft, 0, 0);
	say("t10", "SetEventWhenCallbackReturns: event set=%s",
	    yesno(WaitForSingleObject(t->ev, LONG_MS) == WAIT_OBJECT_0));
	WaitForThreadpoolTimerCallbacks(t->timer, FALSE);
	say("t10", "not set inside the callback=%s", yesno(atomic_load(&t->bad) != 2));
	timer_end(t);
	CloseThreadpool(pool);
	tctx_free(t);
}

static VOID CALLBACK ecb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PTP_TIMER timer)
{
	(void)timer;
	ectx_run(ctx, inst);
}

static void etimer_new(struct ectx *e, TP_CALLBACK_ENVIRON *env)
{
	e->timer = CreateThreadpoolTimer(ecb, e, env);
	if (!e->timer)
		die("CreateThreadpoolTimer");
}

static void etimer_end(struct ectx *e)
{
	SetThreadpoolTimer(e->timer, NULL, 0, 0);
	WaitForThreadpoolTimerCallbacks(e->timer, TRUE);
	CloseThreadpoolTimer(e->timer);
	ectx_free(e);
}

static void etimer_wait_cbs(struct ectx *e)
{
	WaitForThreadpoolTimerCallbacks(e->timer, FALSE);
}

/* t11: expiries of LOW, NORMAL, HIGH timers queued behind the one worker */
static void t11(void)
{
	TP_CALLBACK_ENVIRON env, penv[3];
	PTP_POOL pool = pool_env(1, &env);
	struct tctx *blk = tctx_new(T_BLOCK_FIRST);
	static struct ectx e[3];
	static struct eorder ord;
	static const char tags[3] = { 'L', 'N', 'H' };
	FILETIME ft;
	int i;

	timer_new(blk, &env);
	ft_abs(&ft, 0);
	SetThreadpoolTimer(blk->timer, &ft, 0, 0);
	entered(blk);
	for (i = 0; i < 3; i++) {
		penv[i] = env;
		SetThreadpoolCallbackPriority(&penv[i], (TP_CALLBACK_PRIORITY)(2 - i));
		ectx_init(&e[i], tags[i], &ord, 0);
		etimer_new(&e[i], &penv[i]);
		SetThreadpoolTimer(e[i].timer, &ft, 0, 0);
	}
	settle();
	say("t11", "none ran behind the busy worker=%s", yesno(atomic_load(&ord.n) == 0));
	SetEvent(blk->release);
	for (i = 0; i < 3; i++)
		WaitForSingleObject(e[i].entered, LONG_MS);
	say("t11", "expired LOW, NORMAL, HIGH: ran %.3s", ord.tag);
	for (i = 0; i < 3; i++)
		etimer_end(&e[i]);
	timer_end(blk);
	CloseThreadpool(pool);
	tctx_free(blk);
}

/* t12: at a maximum of 1, a plain and a RunsLong environment */
static void t12(void)
{
	TP_CALLBACK_ENVIRON env, renv;
	PTP_POOL pool = pool_env(1, &env);
	static struct ectx e;
	FILETIME ft;
	int runs_long;

	ft_abs(&ft, 0);
	for (runs_long = 0; runs_long < 2; runs_long++) {
		renv = env;
		if (runs_long)
			SetThreadpoolCallbackRunsLong(&renv);
		ectx_init(&e, 'x', NULL, 1);
		etimer_new(&e, &renv);
		SetThreadpoolTimer(e.timer, &ft, 0, 0);
		WaitForSingleObject(e.entered, LONG_MS);
		ectx_say_act("t12", runs_long ? "RunsLong" : "plain", &e,
			     etimer_wait_cbs);
		etimer_end(&e);
	}
	CloseThreadpool(pool);
}

int main(void)
{
	port_init();
	t1();
	t2();
	t3();
	t4();
	t5();
	t6();
	t7();
	group_release("t8", FALSE);
	group_release("t9", TRUE);
	t10();
	t11();
	t12();
	return port_finish();
}
