/*
 * gemm_bound.c — bench_gemm_bound: the GEMM-only bound of each workload.
 *
 * For W1–W4 of bench/README.md it runs exactly the GEMMs of one
 * training step (bench_step_shapes: forward nt per layer, then backward
 * tn and nn from the last layer, with the operands chained through
 * per-layer activation, weight, gradient and delta buffers as host/pass.c
 * chains them) with a peer library, back to back, and turns the time of
 * one step into
 *     samples/s = batch / (time of the step's GEMMs).
 * That is the speed nabla would reach if everything but its GEMMs were
 * free and its GEMMs were as fast as the peer's.
 *
 * Peers: OpenBLAS cblas_sgemm (threads 1 and 2 by default, set with
 * openblas_set_num_threads) and CLBlast CLBlastSgemm on each OpenCL
 * device (wall time of the step up to clFinish, which includes any helper
 * kernels CLBlast launches). A peer that is not installed prints
 * "skipped: not installed".
 *
 * Method: one checking step first, every GEMM of it compared with the
 * double-precision reference on its actual operands (bench_util.c); a
 * wrong result is printed instead of a number. Then a warm-up step, then
 * reps (≥ 5) repetitions of enough steps to last ~50 ms; median, min and
 * max of the per-step time.
 *
 * Usage: bench_gemm_bound [--peer all|openblas|clblast] [--workloads all|W1,W3,...]
 *                         [--threads 1,2] [--devices all|opencl:P.D,...]
 *                         [--reps N] [--quick] [--json FILE]
 * Time OpenBLAS as bench/README.md says:
 *   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE bench_gemm_bound --peer openblas
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "peers.h"

enum { MAX_GEMMS = 32, MAX_LAYERS = 8, MAX_REPS = 101, MAX_RESULTS = 64, MAX_CL = 4 };

typedef struct opts {
    int openblas, clblast;
    int want_w[NB_BENCH_N_WORKLOADS];
    int threads[4], n_threads;
    char devices[256];
    int reps;
    double rep_seconds;
    const char *json;
} opts;

/* One measured (workload, peer configuration). */
typedef struct result {
    const bench_workload *w;
    char peer[16];      /* "openblas", "clblast"                      */
    char device[32];    /* "host" or "opencl:P.D"                     */
    char device_name[128];
    int threads;        /* OpenBLAS; 0 for CLBlast                    */
    int gemms;
    double flops_per_step;
    int ok;             /* 1: checked and timed                        */
    char note[3072];    /* check summary, or the mismatch / error     */
    bench_stat step_s, samples_per_s, gflops;
} result;

/* Where one step GEMM reads and writes: indices into the step's buffers. */
typedef struct gemm_io {
    bench_shape s;
    int a, b, c;
} gemm_io;

/* The buffers of one step, numbered: act[0..L] (B, w_l), then weights
 * W[0..L-1] (w_{l+1}, w_l), weight gradients dW[0..L-1], and two deltas
 * (B, max width). Returns how many, with their sizes in floats. */
static int step_buffers(const bench_workload *w, size_t *size, gemm_io *io, int *n_io)
{
    const int L = w->n_widths - 1;
    const size_t B = nb_bench_step_rows(w);
    size_t maxw = 0;
    for (int l = 0; l <= L; l++) {
        size[l] = B * (size_t)w->widths[l];
        if ((size_t)w->widths[l] > maxw) maxw = (size_t)w->widths[l];
    }
    for (int l = 0; l < L; l++) {
        size[L + 1 + l] = (size_t)w->widths[l + 1] * (size_t)w->widths[l];
        size[2 * L + 1 + l] = size[L + 1 + l];
    }
    const int act0 = 0, W0 = L + 1, dW0 = 2 * L + 1, D0 = 3 * L + 1;
    size[D0] = size[D0 + 1] = B * maxw;

    /* The shapes, in bench_step_shapes' order, with pass.c's operands. */
    bench_shape sh[MAX_GEMMS];
    int n = bench_step_shapes(w, sh, MAX_GEMMS), k = 0, cur = 0;
    for (int l = 0; l < L; l++, k++) /* Y_l = X_l · A_lᵀ */
        io[k] = (gemm_io){sh[k], act0 + l, W0 + l, act0 + l + 1};
    for (int l = L - 1; l >= 0; l--) {
        io[k] = (gemm_io){sh[k], D0 + cur, act0 + l, dW0 + l}; /* ∇A_l = D_lᵀ · X_l */
        k++;
        if (l > 0) { /* D_{l-1} = D_l · A_l */
            io[k] = (gemm_io){sh[k], D0 + cur, W0 + l, D0 + (cur ^ 1)};
            cur ^= 1;
            k++;
        }
    }
    *n_io = n;
    return 3 * L + 3;
}

