// SPDX-License-Identifier: MIT
/*
 * Overlapped I/O: ReadFile, WriteFile, GetOverlappedResult, CancelIoEx,
 * CancelIo, SetFileCompletionNotificationModes (Documentation/contract.rst,
 * section 7; Documentation/io.rst).
 *
 * An operation first tries to finish at once in the calling thread where
 * Windows would (reads from pipes and sockets, sends on sockets), without
 * blocking; otherwise it goes to the engine (io_engine.c) and the call returns
 * FALSE with ERROR_IO_PENDING. Regular files always pend [T].
 *
 * OVERLAPPED.Internal is TPIO_STATUS_PENDING while the operation runs and
 * its Win32 status once it is done; InternalHigh is stored before it. The
 * final store of Internal is seq_cst and is followed by a read of
 * ov_waiters; GetOverlappedResult(bWait) raises ov_waiters and then re-reads
 * Internal before each futex sleep (Dekker: no lost wake-up, and no wake
 * system call when nobody waits).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "api.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the completion futex is the low half of OVERLAPPED.Internal");

static _Atomic int ov_waiters;

static uint32_t *ov_futex(LPOVERLAPPED ov)
{
	return (uint32_t *)&ov->Internal;
}

void tpio_ov_finish(LPOVERLAPPED ov, HANDLE event, DWORD status,
		    ULONG_PTR bytes)
{
	__atomic_store_n(&ov->InternalHigh, bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&ov->Internal, (ULONG_PTR)status, __ATOMIC_SEQ_CST);
	if (atomic_load(&ov_waiters))
		syscall(SYS_futex, ov_futex(ov), FUTEX_WAKE_PRIVATE, INT_MAX,
			NULL, NULL, 0);
	if (event)
		SetEvent(event);
}

static void ov_wait(LPOVERLAPPED ov)
{
	struct tpio_worker *self = tpio_self;

	/*
	 * A pool thread waiting for I/O: what it prepared must reach the
	 * kernel, and someone must reap, though it will not lead meanwhile.
	 */
	if (self) {
		struct tpio_engine *e = atomic_load(&self->pool->eng);

		if (e)
			tpio_engine_submit_now(e);
		tpio_pool_watch(self->pool);
	}
	atomic_fetch_add(&ov_waiters, 1);
	while (__atomic_load_n(&ov->Internal, __ATOMIC_SEQ_CST) ==
	       TPIO_STATUS_PENDING)
		syscall(SYS_futex, ov_futex(ov), FUTEX_WAIT_PRIVATE,
			TPIO_STATUS_PENDING, NULL, NULL, 0);
	atomic_fetch_sub(&ov_waiters, 1);
}

