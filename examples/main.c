/*
 * main.c -- the lecture notes' `main`, for real: load the allocator library
 * given on the command line with dlopen, look its functions up with dlsym,
 * and run one algorithm chosen at run time.
 *
 *     make -C csrc && cc -Icsrc -o main examples/main.c -ldl
 *     ./main csrc/libmemalloc.so buddy
 *
 *     cc -I"$(memalloc paths include)" -o main examples/main.c -ldl
 *     ./main "$(memalloc paths library)" best-ao arena_size=64K
 *
 * The notes build `liballocator.so` from list.c (the best-fit free list) and
 * twins.c (the buddy system) and load it from `main`; here the library holds
 * every allocator of the registry and the second argument names one
 * (`memalloc list` shows them), the third its options.  The program makes
 * the notes' moves: blocks of several sizes, a free that makes a hole, a
 * request that reuses it, frees that merge the neighbours (buddies) back,
 * and prints each address (an offset into the arena: the same in every run),
 * then the statistics, a full check of the heap and the dlclose.
 *
 * Exit status: 0, or 1 with a message (a bad argument, a missing symbol, an
 * allocator error).  memalloc.h gives the types; the program is not linked
 * with the library, it finds every function by name at run time.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memalloc.h"

typedef ma_allocator allocator;
typedef ma_stats stats;

/* The library's functions, looked up by name. */
static struct {
    ma_status (*create)(const char *name, const char *options, allocator **out);
    ma_status (*malloc_)(allocator *a, uint64_t size, uint64_t *addr);
    ma_status (*free_)(allocator *a, uint64_t addr);
    ma_status (*write)(allocator *a, uint64_t addr, uint64_t off, const void *src, uint64_t n);
    ma_status (*read)(allocator *a, uint64_t addr, uint64_t off, void *dst, uint64_t n);
    ma_status (*get_stats)(allocator *a, stats *out);
    ma_status (*check)(allocator *a);
    void (*destroy)(allocator *a);
    const char *(*thread_error)(void);
    const char *(*name)(const allocator *a);
} lib;

static void *handle;

/* dlsym gives a data pointer; POSIX guarantees it converts to a function
 * pointer, which ISO C does not say: copy the bytes. */
static int look_up(void *fn_ptr, size_t size, const char *symbol)
{
    dlerror();
    void *p = dlsym(handle, symbol);
    const char *err = dlerror();
    if (err || !p) {
        fprintf(stderr, "main: %s: %s\n", symbol, err ? err : "not found");
        return 1;
    }
    memcpy(fn_ptr, &p, size);
    return 0;
}

#define LOOK_UP(field, symbol) look_up(&lib.field, sizeof lib.field, symbol)

static int failed(const char *what)
{
    fprintf(stderr, "main: %s: %s\n", what, lib.thread_error());
    return 1;
}

/* malloc `size` bytes and write `text` into them; print the address. */
static int put(allocator *a, const char *label, uint64_t size, const char *text,
               uint64_t *addr)
{
    if (lib.malloc_(a, size, addr) != MA_OK)
        return failed("malloc");
    if (lib.write(a, *addr, 0, text, strlen(text) + 1) != MA_OK)
        return failed("write");
    printf("malloc(%4llu) %-2s at %6llu  \"%s\"\n", (unsigned long long)size, label,
           (unsigned long long)*addr, text);
    return 0;
}

static int drop(allocator *a, const char *label, uint64_t addr)
{
    char back[32] = "";
    if (lib.read(a, addr, 0, back, sizeof back - 1) != MA_OK)
        return failed("read");
    if (lib.free_(a, addr) != MA_OK)
        return failed("free");
    printf("free  %-2s    at %6llu  (held \"%s\")\n", label, (unsigned long long)addr, back);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s LIBRARY ALLOCATOR [OPTIONS]\n"
                "  e.g. %s ./libmemalloc.so buddy arena_size=64K\n", argv[0], argv[0]);
        return 1;
    }
    handle = dlopen(argv[1], RTLD_NOW);
    if (!handle) {
        fprintf(stderr, "main: %s\n", dlerror());
        return 1;
    }
    if (LOOK_UP(create, "ma_create") || LOOK_UP(malloc_, "ma_malloc") ||
        LOOK_UP(free_, "ma_free") || LOOK_UP(write, "ma_write") ||
        LOOK_UP(read, "ma_read") || LOOK_UP(get_stats, "ma_get_stats") ||
        LOOK_UP(check, "ma_check") || LOOK_UP(destroy, "ma_destroy") ||
        LOOK_UP(thread_error, "ma_thread_error") || LOOK_UP(name, "ma_name"))
        return 1;

    const char *options = argc == 4 ? argv[3] : "arena_size=64K";
    allocator *a = NULL;
    if (lib.create(argv[2], options, &a) != MA_OK)
        return failed("ma_create");
    printf("%s (%s) from %s\n", lib.name(a), options, argv[1]);

    uint64_t p, q, r, s, t;
    if (put(a, "p", 100, "one hundred", &p) || put(a, "q", 200, "two hundred", &q) ||
        put(a, "r", 50, "fifty", &r) || put(a, "s", 1000, "one thousand", &s))
        return 1;
    if (drop(a, "q", q))  /* a hole between p and r */
        return 1;
    if (put(a, "t", 150, "reuses the hole", &t))
        return 1;
    if (drop(a, "p", p) || drop(a, "t", t) || drop(a, "r", r))
        return 1;

    stats st;
    if (lib.get_stats(a, &st) != MA_OK)
        return failed("ma_get_stats");
    printf("live %llu block(s), %llu bytes requested, %llu allocated; heap %llu, "
           "%llu free in %llu block(s), largest %llu\n",
           (unsigned long long)st.live_blocks, (unsigned long long)st.requested_bytes,
           (unsigned long long)st.allocated_bytes, (unsigned long long)st.heap_size,
           (unsigned long long)st.free_bytes, (unsigned long long)st.free_blocks,
           (unsigned long long)st.largest_free);
    if (lib.check(a) != MA_OK)
        return failed("ma_check");
    printf("check: the heap is consistent\n");
    if (drop(a, "s", s))
        return 1;
    lib.destroy(a);
    if (dlclose(handle) != 0) {
        fprintf(stderr, "main: dlclose: %s\n", dlerror());
        return 1;
    }
    return 0;
}
