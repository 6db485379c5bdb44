/*
 * edges_core.c -- the allocator-independent core (csrc/core.c, csrc/live.c)
 * on its error paths: the argument checks of every public call, closed
 * instances, addresses that are not live blocks, reads and writes past a
 * block, ma_blocks' capacity, callbacks calling back in, the fork handlers,
 * memory refused for an instance's own tables and for the growth of the
 * record of live allocations, and ma_check's cross-check of that record
 * against the allocator's walk.
 *
 * Every refused call is checked for its exact status and message, and for
 * having changed nothing (statistics, blocks, their bytes, ma_check).
 *
 * Two kinds of corruption are made on purpose:
 *   - in the arena, through the free list's block layout (csrc/freelist/
 *     block.h: the header word at offset 8 of a block = size | F_ALLOC (1)
 *     | F_PREV (2), the address = offset + 16), to reach the paths where the
 *     allocator's metadata disagrees with core's record;
 *   - in core's record itself (struct ma_livetab of csrc/ma_internal.h),
 *     which lives outside the arena in the C heap: a wild write of the
 *     program could hit it, and ma_check's checks of it (live.c's
 *     ma_livetab_check, core.c's totals) can be reached no other way.
 * Each corruption is repaired afterwards and ma_check must pass again.
 */
#include "edges.h"
#include "ma_internal.h" /* the record of live allocations, to corrupt it */

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define F_ALLOC UINT64_C(1)
#define F_PREV UINT64_C(2)

