// SPDX-License-Identifier: MIT
/*
 * TP_WAIT: CreateThreadpoolWait, SetThreadpoolWait(Ex),
 * WaitForThreadpoolWaitCallbacks, CloseThreadpoolWait
 * (Documentation/contract.rst, "Waits"). A wait object is an engine object
 * of kind TPIO_OBJ_WAIT. Setting it registers it as a watcher of the
 * synchronisation object (handles_sync.c) and, with a timeout, arms the
 * engine's timer for it. Whichever comes first claims the wait by clearing
 * the armed bit of io->w_state (one compare-and-swap; the bits above it
 * count the settings, so a late claimant of an older setting fails) and
 * queues the callback as one completion entry of the pool's port, with
 * WAIT_OBJECT_0 or WAIT_TIMEOUT as its status.
 *
 * On an fd handle (a Linux extension) the wait is one readiness request
 * of the I/O engine (TPIO_OP_POLLIN, one-shot: an io_uring poll, or an
 * epoll registration of the readiness engine), whose end comes back
 * through fdw_finish, which claims the setting the same way.
 *
 * Setting, stopping and closing are serialised by waits_mu (they are rare
 * and short); the object's signal path and the timer thread never take it.
 * Lock order: waits_mu, then an object's mutex, the timer lock or fdw_mu.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "api.h"

static pthread_mutex_t waits_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * One setting's readiness request on an fd. Shared by the setting
 * (io->w_fd, until the setting is stopped) and the engine's request (until
 * it ends, which it always does: readiness, an error, or the cancel that
 * stopping the setting sends): two references. A setting that timed out
 * drops its request when its callback starts. fdw_mu protects live and
 * the changes of io->w_fd (an atomic: the trampoline peeks at it), and is
 * held from the claim to the queued callback, so that a stop that took it
 * knows no late readiness is still posting.
 */
struct fdw {
	struct _TP_IO *io;
	uint32_t st;			/* the setting's w_state, armed */
	int fd;
	int live;			/* fdw_mu: the setting owns it still */
	_Atomic int refs;
};

static pthread_mutex_t fdw_mu = PTHREAD_MUTEX_INITIALIZER;

static void fdw_stop_timed_out(struct _TP_IO *io);

static VOID CALLBACK wait_tramp(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG status, ULONG_PTR bytes,
				PTP_IO io)
{
	(void)ov;
	(void)bytes;
	if (status == WAIT_TIMEOUT && atomic_load(&io->w_fd)) {
		/*
		 * A setting on an fd timed out: its readiness request goes now,
		 * unless a new setting already replaced it (w_fd is read again
		 * under the locks; the hint above costs the other waits nothing).
		 */
		pthread_mutex_lock(&waits_mu);
		fdw_stop_timed_out(io);
		pthread_mutex_unlock(&waits_mu);
	}
	((PTP_WAIT_CALLBACK)io->ucb)(inst, ctx, (PTP_WAIT)io, status);
}

/* Clear the armed bit: 1 when this call claimed the current setting. */
static int claim(struct _TP_IO *io)
{
	uint32_t st = atomic_load(&io->w_state);

	while (st & 1)
		if (atomic_compare_exchange_weak(&io->w_state, &st, st & ~1U))
			return 1;
	return 0;
}

/* the object satisfied the wait (its mutex held, the claim made) */
static void wait_fire(struct _TP_IO *io, DWORD result)
{
	int ret = tpio_obj_post(io, result);

	if (ret)
		tpio_warn("thread-pool wait %p: callback not queued (%d)",
			  (void *)io, ret);
}

/* the timer thread: the timeout came; queue WAIT_TIMEOUT if it claims */
static int wait_expire(struct _TP_IO *io, DWORD *status)
{
	if (!claim(io))
		return 0;
	*status = WAIT_TIMEOUT;
	return 1;
}

