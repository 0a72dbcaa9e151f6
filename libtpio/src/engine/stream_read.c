// SPDX-License-Identifier: MIT
/*
 * Reads from and writes to pipes, FIFOs and character devices that never
 * block: the engines' stream operations and the at-once attempts of
 * ReadFile and WriteFile use these.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"

/*
 * Read what a pipe, FIFO or character device holds now, without blocking:
 * bytes (0 at end of data), -EAGAIN when nothing is there, -ENOTTY when it
 * cannot tell, or -errno. Kernels without RWF_NOWAIT on pipes (6.1) are
 * asked with FIONREAD how much a read can take at once; a reader of the
 * same fd outside the library racing in between can still make that read
 * wait for more data.
 */
ssize_t tpio_stream_read_nowait(int fd, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int avail;

	do {
		n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno != EOPNOTSUPP)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (ioctl(fd, FIONREAD, &avail) < 0)
		return -ENOTTY;
	if (avail <= 0) {
		/* nothing there: end of data if the writer is gone */
		if (poll(&p, 1, 0) != 1 || !(p.revents & (POLLHUP | POLLERR)))
			return -EAGAIN;
		avail = 0;
	}
	do {
		n = read(fd, buf, len < (size_t)avail || !avail ? len :
			 (size_t)avail);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/*
 * Write to a pipe, FIFO or character device without blocking: bytes
 * written, -EAGAIN when it would block, or -errno. Where the kernel has
 * no non-blocking pipe writes (6.1), a write of at most PIPE_BUF bytes to
 * a pipe with room (POLLOUT) cannot block. SIGPIPE never reaches the
 * program: pool threads block it; other threads (@mask_sigpipe: ReadFile's
 * callers that are not pool workers, the readiness engine's thread) block
 * it here, and each takes a SIGPIPE of its own write back.
 */
ssize_t tpio_stream_write_nowait(int fd, const void *buf, size_t len,
				 int mask_sigpipe)
{
	struct iovec iov = { (void *)buf, len };
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	sigset_t pipe_set, old, pending;
	int was_pending = 0, masked = mask_sigpipe;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (masked) {
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
		sigpending(&pending);
		was_pending = sigismember(&pending, SIGPIPE);
	}
	do {
		n = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EOPNOTSUPP) {
		if (len > PIPE_BUF || poll(&p, 1, 0) != 1)
			errno = EAGAIN;
		else if (p.revents & POLLERR)
			errno = EPIPE;
		else
			do {
				n = write(fd, buf, len);
			} while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == -EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n;
}
