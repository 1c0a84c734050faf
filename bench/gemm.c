/*
 * gemm.c — bench_gemm: nabla's GEMM alone, on every backend, next to
 * OpenBLAS and CLBlast at the same shapes.
 *
 * Shapes: every GEMM of one training step of the workloads W1–W4 of
 * bench/README.md (forward nt, weight-gradient tn, input-gradient nn;
 * see bench_util.c), and squares 256…2048 in nn, nt and tn.
 *
 * Columns, each measured in a phase of its own so that one library's
 * worker threads (OpenBLAS spins after a call) never overlap another's
 * timing:
 *   nabla cpu                    through nb_be_gemm on the "cpu" backend;
 *   nabla opencl:P.D kernel/wall through nb_be_gemm on each OpenCL device:
 *                                kernel time from profiling events
 *                                (nb_backend_profile), and wall time of the
 *                                call plus nb_be_sync, measured in separate
 *                                repetitions so profiling cannot slow the
 *                                wall numbers;
 *   OpenBLAS 1t, 2t              cblas_sgemm on host arrays (if installed);
 *   CLBlast opencl:P.D           CLBlastSgemm on the same device in a
 *                                context of its own, wall time with
 *                                clFinish (if installed).
 *
 * Method: every result is first checked against the double-precision
 * reference (bench_util.c: ref_gemm in full for small problems, a sample
 * of entries otherwise); a wrong result prints the mismatch instead of a
 * number. Then one warm-up call, then reps repetitions (default 7, at
 * least 5) of enough back-to-back calls to last ~20 ms each, so tiny
 * shapes are not all timer noise. Cells are GFLOP/s = 2·M·N·K / t: the
 * median and (min–max) over the repetitions.
 *
 * Usage: bench_gemm [--quick] [--reps N] [--set all|workloads|square]
 *                   [--sizes 256,512,1024,2048] [--devices all|cpu|opencl:P.D[,...]]
 *                   [--no-peers]
 * Run OpenBLAS as bench/README.md says:
 *   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./bench_gemm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "bench_util.h"
#include "nabla.h"
#include "peers.h"

enum { MAX_SHAPES = 64, MAX_COLS = 16, MAX_CL = 4, MAX_REPS = 101 };

typedef enum col_kind { COL_NABLA, COL_OPENBLAS, COL_CLBLAST } col_kind;

/* One column of the table: an implementation and how it is timed. */
typedef struct column {
    char label[96];
    col_kind kind;
    char device[32];   /* nabla: "cpu" / "opencl:P.D"; CLBlast: "P.D"     */
    int threads;       /* OpenBLAS                                        */
    int kernel_time;   /* nabla OpenCL: this column reports event time    */
    char skip[256];    /* non-empty: not measured, and why                */
} column;

/* One cell: the check's verdict and, when it passed, GFLOP/s statistics. */
typedef struct cell {
    int ran, ok;
    char note[256]; /* the mismatch or error, for the notes under the table */
    bench_stat gflops;
} cell;

typedef struct opts {
    int reps;
    double rep_seconds;
    int workloads, squares;
    int sizes[8], n_sizes;
    char devices[256];
    int peers;
} opts;

static cell cells[MAX_SHAPES][MAX_COLS];

/* ------------------------------------------------------------ timing */

/* The implementation under test, bound to one shape's operands. */
typedef struct runner {
    const column *col;
    const bench_shape *s;
    nb_backend *be;           /* nabla                    */
    nb_buf a, b, c;
    const float *hA, *hB;     /* OpenBLAS                 */
    float *hC;
    peer_clblast *pc;         /* CLBlast                  */
    peer_clbuf *ca, *cb, *cc;
    char why[256];
} runner;

/* Run the GEMM `calls` times back to back and wait for the last one.
 * Returns 0, or -1 with r->why. */
static int run_calls(runner *r, int calls)
{
    const bench_shape *s = r->s;
    for (int i = 0; i < calls; i++) {
        switch (r->col->kind) {
        case COL_NABLA:
            if (nb_be_gemm(r->be, s->ta, s->tb, s->M, s->N, s->K, 1.0f, nb_view_at(&r->a, 0),
                           nb_view_at(&r->b, 0), 0.0f, nb_view_at(&r->c, 0)) != NB_OK) {
                snprintf(r->why, sizeof r->why, "nb_be_gemm: %s", nb_last_error());
                return -1;
            }
            break;
        case COL_OPENBLAS:
            peer_openblas_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, r->hA, r->hB, 0.0f, r->hC);
            break;
        case COL_CLBLAST:
            if (peer_clblast_sgemm(r->pc, s->ta, s->tb, s->M, s->N, s->K, 1.0f, r->ca, r->cb, 0.0f,
                                   r->cc, r->why, sizeof r->why))
                return -1;
            break;
        }
    }
    if (r->col->kind == COL_NABLA && nb_be_sync(r->be) != NB_OK) {
        snprintf(r->why, sizeof r->why, "nb_be_sync: %s", nb_last_error());
        return -1;
    }
    if (r->col->kind == COL_CLBLAST && peer_clblast_finish(r->pc, r->why, sizeof r->why)) return -1;
    return 0;
}

