// SPDX-License-Identifier: MIT
/*
 * peer_bench: the reference points the tpio figures are compared with
 * (bench/README.md). None of them uses libtpio.
 *
 *   peer_bench [-r RUN] [-w WORKERS] [-f PERCENT] [-g GAP_US] [-H HOLD_US] [-c COLD_N] [-W QUEUE]
 *              TEST...
 *   TEST: tput lat-warm lat-cold drain iocp work
 *
 * impl names:
 *   condvar-pool   WORKERS threads around one mutex, two condition
 *                  variables and a queue of -W entries (32768, as
 *                  tpio_bench's in-flight window); the poster waits when
 *                  the queue is full
 *   uring-nop-b1   io_uring NOP, one submit+wait per operation, the
 *                  callback run by the reaping thread
 *   uring-nop-b32  the same, 32 NOPs per submit+wait
 *   spin-handoff   one cache line written by the poster, seen by a thread
 *                  spinning on it (the floor for a warm thread hop)
 *   futex-wake     a thread asleep in FUTEX_WAIT, woken by another
 *   uring-cq       io_uring CQ reaping: 256 NOPs complete, then their
 *                  CQEs are taken 64 at a time (the reference for
 *                  GetQueuedCompletionStatusEx's batch dequeue, "iocp")
 *   libuv          uv_queue_work on libuv's thread pool (WORKERS threads,
 *                  UV_THREADPOOL_SIZE), queued and completed by one loop
 *                  thread (work_tput)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>
#include "bench.h"

static int run_id = 1;
static unsigned int workers = 2;
static long factor = 100;
static uint64_t gap_ns = 2000000;
static uint64_t hold_ns = 200000;
static uint64_t cold_n = 300;		/* samples of the gap-bound tests */
static int failed;

static uint64_t scaled(uint64_t n)
{
	uint64_t v = n * (uint64_t)factor / 100;

	return v ? v : 1;
}

static void fail(const char *bench, const char *impl, const char *what)
{
	bench_fail(bench, impl, what);
	failed = 1;
}

/* ---- the mutex + condition variable pool ---- */

/* the queue's capacity: -W, the same bound as tpio_bench's in-flight window */
static uint32_t cvq = 32768;

struct cv_item {
	void (*fn)(void *arg);
	void *arg;
};

struct cvpool {
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	struct cv_item *q;		/* [cvq]: [head, tail) queued; mu */
	uint32_t head, tail;
	unsigned int idle;		/* workers in cond_wait; mu */
	unsigned int blocked;		/* posters in cond_wait; mu */
	int stop;
	pthread_t *th;
	unsigned int nth;
};

static void *cv_worker(void *arg)
{
	struct cvpool *p = arg;
	struct cv_item it;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->head == p->tail && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->nonempty, &p->mu);
			p->idle--;
		}
		if (p->head == p->tail)
			break;
		it = p->q[p->head % cvq];
		p->head++;
		if (p->blocked)
			pthread_cond_signal(&p->nonfull);
		pthread_mutex_unlock(&p->mu);
		it.fn(it.arg);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int cv_open(struct cvpool *p, unsigned int n)
{
	unsigned int i;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->nonempty, NULL);
	pthread_cond_init(&p->nonfull, NULL);
	p->th = calloc(n, sizeof(*p->th));
	p->q = calloc(cvq, sizeof(*p->q));
	if (!p->th || !p->q)
		return -1;
	for (i = 0; i < n; i++) {
		if (pthread_create(&p->th[i], NULL, cv_worker, p))
			break;
		p->nth++;
	}
	return p->nth == n ? 0 : -1;
}

static void cv_post(struct cvpool *p, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&p->mu);
	while (p->tail - p->head == cvq) {
		p->blocked++;
		pthread_cond_wait(&p->nonfull, &p->mu);
		p->blocked--;
	}
	p->q[p->tail % cvq].fn = fn;
	p->q[p->tail % cvq].arg = arg;
	p->tail++;
	if (p->idle)
		pthread_cond_signal(&p->nonempty);
	pthread_mutex_unlock(&p->mu);
}

static void cv_close(struct cvpool *p)
{
	unsigned int i;

	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->nonempty);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	free(p->q);
	pthread_cond_destroy(&p->nonempty);
	pthread_cond_destroy(&p->nonfull);
	pthread_mutex_destroy(&p->mu);
}

/* ---- trivial callbacks ---- */

