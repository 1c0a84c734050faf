/* cpu_pool.c — placeholder: every task on the caller (the real pool comes with its own work). */
#include "cpu/cpu_pool.h"

#include <stdlib.h>

#include "status.h"

struct nb_pool {
    int threads;
};

nb_status nb_pool_create(int threads, nb_pool **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return NB_NOMEM("nb_pool_create", sizeof **out);
    (*out)->threads = threads;
    return NB_OK;
}
void nb_pool_free(nb_pool *p) { free(p); }
int nb_pool_threads(const nb_pool *p) { return p->threads; }
void nb_pool_for(nb_pool *p, size_t n_tasks, void (*fn)(void *arg, size_t task, int worker),
                 void *arg)
{
    (void)p;
    for (size_t t = 0; t < n_tasks; t++) fn(arg, t, 0);
}
int nb_cpu_default_threads(void) { return 1; }
