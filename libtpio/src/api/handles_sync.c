// SPDX-License-Identifier: MIT
/*
 * Handles and the synchronisation objects the thread-pool API needs:
 * events, semaphores, mutexes (WaitForSingleObject, CloseHandle), critical
 * sections, and the fd handles of tpio_handle_from_fd.
 *
 * Handle values: fd handles are ((fd << 2) | 1). Object handles are
 * (((generation << 22) | index) << 2) | 2, an index into the handle table
 * with the entry's generation, so a closed handle is recognised without
 * touching freed memory. The table (table_mu) holds one reference to each
 * object; each operation holds another while it runs, so CloseHandle while
 * another thread waits is safe (the object lives until the waiter leaves).
 *
 * An object's state is protected by obj->mu; obj->cv (CLOCK_MONOTONIC)
 * is broadcast on every change that can satisfy a waiter.
 *
 * Thread-pool waits (threadpool_wait.c) are watchers of the object: each
 * change that can satisfy a waiter also scans obj->watchers (oldest first)
 * and hands the object to each armed watcher it satisfies, whose callback
 * is then queued (watch_fire).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "api.h"

enum obj_type { OBJ_EVENT = 1, OBJ_SEMAPHORE, OBJ_MUTEX, OBJ_EXT };

struct obj {
	enum obj_type type;
	_Atomic int refs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tpio_list watchers;	/* _TP_IO.w_link, oldest first */
	union {
		struct { int manual, signaled; } ev;
		struct { LONG count, max; } sem;
		struct { DWORD owner; LONG recursion; int abandoned; } mx;
		struct { const struct tpio_ext_ops *ops; void *p; } ext;
	};
};

#define IDX_BITS	22
#define CHUNK_SHIFT	10
#define CHUNK_SIZE	(1U << CHUNK_SHIFT)
#define MAX_CHUNKS	((1U << IDX_BITS) / CHUNK_SIZE)

struct hentry {
	struct obj *obj;
	uint32_t gen;
	uint32_t next_free;
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hentry *chunks[MAX_CHUNKS];	/* protected by table_mu */
static uint32_t n_entries;
static uint32_t free_head = UINT32_MAX;

static struct hentry *entry_at(uint32_t idx)
{
	return &chunks[idx >> CHUNK_SHIFT][idx & (CHUNK_SIZE - 1)];
}

/* ---- fd handles ---- */

HANDLE tpio_handle_from_fd(int fd)
{
	if (fd < 0)
		return INVALID_HANDLE_VALUE;
	return (HANDLE)(((uintptr_t)fd << 2) | 1);
}

int tpio_handle_is_fd(HANDLE h)
{
	return h != INVALID_HANDLE_VALUE && ((uintptr_t)h & 3) == 1;
}

int tpio_fd_from_handle(HANDLE h)
{
	uintptr_t v = (uintptr_t)h >> 2;

	if (!tpio_handle_is_fd(h) || v > INT_MAX) {
		SetLastError(ERROR_INVALID_HANDLE);
		return -1;
	}
	return (int)v;
}

/* ---- the handle table ---- */

static void obj_put(struct obj *o)
{
	if (atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	if (o->type == OBJ_EXT)
		o->ext.ops->put(o->ext.p);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o);
}

static HANDLE handle_new(struct obj *o)
{
	struct hentry *e;
	uint32_t idx;

	pthread_mutex_lock(&table_mu);
	if (free_head != UINT32_MAX) {
		idx = free_head;
		free_head = entry_at(idx)->next_free;
	} else {
		if (n_entries >= (1U << IDX_BITS))
			goto full;
		if (!chunks[n_entries >> CHUNK_SHIFT]) {
			chunks[n_entries >> CHUNK_SHIFT] =
				calloc(CHUNK_SIZE, sizeof(struct hentry));
			if (!chunks[n_entries >> CHUNK_SHIFT])
				goto full;
		}
		idx = n_entries++;
	}
	e = entry_at(idx);
	e->obj = o;
	pthread_mutex_unlock(&table_mu);
	return (HANDLE)(((((uintptr_t)(e->gen & 0xffffff) << IDX_BITS) | idx) << 2) | 2);
full:
	pthread_mutex_unlock(&table_mu);
	return NULL;
}

/* Decode @h; table_mu held. */
static struct hentry *handle_entry(HANDLE h, uint32_t *pidx)
{
	uintptr_t v = (uintptr_t)h;
	uint32_t idx, gen;
	struct hentry *e;

