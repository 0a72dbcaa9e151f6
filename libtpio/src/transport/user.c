// SPDX-License-Identifier: MIT
/*
 * The "user" transport: the port of uapi/linux/tpio.h implemented
 * in-process, rule for rule as the kernel module does it, so that the two
 * backends behave the same. Every accounting rule is common/tpio_word.h's.
 *
 * Locking: uport->lock is the "port lock". It protects the producer side
 * of the ring (tail, the overflow list, flags), the slot table (skipped,
 * state, generation, free FIFO), the worker sleeper stack and the drain
 * sleeper counts. Consumers take entries without it (CAS on head); state
 * words are changed with atomic RMWs by everybody.
 *
 * Sleeping workers follow the kernel's TPIO_WAIT_SEQ rule: a sleeper is
 * counted in nsleepers (seq_cst store, under the lock) before it reads
 * wake_seq (seq_cst); a poster bumps wake_seq (seq_cst RMW) before it
 * reads nsleepers. Unlike the kernel's POST, post() wakes nobody: the
 * pool decides whom to wake (tpio_pool_wake), which may be the engine's
 * leader rather than a sleeper here.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "transport.h"

enum { SLOT_FREE, SLOT_LIVE, SLOT_ZOMBIE };

struct uslot {
	__u64 cookie;
	uint32_t gen;
	uint32_t skipped;
	uint32_t waiters;
	uint32_t state;
};

/* a worker asleep in worker_wait; lives on its stack, linked under lock */
struct usleeper {
	struct usleeper *next;
	uint32_t futex;			/* 0 asleep, 1 woken */
};

struct uport {
	pthread_mutex_t lock;
	pthread_cond_t drain_cv;	/* drain sleepers, broadcast by wake_io */
	uint32_t head __attribute__((aligned(64)));	/* consumers' CAS */
	uint32_t wake_seq __attribute__((aligned(64)));	/* posters' RMW */
	uint32_t nsleepers;		/* seq_cst store under lock */
	uint32_t tail __attribute__((aligned(64)));	/* store-release, lock */
	uint32_t flags;
	struct tpio_cqe *cqes;
	uint32_t entries;
	struct tpio_cqe *ovf;		/* overflow list, circular, lock */
	uint32_t ovf_first, ovf_count;
	__u64 *words;
	uint32_t max_objects;
	struct uslot *slots;
	uint32_t *free_fifo;		/* least recently freed first */
	uint32_t free_first, free_count;
	struct usleeper *sleepers;	/* LIFO */
};

static struct uport *U(struct tpio_port *p)
{
	return p->priv;
}

