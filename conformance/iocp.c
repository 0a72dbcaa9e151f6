// SPDX-License-Identifier: MIT
/*
 * iocp: completion ports (Documentation/contract.rst, section 12):
 * CreateIoCompletionPort, GetQueuedCompletionStatus(Ex),
 * PostQueuedCompletionStatus and CloseHandle on a port, with posted
 * packets and with real overlapped ReadFile on an associated pipe.
 * Scenario names are "p" and a number (section 12's list).
 */
#include "harness.h"

static OVERLAPPED ovs[8];
static char bufs[8][8];

/* "ovN" for ovs[N-1], "NULL", or "ov?" */
static const char *ov_name(LPOVERLAPPED ov)
{
	static char s[4][16];
	static int k;
	int i;

	k = (k + 1) & 3;
	if (!ov)
		return "NULL";
	for (i = 0; i < 8; i++)
		if (ov == &ovs[i]) {
			snprintf(s[k], sizeof(s[k]), "ov%d", i + 1);
			return s[k];
		}
	return "ov?";
}

static const char *outcome(BOOL r, DWORD err)
{
	static char s[2][64];
	static int k;

	k ^= 1;
	if (r)
		return "TRUE";
	snprintf(s[k], sizeof(s[k]), "FALSE error=%lu", (unsigned long)err);
	return s[k];
}

static HANDLE new_port(DWORD threads)
{
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0,
					     threads);

	if (!port)
		die("CreateIoCompletionPort");
	return port;
}

/* One GetQueuedCompletionStatus, printed. */
static void dequeue(const char *scen, HANDLE port, DWORD ms)
{
	DWORD bytes = 12345;
	ULONG_PTR key = 12345;
	LPOVERLAPPED ov = &ovs[7];
	BOOL r;

	SetLastError(0);
	r = GetQueuedCompletionStatus(port, &bytes, &key, &ov, ms);
	if (!r && !ov)
		say(scen, "GQCS(%lu): %s ov=NULL", (unsigned long)ms,
		    outcome(r, GetLastError()));
	else
		say(scen, "GQCS(%lu): %s bytes=%lu key=%lu ov=%s",
		    (unsigned long)ms, outcome(r, GetLastError()),
		    (unsigned long)bytes, (unsigned long)key, ov_name(ov));
}

/* An empty port: no wait, a short wait. */
static void p01(void)
{
	HANDLE port = new_port(0);

	say("p01", "CreateIoCompletionPort(INVALID_HANDLE_VALUE): port=%s",
	    yesno(port != NULL));
	dequeue("p01", port, 0);
	dequeue("p01", port, 50);
	CloseHandle(port);
}

/* Posted packets come out oldest first with their values. */
static void p02(void)
{
	HANDLE port = new_port(1);
	BOOL r;
	int i;

	for (i = 0; i < 3; i++) {
		r = PostQueuedCompletionStatus(port, i + 1, (i + 1) * 10,
					       &ovs[i]);
		say("p02", "Post %d: %s", i + 1, outcome(r, GetLastError()));
	}
	r = PostQueuedCompletionStatus(port, 0xffffffff, ~(ULONG_PTR)0, NULL);
	say("p02", "Post of extreme values: %s", outcome(r, GetLastError()));
	for (i = 0; i < 3; i++)
		dequeue("p02", port, 0);
	{
		DWORD bytes = 0;
		ULONG_PTR key = 0;
		LPOVERLAPPED ov = &ovs[0];

		r = GetQueuedCompletionStatus(port, &bytes, &key, &ov, 0);
		say("p02", "extreme: %s bytes=%#lx key==~0=%s ov=%s",
		    outcome(r, GetLastError()), (unsigned long)bytes,
		    yesno(key == ~(ULONG_PTR)0), ov_name(ov));
	}
	dequeue("p02", port, 0);
	CloseHandle(port);
}

static void show_entries(const char *scen, OVERLAPPED_ENTRY *e, ULONG n)
{
	ULONG i;

	for (i = 0; i < n; i++)
		say(scen, "entry %lu: bytes=%lu key=%lu ov=%s Internal=%lu",
		    (unsigned long)i, (unsigned long)e[i].dwNumberOfBytesTransferred,
		    (unsigned long)e[i].lpCompletionKey, ov_name(e[i].lpOverlapped),
		    (unsigned long)e[i].Internal);
}

