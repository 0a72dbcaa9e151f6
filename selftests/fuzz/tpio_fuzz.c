// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: a syscall fuzzer for /dev/tpio, in the manner of syzkaller
 * and trinity but knowing the ABI: most calls are plausible, made on live
 * ports with real handles, many are at a boundary, some are garbage.
 *
 *   tpio_fuzz [-s SEED|random] [-t SECONDS] [-n CALLS] [-j THREADS]
 *             [-r ROUND] [-k] [-u|-U] [-w SECONDS] [-q]
 *
 * The run is a series of rounds. Each round is a fresh process (some run
 * as uid/gid 65534) with its own seed, derived from SEED and the round
 * number, and its own profile (threads, ports, which operations and how
 * often, how many bad pointers, whether another thread scribbles over the
 * shared areas, whether the supervisor SIGKILLs it half way). Each worker
 * thread's seed is derived from the round's; they are printed. A round
 * can be replayed alone with -r: the same programs run again, so a
 * finding that does not depend on one exact interleaving comes back.
 *
 * This process, the supervisor, watches: a call that should have returned
 * long ago (a hang), a round process that dies of an unexpected signal,
 * a violation a round reports (an undocumented errno, an inconsistent
 * output), and the kernel log (/dev/kmsg: BUG, WARNING, KASAN, lockdep,
 * ...). On a finding it prints the last calls of the threads involved
 * and how to replay the round, and stops (-k: keeps going).
 *
 * Output: KTAP, one result ("ok 1 fuzz seed=... calls=..."), after
 * comment lines with the rounds and the calls per operation. Exit status
 * 0, 1 on a finding, 4 (skip) without /dev/tpio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

#define DEFAULT_SEED	0x7470696f66757a7aULL	/* "tpiofuzz" */

enum outcome { OUT_OK, OUT_VIOLATION, OUT_KERNEL, OUT_HANG, OUT_CRASH };

static const char *const outcome_names[] = {
	"ok", "invariant violation", "kernel report", "hang",
	"round process crashed",
};

static int kmsg_fd = -1;

static void usage(void)
{
	say("usage: tpio_fuzz [-s SEED|random] [-t SECONDS] [-n CALLS] "
	    "[-j THREADS] [-r ROUND] [-k] [-u|-U] [-w SECONDS] [-q]");
	say("  -s  the run's seed (default %#llx); 'random' picks one",
	    (unsigned long long)DEFAULT_SEED);
	say("  -t  stop after SECONDS (default 30)");
	say("  -n  stop after CALLS calls (default: no limit)");
	say("  -j  worker threads per round process, 1..%d (default 4)",
	    MAX_WORKERS);
	say("  -r  run only round ROUND, again and again (to replay it)");
	say("  -k  keep going after a finding");
	say("  -u  every round unprivileged; -U  none (default: a third)");
	say("  -w  watchdog: a call may overrun its bound by SECONDS (15)");
	say("  -q  do not print a line per round");
}

static uint64_t parse_num(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end) {
		say("tpio_fuzz: bad %s: %s", what, s);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	int c;

	g_cfg.seed = DEFAULT_SEED;
	g_cfg.seconds = 30;
	g_cfg.threads = 4;
	g_cfg.only_round = -1;
	g_cfg.grace_ns = 15 * NSEC;
	g_cfg.verbose = 1;
	while ((c = getopt(argc, argv, "s:t:n:j:r:kuUw:qh")) != -1) {
		switch (c) {
		case 's':
			if (!strcmp(optarg, "random")) {
				if (getrandom(&g_cfg.seed, sizeof(g_cfg.seed),
					      0) != sizeof(g_cfg.seed))
					g_cfg.seed = now_ns();
			} else {
				g_cfg.seed = parse_num(optarg, "seed");
			}
			break;
		case 't':
			g_cfg.seconds = parse_num(optarg, "seconds");
			break;
		case 'n':
			g_cfg.max_calls = parse_num(optarg, "calls");
			break;
		case 'j':
			g_cfg.threads = (int)parse_num(optarg, "threads");
			if (g_cfg.threads < 1 || g_cfg.threads > MAX_WORKERS) {
				say("tpio_fuzz: -j takes 1..%d", MAX_WORKERS);
				exit(2);
			}
			break;
		case 'r':
			g_cfg.only_round = (long)parse_num(optarg, "round");
			break;
		case 'k':
			g_cfg.keep_going = 1;
			break;
		case 'u':
			g_cfg.unpriv = 1;
			break;
		case 'U':
			g_cfg.unpriv = -1;
			break;
		case 'w':
			g_cfg.grace_ns = parse_num(optarg, "watchdog") * NSEC;
			break;
		case 'q':
			g_cfg.verbose = 0;
			break;
		default:
			usage();
			exit(c == 'h' ? 0 : 2);
		}
	}
	if (optind < argc) {
		usage();
		exit(2);
	}
}

