// SPDX-License-Identifier: MIT
/*
 * libtpio overlapped I/O tests: Documentation/contract.rst, section 7, and
 * the scenarios of its section 8 with real I/O (pipes, regular files,
 * loopback TCP) through the io_uring engine.
 *
 * The same binary runs on both backends: natively with TPIO_BACKEND=user
 * and in the VM with TPIO_BACKEND=kmod (the fixture fails unless the
 * library really uses the named backend). Each test runs in its own
 * process (the harness forks), with a private pool; the teardown checks
 * that no TP_IO object and no engine operation is left.
 *
 * One translation unit: the 6.1 kselftest harness defines its runner in
 * the header, so the t_*.c files are included below rather than linked.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <liburing.h>
#include "helpers.h"
#include "kselftest_harness.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

FIXTURE(tio) {
	PTP_POOL pool;
	TP_CALLBACK_ENVIRON env;
	int pfd[2];		/* a pipe; the read end is what tests bind */
	HANDLE h;		/* handle of pfd[0] */
	HANDLE hw;		/* handle of pfd[1] */
};

FIXTURE_SETUP(tio)
{
	const char *want = getenv("TPIO_BACKEND");

	self->pfd[0] = self->pfd[1] = -1;
	self->pool = CreateThreadpool(NULL);
	ASSERT_NE(NULL, self->pool);
	if (want && strcmp(want, "auto")) {
		ASSERT_NE(NULL, tpio_backend());
		ASSERT_STREQ(want, tpio_backend());
	}
	InitializeThreadpoolEnvironment(&self->env);
	SetThreadpoolCallbackPool(&self->env, self->pool);
	ASSERT_EQ(0, pipe2(self->pfd, O_CLOEXEC));
	self->h = tpio_handle_from_fd(self->pfd[0]);
	self->hw = tpio_handle_from_fd(self->pfd[1]);
	ASSERT_EQ(0U, tpio_io_count());
}

/* Poll until no engine operation is in flight, or @ms elapse. */
static int wait_ops_idle(int ms)
{
	int64_t end = now_ms() + ms;

	while (tpio_io_ops_in_flight()) {
		if (now_ms() > end)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

FIXTURE_TEARDOWN(tio)
{
	if (self->pfd[0] >= 0)
		close(self->pfd[0]);
	if (self->pfd[1] >= 0)
		close(self->pfd[1]);
	EXPECT_TRUE(wait_io_count(0, RELEASED_MS));
	EXPECT_TRUE(wait_ops_idle(RELEASED_MS));
	DestroyThreadpoolEnvironment(&self->env);
	if (self->pool)
		CloseThreadpool(self->pool);
#if defined(__SANITIZE_ADDRESS__)
	sleep_ms(20);
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
#endif
}

/*
 * Open file descriptors of this process (/proc/self/fd), but those on
 * files of /proc: this listing's own, and the one the library's CPU meter
 * holds for the few microseconds of a reading (a worker's schedstat, on
 * its service thread; Documentation/libtpio.rst, "Concurrency and
 * stalls"). A descriptor closed while it is listed is not counted either.
 */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], to[300];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, to, sizeof(to) - 1);
		if (len <= 0)
			continue;
		to[len] = 0;
		n += strncmp(to, "/proc/", 6) != 0;
	}
	closedir(d);
	return n;
}

/* A regular file in a temporary directory, unlinked at once. */
static int temp_file(const char *dir, int flags)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/tpio-io-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC | flags);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/*
 * Complete one read through the engine, so that its lifelong fds (the
 * ring, the doorbell) exist before a test counts fds.
 */
static int engine_warm(int rfd, int wfd)
{
	OVERLAPPED ov = { 0 };
	char b = 0;

	if (ReadFile(tpio_handle_from_fd(rfd), &b, 1, NULL, &ov) ||
	    GetLastError() != ERROR_IO_PENDING)
		return 0;
	if (write(wfd, "w", 1) != 1)
		return 0;
	return GetOverlappedResult(NULL, &ov, NULL, TRUE) && b == 'w';
}

static VOID CALLBACK warm_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx, PVOID ov,
			     ULONG result, ULONG_PTR bytes, PTP_IO io)
{
	(void)inst; (void)ctx; (void)ov; (void)result; (void)bytes; (void)io;
}

/*
 * The I/O engine of the pool of @env exists once an object of the pool
 * did I/O: its ring and doorbell are two fds for the pool's life. Tests
 * that count fds start after it exists.
 */
static int pool_engine_warm(PTP_CALLBACK_ENVIRON env)
{
	OVERLAPPED ov = { 0 };
	int p[2], ok = 0;
	PTP_IO io;
	char b = 0;

	if (pipe2(p, O_CLOEXEC))
		return 0;
	io = CreateThreadpoolIo(tpio_handle_from_fd(p[0]), warm_cb, NULL, env);
	if (io) {
		StartThreadpoolIo(io);
		if (!ReadFile(tpio_handle_from_fd(p[0]), &b, 1, NULL, &ov) &&
		    GetLastError() == ERROR_IO_PENDING && write(p[1], "w", 1) == 1)
			ok = GetOverlappedResult(NULL, &ov, NULL, TRUE) && b == 'w';
		WaitForThreadpoolIoCallbacks(io, FALSE);
		CloseThreadpoolIo(io);
	}
	close(p[0]);
	close(p[1]);
	return ok;
}

static const char *tmp_dir(void)
{
	const char *d = getenv("TMPDIR");

	return d && *d ? d : "/tmp";
}

#include "t_io.c"
#include "t_socket.c"
#include "t_iocp_io.c"

TEST_HARNESS_MAIN
