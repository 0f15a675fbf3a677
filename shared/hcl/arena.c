/*
 * arena.c - the bump allocator behind the syntax tree and each evaluation:
 * one arena per tree or evaluation, freed (and, for values, wiped) in one call.
 *
 * Knows nothing of PostgreSQL or SQLite.
 */
#include <stdlib.h>
#include <string.h>

#include "hcl_int.h"

struct chunk
{
	struct chunk *next;
	size_t		used;
	size_t		cap;
};

#define ALIGN_UP(n) (((n) + 15) & ~(size_t) 15)
#define CHUNK_HDR ALIGN_UP(sizeof(chunk))
#define CHUNK_MIN ((size_t) 16384)

void
hcl_arena_init(arena *a, size_t limit, bool wipe)
{
	a->head = NULL;
	a->total = 0;
	a->limit = limit;
	a->wipe = wipe;
	a->over = false;
}

void *
hcl_arena_alloc(arena *a, size_t n)
{
	chunk	   *c = a->head;
	char	   *p;

	if (n > SIZE_MAX / 2)
		return NULL;
	n = ALIGN_UP(n ? n : 1);
	if (a->limit && (n > a->limit || a->total > a->limit - n))
	{
		a->over = true;
		return NULL;
	}
	if (c == NULL || c->cap - c->used < n)
	{
		size_t		cap = n > CHUNK_MIN ? n : CHUNK_MIN;

		c = mig_alloc(CHUNK_HDR + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* a big one-off allocation must not strand the current chunk */
		if (n > CHUNK_MIN / 2 && a->head)
		{
			c->next = a->head->next;
			a->head->next = c;
		}
		else
		{
			c->next = a->head;
			a->head = c;
		}
	}
	p = (char *) c + CHUNK_HDR + c->used;
	c->used += n;
	a->total += n;
	return p;
}

void *
hcl_arena_zalloc(arena *a, size_t n)
{
	void	   *p = hcl_arena_alloc(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

char *
hcl_arena_strndup(arena *a, const char *s, size_t n)
{
	char	   *p = hcl_arena_alloc(a, n + 1);

	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
hcl_arena_free(arena *a)
{
	chunk	   *c = a->head;

	while (c)
	{
		chunk	   *next = c->next;

		if (a->wipe)
		{
			volatile char *v = (volatile char *) c + CHUNK_HDR;
			size_t		i;

			for (i = 0; i < c->used; i++)
				v[i] = 0;
		}
		mig_free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

/* Grow an arena array of elem-sized items holding n, capacity *cap. */
void *
hcl_arena_grow(arena *a, void *old, size_t n, size_t *cap, size_t elem)
{
	size_t		ncap;
	void	   *p;

	if (n < *cap)
		return old;
	ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / 2 / elem)
		return NULL;
	p = hcl_arena_alloc(a, ncap * elem);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, old, n * elem);
	*cap = ncap;
	return p;
}
