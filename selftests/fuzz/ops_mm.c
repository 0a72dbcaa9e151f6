// SPDX-License-Identifier: MIT
/*
 * tpio_fuzz: everything around the ioctls. Port fds (open, close, dup,
 * SCM_RIGHTS with fds left in flight), the two mappings (mmap with valid
 * and invalid offsets, lengths, protections and types; munmap of all or
 * part; mprotect; madvise; mremap), the user-space half of the protocol
 * (Start and Cancel on state words, consuming ring entries and running
 * their "callbacks"), hostile writes to the shared area, and processes
 * and signals (fork, sleeping children, SIGKILL, SIGSTOP, signals to
 * threads).
 *
 * Invariants checked here: mmap and mprotect never give user space a
 * writable ring, a mapping past an area, or a private mapping; mremap
 * never grows a mapping; the ring header is what SETUP set; every ring
 * entry names a slot of the port and carries a cookie of the port.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

void non_ioctl_begin(struct worker *w, enum op op, int fd,
		     const uint64_t a[4])
{
	trace_begin(w, op, fd, 0, PK_NONE_ARG, a, now_ns());
}

void non_ioctl_end(struct worker *w, enum op op, int64_t ret, int err)
{
	trace_end(w, ret, err);
	stats_add(op, ret, err);
	w->calls++;
}

/* A call that cannot block, traced after the fact. */
void non_ioctl(struct worker *w, enum op op, int fd, const uint64_t a[4],
	       int64_t ret, int err)
{
	non_ioctl_begin(w, op, fd, a);
	non_ioctl_end(w, op, ret, err);
}

/* ---- fds ---- */

/*
 * Frees the slot of a port this process only maps (all its fds closed):
 * unmaps it, which may release it. Called with the model locked.
 */
static struct port *evict_port(struct worker *w)
{
	struct round *r = w->r;
	int i, j;

	for (i = 0; i < r->prof.max_ports; i++) {
		struct port *p = &r->ports[(below(w, MAX_PORTS) + i) %
					   r->prof.max_ports];

		if (!p->used || port_nfds(p))
			continue;
		pthread_rwlock_wrlock(&p->map_lock);
		for (j = 0; j < MAX_MAPS; j++) {
			if (p->maps[j].addr)
				munmap(p->maps[j].addr, p->maps[j].len);
			p->maps[j].addr = NULL;
		}
		pthread_rwlock_unlock(&p->map_lock);
		port_maybe_free(p);
		return p;
	}
	return NULL;
}

void op_open(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { 0 };
	int i, fd, mode, flags, err, sinflight, cinflight;
	uint32_t sraced, craced;

	mode = chance(w, 85) ? O_RDWR : chance(w, 50) ? O_RDONLY : O_WRONLY;
	flags = mode | (chance(w, 70) ? O_CLOEXEC : 0) |
		(chance(w, 10) ? O_NONBLOCK : 0);
	a[0] = (uint64_t)flags;
	/*
	 * A SETUP or IO_CREATE made through a number closed meanwhile can
	 * land on this port before it is in the model: then it is only
	 * "maybe" not set up, and may hold another port's cookies.
	 */
	model_lock(r);
	sraced = r->setups_raced;
	craced = r->creates_raced;
	sinflight = r->setups_inflight;
	cinflight = r->creates_inflight;
	model_unlock(r);
	non_ioctl_begin(w, OP_OPEN, -1, a);
	fd = open("/dev/tpio", flags);
	err = fd < 0 ? errno : 0;
	non_ioctl_end(w, OP_OPEN, fd, err);
	if (fd < 0) {
		if (err != ENOMEM && err != EMFILE && err != ENFILE &&
		    err != EDQUOT)
			violation(w, "open(/dev/tpio, %#x): %s", flags,
				  errno_name(err));
		return;
	}
	model_lock(r);
	for (i = 0; i < r->prof.max_ports; i++) {
		struct port *p = &r->ports[i];

		if (!p->used || (p = evict_port(w))) {
			port_init(p, fd, mode, (uint32_t)rnd(w));
			if (sinflight || r->setups_inflight ||
			    r->setups_raced != sraced)
				p->setup = SETUP_MAYBE;
			if (cinflight || r->creates_inflight ||
			    r->creates_raced != craced)
				p->untagged = 1;
			model_unlock(r);
			return;
		}
	}
	model_unlock(r);
	close(fd);	/* never in the model: nobody can have chosen it */
}

void op_close(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { 0 };
	struct port *p;
	int i, n = 0, idx[MAX_FDS], fd, ret;

	model_lock(r);
	p = pick_port(w, 0);
	if (!p) {
		model_unlock(r);
		return;
	}
	for (i = 0; i < MAX_FDS; i++)
		if (p->fds[i] >= 0)
			idx[n++] = i;
	i = idx[below(w, n)];
	fd = p->fds[i];
	port_forget_fd(r, p, i);
	port_maybe_free(p);
	model_unlock(r);
	ret = close(fd);
	non_ioctl(w, OP_CLOSE, fd, a, ret, ret ? errno : 0);
	if (ret)
		violation(w, "close(%d), a port fd: %s", fd, errno_name(errno));
}

