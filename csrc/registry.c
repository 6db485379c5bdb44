/*
 * registry.c -- every allocator by name: ma_create and the listing.
 *
 * Structure
 * ---------
 * One constant table, `entries`, holds every allocator: its name, aliases,
 * family, one-line description, its options (a constant table per family)
 * and a creator.  A creator receives the parsed values, one per option in
 * the order of the entry's option table, and calls the family's typed
 * create function (ma_buddy_create, ma_freelist_create, ma_system_create).
 * Entries of one family differ only in their `variant` (the free list's fit
 * and order), which the creator passes on.
 *
 * Invariants
 * ----------
 * - Nothing here is mutable: the tables are const, parsing works on the
 *   caller's text and a stack array of values.
 * - Names and aliases are unique across the table; option names are unique
 *   within an entry; an entry has at most MAX_OPTIONS options.
 * - Every option's default_text parses (by the same parser as the user's
 *   text) to its default_value.
 * - The typed create functions are the only place where values are
 *   range-checked; min and max here describe those checks for listing, and
 *   tests/c/test_core.c verifies that they agree.  The parser rejects only
 *   what is not a value of the option's type.
 * - A choice option (MA_OPT_CHOICE) has its words in `choice_words` (a
 *   table of its own, so that option_def keeps its shape); its value is the
 *   position of the word given, and its default_text is a word.
 * - Every entry also takes the debugging switches of debug.c, the
 *   `common_options` listed after its own (ma_registry_option's numbering
 *   and the parsed values continue past the entry's options), so an entry
 *   added to the table gets them without a change.
 */
#include "ma_internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_OPTIONS 16
#define KIB UINT64_C(1024)
#define GIB (KIB * KIB * KIB)
#define TIB (GIB * KIB)

typedef struct option_def {
    const char *name;
    ma_option_type type;
    const char *default_text;
    uint64_t default_value;
    uint64_t min, max;
    const char *description;
    int hidden;
} option_def;

typedef struct entry_def entry_def;
typedef ma_status (*creator_fn)(const entry_def *e, const uint64_t *values,
                                ma_allocator **out);

struct entry_def {
    const char *name;
    const char *aliases; /* comma-separated, "" for none */
    const char *family;
    const char *description;
    const option_def *options;
    size_t n_options;
    creator_fn create;
    int variant[2]; /* family-specific constants (the free list: fit, order) */
};

/* ---- buddy ---------------------------------------------------------------- */

static const option_def buddy_options[] = {
    {"arena_size", MA_OPT_SIZE, "1M", KIB * KIB, KIB, TIB,
     "address space reserved: a power of two from 1 KiB to 1 TiB", 0},
    {"min_block", MA_OPT_SIZE, "16", 16, 16, TIB,
     "smallest block: a power of two from 16 bytes to the arena size", 0},
};

static ma_status create_buddy(const entry_def *e, const uint64_t *v,
                              ma_allocator **out)
{
    (void)e;
    return ma_buddy_create(v[0], v[1], out);
}

/* ---- the free-list family -------------------------------------------------- */

/* In the order create_freelist reads them. */
static const option_def freelist_options[] = {
    {"arena_size", MA_OPT_SIZE, "1G", GIB, 4 * KIB, 32 * GIB,
     "address space reserved: a multiple of 16 from 4 KiB to 32 GiB", 0},
    {"growth", MA_OPT_SIZE, "4K", 4 * KIB, 16, 32 * GIB,
     "heap growth step: a multiple of 16 from 16 bytes to the arena size", 0},
    {"prealloc", MA_OPT_SIZE, "0", 0, 0, 32 * GIB,
     "heap bytes taken at creation: 0, or a multiple of 16 from min_block to "
     "the arena size", 0},
    {"min_block", MA_OPT_SIZE, "32", 32, 32, 32 * GIB,
     "smallest block: a multiple of 16 from 32 bytes to the arena size", 0},
    {"trim", MA_OPT_BOOLEAN, "0", 0, 0, 1,
     "1: give the heap's free top back (never below prealloc)", 0},
    {"stamp_limit", MA_OPT_INTEGER, "0", 0, 0,
     UINT32_MAX - (UINT32_C(1) << 20),
     "tests only: renumber or compact stamps from this many on (0: built-in)", 1},
};

