// SPDX-License-Identifier: MIT
/*
 * echo_client: the one client of every echo benchmark row. It starts the
 * server (the command after "--", given "tcp N" or "pipe R,W..." as
 * bench/echo.h describes), opens N connections (TCP to 127.0.0.1, or N
 * pairs of pipes inherited by the server), and runs N closed loops at once
 * from one thread: send SIZE bytes, wait until all SIZE have come back and
 * match what was sent, record the round trip, send the next. A warm-up of
 * -w ms is not measured; then for -d ms every round trip that completes is
 * counted and its latency kept. Prints (bench/bench.h):
 *
 *   row bench=echo_<tcp|pipe>_c<N>_rate ...  ns per round trip, all N
 *                                            connections together (ops_s =
 *                                            round trips per second)
 *   row/cdf bench=echo_<tcp|pipe>_c<N>_lat   per round trip latency
 *   fail bench=... what=...                  on any error or a mismatch
 *
 *   echo_client -i IMPL -T tcp|pipe -c N [-s SIZE] [-w MS] [-d MS] [-r RUN]
 *               [-L SECS] [-x TAG] [-C | -S FILE] -- SERVER [ARGS...]
 *
 * -x TAG names a variant: the rows become echo_<tcp|pipe>_c<N>_<TAG>_...
 * (bench/run uses "cpu0" for the runs pinned to one CPU).
 *
 * The server's cost per round trip (bench/cost.h), over the round trips
 * that complete between the window's start and its end:
 *
 *   -C       also print row bench=echo_..._cs (context switches of all
 *            the server's threads, unit=per_rt) and echo_..._cpu (their
 *            CPU time, unit=us_per_rt), from /proc snapshots at the start
 *            and the end of the window; a "skip" line instead when /proc
 *            cannot tell (e.g. a server thread exited in the window).
 *   -S FILE  run the server under perf stat (output in FILE, fifos
 *            FILE.ctl and FILE.ack), count its system calls in the window
 *            only, and print only row bench=echo_..._sys (unit=per_rt): the
 *            tracepoint slows the server, so no rate or latency rows.
 *
 * -L bounds the whole run (default 60 s, server start included): past it
 * the server is killed and a fail line printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "bench.h"
#include "cost.h"
#include "echo.h"

#define MAX_SIZE 16384

struct cl {
	int rfd, wfd;
	size_t got;		/* bytes of the current echo received */
	uint64_t sent_at;	/* 0: no request in flight */
	uint64_t seq;
	unsigned char out[MAX_SIZE], in[MAX_SIZE];
};

static const char *impl = "?";
static char bench_rate[64], bench_lat[64], bench_base[64];
static pid_t server_pid;
static char alarm_msg[256];

static void on_alarm(int sig)
{
	(void)sig;
	if (server_pid > 0)
		kill(server_pid, SIGKILL);
	if (write(1, alarm_msg, strlen(alarm_msg)) < 0)
		_exit(1);
	_exit(1);
}

static void failf(const char *what)
{
	char w[200];
	size_t i;

	snprintf(w, sizeof(w), "%s", what);
	for (i = 0; w[i]; i++)
		if (w[i] == ' ')
			w[i] = '_';
	bench_fail(bench_rate, impl, w);
	if (server_pid > 0)
		kill(server_pid, SIGKILL);
	exit(1);
}

static void write_all(int fd, const void *b, size_t n)
{
	const unsigned char *p = b;

	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			failf("write to the server failed");
		p += r;
		n -= (size_t)r;
	}
}

/* Fill the next request: a sequence number, then a pattern from it. */
static void next_request(struct cl *c, size_t size)
{
	size_t i;

	c->seq++;
	for (i = 0; i < size; i++)
		c->out[i] = (unsigned char)(c->seq * 131 + i * 7);
	memcpy(c->out, &c->seq, size < 8 ? size : 8);
	c->got = 0;
	c->sent_at = bench_now();
	write_all(c->wfd, c->out, size);
}

/*
 * Read what is there for @c; returns 1 when the whole echo has arrived
 * (checked against the request), 0 otherwise.
 */
