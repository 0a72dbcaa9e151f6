// SPDX-License-Identifier: MIT
/*
 * The port rules, both transports: one fixed sequence of port operations
 * driven through libtpio's transport layer (the backend TPIO_BACKEND
 * names), printed as a transcript and compared with the one committed
 * file, selftests/lib/portrules.expected. The native stage runs it with
 * TPIO_BACKEND=user, the VM stage with TPIO_BACKEND=kmod: both must print
 * the same transcript, so the in-process port and /dev/tpio follow the
 * same rules (common/tpio_port.h, Documentation/kmod.rst).
 *
 * The sequence: handles and their generations (never 0, wrapping past
 * 0xffff to 1), stale handles, FIFO reuse of free slots, a ring that fills
 * and spills into the overflow FIFO until both are full, cancel-all
 * (pending becomes skipped, queued entries go stale by their epoch, stale
 * overflow entries are dropped when they reach the head of the FIFO and
 * still take room until then), zombies, the skipped count saturating at
 * 2^32 - 1, and the order in which sleeping workers are woken (the most
 * recent first, one that left on its own skipped).
 *
 *   portrules [EXPECTED]   prints the transcript; with EXPECTED, exits 1
 *                          unless it matches (the differing lines shown)
 *
 * The expected transcript is the module's (Documentation/kmod.rst has the
 * rules): when a rule changes on purpose, regenerate it on /dev/tpio with
 * "TPIO_BACKEND=kmod portrules > selftests/lib/portrules.expected".
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "transport.h"

static char transcript[1 << 16];
static size_t tlen;

static void say(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(transcript + tlen, sizeof(transcript) - tlen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(transcript) - tlen) {
		fprintf(stderr, "portrules: transcript too long\n");
		exit(2);
	}
	tlen += (size_t)n;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "portrules: %s: %s\n", what, strerror(-ret));
	exit(2);
}

static const char *err(int ret)
{
	static char buf[16];

	switch (ret) {
	case 0: return "0";
	case -ENOENT: return "ENOENT";
	case -EAGAIN: return "EAGAIN";
	case -ENOSPC: return "ENOSPC";
	case -ETIMEDOUT: return "ETIMEDOUT";
	case -EINVAL: return "EINVAL";
	}
	snprintf(buf, sizeof(buf), "%d", ret);
	return buf;
}

static const struct tpio_transport *t;

struct obj {
	const char *name;
	uint32_t io;
};

static void create(struct tpio_port *p, struct obj *o, __u64 cookie)
{
	int ret = t->io_create(p, cookie, &o->io);

	if (ret)
		say("create %s -> %s\n", o->name, err(ret));
	else
		say("create %s -> 0x%08x\n", o->name, o->io);
}

static __u64 word(struct tpio_port *p, const struct obj *o)
{
	return __atomic_load_n(&p->r.words[TPIO_IO_SLOT(o->io)],
			       __ATOMIC_SEQ_CST);
}

static void show_word(struct tpio_port *p, const struct obj *o)
{
	__u64 w = word(p, o);

	say("  %s: pending %u queued %u running %u assoc %u epoch %u%s\n",
	    o->name, tpio_w_pending(w), tpio_w_queued(w), tpio_w_running(w),
	    tpio_w_assoc(w), tpio_w_epoch(w),
	    tpio_w_waiters(w) ? " WAITERS" : "");
}

static void show_ring(struct tpio_port *p)
{
	say("  ring: tail %u head %u flags %#x\n",
	    __atomic_load_n(p->r.tail, __ATOMIC_ACQUIRE),
	    __atomic_load_n(p->r.head, __ATOMIC_ACQUIRE),
	    __atomic_load_n(p->r.flags, __ATOMIC_ACQUIRE));
}

/* StartThreadpoolIo, @n times, on the word as the library does it */
static void start(struct tpio_port *p, const struct obj *o, uint32_t n)
{
	__atomic_fetch_add(&p->r.words[TPIO_IO_SLOT(o->io)],
			   (__u64)n << TPIO_W_PENDING_SHIFT, __ATOMIC_SEQ_CST);
}

static uint32_t next_overlapped = 1;