/* ---- the kernel log ---- */

static void kmsg_open(void)
{
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
	else
		say("# /dev/kmsg: %s: the kernel log is not watched "
		    "(scripts/vm-run still checks it)", strerror(errno));
}

static int concerning(const char *msg)
{
	static const char *const words[] = {
		"BUG", "WARNING", "Oops", "KASAN", "kmemleak", "lockdep",
		"Call Trace", "refcount_t", "general protection", "UBSAN",
		"soft lockup", "blocked for more than", "corruption",
		"circular locking", "inconsistent lock", "recursive locking",
	};
	size_t i;

	/* a user-space fault the kernel logs: the round's exit tells */
	if (!strncmp(msg, "traps:", 6) || strstr(msg, " segfault at "))
		return 0;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(msg, words[i]))
			return 1;
	return 0;
}

#define MAX_TIDS 4

/* The tasks a report names: "by task NAME/TID", "Allocated by task TID",
 * "Freed by task TID", "PID: TID". */
static void report_tids(const char *msg, int *tids)
{
	static const char *const keys[] = { "by task ", " PID: " };
	const char *s;
	int i, t = 0;
	size_t k;

	for (k = 0; k < 2 && !t; k++) {
		s = strstr(msg, keys[k]);
		if (!s)
			continue;
		s += strlen(keys[k]);
		if (!k && strchr(s, '/'))
			s = strchr(s, '/') + 1;
		t = atoi(s);
	}
	for (i = 0; t > 0 && i < MAX_TIDS; i++) {
		if (tids[i] == t)
			return;
		if (!tids[i]) {
			tids[i] = t;
			return;
		}
	}
}

/*
 * Reads the records of the kernel log that are there now. Once one is of
 * concern (*found), prints it and those after it and notes the task the
 * report names in *tid. Returns whether a record was read.
 */
static int kmsg_read(int *found, int *tids, int *lines)
{
	char rec[2048], *msg, *nl;
	int any = 0;
	ssize_t n;

	while (kmsg_fd >= 0) {
		n = read(kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: go on */
		if (n <= 0)
			break;
		any = 1;
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		if (!*found && !concerning(msg))
			continue;
		*found = 1;
		report_tids(msg, tids);
		if ((*lines)++ < 100)
			say("# kernel: %s", msg);
	}
	return any;
}

/* The rest of a report: records keep coming for a little while. */
static void kmsg_rest(int *tids)
{
	int found = 1, lines = 0, quiet = 0;

	while (quiet < 5) {
		if (kmsg_read(&found, tids, &lines))
			quiet = 0;
		else
			quiet++;
		usleep(100000);
	}
}

/* ---- the watchdog ---- */

/* A task stopped by the fuzzer's own SIGSTOP is not hung. */
static int task_stopped(int pid, int tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	p = strrchr(buf, ')');	/* "pid (comm) STATE ..." */
	return p && (p[2] == 'T' || p[2] == 't');
}

/* The slot of a call of @round that overran its bound, or -1. */
static int hang_check(uint32_t round, uint64_t now)
{
	uint32_t n = atomic_load(&g_shm->next_slot), i;

	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	for (i = 0; i < n; i++) {
		struct tslot *s = &g_shm->slots[i];
		uint64_t start = atomic_load(&s->start_ns);
		uint64_t bound = atomic_load(&s->bound_ns);

		if (s->round != round || !start ||
		    (now > start + g_cfg.grace_ns &&
		     task_stopped(s->pid, s->tid)))
			continue;
		if (bound != UNBOUNDED && now > bound + g_cfg.grace_ns)
			return (int)i;
		if (bound == UNBOUNDED &&
		    atomic_load(&s->unstick_seq) == atomic_load(&s->seq) &&
		    now > atomic_load(&s->unstick_ns) + g_cfg.grace_ns)
			return (int)i;
	}
	return -1;
}

static int slot_of_tid(uint32_t round, int tid)
{
	uint32_t n = atomic_load(&g_shm->next_slot), i;

	for (i = 0; i < n && i < MAX_SLOTS; i++)
		if (g_shm->slots[i].round == round &&
		    g_shm->slots[i].tid == tid)
			return (int)i;
	return -1;
}

/* Reaps what is left of a round; 0 once nothing is. */
static int reap_all(uint64_t limit_ns)
{
	uint64_t end = now_ns() + limit_ns;
	int status;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG | __WALL);
		if (pid < 0 && errno == ECHILD)
			return 0;
		if (pid > 0)
			continue;
		if (now_ns() > end)
			return -1;
		usleep(10000);
	}
}

