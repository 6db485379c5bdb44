/*
 * fuzz_core.c -- a libFuzzer harness over ma_create and the C interface,
 * for every allocator of the registry (tests/fuzz/README.md runs it).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc csrc/[a-z]*.c \
 *         tests/fuzz/fuzz_core.c -o fuzz_core -lpthread
 *
 * The input's first four bytes choose the allocator and its options:
 *   [0] the registry entry (modulo ma_registry_count(); the environment
 *       variable MA_FUZZ_ALLOCATOR=name pins it instead, for a run per
 *       allocator, and MA_FUZZ_LIST=1 prints the names and exits), taken
 *       from the registry, so an entry added to it is fuzzed without a
 *       change here;
 *   [1] arena_size, when the entry has it: its minimum times 1, 4, 16 or 64
 *       (at most 64 KiB), so that the arena runs out and the checks after
 *       every operation stay quick;
 *   [2] the debugging switches: bit 0 scribble, 1 canary, 2 check_every
 *       (every 1 + bits 5-6 operations), 3 asan (when this build takes it);
 *   [3] bit j: the entry's own option j (not arena_size) at a value other
 *       than its default: 1 for a boolean, 4 times the minimum (or 64) for
 *       a size, 64 for an integer; when the allocator refuses that
 *       combination its own options stay at their defaults.
 * The rest is a sequence of operations, each an opcode byte and argument
 * bytes: malloc, calloc, realloc, memalign, free, frees and reallocs of
 * addresses that are not live (inside a block, freed, wild), reset,
 * bounded writes at the end of a block, with sizes small, around powers of
 * two, around the arena size and huge (2^62 and past it).
 *
 * After every operation: the status is one the interface allows for it;
 * ma_check passes; the statistics agree with the harness's own record
 * (live blocks, requested bytes); every live block is aligned, lies apart
 * from the others and still holds its fill pattern over its whole usable
 * size.  Any difference aborts with a message: a finding.
 *
 * The harness's globals (the pinned entry) are its own: the library keeps
 * none.
 */
#include "memalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 48
#define ARENA_MAX (UINT64_C(1) << 16)

typedef struct slot {
    uint64_t addr; /* MA_NULL: empty */
    uint64_t size, usable;
    unsigned char fill;
} slot;

typedef struct run {
    ma_allocator *a;
    unsigned char *base;
    uint64_t arena;      /* 0: no arena_size option */
    int has_arena;
    slot s[SLOTS];
    uint64_t freed[8];   /* recently freed addresses, for double frees */
    unsigned nfreed;
    unsigned char next_fill;
    const unsigned char *in;
    size_t len, pos;
} run;

static long pinned = -1;

const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (getenv("MA_FUZZ_LIST")) { /* the names, for a run per allocator */
        for (size_t i = 0; i < ma_registry_count(); i++) {
            ma_registry_info e;
            if (ma_registry_entry(i, &e) == MA_OK)
                printf("%s\n", e.name);
        }
        exit(0);
    }
    const char *want = getenv("MA_FUZZ_ALLOCATOR");
    if (!want || !*want)
        return 0;
    for (size_t i = 0; i < ma_registry_count(); i++) {
        ma_registry_info e;
        if (ma_registry_entry(i, &e) == MA_OK && strcmp(e.name, want) == 0)
            pinned = (long)i;
    }
    if (pinned < 0) {
        fprintf(stderr, "MA_FUZZ_ALLOCATOR=%s: no such allocator\n", want);
        exit(2);
    }
    return 0;
}

static void fail(const run *r, const char *what, const char *detail)
{
    fprintf(stderr, "FINDING in %s: %s%s%s\n", ma_name(r->a), what,
            detail ? ": " : "", detail ? detail : "");
    abort();
}

static unsigned byte(run *r)
{
    return r->pos < r->len ? r->in[r->pos++] : 0;
}

