// SPDX-License-Identifier: MIT
/*
 * /dev/tpio under load: several threads do random Start, Cancel, POST
 * batches, DRAIN(CANCEL) and ring consumption (callback begin and end) on
 * a few objects of one port, with a fixed seed, until enough callbacks ran
 * and a least time passed (or a time bound, which fails). At the end
 * everything is cancelled and the skipped completions are posted, and the
 * per-thread tallies must balance exactly against the kernel's results:
 *   starts == cancels + QUEUED + SKIPPED    every Start ended exactly once
 *   tail == begun + stale                   every ring entry taken once
 *   begun + stale <= QUEUED                 equal unless the overflow list
 *                                           was in use (a cancel purges
 *                                           the object's overflow entries)
 * and every word is back to nothing pending, queued, running or waiting.
 * Two rings: 64 entries (overflow list and EAGAIN all the time) and 4096.
 *
 * Environment: TPIO_STRESS_SEED (0x7470696f), TPIO_STRESS_THREADS (4
 * posters), TPIO_STRESS_WORKERS (2 threads that only WAIT and run),
 * TPIO_STRESS_SECONDS (5: the least run time), TPIO_STRESS_COMPLETIONS
 * (callbacks to run at least: 200000 with the 64-entry ring, 1000000 with
 * the 4096-entry one), TPIO_STRESS_MAX_SECONDS (100: fewer callbacks by
 * then fails).
 */
#define _GNU_SOURCE
#include "tpio_test.h"

#define NOBJ		16
#define MAX_THREADS	16

struct tally {
	__u64 starts, cancels, begun, stale;
	__u64 queued, skipped, dropped;
	__u64 posts, eagain, partial;
	__u64 drains_ok, drains_timeout;
	__u64 overflow_seen;
	__u64 bad_entries;
	__u64 wakeups;
	int err;		/* first unexpected errno, with where */
	const char *where;
};

struct stress {
	struct port p;
	__u32 io[NOBJ];
	__u64 cookie[NOBJ];
	__u8 slot_obj[TPIO_OBJECTS_MAX];	/* slot -> object index + 1 */
	volatile int stop;
	__u64 target;
	__u64 min_end;		/* run at least until then (ns) */
	__u64 seed;
	unsigned int threads;
	__u64 begun_total;	/* summed atomically, for the stop decision */
};

struct worker {
	struct stress *s;
	unsigned int id;
	struct tally t;
	pthread_t thread;
};

static void fail(struct tally *t, const char *where, int err)
{
	if (!t->err) {
		t->err = err ? err : -1;
		t->where = where;
	}
}

/* The entry's fields are derived from overlapped: a torn entry shows. */
static __u64 info_of(__u64 ov)
{
	return ov * 3 + 1;
}

static __u32 status_of(__u64 ov)
{
	return (__u32)(ov % 1000);
}

/* Runs (begin, end) or discards (stale) what is in the ring. */
static unsigned int consume(struct stress *s, struct tally *t,
			    unsigned int max)
{
	struct tpio_cqe e;
	unsigned int n = 0, begun = 0, o;

	while (n < max && ring_take(&s->p, &e)) {
		n++;
		o = s->slot_obj[e.slot];
		if (!o || e.cookie != s->cookie[o - 1] ||
		    e.information != info_of(e.overlapped) ||
		    e.status != status_of(e.overlapped)) {
			t->bad_entries++;
			continue;
		}
		if (io_begin(&s->p, s->io[o - 1], e.epoch)) {
			begun++;
			io_end(&s->p, s->io[o - 1]);
		} else {
			t->stale++;
		}
	}
	if (begun) {
		t->begun += begun;
		__atomic_fetch_add(&s->begun_total, begun, __ATOMIC_RELAXED);
	}
	return n;
}

/* Consumes everything, moving the overflow list into the ring as it goes. */
static void consume_all(struct stress *s, struct tally *t)
{
	for (;;) {
		while (consume(s, t, 4096))
			;
		if (!(ring_flags(&s->p) & TPIO_RING_F_OVERFLOW))
			return;
		t->overflow_seen++;
		if (port_wait(s->p.fd, 0) && errno != ETIMEDOUT) {
			fail(t, "WAIT(0)", errno);
			return;
		}
	}
}

