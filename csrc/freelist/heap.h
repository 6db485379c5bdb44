/*
 * freelist/heap.h -- the heap and the allocator's operations (part of
 * freelist.c).
 *
 * memalign (and malloc through it) asks the index for a block under the
 * policy and, when none fits, grows the heap so that its top is one
 * (grow); place then takes the block's low end (after a leading fragment
 * when aligning) and leaves the rest free at the high end when it can hold
 * a minimum block.  free merges the block with its free neighbours at once
 * (release), so no two free blocks meet; with `trim` a free top beyond the
 * growth step and prealloc goes back to the system (maybe_trim).  realloc
 * shrinks in place or absorbs a free successor, else moves.
 *
 * Memory traffic: an allocation takes the chosen block's offset, size and
 * index entry from the index and reads nothing from the block (its F_PREV is
 * set, by I4); the lines it will write (the block's header, its successor's,
 * a remainder's) are prefetched before the index work, so that their misses
 * overlap it.  A free reads the block's header and its successor's, and
 * only when F_PREV is clear the predecessor's footer (the freed block's own
 * first word, beside its header) and tag copy (the word before it: on the
 * freed block's line unless it starts one), never the predecessor's header.
 *
 * Invariants: every operation leaves I1-I7 (freelist.c) true; an operation
 * that fails (ENOMEM, a bad address) changes no block.
 */
#ifndef MA_FREELIST_HEAP_H
#define MA_FREELIST_HEAP_H

#include "index.h"

/* Grow the heap so that its top is a free block of at least `need` bytes. */
static ma_status grow(fl *h, uint64_t need, pick *out)
{
    /* The new top block's predecessor is allocated: a free top's is (I4),
     * and so is the last block's when the top is not free (or counts as
     * allocated: the heap is empty). */
    uint64_t top = h->heap, have = 0, prev_flag = F_PREV;
    if (h->top_free) {
        have = *footer_at(h, h->heap);
        top = h->heap - have;
    }
    uint64_t inc = need > have ? ma_round_up_step(need - have, h->growth) : 0;
    if (inc > h->base.arena_size - h->heap)
        return ma_fail(&h->base, MA_ENOMEM, "the heap cannot grow by %llu "
                       "bytes: %llu of the arena's %llu are in use",
                       (unsigned long long)inc, (unsigned long long)h->heap,
                       (unsigned long long)h->base.arena_size);
    bool was_rover = h->top_free && is_rover(h, top);
    if (h->top_free)
        index_remove(h, top, have);
    h->heap += inc;
    if (h->heap > h->peak_heap)
        h->peak_heap = h->heap;
    index_add(h, top, have + inc, prev_flag);
    h->top_free = true;
    uint64_t id = index_id(h, top);
    if (was_rover)
        h->rover = id;
    *out = (pick){top, have + inc, id};
    return MA_OK;
}

/* Give the heap's top back when it is free (trim option). */
static void maybe_trim(fl *h)
{
    if (!h->trim || !h->top_free)
        return;
    uint64_t size = *footer_at(h, h->heap), top = h->heap - size;
    uint64_t keep = ma_round_up_step(top, h->growth);
    if (keep < h->prealloc)
        keep = h->prealloc;
    while (keep > top && keep - top < h->min_block)
        keep += h->growth; /* a sliver below min_block cannot be a block */
    if (keep >= h->heap)
        return;
    uint64_t prev_flag = *hdr(h, top) & F_PREV;
    bool was_rover = is_rover(h, top);
    index_remove(h, top, size);
    /* [keep, keep + 8) stays: the payload's end of the block below keep,
     * or the new top's footer. */
    ma_arena_discard(&h->base, keep + 8, h->heap - keep);
    h->heap = keep;
    if (keep > top) {
        index_add(h, top, keep - top, prev_flag);
        if (was_rover)
            h->rover = pos_of_block(h, top);
    } else {
        h->top_free = false;
    }
}

/*
 * Mark the block at off allocated with `size` bytes and fix its neighbour's
 * F_PREV, unless the caller writes that header itself (a split remainder:
 * then the neighbour's line is not read, only written).
 */
static void set_allocated(fl *h, uint64_t off, uint64_t size, uint64_t prev_flag,
                          bool remainder_follows)
{
    *hdr(h, off) = size | F_ALLOC | prev_flag;
    uint64_t next = off + size;
    if (!remainder_follows) {
        if (next < h->heap)
            *hdr(h, next) |= F_PREV;
        else
            h->top_free = false;
    }
    h->allocated += size;
    h->alloc_blocks++;
}

/* The block size that serves a request of n bytes. */
static uint64_t block_for(const fl *h, uint64_t n)
{
    uint64_t s = ma_round_up(n + OVERHEAD, 16);
    return s < h->min_block ? h->min_block : s;
}

/*
 * Allocate from the free block at off (already chosen): the allocation takes
 * the low end (after a leading fragment when aligning), the remainder stays
 * free at the high end when it can hold a minimum block.
 */
