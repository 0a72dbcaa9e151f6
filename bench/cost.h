/* SPDX-License-Identifier: MIT */
/*
 * What a server process spends over a measured window, for
 * bench/echo_client.c (Linux only):
 *
 * - context switches and CPU time, from /proc snapshots taken at the start
 *   and at the end of the window (cost_snap_*): per thread,
 *   /proc/PID/task/TID/status (voluntary_ctxt_switches +
 *   nonvoluntary_ctxt_switches) and /proc/PID/task/TID/schedstat (run time
 *   in ns, where the kernel has schedstats; Debian's kernels do); for the
 *   whole process /proc/PID/stat utime + stime (clock ticks, threads that
 *   have exited included).
 *
 *   A thread that exits inside the window takes its counts with it: /proc
 *   lists live threads only. cost_delta() notices it (a thread of the first
 *   snapshot missing from the second) and says so; the context switches
 *   are then not measurable (there is no per-process total in /proc) and
 *   the CPU time comes from /proc/PID/stat instead (10 ms resolution).
 *   Threads created inside the window count from zero, which is right.
 *
 * - system calls, by running the server under
 *   perf stat -x, -e raw_syscalls:sys_enter -D -1 --control fifo:CTL,ACK
 *   (cost_perf_*): counting starts disabled, and the client enables it at
 *   the start of the window and disables it at the end (perf answers
 *   "ack" on ACK), so neither the server's start nor its exit is counted.
 *   perf counts every thread and child process of the server (Wine's
 *   wineserver too when wine starts it).
 */
#ifndef TPIO_COST_H
#define TPIO_COST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- /proc snapshots ---- */

struct cost_task {
	long tid;
	uint64_t cs;		/* voluntary + nonvoluntary context switches */
	uint64_t run_ns;	/* schedstat's run time */
};

struct cost_snap {
	struct cost_task *t;
	size_t n, cap;
	uint64_t ticks;		/* /proc/PID/stat utime + stime */
	int schedstat;		/* every thread had a schedstat file */
};

/* The contents of @path as a string; -1 when it cannot be read. */
static inline ssize_t cost_read(const char *path, char *buf, size_t size)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)got < size - 1) {
		n = read(fd, buf + got, size - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = 0;
	return got;
}

static inline int cost_field(const char *status, const char *name,
			     uint64_t *v)
{
	const char *p = strstr(status, name);
	unsigned long long x;

	if (!p || sscanf(p + strlen(name), " %llu", &x) != 1)
		return -1;
	*v = x;
	return 0;
}

/*
 * Snapshot the threads of process @pid. Returns NULL on success, else why
 * not (one word, for a skip line). A thread that ends while the snapshot
 * is taken is left out.
 */
static inline const char *cost_snap_take(pid_t pid, struct cost_snap *s)
{
	char path[96], buf[4096], *p;
	unsigned long long ut, st;
	struct dirent *e;
	DIR *d;

	s->n = 0;
	s->schedstat = 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (cost_read(path, buf, sizeof(buf)) <= 0)
		return "no_/proc/PID/stat";
	/* utime and stime: the 12th and 13th fields after "(comm)" */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return "unreadable_/proc/PID/stat";
	s->ticks = ut + st;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return "no_/proc/PID/task";
	while ((e = readdir(d))) {
		struct cost_task t = { 0, 0, 0 };
		uint64_t vol, nonvol;
		unsigned long long run;

		t.tid = strtol(e->d_name, &p, 10);
		if (*p || t.tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status",
			 (int)pid, t.tid);
		if (cost_read(path, buf, sizeof(buf)) <= 0)
			continue;	/* it ended meanwhile */
		if (cost_field(buf, "\nvoluntary_ctxt_switches:", &vol) ||
		    cost_field(buf, "\nnonvoluntary_ctxt_switches:", &nonvol)) {
			closedir(d);
			return "no_ctxt_switches_in_/proc/PID/task/TID/status";
		}
		t.cs = vol + nonvol;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat",
			 (int)pid, t.tid);
		if (cost_read(path, buf, sizeof(buf)) > 0 &&
		    sscanf(buf, "%llu", &run) == 1)
			t.run_ns = run;
		else
			s->schedstat = 0;
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct cost_task *nt = realloc(s->t, cap * sizeof(*nt));

			if (!nt) {
				closedir(d);
				return "out_of_memory";
			}
			s->t = nt;
			s->cap = cap;
		}
		s->t[s->n++] = t;
	}
	closedir(d);
	return s->n ? NULL : "no_thread_in_/proc/PID/task";
}

struct cost_delta {
	uint64_t cs;		/* valid when !exited */
	uint64_t cpu_ns;
	const char *cpu_src;	/* "schedstat" or "stat_ticks" */
	size_t exited;		/* threads of @a missing from @b */
};

