// SPDX-License-Identifier: MIT
/*
 * The readiness engine: the I/O engine's fallback where io_uring cannot
 * be used (a container whose seccomp profile blocks io_uring_setup, a
 * kernel with io_uring disabled), or where TPIO_IO_ENGINE=epoll asks for
 * it. io_engine.c chooses once, when its service starts
 * (tpio_epoll_choose); from then on its entry points hand every operation
 * here.
 * Documentation/io.rst, "The readiness fallback", describes it.
 *
 *   op       (struct ep_op) one overlapped operation, queued on its fd in
 *            one direction (in: reads, receives, accepts, zero-byte reads;
 *            out: writes, sends, connects), oldest first.
 *   fd state (struct ep_fd) the two queues of an fd, and a duplicate of
 *            the fd while ops are queued: the ops run on it and epoll
 *            watches it (one-shot, for the directions that have ops), so
 *            that, as with io_uring's reference to the file, closing the
 *            program's fd neither loses nor misdirects them.
 *   thread   one per process ("tpio-epoll"): it waits in epoll_wait(),
 *            tries the oldest op of each ready direction without blocking,
 *            and finishes what is done through the same path as the
 *            io_uring engine (the request's finish upcall: OVERLAPPED and
 *            event; then the port completion). It also runs the stall
 *            detector's tick (the one io_engine.c hands it) while a pool
 *            asks for it.
 *
 * Regular files (which epoll refuses) and streams epoll refuses are read
 * and written at once, in the issuing thread, with pread/pwrite: blocking
 * for as long as the file system takes, like a page-cache read, and the
 * call still reports the operation pending ([T]: files always pend).
 *
 * Locking: one mutex (E.mu) protects the fd table, the queues and the
 * list of ops being finished; an op leaves its queue under it, and is
 * finished outside it by the thread that took it out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"

#define EV_BATCH	64
#define TICKS_QUIET	100		/* the stall detector's hysteresis */
#define UD_DOORBELL	UINT64_MAX	/* an fd's data is (gen << 32) | fd */

enum { DIR_IN, DIR_OUT };

struct ep_op {
	struct tpio_io_req r;
	struct ep_op *next;		/* its fd's queue, or the done list */
	struct ep_op *f_prev, *f_next;	/* E.finishing */
	DWORD status;			/* the result, once done */
	ULONG_PTR bytes;
	int post;			/* deliver the port completion */
};

struct ep_fd {
	struct ep_op *head[2], *tail[2];	/* DIR_IN, DIR_OUT */
	int dfd;			/* the duplicate while ops wait, -1 */
	uint32_t armed;			/* events asked for (one-shot) */
	uint32_t gen;			/* of the registration */
	dev_t dev;			/* the file the queued ops are for */
	ino_t ino;
};

_Atomic int tpio_epoll_on;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t room;		/* an op ended: the budget has room */
	int epfd, efd;
	struct ep_fd *fds;		/* [nfds], mu */
	uint32_t nfds;
	struct ep_op *finishing;	/* taken out, being finished; mu */
	uint32_t room_waiters;		/* mu */
	_Atomic uint32_t ops;		/* in flight (tpio_io_ops_in_flight) */
	_Atomic int ticking;
	int (*_Atomic tick)(uint32_t starved);	/* the stall detector's */
} E = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
};

/* ---- finishing ---- */

/* mu held: @op, out of its queue, is done with @status and @bytes. */
static void done(struct ep_op *op, DWORD status, ULONG_PTR bytes,
		 struct ep_op **list)
{
	op->status = status;
	op->bytes = bytes;
	op->post = op->r.to.pool != NULL || op->r.to.iocp != NULL;
	op->f_prev = NULL;
	op->f_next = E.finishing;
	if (E.finishing)
		E.finishing->f_prev = op;
	E.finishing = op;
	/* the list keeps the order ops were done in */
	op->next = NULL;
	while (*list)
		list = &(*list)->next;
	*list = op;
}

/*
 * Finish the ops of @list, in order, outside mu: the OVERLAPPED, the
 * event, the port completion, as the io_uring engine does.
 */
