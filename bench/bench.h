/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the tpio benchmarks: clock, sample statistics, and the
 * machine-readable output lines that bench/report reads.
 *
 * Output lines (one measurement run each, space-separated key=value):
 *   row bench=B impl=I env=E run=R unit=U median=M p50=M p99=P n=N
 *   cdf bench=B impl=I env=E run=R unit=U pts=q:v,q:v,...
 *   fail bench=B impl=I what=TEXT
 *   skip bench=B impl=I env=E what=TEXT   (not measured, for that reason)
 * "median" and "p50" are the same number (per-sample median); throughput
 * rows use unit=ns per operation (lower is better) and add ops_s=. Rows of
 * one value per run (a cost per operation: bench_emit_value) repeat it as
 * median, p50 and p99, with n = the operations it was divided by.
 * Everything else a program prints is ignored by the report.
 */
#ifndef TPIO_BENCH_H
#define TPIO_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h>
#endif

#ifdef _WIN32
/* mingw-w64 builds (Wine's rows): the performance counter */
static inline uint64_t bench_now(void)
{
	LARGE_INTEGER c, f;

	QueryPerformanceCounter(&c);
	QueryPerformanceFrequency(&f);
	return (uint64_t)((double)c.QuadPart * 1e9 / (double)f.QuadPart);
}
#else
static inline uint64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
#endif

/* busy-wait until bench_now() >= @until (no sleep: keeps the CPU awake) */
static inline void bench_spin_until(uint64_t until)
{
	while (bench_now() < until)
		__asm__ __volatile__("" ::: "memory");
}

static inline void bench_sleep_ns(uint64_t ns)
{
#ifdef _WIN32
	Sleep((DWORD)((ns + 999999) / 1000000));
#else
	struct timespec ts = { (time_t)(ns / 1000000000ULL),
			       (long)(ns % 1000000000ULL) };

	while (nanosleep(&ts, &ts))
		;
#endif
}

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* quantile @q (0..1) of sorted @v[n], nearest rank */
static inline uint64_t bench_q(const uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(q * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* the environment tag: "native", or "vm" when BENCH_ENV says so */
static inline const char *bench_env(void)
{
	const char *e = getenv("BENCH_ENV");

	return e && *e ? e : "native";
}

/*
 * Sort the samples and print the row and the CDF line of one run.
 * The CDF has 1%-steps plus 99.9%, enough for a plot.
 */
static inline void bench_emit_samples(const char *bench, const char *impl,
				      int run, uint64_t *v, size_t n)
{
	static const double extra[] = { 0.995, 0.999 };
	size_t i;

	qsort(v, n, sizeof(*v), bench_cmp_u64);
	printf("row bench=%s impl=%s env=%s run=%d unit=ns median=%llu p50=%llu p99=%llu n=%zu\n",
	       bench, impl, bench_env(), run,
	       (unsigned long long)bench_q(v, n, 0.5),
	       (unsigned long long)bench_q(v, n, 0.5),
	       (unsigned long long)bench_q(v, n, 0.99), n);
	printf("cdf bench=%s impl=%s env=%s run=%d unit=ns pts=", bench, impl,
	       bench_env(), run);
	for (i = 0; i <= 100; i++)
		printf("%s%.3f:%llu", i ? "," : "", i / 100.0,
		       (unsigned long long)bench_q(v, n, i / 100.0));
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		printf(",%.3f:%llu", extra[i],
		       (unsigned long long)bench_q(v, n, extra[i]));
	printf("\n");
	fflush(stdout);
}

/* one throughput run: @ops operations in @ns nanoseconds */
static inline void bench_emit_rate(const char *bench, const char *impl,
				   int run, uint64_t ns, uint64_t ops)
{
	double per = ops ? (double)ns / (double)ops : 0;

	printf("row bench=%s impl=%s env=%s run=%d unit=ns median=%.2f p50=%.2f p99=%.2f n=%llu ops_s=%.0f\n",
	       bench, impl, bench_env(), run, per, per, per,
	       (unsigned long long)ops, per > 0 ? 1e9 / per : 0);
	fflush(stdout);
}

/* one value of one run, e.g. system calls per round trip (unit=per_rt) */
static inline void bench_emit_value(const char *bench, const char *impl,
				    int run, const char *unit, double v,
				    uint64_t n)
{
	printf("row bench=%s impl=%s env=%s run=%d unit=%s median=%.4f p50=%.4f p99=%.4f n=%llu\n",
	       bench, impl, bench_env(), run, unit, v, v, v,
	       (unsigned long long)n);
	fflush(stdout);
}

/* @what: one word (no spaces; bench/report shows '_' as spaces) */
static inline void bench_skip(const char *bench, const char *impl,
			      const char *what)
{
	printf("skip bench=%s impl=%s env=%s what=%s\n", bench, impl,
	       bench_env(), what);
	fflush(stdout);
}

static inline void bench_fail(const char *bench, const char *impl,
			      const char *what)
{
	printf("fail bench=%s impl=%s what=%s\n", bench, impl, what);
	fflush(stdout);
}

/* numeric option "-X N" style parsing helpers */
static inline long bench_arg_long(const char *s, const char *name)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*end || v < 0) {
		fprintf(stderr, "bad %s: %s\n", name, s);
		exit(2);
	}
	return v;
}

#endif /* TPIO_BENCH_H */
