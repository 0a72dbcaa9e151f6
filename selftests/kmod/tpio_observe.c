// SPDX-License-Identifier: MIT
/*
 * Observing a port (Documentation/kmod.rst, "Observing a port"): the
 * totals of its fdinfo after known operations, and the tpio tracepoints
 * seen through tracefs.
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tpio_test.h"

/* A numeric field of the port's fdinfo ("tpio-<key>:"), or -1. */
static long long fdinfo_field(int fd, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long long v = -1;
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

#define FDINFO_EQ(fd, key, want) \
	EXPECT_EQ((long long)(want), fdinfo_field((fd), "tpio-" key))

/* pending, queued, running, zombies, ring fill, POST totals */
TEST(fdinfo_totals)
{
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 a, b, result;

	PORT_OPEN(&p, 8, 16);
	FDINFO_EQ(p.fd, "live", 0);
	FDINFO_EQ(p.fd, "posts", 0);
	ASSERT_EQ(0, io_create(p.fd, 1, &a));
	ASSERT_EQ(0, io_create(p.fd, 2, &b));
	io_start(&p, a, 3);
	ASSERT_EQ(0, post_one(p.fd, a, 10, &result));
	EXPECT_EQ(TPIO_POSTED_QUEUED, result);
	ASSERT_EQ(0, post_one(p.fd, a, 11, &result));
	EXPECT_EQ(TPIO_POSTED_QUEUED, result);
	/* nothing pending on b: dropped, but counted as posted */
	ASSERT_EQ(0, post_one(p.fd, b, 12, &result));
	EXPECT_EQ(TPIO_POSTED_DROPPED, result);
	/* one callback begins */
	ASSERT_EQ(1, ring_take(&p, &e));
	ASSERT_EQ(1, io_begin(&p, a, e.epoch));

	FDINFO_EQ(p.fd, "live", 2);
	FDINFO_EQ(p.fd, "zombies", 0);
	FDINFO_EQ(p.fd, "pending", 1);
	FDINFO_EQ(p.fd, "queued", 1);
	FDINFO_EQ(p.fd, "running", 1);
	FDINFO_EQ(p.fd, "ring-fill", 1);
	FDINFO_EQ(p.fd, "overflow", 0);
	FDINFO_EQ(p.fd, "waiters", 0);
	FDINFO_EQ(p.fd, "drain-waiters", 0);
	FDINFO_EQ(p.fd, "posts", 3);
	FDINFO_EQ(p.fd, "posts-queued", 2);
	FDINFO_EQ(p.fd, "dequeued", 1);

	/* close with one start outstanding: a zombie until it arrives */
	ASSERT_EQ(0, io_close(p.fd, a));
	FDINFO_EQ(p.fd, "live", 1);
	FDINFO_EQ(p.fd, "zombies", 1);
	FDINFO_EQ(p.fd, "pending", 0);
	FDINFO_EQ(p.fd, "queued", 0);
	port_close(&p);
}

/* more completions than the ring holds: the rest is overflow */
TEST(fdinfo_overflow)
{
	struct port p = { .fd = -1 };
	__u32 a, result, i;

	PORT_OPEN(&p, 4, 4);
	ASSERT_EQ(0, io_create(p.fd, 1, &a));
	io_start(&p, a, 7);
	for (i = 0; i < 7; i++) {
		ASSERT_EQ(0, post_one(p.fd, a, i, &result));
		EXPECT_EQ(TPIO_POSTED_QUEUED, result);
	}
	FDINFO_EQ(p.fd, "ring-fill", 4);
	FDINFO_EQ(p.fd, "overflow", 3);
	FDINFO_EQ(p.fd, "queued", 7);
	FDINFO_EQ(p.fd, "posts-queued", 7);
	port_close(&p);
}

/* bounded work: a port with the most objects still answers */
TEST(fdinfo_many_objects)
{
	struct port p = { .fd = -1 };
	__u32 io, i;

	PORT_OPEN(&p, 4, TPIO_OBJECTS_MAX);
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, io_create(p.fd, i, &io));
		io_start(&p, io, 1);
	}
	FDINFO_EQ(p.fd, "live", 100);
	FDINFO_EQ(p.fd, "pending", 100);
	/* the sums take the lock a batch at a time */
	EXPECT_GE(2 * TPIO_POST_MAX + 128, fdinfo_field(p.fd, "tpio-lock-work-max"));
	port_close(&p);
}