static uint64_t place(fl *h, const pick *pk, uint64_t size, uint64_t align)
{
    uint64_t off = pk->off, have = pk->size;
    uint64_t prev_flag = F_PREV; /* a free block's predecessor is allocated (I4) */
    /* The chosen block's header, its successor's and any remainder's are
     * written below, after the index work: fetch their lines now, so that
     * the misses overlap it. */
    __builtin_prefetch(hdr(h, off), 1);
    __builtin_prefetch(hdr(h, off + have), 1);   /* the successor's */
    __builtin_prefetch(hdr(h, off + size), 1); /* a remainder's header */
    uint64_t lead = 0;
    if (align > MA_ALIGN) {
        uint64_t payload = ma_round_up(off + PAYLOAD, align);
        while (payload - PAYLOAD - off != 0 && payload - PAYLOAD - off < h->min_block)
            payload += align;
        lead = payload - PAYLOAD - off;
    }
    uint64_t rest = have - lead - size;
    bool next = h->fit == MA_FIT_NEXT;
    /* Recount the chosen block's bounds at once only in address-ordered
     * first fit, which searches the same low addresses every time, so the
     * next search would meet the stale bound (elsewhere it rarely does). */
    bool tighten = h->fit == MA_FIT_FIRST && h->order == MA_ORDER_ADDRESS;
    if (h->kind == IX_PTREE && !pt_stamped(h) && !lead && rest >= h->min_block) {
        uint64_t rem = off + size; /* AO: the remainder keeps the place */
        *hdr(h, rem) = rest | F_PREV;
        set_footer(h, rem, rest);
        pt_shrink_ao(h, off, have, rem, rest, tighten);
        h->free_bytes -= size;
        set_allocated(h, off, size, prev_flag, true);
        if (next)
            h->rover = rem >> 4;
        return off;
    }
    uint64_t p = next ? pk->id : PNONE, succ = PNONE;
    if (next)
        h->rover = PNONE; /* set below: spare index_remove the search */
    index_remove_id(h, have, pk->id, tighten);
    if (next && rest < h->min_block) /* the chosen block's successor */
        succ = pt_after(h, p);      /* (before a leading fragment joins) */
    if (lead) {
        index_add(h, off, lead, prev_flag);
        prev_flag = 0;
    }
    uint64_t start = off + lead;
    if (rest >= h->min_block) { /* the remainder keeps top_free as it was */
        set_allocated(h, start, size, prev_flag, true);
        index_add(h, start + size, rest, F_PREV);
        if (next)
            h->rover = pos_of_block(h, start + size);
    } else {
        set_allocated(h, start, have - lead, prev_flag, false);
        if (next)
            h->rover = succ;
    }
    return start;
}

static ma_status fl_memalign(ma_allocator *a, uint64_t alignment, uint64_t n,
                             uint64_t *addr)
{
    fl *h = as_fl(a);
    if (n > a->arena_size || alignment > a->arena_size)
        return ma_fail(a, MA_ENOMEM, "%llu bytes exceed the arena of %llu",
                       (unsigned long long)n, (unsigned long long)a->arena_size);
    pt_maybe_compact(h);
    uint64_t size = block_for(h, n);
    /* Room for any leading fragment: alignment plus a minimum block. */
    uint64_t need = alignment > MA_ALIGN ? size + alignment + h->min_block : size;
    pick pk = {0, 0, 0};
    if (need >> 4 > UINT32_MAX || !policy_find(h, (uint32_t)(need >> 4), &pk)) {
        ma_status st = grow(h, need, &pk);
        if (st != MA_OK)
            return st;
    }
    *addr = place(h, &pk, size, alignment) + PAYLOAD;
    return MA_OK;
}

/* The allocated block whose payload is at addr, or report corruption. */
static ma_status block_at(fl *h, uint64_t addr, uint64_t *off, uint64_t *size)
{
    *off = *size = 0;
    if (addr < PAYLOAD || addr > h->heap || (addr & 15))
        goto bad;
    *off = addr - PAYLOAD;
    uint64_t w = *hdr(h, *off);
    *size = w & ~F_MASK;
    if (!(w & F_ALLOC) || *size < h->min_block || *size > h->heap - *off)
        goto bad;
    return MA_OK;
bad:
    return ma_fail(&h->base, MA_ECORRUPT, "0x%llx is a live allocation, but "
                   "the heap has no allocated block there",
                   (unsigned long long)addr);
}

