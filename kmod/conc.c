// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: concurrency control (TPIO_IOC_CONC). A worker thread attaches
 * itself to a port; a preempt notifier then tells the port, at each of the
 * thread's context switches, whether it blocked or was only preempted, so
 * that a port with a concurrency value lets another worker run while one
 * of its callbacks blocks, as an NT completion port does.
 *
 * Each attachment (struct tpio_conc_reg) is in one of four states, which
 * only its own thread changes: from its scheduler hooks (preemption off)
 * or from its own ioctls (with preemption disabled around the change), so
 * the state needs no lock:
 *
 *   ACTIVE   running (or runnable) outside TPIO_IOC_WAIT: counts in active
 *   WAITING  inside TPIO_IOC_WAIT: counts nowhere
 *   BLOCKED  asleep outside TPIO_IOC_WAIT: counts in blocked
 *   GONE     the thread exec'd, is exiting or detaching: counts nowhere
 *
 * The hooks run inside the scheduler with the runqueue lock held: they
 * change atomic counters and, when a block may let a sleeper run, queue an
 * irq_work, which queues the port's work item, which takes port->lock and
 * picks the newest sleeper. Nothing else happens in the hooks.
 *
 * Lifetimes. An attachment holds a reference to the port's file (the port
 * outlives it whoever closes the fd), to the thread's mm_struct (only
 * compared, to see an exec) and to the module; the module keeps the
 * preempt notifier static key on from load to unload (tpio_conc_mod_init).
 * DETACH unregisters it in the thread itself.
 * A thread that exits attached is switched out one last time in TASK_DEAD:
 * that hook puts the attachment on a list that a work item of the module's
 * workqueue frees after an RCU grace period (the scheduler is still
 * walking the list when the hook returns); module exit syncs the irq_work
 * and destroys the workqueue.
 * Notifiers are not inherited by fork (sched_fork() starts the child with
 * an empty list).
 */

#include <linux/file.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "tpio.h"

#ifdef CONFIG_PREEMPT_NOTIFIERS

enum tpio_conc_state {
	TPIO_CS_GONE,
	TPIO_CS_ACTIVE,
	TPIO_CS_WAITING,
	TPIO_CS_BLOCKED,
};

struct tpio_conc_reg {
	struct preempt_notifier pn;	/* in the thread's notifier list */
	struct tpio_port *port;		/* constant; pinned by file */
	struct file *file;		/* a reference */
	struct mm_struct *mm;		/* mmgrab()ed; only compared */
	enum tpio_conc_state state;	/* only the thread itself */
	struct llist_node dead;		/* on tpio_conc_dead once dead */
};

static struct workqueue_struct *tpio_conc_wq;
static LLIST_HEAD(tpio_conc_dead);
static void tpio_conc_dead_irq(struct irq_work *iw);
static void tpio_conc_dead_fn(struct work_struct *work);
static DEFINE_IRQ_WORK(tpio_conc_dead_iw, tpio_conc_dead_irq);
static DECLARE_WORK(tpio_conc_dead_work, tpio_conc_dead_fn);

static struct preempt_ops tpio_conc_ops;

/* Moves @reg to @state, keeping the port's counts. Preemption off. */
static void tpio_conc_set(struct tpio_conc_reg *reg,
			  enum tpio_conc_state state)
{
	struct tpio_conc *c = &reg->port->conc;

	if (reg->state == TPIO_CS_ACTIVE)
		atomic_dec(&c->active);
	else if (reg->state == TPIO_CS_BLOCKED)
		atomic_dec(&c->blocked);
	reg->state = state;
	if (state == TPIO_CS_ACTIVE)
		atomic_inc(&c->active);
	else if (state == TPIO_CS_BLOCKED)
		atomic_inc(&c->blocked);
}

/*
 * Fewer than the value run: a sleeper may be picked. Without a value,
 * always. Racy reads of counters that only hooks and ioctls of attached
 * threads change: a pick may be one too many or too few while a thread
 * blocks or wakes, never unbounded; a sleeper's return from WAIT, which
 * moves it from woken to active, never lets one too many through.
 */
bool tpio_conc_admit(struct tpio_port *port)
{
	struct tpio_conc *c = &port->conc;
	u32 value = READ_ONCE(c->value);
	u32 woken;

	if (!value)
		return true;
	woken = atomic_read(&c->woken);
	/*
	 * woken before active: a sleeper back from WAIT counts as active
	 * before it stops counting as woken (tpio_conc_wait_end())
	 */
	smp_rmb();
	return (u32)atomic_read(&c->active) + woken < value;
}