static void fdw_put(struct fdw *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

/*
 * The engine's request ended: @ov is its struct fdw. Readiness (also a
 * hang-up or an error condition, which poll reports as readable [T]) of a
 * setting still current and armed queues WAIT_OBJECT_0; a cancel, or a
 * setting stopped, replaced or timed out, queues nothing.
 */
static void fdw_finish(LPOVERLAPPED ov, HANDLE event, DWORD status,
		       ULONG_PTR bytes)
{
	struct fdw *t = (struct fdw *)ov;
	uint32_t st;

	(void)event;
	(void)bytes;
	pthread_mutex_lock(&fdw_mu);
	st = t->st;
	if (t->live && status != ERROR_OPERATION_ABORTED &&
	    atomic_compare_exchange_strong(&t->io->w_state, &st, st & ~1U))
		wait_fire(t->io, WAIT_OBJECT_0);
	pthread_mutex_unlock(&fdw_mu);
	fdw_put(t);
}

static const struct tpio_io_upcalls fdw_up = {
	.finish = fdw_finish,
	.status_from_errno = tpio_win32_from_errno,
	.handle_from_fd = tpio_handle_from_fd,
};

/*
 * waits_mu held, w_state armed for this setting: wait for fd @fd to be
 * readable. 0, or -1 when it is not an open fd (the setting is undone).
 */
static int fdw_start(struct _TP_IO *io, int fd, const char *fn)
{
	struct tpio_io_req r;
	struct stat sb;
	struct fdw *t;
	int ret;

	if (fstat(fd, &sb) < 0) {
		tpio_diag("%s(%p): fd %d: %s; ignored", fn, (void *)io, fd,
			  strerror(errno));
		return -1;
	}
	if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)) {
		/* [T] a file is always readable (as poll(2) says): at once */
		if (claim(io))
			wait_fire(io, WAIT_OBJECT_0);
		return 0;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		tpio_warn("%s(%p): out of memory; ignored", fn, (void *)io);
		return -1;
	}
	t->io = io;
	t->st = atomic_load(&io->w_state);
	t->fd = fd;
	t->live = 1;
	atomic_init(&t->refs, 2);
	pthread_mutex_lock(&fdw_mu);
	atomic_store(&io->w_fd, t);
	pthread_mutex_unlock(&fdw_mu);
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	r.kind = TPIO_OP_POLLIN;
	r.fd_kind = S_ISSOCK(sb.st_mode) ? TPIO_FD_SOCKET : TPIO_FD_STREAM;
	r.fifo = S_ISFIFO(sb.st_mode);
	r.ov = (LPOVERLAPPED)t;
	r.tid = TPIO_TID_WAIT;
	r.up = &fdw_up;
	/* the engine may end it at once, in this thread */
	ret = tpio_engine_submit(&r);
	if (ret < 0) {
		tpio_warn("%s(%p): fd %d cannot be watched (%s); ignored", fn,
			  (void *)io, fd, strerror(-ret));
		pthread_mutex_lock(&fdw_mu);
		atomic_store(&io->w_fd, NULL);
		t->live = 0;
		pthread_mutex_unlock(&fdw_mu);
		free(t);
		return -1;
	}
	return 0;
}

/*
 * waits_mu held: the setting's readiness request, if any, is dropped: a
 * readiness that comes later queues nothing (and one being queued now is
 * queued when this returns), and the request is cancelled.
 */
static void fdw_stop(struct _TP_IO *io)
{
	struct fdw *t;

	pthread_mutex_lock(&fdw_mu);
	t = atomic_exchange(&io->w_fd, NULL);
	if (t)
		t->live = 0;
	pthread_mutex_unlock(&fdw_mu);
	if (!t)
		return;
	/* it may have ended already: then this matches nothing */
	tpio_engine_cancel(t->fd, (LPOVERLAPPED)t, 0);
	fdw_put(t);
}

/* waits_mu held: drop the request of a setting that timed out, if current */
static void fdw_stop_timed_out(struct _TP_IO *io)
{
	struct fdw *t;
	int over;

	pthread_mutex_lock(&fdw_mu);
	t = atomic_load(&io->w_fd);
	over = t && atomic_load(&io->w_state) == (t->st & ~1U);
	pthread_mutex_unlock(&fdw_mu);
	if (over)
		fdw_stop(io);
}

/* waits_mu held: stop waiting; whether the wait was set */
static int wait_stop(struct _TP_IO *io)
{
	int was = claim(io);

	tpio_timer_disarm(io);
	tpio_watch_del(io);
	fdw_stop(io);
	return was;
}

