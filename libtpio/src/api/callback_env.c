// SPDX-License-Identifier: MIT
/*
 * Callback environments and cleanup groups.
 *
 * A group's member list is protected by group->mu. During a release the
 * releaser holds each member (g_hold); a member that becomes free meanwhile
 * (it closed itself) is not freed by that thread but marked
 * g_free_deferred, and the releaser frees it when it lets go. So a member
 * stays readable for the whole release.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"

#define GROUP_MAGIC	0x50524743U

VOID InitializeThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe)
{
	if (!pcbe)
		return;
	memset(pcbe, 0, sizeof(*pcbe));
	pcbe->Version = 3;
	pcbe->CallbackPriority = TP_CALLBACK_PRIORITY_NORMAL;
	pcbe->Size = sizeof(*pcbe);
}

VOID DestroyThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe)
{
	(void)pcbe;
}

VOID SetThreadpoolCallbackPool(PTP_CALLBACK_ENVIRON pcbe, PTP_POOL ptpp)
{
	if (pcbe)
		pcbe->Pool = ptpp;
}

VOID SetThreadpoolCallbackCleanupGroup(PTP_CALLBACK_ENVIRON pcbe,
				       PTP_CLEANUP_GROUP ptpcg,
				       PTP_CLEANUP_GROUP_CANCEL_CALLBACK pfng)
{
	if (!pcbe)
		return;
	pcbe->CleanupGroup = ptpcg;
	pcbe->CleanupGroupCancelCallback = pfng;
}

VOID SetThreadpoolCallbackRunsLong(PTP_CALLBACK_ENVIRON pcbe)
{
	if (pcbe)
		pcbe->u.s.LongFunction = 1;
}

VOID SetThreadpoolCallbackPriority(PTP_CALLBACK_ENVIRON pcbe,
				   TP_CALLBACK_PRIORITY Priority)
{
	if (pcbe)
		pcbe->CallbackPriority = Priority;
}

VOID SetThreadpoolCallbackPersistent(PTP_CALLBACK_ENVIRON pcbe)
{
	if (pcbe)
		pcbe->u.s.Persistent = 1;
}

VOID SetThreadpoolCallbackLibrary(PTP_CALLBACK_ENVIRON pcbe, PVOID mod)
{
	if (pcbe)
		pcbe->RaceDll = mod;
	tpio_warn("SetThreadpoolCallbackLibrary is not implemented; objects created with this environment fail with ERROR_CALL_NOT_IMPLEMENTED");
	SetLastError(ERROR_CALL_NOT_IMPLEMENTED);
}

/* ---- cleanup groups ---- */

int tpio_group_valid(PTP_CLEANUP_GROUP g)
{
	return g && g->magic == GROUP_MAGIC;
}

PTP_CLEANUP_GROUP CreateThreadpoolCleanupGroup(void)
{
	struct _TP_CLEANUP_GROUP *g = calloc(1, sizeof(*g));

	if (!g) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	pthread_mutex_init(&g->mu, NULL);
	tpio_list_init(&g->members);
	g->magic = GROUP_MAGIC;
	return g;
}

/*
 * The engine's free path calls it (io->group_remove): 1 to free now, 0
 * when a release holds the member.
 */
static int group_remove(struct _TP_IO *io)
{
	struct _TP_CLEANUP_GROUP *g = io->group;

	pthread_mutex_lock(&g->mu);
	if (io->g_hold) {
		io->g_free_deferred = 1;
		pthread_mutex_unlock(&g->mu);
		return 0;
	}
	tpio_list_del(&io->g_link);
	io->group = NULL;
	pthread_mutex_unlock(&g->mu);
	return 1;
}

