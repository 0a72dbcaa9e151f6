// SPDX-License-Identifier: MIT
/*
 * Reads from pipes, FIFOs and character devices that never block: the
 * engine's stream reads and the at-once attempt of ReadFile use this.
 */
#include <errno.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
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
