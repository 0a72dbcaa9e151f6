// SPDX-License-Identifier: MIT
/*
 * The TP_IO object and its accounting: every counter change is one atomic
 * RMW of the object's state word with a rule of common/tpio_word.h.
 * Start and Cancel take no lock and make no system call unless a Cancel
 * drains an object that somebody waits on.
 *
 * Freeing (CloseThreadpoolIo's deferred release): exactly one thread frees
 * a closing object once it is group-drained (pending == queued ==
 * running == 0). Dekker-style, all seq_cst: the closer stores closing and
 * then reads the word; a callback end or a Cancel RMWs the word and then
 * reads closing. At least one of them sees both; a CAS on io->claim picks
 * one. The struct may be reused as soon as it is freed, so each thread
 * names the incarnation it saw while the object was surely alive (io->inc,
 * read before its RMW): the claim CAS expects exactly that incarnation, and
 * a late thread cannot free the object's next life.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"

/* ---- type-stable TP_IO allocation ---- */

#define IO_CHUNK 64

static pthread_mutex_t slab_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tpio_stack slab_free;	/* _TP_IO.free_node, slab_mu */
static _Atomic ULONG io_live;

static struct _TP_IO *io_alloc(void)
{
	struct _TP_IO *io;

	pthread_mutex_lock(&slab_mu);
	if (!slab_free.top) {
		struct _TP_IO *chunk = calloc(IO_CHUNK, sizeof(*chunk));
		int i;

		if (!chunk) {
			pthread_mutex_unlock(&slab_mu);
			return NULL;
		}
		/* never freed: a stale PTP_IO can always be read safely */
		for (i = 0; i < IO_CHUNK; i++)
			tpio_stack_push(&slab_free, &chunk[i].free_node);
	}
	io = tpio_container_of(tpio_stack_pop(&slab_free), struct _TP_IO,
			       free_node);
	pthread_mutex_unlock(&slab_mu);
	atomic_store(&io->closing, 0);
	{
		static _Atomic uint32_t next_inc;
		uint32_t inc;

		do {
			inc = atomic_fetch_add(&next_inc, 1) & ~TPIO_IO_CLAIMED;
		} while (!inc);
		atomic_store(&io->claim, inc);
		atomic_store(&io->inc, inc);
	}
	io->group = NULL;
	io->group_remove = NULL;
	tpio_link_init(&io->g_link);
	io->g_hold = io->g_free_deferred = 0;
	io->shutdown = NULL;
	io->t_heap = -1;
	io->t_set = 0;
	io->t_expire = NULL;
	atomic_store(&io->w_state, 0);
	tpio_link_init(&io->w_link);
	io->w_obj = NULL;
	atomic_store(&io->w_fd, NULL);
	io->free_node.next = NULL;
	atomic_store(&io->parked, 0);
	atomic_flag_clear(&io->park_lock);
	io->parkq.head = io->parkq.tail = NULL;
	atomic_fetch_add(&io_live, 1);
	return io;
}

static void io_dealloc(struct _TP_IO *io)
{
	atomic_store(&io->magic, TPIO_IO_DEAD);
	pthread_mutex_lock(&slab_mu);
	tpio_stack_push(&slab_free, &io->free_node);
	pthread_mutex_unlock(&slab_mu);
	atomic_fetch_sub(&io_live, 1);
}

ULONG tpio_io_count(void)
{
	return atomic_load(&io_live);
}

int tpio_obj_valid(const void *p, int kind)
{
	const struct _TP_IO *io = p;

	/* the struct is type-stable: a stale pointer reads a dead magic */
	return io && !((uintptr_t)io & (_Alignof(struct _TP_IO) - 1)) &&
	       atomic_load(&io->magic) == TPIO_IO_MAGIC && io->kind == kind;
}

int tpio_io_valid(PTP_IO io)
{
	return tpio_obj_valid(io, TPIO_OBJ_IO);
}

/* ---- fd bindings: one live TP_IO per fd (fd_table.c) ---- */

static int fd_bind(int fd, struct _TP_IO *io)
{
	struct tpio_fd *f = tpio_fd_get(fd, 1);
	struct _TP_IO *none = NULL;

	if (!f)
		return -ENOMEM;
	if (atomic_load(&f->assoc))	/* associated with a completion port */
		return -EBUSY;
	return atomic_compare_exchange_strong(&f->io, &none, io) ? 0 : -EBUSY;
}

