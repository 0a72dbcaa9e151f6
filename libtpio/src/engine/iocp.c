// SPDX-License-Identifier: MIT
/*
 * Completion ports (CreateIoCompletionPort ... GetQueuedCompletionStatusEx;
 * Documentation/contract.rst, section 12): a port of the transport (a
 * /dev/tpio port with kmod, the in-process port with user) used directly,
 * without a pool: the threads that call GetQueuedCompletionStatus take the
 * entries from its ring themselves.
 *
 * Objects of the port. Each port entry belongs to an object (a slot) whose
 * state word applies the arrival rule (common/tpio_word.h): a completion
 * is queued only while the object has pending > 0. A completion port has
 * no StartThreadpoolIo, so every object of it holds a credit of CREDIT
 * pending arrivals, given at its creation and given back as entries are
 * taken out (queued - k, pending + k: one CAS per run of k entries of one
 * object in a batch). An object's queue is thus bounded by CREDIT, the
 * word's own bound on queued entries.
 *
 *   the post object   created first (slot 0, generation TPIO_GEN_FIRST, so
 *                     another process holding the fd can name it):
 *                     PostQueuedCompletionStatus's packets. The entry has
 *                     no room for (key, overlapped, bytes, status) next to
 *                     the object's cookie, but a posted packet has no
 *                     status (it is always a success): overlapped =
 *                     lpOverlapped, information = the key, status = the
 *                     byte count.
 *   an association    one per associated fd, its cookie the completion key:
 *                     overlapped, information = bytes, status = the I/O's
 *                     Win32 status, as the I/O engine completes it.
 *
 * An association ends when its fd is closed with CloseHandle: the credit
 * is taken back (pending = 0, later arrivals are dropped), the entries
 * already queued are still dequeued, and the object is closed when the
 * last of them is taken (or at once when none wait).
 *
 * Dequeue: the ring's consumer protocol (scheduler.c): copy entries, CAS
 * head. No system call while entries are in the ring; a thread sleeps in
 * the transport's worker_wait (TPIO_IOC_WAIT with kmod), which the
 * transport's POST wakes (kmod) or the poster wakes (user). The overflow
 * list is moved into the ring by a worker_wait with no timeout.
 *
 * Concurrency: at most p->concurrency threads are "active" on the port: a
 * thread becomes active when it dequeues and stays so until it calls a
 * dequeue again (of any port) or exits. A thread over the limit waits
 * (p->cv) even while entries are there. Without the kernel, a thread that
 * blocks elsewhere still counts: the library cannot see it block. With
 * the module's concurrency control (kmod, TPIO_FEAT_CONC: p->kconc) the
 * port's value is set in the kernel and a dequeuing thread attaches itself
 * to the port (and detaches from the port it dequeued from before, as an
 * NT thread counts on the last port it dequeued from); a thread over the
 * library's count then asks the kernel's counts, which do not count
 * threads that block, and waits, if it must, in the port's WAIT, where the
 * kernel releases it when an active thread blocks (admission_sleep).
 *
 * Lifetime: struct tpio_iocp is type-stable (kept on a free list, never
 * returned to the system); refs counts the handle, the associations,
 * the threads active on it and each call in progress; an I/O in flight
 * names it with its incarnation (inc) and takes a reference only if the
 * port is still that incarnation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine.h"

#define CREDIT		((__u64)TPIO_W_MAX(QUEUED))
#define POST_COOKIE	0x54504f5354ULL		/* "TPOST" */
#define MIN_RING	4096
#define TAKE_BATCH	64

struct iocp_slot {
	_Atomic int closing;		/* the association ended */
	uint32_t handle;
};

struct tpio_iocp {
	_Atomic uint32_t refs;		/* 0: free */
	_Atomic uint32_t inc;		/* incarnation */
	struct tpio_iocp *next_free;
	struct tpio_port port;
	int remote;			/* post-only (tpio_iocp_attach_fd) */
	uint32_t post_io;
	uint32_t concurrency;
	_Atomic int closed;
	_Atomic uint32_t active;
	_Atomic uint32_t adm_waiters;
	_Atomic uint32_t adm_ksleepers;	/* admission waits in the kernel */
	int kconc;			/* the kernel's value is set */
	pthread_mutex_t mu;		/* object creation, admission waits */
	pthread_cond_t cv;		/* admission and close, CLOCK_MONOTONIC */
	struct iocp_slot *slots;	/* [max_objects] */
};

