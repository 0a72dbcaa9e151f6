// SPDX-License-Identifier: MIT
/*
 * Overlapped ReadFile/WriteFile on pipes and regular files, with the
 * scenarios of Documentation/contract.rst that need real I/O (3, 4, 6-9,
 * 12-14, 30, 31), GetOverlappedResult both ways, CancelIoEx/CancelIo,
 * skip-on-success, events, immediate failures, file offsets above 4 GiB,
 * O_DIRECT and the engine's back-pressure. Included by io.c.
 */

static void write_byte(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		abort();
}

/* ReadFile that must pend: FALSE + ERROR_IO_PENDING, Internal pending. */
#define EXPECT_PENDS(call, ov) do {					\
	SetLastError(0);						\
	EXPECT_EQ(FALSE, (call));					\
	EXPECT_EQ(ERROR_IO_PENDING, GetLastError());			\
} while (0)

/* 3: a pending 1-byte read completes when the writer writes. */
TEST_F(tio, s03_pending_read_completes)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[4] = { 0 };
	DWORD n = 77;
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, &n, &ov), &ov);
	EXPECT_EQ((ULONG_PTR)STATUS_PENDING,
		  __atomic_load_n(&ov.Internal, __ATOMIC_ACQUIRE));
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov));
	EXPECT_EQ(FALSE, GetOverlappedResult(self->h, &ov, &n, FALSE));
	EXPECT_EQ(ERROR_IO_INCOMPLETE, GetLastError());
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	write_byte(self->pfd[1], 'a');
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(&ov, p.rec[0].ov);
	EXPECT_EQ(ERROR_SUCCESS, p.rec[0].result);
	EXPECT_EQ(1U, p.rec[0].bytes);
	EXPECT_EQ(io, p.rec[0].io);
	EXPECT_EQ(&p, p.rec[0].ctx);
	EXPECT_EQ('a', buf[0]);
	EXPECT_TRUE(HasOverlappedIoCompleted(&ov));
	EXPECT_EQ(TRUE, GetOverlappedResult(self->h, &ov, &n, FALSE));
	EXPECT_EQ(1U, n);
	CloseThreadpoolIo(io);
}

/* 4: two pending reads, two writes: two callbacks of one byte each. */
TEST_F(tio, s04_two_pending_reads)
{
	static struct probe p;
	OVERLAPPED ov[2];
	char buf[2] = { 0, 0 };
	PTP_IO io;

	memset(ov, 0, sizeof(ov));
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, &buf[0], 1, NULL, &ov[0]), &ov[0]);
	EXPECT_PENDS(ReadFile(self->h, &buf[1], 1, NULL, &ov[1]), &ov[1]);
	write_byte(self->pfd[1], 'x');
	sleep_ms(20);
	write_byte(self->pfd[1], 'y');
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(1U, p.rec[0].bytes);
	EXPECT_EQ(1U, p.rec[1].bytes);
	EXPECT_EQ(ERROR_SUCCESS, p.rec[0].result);
	EXPECT_EQ(ERROR_SUCCESS, p.rec[1].result);
	EXPECT_NE(p.rec[0].ov, p.rec[1].ov);
	EXPECT_EQ('x' + 'y', buf[0] + buf[1]);
	CloseThreadpoolIo(io);
}

/* 6: data already there: TRUE at once, and the callback still runs once. */
TEST_F(tio, s06_sync_success_still_posts)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[8] = { 0 };
	DWORD n = 0;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	ASSERT_EQ(3, write(self->pfd[1], "abc", 3));
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, ReadFile(self->h, buf, sizeof(buf), &n, &ov));
	EXPECT_EQ(3U, n);
	EXPECT_EQ(0U, ov.Internal);
	EXPECT_EQ(3U, ov.InternalHigh);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(&ov, p.rec[0].ov);
	EXPECT_EQ(3U, p.rec[0].bytes);
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	/* no engine operation was needed */
	EXPECT_EQ(0U, tpio_io_ops_in_flight());
	CloseThreadpoolIo(io);
}

/* 7 and other immediate failures: FALSE with the error, nothing posted. */
TEST_F(tio, s07_immediate_failures_post_nothing)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[4];
	int dead[2];
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	SetLastError(0);
	EXPECT_EQ(FALSE, ReadFile(self->h, NULL, 1, NULL, &ov));
	EXPECT_EQ(ERROR_NOACCESS, GetLastError());
	EXPECT_EQ((ULONG_PTR)ERROR_NOACCESS, ov.Internal);
	CancelThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, FALSE);

	EXPECT_EQ(FALSE, ReadFile(INVALID_HANDLE_VALUE, buf, 1, NULL, &ov));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, WriteFile(NULL, buf, 1, NULL, &ov));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	ASSERT_EQ(0, pipe(dead));
	close(dead[0]);
	close(dead[1]);
	EXPECT_EQ(FALSE, ReadFile(tpio_handle_from_fd(dead[0]), buf, 1, NULL,
				  &ov));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, WriteFile(self->hw, NULL, 1, NULL, &ov));
	EXPECT_EQ(ERROR_NOACCESS, GetLastError());
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	EXPECT_EQ(0U, tpio_io_ops_in_flight());
	CloseThreadpoolIo(io);
}

