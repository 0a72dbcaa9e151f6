// SPDX-License-Identifier: MIT
/*
 * echo_server: a TCP echo server written the Windows thread-pool way. Every
 * socket is bound to a TP_IO; each completion runs a callback on the pool,
 * which issues the next overlapped operation (accept → read → write → read
 * ... → close). Only the Win32 API of tpio.h is used, plus
 * tpio_handle_from_fd and the library's accept (the role of AcceptEx); the
 * listening socket itself is made with socket(2), as it must on Linux.
 *
 *   echo_server [--port N] [--port-file PATH] [--threads N] [--max-conns N]
 *
 * Listens on 127.0.0.1 only. Stops on SIGINT/SIGTERM or after --max-conns
 * connections have closed, then prints one report line:
 *   server: backend=B connections=N callbacks=N bytes=N errors=N
 *           objects_leaked=N ops_leaked=N fds_leaked=N
 * and exits 0 only when nothing leaked and nothing failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tpio.h>

struct server;

/* one accepted connection; freed by its last callback */
struct conn {
	struct server *srv;
	HANDLE h;
	PTP_IO io;
	OVERLAPPED ov;
	int writing;		/* the operation in flight is a write */
	char buf[16384];
};

struct server {
	HANDLE listen;
	PTP_IO io;
	OVERLAPPED ov;
	HANDLE accepted;
	TP_CALLBACK_ENVIRON env;
	CRITICAL_SECTION lock;	/* orders "stopping" against a new accept */
	int stopping;
	atomic_long connections, closed, callbacks, bytes, errors;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	(void)sig;
	stop_signal = 1;
}

static void conn_close(struct conn *c)
{
	atomic_fetch_add(&c->srv->closed, 1);
	/* allowed inside its own callback: freed after the callback returns */
	CloseThreadpoolIo(c->io);
	CloseHandle(c->h);
	free(c);
}

/* Issue the next operation: a write of @len bytes, or a read if 0. */
static BOOL conn_next(struct conn *c, DWORD len)
{
	BOOL ok;

	StartThreadpoolIo(c->io);
	c->writing = len > 0;
	if (c->writing)
		ok = WriteFile(c->h, c->buf, len, NULL, &c->ov);
	else
		ok = ReadFile(c->h, c->buf, sizeof(c->buf), NULL, &c->ov);
	if (ok || GetLastError() == ERROR_IO_PENDING)
		return TRUE;	/* the completion runs conn_cb */
	CancelThreadpoolIo(c->io);
	return FALSE;
}

static VOID CALLBACK conn_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PVOID ov, ULONG result, ULONG_PTR bytes,
			     PTP_IO io)
{
	struct conn *c = ctx;

	(void)inst;
	(void)ov;
	(void)io;
	atomic_fetch_add(&c->srv->callbacks, 1);
	if (result != ERROR_SUCCESS || (!c->writing && !bytes)) {
		/* a reset by the peer is an ordinary way to end */
		if (result != ERROR_SUCCESS && result != ERROR_NETNAME_DELETED &&
		    result != ERROR_OPERATION_ABORTED)
			atomic_fetch_add(&c->srv->errors, 1);
		conn_close(c);
		return;
	}
	if (!c->writing)
		atomic_fetch_add(&c->srv->bytes, (long)bytes);
	if (!conn_next(c, c->writing ? 0 : (DWORD)bytes))
		conn_close(c);
}

static void server_accept(struct server *s)
{
	StartThreadpoolIo(s->io);
	if (!tpio_accept(s->listen, &s->accepted, &s->ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		CancelThreadpoolIo(s->io);
		fprintf(stderr, "echo_server: accept: error %u\n", GetLastError());
		atomic_fetch_add(&s->errors, 1);
	}
}

static VOID CALLBACK accept_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PVOID ov, ULONG result, ULONG_PTR bytes,
			       PTP_IO io)
{
	struct server *s = ctx;
	struct conn *c;

	(void)inst;
	(void)ov;
	(void)bytes;
	(void)io;
	atomic_fetch_add(&s->callbacks, 1);
	if (result != ERROR_SUCCESS) {
		if (result != ERROR_OPERATION_ABORTED)
			atomic_fetch_add(&s->errors, 1);
		return;
	}
	atomic_fetch_add(&s->connections, 1);
	c = calloc(1, sizeof(*c));
	if (!c) {
		CloseHandle(s->accepted);
		atomic_fetch_add(&s->errors, 1);
	} else {
		c->srv = s;
		c->h = s->accepted;
		c->io = CreateThreadpoolIo(c->h, conn_cb, c, &s->env);
		if (!c->io) {
			atomic_fetch_add(&s->errors, 1);
			atomic_fetch_add(&s->closed, 1);
			CloseHandle(c->h);
			free(c);
		} else if (!conn_next(c, 0)) {
			conn_close(c);
		}
	}
	EnterCriticalSection(&s->lock);
	if (!s->stopping)
		server_accept(s);
	LeaveCriticalSection(&s->lock);
}

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static int listen_socket(int port, int *chosen)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4096) ||
	    getsockname(s, (struct sockaddr *)&a, &len)) {
		close(s);
		return -1;
	}
	*chosen = ntohs(a.sin_port);
	return s;
}