struct tpio_iocp_assoc {
	struct tpio_iocp *port;		/* one reference */
	dev_t dev;			/* the file, to tell a reused fd number */
	ino_t ino;
	uint32_t inc;
	uint32_t handle;
	_Atomic uint8_t modes;		/* SetFileCompletionNotificationModes */
};

static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tpio_iocp *free_list;

/* ---- lifetime ---- */

static void iocp_destroy(struct tpio_iocp *p)
{
	p->port.t->destroy(&p->port);
	free(p->slots);
	p->slots = NULL;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	atomic_fetch_add(&p->inc, 1);
	pthread_mutex_lock(&free_mu);
	p->next_free = free_list;
	free_list = p;
	pthread_mutex_unlock(&free_mu);
}

void tpio_iocp_get(struct tpio_iocp *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void tpio_iocp_put(struct tpio_iocp *p)
{
	if (atomic_fetch_sub(&p->refs, 1) == 1)
		iocp_destroy(p);
}

/* A reference to @p if it is still incarnation @inc: 1, else 0. */
static int iocp_tryget(struct tpio_iocp *p, uint32_t inc)
{
	uint32_t r = atomic_load(&p->refs);

	do {
		if (!r)
			return 0;
	} while (!atomic_compare_exchange_weak(&p->refs, &r, r + 1));
	if (atomic_load(&p->inc) != inc) {
		tpio_iocp_put(p);
		return 0;
	}
	return 1;
}

static struct tpio_iocp *iocp_alloc(void)
{
	struct tpio_iocp *p;
	pthread_condattr_t ca;

	pthread_mutex_lock(&free_mu);
	p = free_list;
	if (p)
		free_list = p->next_free;
	pthread_mutex_unlock(&free_mu);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
	}
	p->next_free = NULL;
	p->remote = 0;
	p->slots = NULL;
	atomic_store(&p->closed, 0);
	atomic_store(&p->active, 0);
	atomic_store(&p->adm_waiters, 0);
	atomic_store(&p->adm_ksleepers, 0);
	p->kconc = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	return p;
}

/* back to the free list without a port (creation failed) */
static void iocp_unalloc(struct tpio_iocp *p)
{
	free(p->slots);
	p->slots = NULL;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_lock(&free_mu);
	p->next_free = free_list;
	free_list = p;
	pthread_mutex_unlock(&free_mu);
}

/* Give a new object of the port its credit. */
static void credit(struct tpio_iocp *p, uint32_t slot)
{
	__atomic_fetch_add(&p->port.r.words[slot], CREDIT * TPIO_W_ONE(PENDING),
			   __ATOMIC_SEQ_CST);
}

int tpio_iocp_create(uint32_t concurrency, struct tpio_iocp **out)
{
	const struct tpio_transport *t = tpio_transport_get();
	uint32_t ring, objects, slot;
	struct tpio_iocp *p;
	int ret;

	if (!t)
		return -EOPNOTSUPP;
	p = iocp_alloc();
	if (!p)
		return -ENOMEM;
	tpio_config_port(&ring, &objects);
	if (ring < MIN_RING)
		ring = MIN_RING;
	p->port.t = t;
	ret = t->setup(&p->port, ring, objects);
	if (ret) {
		iocp_unalloc(p);
		return ret;
	}
	p->slots = calloc(objects, sizeof(*p->slots));
	ret = p->slots ? t->io_create(&p->port, POST_COOKIE, &p->post_io) :
			 -ENOMEM;
	if (ret) {
		t->destroy(&p->port);
		iocp_unalloc(p);
		return ret;
	}
	slot = TPIO_IO_SLOT(p->post_io);
	p->slots[slot].handle = p->post_io;
	credit(p, slot);
	p->concurrency = concurrency ? concurrency : tpio_config()->cpus;
	if (!p->concurrency)
		p->concurrency = 1;
	if (tpio_config()->kernel_conc) {
		struct tpio_conc_args a;

		p->kconc = !tpio_port_conc(&p->port, TPIO_CONC_SET,
					   p->concurrency, &a);
	}
	atomic_store(&p->refs, 1);
	*out = p;
	return 0;
}

int tpio_iocp_attach_fd(int fd, struct tpio_iocp **out)
{
	struct tpio_iocp *p = iocp_alloc();
	int ret;

	if (!p)
		return -ENOMEM;
	/* the owner's post object: its first object (see above) */
	ret = tpio_kmod_attach(&p->port, fd, &p->post_io);
	if (ret) {
		iocp_unalloc(p);
		return ret;
	}
	p->remote = 1;
	p->concurrency = 1;
	atomic_store(&p->refs, 1);
	*out = p;
	return 0;
}

