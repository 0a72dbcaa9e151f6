// SPDX-License-Identifier: MIT
/*
 * The kernel's concurrency control in the pool (Documentation/libtpio.rst,
 * "Concurrency and stalls"): on kmod with TPIO_FEAT_CONC, a callback that
 * blocks lets one more worker run, no more than the value run when
 * nothing blocks, a blocker that wakes does not keep the pool above the
 * value, and CallbackMayRunLong takes a callback out of the counts. The
 * tests that need the kernel skip elsewhere (the user backend has only
 * the stall detector, which the same tests keep out of the way with a 1 s
 * tick); a burst of blocking callbacks must complete on both backends,
 * and the stall detector's CPU meter adds and takes back places on both
 * (with the library's count), where the kernel has the figures it reads.
 *
 * Each test sets TPIO_CONCURRENCY (and TPIO_STALL_US) before its pool is
 * made: the settings are read once per process (a test's own).
 * The tests count, themselves, the callbacks that run and are not blocked
 * (conc_run): that count is what the value bounds.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include "../../uapi/linux/tpio.h"
#include "../../common/tpio_stats.h"

FIXTURE(conc) {
	PTP_POOL pool;
	TP_CALLBACK_ENVIRON env;
};

FIXTURE_SETUP(conc)
{
	self->pool = NULL;
}

FIXTURE_TEARDOWN(conc)
{
	if (!self->pool)
		return;
	DestroyThreadpoolEnvironment(&self->env);
	CloseThreadpool(self->pool);
}

/*
 * The exact counts: TSan's runtime sleeps on its own locks inside the
 * instrumented callbacks (their atomics), which the kernel rightly counts
 * as blocks that let another worker run; the plain and ASan builds check
 * them.
 */
#if defined(__SANITIZE_THREAD__)
#define CONC_EXACT_WHY_NOT	"under TSan a callback's atomics may sleep in its runtime (a block)"
#else
#define CONC_EXACT_WHY_NOT	NULL
#endif

/*
 * How long the kernel's release may take here: well under the stall
 * detector's tick, which these tests set to 1 s (its first look only
 * arms it, so it acts a tick or more after the work is queued); more
 * under the sanitizers, whose threads run slower in the test VM.
 */
#if defined(__SANITIZE_THREAD__)
#define CONC_RELEASE_MS		1500
#elif defined(__SANITIZE_ADDRESS__)
#define CONC_RELEASE_MS		800
#else
#define CONC_RELEASE_MS		500
#endif

/* The pools of this process use the kernel's control: why not, or NULL. */
static const char *conc_why_not(void)
{
	struct tpio_version_args v;
	const char *be = tpio_backend();
	const char *off = getenv("TPIO_KERNEL_CONC");
	int fd, ret;

	if (!be || strcmp(be, "kmod"))
		return "the user backend has no kernel counts (the stall detector is its approximation)";
	if (off && !strcmp(off, "0"))
		return "TPIO_KERNEL_CONC=0";
	fd = open("/dev/tpio", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "/dev/tpio does not open";
	memset(&v, 0, sizeof(v));
	ret = ioctl(fd, TPIO_IOC_VERSION, &v);
	close(fd);
	if (ret || !(v.features & TPIO_FEAT_CONC))
		return "the module has no TPIO_FEAT_CONC";
	return NULL;
}

static void conc_start(struct __test_metadata *_metadata,
		       FIXTURE_DATA(conc) *self, const char *value,
		       const char *stall_us, DWORD min, DWORD max)
{
	setenv("TPIO_CONCURRENCY", value, 1);
	setenv("TPIO_STALL_US", stall_us, 1);
	/* pools use the module's control only when asked (2), unless 0 */
	if (!getenv("TPIO_KERNEL_CONC") || strcmp(getenv("TPIO_KERNEL_CONC"), "0"))
		setenv("TPIO_KERNEL_CONC", "2", 1);
	self->pool = CreateThreadpool(NULL);
	ASSERT_NE(NULL, self->pool);
	SetThreadpoolThreadMaximum(self->pool, max);
	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, min));
	InitializeThreadpoolEnvironment(&self->env);
	SetThreadpoolCallbackPool(&self->env, self->pool);
}

/* ---- what the callbacks count ---- */

static atomic_int conc_run, conc_max, conc_done, conc_started;
static atomic_int conc_hog_stop, conc_late;
static atomic_int conc_awake;		/* the blocker is back and spins */
static _Atomic int64_t conc_awake_us;
static struct gate conc_gate;

