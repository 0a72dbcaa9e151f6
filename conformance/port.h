/* SPDX-License-Identifier: MIT */
/*
 * port.h: the only place where the conformance programs differ between
 * Windows (built with mingw-w64, run under Wine: the reference) and Linux
 * (built against libtpio).
 *
 * The fixture is a pipe whose read end is bound to a TP_IO, and every
 * "I/O" is a real overlapped ReadFile on that end:
 *  - Windows: an overlapped byte-mode named pipe (server end, bound) and a
 *    synchronous client end (the writer);
 *  - Linux: pipe2(O_CLOEXEC), the read end wrapped by tpio_handle_from_fd()
 *    and read with libtpio's ReadFile; the writer is the other end.
 * port_read_issue() issues an overlapped 1..n byte ReadFile, which must go
 * pending; port_complete() writes n bytes on the writer and waits until
 * one more of the reads issued through port_read_issue() has completed
 * (HasOverlappedIoCompleted), so that each write completes exactly one
 * read before the next write. Which of several pending reads a write
 * completes is up to the system: the scenarios that print it keep one
 * read pending at a time, and io.c checks the order on its own.
 * port_pipe_close() cancels and waits for any read still pending, so no
 * completion writes into a freed OVERLAPPED. port_file_open() makes a
 * temporary regular file for overlapped reads at an offset.
 *
 * Besides the fixture: threads that can be joined with a time limit (a
 * thread stuck in a Wine hang is left behind, and the program ends with
 * port_exit()), the process's thread count, and port_finish(), where the
 * Linux side adds the checks Windows cannot make (no TP_IO leaked); those
 * go to stderr and the exit status, never to the transcript.
 */
#ifndef CONFORMANCE_PORT_H
#define CONFORMANCE_PORT_H

#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE		/* pipe2, mkostemp */
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT_MAX_READS	64	/* reads issued on one pipe */
#define PORT_LONG_MS	5000	/* "forever" for a read to complete */

#ifdef _WIN32

#include <windows.h>
#include <tlhelp32.h>
#include <fcntl.h>
#include <io.h>

#define PORT_SIDE "windows"

struct port_pipe {
	HANDLE rd;	/* server end, FILE_FLAG_OVERLAPPED, bound to the TP_IO */
	HANDLE wr;	/* client end, synchronous; NULL once closed */
	OVERLAPPED *issued[PORT_MAX_READS];	/* reads issued, in order */
	int n_issued;
	int n_written;	/* port_complete() calls */
};

static inline void port_init(void)
{
	_setmode(_fileno(stdout), _O_BINARY);
	setvbuf(stdout, NULL, _IONBF, 0);
}

static inline int port_pipe_open(struct port_pipe *p)
{
	static LONG serial;
	char name[96];
	OVERLAPPED ov;

	memset(p, 0, sizeof(*p));
	snprintf(name, sizeof(name), "\\\\.\\pipe\\tpio-conformance-%lu-%ld",
		 GetCurrentProcessId(), InterlockedIncrement(&serial));
	p->rd = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
				 PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
				 1, 4096, 4096, 0, NULL);
	if (p->rd == INVALID_HANDLE_VALUE)
		return -1;
	p->wr = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			    OPEN_EXISTING, 0, NULL);
	if (p->wr == INVALID_HANDLE_VALUE) {
		CloseHandle(p->rd);
		return -1;
	}
	/* the client is connected already: this returns ERROR_PIPE_CONNECTED */
	memset(&ov, 0, sizeof(ov));
	if (!ConnectNamedPipe(p->rd, &ov) &&
	    GetLastError() != ERROR_PIPE_CONNECTED) {
		CloseHandle(p->wr);
		CloseHandle(p->rd);
		return -1;
	}
	return 0;
}

static inline HANDLE port_pipe_handle(struct port_pipe *p)
{
	return p->rd;
}

