/*
 * freelist/treap.h -- best and worst fit: the pool's nodes and the treap of
 * the large blocks (part of freelist.c).
 *
 * Under best and worst fit each free block owns a 32-byte node in a side
 * pool (the block's `tag` is the node's slot), holding its offset, size and
 * stamp and the links of the structure its bin is.  The pool is address
 * space reserved for the largest number of free blocks the arena can hold
 * (never adjacent: arena / (2 * min_block) + 1), so adding a node never
 * fails, plus one scratch slot that is never handed out (pairing-heap links
 * write there blindly instead of branching); `metadata_bytes` counts its
 * high-water mark.
 *
 * Blocks of NBINS * 16 bytes and more share one treap keyed by
 * (size / 16) << 32 | order key (order key: offset / 16, stamp, or ~stamp
 * for LIFO) and augmented with the largest size in each subtree: the
 * smallest key >= need << 32 is the best fit, and the smallest key >= (the
 * root's largest size) << 32 the worst fit, ties broken by the order.
 * Neither key nor priority is stored: a key is computed from the node, a
 * priority hashes the slot (the shape is deterministic).
 *
 * Invariants (I5): keys strictly increasing in order, a parent's priority
 * >= its children's, aug the largest size / 16 in the subtree.
 */
#ifndef MA_FREELIST_TREAP_H
#define MA_FREELIST_TREAP_H

#include "block.h"

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

#endif /* MA_FREELIST_TREAP_H */
