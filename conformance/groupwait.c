// SPDX-License-Identifier: MIT
/*
 * groupwait: CloseThreadpoolCleanupGroupMembers(FALSE) waits for started
 * I/O that has not completed. Documentation/contract.rst, scenario 20. On
 * its own because Wine 8.0 asserts (tp_object_submit: object shut down)
 * when the completion arrives during the group wait, and the process dies.
 */
#include "group.h"

static void s20(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	PTP_CLEANUP_GROUP g = group_fixture(c);
	struct closer cl = { g, FALSE, 0 };
	port_thread *t;
	int early;

	start_read(c, 1);
	t = port_thread_start(closer_main, &cl);
	early = port_thread_join(t, SHORT_MS);
	say("s20", "CloseMembers(FALSE) returned with a started I/O outstanding=%s",
	    yesno(early));
	complete(c, 1);
	say("s20", "CloseMembers(FALSE) returned after the completion=%s",
	    yesno(early || port_thread_join(t, LONG_MS)));
	print_gcancel("s20", c, &cl);
	print_recs("s20", c);
	CloseThreadpoolCleanupGroup(g);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s20();
	return port_finish();
}
