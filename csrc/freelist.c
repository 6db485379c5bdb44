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
 *   free:       [header 8][tag 4][ ... ][tag 4][pad 4][footer 8]
 *
 *   header = size | F_ALLOC (this block allocated) | F_PREV (the previous
 *   block is allocated; the first block counts its "previous" as allocated).
 *   footer (free blocks only) = size.  The address handed out is the block's
 *   offset + 16, so an allocated block costs 16 bytes of overhead and its
 *   usable size is size - 16.  Coalescing is O(1): the next block's header
 *   follows the block, and when F_PREV is clear the previous block's footer
 *   sits just before the header.  `tag` (offset 8 of a free block) names the
 *   block's entry in the index: a node slot (best and worst fit) or a stamp
 *   (first and next fit in LIFO or FIFO order); unused for first and next
 *   fit in address order.  A copy of the tag sits 16 bytes before the
 *   block's end, beside the footer, so that freeing the block above reads
 *   the index entry of its lower neighbour from its own line.
 *
 * ==== Free-list order ==========================================================
 * AO orders blocks by offset.  LIFO and FIFO order them by a stamp, a counter
 * taken when a block becomes free (freed, created by growth, split off as a
 * remainder, or formed by coalescing): FIFO oldest first, LIFO newest first.
 * Each fit has the index that answers its question fastest.
 *
 * ==== First and next fit: a position tree ======================================
 * Every free block has a position: AO: offset / 16; LIFO, FIFO: its stamp.
 * The free-list order reads positions upward (AO, FIFO) or downward (LIFO).
 * Over the positions sits an implicit 16-ary tree of bounds, in flat arrays:
 *   - pbits: one bit per position, set iff a free block has it;
 *   - psize, poff (LIFO and FIFO only): the size / 16 and offset / 16 of the
 *     block at each position, psize 0 where there is none (AO reads sizes
 *     from the block headers: a group of 1 KiB holds at most 16 free blocks);
 *   - lv[0][g] >= the largest size / 16 among the blocks at positions
 *     64g .. 64g + 63; lv[k][i] >= every lv[k-1][16i .. 16i + 15].
 * Every level is padded to a multiple of 16 entries, so a node of the tree is
 * one 64-byte line, compared sixteen at a time with SSE2.  Levels are in
 * use up to ktop, the lowest level whose entry 0 covers every position used
 * so far (ktop grows with the heap or the stamps: 4-5 levels for a heap of
 * tens of megabytes, at most 8).
 *   The query "the first block at or after position p, in the order, with
 * at least `need` units" climbs from p's group to the first level with a
 * fitting sibling on the order's side, then descends; from the start of the
 * order it descends from the root.  First fit searches from the start, next
 * fit from the rover and then from the start (wrap-around).
 *   The bounds are upper bounds, not exact maxima: adding a block raises
 *   them on its path until one is high enough; removing one clears its bit
 *   and leaves the bounds.  A search that descends into a subtree whose
 *   bound promised more than it holds tightens that bound (to the largest
 *   of its children's, or a group's exact maximum) and goes on beside it, so
 *   each detour is paid for by the removal that left the bound high.  The
 *   block an allocation takes is recounted at once in address-ordered first
 *   fit, whose searches all pass the same low addresses (measured: lazy
 *   everywhere else).  Nearly every such allocation takes its group's
 *   largest block, so the recount climbs at least one level (2.3 on
 *   average); the search from the root records the largest of the other
 *   bounds in the line of the group it ends in (path_rest), and the first
 *   step up takes the larger of that and the group's new maximum.
 *   largest_free (stats) is made exact on demand.
 *   Stamps only grow, so LIFO and FIFO positions are used up: when the
 *   stamps in use reach 4 * free blocks + 64 (and pt_floor), or come within
 *   8 of pcap, every free block is renumbered 0 .. n-1 in order (compaction,
 *   at the start of an operation; amortised O(1): of the p stamps it
 *   compacts, at least half were taken, or their blocks taken out of the
 *   index, since the last compaction).  pcap is 2 * (the most free blocks
 *   the arena can hold) + 64, rounded up to a multiple of 64.
 *   The arrays are one reservation of address space (pages are touched only
 *   where positions are used); metadata_bytes counts the part in use.
 *
 * ==== Best and worst fit: size bins ============================================
 * A free block smaller than NBINS * 16 bytes sits in the exact bin of its
 * size; a bitmap of non-empty bins (with a summary word) finds the smallest
 * fitting bin (best fit) or the highest non-empty one (worst fit) in a few
 * word operations.  Each block owns a 32-byte node in a side pool (`tag` =
 * its slot):
 *   - LIFO, FIFO: a bin is a doubly linked list in free-list order (LIFO
 *     pushes at the head, FIFO at the tail; the head is taken): O(1);
 *   - AO: a bin is a pairing heap ordered by offset (the root is taken):
 *     insertion O(1), removal amortised O(log n).  Worst fit builds a bin's
 *     heap only when it first takes from the bin (see below);
 *   - larger blocks share one treap keyed by (size / 16) << 32 | order key
 *     (order key: offset / 16, stamp, or ~stamp for LIFO) and augmented
 *     with the largest size in each subtree: the smallest key >= need << 32
 *     is the best fit, and the smallest key >= (the root's largest size)
 *     << 32 the worst fit, ties broken by the order.
 * Neither key nor priority is stored: a key is computed from the node, a
 * priority hashes the slot (the shape is deterministic).  Node stamps are
 * 32-bit and renumbered in order before they run out.  The pool is address
 * space reserved for the largest number of free blocks the arena can hold
 * (never adjacent: arena / (2 * min_block) + 1), so adding a node never
 * fails, plus one scratch slot that is never handed out (pairing-heap links
 * write there blindly instead of branching); `metadata_bytes` counts its
 * high-water mark.
 *   Worst fit takes from the treap while it holds a block, else from the
 * highest non-empty bin.  Its free blocks are mostly small ones that it
 * never takes but that come and go by coalescing: in address order (`lazy`)
 * a bin is therefore an unordered list (pushed at the head, like LIFO)
 * until worst fit first takes from it.  Then its k blocks are paired into a
 * heap, O(k), once per block added to the list: amortised O(1).  The bin
 * stays a heap until it is empty (`heaped` marks the heaps).  On the
 * benchmark, in three interleaved runs, this measured from 1% slower to 10%
 * faster than the one 4-ary max-heap of all free blocks that worst fit used
 * before, and with less code; pairing heaps in every bin were 12-16% slower
 * than that heap in two runs of three.
 *
 * ==== Next fit's rover ========================================================
 * `rover` is the position of a free block (PNONE: the start of the order).
 * After an allocation it is the free remainder of the chosen block, or, when
 * nothing remained, the chosen block's successor in the order.  When the
 * rover's block leaves the index (allocated, merged into a lower neighbour,
 * trimmed away) the rover moves to the block that followed it; when the
 * rover's block absorbs a neighbour (coalescing, heap growth) the rover
 * stays on the grown block.
 *
 * ==== Invariants (fl_check verifies every one) ==============================
 *   I1  the blocks tile [0, heap): sizes multiples of 16, >= min_block;
 *   I2  F_PREV of every block equals the allocated state of its predecessor;
 *   I3  every free block's footer equals its header's size, and the copy of
 *       its tag equals the tag (where tags are used);
 *   I4  no two free blocks are adjacent (coalescing is immediate);
 *   I5  the index holds exactly the free blocks.  Position tree: each free
 *       block's bit is set (and psize/poff describe it), no other bit is,
 *       psize is 0 at empty positions, every bound is at least the largest
 *       block or bound beneath it.  Bins: every node names the free block
 *       that owns it, in the right bin; treaps: keys strictly increasing,
 *       parent priority >= child priority, aug correct; pairing heaps:
 *       links consistent, children after their parent; lists: links
 *       consistent, stamps in order (oldest first in FIFO, else newest); the
 *       bin bitmap and its summary match;
 *   I6  free_bytes, free_blocks, allocated and alloc_blocks equal a recount;
 *       top_free says whether the last block is free; peak_heap >= heap;
 *   I7  the rover is PNONE or the position of a free block; stamps are below
 *       the next stamp.
 *
 * ==== Costs ==================================================================
 * malloc, free, realloc, memalign: O(log n) in the number of free blocks n.
 * Best and worst fit: O(1) in list bins, amortised O(log n) in pairing
 * heaps, expected O(log n) in the large treap.  First and next fit:
 * O(log_16 of the positions in use) per query, plus two groups of at most
 * 16 blocks, amortised over the bound tightenings and compactions.
 *   Memory traffic: an allocation takes the chosen block's offset, size and
 * index entry from the index and reads nothing from the block (its F_PREV is
 * set, by I4); the lines it will write (the block's header, its successor's,
 * a remainder's) are prefetched before the index work, so that their misses
 * overlap it.  A free reads the block's header and its successor's, and
 * only when F_PREV is clear the predecessor's footer and tag copy (on the
 * freed block's line unless it starts one), never the predecessor's header.
 */
#include "ma_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define HDR 16u
#define F_ALLOC UINT64_C(1)
#define F_PREV UINT64_C(2)
#define F_MASK UINT64_C(15)
#define NIL UINT32_MAX
#define PNONE UINT64_MAX              /* no position */
#define MAX_ARENA (UINT64_C(1) << 35) /* node names are 32-bit offset/16 */
#define MAX_DEPTH 512                 /* check: deeper than this is a cycle */
#define STAMP_LIMIT (UINT32_MAX - (UINT32_C(1) << 20))
#define NBINS 1024u       /* bins: exact bins for size / 16 < NBINS */
#define BITMAP_WORDS ((NBINS + 1 + 63) / 64)
_Static_assert(BITMAP_WORDS <= 32, "nonempty_words has a bit per bitmap word");
#define PT_LEVELS 10      /* position tree: levels at most (8 for 2^31) */
#define PT_FLOOR (UINT64_C(1) << 16) /* compaction: never below this many stamps */

/* 32 bytes: two to a line, never across one.  A node's key and treap
 * priority are computed (compute_key, prio_of), not stored. */
typedef struct fnode {
    uint32_t off16;       /* the block's offset / 16 */
    uint32_t left, right; /* children or list links; left links the spares */
    uint32_t up;          /* pairing heaps: the parent or previous sibling */
    uint32_t size16;      /* the block's size / 16 */
    uint32_t stamp;       /* when the block became free */
    uint32_t aug;         /* largest size / 16 in this subtree */
    uint32_t pad;
} fnode;
_Static_assert(sizeof(fnode) == 32, "two pool nodes to a cache line");

enum { IX_BINS, IX_PTREE }; /* best and worst fit; first and next fit */

typedef struct fl {
    ma_allocator base; /* must come first */
    int fit, order;
    uint64_t growth, prealloc, min_block;
    bool trim;
    uint64_t heap, peak_heap;
    bool top_free;
    uint64_t free_bytes, free_blocks, allocated, alloc_blocks;
    int kind;                   /* IX_BINS or IX_PTREE */
    /* best and worst fit: bins of pool nodes */
    bool lists;                 /* LIFO/FIFO: exact bins are lists */
    uint32_t roots[NBINS + 1];  /* bins (treap roots or list heads), then the large blocks */
    uint32_t tails[NBINS];      /* lists: the last node of each bin */
    uint64_t nonempty[BITMAP_WORDS]; /* bit b set iff roots[b] != NIL */
    uint32_t nonempty_words;    /* bit w set iff nonempty[w] != 0 */
    bool lazy;                  /* worst-ao: a bin is a list until first taken from */
    uint64_t heaped[NBINS / 64]; /* lazy: bit b set iff bin b is a pairing heap */
    uint32_t next_stamp, stamp_limit;
    fnode *pool;        /* the side pool of nodes */
    uint64_t pool_len;  /* bytes reserved for it */
    uint32_t pool_top;  /* slots ever used (high-water mark) */
    uint32_t spare;     /* first reusable slot, NIL: none */
    uint32_t scratch;   /* a slot never handed out: ph_link's blind writes */
    /* first and next fit: the position tree */
    uint64_t *pbits;
    uint32_t *psize, *poff;     /* LIFO/FIFO only, else NULL */
    uint32_t *lv[PT_LEVELS];
    uint64_t lvlen[PT_LEVELS];  /* entries per level (multiples of 16) */
    int nlv;
    int ktop;                   /* the top level in use: lv[ktop][0] covers all */
    uint64_t pcap;              /* positions */
    uint64_t pstamp;            /* LIFO/FIFO: the next stamp */
    uint64_t pstamp_hw;         /* LIFO/FIFO: the most stamps ever in use */
    uint64_t pt_floor;          /* compaction: not below this many stamps */
    void *pmap;
    uint64_t pmap_len;
    uint64_t rover;             /* next fit: a position, PNONE: the start */
    /* first-ao: the last search from the root (see pt_refresh) */
    uint64_t path_group;        /* the group it ended in */
    uint32_t path_rest;         /* the largest level-0 bound beside that group */
    bool path_ok;               /* the two describe that search */
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

/* The tag field of the free block at off (node slot or stamp). */
static inline uint32_t *tag_of(const fl *h, uint64_t off)
{
    return (uint32_t *)(void *)ma_ptr(&h->base, off + 8);
}

/* The copy of the tag beside the footer of the free block that ends at
 * `end`: freeing the block at `end` reads it from its own header's line. */
static inline uint32_t *tag_copy_of(const fl *h, uint64_t end)
{
    return (uint32_t *)(void *)ma_ptr(&h->base, end - 16);
}

static inline void set_tag(fl *h, uint64_t off, uint64_t size, uint32_t v)
{
    *tag_of(h, off) = v;
    *tag_copy_of(h, off + size) = v;
}

static inline fnode *node(const fl *h, uint32_t x) { return &h->pool[x]; }

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

/* The bin of a block of size16 units. */
static inline uint32_t bin_of(uint32_t size16) { return size16 < NBINS ? size16 : NBINS; }

/*
 * The key a node is indexed by: in an exact bin every block has the same
 * size, so the order key; among the large blocks (size / 16 << 32) | order
 * key, so the smallest key at or above need << 32 is the best fit.
 */
static inline uint64_t compute_key(const fl *h, uint32_t x)
{
    uint64_t k = okey(h, x);
    if (size16(h, x) >= NBINS)
        k |= (uint64_t)size16(h, x) << 32;
    return k;
}

/* The kind of bin b: a list, a pairing heap, else a treap. */
static inline bool heaped(const fl *h, uint32_t b)
{
    return (h->heaped[b >> 6] >> (b & 63)) & 1;
}
static inline bool is_heap(const fl *h, uint32_t b)
{
    return b < NBINS && !h->lists && (!h->lazy || heaped(h, b));
}
static inline bool is_list(const fl *h, uint32_t b)
{
    return b < NBINS && (h->lists || (h->lazy && !heaped(h, b)));
}

/* Priority: a hash of the node's slot. */
static inline uint32_t prio_of(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

/* ---- best and worst fit: the treaps ---------------------------------------------- */

static inline void update(const fl *h, uint32_t x)
{
    fnode *n = node(h, x);
    uint32_t m = size16(h, x);
    if (m < NBINS) { /* an exact bin: every size in it is m */
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
    if (compute_key(h, t) < k) {
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
    if (prio_of(a) > prio_of(b)) {
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
    if (t == NIL || px > prio_of(t)) {
        fnode *n = node(h, x);
        split(h, t, kx, &n->left, &n->right);
        update(h, x);
        return x;
    }
    fnode *n = node(h, t);
    if (kx < compute_key(h, t))
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
    uint64_t kt = compute_key(h, t);
    if (kx == kt)
        return join(h, n->left, n->right);
    if (kx < kt)
        n->left = erase(h, n->left, kx);
    else
        n->right = erase(h, n->right, kx);
    update(h, t);
    return t;
}

/* The node with the smallest key >= k in the tree at t. */
static uint32_t lower_bound(const fl *h, uint32_t t, uint64_t k)
{
    uint32_t best = NIL;
    while (t != NIL) {
        if (compute_key(h, t) >= k) {
            best = t;
            t = node(h, t)->left;
        } else {
            t = node(h, t)->right;
        }
    }
    return best;
}

/* ---- best and worst fit: stamps -------------------------------------------------- */

/* Visit every node of the bins (lists from head to tail, treaps in key
 * order, pairing heaps in preorder; iteratively, so that a corrupt index
 * cannot recurse without bound).  Returns the number of nodes, or SIZE_MAX
 * if a treap is deeper than MAX_DEPTH, the bins hold more than `limit`
 * nodes, or a heap's links go round in circles. */
static size_t in_order(const fl *h, uint64_t limit,
                       void (*visit)(const fl *h, uint32_t x, uint32_t bin, void *ctx),
                       void *ctx)
{
    uint32_t stack[MAX_DEPTH];
    size_t n = 0;
    for (uint32_t r = 0; r <= NBINS; r++) {
        if (is_heap(h, r)) {
            uint64_t steps = 0; /* each link is followed at most twice */
            for (uint32_t t = h->roots[r]; t != NIL;) {
                if (t >= h->pool_top || ++n > limit)
                    return SIZE_MAX;
                visit(h, t, r, ctx);
                if (node(h, t)->left != NIL) {
                    t = node(h, t)->left;
                    continue;
                }
                while (t != NIL && node(h, t)->right == NIL) { /* climb */
                    uint32_t u = node(h, t)->up;
                    while (u != NIL && u < h->pool_top && node(h, u)->left != t) {
                        t = u; /* back along the siblings */
                        u = node(h, t)->up;
                        if (++steps > 2 * limit + 2)
                            return SIZE_MAX;
                    }
                    if (u >= h->pool_top && u != NIL)
                        return SIZE_MAX;
                    t = u;
                    if (++steps > 2 * limit + 2)
                        return SIZE_MAX;
                }
                if (t != NIL)
                    t = node(h, t)->right;
            }
            continue;
        }
        if (is_list(h, r)) {
            for (uint32_t t = h->roots[r]; t != NIL; t = node(h, t)->right) {
                if (t >= h->pool_top || ++n > limit)
                    return SIZE_MAX;
                visit(h, t, r, ctx);
            }
            continue;
        }
        size_t sp = 0;
        uint32_t t = h->roots[r];
        while (t != NIL || sp) {
            while (t != NIL) {
                if (sp == MAX_DEPTH || t >= h->pool_top)
                    return SIZE_MAX;
                stack[sp++] = t;
                t = node(h, t)->left;
            }
            t = stack[--sp];
            if (++n > limit)
                return SIZE_MAX;
            visit(h, t, r, ctx);
            t = node(h, t)->right;
        }
    }
    return n;
}

struct restamp {
    uint64_t k, n; /* nodes visited, nodes in all */
    bool up;       /* FIFO: stamps rise along each bin's order */
};

static void restamp(const fl *h, uint32_t x, uint32_t bin, void *ctx)
{
    (void)bin;
    struct restamp *r = ctx;
    node(h, x)->stamp = (uint32_t)(r->up ? r->k + 1 : r->n - r->k);
    r->k++;
}

/*
 * Node stamps are 32-bit: before they run out, renumber the free blocks
 * 1..n.  Stamps are compared only within one bin (a list kept in stamp
 * order; the large blocks' treap, whose keys order equal sizes by stamp),
 * so visiting every bin in its own order (in_order) and numbering the k-th
 * node visited k + 1 (FIFO: oldest first) or n - k (LIFO, whose lists and
 * keys run newest first, and worst-ao's unordered lists, pushed at the head
 * like LIFO; address order keys no stamps) keeps every key in its place and
 * every structure valid.  It needs no memory, so it cannot fail; O(n),
 * after at least stamp_limit - n new stamps (n <= arena / (2 * min_block) +
 * 1 < 2^30, far below the built-in limit).  A corrupt index (in_order
 * gives up) keeps next_stamp: fl_check reports the corruption.
 */
static void renumber_stamps(fl *h)
{
    struct restamp r = {0, h->free_blocks, h->order == MA_ORDER_FIFO};
    if (in_order(h, h->free_blocks, restamp, &r) != SIZE_MAX)
        h->next_stamp = (uint32_t)(h->free_blocks + 1);
}

/* ---- best and worst fit: the bins ------------------------------------------------ */

static uint32_t slot_alloc(fl *h)
{
    uint32_t x = h->spare;
    if (x != NIL) {
        h->spare = node(h, x)->left;
        return x;
    }
    return h->pool_top++; /* the pool is sized so that this cannot overflow */
}

static inline void bin_mark(fl *h, uint32_t b, bool nonempty)
{
    uint32_t w = b >> 6;
    if (nonempty)
        h->nonempty[w] |= UINT64_C(1) << (b & 63);
    else
        h->nonempty[w] &= ~(UINT64_C(1) << (b & 63));
    if (h->nonempty[w])
        h->nonempty_words |= UINT32_C(1) << w;
    else
        h->nonempty_words &= ~(UINT32_C(1) << w);
}

/*
 * AO: an exact bin is a pairing heap ordered by offset (left = the
 * first child, right = the next sibling, up = the parent of a first child or
 * the previous sibling of the others).  Insertion is O(1); removing the
 * minimum, or any node, pairs up the node's children: amortised O(log n).
 */

/* Link two heap roots (neither NIL): the lower offset becomes the root, the
 * other its first child; the new root's right and up are cleared.  The
 * comparison is a coin toss, so the roots are selected with masks, not
 * branches, and the old first child's up is written blindly (to the scratch
 * node when there is none). */
static inline uint32_t ph_link(const fl *h, uint32_t a, uint32_t b)
{
    uint32_t m = 0u - (uint32_t)(node(h, b)->off16 < node(h, a)->off16);
    uint32_t lo = (b & m) | (a & ~m), hi = a ^ b ^ lo;
    fnode *L = node(h, lo), *H = node(h, hi);
    uint32_t first = L->left;
    uint32_t f = 0u - (uint32_t)(first != NIL);
    node(h, (first & f) | (h->scratch & ~f))->up = hi;
    H->right = first;
    H->up = lo;
    L->left = hi;
    L->right = L->up = NIL;
    return lo;
}

/* Meld a list of siblings into one heap: pairs left to right, then the
 * pairs right to left. */
static inline __attribute__((always_inline)) uint32_t
ph_merge_pairs(const fl *h, uint32_t c)
{
    if (c == NIL)
        return NIL;
    uint32_t acc = NIL; /* the melded pairs, newest first, linked by right */
    for (;;) {
        uint32_t b = node(h, c)->right;
        if (b == NIL) { /* an odd one out */
            node(h, c)->up = NIL;
            node(h, c)->right = acc;
            acc = c;
            break;
        }
        uint32_t next = node(h, b)->right;
        uint32_t m = ph_link(h, c, b);
        node(h, m)->right = acc;
        acc = m;
        if (next == NIL)
            break;
        c = next;
    }
    uint32_t r = acc;
    acc = node(h, r)->right;
    node(h, r)->right = NIL;
    while (acc != NIL) {
        uint32_t next = node(h, acc)->right;
        r = ph_link(h, r, acc);
        acc = next;
    }
    return r;
}

/* Take x out of the pairing heap at *root. */
static void ph_remove(const fl *h, uint32_t *root, uint32_t x)
{
    fnode *X = node(h, x);
    uint32_t sub = ph_merge_pairs(h, X->left);
    if (*root == x) {
        *root = sub;
        return;
    }
    uint32_t u = X->up;
    if (node(h, u)->left == x)
        node(h, u)->left = X->right;
    else
        node(h, u)->right = X->right;
    if (X->right != NIL)
        node(h, X->right)->up = u;
    if (sub != NIL)
        *root = ph_link(h, *root, sub);
}

/* Index node x (its block already written) in its bin. */
static void bin_add(fl *h, uint32_t x)
{
    fnode *n = node(h, x);
    uint32_t b = bin_of(n->size16);
    n->left = n->right = n->up = NIL;
    bool was_empty = h->roots[b] == NIL;
    if (b == NBINS) {
        h->roots[b] = insert(h, h->roots[b], x, compute_key(h, x), prio_of(x));
    } else if (is_heap(h, b)) {
        h->roots[b] = was_empty ? x : ph_link(h, h->roots[b], x);
    } else {
        if (h->order != MA_ORDER_FIFO) { /* the newest first: push at the head */
            n->right = h->roots[b];
            if (n->right != NIL)
                node(h, n->right)->left = x;
            else
                h->tails[b] = x;
            h->roots[b] = x;
        } else { /* FIFO: the oldest first: append at the tail */
            n->left = h->tails[b];
            if (n->left != NIL)
                node(h, n->left)->right = x;
            else
                h->roots[b] = x;
            h->tails[b] = x;
        }
    }
    if (was_empty)
        bin_mark(h, b, true);
}

/* Take node x out of its bin. */
static void bin_remove(fl *h, uint32_t x)
{
    fnode *n = node(h, x);
    uint32_t b = bin_of(n->size16);
    if (b == NBINS) {
        h->roots[b] = erase(h, h->roots[b], compute_key(h, x));
    } else if (is_heap(h, b)) {
        ph_remove(h, &h->roots[b], x);
    } else {
        if (n->left != NIL)
            node(h, n->left)->right = n->right;
        else
            h->roots[b] = n->right;
        if (n->right != NIL)
            node(h, n->right)->left = n->left;
        else
            h->tails[b] = n->left;
    }
    if (h->roots[b] == NIL) {
        bin_mark(h, b, false);
        if (h->lazy && b < NBINS) /* an empty bin starts again as a list */
            h->heaped[b >> 6] &= ~(UINT64_C(1) << (b & 63));
    }
}

/* Worst-ao: turn the list bin b into a pairing heap: O(k) for its k
 * blocks, once per block added while it was a list, so amortised O(1) per
 * addition. */
static __attribute__((noinline)) void bin_heapify(fl *h, uint32_t b)
{
    for (uint32_t t = h->roots[b]; t != NIL; t = node(h, t)->right)
        node(h, t)->left = node(h, t)->up = NIL; /* singletons, linked by right */
    h->roots[b] = ph_merge_pairs(h, h->roots[b]);
    h->tails[b] = NIL;
    h->heaped[b >> 6] |= UINT64_C(1) << (b & 63);
}

/* The first block in order of the non-empty exact bin b. */
static inline uint32_t bin_first(fl *h, uint32_t b)
{
    if (h->lazy && !heaped(h, b))
        bin_heapify(h, b);
    return h->roots[b];
}

/* The first non-empty bin at or above b (NBINS + 1: none). */
static uint32_t bin_at_or_above(const fl *h, uint32_t b)
{
    uint32_t w = b >> 6;
    uint64_t bits = h->nonempty[w] & (~UINT64_C(0) << (b & 63));
    if (bits)
        return w * 64 + (uint32_t)__builtin_ctzll(bits);
    uint32_t words = w + 1 < 32 ? h->nonempty_words & (~UINT32_C(0) << (w + 1)) : 0;
    if (!words)
        return NBINS + 1;
    w = (uint32_t)__builtin_ctz(words);
    return w * 64 + (uint32_t)__builtin_ctzll(h->nonempty[w]);
}

/* The highest non-empty exact bin (0: none). */
static uint32_t highest_bin(const fl *h)
{
    for (uint32_t words = h->nonempty_words; words;) {
        uint32_t w = 31 - (uint32_t)__builtin_clz(words);
        uint64_t bits = h->nonempty[w];
        if (w == NBINS >> 6)
            bits &= (UINT64_C(1) << (NBINS & 63)) - 1; /* not the large bin */
        if (bits)
            return w * 64 + 63 - (uint32_t)__builtin_clzll(bits);
        words &= ~(UINT32_C(1) << w);
    }
    return 0;
}

/* Best fit: the node of the free block for `need` units (NIL: none). */
static uint32_t bins_find(fl *h, uint32_t need)
{
    uint32_t b = bin_at_or_above(h, bin_of(need)), x;
    if (b < NBINS) /* exact bin: every block fits; the first in order */
        x = bin_first(h, b);
    else if (b == NBINS)
        x = lower_bound(h, h->roots[NBINS], (uint64_t)need << 32);
    else
        return NIL;
    return x;
}

/* Worst fit: the node of the largest free block, the first in order among
 * blocks of its size (NIL: none). */
static uint32_t bins_largest(fl *h)
{
    uint32_t root = h->roots[NBINS];
    if (root != NIL) /* the large blocks: the first key of the largest size */
        return lower_bound(h, root, (uint64_t)node(h, root)->aug << 32);
    uint32_t b = highest_bin(h);
    return b ? bin_first(h, b) : NIL;
}

/* ---- first and next fit: the position tree ---------------------------------------------- */

static inline bool pt_stamped(const fl *h) { return h->psize != NULL; }

/* The position of the indexed free block at off. */
static inline uint64_t pos_of_block(const fl *h, uint64_t off)
{
    return pt_stamped(h) ? *tag_of(h, off) : off >> 4;
}

/* Size / 16 of the block at the occupied position p. */
static inline uint32_t pt_size(const fl *h, uint64_t p)
{
    return pt_stamped(h) ? h->psize[p] : (uint32_t)(*hdr(h, p << 4) >> 4);
}

static inline uint64_t pt_off(const fl *h, uint64_t p)
{
    return pt_stamped(h) ? (uint64_t)h->poff[p] << 4 : p << 4;
}

static inline bool pt_has(const fl *h, uint64_t p)
{
    return (h->pbits[p >> 6] >> (p & 63)) & 1;
}

/* Positions covered by one entry of level k. */
static inline uint64_t pt_cover(int k) { return UINT64_C(64) << (4 * k); }

/* Bit j set iff a[j] >= need (>= 1), for j in 0..15. */
static inline unsigned ge_mask(const uint32_t *a, uint32_t need)
{
    unsigned mask = 0;
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN);
    const __m128i lim = _mm_set1_epi32((int)(int32_t)((need - 1) ^ UINT32_C(0x80000000)));
    for (unsigned i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i));
        __m128i gt = _mm_cmpgt_epi32(_mm_xor_si128(v, bias), lim);
        mask |= (unsigned)_mm_movemask_ps(_mm_castsi128_ps(gt)) << (4 * i);
    }
#else
    for (unsigned j = 0; j < 16; j++)
        mask |= (unsigned)(a[j] >= need) << j;
#endif
    return mask;
}

/* Bits of the 16 entries strictly after entry j in the order: above j
 * (upward) or below it (downward). */
static inline unsigned after_mask(unsigned j, bool down)
{
    return down ? (1u << j) - 1 : (~0u << (j + 1)) & 0xffffu;
}

/* The first of the entries allowed by `allowed`, in the order, that is
 * >= need; 16 if none. */
static inline unsigned pick_ge(const uint32_t *a, uint32_t need, unsigned allowed,
                               bool down)
{
    unsigned mask = ge_mask(a, need) & allowed;
    if (!mask)
        return 16;
    return down ? 31u - (unsigned)__builtin_clz(mask) : (unsigned)__builtin_ctz(mask);
}

#if defined(__SSE2__)
/* The largest of sixteen lanes biased by 2^31 (unsigned maxima from signed
 * compares: select, then unbias). */
static inline uint32_t max_biased(__m128i v[4])
{
    for (unsigned i = 0; i < 2; i++) {
        __m128i gt = _mm_cmpgt_epi32(v[i], v[i + 2]);
        v[i] = _mm_or_si128(_mm_and_si128(gt, v[i]), _mm_andnot_si128(gt, v[i + 2]));
    }
    __m128i m = v[0], o = v[1], gt;
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    o = _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2));
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    o = _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1));
    gt = _mm_cmpgt_epi32(m, o);
    m = _mm_or_si128(_mm_and_si128(gt, m), _mm_andnot_si128(gt, o));
    return (uint32_t)_mm_cvtsi128_si32(m) ^ UINT32_C(0x80000000);
}
#endif