static int take_echo(struct cl *c, size_t size)
{
	ssize_t r = read(c->rfd, c->in + c->got, size - c->got);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r < 0)
		failf("read from the server failed");
	if (r == 0)
		failf("the server closed a connection");
	c->got += (size_t)r;
	if (c->got < size)
		return 0;
	if (memcmp(c->in, c->out, size))
		failf("the echo differs from the request");
	return 1;
}

static pid_t spawn(char **cmd, int out_fd)
{
	pid_t p = fork();

	if (p < 0)
		failf("fork failed");
	if (!p) {
		if (out_fd >= 0)
			dup2(out_fd, 1);
		else
			dup2(2, 1);
		execvp(cmd[0], cmd);
		fprintf(stderr, "echo_client: exec %s: %s\n", cmd[0],
			strerror(errno));
		_exit(127);
	}
	return p;
}

/* Read "echo-port P" from the server's stdout (Wine may add \r). */
static int read_port(int fd)
{
	char buf[512];
	size_t have = 0;
	char *l;
	int port;

	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			failf("the server ended before printing its port");
		have += (size_t)r;
		buf[have] = 0;
		l = strstr(buf, "echo-port ");
		if (l && strchr(l, '\n') && sscanf(l, "echo-port %d", &port) == 1)
			return port;
		if (have == sizeof(buf) - 1)
			failf("no port line from the server");
	}
}

/*
 * The cost measurement (-C or -S): started by the first round trip that
 * completes at or after the window's start, ended by the first one at or
 * after its end; round trips completed in between (the ending one
 * included: the server's work for it is done) are what it is divided by.
 */
enum { COST_NONE, COST_PROC, COST_PERF };
static int cost_mode;
static struct cost_snap snap_a, snap_b;
static struct cost_perf perf;
static const char *cost_why;	/* not measurable: why */
static int cost_state;		/* 0 before, 1 in, 2 after the window */
static uint64_t cost_n;

static void cost_mark(int begin)
{
	const char *why = NULL;

	if (cost_why)
		return;
	if (cost_mode == COST_PROC)
		why = cost_snap_take(server_pid, begin ? &snap_a : &snap_b);
	else
		why = cost_perf_cmd(&perf, server_pid,
				    begin ? "enable" : "disable");
	if (why)
		cost_why = why;
}

static void cost_on_round_trip(uint64_t now, uint64_t t_start,
			       uint64_t t_end)
{
	if (cost_state == 1) {
		cost_n++;
		if (now >= t_end) {
			cost_mark(0);
			cost_state = 2;
		}
	} else if (cost_state == 0 && now >= t_start) {
		cost_mark(1);
		cost_state = 1;
		if (now >= t_end) {
			cost_mark(0);
			cost_state = 2;
		}
	}
}

static void cost_emit(int run)
{
	char b[80];

	if (cost_mode == COST_PERF) {
		uint64_t calls = 0;
		const char *why = cost_perf_count(&perf, &calls);

		snprintf(b, sizeof(b), "%s_sys", bench_base);
		if (!why)
			why = cost_why;
		if (why)
			bench_skip(b, impl, why);
		else
			bench_emit_value(b, impl, run, "per_rt",
					 (double)calls / (double)cost_n, cost_n);
		return;
	}
	if (cost_why) {
		snprintf(b, sizeof(b), "%s_cs", bench_base);
		bench_skip(b, impl, cost_why);
		snprintf(b, sizeof(b), "%s_cpu", bench_base);
		bench_skip(b, impl, cost_why);
		return;
	}
	{
		struct cost_delta d;

		cost_delta(&snap_a, &snap_b, &d);
		snprintf(b, sizeof(b), "%s_cs", bench_base);
		if (d.exited) {
			char w[120];

			snprintf(w, sizeof(w),
				 "%zu_server_thread(s)_exited_in_the_window:_their_context_switches_are_lost",
				 d.exited);
			bench_skip(b, impl, w);
		} else {
			bench_emit_value(b, impl, run, "per_rt",
					 (double)d.cs / (double)cost_n, cost_n);
		}
		snprintf(b, sizeof(b), "%s_cpu", bench_base);
		/* the unit says where it came from: ns or clock ticks */
		bench_emit_value(b, impl, run,
				 strcmp(d.cpu_src, "schedstat") ?
				 "us_per_rt_from_stat_ticks" : "us_per_rt",
				 (double)d.cpu_ns / 1e3 / (double)cost_n, cost_n);
	}
}

