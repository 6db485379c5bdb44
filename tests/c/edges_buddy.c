/*
 * edges_buddy.c -- the binary buddy's refusals and its checker
 * (csrc/buddy.c): every parameter out of range, memory refused by the C
 * library or mmap, and one corruption of each invariant I1-I6 that
 * buddy_check (or free / usable_size / realloc / the walk) must name,
 * repaired afterwards to show that it was that corruption that was found.
 *
 * Layout (top of buddy.c): the tags are a side table of one nibble per
 * minimum block (TAG_FREE 1, TAG_ALLOC 2), a block of order d >= 1 owning
 * the whole byte (0x80 | 0x40 if allocated | d); free blocks hold their
 * list links (next, prev offsets) in their first 16 bytes.  The tags and
 * the lists' heads and counts live in the instance's struct (struct buddy,
 * csrc/buddy/state.h), whose fields state() checks against ma_get_stats.
 */
#include "edges.h"
#include "ma_internal.h"
#include "buddy/state.h"

#include <stdlib.h>

/* The instance's struct, once its fields agree with the public interface
 * (arena 1 KiB, 16-byte minimum blocks), else a counted failure and NULL. */
static buddy *state(ma_allocator *a)
{
    buddy *m = (buddy *)(void *)a;
    ma_stats st;
    int ok = ma_get_stats(a, &st) == MA_OK && m->m == 4 && m->top == 6 &&
             m->nslots == 64 && m->tags_len == 32 && m->heap == st.heap_size &&
             m->peak_heap == st.peak_heap_size && m->allocated == st.allocated_bytes &&
             m->alloc_blocks == st.live_blocks;
    EXPECT(ok);
    return ok ? m : NULL;
}

/* A 1 KiB buddy of 16-byte blocks and its struct, or NULL (counted, with
 * *out NULL) when either fails. */
static buddy *small_buddy(ma_allocator **out)
{
    *out = NULL;
    EXPECT(ma_buddy_create(1024, 16, out) == MA_OK);
    buddy *m = *out ? state(*out) : NULL;
    if (!m) {
        ma_destroy(*out);
        *out = NULL;
    }
    return m;
}