static void finish_list(struct ep_op *list)
{
	while (list) {
		struct ep_op *op = list;

		list = op->next;
		op->r.up->finish(op->r.ov, op->r.event, op->status, op->bytes);
		if (op->post)
			tpio_complete(&op->r.to, (__u64)(uintptr_t)op->r.ov,
				      op->status, op->bytes, NULL);
		pthread_mutex_lock(&E.mu);
		if (op->f_prev)
			op->f_prev->f_next = op->f_next;
		else
			E.finishing = op->f_next;
		if (op->f_next)
			op->f_next->f_prev = op->f_prev;
		atomic_fetch_sub(&E.ops, 1);
		if (E.room_waiters)
			pthread_cond_broadcast(&E.room);
		pthread_mutex_unlock(&E.mu);
		free(op);
	}
}

/* ---- the fd table ---- */

/* mu held: @fd's state, the table grown to hold it; NULL without memory */
static struct ep_fd *fd_state(int fd)
{
	if (fd < 0)
		return NULL;
	if ((uint32_t)fd >= E.nfds) {
		uint32_t n = E.nfds ? E.nfds : 64, i;
		struct ep_fd *fds;

		while (n <= (uint32_t)fd)
			n *= 2;
		fds = realloc(E.fds, n * sizeof(*fds));
		if (!fds)
			return NULL;
		memset(fds + E.nfds, 0, (n - E.nfds) * sizeof(*fds));
		for (i = E.nfds; i < n; i++)
			fds[i].dfd = -1;
		E.fds = fds;
		E.nfds = n;
	}
	return &E.fds[fd];
}

static struct ep_fd *fd_find(int fd)
{
	return fd >= 0 && (uint32_t)fd < E.nfds ? &E.fds[fd] : NULL;
}

/*
 * mu held: ask epoll for the directions that have ops, one-shot. 0, or a
 * negative errno (-EPERM: epoll cannot watch this file).
 */
static int fd_arm(struct ep_fd *st, int fd)
{
	uint32_t want = (st->head[DIR_IN] ? EPOLLIN : 0) |
			(st->head[DIR_OUT] ? EPOLLOUT : 0);
	struct epoll_event ev;

	if (!want || (st->armed != UINT32_MAX && !(want & ~st->armed)))
		return 0;
	ev.events = want | EPOLLONESHOT;
	ev.data.u64 = (uint64_t)st->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(E.epfd, st->armed == UINT32_MAX ? EPOLL_CTL_ADD :
		      EPOLL_CTL_MOD, st->dfd, &ev))
		return -errno;
	st->armed = want;
	return 0;
}

/* mu held: @st gets its duplicate of @fd (not registered yet). 0, -errno */
static int fd_hold(struct ep_fd *st, int fd)
{
	if (st->dfd >= 0)
		return 0;
	st->dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (st->dfd < 0)
		return -errno;
	st->armed = UINT32_MAX;		/* not in the epoll set */
	st->gen++;
	return 0;
}

/* mu held: no op waits on @st any more: its duplicate goes */
static void fd_release(struct ep_fd *st)
{
	if (st->dfd < 0 || st->head[DIR_IN] || st->head[DIR_OUT])
		return;
	if (st->armed != UINT32_MAX)
		epoll_ctl(E.epfd, EPOLL_CTL_DEL, st->dfd, NULL);
	close(st->dfd);
	st->dfd = -1;
	st->gen++;
}

/* mu held: take @op out of its fd's queue @dir; 1 when it was there */
static int unqueue(struct ep_fd *st, int dir, struct ep_op *op)
{
	struct ep_op **pp, *prev = NULL;

	for (pp = &st->head[dir]; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != op)
			continue;
		*pp = op->next;
		if (st->tail[dir] == op)
			st->tail[dir] = prev;
		return 1;
	}
	return 0;
}

/* mu held: end every queued op of @st with ERROR_OPERATION_ABORTED */
static void abort_queued(struct ep_fd *st, struct ep_op **list,
			 int (*match)(const struct ep_op *op, void *arg),
			 void *arg, unsigned int *count)
{
	int dir;

	for (dir = DIR_IN; dir <= DIR_OUT; dir++) {
		struct ep_op *op = st->head[dir], *next;

		for (; op; op = next) {
			next = op->next;
			if (match && !match(op, arg))
				continue;
			unqueue(st, dir, op);
			done(op, ERROR_OPERATION_ABORTED, op->r.done, list);
			if (count)
				(*count)++;
		}
	}
}

