/* SPDX-License-Identifier: MIT */
/*
 * The library's linked lists, written once. Each is intrusive: the element
 * embeds a node and the list code never allocates; tpio_container_of gets
 * from the node back to the element. None takes a lock: the caller holds
 * whatever protects the list.
 *
 *   struct tpio_list, struct tpio_link  doubly linked and circular (the head
 *       is a link itself): insertion and removal anywhere in O(1); a link
 *       that is on no list points to itself (tpio_link_init).
 *   struct tpio_fifo, struct tpio_snode  singly linked with head and tail:
 *       push at either end, pop at the front, take everything at once.
 *   struct tpio_stack (a tpio_snode list with a top): free lists.
 */
#ifndef TPIO_LIST_H
#define TPIO_LIST_H

#include <stddef.h>

#define tpio_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- doubly linked ---- */

struct tpio_link {
	struct tpio_link *next, *prev;
};

struct tpio_list {
	struct tpio_link head;
};

static inline void tpio_link_init(struct tpio_link *l)
{
	l->next = l->prev = l;
}

static inline void tpio_list_init(struct tpio_list *list)
{
	tpio_link_init(&list->head);
}

static inline int tpio_list_empty(const struct tpio_list *list)
{
	return list->head.next == &list->head;
}

/* @l goes first on @list */
static inline void tpio_list_push(struct tpio_list *list, struct tpio_link *l)
{
	l->next = list->head.next;
	l->prev = &list->head;
	list->head.next->prev = l;
	list->head.next = l;
}

/* @l leaves its list (and points to itself) */
static inline void tpio_list_del(struct tpio_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	tpio_link_init(l);
}

/* each element @pos of @list, whose link is its @member */
#define tpio_list_for_each(pos, list, member)				\
	for (pos = tpio_container_of((list)->head.next, __typeof__(*pos),	\
				     member);					\
	     &pos->member != &(list)->head;					\
	     pos = tpio_container_of(pos->member.next, __typeof__(*pos),	\
				     member))

/* ---- singly linked: FIFO and stack ---- */

struct tpio_snode {
	struct tpio_snode *next;
};

struct tpio_fifo {
	struct tpio_snode *head, *tail;
};

static inline int tpio_fifo_empty(const struct tpio_fifo *q)
{
	return !q->head;
}

static inline void tpio_fifo_push(struct tpio_fifo *q, struct tpio_snode *n)
{
	n->next = NULL;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
}

static inline void tpio_fifo_push_front(struct tpio_fifo *q,
					struct tpio_snode *n)
{
	n->next = q->head;
	q->head = n;
	if (!q->tail)
		q->tail = n;
}

/* the oldest node, NULL when empty */
static inline struct tpio_snode *tpio_fifo_pop(struct tpio_fifo *q)
{
	struct tpio_snode *n = q->head;

	if (n) {
		q->head = n->next;
		if (!q->head)
			q->tail = NULL;
	}
	return n;
}

/* every node, oldest first (follow ->next); the queue is empty after */
static inline struct tpio_snode *tpio_fifo_take_all(struct tpio_fifo *q)
{
	struct tpio_snode *n = q->head;

	q->head = q->tail = NULL;
	return n;
}

struct tpio_stack {
	struct tpio_snode *top;
};

static inline void tpio_stack_push(struct tpio_stack *s, struct tpio_snode *n)
{
	n->next = s->top;
	s->top = n;
}

/* the last node pushed, NULL when empty */
static inline struct tpio_snode *tpio_stack_pop(struct tpio_stack *s)
{
	struct tpio_snode *n = s->top;

	if (n)
		s->top = n->next;
	return n;
}

#endif /* TPIO_LIST_H */
