// SPDX-License-Identifier: MIT
/*
 * /dev/tpio across processes: fork while threads sleep in the port, the
 * port outliving the fd of its creator, a process killed while it sleeps,
 * and posting from another process that received the fd over a unix
 * socket (SCM_RIGHTS).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/wait.h>

#include "tpio_test.h"

/* Exit status of a child: 0 when it did everything it was asked. */
static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* The child of fork_during_waits: post one completion, then cancel one. */
static int fork_child(struct port *p, __u32 io_w, __u32 io_d)
{
	__u32 res = 0;

	io_start(p, io_w, 1);
	if (post_one(p->fd, io_w, 0xf0f0, &res) || res != TPIO_POSTED_QUEUED)
		return 1;
	/* the parent's drainer waits for this pending Start to go away */
	if (!io_cancel(p, io_d))
		return 2;
	return 0;
}

/*
 * fork() while one thread sleeps in WAIT and another in DRAIN: the child
 * shares the port and the mapping; its POST releases the parent's worker
 * and its Cancel (with WAKE) the parent's drainer.
 */
TEST(fork_during_waits)
{
	struct tpio_wait_args wa = { .timeout = TPIO_INFINITE };
	struct tpio_drain_args da = { .timeout = TPIO_INFINITE };
	struct blocked_call waiter, drainer;
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io_w, io_d;
	pid_t pid;

	PORT_OPEN(&p, 8, 4);
	ASSERT_EQ(0, io_create(p.fd, 0x11, &io_w));
	ASSERT_EQ(0, io_create(p.fd, 0x22, &io_d));
	io_start(&p, io_d, 1);
	da.io = io_d;
	ASSERT_EQ(0, blocked_call_start(&waiter, p.fd, TPIO_IOC_WAIT, &wa));
	ASSERT_EQ(0, blocked_call_start(&drainer, p.fd, TPIO_IOC_DRAIN, &da));
	ASSERT_TRUE(POLL_UNTIL(tpio_w_waiters(word_load(&p, io_d)),
			       RELEASE_MS));
	EXPECT_EQ(ETIMEDOUT, join_within(waiter.thread, BLOCKED_MS));

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(fork_child(&p, io_w, io_d));
	EXPECT_EQ(0, child_status(pid));

	ASSERT_EQ(0, join_within(waiter.thread, RELEASE_MS));
	EXPECT_EQ(0, waiter.ret);
	ASSERT_EQ(0, join_within(drainer.thread, RELEASE_MS));
	EXPECT_EQ(0, drainer.ret);
	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_EQ(0x11, e.cookie);
	EXPECT_EQ(0xf0f0, e.overlapped);
	port_close(&p);
}

/*
 * close(fd) and munmap while another thread of the process sleeps in WAIT:
 * the sleeper keeps the port alive and is still asleep; a signal ends its
 * wait, and then the port is released.
 */
TEST(close_while_thread_waits)
{
	struct tpio_wait_args wa = { .timeout = TPIO_INFINITE };
	struct port p = { .fd = -1 };
	struct blocked_call w;
	long refs;

	ASSERT_EQ(0, install_eintr_handler());
	refs = module_refcnt();
	PORT_OPEN(&p, 8, 4);
	ASSERT_EQ(0, blocked_call_start(&w, p.fd, TPIO_IOC_WAIT, &wa));
	EXPECT_EQ(ETIMEDOUT, join_within(w.thread, BLOCKED_MS));
	port_close(&p);
	EXPECT_EQ(ETIMEDOUT, join_within(w.thread, BLOCKED_MS));
	if (refs >= 0)
		EXPECT_EQ(refs + 1, module_refcnt());
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, join_within(w.thread, RELEASE_MS));
	EXPECT_EQ(-1, w.ret);
	EXPECT_EQ(EINTR, w.err);
	if (refs >= 0)
		EXPECT_TRUE(POLL_UNTIL(module_refcnt() == refs, RELEASE_MS));
}

/*
 * The creator closes its fd and unmaps while a child still holds the
 * port and sleeps in it: the child's wait is unaffected, and the port
 * keeps working for the child.
 */
