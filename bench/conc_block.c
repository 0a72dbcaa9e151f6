// SPDX-License-Identifier: MIT
/*
 * conc_block: callbacks that block half of the time, on a /dev/tpio port
 * driven through the raw ABI (Documentation/kmod.rst, "Concurrency
 * control"), in four configurations:
 *
 *   conc      4 x CPUs workers attached to the port, value = CPUs
 *   fixed1    CPUs workers, no concurrency control
 *   fixed4    4 x CPUs workers, no concurrency control
 *   noconc    4 x CPUs workers attached, value 0 (the hooks' cost only)
 *
 * The main thread keeps at least 128 completions queued; each callback
 * spins for SPIN_US of CPU time (its work) then sleeps for SPIN_US
 * (nanosleep: a blocking call). A worker takes
 * one entry per TPIO_IOC_WAIT (which, with a value, hands out work only
 * while fewer than the value run), as an NT thread calls
 * GetQueuedCompletionStatus after each completion.
 *
 * Prints one line per configuration:
 *   row bench=conc_block impl=NAME workers=W value=V cps=C runnable=R csw=S
 * cps: callbacks per second; runnable: the mean number of workers in the
 * spinning half of a callback, running or waiting for a CPU (the wall
 * time of those halves over the measure's); csw: context switches of the
 * process per callback (getrusage).
 *
 * Usage: conc_block [-d MS] [-s SPIN_US] [IMPL...]   (default: all four)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/tpio.h>

#define ENTRIES		1024
#define BATCH		128

static unsigned int spin_us = 500;
static unsigned int duration_ms = 2000;

struct port {
	int fd;
	struct tpio_setup_args sa;
	unsigned char *ring, *shared;
	__u32 io;
};

static atomic_llong runnable_ns;	/* wall time of the spinning halves */
static atomic_long done;
static atomic_int stop;

static __u64 cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };

	nanosleep(&ts, NULL);
}

static __u32 *ring32(struct port *p, __u32 off)
{
	return (__u32 *)(p->ring + off);
}

static __u32 *head(struct port *p)
{
	return (__u32 *)(p->shared + p->sa.shared_off.head);
}

static __u32 queued(struct port *p)
{
	return __atomic_load_n(ring32(p, p->sa.ring_off.tail),
			       __ATOMIC_ACQUIRE) -
	       __atomic_load_n(head(p), __ATOMIC_ACQUIRE) +
	       __atomic_load_n(ring32(p, p->sa.ring_off.overflow),
			       __ATOMIC_ACQUIRE);
}

static int ring_take(struct port *p)
{
	__u32 h = __atomic_load_n(head(p), __ATOMIC_ACQUIRE);

	for (;;) {
		__u32 t = __atomic_load_n(ring32(p, p->sa.ring_off.tail),
					  __ATOMIC_ACQUIRE);

		if (h == t)
			return 0;
		if (__atomic_compare_exchange_n(head(p), &h, h + 1, 0,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 1;
	}
}

static int conc(int fd, __u32 op, __u32 value)
{
	struct tpio_conc_args a = { .op = op, .value = value };

	return ioctl(fd, TPIO_IOC_CONC, &a);
}

static int port_open(struct port *p)
{
	struct tpio_io_create_args ca = { .cookie = 1 };

	p->fd = open("/dev/tpio", O_RDWR | O_CLOEXEC);
	if (p->fd < 0)
		return -1;
	memset(&p->sa, 0, sizeof(p->sa));
	p->sa.ring_entries = ENTRIES;
	p->sa.max_objects = 1;
	if (ioctl(p->fd, TPIO_IOC_SETUP, &p->sa))
		return -1;
	p->ring = mmap(NULL, p->sa.ring_size, PROT_READ, MAP_SHARED, p->fd,
		       TPIO_OFF_RING);
	p->shared = mmap(NULL, p->sa.shared_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, p->fd, TPIO_OFF_SHARED);
	if (p->ring == MAP_FAILED || p->shared == MAP_FAILED)
		return -1;
	if (ioctl(p->fd, TPIO_IOC_IO_CREATE, &ca))
		return -1;
	p->io = ca.io;
	return 0;
}

static void port_close(struct port *p)
{
	munmap(p->ring, p->sa.ring_size);
	munmap(p->shared, p->sa.shared_size);
	close(p->fd);
}

/* Start + POST of @n completions; the number queued. */
static __u32 post(struct port *p, __u32 n)
{
	static struct tpio_completion c[BATCH];
	struct tpio_post_args pa = { .completions = (uintptr_t)c, .count = n };
	__u64 *word = (__u64 *)(p->shared + p->sa.shared_off.words);
	__u32 i;

	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].io = p->io;
	}
	__atomic_fetch_add(word, (__u64)n << TPIO_W_PENDING_SHIFT,
			   __ATOMIC_SEQ_CST);
	if (ioctl(p->fd, TPIO_IOC_POST, &pa))
		pa.done = 0;
	/* give back the starts that were not applied */
	if (pa.done < n)
		__atomic_fetch_sub(word, (__u64)(n - pa.done) <<
				   TPIO_W_PENDING_SHIFT, __ATOMIC_SEQ_CST);
	return pa.done;
}

