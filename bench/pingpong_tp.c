// SPDX-License-Identifier: MIT
/*
 * pingpong_tp: the pipe ping-pong (bench/pingpong.h) over TP_IO callbacks,
 * one source for two platforms like echo_tp.c. On Linux it is built
 * against libtpio (TPIO_BACKEND picks user or kmod); built with mingw-w64
 * it runs on Windows' own thread pool, under Wine for Wine's row.
 *
 * Every side of a pair has its read handle bound to its own TP_IO and one
 * overlapped one-byte ReadFile pending. A hop is one callback: the read's
 * completion. It checks and counts the byte, re-arms the read
 * (StartThreadpoolIo + ReadFile) and then writes the byte to the other
 * side. The pool is private, -t THREADS threads (default 2), minimum =
 * maximum, as in echo_tp.c.
 *
 * The write is an overlapped WriteFile whose completion goes to no
 * callback, followed by GetOverlappedResult(..., TRUE), which returns at
 * once: one byte into an empty pipe completes as it is issued. So a hop is
 * exactly one callback, and the write costs what the platform's WriteFile
 * costs. (A write completing into a TP_IO would add a second callback per
 * hop that does nothing; a plain synchronous WriteFile is not allowed on
 * Windows' overlapped handles.) The write's OVERLAPPED and byte are the
 * callback's own (on its stack): once the byte is written it can go round
 * the pair and this side's next callback can start on another thread
 * before this one has returned.
 *
 * Linux: a pair is two pipes, A (side 1 writes, side 0 reads) and B (side
 * 0 writes, side 1 reads); the write ends are not bound to any TP_IO.
 * Windows: anonymous pipes cannot do overlapped I/O, so a pair is one
 * duplex named pipe opened with FILE_FLAG_OVERLAPPED at both ends, each
 * end a side with its own TP_IO; the write's OVERLAPPED carries an event
 * with bit 0 set so that its completion is not queued to that TP_IO.
 *
 * Stopping: after the window, the side that receives the byte keeps it
 * and cancels the other side's pending read (CancelIoEx), whose callback
 * then sees ERROR_OPERATION_ABORTED and ends.
 */
#ifdef _WIN32
#define __USE_MINGW_ANSI_STDIO 1
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#define _GNU_SOURCE
#include <fcntl.h>
#include <tpio.h>
#endif

#include "pingpong.h"

struct side {
	HANDLE rh;		/* read from */
	HANDLE wh;		/* write the other side's byte to */
	PTP_IO io;		/* bound to rh */
	OVERLAPPED rov;
	unsigned char in;
	int s;			/* 0 or 1 */
	struct side *peer;
	struct pp_count *count;
} __attribute__((aligned(64)));

static struct side sides[2 * PP_MAX_PAIRS];
static struct pp_count counts[2 * PP_MAX_PAIRS];

static void failw(const char *what, unsigned long err)
{
	char w[160];

	snprintf(w, sizeof(w), "%s (error %lu)", what, err);
	pp_fail(w);
}

static void start_read(struct side *sd)
{
	StartThreadpoolIo(sd->io);
	memset(&sd->rov, 0, sizeof(sd->rov));
	if (ReadFile(sd->rh, &sd->in, 1, NULL, &sd->rov) ||
	    GetLastError() == ERROR_IO_PENDING)
		return;		/* either way the callback comes */
	CancelThreadpoolIo(sd->io);
	failw("ReadFile failed", (unsigned long)GetLastError());
}

/* Write byte @b to @h and wait until it is written. */
static void write_byte(HANDLE h, unsigned char b)
{
	OVERLAPPED ov;
	DWORD n = 0;
#ifdef _WIN32
	/* the wait's event, one per thread; bit 0: nothing to the TP_IO */
	static __thread HANDLE event;

	if (!event && !(event = CreateEventA(NULL, TRUE, FALSE, NULL)))
		failw("CreateEvent failed", GetLastError());
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = (HANDLE)((ULONG_PTR)event | 1);
#else
	memset(&ov, 0, sizeof(ov));
#endif
	if (!WriteFile(h, &b, 1, NULL, &ov) && GetLastError() != ERROR_IO_PENDING)
		failw("WriteFile failed", (unsigned long)GetLastError());
	if (!GetOverlappedResult(h, &ov, &n, TRUE))
		failw("the write failed", (unsigned long)GetLastError());
	if (n != 1)
		failw("the write wrote a byte count other than 1", n);
}

