// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: TP_IO objects. The slot table and its free FIFO, create and close,
 * cancellation (Wait(TRUE), close), drain waits, and queries.
 *
 * Lifetime: live (after IO_CREATE) -> zombie (IO_CLOSE while skipped > 0;
 * it still swallows skipped completions) -> free (skipped reached 0, or
 * IO_CLOSE with nothing skipped). Freeing gives the slot back: the word
 * gets a fresh value in a new epoch, the generation moves on and the slot
 * joins the tail of the free FIFO.
 */

#include <linux/nospec.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "tpio.h"
#include "tpio_trace.h"

/* Called with setup_mutex from SETUP; port->max_objects is set. */
int tpio_objects_init(struct tpio_port *port)
{
	u32 n = port->max_objects;
	u32 i;

	port->objs = kvcalloc(n, sizeof(*port->objs), GFP_KERNEL_ACCOUNT);
	port->gen = kvcalloc(n, sizeof(*port->gen), GFP_KERNEL_ACCOUNT);
	port->free_slots = kvcalloc(n, sizeof(*port->free_slots),
				    GFP_KERNEL_ACCOUNT);
	if (!port->objs || !port->gen || !port->free_slots)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		port->gen[i] = TPIO_GEN_FIRST;
		port->free_slots[i] = i;
	}
	port->free_fifo.head = 0;
	port->free_fifo.count = n;
	return 0;
}

/* At release (or failed SETUP): no ioctl runs, so no sleeper holds a ref. */
void tpio_objects_free(struct tpio_port *port)
{
	u32 i;

	if (port->objs) {
		for (i = 0; i < port->max_objects; i++) {
			if (!port->objs[i])
				continue;
			tpio_uncharge(port->objs[i]->user, TPIO_IO_CHARGE);
			kfree(port->objs[i]);
		}
	}
	kvfree(port->objs);
	port->objs = NULL;
	kvfree(port->gen);
	port->gen = NULL;
	kvfree(port->free_slots);
	port->free_slots = NULL;
}

static void tpio_io_release(struct kref *ref)
{
	struct tpio_io *obj = container_of(ref, struct tpio_io, ref);

	tpio_uncharge(obj->user, TPIO_IO_CHARGE);
	kfree(obj);
}

/*
 * The live or zombie object named by @io, or NULL. The slot comes from
 * user space: clamp it under speculation too before it indexes anything.
 */
struct tpio_io *tpio_io_lookup(struct tpio_port *port, u32 io)
{
	u32 slot;

	lockdep_assert_held(&port->lock);
	if (!tpio_p_slot_ok(io, port->max_objects))
		return NULL;
	slot = array_index_nospec(TPIO_IO_SLOT(io), port->max_objects);
	if (!tpio_p_gen_ok(io, port->gen[slot]))
		return NULL;
	return port->objs[slot];
}

/* The live object named by @io, or NULL (zombies are not live). */
static struct tpio_io *tpio_io_lookup_live(struct tpio_port *port, u32 io)
{
	struct tpio_io *obj = tpio_io_lookup(port, io);

	return obj && !obj->closed ? obj : NULL;
}

static void tpio_word_reset(struct tpio_port *port, u16 slot)
{
	atomic64_t *word = tpio_word(port, slot);

	atomic64_set(word, tpio_w_fresh(tpio_w_epoch(atomic64_read(word))));
}

/* Appends @slot to the free FIFO with a new generation. */
static void tpio_slot_put(struct tpio_port *port, u16 slot)
{
	lockdep_assert_held(&port->lock);
	port->free_slots[tpio_p_slot_put(&port->free_fifo, port->max_objects,
					 &port->gen[slot])] = slot;
}

/* Gives the slot back; the handle becomes stale. */
void tpio_io_free_slot(struct tpio_port *port, struct tpio_io *obj)
{
	u16 slot = obj->slot;

	lockdep_assert_held(&port->lock);
	tpio_word_reset(port, slot);
	port->objs[slot] = NULL;
	tpio_slot_put(port, slot);
	obj->freed = true;
	kref_put(&obj->ref, tpio_io_release);
}

/*
 * Cancels everything of @obj that is not running: pending becomes skipped
 * and queued entries go stale (new epoch); its overflow entries are
 * dropped when they reach the head of the FIFO (cancels moves on). Failed
 * compare-and-swaps are taken from the caller's *@cas_budget.
 */
int tpio_cancel_all(struct tpio_port *port, struct tpio_io *obj,
		    u32 *cas_budget)
{
	atomic64_t *word = tpio_word(port, obj->slot);
	s64 old = atomic64_read(word);

	lockdep_assert_held(&port->lock);
	for (;;) {
		if (atomic64_try_cmpxchg(word, &old, tpio_w_cancel_all(old)))
			break;
		if (!*cas_budget)
			return -EAGAIN;
		--*cas_budget;
		tpio_lock_work(port, 1);
	}
	tpio_p_cancel_all(old, &obj->skipped, &obj->cancels);
	return 0;
}

