// SPDX-License-Identifier: MIT
/*
 * file_copy: copy a file with overlapped I/O on thread-pool callbacks, the
 * Windows way. Both files are bound to TP_IOs; --depth chunks are in
 * flight at once, each running read(offset) → write(offset) → read(offset
 * + depth * chunk) ... until end of file (ERROR_HANDLE_EOF). Only the Win32
 * API of tpio.h is used, plus tpio_handle_from_fd (the files are opened
 * with open(2), as they must on Linux).
 *
 *   file_copy [--chunk KiB] [--depth N] SRC DST
 *
 * Prints: copy: bytes=N seconds=S mbyte_s=X callbacks=N
 * and exits 0 on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tpio.h>

struct copy;

/* one chunk's buffer and operation block; it moves through the file */
struct chunk {
	OVERLAPPED ov;		/* first: the callbacks get &ov */
	struct copy *cp;
	unsigned long long off;
	char *buf;
};

struct copy {
	HANDLE src, dst;
	PTP_IO rio, wio;
	DWORD chunk_size, depth;
	HANDLE done;		/* set when the last chunk retires */
	atomic_uint active;	/* chunks still moving */
	atomic_ulong bytes, callbacks;
	atomic_uint error;	/* first Win32 error, or 0 */
};

static void set_offset(OVERLAPPED *ov, unsigned long long off)
{
	memset(ov, 0, sizeof(*ov));
	ov->Offset = (DWORD)off;
	ov->OffsetHigh = (DWORD)(off >> 32);
}

static void retire(struct chunk *c, DWORD err)
{
	unsigned int zero = 0;

	if (err)
		atomic_compare_exchange_strong(&c->cp->error, &zero, err);
	if (atomic_fetch_sub(&c->cp->active, 1) == 1)
		SetEvent(c->cp->done);
}

/* Start reading the chunk at c->off; the read callback takes over. */
static void start_read(struct chunk *c)
{
	struct copy *cp = c->cp;

	set_offset(&c->ov, c->off);
	StartThreadpoolIo(cp->rio);
	/* files always pend; anything else is an immediate failure */
	if (!ReadFile(cp->src, c->buf, cp->chunk_size, NULL, &c->ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		CancelThreadpoolIo(cp->rio);
		retire(c, GetLastError());
	}
}

static VOID CALLBACK read_done(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
			       PVOID ov, ULONG result, ULONG_PTR bytes,
			       PTP_IO io)
{
	struct chunk *c = ov;
	struct copy *cp = ctx;

	(void)inst;
	(void)io;
	atomic_fetch_add(&cp->callbacks, 1);
	if (result == ERROR_HANDLE_EOF) {
		retire(c, 0);
		return;
	}
	if (result != ERROR_SUCCESS) {
		retire(c, result);
		return;
	}
	set_offset(&c->ov, c->off);
	StartThreadpoolIo(cp->wio);
	if (!WriteFile(cp->dst, c->buf, (DWORD)bytes, NULL, &c->ov) &&
	    GetLastError() != ERROR_IO_PENDING) {
		CancelThreadpoolIo(cp->wio);
		retire(c, GetLastError());
	}
}

static VOID CALLBACK write_done(PTP_CALLBACK_INSTANCE inst, PVOID ctx,
				PVOID ov, ULONG result, ULONG_PTR bytes,
				PTP_IO io)
{
	struct chunk *c = ov;
	struct copy *cp = ctx;

	(void)inst;
	(void)io;
	atomic_fetch_add(&cp->callbacks, 1);
	if (result != ERROR_SUCCESS) {
		retire(c, result);
		return;
	}
	atomic_fetch_add(&cp->bytes, bytes);
	if (bytes < cp->chunk_size) {	/* the short chunk was the last */
		retire(c, 0);
		return;
	}
	c->off += (unsigned long long)cp->chunk_size * cp->depth;
	start_read(c);
}

int main(int argc, char **argv)
{
	static struct copy cp;
	struct chunk *chunks;
	struct timespec t0, t1;
	unsigned int kib = 256, depth = 4, i;
	int a = 1, sfd, dfd;
	double secs;

	for (; a + 1 < argc && !strncmp(argv[a], "--", 2); a += 2) {
		if (!strcmp(argv[a], "--chunk"))
			kib = (unsigned int)atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--depth"))
			depth = (unsigned int)atoi(argv[a + 1]);
		else
			break;
	}
	if (argc - a != 2 || !kib || kib > 65536 || !depth || depth > 256) {
		fprintf(stderr, "usage: %s [--chunk KiB (1..65536)] [--depth N (1..256)] SRC DST\n",
			argv[0]);
		return 2;
	}
	sfd = open(argv[a], O_RDONLY | O_CLOEXEC);
	dfd = open(argv[a + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (sfd < 0 || dfd < 0) {
		fprintf(stderr, "file_copy: open: %s\n", strerror(errno));
		return 1;
	}
	cp.src = tpio_handle_from_fd(sfd);
	cp.dst = tpio_handle_from_fd(dfd);
	cp.chunk_size = kib * 1024;
	cp.depth = depth;
	cp.done = CreateEventW(NULL, TRUE, FALSE, NULL);
	cp.rio = CreateThreadpoolIo(cp.src, read_done, &cp, NULL);
	cp.wio = CreateThreadpoolIo(cp.dst, write_done, &cp, NULL);
	chunks = calloc(depth, sizeof(*chunks));
	if (!cp.done || !cp.rio || !cp.wio || !chunks) {
		fprintf(stderr, "file_copy: setup failed: error %u\n",
			GetLastError());
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&cp.active, depth);
	for (i = 0; i < depth; i++) {
		chunks[i].cp = &cp;
		chunks[i].off = (unsigned long long)i * cp.chunk_size;
		chunks[i].buf = malloc(cp.chunk_size);
		if (!chunks[i].buf) {
			retire(&chunks[i], ERROR_NOT_ENOUGH_MEMORY);
			continue;
		}
	}
	for (i = 0; i < depth; i++)
		if (chunks[i].buf)
			start_read(&chunks[i]);
	WaitForSingleObject(cp.done, INFINITE);
	WaitForThreadpoolIoCallbacks(cp.rio, FALSE);
	WaitForThreadpoolIoCallbacks(cp.wio, FALSE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CloseThreadpoolIo(cp.rio);
	CloseThreadpoolIo(cp.wio);
	CloseHandle(cp.done);
	for (i = 0; i < depth; i++)
		free(chunks[i].buf);
	free(chunks);
	if (close(dfd) || close(sfd)) {
		perror("file_copy: close");
		return 1;
	}
	if (atomic_load(&cp.error)) {
		fprintf(stderr, "file_copy: failed with error %u\n",
			atomic_load(&cp.error));
		return 1;
	}
	printf("copy: bytes=%lu seconds=%.3f mbyte_s=%.1f callbacks=%lu\n",
	       atomic_load(&cp.bytes), secs,
	       secs > 0 ? (double)atomic_load(&cp.bytes) / secs / 1e6 : 0.0,
	       atomic_load(&cp.callbacks));
	return 0;
}
