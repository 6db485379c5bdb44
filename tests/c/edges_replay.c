/*
 * edges_replay.c -- the replay engine's error paths (csrc/replay.c), the
 * registry's parser and listing (csrc/registry.c) and the debugging
 * switches' refusals and realloc paths (csrc/debug.c).
 *
 * Replay: NULL arguments, malformed traces (each refused before the first
 * event, the instance unchanged), memory refused for the engine's tables
 * (check bitmap, core's record, id table) and for the C library's calls in
 * ma_replay_libc, every event kind's odd cases (failed ids, oversized and
 * saturated sizes, alignments), samples and progress, closed and debugging
 * instances, and an allocator that reports corruption in the middle of a
 * run.  For the last, a zone's free list is corrupted: zones (csrc/zones.c)
 * keeps a free block's successor in its first 8 bytes, so pointing a free
 * block at a live one makes the replay's second allocation take the live
 * block (and clear its allocated bit), and the replay's free of it then
 * fails with MA_ECORRUPT, reported with the event's number.
 */
#include "edges.h"
#include "ma_internal.h" /* MA_HAVE_VALGRIND */

#include <stdlib.h>

#define ID_MAX 64
#define EV_MAX 128

/* A trace under construction. */
typedef struct trace {
    uint8_t op[EV_MAX];
    uint32_t id[EV_MAX];
    uint64_t size[EV_MAX], arg[EV_MAX];
    ma_trace_view v;
} trace;

static void tr_init(trace *t, uint64_t n_ids)
{
    memset(t, 0, sizeof *t);
    t->v.op = t->op;
    t->v.id = t->id;
    t->v.size = t->size;
    t->v.arg = t->arg;
    t->v.n_ids = n_ids;
}

static void ev(trace *t, int op, uint32_t id, uint64_t size, uint64_t arg)
{
    uint64_t i = t->v.n_events++;
    t->op[i] = (uint8_t)op;
    t->id[i] = id;
    t->size[i] = size;
    t->arg[i] = arg;
}

static const ma_replay_config no_config = {0, 0, 0, NULL, NULL};

/* ---- replay: arguments and malformed traces ---------------------------------- */