/* Write @n bytes of @data on the writer end; 0 on success. */
static inline int port_write(struct port_pipe *p, const void *data, DWORD n)
{
	DWORD done = 0;

	if (!WriteFile(p->wr, data, n, &done, NULL) || done != n) {
		fprintf(stderr, "port: WriteFile failed: %lu\n", GetLastError());
		return -1;
	}
	return 0;
}

/* Close the writer end: the reader sees a broken pipe. */
static inline void port_close_writer(struct port_pipe *p)
{
	if (p->wr)
		CloseHandle(p->wr);
	p->wr = NULL;
}

static inline void port_close_reader(struct port_pipe *p)
{
	CloseHandle(p->rd);
}

/*
 * A temporary regular file holding @n bytes of @data, opened for
 * overlapped I/O (FILE_FLAG_OVERLAPPED) and deleted when closed;
 * INVALID_HANDLE_VALUE on failure.
 */
static inline HANDLE port_file_open(const void *data, DWORD n)
{
	char dir[MAX_PATH], path[MAX_PATH];
	DWORD done = 0;
	HANDLE h;
	BOOL ok;

	if (!GetTempPathA(sizeof(dir), dir) ||
	    !GetTempFileNameA(dir, "tpc", 0, path))
		return INVALID_HANDLE_VALUE;
	h = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return h;
	ok = WriteFile(h, data, n, &done, NULL) && done == n;
	CloseHandle(h);
	if (!ok) {
		DeleteFileA(path);
		return INVALID_HANDLE_VALUE;
	}
	return CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL,
			   OPEN_EXISTING,
			   FILE_FLAG_OVERLAPPED | FILE_FLAG_DELETE_ON_CLOSE, NULL);
}

static inline void port_file_close(HANDLE h)
{
	CloseHandle(h);
}

typedef struct port_thread {
	HANDLE h;
	void (*fn)(void *);
	void *arg;
} port_thread;

static DWORD WINAPI port_thread_main(LPVOID p)
{
	port_thread *t = p;

	t->fn(t->arg);
	return 0;
}

static inline port_thread *port_thread_start(void (*fn)(void *), void *arg)
{
	port_thread *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->h = CreateThread(NULL, 0, port_thread_main, t, 0, NULL);
	if (!t->h) {
		free(t);
		return NULL;
	}
	return t;
}

/* 1 when the thread ended within @ms (then @t is freed), else 0. */
static inline int port_thread_join(port_thread *t, DWORD ms)
{
	if (WaitForSingleObject(t->h, ms) != WAIT_OBJECT_0)
		return 0;
	CloseHandle(t->h);
	free(t);
	return 1;
}

/* Threads of this process now. */
static inline int port_thread_count(void)
{
	HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
	DWORD pid = GetCurrentProcessId();
	THREADENTRY32 te;
	int n = 0;

	if (snap == INVALID_HANDLE_VALUE)
		return -1;
	te.dwSize = sizeof(te);
	if (Thread32First(snap, &te)) {
		do {
			if (te.th32OwnerProcessID == pid)
				n++;
		} while (Thread32Next(snap, &te));
	}
	CloseHandle(snap);
	return n;
}

/*
 * Worker threads @pool gained since @base = port_pool_threads(@pool, -1).
 * Windows cannot count one pool's threads: this is the growth of the
 * process's thread count, so callers measure with no other pool busy.
 */
static inline int port_pool_threads(PTP_POOL pool, int base)
{
	(void)pool;
	return base < 0 ? port_thread_count() : port_thread_count() - base;
}

/* The system time as a FILETIME (absolute timer due times). */
static inline void port_filetime_now(FILETIME *ft)
{
	GetSystemTimeAsFileTime(ft);
}

/* Nothing to add on Windows: freeing is not observable there. */
static inline int port_finish(void)
{
	return 0;
}

/* End the process even if a thread is stuck in a Wine hang. */
static inline void port_exit(int rc)
{
	fflush(stdout);
	ExitProcess(rc);
}

#else /* Linux, libtpio */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <time.h>
#include <tpio.h>

#define PORT_SIDE "tpio"

