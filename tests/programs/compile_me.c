/* A C file for gcc under the shim in the real-program tests: structs,
 * function pointers, recursion, a hash table and qsort, enough for the
 * optimiser to work on.  Its output is the same on every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char key[16];
    int value;
    struct entry *next;
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int cmp(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    return x->value != y->value ? (x->value < y->value ? 1 : -1) : strcmp(x->key, y->key);
}

static long ackermann_small(long m, long n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann_small(m - 1, 1);
    return ackermann_small(m - 1, ackermann_small(m, n - 1));
}

int main(void)
{
    enum { BUCKETS = 257, N = 20000 };
    struct entry *table[BUCKETS] = {0};
    struct entry **all = malloc(N * sizeof *all);
    int n = 0;
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", (i * 7919) % 4099);
        unsigned b = hash(key) % BUCKETS;
        struct entry *e = table[b];
        while (e && strcmp(e->key, key) != 0)
            e = e->next;
        if (!e) {
            e = calloc(1, sizeof *e);
            strcpy(e->key, key);
            e->next = table[b];
            table[b] = e;
            all[n++] = e;
        }
        e->value += i % 13;
    }
    qsort(all, (size_t)n, sizeof *all, cmp);
    for (int i = 0; i < 5; i++)
        printf("%s %d\n", all[i]->key, all[i]->value);
    printf("entries %d ackermann %ld\n", n, ackermann_small(2, 300));
    for (int i = 0; i < n; i++)
        free(all[i]);
    free(all);
    return 0;
}