static inline uint32_t max16(const uint32_t *a)
{
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN);
    __m128i v[4];
    for (unsigned i = 0; i < 4; i++)
        v[i] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i)), bias);
    return max_biased(v);
#else
    uint32_t m = 0;
    for (unsigned j = 0; j < 16; j++)
        m = a[j] > m ? a[j] : m;
    return m;
#endif
}

/* The largest of a[0..15] but a[j]. */
static inline uint32_t max16_but(const uint32_t *a, unsigned j)
{
#if defined(__SSE2__)
    const __m128i bias = _mm_set1_epi32(INT32_MIN), lane = _mm_set_epi32(3, 2, 1, 0);
    __m128i v[4];
    for (unsigned i = 0; i < 4; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + 4 * i));
        __m128i skip = _mm_cmpeq_epi32(_mm_add_epi32(lane, _mm_set1_epi32((int)(4 * i))),
                                       _mm_set1_epi32((int)j));
        v[i] = _mm_xor_si128(_mm_andnot_si128(skip, x), bias); /* a[j] counts as 0 */
    }
    return max_biased(v);
#else
    uint32_t m = 0;
    for (unsigned i = 0; i < 16; i++)
        m = i != j && a[i] > m ? a[i] : m;
    return m;
#endif
}

/* The largest size / 16 among the blocks of group g (0: none). */
static uint32_t group_max(const fl *h, uint64_t g)
{
    uint32_t m = 0;
    if (pt_stamped(h)) { /* psize is 0 where no block is */
        for (unsigned c = 0; c < 4; c++) {
            uint32_t x = max16(&h->psize[g * 64 + 16 * c]);
            m = x > m ? x : m;
        }
        return m;
    }
    for (uint64_t bits = h->pbits[g]; bits; bits &= bits - 1) {
        uint32_t s = pt_size(h, g * 64 + (uint64_t)__builtin_ctzll(bits));
        m = s > m ? s : m;
    }
    return m;
}

