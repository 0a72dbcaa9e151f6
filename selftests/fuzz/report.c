// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: the trace of each thread's last calls (in memory shared with
 * the supervisor, so that it survives a killed or crashed process), the
 * call statistics, and the report of a violation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

struct shm *g_shm;
struct config g_cfg;

static const char *const op_names[OP_COUNT] = {
	[OP_VERSION] = "VERSION",	[OP_SETUP] = "SETUP",
	[OP_IO_CREATE] = "IO_CREATE",	[OP_IO_CLOSE] = "IO_CLOSE",
	[OP_POST] = "POST",		[OP_WAIT] = "WAIT",
	[OP_DRAIN] = "DRAIN",		[OP_WAKE] = "WAKE",
	[OP_IO_QUERY] = "IO_QUERY",	[OP_CONC] = "CONC",
	[OP_BAD_CMD] = "bad-cmd",
	[OP_OPEN] = "open",		[OP_CLOSE] = "close",
	[OP_DUP] = "dup",		[OP_SENDFD] = "scm-rights",
	[OP_MMAP] = "mmap",		[OP_MUNMAP] = "munmap",
	[OP_MPROTECT] = "mprotect",	[OP_MADVISE] = "madvise",
	[OP_MREMAP] = "mremap",		[OP_START] = "word-start",
	[OP_CONSUME] = "consume",	[OP_SCRIBBLE] = "scribble",
	[OP_FORK] = "fork",		[OP_SLEEPER] = "sleeper",
	[OP_KILL] = "kill-child",	[OP_SIGNAL] = "signal",
	[OP_POLL] = "poll",		[OP_EPOLL] = "epoll",
	[OP_FLICKER] = "flicker",
};

/* the meaning of trace_ent.a[] per op, for the printed trace */
static const char *const op_fields[OP_COUNT][4] = {
	[OP_VERSION] = { "resv0", "resv1" },
	[OP_SETUP] = { "entries", "objects", "flags", "resv" },
	[OP_IO_CREATE] = { "cookie", "flags", "resv", "io" },
	[OP_IO_CLOSE] = { "io", "hkind" },
	[OP_POST] = { "count", "flags", "io0", "done" },
	[OP_WAIT] = { "timeout", "flags|seq" },
	[OP_DRAIN] = { "io", "flags", "timeout" },
	[OP_WAKE] = { "io", "flags", "count", "pad" },
	[OP_IO_QUERY] = { "io", "resv", "hkind", "cookie" },
	[OP_CONC] = { "op", "value", "resv", "attached" },
	[OP_BAD_CMD] = { "word0" },
	[OP_OPEN] = { "flags" },
	[OP_DUP] = { "newfd" },
	[OP_SENDFD] = { "nfds", "recv", "type" },
	[OP_MMAP] = { "len", "prot", "flags", "off" },
	[OP_MUNMAP] = { "addr", "len" },
	[OP_MPROTECT] = { "addr", "len", "prot" },
	[OP_MADVISE] = { "addr", "len", "advice" },
	[OP_MREMAP] = { "addr", "old", "new", "flags" },
	[OP_START] = { "io", "what", "n" },
	[OP_CONSUME] = { "taken", "slot", "epoch" },
	[OP_SCRIBBLE] = { "how", "off", "value" },
	[OP_FORK] = { "seed" },
	[OP_SLEEPER] = { "seed" },
	[OP_KILL] = { "pid", "sig" },
	[OP_SIGNAL] = { "tid", "sig" },
	[OP_POLL] = { "events", "timeout", "revents" },
	[OP_EPOLL] = { "what", "events", "n" },
};

static const char *const pk_names[PK_COUNT] = {
	[PK_NONE_ARG] = "-",		[PK_PLAIN] = "plain",
	[PK_MISALIGN] = "misaligned",	[PK_RO] = "read-only",
	[PK_EDGE] = "edge",		[PK_NULL] = "NULL",
	[PK_KERNEL] = "kernel",		[PK_PROTNONE] = "PROT_NONE",
	[PK_RING] = "ring-map",		[PK_SHARED] = "shared-map",
	[PK_FLICKER] = "flicker",
};

const char *op_name(enum op op)
{
	return op < OP_COUNT ? op_names[op] : "?";
}

