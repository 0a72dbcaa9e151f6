// SPDX-License-Identifier: MIT
/*
 * Last error (thread-local), errno → Win32 mapping
 * (Documentation/contract.rst, section 7; the table is in
 * Documentation/io.rst). The API layer is the only one that turns an
 * errno into a Win32 error; the diagnostics are the engine's (diag.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

static __thread DWORD last_error;

DWORD GetLastError(void)
{
	return last_error;
}

VOID SetLastError(DWORD dwErrCode)
{
	last_error = dwErrCode;
}

/*
 * The one errno → Win32 table (Documentation/io.rst lists it). Port and
 * pool code map ENOSPC (no free object slot) to ERROR_NOT_ENOUGH_MEMORY
 * themselves; here it is a full disk.
 */
DWORD tpio_win32_from_errno(int err)
{
	switch (err) {
	case 0:			return ERROR_SUCCESS;
	case EBADF:		return ERROR_INVALID_HANDLE;
	case EFAULT:		return ERROR_NOACCESS;
	case EINVAL:		return ERROR_INVALID_PARAMETER;
	case ENOMEM:
	case ENOBUFS:		return ERROR_NOT_ENOUGH_MEMORY;
	case ENOSPC:
	case EDQUOT:		return ERROR_DISK_FULL;
	case EPIPE:		return ERROR_BROKEN_PIPE;
	case ECONNRESET:	return ERROR_NETNAME_DELETED;
	case ECANCELED:
	case EINTR:		return ERROR_OPERATION_ABORTED;
	case ENOENT:		return ERROR_FILE_NOT_FOUND;
	case ENOTDIR:		return ERROR_PATH_NOT_FOUND;
	case EEXIST:		return ERROR_FILE_EXISTS;
	case EISDIR:		return ERROR_DIRECTORY;
	case EACCES:
	case EPERM:		return ERROR_ACCESS_DENIED;
	case EROFS:		return ERROR_WRITE_PROTECT;
	case EMFILE:
	case ENFILE:		return ERROR_TOO_MANY_OPEN_FILES;
	case EFBIG:		return ERROR_FILE_TOO_LARGE;
	case ESPIPE:		return ERROR_SEEK;
	case EOVERFLOW:		return ERROR_NEGATIVE_SEEK;
	case EIO:		return ERROR_IO_DEVICE;
	case EBUSY:		return ERROR_BUSY;
	case EMSGSIZE:		return ERROR_MORE_DATA;
	case ETIMEDOUT:		return ERROR_SEM_TIMEOUT;
	case ECONNREFUSED:	return ERROR_CONNECTION_REFUSED;
	case ECONNABORTED:	return ERROR_CONNECTION_ABORTED;
	case ENOTCONN:
	case ESHUTDOWN:		return ERROR_NOT_CONNECTED;
	case EADDRINUSE:
	case EISCONN:		return ERROR_ADDRESS_ALREADY_ASSOCIATED;
	case ENETUNREACH:
	case ENETDOWN:		return ERROR_NETWORK_UNREACHABLE;
	case EHOSTUNREACH:	return ERROR_HOST_UNREACHABLE;
	case ENOSYS:
	case ENOTTY:
	case ENODEV:
	case ENXIO:
	case EOPNOTSUPP:
	case ENOTSOCK:
	case EAFNOSUPPORT:	return ERROR_NOT_SUPPORTED;
	/* the I/O family turns EAGAIN into a pending operation: never a result */
	case EAGAIN:		return ERROR_IO_PENDING;
	default:		return ERROR_INVALID_FUNCTION;
	}
}
