/*
 * mpi_harness.h — what the MPI tests of nb_train_dist share.
 *
 * Each test program runs on every rank under mpirun. Every rank builds
 * the same data and model from the same seeds, trains with nb_train_dist,
 * runs the one-process reference (plain nb_train on all the data) itself,
 * and compares. Checks across ranks go through the communicator's own
 * all-reduce: a value is the same on every rank when its MIN and MAX over
 * the ranks are equal (for floats: of their bit patterns). A failed check
 * prints "rank R: ..." and counts; mh_finish sums the counts over the
 * ranks, so every rank exits non-zero when any rank failed.
 */
#ifndef NB_MPI_HARNESS_H
#define NB_MPI_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "mpi/comm_mpi.h"
#include "nabla.h"
#include "nabla_dist.h"

#if defined(__GNUC__)
#define MH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MH_PRINTF(f, a)
#endif

/* The process's view of the run, set by mh_init. */
typedef struct mh {
    nb_mpi *mp;
    const nb_comm *comm;
    int rank, ranks;
    nb_backend *be; /* "cpu", one worker thread: K ranks share the cores */
    long failures;  /* this rank's failed checks so far                  */
} mh;

extern mh H;

/* MPI, the communicator and the backend. Exits (2) when any of them cannot
 * be made: no test can run then. */
void mh_init(int *argc, char ***argv, const char *name);
/* Sum the failures over the ranks, free, finalise; the exit status for
 * main: 0 when no rank failed, 1 otherwise. */
int mh_finish(void);

/* Print "rank R: <what>" on stderr and count a failure. */
void mh_fail(const char *fmt, ...) MH_PRINTF(1, 2);
/* Print "rank 0: <what>" on stdout, on rank 0 only (shared facts). */
void mh_note(const char *fmt, ...) MH_PRINTF(1, 2);
/* A failure this rank alone sees in a collective call (an unexpected
 * status from nb_train_dist): the other ranks may be waiting in an
 * all-reduce that will never come, so end the whole job now. */
void mh_abort(const char *fmt, ...) MH_PRINTF(1, 2);

/* Every rank waits for every other (an all-reduce of one value). */
void mh_barrier(void);

/* Collective: is v the same on every rank? Fails (naming what and the
 * range over the ranks) when not; returns 1 when it is. */
int mh_same_i64(const char *what, int64_t v);
/* Collective: are the n floats the same bits on every rank? */
int mh_same_bits(const char *what, const float *v, size_t n);
/* Collective: is the string the same on every rank (first cap bytes)? */
int mh_same_str(const char *what, const char *s);

/*
 * The tolerance of every comparison of K ranks with one process, for
 * parameters after up to 50 updates of nets of about 100 parameters on
 * about 100 rows (and for a checkpointed run, part of whose updates ran on
 * K ranks). Why they differ at all: each gradient component is a mean of
 * float32 terms over the rows; one process adds them in one order, K
 * ranks add each shard's (or batch slice's) terms and then the K partial
 * sums, so the two sums round differently, by a few ulps of the largest
 * partial sum: |Δg| ≈ 3 u |g| with u = 6e-8. Each update moves θ by
 * lr·Δg ≈ 0.2 × 2e-7 = 4e-8 for O(1) gradients, and later updates carry
 * earlier differences forward (a stable step does not amplify them), so
 * after 50 updates they add up to at most 50 × 4e-8 = 2e-6 if every
 * rounding went the same way, and about √50 × 4e-8 = 3e-7 if they are
 * independent. Measured (fullbatch, minibatch, halt and ckpt tests, 2
 * and 3 ranks): max |diff| 3.0e-7, and 1.2e-6 on parameters of size 1 in
 * the divergence case (two updates of lr 5). atol 2e-6 is the worst case
 * above, 7× the typical measurement; rtol 2e-5 covers the larger
 * parameters. Rows lost, doubled or taken from the wrong batch change
 * parameters by ≥ 1e-3 and fail by far.
 */
#define MH_ATOL 2e-6
#define MH_RTOL 2e-5

/* |got − want| ≤ atol + rtol·|want| for each of n values; on failure names
 * the worst. Prints the largest difference and the largest ratio of
 * difference to bound on rank 0 either way, the figures the tolerances are
 * sized from. Returns 1 when all are within. Not collective. */
int mh_close(const char *what, const float *got, const float *want, size_t n, double atol,
             double rtol);

/* A final loss on K ranks (got) against one process's (want): within 1e-6
 * relative. It is a float32 sum over rows, reassociated as the gradient
 * is; measured ≤ 6e-8 relative (one ulp) at 2 and 3 ranks, so 1e-6 allows
 * 16 ulps. */
void mh_close_loss(const char *what, double got, double want);

/* The same run's results on every rank: status, halt, iters, epochs and
 * why; and the parameters' bits (m NULL: not those). Collective. */
void mh_same_result(const char *what, nb_status st, const nb_result *r, const nb_model *m);

/* A deterministic regression set: rows × inputs in [-1, 1] and outputs
 * smooth functions of them plus a little noise, all drawn from seed.
 * flip ≠ 0 negates the targets (a set training on the other makes worse). */
nb_dataset *mh_regression(size_t rows, int inputs, int outputs, uint64_t seed, int flip);
/* A deterministic classification set (classes ≥ 2) in the same way. */
nb_dataset *mh_classes(size_t rows, int inputs, int classes, uint64_t seed);

/* Train m: nb_train_dist over H.comm when dist, else nb_train alone (the
 * reference). A status other than want fails; from nb_train_dist it ends
 * the job, since it may be this rank's alone while the others wait. */
nb_status mh_train(int dist, nb_model *m, const nb_dataset *train, const nb_dataset *val,
                   const nb_train_options *o, nb_result *r, nb_status want);

/* widths[0..layers] with activations acts on H.be; exits on failure. */
nb_model *mh_model(int layers, const int *widths, const nb_act *acts, nb_loss loss,
                   uint64_t seed);
/* The model's parameters into a new array (free it); *n their count. */
float *mh_params(const nb_model *m, size_t *n);

#endif
