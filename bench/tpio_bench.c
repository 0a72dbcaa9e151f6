// SPDX-License-Identifier: MIT
/*
 * tpio_bench: the libtpio side of the benchmarks (bench/README.md).
 * The backend is the library's choice (TPIO_BACKEND); rows are named
 * impl=tpio-<backend>.
 *
 *   tpio_bench [-r RUN] [-w WORKERS] [-f PERCENT] [-g GAP_US] [-H HOLD_US] [-c COLD_N]
 *              [-K K,K,...] [-W WINDOW] TEST...
 *   TEST: tput lat-warm lat-cold startcancel drain objects iocp work
 *
 * Every test asserts what it relies on (each callback ran exactly once,
 * a drain wait did not return before the callback ended); a broken
 * assertion prints a "fail" line and makes the exit status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>
#include "tpio.h"
#include "bench.h"

static int run_id = 1;
static DWORD workers = 2;
static long factor = 100;		/* percent of the default counts */
static uint64_t gap_ns = 2000000;	/* cold latency: idle gap per sample */
static uint64_t hold_ns = 200000;	/* drain: callback runs this long */
static uint64_t cold_n = 300;		/* samples of the gap-bound tests */
static char impl[32];
static int failed;
static int null_fd = -1;

static uint64_t scaled(uint64_t n)
{
	uint64_t v = n * (uint64_t)factor / 100;

	return v ? v : 1;
}

static void fail(const char *bench, const char *what)
{
	bench_fail(bench, impl, what);
	failed = 1;
}

/* ---- pools and objects ---- */

struct ctx {
	PTP_POOL pool;
	TP_CALLBACK_ENVIRON env;
};

static int ctx_open(struct ctx *c, const char *bench)
{
	c->pool = CreateThreadpool(NULL);
	if (!c->pool) {
		fail(bench, "CreateThreadpool");
		return -1;
	}
	SetThreadpoolThreadMaximum(c->pool, workers);
	if (!SetThreadpoolThreadMinimum(c->pool, workers)) {
		fail(bench, "SetThreadpoolThreadMinimum");
		CloseThreadpool(c->pool);
		return -1;
	}
	InitializeThreadpoolEnvironment(&c->env);
	SetThreadpoolCallbackPool(&c->env, c->pool);
	return 0;
}

static void ctx_close(struct ctx *c)
{
	DestroyThreadpoolEnvironment(&c->env);
	CloseThreadpool(c->pool);
}

/*
 * The descriptor of each live object, for closing it after the object:
 * a small open-addressing table keyed by the object's address (single
 * thread: only main creates and deletes objects).
 */
static struct { PTP_IO io; int fd; } *fdtab;
static size_t fdtab_len;

static size_t fd_hash(PTP_IO io)
{
	return (size_t)(((uintptr_t)io >> 4) * 0x9e3779b97f4a7c15ULL) &
	       (fdtab_len - 1);
}

static void io_fd_note(PTP_IO io, int fd)
{
	size_t i;

	for (i = fd_hash(io); fdtab[i].io; i = (i + 1) & (fdtab_len - 1))
		;
	fdtab[i].io = io;
	fdtab[i].fd = fd;
}

static int io_fd_take(PTP_IO io)
{
	size_t i, j;
	int fd;

	for (i = fd_hash(io); fdtab[i].io != io; i = (i + 1) & (fdtab_len - 1))
		if (!fdtab[i].io)
			return -1;
	fd = fdtab[i].fd;
	fdtab[i].io = NULL;
	/* re-insert the rest of the cluster (linear probing deletion) */
	for (j = (i + 1) & (fdtab_len - 1); fdtab[j].io;
	     j = (j + 1) & (fdtab_len - 1)) {
		PTP_IO o = fdtab[j].io;
		int f = fdtab[j].fd;

		fdtab[j].io = NULL;
		io_fd_note(o, f);
	}
	return fd;
}

/* a TP_IO over a fresh descriptor of /dev/null (one live object per fd) */
static PTP_IO io_new(struct ctx *c, PTP_WIN32_IO_CALLBACK cb, void *arg)
{
	int fd = dup(null_fd);
	PTP_IO io;

	if (fd < 0)
		return NULL;
	io = CreateThreadpoolIo(tpio_handle_from_fd(fd), cb, arg, &c->env);
	if (!io)
		close(fd);
	else
		io_fd_note(io, fd);
	return io;
}