void op_dup(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { 0 };
	int i, fd, nfd, mode, err;
	struct port *p;

	model_lock(r);
	p = pick_port(w, 0);
	for (i = 0; p && i < MAX_FDS && p->fds[i] >= 0; i++)
		;
	if (!p || i == MAX_FDS) {
		model_unlock(r);
		return;
	}
	/* under the lock: nobody closes an fd the model still holds */
	fd = pick_port_fd(w, p, &mode);
	nfd = chance(w, 50) ? dup(fd) :
			      fcntl(fd, F_DUPFD_CLOEXEC, 3 + (int)below(w, 60));
	err = nfd < 0 ? errno : 0;
	if (nfd >= 0) {
		p->fds[i] = nfd;
		p->fd_mode[i] = mode;
	}
	model_unlock(r);
	a[0] = (uint64_t)nfd;
	non_ioctl(w, OP_DUP, fd, a, nfd, err);
	if (nfd < 0 && err != EMFILE)
		violation(w, "dup of port fd %d: %s", fd, errno_name(err));
}

/* Received fds of port @p become its fds if nothing was closed since. */
static void adopt_fds(struct worker *w, struct port *p, uint32_t serial,
		      uint64_t closes, int mode, const int *fds, int n)
{
	struct round *r = w->r;
	int i, j;

	model_lock(r);
	for (i = 0; i < n; i++) {
		for (j = 0; j < MAX_FDS && p->fds[j] >= 0; j++)
			;
		if (j < MAX_FDS && atomic_load(&p->serial) == serial &&
		    atomic_load(&r->closes) == closes && fds[i] >= 0) {
			p->fds[j] = fds[i];
			p->fd_mode[j] = mode;
		} else if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
	model_unlock(r);
}

/*
 * Sends port fds over a unix socket: received back as new fds of the
 * port, or left in flight when both ends close (the socket garbage
 * collector then releases them, maybe the port with them).
 */
void op_sendfd(struct worker *w)
{
	struct round *r = w->r;
	char cbuf[CMSG_SPACE(3 * sizeof(int))], byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	uint64_t a[4] = { 0 }, closes;
	int sv[2], fds[3], n = 1, fd, mode, type, recv_back, got = 0;
	uint32_t serial;
	struct port *p;

	type = chance(w, 50) ? SOCK_STREAM : SOCK_DGRAM;
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv))
		return;
	model_lock(r);
	p = pick_port(w, 0);
	fd = p ? pick_port_fd(w, p, &mode) : -1;
	serial = p ? atomic_load(&p->serial) : 0;
	closes = atomic_load(&r->closes);
	model_unlock(r);
	fds[0] = fd;
	if (chance(w, 25))
		fds[n++] = sv[chance(w, 50)];	/* a socket in flight in itself */
	if (chance(w, 25))
		fds[n++] = fd;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	recv_back = chance(w, 60);
	a[0] = (uint64_t)n;
	a[1] = (uint64_t)recv_back;
	a[2] = (uint64_t)type;
	non_ioctl_begin(w, OP_SENDFD, fd, a);
	if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) == 1 && recv_back) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_controllen = sizeof(cbuf);
		if (recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) == 1 &&
		    (cm = CMSG_FIRSTHDR(&mh)) && cm->cmsg_type == SCM_RIGHTS) {
			got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(cm), got * sizeof(int));
		}
	}
	non_ioctl_end(w, OP_SENDFD, got, 0);
	if (got && p) {
		/* the first came from the port; the others may be sockets */
		adopt_fds(w, p, serial, closes, mode, fds, 1);
		while (--got > 0)
			close(fds[got]);
	}
	close(sv[0]);
	close(sv[1]);
}

/* ---- mappings ---- */

struct map_plan {
	struct port *p;
	uint32_t serial;
	uint64_t closes;
	int fd, mode, setup, area;	/* area: 0 ring, 1 shared, 2 bad */
	uint32_t setups;		/* round.setups when chosen */
	size_t size, len;		/* size 0: unknown */
	off_t off;
	int prot, flags, mi;
};

static size_t area_size(const struct port *p, int shared)
{
	if (p->sa_known)
		return shared ? p->sa.shared_size : p->sa.ring_size;
	if (!p->entries || !p->objects)
		return 0;
	/* the sizes Documentation/kmod.rst gives */
	if (shared)
		return (64 + 8 * (size_t)p->objects + PAGE - 1) & ~(PAGE - 1);
	return (128 + 32 * (size_t)p->entries + PAGE - 1) & ~(PAGE - 1);
}

static int free_map(const struct port *p)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (!p->maps[i].addr)
			return i;
	return -1;
}

