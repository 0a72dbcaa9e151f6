// SPDX-License-Identifier: MIT
/*
 * work: TP_WORK and TrySubmitThreadpoolCallback. Documentation/contract.rst,
 * section "Work items" (scenarios w1-w14): submissions, a submission from
 * inside the callback, Wait(TRUE) cancelling submissions not started, Close
 * with queued callbacks and from the own callback, priorities, cleanup
 * groups with and without cancel (simple callbacks too), and the callback
 * instance functions in a work callback.
 */
#include "harness.h"

enum { W_NONE, W_BLOCK_FIRST, W_RESUBMIT_FIRST, W_CLOSE_SELF, W_MAY_TWICE,
       W_DISASSOC_BLOCK, W_SET_EVENT };

struct wctx {
	atomic_int calls;
	atomic_int done;
	atomic_int bad;			/* a wrong Work/Context/Instance */
	int mode;
	int tag;			/* recorded in the shared order list */
	PTP_WORK work;
	HANDLE entered;			/* auto-reset */
	HANDLE release;			/* manual-reset */
	HANDLE ev;			/* W_SET_EVENT */
	BOOL may[2];			/* W_MAY_TWICE */
	atomic_int overlap;		/* a callback began before the previous returned */
	atomic_int inside;
};

static atomic_int order[16];
static atomic_int norder;

static VOID CALLBACK work_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_WORK work)
{
	struct wctx *w = ctx;
	int i = atomic_fetch_add(&w->calls, 1);
	int o = atomic_fetch_add(&norder, 1);

	if (atomic_fetch_add(&w->inside, 1))
		atomic_store(&w->overlap, 1);
	if (o < 16)
		atomic_store(&order[o], w->tag);
	if (!inst || (w->work && work != w->work))
		atomic_store(&w->bad, 1);
	SetEvent(w->entered);
	switch (w->mode) {
	case W_BLOCK_FIRST:
		if (i == 0)
			WaitForSingleObject(w->release, LONG_MS);
		break;
	case W_RESUBMIT_FIRST:
		if (i == 0) {
			SubmitThreadpoolWork(work);
			Sleep(SHORT_MS / 4);
		}
		break;
	case W_CLOSE_SELF:
		CloseThreadpoolWork(work);
		break;
	case W_MAY_TWICE:
		w->may[0] = CallbackMayRunLong(inst);
		w->may[1] = CallbackMayRunLong(inst);
		break;
	case W_DISASSOC_BLOCK:
		DisassociateCurrentThreadFromCallback(inst);
		WaitForSingleObject(w->release, LONG_MS);
		break;
	case W_SET_EVENT:
		SetEventWhenCallbackReturns(inst, w->ev);
		Sleep(SHORT_MS / 4);
		/* not set before the callback returns */
		if (WaitForSingleObject(w->ev, 0) == WAIT_OBJECT_0)
			atomic_store(&w->bad, 2);
		break;
	}
	atomic_fetch_sub(&w->inside, 1);
	atomic_fetch_add(&w->done, 1);
}

static VOID CALLBACK simple_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx)
{
	struct wctx *w = ctx;
	int o = atomic_fetch_add(&norder, 1);

	if (o < 16)
		atomic_store(&order[o], w->tag);
	if (!inst)
		atomic_store(&w->bad, 1);
	atomic_fetch_add(&w->calls, 1);
	SetEvent(w->entered);
	atomic_fetch_add(&w->done, 1);
}

static struct wctx *wctx_new(int mode, int tag)
{
	struct wctx *w = calloc(1, sizeof(*w));

	if (!w)
		die("calloc");
	w->mode = mode;
	w->tag = tag;
	w->entered = CreateEventW(NULL, FALSE, FALSE, NULL);
	w->release = CreateEventW(NULL, TRUE, FALSE, NULL);
	w->ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!w->entered || !w->release || !w->ev)
		die("CreateEvent");
	return w;
}

static void wctx_free(struct wctx *w)
{
	CloseHandle(w->entered);
	CloseHandle(w->release);
	CloseHandle(w->ev);
	free(w);
}

static int wait_calls(struct wctx *w, int n)
{
	int t;

	for (t = 0; t < LONG_MS / 5 && atomic_load(&w->done) < n; t++)
		Sleep(5);
	return atomic_load(&w->done);
}

/* a private pool of @max threads and an environment on it */
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

static PTP_WORK work_new(struct wctx *w, TP_CALLBACK_ENVIRON *env)
{
	w->work = CreateThreadpoolWork(work_cb, w, env);
	if (!w->work)
		die("CreateThreadpoolWork");
	return w->work;
}

static void set_later_main(void *p)
{
	Sleep(SHORT_MS);
	SetEvent(p);
}

static void w1(void)
{
	struct wctx *w = wctx_new(W_NONE, 1);

	work_new(w, NULL);
	SubmitThreadpoolWork(w->work);
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w1", "default pool: callbacks after Wait(FALSE)=%d", atomic_load(&w->done));
	say("w1", "Work==work, Context==pv, Instance set=%s", yesno(!atomic_load(&w->bad)));
	CloseThreadpoolWork(w->work);
	wctx_free(w);
}

