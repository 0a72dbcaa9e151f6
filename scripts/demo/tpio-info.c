// SPDX-License-Identifier: MIT
/*
 * tpio-info: opens /dev/tpio (or the path in argv[1]), asks the module for
 * its ABI version and features, and prints them. Exits 1 when the device
 * cannot be opened or answers wrongly, so "make demo" fails visibly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/tpio.h>

static const struct {
	unsigned int bit;
	const char *name;
} features[] = {
	{ TPIO_FEAT_RING, "ring" },
	{ TPIO_FEAT_OVERFLOW, "overflow" },
	{ TPIO_FEAT_XPROC_POST, "xproc-post" },
	{ TPIO_FEAT_WAIT_SEQ, "wait-seq" },
	{ TPIO_FEAT_POLL, "poll" },
	{ TPIO_FEAT_CONC, "conc" },
	{ TPIO_FEAT_CONC_PENDING, "conc-pending" },
};

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/" TPIO_NAME;
	struct tpio_version_args v;
	unsigned int known = 0;
	struct stat st;
	size_t i;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "tpio-info: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) == 0)
		printf("%s: character device %u:%u, mode %04o\n", path,
		       major(st.st_rdev), minor(st.st_rdev),
		       (unsigned int)(st.st_mode & 07777));

	memset(&v, 0, sizeof(v));
	if (ioctl(fd, TPIO_IOC_VERSION, &v) < 0) {
		fprintf(stderr, "tpio-info: TPIO_IOC_VERSION: %s\n",
			strerror(errno));
		return 1;
	}
	printf("abi version: %u (this program was built for %u)\n",
	       v.abi_version, TPIO_ABI_VERSION);
	printf("features:    0x%x", v.features);
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		known |= features[i].bit;
		if (v.features & features[i].bit)
			printf(" %s", features[i].name);
	}
	if (v.features & ~known)
		printf(" unknown:0x%x", v.features & ~known);
	printf("\nring max:    %u entries\nobjects max: %u per port\n",
	       v.ring_max, v.objects_max);
	close(fd);

	if (v.abi_version != TPIO_ABI_VERSION) {
		fprintf(stderr, "tpio-info: ABI version mismatch\n");
		return 1;
	}
	return 0;
}