static void map_choose(struct worker *w, struct map_plan *m)
{
	static const off_t bad_off[] = { 0x1000, 0x20000000,
					 TPIO_OFF_SHARED + 0x1000,
					 0x7fff0000000 };
	uint64_t x = below(w, 100);

	m->area = x < 45 ? 0 : x < 92 ? 1 : 2;
	m->off = m->area == 0 ? (off_t)TPIO_OFF_RING : m->area == 1 ?
		 (off_t)TPIO_OFF_SHARED : bad_off[below(w, 4)];
	m->size = m->area == 2 ? 0 : area_size(m->p, m->area);
	if (!m->size)
		m->len = PAGE * (chance(w, 90) ? 1 : 2);
	else if (chance(w, 60))
		m->len = m->size;
	else if (chance(w, 88))
		m->len = PAGE * (1 + below(w, m->size / PAGE));
	else
		m->len = m->size + PAGE * (1 + below(w, 2));
	x = below(w, 100);
	if (m->area != 1)
		m->prot = x < 85 ? PROT_READ : x < 92 ? PROT_READ | PROT_WRITE :
			  x < 96 ? PROT_READ | PROT_EXEC : PROT_NONE;
	else
		m->prot = x < 85 ? PROT_READ | PROT_WRITE : x < 92 ? PROT_READ :
			  x < 96 ? PROT_NONE :
				   PROT_READ | PROT_WRITE | PROT_EXEC;
	x = below(w, 100);
	m->flags = x < 92 ? MAP_SHARED : x < 96 ? MAP_PRIVATE :
		   MAP_SHARED_VALIDATE;
}

/*
 * The answer of mmap, in the order do_mmap() and tpio_mmap() check;
 * -1: not known (ENOMEM is always possible).
 */
static int map_expect(const struct map_plan *m)
{
	int shared = m->flags != MAP_PRIVATE;

	if (m->mode == O_WRONLY)
		return EACCES;
	if (shared && (m->prot & PROT_WRITE) && m->mode != O_RDWR)
		return EACCES;
	if (m->setup == SETUP_NO)
		return EINVAL;
	if (m->setup != SETUP_YES)
		return -1;
	/* a MAP_SHARED mapping of a read-only fd is not VM_SHARED */
	if (!shared || m->mode != O_RDWR)
		return EINVAL;
	if (m->area == 2)
		return EINVAL;
	if (m->area == 0 && (m->prot & PROT_WRITE))
		return EPERM;
	if (!m->size)
		return -1;
	return m->len > m->size ? EINVAL : 0;
}

/* The ring header of a fresh mapping: what SETUP set, never changed. */
static void check_ring_header(struct worker *w, const struct port *p,
			      const unsigned char *ring)
{
	const struct tpio_ring_offsets *ro = &p->sa.ring_off;
	uint32_t magic = *(const uint32_t *)(ring + ro->magic);
	uint32_t version = *(const uint32_t *)(ring + ro->version);
	uint32_t entries = *(const uint32_t *)(ring + ro->ring_entries);
	uint32_t mask = *(const uint32_t *)(ring + ro->ring_mask);
	uint32_t flags = *(const uint32_t *)(ring + ro->flags);
	uint32_t overflow = *(const uint32_t *)(ring + ro->overflow);

	if (magic != TPIO_RING_MAGIC || version != TPIO_ABI_VERSION ||
	    entries != p->entries || mask != p->entries - 1 ||
	    (flags & ~TPIO_RING_F_OVERFLOW) || overflow > p->entries)
		violation(w, "ring header: magic %#x version %u entries %u "
			  "mask %#x flags %#x overflow %u (port of %u entries)",
			  magic, version, entries, mask, flags, overflow,
			  p->entries);
}

/* Records a new mapping, or unmaps it if the port changed meanwhile. */
static void map_record(struct worker *w, struct map_plan *m, void *addr)
{
	struct round *r = w->r;
	struct port *p = m->p;
	int i;

	model_lock(r);
	pthread_rwlock_wrlock(&p->map_lock);
	i = free_map(p);
	if (i < 0 || atomic_load(&p->serial) != m->serial ||
	    atomic_load(&r->closes) != m->closes || m->area == 2) {
		munmap(addr, m->len);
	} else {
		p->maps[i] = (struct mapping){ .addr = addr, .len = m->len,
					       .shared = m->area == 1,
					       .prot = m->prot };
		if (m->area == 0 && (m->prot & PROT_READ) && p->sa_known)
			check_ring_header(w, p, addr);
	}
	pthread_rwlock_unlock(&p->map_lock);
	model_unlock(r);
}

void op_mmap(struct worker *w)
{
	struct map_plan m = { 0 };
	uint64_t a[4];
	void *addr;
	int expect, err;

	model_lock(w->r);
	m.p = pick_port(w, 1);
	if (!m.p || free_map(m.p) < 0) {
		model_unlock(w->r);
		return;
	}
	m.fd = pick_port_fd(w, m.p, &m.mode);
	m.serial = atomic_load(&m.p->serial);
	m.closes = atomic_load(&w->r->closes);
	m.setup = m.p->setup;
	if (m.setup == SETUP_NO && w->r->setups_inflight)
		m.setup = SETUP_MAYBE;
	m.setups = w->r->setups;
	map_choose(w, &m);
	model_unlock(w->r);

	a[0] = m.len;
	a[1] = (uint64_t)m.prot;
	a[2] = (uint64_t)m.flags;
	a[3] = (uint64_t)m.off;
	non_ioctl_begin(w, OP_MMAP, m.fd, a);
	addr = mmap(NULL, m.len, m.prot, m.flags, m.fd, m.off);
	err = addr == MAP_FAILED ? errno : 0;
	non_ioctl_end(w, OP_MMAP, addr == MAP_FAILED ? -1 : 0, err);

	expect = map_expect(&m);
	model_lock(w->r);
	if (atomic_load(&w->r->closes) != m.closes ||
	    (m.setup == SETUP_NO && w->r->setups != m.setups))
		expect = -1;	/* the fd or the setup state may have changed */
	model_unlock(w->r);
	if (expect > 0 && addr != MAP_FAILED)
		violation(w, "mmap(len %zu of %zu, prot %#x, flags %#x, off "
			  "%#llx, fd mode %d) succeeded; expected %s", m.len,
			  m.size, m.prot, m.flags, (unsigned long long)m.off,
			  m.mode, errno_name(expect));
	if (expect >= 0 && addr == MAP_FAILED && err != expect &&
	    err != ENOMEM && !(err == EPERM && (m.prot & PROT_EXEC)))
		violation(w, "mmap(len %zu of %zu, prot %#x, flags %#x, off "
			  "%#llx, fd mode %d): %s; expected %s", m.len, m.size,
			  m.prot, m.flags, (unsigned long long)m.off, m.mode,
			  errno_name(err), expect ? errno_name(expect) : "success");
	if (addr != MAP_FAILED)
		map_record(w, &m, addr);
}