/* 8: CancelIoEx(h, &ov): one callback, ERROR_OPERATION_ABORTED, 0 bytes. */
TEST_F(tio, s08_cancelioex_one)
{
	static struct probe p;
	OVERLAPPED ov = { 0 }, other = { 0 };
	char buf[4];
	DWORD n = 5;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	EXPECT_EQ(FALSE, CancelIoEx(self->h, &other));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	EXPECT_EQ(TRUE, CancelIoEx(self->h, &ov));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(&ov, p.rec[0].ov);
	EXPECT_EQ(ERROR_OPERATION_ABORTED, p.rec[0].result);
	EXPECT_EQ(0U, p.rec[0].bytes);
	EXPECT_EQ(FALSE, GetOverlappedResult(self->h, &ov, &n, TRUE));
	EXPECT_EQ(ERROR_OPERATION_ABORTED, GetLastError());
	EXPECT_EQ(0U, n);
	/* nothing left to cancel, with or without an OVERLAPPED [T] */
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	EXPECT_EQ(FALSE, CancelIoEx(self->h, &ov));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	EXPECT_EQ(FALSE, CancelIoEx(self->h, NULL));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	EXPECT_EQ(FALSE, CancelIoEx(INVALID_HANDLE_VALUE, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	/* the pipe still works: the cancelled read took no byte */
	write_byte(self->pfd[1], 'q');
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, ReadFile(self->h, buf, 1, &n, &ov));
	EXPECT_EQ('q', buf[0]);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(2, atomic_load(&p.finished));
	CloseThreadpoolIo(io);
}

/* CancelIoEx(h, NULL) cancels every pending operation of the handle. */
TEST_F(tio, cancelioex_all)
{
	static struct probe p;
	OVERLAPPED ov[3];
	char buf[3];
	int i;
	PTP_IO io;

	memset(ov, 0, sizeof(ov));
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	for (i = 0; i < 3; i++) {
		StartThreadpoolIo(io);
		EXPECT_PENDS(ReadFile(self->h, &buf[i], 1, NULL, &ov[i]), &ov[i]);
	}
	EXPECT_EQ(TRUE, CancelIoEx(self->h, NULL));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(3, atomic_load(&p.finished));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(ERROR_OPERATION_ABORTED, p.rec[i].result);
		EXPECT_EQ(0U, p.rec[i].bytes);
	}
	CloseThreadpoolIo(io);
}

struct cancelio_arg {
	HANDLE h;
	OVERLAPPED ov;
	char buf[1];
	int pended;
};

static void bg_read_pending(void *p)
{
	struct cancelio_arg *a = p;

	a->pended = !ReadFile(a->h, a->buf, 1, NULL, &a->ov) &&
		    GetLastError() == ERROR_IO_PENDING;
}

/* CancelIo(h) cancels only the calling thread's operations on h. */
TEST_F(tio, cancelio_this_thread_only)
{
	static struct probe p;
	static struct cancelio_arg a;
	OVERLAPPED mine = { 0 };
	char buf[1];
	struct bg t;
	PTP_IO io;

	probe_init(&p, NULL);
	memset(&a, 0, sizeof(a));
	a.h = self->h;
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	StartThreadpoolIo(io);
	ASSERT_TRUE(bg_start(&t, bg_read_pending, &a));
	ASSERT_EQ(0, bg_join(&t, RELEASED_MS));	/* that thread is gone */
	ASSERT_TRUE(a.pended);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &mine), &mine);
	EXPECT_EQ(TRUE, CancelIo(self->h));
	ASSERT_TRUE(wait_count(&p.finished, 1, RELEASED_MS));
	EXPECT_EQ(&mine, p.rec[0].ov);
	EXPECT_EQ(ERROR_OPERATION_ABORTED, p.rec[0].result);
	/* the other thread's read survives its thread and still completes */
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.finished));
	write_byte(self->pfd[1], 'z');
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(&a.ov, p.rec[1].ov);
	EXPECT_EQ(ERROR_SUCCESS, p.rec[1].result);
	EXPECT_EQ('z', a.buf[0]);
	/* nothing of this thread's left: still TRUE */
	EXPECT_EQ(TRUE, CancelIo(self->h));
	CloseThreadpoolIo(io);
}

/* 9: Start, Cancel, then a pending read completes: no callback. */
TEST_F(tio, s09_cancelled_start_no_callback)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1];
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	CancelThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	write_byte(self->pfd[1], 'k');
	EXPECT_EQ(TRUE, GetOverlappedResult(self->h, &ov, NULL, TRUE));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

