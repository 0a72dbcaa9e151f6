// SPDX-License-Identifier: MIT
/*
 * echo_tp: the echo server over TP_IO callbacks, one source for two
 * platforms. On Linux it is built against libtpio (tpio.h; ReadFile and
 * WriteFile over io_uring; TPIO_BACKEND picks user or kmod) and takes the
 * command line of bench/echo.h (tcp or pipe). Built with mingw-w64 it is
 * the same server on Windows' own thread pool, run under Wine to measure
 * Wine's TP_IO (tcp only: WSARecv/WSASend on the socket).
 *
 * Every connection is a loop of overlapped operations, each issued by the
 * previous one's callback: read -> write (again for the rest of a short
 * write) -> read ... until end of file. Callbacks run on a private pool of
 * THREADS (-t, default 2) threads, minimum = maximum.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#else
#define _GNU_SOURCE
#include <time.h>
#include <tpio.h>
#include "echo.h"
#endif

#define BUF_SIZE 16384

/*
 * One connection. Only one operation is in flight at a time, so the fields
 * below are owned by whichever callback runs (the previous one's
 * completion orders them). For a socket rh == wh and rio == wio.
 */
struct conn {
	HANDLE rh, wh;
	PTP_IO rio, wio;
	OVERLAPPED rov, wov;
	DWORD len, off;		/* the write in progress: buf[off..len) */
#ifdef _WIN32
	SOCKET s;
#endif
	char buf[BUF_SIZE];
};

static long ended, errors;

static void conn_end(struct conn *c, int error)
{
	(void)c;
	if (error)
		__atomic_add_fetch(&errors, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&ended, 1, __ATOMIC_SEQ_CST);
}

/* 1: issued; 0: failed; -1: end of file found at once (a pipe's writer gone) */
static int start_read(struct conn *c)
{
	StartThreadpoolIo(c->rio);
#ifdef _WIN32
	{
		WSABUF b = { BUF_SIZE, c->buf };
		DWORD flags = 0;

		if (!WSARecv(c->s, &b, 1, NULL, &flags, &c->rov, NULL) ||
		    WSAGetLastError() == WSA_IO_PENDING)
			return 1;
		fprintf(stderr, "echo_tp: WSARecv: %d\n", WSAGetLastError());
	}
#else
	if (ReadFile(c->rh, c->buf, BUF_SIZE, NULL, &c->rov) ||
	    GetLastError() == ERROR_IO_PENDING)
		return 1;
	if (GetLastError() == ERROR_BROKEN_PIPE) {
		CancelThreadpoolIo(c->rio);
		return -1;
	}
	fprintf(stderr, "echo_tp: ReadFile: error %u\n", GetLastError());
#endif
	CancelThreadpoolIo(c->rio);
	return 0;
}

static int start_write(struct conn *c)
{
	StartThreadpoolIo(c->wio);
#ifdef _WIN32
	{
		WSABUF b = { c->len - c->off, c->buf + c->off };

		if (!WSASend(c->s, &b, 1, NULL, 0, &c->wov, NULL) ||
		    WSAGetLastError() == WSA_IO_PENDING)
			return 1;
		fprintf(stderr, "echo_tp: WSASend: %d\n", WSAGetLastError());
	}
#else
	if (WriteFile(c->wh, c->buf + c->off, c->len - c->off, NULL, &c->wov) ||
	    GetLastError() == ERROR_IO_PENDING)
		return 1;
	fprintf(stderr, "echo_tp: WriteFile: error %u\n", GetLastError());
#endif
	CancelThreadpoolIo(c->wio);
	return 0;
}

static VOID CALLBACK io_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct conn *c = ctx;

	(void)inst;
	(void)io;
	if (ov == &c->rov) {
		if (result != NO_ERROR || !bytes) {
			/* end of file is the client's way to finish */
			conn_end(c, result != NO_ERROR &&
				    result != ERROR_BROKEN_PIPE);
			return;
		}
		c->len = (DWORD)bytes;
		c->off = 0;
		if (!start_write(c))
			conn_end(c, 1);
		return;
	}
	if (result != NO_ERROR || !bytes) {
		fprintf(stderr, "echo_tp: write completion: error %lu\n",
			(unsigned long)result);
		conn_end(c, 1);
		return;
	}
	c->off += (DWORD)bytes;
	if (c->off < c->len) {
		if (!start_write(c))
			conn_end(c, 1);
		return;
	}
	switch (start_read(c)) {
	case 0:
		conn_end(c, 1);
		break;
	case -1:
		conn_end(c, 0);
		break;
	}
}

