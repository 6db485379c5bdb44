/*
 * edges_tlsf.c -- TLSF's refusals and its checker (csrc/tlsf.c): every
 * parameter of ma_tlsf_create out of range, memory refused by the arena or
 * by the C library, and one corruption of each invariant T1-T6 that
 * tlsf_check (or free / usable_size / realloc / walk) must name, repaired
 * afterwards to show that it was that corruption that was detected.
 *
 * Block layout (top of tlsf.c): a block at b has its size word at b + 8
 * (size | T_ALLOC 1 | T_PREV 2), its payload (the address) at b + 16; a
 * free block's links (next, prev: 32-bit offsets / 16) at b + 16 and its
 * footer at b + size; the epilogue's size word at heap + 8.  The counters,
 * bitmaps and list heads live in the instance's struct (struct tlsf,
 * csrc/tlsf/state.h), whose fields state() checks against ma_get_stats.
 */
#include "edges.h"
#include "ma_internal.h"
#include "tlsf/state.h"

#include <stdlib.h>

/* The instance's struct, once its fields agree with what the public
 * interface reports (else a counted failure and NULL). */
static tlsf *state(ma_allocator *a, unsigned k, uint64_t growth)
{
    tlsf *m = (tlsf *)(void *)a;
    ma_stats st;
    int ok = ma_get_stats(a, &st) == MA_OK && m->k == k && m->growth == growth &&
             m->heap == st.heap_size && m->peak_heap == st.peak_heap_size &&
             m->free_bytes == st.free_bytes && m->free_blocks == st.free_blocks &&
             m->allocated == st.allocated_bytes && m->alloc_blocks == st.live_blocks;
    EXPECT(ok);
    return ok ? m : NULL;
}

/* A free block's links (at b + 16). */
static void links(ma_allocator *a, uint64_t b, uint32_t *next, uint32_t *prev)
{
    memcpy(next, at(a, b + 16), 4);
    memcpy(prev, at(a, b + 20), 4);
}

static void set_next(ma_allocator *a, uint64_t b, uint32_t next)
{
    memcpy(at(a, b + 16), &next, 4);
}

static ma_allocator *make_tlsf(uint64_t arena, uint64_t growth, unsigned k)
{
    ma_tlsf_config c = ma_tlsf_config_default();
    c.arena_size = arena;
    c.growth = growth;
    c.sl_bits = k;
    ma_allocator *a = NULL;
    edges_current = "tlsf";
    if (ma_tlsf_create(&c, &a) != MA_OK) {
        fprintf(stderr, "ma_tlsf_create: %s\n", ma_thread_error());
        edges_failures++;
        return NULL;
    }
    return a;
}