/* 12: pending read, Close, then the write: the callback runs after Close. */
TEST_F(tio, s12_callback_after_close)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1];
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	CloseThreadpoolIo(io);
	EXPECT_EQ(1U, tpio_io_count());
	write_byte(self->pfd[1], 'c');
	ASSERT_TRUE(wait_count(&p.finished, 1, RELEASED_MS));
	EXPECT_EQ(1U, p.rec[0].bytes);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
}

/*
 * A handle closed with a read pending on it: the read still ends, and the
 * object, the operation and the fds are freed. An engine that holds the
 * file while the read waits ends it at the pipe's end of data once the
 * writer goes (the readiness engine always; io_uring once the read reached
 * the kernel); io_uring ends a read it had not submitted yet at once,
 * with ERROR_INVALID_HANDLE (the fd is gone when it is submitted).
 */
TEST_F(tio, close_handle_with_read_pending)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1];
	PTP_IO io;
	int fds0;

	ASSERT_TRUE(engine_warm(self->pfd[0], self->pfd[1]));
	ASSERT_TRUE(pool_engine_warm(&self->env));
	fds0 = fd_count();
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	EXPECT_EQ(TRUE, CloseHandle(self->h));
	self->pfd[0] = -1;
	sleep_ms(20);
	close(self->pfd[1]);
	self->pfd[1] = -1;
	ASSERT_TRUE(wait_count(&p.finished, 1, RELEASED_MS));
	if (p.rec[0].result != ERROR_INVALID_HANDLE)
		EXPECT_EQ(ERROR_BROKEN_PIPE, p.rec[0].result);
	if (!strcmp(tpio_io_engine(), "epoll"))
		EXPECT_EQ(ERROR_BROKEN_PIPE, p.rec[0].result);
	EXPECT_EQ(0U, p.rec[0].bytes);
	CloseThreadpoolIo(io);
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	EXPECT_EQ(fds0 - 2, fd_count());
}

/* 13: a read with no Start completes: no callback; Wait(F) returns. */
TEST_F(tio, s13_no_start_no_callback)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1];
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	write_byte(self->pfd[1], 'n');
	EXPECT_EQ(TRUE, GetOverlappedResult(self->h, &ov, NULL, TRUE));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

/* 14: skip-on-success: a read that succeeds at once posts nothing. */
TEST_F(tio, s14_skip_on_success)
{
	static struct probe p;
	OVERLAPPED ov = { 0 }, ov2 = { 0 };
	char buf[4];
	DWORD n = 0;
	struct bg w;
	PTP_IO io;

	probe_init(&p, NULL);
	EXPECT_EQ(FALSE, SetFileCompletionNotificationModes(self->h,
				FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());	/* unbound [T] */
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	EXPECT_EQ(FALSE, SetFileCompletionNotificationModes(self->h, 0x80));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	ASSERT_EQ(TRUE, SetFileCompletionNotificationModes(self->h,
				FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	write_byte(self->pfd[1], 's');
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, ReadFile(self->h, buf, sizeof(buf), &n, &ov));
	EXPECT_EQ(1U, n);
	ASSERT_TRUE(bg_start(&w, bg_wait_false, io));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	EXPECT_EQ(0, atomic_load(&p.started));
	CancelThreadpoolIo(io);
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	/* an operation that pends still completes through the callback */
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov2), &ov2);
	write_byte(self->pfd[1], 't');
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(&ov2, p.rec[0].ov);
	CloseThreadpoolIo(io);
}

/* 30: after Wait(T), the read still fills the buffer, with no callback. */
TEST_F(tio, s30_wait_true_does_not_cancel_io)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1] = { 0 };
	DWORD n = 0;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	EXPECT_EQ(FALSE, GetOverlappedResult(self->h, &ov, &n, FALSE));
	EXPECT_EQ(ERROR_IO_INCOMPLETE, GetLastError());
	WaitForThreadpoolIoCallbacks(io, TRUE);
	write_byte(self->pfd[1], 'w');
	EXPECT_EQ(TRUE, GetOverlappedResult(self->h, &ov, &n, TRUE));
	EXPECT_EQ(1U, n);
	EXPECT_EQ('w', buf[0]);
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	CloseThreadpoolIo(io);
}

static void bg_get_result_wait(void *p)
{
	OVERLAPPED *ov = p;
	DWORD n = 0;

	if (GetOverlappedResult(NULL, ov, &n, TRUE) && n == 1)
		ov->Pointer = (PVOID)1;	/* the caller checks this */
}