/* What the process spent between snapshots @a and @b. */
static inline void cost_delta(const struct cost_snap *a,
			      const struct cost_snap *b, struct cost_delta *d)
{
	uint64_t run = 0;
	size_t i, j;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n && b->t[j].tid != a->t[i].tid; j++)
			;
		/* gone, or its tid reused by a younger thread */
		if (j == b->n || b->t[j].cs < a->t[i].cs ||
		    b->t[j].run_ns < a->t[i].run_ns)
			d->exited++;
	}
	for (j = 0; j < b->n; j++) {
		const struct cost_task *t = &b->t[j], *o = NULL;

		for (i = 0; i < a->n; i++)
			if (a->t[i].tid == t->tid)
				o = &a->t[i];
		if (o && (t->cs < o->cs || t->run_ns < o->run_ns))
			o = NULL;
		d->cs += t->cs - (o ? o->cs : 0);
		run += t->run_ns - (o ? o->run_ns : 0);
	}
	if (!d->exited && a->schedstat && b->schedstat) {
		d->cpu_ns = run;
		d->cpu_src = "schedstat";
	} else {
		long hz = sysconf(_SC_CLK_TCK);

		d->cpu_ns = (b->ticks - a->ticks) * (1000000000ULL /
						     (uint64_t)(hz > 0 ? hz : 100));
		d->cpu_src = "stat_ticks";
	}
}

/* ---- system calls: perf stat with a control fifo ---- */

struct cost_perf {
	const char *out;	/* perf's output file */
	char ctl[4096], ack[4096];
	char control[8300];
	int ctl_fd, ack_fd;
};

/*
 * Make the fifos next to @out and fill @argv (room for 12) with the perf
 * command that is to precede the server's; returns the number of words,
 * or -1 with errno.
 */
static inline int cost_perf_argv(struct cost_perf *p, const char *out,
				 char **argv)
{
	static char *const words[] = {
		"perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-D",
		"-1", "--control", NULL, "-o", NULL, "--"
	};
	int i;

	p->out = out;
	p->ctl_fd = p->ack_fd = -1;
	snprintf(p->ctl, sizeof(p->ctl), "%s.ctl", out);
	snprintf(p->ack, sizeof(p->ack), "%s.ack", out);
	snprintf(p->control, sizeof(p->control), "fifo:%s,%s", p->ctl,
		 p->ack);
	unlink(p->ctl);
	unlink(p->ack);
	unlink(out);
	if (mkfifo(p->ctl, 0600) || mkfifo(p->ack, 0600))
		return -1;
	for (i = 0; i < 12; i++)
		argv[i] = words[i];
	argv[8] = p->control;
	argv[10] = (char *)out;
	return 12;
}

/* 1 while process @pid has not ended (it is not reaped here) */
static inline int cost_alive(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return 0;
	return si.si_pid == 0;
}

/*
 * Open the fifos once perf (process @pid) has them open; NULL or why not.
 * Waits while perf starts, not past its end.
 */
static inline const char *cost_perf_open(struct cost_perf *p, pid_t pid)
{
	for (;;) {
		p->ctl_fd = open(p->ctl, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (p->ctl_fd >= 0)
			break;
		if (errno != ENXIO)
			return "cannot_open_the_perf_control_fifo";
		if (!cost_alive(pid))
			return "perf_ended_before_opening_its_control_fifo";
		usleep(1000);
	}
	/* the reads below wait with poll() */
	p->ack_fd = open(p->ack, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (p->ack_fd < 0)
		return "cannot_open_the_perf_ack_fifo";
	return NULL;
}

/* Send @cmd ("enable" or "disable") and wait for perf's ack (5 s). */
static inline const char *cost_perf_cmd(struct cost_perf *p, pid_t pid,
					const char *cmd)
{
	char line[64], buf[16];
	size_t got = 0;
	int waited = 0;

	snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(p->ctl_fd, line, strlen(line)) != (ssize_t)strlen(line))
		return "write_to_the_perf_control_fifo_failed";
	while (got < 4) {
		struct pollfd pf = { .fd = p->ack_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 10) < 0 && errno != EINTR)
			return "poll_failed";
		n = read(p->ack_fd, buf + got, sizeof(buf) - 1 - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		/* 0: perf has not opened its end yet, or has closed it */
		if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
		    !cost_alive(pid) || ++waited > 500)
			return "no_ack_from_perf";
		if (!n)
			usleep(1000);
	}
	buf[got] = 0;
	return strncmp(buf, "ack\n", 4) ? "unexpected_answer_from_perf" : NULL;
}

/* After perf's end: the count, or why there is none. */
static inline const char *cost_perf_count(struct cost_perf *p,
					  uint64_t *count)
{
	char buf[8192], *l, *save = NULL;
	unsigned long long v;

	if (p->ctl_fd >= 0)
		close(p->ctl_fd);
	if (p->ack_fd >= 0)
		close(p->ack_fd);
	unlink(p->ctl);
	unlink(p->ack);
	if (cost_read(p->out, buf, sizeof(buf)) < 0)
		return "no_perf_output_file";
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strstr(l, ",raw_syscalls:sys_enter,"))
			continue;
		if (sscanf(l, "%llu,", &v) != 1)
			return "perf_did_not_count_(<not_counted>)";
		*count = v;
		return NULL;
	}
	return "no_raw_syscalls:sys_enter_line_in_the_perf_output";
}

#endif /* TPIO_COST_H */
