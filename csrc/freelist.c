/*
 * freelist.c -- one boundary-tag heap, twelve placement policies:
 * best / first / next / worst fit, each with the free blocks in address
 * (AO), LIFO or FIFO order.
 *
 * ==== Blocks =================================================================
 * The heap is [0, heap) of the arena and grows at the top like the program
 * break (by multiples of `growth`).  Blocks tile it; every block starts at a
 * multiple of 16 and its size is a multiple of 16, at least min_block (32).
 *
 *   allocated:  [header 8][pad 8][payload ...............]
 *   free:       [header 8][node 16][ ... ][footer 8]
 *
 *   header = size | F_ALLOC (this block allocated) | F_PREV (the previous
 *   block is allocated; the first block counts its "previous" as allocated).
 *   footer (free blocks only) = size.  The address handed out is the block's
 *   offset + 16, so an allocated block costs 16 bytes of overhead and its
 *   usable size is size - 16.  Coalescing is O(1): the next block's header
 *   follows the block, and when F_PREV is clear the previous block's footer
 *   sits just before the header.
 *
 * ==== The policy index: a treap over the free blocks ========================
 * Each free block carries a treap node (left, right, aug, stamp: four 32-bit
 * fields; a node is named by its block's offset / 16, NIL = 0xffffffff), so
 * the minimum block holds its own links and no side table is needed.
 *   - order key: AO -> offset / 16; FIFO -> stamp; LIFO -> ~stamp, where
 *     stamp is a counter taken when a block becomes free (freed, created by
 *     growth, split off as a remainder, or formed by coalescing).
 *   - fit = first, next, worst: the tree is keyed by the order key.
 *   - fit = best: the tree is keyed by (size / 16) << 32 | order key, so the
 *     smallest key >= need << 32 is the smallest fitting block, ties broken
 *     by the free-list order.
 *   - aug = the largest size / 16 in the node's subtree, so "the first block
 *     in this order that fits" (first fit), "the first one at or after the
 *     rover that fits" (next fit) and "the largest block, first in order"
 *     (worst fit) are single root-to-leaf descents.
 *   - priority = a hash of the node's offset: the shape is a deterministic
 *     function of the set of free blocks, and the expected depth is O(log n).
 *
 * ==== Next fit's rover ========================================================
 * `rover` names a free block (NIL: the start of the order).  A search begins
 * at the rover's key and wraps around to the start.  After an allocation the
 * rover is the free remainder of the chosen block, or, when nothing
 * remained, the chosen block's successor in the order.  When the rover's
 * block leaves the index (allocated, merged into a lower neighbour, trimmed
 * away) the rover moves to the block that followed it; when the rover's
 * block absorbs a neighbour (coalescing, heap growth) the rover stays on the
 * grown block, which starts at the same offset.
 *
 * ==== Invariants (fl_check verifies every one) ==============================
 *   I1  the blocks tile [0, heap): sizes multiples of 16, >= min_block;
 *   I2  F_PREV of every block equals the allocated state of its predecessor;
 *   I3  every free block's footer equals its header's size;
 *   I4  no two free blocks are adjacent (coalescing is immediate);
 *   I5  the index holds exactly the free blocks: keys strictly increasing in
 *       order, parent priority >= child priority, aug correct;
 *   I6  free_bytes, free_blocks, allocated and alloc_blocks equal a recount;
 *       top_free says whether the last block is free; peak_heap >= heap;
 *   I7  the rover is NIL or a free block; stamps are below next_stamp.
 *
 * ==== Costs ==================================================================
 * malloc, free, realloc, memalign: O(log n) expected in the number of free
 * blocks (a constant number of treap searches, inserts and deletes).
 */
#include "ma_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16u
#define F_ALLOC UINT64_C(1)
#define F_PREV UINT64_C(2)
#define F_MASK UINT64_C(15)
#define NIL UINT32_MAX
#define MAX_ARENA (UINT64_C(1) << 35) /* node names are 32-bit offset/16 */
#define MAX_DEPTH 512                 /* check: deeper than this is a cycle */
#define STAMP_LIMIT (UINT32_MAX - (UINT32_C(1) << 20))

