// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: the ioctls of /dev/tpio. Each operation chooses its
 * arguments from the model, makes the call, and judges the result:
 *
 * - the errno must be one Documentation/kmod.rst documents for the ioctl
 *   (doc_errors), and where the arguments decide it (a known pointer
 *   kind, a known setup state, a malformed handle, a reserved field), it
 *   must be the one they decide, following the order of the handler:
 *   setup gate, copy in, field checks, lookup, copy out;
 * - a successful call's outputs must be consistent (handles, offsets,
 *   counts, fields that are inputs only left alone);
 * - timed waits must not time out early, and a wait that no SA_RESTART-less
 *   signal interrupted must not fail with EINTR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "fuzz.h"

#define CANARY32	0xdeadbeefU
#define DONE_CANARY	0xccccccccU

/*
 * The setup gate: before SETUP every ioctl but VERSION and SETUP fails
 * with EINVAL whatever its argument. Returns 1 when the gate decides.
 */
static int gate(const struct call *c, uint32_t *mask)
{
	if (c->fd_kind != FD_PORT || c->setup == SETUP_MAYBE) {
		*mask = doc_errors[c->op] | M(E_INVAL);
		return 1;
	}
	if (c->setup == SETUP_NO) {
		*mask = M(E_INVAL);
		return 1;
	}
	return 0;
}

/*
 * The common part after the gate: an unreadable argument is EFAULT, an
 * unknown one allows anything documented. Returns 1 when it decides.
 */
static int readable(const struct call *c, enum access acc, uint32_t *mask)
{
	if (acc == ACC_NONE) {
		*mask = M(E_FAULT);
		return 1;
	}
	if (acc == ACC_ANY) {
		*mask = doc_errors[c->op];
		return 1;
	}
	return 0;
}

/* A port "maybe set up" that answered past the gate is set up. */
static void resolve_setup(struct worker *w, struct call *c)
{
	if (!call_port_valid(w, c) || c->port->setup != SETUP_MAYBE)
		return;
	if (c->ret < 0 && (c->err == EINVAL || c->err == EBADF ||
			   c->err == ENOTTY))
		return;
	c->port->setup = SETUP_YES;
}

/* Choose the fd with the model locked; the caller unlocks. */
static struct port *pick_locked(struct worker *w, struct call *c,
				enum op op)
{
	model_lock(w->r);
	call_pick(w, c, op, 1);
	return c->port;
}

/* ---- VERSION ---- */

void op_version(struct worker *w)
{
	struct tpio_version_args va;
	const struct tpio_version_args *out;
	uint64_t a[4] = { 0 };
	uint32_t mask;
	struct call c;
	void *arg;

	pick_locked(w, &c, OP_VERSION);
	model_unlock(w->r);
	memset(&va, 0xa5, sizeof(va));	/* outputs: garbage in */
	va.reserved[0] = chance(w, 90) ? 0 : rnd(w);
	va.reserved[1] = chance(w, 95) ? 0 : 1ULL << below(w, 64);
	a[0] = va.reserved[0];
	a[1] = va.reserved[1];
	arg = place_arg(w, &c, 0, &va, sizeof(va), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_VERSION, arg, a, now_ns());
	call_settle(w, &c);

	if (!readable(&c, ptr_access(c.pk), &mask)) {
		if (va.reserved[0] || va.reserved[1])
			mask = M(E_INVAL);
		else
			mask = ptr_access(c.pk) == ACC_RO ? M(E_FAULT)
							   : M(E_OK);
	}
	check_result(w, &c, mask);
	out = arg_view(w, c.pk, arg, 0, sizeof(va));
	if (!c.ret && out && call_port_valid(w, &c) &&
	    (out->abi_version != TPIO_ABI_VERSION ||
	     out->ring_max != TPIO_RING_MAX ||
	     out->objects_max != TPIO_OBJECTS_MAX ||
	     !(out->features & TPIO_FEAT_RING) ||
	     out->reserved[0] || out->reserved[1]))
		violation(w, "VERSION returned abi %u features %#x ring_max %u "
			  "objects_max %u reserved %#llx %#llx",
			  out->abi_version, out->features, out->ring_max,
			  out->objects_max,
			  (unsigned long long)out->reserved[0],
			  (unsigned long long)out->reserved[1]);
	model_unlock(w->r);
}

/* ---- SETUP ---- */

static int setup_valid(const struct tpio_setup_args *sa)
{
	uint32_t e = sa->ring_entries;

	return !sa->flags && !sa->reserved[0] && !sa->reserved[1] &&
	       e >= TPIO_RING_MIN && e <= TPIO_RING_MAX && !(e & (e - 1)) &&
	       sa->max_objects >= 1 && sa->max_objects <= TPIO_OBJECTS_MAX;
}