/* A size: small, around a power of two, around the arena, or huge. */
static uint64_t size_arg(run *r)
{
    unsigned kind = byte(r), b = byte(r);
    switch (kind % 4) {
    case 0:
        return b % 64;
    case 1: {
        uint64_t p = UINT64_C(1) << (b % 17);
        return p - 1 + (b / 17) % 3;
    }
    case 2:
        if (r->has_arena) {
            uint64_t d = (uint64_t)(b % 8) * 8;
            return (b & 0x80) ? r->arena / 2 + d : (r->arena > d ? r->arena - d : 0);
        }
        return 100 + b;
    default: {
        /* Past MA_MAX_REQUEST (2^62) every interface refuses; 2^62 - 1 and
         * 2^62 reach the allocator, which must say out of memory (not for
         * the C library's malloc, whose answer is its own). */
        static const uint64_t huge[] = {UINT64_MAX, UINT64_C(1) << 63,
                                        (UINT64_C(1) << 62) + 1,
                                        UINT64_MAX - 15,
                                        (UINT64_C(1) << 62) - 1,
                                        UINT64_C(1) << 62};
        return huge[b % (r->has_arena ? 6u : 4u)];
    }
    }
}

static slot *pick(run *r)
{
    return &r->s[byte(r) % SLOTS];
}

static unsigned char *ptr(const run *r, uint64_t addr)
{
    /* Without an arena (base NULL) the address is the pointer. */
    return (unsigned char *)((uintptr_t)r->base + (uintptr_t)addr);
}

static void expect(run *r, int ok, const char *what)
{
    if (!ok)
        fail(r, what, ma_thread_error());
}

static void remember_freed(run *r, uint64_t addr)
{
    r->freed[r->nfreed++ % 8] = addr;
}

static int is_live(const run *r, uint64_t addr)
{
    for (int i = 0; i < SLOTS; i++)
        if (r->s[i].addr != MA_NULL && r->s[i].addr == addr)
            return 1;
    return 0;
}

/* Record a new block, fill it, and say whether it meets its alignment. */
static void took(run *r, slot *sl, uint64_t addr, uint64_t size, uint64_t align)
{
    uint64_t usable = 0;
    expect(r, ma_usable_size(r->a, addr, &usable) == MA_OK, "usable_size of a new block");
    if (usable < size)
        fail(r, "usable size below the request", NULL);
    if (addr % (align < 16 ? 16 : align) != 0)
        fail(r, "misaligned address", NULL);
    sl->addr = addr;
    sl->size = size;
    sl->usable = usable;
    sl->fill = (unsigned char)(++r->next_fill | 1);
    memset(ptr(r, addr), sl->fill, (size_t)usable);
}

static void release(run *r, slot *sl)
{
    if (sl->addr == MA_NULL)
        return;
    expect(r, ma_free(r->a, sl->addr) == MA_OK, "free of a live block");
    remember_freed(r, sl->addr);
    sl->addr = MA_NULL;
}

static void op_alloc(run *r, unsigned kind)
{
    slot *sl = pick(r);
    release(r, sl);
    uint64_t addr = MA_NULL, align = 16, size, count = 1;
    ma_status st;
    if (kind == 1) { /* calloc */
        count = byte(r) % 16;
        size = size_arg(r);
        st = ma_calloc(r->a, count, size, &addr);
        if (st == MA_OK) {
            for (uint64_t i = 0; i < count * size; i++)
                if (ptr(r, addr)[i] != 0)
                    fail(r, "calloc's block is not zeroed", NULL);
            size *= count;
        }
    } else if (kind == 3) { /* memalign */
        unsigned b = byte(r);
        align = b >= 250 ? UINT64_C(1) << 62 : UINT64_C(1) << (b % (r->has_arena ? 41 : 21));
        size = size_arg(r);
        st = ma_memalign(r->a, align, size, &addr);
    } else {
        size = size_arg(r);
        st = ma_malloc(r->a, size, &addr);
    }
    if (st == MA_ENOMEM) {
        if (addr != MA_NULL)
            fail(r, "out of memory with an address", NULL);
        return;
    }
    expect(r, st == MA_OK, "allocation: a status other than OK or ENOMEM");
    if (size > (UINT64_C(1) << 62))
        fail(r, "a block larger than 2^62 bytes", NULL);
    took(r, sl, addr, size, align);
}