/* Group g gained a block of v units: raise the bounds above it. */
static void pt_raise(fl *h, uint64_t g, uint32_t v)
{
    for (int k = 0; k <= h->ktop && h->lv[k][g] < v; k++, g >>= 4)
        h->lv[k][g] = v;
}

/* Group g lost a block of `old` units, which was its bound: recount it, and
 * the bounds above while they came from it. */
static void pt_refresh(fl *h, uint64_t g, uint32_t old)
{
    /* After a search from the root that ended in g, the largest of the
     * other bounds in g's line is known: the first step up rereads no line
     * (higher steps, rarer, reread theirs: recording every level in every
     * search measured no better). */
    bool path = h->path_ok && h->path_group == g;
    h->path_ok = false;
    uint32_t v = group_max(h, g);
    for (int k = 0;; k++) {
        h->lv[k][g] = v;
        if (v == old || k == h->ktop)
            return;
        g >>= 4;
        if (h->lv[k + 1][g] != old) /* the bound above came from elsewhere */
            return;
        if (path && k == 0)
            v = v > h->path_rest ? v : h->path_rest;
        else
            v = max16(&h->lv[k][g << 4]);
    }
}

/* The first block of group g at or after position p (p in g), in the
 * direction of the order, with at least `need` units.  Only the stamped
 * orders read downward (LIFO); address order reads upward. */
