// SPDX-License-Identifier: MIT
/*
 * conc_block: callbacks that block half of the time (Documentation/
 * performance.md, "Concurrency control"). Each callback spins for SPIN_US
 * of CPU time (its work) then sleeps for SPIN_US (nanosleep: a blocking
 * call); the main thread keeps at least 128 callbacks queued. CPUs is
 * the number of online CPUs. Configurations:
 *
 *   through the raw ABI of /dev/tpio (Documentation/kmod.rst,
 *   "Concurrency control"); a worker takes one entry per TPIO_IOC_WAIT
 *   (which, with a value, hands out work only while fewer than the value
 *   run), as an NT thread calls GetQueuedCompletionStatus after each
 *   completion:
 *     conc      4 x CPUs workers attached to the port, value = CPUs
 *     fixed1    CPUs workers, no concurrency control
 *     fixed4    4 x CPUs workers, no concurrency control
 *     noconc    4 x CPUs workers attached, value 0 (the hooks' cost only)
 *   through libtpio's API (the backend from TPIO_BACKEND, printed as
 *   impl=tpio-<backend>):
 *     tp        one TP_WORK submitted again and again, on a private pool
 *               with SetThreadpoolThreadMaximum(4 x CPUs) and the
 *               library's default minimum and concurrency value
 *   without tpio (run anywhere: the native peers):
 *     pool1     CPUs threads taking items from a counter under a mutex
 *               and a condition variable
 *     pool4     the same with 4 x CPUs threads
 *
 * Each configuration warms up for WARM_MS, then measures for MS:
 *   cps       callbacks completed per second;
 *   runnable  the mean number of the process's threads, the main thread
 *             (the feeder) excepted, that are running or waiting for a
 *             CPU: the sum over those threads of the growth of
 *             /proc/self/task/TID/schedstat's run time and run-queue wait
 *             over the window, divided by the window (a thread created in
 *             the window counts from zero; one that exits in it would be
 *             lost, so the row is then a skip line); it counts whatever a
 *             pool keeps runnable, callbacks or idle spinning;
 *   spin      the mean number of callbacks in their spinning half
 *             (the wall time of those halves over the window: running or
 *             preempted; what earlier versions called runnable);
 *   csw       context switches per callback of the process's threads but
 *             the main one (getrusage: RUSAGE_SELF minus the main
 *             thread's RUSAGE_THREAD).
 *
 * Output (bench/bench.h's row format, bench/report reads it): per
 * configuration the rows conc_block_cps (unit per_s), conc_block_runnable
 * and conc_block_spin (unit threads) and conc_block_csw (unit per_cb),
 * each with workers=W value=V (the port's value; "-" but for the raw
 * configurations) cpus=N, plus one "# conc_block ..." summary
 * line; a configuration that cannot run prints skip lines with the reason.
 *
 * Usage: conc_block [-d MS] [-w WARM_MS] [-s SPIN_US] [-r RUN] [CFG...]
 *        (default: every configuration)
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <tpio.h>

#include "bench.h"

#define ENTRIES		1024
#define BATCH		128
#define MAX_TASKS	4096

static unsigned int spin_us = 500;
static unsigned int duration_ms = 2000;
static unsigned int warm_ms = 200;
static int run_id = 1;

static atomic_llong spin_ns;	/* wall time of the spinning halves */
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

/* the callback's body, the same in every configuration */
static void callback(void)
{
	__u64 t, w0;

	if (atomic_load(&stop))
		return;
	/* SPIN_US of CPU time: runnable from w0 until it is done */
	w0 = now_ns();
	t = cpu_ns() + spin_us * 1000ULL;
	while (cpu_ns() < t)
		;
	atomic_fetch_add(&spin_ns, now_ns() - w0);
	sleep_us(spin_us);
	atomic_fetch_add(&done, 1);
}

/* ---- what the process's threads did: schedstat and rusage ---- */

struct snap {
	int n;
	long tid[MAX_TASKS];
	__u64 ns[MAX_TASKS];	/* run time + run-queue wait */
	int ok;			/* every thread had a schedstat line */
	long csw;		/* the process's switches but the main thread's */
};