/* Every parameter out of its range, and no memory for the instance. */
static void test_create_refusals(void)
{
    edges_current = "ma_tlsf_create";
    ma_tlsf_config c = ma_tlsf_config_default();
    ma_allocator *a = (ma_allocator *)&c;
    EXPECT(ma_tlsf_create(&c, NULL) == MA_EINVAL && said("config or out is NULL"));
    EXPECT(ma_tlsf_create(NULL, &a) == MA_EINVAL && said("config or out is NULL"));
    static const struct {
        uint64_t arena, growth, prealloc;
        int trim;
        uint64_t k;
        const char *words;
    } bad[] = {
        {4096 + 8, 4096, 0, 0, 5, "arena_size must be a multiple of 16"},
        {4080, 16, 0, 0, 5, "arena_size must be"},
        {(UINT64_C(1) << 35) + 16, 4096, 0, 0, 5, "arena_size must be"},
        {4096, 24, 0, 0, 5, "growth must be"},
        {4096, 0, 0, 0, 5, "growth must be"},
        {4096, 8192, 0, 0, 5, "growth must be"},
        {4096, 16, 40, 0, 5, "prealloc must be 0 or"},
        {4096, 16, 16, 0, 5, "prealloc must be"},
        {4096, 16, 4112, 0, 5, "prealloc must be"},
        {4096, 16, 0, 2, 5, "trim must be 0 (off) or 1 (on), got 2"},
        {4096, 16, 0, -1, 5, "trim must be"},
        {4096, 16, 0, 0, 0, "sl_bits must be from 1 to 6, got 0"},
        {4096, 16, 0, 0, 7, "sl_bits must be from 1 to 6, got 7"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.arena_size = bad[i].arena;
        c.growth = bad[i].growth;
        c.prealloc = bad[i].prealloc;
        c.trim = bad[i].trim;
        c.sl_bits = bad[i].k;
        a = (ma_allocator *)&c;
        EXPECT(ma_tlsf_create(&c, &a) == MA_EINVAL && a == NULL && said(bad[i].words));
    }
    c = ma_tlsf_config_default();
    c.arena_size = 1 << 16;
    int made = 0;
    for (long n = 0; n < 8 && !made; n++) { /* the instance, its arena, its table */
        a = (ma_allocator *)&c;
        fail_after(n);
        ma_status st = ma_tlsf_create(&c, &a);
        fail_never();
        if (st == MA_OK) {
            EXPECT(n >= 2 && ma_check(a) == MA_OK);
            ma_destroy(a);
            made = 1;
        } else {
            EXPECT((st == MA_ENOMEM || st == MA_ESYS) && a == NULL);
            if (n == 0)
                EXPECT(st == MA_ENOMEM && said("no memory for the instance"));
        }
    }
    EXPECT(made);
    unsigned fl = 0;
    EXPECT(ma_tlsf_mapping(5, 32, 0, &fl, NULL) == MA_EINVAL && said("fl or sl is NULL"));
}

/* What a refused call must leave as it was. */
typedef struct snapshot {
    ma_stats st;
    unsigned char bytes[64];
} snapshot;

static void take(ma_allocator *a, uint64_t p, snapshot *s)
{
    EXPECT(ma_get_stats(a, &s->st) == MA_OK);
    EXPECT(ma_read(a, p, 0, s->bytes, sizeof s->bytes) == MA_OK);
}

/* Unchanged but for one more failure. */
static void same(ma_allocator *a, uint64_t p, const snapshot *s, uint64_t failures)
{
    snapshot now;
    take(a, p, &now);
    EXPECT(memcmp(now.bytes, s->bytes, sizeof s->bytes) == 0);
    EXPECT(now.st.failures == s->st.failures + failures);
    now.st.failures = s->st.failures;
    now.st.mallocs = s->st.mallocs;
    now.st.reallocs = s->st.reallocs;
    EXPECT(memcmp(&now.st, &s->st, sizeof now.st) == 0);
    EXPECT(ma_check(a) == MA_OK);
}

/* Requests the arena cannot hold: each is MA_ENOMEM and changes nothing. */
static void test_memory_refused(void)
{
    ma_allocator *a = make_tlsf(4096, 16, 5);
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL, r = 7;
    EXPECT(ma_malloc(a, 1000, &p) == MA_OK && p == 16);
    EXPECT(ma_malloc(a, 1000, &q) == MA_OK && q == 1008 + 16);
    for (unsigned i = 0; i < 64; i++)
        EXPECT(ma_write(a, p, i, &(unsigned char){(unsigned char)(i * 7)}, 1) == MA_OK);
    snapshot s;
    take(a, p, &s);
    EXPECT(ma_malloc(a, 4097, &r) == MA_ENOMEM && r == MA_NULL &&
           said("4097 bytes exceed the arena of 4096"));
    same(a, p, &s, 1);
    EXPECT(ma_memalign(a, 8192, 16, &r) == MA_ENOMEM && said("exceed the arena"));
    same(a, p, &s, 2);
    /* Room for the alignment is more than the arena: the heap cannot grow. */
    EXPECT(ma_memalign(a, 2048, 2048, &r) == MA_ENOMEM && said("the heap cannot grow"));
    same(a, p, &s, 3);
    EXPECT(ma_malloc(a, 2100, &r) == MA_ENOMEM &&
           said("the heap cannot grow by 2112 bytes: 2016 of the arena's 4096"));
    same(a, p, &s, 4);
    /* realloc past the arena; realloc that must move where nothing fits. */
    EXPECT(ma_realloc(a, p, 5000, &r) == MA_ENOMEM && r == MA_NULL &&
           said("5000 bytes exceed the arena"));
    same(a, p, &s, 5);
    EXPECT(ma_realloc(a, p, 2100, &r) == MA_ENOMEM && said("the heap cannot grow"));
    same(a, p, &s, 6);
    EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK && ma_check(a) == MA_OK);
    /* No memory for the checker's table: MA_ENOMEM, nothing else. */
    fail_after(0);
    EXPECT(ma_check(a) == MA_ENOMEM && said("no memory to check the heap"));
    fail_never();
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* The largest arena with one second-level bit: a request of the whole arena
 * is in the last first-level class (31), above which no level exists. */
static void test_the_last_level(void)
{
    ma_allocator *a = make_tlsf(UINT64_C(1) << 35, 4096, 1);
    if (!a)
        return;
    uint64_t p = MA_NULL, q = 7;
    EXPECT(ma_malloc(a, (UINT64_C(1) << 35) - 8, &p) == MA_OK && p == 16);
    EXPECT(ma_malloc(a, 16, &q) == MA_ENOMEM);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.largest_free == UINT64_C(1) << 35);
    ma_destroy(a);
}