struct port_pipe {
	int fds[2];	/* [0] bound to the TP_IO; [1] the writer, -1 once closed */
	OVERLAPPED *issued[PORT_MAX_READS];	/* reads issued, in order */
	int n_issued;
	int n_written;	/* port_complete() calls */
};

static inline void port_init(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!tpio_backend()) {
		fprintf(stderr, "port: no usable libtpio backend (TPIO_BACKEND=%s)\n",
			getenv("TPIO_BACKEND") ? getenv("TPIO_BACKEND") : "");
		exit(2);
	}
	fprintf(stderr, "port: libtpio backend %s\n", tpio_backend());
}

static inline int port_pipe_open(struct port_pipe *p)
{
	memset(p, 0, sizeof(*p));
	return pipe2(p->fds, O_CLOEXEC);
}

static inline HANDLE port_pipe_handle(struct port_pipe *p)
{
	return tpio_handle_from_fd(p->fds[0]);
}

/* Write @n bytes of @data on the writer end; 0 on success. */
static inline int port_write(struct port_pipe *p, const void *data, DWORD n)
{
	const char *d = data;
	ssize_t r;

	while (n) {
		r = write(p->fds[1], d, n);
		if (r < 0) {
			fprintf(stderr, "port: write failed: %s\n", strerror(errno));
			return -1;
		}
		d += r;
		n -= (DWORD)r;
	}
	return 0;
}

/* Close the writer end: the reader sees a broken pipe. */
static inline void port_close_writer(struct port_pipe *p)
{
	if (p->fds[1] >= 0)
		close(p->fds[1]);
	p->fds[1] = -1;
}

static inline void port_close_reader(struct port_pipe *p)
{
	CloseHandle(tpio_handle_from_fd(p->fds[0]));	/* ends a port association */
}

/*
 * A temporary regular file holding @n bytes of @data (in $TMPDIR, else
 * /tmp), already unlinked; INVALID_HANDLE_VALUE on failure.
 */
static inline HANDLE port_file_open(const void *data, DWORD n)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/tpio-conformance-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return INVALID_HANDLE_VALUE;
	unlink(path);
	if (write(fd, data, n) != (ssize_t)n) {
		close(fd);
		return INVALID_HANDLE_VALUE;
	}
	return tpio_handle_from_fd(fd);
}

static inline void port_file_close(HANDLE h)
{
	close(tpio_fd_from_handle(h));
}

typedef struct port_thread {
	pthread_t t;
	HANDLE done;
	void (*fn)(void *);
	void *arg;
} port_thread;

static void *port_thread_main(void *p)
{
	port_thread *t = p;

	t->fn(t->arg);
	SetEvent(t->done);
	return NULL;
}

static inline port_thread *port_thread_start(void (*fn)(void *), void *arg)
{
	port_thread *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->done = CreateEventW(NULL, TRUE, FALSE, NULL);
	if (!t->done || pthread_create(&t->t, NULL, port_thread_main, t)) {
		if (t->done)
			CloseHandle(t->done);
		free(t);
		return NULL;
	}
	return t;
}

static inline int port_thread_join(port_thread *t, DWORD ms)
{
	if (WaitForSingleObject(t->done, ms) != WAIT_OBJECT_0)
		return 0;
	pthread_join(t->t, NULL);
	CloseHandle(t->done);
	free(t);
	return 1;
}

static inline int port_thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Worker threads @pool gained since @base = port_pool_threads(@pool, -1);
 * libtpio counts one pool's workers exactly.
 */
static inline int port_pool_threads(PTP_POOL pool, int base)
{
	int n = (int)tpio_pool_thread_count(pool);

	return base < 0 ? n : n - base;
}

/* The system time as a FILETIME: 100 ns units since 1601 (tpio has no
 * GetSystemTimeAsFileTime). */
static inline void port_filetime_now(FILETIME *ft)
{
	struct timespec ts;
	uint64_t v;

	clock_gettime(CLOCK_REALTIME, &ts);
	v = 116444736000000000ULL + (uint64_t)ts.tv_sec * 10000000ULL +
	    (uint64_t)ts.tv_nsec / 100;
	ft->dwLowDateTime = (DWORD)v;
	ft->dwHighDateTime = (DWORD)(v >> 32);
}

