// SPDX-License-Identifier: MIT
/*
 * Critical sections (a recursive futex lock in the CRITICAL_SECTION
 * layout of tpio.h), Sleep and GetCurrentThreadId.
 *
 * LockCount: 0 free, 1 locked, 2 locked and a thread may sleep on it (the
 * unlocker then wakes one). OwningThread and RecursionCount are written
 * only by the owner; other threads read OwningThread only to learn that
 * they are not the owner.
 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "api.h"

/* ---- critical sections: a recursive futex lock ---- */

#define CS_MAGIC	((HANDLE)(uintptr_t)0x43524954UL)

static long futex(LONG *addr, int op, LONG val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

VOID InitializeCriticalSection(LPCRITICAL_SECTION cs)
{
	InitializeCriticalSectionAndSpinCount(cs, 0);
}

BOOL InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION cs,
					   DWORD dwSpinCount)
{
	if (!cs) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	memset(cs, 0, sizeof(*cs));
	cs->SpinCount = dwSpinCount;
	cs->LockSemaphore = CS_MAGIC;
	return TRUE;
}

static DWORD cs_owner(LPCRITICAL_SECTION cs)
{
	return (DWORD)(uintptr_t)__atomic_load_n(&cs->OwningThread,
						 __ATOMIC_RELAXED);
}

BOOL TryEnterCriticalSection(LPCRITICAL_SECTION cs)
{
	DWORD me = GetCurrentThreadId();
	LONG zero = 0;

	if (cs_owner(cs) == me) {
		cs->RecursionCount++;
		return TRUE;
	}
	if (!__atomic_compare_exchange_n(&cs->LockCount, &zero, 1, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return FALSE;
	__atomic_store_n(&cs->OwningThread, (HANDLE)(uintptr_t)me,
			 __ATOMIC_RELAXED);
	cs->RecursionCount = 1;
	return TRUE;
}

VOID EnterCriticalSection(LPCRITICAL_SECTION cs)
{
	DWORD me = GetCurrentThreadId();
	ULONG_PTR spin = cs->SpinCount;
	LONG c = 0;

	if (cs_owner(cs) == me) {
		cs->RecursionCount++;
		return;
	}
	while (spin--) {
		c = 0;
		if (__atomic_compare_exchange_n(&cs->LockCount, &c, 1, 0,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			goto owned;
		tpio_cpu_relax();
	}
	c = 0;
	if (!__atomic_compare_exchange_n(&cs->LockCount, &c, 1, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		/* 2: locked with possible sleepers; the unlocker wakes one */
		if (c != 2)
			c = __atomic_exchange_n(&cs->LockCount, 2,
						__ATOMIC_ACQUIRE);
		while (c) {
			futex(&cs->LockCount, FUTEX_WAIT_PRIVATE, 2);
			c = __atomic_exchange_n(&cs->LockCount, 2,
						__ATOMIC_ACQUIRE);
		}
	}
owned:
	__atomic_store_n(&cs->OwningThread, (HANDLE)(uintptr_t)me,
			 __ATOMIC_RELAXED);
	cs->RecursionCount = 1;
}

VOID LeaveCriticalSection(LPCRITICAL_SECTION cs)
{
	if (cs_owner(cs) != GetCurrentThreadId()) {
		tpio_diag("LeaveCriticalSection(%p): not the owner", (void *)cs);
		return;
	}
	if (--cs->RecursionCount > 0)
		return;
	__atomic_store_n(&cs->OwningThread, NULL, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&cs->LockCount, 0, __ATOMIC_RELEASE) == 2)
		futex(&cs->LockCount, FUTEX_WAKE_PRIVATE, 1);
}

VOID DeleteCriticalSection(LPCRITICAL_SECTION cs)
{
	if (cs)
		memset(cs, 0, sizeof(*cs));
}

/* ---- threads and time ---- */

VOID Sleep(DWORD dwMilliseconds)
{
	struct timespec ts = {
		.tv_sec = dwMilliseconds / 1000,
		.tv_nsec = (long)(dwMilliseconds % 1000) * 1000000L,
	};

	if (dwMilliseconds == INFINITE) {
		for (;;)
			pause();
	}
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

DWORD GetCurrentThreadId(void)
{
	static __thread DWORD tid;

	if (!tid)
		tid = (DWORD)syscall(SYS_gettid);
	return tid;
}