static int stop_at_first(const ma_block *b, void *n)
{
    (void)b;
    ++*(int *)n;
    return 1;
}

/*
 * Three blocks of 112 bytes at 0, 112, 224 (growth 16: the heap ends at 336
 * with no free top), the first freed when `free_first`.
 */
static ma_allocator *three(int free_first, uint64_t p[3])
{
    ma_allocator *a = make_tlsf(1 << 16, 16, 5);
    if (!a)
        return NULL;
    for (int i = 0; i < 3; i++)
        EXPECT(ma_malloc(a, 100, &p[i]) == MA_OK && p[i] == 16 + 112 * (uint64_t)i);
    if (free_first)
        EXPECT(ma_free(a, p[0]) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    return a;
}

/* Size words that break the tiling (T1) or name no allocated block. */
static void test_size_words(void)
{
    uint64_t p[3], r = 0;
    ma_allocator *a = three(0, p);
    if (!a)
        return;
    uint64_t w = rd(a, 112 + 8);
    EXPECT(w == (112 | T_ALLOC | T_PREV));
    int n = 0;
    EXPECT(ma_walk(a, stop_at_first, &n) == MA_OK && n == 1);

    wr(a, 112 + 8, 16 | T_ALLOC | T_PREV); /* below the minimum block */
    expect_check(a, "block at 0x70 has size 16, which does not fit the heap of 336");
    EXPECT(ma_walk(a, stop_at_first, &n) == MA_OK && n == 2); /* stops before */
    wr(a, 112 + 8, 4096 | T_ALLOC | T_PREV); /* past the heap's end */
    expect_check(a, "has size 4096, which does not fit");
    /* A size past the heap is no allocated block for free, usable_size,
     * realloc (and changes nothing). */
    EXPECT(ma_free(a, p[1]) == MA_ECORRUPT &&
           said("0x80 is a live allocation, but the heap has no allocated block"));
    EXPECT(ma_usable_size(a, p[1], &r) == MA_ECORRUPT && said("no allocated block"));
    EXPECT(ma_realloc(a, p[1], 10, &r) == MA_ECORRUPT && said("no allocated block"));
    wr(a, 112 + 8, 16 | T_ALLOC | T_PREV);
    EXPECT(ma_free(a, p[1]) == MA_ECORRUPT && said("no allocated block"));
    wr(a, 112 + 8, 112 | T_PREV); /* not allocated */
    EXPECT(ma_free(a, p[1]) == MA_ECORRUPT && said("no allocated block"));
    wr(a, 112 + 8, w);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_usable_size(a, p[1], &r) == MA_OK && r == 104);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.live_blocks == 3 && st.frees == 0);
    ma_destroy(a);
}

/* T4: a free block after a free block.  T6 (and more free blocks than
 * counted): an allocated block made to look free. */