static void fd_unbind(int fd, struct _TP_IO *io)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);

	if (f)
		atomic_compare_exchange_strong(&f->io, &io, NULL);
}

/*
 * The live object bound to @fd, for the I/O family: 0, or -ENOENT when
 * none is. Lock-free: the struct is type-stable, and its incarnation,
 * read before and after the fields (all seq_cst), tells whether they
 * belong to one life of the object that was live and bound to @fd.
 */
int tpio_io_from_fd(int fd, struct tpio_binding *b)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);
	struct _TP_IO *io = f ? atomic_load(&f->io) : NULL;
	uint32_t inc;

	if (!io)
		return -ENOENT;
	inc = atomic_load(&io->inc);
	if (atomic_load(&io->magic) != TPIO_IO_MAGIC ||
	    atomic_load(&io->closing) || atomic_load(&io->fd) != fd)
		return -ENOENT;
	b->io = io;
	b->handle = __atomic_load_n(&io->handle, __ATOMIC_SEQ_CST);
	b->pool = __atomic_load_n(&io->pool, __ATOMIC_SEQ_CST);
	b->epoch = tpio_w_epoch(tpio_word_load(
		__atomic_load_n(&io->word, __ATOMIC_SEQ_CST)));
	return atomic_load(&io->inc) == inc ? 0 : -ENOENT;
}

/* ---- lifetime ---- */

/* The last step of freeing: after group membership is settled. */
void tpio_io_release(struct _TP_IO *io)
{
	struct _TP_POOL *pool = io->pool;
	int ret, fd;

	do {
		ret = pool->port.t->io_close(&pool->port, io->handle);
	} while (ret == -EAGAIN);	/* the kernel's bounded CAS gave up */
	if (ret)
		tpio_warn("IO_CLOSE of object %#x failed: %s", io->handle,
			  strerror(-ret));
	fd = atomic_exchange(&io->fd, -1);
	if (fd >= 0)
		fd_unbind(fd, io);
	tpio_io_parkq_drop(io);
	io_dealloc(io);
	tpio_pool_del_io(pool);	/* last touch of the pool */
}

void tpio_io_free_now(struct _TP_IO *io)
{
	if (io->group && !io->group_remove(io))
		return;	/* a group release holds it and frees it */
	tpio_io_release(io);
}

void tpio_io_try_free(struct _TP_IO *io, uint32_t inc)
{
	uint32_t expect = inc;
	__u64 w;

	if (atomic_load(&io->inc) != inc || !atomic_load(&io->closing))
		return;
	w = tpio_word_load(__atomic_load_n(&io->word, __ATOMIC_ACQUIRE));
	if (!tpio_w_drained(w, TPIO_DRAIN_GROUP))
		return;
	if (!atomic_compare_exchange_strong(&io->claim, &expect,
					    inc | TPIO_IO_CLAIMED))
		return;
	tpio_io_free_now(io);
}

/* Wake drain sleepers if @w (the value after an RMW) asks for it. */
static void maybe_wake(struct _TP_IO *io, struct tpio_port *port,
		       uint32_t handle, __u64 w)
{
	(void)io;
	if (tpio_w_waiters(w) && tpio_w_any_drained(w))
		port->t->wake_io(port, handle);
}

void tpio_io_end(struct _TP_IO *io, int associated)
{
	struct tpio_port *port = &io->pool->port;
	uint32_t handle = io->handle, inc = atomic_load(&io->inc);
	__u64 w;

	w = tpio_word_end(io->word, associated);
	maybe_wake(io, port, handle, w);
	tpio_io_try_free(io, inc);
}

int tpio_drain(struct _TP_IO *io, uint32_t flags)
{
	struct tpio_port *port = &io->pool->port;
	int ret;

	do {
		ret = port->t->drain(port, io->handle, flags, TPIO_INFINITE);
	} while (ret == -EAGAIN || ret == -EINTR);
	/*
	 * Drained: this load reads what the last callback's end wrote (its
	 * RMW in tpio_io_end), so everything the callbacks did happens
	 * before the caller goes on. The kernel's barriers give that
	 * already; the load states it in C11 terms (and to TSan, which
	 * cannot see the kernel's).
	 */
	if (!ret)
		(void)tpio_word_load(io->word);
	if (ret == -ENOENT)	/* closed meanwhile: a caller's misuse */
		tpio_diag("DRAIN of object %#x: closed", io->handle);
	else if (ret)
		tpio_warn("DRAIN of object %#x failed: %s", io->handle,
			  strerror(-ret));
	return ret;
}

