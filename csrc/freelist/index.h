/*
 * freelist/index.h -- the index, for every policy (part of freelist.c).
 *
 * The heap code sees one index: index_add makes a range a free block and
 * indexes it, index_remove and index_remove_id take one out, policy_find
 * answers the policy's question.  Each dispatches on the kind: bins of pool
 * nodes (best and worst fit, freelist/bins.h) or the position tree (first
 * and next fit, freelist/ptree.h).  A block's index id is its node slot or
 * its position.  policy_find returns a `pick`: the chosen block's offset,
 * size and id as the index knows them, so that an allocation reads nothing
 * from the block before writing to it.
 *
 * Next fit's rover: `rover` is the position of a free block (PNONE: the
 * start of the order).  After an allocation it is the free remainder of the
 * chosen block, or, when nothing remained, the chosen block's successor in
 * the order.  When the rover's block leaves the index (allocated, merged
 * into a lower neighbour, trimmed away) the rover moves to the block that
 * followed it; when the rover's block absorbs a neighbour (coalescing, heap
 * growth) the rover stays on the grown block.
 *
 * Invariants: I5 (the index holds exactly the free blocks; free_bytes and
 * free_blocks count them, I6) and I7 (the rover is PNONE or the position of
 * a free block).
 */
#ifndef MA_FREELIST_INDEX_H
#define MA_FREELIST_INDEX_H

#include "bins.h"
#include "ptree.h"

/*
 * Make [off, off+size) a free block: write its header and footer, and index
 * it (a fresh stamp: it becomes free now).
 */
static void index_add(fl *h, uint64_t off, uint64_t size, uint64_t prev_flag)
{
    *hdr(h, off) = size | prev_flag;
    set_footer(h, off, size);
    if (h->kind == IX_BINS) {
        if (h->next_stamp >= h->stamp_limit)
            renumber_stamps(h);
        uint32_t x = slot_alloc(h);
        set_tag(h, off, size, x);
        fnode *n = node(h, x);
        n->off16 = (uint32_t)(off >> 4);
        n->size16 = (uint32_t)(size >> 4);
        n->stamp = h->next_stamp++;
        bin_add(h, x);
    } else {
        pt_add(h, off, size);
    }
    h->free_bytes += size;
    h->free_blocks++;
}

/* Take a free block of `size` bytes out of the index by its id (a bins node
 * slot or a position), without touching the block.  A rover on
 * it moves to the block that followed it.  `chosen`: the block is being
 * allocated (see pt_remove). */
static void index_remove_id(fl *h, uint64_t size, uint64_t id, bool chosen)
{
    if (h->kind == IX_BINS) {
        uint32_t x = (uint32_t)id;
        bin_remove(h, x);
        node(h, x)->left = h->spare;
        h->spare = x;
    } else {
        pt_remove(h, id, size, chosen);
    }
    h->free_bytes -= size;
    h->free_blocks--;
}

/* The index id (see pick) of the indexed free block at off. */
static inline uint64_t index_id(const fl *h, uint64_t off)
{
    return h->kind == IX_PTREE ? pos_of_block(h, off) : *tag_of(h, off);
}

/* The same for the free block [off, end), read from its tag's copy beside
 * the footer (on the line of the block at `end`), not from its first line. */
static inline uint64_t index_id_below(const fl *h, uint64_t off, uint64_t end)
{
    return h->kind == IX_PTREE && !pt_stamped(h) ? off >> 4 : *tag_copy_of(h, end);
}

/* Take the free block at off, of `size` bytes, out of the index (before
 * changing its header).  A rover on it moves to the block that followed it. */
static void index_remove(fl *h, uint64_t off, uint64_t size)
{
    index_remove_id(h, size, index_id(h, off), false);
}

/* The largest free block, in units of 16 bytes (0: none). */
static uint32_t largest16(fl *h)
{
    if (h->kind == IX_PTREE)
        return pt_largest(h);
    if (h->roots[NBINS] != NIL)
        return node(h, h->roots[NBINS])->aug;
    return highest_bin(h);
}

/* Is the free block with index id `id` the rover's?  (Next fit only: its
 * index ids are positions.) */
static inline bool rover_on(const fl *h, uint64_t id)
{
    return h->fit == MA_FIT_NEXT && h->rover == id;
}

/* Is the free block at off the rover's? */
static inline bool is_rover(const fl *h, uint64_t off)
{
    return rover_on(h, pos_of_block(h, off));
}

/* A free block, as the index knows it: an allocation reads nothing from the
 * chosen block (whose line is likely cold) before it writes the new header. */
typedef struct pick {
    uint64_t off, size;
    uint64_t id; /* its node slot (bins) or position (position tree) */
} pick;

/* Find a free block of at least `need` units under the policy. */
static bool policy_find(fl *h, uint32_t need, pick *pk)
{
    uint64_t p;
    switch (h->fit) {
    case MA_FIT_BEST: { /* (the bitmap and the large treap say if none) */
        uint32_t x = bins_find(h, need);
        if (x == NIL)
            return false;
        *pk = (pick){off_of(h, x), (uint64_t)size16(h, x) << 4, x};
        return true;
    }
    case MA_FIT_WORST: { /* the largest, first in order */
        uint32_t x = bins_largest(h);
        if (x == NIL || size16(h, x) < need)
            return false;
        *pk = (pick){off_of(h, x), (uint64_t)size16(h, x) << 4, x};
        return true;
    }
    case MA_FIT_NEXT:
        p = h->rover != PNONE ? pt_first(h, h->rover, need) : PNONE;
        if (p == PNONE)
            p = pt_first(h, pt_start(h), need); /* wrap around */
        break;
    default: /* address-ordered first fit records its path for pt_refresh */
        p = h->order == MA_ORDER_ADDRESS ? pt_find(h, 0, need, false, true)
                                         : pt_first(h, pt_start(h), need);
        break;
    }
    if (p == PNONE)
        return false;
    *pk = (pick){pt_off(h, p), (uint64_t)pt_size(h, p) << 4, p};
    return true;
}

#endif /* MA_FREELIST_INDEX_H */
