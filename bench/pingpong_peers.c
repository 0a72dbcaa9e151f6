// SPDX-License-Identifier: MIT
/*
 * pingpong_peers: the peers of the pipe ping-pong (bench/pingpong.h), the
 * same pairs of pipes as pingpong_tp.c on Linux (pipe A: side 1 writes,
 * side 0 reads; pipe B: side 0 writes, side 1 reads):
 *
 *   -m blocking   (impl blocking-threads) two plain threads per pair, each
 *                 a loop of a blocking read(2) of one byte and a write(2)
 *                 of the next: the simplest program a user could write.
 *   -m uring      (impl uring-thread) one thread drives all pairs through
 *                 one io_uring: a one-byte read SQE pending per side; a
 *                 read's CQE is the hop, which queues the side's next read
 *                 and the write of the byte to the other side, all
 *                 submitted by the one io_uring_submit_and_wait() that
 *                 also waits for the next CQEs. No other system call per
 *                 hop where the kernel writes to pipes without blocking
 *                 (RWF_NOWAIT works on a pipe, as on the host's 6.18: a
 *                 write SQE, its CQE skipped on success when the kernel
 *                 can); elsewhere a write SQE would be handed to an io-wq
 *                 thread, so the byte goes with a plain write(2) (6.1, the
 *                 VM's kernel).
 *                 The ring is set up with SINGLE_ISSUER | DEFER_TASKRUN
 *                 where the kernel has them (6.1 does): completions are
 *                 then run in the waiting thread's own io_uring_enter.
 *
 * A side that holds the byte after the window closes its write end: the
 * other side's read sees end of file, and that side ends too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <sys/uio.h>

#include "pingpong.h"

struct side {
	int rfd, wfd;
	int s;			/* 0 or 1 */
	int ended;
	unsigned char in, out;
	struct side *peer;
	struct pp_count *count;
} __attribute__((aligned(64)));

static struct side sides[2 * PP_MAX_PAIRS];
static struct pp_count counts[2 * PP_MAX_PAIRS];
static int nsides;

static void make_pairs(int pairs)
{
	int k;

	for (k = 0; k < pairs; k++) {
		struct side *a = &sides[2 * k], *b = &sides[2 * k + 1];
		int pa[2], pb[2];

		if (pipe2(pa, O_CLOEXEC) || pipe2(pb, O_CLOEXEC))
			pp_fail("pipe2 failed");
		a->rfd = pa[0];
		b->wfd = pa[1];
		b->rfd = pb[0];
		a->wfd = pb[1];
		a->s = 0;
		b->s = 1;
		a->peer = b;
		b->peer = a;
		a->count = &counts[2 * k];
		b->count = &counts[2 * k + 1];
	}
	nsides = 2 * pairs;
}

static void write_one(int fd, unsigned char b)
{
	ssize_t r;

	do {
		r = write(fd, &b, 1);
	} while (r < 0 && errno == EINTR);
	if (r != 1)
		pp_fail("write failed");
}

/* ---- blocking threads ---- */

static void *blocking_side(void *arg)
{
	struct side *sd = arg;

	for (;;) {
		unsigned char b;
		ssize_t r = read(sd->rfd, &b, 1);
		int next;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			pp_fail("read failed");
		if (!r)
			break;		/* the other side stopped */
		next = pp_hop(sd->count, sd->s, b);
		if (next < 0)
			break;		/* the window is over: keep the byte */
		write_one(sd->wfd, (unsigned char)next);
	}
	close(sd->wfd);			/* the other side's read: end of file */
	pp_side_ended();
	return NULL;
}

static void run_blocking(const struct pp_opts *o)
{
	pthread_t t[2 * PP_MAX_PAIRS];
	int k;

	for (k = 0; k < nsides; k++)
		if (pthread_create(&t[k], NULL, blocking_side, &sides[k]))
			pp_fail("pthread_create failed");
	for (k = 0; k < o->pairs; k++)
		write_one(sides[2 * k + 1].wfd, 0);
	pp_measure(o, counts);
	for (k = 0; k < nsides; k++)
		pthread_join(t[k], NULL);
}

/* ---- one io_uring thread ---- */

#define WRITE_TAG 1UL		/* user_data of a write: side | 1 */

static struct io_uring ring;
static int write_sqe;		/* writes as SQEs (else write(2)) */
static unsigned int write_flags;	/* IOSQE_CQE_SKIP_SUCCESS or 0 */

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	if (!sqe)
		pp_fail("no SQE");
	return sqe;
}

static void queue_read(struct side *sd)
{
	struct io_uring_sqe *sqe = sqe_get();

	io_uring_prep_read(sqe, sd->rfd, &sd->in, 1, (__u64)-1);
	io_uring_sqe_set_data(sqe, sd);
}

