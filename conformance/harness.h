/* SPDX-License-Identifier: MIT */
/*
 * harness.h: what every conformance program shares, written once against
 * the Win32 API only (port.h hides the differences).
 *
 * Transcript lines are "<scenario>: <fact>", where <scenario> is "s" and the
 * number of the scenario in Documentation/contract.rst (plus a letter when
 * one scenario has several parts). Facts are relative and deterministic:
 * "ov==ov1", "IoResult=0", "Io==io", never addresses or timings. The runner
 * compares transcripts scenario by scenario.
 */
#ifndef CONFORMANCE_HARNESS_H
#define CONFORMANCE_HARNESS_H

#include "port.h"
#include <stdatomic.h>

#define MAX_RECS	64
#define MAX_OVS		32
#define LONG_MS		5000	/* "forever" for a step that must finish */
#define SHORT_MS	200	/* "still blocked after" */

static inline void say(const char *scen, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("%s: %s\n", scen, line);
}

static inline const char *yesno(int b)
{
	return b ? "yes" : "no";
}

/* One callback invocation, as the callback saw it. */
struct rec {
	PTP_CALLBACK_INSTANCE inst;
	PVOID ctx;
	PVOID ov;
	ULONG res;
	ULONG_PTR bytes;
	PTP_IO io;
	DWORD tid;
};

struct cbctx;
typedef void (*cb_hook)(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx);

/*
 * The Context of every test object. Each callback records its arguments,
 * sets @entered, runs @hook (the scenario's behaviour), then counts itself
 * in @done. @io is filled in after CreateThreadpoolIo returned, before any
 * Start.
 */
struct cbctx {
	atomic_int calls;
	atomic_int done;
	struct rec recs[MAX_RECS];
	OVERLAPPED ov[MAX_OVS];
	char buf[MAX_OVS][8];
	PTP_IO io;
	HANDLE entered;		/* auto-reset: one set per callback entry */
	HANDLE release;		/* manual-reset: hooks that block wait here */
	cb_hook hook;
	void *arg;		/* for the hook */
	struct port_pipe pipe;
	PTP_POOL pool;
	int own_pool;
	TP_CALLBACK_ENVIRON env;
};

static VOID CALLBACK rec_callback(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				  PVOID ov, ULONG res, ULONG_PTR bytes,
				  PTP_IO io)
{
	struct cbctx *c = ctx;
	int i = atomic_fetch_add(&c->calls, 1);

	if (i < MAX_RECS) {
		c->recs[i].inst = inst;
		c->recs[i].ctx = ctx;
		c->recs[i].ov = ov;
		c->recs[i].res = res;
		c->recs[i].bytes = bytes;
		c->recs[i].io = io;
		c->recs[i].tid = GetCurrentThreadId();
	}
	SetEvent(c->entered);
	if (c->hook)
		c->hook(c, inst, i);
	atomic_fetch_add(&c->done, 1);
}

/* "ovN" for the fixture's N-th OVERLAPPED (1-based), "ov?" otherwise. */
static inline int ov_index(struct cbctx *c, PVOID ov)
{
	int i;

	for (i = 0; i < MAX_OVS; i++)
		if (ov == &c->ov[i])
			return i + 1;
	return 0;
}

static inline void die(const char *what)
{
	printf("error: %s failed (%lu)\n", what, (unsigned long)GetLastError());
	port_exit(1);
}

/*
 * A fixture on @pool: an environment on it, a pipe; fixture_bind() binds
 * the pipe's read end to a new TP_IO whose Context is the fixture.
 */
static inline struct cbctx *fixture_on(PTP_POOL pool, cb_hook hook, void *arg)
{
	struct cbctx *c = calloc(1, sizeof(*c));

	if (!c)
		die("calloc");
	c->hook = hook;
	c->arg = arg;
	c->entered = CreateEventW(NULL, FALSE, FALSE, NULL);
	c->release = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!c->entered || !c->release)
		die("CreateEvent");
	c->pool = pool;
	InitializeThreadpoolEnvironment(&c->env);
	SetThreadpoolCallbackPool(&c->env, c->pool);
	if (port_pipe_open(&c->pipe))
		die("pipe");
	return c;
}

