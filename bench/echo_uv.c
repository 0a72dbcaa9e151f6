// SPDX-License-Identifier: MIT
/*
 * echo_uv: the libuv peer of the echo benchmark, written the way libuv
 * echo servers are: one thread running the default loop, uv_read_start on
 * every connection, each chunk read sent back with uv_try_write and, for
 * what did not go at once, uv_write. TCP connections are uv_tcp_t handles
 * opened on the accepted sockets; a pipe pair is two uv_pipe_t handles.
 * Command line: bench/echo.h (-t is accepted and ignored).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <uv.h>

#include "echo.h"

#define BUF_SIZE 16384

struct conn {
	union {
		uv_tcp_t tcp;
		uv_pipe_t pipe;
		uv_stream_t s;
	} r, w;
	int pipe;		/* r and w are two pipes, else r is the socket */
	char buf[BUF_SIZE];
};

/* a uv_write of the rest of a chunk: owns its copy of the bytes */
struct wreq {
	uv_write_t req;
	char data[];
};

static int failed;

static uv_stream_t *wstream(struct conn *c)
{
	return c->pipe ? &c->w.s : &c->r.s;
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
	struct conn *c = h->data;

	(void)want;
	*b = uv_buf_init(c->buf, BUF_SIZE);
}

static void on_closed(uv_handle_t *h)
{
	(void)h;
}

static void conn_close(struct conn *c)
{
	uv_close((uv_handle_t *)&c->r.s, on_closed);
	if (c->pipe)
		uv_close((uv_handle_t *)&c->w.s, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
	if (status) {
		fprintf(stderr, "echo_uv: write: %s\n", uv_strerror(status));
		failed = 1;
	}
	free(req);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;
	uv_buf_t rest;
	struct wreq *w;
	int sent;

	if (nread == UV_EOF) {
		conn_close(c);
		return;
	}
	if (nread < 0) {
		fprintf(stderr, "echo_uv: read: %s\n", uv_strerror((int)nread));
		failed = 1;
		conn_close(c);
		return;
	}
	if (!nread)
		return;
	sent = uv_try_write(wstream(c), &(uv_buf_t){ .base = b->base,
						     .len = (size_t)nread }, 1);
	if (sent == UV_EAGAIN)
		sent = 0;
	if (sent < 0) {
		fprintf(stderr, "echo_uv: try_write: %s\n", uv_strerror(sent));
		failed = 1;
		conn_close(c);
		return;
	}
	if (sent == nread)
		return;
	/* the buffer is read into again: the rest needs its own copy */
	w = malloc(sizeof(*w) + (size_t)(nread - sent));
	if (!w) {
		failed = 1;
		conn_close(c);
		return;
	}
	memcpy(w->data, b->base + sent, (size_t)(nread - sent));
	rest = uv_buf_init(w->data, (unsigned int)(nread - sent));
	if (uv_write(&w->req, wstream(c), &rest, 1, on_written)) {
		free(w);
		failed = 1;
		conn_close(c);
	}
}

int main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	struct echo_fds *f;
	struct conn *c;
	int threads, n, k, err = 0;

	signal(SIGPIPE, SIG_IGN);
	n = echo_server_setup(argc, argv, &f, &threads);
	c = calloc((size_t)n, sizeof(*c));
	if (!c)
		return 1;
	for (k = 0; k < n; k++) {
		c[k].pipe = f[k].rfd != f[k].wfd;
		if (c[k].pipe) {
			err = uv_pipe_init(loop, &c[k].r.pipe, 0);
			err = err ? err : uv_pipe_open(&c[k].r.pipe, f[k].rfd);
			err = err ? err : uv_pipe_init(loop, &c[k].w.pipe, 0);
			err = err ? err : uv_pipe_open(&c[k].w.pipe, f[k].wfd);
		} else {
			err = uv_tcp_init(loop, &c[k].r.tcp);
			err = err ? err : uv_tcp_open(&c[k].r.tcp, f[k].rfd);
		}
		c[k].r.s.data = &c[k];
		c[k].w.s.data = &c[k];
		err = err ? err : uv_read_start(&c[k].r.s, on_alloc, on_read);
		if (err) {
			fprintf(stderr, "echo_uv: setup: %s\n", uv_strerror(err));
			return 1;
		}
	}
	/* returns when every handle is closed: all clients are done */
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	free(c);
	free(f);
	return failed;
}
