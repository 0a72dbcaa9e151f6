// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: one round. The supervisor forks a process per round; it
 * drops to uid/gid 65534 in some rounds, opens and sets up its ports,
 * then runs worker threads that each make calls chosen by their own
 * seeded generator, plus optionally a thread that scribbles over the
 * shared areas and one that flips the protection of the "flicker" page.
 *
 * The main thread is the controller: it signals sleepers that have no
 * timeout (so that they come back with EINTR), reaps and judges the
 * children the workers fork, and ends the round: a worker that does not
 * come back, or a child that does not die of SIGKILL, is a violation.
 *
 * Everything a round maps for itself is mapped before the workers start
 * and stays: the kernel may write through stale pointers into port
 * mappings that were unmapped, and that must never land in the fuzzer's
 * own memory. Likewise the workers never allocate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define CONTROLLER	100	/* tslot.worker of the controller */
#define SCRIBBLER	101
#define FLICKER		102

const op_fn op_table[OP_COUNT] = {
	[OP_VERSION] = op_version,	[OP_SETUP] = op_setup,
	[OP_IO_CREATE] = op_io_create,	[OP_IO_CLOSE] = op_io_close,
	[OP_POST] = op_post,		[OP_WAIT] = op_wait,
	[OP_DRAIN] = op_drain,		[OP_WAKE] = op_wake,
	[OP_IO_QUERY] = op_io_query,	[OP_CONC] = op_conc,
	[OP_BAD_CMD] = op_bad_cmd,
	[OP_OPEN] = op_open,		[OP_CLOSE] = op_close,
	[OP_DUP] = op_dup,		[OP_SENDFD] = op_sendfd,
	[OP_MMAP] = op_mmap,		[OP_MUNMAP] = op_munmap,
	[OP_MPROTECT] = op_mprotect,	[OP_MADVISE] = op_madvise,
	[OP_MREMAP] = op_mremap,	[OP_START] = op_start,
	[OP_CONSUME] = op_consume,	[OP_SCRIBBLE] = op_scribble,
	[OP_FORK] = op_fork,		[OP_SLEEPER] = op_sleeper,
	[OP_KILL] = op_kill,		[OP_SIGNAL] = op_signal,
	[OP_POLL] = op_poll,		[OP_EPOLL] = op_epoll,
};

/* How often each operation is chosen, before a round's swarm factors. */
static const uint32_t base_weight[OP_COUNT] = {
	[OP_VERSION] = 2,	[OP_SETUP] = 5,		[OP_IO_CREATE] = 16,
	[OP_IO_CLOSE] = 14,	[OP_POST] = 14,		[OP_WAIT] = 6,
	[OP_DRAIN] = 7,		[OP_WAKE] = 6,		[OP_IO_QUERY] = 8,
	[OP_CONC] = 6,
	[OP_BAD_CMD] = 3,	[OP_OPEN] = 2,		[OP_CLOSE] = 1,
	[OP_DUP] = 1,		[OP_SENDFD] = 1,	[OP_MMAP] = 3,
	[OP_MUNMAP] = 2,	[OP_MPROTECT] = 1,	[OP_MADVISE] = 1,
	[OP_MREMAP] = 1,	[OP_START] = 8,		[OP_CONSUME] = 6,
	[OP_SCRIBBLE] = 2,	[OP_FORK] = 1,		[OP_SLEEPER] = 1,
	[OP_KILL] = 1,		[OP_SIGNAL] = 1,		[OP_POLL] = 2,
	[OP_EPOLL] = 2,
};

/* ---- signals ---- */

static __thread volatile uint32_t t_sig1;
static __thread struct worker *t_self;	/* for the crash handler */

static void on_sigusr1(int sig)
{
	(void)sig;
	t_sig1++;
}

static void on_sigusr2(int sig)
{
	(void)sig;
}

uint32_t sig1_count(void)
{
	return t_sig1;
}

/*
 * The fuzzer itself crashed (or the kernel corrupted its memory): say
 * where and what the thread did, then die of the signal as before.
 */
static void on_crash(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	say("# round process: signal %d (%s), address %p, tid %d", sig,
	    strsignal(sig), si->si_addr, gettid());
	if (t_self && t_self->ts)
		print_slot(t_self->ts, TRACE_LEN, "crashed thread");
	signal(sig, SIG_DFL);
	raise(sig);
}