static int64_t conc_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void conc_enter(void)
{
	int now = atomic_fetch_add(&conc_run, 1) + 1;
	int m = atomic_load(&conc_max);

	while (now > m && !atomic_compare_exchange_weak(&conc_max, &m, now))
		;
}

static void conc_reset(void)
{
	atomic_store(&conc_run, 0);
	atomic_store(&conc_max, 0);
	atomic_store(&conc_done, 0);
	atomic_store(&conc_started, 0);
	atomic_store(&conc_hog_stop, 0);
	atomic_store(&conc_late, 0);
	atomic_store(&conc_awake, 0);
	gate_init(&conc_gate);
}

static void conc_spin_us(int us)
{
	int64_t end = conc_us() + us;

	while (conc_us() < end)
		;
}

/* runs, never blocks, until told to stop (at most 5 s) */
static VOID CALLBACK hog_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			    PTP_WORK w)
{
	int64_t end = conc_us() + 5000000;

	(void)inst; (void)ctx; (void)w;
	conc_enter();
	atomic_fetch_add(&conc_started, 1);
	while (!atomic_load(&conc_hog_stop) && conc_us() < end)
		;
	atomic_fetch_sub(&conc_run, 1);
}

/* blocks on the gate (not counted meanwhile), then runs 100 ms */
static VOID CALLBACK blocker_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PTP_WORK w)
{
	(void)inst; (void)ctx; (void)w;
	atomic_fetch_add(&conc_started, 1);
	gate_wait(&conc_gate);
	conc_enter();
	conc_awake_us = conc_us();
	atomic_store(&conc_awake, 1);
	conc_spin_us(100000);
	atomic_store(&conc_awake, 0);
	atomic_fetch_sub(&conc_run, 1);
}

/* runs 300 us; notes a start well after the blocker came back */
static VOID CALLBACK short_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			      PTP_WORK w)
{
	(void)inst; (void)ctx; (void)w;
	conc_enter();
	if (atomic_load(&conc_awake) && conc_us() > conc_awake_us + 20000)
		atomic_fetch_add(&conc_late, 1);
	conc_spin_us(300);
	atomic_fetch_sub(&conc_run, 1);
	atomic_fetch_add(&conc_done, 1);
}

struct conc_works {
	PTP_WORK hog, blocker, shrt;
};

static void conc_works_make(struct __test_metadata *_metadata,
			    FIXTURE_DATA(conc) *self, struct conc_works *w)
{
	w->hog = CreateThreadpoolWork(hog_cb, NULL, &self->env);
	w->blocker = CreateThreadpoolWork(blocker_cb, NULL, &self->env);
	w->shrt = CreateThreadpoolWork(short_cb, NULL, &self->env);
	ASSERT_NE(NULL, w->hog);
	ASSERT_NE(NULL, w->blocker);
	ASSERT_NE(NULL, w->shrt);
}

static void conc_works_end(struct conc_works *w)
{
	atomic_store(&conc_hog_stop, 1);
	gate_open(&conc_gate);
	WaitForThreadpoolWorkCallbacks(w->hog, FALSE);
	WaitForThreadpoolWorkCallbacks(w->blocker, FALSE);
	WaitForThreadpoolWorkCallbacks(w->shrt, FALSE);
	CloseThreadpoolWork(w->hog);
	CloseThreadpoolWork(w->blocker);
	CloseThreadpoolWork(w->shrt);
}

/*
 * Value 2, 6 workers: a hog runs, a blocker blocks. 30 short callbacks
 * then run one at a time in the blocker's place (the kernel released one
 * worker, and only one), long before the stall detector (1 s tick, two
 * ticks to act) could have.
 */
TEST_F(conc, blocking_callback_releases_exactly_one)
{
	const char *why = CONC_EXACT_WHY_NOT ? CONC_EXACT_WHY_NOT :
			  conc_why_not();
	struct conc_works w;
	int i;

	if (why)
		SKIP(return, "%s", why);
	conc_start(_metadata, self, "2", "1000000", 6, 16);
	conc_reset();
	conc_works_make(_metadata, self, &w);
	SubmitThreadpoolWork(w.blocker);
	ASSERT_TRUE(wait_count(&conc_started, 1, RELEASED_MS));
	SubmitThreadpoolWork(w.hog);
	ASSERT_TRUE(wait_count(&conc_started, 2, RELEASED_MS));
	for (i = 0; i < 30; i++)
		SubmitThreadpoolWork(w.shrt);
	EXPECT_TRUE(wait_count(&conc_done, 30, CONC_RELEASE_MS));
	TH_LOG("%d of 30 ran while a callback blocked; at most %d ran at once",
	       atomic_load(&conc_done), atomic_load(&conc_max));
	EXPECT_EQ(2, atomic_load(&conc_max));
	conc_works_end(&w);
}