	if ((v & 3) != 2)
		return NULL;
	v >>= 2;
	idx = v & ((1U << IDX_BITS) - 1);
	gen = (uint32_t)(v >> IDX_BITS);
	if (idx >= n_entries || (v >> IDX_BITS) > 0xffffff)
		return NULL;
	e = entry_at(idx);
	if (!e->obj || (e->gen & 0xffffff) != gen)
		return NULL;
	if (pidx)
		*pidx = idx;
	return e;
}

/* A reference to the object of @h, of @type (0: any), or NULL. */
static struct obj *obj_get(HANDLE h, enum obj_type type)
{
	struct hentry *e;
	struct obj *o = NULL;

	pthread_mutex_lock(&table_mu);
	e = handle_entry(h, NULL);
	if (e && (!type || e->obj->type == type)) {
		o = e->obj;
		atomic_fetch_add(&o->refs, 1);
	}
	pthread_mutex_unlock(&table_mu);
	if (!o)
		SetLastError(ERROR_INVALID_HANDLE);
	return o;
}

static struct obj *obj_new(enum obj_type type)
{
	struct obj *o = calloc(1, sizeof(*o));
	pthread_condattr_t ca;

	if (!o)
		return NULL;
	o->type = type;
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->cv, &ca);
	pthread_condattr_destroy(&ca);
	tpio_list_init(&o->watchers);
	return o;
}

static HANDLE obj_publish(struct obj *o)
{
	HANDLE h;

	if (!o) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	h = handle_new(o);
	if (!h) {
		obj_put(o);
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
	}
	return h;
}

