// SPDX-License-Identifier: MIT
/*
 * The "user" transport: the port of uapi/linux/tpio.h implemented
 * in-process, rule for rule as the kernel module does it, so that the two
 * backends behave the same: the word's rules are common/tpio_word.h's, the
 * port's (handles and generations, ring and FIFO arithmetic, arrival,
 * overflow flush, cancel-all, skipped counts, wake order) are
 * common/tpio_port.h's. selftests/lib/portrules checks that both
 * transports give the same results.
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
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "transport.h"
#include "tpio_port.h"

enum { SLOT_FREE, SLOT_LIVE, SLOT_ZOMBIE };

struct uslot {
	__u64 cookie;
	__u16 gen;			/* TPIO_GEN_FIRST..TPIO_GEN_LAST */
	uint32_t skipped;
	uint32_t cancels;		/* cancel-alls: stale overflow entries */
	uint32_t waiters;
	uint32_t state;
};

/* a worker asleep in worker_wait; lives on its stack, linked under lock */
struct usleeper {
	struct tpio_sleeper node;
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
	struct tpio_ovf *ovf;		/* overflow FIFO, lock */
	struct tpio_fifo ovf_fifo;
	__u64 *words;
	uint32_t max_objects;
	struct uslot *slots;
	uint32_t *free_slots;		/* least recently freed first */
	struct tpio_fifo free_fifo;
	struct tpio_sleepers sleepers;	/* the newest is woken first */
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

static uint32_t ring_room(struct uport *u)
{
	/* pairs with the consumers' CAS of head */
	return tpio_p_ring_room(u->tail,
				__atomic_load_n(&u->head, __ATOMIC_ACQUIRE),
				u->entries);
}

static int ring_nonempty(struct uport *u)
{
	return u->tail != __atomic_load_n(&u->head, __ATOMIC_ACQUIRE);
}

/* The ring entry at tail, for the producer (port lock held) to fill. */
static struct tpio_cqe *ring_entry(struct uport *u)
{
	return &u->cqes[tpio_p_ring_at(u->tail, u->entries)];
}

/* Publishes the entry that ring_entry() gave. Port lock held. */
static void ring_push(struct uport *u)
{
	/* pairs with the consumers' load_acquire of tail */
	__atomic_store_n(&u->tail, u->tail + 1, __ATOMIC_RELEASE);
}

static void publish_overflow(struct uport *u)
{
	__atomic_store_n(&u->flags, u->ovf_fifo.count ? TPIO_RING_F_OVERFLOW : 0,
			 __ATOMIC_RELEASE);
}

static struct uslot *lookup(struct uport *u, uint32_t io, int zombie_ok)
{
	struct uslot *s;

