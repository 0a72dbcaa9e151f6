// SPDX-License-Identifier: MIT
/*
 * Statistics for tpiostat (Documentation/libtpio.rst, "Statistics for
 * tpiostat"). With TPIO_STATS=1 each pool gets a small shared-memory file,
 * a memfd named "tpio-stats-<n>" that the process keeps open (the layout
 * of common/tpio_stats.h), and one statistics thread copies into it, every
 * TPIO_STATS_MS (100 ms), the counters that the pool and its port keep
 * anyway: callbacks begun, callbacks running, the scheduler's count, the
 * ring's indices and the objects' state words, and, on kmod with the
 * module's concurrency control, the kernel's counts (TPIO_CONC_QUERY, the
 * statistics thread's only system call). tpiostat finds the file
 * among the process's descriptors (/proc/<pid>/fd) and maps it. Nothing
 * on the path of a completion changes: no counter is added, no system
 * call is made there, and without TPIO_STATS nothing of this runs at all. The
 * file goes with its pool, or with the process however it ends; a child
 * after fork() closes its copies of its parent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "engine.h"
#include "tpio_stats.h"

struct stats_rec {
	struct stats_rec *next;
	struct _TP_POOL *pool;
	struct tpio_stats_file *f;	/* the file's mapping */
	size_t len;
	int fd;				/* the memfd, kept open for tpiostat */
};

static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stats_rec *stats_list;	/* stats_mu */
static uint32_t stats_next_id;		/* stats_mu */
static int stats_thread_on;		/* stats_mu */
static int stats_atfork_done;		/* stats_mu */
/* TPIO_STATS and TPIO_STATS_MS: the settings read once (config.c) */
static int stats_enabled(void)
{
	return tpio_config()->stats;
}

/* release: a field's store is not seen before the odd seq (no fence: TSan) */
#define ST(field, v)	__atomic_store_n(&f->field, (v), __ATOMIC_RELEASE)
#define LD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)

