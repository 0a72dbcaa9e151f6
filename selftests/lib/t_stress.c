// SPDX-License-Identifier: MIT
/*
 * Documentation/contract.rst, scenario 32: several owner threads drive
 * several objects each with random Start / Cancel / completion / Wait(F) /
 * Wait(T) / Close, from a fixed seed, for a bounded number of operations and
 * time.
 *
 * Each owner thread is the only one to touch its objects' pending and
 * skipped counts (Start, Cancel, post, Wait(T)), so it keeps an exact model
 * of them and knows what the arrival rule must do with every completion it
 * posts: queue it (a callback may run: once, unless a later Wait(T) drops
 * it), swallow it (skipped) or drop it. Every completion carries a token
 * (its OVERLAPPED); the callback checks the token:
 *   - it belongs to this object and was expected to queue;
 *   - it runs at most once;
 *   - no Wait(T) returned between its post and the callback's start.
 * After Wait(F) every queued token posted since the last Wait(T) has run;
 * at the end every token that did not run was dropped by a later Wait(T),
 * so every Start is matched by exactly one callback, Cancel or skip.
 * Nothing may leak: tpio_io_count() returns to 0 (and LSan in the ASan build).
 * Included by scenarios.c.
 */

#define ST_THREADS	3
#define ST_SLOTS	3		/* objects alive per thread at a time */
#define ST_OPS		1500		/* operations per thread */
#define ST_MAX_PENDING	6
#define ST_MAX_OBJS	72		/* objects created per thread */
#define ST_SEED		0x7470696fU
#define ST_TIME_MS	8000		/* stop early when slow (emulated VM) */

struct st_token {
	OVERLAPPED ov;		/* first: the completion value is the token */
	int obj;		/* object id within the thread */
	unsigned int gen;	/* the object's Wait(T) count at post time */
	int expect;		/* 1: queued by the arrival rule */
	atomic_int runs;
};

/* Outlives its TP_IO: callbacks of a closed object still find it. */
struct st_obj {
	int id;
	struct st_thread *owner;
	atomic_uint gen_done;	/* Wait(T) calls that have returned */
};

struct st_slot {
	PTP_IO io;
	struct st_obj *obj;
	int pfd[2];
	unsigned int pending, skipped, gen;	/* the model */
};

struct st_thread {
	int index;
	PTP_CALLBACK_ENVIRON env;
	uint32_t rng;
	struct st_slot slot[ST_SLOTS];
	struct st_obj objs[ST_MAX_OBJS];
	int nobjs;
	/* random posts, plus one per start or skip resolved at close */
	struct st_token tokens[2 * ST_OPS];
	int ntokens;
	/* results */
	atomic_int bad;		/* callback-side violations */
	int model_bad;		/* owner-side violations */
	unsigned int starts, cancels, queued, swallowed, dropped, skips;
	int ops;
};

static uint32_t st_rand(struct st_thread *t)
{
	/* xorshift32: fixed seed, reproducible per thread */
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 17;
	t->rng ^= t->rng << 5;
	return t->rng;
}

static VOID CALLBACK st_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	struct st_obj *obj = ctx;
	struct st_token *tok = ov;
	struct st_thread *t = obj->owner;

	(void)io;
	if (!inst || tok->obj != obj->id || !tok->expect || result != 0 ||
	    bytes != (ULONG_PTR)(tok - t->tokens))
		atomic_fetch_add(&t->bad, 1);
	else if (tok->gen < atomic_load(&obj->gen_done))
		atomic_fetch_add(&t->bad, 1);
	if (atomic_fetch_add(&tok->runs, 1))
		atomic_fetch_add(&t->bad, 1);
}

static int st_open(struct st_thread *t, struct st_slot *s)
{
	struct st_obj *obj;

	if (t->nobjs == ST_MAX_OBJS)
		return 0;
	obj = &t->objs[t->nobjs];
	obj->id = t->nobjs++;
	obj->owner = t;
	s->io = CreateThreadpoolIo(tpio_handle_from_fd(s->pfd[0]), st_cb, obj,
				   t->env);
	if (!s->io) {
		t->model_bad++;
		return 0;
	}
	s->obj = obj;
	s->pending = s->skipped = s->gen = 0;
	return 1;
}

static void st_post(struct st_thread *t, struct st_slot *s)
{
	struct st_token *tok = &t->tokens[t->ntokens];

	tok->obj = s->obj->id;
	tok->gen = s->gen;
	if (s->pending) {
		s->pending--;
		tok->expect = 1;
		t->queued++;
	} else if (s->skipped) {
		s->skipped--;
		t->swallowed++;
	} else {
		t->dropped++;
	}
	if (!tpio_post_completion(s->io, &tok->ov, 0, t->ntokens))
		t->model_bad++;
	t->ntokens++;
}

/* After Wait(F): every queued token of the current generation has run once. */
static void st_check_drained(struct st_thread *t, struct st_slot *s)
{
	int i;

	for (i = 0; i < t->ntokens; i++) {
		struct st_token *tok = &t->tokens[i];

		if (tok->obj == s->obj->id && tok->expect &&
		    tok->gen == s->gen && atomic_load(&tok->runs) != 1)
			t->model_bad++;
	}
}