static inline __attribute__((always_inline)) uint64_t
group_find(const fl *h, uint64_t g, uint64_t p, uint32_t need, bool down)
{
    if (pt_stamped(h)) { /* psize is 0 where no block is: 16 at a time */
        int c0 = (int)((p & 63) >> 4);
        unsigned j0 = (unsigned)(p & 15);
        for (int c = c0; c >= 0 && c < 4; c += down ? -1 : 1) {
            unsigned allowed = c != c0 ? 0xffffu
                               : down ? (2u << j0) - 1 : (~0u << j0) & 0xffffu;
            unsigned j = pick_ge(&h->psize[g * 64 + 16 * (unsigned)c], need, allowed, down);
            if (j < 16)
                return g * 64 + 16 * (unsigned)c + j;
        }
        return PNONE;
    }
    uint64_t bits = h->pbits[g] & (~UINT64_C(0) << (p & 63));
    for (; bits; bits &= bits - 1) {
        uint64_t q = g * 64 + (uint64_t)__builtin_ctzll(bits);
        if (pt_size(h, q) >= need)
            return q;
    }
    return PNONE;
}

/*
 * The first occupied position at or after p in the direction `down` (or
 * upward) whose block has at least `need` (>= 1) units (PNONE: none; p may
 * be PNONE when reading downward).  The tree is used up to level ktop,
 * whose entry 0 covers every position in use.  The bounds are upper bounds:
 * a subtree whose bound promised a fit but holds none gets its bound
 * tightened (to the largest of its children's bounds, or a group's exact
 * maximum) and the search goes on beside it.  Every such detour lowers a
 * bound that an earlier removal left high, so its cost is paid for by that
 * removal.  Inlined at each call with a constant `down`: the compiler
 * specialises it for each direction.
 */
