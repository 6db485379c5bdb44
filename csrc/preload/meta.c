/*
 * meta.c -- the preload shim's internal allocator, and its table of own
 * mappings.  Part of the process-wide shim (see shim.h): its state is the
 * one static region below, used only with the shim's lock held.
 *
 * The internal allocator serves every malloc-family call a thread makes
 * while it is inside the shim: the library's side tables (core.c's record
 * of live allocations, each allocator's instance struct, made by ma_create
 * before the heap exists), libc's own allocations during start-up
 * (pthread_atfork's records), and the buffers of the exit reports.  So no
 * call recurses into the heap that is being built or locked, and none goes
 * through dlsym or the loader.
 *
 * Layout.  One region of address space, reserved on first use with
 * mmap(MAP_NORESERVE) (64 GiB, halved until the system grants it, down to
 * 16 MiB).  Blocks are carved from its start by a bump pointer in
 * power-of-two sizes (classes 5 .. 63: 32 bytes .. 2^63), each with a
 * 16-byte header before its payload:
 *     magic   META_LIVE or META_FREE
 *     cls     log2 of the block's size
 *     back    payload - block start (16, more for an aligned request)
 * A freed block goes on its class's LIFO list (the link in its second word)
 * and serves the next request of that class.  Blocks of 64 KiB and more
 * give their pages back (madvise) when freed.
 *
 * Invariants:
 *   M1  every block lies in [region, region + bump), at a multiple of 16;
 *   M2  a live block's header says META_LIVE, a listed one META_FREE;
 *   M3  free[c] lists only blocks of class c.
 * The own-mapping table is an open-addressing hash (linear probing,
 * backward-shift deletion, load at most 1/2) of the blocks above the
 * threshold, in internal memory.
 */
#include "shim.h"

#include <string.h>
#include <sys/mman.h>

#define META_LIVE 0x4c41544du /* "MTAL" */
#define META_FREE 0x45455246u /* "FREE" */
#define HEADER 16u
#define MIN_CLASS 5u
#define NCLASSES 64u
#define RESERVE_MAX (UINT64_C(64) << 30)
#define RESERVE_MIN (UINT64_C(16) << 20)
#define GIVE_BACK_FROM 16u /* classes from 64 KiB on return their pages */
/* Where a free block keeps its list link: past the magic and class of a
 * header at the block's start, which so still says META_FREE. */
#define LINK 8u

typedef struct meta_header {
    uint32_t magic;
    uint32_t cls;
    uint64_t back;
} meta_header;

static struct {
    unsigned char *region;
    uint64_t size;
    uint64_t bump;
    void *free[NCLASSES];
    bool tried;
} M;

static bool reserve(void)
{
    if (M.tried)
        return M.region != NULL;
    M.tried = true;
    for (uint64_t len = RESERVE_MAX; len >= RESERVE_MIN; len /= 2) {
        void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            M.region = p;
            M.size = len;
            return true;
        }
    }
    return false;
}

static inline meta_header *header_of(const void *p)
{
    return (meta_header *)((uintptr_t)p - HEADER);
}

bool meta_owns(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return M.region && a >= (uintptr_t)M.region + HEADER &&
           a < (uintptr_t)M.region + M.bump;
}

bool meta_is_live(const void *p)
{
    if (!meta_owns(p) || ((uintptr_t)p & 15u))
        return false;
    const meta_header *h = header_of(p);
    return h->magic == META_LIVE && h->cls >= MIN_CLASS && h->cls < NCLASSES &&
           h->back >= HEADER && h->back <= (uintptr_t)p - (uintptr_t)M.region;
}

void *meta_alloc(size_t align, size_t n)
{
    if (align < HEADER)
        align = HEADER;
    /* header, the request, and room to move the payload up to `align` */
    uint64_t need = (uint64_t)n + HEADER + (align > HEADER ? align : 0);
    if (need < (uint64_t)n || need > (UINT64_C(1) << 62) || !reserve())
        return NULL;
    unsigned cls = ma_ceil_log2(need);
    if (cls < MIN_CLASS)
        cls = MIN_CLASS;
    unsigned char *block = M.free[cls];
    if (block) {
        memcpy(&M.free[cls], block + LINK, sizeof(void *));
    } else {
        uint64_t size = UINT64_C(1) << cls;
        if (size > M.size - M.bump)
            return NULL;
        block = M.region + M.bump;
        M.bump += size;
    }
    uintptr_t payload = ma_round_up((uintptr_t)block + HEADER, align);
    meta_header *h = header_of((void *)payload);
    h->magic = META_LIVE;
    h->cls = cls;
    h->back = payload - (uintptr_t)block;
    return (void *)payload;
}

size_t meta_usable(const void *p)
{
    const meta_header *h = header_of(p);
    return (size_t)((UINT64_C(1) << h->cls) - h->back);
}

void meta_free(void *p)
{
    meta_header *h = header_of(p);
    unsigned cls = h->cls;
    unsigned char *block = (unsigned char *)p - h->back;
    h->magic = META_FREE;
    if (cls >= GIVE_BACK_FROM)
        ma_discard(block + 4096, (UINT64_C(1) << cls) - 4096);
    memcpy(block + LINK, &M.free[cls], sizeof(void *));
    M.free[cls] = block;
}

uint64_t meta_footprint(void) { return M.bump; }

/* ---- the own-mapping table ------------------------------------------------- */

static inline uint64_t big_home(const big_table *t, uintptr_t addr)
{
    uint64_t h = (uint64_t)(addr >> 12) * UINT64_C(0x9E3779B97F4A7C15);
    return (h ^ (h >> 29)) & t->mask;
}

big_entry *big_find(big_table *t, uintptr_t addr)
{
    if (t->count == 0 || addr == 0)
        return NULL;
    for (uint64_t i = big_home(t, addr);; i = (i + 1) & t->mask) {
        if (t->slots[i].addr == addr)
            return &t->slots[i];
        if (t->slots[i].addr == 0)
            return NULL;
    }
}

static void big_put(big_table *t, big_entry e)
{
    uint64_t i = big_home(t, e.addr);
    while (t->slots[i].addr != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = e;
    t->count++;
}

bool big_reserve(big_table *t)
{
    uint64_t cap = t->slots ? t->mask + 1 : 0;
    if ((t->count + 1) * 2 > cap) {
        uint64_t bigger = cap ? cap * 2 : 64;
        big_entry *s = meta_alloc(16, (size_t)(bigger * sizeof *s));
        if (!s)
            return false;
        memset(s, 0, (size_t)(bigger * sizeof *s));
        big_table nt = {s, bigger - 1, 0};
        for (uint64_t i = 0; i < cap; i++)
            if (t->slots[i].addr)
                big_put(&nt, t->slots[i]);
        if (t->slots)
            meta_free(t->slots);
        *t = nt;
    }
    return true;
}

bool big_insert(big_table *t, uintptr_t addr, uint64_t requested, uint64_t len)
{
    if (!big_reserve(t))
        return false;
    big_put(t, (big_entry){addr, requested, len});
    return true;
}

void big_remove(big_table *t, big_entry *e)
{
    uint64_t hole = (uint64_t)(e - t->slots), j = hole;
    for (;;) {
        j = (j + 1) & t->mask;
        uintptr_t addr = t->slots[j].addr;
        if (addr == 0)
            break;
        uint64_t home = big_home(t, addr);
        bool stays = hole <= j ? (home > hole && home <= j)
                               : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].addr = 0;
    t->count--;
}
