// SPDX-License-Identifier: GPL-2.0-only
/*
 * tpio: NT-style I/O completion ports with thread-pool I/O (TP_IO)
 * accounting, as the misc device /dev/tpio.
 *
 * Object model
 * ------------
 * Each open() of /dev/tpio is one port (struct tpio_port, the file's
 * private_data). The port lives exactly as long as its struct file: every
 * ioctl runs with a file reference and every mapping holds one, so
 * ->release runs when no ioctl is running, nobody sleeps and nothing is
 * mapped.
 *
 * TPIO_IOC_SETUP, once per port, sizes everything: the RING area (header,
 * tail, entries; mapped read-only), the SHARED area (the consumers' head
 * and one 64-bit state word per object slot; mapped read-write), the
 * overflow FIFO (ring_entries entries) and the slot table (max_objects).
 * Every allocation is charged to the caller's memcg. Nothing is allocated
 * after SETUP except one struct tpio_io per TPIO_IOC_IO_CREATE.
 *
 * An object (struct tpio_io) is a slot of the table. Its handle is
 * (generation << 16) | slot; the generation of a slot is 1..0xffff and
 * moves on each time the slot is freed, so a stale handle stops naming the
 * slot and 0 is never a handle. Free slots are reused least recently freed
 * first. An object is live after create, a zombie after IO_CLOSE while
 * skipped completions are still expected, and free once they have
 * arrived. The slot table holds one reference on the object; a DRAIN
 * sleeper holds another, so the object's memory outlives its slot. These
 * port rules (handles, ring and FIFO arithmetic, arrival, flush,
 * cancel-all, wake order) are common/tpio_port.h's, shared with libtpio's
 * in-process transport.
 *
 * The state word of a slot carries the counters of common/tpio_word.h.
 * User space changes it with atomic operations; the kernel applies the same
 * rules (arrival, cancel, create, close) with bounded compare-and-swap
 * loops and never uses a value read from shared memory as a pointer, index
 * or length. A stale ring entry (old epoch) is never run by user space.
 *
 * Locking
 * -------
 * port->lock (a spinlock, never held while sleeping or touching user
 * memory) protects the slot table, the generations, the free FIFO, the
 * ring producer state (tail, header words), the overflow FIFO, the list of
 * TPIO_IOC_WAIT sleepers, and each object's skipped, sleepers, closed and
 * freed fields. port->setup_mutex serializes SETUP only. An object's wait
 * queue has its own lock and may be woken under port->lock.
 *
 * Documentation/kmod.rst describes the ioctls, errors and barrier pairs.
 */

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "tpio.h"
#include "tpio_version.h"

#define TPIO_FEATURES	(TPIO_FEAT_RING | TPIO_FEAT_OVERFLOW | \
			 TPIO_FEAT_XPROC_POST | TPIO_FEAT_WAIT_SEQ | \
			 TPIO_FEAT_POLL | tpio_conc_features())

bool tpio_lock_stats;
module_param_named(lock_stats, tpio_lock_stats, bool, 0644);
MODULE_PARM_DESC(lock_stats,
		 "time each hold of a port's lock (fdinfo: lock_hold_max_ns)");

static int tpio_open(struct inode *inode, struct file *file)
{
	struct tpio_user *user;
	struct tpio_port *port;
	int ret;

	user = tpio_user_get(current_euid());
	if (!user)
		return -ENOMEM;
	ret = tpio_charge(user, sizeof(*port));
	if (ret)
		goto err_put;
	port = kzalloc(sizeof(*port), GFP_KERNEL_ACCOUNT);
	if (!port) {
		ret = -ENOMEM;
		goto err_uncharge;
	}
	spin_lock_init(&port->lock);
	mutex_init(&port->setup_mutex);
	init_waitqueue_head(&port->poll_wq);
	tpio_conc_init(port);
	port->user = user;
	file->private_data = port;
	return nonseekable_open(inode, file);

err_uncharge:
	tpio_uncharge(user, sizeof(*port));
err_put:
	tpio_user_put(user);
	return ret;
}

/* Called on SETUP failure and at release: nothing else uses the port. */
static void tpio_port_free(struct tpio_port *port)
{
	tpio_objects_free(port);
	kvfree(port->ovf);
	port->ovf = NULL;
	vfree(port->ring);
	port->ring = NULL;
	vfree(port->shared);
	port->shared = NULL;
	tpio_uncharge(port->user, port->setup_charge);
	port->setup_charge = 0;
}

