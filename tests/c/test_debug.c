/*
 * test_debug.c -- the debugging switches (csrc/debug.c) one by one, on
 * every allocator of the registry: scribble, check_every, canary, and asan
 * (when built with AddressSanitizer: the poison itself is read back with
 * __asan_address_is_poisoned) or its refusal (without), valgrind's
 * acceptance, the replay's refusal and the options' listing.
 *
 * Usage: test_debug   (exit status 0 when every test passes;
 * tests/test_debug_switches.py builds and runs it with and without ASan)
 */
#include "memalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WITH_ASAN 1
#endif
#endif
#ifdef WITH_ASAN
#include <sanitizer/asan_interface.h>
#endif

static int failures, passes;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (cond) {                                                           \
            passes++;                                                         \
        } else {                                                              \
            failures++;                                                       \
            fprintf(stderr, "%s:%d: expected %s (%s: %s)\n", __FILE__,        \
                    __LINE__, #cond, current, ma_thread_error());             \
        }                                                                     \
    } while (0)

static const char *current = ""; /* the allocator under test, for messages */

static int said(const char *text)
{
    return strstr(ma_thread_error(), text) != NULL;
}

static ma_allocator *make(const char *name, const char *options)
{
    ma_allocator *a = NULL;
    current = name;
    if (ma_create(name, options, &a) != MA_OK) {
        fprintf(stderr, "ma_create(%s, %s): %s\n", name, options, ma_thread_error());
        failures++;
        return NULL;
    }
    return a;
}

static unsigned char *at(ma_allocator *a, uint64_t addr)
{
    return (unsigned char *)((uintptr_t)ma_arena_base(a) + (uintptr_t)addr);
}

static uint64_t must_malloc(ma_allocator *a, uint64_t size)
{
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, size, &p) == MA_OK && p != MA_NULL);
    return p;
}

static int all(const unsigned char *p, uint64_t n, unsigned char v)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static uint64_t count(const unsigned char *p, uint64_t n, unsigned char v)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++)
        k += p[i] == v;
    return k;
}

static void test_scribble(const char *name)
{
    ma_allocator *a = make(name, "scribble=1");
    if (!a)
        return;
    int arena = ma_arena_base(a) != NULL;
    uint64_t left = must_malloc(a, 64), p = must_malloc(a, 200), right = must_malloc(a, 64);
    EXPECT(all(at(a, p), 200, 0xaa)); /* fresh: 0xaa over the request */
    uint64_t usable = 0;
    EXPECT(ma_usable_size(a, p, &usable) == MA_OK && usable >= 200);
    memset(at(a, p), 0x11, (size_t)usable);
    EXPECT(ma_free(a, p) == MA_OK);
    if (arena) { /* the C library's freed memory is not ours to read */
        /* 0x55 over the block, but for the allocator's own free-block
         * metadata (at most 64 bytes here); none of the old contents. */
        EXPECT(count(at(a, p), 200, 0x11) == 0);
        EXPECT(count(at(a, p), 200, 0x55) >= 200 - 64);
    }
    uint64_t z = MA_NULL;
    EXPECT(ma_calloc(a, 10, 10, &z) == MA_OK && all(at(a, z), 100, 0)); /* still zero */
    /* realloc: the kept bytes kept, the grown part fresh */
    uint64_t q = must_malloc(a, 40), moved = MA_NULL;
    memset(at(a, q), 0x22, 40);
    EXPECT(ma_realloc(a, q, 4000, &moved) == MA_OK);
    EXPECT(all(at(a, moved), 40, 0x22) && all(at(a, moved) + 40, 4000 - 40, 0xaa));
    if (arena && moved != q) /* moved: the old block was scribbled too */
        EXPECT(count(at(a, q), 40, 0x22) == 0);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, left) == MA_OK && ma_free(a, right) == MA_OK &&
           ma_free(a, moved) == MA_OK && ma_free(a, z) == MA_OK);
    ma_destroy(a);
}