static inline __attribute__((always_inline)) uint64_t
pt_find(fl *h, uint64_t p, uint32_t need, bool down, bool record)
{
    const int top = h->ktop;
    const uint64_t cover = pt_cover(top);
    uint64_t i = 0, q;
    int k = top;
    if (p == PNONE || (!down && p >= cover))
        return PNONE;
    bool all = down ? p >= cover - 1 : p == 0; /* the search sees everything */
    record = record && all;
    if (record)
        h->path_ok = false;
    if (all) { /* straight down from the root */
        if (h->lv[top][0] < need)
            return PNONE;
        goto descend;
    }
    i = p >> 6;
    if (h->lv[0][i] >= need) {
        if ((q = group_find(h, i, p, need, down)) != PNONE)
            return q;
        if ((p & 63) == (down ? 63u : 0u)) /* the whole group was seen */
            h->lv[0][i] = group_max(h, i);
    }
    k = 0;
climb: /* to the first level with a fitting sibling beyond i */
    for (;; k++, i >>= 4) {
        if (k == top) {
            if (all && top > 0) /* nothing fits anywhere: tighten the root */
                h->lv[top][0] = max16(&h->lv[top - 1][0]);
            return PNONE;
        }
        uint64_t base = i & ~UINT64_C(15);
        unsigned j = pick_ge(&h->lv[k][base], need, after_mask((unsigned)(i & 15), down), down);
        if (j < 16) {
            if (record && k == 0)
                h->path_rest = max16_but(&h->lv[0][base], j);
            i = base + j;
            break;
        }
    }
descend:
    for (; k > 0; k--) {
        unsigned j = pick_ge(&h->lv[k - 1][i << 4], need, 0xffffu, down);
        if (j == 16) { /* a stale bound */
            h->lv[k][i] = max16(&h->lv[k - 1][i << 4]);
            goto climb;
        }
        if (record && k == 1)
            h->path_rest = max16_but(&h->lv[0][i << 4], j);
        i = (i << 4) + j;
    }
    if ((q = group_find(h, i, down ? i * 64 + 63 : i * 64, need, down)) != PNONE) {
        if (record) {
            h->path_group = i;
            h->path_ok = true;
        }
        return q;
    }
    h->lv[0][i] = group_max(h, i);
    goto climb;
}

/* Positions in free-list order: AO and FIFO ascending, LIFO descending. */
static inline bool pt_down(const fl *h) { return h->order == MA_ORDER_LIFO; }

/* The first position of the order (PNONE: none in use). */
static inline uint64_t pt_start(const fl *h)
{
    if (!pt_down(h))
        return 0;
    return h->pstamp ? h->pstamp - 1 : PNONE;
}

/* The first block at or after p in the order with at least `need` units. */
static inline uint64_t pt_first(fl *h, uint64_t p, uint32_t need)
{
    return pt_down(h) ? pt_find(h, p, need, true, false) : pt_find(h, p, need, false, false);
}

/* The block after position p in the order (PNONE: p was the last). */
static inline uint64_t pt_after(fl *h, uint64_t p)
{
    if (pt_down(h))
        return p ? pt_find(h, p - 1, 1, true, false) : PNONE;
    return pt_find(h, p + 1, 1, false, false);
}

/* The largest free block, in units of 16 bytes (0: none): exact. */
static uint32_t pt_largest(fl *h)
{
    for (;;) { /* each failed search lowers the root's bound */
        uint32_t m = h->lv[h->ktop][0];
        if (m == 0 || pt_find(h, 0, m, false, false) != PNONE)
            return m;
    }
}

/* Bring levels into use until ktop covers position p. */
static inline void pt_cover_up_to(fl *h, uint64_t p)
{
    while (p >= pt_cover(h->ktop)) {
        h->ktop++;
        h->lv[h->ktop][0] = max16(&h->lv[h->ktop - 1][0]);
    }
}

/* Index the free block [off, off + size), its header already written. */
static void pt_add(fl *h, uint64_t off, uint64_t size)
{
    uint64_t p;
    uint32_t s16 = (uint32_t)(size >> 4);
    if (pt_stamped(h)) {
        p = h->pstamp++;
        if (h->pstamp > h->pstamp_hw)
            h->pstamp_hw = h->pstamp;
        set_tag(h, off, size, (uint32_t)p);
        h->psize[p] = s16;
        h->poff[p] = (uint32_t)(off >> 4);
    } else {
        p = off >> 4;
    }
    pt_cover_up_to(h, p);
    h->pbits[p >> 6] |= UINT64_C(1) << (p & 63);
    pt_raise(h, p >> 6, s16);
}

