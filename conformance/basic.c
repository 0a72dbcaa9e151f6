// SPDX-License-Identifier: MIT
/*
 * basic: Start, complete, Cancel, Wait(FALSE/TRUE), binding errors.
 * Documentation/contract.rst, scenarios 1-5, 9, 13, 15, and Wait(TRUE)
 * with queued callbacks (section 3).
 */
#include "harness.h"

static void s01(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	say("s01", "Wait(F) with nothing started returns=%s",
	    yesno(wait_returns(c->io, FALSE, LONG_MS)));
	settle();
	say("s01", "callbacks=%d", atomic_load(&c->calls));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s02_s03(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	port_thread *w;

	fixture_bind(c);
	StartThreadpoolIo(c->io);
	w = wait_async(c->io, FALSE);
	say("s02", "Wait(F) after Start, nothing issued, returned within %d ms=%s",
	    SHORT_MS, yesno(port_thread_join(w, SHORT_MS)));
	issue_read(c, 1);
	complete(c, 1);
	say("s03", "waiter returned after the completion=%s",
	    yesno(port_thread_join(w, LONG_MS)));
	print_recs("s03", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s04(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	start_read(c, 1);
	start_read(c, 2);
	complete(c, 1);
	complete(c, 2);
	say("s04", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s04", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s05(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	StartThreadpoolIo(c->io);
	say("s05", "Wait(T) after Start, nothing issued, returned=%s",
	    yesno(wait_returns(c->io, TRUE, LONG_MS)));
	settle();
	say("s05", "callbacks=%d", atomic_load(&c->calls));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* The first callback holds the only worker until released. */
static void hold_first(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	if (idx == 0)
		WaitForSingleObject(c->release, LONG_MS);
}

/* Wait(T) drops queued callbacks and waits for the running one. */
static void s05b(void)
{
	struct cbctx *c = fixture_new(1, 0, hold_first, NULL);
	port_thread *w;
	int early;

	fixture_bind(c);
	/* one read pending at a time: the transcript names the OVERLAPPEDs */
	start_read(c, 1);
	StartThreadpoolIo(c->io);
	StartThreadpoolIo(c->io);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	issue_read(c, 2);
	complete(c, 2);
	issue_read(c, 3);
	complete(c, 3);
	Sleep(SHORT_MS);	/* ov2 and ov3 are queued now */
	w = wait_async(c->io, TRUE);
	early = port_thread_join(w, SHORT_MS);
	say("s05b", "Wait(T) returned while a callback runs=%s", yesno(early));
	SetEvent(c->release);
	say("s05b", "Wait(T) returned after the running callback=%s",
	    yesno(early || port_thread_join(w, LONG_MS)));
	settle();
	print_recs("s05b", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s09(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	StartThreadpoolIo(c->io);
	CancelThreadpoolIo(c->io);
	issue_read(c, 1);
	complete(c, 1);
	settle();
	say("s09", "Start, Cancel, then a completion: callbacks=%d",
	    atomic_load(&c->calls));
	say("s09", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	/* the object still works: the next Start gets its callback */
	start_read(c, 2);
	complete(c, 2);
	say("s09", "Wait(F) after a new Start and completion returned=%s",
	    yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s09", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s13(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);

	fixture_bind(c);
	issue_read(c, 1);
	complete(c, 1);
	settle();
	say("s13", "completion without Start: callbacks=%d",
	    atomic_load(&c->calls));
	say("s13", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

static void s15(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	PTP_IO io2;

	fixture_bind(c);
	SetLastError(0);
	io2 = CreateThreadpoolIo(port_pipe_handle(&c->pipe), rec_callback, c,
				 &c->env);
	say("s15", "second CreateThreadpoolIo on a bound handle: NULL=%s error=%lu",
	    yesno(!io2), (unsigned long)GetLastError());
	if (io2)
		CloseThreadpoolIo(io2);
	SetLastError(0);
	io2 = CreateThreadpoolIo(INVALID_HANDLE_VALUE, rec_callback, c, &c->env);
	say("s15a", "CreateThreadpoolIo(INVALID_HANDLE_VALUE): NULL=%s error=%lu",
	    yesno(!io2), (unsigned long)GetLastError());
	if (io2)
		CloseThreadpoolIo(io2);
	CloseThreadpoolIo(c->io);
	SetLastError(0);
	io2 = CreateThreadpoolIo(port_pipe_handle(&c->pipe), rec_callback, c,
				 &c->env);
	say("s15b", "CreateThreadpoolIo after CloseThreadpoolIo on the same handle: NULL=%s error=%lu",
	    yesno(!io2), (unsigned long)GetLastError());
	if (io2)
		CloseThreadpoolIo(io2);
	fixture_free(c);
}

/* Creation errors on a fresh, unbound pipe. */
static void s15c(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	PTP_IO io2;

	SetLastError(0);
	io2 = CreateThreadpoolIo(port_pipe_handle(&c->pipe), NULL, c, &c->env);
	say("s15c", "CreateThreadpoolIo with a NULL callback: NULL=%s error=%lu",
	    yesno(!io2), (unsigned long)GetLastError());
	if (io2)
		CloseThreadpoolIo(io2);
	SetThreadpoolCallbackPriority(&c->env, TP_CALLBACK_PRIORITY_INVALID);
	SetLastError(0);
	io2 = CreateThreadpoolIo(port_pipe_handle(&c->pipe), rec_callback, c,
				 &c->env);
	say("s15c", "CreateThreadpoolIo with an invalid priority: NULL=%s error=%lu",
	    yesno(!io2), (unsigned long)GetLastError());
	if (io2)
		CloseThreadpoolIo(io2);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s01();
	s02_s03();
	s04();
	s05();
	s05b();
	s09();
	s13();
	s15();
	s15c();
	return port_finish();
}