/* GetQueuedCompletionStatusEx: fewer packets than asked, then a batch
 * smaller than the queue, then an empty port, then bad arguments. */
static void p03(void)
{
	HANDLE port = new_port(0);
	OVERLAPPED_ENTRY e[8];
	ULONG n;
	BOOL r;
	int i;

	for (i = 0; i < 3; i++)
		PostQueuedCompletionStatus(port, i + 1, (i + 1) * 10, &ovs[i]);
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 8, &n, 0, FALSE);
	say("p03", "Ex(8) with 3 queued: %s removed=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	show_entries("p03", e, r ? n : 0);

	for (i = 0; i < 3; i++)
		PostQueuedCompletionStatus(port, i + 4, (i + 4) * 10, &ovs[i + 3]);
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 2, &n, 0, FALSE);
	say("p03", "Ex(2) with 3 queued: %s removed=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	show_entries("p03", e, r ? n : 0);
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 2, &n, 0, TRUE);
	say("p03", "Ex(2), alertable, with 1 queued: %s removed=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	show_entries("p03", e, r ? n : 0);

	n = 99;
	SetLastError(0);
	r = GetQueuedCompletionStatusEx(port, e, 8, &n, 0, FALSE);
	say("p03", "Ex(8) empty, no wait: %s removed=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 8, &n, 30, FALSE);
	say("p03", "Ex(8) empty, 30 ms: %s removed=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	PostQueuedCompletionStatus(port, 1, 1, NULL);
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 0, &n, 0, FALSE);
	say("p03", "Ex(0): %s", outcome(r, GetLastError()));
	n = 99;
	r = GetQueuedCompletionStatusEx(port, e, 1, &n, 0, FALSE);
	say("p03", "then Ex(1): %s removed=%lu", outcome(r, GetLastError()),
	    (unsigned long)n);
	CloseHandle(port);
}

struct gq_waiter {
	HANDLE port;
	DWORD ms;
	BOOL r;
	DWORD err;
	LPOVERLAPPED ov;
	DWORD bytes;
	ULONG_PTR key;
};

static void gq_waiter_main(void *arg)
{
	struct gq_waiter *w = arg;

	w->ov = &ovs[7];
	SetLastError(0);
	w->r = GetQueuedCompletionStatus(w->port, &w->bytes, &w->key, &w->ov,
					 w->ms);
	w->err = GetLastError();
}

/* A thread waiting on the port gets a packet posted later; the port is
 * closed while a thread waits on it. */
static void p04(void)
{
	struct gq_waiter w = { .ms = LONG_MS };
	port_thread *t;
	int joined;

	w.port = new_port(0);
	t = port_thread_start(gq_waiter_main, &w);
	Sleep(SHORT_MS);
	PostQueuedCompletionStatus(w.port, 5, 55, &ovs[0]);
	joined = port_thread_join(t, LONG_MS);
	say("p04", "a waiting thread, then a post: returned=%s %s bytes=%lu key=%lu ov=%s",
	    yesno(joined), outcome(w.r, w.err), (unsigned long)w.bytes,
	    (unsigned long)w.key, ov_name(w.ov));

	w.ms = 2 * LONG_MS;
	t = port_thread_start(gq_waiter_main, &w);
	Sleep(SHORT_MS);
	CloseHandle(w.port);
	joined = port_thread_join(t, LONG_MS);
	say("p04", "port closed while a thread waits: returned=%s", yesno(joined));
	if (joined)
		say("p04", "the waiter: %s ov=%s", outcome(w.r, w.err),
		    ov_name(w.ov));
	dequeue("p04", w.port, 0);
	SetLastError(0);
	joined = PostQueuedCompletionStatus(w.port, 1, 1, NULL);
	say("p04", "Post to the closed port: %s", outcome(joined, GetLastError()));
}

/* Wrong handles and arguments. */
static void p05(void)
{
	HANDLE port = new_port(0), h, r;
	struct port_pipe pp;

	SetLastError(0);
	r = CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 1, 0);
	say("p05", "INVALID_HANDLE_VALUE with an existing port: %s error=%lu",
	    r ? "port" : "NULL", (unsigned long)GetLastError());
	if (port_pipe_open(&pp))
		die("pipe");
	h = port_pipe_handle(&pp);
	r = CreateIoCompletionPort(h, port, 7, 0);
	say("p05", "associate a pipe: same port=%s", yesno(r == port));
	SetLastError(0);
	r = CreateIoCompletionPort(h, port, 8, 0);
	say("p05", "associate it again: %s error=%lu", r ? "port" : "NULL",
	    (unsigned long)GetLastError());
	port_pipe_close(&pp);
	CloseHandle(port);
}