static long futex(uint32_t *addr, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

static uint32_t ring_used(struct uport *u)
{
	return u->tail - __atomic_load_n(&u->head, __ATOMIC_ACQUIRE);
}

/* Move overflow entries into the ring while it has room. Port lock held. */
static void flush_overflow(struct uport *u)
{
	uint32_t moved = 0;

	while (u->ovf_count && ring_used(u) + moved < u->entries) {
		u->cqes[(u->tail + moved) & (u->entries - 1)] = u->ovf[u->ovf_first];
		u->ovf_first = (u->ovf_first + 1) & (u->entries - 1);
		u->ovf_count--;
		moved++;
	}
	/* pairs with the consumers' load_acquire of tail */
	if (moved)
		__atomic_store_n(&u->tail, u->tail + moved, __ATOMIC_RELEASE);
	if (!u->ovf_count)
		__atomic_store_n(&u->flags, 0, __ATOMIC_RELEASE);
}

/* Drop the overflow entries of @slot (they became stale). Port lock held. */
static void purge_overflow(struct uport *u, uint32_t slot)
{
	uint32_t mask = u->entries - 1, n = u->ovf_count, kept = 0, i;

	for (i = 0; i < n; i++) {
		struct tpio_cqe e = u->ovf[(u->ovf_first + i) & mask];

		if (e.slot != slot)
			u->ovf[(u->ovf_first + kept++) & mask] = e;
	}
	u->ovf_count = kept;
	if (!kept)
		__atomic_store_n(&u->flags, 0, __ATOMIC_RELEASE);
}

static uint32_t wake_sleepers(struct uport *u, uint32_t n)
{
	uint32_t woken = 0;

	for (; n && u->sleepers; n--, woken++) {
		struct usleeper *s = u->sleepers;

		u->sleepers = s->next;
		__atomic_store_n(&u->nsleepers, u->nsleepers - 1,
				 __ATOMIC_SEQ_CST);
		__atomic_store_n(&s->futex, 1, __ATOMIC_RELEASE);
		/* the sleeper takes the lock before it returns: s stays valid */
		futex(&s->futex, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	return woken;
}

static struct uslot *lookup(struct uport *u, uint32_t io, int zombie_ok)
{
	uint32_t slot = TPIO_IO_SLOT(io);
	struct uslot *s;

	if (slot >= u->max_objects)
		return NULL;
	s = &u->slots[slot];
	if (s->gen != (io >> 16) || s->state == SLOT_FREE)
		return NULL;
	if (s->state == SLOT_ZOMBIE && !zombie_ok)
		return NULL;
	return s;
}

static void free_slot(struct uport *u, uint32_t slot)
{
	struct uslot *s = &u->slots[slot];
	__u64 w = tpio_word_load(&u->words[slot]);

	__atomic_store_n(&u->words[slot], tpio_w_fresh(tpio_w_epoch(w)),
			 __ATOMIC_SEQ_CST);
	s->state = SLOT_FREE;
	s->gen = (s->gen + 1) & 0xffff;
	s->cookie = 0;
	u->free_fifo[(u->free_first + u->free_count) % u->max_objects] = slot;
	u->free_count++;
}

/* cancel_all on the word; pending becomes skipped. Port lock held. */
static void cancel_all(struct uport *u, uint32_t slot)
{
	__u64 w = tpio_word_load(&u->words[slot]);

	while (!__atomic_compare_exchange_n(&u->words[slot], &w,
					    tpio_w_cancel_all(w), 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	u->slots[slot].skipped += tpio_w_pending(w);
	purge_overflow(u, slot);
}

static int u_setup(struct tpio_port *port, uint32_t ring_entries,
		   uint32_t max_objects)
{
	struct uport *u;
	pthread_condattr_t ca;
	uint32_t i;

	if (ring_entries < TPIO_RING_MIN || ring_entries > TPIO_RING_MAX ||
	    (ring_entries & (ring_entries - 1)) || !max_objects ||
	    max_objects > TPIO_OBJECTS_MAX)
		return -EINVAL;
	u = aligned_alloc(64, sizeof(*u));
	if (!u)
		return -ENOMEM;
	memset(u, 0, sizeof(*u));
	u->entries = ring_entries;
	u->max_objects = max_objects;
	u->cqes = calloc(ring_entries, sizeof(*u->cqes));
	u->ovf = calloc(ring_entries, sizeof(*u->ovf));
	u->words = calloc(max_objects, sizeof(*u->words));
	u->slots = calloc(max_objects, sizeof(*u->slots));
	u->free_fifo = calloc(max_objects, sizeof(*u->free_fifo));
	if (!u->cqes || !u->ovf || !u->words || !u->slots || !u->free_fifo) {
		free(u->cqes);
		free(u->ovf);
		free(u->words);
		free(u->slots);
		free(u->free_fifo);
		free(u);
		return -ENOMEM;
	}
	for (i = 0; i < max_objects; i++)
		u->free_fifo[i] = i;
	u->free_count = max_objects;
	pthread_mutex_init(&u->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->drain_cv, &ca);
	pthread_condattr_destroy(&ca);

	port->priv = u;
	port->r.head = &u->head;
	port->r.tail = &u->tail;
	port->r.flags = &u->flags;
	port->r.waiters = &u->nsleepers;
	port->r.wake_seq = &u->wake_seq;
	port->r.cqes = u->cqes;
	port->r.entries = ring_entries;
	port->r.mask = ring_entries - 1;
	port->r.words = u->words;
	port->r.max_objects = max_objects;
	return 0;
}

static void u_destroy(struct tpio_port *port)
{
	struct uport *u = U(port);

	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->drain_cv);
	free(u->cqes);
	free(u->ovf);
	free(u->words);
	free(u->slots);
	free(u->free_fifo);
	free(u);
	port->priv = NULL;
}

static int u_io_create(struct tpio_port *port, __u64 cookie, uint32_t *io)
{
	struct uport *u = U(port);
	uint32_t slot;
	__u64 w;

	pthread_mutex_lock(&u->lock);
	if (!u->free_count) {
		pthread_mutex_unlock(&u->lock);
		return -ENOSPC;
	}
	slot = u->free_fifo[u->free_first];
	u->free_first = (u->free_first + 1) % u->max_objects;
	u->free_count--;
	w = tpio_word_load(&u->words[slot]);
	__atomic_store_n(&u->words[slot], tpio_w_fresh(tpio_w_epoch(w)),
			 __ATOMIC_SEQ_CST);
	u->slots[slot].state = SLOT_LIVE;
	u->slots[slot].cookie = cookie;
	u->slots[slot].skipped = 0;
	u->slots[slot].waiters = 0;
	*io = (u->slots[slot].gen << 16) | slot;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int u_io_close(struct tpio_port *port, uint32_t io)
{
	struct uport *u = U(port);
	struct uslot *s;
	uint32_t slot = TPIO_IO_SLOT(io);

	pthread_mutex_lock(&u->lock);
	s = lookup(u, io, 0);
	if (!s) {
		pthread_mutex_unlock(&u->lock);
		return -ENOENT;
	}
	cancel_all(u, slot);
	if (!s->skipped)
		free_slot(u, slot);
	else
		s->state = SLOT_ZOMBIE;
	/* drain sleepers of the object leave with ENOENT */
	pthread_cond_broadcast(&u->drain_cv);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* The arrival rule for one completion. Port lock held. 0, or -EAGAIN (full). */
static int arrive_one(struct uport *u, struct tpio_completion *c)
{
	uint32_t slot = TPIO_IO_SLOT(c->io);
	struct uslot *s = &u->slots[slot];
	__u64 w = tpio_word_load(&u->words[slot]), next;
	struct tpio_cqe e;

	/*
	 * A zombie only swallows: its cookie may name freed memory, so nothing
	 * of it is queued even if its word says pending (a Start after close).
	 */
	for (;;) {
		int arrive = s->state == SLOT_ZOMBIE ? 0 :
			     tpio_w_arrive(w, &next);

		if (!arrive)
			break;
		if (arrive < 0)	/* the object's queued count is full */
			return -EAGAIN;
		/* afterwards: overflow list non-empty implies the ring is full */
		if (u->ovf_count && ring_used(u) < u->entries)
			flush_overflow(u);
		if (u->ovf_count >= u->entries && ring_used(u) >= u->entries)
			return -EAGAIN;
		if (!__atomic_compare_exchange_n(&u->words[slot], &w, next, 0,
						 __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST))
			continue;
		e.cookie = s->cookie;
		e.overlapped = c->overlapped;
		e.information = c->information;
		e.status = c->status;
		e.slot = slot;
		e.epoch = tpio_w_epoch(w);
		if (!u->ovf_count && ring_used(u) < u->entries) {
			u->cqes[u->tail & (u->entries - 1)] = e;
			/* pairs with the consumers' load_acquire of tail */
			__atomic_store_n(&u->tail, u->tail + 1, __ATOMIC_RELEASE);
		} else {
			u->ovf[(u->ovf_first + u->ovf_count) & (u->entries - 1)] = e;
			u->ovf_count++;
			__atomic_store_n(&u->flags, TPIO_RING_F_OVERFLOW,
					 __ATOMIC_RELEASE);
		}
		c->result = TPIO_POSTED_QUEUED;
		return 0;
	}
	if (s->skipped) {
		s->skipped--;
		c->result = TPIO_POSTED_SKIPPED;
		if (s->state == SLOT_ZOMBIE && !s->skipped)
			free_slot(u, slot);
	} else {
		c->result = TPIO_POSTED_DROPPED;
	}
	return 0;
}

static int u_post(struct tpio_port *port, struct tpio_completion *c,
		  uint32_t count, uint32_t *done)
{
	struct uport *u = U(port);
	uint32_t i;
	int ret = 0;

	*done = 0;
	if (!count || count > TPIO_POST_MAX)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	for (i = 0; i < count; i++) {
		if (c[i].pad) {
			ret = -EINVAL;
			goto out;
		}
		if (!lookup(u, c[i].io, 1)) {
			ret = -ENOENT;
			goto out;
		}
	}
	flush_overflow(u);
	for (i = 0; i < count; i++) {
		if (arrive_one(u, &c[i]))
			break;
	}
	*done = i;
	if (!i)
		ret = -EAGAIN;
out:
	pthread_mutex_unlock(&u->lock);
	return ret;
}

static int u_worker_wait(struct tpio_port *port, __u64 abs_ns, uint32_t seq)
{
	struct uport *u = U(port);
	struct usleeper me = { .futex = 0 };
	struct timespec ts = {
		.tv_sec = abs_ns / 1000000000ULL,
		.tv_nsec = abs_ns % 1000000000ULL,
	};
	int woken;

	pthread_mutex_lock(&u->lock);
	flush_overflow(u);
	if (ring_used(u)) {
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	if (!abs_ns) {
		pthread_mutex_unlock(&u->lock);
		return -ETIMEDOUT;
	}
	me.next = u->sleepers;
	u->sleepers = &me;
	__atomic_store_n(&u->nsleepers, u->nsleepers + 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&u->wake_seq, __ATOMIC_SEQ_CST) != seq) {
		/* a poster queued work after the caller looked */
		u->sleepers = me.next;
		__atomic_store_n(&u->nsleepers, u->nsleepers - 1,
				 __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	pthread_mutex_unlock(&u->lock);

	while (!__atomic_load_n(&me.futex, __ATOMIC_ACQUIRE)) {
		long r = futex(&me.futex, FUTEX_WAIT_BITSET_PRIVATE, 0,
			       abs_ns == TPIO_INFINITE ? NULL : &ts);

		if (r && errno == ETIMEDOUT)
			break;
	}

	pthread_mutex_lock(&u->lock);
	woken = __atomic_load_n(&me.futex, __ATOMIC_ACQUIRE);
	if (!woken) {
		struct usleeper **pp = &u->sleepers;

		while (*pp && *pp != &me)
			pp = &(*pp)->next;
		if (*pp) {
			*pp = me.next;
			__atomic_store_n(&u->nsleepers, u->nsleepers - 1,
					 __ATOMIC_SEQ_CST);
		}
	}
	pthread_mutex_unlock(&u->lock);
	return woken ? 0 : -ETIMEDOUT;
}

static int u_drain(struct tpio_port *port, uint32_t io, uint32_t flags,
		   __u64 abs_ns)
{
	struct uport *u = U(port);
	uint32_t slot = TPIO_IO_SLOT(io);
	struct timespec ts = {
		.tv_sec = abs_ns / 1000000000ULL,
		.tv_nsec = abs_ns % 1000000000ULL,
	};
	struct uslot *s;
	int ret = 0;

	if (flags & ~(TPIO_DRAIN_CANCEL | TPIO_DRAIN_GROUP | TPIO_DRAIN_SELF))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	s = lookup(u, io, 0);
	if (!s) {
		pthread_mutex_unlock(&u->lock);
		return -ENOENT;
	}
	if (flags & TPIO_DRAIN_CANCEL) {
		cancel_all(u, slot);
		pthread_cond_broadcast(&u->drain_cv);
	}
	s->waiters++;
	for (;;) {
		__u64 w;

		/* closed meanwhile: the word may belong to another object */
		if (lookup(u, io, 0) != s) {
			ret = -ENOENT;
			break;
		}
		/*
		 * Set WAITERS, then re-read: a transition that drains the
		 * object after this RMW sees WAITERS and calls wake_io, which
		 * needs the port lock we hold until cond_wait releases it.
		 */
		__atomic_fetch_or(&u->words[slot], TPIO_W_WAITERS,
				  __ATOMIC_SEQ_CST);
		w = tpio_word_load(&u->words[slot]);
		if (tpio_w_drained(w, flags & (TPIO_DRAIN_GROUP | TPIO_DRAIN_SELF)))
			break;
		if (!abs_ns) {
			ret = -ETIMEDOUT;
			break;
		}
		if (abs_ns == TPIO_INFINITE)
			pthread_cond_wait(&u->drain_cv, &u->lock);
		else if (pthread_cond_timedwait(&u->drain_cv, &u->lock, &ts) ==
			 ETIMEDOUT) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	/* after a close the slot's counts were reset for its next object */
	if (ret != -ENOENT && !--s->waiters)
		__atomic_fetch_and(&u->words[slot], ~TPIO_W_WAITERS,
				   __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&u->lock);
	return ret;
}

static int u_wake_io(struct tpio_port *port, uint32_t io)
{
	struct uport *u = U(port);
	int ret = 0;

	pthread_mutex_lock(&u->lock);
	if (lookup(u, io, 1))
		pthread_cond_broadcast(&u->drain_cv);
	else
		ret = -ENOENT;
	pthread_mutex_unlock(&u->lock);
	return ret;
}

static int u_wake_workers(struct tpio_port *port, uint32_t count)
{
	struct uport *u = U(port);
	uint32_t woken;

	if (!count)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	woken = wake_sleepers(u, count);
	pthread_mutex_unlock(&u->lock);
	return (int)woken;
}

static int u_poll_fd(struct tpio_port *port)
{
	(void)port;
	return -1;
}

const struct tpio_transport tpio_transport_user = {
	.name = "user",
	.poll_fd = u_poll_fd,
	.setup = u_setup,
	.destroy = u_destroy,
	.io_create = u_io_create,
	.io_close = u_io_close,
	.post = u_post,
	.worker_wait = u_worker_wait,
	.drain = u_drain,
	.wake_io = u_wake_io,
	.wake_workers = u_wake_workers,
};