static _Atomic uint64_t cb_count;
static _Atomic uint64_t lat_posted_at;
static _Atomic uint64_t lat_seen;
static _Atomic uint64_t lat_value;

static void cb_count_one(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&cb_count, 1, memory_order_relaxed);
}

static void cb_latency(void *arg)
{
	uint64_t now = bench_now();

	(void)arg;
	atomic_store(&lat_value, now - atomic_load(&lat_posted_at));
	atomic_fetch_add(&lat_seen, 1);
}

static int wait_count(uint64_t target)
{
	uint64_t limit = bench_now() + 60000000000ULL;

	while (atomic_load(&cb_count) < target) {
		bench_relax();
		if (bench_now() > limit)
			return -1;
	}
	return 0;
}

static void tput_cv(void)
{
	const char *B = "cb_tput", *I = "condvar-pool";
	uint64_t n = scaled(200000), warm = scaled(20000), i, t0, t1;
	struct cvpool p;

	if (cv_open(&p, workers)) {
		fail(B, I, "pthread_create");
		cv_close(&p);
		return;
	}
	atomic_store(&cb_count, 0);
	for (i = 0; i < warm; i++)
		cv_post(&p, cb_count_one, NULL);
	if (wait_count(warm))
		fail(B, I, "warm-up callbacks missing");
	atomic_store(&cb_count, 0);
	t0 = bench_now();
	for (i = 0; i < n; i++)
		cv_post(&p, cb_count_one, NULL);
	if (wait_count(n))
		fail(B, I, "callbacks missing");
	t1 = bench_now();
	cv_close(&p);
	if (atomic_load(&cb_count) != n)
		fail(B, I, "callback count");
	else
		bench_emit_rate(B, I, run_id, t1 - t0, n);
}

/* work_tput: the condvar pool's side is its cb_tput, under that name */
static void work_cv(void)
{
	const char *B = "work_tput", *I = "condvar-pool";
	uint64_t n = scaled(200000), warm = scaled(20000), i, t0, t1;
	struct cvpool p;

	if (cv_open(&p, workers)) {
		fail(B, I, "pthread_create");
		cv_close(&p);
		return;
	}
	atomic_store(&cb_count, 0);
	for (i = 0; i < warm; i++)
		cv_post(&p, cb_count_one, NULL);
	if (wait_count(warm))
		fail(B, I, "warm-up callbacks missing");
	atomic_store(&cb_count, 0);
	t0 = bench_now();
	for (i = 0; i < n; i++)
		cv_post(&p, cb_count_one, NULL);
	if (wait_count(n))
		fail(B, I, "callbacks missing");
	t1 = bench_now();
	cv_close(&p);
	if (atomic_load(&cb_count) != n)
		fail(B, I, "callback count");
	else
		bench_emit_rate(B, I, run_id, t1 - t0, n);
}

/*
 * libuv's uv_queue_work: the loop thread keeps -W requests queued (each
 * completion's after-callback queues the next) until n work callbacks
 * ran; uv_run returns when the last after-callback has.
 */
static struct {
	uv_loop_t loop;
	uv_work_t *req;
	uint64_t queued, target;
	int err;
} uvw;

static void uv_work_one(uv_work_t *r)
{
	(void)r;
	atomic_fetch_add_explicit(&cb_count, 1, memory_order_relaxed);
}

static void uv_after_one(uv_work_t *r, int status)
{
	if (status)
		uvw.err = status;
	if (uvw.queued < uvw.target && !uvw.err) {
		uvw.queued++;
		uvw.err = uv_queue_work(&uvw.loop, r, uv_work_one, uv_after_one);
	}
}

static int uv_round(uint64_t n)
{
	uint64_t i, first = n < cvq ? n : cvq;

	uvw.queued = first;
	uvw.target = n;
	for (i = 0; i < first && !uvw.err; i++)
		uvw.err = uv_queue_work(&uvw.loop, &uvw.req[i], uv_work_one,
					uv_after_one);
	if (!uvw.err)
		uv_run(&uvw.loop, UV_RUN_DEFAULT);
	return uvw.err;
}

