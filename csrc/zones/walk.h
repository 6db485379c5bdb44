/*
 * zones/walk.h -- the walk and the checker of the zones allocator (included
 * by zones.c only, after its operations; the invariants Z1-Z5 are listed at
 * the top of zones.c).
 */
#ifndef MA_ZONES_WALK_H
#define MA_ZONES_WALK_H

#include "state.h"

/* The span that starts at off, or 0 when the page map names none (Z1). */
static uint32_t span_at(const zones *z, uint64_t off)
{
    uint32_t id = z->pm[off >> z->pshift];
    if (id == 0 || id > z->nspans)
        return 0;
    const span *s = &z->spans[id];
    if (s->start != off || s->pages == 0 || s->kind == SPAN_NONE ||
        span_end(z, s) > z->top ||
        (s->kind == SPAN_ZONE && s->cls >= z->nclasses))
        return 0;
    return id;
}

static ma_status no_span(zones *z, uint64_t off)
{
    return ma_fail(&z->base, MA_ECORRUPT, "no zone, LARGE region or free run "
                   "starts at 0x%llx, where the one before ends",
                   (unsigned long long)off);
}

/*
 * Every block in address order: a zone's blocks (allocated where their bit
 * is set), then its slack as one free block; a LARGE region as one
 * allocated block; a run of the free page pool as one free block.
 */
static ma_status zones_walk(ma_allocator *a, ma_walk_fn fn, void *ctx)
{
    zones *z = as_zones(a);
    for (uint64_t off = 0; off < z->top;) {
        uint32_t id = span_at(z, off);
        if (!id)
            return no_span(z, off);
        const span *s = S(z, id);
        if (s->kind == SPAN_ZONE) {
            const zclass *c = &z->cls[s->cls];
            for (uint64_t i = 0; i < c->nblocks; i++) {
                uint64_t at = off + i * c->size;
                int on = bit_get(z, at);
                ma_block blk = {at, c->size, on ? at : MA_NULL, 0, on};
                if (fn(&blk, ctx))
                    return MA_OK;
            }
            if (c->slack) {
                ma_block blk = {off + (uint64_t)c->nblocks * c->size, c->slack,
                                MA_NULL, 0, 0};
                if (fn(&blk, ctx))
                    return MA_OK;
            }
        } else {
            int large = s->kind == SPAN_LARGE;
            ma_block blk = {off, (uint64_t)s->pages << z->pshift,
                            large ? off : MA_NULL, 0, large};
            if (fn(&blk, ctx))
                return MA_OK;
        }
        off = span_end(z, s);
    }
    return MA_OK;
}

/* ---- check ---------------------------------------------------------------- */

struct census {
    uint64_t zones[MAX_CLASSES], free_slots[MAX_CLASSES];
    uint64_t nonfull[MAX_CLASSES], empty[MAX_CLASSES];
    uint64_t allocated, runs, large;
};

