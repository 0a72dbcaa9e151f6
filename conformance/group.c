// SPDX-License-Identifier: MIT
/*
 * group: cleanup groups and CloseThreadpoolCleanupGroupMembers.
 * Documentation/contract.rst, scenarios 18 and 19 (20 and 21 crash Wine
 * 8.0, so they have programs of their own: groupwait.c, groupclose.c).
 */
#include "group.h"

static void block_disassociated(struct cbctx *c, PTP_CALLBACK_INSTANCE inst,
				int idx)
{
	(void)idx;
	DisassociateCurrentThreadFromCallback(inst);
	WaitForSingleObject(c->release, LONG_MS);
}

static void s18(void)
{
	struct cbctx *c = fixture_new(0, 0, block_disassociated, NULL);
	PTP_CLEANUP_GROUP g = group_fixture(c);
	struct closer cl = { g, FALSE, 0 };
	port_thread *t;
	int early;

	start_read(c, 1);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	t = port_thread_start(closer_main, &cl);
	early = port_thread_join(t, SHORT_MS);
	say("s18", "CloseMembers(FALSE) returned while a disassociated callback blocks=%s",
	    yesno(early));
	SetEvent(c->release);
	say("s18", "CloseMembers(FALSE) returned after the callback=%s",
	    yesno(early || port_thread_join(t, LONG_MS)));
	say("s18", "callback finished before CloseMembers returned=%s",
	    yesno(atomic_load(&c->done) == 1));
	print_gcancel("s18", c, &cl);
	print_recs("s18", c);
	CloseThreadpoolCleanupGroup(g);
	fixture_free(c);
}

static void block_first(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	if (idx == 0)
		WaitForSingleObject(c->release, LONG_MS);
}

static void s19(void)
{
	struct cbctx *c = fixture_new(0, 0, block_first, NULL);
	PTP_CLEANUP_GROUP g = group_fixture(c);
	struct closer cl = { g, TRUE, 0 };
	port_thread *t;
	int early;

	/* one read pending at a time: the transcript names the OVERLAPPEDs */
	start_read(c, 1);
	StartThreadpoolIo(c->io);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	issue_read(c, 2);
	t = port_thread_start(closer_main, &cl);
	early = port_thread_join(t, SHORT_MS);
	say("s19", "CloseMembers(TRUE) returned while a callback runs=%s",
	    yesno(early));
	SetEvent(c->release);
	say("s19", "CloseMembers(TRUE) returned after the callback=%s",
	    yesno(early || port_thread_join(t, LONG_MS)));
	say("s19", "running callback finished before it returned=%s",
	    yesno(atomic_load(&c->done) == 1));
	print_gcancel("s19", c, &cl);
	/* the second read, started and given up on, completes now */
	complete(c, 2);
	settle();
	print_recs("s19", c);
	CloseThreadpoolCleanupGroup(g);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s18();
	s19();
	return port_finish();
}