static void wait_shutdown(struct _TP_IO *io)
{
	pthread_mutex_lock(&waits_mu);
	wait_stop(io);
	pthread_mutex_unlock(&waits_mu);
}

static struct _TP_IO *wait_of(PTP_WAIT pwa, const char *fn)
{
	if (!tpio_obj_valid(pwa, TPIO_OBJ_WAIT)) {
		tpio_diag("%s(%p): not a live TP_WAIT", fn, (void *)pwa);
		return NULL;
	}
	return (struct _TP_IO *)pwa;
}

PTP_WAIT CreateThreadpoolWait(PTP_WAIT_CALLBACK pfnwa, PVOID pv,
			      PTP_CALLBACK_ENVIRON pcbe)
{
	static const struct tpio_obj_hooks hooks = {
		.shutdown = wait_shutdown,
		.t_expire = wait_expire,
	};

	return (PTP_WAIT)tpio_obj_create(TPIO_OBJ_WAIT, wait_tramp,
					 (void (*)(void))pfnwa, pv, pcbe,
					 &hooks);
}

static BOOL wait_set(PTP_WAIT pwa, HANDLE h, PFILETIME timeout,
		     const char *fn)
{
	struct _TP_IO *io = wait_of(pwa, fn);
	uint32_t st;
	int was, ret;

	if (!io)
		return FALSE;
	if (atomic_load_explicit(&io->closing, memory_order_relaxed)) {
		tpio_diag("%s(%p): object is closed", fn, (void *)pwa);
		return FALSE;
	}
	pthread_mutex_lock(&waits_mu);
	was = wait_stop(io);
	if (h) {
		/* a new setting: the next generation, armed */
		st = (atomic_load(&io->w_state) + 2) & ~1U;
		atomic_store(&io->w_state, st | 1);
		if (timeout && !timeout->dwLowDateTime && !timeout->dwHighDateTime) {
			/* a timeout of 0 times out at once, object unseen [D] */
			if (claim(io))
				wait_fire(io, WAIT_TIMEOUT);
		} else if (tpio_handle_is_fd(h) ?
			   fdw_start(io, tpio_fd_from_handle(h), fn) < 0 :
			   tpio_watch_add(h, io, wait_fire) < 0) {
			atomic_store(&io->w_state, st);
			if (!tpio_handle_is_fd(h))
				tpio_diag("%s(%p, %p): not an event, semaphore or mutex of this library; ignored",
					  fn, (void *)pwa, h);
		} else if (timeout && (atomic_load(&io->w_state) & 1)) {
			ret = tpio_timer_arm(io, tpio_due_of(timeout), 0);
			if (ret < 0)
				tpio_warn("%s(%p): the timer thread cannot run (%d); no timeout",
					  fn, (void *)pwa, ret);
		}
	}
	pthread_mutex_unlock(&waits_mu);
	return was ? TRUE : FALSE;
}

VOID SetThreadpoolWait(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout)
{
	wait_set(pwa, h, pftTimeout, "SetThreadpoolWait");
}

BOOL SetThreadpoolWaitEx(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout,
			 PVOID Reserved)
{
	if (Reserved) {
		tpio_diag("SetThreadpoolWaitEx(%p): Reserved is not NULL",
			  (void *)pwa);
		return FALSE;
	}
	return wait_set(pwa, h, pftTimeout, "SetThreadpoolWaitEx");
}

VOID WaitForThreadpoolWaitCallbacks(PTP_WAIT pwa, BOOL fCancelPendingCallbacks)
{
	struct _TP_IO *io = wait_of(pwa, "WaitForThreadpoolWaitCallbacks");

	if (io)
		tpio_obj_wait(io, fCancelPendingCallbacks,
			      "WaitForThreadpoolWaitCallbacks");
}

VOID CloseThreadpoolWait(PTP_WAIT pwa)
{
	struct _TP_IO *io = wait_of(pwa, "CloseThreadpoolWait");

	if (!io)
		return;
	wait_shutdown(io);
	tpio_io_close_internal(io, 0);
}
