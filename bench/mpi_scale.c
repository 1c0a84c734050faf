/*
 * mpi_scale.c — data-parallel scaling of nb_train_dist, run under mpirun.
 *
 *   mpirun -np K build/bench/bench_mpi_scale [--workloads W1,W2] [--reps 5] …
 *
 * Every rank makes the same synthetic data and model as `nabla bench`
 * (host/cli/bench_run.c, compiled in), opens the pure-C backend with one
 * thread, and trains with nb_train_dist over nabla_mpi's communicator. Per
 * workload: two warm-up calls, which also time an update and the fixed
 * cost of a call, then at least 5 timed repetitions of one call each, a
 * fixed number of updates long (about --seconds). The rates come from the
 * updates inside a call, between its first and last progress callbacks,
 * without the call's fixed cost (see `window`); a call too short for that
 * (a smoke run, full batch) is timed whole. Times are the slowest rank's,
 * and communication the largest time a rank spent inside the all-reduce,
 * which includes waiting for the other ranks; to tell the two apart, the
 * gradient's all-reduce is then timed alone, with no training around it.
 *
 * Rank 0 prints one row per workload (bench/mpi_scale.sh reads them) and,
 * with --json, writes every repetition. Nothing here prints on other ranks
 * except a failure, which ends the whole job (a rank that failed alone
 * would leave the others waiting in their next all-reduce).
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/bench.h"
#include "cli/bench_workloads.h"
#include "mpi/comm_mpi.h"
#include "nabla_dist.h"

static const char *const cmd = "mpi_scale";

enum { MAX_WORKLOADS = 8, MAX_REPS = 100, ALONE_CALLS = 20 };

static const char usage[] =
    "usage: mpirun -np K bench_mpi_scale [options]\n"
    "Data-parallel training (nb_train_dist) on the pure-C backend, one\n"
    "thread per rank, timed per workload; rank 0 prints the rows.\n"
    "  --workloads LIST    W1,W2 (default), by id or name (mnist, wide, ...)\n"
    "  --custom WIDTHS     a workload of its own instead, e.g. 8,16,4 ...\n"
    "  --n N --batch B     ... with N rows and a global batch of B (0: full)\n"
    "  --reps N            timed repetitions, 1 to 100 (default 5)\n"
    "  --seconds S         aim a repetition at S seconds (default 3)\n"
    "  --updates U         exactly U updates per repetition instead\n"
    "  --seed S            data, initialisation and shuffle seed (default 1)\n"
    "  --json FILE         also write every repetition to FILE (rank 0)\n"
    "  --no-header         rows only\n";

typedef struct args {
    nb_bench_spec specs[MAX_WORKLOADS];
    int n_specs;
    int reps, header;
    double seconds;
    long updates; /* 0: from --seconds */
    uint64_t seed;
    const char *json;
} args;

/* One workload's figures, as rank 0 reports them. */
typedef struct row {
    const nb_bench_spec *spec;
    long updates;
    double samples;                /* rows trained per repetition, all ranks */
    double rep_s[MAX_REPS];        /* slowest rank's wall time per repetition */
    double comm_s[MAX_REPS];       /* largest all-reduce time of a rank       */
    double upd_s[MAX_REPS];        /* the window's seconds per update (max)   */
    double upd_c[MAX_REPS];        /* and all-reduce seconds per update (max) */
    int steady;                    /* 1: rates from the windows; 0: whole calls */
    bench_stat sps;                /* samples/s                               */
    double s_per_update, comm_per_update, share;
    double call_s;                 /* fixed cost of one call (warm-up estimate) */
    double alone_s;                /* the gradient's all-reduce, on its own   */
    size_t params;
} row;

/* ------------------------------------------------------------ failures */

static nb_mpi *g_mp;

/* A failure on any rank ends the job: the others may be inside an
 * all-reduce that this rank will never join. */
