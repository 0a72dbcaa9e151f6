// SPDX-License-Identifier: MIT
/*
 * Overlapped sockets on loopback TCP (127.0.0.1 only): tpio_accept,
 * tpio_connect, ReadFile/WriteFile as receive and send, zero-byte reads,
 * cancellation, and the done criterion: an echo server built on
 * TP_IO callbacks survives 10 000 connections opened and closed with no fd,
 * object or engine operation left behind. Included by io.c.
 */

static int listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)addr, sizeof(*addr)) ||
	    listen(s, 1024) ||
	    getsockname(s, (struct sockaddr *)addr, &len)) {
		close(s);
		return -1;
	}
	return s;
}

/* accept, connect, send at once, receive pending, orderly shutdown */
TEST_F(tio, socket_accept_connect_send_recv)
{
	static struct probe pl, pc, pa;
	OVERLAPPED ova = { 0 }, ovc = { 0 }, ovr = { 0 }, ovs = { 0 };
	struct sockaddr_in addr;
	HANDLE accepted = NULL;
	char buf[16] = { 0 };
	int ls = listener(&addr), cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	HANDLE hl = tpio_handle_from_fd(ls), hc = tpio_handle_from_fd(cs);
	PTP_IO iol, ioc, ioa;
	DWORD n = 0;
	int as;

	ASSERT_LE(0, ls);
	ASSERT_LE(0, cs);
	probe_init(&pl, NULL);
	probe_init(&pc, NULL);
	probe_init(&pa, NULL);
	iol = CreateThreadpoolIo(hl, probe_cb, &pl, &self->env);
	ioc = CreateThreadpoolIo(hc, probe_cb, &pc, &self->env);
	ASSERT_NE(NULL, iol);
	ASSERT_NE(NULL, ioc);

	StartThreadpoolIo(iol);
	EXPECT_PENDS(tpio_accept(hl, &accepted, &ova), &ova);
	StartThreadpoolIo(ioc);
	EXPECT_PENDS(tpio_connect(hc, (struct sockaddr *)&addr, sizeof(addr),
				  &ovc), &ovc);
	WaitForThreadpoolIoCallbacks(iol, FALSE);
	WaitForThreadpoolIoCallbacks(ioc, FALSE);
	ASSERT_EQ(1, atomic_load(&pl.finished));
	ASSERT_EQ(1, atomic_load(&pc.finished));
	EXPECT_EQ(ERROR_SUCCESS, pl.rec[0].result);
	EXPECT_EQ(ERROR_SUCCESS, pc.rec[0].result);
	EXPECT_EQ(&ova, pl.rec[0].ov);
	EXPECT_EQ(&ovc, pc.rec[0].ov);
	as = tpio_fd_from_handle(accepted);
	ASSERT_LE(0, as);
	EXPECT_EQ(FD_CLOEXEC, fcntl(as, F_GETFD) & FD_CLOEXEC);

	ioa = CreateThreadpoolIo(accepted, probe_cb, &pa, &self->env);
	ASSERT_NE(NULL, ioa);
	StartThreadpoolIo(ioa);
	EXPECT_PENDS(ReadFile(accepted, buf, sizeof(buf), NULL, &ovr), &ovr);
	/* a send that fits is done at once, and still posts */
	StartThreadpoolIo(ioc);
	EXPECT_EQ(TRUE, WriteFile(hc, "ping", 4, &n, &ovs));
	EXPECT_EQ(4U, n);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	WaitForThreadpoolIoCallbacks(ioc, FALSE);
	ASSERT_EQ(1, atomic_load(&pa.finished));
	EXPECT_EQ(ERROR_SUCCESS, pa.rec[0].result);
	EXPECT_EQ(4U, pa.rec[0].bytes);
	EXPECT_EQ(0, memcmp(buf, "ping", 4));
	ASSERT_EQ(2, atomic_load(&pc.finished));
	EXPECT_EQ(&ovs, pc.rec[1].ov);
	EXPECT_EQ(4U, pc.rec[1].bytes);

	/* data already there: TRUE at once */
	ASSERT_EQ(4, send(cs, "pong", 4, 0));
	sleep_ms(20);
	StartThreadpoolIo(ioa);
	EXPECT_EQ(TRUE, ReadFile(accepted, buf, sizeof(buf), &n, &ovr));
	EXPECT_EQ(4U, n);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	ASSERT_EQ(2, atomic_load(&pa.finished));
	EXPECT_EQ(4U, pa.rec[1].bytes);
	/* orderly shutdown by the peer: success with 0 bytes */
	StartThreadpoolIo(ioa);
	EXPECT_PENDS(ReadFile(accepted, buf, sizeof(buf), NULL, &ovs), &ovs);
	shutdown(cs, SHUT_WR);
	WaitForThreadpoolIoCallbacks(ioa, FALSE);
	ASSERT_EQ(3, atomic_load(&pa.finished));
	EXPECT_EQ(ERROR_SUCCESS, pa.rec[2].result);
	EXPECT_EQ(0U, pa.rec[2].bytes);

	CloseThreadpoolIo(ioa);
	CloseThreadpoolIo(ioc);
	CloseThreadpoolIo(iol);
	close(as);
	close(cs);
	close(ls);
}