/*
 * What only tpio can check: every TP_IO was freed (objects closed with
 * outstanding callbacks are freed by the last one, so allow 2 s).
 * Returns the exit status.
 */
static inline int port_finish(void)
{
	int i;

	for (i = 0; i < 200 && tpio_io_count(); i++)
		Sleep(10);
	if (tpio_io_count()) {
		fprintf(stderr, "port: %u TP_IO objects leaked\n",
			tpio_io_count());
		return 3;
	}
	return 0;
}

static inline void port_exit(int rc)
{
	fflush(stdout);
	_exit(rc);
}

#endif

/* Shared by both sides: the read and completion protocol of the fixture. */

/* Did @ov complete within @ms? */
static inline int port_wait_ov(OVERLAPPED *ov, DWORD ms)
{
	DWORD t;

	for (t = 0; t < ms && !HasOverlappedIoCompleted(ov); t += 5)
		Sleep(5);
	return HasOverlappedIoCompleted(ov);
}

/* Issue an overlapped read of @n bytes into @buf; 0 when it went pending. */
static inline int port_read_issue(struct port_pipe *p, OVERLAPPED *ov,
				  void *buf, DWORD n)
{
	if (ReadFile(port_pipe_handle(p), buf, n, NULL, ov)) {
		fprintf(stderr, "port: ReadFile completed at once\n");
		return -1;
	}
	if (GetLastError() != ERROR_IO_PENDING) {
		fprintf(stderr, "port: ReadFile failed: %lu\n",
			(unsigned long)GetLastError());
		return -1;
	}
	if (p->n_issued < PORT_MAX_READS)
		p->issued[p->n_issued++] = ov;
	else
		fprintf(stderr, "port: more than %d reads on one pipe\n",
			PORT_MAX_READS);
	return 0;
}

/* Reads issued through port_read_issue() that have completed. */
static inline int port_reads_done(struct port_pipe *p)
{
	int i, n = 0;

	for (i = 0; i < p->n_issued; i++)
		n += HasOverlappedIoCompleted(p->issued[i]) ? 1 : 0;
	return n;
}

/*
 * Complete a pending read with @n bytes (success): write them, then wait
 * until one more of the issued reads has completed (every read and write
 * of the fixture has the same length), so that the next write meets only
 * the reads still pending. Which read a write completes is the system's
 * choice when several are pending (Windows: the oldest, @ov); scenarios
 * that print which OVERLAPPED completed keep one read pending at a time.
 * @io is not used: the completion reaches the TP_IO through the system.
 */
static inline void port_complete(struct port_pipe *p, PTP_IO io,
				 OVERLAPPED *ov, DWORD n)
{
	static const char data[64];
	DWORD t;

	(void)io;
	(void)ov;
	if (port_write(p, data, n))
		return;
	p->n_written++;
	for (t = 0; t < PORT_LONG_MS && port_reads_done(p) < p->n_written; t += 5)
		Sleep(5);
	if (port_reads_done(p) < p->n_written)
		fprintf(stderr, "port: a write of %lu bytes did not complete a read\n",
			(unsigned long)n);
}

/*
 * Close both ends. A read still pending here is a scenario's mistake: it
 * is cancelled and waited for, so that it never writes into a freed
 * OVERLAPPED, and reported on stderr.
 */
static inline void port_pipe_close(struct port_pipe *p)
{
	int i;

	for (i = 0; i < p->n_issued; i++) {
		if (HasOverlappedIoCompleted(p->issued[i]))
			continue;
		fprintf(stderr, "port: read %d still pending at close\n", i + 1);
		CancelIoEx(port_pipe_handle(p), p->issued[i]);
		if (!port_wait_ov(p->issued[i], PORT_LONG_MS))
			fprintf(stderr, "port: cancelled read %d did not complete\n",
				i + 1);
	}
	port_close_writer(p);
	port_close_reader(p);
}

#endif /* CONFORMANCE_PORT_H */