/* One sample of @r's pool into its file; stats_mu held. */
static void sample(struct stats_rec *r)
{
	struct tpio_stats_file *f = r->f;
	struct _TP_POOL *pool = r->pool;
	const struct tpio_ring_view *v = &pool->port.r;
	uint64_t pending = 0, queued = 0, running = 0, objects, threads;
	uint32_t seq = f->seq, head, tail, i;
	struct tpio_conc_args ca;
	struct timespec ts;

	for (i = 0; i < v->max_objects; i++) {
		__u64 w = LD(&v->words[i]);

		pending += tpio_w_pending(w);
		queued += tpio_w_queued(w);
		running += tpio_w_running(w);
	}
	pthread_mutex_lock(&pool->mu);
	objects = pool->io_count;
	threads = pool->threads;
	pthread_mutex_unlock(&pool->mu);
	head = __atomic_load_n(v->head, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(v->tail, __ATOMIC_ACQUIRE);
	/* the kernel's counts: one system call per sample, none on a path */
	if (!pool->kconc || tpio_conc_query(pool, &ca))
		memset(&ca, 0, sizeof(ca));
	clock_gettime(CLOCK_MONOTONIC, &ts);

	__atomic_store_n(&f->seq, seq + 1, __ATOMIC_RELAXED);
	ST(updated_ns, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	ST(samples, f->samples + 1);
	ST(callbacks, atomic_load_explicit(&pool->cb_begun,
					   memory_order_relaxed));
	ST(objects, objects);
	ST(threads, threads);
	ST(running, atomic_load_explicit(&pool->running, memory_order_relaxed));
	ST(spinning, atomic_load_explicit(&pool->spinning,
					  memory_order_relaxed));
	ST(scheduled, atomic_load_explicit(&pool->sched_count,
					   memory_order_relaxed));
	ST(pending, pending);
	ST(queued, queued);
	ST(word_running, running);
	ST(ring_head, head);
	ST(ring_tail, tail);
	ST(ring_fill, tail - head > v->entries ? v->entries : tail - head);
	ST(waiters, LD(v->waiters));
	ST(overflow, !!(LD(v->flags) & TPIO_RING_F_OVERFLOW));
	ST(conc_value, ca.value);
	ST(conc_active, ca.active);
	ST(conc_blocked, ca.blocked);
	ST(conc_released, ca.released);
	ST(conc_admits, atomic_load_explicit(&pool->conc_admits,
					     memory_order_relaxed));
	ST(conc_yields, atomic_load_explicit(&pool->conc_yields,
					     memory_order_relaxed));
	ST(stall_grants, atomic_load_explicit(&pool->stall_grants,
					      memory_order_relaxed));
	ST(meter_grants, atomic_load_explicit(&pool->meter_grants,
					      memory_order_relaxed));
	ST(meter_revokes, atomic_load_explicit(&pool->meter_revokes,
					       memory_order_relaxed));
	__atomic_store_n(&f->seq, seq + 2, __ATOMIC_RELEASE);
}

static void *stats_main(void *arg)
{
	uint32_t ms = tpio_config()->stats_ms;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	struct stats_rec *r;

	(void)arg;
	for (;;) {
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&stats_mu);
		for (r = stats_list; r; r = r->next)
			sample(r);
		pthread_mutex_unlock(&stats_mu);
	}
	return NULL;
}

/* A detached thread that takes no signals. */
static int thread_start(void *(*fn)(void *))
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t th;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&th, &a, fn, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* @mine: the file is this process's (not a copy inherited by fork()). */
static void rec_drop(struct stats_rec *r, int mine)
{
	if (mine)
		__atomic_store_n(&r->f->closed, 1, __ATOMIC_RELEASE);
	munmap(r->f, r->len);
	close(r->fd);
	free(r);
}

static void stats_prefork(void)
{
	pthread_mutex_lock(&stats_mu);
}

static void stats_postfork_parent(void)
{
	pthread_mutex_unlock(&stats_mu);
}

/*
 * The child has no statistics thread, and the files are the parent's: its
 * copies of their descriptors go (tpiostat would skip them anyway: the
 * file names its pid).
 */
static void stats_postfork_child(void)
{
	struct stats_rec *r, *next;

	for (r = stats_list; r; r = next) {
		next = r->next;
		rec_drop(r, 0);
	}
	stats_list = NULL;
	stats_thread_on = 0;
	pthread_mutex_unlock(&stats_mu);
}

/* Creates the file of @r; 0 or -errno. stats_mu held. */
static int rec_create(struct stats_rec *r, uint32_t id)
{
	long page = sysconf(_SC_PAGESIZE);
	struct tpio_stats_file *f;
	char name[32];
	int err;

	snprintf(name, sizeof(name), TPIO_STATS_NAME "%u", id);
	r->len = (sizeof(*f) + (size_t)page - 1) & ~((size_t)page - 1);
	r->fd = memfd_create(name, MFD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	if (ftruncate(r->fd, (off_t)r->len)) {
		err = -errno;
		close(r->fd);
		return err;
	}
	f = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (f == MAP_FAILED) {
		err = -errno;
		close(r->fd);
		return err;
	}
	f->version = TPIO_STATS_VERSION;
	f->size = sizeof(*f);
	f->pid = getpid();
	f->pool = id;
	f->interval_ms = tpio_config()->stats_ms;
	f->ring_entries = r->pool->port.r.entries;
	f->max_objects = r->pool->port.r.max_objects;
	snprintf(f->backend, sizeof(f->backend), "%s", r->pool->port.t->name);
	snprintf(f->comm, sizeof(f->comm), "%s", program_invocation_short_name);
	r->f = f;
	sample(r);
	/* a reader trusts nothing before the magic */
	__atomic_store_n(&f->magic, TPIO_STATS_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void tpio_stats_register(struct _TP_POOL *pool)
{
	struct stats_rec *r;
	int err;

	if (!stats_enabled())
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	r->pool = pool;
	pthread_mutex_lock(&stats_mu);
	if (!stats_atfork_done) {
		stats_atfork_done = 1;
		pthread_atfork(stats_prefork, stats_postfork_parent,
			       stats_postfork_child);
	}
	err = rec_create(r, stats_next_id++);
	if (err) {
		pthread_mutex_unlock(&stats_mu);
		tpio_warn("TPIO_STATS: no statistics file: %s",
			  strerror(-err));
		free(r);
		return;
	}
	r->next = stats_list;
	stats_list = r;
	if (!stats_thread_on) {
		err = thread_start(stats_main);
		if (err)
			tpio_warn("TPIO_STATS: no statistics thread: %s",
				  strerror(err));
		else
			stats_thread_on = 1;
	}
	pthread_mutex_unlock(&stats_mu);
}

void tpio_stats_unregister(struct _TP_POOL *pool)
{
	struct stats_rec **pp, *r;

	if (!stats_enabled())
		return;
	pthread_mutex_lock(&stats_mu);
	for (pp = &stats_list; *pp; pp = &(*pp)->next) {
		r = *pp;
		if (r->pool == pool) {
			*pp = r->next;
			rec_drop(r, 1);
			break;
		}
	}
	pthread_mutex_unlock(&stats_mu);
}
