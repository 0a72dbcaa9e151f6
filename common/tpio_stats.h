/* SPDX-License-Identifier: MIT */
/*
 * The statistics file of a libtpio pool (Documentation/libtpio.rst,
 * "Statistics for tpiostat"): with TPIO_STATS=1 the library keeps one per
 * pool, a memfd named TPIO_STATS_NAME "<n>" (/proc/<pid>/fd shows
 * "/memfd:tpio-stats-<n> (deleted)") that its statistics thread rewrites
 * every TPIO_STATS_MS; tpiostat opens it through /proc/<pid>/fd/<fd> and
 * maps it read-only. Shared by libtpio (the writer) and tools/tpiostat
 * (the reader), so that the two cannot drift apart.
 *
 * The writer is one thread. It makes seq odd, stores the fields, then
 * makes seq even (a sequence lock): a reader copies the block, and keeps
 * the copy only if seq was even and the same before and after. The writer
 * stores each field with release order after the odd seq; the reader loads
 * seq with acquire order, the fields, then (after an acquire fence) seq.
 */
#ifndef TPIO_STATS_H
#define TPIO_STATS_H

#include <stdint.h>

#define TPIO_STATS_MAGIC	0x54505354U	/* "TPST" */
#define TPIO_STATS_VERSION	1
#define TPIO_STATS_NAME		"tpio-stats-"	/* then the pool's n */

struct tpio_stats_file {
	/* constant once the file is set up */
	uint32_t magic;			/* TPIO_STATS_MAGIC */
	uint32_t version;		/* TPIO_STATS_VERSION */
	uint32_t size;			/* sizeof(struct tpio_stats_file) */
	int32_t pid;			/* the process */
	uint32_t pool;			/* n: the process's pools, from 0 */
	uint32_t interval_ms;		/* the writer's period */
	uint32_t ring_entries;		/* the port's ring size */
	uint32_t max_objects;		/* the port's object slots */
	char backend[16];		/* "user" or "kmod", NUL-terminated */
	char comm[16];			/* the program's name at setup */

	/* the sample: seq odd while the writer changes it */
	uint32_t seq;
	uint32_t closed;		/* 1: the pool was closed */
	uint64_t updated_ns;		/* CLOCK_MONOTONIC of the sample */
	uint64_t samples;		/* samples written so far */
	uint64_t callbacks;		/* callbacks begun, ever */
	uint64_t objects;		/* TP_IO objects of the pool now */
	uint64_t threads;		/* workers now */
	uint64_t running;		/* callbacks running now */
	uint64_t spinning;		/* idle workers watching, not asleep */
	uint64_t scheduled;		/* entries waiting in the scheduler */
	uint64_t pending;		/* sum over objects: started operations */
	uint64_t queued;		/* ... completions waiting for a callback */
	uint64_t word_running;		/* ... callbacks running */
	uint64_t ring_head;		/* entries taken from the ring (mod 2^32) */
	uint64_t ring_tail;		/* entries put in the ring (mod 2^32) */
	uint64_t ring_fill;		/* entries in the ring now */
	uint64_t waiters;		/* workers asleep in the port's WAIT */
	uint64_t overflow;		/* 1 while the port's overflow holds entries */
	/* the module's concurrency control (kmod, TPIO_FEAT_CONC), else 0 */
	uint64_t conc_value;		/* the port's value; 0: not used */
	uint64_t conc_active;		/* attached workers running */
	uint64_t conc_blocked;		/* ... asleep outside the pool's wait */
	uint64_t conc_released;		/* sleepers the kernel released at blocks */
	uint64_t conc_admits;		/* places the kernel's counts gave */
	uint64_t conc_yields;		/* places given back above the value */
	/* the stall detector (the library's count) */
	uint64_t stall_grants;		/* places its tick rule gave */
	uint64_t meter_grants;		/* places its CPU meter gave */
	uint64_t meter_revokes;		/* places its CPU meter took back */
};

#endif /* TPIO_STATS_H */