static size_t page_up(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

/* A header field of the ring: 4 bytes, aligned, before the entries. */
static int ring_field_ok(uint32_t off, const struct tpio_ring_offsets *ro)
{
	return !(off & 3) && off + 4 <= ro->cqes;
}

/* The outputs of a successful SETUP against its inputs @in. */
static void check_setup_out(struct worker *w,
			    const struct tpio_setup_args *in,
			    const struct tpio_setup_args *o)
{
	const struct tpio_ring_offsets *ro = &o->ring_off;
	const struct tpio_shared_offsets *so = &o->shared_off;
	uint64_t cq_end = ro->cqes + (uint64_t)in->ring_entries * 32;
	uint64_t w_end = so->words + (uint64_t)in->max_objects * 8;
	const uint32_t fields[] = { ro->magic, ro->version, ro->ring_entries,
				    ro->ring_mask, ro->tail, ro->flags,
				    ro->overflow, ro->waiters };
	const size_t nfields = sizeof(fields) / sizeof(fields[0]);
	const char *bad = NULL;
	size_t i, j;

	if (o->ring_entries != in->ring_entries ||
	    o->max_objects != in->max_objects || o->flags ||
	    o->reserved[0] || o->reserved[1])
		bad = "an input field changed";
	else if (!(o->features & TPIO_FEAT_RING))
		bad = "features lack TPIO_FEAT_RING";
	else if ((ro->cqes & 7) || o->ring_size != page_up(cq_end))
		bad = "ring_size is not the page-rounded end of the entries";
	else if ((so->words & 7) || o->shared_size != page_up(w_end))
		bad = "shared_size is not the page-rounded end of the words";
	else if ((so->head & 3) || (so->head + 4 > so->words && so->head < w_end))
		bad = "head overlaps the state words";
	else if ((so->wake_seq & 3) || so->wake_seq + 4 > o->shared_size ||
		 (so->wake_seq + 4 > so->words && so->wake_seq < w_end) ||
		 (so->wake_seq + 4 > so->head && so->wake_seq < so->head + 4))
		bad = "wake_seq overlaps head or the state words";
	else if (ro->resv[0] || ro->resv[1] || ro->resv[2] || so->resv[0])
		bad = "a resv offset is not 0";
	for (i = 0; !bad && i < nfields; i++) {
		if (!ring_field_ok(fields[i], ro))
			bad = "a ring header field lies outside the header";
		for (j = 0; !bad && j < i; j++)
			if (fields[i] == fields[j])
				bad = "two ring header fields share an offset";
	}
	if (bad)
		violation(w, "SETUP(%u entries, %u objects): %s: ring_size %llu "
			  "shared_size %llu cqes %u tail %u head %u words %u",
			  in->ring_entries, in->max_objects, bad,
			  (unsigned long long)o->ring_size,
			  (unsigned long long)o->shared_size, ro->cqes,
			  ro->tail, so->head, so->words);
}

/* What a SETUP with readable arguments may answer. */
static uint32_t setup_mask(const struct call *c, int setup_before,
			   const struct tpio_setup_args *sa, enum access acc)
{
	uint32_t fault = acc == ACC_RO ? M(E_FAULT) : 0;

	/* a SETUP waiting for a concurrent one may be interrupted */
	uint32_t intr = c->sig1 ? M(E_INTR) : 0;

	if (!setup_valid(sa))
		return M(E_INVAL);
	if (setup_before == SETUP_YES)
		return M(E_BUSY) | intr;
	if (c->setup == SETUP_NO)	/* no other SETUP of it began */
		return (fault ? fault : M(E_OK)) | M(E_NOMEM) | M(E_DQUOT);
	return M(E_OK) | M(E_BUSY) | M(E_NOMEM) | M(E_DQUOT) | fault | intr;
}

/* The model after a SETUP. */
static void setup_update(struct call *c, const struct tpio_setup_args *sa,
			 const struct tpio_setup_args *out, enum access acc)
{
	struct port *p = c->port;
	int trusted = acc == ACC_RW || acc == ACC_RO;

	if (c->ret < 0 && c->err != EBUSY &&
	    !(c->err == EFAULT && acc != ACC_NONE))
		return;
	if (c->ret < 0 && c->err == EFAULT && acc == ACC_RO &&
	    !setup_valid(sa))
		return;
	if (c->ret < 0 && c->err == EFAULT && acc == ACC_ANY) {
		/* the copy-out may have failed after the port was set up */
		if (p->setup == SETUP_NO)
			p->setup = SETUP_MAYBE;
		return;
	}
	if (p->setup != SETUP_YES && (c->ret == 0 || c->err == EFAULT) &&
	    trusted) {
		p->entries = sa->ring_entries;
		p->objects = sa->max_objects;
		if (out && c->ret == 0) {
			p->sa = *out;
			p->sa_known = 1;
		}
	}
	p->setup = SETUP_YES;
}

void op_setup(struct worker *w)
{
	struct tpio_setup_args sa;
	const struct tpio_setup_args *out;
	uint64_t a[4];
	struct port *p;
	struct call c;
	uint32_t mask;
	enum access acc;
	int before = SETUP_MAYBE;
	void *arg;

	p = pick_locked(w, &c, OP_SETUP);
	if (p)
		before = p->setup;
	c.attempts = ++w->r->setups;
	w->r->setups_inflight++;
	model_unlock(w->r);

	memset(&sa, 0x5a, sizeof(sa));	/* outputs: garbage in */
	sa.ring_entries = pick_entries(w);
	sa.max_objects = pick_objects(w);
	sa.flags = chance(w, 95) ? 0 : 1U << below(w, 32);
	sa.reserved[0] = chance(w, 97) ? 0 : rnd(w);
	sa.reserved[1] = chance(w, 97) ? 0 : 1;
	a[0] = sa.ring_entries;
	a[1] = sa.max_objects;
	a[2] = sa.flags;
	a[3] = sa.reserved[0] | sa.reserved[1];
	arg = place_arg(w, &c, 0, &sa, sizeof(sa), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_SETUP, arg, a, now_ns());
	call_settle(w, &c);
	w->r->setups_inflight--;

	acc = ptr_access(c.pk);
	if (c.fd_kind != FD_PORT)
		mask = doc_errors[OP_SETUP];
	else if (!readable(&c, acc, &mask))
		mask = setup_mask(&c, before, &sa, acc);
	check_result(w, &c, mask);
	if (!call_port_valid(w, &c)) {
		/* it may have set up whatever port the fd was by then */
		if (!c.ret || c.err == EFAULT) {
			ports_maybe_setup(w->r);
			w->r->setups_raced++;	/* also ports not recorded yet */
		}
		model_unlock(w->r);
		return;
	}
	out = arg_view(w, c.pk, arg, 0, sizeof(sa));
	if (!c.ret && out && acc == ACC_RW)
		check_setup_out(w, &sa, out);
	setup_update(&c, &sa, acc == ACC_RW ? out : NULL, acc);
	model_unlock(w->r);
}

/* ---- IO_CREATE ---- */

/* The handle a successful IO_CREATE returned, against the model. */
static void check_new_handle(struct worker *w, struct call *c, uint32_t io,
			     uint32_t close_seq)
{
	struct port *p = c->port;
	int i;

	if (!io || !(io >> 16) ||
	    (p->objects && TPIO_IO_SLOT(io) >= p->objects))
		violation(w, "IO_CREATE returned handle %#x (generation %u, "
			  "slot %u) on a port of %u objects", io, io >> 16,
			  TPIO_IO_SLOT(io), p->objects);
	if (!handle_checks_on(p))
		return;
	if (handle_find(p, io))
		violation(w, "IO_CREATE returned handle %#x, which names a "
			  "live object already", io);
	for (i = 0; i < p->nclosed; i++)
		if (p->closed[i] == io && p->closed_seq[i] <= close_seq)
			violation(w, "IO_CREATE returned handle %#x, closed "
				  "before the call began (a slot handed out "
				  "twice?)", io);
}

void op_io_create(struct worker *w)
{
	struct tpio_io_create_args ca;
	const struct tpio_io_create_args *out;
	uint32_t mask, close_seq = 0;
	uint64_t a[4] = { 0 };
	enum access acc;
	struct port *p;
	struct call c;
	void *arg;

	p = pick_locked(w, &c, OP_IO_CREATE);
	if (p && (chance(w, 92) || w->child)) {
		ca.cookie = (uint64_t)p->tag << 32 |
			    (uint64_t)(w->idx + 2) << 24 |
			    (++p->cookie_ctr & 0xffffff);
	} else {
		ca.cookie = rnd(w);
		if (p)
			p->untagged = 1;
	}
	if (p)
		close_seq = p->close_seq;
	w->r->creates_inflight++;
	model_unlock(w->r);

	ca.flags = chance(w, 95) ? 0 : 1U << below(w, 32);
	ca.io = CANARY32;
	ca.reserved = chance(w, 96) ? 0 : rnd(w) | 1;
	a[0] = ca.cookie;
	a[1] = ca.flags;
	a[2] = ca.reserved;
	arg = place_arg(w, &c, 0, &ca, sizeof(ca), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_IO_CREATE, arg, a, now_ns());
	call_settle(w, &c);
	w->r->creates_inflight--;

	acc = ptr_access(c.pk);
	if (!gate(&c, &mask) && !readable(&c, acc, &mask)) {
		if (ca.flags || ca.reserved)
			mask = M(E_INVAL);
		else
			mask = (acc == ACC_RO ? M(E_FAULT) : M(E_OK)) |
			       M(E_NOSPC) | M(E_NOMEM) | M(E_DQUOT);
	}
	check_result(w, &c, mask);
	resolve_setup(w, &c);
	out = arg_view(w, c.pk, arg, 0, sizeof(ca));
	if (!call_port_valid(w, &c)) {
		/* an object on whatever port the number named by then */
		if (!c.ret || c.err == EFAULT)
			ports_untagged(w->r);
		model_unlock(w->r);
		return;
	}
	if (!c.ret && out && acc == ACC_RW) {
		if (out->cookie != ca.cookie || out->flags ||
		    out->reserved)
			violation(w, "IO_CREATE changed an input field");
		w->ts->ring[(w->ts->seq - 1) % TRACE_LEN].a[3] = out->io;
		check_new_handle(w, &c, out->io, close_seq);
		handle_add(p, out->io, ca.cookie);
	}
	/* a failed copy-out still spent a generation of some slot */
	if (!c.ret || (c.err == EFAULT && acc == ACC_RO))
		p->creates++;
	/* memory others write: the kernel may have read another cookie */
	if (acc == ACC_ANY && (!c.ret || c.err == EFAULT))
		p->untagged = 1;
	model_unlock(w->r);
}

/* ---- IO_CLOSE ---- */

void op_io_close(struct worker *w)
{
	uint64_t a[4] = { 0 };
	int hk, closed = 0;
	enum access acc;
	struct port *p;
	struct call c;
	uint32_t mask, io;
	void *arg;

	p = pick_locked(w, &c, OP_IO_CLOSE);
	io = pick_handle(w, p, &hk);
	if (p)
		closed = handle_is_closed(p, io) && handle_checks_on(p);
	model_unlock(w->r);

	a[0] = io;
	a[1] = (uint64_t)hk;
	arg = place_arg(w, &c, 0, &io, sizeof(io), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_IO_CLOSE, arg, a, now_ns());
	call_settle(w, &c);

	acc = ptr_access(c.pk);
	if (!gate(&c, &mask) && !readable(&c, acc, &mask)) {
		if (handle_bad_form(p, io) || closed)
			mask = M(E_NOENT);
		else
			mask = M(E_OK) | M(E_NOENT) | M(E_AGAIN);
	}
	check_result(w, &c, mask);
	resolve_setup(w, &c);
	if (!c.ret && acc != ACC_ANY && call_port_valid(w, &c))
		handle_closed(p, io);
	model_unlock(w->r);
}

/* ---- POST ---- */

static uint32_t pick_count(struct worker *w)
{
	static const uint32_t bad[] = { 0, TPIO_POST_MAX + 1, 1U << 31,
					0xffffffff, 1000 };
	uint64_t x = below(w, 100);

	if (x < 35)
		return 1;
	if (x < 75)
		return 2 + below(w, 7);
	if (x < 87)
		return 9 + below(w, 56);
	if (x < 95)
		return 65 + below(w, TPIO_POST_MAX - 64);
	if (x < 97)
		return TPIO_POST_MAX;
	return bad[below(w, 5)];
}

struct post_plan {
	struct tpio_post_args pa;
	struct tpio_completion comp[TPIO_POST_MAX];
	uint32_t n;		/* entries prepared */
	int bad_io;		/* an entry's handle is malformed */
	int bad_pad;		/* an entry's pad is set */
};

static void post_prepare(struct worker *w, struct port *p,
			 struct post_plan *pl)
{
	uint32_t i, same;
	int hk;

	memset(&pl->pa, 0, sizeof(pl->pa));
	pl->pa.count = pick_count(w);
	pl->n = pl->pa.count >= 1 && pl->pa.count <= TPIO_POST_MAX ?
		pl->pa.count : 1 + (uint32_t)below(w, 4);
	same = chance(w, 50) ? pick_handle(w, p, &hk) : 0;
	pl->bad_io = 0;
	for (i = 0; i < pl->n; i++) {
		struct tpio_completion *e = &pl->comp[i];

		e->io = same ? same : pick_handle(w, p, &hk);
		e->status = chance(w, 80) ? 0 : (uint32_t)rnd(w);
		e->overlapped = rnd(w);
		e->information = below(w, 1 << 20);
		e->result = CANARY32;
		e->pad = 0;
		pl->bad_io |= handle_bad_form(p, e->io);
	}
	pl->bad_pad = chance(w, 4);
	if (pl->bad_pad)
		pl->comp[below(w, pl->n)].pad = (uint32_t)rnd(w) | 1;
	if (chance(w, 60))
		pl->pa.flags = TPIO_POST_RESULTS;
	else if (chance(w, 80))
		pl->pa.flags = 0;
	else
		pl->pa.flags = (uint32_t)rnd(w);
	pl->pa.done = DONE_CANARY;
	pl->pa.pad = chance(w, 97) ? 0 : (uint32_t)rnd(w) | 1;
}

/* The handler's order: args, array, pads, done, results, lookups. */
static uint32_t post_mask(const struct call *c, const struct post_plan *pl)
{
	enum access acc = ptr_access(c->pk), acc2 = ptr_access(c->pk2);
	const struct tpio_post_args *pa = &pl->pa;
	uint32_t mask;

	if (gate(c, &mask) || readable(c, acc, &mask))
		return mask;
	if (pa->pad || (pa->flags & ~TPIO_POST_RESULTS) || !pa->count ||
	    pa->count > TPIO_POST_MAX)
		return M(E_INVAL);
	if (acc2 == ACC_NONE)
		return M(E_FAULT);
	if (acc2 == ACC_ANY)
		return doc_errors[OP_POST];
	if (pl->bad_pad)
		return M(E_INVAL);
	if (acc == ACC_RO || ((pa->flags & TPIO_POST_RESULTS) &&
			      acc2 == ACC_RO))
		return M(E_FAULT);
	if (pl->bad_io)
		return M(E_NOENT);
	return M(E_OK) | M(E_NOENT) | M(E_AGAIN);
}

/* done, results and the input fields, read back after the call */
static void post_check_out(struct worker *w, const struct call *c,
			   const struct post_plan *pl,
			   const struct tpio_post_args *pa,
			   const struct tpio_completion *comp)
{
	int results = !c->ret && (pl->pa.flags & TPIO_POST_RESULTS);
	uint32_t i, done = pa->done;

	if (!c->ret && (done < 1 || done > pl->pa.count))
		violation(w, "POST of %u succeeded with done = %u",
			  pl->pa.count, done);
	if (c->ret && done != DONE_CANARY && done != 0)
		violation(w, "POST failed (%s) but wrote done = %u",
			  errno_name(c->err), done);
	for (i = 0; i < pl->n; i++) {
		const struct tpio_completion *e = &comp[i], *in = &pl->comp[i];
		int want_result = results && i < done;

		if (e->io != in->io || e->status != in->status ||
		    e->overlapped != in->overlapped ||
		    e->information != in->information || e->pad != in->pad)
			violation(w, "POST changed input fields of entry %u", i);
		if (want_result && (e->result < TPIO_POSTED_QUEUED ||
				    e->result > TPIO_POSTED_DROPPED))
			violation(w, "POST entry %u of %u: result %u", i, done,
				  e->result);
		if (!want_result && e->result != CANARY32)
			violation(w, "POST wrote result %#x of entry %u (done "
				  "%u, flags %#x, %s)", e->result, i, done,
				  pl->pa.flags, c->ret ? "failed" : "ok");
	}
}

void op_post(struct worker *w)
{
	static __thread struct post_plan pl;
	const struct tpio_completion *comp;
	const struct tpio_post_args *pa;
	uint64_t a[4] = { 0 };
	struct port *p;
	struct call c;
	void *arg, *arr;

	p = pick_locked(w, &c, OP_POST);
	post_prepare(w, p, &pl);
	model_unlock(w->r);

	arr = place_arg(w, &c, 1, pl.comp, pl.n * sizeof(pl.comp[0]),
			&c.pk2);
	pl.pa.completions = (uintptr_t)arr;
	a[0] = pl.pa.count;
	a[1] = pl.pa.flags;
	a[2] = pl.comp[0].io;
	arg = place_arg(w, &c, 0, &pl.pa, sizeof(pl.pa), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_POST, arg, a, now_ns());
	call_settle(w, &c);
	check_result(w, &c, post_mask(&c, &pl));
	resolve_setup(w, &c);
	pa = arg_view(w, c.pk, arg, 0, sizeof(pl.pa));
	comp = arg_view(w, c.pk2, arr, 1, pl.n * sizeof(pl.comp[0]));
	if (pa && comp && call_port_valid(w, &c)) {
		w->ts->ring[(w->ts->seq - 1) % TRACE_LEN].a[3] = pa->done;
		post_check_out(w, &c, &pl, pa, comp);
	}
	model_unlock(w->r);
}

/* ---- WAIT and DRAIN ---- */

/*
 * The port's wake_seq as user space sees it, or a guess. @off: its offset
 * from the port's SETUP (0: unknown), read with the model locked.
 */
static uint32_t read_wake_seq(struct worker *w, const struct call *c,
			      uint32_t off)
{
	uint32_t v = (uint32_t)below(w, 4);
	struct port *p = c->port;
	struct mapping *m;

	if (!p || !off)
		return v;
	pthread_rwlock_rdlock(&p->map_lock);
	if (atomic_load(&p->serial) == c->serial) {
		m = port_map(p, 1, off + 4, PROT_READ);
		if (m)
			v = atomic_load((_Atomic uint32_t *)(m->addr + off));
	}
	pthread_rwlock_unlock(&p->map_lock);
	return v;
}

/*
 * WAIT's flags and seq: mostly a plain wait, often TPIO_WAIT_SEQ with the
 * current wake_seq (it sleeps) or another value (it must not), sometimes
 * one flag bit of 32 (TPIO_WAIT_PENDING among them, valid where the module
 * has it, the others unknown) or a seq without the flag.
 */
static void pick_wait_seq(struct worker *w, const struct call *c,
			  uint32_t off, struct tpio_wait_args *wa)
{
	uint64_t x = below(w, 100);

	wa->flags = 0;
	wa->seq = 0;
	if (x < 70)
		return;
	if (x < 94) {
		wa->flags = TPIO_WAIT_SEQ;
		wa->seq = read_wake_seq(w, c, off) + (chance(w, 70) ? 0 :
						  (uint32_t)below(w, 3) - 1);
		return;
	}
	if (x < 97)
		wa->flags = 1U << below(w, 32);
	else
		wa->seq = (uint32_t)rnd(w) | 1;
}

/*
 * A timed-out wait must not return before its absolute timeout, and a
 * wait may fail with EINTR only if a signal without SA_RESTART (SIGUSR1
 * here; SIGUSR2 has SA_RESTART) came, except DRAIN with CANCEL.
 */
static void check_wait_timing(struct worker *w, const struct call *c,
			      uint64_t timeout, int may_eintr)
{
	if (!call_port_valid(w, c) || ptr_access(c->pk) == ACC_ANY ||
	    c->ret >= 0)
		return;
	if (c->err == ETIMEDOUT && timeout && timeout <= KTIME_MAX_NS &&
	    c->t1 < timeout)
		violation(w, "%s timed out %llu ns before its timeout",
			  op_name(c->op),
			  (unsigned long long)(timeout - c->t1));
	if (c->err == EINTR && !c->sig1 && !may_eintr)
		violation(w, "%s failed with EINTR, but only SA_RESTART "
			  "signals came", op_name(c->op));
}

void op_wait(struct worker *w)
{
	struct tpio_wait_args wa;
	uint64_t a[4] = { 0 }, bound;
	uint32_t mask, off;
	struct port *p;
	struct call c;
	void *arg;

	p = pick_locked(w, &c, OP_WAIT);
	off = p && p->sa_known ? p->sa.shared_off.wake_seq : 0;
	model_unlock(w->r);
	wa.timeout = pick_timeout(w, &bound);
	pick_wait_seq(w, &c, off, &wa);
	a[0] = wa.timeout;
	a[1] = (uint64_t)wa.flags << 32 | wa.seq;
	arg = place_arg(w, &c, 0, &wa, sizeof(wa), &c.pk);
	if (ptr_access(c.pk) == ACC_ANY && bound != UNBOUNDED)
		bound = UNBOUNDED;	/* it may read another timeout */
	do_ioctl(w, &c, TPIO_IOC_WAIT, arg, a, bound);
	call_settle(w, &c);
	if (!gate(&c, &mask) && !readable(&c, ptr_access(c.pk), &mask)) {
		if ((wa.flags & ~(TPIO_WAIT_SEQ | TPIO_WAIT_PENDING)) ||
		    (!(wa.flags & TPIO_WAIT_SEQ) && wa.seq))
			mask = M(E_INVAL);
		else
			mask = M(E_OK) | M(E_TIMEDOUT) | M(E_INTR);
		/* PENDING: EINVAL from a module without the control */
		if (mask != M(E_INVAL) && (wa.flags & TPIO_WAIT_PENDING))
			mask |= M(E_INVAL);
	}
	check_result(w, &c, mask);
	check_wait_timing(w, &c, wa.timeout, 0);
	resolve_setup(w, &c);
	model_unlock(w->r);
}

void op_drain(struct worker *w)
{
	struct tpio_drain_args da;
	uint64_t a[4] = { 0 }, bound;
	int hk, closed = 0;
	struct port *p;
	struct call c;
	uint32_t mask;
	void *arg;

	p = pick_locked(w, &c, OP_DRAIN);
	da.io = pick_handle(w, p, &hk);
	if (p)
		closed = handle_is_closed(p, da.io) && handle_checks_on(p);
	model_unlock(w->r);
	da.timeout = pick_timeout(w, &bound);
	da.flags = (uint32_t)below(w, 8);
	if (chance(w, 3))
		da.flags |= 1U << (3 + below(w, 29));
	a[0] = da.io;
	a[1] = da.flags;
	a[2] = da.timeout;
	arg = place_arg(w, &c, 0, &da, sizeof(da), &c.pk);
	if (ptr_access(c.pk) == ACC_ANY && bound != UNBOUNDED)
		bound = UNBOUNDED;
	do_ioctl(w, &c, TPIO_IOC_DRAIN, arg, a, bound);
	call_settle(w, &c);
	if (!gate(&c, &mask) && !readable(&c, ptr_access(c.pk), &mask)) {
		if (da.flags & ~(TPIO_DRAIN_CANCEL | TPIO_DRAIN_GROUP |
				 TPIO_DRAIN_SELF))
			mask = M(E_INVAL);
		else if (handle_bad_form(p, da.io) || closed)
			mask = M(E_NOENT);
		else
			mask = M(E_OK) | M(E_NOENT) | M(E_TIMEDOUT) |
			       M(E_INTR) | M(E_AGAIN);
	}
	check_result(w, &c, mask);
	check_wait_timing(w, &c, da.timeout, da.flags & TPIO_DRAIN_CANCEL);
	resolve_setup(w, &c);
	model_unlock(w->r);
}

/* ---- WAKE ---- */

static uint32_t wake_mask(const struct call *c, const struct port *p,
			  const struct tpio_wake_args *wa)
{
	uint32_t mask;

	if (gate(c, &mask) || readable(c, ptr_access(c->pk), &mask))
		return mask;
	if (wa->pad)
		return M(E_INVAL);
	if (wa->flags == TPIO_WAKE_IO) {
		if (wa->count)
			return M(E_INVAL);
		return handle_bad_form(p, wa->io) ? M(E_NOENT) :
						    M(E_OK) | M(E_NOENT);
	}
	if (wa->flags != TPIO_WAKE_WORKERS || wa->io || !wa->count)
		return M(E_INVAL);
	return M(E_OK);
}

static void wake_call(struct worker *w, struct call *c,
		      struct tpio_wake_args *wa)
{
	uint64_t a[4] = { wa->io, wa->flags, wa->count, wa->pad };
	void *arg;

	arg = place_arg(w, c, 0, wa, sizeof(*wa), &c->pk);
	do_ioctl(w, c, TPIO_IOC_WAKE, arg, a, now_ns());
	call_settle(w, c);
	check_result(w, c, wake_mask(c, c->port, wa));
	if (c->ret > 0 && call_port_valid(w, c) &&
	    ptr_access(c->pk) != ACC_ANY &&
	    (wa->flags != TPIO_WAKE_WORKERS || c->ret > wa->count))
		violation(w, "WAKE(flags %#x, count %u) returned %lld",
			  wa->flags, wa->count, (long long)c->ret);
	resolve_setup(w, c);
	model_unlock(w->r);
}

void op_wake(struct worker *w)
{
	static const uint32_t counts[] = { 1, 2, 3, 8, 0xffffffff };
	struct tpio_wake_args wa = { 0 };
	struct port *p;
	struct call c;
	uint64_t x;
	int hk;

	p = pick_locked(w, &c, OP_WAKE);
	wa.io = pick_handle(w, p, &hk);
	model_unlock(w->r);
	x = below(w, 100);
	if (x < 45) {
		wa.flags = TPIO_WAKE_IO;
	} else if (x < 85) {
		wa.flags = TPIO_WAKE_WORKERS;
		wa.io = 0;
		wa.count = counts[below(w, 5)];
	} else {
		static const uint32_t flags[] = { 0, 3, 4, 1U << 31 };

		wa.flags = chance(w, 50) ? flags[below(w, 4)] :
					   (uint32_t)rnd(w);
		wa.count = chance(w, 50) ? (uint32_t)rnd(w) : 0;
		if (chance(w, 30))
			wa.flags = chance(w, 50) ? TPIO_WAKE_IO :
						   TPIO_WAKE_WORKERS;
	}
	wa.pad = chance(w, 97) ? 0 : (uint32_t)rnd(w) | 1;
	wake_call(w, &c, &wa);
}

/*
 * The WAKEs of the user-side protocol: WAKE(IO) after a transition that
 * may have drained @io while a DRAIN sleeper flagged WAITERS (@io != 0),
 * WAKE(WORKERS, 1) after a wake_seq bump that saw waiters (@io == 0).
 */
void wake_io(struct worker *w, struct port *p, uint32_t io)
{
	struct tpio_wake_args wa = { .io = io, .flags = TPIO_WAKE_IO };
	struct call c;

	if (!io) {
		wa.flags = TPIO_WAKE_WORKERS;
		wa.count = 1;
	}

	model_lock(w->r);
	memset(&c, 0, sizeof(c));
	c.op = OP_WAKE;
	c.closes = atomic_load(&w->r->closes);
	c.fd = -1;
	c.fd_kind = FD_BAD;
	c.setup = SETUP_MAYBE;
	if (p->used)
		call_on_port(w, &c, p);
	model_unlock(w->r);
	wake_call(w, &c, &wa);
}

/* ---- IO_QUERY ---- */

void op_io_query(struct worker *w)
{
	struct tpio_io_query_args qa;
	const struct tpio_io_query_args *out;
	const struct handle *h;
	uint64_t a[4] = { 0 }, cookie = 0;
	int hk, known = 0;
	enum access acc;
	struct port *p;
	struct call c;
	uint32_t mask;
	void *arg;

	memset(&qa, 0xcc, sizeof(qa));	/* outputs: garbage in */
	p = pick_locked(w, &c, OP_IO_QUERY);
	qa.io = pick_handle(w, p, &hk);
	h = p ? handle_find(p, qa.io) : NULL;
	if (h && handle_checks_on(p)) {
		known = 1;
		cookie = h->cookie;
	}
	model_unlock(w->r);
	qa.reserved = chance(w, 97) ? 0 : rnd(w) | 1;
	a[0] = qa.io;
	a[1] = qa.reserved;
	a[2] = (uint64_t)hk;
	arg = place_arg(w, &c, 0, &qa, sizeof(qa), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_IO_QUERY, arg, a, now_ns());
	call_settle(w, &c);

	acc = ptr_access(c.pk);
	if (!gate(&c, &mask) && !readable(&c, acc, &mask)) {
		if (qa.reserved)
			mask = M(E_INVAL);
		else if (handle_bad_form(p, qa.io))
			mask = M(E_NOENT);
		else
			mask = (acc == ACC_RO ? M(E_FAULT) : M(E_OK)) |
			       M(E_NOENT);
	}
	check_result(w, &c, mask);
	resolve_setup(w, &c);
	out = arg_view(w, c.pk, arg, 0, sizeof(qa));
	if (!c.ret && out && acc == ACC_RW && call_port_valid(w, &c)) {
		w->ts->ring[(w->ts->seq - 1) % TRACE_LEN].a[3] = out->cookie;
		if (out->io != qa.io || out->reserved ||
		    (out->flags & ~TPIO_IO_F_CLOSED))
			violation(w, "IO_QUERY of %#x returned io %#x flags "
				  "%#x reserved %#llx", qa.io, out->io,
				  out->flags,
				  (unsigned long long)out->reserved);
		if (known && out->cookie != cookie)
			violation(w, "IO_QUERY of %#x returned cookie %#llx; "
				  "the object was created with %#llx", qa.io,
				  (unsigned long long)out->cookie,
				  (unsigned long long)cookie);
	}
	model_unlock(w->r);
}

/* ---- CONC ---- */

/* The thread's record of its attachment to @p, or NULL. */
static struct att *att_find(struct worker *w, const struct port *p)
{
	int i;

	for (i = 0; p && i < w->natt; i++)
		if (w->att[i].p == p &&
		    w->att[i].serial == atomic_load(&p->serial))
			return &w->att[i];
	return NULL;
}

static int att_sure(const struct worker *w)
{
	int i, n = 0;

	for (i = 0; i < w->natt; i++)
		n += w->att[i].sure;
	return n;
}

static void att_forget(struct worker *w, struct att *a)
{
	*a = w->att[--w->natt];
}

/* What the thread knows of its attachments is lost: loose checks. */
static void att_lost(struct worker *w)
{
	int i;

	w->conc_fuzzy = 1;
	for (i = 0; i < w->natt; i++)
		w->att[i].sure = 0;
}

/* @p is attached (@sure) or maybe attached. */
static void att_set(struct worker *w, struct port *p, int sure)
{
	struct att *a = att_find(w, p);

	if (!a) {
		if (w->natt == MAX_ATT) {
			att_lost(w);
			return;
		}
		a = &w->att[w->natt++];
		a->p = p;
		a->serial = atomic_load(&p->serial);
	}
	a->sure = sure;
}

static uint32_t pick_conc_op(struct worker *w, int *kind)
{
	static const uint32_t bad[] = { 0, 5, 0x100, 0xffffffff };
	uint64_t x = below(w, 100);

	*kind = x < 36 ? 0 : x < 62 ? 1 : x < 72 ? 2 : x < 95 ? 3 : 4;
	if (*kind == 4)
		return chance(w, 50) ? bad[below(w, 4)] : (uint32_t)rnd(w) | 8;
	return (uint32_t[]){ TPIO_CONC_ATTACH, TPIO_CONC_DETACH,
			     TPIO_CONC_SET, TPIO_CONC_QUERY }[*kind];
}

/*
 * What a CONC with readable arguments on a set-up port may answer, in the
 * handler's order: fields, op, the thread's attachments, copy out.
 */
static uint32_t conc_mask(struct worker *w, const struct call *c,
			  const struct tpio_conc_args *ca, enum access acc)
{
	uint32_t ok = acc == ACC_RO ? M(E_FAULT) : M(E_OK);
	uint32_t loose = w->conc_fuzzy ? M(E_BUSY) | M(E_NOSPC) : 0;
	const struct att *a = att_find(w, c->port);
	int sure = att_sure(w);

	if (ca->reserved || (ca->op != TPIO_CONC_SET && ca->value))
		return M(E_INVAL);
	switch (ca->op) {
	case TPIO_CONC_ATTACH:
		if (!g_cfg.conc)
			return M(E_OTHER);	/* EOPNOTSUPP */
		if (a && a->sure)
			return M(E_BUSY);
		if (sure >= TPIO_CONC_TASK_MAX)
			return M(E_NOSPC) |
			       (a || w->conc_fuzzy ? M(E_BUSY) : 0);
		return ok | M(E_NOMEM) | M(E_DQUOT) | loose |
		       (a ? M(E_BUSY) : 0) |
		       (w->natt >= TPIO_CONC_TASK_MAX ? M(E_NOSPC) : 0);
	case TPIO_CONC_DETACH:
		if (!g_cfg.conc)
			return M(E_OTHER);
		if (a && a->sure)
			return ok;
		if (!a && !w->conc_fuzzy)
			return M(E_NOENT);
		return ok | M(E_NOENT);
	case TPIO_CONC_SET:
		if (!g_cfg.conc)
			return M(E_OTHER);
		return ca->value > TPIO_CONC_MAX ? M(E_INVAL) : ok;
	case TPIO_CONC_QUERY:
		return ok;
	}
	return M(E_INVAL);
}

/* The model after a CONC that reached the handler of c->port. */
static void conc_update(struct worker *w, const struct call *c,
			const struct tpio_conc_args *ca, enum access acc)
{
	int done = !c->ret || (c->err == EFAULT && acc == ACC_RO);
	struct att *a;

	if (ca->op == TPIO_CONC_ATTACH && (done || c->err == EBUSY)) {
		att_set(w, c->port, 1);
	} else if (ca->op == TPIO_CONC_DETACH &&
		   (done || c->err == ENOENT)) {
		a = att_find(w, c->port);
		if (a)
			att_forget(w, a);
	}
}

/* The outputs of a successful CONC. */
static void check_conc_out(struct worker *w, const struct call *c,
			   const struct tpio_conc_args *in,
			   const struct tpio_conc_args *o)
{
	const struct att *a = att_find(w, c->port);
	const char *bad = NULL;

	if (o->op != in->op || o->reserved)
		bad = "an input field changed";
	else if (o->value)	/* the fuzzer sets no other value */
		bad = "the value is not 0";
	else if (o->attached > TPIO_CONC_WORKERS_MAX ||
		 o->active > TPIO_CONC_WORKERS_MAX ||
		 o->blocked > TPIO_CONC_WORKERS_MAX ||
		 o->woken > TPIO_CONC_WORKERS_MAX)
		bad = "a count is past TPIO_CONC_WORKERS_MAX (wrapped?)";
	else if (a && a->sure && (!o->attached || !o->active))
		bad = "the calling thread is attached and running, yet not "
		      "counted";
	if (bad)
		violation(w, "CONC(op %u): %s: value %u attached %u active %u "
			  "blocked %u woken %u released %llu", in->op, bad,
			  o->value, o->attached, o->active, o->blocked,
			  o->woken, (unsigned long long)o->released);
}

/*
 * TPIO_IOC_CONC with the value 0 only (or one past TPIO_CONC_MAX): a
 * value would hold back the WAITs and WAKEs the rest of the model judges.
 * Each thread knows the ports it attached itself to, so EBUSY, ENOENT
 * and ENOSPC (TPIO_CONC_TASK_MAX) are decided; attachments outlive the
 * close() of their port's fds and end with the thread (worker threads
 * end one by one, children and round processes exit attached).
 */
void op_conc(struct worker *w)
{
	struct tpio_conc_args ca;
	const struct tpio_conc_args *out;
	uint64_t a[4] = { 0 };
	enum access acc;
	struct call c;
	uint32_t mask;
	int kind;
	void *arg;

	pick_locked(w, &c, OP_CONC);
	model_unlock(w->r);
	memset(&ca, 0xa5, sizeof(ca));	/* outputs: garbage in */
	ca.op = pick_conc_op(w, &kind);
	ca.value = 0;
	if (ca.op == TPIO_CONC_SET && chance(w, 15))
		ca.value = chance(w, 50) ? TPIO_CONC_MAX + 1 :
			   TPIO_CONC_MAX + 1 +
			   (uint32_t)below(w, 0xffffffffU - TPIO_CONC_MAX);
	else if (chance(w, 3))
		ca.value = 1 + (uint32_t)below(w, TPIO_CONC_MAX);
	if (ca.op == TPIO_CONC_SET && ca.value && ca.value <= TPIO_CONC_MAX)
		ca.value = 0;	/* never a value that takes effect */
	ca.reserved = chance(w, 97) ? 0 : 1ULL << below(w, 64);
	a[0] = ca.op;
	a[1] = ca.value;
	a[2] = ca.reserved;
	arg = place_arg(w, &c, 0, &ca, sizeof(ca), &c.pk);
	do_ioctl(w, &c, TPIO_IOC_CONC, arg, a, now_ns());
	call_settle(w, &c);
	atomic_fetch_add(&g_shm->by_conc[kind][errno_class(c.ret ? c.err : 0)],
			 1);

	acc = ptr_access(c.pk);
	if (!gate(&c, &mask) && !readable(&c, acc, &mask))
		mask = conc_mask(w, &c, &ca, acc);
	if (!g_cfg.conc)
		mask |= M(E_OTHER);
	check_result(w, &c, mask);
	if (c.ret && c.err != EOPNOTSUPP && errno_class(c.err) == E_OTHER)
		violation(w, "CONC failed with %s", errno_name(c.err));
	resolve_setup(w, &c);
	if (acc == ACC_ANY || !call_port_valid(w, &c)) {
		/* another op, or another port: anything may have happened */
		if (!c.ret || c.err == EFAULT || acc == ACC_ANY)
			att_lost(w);
		model_unlock(w->r);
		return;
	}
	conc_update(w, &c, &ca, acc);
	out = arg_view(w, c.pk, arg, 0, sizeof(ca));
	if (!c.ret && out && acc == ACC_RW) {
		w->ts->ring[(w->ts->seq - 1) % TRACE_LEN].a[3] = out->attached;
		check_conc_out(w, &c, &ca, out);
	}
	model_unlock(w->r);
}

/* ---- commands that are not tpio's ---- */

static const unsigned long real_cmds[] = {
	TPIO_IOC_VERSION, TPIO_IOC_SETUP, TPIO_IOC_IO_CREATE,
	TPIO_IOC_IO_CLOSE, TPIO_IOC_POST, TPIO_IOC_WAIT, TPIO_IOC_DRAIN,
	TPIO_IOC_WAKE, TPIO_IOC_IO_QUERY, TPIO_IOC_CONC,
};

static int is_real_cmd(uint32_t cmd)
{
	size_t i;

	for (i = 0; i < sizeof(real_cmds) / sizeof(real_cmds[0]); i++)
		if ((uint32_t)real_cmds[i] == cmd)
			return 1;
	return 0;
}

/*
 * Types whose commands the VFS (or a socket) handles itself before the
 * driver sees them (FIONBIO, FIOCLEX, FIFREEZE, FICLONE, ...): never
 * sent, they could act on the file system or the fd.
 */
static int generic_type(uint32_t type)
{
	return type == 0x00 || type == 0x12 || type == 'T' || type == 'X' ||
	       type == 'f' || type == 0x89 || type == 0x8b || type == 0x94;
}

static uint32_t pick_bad_cmd(struct worker *w)
{
	static const uint32_t sizes[] = { 0, 1, 4, 8, 16, 24, 32, 40, 48, 56,
					  64, 0x3fff };
	uint32_t cmd, real;

	do {
		uint64_t x = below(w, 100);

		real = (uint32_t)real_cmds[below(w, 10)];
		if (x < 45)
			cmd = _IOC(below(w, 4), TPIO_IOC_MAGIC,
				   chance(w, 70) ? below(w, 16) : below(w, 256),
				   sizes[below(w, 12)]);
		else if (x < 70)	/* a real one, another size or direction */
			cmd = _IOC(below(w, 4), _IOC_TYPE(real), _IOC_NR(real),
				   chance(w, 50) ? _IOC_SIZE(real) :
						   sizes[below(w, 12)]);
		else
			cmd = (uint32_t)rnd(w);
	} while (is_real_cmd(cmd) || generic_type(_IOC_TYPE(cmd)));
	return cmd;
}

void op_bad_cmd(struct worker *w)
{
	uint64_t junk[8], a[4] = { 0 };
	struct call c;
	uint32_t cmd;
	void *arg;
	int i;

	pick_locked(w, &c, OP_BAD_CMD);
	model_unlock(w->r);
	cmd = pick_bad_cmd(w);
	for (i = 0; i < 8; i++)
		junk[i] = chance(w, 50) ? 0 : rnd(w);
	a[0] = junk[0];
	arg = place_arg(w, &c, 0, junk, sizeof(junk), &c.pk);
	do_ioctl(w, &c, cmd, arg, a, now_ns());
	call_settle(w, &c);
	check_result(w, &c, M(E_NOTTY));
	model_unlock(w->r);
}
