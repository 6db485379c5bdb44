/*
 * zones/pages.h -- the page allocator inside the arena (included by zones.c
 * only): span ids, the free page pool's treap, taking and giving back runs.
 *
 * The pool's runs are kept in a treap ordered by (pages, start), so the
 * best fit (the smallest run that holds the request, the lowest of equal
 * ones) is one descent.  A node's priority is a hash of its first page
 * number, a bijection on 32 bits, so priorities are distinct and the tree's
 * shape depends only on the set of runs.  Insertion, removal and search are
 * iterative, with pointers to links (the span table never moves): O(log n)
 * expected.
 *
 * A request the pool cannot serve extends the top of the pages in use, like
 * a program break; pages given back coalesce at once with free neighbours
 * (found through the page map's first and last page of every span), and a
 * run that reaches the top lowers the top instead of entering the pool.
 */
#ifndef MA_ZONES_PAGES_H
#define MA_ZONES_PAGES_H

#include "state.h"

/* ---- span ids ---------------------------------------------------------- */

/* A fresh id.  Spans tile [0, top) and each holds a page at least, so
 * there are never more than npages of them: the table cannot overflow. */
static uint32_t span_new(zones *z)
{
    uint32_t id = z->free_ids;
    if (id)
        z->free_ids = S(z, id)->b;
    else
        id = ++z->nspans;
    span *s = S(z, id);
    s->free_head = MA_NULL;
    s->used = s->bump = 0;
    s->a = s->b = 0;
    s->cls = 0;
    return id;
}

static void span_drop(zones *z, uint32_t id)
{
    span *s = S(z, id);
    s->kind = SPAN_NONE;
    s->pages = 0;
    s->a = 0;
    s->b = z->free_ids;
    z->free_ids = id;
}

/* Page-map entries of a span's first and last pages. */
static inline void pm_ends(zones *z, uint32_t id)
{
    span *s = S(z, id);
    uint64_t first = s->start >> z->pshift;
    z->pm[first] = id;
    z->pm[first + s->pages - 1] = id;
}

/* ---- the pool's treap ---------------------------------------------------- */

static inline uint32_t prio(const zones *z, uint32_t id)
{
    uint32_t x = (uint32_t)(z->spans[id].start >> z->pshift) * 0x9E3779B1u;
    return x ^ (x >> 15);
}

/* Does run x come before run y in (pages, start) order? */
static inline bool run_less(const zones *z, uint32_t x, uint32_t y)
{
    const span *a = &z->spans[x], *b = &z->spans[y];
    return a->pages != b->pages ? a->pages < b->pages : a->start < b->start;
}

static void tp_insert(zones *z, uint32_t x)
{
    uint32_t *link = &z->root;
    uint32_t px = prio(z, x);
    while (*link && prio(z, *link) > px)
        link = run_less(z, x, *link) ? &S(z, *link)->a : &S(z, *link)->b;
    /* Split the subtree at *link around x's key into x's children. */
    uint32_t t = *link, *l = &S(z, x)->a, *r = &S(z, x)->b;
    while (t) {
        if (run_less(z, t, x)) {
            *l = t;
            l = &S(z, t)->b;
            t = *l;
        } else {
            *r = t;
            r = &S(z, t)->a;
            t = *r;
        }
    }
    *l = *r = 0;
    *link = x;
    z->nruns++;
}

static void tp_remove(zones *z, uint32_t x)
{
    uint32_t *link = &z->root;
    while (*link != x)
        link = run_less(z, x, *link) ? &S(z, *link)->a : &S(z, *link)->b;
    /* Merge x's children (every key of the left below the right's). */
    uint32_t l = S(z, x)->a, r = S(z, x)->b;
    while (l && r) {
        if (prio(z, l) > prio(z, r)) {
            *link = l;
            link = &S(z, l)->b;
            l = *link;
        } else {
            *link = r;
            link = &S(z, r)->a;
            r = *link;
        }
    }
    *link = l ? l : r;
    S(z, x)->a = S(z, x)->b = 0;
    z->nruns--;
}

/* The smallest run of at least n pages (the lowest of equal ones), or 0. */
static uint32_t tp_best(const zones *z, uint64_t n)
{
    uint32_t t = z->root, best = 0;
    while (t) {
        if (z->spans[t].pages >= n) {
            best = t;
            t = z->spans[t].a;
        } else {
            t = z->spans[t].b;
        }
    }
    return best;
}

