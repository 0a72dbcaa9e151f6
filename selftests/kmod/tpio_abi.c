// SPDX-License-Identifier: MIT
/*
 * /dev/tpio ABI basics: VERSION, SETUP and the two mappings, object
 * create/close/query and handle generations, and the argument validation
 * of the sleeping and waking ioctls (POST has tpio_post.c).
 */
#define _GNU_SOURCE
#include "tpio_test.h"

#define ALL_FEATURES (TPIO_FEAT_RING | TPIO_FEAT_OVERFLOW | TPIO_FEAT_XPROC_POST | \
		      TPIO_FEAT_WAIT_SEQ | TPIO_FEAT_POLL | \
		      TPIO_FEAT_CONC | TPIO_FEAT_CONC_PENDING)

TEST(version)
{
	struct tpio_version_args va;
	int fd, ret;

	OPEN_PORT(fd);
	memset(&va, 0xcc, sizeof(va));
	va.reserved[0] = 0;
	va.reserved[1] = 0;
	ret = ioctl(fd, TPIO_IOC_VERSION, &va);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(TPIO_ABI_VERSION, va.abi_version);
	EXPECT_EQ(TPIO_FEAT_RING, va.features & TPIO_FEAT_RING);
	EXPECT_EQ(0, va.features & ~ALL_FEATURES);
	EXPECT_EQ(TPIO_RING_MAX, va.ring_max);
	EXPECT_EQ(TPIO_OBJECTS_MAX, va.objects_max);

	memset(&va, 0, sizeof(va));
	va.reserved[0] = 1;
	ret = ioctl(fd, TPIO_IOC_VERSION, &va);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);

	memset(&va, 0, sizeof(va));
	va.reserved[1] = 1ULL << 63;
	ret = ioctl(fd, TPIO_IOC_VERSION, &va);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);

	ret = ioctl(fd, TPIO_IOC_VERSION, (void *)8);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);

	ret = ioctl(fd, TPIO_IOC_VERSION, NULL);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);

	/* VERSION still works after SETUP */
	{
		struct tpio_setup_args sa = { .ring_entries = 2,
					      .max_objects = 1 };

		ASSERT_EQ(0, ioctl(fd, TPIO_IOC_SETUP, &sa));
		EXPECT_EQ(sa.features, sa.features & ALL_FEATURES);
		memset(&va, 0, sizeof(va));
		ASSERT_EQ(0, ioctl(fd, TPIO_IOC_VERSION, &va));
		EXPECT_EQ(TPIO_ABI_VERSION, va.abi_version);
		EXPECT_EQ(va.features, sa.features);
	}
	close(fd);
}

TEST(unknown_ioctl)
{
	int fd, ret;
	__u32 x = 0;

	OPEN_PORT(fd);
	ret = ioctl(fd, _IOW(TPIO_IOC_MAGIC, 0x7f, __u32), &x);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOTTY, errno);
	ret = ioctl(fd, _IOW(TPIO_IOC_MAGIC, 0x09, __u32), &x);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOTTY, errno);
	/* right number, wrong size */
	ret = ioctl(fd, _IOWR(TPIO_IOC_MAGIC, 0x00, __u32), &x);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOTTY, errno);
	ret = ioctl(fd, _IO('N', 0x80));
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

static int try_setup(int fd, __u32 entries, __u32 objects, __u32 flags,
		     __u64 reserved)
{
	struct tpio_setup_args sa;

	memset(&sa, 0, sizeof(sa));
	sa.ring_entries = entries;
	sa.max_objects = objects;
	sa.flags = flags;
	sa.reserved[1] = reserved;
	return ioctl(fd, TPIO_IOC_SETUP, &sa);
}

