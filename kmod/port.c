// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: the port's completion ring, its overflow FIFO, posting, and the
 * worker waits (TPIO_IOC_WAIT) with their LIFO wake-up.
 *
 * The ring is single-producer (the kernel, under port->lock) and
 * multi-consumer (user space advances head in the SHARED area). The
 * overflow FIFO continues the ring: while it is not empty every new entry
 * goes to it, and entries move from it to the ring, oldest first, whenever
 * the ring has room (at every POST and WAIT). So the undelivered entries
 * of a port are always, in arrival order, the ring's then the overflow's,
 * and a port holds at most 2 * ring_entries of them.
 */

#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "tpio.h"
#include "tpio_trace.h"

ktime_t *tpio_abs_timeout(u64 timeout, ktime_t *kt)
{
	if (timeout == TPIO_INFINITE)
		return NULL;
	*kt = timeout > KTIME_MAX ? KTIME_MAX : (ktime_t)timeout;
	return kt;
}

/*
 * Sleeps in the state the caller set until woken, a signal or @abs
 * (absolute CLOCK_MONOTONIC; NULL is no timeout). True when @abs passed.
 */
bool tpio_sleep(ktime_t *abs)
{
	return schedule_hrtimeout_range_clock(abs, 0, HRTIMER_MODE_ABS,
					      CLOCK_MONOTONIC) == 0;
}

/* Free entries in the ring (head is user-written: see tpio_p_ring_room). */
static u32 tpio_ring_room(struct tpio_port *port)
{
	u32 head;

	lockdep_assert_held(&port->lock);
	/*
	 * pairs with the consumers' release store (or CAS) of head: entries
	 * below head have been read before the kernel overwrites them.
	 */
	head = smp_load_acquire(&port->shared->head);
	return tpio_p_ring_room(port->tail, head, port->ring_entries);
}

/* Makes the entries written so far and the overflow state visible. */
void tpio_ring_publish(struct tpio_port *port)
{
	struct tpio_ring *ring = port->ring;

	lockdep_assert_held(&port->lock);
	/* pairs with the consumers' load-acquire of tail */
	smp_store_release(&ring->tail, port->tail);
	WRITE_ONCE(ring->overflow, port->ovf_fifo.count);
	WRITE_ONCE(ring->flags,
		   port->ovf_fifo.count ? TPIO_RING_F_OVERFLOW : 0);
}

/* An overflow entry whose object was cancelled or closed since it was queued. */
static bool tpio_ovf_stale(struct tpio_port *port, const struct tpio_ovf *e)
{
	struct tpio_io *obj = tpio_io_lookup(port, e->io);

	return tpio_p_ovf_stale(e, !!obj, obj ? obj->cancels : 0);
}

/*
 * Moves overflow entries to the ring while it has room, oldest first,
 * dropping stale ones, and examines at most TPIO_FLUSH_BATCH of them (the
 * bound on work under the lock). The caller publishes. True when entries
 * are left that the ring has room for: the caller may flush again after
 * dropping the lock.
 */
bool tpio_flush_overflow(struct tpio_port *port)
{
	struct tpio_fifo *fifo = &port->ovf_fifo;
	u32 n = port->ring_entries;
	u32 room = tpio_ring_room(port);
	u32 seen;

	lockdep_assert_held(&port->lock);
	for (seen = 0; seen < TPIO_FLUSH_BATCH && fifo->count; seen++) {
		struct tpio_ovf *e = &port->ovf[fifo->head];

		tpio_lock_work(port, 1);
		switch (tpio_p_flush_step(tpio_ovf_stale(port, e), room)) {
		case TPIO_P_FLUSH_STOP:
			return false;
		case TPIO_P_FLUSH_MOVE:
			port->ring->cqes[tpio_p_ring_at(port->tail++, n)] =
				e->cqe;
			room--;
			break;
		case TPIO_P_FLUSH_DROP:
			break;
		}
		tpio_p_fifo_pop(fifo, n);
	}
	return fifo->count && room;
}

/*
 * Picks the sleeper @w: off the list, woken. An attached sleeper counts as
 * woken for the concurrency value until it is back (conc.c).
 */
void tpio_worker_pick(struct tpio_port *port, struct tpio_worker *w)
{
	lockdep_assert_held(&port->lock);
	tpio_p_sleeper_del(&port->workers, &w->node);
	tpio_waiters_publish(port);
	tpio_lock_work(port, 1);
	if (w->conc)
		atomic_inc(&port->conc.woken);
	/*
	 * The sleeper takes port->lock before leaving, so w stays valid
	 * until we unlock; wake_up_process orders the store before the
	 * sleeper's check after set_current_state.
	 */
	WRITE_ONCE(w->woken, true);
	trace_tpio_wake(port, w->task);
	wake_up_process(w->task);
}

