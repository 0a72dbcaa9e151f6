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
