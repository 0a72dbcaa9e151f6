/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tpio: the module's tracepoints, under events/tpio/ of tracefs
 * (Documentation/kmod.rst, "Tracepoints"). A disabled tracepoint is a
 * static-key no-op. kmod/trace.c instantiates them (CREATE_TRACE_POINTS);
 * the Kbuild file puts kmod/ on the include path for that.
 *
 * A port is named by its address, hashed like every %p, so that the events
 * of one port can be told apart within a boot.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM tpio

#ifndef _TPIO_TRACE_HELPERS_H
#define _TPIO_TRACE_HELPERS_H

#include <linux/minmax.h>
#include <linux/sched.h>

#include "tpio.h"

/* Entries in the ring (head is user-written: clamped). Under port->lock. */
static inline u32 tpio_trace_fill(const struct tpio_port *port)
{
	return min(port->tail - READ_ONCE(port->shared->head),
		   port->ring_entries);
}
#endif /* _TPIO_TRACE_HELPERS_H */

#if !defined(_TPIO_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TPIO_TRACE_H

#include <linux/tracepoint.h>

/* TPIO_IOC_POST applied @done of @count completions, @queued of them queued. */
TRACE_EVENT(tpio_post,
	    TP_PROTO(const struct tpio_port *port, u32 count, u32 done,
		     u32 queued, int err),
	    TP_ARGS(port, count, done, queued, err),
	    TP_STRUCT__entry(__field(const void *, port)
			     __field(u32, count)
			     __field(u32, done)
			     __field(u32, queued)
			     __field(int, err)
			     __field(u32, fill)
			     __field(u32, overflow)),
	    TP_fast_assign(__entry->port = port;
			   __entry->count = count;
			   __entry->done = done;
			   __entry->queued = queued;
			   __entry->err = err;
			   __entry->fill = tpio_trace_fill(port);
			   __entry->overflow = port->ovf_fifo.count;),
	    TP_printk("port=%p count=%u done=%u queued=%u err=%d fill=%u overflow=%u",
		      __entry->port, __entry->count, __entry->done,
		      __entry->queued, __entry->err, __entry->fill,
		      __entry->overflow)
);

/* A TPIO_IOC_WAIT caller found no entry and goes to sleep. */
TRACE_EVENT(tpio_wait,
	    TP_PROTO(const struct tpio_port *port, u64 timeout, u32 flags),
	    TP_ARGS(port, timeout, flags),
	    TP_STRUCT__entry(__field(const void *, port)
			     __field(u64, timeout)
			     __field(u32, flags)
			     __field(u32, waiters)),
	    TP_fast_assign(__entry->port = port;
			   __entry->timeout = timeout;
			   __entry->flags = flags;
			   __entry->waiters = port->workers.count;),
	    TP_printk("port=%p timeout=%llu flags=%#x waiters=%u",
		      __entry->port, __entry->timeout, __entry->flags,
		      __entry->waiters)
);

/*
 * A TPIO_IOC_WAIT caller returns to take entries from the ring (err 0), or
 * without work (-ETIMEDOUT, -ERESTARTSYS); @slept says whether it slept.
 */
TRACE_EVENT(tpio_dequeue,
	    TP_PROTO(const struct tpio_port *port, int err, bool slept),
	    TP_ARGS(port, err, slept),
	    TP_STRUCT__entry(__field(const void *, port)
			     __field(int, err)
			     __field(bool, slept)
			     __field(u32, fill)
			     __field(u32, overflow)),
	    TP_fast_assign(__entry->port = port;
			   __entry->err = err;
			   __entry->slept = slept;
			   __entry->fill = tpio_trace_fill(port);
			   __entry->overflow = port->ovf_fifo.count;),
	    TP_printk("port=%p err=%d slept=%d fill=%u overflow=%u",
		      __entry->port, __entry->err, __entry->slept,
		      __entry->fill, __entry->overflow)
);

/* A WAIT sleeper is picked (by a POST or TPIO_IOC_WAKE), newest first. */
TRACE_EVENT(tpio_wake,
	    TP_PROTO(const struct tpio_port *port, const struct task_struct *task),
	    TP_ARGS(port, task),
	    TP_STRUCT__entry(__field(const void *, port)
			     __field(pid_t, pid)
			     __field(u32, waiters)),
	    TP_fast_assign(__entry->port = port;
			   __entry->pid = task->pid;
			   __entry->waiters = port->workers.count;),
	    TP_printk("port=%p pid=%d waiters=%u", __entry->port, __entry->pid,
		      __entry->waiters)
);

/* A TPIO_IOC_DRAIN of object @io returns @err (0: drained). */
TRACE_EVENT(tpio_drain,
	    TP_PROTO(const struct tpio_port *port, u32 io, u32 flags, int err),
	    TP_ARGS(port, io, flags, err),
	    TP_STRUCT__entry(__field(const void *, port)
			     __field(u32, io)
			     __field(u32, flags)
			     __field(int, err)),
	    TP_fast_assign(__entry->port = port;
			   __entry->io = io;
			   __entry->flags = flags;
			   __entry->err = err;),
	    TP_printk("port=%p io=%#x flags=%#x err=%d", __entry->port,
		      __entry->io, __entry->flags, __entry->err)
);

#endif /* _TPIO_TRACE_H */

/* out of tree: kmod/ is on the include path (Kbuild) */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE tpio_trace
#include <trace/define_trace.h>
