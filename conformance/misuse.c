// SPDX-License-Identifier: MIT
/*
 * misuse: caller bugs where Windows (as Wine shows it) hangs and tpio
 * decides otherwise ([T] in Documentation/contract.rst): Cancel with nothing
 * pending (scenario 29), Wait(FALSE) inside the object's own callback
 * without Disassociate (section 3). A side that hangs leaves a thread stuck,
 * so objects are closed only where the wait returned and the program ends
 * with port_exit().
 */
#include "harness.h"

static void s29(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	int returned;

	fixture_bind(c);
	CancelThreadpoolIo(c->io);	/* nothing pending: a caller bug */
	returned = wait_returns(c->io, FALSE, 1000);
	say("s29", "Wait(F) after Cancel with nothing pending returned=%s",
	    yesno(returned));
	start_read(c, 1);
	complete(c, 1);
	settle();
	say("s29", "then Start and a completion: callbacks=%d",
	    atomic_load(&c->calls));
	returned = wait_returns(c->io, FALSE, 1000);
	say("s29", "Wait(F) after that returned=%s", yesno(returned));
	if (returned) {
		CloseThreadpoolIo(c->io);
		fixture_free(c);
	}
}

static atomic_int inner_returned;

static void wait_inside(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	(void)idx;
	WaitForThreadpoolIoCallbacks(c->io, FALSE);
	atomic_store(&inner_returned, 1);
}

static void s_wait_inside(void)
{
	struct cbctx *c = fixture_new(0, 0, wait_inside, NULL);
	int returned;

	fixture_bind(c);
	start_read(c, 1);
	complete(c, 1);
	returned = wait_done(c, 1) == 1;
	say("s16b", "Wait(F) inside its own callback, not disassociated, returned=%s",
	    yesno(returned && atomic_load(&inner_returned)));
	if (returned) {
		CloseThreadpoolIo(c->io);
		fixture_free(c);
	}
}

int main(void)
{
	int rc;

	port_init();
	s29();
	s_wait_inside();
	rc = port_finish();
	port_exit(rc);
	return rc;
}
