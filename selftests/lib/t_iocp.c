// SPDX-License-Identifier: MIT
/*
 * Completion ports without I/O (Documentation/contract.rst, section 12):
 * posted packets, FIFO order, batches, timeouts, a port closed under its
 * waiters, newest-first wake-ups, the concurrency limit, many threads, and
 * the port fd handed to another process (kmod). The I/O half is
 * t_iocp_io.c. Included by scenarios.c.
 */
#include <sys/wait.h>

static HANDLE iocp_new(DWORD threads)
{
	return CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, threads);
}

/* 1000 posts come out in order with their values; then WAIT_TIMEOUT. */
TEST_F(tp, iocp_post_fifo_round_trip)
{
	static OVERLAPPED ov[1000];
	HANDLE port = iocp_new(0);
	LPOVERLAPPED got;
	ULONG_PTR key;
	DWORD bytes;
	int i;

	ASSERT_NE(NULL, port);
	for (i = 0; i < 1000; i++)
		ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, (DWORD)i * 7,
							   (ULONG_PTR)i << 33 | 5,
							   &ov[i]));
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 0xffffffffU,
						   ~(ULONG_PTR)0, NULL));
	for (i = 0; i < 1000; i++) {
		ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key,
							  &got, 0));
		ASSERT_EQ(&ov[i], got);
		ASSERT_EQ((DWORD)i * 7, bytes);
		ASSERT_EQ((ULONG_PTR)i << 33 | 5, key);
	}
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 0));
	EXPECT_EQ(NULL, got);
	EXPECT_EQ(0xffffffffU, bytes);
	EXPECT_EQ(~(ULONG_PTR)0, key);
	got = &ov[0];
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 0));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	EXPECT_EQ(NULL, got);
	EXPECT_EQ(TRUE, CloseHandle(port));
}

/* More packets than the ring holds; batches of every size; fewer than asked. */
TEST_F(tp, iocp_ex_batches_and_overflow)
{
	static OVERLAPPED_ENTRY e[1500];
	HANDLE port = iocp_new(0);
	ULONG n, want = 1, next = 0, i;
	const ULONG total = 6000;

	ASSERT_NE(NULL, port);
	for (i = 0; i < total; i++)
		ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, i, i + 1,
							   (LPOVERLAPPED)(uintptr_t)(i * 8 + 8)));
	while (next < total) {
		ASSERT_EQ(TRUE, GetQueuedCompletionStatusEx(port, e, want, &n,
							    0, want & 1));
		ASSERT_LE(1U, n);
		ASSERT_GE(want, n);
		for (i = 0; i < n; i++, next++) {
			ASSERT_EQ(next, e[i].dwNumberOfBytesTransferred);
			ASSERT_EQ(next + 1, e[i].lpCompletionKey);
			ASSERT_EQ((uintptr_t)(next * 8 + 8),
				  (uintptr_t)e[i].lpOverlapped);
			ASSERT_EQ(0U, e[i].Internal);
		}
		want = want * 3 % 1499 + 1;
	}
	ASSERT_EQ(total, next);
	/* fewer than asked: 3 queued, 1500 asked */
	for (i = 0; i < 3; i++)
		PostQueuedCompletionStatus(port, i, i, NULL);
	ASSERT_EQ(TRUE, GetQueuedCompletionStatusEx(port, e, 1500, &n, 1000,
						    FALSE));
	EXPECT_EQ(3U, n);
	n = 7;
	EXPECT_EQ(FALSE, GetQueuedCompletionStatusEx(port, e, 4, &n, 0, FALSE));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	EXPECT_EQ(0U, n);
	EXPECT_EQ(FALSE, GetQueuedCompletionStatusEx(port, e, 0, &n, 0, FALSE));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	CloseHandle(port);
}

/* Timeouts are honoured: not early, not much late; INFINITE waits. */
TEST_F(tp, iocp_timeouts)
{
	OVERLAPPED_ENTRY e[2];
	HANDLE port = iocp_new(0);
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;
	ULONG n;
	int64_t t0;

	ASSERT_NE(NULL, port);
	t0 = now_ms();
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 150));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	EXPECT_LE(145, now_ms() - t0);
	EXPECT_GT(2000, now_ms() - t0);
	t0 = now_ms();
	EXPECT_EQ(FALSE, GetQueuedCompletionStatusEx(port, e, 2, &n, 100, TRUE));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	EXPECT_LE(95, now_ms() - t0);
	CloseHandle(port);
}