static void tally_results(struct tally *t, struct tpio_completion *c,
			  __u32 n)
{
	__u32 i;

	for (i = 0; i < n; i++) {
		switch (c[i].result) {
		case TPIO_POSTED_QUEUED:
			t->queued++;
			break;
		case TPIO_POSTED_SKIPPED:
			t->skipped++;
			break;
		case TPIO_POSTED_DROPPED:
			t->dropped++;
			break;
		default:
			fail(t, "POST result", 0);
		}
	}
}

/* POSTs c[0..n) completely, consuming to make room when the port is full. */
static void post_all(struct stress *s, struct tally *t,
		     struct tpio_completion *c, __u32 n)
{
	struct tpio_post_args pa;
	__u32 off = 0;
	unsigned int stuck = 0;

	while (off < n && !t->err) {
		memset(&pa, 0, sizeof(pa));
		pa.completions = (uintptr_t)&c[off];
		pa.count = n - off;
		pa.flags = TPIO_POST_RESULTS;
		t->posts++;
		if (ioctl(s->p.fd, TPIO_IOC_POST, &pa) == 0) {
			if (!pa.done || pa.done > n - off) {
				fail(t, "POST done", 0);
				return;
			}
			tally_results(t, &c[off], pa.done);
			off += pa.done;
			stuck = 0;
			if (off < n)
				t->partial++;
		} else if (errno == EAGAIN) {
			t->eagain++;
			if (++stuck > 100000) {
				fail(t, "POST stuck in EAGAIN", EAGAIN);
				return;
			}
		} else {
			fail(t, "POST", errno);
			return;
		}
		if (ring_flags(&s->p) & TPIO_RING_F_OVERFLOW)
			t->overflow_seen++;
		if (off < n)
			consume_all(s, t);
	}
}

/*
 * A poster: Starts go into a per-thread in-flight list and are POSTed
 * later in FIFO batches (with a few stray completions that nobody
 * started), or taken back with a Cancel; now and then a cancelling DRAIN;
 * and it runs what is in the ring, as a pool thread would.
 */
#define INFLIGHT_MAX	1024

static void *stress_thread(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct tally *t = &w->t;
	struct tpio_completion c[TPIO_POST_MAX];
	__u8 inflight[INFLIGHT_MAX];
	__u64 seq = (__u64)w->id << 40, rs = s->seed + w->id * 0x9e3779b9ULL;
	__u32 k, i, o, n = 0, m;
	int r, ret;

	rnd(&rs);
	while (!s->stop && !t->err) {
		r = rnd(&rs) % 100;
		if (r < 35) {
			m = 1 + rnd(&rs) % 64;
			for (i = 0; i < m && n < INFLIGHT_MAX; i++) {
				o = rnd(&rs) % NOBJ;
				io_start(&s->p, s->io[o], 1);
				t->starts++;
				inflight[n++] = o;
			}
		} else if (r < 70) {
			k = rnd(&rs) % TPIO_POST_MAX + 1;
			if (k > n + 8)
				k = n + 8;
			for (i = 0; i < k; i++) {
				/* the oldest Starts first, then strays */
				o = i < n ? inflight[i] : rnd(&rs) % NOBJ;
				memset(&c[i], 0, sizeof(c[i]));
				c[i].io = s->io[o];
				c[i].overlapped = ++seq;
				c[i].information = info_of(seq);
				c[i].status = status_of(seq);
			}
			m = k < n ? k : n;
			memmove(inflight, inflight + m, n - m);
			n -= m;
			post_all(s, t, c, k);
			consume(s, t, 64);
		} else if (r < 80) {
			/* an I/O that failed to start: Cancel it */
			if (!n)
				continue;
			i = rnd(&rs) % n;
			if (io_cancel(&s->p, s->io[inflight[i]]))
				t->cancels++;
			inflight[i] = inflight[--n];
		} else if (r < 82) {
			o = rnd(&rs) % NOBJ;
			ret = port_drain(s->p.fd, s->io[o], TPIO_DRAIN_CANCEL,
					 deadline_ms(20));
			if (!ret)
				t->drains_ok++;
			else if (errno == ETIMEDOUT)
				t->drains_timeout++;
			else
				fail(t, "DRAIN(CANCEL)", errno);
		} else {
			consume_all(s, t);
		}
		if (__atomic_load_n(&s->begun_total, __ATOMIC_RELAXED) >=
		    s->target && now_ns() >= s->min_end)
			s->stop = 1;
	}
	consume_all(s, t);
	return NULL;
}