static void w2(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct wctx *w = wctx_new(W_NONE, 1);
	int i;

	work_new(w, &env);
	for (i = 0; i < 3; i++)
		SubmitThreadpoolWork(w->work);
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w2", "3 submissions: callbacks after Wait(FALSE)=%d", atomic_load(&w->done));
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w3(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct wctx *w = wctx_new(W_RESUBMIT_FIRST, 1);

	work_new(w, &env);
	SubmitThreadpoolWork(w->work);
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w3", "submitted again inside its callback: callbacks after Wait(FALSE)=%d",
	    atomic_load(&w->done));
	say("w3", "pool max 1: second callback began after the first returned=%s",
	    yesno(!atomic_load(&w->overlap)));
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w4(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct wctx *w = wctx_new(W_BLOCK_FIRST, 1);
	port_thread *t;
	int i;

	work_new(w, &env);
	for (i = 0; i < 4; i++)
		SubmitThreadpoolWork(w->work);
	WaitForSingleObject(w->entered, LONG_MS);
	t = port_thread_start(set_later_main, w->release);
	WaitForThreadpoolWorkCallbacks(w->work, TRUE);
	say("w4", "Wait(TRUE) with 3 submissions queued: callbacks=%d",
	    atomic_load(&w->done));
	port_thread_join(t, LONG_MS);
	settle();
	say("w4", "cancelled submissions never run: callbacks=%d",
	    atomic_load(&w->calls));
	SubmitThreadpoolWork(w->work);
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w4", "submitted after the cancel: callbacks=%d", atomic_load(&w->done));
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w5(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct wctx *w = wctx_new(W_BLOCK_FIRST, 1);
	int i;

	work_new(w, &env);
	for (i = 0; i < 3; i++)
		SubmitThreadpoolWork(w->work);
	WaitForSingleObject(w->entered, LONG_MS);
	CloseThreadpoolWork(w->work);
	SetEvent(w->release);
	say("w5", "closed with 2 queued: callbacks=%d", wait_calls(w, 3));
	settle();
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w6(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct wctx *w = wctx_new(W_CLOSE_SELF, 1);

	work_new(w, &env);
	SubmitThreadpoolWork(w->work);
	say("w6", "CloseThreadpoolWork inside its callback: callbacks=%d",
	    wait_calls(w, 1));
	settle();
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w7(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct wctx *w = wctx_new(W_NONE, 1);
	BOOL ok = TrySubmitThreadpoolCallback(simple_cb, w, &env);

	say("w7", "TrySubmitThreadpoolCallback=%s", ok ? "TRUE" : "FALSE");
	say("w7", "simple callbacks=%d", wait_calls(w, 1));
	say("w7", "Context==pv, Instance set=%s", yesno(!atomic_load(&w->bad)));
	settle();
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w8(void)
{
	TP_CALLBACK_ENVIRON env, envp[3];
	PTP_POOL pool = pool_env(1, &env);
	struct wctx *blk = wctx_new(W_BLOCK_FIRST, 9), *w[3];
	static const TP_CALLBACK_PRIORITY prio[3] = {
		TP_CALLBACK_PRIORITY_LOW, TP_CALLBACK_PRIORITY_NORMAL,
		TP_CALLBACK_PRIORITY_HIGH };
	char line[64];
	int i, n;

	work_new(blk, &env);
	SubmitThreadpoolWork(blk->work);
	WaitForSingleObject(blk->entered, LONG_MS);
	atomic_store(&norder, 0);
	for (i = 0; i < 3; i++) {
		envp[i] = env;
		SetThreadpoolCallbackPriority(&envp[i], prio[i]);
		w[i] = wctx_new(W_NONE, 3 - i);	/* HIGH=1 ... LOW=3 */
		work_new(w[i], &envp[i]);
		SubmitThreadpoolWork(w[i]->work);
	}
	SetEvent(blk->release);
	for (i = 0; i < 3; i++)
		WaitForThreadpoolWorkCallbacks(w[i]->work, FALSE);
	n = atomic_load(&norder);
	line[0] = 0;
	for (i = 0; i < n && i < 3; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s",
			 i ? "," : "", atomic_load(&order[i]) == 1 ? "HIGH" :
			 atomic_load(&order[i]) == 2 ? "NORMAL" : "LOW");
	say("w8", "submitted LOW, NORMAL, HIGH behind a busy worker: ran %s", line);
	for (i = 0; i < 3; i++) {
		CloseThreadpoolWork(w[i]->work);
		wctx_free(w[i]);
	}
	WaitForThreadpoolWorkCallbacks(blk->work, FALSE);
	CloseThreadpoolWork(blk->work);
	CloseThreadpool(pool);
	wctx_free(blk);
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

struct closer {
	PTP_CLEANUP_GROUP g;
	BOOL cancel;
};

static void closer_main(void *p)
{
	struct closer *cl = p;

	CloseThreadpoolCleanupGroupMembers(cl->g, cl->cancel, &cleanup_token);
}

/* w9 (FALSE) and w10 (TRUE): a member with one callback running, 2 queued */
static void group_release(const char *scen, BOOL cancel)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	struct wctx *w = wctx_new(W_BLOCK_FIRST, 1);
	struct closer cl = { g, cancel };
	port_thread *t;
	int early, i;

	if (!g)
		die("CreateThreadpoolCleanupGroup");
	atomic_store(&gcalls, 0);
	gobj = gclean = NULL;
	SetThreadpoolCallbackCleanupGroup(&env, g, group_cancel);
	work_new(w, &env);
	for (i = 0; i < 3; i++)
		SubmitThreadpoolWork(w->work);
	WaitForSingleObject(w->entered, LONG_MS);
	t = port_thread_start(closer_main, &cl);
	early = port_thread_join(t, SHORT_MS);
	say(scen, "CloseMembers(%s) returned while a callback runs=%s",
	    cancel ? "TRUE" : "FALSE", yesno(early));
	SetEvent(w->release);
	say(scen, "CloseMembers returned after it=%s",
	    yesno(early || port_thread_join(t, LONG_MS)));
	say(scen, "callbacks=%d", atomic_load(&w->done));
	say(scen, "cancel callbacks=%d Object==pv %s Cleanup==ctx %s",
	    atomic_load(&gcalls), yesno(gobj == w), yesno(gclean == &cleanup_token));
	CloseThreadpoolCleanupGroup(g);
	CloseThreadpool(pool);
	wctx_free(w);
}

/* w11: a simple callback queued behind a busy worker, group released with cancel */
static void w11(void)
{
	TP_CALLBACK_ENVIRON env, genv;
	PTP_POOL pool = pool_env(1, &env);
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();
	struct wctx *blk = wctx_new(W_BLOCK_FIRST, 9);
	struct wctx *s = wctx_new(W_NONE, 1);
	struct closer cl = { g, TRUE };
	port_thread *t;

	if (!g)
		die("CreateThreadpoolCleanupGroup");
	atomic_store(&gcalls, 0);
	work_new(blk, &env);
	SubmitThreadpoolWork(blk->work);
	WaitForSingleObject(blk->entered, LONG_MS);
	genv = env;
	SetThreadpoolCallbackCleanupGroup(&genv, g, group_cancel);
	say("w11", "TrySubmitThreadpoolCallback=%s",
	    TrySubmitThreadpoolCallback(simple_cb, s, &genv) ? "TRUE" : "FALSE");
	t = port_thread_start(closer_main, &cl);
	say("w11", "CloseMembers(TRUE) returned while the simple callback waits=%s",
	    yesno(port_thread_join(t, LONG_MS)));
	SetEvent(blk->release);
	WaitForThreadpoolWorkCallbacks(blk->work, FALSE);
	settle();
	say("w11", "simple callbacks=%d cancel callbacks=%d", atomic_load(&s->calls),
	    atomic_load(&gcalls));
	CloseThreadpoolWork(blk->work);
	CloseThreadpoolCleanupGroup(g);
	CloseThreadpool(pool);
	wctx_free(blk);
	wctx_free(s);
}

static void w12(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(1, &env);
	struct wctx *w = wctx_new(W_MAY_TWICE, 1);

	work_new(w, &env);
	SubmitThreadpoolWork(w->work);
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w12", "pool max 1: CallbackMayRunLong=%s, again=%s",
	    w->may[0] ? "TRUE" : "FALSE", w->may[1] ? "TRUE" : "FALSE");
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

struct wait_arg {
	PTP_WORK work;
};

static void wait_main(void *p)
{
	WaitForThreadpoolWorkCallbacks(((struct wait_arg *)p)->work, FALSE);
}

static void w13(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct wctx *w = wctx_new(W_DISASSOC_BLOCK, 1);
	struct wait_arg a;
	port_thread *t;

	work_new(w, &env);
	a.work = w->work;
	SubmitThreadpoolWork(w->work);
	WaitForSingleObject(w->entered, LONG_MS);
	settle();
	t = port_thread_start(wait_main, &a);
	say("w13", "Wait(FALSE) returned while a disassociated callback blocks=%s",
	    yesno(port_thread_join(t, LONG_MS)));
	SetEvent(w->release);
	say("w13", "callbacks=%d", wait_calls(w, 1));
	settle();
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

static void w14(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool = pool_env(0, &env);
	struct wctx *w = wctx_new(W_SET_EVENT, 1);

	work_new(w, &env);
	SubmitThreadpoolWork(w->work);
	say("w14", "SetEventWhenCallbackReturns: event set=%s",
	    yesno(WaitForSingleObject(w->ev, LONG_MS) == WAIT_OBJECT_0));
	WaitForThreadpoolWorkCallbacks(w->work, FALSE);
	say("w14", "not set inside the callback=%s", yesno(atomic_load(&w->bad) != 2));
	CloseThreadpoolWork(w->work);
	CloseThreadpool(pool);
	wctx_free(w);
}

int main(void)
{
	port_init();
	w1();
	w2();
	w3();
	w4();
	w5();
	w6();
	w7();
	w8();
	group_release("w9", FALSE);
	group_release("w10", TRUE);
	w11();
	w12();
	w13();
	w14();
	return port_finish();
}
