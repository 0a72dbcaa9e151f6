/* SPDX-License-Identifier: MIT */
/*
 * libtpio's transport layer (Documentation/map.rst): the port of
 * uapi/linux/tpio.h, reached through /dev/tpio (kmod.c) or implemented
 * in-process (user.c), behind one table of functions. This header sees
 * only uapi/ and common/; the engine above uses it, never the reverse.
 */
#ifndef TPIO_TRANSPORT_H
#define TPIO_TRANSPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/tpio.h>
#include "tpio_word.h"

#define TPIO_HIDDEN __attribute__((visibility("hidden")))

/* ---- ring and words, as the consumers see them (both transports) ---- */
struct tpio_ring_view {
	uint32_t *head;			/* consumers' index (CAS) */
	const uint32_t *tail;		/* producer's index, store-release */
	const uint32_t *flags;		/* TPIO_RING_F_* */
	const uint32_t *waiters;	/* worker_wait sleepers now */
	uint32_t *wake_seq;		/* bumped by in-process posters */
	const struct tpio_cqe *cqes;
	uint32_t entries;
	uint32_t mask;
	__u64 *words;		/* one state word per slot */
	uint32_t max_objects;
};

struct tpio_port;

/*
 * A transport: the port through /dev/tpio (kmod) or in-process (user).
 * Functions return 0 or a negative errno (the kernel's errnos).
 */
struct tpio_transport {
	const char *name;
	int (*setup)(struct tpio_port *port, uint32_t ring_entries,
		     uint32_t max_objects);
	void (*destroy)(struct tpio_port *port);
	int (*io_create)(struct tpio_port *port, __u64 cookie, uint32_t *io);
	int (*io_close)(struct tpio_port *port, uint32_t io);
	/* *done = completions applied; -EAGAIN when none fit */
	int (*post)(struct tpio_port *port, struct tpio_completion *c,
		    uint32_t count, uint32_t *done);
	/*
	 * Sleep until woken, @abs_ns, or (the futex rule) *wake_seq != @seq;
	 * 0 when woken or the seq moved, -ETIMEDOUT, -EINTR. @pending: work
	 * that the concurrency value refused the caller waits in the pool's
	 * memory (TPIO_WAIT_PENDING where the module has it; else ignored).
	 */
	int (*worker_wait)(struct tpio_port *port, __u64 abs_ns, uint32_t seq,
			   int pending);
	int (*drain)(struct tpio_port *port, uint32_t io, uint32_t flags,
		     __u64 abs_ns);
	int (*wake_io)(struct tpio_port *port, uint32_t io);
	/* wake up to @count worker_wait sleepers; how many it woke, -errno */
	int (*wake_workers)(struct tpio_port *port, uint32_t count);
	/* the fd the I/O engine polls for posts from elsewhere, or -1 */
	int (*poll_fd)(struct tpio_port *port);
	/*
	 * Concurrency control (TPIO_IOC_CONC) for the calling thread or the
	 * port: @a->op and @a->value in, the counts out; -EOPNOTSUPP where
	 * the transport has none (user, or a module without TPIO_FEAT_CONC).
	 */
	int (*conc)(struct tpio_port *port, struct tpio_conc_args *a);
	/* post() wakes worker_wait sleepers itself (the kernel does) */
	int post_wakes;
};

struct tpio_port {
	const struct tpio_transport *t;
	struct tpio_ring_view r;
	void *priv;
};

/*
 * One TPIO_IOC_CONC command @op on @port (the pools' and the completion
 * ports' one way to it): @a zeroed, the value (TPIO_CONC_SET's, capped at
 * TPIO_CONC_MAX; 0 for the others) set, the counts returned in @a.
 */
static inline int tpio_port_conc(struct tpio_port *port, uint32_t op,
				 uint32_t value, struct tpio_conc_args *a)
{
	memset(a, 0, sizeof(*a));
	a->op = op;
	a->value = value < TPIO_CONC_MAX ? value : TPIO_CONC_MAX;
	return port->t->conc(port, a);
}

/*
 * Room for the calling thread to run by the kernel's counts of @port:
 * active + woken <= value, the caller counted in active if @counted (it
 * is attached and running now), else added. 0 without a value, or where
 * the transport has no control.
 */