/* POSTs one completion for each object of @objs, in order */
static void post(struct tpio_port *p, struct obj **objs, uint32_t n)
{
	static const char res[] = "?QSD";
	struct tpio_completion c[16];
	char names[160] = "", results[17];
	uint32_t i, done = 0;
	int ret;

	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		c[i].io = objs[i]->io;
		c[i].status = 0;
		c[i].overlapped = next_overlapped++;
		c[i].information = 100 + i;
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s:%llu", i ? " " : "", objs[i]->name,
			 (unsigned long long)c[i].overlapped);
	}
	ret = t->post(p, c, n, &done);
	for (i = 0; i < done; i++)
		results[i] = c[i].result <= 3 ? res[c[i].result] : '!';
	results[done] = 0;
	say("post %s -> %s done %u%s%s\n", names, err(ret), done,
	    done ? " " : "", results);
}

static void post1(struct tpio_port *p, struct obj *o)
{
	post(p, &o, 1);
}

/* a raw handle: stale, never issued, or out of range */
static void post_raw(struct tpio_port *p, uint32_t io)
{
	struct obj o = { "raw", io };
	uint32_t done = 0;
	struct tpio_completion c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.io = o.io;
	ret = t->post(p, &c, 1, &done);
	say("post 0x%08x -> %s done %u\n", io, err(ret), done);
}

/* Takes what the ring holds, as a consumer does, and says what it is. */
static void consume(struct tpio_port *p, uint32_t max)
{
	uint32_t head = __atomic_load_n(p->r.head, __ATOMIC_ACQUIRE);
	uint32_t tail = __atomic_load_n(p->r.tail, __ATOMIC_ACQUIRE);
	uint32_t n = 0;

	while (head != tail && n < max) {
		const struct tpio_cqe *e = &p->r.cqes[head & p->r.mask];
		__u64 w = __atomic_load_n(&p->r.words[e->slot],
					  __ATOMIC_SEQ_CST);

		say("  take slot %u epoch %u cookie %#llx overlapped %llu info %llu %s\n",
		    e->slot, e->epoch, (unsigned long long)e->cookie,
		    (unsigned long long)e->overlapped,
		    (unsigned long long)e->information,
		    tpio_w_epoch(w) == e->epoch ? "current" : "stale");
		head++;
		n++;
		__atomic_store_n(p->r.head, head, __ATOMIC_RELEASE);
	}
	say("consume -> %u entries\n", n);
}

static void drain(struct tpio_port *p, const struct obj *o, uint32_t flags)
{
	say("drain %s%s -> %s\n", o->name,
	    (flags & TPIO_DRAIN_CANCEL) ? " cancel" : "",
	    err(t->drain(p, o->io, flags, 0)));
}

static void wait_poll(struct tpio_port *p)
{
	say("worker_wait poll -> %s\n",
	    err(t->worker_wait(p, 0, __atomic_load_n(p->r.wake_seq,
						      __ATOMIC_SEQ_CST), 0)));
}

static void setup(struct tpio_port *p, uint32_t entries, uint32_t objects)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->t = t;
	ret = t->setup(p, entries, objects);
	if (ret)
		die("setup", ret);
	say("setup ring %u objects %u\n", entries, objects);
}