static int tpio_release(struct inode *inode, struct file *file)
{
	struct tpio_port *port = file->private_data;
	struct tpio_user *user = port->user;

	WARN_ON_ONCE(port->workers.count);
	tpio_conc_release(port);
	tpio_port_free(port);
	mutex_destroy(&port->setup_mutex);
	kfree(port);
	tpio_uncharge(user, sizeof(*port));
	tpio_user_put(user);
	return 0;
}

static long tpio_ioctl_version(void __user *argp)
{
	struct tpio_version_args args;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.reserved[0] || args.reserved[1])
		return -EINVAL;
	args.abi_version = TPIO_ABI_VERSION;
	args.features = TPIO_FEATURES;
	args.ring_max = TPIO_RING_MAX;
	args.objects_max = TPIO_OBJECTS_MAX;
	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return 0;
}

static int tpio_setup_check(const struct tpio_setup_args *args)
{
	if (args->flags || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	if (args->ring_entries < TPIO_RING_MIN ||
	    args->ring_entries > TPIO_RING_MAX ||
	    !is_power_of_2(args->ring_entries))
		return -EINVAL;
	if (!args->max_objects || args->max_objects > TPIO_OBJECTS_MAX)
		return -EINVAL;
	return 0;
}

/*
 * What SETUP allocates: both areas, the overflow FIFO and the slot tables
 * (the objects themselves are charged one by one at IO_CREATE).
 */
static size_t tpio_setup_bytes(struct tpio_port *port)
{
	size_t per_object = sizeof(*port->objs) + sizeof(*port->gen) +
			    sizeof(*port->free_slots);

	return port->ring_size + port->shared_size +
	       array_size(port->ring_entries, sizeof(*port->ovf)) +
	       array_size(port->max_objects, per_object);
}

/* Allocates the areas and tables of a port; called with setup_mutex. */
static int tpio_port_alloc(struct tpio_port *port, u32 entries, u32 objects)
{
	struct tpio_ring *ring;
	size_t bytes;
	int ret;

	port->ring_entries = entries;
	port->max_objects = objects;
	port->ring_size = PAGE_ALIGN(struct_size(ring, cqes, entries));
	port->shared_size = PAGE_ALIGN(struct_size(port->shared, words,
						   objects));
	bytes = tpio_setup_bytes(port);
	ret = tpio_charge(port->user, bytes);
	if (ret)
		return ret;
	port->setup_charge = bytes;

	port->ring = __vmalloc(port->ring_size,
			       GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	port->shared = __vmalloc(port->shared_size,
				 GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	port->ovf = kvcalloc(entries, sizeof(*port->ovf), GFP_KERNEL_ACCOUNT);
	if (!port->ring || !port->shared || !port->ovf)
		return -ENOMEM;
	if (tpio_objects_init(port))
		return -ENOMEM;

	ring = port->ring;
	ring->magic = TPIO_RING_MAGIC;
	ring->version = TPIO_ABI_VERSION;
	ring->ring_entries = entries;
	ring->ring_mask = entries - 1;
	return 0;
}

static void tpio_setup_offsets(struct tpio_port *port,
			       struct tpio_setup_args *args)
{
	args->features = TPIO_FEATURES;
	args->ring_size = port->ring_size;
	args->shared_size = port->shared_size;
	memset(&args->ring_off, 0, sizeof(args->ring_off));
	args->ring_off.magic = offsetof(struct tpio_ring, magic);
	args->ring_off.version = offsetof(struct tpio_ring, version);
	args->ring_off.ring_entries = offsetof(struct tpio_ring, ring_entries);
	args->ring_off.ring_mask = offsetof(struct tpio_ring, ring_mask);
	args->ring_off.tail = offsetof(struct tpio_ring, tail);
	args->ring_off.flags = offsetof(struct tpio_ring, flags);
	args->ring_off.overflow = offsetof(struct tpio_ring, overflow);
	args->ring_off.cqes = offsetof(struct tpio_ring, cqes);
	args->ring_off.waiters = offsetof(struct tpio_ring, waiters);
	memset(&args->shared_off, 0, sizeof(args->shared_off));
	args->shared_off.head = offsetof(struct tpio_shared, head);
	args->shared_off.words = offsetof(struct tpio_shared, words);
	args->shared_off.wake_seq = offsetof(struct tpio_shared, wake_seq);
}

static long tpio_ioctl_setup(struct tpio_port *port, void __user *argp)
{
	struct tpio_setup_args args;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	ret = tpio_setup_check(&args);
	if (ret)
		return ret;

	if (mutex_lock_interruptible(&port->setup_mutex))
		return -ERESTARTSYS;
	if (port->ready) {
		mutex_unlock(&port->setup_mutex);
		return -EBUSY;
	}
	ret = tpio_port_alloc(port, args.ring_entries, args.max_objects);
	if (ret) {
		tpio_port_free(port);
		mutex_unlock(&port->setup_mutex);
		return ret;
	}
	/* pairs with smp_load_acquire in tpio_ioctl and tpio_mmap */
	smp_store_release(&port->ready, true);
	mutex_unlock(&port->setup_mutex);

	tpio_setup_offsets(port, &args);
	if (copy_to_user(argp, &args, sizeof(args)))
		return -EFAULT;
	return 0;
}

static int tpio_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct tpio_port *port = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long off;
	size_t size;
	void *area;
	int ret;

	/* pairs with smp_store_release in tpio_ioctl_setup */
	if (!smp_load_acquire(&port->ready))
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	if (vma->vm_pgoff == (TPIO_OFF_RING >> PAGE_SHIFT)) {
		/* entries and tail are the kernel's: never writable */
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		tpio_vm_flags_clear(vma, VM_MAYWRITE);
		area = port->ring;
		size = port->ring_size;
	} else if (vma->vm_pgoff == (TPIO_OFF_SHARED >> PAGE_SHIFT)) {
		area = port->shared;
		size = port->shared_size;
	} else {
		return -EINVAL;
	}
	if (len > size)
		return -EINVAL;

	tpio_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	for (off = 0; off < len; off += PAGE_SIZE) {
		ret = vm_insert_page(vma, vma->vm_start + off,
				     vmalloc_to_page(area + off));
		if (ret)
			return ret;
	}
	return 0;
}

/* What fdinfo adds up over a port's objects. */
struct tpio_fdinfo_sums {
	u32 live;
	u32 zombies;
	u64 pending;
	u64 queued;
	u64 running;
	u64 drain_waiters;
};

/*
 * Adds up the objects' counters, TPIO_FLUSH_BATCH slots per hold of the
 * lock (bounded work under it, whatever max_objects is). The words are
 * user-writable: the totals are what user space says, and only read.
 */
static void tpio_fdinfo_sum(struct tpio_port *port, struct tpio_fdinfo_sums *s)
{
	u32 slot = 0, end;

	memset(s, 0, sizeof(*s));
	while (slot < port->max_objects) {
		end = min(slot + TPIO_FLUSH_BATCH, port->max_objects);
		tpio_lock(port);
		tpio_lock_work(port, end - slot);
		for (; slot < end; slot++) {
			struct tpio_io *obj = port->objs[slot];
			u64 w;

			if (!obj)
				continue;
			w = atomic64_read(tpio_word(port, slot));
			if (obj->closed)
				s->zombies++;
			else
				s->live++;
			s->pending += tpio_w_pending(w);
			s->queued += tpio_w_queued(w);
			s->running += tpio_w_running(w);
			s->drain_waiters += obj->sleepers;
		}
		tpio_unlock(port);
		cond_resched();
	}
}

/*
 * /proc/<pid>/fdinfo/<fd>: the port at a glance (Documentation/kmod.rst,
 * "Observing a port"). One "tpio-<name>:\t<value>" line each.
 */
static void tpio_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct tpio_port *port = file->private_data;
	struct tpio_fdinfo_sums s;
	u32 tail, head, ovf, workers;
	u64 posts, posts_queued;

	seq_printf(m, "tpio-charged:\t%llu\n", tpio_user_charged(port->user));
	/* pairs with smp_store_release in tpio_ioctl_setup */
	if (!smp_load_acquire(&port->ready))
		return;
	tpio_fdinfo_sum(port, &s);

	tpio_lock(port);
	tail = port->tail;
	head = READ_ONCE(port->shared->head);
	ovf = port->ovf_fifo.count;
	workers = port->workers.count;
	posts = port->posts;
	posts_queued = port->posts_queued;
	seq_printf(m, "tpio-ring:\t%u entries, tail %u, head %u, overflow %u\n",
		   port->ring_entries, tail, head, ovf);
	seq_printf(m, "tpio-objects:\t%u of %u\n",
		   port->max_objects - port->free_fifo.count, port->max_objects);
	seq_printf(m, "tpio-waiters:\t%u\n", workers);
	seq_printf(m, "tpio-port-bytes:\t%zu\n",
		   sizeof(*port) + port->setup_charge);
	seq_printf(m, "tpio-lock-work-max:\t%u\n", port->lock_work_max);
	seq_printf(m, "tpio-lock-hold-max-ns:\t%llu\n", port->lock_hold_max);
	tpio_conc_show_fdinfo(m, port);
	tpio_unlock(port);

	/* head is user-written: a garbage one shows as a full ring */
	seq_printf(m, "tpio-ring-fill:\t%u\n",
		   min(tail - head, port->ring_entries));
	seq_printf(m, "tpio-overflow:\t%u\n", ovf);
	seq_printf(m, "tpio-live:\t%u\n", s.live);
	seq_printf(m, "tpio-zombies:\t%u\n", s.zombies);
	seq_printf(m, "tpio-pending:\t%llu\n", s.pending);
	seq_printf(m, "tpio-queued:\t%llu\n", s.queued);
	seq_printf(m, "tpio-running:\t%llu\n", s.running);
	seq_printf(m, "tpio-drain-waiters:\t%llu\n", s.drain_waiters);
	seq_printf(m, "tpio-posts:\t%llu\n", posts);
	seq_printf(m, "tpio-posts-queued:\t%llu\n", posts_queued);
	seq_printf(m, "tpio-dequeued:\t%u\n", head);
}

static long tpio_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct tpio_port *port = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case TPIO_IOC_VERSION:
		return tpio_ioctl_version(argp);
	case TPIO_IOC_SETUP:
		return tpio_ioctl_setup(port, argp);
	case TPIO_IOC_IO_CREATE:
	case TPIO_IOC_IO_CLOSE:
	case TPIO_IOC_POST:
	case TPIO_IOC_WAIT:
	case TPIO_IOC_DRAIN:
	case TPIO_IOC_WAKE:
	case TPIO_IOC_IO_QUERY:
	case TPIO_IOC_CONC:
		break;
	default:
		return -ENOTTY;
	}

	/* pairs with smp_store_release in tpio_ioctl_setup */
	if (!smp_load_acquire(&port->ready))
		return -EINVAL;

	switch (cmd) {
	case TPIO_IOC_IO_CREATE:
		return tpio_ioctl_io_create(port, argp);
	case TPIO_IOC_IO_CLOSE:
		return tpio_ioctl_io_close(port, argp);
	case TPIO_IOC_POST:
		return tpio_ioctl_post(port, argp);
	case TPIO_IOC_WAIT:
		return tpio_ioctl_wait(port, argp);
	case TPIO_IOC_DRAIN:
		return tpio_ioctl_drain(port, argp);
	case TPIO_IOC_WAKE:
		return tpio_ioctl_wake(port, argp);
	case TPIO_IOC_IO_QUERY:
		return tpio_ioctl_io_query(port, argp);
	case TPIO_IOC_CONC:
		return tpio_ioctl_conc(file, port, argp);
	}
	WARN_ON_ONCE(1);
	return -ENOTTY;
}