/*
 * A place was given up (a block, an exit): if a sleeper could take it,
 * ask the port's work to try. Any context, the scheduler's included:
 * atomics and irq_work_queue() only. port->ring->waiters is kernel-written
 * (the ring is mapped read-only).
 */
static void tpio_conc_ask(struct tpio_port *port)
{
	struct tpio_conc *c = &port->conc;

	if (!READ_ONCE(c->value) || !READ_ONCE(port->ring->waiters) ||
	    !tpio_conc_admit(port))
		return;
	atomic_inc(&c->asked);
	irq_work_queue(&c->iw);
}

static void tpio_conc_sched_out(struct preempt_notifier *pn,
				struct task_struct *next)
{
	struct tpio_conc_reg *reg = container_of(pn, struct tpio_conc_reg, pn);

	if (unlikely(READ_ONCE(current->__state) == TASK_DEAD)) {
		/* the last switch of the thread: free the attachment later */
		if (reg->state != TPIO_CS_GONE) {
			tpio_conc_set(reg, TPIO_CS_GONE);
			tpio_conc_ask(reg->port);
		}
		llist_add(&reg->dead, &tpio_conc_dead);
		irq_work_queue(&tpio_conc_dead_iw);
		return;
	}
	if (reg->state != TPIO_CS_ACTIVE || !tpio_task_blocking(current))
		return;
	/* exec'd, or exiting (exit_mm() is done): no longer a worker */
	tpio_conc_set(reg, current->mm == reg->mm ? TPIO_CS_BLOCKED :
			   TPIO_CS_GONE);
	tpio_conc_ask(reg->port);
}

static void tpio_conc_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct tpio_conc_reg *reg = container_of(pn, struct tpio_conc_reg, pn);

	if (reg->state != TPIO_CS_BLOCKED)
		return;
	tpio_conc_set(reg, current->mm == reg->mm ? TPIO_CS_ACTIVE :
			   TPIO_CS_GONE);
}

static struct preempt_ops tpio_conc_ops = {
	.sched_in	= tpio_conc_sched_in,
	.sched_out	= tpio_conc_sched_out,
};

/*
 * The port's work: picks the newest sleeper while the value allows and
 * completions wait, TPIO_WAKE_BATCH per hold of the lock. Completions
 * wait when the ring or the overflow FIFO holds entries, when the sleeper
 * slept with TPIO_WAIT_PENDING (it left work in user memory that the value
 * refused it), or when it slept with TPIO_WAIT_SEQ and wake_seq moved
 * since: a poster queued work in user memory and did not wake it (the
 * value was reached).
 */
static void tpio_conc_work_fn(struct work_struct *work)
{
	struct tpio_conc *c = container_of(work, struct tpio_conc, work);
	struct tpio_port *port = container_of(c, struct tpio_port, conc);
	u32 asked = atomic_xchg(&c->asked, 0), batch;
	struct tpio_sleeper *n;
	struct tpio_worker *w;
	bool more = true;

	while (asked && more) {
		tpio_lock(port);
		for (batch = 0; asked && batch < TPIO_WAKE_BATCH;
		     batch++, asked--) {
			/* the most recent sleeper first */
			n = tpio_p_sleeper_peek(&port->workers);
			more = n && tpio_conc_admit(port);
			if (!more)
				break;
			w = container_of(n, struct tpio_worker, node);
			more = tpio_port_has_entries(port) || w->pending ||
			       (w->use_seq &&
				READ_ONCE(port->shared->wake_seq) != w->seq);
			if (!more)
				break;
			tpio_worker_pick(port, w);
			c->released++;
		}
		tpio_unlock(port);
		cond_resched();
	}
}

/* A new value may let sleepers take entries that wait: try. */
static void tpio_conc_kick(struct tpio_port *port)
{
	atomic_inc(&port->conc.asked);
	queue_work(tpio_conc_wq, &port->conc.work);
}

static void tpio_conc_irq(struct irq_work *iw)
{
	struct tpio_conc *c = container_of(iw, struct tpio_conc, iw);

	queue_work(tpio_conc_wq, &c->work);
}

void tpio_conc_init(struct tpio_port *port)
{
	struct tpio_conc *c = &port->conc;

	init_irq_work(&c->iw, tpio_conc_irq);
	INIT_WORK(&c->work, tpio_conc_work_fn);
}

/*
 * The port's release: no attachment is left (each holds the file), so no
 * hook can queue the irq_work again; wait for the one in flight.
 */
void tpio_conc_release(struct tpio_port *port)
{
	WARN_ON_ONCE(port->conc.attached);
	irq_work_sync(&port->conc.iw);
	cancel_work_sync(&port->conc.work);
}

