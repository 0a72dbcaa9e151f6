/* SPDX-License-Identifier: MIT */
/*
 * group.h: the cleanup-group fixture shared by group.c and groupwait.c: a
 * group with a cancel callback that records its arguments, and
 * CloseThreadpoolCleanupGroupMembers on a helper thread.
 */
#ifndef CONFORMANCE_GROUP_H
#define CONFORMANCE_GROUP_H

#include "harness.h"

static char cleanup_token;	/* its address is the CleanupContext */

static struct {
	atomic_int calls;
	PVOID obj_ctx;
	PVOID cleanup_ctx;
	DWORD tid;
} gcancel;

static VOID CALLBACK group_cancel(PVOID obj_ctx, PVOID cleanup_ctx)
{
	atomic_fetch_add(&gcancel.calls, 1);
	gcancel.obj_ctx = obj_ctx;
	gcancel.cleanup_ctx = cleanup_ctx;
	gcancel.tid = GetCurrentThreadId();
}

struct closer {
	PTP_CLEANUP_GROUP g;
	BOOL cancel;
	DWORD tid;
};

static void closer_main(void *p)
{
	struct closer *cl = p;

	cl->tid = GetCurrentThreadId();
	CloseThreadpoolCleanupGroupMembers(cl->g, cl->cancel, &cleanup_token);
}

static PTP_CLEANUP_GROUP group_fixture(struct cbctx *c)
{
	PTP_CLEANUP_GROUP g = CreateThreadpoolCleanupGroup();

	if (!g)
		die("CreateThreadpoolCleanupGroup");
	SetThreadpoolCallbackCleanupGroup(&c->env, g, group_cancel);
	fixture_bind(c);
	memset(&gcancel, 0, sizeof(gcancel));
	return g;
}

static void print_gcancel(const char *scen, struct cbctx *c,
			  struct closer *cl)
{
	int n = atomic_load(&gcancel.calls);

	say(scen, "cancel callbacks=%d", n);
	if (n)
		say(scen, "cancel callback ObjectContext==pv=%s CleanupContext==ctx=%s on the closing thread=%s",
		    yesno(gcancel.obj_ctx == c),
		    yesno(gcancel.cleanup_ctx == &cleanup_token),
		    yesno(gcancel.tid == cl->tid));
}

#endif /* CONFORMANCE_GROUP_H */