/* GetOverlappedResult(bWait=TRUE) blocks until the operation completes. */
TEST_F(tio, get_overlapped_result_waits)
{
	static OVERLAPPED ov;
	char buf[1];
	struct bg w;

	memset(&ov, 0, sizeof(ov));
	/* the handle is not bound to a TP_IO: nothing is posted anywhere */
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	ASSERT_TRUE(bg_start(&w, bg_get_result_wait, &ov));
	EXPECT_EQ(ETIMEDOUT, bg_join(&w, STILL_BLOCKED_MS));
	write_byte(self->pfd[1], 'g');
	ASSERT_EQ(0, bg_join(&w, RELEASED_MS));
	EXPECT_EQ((PVOID)1, ov.Pointer);
}

/* An event in the OVERLAPPED is reset at the start and set at completion. */
TEST_F(tio, event_is_set_at_completion)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	char buf[1];
	HANDLE ev = CreateEventW(NULL, TRUE, TRUE, NULL);
	PTP_IO io;

	ASSERT_NE(NULL, ev);
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	ov.hEvent = ev;
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(ev, 0));
	write_byte(self->pfd[1], 'e');
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ev, RELEASED_MS));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(1, atomic_load(&p.finished));

	/* bit 0 of hEvent: the event is set, no completion is posted */
	ov.hEvent = (HANDLE)((uintptr_t)ev | 1);
	EXPECT_PENDS(ReadFile(self->h, buf, 1, NULL, &ov), &ov);
	write_byte(self->pfd[1], 'f');
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ev, RELEASED_MS));
	EXPECT_EQ(TRUE, GetOverlappedResult(self->h, &ov, NULL, TRUE));
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.finished));
	CloseThreadpoolIo(io);
	CloseHandle(ev);
}

/* 31 (pipe): writer gone: a pending read gets 109; a new one fails at once. */
TEST_F(tio, s31_pipe_broken)
{
	static struct probe p;
	OVERLAPPED ov = { 0 }, ov2 = { 0 };
	char buf[4];
	DWORD n = 9;
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->h, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(self->h, buf, sizeof(buf), NULL, &ov), &ov);
	close(self->pfd[1]);
	self->pfd[1] = -1;
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_BROKEN_PIPE, p.rec[0].result);
	EXPECT_EQ(0U, p.rec[0].bytes);
	EXPECT_EQ(FALSE, GetOverlappedResult(self->h, &ov, &n, FALSE));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());

	StartThreadpoolIo(io);
	EXPECT_EQ(FALSE, ReadFile(self->h, buf, sizeof(buf), NULL, &ov2));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	CancelThreadpoolIo(io);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(1, atomic_load(&p.finished));
	CloseThreadpoolIo(io);
}

/* Writes to a pipe pend [T]; a reader that left gives 109, not SIGPIPE. */
TEST_F(tio, pipe_write_and_broken_reader)
{
	static struct probe p;
	OVERLAPPED ov = { 0 }, ov2 = { 0 };
	char buf[8] = { 0 };
	PTP_IO io;

	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->hw, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(WriteFile(self->hw, "hello", 5, NULL, &ov), &ov);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_SUCCESS, p.rec[0].result);
	EXPECT_EQ(5U, p.rec[0].bytes);
	ASSERT_EQ(5, read(self->pfd[0], buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));

	close(self->pfd[0]);
	self->pfd[0] = -1;
	StartThreadpoolIo(io);
	EXPECT_PENDS(WriteFile(self->hw, "x", 1, NULL, &ov2), &ov2);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_BROKEN_PIPE, p.rec[1].result);
	/* a blocking write reports it too, and the process is still here */
	EXPECT_EQ(FALSE, WriteFile(self->hw, "y", 1, NULL, NULL));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	CloseThreadpoolIo(io);
}