int tpio_iocp_fd(struct tpio_iocp *p)
{
	int fd = p->port.t->poll_fd(&p->port);

	return fd < 0 ? -EOPNOTSUPP : fd;
}

/* ---- posting ---- */

/* Entries went into the ring: wake a sleeper where the transport does not. */
static void post_wake(struct tpio_iocp *p)
{
	if (p->port.t->post_wakes)
		return;
	__atomic_fetch_add(p->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(p->port.r.waiters, __ATOMIC_SEQ_CST))
		p->port.t->wake_workers(&p->port, 1);
}

/* One completion through the transport: 0, -EAGAIN (no room), -EPIPE
 * (dropped: the object has no credit), -errno. */
static int post_one(struct tpio_iocp *p, struct tpio_completion *c)
{
	uint32_t done = 0;
	int ret;

	c->result = 0;
	c->pad = 0;
	ret = p->port.t->post(&p->port, c, 1, &done);
	if (ret)
		return ret;
	if (done != 1)
		return -EAGAIN;
	if (c->result != TPIO_POSTED_QUEUED)
		return -EPIPE;
	post_wake(p);
	return 0;
}

int tpio_iocp_post(struct tpio_iocp *p, ULONG_PTR key, __u64 overlapped,
		   DWORD bytes)
{
	struct tpio_completion c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.io = p->post_io;
	c.overlapped = overlapped;
	c.information = key;
	c.status = bytes;
	ret = post_one(p, &c);
	/* the post object's credit is spent: CREDIT packets wait */
	return ret == -EPIPE ? -EAGAIN : ret;
}

int tpio_iocp_deliver(const struct tpio_target *t, __u64 overlapped,
		      DWORD status, ULONG_PTR bytes)
{
	struct tpio_iocp *p = t->iocp;
	struct timespec ts = { 0, 1000000 };
	struct tpio_completion c;
	uint32_t slot = TPIO_IO_SLOT(t->handle);
	int ret;

	if (!iocp_tryget(p, t->epoch))
		return 0;	/* the port is gone: nobody can dequeue */
	memset(&c, 0, sizeof(c));
	c.io = t->handle;
	c.status = status;
	c.overlapped = overlapped;
	c.information = bytes;
	for (;;) {
		ret = post_one(p, &c);
		if (ret == -EPIPE && !atomic_load(&p->slots[slot].closing))
			ret = -EAGAIN;	/* the object's queue is full */
		if (ret != -EAGAIN || atomic_load(&p->closed))
			break;
		/* never lost: wait for a dequeue to make room */
		nanosleep(&ts, NULL);
	}
	tpio_iocp_put(p);
	return ret == -EPIPE || ret == -ENOENT ? 0 : ret;
}

/* ---- associations ---- */

/* Take the object's credit back; close it when nothing waits in it. */
static void object_end(struct tpio_iocp *p, uint32_t handle)
{
	uint32_t slot = TPIO_IO_SLOT(handle);
	__u64 *word = &p->port.r.words[slot];
	__u64 w = tpio_word_load(word), next;

	atomic_store(&p->slots[slot].closing, 1);
	do {
		next = w - (__u64)tpio_w_pending(w) * TPIO_W_ONE(PENDING);
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	if (!tpio_w_queued(next))
		p->port.t->io_close(&p->port, handle);
}

int tpio_iocp_associate(struct tpio_iocp *p, int fd, ULONG_PTR key)
{
	struct tpio_fd *f = tpio_fd_get(fd, 1);
	struct tpio_iocp_assoc *a, *none = NULL;
	struct stat st;
	uint32_t h, slot;
	int ret;

	if (p->remote)
		return -EOPNOTSUPP;
	if (!f || fstat(fd, &st) < 0)
		return -EINVAL;
	a = atomic_load(&f->assoc);
	/* the fd was closed with close(2) and its number reused: end it */
	if (a && (a->dev != st.st_dev || a->ino != st.st_ino))
		tpio_iocp_fd_closed(fd);
	if (atomic_load(&f->io) || atomic_load(&f->assoc))
		return -EEXIST;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	pthread_mutex_lock(&p->mu);
	ret = p->port.t->io_create(&p->port, key, &h);
	if (!ret) {
		slot = TPIO_IO_SLOT(h);
		atomic_store(&p->slots[slot].closing, 0);
		p->slots[slot].handle = h;
		credit(p, slot);
	}
	pthread_mutex_unlock(&p->mu);
	if (ret) {
		free(a);
		return ret;
	}
	tpio_iocp_get(p);
	a->port = p;
	a->inc = atomic_load(&p->inc);
	a->handle = h;
	if (!atomic_compare_exchange_strong(&f->assoc, &none, a)) {
		object_end(p, h);
		tpio_iocp_put(p);
		free(a);
		return -EEXIST;
	}
	return 0;
}

void tpio_iocp_fd_closed(int fd)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);
	struct tpio_iocp_assoc *a;

	if (!f || !atomic_load(&f->assoc))
		return;
	a = atomic_exchange(&f->assoc, NULL);
	if (!a)
		return;
	object_end(a->port, a->handle);
	tpio_iocp_put(a->port);
	free(a);
}