/*
 * Chooses a mapping to change: returns its port with the model locked
 * and the port's map_lock held for writing, or NULL.
 */
static struct port *map_pick_locked(struct worker *w, struct mapping **mp)
{
	struct round *r = w->r;
	int i, n = 0, pi[MAX_PORTS * MAX_MAPS], mi[MAX_PORTS * MAX_MAPS], k;

	model_lock(r);
	for (i = 0; i < MAX_PORTS * MAX_MAPS; i++) {
		struct port *p = &r->ports[i / MAX_MAPS];

		if (p->used && p->maps[i % MAX_MAPS].addr) {
			pi[n] = i / MAX_MAPS;
			mi[n++] = i % MAX_MAPS;
		}
	}
	if (!n) {
		model_unlock(r);
		return NULL;
	}
	k = (int)below(w, n);
	pthread_rwlock_wrlock(&r->ports[pi[k]].map_lock);
	*mp = &r->ports[pi[k]].maps[mi[k]];
	return &r->ports[pi[k]];
}

static void map_unlock(struct worker *w, struct port *p)
{
	pthread_rwlock_unlock(&p->map_lock);
	port_maybe_free(p);
	model_unlock(w->r);
}

/*
 * Unmaps a whole mapping, or its first or last page (which splits the
 * VMA). The model keeps only mappings that start at offset 0 of their
 * area, so after the first page goes the rest goes too.
 */
void op_munmap(struct worker *w)
{
	struct mapping *m;
	struct port *p = map_pick_locked(w, &m);
	uint64_t a[4] = { 0 };
	unsigned char *addr;
	int ret, how;

	if (!p)
		return;
	how = m->len > PAGE ? (int)below(w, 3) : 0;
	addr = how == 2 ? m->addr + m->len - PAGE : m->addr;
	a[0] = (uintptr_t)addr;
	a[1] = how ? PAGE : m->len;
	ret = munmap(addr, a[1]);
	non_ioctl(w, OP_MUNMAP, -1, a, ret, ret ? errno : 0);
	if (ret)
		violation(w, "munmap(%p, %llu) of a port mapping: %s", addr,
			  (unsigned long long)a[1], errno_name(errno));
	if (how == 1)
		munmap(m->addr + PAGE, m->len - PAGE);
	if (how == 2)
		m->len -= PAGE;
	else
		m->addr = NULL;
	map_unlock(w, p);
}

void op_mprotect(struct worker *w)
{
	static const int prots[] = { PROT_NONE, PROT_READ,
				     PROT_READ | PROT_WRITE,
				     PROT_READ | PROT_WRITE | PROT_EXEC };
	struct mapping *m;
	struct port *p = map_pick_locked(w, &m);
	uint64_t a[4] = { 0 };
	int prot, ret, err;

	if (!p)
		return;
	prot = prots[below(w, 4)];
	if (!m->shared && chance(w, 50))
		prot = PROT_READ | PROT_WRITE;
	a[0] = (uintptr_t)m->addr;
	a[1] = m->len;
	a[2] = (uint64_t)prot;
	ret = mprotect(m->addr, m->len, prot);
	err = ret ? errno : 0;
	non_ioctl(w, OP_MPROTECT, -1, a, ret, err);
	if (!m->shared && (prot & PROT_WRITE) && !ret)
		violation(w, "mprotect made a ring mapping writable");
	if (ret && !(prot & PROT_WRITE && !m->shared) &&
	    !(prot & PROT_EXEC) && err != ENOMEM)
		violation(w, "mprotect(%#x) of a %s mapping: %s", prot,
			  m->shared ? "shared" : "ring", errno_name(err));
	if (!ret)
		m->prot = prot;
	map_unlock(w, p);
}

