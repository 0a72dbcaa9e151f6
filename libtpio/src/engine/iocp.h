/* SPDX-License-Identifier: MIT */
/*
 * Completion ports (iocp.c): a port of the transport used directly, as
 * CreateIoCompletionPort's port, without a pool. Included by engine.h.
 */
#ifndef TPIO_IOCP_H
#define TPIO_IOCP_H

#include <stdint.h>
#include "transport.h"
#include "tpio.h"

struct tpio_iocp;
struct tpio_iocp_assoc;
struct tpio_target;

/* one dequeued packet */
struct tpio_iocp_packet {
	ULONG_PTR key;
	__u64 overlapped;
	DWORD status;		/* Win32 status of the I/O (posts: 0) */
	DWORD bytes;
};

/* a new port (@concurrency 0: the CPUs); 0 or -errno */
TPIO_HIDDEN int tpio_iocp_create(uint32_t concurrency,
				 struct tpio_iocp **out);
/* a post-only view of a /dev/tpio port fd of another port (dup'ed) */
TPIO_HIDDEN int tpio_iocp_attach_fd(int fd, struct tpio_iocp **out);
TPIO_HIDDEN void tpio_iocp_get(struct tpio_iocp *p);
TPIO_HIDDEN void tpio_iocp_put(struct tpio_iocp *p);
/* the handle was closed: waiters leave with -EPIPE */
TPIO_HIDDEN void tpio_iocp_close(struct tpio_iocp *p);
/* the /dev/tpio fd of @p, or -EOPNOTSUPP (user transport) */
TPIO_HIDDEN int tpio_iocp_fd(struct tpio_iocp *p);
/* associate @fd with @p and @key: 0, -EEXIST (already), -ENOSPC, -EINVAL */
TPIO_HIDDEN int tpio_iocp_associate(struct tpio_iocp *p, int fd,
				    ULONG_PTR key);
/* PostQueuedCompletionStatus: 0, -EAGAIN (the port is full), -errno */
TPIO_HIDDEN int tpio_iocp_post(struct tpio_iocp *p, ULONG_PTR key,
			       __u64 overlapped, DWORD bytes);
/*
 * Dequeue 1..@max packets into @out: *@n of them, or -ETIMEDOUT after
 * @timeout_ms (INFINITE: none), -EPIPE when the port's handle was closed,
 * -EOPNOTSUPP on a post-only port.
 */
TPIO_HIDDEN int tpio_iocp_dequeue(struct tpio_iocp *p,
				  struct tpio_iocp_packet *out, uint32_t max,
				  DWORD timeout_ms, uint32_t *n);
/* the port of @fd as an I/O target: 1 (*@skip: skip-on-success), or 0 */
TPIO_HIDDEN int tpio_iocp_target(int fd, struct tpio_target *to, int *skip);
/* SetFileCompletionNotificationModes on an associated fd: 0 or -ENOENT */
TPIO_HIDDEN int tpio_iocp_set_modes(int fd, uint8_t modes);
/* @fd is being closed: its association ends */
TPIO_HIDDEN void tpio_iocp_fd_closed(int fd);
/* an I/O completion for the target of tpio_iocp_target (completion.c) */
TPIO_HIDDEN int tpio_iocp_deliver(const struct tpio_target *t,
				  __u64 overlapped, DWORD status,
				  ULONG_PTR bytes);

#endif /* TPIO_IOCP_H */