static VOID CALLBACK on_read(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PVOID ov, ULONG result, ULONG_PTR bytes,
			     PTP_IO io)
{
	struct side *sd = ctx;
	int next;

	(void)inst;
	(void)ov;
	(void)io;
	if (result == ERROR_OPERATION_ABORTED &&
	    __atomic_load_n(&pp_stop, __ATOMIC_SEQ_CST)) {
		pp_side_ended();	/* the other side stopped the pair */
		return;
	}
	if (result != NO_ERROR)
		failw("a read completed with an error", result);
	if (bytes != 1)
		failw("a read completed with a byte count other than 1",
		      (unsigned long)bytes);
	next = pp_hop(sd->count, sd->s, sd->in);
	if (next < 0) {
		/* the window is over: keep the byte, end the other's wait */
		if (!CancelIoEx(sd->peer->rh, &sd->peer->rov))
			failw("CancelIoEx of the other side's read failed",
			      (unsigned long)GetLastError());
		pp_side_ended();
		return;
	}
	start_read(sd);
	write_byte(sd->wh, (unsigned char)next);
}

#ifdef _WIN32
static void make_pair(struct side *a, struct side *b, int k)
{
	char name[96];
	OVERLAPPED ov;

	snprintf(name, sizeof(name), "\\\\.\\pipe\\tpio-pingpong-%lu-%d",
		 (unsigned long)GetCurrentProcessId(), k);
	a->rh = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
				 FILE_FLAG_FIRST_PIPE_INSTANCE,
				 PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
				 1, 4096, 4096, 0, NULL);
	if (a->rh == INVALID_HANDLE_VALUE)
		failw("CreateNamedPipe failed", GetLastError());
	b->rh = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			    OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
	if (b->rh == INVALID_HANDLE_VALUE)
		failw("CreateFile of the pipe failed", GetLastError());
	/* the client end is open: the server end is connected at once */
	memset(&ov, 0, sizeof(ov));
	if (!ConnectNamedPipe(a->rh, &ov) &&
	    GetLastError() != ERROR_PIPE_CONNECTED)
		failw("ConnectNamedPipe failed", GetLastError());
	a->wh = a->rh;
	b->wh = b->rh;
}

static void close_pair(struct side *a, struct side *b)
{
	CloseHandle(a->rh);
	CloseHandle(b->rh);
}
#else
static void make_pair(struct side *a, struct side *b, int k)
{
	int pa[2], pb[2];

	(void)k;
	if (pipe2(pa, O_CLOEXEC) || pipe2(pb, O_CLOEXEC))
		failw("pipe2 failed", 0);
	a->rh = tpio_handle_from_fd(pa[0]);
	b->wh = tpio_handle_from_fd(pa[1]);
	b->rh = tpio_handle_from_fd(pb[0]);
	a->wh = tpio_handle_from_fd(pb[1]);
}

static void close_pair(struct side *a, struct side *b)
{
	CloseHandle(a->rh);
	CloseHandle(a->wh);
	CloseHandle(b->rh);
	CloseHandle(b->wh);
}
#endif

int main(int argc, char **argv)
{
	TP_CALLBACK_ENVIRON env;
	struct pp_opts o;
	PTP_POOL pool;
	int k, n;
#ifdef _WIN32
	const char *impl = "windows-tpio";
#else
	char impl[32];
	const char *be = tpio_backend();

	snprintf(impl, sizeof(impl), "tpio-%s", be ? be : "none");
#endif

	pp_parse(argc, argv, &o, impl);
	pp_watch();
	n = 2 * o.pairs;
	pool = CreateThreadpool(NULL);
	if (!pool)
		failw("CreateThreadpool failed", GetLastError());
	SetThreadpoolThreadMaximum(pool, (DWORD)o.threads);
	if (!SetThreadpoolThreadMinimum(pool, (DWORD)o.threads))
		failw("SetThreadpoolThreadMinimum failed", GetLastError());
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	for (k = 0; k < o.pairs; k++) {
		struct side *a = &sides[2 * k], *b = &sides[2 * k + 1];

		make_pair(a, b, k);
		a->s = 0;
		b->s = 1;
		a->peer = b;
		b->peer = a;
		a->count = &counts[2 * k];
		b->count = &counts[2 * k + 1];
	}
	for (k = 0; k < n; k++) {
		sides[k].io = CreateThreadpoolIo(sides[k].rh, on_read, &sides[k],
						 &env);
		if (!sides[k].io)
			failw("CreateThreadpoolIo failed", GetLastError());
	}
	for (k = 0; k < n; k++)
		start_read(&sides[k]);
	/* every pair's first byte: 0 to side 0, through side 1's handle */
	for (k = 0; k < o.pairs; k++)
		write_byte(sides[2 * k + 1].wh, 0);
	pp_measure(&o, counts);
	for (k = 0; k < n; k++) {
		WaitForThreadpoolIoCallbacks(sides[k].io, FALSE);
		CloseThreadpoolIo(sides[k].io);
	}
	for (k = 0; k < o.pairs; k++)
		close_pair(&sides[2 * k], &sides[2 * k + 1]);
	DestroyThreadpoolEnvironment(&env);
	CloseThreadpool(pool);
	return 0;
}
