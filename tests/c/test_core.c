/*
 * C-level tests of the public API, independent of Python: exact layouts,
 * status codes, a random-operation fuzzer with ma_check after every step,
 * and corruption that ma_check must report (also when built with NDEBUG).
 *
 * Usage: test_core [iterations [quick]]   (exit status 0 when every test
 * passes).  "quick", for runs under memcheck and with coverage counters,
 * checks the deep bins every 64th step instead of every step, and limits
 * the address space to 256 GiB (valgrind's own limit is lower), so that
 * the 1 TiB arenas, whose checks read a 32 GiB side table, must be refused
 * with MA_ESYS and the mmap message instead.
 */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid, kill, alarm, nanosleep */
#include "memalloc.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures, passes;
static int under_valgrind; /* "quick": see the usage above */

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (cond) {                                                           \
            passes++;                                                         \
        } else {                                                              \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
        }                                                                     \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t must_malloc(ma_allocator *a, uint64_t size)
{
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, size, &p) == MA_OK);
    return p;
}

static void test_buddy_layout(void)
{
    ma_allocator *a = NULL;
    EXPECT(ma_buddy_create(1024, 16, &a) == MA_OK);
    EXPECT(must_malloc(a, 100) == 0);
    EXPECT(must_malloc(a, 16) == 128);
    uint64_t u = 0;
    EXPECT(ma_usable_size(a, 0, &u) == MA_OK && u == 128);
    EXPECT(ma_free(a, 64) == MA_EADDR); /* inside a block */
    EXPECT(ma_free(a, 144) == MA_EADDR); /* a free block */
    EXPECT(strstr(ma_last_error(a), "not the start of a live block") != NULL);
    uint64_t p = 0;
    EXPECT(ma_malloc(a, 2048, &p) == MA_ENOMEM && p == MA_NULL);
    EXPECT(ma_memalign(a, 48, 16, &p) == MA_EINVAL);
    EXPECT(ma_calloc(a, UINT64_MAX / 2, 3, &p) == MA_ENOMEM);
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK);
    EXPECT(st.live_blocks == 2 && st.requested_bytes == 116);
    EXPECT(st.allocated_bytes == 144 && st.heap_size == 144);
    EXPECT(st.failures == 2 && st.mallocs == 4);
    EXPECT(ma_free(a, 0) == MA_OK && ma_free(a, 128) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    ma_block blocks[4];
    uint64_t n = 0;
    EXPECT(ma_blocks(a, blocks, 4, &n) == MA_OK && n == 1);
    EXPECT(blocks[0].size == 1024 && !blocks[0].allocated);
    EXPECT(ma_close(a) == MA_OK);
    EXPECT(ma_malloc(a, 1, &p) == MA_ECLOSED);
    EXPECT(ma_check(a) == MA_ECLOSED);
    ma_destroy(a);

    EXPECT(ma_buddy_create(1000, 16, &a) == MA_EINVAL && a == NULL);
    EXPECT(ma_buddy_create(1024, 8, &a) == MA_EINVAL);
    EXPECT(ma_buddy_create(1024, 2048, &a) == MA_EINVAL);
}

/* Random operations against a table of slots, checking contents and the heap. */
static void fuzz(ma_allocator *a, unsigned iterations, uint64_t max_size)
{
    enum { SLOTS = 64 };
    uint64_t addr[SLOTS], size[SLOTS];
    unsigned char fill[SLOTS];
    for (int i = 0; i < SLOTS; i++)
        addr[i] = MA_NULL;
    unsigned char *buf = malloc(max_size + 1);
    int bad_check = 0, bad_data = 0;
    for (unsigned it = 0; it < iterations; it++) {
        int s = (int)(rnd() % SLOTS);
        uint64_t n = rnd() % (max_size + 1);
        if (rnd() % 4 == 0)
            n = rnd() % 33;
        if (addr[s] == MA_NULL) {
            uint64_t p;
            ma_status st = (rnd() % 3 == 0)
                               ? ma_memalign(a, UINT64_C(1) << (rnd() % 10), n, &p)
                               : ma_malloc(a, n, &p);
            if (st == MA_OK) {
                addr[s] = p;
                size[s] = n;
                fill[s] = (unsigned char)rnd();
                memset(buf, fill[s], n);
                ma_write(a, p, 0, buf, n);
            } else if (st != MA_ENOMEM) {
                bad_check++;
            }
        } else if (rnd() % 3 == 0) {
            uint64_t q;
            ma_status st = ma_realloc(a, addr[s], n, &q);
            uint64_t keep = n < size[s] ? n : size[s];
            if (st == MA_OK && n == 0) {
                addr[s] = MA_NULL;
            } else if (st == MA_OK) {
                if (ma_read(a, q, 0, buf, keep) != MA_OK)
                    bad_data++;
                for (uint64_t k = 0; k < keep; k++)
                    if (buf[k] != fill[s]) {
                        bad_data++;
                        break;
                    }
                memset(buf, fill[s], n);
                ma_write(a, q, 0, buf, n);
                addr[s] = q;
                size[s] = n;
            } else if (st != MA_ENOMEM) {
                bad_check++;
            }
        } else {
            if (ma_read(a, addr[s], 0, buf, size[s]) != MA_OK)
                bad_data++;
            for (uint64_t k = 0; k < size[s]; k++)
                if (buf[k] != fill[s]) {
                    bad_data++;
                    break;
                }
            if (ma_free(a, addr[s]) != MA_OK)
                bad_check++;
            addr[s] = MA_NULL;
        }
        if (ma_check(a) != MA_OK) {
            if (!bad_check)
                fprintf(stderr, "%s: check failed after %u operations: %s\n",
                        ma_name(a), it, ma_last_error(a));
            bad_check++;
            break;
        }
    }
    EXPECT(bad_check == 0);
    EXPECT(bad_data == 0);
    for (int i = 0; i < SLOTS; i++)
        if (addr[i] != MA_NULL)
            EXPECT(ma_free(a, addr[i]) == MA_OK);
    ma_stats st;
    ma_get_stats(a, &st);
    EXPECT(st.live_blocks == 0 && st.requested_bytes == 0 && st.allocated_bytes == 0);
    EXPECT(ma_check(a) == MA_OK);
    free(buf);
}

/* Scribble on a free block's list links: check must notice. */
static void test_buddy_corruption_detected(void)
{
    ma_allocator *a = NULL;
    EXPECT(ma_buddy_create(1024, 16, &a) == MA_OK);
    uint64_t p = must_malloc(a, 16);
    EXPECT(p == 0);
    EXPECT(ma_check(a) == MA_OK);
    unsigned char *base = ma_arena_base(a);
    uint64_t junk = 0x12345;
    memcpy(base + 16, &junk, sizeof junk); /* the free 16-byte block's next */
    EXPECT(ma_check(a) == MA_ECORRUPT);
    EXPECT(strstr(ma_last_error(a), "free list") != NULL);
    ma_destroy(a);
}

/* Zones: scribble on a free block's list link, and free a freed block
 * behind core's back (the allocator's own bitmap must refuse it). */