static void op_realloc(run *r)
{
    slot *sl = pick(r);
    uint64_t size = size_arg(r), out = 0;
    ma_status st = ma_realloc(r->a, sl->addr, size, &out);
    if (st == MA_ENOMEM) {
        expect(r, out == MA_NULL, "realloc out of memory with an address");
        return; /* the old block stays, with its contents (verified later) */
    }
    expect(r, st == MA_OK, "realloc: a status other than OK or ENOMEM");
    if (sl->addr != MA_NULL && size == 0) {
        expect(r, out == MA_NULL, "realloc(p, 0) returned an address");
        remember_freed(r, sl->addr);
        sl->addr = MA_NULL;
        return;
    }
    if (sl->addr != MA_NULL) {
        uint64_t keep = sl->size < size ? sl->size : size;
        for (uint64_t i = 0; i < keep; i++)
            if (ptr(r, out)[i] != sl->fill)
                fail(r, "realloc lost the block's contents", NULL);
        if (out != sl->addr)
            remember_freed(r, sl->addr);
    }
    took(r, sl, out, size, 16);
}

/* Frees and reallocs of what is not a live block: MA_EADDR, nothing changed
 * (the checks after the operation see to that). */
static void op_invalid(run *r)
{
    unsigned how = byte(r);
    slot *sl = pick(r);
    uint64_t addr;
    switch (how % 4) {
    case 0:
        if (sl->addr == MA_NULL || sl->usable < 2)
            return;
        addr = sl->addr + 1 + byte(r) % (sl->usable - 1); /* inside it */
        break;
    case 1:
        addr = r->freed[byte(r) % 8]; /* freed, perhaps given out again */
        if (addr == 0 && r->nfreed == 0)
            return;
        break;
    case 2:
        addr = ((uint64_t)byte(r) << 4) | byte(r); /* a small wild address */
        break;
    default:
        addr = UINT64_MAX - 1 - byte(r); /* a huge one */
        break;
    }
    if (is_live(r, addr) || addr == MA_NULL)
        return;
    uint64_t out = 0, u = 0;
    ma_status st = (how & 4) ? ma_realloc(r->a, addr, 16, &out)
                   : (how & 8) ? ma_usable_size(r->a, addr, &u)
                               : ma_free(r->a, addr);
    expect(r, st == MA_EADDR, "an address that is not live was not MA_EADDR");
}

static void op_edges(run *r)
{
    slot *sl = pick(r);
    if (sl->addr == MA_NULL)
        return;
    unsigned char b = sl->fill, got = 0;
    if (sl->usable) {
        expect(r, ma_write(r->a, sl->addr, sl->usable - 1, &b, 1) == MA_OK, "write of the last byte");
        expect(r, ma_read(r->a, sl->addr, sl->usable - 1, &got, 1) == MA_OK && got == b,
               "read of the last byte");
    }
    expect(r, ma_write(r->a, sl->addr, sl->usable, &b, 1) == MA_ERANGE, "write past the end");
    expect(r, ma_read(r->a, sl->addr, 0, &got, sl->usable + 1) == MA_ERANGE, "read past the end");
}

static void verify(run *r)
{
    ma_status st = ma_check(r->a);
    if (st != MA_OK)
        fail(r, "ma_check", ma_last_error(r->a));
    ma_stats s;
    expect(r, ma_get_stats(r->a, &s) == MA_OK, "stats");
    uint64_t live = 0, requested = 0;
    for (int i = 0; i < SLOTS; i++) {
        const slot *x = &r->s[i];
        if (x->addr == MA_NULL)
            continue;
        live++;
        requested += x->size;
        const unsigned char *p = ptr(r, x->addr);
        uint64_t k = 0, word = x->fill * UINT64_C(0x0101010101010101), w;
        for (; k + 8 <= x->usable; k += 8) {
            memcpy(&w, p + k, 8);
            if (w != word)
                fail(r, "a live block's contents changed", NULL);
        }
        for (; k < x->usable; k++)
            if (p[k] != x->fill)
                fail(r, "a live block's contents changed", NULL);
        for (int j = i + 1; j < SLOTS; j++) {
            const slot *y = &r->s[j];
            if (y->addr != MA_NULL && x->addr < y->addr + y->usable &&
                y->addr < x->addr + x->usable)
                fail(r, "two live blocks overlap", NULL);
        }
    }
    if (s.live_blocks != live || s.requested_bytes != requested)
        fail(r, "statistics disagree with the live blocks", NULL);
}