/* SIGUSR1 interrupts sleeping calls (EINTR); SIGUSR2 restarts them. */
void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sa.sa_flags = 0;
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sigusr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_sigusr2;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);
}

/* ---- the profile: everything a round does differently ---- */

/*
 * Swarm testing: each round weights the operations differently (some
 * not at all), which reaches states a fixed mix rarely does.
 */
static void swarm_weights(uint64_t *s, uint32_t *weights)
{
	static const uint32_t factor[8] = { 0, 1, 1, 1, 2, 2, 3, 4 };
	int op;

	for (op = 0; op < OP_COUNT; op++) {
		uint32_t f = factor[rng_next(s) % 8];

		/* the ioctls are always there, and ports to replace closed ones */
		if (!f && (op <= OP_CONC || op == OP_OPEN))
			f = 1;
		weights[op] = base_weight[op] * f;
	}
}

void make_profile(const struct config *cfg, uint32_t id, uint64_t seed,
		  uint64_t left_ns, struct profile *p)
{
	static const uint32_t bad_ptr[] = { 5, 12, 25, 45 };
	uint64_t s = derive_seed(seed, 0x70f11e);

	(void)id;
	memset(p, 0, sizeof(*p));
	p->workers = cfg->threads;
	if (cfg->threads > 1 && rng_next(&s) % 8 == 0)
		p->workers = 1;
	p->unpriv = cfg->is_root &&
		    (cfg->unpriv > 0 ||
		     (cfg->unpriv == 0 && rng_next(&s) % 3 == 0));
	p->scribbler = rng_next(&s) % 4 == 0;
	p->flicker = rng_next(&s) % 3 == 0;
	p->max_ports = 1 + (int)(rng_next(&s) % MAX_PORTS);
	p->bad_ptr_pct = bad_ptr[rng_next(&s) % 4];
	p->focus_pct = (uint32_t)(rng_next(&s) % 3) * 40;	/* 0, 40, 80 */
	p->unstick_ms = 20 + (uint32_t)(rng_next(&s) % 300);
	swarm_weights(&s, p->weights);
	p->length_ns = (2 + rng_next(&s) % 5) * NSEC;
	if (p->length_ns > left_ns)
		p->length_ns = left_ns;
	if (rng_next(&s) % 6 == 0)
		p->kill_at_ns = p->length_ns / 100 *
				(20 + rng_next(&s) % 70);
	p->calls_per_worker = 200000;
}

static enum op pick_op(struct worker *w)
{
	const uint32_t *wt = w->r->prof.weights;
	uint64_t total = 0, x;
	int op;

	for (op = 0; op < OP_COUNT; op++)
		total += wt[op];
	x = below(w, total);
	for (op = 0; x >= wt[op]; op++)
		x -= wt[op];
	return (enum op)op;
}

static int budget_spent(const struct round *r)
{
	return atomic_load(&r->stop) || atomic_load(&g_shm->stop) ||
	       (g_cfg.max_calls && atomic_load(&g_shm->calls) >=
				   g_cfg.max_calls);
}

/* One operation, sometimes repeated in a burst (races want repeats). */
static void step(struct worker *w)
{
	enum op op = pick_op(w);
	int n = chance(w, 6) ? 2 + (int)below(w, 31) : 1;

	while (n-- && !budget_spent(w->r))
		op_table[op](w);
}