static void sleep_ms(unsigned int ms)
{
#ifdef _WIN32
	Sleep(ms);
#else
	struct timespec ts = { 0, (long)ms * 1000000L };

	nanosleep(&ts, NULL);
#endif
}

#ifdef _WIN32
/* "tcp N" only: listen on 127.0.0.1, print the port, accept N */
static int setup(int argc, char **argv, struct conn **out, int *threads)
{
	struct sockaddr_in a;
	int len = sizeof(a), i = 1, n, k;
	struct conn *c;
	WSADATA wd;
	SOCKET ls;

	*threads = 2;
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		*threads = atoi(argv[2]);
		i = 3;
	}
	if (argc - i != 2 || strcmp(argv[i], "tcp") || *threads < 1 ||
	    (n = atoi(argv[i + 1])) < 1) {
		fprintf(stderr, "usage: echo_tp.exe [-t THREADS] tcp N\n");
		exit(2);
	}
	if (WSAStartup(MAKEWORD(2, 2), &wd))
		exit(1);
	c = calloc((size_t)n, sizeof(*c));
	ls = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (!c || ls == INVALID_SOCKET)
		exit(1);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 128) ||
	    getsockname(ls, (struct sockaddr *)&a, &len)) {
		fprintf(stderr, "echo_tp: listen: %d\n", WSAGetLastError());
		exit(1);
	}
	printf("echo-port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (k = 0; k < n; k++) {
		BOOL one = TRUE;

		c[k].s = accept(ls, NULL, NULL);
		if (c[k].s == INVALID_SOCKET) {
			fprintf(stderr, "echo_tp: accept: %d\n", WSAGetLastError());
			exit(1);
		}
		setsockopt(c[k].s, IPPROTO_TCP, TCP_NODELAY, (char *)&one,
			   sizeof(one));
		c[k].rh = c[k].wh = (HANDLE)c[k].s;
	}
	closesocket(ls);
	*out = c;
	return n;
}
#else
static int setup(int argc, char **argv, struct conn **out, int *threads)
{
	struct echo_fds *f;
	struct conn *c;
	int n = echo_server_setup(argc, argv, &f, threads), k;

	c = calloc((size_t)n, sizeof(*c));
	if (!c)
		exit(1);
	for (k = 0; k < n; k++) {
		c[k].rh = tpio_handle_from_fd(f[k].rfd);
		c[k].wh = f[k].wfd == f[k].rfd ? c[k].rh :
			  tpio_handle_from_fd(f[k].wfd);
	}
	free(f);
	*out = c;
	return n;
}
#endif

int main(int argc, char **argv)
{
	TP_CALLBACK_ENVIRON env;
	struct conn *c;
	PTP_POOL pool;
	int n, k, threads;

	n = setup(argc, argv, &c, &threads);
	pool = CreateThreadpool(NULL);
	if (!pool)
		return 1;
	SetThreadpoolThreadMaximum(pool, (DWORD)threads);
	if (!SetThreadpoolThreadMinimum(pool, (DWORD)threads))
		return 1;
	InitializeThreadpoolEnvironment(&env);
	SetThreadpoolCallbackPool(&env, pool);
	for (k = 0; k < n; k++) {
		c[k].rio = CreateThreadpoolIo(c[k].rh, io_cb, &c[k], &env);
		c[k].wio = c[k].wh == c[k].rh ? c[k].rio :
			   CreateThreadpoolIo(c[k].wh, io_cb, &c[k], &env);
		if (!c[k].rio || !c[k].wio) {
			fprintf(stderr, "echo_tp: CreateThreadpoolIo: error %lu\n",
				(unsigned long)GetLastError());
			return 1;
		}
	}
	for (k = 0; k < n; k++) {
		int r = start_read(&c[k]);

		if (r <= 0)
			conn_end(&c[k], !r);
	}
	/* the main thread only waits: every connection ends in a callback */
	while (__atomic_load_n(&ended, __ATOMIC_SEQ_CST) < n)
		sleep_ms(5);
	for (k = 0; k < n; k++) {
		WaitForThreadpoolIoCallbacks(c[k].rio, FALSE);
		CloseThreadpoolIo(c[k].rio);
		if (c[k].wio != c[k].rio) {
			WaitForThreadpoolIoCallbacks(c[k].wio, FALSE);
			CloseThreadpoolIo(c[k].wio);
			CloseHandle(c[k].wh);
		}
#ifdef _WIN32
		closesocket(c[k].s);
#else
		CloseHandle(c[k].rh);
#endif
	}
	DestroyThreadpoolEnvironment(&env);
	CloseThreadpool(pool);
	free(c);
	if (errors) {
		fprintf(stderr, "echo_tp: %ld connection(s) failed\n", errors);
		return 1;
	}
	return 0;
}