/* ---- trying an operation without blocking ---- */

/* 1 when @fd is ready for @events now */
static int ready_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1;
}

/* A read's outcome: n bytes, or -errno; 0 when it would block. */
static int read_result(struct ep_op *op, ssize_t n, struct ep_op **list,
		       struct ep_fd *st)
{
	if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
		return 0;
	unqueue(st, DIR_IN, op);
	if (n < 0)
		done(op, op->r.up->status_from_errno((int)-n), 0, list);
	else if (!n && op->r.len)
		done(op, op->r.eof_status, 0, list);
	else
		done(op, ERROR_SUCCESS, (ULONG_PTR)n, list);
	return 1;
}

/*
 * Run an accept or connect step on a socket the program may have left
 * blocking: O_NONBLOCK is set around the call and restored after it.
 */
static int sock_nonblock(int fd, int on, int old)
{
	if (old < 0 || (old & O_NONBLOCK))
		return old;
	fcntl(fd, F_SETFL, on ? old | O_NONBLOCK : old);
	return old;
}

/* mu held: try the oldest op of @dir; 1 when it ended (moved to @list). */
static int try_one(struct ep_fd *st, int dir, struct ep_op **list)
{
	struct ep_op *op = st->head[dir];
	struct tpio_io_req *r = &op->r;
	int fd = st->dfd, fl, err;
	ssize_t n;

	switch (r->kind) {
	case TPIO_OP_READ:
		n = tpio_stream_read_nowait(fd, r->buf, r->len);
		if (n == -ENOTTY) {	/* cannot tell: readable now, read */
			if (!ready_now(fd, POLLIN))
				return 0;
			n = read(fd, r->buf, r->len);
			n = n < 0 ? -errno : n;
		}
		return read_result(op, n, list, st);
	case TPIO_OP_RECV:
		n = recv(fd, r->buf, r->len, MSG_DONTWAIT);
		return read_result(op, n < 0 ? -errno : n, list, st);
	case TPIO_OP_POLLIN:
		if (!ready_now(fd, POLLIN))
			return 0;
		unqueue(st, dir, op);
		done(op, ERROR_SUCCESS, 0, list);
		return 1;
	case TPIO_OP_ACCEPT: {
		int nfd;

		fl = sock_nonblock(fd, 1, fcntl(fd, F_GETFL));
		nfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		err = errno;
		sock_nonblock(fd, 0, fl);
		if (nfd < 0 && (err == EAGAIN || err == EWOULDBLOCK ||
				err == EINTR || err == ECONNABORTED))
			return 0;
		unqueue(st, dir, op);
		if (nfd < 0) {
			done(op, r->up->status_from_errno(err), 0, list);
		} else {
			*r->accepted = r->up->handle_from_fd(nfd);
			done(op, ERROR_SUCCESS, 0, list);
		}
		return 1;
	}
	case TPIO_OP_CONNECT: {
		socklen_t len = sizeof(err);

		if (!ready_now(fd, POLLOUT))
			return 0;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		unqueue(st, dir, op);
		done(op, err ? r->up->status_from_errno(err) : ERROR_SUCCESS, 0,
		     list);
		return 1;
	}
	default:	/* writes and sends end when everything is written */
		while (r->done < r->len) {
			const char *p = (const char *)r->buf + r->done;
			size_t want = r->len - r->done;

			if (r->kind == TPIO_OP_SEND) {
				n = send(fd, p, want,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
				n = n < 0 ? -errno : n;
			} else {
				n = tpio_stream_write_nowait(fd, p, want, 1);
				/* no non-blocking pipe writes: PIPE_BUF fits */
				if (n == -EAGAIN && want > PIPE_BUF)
					n = tpio_stream_write_nowait(fd, p,
								     PIPE_BUF, 1);
			}
			if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
				return 0;
			if (n <= 0) {
				unqueue(st, dir, op);
				done(op, r->up->status_from_errno(n ? (int)-n : EIO),
				     r->done, list);
				return 1;
			}
			r->done += (uint32_t)n;
		}
		unqueue(st, dir, op);
		done(op, ERROR_SUCCESS, r->done, list);
		return 1;
	}
}

/* mu held: run the ready direction's ops, oldest first, while they end */
static void run_dir(struct ep_fd *st, int dir, struct ep_op **list)
{
	while (st->head[dir] && try_one(st, dir, list))
		;
}

/*
 * A file, or a stream epoll refuses: the operation runs here, blocking
 * (pread/pwrite at the offset for files). Reads end with what one read
 * returns; writes end when everything is written.
 */
static void run_sync(struct ep_op *op, struct ep_op **list)
{
	struct tpio_io_req *r = &op->r;
	int file = r->fd_kind == TPIO_FD_FILE;
	DWORD status = ERROR_SUCCESS;
	ssize_t n;

	if (r->kind == TPIO_OP_READ) {
		do {
			n = file ? pread(r->fd, r->buf, r->len, (off_t)r->off) :
			    read(r->fd, r->buf, r->len);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			status = r->up->status_from_errno(errno);
		else if (!n && r->len)
			status = r->eof_status;
		else
			r->done = (uint32_t)n;
	} else {
		while (r->done < r->len) {
			const char *p = (const char *)r->buf + r->done;

			n = file ? pwrite(r->fd, p, r->len - r->done,
					  (off_t)(r->off + r->done)) :
			    write(r->fd, p, r->len - r->done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				status = r->up->status_from_errno(n ? errno : EIO);
				break;
			}
			r->done += (uint32_t)n;
		}
	}
	pthread_mutex_lock(&E.mu);
	done(op, status, r->done, list);
	pthread_mutex_unlock(&E.mu);
}

/*
 * A connect starts in the issuing thread: 1 when it ended at once (in
 * @list), 0 when it waits for the socket to become writable.
 */
static int connect_start(struct ep_op *op, struct ep_op **list)
{
	int fd = op->r.fd, fl, ret, err;

	fl = sock_nonblock(fd, 1, fcntl(fd, F_GETFL));
	ret = connect(fd, (struct sockaddr *)&op->r.addr, op->r.addrlen);
	err = errno;
	sock_nonblock(fd, 0, fl);
	if (ret && (err == EINPROGRESS || err == EINTR || err == EALREADY))
		return 0;
	pthread_mutex_lock(&E.mu);
	done(op, ret ? op->r.up->status_from_errno(err) : ERROR_SUCCESS, 0,
	     list);
	pthread_mutex_unlock(&E.mu);
	return 1;
}

/* ---- the thread ---- */

static void ep_event(const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	struct ep_op *list = NULL;
	struct ep_fd *st;

	pthread_mutex_lock(&E.mu);
	st = fd_find(fd);
	if (st && st->gen == (uint32_t)(ev->data.u64 >> 32)) {
		st->armed = 0;		/* one-shot: it fired */
		if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			run_dir(st, DIR_IN, &list);
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			run_dir(st, DIR_OUT, &list);
		if (fd_arm(st, fd))	/* cannot happen: it holds the file */
			abort_queued(st, &list, NULL, NULL, NULL);
		fd_release(st);
	}
	pthread_mutex_unlock(&E.mu);
	finish_list(list);
}

static void *ep_main(void *arg)
{
	const struct tpio_config *cfg = tpio_config();
	struct epoll_event ev[EV_BATCH];
	__u64 next_tick = 0;
	unsigned int quiet = 0;

	(void)arg;
	for (;;) {
		int timeout = -1, n, i;

		if (atomic_load(&E.ticking)) {
			__u64 now = tpio_now_ns();

			if (now >= next_tick) {
				int (*tick)(uint32_t) = atomic_load(&E.tick);

				if (tick && tick(0))
					quiet = 0;
				else if (++quiet >= TICKS_QUIET)
					atomic_store(&E.ticking, 0);
				next_tick = now + cfg->stall_us * 1000ULL;
			}
			if (atomic_load(&E.ticking))
				timeout = (int)((next_tick - now + 999999) /
						1000000);
		}
		n = epoll_wait(E.epfd, ev, EV_BATCH, timeout);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == UD_DOORBELL) {
				uint64_t v;

				if (read(E.efd, &v, sizeof(v)) < 0)
					continue;	/* drained already */
				continue;
			}
			ep_event(&ev[i]);
		}
	}
	return NULL;
}