/* The largest run's pages (0 when the pool is empty). */
static uint64_t tp_largest(const zones *z)
{
    uint32_t t = z->root;
    if (!t)
        return 0;
    while (z->spans[t].b)
        t = z->spans[t].b;
    return z->spans[t].pages;
}

/* ---- taking and giving back runs ------------------------------------------- */

/*
 * A run of n pages: the pool's best fit (its low end; the rest stays in the
 * pool), else the pages at the top.  Returns the new span's id (its kind is
 * the caller's to set, with its page-map entries), or 0 when the arena has
 * no room.
 */
static uint32_t take_run(zones *z, uint64_t n)
{
    uint32_t id = tp_best(z, n);
    if (id) {
        tp_remove(z, id);
        span *s = S(z, id);
        if (s->pages > n) {
            uint32_t rest = span_new(z);
            span *r = S(z, rest);
            s = S(z, id);
            r->start = s->start + (n << z->pshift);
            r->pages = s->pages - (uint32_t)n;
            r->kind = SPAN_FREE;
            pm_ends(z, rest);
            tp_insert(z, rest);
            s->pages = (uint32_t)n;
        }
        s->a = s->b = 0;
        return id;
    }
    if (n > z->npages - (z->top >> z->pshift))
        return 0;
    id = span_new(z);
    span *s = S(z, id);
    s->start = z->top;
    s->pages = (uint32_t)n;
    z->top += n << z->pshift;
    if (z->top > z->peak_top)
        z->peak_top = z->top;
    return id;
}

/*
 * n pages aligned to `align` bytes (a power of two above the page size):
 * n + align/ps - 1 pages, the pages before and after the aligned part given
 * back.  Returns the span's id or 0.
 */
static void give_run(zones *z, uint32_t id);

static uint32_t take_aligned_run(zones *z, uint64_t n, uint64_t align)
{
    uint64_t extra = (align >> z->pshift) - 1;
    if (n > z->npages || extra > z->npages - n)
        return 0;
    uint32_t id = take_run(z, n + extra);
    if (!id)
        return 0;
    span *s = S(z, id);
    uint64_t start = ma_round_up(s->start, align);
    uint64_t lead = (start - s->start) >> z->pshift;
    uint64_t trail = extra - lead;
    if (lead) { /* the low pages keep the id and go back; the rest is new */
        uint32_t body = span_new(z);
        s = S(z, id);
        span *b = S(z, body);
        b->start = start;
        b->pages = s->pages - (uint32_t)lead;
        b->kind = SPAN_LARGE;
        s->pages = (uint32_t)lead;
        s->kind = SPAN_LARGE;
        pm_ends(z, id);
        pm_ends(z, body);
        give_run(z, id);
        id = body;
        s = S(z, id);
    }
    if (trail) {
        uint32_t tail = span_new(z);
        s = S(z, id);
        span *t = S(z, tail);
        t->start = start + (n << z->pshift);
        t->pages = (uint32_t)trail;
        t->kind = SPAN_LARGE;
        s->pages = (uint32_t)n;
        s->kind = SPAN_LARGE;
        pm_ends(z, id);
        pm_ends(z, tail);
        give_run(z, tail);
    }
    return id;
}

/*
 * Give the pages of span `id` (a zone or a LARGE region) back: merged with
 * the free runs on either side, then either the top falls to the run's
 * start or the run enters the pool.
 */
static void give_run(zones *z, uint32_t id)
{
    span *s = S(z, id);
    uint64_t start = s->start, end = span_end(z, s);
    if (start) {
        uint32_t p = z->pm[(start >> z->pshift) - 1];
        if (S(z, p)->kind == SPAN_FREE) {
            tp_remove(z, p);
            start = S(z, p)->start;
            span_drop(z, p);
        }
    }
    if (end < z->top) {
        uint32_t q = z->pm[end >> z->pshift];
        if (S(z, q)->kind == SPAN_FREE) {
            tp_remove(z, q);
            end = span_end(z, S(z, q));
            span_drop(z, q);
        }
    }
    s = S(z, id);
    if (end == z->top) {
        z->top = start;
        span_drop(z, id);
        return;
    }
    s->start = start;
    s->pages = (uint32_t)((end - start) >> z->pshift);
    s->kind = SPAN_FREE;
    s->a = s->b = 0;
    pm_ends(z, id);
    tp_insert(z, id);
}

#endif /* MA_ZONES_PAGES_H */