/* A fixture on a new private pool of @max (0: default) and @min workers. */
static inline struct cbctx *fixture_new(DWORD max, DWORD min,
					cb_hook hook, void *arg)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	struct cbctx *c;

	if (!pool)
		die("CreateThreadpool");
	if (max)
		SetThreadpoolThreadMaximum(pool, max);
	if (min && !SetThreadpoolThreadMinimum(pool, min))
		die("SetThreadpoolThreadMinimum");
	c = fixture_on(pool, hook, arg);
	c->own_pool = 1;
	return c;
}

static inline PTP_IO fixture_bind(struct cbctx *c)
{
	c->io = CreateThreadpoolIo(port_pipe_handle(&c->pipe), rec_callback,
				   c, &c->env);
	if (!c->io)
		die("CreateThreadpoolIo");
	return c->io;
}

/* Tear down; the object must be closed (or never created) already. */
static inline void fixture_free(struct cbctx *c)
{
	port_pipe_close(&c->pipe);
	DestroyThreadpoolEnvironment(&c->env);
	if (c->own_pool)
		CloseThreadpool(c->pool);
	CloseHandle(c->entered);
	CloseHandle(c->release);
	free(c);
}

/* Start + issue the read of ov[@k] (1-based). */
static inline void start_read(struct cbctx *c, int k)
{
	StartThreadpoolIo(c->io);
	if (port_read_issue(&c->pipe, &c->ov[k - 1], c->buf[k - 1], 1))
		die("read issue");
}

static inline void issue_read(struct cbctx *c, int k)
{
	if (port_read_issue(&c->pipe, &c->ov[k - 1], c->buf[k - 1], 1))
		die("read issue");
}

/*
 * A timer's or a wait's callback that records the order of the callbacks
 * (@ord, its tag) and, with @act, asks CallbackMayRunLong, registers
 * ReleaseSemaphoreWhenCallbackReturns, disassociates and blocks until
 * @release is set (timer t11-t12, wait x13-x14).
 */
struct eorder {
	char tag[4];
	atomic_int n;
};

struct ectx {
	PTP_TIMER timer;
	PTP_WAIT wait;
	HANDLE entered;			/* auto-reset */
	HANDLE release;			/* manual-reset */
	HANDLE sem;			/* released by 1 at the return */
	atomic_int may;			/* CallbackMayRunLong: 2 TRUE, 1 FALSE */
	atomic_int done;
	struct eorder *ord;
	char tag;
	int act;
};

static inline void ectx_run(struct ectx *e, PTP_CALLBACK_INSTANCE inst)
{
	int i = e->ord ? atomic_fetch_add(&e->ord->n, 1) : 4;

	if (i < 4)
		e->ord->tag[i] = e->tag;
	if (e->act) {
		atomic_store(&e->may, CallbackMayRunLong(inst) ? 2 : 1);
		ReleaseSemaphoreWhenCallbackReturns(inst, e->sem, 1);
		DisassociateCurrentThreadFromCallback(inst);
	}
	SetEvent(e->entered);
	if (e->act)
		WaitForSingleObject(e->release, LONG_MS);
	atomic_fetch_add(&e->done, 1);
}

static inline void ectx_init(struct ectx *e, char tag, struct eorder *ord,
			     int act)
{
	memset(e, 0, sizeof(*e));
	e->tag = tag;
	e->ord = ord;
	e->act = act;
	e->entered = CreateEventW(NULL, FALSE, FALSE, NULL);
	e->release = CreateEventW(NULL, TRUE, FALSE, NULL);
	e->sem = CreateSemaphoreW(NULL, 0, 4, NULL);
	if (!e->entered || !e->release || !e->sem)
		die("CreateEvent/CreateSemaphore");
}

