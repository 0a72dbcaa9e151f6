/* SPDX-License-Identifier: MIT */
/*
 * The Linux side of the echo servers (bench/echo_*.c): the command line
 * that bench/echo_client.c gives them, and setting up their connections.
 *
 *   SERVER [-t THREADS] tcp N        listen on 127.0.0.1, port chosen by the
 *                                    kernel; print "echo-port P" on stdout;
 *                                    accept N connections
 *   SERVER [-t THREADS] pipe R,W ... one connection per pair of inherited
 *                                    fds: read requests from R, echo to W
 *
 * A server echoes every byte it reads on a connection to the same
 * connection until the client closes it (end of file), and exits 0 once all
 * connections have ended cleanly; anything else is a message on stderr and
 * exit status 1. THREADS is used only by the thread-pool servers.
 */
#ifndef TPIO_ECHO_H
#define TPIO_ECHO_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* one echo connection: rfd == wfd for a socket, a pipe pair otherwise */
struct echo_fds {
	int rfd, wfd;
};

static inline void echo_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Parse the command line, set up the connections (accepting them for tcp)
 * and return how many; *threads gets -t (default 2). Exits with status 2
 * on a usage error and 1 on a system error.
 */
static inline int echo_server_setup(int argc, char **argv,
				    struct echo_fds **out, int *threads)
{
	struct echo_fds *c;
	int i = 1, n, k;

	*threads = 2;
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		*threads = atoi(argv[2]);
		i = 3;
	}
	if (argc - i < 2 || *threads < 1)
		goto usage;
	if (!strcmp(argv[i], "tcp")) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		int ls, one = 1;

		n = atoi(argv[i + 1]);
		if (n < 1)
			goto usage;
		c = calloc((size_t)n, sizeof(*c));
		ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (!c || ls < 0)
			goto sys;
		setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(ls, (struct sockaddr *)&a, sizeof(a)) ||
		    listen(ls, 128) ||
		    getsockname(ls, (struct sockaddr *)&a, &len))
			goto sys;
		printf("echo-port %d\n", ntohs(a.sin_port));
		fflush(stdout);
		for (k = 0; k < n; k++) {
			int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				goto sys;
			echo_nodelay(fd);
			c[k].rfd = c[k].wfd = fd;
		}
		close(ls);
	} else if (!strcmp(argv[i], "pipe")) {
		n = argc - i - 1;
		c = calloc((size_t)n, sizeof(*c));
		if (!c)
			goto sys;
		for (k = 0; k < n; k++)
			if (sscanf(argv[i + 1 + k], "%d,%d", &c[k].rfd,
				   &c[k].wfd) != 2)
				goto usage;
	} else {
		goto usage;
	}
	*out = c;
	return n;
usage:
	fprintf(stderr, "usage: %s [-t THREADS] tcp N | pipe R,W...\n",
		argv[0]);
	exit(2);
sys:
	perror(argv[0]);
	exit(1);
}

#endif /* TPIO_ECHO_H */