/* A pool thread with nothing else to do: sleeps in WAIT, runs entries. */
static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct tally *t = &w->t;

	while (!s->stop && !t->err) {
		if (consume(s, t, 256))
			continue;
		if (ring_flags(&s->p) & TPIO_RING_F_OVERFLOW)
			t->overflow_seen++;
		if (!port_wait(s->p.fd, deadline_ms(50)))
			t->wakeups++;
		else if (errno != ETIMEDOUT)
			fail(t, "WAIT", errno);
	}
	return NULL;
}

static void tally_add(struct tally *sum, const struct tally *t)
{
	sum->starts += t->starts;
	sum->cancels += t->cancels;
	sum->begun += t->begun;
	sum->stale += t->stale;
	sum->queued += t->queued;
	sum->skipped += t->skipped;
	sum->dropped += t->dropped;
	sum->posts += t->posts;
	sum->eagain += t->eagain;
	sum->partial += t->partial;
	sum->drains_ok += t->drains_ok;
	sum->drains_timeout += t->drains_timeout;
	sum->overflow_seen += t->overflow_seen;
	sum->bad_entries += t->bad_entries;
	sum->wakeups += t->wakeups;
	if (!sum->err && t->err) {
		sum->err = t->err;
		sum->where = t->where;
	}
}

/*
 * After the threads stopped: cancel everything, post the skipped
 * completions (and one more, which must be dropped), and consume.
 */
static void settle(struct __test_metadata *_metadata, struct stress *s,
		   struct tally *t)
{
	struct tpio_io_query_args qa;
	__u32 o, n, res;

	consume_all(s, t);
	for (o = 0; o < NOBJ; o++) {
		ASSERT_EQ(0, port_drain(s->p.fd, s->io[o], TPIO_DRAIN_CANCEL,
					0));
		ASSERT_EQ(0, io_query(s->p.fd, s->io[o], &qa));
		for (n = qa.skipped; n; n--) {
			ASSERT_EQ(0, post_one(s->p.fd, s->io[o], 0, &res));
			ASSERT_EQ(TPIO_POSTED_SKIPPED, res);
			t->skipped++;
		}
		ASSERT_EQ(0, post_one(s->p.fd, s->io[o], 0, &res));
		ASSERT_EQ(TPIO_POSTED_DROPPED, res);
		t->dropped++;
	}
	consume_all(s, t);
}

FIXTURE(stress) {
	int unused;
};

/* the ring size picks the path: overflow and EAGAIN, or plain throughput */
FIXTURE_VARIANT(stress) {
	__u32 ring;
	__u64 target;
};

FIXTURE_VARIANT_ADD(stress, small_ring) {
	.ring = 64,
	.target = 200000,
};

