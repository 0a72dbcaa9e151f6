// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: the model of a round process (its ports, their fds, mappings
 * and handles) and the choice of arguments from it: mostly plausible ones
 * (live handles, real slots, valid sizes), often boundary ones, sometimes
 * garbage; and the wrapper that makes, traces and judges each ioctl.
 *
 * The model is an approximation: other threads, forked children and
 * hostile writes change the ports under it. An expectation is only made
 * precise when nothing can have invalidated it; see call_settle().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fuzz.h"

/* Everything an ioctl of tpio may answer, and the wrong-file answers. */
#define ANY_RESULT	(M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT) | \
			 M(E_NOSPC) | M(E_AGAIN) | M(E_TIMEDOUT) | M(E_INTR) | \
			 M(E_BUSY) | M(E_NOMEM) | M(E_NOTTY) | M(E_BADF) | \
			 M(E_DQUOT))

/*
 * The errors Documentation/kmod.rst documents for each ioctl (success
 * included); a result outside this set is always a violation.
 */
const uint32_t doc_errors[OP_COUNT] = {
	[OP_VERSION] = M(E_OK) | M(E_FAULT) | M(E_INVAL),
	[OP_SETUP] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_BUSY) |
		     M(E_NOMEM) | M(E_DQUOT) | M(E_INTR),
	[OP_IO_CREATE] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOMEM) |
			 M(E_NOSPC) | M(E_DQUOT),
	[OP_IO_CLOSE] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT) |
			M(E_AGAIN),
	[OP_POST] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT) |
		    M(E_AGAIN),
	[OP_WAIT] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_TIMEDOUT) |
		    M(E_INTR),
	[OP_DRAIN] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT) |
		     M(E_TIMEDOUT) | M(E_INTR) | M(E_AGAIN),
	[OP_WAKE] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT),
	[OP_IO_QUERY] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT),
	[OP_CONC] = M(E_OK) | M(E_FAULT) | M(E_INVAL) | M(E_NOENT) |
		    M(E_BUSY) | M(E_NOSPC) | M(E_NOMEM) | M(E_DQUOT),
	[OP_BAD_CMD] = M(E_NOTTY),
};

void model_lock(struct round *r)
{
	pthread_mutex_lock(&r->lock);
}

void model_unlock(struct round *r)
{
	pthread_mutex_unlock(&r->lock);
}

/* ---- ports and fds ---- */

/* A fresh port in a free slot; its map_lock is initialized once per round. */
void port_init(struct port *p, int fd, int mode, uint32_t tag)
{
	int i;

	p->used = 1;
	atomic_fetch_add(&p->serial, 1);
	for (i = 0; i < MAX_FDS; i++)
		p->fds[i] = -1;
	p->fds[0] = fd;
	p->fd_mode[0] = mode;
	p->tag = tag ? tag : 1;
	p->untagged = 0;
	p->setup = SETUP_NO;
	p->entries = p->objects = 0;
	p->sa_known = 0;
	memset(p->maps, 0, sizeof(p->maps));
	p->nlive = p->nclosed = p->closed_next = 0;
	p->close_seq = 0;
	for (i = 0; i < HINT_SLOTS; i++)
		p->hint[i] = 0;
	p->creates = 0;
	p->cookie_ctr = 0;
}

int port_nfds(const struct port *p)
{
	int i, n = 0;

	for (i = 0; i < MAX_FDS; i++)
		n += p->fds[i] >= 0;
	return n;
}

/* A port with no fd and no mapping is gone from this process. */
void port_maybe_free(struct port *p)
{
	int i;

	if (port_nfds(p))
		return;
	for (i = 0; i < MAX_MAPS; i++)
		if (p->maps[i].addr)
			return;
	p->used = 0;
	atomic_fetch_add(&p->serial, 1);
}

/* Every port not set up may be now (a SETUP the model cannot place). */
void ports_maybe_setup(struct round *r)
{
	int i;

	for (i = 0; i < MAX_PORTS; i++)
		if (r->ports[i].used && r->ports[i].setup == SETUP_NO)
			r->ports[i].setup = SETUP_MAYBE;
}