/* A pipe large write completes only when every byte is written. */
TEST_F(tio, pipe_large_write_completes_whole)
{
	static struct probe p;
	static char big[256 * 1024], back[256 * 1024];
	OVERLAPPED ov = { 0 };
	size_t got = 0;
	ssize_t r;
	size_t i;
	PTP_IO io;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(self->hw, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(WriteFile(self->hw, big, sizeof(big), NULL, &ov), &ov);
	sleep_ms(20);
	EXPECT_EQ(0, atomic_load(&p.started));	/* the pipe holds 64 KiB */
	while (got < sizeof(back)) {
		r = read(self->pfd[0], back + got, sizeof(back) - got);
		ASSERT_GT(r, 0);
		got += (size_t)r;
	}
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(sizeof(big), p.rec[0].bytes);
	EXPECT_EQ(0, memcmp(big, back, sizeof(big)));
	CloseThreadpoolIo(io);
}

/* ReadFile/WriteFile without an OVERLAPPED are plain blocking calls. */
TEST_F(tio, non_overlapped_calls)
{
	char buf[4] = { 0 };
	DWORD n = 0;

	EXPECT_EQ(TRUE, WriteFile(self->hw, "ab", 2, &n, NULL));
	EXPECT_EQ(2U, n);
	EXPECT_EQ(TRUE, ReadFile(self->h, buf, sizeof(buf), &n, NULL));
	EXPECT_EQ(2U, n);
	EXPECT_EQ(0, memcmp(buf, "ab", 2));
	close(self->pfd[1]);
	self->pfd[1] = -1;
	EXPECT_EQ(FALSE, ReadFile(self->h, buf, sizeof(buf), &n, NULL));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
}

/* 31 (file), offsets: files always pend; EOF is ERROR_HANDLE_EOF, 0 bytes. */
TEST_F(tio, s31_file_offsets_and_eof)
{
	static struct probe p;
	OVERLAPPED ov[4];
	char buf[4][16];
	int fd = temp_file(tmp_dir(), 0);
	HANDLE hf = tpio_handle_from_fd(fd);
	DWORD n;
	PTP_IO io;
	int i;

	ASSERT_LE(0, fd);
	ASSERT_EQ(5, pwrite(fd, "hello", 5, 0));
	memset(ov, 0, sizeof(ov));
	memset(buf, 0, sizeof(buf));
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(hf, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	ov[0].Offset = 1;	/* "ell" */
	ov[1].Offset = 3;	/* crosses the end: "lo" */
	ov[2].Offset = 5;	/* at the end */
	ov[3].Offset = 100;	/* past the end */
	for (i = 0; i < 4; i++) {
		StartThreadpoolIo(io);
		EXPECT_PENDS(ReadFile(hf, buf[i], i ? 10 : 3, &n, &ov[i]), &ov[i]);
	}
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(4, atomic_load(&p.finished));
	for (i = 0; i < 4; i++) {
		int j;

		for (j = 0; j < 4 && p.rec[j].ov != &ov[i]; j++)
			;
		ASSERT_LT(j, 4);
		EXPECT_EQ(i < 2 ? ERROR_SUCCESS : ERROR_HANDLE_EOF,
			  p.rec[j].result);
		EXPECT_EQ((ULONG_PTR)(i == 0 ? 3 : i == 1 ? 2 : 0),
			  p.rec[j].bytes);
	}
	EXPECT_EQ(0, memcmp(buf[0], "ell", 3));
	EXPECT_EQ(0, memcmp(buf[1], "lo", 2));
	EXPECT_EQ(FALSE, GetOverlappedResult(hf, &ov[2], &n, FALSE));
	EXPECT_EQ(ERROR_HANDLE_EOF, GetLastError());
	EXPECT_EQ(0U, n);
	CloseThreadpoolIo(io);
	close(fd);
}

/* Writes and reads above 4 GiB use OffsetHigh; many writes at once. */
TEST_F(tio, file_write_read_high_offsets)
{
	static struct probe p;
	static OVERLAPPED ov[64];
	static char data[64][16];
	char back[8];
	int fd = temp_file(tmp_dir(), 0);
	HANDLE hf = tpio_handle_from_fd(fd);
	uint64_t base = (5ULL << 32) + 12345;
	PTP_IO io;
	int i;

	ASSERT_LE(0, fd);
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(hf, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	memset(ov, 0, sizeof(ov));
	for (i = 0; i < 64; i++) {
		uint64_t off = base + (uint64_t)i * 4096;

		snprintf(data[i], sizeof(data[i]), "blk%04d", i);
		ov[i].Offset = (DWORD)off;
		ov[i].OffsetHigh = (DWORD)(off >> 32);
		StartThreadpoolIo(io);
		EXPECT_PENDS(WriteFile(hf, data[i], 8, NULL, &ov[i]), &ov[i]);
	}
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(64, atomic_load(&p.finished));
	for (i = 0; i < PROBE_RECS && i < 64; i++) {
		EXPECT_EQ(ERROR_SUCCESS, p.rec[i].result);
		EXPECT_EQ(8U, p.rec[i].bytes);
	}
	for (i = 0; i < 64; i++) {
		ASSERT_EQ(8, pread(fd, back, 8, (off_t)(base + (uint64_t)i * 4096)));
		EXPECT_EQ(0, memcmp(back, data[i], 8));
	}
	/* and read one back through ReadFile */
	memset(&ov[0], 0, sizeof(ov[0]));
	ov[0].Offset = (DWORD)(base + 4096 * 7);
	ov[0].OffsetHigh = (DWORD)((base + 4096 * 7) >> 32);
	memset(back, 0, sizeof(back));
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(hf, back, 8, NULL, &ov[0]), &ov[0]);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(0, memcmp(back, "blk0007", 8));
	CloseThreadpoolIo(io);
	close(fd);
}

/* O_DIRECT with aligned buffers, where the filesystem allows it. */
TEST_F(tio, file_o_direct)
{
	static struct probe p;
	const char *dirs[] = { getenv("TPIO_DIRECT_DIR"), "/var/tmp", ".",
			       tmp_dir() };
	OVERLAPPED ov = { 0 };
	void *wbuf = NULL, *rbuf = NULL;
	int fd = -1;
	size_t i;
	PTP_IO io;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++)
		if (dirs[i])
			fd = temp_file(dirs[i], O_DIRECT);
	if (fd < 0)
		SKIP(return, "no directory here takes O_DIRECT (tmpfs refuses it)");
	ASSERT_EQ(0, posix_memalign(&wbuf, 4096, 8192));
	ASSERT_EQ(0, posix_memalign(&rbuf, 4096, 8192));
	memset(wbuf, 0x5a, 8192);
	memset(rbuf, 0, 8192);
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(tpio_handle_from_fd(fd), probe_cb, &p,
				&self->env);
	ASSERT_NE(NULL, io);
	ov.Offset = 8192;
	StartThreadpoolIo(io);
	EXPECT_PENDS(WriteFile(tpio_handle_from_fd(fd), wbuf, 8192, NULL, &ov), &ov);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_SUCCESS, p.rec[0].result);
	EXPECT_EQ(8192U, p.rec[0].bytes);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(tpio_handle_from_fd(fd), rbuf, 8192, NULL, &ov), &ov);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(2, atomic_load(&p.finished));
	EXPECT_EQ(8192U, p.rec[1].bytes);
	EXPECT_EQ(0, memcmp(wbuf, rbuf, 8192));
	CloseThreadpoolIo(io);
	close(fd);
	free(wbuf);
	free(rbuf);
}

