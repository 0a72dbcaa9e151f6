// SPDX-License-Identifier: MIT
/*
 * repro_io_create: the IO_CREATE race that tpio_fuzz found, alone.
 *
 * tpio_ioctl_io_create() publishes the new object in the slot table,
 * drops the port lock, then writes the handle to user space; when that
 * write faults (the argument is readable but not writable) it frees the
 * slot. Handles are predictable (generation << 16 | slot), so another
 * thread can IO_CLOSE the object in that window: the object is freed
 * twice over (use-after-free of the object, the slot given back twice).
 *
 * Here: a port of one object; the main thread calls IO_CREATE with its
 * argument in a read-only view of a memfd (EFAULT expected), a second
 * thread closes the handles that create may have taken. After each close
 * that succeeds on such a handle, both threads stop and the main thread
 * creates twice: a port of one object must refuse the second (ENOSPC);
 * if it does not, its free list holds the slot twice.
 *
 * Usage: repro_io_create [SECONDS] (default 30). Exit 1 when the port
 * gave out two objects; 0 when not seen (the kernel log may still show a
 * KASAN or refcount report); 4 without /dev/tpio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/tpio.h>

static int fd;
static _Atomic unsigned int next_gen;	/* the generation create will take */
static _Atomic int pause_closer, closer_idle, stop;
static _Atomic unsigned long closed_in_window;

static void *closer(void *arg)
{
	unsigned int g, k, io;

	(void)arg;
	while (!atomic_load(&stop)) {
		if (atomic_load(&pause_closer)) {
			atomic_store(&closer_idle, 1);
			continue;
		}
		atomic_store(&closer_idle, 0);
		g = atomic_load(&next_gen);
		for (k = 0; k < 2; k++) {
			io = ((g + k) & 0xffff ? (g + k) & 0xffff : 1) << 16;
			if (!ioctl(fd, TPIO_IOC_IO_CLOSE, &io))
				atomic_fetch_add(&closed_in_window, 1);
		}
	}
	return NULL;
}

static int create(void *arg, unsigned int *io)
{
	int ret = ioctl(fd, TPIO_IOC_IO_CREATE, arg);

	if (!ret && io)
		*io = ((struct tpio_io_create_args *)arg)->io;
	return ret ? errno : 0;
}

/* Stops the closer; returns the port's generation, read by a create. */
static int quiesce_and_check(void)
{
	struct tpio_io_create_args a = { .cookie = 2 };
	unsigned int io1 = 0, io2 = 0;
	int e1, e2;

	atomic_store(&pause_closer, 1);
	while (!atomic_load(&closer_idle))
		;
	e1 = create(&a, &io1);
	e2 = create(&a, &io2);
	if (!e1 && !e2) {
		printf("not ok 1 a port of 1 object gave out two: %#x and %#x "
		       "(its free list holds the slot twice)\n", io1, io2);
		return -1;
	}
	if (!e1)
		ioctl(fd, TPIO_IOC_IO_CLOSE, &io1);
	if (!e1)
		atomic_store(&next_gen, (io1 >> 16) + 1);
	atomic_store(&pause_closer, 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct tpio_setup_args sa = { .ring_entries = 2, .max_objects = 1 };
	struct tpio_io_create_args a = { .cookie = 1 }, *rw, *ro;
	unsigned long seconds = argc > 1 ? strtoul(argv[1], NULL, 0) : 30;
	unsigned long tries = 0, seen = 0;
	time_t end = time(NULL) + (time_t)seconds;
	pthread_t th;
	int mfd;

	printf("TAP version 13\n1..1\n");
	fd = open("/dev/tpio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("ok 1 # SKIP /dev/tpio: %s\n", strerror(errno));
		return 4;
	}
	mfd = memfd_create("repro", MFD_CLOEXEC);
	if (ioctl(fd, TPIO_IOC_SETUP, &sa) || mfd < 0 || ftruncate(mfd, 4096))
		return perror("setup"), 2;
	rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, mfd, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		return perror("mmap"), 2;
	*rw = a;
	atomic_store(&next_gen, 1);
	pthread_create(&th, NULL, closer, NULL);
	while (time(NULL) < end) {
		int e = create(ro, NULL);	/* takes a slot, cannot say which */

		tries++;
		if (e == EFAULT)
			atomic_fetch_add(&next_gen, 1);
		if (atomic_load(&closed_in_window) > seen || e != EFAULT ||
		    !(tries % 4096)) {
			seen = atomic_load(&closed_in_window);
			if (quiesce_and_check())
				break;
		}
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	printf("# %lu creates with a read-only argument, %lu closes in the "
	       "window\n", tries, seen);
	if (time(NULL) < end)
		return 1;
	printf("ok 1 no slot given out twice in %lu s (see the kernel log)\n",
	       seconds);
	return 0;
}
