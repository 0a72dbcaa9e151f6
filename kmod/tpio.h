/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tpio: internal types of the module. The object model and the lock rules
 * are described at the top of main.c.
 */
#ifndef _TPIO_INTERNAL_H
#define _TPIO_INTERNAL_H

#include <linux/atomic.h>
#include <linux/cache.h>
#include <linux/irq_work.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/tpio.h>
#include <tpio_port.h>
#include <tpio_word.h>

struct tpio_user;
struct tpio_conc_reg;
struct seq_file;

/*
 * Bounds on the work done under port->lock, whatever user space does (see
 * "Bounded work" in Documentation/kmod.rst): failed compare-and-swaps on
 * user-writable words per ioctl; common/tpio_port.h has the overflow
 * entries examined per flush (TPIO_FLUSH_BATCH) and the WAIT sleepers
 * woken per lock hold (TPIO_WAKE_BATCH).
 */
#define TPIO_CAS_BUDGET		64

/*
 * The RING area (mapped read-only): header, kernel-written tail on its own
 * cache line, then the entries. User space finds each field through
 * struct tpio_ring_offsets, never through this layout.
 */
struct tpio_ring {
	u32 magic;
	u32 version;
	u32 ring_entries;
	u32 ring_mask;
	u32 flags;		/* TPIO_RING_F_*, WRITE_ONCE under port->lock */
	u32 overflow;		/* entries in the overflow list, same rule */
	u32 waiters;		/* TPIO_IOC_WAIT sleepers, same rule */

	u32 tail __aligned(64);	/* smp_store_release under port->lock */
	struct tpio_cqe cqes[] __aligned(64);
};

/*
 * The SHARED area (mapped read-write): the consumers' head on its own cache
 * line, then one state word per slot. The kernel reads head and the words
 * only with READ_ONCE/acquire and atomic64 operations and never trusts them.
 */
struct tpio_shared {
	u32 head __aligned(64);
	u32 wake_seq __aligned(64);	/* bumped by in-process posters */
	atomic64_t words[] __aligned(64);
};

/*
 * The entries of the overflow FIFO are struct tpio_ovf (common/tpio_port.h):
 * a cancel or a close moves the object's cancel count on, so its entries
 * are dropped when they reach the head of the FIFO (no purge under the
 * lock). Kernel-private: never mapped.
 */

/* A TPIO_IOC_WAIT sleeper, on the stack of the sleeping task. */
struct tpio_worker {
	struct tpio_sleeper node;	/* in port->workers, port->lock */
	struct task_struct *task;
	struct tpio_conc_reg *conc;	/* the sleeper's attachment, or NULL */
	u32 seq;		/* with use_seq: the wake_seq it slept with */
	bool use_seq;		/* slept with TPIO_WAIT_SEQ */
	bool pending;		/* slept with TPIO_WAIT_PENDING */
	bool woken;		/* set under port->lock, read with READ_ONCE */
};

/*
 * Concurrency control of a port (conc.c). The counts are changed by the
 * attached threads' own context switches (the preempt notifier hooks, in
 * the scheduler: atomics only) and by their own ioctls.
 */
struct tpio_conc {
	u32 value;		/* WRITE_ONCE under port->lock; 0: off */
	u32 attached;		/* protected by port->lock */
	u64 released;		/* protected by port->lock */
	atomic_t active;	/* attached, running outside WAIT */
	atomic_t blocked;	/* attached, sleeping outside WAIT */
	atomic_t woken;		/* attached sleepers picked, not back yet */
	atomic_t asked;		/* releases asked for by hooks, not yet tried */
	struct irq_work iw;	/* hook -> work: the hook may not take locks */
	struct work_struct work;	/* releases a sleeper, port->lock */
};

/*
 * One TP_IO object. Lives in port->objs[slot] while live or zombie; a
 * TPIO_IOC_DRAIN sleeper holds a reference so that the memory outlives the
 * slot.
 */