/* Any port may hold an object whose cookie is not its own. */
void ports_untagged(struct round *r)
{
	int i;

	for (i = 0; i < MAX_PORTS; i++)
		r->ports[i].untagged = 1;
	r->creates_raced++;	/* also ports not recorded yet */
}

/*
 * Takes fd i out of the model before it is closed: from here on a call
 * that chose it may find it closed or reused (round.closes tells).
 */
void port_forget_fd(struct round *r, struct port *p, int i)
{
	int fd = p->fds[i];

	p->fds[i] = -1;
	atomic_fetch_add(&r->closes, 1);
	if (r->nstale < MAX_STALE_FDS)
		r->stale_fds[r->nstale++] = fd;
	else
		r->stale_fds[fd % MAX_STALE_FDS] = fd;
}

/* A used port, preferring one set up when @want_setup; NULL if none. */
struct port *pick_port(struct worker *w, int want_setup)
{
	struct round *r = w->r;
	int i, n = 0, ready = 0, idx[MAX_PORTS], set[MAX_PORTS];

	for (i = 0; i < MAX_PORTS; i++) {
		if (!r->ports[i].used || !port_nfds(&r->ports[i]))
			continue;
		idx[n++] = i;
		if (r->ports[i].setup == SETUP_YES)
			set[ready++] = i;
	}
	if (!n)
		return NULL;
	/*
	 * Races need calls that meet: in some rounds most calls go to one
	 * "hot" port (the first one that is there).
	 */
	if (chance(w, r->prof.focus_pct))
		return &r->ports[idx[0]];
	if (want_setup && ready && chance(w, 90))
		return &r->ports[set[below(w, ready)]];
	return &r->ports[idx[below(w, n)]];
}

int pick_port_fd(struct worker *w, struct port *p, int *mode)
{
	int i, n = 0, idx[MAX_FDS];

	for (i = 0; i < MAX_FDS; i++)
		if (p->fds[i] >= 0)
			idx[n++] = i;
	if (!n)
		return -1;
	i = idx[below(w, n)];
	if (mode)
		*mode = p->fd_mode[i];
	return p->fds[i];
}

/* ---- handles ---- */

static uint32_t gen_of(uint32_t io)
{
	return io >> 16;
}

void handle_add(struct port *p, uint32_t io, uint64_t cookie)
{
	uint32_t slot = TPIO_IO_SLOT(io);

	if (p->nlive == MAX_LIVE) {
		memmove(&p->live[0], &p->live[1],
			sizeof(p->live[0]) * (MAX_LIVE - 1));
		p->nlive--;
	}
	p->live[p->nlive].io = io;
	p->live[p->nlive].cookie = cookie;
	p->nlive++;
	if (slot < HINT_SLOTS)
		p->hint[slot] = (uint16_t)gen_of(io);
}

const struct handle *handle_find(const struct port *p, uint32_t io)
{
	int i;

	for (i = 0; i < p->nlive; i++)
		if (p->live[i].io == io)
			return &p->live[i];
	return NULL;
}

int handle_is_closed(const struct port *p, uint32_t io)
{
	int i;

	for (i = 0; i < p->nclosed; i++)
		if (p->closed[i] == io)
			return 1;
	return 0;
}

/* IO_CLOSE of @io succeeded: the model stops calling it live. */
void handle_closed(struct port *p, uint32_t io)
{
	int i;

	for (i = 0; i < p->nlive; i++) {
		if (p->live[i].io == io) {
			p->live[i] = p->live[--p->nlive];
			break;
		}
	}
	if (handle_is_closed(p, io))
		return;
	p->closed[p->closed_next] = io;
	p->closed_seq[p->closed_next] = ++p->close_seq;
	p->closed_next = (p->closed_next + 1) % MAX_CLOSED;
	if (p->nclosed < MAX_CLOSED)
		p->nclosed++;
}

/* A live handle of @slot the model knows, or 0. */
uint32_t handle_of_slot(const struct port *p, uint32_t slot)
{
	int i;

	for (i = p->nlive - 1; i >= 0; i--)
		if (TPIO_IO_SLOT(p->live[i].io) == slot)
			return p->live[i].io;
	return 0;
}