static inline void ectx_free(struct ectx *e)
{
	CloseHandle(e->entered);
	CloseHandle(e->release);
	CloseHandle(e->sem);
}

/*
 * The facts of an @act callback, blocked in the pool's one worker: the
 * answer of CallbackMayRunLong, that @wait_cbs (the object's
 * WaitFor...Callbacks(FALSE)) returned while it blocks, and that its
 * semaphore went up by exactly 1 when it returned, not before.
 */
static inline void ectx_say_act(const char *scen, const char *env,
				struct ectx *e, void (*wait_cbs)(struct ectx *))
{
	say(scen, "%s: CallbackMayRunLong=%s", env,
	    atomic_load(&e->may) == 2 ? "TRUE" : "FALSE");
	wait_cbs(e);
	say(scen, "%s: Wait(FALSE) returned while the callback blocks=%s", env,
	    yesno(atomic_load(&e->done) == 0));
	say(scen, "%s: semaphore released before the return=%s", env,
	    yesno(WaitForSingleObject(e->sem, 0) == WAIT_OBJECT_0));
	SetEvent(e->release);
	say(scen, "%s: semaphore released at the return=%s", env,
	    yesno(WaitForSingleObject(e->sem, LONG_MS) == WAIT_OBJECT_0));
	say(scen, "%s: by exactly 1=%s", env,
	    yesno(WaitForSingleObject(e->sem, 0) == WAIT_TIMEOUT));
	while (atomic_load(&e->done) == 0)
		Sleep(1);
}

/* Give a wrong callback time to show up before counting. */
static inline void settle(void)
{
	Sleep(SHORT_MS);
}

static inline void complete(struct cbctx *c, int k)
{
	port_complete(&c->pipe, c->io, &c->ov[k - 1], 1);
}

/* Wait until @n callbacks have finished, up to LONG_MS; the count seen. */
static inline int wait_done(struct cbctx *c, int n)
{
	int t;

	for (t = 0; t < LONG_MS / 5 && atomic_load(&c->done) < n; t++)
		Sleep(5);
	return atomic_load(&c->done);
}

/* Print the recorded callbacks sorted by OVERLAPPED (order is not checked). */
static inline void print_recs(const char *scen, struct cbctx *c)
{
	int n = atomic_load(&c->calls), i, k;

	say(scen, "callbacks=%d", n);
	for (k = 0; k <= MAX_OVS; k++) {
		for (i = 0; i < n && i < MAX_RECS; i++) {
			struct rec *r = &c->recs[i];

			if (ov_index(c, r->ov) != k)
				continue;
			say(scen, "cb ov==%s%.0d IoResult=%lu bytes=%lu Io==%s Context==%s Instance=%s",
			    k ? "ov" : "?", k, (unsigned long)r->res,
			    (unsigned long)r->bytes, r->io == c->io ? "io" : "other",
			    r->ctx == c ? "pv" : "other",
			    r->inst ? "set" : "NULL");
		}
	}
}

/* WaitForThreadpoolIoCallbacks on a helper thread, joinable with a limit. */
struct waiter {
	PTP_IO io;
	BOOL cancel;
};

static void waiter_main(void *p)
{
	struct waiter *w = p;

	WaitForThreadpoolIoCallbacks(w->io, w->cancel);
	free(w);
}

static inline port_thread *wait_async(PTP_IO io, BOOL cancel)
{
	struct waiter *w = calloc(1, sizeof(*w));	/* the thread frees it */
	port_thread *t;

	if (!w)
		die("calloc");
	w->io = io;
	w->cancel = cancel;
	t = port_thread_start(waiter_main, w);
	if (!t)
		die("thread");
	return t;
}

/* Did Wait(@cancel) return within @ms? */
static inline int wait_returns(PTP_IO io, BOOL cancel, DWORD ms)
{
	return port_thread_join(wait_async(io, cancel), ms);
}

#endif /* CONFORMANCE_HARNESS_H */