static void handles_and_overflow(void)
{
	struct obj a = { "a", 0 }, b = { "b", 0 }, c = { "c", 0 };
	struct obj d = { "d", 0 }, e = { "e", 0 };
	struct obj *aaaa[4] = { &a, &a, &a, &a };
	struct obj *caaa[4] = { &c, &a, &a, &a };
	struct tpio_port p;
	int i;

	say("== handles\n");
	setup(&p, 4, 3);
	create(&p, &a, 0xa0);
	create(&p, &b, 0xb0);
	create(&p, &c, 0xc0);
	create(&p, &d, 0xd0);
	show_word(&p, &a);
	say("close b -> %s\n", err(t->io_close(&p, b.io)));
	say("close b again -> %s\n", err(t->io_close(&p, b.io)));
	post1(&p, &b);
	drain(&p, &b, 0);
	say("wake_io b -> %s\n", err(t->wake_io(&p, b.io)));
	post_raw(&p, 0);
	post_raw(&p, 0x00010003);
	post_raw(&p, 0x00020000);
	create(&p, &d, 0xd0);
	say("close d -> %s\n", err(t->io_close(&p, d.io)));
	create(&p, &d, 0xd1);

	say("== ring and overflow\n");
	start(&p, &a, 10);
	post(&p, aaaa, 4);
	show_ring(&p);
	post(&p, aaaa, 4);
	show_ring(&p);
	show_word(&p, &a);
	post1(&p, &a);
	consume(&p, 2);
	post(&p, aaaa, 2);
	show_ring(&p);
	show_word(&p, &a);
	post1(&p, &a);
	consume(&p, 3);
	wait_poll(&p);
	show_ring(&p);

	say("== cancel\n");
	start(&p, &a, 2);
	drain(&p, &a, TPIO_DRAIN_CANCEL);
	show_word(&p, &a);
	show_ring(&p);
	consume(&p, 8);
	wait_poll(&p);
	consume(&p, 8);
	wait_poll(&p);
	show_ring(&p);
	post(&p, aaaa, 3);
	show_word(&p, &a);

	say("== stale entries keep their room until flushed\n");
	start(&p, &a, 7);
	start(&p, &c, 2);
	post(&p, aaaa, 4);
	post(&p, caaa, 4);
	show_ring(&p);
	drain(&p, &a, TPIO_DRAIN_CANCEL);
	post1(&p, &c);
	consume(&p, 8);
	post1(&p, &c);
	show_ring(&p);
	consume(&p, 8);
	wait_poll(&p);
	show_ring(&p);

	say("== zombie\n");
	start(&p, &c, 2);
	say("close c -> %s\n", err(t->io_close(&p, c.io)));
	say("close c again -> %s\n", err(t->io_close(&p, c.io)));
	drain(&p, &c, 0);
	say("wake_io c -> %s\n", err(t->wake_io(&p, c.io)));
	post1(&p, &c);
	{
		struct obj *cc[2] = { &c, &c };

		post(&p, cc, 2);
	}
	post1(&p, &c);
	say("wake_io c -> %s\n", err(t->wake_io(&p, c.io)));
	create(&p, &e, 0xe0);
	show_word(&p, &e);

	say("== skipped saturates\n");
	/* 16384 * 262143 + 16385 = 2^32 + 1 skipped starts */
	for (i = 0; i < 16384; i++) {
		start(&p, &a, TPIO_W_MAX(PENDING));
		if (t->drain(&p, a.io, TPIO_DRAIN_CANCEL, 0))
			die("drain", -EIO);
	}
	start(&p, &a, 16385);
	drain(&p, &a, TPIO_DRAIN_CANCEL);
	post(&p, aaaa, 3);
	show_word(&p, &a);
	say("close a -> %s\n", err(t->io_close(&p, a.io)));
	post1(&p, &a);
	t->destroy(&p);
}

static void generations(void)
{
	struct obj x = { "x", 0 };
	struct tpio_port p;
	uint32_t i, first = 0;
	int ret;

	say("== generations\n");
	setup(&p, 2, 1);
	for (i = 0; i <= 65536; i++) {
		ret = t->io_create(&p, 0x100 + i, &x.io);
		if (ret)
			die("io_create", ret);
		if (i < 2 || i > 65533)
			say("create #%u -> 0x%08x\n", i, x.io);
		if (!i)
			first = x.io;
		else if (x.io == first && i != 65535)
			say("create #%u repeats the first handle\n", i);
		ret = t->io_close(&p, x.io);
		if (ret)
			die("io_close", ret);
	}
	post_raw(&p, 0);
	post_raw(&p, first);
	t->destroy(&p);
}

/* ---- sleeping workers ---- */

struct sleeper {
	struct tpio_port *p;
	const char *name;
	__u64 timeout_ns;
	int ret;
	int done;		/* atomic */
	pthread_t th;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	uint32_t seq = __atomic_load_n(s->p->r.wake_seq, __ATOMIC_SEQ_CST);

