/*
 * freelist/bins.h -- best and worst fit: size bins, their bitmap, lists and
 * pairing heaps, and node stamps (part of freelist.c).
 *
 * A free block smaller than NBINS * 16 bytes sits in the exact bin of its
 * size; a bitmap of non-empty bins (with a summary word) finds the smallest
 * fitting bin (best fit) or the highest non-empty one (worst fit) in a few
 * word operations.  Bin NBINS holds the larger blocks in a treap
 * (freelist/treap.h).  An exact bin is
 *   - LIFO, FIFO: a doubly linked list in free-list order (LIFO pushes at
 *     the head, FIFO at the tail; the head is taken): O(1);
 *   - AO: a pairing heap ordered by offset (the root is taken): insertion
 *     O(1), removal amortised O(log n).  Worst fit builds a bin's heap only
 *     when it first takes from the bin (see below).
 *   Worst fit takes from the treap while it holds a block, else from the
 * highest non-empty bin.  Its free blocks are mostly small ones that it
 * never takes but that come and go by coalescing: in address order (`lazy`)
 * a bin is therefore an unordered list (pushed at the head, like LIFO)
 * until worst fit first takes from it, so that those blocks cost O(1) each
 * way.  Then its k blocks are paired into a heap, O(k), once per block
 * added to the list: amortised O(1).  The bin stays a heap until it is
 * empty (`heaped` marks the heaps).
 *   Node stamps are 32-bit and renumbered in order before they run out
 * (renumber_stamps).
 *
 * Invariants (I5, I7): every node names the free block that owns it, in
 * the bin of its size; pairing heaps: links consistent, children after
 * their parent; lists: links consistent, stamps in order (oldest first in
 * FIFO, else newest); the bitmap and its summary match the bins; every
 * stamp is below next_stamp; every pool slot ever used is a free block's
 * node or on the spare list.
 */
#ifndef MA_FREELIST_BINS_H
#define MA_FREELIST_BINS_H

#include "treap.h"

/* The bin of a block of size16 units. */
static inline uint32_t bin_of(uint32_t size16) { return size16 < NBINS ? size16 : NBINS; }

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

/* ---- stamps ---- */

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

/* ---- the bins ---- */

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
MA_SPECIALISE uint32_t
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

#endif /* MA_FREELIST_BINS_H */
