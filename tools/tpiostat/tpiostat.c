// SPDX-License-Identifier: MIT
/*
 * tpiostat: the completion ports of running programs, like iostat
 * (Documentation/tpiostat.rst).
 *
 * Two sources, both found among the file descriptors of every process
 * (/proc/<pid>/fd) at every report:
 *   - descriptors open on /dev/tpio, the kernel module's ports, whatever
 *     program opened them: their /proc/<pid>/fdinfo/<fd>
 *     (Documentation/kmod.rst, "Observing a port");
 *   - the statistics files of libtpio pools, memfds named "tpio-stats-<n>"
 *     that the library keeps when a program runs with TPIO_STATS=1, on
 *     either backend (common/tpio_stats.h), mapped through
 *     /proc/<pid>/fd/<fd>.
 *
 * The first report shows totals since each port was set up, later ones
 * rates per second over the interval, as iostat does.
 *
 * Usage: tpiostat [-p PID] [INTERVAL [COUNT]]
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tpio_stats.h"

#define MAX_ROWS	1024

/* One port in one report. */
struct row {
	char key[48];		/* "k<pid>/<fd>" or "s<pid>/<n>" */
	int pid;
	char comm[17];
	const char *src;	/* "fdinfo" or "stats" */
	char port[16];		/* "fd N" or "pool N" */
	char backend[16];
	uint64_t objects;
	/* totals: POSTS, DEQS and CBS (rates after the first report) */
	uint64_t posts, deqs, cbs;
	uint32_t wrap;		/* deqs counts modulo 2^32 (a ring index) */
	int has_cbs, has_threads;
	uint64_t pending, queued, running, waiters, fill, overflow, threads;
	/* the kernel's concurrency control: value 0 when the port has none */
	uint64_t conc_value, conc_active, conc_blocked, conc_released;
	/* the stall detector's places (stats files that carry them) */
	int has_stall;
	uint64_t stall_grants, meter_grants, meter_revokes;
};

static struct row prev[MAX_ROWS], cur[MAX_ROWS];
static int nprev, ncur;
static int only_pid;

static struct row *add_row(void)
{
	struct row *r;

	if (ncur == MAX_ROWS)
		return NULL;
	r = &cur[ncur++];
	memset(r, 0, sizeof(*r));
	return r;
}

static void read_comm(int pid, char *out, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(out, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

/* A "tpio-<key>:\t<number>" line of an fdinfo, as read into @buf. */
/*
 * The module's line "tpio-concurrency:\tV value, A attached, N active,
 * B blocked, W woken, R released" (kmod/conc.c).
 */
static void conc_field(const char *buf, struct row *r)
{
	const char *p = strstr(buf, "\ntpio-concurrency:");
	unsigned long long v, a, n, b, w, rel;

	if (!p || sscanf(p + 18, " %llu value, %llu attached, %llu active, %llu blocked, %llu woken, %llu released",
			 &v, &a, &n, &b, &w, &rel) != 6)
		return;
	r->conc_value = v;
	r->conc_active = n;
	r->conc_blocked = b;
	r->conc_released = rel;
}

static int field(const char *buf, const char *key, uint64_t *v)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\ntpio-%s:", key);
	p = strstr(buf, pat);
	if (!p)
		return -1;
	*v = strtoull(p + strlen(pat), NULL, 10);
	return 0;
}

/* One /dev/tpio fd of @pid: a row when the port is set up. */
static void scan_fd(int pid, const char *fd)
{
	char path[96], buf[4096];
	uint64_t v;
	struct row *r;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return;
	buf[0] = '\n';
	n = read(f, buf + 1, sizeof(buf) - 2);
	close(f);
	if (n <= 0)
		return;
	buf[n + 1] = 0;
	/* a port before SETUP has nothing to show */
	if (field(buf, "live", &v) || !(r = add_row()))
		return;
	snprintf(r->key, sizeof(r->key), "k%d/%s", pid, fd);
	r->pid = pid;
	read_comm(pid, r->comm, sizeof(r->comm));
	r->src = "fdinfo";
	snprintf(r->port, sizeof(r->port), "fd:%s", fd);
	snprintf(r->backend, sizeof(r->backend), "kmod");
	r->objects = v;
	field(buf, "posts", &r->posts);
	field(buf, "dequeued", &r->deqs);
	r->wrap = 1;
	field(buf, "pending", &r->pending);
	field(buf, "queued", &r->queued);
	field(buf, "running", &r->running);
	field(buf, "waiters", &r->waiters);
	field(buf, "ring-fill", &r->fill);
	field(buf, "overflow", &r->overflow);
	conc_field(buf, r);
}

static void scan_stats_fd(int pid, const char *fd, unsigned int n);

/* The ports among the fds of every process we may look at. */
static void scan_proc(void)
{
	char path[320], target[64];
	struct dirent *pe, *fe;
	unsigned int pool;
	DIR *proc, *fds;
	ssize_t n;
	int pid;

	proc = opendir("/proc");
	if (!proc)
		return;
	while ((pe = readdir(proc))) {
		if (!isdigit((unsigned char)pe->d_name[0]))
			continue;
		pid = atoi(pe->d_name);
		if (only_pid && pid != only_pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;	/* gone, or not ours */
		while ((fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid,
				 fe->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = 0;
			if (!strcmp(target, "/dev/tpio"))
				scan_fd(pid, fe->d_name);
			else if (sscanf(target, "/memfd:" TPIO_STATS_NAME "%u",
					&pool) == 1)
				scan_stats_fd(pid, fe->d_name, pool);
		}
		closedir(fds);
	}
	closedir(proc);
}

/*
 * The file grows only at its end (its size field says how far); the
 * detector's counters came last, so a file without them is still read.
 */
#define STATS_MIN_SIZE	offsetof(struct tpio_stats_file, stall_grants)

#define LD(field)	__atomic_load_n(&f->field, __ATOMIC_RELAXED)

/* Copies the sample of @f under its sequence lock: 0, or -1 if it moves. */
static int stats_copy(const struct tpio_stats_file *f, struct row *r)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		uint32_t s1 = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);

		if (s1 & 1) {
			usleep(100);
			continue;
		}
		r->objects = LD(objects);
		r->cbs = LD(callbacks);
		r->queued = LD(queued);
		/* every completion that queued either began or still waits */
		r->posts = r->cbs + r->queued;
		r->deqs = r->cbs;
		r->pending = LD(pending);
		r->running = LD(running);
		r->waiters = LD(waiters);
		r->fill = LD(ring_fill);
		r->overflow = LD(overflow);
		r->threads = LD(threads);
		r->conc_value = LD(conc_value);
		r->conc_active = LD(conc_active);
		r->conc_blocked = LD(conc_blocked);
		r->conc_released = LD(conc_released);
		if (r->has_stall) {
			r->stall_grants = LD(stall_grants);
			r->meter_grants = LD(meter_grants);
			r->meter_revokes = LD(meter_revokes);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&f->seq, __ATOMIC_RELAXED) == s1)
			return 0;
	}
	return -1;
}