	s->ret = s->p->t->worker_wait(s->p, now_ns() + s->timeout_ns, seq,
					0);
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Waits (up to 20 s) until @cond holds. */
#define WAIT_UNTIL(cond) do {						\
	__u64 until_ = now_ns() + 20000000000ULL;			\
	while (!(cond)) {						\
		if (now_ns() > until_) {				\
			fprintf(stderr, "portrules: timed out: %s\n", #cond); \
			exit(2);					\
		}							\
		usleep(1000);						\
	}								\
} while (0)

static uint32_t waiters(struct tpio_port *p)
{
	return __atomic_load_n(p->r.waiters, __ATOMIC_SEQ_CST);
}

static void sleep_one(struct sleeper *s, struct tpio_port *p,
		      const char *name, __u64 timeout_ns)
{
	uint32_t before = waiters(p);

	s->p = p;
	s->name = name;
	s->timeout_ns = timeout_ns;
	s->done = 0;
	if (pthread_create(&s->th, NULL, sleeper_main, s))
		die("pthread_create", -EAGAIN);
	WAIT_UNTIL(waiters(p) == before + 1 || __atomic_load_n(&s->done, __ATOMIC_SEQ_CST));
	say("%s sleeps: waiters %u\n", name, waiters(p));
}

/* Wakes one sleeper; says which of @s[0..n) returned. */
static void wake_one(struct tpio_port *p, struct sleeper *s, int n)
{
	int ret = t->wake_workers(p, 1), i, who = -1;

	if (ret == 1) {
		for (;;) {
			for (i = 0; i < n; i++)
				if (__atomic_load_n(&s[i].done, __ATOMIC_SEQ_CST) == 1)
					who = i;
			if (who >= 0)
				break;
			usleep(1000);
		}
		s[who].done = 2;
		say("wake_workers 1 -> 1: %s returns %s, waiters %u\n",
		    s[who].name, err(s[who].ret), waiters(p));
	} else {
		say("wake_workers 1 -> %s, waiters %u\n", err(ret), waiters(p));
	}
}

static void lifo(void)
{
	struct sleeper s[5];
	struct tpio_port p;
	int i;

	say("== sleeping workers\n");
	setup(&p, 2, 1);
	sleep_one(&s[0], &p, "w1", 20000000000ULL);
	sleep_one(&s[1], &p, "w2", 20000000000ULL);
	sleep_one(&s[2], &p, "w3", 20000000000ULL);
	wake_one(&p, s, 3);
	/* w4 leaves on its own from the middle of the sleepers */
	sleep_one(&s[3], &p, "w4", 2000000000ULL);
	sleep_one(&s[4], &p, "w5", 20000000000ULL);
	WAIT_UNTIL(__atomic_load_n(&s[3].done, __ATOMIC_SEQ_CST));
	s[3].done = 2;
	say("w4 returns %s, waiters %u\n", err(s[3].ret), waiters(&p));
	wake_one(&p, s, 5);
	wake_one(&p, s, 5);
	wake_one(&p, s, 5);
	wake_one(&p, s, 5);
	for (i = 0; i < 5; i++)
		pthread_join(s[i].th, NULL);
	t->destroy(&p);
}

static int compare(const char *path)
{
	static char want[1 << 16];
	const char *g = transcript, *w = want;
	int line = 1, bad = 0;
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "portrules: %s: %s\n", path, strerror(errno));
		return 1;
	}
	n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = 0;
	while (*g || *w) {
		size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");

		if (gl != wl || memcmp(g, w, gl)) {
			if (bad++ < 20)
				printf("line %d: expected \"%.*s\", got \"%.*s\"\n",
				       line, (int)wl, w, (int)gl, g);
		}
		g += gl + (g[gl] == '\n');
		w += wl + (w[wl] == '\n');
		line++;
	}
	if (bad) {
		printf("portrules: %d line(s) differ from %s (backend %s)\n",
		       bad, path, t->name);
		return 1;
	}
	printf("portrules: the %s backend matches %s (%d lines)\n", t->name,
	       path, line - 1);
	return 0;
}

int main(int argc, char **argv)
{
	t = tpio_transport_get();
	if (!t) {
		fprintf(stderr, "portrules: no transport (TPIO_BACKEND)\n");
		return 2;
	}
	handles_and_overflow();
	generations();
	lifo();
	if (argc < 2) {
		fputs(transcript, stdout);
		return 0;
	}
	return compare(argv[1]);
}
