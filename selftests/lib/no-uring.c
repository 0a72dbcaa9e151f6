// SPDX-License-Identifier: MIT
/*
 * no-uring [--enosys] COMMAND [ARG...]: run COMMAND where io_uring is
 * blocked, as in a container with Docker's default seccomp profile. A
 * seccomp filter makes io_uring_setup, io_uring_enter and
 * io_uring_register fail with EPERM (ENOSYS with --enosys); every other
 * system call is allowed. The filter is inherited across fork and exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH	AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define ARCH	AUDIT_ARCH_I386
#else
#error "no-uring: add this architecture's AUDIT_ARCH_* value"
#endif

#ifndef __NR_io_uring_setup		/* the same on every architecture */
#define __NR_io_uring_setup	425
#define __NR_io_uring_enter	426
#define __NR_io_uring_register	427
#endif

int main(int argc, char **argv)
{
	unsigned int err = EPERM;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		/* another ABI (x32, compat): allowed, as the program's isn't */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register,
			 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (argc > 1 && !strcmp(argv[1], "--enosys")) {
		err = ENOSYS;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: no-uring [--enosys] COMMAND [ARG...]\n");
		return 2;
	}
	f[8].k = SECCOMP_RET_ERRNO | err;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		perror("no-uring: prctl");
		return 2;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		/*
		 * A kernel built without seccomp filters (our debug kernel)
		 * cannot block io_uring this way: the command is skipped,
		 * with the reason, rather than run on io_uring.
		 */
		if (errno == ENOSYS || errno == EINVAL) {
			printf("1..0 # SKIP no-uring: this kernel has no seccomp filters (%s)\n",
			       strerror(errno));
			return 4;
		}
		perror("no-uring: seccomp");
		return 2;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "no-uring: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