static void test_zones_corruption_detected(void)
{
    ma_allocator *a = NULL;
    EXPECT(ma_zones_create(1 << 20, 128, 4096, MA_ZONES_FINE, &a) == MA_OK);
    uint64_t p = must_malloc(a, 16), q = must_malloc(a, 16);
    EXPECT(p == 0 && q == 16);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK);
    unsigned char *base = ma_arena_base(a);
    uint64_t junk = 24; /* inside the block at 16 */
    memcpy(base, &junk, sizeof junk);
    EXPECT(ma_check(a) == MA_ECORRUPT);
    EXPECT(strstr(ma_last_error(a), "free list") != NULL);
    ma_destroy(a);
    ma_zone_info z[2];
    uint64_t n = 0, sizes[4];
    EXPECT(ma_zones_create(1 << 20, 128, 4096, MA_ZONES_POW2, &a) == MA_OK);
    EXPECT(ma_zones_classes(a, sizes, 4, &n) == MA_OK && n == 9 && sizes[3] == 128);
    p = must_malloc(a, 5000);
    EXPECT(ma_zones_list(a, z, 2, &n) == MA_OK && n == 1 &&
           z[0].kind == MA_ZONE_LARGE && z[0].size == 8192 && z[0].live == 1);
    ma_destroy(a);
    ma_allocator *b = NULL;
    EXPECT(ma_buddy_create(1024, 16, &b) == MA_OK);
    EXPECT(ma_zones_list(b, z, 2, &n) == MA_EINVAL &&
           strstr(ma_thread_error(), "not a zones allocator") != NULL);
    ma_destroy(b);
}

/* Scribble on a free block's footer: check must notice. */
static void test_freelist_corruption_detected(void)
{
    ma_freelist_config c = ma_freelist_config_default();
    c.arena_size = 1 << 16;
    ma_allocator *a = NULL;
    EXPECT(ma_freelist_create(&c, &a) == MA_OK);
    uint64_t p = must_malloc(a, 100), q = must_malloc(a, 100);
    EXPECT(p == 16 && q == 128); /* 112-byte blocks: 100 + 8 rounded up to 16 */
    EXPECT(ma_free(a, p) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    unsigned char *base = ma_arena_base(a);
    uint64_t junk = 48;
    memcpy(base + 112, &junk, sizeof junk); /* the free block's footer: the next block's first word */
    EXPECT(ma_check(a) == MA_ECORRUPT);
    EXPECT(strstr(ma_last_error(a), "footer") != NULL);
    ma_destroy(a);

    /* The tag of a free block names its index entry: a node slot (best and
     * worst fit: a list bin, a pairing-heap bin, a worst-ao list bin not yet
     * made a heap) or a stamp (first and next fit, LIFO and FIFO), and a
     * copy of it sits beside the footer.  A wrong tag, a wrong copy, and
     * both wrong alike (which the index itself must reveal) must be seen. */
    static const int tagged[][2] = {
        {MA_FIT_BEST, MA_ORDER_LIFO}, {MA_FIT_BEST, MA_ORDER_ADDRESS},
        {MA_FIT_FIRST, MA_ORDER_FIFO}, {MA_FIT_NEXT, MA_ORDER_LIFO},
        {MA_FIT_WORST, MA_ORDER_ADDRESS}, {MA_FIT_WORST, MA_ORDER_FIFO},
    };
    for (size_t t = 0; t < 3 * sizeof tagged / sizeof tagged[0]; t++) {
        c.fit = tagged[t / 3][0];
        c.order = tagged[t / 3][1];
        EXPECT(ma_freelist_create(&c, &a) == MA_OK);
        p = must_malloc(a, 100); /* a 112-byte block at 0 */
        must_malloc(a, 100);
        EXPECT(ma_free(a, p) == MA_OK);
        EXPECT(ma_check(a) == MA_OK);
        uint32_t bad = 0x7777;
        unsigned char *heap = ma_arena_base(a);
        if (t % 3 != 1) /* the tag, the free block's first payload word */
            memcpy(heap + 16, &bad, sizeof bad);
        if (t % 3 != 0) /* its copy, 8 bytes before the block's end */
            memcpy(heap + 112 - 8, &bad, sizeof bad);
        EXPECT(ma_check(a) == MA_ECORRUPT);
        int copy_differs = strstr(ma_last_error(a), "copy of its tag") != NULL;
        EXPECT(copy_differs == (t % 3 != 2));
        ma_destroy(a);
    }
    c.fit = MA_FIT_FIRST;
    c.order = MA_ORDER_ADDRESS;

    c.arena_size = 1000; /* not a multiple of 16 */
    EXPECT(ma_freelist_create(&c, &a) == MA_EINVAL && a == NULL);
    c.arena_size = 1 << 16;
    c.min_block = 16;
    EXPECT(ma_freelist_create(&c, &a) == MA_EINVAL);
}

/*
 * Every policy with as many free blocks as its arena can hold: 128 blocks
 * of the minimum size fill a 4 KiB arena (the smallest); freeing every other
 * one leaves 64, none adjacent.  The index's side pool is sized for exactly that many (plus
 * a scratch slot that pairing-heap links write blindly: were it ever handed
 * out, a live node's links would be overwritten and ma_check would say so).
 */
static void test_freelist_most_free_blocks(void)
{
    for (int fit = MA_FIT_BEST; fit <= MA_FIT_WORST; fit++) {
        for (int order = MA_ORDER_ADDRESS; order <= MA_ORDER_FIFO; order++) {
            ma_freelist_config c = ma_freelist_config_default();
            c.arena_size = 4096;
            c.growth = 32;
            c.fit = fit;
            c.order = order;
            ma_allocator *a = NULL;
            EXPECT(ma_freelist_create(&c, &a) == MA_OK);
            uint64_t p[128], extra = MA_NULL;
            for (int i = 0; i < 128; i++)
                p[i] = must_malloc(a, 16);
            EXPECT(ma_malloc(a, 16, &extra) == MA_ENOMEM);
            for (int round = 0; round < 2; round++) {
                for (int i = round; i < 128; i += 2) { /* the evens, then the odds */
                    EXPECT(ma_free(a, p[i]) == MA_OK);
                    EXPECT(ma_check(a) == MA_OK);
                }
                ma_stats st;
                EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 64);
                for (int i = round; i < 128; i += 2) { /* each takes a hole back */
                    p[i] = must_malloc(a, 16);
                    EXPECT(ma_check(a) == MA_OK);
                }
                EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 0);
            }
            ma_destroy(a);
        }
    }
}

/* A random permutation of 0 .. n-1 times `scale` plus `add`. */
static void shuffled(uint64_t *v, unsigned n, uint64_t scale, uint64_t add)
{
    for (unsigned i = 0; i < n; i++)
        v[i] = i * scale + add;
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)(rnd() % i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/*
 * Best or worst fit in address order with thousands of free blocks of one
 * size in one bin (the only size: the heap is filled exactly, so for worst
 * fit too it is the highest bin).  Frees in random order build it,
 * allocations must take its blocks lowest address first, and freeing the
 * blocks between free ones takes them out of it anywhere (coalescing
 * removes both neighbours).  Worst fit's bin is a list until the first
 * allocation pairs it into a heap, and a list again once it is empty: the
 * first round drains a heap from its root, the second takes one block (a
 * list made a heap again) and then removes the others from the middle of
 * that heap.  ma_check after every step.
 */
static void test_freelist_deep_bin(int fit)
{
    enum { N = 6144, H = N / 2 }; /* N * 32 bytes: 48 pages */
    static uint64_t order[H];
    unsigned stride = under_valgrind ? 64 : 1;
    ma_freelist_config c = ma_freelist_config_default();
    c.arena_size = 1 << 20;
    c.fit = fit;
    c.order = MA_ORDER_ADDRESS;
    ma_allocator *a = NULL;
    EXPECT(ma_freelist_create(&c, &a) == MA_OK);
    for (uint64_t i = 0; i < N; i++) /* 32-byte blocks, back to back */
        EXPECT(must_malloc(a, 16) == 32 * i + 16);
    int bad = 0;
    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 0 && st.heap_size == 32 * N);
    for (int round = 0; round < 2; round++) {
        shuffled(order, H, 64, 32 + 16); /* the odd blocks */
        for (unsigned i = 0; i < H; i++)
            bad += ma_free(a, order[i]) != MA_OK || (i % stride == 0 && ma_check(a) != MA_OK);
        EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == H);
        if (round == 0) { /* the lowest address of the 32-byte bin */
            for (uint64_t i = 0; i < H; i++)
                bad += must_malloc(a, 16) != 64 * i + 32 + 16 ||
                       (i % stride == 0 && ma_check(a) != MA_OK);
            EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 0);
        } else { /* one taken (worst fit: the list becomes a heap) and given back */
            EXPECT(must_malloc(a, 16) == 48 && ma_free(a, 48) == MA_OK && ma_check(a) == MA_OK);
        }
    }
    shuffled(order, H, 64, 16); /* the even blocks, between free ones */
    for (unsigned i = 0; i < H; i++)
        bad += ma_free(a, order[i]) != MA_OK || (i % stride == 0 && ma_check(a) != MA_OK);
    EXPECT(bad == 0 && ma_check(a) == MA_OK);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.free_blocks == 1 && st.allocated_bytes == 0);
    ma_destroy(a);
}

