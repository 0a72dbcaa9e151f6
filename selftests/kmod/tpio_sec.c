// SPDX-License-Identifier: MIT
/*
 * /dev/tpio against a hostile caller (Documentation/kmod.rst, "Security"):
 * an object must not be reachable before IO_CREATE can no longer fail, a
 * DRAIN must never judge the word of the slot's next object, the work done
 * under a port's lock is bounded whatever user space does, and the kernel
 * memory a user's ports pin is bounded by max_user_mib.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "tpio_test.h"

#define PARAM_DIR	"/sys/module/tpio/parameters/"

/*
 * The most work one hold of a port's lock may do (Documentation/kmod.rst,
 * "Bounded work"): 2 x 256 completions + 64 overflow entries + 64 failed
 * compare-and-swaps. The time of the longest hold is printed too; it is
 * not asserted, because a vCPU of the test VM can be descheduled by the
 * host in the middle of any hold.
 */
#define LOCK_WORK_MAX	640

static int param_write(const char *name, const char *value)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = fputs(value, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int param_read(const char *name, char *buf, size_t len)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok ? 0 : -1;
}

/* A numeric field of the port's fdinfo ("tpio-<key>:"), or -1. */
static long long fdinfo_field(int fd, const char *key)
{
	char path[64], line[256];
	long long v = -1;
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* ---- IO_CREATE with a read-only argument, against a closer ---- */

struct create_race {
	int fd;
	struct tpio_io_create_args *ro;	/* in a PROT_READ page */
	volatile int stop;
	_Atomic unsigned long attempts;	/* creates that got EFAULT */
	_Atomic unsigned long other;	/* creates with another result */
	_Atomic unsigned long closed;	/* closes that found an object */
};

static void *closer_fn(void *arg)
{
	struct create_race *r = arg;

	while (!r->stop) {
		/* one slot: the generation moves by one per failed create */
		unsigned long n = atomic_load(&r->attempts);
		__u32 g;

		for (g = 0; g < 3; g++) {
			__u32 gen = (__u32)((n + g) % 0xffff) + 1;
			__u32 io = gen << 16;

			if (!io_close(r->fd, io))
				atomic_fetch_add(&r->closed, 1);
		}
	}
	return NULL;
}

/*
 * The handle of a create whose result cannot be written out must never
 * name an object, not even for a moment: a close of it finds nothing, the
 * slot is given back exactly once, and the port still holds exactly
 * max_objects objects afterwards.
 */
TEST(create_readonly_arg_race)
{
	struct create_race r = { .fd = -1 };
	struct port p = { .fd = -1 };
	__u64 end = deadline_ms(3000);
	pthread_t closer;
	__u32 io, io2;
	void *page;

	PORT_OPEN(&p, 2, 1);
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	memset(page, 0, 4096);
	((struct tpio_io_create_args *)page)->cookie = 0x1234;
	ASSERT_EQ(0, mprotect(page, 4096, PROT_READ));
	r.fd = p.fd;
	r.ro = page;
	ASSERT_EQ(0, pthread_create(&closer, NULL, closer_fn, &r));
	while (now_ns() < end) {
		int ret = ioctl(p.fd, TPIO_IOC_IO_CREATE, r.ro);

		if (ret == -1 && errno == EFAULT)
			atomic_fetch_add(&r.attempts, 1);
		else
			atomic_fetch_add(&r.other, 1);
	}
	r.stop = 1;
	pthread_join(closer, NULL);
	TH_LOG("%lu creates faulted, %lu closes found an object",
	       atomic_load(&r.attempts), atomic_load(&r.closed));
	EXPECT_LT(1000, atomic_load(&r.attempts));
	EXPECT_EQ(0, atomic_load(&r.other));
	EXPECT_EQ(0, atomic_load(&r.closed));

	/* the one slot is free exactly once */
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	EXPECT_NE(0, io >> 16);
	EXPECT_EQ(-1, io_create(p.fd, 2, &io2));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(0, io_close(p.fd, io));
	munmap(page, 4096);
	port_close(&p);
}

/* ---- DRAIN and the slot's next object ---- */

struct drain_race {
	struct port *p;
	_Atomic __u32 io;		/* the live object, 0 between lives */
	volatile int stop;
	_Atomic unsigned long polls, zero;
};

static void *drainer_fn(void *arg)
{
	struct drain_race *r = arg;

	while (!r->stop) {
		__u32 io = atomic_load(&r->io);

		if (!io)
			continue;
		atomic_fetch_add(&r->polls, 1);
		/* every object of this test has a callback running */
		if (!port_drain(r->p->fd, io, 0, 0))
			atomic_fetch_add(&r->zero, 1);
	}
	return NULL;
}

/*
 * Objects that always have a callback running are created and closed in
 * one slot (a close frees the slot at once: nothing is skipped) while
 * another thread polls DRAIN on the current handle. A DRAIN must answer
 * ETIMEDOUT (not drained) or ENOENT (closed), never 0: the fresh word of
 * the slot's next object is not the closed object's.
 */
TEST(drain_never_judges_next_object)
{
	struct drain_race r = { 0 };
	struct port p = { .fd = -1 };
	__u64 end = deadline_ms(2000);
	pthread_t drainer;
	unsigned long lives = 0;
	__u32 io;

	PORT_OPEN(&p, 2, 1);
	r.p = &p;
	ASSERT_EQ(0, pthread_create(&drainer, NULL, drainer_fn, &r));
	while (now_ns() < end) {
		ASSERT_EQ(0, io_create(p.fd, 7, &io));
		__atomic_fetch_add(word_of(&p, io), TPIO_W_ONE(RUNNING) +
				   TPIO_W_ONE(ASSOC), __ATOMIC_SEQ_CST);
		atomic_store(&r.io, io);
		ASSERT_EQ(0, io_close(p.fd, io));
		lives++;
	}
	r.stop = 1;
	pthread_join(drainer, NULL);
	TH_LOG("%lu lives, %lu polls", lives, atomic_load(&r.polls));
	EXPECT_EQ(0, atomic_load(&r.zero));
	port_close(&p);
}

/* ---- bounded work under the port lock ---- */

#define LOCK_STATS_ON() do {						\
	if (param_write("lock_stats", "1"))				\
		SKIP(return, "cannot set " PARAM_DIR "lock_stats");	\
} while (0)