/* The free list's header word of the block whose address is addr. */
static uint64_t *header(ma_allocator *a, uint64_t addr)
{
    return (uint64_t *)(void *)at(a, addr - 8);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_blocks(const ma_block *b, void *ctx)
{
    (void)b;
    ++*(uint64_t *)ctx;
    return 0;
}

/* ---- arguments ------------------------------------------------------------ */

/* A NULL handle or out-parameter is MA_EINVAL naming the call; the
 * accessors of a NULL handle answer without failing. */
static void test_null_arguments(void)
{
    edges_current = "NULL arguments";
    ma_allocator *a = make("buddy", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, x = 0;
    ma_stats st;
    ma_block blk;
    char buf[4] = "abc";
    EXPECT(ma_malloc(NULL, 8, &p) == MA_EINVAL && said("ma_malloc: a required argument is NULL"));
    EXPECT(ma_malloc(a, 8, NULL) == MA_EINVAL && said("ma_malloc"));
    EXPECT(ma_malloc_r(NULL, 8) == -(int64_t)MA_EINVAL);
    EXPECT(ma_memalign(NULL, 16, 8, &p) == MA_EINVAL && said("ma_memalign"));
    EXPECT(ma_memalign(a, 16, 8, NULL) == MA_EINVAL && said("ma_memalign"));
    EXPECT(ma_calloc(NULL, 1, 8, &p) == MA_EINVAL && said("ma_calloc"));
    EXPECT(ma_calloc(a, 1, 8, NULL) == MA_EINVAL && said("ma_calloc"));
    EXPECT(ma_realloc(NULL, MA_NULL, 8, &p) == MA_EINVAL && said("ma_realloc"));
    EXPECT(ma_realloc(a, MA_NULL, 8, NULL) == MA_EINVAL && said("ma_realloc"));
    EXPECT(ma_free(NULL, 0) == MA_EINVAL && said("ma_free"));
    EXPECT(ma_usable_size(NULL, 0, &x) == MA_EINVAL && said("ma_usable_size"));
    EXPECT(ma_usable_size(a, 0, NULL) == MA_EINVAL && said("ma_usable_size"));
    EXPECT(ma_read(NULL, 0, 0, buf, 1) == MA_EINVAL && said("ma_read"));
    EXPECT(ma_read(a, 0, 0, NULL, 1) == MA_EINVAL && said("ma_read"));
    EXPECT(ma_write(NULL, 0, 0, buf, 1) == MA_EINVAL && said("ma_write"));
    EXPECT(ma_write(a, 0, 0, NULL, 1) == MA_EINVAL && said("ma_write"));
    EXPECT(ma_get_stats(NULL, &st) == MA_EINVAL && said("ma_get_stats"));
    EXPECT(ma_get_stats(a, NULL) == MA_EINVAL && said("ma_get_stats"));
    EXPECT(ma_walk(NULL, count_blocks, &x) == MA_EINVAL && said("ma_walk"));
    EXPECT(ma_walk(a, NULL, &x) == MA_EINVAL && said("ma_walk"));
    EXPECT(ma_blocks(a, &blk, 1, NULL) == MA_EINVAL && said("ma_blocks"));
    EXPECT(ma_blocks(a, NULL, 1, &x) == MA_EINVAL && said("ma_blocks"));
    EXPECT(ma_blocks(NULL, &blk, 1, &x) == MA_EINVAL && said("ma_walk"));
    EXPECT(ma_check(NULL) == MA_EINVAL && said("ma_check"));
    EXPECT(ma_reset(NULL) == MA_EINVAL && said("ma_reset"));
    EXPECT(ma_close(NULL) == MA_EINVAL && said("ma_close"));
    EXPECT(ma_fork_prepare(NULL) == MA_EINVAL && said("ma_fork_prepare"));
    EXPECT(ma_fork_parent(NULL) == MA_EINVAL && said("ma_fork_parent"));
    EXPECT(ma_fork_child(NULL) == MA_EINVAL && said("ma_fork_child"));
    ma_destroy(NULL); /* fine */
    EXPECT(strcmp(ma_last_error(NULL), "no allocator") == 0);
    EXPECT(strcmp(ma_name(NULL), "") == 0);
    EXPECT(ma_arena_base(NULL) == NULL && ma_arena_size(NULL) == 0);
    EXPECT(strcmp(ma_name(a), "buddy") == 0 && ma_arena_size(a) == 65536);
    /* None of it touched the instance. */
    ma_stats now = stats_of(a);
    EXPECT(now.mallocs == 0 && now.live_blocks == 0 && now.failures == 0);
    /* A zero-byte read or write needs no buffer. */
    EXPECT(ma_malloc(a, 8, &p) == MA_OK);
    EXPECT(ma_read(a, p, 0, NULL, 0) == MA_OK && ma_write(a, p, 8, NULL, 0) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Every status has its sentence; a value outside the enum has one too. */
static void test_status_messages(void)
{
    edges_current = "ma_status_message";
    EXPECT(strcmp(ma_status_message(MA_OK), "success") == 0);
    EXPECT(strstr(ma_status_message(MA_EBUSY), "busy") != NULL);
    EXPECT(strstr(ma_status_message(MA_ECLOSED), "closed") != NULL);
    EXPECT(strcmp(ma_status_message((ma_status)99), "unknown status") == 0);
}

/* After ma_close every call is MA_ECLOSED naming the allocator; closing
 * again is fine, and the fork handlers still work until ma_destroy. */
static void test_closed_instance(void)
{
    edges_current = "closed";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = 5, x = 0;
    ma_stats st;
    ma_block blk;
    char buf[8];
    EXPECT(ma_malloc(a, 40, &p) == MA_OK);
    EXPECT(ma_close(a) == MA_OK);
    EXPECT(ma_arena_base(a) == NULL);
    EXPECT(ma_malloc(a, 8, &q) == MA_ECLOSED && said("operation on a closed best-ao allocator"));
    EXPECT(ma_memalign(a, 64, 8, &q) == MA_ECLOSED && q == MA_NULL);
    EXPECT(ma_calloc(a, 2, 8, &q) == MA_ECLOSED);
    EXPECT(ma_realloc(a, p, 80, &q) == MA_ECLOSED);
    EXPECT(ma_free(a, p) == MA_ECLOSED);
    EXPECT(ma_free(a, MA_NULL) == MA_OK); /* free(NULL) never looks */
    EXPECT(ma_usable_size(a, p, &x) == MA_ECLOSED);
    EXPECT(ma_read(a, p, 0, buf, 1) == MA_ECLOSED);
    EXPECT(ma_write(a, p, 0, buf, 1) == MA_ECLOSED);
    EXPECT(ma_get_stats(a, &st) == MA_ECLOSED);
    EXPECT(ma_walk(a, count_blocks, &x) == MA_ECLOSED);
    EXPECT(ma_blocks(a, &blk, 1, &x) == MA_ECLOSED && x == 0);
    EXPECT(ma_check(a) == MA_ECLOSED);
    EXPECT(ma_reset(a) == MA_ECLOSED && said("closed best-ao"));
    EXPECT(ma_close(a) == MA_OK);
    EXPECT(ma_fork_prepare(a) == MA_OK && ma_fork_parent(a) == MA_OK);
    EXPECT(ma_malloc_r(a, 8) == -(int64_t)MA_ECLOSED);
    ma_destroy(a);
}

/* ---- addresses, bounds, sizes ---------------------------------------------- */

/* An address that is not the start of a live block is MA_EADDR for free,
 * realloc, usable_size, read and write, and changes nothing. */
static void test_wrong_addresses(void)
{
    edges_current = "wrong addresses";
    ma_allocator *a = make("first", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL, r = 7, x = 0;
    EXPECT(ma_malloc(a, 40, &p) == MA_OK && ma_malloc(a, 24, &q) == MA_OK);
    EXPECT(ma_write(a, p, 0, "payload", 7) == MA_OK);
    EXPECT(ma_free(a, q) == MA_OK);
    ma_stats before = stats_of(a);
    char buf[8] = {0};
    const uint64_t bad[] = {p + 16, q, 0, 12345, MA_NULL - 16};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(ma_free(a, bad[i]) == MA_EADDR && said("free(0x") && said("not the start of a live block"));
        r = 7;
        EXPECT(ma_realloc(a, bad[i], 64, &r) == MA_EADDR && r == MA_NULL && said("realloc(0x"));
        EXPECT(ma_usable_size(a, bad[i], &x) == MA_EADDR && said("usable_size(0x"));
        EXPECT(ma_read(a, bad[i], 0, buf, 1) == MA_EADDR && said("read(0x"));
        EXPECT(ma_write(a, bad[i], 0, buf, 1) == MA_EADDR && said("write(0x"));
    }
    ma_stats after = stats_of(a);
    EXPECT(same_stats(&before, &after));
    EXPECT(ma_read(a, p, 0, buf, 7) == MA_OK && memcmp(buf, "payload", 7) == 0);
    EXPECT(ma_check(a) == MA_OK);
    /* realloc(MA_NULL, n) is malloc(n), realloc(p, 0) is free(p). */
    EXPECT(ma_realloc(a, MA_NULL, 32, &r) == MA_OK && r != MA_NULL);
    EXPECT(ma_realloc(a, r, 0, &x) == MA_OK && x == MA_NULL);
    EXPECT(ma_free(a, MA_NULL) == MA_OK);
    after = stats_of(a);
    EXPECT(after.mallocs == before.mallocs + 1 && after.frees == before.frees + 1);
    EXPECT(after.live_blocks == 1 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Reads and writes are bounded by the usable size: past it, or with an
 * offset + length that overflows, MA_ERANGE and no byte moves. */
static void test_read_write_bounds(void)
{
    edges_current = "bounds";
    ma_allocator *a = make("buddy", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, usable = 0;
    EXPECT(ma_malloc(a, 20, &p) == MA_OK && ma_usable_size(a, p, &usable) == MA_OK);
    EXPECT(usable == 32); /* a buddy block of 32 bytes, no header */
    unsigned char fill[32], back[32];
    memset(fill, 'x', sizeof fill);
    EXPECT(ma_write(a, p, 0, fill, 32) == MA_OK);
    EXPECT(ma_write(a, p, 0, "y", 33) == MA_ERANGE &&
           said("write of 33 bytes at offset 0") && said("passes its usable size 32"));
    EXPECT(ma_write(a, p, 33, "y", 0) == MA_ERANGE && said("at offset 33"));
    EXPECT(ma_write(a, p, 16, fill, 17) == MA_ERANGE);
    EXPECT(ma_read(a, p, 8, back, UINT64_MAX) == MA_ERANGE && said("read of"));
    EXPECT(ma_read(a, p, UINT64_MAX, back, 1) == MA_ERANGE);
    EXPECT(ma_write(a, p, 32, fill, 0) == MA_OK); /* the end itself is fine */
    EXPECT(ma_read(a, p, 0, back, 32) == MA_OK && memcmp(back, fill, 32) == 0);
    EXPECT(ma_read(a, p, 31, back, 1) == MA_OK && back[0] == 'x');
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* Requests beyond 2^62 bytes, alignments that are not powers of two and an
 * overflowing calloc are refused; the out-of-memory ones count a failure. */
static void test_sizes_and_alignments(void)
{
    edges_current = "sizes";
    ma_allocator *a = make("tlsf", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = 5;
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_write(a, p, 0, "keep", 4) == MA_OK);
    ma_stats before = stats_of(a);
    EXPECT(ma_malloc(a, UINT64_C(1) << 63, &q) == MA_ENOMEM && q == MA_NULL &&
           said("request of 9223372036854775808 bytes is too large"));
    q = 5;
    EXPECT(ma_memalign(a, UINT64_C(1) << 63, 16, &q) == MA_ENOMEM && q == MA_NULL);
    q = 5;
    EXPECT(ma_memalign(a, 48, 16, &q) == MA_EINVAL && q == MA_NULL &&
           said("memalign: alignment 48 is not a power of two"));
    EXPECT(ma_memalign(a, 0, 16, &q) == MA_EINVAL && said("alignment 0"));
    q = 5;
    EXPECT(ma_calloc(a, UINT64_C(1) << 33, UINT64_C(1) << 32, &q) == MA_ENOMEM &&
           q == MA_NULL && said("calloc(8589934592, 4294967296): the size overflows"));
    q = 5;
    EXPECT(ma_realloc(a, p, UINT64_C(1) << 63, &q) == MA_ENOMEM && q == MA_NULL &&
           said("too large"));
    EXPECT(ma_malloc_r(a, UINT64_C(1) << 63) == -(int64_t)MA_ENOMEM);
    q = 5;
    EXPECT(ma_calloc(a, 1, UINT64_C(1) << 63, &q) == MA_ENOMEM && q == MA_NULL && said("too large"));
    ma_stats after = stats_of(a);
    EXPECT(after.mallocs == before.mallocs + 5 && after.failures == before.failures + 6);
    EXPECT(after.reallocs == before.reallocs + 1 && after.live_blocks == 1);
    EXPECT(after.requested_bytes == before.requested_bytes);
    char back[4];
    EXPECT(ma_read(a, p, 0, back, 4) == MA_OK && memcmp(back, "keep", 4) == 0);
    /* Alignments below 16 mean 16; calloc of nothing is a block. */
    EXPECT(ma_memalign(a, 1, 8, &q) == MA_OK && q % 16 == 0 && ma_free(a, q) == MA_OK);
    EXPECT(ma_calloc(a, 0, 8, &q) == MA_OK && ma_free(a, q) == MA_OK);
    EXPECT(ma_calloc(a, 8, 0, &q) == MA_OK && ma_free(a, q) == MA_OK);
    int64_t r = ma_malloc_r(a, 8);
    EXPECT(r >= 0 && ma_free(a, (uint64_t)r) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- inspection ---------------------------------------------------------------- */

static int stop_at_first(const ma_block *b, void *ctx)
{
    *(ma_block *)ctx = *b;
    return 1;
}

/* ma_blocks copies at most `capacity` blocks but counts them all; a walk
 * stops when its callback says so; the system allocator cannot walk. */
static void test_blocks_capacity(void)
{
    edges_current = "blocks";
    ma_allocator *a = make("buddy", "arena_size=1K,min_block=64");
    if (!a)
        return;
    uint64_t p[3], n = 0;
    for (int i = 0; i < 3; i++)
        EXPECT(ma_malloc(a, 50, &p[i]) == MA_OK);
    /* 1 KiB: 64-byte blocks at 0, 64, 128 allocated; free 64 + 256 + 512. */
    EXPECT(ma_blocks(a, NULL, 0, &n) == MA_OK && n == 6);
    ma_block two[2];
    memset(two, 0, sizeof two);
    n = 0;
    EXPECT(ma_blocks(a, two, 2, &n) == MA_OK && n == 6);
    EXPECT(two[0].offset == 0 && two[0].allocated == 1 && two[0].requested == 50);
    EXPECT(two[1].offset == 64 && two[1].allocated == 1 && two[1].size == 64);
    ma_block first;
    memset(&first, 0, sizeof first);
    EXPECT(ma_walk(a, stop_at_first, &first) == MA_OK && first.address == p[0]);
    ma_destroy(a);

    ma_allocator *s = make("system", "");
    if (!s)
        return;
    EXPECT(ma_walk(s, count_blocks, &n) == MA_EUNSUPPORTED && said("system cannot walk its heap"));
    n = 9;
    EXPECT(ma_blocks(s, two, 2, &n) == MA_EUNSUPPORTED && n == 0);
    EXPECT(ma_check(s) == MA_OK); /* nothing to cross-check the record with */
    ma_destroy(s);
}

/* ---- callbacks and threads ------------------------------------------------------ */

struct inside {
    ma_allocator *a, *other;
    int ran;
};

/* From inside a walk callback: calls on the same instance are MA_EBUSY
 * and change nothing; ma_destroy does nothing; another instance works. */
static int call_back_in(const ma_block *b, void *ctx)
{
    struct inside *in = ctx;
    if (in->ran++)
        return 1;
    (void)b;
    uint64_t q = 5, x = 0;
    EXPECT(ma_malloc(in->a, 8, &q) == MA_EBUSY && said("malloc refused: called from inside the buddy"));
    EXPECT(ma_free(in->a, b->address) == MA_EBUSY && said("free refused"));
    EXPECT(ma_check(in->a) == MA_EBUSY && ma_reset(in->a) == MA_EBUSY);
    EXPECT(ma_walk(in->a, count_blocks, &x) == MA_EBUSY && x == 0);
    EXPECT(ma_close(in->a) == MA_EBUSY && said("close refused"));
    char buf[4] = "abc";
    q = 5;
    EXPECT(ma_memalign(in->a, 64, 8, &q) == MA_EBUSY && q == MA_NULL && said("memalign refused"));
    EXPECT(ma_calloc(in->a, 1, 8, &q) == MA_EBUSY && said("calloc refused"));
    EXPECT(ma_realloc(in->a, b->address, 64, &q) == MA_EBUSY && said("realloc refused"));
    EXPECT(ma_usable_size(in->a, b->address, &x) == MA_EBUSY && said("usable_size refused"));
    EXPECT(ma_read(in->a, b->address, 0, buf, 1) == MA_EBUSY && said("read refused"));
    EXPECT(ma_write(in->a, b->address, 0, buf, 1) == MA_EBUSY && said("write refused"));
    ma_stats st;
    EXPECT(ma_get_stats(in->a, &st) == MA_EBUSY && said("stats refused"));
    ma_destroy(in->a); /* in use: nothing happens */
    EXPECT(ma_malloc(in->other, 8, &q) == MA_OK && ma_free(in->other, q) == MA_OK);
    /* A fork from inside the callback: the lock is this thread's already. */
    EXPECT(ma_fork_prepare(in->a) == MA_OK && ma_fork_parent(in->a) == MA_OK);
    return 0;
}

static void test_calls_from_a_callback(void)
{
    edges_current = "callback";
    ma_allocator *a = make("buddy", "arena_size=64K");
    ma_allocator *o = make("buddy", "arena_size=64K");
    if (!a || !o)
        return;
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, 30, &p) == MA_OK);
    struct inside in = {a, o, 0};
    EXPECT(ma_walk(a, call_back_in, &in) == MA_OK && in.ran == 2);
    ma_stats st = stats_of(a);
    EXPECT(st.live_blocks == 1 && st.mallocs == 1 && st.frees == 0);
    EXPECT(ma_free(a, p) == MA_OK && ma_check(a) == MA_OK); /* usable again */
    ma_destroy(a);
    ma_destroy(o);
}

struct waiter {
    ma_allocator *a;
    atomic_int in_callback, started, done;
    uint64_t addr;
    ma_status st;
};

static void *call_from_other_thread(void *p)
{
    struct waiter *w = p;
    for (int i = 0; i < 2000 && !atomic_load(&w->in_callback); i++)
        pause_ms(1);
    atomic_store(&w->started, 1);
    w->st = ma_malloc(w->a, 24, &w->addr);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Holds the walk (and the lock) until the other thread has called in, then
 * a little longer: its call must wait, not fail. */
static int hold_while_other_calls(const ma_block *b, void *ctx)
{
    (void)b;
    struct waiter *w = ctx;
    atomic_store(&w->in_callback, 1);
    for (int i = 0; i < 2000 && !atomic_load(&w->started); i++)
        pause_ms(1);
    pause_ms(50);
    EXPECT(!atomic_load(&w->done));
    return 1;
}

/* Another thread's call during a walk callback waits for the walk. */
static void test_other_thread_waits_for_a_callback(void)
{
    edges_current = "other thread";
    ma_allocator *a = make("buddy", "arena_size=64K");
    if (!a)
        return;
    struct waiter w = {a, 0, 0, 0, MA_NULL, MA_EINVAL};
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, call_from_other_thread, &w) == 0);
    EXPECT(ma_walk(a, hold_while_other_calls, &w) == MA_OK);
    pthread_join(t, NULL);
    EXPECT(w.st == MA_OK && w.addr != MA_NULL);
    EXPECT(stats_of(a).live_blocks == 1 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- fork ---------------------------------------------------------------------- */

/* The child's side: the instance works after ma_fork_child. */
static int child_uses(ma_allocator *a, uint64_t p)
{
    uint64_t q = MA_NULL;
    char back[5] = {0};
    int ok = ma_read(a, p, 0, back, 5) == MA_OK && memcmp(back, "fork", 5) == 0 &&
             ma_malloc(a, 64, &q) == MA_OK && ma_free(a, q) == MA_OK &&
             ma_free(a, p) == MA_OK && ma_check(a) == MA_OK;
    ma_destroy(a);
    return ok ? 0 : 3;
}

/* exit(), not _exit(): the child's coverage counts too. */
static int wait_child(pid_t pid)
{
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct fork_ctx {
    ma_allocator *a;
    uint64_t p;
    pid_t pid;
};

/* fork() from inside the instance's own walk callback: the child keeps the
 * lock (held again, for the walk that goes on there) until the walk ends. */
static int fork_inside(const ma_block *b, void *ctx)
{
    (void)b;
    struct fork_ctx *f = ctx;
    EXPECT(ma_fork_prepare(f->a) == MA_OK);
    f->pid = fork();
    if (f->pid == 0) {
        if (ma_fork_child(f->a) != MA_OK)
            exit(4);
        uint64_t q;
        if (ma_malloc(f->a, 8, &q) != MA_EBUSY) /* still inside the walk */
            exit(5);
        return 1;
    }
    EXPECT(ma_fork_parent(f->a) == MA_OK);
    return 1;
}

static void test_fork(void)
{
    edges_current = "fork";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    /* Without ma_fork_prepare first: refused, nothing done. */
    EXPECT(ma_fork_parent(a) == MA_EINVAL && said("ma_fork_parent without ma_fork_prepare"));
    EXPECT(ma_fork_child(a) == MA_EINVAL && said("ma_fork_child without ma_fork_prepare"));
    uint64_t p = MA_NULL;
    EXPECT(ma_malloc(a, 5, &p) == MA_OK && ma_write(a, p, 0, "fork", 5) == MA_OK);
    fflush(stdout);
    fflush(stderr);

    EXPECT(ma_fork_prepare(a) == MA_OK);
    pid_t pid = fork();
    if (pid == 0) {
        if (ma_fork_child(a) != MA_OK)
            exit(2);
        exit(child_uses(a, p));
    }
    EXPECT(ma_fork_parent(a) == MA_OK);
    EXPECT(wait_child(pid) == 0);
    EXPECT(ma_fork_parent(a) == MA_EINVAL); /* used up */

    struct fork_ctx f = {a, p, -1};
    EXPECT(ma_walk(a, fork_inside, &f) == MA_OK);
    if (f.pid == 0) /* the child, after its walk */
        exit(child_uses(a, p));
    EXPECT(wait_child(f.pid) == 0);

    /* The parent's instance is untouched by the children's work. */
    char back[5] = {0};
    EXPECT(ma_read(a, p, 0, back, 5) == MA_OK && memcmp(back, "fork", 5) == 0);
    EXPECT(stats_of(a).live_blocks == 1 && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- memory refused ------------------------------------------------------------- */

/* Creation with the n-th malloc/calloc/mmap refused, for every n until it
 * succeeds: each failure is clean (MA_ENOMEM or MA_ESYS, *out NULL, nothing
 * leaked: ASan's leak check), and the first success is a working instance. */
static void test_creation_refused(void)
{
    const char *names[] = {"buddy", "best-ao", "first-fifo", "next-lifo", "tlsf", "zones"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        edges_current = names[k];
        int failed = 0, made = 0;
        for (long n = 0; n < 40 && !made; n++) {
            ma_allocator *a = (ma_allocator *)&n;
            fail_after(n);
            ma_status st = ma_create(names[k], "arena_size=1M", &a);
            fail_never();
            if (st == MA_OK) {
                made = 1;
                uint64_t p = MA_NULL;
                EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_free(a, p) == MA_OK);
                EXPECT(ma_check(a) == MA_OK);
                ma_destroy(a);
            } else {
                failed++;
                EXPECT(a == NULL);
                EXPECT((st == MA_ENOMEM && said("no memory")) ||
                       (st == MA_ESYS && said("mmap refused")));
            }
        }
        EXPECT(made && failed >= 3); /* the instance, the arena, the record */
    }
}

/* The record of live allocations starts with 64 slots and grows before its
 * load passes 70%: the 45th live allocation needs it to grow.  Without
 * memory for that, the allocation is MA_ENOMEM and changes nothing but the
 * counters of calls and failures. */
static void test_record_growth_refused(void)
{
    edges_current = "record growth";
    ma_allocator *a = make("buddy", "arena_size=64K");
    if (!a)
        return;
    uint64_t p[46];
    for (int i = 0; i < 44; i++)
        EXPECT(ma_malloc(a, 16, &p[i]) == MA_OK);
    ma_stats before = stats_of(a);
    uint64_t q = 5;
    fail_after(0);
    EXPECT(ma_malloc(a, 16, &q) == MA_ENOMEM && q == MA_NULL &&
           said("no memory for the allocation record"));
    fail_never();
    ma_stats after = stats_of(a);
    EXPECT(after.mallocs == before.mallocs + 1 && after.failures == before.failures + 1);
    after.mallocs--, after.failures--;
    EXPECT(same_stats(&before, &after));
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_malloc(a, 16, &p[44]) == MA_OK && ma_malloc(a, 16, &p[45]) == MA_OK);
    for (int i = 0; i < 46; i++)
        EXPECT(ma_free(a, p[i]) == MA_OK);
    EXPECT(ma_check(a) == MA_OK && stats_of(a).live_blocks == 0);
    ma_destroy(a);
}

/* ma_reset without memory for a fresh record empties the old one instead. */
static void test_reset_without_memory(void)
{
    edges_current = "reset";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    uint64_t p;
    for (int i = 0; i < 50; i++)
        EXPECT(ma_malloc(a, 100, &p) == MA_OK);
    fail_after(0);
    EXPECT(ma_reset(a) == MA_OK);
    fail_never();
    ma_stats st = stats_of(a);
    EXPECT(st.live_blocks == 0 && st.mallocs == 0 && st.requested_bytes == 0);
    EXPECT(st.peak_requested_bytes == 0 && st.allocated_bytes == 0);
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_malloc(a, 100, &p) == MA_OK && ma_free(a, p) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* ---- corruption ---------------------------------------------------------------- */

/* A live block whose header lost its allocated bit (free list): the
 * allocator refuses to act on it, so core's free, realloc, usable_size,
 * read and write report MA_ECORRUPT and keep the record as it was. */
static void test_allocator_refuses_a_live_block(void)
{
    edges_current = "cleared F_ALLOC";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL, r = 5, x = 0;
    EXPECT(ma_malloc(a, 40, &p) == MA_OK && ma_malloc(a, 40, &q) == MA_OK);
    ma_stats before = stats_of(a);
    uint64_t *h = header(a, p);
    EXPECT(*h & F_ALLOC);
    *h &= ~F_ALLOC;
    char buf[4];
    EXPECT(ma_free(a, p) == MA_ECORRUPT && said("is a live allocation, but the heap has no allocated block there"));
    EXPECT(ma_realloc(a, p, 400, &r) == MA_ECORRUPT && r == MA_NULL);
    EXPECT(ma_usable_size(a, p, &x) == MA_ECORRUPT);
    EXPECT(ma_read(a, p, 0, buf, 4) == MA_ECORRUPT);
    EXPECT(ma_write(a, p, 0, buf, 4) == MA_ECORRUPT);
    EXPECT(ma_check(a) == MA_ECORRUPT);
    *h |= F_ALLOC;
    ma_stats after = stats_of(a);
    EXPECT(after.reallocs == before.reallocs + 1 && after.failures == before.failures);
    after.reallocs--;
    EXPECT(same_stats(&before, &after));
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/*
 * Headers rewritten so that the free list's own check still passes (the
 * blocks tile the heap, counts and bytes unchanged) but a block no longer
 * holds its request: A (64 bytes, 50 requested) and B (32 bytes) are
 * adjacent; A's header says 32 and a 64-byte block starts in A's middle,
 * over the rest of A and all of B.
 */
static void test_block_smaller_than_its_request(void)
{
    edges_current = "record vs walk";
    ma_allocator *a = make("best", "arena_size=64K");
    if (!a)
        return;
    uint64_t pa = MA_NULL, pb = MA_NULL;
    EXPECT(ma_malloc(a, 50, &pa) == MA_OK && ma_malloc(a, 8, &pb) == MA_OK);
    EXPECT(pb == pa + 64 && (*header(a, pa) & ~UINT64_C(15)) == 64);
    EXPECT((*header(a, pb) & ~UINT64_C(15)) == 32);
    uint64_t *ha = header(a, pa), save_a = *ha;
    uint64_t *mid = header(a, pa + 32), save_mid = *mid;
    *ha = 32 | (save_a & 15);
    *mid = 64 | F_ALLOC | F_PREV;
    char want[80];
    snprintf(want, sizeof want, "block at 0x%llx (32 bytes) is smaller than the "
             "50 bytes requested", (unsigned long long)(pa - 16));
    EXPECT(ma_check(a) == MA_ECORRUPT && said(want));
    *ha = save_a;
    *mid = save_mid;
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, pa) == MA_OK && ma_free(a, pb) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

/* The slot of the record holding addr. */
static ma_live_entry *slot_of(ma_allocator *a, uint64_t addr)
{
    for (uint64_t i = 0; i <= a->live.mask; i++)
        if (a->live.slots[i].addr == addr)
            return &a->live.slots[i];
    return NULL;
}

/* The record itself corrupted, one field at a time: ma_check names each. */
static void test_record_corruption(void)
{
    edges_current = "record corruption";
    ma_allocator *a = make("buddy", "arena_size=64K");
    if (!a)
        return;
    uint64_t p = MA_NULL, q = MA_NULL;
    EXPECT(ma_malloc(a, 40, &p) == MA_OK && ma_malloc(a, 100, &q) == MA_OK);
    EXPECT(ma_check(a) == MA_OK);
    ma_livetab *t = &a->live;

    t->count++;
    EXPECT(ma_check(a) == MA_ECORRUPT && said("allocation record counts 3 entries, holds 2"));
    t->count--;
    EXPECT(ma_check(a) == MA_OK);

    /* An entry moved to an empty slot past an empty one (its old slot):
     * a lookup from its home stops before it. */
    ma_live_entry *e = slot_of(a, p);
    if (e) {
        ma_live_entry saved = *e;
        uint64_t j = (uint64_t)(e - t->slots);
        e->addr = MA_NULL;
        do
            j = (j + 1) & t->mask;
        while (t->slots[j].addr != MA_NULL);
        t->slots[j] = saved;
        char want[64];
        snprintf(want, sizeof want, "allocation record: 0x%llx is unreachable",
                 (unsigned long long)p);
        EXPECT(ma_check(a) == MA_ECORRUPT && said(want));
        t->slots[j].addr = MA_NULL;
        *e = saved;
        EXPECT(ma_check(a) == MA_OK);
    }

    /* A block missing from the record: the check names it, and a walk
     * shows it allocated with nothing requested. */
    e = slot_of(a, q);
    if (e) {
        ma_livetab_remove(t, e);
        char want[80];
        snprintf(want, sizeof want, "allocated block at 0x%llx (address 0x%llx) "
                 "was never handed out", (unsigned long long)q, (unsigned long long)q);
        EXPECT(ma_check(a) == MA_ECORRUPT && said(want));
        ma_block bl[16];
        uint64_t n = 0;
        EXPECT(ma_blocks(a, bl, 16, &n) == MA_OK && n >= 3 && n <= 16);
        int seen = 0;
        for (uint64_t i = 0; i < n && i < 16; i++)
            if (bl[i].address == q)
                seen = bl[i].allocated == 1 && bl[i].requested == 0 && bl[i].size == 128;
        EXPECT(seen);
        ma_livetab_put(t, q, 100);
    }
    EXPECT(ma_check(a) == MA_OK);

    /* A record of one live allocation more than the walk shows. */
    ma_livetab_put(t, 8192, 0); /* a free block's address */
    EXPECT(ma_check(a) == MA_ECORRUPT && said("2 allocated blocks, but 3 live allocations"));
    ma_livetab_remove(t, ma_live_find(t, 8192));
    EXPECT(ma_check(a) == MA_OK);

    /* requested larger than the block; the totals off. */
    e = slot_of(a, p);
    if (e) {
        e->requested = 65;
        EXPECT(ma_check(a) == MA_ECORRUPT && said("(64 bytes) is smaller than the 65 bytes requested"));
        e->requested = 40;
    }
    a->requested_bytes++;
    EXPECT(ma_check(a) == MA_ECORRUPT && said("requested_bytes is 141, the blocks hold 140"));
    a->requested_bytes--;
    uint64_t peak = a->peak_requested;
    a->peak_requested = 100;
    EXPECT(ma_check(a) == MA_ECORRUPT && said("peak_requested_bytes below current"));
    a->peak_requested = peak;
    EXPECT(ma_check(a) == MA_OK);
    EXPECT(ma_free(a, p) == MA_OK && ma_free(a, q) == MA_OK && ma_check(a) == MA_OK);
    ma_destroy(a);
}

int main(void)
{
    test_null_arguments();
    test_status_messages();
    test_closed_instance();
    test_wrong_addresses();
    test_read_write_bounds();
    test_sizes_and_alignments();
    test_blocks_capacity();
    test_calls_from_a_callback();
    test_other_thread_waits_for_a_callback();
    test_fork();
    test_creation_refused();
    test_record_growth_refused();
    test_reset_without_memory();
    test_allocator_refuses_a_live_block();
    test_block_smaller_than_its_request();
    test_record_corruption();
    return edges_report();
}
