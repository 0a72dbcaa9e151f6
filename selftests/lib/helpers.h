/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libtpio scenario tests (one translation unit: the
 * 6.1 kselftest harness defines its runner in the header, so scenarios.c
 * includes every t_*.c file after this one).
 *
 * Time rules (Documentation/contract.rst, "Test rules"): "still blocked"
 * means a thread doing the blocking call has not finished after
 * STILL_BLOCKED_MS; "released" means it finished within RELEASED_MS of the
 * releasing action. RELEASED_MS is generous because the kmod run happens in
 * an emulated (TCG) VM.
 *
 * Every wait in a helper is bounded, so a library bug fails a test instead
 * of hanging it until the harness timeout.
 */
#ifndef TPIO_SELFTEST_HELPERS_H
#define TPIO_SELFTEST_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tpio.h>

#define STILL_BLOCKED_MS	100
#define RELEASED_MS		2000

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Poll until *@v >= @n or @ms elapse; returns whether it got there. */
static inline int wait_count(atomic_int *v, int n, int ms)
{
	int64_t end = now_ms() + ms;

	while (atomic_load(v) < n) {
		if (now_ms() > end)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

/* Poll until tpio_io_count() == @n or @ms elapse. */
static inline int wait_io_count(ULONG n, int ms)
{
	int64_t end = now_ms() + ms;

	while (tpio_io_count() != n) {
		if (now_ms() > end)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

/*
 * A gate that callbacks block on until the test opens it. Built on pthreads,
 * not on the library's events, so that the basic scenarios do not depend
 * on handles_sync.c. gate_wait gives up after RELEASED_MS * 5 and says so.
 */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int open;
};

static inline void gate_init(struct gate *g)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &attr);
	pthread_condattr_destroy(&attr);
	g->open = 0;
}

static inline void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = 1;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static inline int gate_wait(struct gate *g)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += RELEASED_MS * 5 / 1000;
	pthread_mutex_lock(&g->lock);
	while (!g->open && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	ret = g->open;
	pthread_mutex_unlock(&g->lock);
	return ret;
}

/* A blocking call run on its own thread, to prove "still blocked"/"released". */
struct bg {
	pthread_t thread;
	void (*fn)(void *arg);
	void *arg;
	int started;
};

static inline void *bg_main(void *p)
{
	struct bg *b = p;

	b->fn(b->arg);
	return NULL;
}

static inline int bg_start(struct bg *b, void (*fn)(void *), void *arg)
{
	b->fn = fn;
	b->arg = arg;
	b->started = !pthread_create(&b->thread, NULL, bg_main, b);
	return b->started;
}

/* pthread_timedjoin_np after @ms: 0 when joined, ETIMEDOUT while blocked. */
static inline int bg_join(struct bg *b, int ms)
{
	struct timespec ts;
	int ret;

	if (!b->started)
		return ESRCH;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	ret = pthread_timedjoin_np(b->thread, NULL, &ts);
	if (!ret)
		b->started = 0;
	return ret;
}

/* Blocking calls for struct bg. */
static inline void bg_wait_false(void *io)
{
	WaitForThreadpoolIoCallbacks(io, FALSE);
}

static inline void bg_wait_true(void *io)
{
	WaitForThreadpoolIoCallbacks(io, TRUE);
}

/*
 * What an I/O callback saw. A probe is the callback Context of one or more
 * objects: the generic callback records its arguments into the next free
 * record, then runs the probe's action (if any).
 */
#define PROBE_RECS 64

struct cb_rec {
	PTP_CALLBACK_INSTANCE inst;
	PVOID ctx;
	PVOID ov;
	ULONG result;
	ULONG_PTR bytes;
	PTP_IO io;
	pthread_t thread;
};

struct probe;
typedef void (*probe_action)(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			     struct cb_rec *rec);

struct probe {
	atomic_int started;	/* callbacks entered */
	atomic_int finished;	/* callbacks about to return (after the action) */
	struct cb_rec rec[PROBE_RECS];
	probe_action action;
	struct gate *gate;	/* for actions that block */
	PTP_IO io;		/* for actions that need the object */
	atomic_int flag;	/* action-specific results */
	atomic_int flag2;
	atomic_int bad;		/* an action saw something it should not */
};

static inline void probe_init(struct probe *p, probe_action action)
{
	memset(p, 0, sizeof(*p));
	p->action = action;
}

static VOID CALLBACK probe_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			      PVOID ov, ULONG result, ULONG_PTR bytes,
			      PTP_IO io)
{
	struct probe *p = ctx;
	int n = atomic_fetch_add(&p->started, 1);
	struct cb_rec scratch, *rec = n < PROBE_RECS ? &p->rec[n] : &scratch;

	rec->inst = inst;
	rec->ctx = ctx;
	rec->ov = ov;
	rec->result = result;
	rec->bytes = bytes;
	rec->io = io;
	rec->thread = pthread_self();
	if (p->action)
		p->action(p, inst, rec);
	atomic_fetch_add(&p->finished, 1);
}

/* Actions */
static inline void act_block(struct probe *p, PTP_CALLBACK_INSTANCE inst,
			     struct cb_rec *rec)
{
	(void)inst;
	(void)rec;
	if (!gate_wait(p->gate))
		atomic_fetch_add(&p->bad, 1);
}

static inline void act_disassoc_block(struct probe *p,
				      PTP_CALLBACK_INSTANCE inst,
				      struct cb_rec *rec)
{
	DisassociateCurrentThreadFromCallback(inst);
	act_block(p, inst, rec);
}

/* Number of threads of this process (from /proc/self/task). */
static inline int task_count(void)
{
	char buf[256];
	FILE *f = fopen("/proc/self/status", "r");
	int n = -1;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

#endif /* TPIO_SELFTEST_HELPERS_H */
