/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the /dev/tpio kselftests: opening and mapping a port,
 * the user-side halves of the state-word protocol (Start, Cancel, callback
 * begin and end, ring consumption), and blocking-call probes.
 *
 * Every helper that checks something takes the harness's _metadata, so
 * ASSERT_*() inside it ends the calling test.
 */
#ifndef TPIO_TEST_H
#define TPIO_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/tpio.h>
#include "tpio_word.h"

#include "kselftest_harness.h"

#define TPIO_DEV		"/dev/tpio"

/* A blocked call must still be blocked after this long. */
#define BLOCKED_MS		100
/*
 * A released call must return within this long: generous, because TCG
 * emulation on a loaded 2-core host can stall a vCPU for a while.
 */
#define RELEASE_MS		2000

/* The epoch bits of a state word: a word & ~EPOCH_MASK of 0 is idle. */
#define EPOCH_MASK	(TPIO_W_MASK(TPIO_W_EPOCH_BITS) << TPIO_W_EPOCH_SHIFT)

/* Opens a port, or SKIPs the test when the module is not loaded. */
#define OPEN_PORT(fd) do {						\
	(fd) = open(TPIO_DEV, O_RDWR | O_CLOEXEC);			\
	if ((fd) < 0 && errno == ENOENT)				\
		SKIP(return, TPIO_DEV " absent: module not loaded");	\
	ASSERT_LE(0, (fd));						\
} while (0)

/* One port after SETUP, with both regions mapped. */
struct port {
	int fd;
	struct tpio_setup_args sa;
	unsigned char *ring;
	unsigned char *shared;
};

static inline __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* An absolute CLOCK_MONOTONIC timeout @ms milliseconds from now. */
static inline __u64 deadline_ms(unsigned int ms)
{
	return now_ns() + (__u64)ms * 1000000ULL;
}

static inline __u32 *ring_u32(struct port *p, __u32 off)
{
	return (__u32 *)(p->ring + off);
}

static inline __u32 *ring_tail(struct port *p)
{
	return ring_u32(p, p->sa.ring_off.tail);
}

static inline __u32 ring_flags(struct port *p)
{
	return __atomic_load_n(ring_u32(p, p->sa.ring_off.flags),
			       __ATOMIC_ACQUIRE);
}

static inline __u32 ring_overflow(struct port *p)
{
	return __atomic_load_n(ring_u32(p, p->sa.ring_off.overflow),
			       __ATOMIC_ACQUIRE);
}

static inline struct tpio_cqe *ring_cqes(struct port *p)
{
	return (struct tpio_cqe *)(p->ring + p->sa.ring_off.cqes);
}

static inline __u32 *shared_head(struct port *p)
{
	return (__u32 *)(p->shared + p->sa.shared_off.head);
}

static inline __u64 *shared_words(struct port *p)
{
	return (__u64 *)(p->shared + p->sa.shared_off.words);
}

static inline __u64 *word_of(struct port *p, __u32 io)
{
	return &shared_words(p)[TPIO_IO_SLOT(io)];
}

static inline __u64 word_load(struct port *p, __u32 io)
{
	return __atomic_load_n(word_of(p, io), __ATOMIC_SEQ_CST);
}

/* Pairs with the kernel's release store of the tail after writing entries. */
static inline __u32 tail_load(struct port *p)
{
	return __atomic_load_n(ring_tail(p), __ATOMIC_ACQUIRE);
}

static inline __u32 head_load(struct port *p)
{
	return __atomic_load_n(shared_head(p), __ATOMIC_ACQUIRE);
}

/* Entries between the head and the tail. */
static inline __u32 ring_count(struct port *p)
{
	return tail_load(p) - head_load(p);
}

/*
 * Takes the entry at the head for this thread: copy first, then move the
 * head forward with a CAS; the copy is valid when the CAS wins, because
 * the kernel rewrites a slot only after the head passed it.
 * Returns 0 when the ring is empty.
 */