/* ------------------------------------------------ a peer behind one API */

typedef struct peer {
    int clblast;          /* 0: OpenBLAS on host arrays; 1: CLBlast       */
    peer_clblast *pc;
    float *host[3 * MAX_LAYERS + 3];
    peer_clbuf *dev[3 * MAX_LAYERS + 3];
    int nbuf;
    size_t size[3 * MAX_LAYERS + 3];
    char why[3072];
} peer;

static void peer_free(peer *p)
{
    for (int i = 0; i < p->nbuf; i++) {
        free(p->host[i]);
        peer_clblast_buffer_free(p->dev[i]);
        p->host[i] = NULL, p->dev[i] = NULL;
    }
}

/* Allocate and fill every buffer with seeded data; 0 or -1 with p->why. */
static int peer_setup(peer *p)
{
    for (int i = 0; i < p->nbuf; i++) {
        p->host[i] = bench_alloc(p->size[i]);
        if (!p->host[i]) {
            snprintf(p->why, sizeof p->why, "out of memory");
            return -1;
        }
        bench_fill(p->host[i], p->size[i], (uint64_t)i + 1);
        if (p->clblast &&
            !(p->dev[i] = peer_clblast_buffer(p->pc, p->size[i], p->host[i], p->why, sizeof p->why)))
            return -1;
    }
    return 0;
}

static int peer_gemm(peer *p, const gemm_io *g)
{
    const bench_shape *s = &g->s;
    if (!p->clblast) {
        peer_openblas_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, p->host[g->a], p->host[g->b],
                            0.0f, p->host[g->c]);
        return 0;
    }
    return peer_clblast_sgemm(p->pc, s->ta, s->tb, s->M, s->N, s->K, 1.0f, p->dev[g->a],
                              p->dev[g->b], 0.0f, p->dev[g->c], p->why, sizeof p->why);
}

/* Bring buffer i to p->host[i] (CLBlast: read it back). */
static int peer_fetch(peer *p, int i)
{
    if (!p->clblast) return 0;
    return peer_clblast_read(p->pc, p->dev[i], p->host[i], p->size[i], p->why, sizeof p->why);
}

static int peer_steps(peer *p, const gemm_io *io, int n_io, int steps)
{
    for (int s = 0; s < steps; s++)
        for (int g = 0; g < n_io; g++)
            if (peer_gemm(p, &io[g])) return -1;
    return p->clblast ? peer_clblast_finish(p->pc, p->why, sizeof p->why) : 0;
}

/* ------------------------------------------------------ one measurement */