/* Names no object of this port, whatever happened: 0, generation 0, or
 * a slot past max_objects. */
int handle_bad_form(const struct port *p, uint32_t io)
{
	if (!io || !gen_of(io))
		return 1;
	return p && p->objects && TPIO_IO_SLOT(io) >= p->objects;
}

int handle_checks_on(const struct port *p)
{
	return p->creates < HANDLE_CHECK_CREATES;
}

/*
 * A handle for a call on @p (NULL: a port the model does not know):
 * mostly a live one, else a closed one, a guess at the next generation
 * of a slot (handles are predictable: generation << 16 | slot), one of
 * another port, a malformed one or random bits.
 */
uint32_t pick_handle(struct worker *w, struct port *p, int *kind)
{
	struct round *r = w->r;
	uint64_t x = below(w, 100);
	uint32_t objs = p && p->objects ? p->objects : 64, s, g;
	int i;

	if (p && x < 55 && p->nlive) {
		*kind = HK_LIVE;
		return p->live[below(w, p->nlive)].io;
	}
	if (p && x < 65 && p->nclosed) {
		*kind = HK_CLOSED;
		return p->closed[below(w, p->nclosed)];
	}
	if (p && x < 77) {
		*kind = HK_GUESS;
		s = below(w, objs < HINT_SLOTS ? objs : HINT_SLOTS);
		g = (p->hint[s] + below(w, 4)) & 0xffff;
		return (g ? g : 1) << 16 | s;
	}
	if (x < 84) {
		for (i = 0; i < MAX_PORTS; i++) {
			struct port *o = &r->ports[(rnd(w) + i) % MAX_PORTS];

			if (o != p && o->used && o->nlive) {
				*kind = HK_OTHER;
				return o->live[below(w, o->nlive)].io;
			}
		}
	}
	if (x < 94) {
		static const uint32_t fixed[] = { 0, 0xffff, 0xffffffff,
						  0x10000, 0x3 };

		*kind = HK_BAD;
		switch (below(w, 4)) {
		case 0:
			return fixed[below(w, 5)];
		case 1:	/* slot max_objects, or just past */
			return (1 + (uint32_t)below(w, 3)) << 16 |
			       ((objs + below(w, 3)) & 0xffff);
		case 2:	/* generation 0 of a real slot */
			return below(w, objs);
		default:	/* the last real slot, generation 1 */
			return 1U << 16 | (objs - 1);
		}
	}
	*kind = HK_RANDOM;
	if (chance(w, 50))
		return (uint32_t)rnd(w);
	return (1 + (uint32_t)below(w, 4)) << 16 | (uint32_t)below(w, 8);
}

/* ---- numbers ---- */

/*
 * An absolute CLOCK_MONOTONIC timeout; *bound is when the call must have
 * returned (UNBOUNDED: only a wake-up or a signal ends it). Forked
 * children only get short ones: nobody signals them.
 */
uint64_t pick_timeout(struct worker *w, uint64_t *bound)
{
	uint64_t now = now_ns(), x = below(w, 100), t;

	if (w->long_sleep) {
		t = chance(w, 50) ? TPIO_INFINITE :
			now + 100 * MSEC + below(w, 2 * NSEC);
		*bound = t == TPIO_INFINITE ? UNBOUNDED : t;
		return t;
	}
	if (x < 30) {
		t = 0;
	} else if (x < 38) {
		t = chance(w, 50) || now < NSEC ? 1 : now - below(w, NSEC);
	} else if (x < 63) {
		t = now + below(w, 2 * MSEC);
	} else if (x < 78) {
		t = now + 5 * MSEC + below(w, 45 * MSEC);
	} else if (x < 84) {
		t = now + 100 * MSEC + below(w, 400 * MSEC);
	} else if (x < 92) {
		t = TPIO_INFINITE;
	} else if (x < 96) {
		static const uint64_t far[] = { KTIME_MAX_NS, KTIME_MAX_NS + 1,
						1ULL << 62, TPIO_INFINITE - 1 };

		t = far[below(w, 4)];
	} else {
		t = rnd(w) >> below(w, 64);
	}
	if (t <= now + 10 * NSEC) {
		*bound = t > now ? t : now;
		return t;
	}
	if (w->child) {
		t = now + below(w, 20 * MSEC);
		*bound = t;
		return t;
	}
	*bound = UNBOUNDED;
	return t;
}

