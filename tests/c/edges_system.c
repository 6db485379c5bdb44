/*
 * edges_system.c -- the "system" allocator's failure paths (csrc/system.c):
 * the C library refusing memory for malloc, memalign and realloc, and the
 * create function's refusals.  Each failure is MA_ENOMEM or MA_EINVAL with
 * its message and leaves the instance usable and consistent.
 */
#include "edges.h"

#include <stdlib.h>

static void test_create_refusals(void)
{
    edges_current = "ma_system_create";
    EXPECT(ma_system_create(NULL) == MA_EINVAL && said("out is NULL"));
    for (long n = 0; n < 4; n++) { /* the instance, then its own tables */
        ma_allocator *a = (ma_allocator *)&n;
        fail_after(n);
        ma_status st = ma_system_create(&a);
        fail_never();
        if (st == MA_OK) {
            EXPECT(n >= 1); /* at least the instance itself is allocated */
            EXPECT(ma_check(a) == MA_OK);
            ma_destroy(a);
            break;
        }
        EXPECT(st == MA_ENOMEM && a == NULL && said("no memory"));
    }
}

static void test_the_library_refusing(void)
{
    ma_allocator *a = make("system", "");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && p != MA_NULL);

    fail_after(0);
    uint64_t r = 7;
    EXPECT(ma_malloc(a, 64, &r) == MA_ENOMEM && said("the C library has no 64 bytes"));
    fail_never();

    /* posix_memalign's refusal (an alignment above malloc's own). */
    fail_after(0);
    EXPECT(ma_memalign(a, 4096, 64, &r) == MA_ENOMEM && said("no 64 bytes"));
    fail_never();
    EXPECT(ma_memalign(a, 4096, 64, &q) == MA_OK && q % 4096 == 0);

    /* realloc's refusal keeps the old block, its bytes and the accounting. */
    EXPECT(ma_write(a, p, 0, "abcdef", 6) == MA_OK);
    fail_after(0);
    uint64_t moved = 7;
    EXPECT(ma_realloc(a, p, 1 << 20, &moved) == MA_ENOMEM && said("no 1048576 bytes"));
    fail_never();
    char back[6];
    EXPECT(ma_read(a, p, 0, back, 6) == MA_OK && memcmp(back, "abcdef", 6) == 0);
    EXPECT(ma_check(a) == MA_OK);

    ma_stats st;
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.live_blocks == 2);
    EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_get_stats(a, &st) == MA_OK && st.live_blocks == 0 && st.allocated_bytes == 0);
    ma_destroy(a);
}

int main(void)
{
    test_create_refusals();
    test_the_library_refusing();
    return edges_report();
}