/*
 * Release the fd binding, mark closing, free if drained. The binding goes
 * first: once closing is set another thread may free (and reuse) the struct.
 */
void tpio_io_close_internal(struct _TP_IO *io, int from_group)
{
	uint32_t inc = atomic_load(&io->inc);
	int fd;

	if (atomic_load(&io->closing)) {
		if (!from_group)
			tpio_diag("CloseThreadpoolIo(%p): already closed",
				  (void *)io);
		return;
	}
	fd = atomic_exchange(&io->fd, -1);
	if (fd >= 0)
		fd_unbind(fd, io);
	if (atomic_exchange(&io->closing, 1))
		return;		/* a concurrent close won */
	tpio_io_try_free(io, inc);
}

/* ---- the object's transitions (each one rule of common/tpio_word.h) ---- */

/*
 * A new object on @pool for @fd (-1: a work item, timer or wait, bound to
 * no fd): 0 and *out, or -EBUSY (the fd is bound already), -ENOMEM, -ENOSPC, -EDQUOT (the port's limits), -EINVAL (the
 * pool is closing) or another -errno of the transport.
 */
int tpio_io_create(struct _TP_POOL *pool, int fd,
		   const struct tpio_io_params *p, struct _TP_IO **out)
{
	struct _TP_IO *io = io_alloc();
	int ret;

	if (!io)
		return -ENOMEM;
	atomic_store(&io->fd, -1);
	ret = fd >= 0 ? fd_bind(fd, io) : 0;
	if (ret) {
		io_dealloc(io);
		return ret;
	}
	atomic_store(&io->fd, fd);
	atomic_store(&io->fd_kind, 0);
	atomic_store(&io->notify_modes, 0);
	io->pool = pool;
	io->cb = p->cb;
	io->ctx = p->ctx;
	io->kind = p->kind;
	io->ucb = p->ucb;
	io->prio = p->prio;
	io->long_function = p->long_function;
	io->persistent = p->persistent;
	io->finalization = p->finalization;
	io->cancel_cb = p->cancel_cb;

	ret = pool->port.t->io_create(&pool->port, (__u64)(uintptr_t)io,
				      &io->handle);
	if (ret) {
		if (fd >= 0)
			fd_unbind(fd, io);
		io_dealloc(io);
		return ret;
	}
	io->slot = TPIO_IO_SLOT(io->handle);
	__atomic_store_n(&io->word, &pool->port.r.words[io->slot],
			 __ATOMIC_RELEASE);
	if (tpio_pool_add_io(pool, io)) {
		pool->port.t->io_close(&pool->port, io->handle);
		if (fd >= 0)
			fd_unbind(fd, io);
		io_dealloc(io);
		return -EINVAL;
	}
	atomic_store(&io->magic, TPIO_IO_MAGIC);
	*out = io;
	return 0;
}

/* StartThreadpoolIo: one more pending; -EBUSY at the limit. */
int tpio_io_start(struct _TP_IO *io)
{
	__u64 old;

	if (tpio_word_start(io->word, &old))
		return 0;
	tpio_warn("StartThreadpoolIo(%p): %u I/Os already pending, start refused",
		  (void *)io, tpio_w_pending(old));
	return -EBUSY;
}

/* CancelThreadpoolIo: one pending less; -ENOENT when none was. */
int tpio_io_cancel(struct _TP_IO *io)
{
	/* after the RMW a closing object may be freed by another thread */
	uint32_t inc = atomic_load(&io->inc);
	struct tpio_port *port = &io->pool->port;
	uint32_t handle = io->handle;
	__u64 next;

	if (!tpio_word_cancel(io->word, &next))
		return -ENOENT;
	maybe_wake(io, port, handle, next);
	tpio_io_try_free(io, inc);
	return 0;
}

/* DisassociateCurrentThreadFromCallback: the callback no longer counts. */
void tpio_io_disassociate(struct _TP_IO *io)
{
	__u64 w = tpio_word_disassociate(io->word);

	maybe_wake(io, &io->pool->port, io->handle, w);
}