#define TRACEFS		"/sys/kernel/tracing"

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* The whole trace buffer, NUL-terminated (malloc'd), or NULL. */
static char *read_trace(void)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	fd = open(TRACEFS "/trace", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *more = realloc(buf, cap * 2);

			if (!more)
				break;
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/* The tpio events of the trace, as TAP comments. */
static void print_tpio_lines(const char *trace)
{
	const char *l, *nl;

	for (l = trace; *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (!nl)
			break;
		if (strstr(l, " tpio_") && strstr(l, " tpio_") < nl)
			printf("# %.*s\n", (int)(nl - l), l);
	}
}

struct sleeper {
	int fd;
	int ret;
	pid_t tid;
};

static void *sleeper_fn(void *arg)
{
	struct sleeper *s = arg;

	s->tid = (pid_t)syscall(SYS_gettid);
	s->ret = port_wait(s->fd, now_ns() + 5000000000ULL);
	return NULL;
}

/* Each tracepoint fires with the fields of what was done. */
TEST(tracepoints)
{
	struct port p = { .fd = -1 };
	struct sleeper s = { 0 };
	struct tpio_cqe e;
	char want[128], *trace;
	pthread_t th;
	__u32 a, result;
	struct stat st;
	int i;

	OPEN_PORT(p.fd);
	close(p.fd);
	p.fd = -1;
	if (stat(TRACEFS "/events", &st))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	if (stat(TRACEFS "/events", &st))
		SKIP(return, "no tracefs at " TRACEFS " (CONFIG_TRACING, root)");
	ASSERT_EQ(0, stat(TRACEFS "/events/tpio/tpio_post", &st));
	ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, write_file(TRACEFS "/events/tpio/enable", "1"));
	ASSERT_EQ(0, write_file(TRACEFS "/tracing_on", "1"));

	PORT_OPEN(&p, 8, 4);
	ASSERT_EQ(0, io_create(p.fd, 1, &a));
	io_start(&p, a, 2);
	ASSERT_EQ(0, post_one(p.fd, a, 1, &result));
	/* work is there: WAIT returns at once */
	EXPECT_EQ(0, port_wait(p.fd, 0));
	ASSERT_EQ(1, ring_take(&p, &e));
	/* nothing is there: it sleeps and times out */
	EXPECT_EQ(-1, port_wait(p.fd, now_ns() + 1000000));
	EXPECT_EQ(ETIMEDOUT, errno);
	/* a sleeper, woken by a POST */
	s.fd = p.fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, sleeper_fn, &s));
	for (i = 0; i < 5000 && fdinfo_field(p.fd, "tpio-waiters") != 1; i++)
		usleep(1000);
	EXPECT_EQ(1, fdinfo_field(p.fd, "tpio-waiters"));
	ASSERT_EQ(0, post_one(p.fd, a, 2, &result));
	pthread_join(th, NULL);
	EXPECT_EQ(0, s.ret);
	/* a drain that polls: one is still queued */
	EXPECT_EQ(-1, port_drain(p.fd, a, 0, 0));
	EXPECT_EQ(ETIMEDOUT, errno);

	ASSERT_EQ(0, write_file(TRACEFS "/events/tpio/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	EXPECT_NE(NULL, strstr(trace, "tpio_post: port="));
	EXPECT_NE(NULL, strstr(trace, "count=1 done=1 queued=1 err=0 fill=1 overflow=0"));
	EXPECT_NE(NULL, strstr(trace, "err=0 slept=0 fill=1 overflow=0"));
	EXPECT_NE(NULL, strstr(trace, "tpio_wait: port="));
	EXPECT_NE(NULL, strstr(trace, "err=-110 slept=1 fill=0"));
	snprintf(want, sizeof(want), "pid=%d waiters=0", (int)s.tid);
	EXPECT_NE(NULL, strstr(trace, want));
	EXPECT_NE(NULL, strstr(trace, "err=0 slept=1 fill=1"));
	snprintf(want, sizeof(want), "tpio_drain: port=");
	EXPECT_NE(NULL, strstr(trace, want));
	snprintf(want, sizeof(want), " io=0x%x flags=", a);
	EXPECT_NE(NULL, strstr(trace, want));
	if (strstr(trace, want))
		EXPECT_NE(NULL, strstr(strstr(trace, want), "err=-110"));
	print_tpio_lines(trace);
	free(trace);
	port_close(&p);
}

TEST_HARNESS_MAIN