static void test_free_neighbours_and_counters(void)
{
    uint64_t p[3];
    ma_allocator *a = three(1, p);
    if (!a)
        return;
    uint64_t w1 = rd(a, 112 + 8), f1 = rd(a, 224);
    EXPECT(w1 == (112 | T_ALLOC)); /* its predecessor is free */
    wr(a, 112 + 8, 112);           /* free, after a free block */
    wr(a, 224, 112);               /* with the right footer */
    expect_check(a, "free blocks meet at 0x70: they were not coalesced");
    wr(a, 112 + 8, w1);
    wr(a, 224, f1);
    EXPECT(ma_check(a) == MA_OK);

    /* The last block, after an allocated one, made free with its footer:
     * every other invariant holds, the counters do not. */
    uint64_t w2 = rd(a, 224 + 8), f2 = rd(a, 336);
    wr(a, 224 + 8, 112 | T_PREV);
    wr(a, 336, 112);
    expect_check(a, "counters: free 112 B in 1 blocks, allocated 224 B in 2; "
                    "recount: 224, 2, 112, 1");
    wr(a, 224 + 8, w2);
    wr(a, 336, f2);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* T2 at the end: the epilogue's previous-allocated bit, both ways wrong. */
static void test_epilogue(void)
{
    uint64_t p[3];
    ma_allocator *a = three(0, p);
    if (!a)
        return;
    EXPECT(rd(a, 336 + 8) == (T_ALLOC | T_PREV));
    wr(a, 336 + 8, T_ALLOC);
    expect_check(a, "the epilogue at 0x158 says the last block is free; it is allocated");
    wr(a, 336 + 8, T_ALLOC | T_PREV);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, p[2]) == MA_OK); /* the last block: a free top */
    EXPECT(rd(a, 336 + 8) == T_ALLOC);
    wr(a, 336 + 8, T_ALLOC | T_PREV);
    expect_check(a, "says the last block is allocated; it is free");
    wr(a, 336 + 8, T_ALLOC);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/*
 * Two free blocks of 112 bytes in one class (at 0 and 224, with allocated
 * ones between and after them); the list is LIFO: 224 first, then 0.
 */
static ma_allocator *two_free(uint64_t p[4])
{
    ma_allocator *a = make_tlsf(1 << 16, 16, 5);
    if (!a)
        return NULL;
    for (int i = 0; i < 4; i++)
        EXPECT(ma_malloc(a, 100, &p[i]) == MA_OK && p[i] == 16 + 112 * (uint64_t)i);
    EXPECT(ma_free(a, p[0]) == MA_OK && ma_free(a, p[2]) == MA_OK);
    uint32_t next, prev;
    links(a, 224, &next, &prev);
    EXPECT(next == 0 && prev == NIL);
    links(a, 0, &next, &prev);
    EXPECT(next == NIL && prev == 224 / 16);
    EXPECT(ma_check(a) == MA_OK);
    return a;
}

/* T5 through the links in the arena. */
static void test_list_links(void)
{
    uint64_t p[4];
    ma_allocator *a = two_free(p);
    if (!a)
        return;
    /* A cycle: stats' scan of the top class stops after free_blocks. */
    set_next(a, 0, 224 / 16);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.largest_free == 112 && st.free_blocks == 2);
    expect_check(a, "the free lists hold more than the heap's 2 free blocks (or a cycle)");
    set_next(a, 0, NIL);
    EXPECT(ma_check(a) == MA_OK);
    /* A link to an allocated block above every free one, and below one. */
    set_next(a, 224, 336 / 16);
    expect_check(a, "the free list of class (0, 7) names 0x150, which is not a free block");
    set_next(a, 224, 112 / 16);
    expect_check(a, "names 0x70, which is not a free block");
    /* A list that stops early. */
    set_next(a, 224, NIL);
    expect_check(a, "the free lists hold 1 of the 2 free blocks");
    set_next(a, 224, 0);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* T5 through the bitmaps and list heads, T1 through the heap's end, T6
 * through each counter: the instance's own fields. */