struct budget_arg {
	HANDLE h;
	OVERLAPPED ov;
	char buf[1];
};

static void bg_read_blocks_for_room(void *p)
{
	struct budget_arg *a = p;

	ReadFile(a->h, a->buf, 1, NULL, &a->ov);
}

/*
 * Back-pressure: with TPIO_IO_INFLIGHT=4, a fifth operation waits for
 * room instead of failing, and goes once one completes.
 */
TEST_F(tio, inflight_budget_waits_for_room)
{
	static struct budget_arg extra;
	OVERLAPPED ov[4];
	char buf[4];
	int pf[4][2], i;
	struct bg t;

	setenv("TPIO_IO_INFLIGHT", "4", 1);	/* read at the engine's start */
	memset(ov, 0, sizeof(ov));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pipe(pf[i]));
		EXPECT_PENDS(ReadFile(tpio_handle_from_fd(pf[i][0]), &buf[i], 1,
				      NULL, &ov[i]), &ov[i]);
	}
	EXPECT_EQ(4U, tpio_io_ops_in_flight());
	memset(&extra, 0, sizeof(extra));
	extra.h = self->h;
	ASSERT_TRUE(bg_start(&t, bg_read_blocks_for_room, &extra));
	EXPECT_EQ(ETIMEDOUT, bg_join(&t, STILL_BLOCKED_MS));
	write_byte(pf[2][1], '2');
	ASSERT_EQ(0, bg_join(&t, RELEASED_MS));
	EXPECT_EQ(TRUE, GetOverlappedResult(NULL, &ov[2], NULL, TRUE));
	EXPECT_FALSE(HasOverlappedIoCompleted(&extra.ov));
	write_byte(self->pfd[1], 'p');
	EXPECT_EQ(TRUE, GetOverlappedResult(NULL, &extra.ov, NULL, TRUE));
	EXPECT_EQ('p', extra.buf[0]);
	for (i = 0; i < 4; i++) {
		close(pf[i][1]);
		if (i != 2) {
			EXPECT_EQ(FALSE, GetOverlappedResult(NULL, &ov[i], NULL,
							     TRUE));
			EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
		}
		close(pf[i][0]);
	}
}

/* Many pipes, many operations, callbacks that issue the next read. */
struct relay {
	PTP_IO io;
	HANDLE h;
	OVERLAPPED ov;
	char buf[64];
	atomic_int bytes;
	atomic_int reads;
	atomic_int bad;
};

static VOID CALLBACK relay_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			      ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct relay *r = ctx;

	(void)inst;
	if (ov != &r->ov || io != r->io)
		atomic_fetch_add(&r->bad, 1);
	atomic_fetch_add(&r->reads, 1);
	if (result != ERROR_SUCCESS)
		return;		/* broken pipe: the end */
	atomic_fetch_add(&r->bytes, (int)bytes);
	for (;;) {
		StartThreadpoolIo(io);
		if (ReadFile(r->h, r->buf, sizeof(r->buf), NULL, &r->ov))
			return;		/* the callback runs again */
		if (GetLastError() == ERROR_IO_PENDING)
			return;
		CancelThreadpoolIo(io);
		if (GetLastError() != ERROR_BROKEN_PIPE)
			atomic_fetch_add(&r->bad, 1);
		return;
	}
}