typedef struct fnode {
    uint32_t left, right;
    uint32_t aug;   /* largest size / 16 in this subtree */
    uint32_t stamp; /* when the block became free */
} fnode;

typedef struct fl {
    ma_allocator base; /* must come first */
    int fit, order;
    uint64_t growth, prealloc, min_block;
    bool trim;
    uint64_t heap, peak_heap;
    bool top_free;
    uint32_t root;
    uint32_t rover;
    uint32_t next_stamp, stamp_limit;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    char name[16];
} fl;

static inline fl *as_fl(ma_allocator *a) { return (fl *)a; }

/* ---- block access ------------------------------------------------------------ */

static inline uint64_t *hdr(const fl *h, uint64_t off)
{
    return (uint64_t *)(void *)ma_ptr(&h->base, off);
}

static inline uint64_t bsize(const fl *h, uint64_t off)
{
    return *hdr(h, off) & ~F_MASK;
}

static inline void set_footer(fl *h, uint64_t off, uint64_t size)
{
    *hdr(h, off + size - 8) = size;
}

static inline fnode *node(const fl *h, uint32_t x)
{
    return (fnode *)(void *)ma_ptr(&h->base, (uint64_t)x * 16 + 8);
}

static inline uint32_t size16(const fl *h, uint32_t x)
{
    return (uint32_t)(bsize(h, (uint64_t)x * 16) >> 4);
}

static inline uint32_t okey(const fl *h, uint32_t x)
{
    switch (h->order) {
    case MA_ORDER_LIFO: return ~node(h, x)->stamp;
    case MA_ORDER_FIFO: return node(h, x)->stamp;
    default: return x;
    }
}

static inline uint64_t key(const fl *h, uint32_t x)
{
    uint64_t k = okey(h, x);
    if (h->fit == MA_FIT_BEST)
        k |= (uint64_t)size16(h, x) << 32;
    return k;
}