static inline int ring_take(struct port *p, struct tpio_cqe *out)
{
	__u32 head = head_load(p);

	for (;;) {
		__u32 tail = tail_load(p);

		if (head == tail)
			return 0;
		*out = ring_cqes(p)[head & (p->sa.ring_entries - 1)];
		if (__atomic_compare_exchange_n(shared_head(p), &head, head + 1,
						0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 1;
	}
}

/* StartThreadpoolIo: no syscall. */
static inline void io_start(struct port *p, __u32 io, __u32 n)
{
	__atomic_fetch_add(word_of(p, io),
			   (__u64)n << TPIO_W_PENDING_SHIFT, __ATOMIC_SEQ_CST);
}

/*
 * A transition of the word with a tpio_w_* rule: CAS until it applies or
 * the rule refuses. Returns 1 and the new word in *nw when it applied.
 */
#define WORD_CAS(p, io, nw, rule_call) ({				\
	__u64 *__w = word_of((p), (io));				\
	__u64 old = __atomic_load_n(__w, __ATOMIC_SEQ_CST), next = 0;	\
	int __ok;							\
	for (;;) {							\
		__ok = (rule_call);					\
		if (!__ok)						\
			break;						\
		if (__atomic_compare_exchange_n(__w, &old, next, 0,	\
						__ATOMIC_SEQ_CST,	\
						__ATOMIC_SEQ_CST))	\
			break;						\
	}								\
	*(nw) = __ok ? next : old;					\
	__ok;								\
})

static inline int io_wake(int fd, __u32 io)
{
	struct tpio_wake_args wa = { .io = io, .flags = TPIO_WAKE_IO };

	return ioctl(fd, TPIO_IOC_WAKE, &wa);
}

/*
 * CancelThreadpoolIo: pending-- by CAS; when that drains the object and a
 * drain sleeper flagged WAITERS, WAKE it. Returns 1 when something was
 * pending.
 */
static inline int io_cancel(struct port *p, __u32 io)
{
	__u64 nw;

	if (!WORD_CAS(p, io, &nw, tpio_w_cancel(old, &next)))
		return 0;
	if (tpio_w_waiters(nw) && tpio_w_any_drained(nw))
		io_wake(p->fd, io);
	return 1;
}

/* A callback begins for an entry of @epoch; 0 when the entry is stale. */
static inline int io_begin(struct port *p, __u32 io, __u32 epoch)
{
	__u64 nw;

	return WORD_CAS(p, io, &nw, tpio_w_begin(old, epoch, &next));
}

/* A callback ends (still associated); WAKE drain sleepers if drained. */
static inline void io_end(struct port *p, __u32 io)
{
	__u64 d = tpio_w_end_delta(1);
	__u64 nw = __atomic_sub_fetch(word_of(p, io), d, __ATOMIC_SEQ_CST);

	if (tpio_w_waiters(nw) && tpio_w_any_drained(nw))
		io_wake(p->fd, io);
}

static inline int io_create(int fd, __u64 cookie, __u32 *io)
{
	struct tpio_io_create_args ca = { .cookie = cookie };
	int ret = ioctl(fd, TPIO_IOC_IO_CREATE, &ca);

	if (!ret)
		*io = ca.io;
	return ret;
}

static inline int io_close(int fd, __u32 io)
{
	return ioctl(fd, TPIO_IOC_IO_CLOSE, &io);
}

static inline int io_query(int fd, __u32 io, struct tpio_io_query_args *qa)
{
	memset(qa, 0xcc, sizeof(*qa));
	qa->io = io;
	qa->reserved = 0;
	return ioctl(fd, TPIO_IOC_IO_QUERY, qa);
}

/* POSTs one completion; returns the ioctl's result, *result its outcome. */
static inline int post_one(int fd, __u32 io, __u64 ov, __u32 *result)
{
	struct tpio_completion c = {
		.io = io, .status = 0, .overlapped = ov, .information = ov * 3,
		.result = 0xcccccccc,
	};
	struct tpio_post_args pa = {
		.completions = (uintptr_t)&c, .count = 1,
		.flags = TPIO_POST_RESULTS, .done = 0xcccccccc,
	};
	int ret = ioctl(fd, TPIO_IOC_POST, &pa);

	if (result)
		*result = c.result;
	return ret;
}

static inline int port_wait(int fd, __u64 timeout)
{
	struct tpio_wait_args wa = { .timeout = timeout };

	return ioctl(fd, TPIO_IOC_WAIT, &wa);
}