	if (!tpio_p_slot_ok(io, u->max_objects))
		return NULL;
	s = &u->slots[TPIO_IO_SLOT(io)];
	if (!tpio_p_gen_ok(io, s->gen) || s->state == SLOT_FREE)
		return NULL;
	if (s->state == SLOT_ZOMBIE && !zombie_ok)
		return NULL;
	return s;
}

/*
 * Moves overflow entries into the ring while it has room, dropping stale
 * ones, at most TPIO_FLUSH_BATCH examined (as the kernel does). Port lock
 * held. True when entries are left that the ring has room for.
 */
static int flush_overflow(struct uport *u)
{
	uint32_t room = ring_room(u), seen = 0;
	enum tpio_p_flush step = TPIO_P_FLUSH_DROP;

	while (seen++ < TPIO_FLUSH_BATCH && u->ovf_fifo.count) {
		struct tpio_ovf *e = &u->ovf[u->ovf_fifo.head];
		struct uslot *s = lookup(u, e->io, 1);

		step = tpio_p_flush_step(tpio_p_ovf_stale(e, s != NULL,
							  s ? s->cancels : 0),
					 room);
		if (step == TPIO_P_FLUSH_STOP)
			break;
		if (step == TPIO_P_FLUSH_MOVE) {
			*ring_entry(u) = e->cqe;
			ring_push(u);
			room--;
		}
		tpio_p_fifo_pop(&u->ovf_fifo, u->entries);
	}
	publish_overflow(u);
	return step != TPIO_P_FLUSH_STOP && u->ovf_fifo.count && room;
}

static void publish_sleepers(struct uport *u)
{
	__atomic_store_n(&u->nsleepers, u->sleepers.count, __ATOMIC_SEQ_CST);
}

static uint32_t wake_sleepers(struct uport *u, uint32_t n)
{
	uint32_t woken = 0;
	struct tpio_sleeper *node;

	for (; woken < n && (node = tpio_p_sleeper_pick(&u->sleepers));
	     woken++) {
		struct usleeper *s = (struct usleeper *)
			((char *)node - offsetof(struct usleeper, node));

		publish_sleepers(u);
		__atomic_store_n(&s->futex, 1, __ATOMIC_RELEASE);
		/* the sleeper takes the lock before it returns: s stays valid */
		futex(&s->futex, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	return woken;
}

/* all counts 0 in a new epoch: entries of the slot's past go stale */
static void word_fresh(struct uport *u, uint32_t slot)
{
	__u64 w = tpio_word_load(&u->words[slot]);

	__atomic_store_n(&u->words[slot], tpio_w_fresh(tpio_w_epoch(w)),
			 __ATOMIC_SEQ_CST);
}

static void free_slot(struct uport *u, uint32_t slot)
{
	struct uslot *s = &u->slots[slot];

	word_fresh(u, slot);
	s->state = SLOT_FREE;
	s->cookie = 0;
	u->free_slots[tpio_p_slot_put(&u->free_fifo, u->max_objects,
				      &s->gen)] = slot;
}

/*
 * cancel_all on the word: pending becomes skipped, the object's overflow
 * entries go stale (dropped when they reach the head). Port lock held.
 */
static void cancel_all(struct uport *u, uint32_t slot)
{
	__u64 w = tpio_word_load(&u->words[slot]);

	while (!__atomic_compare_exchange_n(&u->words[slot], &w,
					    tpio_w_cancel_all(w), 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	tpio_p_cancel_all(w, &u->slots[slot].skipped, &u->slots[slot].cancels);
}

/* frees @u and what it points to */
static void free_tables(struct uport *u)
{
	free(u->cqes);
	free(u->ovf);
	free(u->words);
	free(u->slots);
	free(u->free_slots);
	free(u);
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
	u->free_slots = calloc(max_objects, sizeof(*u->free_slots));
	if (!u->cqes || !u->ovf || !u->words || !u->slots || !u->free_slots) {
		free_tables(u);
		return -ENOMEM;
	}
	for (i = 0; i < max_objects; i++) {
		u->slots[i].gen = TPIO_GEN_FIRST;
		u->free_slots[i] = i;
	}
	u->free_fifo.count = max_objects;
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
	free_tables(u);
	port->priv = NULL;
}

static int u_io_create(struct tpio_port *port, __u64 cookie, uint32_t *io)
{
	struct uport *u = U(port);
	uint32_t slot;

	pthread_mutex_lock(&u->lock);
	if (!u->free_fifo.count) {
		pthread_mutex_unlock(&u->lock);
		return -ENOSPC;
	}
	slot = u->free_slots[tpio_p_fifo_pop(&u->free_fifo, u->max_objects)];
	word_fresh(u, slot);
	u->slots[slot].state = SLOT_LIVE;
	u->slots[slot].cookie = cookie;
	u->slots[slot].skipped = 0;
	u->slots[slot].waiters = 0;
	*io = tpio_p_handle(u->slots[slot].gen, slot);
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
	s->state = SLOT_ZOMBIE;
	if (tpio_p_free_now(1, s->skipped))
		free_slot(u, slot);
	/* drain sleepers of the object leave with ENOENT */
	pthread_cond_broadcast(&u->drain_cv);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* Nothing pending, or a zombie: swallowed by a skipped start, or dropped. */
static __u32 arrive_unqueued(struct uport *u, struct uslot *s, uint32_t slot)
{
	__u32 result = tpio_p_unqueued(&s->skipped);

	if (result == TPIO_POSTED_SKIPPED &&
	    tpio_p_free_now(s->state == SLOT_ZOMBIE, s->skipped))
		free_slot(u, slot);
	return result;
}

/* The arrival rule for one completion. Port lock held. 0, or -EAGAIN (full). */
static int arrive_one(struct uport *u, struct tpio_completion *c)
{
	uint32_t slot = TPIO_IO_SLOT(c->io);
	struct uslot *s = lookup(u, c->io, 1);
	enum tpio_p_dest dest = TPIO_P_FULL;
	struct tpio_ovf *o;
	__u64 w, next;
	int arrive;

	/* freed by an earlier skipped completion of the same batch */
	if (!s) {
		c->result = TPIO_POSTED_DROPPED;
		return 0;
	}
	/*
	 * A zombie only swallows: its cookie may name freed memory, so nothing
	 * of it is queued even if its word says pending (a Start after close).
	 */
	w = tpio_word_load(&u->words[slot]);
	do {
		arrive = s->state == SLOT_ZOMBIE ? 0 : tpio_w_arrive(w, &next);
		if (arrive < 0)	/* the object's queued count is full */
			return -EAGAIN;
		if (!arrive) {
			c->result = arrive_unqueued(u, s, slot);
			return 0;
		}
		/* where it goes is decided before the word changes */
		dest = tpio_p_arrive_to(u->ovf_fifo.count, ring_room(u),
					u->entries);
		if (dest == TPIO_P_FULL)
			return -EAGAIN;
	} while (!__atomic_compare_exchange_n(&u->words[slot], &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	if (dest == TPIO_P_TO_RING) {
		tpio_p_entry(ring_entry(u), s->cookie, slot, tpio_w_epoch(w), c);
		ring_push(u);
	} else {
		o = &u->ovf[tpio_p_fifo_push(&u->ovf_fifo, u->entries)];
		o->io = c->io;
		o->cancels = s->cancels;
		tpio_p_entry(&o->cqe, s->cookie, slot, tpio_w_epoch(w), c);
	}
	c->result = TPIO_POSTED_QUEUED;
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
	publish_overflow(u);
	*done = i;
	if (!i)
		ret = -EAGAIN;
out:
	pthread_mutex_unlock(&u->lock);
	return ret;
}

static int u_worker_wait(struct tpio_port *port, __u64 abs_ns, uint32_t seq,
			 int pending)
{
	struct uport *u = U(port);
	struct usleeper me = { .futex = 0 };
	int more;

	(void)pending;	/* no concurrency control in this transport */
	struct timespec ts = {
		.tv_sec = abs_ns / 1000000000ULL,
		.tv_nsec = abs_ns % 1000000000ULL,
	};
	int woken;

	pthread_mutex_lock(&u->lock);
	/* until the ring holds entries or the overflow FIFO is empty */
	do
		more = flush_overflow(u);
	while (more && !ring_nonempty(u));
	if (ring_nonempty(u)) {
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	if (!abs_ns) {
		pthread_mutex_unlock(&u->lock);
		return -ETIMEDOUT;
	}
	tpio_p_sleeper_add(&u->sleepers, &me.node);
	publish_sleepers(u);
	if (__atomic_load_n(&u->wake_seq, __ATOMIC_SEQ_CST) != seq) {
		/* a poster queued work after the caller looked */
		tpio_p_sleeper_del(&u->sleepers, &me.node);
		publish_sleepers(u);
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
	/* not woken (set under the lock): still among the sleepers */
	woken = __atomic_load_n(&me.futex, __ATOMIC_ACQUIRE);
	if (!woken) {
		tpio_p_sleeper_del(&u->sleepers, &me.node);
		publish_sleepers(u);
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

/* no kernel to see a thread block: the stall detector does instead */
static int u_conc(struct tpio_port *port, struct tpio_conc_args *a)
{
	(void)port;
	(void)a;
	return -EOPNOTSUPP;
}

const struct tpio_transport tpio_transport_user = {
	.name = "user",
	.poll_fd = u_poll_fd,
	.conc = u_conc,
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