static ma_status create_freelist(const entry_def *e, const uint64_t *v,
                                 ma_allocator **out)
{
    ma_freelist_config c = ma_freelist_config_default();
    c.fit = e->variant[0];
    c.order = e->variant[1];
    c.arena_size = v[0];
    c.growth = v[1];
    c.prealloc = v[2];
    c.min_block = v[3];
    c.trim = (int)v[4]; /* a boolean: 0 or 1 */
    c.stamp_limit = v[5];
    return ma_freelist_create(&c, out);
}

#define FREELIST(nm, al, fit, order, desc)                                   \
    {nm, al, "free-list", desc, freelist_options,                             \
     sizeof freelist_options / sizeof freelist_options[0], create_freelist,  \
     {fit, order}}

/* ---- zones ------------------------------------------------------------------ */

/* In the order create_zones reads them. */
static const option_def zones_options[] = {
    {"arena_size", MA_OPT_SIZE, "1G", GIB, KIB * KIB, 64 * GIB,
     "address space reserved: a multiple of the page size from 1 MiB to "
     "64 GiB that holds the largest zone (100 blocks of small_max)", 0},
    {"tiny_max", MA_OPT_SIZE, "128", 128, 16, 1024,
     "largest TINY request: a multiple of 16 from 16 to 1 KiB", 0},
    {"small_max", MA_OPT_SIZE, "4K", 4 * KIB, 256, 64 * KIB,
     "largest SMALL request (larger ones are LARGE): a multiple of 16 from "
     "256 bytes to 64 KiB, above tiny_max", 0},
    {"classes", MA_OPT_CHOICE, "fine", MA_ZONES_FINE, 0, 1,
     "size classes: fine (16-byte steps to tiny_max, then 4 per doubling) or "
     "pow2 (powers of two; tiny_max and small_max must be ones)", 0},
};

static ma_status create_zones(const entry_def *e, const uint64_t *v,
                              ma_allocator **out)
{
    (void)e;
    return ma_zones_create(v[0], v[1], v[2], (int)v[3], out); /* v[3]: 0 or 1 */
}

/* ---- TLSF ----------------------------------------------------------------------- */

/* In the order create_tlsf reads them; the first four as the free list's. */
static const option_def tlsf_options[] = {
    {"arena_size", MA_OPT_SIZE, "1G", GIB, 4 * KIB, 32 * GIB,
     "address space reserved: a multiple of 16 from 4 KiB to 32 GiB", 0},
    {"growth", MA_OPT_SIZE, "4K", 4 * KIB, 16, 32 * GIB,
     "heap growth step: a multiple of 16 from 16 bytes to the arena size", 0},
    {"prealloc", MA_OPT_SIZE, "0", 0, 0, 32 * GIB,
     "heap bytes taken at creation: 0, or a multiple of 16 from 32 bytes to "
     "the arena size", 0},
    {"trim", MA_OPT_BOOLEAN, "0", 0, 0, 1,
     "1: give the heap's free top back (never below prealloc)", 0},
    {"sl_bits", MA_OPT_INTEGER, "5", 5, 1, 6,
     "2^sl_bits second-level size classes per power of two: 1 to 6", 0},
};

static ma_status create_tlsf(const entry_def *e, const uint64_t *v,
                             ma_allocator **out)
{
    (void)e;
    ma_tlsf_config c = ma_tlsf_config_default();
    c.arena_size = v[0];
    c.growth = v[1];
    c.prealloc = v[2];
    c.trim = (int)v[3]; /* a boolean: 0 or 1 */
    c.sl_bits = v[4];
    return ma_tlsf_create(&c, out);
}

/* ---- system ----------------------------------------------------------------- */

static ma_status create_system(const entry_def *e, const uint64_t *v,
                               ma_allocator **out)
{
    (void)e;
    (void)v;
    return ma_system_create(out);
}

/* ---- the words of choice options ------------------------------------------- */

static const struct {
    const option_def *option;
    const char *words; /* comma-separated, in the order of their values */
} choice_words[] = {
    {&zones_options[3], "fine,pow2"},
};

/* The words of choice option o ("" for any other option). */
static const char *choices_of(const option_def *o)
{
    for (size_t k = 0; k < sizeof choice_words / sizeof choice_words[0]; k++)
        if (choice_words[k].option == o)
            return choice_words[k].words;
    return "";
}
/* ---- the debugging switches of every entry (debug.c) ----------------------------- */