/* Z2, Z3 for one span: the bits over it, and a zone's free list. */
static ma_status check_bits(zones *z, uint32_t id, struct census *k)
{
    const span *s = S(z, id);
    uint64_t lo = s->start >> 4, hi = span_end(z, s) >> 4, set = 0;
    const zclass *c = s->kind == SPAN_ZONE ? &z->cls[s->cls] : NULL;
    for (uint64_t w = lo >> 6; w <= (hi - 1) >> 6; w++) {
        uint64_t word = z->bits[w];
        while (word) {
            uint64_t i = (w << 6) + (uint64_t)__builtin_ctzll(word);
            word &= word - 1;
            if (i < lo || i >= hi)
                continue;
            uint64_t at = i << 4, rel = at - s->start;
            if (!c || rel % c->size || rel / c->size >= s->bump)
                return ma_fail(&z->base, MA_ECORRUPT, "the bitmap marks an "
                               "allocated block at 0x%llx, which starts no "
                               "handed-out block", (unsigned long long)at);
            set++;
        }
    }
    if (!c)
        return MA_OK;
    if (set != s->used)
        return ma_fail(&z->base, MA_ECORRUPT, "zone at 0x%llx counts %u "
                       "allocated blocks, its bits %llu",
                       (unsigned long long)s->start, s->used,
                       (unsigned long long)set);
    uint64_t n = 0, want = (uint64_t)s->bump - s->used;
    for (uint64_t at = s->free_head; at != MA_NULL; n++) {
        uint64_t rel = at - s->start;
        if (n == want || at < s->start || rel % c->size ||
            rel / c->size >= s->bump || bit_get(z, at))
            return ma_fail(&z->base, MA_ECORRUPT, "zone at 0x%llx: its free "
                           "list holds 0x%llx, not one of its %llu free "
                           "handed-out blocks (or is cyclic)",
                           (unsigned long long)s->start,
                           (unsigned long long)at, (unsigned long long)want);
        memcpy(&at, ma_ptr(&z->base, at), sizeof at);
    }
    if (n != want)
        return ma_fail(&z->base, MA_ECORRUPT, "zone at 0x%llx: %llu blocks on "
                       "its free list, %llu expected",
                       (unsigned long long)s->start, (unsigned long long)n,
                       (unsigned long long)want);
    k->zones[s->cls]++;
    k->free_slots[s->cls] += c->nblocks - s->used;
    k->nonfull[s->cls] += s->used < c->nblocks;
    k->empty[s->cls] += s->used == 0;
    k->allocated += (uint64_t)s->used * c->size;
    return MA_OK;
}

/* Z1, and each span's own invariants. */
static ma_status check_spans(zones *z, struct census *k)
{
    bool prev_free = false;
    for (uint64_t off = 0; off < z->top;) {
        uint32_t id = span_at(z, off);
        if (!id)
            return no_span(z, off);
        const span *s = S(z, id);
        uint64_t first = off >> z->pshift, last = first + s->pages - 1;
        if (z->pm[last] != id)
            return ma_fail(&z->base, MA_ECORRUPT, "the page map does not name "
                           "the span at 0x%llx at its last page",
                           (unsigned long long)off);
        if (s->kind == SPAN_FREE) {
            if (prev_free)
                return ma_fail(&z->base, MA_ECORRUPT, "free runs before 0x%llx "
                               "and at it are not merged",
                               (unsigned long long)off);
            k->runs++;
        } else if (s->kind == SPAN_LARGE) {
            k->large++;
            k->allocated += (uint64_t)s->pages << z->pshift;
        } else {
            const zclass *c = &z->cls[s->cls];
            if (s->pages != c->pages || s->bump > c->nblocks ||
                s->used > s->bump)
                return ma_fail(&z->base, MA_ECORRUPT, "zone at 0x%llx: %u "
                               "pages, bump %u, used %u (its class: %u pages "
                               "of %u blocks)", (unsigned long long)off,
                               s->pages, s->bump, s->used, c->pages, c->nblocks);
            for (uint64_t p = first; p <= last; p++)
                if (z->pm[p] != id)
                    return ma_fail(&z->base, MA_ECORRUPT, "the page map does "
                                   "not name the zone at 0x%llx at page %llu",
                                   (unsigned long long)off,
                                   (unsigned long long)p);
        }
        ma_status st = check_bits(z, id, k);
        if (st != MA_OK)
            return st;
        prev_free = s->kind == SPAN_FREE;
        off = span_end(z, s);
    }
    if (prev_free)
        return ma_fail(&z->base, MA_ECORRUPT, "a free run ends at the top");
    return MA_OK;
}

/* Z4: the subtree at t holds only free runs in order between lo and hi
 * (0: unbounded), with priorities below `above`.  *n counts its nodes. */