/*
 * IO_CREATE reserves a slot, writes the handle out, and only then makes
 * the object reachable: until the ioctl can no longer fail, no other
 * thread can name it (its slot holds NULL), so the failure path frees
 * nothing anybody else can see.
 */
static int tpio_slot_reserve(struct tpio_port *port, u16 *slot)
{
	tpio_lock(port);
	if (!port->free_fifo.count) {
		tpio_unlock(port);
		return -ENOSPC;
	}
	*slot = port->free_slots[tpio_p_fifo_pop(&port->free_fifo,
						 port->max_objects)];
	tpio_unlock(port);
	return 0;
}

static void tpio_slot_unreserve(struct tpio_port *port, u16 slot)
{
	tpio_lock(port);
	tpio_slot_put(port, slot);
	tpio_unlock(port);
}

static struct tpio_io *tpio_io_alloc(struct tpio_port *port, u64 cookie)
{
	struct tpio_io *obj;

	if (tpio_charge(port->user, TPIO_IO_CHARGE))
		return ERR_PTR(-EDQUOT);
	obj = kzalloc(sizeof(*obj), GFP_KERNEL_ACCOUNT);
	if (!obj) {
		tpio_uncharge(port->user, TPIO_IO_CHARGE);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&obj->ref);
	init_waitqueue_head(&obj->wq);
	obj->user = port->user;
	obj->cookie = cookie;
	return obj;
}

long tpio_ioctl_io_create(struct tpio_port *port, void __user *argp)
{
	struct tpio_io_create_args __user *uargs = argp;
	struct tpio_io_create_args args;
	struct tpio_io *obj;
	u16 slot;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags || args.reserved)
		return -EINVAL;
	obj = tpio_io_alloc(port, args.cookie);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	ret = tpio_slot_reserve(port, &slot);
	if (ret)
		goto err_free;
	/* the generation of a reserved slot moves only when it is freed */
	obj->slot = slot;
	obj->io = tpio_p_handle(READ_ONCE(port->gen[slot]), slot);
	if (put_user(obj->io, &uargs->io)) {
		tpio_slot_unreserve(port, slot);
		ret = -EFAULT;
		goto err_free;
	}

	tpio_lock(port);
	tpio_word_reset(port, slot);
	port->objs[slot] = obj;
	tpio_unlock(port);
	return 0;

err_free:
	kref_put(&obj->ref, tpio_io_release);
	return ret;
}

long tpio_ioctl_io_close(struct tpio_port *port, void __user *argp)
{
	struct tpio_io *obj;
	u32 io;
	int ret;

	u32 cas_budget = TPIO_CAS_BUDGET;

	if (get_user(io, (u32 __user *)argp))
		return -EFAULT;

	tpio_lock(port);
	obj = tpio_io_lookup_live(port, io);
	if (!obj) {
		tpio_unlock(port);
		return -ENOENT;
	}
	ret = tpio_cancel_all(port, obj, &cas_budget);
	if (!ret) {
		obj->closed = true;
		/* DRAIN sleepers see closed and leave with ENOENT */
		wake_up_all(&obj->wq);
		if (tpio_p_free_now(obj->closed, obj->skipped))
			tpio_io_free_slot(port, obj);
	}
	tpio_unlock(port);
	return ret;
}

/*
 * Registers a DRAIN sleeper: from here until tpio_drain_leave, WAITERS
 * stays set in the word and the object cannot be freed under us.
 */
static void tpio_drain_enter(struct tpio_port *port, struct tpio_io *obj)
{
	lockdep_assert_held(&port->lock);
	kref_get(&obj->ref);
	obj->sleepers++;
	atomic64_fetch_or(TPIO_W_WAITERS, tpio_word(port, obj->slot));
}

static void tpio_drain_leave(struct tpio_port *port, struct tpio_io *obj)
{
	tpio_lock(port);
	/* a freed object's word belongs to the slot's next object */
	if (!--obj->sleepers && !obj->freed)
		atomic64_andnot(TPIO_W_WAITERS, tpio_word(port, obj->slot));
	tpio_unlock(port);
	kref_put(&obj->ref, tpio_io_release);
}

/*
 * 0 when drained, -ENOENT when closed, -EAGAIN otherwise. Under the lock:
 * a close, the free of the slot and the create of the next object in it
 * all happen under it, so the word read here is this object's.
 */