TEST(setup_validation)
{
	static const __u32 bad_entries[] = {
		0, 1, 3, 6, 100, TPIO_RING_MAX + 1, TPIO_RING_MAX * 2,
		0x80000000U, 0xffffffffU,
	};
	static const __u32 bad_objects[] = {
		0, TPIO_OBJECTS_MAX + 1, 0xffffffffU,
	};
	struct tpio_setup_args sa;
	unsigned int i;
	int fd, ret;

	OPEN_PORT(fd);
	for (i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
		ret = try_setup(fd, bad_entries[i], 1, 0, 0);
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EINVAL, errno);
	}
	for (i = 0; i < sizeof(bad_objects) / sizeof(bad_objects[0]); i++) {
		ret = try_setup(fd, 2, bad_objects[i], 0, 0);
		EXPECT_EQ(-1, ret);
		EXPECT_EQ(EINVAL, errno);
	}
	ret = try_setup(fd, 2, 1, 1, 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);
	ret = try_setup(fd, 2, 1, 0x80000000U, 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);
	ret = try_setup(fd, 2, 1, 0, 1);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);

	ret = ioctl(fd, TPIO_IOC_SETUP, (void *)8);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);

	/* none of the failures above consumed the one SETUP */
	memset(&sa, 0xcc, sizeof(sa));
	sa.ring_entries = TPIO_RING_MAX;
	sa.max_objects = TPIO_OBJECTS_MAX;
	sa.flags = 0;
	sa.reserved[0] = 0;
	sa.reserved[1] = 0;
	ret = ioctl(fd, TPIO_IOC_SETUP, &sa);
	ASSERT_EQ(0, ret);

	ret = try_setup(fd, 2, 1, 0, 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EBUSY, errno);
	close(fd);

	/* both ends of the legal ranges */
	OPEN_PORT(fd);
	EXPECT_EQ(0, try_setup(fd, TPIO_RING_MIN, 1, 0, 0));
	close(fd);
}

static void *setup_thread(void *arg)
{
	struct tpio_setup_args sa = { .ring_entries = 4, .max_objects = 4 };
	long ret = ioctl(*(int *)arg, TPIO_IOC_SETUP, &sa);

	return (void *)(ret ? (long)errno : 0L);
}

/* Racing SETUPs: exactly one wins, the others see EBUSY. */
TEST(setup_concurrent)
{
	pthread_t t[4];
	void *res;
	int fd, i, won = 0, busy = 0;

	OPEN_PORT(fd);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, setup_thread, &fd));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(t[i], &res));
		if (!res)
			won++;
		else if ((long)res == EBUSY)
			busy++;
	}
	EXPECT_EQ(1, won);
	EXPECT_EQ(3, busy);
	close(fd);
}

TEST(setup_outputs)
{
	static const struct { __u32 entries, objects; } cases[] = {
		{ 2, 1 }, { 64, 100 }, { 1024, 4096 },
		{ TPIO_RING_MAX, TPIO_OBJECTS_MAX },
	};
	long page = sysconf(_SC_PAGESIZE);
	struct tpio_setup_args sa;
	unsigned char *ring, *shared;
	unsigned int i;
	__u64 *words;
	int fd, ret;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		OPEN_PORT(fd);
		memset(&sa, 0xcc, sizeof(sa));
		sa.ring_entries = cases[i].entries;
		sa.max_objects = cases[i].objects;
		sa.flags = 0;
		sa.reserved[0] = 0;
		sa.reserved[1] = 0;
		ret = ioctl(fd, TPIO_IOC_SETUP, &sa);
		ASSERT_EQ(0, ret);
		EXPECT_EQ(cases[i].entries, sa.ring_entries);
		EXPECT_EQ(cases[i].objects, sa.max_objects);
		EXPECT_EQ(TPIO_FEAT_RING, sa.features & TPIO_FEAT_RING);
		EXPECT_EQ(0, sa.features & ~ALL_FEATURES);
		EXPECT_EQ(0, sa.ring_size % page);
		EXPECT_EQ(0, sa.shared_size % page);
		EXPECT_EQ(0, sa.ring_off.magic % 4);
		EXPECT_EQ(0, sa.ring_off.tail % 4);
		EXPECT_EQ(0, sa.ring_off.cqes % 8);
		EXPECT_LE((__u64)sa.ring_off.cqes +
			  (__u64)cases[i].entries * sizeof(struct tpio_cqe),
			  sa.ring_size);
		EXPECT_GT(sa.ring_size, sa.ring_off.tail);
		EXPECT_GT(sa.ring_size, sa.ring_off.flags);
		EXPECT_GT(sa.ring_size, sa.ring_off.overflow);
		EXPECT_GT(sa.ring_size, sa.ring_off.ring_mask);
		EXPECT_EQ(0, sa.ring_off.resv[0]);
		EXPECT_EQ(0, sa.ring_off.resv[2]);
		EXPECT_EQ(0, sa.shared_off.words % 8);
		EXPECT_EQ(0, sa.shared_off.head % 4);
		EXPECT_LE((__u64)sa.shared_off.words + 8ULL * cases[i].objects,
			  sa.shared_size);
		EXPECT_GT(sa.shared_size, sa.shared_off.head);
		EXPECT_EQ(0, sa.shared_off.resv[0]);
		/* head and words must not overlap */
		EXPECT_TRUE(sa.shared_off.head + 4 <= sa.shared_off.words ||
			    sa.shared_off.head >= sa.shared_off.words +
						 8ULL * cases[i].objects);
		EXPECT_EQ(0, sa.reserved[0]);
		EXPECT_EQ(0, sa.reserved[1]);

		/* both areas map whole, the last entry and word included */
		ring = mmap(NULL, sa.ring_size, PROT_READ, MAP_SHARED, fd,
			    TPIO_OFF_RING);
		ASSERT_NE(MAP_FAILED, ring);
		shared = mmap(NULL, sa.shared_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, fd, TPIO_OFF_SHARED);
		ASSERT_NE(MAP_FAILED, shared);
		EXPECT_EQ(TPIO_RING_MAGIC, *(__u32 *)(ring + sa.ring_off.magic));
		EXPECT_EQ(cases[i].entries,
			  *(__u32 *)(ring + sa.ring_off.ring_entries));
		EXPECT_EQ(0, ((struct tpio_cqe *)(ring + sa.ring_off.cqes))
			      [cases[i].entries - 1].cookie);
		words = (__u64 *)(shared + sa.shared_off.words);
		EXPECT_EQ(0, words[cases[i].objects - 1]);
		words[cases[i].objects - 1] = 1;
		EXPECT_EQ(1, words[cases[i].objects - 1]);
		munmap(ring, sa.ring_size);
		munmap(shared, sa.shared_size);
		close(fd);
	}
}

