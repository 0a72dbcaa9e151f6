/* SPDX-License-Identifier: MIT */
/*
 * port.h: the only place where the conformance programs differ between
 * Windows (built with mingw-w64, run under Wine: the reference) and Linux
 * (built against libtpio).
 *
 * The fixture is a pipe whose read end is bound to a TP_IO:
 *  - Windows: an overlapped byte-mode named pipe (server end, bound) and a
 *    synchronous client end. port_read_issue() issues an overlapped 1..n
 *    byte ReadFile on the server end, which must go pending;
 *    port_complete() writes n bytes on the client end, which completes the
 *    oldest pending read, so callers complete reads in the order they
 *    issued them.
 *  - Linux: pipe2() and tpio_handle_from_fd(). libtpio has no ReadFile yet
 *    (the io_uring engine is a later issue), so until it exists the Linux
 *    side drives completions by posting them: port_read_issue() does
 *    nothing and port_complete() is tpio_post_completion(io, ov, 0, n),
 *    which goes through the same arrival rule as a real completion.
 *    Scenarios that need real I/O semantics are listed in
 *    conformance/needs-io.txt instead.
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
#define _GNU_SOURCE		/* pipe2 */
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32

#include <windows.h>
#include <tlhelp32.h>
#include <fcntl.h>
#include <io.h>

#define PORT_SIDE "windows"

struct port_pipe {
	HANDLE rd;	/* server end, FILE_FLAG_OVERLAPPED, bound to the TP_IO */
	HANDLE wr;	/* client end, synchronous */
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

static inline void port_pipe_close(struct port_pipe *p)
{
	CloseHandle(p->wr);
	CloseHandle(p->rd);
}

/* Issue an overlapped read of @n bytes; 0 when it went pending. */
static inline int port_read_issue(struct port_pipe *p, OVERLAPPED *ov,
				  void *buf, DWORD n)
{
	if (ReadFile(p->rd, buf, n, NULL, ov)) {
		fprintf(stderr, "port: ReadFile completed at once\n");
		return -1;
	}
	if (GetLastError() != ERROR_IO_PENDING) {
		fprintf(stderr, "port: ReadFile failed: %lu\n", GetLastError());
		return -1;
	}
	return 0;
}

/* Complete the oldest pending read with @n bytes (success). */
static inline void port_complete(struct port_pipe *p, PTP_IO io,
				 OVERLAPPED *ov, DWORD n)
{
	static const char data[64];
	DWORD done = 0;

	(void)io;
	(void)ov;
	if (!WriteFile(p->wr, data, n, &done, NULL) || done != n)
		fprintf(stderr, "port: WriteFile failed: %lu\n", GetLastError());
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
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <tpio.h>

#define PORT_SIDE "tpio"

struct port_pipe {
	int fds[2];
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
	return pipe2(p->fds, O_CLOEXEC);
}

static inline HANDLE port_pipe_handle(struct port_pipe *p)
{
	return tpio_handle_from_fd(p->fds[0]);
}

static inline void port_pipe_close(struct port_pipe *p)
{
	close(p->fds[1]);
	close(p->fds[0]);
}

/* No ReadFile in libtpio yet: the "I/O" exists only as a later post. */
static inline int port_read_issue(struct port_pipe *p, OVERLAPPED *ov,
				  void *buf, DWORD n)
{
	(void)p; (void)ov; (void)buf; (void)n;
	return 0;
}

/*
 * The completion of @ov with @n bytes, posted through the arrival rule.
 * A refusal is reported on stderr only: after the object was freed (a
 * closed object whose only remaining I/O was skipped) a real completion
 * would be swallowed by the port, which is what the transcript checks.
 */
static inline void port_complete(struct port_pipe *p, PTP_IO io,
				 OVERLAPPED *ov, DWORD n)
{
	(void)p;
	if (!tpio_post_completion(io, ov, 0, n))
		fprintf(stderr, "port: tpio_post_completion refused: %u\n",
			GetLastError());
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

#endif /* CONFORMANCE_PORT_H */