int tpio_iocp_target(int fd, struct tpio_target *to, int *skip)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);
	struct tpio_iocp_assoc *a = f ? atomic_load(&f->assoc) : NULL;

	if (!a)
		return 0;
	to->pool = NULL;
	to->io = NULL;
	to->iocp = a->port;
	to->handle = a->handle;
	to->epoch = a->inc;
	*skip = !!(atomic_load(&a->modes) & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
	return 1;
}

int tpio_iocp_set_modes(int fd, uint8_t modes)
{
	struct tpio_fd *f = tpio_fd_get(fd, 0);
	struct tpio_iocp_assoc *a = f ? atomic_load(&f->assoc) : NULL;

	if (!a)
		return -ENOENT;
	atomic_store(&a->modes, modes);
	return 0;
}

/* ---- concurrency ---- */

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static __thread struct tpio_iocp *tl_port;	/* where this thread counts */

/* A reservation of one active thread: 1, or 0 at the limit. */
static int admit(struct tpio_iocp *p)
{
	uint32_t a = atomic_load(&p->active);

	do {
		if (a >= p->concurrency)
			return 0;
	} while (!atomic_compare_exchange_weak(&p->active, &a, a + 1));
	return 1;
}

static void unadmit(struct tpio_iocp *p)
{
	atomic_fetch_sub(&p->active, 1);
	if (atomic_load(&p->adm_waiters)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static void tl_exit(void *v)
{
	struct tpio_iocp *p = v;

	unadmit(p);
	/* a sleeper the kernel holds back may take the place now */
	if (atomic_load(&p->adm_ksleepers))
		p->port.t->wake_workers(&p->port, 1);
	tpio_iocp_put(p);
}

/*
 * The kernel's concurrency control: the port this thread is attached to
 * (one reference), NULL when none. A thread attaches at its first dequeue
 * on a port that has the control, and detaches when it dequeues from
 * another port or exits, so that it counts only on the port it last
 * dequeued from, as in NT (and a thread that runs another port's packets
 * never holds this port's value). An attachment the kernel refuses (the
 * thread's TPIO_CONC_TASK_MAX, pool workers' attachments included, or the
 * port's TPIO_CONC_WORKERS_MAX) leaves the thread to the library's count.
 */
static __thread struct tpio_iocp *tl_att;
static __thread struct tpio_iocp *tl_att_refused;
static __thread uint32_t tl_att_refused_inc;
static pthread_key_t att_key;

static void att_detach(void)
{
	struct tpio_iocp *p = tl_att;
	struct tpio_conc_args a;

	if (!p)
		return;
	tpio_port_conc(&p->port, TPIO_CONC_DETACH, 0, &a);
	tl_att = NULL;
	pthread_setspecific(att_key, NULL);
	tpio_iocp_put(p);
}

static void att_exit(void *v)
{
	(void)v;
	att_detach();
}

/* The calling thread is counted by @p's kernel counts: 1, or 0. */
static int att_attach(struct tpio_iocp *p)
{
	struct tpio_conc_args a;

	if (tl_att == p)
		return 1;
	if (!p->kconc)
		return 0;
	if (tl_att_refused == p &&
	    tl_att_refused_inc == atomic_load(&p->inc))
		return 0;
	att_detach();
	if (tpio_port_conc(&p->port, TPIO_CONC_ATTACH, 0, &a)) {
		tl_att_refused = p;
		tl_att_refused_inc = atomic_load(&p->inc);
		return 0;
	}
	tpio_iocp_get(p);
	tl_att = p;
	pthread_setspecific(att_key, p);
	return 1;
}

static void tl_init(void)
{
	pthread_key_create(&tl_key, tl_exit);
	pthread_key_create(&att_key, att_exit);
}

/* The calling thread no longer counts on the port it dequeued from. */
static void release_thread(void)
{
	struct tpio_iocp *p = tl_port;

	if (!p)
		return;
	tl_port = NULL;
	pthread_setspecific(tl_key, NULL);
	unadmit(p);
	tpio_iocp_put(p);
}

static void count_thread(struct tpio_iocp *p)
{
	tpio_iocp_get(p);
	tl_port = p;
	pthread_setspecific(tl_key, p);
}

/* Wait until the port admits one more thread, @abs passes or it closes:
 * 0 when admitted (reserved), -ETIMEDOUT, -EPIPE. */
static int admission_wait(struct tpio_iocp *p, __u64 abs)
{
	struct timespec ts = {
		.tv_sec = abs / 1000000000ULL,
		.tv_nsec = abs % 1000000000ULL,
	};
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->adm_waiters, 1);
	for (;;) {
		if (atomic_load(&p->closed)) {
			ret = -EPIPE;
			break;
		}
		if (admit(p))
			break;
		if (!abs) {
			ret = -ETIMEDOUT;
			break;
		}
		if (abs == TPIO_INFINITE) {
			pthread_cond_wait(&p->cv, &p->mu);
		} else if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) ==
			   ETIMEDOUT) {
			if (!admit(p))
				ret = -ETIMEDOUT;
			break;
		}
	}
	atomic_fetch_sub(&p->adm_waiters, 1);
	pthread_mutex_unlock(&p->mu);
	return ret;
}

