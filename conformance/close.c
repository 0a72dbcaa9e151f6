// SPDX-License-Identifier: MIT
/*
 * close: CloseThreadpoolIo with nothing outstanding, with skipped I/O,
 * with pending and queued I/O, and from inside the object's own callback.
 * Documentation/contract.rst, scenarios 10-12 and 28. Freeing itself is not
 * observable on Windows; on tpio port_finish() checks that nothing leaked.
 */
#include "harness.h"

static void s10(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	CloseThreadpoolIo(c->io);
	settle();
	say("s10", "Close with nothing started: callbacks=%d",
	    atomic_load(&c->calls));
	fixture_free(c);
}

static void s11(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	start_read(c, 1);
	say("s11", "Wait(T) with one pending read returned=%s",
	    yesno(wait_returns(c->io, TRUE, LONG_MS)));
	CloseThreadpoolIo(c->io);
	complete(c, 1);
	settle();
	say("s11", "skipped completion after Close: callbacks=%d",
	    atomic_load(&c->calls));
	fixture_free(c);
}

static void s12(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	start_read(c, 1);
	CloseThreadpoolIo(c->io);
	complete(c, 1);
	say("s12", "completion after Close ran its callback=%s",
	    yesno(wait_done(c, 1) == 1));
	settle();
	print_recs("s12", c);
	fixture_free(c);
}

/* The first callback holds the only worker until released. */
static void hold_first(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	if (idx == 0)
		WaitForSingleObject(c->release, LONG_MS);
}

static void s12b(void)
{
	struct cbctx *c = fixture_new(1, 0, hold_first, NULL);

	fixture_bind(c);
	start_read(c, 1);
	start_read(c, 2);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	complete(c, 2);
	Sleep(SHORT_MS);	/* the second completion is queued now */
	CloseThreadpoolIo(c->io);
	SetEvent(c->release);
	say("s12b", "Close with one running and one queued callback: both ran=%s",
	    yesno(wait_done(c, 2) == 2));
	settle();
	print_recs("s12b", c);
	fixture_free(c);
}

static void close_self(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	(void)idx;
	CloseThreadpoolIo(c->io);
	Sleep(50);	/* still inside the callback after the Close */
}

static void s28(void)
{
	struct cbctx *c = fixture_new(0, 0, close_self, NULL);

	fixture_bind(c);
	start_read(c, 1);
	complete(c, 1);
	say("s28", "callback that closes its own object returned=%s",
	    yesno(wait_done(c, 1) == 1));
	settle();
	print_recs("s28", c);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s10();
	s11();
	s12();
	s12b();
	s28();
	return port_finish();
}
