/* SPDX-License-Identifier: MIT */
/*
 * libtpio's API layer (Documentation/map.rst): the Win32 functions of
 * tpio.h and the library's own extensions. It is the only layer that
 * turns an errno into a Win32 error (errors.c) and sets the last error;
 * it calls the engine below and registers the callbacks through which
 * the engine reports back (struct tpio_io_upcalls, the instance's
 * on_return, the object's group_remove).
 */
#ifndef TPIO_API_H
#define TPIO_API_H

#include "engine.h"

/* ---- cleanup groups (callback_env.c) ---- */
struct _TP_CLEANUP_GROUP {
	uint32_t magic;
	pthread_mutex_t mu;
	struct tpio_list members;	/* _TP_IO.g_link */
};

TPIO_HIDDEN int tpio_group_add(PTP_CLEANUP_GROUP g, struct _TP_IO *io);
TPIO_HIDDEN int tpio_group_valid(PTP_CLEANUP_GROUP g);

/* ---- callback environments (threadpool_io.c) ---- */
TPIO_HIDDEN DWORD tpio_env_check(PTP_CALLBACK_ENVIRON e);
/* the pool and callback settings an environment gives an object */
TPIO_HIDDEN DWORD tpio_env_params(PTP_CALLBACK_ENVIRON pcbe,
				  struct tpio_io_params *p,
				  struct _TP_POOL **pool);

/*
 * Work items, timers and waits (threadpool_obj.c): an engine object of
 * @kind whose callbacks run @tramp, which calls the user's @ucb, with
 * @hooks (may be NULL) set before it joins the environment's cleanup
 * group. NULL + last error on failure.
 */
struct tpio_obj_hooks {
	void (*shutdown)(struct _TP_IO *io);	/* io->shutdown */
	int (*t_expire)(struct _TP_IO *io, DWORD *status);	/* io->t_expire */
};

TPIO_HIDDEN struct _TP_IO *tpio_obj_create(int kind, PTP_WIN32_IO_CALLBACK tramp,
					   void (*ucb)(void), PVOID pv,
					   PTP_CALLBACK_ENVIRON pcbe,
					   const struct tpio_obj_hooks *hooks);
/* WaitForThreadpool*Callbacks, with @fn for diagnostics */
TPIO_HIDDEN void tpio_obj_wait(struct _TP_IO *io, BOOL cancel, const char *fn);

/* ---- overlapped I/O (overlapped.c, socket.c) ---- */
TPIO_HIDDEN DWORD tpio_req_init(struct tpio_io_req *r, HANDLE h,
				LPOVERLAPPED ov, enum tpio_op_kind kind);
TPIO_HIDDEN BOOL tpio_req_pend(struct tpio_io_req *r);
TPIO_HIDDEN BOOL tpio_req_fail(struct tpio_io_req *r, DWORD err);
/* an operation's end: OVERLAPPED, its waiters, its event */
TPIO_HIDDEN void tpio_ov_finish(LPOVERLAPPED ov, HANDLE event, DWORD status,
				ULONG_PTR bytes);

/* ---- handles (handles_sync.c) ---- */
TPIO_HIDDEN int tpio_handle_is_fd(HANDLE h);
/*
 * Thread-pool waits: register wait @io (its w_state armed) as a watcher
 * of the object handle @h; @fire queues its callback once the object
 * satisfies it (at once if it is signalled now). -1 for a handle that is
 * no event, semaphore or mutex. tpio_watch_del undoes it (the caller
 * serialises both per wait).
 */
TPIO_HIDDEN int tpio_watch_add(HANDLE h, struct _TP_IO *io,
			       void (*fire)(struct _TP_IO *io, DWORD result));
TPIO_HIDDEN void tpio_watch_del(struct _TP_IO *io);

/* ---- timers (threadpool_timer.c) ---- */
/* the CLOCK_MONOTONIC time of a due time (absolute, or negative: relative) */
TPIO_HIDDEN __u64 tpio_due_of(const FILETIME *ft);

/*
 * Objects of other files behind object handles (completion ports): the
 * handle holds one reference (get/put); CloseHandle calls close once, then
 * drops the handle's reference. tpio_ext_handle_new takes over one
 * reference of @p (put again on failure: NULL, last error set);
 * tpio_ext_get returns @p with a new reference, or NULL.
 */
struct tpio_ext_ops {
	void (*get)(void *p);
	void (*put)(void *p);
	void (*close)(void *p);
};

TPIO_HIDDEN HANDLE tpio_ext_handle_new(const struct tpio_ext_ops *ops,
				       void *p);
TPIO_HIDDEN void *tpio_ext_get(HANDLE h, const struct tpio_ext_ops *ops);

/* ---- errors (errors.c, threadpool_io.c) ---- */
TPIO_HIDDEN DWORD tpio_win32_from_errno(int err);
/* the Win32 error of the engine's -errno for a pool or object creation */
TPIO_HIDDEN DWORD tpio_pool_error(int err);

#endif /* TPIO_API_H */