struct tpio_io {
	struct kref ref;
	struct tpio_user *user;	/* charged for this struct; constant */
	u64 cookie;		/* constant after create */
	u32 io;			/* the handle; constant after create */
	u16 slot;		/* constant after create */
	/* protected by port->lock */
	u32 cancels;		/* cancel-alls so far: stales overflow entries */
	u32 skipped;		/* skipped completions still expected */
	u32 sleepers;		/* TPIO_IOC_DRAIN sleepers */
	bool closed;		/* TPIO_IOC_IO_CLOSE done: a zombie or freed */
	bool freed;		/* slot given back: the word is not ours */
	wait_queue_head_t wq;	/* TPIO_IOC_DRAIN sleepers */
};

struct tpio_port {
	spinlock_t lock;		/* see "Locking" in main.c */
	struct mutex setup_mutex;	/* serializes TPIO_IOC_SETUP */
	struct tpio_user *user;		/* the opener, charged for the port */
	size_t setup_charge;		/* bytes charged by SETUP */
	/*
	 * Set by TPIO_IOC_SETUP with smp_store_release once everything below
	 * is allocated; the fields up to the lock-protected ones are constant
	 * from then on (readers use smp_load_acquire on ready).
	 */
	bool ready;
	u32 ring_entries;
	u32 max_objects;
	struct tpio_ring *ring;		/* __vmalloc, ring_size bytes */
	size_t ring_size;
	struct tpio_shared *shared;	/* __vmalloc, shared_size bytes */
	size_t shared_size;
	struct tpio_ovf *ovf;		/* overflow FIFO, ring_entries */
	struct tpio_io **objs;		/* slot table, max_objects */
	u16 *gen;			/* slot generations, 1..0xffff */
	u16 *free_slots;		/* free slot FIFO, max_objects */

	/* protected by lock */
	u32 tail;			/* producer index, published to ring */
	struct tpio_fifo ovf_fifo;	/* indexes of ovf */
	struct tpio_fifo free_fifo;	/* indexes of free_slots */
	struct tpio_sleepers workers;	/* TPIO_IOC_WAIT sleepers, LIFO */
	wait_queue_head_t poll_wq;	/* poll() of the port fd */
	struct tpio_conc conc;		/* concurrency control (conc.c) */

	/* protected by lock: the work of the current hold, and the most */
	u32 lock_work;
	u32 lock_work_max;
	/* lock hold times (tpio_lock_stats), protected by lock */
	u64 lock_t0;			/* when the current hold began, or 0 */
	u64 lock_hold_max;		/* longest hold seen, ns */

	/* totals since open, for fdinfo; protected by lock */
	u64 posts;			/* completions applied by POST */
	u64 posts_queued;		/* ... that queued an entry */
};

/* Counts a POST's completions for fdinfo; under port->lock. */
static inline void tpio_count_posts(struct tpio_port *port, u32 done,
				    u32 queued)
{
	lockdep_assert_held(&port->lock);
	port->posts += done;
	port->posts_queued += queued;
}

/*
 * The most work one hold of port->lock may do, in units: a completion
 * looked up or applied, an overflow entry examined, a failed
 * compare-and-swap, a sleeper woken. POST is the largest: each of its
 * TPIO_POST_MAX completions is looked up and applied, after one flush.
 */
#define TPIO_LOCK_WORK_MAX	(2 * TPIO_POST_MAX + TPIO_FLUSH_BATCH + \
				 TPIO_CAS_BUDGET)

/* ring->waiters follows the sleepers: posters read it to decide to WAKE. */
static inline void tpio_waiters_publish(struct tpio_port *port)
{
	lockdep_assert_held(&port->lock);
	WRITE_ONCE(port->ring->waiters, port->workers.count);
}

/* Charge of one struct tpio_io against its user's budget. */
#define TPIO_IO_CHARGE		sizeof(struct tpio_io)

extern bool tpio_lock_stats;

/*
 * port->lock, timed when the lock_stats parameter is set: the longest
 * hold shows in the port's fdinfo (lock_hold_max_ns), so that tests can
 * check the bound on work done under the lock.
 */
