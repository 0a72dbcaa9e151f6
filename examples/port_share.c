// SPDX-License-Identifier: MIT
/*
 * port_share: a server process delivers completions to a client's
 * completion port (kmod backend).
 *
 * The client creates a completion port, takes its /dev/tpio file
 * descriptor (tpio_port_fd) and sends it to the server over a unix socket
 * (SCM_RIGHTS), with its requests. The server makes a post-only handle of
 * it (tpio_port_from_fd) and answers each request with
 * PostQueuedCompletionStatus: the key is the request's id, the byte count
 * its answer. The client's threads dequeue the answers with
 * GetQueuedCompletionStatusEx, without a system call while answers wait
 * in the port's ring.
 *
 *   port_share [REQUESTS]       fork a server, run the client, check
 *
 * Prints one line per phase and "port_share: ok" at the end; exit status
 * 0 on success, 1 on a failure, 2 when the backend has no port fd (user).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tpio.h>

struct request {
	uint32_t id;
	uint32_t value;
};

/* Send @fd with a one-byte message over @sock. */
static int send_fd(int sock, int fd)
{
	char byte = 'P';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

/* Receive a descriptor sent by send_fd; -1 on failure. */
static int recv_fd(int sock)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* The server: receive the client's port, answer every request into it. */
static int server(int sock)
{
	struct request r;
	HANDLE port;
	int fd = recv_fd(sock), answered = 0;

	if (fd < 0) {
		fprintf(stderr, "server: no port fd received\n");
		return 1;
	}
	port = tpio_port_from_fd(fd);
	close(fd);		/* the handle holds its own copy */
	if (!port) {
		fprintf(stderr, "server: tpio_port_from_fd: %u\n", GetLastError());
		return 1;
	}
	while (read(sock, &r, sizeof(r)) == sizeof(r)) {
		/* the answer: twice the value, delivered as a completion */
		while (!PostQueuedCompletionStatus(port, r.value * 2, r.id, NULL)) {
			if (GetLastError() != ERROR_NOT_ENOUGH_QUOTA) {
				fprintf(stderr, "server: post: %u\n", GetLastError());
				return 1;
			}
			usleep(100);	/* the client's port is full */
		}
		answered++;
	}
	CloseHandle(port);
	printf("server: answered %d requests into the client's port\n", answered);
	return 0;
}

/* Count the answers of a batch: 0, or -1 on a wrong or repeated one. */
static int account(const OVERLAPPED_ENTRY *e, ULONG k, unsigned char *seen,
		   uint32_t n, uint32_t *got, uint64_t *sum)
{
	ULONG j;

	for (j = 0; j < k; j++, (*got)++) {
		if (e[j].lpCompletionKey >= n || seen[e[j].lpCompletionKey]++) {
			fprintf(stderr, "client: a wrong or repeated answer\n");
			return -1;
		}
		*sum += e[j].dwNumberOfBytesTransferred;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 10000;
	OVERLAPPED_ENTRY e[64];
	uint64_t sum = 0, want = 0;
	uint32_t got = 0, i;
	unsigned char *seen;
	int sv[2], status, fd;
	HANDLE port;
	pid_t pid;
	ULONG k;

	setvbuf(stdout, NULL, _IOLBF, 0);
	port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (!port) {
		fprintf(stderr, "client: CreateIoCompletionPort: %u\n", GetLastError());
		return 1;
	}
	fd = tpio_port_fd(port);
	if (fd < 0) {
		printf("port_share: the %s backend has no port fd, nothing to show\n",
		       tpio_backend());
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		close(sv[0]);
		/* the child only talks to the port through the fd it receives */
		_exit(server(sv[1]));
	}
	close(sv[1]);
	seen = calloc(n, 1);
	if (!seen || send_fd(sv[0], fd))
		return 1;
	printf("client: sent the port fd, sending %u requests\n", n);
	for (i = 0; i < n; i++) {
		struct request r = { i, i % 1000 };

		want += 2 * (uint64_t)(i % 1000);
		if (write(sv[0], &r, sizeof(r)) != sizeof(r))
			return 1;
		/* take answers as they come, without waiting */
		while (GetQueuedCompletionStatusEx(port, e, 64, &k, 0, FALSE))
			if (account(e, k, seen, n, &got, &sum))
				return 1;
	}
	shutdown(sv[0], SHUT_WR);
	while (got < n) {
		if (!GetQueuedCompletionStatusEx(port, e, 64, &k, 5000, FALSE)) {
			fprintf(stderr, "client: %u of %u answers, then %u\n", got,
				n, GetLastError());
			return 1;
		}
		if (account(e, k, seen, n, &got, &sum))
			return 1;
	}
	if (waitpid(pid, &status, 0) != pid || status) {
		fprintf(stderr, "client: the server failed\n");
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!seen[i])
			return 1;
	printf("client: %u answers dequeued from its port, sum %s\n", got,
	       sum == want ? "right" : "WRONG");
	CloseHandle(port);
	free(seen);
	if (sum != want)
		return 1;
	printf("port_share: ok\n");
	return 0;
}