void op_madvise(struct worker *w)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT,
		MADV_DONTFORK, MADV_DOFORK, MADV_DONTDUMP, MADV_DODUMP,
		MADV_RANDOM, MADV_SEQUENTIAL, MADV_NORMAL, MADV_FREE,
		MADV_REMOVE, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
		MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_COLLAPSE, MADV_WIPEONFORK,
		MADV_KEEPONFORK,
	};
	struct mapping *m;
	struct port *p = map_pick_locked(w, &m);
	uint64_t a[4] = { 0 };
	int adv, ret, fork_adv;
	size_t len;

	if (!p)
		return;
	adv = advice[below(w, sizeof(advice) / sizeof(advice[0]))];
	fork_adv = adv == MADV_DONTFORK || adv == MADV_DOFORK ||
		   adv == MADV_WIPEONFORK || adv == MADV_KEEPONFORK;
	/* what fork keeps is tracked per mapping: all of it or nothing */
	len = fork_adv || chance(w, 70) ? m->len : PAGE;
	a[0] = (uintptr_t)m->addr;
	a[1] = len;
	a[2] = (uint64_t)adv;
	ret = madvise(m->addr, len, adv);
	non_ioctl(w, OP_MADVISE, -1, a, ret, ret ? errno : 0);
	/*
	 * The mm's answers are not tpio's to judge; keep the model safe: a
	 * zap may have been applied in part even if madvise failed.
	 */
	if (adv == MADV_DONTNEED || adv == MADV_FREE ||
	    adv == MADV_REMOVE || adv == MADV_PAGEOUT || adv == MADV_COLD)
		m->zapped = 1;
	if (!ret && (adv == MADV_DONTFORK || adv == MADV_WIPEONFORK))
		m->dontfork = 1;
	if (!ret && adv == MADV_DOFORK)
		m->dontfork = 0;
	map_unlock(w, p);
}

void op_mremap(struct worker *w)
{
	struct mapping *m;
	struct port *p = map_pick_locked(w, &m);
	uint64_t a[4] = { 0 };
	size_t nlen;
	void *addr;
	int flags, err;

	if (!p)
		return;
	if (m->len > PAGE && chance(w, 30)) {
		nlen = m->len - PAGE;
		flags = 0;
	} else if (chance(w, 80)) {
		nlen = m->len + PAGE * (1 + below(w, 4));
		flags = chance(w, 50) ? MREMAP_MAYMOVE : 0;
	} else {
		nlen = m->len;
		flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
	}
	a[0] = (uintptr_t)m->addr;
	a[1] = m->len;
	a[2] = nlen;
	a[3] = (uint64_t)flags;
	addr = mremap(m->addr, m->len, nlen, flags);
	err = addr == MAP_FAILED ? errno : 0;
	non_ioctl(w, OP_MREMAP, -1, a, addr == MAP_FAILED ? -1 : 0, err);
	if (addr != MAP_FAILED && nlen >= m->len)
		violation(w, "mremap(%zu -> %zu, flags %#x) of a VM_DONTEXPAND "
			  "mapping succeeded", m->len, nlen, flags);
	if (addr == MAP_FAILED && nlen < m->len && err != ENOMEM)
		violation(w, "mremap shrinking a port mapping: %s",
			  errno_name(err));
	if (addr != MAP_FAILED)
		m->len = nlen;
	map_unlock(w, p);
}

/* ---- the user side of the protocol ---- */

struct word_ref {
	struct port *p;
	uint32_t serial, io;
	struct tpio_setup_args sa;
	uint32_t entries, objects, tag;
	int untagged;
};

/* A port the model fully knows (our SETUP), with a live handle if @io. */
static int word_pick(struct worker *w, struct word_ref *ref, int io)
{
	struct port *p;

	model_lock(w->r);
	p = pick_port(w, 1);
	if (!p || !p->sa_known || (io && !p->nlive)) {
		model_unlock(w->r);
		return 0;
	}
	ref->p = p;
	ref->serial = atomic_load(&p->serial);
	ref->io = io ? p->live[below(w, p->nlive)].io : 0;
	ref->sa = p->sa;
	ref->entries = p->entries;
	ref->objects = p->objects;
	ref->tag = p->tag;
	ref->untagged = p->untagged;
	model_unlock(w->r);
	return 1;
}

/* The state word of @slot in a mapping user space may write; the caller
 * holds the map lock for reading. */
static _Atomic uint64_t *word_ptr(struct word_ref *ref, uint32_t slot)
{
	size_t end = ref->sa.shared_off.words + 8 * ((size_t)slot + 1);
	struct mapping *m;

	if (atomic_load(&ref->p->serial) != ref->serial ||
	    slot >= ref->objects)
		return NULL;
	m = port_map(ref->p, 1, end, PROT_READ | PROT_WRITE);
	if (!m)
		return NULL;
	return (_Atomic uint64_t *)(m->addr + ref->sa.shared_off.words) +
	       slot;
}

/*
 * A poster of TPIO_WAIT_SEQ: bump wake_seq (atomic, full barrier), then
 * read the ring's waiters and WAKE(WORKERS) if any sleep.
 */