/* connect to a port nobody listens on: ERROR_CONNECTION_REFUSED */
TEST_F(tio, socket_connect_refused)
{
	static struct probe p;
	OVERLAPPED ov = { 0 };
	struct sockaddr_in addr;
	int ls = listener(&addr), cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	HANDLE hc = tpio_handle_from_fd(cs);
	PTP_IO io;

	ASSERT_LE(0, ls);
	close(ls);	/* the port is free now */
	probe_init(&p, NULL);
	io = CreateThreadpoolIo(hc, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(tpio_connect(hc, (struct sockaddr *)&addr, sizeof(addr),
				  &ov), &ov);
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_CONNECTION_REFUSED, p.rec[0].result);
	/* not a socket: refused at once */
	EXPECT_EQ(FALSE, tpio_connect(self->h, (struct sockaddr *)&addr,
				      sizeof(addr), &ov));
	EXPECT_EQ(ERROR_NOT_SUPPORTED, GetLastError());
	EXPECT_EQ(FALSE, tpio_accept(self->h, &hc, &ov));
	EXPECT_EQ(ERROR_NOT_SUPPORTED, GetLastError());
	EXPECT_EQ(FALSE, tpio_accept(hc, NULL, &ov));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	CloseThreadpoolIo(io);
	close(cs);
}

/* a zero-byte read completes once data is readable; cancel an accept */
TEST_F(tio, socket_zero_byte_read_and_cancel_accept)
{
	static struct probe p, pl;
	OVERLAPPED ov = { 0 }, ova = { 0 };
	struct sockaddr_in addr;
	HANDLE accepted = NULL;
	int ls = listener(&addr), sv[2];
	HANDLE h0;
	PTP_IO io, iol;

	ASSERT_LE(0, ls);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	h0 = tpio_handle_from_fd(sv[0]);
	probe_init(&p, NULL);
	probe_init(&pl, NULL);
	io = CreateThreadpoolIo(h0, probe_cb, &p, &self->env);
	ASSERT_NE(NULL, io);
	StartThreadpoolIo(io);
	EXPECT_PENDS(ReadFile(h0, NULL, 0, NULL, &ov), &ov);
	sleep_ms(STILL_BLOCKED_MS);
	EXPECT_EQ(0, atomic_load(&p.started));
	ASSERT_EQ(1, write(sv[1], "d", 1));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	ASSERT_EQ(1, atomic_load(&p.finished));
	EXPECT_EQ(ERROR_SUCCESS, p.rec[0].result);
	EXPECT_EQ(0U, p.rec[0].bytes);
	/* the byte is still there */
	StartThreadpoolIo(io);
	EXPECT_EQ(TRUE, ReadFile(h0, NULL, 0, NULL, &ov));
	WaitForThreadpoolIoCallbacks(io, FALSE);
	EXPECT_EQ(2, atomic_load(&p.finished));

	iol = CreateThreadpoolIo(tpio_handle_from_fd(ls), probe_cb, &pl,
				 &self->env);
	ASSERT_NE(NULL, iol);
	StartThreadpoolIo(iol);
	EXPECT_PENDS(tpio_accept(tpio_handle_from_fd(ls), &accepted, &ova), &ova);
	EXPECT_EQ(TRUE, CancelIoEx(tpio_handle_from_fd(ls), &ova));
	WaitForThreadpoolIoCallbacks(iol, FALSE);
	ASSERT_EQ(1, atomic_load(&pl.finished));
	EXPECT_EQ(ERROR_OPERATION_ABORTED, pl.rec[0].result);
	EXPECT_EQ(INVALID_HANDLE_VALUE, accepted);
	CloseThreadpoolIo(iol);
	CloseThreadpoolIo(io);
	close(ls);
	close(sv[0]);
	close(sv[1]);
}

