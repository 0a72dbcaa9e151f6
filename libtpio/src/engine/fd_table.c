// SPDX-License-Identifier: MIT
/*
 * The per-fd state of the I/O family, found without a lock: a two-level
 * table of FD_CHUNK entries per chunk. A chunk is allocated on first use,
 * published with a release CAS and never freed, so a pointer to an entry
 * stays valid for the life of the process (the fd number may be reused:
 * the entry's contents say what is bound now).
 */
#include <errno.h>
#include <stdlib.h>
#include "engine.h"

#define FD_CHUNK_SHIFT	10
#define FD_CHUNK	(1U << FD_CHUNK_SHIFT)
#define FD_CHUNKS	1024		/* fds below 1 048 576 */

static struct tpio_fd *_Atomic chunks[FD_CHUNKS];

/* The entry of @fd; NULL when @fd is out of range, or absent and !@create. */
struct tpio_fd *tpio_fd_get(int fd, int create)
{
	uint32_t c = (uint32_t)fd >> FD_CHUNK_SHIFT;
	struct tpio_fd *chunk, *fresh = NULL;

	if (fd < 0 || c >= FD_CHUNKS)
		return NULL;
	/* pairs with the release CAS below */
	chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
	if (!chunk) {
		uint32_t i;

		if (!create)
			return NULL;
		fresh = calloc(FD_CHUNK, sizeof(*fresh));
		if (!fresh)
			return NULL;
		for (i = 0; i < FD_CHUNK; i++)
			atomic_flag_clear(&fresh[i].lock);
		if (atomic_compare_exchange_strong_explicit(&chunks[c], &chunk,
							    fresh,
							    memory_order_acq_rel,
							    memory_order_acquire))
			chunk = fresh;
		else
			free(fresh);	/* another thread was first */
	}
	return &chunk[(uint32_t)fd & (FD_CHUNK - 1)];
}

void tpio_fd_lock(struct tpio_fd *f)
{
	tpio_spin_lock(&f->lock);
}

void tpio_fd_unlock(struct tpio_fd *f)
{
	tpio_spin_unlock(&f->lock);
}