struct iocp_waiter {
	HANDLE port;
	DWORD ms;
	BOOL r;
	DWORD err;
	LPOVERLAPPED ov;
	DWORD bytes;
	ULONG_PTR key;
	atomic_int done;
};

static void iocp_waiter_fn(void *arg)
{
	struct iocp_waiter *w = arg;

	w->ov = (LPOVERLAPPED)1;
	w->r = GetQueuedCompletionStatus(w->port, &w->bytes, &w->key, &w->ov,
					 w->ms);
	w->err = GetLastError();
	atomic_store(&w->done, 1);
}

/* Closing the port's handle releases every waiter: ERROR_ABANDONED_WAIT_0. */
TEST_F(tp, iocp_close_while_waiting)
{
	struct iocp_waiter w[3];
	struct bg b[3];
	HANDLE port = iocp_new(0);
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;
	int i;

	ASSERT_NE(NULL, port);
	for (i = 0; i < 3; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].port = port;
		w[i].ms = i ? INFINITE : 20000;
		ASSERT_TRUE(bg_start(&b[i], iocp_waiter_fn, &w[i]));
	}
	sleep_ms(100);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, atomic_load(&w[i].done));
	ASSERT_EQ(TRUE, CloseHandle(port));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, bg_join(&b[i], 5000));
		EXPECT_EQ(FALSE, w[i].r);
		EXPECT_EQ(ERROR_ABANDONED_WAIT_0, w[i].err);
		EXPECT_EQ(NULL, w[i].ov);
	}
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, PostQueuedCompletionStatus(port, 0, 0, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, CloseHandle(port));
}

/* A post wakes the newest waiter first (NT's LIFO), the older keeps waiting. */
TEST_F(tp, iocp_wakes_newest_waiter_first)
{
	struct iocp_waiter w[2];
	struct bg b[2];
	HANDLE port = iocp_new(0);
	OVERLAPPED ov;
	int i;

	ASSERT_NE(NULL, port);
	for (i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].port = port;
		w[i].ms = INFINITE;
		ASSERT_TRUE(bg_start(&b[i], iocp_waiter_fn, &w[i]));
		sleep_ms(100);
	}
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 3, 4, &ov));
	ASSERT_EQ(0, bg_join(&b[1], 5000));
	EXPECT_EQ(TRUE, w[1].r);
	EXPECT_EQ(&ov, w[1].ov);
	EXPECT_EQ(3U, w[1].bytes);
	EXPECT_EQ(4U, w[1].key);
	sleep_ms(50);
	EXPECT_EQ(0, atomic_load(&w[0].done));
	CloseHandle(port);
	ASSERT_EQ(0, bg_join(&b[0], 5000));
	EXPECT_EQ(ERROR_ABANDONED_WAIT_0, w[0].err);
}

struct iocp_holder {
	HANDLE port;
	struct gate got, leave;
	atomic_int go;		/* with spin: leave */
	int spin;		/* hold by running, not by blocking */
	BOOL r;
};

/*
 * Dequeue one packet, then hold it (stay active) until told to leave:
 * running (spin), which every model counts, or blocked on a gate, which
 * the kernel's concurrency control does not count (NT's rule).
 */
static void iocp_holder_fn(void *arg)
{
	struct iocp_holder *h = arg;
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;
	int64_t end;

	h->r = GetQueuedCompletionStatus(h->port, &bytes, &key, &ov, 5000);
	gate_open(&h->got);
	if (!h->spin) {
		gate_wait(&h->leave);
		return;
	}
	end = now_ms() + 5 * RELEASED_MS;
	while (!atomic_load(&h->go) && now_ms() < end)
		;
}

/*
 * NumberOfConcurrentThreads 1: while one thread is active on the port (it
 * runs), a second one waits even with a packet queued; when the first
 * thread exits (or calls GetQueuedCompletionStatus again) the second gets
 * it.
 */
