/*
 * live.c -- the workbench's record of live allocations (part of core).
 *
 * Structure
 * ---------
 * An open-addressing hash table, address -> requested size (ma_livetab in
 * ma_internal.h): a power-of-two array of slots, linear probing from each
 * address's home slot (a multiplicative hash of address / 16), and
 * backward-shift deletion, so there are no tombstones.  It grows by
 * doubling before its load passes 70%; it never shrinks (ma_reset starts a
 * fresh one).
 *
 * The record is instrumentation, not allocator bookkeeping: it lets core
 * reject an address that is not a live block before the allocator touches
 * its heap, and it gives requested_bytes and the `requested` column of a
 * walk.
 *
 * Invariants (ma_livetab_check verifies them):
 *   - count == the number of slots whose addr is not MA_NULL;
 *   - every entry is reachable from its home slot: no empty slot lies
 *     between its home and its own slot, cyclically;
 *   - the load is at most 70% after every ma_livetab_reserve.
 */
#include "ma_internal.h"

#include <stdlib.h>

#define LIVE_MIN_CAPACITY 64u

static inline uint64_t live_home(const ma_livetab *t, uint64_t addr)
{
    uint64_t h = (addr >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return (h ^ (h >> 31)) & t->mask;
}

static ma_status alloc_slots(ma_livetab *t, uint64_t capacity)
{
    ma_live_entry *s = malloc(capacity * sizeof *s);
    if (!s)
        return MA_ENOMEM;
    for (uint64_t i = 0; i < capacity; i++)
        s[i].addr = MA_NULL;
    t->slots = s;
    t->mask = capacity - 1;
    t->count = 0;
    return MA_OK;
}

ma_status ma_livetab_init(ma_livetab *t)
{
    return alloc_slots(t, LIVE_MIN_CAPACITY);
}

void ma_livetab_put(ma_livetab *t, uint64_t addr, uint64_t requested)
{
    uint64_t i = live_home(t, addr);
    while (t->slots[i].addr != MA_NULL)
        i = (i + 1) & t->mask;
    t->slots[i].addr = addr;
    t->slots[i].requested = requested;
    t->count++;
}

ma_status ma_livetab_reserve(ma_livetab *t, uint64_t n)
{
    uint64_t cap = t->mask + 1, want = t->count + n, bigger_cap = cap;
    if (n > (UINT64_C(1) << 58) - t->count)
        return MA_ENOMEM;
    while (want * 10 > bigger_cap * 7)
        bigger_cap *= 2;
    if (bigger_cap == cap)
        return MA_OK;
    ma_livetab bigger;
    if (alloc_slots(&bigger, bigger_cap) != MA_OK)
        return MA_ENOMEM;
    for (uint64_t i = 0; i < cap; i++)
        if (t->slots[i].addr != MA_NULL)
            ma_livetab_put(&bigger, t->slots[i].addr, t->slots[i].requested);
    free(t->slots);
    *t = bigger;
    return MA_OK;
}

const ma_live_entry *ma_live_find(const ma_livetab *t, uint64_t addr)
{
    uint64_t i = live_home(t, addr);
    for (;;) {
        const ma_live_entry *e = &t->slots[i];
        if (e->addr == addr)
            return e;
        if (e->addr == MA_NULL)
            return NULL;
        i = (i + 1) & t->mask;
    }
}

void ma_livetab_remove(ma_livetab *t, const ma_live_entry *e)
{
    uint64_t hole = (uint64_t)(e - t->slots);
    uint64_t j = hole;
    for (;;) {
        j = (j + 1) & t->mask;
        uint64_t addr = t->slots[j].addr;
        if (addr == MA_NULL)
            break;
        uint64_t home = live_home(t, addr);
        /* Move j back into the hole unless its home lies cyclically in
         * (hole, j], where it would no longer be reachable from home. */
        bool stays = hole <= j ? (home > hole && home <= j)
                               : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].addr = MA_NULL;
    t->count--;
}

ma_status ma_livetab_check(ma_allocator *a, const ma_livetab *t)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i <= t->mask; i++) {
        uint64_t addr = t->slots[i].addr;
        if (addr == MA_NULL)
            continue;
        n++;
        if (ma_live_find(t, addr) != &t->slots[i])
            return ma_fail(a, MA_ECORRUPT,
                           "allocation record: 0x%llx is unreachable",
                           (unsigned long long)addr);
    }
    if (n != t->count)
        return ma_fail(a, MA_ECORRUPT,
                       "allocation record counts %llu entries, holds %llu",
                       (unsigned long long)t->count, (unsigned long long)n);
    return MA_OK;
}

ma_status ma_live_reserve(ma_allocator *a, uint64_t n)
{
    if (ma_livetab_reserve(&a->live, n) != MA_OK)
        return ma_fail(a, MA_ENOMEM, "no memory for the allocation record of "
                       "%llu more blocks", (unsigned long long)n);
    return MA_OK;
}

ma_status ma_live_adopt(ma_allocator *a, uint64_t addr, uint64_t requested)
{
    if (ma_livetab_reserve(&a->live, 1) != MA_OK)
        return ma_fail(a, MA_ENOMEM, "no memory for the allocation record");
    ma_livetab_put(&a->live, addr, requested);
    return MA_OK;
}