TEST_F_TIMEOUT(tio, many_pipes_chained_reads, 60)
{
	enum { NP = 16, ROUNDS = 200 };
	static struct relay r[NP];
	int pf[NP][2], i, k, fds0;

	ASSERT_TRUE(engine_warm(self->pfd[0], self->pfd[1]));
	ASSERT_TRUE(pool_engine_warm(&self->env));
	fds0 = fd_count();

	for (i = 0; i < NP; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		ASSERT_EQ(0, pipe(pf[i]));
		r[i].h = tpio_handle_from_fd(pf[i][0]);
		r[i].io = CreateThreadpoolIo(r[i].h, relay_cb, &r[i], &self->env);
		ASSERT_NE(NULL, r[i].io);
		StartThreadpoolIo(r[i].io);
		if (!ReadFile(r[i].h, r[i].buf, sizeof(r[i].buf), NULL, &r[i].ov))
			ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	}
	for (k = 0; k < ROUNDS; k++)
		for (i = 0; i < NP; i++)
			ASSERT_EQ(3, write(pf[i][1], "abc", 3));
	for (i = 0; i < NP; i++)
		close(pf[i][1]);
	for (i = 0; i < NP; i++) {
		WaitForThreadpoolIoCallbacks(r[i].io, FALSE);
		EXPECT_EQ(3 * ROUNDS, atomic_load(&r[i].bytes));
		EXPECT_EQ(0, atomic_load(&r[i].bad));
		CloseThreadpoolIo(r[i].io);
		close(pf[i][0]);
	}
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	EXPECT_EQ(fds0, fd_count());
}

/*
 * Cancels racing completions: rounds of pending reads on one pipe while
 * one thread writes bytes and another cancels single operations and whole
 * handles. Every started read ends in exactly one callback, aborted ones
 * with 0 bytes, and every byte written is either read by exactly one
 * operation or still in the pipe.
 */
struct race {
	HANDLE h;
	int wfd;
	OVERLAPPED ov[32];
	char buf[32][4];
	atomic_int seen[32];
	atomic_int bytes, aborted, bad, stop;
};

static VOID CALLBACK race_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			     ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct race *r = ctx;
	long i = (OVERLAPPED *)ov - r->ov;

	(void)inst;
	(void)io;
	if (i < 0 || i >= 32 || atomic_fetch_add(&r->seen[i], 1)) {
		atomic_fetch_add(&r->bad, 1);
		return;
	}
	if (result == ERROR_OPERATION_ABORTED && !bytes)
		atomic_fetch_add(&r->aborted, 1);
	else if (result == ERROR_SUCCESS && bytes >= 1 && bytes <= 4)
		atomic_fetch_add(&r->bytes, (int)bytes);
	else
		atomic_fetch_add(&r->bad, 1);
}

static void race_canceller(void *p)
{
	struct race *r = p;
	unsigned int seed = 7;

	while (!atomic_load(&r->stop)) {
		int i = (int)(rand_r(&seed) % 33);

		CancelIoEx(r->h, i == 32 ? NULL : &r->ov[i]);
		sleep_ms(rand_r(&seed) % 2);
	}
}

TEST_F_TIMEOUT(tio, cancel_races_completion, 120)
{
	static struct race r;
	int round, i, written, in_pipe, total_aborted = 0, total_bytes = 0;
	char sink[4096];
	struct bg canceller;
	PTP_IO io;

	memset(&r, 0, sizeof(r));
	r.h = self->h;
	io = CreateThreadpoolIo(self->h, race_cb, &r, &self->env);
	ASSERT_NE(NULL, io);
	for (round = 0; round < 40; round++) {
		for (i = 0; i < 32; i++)
			atomic_store(&r.seen[i], 0);
		atomic_store(&r.bytes, 0);
		atomic_store(&r.aborted, 0);
		atomic_store(&r.stop, 0);
		memset(r.ov, 0, sizeof(r.ov));
		for (i = 0; i < 32; i++) {
			StartThreadpoolIo(io);
			if (!ReadFile(self->h, r.buf[i], 4, NULL, &r.ov[i]) &&
			    GetLastError() != ERROR_IO_PENDING) {
				CancelThreadpoolIo(io);
				ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
			}
		}
		ASSERT_TRUE(bg_start(&canceller, race_canceller, &r));
		for (written = 0; written < 48; written += 3) {
			ASSERT_EQ(3, write(self->pfd[1], "abc", 3));
			if (written % 12 == 0)
				sleep_ms(1);
		}
		atomic_store(&r.stop, 1);
		ASSERT_EQ(0, bg_join(&canceller, RELEASED_MS));
		/* end whatever still pends, then count */
		CancelIoEx(self->h, NULL);
		WaitForThreadpoolIoCallbacks(io, FALSE);
		for (i = 0; i < 32; i++)
			EXPECT_EQ(1, atomic_load(&r.seen[i]));
		in_pipe = 0;
		for (;;) {
			struct pollfd pf = { .fd = self->pfd[0], .events = POLLIN };
			ssize_t n;

			if (poll(&pf, 1, 0) != 1)
				break;
			n = read(self->pfd[0], sink, sizeof(sink));
			ASSERT_GT(n, 0);
			in_pipe += (int)n;
		}
		EXPECT_EQ(48, atomic_load(&r.bytes) + in_pipe);
		EXPECT_EQ(0, atomic_load(&r.bad));
		total_aborted += atomic_load(&r.aborted);
		total_bytes += atomic_load(&r.bytes);
		if (atomic_load(&r.bad))
			break;
	}
	TH_LOG("%d reads aborted, %d bytes read in %d rounds", total_aborted,
	       total_bytes, round);
	/* both outcomes happened: the test exercised the race */
	EXPECT_LT(0, total_aborted);
	EXPECT_LT(0, total_bytes);
	CloseThreadpoolIo(io);
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
}