/* Option values from the input's head: the options text for ma_create. */
static void options_text(run *r, size_t entry, const ma_registry_info *e,
                         unsigned arena_pick, unsigned dbg, unsigned own,
                         int with_own, char *text, size_t cap)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t j = 0; j < e->n_options; j++) {
        ma_option_info o;
        if (ma_registry_option(entry, j, &o) != MA_OK)
            continue;
        uint64_t v;
        if (strcmp(o.name, "arena_size") == 0) {
            v = o.min << (2 * (arena_pick % 4));
            v = v > ARENA_MAX ? ARENA_MAX : v;
            v = v < o.min ? o.min : v;
            r->arena = v;
            r->has_arena = 1;
        } else if (o.debug) {
            if (strcmp(o.name, "scribble") == 0) v = dbg & 1;
            else if (strcmp(o.name, "canary") == 0) v = (dbg >> 1) & 1;
            else if (strcmp(o.name, "check_every") == 0) v = (dbg & 4) ? 1 + ((dbg >> 5) & 3) : 0;
            else if (strcmp(o.name, "asan") == 0) v = (dbg >> 3) & 1 && o.max >= 1;
            else continue;
        } else {
            if (!with_own || j >= 8 || !((own >> j) & 1))
                continue;
            v = o.type == MA_OPT_BOOLEAN ? 1
                : o.type == MA_OPT_SIZE ? (o.min ? o.min * 4 : 64) : 64;
            if (v < o.min || v > o.max)
                continue;
        }
        int n = snprintf(text + used, cap - used, "%s%s=%llu", used ? "," : "",
                         o.name, (unsigned long long)v);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 4)
        return 0;
    run r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < SLOTS; i++)
        r.s[i].addr = MA_NULL;
    size_t entry = pinned >= 0 ? (size_t)pinned : data[0] % ma_registry_count();
    ma_registry_info e;
    if (ma_registry_entry(entry, &e) != MA_OK)
        abort();
    char text[512];
    ma_status st = MA_EINVAL;
    for (int with_own = 1; with_own >= 0 && st != MA_OK; with_own--) {
        options_text(&r, entry, &e, data[1], data[2], data[3], with_own, text, sizeof text);
        st = ma_create(e.name, text, &r.a);
    }
    if (st != MA_OK) {
        fprintf(stderr, "ma_create(\"%s\", \"%s\"): %s\n", e.name, text, ma_thread_error());
        abort(); /* the harness's own options must be valid */
    }
    r.base = ma_arena_base(r.a);
    r.in = data;
    r.len = size;
    r.pos = 4;
    while (r.pos < r.len) {
        unsigned opcode = byte(&r);
        switch (opcode % 12) {
        case 0: case 1: case 2: op_alloc(&r, 0); break;
        case 3: op_alloc(&r, 1); break;
        case 4: op_alloc(&r, 3); break;
        case 5: case 6: op_realloc(&r); break;
        case 7: case 8: release(&r, pick(&r)); break;
        case 9: op_invalid(&r); break;
        case 10: op_edges(&r); break;
        default:
            if (opcode % 8 == 3) { /* reset, now and then */
                expect(&r, ma_reset(r.a) == MA_OK, "reset");
                for (int i = 0; i < SLOTS; i++)
                    r.s[i].addr = MA_NULL;
            } else {
                op_alloc(&r, 0);
            }
            break;
        }
        verify(&r);
    }
    ma_destroy(r.a);
    return 0;
}
