// SPDX-License-Identifier: MIT
/*
 * The stall detector's CPU meter (Documentation/libtpio.rst, "Concurrency
 * and stalls"). NT's count keeps the concurrency value's worth of
 * workers active, and the kernel knows which of them are blocked; the
 * library alone does not. The meter measures it instead, where the
 * kernel keeps the figures: /proc/self/task/TID/schedstat gives each
 * thread's time on a CPU and its time waiting for one (run-queue wait),
 * both in nanoseconds, whether it ran, waited or slept meanwhile.
 *
 * While work waits in a pool, the detector's service thread reads those
 * figures for the pool's active workers (pool->running) at the start and
 * the end of a window of TPIO_METER_TICKS ticks. A worker that stayed
 * active the whole window (its act_seq unchanged) tells, over that
 * window, how much of a CPU its callbacks used and how long it waited for
 * a CPU; one that went idle meanwhile tells nothing (its idle time is not
 * a blocked callback's). The sums, in thousandths of a CPU, go to the
 * detector (stall_detector.c), which adds a place while the value's worth
 * of workers are runnable (on a CPU or waiting for one) less than the
 * value's CPUs, and takes one back while the pool, above the value, keeps
 * more runnable than that.
 *
 * Only the service thread touches a pool's meter (mon_mu). Each reading
 * opens, reads and closes the thread's file: the meter holds no
 * descriptor between readings, so that none of the process's appears or
 * is taken behind its back. A kernel without the figures (no CONFIG_SCHED_INFO)
 * or a process without /proc leaves the meter off, as TPIO_CPU_METER=0
 * does: the detector then has its tick rule only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "engine.h"

#define METER_THREADS	32		/* workers followed in one window */

struct meter_thread {
	pid_t tid;
	uint32_t act_seq;		/* the worker's at the window's start */
	__u64 run, wait;		/* its figures at the window's start */
	int live;			/* active at the window's start */
	int fresh;			/* read at the window's end */
};

struct tpio_meter {
	__u64 t0;			/* the window's start; 0: none open */
	uint32_t ticks;			/* ticks since t0 */
	uint32_t n;
	struct meter_thread th[METER_THREADS];
};

/* One active worker as the detector saw it under pool->mu. */
struct meter_seen {
	pid_t tid;
	uint32_t act_seq;
};

/*
 * Run time and run-queue wait (ns) of thread @tid of this process, from
 * its schedstat (open, read, close): 0, or -1.
 */
static int read_tid(pid_t tid, __u64 *run, __u64 *wait)
{
	unsigned long long r, w;
	char path[64], buf[96];
	ssize_t n;
	int fd;

	if (tid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (sscanf(buf, "%llu %llu", &r, &w) != 2)
		return -1;
	*run = r;
	*wait = w;
	return 0;
}

/*
 * The meter is on, and the kernel has the figures (the calling thread's
 * file opens and reads; its run time may still be 0: a running thread's
 * is brought up to date when it is switched out). Asked once per process.
 */
static int meter_usable(void)
{
	static int usable = -1;
	int v = __atomic_load_n(&usable, __ATOMIC_RELAXED);
	__u64 run, wait;

	if (v >= 0)
		return v;
	v = tpio_config()->meter &&
	    !read_tid((pid_t)syscall(SYS_gettid), &run, &wait);
	__atomic_store_n(&usable, v, __ATOMIC_RELAXED);
	return v;
}

static struct meter_thread *find(struct tpio_meter *m, pid_t tid)
{
	uint32_t i;

	for (i = 0; i < m->n; i++)
		if (m->th[i].tid == tid)
			return &m->th[i];
	return NULL;
}

/* The pool's active workers; pool->mu taken here. */
static uint32_t collect(struct _TP_POOL *pool, struct meter_seen *s)
{
	struct tpio_worker *w;
	uint32_t n = 0;

	pthread_mutex_lock(&pool->mu);
	tpio_list_for_each(w, &pool->workers, link) {
		if (n == METER_THREADS)
			break;
		if (!__atomic_load_n(&w->active, __ATOMIC_RELAXED))
			continue;
		s[n].tid = __atomic_load_n(&w->tid, __ATOMIC_RELAXED);
		s[n].act_seq = atomic_load_explicit(&w->act_seq,
						    memory_order_relaxed);
		n++;
	}
	pthread_mutex_unlock(&pool->mu);
	return n;
}

/*
 * Open the next window with the workers of @s. A thread read at the end
 * of the last window (fresh) starts from those figures; the others are
 * read now.
 */
static void window_open(struct tpio_meter *m, const struct meter_seen *s,
			uint32_t ns)
{
	struct meter_thread keep[METER_THREADS];
	uint32_t i;

	for (i = 0; i < ns; i++) {
		struct meter_thread *t = find(m, s[i].tid);
		struct meter_thread *nt = &keep[i];

		if (t) {
			*nt = *t;
		} else {
			memset(nt, 0, sizeof(*nt));
			nt->tid = s[i].tid;
		}
		nt->live = nt->fresh || !read_tid(nt->tid, &nt->run, &nt->wait);
		nt->fresh = 0;
		nt->act_seq = s[i].act_seq;
	}
	memcpy(m->th, keep, ns * sizeof(keep[0]));
	m->n = ns;
	m->t0 = tpio_now_ns();
	m->ticks = 0;
}

void tpio_meter_free(struct tpio_meter *m)
{
	free(m);
}

void tpio_meter_reset(struct _TP_POOL *pool)
{
	if (pool->meter) {
		pool->meter->n = 0;
		pool->meter->t0 = 0;
	}
}

int tpio_meter_tick(struct _TP_POOL *pool, struct tpio_meter_reading *r)
{
	struct tpio_meter *m = pool->meter;
	struct meter_seen s[METER_THREADS];
	__u64 run = 0, wait = 0, dt;
	uint32_t ns, i;

	if (!m) {
		if (!meter_usable())
			return 0;
		m = calloc(1, sizeof(*m));
		if (!m)
			return 0;
		pool->meter = m;
	}
	if (m->t0 && ++m->ticks < TPIO_METER_TICKS)
		return 0;
	ns = collect(pool, s);
	if (!m->t0) {
		window_open(m, s, ns);
		return 0;
	}
	memset(r, 0, sizeof(*r));
	dt = tpio_now_ns() - m->t0;
	for (i = 0; i < ns; i++) {
		struct meter_thread *t = find(m, s[i].tid);
		__u64 r1, w1;

		if (!t || !t->live || t->act_seq != s[i].act_seq ||
		    read_tid(t->tid, &r1, &w1)) {
			if (t)
				t->live = 0;
			continue;
		}
		/* a reused tid's figures may start below: no reading */
		if (r1 >= t->run && w1 >= t->wait) {
			run += r1 - t->run;
			wait += w1 - t->wait;
			r->threads++;
		}
		t->run = r1;
		t->wait = w1;
		t->fresh = 1;
	}
	if (dt) {
		r->cpu = (uint32_t)(run * 1000 / dt);
		r->wait = (uint32_t)(wait * 1000 / dt);
	}
	/* the threads read just now start the next window from here */
	window_open(m, s, ns);
	return dt > 0;
}
