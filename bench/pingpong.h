/* SPDX-License-Identifier: MIT */
/*
 * The pipe ping-pong benchmark's shared part (bench/pingpong_tp.c, also
 * built with mingw-w64, and bench/pingpong_peers.c): the command line, the
 * measurement and the output.
 *
 * P pairs run at once, independently. A pair is two sides joined by two
 * pipes (on Windows: one duplex named pipe); one byte travels between them.
 * A hop: a side receives the byte and sends it on to the other side. Side
 * s counts its hops and checks that the k-th byte it receives is
 * (2k + s) mod 256, i.e. that no hop was lost or repeated; the sender of a
 * hop adds one to the byte.
 *
 *   PROG [-p PAIRS] [-t THREADS] [-m MODE] [-w MS] [-d MS] [-r RUN]
 *        [-L SECS] [-i IMPL]
 *
 * After a warm-up of -w ms (200) the hops of all pairs during the next -d
 * ms (1000) are counted; then every pair is stopped (the side holding the
 * byte keeps it and ends the other side's wait). Prints
 *
 *   row bench=pingpong_p<P> impl=IMPL ... unit=ns median=NS_PER_HOP ...
 *       n=HOPS ops_s=HOPS_PER_SECOND       (all pairs together)
 *
 * or "fail bench=pingpong_p<P> impl=IMPL what=..." when a byte is wrong,
 * an operation fails, a pair makes no hop in the window, or the whole run
 * (cleanup included) takes longer than -L seconds (60): then the process
 * exits at once, status 1, without cleaning up (a watchdog thread reports
 * a hang and the phase it happened in).
 */
#ifndef TPIO_PINGPONG_H
#define TPIO_PINGPONG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#include "bench.h"

#define PP_MAX_PAIRS 64

struct pp_opts {
	int pairs;		/* -p, 1 */
	int threads;		/* -t, 2 (the programs with a pool) */
	const char *mode;	/* -m (pingpong_peers) */
	long warm_ms, dur_ms;	/* -w 200, -d 1000 */
	long limit_s;		/* -L 60 */
	int run;		/* -r 1 */
	const char *impl;	/* -i, the program's default otherwise */
	char bench[32];		/* pingpong_p<P> */
};

/*
 * One side's counter, alone on its cache line: written by whichever thread
 * runs that side's hop (one at a time), read by the measuring thread.
 */
struct pp_count {
	unsigned long long hops __attribute__((aligned(64)));
	char pad[64 - sizeof(unsigned long long)];
};

static int pp_stop;			/* set once the window is over */
static long pp_ended;			/* sides that have ended */
static const struct pp_opts *pp_cur;
static const char *pp_phase = "setup";	/* for the watchdog's message */

static inline void pp_parse(int argc, char **argv, struct pp_opts *o,
			    const char *default_impl)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->pairs = 1;
	o->threads = 2;
	o->mode = "";
	o->warm_ms = 200;
	o->dur_ms = 1000;
	o->limit_s = 60;
	o->run = 1;
	o->impl = default_impl;
	while ((opt = getopt(argc, argv, "p:t:m:w:d:r:L:i:")) != -1) {
		switch (opt) {
		case 'p': o->pairs = (int)bench_arg_long(optarg, "-p"); break;
		case 't': o->threads = (int)bench_arg_long(optarg, "-t"); break;
		case 'm': o->mode = optarg; break;
		case 'w': o->warm_ms = bench_arg_long(optarg, "-w"); break;
		case 'd': o->dur_ms = bench_arg_long(optarg, "-d"); break;
		case 'r': o->run = (int)bench_arg_long(optarg, "-r"); break;
		case 'L': o->limit_s = bench_arg_long(optarg, "-L"); break;
		case 'i': o->impl = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc || o->pairs < 1 || o->pairs > PP_MAX_PAIRS ||
	    o->threads < 1 || o->dur_ms < 1 || o->limit_s < 1)
		goto usage;
	snprintf(o->bench, sizeof(o->bench), "pingpong_p%d", o->pairs);
	pp_cur = o;
	return;
usage:
	fprintf(stderr, "usage: %s [-p PAIRS] [-t THREADS] [-m MODE] [-w MS] [-d MS] [-r RUN] [-L SECS] [-i IMPL]\n",
		argv[0]);
	exit(2);
}