static void bump_wake_seq(struct worker *w, struct word_ref *ref)
{
	const struct tpio_ring_offsets *ro = &ref->sa.ring_off;
	uint32_t off = ref->sa.shared_off.wake_seq, waiters = 0;
	struct mapping *sm, *rm;
	uint64_t a[4] = { 0 };

	pthread_rwlock_rdlock(&ref->p->map_lock);
	sm = atomic_load(&ref->p->serial) == ref->serial ?
	     port_map(ref->p, 1, off + 4, PROT_READ | PROT_WRITE) : NULL;
	rm = sm ? port_map(ref->p, 0, ro->waiters + 4, PROT_READ) : NULL;
	if (sm)
		atomic_fetch_add((_Atomic uint32_t *)(sm->addr + off), 1);
	if (rm)
		waiters = atomic_load((_Atomic uint32_t *)(rm->addr +
							   ro->waiters));
	pthread_rwlock_unlock(&ref->p->map_lock);
	a[1] = 10;
	a[2] = waiters;
	non_ioctl(w, OP_START, -1, a, sm ? 0 : -1, sm ? 0 : EFAULT);
	if (waiters)
		wake_io(w, ref->p, 0);
}

/*
 * Start (pending++), Cancel (pending--, maybe WAKE), a callback end, or
 * a wake_seq bump.
 */
void op_start(struct worker *w)
{
	struct word_ref ref;
	_Atomic uint64_t *word;
	uint64_t a[4] = { 0 };
	__u64 old, next = 0;
	int what = (int)below(w, 12), wake = 0, n = 1 + (int)below(w, 3);

	if (!word_pick(w, &ref, what < 10))
		return;
	if (what >= 10) {
		bump_wake_seq(w, &ref);
		return;
	}
	pthread_rwlock_rdlock(&ref.p->map_lock);
	word = word_ptr(&ref, TPIO_IO_SLOT(ref.io));
	if (word && what < 6) {
		atomic_fetch_add(word, (uint64_t)n << TPIO_W_PENDING_SHIFT);
	} else if (word && what < 9) {
		old = atomic_load(word);
		while (tpio_w_cancel(old, &next) &&
		       !atomic_compare_exchange_weak(word, &old, next))
			;
		wake = tpio_w_waiters(next) && tpio_w_any_drained(next);
	} else if (word) {
		/* a callback ends that never began: garbage counts */
		next = atomic_fetch_sub(word, tpio_w_end_delta(1)) -
		       tpio_w_end_delta(1);
		wake = tpio_w_waiters(next) && tpio_w_any_drained(next);
	}
	pthread_rwlock_unlock(&ref.p->map_lock);
	a[0] = ref.io;
	a[1] = (uint64_t)what;
	a[2] = (uint64_t)n;
	non_ioctl(w, OP_START, -1, a, word ? 0 : -1, word ? 0 : EFAULT);
	if (wake)
		wake_io(w, ref.p, ref.io);
}

/* An entry of the port's ring: kernel-written, so always well formed. */
static void check_cqe(struct worker *w, const struct word_ref *ref,
		      const struct tpio_cqe *e)
{
	if (e->slot >= ref->objects || e->epoch > TPIO_W_MAX(EPOCH))
		violation(w, "ring entry: slot %u epoch %u (port of %u "
			  "objects)", e->slot, e->epoch, ref->objects);
	if (!ref->untagged && e->cookie && (e->cookie >> 32) != ref->tag)
		violation(w, "ring entry of slot %u carries cookie %#llx; this "
			  "port's cookies are %#x....", e->slot,
			  (unsigned long long)e->cookie, ref->tag);
}

/*
 * Runs one entry's callback: begins it if the entry is current, ends it;
 * returns 1 when a drain sleeper must be woken.
 */
static int run_callback(struct word_ref *ref, const struct tpio_cqe *e)
{
	_Atomic uint64_t *word = word_ptr(ref, e->slot);
	__u64 old, next = 0;

	if (!word)
		return 0;
	old = atomic_load(word);
	for (;;) {
		if (!tpio_w_begin(old, e->epoch, &next))
			return 0;
		if (atomic_compare_exchange_weak(word, &old, next))
			break;
	}
	next = atomic_fetch_sub(word, tpio_w_end_delta(1)) -
	       tpio_w_end_delta(1);
	return tpio_w_waiters(next) && tpio_w_any_drained(next);
}

/* Takes up to @max entries; returns how many; slots to wake in @wake. */
static int consume_locked(struct worker *w, struct word_ref *ref, int max,
			  uint32_t *wake, int *nwake, struct tpio_cqe *last)
{
	const struct tpio_ring_offsets *ro = &ref->sa.ring_off;
	struct mapping *rm, *sm;
	_Atomic uint32_t *head, *tail;
	const struct tpio_cqe *cqes;
	uint32_t h;
	int taken = 0;

	if (atomic_load(&ref->p->serial) != ref->serial)
		return 0;
	rm = port_map(ref->p, 0, ref->sa.ring_size, PROT_READ);
	sm = port_map(ref->p, 1, ref->sa.shared_off.head + 4,
		      PROT_READ | PROT_WRITE);
	if (!rm || !sm)
		return 0;
	check_ring_header(w, ref->p, rm->addr);
	head = (_Atomic uint32_t *)(sm->addr + ref->sa.shared_off.head);
	tail = (_Atomic uint32_t *)(rm->addr + ro->tail);
	cqes = (const struct tpio_cqe *)(rm->addr + ro->cqes);
	h = atomic_load(head);
	while (taken < max && h != atomic_load(tail)) {
		*last = cqes[h & (ref->entries - 1)];
		if (!atomic_compare_exchange_strong(head, &h, h + 1))
			continue;
		h++;
		taken++;
		check_cqe(w, ref, last);
		if (run_callback(ref, last) && *nwake < 8)
			wake[(*nwake)++] = last->slot;
	}
	return taken;
}