TEST_F(tp, iocp_concurrency_limit)
{
	struct iocp_holder h;
	struct iocp_waiter w;
	struct bg bh, bw;
	HANDLE port = iocp_new(1);
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;

	ASSERT_NE(NULL, port);
	memset(&h, 0, sizeof(h));
	h.port = port;
	h.spin = 1;
	gate_init(&h.got);
	gate_init(&h.leave);
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 1, 1, NULL));
	ASSERT_TRUE(bg_start(&bh, iocp_holder_fn, &h));
	ASSERT_TRUE(gate_wait(&h.got));
	ASSERT_EQ(TRUE, h.r);

	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 2, 2, NULL));
	/* this thread is not admitted: the packet stays queued */
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 200));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());

	memset(&w, 0, sizeof(w));
	w.port = port;
	w.ms = 5000;
	ASSERT_TRUE(bg_start(&bw, iocp_waiter_fn, &w));
	sleep_ms(100);
	EXPECT_EQ(0, atomic_load(&w.done));
	atomic_store(&h.go, 1);		/* the active thread exits */
	ASSERT_EQ(0, bg_join(&bh, 5000));
	ASSERT_EQ(0, bg_join(&bw, 5000));
	EXPECT_EQ(TRUE, w.r);
	EXPECT_EQ(2U, w.key);

	/* a thread that dequeues again releases its own place first */
	PostQueuedCompletionStatus(port, 3, 3, NULL);
	PostQueuedCompletionStatus(port, 4, 4, NULL);
	EXPECT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 1000));
	EXPECT_EQ(3U, key);
	EXPECT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 1000));
	EXPECT_EQ(4U, key);
	CloseHandle(port);
}

/*
 * NumberOfConcurrentThreads 1, and the thread that dequeued blocks (on a
 * gate) rather than runs. With the module's concurrency control, as on NT,
 * it stops counting while blocked: a second thread's
 * GetQueuedCompletionStatus gets the next packet while it is blocked. The
 * library alone cannot see the block: there the second thread waits
 * (Documentation/contract.rst, section 12).
 */
TEST_F(tp, iocp_blocked_thread_lets_another_through)
{
	const char *why = conc_why_not();
	struct iocp_holder h;
	struct iocp_waiter w;
	struct bg bh, bw;
	HANDLE port = iocp_new(1);

	ASSERT_NE(NULL, port);
	memset(&h, 0, sizeof(h));
	h.port = port;
	gate_init(&h.got);
	gate_init(&h.leave);
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 1, 1, NULL));
	ASSERT_TRUE(bg_start(&bh, iocp_holder_fn, &h));
	ASSERT_TRUE(gate_wait(&h.got));
	ASSERT_EQ(TRUE, h.r);

	memset(&w, 0, sizeof(w));
	w.port = port;
	w.ms = 1000;
	ASSERT_TRUE(bg_start(&bw, iocp_waiter_fn, &w));
	sleep_ms(50);
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(port, 2, 2, NULL));
	ASSERT_EQ(0, bg_join(&bw, 5000));
	TH_LOG("kernel counts: %s; the second thread %s", why ? why : "yes",
	       w.r ? "got the packet" : "timed out");
	if (why) {
		EXPECT_EQ(FALSE, w.r);
		EXPECT_EQ(WAIT_TIMEOUT, w.err);
	} else {
		EXPECT_EQ(TRUE, w.r);
		EXPECT_EQ(2U, w.key);
	}
	gate_open(&h.leave);
	ASSERT_EQ(0, bg_join(&bh, 5000));
	CloseHandle(port);
}

#define IOCP_PRODUCERS	3
#define IOCP_CONSUMERS	3
#define IOCP_PER	4000

struct iocp_mt {
	HANDLE port;
	atomic_int taken;
	atomic_llong sum;
	int id;
};

static void iocp_producer(void *arg)
{
	struct iocp_mt *m = arg;
	int i;

	for (i = 1; i <= IOCP_PER; i++)
		while (!PostQueuedCompletionStatus(m->port, (DWORD)i, 1, NULL))
			sched_yield();	/* full: let the consumers run */
}

static void iocp_consumer(void *arg)
{
	struct iocp_mt *m = arg;
	OVERLAPPED_ENTRY e[16];
	ULONG n, i;

	while (atomic_load(&m->taken) < IOCP_PRODUCERS * IOCP_PER) {
		if (!GetQueuedCompletionStatusEx(m->port, e, 16, &n, 50, FALSE))
			continue;
		for (i = 0; i < n; i++) {
			atomic_fetch_add(&m->sum, e[i].dwNumberOfBytesTransferred);
			atomic_fetch_add(&m->taken, 1);
		}
	}
}

