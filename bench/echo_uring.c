// SPDX-License-Identifier: MIT
/*
 * echo_uring: the raw io_uring peer of the echo benchmark. One thread, one
 * ring; every connection is a loop of io_uring reads and writes (a write
 * resubmitted for the rest when short), each submitted as soon as the
 * previous one's CQE is reaped; one io_uring_submit_and_wait per batch of
 * CQEs. Command line: bench/echo.h (-t is accepted and ignored).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <signal.h>

#include "echo.h"

#define BUF_SIZE 16384

struct conn {
	int rfd, wfd;
	int writing;
	unsigned int len, off;	/* the write in progress: buf[off..len) */
	char buf[BUF_SIZE];
};

static struct io_uring ring;

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

static void issue(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();

	/* offset -1: the file position, meaningless for pipes and sockets */
	if (c->writing)
		io_uring_prep_write(sqe, c->wfd, c->buf + c->off,
				    c->len - c->off, (__u64)-1);
	else
		io_uring_prep_read(sqe, c->rfd, c->buf, BUF_SIZE, (__u64)-1);
	io_uring_sqe_set_data(sqe, c);
}

int main(int argc, char **argv)
{
	struct echo_fds *f;
	struct conn *c;
	int threads, n, k, live, ret;

	signal(SIGPIPE, SIG_IGN);
	n = echo_server_setup(argc, argv, &f, &threads);
	c = calloc((size_t)n, sizeof(*c));
	ret = io_uring_queue_init(256, &ring, 0);
	if (!c || ret) {
		fprintf(stderr, "echo_uring: io_uring_queue_init: %s\n",
			strerror(-ret));
		return 1;
	}
	for (k = 0; k < n; k++) {
		c[k].rfd = f[k].rfd;
		c[k].wfd = f[k].wfd;
		issue(&c[k]);
	}
	for (live = n; live > 0;) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "echo_uring: submit: %s\n", strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			struct conn *p = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			seen++;
			if (res == -EINTR || res == -EAGAIN) {
				issue(p);
				continue;
			}
			if (res < 0 || (!p->writing && !res)) {
				if (res < 0)
					fprintf(stderr, "echo_uring: %s: %s\n",
						p->writing ? "write" : "read",
						strerror(-res));
				if (res < 0)
					return 1;
				live--;		/* end of file: the client is done */
				continue;
			}
			if (!p->writing) {
				p->writing = 1;
				p->len = (unsigned int)res;
				p->off = 0;
			} else {
				p->off += (unsigned int)res;
				if (p->off == p->len)
					p->writing = 0;
			}
			issue(p);
		}
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	for (k = 0; k < n; k++) {
		close(c[k].rfd);
		if (c[k].wfd != c[k].rfd)
			close(c[k].wfd);
	}
	free(c);
	free(f);
	return 0;
}
