// SPDX-License-Identifier: MIT
/*
 * Completion ports: CreateIoCompletionPort, GetQueuedCompletionStatus(Ex),
 * PostQueuedCompletionStatus, CloseHandle on a port, tpio_port_fd and
 * tpio_port_from_fd (Documentation/contract.rst, section 12). The port is
 * the engine's (engine/iocp.c); this file checks arguments, keeps the
 * port behind a handle of the handle table and sets the last error.
 */
#include <errno.h>
#include <stdlib.h>
#include "api.h"

#define PORT_MAX_BATCH	1024	/* packets per engine dequeue */

static void port_get(void *p)
{
	tpio_iocp_get(p);
}

static void port_put(void *p)
{
	tpio_iocp_put(p);
}

static void port_close(void *p)
{
	tpio_iocp_close(p);
}

static const struct tpio_ext_ops port_ops = {
	.get = port_get,
	.put = port_put,
	.close = port_close,
};

/* The port of @h with a reference, or NULL (ERROR_INVALID_HANDLE). */
static struct tpio_iocp *port_of(HANDLE h)
{
	struct tpio_iocp *p = tpio_ext_get(h, &port_ops);

	if (!p)
		SetLastError(ERROR_INVALID_HANDLE);
	return p;
}

static DWORD port_error(int err)
{
	switch (err) {
	case -EEXIST:
	case -EINVAL:
		return ERROR_INVALID_PARAMETER;
	case -ENOSPC:
	case -ENOMEM:
		return ERROR_NOT_ENOUGH_MEMORY;
	case -EOPNOTSUPP:
		return ERROR_NOT_SUPPORTED;
	case -EAGAIN:
		return ERROR_NOT_ENOUGH_QUOTA;
	case -EPIPE:
		return ERROR_ABANDONED_WAIT_0;
	case -ETIMEDOUT:
		return WAIT_TIMEOUT;
	default:
		return tpio_win32_from_errno(-err);
	}
}

HANDLE CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort,
			      ULONG_PTR CompletionKey,
			      DWORD NumberOfConcurrentThreads)
{
	struct tpio_iocp *p;
	HANDLE port = ExistingCompletionPort;
	int fd = -1, ret;

	if (FileHandle == INVALID_HANDLE_VALUE) {
		if (ExistingCompletionPort) {
			SetLastError(ERROR_INVALID_PARAMETER);
			return NULL;
		}
	} else {
		fd = tpio_fd_from_handle(FileHandle);
		if (fd < 0) {
			SetLastError(ERROR_INVALID_HANDLE);
			return NULL;
		}
	}
	if (port) {
		p = port_of(port);
		if (!p)
			return NULL;
	} else {
		ret = tpio_iocp_create(NumberOfConcurrentThreads, &p);
		if (ret) {
			SetLastError(port_error(ret));
			return NULL;
		}
		tpio_iocp_get(p);	/* ours, besides the handle's */
		port = tpio_ext_handle_new(&port_ops, p);
		if (!port) {
			tpio_iocp_put(p);
			return NULL;
		}
	}
	if (fd >= 0) {
		ret = tpio_iocp_associate(p, fd, CompletionKey);
		if (ret) {
			if (!ExistingCompletionPort)
				CloseHandle(port);
			tpio_iocp_put(p);
			SetLastError(port_error(ret));
			return NULL;
		}
	}
	tpio_iocp_put(p);
	return port;
}

