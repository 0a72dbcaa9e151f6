// SPDX-License-Identifier: MIT
/*
 * Thread-pool timers (Documentation/contract.rst, section 10), and the
 * timeouts of thread-pool waits (section 11, through io->t_expire). One timer
 * thread per process, started at the first SetThreadpoolTimer with a due
 * time, sleeps on a condition variable (CLOCK_MONOTONIC) until the
 * earliest armed timer is due. An expiry is not a callback run here: it is
 * one completion entry of the timer object's pool port (tp_obj.c), so the
 * callback is scheduled by the pool like any work item or I/O completion.
 *
 * Armed timers are a binary min-heap on t_due, under timer_mu. The expiry
 * does the start step (pending++) under timer_mu, so an object being
 * disarmed and closed on another thread either got that expiry (its
 * pending count keeps it alive until the completion lands) or not at all;
 * the completion itself is posted after timer_mu is released, since it may
 * wait for room in the port.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include "engine.h"

static pthread_mutex_t timer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timer_cv;
static int timer_started;		/* 1 running, -1 failed */
static struct _TP_IO **heap;		/* timer_mu */
static uint32_t heap_n, heap_cap;

#define FIRE_MAX	16		/* expiries posted per unlock */

static int earlier(uint32_t a, uint32_t b)
{
	return heap[a]->t_due < heap[b]->t_due;
}

static void heap_set(uint32_t i, struct _TP_IO *io)
{
	heap[i] = io;
	io->t_heap = (int32_t)i;
}

static void heap_up(uint32_t i)
{
	while (i) {
		uint32_t parent = (i - 1) / 2;
		struct _TP_IO *tmp;

		if (!earlier(i, parent))
			break;
		tmp = heap[parent];
		heap_set(parent, heap[i]);
		heap_set(i, tmp);
		i = parent;
	}
}

static void heap_down(uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct _TP_IO *tmp;

		if (l < heap_n && earlier(l, m))
			m = l;
		if (r < heap_n && earlier(r, m))
			m = r;
		if (m == i)
			break;
		tmp = heap[m];
		heap_set(m, heap[i]);
		heap_set(i, tmp);
		i = m;
	}
}

static int heap_push(struct _TP_IO *io)
{
	if (heap_n == heap_cap) {
		uint32_t cap = heap_cap ? heap_cap * 2 : 64;
		struct _TP_IO **h = realloc(heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		heap = h;
		heap_cap = cap;
	}
	heap_set(heap_n, io);
	heap_up(heap_n++);
	return 0;
}

static void heap_remove(struct _TP_IO *io)
{
	uint32_t i = (uint32_t)io->t_heap;

	io->t_heap = -1;
	if (--heap_n == i)
		return;
	heap_set(i, heap[heap_n]);
	heap_up(i);
	heap_down((uint32_t)heap[i]->t_heap);
}

static void post_all(struct tpio_target *t, const DWORD *status,
		     unsigned int n)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = tpio_complete(&t[i], 0, status[i], 0, NULL);
		if (ret)
			tpio_warn("a timer expiry was lost: %d", ret);
	}
}

static void *timer_main(void *arg)
{
	struct tpio_target fire[FIRE_MAX];
	DWORD status[FIRE_MAX];
	unsigned int n;

	(void)arg;
	pthread_mutex_lock(&timer_mu);
	for (;;) {
		__u64 now = tpio_now_ns();

		n = 0;
		while (heap_n && heap[0]->t_due <= now && n < FIRE_MAX) {
			struct _TP_IO *io = heap[0];

			status[n] = 0;
			if ((!io->t_expire || io->t_expire(io, &status[n])) &&
			    !tpio_obj_start(io, &fire[n]))
				n++;
			if (io->t_period_ms) {
				__u64 p = io->t_period_ms * 1000000ULL;

				/* [T] late by more than a period: no burst */
				io->t_due = io->t_due + p > now ? io->t_due + p :
							       now + p;
				heap_down(0);
			} else {
				heap_remove(io);
			}
		}
		if (n) {
			pthread_mutex_unlock(&timer_mu);
			post_all(fire, status, n);
			pthread_mutex_lock(&timer_mu);
			continue;
		}
		if (!heap_n) {
			pthread_cond_wait(&timer_cv, &timer_mu);
		} else {
			struct timespec ts;
			__u64 due = heap[0]->t_due;

			ts.tv_sec = (time_t)(due / 1000000000ULL);
			ts.tv_nsec = (long)(due % 1000000000ULL);
			pthread_cond_timedwait(&timer_cv, &timer_mu, &ts);
		}
	}
	return NULL;
}

/* timer_mu held: the timer thread exists (0) or cannot (-errno) */
static int timer_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int ret;

	if (timer_started)
		return timer_started > 0 ? 0 : -EAGAIN;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&timer_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* the program's signals go to its own threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&th, &attr, timer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		timer_started = -1;
		pthread_cond_destroy(&timer_cv);
		return -ret;
	}
	timer_started = 1;
	return 0;
}

int tpio_timer_arm(struct _TP_IO *io, __u64 due_ns, uint32_t period_ms)
{
	int was, ret;

	pthread_mutex_lock(&timer_mu);
	ret = timer_start();
	if (ret) {
		pthread_mutex_unlock(&timer_mu);
		return ret;
	}
	was = io->t_heap >= 0;
	if (was)
		heap_remove(io);
	io->t_due = due_ns;
	io->t_period_ms = period_ms;
	io->t_set = 1;
	ret = heap_push(io);
	if (ret)
		io->t_set = 0;
	else if (!io->t_heap)	/* the new earliest: wake the thread */
		pthread_cond_signal(&timer_cv);
	pthread_mutex_unlock(&timer_mu);
	return ret ? ret : was;
}

int tpio_timer_disarm(struct _TP_IO *io)
{
	int was;

	pthread_mutex_lock(&timer_mu);
	was = io->t_heap >= 0;
	if (was)
		heap_remove(io);
	io->t_set = 0;
	pthread_mutex_unlock(&timer_mu);
	return was;
}

int tpio_timer_is_set(struct _TP_IO *io)
{
	int set;

	pthread_mutex_lock(&timer_mu);
	set = io->t_set;
	pthread_mutex_unlock(&timer_mu);
	return set;
}