/* Frees an attachment no hook will see again. Process context. */
static void tpio_conc_free(struct tpio_conc_reg *reg)
{
	struct tpio_port *port = reg->port;

	tpio_lock(port);
	port->conc.attached--;
	tpio_unlock(port);
	tpio_uncharge(port->user, sizeof(*reg));
	mmdrop(reg->mm);
	fput(reg->file);
	kfree(reg);
	module_put(THIS_MODULE);
}

static void tpio_conc_dead_irq(struct irq_work *iw)
{
	queue_work(tpio_conc_wq, &tpio_conc_dead_work);
}

/*
 * Frees the attachments of dead threads. The scheduler may still be
 * walking a dead thread's notifier list (it reads each entry's link after
 * the hook returns), with interrupts off: an RCU read-side section, which
 * synchronize_rcu() waits for.
 */
static void tpio_conc_dead_fn(struct work_struct *work)
{
	struct llist_node *dead = llist_del_all(&tpio_conc_dead);
	struct tpio_conc_reg *reg, *next;

	if (!dead)
		return;
	synchronize_rcu();
	llist_for_each_entry_safe(reg, next, dead, dead)
		tpio_conc_free(reg);
}

/* The calling thread's attachment to @port, and how many it has. */
static struct tpio_conc_reg *tpio_conc_find(struct tpio_port *port,
					    u32 *count)
{
	struct tpio_conc_reg *found = NULL, *reg;
	struct preempt_notifier *pn;
	u32 n = 0;

	/* only the thread itself adds to or removes from its list */
	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops != &tpio_conc_ops)
			continue;
		reg = container_of(pn, struct tpio_conc_reg, pn);
		n++;
		if (reg->port == port)
			found = reg;
	}
	if (count)
		*count = n;
	return found;
}

static int tpio_conc_attach(struct file *file, struct tpio_port *port)
{
	struct tpio_conc_reg *reg;
	u32 mine;
	int ret;

	if ((current->flags & (PF_KTHREAD | PF_IO_WORKER)) || !current->mm)
		return -EINVAL;
	if (tpio_conc_find(port, &mine))
		return -EBUSY;
	if (mine >= TPIO_CONC_TASK_MAX)
		return -ENOSPC;
	ret = tpio_charge(port->user, sizeof(*reg));
	if (ret)
		return ret;
	reg = kzalloc(sizeof(*reg), GFP_KERNEL_ACCOUNT);
	if (!reg) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	tpio_lock(port);
	if (port->conc.attached >= TPIO_CONC_WORKERS_MAX) {
		tpio_unlock(port);
		ret = -ENOSPC;
		goto err_free;
	}
	port->conc.attached++;
	tpio_unlock(port);

	reg->port = port;
	reg->file = get_file(file);
	reg->mm = current->mm;
	mmgrab(reg->mm);
	__module_get(THIS_MODULE);
	preempt_notifier_init(&reg->pn, &tpio_conc_ops);
	preempt_disable();
	tpio_conc_set(reg, TPIO_CS_ACTIVE);
	preempt_notifier_register(&reg->pn);
	preempt_enable();
	return 0;

err_free:
	kfree(reg);
err_uncharge:
	tpio_uncharge(port->user, sizeof(*reg));
	return ret;
}

static int tpio_conc_detach(struct tpio_port *port)
{
	struct tpio_conc_reg *reg = tpio_conc_find(port, NULL);

	if (!reg)
		return -ENOENT;
	preempt_disable();
	preempt_notifier_unregister(&reg->pn);
	tpio_conc_set(reg, TPIO_CS_GONE);
	preempt_enable();
	tpio_conc_ask(port);
	/* the ioctl's own reference keeps the file: this fput is not last */
	tpio_conc_free(reg);
	return 0;
}

/* TPIO_IOC_WAIT of an attached thread: it stops counting as active. */
void tpio_conc_wait_begin(struct tpio_port *port, struct tpio_worker *w)
{
	struct tpio_conc_reg *reg = tpio_conc_find(port, NULL);

	w->conc = reg;
	if (!reg)
		return;
	preempt_disable();
	if (reg->state == TPIO_CS_ACTIVE)
		tpio_conc_set(reg, TPIO_CS_WAITING);
	preempt_enable();
}

/*
 * The end of its TPIO_IOC_WAIT: active again, and no longer woken if a
 * pick counted it so (w->woken is stable once the sleeper has left the
 * list under port->lock). Active first: a POST on another CPU that reads
 * the sum between the two changes sees one too many (it refuses a pick
 * that this thread, about to look at the ring, makes up for), never one
 * too few (a pick beyond the value).
 */