/*
 * admission_wait for an attached thread: the library's count is full, but
 * the kernel's may not be (threads that dequeued are blocked): take a
 * place beyond the count, or sleep in the port's WAIT, from which the
 * kernel releases the newest sleeper when an active thread blocks (or
 * exits), entries waiting. 0 when admitted (reserved), -ETIMEDOUT, -EPIPE.
 */
static int admission_sleep(struct tpio_iocp *p, __u64 abs)
{
	uint32_t seq;
	int ret;

	for (;;) {
		if (atomic_load(&p->closed))
			return -EPIPE;
		seq = __atomic_load_n(p->port.r.wake_seq, __ATOMIC_SEQ_CST);
		if (admit(p))
			return 0;
		/* the caller is attached and running: counted in active */
		if (tpio_port_conc_room(&p->port, 1)) {
			atomic_fetch_add(&p->active, 1);
			return 0;
		}
		if (!abs)
			return -ETIMEDOUT;
		atomic_fetch_add(&p->adm_ksleepers, 1);
		ret = admit(p) ? 1 : p->port.t->worker_wait(&p->port, abs, seq, 0);
		atomic_fetch_sub(&p->adm_ksleepers, 1);
		if (ret == 1)
			return 0;
		if (ret == -ETIMEDOUT)
			abs = 0;	/* one last look */
	}
}

/* ---- dequeue ---- */

/* The packet of an entry the word has accepted. */
static void decode(struct tpio_iocp *p, const struct tpio_cqe *e,
		   struct tpio_iocp_packet *out)
{
	out->overlapped = e->overlapped;
	if (e->slot == TPIO_IO_SLOT(p->post_io)) {
		out->key = (ULONG_PTR)e->information;
		out->bytes = e->status;
		out->status = ERROR_SUCCESS;
	} else {
		out->key = (ULONG_PTR)e->cookie;
		out->bytes = (DWORD)e->information;
		out->status = e->status;
	}
}

/*
 * @k entries taken from the ring, all of one slot and epoch: one CAS on
 * the word accepts them all (queued - k, and the credit back: pending +
 * k). Returns the packets written to @out: @k, or 0 when they are stale
 * (their object was closed meanwhile).
 */