static void die(const char *what, nb_status st)
{
    const char *e = nb_last_error();
    fprintf(stderr, "%s: rank %d: %s: %s\n", cmd, g_mp ? nb_mpi_comm(g_mp)->rank : 0, what,
            e && *e ? e : nb_status_str(st));
    if (g_mp) nb_mpi_abort(g_mp, NB_EXIT_FAIL);
    exit(NB_EXIT_FAIL);
}

/* A failure of this program's own, with its reason. */
static void die_msg(const char *what, const char *why)
{
    fprintf(stderr, "%s: rank %d: %s: %s\n", cmd, g_mp ? nb_mpi_comm(g_mp)->rank : 0, what, why);
    if (g_mp) nb_mpi_abort(g_mp, NB_EXIT_FAIL);
    exit(NB_EXIT_FAIL);
}

static void reduce(const nb_comm *c, double *v, size_t n, nb_comm_op op)
{
    if (c->allreduce(c->ctx, v, n, NB_COMM_F64, op) != 0)
        die_msg("all-reduce", c->error ? c->error(c->ctx) : "failed");
}

/* ----------------------------------------------------------- arguments */

static int add_builtin(args *a, const char *name)
{
    for (int i = 0; i < NB_BENCH_N_WORKLOADS; i++) {
        const nb_bench_workload *w = &nb_bench_workloads[i];
        if (strcmp(name, w->id) && strcmp(name, w->name)) continue;
        if (a->n_specs == MAX_WORKLOADS) break;
        nb_bench_spec *s = &a->specs[a->n_specs++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", w->name);
        memcpy(s->widths, w->widths, (size_t)w->n_widths * sizeof *w->widths);
        s->n_widths = w->n_widths;
        s->n = w->n;
        s->batch = w->batch;
        return 1;
    }
    nb_cli_usage_error(cmd, "--workloads: unknown or too many: '%s'", name);
    return 0;
}

static int parse_workloads(args *a, const char *list)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    a->n_specs = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!add_builtin(a, t)) return 0;
    if (a->n_specs == 0) return nb_cli_usage_error(cmd, "--workloads: empty list"), 0;
    return 1;
}

static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->reps = 5;
    a->header = 1;
    a->seconds = 3.0;
    a->seed = 1;
    const char *custom = NULL;
    long n = 0, batch = -1, v;
    if (!parse_workloads(a, "W1,W2")) return NB_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) return -1;
        if (!strcmp(f, "--no-header")) {
            a->header = 0;
            continue;
        }
        static const char *const valued[] = {"--workloads", "--custom", "--n", "--batch", "--reps",
                                             "--seconds", "--updates", "--seed", "--json"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(f, valued[k]);
        if (!known) return nb_cli_usage_error(cmd, "unknown option '%s' (see --help)", f);
        if (!val) return nb_cli_usage_error(cmd, "%s: missing value (see --help)", f);
        i++;
        int ok;
        if (!strcmp(f, "--workloads")) ok = parse_workloads(a, val);
        else if (!strcmp(f, "--custom")) custom = val, ok = 1;
        else if (!strcmp(f, "--n")) ok = nb_arg_long(cmd, f, val, 1, 1L << 30, &n);
        else if (!strcmp(f, "--batch")) ok = nb_arg_long(cmd, f, val, 0, 1L << 30, &batch);
        else if (!strcmp(f, "--reps")) ok = nb_arg_long(cmd, f, val, 1, MAX_REPS, &v), a->reps = (int)v;
        else if (!strcmp(f, "--seconds"))
            ok = nb_arg_double(cmd, f, val, 0.0, 600.0, 1, 0, &a->seconds);
        else if (!strcmp(f, "--updates")) ok = nb_arg_long(cmd, f, val, 1, 1L << 30, &a->updates);
        else if (!strcmp(f, "--seed")) ok = nb_arg_u64(cmd, f, val, &a->seed);
        else a->json = val, ok = 1; /* --json */
        if (!ok) return NB_EXIT_USAGE;
    }
    if (!custom && (n || batch >= 0))
        return nb_cli_usage_error(cmd, "--n and --batch go with --custom");
    if (custom) {
        nb_bench_spec *s = &a->specs[0];
        memset(s, 0, sizeof *s);
        a->n_specs = 1;
        snprintf(s->name, sizeof s->name, "custom");
        if (!nb_arg_widths(cmd, "--custom", custom, s->widths, NB_BENCH_MAX_WIDTHS, &s->n_widths))
            return NB_EXIT_USAGE;
        if (!n) return nb_cli_usage_error(cmd, "--custom needs --n");
        s->n = (size_t)n;
        s->batch = batch < 0 ? 0 : (size_t)batch;
    }
    return 0;
}