void op_consume(struct worker *w)
{
	struct tpio_cqe last = { 0 };
	struct word_ref ref;
	uint64_t a[4] = { 0 };
	uint32_t wake[8], io;
	int nwake = 0, taken, i;

	if (!word_pick(w, &ref, 0))
		return;
	pthread_rwlock_rdlock(&ref.p->map_lock);
	taken = consume_locked(w, &ref, 1 + (int)below(w, 8), wake, &nwake,
			       &last);
	pthread_rwlock_unlock(&ref.p->map_lock);
	a[0] = (uint64_t)taken;
	a[1] = last.slot;
	a[2] = last.epoch;
	non_ioctl(w, OP_CONSUME, -1, a, taken, 0);
	for (i = 0; i < nwake; i++) {
		model_lock(w->r);
		io = atomic_load(&ref.p->serial) == ref.serial ?
		     handle_of_slot(ref.p, wake[i]) : 0;
		model_unlock(w->r);
		if (io)
			wake_io(w, ref.p, io);
	}
}

/* ---- hostile writes ---- */

/* One burst of garbage into a shared mapping of @p: the kernel must
 * only ever treat it as numbers. */
void scribble_once(struct worker *w, struct port *p)
{
	static const uint64_t words[] = {
		TPIO_W_WAITERS, ~0ULL, TPIO_W_WAITERS | 1,
		(uint64_t)TPIO_W_MAX(PENDING) << TPIO_W_PENDING_SHIFT,
		(uint64_t)TPIO_W_MAX(QUEUED) << TPIO_W_QUEUED_SHIFT,
		(uint64_t)1 << TPIO_W_QUEUED_SHIFT | 1,
		(uint64_t)TPIO_W_MAX(RUNNING) << TPIO_W_RUNNING_SHIFT,
	};
	uint32_t serial = atomic_load(&p->serial);
	_Atomic uint64_t *q;
	uint64_t a[4] = { 0 }, i, n;
	struct mapping *m;
	int how = (int)below(w, 6);

	pthread_rwlock_rdlock(&p->map_lock);
	m = atomic_load(&p->serial) == serial ?
	    port_map(p, 1, PAGE, PROT_READ | PROT_WRITE) : NULL;
	if (!m) {
		pthread_rwlock_unlock(&p->map_lock);
		return;
	}
	q = (_Atomic uint64_t *)m->addr;
	n = m->len / 8;
	a[0] = (uint64_t)how;
	for (i = 0; i < 1 + below(w, 32); i++) {
		uint64_t at = below(w, n), v;

		switch (how) {
		case 0:
			v = rnd(w);
			break;
		case 1:
			v = words[below(w, sizeof(words) / sizeof(words[0]))];
			break;
		case 2:	/* the head: near where it is, or anywhere */
			at = 0;
			v = atomic_load(&q[0]) + below(w, 5) - 2 +
			    (chance(w, 20) ? rnd(w) : 0);
			break;
		case 3:
			v = 0;
			break;
		case 4:
			atomic_fetch_xor(&q[at], 1ULL << below(w, 64));
			continue;
		default:
			v = atomic_load(&q[at]) + (1ULL << below(w, 64));
		}
		atomic_store_explicit(&q[at], v, memory_order_relaxed);
		a[1] = at * 8;
		a[2] = v;
	}
	pthread_rwlock_unlock(&p->map_lock);
	non_ioctl(w, OP_SCRIBBLE, -1, a, 0, 0);
}

void op_scribble(struct worker *w)
{
	struct port *p;

	model_lock(w->r);
	p = pick_port(w, 1);
	model_unlock(w->r);
	if (p)
		scribble_once(w, p);
}

/* ---- processes and signals ---- */

void op_fork(struct worker *w)
{
	uint64_t a[4] = { rnd(w) };
	int pid;

	if (w->child)
		return;
	pid = fork_locked(w, -1, a[0]);
	if (pid != -2)
		non_ioctl(w, OP_FORK, -1, a, pid, pid < 0 ? errno : 0);
}

void op_sleeper(struct worker *w)
{
	uint64_t a[4] = { rnd(w) };
	int pid;

	if (w->child)
		return;
	pid = fork_locked(w, -2, a[0]);
	if (pid != -2)
		non_ioctl(w, OP_SLEEPER, -1, a, pid, pid < 0 ? errno : 0);
}

/* SIGKILL, SIGSTOP, SIGCONT or SIGUSR1 to a child of the round. */
void op_kill(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { 0 }, x = below(w, 100);
	int i, n = 0, idx[MAX_KIDS], sig, ret;
	struct kid *k;

	if (w->child)
		return;
	model_lock(r);
	for (i = 0; i < MAX_KIDS; i++)
		if (r->kids[i].pid > 0)
			idx[n++] = i;
	if (!n) {
		model_unlock(r);
		return;
	}
	k = &r->kids[idx[below(w, n)]];
	sig = x < 60 ? SIGKILL : x < 75 ? SIGSTOP : x < 85 ? SIGCONT :
		       SIGUSR1;
	if (sig == SIGKILL)
		k->killed = 1;
	k->stopped = sig == SIGSTOP ? 1 : sig == SIGCONT ? 0 : k->stopped;
	ret = kill(k->pid, sig);
	a[0] = (uint64_t)k->pid;
	a[1] = (uint64_t)sig;
	model_unlock(r);
	non_ioctl(w, OP_KILL, -1, a, ret, ret ? errno : 0);
}