/*
 * Take the free block at position p, of `size` bytes, out.  A rover on it
 * moves to the block that followed it.  `tighten`: recount the bounds that
 * came from it now (an allocation: the search has just brought their lines
 * into the cache, and the next search would otherwise stumble on them);
 * else leave them for pt_find (a neighbour merged into a freed block).
 */
static void pt_remove(fl *h, uint64_t p, uint64_t size, bool tighten)
{
    uint64_t g = p >> 6;
    uint32_t s16 = (uint32_t)(size >> 4);
    h->pbits[g] &= ~(UINT64_C(1) << (p & 63));
    if (pt_stamped(h))
        h->psize[p] = 0; /* group scans read psize alone */
    if (tighten && h->lv[0][g] == s16)
        pt_refresh(h, g, s16);
    if (h->rover == p)
        h->rover = pt_after(h, p);
}

/*
 * Address order: the free block at off (have bytes) keeps only its tail
 * [rem, rem + rest), whose header is written; its place in the order is the
 * same.  One pass over the bounds instead of a removal and an insertion.
 */
static void pt_shrink_ao(fl *h, uint64_t off, uint64_t have, uint64_t rem,
                         uint64_t rest, bool tighten)
{
    uint64_t p = off >> 4, g = p >> 6, q = rem >> 4, gq = q >> 6;
    uint32_t old = (uint32_t)(have >> 4);
    pt_cover_up_to(h, q);
    h->pbits[g] &= ~(UINT64_C(1) << (p & 63));
    h->pbits[gq] |= UINT64_C(1) << (q & 63);
    if (tighten && h->lv[0][g] == old)
        pt_refresh(h, g, old); /* counts the tail if it stayed in g */
    if (gq != g)
        pt_raise(h, gq, (uint32_t)(rest >> 4));
}

/* The positions in use: [0, *hi). */
static uint64_t pt_hi(const fl *h)
{
    return pt_stamped(h) ? h->pstamp_hw : ma_round_up(h->peak_heap, 16) >> 4;
}

/* The entries of level k that cover positions [0, hi). */
static uint64_t pt_level_len(const fl *h, int k, uint64_t hi)
{
    uint64_t b = hi ? ((hi - 1) >> 6 >> (4 * k)) + 1 : 0;
    return b < h->lvlen[k] ? b : h->lvlen[k];
}

/*
 * LIFO, FIFO: renumber the free blocks' stamps 0 .. n-1 in order, so that
 * positions do not run out.  Runs at the start of an operation, so that no
 * position is held across it.
 */
static void pt_compact(fl *h)
{
    uint64_t hi = pt_hi(h), n = 0;
    uint64_t rover = PNONE;
    for (uint64_t p = 0; p < h->pstamp; p++) { /* each block moves down to n <= p */
        if (!pt_has(h, p))
            continue;
        h->psize[n] = h->psize[p];
        h->poff[n] = h->poff[p];
        set_tag(h, (uint64_t)h->poff[n] << 4, (uint64_t)h->psize[n] << 4, (uint32_t)n);
        if (h->rover == p)
            rover = n;
        n++;
    }
    for (int k = 0; k <= h->ktop; k++)
        memset(h->lv[k], 0, (size_t)pt_level_len(h, k, hi) * sizeof(uint32_t));
    memset(h->psize + n, 0, (size_t)(hi - n) * sizeof(uint32_t)); /* no block there */
    memset(h->pbits, 0, (size_t)((hi + 63) >> 6) * sizeof(uint64_t));
    for (uint64_t q = 0; q < n; q++) {
        h->pbits[q >> 6] |= UINT64_C(1) << (q & 63);
        pt_raise(h, q >> 6, h->psize[q]);
    }
    h->pstamp = n;
    h->rover = rover;
}

static inline void pt_maybe_compact(fl *h)
{
    if (pt_stamped(h) &&
        (h->pstamp + 8 > h->pcap ||
         (h->pstamp >= h->pt_floor && h->pstamp >= 4 * h->free_blocks + 64)))
        pt_compact(h);
}

/* Reserve the position tree for an arena; false: no address space. */
static bool pt_create(fl *h, uint64_t arena, uint64_t min_block)
{
    bool stamped = h->order != MA_ORDER_ADDRESS;
    uint64_t most_free = arena / (2 * min_block) + 1;
    h->pcap = stamped ? ma_round_up(2 * most_free + 64, 64) : ma_round_up(arena >> 4, 64);
    uint64_t len = 0, at[PT_LEVELS + 3];
    at[0] = 0; /* bits */
    len = ma_round_up(h->pcap / 8, 64);
    if (stamped) {
        at[1] = len;
        len += ma_round_up(h->pcap * 4, 64);
        at[2] = len;
        len += ma_round_up(h->pcap * 4, 64);
    }
    uint64_t entries = h->pcap / 64;
    h->nlv = 0;
    for (;;) {
        h->lvlen[h->nlv] = ma_round_up(entries, 16);
        at[3 + h->nlv] = len;
        len += h->lvlen[h->nlv] * 4;
        h->nlv++;
        if (entries == 1)
            break;
        entries = (entries + 15) / 16;
    }
    h->pmap_len = ma_round_up(len, ma_page_size());
    h->pmap = ma_map_zero(h->pmap_len);
    if (!h->pmap)
        return false;
    char *m = h->pmap;
    h->pbits = (uint64_t *)(void *)m;
    h->psize = stamped ? (uint32_t *)(void *)(m + at[1]) : NULL;
    h->poff = stamped ? (uint32_t *)(void *)(m + at[2]) : NULL;
    for (int k = 0; k < h->nlv; k++)
        h->lv[k] = (uint32_t *)(void *)(m + at[3 + k]);
    return true;
}

/* Bytes of the position tree in use. */
static uint64_t pt_bytes(const fl *h)
{
    uint64_t hi = pt_hi(h), total = (hi + 63) / 8 + (pt_stamped(h) ? hi * 8 : 0);
    for (int k = 0; k <= h->ktop; k++)
        total += pt_level_len(h, k, hi) * 4;
    return total;
}

/* ---- the index, for every policy --------------------------------------------------------- */

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

/* ---- the heap ------------------------------------------------------------------------- */

/* Grow the heap so that its top is a free block of at least `need` bytes. */
static ma_status grow(fl *h, uint64_t need, pick *out)
{
    /* The new top block's predecessor is allocated: a free top's is (I4),
     * and so is the last block's when the top is not free (or counts as
     * allocated: the heap is empty). */
    uint64_t top = h->heap, have = 0, prev_flag = F_PREV;
    if (h->top_free) {
        have = *hdr(h, h->heap - 8);
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
    uint64_t size = *hdr(h, h->heap - 8), top = h->heap - size;
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
    ma_arena_discard(&h->base, keep, h->heap - keep);
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
    uint64_t s = ma_round_up(n + HDR, 16);
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
    __builtin_prefetch(hdr(h, off + have - 8), 1);
    __builtin_prefetch(hdr(h, off + size), 1); /* a remainder's header */
    uint64_t lead = 0;
    if (align > MA_ALIGN) {
        uint64_t payload = ma_round_up(off + HDR, align);
        while (payload - HDR - off != 0 && payload - HDR - off < h->min_block)
            payload += align;
        lead = payload - HDR - off;
    }
    uint64_t rest = have - lead - size;
    bool next = h->fit == MA_FIT_NEXT;
    /* Recount the chosen block's bounds at once only where measured to pay:
     * address-ordered first fit, which searches the same low addresses
     * every time (elsewhere the next search rarely meets the stale bound). */
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
    *addr = place(h, &pk, size, alignment) + HDR;
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
    uint64_t next = off + size;
    uint64_t nw = next < h->heap ? *hdr(h, next) : F_ALLOC;
    uint64_t nsize = nw & ~F_MASK, psize = 0;
    bool was_rover = false; /* the lower neighbour holds the rover */
    if (!prev_flag) {
        /* The footer gives the size and the tag's copy beside it the index
         * entry, both on the freed block's own line (mostly): the lower
         * block's header and tag, which may be far below, are not read.
         * (A free block's predecessor is allocated (I4): its F_PREV is set.) */
        psize = *hdr(h, off - 8);
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

/* I5 (position tree): the free block at b is indexed at its position. */
static ma_status pt_check_block(fl *h, const ma_block *b)
{
    uint64_t p = b->offset >> 4;
    if (pt_stamped(h)) {
        uint32_t s = *tag_of(h, b->offset);
        if (s >= h->pstamp) /* I7 */
            return ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx has a "
                           "stamp from the future", (unsigned long long)b->offset);
        p = s;
    }
    if (!pt_has(h, p) || (pt_stamped(h) &&
                          ((uint64_t)h->psize[p] << 4 != b->size ||
                           (uint64_t)h->poff[p] << 4 != b->offset)))
        return ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx is missing "
                       "from the free-block index", (unsigned long long)b->offset);
    return MA_OK;
}

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
        if ((h->kind == IX_BINS || pt_stamped(h)) &&
            *tag_copy_of(h, b->offset + b->size) != *tag_of(h, b->offset)) { /* I3 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free block at 0x%llx: "
                            "the copy of its tag differs from the tag",
                            (unsigned long long)b->offset);
            return 1;
        }
        if (!c->prev_alloc) { /* I4 */
            c->st = ma_fail(&h->base, MA_ECORRUPT, "free blocks meet at "
                            "0x%llx: they were not coalesced",
                            (unsigned long long)b->offset);
            return 1;
        }
        if (h->kind == IX_PTREE && (c->st = pt_check_block(h, b)) != MA_OK)
            return 1;
        c->free_bytes += b->size;
        c->free_blocks++;
    }
    c->prev_alloc = b->allocated;
    c->last_free = !b->allocated;
    return 0;
}