int tpio_group_add(PTP_CLEANUP_GROUP g, struct _TP_IO *io)
{
	pthread_mutex_lock(&g->mu);
	io->group = g;
	io->group_remove = group_remove;
	tpio_list_push(&g->members, &io->g_link);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

VOID CloseThreadpoolCleanupGroupMembers(PTP_CLEANUP_GROUP ptpcg,
					BOOL fCancelPendingCallbacks,
					PVOID pvCleanupContext)
{
	struct _TP_IO **held = NULL, *io;
	size_t n = 0, i;

	if (!tpio_group_valid(ptpcg)) {
		tpio_diag("CloseThreadpoolCleanupGroupMembers(%p): not a cleanup group",
			  (void *)ptpcg);
		return;
	}
	pthread_mutex_lock(&ptpcg->mu);
	tpio_list_for_each(io, &ptpcg->members, g_link)
		n++;
	if (n)
		held = malloc(n * sizeof(*held));
	if (n && !held) {
		pthread_mutex_unlock(&ptpcg->mu);
		tpio_warn("CloseThreadpoolCleanupGroupMembers: out of memory");
		return;
	}
	n = 0;
	tpio_list_for_each(io, &ptpcg->members, g_link) {
		if (io->g_hold)
			continue;	/* another release has it */
		io->g_hold = 1;
		held[n++] = io;
	}
	pthread_mutex_unlock(&ptpcg->mu);

	/* timers and waits first stop queueing callbacks */
	for (i = 0; i < n; i++)
		if (held[i]->shutdown && !atomic_load(&held[i]->closing))
			held[i]->shutdown(held[i]);

	/*
	 * With cancel: first drop every member's queued callbacks and skip
	 * its pending I/O (timeout 0: cancel, do not wait), so that no
	 * member's callbacks start while the release waits for another one.
	 */
	for (i = 0; fCancelPendingCallbacks && i < n; i++) {
		struct tpio_port *port = &held[i]->pool->port;
		int ret;

		do {
			ret = port->t->drain(port, held[i]->handle,
					     TPIO_DRAIN_CANCEL | TPIO_DRAIN_GROUP, 0);
		} while (ret == -EAGAIN || ret == -EINTR);
	}
	/* then wait until each member is group-drained */
	for (i = 0; i < n; i++)
		tpio_drain(held[i], TPIO_DRAIN_GROUP);

	for (i = 0; i < n; i++) {
		int deferred;

		io = held[i];
		/*
		 * A member that closed itself gets no cancel callback; the
		 * object of a TrySubmitThreadpoolCallback, closed by the
		 * library and not by its user, gets one (as on Windows).
		 */
		if (fCancelPendingCallbacks && io->cancel_cb &&
		    (!atomic_load(&io->closing) || io->kind == TPIO_OBJ_SIMPLE))
			io->cancel_cb(io->ctx, pvCleanupContext);
		if (!atomic_load(&io->closing))
			tpio_io_close_internal(io, 1);
		else
			tpio_io_try_free(io, atomic_load(&io->inc));
		pthread_mutex_lock(&ptpcg->mu);
		io->g_hold = 0;
		deferred = io->g_free_deferred;
		if (deferred) {
			tpio_list_del(&io->g_link);
			io->group = NULL;
		}
		pthread_mutex_unlock(&ptpcg->mu);
		if (deferred)
			tpio_io_release(io);
	}
	free(held);
}

VOID CloseThreadpoolCleanupGroup(PTP_CLEANUP_GROUP ptpcg)
{
	if (!tpio_group_valid(ptpcg)) {
		tpio_diag("CloseThreadpoolCleanupGroup(%p): not a cleanup group",
			  (void *)ptpcg);
		return;
	}
	if (!tpio_list_empty(&ptpcg->members))
		CloseThreadpoolCleanupGroupMembers(ptpcg, FALSE, NULL);
	if (!tpio_list_empty(&ptpcg->members)) {
		/* members still waiting for their callbacks: keep the group */
		tpio_warn("CloseThreadpoolCleanupGroup(%p): members still alive; group not freed",
			  (void *)ptpcg);
		return;
	}
	ptpcg->magic = 0;
	pthread_mutex_destroy(&ptpcg->mu);
	free(ptpcg);
}