/* Overlapped reads on an associated pipe complete to the port. */
static void p06(void)
{
	HANDLE port = new_port(0), h;
	struct port_pipe pp;
	DWORD n = 0;
	BOOL r;

	if (port_pipe_open(&pp))
		die("pipe");
	h = port_pipe_handle(&pp);
	if (CreateIoCompletionPort(h, port, 77, 0) != port)
		die("associate");

	/* pending, then the data */
	SetLastError(0);
	r = ReadFile(h, bufs[0], 1, &n, &ovs[0]);
	say("p06", "ReadFile with no data: %s", outcome(r, GetLastError()));
	dequeue("p06", port, 0);
	port_write(&pp, "a", 1);
	dequeue("p06", port, LONG_MS);

	/* the data first: TRUE at once, and the packet still comes */
	port_write(&pp, "b", 1);
	Sleep(50);
	SetLastError(0);
	r = ReadFile(h, bufs[1], 1, &n, &ovs[1]);
	say("p06", "ReadFile with the data there: %s n=%lu buf=%c",
	    outcome(r, GetLastError()), (unsigned long)n, bufs[1][0]);
	dequeue("p06", port, LONG_MS);

	/* an event with bit 0 set: no packet */
	port_write(&pp, "c", 1);
	Sleep(50);
	ovs[2].hEvent = (HANDLE)((ULONG_PTR)CreateEventW(NULL, TRUE, FALSE, NULL) | 1);
	r = ReadFile(h, bufs[2], 1, &n, &ovs[2]);
	say("p06", "ReadFile, event with bit 0: %s", outcome(r, GetLastError()));
	dequeue("p06", port, 50);
	CloseHandle((HANDLE)((ULONG_PTR)ovs[2].hEvent & ~(ULONG_PTR)1));
	ovs[2].hEvent = NULL;

	/* skip on success */
	r = SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
	say("p06", "SetFileCompletionNotificationModes: %s",
	    outcome(r, GetLastError()));
	port_write(&pp, "d", 1);
	Sleep(50);
	r = ReadFile(h, bufs[3], 1, &n, &ovs[3]);
	say("p06", "ReadFile with the data there, skip-on-success: %s n=%lu",
	    outcome(r, GetLastError()), (unsigned long)n);
	dequeue("p06", port, 50);
	SetLastError(0);
	r = ReadFile(h, bufs[4], 1, &n, &ovs[4]);
	say("p06", "ReadFile with no data, skip-on-success: %s",
	    outcome(r, GetLastError()));
	port_write(&pp, "e", 1);
	dequeue("p06", port, LONG_MS);

	/* a failed I/O: the writer goes away under a pending read */
	SetLastError(0);
	r = ReadFile(h, bufs[5], 1, &n, &ovs[5]);
	say("p06", "ReadFile with no data: %s", outcome(r, GetLastError()));
	port_close_writer(&pp);
	dequeue("p06", port, LONG_MS);
	dequeue("p06", port, 0);
	port_pipe_close(&pp);
	CloseHandle(port);
}

/* Posts and I/O share one FIFO; packets queued before CloseHandle of the
 * file are still dequeued. */
static void p07(void)
{
	HANDLE port = new_port(0), h;
	struct port_pipe pp;
	DWORD n = 0;

	if (port_pipe_open(&pp))
		die("pipe");
	h = port_pipe_handle(&pp);
	if (CreateIoCompletionPort(h, port, 9, 0) != port)
		die("associate");
	PostQueuedCompletionStatus(port, 1, 1, &ovs[0]);
	ReadFile(h, bufs[1], 1, &n, &ovs[1]);
	port_write(&pp, "x", 1);
	port_wait_ov(&ovs[1], LONG_MS);
	PostQueuedCompletionStatus(port, 3, 3, &ovs[2]);
	port_pipe_close(&pp);
	dequeue("p07", port, LONG_MS);
	dequeue("p07", port, LONG_MS);
	dequeue("p07", port, LONG_MS);
	dequeue("p07", port, 0);
	CloseHandle(port);
}

int main(void)
{
	port_init();
	p01();
	p02();
	p03();
	p04();
	p05();
	p06();
	p07();
	return port_finish();
}