/* ---- #14: constructor rules, replay validation, adoption ------------------- */

/* Whether the calling thread's last failure message contains `text`. */
static int said(const char *text)
{
    return strstr(ma_thread_error(), text) != NULL;
}

/* Every parameter out of range: MA_EINVAL, and the message names the
 * parameter, its value and the allowed range.  No 0 means "the default". */
static void test_create_checks_every_parameter(void)
{
    ma_allocator *a = (ma_allocator *)&a; /* must be set to NULL */
    EXPECT(ma_buddy_create(1000, 16, &a) == MA_EINVAL && a == NULL);
    EXPECT(said("arena_size must be a power of two from 1024 to 1099511627776, got 1000"));
    EXPECT(ma_buddy_create(1024, 0, &a) == MA_EINVAL &&
           said("min_block must be a power of two from 16 to arena_size (1024), got 0"));
    EXPECT(ma_buddy_create(1024, 2048, &a) == MA_EINVAL && said("got 2048"));
    EXPECT(ma_buddy_create(1024, 16, NULL) == MA_EINVAL && said("out is NULL"));

    ma_freelist_config c = ma_freelist_config_default();
    EXPECT(c.arena_size == UINT64_C(1) << 30 && c.fit == MA_FIT_BEST &&
           c.order == MA_ORDER_ADDRESS && c.growth == 4096 && c.prealloc == 0 &&
           c.min_block == 32 && c.trim == 0 && c.stamp_limit == 0);
    c.arena_size = 1 << 16;
    EXPECT(ma_freelist_create(&c, &a) == MA_OK && a != NULL);
    ma_destroy(a);
    static const struct {
        int field;
        uint64_t value;
        const char *message;
    } bad[] = {
        {0, 4000, "arena_size must be a multiple of 16 from 4096 to 34359738368, got 4000"},
        {0, 0, "arena_size must be a multiple of 16 from 4096 to 34359738368, got 0"},
        {1, 4, "fit must be MA_FIT_BEST, _FIRST, _NEXT or _WORST (0 to 3), got 4"},
        {2, 3, "order must be MA_ORDER_ADDRESS, _LIFO or _FIFO (0 to 2), got 3"},
        {3, 0, "growth must be a multiple of 16 from 16 to arena_size (65536), got 0"},
        {3, 24, "growth must be a multiple of 16 from 16 to arena_size (65536), got 24"},
        {4, 16, "prealloc must be 0 or a multiple of 16 from min_block (32) to arena_size (65536), got 16"},
        {5, 0, "min_block must be a multiple of 16 from 32 to arena_size (65536), got 0"},
        {6, 2, "trim must be 0 (off) or 1 (on), got 2"},
        {7, UINT64_C(1) << 32, "stamp_limit must be 0 (the built-in limits) or from 1 to 4293918719, got 4294967296"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ma_freelist_config b = c;
        switch (bad[i].field) {
        case 0: b.arena_size = bad[i].value; break;
        case 1: b.fit = (int)bad[i].value; break;
        case 2: b.order = (int)bad[i].value; break;
        case 3: b.growth = bad[i].value; break;
        case 4: b.prealloc = bad[i].value; break;
        case 5: b.min_block = bad[i].value; break;
        case 6: b.trim = (int)bad[i].value; break;
        default: b.stamp_limit = bad[i].value; break;
        }
        a = (ma_allocator *)&a;
        EXPECT(ma_freelist_create(&b, &a) == MA_EINVAL && a == NULL);
        if (!said(bad[i].message))
            fprintf(stderr, "case %zu: got \"%s\"\n", i, ma_thread_error());
        EXPECT(said(bad[i].message));
    }
    EXPECT(ma_freelist_create(NULL, &a) == MA_EINVAL && said("config or out is NULL"));
}

/* Stats and every block of an instance, to compare before and after. */
struct snapshot {
    ma_stats stats;
    ma_block blocks[64];
    uint64_t n;
};

static void snap(ma_allocator *a, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    EXPECT(ma_get_stats(a, &s->stats) == MA_OK);
    EXPECT(ma_blocks(a, s->blocks, 64, &s->n) == MA_OK && s->n <= 64);
}

static int same(const struct snapshot *x, const struct snapshot *y)
{
    if (memcmp(&x->stats, &y->stats, sizeof x->stats) != 0 || x->n != y->n)
        return 0;
    for (uint64_t i = 0; i < x->n; i++) { /* field by field: not the padding */
        const ma_block *b = &x->blocks[i], *c = &y->blocks[i];
        if (b->offset != c->offset || b->size != c->size || b->address != c->address ||
            b->requested != c->requested || b->allocated != c->allocated)
            return 0;
    }
    return 1;
}

/*
 * A malformed trace is rejected before its first event: the instance is
 * unchanged (statistics, blocks, counters), by ma_replay and ma_replay_bare.
 */
static void test_replay_malformed_changes_nothing(void)
{
    static const struct {
        uint8_t op[5];
        uint32_t id[5];
        uint64_t size[5], arg[5];
        uint64_t n, n_ids;
        const char *message;
    } bad[] = {
        {{MA_EV_MALLOC, MA_EV_MALLOC, MA_EV_FREE, MA_EV_MALLOC, MA_EV_CALLOC}, {0, 1, 0, 0, 1},
         {10, 20, 0, 30, 4}, {0, 0, 0, 0, 2}, 5, 2, "event 4: id 1 is already live"},
        {{MA_EV_REALLOC, MA_EV_MEMALIGN}, {0, 0}, {10, 5}, {0, 64}, 2, 1,
         "event 1: id 0 is already live"},
        {{MA_EV_MALLOC, MA_EV_MALLOC, MA_EV_MALLOC}, {0, 1, 5}, {10, 20, 30}, {0}, 3, 3,
         "event 2: id 5 is not below n_ids (3)"},
        {{MA_EV_MALLOC, MA_EV_MALLOC, 9}, {0, 1, 2}, {10, 20, 30}, {0}, 3, 3,
         "event 2: unknown event kind 9"},
        {{MA_EV_MALLOC, MA_EV_MEMALIGN}, {0, 1}, {10, 20}, {0, 48}, 2, 2,
         "event 1: alignment 48 is not a power of two"},
    };
    for (int kind = 0; kind < 2; kind++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ma_allocator *a = NULL;
            if (kind == 0) {
                EXPECT(ma_buddy_create(1 << 16, 16, &a) == MA_OK);
            } else {
                ma_freelist_config c = ma_freelist_config_default();
                c.arena_size = 1 << 16;
                c.fit = MA_FIT_NEXT;
                c.order = MA_ORDER_FIFO;
                EXPECT(ma_freelist_create(&c, &a) == MA_OK);
            }
            uint64_t p = must_malloc(a, 100);
            struct snapshot before, after;
            snap(a, &before);
            ma_trace_view t = {bad[i].n, bad[i].op, bad[i].id, bad[i].size, bad[i].arg,
                               bad[i].n_ids};
            ma_replay_config cfg = {1, 1, 0, NULL, NULL};
            ma_sample samples[8];
            ma_replay_result r;
            EXPECT(ma_replay(a, &t, &cfg, samples, 8, &r) == MA_EINVAL);
            EXPECT(said(bad[i].message) && strstr(ma_last_error(a), bad[i].message));
            EXPECT(r.events == 0 && r.samples == 0);
            snap(a, &after);
            EXPECT(same(&before, &after));
            EXPECT(ma_replay_bare(a, &t, 1, &r) == MA_EINVAL && said(bad[i].message));
            snap(a, &after);
            EXPECT(same(&before, &after));
            EXPECT(ma_replay_libc(&t, 1, &r) == MA_EINVAL && said(bad[i].message));
            EXPECT(ma_check(a) == MA_OK && ma_free(a, p) == MA_OK);
            ma_destroy(a);
        }
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
#include <sys/resource.h>

/* This process's address space in bytes (VmSize), 0 if unknown. */
static uint64_t address_space(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}
#endif

/*
 * A replay that leaves many blocks live hands every one to the instance's
 * record.  The record's room is reserved before the first event, so when
 * memory is short (an address-space limit that leaves room for the engine's
 * id table but not for the record) the replay fails with nothing changed,
 * never part way through the adoption.  Run first, while malloc's heap holds
 * little free memory.  (Without the limit under AddressSanitizer, whose
 * shadow memory needs more address space than any such limit allows.)
 */
static void test_replay_adopts_every_live_block(void)
{
    enum { N = 200000 };
    uint8_t *op = malloc(N);
    uint32_t *id = malloc(N * sizeof *id);
    uint64_t *size = malloc(N * sizeof *size), *arg = calloc(N, sizeof *arg);
    for (uint32_t i = 0; i < N; i++) {
        op[i] = MA_EV_MALLOC;
        id[i] = i;
        size[i] = 16;
    }
    ma_trace_view t = {N, op, id, size, arg, N};
    for (int limited = 0; limited < 2; limited++) {
        ma_freelist_config c = ma_freelist_config_default();
        c.arena_size = UINT64_C(1) << 24;
        ma_allocator *a = NULL;
        EXPECT(ma_freelist_create(&c, &a) == MA_OK);
        ma_replay_result r;
        ma_status st;
#ifndef UNDER_ASAN
        struct rlimit old;
        EXPECT(getrlimit(RLIMIT_AS, &old) == 0);
        uint64_t now = address_space();
        EXPECT(now > 0);
        if (limited) { /* the id table (16 bytes an id) and 1 MiB more */
            struct rlimit lim = old;
            lim.rlim_cur = (rlim_t)(now + N * 16 + (1 << 20));
            EXPECT(setrlimit(RLIMIT_AS, &lim) == 0);
        }
        st = ma_replay_bare(a, &t, 1, &r);
        EXPECT(setrlimit(RLIMIT_AS, &old) == 0);
#else
        st = ma_replay_bare(a, &t, 1, &r);
#endif
        EXPECT(ma_check(a) == MA_OK);
        ma_stats s;
        EXPECT(ma_get_stats(a, &s) == MA_OK);
        if (!limited) {
            EXPECT(st == MA_OK && r.events == N && s.live_blocks == N);
        } else if (st == MA_OK) {
            EXPECT(s.live_blocks == N);
        } else {
            EXPECT(st == MA_ENOMEM && r.events == 0);
            EXPECT(s.live_blocks == 0 && s.mallocs == 0 && s.heap_size == 0);
        }
        ma_destroy(a);
    }
    free(op);
    free(id);
    free(size);
    free(arg);
}

/*
 * The replay result's internal-fragmentation inputs: the live requested
 * bytes at their peak and the allocated bytes at that moment, on a trace
 * far shorter than sample_every.
 */
static void test_replay_allocated_at_max_live(void)
{
    ma_allocator *a = NULL;
    EXPECT(ma_buddy_create(1024, 16, &a) == MA_OK);
    /* a 100 (128), b 20 (32), free a, c 300 (512), free b, free c:
     * L peaks at 320 after c, when 32 + 512 bytes are allocated. */
    uint8_t op[] = {MA_EV_MALLOC, MA_EV_MALLOC, MA_EV_FREE, MA_EV_MALLOC, MA_EV_FREE, MA_EV_FREE};
    uint32_t id[] = {0, 1, 0, 2, 1, 2};
    uint64_t size[] = {100, 20, 0, 300, 0, 0}, arg[6] = {0};
    ma_trace_view t = {6, op, id, size, arg, 3};
    ma_replay_config cfg = {1000, 1, 0, NULL, NULL};
    ma_sample samples[4];
    ma_replay_result r;
    EXPECT(ma_replay(a, &t, &cfg, samples, 4, &r) == MA_OK);
    EXPECT(r.max_live == 320 && r.allocated_at_max_live == 544 && r.heap_at_max_live == 1024);
    EXPECT(r.samples == 1 && samples[0].stats.allocated_bytes == 0);
    ma_destroy(a);
}

/* ---- calls from inside an instance's own callbacks ----------------------- */

/* A hang in these tests (the bug they guard against) ends the process. */
#define HANG_SECONDS 120u

struct reentry {
    ma_allocator *a;
    int calls;
    ma_status malloc_st, stats_st, free_st, check_st, walk_st, reset_st,
        close_st, replay_st, blocks_st;
    int message_ok;
};

/* Every call on r->a itself, once; another instance's call must work. */
static void reenter(struct reentry *r, uint64_t some_address)
{
    uint64_t addr = 0, n = 0;
    ma_stats st;
    ma_block blk[4];
    r->malloc_st = ma_malloc(r->a, 16, &addr);
    r->message_ok = strstr(ma_thread_error(), "malloc refused: called from inside the") &&
                    strstr(ma_thread_error(), "own replay-progress or walk callback");
    r->stats_st = ma_get_stats(r->a, &st);
    r->free_st = ma_free(r->a, some_address);
    r->check_st = ma_check(r->a);
    r->reset_st = ma_reset(r->a);
    r->blocks_st = ma_blocks(r->a, blk, 4, &n);
    r->close_st = ma_close(r->a);
    ma_destroy(r->a); /* refused in silence: the caller goes on using it */
    uint8_t op = MA_EV_MALLOC;
    uint32_t id = 0;
    uint64_t size = 8, arg = 0;
    ma_trace_view t = {1, &op, &id, &size, &arg, 1};
    ma_replay_result res;
    r->replay_st = ma_replay_bare(r->a, &t, 1, &res);
}

static int reenter_in_walk(const ma_block *b, void *p)
{
    struct reentry *r = p;
    if (r->calls++ == 0) {
        reenter(r, b->allocated ? b->address : 0);
        r->walk_st = ma_walk(r->a, reenter_in_walk, r);
    }
    return 0;
}

static int reenter_in_progress(uint64_t done, void *p)
{
    struct reentry *r = p;
    (void)done;
    if (r->calls++ == 0) {
        reenter(r, 0);
        r->walk_st = ma_walk(r->a, reenter_in_walk, r);
    }
    return 0;
}

static void expect_all_busy(const struct reentry *r, uint64_t calls)
{
    EXPECT((uint64_t)r->calls == calls); /* the walk or replay went on */
    EXPECT(r->malloc_st == MA_EBUSY && r->message_ok);
    EXPECT(r->stats_st == MA_EBUSY && r->free_st == MA_EBUSY);
    EXPECT(r->check_st == MA_EBUSY && r->reset_st == MA_EBUSY);
    EXPECT(r->blocks_st == MA_EBUSY && r->walk_st == MA_EBUSY);
    EXPECT(r->close_st == MA_EBUSY && r->replay_st == MA_EBUSY);
}

static void test_calls_from_own_callbacks_are_refused(ma_allocator *a)
{
    alarm(HANG_SECONDS);
    uint64_t kept[8];
    for (int i = 0; i < 8; i++)
        kept[i] = must_malloc(a, (uint64_t)(24 + 40 * i));
    EXPECT(ma_free(a, kept[3]) == MA_OK);
    ma_stats before, after;
    ma_block b1[32], b2[32];
    uint64_t n1 = 0, n2 = 0;
    EXPECT(ma_get_stats(a, &before) == MA_OK);
    EXPECT(ma_blocks(a, b1, 32, &n1) == MA_OK && n1 <= 32);

    struct reentry r = {0};
    r.a = a;
    EXPECT(ma_walk(a, reenter_in_walk, &r) == MA_OK);
    expect_all_busy(&r, n1);
    /* Nothing changed: the same statistics, the same blocks. */
    EXPECT(ma_get_stats(a, &after) == MA_OK);
    EXPECT(memcmp(&before, &after, sizeof before) == 0);
    EXPECT(ma_blocks(a, b2, 32, &n2) == MA_OK && n2 == n1);
    int same = 1;
    for (uint64_t i = 0; i < n1 && i < n2; i++)
        same &= b1[i].offset == b2[i].offset && b1[i].size == b2[i].size &&
                b1[i].address == b2[i].address &&
                b1[i].requested == b2[i].requested &&
                b1[i].allocated == b2[i].allocated;
    EXPECT(same);
    EXPECT(ma_check(a) == MA_OK);

    /* The same from a replay's progress callback: the replay goes on. */
    enum { EVENTS = 100 };
    uint8_t op[EVENTS];
    uint32_t id[EVENTS];
    uint64_t size[EVENTS], arg[EVENTS];
    for (uint32_t i = 0; i < EVENTS; i++) {
        op[i] = i % 2 ? MA_EV_FREE : MA_EV_MALLOC;
        id[i] = i / 2;
        size[i] = 8 + i;
        arg[i] = 0;
    }
    ma_trace_view t = {EVENTS, op, id, size, arg, EVENTS / 2};
    ma_replay_config c = {0};
    c.progress_every = 10;
    c.progress = reenter_in_progress;
    struct reentry rp = {0};
    rp.a = a;
    c.progress_context = &rp;
    ma_replay_result res;
    EXPECT(ma_replay(a, &t, &c, NULL, 0, &res) == MA_OK);
    EXPECT(res.events == EVENTS && !res.stopped);
    expect_all_busy(&rp, EVENTS / 10);
    EXPECT(ma_get_stats(a, &after) == MA_OK);
    EXPECT(after.live_blocks == before.live_blocks);
    EXPECT(after.mallocs == before.mallocs + EVENTS / 2);
    EXPECT(ma_check(a) == MA_OK);

    /* And everything works again afterwards. */
    for (int i = 0; i < 8; i++)
        if (i != 3)
            EXPECT(ma_free(a, kept[i]) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    alarm(0);
}

/* ---- fork ------------------------------------------------------------------------ */

/* The instance the pthread_atfork handlers (which take no argument) serve. */
static ma_allocator *fork_heap;
static void fork_prepare(void) { if (fork_heap) ma_fork_prepare(fork_heap); }
static void fork_parent(void) { if (fork_heap) ma_fork_parent(fork_heap); }
static void fork_child(void) { if (fork_heap) ma_fork_child(fork_heap); }

/* In a child: allocate, write, read back, free, check.  0 when all worked. */
static int child_uses(ma_allocator *a)
{
    unsigned char buf[100], back[100];
    uint64_t p;
    memset(buf, 0x5a, sizeof buf);
    if (ma_malloc(a, sizeof buf, &p) != MA_OK)
        return 1;
    if (ma_write(a, p, 0, buf, sizeof buf) != MA_OK ||
        ma_read(a, p, 0, back, sizeof back) != MA_OK || memcmp(buf, back, sizeof buf))
        return 2;
    if (ma_free(a, p) != MA_OK)
        return 3;
    return ma_check(a) == MA_OK ? 0 : 4;
}

/* The child's exit status, or -1 after killing it when it did not exit
 * within `seconds` (a deadlocked child). */
static int wait_child(pid_t pid, double seconds)
{
    struct timespec start, now, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (w < 0)
            return -2;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec) > seconds) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        nanosleep(&nap, NULL);
    }
}