static inline int tpio_port_conc_room(struct tpio_port *port, int counted)
{
	struct tpio_conc_args a;

	if (tpio_port_conc(port, TPIO_CONC_QUERY, 0, &a) || !a.value)
		return 0;
	return a.active + a.woken + (counted ? 0 : 1) <= a.value;
}

TPIO_HIDDEN extern const struct tpio_transport tpio_transport_user;
TPIO_HIDDEN extern const struct tpio_transport tpio_transport_kmod;

/* the process's transport (TPIO_BACKEND), NULL when none can be used */
TPIO_HIDDEN const struct tpio_transport *tpio_transport_get(void);
TPIO_HIDDEN int tpio_kmod_probe(char *why, size_t len);
/*
 * A post-only view of another's /dev/tpio port: a dup of @fd, no mappings
 * (post, wake_workers and destroy only); *@first_io is the handle of the
 * first object ever created on a port. 0, -EBADF or -ENOTTY when @fd is
 * not a /dev/tpio port, -errno.
 */
TPIO_HIDDEN int tpio_kmod_attach(struct tpio_port *port, int fd,
				 uint32_t *first_io);

/* a spin-wait hint to the CPU */
static inline void tpio_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline __u64 tpio_word_load(const __u64 *w)
{
	return __atomic_load_n(w, __ATOMIC_SEQ_CST);
}

/* a tiny spinlock for short, rare critical sections */
static inline void tpio_spin_lock(atomic_flag *f)
{
	while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
		tpio_cpu_relax();
}

static inline void tpio_spin_unlock(atomic_flag *f)
{
	atomic_flag_clear_explicit(f, memory_order_release);
}

/*
 * The state word's transitions, one helper each: one atomic RMW (a CAS
 * loop, seq_cst) applying one rule of common/tpio_word.h. Every layer
 * that changes a word does it through these.
 */

/* StartThreadpoolIo: 1 and *out = the new word, or 0 (*out = the word
 * that refused) */
static inline int tpio_word_start(__u64 *word, __u64 *out)
{
	__u64 w = tpio_word_load(word), next;

	do {
		if (!tpio_w_start(w, &next)) {
			*out = w;
			return 0;
		}
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	*out = next;
	return 1;
}

/* CancelThreadpoolIo: 1 and *out = the new word, or 0 (nothing pending) */
static inline int tpio_word_cancel(__u64 *word, __u64 *out)
{
	__u64 w = tpio_word_load(word), next;

	do {
		if (!tpio_w_cancel(w, &next))
			return 0;
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	*out = next;
	return 1;
}

/*
 * The fast path's arrival (post without the transport): 1 and *out = the
 * new word when the word is still of @epoch and something is pending, else
 * 0 and the transport's POST decides.
 */
static inline int tpio_word_arrive(__u64 *word, __u32 epoch, __u64 *out)
{
	__u64 w = tpio_word_load(word), next;

	do {
		if (tpio_w_epoch(w) != epoch || tpio_w_arrive(w, &next) <= 0)
			return 0;
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	*out = next;
	return 1;
}

/* A worker begins an entry of @epoch: 1, or 0 when the entry is stale. */
static inline int tpio_word_begin(__u64 *word, __u32 epoch)
{
	__u64 w = tpio_word_load(word), next;

	do {
		if (!tpio_w_begin(w, epoch, &next))
			return 0;
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	return 1;
}

/* Cancel everything not yet running; returns the word before. */
static inline __u64 tpio_word_cancel_all(__u64 *word)
{
	__u64 w = tpio_word_load(word);

	while (!__atomic_compare_exchange_n(word, &w, tpio_w_cancel_all(w), 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
	return w;
}

/* A callback ends; returns the new word. */
static inline __u64 tpio_word_end(__u64 *word, int associated)
{
	return __atomic_sub_fetch(word, tpio_w_end_delta(associated),
				  __ATOMIC_SEQ_CST);
}

/* DisassociateCurrentThreadFromCallback; returns the new word. */
static inline __u64 tpio_word_disassociate(__u64 *word)
{
	return __atomic_sub_fetch(word, tpio_w_disassoc_delta(),
				  __ATOMIC_SEQ_CST);
}

#endif /* TPIO_TRANSPORT_H */