static const struct {
	int err;
	enum eclass cls;
	const char *name;
} errnos[] = {
	{ EFAULT, E_FAULT, "EFAULT" },	{ EINVAL, E_INVAL, "EINVAL" },
	{ ENOENT, E_NOENT, "ENOENT" },	{ ENOSPC, E_NOSPC, "ENOSPC" },
	{ EAGAIN, E_AGAIN, "EAGAIN" },	{ ETIMEDOUT, E_TIMEDOUT, "ETIMEDOUT" },
	{ EINTR, E_INTR, "EINTR" },	{ EBUSY, E_BUSY, "EBUSY" },
	{ ENOMEM, E_NOMEM, "ENOMEM" },	{ ENOTTY, E_NOTTY, "ENOTTY" },
	{ EBADF, E_BADF, "EBADF" },	{ EPERM, E_PERM, "EPERM" },
	{ EACCES, E_ACCES, "EACCES" },	{ EMFILE, E_MFILE, "EMFILE" },
	{ ENFILE, E_MFILE, "ENFILE" },	{ EDQUOT, E_DQUOT, "EDQUOT" },
};

static const char *const class_names[E_COUNT] = {
	"ok", "EFAULT", "EINVAL", "ENOENT", "ENOSPC", "EAGAIN", "ETIMEDOUT",
	"EINTR", "EBUSY", "ENOMEM", "ENOTTY", "EBADF", "EPERM", "EACCES",
	"EMFILE", "EDQUOT", "other",
};

enum eclass errno_class(int err)
{
	size_t i;

	if (!err)
		return E_OK;
	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].cls;
	return E_OTHER;
}

const char *errno_name(int err)
{
	static __thread char buf[16];
	size_t i;

	for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

void mask_names(uint32_t mask, char *buf, size_t len)
{
	size_t n = 0;
	int e;

	buf[0] = 0;
	for (e = 0; e < E_COUNT && n < len; e++)
		if (mask & M(e))
			n += snprintf(buf + n, len - n, "%s%s", n ? " " : "",
				      class_names[e]);
}

/* Writes one whole line (or several) with one write(), so lines of
 * different processes do not mix. */
static void out(const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(1, s, n);

		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			return;
		}
		s += k;
		n -= (size_t)k;
	}
}

void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	out(buf, (size_t)n);
}

/*
 * A trace slot for a new thread or process of round @round. Past
 * MAX_SLOTS the caller shares a spare slot of its process: its calls are
 * counted but their trace is not reliable.
 */
struct tslot *slot_alloc(uint32_t round, int worker, uint64_t seed)
{
	static struct tslot spare;
	uint32_t i = atomic_fetch_add(&g_shm->next_slot, 1);
	struct tslot *s = i < MAX_SLOTS ? &g_shm->slots[i] : &spare;

	memset(s, 0, sizeof(*s));
	s->pid = getpid();
	s->tid = gettid();
	s->round = round;
	s->worker = worker;
	s->seed = seed;
	return s;
}

void trace_begin(struct worker *w, enum op op, int fd, uint64_t cmd,
		 enum ptr_kind pk, const uint64_t a[4], uint64_t bound_ns)
{
	struct tslot *s = w->ts;
	uint64_t seq = atomic_load(&s->seq);
	struct trace_ent *e = &s->ring[seq % TRACE_LEN];
	uint64_t now = now_ns();

	e->done = 0;
	e->t_ns = now - g_shm->round_t0;
	e->op = (uint16_t)op;
	e->pk = (uint8_t)pk;
	e->fd = fd;
	e->cmd = cmd;
	memcpy(e->a, a, sizeof(e->a));
	e->ret = 0;
	e->err = 0;
	atomic_store(&s->bound_ns, bound_ns);
	atomic_store(&s->start_ns, now);
	atomic_store(&s->seq, seq + 1);
}

void trace_end(struct worker *w, int64_t ret, int err)
{
	struct tslot *s = w->ts;
	uint64_t seq = atomic_load(&s->seq);
	struct trace_ent *e = &s->ring[(seq - 1) % TRACE_LEN];

	e->ret = ret;
	e->err = err;
	e->done = 1;
	atomic_store(&s->start_ns, 0);
}

void stats_add(enum op op, int64_t ret, int err)
{
	atomic_fetch_add_explicit(&g_shm->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g_shm->by_op[op][ret < 0 ? errno_class(err)
							    : E_OK],
				  1, memory_order_relaxed);
}