/* drain, close, and close the object's descriptor */
static void io_del(PTP_IO io)
{
	int fd = io_fd_take(io);

	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	if (fd >= 0)
		close(fd);
}

/* ---- throughput: a stream of posted completions ---- */

static _Atomic uint64_t cb_count;

static VOID CALLBACK cb_count_one(PTP_CALLBACK_INSTANCE inst, PVOID arg,
				  PVOID ov, ULONG res, ULONG_PTR bytes,
				  PTP_IO io)
{
	(void)inst; (void)arg; (void)ov; (void)res; (void)bytes; (void)io;
	atomic_fetch_add_explicit(&cb_count, 1, memory_order_relaxed);
}

/*
 * Completions in flight (posted, callback not yet run) are held below
 * -W (32768; peer_bench's condvar pool queue has the same size; 0: no
 * bound). The bound is needed: the library loses a completion when one
 * object has 65535 queued (Documentation/performance.md, "Problems
 * found"), and stays well above the ring (1024) so that the poster is
 * not throttled in the common case.
 */
static uint64_t window = 32768;
static uint64_t posted;

static int post(PTP_IO io, const char *bench)
{
	if (window)
		while (posted - atomic_load_explicit(&cb_count,
				memory_order_relaxed) >= window)
			sched_yield();
	posted++;
	StartThreadpoolIo(io);
	if (!tpio_post_completion(io, NULL, 0, 0)) {
		fail(bench, "tpio_post_completion");
		return -1;
	}
	return 0;
}

/*
 * Wait (spinning) until @target callbacks ran. After 60 s the callbacks
 * are lost: the objects can never drain, so no cleanup is possible; the
 * failure is reported and the program ends.
 */
static int wait_count(uint64_t target, const char *bench)
{
	uint64_t limit = bench_now() + 60000000000ULL;
	char what[96];

	while (atomic_load(&cb_count) < target) {
		bench_relax();
		if (bench_now() > limit) {
			snprintf(what, sizeof(what),
				 "lost completions: %llu of %llu callbacks ran in 60 s",
				 (unsigned long long)atomic_load(&cb_count),
				 (unsigned long long)target);
			fail(bench, what);
			exit(1);
		}
	}
	return 0;
}

static void test_tput(void)
{
	const char *B = "cb_tput";
	uint64_t n = scaled(200000), warm = scaled(20000), i, t0, t1;
	struct ctx c;
	PTP_IO io;

	if (ctx_open(&c, B))
		return;
	io = io_new(&c, cb_count_one, NULL);
	if (!io) {
		fail(B, "CreateThreadpoolIo");
		ctx_close(&c);
		return;
	}
	atomic_store(&cb_count, 0);
	posted = 0;
	for (i = 0; i < warm; i++)
		if (post(io, B))
			goto out;
	if (wait_count(warm, B)) {
		fail(B, "warm-up callbacks missing");
		goto out;
	}
	atomic_store(&cb_count, 0);
	posted = 0;
	t0 = bench_now();
	for (i = 0; i < n; i++)
		if (post(io, B))
			goto out;
	if (wait_count(n, B)) {
		fail(B, "callbacks missing");
		goto out;
	}
	t1 = bench_now();
	WaitForThreadpoolIoCallbacks(io, FALSE);
	if (atomic_load(&cb_count) != n)
		fail(B, "more callbacks than completions");
	else
		bench_emit_rate(B, impl, run_id, t1 - t0, n);
out:
	io_del(io);
	ctx_close(&c);
}

/* ---- work items: SubmitThreadpoolWork -> callback ---- */

static VOID CALLBACK work_count_one(PTP_CALLBACK_INSTANCE inst, PVOID arg,
				    PTP_WORK work)
{
	(void)inst;
	(void)arg;
	(void)work;
	atomic_fetch_add_explicit(&cb_count, 1, memory_order_relaxed);
}

static void work_submit(PTP_WORK w)
{
	if (window)
		while (posted - atomic_load_explicit(&cb_count,
				memory_order_relaxed) >= window)
			sched_yield();
	posted++;
	SubmitThreadpoolWork(w);
}