static uint32_t accept_run(struct tpio_iocp *p, const struct tpio_cqe *e,
			   uint32_t k, struct tpio_iocp_packet *out)
{
	uint32_t slot = e->slot, i;
	__u64 *word;
	__u64 w, next;
	int closing;

	if (slot >= p->port.r.max_objects)
		return 0;
	word = &p->port.r.words[slot];
	w = tpio_word_load(word);
	do {
		if (tpio_w_epoch(w) != e->epoch)
			return 0;	/* of an object closed meanwhile */
		if (tpio_w_queued(w) < k) {
			/* a garbled word: accept what it counts, one by one */
			uint32_t got = 0;

			for (i = 0; i < k && tpio_w_queued(tpio_word_load(word)); i++)
				got += accept_run(p, &e[i], 1, &out[got]);
			return got;
		}
		closing = atomic_load(&p->slots[slot].closing);
		next = w - k * TPIO_W_ONE(QUEUED) +
		       (closing ? 0 : k * TPIO_W_ONE(PENDING));
	} while (!__atomic_compare_exchange_n(word, &w, next, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
	if (closing && !tpio_w_queued(next) && !tpio_w_pending(next))
		p->port.t->io_close(&p->port, p->slots[slot].handle);
	for (i = 0; i < k; i++)
		decode(p, &e[i], &out[i]);
	return k;
}

/* Up to @max packets from the ring, without a system call while it holds
 * entries (the overflow list is moved into it with one). */
static uint32_t take(struct tpio_iocp *p, struct tpio_iocp_packet *out,
		     uint32_t max)
{
	struct tpio_ring_view *r = &p->port.r;
	struct tpio_cqe batch[TAKE_BATCH];
	uint32_t h, t, n, i, j, got = 0;

	while (got < max) {
		h = __atomic_load_n(r->head, __ATOMIC_ACQUIRE);
		/* pairs with the producer's store-release of tail */
		t = __atomic_load_n(r->tail, __ATOMIC_ACQUIRE);
		if (h == t) {
			if (got || !(__atomic_load_n(r->flags, __ATOMIC_ACQUIRE) &
				     TPIO_RING_F_OVERFLOW))
				break;
			/* timeout 0: moves the overflow list into the ring */
			p->port.t->worker_wait(&p->port, 0, 0, 0);
			if (__atomic_load_n(r->tail, __ATOMIC_ACQUIRE) == h)
				break;
			continue;
		}
		n = t - h;
		if (n > r->entries)
			n = r->entries;	/* never trust more than a ring */
		if (n > TAKE_BATCH)
			n = TAKE_BATCH;
		if (n > max - got)
			n = max - got;
		for (i = 0; i < n; i++)
			batch[i] = r->cqes[(h + i) & r->mask];
		if (!__atomic_compare_exchange_n(r->head, &h, h + n, 0,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		/* one CAS per run of entries of one object */
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && batch[j].slot == batch[i].slot &&
			     batch[j].epoch == batch[i].epoch; j++)
				;
			got += accept_run(p, &batch[i], j - i, &out[got]);
		}
	}
	return got;
}

int tpio_iocp_dequeue(struct tpio_iocp *p, struct tpio_iocp_packet *out,
		      uint32_t max, DWORD timeout_ms, uint32_t *n)
{
	__u64 abs = 0;
	int last = 0, ret, att;
	uint32_t seq, got;

	*n = 0;
	if (p->remote)
		return -EOPNOTSUPP;
	pthread_once(&tl_once, tl_init);
	release_thread();
	att = att_attach(p);
	if (timeout_ms == INFINITE)
		abs = TPIO_INFINITE;
	else if (timeout_ms)
		abs = tpio_now_ns() + (__u64)timeout_ms * 1000000ULL;
	for (;;) {
		if (atomic_load(&p->closed))
			return -EPIPE;
		seq = __atomic_load_n(p->port.r.wake_seq, __ATOMIC_SEQ_CST);
		if (!admit(p)) {
			ret = att ? admission_sleep(p, last ? 0 : abs) :
				    admission_wait(p, last ? 0 : abs);
			if (ret)
				return ret;
		}
		got = take(p, out, max);
		if (got) {
			/* the reservation stays: this thread is active now */
			count_thread(p);
			*n = got;
			return 0;
		}
		unadmit(p);
		if (last || !abs)
			return -ETIMEDOUT;
		if (abs != TPIO_INFINITE && tpio_now_ns() >= abs) {
			last = 1;
			continue;
		}
		ret = p->port.t->worker_wait(&p->port, abs, seq, 0);
		if (ret == -ETIMEDOUT)
			last = 1;
	}
}

void tpio_iocp_close(struct tpio_iocp *p)
{
	atomic_store(&p->closed, 1);
	if (p->remote)
		return;
	__atomic_fetch_add(p->port.r.wake_seq, 1, __ATOMIC_SEQ_CST);
	p->port.t->wake_workers(&p->port, INT32_MAX);
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