TEST(before_setup)
{
	struct tpio_io_create_args ca = { .cookie = 1 };
	struct tpio_io_query_args qa = { .io = 1 };
	struct tpio_completion c = { .io = 1 };
	struct tpio_post_args pa = { .completions = (uintptr_t)&c, .count = 1 };
	struct tpio_wait_args wa = { .timeout = 0 };
	struct tpio_drain_args da = { .io = 1 };
	struct tpio_wake_args ka = { .flags = TPIO_WAKE_WORKERS, .count = 1 };
	__u32 io = 1;
	void *m;
	int fd;

	OPEN_PORT(fd);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_IO_CREATE, &ca));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_IO_CLOSE, &io));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_POST, &pa));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_DRAIN, &da));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, TPIO_IOC_IO_QUERY, &qa));
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, TPIO_OFF_RING);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 TPIO_OFF_SHARED);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	close(fd);
}

TEST(mmap_regions)
{
	struct port p = { .fd = -1 };
	unsigned char *m;
	__u32 i;
	int ret;

	PORT_OPEN(&p, 64, 16);

	/* the ring header */
	EXPECT_EQ(TPIO_RING_MAGIC, *ring_u32(&p, p.sa.ring_off.magic));
	EXPECT_EQ(TPIO_ABI_VERSION, *ring_u32(&p, p.sa.ring_off.version));
	EXPECT_EQ(64, *ring_u32(&p, p.sa.ring_off.ring_entries));
	EXPECT_EQ(63, *ring_u32(&p, p.sa.ring_off.ring_mask));
	EXPECT_EQ(0, tail_load(&p));
	EXPECT_EQ(0, ring_flags(&p));
	EXPECT_EQ(0, ring_overflow(&p));
	EXPECT_EQ(0, head_load(&p));
	for (i = 0; i < 16; i++)
		EXPECT_EQ(0, shared_words(&p)[i]);

	/* the ring is read-only */
	m = mmap(NULL, p.sa.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 p.fd, TPIO_OFF_RING);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EPERM, errno);
	m = mmap(NULL, p.sa.ring_size, PROT_WRITE, MAP_SHARED, p.fd,
		 TPIO_OFF_RING);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EPERM, errno);
	ret = mprotect(p.ring, p.sa.ring_size, PROT_READ | PROT_WRITE);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EACCES, errno);
	/* a second read-only mapping shows the same header */
	m = mmap(NULL, p.sa.ring_size, PROT_READ, MAP_SHARED, p.fd,
		 TPIO_OFF_RING);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(TPIO_RING_MAGIC, *(__u32 *)(m + p.sa.ring_off.magic));
	munmap(m, p.sa.ring_size);

	/* beyond either region */
	m = mmap(NULL, p.sa.ring_size + 4096, PROT_READ, MAP_SHARED, p.fd,
		 TPIO_OFF_RING);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, p.sa.shared_size + 4096, PROT_READ | PROT_WRITE,
		 MAP_SHARED, p.fd, TPIO_OFF_SHARED);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, p.fd,
		 TPIO_OFF_RING + p.sa.ring_size);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, p.fd,
		 TPIO_OFF_SHARED + p.sa.shared_size);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, p.fd, 0x20000000ULL);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	/* private copies of either area make no sense */
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, p.fd, TPIO_OFF_RING);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, p.fd,
		 TPIO_OFF_SHARED);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EINVAL, errno);

	/* neither mapping can grow */
	m = mremap(p.ring, p.sa.ring_size, p.sa.ring_size + 4096, 0);
	EXPECT_EQ(MAP_FAILED, m);
	m = mremap(p.ring, p.sa.ring_size, p.sa.ring_size + 4096,
		   MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EFAULT, errno);
	m = mremap(p.shared, p.sa.shared_size, p.sa.shared_size + 4096,
		   MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, m);
	EXPECT_EQ(EFAULT, errno);

	/* the shared region is writable, and a second mapping sees writes */
	m = mmap(NULL, p.sa.shared_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 p.fd, TPIO_OFF_SHARED);
	ASSERT_NE(MAP_FAILED, m);
	shared_words(&p)[3] = 0x1234;
	EXPECT_EQ(0x1234, ((__u64 *)(m + p.sa.shared_off.words))[3]);
	shared_words(&p)[3] = 0;
	munmap(m, p.sa.shared_size);

	port_close(&p);
}