/*
 * The same, and then the blocker wakes and runs for 100 ms beside the
 * hog: no short callback starts meanwhile (after 20 ms of grace for one
 * already taken), the worker in its place gives the place back.
 */
TEST_F(conc, woken_blocker_does_not_push_the_count_over)
{
	const char *why = conc_why_not();
	struct conc_works w;
	int i;

	if (why)
		SKIP(return, "%s", why);
	conc_start(_metadata, self, "2", "1000000", 6, 16);
	conc_reset();
	conc_works_make(_metadata, self, &w);
	SubmitThreadpoolWork(w.blocker);
	ASSERT_TRUE(wait_count(&conc_started, 1, RELEASED_MS));
	SubmitThreadpoolWork(w.hog);
	ASSERT_TRUE(wait_count(&conc_started, 2, RELEASED_MS));
	for (i = 0; i < 1000; i++)
		SubmitThreadpoolWork(w.shrt);
	ASSERT_TRUE(wait_count(&conc_done, 20, 1500));
	gate_open(&conc_gate);
	/* the blocker's 100 ms, then the hog stops: the rest runs */
	sleep_ms(150);
	atomic_store(&conc_hog_stop, 1);
	EXPECT_TRUE(wait_count(&conc_done, 1000, 10 * RELEASED_MS));
	TH_LOG("%d short callbacks started while the blocker ran again",
	       atomic_load(&conc_late));
	EXPECT_EQ(0, atomic_load(&conc_late));
	conc_works_end(&w);
}

/*
 * Value 2, 6 workers, the stall detector's usual 1 ms tick: three hogs
 * that run (never block) for 50 ms each, and short callbacks. The kernel
 * counts the hogs as running, so the detector adds nobody: at most 2 run.
 * (The user backend's detector, counting nothing but progress, lets a
 * third start after two ticks: its documented approximation.)
 */
TEST_F(conc, no_more_than_the_value_when_nothing_blocks)
{
	const char *why = CONC_EXACT_WHY_NOT ? CONC_EXACT_WHY_NOT :
			  conc_why_not();
	struct conc_works w;
	PTP_WORK hog2;
	int i;

	if (why)
		SKIP(return, "%s", why);
	conc_start(_metadata, self, "2", "1000", 6, 16);
	conc_reset();
	conc_works_make(_metadata, self, &w);
	hog2 = CreateThreadpoolWork(hog_cb, NULL, &self->env);
	ASSERT_NE(NULL, hog2);
	SubmitThreadpoolWork(w.hog);
	SubmitThreadpoolWork(hog2);
	SubmitThreadpoolWork(w.hog);
	for (i = 0; i < 20; i++)
		SubmitThreadpoolWork(w.shrt);
	sleep_ms(100);
	atomic_store(&conc_hog_stop, 1);
	EXPECT_TRUE(wait_count(&conc_done, 20, 5 * RELEASED_MS));
	TH_LOG("at most %d callbacks ran at once", atomic_load(&conc_max));
	EXPECT_EQ(2, atomic_load(&conc_max));
	WaitForThreadpoolWorkCallbacks(hog2, FALSE);
	CloseThreadpoolWork(hog2);
	conc_works_end(&w);
}

/* ---- a burst of blockers (both backends) ---- */

static VOID CALLBACK barrier_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PTP_WORK w)
{
	int64_t end = now_ms() + 5 * RELEASED_MS;

	(void)inst; (void)ctx; (void)w;
	atomic_fetch_add(&conc_started, 1);
	/* blocks (sleeps) until all 8 are in */
	while (atomic_load(&conc_started) < 8 && now_ms() < end)
		sleep_ms(1);
	if (atomic_load(&conc_started) >= 8)
		atomic_fetch_add(&conc_done, 1);
}

/*
 * Value 2, at most 8 workers, 1 at first: 8 callbacks that each wait for
 * all 8 to have started. The pool must start threads for the blocked
 * ones (the kernel's release finds no sleeper; the detector starts one),
 * and completes.
 */
TEST_F(conc, burst_of_blocking_callbacks_does_not_deadlock)
{
	PTP_WORK w;
	int i;

	conc_start(_metadata, self, "2", "1000", 1, 8);
	conc_reset();
	w = CreateThreadpoolWork(barrier_cb, NULL, &self->env);
	ASSERT_NE(NULL, w);
	for (i = 0; i < 8; i++)
		SubmitThreadpoolWork(w);
	EXPECT_TRUE(wait_count(&conc_done, 8, 5 * RELEASED_MS));
	TH_LOG("%d of 8 met", atomic_load(&conc_done));
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	CloseThreadpoolWork(w);
}