BOOL CloseHandle(HANDLE hObject)
{
	struct hentry *e;
	struct obj *o;
	uint32_t idx;

	if (tpio_handle_is_fd(hObject)) {
		int fd = tpio_fd_from_handle(hObject);

		if (fd >= 0)
			tpio_iocp_fd_closed(fd);	/* its port association */
		if (close(fd) < 0) {
			SetLastError(tpio_win32_from_errno(errno));
			return FALSE;
		}
		return TRUE;
	}
	pthread_mutex_lock(&table_mu);
	e = handle_entry(hObject, &idx);
	if (!e) {
		pthread_mutex_unlock(&table_mu);
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	o = e->obj;
	e->obj = NULL;
	e->gen++;
	e->next_free = free_head;
	free_head = idx;
	pthread_mutex_unlock(&table_mu);
	if (o->type == OBJ_EXT)
		o->ext.ops->close(o->ext.p);
	obj_put(o);
	return TRUE;
}

/* ---- objects of other files (completion ports) ---- */

HANDLE tpio_ext_handle_new(const struct tpio_ext_ops *ops, void *p)
{
	struct obj *o = obj_new(OBJ_EXT);

	if (!o) {
		ops->put(p);
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	o->ext.ops = ops;
	o->ext.p = p;
	return obj_publish(o);	/* on failure, obj_put() puts @p */
}

void *tpio_ext_get(HANDLE h, const struct tpio_ext_ops *ops)
{
	struct hentry *e;
	void *p = NULL;

	pthread_mutex_lock(&table_mu);
	e = handle_entry(h, NULL);
	if (e && e->obj->type == OBJ_EXT && e->obj->ext.ops == ops) {
		p = e->obj->ext.p;
		ops->get(p);
	}
	pthread_mutex_unlock(&table_mu);
	return p;
}

/* ---- thread-pool waits: watchers of an object ---- */

/* threadpool_wait.c's: queue the callback of a satisfied wait (o->mu held) */
static void (*_Atomic watch_fire)(struct _TP_IO *io, DWORD result);

/*
 * Take @o for a thread-pool wait if it is signalled: 1, or 0. [T] A mutex
 * satisfies the wait while nobody owns it and is not taken (a wait has no
 * thread to own it); events and semaphores are taken as by a waiter.
 */
static int watch_take(struct obj *o)
{
	switch (o->type) {
	case OBJ_EVENT:
		if (!o->ev.signaled)
			return 0;
		if (!o->ev.manual)
			o->ev.signaled = 0;
		return 1;
	case OBJ_SEMAPHORE:
		if (!o->sem.count)
			return 0;
		o->sem.count--;
		return 1;
	case OBJ_MUTEX:
		return !o->mx.owner;
	default:		/* a completion port is not waitable */
		return 0;
	}
}

static void watch_give_back(struct obj *o)
{
	if (o->type == OBJ_EVENT && !o->ev.manual)
		o->ev.signaled = 1;
	else if (o->type == OBJ_SEMAPHORE)
		o->sem.count++;
}

/*
 * o->mu held, after a change that can satisfy waiters: satisfy the armed
 * watchers, oldest first, while the object stays signalled. A watcher is
 * claimed by clearing the armed bit of its state (its timeout may race);
 * one that is no longer armed (it timed out) just leaves the list.
 */
static void watch_scan(struct obj *o)
{
	struct tpio_link *l, *next;

	for (l = o->watchers.head.next; l != &o->watchers.head; l = next) {
		struct _TP_IO *io = tpio_container_of(l, struct _TP_IO, w_link);
		uint32_t st = atomic_load(&io->w_state);

		next = l->next;
		if (!(st & 1)) {
			tpio_list_del(l);
			continue;
		}
		if (!watch_take(o))
			break;
		if (!atomic_compare_exchange_strong(&io->w_state, &st, st & ~1U)) {
			watch_give_back(o);
			tpio_list_del(l);
			continue;
		}
		tpio_list_del(l);
		atomic_load(&watch_fire)(io, WAIT_OBJECT_0);
	}
}

int tpio_watch_add(HANDLE h, struct _TP_IO *io,
		   void (*fire)(struct _TP_IO *io, DWORD result))
{
	struct obj *o = obj_get(h, 0);
	struct tpio_link *head;

	if (!o)
		return -1;
	io->w_obj = o;		/* the reference obj_get took */
	pthread_mutex_lock(&o->mu);
	atomic_store(&watch_fire, fire);
	head = &o->watchers.head;
	io->w_link.next = head;
	io->w_link.prev = head->prev;
	head->prev->next = &io->w_link;
	head->prev = &io->w_link;
	watch_scan(o);
	pthread_mutex_unlock(&o->mu);
	return 0;
}

void tpio_watch_del(struct _TP_IO *io)
{
	struct obj *o = io->w_obj;

	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	if (io->w_link.next != &io->w_link)
		tpio_list_del(&io->w_link);
	pthread_mutex_unlock(&o->mu);
	io->w_obj = NULL;
	obj_put(o);
}

/* ---- mutex ownership per thread (for WAIT_ABANDONED) ---- */

struct owned {
	struct obj **v;
	size_t n, cap;
};

static pthread_key_t owned_key;
static pthread_once_t owned_once = PTHREAD_ONCE_INIT;

static void owned_exit(void *arg)
{
	struct owned *ow = arg;
	DWORD me = GetCurrentThreadId();
	size_t i;

	for (i = 0; i < ow->n; i++) {
		struct obj *o = ow->v[i];

		pthread_mutex_lock(&o->mu);
		if (o->mx.owner == me) {
			o->mx.owner = 0;
			o->mx.recursion = 0;
			o->mx.abandoned = 1;
			pthread_cond_broadcast(&o->cv);
			watch_scan(o);
		}
		pthread_mutex_unlock(&o->mu);
		obj_put(o);
	}
	free(ow->v);
	free(ow);
}

static void owned_init(void)
{
	pthread_key_create(&owned_key, owned_exit);
}

static void owned_add(struct obj *o)
{
	struct owned *ow;

	pthread_once(&owned_once, owned_init);
	ow = pthread_getspecific(owned_key);
	if (!ow) {
		ow = calloc(1, sizeof(*ow));
		if (!ow)
			return;
		pthread_setspecific(owned_key, ow);
	}
	if (ow->n == ow->cap) {
		size_t cap = ow->cap ? ow->cap * 2 : 4;
		struct obj **v = realloc(ow->v, cap * sizeof(*v));

		if (!v)
			return;
		ow->v = v;
		ow->cap = cap;
	}
	atomic_fetch_add(&o->refs, 1);
	ow->v[ow->n++] = o;
}

static void owned_del(struct obj *o)
{
	struct owned *ow;
	size_t i;

	pthread_once(&owned_once, owned_init);
	ow = pthread_getspecific(owned_key);
	if (!ow)
		return;
	for (i = 0; i < ow->n; i++) {
		if (ow->v[i] == o) {
			ow->v[i] = ow->v[--ow->n];
			obj_put(o);
			return;
		}
	}
}

/* ---- events, semaphores, mutexes ---- */

static HANDLE event_create(BOOL manual, BOOL initial, int named)
{
	struct obj *o;

	if (named) {
		SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
		return NULL;
	}
	o = obj_new(OBJ_EVENT);
	if (o) {
		o->ev.manual = !!manual;
		o->ev.signaled = !!initial;
	}
	return obj_publish(o);
}

HANDLE CreateEventW(LPSECURITY_ATTRIBUTES sa, BOOL bManualReset,
		    BOOL bInitialState, LPCWSTR lpName)
{
	(void)sa;
	return event_create(bManualReset, bInitialState, lpName != NULL);
}

HANDLE CreateEventA(LPSECURITY_ATTRIBUTES sa, BOOL bManualReset,
		    BOOL bInitialState, LPCSTR lpName)
{
	(void)sa;
	return event_create(bManualReset, bInitialState, lpName != NULL);
}

static BOOL event_set(HANDLE h, int value)
{
	struct obj *o = obj_get(h, OBJ_EVENT);

	if (!o)
		return FALSE;
	pthread_mutex_lock(&o->mu);
	o->ev.signaled = value;
	if (value) {
		pthread_cond_broadcast(&o->cv);
		watch_scan(o);
	}
	pthread_mutex_unlock(&o->mu);
	obj_put(o);
	return TRUE;
}

BOOL SetEvent(HANDLE hEvent)
{
	return event_set(hEvent, 1);
}

BOOL ResetEvent(HANDLE hEvent)
{
	return event_set(hEvent, 0);
}

static HANDLE semaphore_create(LONG initial, LONG max, int named)
{
	struct obj *o;

	if (named) {
		SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
		return NULL;
	}
	if (max <= 0 || initial < 0 || initial > max) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	o = obj_new(OBJ_SEMAPHORE);
	if (o) {
		o->sem.count = initial;
		o->sem.max = max;
	}
	return obj_publish(o);
}

HANDLE CreateSemaphoreW(LPSECURITY_ATTRIBUTES sa, LONG lInitialCount,
			LONG lMaximumCount, LPCWSTR lpName)
{
	(void)sa;
	return semaphore_create(lInitialCount, lMaximumCount, lpName != NULL);
}

HANDLE CreateSemaphoreA(LPSECURITY_ATTRIBUTES sa, LONG lInitialCount,
			LONG lMaximumCount, LPCSTR lpName)
{
	(void)sa;
	return semaphore_create(lInitialCount, lMaximumCount, lpName != NULL);
}

BOOL ReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount,
		      LPLONG lpPreviousCount)
{
	struct obj *o;
	BOOL ok = TRUE;

	if (lReleaseCount <= 0) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	o = obj_get(hSemaphore, OBJ_SEMAPHORE);
	if (!o)
		return FALSE;
	pthread_mutex_lock(&o->mu);
	if (o->sem.count > o->sem.max - lReleaseCount) {
		SetLastError(ERROR_TOO_MANY_POSTS);
		ok = FALSE;
	} else {
		if (lpPreviousCount)
			*lpPreviousCount = o->sem.count;
		o->sem.count += lReleaseCount;
		pthread_cond_broadcast(&o->cv);
		watch_scan(o);
	}
	pthread_mutex_unlock(&o->mu);
	obj_put(o);
	return ok;
}

static HANDLE mutex_create(BOOL owned, int named)
{
	struct obj *o;
	HANDLE h;

	if (named) {
		SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
		return NULL;
	}
	o = obj_new(OBJ_MUTEX);
	if (o && owned) {
		o->mx.owner = GetCurrentThreadId();
		o->mx.recursion = 1;
		owned_add(o);
	}
	h = obj_publish(o);
	return h;
}

HANDLE CreateMutexW(LPSECURITY_ATTRIBUTES sa, BOOL bInitialOwner,
		    LPCWSTR lpName)
{
	(void)sa;
	return mutex_create(bInitialOwner, lpName != NULL);
}

HANDLE CreateMutexA(LPSECURITY_ATTRIBUTES sa, BOOL bInitialOwner,
		    LPCSTR lpName)
{
	(void)sa;
	return mutex_create(bInitialOwner, lpName != NULL);
}

BOOL ReleaseMutex(HANDLE hMutex)
{
	struct obj *o = obj_get(hMutex, OBJ_MUTEX);
	DWORD me = GetCurrentThreadId();
	int released = 0;
	BOOL ok = TRUE;

	if (!o)
		return FALSE;
	pthread_mutex_lock(&o->mu);
	if (o->mx.owner != me || !o->mx.recursion) {
		SetLastError(ERROR_NOT_OWNER);
		ok = FALSE;
	} else if (!--o->mx.recursion) {
		o->mx.owner = 0;
		released = 1;
		pthread_cond_broadcast(&o->cv);
		watch_scan(o);
	}
	pthread_mutex_unlock(&o->mu);
	if (released)
		owned_del(o);
	obj_put(o);
	return ok;
}

/* Take @o if it is signalled; o->mu held. WAIT_TIMEOUT when not. */
static DWORD try_acquire(struct obj *o, DWORD me, int *new_owner)
{
	switch (o->type) {
	case OBJ_EVENT:
		if (!o->ev.signaled)
			return WAIT_TIMEOUT;
		if (!o->ev.manual)
			o->ev.signaled = 0;
		return WAIT_OBJECT_0;
	case OBJ_SEMAPHORE:
		if (!o->sem.count)
			return WAIT_TIMEOUT;
		o->sem.count--;
		return WAIT_OBJECT_0;
	case OBJ_MUTEX:
		if (o->mx.owner == me) {
			if (o->mx.recursion == INT32_MAX)
				return WAIT_FAILED;
			o->mx.recursion++;
			return WAIT_OBJECT_0;
		}
		if (o->mx.owner)
			return WAIT_TIMEOUT;
		o->mx.owner = me;
		o->mx.recursion = 1;
		*new_owner = 1;
		if (o->mx.abandoned) {
			o->mx.abandoned = 0;
			return WAIT_ABANDONED;
		}
		return WAIT_OBJECT_0;
	case OBJ_EXT:	/* [T] a completion port cannot be waited on */
		break;
	}
	return WAIT_FAILED;
}

DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
	struct obj *o = obj_get(hHandle, 0);
	DWORD me = GetCurrentThreadId(), r;
	struct timespec ts;
	int new_owner = 0;

	if (!o)
		return WAIT_FAILED;
	if (dwMilliseconds != INFINITE) {
		__u64 at = tpio_now_ns() + (__u64)dwMilliseconds * 1000000ULL;

		ts.tv_sec = at / 1000000000ULL;
		ts.tv_nsec = at % 1000000000ULL;
	}
	pthread_mutex_lock(&o->mu);
	for (;;) {
		r = try_acquire(o, me, &new_owner);
		if (r != WAIT_TIMEOUT || !dwMilliseconds)
			break;
		if (dwMilliseconds == INFINITE)
			pthread_cond_wait(&o->cv, &o->mu);
		else if (pthread_cond_timedwait(&o->cv, &o->mu, &ts) == ETIMEDOUT) {
			r = try_acquire(o, me, &new_owner);
			break;
		}
	}
	pthread_mutex_unlock(&o->mu);
	if (new_owner)
		owned_add(o);
	if (r == WAIT_FAILED)
		SetLastError(ERROR_INVALID_PARAMETER);
	obj_put(o);
	return r;
}
