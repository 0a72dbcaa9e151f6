// SPDX-License-Identifier: MIT
/*
 * The "kmod" transport: the port is an open file of /dev/tpio; the ring and
 * the state words are its two mmap'd areas (uapi/linux/tpio.h,
 * Documentation/tpio.rst).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "transport.h"
#include "tpio_port.h"

#define TPIO_DEV	"/dev/tpio"
#define NEED_FEATURES	(TPIO_FEAT_RING | TPIO_FEAT_OVERFLOW | \
			 TPIO_FEAT_WAIT_SEQ | TPIO_FEAT_POLL)

struct kport {
	int fd;
	void *ring;
	size_t ring_size;
	void *shared;
	size_t shared_size;
	uint32_t features;		/* TPIO_FEAT_* of the module */
};

static struct kport *K(struct tpio_port *p)
{
	return p->priv;
}

/* ioctl, restarted on EINTR; 0 or -errno */
static int kioctl(int fd, unsigned long cmd, void *arg)
{
	int r;

	do {
		r = ioctl(fd, cmd, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* Can /dev/tpio be used? 0, or -errno with a reason in @why. */
int tpio_kmod_probe(char *why, size_t len)
{
	struct tpio_version_args v;
	int fd = open(TPIO_DEV, O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "cannot open %s: %s", TPIO_DEV, strerror(errno));
		return ret;
	}
	memset(&v, 0, sizeof(v));
	ret = kioctl(fd, TPIO_IOC_VERSION, &v);
	close(fd);
	if (ret) {
		snprintf(why, len, "TPIO_IOC_VERSION failed: %s", strerror(-ret));
		return ret;
	}
	if (v.abi_version != TPIO_ABI_VERSION ||
	    (v.features & NEED_FEATURES) != NEED_FEATURES) {
		snprintf(why, len, "%s speaks ABI %u features %#x, need ABI %u features %#x (an older module?)",
			 TPIO_DEV, v.abi_version, v.features, TPIO_ABI_VERSION,
			 NEED_FEATURES);
		return -EPROTO;
	}
	return 0;
}

static int k_setup(struct tpio_port *port, uint32_t ring_entries,
		   uint32_t max_objects)
{
	struct tpio_version_args v;
	struct tpio_setup_args a;
	struct kport *k = calloc(1, sizeof(*k));
	const uint32_t *magic;
	int ret;

	if (!k)
		return -ENOMEM;
	k->fd = open(TPIO_DEV, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		free(k);
		return ret;
	}
	memset(&v, 0, sizeof(v));
	if (!kioctl(k->fd, TPIO_IOC_VERSION, &v))
		k->features = v.features;
	memset(&a, 0, sizeof(a));
	a.ring_entries = ring_entries;
	a.max_objects = max_objects;
	ret = kioctl(k->fd, TPIO_IOC_SETUP, &a);
	if (ret)
		goto err;
	k->ring_size = a.ring_size;
	k->shared_size = a.shared_size;
	k->ring = mmap(NULL, a.ring_size, PROT_READ, MAP_SHARED, k->fd,
		       TPIO_OFF_RING);
	if (k->ring == MAP_FAILED) {
		ret = -errno;
		goto err;
	}
	k->shared = mmap(NULL, a.shared_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, k->fd, TPIO_OFF_SHARED);
	if (k->shared == MAP_FAILED) {
		ret = -errno;
		munmap(k->ring, k->ring_size);
		goto err;
	}
	magic = (const uint32_t *)((char *)k->ring + a.ring_off.magic);
	if (*magic != TPIO_RING_MAGIC) {
		ret = -EPROTO;
		munmap(k->ring, k->ring_size);
		munmap(k->shared, k->shared_size);
		goto err;
	}
	port->priv = k;
	port->r.head = (uint32_t *)((char *)k->shared + a.shared_off.head);
	port->r.tail = (const uint32_t *)((char *)k->ring + a.ring_off.tail);
	port->r.flags = (const uint32_t *)((char *)k->ring + a.ring_off.flags);
	port->r.waiters = (const uint32_t *)((char *)k->ring +
					     a.ring_off.waiters);
	port->r.wake_seq = (uint32_t *)((char *)k->shared +
					a.shared_off.wake_seq);
	port->r.cqes = (const struct tpio_cqe *)((char *)k->ring + a.ring_off.cqes);
	port->r.entries = *(const uint32_t *)((char *)k->ring + a.ring_off.ring_entries);
	port->r.mask = port->r.entries - 1;
	port->r.words = (__u64 *)((char *)k->shared + a.shared_off.words);
	port->r.max_objects = max_objects;
	return 0;
err:
	close(k->fd);
	free(k);
	return ret;
}

int tpio_kmod_attach(struct tpio_port *port, int fd, uint32_t *first_io)
{
	struct tpio_version_args v;
	struct kport *k;
	int ret;

	memset(&v, 0, sizeof(v));
	ret = kioctl(fd, TPIO_IOC_VERSION, &v);
	if (ret)
		return ret;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (k->fd < 0) {
		ret = -errno;
		free(k);
		return ret;
	}
	k->features = v.features;
	memset(&port->r, 0, sizeof(port->r));
	port->t = &tpio_transport_kmod;
	port->priv = k;
	/* slots are handed out from 0, each first at its first generation */
	*first_io = tpio_p_handle(TPIO_GEN_FIRST, 0);
	return 0;
}

static void k_destroy(struct tpio_port *port)
{
	struct kport *k = K(port);

	if (k->ring)	/* not a post-only view (tpio_kmod_attach) */
		munmap(k->ring, k->ring_size);
	if (k->shared)
		munmap(k->shared, k->shared_size);
	close(k->fd);
	free(k);
	port->priv = NULL;
}

static int k_io_create(struct tpio_port *port, __u64 cookie, uint32_t *io)
{
	struct tpio_io_create_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.cookie = cookie;
	ret = kioctl(K(port)->fd, TPIO_IOC_IO_CREATE, &a);
	if (!ret)
		*io = a.io;
	return ret;
}

static int k_io_close(struct tpio_port *port, uint32_t io)
{
	return kioctl(K(port)->fd, TPIO_IOC_IO_CLOSE, &io);
}

static int k_post(struct tpio_port *port, struct tpio_completion *c,
		  uint32_t count, uint32_t *done)
{
	struct tpio_post_args a;
	int ret;

	memset(&a, 0, sizeof(a));
	a.completions = (__u64)(uintptr_t)c;
	a.count = count;
	/* each completion's result, as the user transport gives it (completion.c) */
	a.flags = TPIO_POST_RESULTS;
	ret = kioctl(K(port)->fd, TPIO_IOC_POST, &a);
	*done = a.done;
	return ret;
}

static int k_worker_wait(struct tpio_port *port, __u64 abs_ns, uint32_t seq,
			 int pending)
{
	struct tpio_wait_args a;

	memset(&a, 0, sizeof(a));
	a.timeout = abs_ns;
	if (abs_ns) {
		a.flags = TPIO_WAIT_SEQ;
		a.seq = seq;
	}
	if (pending && (K(port)->features & TPIO_FEAT_CONC_PENDING))
		a.flags |= TPIO_WAIT_PENDING;
	/* EINTR is returned, not restarted: the worker re-checks its state */
	return ioctl(K(port)->fd, TPIO_IOC_WAIT, &a) < 0 ? -errno : 0;
}

static int k_drain(struct tpio_port *port, uint32_t io, uint32_t flags,
		   __u64 abs_ns)
{
	struct tpio_drain_args a;

	memset(&a, 0, sizeof(a));
	a.timeout = abs_ns;
	a.io = io;
	a.flags = flags;
	return kioctl(K(port)->fd, TPIO_IOC_DRAIN, &a);
}

static int k_wake_io(struct tpio_port *port, uint32_t io)
{
	struct tpio_wake_args a;

	memset(&a, 0, sizeof(a));
	a.io = io;
	a.flags = TPIO_WAKE_IO;
	return kioctl(K(port)->fd, TPIO_IOC_WAKE, &a);
}

static int k_wake_workers(struct tpio_port *port, uint32_t count)
{
	struct tpio_wake_args a;
	int r;

	memset(&a, 0, sizeof(a));
	a.flags = TPIO_WAKE_WORKERS;
	a.count = count;
	/* the kernel returns how many it woke */
	do {
		r = ioctl(K(port)->fd, TPIO_IOC_WAKE, &a);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int k_poll_fd(struct tpio_port *port)
{
	return K(port)->fd;
}

static int k_conc(struct tpio_port *port, struct tpio_conc_args *a)
{
	int ret;

	if (!(K(port)->features & TPIO_FEAT_CONC))
		return -EOPNOTSUPP;
	a->reserved = 0;
	ret = kioctl(K(port)->fd, TPIO_IOC_CONC, a);
	/* a module built without preempt notifiers refuses the command */
	return ret == -ENOTTY ? -EOPNOTSUPP : ret;
}

const struct tpio_transport tpio_transport_kmod = {
	.name = "kmod",
	.poll_fd = k_poll_fd,
	.conc = k_conc,
	.post_wakes = 1,
	.setup = k_setup,
	.destroy = k_destroy,
	.io_create = k_io_create,
	.io_close = k_io_close,
	.post = k_post,
	.worker_wait = k_worker_wait,
	.drain = k_drain,
	.wake_io = k_wake_io,
	.wake_workers = k_wake_workers,
};
