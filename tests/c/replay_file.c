/*
 * replay_file.c -- replay a trace stored as raw columns through allocators
 * of the registry (CI runs it under valgrind's memcheck on the first events
 * of a bundled AOSP trace; tests/test_debug_tools.py on a small one).
 *
 * Usage: replay_file DIR EVENTS NAME[:OPTIONS]...
 * DIR holds op.bin (uint8), id.bin (uint32), size.bin and arg.bin (uint64),
 * in the machine's byte order, and n_ids.txt; EVENTS is how many of the
 * first events to replay (0: all).  Each NAME is created with OPTIONS
 * (ma_create's text; its defaults without) and replays with a sample every 1,000 events; the line printed
 * per allocator gives its events, failures and peak heap.  Exit status 0
 * when every replay returned MA_OK and ma_check passed afterwards.
 */
#include "memalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *column(const char *dir, const char *name, size_t width, uint64_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "replay_file: cannot read %s\n", path);
        exit(2);
    }
    long len = ftell(f);
    rewind(f);
    void *data = malloc(len > 0 ? (size_t)len : 1);
    if (!data || len < 0 || fread(data, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "replay_file: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *n = (uint64_t)len / width;
    return data;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: replay_file DIR EVENTS NAME[:OPTIONS]...\n");
        return 2;
    }
    uint64_t n_op, n_id, n_size, n_arg, n_ids = 0;
    uint8_t *op = column(argv[1], "op.bin", 1, &n_op);
    uint32_t *id = column(argv[1], "id.bin", 4, &n_id);
    uint64_t *size = column(argv[1], "size.bin", 8, &n_size);
    uint64_t *arg = column(argv[1], "arg.bin", 8, &n_arg);
    char path[4096];
    snprintf(path, sizeof path, "%s/n_ids.txt", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%llu", (unsigned long long *)&n_ids) != 1 ||
        n_id != n_op || n_size != n_op || n_arg != n_op) {
        fprintf(stderr, "replay_file: %s is not a trace\n", argv[1]);
        return 2;
    }
    fclose(f);
    uint64_t events = strtoull(argv[2], NULL, 10);
    ma_trace_view t = {events && events < n_op ? events : n_op, op, id, size, arg, n_ids};
    ma_replay_config c = {1000, 1, 0, NULL, NULL};
    ma_sample *samples = malloc(sizeof *samples * (size_t)(t.n_events / 1000 + 2));
    int bad = 0;
    for (int k = 3; k < argc && samples; k++) {
        ma_allocator *a = NULL;
        ma_replay_result r;
        char *options = strchr(argv[k], ':');
        if (options)
            *options++ = '\0';
        ma_status st = ma_create(argv[k], options, &a);
        if (st == MA_OK)
            st = ma_replay(a, &t, &c, samples, t.n_events / 1000 + 2, &r);
        if (st == MA_OK && strcmp(argv[k], "system") != 0)
            st = ma_check(a);
        if (st != MA_OK) {
            printf("%s: %s\n", argv[k], ma_thread_error());
            bad = 1;
        } else {
            printf("%s: %llu events, %llu failures, peak heap %llu\n", argv[k],
                   (unsigned long long)r.events, (unsigned long long)r.failures,
                   (unsigned long long)r.max_heap);
        }
        ma_destroy(a);
    }
    free(samples);
    free(op);
    free(id);
    free(size);
    free(arg);
    return bad || !samples;
}