/*
 * Work-item throughput: one work object submitted n times from one thread
 * (the same in-flight window as cb_tput), trivial callback.
 */
static void test_work(void)
{
	const char *B = "work_tput";
	uint64_t n = scaled(200000), warm = scaled(20000), i, t0, t1;
	struct ctx c;
	PTP_WORK w;

	if (ctx_open(&c, B))
		return;
	w = CreateThreadpoolWork(work_count_one, NULL, &c.env);
	if (!w) {
		fail(B, "CreateThreadpoolWork");
		ctx_close(&c);
		return;
	}
	atomic_store(&cb_count, 0);
	posted = 0;
	for (i = 0; i < warm; i++)
		work_submit(w);
	if (wait_count(warm, B)) {
		fail(B, "warm-up callbacks missing");
		goto out;
	}
	atomic_store(&cb_count, 0);
	posted = 0;
	t0 = bench_now();
	for (i = 0; i < n; i++)
		work_submit(w);
	if (wait_count(n, B)) {
		fail(B, "callbacks missing");
		goto out;
	}
	t1 = bench_now();
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	if (atomic_load(&cb_count) != n)
		fail(B, "more callbacks than submissions");
	else
		bench_emit_rate(B, impl, run_id, t1 - t0, n);
out:
	CloseThreadpoolWork(w);
	ctx_close(&c);
}

/* ---- latency: post -> callback entry, one at a time ---- */

static _Atomic uint64_t lat_posted_at;
static _Atomic uint64_t lat_seen;	/* callbacks that ran */
static _Atomic uint64_t lat_value;

static VOID CALLBACK cb_latency(PTP_CALLBACK_INSTANCE inst, PVOID arg,
				PVOID ov, ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	uint64_t now = bench_now();

	(void)inst; (void)arg; (void)ov; (void)res; (void)bytes; (void)io;
	atomic_store(&lat_value, now - atomic_load(&lat_posted_at));
	atomic_fetch_add(&lat_seen, 1);
}

/* @gap: 0 for back-to-back (warm workers), else sleep that long first */
static void test_latency(const char *B, uint64_t n, uint64_t gap)
{
	uint64_t warm = gap ? 5 : scaled(2000), i, *v;
	struct ctx c;
	PTP_IO io;

	v = calloc(n, sizeof(*v));
	if (!v || ctx_open(&c, B)) {
		free(v);
		return;
	}
	io = io_new(&c, cb_latency, NULL);
	if (!io) {
		fail(B, "CreateThreadpoolIo");
		goto out_ctx;
	}
	atomic_store(&lat_seen, 0);
	for (i = 0; i < warm + n; i++) {
		if (gap)
			bench_sleep_ns(gap);
		StartThreadpoolIo(io);
		atomic_store(&lat_posted_at, bench_now());
		if (!tpio_post_completion(io, NULL, 0, 0)) {
			fail(B, "tpio_post_completion");
			goto out;
		}
		{
			uint64_t limit = bench_now() + 10000000000ULL;

			while (atomic_load(&lat_seen) != i + 1) {
				bench_relax();
				if (bench_now() > limit) {
					fail(B, "callback did not run");
					goto out;
				}
			}
		}
		if (i >= warm)
			v[i - warm] = atomic_load(&lat_value);
	}
	WaitForThreadpoolIoCallbacks(io, FALSE);
	if (atomic_load(&lat_seen) != warm + n)
		fail(B, "callback count");
	else
		bench_emit_samples(B, impl, run_id, v, n);
out:
	io_del(io);
out_ctx:
	ctx_close(&c);
	free(v);
}

/* ---- Start + Cancel pair, single thread ---- */

static VOID CALLBACK cb_never(PTP_CALLBACK_INSTANCE inst, PVOID arg, PVOID ov,
			      ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)arg; (void)ov; (void)res; (void)bytes; (void)io;
	atomic_fetch_add(&cb_count, 1000000);
}

