// SPDX-License-Identifier: MIT
/*
 * disassoc: DisassociateCurrentThreadFromCallback and the waits it
 * releases. Documentation/contract.rst, scenarios 16 and 17.
 */
#include "harness.h"

static atomic_int other_done;
static atomic_int wait_saw_other_done;

/*
 * ov1's callback disassociates and waits for the object from inside; ov2's
 * callback takes a while. The inner wait must return after ov2's callback.
 */
static void s16_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	if (c->recs[idx].ov == &c->ov[0]) {
		DisassociateCurrentThreadFromCallback(inst);
		WaitForThreadpoolIoCallbacks(c->io, FALSE);
		atomic_store(&wait_saw_other_done, atomic_load(&other_done) + 1);
	} else {
		Sleep(300);
		atomic_store(&other_done, 1);
	}
}

static void s16(void)
{
	struct cbctx *c = fixture_new(2, 2, s16_hook, NULL);

	fixture_bind(c);
	start_read(c, 1);
	start_read(c, 2);
	complete(c, 1);
	complete(c, 2);
	say("s16", "both callbacks finished=%s", yesno(wait_done(c, 2) == 2));
	say("s16", "Wait(F) inside its own disassociated callback returned, after the other callback=%s",
	    yesno(atomic_load(&wait_saw_other_done) == 2));
	print_recs("s16", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s17_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)idx;
	DisassociateCurrentThreadFromCallback(inst);
	DisassociateCurrentThreadFromCallback(inst);	/* second: no effect */
	WaitForSingleObject(c->release, LONG_MS);
}

static void s17(void)
{
	struct cbctx *c = fixture_new(0, 0, s17_hook, NULL);
	port_thread *w;
	int returned;

	fixture_bind(c);
	start_read(c, 1);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	returned = wait_returns(c->io, FALSE, LONG_MS);
	say("s17", "Wait(F) returned while the disassociated callback blocks=%s",
	    yesno(returned));
	say("s17", "callback still blocked then=%s", yesno(atomic_load(&c->done) == 0));
	SetEvent(c->release);
	say("s17", "callback finished after release=%s", yesno(wait_done(c, 1) == 1));
	/* a new Start is waited for again */
	ResetEvent(c->release);
	c->hook = NULL;
	StartThreadpoolIo(c->io);
	w = wait_async(c->io, FALSE);
	returned = port_thread_join(w, SHORT_MS);
	say("s17", "Wait(F) after a new Start returned within %d ms=%s",
	    SHORT_MS, yesno(returned));
	CancelThreadpoolIo(c->io);
	say("s17", "that Wait(F) returned after Cancel=%s",
	    yesno(returned || port_thread_join(w, LONG_MS)));
	print_recs("s17", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s16();
	s17();
	return port_finish();
}