static void test_canary(const char *name)
{
    ma_allocator *a = make(name, "canary=1");
    if (!a)
        return;
    uint64_t p = must_malloc(a, 24), other = must_malloc(a, 24), u = 0;
    EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == 24); /* the request */
    EXPECT(ma_write(a, p, 24, "x", 1) == MA_ERANGE);
    EXPECT(ma_check(a) == MA_OK);
    unsigned char *byte = at(a, p) + 24, saved = *byte;
    *byte = 0; /* a write past the end, as strcpy's NUL */
    char want[128];
    snprintf(want, sizeof want, "the canary after the block at 0x%llx (24 bytes "
             "requested) is overwritten at byte 24", (unsigned long long)p);
    EXPECT(ma_check(a) == MA_ECORRUPT && said(want));
    EXPECT(ma_free(a, p) == MA_ECORRUPT && said("free: ") && said(want));
    uint64_t moved = 0;
    EXPECT(ma_realloc(a, p, 100, &moved) == MA_ECORRUPT && said("realloc: ") && said(want));
    ma_stats s;
    EXPECT(ma_get_stats(a, &s) == MA_OK && s.live_blocks == 2 && s.frees == 0); /* nothing done */
    *byte = saved;
    EXPECT(ma_check(a) == MA_OK);
    /* realloc keeps a canary behind the new request */
    EXPECT(ma_realloc(a, p, 100, &moved) == MA_OK);
    at(a, moved)[100] ^= 1;
    EXPECT(ma_check(a) == MA_ECORRUPT && said("(100 bytes requested) is overwritten at byte 100"));
    at(a, moved)[100] ^= 1;
    EXPECT(ma_free(a, moved) == MA_OK && ma_free(a, other) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

static void test_check_every(const char *name)
{
    /* The canary is the corruption every allocator can be given. */
    ma_allocator *a = make(name, "check_every=3,canary=1");
    if (!a)
        return;
    uint64_t p = must_malloc(a, 8), q = MA_NULL;      /* operation 1 */
    at(a, p)[8] ^= 0xff;
    EXPECT(ma_malloc(a, 8, &q) == MA_OK);             /* 2: no check */
    ma_stats before, after;
    EXPECT(ma_get_stats(a, &before) == MA_OK);
    uint64_t r = 7;
    EXPECT(ma_malloc(a, 8, &r) == MA_ECORRUPT && r == MA_NULL); /* 3: checked */
    EXPECT(said("check_every: allocation refused, nothing done: check: the canary after the block at"));
    EXPECT(ma_get_stats(a, &after) == MA_OK && after.mallocs == before.mallocs &&
           after.live_blocks == 2 && after.failures == 0);
    EXPECT(ma_free(a, q) == MA_OK);                   /* 4 */
    EXPECT(ma_malloc(a, 8, &q) == MA_OK);             /* 5 */
    EXPECT(ma_free(a, q) == MA_ECORRUPT && said("check_every: free refused")); /* 6 */
    at(a, p)[8] ^= 0xff;
    EXPECT(ma_free(a, q) == MA_OK && ma_free(a, p) == MA_OK); /* 7, 8 */
    EXPECT(ma_reset(a) == MA_OK);                     /* a reset starts over */
    p = must_malloc(a, 8);
    at(a, p)[8] ^= 0xff;
    EXPECT(ma_malloc(a, 8, &q) == MA_OK);
    EXPECT(ma_realloc(a, q, 16, &r) == MA_ECORRUPT && said("check_every: realloc refused"));
    ma_destroy(a);

    a = make(name, "check_every=1,canary=1");
    if (!a)
        return;
    p = must_malloc(a, 8);
    at(a, p)[9] ^= 0xff;
    EXPECT(ma_malloc(a, 8, &q) == MA_ECORRUPT);
    ma_destroy(a);
}

#ifdef WITH_ASAN
static void test_asan(const char *name)
{
    ma_allocator *a = make(name, "asan=1");
    if (!a)
        return;
    uint64_t p = must_malloc(a, 24), q = must_malloc(a, 100), u = 0;
    unsigned char *pp = at(a, p);
    if (ma_arena_base(a) == NULL) { /* system: the C library's blocks, ASan's own */
        EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK);
        ma_destroy(a);
        return;
    }
    EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == 24);
    EXPECT(!__asan_address_is_poisoned(pp) && !__asan_address_is_poisoned(pp + 23));
    EXPECT(__asan_address_is_poisoned(pp + 24)); /* the red zone */
    EXPECT(__asan_region_is_poisoned(at(a, q), 100) == NULL && __asan_address_is_poisoned(at(a, q) + 100));
    EXPECT(ma_free(a, p) == MA_OK);
    EXPECT(__asan_address_is_poisoned(pp) && __asan_address_is_poisoned(pp + 16)); /* freed */
    uint64_t r = MA_NULL;
    EXPECT(ma_realloc(a, q, 3000, &r) == MA_OK);
    EXPECT(__asan_region_is_poisoned(at(a, r), 3000) == NULL && __asan_address_is_poisoned(at(a, r) + 3000));
    EXPECT(ma_memalign(a, 256, 10, &q) == MA_OK && q % 256 == 0 &&
           __asan_region_is_poisoned(at(a, q), 10) == NULL && __asan_address_is_poisoned(at(a, q) + 10));
    EXPECT(ma_calloc(a, 3, 5, &p) == MA_OK && all(at(a, p), 15, 0) && __asan_address_is_poisoned(at(a, p) + 15));
    ma_block blocks[64];
    uint64_t n = 0;
    EXPECT(ma_blocks(a, blocks, 64, &n) == MA_OK && ma_check(a) == MA_OK);
    EXPECT(__asan_address_is_poisoned(at(a, p) + 15)); /* the walk put it back */
    EXPECT(ma_reset(a) == MA_OK && __asan_address_is_poisoned(at(a, r)));
    ma_destroy(a);
}
#endif