/* The most work one hold did on the port, within the bound; and its time. */
static void check_hold(struct __test_metadata *_metadata, int fd)
{
	long long work = fdinfo_field(fd, "tpio-lock-work-max");
	long long ns = fdinfo_field(fd, "tpio-lock-hold-max-ns");

	TH_LOG("the longest hold: %lld units of work, %lld ns", work, ns);
	EXPECT_LT(0, work);
	EXPECT_GE(LOCK_WORK_MAX, work);
}

/*
 * Fills the ring and the whole overflow FIFO of a maximal port with one
 * object's completions, then cancels them again and again: each cancel
 * must not walk the FIFO under the lock. Then WAIT moves past 16384 stale
 * entries, a bounded batch per hold.
 */
TEST(lock_hold_cancel_full_overflow)
{
	struct port p = { .fd = -1 };
	struct tpio_completion *c;
	struct tpio_post_args pa;
	__u32 io, total = 0, entries = TPIO_RING_MAX, i;

	LOCK_STATS_ON();
	PORT_OPEN(&p, entries, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	c = calloc(TPIO_POST_MAX, sizeof(*c));
	ASSERT_NE(NULL, c);
	for (i = 0; i < TPIO_POST_MAX; i++)
		c[i].io = io;
	while (total < 2 * entries) {
		io_start(&p, io, TPIO_POST_MAX);
		memset(&pa, 0, sizeof(pa));
		pa.completions = (uintptr_t)c;
		pa.count = TPIO_POST_MAX;
		ASSERT_EQ(0, ioctl(p.fd, TPIO_IOC_POST, &pa));
		ASSERT_EQ(TPIO_POST_MAX, pa.done);
		total += pa.done;
		/* the queued field holds 65535: consume nothing, stay below */
	}
	ASSERT_EQ(entries, ring_overflow(&p));
	for (i = 0; i < 200; i++) {
		io_start(&p, io, 1);
		ASSERT_EQ(0, port_drain(p.fd, io, TPIO_DRAIN_CANCEL, 0));
	}
	/* consume the ring; WAIT then skips the stale overflow */
	__atomic_store_n(shared_head(&p), tail_load(&p), __ATOMIC_RELEASE);
	EXPECT_EQ(-1, port_wait(p.fd, 0));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(0, ring_flags(&p) & TPIO_RING_F_OVERFLOW);
	check_hold(_metadata, p.fd);
	free(c);
	port_close(&p);
}

struct scribbler {
	__u64 *word;
	volatile int stop;
};

static void *scribble_fn(void *arg)
{
	struct scribbler *s = arg;
	__u64 seed = 0x9e3779b97f4a7c15ULL;

	/* keep the word changing: pending stays high, other bits churn */
	while (!s->stop)
		__atomic_store_n(s->word, (rnd(&seed) & ~0x3ffffULL) | 0x3ffff,
				 __ATOMIC_RELAXED);
	return NULL;
}

/*
 * POSTs of 256 completions to an object whose word another thread keeps
 * rewriting: every compare-and-swap may fail, but the failures per call
 * are bounded, so is the hold.
 */
TEST(lock_hold_post_against_scribbler)
{
	struct scribbler s = { 0 };
	struct port p = { .fd = -1 };
	struct tpio_completion c[TPIO_POST_MAX];
	struct tpio_post_args pa;
	__u64 end = deadline_ms(1500);
	unsigned long calls = 0, eagain = 0;
	pthread_t t;
	__u32 io, i;

	LOCK_STATS_ON();
	PORT_OPEN(&p, TPIO_RING_MAX, 2);
	ASSERT_EQ(0, io_create(p.fd, 1, &io));
	memset(c, 0, sizeof(c));
	for (i = 0; i < TPIO_POST_MAX; i++)
		c[i].io = io;
	s.word = word_of(&p, io);
	ASSERT_EQ(0, pthread_create(&t, NULL, scribble_fn, &s));
	while (now_ns() < end) {
		memset(&pa, 0, sizeof(pa));
		pa.completions = (uintptr_t)c;
		pa.count = TPIO_POST_MAX;
		if (ioctl(p.fd, TPIO_IOC_POST, &pa) && errno == EAGAIN)
			eagain++;
		calls++;
		/* keep the ring from filling up */
		__atomic_store_n(shared_head(&p), tail_load(&p),
				 __ATOMIC_RELEASE);
		port_wait(p.fd, 0);
	}
	s.stop = 1;
	pthread_join(t, NULL);
	TH_LOG("%lu POSTs, %lu of them EAGAIN", calls, eagain);
	check_hold(_metadata, p.fd);
	port_close(&p);
}

#define SLEEPERS	64

static void *sleeper_fn(void *arg)
{
	struct port *p = arg;

	port_wait(p->fd, deadline_ms(10000));
	return NULL;
}

/* WAKE(WORKERS) of many sleepers wakes them a bounded batch per hold. */
TEST(lock_hold_wake_many)
{
	struct port p = { .fd = -1 };
	pthread_t t[SLEEPERS];
	int i, woken;

	LOCK_STATS_ON();
	PORT_OPEN(&p, 2, 2);
	for (i = 0; i < SLEEPERS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sleeper_fn, &p));
	ASSERT_TRUE(POLL_UNTIL(fdinfo_field(p.fd, "tpio-waiters") == SLEEPERS,
			       RELEASE_MS));
	woken = wake_workers(p.fd, 0xffffffff);
	EXPECT_EQ(SLEEPERS, woken);
	for (i = 0; i < SLEEPERS; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, fdinfo_field(p.fd, "tpio-waiters"));
	check_hold(_metadata, p.fd);
	port_close(&p);
}