/* In the order of ma_debug_options. */
static const option_def common_options[] = {
    {"scribble", MA_OPT_BOOLEAN, "0", 0, 0, 1,
     "debugging: fill fresh blocks with 0xaa and freed ones with 0x55", 0},
    {"check_every", MA_OPT_INTEGER, "0", 0, 0, UINT32_MAX,
     "debugging: the full check before every N-th allocation, realloc or "
     "free (0: never)", 0},
    {"canary", MA_OPT_BOOLEAN, "0", 0, 0, 1,
     "debugging: canary bytes after each block's request, verified by free, "
     "realloc and check", 0},
    {"asan", MA_OPT_BOOLEAN, "0", 0, 0, MA_HAVE_ASAN,
     "debugging: poison free memory for AddressSanitizer (builds with ASan "
     "only)", 0},
    {"valgrind", MA_OPT_BOOLEAN, "0", 0, 0, MA_HAVE_VALGRIND,
     "debugging: announce blocks to valgrind's memcheck (builds with "
     "valgrind/memcheck.h only)", 0},
};

#define N_COMMON (sizeof common_options / sizeof common_options[0])

/* ---- the table -------------------------------------------------------------- */

static const entry_def entries[] = {
    {"buddy", "", "buddy",
     "binary buddy: power-of-two blocks aligned to their size, split and merged",
     buddy_options, sizeof buddy_options / sizeof buddy_options[0],
     create_buddy, {0, 0}},
    FREELIST("best-ao", "best", MA_FIT_BEST, MA_ORDER_ADDRESS,
             "free list, best fit (smallest block that fits), address order"),
    FREELIST("best-lifo", "", MA_FIT_BEST, MA_ORDER_LIFO,
             "free list, best fit, ties to the most recently freed"),
    FREELIST("best-fifo", "", MA_FIT_BEST, MA_ORDER_FIFO,
             "free list, best fit, ties to the least recently freed"),
    FREELIST("first-ao", "first", MA_FIT_FIRST, MA_ORDER_ADDRESS,
             "free list, first fit (lowest address that fits)"),
    FREELIST("first-lifo", "", MA_FIT_FIRST, MA_ORDER_LIFO,
             "free list, first fit, most recently freed first"),
    FREELIST("first-fifo", "", MA_FIT_FIRST, MA_ORDER_FIFO,
             "free list, first fit, least recently freed first"),
    FREELIST("next-ao", "next", MA_FIT_NEXT, MA_ORDER_ADDRESS,
             "free list, next fit (first fit from a roving pointer), address order"),
    FREELIST("next-lifo", "", MA_FIT_NEXT, MA_ORDER_LIFO,
             "free list, next fit, most recently freed first"),
    FREELIST("next-fifo", "", MA_FIT_NEXT, MA_ORDER_FIFO,
             "free list, next fit, least recently freed first"),
    FREELIST("worst-ao", "worst", MA_FIT_WORST, MA_ORDER_ADDRESS,
             "free list, worst fit (largest block), address order"),
    FREELIST("worst-lifo", "", MA_FIT_WORST, MA_ORDER_LIFO,
             "free list, worst fit, ties to the most recently freed"),
    FREELIST("worst-fifo", "", MA_FIT_WORST, MA_ORDER_FIFO,
             "free list, worst fit, ties to the least recently freed"),
    {"zones", "", "zones",
     "segregated TINY/SMALL zones of header-less size classes, LARGE page "
     "regions (the 42 malloc)",
     zones_options, sizeof zones_options / sizeof zones_options[0],
     create_zones, {0, 0}},
    {"tlsf", "", "tlsf",
     "two-level segregated fit: a good fit in O(1) through two bitmap levels",
     tlsf_options, sizeof tlsf_options / sizeof tlsf_options[0], create_tlsf,
     {0, 0}},
    {"system", "", "system",
     "the C library's malloc (no arena, cannot be walked): the speed baseline",
     NULL, 0, create_system, {0, 0}},
};

#define N_ENTRIES (sizeof entries / sizeof entries[0])

_Static_assert(sizeof buddy_options / sizeof buddy_options[0] + N_COMMON <= MAX_OPTIONS,
               "raise MAX_OPTIONS");
_Static_assert(sizeof freelist_options / sizeof freelist_options[0] + N_COMMON <= MAX_OPTIONS,
               "raise MAX_OPTIONS");
_Static_assert(sizeof zones_options / sizeof zones_options[0] + N_COMMON <= MAX_OPTIONS,
               "raise MAX_OPTIONS");
_Static_assert(sizeof tlsf_options / sizeof tlsf_options[0] + N_COMMON <= MAX_OPTIONS,
               "raise MAX_OPTIONS");

