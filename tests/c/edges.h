/*
 * edges.h -- the small harness shared by the tests/c/edges_*.c programs,
 * which reach the C core's error and corruption paths one by one (the
 * coverage gate of tests/coverage.sh counts them; tests/test_c_edges.py
 * runs each under AddressSanitizer + UBSan).  Each program includes this
 * header once, calls EXPECT for every property it checks and ends main()
 * with `return edges_report();`, which prints "N passed, M failed".
 *
 * Failure injection: every edge program is linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,--wrap=mmap
 * (tests/test_c_edges.py, tests/coverage.sh), so the core's own calls to
 * those functions come here.  fail_after(n) lets the next n calls through
 * and makes every later one fail (NULL, ENOMEM or MAP_FAILED) until
 * fail_never(); that reaches the "no memory for ..." paths, which must fail
 * cleanly and leave the instance as it was.
 */
#ifndef MEMALLOC_EDGES_H
#define MEMALLOC_EDGES_H

#include "ma_internal.h" /* memalloc.h, and core's record for forge_refused */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

static int edges_failures, edges_passes;
static const char *edges_current = ""; /* what is under test, for messages */

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (cond) {                                                           \
            edges_passes++;                                                   \
        } else {                                                              \
            edges_failures++;                                                 \
            fprintf(stderr, "%s:%d: expected %s (%s; last error: %s)\n",      \
                    __FILE__, __LINE__, #cond, edges_current,                 \
                    ma_thread_error());                                       \
        }                                                                     \
    } while (0)

/* Whether the calling thread's last error message contains `text`. */
static inline int said(const char *text)
{
    return strstr(ma_thread_error(), text) != NULL;
}

/* ma_create(name, options) or a counted failure (NULL). */
static inline ma_allocator *make(const char *name, const char *options)
{
    ma_allocator *a = NULL;
    edges_current = name;
    if (ma_create(name, options, &a) != MA_OK) {
        fprintf(stderr, "ma_create(%s, %s): %s\n", name, options, ma_thread_error());
        edges_failures++;
        return NULL;
    }
    return a;
}

/* The byte at arena address `addr`. */
static inline unsigned char *at(ma_allocator *a, uint64_t addr)
{
    return (unsigned char *)((uintptr_t)ma_arena_base(a) + (uintptr_t)addr);
}

/* ma_malloc(a, size) that must succeed (counted), or MA_NULL. */
static inline uint64_t must(ma_allocator *a, uint64_t size)
{
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, size, &p) == MA_OK);
    return p;
}

/* The 8-byte word at arena offset off, read and written. */
static inline uint64_t rd(ma_allocator *a, uint64_t off)
{
    uint64_t v;
    memcpy(&v, at(a, off), 8);
    return v;
}

static inline void wr(ma_allocator *a, uint64_t off, uint64_t v) { memcpy(at(a, off), &v, 8); }

static inline ma_stats stats_of(ma_allocator *a)
{
    ma_stats st;
    memset(&st, 0, sizeof st);
    EXPECT(ma_get_stats(a, &st) == MA_OK);
    return st;
}

static inline int same_stats(const ma_stats *x, const ma_stats *y)
{
    return memcmp(x, y, sizeof *x) == 0;
}

/* ma_check must report corruption with these words in its message. */
static inline void expect_check(ma_allocator *a, const char *words)
{
    ma_status st = ma_check(a);
    EXPECT(st == MA_ECORRUPT && said(words));
    if (st != MA_ECORRUPT || !said(words))
        fprintf(stderr, "  wanted \"%s\"\n", words);
}

/* addr forged into core's record of live allocations where the allocator
 * holds no allocated block: free, usable_size and realloc must refuse it
 * (the allocator checks its own tables; free's message has `words`), and
 * with the entry taken out again the heap checks clean. */
static inline void forge_refused(ma_allocator *a, uint64_t addr, const char *words)
{
    uint64_t r = 0;
    EXPECT(ma_livetab_reserve(&a->live, 1) == MA_OK);
    ma_livetab_put(&a->live, addr, 1);
    EXPECT(ma_free(a, addr) == MA_ECORRUPT && said(words));
    EXPECT(ma_usable_size(a, addr, &r) == MA_ECORRUPT);
    EXPECT(ma_realloc(a, addr, 10, &r) == MA_ECORRUPT);
    ma_livetab_remove(&a->live, ma_live_find(&a->live, addr));
    EXPECT(ma_check(a) == MA_OK);
}

/* Set one field, expect check to name it, put it back, expect check OK. */
#define BREAK(a, field, value, words)                                         \
    do {                                                                      \
        __typeof__(field) old_ = (field);                                     \
        (field) = (value);                                                    \
        expect_check((a), (words));                                           \
        (field) = old_;                                                       \
        EXPECT(ma_check(a) == MA_OK);                                         \
    } while (0)

/* Calls still allowed before injected failures begin (-1: no failures). */
static long edges_allowed = -1;

static inline void fail_after(long n) { edges_allowed = n; }
static inline void fail_never(void) { edges_allowed = -1; }

static int edges_injected(void)
{
    if (edges_allowed < 0)
        return 0;
    if (edges_allowed > 0) {
        edges_allowed--;
        return 0;
    }
    return 1;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t count, size_t n);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t alignment, size_t n);
void *__real_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t count, size_t n);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t alignment, size_t n);
void *__wrap_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off);

void *__wrap_malloc(size_t n) { return edges_injected() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t count, size_t n)
{
    return edges_injected() ? NULL : __real_calloc(count, n);
}
void *__wrap_realloc(void *p, size_t n) { return edges_injected() ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t alignment, size_t n)
{
    return edges_injected() ? ENOMEM : __real_posix_memalign(p, alignment, n);
}
void *__wrap_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off)
{
    if (edges_injected()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, n, prot, flags, fd, off);
}

static inline int edges_report(void)
{
    printf("%d passed, %d failed\n", edges_passes, edges_failures);
    return edges_failures || edges_passes == 0 ? 1 : 0;
}

#endif