struct hammer {
    ma_allocator *a;
    atomic_int stop;
    unsigned long ops;
    int bad;
};

/* malloc, calloc (some large, so the lock is often held long), realloc and
 * free on one instance until told to stop. */
static void *hammer_thread(void *p)
{
    struct hammer *h = p;
    enum { SLOTS = 32 };
    uint64_t slot[SLOTS], x = 88172645463325252u;
    for (int i = 0; i < SLOTS; i++)
        slot[i] = MA_NULL;
    while (!atomic_load(&h->stop)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned i = (unsigned)(x % SLOTS);
        uint64_t n = (x >> 8) % 2000 + 1, q;
        ma_status st;
        if (slot[i] == MA_NULL)
            st = x % 5 == 0 ? ma_calloc(h->a, 64, (x >> 20) % 4096 + 1, &slot[i])
                            : ma_malloc(h->a, n, &slot[i]);
        else if (x % 3 == 0 && (st = ma_realloc(h->a, slot[i], n, &q)) == MA_OK)
            slot[i] = q;
        else if ((st = ma_free(h->a, slot[i])) == MA_OK)
            slot[i] = MA_NULL;
        if (st != MA_OK && st != MA_ENOMEM)
            h->bad++;
        h->ops++;
    }
    for (int i = 0; i < SLOTS; i++)
        if (slot[i] != MA_NULL && ma_free(h->a, slot[i]) != MA_OK)
            h->bad++;
    return NULL;
}