/*
 * The engine is chosen once per process: io_uring where it can be set up;
 * else, with TPIO_IO_ENGINE unset or auto, the readiness engine, said in
 * one line on stderr however many pools do I/O; TPIO_IO_ENGINE=epoll
 * chooses it quietly, =uring never falls back. The child below is this
 * program run again (TPIO_TEST_ENGINE_CHILD): a fresh process, whose
 * engine is not chosen yet. make check runs this test natively and under
 * selftests/lib/no-uring (io_uring blocked by seccomp).
 */
static int child_io(PTP_POOL pool)
{
	TP_CALLBACK_ENVIRON env;
	OVERLAPPED ov = { 0 };
	PTP_IO io = NULL;
	int p[2], ok = 0;
	char b = 0;

	if (pipe2(p, O_CLOEXEC))
		return 0;
	InitializeThreadpoolEnvironment(&env);
	if (pool) {
		SetThreadpoolCallbackPool(&env, pool);
		io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), warm_cb,
					NULL, &env);
		if (!io)
			return 0;
		StartThreadpoolIo(io);
	}
	if (!ReadFile(tpio_handle_from_fd(p[0]), &b, 1, NULL, &ov) &&
	    GetLastError() == ERROR_IO_PENDING && write(p[1], "x", 1) == 1)
		ok = GetOverlappedResult(NULL, &ov, NULL, TRUE) && b == 'x';
	if (io) {
		WaitForThreadpoolIoCallbacks(io, FALSE);
		CloseThreadpoolIo(io);
	}
	DestroyThreadpoolEnvironment(&env);
	close(p[0]);
	close(p[1]);
	return ok;
}

__attribute__((constructor)) static void engine_child(void)
{
	PTP_POOL a, b;
	const char *e;
	int ok;

	if (!getenv("TPIO_TEST_ENGINE_CHILD"))
		return;
	a = CreateThreadpool(NULL);
	b = CreateThreadpool(NULL);
	ok = a && b && child_io(NULL) && child_io(a) && child_io(b) &&
	     child_io(a);
	e = tpio_io_engine();
	printf("engine=%s io=%s\n", e ? e : "none", ok ? "ok" : "failed");
	fflush(stdout);
	_exit(0);
}

static int uring_usable(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(2, &ring, 0))
		return 0;
	io_uring_queue_exit(&ring);
	return 1;
}

TEST_F(tio, engine_choice_said_once)
{
	const char *mode = getenv("TPIO_IO_ENGINE");
	const char *want_engine, *want_io = "ok";
	char exe[4096], cmd[4300], line[512], engine[512] = "";
	int usable = uring_usable(), said = 0, other = 0;
	ssize_t n;
	FILE *f;

	if (!mode || !*mode)
		mode = "auto";
	if (!strcmp(mode, "epoll"))
		want_engine = "epoll";
	else if (!strcmp(mode, "uring"))
		want_engine = usable ? "uring" : "none";
	else
		want_engine = usable ? "uring" : "epoll";
	if (!strcmp(want_engine, "none"))
		want_io = "failed";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = 0;
	snprintf(cmd, sizeof(cmd),
		 "env -u TPIO_DEBUG TPIO_TEST_ENGINE_CHILD=1 '%s' 2>&1", exe);
	f = popen(cmd, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "engine=", 7))
			snprintf(engine, sizeof(engine), "%s", line);
		else if (strstr(line, "the readiness engine"))
			said++;
		else
			other++;
	}
	EXPECT_EQ(0, pclose(f));
	snprintf(line, sizeof(line), "engine=%s io=%s\n", want_engine,
		 want_io);
	EXPECT_STREQ(line, engine);
	/* the fallback is said once; the other outcomes say nothing */
	EXPECT_EQ(!usable && !strcmp(mode, "auto") ? 1 : 0, said);
	/* =uring without io_uring keeps its own complaint */
	if (strcmp(want_engine, "none"))
		EXPECT_EQ(0, other);
	TH_LOG("TPIO_IO_ENGINE=%s, io_uring %s: %s", mode,
	       usable ? "usable" : "blocked", engine);
}