/* Seconds of GEMM kernel time nabla's profile holds. */
static double profiled_gemm_seconds(nb_backend *be)
{
    nb_op_profile p[NB_OP_COUNT];
    int n = nb_backend_profile(be, p, NB_OP_COUNT);
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].op, "gemm") == 0) return p[i].seconds;
    return 0.0;
}

/* Time r: calibrate the calls per repetition, then reps repetitions.
 * Seconds per call into t[0..reps). kernel: nabla's event time instead of
 * wall time. Returns 0 or -1 with r->why. */
static int time_runner(runner *r, const opts *o, int kernel, double *t)
{
    if (run_calls(r, 1)) return -1; /* warm-up: caches, JIT, first-touch */
    double t0 = bench_now();
    if (run_calls(r, 1)) return -1;
    double one = bench_now() - t0;
    int calls = one > 0 ? (int)ceil(o->rep_seconds / one) : 1000;
    if (calls < 1) calls = 1;
    if (calls > 1000) calls = 1000;
    for (int rep = 0; rep < o->reps; rep++) {
        if (kernel && nb_backend_profile_enable(r->be, 1) != NB_OK) {
            snprintf(r->why, sizeof r->why, "profile: %s", nb_last_error());
            return -1;
        }
        t0 = bench_now();
        if (run_calls(r, calls)) return -1;
        double wall = bench_now() - t0;
        t[rep] = (kernel ? profiled_gemm_seconds(r->be) : wall) / calls;
    }
    if (kernel) nb_backend_profile_enable(r->be, 0);
    return 0;
}

/* ------------------------------------------------------- one cell */

/* Set up col on shape s (operands from fixed seeds), check the result
 * against e, and time it. */
static void measure(const column *col, nb_backend *be, peer_clblast *pc, const bench_shape *s,
                    const bench_expect *e, const opts *o, cell *out)
{
    runner r;
    memset(&r, 0, sizeof r);
    r.col = col, r.s = s, r.be = be, r.pc = pc;
    size_t na = bench_a_floats(s), nbf = bench_b_floats(s), nc = bench_c_floats(s);
    float *A = bench_alloc(na), *B = bench_alloc(nbf), *C = bench_alloc(nc);
    double t[MAX_REPS];
    int rc = -1;
    out->ran = 1;
    if (!A || !B || !C) {
        snprintf(r.why, sizeof r.why, "out of memory");
        goto done;
    }
    bench_fill(A, na, 1), bench_fill(B, nbf, 2);
    /* C starts as NaN: an entry the GEMM never writes fails the check. */
    for (size_t i = 0; i < nc; i++) C[i] = NAN;

    switch (col->kind) {
    case COL_NABLA:
        if (nb_be_alloc(be, &r.a, na, NB_F32) != NB_OK || nb_be_alloc(be, &r.b, nbf, NB_F32) != NB_OK ||
            nb_be_alloc(be, &r.c, nc, NB_F32) != NB_OK || nb_be_write(be, &r.a, 0, A, na) != NB_OK ||
            nb_be_write(be, &r.b, 0, B, nbf) != NB_OK || nb_be_write(be, &r.c, 0, C, nc) != NB_OK) {
            snprintf(r.why, sizeof r.why, "%s", nb_last_error());
            goto done;
        }
        if (run_calls(&r, 1)) goto done;
        if (nb_be_read(be, &r.c, 0, C, nc) != NB_OK || nb_be_sync(be) != NB_OK) {
            snprintf(r.why, sizeof r.why, "%s", nb_last_error());
            goto done;
        }
        break;
    case COL_OPENBLAS:
        r.hA = A, r.hB = B, r.hC = C;
        if (run_calls(&r, 1)) goto done;
        break;
    case COL_CLBLAST:
        if (!(r.ca = peer_clblast_buffer(pc, na, A, r.why, sizeof r.why)) ||
            !(r.cb = peer_clblast_buffer(pc, nbf, B, r.why, sizeof r.why)) ||
            !(r.cc = peer_clblast_buffer(pc, nc, C, r.why, sizeof r.why)))
            goto done;
        if (run_calls(&r, 1) || peer_clblast_read(pc, r.cc, C, nc, r.why, sizeof r.why)) goto done;
        break;
    }
    double ratio;
    if (!bench_expect_check(s, e, C, &ratio, r.why, sizeof r.why)) goto done;
    out->ok = 1;
    if (time_runner(&r, o, col->kernel_time, t)) {
        out->ok = 0;
        goto done;
    }
    for (int i = 0; i < o->reps; i++) t[i] = bench_flops(s) / t[i] * 1e-9;
    out->gflops = bench_stats(t, o->reps);
    rc = 0;
done:
    if (rc) snprintf(out->note, sizeof out->note, "%s", r.why);
    if (col->kind == COL_NABLA) {
        nb_be_free(be, &r.a), nb_be_free(be, &r.b), nb_be_free(be, &r.c);
    }
    peer_clblast_buffer_free(r.ca), peer_clblast_buffer_free(r.cb), peer_clblast_buffer_free(r.cc);
    free(A), free(B), free(C);
}

