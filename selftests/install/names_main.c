// SPDX-License-Identifier: MIT
/*
 * A program that uses libtpio's Sleep and CloseHandle through tpio.h while
 * another library of the process (names_other.c) defines its own: each
 * caller reaches its own (Documentation/libtpio.rst, "Exported names").
 * Linked against the shared and the static library by selftests/install/names.
 */
#include <stdio.h>
#include <tpio.h>

extern int other_sleeps, other_closes;
void other_use(void);

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		printf("not ok: %s (line %d)\n", #cond, __LINE__);	\
		failures++;						\
	}								\
} while (0)

static VOID CALLBACK on_io(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)ov; (void)result; (void)io;
	*(ULONG_PTR *)ctx = bytes;
}

int main(void)
{
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	ULONG_PTR seen = 0;
	OVERLAPPED ov = { 0 };
	PTP_IO io;

	CHECK(ev != NULL);
	/* the other library's calls reach its own functions */
	other_use();
	CHECK(other_sleeps == 1 && other_closes == 1);

	/* ours reach libtpio's */
	Sleep(1);
	CHECK(other_sleeps == 1);
	CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT);
	CHECK(SetEvent(ev));
	CHECK(CloseHandle(ev) == TRUE);
	CHECK(CloseHandle(ev) == FALSE);
	CHECK(GetLastError() == ERROR_INVALID_HANDLE);
	CHECK(other_closes == 1);

	/* and the thread pool works: one posted completion runs a callback */
	io = CreateThreadpoolIo(tpio_handle_from_fd(0), on_io, &seen, NULL);
	CHECK(io != NULL);
	if (io) {
		StartThreadpoolIo(io);
		CHECK(tpio_post_completion(io, &ov, 0, 7));
		WaitForThreadpoolIoCallbacks(io, FALSE);
		CloseThreadpoolIo(io);
	}
	CHECK(seen == 7);

	if (!failures)
		printf("ok: Sleep and CloseHandle of another library and of libtpio coexist (%s backend)\n",
		       tpio_backend());
	return failures != 0;
}