static int ep_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t th;
	int ret;

	E.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (E.epfd < 0)
		return -errno;
	E.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.u64 = UD_DOORBELL;
	if (E.efd < 0 || epoll_ctl(E.epfd, EPOLL_CTL_ADD, E.efd, &ev)) {
		ret = -errno;
		goto fail;
	}
	/* the thread takes no signals: SIGPIPE of its writes stays pending */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = -pthread_create(&th, &a, ep_main, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret) {
		pthread_setname_np(th, "tpio-epoll");
		return 0;
	}
fail:
	if (E.efd >= 0)
		close(E.efd);
	close(E.epfd);
	return ret;
}

/* TPIO_IO_ENGINE: 0 auto (default), 1 uring, 2 epoll */
static int engine_mode(void)
{
	const char *s = getenv("TPIO_IO_ENGINE");

	if (!s || !*s || !strcmp(s, "auto"))
		return 0;
	if (!strcmp(s, "uring") || !strcmp(s, "io_uring"))
		return 1;
	if (!strcmp(s, "epoll"))
		return 2;
	tpio_warn("TPIO_IO_ENGINE=%s: not auto, uring or epoll; auto is used",
		  s);
	return 0;
}

/* kernel.io_uring_disabled, or -1 where the kernel has no such setting */
static int uring_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * io_engine.c's service starts: @err is 0 before it tries io_uring, then the
 * negative errno of io_uring's setup if that failed. 1 when the readiness
 * engine serves from now on.
 */
