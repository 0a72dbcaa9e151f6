/* SPDX-License-Identifier: MIT */
/*
 * libtpio: the Windows thread-pool I/O API (TP_IO) on Linux.
 *
 * This header is the library's documentation: every function is described
 * once, next to its declaration. Names, types and signatures are Win32's,
 * so that Windows TP_IO code compiles with few changes. Where tpio decides
 * something Windows leaves open, the comment says "[T]";
 * Documentation/libtpio.rst collects those decisions and lists what is
 * missing.
 *
 * Errors: functions that report errors return FALSE/NULL/a WAIT_ code and
 * set the thread's last error (GetLastError). VOID functions cannot report
 * errors: on bad input (NULL or closed object, wrong thread) they do
 * nothing and print a diagnostic on stderr when TPIO_DEBUG=1 is set in the
 * environment.
 *
 * Backends: TPIO_BACKEND=auto|kmod|user (default auto: the kernel module
 * through /dev/tpio when it opens, otherwise the in-process "user"
 * transport). Both give the same semantics.
 *
 * Handles: a HANDLE is either a synchronisation object made by this library
 * (event, semaphore, mutex), or a wrapped file descriptor
 * (tpio_handle_from_fd). File descriptor handles are odd tagged values,
 * ((fd << 2) | 1); object handles are even tagged values; neither is NULL
 * nor INVALID_HANDLE_VALUE ((HANDLE)-1, which stands for fd -1).
 */
#ifndef TPIO_H
#define TPIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TPIO_API __attribute__((visibility("default")))

/*
 * Exported names: the library exports no Win32 name. Each Win32 function is
 * declared here under its Win32 name with the assembler name "tpio_<Name>"
 * (TPIO_ASMNAME), so that a program writes ReadFile and links to the library's
 * tpio_ReadFile, while another library of the same process may still define
 * its own ReadFile, Sleep or CloseHandle. The library's own definitions see
 * these declarations and get the same names. Every export carries the
 * symbol version TPIO_0.1 (Documentation/libtpio.rst, "Exported names").
 */
#define TPIO_STR_(x) #x
#define TPIO_STR(x) TPIO_STR_(x)
#define TPIO_ASMNAME(n) __asm__(TPIO_STR(__USER_LABEL_PREFIX__) "tpio_" #n)

/* Win32 base types, with Windows' widths (DWORD, ULONG and LONG are 32-bit) */
typedef int BOOL;
typedef uint8_t BYTE;
typedef uint8_t UCHAR;
typedef uint16_t WORD;
typedef uint16_t WCHAR;			/* UTF-16 code unit, as on Windows */
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uintptr_t ULONG_PTR;
typedef ULONG_PTR *PULONG_PTR;
typedef ULONG *PULONG;
typedef uintptr_t DWORD_PTR;
typedef intptr_t LONG_PTR;
typedef void VOID;
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef HANDLE HMODULE;
typedef DWORD *LPDWORD;
typedef LONG *LPLONG;
typedef BOOL *PBOOL;
typedef const char *LPCSTR;
typedef const WCHAR *LPCWSTR;

#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef WINAPI
#define WINAPI
#endif

#ifndef TRUE
#define TRUE	1
#endif
#ifndef FALSE
#define FALSE	0
#endif

#define INVALID_HANDLE_VALUE	((HANDLE)(LONG_PTR)-1)

/* Win32 error codes (GetLastError; IoResult of an I/O callback) */
#define ERROR_SUCCESS			0
#define NO_ERROR			0
#define ERROR_INVALID_FUNCTION		1
#define ERROR_FILE_NOT_FOUND		2
#define ERROR_PATH_NOT_FOUND		3
#define ERROR_TOO_MANY_OPEN_FILES	4
#define ERROR_ACCESS_DENIED		5
#define ERROR_INVALID_HANDLE		6
#define ERROR_NOT_ENOUGH_MEMORY		8
#define ERROR_OUTOFMEMORY		14
#define ERROR_WRITE_PROTECT		19
#define ERROR_SEEK			25
#define ERROR_HANDLE_EOF		38
#define ERROR_NOT_SUPPORTED		50
#define ERROR_NETNAME_DELETED		64
#define ERROR_FILE_EXISTS		80
#define ERROR_INVALID_PARAMETER		87
#define ERROR_BROKEN_PIPE		109
#define ERROR_DISK_FULL			112
#define ERROR_CALL_NOT_IMPLEMENTED	120
#define ERROR_SEM_TIMEOUT		121
#define ERROR_INSUFFICIENT_BUFFER	122
#define ERROR_NEGATIVE_SEEK		131
#define ERROR_BUSY			170
#define ERROR_ALREADY_EXISTS		183
#define ERROR_FILE_TOO_LARGE		223
#define ERROR_NO_DATA			232
#define ERROR_MORE_DATA			234
#define ERROR_DIRECTORY			267
#define ERROR_NOT_OWNER			288
#define ERROR_TOO_MANY_POSTS		298
#define ERROR_OPERATION_ABORTED		995
#define ERROR_IO_INCOMPLETE		996
#define ERROR_IO_PENDING		997
#define ERROR_NOACCESS			998
#define ERROR_IO_DEVICE			1117
#define ERROR_NOT_FOUND			1168
#define ERROR_CONNECTION_REFUSED	1225
#define ERROR_ADDRESS_ALREADY_ASSOCIATED 1227
#define ERROR_NETWORK_UNREACHABLE	1231
#define ERROR_HOST_UNREACHABLE		1232
#define ERROR_CONNECTION_ABORTED	1236
#define ERROR_NOT_ENOUGH_QUOTA		1816
#define ERROR_TIMEOUT			1460
#define ERROR_NOT_CONNECTED		2250

/* OVERLAPPED.Internal of an operation that has not completed */
#define STATUS_PENDING			0x00000103

/* WaitForSingleObject results and timeouts */
#define WAIT_OBJECT_0		0x00000000U
#define WAIT_ABANDONED		0x00000080U
#define WAIT_ABANDONED_0	WAIT_ABANDONED
#define WAIT_TIMEOUT		258U
#define WAIT_FAILED		0xffffffffU
#define INFINITE		0xffffffffU

/* SetFileCompletionNotificationModes flags */
#define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS	0x1
#define FILE_SKIP_SET_EVENT_ON_HANDLE		0x2