/*
 * Wakes up to @count TPIO_IOC_WAIT sleepers, the most recent first, at
 * most TPIO_WAKE_BATCH per hold of the lock, and, with a concurrency
 * value, only while fewer than the value run (conc.c). Returns how many
 * it woke.
 */
u32 tpio_wake_workers(struct tpio_port *port, u32 count)
{
	struct tpio_sleeper *n;
	u32 woken = 0, batch;

	do {
		tpio_lock(port);
		for (batch = 0; batch < TPIO_WAKE_BATCH && woken < count &&
		     tpio_conc_admit(port);
		     batch++, woken++) {
			/* the most recent sleeper first */
			n = tpio_p_sleeper_peek(&port->workers);
			if (!n)
				break;
			tpio_worker_pick(port,
					 container_of(n, struct tpio_worker, node));
		}
		batch = batch == TPIO_WAKE_BATCH && woken < count &&
			port->workers.count;
		tpio_unlock(port);
	} while (batch);
	return woken;
}

/* A completion that found nothing pending: swallowed by a skip, or dropped. */
static int tpio_post_unqueued(struct tpio_port *port, struct tpio_io *obj)
{
	u32 ret;

	lockdep_assert_held(&port->lock);
	ret = tpio_p_unqueued(&obj->skipped);
	if (ret == TPIO_POSTED_SKIPPED &&
	    tpio_p_free_now(obj->closed, obj->skipped))
		tpio_io_free_slot(port, obj);
	return ret;
}

static void tpio_queue_entry(struct tpio_port *port, struct tpio_io *obj,
			     const struct tpio_completion *c, u32 epoch,
			     enum tpio_p_dest dest)
{
	u32 n = port->ring_entries;
	struct tpio_ovf *o;
	struct tpio_cqe *e;

	if (dest == TPIO_P_TO_RING) {
		e = &port->ring->cqes[tpio_p_ring_at(port->tail++, n)];
	} else {
		o = &port->ovf[tpio_p_fifo_push(&port->ovf_fifo, n)];
		o->io = obj->io;
		o->cancels = obj->cancels;
		e = &o->cqe;
	}
	tpio_p_entry(e, obj->cookie, obj->slot, epoch, c);
}

/*
 * Applies the arrival rule to one completion. Returns TPIO_POSTED_* or
 * -EAGAIN, with nothing applied, when the port is full, when the object
 * already has the most queued completions its word can count, or when the
 * word kept changing under the compare-and-swap (failures are taken from
 * the call's *@cas_budget).
 */
static int tpio_post_one(struct tpio_port *port,
			 const struct tpio_completion *c, u32 *cas_budget)
{
	struct tpio_io *obj = tpio_io_lookup(port, c->io);
	enum tpio_p_dest dest;
	atomic64_t *word;
	s64 old;
	u64 next;
	int ret;

	lockdep_assert_held(&port->lock);
	tpio_lock_work(port, 1);
	/* freed by an earlier skipped completion of the same batch */
	if (!obj)
		return TPIO_POSTED_DROPPED;
	/*
	 * A zombie only swallows: its cookie may name freed user memory, so
	 * nothing of it is queued even if its word says pending (a Start after
	 * close is the caller's bug).
	 */
	if (obj->closed)
		return tpio_post_unqueued(port, obj);

	word = tpio_word(port, obj->slot);
	old = atomic64_read(word);
	for (;;) {
		ret = tpio_w_arrive(old, &next);
		if (!ret)
			return tpio_post_unqueued(port, obj);
		if (ret < 0)	/* the object's queued count is full */
			return -EAGAIN;
		/* room is checked before the word changes: no lost entry */
		dest = tpio_p_arrive_to(port->ovf_fifo.count,
					tpio_ring_room(port),
					port->ring_entries);
		if (dest == TPIO_P_FULL)
			return -EAGAIN;
		if (atomic64_try_cmpxchg(word, &old, next))
			break;
		if (!*cas_budget)
			return -EAGAIN;
		--*cas_budget;
		tpio_lock_work(port, 1);
	}
	tpio_queue_entry(port, obj, c, tpio_w_epoch(old), dest);
	return TPIO_POSTED_QUEUED;
}