/* ---- the echo server of the done criterion ---- */

struct echo_server;

struct echo_conn {
	struct echo_server *srv;
	int fd;
	HANDLE h;
	PTP_IO io;
	OVERLAPPED ov;
	int writing;
	char buf[512];
};

struct echo_server {
	int ls;
	HANDLE hl;
	PTP_IO io;
	OVERLAPPED ov;
	HANDLE accepted;
	TP_CALLBACK_ENVIRON *env;
	atomic_int accepted_count;
	atomic_int closed_count;
	atomic_int errors;
	pthread_mutex_t mu;	/* orders stopping against re-issuing accept */
	int stopping;
};

static void conn_close(struct echo_conn *c)
{
	atomic_fetch_add(&c->srv->closed_count, 1);
	CloseThreadpoolIo(c->io);	/* from its own callback: allowed */
	close(c->fd);
	free(c);
}

/* Issue the next operation of @c; returns 0 when the connection ended. */
static int conn_next(struct echo_conn *c, DWORD len)
{
	BOOL ok;

	StartThreadpoolIo(c->io);
	c->writing = len > 0;
	if (c->writing)
		ok = WriteFile(c->h, c->buf, len, NULL, &c->ov);
	else
		ok = ReadFile(c->h, c->buf, sizeof(c->buf), NULL, &c->ov);
	if (ok || GetLastError() == ERROR_IO_PENDING)
		return 1;	/* the callback comes */
	CancelThreadpoolIo(c->io);
	return 0;
}

static VOID CALLBACK conn_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			     ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct echo_conn *c = ctx;

	(void)inst;
	(void)ov;
	(void)io;
	if (result != ERROR_SUCCESS || (!c->writing && !bytes)) {
		if (result != ERROR_SUCCESS && result != ERROR_NETNAME_DELETED)
			atomic_fetch_add(&c->srv->errors, 1);
		conn_close(c);
		return;
	}
	if (!conn_next(c, c->writing ? 0 : (DWORD)bytes))
		conn_close(c);
}

static void server_accept(struct echo_server *s)
{
	StartThreadpoolIo(s->io);
	if (!tpio_accept(s->hl, &s->accepted, &s->ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		CancelThreadpoolIo(s->io);
		atomic_fetch_add(&s->errors, 1);
	}
}

static VOID CALLBACK accept_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PVOID ov, ULONG result, ULONG_PTR bytes,
			       PTP_IO io)
{
	struct echo_server *s = ctx;
	struct echo_conn *c;

	(void)inst;
	(void)ov;
	(void)bytes;
	(void)io;
	if (result != ERROR_SUCCESS) {
		if (result != ERROR_OPERATION_ABORTED)
			atomic_fetch_add(&s->errors, 1);
		return;		/* stopped */
	}
	atomic_fetch_add(&s->accepted_count, 1);
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->srv = s;
	c->h = s->accepted;
	c->fd = tpio_fd_from_handle(c->h);
	c->io = CreateThreadpoolIo(c->h, conn_cb, c, s->env);
	if (!c->io) {
		atomic_fetch_add(&s->errors, 1);
		close(c->fd);
		free(c);
	} else if (!conn_next(c, 0)) {
		conn_close(c);
	}
	pthread_mutex_lock(&s->mu);
	if (!s->stopping)
		server_accept(s);
	pthread_mutex_unlock(&s->mu);
}

