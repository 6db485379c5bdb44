/*
 * edges_freelist.h -- what the free list's edge programs share
 * (edges_freelist_check.c, edges_freelist_ops.c): a view of the instance
 * and a scene of free blocks of every kind.
 *
 * The blocks are in the arena, laid out as csrc/freelist/block.h documents
 * (header at offset 8, a free block's tag at 16, its footer at its end, the
 * tag's copy 8 bytes before it).  The index is not: the pool of nodes (best
 * and worst fit) and the position tree (first and next fit) are mappings of
 * their own, reached through the instance, whose layout is
 * csrc/freelist/state.h (struct fl).  So these programs include state.h
 * (types and one inline function, nothing that would be compiled twice) to
 * corrupt the index one field at a time.
 */
#ifndef EDGES_FREELIST_H
#define EDGES_FREELIST_H

#include "edges.h"
#include "freelist/state.h"

static const char *const policies[12] = {
    "best-ao",  "best-lifo",  "best-fifo",  "first-ao", "first-lifo", "first-fifo",
    "next-ao",  "next-lifo",  "next-fifo",  "worst-ao", "worst-lifo", "worst-fifo",
};

static inline fl *FL(ma_allocator *a) { return (fl *)(void *)a; }

/* The header word of the block at off, the tag of a free block, the word at
 * off (a free block's footer when off is the end of it), the tag's copy of
 * the free block that ends at `end`. */
static inline uint64_t *hdr_at(ma_allocator *a, uint64_t off)
{
    return (uint64_t *)(void *)at(a, off + 8);
}
static inline uint32_t *tag_at(ma_allocator *a, uint64_t off)
{
    return (uint32_t *)(void *)at(a, off + 16);
}
static inline uint64_t *word_at(ma_allocator *a, uint64_t off)
{
    return (uint64_t *)(void *)at(a, off);
}
static inline uint32_t *copy_at(ma_allocator *a, uint64_t end)
{
    return (uint32_t *)(void *)at(a, end - 8);
}
static inline uint64_t size_at(ma_allocator *a, uint64_t off)
{
    return *hdr_at(a, off) & ~UINT64_C(15);
}
static inline fnode *nd(ma_allocator *a, uint32_t x) { return &FL(a)->pool[x]; }

/* ma_check reports `words` (MA_ECORRUPT); `what` names the case. */
static inline void expect_corrupt(ma_allocator *a, const char *what, const char *words)
{
    edges_current = what;
    ma_status st = ma_check(a);
    EXPECT(st == MA_ECORRUPT && said(words));
    if (st != MA_ECORRUPT || !said(words))
        fprintf(stderr, "  wanted \"%s\"\n", words);
}

static inline void expect_sound(ma_allocator *a, const char *what)
{
    edges_current = what;
    EXPECT(ma_check(a) == MA_OK);
}

/* Set lv to bad, expect check to report words, put it back, expect check
 * to pass again (so it was that field that was detected). */
#define CORRUPT(a, lv, bad, words)                                           \
    do {                                                                      \
        unsigned char saved_[sizeof(lv)];                                     \
        memcpy(saved_, &(lv), sizeof(lv));                                    \
        (lv) = (bad);                                                         \
        expect_corrupt(a, #lv " = " #bad, words);                             \
        memcpy(&(lv), saved_, sizeof(lv));                                    \
        expect_sound(a, #lv " restored");                                     \
    } while (0)

/* A scene: small (48-byte blocks, 3), middle (112, 2) and large (>= 16 KiB,
 * NLARGE) free blocks, each between allocated fences of 32 bytes, the
 * heap's free top above the last fence.  Offsets, not addresses. */
#define NLARGE 6
struct scene {
    ma_allocator *a;
    uint64_t small[3], mid[2], large[NLARGE], fence[5 + NLARGE];
};

static inline ma_allocator *scene(const char *name, const char *options, struct scene *s)
{
    memset(s, 0, sizeof *s);
    ma_allocator *a = s->a = make(name, options);
    if (!a)
        return NULL;
    uint64_t addr, f = 0;
    uint64_t *blocks[5 + NLARGE];
    uint64_t sizes[5 + NLARGE];
    for (int i = 0; i < 3; i++)
        blocks[i] = &s->small[i], sizes[i] = 40;
    for (int i = 0; i < 2; i++)
        blocks[3 + i] = &s->mid[i], sizes[3 + i] = 100;
    for (int i = 0; i < NLARGE; i++)
        blocks[5 + i] = &s->large[i], sizes[5 + i] = 20000 + 4000 * (uint64_t)i;
    for (int i = 0; i < 5 + NLARGE; i++) {
        EXPECT(ma_malloc(a, sizes[i], &addr) == MA_OK);
        *blocks[i] = addr - 16;
        EXPECT(ma_malloc(a, 24, &addr) == MA_OK);
        s->fence[f++] = addr - 16;
    }
    for (int i = 0; i < 5 + NLARGE; i++)
        EXPECT(ma_free(a, *blocks[i] + 16) == MA_OK);
    edges_current = name;
    EXPECT(ma_check(a) == MA_OK);
    return a;
}

#endif