/* A failure: print it and leave at once (threads may be stuck). */
static inline void pp_fail(const char *what)
{
	char w[200];
	size_t i;

	snprintf(w, sizeof(w), "%s", what);
	for (i = 0; w[i]; i++)
		if (w[i] == ' ')
			w[i] = '_';
	bench_fail(pp_cur ? pp_cur->bench : "pingpong",
		   pp_cur ? pp_cur->impl : "?", w);
	fflush(stdout);
	_exit(1);
}

/* The byte side @s receives as its hop number @k */
static inline unsigned char pp_expect(int s, unsigned long long k)
{
	return (unsigned char)(2 * k + (unsigned long long)s);
}

/*
 * Side @s of a pair received byte @b: check it, count the hop. Returns the
 * byte to send on, or -1 when the window is over (the side stops).
 */
static inline int pp_hop(struct pp_count *c, int s, unsigned char b)
{
	unsigned long long k = __atomic_load_n(&c->hops, __ATOMIC_RELAXED);

	if (b != pp_expect(s, k))
		pp_fail("a byte arrived out of order (a hop lost or repeated)");
	__atomic_store_n(&c->hops, k + 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&pp_stop, __ATOMIC_SEQ_CST))
		return -1;
	return (unsigned char)(b + 1);
}

static inline void pp_side_ended(void)
{
	__atomic_add_fetch(&pp_ended, 1, __ATOMIC_SEQ_CST);
}

#ifdef _WIN32
static DWORD WINAPI pp_watchdog(LPVOID arg)
#else
static void *pp_watchdog(void *arg)
#endif
{
	char w[160];

	(void)arg;
	bench_sleep_ns((uint64_t)pp_cur->limit_s * 1000000000ULL);
	snprintf(w, sizeof(w), "no result within %lds (hung in: %s)",
		 pp_cur->limit_s, __atomic_load_n(&pp_phase, __ATOMIC_SEQ_CST));
	pp_fail(w);
	return 0;
}

/* Start the watchdog: past -L seconds it reports a hang and exits. */
static inline void pp_watch(void)
{
#ifdef _WIN32
	HANDLE t = CreateThread(NULL, 0, pp_watchdog, NULL, 0, NULL);

	if (!t)
		pp_fail("CreateThread failed");
	CloseHandle(t);
#else
	pthread_t t;

	if (pthread_create(&t, NULL, pp_watchdog, NULL))
		pp_fail("pthread_create failed");
	pthread_detach(t);
#endif
}

static inline void pp_set_phase(const char *what)
{
	__atomic_store_n(&pp_phase, what, __ATOMIC_SEQ_CST);
}

static inline unsigned long long pp_total(struct pp_count *c, int n)
{
	unsigned long long t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += __atomic_load_n(&c[i].hops, __ATOMIC_RELAXED);
	return t;
}

/*
 * The measuring thread, once every pair is running: warm-up, window, stop,
 * wait for all 2 * pairs sides to end (pp_side_ended), print the row.
 * @c: 2 * pairs counters (pair k: c[2k], c[2k + 1]). Returns only when all
 * went well.
 */
static inline void pp_measure(const struct pp_opts *o, struct pp_count *c)
{
	unsigned long long h0, h1, before[2 * PP_MAX_PAIRS];
	int i, n = 2 * o->pairs;
	uint64_t t0, t1;

	pp_set_phase("warm-up");
	bench_sleep_ns((uint64_t)o->warm_ms * 1000000ULL);
	for (i = 0; i < n; i++)
		before[i] = __atomic_load_n(&c[i].hops, __ATOMIC_RELAXED);
	t0 = bench_now();
	h0 = pp_total(c, n);
	pp_set_phase("the measured window");
	bench_sleep_ns((uint64_t)o->dur_ms * 1000000ULL);
	h1 = pp_total(c, n);
	t1 = bench_now();
	__atomic_store_n(&pp_stop, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < o->pairs; i++) {
		if (pp_total(c + 2 * i, 2) == before[2 * i] + before[2 * i + 1]) {
			char w[80];

			snprintf(w, sizeof(w), "pair %d made no hop in the window",
				 i);
			pp_fail(w);
		}
	}
	pp_set_phase("stopping (waiting for every side to end)");
	while (__atomic_load_n(&pp_ended, __ATOMIC_SEQ_CST) < n)
		bench_sleep_ns(1000000);
	bench_emit_rate(o->bench, o->impl, o->run, t1 - t0, h1 - h0);
	pp_set_phase("cleanup");
}

#endif /* TPIO_PINGPONG_H */