static const struct file_operations tpio_fops = {
	.owner		= THIS_MODULE,
	.open		= tpio_open,
	.release	= tpio_release,
	.unlocked_ioctl	= tpio_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= tpio_mmap,
	.poll		= tpio_poll,
	.show_fdinfo	= tpio_show_fdinfo,
};

/*
 * A fixed misc minor, so that the module can be loaded on first use: depmod
 * turns the "devname:" and "char-major-10-N" aliases below into
 * modules.devname, from which kmod's static-nodes creates /dev/tpio at boot,
 * and the first open(2) of that node loads the module. 249 is in the range
 * that the kernel's list of device numbers reserves for local use
 * (243..254): it is none of the misc minors the kernel assigns (6.1 to
 * 6.12), no upstream driver takes it, and dynamic minors come from
 * elsewhere (0..127, then, in newer kernels, above 255).
 * Documentation/kmod.rst, "Building and loading".
 */
#define TPIO_MISC_MINOR	249

static struct miscdevice tpio_misc = {
	.minor		= TPIO_MISC_MINOR,
	.name		= TPIO_NAME,
	.fops		= &tpio_fops,
	.mode		= 0666,
};

static int __init tpio_init(void)
{
	int ret = tpio_users_init();

	if (ret)
		return ret;
	ret = tpio_conc_mod_init();
	if (ret)
		goto err_users;
	ret = misc_register(&tpio_misc);
	if (ret) {
		pr_err("tpio: cannot register misc minor %d: %d\n",
		       TPIO_MISC_MINOR, ret);
		goto err_conc;
	}
	return 0;

err_conc:
	tpio_conc_mod_exit();
err_users:
	tpio_users_exit();
	return ret;
}

static void __exit tpio_exit(void)
{
	misc_deregister(&tpio_misc);
	tpio_conc_mod_exit();
	tpio_users_exit();
}

module_init(tpio_init);
module_exit(tpio_exit);

MODULE_DESCRIPTION("NT-style I/O completion ports with thread-pool I/O accounting");
MODULE_AUTHOR("The tpio developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(TPIO_VERSION);
MODULE_ALIAS_MISCDEV(TPIO_MISC_MINOR);
MODULE_ALIAS("devname:" TPIO_NAME);