static void work_uv(void)
{
	const char *B = "work_tput", *I = "libuv";
	uint64_t n = scaled(200000), warm = scaled(20000), t0, t1;
	char size[16];

	/* read once, at libuv's first use of its pool */
	snprintf(size, sizeof(size), "%u", workers);
	setenv("UV_THREADPOOL_SIZE", size, 1);
	uvw.req = calloc(cvq, sizeof(*uvw.req));
	if (!uvw.req || uv_loop_init(&uvw.loop)) {
		fail(B, I, "uv_loop_init");
		free(uvw.req);
		return;
	}
	atomic_store(&cb_count, 0);
	if (uv_round(warm) || atomic_load(&cb_count) != warm) {
		fail(B, I, "warm-up callbacks missing");
		goto out;
	}
	atomic_store(&cb_count, 0);
	t0 = bench_now();
	if (uv_round(n)) {
		fail(B, I, "uv_queue_work");
		goto out;
	}
	t1 = bench_now();
	if (atomic_load(&cb_count) != n)
		fail(B, I, "callback count");
	else
		bench_emit_rate(B, I, run_id, t1 - t0, n);
out:
	uv_loop_close(&uvw.loop);
	free(uvw.req);
}

static void lat_cv(const char *B, uint64_t n, uint64_t gap)
{
	const char *I = "condvar-pool";
	uint64_t warm = gap ? 5 : scaled(2000), i, *v = calloc(n, sizeof(*v));
	struct cvpool p;

	if (!v)
		return;
	if (cv_open(&p, workers)) {
		fail(B, I, "pthread_create");
		goto out;
	}
	atomic_store(&lat_seen, 0);
	for (i = 0; i < warm + n; i++) {
		uint64_t limit;

		if (gap)
			bench_sleep_ns(gap);
		atomic_store(&lat_posted_at, bench_now());
		cv_post(&p, cb_latency, NULL);
		limit = bench_now() + 10000000000ULL;
		while (atomic_load(&lat_seen) != i + 1) {
			bench_relax();
			if (bench_now() > limit) {
				fail(B, I, "callback did not run");
				goto out;
			}
		}
		if (i >= warm)
			v[i - warm] = atomic_load(&lat_value);
	}
	bench_emit_samples(B, I, run_id, v, n);
out:
	cv_close(&p);
	free(v);
}

/* ---- io_uring NOP loop ---- */

static void tput_uring(unsigned int batch)
{
	const char *B = "cb_tput";
	char I[32];
	uint64_t n = scaled(200000) / batch * batch, i, t0 = 0, t1, done = 0;
	struct io_uring ring;
	int ret, pass;

	snprintf(I, sizeof(I), "uring-nop-b%u", batch);
	ret = io_uring_queue_init(64, &ring, 0);
	if (ret) {
		fail(B, I, strerror(-ret));
		return;
	}
	atomic_store(&cb_count, 0);
	for (pass = 0; pass < 2; pass++) {
		uint64_t todo = pass ? n : n / 10 / batch * batch;

		if (pass) {
			atomic_store(&cb_count, 0);
			t0 = bench_now();
		}
		for (i = 0; i < todo; i += batch) {
			struct io_uring_cqe *cqe;
			unsigned int k, head, seen = 0;

			for (k = 0; k < batch; k++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

				io_uring_prep_nop(sqe);
				io_uring_sqe_set_data64(sqe, i + k);
			}
			ret = io_uring_submit_and_wait(&ring, batch);
			if (ret < 0) {
				fail(B, I, strerror(-ret));
				goto out;
			}
			io_uring_for_each_cqe(&ring, head, cqe) {
				if (cqe->res) {
					fail(B, I, "NOP failed");
					goto out;
				}
				cb_count_one((void *)(uintptr_t)cqe->user_data);
				seen++;
			}
			io_uring_cq_advance(&ring, seen);
			done += seen;
		}
	}
	t1 = bench_now();
	if (atomic_load(&cb_count) != n)
		fail(B, I, "callback count");
	else
		bench_emit_rate(B, I, run_id, t1 - t0, n);
out:
	(void)done;
	io_uring_queue_exit(&ring);
}