/* ---- CallbackMayRunLong ---- */

static atomic_int conc_long_ret[2];

/* marks itself long-running, then runs (never blocks) until stopped */
static VOID CALLBACK long_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			     PTP_WORK w)
{
	int n = atomic_fetch_add(&conc_started, 1);
	int64_t end = conc_us() + 5000000;

	(void)ctx; (void)w;
	if (n < 2)
		atomic_store(&conc_long_ret[n], CallbackMayRunLong(inst) + 1);
	while (!atomic_load(&conc_hog_stop) && conc_us() < end)
		;
}

/*
 * Value 1, at most 2 workers: a callback that CallbackMayRunLong marks
 * stops counting, so a second callback runs beside it although the value
 * is 1 (and the stall detector's tick is 1 s); that one's own
 * CallbackMayRunLong finds no idle worker and no room under the maximum:
 * FALSE. Short callbacks then wait (both threads are taken).
 */
TEST_F(conc, may_run_long_leaves_the_count_within_the_maximum)
{
	const char *why = conc_why_not();
	struct conc_works w;
	PTP_WORK lw;
	int i;

	if (why)
		SKIP(return, "%s", why);
	conc_start(_metadata, self, "1", "1000000", 1, 2);
	conc_reset();
	conc_works_make(_metadata, self, &w);
	lw = CreateThreadpoolWork(long_cb, NULL, &self->env);
	ASSERT_NE(NULL, lw);
	SubmitThreadpoolWork(lw);
	ASSERT_TRUE(wait_count(&conc_long_ret[0], 1, RELEASED_MS));
	EXPECT_EQ(TRUE + 1, atomic_load(&conc_long_ret[0]));
	SubmitThreadpoolWork(lw);
	EXPECT_TRUE(wait_count(&conc_long_ret[1], 1, CONC_RELEASE_MS));
	EXPECT_EQ(FALSE + 1, atomic_load(&conc_long_ret[1]));
	for (i = 0; i < 5; i++)
		SubmitThreadpoolWork(w.shrt);
	sleep_ms(50);
	EXPECT_EQ(0, atomic_load(&conc_done));
	atomic_store(&conc_hog_stop, 1);
	EXPECT_TRUE(wait_count(&conc_done, 5, RELEASED_MS));
	WaitForThreadpoolWorkCallbacks(lw, FALSE);
	CloseThreadpoolWork(lw);
	conc_works_end(&w);
}

/* ---- the stall detector's CPU meter (the library's count) ---- */

/* The meter reads the kernel's schedstat files: why not, or NULL. */
static const char *meter_why_not(void)
{
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	char buf[64];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

	if (fd >= 0)
		close(fd);
	return n > 0 ? NULL : "no /proc/thread-self/schedstat: the meter is off";
}

static atomic_int meter_in;		/* callbacks begun, not returned */
static atomic_int meter_spin_only;	/* the callbacks stop blocking */
static atomic_int meter_stop;

/*
 * 100 us on a CPU then 400 us asleep (500 us on a CPU once
 * meter_spin_only is set), and submits itself again: the work that waits
 * never runs out, and no callback blocks for a tick of the detector.
 */
static VOID CALLBACK brief_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			      PTP_WORK w)
{
	int spin_only = atomic_load(&meter_spin_only);

	(void)inst; (void)ctx;
	atomic_fetch_add(&meter_in, 1);
	conc_spin_us(spin_only ? 500 : 100);
	if (!spin_only)
		usleep(400);
	atomic_fetch_sub(&meter_in, 1);
	if (!atomic_load(&meter_stop))
		SubmitThreadpoolWork(w);
}

/* The mean of meter_in over @ms, sampled every millisecond. */
static double meter_mean_in(int ms)
{
	long sum = 0;
	int i;

	for (i = 0; i < ms; i++) {
		sum += atomic_load(&meter_in);
		sleep_ms(1);
	}
	return (double)sum / ms;
}

/*
 * Value 1, the library's count (TPIO_KERNEL_CONC=0), at most 8 workers:
 * 16 callbacks that use a fifth of a CPU each and block for less than the
 * detector's 1 ms tick. The tick rule sees callbacks begin every tick and
 * adds nobody; the meter sees the counted worker leave its CPU mostly
 * unused and adds places, so more than one callback is in at a time.
 */