static inline void tpio_lock(struct tpio_port *port)
	__acquires(&port->lock)
{
	spin_lock(&port->lock);
	if (READ_ONCE(tpio_lock_stats))
		port->lock_t0 = ktime_get_ns() | 1;
}

/* Counts @units of work done under port->lock (see TPIO_LOCK_WORK_MAX). */
static inline void tpio_lock_work(struct tpio_port *port, u32 units)
{
	lockdep_assert_held(&port->lock);
	port->lock_work += units;
}

static inline void tpio_unlock(struct tpio_port *port)
	__releases(&port->lock)
{
	if (port->lock_work > port->lock_work_max)
		port->lock_work_max = port->lock_work;
	port->lock_work = 0;
	if (port->lock_t0) {
		u64 held = ktime_get_ns() - port->lock_t0;

		if (held > port->lock_hold_max)
			port->lock_hold_max = held;
		port->lock_t0 = 0;
	}
	spin_unlock(&port->lock);
}

static inline atomic64_t *tpio_word(struct tpio_port *port, u16 slot)
{
	return &port->shared->words[slot];
}

/* port.c */
void tpio_worker_pick(struct tpio_port *port, struct tpio_worker *w);
bool tpio_port_has_entries(struct tpio_port *port);
bool tpio_flush_overflow(struct tpio_port *port);
void tpio_ring_publish(struct tpio_port *port);
u32 tpio_wake_workers(struct tpio_port *port, u32 count);
long tpio_ioctl_post(struct tpio_port *port, void __user *argp);
long tpio_ioctl_wait(struct tpio_port *port, void __user *argp);
__poll_t tpio_poll(struct file *file, struct poll_table_struct *pt);

/* io.c */
int tpio_objects_init(struct tpio_port *port);
void tpio_objects_free(struct tpio_port *port);
struct tpio_io *tpio_io_lookup(struct tpio_port *port, u32 io);
void tpio_io_free_slot(struct tpio_port *port, struct tpio_io *obj);
int tpio_cancel_all(struct tpio_port *port, struct tpio_io *obj,
		    u32 *cas_budget);
long tpio_ioctl_io_create(struct tpio_port *port, void __user *argp);
long tpio_ioctl_io_close(struct tpio_port *port, void __user *argp);
long tpio_ioctl_drain(struct tpio_port *port, void __user *argp);
long tpio_ioctl_wake(struct tpio_port *port, void __user *argp);
long tpio_ioctl_io_query(struct tpio_port *port, void __user *argp);

/* conc.c: concurrency control (TPIO_IOC_CONC) */
void tpio_conc_init(struct tpio_port *port);
void tpio_conc_release(struct tpio_port *port);
long tpio_ioctl_conc(struct file *file, struct tpio_port *port,
		     void __user *argp);
bool tpio_conc_admit(struct tpio_port *port);
void tpio_conc_wait_begin(struct tpio_port *port, struct tpio_worker *w);
void tpio_conc_wait_end(struct tpio_port *port, struct tpio_worker *w);
void tpio_conc_show_fdinfo(struct seq_file *m, struct tpio_port *port);
u32 tpio_conc_features(void);
int tpio_conc_mod_init(void);
void tpio_conc_mod_exit(void);

/* charge.c: what each user's ports pin, against max_user_mib */
struct tpio_user *tpio_user_get(kuid_t uid);
void tpio_user_put(struct tpio_user *user);
int tpio_charge(struct tpio_user *user, size_t bytes);
void tpio_uncharge(struct tpio_user *user, size_t bytes);
u64 tpio_user_charged(struct tpio_user *user);
int tpio_users_init(void);
void tpio_users_exit(void);

/* shared by the sleeping ioctls (port.c) */
ktime_t *tpio_abs_timeout(u64 timeout, ktime_t *kt);
bool tpio_sleep(ktime_t *abs);

#endif /* _TPIO_INTERNAL_H */