/* TPIO_FD_*, with TPIO_FD_FIFO for a pipe or FIFO; 0 when unknown. */
static uint8_t fd_kind_of(int fd, struct _TP_IO *io)
{
	uint8_t kind = io ? atomic_load(&io->fd_kind) : 0;
	struct stat st;

	if (kind)
		return kind;
	if (fstat(fd, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		kind = TPIO_FD_FILE;
	else if (S_ISSOCK(st.st_mode))
		kind = TPIO_FD_SOCKET;
	else
		kind = TPIO_FD_STREAM |
		       (S_ISFIFO(st.st_mode) ? TPIO_FD_FIFO : 0);
	if (io)
		atomic_store(&io->fd_kind, kind);
	return kind;
}

/* how the engine reports an operation's end back to this layer */
static const struct tpio_io_upcalls io_upcalls = {
	.finish = tpio_ov_finish,
	.status_from_errno = tpio_win32_from_errno,
	.handle_from_fd = tpio_handle_from_fd,
};

/*
 * Fill @r for an overlapped operation on @h and mark @ov pending. Returns
 * 0 or the Win32 error of an immediate failure (nothing marked then).
 */
DWORD tpio_req_init(struct tpio_io_req *r, HANDLE h, LPOVERLAPPED ov,
		    enum tpio_op_kind kind)
{
	struct tpio_binding b;
	uintptr_t ev = (uintptr_t)ov->hEvent;
	int fd = tpio_fd_from_handle(h);

	if (fd < 0)
		return ERROR_INVALID_HANDLE;
	memset(r, 0, offsetof(struct tpio_io_req, addr));
	r->up = &io_upcalls;
	r->fd = fd;
	r->kind = kind;
	r->ov = ov;
	r->tid = GetCurrentThreadId();
	/* Windows: an event handle with bit 0 set asks for no port completion */
	r->event = (HANDLE)(ev & ~(uintptr_t)1);
	if (tpio_io_from_fd(fd, &b))
		b.io = NULL;
	if (b.io) {
		/* the pool's engine runs every operation of a bound fd */
		r->ring_pool = b.pool;
		if (!(ev & 1)) {
			r->to.pool = b.pool;
			r->to.io = b.io;
			r->to.handle = b.handle;
			r->to.epoch = b.epoch;
			r->skip = !!(atomic_load(&b.io->notify_modes) &
				     FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
		}
	} else if (!(ev & 1)) {
		int skip;

		/* a handle associated with a completion port (iocp.c) */
		if (tpio_iocp_target(fd, &r->to, &skip))
			r->skip = (uint8_t)skip;
	}
	r->fd_kind = fd_kind_of(fd, b.io);
	r->fifo = !!(r->fd_kind & TPIO_FD_FIFO);
	r->fd_kind &= (uint8_t)~TPIO_FD_FIFO;
	if (!r->fd_kind)
		return ERROR_INVALID_HANDLE;
	r->off = (uint64_t)ov->Offset | (uint64_t)ov->OffsetHigh << 32;
	r->eof_status = r->fd_kind == TPIO_FD_FILE ? ERROR_HANDLE_EOF :
			r->fd_kind == TPIO_FD_STREAM ? ERROR_BROKEN_PIPE :
			ERROR_SUCCESS;
	if (r->event)
		ResetEvent(r->event);
	__atomic_store_n(&ov->InternalHigh, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ov->Internal, TPIO_STATUS_PENDING, __ATOMIC_SEQ_CST);
	return 0;
}

/* An immediate failure: nothing is posted; the caller cancels its Start. */
BOOL tpio_req_fail(struct tpio_io_req *r, DWORD err)
{
	tpio_ov_finish(r->ov, NULL, err, 0);
	SetLastError(err);
	return FALSE;
}

/* Hand @r to the engine: FALSE + ERROR_IO_PENDING. */
BOOL tpio_req_pend(struct tpio_io_req *r)
{
	int ret = tpio_engine_submit(r);

	if (ret)
		return tpio_req_fail(r, ret == -ENOMEM ? ERROR_NOT_ENOUGH_MEMORY :
				     ERROR_NOT_SUPPORTED);
	SetLastError(ERROR_IO_PENDING);
	return FALSE;
}

/*
 * Finished at once with success: TRUE, and the completion is still posted
 * unless the handle skips completions on success.
 */
static BOOL req_done_now(struct tpio_io_req *r, size_t n, LPDWORD count)
{
	if (count)
		*count = (DWORD)n;
	tpio_ov_finish(r->ov, r->event, ERROR_SUCCESS, n);
	/* -ENOENT: the object was closed meanwhile; nothing to run */
	if (!r->skip)
		tpio_complete(&r->to, (__u64)(uintptr_t)r->ov, ERROR_SUCCESS,
			      n, NULL);
	return TRUE;
}

/*
 * A pipe write that finished in the caller: still reported pending
 * ([T]: pipe writes always pend), with its completion already delivered.
 */
static BOOL req_pending_done(struct tpio_io_req *r, DWORD status, size_t n)
{
	tpio_ov_finish(r->ov, r->event, status, n);
	tpio_complete(&r->to, (__u64)(uintptr_t)r->ov, status, n, NULL);
	SetLastError(ERROR_IO_PENDING);
	return FALSE;
}

/* A read that does not block: bytes, or -errno (-EAGAIN: would block). */
static ssize_t read_now(const struct tpio_io_req *r)
{
	ssize_t n;

	if (r->fd_kind != TPIO_FD_SOCKET) {
		n = tpio_stream_read_nowait(r->fd, r->buf, r->len);
		return n == -ENOTTY ? -EAGAIN : n;
	}
	do {
		n = recv(r->fd, r->buf, r->len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static BOOL read_overlapped(HANDLE h, LPVOID buf, DWORD len, LPDWORD count,
			    LPOVERLAPPED ov)
{
	struct tpio_io_req r;
	DWORD err = tpio_req_init(&r, h, ov, TPIO_OP_READ);
	ssize_t n;

	if (err) {
		SetLastError(err);
		return FALSE;
	}
	if (count)
		*count = 0;
	r.buf = buf;
	r.len = len;
	if (!buf && len)
		return tpio_req_fail(&r, ERROR_NOACCESS);
	if (r.fd_kind == TPIO_FD_FILE)
		return tpio_req_pend(&r);	/* [T] files always pend */
	if (r.fd_kind == TPIO_FD_SOCKET)
		r.kind = len ? TPIO_OP_RECV : TPIO_OP_POLLIN;
	if (r.kind == TPIO_OP_POLLIN) {
		/* zero-byte socket read: completes once data can be read */
		struct pollfd p = { .fd = r.fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return req_done_now(&r, 0, count);
		return tpio_req_pend(&r);
	}
	/* older pending reads of a pipe take its data first */
	if (r.fd_kind == TPIO_FD_STREAM && tpio_engine_reads_pending(r.fd))
		return tpio_req_pend(&r);
	n = read_now(&r);
	if (n == -EAGAIN)
		return tpio_req_pend(&r);
	if (n < 0)
		return tpio_req_fail(&r, tpio_win32_from_errno((int)-n));
	if (!n && len && r.fd_kind == TPIO_FD_STREAM)
		return tpio_req_fail(&r, ERROR_BROKEN_PIPE);
	return req_done_now(&r, (size_t)n, count);
}

static BOOL write_overlapped(HANDLE h, LPCVOID buf, DWORD len, LPDWORD count,
			     LPOVERLAPPED ov)
{
	struct tpio_io_req r;
	DWORD err = tpio_req_init(&r, h, ov, TPIO_OP_WRITE);
	ssize_t n;

	if (err) {
		SetLastError(err);
		return FALSE;
	}
	if (count)
		*count = 0;
	r.buf = (void *)buf;
	r.len = len;
	if (!buf && len)
		return tpio_req_fail(&r, ERROR_NOACCESS);
	if (r.fd_kind == TPIO_FD_FILE)
		return tpio_req_pend(&r);	/* [T] files always pend */
	if (r.fd_kind == TPIO_FD_STREAM) {
		/* [T] pipe writes pend: what can be written now is, at once */
		n = len ? tpio_stream_write_nowait(r.fd, buf, len,
						     !tpio_self) : 0;
		if (n == (ssize_t)len)
			return req_pending_done(&r, ERROR_SUCCESS, len);
		if (n == -EPIPE)
			return req_pending_done(&r, ERROR_BROKEN_PIPE, 0);
		if (n < 0 && n != -EAGAIN)
			return req_pending_done(&r, tpio_win32_from_errno((int)-n),
						0);
		r.done = n > 0 ? (uint32_t)n : 0;
		return tpio_req_pend(&r);
	}
	r.kind = TPIO_OP_SEND;
	do {
		n = send(r.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return tpio_req_fail(&r, tpio_win32_from_errno(errno));
	if (n == (ssize_t)len)
		return req_done_now(&r, (size_t)n, count);
	r.done = n > 0 ? (uint32_t)n : 0;	/* the rest goes async */
	return tpio_req_pend(&r);
}

/* ReadFile/WriteFile without an OVERLAPPED: a plain blocking call. */
static BOOL read_sync(int fd, LPVOID buf, DWORD len, LPDWORD count)
{
	struct stat st;
	ssize_t n;

	if (count)
		*count = 0;
	if (fstat(fd, &st) < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		SetLastError(tpio_win32_from_errno(errno));
		return FALSE;
	}
	if (!n && len && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		SetLastError(ERROR_BROKEN_PIPE);
		return FALSE;
	}
	if (count)
		*count = (DWORD)n;
	return TRUE;
}

/* Writes everything; EPIPE's SIGPIPE is taken back, not delivered. */
static BOOL write_sync(int fd, LPCVOID buf, DWORD len, LPDWORD count)
{
	sigset_t pipe_set, old, pending;
	const char *p = buf;
	DWORD done = 0;
	int was_pending, err = 0;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		done += (DWORD)n;
	}
	if (err == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (count)
		*count = done;
	if (err) {
		SetLastError(tpio_win32_from_errno(err));
		return FALSE;
	}
	return TRUE;
}

BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
	      LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)
{
	int fd;

	if (lpOverlapped)
		return read_overlapped(hFile, lpBuffer, nNumberOfBytesToRead,
				       lpNumberOfBytesRead, lpOverlapped);
	fd = tpio_fd_from_handle(hFile);
	if (fd < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	if (!lpBuffer && nNumberOfBytesToRead) {
		SetLastError(ERROR_NOACCESS);
		return FALSE;
	}
	return read_sync(fd, lpBuffer, nNumberOfBytesToRead,
			 lpNumberOfBytesRead);
}

BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
	       LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped)
{
	int fd;

	if (lpOverlapped)
		return write_overlapped(hFile, lpBuffer, nNumberOfBytesToWrite,
					lpNumberOfBytesWritten, lpOverlapped);
	fd = tpio_fd_from_handle(hFile);
	if (fd < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	if (!lpBuffer && nNumberOfBytesToWrite) {
		SetLastError(ERROR_NOACCESS);
		return FALSE;
	}
	return write_sync(fd, lpBuffer, nNumberOfBytesToWrite,
			  lpNumberOfBytesWritten);
}

BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
			 LPDWORD lpNumberOfBytesTransferred, BOOL bWait)
{
	ULONG_PTR st;

	(void)hFile;	/* the wait is on the operation itself */
	if (!lpOverlapped) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	st = __atomic_load_n(&lpOverlapped->Internal, __ATOMIC_ACQUIRE);
	if (st == TPIO_STATUS_PENDING) {
		if (!bWait) {
			SetLastError(ERROR_IO_INCOMPLETE);
			return FALSE;
		}
		ov_wait(lpOverlapped);
		st = __atomic_load_n(&lpOverlapped->Internal, __ATOMIC_ACQUIRE);
	}
	if (lpNumberOfBytesTransferred)
		*lpNumberOfBytesTransferred =
			(DWORD)__atomic_load_n(&lpOverlapped->InternalHigh,
					       __ATOMIC_RELAXED);
	if (st != ERROR_SUCCESS) {
		SetLastError((DWORD)st);
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)
{
	int fd = tpio_fd_from_handle(hFile);

	if (fd < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	if (!tpio_engine_cancel(fd, lpOverlapped, 0)) {
		SetLastError(ERROR_NOT_FOUND);
		return FALSE;
	}
	return TRUE;
}

BOOL CancelIo(HANDLE hFile)
{
	int fd = tpio_fd_from_handle(hFile);

	if (fd < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	tpio_engine_cancel(fd, NULL, GetCurrentThreadId());
	return TRUE;
}

BOOL SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags)
{
	struct tpio_binding b;
	int fd = tpio_fd_from_handle(FileHandle);

	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	if (Flags & ~(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
		      FILE_SKIP_SET_EVENT_ON_HANDLE)) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	/* [T] the mode belongs to the binding: CreateThreadpoolIo first */
	if (!tpio_iocp_set_modes(fd, Flags))
		return TRUE;	/* or CreateIoCompletionPort */
	if (tpio_io_from_fd(fd, &b)) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	atomic_store(&b.io->notify_modes, Flags);
	return TRUE;
}