/* ------------------------------------------------------------- timing */

typedef struct run_ctx {
    const nb_comm *comm;
    nb_model *m;
    const nb_dataset *d;
    const nb_bench_spec *s;
    uint64_t seed;
} run_ctx;

/*
 * The steady state inside a call. on_batch runs after an update's gradient
 * is summed, at most every 100 ms; the first and last calls bound a window
 * of whole updates that holds neither the call's fixed cost (the ranks'
 * agreement check fingerprints the data, 188 MB for W1; the model's
 * buffers) nor its end (the parameters' agreement check). A real run pays
 * those once, not once per few seconds, so the window is what scales.
 */
typedef struct window {
    long u0, u1;      /* update count at the first and last call  */
    double t0, t1;    /* the clock then                           */
    double c0, c1;    /* nb_mpi_comm_seconds then                 */
    int calls;
} window;

static void on_batch(void *user, const nb_batch_progress *p)
{
    window *w = user;
    long u = p->epoch * p->batches + p->batch;
    double t = bench_now(), c = nb_mpi_comm_seconds(g_mp);
    if (w->calls++ == 0) w->u0 = u, w->t0 = t, w->c0 = c;
    w->u1 = u, w->t1 = t, w->c1 = c;
}

/* What one call measured: the whole call, and the window's per update. */
typedef struct call_times {
    double wall, comm;          /* the call, this rank                     */
    double per_update, comm_per_update; /* the window's; NaN without one  */
} call_times;

/* Fewest updates between the window's ends for its rate to count. */
enum { MIN_WINDOW_UPDATES = 2 };

/* One nb_train_dist call of `updates` updates, started together on every
 * rank (the one-value all-reduce before it returns when all have arrived). */
static void one_call(const run_ctx *r, long updates, call_times *ct)
{
    double sync = 0.0;
    reduce(r->comm, &sync, 1, NB_COMM_SUM);
    nb_mpi_comm_reset(g_mp);
    nb_train_options o;
    nb_bench_train_options(r->s, updates, r->seed, &o);
    window w = {0, 0, 0, 0, 0, 0, 0};
    o.on_batch = on_batch;
    o.user = &w;
    nb_result res;
    double t0 = bench_now();
    nb_status st = nb_train_dist(r->m, r->d, NULL, &o, r->comm, &res);
    ct->wall = bench_now() - t0;
    ct->comm = nb_mpi_comm_seconds(g_mp);
    if (st != NB_OK) die("nb_train_dist", st);
    if (res.iters != updates) { /* the rates would count work not done */
        char why[320];
        snprintf(why, sizeof why, "made %ld updates of %ld (%s)", res.iters, updates, res.why);
        die_msg("nb_train_dist", why);
    }
    long du = w.u1 - w.u0;
    ct->per_update = du >= MIN_WINDOW_UPDATES ? (w.t1 - w.t0) / (double)du : NAN;
    ct->comm_per_update = du >= MIN_WINDOW_UPDATES ? (w.c1 - w.c0) / (double)du : NAN;
}

