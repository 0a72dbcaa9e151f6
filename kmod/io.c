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

#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "tpio.h"

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
		port->gen[i] = 1;
		port->free_slots[i] = i;
	}
	port->free_head = 0;
	port->free_count = n;
	return 0;
}

/* At release (or failed SETUP): no ioctl runs, so no sleeper holds a ref. */
void tpio_objects_free(struct tpio_port *port)
{
	u32 i;

	if (port->objs) {
		for (i = 0; i < port->max_objects; i++)
			kfree(port->objs[i]);
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
	kfree(container_of(ref, struct tpio_io, ref));
}

/* The live or zombie object named by @io, or NULL. */
struct tpio_io *tpio_io_lookup(struct tpio_port *port, u32 io)
{
	u32 slot = TPIO_IO_SLOT(io);

	lockdep_assert_held(&port->lock);
	if (slot >= port->max_objects || port->gen[slot] != io >> 16)
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

/* Gives the slot back; the handle becomes stale. */
void tpio_io_free_slot(struct tpio_port *port, struct tpio_io *obj)
{
	u16 slot = obj->slot;

	lockdep_assert_held(&port->lock);
	tpio_word_reset(port, slot);
	port->objs[slot] = NULL;
	if (!++port->gen[slot])
		port->gen[slot] = 1;
	port->free_slots[(port->free_head + port->free_count) %
			 port->max_objects] = slot;
	port->free_count++;
	obj->freed = true;
	kref_put(&obj->ref, tpio_io_release);
}

/*
 * Cancels everything of @obj that is not running: pending becomes skipped
 * and queued entries go stale (new epoch), so their overflow copies go.
 */
int tpio_cancel_all(struct tpio_port *port, struct tpio_io *obj)
{
	atomic64_t *word = tpio_word(port, obj->slot);
	s64 old = atomic64_read(word);
	int tries;

	lockdep_assert_held(&port->lock);
	for (tries = 0; tries < TPIO_CAS_TRIES; tries++) {
		if (atomic64_try_cmpxchg(word, &old, tpio_w_cancel_all(old))) {
			obj->skipped = min_t(u64, U32_MAX,
					     (u64)obj->skipped +
					     tpio_w_pending(old));
			tpio_purge_overflow(port, obj->slot);
			return 0;
		}
	}
	return -EAGAIN;
}

long tpio_ioctl_io_create(struct tpio_port *port, void __user *argp)
{
	struct tpio_io_create_args __user *uargs = argp;
	struct tpio_io_create_args args;
	struct tpio_io *obj;
	u16 slot;
	u32 io;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags || args.reserved)
		return -EINVAL;
	obj = kzalloc(sizeof(*obj), GFP_KERNEL_ACCOUNT);
	if (!obj)
		return -ENOMEM;
	kref_init(&obj->ref);
	init_waitqueue_head(&obj->wq);
	obj->cookie = args.cookie;

	spin_lock(&port->lock);
	if (!port->free_count) {
		spin_unlock(&port->lock);
		kfree(obj);
		return -ENOSPC;
	}
	slot = port->free_slots[port->free_head];
	port->free_head = (port->free_head + 1) % port->max_objects;
	port->free_count--;
	obj->slot = slot;
	port->objs[slot] = obj;
	tpio_word_reset(port, slot);
	io = ((u32)port->gen[slot] << 16) | slot;
	spin_unlock(&port->lock);

	if (put_user(io, &uargs->io)) {
		spin_lock(&port->lock);
		tpio_io_free_slot(port, obj);
		spin_unlock(&port->lock);
		return -EFAULT;
	}
	return 0;
}

long tpio_ioctl_io_close(struct tpio_port *port, void __user *argp)
{
	struct tpio_io *obj;
	u32 io;
	int ret;

	if (get_user(io, (u32 __user *)argp))
		return -EFAULT;

	spin_lock(&port->lock);
	obj = tpio_io_lookup_live(port, io);
	if (!obj) {
		spin_unlock(&port->lock);
		return -ENOENT;
	}
	ret = tpio_cancel_all(port, obj);
	if (!ret) {
		WRITE_ONCE(obj->closed, true);
		/* DRAIN sleepers see closed and leave with ENOENT */
		wake_up_all(&obj->wq);
		if (!obj->skipped)
			tpio_io_free_slot(port, obj);
	}
	spin_unlock(&port->lock);
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
	spin_lock(&port->lock);
	/* a freed object's word belongs to the slot's next object */
	if (!--obj->sleepers && !obj->freed)
		atomic64_andnot(TPIO_W_WAITERS, tpio_word(port, obj->slot));
	spin_unlock(&port->lock);
	kref_put(&obj->ref, tpio_io_release);
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
	atomic64_t *word = tpio_word(port, obj->slot);
	bool timed_out = false;
	DEFINE_WAIT(wait);
	int ret;

	for (;;) {
		prepare_to_wait(&obj->wq, &wait, TASK_INTERRUPTIBLE);
		/* closed first: after a close the word may not be ours */
		if (READ_ONCE(obj->closed)) {
			ret = -ENOENT;
			break;
		}
		if (tpio_w_drained(atomic64_read(word), flags)) {
			ret = 0;
			break;
		}
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
	struct tpio_io *obj;
	ktime_t kt, *abs;
	int ret = 0;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags & ~(TPIO_DRAIN_CANCEL | TPIO_DRAIN_GROUP |
			   TPIO_DRAIN_SELF))
		return -EINVAL;

	spin_lock(&port->lock);
	obj = tpio_io_lookup_live(port, args.io);
	if (!obj) {
		spin_unlock(&port->lock);
		return -ENOENT;
	}
	if (args.flags & TPIO_DRAIN_CANCEL) {
		ret = tpio_cancel_all(port, obj);
		if (ret) {
			spin_unlock(&port->lock);
			return ret;
		}
		wake_up_all(&obj->wq);
	}
	tpio_drain_enter(port, obj);
	spin_unlock(&port->lock);

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
		spin_lock(&port->lock);
		obj = tpio_io_lookup(port, args.io);
		if (obj)
			wake_up_all(&obj->wq);
		spin_unlock(&port->lock);
		return obj ? 0 : -ENOENT;
	}
	if (args.flags != TPIO_WAKE_WORKERS || args.io || !args.count)
		return -EINVAL;
	spin_lock(&port->lock);
	ret = tpio_wake_workers(port, args.count);
	spin_unlock(&port->lock);
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

	spin_lock(&port->lock);
	obj = tpio_io_lookup(port, args.io);
	if (!obj) {
		spin_unlock(&port->lock);
		return -ENOENT;
	}
	args.flags = obj->closed ? TPIO_IO_F_CLOSED : 0;
	args.word = atomic64_read(tpio_word(port, obj->slot));
	args.cookie = obj->cookie;
	args.skipped = obj->skipped;
	args.waiters = obj->sleepers;
	spin_unlock(&port->lock);

	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return 0;
}