/* One statistics file (fd @fd of @pid): a row when it is sane. */
static void scan_stats_fd(int pid, const char *fd, unsigned int n)
{
	struct tpio_stats_file *f;
	char path[320];
	struct stat st;
	struct row *r;
	int mfd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, fd);
	mfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mfd < 0)
		return;
	if (fstat(mfd, &st) || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size < sizeof(*f)) {
		close(mfd);
		return;
	}
	f = mmap(NULL, sizeof(*f), PROT_READ, MAP_SHARED, mfd, 0);
	close(mfd);
	if (f == MAP_FAILED)
		return;
	/* a child after fork() may still hold its parent's: not its own */
	if (__atomic_load_n(&f->magic, __ATOMIC_ACQUIRE) != TPIO_STATS_MAGIC ||
	    f->version != TPIO_STATS_VERSION || f->size < STATS_MIN_SIZE ||
	    f->pid != pid || f->pool != n ||
	    __atomic_load_n(&f->closed, __ATOMIC_ACQUIRE))
		goto out;
	r = add_row();
	if (!r)
		goto out;
	r->has_stall = f->size >= sizeof(*f);
	if (stats_copy(f, r)) {
		ncur--;
		goto out;
	}
	snprintf(r->key, sizeof(r->key), "s%d/%u", pid, n);
	r->pid = pid;
	memcpy(r->comm, f->comm, sizeof(f->comm));
	r->comm[sizeof(f->comm)] = 0;
	r->src = "stats";
	snprintf(r->port, sizeof(r->port), "pool:%u", n);
	memcpy(r->backend, f->backend, sizeof(r->backend));
	r->backend[sizeof(r->backend) - 1] = 0;
	r->has_cbs = 1;
	r->has_threads = 1;
out:
	munmap(f, sizeof(*f));
}

