/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tpio: NT-style I/O completion ports with thread-pool I/O (TP_IO) accounting.
 *
 * Each open() of /dev/tpio is one port. A port holds I/O objects (slots) and
 * one completion ring. After TPIO_IOC_SETUP, user space maps two regions:
 *
 *   TPIO_OFF_RING    read-only:  the ring header, the kernel's tail and the
 *                                completion entries (struct tpio_cqe).
 *   TPIO_OFF_SHARED  read-write: the consumers' head and one 64-bit state
 *                                word per object slot (see "state word").
 *
 * Everything is fixed-width; pointers travel as __u64; every reserved or
 * pad field must be zero on input (EINVAL otherwise). Timeouts are absolute
 * CLOCK_MONOTONIC nanoseconds; 0 means "do not sleep" and TPIO_INFINITE
 * means no timeout. Documentation/tpio.rst describes the protocol.
 */
#ifndef _UAPI_LINUX_TPIO_H
#define _UAPI_LINUX_TPIO_H

#include <linux/types.h>

#define TPIO_NAME		"tpio"
#define TPIO_ABI_VERSION	1

#define TPIO_RING_MAGIC		0x4f495054	/* "TPIO" little-endian */
#define TPIO_RING_MIN		2
#define TPIO_RING_MAX		16384		/* entries, a power of two */
#define TPIO_OBJECTS_MAX	65536		/* object slots per port */
#define TPIO_POST_MAX		256		/* completions per POST call */
#define TPIO_INFINITE		(~(__u64)0)

/* mmap offsets */
#define TPIO_OFF_RING		0x00000000ULL
#define TPIO_OFF_SHARED		0x10000000ULL

/* feature bits (TPIO_IOC_VERSION, TPIO_IOC_SETUP) */
#define TPIO_FEAT_RING		0x1U	/* mmap'd completion ring */
#define TPIO_FEAT_OVERFLOW	0x2U	/* kernel overflow list */
#define TPIO_FEAT_XPROC_POST	0x4U	/* POST from any fd holder */
#define TPIO_FEAT_WAIT_SEQ	0x8U	/* waiters, wake_seq, TPIO_WAIT_SEQ */
#define TPIO_FEAT_POLL		0x10U	/* poll(): POLLIN while entries wait */
#define TPIO_FEAT_CONC		0x20U	/* TPIO_IOC_CONC: concurrency control */
#define TPIO_FEAT_CONC_PENDING	0x40U	/* TPIO_WAIT_PENDING */

/*
 * The state word: one __u64 per object slot in the shared region, updated
 * only with atomic read-modify-write operations, by user space (Start,
 * Cancel, callback start and end, disassociate) and by the kernel
 * (arrival, cancel, create, close). Fields:
 *
 *   pending  started I/O whose completion has not arrived
 *   queued   completions in the ring or overflow list for this object,
 *            whose callback has not started
 *   running  callbacks executing now
 *   assoc    running callbacks still associated with the object
 *   WAITERS  somebody sleeps in TPIO_IOC_DRAIN on this object: a user
 *            transition that makes the object drained must TPIO_IOC_WAKE it
 *   epoch    bumped when queued completions are dropped (DRAIN with
 *            TPIO_DRAIN_CANCEL) and when a slot is freed; an entry whose
 *            epoch differs from the word's is stale and is not run
 */
#define TPIO_W_PENDING_SHIFT	0
#define TPIO_W_PENDING_BITS	18
#define TPIO_W_QUEUED_SHIFT	18
#define TPIO_W_QUEUED_BITS	16
#define TPIO_W_RUNNING_SHIFT	34
#define TPIO_W_RUNNING_BITS	10
#define TPIO_W_ASSOC_SHIFT	44
#define TPIO_W_ASSOC_BITS	10
#define TPIO_W_WAITERS_SHIFT	54
#define TPIO_W_EPOCH_SHIFT	55
#define TPIO_W_EPOCH_BITS	9

/* the object handle: slot in the low 16 bits, slot generation above */
#define TPIO_IO_SLOT(io)	((io) & 0xffffU)

/*
 * One completion in the ring. Written only by the kernel; the mapping is
 * read-only for user space.
 */
struct tpio_cqe {
	__u64 cookie;		/* the object's cookie from TPIO_IOC_IO_CREATE */
	__u64 overlapped;	/* completion value (the OVERLAPPED pointer) */
	__u64 information;	/* bytes transferred */
	__u32 status;		/* Win32 error code, as posted */
	__u16 slot;		/* object slot */
	__u16 epoch;		/* the slot's epoch when the entry was queued */
};