struct echo_client {
	struct sockaddr_in addr;
	int count;
	atomic_int ok;
	atomic_int bad;
};

static void *client_main(void *p)
{
	struct echo_client *cl = p;
	char msg[64], back[64];
	int i, s, len;

	for (i = 0; i < cl->count; i++) {
		size_t got = 0;

		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&cl->addr,
				     sizeof(cl->addr))) {
			atomic_fetch_add(&cl->bad, 1);
			if (s >= 0)
				close(s);
			continue;
		}
		len = snprintf(msg, sizeof(msg), "message %d", i);
		if (send(s, msg, (size_t)len, MSG_NOSIGNAL) != len) {
			atomic_fetch_add(&cl->bad, 1);
			close(s);
			continue;
		}
		while (got < (size_t)len) {
			ssize_t r = recv(s, back + got, sizeof(back) - got, 0);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (got == (size_t)len && !memcmp(msg, back, got))
			atomic_fetch_add(&cl->ok, 1);
		else
			atomic_fetch_add(&cl->bad, 1);
		close(s);
	}
	return NULL;
}

static int echo_connections(void)
{
	const char *s = getenv("TPIO_ECHO_CONNECTIONS");

	return s && *s ? atoi(s) : 10000;
}

/*
 * The done criterion: an echo server survives 10 000 connections opened
 * and closed (TPIO_ECHO_CONNECTIONS overrides, e.g. fewer in the emulated
 * VM) and leaks no fd, no TP_IO object and no engine operation.
 */
TEST_F_TIMEOUT(tio, echo_server_connections_no_leak, 300)
{
	enum { CLIENTS = 4 };
	static struct echo_server srv;
	static struct echo_client cl;
	pthread_t th[CLIENTS];
	int total = echo_connections(), i, fds0;
	ULONG objs0;
	int64_t t0;

	ASSERT_GT(total, 0);
	memset(&srv, 0, sizeof(srv));
	memset(&cl, 0, sizeof(cl));
	pthread_mutex_init(&srv.mu, NULL);
	ASSERT_TRUE(engine_warm(self->pfd[0], self->pfd[1]));
	ASSERT_TRUE(pool_engine_warm(&self->env));
	fds0 = fd_count();
	objs0 = tpio_io_count();
	srv.ls = listener(&cl.addr);
	ASSERT_LE(0, srv.ls);
	srv.hl = tpio_handle_from_fd(srv.ls);
	srv.env = &self->env;
	srv.io = CreateThreadpoolIo(srv.hl, accept_cb, &srv, &self->env);
	ASSERT_NE(NULL, srv.io);
	server_accept(&srv);

	t0 = now_ms();
	cl.count = (total + CLIENTS - 1) / CLIENTS;
	for (i = 0; i < CLIENTS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, client_main, &cl));
	for (i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	TH_LOG("%d connections in %lld ms", cl.count * CLIENTS,
	       (long long)(now_ms() - t0));
	EXPECT_EQ(cl.count * CLIENTS, atomic_load(&cl.ok));
	EXPECT_EQ(0, atomic_load(&cl.bad));

	/* stop accepting; every connection closes itself on the client's close */
	pthread_mutex_lock(&srv.mu);
	srv.stopping = 1;
	/* FALSE when the last accept callback has not re-issued yet: it won't */
	CancelIoEx(srv.hl, NULL);
	pthread_mutex_unlock(&srv.mu);
	WaitForThreadpoolIoCallbacks(srv.io, FALSE);
	CloseThreadpoolIo(srv.io);
	close(srv.ls);
	for (i = 0; i < 500 && atomic_load(&srv.closed_count) <
			       atomic_load(&srv.accepted_count); i++)
		sleep_ms(10);
	EXPECT_EQ(atomic_load(&srv.accepted_count),
		  atomic_load(&srv.closed_count));
	EXPECT_EQ(cl.count * CLIENTS, atomic_load(&srv.accepted_count));
	EXPECT_EQ(0, atomic_load(&srv.errors));
	EXPECT_TRUE(wait_io_count(objs0, RELEASED_MS));
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	EXPECT_EQ(fds0, fd_count());
	EXPECT_EQ(objs0, tpio_io_count());
}
