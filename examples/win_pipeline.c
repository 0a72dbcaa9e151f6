// SPDX-License-Identifier: MIT
/*
 * win_pipeline: one small Windows program that uses the whole thread pool
 * and a completion port together, and builds unchanged with mingw-w64
 * against the Windows headers and on Linux against libtpio. The only
 * difference is how it obtains the two ends of its pipe (pipe_open()
 * below, the one #ifdef _WIN32 block).
 *
 * The job:
 *  - a TP_TIMER ticks every 20 ms, BLOCKS times; each tick submits the
 *    TP_WORK once, and the last tick stops the timer from its own callback;
 *  - the TP_WORK produces a block of BLOCK_BYTES and writes it with an
 *    overlapped WriteFile on the pipe's writing end, a handle associated
 *    with a completion port (key CK_WRITE): each write's completion goes
 *    to the port;
 *  - a TP_IO on the pipe's reading end keeps one overlapped ReadFile
 *    pending; its callback counts the bytes and their sum, and once every
 *    block has arrived sets an event;
 *  - a TP_WAIT on that event posts the totals to the port
 *    (PostQueuedCompletionStatus, key CK_DONE);
 *  - the main thread collects the port's packets with
 *    GetQueuedCompletionStatusEx until it has every write and the totals,
 *    prints what it saw, and closes everything.
 *
 * The output is deterministic (counts and sums, never timings or
 * addresses): lines "pipeline: FACT", then "pipeline: ok"; exit status 0
 * on success, 1 on a failure. The conformance suite builds it both ways
 * (conformance/pipeline.c) and compares the Linux output on both backends
 * with the Windows program's under Wine.
 */
#ifndef _WIN32
#define _GNU_SOURCE		/* pipe2 */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>

#ifdef _WIN32
#include <windows.h>
#include <fcntl.h>
#include <io.h>

/* An overlapped byte-mode named pipe: *rd the server end, *wr the client. */
static int pipe_open(HANDLE *rd, HANDLE *wr)
{
	char name[96];
	OVERLAPPED ov;

	_setmode(_fileno(stdout), _O_BINARY);
	snprintf(name, sizeof(name), "\\\\.\\pipe\\win-pipeline-%lu",
		 (unsigned long)GetCurrentProcessId());
	*rd = CreateNamedPipeA(name, PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED,
			       PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
			       1, 4096, 4096, 0, NULL);
	if (*rd == INVALID_HANDLE_VALUE)
		return -1;
	*wr = CreateFileA(name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			  FILE_FLAG_OVERLAPPED, NULL);
	if (*wr == INVALID_HANDLE_VALUE)
		return -1;
	memset(&ov, 0, sizeof(ov));	/* connected already */
	if (!ConnectNamedPipe(*rd, &ov) && GetLastError() != ERROR_PIPE_CONNECTED)
		return -1;
	return 0;
}
#else
#include <fcntl.h>
#include <unistd.h>
#include <tpio.h>

/* pipe2(2), both ends wrapped as handles (CloseHandle closes them). */
static int pipe_open(HANDLE *rd, HANDLE *wr)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC))
		return -1;
	*rd = tpio_handle_from_fd(fds[0]);
	*wr = tpio_handle_from_fd(fds[1]);
	return 0;
}
#endif

/* ---- everything below is plain Win32 ---- */

#define BLOCKS		8
#define BLOCK_BYTES	256
#define READ_BYTES	100	/* smaller than a block: several reads each */
#define CK_WRITE	1
#define CK_DONE	2

static HANDLE port, rd, wr, done;
static PTP_WORK work;
static PTP_TIMER timer;
static PTP_IO io;

static atomic_long ticks;	/* timer callbacks */
static atomic_long next_block;	/* blocks taken by the work item */
static unsigned char blocks[BLOCKS][BLOCK_BYTES];
static OVERLAPPED wov[BLOCKS];	/* one per write: they may overlap */
static atomic_long write_errors;

static OVERLAPPED rov;		/* the one read pending at a time */
static unsigned char rbuf[READ_BYTES];
static DWORD read_bytes, read_sum, reads_failed;	/* TP_IO callback only */
static DWORD wait_result = 12345;