static void lat_uring(const char *B, uint64_t n, uint64_t gap)
{
	const char *I = "uring-nop-b1";
	uint64_t warm = gap ? 5 : scaled(2000), i, *v = calloc(n, sizeof(*v));
	struct io_uring ring;
	int ret;

	if (!v)
		return;
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret) {
		fail(B, I, strerror(-ret));
		free(v);
		return;
	}
	atomic_store(&lat_seen, 0);
	for (i = 0; i < warm + n; i++) {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;

		if (gap)
			bench_sleep_ns(gap);
		atomic_store(&lat_posted_at, bench_now());
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_nop(sqe);
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret >= 0)
			ret = io_uring_peek_cqe(&ring, &cqe);
		if (ret < 0 || cqe->res) {
			fail(B, I, "NOP");
			goto out;
		}
		cb_latency(NULL);
		io_uring_cqe_seen(&ring, cqe);
		if (atomic_load(&lat_seen) != i + 1) {
			fail(B, I, "callback count");
			goto out;
		}
		if (i >= warm)
			v[i - warm] = atomic_load(&lat_value);
	}
	bench_emit_samples(B, I, run_id, v, n);
out:
	io_uring_queue_exit(&ring);
	free(v);
}

/* ---- a spinning cache-line handoff between two threads ---- */

struct handoff {
	_Atomic uint64_t seq __attribute__((aligned(64)));
	_Atomic uint64_t posted_at;
	_Atomic uint64_t ack __attribute__((aligned(64)));
	_Atomic uint64_t value;
	uint64_t total;
};

static void *handoff_thread(void *arg)
{
	struct handoff *h = arg;
	uint64_t i;

	for (i = 1; i <= h->total; i++) {
		uint64_t now;

		while (atomic_load_explicit(&h->seq, memory_order_acquire) != i)
			bench_relax();
		now = bench_now();
		atomic_store(&h->value, now - atomic_load(&h->posted_at));
		atomic_store_explicit(&h->ack, i, memory_order_release);
	}
	return NULL;
}

static void lat_handoff(uint64_t n)
{
	const char *B = "cb_lat_warm", *I = "spin-handoff";
	uint64_t warm = scaled(2000), i, *v = calloc(n, sizeof(*v));
	struct handoff *h = aligned_alloc(64, sizeof(*h));
	pthread_t th;

	if (!v || !h) {
		free(v);
		free(h);
		return;
	}
	memset(h, 0, sizeof(*h));
	h->total = warm + n;
	if (pthread_create(&th, NULL, handoff_thread, h)) {
		fail(B, I, "pthread_create");
		free(v);
		free(h);
		return;
	}
	for (i = 1; i <= warm + n; i++) {
		atomic_store(&h->posted_at, bench_now());
		atomic_store_explicit(&h->seq, i, memory_order_release);
		while (atomic_load_explicit(&h->ack, memory_order_acquire) != i)
			bench_relax();
		if (i > warm)
			v[i - warm - 1] = atomic_load(&h->value);
	}
	pthread_join(th, NULL);
	bench_emit_samples(B, I, run_id, v, n);
	free(v);
	free(h);
}

/* ---- futex wake -> the sleeper returns ---- */

struct fwake {
	_Atomic uint32_t word;		/* 0 asleep, 1 woken */
	_Atomic uint64_t go;
	_Atomic uint64_t end;
	uint64_t total;
};

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void *fwake_thread(void *arg)
{
	struct fwake *f = arg;
	uint64_t i;

	for (i = 1; i <= f->total; i++) {
		while (atomic_load(&f->go) != i)
			bench_relax();
		/* as long as the tpio callback holds: the sleeper is asleep */
		bench_spin_until(bench_now() + hold_ns);
		atomic_store(&f->end, bench_now());
		atomic_store(&f->word, 1);
		futex(&f->word, FUTEX_WAKE_PRIVATE, 1);
	}
	return NULL;
}

static void drain_futex(uint64_t n)
{
	const char *B = "drain", *I = "futex-wake";
	uint64_t warm = 5, i, *v = calloc(n, sizeof(*v)), ret, end;
	struct fwake f;
	pthread_t th;
	int bad = 0;

	if (!v)
		return;
	memset(&f, 0, sizeof(f));
	f.total = warm + n;
	if (pthread_create(&th, NULL, fwake_thread, &f)) {
		fail(B, I, "pthread_create");
		free(v);
		return;
	}
	for (i = 1; i <= warm + n; i++) {
		atomic_store(&f.end, 0);
		atomic_store(&f.go, i);
		while (!atomic_load(&f.word))
			futex(&f.word, FUTEX_WAIT_PRIVATE, 0);
		ret = bench_now();
		end = atomic_load(&f.end);
		atomic_store(&f.word, 0);
		if (!end || ret < end) {
			fail(B, I, "woken before the wake");
			bad = 1;
			/* let the thread finish its remaining rounds */
			for (i++; i <= warm + n; i++) {
				atomic_store(&f.go, i);
				while (!atomic_load(&f.word))
					futex(&f.word, FUTEX_WAIT_PRIVATE, 0);
				atomic_store(&f.word, 0);
			}
			break;
		}
		if (i > warm)
			v[i - warm - 1] = ret - end;
	}
	pthread_join(th, NULL);
	if (!bad)
		bench_emit_samples(B, I, run_id, v, n);
	free(v);
}

