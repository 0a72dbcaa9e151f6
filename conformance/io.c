// SPDX-License-Identifier: MIT
/*
 * io: what the I/O itself decides, with real overlapped ReadFile on a pipe
 * (Windows: a named pipe) and on a regular file. Documentation/contract.rst,
 * scenarios 6, 7, 8, 14, 30, 31, and from section 7: CancelIoEx/CancelIo
 * with nothing to cancel, skip-on-success on an unbound handle, reads inside
 * a file, and the order in which several pending reads on one pipe receive
 * the data.
 */
#include "harness.h"

/* "FALSE error=N" or "TRUE": the outcome of a call that sets last error. */
static const char *outcome(BOOL r, DWORD err)
{
	static char s[64];

	if (r)
		return "TRUE";
	snprintf(s, sizeof(s), "FALSE error=%lu", (unsigned long)err);
	return s;
}

/* A byte of a buffer, printable ("-" when nothing was stored there). */
static char shown(char ch)
{
	return ch ? ch : '-';
}

/* The data is in the pipe before the read: TRUE at once, callback still. */
static void s06(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD n = 0, err;
	BOOL r;

	fixture_bind(c);
	if (port_write(&c->pipe, "x", 1))
		die("write");
	StartThreadpoolIo(c->io);
	SetLastError(0);
	r = ReadFile(h, c->buf[0], 1, &n, &c->ov[0]);
	err = GetLastError();
	say("s06", "ReadFile with the data there: %s bytes=%lu buf=%c",
	    outcome(r, err), (unsigned long)n, shown(c->buf[0][0]));
	if (!r && err != ERROR_IO_PENDING)
		CancelThreadpoolIo(c->io);
	say("s06", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s06", c);
	n = 0;
	r = GetOverlappedResult(h, &c->ov[0], &n, FALSE);
	say("s06", "GetOverlappedResult: %s bytes=%lu", outcome(r, GetLastError()),
	    (unsigned long)n);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* A NULL buffer fails at once and posts nothing; Cancel takes Start back. */
static void s07(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD err;
	BOOL r;

	fixture_bind(c);
	StartThreadpoolIo(c->io);
	SetLastError(0);
	r = ReadFile(h, NULL, 1, NULL, &c->ov[0]);
	err = GetLastError();
	say("s07", "ReadFile with a NULL buffer: %s", outcome(r, err));
	if (!r && err != ERROR_IO_PENDING)
		CancelThreadpoolIo(c->io);
	else if (port_write(&c->pipe, "x", 1) || !port_wait_ov(&c->ov[0], LONG_MS))
		die("completing the read");
	say("s07", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	settle();
	say("s07", "callbacks=%d", atomic_load(&c->calls));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* CancelIoEx on a pending read: the callback runs, aborted, 0 bytes. */
static void s08(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD n = 99;
	BOOL r;

	fixture_bind(c);
	start_read(c, 1);
	SetLastError(0);
	r = CancelIoEx(h, &c->ov[0]);
	say("s08", "CancelIoEx(h, &ov1) on a pending read: %s",
	    outcome(r, GetLastError()));
	say("s08", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s08", c);
	r = GetOverlappedResult(h, &c->ov[0], &n, FALSE);
	say("s08", "GetOverlappedResult: %s bytes=%lu", outcome(r, GetLastError()),
	    (unsigned long)n);

	/* nothing left to cancel */
	SetLastError(0);
	r = CancelIoEx(h, &c->ov[0]);
	say("s08b", "CancelIoEx(h, &ov1) again: %s", outcome(r, GetLastError()));
	SetLastError(0);
	r = CancelIoEx(h, NULL);
	say("s08b", "CancelIoEx(h, NULL) with nothing pending: %s",
	    outcome(r, GetLastError()));
	SetLastError(0);
	r = CancelIo(h);
	say("s08b", "CancelIo(h) with nothing pending: %s",
	    outcome(r, GetLastError()));
	settle();
	say("s08b", "callbacks=%d", atomic_load(&c->calls));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* Skip-on-success: a read that succeeds at once posts nothing. */
static void s14(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD n = 0, err;
	BOOL r;

	fixture_bind(c);
	SetLastError(0);
	r = SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
	say("s14", "SetFileCompletionNotificationModes(SKIP_COMPLETION_PORT_ON_SUCCESS) after binding: %s",
	    outcome(r, GetLastError()));
	if (port_write(&c->pipe, "y", 1))
		die("write");
	StartThreadpoolIo(c->io);
	SetLastError(0);
	r = ReadFile(h, c->buf[0], 1, &n, &c->ov[0]);
	err = GetLastError();
	say("s14", "ReadFile with the data there: %s bytes=%lu buf=%c",
	    outcome(r, err), (unsigned long)n, shown(c->buf[0][0]));
	if (r || err != ERROR_IO_PENDING)
		CancelThreadpoolIo(c->io);
	say("s14", "Wait(F) after Cancel returned=%s",
	    yesno(wait_returns(c->io, FALSE, LONG_MS)));
	settle();
	say("s14", "callbacks=%d", atomic_load(&c->calls));
	/* a read that pends still completes through the TP_IO */
	start_read(c, 2);
	complete(c, 2);
	say("s14", "then a pending read: Wait(F) returned=%s",
	    yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s14", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* [T] in tpio: the mode belongs to the TP_IO binding. */
static void s14b(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	BOOL r;

	SetLastError(0);
	r = SetFileCompletionNotificationModes(port_pipe_handle(&c->pipe),
					       FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
	say("s14b", "SetFileCompletionNotificationModes on a handle not bound yet: %s",
	    outcome(r, GetLastError()));
	fixture_free(c);
}

/* GetOverlappedResult(FALSE) while pending; the read outlives Wait(T). */
static void s30(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD n = 99;
	int done;
	BOOL r;

	fixture_bind(c);
	start_read(c, 1);
	r = GetOverlappedResult(h, &c->ov[0], &n, FALSE);
	say("s30", "GetOverlappedResult(bWait=FALSE) on a pending read: %s",
	    outcome(r, GetLastError()));
	say("s30", "Wait(T) returned=%s", yesno(wait_returns(c->io, TRUE, LONG_MS)));
	if (port_write(&c->pipe, "z", 1))
		die("write");
	done = port_wait_ov(&c->ov[0], LONG_MS);
	say("s30", "the read completed after Wait(T)=%s buf=%c", yesno(done),
	    shown(c->buf[0][0]));
	n = 0;
	r = GetOverlappedResult(h, &c->ov[0], &n, FALSE);
	say("s30", "GetOverlappedResult then: %s bytes=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	settle();
	say("s30", "callbacks=%d", atomic_load(&c->calls));
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/*
 * An overlapped read of up to 8 bytes at @offset of the 3-byte file "abc",
 * bound to @c's TP_IO, with ov[@k].
 */
static void file_read(const char *scen, struct cbctx *c, HANDLE f, int k,
		      DWORD offset)
{
	OVERLAPPED *ov = &c->ov[k - 1];
	DWORD n = 99, err;
	BOOL r;

	ov->Offset = offset;
	StartThreadpoolIo(c->io);
	SetLastError(0);
	r = ReadFile(f, c->buf[k - 1], 8, NULL, ov);
	err = GetLastError();
	say(scen, "ReadFile at offset %lu: %s", (unsigned long)offset,
	    outcome(r, err));
	if (!r && err != ERROR_IO_PENDING)
		CancelThreadpoolIo(c->io);
	say(scen, "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	r = GetOverlappedResult(f, ov, &n, FALSE);
	say(scen, "GetOverlappedResult: %s bytes=%lu buf=%.8s",
	    outcome(r, GetLastError()), (unsigned long)n,
	    c->buf[k - 1][0] ? c->buf[k - 1] : "-");
}

/* Regular file: EOF, a read across the end, a read with the data there. */
static void s31a(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE f = port_file_open("abc", 3);

	if (f == INVALID_HANDLE_VALUE)
		die("temporary file");
	c->io = CreateThreadpoolIo(f, rec_callback, c, &c->env);
	if (!c->io)
		die("CreateThreadpoolIo(file)");
	file_read("s31a", c, f, 1, 3);
	file_read("s31c", c, f, 2, 1);
	file_read("s31d", c, f, 3, 0);
	print_recs("s31a", c);
	CloseThreadpoolIo(c->io);
	port_file_close(f);
	fixture_free(c);
}

/* Pipe: the writer closes under a pending read, then a new read. */
static void s31b(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	HANDLE h = port_pipe_handle(&c->pipe);
	DWORD n = 99, err;
	BOOL r;

	fixture_bind(c);
	start_read(c, 1);
	port_close_writer(&c->pipe);
	say("s31b", "writer closed under a pending read: Wait(F) returned=%s",
	    yesno(wait_returns(c->io, FALSE, LONG_MS)));
	r = GetOverlappedResult(h, &c->ov[0], &n, FALSE);
	say("s31b", "GetOverlappedResult: %s bytes=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	StartThreadpoolIo(c->io);
	SetLastError(0);
	r = ReadFile(h, c->buf[1], 1, NULL, &c->ov[1]);
	err = GetLastError();
	say("s31b", "a new read after the writer closed: %s", outcome(r, err));
	if (!r && err != ERROR_IO_PENDING)
		CancelThreadpoolIo(c->io);
	say("s31b", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	settle();
	print_recs("s31b", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* Several pending reads on one pipe take the data in the order issued. */
static void s04b(void)
{
	struct cbctx *c = fixture_new(0, 0, NULL, NULL);
	int t;

	fixture_bind(c);
	start_read(c, 1);
	start_read(c, 2);
	if (port_write(&c->pipe, "a", 1))
		die("write");
	for (t = 0; t < LONG_MS / 5 && !HasOverlappedIoCompleted(&c->ov[0]) &&
	     !HasOverlappedIoCompleted(&c->ov[1]); t++)
		Sleep(5);
	if (port_write(&c->pipe, "b", 1))
		die("write");
	port_wait_ov(&c->ov[0], LONG_MS);
	port_wait_ov(&c->ov[1], LONG_MS);
	say("s04b", "two pending reads, then the writes a and b: ov1=%c ov2=%c",
	    shown(c->buf[0][0]), shown(c->buf[1][0]));
	say("s04b", "Wait(F) returned=%s", yesno(wait_returns(c->io, FALSE, LONG_MS)));
	print_recs("s04b", c);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

int main(void)
{
	port_init();
	s04b();
	s06();
	s07();
	s08();
	s14();
	s14b();
	s30();
	s31a();
	s31b();
	return port_finish();
}