static void test_startcancel(void)
{
	const char *B = "startcancel";
	uint64_t n = scaled(5000000), i, t0, t1;
	uint64_t *word;
	struct ctx c;
	PTP_IO io;

	if (ctx_open(&c, B))
		return;
	io = io_new(&c, cb_never, NULL);
	if (!io) {
		fail(B, "CreateThreadpoolIo");
		ctx_close(&c);
		return;
	}
	atomic_store(&cb_count, 0);
	posted = 0;
	for (i = 0; i < n / 10; i++) {
		StartThreadpoolIo(io);
		CancelThreadpoolIo(io);
	}
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		StartThreadpoolIo(io);
		CancelThreadpoolIo(io);
	}
	t1 = bench_now();
	/* had a pair leaked a pending count, this late completion would run */
	if (!tpio_post_completion(io, NULL, 0, 0))
		fail(B, "tpio_post_completion");
	io_del(io);
	if (atomic_load(&cb_count))
		fail(B, "a callback ran: Start/Cancel left something pending");
	else
		bench_emit_rate(B, impl, run_id, t1 - t0, n);
	ctx_close(&c);

	/* the peer: a bare seq_cst increment and decrement of a 64-bit word */
	word = aligned_alloc(64, 64);
	if (!word)
		return;
	*word = 0;
	for (i = 0; i < n / 10; i++) {
		__atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(word, 1, __ATOMIC_SEQ_CST);
	}
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		__atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(word, 1, __ATOMIC_SEQ_CST);
	}
	t1 = bench_now();
	if (__atomic_load_n(word, __ATOMIC_SEQ_CST))
		bench_fail(B, "atomic-pair", "word not back to 0");
	else
		bench_emit_rate(B, "atomic-pair", run_id, t1 - t0, n);
	free(word);
}

/* ---- WaitForThreadpoolIoCallbacks: callback end -> waiter returns ---- */

static _Atomic int drain_running;
static _Atomic uint64_t drain_end;

static VOID CALLBACK cb_hold(PTP_CALLBACK_INSTANCE inst, PVOID arg, PVOID ov,
			     ULONG res, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)arg; (void)ov; (void)res; (void)bytes; (void)io;
	atomic_store(&drain_running, 1);
	/* long enough for the waiter to be asleep in the drain wait */
	bench_spin_until(bench_now() + hold_ns);
	atomic_store(&drain_end, bench_now());
}

static void test_drain(void)
{
	const char *B = "drain";
	uint64_t n = cold_n, warm = 5, i, *v, end, ret;
	struct ctx c;
	PTP_IO io;

	v = calloc(n, sizeof(*v));
	if (!v || ctx_open(&c, B)) {
		free(v);
		return;
	}
	io = io_new(&c, cb_hold, NULL);
	if (!io) {
		fail(B, "CreateThreadpoolIo");
		goto out_ctx;
	}
	for (i = 0; i < warm + n; i++) {
		atomic_store(&drain_running, 0);
		atomic_store(&drain_end, 0);
		StartThreadpoolIo(io);
		if (!tpio_post_completion(io, NULL, 0, 0)) {
			fail(B, "tpio_post_completion");
			break;
		}
		while (!atomic_load(&drain_running))
			bench_relax();
		WaitForThreadpoolIoCallbacks(io, FALSE);
		ret = bench_now();
		end = atomic_load(&drain_end);
		if (!end || ret < end) {
			fail(B, "WaitForThreadpoolIoCallbacks returned before the callback ended");
			break;
		}
		if (i >= warm)
			v[i - warm] = ret - end;
	}
	if (i == warm + n)
		bench_emit_samples(B, impl, run_id, v, n);
	io_del(io);
out_ctx:
	ctx_close(&c);
	free(v);
}

/* ---- cost as live objects grow ---- */

#define OBJS_PER_POOL 50000	/* a port holds at most 65536 slots */

static void shuffle(uint32_t *p, uint32_t n, uint64_t seed)
{
	uint32_t i, j, t;

	for (i = 0; i < n; i++)
		p[i] = i;
	for (i = n - 1; i > 0; i--) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		j = (uint32_t)((seed >> 33) % (i + 1));
		t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
}