static void fail(const char *what)
{
	printf("pipeline: %s failed (%lu)\n", what, (unsigned long)GetLastError());
	fflush(stdout);
	exit(1);
}

/* TP_TIMER: each of the first BLOCKS ticks submits the work item once. */
static VOID CALLBACK on_tick(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_TIMER t)
{
	long n = atomic_fetch_add(&ticks, 1) + 1;

	(void)inst;
	(void)ctx;
	if (n > BLOCKS)		/* a late tick before the stop took effect */
		return;
	SubmitThreadpoolWork(work);
	if (n == BLOCKS)
		SetThreadpoolTimer(t, NULL, 0, 0);	/* stop, from inside */
}

/* TP_WORK: produce the next block and write it, overlapped. */
static VOID CALLBACK on_work(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_WORK w)
{
	long k = atomic_fetch_add(&next_block, 1);
	int i;

	(void)inst;
	(void)ctx;
	(void)w;
	for (i = 0; i < BLOCK_BYTES; i++)
		blocks[k][i] = (unsigned char)(k * 31 + i * 7);
	if (!WriteFile(wr, blocks[k], BLOCK_BYTES, NULL, &wov[k]) &&
	    GetLastError() != ERROR_IO_PENDING)
		atomic_fetch_add(&write_errors, 1);
	/* either way (done at once or pending) the port gets the completion */
}

static void read_next(void)
{
	StartThreadpoolIo(io);
	memset(&rov, 0, sizeof(rov));
	if (!ReadFile(rd, rbuf, READ_BYTES, NULL, &rov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		CancelThreadpoolIo(io);
		reads_failed++;
		SetEvent(done);
	}
}

/* TP_IO: count what arrived; read on until every block is in. */
static VOID CALLBACK on_read(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PVOID ov, ULONG result, ULONG_PTR bytes, PTP_IO i)
{
	ULONG_PTR j;

	(void)inst;
	(void)ctx;
	(void)ov;
	(void)i;
	if (result != NO_ERROR) {
		reads_failed++;
		SetEvent(done);
		return;
	}
	read_bytes += (DWORD)bytes;
	for (j = 0; j < bytes; j++)
		read_sum += rbuf[j];
	if (read_bytes < BLOCKS * BLOCK_BYTES)
		read_next();
	else
		SetEvent(done);
}

/* TP_WAIT: the reader is done; hand the totals to the main thread. */
static VOID CALLBACK on_done(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_WAIT w, TP_WAIT_RESULT result)
{
	(void)inst;
	(void)ctx;
	(void)w;
	wait_result = result;
	if (!PostQueuedCompletionStatus(port, read_bytes, CK_DONE, NULL))
		fail("PostQueuedCompletionStatus");
}

/* A due time @ms from now: negative, in 100 ns units. */
static void relative_ms(FILETIME *ft, long long ms)
{
	unsigned long long v = (unsigned long long)(-ms * 10000);

	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)(v >> 32);
}

