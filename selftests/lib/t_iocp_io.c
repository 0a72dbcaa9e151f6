// SPDX-License-Identifier: MIT
/*
 * Completion ports with real I/O (Documentation/contract.rst, section 12):
 * overlapped reads and writes on an associated pipe and on sockets
 * complete to the port with the handle's key, failures with their status,
 * skip-on-success, the event's bit 0, and the end of an association at
 * CloseHandle. Included by io.c.
 */

static HANDLE iocp_assoc(HANDLE h, HANDLE port, ULONG_PTR key)
{
	return CreateIoCompletionPort(h, port, key, 0);
}

/* Reads on an associated pipe: pending, at once, failed; Ex sees the status. */
TEST_F(tio, iocp_pipe_reads_complete_to_port)
{
	OVERLAPPED ov[4];
	OVERLAPPED_ENTRY e[4];
	char buf[4][8];
	HANDLE port = iocp_assoc(self->h, NULL, 77);
	LPOVERLAPPED got;
	ULONG_PTR key;
	DWORD bytes, n;
	ULONG removed;

	ASSERT_NE(NULL, port);
	memset(ov, 0, sizeof(ov));
	/* pending, then the data */
	EXPECT_PENDS(ReadFile(self->h, buf[0], 8, NULL, &ov[0]), &ov[0]);
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 0));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	ASSERT_EQ(3, write(self->pfd[1], "abc", 3));
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 5000));
	EXPECT_EQ(&ov[0], got);
	EXPECT_EQ(3U, bytes);
	EXPECT_EQ(77U, key);
	EXPECT_EQ(0, memcmp(buf[0], "abc", 3));

	/* the data there: TRUE at once, and still a packet */
	ASSERT_EQ(2, write(self->pfd[1], "de", 2));
	n = 0;
	EXPECT_EQ(TRUE, ReadFile(self->h, buf[1], 8, &n, &ov[1]));
	EXPECT_EQ(2U, n);
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 5000));
	EXPECT_EQ(&ov[1], got);
	EXPECT_EQ(2U, bytes);

	/* a failed read: the writer goes away; Ex reports the status */
	EXPECT_PENDS(ReadFile(self->h, buf[2], 8, NULL, &ov[2]), &ov[2]);
	close(self->pfd[1]);
	self->pfd[1] = -1;
	ASSERT_EQ(TRUE, GetQueuedCompletionStatusEx(port, e, 4, &removed, 5000,
						    FALSE));
	ASSERT_EQ(1U, removed);
	EXPECT_EQ(&ov[2], e[0].lpOverlapped);
	EXPECT_EQ(77U, e[0].lpCompletionKey);
	EXPECT_EQ(ERROR_BROKEN_PIPE, e[0].Internal);
	EXPECT_EQ(0U, e[0].dwNumberOfBytesTransferred);
	CloseHandle(port);
}

/* GetQueuedCompletionStatus of a failed I/O: FALSE, the overlapped and the error. */
TEST_F(tio, iocp_failed_io_returns_false_with_overlapped)
{
	OVERLAPPED ov;
	char buf[4];
	HANDLE port = iocp_assoc(self->h, NULL, 5);
	LPOVERLAPPED got = NULL;
	ULONG_PTR key = 0;
	DWORD bytes = 9;

	ASSERT_NE(NULL, port);
	memset(&ov, 0, sizeof(ov));
	EXPECT_PENDS(ReadFile(self->h, buf, 4, NULL, &ov), &ov);
	ASSERT_EQ(TRUE, CancelIoEx(self->h, &ov));
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 5000));
	EXPECT_EQ(ERROR_OPERATION_ABORTED, GetLastError());
	EXPECT_EQ(&ov, got);
	EXPECT_EQ(5U, key);
	EXPECT_EQ(0U, bytes);
	CloseHandle(port);
}

/* Skip-on-success and the event's bit 0 keep packets out of the port. */
TEST_F(tio, iocp_skip_on_success_and_event_bit)
{
	OVERLAPPED ov[3];
	char buf[3][4];
	HANDLE port = iocp_assoc(self->h, NULL, 1);
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
	LPOVERLAPPED got;
	ULONG_PTR key;
	DWORD bytes, n;

	ASSERT_NE(NULL, port);
	memset(ov, 0, sizeof(ov));
	ov[0].hEvent = (HANDLE)((uintptr_t)ev | 1);
	ASSERT_EQ(1, write(self->pfd[1], "a", 1));
	EXPECT_EQ(TRUE, ReadFile(self->h, buf[0], 4, &n, &ov[0]));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(ev, 0));
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 50));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());

	ASSERT_EQ(TRUE, SetFileCompletionNotificationModes(self->h,
				FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	ASSERT_EQ(1, write(self->pfd[1], "b", 1));
	EXPECT_EQ(TRUE, ReadFile(self->h, buf[1], 4, &n, &ov[1]));
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 50));
	EXPECT_EQ(WAIT_TIMEOUT, GetLastError());
	/* a pending one still completes to the port */
	EXPECT_PENDS(ReadFile(self->h, buf[2], 4, NULL, &ov[2]), &ov[2]);
	ASSERT_EQ(1, write(self->pfd[1], "c", 1));
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 5000));
	EXPECT_EQ(&ov[2], got);
	CloseHandle(ev);
	CloseHandle(port);
}

