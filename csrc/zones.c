/*
 * zones.c -- segregated TINY / SMALL / LARGE zones (the 42 school's malloc).
 *
 * ==== Requests ==============================================================
 * A request of n bytes (0 counts as 1) is TINY when n <= tiny_max, SMALL
 * when n <= small_max, else LARGE.  TINY and SMALL requests take a block of
 * the smallest size class that holds them, from a zone of that class; a
 * LARGE request takes a region of whole pages of its own.
 *
 * ==== Size classes ==========================================================
 * classes=fine (the default): every multiple of 16 up to tiny_max (the
 * 16-byte quantum of x86-64's malloc: a TINY block wastes under 16 bytes),
 * then four classes per doubling up to small_max (160, 192, 224, 256, 320,
 * ... with the defaults; the last class is small_max itself), so a SMALL
 * block wastes under a fifth of itself while a zone serves a whole band of
 * sizes.  classes=pow2: the powers of two from 16 to small_max (tiny_max and
 * small_max must be powers of two): Johnstone and Wilson's "simple
 * segregated storage" with 2^N classes.
 *
 * Defaults: tiny_max = 128 and small_max = 4096 (one page).  With 4 KiB
 * pages, a LARGE request then takes two pages or more, so page rounding
 * wastes under half of a LARGE region; and the 42 rule of at least 100
 * blocks of the class's size per zone keeps the largest zone at 100 pages.
 *
 * ==== Zones ===============================================================
 * A zone is a run of whole pages holding nblocks = pages * ps / size blocks
 * of one class, back to back from its first byte, where pages is the
 * fewest that hold ZONE_MIN_BLOCKS (100) blocks of the class; the bytes
 * after the last block (slack, under one block) are never handed out.
 * Blocks have no header: the zone's record gives a block's size.  Its
 * record (a span, zones/state.h) lives in a side table, found from any
 * address of the zone in O(1) through the page map (one 32-bit span id per
 * page).  A zone hands out its blocks in address order the first time
 * (`bump`), then reuses freed ones LIFO through a list threaded through the
 * free blocks' first 8 bytes.  One bit per 16 bytes of the arena (a side
 * bitmap) marks where an allocated zone block starts: a free checks it, so
 * an address inside a block or of a free block is refused without trusting
 * anything in the arena.
 *
 * Each class keeps a list of its non-full zones, most recently non-full
 * first, and allocates from its head; a new zone is made only when the list
 * is empty.  The free page pool's policy: when a zone becomes empty, it is
 * kept if its class has no other empty zone (it moves to the list's tail,
 * to be used last), else its pages go back to the pool at once.  So each
 * class holds at most one empty zone.
 *
 * ==== Pages ===============================================================
 * The arena is a reserve of pages.  Zones and LARGE regions are runs of
 * pages taken from the free page pool (best fit, O(log n), zones/pages.h)
 * or from the top of the pages in use, like a program break; pages given
 * back coalesce with free neighbours, and a run reaching the top lowers the
 * top.  heap_size is that top.  Pages are not returned to the OS while the
 * instance lives (reset does return them).
 *
 * ==== Alignment =============================================================
 * Zones start on a page and blocks lie at multiples of their size from it,
 * so every address is a multiple of 16, and memalign(al, n) with al up to
 * the page size takes the smallest class that holds n and is a multiple of
 * al; otherwise (or with a larger al) a LARGE region aligned to al.
 *
 * ==== Invariants (zones_check verifies every one, with NDEBUG too) =======
 *   Z1 spans tile [0, top): each starts where the last ended, holds at
 *      least one page, is a zone, a LARGE region or a free run; no two free
 *      runs are adjacent and none ends at top; the page map names each
 *      span at its first and last page, and a zone at every page;
 *   Z2 a zone has its class's pages; bump <= nblocks; its free list holds
 *      exactly bump - used blocks, each a block start below bump whose bit
 *      is clear; bits are set exactly at its allocated blocks; used is
 *      below nblocks iff the zone is on its class's list, which is doubly
 *      linked both ways; used is 0 only for the class's kept zone;
 *   Z3 no bit is set outside the zones' blocks;
 *   Z4 the treap holds exactly the free runs, in (pages, start) order with
 *      parents' priorities above their children's;
 *   Z5 allocated, the per-class counts of zones and free blocks, nruns,
 *      nlarge agree with a recount; peak_top >= top.
 *
 * ==== Costs =================================================================
 * malloc and free of TINY/SMALL blocks are O(1), except when a zone is made
 * or released: O(log n) in the pool plus a page-map write per page of the
 * zone (amortised over its >= 100 blocks).  LARGE requests are O(log n).
 * walk is O(blocks); check O(heap bytes / 128) for the bitmap.
 */