static int holder_child(struct port *p, int go)
{
	struct tpio_cqe e;
	__u32 io, res;
	char c;

	/* sleeps across the parent's close(fd) */
	if (port_wait(p->fd, deadline_ms(300)) != -1 || errno != ETIMEDOUT)
		return 1;
	if (read(go, &c, 1) != 1)
		return 2;
	if (io_create(p->fd, 0x33, &io))
		return 3;
	io_start(p, io, 1);
	if (post_one(p->fd, io, 5, &res) || res != TPIO_POSTED_QUEUED)
		return 4;
	if (port_wait(p->fd, TPIO_INFINITE))
		return 5;
	if (!ring_take(p, &e) || e.cookie != 0x33 || e.overlapped != 5)
		return 6;
	if (!io_begin(p, io, e.epoch))
		return 7;
	io_end(p, io);
	if (port_drain(p->fd, io, 0, 0))
		return 8;
	return 0;
}

TEST(close_while_child_holds)
{
	struct port p = { .fd = -1 };
	long refs;
	int go[2];
	pid_t pid;

	refs = module_refcnt();
	PORT_OPEN(&p, 8, 4);
	if (refs >= 0)
		EXPECT_EQ(refs + 1, module_refcnt());
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(go[1]);
		_exit(holder_child(&p, go[0]));
	}
	close(go[0]);
	usleep(50000);
	port_close(&p);
	/* the child still holds the port */
	if (refs >= 0)
		EXPECT_EQ(refs + 1, module_refcnt());
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	EXPECT_EQ(0, child_status(pid));
	/* its exit released the port */
	if (refs >= 0)
		EXPECT_TRUE(POLL_UNTIL(module_refcnt() == refs, RELEASE_MS));
}

/*
 * A child killed with SIGKILL while it sleeps in WAIT and in DRAIN: it
 * leaves no sleeper behind, and the parent's port works normally.
 */
TEST(kill_child_in_wait)
{
	struct tpio_io_query_args qa;
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, res;
	long refs;
	pid_t pid;

	refs = module_refcnt();
	PORT_OPEN(&p, 8, 4);
	ASSERT_EQ(0, io_create(p.fd, 0x44, &io));
	io_start(&p, io, 1);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct tpio_drain_args da = { .timeout = TPIO_INFINITE,
					      .io = io };
		struct tpio_wait_args wa = { .timeout = TPIO_INFINITE };
		struct blocked_call d;

		blocked_call_start(&d, p.fd, TPIO_IOC_DRAIN, &da);
		ioctl(p.fd, TPIO_IOC_WAIT, &wa);
		_exit(99);
	}
	/* the child is asleep in both once WAITERS shows and a moment passed */
	ASSERT_TRUE(POLL_UNTIL(tpio_w_waiters(word_load(&p, io)),
			       RELEASE_MS));
	usleep(BLOCKED_MS * 1000);
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(1, qa.waiters);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, child_status(pid));

	/* no sleeper is left in the port */
	ASSERT_EQ(0, io_query(p.fd, io, &qa));
	EXPECT_EQ(0, qa.waiters);
	EXPECT_EQ(0, wake_workers(p.fd, 10));

	/* and the port works */
	ASSERT_EQ(0, post_one(p.fd, io, 9, &res));
	EXPECT_EQ(TPIO_POSTED_QUEUED, res);
	EXPECT_EQ(0, port_wait(p.fd, TPIO_INFINITE));
	ASSERT_TRUE(ring_take(&p, &e));
	EXPECT_EQ(9, e.overlapped);
	EXPECT_TRUE(io_begin(&p, io, e.epoch));
	io_end(&p, io);
	EXPECT_EQ(0, port_drain(p.fd, io, 0, 0));
	EXPECT_EQ(0, word_load(&p, io) & ~(TPIO_W_MASK(TPIO_W_EPOCH_BITS) <<
					   TPIO_W_EPOCH_SHIFT));
	port_close(&p);
	if (refs >= 0)
		EXPECT_TRUE(POLL_UNTIL(module_refcnt() == refs, RELEASE_MS));
}