FIXTURE_VARIANT_ADD(stress, big_ring) {
	.ring = 4096,
	.target = 1000000,
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

TEST_F_TIMEOUT(stress, accounting, 150)
{
	static struct stress s;
	struct worker w[MAX_THREADS + 2];
	struct tally sum;
	struct tpio_io_query_args qa;
	unsigned long seconds, bound, nworkers;
	__u64 t0, end, elapsed, purged, w_o;
	unsigned int i;
	__u32 o, tail;

	memset(&s, 0, sizeof(s));
	memset(&sum, 0, sizeof(sum));
	s.seed = env_ul("TPIO_STRESS_SEED", 0x7470696fUL);
	s.threads = env_ul("TPIO_STRESS_THREADS", 4);
	s.target = env_ul("TPIO_STRESS_COMPLETIONS", variant->target);
	seconds = env_ul("TPIO_STRESS_SECONDS", 5);
	bound = env_ul("TPIO_STRESS_MAX_SECONDS", 100);
	nworkers = env_ul("TPIO_STRESS_WORKERS", 2);
	ASSERT_LE(1, s.threads);
	ASSERT_GE(MAX_THREADS, s.threads);
	ASSERT_GE(2, nworkers);
	if (bound > 140)
		bound = 140;
	if (seconds > bound)
		seconds = bound;

	s.p.fd = -1;
	PORT_OPEN(&s.p, variant->ring, NOBJ);
	for (o = 0; o < NOBJ; o++) {
		s.cookie[o] = 0xc0000000ULL + o * 7;
		ASSERT_EQ(0, io_create(s.p.fd, s.cookie[o], &s.io[o]));
		s.slot_obj[TPIO_IO_SLOT(s.io[o])] = o + 1;
	}
	TH_LOG("seed %#llx, %u posters + %lu workers, ring %u: at least %lu s and %llu callbacks, at most %lu s",
	       (unsigned long long)s.seed, s.threads, nworkers, variant->ring,
	       seconds, (unsigned long long)s.target, bound);

	t0 = now_ns();
	s.min_end = t0 + seconds * 1000000000ULL;
	end = t0 + bound * 1000000000ULL;
	for (i = 0; i < s.threads + nworkers; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = &s;
		w[i].id = i;
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL,
					    i < s.threads ? stress_thread :
							    worker_thread,
					    &w[i]));
	}
	while (!s.stop && now_ns() < end)
		usleep(20000);
	s.stop = 1;
	for (i = 0; i < s.threads + nworkers; i++) {
		pthread_join(w[i].thread, NULL);
		tally_add(&sum, &w[i].t);
	}
	elapsed = now_ns() - t0;
	if (sum.err)
		TH_LOG("thread error in %s: %d (%s)", sum.where, sum.err,
		       strerror(sum.err > 0 ? sum.err : 0));
	ASSERT_EQ(0, sum.err);

	settle(_metadata, &s, &sum);
	tail = tail_load(&s.p);
	purged = sum.queued - (sum.begun + sum.stale);

	printf("# stress: %llu completions run in %llu ms (%llu/s); seed %#llx\n",
	       (unsigned long long)sum.begun,
	       (unsigned long long)(elapsed / 1000000),
	       (unsigned long long)(sum.begun * 1000000000ULL / (elapsed ?: 1)),
	       (unsigned long long)s.seed);
	printf("# stress: starts %llu cancels %llu queued %llu skipped %llu dropped %llu stale %llu purged %lld\n",
	       (unsigned long long)sum.starts,
	       (unsigned long long)sum.cancels,
	       (unsigned long long)sum.queued,
	       (unsigned long long)sum.skipped,
	       (unsigned long long)sum.dropped,
	       (unsigned long long)sum.stale, (long long)purged);
	printf("# stress: posts %llu eagain %llu partial %llu drains %llu+%llu timed out, overflow seen %llu, WAIT wake-ups %llu\n",
	       (unsigned long long)sum.posts,
	       (unsigned long long)sum.eagain,
	       (unsigned long long)sum.partial,
	       (unsigned long long)sum.drains_ok,
	       (unsigned long long)sum.drains_timeout,
	       (unsigned long long)sum.overflow_seen,
	       (unsigned long long)sum.wakeups);
	fflush(stdout);

	EXPECT_EQ(0, sum.bad_entries);
	/* every Start ended exactly once */
	EXPECT_EQ(sum.starts, sum.cancels + sum.queued + sum.skipped);
	/* every entry written to the ring was taken exactly once */
	EXPECT_EQ(tail, (__u32)(sum.begun + sum.stale));
	/* every queued completion was run, went stale, or was purged */
	EXPECT_LE(sum.begun + sum.stale, sum.queued);
	if (!sum.overflow_seen)
		EXPECT_EQ(0, purged);
	EXPECT_EQ(0, ring_count(&s.p));
	EXPECT_EQ(0, ring_overflow(&s.p));
	for (o = 0; o < NOBJ; o++) {
		w_o = word_load(&s.p, s.io[o]);
		EXPECT_EQ(0, w_o & ~EPOCH_MASK);
		ASSERT_EQ(0, io_query(s.p.fd, s.io[o], &qa));
		EXPECT_EQ(0, qa.skipped);
		EXPECT_EQ(0, qa.waiters);
		EXPECT_EQ(0, qa.flags);
	}
	EXPECT_LE(s.target, sum.begun);
	for (o = 0; o < NOBJ; o++)
		EXPECT_EQ(0, io_close(s.p.fd, s.io[o]));
	port_close(&s.p);
}

TEST_HARNESS_MAIN