static int format_ent(const struct trace_ent *e, char *buf, size_t len)
{
	int n, i;

	n = snprintf(buf, len, "#   %8.3f ms %-10s fd=%d", e->t_ns / 1e6,
		     op_name(e->op), e->fd);
	if (e->op <= OP_BAD_CMD)
		n += snprintf(buf + n, len - n, " cmd=%#llx arg=%s",
			      (unsigned long long)e->cmd, pk_names[e->pk]);
	for (i = 0; i < 4 && e->op < OP_COUNT; i++) {
		const char *f = op_fields[e->op][i];

		if (f)
			n += snprintf(buf + n, len - n, " %s=%#llx", f,
				      (unsigned long long)e->a[i]);
	}
	if (!e->done)
		n += snprintf(buf + n, len - n, " -> (in flight)");
	else if (e->ret < 0)
		n += snprintf(buf + n, len - n, " -> %s", errno_name(e->err));
	else
		n += snprintf(buf + n, len - n, " -> %lld",
			      (long long)e->ret);
	return n;
}

/* Prints the last @last calls of one thread, oldest first. */
void print_slot(const struct tslot *s, int last, const char *why)
{
	uint64_t seq = atomic_load(&s->seq), i, from;
	char line[400];
	const char *who;

	who = s->worker >= 0 ? "worker" : s->worker == -1 ? "forked child" :
		"sleeper child";
	say("# %s: round %u %s %d (pid %d tid %d, seed %#llx), %llu calls, "
	    "the last %d:", why, s->round, who, s->worker, s->pid, s->tid,
	    (unsigned long long)s->seed, (unsigned long long)seq,
	    (int)(seq < (uint64_t)last ? seq : (uint64_t)last));
	from = seq > (uint64_t)last ? seq - (uint64_t)last : 0;
	for (i = from; i < seq; i++) {
		format_ent(&s->ring[i % TRACE_LEN], line, sizeof(line));
		say("%s", line);
	}
}

/* The traces of every thread of round @round, the last @last calls each. */
void print_round_slots(uint32_t round, int last)
{
	uint32_t n = atomic_load(&g_shm->next_slot), i;

	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	for (i = 0; i < n; i++)
		if (g_shm->slots[i].round == round && g_shm->slots[i].seq)
			print_slot(&g_shm->slots[i], last, "trace");
}

void repro_line(char *buf, size_t len, uint32_t round)
{
	snprintf(buf, len, "tpio_fuzz -s %#llx -r %u -j %d%s",
		 (unsigned long long)g_cfg.seed, round, g_cfg.threads,
		 g_cfg.unpriv > 0 ? " -u" : g_cfg.unpriv < 0 ? " -U" : "");
}

/*
 * An invariant does not hold: print what and the thread's last calls,
 * then end the process with EXIT_VIOLATION. Only the first thread to get
 * here prints; the others wait for the exit.
 */
void violation(struct worker *w, const char *fmt, ...)
{
	char msg[600], rep[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (atomic_exchange(&g_shm->reported, 1)) {
		for (;;)
			pause();
	}
	say("# VIOLATION: %s", msg);
	print_slot(w->ts, TRACE_LEN, "failing thread");
	print_round_slots(w->ts->round, TRACE_LEN);
	repro_line(rep, sizeof(rep), w->ts->round);
	say("# reproduce: %s", rep);
	_exit(EXIT_VIOLATION);
}

/* One "#   NAME TOTAL class count ..." line of @counts (E_COUNT classes). */
static void say_counts(const char *name, _Atomic uint64_t *counts)
{
	char line[600];
	uint64_t total = 0, k;
	int e, n;

	for (e = 0; e < E_COUNT; e++)
		total += atomic_load(&counts[e]);
	n = snprintf(line, sizeof(line), "#   %-10s %9llu ", name,
		     (unsigned long long)total);
	for (e = 0; e < E_COUNT; e++) {
		k = atomic_load(&counts[e]);
		if (k)
			n += snprintf(line + n, sizeof(line) - n, " %s %llu",
				      class_names[e], (unsigned long long)k);
	}
	say("%s", line);
}

void print_stats(void)
{
	static const char *const kinds[CONC_KINDS] = {
		"ATTACH", "DETACH", "SET", "QUERY", "bad-op" };
	int op;

	say("# calls per operation (result: count):");
	for (op = 0; op < OP_COUNT; op++)
		say_counts(op_name(op), g_shm->by_op[op]);
	say("# CONC calls per op (result: count):");
	for (op = 0; op < CONC_KINDS; op++)
		say_counts(kinds[op], g_shm->by_conc[op]);
}