/*
 * CloseHandle of the file ends the association: the packet queued before
 * stays; the fd number, reused, can be associated again (another port,
 * another key). A file bound to a TP_IO cannot be associated.
 */
TEST_F(tio, iocp_association_ends_at_close)
{
	OVERLAPPED ov[2];
	char buf[2][4];
	HANDLE port = iocp_assoc(self->h, NULL, 1), port2;
	LPOVERLAPPED got;
	ULONG_PTR key;
	DWORD bytes, n;
	int fd = self->pfd[0], p2[2];
	PTP_IO io;

	ASSERT_NE(NULL, port);
	memset(ov, 0, sizeof(ov));
	ASSERT_EQ(1, write(self->pfd[1], "a", 1));
	EXPECT_EQ(TRUE, ReadFile(self->h, buf[0], 4, &n, &ov[0]));
	EXPECT_EQ(TRUE, CloseHandle(self->h));
	self->pfd[0] = -1;
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 1000));
	EXPECT_EQ(&ov[0], got);
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 0));

	ASSERT_EQ(0, pipe2(p2, O_CLOEXEC));
	if (p2[0] != fd) {	/* the number was not reused: make it so */
		ASSERT_EQ(fd, dup3(p2[0], fd, O_CLOEXEC));
		close(p2[0]);
	}
	self->pfd[0] = fd;
	port2 = iocp_assoc(self->h, NULL, 2);
	ASSERT_NE(NULL, port2);
	ASSERT_EQ(1, write(p2[1], "b", 1));
	EXPECT_EQ(TRUE, ReadFile(self->h, buf[1], 4, &n, &ov[1]));
	ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port2, &bytes, &key, &got, 1000));
	EXPECT_EQ(2U, key);
	EXPECT_EQ(FALSE, GetQueuedCompletionStatus(port, &bytes, &key, &got, 0));
	close(p2[1]);

	/* an associated handle cannot be bound to a TP_IO */
	EXPECT_EQ(NULL, CreateThreadpoolIo(self->h, probe_cb, NULL, &self->env));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	/* the write end, bound to a TP_IO, cannot be associated */
	io = CreateThreadpoolIo(self->hw, probe_cb, NULL, &self->env);
	ASSERT_NE(NULL, io);
	EXPECT_EQ(NULL, iocp_assoc(self->hw, port, 3));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	CloseThreadpoolIo(io);
	CloseHandle(port);
	CloseHandle(port2);
}

/* Sockets: accept, connect, send and receive all complete to one port. */
TEST_F(tio, iocp_sockets_complete_to_port)
{
	OVERLAPPED ova, ovc, ovr, ovs;
	struct sockaddr_in addr;
	HANDLE accepted = NULL, port;
	char buf[16] = { 0 };
	int ls = listener(&addr), cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	HANDLE hl = tpio_handle_from_fd(ls), hc = tpio_handle_from_fd(cs);
	LPOVERLAPPED got;
	ULONG_PTR key;
	DWORD bytes;
	int seen = 0, i;

	ASSERT_LE(0, ls);
	ASSERT_LE(0, cs);
	memset(&ova, 0, sizeof(ova));
	memset(&ovc, 0, sizeof(ovc));
	memset(&ovr, 0, sizeof(ovr));
	memset(&ovs, 0, sizeof(ovs));
	port = iocp_assoc(hl, NULL, 100);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, iocp_assoc(hc, port, 200));
	EXPECT_PENDS(tpio_accept(hl, &accepted, &ova), &ova);
	EXPECT_PENDS(tpio_connect(hc, (struct sockaddr *)&addr, sizeof(addr),
				  &ovc), &ovc);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key,
							  &got, 5000));
		if (got == &ova) {
			EXPECT_EQ(100U, key);
			seen |= 1;
		} else {
			EXPECT_EQ(&ovc, got);
			EXPECT_EQ(200U, key);
			seen |= 2;
		}
	}
	EXPECT_EQ(3, seen);
	ASSERT_NE(NULL, accepted);
	ASSERT_EQ(port, iocp_assoc(accepted, port, 300));
	EXPECT_PENDS(ReadFile(accepted, buf, sizeof(buf), NULL, &ovr), &ovr);
	EXPECT_EQ(TRUE, WriteFile(hc, "ping", 4, NULL, &ovs));
	for (i = 0, seen = 0; i < 2; i++) {
		ASSERT_EQ(TRUE, GetQueuedCompletionStatus(port, &bytes, &key,
							  &got, 5000));
		EXPECT_EQ(4U, bytes);
		seen |= got == &ovr ? 1 : got == &ovs ? 2 : 4;
		EXPECT_EQ(got == &ovr ? 300U : 200U, key);
	}
	EXPECT_EQ(3, seen);
	EXPECT_EQ(0, memcmp(buf, "ping", 4));
	CloseHandle(accepted);
	CloseHandle(hc);
	CloseHandle(hl);
	CloseHandle(port);
}