static void test_create_refusals(void)
{
    edges_current = "ma_buddy_create";
    ma_allocator *a = NULL;
    EXPECT(ma_buddy_create(1024, 16, NULL) == MA_EINVAL && said("out is NULL"));
    static const struct {
        uint64_t arena, min;
        const char *words;
    } bad[] = {
        {1536, 16, "arena_size must be a power of two from 1024 to 1099511627776, got 1536"},
        {512, 16, "arena_size must be"},
        {UINT64_C(1) << 41, 16, "arena_size must be"},
        {1024, 24, "min_block must be a power of two from 16 to arena_size (1024), got 24"},
        {1024, 8, "min_block must be"},
        {1024, 2048, "min_block must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = (ma_allocator *)&a;
        EXPECT(ma_buddy_create(bad[i].arena, bad[i].min, &a) == MA_EINVAL && a == NULL &&
               said(bad[i].words));
    }
    /* The instance (calloc), its arena (mmap), its record (malloc), its
     * tags (mmap). */
    static const struct {
        ma_status st;
        const char *words;
    } refusals[] = {
        {MA_ENOMEM, "no memory for the instance"},
        {MA_ESYS, "mmap refused to reserve"},
        {MA_ENOMEM, "no memory for the allocation record"},
        {MA_ESYS, "mmap refused to reserve 40 bytes for the block tags"},
    };
    for (long n = 0; n < 4; n++) {
        a = (ma_allocator *)&a;
        fail_after(n);
        ma_status st = ma_buddy_create(1024, 16, &a);
        fail_never();
        EXPECT(st == refusals[n].st && a == NULL && said(refusals[n].words));
    }
    EXPECT(ma_buddy_create(1024, 16, &a) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

static int stop_at_first(const ma_block *b, void *n)
{
    (void)b;
    ++*(int *)n;
    return 1;
}

/*
 * The scene (arena 1 KiB, 16-byte blocks, so slot = offset / 16):
 *   0    A, 512 bytes (order 5): tags[0] = 0xc5, tags[1..15] = 0
 *   512  B, 16 bytes; 528 free; 544 D; 560 free (order 0): tags[16..17]
 *   576  free, 64 bytes (order 2); 640 free (order 3); 768 free (order 4)
 * The order-0 list is [560, 528].
 */
static ma_allocator *scene(void)
{
    ma_allocator *a = NULL;
    edges_current = "buddy";
    EXPECT(ma_buddy_create(1024, 16, &a) == MA_OK);
    if (!a)
        return NULL;
    EXPECT(must(a, 512) == 0 && must(a, 16) == 512);
    uint64_t c = must(a, 16), d = must(a, 16), e = must(a, 16);
    EXPECT(c == 528 && d == 544 && e == 560);
    EXPECT(ma_free(a, c) == MA_OK && ma_free(a, e) == MA_OK);
    buddy *m = state(a);
    EXPECT(m && m->tags[0] == (TAG_BIG | TAG_BIG_ALLOC | 5) && m->tags[16] == 0x12 &&
           m->tags[17] == 0x12 && m->head[0] == 560 && m->count[0] == 2);
    EXPECT(ma_check(a) == MA_OK);
    return a;
}

/* I1 and I2: tags that start no block, misplace one, or mark a start
 * inside one; free / usable_size / realloc of a block the tags disown. */
static void test_tags(void)
{
    ma_allocator *a = scene();
    buddy *m = a ? state(a) : NULL;
    if (!m) {
        ma_destroy(a);
        return;
    }
    int n = 0;
    EXPECT(ma_walk(a, stop_at_first, &n) == MA_OK && n == 1);
    uint8_t *t = m->tags;
    BREAK(a, t[16], 0x13, "offset 0x200 starts no block");        /* a bad nibble */
    BREAK(a, t[16], TAG_BIG | TAG_BIG_ALLOC, "offset 0x210 starts no block"); /* odd slot */
    BREAK(a, t[17], TAG_BIG | 2, "block at 0x220 of 64 bytes is misaligned or passes the arena's end");
    BREAK(a, t[0], TAG_BIG | TAG_BIG_ALLOC | 7, "block at 0x0 of 2048 bytes is misaligned");
    BREAK(a, t[1], 0x01, "the side table marks a block start inside the block at 0x0");
    BREAK(a, t[9], 0x80, "marks a block start inside the block at 0x0");
    n = 0;
    t[1] = 1; /* a walk that stops first never meets it */
    EXPECT(ma_walk(a, stop_at_first, &n) == MA_OK && n == 1);
    t[1] = 0;
    /* B's tag broken, then saying free: B is no allocated block. */
    uint64_t r = 0;
    t[16] = 0x13;
    EXPECT(ma_free(a, 512) == MA_ECORRUPT &&
           said("0x200 is a live allocation, but the side table has no allocated block there"));
    EXPECT(ma_usable_size(a, 512, &r) == MA_ECORRUPT && said("no allocated block there"));
    EXPECT(ma_realloc(a, 512, 32, &r) == MA_ECORRUPT && said("no allocated block there"));
    t[16] = 0x11;
    EXPECT(ma_free(a, 512) == MA_ECORRUPT && said("no allocated block there"));
    t[16] = 0x12;
    EXPECT(ma_usable_size(a, 512, &r) == MA_OK && r == 16 && ma_check(a) == MA_OK);
    /* Growing A past the arena: refused, A kept. */
    EXPECT(ma_realloc(a, 0, 2048, &r) == MA_ENOMEM && r == MA_NULL &&
           said("2048 bytes (alignment 16) exceed the arena of 1024 bytes"));
    EXPECT(ma_usable_size(a, 0, &r) == MA_OK && r == 512 && ma_check(a) == MA_OK);
    /* Addresses the record should never hold, forged into it. */
    const uint64_t forged[] = {2048, 8};
    for (size_t i = 0; i < 2; i++)
        forge_refused(a, forged[i], "is a live allocation, but");
    ma_destroy(a);
}

/* I4: the lists' links (in the free blocks) and heads, counts and mask. */
static void test_lists(void)
{
    ma_allocator *a = scene();
    buddy *m = a ? state(a) : NULL;
    if (!m) {
        ma_destroy(a);
        return;
    }
    const struct {
        uint64_t off, value;
        const char *words;
    } links[] = {
        {560, 2048, "free list of 16-byte blocks holds 0x800, which is not a free block"},
        {560, 536, "holds 0x218, which is not a free block"},
        {560, 544, "holds 0x220, which is not a free block"},
        {560, MA_NULL, "2 free blocks of 16 bytes, the list holds 1 and counts 2"},
        {528 + 8, 0, "free block 0x210: back link 0x0, expected 0x230"},
        {528, 560, "free list of 16-byte blocks is longer than the 2 free blocks of that size"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        uint64_t old;
        memcpy(&old, at(a, links[i].off), 8);
        wr(a, links[i].off, links[i].value);
        expect_check(a, links[i].words);
        wr(a, links[i].off, old);
        EXPECT(ma_check(a) == MA_OK);
    }
    BREAK(a, m->count[0], 3, "the list holds 2 and counts 3");
    BREAK(a, m->nonempty, m->nonempty & ~UINT64_C(1), "non-empty mask wrong for order 0");
    BREAK(a, m->count[7], 1, "free list beyond the top order");
    BREAK(a, m->head[7], 0, "free list beyond the top order");
    BREAK(a, m->nonempty, m->nonempty | (UINT64_C(1) << 7), "free list beyond the top order");
    /* I5, I6. */
    BREAK(a, m->allocated, 560, "allocated bytes 560 (blocks 3), recount 544 (3)");
    BREAK(a, m->alloc_blocks, 4, "allocated bytes 544 (blocks 4), recount 544 (3)");
    BREAK(a, m->heap, 576, "heap size 576 (peak 576), the highest allocated block ends at 560");
    BREAK(a, m->peak_heap, 544, "heap size 560 (peak 544)");
    ma_destroy(a);
}

/* I3: a free block whose buddy is free too. */
static void test_unmerged_buddies(void)
{
    ma_allocator *a = NULL;
    buddy *m = small_buddy(&a);
    if (!m)
        return;
    EXPECT(must(a, 512) == 0 && m->tags[0] == (TAG_BIG | TAG_BIG_ALLOC | 5));
    BREAK(a, m->tags[0], TAG_BIG | 5, "free buddies at 0x0 and 0x200 (512 bytes) are not merged");
    ma_destroy(a);
}

/*
 * Freeing the highest block recomputes the heap's end by a descent that
 * trusts the tags: with the block below's tag erased, it finds no block
 * and stops at the minimum block (check then names the tag); with the tag
 * restored, the heap is consistent again.
 */
static void test_heap_end_over_broken_tags(void)
{
    ma_allocator *a = NULL;
    buddy *m = small_buddy(&a);
    if (!m)
        return;
    uint64_t p = must(a, 16), q = must(a, 16);
    EXPECT(p == 0 && q == 16 && m->tags[0] == 0x22 && m->heap == 32);
    m->tags[0] = 0x20; /* slot 0: no tag */
    EXPECT(ma_free(a, q) == MA_OK && m->heap == 16);
    expect_check(a, "offset 0x0 starts no block");
    m->tags[0] = 0x12;
    EXPECT(ma_check(a) == MA_OK);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 16 && st.live_blocks == 1);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* I2 over a table of many granules (I7): a 16 MiB arena of 16-byte blocks
 * has 512 KiB of tags, 128 granules of 4 KiB.  One 16-byte allocation
 * splits the arena into free blocks of every order; the largest, at
 * 0x800000, starts at tag byte 0x40000 (granule 64), whose bit the split
 * set, so a tag written anywhere in that granule inside the block is
 * found, also at the granule's last byte; the check reads those granules
 * only, and after a reset none but the first. */
static void test_interior_tags_across_granules(void)
{
    ma_allocator *a = make("buddy", "arena_size=16M,min_block=16");
    if (!a)
        return;
    buddy *b = (buddy *)(void *)a;
    EXPECT(must(a, 16) == 0 && ma_check(a) == MA_OK);
    uint64_t g = 0x40000 >> GRANULE_SHIFT;
    EXPECT(b->touched[g >> 6] == (UINT64_C(1) << (g & 63) | (g < 64 ? 1 : 0)) &&
           b->touched[0] & 1); /* granules 0 (the small blocks) and 64 */
    BREAK(a, b->tags[0x40000 + 100], TAG_BIG | 3, "inside the block at 0x800000");
    BREAK(a, b->tags[0x40fff], TAG_ALLOC, "inside the block at 0x800000");
    EXPECT(ma_reset(a) == MA_OK && ma_check(a) == MA_OK);
    EXPECT(b->touched[0] == 1 && b->touched[1] == 0); /* the arena's one block */
    ma_destroy(a);
}

int main(void)
{
    test_create_refusals();
    test_tags();
    test_lists();
    test_unmerged_buddies();
    test_heap_end_over_broken_tags();
    test_interior_tags_across_granules();
    return edges_report();
}