/* ring header flags */
#define TPIO_RING_F_OVERFLOW	0x1U	/* entries wait in the overflow list */

/* offsets within the TPIO_OFF_RING mapping */
struct tpio_ring_offsets {
	__u32 magic;		/* __u32: TPIO_RING_MAGIC */
	__u32 version;		/* __u32: TPIO_ABI_VERSION */
	__u32 ring_entries;	/* __u32: number of entries */
	__u32 ring_mask;	/* __u32: ring_entries - 1 */
	__u32 tail;		/* __u32: producer index, kernel-written */
	__u32 flags;		/* __u32: TPIO_RING_F_* */
	__u32 overflow;		/* __u32: entries in the overflow list */
	__u32 cqes;		/* struct tpio_cqe[ring_entries] */
	__u32 waiters;		/* __u32: TPIO_IOC_WAIT sleepers (WAIT_SEQ) */
	__u32 resv[3];
};

/* offsets within the TPIO_OFF_SHARED mapping */
struct tpio_shared_offsets {
	__u32 head;		/* __u32: consumer index, user-written */
	__u32 words;		/* __u64[max_objects]: state words */
	__u32 wake_seq;		/* __u32: bumped by posters (WAIT_SEQ) */
	__u32 resv[1];
};

struct tpio_version_args {
	__u32 abi_version;	/* out: TPIO_ABI_VERSION */
	__u32 features;		/* out: TPIO_FEAT_* */
	__u32 ring_max;		/* out: TPIO_RING_MAX */
	__u32 objects_max;	/* out: TPIO_OBJECTS_MAX */
	__u64 reserved[2];	/* in: must be zero */
};

struct tpio_setup_args {
	__u32 ring_entries;	/* in: power of two, TPIO_RING_MIN..TPIO_RING_MAX */
	__u32 max_objects;	/* in: 1..TPIO_OBJECTS_MAX */
	__u32 flags;		/* in: must be zero */
	__u32 features;		/* out: TPIO_FEAT_* */
	__u64 ring_size;	/* out: bytes to map at TPIO_OFF_RING */
	__u64 shared_size;	/* out: bytes to map at TPIO_OFF_SHARED */
	struct tpio_ring_offsets ring_off;	/* out */
	struct tpio_shared_offsets shared_off;	/* out */
	__u64 reserved[2];	/* in: must be zero */
};

struct tpio_io_create_args {
	__u64 cookie;		/* in: copied into every entry of the object */
	__u32 flags;		/* in: must be zero */
	__u32 io;		/* out: object handle */
	__u64 reserved;		/* in: must be zero */
};

/* tpio_completion.result (with TPIO_POST_RESULTS) */
#define TPIO_POSTED_QUEUED	1	/* pending-- queued++, entry written */
#define TPIO_POSTED_SKIPPED	2	/* swallowed by a skipped start */
#define TPIO_POSTED_DROPPED	3	/* nothing pending or skipped */

struct tpio_completion {
	__u32 io;		/* in: object handle */
	__u32 status;		/* in: Win32 error code */
	__u64 overlapped;	/* in: completion value */
	__u64 information;	/* in: bytes transferred */
	__u32 result;		/* out, with TPIO_POST_RESULTS: TPIO_POSTED_* */
	__u32 pad;		/* in: must be zero */
};

#define TPIO_POST_RESULTS	0x1U	/* write tpio_completion.result */

struct tpio_post_args {
	__u64 completions;	/* in: struct tpio_completion[count] */
	__u32 count;		/* in: 1..TPIO_POST_MAX */
	__u32 flags;		/* in: TPIO_POST_* */
	__u32 done;		/* out: completions consumed, in order */
	__u32 pad;		/* in: must be zero */
};

#define TPIO_WAIT_SEQ		0x1U	/* sleep only while wake_seq == seq */
#define TPIO_WAIT_PENDING	0x2U	/* work the value refused waits */

struct tpio_wait_args {
	__u64 timeout;		/* in: absolute CLOCK_MONOTONIC ns */
	__u32 flags;		/* in: TPIO_WAIT_* */
	__u32 seq;		/* in: with TPIO_WAIT_SEQ, else zero */
};

#define TPIO_DRAIN_CANCEL	0x1U	/* first drop queued, skip pending */
#define TPIO_DRAIN_GROUP	0x2U	/* wait for running, not assoc */
#define TPIO_DRAIN_SELF		0x4U	/* the caller is one of its callbacks */

struct tpio_drain_args {
	__u64 timeout;		/* in: absolute CLOCK_MONOTONIC ns */
	__u32 io;		/* in: object handle */
	__u32 flags;		/* in: TPIO_DRAIN_* */
};