/* Option j of entry e: its own, then the common ones. */
static const option_def *option_at(const entry_def *e, size_t j)
{
    return j < e->n_options ? &e->options[j] : &common_options[j - e->n_options];
}

size_t ma_registry_count(void) { return N_ENTRIES; }

ma_status ma_registry_entry(size_t i, ma_registry_info *out)
{
    if (!out || i >= N_ENTRIES)
        return ma_fail(NULL, MA_EINVAL, "ma_registry_entry: no allocator "
                       "number %zu (there are %zu)", i, (size_t)N_ENTRIES);
    const entry_def *e = &entries[i];
    out->name = e->name;
    out->aliases = e->aliases;
    out->family = e->family;
    out->description = e->description;
    out->n_options = e->n_options + N_COMMON;
    return MA_OK;
}

ma_status ma_registry_option(size_t i, size_t j, ma_option_info *out)
{
    if (!out || i >= N_ENTRIES || j >= entries[i].n_options + N_COMMON)
        return ma_fail(NULL, MA_EINVAL, "ma_registry_option: no option %zu "
                       "of allocator number %zu", j, i);
    const option_def *o = option_at(&entries[i], j);
    out->name = o->name;
    out->type = o->type;
    out->default_text = o->default_text;
    out->default_value = o->default_value;
    out->min = o->min;
    out->max = o->max;
    out->description = o->description;
    out->hidden = o->hidden;
    out->choices = choices_of(o);
    out->debug = j >= entries[i].n_options;
    return MA_OK;
}

/* ---- lookup and parsing ------------------------------------------------------ */

/* Whether the comma-separated `list` holds `name`. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (end != NULL);
    }
    return false;
}

static ma_status find_entry(const char *name, size_t *index)
{
    if (!name)
        return ma_fail(NULL, MA_EINVAL, "ma_create: name is NULL");
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (strcmp(entries[i].name, name) == 0 || in_list(entries[i].aliases, name)) {
            *index = i;
            return MA_OK;
        }
    }
    char names[512];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < N_ENTRIES && used < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s%s%s",
                         i ? ", " : "", entries[i].name,
                         *entries[i].aliases ? ", " : "", entries[i].aliases);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return ma_fail(NULL, MA_EINVAL, "unknown allocator '%.64s'; choose one of: %s",
                   name, names);
}

/* The option names of entry e, for messages ("none" when it has none). */
static void option_names(const entry_def *e, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < e->n_options + N_COMMON && used < cap; j++) {
        if (option_at(e, j)->hidden)
            continue;
        int n = snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                         option_at(e, j)->name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (used == 0)
        snprintf(buf, cap, "none");
}

/* text[0 .. len) as one of the words of choice option o: its position. */
static ma_status parse_choice(const option_def *o, const char *text, size_t len,
                              uint64_t *value)
{
    uint64_t k = 0;
    const char *list = choices_of(o);
    for (const char *p = list; *p; k++) {
        const char *end = strchr(p, ',');
        size_t wlen = end ? (size_t)(end - p) : strlen(p);
        if (wlen == len && memcmp(p, text, len) == 0) {
            *value = k;
            return MA_OK;
        }
        p += wlen + (end != NULL);
    }
    char words[128]; /* the list with ", " between words */
    size_t n = 0;
    for (const char *c = list; *c && n + 3 < sizeof words; c++) {
        words[n++] = *c;
        if (*c == ',')
            words[n++] = ' ';
    }
    words[n] = '\0';
    return ma_fail(NULL, MA_EINVAL, "option %s=%.*s is not one of: %s",
                   o->name, len > 64 ? 64 : (int)len, text, words);
}

