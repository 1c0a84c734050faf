/*
 * cpu_pool.h — the cpu backend's worker threads (private).
 */
#ifndef NB_CPU_POOL_H
#define NB_CPU_POOL_H

#include <stddef.h>

#include "nabla.h"

typedef struct nb_pool nb_pool;

/* A pool of `threads` workers, the caller counting as worker 0. */
nb_status nb_pool_create(int threads, nb_pool **out);
void nb_pool_free(nb_pool *p);
int nb_pool_threads(const nb_pool *p);
/* Run fn(arg, task, worker) once for every task in [0, n_tasks). */
void nb_pool_for(nb_pool *p, size_t n_tasks, void (*fn)(void *arg, size_t task, int worker),
                 void *arg);
int nb_cpu_default_threads(void);

#endif