static int snap_take(struct snap *s)
{
	long self = getpid();
	struct rusage ru, rt;
	struct dirent *e;
	DIR *d;

	s->n = 0;
	s->ok = 1;
	d = opendir("/proc/self/task");
	if (!d) {
		s->ok = 0;
		return -1;
	}
	while ((e = readdir(d))) {
		unsigned long long run, wait;
		char path[64];
		long tid;
		FILE *f;

		tid = atol(e->d_name);
		if (tid <= 0 || tid == self || s->n == MAX_TASKS)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat",
			 tid);
		f = fopen(path, "r");
		if (!f)
			continue;	/* it exited meanwhile */
		if (fscanf(f, "%llu %llu", &run, &wait) != 2)
			s->ok = 0;
		fclose(f);
		s->tid[s->n] = tid;
		s->ns[s->n++] = run + wait;
	}
	closedir(d);
	getrusage(RUSAGE_SELF, &ru);
	getrusage(RUSAGE_THREAD, &rt);
	s->csw = ru.ru_nvcsw + ru.ru_nivcsw - rt.ru_nvcsw - rt.ru_nivcsw;
	return 0;
}

/*
 * The runnable thread-nanoseconds from @a to @b; -1 when a thread of @a
 * is gone from @b (its time would be lost) or a line was unreadable.
 */
static long long snap_runnable(const struct snap *a, const struct snap *b)
{
	long long sum = 0;
	int i, j;

	if (!a->ok || !b->ok)
		return -1;
	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n && b->tid[j] != a->tid[i]; j++)
			;
		if (j == b->n)
			return -1;
	}
	for (j = 0; j < b->n; j++) {
		__u64 before = 0;

		for (i = 0; i < a->n; i++)
			if (a->tid[i] == b->tid[j])
				before = a->ns[i];
		sum += b->ns[j] - before;
	}
	return sum;
}

static struct snap snap0, snap1;

/* ---- raw ABI: a /dev/tpio port ---- */

struct port {
	int fd;
	struct tpio_setup_args sa;
	unsigned char *ring, *shared;
	__u32 io;
};

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

enum kind { RAW, TP, POOL };

struct cfg {
	const char *name;
	enum kind kind;
	int workers_per_cpu;	/* 1 or 4 */
	int attach;		/* RAW: workers attach to the port */
	int value;		/* RAW: 1: the CPUs, 0: none */
};

static struct port P;
static int attach_workers;

static void *raw_worker(void *arg)
{
	struct tpio_wait_args wa;
	__u64 *word = (__u64 *)(P.shared + P.sa.shared_off.words);

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
		callback();
	}
	if (attach_workers)
		conc(P.fd, TPIO_CONC_DETACH, 0);
	return NULL;
}

/* ---- libtpio: one TP_WORK on a private pool ---- */

static PTP_POOL tp_pool;
static PTP_WORK tp_work;
static TP_CALLBACK_ENVIRON tp_env;
static long tp_submitted;

static VOID CALLBACK tp_callback(PTP_CALLBACK_INSTANCE inst, PVOID arg,
				 PTP_WORK work)
{
	(void)inst;
	(void)arg;
	(void)work;
	callback();
}

/* ---- a plain fixed pool: a counter under a mutex + condvar ---- */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static long pool_items;

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_mu);
	for (;;) {
		while (!pool_items && !atomic_load(&stop))
			pthread_cond_wait(&pool_cv, &pool_mu);
		if (atomic_load(&stop))
			break;
		pool_items--;
		pthread_mutex_unlock(&pool_mu);
		callback();
		pthread_mutex_lock(&pool_mu);
	}
	pthread_mutex_unlock(&pool_mu);
	return NULL;
}