static void test_objects_k(uint32_t k)
{
	char B1[48], B2[48];
	uint32_t npools = (k + OBJS_PER_POOL - 1) / OBJS_PER_POOL, p, i;
	uint64_t n = scaled(1000000), m = scaled(200000), j, t0, t1;
	struct ctx *c = calloc(npools, sizeof(*c));
	PTP_IO *io = calloc(k, sizeof(*io));
	uint32_t *perm = calloc(k, sizeof(*perm));
	uint64_t *lines;
	uint32_t made = 0;

	snprintf(B1, sizeof(B1), "objects_startcancel_k%u", k);
	snprintf(B2, sizeof(B2), "objects_post_k%u", k);
	if (!c || !io || !perm) {
		fail(B1, "out of memory");
		goto out_free;
	}
	for (p = 0; p < npools; p++) {
		if (ctx_open(&c[p], B1)) {
			npools = p;
			goto out;
		}
	}
	for (i = 0; i < k; i++) {
		io[i] = io_new(&c[i % npools], cb_count_one, NULL);
		if (!io[i]) {
			char what[80];

			snprintf(what, sizeof(what),
				 "CreateThreadpoolIo failed at object %u error %u",
				 i, GetLastError());
			fail(B1, what);
			goto out;
		}
		made++;
	}
	shuffle(perm, k, 12345);

	for (j = 0; j < n / 10; j++) {
		PTP_IO o = io[perm[j % k]];

		StartThreadpoolIo(o);
		CancelThreadpoolIo(o);
	}
	t0 = bench_now();
	for (j = 0; j < n; j++) {
		PTP_IO o = io[perm[j % k]];

		StartThreadpoolIo(o);
		CancelThreadpoolIo(o);
	}
	t1 = bench_now();
	bench_emit_rate(B1, impl, run_id, t1 - t0, n);

	atomic_store(&cb_count, 0);
	posted = 0;
	t0 = bench_now();
	for (j = 0; j < m; j++)
		if (post(io[perm[j % k]], B2))
			goto out;
	if (wait_count(m, B2)) {
		fail(B2, "callbacks missing");
		goto out;
	}
	t1 = bench_now();
	bench_emit_rate(B2, impl, run_id, t1 - t0, m);

	/* the reference: a bare atomic pair on k words, one cache line each */
	lines = aligned_alloc(64, (size_t)k * 64);
	if (lines) {
		memset(lines, 0, (size_t)k * 64);
		t0 = bench_now();
		for (j = 0; j < n; j++) {
			uint64_t *w = &lines[(size_t)perm[j % k] * 8];

			__atomic_add_fetch(w, 1, __ATOMIC_SEQ_CST);
			__atomic_sub_fetch(w, 1, __ATOMIC_SEQ_CST);
		}
		t1 = bench_now();
		bench_emit_rate(B1, "atomic-pair", run_id, t1 - t0, n);
		free(lines);
	}
out:
	for (i = 0; i < made; i++)
		io_del(io[i]);
	if (made == k && atomic_load(&cb_count) != m)
		fail(B2, "callback count");
	for (p = 0; p < npools; p++)
		ctx_close(&c[p]);
out_free:
	free(c);
	free(io);
	free(perm);
}

static void test_objects(const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	struct rlimit rl;
	uint32_t maxk = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		long k = bench_arg_long(tok, "-K");

		if (k > maxk)
			maxk = (uint32_t)k;
	}
	free(copy);
	if (maxk > fdtab_len / 2) {
		fail("objects", "-K above 131072");
		return;
	}
	/* one descriptor per object: raise the limit, else as far as allowed */
	rl.rlim_cur = rl.rlim_max = (rlim_t)maxk + 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl))
		rl.rlim_cur = 1024;
	setenv("TPIO_MAX_OBJECTS", "65536", 1);
	copy = strdup(list);
	save = NULL;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint32_t k = (uint32_t)bench_arg_long(tok, "-K");

		if ((rlim_t)k + 64 > rl.rlim_cur) {
			/* a measurement that cannot be taken here, said so */
			printf("skip bench=objects_startcancel_k%u impl=%s env=%s what=RLIMIT_NOFILE_hard_limit_%llu_below_%u_objects_(one_fd_each)\n",
			       k, impl, bench_env(),
			       (unsigned long long)rl.rlim_cur, k);
			printf("skip bench=objects_post_k%u impl=%s env=%s what=RLIMIT_NOFILE_hard_limit_%llu_below_%u_objects_(one_fd_each)\n",
			       k, impl, bench_env(),
			       (unsigned long long)rl.rlim_cur, k);
			continue;
		}
		test_objects_k(k);
	}
	free(copy);
}

/* ---- completion port: batch dequeue (GetQueuedCompletionStatusEx) ---- */

#define IOCP_FILL	256
#define IOCP_BATCH	64