/* ---- io_uring CQ reaping, the reference of a batch dequeue ---- */

#define CQ_FILL		256
#define CQ_BATCH	64

static void iocp_uring_cq(void)
{
	const char *B = "iocp_dequeue", *I = "uring-cq";
	uint64_t rounds = scaled(2000), r, ns = 0, t0, sum = 0;
	struct io_uring_cqe *cqes[CQ_BATCH];
	struct io_uring ring;
	unsigned int got, n, k;
	int ret = io_uring_queue_init(CQ_FILL, &ring, 0);

	if (ret) {
		fail(B, I, strerror(-ret));
		return;
	}
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < CQ_FILL; k++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, k + 1);
		}
		ret = io_uring_submit_and_wait(&ring, CQ_FILL);
		if (ret < 0) {
			fail(B, I, strerror(-ret));
			break;
		}
		/* what is timed: taking the completed entries out */
		t0 = bench_now();
		for (got = 0; got < CQ_FILL; got += n) {
			n = io_uring_peek_batch_cqe(&ring, cqes, CQ_BATCH);
			for (k = 0; k < n; k++)
				sum += io_uring_cqe_get_data64(cqes[k]);
			io_uring_cq_advance(&ring, n);
			if (!n) {
				fail(B, I, "CQEs missing");
				goto out;
			}
		}
		ns += bench_now() - t0;
	}
	if (sum != rounds * CQ_FILL * (CQ_FILL + 1) / 2)
		fail(B, I, "CQE data");
	else
		bench_emit_rate(B, I, run_id, ns, rounds * CQ_FILL);
out:
	io_uring_queue_exit(&ring);
}

int main(int argc, char **argv)
{
	int opt, i;

	while ((opt = getopt(argc, argv, "r:w:f:g:H:c:W:")) != -1) {
		switch (opt) {
		case 'r': run_id = (int)bench_arg_long(optarg, "-r"); break;
		case 'w': workers = (unsigned int)bench_arg_long(optarg, "-w"); break;
		case 'f': factor = bench_arg_long(optarg, "-f"); break;
		case 'g': gap_ns = (uint64_t)bench_arg_long(optarg, "-g") * 1000; break;
		case 'c': cold_n = (uint64_t)bench_arg_long(optarg, "-c"); break;
		case 'W': cvq = (uint32_t)bench_arg_long(optarg, "-W"); break;
		case 'H': hold_ns = (uint64_t)bench_arg_long(optarg, "-H") * 1000; break;
		default:
			fprintf(stderr, "usage: %s [-r RUN] [-w WORKERS] [-f PERCENT] [-g GAP_US] [-H HOLD_US] [-c COLD_N] [-W QUEUE] TEST...\n",
				argv[0]);
			return 2;
		}
	}
	if (optind >= argc || !workers || !factor || !cvq) {
		fprintf(stderr, "%s: tests: tput lat-warm lat-cold drain iocp work\n",
			argv[0]);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		const char *t = argv[i];

		if (!strcmp(t, "tput")) {
			tput_cv();
			tput_uring(1);
			tput_uring(32);
		} else if (!strcmp(t, "lat-warm")) {
			lat_cv("cb_lat_warm", scaled(20000), 0);
			lat_uring("cb_lat_warm", scaled(20000), 0);
			lat_handoff(scaled(20000));
		} else if (!strcmp(t, "lat-cold")) {
			lat_cv("cb_lat_cold", cold_n, gap_ns);
			lat_uring("cb_lat_cold", cold_n, gap_ns);
		} else if (!strcmp(t, "drain")) {
			drain_futex(cold_n);
		} else if (!strcmp(t, "iocp")) {
			iocp_uring_cq();
		} else if (!strcmp(t, "work")) {
			work_cv();
			work_uv();
		} else {
			fprintf(stderr, "%s: unknown test %s\n", argv[0], t);
			return 2;
		}
	}
	return failed;
}