static VOID CALLBACK warm_up_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)ctx; (void)ov; (void)res; (void)bytes; (void)io;
}

/*
 * Engine warm-up: one overlapped read on a pipe from this thread (the
 * library's engine for threads outside any pool) and one through a TP_IO
 * of @env's pool (the pool's own engine), so that the fds the engines
 * keep for their lifetime exist before the fd count is taken.
 */
static void warm_up(PTP_CALLBACK_ENVIRON env)
{
	OVERLAPPED ov = { 0 }, ov2 = { 0 };
	PTP_IO io;
	int p[2];
	char b, b2;

	if (pipe(p))
		return;
	if (!ReadFile(tpio_handle_from_fd(p[0]), &b, 1, NULL, &ov) &&
	    GetLastError() == ERROR_IO_PENDING && write(p[1], "w", 1) == 1)
		GetOverlappedResult(NULL, &ov, NULL, TRUE);
	io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), warm_up_cb, NULL,
				env);
	if (io) {
		StartThreadpoolIo(io);
		if (ReadFile(tpio_handle_from_fd(p[0]), &b2, 1, NULL, &ov2) ||
		    GetLastError() == ERROR_IO_PENDING) {
			if (write(p[1], "w", 1) != 1)
				CancelIoEx(tpio_handle_from_fd(p[0]), &ov2);
		} else {
			CancelThreadpoolIo(io);
		}
		WaitForThreadpoolIoCallbacks(io, FALSE);
		CloseThreadpoolIo(io);
	}
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	static struct server s;
	const char *port_file = NULL;
	long max_conns = 0, leaked_objs, leaked_ops;
	int port = 0, threads = 0, i, fds0, ls, leaked_fds;
	PTP_POOL pool;
	ULONG objs0;
	int64_t waited;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--max-conns") && i + 1 < argc)
			max_conns = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--port N] [--port-file PATH] [--threads N] [--max-conns N]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	pool = CreateThreadpool(NULL);
	if (!pool) {
		fprintf(stderr, "echo_server: CreateThreadpool: error %u\n",
			GetLastError());
		return 1;
	}
	if (threads > 0)
		SetThreadpoolThreadMaximum(pool, (DWORD)threads);
	InitializeThreadpoolEnvironment(&s.env);
	SetThreadpoolCallbackPool(&s.env, pool);
	InitializeCriticalSection(&s.lock);
	warm_up(&s.env);
	fds0 = fd_count();
	objs0 = tpio_io_count();

	ls = listen_socket(port, &port);
	if (ls < 0) {
		perror("echo_server: listen");
		return 1;
	}
	s.listen = tpio_handle_from_fd(ls);
	s.io = CreateThreadpoolIo(s.listen, accept_cb, &s, &s.env);
	if (!s.io) {
		fprintf(stderr, "echo_server: CreateThreadpoolIo: error %u\n",
			GetLastError());
		return 1;
	}
	server_accept(&s);
	printf("echo_server: backend=%s listening on 127.0.0.1:%d\n",
	       tpio_backend(), port);
	fflush(stdout);
	if (port_file) {
		FILE *f = fopen(port_file, "w");

		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)) {
			perror("echo_server: port file");
			return 1;
		}
	}

	while (!stop_signal &&
	       !(max_conns && atomic_load(&s.closed) >= max_conns))
		Sleep(20);

	/* stop accepting, then let open connections end (the clients close) */
	EnterCriticalSection(&s.lock);
	s.stopping = 1;
	CancelIoEx(s.listen, NULL);
	LeaveCriticalSection(&s.lock);
	WaitForThreadpoolIoCallbacks(s.io, FALSE);
	CloseThreadpoolIo(s.io);
	CloseHandle(s.listen);
	for (waited = 0; waited < 5000 &&
	     atomic_load(&s.closed) < atomic_load(&s.connections); waited += 20)
		Sleep(20);
	for (waited = 0; waited < 2000 &&
	     (tpio_io_count() != objs0 || tpio_io_ops_in_flight());
	     waited += 10)
		Sleep(10);

	/* counted while the pool (a /dev/tpio fd on kmod) still exists */
	leaked_objs = (long)tpio_io_count() - (long)objs0;
	leaked_ops = (long)tpio_io_ops_in_flight();
	leaked_fds = fd_count() - fds0;
	printf("server: backend=%s connections=%ld callbacks=%ld bytes=%ld errors=%ld objects_leaked=%ld ops_leaked=%ld fds_leaked=%d\n",
	       tpio_backend(), atomic_load(&s.connections),
	       atomic_load(&s.callbacks), atomic_load(&s.bytes),
	       atomic_load(&s.errors), leaked_objs, leaked_ops, leaked_fds);
	DeleteCriticalSection(&s.lock);
	DestroyThreadpoolEnvironment(&s.env);
	CloseThreadpool(pool);
	return atomic_load(&s.errors) || leaked_objs || leaked_ops || leaked_fds;
}
