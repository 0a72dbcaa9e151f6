// SPDX-License-Identifier: MIT
/*
 * echo_client: a load generator for echo_server, in plain C with threads
 * (no libtpio). Each of --conns threads opens a connection to
 * 127.0.0.1:--port, sends --size bytes, waits for the echo, records the
 * round-trip time, and reconnects every --per-conn round trips, until
 * --seconds have passed. Bounded: at most 256 threads, 120 seconds, 64 KiB
 * messages, 127.0.0.1 only.
 *
 *   echo_client --port N [--conns 8] [--seconds 5] [--size 64]
 *               [--per-conn 100]
 *
 * Prints one report line:
 *   client: connections=N round_trips=N errors=N seconds=S
 *           throughput_rt_s=X mbit_s=X p50_us=X p99_us=X
 * and exits 0 when there was no error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS	256
#define MAX_SECONDS	120
#define MAX_SIZE	65536
#define MAX_SAMPLES	200000		/* latency samples kept per thread */

struct worker {
	pthread_t th;
	struct sockaddr_in addr;
	int size, per_conn;
	int64_t end_ns;
	long round_trips, connections, errors;
	uint32_t *samples;		/* round-trip times in ns, capped */
	long nsamples;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_to(const struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (const struct sockaddr *)a, sizeof(*a))) {
		close(s);
		return -1;
	}
	return s;
}

/* One round trip on @s: 0, or -1 on any error or short echo. */
static int round_trip(int s, const char *msg, char *back, int size)
{
	int got = 0;

	if (send(s, msg, (size_t)size, MSG_NOSIGNAL) != size)
		return -1;
	while (got < size) {
		ssize_t r = recv(s, back + got, (size_t)(size - got), 0);

		if (r <= 0)
			return -1;
		got += (int)r;
	}
	return memcmp(msg, back, (size_t)size) ? -1 : 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char *msg = malloc((size_t)w->size), *back = malloc((size_t)w->size);
	int s = -1, i, n = 0;

	if (!msg || !back) {
		w->errors++;
		goto out;
	}
	for (i = 0; i < w->size; i++)
		msg[i] = (char)('a' + i % 26);
	while (now_ns() < w->end_ns) {
		int64_t t0;

		if (s < 0) {
			s = connect_to(&w->addr);
			if (s < 0) {
				w->errors++;
				usleep(10000);
				continue;
			}
			w->connections++;
			n = 0;
		}
		t0 = now_ns();
		if (round_trip(s, msg, back, w->size)) {
			w->errors++;
			close(s);
			s = -1;
			continue;
		}
		if (w->nsamples < MAX_SAMPLES)
			w->samples[w->nsamples++] = (uint32_t)(now_ns() - t0);
		w->round_trips++;
		if (++n >= w->per_conn) {
			close(s);
			s = -1;
		}
	}
	if (s >= 0)
		close(s);
out:
	free(msg);
	free(back);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int arg_in(const char *v, int lo, int hi, const char *name)
{
	int x = atoi(v);

	if (x < lo || x > hi) {
		fprintf(stderr, "echo_client: %s must be %d..%d\n", name, lo, hi);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	static struct worker w[MAX_THREADS];
	int port = 0, conns = 8, seconds = 5, size = 64, per_conn = 100, i;
	long rt = 0, nconn = 0, errors = 0, ns = 0, k;
	uint32_t *all;
	int64_t t0, el;
	double secs;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(argv[i], "--port"))
			port = arg_in(argv[++i], 1, 65535, "--port");
		else if (!strcmp(argv[i], "--conns"))
			conns = arg_in(argv[++i], 1, MAX_THREADS, "--conns");
		else if (!strcmp(argv[i], "--seconds"))
			seconds = arg_in(argv[++i], 1, MAX_SECONDS, "--seconds");
		else if (!strcmp(argv[i], "--size"))
			size = arg_in(argv[++i], 1, MAX_SIZE, "--size");
		else if (!strcmp(argv[i], "--per-conn"))
			per_conn = arg_in(argv[++i], 1, 1 << 30, "--per-conn");
		else
			goto usage;
	}
	if (!port)
		goto usage;
	t0 = now_ns();
	for (i = 0; i < conns; i++) {
		w[i].addr.sin_family = AF_INET;
		w[i].addr.sin_port = htons((uint16_t)port);
		w[i].addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		w[i].size = size;
		w[i].per_conn = per_conn;
		w[i].end_ns = t0 + (int64_t)seconds * 1000000000;
		w[i].samples = malloc(MAX_SAMPLES * sizeof(uint32_t));
		if (!w[i].samples ||
		    pthread_create(&w[i].th, NULL, worker_main, &w[i])) {
			fprintf(stderr, "echo_client: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (i = 0; i < conns; i++) {
		pthread_join(w[i].th, NULL);
		rt += w[i].round_trips;
		nconn += w[i].connections;
		errors += w[i].errors;
		ns += w[i].nsamples;
	}
	el = now_ns() - t0;
	secs = (double)el / 1e9;
	all = malloc((size_t)(ns ? ns : 1) * sizeof(uint32_t));
	if (!all)
		return 1;
	for (k = 0, i = 0; i < conns; i++) {
		memcpy(all + k, w[i].samples, (size_t)w[i].nsamples * sizeof(uint32_t));
		k += w[i].nsamples;
		free(w[i].samples);
	}
	qsort(all, (size_t)ns, sizeof(uint32_t), cmp_u32);
	printf("client: connections=%ld round_trips=%ld errors=%ld seconds=%.2f throughput_rt_s=%.0f mbit_s=%.2f p50_us=%.1f p99_us=%.1f\n",
	       nconn, rt, errors, secs, (double)rt / secs,
	       (double)rt * size * 2 * 8 / secs / 1e6,
	       ns ? all[ns / 2] / 1e3 : 0.0,
	       ns ? all[(long)(ns * 0.99)] / 1e3 : 0.0);
	free(all);
	return errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: %s --port N [--conns 8] [--seconds 5] [--size 64] [--per-conn 100]\n",
		argv[0]);
	return 2;
}