static int tpio_post_check(const struct tpio_post_args *args)
{
	if (args->pad || (args->flags & ~TPIO_POST_RESULTS))
		return -EINVAL;
	if (!args->count || args->count > TPIO_POST_MAX)
		return -EINVAL;
	return 0;
}

static int tpio_post_results(struct tpio_post_args __user *uargs,
			     struct tpio_completion __user *uc,
			     const struct tpio_completion *c, u32 done,
			     bool results)
{
	u32 i;

	for (i = 0; results && i < done; i++)
		if (put_user(c[i].result, &uc[i].result))
			return -EFAULT;
	if (put_user(done, &uargs->done))
		return -EFAULT;
	return 0;
}

/*
 * Applies completions in order until one does not fit. Returns how many
 * were applied; *err says why it stopped early, *queued how many entries
 * were written.
 */
static u32 tpio_post_apply(struct tpio_port *port, struct tpio_completion *c,
			   u32 count, u32 *queued, int *err)
{
	u32 cas_budget = TPIO_CAS_BUDGET;
	u32 done;
	int ret;

	lockdep_assert_held(&port->lock);
	*queued = 0;
	*err = 0;
	tpio_flush_overflow(port);
	for (done = 0; done < count; done++) {
		ret = tpio_post_one(port, &c[done], &cas_budget);
		if (ret < 0) {
			*err = ret;
			break;
		}
		c[done].result = ret;
		if (ret == TPIO_POSTED_QUEUED)
			(*queued)++;
	}
	tpio_ring_publish(port);
	return done;
}

/* Small batches are copied to the stack, larger ones to the heap. */
#define TPIO_POST_STACK		8

long tpio_ioctl_post(struct tpio_port *port, void __user *argp)
{
	struct tpio_completion stack[TPIO_POST_STACK];
	struct tpio_completion __user *uc;
	struct tpio_completion *c = stack;
	struct tpio_post_args args;
	u32 i, done, queued;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	ret = tpio_post_check(&args);
	if (ret)
		return ret;
	uc = u64_to_user_ptr(args.completions);
	if (args.count > TPIO_POST_STACK)
		c = memdup_user(uc, array_size(args.count, sizeof(*c)));
	else if (copy_from_user(c, uc, args.count * sizeof(*c)))
		c = ERR_PTR(-EFAULT);
	if (IS_ERR(c))
		return PTR_ERR(c);
	for (i = 0; i < args.count; i++) {
		if (c[i].pad) {
			ret = -EINVAL;
			goto out;
		}
	}
	/*
	 * Applied completions cannot be taken back, so make sure the outputs
	 * can be written before applying any: write back what was read. Only
	 * the caller's own concurrent munmap can still make them fail.
	 */
	ret = -EFAULT;
	if (put_user(0, &((struct tpio_post_args __user *)argp)->done))
		goto out;
	if ((args.flags & TPIO_POST_RESULTS) &&
	    copy_to_user(uc, c, array_size(args.count, sizeof(*c))))
		goto out;

	tpio_lock(port);
	tpio_lock_work(port, args.count);
	for (i = 0; i < args.count; i++) {
		if (!tpio_io_lookup(port, c[i].io)) {
			tpio_unlock(port);
			ret = -ENOENT;
			goto out;
		}
	}
	done = tpio_post_apply(port, c, args.count, &queued, &ret);
	tpio_count_posts(port, done, queued);
	trace_tpio_post(port, args.count, done, queued, ret);
	tpio_unlock(port);
	if (queued) {
		tpio_wake_workers(port, queued);
		if (wq_has_sleeper(&port->poll_wq))
			wake_up_interruptible_poll(&port->poll_wq,
						   EPOLLIN | EPOLLRDNORM);
	}

	if (done)
		ret = tpio_post_results(argp, uc, c, done,
					args.flags & TPIO_POST_RESULTS);
out:
	if (c != stack)
		kfree(c);
	return ret;
}

/* Entries wait in the ring (or a garbage head says so). */
static bool tpio_ring_nonempty(struct tpio_port *port)
{
	lockdep_assert_held(&port->lock);
	return port->tail != READ_ONCE(port->shared->head);
}

/* Entries wait in the ring or the overflow FIFO. */
bool tpio_port_has_entries(struct tpio_port *port)
{
	lockdep_assert_held(&port->lock);
	return tpio_ring_nonempty(port) || port->ovf_fifo.count;
}