/* Producers and consumers at once: nothing lost, nothing twice. */
TEST_F(tp, iocp_many_threads)
{
	static struct iocp_mt m;
	struct bg p[IOCP_PRODUCERS], c[IOCP_CONSUMERS];
	long long want = (long long)IOCP_PRODUCERS * IOCP_PER * (IOCP_PER + 1) / 2;
	int i;

	m.port = iocp_new(IOCP_CONSUMERS);
	ASSERT_NE(NULL, m.port);
	for (i = 0; i < IOCP_CONSUMERS; i++)
		ASSERT_TRUE(bg_start(&c[i], iocp_consumer, &m));
	for (i = 0; i < IOCP_PRODUCERS; i++)
		ASSERT_TRUE(bg_start(&p[i], iocp_producer, &m));
	for (i = 0; i < IOCP_PRODUCERS; i++)
		ASSERT_EQ(0, bg_join(&p[i], 60000));
	ASSERT_TRUE(wait_count(&m.taken, IOCP_PRODUCERS * IOCP_PER, 60000));
	EXPECT_EQ(want, atomic_load(&m.sum));
	for (i = 0; i < IOCP_CONSUMERS; i++)
		ASSERT_EQ(0, bg_join(&c[i], 10000));
	EXPECT_EQ(IOCP_PRODUCERS * IOCP_PER, atomic_load(&m.taken));
	CloseHandle(m.port);
}

/* Wrong handles and arguments. */
TEST_F(tp, iocp_bad_arguments)
{
	HANDLE port = iocp_new(0), ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	OVERLAPPED_ENTRY e[1];
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;
	ULONG n;

	ASSERT_NE(NULL, port);
	EXPECT_EQ(NULL, CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 1, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(NULL, CreateIoCompletionPort(self->h, ev, 1, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(ev, &bytes, &key, &ov, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, NULL, &key, &ov, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(FALSE, GetQueuedCompletionStatusEx(port, NULL, 1, &n, 0, FALSE));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(FALSE, GetQueuedCompletionStatusEx(port, e, 1, NULL, 0, FALSE));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(WAIT_FAILED, WaitForSingleObject(port, 0));
	EXPECT_EQ(NULL, tpio_port_from_fd(self->pfd[0]));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(-1, tpio_port_fd(ev));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	CloseHandle(ev);
	CloseHandle(port);
}

/*
 * The port fd (kmod): a post-only handle made from it posts into the
 * port, from this process and from a forked child; on user there is none.
 */
TEST_F(tp, iocp_port_fd_posts_from_another_process)
{
	HANDLE port = iocp_new(0), remote;
	LPOVERLAPPED ov;
	ULONG_PTR key;
	DWORD bytes;
	int fd, status;
	pid_t pid;

	ASSERT_NE(NULL, port);
	fd = tpio_port_fd(port);
	if (strcmp(tpio_backend(), "kmod")) {
		EXPECT_EQ(-1, fd);
		EXPECT_EQ(ERROR_NOT_SUPPORTED, GetLastError());
		CloseHandle(port);
		return;
	}
	ASSERT_LE(0, fd);
	remote = tpio_port_from_fd(fd);
	ASSERT_NE(NULL, remote);
	ASSERT_EQ(TRUE, PostQueuedCompletionStatus(remote, 11, 22,
						   (LPOVERLAPPED)(uintptr_t)33));
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &ov, 1000));
	EXPECT_EQ(11U, bytes);
	EXPECT_EQ(22U, key);
	EXPECT_EQ((uintptr_t)33, (uintptr_t)ov);
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(remote, &bytes, &key, &ov, 0));
	EXPECT_EQ(ERROR_NOT_SUPPORTED, GetLastError());
	EXPECT_EQ(TRUE, CloseHandle(remote));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		HANDLE r;
		int i, ok = 1;

		sleep_ms(100);	/* the parent waits first */
		r = tpio_port_from_fd(fd);
		for (i = 0; r && i < 100; i++)
			ok &= PostQueuedCompletionStatus(r, (DWORD)i, 7, NULL);
		_exit(r && ok ? 0 : 1);
	}
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key,
							  &ov, 5000));
		ASSERT_EQ((DWORD)i, bytes);
		ASSERT_EQ(7U, key);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	CloseHandle(port);
}