int tpio_epoll_choose(int err)
{
	int mode = engine_mode(), ret, off;

	if (!err && mode != 2)
		return 0;
	if (err && mode != 0)
		return 0;	/* TPIO_IO_ENGINE=uring: no fallback */
	ret = ep_start();
	if (ret) {
		tpio_warn("the readiness engine cannot start (%s)",
			  strerror(-ret));
		return 0;
	}
	if (err) {
		off = uring_disabled();
		tpio_warn("io_uring is not available (%s): overlapped I/O uses the readiness engine (epoll)",
			  strerror(-err));
		tpio_diag("io_uring_setup: %s; kernel.io_uring_disabled=%d (-1: no such setting); TPIO_IO_ENGINE=uring fails instead, =epoll chooses the readiness engine quietly",
			  strerror(-err), off);
	} else {
		tpio_diag("TPIO_IO_ENGINE=epoll: overlapped I/O uses the readiness engine");
	}
	atomic_store(&tpio_epoll_on, 1);
	return 1;
}

/* ---- the interface: io_engine.c's entry points forward here ---- */

int tpio_epoll_submit(const struct tpio_io_req *r)
{
	uint32_t budget = tpio_config_io_inflight();
	static _Atomic int told;
	struct ep_op *op, *list = NULL;
	struct ep_fd *st;
	struct stat sb;
	int dir, ret;

	op = malloc(sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->r = *r;
	pthread_mutex_lock(&E.mu);
	while (atomic_load(&E.ops) >= budget) {
		if (!atomic_exchange(&told, 1))
			tpio_warn("%u overlapped operations in flight (TPIO_IO_INFLIGHT): new ones wait for room",
				  budget);
		E.room_waiters++;
		pthread_cond_wait(&E.room, &E.mu);
		E.room_waiters--;
	}
	atomic_fetch_add(&E.ops, 1);
	pthread_mutex_unlock(&E.mu);

	if (r->fd_kind == TPIO_FD_FILE) {
		run_sync(op, &list);
		finish_list(list);
		return 0;
	}
	if (r->kind == TPIO_OP_CONNECT && connect_start(op, &list)) {
		finish_list(list);
		return 0;
	}
	dir = r->kind == TPIO_OP_WRITE || r->kind == TPIO_OP_SEND ||
	      r->kind == TPIO_OP_CONNECT ? DIR_OUT : DIR_IN;
	if (fstat(r->fd, &sb))
		memset(&sb, 0, sizeof(sb));
	pthread_mutex_lock(&E.mu);
	st = fd_state(r->fd);
	if (!st) {
		atomic_fetch_sub(&E.ops, 1);
		pthread_mutex_unlock(&E.mu);
		free(op);
		return -ENOMEM;
	}
	if (st->dev != sb.st_dev || st->ino != sb.st_ino) {
		/*
		 * The fd number now names another file: what was queued for
		 * the one the program closed ends aborted.
		 */
		abort_queued(st, &list, NULL, NULL, NULL);
		fd_release(st);
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
	ret = fd_hold(st, r->fd);
	if (!ret) {
		op->next = NULL;
		if (st->tail[dir])
			st->tail[dir]->next = op;
		else
			st->head[dir] = op;
		st->tail[dir] = op;
		ret = fd_arm(st, r->fd);
		if (ret)
			unqueue(st, dir, op);
	}
	if (ret && ret != -EPERM)
		done(op, r->up->status_from_errno(-ret), r->done, &list);
	fd_release(st);
	pthread_mutex_unlock(&E.mu);
	if (ret == -EPERM)
		run_sync(op, &list);	/* epoll refuses it: blocking */
	finish_list(list);
	return 0;
}

int tpio_epoll_reads_pending(int fd)
{
	struct ep_fd *st;
	int ret;

	pthread_mutex_lock(&E.mu);
	st = fd_find(fd);
	ret = st && st->head[DIR_IN];
	pthread_mutex_unlock(&E.mu);
	return ret;
}

struct cancel_match {
	LPOVERLAPPED ov;
	DWORD tid;
};

static int cancel_matches(const struct ep_op *op, void *arg)
{
	const struct cancel_match *m = arg;

	return (!m->ov || op->r.ov == m->ov) && (!m->tid || op->r.tid == m->tid) &&
	       (m->ov || op->r.tid != TPIO_TID_WAIT);
}

/*
 * CancelIoEx/CancelIo: the queued ops of @fd (of @ov, of thread @tid) end
 * now with ERROR_OPERATION_ABORTED. An op being finished is not counted:
 * it is done already.
 */
unsigned int tpio_epoll_cancel(int fd, LPOVERLAPPED ov, DWORD tid)
{
	struct cancel_match m = { ov, tid };
	struct ep_op *list = NULL;
	unsigned int n = 0;
	struct ep_fd *st;

	pthread_mutex_lock(&E.mu);
	st = fd_find(fd);
	if (st) {
		abort_queued(st, &list, cancel_matches, &m, &n);
		fd_release(st);
	}
	pthread_mutex_unlock(&E.mu);
	finish_list(list);
	return n;
}

/* The stall detector's @tick is wanted (io_engine.c): start ticking. */
void tpio_epoll_tick_on(int (*tick)(uint32_t starved))
{
	uint64_t one = 1;

	if (tick && atomic_load_explicit(&E.tick, memory_order_relaxed) != tick)
		atomic_store(&E.tick, tick);
	if (atomic_load_explicit(&E.ticking, memory_order_relaxed))
		return;
	if (!atomic_exchange(&E.ticking, 1) &&
	    write(E.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		tpio_warn("readiness engine doorbell: %s", strerror(errno));
}

static int of_pool(const struct ep_op *op, void *arg)
{
	return op->r.to.pool == arg || op->r.ring_pool == arg;
}

/*
 * @pool is going away (its objects closed with operations outstanding):
 * its queued ops end aborted without a port completion, and the ops of
 * it being finished elsewhere are waited for.
 */
void tpio_epoll_pool_gone(struct _TP_POOL *pool)
{
	struct ep_op *list = NULL, *op;
	uint32_t fd;
	int busy;

	if (!atomic_load(&tpio_epoll_on))
		return;
	pthread_mutex_lock(&E.mu);
	for (fd = 0; fd < E.nfds; fd++)
		if (E.fds[fd].head[DIR_IN] || E.fds[fd].head[DIR_OUT]) {
			abort_queued(&E.fds[fd], &list, of_pool, pool, NULL);
			fd_release(&E.fds[fd]);
		}
	for (op = list; op; op = op->next)
		op->post = 0;
	pthread_mutex_unlock(&E.mu);
	finish_list(list);
	do {
		pthread_mutex_lock(&E.mu);
		for (busy = 0, op = E.finishing; op && !busy; op = op->f_next)
			busy = op->post && op->r.to.pool == pool;
		pthread_mutex_unlock(&E.mu);
		if (busy)
			usleep(100);
	} while (busy);
}

ULONG tpio_epoll_ops(void)
{
	return atomic_load(&E.ops);
}