/*
 * Sleeps until a POST or WAKE picks @w, @abs passes, a signal comes, or
 * (with @seq) the SHARED area's wake_seq differs from *@seq. A pick that
 * races with the timeout or a signal wins: the caller returns 0, so a
 * wake-up is never consumed without being reported.
 *
 * wake_seq: an in-process poster bumps it after queueing work where the
 * kernel cannot see it, then reads ring->waiters and WAKEs if it is not 0.
 * The sleeper published waiters (under the lock) before the full barrier
 * of set_current_state() and reads wake_seq after it: either the poster
 * sees the sleeper, or the sleeper sees the new wake_seq.
 */
static int tpio_worker_sleep(struct tpio_port *port, struct tpio_worker *w,
			     ktime_t *abs, const u32 *seq)
{
	bool timed_out = false;
	int ret = 0;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (READ_ONCE(w->woken))
			break;
		if (seq && READ_ONCE(port->shared->wake_seq) != *seq)
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		if (timed_out) {
			ret = -ETIMEDOUT;
			break;
		}
		timed_out = tpio_sleep(abs);
	}
	__set_current_state(TASK_RUNNING);

	tpio_lock(port);
	if (w->woken) {
		ret = 0;
	} else {
		tpio_p_sleeper_del(&port->workers, &w->node);
		tpio_waiters_publish(port);
	}
	trace_tpio_dequeue(port, ret, true);
	tpio_unlock(port);
	return ret;
}

/*
 * Moves overflow entries into the ring until it holds entries or the
 * overflow FIFO is empty, a batch per hold of the lock. Returns with the
 * lock held and true when the ring holds entries.
 */
static bool tpio_wait_fill(struct tpio_port *port)
{
	bool more;

	for (;;) {
		tpio_lock(port);
		more = tpio_flush_overflow(port);
		tpio_ring_publish(port);
		if (tpio_ring_nonempty(port) || !more)
			return tpio_ring_nonempty(port);
		tpio_unlock(port);
		cond_resched();
	}
}

long tpio_ioctl_wait(struct tpio_port *port, void __user *argp)
{
	struct tpio_wait_args args;
	struct tpio_worker w;
	ktime_t kt;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~(TPIO_WAIT_SEQ | TPIO_WAIT_PENDING)) ||
	    (!(args.flags & TPIO_WAIT_SEQ) && args.seq) ||
	    ((args.flags & TPIO_WAIT_PENDING) &&
	     !(tpio_conc_features() & TPIO_FEAT_CONC_PENDING)))
		return -EINVAL;

	w.task = current;
	w.woken = false;
	w.use_seq = args.flags & TPIO_WAIT_SEQ;
	w.pending = args.flags & TPIO_WAIT_PENDING;
	w.seq = args.seq;
	/* an attached caller stops counting as active (conc.c) */
	tpio_conc_wait_begin(port, &w);

	/*
	 * Queue ourselves, newest first, unless there is work that the
	 * concurrency value lets us take: in the ring, or, with
	 * TPIO_WAIT_PENDING and a value, in the caller's memory.
	 */
	ret = tpio_wait_fill(port);
	ret = (ret || (w.pending && READ_ONCE(port->conc.value))) &&
	      tpio_conc_admit(port);
	if (ret || !args.timeout) {
		ret = ret ? 0 : -ETIMEDOUT;
		trace_tpio_dequeue(port, ret, false);
		tpio_unlock(port);
		tpio_conc_wait_end(port, &w);
		return ret;
	}
	tpio_p_sleeper_add(&port->workers, &w.node);
	tpio_waiters_publish(port);
	trace_tpio_wait(port, args.timeout, args.flags);
	tpio_unlock(port);

	ret = tpio_worker_sleep(port, &w, tpio_abs_timeout(args.timeout, &kt),
				w.use_seq ? &args.seq : NULL);
	tpio_conc_wait_end(port, &w);
	return ret;
}

/* poll() of the port fd: readable while entries wait (ring or overflow). */
__poll_t tpio_poll(struct file *file, struct poll_table_struct *pt)
{
	struct tpio_port *port = file->private_data;
	__poll_t mask = 0;

	/* pairs with smp_store_release in tpio_ioctl_setup */
	if (!smp_load_acquire(&port->ready))
		return EPOLLERR;
	poll_wait(file, &port->poll_wq, pt);
	/* a stale answer only costs a spurious or a repeated wake-up */
	if (READ_ONCE(port->ring->tail) != READ_ONCE(port->shared->head) ||
	    READ_ONCE(port->ring->overflow))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}