/* ---- the memory a user's ports pin ---- */

/* Ports of maximal size as uid/gid 65534: how many fit, and why not more. */
static int child_fill_ports(int *count, int *err, long long *charged)
{
	struct tpio_setup_args sa;
	int fds[256], n = 0, i;

	*err = 0;
	*charged = -1;
	while (n < 256) {
		int fd = open(TPIO_DEV, O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			*err = errno;
			break;
		}
		memset(&sa, 0, sizeof(sa));
		sa.ring_entries = TPIO_RING_MAX;
		sa.max_objects = TPIO_OBJECTS_MAX;
		if (ioctl(fd, TPIO_IOC_SETUP, &sa)) {
			*err = errno;
			*charged = fdinfo_field(fd, "tpio-charged");
			close(fd);
			break;
		}
		fds[n++] = fd;
	}
	*count = n;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/*
 * With max_user_mib = 8, an unprivileged user gets EDQUOT once its ports
 * would pin more than 8 MiB, however many it opens; the charge goes away
 * with the ports; root (CAP_SYS_RESOURCE) is not limited.
 */
TEST(user_memory_bound)
{
	struct { int count, err, again; long long charged; } *res;
	char old[32];
	pid_t pid;
	int status, fd;
	OPEN_PORT(fd);
	close(fd);
	if (geteuid() != 0)
		SKIP(return, "needs root to set max_user_mib and change uid");
	ASSERT_EQ(0, param_read("max_user_mib", old, sizeof(old)));
	ASSERT_EQ(0, param_write("max_user_mib", "8"));
	res = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		child_fill_ports(&res->count, &res->err, &res->charged);
		/* everything was released: the budget is whole again */
		child_fill_ports(&res->again, &res->err, &res->charged);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	TH_LOG("uid 65534: %d maximal ports, then %s; charged then %lld bytes",
	       res->count, strerror(res->err), res->charged);
	EXPECT_EQ(EDQUOT, res->err);
	EXPECT_LE(1, res->count);
	EXPECT_GE(8, res->count);
	EXPECT_GE(8LL << 20, res->charged);
	EXPECT_EQ(res->count, res->again);

	/* root is exempt: more maximal ports than 8 MiB pay for */
	{
		struct port q[8];
		int i;

		for (i = 0; i < 8; i++)
			PORT_OPEN(&q[i], TPIO_RING_MAX, TPIO_OBJECTS_MAX);
		EXPECT_LT(8LL << 20, fdinfo_field(q[0].fd, "tpio-charged"));
		for (i = 0; i < 8; i++)
			port_close(&q[i]);
	}
	EXPECT_EQ(0, param_write("max_user_mib", old));
	munmap(res, 4096);
}

/*
 * What a port charges goes away when it is released: the user's charge
 * returns to what it was, objects included.
 */
TEST(charge_returns_to_baseline)
{
	struct port p = { .fd = -1 }, q = { .fd = -1 };
	long long base, port, with;
	__u32 io[100];
	int i;

	PORT_OPEN(&p, 2, 2);
	base = fdinfo_field(p.fd, "tpio-charged");
	ASSERT_LT(0, base);
	PORT_OPEN(&q, 1024, 4096);
	port = fdinfo_field(p.fd, "tpio-charged");
	EXPECT_LT(base + 4096 * 12 + 1024 * 64, port);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, io_create(q.fd, i, &io[i]));
	with = fdinfo_field(p.fd, "tpio-charged");
	TH_LOG("charged: %lld bytes; with a second port %lld, and 100 objects %lld",
	       base, port, with);
	EXPECT_LE(port + 100 * 32, with);
	for (i = 0; i < 50; i++)
		ASSERT_EQ(0, io_close(q.fd, io[i]));
	port_close(&q);
	EXPECT_EQ(base, fdinfo_field(p.fd, "tpio-charged"));
	port_close(&p);
}

TEST_HARNESS_MAIN