/* A signal to another worker: SIGUSR1 interrupts, SIGUSR2 restarts. */
void op_signal(struct worker *w)
{
	struct round *r = w->r;
	uint64_t a[4] = { 0 };
	struct worker *t;
	int sig;

	if (w->child || r->nworkers < 2)
		return;
	t = &r->workers[below(w, r->nworkers)];
	if (t == w)
		return;
	sig = chance(w, 50) ? SIGUSR1 : SIGUSR2;
	a[0] = (uint64_t)t->tid;
	a[1] = (uint64_t)sig;
	non_ioctl(w, OP_SIGNAL, -1, a, pthread_kill(t->th, sig), 0);
}

/* ---- poll and epoll ---- */

/*
 * poll() of an fd: a port not set up reports POLLERR at once, a set-up
 * port only POLLIN/POLLRDNORM; no poll outlasts its timeout.
 */
void op_poll(struct worker *w)
{
	static const short evs[] = { POLLIN, POLLIN | POLLRDNORM, POLLOUT,
				     POLLPRI | POLLIN, 0 };
	const short ok = POLLIN | POLLRDNORM;
	uint64_t a[4] = { 0 };
	struct pollfd pfd;
	int ms, ret, err;
	struct call c;

	model_lock(w->r);
	call_pick(w, &c, OP_POLL, 1);
	model_unlock(w->r);
	pfd.fd = c.fd;
	pfd.events = evs[below(w, 5)];
	pfd.revents = 0;
	ms = chance(w, 60) ? 0 : chance(w, 90) ? 1 + (int)below(w, 5) : 50;
	a[0] = (uint64_t)pfd.events;
	a[1] = (uint64_t)ms;
	trace_begin(w, OP_POLL, c.fd, 0, PK_NONE_ARG, a,
		    now_ns() + (uint64_t)ms * MSEC);
	ret = poll(&pfd, 1, ms);
	err = ret < 0 ? errno : 0;
	w->ts->ring[(w->ts->seq - 1) % TRACE_LEN].a[2] = (uint16_t)pfd.revents;
	non_ioctl_end(w, OP_POLL, ret, err);
	c.ret = ret;
	call_settle(w, &c);
	if (ret < 0 && err != EINTR && err != ENOMEM)
		violation(w, "poll of fd %d: %s", c.fd, errno_name(err));
	if (ret >= 0 && call_port_valid(w, &c) && c.setup == SETUP_NO &&
	    !(pfd.revents & POLLERR))
		violation(w, "poll of a port not set up: revents %#x, not "
			  "POLLERR", pfd.revents);
	if (ret > 0 && call_port_valid(w, &c) && c.setup == SETUP_YES &&
	    (pfd.revents & ~ok))
		violation(w, "poll of a port set up: revents %#x", pfd.revents);
	model_unlock(w->r);
}

/*
 * The round's epoll instance: port fds added, changed and removed, and
 * waited on, while the ports come and go. What epoll answers is the
 * VFS's; the watchdog sees that epoll_wait keeps its timeout.
 */
void op_epoll(struct worker *w)
{
	static const uint32_t evs[] = { EPOLLIN, EPOLLIN | EPOLLET,
					EPOLLIN | EPOLLONESHOT,
					EPOLLIN | EPOLLEXCLUSIVE,
					EPOLLIN | EPOLLOUT | EPOLLRDHUP };
	struct epoll_event ev = { 0 }, out[8];
	uint64_t a[4] = { 0 };
	int what = (int)below(w, 4), ms, ret, fd;
	struct call c;

	if (w->r->epfd < 0)
		return;
	model_lock(w->r);
	call_pick(w, &c, OP_EPOLL, 1);
	model_unlock(w->r);
	fd = c.fd;
	ev.events = evs[below(w, 5)];
	ev.data.u64 = (uint64_t)fd;
	a[0] = (uint64_t)what;
	a[1] = ev.events;
	if (what < 3) {
		static const int ops[] = { EPOLL_CTL_ADD, EPOLL_CTL_MOD,
					   EPOLL_CTL_DEL };

		non_ioctl_begin(w, OP_EPOLL, fd, a);
		ret = epoll_ctl(w->r->epfd, ops[what], fd, &ev);
		non_ioctl_end(w, OP_EPOLL, ret, ret ? errno : 0);
		return;
	}
	ms = chance(w, 70) ? 0 : 1 + (int)below(w, 5);
	a[2] = (uint64_t)ms;
	trace_begin(w, OP_EPOLL, w->r->epfd, 0, PK_NONE_ARG, a,
		    now_ns() + (uint64_t)ms * MSEC);
	ret = epoll_wait(w->r->epfd, out, 1 + (int)below(w, 8), ms);
	non_ioctl_end(w, OP_EPOLL, ret, ret < 0 ? errno : 0);
	if (ret < 0 && errno != EINTR)
		violation(w, "epoll_wait: %s", errno_name(errno));
}