static void st_wait_cancel(struct st_slot *s, struct st_thread *t)
{
	WaitForThreadpoolIoCallbacks(s->io, TRUE);
	t->skips += s->pending;
	s->skipped += s->pending;
	s->pending = 0;
	s->gen++;
	atomic_store(&s->obj->gen_done, s->gen);
}

/* Resolve everything outstanding, then close (queued callbacks may still run). */
static void st_close(struct st_thread *t, struct st_slot *s)
{
	while (s->pending || s->skipped)
		st_post(t, s);
	CloseThreadpoolIo(s->io);
	s->io = NULL;
}

static void st_step(struct st_thread *t)
{
	struct st_slot *s = &t->slot[st_rand(t) % ST_SLOTS];
	uint32_t op = st_rand(t) % 100;

	if (!s->io)
		return;
	if (op < 35) {
		if (s->pending < ST_MAX_PENDING) {
			StartThreadpoolIo(s->io);
			s->pending++;
			t->starts++;
		}
	} else if (op < 45) {
		/* with nothing pending this is the [T] no-op of scenario 29 */
		CancelThreadpoolIo(s->io);
		if (s->pending) {
			s->pending--;
			t->cancels++;
		}
	} else if (op < 80) {
		if (t->ntokens < ST_OPS)
			st_post(t, s);
	} else if (op < 88) {
		st_wait_cancel(s, t);
	} else if (op < 98) {
		if (!s->pending) {
			WaitForThreadpoolIoCallbacks(s->io, FALSE);
			st_check_drained(t, s);
		}
	} else {
		st_close(t, s);
		st_open(t, s);
	}
}

static void st_thread_main(void *arg)
{
	struct st_thread *t = arg;
	int64_t end = now_ms() + ST_TIME_MS;
	int i;

	t->rng = ST_SEED + t->index;
	for (i = 0; i < ST_SLOTS; i++)
		if (!st_open(t, &t->slot[i]))
			return;
	for (t->ops = 0; t->ops < ST_OPS && now_ms() < end; t->ops++)
		st_step(t);
	for (i = 0; i < ST_SLOTS; i++) {
		struct st_slot *s = &t->slot[i];

		if (!s->io)
			continue;
		while (s->pending) {
			CancelThreadpoolIo(s->io);
			s->pending--;
			t->cancels++;
		}
		WaitForThreadpoolIoCallbacks(s->io, FALSE);
		st_check_drained(t, s);
		st_close(t, s);
	}
}

/* Every token that did not run was dropped by a Wait(T) after its post. */
static void st_check_tokens(struct st_thread *t)
{
	int i;

	for (i = 0; i < t->ntokens; i++) {
		struct st_token *tok = &t->tokens[i];
		int runs = atomic_load(&tok->runs);

		if (runs > 1 || (runs && !tok->expect))
			t->model_bad++;
		else if (tok->expect && !runs &&
			 tok->gen >= atomic_load(&t->objs[tok->obj].gen_done))
			t->model_bad++;
	}
}

TEST_F_TIMEOUT(tp, s32_random_operations, 120)
{
	static struct st_thread th[ST_THREADS];
	struct bg w[ST_THREADS];
	int i, j, ran = 0, expected = 0;

	ASSERT_EQ(TRUE, SetThreadpoolThreadMinimum(self->pool, 2));
	SetThreadpoolThreadMaximum(self->pool, 4);
	for (i = 0; i < ST_THREADS; i++) {
		th[i].index = i;
		th[i].env = &self->env;
		for (j = 0; j < ST_SLOTS; j++)
			ASSERT_EQ(0, pipe(th[i].slot[j].pfd));
	}
	for (i = 0; i < ST_THREADS; i++)
		ASSERT_TRUE(bg_start(&w[i], st_thread_main, &th[i]));
	for (i = 0; i < ST_THREADS; i++)
		ASSERT_EQ(0, bg_join(&w[i], ST_TIME_MS + 60000));
	ASSERT_TRUE(wait_io_count(0, RELEASED_MS));

	for (i = 0; i < ST_THREADS; i++) {
		struct st_thread *t = &th[i];

		st_check_tokens(t);
		for (j = 0; j < t->ntokens; j++) {
			ran += atomic_load(&t->tokens[j].runs);
			expected += t->tokens[j].expect;
		}
		TH_LOG("thread %d: %d ops, %u starts, %u cancels, %u queued, %u skipped, %u swallowed, %u dropped, %d objects",
		       i, t->ops, t->starts, t->cancels, t->queued, t->skips,
		       t->swallowed, t->dropped, t->nobjs);
		EXPECT_EQ(0, atomic_load(&t->bad));
		EXPECT_EQ(0, t->model_bad);
		/* the model's own books: each start ended one way */
		EXPECT_EQ(t->starts, t->cancels + t->queued + t->skips);
		EXPECT_EQ(t->skips, t->swallowed);
		EXPECT_LT(0U, t->skips);
		EXPECT_LT(0U, t->swallowed);
		for (j = 0; j < ST_SLOTS; j++) {
			close(t->slot[j].pfd[0]);
			close(t->slot[j].pfd[1]);
		}
	}
	TH_LOG("%d of %d queued completions ran a callback", ran, expected);
	EXPECT_LT(0, ran);
	EXPECT_GE(expected, ran);
}