/* ------------------------------------------------------------ output */

static void fmt_num(char *buf, size_t n, double v)
{
    if (v >= 100) snprintf(buf, n, "%.0f", v);
    else if (v >= 10) snprintf(buf, n, "%.1f", v);
    else if (v >= 0.1) snprintf(buf, n, "%.2f", v);
    else snprintf(buf, n, "%.2g", v);
}

static void fmt_cell(char *buf, size_t n, const column *col, const cell *c)
{
    char m[32], lo[32], hi[32];
    if (col->skip[0]) snprintf(buf, n, "skipped");
    else if (!c->ran) snprintf(buf, n, "-");
    else if (!c->ok) snprintf(buf, n, "%s", strncmp(c->note, "MISMATCH", 8) ? "ERROR*" : "MISMATCH*");
    else {
        fmt_num(m, sizeof m, c->gflops.median);
        fmt_num(lo, sizeof lo, c->gflops.min);
        fmt_num(hi, sizeof hi, c->gflops.max);
        snprintf(buf, n, "%s (%s–%s)", m, lo, hi);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_gemm [--quick] [--reps N] [--set all|workloads|square]\n"
               "                  [--sizes 256,512,1024,2048] [--devices all|cpu|opencl:P.D[,...]]\n"
               "                  [--no-peers]\n"
               "Times nabla's GEMM (nb_be_gemm) on each backend next to OpenBLAS and CLBlast.\n"
               "Time OpenBLAS as bench/README.md says: env -u OPENBLAS_CORETYPE -u "
               "OPENBLAS_L2_SIZE bench_gemm\n");
}

