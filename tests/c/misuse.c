/*
 * misuse.c -- a program with the two classic heap bugs, on an allocator of
 * the registry, to show that the debugging switches make the tools people
 * already use report them (tests/test_debug_tools.py runs it):
 *
 *   misuse overflow NAME OPTIONS          writes one byte past a 24-byte block,
 *                                         then frees it
 *   misuse use-after-free NAME OPTIONS    frees a 24-byte block, then reads it
 *
 * Built with -fsanitize=address and run with OPTIONS "asan=1", each bug is
 * an AddressSanitizer report; built without it and run under valgrind with
 * "valgrind=1", a memcheck error; with "canary=1" the free of the
 * overflowed block fails with MA_ECORRUPT (exit status 3).
 */
#include "memalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Out of line, so that the tools' reports name them. */
__attribute__((noinline)) static void write_past(char *p, size_t size)
{
    p[size] = '!';
}

__attribute__((noinline)) static char read_after_free(const char *p)
{
    return p[0];
}

int main(int argc, char **argv)
{
    ma_allocator *a = NULL;
    if (argc != 4 || (strcmp(argv[1], "overflow") && strcmp(argv[1], "use-after-free"))) {
        fprintf(stderr, "usage: misuse overflow|use-after-free NAME OPTIONS\n");
        return 2;
    }
    if (ma_create(argv[2], argv[3], &a) != MA_OK) {
        fprintf(stderr, "misuse: %s\n", ma_thread_error());
        return 2;
    }
    uint64_t addr = MA_NULL, neighbour = MA_NULL;
    if (ma_malloc(a, 24, &addr) != MA_OK || ma_malloc(a, 24, &neighbour) != MA_OK) {
        fprintf(stderr, "misuse: %s\n", ma_thread_error());
        return 2;
    }
    /* Without an arena (system) the address is the pointer. */
    char *p = (char *)((uintptr_t)ma_arena_base(a) + (uintptr_t)addr);
    memset(p, 'x', 24);
    printf("a block of 24 bytes at %p (address 0x%llx)\n", (void *)p,
           (unsigned long long)addr);
    fflush(stdout);
    ma_status st;
    if (strcmp(argv[1], "overflow") == 0) {
        write_past(p, 24);
        st = ma_free(a, addr);
    } else {
        st = ma_free(a, addr);
        printf("read after free: 0x%02x\n", (unsigned char)read_after_free(p));
    }
    if (st != MA_OK) {
        printf("free: %s\n", ma_thread_error());
        ma_destroy(a);
        return 3;
    }
    ma_free(a, neighbour);
    ma_destroy(a);
    return 0;
}