static void meter_start_brief(struct __test_metadata *_metadata,
			      FIXTURE_DATA(conc) *self, PTP_WORK *w)
{
	int i;

	setenv("TPIO_KERNEL_CONC", "0", 1);
	/* the statistics file shows the meter's counts (meter_counts) */
	setenv("TPIO_STATS", "1", 1);
	setenv("TPIO_STATS_MS", "10", 1);
	conc_start(_metadata, self, "1", "1000", 1, 8);
	atomic_store(&meter_in, 0);
	atomic_store(&meter_spin_only, 0);
	atomic_store(&meter_stop, 0);
	*w = CreateThreadpoolWork(brief_cb, NULL, &self->env);
	ASSERT_NE(NULL, *w);
	for (i = 0; i < 16; i++)
		SubmitThreadpoolWork(*w);
}

/*
 * The meter's counts in this process's statistics files (TPIO_STATS=1):
 * the most any of its pools shows (only the test's pool has any). 0, or
 * -1 when no file of this process was found.
 */
static int meter_counts(uint64_t *grants, uint64_t *revokes)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	*grants = 0;
	*revokes = 0;
	while (d && (e = readdir(d))) {
		const struct tpio_stats_file *f;
		char path[300], link[300];
		uint64_t g, r;
		uint32_t seq;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strstr(link, "/memfd:" TPIO_STATS_NAME))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		f = mmap(NULL, sizeof(*f), PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (f == MAP_FAILED)
			continue;
		if (f->magic == TPIO_STATS_MAGIC && f->size >= sizeof(*f) &&
		    f->pid == getpid()) {
			do {
				seq = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
				/* acquire: the seq check below stays after */
				g = __atomic_load_n(&f->meter_grants,
						    __ATOMIC_ACQUIRE);
				r = __atomic_load_n(&f->meter_revokes,
						    __ATOMIC_ACQUIRE);
			} while ((seq & 1) ||
				 __atomic_load_n(&f->seq, __ATOMIC_RELAXED) != seq);
			*grants = g > *grants ? g : *grants;
			*revokes = r > *revokes ? r : *revokes;
			found = 0;
		}
		munmap((void *)f, sizeof(*f));
	}
	if (d)
		closedir(d);
	return found;
}

/* meter_counts once the statistics thread has sampled (10 ms), logged */
static int meter_counts_logged(struct __test_metadata *_metadata,
			       uint64_t *grants, uint64_t *revokes)
{
	int ret;

	sleep_ms(50);
	ret = meter_counts(grants, revokes);
	TH_LOG("meter_grants %llu, meter_revokes %llu",
	       (unsigned long long)*grants, (unsigned long long)*revokes);
	return ret;
}

static void meter_end(PTP_WORK w)
{
	atomic_store(&meter_stop, 1);
	WaitForThreadpoolWorkCallbacks(w, FALSE);
	CloseThreadpoolWork(w);
}

TEST_F(conc, meter_adds_places_for_callbacks_that_block_briefly)
{
	const char *why = meter_why_not();
	uint64_t grants, revokes;
	double mean;
	PTP_WORK w;

	if (why)
		SKIP(return, "%s", why);
	meter_start_brief(_metadata, self, &w);
	sleep_ms(300);
	mean = meter_mean_in(200);
	TH_LOG("%.2f callbacks in at a time with the value 1", mean);
	EXPECT_LE(1.5, mean);
	/* the places are the meter's, and its statistics count them */
	ASSERT_EQ(0, meter_counts_logged(_metadata, &grants, &revokes));
	EXPECT_LE(1, grants);
	meter_end(w);
}

/*
 * The same, then the callbacks stop blocking: the places the meter added
 * keep more callbacks runnable than the value, and it takes them back
 * (value 1: one callback in at a time again, but for a moment).
 */
TEST_F(conc, meter_takes_places_back_when_callbacks_stop_blocking)
{
	const char *why = meter_why_not();
	uint64_t grants, revokes;
	double before, after;
	PTP_WORK w;

	if (why)
		SKIP(return, "%s", why);
	meter_start_brief(_metadata, self, &w);
	sleep_ms(300);
	before = meter_mean_in(100);
	atomic_store(&meter_spin_only, 1);
	sleep_ms(300);
	after = meter_mean_in(200);
	TH_LOG("%.2f callbacks in at a time while they block, %.2f after",
	       before, after);
	EXPECT_LE(2.0, before);
	EXPECT_GE(2.0, after);
	ASSERT_EQ(0, meter_counts_logged(_metadata, &grants, &revokes));
	EXPECT_LE(1, revokes);
	meter_end(w);
}
