// SPDX-License-Identifier: MIT
/*
 * groupclose: a member closes itself in its callback while
 * CloseThreadpoolCleanupGroupMembers(TRUE) waits for that callback.
 * Documentation/contract.rst, scenario 21. On its own because Wine 8.0
 * asserts (tp_ioqueue_unlock, from CloseThreadpoolIo) and the process
 * dies.
 */
#include "group.h"

static void block_then_close(struct cbctx *c, PTP_CALLBACK_INSTANCE inst,
			     int idx)
{
	(void)inst;
	(void)idx;
	WaitForSingleObject(c->release, LONG_MS);
	CloseThreadpoolIo(c->io);
}

static void s21(void)
{
	struct cbctx *c = fixture_new(0, 0, block_then_close, NULL);
	PTP_CLEANUP_GROUP g = group_fixture(c);
	struct closer cl = { g, TRUE, 0 };
	port_thread *t;
	int early;

	start_read(c, 1);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	t = port_thread_start(closer_main, &cl);
	early = port_thread_join(t, SHORT_MS);
	say("s21", "CloseMembers(TRUE) returned while the member's callback runs=%s",
	    yesno(early));
	SetEvent(c->release);
	say("s21", "CloseMembers(TRUE) returned after the member closed itself=%s",
	    yesno(early || port_thread_join(t, LONG_MS)));
	print_gcancel("s21", c, &cl);
	print_recs("s21", c);
	CloseThreadpoolCleanupGroup(g);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s21();
	return port_finish();
}