/* Writing into the read-only ring kills the writer with SIGSEGV. */
TEST_SIGNAL(ring_write_faults, SIGSEGV)
{
	struct port p = { .fd = -1 };

	PORT_OPEN(&p, 4, 1);
	*(volatile __u32 *)ring_tail(&p) = 1;
	port_close(&p);
}

TEST(io_create_close)
{
	struct tpio_io_create_args ca;
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	__u32 io[4], io2, bad;
	__u64 w;
	int i, j, ret;

	PORT_OPEN(&p, 4, 4);
	for (i = 0; i < 4; i++) {
		memset(&ca, 0xcc, sizeof(ca));
		ca.cookie = 0x1000 + i;
		ca.flags = 0;
		ca.reserved = 0;
		ret = ioctl(p.fd, TPIO_IOC_IO_CREATE, &ca);
		ASSERT_EQ(0, ret);
		io[i] = ca.io;
		EXPECT_NE(0, io[i]);
		EXPECT_NE(0xccccccccU, io[i]);
		EXPECT_GT(4, TPIO_IO_SLOT(io[i]));
		for (j = 0; j < i; j++)
			EXPECT_NE(TPIO_IO_SLOT(io[j]), TPIO_IO_SLOT(io[i]));
		w = word_load(&p, io[i]);
		/* a fresh word: only an epoch */
		EXPECT_EQ(tpio_w_fresh(tpio_w_epoch(w) - 1), w);

		ASSERT_EQ(0, io_query(p.fd, io[i], &qa));
		EXPECT_EQ(0x1000 + i, qa.cookie);
		EXPECT_EQ(w, qa.word);
		EXPECT_EQ(0, qa.flags);
		EXPECT_EQ(0, qa.skipped);
		EXPECT_EQ(0, qa.waiters);
	}
	ret = io_create(p.fd, 9, &io2);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(ENOSPC, errno);

	/* argument validation */
	memset(&ca, 0, sizeof(ca));
	ca.flags = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_CREATE, &ca));
	EXPECT_EQ(EINVAL, errno);
	memset(&ca, 0, sizeof(ca));
	ca.reserved = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_CREATE, &ca));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_CREATE, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_CLOSE, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	/* unknown handles */
	bad = 0;
	EXPECT_EQ(-1, io_close(p.fd, bad));
	EXPECT_EQ(ENOENT, errno);
	bad = io[0] ^ 0x10000;
	EXPECT_EQ(-1, io_close(p.fd, bad));
	EXPECT_EQ(ENOENT, errno);
	bad = 5;
	EXPECT_EQ(-1, io_close(p.fd, bad));
	EXPECT_EQ(ENOENT, errno);
	bad = 0xffffffffU;
	EXPECT_EQ(-1, io_close(p.fd, bad));
	EXPECT_EQ(ENOENT, errno);

	/* close, then the slot is reused under another handle */
	w = word_load(&p, io[1]);
	ASSERT_EQ(0, io_close(p.fd, io[1]));
	EXPECT_EQ(-1, io_close(p.fd, io[1]));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, io_query(p.fd, io[1], &qa));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, io_create(p.fd, 0x77, &io2));
	EXPECT_NE(io[1], io2);
	EXPECT_EQ(TPIO_IO_SLOT(io[1]), TPIO_IO_SLOT(io2));
	EXPECT_NE(tpio_w_epoch(w), tpio_w_epoch(word_load(&p, io2)));
	EXPECT_EQ(0, word_load(&p, io2) & ~(TPIO_W_MASK(TPIO_W_EPOCH_BITS)
					    << TPIO_W_EPOCH_SHIFT));
	/* the stale handle is refused everywhere */
	EXPECT_EQ(-1, io_close(p.fd, io[1]));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, post_one(p.fd, io[1], 1, NULL));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, port_drain(p.fd, io[1], 0, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, io_wake(p.fd, io[1]));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, io_query(p.fd, io2, &qa));
	EXPECT_EQ(0x77, qa.cookie);

	/* many close/create cycles never hand out a handle twice */
	{
		__u32 prev = io2, cur;

		for (i = 0; i < 200; i++) {
			ASSERT_EQ(0, io_close(p.fd, prev));
			ASSERT_EQ(0, io_create(p.fd, i, &cur));
			EXPECT_NE(prev, cur);
			EXPECT_NE(0, cur);
			prev = cur;
		}
	}
	port_close(&p);
}

