// SPDX-License-Identifier: MIT
/*
 * echo_uring: the demo's yardstick, a TCP echo server written as a plain
 * liburing event loop (no libtpio): one thread, one ring, every socket a
 * chain of io_uring operations (accept -> recv -> send, again for the rest
 * of a short send -> recv ... -> close), each submitted when the previous
 * one's completion is reaped. SIGINT and SIGTERM arrive through a signalfd
 * read on the same ring. It takes the command line of echo_server, so that
 * examples/demo drives both with the same client:
 *
 *   echo_uring [--port N] [--port-file PATH]
 *
 * Listens on 127.0.0.1 only. On SIGINT/SIGTERM it closes the connections
 * still open and prints one report line:
 *   server: backend=uring connections=N bytes=N errors=N
 * and exits 0 when nothing failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE	16384
#define RING_SIZE	256

enum op { OP_ACCEPT, OP_RECV, OP_SEND, OP_SIGNAL };

/* what a completion's user_data points to: its first member says which */
struct req {
	enum op op;
};

/* one accepted connection, on the list of live ones until closed */
struct conn {
	struct req req;		/* OP_RECV or OP_SEND: the one in flight */
	struct conn *prev, *next;
	int fd;
	unsigned int len, off;	/* the send in progress: buf[off..len) */
	char buf[BUF_SIZE];
};

static struct io_uring ring;
static struct conn live = { .prev = &live, .next = &live };
static long connections, bytes, errors;

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	if (!sqe) {
		fprintf(stderr, "echo_uring: no SQE\n");
		exit(1);
	}
	return sqe;
}

static void conn_issue(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();

	if (c->req.op == OP_SEND)
		io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off,
				   MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, c->fd, c->buf, BUF_SIZE, 0);
	io_uring_sqe_set_data(sqe, &c->req);
}

static void conn_close(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	close(c->fd);
	free(c);
}

static void conn_open(int fd)
{
	struct conn *c = malloc(sizeof(*c));
	int one = 1;

	if (!c) {
		errors++;
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->req.op = OP_RECV;
	c->next = live.next;
	c->prev = &live;
	live.next->prev = c;
	live.next = c;
	connections++;
	conn_issue(c);
}

/* a recv or send of @c completed with @res */
static void conn_done(struct conn *c, int res)
{
	if (res == -EINTR || res == -EAGAIN) {
		conn_issue(c);
		return;
	}
	if (res < 0) {
		/* a client that resets its connection ends it, like a close */
		if (res != -ECONNRESET && res != -EPIPE) {
			fprintf(stderr, "echo_uring: %s: %s\n",
				c->req.op == OP_SEND ? "send" : "recv",
				strerror(-res));
			errors++;
		}
		conn_close(c);
		return;
	}
	if (c->req.op == OP_RECV) {
		if (!res) {		/* end of file: the client closed */
			conn_close(c);
			return;
		}
		c->req.op = OP_SEND;
		c->len = (unsigned int)res;
		c->off = 0;
		bytes += res;
	} else {
		c->off += (unsigned int)res;
		if (c->off == c->len)
			c->req.op = OP_RECV;
	}
	conn_issue(c);
}

static int listen_socket(int port, int *bound)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 128) ||
	    getsockname(s, (struct sockaddr *)&a, &len)) {
		close(s);
		return -1;
	}
	*bound = ntohs(a.sin_port);
	return s;
}

int main(int argc, char **argv)
{
	static struct req accept_req = { OP_ACCEPT }, signal_req = { OP_SIGNAL };
	static struct signalfd_siginfo si;
	const char *port_file = NULL;
	struct io_uring_sqe *sqe;
	int port = 0, ls, sfd, ret, stop = 0, i;
	sigset_t mask;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--port-file") && i + 1 < argc) {
			port_file = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--port N] [--port-file PATH]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ls = listen_socket(port, &port);
	if (sfd < 0 || ls < 0) {
		perror("echo_uring: listen");
		return 1;
	}
	ret = io_uring_queue_init(RING_SIZE, &ring, 0);
	if (ret) {
		fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n",
			strerror(-ret));
		return 1;
	}
	sqe = sqe_get();
	io_uring_prep_read(sqe, sfd, &si, sizeof(si), 0);
	io_uring_sqe_set_data(sqe, &signal_req);
	sqe = sqe_get();
	io_uring_prep_accept(sqe, ls, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &accept_req);
	printf("echo_uring: listening on 127.0.0.1:%d\n", port);
	fflush(stdout);
	if (port_file) {
		FILE *f = fopen(port_file, "w");

		if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)) {
			perror("echo_uring: port file");
			return 1;
		}
	}

	while (!stop) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "echo_uring: submit: %s\n", strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct req *r = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			seen++;
			switch (r->op) {
			case OP_SIGNAL:
				stop = 1;
				break;
			case OP_ACCEPT:
				if (res >= 0) {
					conn_open(res);
				} else if (res != -EINTR && res != -EAGAIN &&
					   res != -ECONNABORTED) {
					fprintf(stderr, "echo_uring: accept: %s\n",
						strerror(-res));
					errors++;
				}
				sqe = sqe_get();
				io_uring_prep_accept(sqe, ls, NULL, NULL,
						     SOCK_CLOEXEC);
				io_uring_sqe_set_data(sqe, &accept_req);
				break;
			default:
				conn_done((struct conn *)r, res);
				break;
			}
		}
		io_uring_cq_advance(&ring, seen);
	}

	/* the ring goes first: no completion can name a connection after */
	io_uring_queue_exit(&ring);
	while (live.next != &live)
		conn_close(live.next);
	close(ls);
	close(sfd);
	printf("server: backend=uring connections=%ld bytes=%ld errors=%ld\n",
	       connections, bytes, errors);
	return errors ? 1 : 0;
}