/* The slowest rank's figures for one call (a NaN on any rank: NaN). */
static void timed_call(const run_ctx *r, long updates, call_times *ct)
{
    one_call(r, updates, ct);
    double v[4] = {ct->wall, ct->comm, ct->per_update, ct->comm_per_update};
    double nan_flag = isnan(v[2]) ? 1.0 : 0.0;
    if (isnan(v[2])) v[2] = v[3] = 0.0;
    reduce(r->comm, v, 4, NB_COMM_MAX);
    reduce(r->comm, &nan_flag, 1, NB_COMM_MAX);
    ct->wall = v[0], ct->comm = v[1];
    ct->per_update = nan_flag > 0 ? NAN : v[2];
    ct->comm_per_update = nan_flag > 0 ? NAN : v[3];
}

/*
 * Warm-up: a 2-update call (allocations, first touches, the cpu kernels'
 * dispatch), then a longer one aimed at about a second. Their difference
 * is the time of an update without the call's fixed cost (the data check
 * across ranks, the shard, the model's buffers); the updates of a
 * repetition follow from it, the same on every rank since the times are
 * the slowest rank's.
 */
static long warm_up(const run_ctx *r, const args *a, row *w)
{
    long k1 = 2;
    call_times c1, c2;
    timed_call(r, k1, &c1);
    double t1 = c1.wall;
    long k2 = k1 + (t1 > 0 ? (long)(1.0 / (t1 / (double)k1)) : 8);
    if (k2 < k1 + 2) k2 = k1 + 2;
    if (k2 > k1 + 400) k2 = k1 + 400;
    if (a->updates && k2 > a->updates + k1) k2 = a->updates + k1; /* a smoke run stays short */
    timed_call(r, k2, &c2);
    double t2 = c2.wall;
    double per = t2 > t1 ? (t2 - t1) / (double)(k2 - k1) : t2 / (double)k2;
    w->call_s = t2 - per * (double)k2;
    if (w->call_s < 0) w->call_s = 0;
    if (a->updates) return a->updates;
    long u = (long)((a->seconds - w->call_s) / per);
    return u < 2 ? 2 : u;
}

/* The gradient's all-reduce with nothing else running: the transfer
 * itself, without the wait for a slower rank that the training's
 * all-reduce time also holds. Median of ALONE_CALLS, after one warm-up. */
static double allreduce_alone(const nb_comm *c, size_t params)
{
    float *g = calloc(params ? params : 1, sizeof *g);
    double t[ALONE_CALLS + 1];
    if (!g) die_msg("allreduce_alone", "out of memory");
    for (int i = 0; i <= ALONE_CALLS; i++) {
        double sync = 0.0;
        reduce(c, &sync, 1, NB_COMM_SUM);
        double t0 = bench_now();
        if (c->allreduce(c->ctx, g, params, NB_COMM_F32, NB_COMM_SUM) != 0)
            die_msg("allreduce_alone", c->error ? c->error(c->ctx) : "failed");
        t[i] = bench_now() - t0;
    }
    free(g);
    reduce(c, t, ALONE_CALLS + 1, NB_COMM_MAX);
    return bench_stats(t + 1, ALONE_CALLS).median;
}

/* Rows of one update: the global batch, or every row in full batch. */
static size_t step_rows(const nb_bench_spec *s)
{
    return s->batch && s->batch < s->n ? s->batch : s->n;
}