static ma_status check_treap(zones *z, uint32_t t, uint32_t lo, uint32_t hi,
                             uint64_t above, uint64_t *n)
{
    if (!t)
        return MA_OK;
    if (++*n > z->nruns || t > z->nspans || S(z, t)->kind != SPAN_FREE ||
        (lo && !run_less(z, lo, t)) || (hi && !run_less(z, t, hi)) ||
        prio(z, t) >= above)
        return ma_fail(&z->base, MA_ECORRUPT, "the free page pool's tree is "
                       "out of order, holds more than its %llu runs, or holds "
                       "span %u, which is not a free run",
                       (unsigned long long)z->nruns, t);
    ma_status st = check_treap(z, S(z, t)->a, lo, t, prio(z, t), n);
    return st != MA_OK ? st : check_treap(z, S(z, t)->b, t, hi, prio(z, t), n);
}

/* The class lists (Z2): links both ways, and only non-full zones of the class. */
static ma_status check_list(zones *z, unsigned ci, uint64_t want)
{
    const zclass *c = &z->cls[ci];
    uint64_t n = 0;
    uint32_t prev = 0;
    for (uint32_t id = c->head; id; prev = id, id = S(z, id)->b) {
        const span *s = S(z, id);
        if (n++ == want || id > z->nspans || s->kind != SPAN_ZONE ||
            s->cls != ci || s->used >= c->nblocks || s->a != prev)
            return ma_fail(&z->base, MA_ECORRUPT, "the list of non-full "
                           "%u-byte zones is broken at span %u",
                           c->size, id);
    }
    if (n != want || c->tail != prev)
        return ma_fail(&z->base, MA_ECORRUPT, "the list of non-full %u-byte "
                       "zones holds %llu of %llu", c->size,
                       (unsigned long long)n, (unsigned long long)want);
    return MA_OK;
}

static ma_status zones_check(ma_allocator *a)
{
    zones *z = as_zones(a);
    struct census k;
    memset(&k, 0, sizeof k);
    ma_status st = check_spans(z, &k);
    if (st != MA_OK)
        return st;
    uint64_t n = 0;
    if ((st = check_treap(z, z->root, 0, 0, UINT64_MAX, &n)) != MA_OK)
        return st;
    if (n != z->nruns || k.runs != z->nruns)
        return ma_fail(a, MA_ECORRUPT, "%llu free runs, the pool's tree holds "
                       "%llu and counts %llu", (unsigned long long)k.runs,
                       (unsigned long long)n, (unsigned long long)z->nruns);
    for (unsigned i = 0; i < z->nclasses; i++) {
        const zclass *c = &z->cls[i];
        if (k.zones[i] != c->zones || k.free_slots[i] != c->free_slots)
            return ma_fail(a, MA_ECORRUPT, "%u-byte class: %llu zones with %llu "
                           "free blocks, it counts %llu and %llu", c->size,
                           (unsigned long long)k.zones[i],
                           (unsigned long long)k.free_slots[i],
                           (unsigned long long)c->zones,
                           (unsigned long long)c->free_slots);
        if (k.empty[i] > 1 || (k.empty[i] == 1) != (c->empty != 0) ||
            (c->empty && (c->empty > z->nspans ||
                          S(z, c->empty)->kind != SPAN_ZONE ||
                          S(z, c->empty)->cls != i || S(z, c->empty)->used)))
            return ma_fail(a, MA_ECORRUPT, "%u-byte class: %llu empty zones, "
                           "at most the one it keeps", c->size,
                           (unsigned long long)k.empty[i]);
        if ((st = check_list(z, i, k.nonfull[i])) != MA_OK)
            return st;
    }
    if (k.allocated != z->allocated || k.large != z->nlarge ||
        z->peak_top < z->top)
        return ma_fail(a, MA_ECORRUPT, "allocated %llu bytes in %llu LARGE "
                       "regions, recount %llu in %llu; top %llu, peak %llu",
                       (unsigned long long)z->allocated,
                       (unsigned long long)z->nlarge,
                       (unsigned long long)k.allocated,
                       (unsigned long long)k.large,
                       (unsigned long long)z->top,
                       (unsigned long long)z->peak_top);
    return MA_OK;
}

#endif /* MA_ZONES_WALK_H */