static const struct row *find_prev(const char *key)
{
	int i;

	for (i = 0; i < nprev; i++)
		if (!strcmp(prev[i].key, key))
			return &prev[i];
	return NULL;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* A total, or its rate per second since the previous report. */
static void counter(char *out, size_t len, uint64_t now, const struct row *p,
		    uint64_t then, int wrap, double secs)
{
	uint64_t d;

	if (!p || secs <= 0) {
		snprintf(out, len, "%llu", (unsigned long long)now);
		return;
	}
	d = wrap ? (uint32_t)(now - then) : now - then;
	if (!wrap && now < then)
		d = 0;
	snprintf(out, len, "%.1f", (double)d / secs);
}

static void report(double secs, int first)
{
	char posts[32], deqs[32], cbs[32], thr[24], conc[96], stall[72];
	time_t t = time(NULL);
	struct tm tm;
	int i;

	qsort(cur, (size_t)ncur, sizeof(cur[0]), row_cmp);
	localtime_r(&t, &tm);
	printf("%02d:%02d:%02d  %d port%s, %s\n", tm.tm_hour, tm.tm_min,
	       tm.tm_sec, ncur, ncur == 1 ? "" : "s",
	       first ? "totals since setup" : "per second");
	printf("%7s %-15s %-6s %-8s %-4s %6s %10s %10s %10s %6s %6s %5s %5s %5s %5s %4s %-12s %s\n",
	       "PID", "COMMAND", "SOURCE", "PORT", "BACK", "OBJS",
	       first ? "POSTS" : "POST/s", first ? "DEQS" : "DEQ/s",
	       first ? "CBS" : "CB/s", "PEND", "QUEUED", "RUN", "WAIT",
	       "FILL", "OVF", "THR", "CONC", "STALL");
	for (i = 0; i < ncur; i++) {
		const struct row *r = &cur[i];
		const struct row *p = first ? NULL : find_prev(r->key);
		double s = p ? secs : 0;

		/* a port that appeared since the last report shows totals */
		counter(posts, sizeof(posts), r->posts, p, p ? p->posts : 0,
			0, s);
		counter(deqs, sizeof(deqs), r->deqs, p, p ? p->deqs : 0,
			r->wrap, s);
		if (r->has_cbs)
			counter(cbs, sizeof(cbs), r->cbs, p, p ? p->cbs : 0, 0,
				s);
		else
			snprintf(cbs, sizeof(cbs), "-");
		if (r->has_threads)
			snprintf(thr, sizeof(thr), "%llu",
				 (unsigned long long)r->threads);
		else
			snprintf(thr, sizeof(thr), "-");
		/* value/active/blocked/released, or - without the control */
		if (r->conc_value)
			snprintf(conc, sizeof(conc), "%llu/%llu/%llu/%llu",
				 (unsigned long long)r->conc_value,
				 (unsigned long long)r->conc_active,
				 (unsigned long long)r->conc_blocked,
				 (unsigned long long)r->conc_released);
		else
			snprintf(conc, sizeof(conc), "-");
		/* tick rule's grants/meter's grants/meter's take-backs */
		if (r->has_stall)
			snprintf(stall, sizeof(stall), "%llu/%llu/%llu",
				 (unsigned long long)r->stall_grants,
				 (unsigned long long)r->meter_grants,
				 (unsigned long long)r->meter_revokes);
		else
			snprintf(stall, sizeof(stall), "-");
		printf("%7d %-15.15s %-6s %-8s %-4.4s %6llu %10s %10s %10s %6llu %6llu %5llu %5llu %5llu %5llu %4s %-12s %s\n",
		       r->pid, r->comm, r->src, r->port, r->backend,
		       (unsigned long long)r->objects, posts, deqs, cbs,
		       (unsigned long long)r->pending,
		       (unsigned long long)r->queued,
		       (unsigned long long)r->running,
		       (unsigned long long)r->waiters,
		       (unsigned long long)r->fill,
		       (unsigned long long)r->overflow, thr, conc, stall);
	}
	printf("\n");
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: tpiostat [-p PID] [INTERVAL [COUNT]]\n"
		"  the completion ports of running programs: the module's\n"
		"  (/proc/PID/fdinfo of /dev/tpio fds) and libtpio's pools\n"
		"  of programs run with TPIO_STATS=1 (their tpio-stats memfds)\n"
		"  Without INTERVAL one report of totals; with it a report\n"
		"  every INTERVAL seconds (rates after the first), COUNT times\n"
		"  (default: until interrupted).\n");
}

int main(int argc, char **argv)
{
	double interval = 0, last, t;
	long count = 1, i;
	char *end;
	int c;

	while ((c = getopt(argc, argv, "p:h")) != -1) {
		switch (c) {
		case 'p':
			only_pid = atoi(optarg);
			if (only_pid <= 0) {
				fprintf(stderr, "tpiostat: bad PID %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		interval = strtod(argv[optind], &end);
		if (*end || interval <= 0) {
			fprintf(stderr, "tpiostat: bad interval %s\n",
				argv[optind]);
			return 2;
		}
		count = -1;
		optind++;
	}
	if (optind < argc) {
		count = strtol(argv[optind], &end, 10);
		if (*end || count <= 0) {
			fprintf(stderr, "tpiostat: bad count %s\n",
				argv[optind]);
			return 2;
		}
		optind++;
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	last = now_s();
	for (i = 0; count < 0 || i < count; i++) {
		if (i) {
			struct timespec ts = {
				(time_t)interval,
				(long)((interval - (double)(time_t)interval) * 1e9)
			};

			nanosleep(&ts, NULL);
		}
		ncur = 0;
		scan_proc();
		t = now_s();
		report(t - last, i == 0);
		last = t;
		memcpy(prev, cur, sizeof(cur[0]) * (size_t)ncur);
		nprev = ncur;
	}
	return 0;
}