static void measure(const nb_comm *comm, const args *a, const nb_bench_spec *s, row *w)
{
    memset(w, 0, sizeof *w);
    w->spec = s;
    nb_dataset *d = NULL;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    nb_backend_options bo;
    nb_status st = nb_bench_dataset(s->widths, s->n_widths, s->n, a->seed, &d);
    if (st != NB_OK) die("making the data", st);
    /* One thread per rank: K ranks on one node share its cores, and the
     * point is ranks × 1 thread against 1 × 1, not threads inside ranks.
     * The NABLA_* variables still apply otherwise (NABLA_CPU_ISA). */
    if ((st = nb_cli_backend_options(&bo)) != NB_OK) die("the NABLA_* variables", st);
    bo.threads = 1;
    if ((st = nb_backend_create_with("cpu", &bo, &be)) != NB_OK) die("the cpu backend", st);
    nb_act acts[NB_BENCH_MAX_WIDTHS];
    for (int l = 0; l + 1 < s->n_widths; l++) acts[l] = NB_ACT_SIGMOID;
    st = nb_model_create(be, s->n_widths - 1, s->widths, acts, NB_LOSS_MSE, a->seed, &m);
    if (st != NB_OK) die("creating the model", st);
    w->params = nb_model_param_count(m);
    run_ctx r = {comm, m, d, s, a->seed};
    /* The same model trains on through every call: the rate of an update
     * does not depend on the parameters' values. */
    w->updates = warm_up(&r, a, w);
    w->samples = nb_bench_samples(s, w->updates);
    double sps[MAX_REPS];
    w->steady = 1;
    for (int i = 0; i < a->reps; i++) {
        call_times ct;
        timed_call(&r, w->updates, &ct);
        w->rep_s[i] = ct.wall, w->comm_s[i] = ct.comm;
        w->upd_s[i] = ct.per_update, w->upd_c[i] = ct.comm_per_update;
        if (isnan(ct.per_update)) w->steady = 0;
    }
    /* The window's rate when every repetition had one (a global batch per
     * update; the short last batch of an epoch, 1 update in 235 for W1,
     * counts as full: under 0.3%), else the whole call's. */
    double per[MAX_REPS], com[MAX_REPS];
    for (int i = 0; i < a->reps; i++) {
        per[i] = w->steady ? w->upd_s[i] : w->rep_s[i] / (double)w->updates;
        com[i] = w->steady ? w->upd_c[i] : w->comm_s[i] / (double)w->updates;
        sps[i] = w->steady ? (double)step_rows(s) / per[i]
                           : w->samples / w->rep_s[i];
    }
    w->sps = bench_stats(sps, a->reps);
    w->s_per_update = bench_stats(per, a->reps).median;
    w->comm_per_update = bench_stats(com, a->reps).median;
    w->share = w->comm_per_update / w->s_per_update;
    w->alone_s = comm->ranks > 1 ? allreduce_alone(comm, w->params) : 0.0;
    nb_model_free(m);
    nb_backend_free(be);
    nb_dataset_free(d);
}

/* ------------------------------------------------------------- output */

static void print_header(FILE *f, const nb_comm *c, const args *a)
{
    fprintf(f, "# nb_train_dist on the pure-C backend: %d rank%s x 1 thread, %d repetitions\n",
            c->ranks, c->ranks == 1 ? "" : "s", a->reps);
    fprintf(f, "# samples/s: median (min-max); s/update and comm s/update: medians over the\n"
               "# repetitions of the slowest rank's time and largest all-reduce time per\n"
               "# update; rate: from the updates inside a call (window) or whole calls (call);\n"
               "# allreduce: the gradient's all-reduce alone; call s: a call's fixed cost\n");
    fprintf(f, "%-8s %-22s %5s %7s %7s %10s %-23s %10s %10s %6s %10s %8s %s\n", "workload",
            "layers", "ranks", "threads", "updates", "batch", "samples/s (min-max)",
            "s/update", "comm s/up", "comm%", "allreduce", "call s", "rate");
}

static void print_row(FILE *f, const nb_comm *c, const row *w)
{
    char layers[128], mm[64];
    nb_bench_layers_str(w->spec, layers, sizeof layers);
    snprintf(mm, sizeof mm, "(%.0f-%.0f)", w->sps.min, w->sps.max);
    fprintf(f, "%-8s %-22s %5d %7d %7ld %10zu %9.0f %-13s %10.3e %10.3e %5.1f%% %10.3e %8.3f %s\n",
            w->spec->name, layers, c->ranks, 1, w->updates,
            w->spec->batch ? w->spec->batch : w->spec->n, w->sps.median, mm, w->s_per_update,
            w->comm_per_update, 100.0 * w->share, w->alone_s, w->call_s,
            w->steady ? "window" : "call");
    fflush(f);
}