static void test_fork_while_another_thread_allocates(ma_allocator *a, int forks)
{
    fork_heap = a;
    struct hammer h = {a, 0, 0, 0};
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, hammer_thread, &h) == 0);
    int bad_children = 0;
    struct timespec nap = {0, 2000000};
    for (int k = 0; k < forks; k++) {
        nanosleep(&nap, NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_uses(a));
        int code = pid > 0 ? wait_child(pid, 30.0) : -3;
        if (code != 0) {
            fprintf(stderr, "fork %d of %s: child exit %d (-1: deadlocked)\n", k, ma_name(a), code);
            bad_children++;
        }
    }
    atomic_store(&h.stop, 1);
    pthread_join(th, NULL);
    fork_heap = NULL;
    EXPECT(bad_children == 0);
    EXPECT(h.bad == 0 && h.ops > 0);
    EXPECT(ma_check(a) == MA_OK);
}

struct fork_in_walk {
    ma_allocator *a;
    int calls;
    pid_t pid;
    ma_status held_in_parent;
};

static int fork_inside_walk(const ma_block *b, void *p)
{
    struct fork_in_walk *f = p;
    (void)b;
    if (f->calls++ == 0) {
        f->pid = fork();
        if (f->pid != 0) { /* parent: the walk still holds its instance */
            ma_stats st;
            f->held_in_parent = ma_get_stats(f->a, &st);
        }
    }
    return 0;
}