/*
 * 256 packets posted, then taken 64 at a time: the time of the taking
 * only, per packet (peer_bench's uring-cq reaps io_uring CQEs the same way).
 */
static void test_iocp(void)
{
	const char *B = "iocp_dequeue";
	uint64_t rounds = scaled(2000), r, ns = 0, t0, got, sum = 0;
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
	OVERLAPPED_ENTRY e[IOCP_BATCH];
	ULONG n, k;
	uint32_t i;

	if (!port) {
		fail(B, "CreateIoCompletionPort");
		return;
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < IOCP_FILL; i++)
			if (!PostQueuedCompletionStatus(port, i, i + 1, NULL)) {
				fail(B, "PostQueuedCompletionStatus");
				goto out;
			}
		t0 = bench_now();
		for (got = 0; got < IOCP_FILL; got += n) {
			if (!GetQueuedCompletionStatusEx(port, e, IOCP_BATCH, &n,
							 0, FALSE)) {
				fail(B, "packets missing");
				goto out;
			}
			for (k = 0; k < n; k++)
				sum += e[k].lpCompletionKey;
		}
		ns += bench_now() - t0;
	}
	if (sum != rounds * IOCP_FILL * (IOCP_FILL + 1) / 2)
		fail(B, "packet keys");
	else
		bench_emit_rate(B, impl, run_id, ns, rounds * IOCP_FILL);
out:
	CloseHandle(port);
}

int main(int argc, char **argv)
{
	const char *klist = "1,100,10000,100000";
	const char *backend;
	int opt, i;

	while ((opt = getopt(argc, argv, "r:w:f:g:H:c:K:W:")) != -1) {
		switch (opt) {
		case 'r': run_id = (int)bench_arg_long(optarg, "-r"); break;
		case 'w': workers = (DWORD)bench_arg_long(optarg, "-w"); break;
		case 'f': factor = bench_arg_long(optarg, "-f"); break;
		case 'g': gap_ns = (uint64_t)bench_arg_long(optarg, "-g") * 1000; break;
		case 'c': cold_n = (uint64_t)bench_arg_long(optarg, "-c"); break;
		case 'H': hold_ns = (uint64_t)bench_arg_long(optarg, "-H") * 1000; break;
		case 'K': klist = optarg; break;
		case 'W': window = (uint64_t)bench_arg_long(optarg, "-W"); break;
		default:
			fprintf(stderr, "usage: %s [-r RUN] [-w WORKERS] [-f PERCENT] [-g GAP_US] [-H HOLD_US] [-c COLD_N] [-K LIST] [-W WINDOW] TEST...\n",
				argv[0]);
			return 2;
		}
	}
	if (optind >= argc || !workers || !factor) {
		fprintf(stderr, "%s: tests: tput lat-warm lat-cold startcancel drain objects iocp work\n",
			argv[0]);
		return 2;
	}
	backend = tpio_backend();
	if (!backend) {
		fprintf(stderr, "%s: no tpio backend usable\n", argv[0]);
		printf("fail bench=all impl=tpio what=no-backend\n");
		return 1;
	}
	snprintf(impl, sizeof(impl), "tpio-%s", backend);
	fdtab_len = 1 << 18;	/* > 2 x the most objects alive at once */
	fdtab = calloc(fdtab_len, sizeof(*fdtab));
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!fdtab || null_fd < 0) {
		perror("/dev/null");
		return 1;
	}
	for (i = optind; i < argc; i++) {
		const char *t = argv[i];

		if (!strcmp(t, "tput"))
			test_tput();
		else if (!strcmp(t, "lat-warm"))
			test_latency("cb_lat_warm", scaled(20000), 0);
		else if (!strcmp(t, "lat-cold"))
			test_latency("cb_lat_cold", cold_n, gap_ns);
		else if (!strcmp(t, "startcancel"))
			test_startcancel();
		else if (!strcmp(t, "drain"))
			test_drain();
		else if (!strcmp(t, "objects"))
			test_objects(klist);
		else if (!strcmp(t, "iocp"))
			test_iocp();
		else if (!strcmp(t, "work"))
			test_work();
		else {
			fprintf(stderr, "%s: unknown test %s\n", argv[0], t);
			return 2;
		}
	}
	return failed;
}