/* ---- memory ---- */

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A RW and a RO view of a fresh memfd of @len bytes. */
static int memfd_views(size_t len, unsigned char **rw, unsigned char **ro,
		       int *fdp)
{
	int fd = memfd_create("tpio-fuzz", MFD_CLOEXEC);
	void *a, *b;

	if (fd < 0 || ftruncate(fd, (off_t)len))
		return -1;
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		return -1;
	*rw = a;
	*ro = b;
	if (fdp)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

/*
 * Argument memory: area i of the memfd belongs to worker i, area
 * MAX_WORKERS to the controller, the next MAX_KIDS to children (a child
 * shares the memfd with its parent, so it must not use its worker's).
 */
static unsigned char *g_args_rw, *g_args_ro;

static int worker_memory(struct worker *w, int area)
{
	w->buf = map_anon(ARG_LEN, PROT_READ | PROT_WRITE);
	w->edge = map_anon(2 * PAGE, PROT_READ | PROT_WRITE);
	if (!w->buf || !w->edge || mprotect(w->edge + PAGE, PAGE, PROT_NONE))
		return -1;
	w->rw = g_args_rw + (size_t)area * ARG_LEN;
	w->ro = g_args_ro + (size_t)area * ARG_LEN;
	return 0;
}

static int round_memory(struct round *r)
{
	size_t n = MAX_WORKERS + 1 + MAX_KIDS;
	unsigned char *fl_ro;

	r->protnone = map_anon(ARG_LEN, PROT_NONE);
	if (!r->protnone ||
	    memfd_views(n * ARG_LEN, &g_args_rw, &g_args_ro, NULL) ||
	    memfd_views(2 * ARG_LEN, &r->flicker_rw, &fl_ro, &r->flicker_fd))
		return -1;
	r->flicker = fl_ro;
	return 0;
}

/* ---- children ---- */

static void kid_note(struct round *r, pid_t pid, int slot)
{
	r->kids[slot].pid = pid;
	r->kids[slot].killed = 0;
	r->kids[slot].stopped = 0;
	r->kids_started++;
}

/* In a new child: the model as the parent left it, its own memory. */
static void child_reset(struct round *r, pid_t parent)
{
	int i, j;

	pthread_mutex_init(&r->lock, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	memset(r->kids, 0, sizeof(r->kids));
	r->kids_started = KIDS_PER_ROUND;
	r->nworkers = 0;
	for (i = 0; i < MAX_PORTS; i++) {
		struct port *p = &r->ports[i];

		pthread_rwlock_init(&p->map_lock, NULL);
		/* the parent may queue entries with cookies of any kind */
		p->untagged = 1;
		for (j = 0; j < MAX_MAPS; j++)
			if (p->maps[j].dontfork)
				p->maps[j].addr = NULL;
		if (p->used)
			port_maybe_free(p);
	}
}

static void child_run(struct worker *parent_w, int kind, uint64_t seed,
		      int kslot, pid_t parent)
{
	struct round *r = parent_w->r;
	struct worker w = *parent_w;
	int i;

	child_reset(r, parent);
	w.idx = kind;
	w.child = 1;
	w.natt = 0;		/* fork() does not copy attachments */
	w.conc_fuzzy = 0;
	w.rng = seed;
	w.calls = 0;
	w.tid = gettid();
	w.ts = slot_alloc(r->id, kind, seed);
	w.rw = g_args_rw + (size_t)(MAX_WORKERS + 1 + kslot) * ARG_LEN;
	w.ro = g_args_ro + (size_t)(MAX_WORKERS + 1 + kslot) * ARG_LEN;
	t_self = &w;
	if (kind == -2) {
		w.long_sleep = 1;
		sleeper_call(&w);
		_exit(0);
	}
	for (i = 0; i < KID_CALLS && now_ns() < r->end_ns &&
		    !budget_spent(r); i++)
		step(&w);
	_exit(0);
}

/*
 * fork() with the model and every map lock held, so that the child gets
 * a consistent copy. Returns the child's pid, -1 on error, -2 when the
 * round has no room for another child. @kind: -1 a child that keeps
 * fuzzing the inherited ports, -2 a child that sleeps in WAIT or DRAIN.
 */
int fork_locked(struct worker *w, int kind, uint64_t seed)
{
	struct round *r = w->r;
	pid_t parent = getpid(), pid;
	int i, kslot = -1;

	model_lock(r);
	for (i = 0; i < MAX_KIDS && kslot < 0; i++)
		if (!r->kids[i].pid)
			kslot = i;
	if (kslot < 0 || r->kids_started >= KIDS_PER_ROUND ||
	    atomic_load(&r->stop)) {
		model_unlock(r);
		return -2;
	}
	for (i = 0; i < MAX_PORTS; i++) {
		pthread_rwlock_wrlock(&r->ports[i].map_lock);
		/* the child may set up a port: neither side knows after */
		if (r->ports[i].used && r->ports[i].setup == SETUP_NO)
			r->ports[i].setup = SETUP_MAYBE;
	}
	pid = fork();
	if (!pid)
		child_run(w, kind, seed, kslot, parent);
	for (i = 0; i < MAX_PORTS; i++)
		pthread_rwlock_unlock(&r->ports[i].map_lock);
	if (pid > 0)
		kid_note(r, pid, kslot);
	model_unlock(r);
	return pid;
}

/* A sleeper child: one WAIT or DRAIN, long or without timeout. */
void sleeper_call(struct worker *w)
{
	if (chance(w, 50))
		op_wait(w);
	else
		op_drain(w);
}

/* Judges a dead child; returns nonzero when the round must fail. */
static int kid_judge(struct round *r, struct worker *cw, const struct kid *k,
		     int status)
{
	if (WIFEXITED(status)) {
		if (!WEXITSTATUS(status))
			return 0;
		if (WEXITSTATUS(status) == EXIT_VIOLATION)
			_exit(EXIT_VIOLATION);	/* the child printed it */
		violation(cw, "child %d exited with %d", k->pid,
			  WEXITSTATUS(status));
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    (k->killed || atomic_load(&r->ending)))
		return 0;
	violation(cw, "child %d died of signal %d (%s)", k->pid,
		  WIFSIGNALED(status) ? WTERMSIG(status) : -1,
		  WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "?");
}

/* Reaps the children that are dead; returns how many are still alive. */
static int reap_kids(struct round *r, struct worker *cw)
{
	int status, i, alive = 0;
	struct kid k;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
		model_lock(r);
		for (i = 0; i < MAX_KIDS && r->kids[i].pid != pid; i++)
			;
		if (i == MAX_KIDS) {
			model_unlock(r);
			continue;
		}
		k = r->kids[i];
		r->kids[i].pid = 0;
		model_unlock(r);
		kid_judge(r, cw, &k, status);
	}
	model_lock(r);
	for (i = 0; i < MAX_KIDS; i++)
		alive += r->kids[i].pid > 0;
	model_unlock(r);
	return alive;
}

/* ---- threads ---- */

static _Atomic int g_go;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;

	w->tid = gettid();
	w->ts = slot_alloc(r->id, w->idx, w->rng);
	t_self = w;
	while (!atomic_load(&g_go))
		usleep(100);
	while (!budget_spent(r) && w->calls < r->prof.calls_per_worker)
		step(w);
	atomic_store(&w->finished, 1);
	return NULL;
}