struct run {
	uint64_t t_start;
	uint32_t rounds, unpriv, killed;
	enum outcome first;
	uint32_t first_round;
	uint64_t first_calls, first_ns;
	int wedged;		/* a round could not be killed: stop */
};

static void finding(struct run *run, enum outcome o, uint32_t round)
{
	uint64_t calls = atomic_load(&g_shm->calls);
	uint64_t ns = now_ns() - run->t_start;
	char rep[120];

	if (run->first == OUT_OK) {
		run->first = o;
		run->first_round = round;
		run->first_calls = calls;
		run->first_ns = ns;
	}
	say("# FOUND (%s) in round %u after %llu calls, %.1f s",
	    outcome_names[o], round, (unsigned long long)calls, ns / 1e9);
	repro_line(rep, sizeof(rep), round);
	say("# reproduce: %s", rep);
}

/*
 * A kernel report during round @round: say so and print the traces at
 * once (a report can leave a lock held and the machine about to wedge),
 * then the rest of the report, then the traces of the other tasks it
 * names (the one that freed an object, say).
 */
static void kernel_finding(struct run *run, uint32_t round, int *tids)
{
	int i, slot, printed[MAX_TIDS] = { 0 };

	finding(run, OUT_KERNEL, round);
	for (i = 0; i < MAX_TIDS; i++) {
		slot = tids[i] ? slot_of_tid(round, tids[i]) : -1;
		if (slot >= 0) {
			print_slot(&g_shm->slots[slot], TRACE_LEN,
				   "a task the report names");
			printed[i] = 1;
		}
	}
	print_round_slots(round, 8);
	kmsg_rest(tids);
	for (i = 0; i < MAX_TIDS; i++) {
		slot = tids[i] ? slot_of_tid(round, tids[i]) : -1;
		if (slot >= 0 && !printed[i])
			print_slot(&g_shm->slots[slot], TRACE_LEN,
				   "a task the report names");
	}
}

static enum outcome judge_exit(uint32_t round, int status, int planned)
{
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return OUT_OK;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_VIOLATION)
		return OUT_VIOLATION;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && planned)
		return OUT_OK;
	if (WIFSIGNALED(status))
		say("# round %u: its process died of signal %d (%s)", round,
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		say("# round %u: its process exited with %d", round,
		    WEXITSTATUS(status));
	print_round_slots(round, 16);
	return OUT_CRASH;
}

