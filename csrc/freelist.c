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
 *   free:       [header 8][slot 4][ ... ][footer 8]
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
 * Each free block owns one node of a treap, kept in a side pool (`slot`, a
 * 32-bit index, is written at offset 8 of the free block; NIL = 0xffffffff).
 * The nodes sit together rather than in the blocks: an index of a few
 * thousand free blocks then fits in the first-level cache, where nodes
 * spread over a heap of tens of megabytes cost a cache miss per tree level
 * (measured: about 1.3x slower for every policy).  The pool is address space reserved for the
 * largest number of free blocks the arena can hold (free blocks are never
 * adjacent, so at most arena / (2 * min_block) + 1), so adding a node never
 * fails; slots are reused last-in first-out and `metadata_bytes` counts the
 * pool's high-water mark.  A node holds its block's offset / 16 and
 * size / 16, so searches never touch the heap.
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
 *   - priority = a hash of the node's slot: the shape is deterministic (slots
 *     are reused last-in first-out), the expected depth O(log n), and a node
 *     can take another block without breaking the heap order (reindex).
 *   - address order, first and next fit: a split remainder, or a block merged
 *     with a free neighbour, keeps its place in the order, so it keeps the
 *     neighbour's node: only the subtree maxima on its path are refreshed.
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
#define NBINS 1024u       /* best/worst fit: exact bins for size / 16 < NBINS */
#define BITMAP_WORDS ((NBINS + 1 + 63) / 64)

typedef struct fnode {
    uint64_t key;         /* the tree's key, fixed while indexed */
    uint32_t prio;        /* a hash of off16: the treap priority */
    uint32_t left, right; /* children (slots); left links the spare slots */
    uint32_t aug;         /* largest size / 16 in this subtree */
    uint32_t stamp;       /* when the block became free */
    uint32_t off16;       /* the block's offset / 16 */
    uint32_t size16;      /* the block's size / 16 */
} fnode;