/* ring_entries: mostly valid powers of two, sometimes not */
uint32_t pick_entries(struct worker *w)
{
	static const uint32_t bad[] = { 0, 1, 3, 6, 100, TPIO_RING_MAX + 1,
					TPIO_RING_MAX * 2, 1U << 31,
					0xffffffff };
	uint64_t x = below(w, 100);

	if (x < 20)
		return TPIO_RING_MIN;
	if (x < 60)
		return 1U << (2 + below(w, 5));
	if (x < 80)
		return 1U << (7 + below(w, 4));
	if (x < 85)
		return TPIO_RING_MAX;
	if (x < 88)
		return TPIO_RING_MAX / 2;
	if (x < 97)
		return bad[below(w, sizeof(bad) / sizeof(bad[0]))];
	return (uint32_t)rnd(w);
}

/* max_objects: small ones often (slots are reused sooner), the limits */
uint32_t pick_objects(struct worker *w)
{
	static const uint32_t bad[] = { 0, TPIO_OBJECTS_MAX + 1,
					TPIO_OBJECTS_MAX * 2, 0xffffffff,
					1U << 31 };
	uint64_t x = below(w, 100);

	if (x < 22)
		return 1;
	if (x < 34)
		return 2;
	if (x < 47)
		return 3 + below(w, 6);
	if (x < 65)
		return 9 + below(w, 56);
	if (x < 80)
		return 65 + below(w, 4032);
	if (x < 84)
		return TPIO_OBJECTS_MAX;
	if (x < 87)
		return TPIO_OBJECTS_MAX - 1;
	if (x < 92)
		return 1 + below(w, TPIO_OBJECTS_MAX);
	if (x < 98)
		return bad[below(w, sizeof(bad) / sizeof(bad[0]))];
	return (uint32_t)rnd(w);
}

/* ---- mappings ---- */

/*
 * A mapping of @p of the given area that user space may touch with @prot
 * over its first @need bytes; the caller holds p->map_lock.
 */
struct mapping *port_map(struct port *p, int shared, size_t need, int prot)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++) {
		struct mapping *m = &p->maps[i];

		if (m->addr && m->shared == shared && m->len >= need &&
		    !m->zapped && (m->prot & prot) == prot)
			return m;
	}
	return NULL;
}

/* ---- the fd and the pointers of a call ---- */

/*
 * Chooses the fd of an ioctl: mostly a port's, sometimes one that is not
 * a port, not open, or closed earlier. Called with the model locked.
 */
void call_pick(struct worker *w, struct call *c, enum op op, int want_setup)
{
	struct round *r = w->r;
	uint64_t x = below(w, 100);
	struct port *p;

	memset(c, 0, sizeof(*c));
	c->op = op;
	c->closes = atomic_load(&r->closes);
	c->fd = -1;
	c->fd_kind = FD_BAD;
	c->setup = SETUP_MAYBE;
	if (x < 3) {
		c->fd_kind = FD_OTHER;
		c->fd = r->devnull;
		return;
	}
	if (x < 5) {
		c->fd = chance(w, 50) ? -1 : 1 << 20;
		return;
	}
	/*
	 * Not in a child: there a reused number may name a port it shares
	 * with its parent, whose model would not know what the call did.
	 */
	if (x < 8 && r->nstale && !w->child) {
		c->fd_kind = FD_STALE;
		c->fd = r->stale_fds[below(w, r->nstale)];
		return;
	}
	p = pick_port(w, want_setup);
	if (p)
		call_on_port(w, c, p);
}

/* The call goes to one of @p's fds (the model is locked). */
void call_on_port(struct worker *w, struct call *c, struct port *p)
{
	c->fd = pick_port_fd(w, p, &c->fd_mode);
	if (c->fd < 0)
		return;
	c->fd_kind = FD_PORT;
	c->port = p;
	c->serial = atomic_load(&p->serial);
	c->setup = p->setup;
	if (c->setup == SETUP_NO && w->r->setups_inflight)
		c->setup = SETUP_MAYBE;
	c->objects = p->setup == SETUP_YES ? p->objects : 0;
	/* a SETUP that begins after this choice is seen by call_settle */
	c->attempts = w->r->setups;
}