/* Watches round @round (process @pid) until it is gone. */
static enum outcome supervise(struct run *run, pid_t pid, uint32_t round,
			      const struct profile *prof)
{
	uint64_t t0 = now_ns(), killed_at = 0, now;
	enum outcome res = OUT_OK;
	int status = 0, planned = 0, tids[MAX_TIDS] = { 0 }, found = 0;
	int lines = 0, i;
	pid_t p;

	for (;;) {
		while ((p = waitpid(-1, &status, WNOHANG | __WALL)) > 0 &&
		       p != pid)
			;
		if (p == pid)
			break;
		now = now_ns();
		if (res == OUT_OK && (kmsg_read(&found, tids, &lines), found)) {
			res = OUT_KERNEL;
			kill(-pid, SIGSTOP);	/* its traces stay as they are */
			kernel_finding(run, round, tids);
		} else if (res == OUT_OK && (i = hang_check(round, now)) >= 0) {
			res = OUT_HANG;
			say("# HANG: a call has run for %.1f s",
			    (now - g_shm->slots[i].start_ns) / 1e9);
			print_slot(&g_shm->slots[i], TRACE_LEN, "hung thread");
			print_round_slots(round, 8);
		} else if (res == OUT_OK && !killed_at && now > t0 +
			   prof->length_ns + 2 * g_cfg.grace_ns + 10 * NSEC) {
			res = OUT_HANG;
			say("# HANG: round %u did not end", round);
			print_round_slots(round, TRACE_LEN);
		}
		if (!killed_at && (res != OUT_OK || (prof->kill_at_ns &&
					now - t0 >= prof->kill_at_ns))) {
			planned = res == OUT_OK;
			if (planned && g_cfg.verbose)
				say("# round %u: SIGKILL at %.2f s, as planned",
				    round, (now - t0) / 1e9);
			kill(-pid, SIGKILL);
			killed_at = now;
		}
		if (killed_at && now > killed_at + g_cfg.grace_ns) {
			say("# HANG: round %u's process does not die of SIGKILL",
			    round);
			run->wedged = 1;
			return OUT_HANG;
		}
		usleep(20000);
	}
	run->killed += planned;
	kill(-pid, SIGKILL);	/* children that outlived it */
	if (reap_all(g_cfg.grace_ns)) {
		say("# HANG: a child of round %u does not die of SIGKILL",
		    round);
		run->wedged = 1;
		return OUT_HANG;
	}
	usleep(100000);		/* a report from the release of its ports */
	kmsg_read(&found, tids, &lines);	/* printed even after another finding */
	if (res == OUT_OK && found) {
		res = OUT_KERNEL;
		kernel_finding(run, round, tids);
	}
	return res != OUT_OK ? res : judge_exit(round, status, planned);
}

static void round_line(const struct run *run, uint32_t round, uint64_t seed,
		       const struct profile *p)
{
	char seeds[200];
	int i, n = 0;

	for (i = 0; i < p->workers; i++)
		n += snprintf(seeds + n, sizeof(seeds) - n, "%s%#llx",
			      i ? " " : "",
			      (unsigned long long)derive_seed(seed, i + 1));
	/* the calls so far: a bound when a finding wedges the machine */
	say("# round %u (after %llu calls, %.1f s): seed %#llx, %.1f s, uid "
	    "%d, %d port(s), %u%% bad pointers, %u%% on one port%s%s%s; "
	    "worker seeds %s", round,
	    (unsigned long long)atomic_load(&g_shm->calls),
	    (now_ns() - run->t_start) / 1e9,
	    (unsigned long long)seed, p->length_ns / 1e9,
	    p->unpriv ? 65534 : (int)geteuid(), p->max_ports, p->bad_ptr_pct,
	    p->focus_pct,
	    p->scribbler ? ", scribbler" : "", p->flicker ? ", flicker" : "",
	    p->kill_at_ns ? ", SIGKILL planned" : "", seeds);
}

/* Runs one round; returns its outcome. */
static enum outcome one_round(struct run *run, uint32_t round)
{
	uint64_t seed = derive_seed(g_cfg.seed, round), now = now_ns();
	uint64_t end = run->t_start + g_cfg.seconds * NSEC;
	struct profile prof;
	pid_t pid;

	make_profile(&g_cfg, round, seed, end - now, &prof);
	if (g_cfg.verbose)
		round_line(run, round, seed, &prof);
	memset(g_shm->slots, 0, sizeof(g_shm->slots));
	atomic_store(&g_shm->next_slot, 0);
	atomic_store(&g_shm->stop, 0);
	atomic_store(&g_shm->reported, 0);
	g_shm->round_t0 = now;
	pid = fork();
	if (pid < 0) {
		say("# fork: %s", strerror(errno));
		return OUT_CRASH;
	}
	if (!pid)
		_exit(round_main(round, seed, &prof));
	setpgid(pid, pid);
	run->rounds++;
	run->unpriv += prof.unpriv;
	return supervise(run, pid, round, &prof);
}