int main(void)
{
	TP_CALLBACK_ENVIRON env;
	PTP_POOL pool;
	PTP_WAIT wait;
	FILETIME due;
	OVERLAPPED_ENTRY e[4];
	ULONG n, i;
	DWORD written = 0, write_packets = 0, write_failed = 0;
	DWORD expect_sum = 0, done_bytes = 0;
	int got_done = 0, k, j;
	BOOL r;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe_open(&rd, &wr))
		fail("opening the pipe");

	pool = CreateThreadpool(NULL);
	if (!pool)
		fail("CreateThreadpool");
	SetThreadpoolThreadMaximum(pool, 4);
	if (!SetThreadpoolThreadMinimum(pool, 1))
		fail("SetThreadpoolThreadMinimum");
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);

	port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	if (!port)
		fail("CreateIoCompletionPort");
	if (CreateIoCompletionPort(wr, port, CK_WRITE, 0) != port)
		fail("associating the writer");
	done = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!done)
		fail("CreateEvent");

	work = CreateThreadpoolWork(on_work, NULL, &env);
	timer = CreateThreadpoolTimer(on_tick, NULL, &env);
	io = CreateThreadpoolIo(rd, on_read, NULL, &env);
	wait = CreateThreadpoolWait(on_done, NULL, &env);
	if (!work || !timer || !io || !wait)
		fail("creating the thread-pool objects");

	/* the wait first, then the reader, then the clock starts */
	relative_ms(&due, 10000);
	SetThreadpoolWait(wait, done, &due);
	read_next();
	relative_ms(&due, 10);			/* first tick */
	SetThreadpoolTimer(timer, &due, 20, 0);
	printf("pipeline: timer set=%s\n", IsThreadpoolTimerSet(timer) ? "yes" : "no");

	/* collect every write's completion and the totals */
	while (!got_done || write_packets < BLOCKS) {
		r = GetQueuedCompletionStatusEx(port, e, 4, &n, 10000, FALSE);
		if (!r)
			fail("GetQueuedCompletionStatusEx");
		for (i = 0; i < n; i++) {
			if (e[i].lpCompletionKey == CK_WRITE) {
				write_packets++;
				written += e[i].dwNumberOfBytesTransferred;
				/* the status is in the OVERLAPPED (0: success);
				 * the entry's Internal is reserved on Windows */
				if (e[i].lpOverlapped < &wov[0] ||
				    e[i].lpOverlapped >= &wov[BLOCKS] ||
				    e[i].lpOverlapped->Internal != 0)
					write_failed++;
			} else if (e[i].lpCompletionKey == CK_DONE &&
				   !e[i].lpOverlapped) {
				got_done = 1;
				done_bytes = e[i].dwNumberOfBytesTransferred;
			} else {
				printf("pipeline: unexpected packet key=%lu\n",
				       (unsigned long)e[i].lpCompletionKey);
			}
		}
	}

	WaitForThreadpoolTimerCallbacks(timer, FALSE);
	WaitForThreadpoolWorkCallbacks(work, FALSE);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	WaitForThreadpoolWaitCallbacks(wait, FALSE);

	for (k = 0; k < BLOCKS; k++)
		for (j = 0; j < BLOCK_BYTES; j++)
			expect_sum += (unsigned char)(k * 31 + j * 7);

	printf("pipeline: ticks=%ld timer set=%s\n",
	       (long)(ticks < BLOCKS ? ticks : BLOCKS),
	       IsThreadpoolTimerSet(timer) ? "yes" : "no");
	printf("pipeline: work blocks=%ld write errors=%ld\n",
	       (long)next_block, (long)write_errors);
	printf("pipeline: port write completions=%lu bytes=%lu failed=%lu\n",
	       (unsigned long)write_packets, (unsigned long)written,
	       (unsigned long)write_failed);
	printf("pipeline: io read bytes=%lu sum %s failed=%lu\n",
	       (unsigned long)read_bytes,
	       read_sum == expect_sum ? "matches" : "differs",
	       (unsigned long)reads_failed);
	printf("pipeline: wait result=%s posted bytes=%lu\n",
	       wait_result == WAIT_OBJECT_0 ? "WAIT_OBJECT_0" :
	       wait_result == WAIT_TIMEOUT ? "WAIT_TIMEOUT" : "other",
	       (unsigned long)done_bytes);

	/* the port is empty now: a batch dequeue with no wait times out */
	r = GetQueuedCompletionStatusEx(port, e, 4, &n, 0, FALSE);
	printf("pipeline: empty port=%s error=%s\n", r ? "TRUE" : "FALSE",
	       !r && GetLastError() == WAIT_TIMEOUT ? "WAIT_TIMEOUT" : "other");

	CloseThreadpoolWait(wait);
	CloseThreadpoolIo(io);
	CloseThreadpoolTimer(timer);
	CloseThreadpoolWork(work);
	DestroyThreadpoolEnvironment(&env);
	CloseThreadpool(pool);
	CloseHandle(done);
	CloseHandle(rd);
	CloseHandle(wr);
	CloseHandle(port);

	if (write_errors || write_failed || reads_failed ||
	    written != BLOCKS * BLOCK_BYTES || read_sum != expect_sum ||
	    done_bytes != BLOCKS * BLOCK_BYTES || wait_result != WAIT_OBJECT_0) {
		printf("pipeline: FAILED\n");
		return 1;
	}
	printf("pipeline: ok\n");
	return 0;
}