static void test_replay_arguments(void)
{
    edges_current = "replay arguments";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    trace t;
    tr_init(&t, 4);
    ev(&t, MA_EV_MALLOC, 0, 8, 0);
    ma_replay_result r;
    ma_sample s[2];
    EXPECT(ma_replay(NULL, &t.v, &no_config, s, 2, &r) == MA_EINVAL &&
           said("replay: a NULL allocator, trace or trace column"));
    EXPECT(ma_replay(a, NULL, &no_config, s, 2, &r) == MA_EINVAL);
    for (int col = 0; col < 4; col++) { /* each column missing in turn */
        ma_trace_view v = t.v;
        if (col == 0)
            v.op = NULL;
        else if (col == 1)
            v.id = NULL;
        else if (col == 2)
            v.size = NULL;
        else
            v.arg = NULL;
        EXPECT(ma_replay(a, &v, &no_config, s, 2, &r) == MA_EINVAL && said("trace column"));
        EXPECT(ma_replay_bare(a, &v, 1, &r) == MA_EINVAL && said("trace column"));
        EXPECT(ma_replay_libc(&v, 1, &r) == MA_EINVAL && said("a NULL trace, trace column or result"));
    }
    EXPECT(ma_replay(a, &t.v, NULL, s, 2, &r) == MA_EINVAL && said("a NULL config, result or sample array"));
    EXPECT(ma_replay(a, &t.v, &no_config, s, 2, NULL) == MA_EINVAL && said("a NULL config"));
    EXPECT(ma_replay(a, &t.v, &no_config, NULL, 2, &r) == MA_EINVAL && said("sample array"));
    EXPECT(ma_replay_bare(a, &t.v, 1, NULL) == MA_EINVAL && said("replay: a NULL result"));
    EXPECT(ma_replay_libc(NULL, 1, &r) == MA_EINVAL && ma_replay_libc(&t.v, 1, NULL) == MA_EINVAL);
    t.v.n_ids = (UINT64_C(1) << 32) + 1;
    EXPECT(ma_replay(a, &t.v, &no_config, s, 2, &r) == MA_EINVAL && said("more than 2^32 ids"));
    t.v.n_ids = 4;
    /* An empty trace needs no columns. */
    ma_trace_view empty = {0, NULL, NULL, NULL, NULL, 0};
    EXPECT(ma_replay(a, &empty, &no_config, NULL, 0, &r) == MA_OK && r.events == 0);
    EXPECT(ma_replay_bare(a, &empty, 1, &r) == MA_OK && r.events == 0);
    EXPECT(ma_replay_libc(&empty, 1, &r) == MA_OK && r.events == 0);
    ma_stats st = stats_of(a);
    EXPECT(st.mallocs == 0 && st.live_blocks == 0 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Each malformed trace is refused before its first event, by all three
 * replays, with the event named, and the instance is left as it was. */
static void test_malformed_traces(void)
{
    edges_current = "malformed";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    uint64_t keep = MA_NULL;
    EXPECT(ma_malloc(a, 40, &keep) == MA_OK);
    ma_stats before = stats_of(a);
    struct {
        int op;
        uint32_t id;
        uint64_t arg;
        const char *says;
    } bad[] = {
        {MA_EV_FREE, 9, 0, "event 3: id 9 is not below n_ids (8)"},
        {7, 1, 0, "event 3: unknown event kind 7"},
        {MA_EV_MEMALIGN, 3, 48, "event 3: alignment 48 is not a power of two"},
        {MA_EV_MEMALIGN, 3, 0, "event 3: alignment 0 is not a power of two"},
        {MA_EV_MALLOC, 0, 0, "event 3: id 0 is already live"},
        {MA_EV_CALLOC, 1, 2, "event 3: id 1 is already live"},
        {MA_EV_MEMALIGN, 1, 64, "event 3: id 1 is already live"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        trace t;
        tr_init(&t, 8);
        ev(&t, MA_EV_MALLOC, 0, 10, 0);
        ev(&t, MA_EV_REALLOC, 1, 10, 0); /* a realloc of a dead id allocates */
        ev(&t, MA_EV_FREE, 2, 0, 0);     /* a free of a dead id is nothing */
        ev(&t, bad[k].op, bad[k].id, 16, bad[k].arg);
        ev(&t, MA_EV_FREE, 0, 0, 0);
        ma_replay_result r;
        memset(&r, 0xff, sizeof r);
        EXPECT(ma_replay(a, &t.v, &no_config, NULL, 0, &r) == MA_EINVAL && said(bad[k].says));
        EXPECT(r.events == 0 && r.failures == 0);
        EXPECT(ma_replay_bare(a, &t.v, 1, &r) == MA_EINVAL && said(bad[k].says));
        EXPECT(ma_replay_libc(&t.v, 1, &r) == MA_EINVAL && said(bad[k].says));
        ma_stats after = stats_of(a);
        EXPECT(same_stats(&before, &after));
    }
    EXPECT(ma_check(a) == MA_OK && ma_free(a, keep) == MA_OK);
    ma_destroy(a);
}

/* ---- replay: memory refused ------------------------------------------------- */

/* No memory for the check's bitmap, core's record or the id table: MA_ENOMEM
 * naming the table, the instance unchanged and usable. */
static void test_replay_memory_refused(void)
{
    edges_current = "replay memory";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    trace small, many;
    tr_init(&small, 3);
    ev(&small, MA_EV_MALLOC, 2, 10, 0);
    tr_init(&many, ID_MAX);
    for (uint32_t i = 0; i < 50; i++) /* all live at the end: the record grows */
        ev(&many, MA_EV_MALLOC, i, 16, 0);
    ma_stats before = stats_of(a);
    ma_replay_result r;
    ma_replay_config cfg = no_config;

    fail_after(0);
    EXPECT(ma_replay(a, &small.v, &cfg, NULL, 0, &r) == MA_ENOMEM && said("no memory to check a trace of 3 ids"));
    fail_after(1);
    EXPECT(ma_replay(a, &small.v, &cfg, NULL, 0, &r) == MA_ENOMEM && said("no memory for a table of 3 ids"));
    fail_after(1);
    EXPECT(ma_replay_bare(a, &many.v, 1, &r) == MA_ENOMEM &&
           said("no memory for the allocation record of 50 more blocks"));
    fail_never();
    ma_stats after = stats_of(a);
    EXPECT(same_stats(&before, &after) && ma_check(a) == MA_OK);
    EXPECT(ma_replay_bare(a, &many.v, 1, &r) == MA_OK && r.events == 50);
    EXPECT(stats_of(a).live_blocks == 50 && ma_check(a) == MA_OK);

    /* ma_replay_libc: its own tables, then every C library call refused. */
    fail_after(0);
    EXPECT(ma_replay_libc(&small.v, 1, &r) == MA_ENOMEM && said("no memory to check a trace of 3 ids"));
    fail_after(1);
    EXPECT(ma_replay_libc(&small.v, 1, &r) == MA_ENOMEM && said("no memory for a table of 3 ids"));
    trace t;
    tr_init(&t, 8);
    ev(&t, MA_EV_MALLOC, 0, 100, 0);        /* allowed: the third call */
    ev(&t, MA_EV_MALLOC, 1, 100, 0);        /* refused from here on */
    ev(&t, MA_EV_CALLOC, 2, 10, 3);
    ev(&t, MA_EV_MEMALIGN, 3, 10, 256);
    ev(&t, MA_EV_REALLOC, 0, 5000, 0);      /* refused: id 0 keeps its block */
    ev(&t, MA_EV_REALLOC, 4, 10, 0);        /* realloc(NULL): refused */
    ev(&t, MA_EV_FREE, 1, 0, 0);
    fail_after(3);
    EXPECT(ma_replay_libc(&t.v, 1, &r) == MA_OK && r.events == 7 && r.failures == 5);
    fail_never();
    ma_destroy(a);
}

/* ---- replay: the events' odd cases ------------------------------------------ */

static int find_requested(const ma_block *b, void *ctx)
{
    uint64_t *want = ctx; /* [requested, address found] */
    if (b->allocated && b->requested == want[0])
        want[1] = b->address;
    return 0;
}

/* Every kind of event with failed ids, saturated and oversized sizes and
 * alignments, through ma_replay, ma_replay_bare and ma_replay_libc; the
 * instance afterwards holds exactly the ids live at the end. */
static void test_replay_events(void)
{
    edges_current = "replay events";
    trace t;
    tr_init(&t, 16);
    ev(&t, MA_EV_MALLOC, 0, 100, 0);                        /* 0 */
    ev(&t, MA_EV_MALLOC, 9, 200, 0);                        /* 1 */
    ev(&t, MA_EV_FREE, 9, 0, 0);                            /* 2: leaves garbage */
    ev(&t, MA_EV_CALLOC, 1, 24, 2);                         /* 3: 48 zeroed bytes */
    ev(&t, MA_EV_CALLOC, 2, 8, UINT64_C(1) << 62);          /* 4: overflows: fails */
    ev(&t, MA_EV_MEMALIGN, 3, 8, UINT64_C(1) << 63);        /* 5: alignment too large */
    ev(&t, MA_EV_MEMALIGN, 4, 8, 4);                        /* 6: below 16: 16 */
    ev(&t, MA_EV_MEMALIGN, 5, 8, 256);                      /* 7 */
    ev(&t, MA_EV_REALLOC, 2, 0, 0);                         /* 8: ends failed id 2 */
    ev(&t, MA_EV_REALLOC, 3, 40, 0);                        /* 9: failed id: allocates */
    ev(&t, MA_EV_REALLOC, 6, 40, 0);                        /* 10: dead id: allocates */
    ev(&t, MA_EV_REALLOC, 0, UINT64_C(1) << 63, 0);         /* 11: too large: fails */
    ev(&t, MA_EV_REALLOC, 0, 100000, 0);                    /* 12: beyond the arena */
    ev(&t, MA_EV_REALLOC, 0, 300, 0);                       /* 13 */
    ev(&t, MA_EV_REALLOC, 0, 0, 0);                         /* 14: frees */
    ev(&t, MA_EV_FREE, 0, 0, 0);                            /* 15: not live: nothing */
    ev(&t, MA_EV_MALLOC, 7, UINT64_C(1) << 63, 0);          /* 16: fails */
    ev(&t, MA_EV_FREE, 7, 0, 0);                            /* 17: ends failed id 7 */
    ev(&t, MA_EV_MALLOC, 7, 8, 0);                          /* 18 */
    ev(&t, MA_EV_CALLOC, 8, 0, 5);                          /* 19: zero bytes */
    for (int bare = 0; bare < 2; bare++) {
        ma_allocator *a = make("best", "arena_size=64K");
        if (!a)
            return;
        ma_replay_result r;
        ma_sample s[8];
        ma_replay_config cfg = {3, 1, 0, NULL, NULL};
        ma_status st = bare ? ma_replay_bare(a, &t.v, 1, &r)
                            : ma_replay(a, &t.v, &cfg, s, 8, &r);
        EXPECT(st == MA_OK && r.events == 20 && r.failures == 5);
        /* samples after events 2, 5, ..., 17 and the final state (19) */
        EXPECT(bare || (r.samples == 7 && s[6].event == 19 && s[6].stats.live_blocks == 7));
        /* live: ids 1, 3, 4, 5, 6, 7 and 8 (0 bytes) */
        ma_stats ms = stats_of(a);
        EXPECT(ms.live_blocks == 7 && ms.failures == 5 && ms.reallocs == 3);
        EXPECT(ms.mallocs == 12 && ms.frees == 2);
        EXPECT(ms.requested_bytes == 48 + 40 + 8 + 8 + 40 + 8 + 0);
        EXPECT(ma_check(a) == MA_OK);
        uint64_t want[2] = {48, MA_NULL};
        unsigned char back[48], zero[48] = {0};
        EXPECT(ma_walk(a, find_requested, want) == MA_OK && want[1] != MA_NULL);
        EXPECT(ma_read(a, want[1], 0, back, 48) == MA_OK && memcmp(back, zero, 48) == 0);
        EXPECT(ma_reset(a) == MA_OK);
        /* Every size saturated by the scale: every allocation fails. */
        EXPECT(ma_replay_bare(a, &t.v, UINT64_C(1) << 62, &r) == MA_OK && r.failures == 14);
        EXPECT(ma_check(a) == MA_OK && stats_of(a).live_blocks == 1); /* calloc of 0 */
        ma_destroy(a);
    }
    /* The C library's replay, without the sizes that AddressSanitizer's
     * malloc treats as errors. */
    trace c;
    tr_init(&c, 8);
    ev(&c, MA_EV_MALLOC, 0, 100, 0);
    ev(&c, MA_EV_CALLOC, 1, 8, 3);
    ev(&c, MA_EV_MEMALIGN, 2, 8, 4); /* below the pointer size: 8 */
    ev(&c, MA_EV_MEMALIGN, 3, 8, 4096);
    ev(&c, MA_EV_REALLOC, 0, 5000, 0);
    ev(&c, MA_EV_REALLOC, 4, 50, 0);
    ev(&c, MA_EV_REALLOC, 4, 0, 0);
    ev(&c, MA_EV_FREE, 1, 0, 0);
    ma_replay_result r;
    EXPECT(ma_replay_libc(&c.v, 3, &r) == MA_OK && r.events == 8 && r.failures == 0);
}

/* ---- replay: samples and progress -------------------------------------------- */

struct prog {
    ma_allocator *a;
    const ma_trace_view *t;
    int calls, stop_at;
};

/* Calls back into the instance are refused; stops at call stop_at. */
static int on_progress(uint64_t done, void *ctx)
{
    struct prog *p = ctx;
    p->calls++;
    uint64_t q = 5;
    ma_replay_result r;
    EXPECT(ma_malloc(p->a, 8, &q) == MA_EBUSY && said("malloc refused"));
    EXPECT(ma_replay_bare(p->a, p->t, 1, &r) == MA_EBUSY && said("replay refused"));
    EXPECT(done == (uint64_t)p->calls * 4);
    return p->calls == p->stop_at;
}

static void test_samples_and_progress(void)
{
    edges_current = "samples";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    trace t;
    tr_init(&t, 16);
    for (uint32_t i = 0; i < 10; i++)
        ev(&t, MA_EV_MALLOC, i, 16 * (i + 1), 0);
    ma_replay_result r;
    ma_sample s[3];
    memset(s, 0, sizeof s);
    /* More samples due than room: the first ones only, no final one. */
    ma_replay_config cfg = {1, 0, 0, NULL, NULL};
    EXPECT(ma_replay(a, &t.v, &cfg, s, 2, &r) == MA_OK && r.samples == 2);
    EXPECT(s[0].event == 0 && s[1].event == 1 && s[1].stats.live_blocks == 2);
    EXPECT(ma_reset(a) == MA_OK);
    /* Room for the first sample only: the final state is not written. */
    ma_replay_config every3 = {3, 0, 0, NULL, NULL};
    EXPECT(ma_replay(a, &t.v, &every3, s, 1, &r) == MA_OK && r.samples == 1 && s[0].event == 2);
    EXPECT(ma_reset(a) == MA_OK);
    /* No events: no sample at all. */
    ma_trace_view none = {0, NULL, NULL, NULL, NULL, 0};
    EXPECT(ma_replay(a, &none, &every3, s, 3, &r) == MA_OK && r.samples == 0 && r.events == 0);
    /* A progress interval without a function: no calls, no stop. */
    ma_replay_config quiet = {0, 0, 4, NULL, NULL};
    EXPECT(ma_replay(a, &t.v, &quiet, NULL, 0, &r) == MA_OK && r.events == 10 && !r.stopped);
    EXPECT(ma_reset(a) == MA_OK);
    /* Stopped at the second call (after 8 events): the final sample is the
     * 8th event's, and 8 blocks are adopted. */
    struct prog p = {a, &t.v, 0, 2};
    ma_replay_config stop = {3, 0, 4, on_progress, &p};
    EXPECT(ma_replay(a, &t.v, &stop, s, 3, &r) == MA_OK && r.stopped && r.events == 8);
    EXPECT(p.calls == 2 && r.samples == 3 && s[2].event == 7 && s[2].stats.live_blocks == 8);
    EXPECT(stats_of(a).live_blocks == 8 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Closed instances, and instances with a debugging switch on, are refused. */
static void test_replay_refused_instances(void)
{
    edges_current = "replay instances";
    trace t;
    tr_init(&t, 1);
    ev(&t, MA_EV_MALLOC, 0, 8, 0);
    ma_replay_result r;
    ma_allocator *a = make("best", "check_every=1");
    if (!a)
        return;
    EXPECT(ma_replay(a, &t.v, &no_config, NULL, 0, &r) == MA_EINVAL &&
           said("replay does not go through the debugging switches"));
    EXPECT(ma_replay_bare(a, &t.v, 1, &r) == MA_EINVAL && stats_of(a).mallocs == 0);
    EXPECT(ma_close(a) == MA_OK);
    EXPECT(ma_replay(a, &t.v, &no_config, NULL, 0, &r) == MA_ECLOSED && said("closed best-ao"));
    EXPECT(ma_replay_bare(a, &t.v, 1, &r) == MA_ECLOSED);
    ma_destroy(a);
}

/* ---- replay: the allocator reports corruption during a run ------------------- */

/* Zones: P and Q live in one zone, Q freed, Q's link pointed at P. */
static ma_allocator *zones_with_a_bad_link(uint64_t *p)
{
    ma_allocator *a = make("zones", "arena_size=1M");
    if (!a)
        return NULL;
    uint64_t q = MA_NULL;
    EXPECT(ma_malloc(a, 16, p) == MA_OK && ma_malloc(a, 16, &q) == MA_OK);
    uint64_t none = MA_NULL; /* P's first word: the end of the list */
    EXPECT(ma_write(a, *p, 0, &none, 8) == MA_OK);
    EXPECT(q == *p + 16 && ma_free(a, q) == MA_OK && ma_check(a) == MA_OK);
    memcpy(at(a, q), p, sizeof *p);
    return a;
}

static void test_replay_meets_corruption(void)
{
    edges_current = "replay corruption";
    for (int kind = 0; kind < 3; kind++) {
        trace t;
        tr_init(&t, 2);
        ev(&t, MA_EV_MALLOC, 0, 16, 0);
        ev(&t, MA_EV_MALLOC, 1, 16, 0); /* takes P, whose bit is then cleared */
        if (kind == 2)
            ev(&t, MA_EV_REALLOC, 1, 5000, 0);
        else
            ev(&t, MA_EV_FREE, 1, 0, 0);
        uint64_t p = MA_NULL;
        ma_allocator *a = zones_with_a_bad_link(&p);
        if (!a)
            return;
        ma_replay_result r;
        char want[128];
        snprintf(want, sizeof want, "event 2: 0x%llx is a live allocation, but no "
                 "zone or LARGE region has an allocated block there", (unsigned long long)p);
        ma_status st = kind == 0 ? ma_replay(a, &t.v, &no_config, NULL, 0, &r)
                                 : ma_replay_bare(a, &t.v, 1, &r);
        EXPECT(st == MA_ECORRUPT && said(want) && r.events == 2);
        EXPECT(ma_check(a) == MA_ECORRUPT);
        ma_destroy(a);
    }
}

/* ---- registry ----------------------------------------------------------------- */

static void test_registry_listing(void)
{
    edges_current = "registry listing";
    size_t n = ma_registry_count();
    ma_registry_info info;
    ma_option_info opt;
    char want[80];
    snprintf(want, sizeof want, "no allocator number %zu (there are %zu)", n, n);
    EXPECT(ma_registry_entry(n, &info) == MA_EINVAL && said(want));
    EXPECT(ma_registry_entry(0, NULL) == MA_EINVAL && said("ma_registry_entry"));
    EXPECT(ma_registry_entry(0, &info) == MA_OK && strcmp(info.name, "buddy") == 0);
    EXPECT(ma_registry_option(0, info.n_options, &opt) == MA_EINVAL &&
           said("ma_registry_option: no option 7 of allocator number 0"));
    EXPECT(ma_registry_option(n, 0, &opt) == MA_EINVAL && said("allocator number"));
    EXPECT(ma_registry_option(0, 0, NULL) == MA_EINVAL);
    EXPECT(ma_registry_option(0, 2, &opt) == MA_OK && strcmp(opt.name, "scribble") == 0 &&
           opt.debug == 1 && strcmp(opt.choices, "") == 0);
}

/* Every malformed option text is MA_EINVAL naming the problem. */
static void test_registry_parse_errors(void)
{
    edges_current = "registry parse";
    const char *long_word = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";
    char text[200];
    struct {
        const char *name, *options, *says;
    } bad[] = {
        {"nope", "", "unknown allocator 'nope'; choose one of: buddy, best-ao, best, best-lifo"},
        {"best", "arena_size=1M,", "an empty option at character 15 (a stray comma?)"},
        {"best", ",arena_size=1M", "an empty option at character 1"},
        {"best", "trim=1,,growth=32", "an empty option at character 8"},
        {"best", "arena_size", "option 'arena_size' has no value (write arena_size=VALUE)"},
        {"best", "=5", "an option with no name at character 1"},
        {"best", "trim=1,=5", "an option with no name at character 8"},
        {"best", "size=1M", "unknown option 'size' for allocator 'best-ao' (its options: arena_size, growth, prealloc, min_block, trim, scribble"},
        {"system", "x=1", "unknown option 'x' for allocator 'system' (its options: scribble, check_every, canary, asan, valgrind)"},
        {"best", "trim=1,trim=0", "option trim is given twice"},
        {"best", "arena_size=abc", "option arena_size=abc is not a size (digits with an optional K, M, G or T suffix)"},
        {"best", "arena_size=", "option arena_size= is not a size"},
        {"best", "arena_size=1X", "option arena_size=1X is not a size"},
        {"best", "arena_size=1KB", "option arena_size=1KB is not a size"},
        {"best", "arena_size=18446744073709551616", "option arena_size=18446744073709551616 is too large (above 2^64 - 1)"},
        {"best", "arena_size=99999999999999999999", "is too large"},
        {"best", "arena_size=16777216T", "option arena_size=16777216T is too large"},
        {"best", "trim=2", "option trim=2 is not a boolean (0 or 1)"},
        {"best", "trim=1K", "option trim=1K is not a boolean (0 or 1)"},
        {"tlsf", "sl_bits=5K", "option sl_bits=5K is not an integer (decimal digits)"},
        {"zones", "classes=tiny", "option classes=tiny is not one of: fine, pow2"},
        {"zones", "classes=", "option classes= is not one of: fine, pow2"},
        {"zones", "classes=fin", "is not one of"},
        {"best", "check_every=4294967296", "check_every must be from 0 to 4294967295, got 4294967296"},
        {NULL, "", "ma_create: name is NULL"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ma_allocator *a = (ma_allocator *)&k;
        edges_current = bad[k].options;
        EXPECT(ma_create(bad[k].name, bad[k].options, &a) == MA_EINVAL && a == NULL && said(bad[k].says));
    }
    edges_current = "long texts";
    ma_allocator *a = NULL;
    /* Texts longer than 64 characters are cut to 64 in the message. */
    snprintf(text, sizeof text, "%s", long_word);
    EXPECT(ma_create("best", text, &a) == MA_EINVAL && said("has no value") &&
           !said("vwxyz'") && said("abcdefghijkl"));
    snprintf(text, sizeof text, "%s=1", long_word);
    EXPECT(ma_create("best", text, &a) == MA_EINVAL && said("unknown option 'abcdefghijkl") && !said("vwxyz'"));
    snprintf(text, sizeof text, "arena_size=1%s", long_word);
    EXPECT(ma_create("best", text, &a) == MA_EINVAL && said("is not a size") && !said("vwxyz is"));
    snprintf(text, sizeof text, "classes=%s", long_word);
    EXPECT(ma_create("zones", text, &a) == MA_EINVAL && said("is not one of: fine, pow2") && !said("vwxyz is"));
    EXPECT(ma_create("best", "", NULL) == MA_EINVAL && said("ma_create: out is NULL"));

    /* The debugging switches this build cannot honour. */
    size_t best = 1;
    ma_registry_info info;
    EXPECT(ma_registry_entry(best, &info) == MA_OK && strcmp(info.name, "best-ao") == 0);
    const char *tools[] = {"asan", "valgrind"};
    for (size_t k = 0; k < 2; k++) {
        ma_option_info opt;
        size_t j = 0;
        while (j < info.n_options && ma_registry_option(best, j, &opt) == MA_OK &&
               strcmp(opt.name, tools[k]) != 0)
            j++;
        EXPECT(j < info.n_options);
        snprintf(text, sizeof text, "arena_size=64K,%s=1", tools[k]);
        ma_status st = ma_create("best", text, &a);
        if (opt.max == 1) {
            EXPECT(st == MA_OK && a != NULL);
            ma_destroy(a);
        } else {
            EXPECT(st == MA_EINVAL && a == NULL && said(k ? "valgrind=1 needs a build with" : "asan=1 needs a build with"));
        }
    }
}

/* ma_registry_parse without index or values, or with too little room. */
static void test_registry_parse_outputs(void)
{
    edges_current = "registry_parse";
    uint64_t v[3] = {7, 7, 7};
    size_t index = 99;
    EXPECT(ma_registry_parse("tlsf", "growth=8K,classes=1", NULL, NULL, 0) == MA_EINVAL &&
           said("unknown option 'classes'"));
    EXPECT(ma_registry_parse("tlsf", "growth=8K", NULL, NULL, 5) == MA_OK);
    EXPECT(ma_registry_parse("tlsf", "growth=8K", &index, v, 2) == MA_OK);
    EXPECT(v[0] == (UINT64_C(1) << 30) && v[1] == 8192 && v[2] == 7 && index == 14);
    EXPECT(ma_registry_parse("zones", "classes=pow2,tiny_max=64", &index, v, 3) == MA_OK);
    EXPECT(v[1] == 64 && v[2] == 4096 && index == 13);
    uint64_t all[16];
    EXPECT(ma_registry_parse("system", NULL, &index, all, 16) == MA_OK && index == 15 && all[1] == 0);
    EXPECT(ma_registry_parse("best-lifo", "growth=1k", &index, all, 16) == MA_OK &&
           index == 2 && all[1] == 1024);
    EXPECT(ma_registry_parse("worst", "arena_size=1g", &index, all, 16) == MA_OK && all[0] == (UINT64_C(1) << 30));
    EXPECT(ma_registry_parse("first", "arena_size=1t", &index, all, 16) == MA_OK && all[0] == (UINT64_C(1) << 40));
    EXPECT(ma_registry_parse("next", "arena_size=2m", &index, all, 16) == MA_OK && all[0] == (UINT64_C(2) << 20));
}

/* ---- debugging switches ------------------------------------------------------- */

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* A realloc that fails keeps the block, its bytes and (canary) its canary;
 * one that shrinks keeps what fits; scribble's copy aside is best effort:
 * without memory for it the realloc still works. */
static void test_debug_realloc(void)
{
    const char *opts[] = {"arena_size=64K,scribble=1", "arena_size=64K,canary=1",
                          "arena_size=64K,scribble=1,canary=1"};
    for (size_t k = 0; k < 3; k++) {
        edges_current = opts[k];
        ma_allocator *a = make("best", opts[k]);
        if (!a)
            return;
        unsigned char data[100], back[200];
        for (int i = 0; i < 100; i++)
            data[i] = (unsigned char)i;
        uint64_t p = MA_NULL, q = 5, u = 0;
        EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_write(a, p, 0, data, 100) == MA_OK);
        EXPECT(ma_realloc(a, p, 100000, &q) == MA_ENOMEM && q == MA_NULL);
        EXPECT(ma_realloc(a, p, UINT64_C(1) << 63, &q) == MA_ENOMEM && q == MA_NULL);
        EXPECT(ma_read(a, p, 0, back, 100) == MA_OK && memcmp(back, data, 100) == 0);
        EXPECT(ma_check(a) == MA_OK); /* the canary is intact */
        EXPECT(ma_realloc(a, p, 40, &q) == MA_OK && ma_usable_size(a, q, &u) == MA_OK);
        EXPECT(ma_read(a, q, 0, back, 40) == MA_OK && memcmp(back, data, 40) == 0);
        EXPECT(k == 0 ? u >= 40 : u == 40);
        /* Growing: the old bytes kept, the new ones 0xaa with scribble. */
        fail_after(0); /* no memory for scribble's copy aside */
        uint64_t g = MA_NULL;
        EXPECT(ma_realloc(a, q, 120, &g) == MA_OK && g != MA_NULL);
        fail_never();
        EXPECT(ma_read(a, g, 0, back, 120) == MA_OK && memcmp(back, data, 40) == 0);
        EXPECT(k == 1 || all_bytes(back + 40, 80, 0xaa));
        EXPECT(ma_check(a) == MA_OK && ma_free(a, g) == MA_OK && ma_check(a) == MA_OK);
        ma_destroy(a);
    }
}

/* valgrind=1 (outside valgrind its client requests do nothing, but the
 * layer's paths run): usable size is the request; realloc in place and
 * moved; close with live blocks.  Without an arena (system) it is off. */
static void test_debug_valgrind(void)
{
    edges_current = "valgrind=1";
    ma_option_info opt;
    EXPECT(ma_registry_option(0, 6, &opt) == MA_OK && strcmp(opt.name, "valgrind") == 0);
    /* valgrind=1 exists only where valgrind's header did at build time
     * (CI installs valgrind): a build without it refuses the option. */
    EXPECT(opt.max == (MA_HAVE_VALGRIND ? 1 : 0));
    if (!MA_HAVE_VALGRIND) {
        ma_allocator *none = NULL;
        EXPECT(ma_create("best", "arena_size=64K,valgrind=1", &none) == MA_EINVAL && !none);
        return;
    }
    ma_allocator *a = make("best", "arena_size=64K,valgrind=1");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL, r = MA_NULL, u = 0;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_usable_size(a, p, &u) == MA_OK && u == 100);
    EXPECT(ma_malloc(a, 10, &r) == MA_OK);
    EXPECT(ma_write(a, p, 0, "abc", 3) == MA_OK && ma_write(a, p, 98, "ab", 3) == MA_ERANGE);
    EXPECT(ma_realloc(a, p, 60, &q) == MA_OK && q == p); /* in place */
    EXPECT(ma_realloc(a, q, 3000, &p) == MA_OK && p != q); /* moved */
    char back[3];
    EXPECT(ma_read(a, p, 0, back, 3) == MA_OK && memcmp(back, "abc", 3) == 0);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a); /* with two live blocks */

    ma_allocator *s = make("system", "valgrind=1");
    if (!s)
        return;
    EXPECT(ma_malloc(s, 100, &p) == MA_OK && ma_usable_size(s, p, &u) == MA_OK && u >= 100);
    EXPECT(ma_free(s, p) == MA_OK);
    ma_destroy(s);
}

int main(void)
{
    test_replay_arguments();
    test_malformed_traces();
    test_replay_memory_refused();
    test_replay_events();
    test_samples_and_progress();
    test_replay_refused_instances();
    test_replay_meets_corruption();
    test_registry_listing();
    test_registry_parse_errors();
    test_registry_parse_outputs();
    test_debug_realloc();
    test_debug_valgrind();
    return edges_report();
}