/* The operation block of an overlapped I/O; its address is the completion value. */
typedef struct _OVERLAPPED {
	ULONG_PTR Internal;		/* STATUS_PENDING, then the Win32 status */
	ULONG_PTR InternalHigh;		/* bytes transferred once complete */
	union {
		struct {
			DWORD Offset;	/* file position, low 32 bits */
			DWORD OffsetHigh; /* file position, high 32 bits */
		};
		PVOID Pointer;
	};
	HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED;

/*
 * TRUE once the operation of @lpOverlapped has completed (an acquire load:
 * InternalHigh and the buffer are then complete too).
 */
#define HasOverlappedIoCompleted(lpOverlapped) \
	(__atomic_load_n(&(lpOverlapped)->Internal, __ATOMIC_ACQUIRE) != \
	 STATUS_PENDING)

typedef struct _SECURITY_ATTRIBUTES {
	DWORD nLength;
	LPVOID lpSecurityDescriptor;
	BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

/*
 * A recursive lock for LeaveCriticalSectionWhenCallbackReturns. The layout
 * is tpio's own (same size as Windows' on x86-64); treat it as opaque.
 * LockCount is the futex word, OwningThread the owner's thread id.
 */
typedef struct _RTL_CRITICAL_SECTION {
	PVOID DebugInfo;		/* unused, NULL */
	LONG LockCount;			/* 0 free, 1 locked, 2 locked + sleepers */
	LONG RecursionCount;
	HANDLE OwningThread;		/* (HANDLE)(ULONG_PTR)tid, or NULL */
	HANDLE LockSemaphore;		/* magic while initialised */
	ULONG_PTR SpinCount;
} CRITICAL_SECTION, *PCRITICAL_SECTION, *LPCRITICAL_SECTION;

/* Thread-pool objects (opaque) */
typedef struct _TP_IO TP_IO, *PTP_IO;
typedef struct _TP_POOL TP_POOL, *PTP_POOL;
typedef struct _TP_CLEANUP_GROUP TP_CLEANUP_GROUP, *PTP_CLEANUP_GROUP;
typedef struct _TP_CALLBACK_INSTANCE TP_CALLBACK_INSTANCE, *PTP_CALLBACK_INSTANCE;
struct _ACTIVATION_CONTEXT;

typedef VOID (CALLBACK *PTP_WIN32_IO_CALLBACK)(PTP_CALLBACK_INSTANCE Instance,
					       PVOID Context, PVOID Overlapped,
					       ULONG IoResult,
					       ULONG_PTR NumberOfBytesTransferred,
					       PTP_IO Io);
typedef VOID (CALLBACK *PTP_SIMPLE_CALLBACK)(PTP_CALLBACK_INSTANCE Instance,
					     PVOID Context);
typedef VOID (CALLBACK *PTP_CLEANUP_GROUP_CANCEL_CALLBACK)(PVOID ObjectContext,
							   PVOID CleanupContext);

/* A time: 100-nanosecond intervals since 1601-01-01 UTC (Windows' epoch). */
typedef struct _FILETIME {
	DWORD dwLowDateTime;
	DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;

/* Timer objects (opaque) and their callback */
typedef struct _TP_TIMER TP_TIMER, *PTP_TIMER;
typedef VOID (CALLBACK *PTP_TIMER_CALLBACK)(PTP_CALLBACK_INSTANCE Instance,
					    PVOID Context, PTP_TIMER Timer);

/* Wait objects (opaque) and their callback */
typedef struct _TP_WAIT TP_WAIT, *PTP_WAIT;
typedef DWORD TP_WAIT_RESULT;
typedef VOID (CALLBACK *PTP_WAIT_CALLBACK)(PTP_CALLBACK_INSTANCE Instance,
					   PVOID Context, PTP_WAIT Wait,
					   TP_WAIT_RESULT WaitResult);

/* Work objects (opaque) and their callback */
typedef struct _TP_WORK TP_WORK, *PTP_WORK;
typedef VOID (CALLBACK *PTP_WORK_CALLBACK)(PTP_CALLBACK_INSTANCE Instance,
					   PVOID Context, PTP_WORK Work);

typedef enum _TP_CALLBACK_PRIORITY {
	TP_CALLBACK_PRIORITY_HIGH = 0,
	TP_CALLBACK_PRIORITY_NORMAL = 1,
	TP_CALLBACK_PRIORITY_LOW = 2,
	TP_CALLBACK_PRIORITY_INVALID = 3,
	TP_CALLBACK_PRIORITY_COUNT = TP_CALLBACK_PRIORITY_INVALID
} TP_CALLBACK_PRIORITY;

typedef DWORD TP_VERSION, *PTP_VERSION;

/*
 * The callback environment, V3 layout. Initialise it with
 * InitializeThreadpoolEnvironment and change it only with the
 * SetThreadpoolCallback* functions.
 */
typedef struct _TP_CALLBACK_ENVIRON_V3 {
	TP_VERSION Version;				/* 3 */
	PTP_POOL Pool;					/* NULL: the default pool */
	PTP_CLEANUP_GROUP CleanupGroup;
	PTP_CLEANUP_GROUP_CANCEL_CALLBACK CleanupGroupCancelCallback;
	PVOID RaceDll;					/* must stay NULL */
	struct _ACTIVATION_CONTEXT *ActivationContext;	/* must stay NULL */
	PTP_SIMPLE_CALLBACK FinalizationCallback;
	union {
		DWORD Flags;
		struct {
			DWORD LongFunction : 1;
			DWORD Persistent : 1;
			DWORD Private : 30;
		} s;
	} u;
	TP_CALLBACK_PRIORITY CallbackPriority;
	DWORD Size;					/* sizeof(this struct) */
} TP_CALLBACK_ENVIRON_V3;

typedef TP_CALLBACK_ENVIRON_V3 TP_CALLBACK_ENVIRON, *PTP_CALLBACK_ENVIRON;

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* The calling thread's last error code. */
TPIO_API DWORD GetLastError(void) TPIO_ASMNAME(GetLastError);

/* Set the calling thread's last error code. */
TPIO_API VOID SetLastError(DWORD dwErrCode) TPIO_ASMNAME(SetLastError);

/* ------------------------------------------------------------------ */
/* Thread-pool I/O                                                    */
/* ------------------------------------------------------------------ */

/*
 * Bind the file descriptor handle @fl to a new I/O object whose completions
 * run @pfnio(instance, @pv, overlapped, result, bytes, io) on the pool of
 * @pcbe (NULL: the default pool, NORMAL priority). Returns NULL and sets the
 * last error on failure: ERROR_INVALID_HANDLE for INVALID_HANDLE_VALUE, a
 * non-fd handle or a closed fd; ERROR_INVALID_PARAMETER for a NULL
 * callback, an fd already bound to a live object, a bad environment
 * (Version not 1 or 3, bad priority); ERROR_CALL_NOT_IMPLEMENTED for an
 * environment with RaceDll or ActivationContext set; ERROR_NOT_ENOUGH_MEMORY
 * when the port has no free object slot; ERROR_NOT_SUPPORTED when
 * TPIO_BACKEND=kmod but /dev/tpio cannot be used. The object joins the
 * environment's cleanup group, if any.
 * [T] The fd binding lasts until CloseThreadpoolIo (tpio cannot see close(2)).
 */
TPIO_API PTP_IO CreateThreadpoolIo(HANDLE fl, PTP_WIN32_IO_CALLBACK pfnio,
				   PVOID pv, PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(CreateThreadpoolIo);

/*
 * Announce one asynchronous I/O about to be issued on the object's handle
 * (pending++). Lock-free, no system call. A closed object, or one that is
 * being closed, is ignored (diagnostic with TPIO_DEBUG=1). [T] At the
 * pending limit (262143 per object) the start is refused: diagnostic on
 * stderr always, last error ERROR_TOO_MANY_POSTS.
 */
TPIO_API VOID StartThreadpoolIo(PTP_IO pio) TPIO_ASMNAME(StartThreadpoolIo);

/*
 * Take back one StartThreadpoolIo whose I/O was not issued or completed
 * synchronously without a completion (pending--). Lock-free; a system call
 * only to wake a thread waiting for the object to drain. [T] With nothing
 * pending it does nothing (diagnostic with TPIO_DEBUG=1).
 */
TPIO_API VOID CancelThreadpoolIo(PTP_IO pio) TPIO_ASMNAME(CancelThreadpoolIo);

/*
 * Wait until the object is drained: nothing pending, nothing queued, no
 * associated callback running. With @fCancelPendingCallbacks, first drop
 * every queued callback of the object and give up on every pending I/O (its
 * late completion will be swallowed, no callback). The I/O itself is not
 * cancelled. [T] Called from inside one of the object's own callbacks (not
 * disassociated), it waits for everything except the calling callback
 * instead of deadlocking (diagnostic with TPIO_DEBUG=1).
 */
TPIO_API VOID WaitForThreadpoolIoCallbacks(PTP_IO pio,
					   BOOL fCancelPendingCallbacks)
	TPIO_ASMNAME(WaitForThreadpoolIoCallbacks);

/*
 * Release the object. No new StartThreadpoolIo is allowed. It is freed at
 * once if nothing is pending, queued or running, else after the last
 * callback: callbacks for pending I/O still run after Close. Allowed from
 * inside its own callback (freed after that callback returns). The fd
 * binding is released. A closed object's late skipped completions are
 * swallowed by the port. Do not use @pio afterwards.
 */
TPIO_API VOID CloseThreadpoolIo(PTP_IO pio) TPIO_ASMNAME(CloseThreadpoolIo);

/* ------------------------------------------------------------------ */
/* Work objects (Documentation/contract.rst, "Work items")            */
/* ------------------------------------------------------------------ */

/*
 * A new work object whose callbacks run @pfnwk(instance, @pv, work) on the
 * pool of @pcbe (NULL: the default pool), with the environment's
 * priority, runs-long flag, finalization callback and cleanup group, like
 * a TP_IO. NULL + last error on failure: ERROR_INVALID_PARAMETER for a
 * NULL callback ([T]) or a bad environment, ERROR_CALL_NOT_IMPLEMENTED for
 * RaceDll or ActivationContext, ERROR_NOT_ENOUGH_MEMORY when the pool's
 * port has no free object slot (a work object takes one, as a TP_IO),
 * ERROR_NOT_SUPPORTED without a usable backend.
 */
TPIO_API PTP_WORK CreateThreadpoolWork(PTP_WORK_CALLBACK pfnwk, PVOID pv,
				       PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(CreateThreadpoolWork);

/*
 * Queue one callback of the work object. Each submission runs the callback
 * once, also when the object is submitted again before (or while) an
 * earlier callback runs; callbacks of one object may run at the same time
 * on several workers, and start in submission order [T]. Lock-free, no
 * system call on the fast path (the submission is one completion entry
 * of the pool's port). A closed object is ignored (diagnostic with
 * TPIO_DEBUG=1). [T] While 65535 callbacks of one object are queued and
 * not started, the submitter waits for one to start.
 */
TPIO_API VOID SubmitThreadpoolWork(PTP_WORK pwk)
	TPIO_ASMNAME(SubmitThreadpoolWork);

/*
 * Wait until no callback of the object is queued or running (a
 * disassociated one no longer counts). With @fCancelPendingCallbacks,
 * the submissions whose callbacks have not started are cancelled first
 * (they never run). [T] From inside one of its own callbacks it waits for
 * the others only, as WaitForThreadpoolIoCallbacks.
 */
TPIO_API VOID WaitForThreadpoolWorkCallbacks(PTP_WORK pwk,
					     BOOL fCancelPendingCallbacks)
	TPIO_ASMNAME(WaitForThreadpoolWorkCallbacks);

/*
 * Release the work object: freed at once when no callback is queued or
 * running, else after the last one (queued callbacks still run). Allowed
 * from its own callback. Do not use @pwk afterwards.
 */
TPIO_API VOID CloseThreadpoolWork(PTP_WORK pwk)
	TPIO_ASMNAME(CloseThreadpoolWork);

/*
 * Run @pfns(instance, @pv) once on the pool of @pcbe: a work object made,
 * submitted and closed in one call. It belongs to the environment's
 * cleanup group until its callback returns (a group release waits for it;
 * with cancel, a callback not yet started never runs). FALSE + last error
 * as CreateThreadpoolWork.
 */
TPIO_API BOOL TrySubmitThreadpoolCallback(PTP_SIMPLE_CALLBACK pfns, PVOID pv,
					  PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(TrySubmitThreadpoolCallback);

/* ------------------------------------------------------------------ */
/* Timer objects (Documentation/contract.rst, "Timers")               */
/* ------------------------------------------------------------------ */

/*
 * A new timer object whose expiries run @pfnti(instance, @pv, timer) on
 * the pool of @pcbe, like a work object (CreateThreadpoolWork: the same
 * errors). It is not set.
 */
TPIO_API PTP_TIMER CreateThreadpoolTimer(PTP_TIMER_CALLBACK pfnti, PVOID pv,
					 PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(CreateThreadpoolTimer);

/*
 * Set the timer: first expiry at *@pftDueTime, then every @msPeriod
 * milliseconds (0: once). A due time >= 0 is absolute (FILETIME, UTC; 0
 * or a time past: at once), < 0 relative, in 100 ns units. NULL
 * @pftDueTime stops the timer: no new expiry (callbacks already queued
 * still run). Setting it again replaces the previous setting. Each expiry
 * queues one callback, also while an earlier one still runs.
 * @msWindowLength is accepted; [T] tpio never delays an expiry on purpose.
 * [T] An absolute due time is turned into a delay when the timer is set:
 * a later change of the system clock does not move it. [T] A periodic
 * timer late by more than a period expires once and goes on from then.
 * One timer thread per process posts the expiries [T].
 */
TPIO_API VOID SetThreadpoolTimer(PTP_TIMER pti, PFILETIME pftDueTime,
				 DWORD msPeriod, DWORD msWindowLength)
	TPIO_ASMNAME(SetThreadpoolTimer);

/*
 * As SetThreadpoolTimer; returns TRUE when the timer was armed (an expiry
 * was still to come, or it was periodic) and this call replaced or
 * stopped it, else FALSE. [T] (Wine 8.0 lacks the function.)
 */
TPIO_API BOOL SetThreadpoolTimerEx(PTP_TIMER pti, PFILETIME pftDueTime,
				   DWORD msPeriod, DWORD msWindowLength)
	TPIO_ASMNAME(SetThreadpoolTimerEx);

/*
 * TRUE from a SetThreadpoolTimer with a due time until one with NULL
 * (also once a one-shot timer has expired, as Wine). FALSE for a new timer.
 */
TPIO_API BOOL IsThreadpoolTimerSet(PTP_TIMER pti)
	TPIO_ASMNAME(IsThreadpoolTimerSet);

/*
 * Wait until no callback of the timer is queued or running; with
 * @fCancelPendingCallbacks, the queued ones are cancelled first. The timer
 * stays set (stop it with SetThreadpoolTimer(pti, NULL, 0, 0) first).
 */
TPIO_API VOID WaitForThreadpoolTimerCallbacks(PTP_TIMER pti,
					      BOOL fCancelPendingCallbacks)
	TPIO_ASMNAME(WaitForThreadpoolTimerCallbacks);

/*
 * Stop the timer and release it: freed at once when no callback is queued
 * or running, else after the last one (queued callbacks still run).
 * Allowed from its own callback.
 */
TPIO_API VOID CloseThreadpoolTimer(PTP_TIMER pti)
	TPIO_ASMNAME(CloseThreadpoolTimer);

/* ------------------------------------------------------------------ */
/* Wait objects (Documentation/contract.rst, "Waits")                 */
/* ------------------------------------------------------------------ */

/*
 * A new wait object whose callbacks run @pfnwa(instance, @pv, wait,
 * result) on the pool of @pcbe, like a work object (CreateThreadpoolWork:
 * the same errors). It waits for nothing until SetThreadpoolWait.
 */
TPIO_API PTP_WAIT CreateThreadpoolWait(PTP_WAIT_CALLBACK pfnwa, PVOID pv,
				       PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(CreateThreadpoolWait);

/*
 * Wait once for the event, semaphore or mutex @h of this library, up to
 * *@pftTimeout (NULL: forever; a FILETIME as for SetThreadpoolTimer:
 * absolute > 0, relative < 0; 0 times out at once without looking at @h,
 * as documented by Microsoft). When @h is signalled (now or
 * later) the callback is queued with WAIT_OBJECT_0 (an auto-reset event
 * is reset, a semaphore decremented, as by a waiter); when the timeout
 * comes first, with WAIT_TIMEOUT. Then the wait is over: set it again
 * (also from its callback) to wait again. A new setting replaces the
 * previous one; @h NULL stops waiting (queued callbacks still run).
 * [T] A mutex satisfies the wait while nobody owns it and is not taken
 * (Windows gives it to a hidden wait thread that can never release it).
 * Linux extension: @h may be an fd handle (tpio_handle_from_fd: a pipe,
 * FIFO, socket, eventfd, terminal...): the callback is queued with
 * WAIT_OBJECT_0 once the fd is readable (poll's POLLIN, now or later;
 * nothing is read), [T] also at hang-up or an error condition (a read
 * would not block); [T] a regular file or directory is always readable: at
 * once. One-shot as for events. [T] CancelIo and CancelIoEx without an
 * OVERLAPPED do not stop it.
 * [T] A handle that is no event, semaphore or mutex nor an open fd (a
 * closed one) is ignored: no callback (diagnostic with TPIO_DEBUG=1). The
 * handle must stay open while the wait is set.
 */
TPIO_API VOID SetThreadpoolWait(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout)
	TPIO_ASMNAME(SetThreadpoolWait);

/*
 * As SetThreadpoolWait; TRUE when the wait was set and not yet satisfied
 * or timed out, and this call replaced or stopped it. @Reserved must be
 * NULL. [T] (Wine 8.0 lacks the function.)
 */
TPIO_API BOOL SetThreadpoolWaitEx(PTP_WAIT pwa, HANDLE h, PFILETIME pftTimeout,
				  PVOID Reserved)
	TPIO_ASMNAME(SetThreadpoolWaitEx);

/*
 * Wait until no callback of the wait object is queued or running; with
 * @fCancelPendingCallbacks the queued ones are cancelled first. A set
 * wait stays set.
 */
TPIO_API VOID WaitForThreadpoolWaitCallbacks(PTP_WAIT pwa,
					     BOOL fCancelPendingCallbacks)
	TPIO_ASMNAME(WaitForThreadpoolWaitCallbacks);

/*
 * Stop waiting and release the object: freed at once when no callback is
 * queued or running, else after the last one. Allowed from its own
 * callback.
 */
TPIO_API VOID CloseThreadpoolWait(PTP_WAIT pwa)
	TPIO_ASMNAME(CloseThreadpoolWait);

/* ------------------------------------------------------------------ */
/* Pools                                                              */
/* ------------------------------------------------------------------ */

/*
 * Create a private pool (its own completion port, min 0 and max 500
 * threads). @reserved must be NULL. NULL with last error on failure
 * (ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOT_SUPPORTED
 * when TPIO_BACKEND=kmod and /dev/tpio cannot be used).
 */
TPIO_API PTP_POOL CreateThreadpool(PVOID reserved)
	TPIO_ASMNAME(CreateThreadpool);

/*
 * Close a private pool: its workers exit once their current callbacks
 * return. Objects still bound to it must have been closed first (as on
 * Windows). The default pool cannot be closed.
 */
TPIO_API VOID CloseThreadpool(PTP_POOL ptpp) TPIO_ASMNAME(CloseThreadpool);

/*
 * Set the most threads the pool may run: 0 means 1; capped at 1023
 * ([T] the state word's running field). Lowers the minimum if needed.
 */
TPIO_API VOID SetThreadpoolThreadMaximum(PTP_POOL ptpp, DWORD cthrdMost)
	TPIO_ASMNAME(SetThreadpoolThreadMaximum);

/*
 * Set the fewest threads the pool keeps, and create them before returning;
 * raises the maximum to at least @cthrdMic. FALSE with last error on
 * failure (ERROR_INVALID_PARAMETER above 1023, ERROR_NOT_ENOUGH_MEMORY
 * when a thread cannot be created).
 */
TPIO_API BOOL SetThreadpoolThreadMinimum(PTP_POOL ptpp, DWORD cthrdMic)
	TPIO_ASMNAME(SetThreadpoolThreadMinimum);

/* ------------------------------------------------------------------ */
/* Callback environments                                              */
/* ------------------------------------------------------------------ */

/* Fill @pcbe with the defaults: Version 3, default pool, no group, NORMAL. */
TPIO_API VOID InitializeThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(InitializeThreadpoolEnvironment);

/* Nothing to release; provided for source compatibility. */
TPIO_API VOID DestroyThreadpoolEnvironment(PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(DestroyThreadpoolEnvironment);

/* Objects created with @pcbe use pool @ptpp (NULL: the default pool). */
TPIO_API VOID SetThreadpoolCallbackPool(PTP_CALLBACK_ENVIRON pcbe,
					PTP_POOL ptpp)
	TPIO_ASMNAME(SetThreadpoolCallbackPool);

/*
 * Objects created with @pcbe join cleanup group @ptpcg; @pfng (may be NULL)
 * is called per member by CloseThreadpoolCleanupGroupMembers(.., TRUE, ..).
 */
TPIO_API VOID SetThreadpoolCallbackCleanupGroup(PTP_CALLBACK_ENVIRON pcbe,
		PTP_CLEANUP_GROUP ptpcg, PTP_CLEANUP_GROUP_CANCEL_CALLBACK pfng)
	TPIO_ASMNAME(SetThreadpoolCallbackCleanupGroup);

/* Callbacks of @pcbe run long: CallbackMayRunLong returns TRUE at once. */
TPIO_API VOID SetThreadpoolCallbackRunsLong(PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(SetThreadpoolCallbackRunsLong);

/*
 * Callbacks of @pcbe run at @Priority: HIGH before NORMAL before LOW,
 * objects of one priority round-robin, one object's completions FIFO [T].
 * An invalid priority is stored and makes the creating function fail with
 * ERROR_INVALID_PARAMETER.
 */
TPIO_API VOID SetThreadpoolCallbackPriority(PTP_CALLBACK_ENVIRON pcbe,
					    TP_CALLBACK_PRIORITY Priority)
	TPIO_ASMNAME(SetThreadpoolCallbackPriority);

/*
 * Callbacks of @pcbe should run on a thread that never exits. [T] tpio
 * honours it by never retiring, on idle timeout, a worker that ran such a
 * callback.
 */
TPIO_API VOID SetThreadpoolCallbackPersistent(PTP_CALLBACK_ENVIRON pcbe)
	TPIO_ASMNAME(SetThreadpoolCallbackPersistent);

/*
 * Not implemented (Linux has no loader lock to race with): stores @mod in
 * RaceDll, sets last error ERROR_CALL_NOT_IMPLEMENTED and prints a
 * diagnostic; creating an object with such an environment fails with
 * ERROR_CALL_NOT_IMPLEMENTED.
 */
TPIO_API VOID SetThreadpoolCallbackLibrary(PTP_CALLBACK_ENVIRON pcbe,
					   PVOID mod)
	TPIO_ASMNAME(SetThreadpoolCallbackLibrary);

/* ------------------------------------------------------------------ */
/* Cleanup groups                                                     */
/* ------------------------------------------------------------------ */

/* A new, empty cleanup group; NULL + ERROR_NOT_ENOUGH_MEMORY on failure. */
TPIO_API PTP_CLEANUP_GROUP CreateThreadpoolCleanupGroup(void)
	TPIO_ASMNAME(CreateThreadpoolCleanupGroup);

/*
 * Release every member of the group. Without @fCancelPendingCallbacks it
 * waits until each member has nothing pending, queued or running (a
 * disassociated callback still counts), then closes it. With it, each
 * member's queued callbacks are dropped and pending I/O given up first
 * (as WaitForThreadpoolIoCallbacks(TRUE)); after the running callbacks
 * return, the cancel callback of the member's environment is called once
 * per member, on this thread, with (member context, @pvCleanupContext).
 * A member that closed itself meanwhile gets no cancel callback. Members
 * must not be used afterwards. Must not be called from a member's callback.
 */
TPIO_API VOID CloseThreadpoolCleanupGroupMembers(PTP_CLEANUP_GROUP ptpcg,
						 BOOL fCancelPendingCallbacks,
						 PVOID pvCleanupContext)
	TPIO_ASMNAME(CloseThreadpoolCleanupGroupMembers);

/* Free the (empty) group. Members left in it are released as by
 * CloseThreadpoolCleanupGroupMembers(ptpcg, FALSE, NULL) first. */
TPIO_API VOID CloseThreadpoolCleanupGroup(PTP_CLEANUP_GROUP ptpcg)
	TPIO_ASMNAME(CloseThreadpoolCleanupGroup);

/* ------------------------------------------------------------------ */
/* Callback instances (valid only inside the callback, on its thread) */
/* ------------------------------------------------------------------ */

/*
 * Tell the pool that this callback may run long. TRUE if another worker is
 * idle or can be created for the pool's other work, FALSE at the thread
 * limit; marks the callback long-running either way. TRUE at once in a
 * RunsLong environment. [T] A second call in the same callback returns
 * TRUE (the first marked it long-running already), as Wine does. FALSE
 * outside a callback or on another thread.
 */
TPIO_API BOOL CallbackMayRunLong(PTP_CALLBACK_INSTANCE pci)
	TPIO_ASMNAME(CallbackMayRunLong);

/*
 * Stop counting this callback for WaitForThreadpoolIoCallbacks (it still
 * counts for cleanup-group release). Effective once, on the callback's own
 * thread; otherwise nothing happens.
 */
TPIO_API VOID DisassociateCurrentThreadFromCallback(PTP_CALLBACK_INSTANCE pci)
	TPIO_ASMNAME(DisassociateCurrentThreadFromCallback);

/*
 * After the callback and the finalization callback return, set event
 * @evt. Only the first registration per instance counts. The actions run
 * in the order: critical section, mutex, semaphore, event.
 */
TPIO_API VOID SetEventWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					  HANDLE evt)
	TPIO_ASMNAME(SetEventWhenCallbackReturns);

/* After the callback returns, ReleaseSemaphore(@sem, @crel, NULL). */
TPIO_API VOID ReleaseSemaphoreWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
						  HANDLE sem, DWORD crel)
	TPIO_ASMNAME(ReleaseSemaphoreWhenCallbackReturns);

/* After the callback returns, ReleaseMutex(@mut) (on the worker thread). */
TPIO_API VOID ReleaseMutexWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
					      HANDLE mut)
	TPIO_ASMNAME(ReleaseMutexWhenCallbackReturns);

/* After the callback returns, LeaveCriticalSection(@pcs). */
TPIO_API VOID LeaveCriticalSectionWhenCallbackReturns(PTP_CALLBACK_INSTANCE pci,
						      PCRITICAL_SECTION pcs)
	TPIO_ASMNAME(LeaveCriticalSectionWhenCallbackReturns);

/* ------------------------------------------------------------------ */
/* Synchronisation objects                                            */
/* ------------------------------------------------------------------ */

/*
 * Create an event (manual-reset or auto-reset, initially set or not).
 * Named objects are not supported: a non-NULL @lpName fails with
 * ERROR_CALL_NOT_IMPLEMENTED. @lpEventAttributes is ignored.
 */
TPIO_API HANDLE CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes,
			     BOOL bManualReset, BOOL bInitialState,
			     LPCWSTR lpName) TPIO_ASMNAME(CreateEventW);
TPIO_API HANDLE CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes,
			     BOOL bManualReset, BOOL bInitialState,
			     LPCSTR lpName) TPIO_ASMNAME(CreateEventA);

/* Set an event: wakes all waiters (manual) or one (auto-reset). */
TPIO_API BOOL SetEvent(HANDLE hEvent) TPIO_ASMNAME(SetEvent);

/* Reset an event to non-signalled. */
TPIO_API BOOL ResetEvent(HANDLE hEvent) TPIO_ASMNAME(ResetEvent);

/*
 * Create a semaphore with count @lInitialCount, at most @lMaximumCount
 * (0 <= initial <= maximum, maximum > 0, else ERROR_INVALID_PARAMETER).
 * Named objects: ERROR_CALL_NOT_IMPLEMENTED.
 */
TPIO_API HANDLE CreateSemaphoreW(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
				 LONG lInitialCount, LONG lMaximumCount,
				 LPCWSTR lpName) TPIO_ASMNAME(CreateSemaphoreW);
TPIO_API HANDLE CreateSemaphoreA(LPSECURITY_ATTRIBUTES lpSemaphoreAttributes,
				 LONG lInitialCount, LONG lMaximumCount,
				 LPCSTR lpName) TPIO_ASMNAME(CreateSemaphoreA);

/*
 * Add @lReleaseCount (> 0) to the semaphore; the previous count goes to
 * *@lpPreviousCount if not NULL. FALSE + ERROR_TOO_MANY_POSTS if the
 * maximum would be exceeded (nothing changes).
 */
TPIO_API BOOL ReleaseSemaphore(HANDLE hSemaphore, LONG lReleaseCount,
			       LPLONG lpPreviousCount)
	TPIO_ASMNAME(ReleaseSemaphore);

/*
 * Create a recursive mutex, owned by the calling thread if
 * @bInitialOwner. Named objects: ERROR_CALL_NOT_IMPLEMENTED.
 */
TPIO_API HANDLE CreateMutexW(LPSECURITY_ATTRIBUTES lpMutexAttributes,
			     BOOL bInitialOwner, LPCWSTR lpName)
	TPIO_ASMNAME(CreateMutexW);
TPIO_API HANDLE CreateMutexA(LPSECURITY_ATTRIBUTES lpMutexAttributes,
			     BOOL bInitialOwner, LPCSTR lpName)
	TPIO_ASMNAME(CreateMutexA);

/* Release one level of ownership; FALSE + ERROR_NOT_OWNER if not the owner. */
TPIO_API BOOL ReleaseMutex(HANDLE hMutex) TPIO_ASMNAME(ReleaseMutex);

/*
 * Wait up to @dwMilliseconds (INFINITE: forever) for an event, semaphore
 * or mutex. WAIT_OBJECT_0 when acquired (auto-reset event reset, semaphore
 * decremented, mutex owned), WAIT_TIMEOUT, WAIT_ABANDONED (a mutex whose
 * owner thread exited; now owned by the caller), or WAIT_FAILED with last
 * error ERROR_INVALID_HANDLE for a closed or non-object handle.
 */
TPIO_API DWORD WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
	TPIO_ASMNAME(WaitForSingleObject);

/*
 * Close an object handle (the object lives on until its waiters leave), or
 * close(2) the fd of a file descriptor handle. FALSE +
 * ERROR_INVALID_HANDLE for a closed or unknown handle.
 */
TPIO_API BOOL CloseHandle(HANDLE hObject) TPIO_ASMNAME(CloseHandle);

/* Initialise / enter (recursively) / leave / delete a critical section. */
TPIO_API VOID InitializeCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
	TPIO_ASMNAME(InitializeCriticalSection);
TPIO_API BOOL InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION lpCriticalSection,
						    DWORD dwSpinCount)
	TPIO_ASMNAME(InitializeCriticalSectionAndSpinCount);
TPIO_API VOID EnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
	TPIO_ASMNAME(EnterCriticalSection);
TPIO_API BOOL TryEnterCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
	TPIO_ASMNAME(TryEnterCriticalSection);
TPIO_API VOID LeaveCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
	TPIO_ASMNAME(LeaveCriticalSection);
TPIO_API VOID DeleteCriticalSection(LPCRITICAL_SECTION lpCriticalSection)
	TPIO_ASMNAME(DeleteCriticalSection);

/* Sleep for @dwMilliseconds. */
TPIO_API VOID Sleep(DWORD dwMilliseconds) TPIO_ASMNAME(Sleep);

/* The calling thread's id (its Linux tid). */
TPIO_API DWORD GetCurrentThreadId(void) TPIO_ASMNAME(GetCurrentThreadId);

/* ------------------------------------------------------------------ */
/* Overlapped I/O (Documentation/io.rst)                              */
/* ------------------------------------------------------------------ */

/*
 * Rules shared by the calls below. An operation on a handle bound to a TP_IO
 * (CreateThreadpoolIo) delivers its completion to that object: call
 * StartThreadpoolIo before it, and CancelThreadpoolIo when the call fails at
 * once (or succeeds at once on a skip-on-success handle). The OVERLAPPED,
 * the buffer and the event must stay valid until the operation completes.
 * OVERLAPPED.Internal is STATUS_PENDING while the operation runs, then its
 * Win32 status (0 on success); InternalHigh is the byte count. hEvent, if
 * not NULL, is reset when the operation starts and set when it completes;
 * with bit 0 set (Windows' convention) the event is still set but no
 * completion goes to the TP_IO. Handles not bound to a TP_IO work too:
 * completion is then seen through GetOverlappedResult or the event.
 * Errors are Win32 codes mapped from errno (Documentation/io.rst).
 */

/*
 * Read up to @nNumberOfBytesToRead bytes. With @lpOverlapped:
 * - regular files and block devices: at Offset/OffsetHigh; always FALSE +
 *   ERROR_IO_PENDING [T]; a read at or past end of file completes with
 *   ERROR_HANDLE_EOF and 0 bytes;
 * - pipes and other streams: data already there → TRUE, *@lpNumberOfBytesRead
 *   set, and the completion is still posted (unless skip-on-success); no
 *   data → FALSE + ERROR_IO_PENDING; writer closed and drained → FALSE +
 *   ERROR_BROKEN_PIPE at once, nothing posted; a pending read whose writer
 *   closes completes with ERROR_BROKEN_PIPE and 0 bytes;
 * - sockets: as pipes, except that an orderly shutdown by the peer is a
 *   success with 0 bytes; a zero-byte read completes once data is readable.
 * Immediate failures (ERROR_INVALID_HANDLE, ERROR_NOACCESS for a NULL
 * buffer, a mapped errno) post nothing. Without @lpOverlapped: a blocking
 * read(2) (a pipe at end of data fails with ERROR_BROKEN_PIPE).
 */
TPIO_API BOOL ReadFile(HANDLE hFile, LPVOID lpBuffer,
		       DWORD nNumberOfBytesToRead, LPDWORD lpNumberOfBytesRead,
		       LPOVERLAPPED lpOverlapped) TPIO_ASMNAME(ReadFile);

/*
 * Write @nNumberOfBytesToWrite bytes; an overlapped write completes when all
 * of them are written (or with the error that stopped it, InternalHigh
 * saying how many went). Regular files at Offset/OffsetHigh, and pipes:
 * always FALSE + ERROR_IO_PENDING [T]. Sockets: TRUE when the whole buffer
 * was sent at once (completion still posted unless skip-on-success), else
 * pending. A reader that closed gives ERROR_BROKEN_PIPE, never SIGPIPE.
 * Without @lpOverlapped: a blocking write of everything.
 */
TPIO_API BOOL WriteFile(HANDLE hFile, LPCVOID lpBuffer,
			DWORD nNumberOfBytesToWrite,
			LPDWORD lpNumberOfBytesWritten,
			LPOVERLAPPED lpOverlapped) TPIO_ASMNAME(WriteFile);

/*
 * The outcome of the operation of @lpOverlapped: TRUE with the byte count,
 * or FALSE with its error as last error. While it is pending: with @bWait
 * it blocks until the operation completes (a futex on
 * lpOverlapped->Internal; the TP_IO's callback is separate and may run
 * before or after); without, FALSE + ERROR_IO_INCOMPLETE. @hFile is not
 * used.
 */
TPIO_API BOOL GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
				  LPDWORD lpNumberOfBytesTransferred,
				  BOOL bWait) TPIO_ASMNAME(GetOverlappedResult);

/*
 * Ask to cancel the pending operation @lpOverlapped on @hFile, or all of
 * @hFile's pending operations (from any thread) when it is NULL. Returns
 * at once; each cancelled operation still completes, with
 * ERROR_OPERATION_ABORTED (0 bytes, or what a write had already written),
 * and its callback runs. An operation that finishes before the cancel
 * reaches it completes normally. FALSE + ERROR_NOT_FOUND when nothing
 * matched ([T] also with NULL), ERROR_INVALID_HANDLE for a non-fd handle.
 */
TPIO_API BOOL CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)
	TPIO_ASMNAME(CancelIoEx);

/*
 * As CancelIoEx(@hFile, NULL) but only for the operations that the calling
 * thread issued. TRUE even when nothing matched (as documented by
 * Microsoft); FALSE + ERROR_INVALID_HANDLE for a non-fd handle.
 */
TPIO_API BOOL CancelIo(HANDLE hFile) TPIO_ASMNAME(CancelIo);

/*
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: an operation on @FileHandle that
 * succeeds at once (returns TRUE) posts no completion; the caller then
 * calls CancelThreadpoolIo. FILE_SKIP_SET_EVENT_ON_HANDLE is accepted and
 * has no effect (tpio never signals the file handle). [T] The mode belongs
 * to the handle's TP_IO binding: call it after CreateThreadpoolIo; it ends
 * with CloseThreadpoolIo. On a handle associated with a completion port
 * (CreateIoCompletionPort) it belongs to the association. FALSE +
 * ERROR_INVALID_PARAMETER for an unbound handle or unknown flags,
 * ERROR_INVALID_HANDLE for a bad handle.
 */
TPIO_API BOOL SetFileCompletionNotificationModes(HANDLE FileHandle,
						 UCHAR Flags)
	TPIO_ASMNAME(SetFileCompletionNotificationModes);

struct sockaddr;

/*
 * Accept a connection on the listening socket @hListen (the role of
 * AcceptEx; Linux creates the socket). Always FALSE + ERROR_IO_PENDING, or
 * an immediate failure. On success *@phAccepted (which must stay valid
 * until completion) receives the new socket's handle (close-on-exec,
 * blocking mode, not bound to any TP_IO) before the completion is posted;
 * the byte count is 0. ERROR_NOT_SUPPORTED if @hListen is not a socket,
 * ERROR_INVALID_PARAMETER for NULL @phAccepted or @lpOverlapped.
 */
TPIO_API BOOL tpio_accept(HANDLE hListen, HANDLE *phAccepted,
			  LPOVERLAPPED lpOverlapped);

/*
 * Connect the socket @hSocket to @name (the role of ConnectEx; no prior
 * bind needed, no data sent). The address is copied at the call. Always
 * FALSE + ERROR_IO_PENDING, or an immediate failure; completes with 0 or
 * e.g. ERROR_CONNECTION_REFUSED.
 */
TPIO_API BOOL tpio_connect(HANDLE hSocket, const struct sockaddr *name,
			   int namelen, LPOVERLAPPED lpOverlapped);

/* ------------------------------------------------------------------ */
/* Completion ports (Documentation/contract.rst, section 12)          */
/* ------------------------------------------------------------------ */

#define ERROR_ABANDONED_WAIT_0		735
#define WAIT_IO_COMPLETION		0x000000C0U

/* one packet of GetQueuedCompletionStatusEx */
typedef struct _OVERLAPPED_ENTRY {
	ULONG_PTR lpCompletionKey;
	LPOVERLAPPED lpOverlapped;
	ULONG_PTR Internal;		/* the packet's status (tpio: Win32) */
	DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;

/*
 * Create a completion port and/or associate a handle with one.
 * - @FileHandle INVALID_HANDLE_VALUE: a new port (@ExistingCompletionPort
 *   must be NULL, else ERROR_INVALID_PARAMETER; @CompletionKey ignored);
 *   @NumberOfConcurrentThreads (0: the CPUs) threads may be active on it
 *   at once, a thread being active from its dequeue until its next call
 *   to GetQueuedCompletionStatus(Ex) or its exit [T]: a thread that
 *   blocks elsewhere is not seen and still counts.
 * - @FileHandle a file, pipe or socket handle (tpio_handle_from_fd): it is
 *   associated with @ExistingCompletionPort (or a new port when NULL) and
 *   @CompletionKey; returns the port. From then on every overlapped
 *   ReadFile, WriteFile, tpio_accept, tpio_connect on it posts its
 *   completion to the port (Win32 status and byte count), unless its
 *   event has bit 0 set or it succeeded at once on a handle with
 *   FILE_SKIP_COMPLETION_PORT_ON_SUCCESS. The association lasts until the
 *   handle is closed with CloseHandle [T] (close(2) is not seen);
 *   completions already queued stay in the port.
 * Errors: ERROR_INVALID_HANDLE (not an fd handle, or not a port),
 * ERROR_INVALID_PARAMETER (already associated, or bound to a TP_IO),
 * ERROR_NOT_ENOUGH_MEMORY (no object slot left: TPIO_MAX_OBJECTS),
 * ERROR_NOT_SUPPORTED (no backend, or a post-only port).
 */
TPIO_API HANDLE CreateIoCompletionPort(HANDLE FileHandle,
				       HANDLE ExistingCompletionPort,
				       ULONG_PTR CompletionKey,
				       DWORD NumberOfConcurrentThreads)
	TPIO_ASMNAME(CreateIoCompletionPort);

/*
 * Dequeue one packet, oldest first, waiting up to @dwMilliseconds
 * (INFINITE: no limit; 0: do not wait). TRUE: a posted packet or a
 * successful I/O. FALSE with *@lpOverlapped != NULL: a failed I/O, its
 * Win32 status as last error, *@lpNumberOfBytesTransferred and
 * *@lpCompletionKey set. FALSE with *@lpOverlapped == NULL: nothing
 * dequeued: WAIT_TIMEOUT, ERROR_ABANDONED_WAIT_0 (the port's handle was
 * closed, also while waiting), ERROR_INVALID_HANDLE,
 * ERROR_INVALID_PARAMETER (a NULL out pointer). No system call while
 * packets are queued (and the concurrency limit admits the thread).
 */
TPIO_API BOOL GetQueuedCompletionStatus(HANDLE CompletionPort,
					LPDWORD lpNumberOfBytesTransferred,
					PULONG_PTR lpCompletionKey,
					LPOVERLAPPED *lpOverlapped,
					DWORD dwMilliseconds)
	TPIO_ASMNAME(GetQueuedCompletionStatus);

/*
 * Dequeue 1..@ulCount packets at once, oldest first: TRUE with
 * *@ulNumEntriesRemoved packets (those queued now, which may be fewer
 * than asked; it waits only for the first). Failed I/O is a packet too:
 * its status is in Internal. FALSE: WAIT_TIMEOUT, ERROR_ABANDONED_WAIT_0,
 * ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER (@ulCount 0, NULL
 * pointers), *@ulNumEntriesRemoved 0. @fAlertable [T]: tpio has no APCs,
 * so an alertable wait is an ordinary wait and never returns
 * WAIT_IO_COMPLETION.
 */
TPIO_API BOOL GetQueuedCompletionStatusEx(HANDLE CompletionPort,
					  LPOVERLAPPED_ENTRY lpCompletionPortEntries,
					  ULONG ulCount,
					  PULONG ulNumEntriesRemoved,
					  DWORD dwMilliseconds,
					  BOOL fAlertable)
	TPIO_ASMNAME(GetQueuedCompletionStatusEx);

/*
 * Queue a packet (@dwNumberOfBytesTransferred, @dwCompletionKey,
 * @lpOverlapped, any values) to the port; it is dequeued as a success.
 * Works on a post-only port of tpio_port_from_fd. FALSE:
 * ERROR_INVALID_HANDLE, or ERROR_NOT_ENOUGH_QUOTA when 65535 posted
 * packets already wait in the port [T].
 */
TPIO_API BOOL PostQueuedCompletionStatus(HANDLE CompletionPort,
					 DWORD dwNumberOfBytesTransferred,
					 ULONG_PTR dwCompletionKey,
					 LPOVERLAPPED lpOverlapped)
	TPIO_ASMNAME(PostQueuedCompletionStatus);

/*
 * Extension: the /dev/tpio file descriptor of completion port @port (kmod
 * backend), for handing to another process (SCM_RIGHTS); owned by the
 * port, valid while its handle is open. -1 with ERROR_NOT_SUPPORTED on the
 * user backend, ERROR_INVALID_HANDLE for other handles.
 */
TPIO_API int tpio_port_fd(HANDLE port);

/*
 * Extension: a post-only port handle for the /dev/tpio port fd @fd of
 * another port (of this or another process; @fd is duplicated, the
 * caller keeps it). PostQueuedCompletionStatus on it queues packets to
 * that port; CloseHandle closes it; the other functions fail with
 * ERROR_NOT_SUPPORTED. NULL with ERROR_INVALID_HANDLE when @fd is not a
 * /dev/tpio port.
 */
TPIO_API HANDLE tpio_port_from_fd(int fd);

/* ------------------------------------------------------------------ */
/* Linux helpers                                                      */
/* ------------------------------------------------------------------ */

/*
 * Wrap file descriptor @fd as a HANDLE (no ownership change, no system
 * call): fd -1 gives INVALID_HANDLE_VALUE; another negative fd gives
 * INVALID_HANDLE_VALUE too.
 */
TPIO_API HANDLE tpio_handle_from_fd(int fd);

/*
 * The file descriptor of a handle from tpio_handle_from_fd; -1 for
 * INVALID_HANDLE_VALUE and for any handle that is not an fd handle
 * (NULL, object handles), with last error ERROR_INVALID_HANDLE then.
 */
TPIO_API int tpio_fd_from_handle(HANDLE h);

/*
 * Deliver one completion to @io, produced outside the library's I/O engine:
 * it goes through the arrival rule (pending > 0: queued and its callback
 * runs with (@ov, @io_result, @bytes); else swallowed by a skipped start,
 * or dropped). TRUE when the port accepted it (whatever the rule decided);
 * when the port is full it waits for the workers to make room (a
 * completion is never lost). FALSE + ERROR_INVALID_HANDLE for NULL or a
 * closed @io. May be called from any thread, including callbacks.
 */
TPIO_API BOOL tpio_post_completion(PTP_IO io, LPOVERLAPPED ov,
				   ULONG io_result, ULONG_PTR bytes);

/*
 * The transport of the current default port: "kmod" or "user"; NULL when
 * no backend can be used (TPIO_BACKEND=kmod without a usable /dev/tpio, or
 * an unknown TPIO_BACKEND value). Decided once per process, at first use.
 */
TPIO_API const char *tpio_backend(void);

/*
 * Worker threads of @pool (NULL: the default pool) that exist now, idle or
 * busy. For tests and diagnostics.
 */
TPIO_API DWORD tpio_pool_thread_count(PTP_POOL pool);

/*
 * TP_IO objects of this process not yet freed (created and not closed, or
 * closed and waiting for their last callback). For leak tests.
 */
TPIO_API ULONG tpio_io_count(void);

/*
 * Overlapped operations of this process handed to the I/O engine and not
 * yet complete (0 when the engine never started). For leak tests.
 */
TPIO_API ULONG tpio_io_ops_in_flight(void);

/*
 * The I/O engine of overlapped operations: "uring" (io_uring) or "epoll"
 * (the readiness fallback, where io_uring is not available or
 * TPIO_IO_ENGINE=epoll); NULL when neither can be used. Decided once per
 * process, at the first overlapped operation or the first call of this.
 */
TPIO_API const char *tpio_io_engine(void);

#ifdef __cplusplus
}
#endif

#endif /* TPIO_H */