static void test_instance_fields(void)
{
    uint64_t p[4];
    ma_allocator *a = two_free(p);
    tlsf *m = a ? state(a, 5, 16) : NULL;
    if (!m) {
        ma_destroy(a);
        return;
    }
    /* Class (0, 7) holds both; fl_map bit 0, sl_map[0] bit 7. */
    EXPECT(m->fl_map == 1 && m->sl_map[0] == 1u << 7 && m->heads[0][7] == 224 / 16);
    m->fl_map = 3;
    expect_check(a, "the first-level bitmap is wrong for level 1");
    m->fl_map = 1;
    m->sl_map[0] |= UINT64_C(1) << 40; /* a class beyond 2^5 */
    expect_check(a, "the second-level bitmap or list head is wrong for class (0, 40)");
    m->sl_map[0] = 1u << 7;
    m->heads[0][40] = 0;
    expect_check(a, "is wrong for class (0, 40)");
    m->heads[0][40] = NIL;
    m->sl_map[0] |= 1u << 8; /* a bit without a list */
    expect_check(a, "is wrong for class (0, 8)");
    /* The list moved to class (0, 8): its blocks are in the wrong class. */
    m->heads[0][8] = m->heads[0][7];
    m->heads[0][7] = NIL;
    m->sl_map[0] = 1u << 8;
    expect_check(a, "free block 0xe0 of 112 bytes is listed in class (0, 8), not (0, 7)");
    /* In class (1, 7): the wrong level too. */
    m->heads[1][7] = m->heads[0][8];
    m->heads[0][8] = NIL;
    m->sl_map[0] = 0;
    m->sl_map[1] = 1u << 7;
    m->fl_map = 2;
    expect_check(a, "is listed in class (1, 7), not (0, 7)");
    m->heads[0][8] = m->heads[1][7];
    m->heads[1][7] = NIL;
    m->sl_map[1] = 0;
    m->fl_map = 1;
    /* Both lists: the blocks are listed twice. */
    m->heads[0][7] = m->heads[0][8];
    m->sl_map[0] = 3u << 7;
    expect_check(a, "the free lists hold more than the heap's 2 free blocks");
    m->heads[0][8] = NIL;
    m->sl_map[0] = 1u << 7;
    EXPECT(ma_check(a) == MA_OK);

    /* The heap's end: not a multiple of 16, past the arena, below
     * prealloc, above its peak; too many free blocks for the heap. */
    uint64_t heap = m->heap;
    const uint64_t ends[] = {heap + 8, (1 << 16) + 16, heap + 16};
    for (size_t i = 0; i < 3; i++) {
        m->heap = ends[i];
        expect_check(a, "is not a multiple of 16 from prealloc (0) to the arena's 65536");
    }
    m->heap = heap;
    m->prealloc = heap + 16;
    expect_check(a, "from prealloc (464)");
    m->prealloc = 0;
    m->free_blocks = 100;
    expect_check(a, "counters: 100 free blocks cannot fit a heap of 448 bytes");
    m->free_blocks = 2;
    EXPECT(ma_check(a) == MA_OK);
    /* Each counter of T6 alone. */
    uint64_t *counters[] = {&m->free_bytes, &m->free_blocks, &m->allocated, &m->alloc_blocks};
    for (size_t i = 0; i < 4; i++) {
        (*counters[i])--;
        expect_check(a, "counters: free");
        (*counters[i])++;
    }
    EXPECT(ma_check(a) == MA_OK);
    /* A live address past the heap's end is no allocated block. */
    m->heap = 224;
    uint64_t r = 0;
    EXPECT(ma_usable_size(a, p[3], &r) == MA_ECORRUPT && said("0x160 is a live allocation"));
    m->heap = heap;
    EXPECT(ma_usable_size(a, p[3], &r) == MA_OK && r == 104 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* A trimmed top never leaves a sliver below the minimum block: with
 * growth 48, a free top from 80 keeps [80, 144), not [80, 96). */
static void test_trim_sliver(void)
{
    ma_tlsf_config c = ma_tlsf_config_default();
    c.arena_size = 1 << 16;
    c.growth = 48;
    c.trim = 1;
    ma_allocator *a = NULL;
    EXPECT(ma_tlsf_create(&c, &a) == MA_OK);
    if (!a)
        return;
    uint64_t p = MA_NULL, r = MA_NULL;
    ma_stats st;
    EXPECT(ma_malloc(a, 1000, &p) == MA_OK && p == 16);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 1008);
    EXPECT(ma_realloc(a, p, 72, &r) == MA_OK && r == p);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.heap_size == 144 &&
           st.free_blocks == 1 && st.free_bytes == 64 && st.allocated_bytes == 80);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/*
 * Addresses that core's record of live allocations should never hold
 * (below 16, not a multiple of 16), forged into that record: the
 * allocator's own check of its metadata refuses them.
 */
static void test_forged_record(void)
{
    ma_allocator *a = make_tlsf(1 << 16, 16, 5);
    if (!a)
        return;
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && p == 16);
    const uint64_t forged[] = {0, 8, 24};
    for (size_t i = 0; i < 3; i++)
        forge_refused(a, forged[i], "is a live allocation, but");
    ma_destroy(a);
}

int main(void)
{
    test_create_refusals();
    test_memory_refused();
    test_the_last_level();
    test_size_words();
    test_free_neighbours_and_counters();
    test_epilogue();
    test_list_links();
    test_instance_fields();
    test_trim_sliver();
    test_forged_record();
    return edges_report();
}