/* keep at least BATCH callbacks waiting (queued, not yet started) */
static void feed(const struct cfg *c)
{
	switch (c->kind) {
	case RAW:
		if (queued(&P) < BATCH)
			post(&P, BATCH);
		break;
	case TP:
		/* submitted, not completed: the running ones included */
		if (tp_submitted - atomic_load(&done) < 2 * BATCH) {
			int i;

			for (i = 0; i < BATCH; i++)
				SubmitThreadpoolWork(tp_work);
			tp_submitted += BATCH;
		}
		break;
	case POOL:
		pthread_mutex_lock(&pool_mu);
		if (pool_items < BATCH) {
			pool_items += BATCH;
			pthread_cond_broadcast(&pool_cv);
		}
		pthread_mutex_unlock(&pool_mu);
		break;
	}
}

static void skip(const char *impl, const char *what)
{
	static const char *const b[] = { "conc_block_cps",
		"conc_block_runnable", "conc_block_spin", "conc_block_csw" };
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		bench_skip(b[i], impl, what);
}

/* value: the port's concurrency value (RAW), "-" for the others */
static char value_s[16];

static void row(const char *bench, const char *impl, const char *unit,
		double v, long n, int workers, int cpus)
{
	printf("row bench=%s impl=%s env=%s run=%d unit=%s median=%.4f p50=%.4f p99=%.4f n=%ld workers=%d value=%s cpus=%d\n",
	       bench, impl, bench_env(), run_id, unit, v, v, v, n, workers,
	       value_s, cpus);
}

static int start(const struct cfg *c, int cpus, int n, char *impl,
		 size_t implsz, pthread_t *th)
{
	int i;

	snprintf(impl, implsz, "%s", c->name);
	switch (c->kind) {
	case RAW:
		if (port_open(&P)) {
			skip(impl, "no_/dev/tpio");
			return -1;
		}
		attach_workers = c->attach;
		if (c->attach && conc(P.fd, TPIO_CONC_SET, c->value ? cpus : 0)) {
			skip(impl, "TPIO_IOC_CONC_failed");
			port_close(&P);
			return -1;
		}
		for (i = 0; i < n; i++)
			pthread_create(&th[i], NULL, raw_worker, NULL);
		return 0;
	case TP:
		tp_pool = CreateThreadpool(NULL);
		if (!tp_pool) {
			skip(impl, "CreateThreadpool_failed");
			return -1;
		}
		snprintf(impl, implsz, "tpio-%s", tpio_backend());
		SetThreadpoolThreadMaximum(tp_pool, n);
		InitializeThreadpoolEnvironment(&tp_env);
		SetThreadpoolCallbackPool(&tp_env, tp_pool);
		tp_work = CreateThreadpoolWork(tp_callback, NULL, &tp_env);
		if (!tp_work) {
			skip(impl, "CreateThreadpoolWork_failed");
			CloseThreadpool(tp_pool);
			return -1;
		}
		tp_submitted = 0;
		return 0;
	case POOL:
		pool_items = 0;
		for (i = 0; i < n; i++)
			pthread_create(&th[i], NULL, pool_worker, NULL);
		return 0;
	}
	return -1;
}

