// SPDX-License-Identifier: MIT
/*
 * tpiostat_load: work for tpiostat to see (selftests/tpiostat/check.sh).
 * One TP_IO on the default pool gets completions through
 * tpio_post_completion, each after its StartThreadpoolIo, in rounds of
 * ROUND, for SECONDS seconds (default 3); a first completion without a
 * start goes through the port's POST and is dropped. It prints "ready"
 * once the first round's callbacks have run, and exits 0 after closing
 * everything.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <tpio.h>

#define ROUND	200

static atomic_ulong calls;

static void CALLBACK on_io(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			   ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst, (void)ctx, (void)ov, (void)result, (void)bytes, (void)io;
	atomic_fetch_add(&calls, 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3, end;
	unsigned long posted = 0;
	int fds[2], said = 0, i;
	PTP_IO io;

	if (pipe(fds))
		return 1;
	io = CreateThreadpoolIo(tpio_handle_from_fd(fds[0]), on_io, NULL, NULL);
	if (!io) {
		fprintf(stderr, "CreateThreadpoolIo: error %lu\n",
			(unsigned long)GetLastError());
		return 1;
	}
	/* no start outstanding: dropped by the port */
	tpio_post_completion(io, NULL, 0, 0);
	end = now_s() + secs;
	while (now_s() < end) {
		for (i = 0; i < ROUND; i++) {
			StartThreadpoolIo(io);
			if (!tpio_post_completion(io, NULL, 0, 1))
				return 1;
		}
		posted += ROUND;
		while (atomic_load(&calls) < posted)
			usleep(100);
		if (!said) {
			printf("ready %s\n", tpio_backend());
			fflush(stdout);
			said = 1;
		}
		usleep(2000);
	}
	WaitForThreadpoolIoCallbacks(io, FALSE);
	CloseThreadpoolIo(io);
	printf("done %lu callbacks\n", (unsigned long)atomic_load(&calls));
	return 0;
}