/* fork() from inside a walk callback: the walk goes on in both processes,
 * and each has a working instance once it has returned. */
static void test_fork_inside_own_callback(ma_allocator *a)
{
    fork_heap = a;
    uint64_t p = must_malloc(a, 48);
    struct fork_in_walk f = {a, 0, -1, MA_OK};
    ma_status walked = ma_walk(a, fork_inside_walk, &f);
    if (f.pid == 0) {
        ma_stats st;
        int code = walked != MA_OK ? 10 : ma_get_stats(a, &st) != MA_OK ? 11 : child_uses(a);
        _exit(code != 0 ? code : ma_free(a, p) == MA_OK ? 0 : 12);
    }
    fork_heap = NULL;
    EXPECT(walked == MA_OK && f.pid > 0 && f.held_in_parent == MA_EBUSY);
    EXPECT(f.pid > 0 && wait_child(f.pid, 30.0) == 0);
    EXPECT(child_uses(a) == 0);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK);
}

static void test_fork_handlers(void)
{
    ma_allocator *a = NULL;
    EXPECT(ma_fork_parent(a) == MA_EINVAL && ma_fork_child(a) == MA_EINVAL);
    EXPECT(ma_buddy_create(1 << 22, 16, &a) == MA_OK);
    /* Without ma_fork_prepare first: refused, nothing done. */
    EXPECT(ma_fork_parent(a) == MA_EINVAL && ma_fork_child(a) == MA_EINVAL);
    EXPECT(pthread_atfork(fork_prepare, fork_parent, fork_child) == 0);
    test_fork_while_another_thread_allocates(a, 20);
    test_fork_inside_own_callback(a);
    ma_destroy(a);
    ma_freelist_config c = ma_freelist_config_default();
    c.arena_size = 1 << 22;
    c.fit = MA_FIT_NEXT;
    EXPECT(ma_freelist_create(&c, &a) == MA_OK);
    test_fork_while_another_thread_allocates(a, 10);
    test_fork_inside_own_callback(a);
    ma_destroy(a);
}

/* ---- #18: TLSF ---------------------------------------------------------------- */

/* Scribbles on a TLSF heap that check must name; the mapping's ranges. */
static void test_tlsf_corruption_detected(void)
{
    ma_tlsf_config c = ma_tlsf_config_default();
    c.arena_size = 1 << 16;
    static const struct {
        uint64_t off, value;
        const char *words;
    } scribbles[] = {
        {112, 48, "footer"}, /* the free block's footer */
        {16, UINT64_C(0xffffffff00000005), "not a free block"}, /* next: 80 */
        {16, UINT64_C(0x00000005ffffffff), "back link"},        /* prev: 80 */
        {8, 48 | 2, "footer"},                     /* its size word: 48 */
        {120, 112 | 1 | 2, "previous-allocated"}, /* the next block's bit */
    };
    for (size_t k = 0; k < sizeof scribbles / sizeof scribbles[0]; k++) {
        ma_allocator *a = NULL;
        EXPECT(ma_tlsf_create(&c, &a) == MA_OK);
        uint64_t p = must_malloc(a, 100), q = must_malloc(a, 100);
        EXPECT(p == 16 && q == 128); /* blocks of 112 bytes at 0 and 112 */
        must_malloc(a, 100);
        EXPECT(ma_free(a, p) == MA_OK);
        EXPECT(ma_check(a) == MA_OK);
        memcpy((unsigned char *)ma_arena_base(a) + scribbles[k].off,
               &scribbles[k].value, 8);
        EXPECT(ma_check(a) == MA_ECORRUPT);
        EXPECT(strstr(ma_last_error(a), scribbles[k].words) != NULL);
        if (!strstr(ma_last_error(a), scribbles[k].words))
            fprintf(stderr, "scribble %zu: %s\n", k, ma_last_error(a));
        ma_destroy(a);
    }
    unsigned fl = 99, sl = 99;
    EXPECT(ma_tlsf_mapping(5, 1040, 1, &fl, &sl) == MA_OK && fl == 2 && sl == 1);
    EXPECT(ma_tlsf_mapping(5, UINT64_C(1) << 35, 0, &fl, &sl) == MA_OK &&
           fl == 27 && sl == 0);
    EXPECT(ma_tlsf_mapping(0, 32, 0, &fl, &sl) == MA_EINVAL && said("sl_bits"));
    EXPECT(ma_tlsf_mapping(7, 32, 0, &fl, &sl) == MA_EINVAL && said("sl_bits"));
    EXPECT(ma_tlsf_mapping(5, 16, 0, &fl, &sl) == MA_EINVAL && said("size"));
    EXPECT(ma_tlsf_mapping(5, 40, 0, &fl, &sl) == MA_EINVAL && said("size"));
    EXPECT(ma_tlsf_mapping(5, (UINT64_C(1) << 35) + 16, 0, &fl, &sl) == MA_EINVAL);
    EXPECT(ma_tlsf_mapping(5, 32, 0, NULL, &sl) == MA_EINVAL);
    EXPECT(ma_tlsf_create(NULL, NULL) == MA_EINVAL);
}

/* ---- #15: the registry ------------------------------------------------------ */

/* Whether the calling thread's last failure message is exactly `text`. */
static int said_exactly(const char *text)
{
    if (strcmp(ma_thread_error(), text) == 0)
        return 1;
    fprintf(stderr, "message: \"%s\"\n   want: \"%s\"\n", ma_thread_error(), text);
    return 0;
}

/* A fresh instance works: an allocation, a write, a free, the heap check
 * (one block only: with min_block equal to the arena there is room for one). */
static void expect_works(ma_allocator *a)
{
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && p != MA_NULL);
    EXPECT(ma_write(a, p, 0, "registry", 8) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
}

/* ma_create(name, options) with the expected status; the instance's name. */
static void expect_create(const char *name, const char *options, ma_status want,
                          const char *want_name)
{
    ma_allocator *a = NULL;
    ma_status st = ma_create(name, options, &a);
    const char *arena = options ? strstr(options, "arena_size=") : NULL;
    if (under_valgrind && want == MA_OK && st == MA_ESYS && arena &&
        strtoull(arena + strlen("arena_size="), NULL, 10) >= (UINT64_C(1) << 36) &&
        said("mmap refused")) {
        /* 64 GiB and more: more address space than valgrind gives a program */
        EXPECT(a == NULL);
        return;
    }
    EXPECT(st == want);
    if (st != want)
        fprintf(stderr, "ma_create(\"%s\", \"%s\"): %d (%s)\n", name,
                options ? options : "NULL", (int)st, ma_thread_error());
    if (st == MA_OK) {
        EXPECT(a != NULL && want_name != NULL && strcmp(ma_name(a), want_name) == 0);
        expect_works(a);
        ma_destroy(a);
    } else {
        EXPECT(a == NULL);
    }
}

static int option_index(size_t i, const char *name)
{
    ma_registry_info e;
    EXPECT(ma_registry_entry(i, &e) == MA_OK);
    for (size_t j = 0; j < e.n_options; j++) {
        ma_option_info o;
        EXPECT(ma_registry_option(i, j, &o) == MA_OK);
        if (strcmp(o.name, name) == 0)
            return (int)j;
    }
    return -1;
}