BOOL GetQueuedCompletionStatus(HANDLE CompletionPort,
			       LPDWORD lpNumberOfBytesTransferred,
			       PULONG_PTR lpCompletionKey,
			       LPOVERLAPPED *lpOverlapped,
			       DWORD dwMilliseconds)
{
	struct tpio_iocp_packet pk;
	struct tpio_iocp *p;
	uint32_t n;
	int ret;

	if (!lpNumberOfBytesTransferred || !lpCompletionKey || !lpOverlapped) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	*lpOverlapped = NULL;
	p = port_of(CompletionPort);
	if (!p)
		return FALSE;
	ret = tpio_iocp_dequeue(p, &pk, 1, dwMilliseconds, &n);
	tpio_iocp_put(p);
	if (ret) {
		SetLastError(port_error(ret));
		return FALSE;
	}
	*lpNumberOfBytesTransferred = pk.bytes;
	*lpCompletionKey = pk.key;
	*lpOverlapped = (LPOVERLAPPED)(uintptr_t)pk.overlapped;
	if (pk.status != ERROR_SUCCESS) {
		SetLastError(pk.status);
		return FALSE;
	}
	return TRUE;
}

BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort,
				 LPOVERLAPPED_ENTRY lpCompletionPortEntries,
				 ULONG ulCount, PULONG ulNumEntriesRemoved,
				 DWORD dwMilliseconds, BOOL fAlertable)
{
	struct tpio_iocp_packet local[16], *pk = local;
	struct tpio_iocp *p;
	uint32_t n, i, max = ulCount;
	int ret;

	(void)fAlertable;	/* [T] no APCs: an ordinary wait */
	if (ulNumEntriesRemoved)
		*ulNumEntriesRemoved = 0;
	if (!lpCompletionPortEntries || !ulNumEntriesRemoved || !ulCount) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	p = port_of(CompletionPort);
	if (!p)
		return FALSE;
	if (max > PORT_MAX_BATCH)
		max = PORT_MAX_BATCH;
	if (max > 16) {
		pk = malloc(max * sizeof(*pk));
		if (!pk) {
			tpio_iocp_put(p);
			SetLastError(ERROR_NOT_ENOUGH_MEMORY);
			return FALSE;
		}
	}
	ret = tpio_iocp_dequeue(p, pk, max, dwMilliseconds, &n);
	tpio_iocp_put(p);
	if (!ret) {
		for (i = 0; i < n; i++) {
			lpCompletionPortEntries[i].lpCompletionKey = pk[i].key;
			lpCompletionPortEntries[i].lpOverlapped =
				(LPOVERLAPPED)(uintptr_t)pk[i].overlapped;
			lpCompletionPortEntries[i].Internal = pk[i].status;
			lpCompletionPortEntries[i].dwNumberOfBytesTransferred =
				pk[i].bytes;
		}
		*ulNumEntriesRemoved = n;
	}
	if (pk != local)
		free(pk);
	if (ret) {
		SetLastError(port_error(ret));
		return FALSE;
	}
	return TRUE;
}

BOOL PostQueuedCompletionStatus(HANDLE CompletionPort,
				DWORD dwNumberOfBytesTransferred,
				ULONG_PTR dwCompletionKey,
				LPOVERLAPPED lpOverlapped)
{
	struct tpio_iocp *p = port_of(CompletionPort);
	int ret;

	if (!p)
		return FALSE;
	ret = tpio_iocp_post(p, dwCompletionKey,
			     (__u64)(uintptr_t)lpOverlapped,
			     dwNumberOfBytesTransferred);
	tpio_iocp_put(p);
	if (ret) {
		SetLastError(port_error(ret));
		return FALSE;
	}
	return TRUE;
}

int tpio_port_fd(HANDLE port)
{
	struct tpio_iocp *p = port_of(port);
	int fd;

	if (!p)
		return -1;
	fd = tpio_iocp_fd(p);
	tpio_iocp_put(p);
	if (fd < 0) {
		SetLastError(ERROR_NOT_SUPPORTED);
		return -1;
	}
	return fd;
}

HANDLE tpio_port_from_fd(int fd)
{
	struct tpio_iocp *p;
	int ret = fd < 0 ? -EBADF : tpio_iocp_attach_fd(fd, &p);

	if (ret) {
		SetLastError(ret == -ENOMEM ? ERROR_NOT_ENOUGH_MEMORY :
			     ERROR_INVALID_HANDLE);
		return NULL;
	}
	return tpio_ext_handle_new(&port_ops, p);
}