/*
 * A process that exits with threads asleep in its own port: it must exit
 * promptly (the runner's rmmod afterwards checks that the port was
 * released).
 */
TEST(exit_with_sleepers)
{
	long refs;
	pid_t pid;
	int fd;

	OPEN_PORT(fd);
	close(fd);
	refs = module_refcnt();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct tpio_wait_args wa = { .timeout = TPIO_INFINITE };
		struct tpio_setup_args sa = { .ring_entries = 4,
					      .max_objects = 2 };
		struct blocked_call c[2];
		int pfd = open(TPIO_DEV, O_RDWR);

		if (pfd < 0 || ioctl(pfd, TPIO_IOC_SETUP, &sa))
			_exit(1);
		blocked_call_start(&c[0], pfd, TPIO_IOC_WAIT, &wa);
		blocked_call_start(&c[1], pfd, TPIO_IOC_WAIT, &wa);
		usleep(BLOCKED_MS * 1000);
		/* exit_group with two threads asleep in WAIT */
		exit(0);
	}
	EXPECT_EQ(0, child_status(pid));
	if (refs >= 0)
		EXPECT_TRUE(POLL_UNTIL(module_refcnt() == refs, RELEASE_MS));
}

static int send_fd(int sock, int fd, __u32 io)
{
	char buf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &io, .iov_len = sizeof(io) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cm;

	memset(buf, 0, sizeof(buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == sizeof(io) ? 0 : -1;
}

static int recv_fd(int sock, __u32 *io)
{
	char buf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = io, .iov_len = sizeof(*io) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != sizeof(*io))
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * The poster never inherited the port: it receives the fd over a unix
 * socket and POSTs a batch (results come back to it); the creator's ring
 * receives the entries.
 */
static int remote_poster(int sock)
{
	struct tpio_completion c[4];
	struct tpio_post_args pa;
	__u32 io, i;
	int fd;

	fd = recv_fd(sock, &io);
	if (fd < 0)
		return 1;
	memset(c, 0, sizeof(c));
	for (i = 0; i < 4; i++) {
		c[i].io = io;
		c[i].status = 38;
		c[i].overlapped = 0x100 + i;
		c[i].information = i;
	}
	memset(&pa, 0, sizeof(pa));
	pa.completions = (uintptr_t)c;
	pa.count = 4;
	pa.flags = TPIO_POST_RESULTS;
	if (ioctl(fd, TPIO_IOC_POST, &pa) || pa.done != 4)
		return 2;
	for (i = 0; i < 3; i++)
		if (c[i].result != TPIO_POSTED_QUEUED)
			return 3;
	if (c[3].result != TPIO_POSTED_DROPPED)
		return 4;
	close(fd);
	return 0;
}

TEST(scm_rights_post)
{
	struct port p = { .fd = -1 };
	struct tpio_cqe e;
	__u32 io, i;
	int sv[2];
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(sv[0]);
		_exit(remote_poster(sv[1]));
	}
	close(sv[1]);
	p.fd = open(TPIO_DEV, O_RDWR | O_CLOEXEC);
	if (p.fd < 0 && errno == ENOENT) {
		kill(pid, SIGKILL);
		child_status(pid);
		SKIP(return, TPIO_DEV " absent: module not loaded");
	}
	ASSERT_LE(0, p.fd);
	__port_map(_metadata, &p, 8, 2);
	ASSERT_EQ(0, io_create(p.fd, 0x55, &io));
	io_start(&p, io, 3);
	ASSERT_EQ(0, send_fd(sv[0], p.fd, io));
	EXPECT_EQ(0, child_status(pid));
	close(sv[0]);

	EXPECT_EQ(3, ring_count(&p));
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE(ring_take(&p, &e));
		EXPECT_EQ(0x55, e.cookie);
		EXPECT_EQ(0x100 + i, e.overlapped);
		EXPECT_EQ(i, e.information);
		EXPECT_EQ(38, e.status);
		EXPECT_TRUE(io_begin(&p, io, e.epoch));
		io_end(&p, io);
	}
	EXPECT_EQ(0, port_drain(p.fd, io, 0, 0));
	port_close(&p);
}

TEST_HARNESS_MAIN