static inline int port_drain(int fd, __u32 io, __u32 flags, __u64 timeout)
{
	struct tpio_drain_args da = { .timeout = timeout, .io = io,
				      .flags = flags };

	return ioctl(fd, TPIO_IOC_DRAIN, &da);
}

static inline int wake_workers(int fd, __u32 count)
{
	struct tpio_wake_args wa = { .flags = TPIO_WAKE_WORKERS,
				     .count = count };

	return ioctl(fd, TPIO_IOC_WAKE, &wa);
}

/*
 * SETUP and map both regions. The port must be open already (OPEN_PORT),
 * so that the SKIP happens in the test body.
 */
static inline void __port_map(struct __test_metadata *_metadata,
			      struct port *p, __u32 entries, __u32 objects)
{
	int ret;

	memset(&p->sa, 0, sizeof(p->sa));
	p->sa.ring_entries = entries;
	p->sa.max_objects = objects;
	ret = ioctl(p->fd, TPIO_IOC_SETUP, &p->sa);
	ASSERT_EQ(0, ret);
	p->ring = mmap(NULL, p->sa.ring_size, PROT_READ, MAP_SHARED, p->fd,
		       TPIO_OFF_RING);
	ASSERT_NE(MAP_FAILED, p->ring);
	p->shared = mmap(NULL, p->sa.shared_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, p->fd, TPIO_OFF_SHARED);
	ASSERT_NE(MAP_FAILED, p->shared);
}

#define PORT_OPEN(p, entries, objects) do {				\
	OPEN_PORT((p)->fd);						\
	__port_map(_metadata, (p), (entries), (objects));		\
} while (0)

static inline void port_close(struct port *p)
{
	if (p->ring && p->ring != MAP_FAILED)
		munmap(p->ring, p->sa.ring_size);
	if (p->shared && p->shared != MAP_FAILED)
		munmap(p->shared, p->sa.shared_size);
	if (p->fd >= 0)
		close(p->fd);
	p->ring = NULL;
	p->shared = NULL;
	p->fd = -1;
}

/* An ioctl run on its own thread, to probe whether it blocks. */
struct blocked_call {
	pthread_t thread;
	int fd;
	unsigned long req;
	void *arg;
	int ret;
	int err;
};

static inline void *blocked_call_fn(void *arg)
{
	struct blocked_call *c = arg;

	c->ret = ioctl(c->fd, c->req, c->arg);
	c->err = errno;
	return NULL;
}

static inline int blocked_call_start(struct blocked_call *c, int fd,
				     unsigned long req, void *arg)
{
	c->fd = fd;
	c->req = req;
	c->arg = arg;
	c->ret = -2;
	c->err = 0;
	return pthread_create(&c->thread, NULL, blocked_call_fn, c);
}

/* pthread_timedjoin_np: 0 when joined, ETIMEDOUT when still running. */
static inline int join_within(pthread_t t, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

/*
 * A SIGUSR1 handler; without SA_RESTART interrupted waits give EINTR, with
 * it they restart (same absolute timeout) and the caller sees nothing.
 */
static inline void nop_handler(int sig)
{
	(void)sig;
}

static inline int install_handler(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nop_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = flags;
	return sigaction(SIGUSR1, &sa, NULL);
}

static inline int install_eintr_handler(void)
{
	return install_handler(0);
}

/*
 * The module's reference count: every open port file holds one, so it
 * returns to its old value exactly when the port was released. -1 when
 * sysfs does not show it.
 */
static inline long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/tpio/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* A number from the environment (any base strtoul takes), or @def. */
static inline unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoul(s, NULL, 0) : def;
}

/* xorshift64*: a reproducible stream from a printed seed (never 0) */
static inline __u64 rnd(__u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* Waits (polling) until @cond holds or @ms passed; returns the condition. */
#define POLL_UNTIL(cond, ms) ({						\
	__u64 __end = deadline_ms(ms);					\
	int __c;							\
	while (!(__c = !!(cond)) && now_ns() < __end)			\
		usleep(1000);						\
	__c;								\
})

#endif /* TPIO_TEST_H */
