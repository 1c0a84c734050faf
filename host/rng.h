/*
 * rng.h — nabla's own random numbers (private).
 *
 * xoshiro256** seeded through splitmix64: the same stream on every
 * platform and compiler, so a seed means the same run everywhere. Each use
 * (initialisation, shuffling, splitting) derives its own stream from the
 * user's seed with nb_rng_seed(&r, seed, stream), so adding draws to one
 * use never shifts another.
 */
#ifndef NB_RNG_H
#define NB_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct nb_rng {
    uint64_t s[4];
} nb_rng;

enum { NB_STREAM_INIT = 1, NB_STREAM_SHUFFLE = 2, NB_STREAM_SPLIT = 3, NB_STREAM_TEST = 4,
       NB_STREAM_SHARD = 5 /* the full-batch shards of nb_train_dist */ };

void nb_rng_seed(nb_rng *r, uint64_t seed, uint64_t stream);
uint64_t nb_rng_next(nb_rng *r);
/* Uniform in [0, 1) with 24 random bits (every value exactly a float). */
float nb_rng_uniform(nb_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t nb_rng_below(nb_rng *r, uint64_t n);
/* Fisher–Yates shuffle of idx (n). */
void nb_rng_shuffle_i32(nb_rng *r, int32_t *idx, size_t n);

#endif