static inline uint32_t prio(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

/* ---- the treap ------------------------------------------------------------------ */

static inline void update(const fl *h, uint32_t x)
{
    fnode *n = node(h, x);
    uint32_t m = size16(h, x);
    if (n->left != NIL && node(h, n->left)->aug > m)
        m = node(h, n->left)->aug;
    if (n->right != NIL && node(h, n->right)->aug > m)
        m = node(h, n->right)->aug;
    n->aug = m;
}

/* Split t into keys < k (*l) and keys >= k (*r). */
static void split(const fl *h, uint32_t t, uint64_t k, uint32_t *l, uint32_t *r)
{
    if (t == NIL) {
        *l = *r = NIL;
        return;
    }
    fnode *n = node(h, t);
    if (key(h, t) < k) {
        split(h, n->right, k, &n->right, r);
        *l = t;
    } else {
        split(h, n->left, k, l, &n->left);
        *r = t;
    }
    update(h, t);
}

/* Join two treaps, every key of a below every key of b. */
static uint32_t join(const fl *h, uint32_t a, uint32_t b)
{
    if (a == NIL)
        return b;
    if (b == NIL)
        return a;
    if (prio(a) > prio(b)) {
        node(h, a)->right = join(h, node(h, a)->right, b);
        update(h, a);
        return a;
    }
    node(h, b)->left = join(h, a, node(h, b)->left);
    update(h, b);
    return b;
}

static uint32_t insert(const fl *h, uint32_t t, uint32_t x, uint64_t kx,
                       uint32_t px)
{
    if (t == NIL || px > prio(t)) {
        fnode *n = node(h, x);
        split(h, t, kx, &n->left, &n->right);
        update(h, x);
        return x;
    }
    fnode *n = node(h, t);
    if (kx < key(h, t))
        n->left = insert(h, n->left, x, kx, px);
    else
        n->right = insert(h, n->right, x, kx, px);
    update(h, t);
    return t;
}

static uint32_t erase(const fl *h, uint32_t t, uint64_t kx)
{
    if (t == NIL)
        return NIL; /* not indexed: fl_check reports it */
    fnode *n = node(h, t);
    uint64_t kt = key(h, t);
    if (kx == kt)
        return join(h, n->left, n->right);
    if (kx < kt)
        n->left = erase(h, n->left, kx);
    else
        n->right = erase(h, n->right, kx);
    update(h, t);
    return t;
}

/* The first node in key order whose block has at least `need` units. */
static uint32_t first_fit(const fl *h, uint32_t t, uint32_t need)
{
    while (t != NIL && node(h, t)->aug >= need) {
        fnode *n = node(h, t);
        if (n->left != NIL && node(h, n->left)->aug >= need)
            t = n->left;
        else if (size16(h, t) >= need)
            return t;
        else
            t = n->right;
    }
    return NIL;
}

/* The first node with key >= k whose block has at least `need` units. */
static uint32_t fit_from(const fl *h, uint32_t t, uint64_t k, uint32_t need)
{
    while (t != NIL && node(h, t)->aug >= need && key(h, t) < k)
        t = node(h, t)->right;
    if (t == NIL || node(h, t)->aug < need)
        return NIL;
    uint32_t r = fit_from(h, node(h, t)->left, k, need);
    if (r != NIL)
        return r;
    if (size16(h, t) >= need)
        return t;
    return first_fit(h, node(h, t)->right, need);
}

/* The node with the smallest key >= k. */
static uint32_t lower_bound(const fl *h, uint64_t k)
{
    uint32_t t = h->root, best = NIL;
    while (t != NIL) {
        if (key(h, t) >= k) {
            best = t;
            t = node(h, t)->left;
        } else {
            t = node(h, t)->right;
        }
    }
    return best;
}

/* ---- stamps ------------------------------------------------------------------------ */

/* Visit the index in key order (iteratively: a corrupt tree cannot recurse
 * without bound).  Returns the number of nodes, or SIZE_MAX if it is deeper
 * than MAX_DEPTH or holds more than `limit` nodes. */
static size_t in_order(const fl *h, uint64_t limit,
                       void (*visit)(const fl *h, uint32_t x, void *ctx),
                       void *ctx)
{
    uint32_t stack[MAX_DEPTH];
    size_t sp = 0, n = 0;
    uint32_t t = h->root;
    while (t != NIL || sp) {
        while (t != NIL) {
            if (sp == MAX_DEPTH)
                return SIZE_MAX;
            stack[sp++] = t;
            t = node(h, t)->left;
        }
        t = stack[--sp];
        if (++n > limit)
            return SIZE_MAX;
        visit(h, t, ctx);
        t = node(h, t)->right;
    }
    return n;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

struct packer {
    uint64_t *out;
    size_t n;
};

static void pack_stamp(const fl *h, uint32_t x, void *ctx)
{
    struct packer *p = ctx;
    p->out[p->n++] = (uint64_t)node(h, x)->stamp << 32 | x;
}

/*
 * Stamps are 32-bit: before they run out, renumber the free blocks 1..n in
 * stamp order.  Relative order is kept, so every key keeps its place and
 * the tree stays valid.  Amortised O(1) per stamp.  If the temporary array
 * cannot be had, try again later (the limit leaves 2^20 stamps of room).
 */
static void renumber_stamps(fl *h)
{
    uint64_t *tmp = malloc((size_t)(h->free_blocks ? h->free_blocks : 1) * sizeof *tmp);
    if (!tmp)
        return;
    struct packer p = {tmp, 0};
    if (in_order(h, h->free_blocks, pack_stamp, &p) == SIZE_MAX) {
        free(tmp);
        return;
    }
    qsort(tmp, p.n, sizeof *tmp, cmp_u64);
    for (size_t i = 0; i < p.n; i++)
        node(h, (uint32_t)tmp[i])->stamp = (uint32_t)(i + 1);
    h->next_stamp = (uint32_t)(p.n + 1);
    free(tmp);
}

/* ---- the index with its counters and the rover ---------------------------------------- */

/* Make [off, off+size) a free block and index it (a fresh stamp). */
static void index_add(fl *h, uint64_t off, uint64_t size, uint64_t prev_flag)
{
    if (h->next_stamp >= h->stamp_limit)
        renumber_stamps(h);
    *hdr(h, off) = size | prev_flag;
    set_footer(h, off, size);
    uint32_t x = (uint32_t)(off >> 4);
    fnode *n = node(h, x);
    n->left = n->right = NIL;
    n->stamp = h->next_stamp++;
    h->root = insert(h, h->root, x, key(h, x), prio(x));
    h->free_bytes += size;
    h->free_blocks++;
}

/* The node with the smallest key > k (NIL: none). */
static uint32_t successor(const fl *h, uint64_t k)
{
    return k == UINT64_MAX ? NIL : lower_bound(h, k + 1);
}

/* Take the free block at off out of the index (before changing its header).
 * A rover on it moves to the block that followed it. */
static void index_remove(fl *h, uint64_t off)
{
    uint32_t x = (uint32_t)(off >> 4);
    uint64_t k = key(h, x);
    h->root = erase(h, h->root, k);
    h->free_bytes -= bsize(h, off);
    h->free_blocks--;
    if (h->rover == x) {
        /* In best fit the rover is unused; successor by the order key. */
        h->rover = successor(h, k);
    }
}

/* ---- placement ------------------------------------------------------------------------ */

/* Find a free block of at least `need` units under the policy. */
static uint32_t policy_find(fl *h, uint32_t need)
{
    if (h->root == NIL || node(h, h->root)->aug < need)
        return NIL;
    switch (h->fit) {
    case MA_FIT_BEST:
        return lower_bound(h, (uint64_t)need << 32);
    case MA_FIT_WORST:
        return first_fit(h, h->root, node(h, h->root)->aug);
    case MA_FIT_NEXT:
        if (h->rover != NIL) {
            uint32_t x = fit_from(h, h->root, key(h, h->rover), need);
            if (x != NIL)
                return x;
        }
        return first_fit(h, h->root, need); /* wrap around */
    default:
        return first_fit(h, h->root, need);
    }
}

/* Grow the heap so that its top is a free block of at least `need` bytes. */
static ma_status grow(fl *h, uint64_t need, uint32_t *out)
{
    uint64_t top = h->heap, have = 0, prev_flag = F_PREV;
    if (h->top_free) {
        have = *hdr(h, h->heap - 8);
        top = h->heap - have;
        prev_flag = *hdr(h, top) & F_PREV;
    }
    uint64_t inc = need > have ? ma_round_up(need - have, h->growth) : 0;
    if (inc > h->base.arena_size - h->heap)
        return ma_fail(&h->base, MA_ENOMEM, "the heap cannot grow by %llu "
                       "bytes: %llu of the arena's %llu are in use",
                       (unsigned long long)inc, (unsigned long long)h->heap,
                       (unsigned long long)h->base.arena_size);
    bool was_rover = h->top_free && h->rover == (uint32_t)(top >> 4);
    if (h->top_free)
        index_remove(h, top);
    h->heap += inc;
    if (h->heap > h->peak_heap)
        h->peak_heap = h->heap;
    index_add(h, top, have + inc, prev_flag);
    h->top_free = true;
    if (was_rover)
        h->rover = (uint32_t)(top >> 4);
    *out = (uint32_t)(top >> 4);
    return MA_OK;
}

/* Give the heap's top back when it is free (trim option). */
static void maybe_trim(fl *h)
{
    if (!h->trim || !h->top_free)
        return;
    uint64_t size = *hdr(h, h->heap - 8), top = h->heap - size;
    uint64_t keep = ma_round_up(top, h->growth);
    if (keep < h->prealloc)
        keep = h->prealloc;
    while (keep > top && keep - top < h->min_block)
        keep += h->growth; /* a sliver below min_block cannot be a block */
    if (keep >= h->heap)
        return;
    uint64_t prev_flag = *hdr(h, top) & F_PREV;
    bool was_rover = h->rover == (uint32_t)(top >> 4);
    index_remove(h, top);
    ma_arena_discard(&h->base, keep, h->heap - keep);
    h->heap = keep;
    if (keep > top) {
        index_add(h, top, keep - top, prev_flag);
        if (was_rover)
            h->rover = (uint32_t)(top >> 4);
    } else {
        h->top_free = false;
    }
}

/* Mark the block at off allocated with `size` bytes and fix its neighbour. */
static void set_allocated(fl *h, uint64_t off, uint64_t size, uint64_t prev_flag)
{
    *hdr(h, off) = size | F_ALLOC | prev_flag;
    uint64_t next = off + size;
    if (next < h->heap)
        *hdr(h, next) |= F_PREV;
    else
        h->top_free = false;
    h->allocated += size;
    h->alloc_blocks++;
}

/* The block size that serves a request of n bytes. */
static uint64_t block_for(const fl *h, uint64_t n)
{
    uint64_t s = ma_round_up(n + HDR, 16);
    return s < h->min_block ? h->min_block : s;
}

/*
 * Allocate from the free block x (already chosen): the allocation takes the
 * low end (after a leading fragment when aligning), the remainder stays free
 * at the high end when it can hold a minimum block.
 */
static uint64_t place(fl *h, uint32_t x, uint64_t size, uint64_t align)
{
    uint64_t off = (uint64_t)x * 16, have = bsize(h, off);
    uint64_t prev_flag = *hdr(h, off) & F_PREV;
    uint64_t lead = 0;
    if (align > MA_ALIGN) {
        uint64_t payload = ma_round_up(off + HDR, align);
        while (payload - HDR - off != 0 && payload - HDR - off < h->min_block)
            payload += align;
        lead = payload - HDR - off;
    }
    uint32_t succ = h->fit == MA_FIT_NEXT ? successor(h, key(h, x)) : NIL;
    index_remove(h, off);
    if (lead) {
        index_add(h, off, lead, prev_flag);
        prev_flag = 0;
    }
    uint64_t start = off + lead, rest = have - lead - size;
    if (rest >= h->min_block) { /* the remainder keeps top_free as it was */
        set_allocated(h, start, size, prev_flag);
        index_add(h, start + size, rest, F_PREV);
        if (h->fit == MA_FIT_NEXT)
            h->rover = (uint32_t)((start + size) >> 4);
    } else {
        set_allocated(h, start, have - lead, prev_flag);
        if (h->fit == MA_FIT_NEXT)
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
    uint64_t size = block_for(h, n);
    /* Room for any leading fragment: alignment plus a minimum block. */
    uint64_t need = alignment > MA_ALIGN ? size + alignment + h->min_block : size;
    uint32_t x = need >> 4 <= UINT32_MAX ? policy_find(h, (uint32_t)(need >> 4)) : NIL;
    if (x == NIL) {
        ma_status st = grow(h, need, &x);
        if (st != MA_OK)
            return st;
    }
    *addr = place(h, x, size, alignment) + HDR;
    return MA_OK;
}

/* The allocated block whose payload is at addr, or report corruption. */
static ma_status block_at(fl *h, uint64_t addr, uint64_t *off, uint64_t *size)
{
    *off = *size = 0;
    if (addr < HDR || addr > h->heap || (addr & 15))
        goto bad;
    *off = addr - HDR;
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
    bool was_rover = false;
    if (!prev_flag) {
        uint64_t psize = *hdr(h, off - 8);
        start = off - psize;
        was_rover = h->rover == (uint32_t)(start >> 4);
        prev_flag = *hdr(h, start) & F_PREV;
        index_remove(h, start);
        total += psize;
    }
    uint64_t next = off + size;
    if (next < h->heap && !(*hdr(h, next) & F_ALLOC)) {
        total += bsize(h, next);
        index_remove(h, next);
    }
    uint64_t end = start + total;
    if (end < h->heap)
        *hdr(h, end) &= ~F_PREV;
    else
        h->top_free = true;
    index_add(h, start, total, prev_flag);
    if (was_rover)
        h->rover = (uint32_t)(start >> 4);
    maybe_trim(h);
}

static ma_status fl_free(ma_allocator *a, uint64_t addr)
{
    fl *h = as_fl(a);
    uint64_t off, size;
    ma_status st = block_at(h, addr, &off, &size);
    if (st != MA_OK)
        return st;
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
    uint64_t want = block_for(h, n), prev_flag = *hdr(h, off) & F_PREV;
    uint64_t next = off + size;
    bool next_free = next < h->heap && !(*hdr(h, next) & F_ALLOC);
    uint64_t avail = size + (next_free && want > size ? bsize(h, next) : 0);
    if (want <= avail) { /* in place: shrink, or absorb the next free block */
        if (avail > size)
            index_remove(h, next);
        h->allocated -= size;
        h->alloc_blocks--;
        uint64_t rest = avail - want;
        if (rest >= h->min_block) {
            set_allocated(h, off, want, prev_flag);
            *hdr(h, off + want) = rest | F_PREV; /* the tail, still unindexed */
            release(h, off + want, rest);        /* merges with a free follower */
        } else {
            set_allocated(h, off, avail, prev_flag);
        }
        *new_addr = addr;
        return MA_OK;
    }
    uint64_t moved;
    if ((st = fl_memalign(a, MA_ALIGN, n, &moved)) != MA_OK)
        return st;
    memcpy(ma_ptr(a, moved), ma_ptr(a, addr), (size_t)(size - HDR));
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
        *out = size - HDR;
    return st;
}

static uint64_t fl_heap_size(ma_allocator *a) { return as_fl(a)->heap; }

static void fl_stats(ma_allocator *a, ma_stats *st)
{
    fl *h = as_fl(a);
    st->allocated_bytes = h->allocated;
    st->free_bytes = h->free_bytes;
    st->free_blocks = h->free_blocks;
    st->largest_free = h->root == NIL ? 0 : (uint64_t)node(h, h->root)->aug << 4;
    st->heap_size = h->heap;
    st->peak_heap_size = h->peak_heap;
    st->metadata_bytes = sizeof *h;
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
        ma_block b = {off, size, allocated ? off + HDR : MA_NULL, 0, allocated};
        if (fn(&b, ctx))
            break;
        off += size;
    }
    return MA_OK;
}

/* ---- check ---------------------------------------------------------------------------- */

struct census {
    fl *h;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    bool prev_alloc, last_free;
    ma_status st;
};

static int census_block(const ma_block *b, void *p)
{
    struct census *c = p;
    fl *h = c->h;
    uint64_t w = *hdr(h, b->offset);
    if (((w & F_PREV) != 0) != c->prev_alloc) { /* I2 */
        c->st = ma_fail(&h->base, MA_ECORRUPT, "block at 0x%llx: its "
                        "previous-allocated bit is wrong",
                        (unsigned long long)b->offset);
        return 1;
    }
    if (b->allocated) {
        c->allocated += b->size;
        c->alloc_blocks++;
    } else {
        if (*hdr(h, b->offset + b->size - 8) != b->size) { /* I3 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free block at 0x%llx: "
                            "footer %llu differs from its size %llu",
                            (unsigned long long)b->offset,
                            (unsigned long long)*hdr(h, b->offset + b->size - 8),
                            (unsigned long long)b->size);
            return 1;
        }
        if (!c->prev_alloc) { /* I4 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free blocks meet at "
                            "0x%llx: they were not coalesced",
                            (unsigned long long)b->offset);
            return 1;
        }
        c->free_bytes += b->size;
        c->free_blocks++;
    }
    c->prev_alloc = b->allocated;
    c->last_free = !b->allocated;
    return 0;
}

struct tree_check {
    uint64_t nodes;
    ma_status st;
};

/* I5 for the subtree at t, whose keys must lie in (lo, hi). */
static ma_status check_subtree(fl *h, uint32_t t, uint64_t lo, bool has_lo,
                               uint64_t hi, bool has_hi, unsigned depth,
                               uint64_t *count)
{
    ma_allocator *a = &h->base;
    if (t == NIL)
        return MA_OK;
    if (depth > MAX_DEPTH || ++*count > h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index has more nodes "
                       "than the %llu free blocks (or a cycle)",
                       (unsigned long long)h->free_blocks);
    uint64_t off = (uint64_t)t * 16;
    if (off + h->min_block > h->heap || (*hdr(h, off) & F_ALLOC) ||
        bsize(h, off) < h->min_block || bsize(h, off) > h->heap - off)
        return ma_fail(a, MA_ECORRUPT, "the free-block index names 0x%llx, "
                       "which is not a free block", (unsigned long long)off);
    fnode *n = node(h, t);
    uint64_t k = key(h, t);
    if ((has_lo && k <= lo) || (has_hi && k >= hi))
        return ma_fail(a, MA_ECORRUPT, "the free-block index is out of order "
                       "at 0x%llx", (unsigned long long)off);
    if (n->stamp >= h->next_stamp)
        return ma_fail(a, MA_ECORRUPT, "free block 0x%llx has a stamp from "
                       "the future", (unsigned long long)off);
    for (int side = 0; side < 2; side++) {
        uint32_t c = side ? n->right : n->left;
        if (c != NIL && prio(c) > prio(t))
            return ma_fail(a, MA_ECORRUPT, "the free-block index breaks the "
                           "heap order at 0x%llx", (unsigned long long)off);
    }
    ma_status st = check_subtree(h, n->left, lo, has_lo, k, true, depth + 1, count);
    if (st == MA_OK)
        st = check_subtree(h, n->right, k, true, hi, has_hi, depth + 1, count);
    if (st != MA_OK)
        return st;
    uint32_t m = size16(h, t);
    if (n->left != NIL && node(h, n->left)->aug > m)
        m = node(h, n->left)->aug;
    if (n->right != NIL && node(h, n->right)->aug > m)
        m = node(h, n->right)->aug;
    if (n->aug != m)
        return ma_fail(a, MA_ECORRUPT, "free block 0x%llx: subtree maximum "
                       "%u, should be %u", (unsigned long long)off, n->aug, m);
    return MA_OK;
}

static ma_status fl_check(ma_allocator *a)
{
    fl *h = as_fl(a);
    struct census c = {h, 0, 0, 0, 0, true, false, MA_OK};
    ma_status st = fl_walk(a, census_block, &c); /* I1 */
    if (st != MA_OK)
        return st;
    if (c.st != MA_OK)
        return c.st;
    if (c.free_bytes != h->free_bytes || c.free_blocks != h->free_blocks ||
        c.allocated != h->allocated || c.alloc_blocks != h->alloc_blocks)
        return ma_fail(a, MA_ECORRUPT, "counters: free %llu B in %llu blocks, "
                       "allocated %llu B in %llu; recount: %llu, %llu, %llu, "
                       "%llu", (unsigned long long)h->free_bytes,
                       (unsigned long long)h->free_blocks,
                       (unsigned long long)h->allocated,
                       (unsigned long long)h->alloc_blocks,
                       (unsigned long long)c.free_bytes,
                       (unsigned long long)c.free_blocks,
                       (unsigned long long)c.allocated,
                       (unsigned long long)c.alloc_blocks); /* I6 */
    if (c.last_free != h->top_free || h->peak_heap < h->heap ||
        h->heap > a->arena_size)
        return ma_fail(a, MA_ECORRUPT, "the heap's top is %s, recorded %s",
                       c.last_free ? "free" : "allocated",
                       h->top_free ? "free" : "allocated");
    uint64_t count = 0;
    if ((st = check_subtree(h, h->root, 0, false, 0, false, 0, &count)) != MA_OK)
        return st; /* I5 */
    if (count != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %llu of "
                       "%llu free blocks", (unsigned long long)count,
                       (unsigned long long)h->free_blocks);
    if (h->rover != NIL) { /* I7 */
        uint64_t off = (uint64_t)h->rover * 16;
        if (off >= h->heap || (*hdr(h, off) & F_ALLOC) ||
            lower_bound(h, key(h, h->rover)) != h->rover)
            return ma_fail(a, MA_ECORRUPT, "the rover 0x%llx is not an "
                           "indexed free block", (unsigned long long)off);
    }
    return MA_OK;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void fl_init_state(fl *h)
{
    h->root = NIL;
    h->rover = NIL;
    h->next_stamp = 1;
    h->heap = h->peak_heap = 0;
    h->top_free = false;
    h->free_bytes = h->free_blocks = h->allocated = h->alloc_blocks = 0;
    if (h->prealloc) {
        h->heap = h->peak_heap = h->prealloc;
        index_add(h, 0, h->prealloc, F_PREV);
        h->top_free = true;
    }
}

static ma_status fl_reset(ma_allocator *a)
{
    fl *h = as_fl(a);
    ma_arena_discard(a, 0, ma_round_up(a->arena_size, ma_page_size()));
    fl_init_state(h);
    return MA_OK;
}

static void fl_release(ma_allocator *a) { (void)a; }

static const ma_ops freelist_ops = {
    .name = "free-list",
    .memalign = fl_memalign,
    .realloc = fl_realloc,
    .free = fl_free,
    .usable_size = fl_usable_size,
    .heap_size = fl_heap_size,
    .stats = fl_stats,
    .walk = fl_walk,
    .check = fl_check,
    .reset = fl_reset,
    .release = fl_release,
};

static const char *const fit_names[] = {"best", "first", "next", "worst"};
static const char *const order_names[] = {"ao", "lifo", "fifo"};

ma_status ma_freelist_create(const ma_freelist_config *cfg, ma_allocator **out)
{
    if (!out || !cfg)
        return MA_EINVAL;
    *out = NULL;
    uint64_t growth = cfg->growth ? cfg->growth : 4096;
    uint64_t min_block = cfg->min_block ? cfg->min_block : 32;
    if (cfg->arena_size < 4096 || cfg->arena_size > MAX_ARENA ||
        (cfg->arena_size & 15) || cfg->fit < MA_FIT_BEST ||
        cfg->fit > MA_FIT_WORST || cfg->order < MA_ORDER_ADDRESS ||
        cfg->order > MA_ORDER_FIFO || (growth & 15) ||
        growth > cfg->arena_size || (min_block & 15) || min_block < 32 ||
        min_block > cfg->arena_size || (cfg->prealloc & 15) ||
        cfg->prealloc > cfg->arena_size ||
        (cfg->prealloc && cfg->prealloc < min_block))
        return MA_EINVAL;
    fl *h = calloc(1, sizeof *h);
    if (!h)
        return MA_ENOMEM;
    ma_status st = ma_base_init(&h->base, &freelist_ops, cfg->arena_size,
                                ma_page_size());
    if (st != MA_OK) {
        free(h);
        return st;
    }
    h->fit = cfg->fit;
    h->order = cfg->order;
    h->growth = growth;
    h->min_block = min_block;
    h->prealloc = cfg->prealloc;
    h->trim = cfg->trim != 0;
    h->stamp_limit = cfg->stamp_limit && cfg->stamp_limit < STAMP_LIMIT
                         ? cfg->stamp_limit : STAMP_LIMIT;
    snprintf(h->name, sizeof h->name, "%s-%s", fit_names[cfg->fit],
             order_names[cfg->order]);
    h->base.name = h->name;
    fl_init_state(h);
    *out = &h->base;
    return MA_OK;
}