#include "ma_internal.h"
#include "zones/state.h"
#include "zones/pages.h"

#include <stdlib.h>
#include <string.h>

static inline zones *as_zones(ma_allocator *a) { return (zones *)a; }

static inline bool bit_get(const zones *z, uint64_t addr)
{
    uint64_t i = addr >> 4;
    return (z->bits[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_flip(zones *z, uint64_t addr)
{
    uint64_t i = addr >> 4;
    z->bits[i >> 6] ^= UINT64_C(1) << (i & 63);
}

/* ---- the class lists ---------------------------------------------------- */

static void list_push_head(zones *z, zclass *c, uint32_t id)
{
    span *s = S(z, id);
    s->a = 0;
    s->b = c->head;
    if (c->head)
        S(z, c->head)->a = id;
    else
        c->tail = id;
    c->head = id;
}

static void list_push_tail(zones *z, zclass *c, uint32_t id)
{
    span *s = S(z, id);
    s->b = 0;
    s->a = c->tail;
    if (c->tail)
        S(z, c->tail)->b = id;
    else
        c->head = id;
    c->tail = id;
}

static void list_unlink(zones *z, zclass *c, uint32_t id)
{
    span *s = S(z, id);
    if (s->a)
        S(z, s->a)->b = s->b;
    else
        c->head = s->b;
    if (s->b)
        S(z, s->b)->a = s->a;
    else
        c->tail = s->a;
    s->a = s->b = 0;
}

/* ---- zones ------------------------------------------------------------------ */

static uint32_t zone_new(zones *z, unsigned ci)
{
    zclass *c = &z->cls[ci];
    uint32_t id = take_run(z, c->pages);
    if (!id)
        return 0;
    span *s = S(z, id);
    s->kind = SPAN_ZONE;
    s->cls = (uint8_t)ci;
    s->used = s->bump = 0;
    s->free_head = MA_NULL;
    uint64_t first = s->start >> z->pshift;
    for (uint64_t p = 0; p < c->pages; p++)
        z->pm[first + p] = id;
    c->zones++;
    c->free_slots += c->nblocks;
    list_push_head(z, c, id);
    return id;
}

/* Give an empty zone's pages back to the pool. */
static void zone_release(zones *z, uint32_t id)
{
    zclass *c = &z->cls[S(z, id)->cls];
    list_unlink(z, c, id);
    c->zones--;
    c->free_slots -= c->nblocks;
    give_run(z, id);
}

/* A block of class ci, or MA_NULL when no zone can be made. */
static inline uint64_t zone_alloc(zones *z, unsigned ci)
{
    zclass *c = &z->cls[ci];
    uint32_t id = c->head;
    if (__builtin_expect(!id, 0)) {
        id = zone_new(z, ci);
        if (!id)
            return MA_NULL;
    }
    span *s = S(z, id);
    uint64_t addr = s->free_head;
    if (addr != MA_NULL) {
        uint64_t next;
        memcpy(&next, ma_ptr(&z->base, addr), sizeof next);
        s->free_head = next;
    } else {
        addr = s->start + (uint64_t)s->bump * c->size;
        s->bump++;
    }
    if (s->used == 0 && c->empty == id)
        c->empty = 0;
    if (++s->used == c->nblocks)
        list_unlink(z, c, id);
    c->free_slots--;
    bit_flip(z, addr);
    z->allocated += c->size;
    return addr;
}

static void zone_free(zones *z, uint32_t id, uint64_t addr)
{
    span *s = S(z, id);
    zclass *c = &z->cls[s->cls];
    bit_flip(z, addr);
    memcpy(ma_ptr(&z->base, addr), &s->free_head, sizeof s->free_head);
    s->free_head = addr;
    if (s->used == c->nblocks)
        list_push_head(z, c, id);
    c->free_slots++;
    z->allocated -= c->size;
    if (--s->used == 0) { /* the pool's policy: keep one empty zone per class */
        if (c->empty) {
            zone_release(z, id);
        } else {
            c->empty = id;
            list_unlink(z, c, id);
            list_push_tail(z, c, id);
        }
    }
}

/* ---- LARGE regions ------------------------------------------------------------ */

static uint64_t large_alloc(zones *z, uint64_t size, uint64_t align)
{
    uint64_t n = (size >> z->pshift) + ((size & (z->ps - 1)) != 0);
    if (n == 0)
        n = 1;
    if (n > z->npages)
        return MA_NULL;
    uint32_t id = align > z->ps ? take_aligned_run(z, n, align) : take_run(z, n);
    if (!id)
        return MA_NULL;
    span *s = S(z, id);
    s->kind = SPAN_LARGE;
    pm_ends(z, id);
    z->nlarge++;
    z->allocated += n << z->pshift;
    return s->start;
}

static void large_free(zones *z, uint32_t id)
{
    z->allocated -= (uint64_t)S(z, id)->pages << z->pshift;
    z->nlarge--;
    give_run(z, id);
}

/* ---- lookups ---------------------------------------------------------------------- */

/* The span holding the allocated block at addr, or MA_ECORRUPT. */
static ma_status find_block(zones *z, uint64_t addr, uint32_t *out)
{
    uint32_t id = 0;
    if (addr < z->top && (addr & 15) == 0) {
        /* An allocated zone block's page always names its zone, and bits
         * are set only where allocated zone blocks start, so a set bit
         * proves addr is one (a stale entry of a page outside any zone
         * meets a clear bit).  A LARGE region is named at its first page:
         * addr must be its start. */
        id = z->pm[addr >> z->pshift];
        const span *s = S(z, id);
        if (id == 0 || id > z->nspans)
            id = 0;
        else if (s->kind == SPAN_ZONE ? !bit_get(z, addr)
                                      : s->kind != SPAN_LARGE || s->start != addr)
            id = 0;
    }
    if (!id)
        return ma_fail(&z->base, MA_ECORRUPT, "0x%llx is a live allocation, "
                       "but no zone or LARGE region has an allocated block "
                       "there", (unsigned long long)addr);
    *out = id;
    return MA_OK;
}

static uint64_t block_size_of(const zones *z, const span *s)
{
    return s->kind == SPAN_ZONE ? z->cls[s->cls].size
                                : (uint64_t)s->pages << z->pshift;
}

/* ---- operations ---------------------------------------------------------------------- */

/* The smallest class >= size whose blocks are multiples of align, or
 * nclasses (none). */
static unsigned aligned_class(const zones *z, uint64_t size, uint64_t align)
{
    if (align > z->ps)
        return z->nclasses;
    uint64_t need = size > align ? size : align;
    if (need > z->small_max)
        return z->nclasses;
    unsigned ci = z->class_of[(need + 15) >> 4];
    while (ci < z->nclasses && z->cls[ci].size % align)
        ci++;
    return ci;
}

/* A block of size bytes at a multiple of alignment, or MA_NULL. */
static inline uint64_t place(zones *z, uint64_t alignment, uint64_t size)
{
    if (__builtin_expect(alignment <= MA_ALIGN && size <= z->small_max, 1))
        return zone_alloc(z, z->class_of[(size + 15) >> 4]);
    unsigned ci = aligned_class(z, size, alignment);
    return ci < z->nclasses ? zone_alloc(z, ci) : large_alloc(z, size, alignment);
}

static ma_status no_room(ma_allocator *a, uint64_t alignment, uint64_t size)
{
    return ma_fail(a, MA_ENOMEM, "no room in the arena for %llu bytes "
                   "(alignment %llu)", (unsigned long long)size,
                   (unsigned long long)alignment);
}

static ma_status zones_memalign(ma_allocator *a, uint64_t alignment,
                                uint64_t size, uint64_t *addr)
{
    zones *z = as_zones(a);
    uint64_t p = place(z, alignment, size);
    if (p == MA_NULL)
        return no_room(a, alignment, size);
    *addr = p;
    return MA_OK;
}

static ma_status zones_free(ma_allocator *a, uint64_t addr)
{
    zones *z = as_zones(a);
    uint32_t id = 0;
    ma_status st = find_block(z, addr, &id);
    if (st != MA_OK)
        return st;
    if (S(z, id)->kind == SPAN_ZONE)
        zone_free(z, id, addr);
    else
        large_free(z, id);
    return MA_OK;
}

static ma_status zones_usable_size(ma_allocator *a, uint64_t addr,
                                   uint64_t *size)
{
    zones *z = as_zones(a);
    uint32_t id = 0;
    ma_status st = find_block(z, addr, &id);
    if (st == MA_OK)
        *size = block_size_of(z, S(z, id));
    return st;
}

/* Shrink the LARGE region `id` to n pages in place: the tail goes back. */
static void large_shrink(zones *z, uint32_t id, uint64_t n)
{
    span *s = S(z, id);
    uint64_t cut = s->pages - n;
    uint32_t tail = span_new(z);
    s = S(z, id);
    span *t = S(z, tail);
    t->start = s->start + (n << z->pshift);
    t->pages = (uint32_t)cut;
    t->kind = SPAN_LARGE;
    s->pages = (uint32_t)n;
    pm_ends(z, id);
    pm_ends(z, tail);
    z->allocated -= cut << z->pshift;
    give_run(z, tail);
}

/* Grow the LARGE region `id` to n pages in place, from the free run after
 * it or the top; false when neither has room. */
static bool large_grow(zones *z, uint32_t id, uint64_t n)
{
    span *s = S(z, id);
    uint64_t end = span_end(z, s), more = n - s->pages;
    if (end == z->top) {
        if (more > z->npages - (z->top >> z->pshift))
            return false;
        z->top += more << z->pshift;
        if (z->top > z->peak_top)
            z->peak_top = z->top;
    } else {
        uint32_t q = z->pm[end >> z->pshift];
        span *f = S(z, q);
        if (f->kind != SPAN_FREE || f->pages < more)
            return false;
        tp_remove(z, q);
        if (f->pages == more) {
            span_drop(z, q);
        } else {
            f->start += more << z->pshift;
            f->pages -= (uint32_t)more;
            pm_ends(z, q);
            tp_insert(z, q);
        }
    }
    s = S(z, id);
    s->pages = (uint32_t)n;
    pm_ends(z, id);
    z->allocated += more << z->pshift;
    return true;
}

static ma_status zones_realloc(ma_allocator *a, uint64_t addr, uint64_t size,
                               uint64_t *new_addr)
{
    zones *z = as_zones(a);
    uint32_t id = 0;
    ma_status st = find_block(z, addr, &id);
    if (st != MA_OK)
        return st;
    span *s = S(z, id);
    uint64_t old = block_size_of(z, s);
    if (s->kind == SPAN_ZONE) {
        if (size <= z->small_max && z->class_of[(size + 15) >> 4] == s->cls) {
            *new_addr = addr; /* the same class: in place */
            return MA_OK;
        }
    } else if (size > z->small_max) {
        uint64_t n = (size >> z->pshift) + ((size & (z->ps - 1)) != 0);
        if (n < s->pages)
            large_shrink(z, id, n);
        if (n <= s->pages || large_grow(z, id, n)) {
            *new_addr = addr;
            return MA_OK;
        }
    }
    uint64_t moved = place(z, MA_ALIGN, size), room = 0;
    if (moved == MA_NULL && size <= old) {
        /* A smaller block with no room to move to: it stays where it is
         * (with its usable size), so that a shrink never fails. */
        *new_addr = addr;
        return MA_OK;
    }
    if (moved == MA_NULL)
        return no_room(a, MA_ALIGN, size);
    /* Every usable byte the two blocks share survives. */
    zones_usable_size(a, moved, &room);
    memcpy(ma_ptr(a, moved), ma_ptr(a, addr),
           (size_t)(old < room ? old : room));
    return zones_free(a, addr) == MA_OK ? (*new_addr = moved, MA_OK)
                                        : MA_ECORRUPT;
}

static void zones_stats(ma_allocator *a, ma_stats *st)
{
    zones *z = as_zones(a);
    uint64_t blocks = z->nruns, largest = tp_largest(z) << z->pshift;
    for (unsigned i = 0; i < z->nclasses; i++) {
        const zclass *c = &z->cls[i];
        blocks += c->free_slots + (c->slack ? c->zones : 0);
        if (c->free_slots && c->size > largest)
            largest = c->size;
        if (c->zones && c->slack > largest)
            largest = c->slack;
    }
    st->allocated_bytes = z->allocated;
    st->free_bytes = z->top - z->allocated;
    st->free_blocks = blocks;
    st->largest_free = largest;
    st->heap_size = z->top;
    st->peak_heap_size = z->peak_top;
    uint64_t pages = z->top >> z->pshift;
    st->metadata_bytes = sizeof *z + pages * sizeof *z->pm + (z->top >> 7) +
                         (uint64_t)z->nspans * sizeof(span);
}

#include "zones/walk.h"

/* ---- life cycle ------------------------------------------------------------------------- */

static void zones_init_state(zones *z)
{
    for (unsigned i = 0; i < z->nclasses; i++) {
        zclass *c = &z->cls[i];
        c->head = c->tail = c->empty = 0;
        c->zones = c->free_slots = 0;
    }
    z->nspans = 0;
    z->free_ids = 0;
    z->root = 0;
    z->nruns = z->nlarge = 0;
    z->top = z->peak_top = 0;
    z->allocated = 0;
}

static ma_status zones_reset(ma_allocator *a)
{
    zones *z = as_zones(a);
    ma_arena_discard(a, 0, a->arena_size);
    ma_discard(z->bits, z->bits_len);
    ma_discard(z->pm, z->pm_len);
    ma_discard(z->spans, z->spans_len);
    zones_init_state(z);
    return MA_OK;
}

static void zones_release(ma_allocator *a)
{
    zones *z = as_zones(a);
    ma_unmap(z->spans, z->spans_len);
    ma_unmap(z->pm, z->pm_len);
    ma_unmap(z->bits, z->bits_len);
    z->spans = NULL;
    z->pm = NULL;
    z->bits = NULL;
}

static const ma_ops zones_ops = {
    .name = "zones",
    .memalign = zones_memalign,
    .realloc = zones_realloc,
    .free = zones_free,
    .usable_size = zones_usable_size,
    .stats = zones_stats,
    .walk = zones_walk,
    .check = zones_check,
    .reset = zones_reset,
    .release = zones_release,
};

/* The class table and each class's zone geometry. */
static void build_classes(zones *z)
{
    unsigned n = 0;
    if (z->mode == MA_ZONES_POW2) {
        for (uint64_t c = 16; c <= z->small_max; c <<= 1)
            z->cls[n++].size = (uint32_t)c;
    } else {
        uint64_t c = 16;
        for (; c <= z->tiny_max; c += 16)
            z->cls[n++].size = (uint32_t)c;
        c = z->tiny_max;
        while (c < z->small_max) {
            uint64_t step = (UINT64_C(1) << ma_log2(c)) / 4;
            c += step < 16 ? 16 : step;
            if (c > z->small_max)
                c = z->small_max;
            z->cls[n++].size = (uint32_t)c;
        }
    }
    z->nclasses = n;
    for (unsigned i = 0; i < n; i++) {
        zclass *c = &z->cls[i];
        uint64_t bytes = (uint64_t)ZONE_MIN_BLOCKS * c->size;
        c->pages = (uint32_t)((bytes + z->ps - 1) >> z->pshift);
        c->nblocks = (uint32_t)(((uint64_t)c->pages << z->pshift) / c->size);
        c->slack = (uint32_t)(((uint64_t)c->pages << z->pshift) -
                              (uint64_t)c->nblocks * c->size);
        c->kind = c->size <= z->tiny_max ? MA_ZONE_TINY : MA_ZONE_SMALL;
    }
    for (uint64_t q = 0, ci = 0; q <= z->small_max / 16; q++) {
        while (z->cls[ci].size < q * 16)
            ci++;
        z->class_of[q] = (uint8_t)ci;
    }
}

static ma_status check_params(uint64_t arena_size, uint64_t tiny_max,
                              uint64_t small_max, int classes, uint64_t ps)
{
    if (classes != MA_ZONES_FINE && classes != MA_ZONES_POW2)
        return ma_fail(NULL, MA_EINVAL, "classes must be %d (fine) or %d "
                       "(pow2), got %d", MA_ZONES_FINE, MA_ZONES_POW2, classes);
    if (tiny_max < 16 || tiny_max > MAX_TINY || tiny_max % 16)
        return ma_fail(NULL, MA_EINVAL, "tiny_max must be a multiple of 16 "
                       "from 16 to %u, got %llu", MAX_TINY,
                       (unsigned long long)tiny_max);
    if (small_max < MIN_SMALL || small_max > MAX_SMALL || small_max % 16 ||
        small_max <= tiny_max)
        return ma_fail(NULL, MA_EINVAL, "small_max must be a multiple of 16 "
                       "from %u to %u above tiny_max (%llu), got %llu",
                       MIN_SMALL, MAX_SMALL, (unsigned long long)tiny_max,
                       (unsigned long long)small_max);
    if (classes == MA_ZONES_POW2 && (!ma_is_pow2(tiny_max) || !ma_is_pow2(small_max)))
        return ma_fail(NULL, MA_EINVAL, "with classes=pow2, tiny_max and "
                       "small_max must be powers of two, got %llu and %llu",
                       (unsigned long long)tiny_max,
                       (unsigned long long)small_max);
    uint64_t largest = ma_round_up((uint64_t)ZONE_MIN_BLOCKS * small_max, ps);
    if (arena_size < MIN_ARENA || arena_size > MAX_ARENA || arena_size % ps ||
        arena_size < largest)
        return ma_fail(NULL, MA_EINVAL, "arena_size must be a multiple of the "
                       "page size (%llu) from %llu to %llu, and hold the largest "
                       "zone (%llu bytes for small_max %llu), got %llu",
                       (unsigned long long)ps, (unsigned long long)MIN_ARENA,
                       (unsigned long long)MAX_ARENA,
                       (unsigned long long)largest,
                       (unsigned long long)small_max,
                       (unsigned long long)arena_size);
    return MA_OK;
}

ma_status ma_zones_create(uint64_t arena_size, uint64_t tiny_max,
                          uint64_t small_max, int classes, ma_allocator **out)
{
    if (!out)
        return ma_fail(NULL, MA_EINVAL, "ma_zones_create: out is NULL");
    *out = NULL;
    uint64_t ps = ma_page_size();
    ma_status st = check_params(arena_size, tiny_max, small_max, classes, ps);
    if (st != MA_OK)
        return st;
    zones *z = calloc(1, sizeof *z);
    if (!z)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    st = ma_base_init(&z->base, &zones_ops, arena_size, ps);
    if (st != MA_OK) {
        free(z);
        return st;
    }
    z->ps = ps;
    z->pshift = ma_log2(ps);
    z->npages = arena_size >> z->pshift;
    z->tiny_max = tiny_max;
    z->small_max = small_max;
    z->mode = classes;
    build_classes(z);
    z->spans_len = (z->npages + 1) * sizeof(span);
    z->pm_len = z->npages * sizeof *z->pm;
    z->bits_len = ma_round_up(arena_size >> 7, 8);
    z->spans = ma_map_zero(z->spans_len);
    z->pm = ma_map_zero(z->pm_len);
    z->bits = ma_map_zero(z->bits_len);
    if (!z->spans || !z->pm || !z->bits) {
        ma_destroy(&z->base);
        return ma_fail(NULL, MA_ESYS, "mmap refused to reserve the side "
                       "tables of a %llu-byte arena",
                       (unsigned long long)arena_size);
    }
    z->base.heap_size_at = &z->top;
    z->base.allocated_at = &z->allocated;
    zones_init_state(z);
    *out = &z->base;
    return MA_OK;
}

/* ---- the zone listing ---------------------------------------------------------------------- */

/* Lock a zones allocator for an inspection call `op`: MA_OK with the lock
 * held, else the failure (another allocator, a closed one) without it. */
static ma_status lock_zones(ma_allocator *a, const char *op)
{
    if (a->ops != &zones_ops)
        return ma_fail(NULL, MA_EINVAL, "ma_%s: %s is not a zones allocator",
                       op, a->name);
    ma_status st = ma_lock(a, op);
    if (st != MA_OK)
        return st;
    if (a->closed) {
        pthread_mutex_unlock(&a->lock);
        return ma_closed(a);
    }
    return MA_OK;
}

ma_status ma_zones_list(ma_allocator *a, ma_zone_info *out, uint64_t capacity,
                        uint64_t *count)
{
    if (!a || !count || (!out && capacity))
        return ma_fail(NULL, MA_EINVAL, "ma_zones_list: a required argument "
                       "is NULL");
    ma_status st = lock_zones(a, "zones_list");
    if (st != MA_OK)
        return st;
    zones *z = as_zones(a);
    uint64_t n = 0;
    for (uint64_t off = 0; off < z->top;) {
        const span *s = S(z, z->pm[off >> z->pshift]);
        if (s->start != off || s->pages == 0 || s->kind == SPAN_NONE) {
            pthread_mutex_unlock(&a->lock);
            return ma_fail(a, MA_ECORRUPT, "no span starts at 0x%llx (run "
                           "check() for the first broken invariant)",
                           (unsigned long long)off);
        }
        ma_zone_info info;
        info.offset = s->start;
        info.size = (uint64_t)s->pages << z->pshift;
        if (s->kind == SPAN_ZONE) {
            const zclass *c = &z->cls[s->cls];
            info.kind = (int)c->kind;
            info.block_size = c->size;
            info.blocks = c->nblocks;
            info.live = s->used;
        } else {
            info.kind = s->kind == SPAN_LARGE ? MA_ZONE_LARGE : MA_ZONE_POOL;
            info.block_size = info.size;
            info.blocks = 1;
            info.live = s->kind == SPAN_LARGE;
        }
        if (n < capacity)
            out[n] = info;
        n++;
        off = span_end(z, s);
    }
    *count = n;
    pthread_mutex_unlock(&a->lock);
    return MA_OK;
}

ma_status ma_zones_classes(ma_allocator *a, uint64_t *sizes, uint64_t capacity,
                           uint64_t *count)
{
    if (!a || !count || (!sizes && capacity))
        return ma_fail(NULL, MA_EINVAL, "ma_zones_classes: a required "
                       "argument is NULL");
    ma_status st = lock_zones(a, "zones_classes");
    if (st != MA_OK)
        return st;
    zones *z = as_zones(a);
    for (unsigned i = 0; i < z->nclasses && i < capacity; i++)
        sizes[i] = z->cls[i].size;
    *count = z->nclasses;
    pthread_mutex_unlock(&a->lock);
    return MA_OK;
}