enum access ptr_access(enum ptr_kind pk)
{
	switch (pk) {
	case PK_NONE_ARG:
	case PK_PLAIN:
	case PK_MISALIGN:
		return ACC_RW;
	case PK_RO:
		return ACC_RO;
	case PK_EDGE:
	case PK_NULL:
	case PK_KERNEL:
	case PK_PROTNONE:
		return ACC_NONE;
	default:
		return ACC_ANY;
	}
}

static enum ptr_kind pick_ptr_kind(struct worker *w)
{
	static const struct {
		enum ptr_kind pk;
		unsigned int weight;
	} kinds[] = {
		{ PK_MISALIGN, 8 }, { PK_RO, 30 }, { PK_EDGE, 10 },
		{ PK_NULL, 5 }, { PK_KERNEL, 5 }, { PK_PROTNONE, 5 },
		{ PK_RING, 12 }, { PK_SHARED, 12 }, { PK_FLICKER, 13 },
	};
	unsigned int total = 0, x, i;

	if (!chance(w, w->r->prof.bad_ptr_pct))
		return PK_PLAIN;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		total += kinds[i].weight;
	x = below(w, total);
	for (i = 0; x >= kinds[i].weight; i++)
		x -= kinds[i].weight;
	if (kinds[i].pk == PK_FLICKER && !w->r->prof.flicker)
		return PK_RO;
	return kinds[i].pk;
}

static void *kernel_addr(struct worker *w)
{
	static const uint64_t addrs[] = {
		0xffff888000000000ULL, 0xffffffff81000000ULL,
		0x0000800000000000ULL, 0xfffffffffffffff8ULL,
		0x00007ffffffffff8ULL,	/* past TASK_SIZE_MAX */
	};

	return (void *)(uintptr_t)addrs[below(w, 5)];
}

/* An argument in one of the port's mappings; NULL if it has none. */
static void *in_port_map(struct worker *w, struct call *c, int shared,
			 const void *src, size_t len)
{
	struct port *p = c->port;
	struct mapping *m;
	void *ptr = NULL;
	size_t off;

	if (!p)
		return NULL;
	pthread_rwlock_rdlock(&p->map_lock);
	if (atomic_load(&p->serial) != c->serial)
		goto out;
	m = port_map(p, shared, len + 8, shared ? PROT_READ | PROT_WRITE : 0);
	if (!m)
		goto out;
	if (!shared && chance(w, 40))
		off = 24;	/* header padding: zeros */
	else
		off = below(w, (m->len - len) / 8 + 1) * 8;
	ptr = m->addr + off;
	if (shared)
		memcpy(ptr, src, len);
out:
	pthread_rwlock_unlock(&p->map_lock);
	return ptr;
}

/*
 * Puts an argument of @len bytes somewhere the kind chosen says and
 * returns the pointer to pass. Area 0 holds the argument structure, area
 * 1 the POST array; they never overlap.
 */
void *place_arg(struct worker *w, struct call *c, int area, const void *src,
		size_t len, enum ptr_kind *pk)
{
	size_t base = area ? AREA_A_LEN : 0;
	unsigned char *dst;
	size_t k;

	*pk = pick_ptr_kind(w);
	switch (*pk) {
	case PK_MISALIGN:
		dst = w->buf + base + 1 + below(w, 7);
		memcpy(dst, src, len);
		return dst;
	case PK_RO:
		memcpy(w->rw + base, src, len);
		return w->ro + base;
	case PK_EDGE:
		/* the first k bytes readable, the rest in the PROT_NONE page */
		k = len > 1 ? 1 + below(w, (len - 1 < PAGE ? len - 1 : PAGE)) : 0;
		dst = w->edge + PAGE - k;
		memcpy(dst, src, k);
		return dst;
	case PK_NULL:
		return NULL;
	case PK_KERNEL:
		return kernel_addr(w);
	case PK_PROTNONE:	/* ARG_LEN bytes, so any argument fits */
		return w->r->protnone + below(w, ARG_LEN - len + 1);
	case PK_RING:
	case PK_SHARED:
		dst = in_port_map(w, c, *pk == PK_SHARED, src, len);
		if (dst)
			return dst;
		break;
	case PK_FLICKER:
		memcpy(w->r->flicker_rw + base, src, len);
		return w->r->flicker + base;
	default:
		break;
	}
	*pk = PK_PLAIN;
	memcpy(w->buf + base, src, len);
	return w->buf + base;
}