static void finish(const struct cfg *c, int n, pthread_t *th)
{
	int i;

	atomic_store(&stop, 1);
	switch (c->kind) {
	case RAW:
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		port_close(&P);
		break;
	case TP:
		/* the queued ones return at once (stop), the rest are cancelled */
		WaitForThreadpoolWorkCallbacks(tp_work, TRUE);
		CloseThreadpoolWork(tp_work);
		DestroyThreadpoolEnvironment(&tp_env);
		CloseThreadpool(tp_pool);
		break;
	case POOL:
		pthread_mutex_lock(&pool_mu);
		pthread_cond_broadcast(&pool_cv);
		pthread_mutex_unlock(&pool_mu);
		for (i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		break;
	}
}

static int run(const struct cfg *c, int cpus)
{
	int n = c->workers_per_cpu * cpus;
	long d0, r0;
	long long rn;
	__u64 t0, end;
	char impl[48];
	pthread_t *th;

	if (c->kind == RAW)
		snprintf(value_s, sizeof(value_s), "%d", c->value ? cpus : 0);
	else
		snprintf(value_s, sizeof(value_s), "-");
	atomic_store(&stop, 0);
	atomic_store(&done, 0);
	th = calloc(n, sizeof(*th));
	if (!th || start(c, cpus, n, impl, sizeof(impl), th)) {
		free(th);
		fflush(stdout);
		return c->kind == RAW ? 0 : -1;	/* no /dev/tpio: a skip */
	}
	/* warm up, then measure */
	end = now_ns() + warm_ms * 1000000ULL;
	while (now_ns() < end) {
		feed(c);
		sleep_us(500);
	}
	d0 = atomic_load(&done);
	r0 = atomic_load(&spin_ns);
	snap_take(&snap0);
	t0 = now_ns();
	end = t0 + duration_ms * 1000000ULL;
	while (now_ns() < end) {
		feed(c);
		sleep_us(1000);
	}
	snap_take(&snap1);
	t0 = now_ns() - t0;
	d0 = atomic_load(&done) - d0;
	r0 = atomic_load(&spin_ns) - r0;
	finish(c, n, th);
	free(th);

	rn = snap_runnable(&snap0, &snap1);
	if (!d0) {
		bench_fail("conc_block_cps", impl, "no_callback_completed");
		fflush(stdout);
		return -1;
	}
	printf("# conc_block impl=%s workers=%d value=%s cps=%.0f runnable=%.2f spin=%.2f csw=%.2f\n",
	       impl, n, value_s, d0 * 1e9 / t0, rn < 0 ? -1.0 : (double)rn / t0,
	       (double)r0 / t0, (double)(snap1.csw - snap0.csw) / d0);
	row("conc_block_cps", impl, "per_s", d0 * 1e9 / t0, d0, n, cpus);
	if (rn < 0)
		bench_skip("conc_block_runnable", impl,
			   "a_thread_exited_in_the_window_or_no_schedstat");
	else
		row("conc_block_runnable", impl, "threads", (double)rn / t0,
		    d0, n, cpus);
	row("conc_block_spin", impl, "threads", (double)r0 / t0, d0, n, cpus);
	row("conc_block_csw", impl, "per_cb",
	    (double)(snap1.csw - snap0.csw) / d0, d0, n, cpus);
	fflush(stdout);
	return 0;
}

static const struct cfg cfgs[] = {
	{ "conc", RAW, 4, 1, 1 },
	{ "fixed1", RAW, 1, 0, 0 },
	{ "fixed4", RAW, 4, 0, 0 },
	{ "noconc", RAW, 4, 1, 0 },
	{ "tp", TP, 4, 0, 0 },
	{ "pool1", POOL, 1, 0, 0 },
	{ "pool4", POOL, 4, 0, 0 },
};

int main(int argc, char **argv)
{
	int cpus = sysconf(_SC_NPROCESSORS_ONLN), opt, rc = 0;
	size_t i;

	while ((opt = getopt(argc, argv, "d:w:s:r:")) != -1) {
		if (opt == 'd')
			duration_ms = bench_arg_long(optarg, "-d");
		else if (opt == 'w')
			warm_ms = bench_arg_long(optarg, "-w");
		else if (opt == 's')
			spin_us = bench_arg_long(optarg, "-s");
		else if (opt == 'r')
			run_id = bench_arg_long(optarg, "-r");
		else
			return 2;
	}
	if (!duration_ms) {
		fprintf(stderr, "conc_block: -d must be > 0\n");
		return 2;
	}
	for (i = optind; i < (size_t)argc; i++) {
		size_t j;

		for (j = 0; j < sizeof(cfgs) / sizeof(cfgs[0]); j++)
			if (!strcmp(argv[i], cfgs[j].name))
				break;
		if (j == sizeof(cfgs) / sizeof(cfgs[0])) {
			fprintf(stderr, "conc_block: unknown configuration %s\n",
				argv[i]);
			return 2;
		}
	}
	printf("# conc_block: %d CPUs, callbacks spin %u us then sleep %u us, %u ms per configuration after %u ms of warm-up\n",
	       cpus, spin_us, spin_us, duration_ms, warm_ms);
	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		int want = optind >= argc, j;

		for (j = optind; j < argc; j++)
			want |= !strcmp(argv[j], cfgs[i].name);
		if (want && run(&cfgs[i], cpus))
			rc = 1;
	}
	return rc;
}
