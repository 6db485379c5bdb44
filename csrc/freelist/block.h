/*
 * freelist/block.h -- the block layout (part of freelist.c).
 *
 * The heap is [0, heap) of the arena and grows at the top like the program
 * break (by multiples of `growth`).  Blocks tile it; every block starts at a
 * multiple of 16 and its size is a multiple of 16, at least min_block (32).
 * The layout is glibc's and dlmalloc's, 8 bytes of overhead per allocated
 * block:
 *
 *   offset:      0         8         16                     size   size+8
 *   allocated:  [ (prev) ][ header ][ payload ........................ ]
 *   free:       [ (prev) ][ header ][tag 4 | ... |tag 4 pad 4][ footer ]
 *
 *   header (offset 8) = size | F_ALLOC (this block allocated) | F_PREV (the
 *   previous block is allocated; the first block counts its "previous" as
 *   allocated).  The address handed out is the block's offset + 16, and
 *   the payload runs to the block's end + 8: usable size = size - 8.  The
 *   first 8 bytes of a block ("prev") belong to its predecessor: the last
 *   8 bytes of its payload while it is allocated, its footer (= its size)
 *   while it is free.  So a free block's footer sits at its end, in the
 *   block that follows, and the heap's last block reaches 8 bytes past the
 *   heap's end: the arena keeps room for that (ma_base_init), and bytes in
 *   use are [8, heap + 8), `heap` of them.
 *
 *   Coalescing is O(1): the next block's header is at the block's end + 8,
 *   and when F_PREV is clear the previous block's footer is the word at the
 *   block's own offset.  `tag` (offset 16 of a free block) names the block's
 *   entry in the index: a node slot (best and worst fit) or a stamp (first
 *   and next fit in LIFO or FIFO order); unused for first and next fit in
 *   address order.  A copy of the tag sits 8 bytes before the block's end,
 *   beside the footer, so that freeing the block above reads the index
 *   entry of its lower neighbour from its own line.
 *
 * Invariants: I1-I4 (freelist.c): the blocks tile the heap, F_PREV tells
 * the predecessor's state, a free block's footer and tag copy match its
 * header and tag, and no two free blocks meet.
 */
#ifndef MA_FREELIST_BLOCK_H
#define MA_FREELIST_BLOCK_H

#include "state.h"

/* The header (size word) of the block at off. */
static inline uint64_t *hdr(const fl *h, uint64_t off)
{
    return (uint64_t *)(void *)ma_ptr(&h->base, off + 8);
}

/* The footer of the free block that ends at `end`: the first word of the
 * block that follows it (or the word past the heap's end). */
static inline uint64_t *footer_at(const fl *h, uint64_t end)
{
    return (uint64_t *)(void *)ma_ptr(&h->base, end);
}

static inline uint64_t bsize(const fl *h, uint64_t off)
{
    return *hdr(h, off) & ~F_MASK;
}

static inline void set_footer(fl *h, uint64_t off, uint64_t size)
{
    *footer_at(h, off + size) = size;
}

/* The tag field of the free block at off (node slot or stamp). */
static inline uint32_t *tag_of(const fl *h, uint64_t off)
{
    return (uint32_t *)(void *)ma_ptr(&h->base, off + 16);
}

/* The copy of the tag beside the footer of the free block that ends at
 * `end`: freeing the block at `end` reads it from its own header's line. */
static inline uint32_t *tag_copy_of(const fl *h, uint64_t end)
{
    return (uint32_t *)(void *)ma_ptr(&h->base, end - 8);
}

static inline void set_tag(fl *h, uint64_t off, uint64_t size, uint32_t v)
{
    *tag_of(h, off) = v;
    *tag_copy_of(h, off + size) = v;
}

#endif /* MA_FREELIST_BLOCK_H */