static void test_tools_and_replay(const char *name)
{
    ma_allocator *a = NULL;
    current = name;
#ifndef WITH_ASAN
    EXPECT(ma_create(name, "asan=1", &a) == MA_EINVAL && a == NULL &&
           said("asan=1 needs a build with AddressSanitizer"));
#endif
    ma_status st = ma_create(name, "valgrind=1", &a);
    if (st == MA_OK) { /* built with valgrind's header: works, a no-op off valgrind */
        uint64_t p = must_malloc(a, 24), u = 0;
        EXPECT(ma_usable_size(a, p, &u) == MA_OK && u == 24 && ma_free(a, p) == MA_OK);
        ma_destroy(a);
    } else {
        EXPECT(st == MA_EINVAL && said("valgrind=1 needs a build with valgrind's header"));
    }
    static const uint8_t op[] = {MA_EV_MALLOC, MA_EV_FREE};
    static const uint32_t id[] = {0, 0};
    static const uint64_t size[] = {10, 0}, arg[] = {0, 0};
    ma_trace_view t = {2, op, id, size, arg, 1};
    ma_replay_result r;
    a = make(name, "scribble=1");
    if (a) {
        EXPECT(ma_replay_bare(a, &t, 1, &r) == MA_EINVAL &&
               said("replay does not go through the debugging switches"));
        ma_destroy(a);
    }
    a = make(name, "check_every=0");
    if (a) { /* every switch off: replays as ever */
        EXPECT(ma_replay_bare(a, &t, 1, &r) == MA_OK && r.events == 2);
        ma_destroy(a);
    }
}

static void test_listing(size_t i)
{
    static const char *const names[] = {"scribble", "check_every", "canary", "asan", "valgrind"};
    ma_registry_info e;
    EXPECT(ma_registry_entry(i, &e) == MA_OK && e.n_options >= 5);
    for (size_t k = 0; k < 5; k++) {
        ma_option_info o;
        EXPECT(ma_registry_option(i, e.n_options - 5 + k, &o) == MA_OK &&
               strcmp(o.name, names[k]) == 0 && o.debug == 1 && o.default_value == 0);
    }
    for (size_t j = 0; j + 5 < e.n_options; j++) {
        ma_option_info o;
        EXPECT(ma_registry_option(i, j, &o) == MA_OK && o.debug == 0);
    }
}

/* Two corners the rest of the suites leave to the Python side: every
 * status's sentence, and the libc replay's whole path. */
static void test_messages_and_libc_replay(void)
{
    current = "core";
    for (int s = MA_OK; s <= MA_EBUSY; s++)
        EXPECT(strlen(ma_status_message((ma_status)s)) > 5);
    EXPECT(strcmp(ma_status_message((ma_status)99), "unknown status") == 0);
    static const uint8_t op[] = {MA_EV_MALLOC, MA_EV_CALLOC, MA_EV_MEMALIGN,
                                 MA_EV_REALLOC, MA_EV_FREE, MA_EV_REALLOC,
                                 MA_EV_FREE, MA_EV_REALLOC, MA_EV_FREE};
    static const uint32_t id[] = {0, 1, 2, 0, 1, 2, 0, 3, 3};
    static const uint64_t size[] = {10, 8, 100, 5000, 0, 0, 0, 64, 0};
    static const uint64_t arg[] = {0, 3, 64, 0, 0, 0, 0, 0, 0};
    ma_trace_view t = {9, op, id, size, arg, 4};
    ma_replay_result r;
    EXPECT(ma_replay_libc(&t, 2, &r) == MA_OK && r.events == 9 && r.failures == 0);
    ma_trace_view bad = {1, op, id, size, arg, 0}; /* id 0 is not below n_ids */
    EXPECT(ma_replay_libc(&bad, 1, &r) == MA_EINVAL);
}

int main(void)
{
    test_messages_and_libc_replay();
    for (size_t i = 0; i < ma_registry_count(); i++) {
        ma_registry_info e;
        if (ma_registry_entry(i, &e) != MA_OK)
            return 1;
        test_listing(i);
        test_scribble(e.name);
        test_canary(e.name);
        test_check_every(e.name);
#ifdef WITH_ASAN
        test_asan(e.name);
#endif
        test_tools_and_replay(e.name);
    }
    printf("%d passed, %d failed\n", passes, failures);
    return failures ? 1 : 0;
}