int main(int argc, char **argv)
{
	const char *transport = NULL, *tag = "", *perf_out = NULL;
	long n = 0, size = 64, warm_ms = 200, dur_ms = 1000, limit = 60;
	int run = 1, opt, ep = -1, status, k, nperf = 0;
	char **cmd, **argv2;
	struct cl *cl;
	uint64_t *lat = NULL, t_start, t_end, now;
	size_t nlat = 0, cap = 0, count = 0;
	long ncmd, i;

	while ((opt = getopt(argc, argv, "i:T:c:s:w:d:r:L:x:CS:")) != -1) {
		switch (opt) {
		case 'i': impl = optarg; break;
		case 'T': transport = optarg; break;
		case 'c': n = bench_arg_long(optarg, "-c"); break;
		case 's': size = bench_arg_long(optarg, "-s"); break;
		case 'w': warm_ms = bench_arg_long(optarg, "-w"); break;
		case 'd': dur_ms = bench_arg_long(optarg, "-d"); break;
		case 'r': run = (int)bench_arg_long(optarg, "-r"); break;
		case 'L': limit = bench_arg_long(optarg, "-L"); break;
		case 'x': tag = optarg; break;
		case 'C': cost_mode = COST_PROC; break;
		case 'S': perf_out = optarg; break;
		default: goto usage;
		}
	}
	if (!transport || (strcmp(transport, "tcp") && strcmp(transport, "pipe")) ||
	    n < 1 || n > 1024 || size < 1 || size > MAX_SIZE || dur_ms < 1 ||
	    limit < 1 || optind >= argc || (perf_out && cost_mode))
		goto usage;
	if (perf_out)
		cost_mode = COST_PERF;
	snprintf(bench_base, sizeof(bench_base), "echo_%s_c%ld%s%s",
		 transport, n, *tag ? "_" : "", tag);
	snprintf(bench_rate, sizeof(bench_rate), "echo_%s_c%ld%s%s_rate",
		 transport, n, *tag ? "_" : "", tag);
	snprintf(bench_lat, sizeof(bench_lat), "echo_%s_c%ld%s%s_lat",
		 transport, n, *tag ? "_" : "", tag);
	snprintf(alarm_msg, sizeof(alarm_msg),
		 "fail bench=%s impl=%s what=no_result_within_%lds_(server_killed)\n",
		 bench_rate, impl, limit);
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)limit);

	cl = calloc((size_t)n, sizeof(*cl));
	ncmd = argc - optind;
	/* [perf ...] the server command, then "tcp N" or "pipe R,W"... */
	argv2 = calloc((size_t)(12 + ncmd + n + 3), sizeof(char *));
	if (!cl || !argv2)
		failf("out of memory");
	cmd = argv2;
	if (perf_out) {
		nperf = cost_perf_argv(&perf, perf_out, cmd);
		if (nperf < 0)
			failf("cannot make the perf fifos");
	}
	for (i = 0; i < ncmd; i++)
		cmd[nperf + i] = argv[optind + i];
	ncmd += nperf;
	cmd[ncmd] = (char *)transport;
	if (!strcmp(transport, "tcp")) {
		struct sockaddr_in a;
		char nbuf[16];
		int sp[2], port;

		snprintf(nbuf, sizeof(nbuf), "%ld", n);
		cmd[ncmd + 1] = nbuf;
		if (pipe2(sp, O_CLOEXEC))
			failf("pipe failed");
		server_pid = spawn(cmd, sp[1]);
		close(sp[1]);
		if (perf_out)
			cost_why = cost_perf_open(&perf, server_pid);
		port = read_port(sp[0]);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t)port);
		for (i = 0; i < n; i++) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
				failf("connect to the server failed");
			echo_nodelay(fd);
			cl[i].rfd = cl[i].wfd = fd;
		}
		close(sp[0]);
	} else {
		for (i = 0; i < n; i++) {
			int c2s[2], s2c[2];
			char *arg = malloc(32);

			/* the client's ends are close-on-exec, the server's not */
			if (!arg || pipe(c2s) || pipe(s2c))
				failf("pipe failed");
			fcntl(c2s[1], F_SETFD, FD_CLOEXEC);
			fcntl(s2c[0], F_SETFD, FD_CLOEXEC);
			snprintf(arg, 32, "%d,%d", c2s[0], s2c[1]);
			cmd[ncmd + 1 + i] = arg;
			cl[i].rfd = s2c[0];
			cl[i].wfd = c2s[1];
		}
		server_pid = spawn(cmd, -1);
		if (perf_out)
			cost_why = cost_perf_open(&perf, server_pid);
		for (i = 0; i < n; i++) {
			int r, w;

			sscanf(cmd[ncmd + 1 + i], "%d,%d", &r, &w);
			close(r);
			close(w);
		}
	}
	if (n > 1) {
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0)
			failf("epoll_create1 failed");
		for (i = 0; i < n; i++) {
			struct epoll_event ev = { .events = EPOLLIN,
						  .data.u64 = (uint64_t)i };

			if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].rfd, &ev))
				failf("epoll_ctl failed");
		}
	}

	/*
	 * Closed loops: each connection has at most one request in flight.
	 * Round trips that complete in [t_start, t_end) are counted; after
	 * t_end no request is sent, and those in flight are drained.
	 */
	t_start = bench_now() + (uint64_t)warm_ms * 1000000ULL;
	t_end = t_start + (uint64_t)dur_ms * 1000000ULL;
	for (i = 0; i < n; i++)
		next_request(&cl[i], (size_t)size);
	for (long inflight = n; inflight > 0;) {
		struct epoll_event evs[64];
		int ne;

		if (n == 1) {
			ne = 1;
			evs[0].data.u64 = 0;
		} else {
			ne = epoll_wait(ep, evs, 64, -1);
			if (ne < 0 && errno == EINTR)
				continue;
			if (ne < 0)
				failf("epoll_wait failed");
		}
		for (k = 0; k < ne; k++) {
			struct cl *c = &cl[evs[k].data.u64];

			if (!take_echo(c, (size_t)size))
				continue;
			now = bench_now();
			if (cost_mode)
				cost_on_round_trip(now, t_start, t_end);
			if (c->sent_at >= t_start && now < t_end) {
				if (nlat == cap) {
					cap = cap ? cap * 2 : 65536;
					lat = realloc(lat, cap * sizeof(*lat));
					if (!lat)
						failf("out of memory");
				}
				lat[nlat++] = now - c->sent_at;
			}
			if (now >= t_start && now < t_end)
				count++;
			if (now < t_end) {
				next_request(c, (size_t)size);
			} else {
				c->sent_at = 0;
				inflight--;
			}
		}
	}
	for (i = 0; i < n; i++) {
		close(cl[i].wfd);
		if (cl[i].rfd != cl[i].wfd)
			close(cl[i].rfd);
	}
	if (waitpid(server_pid, &status, 0) != server_pid)
		failf("waitpid failed");
	server_pid = 0;
	alarm(0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		char w[80];

		snprintf(w, sizeof(w), "the server failed (status 0x%x)", status);
		failf(w);
	}
	if (!count || !nlat || (cost_mode && !cost_n))
		failf("no round trip completed in the measured time");
	if (cost_mode != COST_PERF) {
		bench_emit_rate(bench_rate, impl, run,
				(uint64_t)dur_ms * 1000000ULL, count);
		bench_emit_samples(bench_lat, impl, run, lat, nlat);
	}
	if (cost_mode)
		cost_emit(run);
	return 0;
usage:
	fprintf(stderr, "usage: echo_client -i IMPL -T tcp|pipe -c N [-s SIZE] [-w MS] [-d MS] [-r RUN] [-L SECS] [-x TAG] [-C | -S FILE] -- SERVER [ARGS...]\n");
	return 2;
}