static void json_list(FILE *f, const double *v, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%.6g", i ? ", " : "", v[i]);
    fputc(']', f);
}

static int write_json(const char *path, const nb_comm *c, const args *a, const row *w, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "%s: --json: cannot write '%s'\n", cmd, path), 0;
    fprintf(f, "{\n  \"ranks\": %d, \"threads_per_rank\": 1, \"backend\": \"cpu\", "
               "\"reps\": %d, \"seed\": %llu,\n  \"workloads\": [",
            c->ranks, a->reps, (unsigned long long)a->seed);
    for (int i = 0; i < n; i++) {
        char layers[128];
        nb_bench_layers_str(w[i].spec, layers, sizeof layers);
        fprintf(f, "%s\n    {\"name\": \"%s\", \"layers\": \"%s\", \"n\": %zu, \"batch\": %zu, "
                   "\"params\": %zu, \"updates\": %ld, \"samples_per_rep\": %.0f,\n",
                i ? "," : "", w[i].spec->name, layers, w[i].spec->n, w[i].spec->batch,
                w[i].params, w[i].updates, w[i].samples);
        fprintf(f, "     \"samples_per_s\": {\"median\": %.6g, \"min\": %.6g, \"max\": %.6g},\n",
                w[i].sps.median, w[i].sps.min, w[i].sps.max);
        fprintf(f, "     \"seconds_per_update\": %.6g, \"comm_seconds_per_update\": %.6g, "
                   "\"comm_share\": %.6g, \"allreduce_alone_seconds\": %.6g, "
                   "\"call_seconds\": %.6g, \"steady\": %s,\n     \"rep_seconds\": ",
                w[i].s_per_update, w[i].comm_per_update, w[i].share, w[i].alone_s, w[i].call_s,
                w[i].steady ? "true" : "false");
        json_list(f, w[i].rep_s, a->reps);
        fputs(", \"comm_seconds\": ", f);
        json_list(f, w[i].comm_s, a->reps);
        if (w[i].steady) {
            fputs(",\n     \"window_seconds_per_update\": ", f);
            json_list(f, w[i].upd_s, a->reps);
            fputs(", \"window_comm_seconds_per_update\": ", f);
            json_list(f, w[i].upd_c, a->reps);
        }
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return fclose(f) == 0;
}

int main(int argc, char **argv)
{
    nb_status st = nb_mpi_init(&argc, &argv, &g_mp);
    if (st != NB_OK) die("starting MPI", st);
    const nb_comm *comm = nb_mpi_comm(g_mp);
    static args a;
    /* Every rank parses the same arguments, and comes to the same verdict;
     * only rank 0 says what is wrong (stderr is muted around the parse). */
    int saved = -1;
    if (comm->rank != 0) {
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, STDERR_FILENO), close(null);
    }
    int code = parse(argc, argv, &a);
    if (saved >= 0) dup2(saved, STDERR_FILENO), close(saved);
    if (code != 0) {
        if (code < 0 && comm->rank == 0) fputs(usage, stdout);
        nb_mpi_finalize(g_mp);
        return code < 0 ? 0 : code;
    }
    static row rows[MAX_WORKLOADS];
    if (comm->rank == 0 && a.header) print_header(stdout, comm, &a);
    for (int i = 0; i < a.n_specs; i++) {
        measure(comm, &a, &a.specs[i], &rows[i]);
        if (comm->rank == 0) print_row(stdout, comm, &rows[i]);
    }
    if (comm->rank == 0 && a.json && !write_json(a.json, comm, &a, rows, a.n_specs))
        code = NB_EXIT_FAIL;
    nb_mpi_finalize(g_mp);
    return code;
}