/* Parse text[0 .. len) as a value of option o; MA_EINVAL names the option. */
static ma_status parse_value(const option_def *o, const char *text, size_t len,
                             uint64_t *value)
{
    if (o->type == MA_OPT_CHOICE)
        return parse_choice(o, text, len, value);
    int shown = len > 64 ? 64 : (int)len;
    size_t digits = 0;
    uint64_t v = 0;
    while (digits < len && text[digits] >= '0' && text[digits] <= '9') {
        uint64_t d = (uint64_t)(text[digits] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ma_fail(NULL, MA_EINVAL, "option %s=%.*s is too large "
                           "(above 2^64 - 1)", o->name, shown, text);
        v = v * 10 + d;
        digits++;
    }
    unsigned shift = 0;
    size_t rest = len - digits;
    if (digits > 0 && rest == 1 && o->type == MA_OPT_SIZE) {
        switch (text[digits]) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        case 'T': case 't': shift = 40; break;
        default: break;
        }
        if (shift)
            rest = 0;
    }
    if (digits == 0 || rest != 0) {
        const char *what = o->type == MA_OPT_SIZE
            ? "a size (digits with an optional K, M, G or T suffix)"
            : o->type == MA_OPT_BOOLEAN ? "a boolean (0 or 1)"
                                        : "an integer (decimal digits)";
        return ma_fail(NULL, MA_EINVAL, "option %s=%.*s is not %s", o->name,
                       shown, text, what);
    }
    if (shift && v > UINT64_MAX >> shift)
        return ma_fail(NULL, MA_EINVAL, "option %s=%.*s is too large "
                       "(above 2^64 - 1)", o->name, shown, text);
    v <<= shift;
    if (o->type == MA_OPT_BOOLEAN && v > 1)
        return ma_fail(NULL, MA_EINVAL, "option %s=%.*s is not a boolean "
                       "(0 or 1)", o->name, shown, text);
    *value = v;
    return MA_OK;
}

/* Defaults, then the pairs of `options` over them. */
static ma_status parse_options(const entry_def *e, const char *options,
                               uint64_t *values)
{
    bool given[MAX_OPTIONS] = {false};
    size_t n = e->n_options + N_COMMON;
    for (size_t j = 0; j < n; j++)
        values[j] = option_at(e, j)->default_value;
    if (!options || !*options)
        return MA_OK;
    const char *p = options;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return ma_fail(NULL, MA_EINVAL, "options '%.200s': an empty option "
                           "at character %zu (a stray comma?)", options,
                           (size_t)(p - options) + 1);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return ma_fail(NULL, MA_EINVAL, "option '%.*s' has no value "
                           "(write %.*s=VALUE)", len > 64 ? 64 : (int)len, p,
                           len > 64 ? 64 : (int)len, p);
        size_t klen = (size_t)(eq - p);
        if (klen == 0)
            return ma_fail(NULL, MA_EINVAL, "options '%.200s': an option with "
                           "no name at character %zu", options,
                           (size_t)(p - options) + 1);
        size_t j = 0;
        while (j < n && !(strlen(option_at(e, j)->name) == klen &&
                          memcmp(option_at(e, j)->name, p, klen) == 0))
            j++;
        if (j == n) {
            char names[256];
            option_names(e, names, sizeof names);
            return ma_fail(NULL, MA_EINVAL, "unknown option '%.*s' for "
                           "allocator '%s' (its options: %s)",
                           klen > 64 ? 64 : (int)klen, p, e->name, names);
        }
        if (given[j])
            return ma_fail(NULL, MA_EINVAL, "option %s is given twice",
                           option_at(e, j)->name);
        given[j] = true;
        ma_status st = parse_value(option_at(e, j), eq + 1, len - klen - 1,
                                   &values[j]);
        if (st != MA_OK)
            return st;
        if (!end)
            return MA_OK;
        p = end + 1;
    }
}

ma_status ma_registry_parse(const char *name, const char *options,
                            size_t *index, uint64_t *values, size_t capacity)
{
    size_t i = 0;
    ma_status st = find_entry(name, &i);
    if (st != MA_OK)
        return st;
    uint64_t v[MAX_OPTIONS];
    st = parse_options(&entries[i], options, v);
    if (st != MA_OK)
        return st;
    if (index)
        *index = i;
    for (size_t j = 0; values && j < capacity && j < entries[i].n_options + N_COMMON; j++)
        values[j] = v[j];
    return MA_OK;
}

ma_status ma_create(const char *name, const char *options, ma_allocator **out)
{
    if (!out)
        return ma_fail(NULL, MA_EINVAL, "ma_create: out is NULL");
    *out = NULL;
    size_t i = 0;
    uint64_t v[MAX_OPTIONS];
    ma_status st = ma_registry_parse(name, options, &i, v, MAX_OPTIONS);
    if (st != MA_OK)
        return st;
    /* The switches first: a bad one must not cost a creation. */
    const uint64_t *c = v + entries[i].n_options;
    ma_debug_options dbg = {c[0], c[1], c[2], c[3], c[4]};
    if ((st = ma_debug_validate(&dbg)) != MA_OK)
        return st;
    st = entries[i].create(&entries[i], v, out);
    if (st == MA_OK)
        ma_debug_configure(*out, &dbg);
    return st;
}
