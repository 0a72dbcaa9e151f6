// SPDX-License-Identifier: MIT
/*
 * order: the order and concurrency of callbacks, priorities, pool sizes.
 * Documentation/contract.rst, scenarios 25-27.
 */
#include "harness.h"

/* The callbacks of several objects append here, in the order they start. */
static struct {
	char seq[256];
	atomic_int n;
} log_;

static void log_append(char ch)
{
	int i = atomic_fetch_add(&log_.n, 1);

	if (i < (int)sizeof(log_.seq) - 1)
		log_.seq[i] = ch;
}

static void log_reset(void)
{
	memset(log_.seq, 0, sizeof(log_.seq));
	atomic_store(&log_.n, 0);
}

/* Context arg is the letter of the object; the blocker holds the worker. */
static void letter_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	(void)idx;
	if (c->arg)
		log_append(*(const char *)c->arg);
	else
		WaitForSingleObject(c->release, LONG_MS);
}

static void ov_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	(void)inst;
	if (idx == 0)
		WaitForSingleObject(c->release, LONG_MS);
	else
		log_append('0' + ov_index(c, c->recs[idx].ov));
}

/* One worker busy; ov2 and ov3 queue behind it. */
static void s25a(void)
{
	struct cbctx *c = fixture_new(1, 0, ov_hook, NULL);

	log_reset();
	fixture_bind(c);
	/* one read pending at a time: the transcript names the OVERLAPPEDs */
	start_read(c, 1);
	StartThreadpoolIo(c->io);
	StartThreadpoolIo(c->io);
	complete(c, 1);
	WaitForSingleObject(c->entered, LONG_MS);
	issue_read(c, 2);
	complete(c, 2);
	issue_read(c, 3);
	complete(c, 3);
	Sleep(SHORT_MS);
	SetEvent(c->release);
	wait_done(c, 3);
	say("s25a", "one object, queued behind a busy worker: order=ov%c,ov%c",
	    log_.seq[0], log_.seq[1]);
	CloseThreadpoolIo(c->io);
	fixture_free(c);
}

/* A blocker holds the single worker while objects queue completions. */
static struct cbctx *blocker_start(PTP_POOL pool)
{
	struct cbctx *b = fixture_on(pool, letter_hook, NULL);

	fixture_bind(b);
	start_read(b, 1);
	complete(b, 1);
	WaitForSingleObject(b->entered, LONG_MS);
	return b;
}

static void blocker_end(struct cbctx *b)
{
	SetEvent(b->release);
	wait_done(b, 1);
	CloseThreadpoolIo(b->io);
	fixture_free(b);
}

static void queue_n(struct cbctx *c, int n)
{
	int k;

	for (k = 1; k <= n; k++)
		start_read(c, k);
	for (k = 1; k <= n; k++)
		complete(c, k);
}

static void s25b(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	struct cbctx *b, *x, *y;

	if (!pool)
		die("CreateThreadpool");
	SetThreadpoolThreadMaximum(pool, 1);
	log_reset();
	b = blocker_start(pool);
	x = fixture_on(pool, letter_hook, "A");
	y = fixture_on(pool, letter_hook, "B");
	fixture_bind(x);
	fixture_bind(y);
	queue_n(x, 10);
	queue_n(y, 10);
	Sleep(SHORT_MS);
	blocker_end(b);
	wait_done(x, 10);
	wait_done(y, 10);
	say("s25b", "two objects, 10 queued each, one worker: order=%s", log_.seq);
	CloseThreadpoolIo(x->io);
	CloseThreadpoolIo(y->io);
	fixture_free(x);
	fixture_free(y);
	CloseThreadpool(pool);
}

static void s25c(void)
{
	PTP_POOL pool = CreateThreadpool(NULL);
	struct cbctx *b, *lo, *no, *hi;

	if (!pool)
		die("CreateThreadpool");
	SetThreadpoolThreadMaximum(pool, 1);
	log_reset();
	b = blocker_start(pool);
	lo = fixture_on(pool, letter_hook, "L");
	no = fixture_on(pool, letter_hook, "N");
	hi = fixture_on(pool, letter_hook, "H");
	SetThreadpoolCallbackPriority(&lo->env, TP_CALLBACK_PRIORITY_LOW);
	SetThreadpoolCallbackPriority(&no->env, TP_CALLBACK_PRIORITY_NORMAL);
	SetThreadpoolCallbackPriority(&hi->env, TP_CALLBACK_PRIORITY_HIGH);
	fixture_bind(lo);
	fixture_bind(no);
	fixture_bind(hi);
	queue_n(lo, 1);
	queue_n(no, 1);
	queue_n(hi, 1);
	Sleep(SHORT_MS);
	blocker_end(b);
	wait_done(lo, 1);
	wait_done(no, 1);
	wait_done(hi, 1);
	say("s25c", "LOW, NORMAL, HIGH queued in that order, one worker: order=%s",
	    log_.seq);
	CloseThreadpoolIo(lo->io);
	CloseThreadpoolIo(no->io);
	CloseThreadpoolIo(hi->io);
	fixture_free(lo);
	fixture_free(no);
	fixture_free(hi);
	CloseThreadpool(pool);
}

/* Each callback waits until @want callbacks run at the same time. */
static atomic_int together;
static atomic_int saw_all;

static void together_hook(struct cbctx *c, PTP_CALLBACK_INSTANCE inst, int idx)
{
	int want = *(const int *)c->arg, t;

	(void)inst;
	(void)idx;
	atomic_fetch_add(&together, 1);
	for (t = 0; t < LONG_MS / 5 && atomic_load(&together) < want; t++)
		Sleep(5);
	if (atomic_load(&together) >= want)
		atomic_fetch_add(&saw_all, 1);
}

static void concurrent(const char *scen, struct cbctx *c, int n)
{
	atomic_store(&together, 0);
	atomic_store(&saw_all, 0);
	fixture_bind(c);
	queue_n(c, n);
	wait_done(c, n);
	say(scen, "%d queued completions ran concurrently=%s", n,
	    yesno(atomic_load(&saw_all) == n));
	CloseThreadpoolIo(c->io);
}

static void s26(void)
{
	static const int two = 2;
	struct cbctx *c = fixture_new(2, 2, together_hook, (void *)&two);

	concurrent("s26", c, 2);
	fixture_free(c);
}

static void s27(void)
{
	static const int four = 4;
	PTP_POOL pool = CreateThreadpool(NULL);
	struct cbctx *c;
	int before, added;
	BOOL ok;

	if (!pool)
		die("CreateThreadpool");
	SetThreadpoolThreadMaximum(pool, 1);
	before = port_pool_threads(pool, -1);
	ok = SetThreadpoolThreadMinimum(pool, 4);
	added = port_pool_threads(pool, before);
	say("s27", "SetThreadpoolThreadMinimum(4)=%s, 4 more threads when it returned=%s",
	    ok ? "TRUE" : "FALSE", yesno(added >= 4));
	c = fixture_on(pool, together_hook, (void *)&four);
	concurrent("s27", c, 4);
	fixture_free(c);
	CloseThreadpool(pool);
}

int main(void)
{
	port_init();
	s27();	/* first: no other pool's threads come or go meanwhile */
	s25a();
	s25b();
	s25c();
	s26();
	return port_finish();
}