/* Free [off, off+size) and merge it with free neighbours. */
static void release(fl *h, uint64_t off, uint64_t size)
{
    uint64_t start = off, total = size;
    uint64_t prev_flag = *hdr(h, off) & F_PREV;
    uint64_t next = off + size;
    uint64_t nw = next < h->heap ? *hdr(h, next) : F_ALLOC;
    uint64_t nsize = nw & ~F_MASK, psize = 0;
    bool was_rover = false; /* the lower neighbour holds the rover */
    if (!prev_flag) {
        /* The footer gives the size and the tag's copy beside it the index
         * entry, both on the freed block's own line (mostly): the lower
         * block's header and tag, which may be far below, are not read.
         * (A free block's predecessor is allocated (I4): its F_PREV is set.) */
        psize = *footer_at(h, off);
        start = off - psize;
        total += psize;
        prev_flag = F_PREV;
        uint64_t id = index_id_below(h, start, off);
        was_rover = rover_on(h, id);
        index_remove_id(h, psize, id, false);
    }
    if (!(nw & F_ALLOC)) {
        total += nsize;
        index_remove(h, next, nsize); /* a rover on it moves on */
    }
    if (start + total >= h->heap)
        h->top_free = true;
    else if (nw & F_ALLOC) /* (after a free next block, F_PREV is clear already) */
        *hdr(h, start + total) &= ~F_PREV;
    index_add(h, start, total, prev_flag);
    if (was_rover)
        h->rover = pos_of_block(h, start);
    maybe_trim(h);
}

static ma_status fl_free(ma_allocator *a, uint64_t addr)
{
    fl *h = as_fl(a);
    uint64_t off, size;
    ma_status st = block_at(h, addr, &off, &size);
    if (st != MA_OK)
        return st;
    pt_maybe_compact(h);
    h->allocated -= size;
    h->alloc_blocks--;
    release(h, off, size);
    return MA_OK;
}

static ma_status fl_realloc(ma_allocator *a, uint64_t addr, uint64_t n,
                            uint64_t *new_addr)
{
    fl *h = as_fl(a);
    uint64_t off, size;
    ma_status st = block_at(h, addr, &off, &size);
    if (st != MA_OK)
        return st;
    if (n > a->arena_size)
        return ma_fail(a, MA_ENOMEM, "%llu bytes exceed the arena",
                       (unsigned long long)n);
    pt_maybe_compact(h);
    uint64_t want = block_for(h, n), prev_flag = *hdr(h, off) & F_PREV;
    uint64_t next = off + size;
    bool next_free = next < h->heap && !(*hdr(h, next) & F_ALLOC);
    uint64_t avail = size + (next_free && want > size ? bsize(h, next) : 0);
    if (want <= avail) { /* in place: shrink, or absorb the next free block */
        if (avail > size)
            index_remove(h, next, avail - size);
        h->allocated -= size;
        h->alloc_blocks--;
        uint64_t rest = avail - want;
        if (rest >= h->min_block) {
            set_allocated(h, off, want, prev_flag, true);
            *hdr(h, off + want) = rest | F_PREV; /* the tail, still unindexed */
            release(h, off + want, rest);        /* merges with a free follower */
        } else {
            set_allocated(h, off, avail, prev_flag, false);
        }
        *new_addr = addr;
        return MA_OK;
    }
    uint64_t moved;
    if ((st = fl_memalign(a, MA_ALIGN, n, &moved)) != MA_OK)
        return st;
    memcpy(ma_ptr(a, moved), ma_ptr(a, addr), (size_t)(size - OVERHEAD));
    h->allocated -= size;
    h->alloc_blocks--;
    release(h, off, size);
    *new_addr = moved;
    return MA_OK;
}

static ma_status fl_usable_size(ma_allocator *a, uint64_t addr, uint64_t *out)
{
    uint64_t off, size;
    ma_status st = block_at(as_fl(a), addr, &off, &size);
    if (st == MA_OK)
        *out = size - OVERHEAD;
    return st;
}

static void fl_stats(ma_allocator *a, ma_stats *st)
{
    fl *h = as_fl(a);
    st->allocated_bytes = h->allocated;
    st->free_bytes = h->free_bytes;
    st->free_blocks = h->free_blocks;
    st->largest_free = (uint64_t)largest16(h) << 4;
    st->heap_size = h->heap;
    st->peak_heap_size = h->peak_heap;
    uint64_t index = h->kind == IX_BINS ? (uint64_t)h->pool_top * sizeof(fnode)
                                        : pt_bytes(h);
    st->metadata_bytes = sizeof *h + index;
}

static ma_status fl_walk(ma_allocator *a, ma_walk_fn fn, void *ctx)
{
    fl *h = as_fl(a);
    for (uint64_t off = 0; off < h->heap;) {
        uint64_t w = *hdr(h, off), size = w & ~F_MASK;
        if (size < h->min_block || size > h->heap - off)
            return ma_fail(a, MA_ECORRUPT, "block at 0x%llx has size %llu, "
                           "which does not fit the heap of %llu bytes",
                           (unsigned long long)off, (unsigned long long)size,
                           (unsigned long long)h->heap);
        bool allocated = (w & F_ALLOC) != 0;
        ma_block b = {off, size, allocated ? off + PAYLOAD : MA_NULL, 0, allocated};
        if (fn(&b, ctx))
            break;
        off += size;
    }
    return MA_OK;
}

#endif /* MA_FREELIST_HEAP_H */
