/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tpio: shims for the kernel versions the module supports (6.1 and newer).
 */
#ifndef _TPIO_COMPAT_H
#define _TPIO_COMPAT_H

#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/version.h>

/*
 * vma->vm_flags became read-only in 6.3; vm_flags_set()/vm_flags_clear()
 * exist from then on. Both helpers are called from ->mmap, with mmap_lock
 * held for writing. An out-of-tree module must test the version here.
 */
#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
#define TPIO_HAVE_VM_FLAGS_SET
#endif

static inline void tpio_vm_flags_set(struct vm_area_struct *vma,
				     unsigned long flags)
{
#ifdef TPIO_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static inline void tpio_vm_flags_clear(struct vm_area_struct *vma,
				       unsigned long flags)
{
#ifdef TPIO_HAVE_VM_FLAGS_SET
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/*
 * In a preempt notifier's sched_out hook: is @p (current) leaving the CPU
 * because it blocks, rather than preempted while runnable? __schedule()
 * dequeues a blocking task before the switch: on_rq is 0 on 6.1; from
 * 6.12 the fair class may delay the dequeue, leaving on_rq set with
 * se.sched_delayed, which task_is_runnable() tells apart.
 */
static inline bool tpio_task_blocking(struct task_struct *p)
{
#if KERNEL_VERSION(6, 12, 0) <= LINUX_VERSION_CODE
	return !task_is_runnable(p);
#else
	return !READ_ONCE(p->on_rq);
#endif
}

#endif /* _TPIO_COMPAT_H */