static void *scribbler_main(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;
	struct timespec ts = { 0, 0 };

	w->tid = gettid();
	w->ts = slot_alloc(r->id, SCRIBBLER, w->rng);
	while (!budget_spent(r)) {
		struct port *p = &r->ports[below(w, MAX_PORTS)];

		if (p->used)
			scribble_once(w, p);
		ts.tv_nsec = (long)below(w, 300000);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Flips the flicker page: RW, RO, PROT_NONE, replaced by anonymous
 * memory, mapped again, while the kernel copies arguments from it. */
static void *flicker_main(void *arg)
{
	struct worker *w = arg;
	struct round *r = w->r;
	struct timespec ts = { 0, 0 };
	size_t len = 2 * ARG_LEN;
	unsigned char *f = r->flicker;

	while (!budget_spent(r)) {
		switch (below(w, 6)) {
		case 0:
			mprotect(f, len, PROT_READ | PROT_WRITE);
			break;
		case 1:
			mprotect(f, len, PROT_READ);
			break;
		case 2:
			mprotect(f, len, PROT_NONE);
			break;
		case 3:
			mmap(f, len, PROT_NONE,
			     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			break;
		default:
			mmap(f, len, chance(w, 50) ? PROT_READ :
				     PROT_READ | PROT_WRITE,
			     MAP_FIXED | MAP_SHARED, r->flicker_fd, 0);
		}
		stats_add(OP_FLICKER, 0, 0);
		ts.tv_nsec = (long)below(w, 200000);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- the round ---- */

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -1;
	if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534 ||
	    setuid(0) == 0)
		return -1;
	return 0;
}

/* A valid SETUP and both mappings for the first ports of the round. */
static void bootstrap_port(struct worker *w, struct port *p)
{
	struct tpio_setup_args sa;
	void *ring, *shared;
	uint64_t a[4] = { 0 };
	long ret;

	memset(&sa, 0, sizeof(sa));
	do
		sa.ring_entries = pick_entries(w);
	while (sa.ring_entries < TPIO_RING_MIN ||
	       sa.ring_entries > TPIO_RING_MAX ||
	       (sa.ring_entries & (sa.ring_entries - 1)));
	do
		sa.max_objects = pick_objects(w);
	while (!sa.max_objects || sa.max_objects > TPIO_OBJECTS_MAX);
	a[0] = sa.ring_entries;
	a[1] = sa.max_objects;
	non_ioctl_begin(w, OP_SETUP, p->fds[0], a);
	ret = ioctl(p->fds[0], TPIO_IOC_SETUP, &sa);
	non_ioctl_end(w, OP_SETUP, ret, ret ? errno : 0);
	/* the user's memory budget may be spent (uid 65534, children) */
	if (ret && (errno == EDQUOT || errno == ENOMEM))
		return;
	if (ret)
		violation(w, "SETUP(%u, %u) of a fresh port: %s",
			  sa.ring_entries, sa.max_objects, errno_name(errno));
	p->setup = SETUP_YES;
	p->entries = sa.ring_entries;
	p->objects = sa.max_objects;
	p->sa = sa;
	p->sa_known = 1;
	ring = mmap(NULL, sa.ring_size, PROT_READ, MAP_SHARED, p->fds[0],
		    TPIO_OFF_RING);
	shared = mmap(NULL, sa.shared_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, p->fds[0], TPIO_OFF_SHARED);
	if (ring == MAP_FAILED || shared == MAP_FAILED)
		violation(w, "mapping a fresh port: %s", errno_name(errno));
	p->maps[0] = (struct mapping){ .addr = ring, .len = sa.ring_size,
				       .prot = PROT_READ };
	p->maps[1] = (struct mapping){ .addr = shared, .len = sa.shared_size,
				       .shared = 1,
				       .prot = PROT_READ | PROT_WRITE };
}

static void bootstrap(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { O_RDWR };
	int i, fd;

	for (i = 0; i < r->prof.max_ports; i++) {
		non_ioctl_begin(w, OP_OPEN, -1, a);
		fd = open("/dev/tpio", O_RDWR | O_CLOEXEC);
		non_ioctl_end(w, OP_OPEN, fd, fd < 0 ? errno : 0);
		if (fd < 0 && (errno == EDQUOT || errno == ENOMEM))
			break;
		if (fd < 0)
			violation(w, "open(/dev/tpio) as uid %d: %s", getuid(),
				  errno_name(errno));
		port_init(&r->ports[i], fd, O_RDWR, (uint32_t)rnd(w));
		if (i == 0 || chance(w, 80))
			bootstrap_port(w, &r->ports[i]);
	}
}

/* Signals the workers that sleep without a timeout for too long. */
static void unstick(struct round *r, uint64_t now, uint64_t *last_sig,
		    uint64_t after_ns)
{
	int i;

	for (i = 0; i < r->nworkers; i++) {
		struct tslot *s = r->workers[i].ts;
		uint64_t start = s ? atomic_load(&s->start_ns) : 0;
		uint64_t seq;

		if (!start || now - start < after_ns ||
		    (atomic_load(&s->bound_ns) != UNBOUNDED &&
		     !atomic_load(&r->stop)))
			continue;
		seq = atomic_load(&s->seq);
		if (atomic_load(&s->unstick_seq) != seq) {
			atomic_store(&s->unstick_ns, now);
			atomic_store(&s->unstick_seq, seq);
		}
		/* again and again: a signal may land just before the call */
		if (now - last_sig[i] >= 50 * MSEC) {
			pthread_kill(r->workers[i].th, SIGUSR1);
			last_sig[i] = now;
		}
	}
}

static int all_finished(struct round *r)
{
	int i;

	for (i = 0; i < r->nworkers; i++)
		if (!atomic_load(&r->workers[i].finished))
			return 0;
	return 1;
}

static void end_round(struct round *r, struct worker *cw, pthread_t *extra,
		      int nextra, uint64_t *last_sig)
{
	uint64_t deadline = now_ns() + g_cfg.grace_ns;
	int i, alive;

	/* from here children may die of our SIGKILL, or of their pdeath
	 * signal when the worker thread that forked them ends */
	atomic_store(&r->ending, 1);
	atomic_store(&r->stop, 1);
	while (!all_finished(r) && now_ns() < deadline) {
		unstick(r, now_ns(), last_sig, 0);
		reap_kids(r, cw);
		usleep(5000);
	}
	for (i = 0; i < r->nworkers; i++)
		if (!atomic_load(&r->workers[i].finished))
			violation(&r->workers[i], "worker %d did not come back "
				  "from its call within %llu s of the end of "
				  "the round, signalled every 50 ms", i,
				  (unsigned long long)(g_cfg.grace_ns / NSEC));
	for (i = 0; i < r->nworkers; i++)
		pthread_join(r->workers[i].th, NULL);
	for (i = 0; i < nextra; i++)
		pthread_join(extra[i], NULL);

	model_lock(r);
	for (i = 0; i < MAX_KIDS; i++) {
		if (r->kids[i].pid > 0) {
			kill(r->kids[i].pid, SIGKILL);
			kill(r->kids[i].pid, SIGCONT);
		}
	}
	model_unlock(r);
	deadline = now_ns() + g_cfg.grace_ns;
	while ((alive = reap_kids(r, cw)) && now_ns() < deadline)
		usleep(5000);
	if (alive)
		violation(cw, "%d child(ren) did not die of SIGKILL within "
			  "%llu s", alive,
			  (unsigned long long)(g_cfg.grace_ns / NSEC));
}

static int start_threads(struct round *r, struct worker *special,
			 pthread_t *extra, int *nextra)
{
	int i;

	for (i = 0; i < r->nworkers; i++) {
		struct worker *w = &r->workers[i];

		w->r = r;
		w->idx = i;
		w->rng = derive_seed(r->seed, (uint64_t)i + 1);
		if (worker_memory(w, i) ||
		    pthread_create(&w->th, NULL, worker_main, w))
			return -1;
	}
	*nextra = 0;
	if (r->prof.scribbler) {
		special[0] = (struct worker){ .r = r, .idx = SCRIBBLER,
					      .rng = derive_seed(r->seed, 0x5c) };
		if (pthread_create(&extra[(*nextra)++], NULL, scribbler_main,
				   &special[0]))
			return -1;
	}
	if (r->prof.flicker) {
		special[1] = (struct worker){ .r = r, .idx = FLICKER,
					      .rng = derive_seed(r->seed, 0xf1) };
		if (pthread_create(&extra[(*nextra)++], NULL, flicker_main,
				   &special[1]))
			return -1;
	}
	return 0;
}

/* The body of a round process; returns its exit status. */
int round_main(uint32_t id, uint64_t seed, const struct profile *prof)
{
	static struct round r;
	static struct worker cw, special[2];
	uint64_t last_sig[MAX_WORKERS] = { 0 };
	pthread_t extra[2];
	int i, nextra;

	r.id = id;
	r.seed = seed;
	r.prof = *prof;
	r.t0 = now_ns();
	r.end_ns = r.t0 + prof->length_ns;
	r.nworkers = prof->workers;
	setpgid(0, 0);
	if (prof->unpriv && drop_privileges()) {
		say("# round %u: could not drop privileges: %s", id,
		    errno_name(errno));
		return EXIT_VIOLATION;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);	/* after setuid, which clears it */
	install_handlers();
	pthread_mutex_init(&r.lock, NULL);
	for (i = 0; i < MAX_PORTS; i++)
		pthread_rwlock_init(&r.ports[i].map_lock, NULL);
	r.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	r.epfd = epoll_create1(EPOLL_CLOEXEC);

	cw.r = &r;
	cw.idx = CONTROLLER;
	cw.rng = derive_seed(seed, 0);
	cw.tid = gettid();
	cw.ts = slot_alloc(id, CONTROLLER, cw.rng);
	t_self = &cw;
	if (round_memory(&r) || worker_memory(&cw, MAX_WORKERS)) {
		say("# round %u: no memory for arguments", id);
		return EXIT_VIOLATION;
	}
	bootstrap(&cw);
	if (start_threads(&r, special, extra, &nextra)) {
		say("# round %u: could not start its threads", id);
		return EXIT_VIOLATION;
	}
	atomic_store(&g_go, 1);
	while (now_ns() < r.end_ns && !budget_spent(&r) && !all_finished(&r)) {
		unstick(&r, now_ns(), last_sig,
			(uint64_t)prof->unstick_ms * MSEC);
		reap_kids(&r, &cw);
		usleep(10000);
	}
	end_round(&r, &cw, extra, nextra, last_sig);
	return 0;
}