static void measure(peer *p, const bench_workload *w, const opts *o, result *r)
{
    gemm_io io[MAX_GEMMS];
    int n_io = 0;
    p->nbuf = step_buffers(w, p->size, io, &n_io);
    r->w = w;
    r->gemms = n_io;
    r->flops_per_step = 0;
    for (int g = 0; g < n_io; g++) r->flops_per_step += bench_flops(&io[g].s);
    if (peer_setup(p)) goto fail;

    /* The checking step: each GEMM against the reference on the operands
     * it actually read (C is NaN-filled first, so unwritten entries fail). */
    double worst = 0;
    for (int g = 0; g < n_io; g++) {
        const gemm_io *x = &io[g];
        bench_expect e;
        if (peer_fetch(p, x->a) || peer_fetch(p, x->b)) goto fail;
        for (size_t i = 0; i < bench_c_floats(&x->s); i++) p->host[x->c][i] = NAN;
        if (p->clblast && peer_clblast_write(p->pc, p->dev[x->c], p->host[x->c],
                                             bench_c_floats(&x->s), p->why, sizeof p->why))
            goto fail;
        if (peer_gemm(p, x) || peer_fetch(p, x->c)) goto fail;
        if (bench_expect_make(&x->s, p->host[x->a], p->host[x->b], &e)) {
            snprintf(p->why, sizeof p->why, "out of memory");
            goto fail;
        }
        double ratio;
        char why[256];
        int ok = bench_expect_check(&x->s, &e, p->host[x->c], &ratio, why, sizeof why);
        bench_expect_free(&e);
        if (!ok) {
            snprintf(p->why, sizeof p->why, "%.39s (%s%s %zu×%zu×%zu): %.255s", x->s.what,
                     x->s.ta ? "t" : "n", x->s.tb ? "t" : "n", x->s.M, x->s.N, x->s.K, why);
            goto fail;
        }
        if (ratio > worst) worst = ratio;
    }

    /* Timing: warm-up, calibrate steps per repetition, repetitions. */
    if (peer_steps(p, io, n_io, 1)) goto fail;
    double t0 = bench_now();
    if (peer_steps(p, io, n_io, 1)) goto fail;
    double one = bench_now() - t0;
    int steps = one > 0 ? (int)ceil(o->rep_seconds / one) : 1000;
    if (steps < 1) steps = 1;
    if (steps > 10000) steps = 10000;
    double t[MAX_REPS], sps[MAX_REPS], gf[MAX_REPS];
    for (int rep = 0; rep < o->reps; rep++) {
        t0 = bench_now();
        if (peer_steps(p, io, n_io, steps)) goto fail;
        t[rep] = (bench_now() - t0) / steps;
        sps[rep] = (double)nb_bench_step_rows(w) / t[rep];
        gf[rep] = r->flops_per_step / t[rep] * 1e-9;
    }
    r->step_s = bench_stats(t, o->reps);
    r->samples_per_s = bench_stats(sps, o->reps);
    r->gflops = bench_stats(gf, o->reps);
    r->ok = 1;
    snprintf(r->note, sizeof r->note, "ok: %d GEMMs checked, worst err/tol %.2g", n_io, worst);
    peer_free(p);
    return;
fail:
    r->ok = 0;
    snprintf(r->note, sizeof r->note, "%s", p->why);
    peer_free(p);
}

/* ------------------------------------------------------------ output */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_stat(FILE *f, const char *key, bench_stat s)
{
    fprintf(f, "\"%s\": {\"median\": %.9g, \"min\": %.9g, \"max\": %.9g}", key, s.median, s.min,
            s.max);
}