/* Every pool slot ever used is either a free block's node or on the
 * spare list. */
static ma_status check_spares(fl *h)
{
    uint64_t spares = 0, used = h->free_blocks;
    uint32_t total = h->pool_top;
    for (uint32_t x = h->spare; x != NIL; x = node(h, x)->left)
        if (x >= total || ++spares > total)
            return ma_fail(&h->base, MA_ECORRUPT, "the list of spare index "
                           "slots is broken");
    if (spares + used != total)
        return ma_fail(&h->base, MA_ECORRUPT, "%llu spare and %llu used index "
                       "slots, %u in all", (unsigned long long)spares,
                       (unsigned long long)used, total);
    return MA_OK;
}

/* I5, I7 (position tree): as many bits as free blocks (each of which
 * census found at its position), every bound at least the largest block or
 * bound beneath it, the rover. */
static ma_status pt_check(fl *h)
{
    ma_allocator *a = &h->base;
    uint64_t hi = pt_hi(h), bits = 0;
    if (h->ktop < 0 || h->ktop >= h->nlv)
        return ma_fail(a, MA_ECORRUPT, "the free-block index's top level %d "
                       "is out of range", h->ktop);
    if (hi > pt_cover(h->ktop)) /* blocks beyond would be missed: counted below */
        hi = pt_cover(h->ktop);
    for (uint64_t g = 0; g < (hi + 63) >> 6; g++)
        bits += (uint64_t)__builtin_popcountll(h->pbits[g]);
    for (uint64_t p = 0; pt_stamped(h) && p < hi; p++)
        if (!pt_has(h, p) && h->psize[p])
            return ma_fail(a, MA_ECORRUPT, "the free-block index records a "
                           "size at the empty position %llu", (unsigned long long)p);
    if (bits != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %llu "
                       "entries for %llu free blocks", (unsigned long long)bits,
                       (unsigned long long)h->free_blocks);
    for (int k = 0; k <= h->ktop; k++) {
        uint64_t to = k == h->ktop ? 1 : pt_level_len(h, k, hi);
        for (uint64_t i = 0; i < to; i++) {
            uint32_t least = k ? max16(&h->lv[k - 1][i << 4]) : group_max(h, i);
            if (h->lv[k][i] < least)
                return ma_fail(a, MA_ECORRUPT, "the free-block index: bound "
                               "%u at level %d entry %llu, below the %u beneath it",
                               h->lv[k][i], k, (unsigned long long)i, least);
        }
    }
    if (h->rover != PNONE && (h->rover >= h->pcap || !pt_has(h, h->rover)))
        return ma_fail(a, MA_ECORRUPT, "the rover is not an indexed free block");
    return MA_OK;
}

struct bin_check {
    fl *h;
    uint64_t nodes;
    uint32_t last_bin, last;
    ma_status st;
};

/* I5 (bins): node x, met in bin b, describes the free block that owns it,
 * and lists keep their order and links. */
static void check_node(const fl *hc, uint32_t x, uint32_t b, void *ctx)
{
    struct bin_check *c = ctx;
    fl *h = c->h;
    (void)hc;
    if (c->st != MA_OK)
        return;
    c->nodes++;
    uint64_t off = off_of(h, x);
    fnode *n = node(h, x);
    if (off + h->min_block > h->heap || (*hdr(h, off) & F_ALLOC) ||
        bsize(h, off) < h->min_block || bsize(h, off) > h->heap - off ||
        *tag_of(h, off) != x || (uint64_t)n->size16 << 4 != bsize(h, off)) {
        c->st = ma_fail(&h->base, MA_ECORRUPT, "the free-block index names "
                        "0x%llx, which is not the free block that owns that "
                        "node", (unsigned long long)off);
        return;
    }
    if (n->stamp >= h->next_stamp || bin_of(n->size16) != b) {
        c->st = ma_fail(&h->base, MA_ECORRUPT, "free block 0x%llx is indexed "
                        "under a stale stamp or bin", (unsigned long long)off);
        return;
    }
    if (is_heap(h, b)) {
        bool root = h->roots[b] == x;
        if (root && (n->up != NIL || n->right != NIL))
            c->st = ma_fail(&h->base, MA_ECORRUPT, "the heap of bin %u has a "
                            "root with a parent or sibling", b);
        uint32_t prev = x;
        uint64_t seen = 0;
        for (uint32_t k = n->left; k != NIL && c->st == MA_OK; k = node(h, k)->right) {
            if (k >= h->pool_top || node(h, k)->up != prev ||
                node(h, k)->off16 <= n->off16)
                c->st = ma_fail(&h->base, MA_ECORRUPT, "the heap of bin %u is "
                                "broken or out of order below 0x%llx", b,
                                (unsigned long long)off);
            prev = k;
            if (++seen > h->free_blocks) /* a cycle */
                break;
        }
    }
    if (is_list(h, b)) {
        bool first = c->last_bin != b;
        uint32_t prev = first ? NIL : c->last;
        bool ordered = first || (h->order != MA_ORDER_FIFO
                                     ? node(h, prev)->stamp > n->stamp
                                     : node(h, prev)->stamp < n->stamp);
        if (n->left != prev || !ordered || (n->right == NIL && h->tails[b] != x))
            c->st = ma_fail(&h->base, MA_ECORRUPT, "the list of bin %u is "
                            "broken or out of order at 0x%llx", b,
                            (unsigned long long)off);
    }
    c->last_bin = b;
    c->last = x;
}

/* I5 (treaps) for the subtree at t, whose keys must lie in (lo, hi). */
static ma_status check_subtree(fl *h, uint32_t t, uint64_t lo, bool has_lo,
                               uint64_t hi, bool has_hi, unsigned depth)
{
    ma_allocator *a = &h->base;
    if (t == NIL)
        return MA_OK;
    if (depth > MAX_DEPTH || t >= h->pool_top)
        return ma_fail(a, MA_ECORRUPT, "the free-block index is too deep or "
                       "names slot %u, beyond the %u in use", t, h->pool_top);
    fnode *n = node(h, t);
    uint64_t k = compute_key(h, t);
    if ((has_lo && k <= lo) || (has_hi && k >= hi))
        return ma_fail(a, MA_ECORRUPT, "the free-block index is out of order "
                       "at 0x%llx", (unsigned long long)off_of(h, t));
    for (int side = 0; side < 2; side++) {
        uint32_t c = side ? n->right : n->left;
        if (c != NIL && c < h->pool_top && prio_of(c) > prio_of(t))
            return ma_fail(a, MA_ECORRUPT, "the free-block index breaks the "
                           "heap order at 0x%llx", (unsigned long long)off_of(h, t));
    }
    ma_status st = check_subtree(h, n->left, lo, has_lo, k, true, depth + 1);
    if (st == MA_OK)
        st = check_subtree(h, n->right, k, true, hi, has_hi, depth + 1);
    if (st != MA_OK)
        return st;
    uint32_t m = size16(h, t);
    if (m >= NBINS) {
        if (n->left != NIL && node(h, n->left)->aug > m)
            m = node(h, n->left)->aug;
        if (n->right != NIL && node(h, n->right)->aug > m)
            m = node(h, n->right)->aug;
    }
    if (n->aug != m)
        return ma_fail(a, MA_ECORRUPT, "free block 0x%llx: subtree maximum "
                       "%u, should be %u", (unsigned long long)off_of(h, t),
                       n->aug, m);
    return MA_OK;
}