typedef struct fl {
    ma_allocator base; /* must come first */
    int fit, order;
    uint64_t growth, prealloc, min_block;
    bool trim;
    uint64_t heap, peak_heap;
    bool top_free;
    bool binned;                /* best and worst fit: size bins */
    uint32_t roots[NBINS + 1];  /* binned: bins, then the large blocks; else [0] */
    uint64_t nonempty[BITMAP_WORDS]; /* binned: bit b set iff roots[b] != NIL */
    uint32_t rover;
    uint32_t next_stamp, stamp_limit;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    fnode *pool;        /* the side pool of treap nodes */
    uint64_t pool_len;  /* bytes reserved for it */
    uint32_t pool_top;  /* slots ever used (high-water mark) */
    uint32_t spare;     /* first reusable slot, NIL: none */
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

static inline fnode *node(const fl *h, uint32_t x) { return &h->pool[x]; }

/* The slot field of the free block at off. */
static inline uint32_t *slot_of(const fl *h, uint64_t off)
{
    return (uint32_t *)(void *)ma_ptr(&h->base, off + 8);
}

static inline uint32_t size16(const fl *h, uint32_t x)
{
    return node(h, x)->size16;
}

static inline uint64_t off_of(const fl *h, uint32_t x)
{
    return (uint64_t)node(h, x)->off16 << 4;
}

static inline uint32_t okey(const fl *h, uint32_t x)
{
    switch (h->order) {
    case MA_ORDER_LIFO: return ~node(h, x)->stamp;
    case MA_ORDER_FIFO: return node(h, x)->stamp;
    default: return node(h, x)->off16;
    }
}

/* The bin (binned policies) of a block of size16 units. */
static inline uint32_t bin_of(uint32_t size16) { return size16 < NBINS ? size16 : NBINS; }

/*
 * The key a node is indexed by.  Ordered policies (first, next): the order
 * key.  Binned policies (best, worst): in an exact bin every block has the
 * same size, so the order key; among the large blocks (size / 16 << 32) |
 * order key, so the smallest key at or above need << 32 is the best fit.
 */
static inline uint64_t compute_key(const fl *h, uint32_t x)
{
    uint64_t k = okey(h, x);
    if (h->binned && size16(h, x) >= NBINS)
        k |= (uint64_t)size16(h, x) << 32;
    return k;
}

static inline uint64_t key(const fl *h, uint32_t x) { return node(h, x)->key; }

static inline uint32_t *tree_of(fl *h, uint32_t x)
{
    return &h->roots[h->binned ? bin_of(size16(h, x)) : 0];
}

/* Priority: a hash of the node's slot, so that a node can take another
 * block in place (reindex) without breaking the heap order. */
static inline uint32_t prio_of(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static inline uint32_t prio(const fl *h, uint32_t x) { return node(h, x)->prio; }

/* ---- the treap ------------------------------------------------------------------ */

static inline void update(const fl *h, uint32_t x)
{
    fnode *n = node(h, x);
    uint32_t m = size16(h, x);
    if (h->binned && m < NBINS) { /* an exact bin: every size in it is m */
        n->aug = m;
        return;
    }
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
    if (prio(h, a) > prio(h, b)) {
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
    if (t == NIL || px > prio(h, t)) {
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

/* The node with the smallest key >= k in the tree at t. */
static uint32_t lower_bound(const fl *h, uint32_t t, uint64_t k)
{
    uint32_t best = NIL;
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
    size_t n = 0;
    for (uint32_t r = 0; r <= (h->binned ? NBINS : 0); r++) {
        size_t sp = 0;
        uint32_t t = h->roots[r];
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
    for (size_t i = 0; i < p.n; i++) { /* order kept: every tree stays valid */
        uint32_t x = (uint32_t)tmp[i];
        node(h, x)->key = compute_key(h, x);
    }
    h->next_stamp = (uint32_t)(p.n + 1);
    free(tmp);
}

/* ---- the index with its counters and the rover ---------------------------------------- */

static uint32_t slot_alloc(fl *h)
{
    uint32_t x = h->spare;
    if (x != NIL) {
        h->spare = node(h, x)->left;
        return x;
    }
    return h->pool_top++; /* the pool is sized so that this cannot overflow */
}

/*
 * Make node x describe the free block [off, off+size) with a fresh stamp,
 * and write the block's header, footer and slot.  Linking the node into a
 * tree is the caller's business.
 */
static void bind(fl *h, uint32_t x, uint64_t off, uint64_t size,
                 uint64_t prev_flag)
{
    if (h->next_stamp >= h->stamp_limit)
        renumber_stamps(h);
    *hdr(h, off) = size | prev_flag;
    set_footer(h, off, size);
    *slot_of(h, off) = x;
    fnode *n = node(h, x);
    n->off16 = (uint32_t)(off >> 4);
    n->size16 = (uint32_t)(size >> 4);
    n->stamp = h->next_stamp++;
    n->key = compute_key(h, x);
}

/* Make [off, off+size) a free block and index it. */
static void index_add(fl *h, uint64_t off, uint64_t size, uint64_t prev_flag)
{
    uint32_t x = slot_alloc(h);
    fnode *n = node(h, x);
    n->left = n->right = NIL;
    n->prio = prio_of(x);
    bind(h, x, off, size, prev_flag);
    uint32_t *root = tree_of(h, x);
    *root = insert(h, *root, x, n->key, n->prio);
    if (h->binned) {
        uint32_t b = bin_of(n->size16);
        h->nonempty[b >> 6] |= UINT64_C(1) << (b & 63);
    }
    h->free_bytes += size;
    h->free_blocks++;
}

/*
 * Address order, first and next fit: the free block of node x becomes
 * [off, off + size) without leaving its place in the order (the caller
 * guarantees that no other free block lies between the old and the new
 * offset).  Only the subtree maxima on the path from the root change.
 */
static void reindex(fl *h, uint32_t x, uint64_t off, uint64_t size,
                    uint64_t prev_flag)
{
    uint32_t path[MAX_DEPTH];
    size_t depth = 0;
    uint64_t k = key(h, x);
    for (uint32_t t = h->roots[0]; t != x && t != NIL && depth < MAX_DEPTH;) {
        path[depth++] = t; /* (x missing from the tree: check reports it) */
        t = k < key(h, t) ? node(h, t)->left : node(h, t)->right;
    }
    h->free_bytes = h->free_bytes + size - ((uint64_t)size16(h, x) << 4);
    bind(h, x, off, size, prev_flag);
    update(h, x);
    while (depth)
        update(h, path[--depth]);
}

/* Can a block keep its node when it moves or grows (address order, one tree)? */
static inline bool in_place_ok(const fl *h)
{
    return !h->binned && h->order == MA_ORDER_ADDRESS;
}

/* The node with the smallest order key > k (NIL: none); next fit only. */
static uint32_t successor(const fl *h, uint64_t k)
{
    return k == UINT64_MAX ? NIL : lower_bound(h, h->roots[0], k + 1);
}

/* Take the free block at off out of the index (before changing its header).
 * A rover on it moves to the block that followed it. */
static void index_remove(fl *h, uint64_t off)
{
    uint32_t x = *slot_of(h, off);
    uint64_t k = key(h, x);
    uint32_t *root = tree_of(h, x);
    *root = erase(h, *root, k);
    if (h->binned && *root == NIL) {
        uint32_t b = bin_of(size16(h, x));
        h->nonempty[b >> 6] &= ~(UINT64_C(1) << (b & 63));
    }
    h->free_bytes -= (uint64_t)size16(h, x) << 4;
    h->free_blocks--;
    if (h->rover == x)
        h->rover = successor(h, k); /* by the order key (unused in best fit) */
    node(h, x)->left = h->spare;
    h->spare = x;
}

/* The slot of the free block at off (the rover is kept as a slot). */
static inline uint32_t slot_at(const fl *h, uint64_t off) { return *slot_of(h, off); }

/* ---- placement ------------------------------------------------------------------------ */

/* The first non-empty bin at or above b (NBINS + 1: none). */
static uint32_t bin_at_or_above(const fl *h, uint32_t b)
{
    for (uint32_t w = b >> 6; w < BITMAP_WORDS; w++) {
        uint64_t bits = h->nonempty[w];
        if (w == b >> 6)
            bits &= ~UINT64_C(0) << (b & 63);
        if (bits)
            return w * 64 + (uint32_t)__builtin_ctzll(bits);
    }
    return NBINS + 1;
}

/* The highest non-empty exact bin (0: none). */
static uint32_t highest_bin(const fl *h)
{
    for (uint32_t w = BITMAP_WORDS; w-- > 0;) {
        uint64_t bits = h->nonempty[w];
        if (w == NBINS >> 6)
            bits &= (UINT64_C(1) << (NBINS & 63)) - 1; /* not the large bin */
        if (bits)
            return w * 64 + 63 - (uint32_t)__builtin_clzll(bits);
    }
    return 0;
}

static uint32_t leftmost(const fl *h, uint32_t t)
{
    if (t != NIL)
        while (node(h, t)->left != NIL)
            t = node(h, t)->left;
    return t;
}

/* The largest free block, in units of 16 bytes (0: none). */
static uint32_t largest16(const fl *h)
{
    if (!h->binned)
        return h->roots[0] == NIL ? 0 : node(h, h->roots[0])->aug;
    if (h->roots[NBINS] != NIL)
        return node(h, h->roots[NBINS])->aug;
    return highest_bin(h);
}

/* Find a free block of at least `need` units under the policy. */
static uint32_t policy_find(fl *h, uint32_t need)
{
    if (largest16(h) < need)
        return NIL;
    switch (h->fit) {
    case MA_FIT_BEST: {
        uint32_t b = bin_at_or_above(h, bin_of(need));
        if (b < NBINS) /* exact bin: every block fits; first in order */
            return leftmost(h, h->roots[b]);
        return lower_bound(h, h->roots[NBINS], (uint64_t)need << 32);
    }
    case MA_FIT_WORST: {
        uint32_t m = largest16(h);
        if (m >= NBINS)
            return lower_bound(h, h->roots[NBINS], (uint64_t)m << 32);
        return leftmost(h, h->roots[m]);
    }
    case MA_FIT_NEXT:
        if (h->rover != NIL) {
            uint32_t x = fit_from(h, h->roots[0], key(h, h->rover), need);
            if (x != NIL)
                return x;
        }
        return first_fit(h, h->roots[0], need); /* wrap around */
    default:
        return first_fit(h, h->roots[0], need);
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
    bool was_rover = h->top_free && h->rover == slot_at(h, top);
    if (h->top_free)
        index_remove(h, top);
    h->heap += inc;
    if (h->heap > h->peak_heap)
        h->peak_heap = h->heap;
    index_add(h, top, have + inc, prev_flag);
    h->top_free = true;
    if (was_rover)
        h->rover = slot_at(h, top);
    *out = slot_at(h, top);
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
    bool was_rover = h->rover == slot_at(h, top);
    index_remove(h, top);
    ma_arena_discard(&h->base, keep, h->heap - keep);
    h->heap = keep;
    if (keep > top) {
        index_add(h, top, keep - top, prev_flag);
        if (was_rover)
            h->rover = slot_at(h, top);
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
    uint64_t off = off_of(h, x), have = bsize(h, off);
    uint64_t prev_flag = *hdr(h, off) & F_PREV;
    uint64_t lead = 0;
    if (align > MA_ALIGN) {
        uint64_t payload = ma_round_up(off + HDR, align);
        while (payload - HDR - off != 0 && payload - HDR - off < h->min_block)
            payload += align;
        lead = payload - HDR - off;
    }
    uint64_t rest = have - lead - size;
    if (!lead && rest >= h->min_block && in_place_ok(h)) {
        /* the remainder takes the chosen block's node and place */
        set_allocated(h, off, size, prev_flag);
        reindex(h, x, off + size, rest, F_PREV);
        if (h->fit == MA_FIT_NEXT)
            h->rover = x;
        return off;
    }
    uint32_t succ = h->fit == MA_FIT_NEXT ? successor(h, key(h, x)) : NIL;
    index_remove(h, off);
    if (lead) {
        index_add(h, off, lead, prev_flag);
        prev_flag = 0;
    }
    uint64_t start = off + lead;
    if (rest >= h->min_block) { /* the remainder keeps top_free as it was */
        set_allocated(h, start, size, prev_flag);
        index_add(h, start + size, rest, F_PREV);
        if (h->fit == MA_FIT_NEXT)
            h->rover = slot_at(h, start + size);
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

/*
 * Free [off, off+size) and merge it with free neighbours.  In address order
 * (first, next fit) the merged block keeps a neighbour's node: the previous
 * block's (same offset), else the next one's (nothing lies between them).
 */
static void release(fl *h, uint64_t off, uint64_t size)
{
    uint64_t start = off, total = size;
    uint64_t prev_flag = *hdr(h, off) & F_PREV;
    uint64_t next = off + size;
    bool next_free = next < h->heap && !(*hdr(h, next) & F_ALLOC);
    bool in_place = in_place_ok(h);
    uint32_t keep = NIL; /* the neighbour's node the merged block takes */
    bool was_rover = false;
    if (!prev_flag) {
        uint64_t psize = *hdr(h, off - 8);
        start = off - psize;
        total += psize;
        prev_flag = *hdr(h, start) & F_PREV;
        if (in_place) {
            keep = slot_at(h, start); /* a rover on it stays on it */
        } else {
            was_rover = h->rover == slot_at(h, start);
            index_remove(h, start);
        }
    }
    if (next_free) {
        total += bsize(h, next);
        if (in_place && keep == NIL) {
            keep = slot_at(h, next);
            if (h->rover == keep) /* its block merges into a lower one */
                h->rover = successor(h, key(h, keep));
        } else {
            index_remove(h, next);
        }
    }
    if (start + total < h->heap)
        *hdr(h, start + total) &= ~F_PREV;
    else
        h->top_free = true;
    if (keep != NIL) {
        reindex(h, keep, start, total, prev_flag);
    } else {
        index_add(h, start, total, prev_flag);
        if (was_rover)
            h->rover = slot_at(h, start);
    }
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

static void fl_stats(ma_allocator *a, ma_stats *st)
{
    fl *h = as_fl(a);
    st->allocated_bytes = h->allocated;
    st->free_bytes = h->free_bytes;
    st->free_blocks = h->free_blocks;
    st->largest_free = (uint64_t)largest16(h) << 4;
    st->heap_size = h->heap;
    st->peak_heap_size = h->peak_heap;
    st->metadata_bytes = sizeof *h + (uint64_t)h->pool_top * sizeof(fnode);
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
static ma_status check_subtree(fl *h, uint32_t t, uint32_t tree, uint64_t lo,
                               bool has_lo,
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
    if (t >= h->pool_top)
        return ma_fail(a, MA_ECORRUPT, "the free-block index names slot %u, "
                       "beyond the %u in use", t, h->pool_top);
    uint64_t off = off_of(h, t);
    if (off + h->min_block > h->heap || (*hdr(h, off) & F_ALLOC) ||
        bsize(h, off) < h->min_block || bsize(h, off) > h->heap - off ||
        *slot_of(h, off) != t || (uint64_t)size16(h, t) << 4 != bsize(h, off))
        return ma_fail(a, MA_ECORRUPT, "the free-block index names 0x%llx, "
                       "which is not the free block that owns that node",
                       (unsigned long long)off);
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
        if (c != NIL && prio(h, c) > prio(h, t))
            return ma_fail(a, MA_ECORRUPT, "the free-block index breaks the "
                           "heap order at 0x%llx", (unsigned long long)off);
    }
    if (k != compute_key(h, t) || n->prio != prio_of(t) ||
        (h->binned && bin_of(n->size16) != tree))
        return ma_fail(a, MA_ECORRUPT, "free block 0x%llx is indexed under "
                       "a stale key, priority or bin", (unsigned long long)off);
    ma_status st = check_subtree(h, n->left, tree, lo, has_lo, k, true,
                                 depth + 1, count);
    if (st == MA_OK)
        st = check_subtree(h, n->right, tree, k, true, hi, has_hi, depth + 1,
                           count);
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
    for (uint32_t r = 0; r <= (h->binned ? NBINS : 0); r++) { /* I5 */
        uint64_t before = count;
        if ((st = check_subtree(h, h->roots[r], r, 0, false, 0, false, 0,
                                &count)) != MA_OK)
            return st;
        if (h->binned &&
            (((h->nonempty[r >> 6] >> (r & 63)) & 1) != (count > before)))
            return ma_fail(a, MA_ECORRUPT, "the bin bitmap is wrong for "
                           "bin %u", r);
    }
    if (count != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %llu of "
                       "%llu free blocks", (unsigned long long)count,
                       (unsigned long long)h->free_blocks);
    if (h->rover != NIL && (h->rover >= h->pool_top ||
                            lower_bound(h, h->roots[0], key(h, h->rover)) != h->rover)) /* I7 */
        return ma_fail(a, MA_ECORRUPT, "the rover is not an indexed free block");
    uint64_t spares = 0; /* every slot is either in the index or spare */
    for (uint32_t x = h->spare; x != NIL; x = node(h, x)->left)
        if (x >= h->pool_top || ++spares > h->pool_top)
            return ma_fail(a, MA_ECORRUPT, "the spare node list is broken");
    if (spares + h->free_blocks != h->pool_top)
        return ma_fail(a, MA_ECORRUPT, "%llu spare and %llu indexed nodes, "
                       "%u in the pool", (unsigned long long)spares,
                       (unsigned long long)h->free_blocks, h->pool_top);
    return MA_OK;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void fl_init_state(fl *h)
{
    for (uint32_t r = 0; r <= NBINS; r++)
        h->roots[r] = NIL;
    memset(h->nonempty, 0, sizeof h->nonempty);
    h->rover = NIL;
    h->spare = NIL;
    h->pool_top = 0;
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
    ma_discard(h->pool, h->pool_len);
    fl_init_state(h);
    return MA_OK;
}

static void fl_release(ma_allocator *a)
{
    fl *h = as_fl(a);
    ma_unmap(h->pool, h->pool_len);
    h->pool = NULL;
}

static const ma_ops freelist_ops = {
    .name = "free-list",
    .memalign = fl_memalign,
    .realloc = fl_realloc,
    .free = fl_free,
    .usable_size = fl_usable_size,
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
    h->binned = cfg->fit == MA_FIT_BEST || cfg->fit == MA_FIT_WORST;
    h->growth = growth;
    h->min_block = min_block;
    h->prealloc = cfg->prealloc;
    h->trim = cfg->trim != 0;
    h->stamp_limit = cfg->stamp_limit && cfg->stamp_limit < STAMP_LIMIT
                         ? cfg->stamp_limit : STAMP_LIMIT;
    /* Free blocks are never adjacent: at most one per 2 * min_block bytes. */
    uint64_t slots = cfg->arena_size / (2 * min_block) + 2;
    h->pool_len = ma_round_up(slots * sizeof(fnode), ma_page_size());
    h->pool = ma_map_zero(h->pool_len);
    if (!h->pool) {
        ma_destroy(&h->base);
        return MA_ESYS;
    }
    snprintf(h->name, sizeof h->name, "%s-%s", fit_names[cfg->fit],
             order_names[cfg->order]);
    h->base.name = h->name;
    h->base.heap_size_at = &h->heap;
    fl_init_state(h);
    *out = &h->base;
    return MA_OK;
}