static int write_json(const char *path, const result *r, int n, const char *skipped[2])
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    fprintf(f, "{\n  \"tool\": \"bench_gemm_bound\",\n  \"openblas\": ");
    json_str(f, peer_openblas_info());
    fprintf(f, ",\n  \"openblas_core\": ");
    json_str(f, peer_openblas_core());
    fprintf(f, ",\n  \"env\": {\"OPENBLAS_CORETYPE\": ");
    json_str(f, bench_env("OPENBLAS_CORETYPE"));
    fprintf(f, ", \"OPENBLAS_L2_SIZE\": ");
    json_str(f, bench_env("OPENBLAS_L2_SIZE"));
    fprintf(f, "},\n  \"skipped\": {\"openblas\": ");
    json_str(f, skipped[0] ? skipped[0] : "");
    fprintf(f, ", \"clblast\": ");
    json_str(f, skipped[1] ? skipped[1] : "");
    fprintf(f, "},\n  \"results\": [");
    for (int i = 0; i < n; i++) {
        char layers[64];
        fprintf(f, "%s\n    {\"workload\": \"%s\", \"id\": \"%s\", \"layers\": \"%s\", "
                   "\"batch\": %zu, \"peer\": \"%s\", \"device\": ",
                i ? "," : "", r[i].w->name, r[i].w->id,
                bench_layers_str(r[i].w, layers, sizeof layers), nb_bench_step_rows(r[i].w), r[i].peer);
        json_str(f, r[i].device);
        fprintf(f, ", \"device_name\": ");
        json_str(f, r[i].device_name);
        fprintf(f, ", \"threads\": %d, \"gemms\": %d, \"flops_per_step\": %.9g, \"ok\": %s, "
                   "\"note\": ",
                r[i].threads, r[i].gemms, r[i].flops_per_step, r[i].ok ? "true" : "false");
        json_str(f, r[i].note);
        if (r[i].ok) {
            fprintf(f, ",\n     ");
            json_stat(f, "step_s", r[i].step_s);
            fprintf(f, ", ");
            json_stat(f, "samples_per_s", r[i].samples_per_s);
            fprintf(f, ",\n     ");
            json_stat(f, "gflops", r[i].gflops);
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) ? -1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_gemm_bound [--peer all|openblas|clblast] [--workloads all|W1,W3,...]\n"
               "                        [--threads 1,2] [--devices all|opencl:P.D,...]\n"
               "                        [--reps N] [--quick] [--json FILE]\n"
               "The GEMM-only bound of each workload: batch / (time of one step's GEMMs) "
               "with OpenBLAS or CLBlast.\n"
               "Time OpenBLAS as bench/README.md says: env -u OPENBLAS_CORETYPE -u "
               "OPENBLAS_L2_SIZE bench_gemm_bound\n");
}

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->openblas = o->clblast = 1;
    for (int i = 0; i < NB_BENCH_N_WORKLOADS; i++) o->want_w[i] = 1;
    o->threads[0] = 1, o->threads[1] = 2, o->n_threads = 2;
    snprintf(o->devices, sizeof o->devices, "all");
    o->reps = 7;
    o->rep_seconds = 0.05;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->reps = 5, o->rep_seconds = 0.01;
        } else if (strcmp(a, "--peer") == 0 && v) {
            o->openblas = strcmp(v, "all") == 0 || strcmp(v, "openblas") == 0;
            o->clblast = strcmp(v, "all") == 0 || strcmp(v, "clblast") == 0;
            if (!o->openblas && !o->clblast) {
                fprintf(stderr, "bench_gemm_bound: --peer wants all, openblas or clblast\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--workloads") == 0 && v) {
            if (strcmp(v, "all") != 0) {
                for (int k = 0; k < NB_BENCH_N_WORKLOADS; k++) o->want_w[k] = 0;
                char list[128];
                snprintf(list, sizeof list, "%s", v);
                for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
                    int found = 0;
                    for (int k = 0; k < NB_BENCH_N_WORKLOADS; k++)
                        if (strcmp(t, nb_bench_workloads[k].id) == 0 ||
                            strcmp(t, nb_bench_workloads[k].name) == 0)
                            o->want_w[k] = found = 1;
                    if (!found) {
                        fprintf(stderr, "bench_gemm_bound: unknown workload '%s' (", t);
                        for (int k = 0; k < NB_BENCH_N_WORKLOADS; k++)
                            fprintf(stderr, "%s%s", k ? ", " : "", nb_bench_workloads[k].id);
                        for (int k = 0; k < NB_BENCH_N_WORKLOADS; k++)
                            fprintf(stderr, ", %s", nb_bench_workloads[k].name);
                        fputs(")\n", stderr);
                        return 2;
                    }
                }
            }
            i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            o->n_threads = bench_parse_ints(v, o->threads, 4), i++;
            if (o->n_threads < 1) {
                fprintf(stderr, "bench_gemm_bound: --threads wants a list like 1,2\n");
                return 2;
            }
        } else if (strcmp(a, "--devices") == 0 && v) {
            snprintf(o->devices, sizeof o->devices, "%s", v), i++;
        } else if (strcmp(a, "--reps") == 0 && v) {
            o->reps = atoi(v), i++;
            if (o->reps < 5 || o->reps > MAX_REPS) {
                fprintf(stderr, "bench_gemm_bound: --reps wants 5 … %d\n", MAX_REPS);
                return 2;
            }
        } else if (strcmp(a, "--json") == 0 && v) {
            o->json = v, i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "bench_gemm_bound: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static int device_wanted(const opts *o, const char *d)
{
    if (strcmp(o->devices, "all") == 0) return 1;
    char list[256];
    snprintf(list, sizeof list, "%s", o->devices);
    for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t; t = strtok_r(NULL, ",", &sv))
        if (strcmp(t, d) == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int pr = parse(argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;
    static result res[MAX_RESULTS];
    int nr = 0, bad = 0;
    const char *skipped[2] = {NULL, NULL};
    static char why_ob[256], why_cl[256];

    if (o.openblas) {
        if (!peer_openblas_available(why_ob, sizeof why_ob)) {
            skipped[0] = why_ob;
            printf("OpenBLAS: %s\n", why_ob);
        } else {
            printf("OpenBLAS: %s\n", peer_openblas_info());
            bench_print_openblas_env(stdout);
            for (int t = 0; t < o.n_threads; t++) {
                peer_openblas_threads(o.threads[t]);
                for (int k = 0; k < NB_BENCH_N_WORKLOADS && nr < MAX_RESULTS; k++) {
                    if (!o.want_w[k]) continue;
                    peer p;
                    memset(&p, 0, sizeof p);
                    result *r = &res[nr++];
                    memset(r, 0, sizeof *r);
                    snprintf(r->peer, sizeof r->peer, "openblas");
                    snprintf(r->device, sizeof r->device, "host");
                    snprintf(r->device_name, sizeof r->device_name, "%s", peer_openblas_core());
                    r->threads = o.threads[t];
                    fprintf(stderr, "OpenBLAS %dt %s …\n", r->threads, nb_bench_workloads[k].id);
                    measure(&p, &nb_bench_workloads[k], &o, r);
                    bad += !r->ok;
                }
            }
            /* Let OpenBLAS's spinning workers settle before anything else. */
            peer_openblas_threads(1);
        }
    }
    if (o.clblast) {
        int plat[MAX_CL], dev[MAX_CL];
        char names[MAX_CL][128];
        int n = peer_clblast_devices(plat, dev, names, MAX_CL, why_cl, sizeof why_cl);
        if (n <= 0) {
            skipped[1] = why_cl;
            printf("CLBlast: %s\n", why_cl);
        }
        for (int d = 0; d < n; d++) {
            char name[32];
            snprintf(name, sizeof name, "opencl:%d.%d", plat[d], dev[d]);
            if (!device_wanted(&o, name)) continue;
            peer p;
            memset(&p, 0, sizeof p);
            p.clblast = 1;
            if (peer_clblast_open(plat[d], dev[d], &p.pc, why_cl, sizeof why_cl)) {
                printf("CLBlast %s: %s\n", name, why_cl);
                bad++;
                continue;
            }
            for (int k = 0; k < NB_BENCH_N_WORKLOADS && nr < MAX_RESULTS; k++) {
                if (!o.want_w[k]) continue;
                result *r = &res[nr++];
                memset(r, 0, sizeof *r);
                snprintf(r->peer, sizeof r->peer, "clblast");
                snprintf(r->device, sizeof r->device, "%s", name);
                snprintf(r->device_name, sizeof r->device_name, "%s", names[d]);
                fprintf(stderr, "CLBlast %s %s …\n", name, nb_bench_workloads[k].id);
                measure(&p, &nb_bench_workloads[k], &o, r);
                bad += !r->ok;
            }
            peer_clblast_close(p.pc);
        }
    }

    printf("\nGEMM-only bound: samples/s = batch / (time of one step's GEMMs); median (min–max) "
           "of %d repetitions\n\n", o.reps);
    printf("| workload | layers | batch | GEMMs | peer | device | threads | step ms | samples/s | "
           "GFLOP/s |\n|---|---|---:|---:|---|---|---:|---:|---:|---:|\n");
    for (int i = 0; i < nr; i++) {
        char layers[64];
        const result *r = &res[i];
        printf("| %s %s | %s | %zu | %d | %s | %s | %d | ", r->w->id, r->w->name,
               bench_layers_str(r->w, layers, sizeof layers), nb_bench_step_rows(r->w), r->gemms, r->peer,
               r->device, r->threads);
        if (r->ok)
            printf("%.3g | %.4g (%.4g–%.4g) | %.1f |\n", r->step_s.median * 1e3,
                   r->samples_per_s.median, r->samples_per_s.min, r->samples_per_s.max,
                   r->gflops.median);
        else
            printf("- | %s | - |\n", r->note);
    }
    if (o.json && write_json(o.json, res, nr, skipped)) return 1;
    return bad ? 1 : 0;
}