/* Where the kernel's output can be read back (NULL: not reliably). */
const void *arg_view(struct worker *w, enum ptr_kind pk, const void *ptr,
		     int area, size_t len)
{
	(void)len;
	if (pk == PK_PLAIN || pk == PK_MISALIGN)
		return ptr;
	if (pk == PK_RO)
		return w->rw + (area ? AREA_A_LEN : 0);
	return NULL;
}

/* ---- the call ---- */

/*
 * Makes the ioctl and traces it. A few calls get junk in the upper half
 * of the command: the syscall takes an unsigned int, so it must not
 * matter.
 */
void do_ioctl(struct worker *w, struct call *c, unsigned long cmd, void *arg,
	      const uint64_t a[4], uint64_t bound)
{
	uint32_t s1;

	if (c->op != OP_BAD_CMD && chance(w, 2))
		cmd |= (unsigned long)(rnd(w) | 1) << 32;
	s1 = sig1_count();
	trace_begin(w, c->op, c->fd, cmd, c->pk, a, bound);
	c->t0 = now_ns();
	c->ret = syscall(SYS_ioctl, c->fd, cmd, arg);
	c->err = c->ret < 0 ? errno : 0;
	c->t1 = now_ns();
	c->sig1 = sig1_count() - s1;
	trace_end(w, c->ret, c->err);
	stats_add(c->op, c->ret, c->err);
	w->calls++;
}

/*
 * After the call, with the model locked: true when the fd was the port
 * chosen all along, so its outputs can be judged and the model updated.
 */
int call_port_valid(struct worker *w, const struct call *c)
{
	return c->fd_kind == FD_PORT &&
	       atomic_load(&w->r->closes) == c->closes &&
	       atomic_load(&c->port->serial) == c->serial;
}

/*
 * After the call: locks the model (the caller unlocks it) and decides
 * what still holds. "Not set up" is only trusted if no SETUP was in
 * flight at the choice and none began since; "set up" is forever.
 */
void call_settle(struct worker *w, struct call *c)
{
	model_lock(w->r);
	if (c->fd_kind != FD_PORT || c->setup != SETUP_NO)
		return;
	if (!call_port_valid(w, c) || w->r->setups != c->attempts)
		c->setup = SETUP_MAYBE;
}

/* The results the fd allows, given what the arguments allow (@expect). */
uint32_t fd_allows(struct worker *w, struct call *c, uint32_t expect)
{
	switch (c->fd_kind) {
	case FD_BAD:
		return M(E_BADF);
	case FD_OTHER:
		return M(E_NOTTY);
	case FD_STALE:
		return ANY_RESULT;
	case FD_PORT:
		break;
	}
	if (!call_port_valid(w, c))
		return expect | ANY_RESULT;
	return expect;
}

void check_result(struct worker *w, struct call *c, uint32_t mask)
{
	enum eclass cls = c->ret < 0 ? errno_class(c->err) : E_OK;
	char allowed[200];

	mask = fd_allows(w, c, mask);
	if (!(mask & M(cls))) {
		mask_names(mask, allowed, sizeof(allowed));
		violation(w, "%s (fd %d, %s) returned %s; allowed here: %s",
			  op_name(c->op), c->fd,
			  c->fd_kind == FD_PORT ? (c->setup == SETUP_YES ?
				"a port set up" : c->setup == SETUP_NO ?
				"a port not set up" : "a port maybe set up") :
			  "not a port",
			  c->ret < 0 ? errno_name(c->err) : "success",
			  allowed);
	}
	if (c->ret > 0 && c->op != OP_WAKE && call_port_valid(w, c))
		violation(w, "%s returned %lld, not 0", op_name(c->op),
			  (long long)c->ret);
}