static int tpio_drain_check(struct tpio_port *port, struct tpio_io *obj,
			    u32 flags)
{
	int ret;

	tpio_lock(port);
	if (obj->closed)
		ret = -ENOENT;
	else if (tpio_w_drained(atomic64_read(tpio_word(port, obj->slot)),
				flags))
		ret = 0;
	else
		ret = -EAGAIN;
	tpio_unlock(port);
	return ret;
}

/*
 * Why no wake-up is lost: a user transition that can make the object
 * drained (cancel, callback end, disassociate) is an atomic RMW on the
 * word, and if its result has WAITERS set it calls TPIO_IOC_WAKE(IO). The
 * sleeper set WAITERS with an atomic RMW (tpio_drain_enter) before it
 * first reads the word, and reads it again after each prepare_to_wait. So
 * either the sleeper's read sees the transition, or the transition sees
 * WAITERS and its wake finds the sleeper on the wait queue (wake_up_all
 * and prepare_to_wait serialize on the queue's lock).
 */
static int tpio_drain_sleep(struct tpio_port *port, struct tpio_io *obj,
			    u32 flags, ktime_t *abs, bool poll)
{
	bool timed_out = false;
	DEFINE_WAIT(wait);
	int ret;

	for (;;) {
		prepare_to_wait(&obj->wq, &wait, TASK_INTERRUPTIBLE);
		/* closed first: after a close the word may not be ours */
		ret = tpio_drain_check(port, obj, flags);
		if (ret != -EAGAIN)
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (timed_out || poll) {
			ret = -ETIMEDOUT;
			break;
		}
		timed_out = tpio_sleep(abs);
	}
	finish_wait(&obj->wq, &wait);
	return ret;
}

long tpio_ioctl_drain(struct tpio_port *port, void __user *argp)
{
	struct tpio_drain_args args;
	u32 cas_budget = TPIO_CAS_BUDGET;
	struct tpio_io *obj;
	ktime_t kt, *abs;
	int ret = 0;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags & ~(TPIO_DRAIN_CANCEL | TPIO_DRAIN_GROUP |
			   TPIO_DRAIN_SELF))
		return -EINVAL;

	tpio_lock(port);
	obj = tpio_io_lookup_live(port, args.io);
	if (!obj) {
		tpio_unlock(port);
		return -ENOENT;
	}
	if (args.flags & TPIO_DRAIN_CANCEL) {
		ret = tpio_cancel_all(port, obj, &cas_budget);
		if (ret) {
			tpio_unlock(port);
			return ret;
		}
		wake_up_all(&obj->wq);
	}
	tpio_drain_enter(port, obj);
	tpio_unlock(port);

	abs = tpio_abs_timeout(args.timeout, &kt);
	ret = tpio_drain_sleep(port, obj,
			       args.flags & (TPIO_DRAIN_GROUP | TPIO_DRAIN_SELF),
			       abs, !args.timeout);
	tpio_drain_leave(port, obj);
	/*
	 * The cancel is done and must not run again on a restart (it would
	 * skip starts made since): the caller sees EINTR and waits again
	 * without TPIO_DRAIN_CANCEL.
	 */
	if (ret == -ERESTARTSYS && (args.flags & TPIO_DRAIN_CANCEL))
		ret = -EINTR;
	trace_tpio_drain(port, args.io, args.flags, ret);
	return ret;
}

long tpio_ioctl_wake(struct tpio_port *port, void __user *argp)
{
	struct tpio_wake_args args;
	struct tpio_io *obj;
	long ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.pad)
		return -EINVAL;

	if (args.flags == TPIO_WAKE_IO) {
		if (args.count)
			return -EINVAL;
		tpio_lock(port);
		obj = tpio_io_lookup(port, args.io);
		if (obj)
			wake_up_all(&obj->wq);
		tpio_unlock(port);
		return obj ? 0 : -ENOENT;
	}
	if (args.flags != TPIO_WAKE_WORKERS || args.io || !args.count)
		return -EINVAL;
	ret = tpio_wake_workers(port, args.count);
	return ret;
}

long tpio_ioctl_io_query(struct tpio_port *port, void __user *argp)
{
	struct tpio_io_query_args args;
	struct tpio_io *obj;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.reserved)
		return -EINVAL;

	tpio_lock(port);
	obj = tpio_io_lookup(port, args.io);
	if (!obj) {
		tpio_unlock(port);
		return -ENOENT;
	}
	args.flags = obj->closed ? TPIO_IO_F_CLOSED : 0;
	args.word = atomic64_read(tpio_word(port, obj->slot));
	args.cookie = obj->cookie;
	args.skipped = obj->skipped;
	args.waiters = obj->sleepers;
	tpio_unlock(port);

	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return 0;
}
