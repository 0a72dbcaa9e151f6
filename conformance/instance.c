// SPDX-License-Identifier: MIT
/*
 * instance: callback-instance functions: CallbackMayRunLong, the
 * *WhenCallbackReturns actions and the finalization callback.
 * Documentation/contract.rst, scenarios 22-24.
 */
#include "harness.h"

static atomic_int may_run_long = -1;

static void may_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)c;
	(void)idx;
	atomic_store(&may_run_long, CallbackMayRunLong(inst) ? 1 : 0);
}

static void may(const char *scen, const char *what, DWORD max, int runs_long)
{
	struct cbctx *c = fixture_new(max, 0, may_hook, NULL);

	if (runs_long)
		SetThreadpoolCallbackRunsLong(&c->env);
	fixture_bind(c);
	atomic_store(&may_run_long, -1);
	start_read(c, 1);
	complete(c, 1);
	wait_done(c, 1);
	say(scen, "%s: CallbackMayRunLong=%s", what,
	    atomic_load(&may_run_long) < 0 ? "not called" :
	    atomic_load(&may_run_long) ? "TRUE" : "FALSE");
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* scenario 24 */
static struct {
	HANDLE ev1, ev2, sem, mtx;
	CRITICAL_SECTION cs;
	atomic_int fin_ran;
	atomic_int cb_returning;
	atomic_int ev_set_inside;
	atomic_int fin_saw_cb_returning;
	atomic_int fin_saw_ev_set;
} ret;

static VOID CALLBACK finalization(PTP_CALLBACK_INSTANCE inst, PVOID ctx)
{
	(void)inst;
	(void)ctx;
	atomic_store(&ret.fin_saw_cb_returning, atomic_load(&ret.cb_returning));
	atomic_store(&ret.fin_saw_ev_set,
		     WaitForSingleObject(ret.ev1, 0) == WAIT_OBJECT_0);
	Sleep(50);
	atomic_store(&ret.fin_ran, 1);
}

static void ret_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)c;
	(void)idx;
	EnterCriticalSection(&ret.cs);
	WaitForSingleObject(ret.mtx, LONG_MS);
	SetEventWhenCallbackReturns(inst, ret.ev1);
	SetEventWhenCallbackReturns(inst, ret.ev2);	/* ignored */
	ReleaseSemaphoreWhenCallbackReturns(inst, ret.sem, 1);
	ReleaseMutexWhenCallbackReturns(inst, ret.mtx);
	LeaveCriticalSectionWhenCallbackReturns(inst, &ret.cs);
	Sleep(50);
	atomic_store(&ret.ev_set_inside,
		     WaitForSingleObject(ret.ev1, 0) == WAIT_OBJECT_0);
	atomic_store(&ret.cb_returning, 1);
}

static void s24(void)
{
	struct cbctx *c = fixture_new(0, 0, ret_hook, NULL);
	int got_ev;

	ret.ev1 = CreateEventW(NULL, TRUE, FALSE, NULL);
	ret.ev2 = CreateEventW(NULL, TRUE, FALSE, NULL);
	ret.sem = CreateSemaphoreW(NULL, 0, 10, NULL);
	ret.mtx = CreateMutexW(NULL, FALSE, NULL);
	if (!ret.ev1 || !ret.ev2 || !ret.sem || !ret.mtx)
		die("sync objects");
	InitializeCriticalSection(&ret.cs);
	c->env.FinalizationCallback = finalization;
	fixture_bind(c);
	start_read(c, 1);
	complete(c, 1);
	got_ev = WaitForSingleObject(ret.ev1, LONG_MS) == WAIT_OBJECT_0;
	say("s24", "SetEventWhenCallbackReturns: event set=%s", yesno(got_ev));
	say("s24", "event not set inside the callback=%s",
	    yesno(!atomic_load(&ret.ev_set_inside)));
	say("s24", "finalization ran after the callback body=%s, before the event=%s",
	    yesno(atomic_load(&ret.fin_saw_cb_returning)),
	    yesno(!atomic_load(&ret.fin_saw_ev_set)));
	say("s24", "finalization finished when the event was set=%s",
	    yesno(atomic_load(&ret.fin_ran)));
	/* these were released before the event, so no waiting is needed */
	say("s24", "critical section left before the event=%s",
	    yesno(TryEnterCriticalSection(&ret.cs)));
	LeaveCriticalSection(&ret.cs);
	say("s24", "mutex released before the event=%s",
	    yesno(WaitForSingleObject(ret.mtx, 0) == WAIT_OBJECT_0));
	ReleaseMutex(ret.mtx);
	say("s24", "semaphore released before the event=%s",
	    yesno(WaitForSingleObject(ret.sem, 0) == WAIT_OBJECT_0));
	say("s24", "semaphore raised by exactly 1=%s",
	    yesno(WaitForSingleObject(ret.sem, 0) == WAIT_TIMEOUT));
	say("s24", "second SetEventWhenCallbackReturns ignored=%s",
	    yesno(WaitForSingleObject(ret.ev2, SHORT_MS) == WAIT_TIMEOUT));
	wait_done(c, 1);
	print_recs("s24", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
	DeleteCriticalSection(&ret.cs);
	CloseHandle(ret.ev1);
	CloseHandle(ret.ev2);
	CloseHandle(ret.sem);
	CloseHandle(ret.mtx);
}

int main(void)
{
	port_init();
	may("s22a", "pool max 1", 1, 0);
	may("s22b", "pool max 2, one busy", 2, 0);
	may("s23", "RunsLong environment, pool max 1", 1, 1);
	s24();
	return port_finish();
}