static ma_status bins_check(fl *h)
{
    ma_allocator *a = &h->base;
    for (uint32_t r = 0; r <= NBINS; r++) {
        if (!is_list(h, r) && !is_heap(h, r)) {
            ma_status st = check_subtree(h, h->roots[r], 0, false, 0, false, 0);
            if (st != MA_OK)
                return st;
        }
        if (((h->nonempty[r >> 6] >> (r & 63)) & 1) != (h->roots[r] != NIL) ||
            ((h->nonempty_words >> (r >> 6)) & 1) != (h->nonempty[r >> 6] != 0))
            return ma_fail(a, MA_ECORRUPT, "the bin bitmap is wrong for bin %u", r);
    }
    struct bin_check c = {h, 0, NIL, NIL, MA_OK};
    size_t n = in_order(h, h->free_blocks, check_node, &c);
    if (c.st != MA_OK)
        return c.st;
    if (n != h->free_blocks)
        return ma_fail(a, MA_ECORRUPT, "the free-block index holds %s of the "
                       "%llu free blocks", n == SIZE_MAX ? "more than all (or a cycle)"
                                                        : "not all",
                       (unsigned long long)h->free_blocks);
    return check_spares(h);
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
    return h->kind == IX_BINS ? bins_check(h) : pt_check(h);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static void fl_init_state(fl *h)
{
    for (uint32_t r = 0; r <= NBINS; r++)
        h->roots[r] = NIL;
    for (uint32_t r = 0; r < NBINS; r++)
        h->tails[r] = NIL;
    memset(h->nonempty, 0, sizeof h->nonempty);
    memset(h->heaped, 0, sizeof h->heaped);
    h->nonempty_words = 0;
    h->rover = PNONE;
    h->path_ok = false;
    h->spare = NIL;
    h->pool_top = 0;
    h->next_stamp = 1;
    h->pstamp = h->pstamp_hw = 0;
    h->ktop = 0;
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
    if (h->pool)
        ma_discard(h->pool, h->pool_len);
    if (h->pmap)
        ma_discard(h->pmap, h->pmap_len);
    fl_init_state(h);
    return MA_OK;
}

static void fl_release(ma_allocator *a)
{
    fl *h = as_fl(a);
    if (h->pool)
        ma_unmap(h->pool, h->pool_len);
    if (h->pmap)
        ma_unmap(h->pmap, h->pmap_len);
    h->pool = NULL;
    h->pmap = NULL;
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

ma_freelist_config ma_freelist_config_default(void)
{
    ma_freelist_config c = {
        .arena_size = UINT64_C(1) << 30,
        .fit = MA_FIT_BEST,
        .order = MA_ORDER_ADDRESS,
        .growth = 4096,
        .prealloc = 0,
        .min_block = 32,
        .trim = 0,
        .stamp_limit = 0,
    };
    return c;
}

/* Every field of a config in its range; MA_EINVAL names the first that is not. */
static ma_status check_config(const ma_freelist_config *c)
{
    unsigned long long arena = c->arena_size;
    if ((c->arena_size & 15) || c->arena_size < 4096 || c->arena_size > MAX_ARENA)
        return ma_fail(NULL, MA_EINVAL, "arena_size must be a multiple of 16 "
                       "from 4096 to %llu, got %llu",
                       (unsigned long long)MAX_ARENA, arena);
    if (c->fit < MA_FIT_BEST || c->fit > MA_FIT_WORST)
        return ma_fail(NULL, MA_EINVAL, "fit must be MA_FIT_BEST, _FIRST, "
                       "_NEXT or _WORST (0 to 3), got %d", c->fit);
    if (c->order < MA_ORDER_ADDRESS || c->order > MA_ORDER_FIFO)
        return ma_fail(NULL, MA_EINVAL, "order must be MA_ORDER_ADDRESS, "
                       "_LIFO or _FIFO (0 to 2), got %d", c->order);
    if ((c->growth & 15) || c->growth < 16 || c->growth > c->arena_size)
        return ma_fail(NULL, MA_EINVAL, "growth must be a multiple of 16 from "
                       "16 to arena_size (%llu), got %llu", arena,
                       (unsigned long long)c->growth);
    if ((c->min_block & 15) || c->min_block < 32 || c->min_block > c->arena_size)
        return ma_fail(NULL, MA_EINVAL, "min_block must be a multiple of 16 "
                       "from 32 to arena_size (%llu), got %llu", arena,
                       (unsigned long long)c->min_block);
    if (c->prealloc && ((c->prealloc & 15) || c->prealloc < c->min_block ||
                        c->prealloc > c->arena_size))
        return ma_fail(NULL, MA_EINVAL, "prealloc must be 0 or a multiple of "
                       "16 from min_block (%llu) to arena_size (%llu), got %llu",
                       (unsigned long long)c->min_block, arena,
                       (unsigned long long)c->prealloc);
    if (c->trim != 0 && c->trim != 1)
        return ma_fail(NULL, MA_EINVAL, "trim must be 0 (off) or 1 (on), got %d",
                       c->trim);
    if (c->stamp_limit > STAMP_LIMIT)
        return ma_fail(NULL, MA_EINVAL, "stamp_limit must be 0 (the built-in "
                       "limits) or from 1 to %llu, got %llu",
                       (unsigned long long)STAMP_LIMIT,
                       (unsigned long long)c->stamp_limit);
    return MA_OK;
}

ma_status ma_freelist_create(const ma_freelist_config *cfg, ma_allocator **out)
{
    if (!out || !cfg)
        return ma_fail(NULL, MA_EINVAL, "ma_freelist_create: config or out is NULL");
    *out = NULL;
    ma_status st = check_config(cfg);
    if (st != MA_OK)
        return st;
    uint64_t growth = cfg->growth, min_block = cfg->min_block;
    fl *h = calloc(1, sizeof *h);
    if (!h)
        return ma_fail(NULL, MA_ENOMEM, "no memory for the instance");
    st = ma_base_init(&h->base, &freelist_ops, cfg->arena_size, ma_page_size());
    if (st != MA_OK) {
        free(h);
        return st;
    }
    h->fit = cfg->fit;
    h->order = cfg->order;
    h->kind = cfg->fit == MA_FIT_BEST || cfg->fit == MA_FIT_WORST ? IX_BINS : IX_PTREE;
    h->lists = h->kind == IX_BINS && cfg->order != MA_ORDER_ADDRESS;
    h->lazy = cfg->fit == MA_FIT_WORST && !h->lists;
    h->growth = growth;
    h->min_block = min_block;
    h->prealloc = cfg->prealloc;
    h->trim = cfg->trim != 0;
    h->stamp_limit = cfg->stamp_limit ? (uint32_t)cfg->stamp_limit : STAMP_LIMIT;
    h->pt_floor = cfg->stamp_limit ? cfg->stamp_limit : PT_FLOOR;
    bool mapped;
    if (h->kind == IX_BINS) {
        /* Free blocks are never adjacent: at most one per 2 * min_block bytes. */
        uint64_t slots = cfg->arena_size / (2 * min_block) + 2;
        h->scratch = (uint32_t)(slots - 1); /* slots ever used <= slots - 1 */
        h->pool_len = ma_round_up(slots * sizeof(fnode), ma_page_size());
        h->pool = ma_map_zero(h->pool_len);
        mapped = h->pool != NULL;
    } else {
        mapped = pt_create(h, cfg->arena_size, min_block);
    }
    if (!mapped) {
        ma_destroy(&h->base);
        return ma_fail(NULL, MA_ESYS, "mmap refused to reserve address space "
                       "for the free-block index");
    }
    snprintf(h->name, sizeof h->name, "%s-%s", fit_names[cfg->fit],
             order_names[cfg->order]);
    h->base.name = h->name;
    h->base.heap_size_at = &h->heap;
    h->base.allocated_at = &h->allocated;
    fl_init_state(h);
    *out = &h->base;
    return MA_OK;
}
