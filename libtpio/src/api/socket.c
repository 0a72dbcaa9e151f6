// SPDX-License-Identifier: MIT
/*
 * Overlapped socket calls that ReadFile/WriteFile do not cover: accept and
 * connect (the roles of Windows' AcceptEx and ConnectEx). Receives and
 * sends are ReadFile/WriteFile on the socket's handle (overlapped.c). Both
 * calls always pend; the engine (io_engine.c) runs them.
 */
#include <string.h>
#include "api.h"

BOOL tpio_accept(HANDLE hListen, HANDLE *phAccepted, LPOVERLAPPED lpOverlapped)
{
	struct tpio_io_req r;
	DWORD err;

	if (!lpOverlapped || !phAccepted) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	err = tpio_req_init(&r, hListen, lpOverlapped, TPIO_OP_ACCEPT);
	if (err) {
		SetLastError(err);
		return FALSE;
	}
	if (r.fd_kind != TPIO_FD_SOCKET)
		return tpio_req_fail(&r, ERROR_NOT_SUPPORTED);
	*phAccepted = INVALID_HANDLE_VALUE;
	r.accepted = phAccepted;
	return tpio_req_pend(&r);
}

BOOL tpio_connect(HANDLE hSocket, const struct sockaddr *name, int namelen,
		  LPOVERLAPPED lpOverlapped)
{
	struct tpio_io_req r;
	DWORD err;

	if (!lpOverlapped || !name || namelen <= 0 ||
	    (size_t)namelen > sizeof(r.addr)) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	err = tpio_req_init(&r, hSocket, lpOverlapped, TPIO_OP_CONNECT);
	if (err) {
		SetLastError(err);
		return FALSE;
	}
	if (r.fd_kind != TPIO_FD_SOCKET)
		return tpio_req_fail(&r, ERROR_NOT_SUPPORTED);
	memcpy(&r.addr, name, (size_t)namelen);
	r.addrlen = (uint32_t)namelen;
	return tpio_req_pend(&r);
}