static void queue_write(struct side *sd, unsigned char b)
{
	struct io_uring_sqe *sqe;

	sd->out = b;
	if (!write_sqe) {
		write_one(sd->wfd, b);
		return;
	}
	sqe = sqe_get();
	io_uring_prep_write(sqe, sd->wfd, &sd->out, 1, (__u64)-1);
	io_uring_sqe_set_data(sqe, (void *)((uintptr_t)sd | WRITE_TAG));
	sqe->flags |= write_flags;
}

/*
 * Whether this kernel writes to a pipe without blocking when asked
 * (RWF_NOWAIT): then io_uring does a write SQE inline, else it hands it
 * to an io-wq thread.
 */
static int pipe_nowait_writes(void)
{
	unsigned char b = 0;
	struct iovec iov = { &b, 1 };
	int p[2], ok;

	if (pipe2(p, O_CLOEXEC))
		pp_fail("pipe2 failed");
	ok = pwritev2(p[1], &iov, 1, -1, RWF_NOWAIT) == 1;
	close(p[0]);
	close(p[1]);
	return ok;
}

static void *uring_thread(void *arg)
{
	const struct pp_opts *o = arg;
	struct io_uring_params prm;
	unsigned int entries = 8;
	int k, ret, live = nsides;

	while (entries < 4U * (unsigned int)nsides)
		entries *= 2;
	memset(&prm, 0, sizeof(prm));
	prm.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	ret = io_uring_queue_init_params(entries, &ring, &prm);
	if (ret == -EINVAL) {
		memset(&prm, 0, sizeof(prm));
		ret = io_uring_queue_init_params(entries, &ring, &prm);
	}
	if (ret)
		pp_fail("io_uring_queue_init failed");
	write_sqe = pipe_nowait_writes();
	write_flags = (prm.features & IORING_FEAT_CQE_SKIP) ?
		      IOSQE_CQE_SKIP_SUCCESS : 0;
	printf("# pingpong_peers: ring flags 0x%x, writes %s%s\n", prm.flags,
	       write_sqe ? "as SQEs" : "with write(2)",
	       write_sqe && write_flags ? ", CQE skipped on success" : "");
	fflush(stdout);
	for (k = 0; k < nsides; k++)
		queue_read(&sides[k]);
	for (k = 0; k < o->pairs; k++)
		queue_write(&sides[2 * k + 1], 0);
	while (live > 0) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR)
			pp_fail("io_uring_submit_and_wait failed");
		io_uring_for_each_cqe(&ring, head, cqe) {
			uintptr_t data = (uintptr_t)io_uring_cqe_get_data(cqe);
			struct side *sd = (struct side *)(data & ~WRITE_TAG);
			int res = cqe->res, next;

			seen++;
			if (data & WRITE_TAG) {
				/* only a failed one when CQEs are skipped */
				if (res != 1 && !(res == -EPIPE &&
				    __atomic_load_n(&pp_stop, __ATOMIC_SEQ_CST)))
					pp_fail("a write SQE failed");
				continue;
			}
			if (res == -EINTR || res == -EAGAIN) {
				queue_read(sd);
				continue;
			}
			if (res < 0)
				pp_fail("a read SQE failed");
			if (!res) {		/* the other side stopped */
				pp_side_ended();
				live--;
				continue;
			}
			next = pp_hop(sd->count, sd->s, sd->in);
			if (next < 0) {
				/* keep the byte; end of file for the other */
				close(sd->wfd);
				sd->wfd = -1;
				pp_side_ended();
				live--;
				continue;
			}
			queue_read(sd);
			queue_write(sd, (unsigned char)next);
		}
		io_uring_cq_advance(&ring, seen);
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

static void run_uring(const struct pp_opts *o)
{
	pthread_t t;

	if (pthread_create(&t, NULL, uring_thread, (void *)o))
		pp_fail("pthread_create failed");
	pp_measure(o, counts);
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	struct pp_opts o;
	int k;

	pp_parse(argc, argv, &o, "?");
	if (!strcmp(o.mode, "blocking")) {
		if (!strcmp(o.impl, "?"))
			o.impl = "blocking-threads";
	} else if (!strcmp(o.mode, "uring")) {
		if (!strcmp(o.impl, "?"))
			o.impl = "uring-thread";
	} else {
		fprintf(stderr, "pingpong_peers: -m blocking|uring\n");
		return 2;
	}
	pp_watch();
	make_pairs(o.pairs);
	if (o.mode[0] == 'b')
		run_blocking(&o);
	else
		run_uring(&o);
	for (k = 0; k < nsides; k++) {
		close(sides[k].rfd);
		if (sides[k].wfd >= 0 && o.mode[0] == 'u')
			close(sides[k].wfd);
	}
	return 0;
}