TEST(io_query_validation)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	__u32 io;

	PORT_OPEN(&p, 4, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));
	memset(&qa, 0, sizeof(qa));
	qa.io = io;
	qa.reserved = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_QUERY, &qa));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, io_query(p.fd, io + 1, &qa));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_IO_QUERY, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	port_close(&p);
}

/* Generations skip 0 when they wrap: no handle is ever 0. */
TEST(generation_wrap)
{
	struct port p = { .fd = -1 };
	__u32 io, prev, i, gen1 = 0;

	PORT_OPEN(&p, 2, 1);
	ASSERT_EQ(0, io_create(p.fd, 0, &io));
	for (i = 0; i < 0x10002; i++) {
		prev = io;
		ASSERT_EQ(0, io_close(p.fd, io));
		ASSERT_EQ(0, io_create(p.fd, i, &io));
		ASSERT_NE(prev, io);
		ASSERT_NE(0, io >> 16);
		ASSERT_EQ(0, TPIO_IO_SLOT(io));
		if (io >> 16 == 1)
			gen1++;
	}
	/* the generation went round once and started again at 1 */
	EXPECT_EQ(1, gen1);
	port_close(&p);
}

TEST(wait_wake_drain_validation)
{
	struct tpio_wait_args wa;
	struct tpio_wake_args ka;
	struct tpio_drain_args da;
	struct port p = { .fd = -1 };
	__u32 io;

	PORT_OPEN(&p, 4, 2);
	ASSERT_EQ(0, io_create(p.fd, 5, &io));

	memset(&wa, 0, sizeof(wa));
	wa.flags = 4;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(EINVAL, errno);
	/* PENDING needs the feature; without a value it changes nothing */
	wa.flags = TPIO_WAIT_PENDING;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(p.sa.features & TPIO_FEAT_CONC_PENDING ? ETIMEDOUT : EINVAL,
		  errno);
	wa.flags = 0;
	wa.seq = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAIT, (void *)8));
	EXPECT_EQ(EFAULT, errno);

	memset(&ka, 0, sizeof(ka));
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.flags = TPIO_WAKE_IO | TPIO_WAKE_WORKERS;
	ka.io = io;
	ka.count = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.flags = 4;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.flags = TPIO_WAKE_WORKERS;
	ka.io = 0;
	ka.count = 0;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.count = 1;
	ka.pad = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.pad = 0;
	/* no sleepers: nobody woken */
	EXPECT_EQ(0, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	/* WORKERS names no object */
	ka.io = io;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	/* IO takes no count */
	ka.flags = TPIO_WAKE_IO;
	ka.count = 1;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(EINVAL, errno);
	ka.count = 0;
	ka.io = io + 0x10000;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_WAKE, &ka));
	EXPECT_EQ(ENOENT, errno);
	ka.io = io;
	EXPECT_EQ(0, ioctl(p.fd, TPIO_IOC_WAKE, &ka));

	memset(&da, 0, sizeof(da));
	da.io = io;
	da.flags = 8;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_DRAIN, &da));
	EXPECT_EQ(EINVAL, errno);
	da.flags = 0;
	da.io = io + 0x10000;
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_DRAIN, &da));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, ioctl(p.fd, TPIO_IOC_DRAIN, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	/* drained at once: returns 0 without sleeping, with any timeout */
	da.io = io;
	EXPECT_EQ(0, ioctl(p.fd, TPIO_IOC_DRAIN, &da));
	da.timeout = TPIO_INFINITE;
	EXPECT_EQ(0, ioctl(p.fd, TPIO_IOC_DRAIN, &da));
	port_close(&p);
}

TEST_HARNESS_MAIN