static int out_of_budget(const struct run *run)
{
	uint64_t end = run->t_start + g_cfg.seconds * NSEC;

	return now_ns() + 200 * MSEC >= end ||
	       (g_cfg.max_calls && atomic_load(&g_shm->calls) >=
				   g_cfg.max_calls);
}

/*
 * Port fds left in flight in unix sockets that nobody can reach any more
 * (SCM_RIGHTS, "left in flight") are released only by the socket garbage
 * collector, which the kernel runs when a unix socket is closed (6.12: in
 * a work item shortly after). The rounds' own closes may all have come
 * before their last cycle became garbage: one more close, so that the
 * ports (and the module references of their files) do not outlive the
 * fuzzer until some later socket closes, and rmmod finds the module free.
 */
static void unix_gc_poke(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	close(sv[0]);
	close(sv[1]);
}

/* Whether the module has TPIO_IOC_CONC (a kernel with preempt notifiers). */
static int conc_feature(void)
{
	struct tpio_version_args va;
	int fd = open("/dev/tpio", O_RDWR | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	memset(&va, 0, sizeof(va));
	ok = !ioctl(fd, TPIO_IOC_VERSION, &va) &&
	     (va.features & TPIO_FEAT_CONC);
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	struct run run = { 0 };
	struct utsname un;
	enum outcome o;
	uint32_t round;
	uint64_t calls, ns;

	parse_args(argc, argv);
	say("TAP version 13");
	say("1..1");
	if (access("/dev/tpio", F_OK)) {
		say("ok 1 fuzz # SKIP /dev/tpio absent: module not loaded");
		return EXIT_SKIP;
	}
	g_shm = mmap(NULL, sizeof(*g_shm), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g_shm == MAP_FAILED) {
		say("not ok 1 fuzz # no memory");
		return 1;
	}
	g_cfg.is_root = geteuid() == 0;
	g_cfg.conc = conc_feature();
	uname(&un);
	say("# tpio_fuzz: seed %#llx, %llu s, %llu calls at most, %d "
	    "thread(s) per round, watchdog %llu s, kernel %s, uid %d",
	    (unsigned long long)g_cfg.seed,
	    (unsigned long long)g_cfg.seconds,
	    (unsigned long long)g_cfg.max_calls, g_cfg.threads,
	    (unsigned long long)(g_cfg.grace_ns / NSEC), un.release,
	    (int)geteuid());
	kmsg_open();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);

	run.t_start = now_ns();
	round = g_cfg.only_round >= 0 ? (uint32_t)g_cfg.only_round : 0;
	while (!out_of_budget(&run) && !run.wedged) {
		o = one_round(&run, round);
		if (o != OUT_OK) {
			if (o != OUT_KERNEL)	/* that one said so at once */
				finding(&run, o, round);
			if (!g_cfg.keep_going)
				break;
		}
		if (g_cfg.only_round < 0)
			round++;
	}

	calls = atomic_load(&g_shm->calls);
	ns = now_ns() - run.t_start;
	unix_gc_poke();
	print_stats();
	say("# %llu calls in %.1f s (%.0f calls/s), %u round(s): %u "
	    "unprivileged, %u SIGKILLed as planned; kernel %s",
	    (unsigned long long)calls, ns / 1e9, calls / (ns / 1e9 + 1e-9),
	    run.rounds, run.unpriv, run.killed, un.release);
	if (run.first == OUT_OK) {
		say("ok 1 fuzz seed=%#llx calls=%llu",
		    (unsigned long long)g_cfg.seed, (unsigned long long)calls);
		return 0;
	}
	say("not ok 1 fuzz seed=%#llx calls=%llu # %s in round %u after %llu "
	    "calls, %.1f s", (unsigned long long)g_cfg.seed,
	    (unsigned long long)calls, outcome_names[run.first],
	    run.first_round, (unsigned long long)run.first_calls,
	    run.first_ns / 1e9);
	return 1;
}
