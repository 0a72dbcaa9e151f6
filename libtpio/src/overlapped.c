// SPDX-License-Identifier: MIT
/*
 * The overlapped I/O family is not implemented yet (it belongs to the
 * io_uring engine, a later issue). Each function fails loudly: FALSE with
 * ERROR_CALL_NOT_IMPLEMENTED, and a diagnostic once per process.
 */
#include "internal.h"

static void missing(const char *fn)
{
	static _Atomic int told;

	if (!atomic_exchange(&told, 1))
		tpio_warn("%s: overlapped I/O is not implemented yet (ERROR_CALL_NOT_IMPLEMENTED); use tpio_post_completion",
			  fn);
	SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
}

BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
	      LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)
{
	(void)hFile; (void)lpBuffer; (void)nNumberOfBytesToRead;
	(void)lpNumberOfBytesRead; (void)lpOverlapped;
	missing("ReadFile");
	return FALSE;
}

BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
	       LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)
{
	(void)hFile; (void)lpBuffer; (void)nNumberOfBytesToWrite;
	(void)lpNumberOfBytesWritten; (void)lpOverlapped;
	missing("WriteFile");
	return FALSE;
}

BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
			 LPDWORD lpNumberOfBytesTransferred, BOOL bWait)
{
	(void)hFile; (void)lpOverlapped; (void)lpNumberOfBytesTransferred;
	(void)bWait;
	missing("GetOverlappedResult");
	return FALSE;
}

BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)
{
	(void)hFile; (void)lpOverlapped;
	missing("CancelIoEx");
	return FALSE;
}

BOOL CancelIo(HANDLE hFile)
{
	(void)hFile;
	missing("CancelIo");
	return FALSE;
}

BOOL SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags)
{
	(void)FileHandle; (void)Flags;
	missing("SetFileCompletionNotificationModes");
	return FALSE;
}