struct cfg {
	const char *name;
	int workers_per_cpu;	/* 1 or 4 */
	int attach;
	int value;		/* 1: the CPUs, 0: none */
};

static struct port P;
static int attach_workers;

static void *worker(void *arg)
{
	struct tpio_wait_args wa;
	__u64 *word = (__u64 *)(P.shared + P.sa.shared_off.words);
	__u64 t, w0;

	(void)arg;
	if (attach_workers && conc(P.fd, TPIO_CONC_ATTACH, 0))
		return (void *)1;
	while (!atomic_load(&stop)) {
		memset(&wa, 0, sizeof(wa));
		wa.timeout = now_ns() + 50000000ULL;
		if (ioctl(P.fd, TPIO_IOC_WAIT, &wa) || !ring_take(&P))
			continue;
		/* the entry's queued count: the callback begins and ends */
		__atomic_fetch_sub(word, 1ULL << TPIO_W_QUEUED_SHIFT,
				   __ATOMIC_SEQ_CST);
		/* SPIN_US of CPU time: runnable from w0 until it is done */
		w0 = now_ns();
		t = cpu_ns() + spin_us * 1000ULL;
		while (cpu_ns() < t)
			;
		atomic_fetch_add(&runnable_ns, now_ns() - w0);
		sleep_us(spin_us);
		atomic_fetch_add(&done, 1);
	}
	if (attach_workers)
		conc(P.fd, TPIO_CONC_DETACH, 0);
	return NULL;
}

static long csw(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static int run(const struct cfg *c, int cpus)
{
	int n = c->workers_per_cpu * cpus, i;
	__u64 t0, end;
	long d0, s0, r0;
	pthread_t *th;

	if (port_open(&P)) {
		perror("skip conc_block: /dev/tpio");
		return -1;
	}
	attach_workers = c->attach;
	if (c->attach && conc(P.fd, TPIO_CONC_SET, c->value ? cpus : 0)) {
		perror("skip conc_block: TPIO_IOC_CONC");
		port_close(&P);
		return -1;
	}
	atomic_store(&stop, 0);
	atomic_store(&done, 0);
	th = calloc(n, sizeof(*th));
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	/* warm up for 200 ms, then measure */
	end = now_ns() + 200000000ULL;
	while (now_ns() < end) {
		if (queued(&P) < BATCH)
			post(&P, BATCH);
		sleep_us(500);
	}
	d0 = atomic_load(&done);
	r0 = atomic_load(&runnable_ns);
	s0 = csw();
	t0 = now_ns();
	end = t0 + duration_ms * 1000000ULL;
	while (now_ns() < end) {
		if (queued(&P) < BATCH)
			post(&P, BATCH);
		sleep_us(1000);
	}
	t0 = now_ns() - t0;
	d0 = atomic_load(&done) - d0;
	r0 = atomic_load(&runnable_ns) - r0;
	s0 = csw() - s0;
	atomic_store(&stop, 1);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
	port_close(&P);
	printf("row bench=conc_block impl=%s workers=%d value=%d cps=%.0f runnable=%.2f csw=%.2f\n",
	       c->name, n, c->value ? cpus : 0, d0 * 1e9 / t0,
	       (double)r0 / t0,
	       d0 ? (double)s0 / d0 : 0.0);
	fflush(stdout);
	return 0;
}

static const struct cfg cfgs[] = {
	{ "conc", 4, 1, 1 },
	{ "fixed1", 1, 0, 0 },
	{ "fixed4", 4, 0, 0 },
	{ "noconc", 4, 1, 0 },
};

int main(int argc, char **argv)
{
	int cpus = sysconf(_SC_NPROCESSORS_ONLN), opt, rc = 0;
	size_t i;

	while ((opt = getopt(argc, argv, "d:s:")) != -1) {
		if (opt == 'd')
			duration_ms = atoi(optarg);
		else if (opt == 's')
			spin_us = atoi(optarg);
		else
			return 2;
	}
	printf("conc_block: %d CPUs, callbacks spin %u us then sleep %u us, %u ms per row\n",
	       cpus, spin_us, spin_us, duration_ms);
	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		int want = optind >= argc, j;

		for (j = optind; j < argc; j++)
			want |= !strcmp(argv[j], cfgs[i].name);
		if (want && run(&cfgs[i], cpus))
			rc = 1;
	}
	return rc;
}