void tpio_conc_wait_end(struct tpio_port *port, struct tpio_worker *w)
{
	struct tpio_conc_reg *reg = w->conc;

	if (!reg)
		return;
	preempt_disable();
	if (reg->state == TPIO_CS_WAITING)
		tpio_conc_set(reg, TPIO_CS_ACTIVE);
	if (READ_ONCE(w->woken)) {
		/* pairs with smp_rmb() in tpio_conc_admit() */
		smp_mb__before_atomic();
		atomic_dec(&port->conc.woken);
	}
	preempt_enable();
}

u32 tpio_conc_features(void)
{
	return TPIO_FEAT_CONC | TPIO_FEAT_CONC_PENDING;
}

/*
 * The preempt notifier static key: notifiers run only while it is on.
 * Switching it patches the scheduler's code with every CPU synchronised,
 * an interruption of the whole machine at a moment nobody chose; the
 * module switches it on once at load and off at unload, when no thread
 * can be attached (each attachment holds a module reference), rather
 * than whenever attachments come and go. (Under QEMU's TCG, a test VM
 * stopped dead when the key was switched while threads were busy being
 * scheduled: Documentation/kmod.rst, "Lifetimes".)
 */
int tpio_conc_mod_init(void)
{
	tpio_conc_wq = alloc_workqueue("tpio_conc", WQ_HIGHPRI, 0);
	if (!tpio_conc_wq)
		return -ENOMEM;
	preempt_notifier_inc();
	return 0;
}

/* No attachment is left: each holds a module reference. */
void tpio_conc_mod_exit(void)
{
	irq_work_sync(&tpio_conc_dead_iw);
	destroy_workqueue(tpio_conc_wq);
	preempt_notifier_dec();
}

#else /* !CONFIG_PREEMPT_NOTIFIERS: TPIO_IOC_CONC fails, no feature bit */

bool tpio_conc_admit(struct tpio_port *port)
{
	return true;
}

void tpio_conc_init(struct tpio_port *port)
{
}

void tpio_conc_release(struct tpio_port *port)
{
}

void tpio_conc_wait_begin(struct tpio_port *port, struct tpio_worker *w)
{
	w->conc = NULL;
}

void tpio_conc_wait_end(struct tpio_port *port, struct tpio_worker *w)
{
}

u32 tpio_conc_features(void)
{
	return 0;
}

int tpio_conc_mod_init(void)
{
	return 0;
}

void tpio_conc_mod_exit(void)
{
}

static int tpio_conc_attach(struct file *file, struct tpio_port *port)
{
	return -EOPNOTSUPP;
}

static int tpio_conc_detach(struct tpio_port *port)
{
	return -EOPNOTSUPP;
}

static void tpio_conc_kick(struct tpio_port *port)
{
}

#endif /* CONFIG_PREEMPT_NOTIFIERS */

long tpio_ioctl_conc(struct file *file, struct tpio_port *port,
		     void __user *argp)
{
	struct tpio_conc *c = &port->conc;
	struct tpio_conc_args args;
	int ret = 0;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.reserved || (args.op != TPIO_CONC_SET && args.value))
		return -EINVAL;
	switch (args.op) {
	case TPIO_CONC_ATTACH:
		ret = tpio_conc_attach(file, port);
		break;
	case TPIO_CONC_DETACH:
		ret = tpio_conc_detach(port);
		break;
	case TPIO_CONC_SET:
		if (!tpio_conc_features())
			return -EOPNOTSUPP;
		if (args.value > TPIO_CONC_MAX)
			return -EINVAL;
		tpio_lock(port);
		WRITE_ONCE(c->value, args.value);
		tpio_unlock(port);
		tpio_conc_kick(port);
		break;
	case TPIO_CONC_QUERY:
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;

	tpio_lock(port);
	args.value = c->value;
	args.attached = c->attached;
	args.released = c->released;
	tpio_unlock(port);
	args.active = atomic_read(&c->active);
	args.blocked = atomic_read(&c->blocked);
	args.woken = atomic_read(&c->woken);
	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return 0;
}

/* fdinfo, port->lock held */
void tpio_conc_show_fdinfo(struct seq_file *m, struct tpio_port *port)
{
	struct tpio_conc *c = &port->conc;

	lockdep_assert_held(&port->lock);
	seq_printf(m, "tpio-concurrency:\t%u value, %u attached, %d active, %d blocked, %d woken, %llu released\n",
		   c->value, c->attached, atomic_read(&c->active),
		   atomic_read(&c->blocked), atomic_read(&c->woken),
		   c->released);
}