static int parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->reps = 7;
    o->rep_seconds = 0.02;
    o->workloads = o->squares = 1;
    o->peers = 1;
    int def_sizes[] = {256, 512, 1024, 2048};
    memcpy(o->sizes, def_sizes, sizeof def_sizes);
    o->n_sizes = 4;
    snprintf(o->devices, sizeof o->devices, "all");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->reps = 5, o->rep_seconds = 0.005;
            o->sizes[0] = 256, o->sizes[1] = 512, o->n_sizes = 2;
        } else if (strcmp(a, "--reps") == 0 && v) {
            o->reps = atoi(v), i++;
            if (o->reps < 5 || o->reps > MAX_REPS) {
                fprintf(stderr, "bench_gemm: --reps wants 5 … %d\n", MAX_REPS);
                return 2;
            }
        } else if (strcmp(a, "--set") == 0 && v) {
            o->workloads = strcmp(v, "square") != 0;
            o->squares = strcmp(v, "workloads") != 0;
            if (strcmp(v, "all") && strcmp(v, "square") && strcmp(v, "workloads")) {
                fprintf(stderr, "bench_gemm: --set wants all, workloads or square\n");
                return 2;
            }
            i++;
        } else if (strcmp(a, "--sizes") == 0 && v) {
            o->n_sizes = bench_parse_ints(v, o->sizes, 8), i++;
            if (o->n_sizes < 1) {
                fprintf(stderr, "bench_gemm: --sizes wants a list like 256,512\n");
                return 2;
            }
        } else if (strcmp(a, "--devices") == 0 && v) {
            snprintf(o->devices, sizeof o->devices, "%s", v), i++;
        } else if (strcmp(a, "--no-peers") == 0) {
            o->peers = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "bench_gemm: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* Is device d ("cpu", "opencl:0.0") selected by --devices? */
static int wanted(const opts *o, const char *d)
{
    if (strcmp(o->devices, "all") == 0) return 1;
    char list[256];
    snprintf(list, sizeof list, "%s", o->devices);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (strcmp(tok, d) == 0 || (strcmp(tok, "opencl") == 0 && strncmp(d, "opencl:", 7) == 0))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    int pr = parse(argc, argv, &o);
    if (pr) return pr == 1 ? 0 : 2;

    /* ---- shapes */
    bench_shape shapes[MAX_SHAPES];
    int ns = 0;
    if (o.workloads)
        for (int w = 0; w < NB_BENCH_N_WORKLOADS; w++)
            ns += bench_step_shapes(&nb_bench_workloads[w], shapes + ns, MAX_SHAPES - ns);
    if (o.squares)
        for (int i = 0; i < o.n_sizes; i++)
            for (int t = 0; t < 3 && ns < MAX_SHAPES; t++) {
                bench_shape *s = &shapes[ns++];
                size_t n = (size_t)o.sizes[i];
                s->ta = t == 2, s->tb = t == 1; /* nn, nt, tn */
                s->M = s->N = s->K = n;
                snprintf(s->what, sizeof s->what, "square %zu", n);
            }

    /* ---- columns */
    column cols[MAX_COLS];
    int nc = 0;
    nb_device_info devs[MAX_CL];
    int ndev = 0, pick = -1;
    if (nb_opencl_devices(devs, MAX_CL, &ndev, &pick) != NB_OK) ndev = 0;
    if (ndev > MAX_CL) ndev = MAX_CL;
    if (wanted(&o, "cpu")) {
        cols[nc] = (column){.kind = COL_NABLA};
        snprintf(cols[nc].label, sizeof cols[nc].label, "nabla cpu");
        snprintf(cols[nc].device, sizeof cols[nc].device, "cpu");
        nc++;
    }
    for (int d = 0; d < ndev; d++) {
        char dev[32];
        snprintf(dev, sizeof dev, "opencl:%d.%d", devs[d].platform, devs[d].device);
        if (!wanted(&o, dev)) continue;
        for (int k = 1; k >= 0; k--) { /* the kernel column first, then wall */
            cols[nc] = (column){.kind = COL_NABLA, .kernel_time = k};
            snprintf(cols[nc].label, sizeof cols[nc].label, "nabla %s %s", dev, k ? "kernel" : "wall");
            snprintf(cols[nc].device, sizeof cols[nc].device, "%s", dev);
            nc++;
        }
    }
    if (o.peers) {
        char why[256];
        int have = peer_openblas_available(why, sizeof why);
        for (int th = 1; th <= 2; th++) {
            cols[nc] = (column){.kind = COL_OPENBLAS, .threads = th};
            snprintf(cols[nc].label, sizeof cols[nc].label, "OpenBLAS %dt", th);
            if (!have) snprintf(cols[nc].skip, sizeof cols[nc].skip, "%s", why);
            nc++;
        }
        int plat[MAX_CL], dev[MAX_CL];
        char names[MAX_CL][128];
        int n = peer_clblast_devices(plat, dev, names, MAX_CL, why, sizeof why);
        if (n <= 0) {
            cols[nc] = (column){.kind = COL_CLBLAST};
            snprintf(cols[nc].label, sizeof cols[nc].label, "CLBlast");
            snprintf(cols[nc].skip, sizeof cols[nc].skip, "%s", why);
            nc++;
        }
        for (int d = 0; d < n && nc < MAX_COLS; d++) {
            char name[32];
            snprintf(name, sizeof name, "opencl:%d.%d", plat[d], dev[d]);
            if (!wanted(&o, name)) continue;
            cols[nc] = (column){.kind = COL_CLBLAST};
            snprintf(cols[nc].label, sizeof cols[nc].label, "CLBlast %s wall", name);
            snprintf(cols[nc].device, sizeof cols[nc].device, "%d.%d", plat[d], dev[d]);
            nc++;
        }
    }

    /* ---- references, once per shape */
    /* Progress goes to a terminal only, one line rewritten in place. */
    const int tty = isatty(2);
    bench_expect *exp = calloc((size_t)ns, sizeof *exp);
    if (!exp) return 1;
    for (int i = 0; i < ns; i++) {
        size_t na = bench_a_floats(&shapes[i]), nbf = bench_b_floats(&shapes[i]);
        float *A = bench_alloc(na), *B = bench_alloc(nbf);
        if (!A || !B) return 1;
        bench_fill(A, na, 1), bench_fill(B, nbf, 2);
        if (tty) fprintf(stderr, "\rreference %d/%d   ", i + 1, ns);
        if (bench_expect_make(&shapes[i], A, B, &exp[i])) return 1;
        free(A), free(B);
    }
    if (tty) fprintf(stderr, "\n");

    /* ---- measure, one column (one library) at a time */
    char header_notes[8][320];
    int nnotes = 0;
    for (int c = 0; c < nc; c++) {
        column *col = &cols[c];
        nb_backend *be = NULL;
        peer_clblast *pc = NULL;
        if (col->skip[0]) continue;
        if (col->kind == COL_NABLA && nb_backend_create(col->device, &be) != NB_OK) {
            snprintf(col->skip, sizeof col->skip, "%s", nb_last_error());
            continue;
        }
        if (col->kind == COL_NABLA && nnotes < 8 && !col->kernel_time) {
            double secs;
            int cached;
            nb_backend_build_info(be, &secs, &cached);
            snprintf(header_notes[nnotes++], sizeof header_notes[0], "%s = %s%s", col->device,
                     nb_backend_name(be),
                     cached < 0 ? "" : cached ? " (program from cache)" : " (program compiled)");
        }
        if (col->kind == COL_OPENBLAS) peer_openblas_threads(col->threads);
        if (col->kind == COL_CLBLAST) {
            int p, d;
            sscanf(col->device, "%d.%d", &p, &d);
            if (peer_clblast_open(p, d, &pc, col->skip, sizeof col->skip)) continue;
        }
        for (int i = 0; i < ns; i++) {
            if (tty)
                fprintf(stderr, "\r%-32s %-16s %3d/%d   ", col->label, shapes[i].what, i + 1, ns);
            measure(col, be, pc, &shapes[i], &exp[i], &o, &cells[i][c]);
        }
        if (tty) fputc('\n', stderr);
        else fprintf(stderr, "%s: done\n", col->label);
        nb_backend_free(be);
        peer_clblast_close(pc);
    }

    /* ---- the table (Markdown, so it can be pasted into RESULTS.md) */
    char cpu_model[128] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[256];
        while (fgets(line, sizeof line, ci))
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) snprintf(cpu_model, sizeof cpu_model, "%s", p + 2);
                cpu_model[strcspn(cpu_model, "\n")] = '\0';
                break;
            }
        fclose(ci);
    }
    printf("bench_gemm: GFLOP/s = 2·M·N·K / t, median (min–max) of %d repetitions; %s\n", o.reps,
           cpu_model);
    for (int i = 0; i < nnotes; i++) printf("  %s\n", header_notes[i]);
    if (o.peers) {
        const char *info = peer_openblas_info();
        if (info[0]) printf("  OpenBLAS: %s\n", info);
        printf("  ");
        bench_print_openblas_env(stdout);
    }
    printf("\n| shape | op | M×N×K | MFLOP |");
    for (int c = 0; c < nc; c++) printf(" %s |", cols[c].label);
    printf("\n|---|---|---|---:|");
    for (int c = 0; c < nc; c++) printf("---:|");
    printf("\n");
    for (int i = 0; i < ns; i++) {
        const bench_shape *s = &shapes[i];
        printf("| %s | %s%s | %zu×%zu×%zu | %.3g |", s->what, s->ta ? "t" : "n", s->tb ? "t" : "n",
               s->M, s->N, s->K, bench_flops(s) * 1e-6);
        for (int c = 0; c < nc; c++) {
            char buf[160];
            fmt_cell(buf, sizeof buf, &cols[c], &cells[i][c]);
            printf(" %s |", buf);
        }
        printf("\n");
    }
    /* Notes: skipped columns, and every mismatch or error in full. */
    int bad = 0;
    for (int c = 0; c < nc; c++)
        if (cols[c].skip[0]) printf("\n%s: %s", cols[c].label, cols[c].skip);
    for (int i = 0; i < ns; i++)
        for (int c = 0; c < nc; c++)
            if (cells[i][c].ran && !cells[i][c].ok) {
                printf("\n* %s, %s: %s", cols[c].label, shapes[i].what, cells[i][c].note);
                bad++;
            }
    printf("\nChecked against the double-precision reference before timing: full ref_gemm up to "
           "%.0f multiply-adds, else %d sampled entries (corners included); tolerance "
           "8(√K+1)·2⁻²⁴·Σ|a·b| per entry.\n",
           BENCH_FULL_CHECK_MACS, BENCH_SAMPLE);
    for (int i = 0; i < ns; i++) bench_expect_free(&exp[i]);
    free(exp);
    return bad ? 1 : 0;
}