static void test_registry(void)
{
    size_t n = ma_registry_count();
    EXPECT(n == 16); /* buddy, twelve free-list policies, zones, tlsf, system */
    const char *names[] = {"buddy", "best-ao", "best-lifo", "best-fifo",
                           "first-ao", "first-lifo", "first-fifo", "next-ao",
                           "next-lifo", "next-fifo", "worst-ao", "worst-lifo",
                           "worst-fifo", "zones", "tlsf", "system"};
    char text[128];
    for (size_t i = 0; i < n && i < 15; i++) {
        ma_registry_info e;
        EXPECT(ma_registry_entry(i, &e) == MA_OK);
        EXPECT(strcmp(e.name, names[i]) == 0);
        EXPECT(e.description[0] != '\0' && e.family[0] != '\0');
        /* Every allocator by name, with every default and with "". */
        expect_create(e.name, NULL, MA_OK, e.name);
        expect_create(e.name, "", MA_OK, e.name);
        /* By each alias. */
        if (*e.aliases) {
            EXPECT(strchr(e.aliases, ',') == NULL); /* one alias each today */
            expect_create(e.aliases, NULL, MA_OK, e.name);
        }
        /* Every option: its default text is its default value, and the
         * range listed is the create function's: min and max are accepted,
         * one beyond is refused (with arena_size at its largest for the
         * options bounded by it). */
        int arena = option_index(i, "arena_size");
        ma_option_info ao;
        if (arena >= 0)
            EXPECT(ma_registry_option(i, (size_t)arena, &ao) == MA_OK);
        for (size_t j = 0; j < e.n_options; j++) {
            ma_option_info o;
            EXPECT(ma_registry_option(i, j, &o) == MA_OK);
            EXPECT(o.description[0] != '\0' && o.min <= o.default_value &&
                   o.default_value <= o.max);
            uint64_t v[16] = {0};
            size_t idx = 99;
            snprintf(text, sizeof text, "%s=%s", o.name, o.default_text);
            EXPECT(ma_registry_parse(e.name, text, &idx, v, 16) == MA_OK &&
                   idx == i && v[j] == o.default_value);
            EXPECT((o.type == MA_OPT_CHOICE) == (o.choices[0] != '\0'));
            if (o.type == MA_OPT_CHOICE) {
                /* Each word, in the order of its value; any other is refused. */
                uint64_t k = 0;
                for (const char *w = o.choices; *w; k++) {
                    size_t len = strcspn(w, ",");
                    snprintf(text, sizeof text, "%s=%.*s", o.name, (int)len, w);
                    EXPECT(ma_registry_parse(e.name, text, &idx, v, 8) == MA_OK &&
                           v[j] == k);
                    expect_create(e.name, text, MA_OK, e.name);
                    w += len + (w[len] == ',');
                }
                EXPECT(k == o.max + 1 && o.min == 0);
                snprintf(text, sizeof text, "%s=%llu", o.name,
                         (unsigned long long)o.default_value);
                expect_create(e.name, text, MA_EINVAL, NULL);
                EXPECT(said(o.name) && said("is not one of: "));
                continue;
            }
            const char *big = arena >= 0 && (int)j != arena ? "arena_size=" : "";
            char prefix[64];
            if (*big)
                snprintf(prefix, sizeof prefix, "arena_size=%llu,",
                         (unsigned long long)ao.max);
            else
                prefix[0] = '\0';
            snprintf(text, sizeof text, "%s%s=%llu", prefix, o.name,
                     (unsigned long long)o.max);
            expect_create(e.name, text, MA_OK, e.name);
            snprintf(text, sizeof text, "%s=%llu", o.name,
                     (unsigned long long)o.min);
            expect_create(e.name, text, MA_OK, e.name);
            if (o.min > 0) {
                snprintf(text, sizeof text, "%s=%llu", o.name,
                         (unsigned long long)(o.min - 1));
                expect_create(e.name, text, MA_EINVAL, NULL);
                EXPECT(said(o.name));
            }
            snprintf(text, sizeof text, "%s%s=%llu", prefix, o.name,
                     (unsigned long long)(o.max + 1));
            expect_create(e.name, text, MA_EINVAL, NULL);
            EXPECT(said(o.name));
        }
        EXPECT(ma_registry_option(i, e.n_options, &ao) == MA_EINVAL);
    }
    ma_registry_info none;
    EXPECT(ma_registry_entry(n, &none) == MA_EINVAL);

    /* The free list's listed defaults are ma_freelist_config_default's. */
    ma_freelist_config d = ma_freelist_config_default();
    uint64_t v[16] = {0};
    size_t fl = 1;
    EXPECT(ma_registry_parse("best-ao", NULL, &fl, v, 16) == MA_OK && fl == 1);
    EXPECT(v[option_index(1, "arena_size")] == d.arena_size);
    EXPECT(v[option_index(1, "growth")] == d.growth);
    EXPECT(v[option_index(1, "prealloc")] == d.prealloc);
    EXPECT(v[option_index(1, "min_block")] == d.min_block);
    EXPECT(v[option_index(1, "trim")] == (uint64_t)d.trim);
    EXPECT(v[option_index(1, "stamp_limit")] == d.stamp_limit);

    /* Values as text: suffixes, and what the options did. */
    ma_allocator *a = NULL;
    EXPECT(ma_create("buddy", "arena_size=64K,min_block=64", &a) == MA_OK);
    EXPECT(ma_arena_size(a) == 65536);
    uint64_t u = 0, p = MA_NULL;
    EXPECT(ma_malloc(a, 1, &p) == MA_OK && ma_usable_size(a, p, &u) == MA_OK &&
           u == 64);
    ma_destroy(a);
    EXPECT(ma_create("first", "arena_size=1g,growth=8192,trim=1,prealloc=1k", &a) == MA_OK);
    EXPECT(strcmp(ma_name(a), "first-ao") == 0 && ma_arena_size(a) == (UINT64_C(1) << 30));
    ma_stats s;
    EXPECT(ma_get_stats(a, &s) == MA_OK && s.heap_size == 1024);
    ma_destroy(a);
    EXPECT(ma_create("worst-fifo", "arena_size=2T", &a) == MA_EINVAL);
    EXPECT(said_exactly("arena_size must be a multiple of 16 from 4096 to "
                        "34359738368, got 2199023255552"));
    ma_status big = ma_create("buddy", "arena_size=1T", &a);
    if (under_valgrind && big == MA_ESYS && said("mmap refused"))
        EXPECT(a == NULL); /* more address space than valgrind gives */
    else
        EXPECT(big == MA_OK && ma_arena_size(a) == (UINT64_C(1) << 40));
    ma_destroy(a);

    /* Every malformed string: MA_EINVAL, nothing created, the exact message. */
    static const struct {
        const char *name, *options, *message;
    } bad[] = {
        {"nope", NULL, "unknown allocator 'nope'; choose one of: buddy, best-ao, "
         "best, best-lifo, best-fifo, first-ao, first, first-lifo, first-fifo, "
         "next-ao, next, next-lifo, next-fifo, worst-ao, worst, worst-lifo, "
         "worst-fifo, zones, tlsf, system"},
        {"", NULL, "unknown allocator ''; choose one of: buddy, best-ao, "
         "best, best-lifo, best-fifo, first-ao, first, first-lifo, first-fifo, "
         "next-ao, next, next-lifo, next-fifo, worst-ao, worst, worst-lifo, "
         "worst-fifo, zones, tlsf, system"},
        {"BUDDY", "", "unknown allocator 'BUDDY'; choose one of: buddy, best-ao, "
         "best, best-lifo, best-fifo, first-ao, first, first-lifo, first-fifo, "
         "next-ao, next, next-lifo, next-fifo, worst-ao, worst, worst-lifo, "
         "worst-fifo, zones, tlsf, system"},
        {"buddy", "growth=4096",
         "unknown option 'growth' for allocator 'buddy' (its options: "
         "arena_size, min_block, scribble, check_every, canary, asan, valgrind)"},
        {"best-ao", "fit=best",
         "unknown option 'fit' for allocator 'best-ao' (its options: "
         "arena_size, growth, prealloc, min_block, trim, scribble, check_every, canary, asan, valgrind)"},
        {"system", "arena_size=1M",
         "unknown option 'arena_size' for allocator 'system' (its options: "
         "scribble, check_every, canary, asan, valgrind)"},
        {"buddy", "Arena_size=1M",
         "unknown option 'Arena_size' for allocator 'buddy' (its options: "
         "arena_size, min_block, scribble, check_every, canary, asan, valgrind)"},
        {"buddy", "arena_size=abc",
         "option arena_size=abc is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size=",
         "option arena_size= is not a size (digits with an optional K, M, G or "
         "T suffix)"},
        {"buddy", "arena_size=1X",
         "option arena_size=1X is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size=1KB",
         "option arena_size=1KB is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size=K",
         "option arena_size=K is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size=-1",
         "option arena_size=-1 is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size= 1M",
         "option arena_size= 1M is not a size (digits with an optional K, M, G "
         "or T suffix)"},
        {"buddy", "arena_size=18446744073709551616",
         "option arena_size=18446744073709551616 is too large (above 2^64 - 1)"},
        {"buddy", "arena_size=16777216T",
         "option arena_size=16777216T is too large (above 2^64 - 1)"},
        {"best-lifo", "stamp_limit=1K",
         "option stamp_limit=1K is not an integer (decimal digits)"},
        {"best-lifo", "trim=2", "option trim=2 is not a boolean (0 or 1)"},
        {"best-lifo", "trim=yes", "option trim=yes is not a boolean (0 or 1)"},
        {"best-lifo", "trim=1,trim=1", "option trim is given twice"},
        {"buddy", "arena_size=1M,min_block=16,arena_size=2M",
         "option arena_size is given twice"},
        {"buddy", "=1M", "options '=1M': an option with no name at character 1"},
        {"buddy", "min_block=16,=1M",
         "options 'min_block=16,=1M': an option with no name at character 14"},
        {"buddy", "arena_size", "option 'arena_size' has no value (write "
         "arena_size=VALUE)"},
        {"buddy", ",", "options ',': an empty option at character 1 (a stray "
         "comma?)"},
        {"buddy", "arena_size=1M,",
         "options 'arena_size=1M,': an empty option at character 15 (a stray "
         "comma?)"},
        {"buddy", ",arena_size=1M",
         "options ',arena_size=1M': an empty option at character 1 (a stray "
         "comma?)"},
        {"buddy", "arena_size=1M,,min_block=16",
         "options 'arena_size=1M,,min_block=16': an empty option at character "
         "15 (a stray comma?)"},
        {"buddy", "arena_size=1000",
         "arena_size must be a power of two from 1024 to 1099511627776, got 1000"},
        {"next", "growth=8",
         "growth must be a multiple of 16 from 16 to arena_size (1073741824), "
         "got 8"},
        {"zones", "classes=Fine", "option classes=Fine is not one of: fine, pow2"},
        {"zones", "classes=", "option classes= is not one of: fine, pow2"},
        {"zones", "classes=0", "option classes=0 is not one of: fine, pow2"},
        {"zones", "classes=pow2,tiny_max=48",
         "with classes=pow2, tiny_max and small_max must be powers of two, "
         "got 48 and 4096"},
        {"zones", "small_max=128",
         "small_max must be a multiple of 16 from 256 to 65536 above tiny_max "
         "(128), got 128"},
        {"zones", "tiny_max=528,small_max=512",
         "small_max must be a multiple of 16 from 256 to 65536 above tiny_max "
         "(528), got 512"},
        {"zones", "arena_size=2M,small_max=64K",
         "arena_size must be a multiple of the page size (4096) from 1048576 to "
         "68719476736, and hold the largest zone (6553600 bytes for small_max "
         "65536), got 2097152"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        a = (ma_allocator *)&v; /* must be overwritten with NULL */
        EXPECT(ma_create(bad[k].name, bad[k].options, &a) == MA_EINVAL && a == NULL);
        EXPECT(said_exactly(bad[k].message));
    }
    EXPECT(ma_create(NULL, NULL, &a) == MA_EINVAL && said_exactly("ma_create: name is NULL"));
    EXPECT(ma_create("buddy", NULL, NULL) == MA_EINVAL && said_exactly("ma_create: out is NULL"));
}

int main(int argc, char **argv)
{
    unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
    under_valgrind = argc > 2 && strcmp(argv[2], "quick") == 0;
    if (under_valgrind) {
        struct rlimit as = {UINT64_C(256) << 30, UINT64_C(256) << 30};
        EXPECT(setrlimit(RLIMIT_AS, &as) == 0);
    }
    test_replay_adopts_every_live_block(); /* first: see there */
    test_buddy_layout();
    test_buddy_corruption_detected();

    ma_allocator *a = NULL;
    EXPECT(ma_buddy_create(1 << 16, 16, &a) == MA_OK);
    fuzz(a, iterations, 4096);
    ma_destroy(a);
    EXPECT(ma_buddy_create(1 << 20, 64, &a) == MA_OK);
    fuzz(a, iterations / 4, 60000);
    ma_destroy(a);

    test_freelist_corruption_detected();
    test_freelist_most_free_blocks();
    test_freelist_deep_bin(MA_FIT_BEST);
    test_freelist_deep_bin(MA_FIT_WORST);
    for (int fit = MA_FIT_BEST; fit <= MA_FIT_WORST; fit++) {
        for (int order = MA_ORDER_ADDRESS; order <= MA_ORDER_FIFO; order++) {
            ma_freelist_config c = ma_freelist_config_default();
            c.arena_size = 1 << 18;
            c.fit = fit;
            c.order = order;
            c.trim = (fit + order) % 2;
            c.stamp_limit = 500;
            EXPECT(ma_freelist_create(&c, &a) == MA_OK);
            fuzz(a, iterations / 8, 4096);
            ma_destroy(a);
        }
    }

    test_zones_corruption_detected();
    for (int mode = MA_ZONES_FINE; mode <= MA_ZONES_POW2; mode++) {
        EXPECT(ma_zones_create(1 << 22, 64, 2048, mode, &a) == MA_OK);
        fuzz(a, iterations / 4, 9000);
        ma_destroy(a);
    }
    test_tlsf_corruption_detected();
    for (unsigned k = 1; k <= 6; k++) {
        ma_tlsf_config tc = ma_tlsf_config_default();
        tc.arena_size = 1 << 18;
        tc.sl_bits = k;
        tc.trim = k % 2;
        tc.prealloc = k % 3 ? 0 : 8192;
        tc.growth = k == 1 ? 16 : 4096;
        EXPECT(ma_tlsf_create(&tc, &a) == MA_OK);
        fuzz(a, iterations / 8, 4096);
        ma_destroy(a);
    }

    test_create_checks_every_parameter();
    test_replay_malformed_changes_nothing();
    test_replay_allocated_at_max_live();
    EXPECT(ma_buddy_create(1 << 16, 16, &a) == MA_OK);
    test_calls_from_own_callbacks_are_refused(a);
    ma_destroy(a);
    ma_freelist_config fc = ma_freelist_config_default();
    fc.arena_size = 1 << 16;
    EXPECT(ma_freelist_create(&fc, &a) == MA_OK);
    test_calls_from_own_callbacks_are_refused(a);
    ma_destroy(a);
    test_fork_handlers();
    test_registry();

    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