#define TPIO_WAKE_IO		0x1U	/* wake TPIO_IOC_DRAIN sleepers of io */
#define TPIO_WAKE_WORKERS	0x2U	/* wake up to count TPIO_IOC_WAIT sleepers */

struct tpio_wake_args {
	__u32 io;		/* in: with TPIO_WAKE_IO */
	__u32 flags;		/* in: exactly one of TPIO_WAKE_* */
	__u32 count;		/* in: with TPIO_WAKE_WORKERS, 1..UINT_MAX */
	__u32 pad;		/* in: must be zero */
};

#define TPIO_IO_F_CLOSED	0x1U	/* closed, waits for skipped completions */

struct tpio_io_query_args {
	__u32 io;		/* in: object handle */
	__u32 flags;		/* out: TPIO_IO_F_* */
	__u64 word;		/* out: the state word as the kernel read it */
	__u64 cookie;		/* out */
	__u32 skipped;		/* out: skipped completions still expected */
	__u32 waiters;		/* out: TPIO_IOC_DRAIN sleepers */
	__u64 reserved;		/* in: must be zero */
};

/*
 * Concurrency control (TPIO_FEAT_CONC). A worker thread ATTACHes itself to
 * a port; from then on the kernel counts it, at its own context switches:
 * active while it runs outside TPIO_IOC_WAIT, blocked while it sleeps
 * outside TPIO_IOC_WAIT, neither while in TPIO_IOC_WAIT. With a value set
 * (TPIO_CONC_SET, 1..TPIO_CONC_MAX), POST and WAKE(WORKERS) pick a sleeper
 * only while active + woken < value, and an attached worker whose block
 * drops the count below the value releases one sleeper (the newest) if
 * completions wait. A sleeper of WAIT with TPIO_WAIT_PENDING has work
 * waiting in its own memory (TPIO_FEAT_CONC_PENDING): with a value set,
 * its WAIT returns at once while active + woken < value, and a block
 * releases it. Every op returns the counts (out fields).
 */
#define TPIO_CONC_ATTACH	1	/* attach the calling thread */
#define TPIO_CONC_DETACH	2	/* detach the calling thread */
#define TPIO_CONC_SET		3	/* set the port's value (0: off) */
#define TPIO_CONC_QUERY		4	/* only read the counts */
#define TPIO_CONC_MAX		1024	/* the largest value */
#define TPIO_CONC_WORKERS_MAX	1024	/* attached threads per port */
#define TPIO_CONC_TASK_MAX	4	/* ports a thread may be attached to */

struct tpio_conc_args {
	__u32 op;		/* in: TPIO_CONC_* */
	__u32 value;		/* in: with TPIO_CONC_SET, else 0;
				 * out: the port's value (0: off)
				 */
	__u32 attached;		/* out: attached threads */
	__u32 active;		/* out: attached, running outside WAIT */
	__u32 blocked;		/* out: attached, sleeping outside WAIT */
	__u32 woken;		/* out: attached sleepers picked, not back */
	__u64 released;		/* out: sleepers released by blocks, total */
	__u64 reserved;		/* in: must be zero */
};

#define TPIO_IOC_MAGIC		0xC1

#define TPIO_IOC_VERSION	_IOWR(TPIO_IOC_MAGIC, 0x00, struct tpio_version_args)
#define TPIO_IOC_SETUP		_IOWR(TPIO_IOC_MAGIC, 0x01, struct tpio_setup_args)
#define TPIO_IOC_IO_CREATE	_IOWR(TPIO_IOC_MAGIC, 0x02, struct tpio_io_create_args)
#define TPIO_IOC_IO_CLOSE	_IOW(TPIO_IOC_MAGIC, 0x03, __u32)
#define TPIO_IOC_POST		_IOWR(TPIO_IOC_MAGIC, 0x04, struct tpio_post_args)
#define TPIO_IOC_WAIT		_IOW(TPIO_IOC_MAGIC, 0x05, struct tpio_wait_args)
#define TPIO_IOC_DRAIN		_IOW(TPIO_IOC_MAGIC, 0x06, struct tpio_drain_args)
#define TPIO_IOC_WAKE		_IOW(TPIO_IOC_MAGIC, 0x07, struct tpio_wake_args)
#define TPIO_IOC_IO_QUERY	_IOWR(TPIO_IOC_MAGIC, 0x08, struct tpio_io_query_args)
#define TPIO_IOC_CONC		_IOWR(TPIO_IOC_MAGIC, 0x09, struct tpio_conc_args)

#endif /* _UAPI_LINUX_TPIO_H */
