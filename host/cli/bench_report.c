/*
 * bench_report.c — what `nabla bench` prints and records: the napkin-math
 * FLOP count of each workload, one aligned table row per workload × device
 * (or the mismatch / error instead of numbers), the notes that say how to
 * read the table, and the --json document.
 *
 * The JSON is written by hand: strings escaped, numbers with %.9g (enough
 * digits to round-trip a double's useful part), null for anything not
 * finite, so Python's json module reads every file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"

#ifndef NABLA_COMMIT
#define NABLA_COMMIT "unknown" /* set by CMake from `git rev-parse` at configure time */
#endif

/* ------------------------------------------------------------- table */

void nb_bench_print_napkin(FILE *f, const nb_bench_spec *s)
{
    char layers[256];
    double P, P1, fps = nb_bench_flops_per_sample(s->widths, s->n_widths, &P, &P1);
    long steps = nb_bench_nominal_steps(s);
    int full = s->batch == 0 || s->batch >= s->n;
    fprintf(f, "%s: %s, N %zu, ", s->name, nb_bench_layers_str(s, layers, sizeof layers), s->n);
    if (full) fprintf(f, "full batch");
    else fprintf(f, "batch %zu", s->batch);
    if (s->iters > 0) fprintf(f, ", %ld updates per repetition\n", steps);
    else fprintf(f, ", %ld epoch%s = %ld updates per repetition\n", s->epochs,
                 s->epochs == 1 ? "" : "s", steps);
    fprintf(f, "  FLOP/sample = 2P + 2P + 2(P - P1) = %.0f  (P = %.0f weights, P1 = %.0f in "
               "layer 1); %.4g GFLOP per repetition\n",
            fps, P, P1, fps * nb_bench_samples(s, steps) * 1e-9);
}

/* "52.1k": three significant digits and a suffix, for samples/s. */
static const char *si(double v, char *buf, size_t n)
{
    static const char *sfx[] = {"", "k", "M", "G"};
    int i = 0;
    while (fabs(v) >= 1000.0 && i < 3) v /= 1000.0, i++;
    snprintf(buf, n, fabs(v) >= 100 ? "%.0f%s" : fabs(v) >= 10 ? "%.1f%s" : "%.2f%s", v, sfx[i]);
    return buf;
}

/* Seconds with a unit that keeps three digits. */
static const char *dur(double s, char *buf, size_t n)
{
    double a = fabs(s);
    if (a >= 1.0) snprintf(buf, n, "%.3g s", s);
    else if (a >= 1e-3) snprintf(buf, n, "%.3g ms", s * 1e3);
    else snprintf(buf, n, "%.3g us", s * 1e6);
    return buf;
}

static const char *bytes(double b, char *buf, size_t n)
{
    if (b >= 1e6) snprintf(buf, n, "%.3g MB", b * 1e-6);
    else if (b >= 1e3) snprintf(buf, n, "%.3g kB", b * 1e-3);
    else snprintf(buf, n, "%.0f B", b);
    return buf;
}

#define ROW_FMT "%-9s %-11s %-22s %9s %8s %10s %10s %-16s %-18s %8s %-17s %8s %9s\n"

void nb_bench_print_header(FILE *f)
{
    fprintf(f, ROW_FMT, "workload", "device", "samples/s (min-max)", "steps/s", "GFLOP/s",
            "kernels", "transfers", "host", "bytes/step(steady)", "launches", "build cold/cached",
            "RSS MiB", "check");
}

void nb_bench_print_row(FILE *f, const nb_bench_result *r)
{
    const char *w = r->spec->name, *dev = r->label[0] ? r->label : r->device;
    if (r->error[0]) {
        fprintf(f, "%-9s %-11s ERROR: %s\n", w, dev, r->error);
        return;
    }
    if (r->check_ok == 0) {
        double tol = NB_BENCH_ATOL + NB_BENCH_RTOL * fabs(r->worst_want);
        fprintf(f, "%-9s %-11s MISMATCH vs cpu after %d updates: theta[%zu] = %.9g, cpu %.9g, "
                   "|d| = %.3g > %.3g (= %g + %g*|cpu|); no timing\n",
                w, dev, NB_BENCH_CHECK_STEPS, r->worst_index, r->worst_got, r->worst_want,
                fabs(r->worst_got - r->worst_want), tol, NB_BENCH_ATOL, NB_BENCH_RTOL);
        return;
    }
    char a[16], b[16], c[16], sps[64], stp[24], gf[24], kern[24], xfer[24], host[64], by[64];
    char build[48], rss[24], chk[24], u1[24], u2[24], launches[24];
    snprintf(sps, sizeof sps, "%s (%s-%s)", si(r->samples_per_s.median, a, sizeof a),
             si(r->samples_per_s.min, b, sizeof b), si(r->samples_per_s.max, c, sizeof c));
    si(r->steps_per_s.median, stp, sizeof stp);
    snprintf(gf, sizeof gf, "%.3g", r->gflops.median);
    dur(r->t_kernels, kern, sizeof kern);
    dur(r->t_transfers, xfer, sizeof xfer);
    double step = r->t_kernels + r->t_transfers + r->t_host;
    snprintf(host, sizeof host, "%s (%.0f%%)", dur(r->t_host, u1, sizeof u1),
             step > 0 ? 100.0 * r->t_host / step : 0.0);
    snprintf(by, sizeof by, "%s (%s)", bytes(r->bytes_per_step, u1, sizeof u1),
             bytes(r->bytes_per_step_steady, u2, sizeof u2));
    if (isnan(r->build_cold_ms)) snprintf(build, sizeof build, "-");
    else if (isnan(r->build_cached_ms)) snprintf(build, sizeof build, "%.0f ms/(none)", r->build_cold_ms);
    else snprintf(build, sizeof build, "%.0f/%.1f ms", r->build_cold_ms, r->build_cached_ms);
    if (isnan(r->launches_per_step)) snprintf(launches, sizeof launches, "-");
    else snprintf(launches, sizeof launches, "%.3g", r->launches_per_step);
    snprintf(rss, sizeof rss, "%.0f", r->peak_rss_mib);
    snprintf(chk, sizeof chk, "ok %.1e", r->worst_abs);
    fprintf(f, ROW_FMT, w, dev, sps, stp, gf, kern, xfer, host, by, launches, build, rss, chk);
}

void nb_bench_print_notes(FILE *f, const nb_bench_result *r, int n, const nb_bench_config *c)
{
    int rss_reset = 1, any = 0;
    for (int i = 0; i < n; i++) {
        if (!r[i].error[0] && r[i].check_ok == 1 && r[i].steps_per_rep < r[i].nominal_steps)
            fprintf(f, "note: %s on %s: a full repetition (%ld updates) would exceed %g s, so each "
                       "repetition ran %ld updates (steps_per_rep in the JSON)\n",
                    r[i].spec->name, r[i].label[0] ? r[i].label : r[i].device, r[i].nominal_steps,
                    c->max_rep_seconds, r[i].steps_per_rep);
        rss_reset &= r[i].rss_per_result;
    }
    fprintf(f,
            "\nsamples/s, steps/s, GFLOP/s: median of %d repetitions (min-max); each repetition is "
            "one nb_train call\n"
            "  on the same model and data, so its wall time includes uploading the whole dataset "
            "once.\n"
            "kernels, transfers, host: time per update in one more repetition, profiled (OpenCL: "
            "device time from\n"
            "  events; cpu: wall time per op); transfers = write + read, the upload included; "
            "host = its wall - both.\n",
            c->reps);
    for (int i = 0; i < n; i++) {
        if (r[i].error[0] || r[i].check_ok != 1) continue;
        fprintf(f, "%s%s/%s %+.0f%%", any ? ", " : "  profiling slowed that repetition by: ",
                r[i].spec->name, r[i].label[0] ? r[i].label : r[i].device,
                100.0 * r[i].profile_overhead);
        any = 1;
    }
    if (any) fputc('\n', f);
    fprintf(f,
            "bytes/step: written + read per update; (steady) per update after the first, which "
            "also uploads the data\n  (inputs only where the backend cannot read them in place) "
            "and the first epoch's row order.\n"
            "launches: OpenCL kernels per update after the first (the cpu launches none: -).\n"
            "build: program build with an empty nabla cache, then from it (the OpenCL runtime's "
            "own cache may still help).\n"
            "RSS: peak resident memory %s.\n"
            "check: max |theta - theta_cpu| after %d updates from the same seed; a pass needs "
            "|d| <= %g + %g*|theta_cpu|.\n",
            rss_reset ? "during each result (reset before it)" : "of the process so far",
            NB_BENCH_CHECK_STEPS, NB_BENCH_ATOL, NB_BENCH_RTOL);
}

/* --------------------------------------------------------------- JSON */

static void jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void jnum(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

static void jstat(FILE *f, const char *key, const nb_bench_stat *s, int valid)
{
    fprintf(f, ", \"%s\": ", key);
    if (!valid) {
        fputs("null", f);
        return;
    }
    fputs("{\"median\": ", f), jnum(f, s->median);
    fputs(", \"min\": ", f), jnum(f, s->min);
    fputs(", \"max\": ", f), jnum(f, s->max);
    fputc('}', f);
}

static void jwidths(FILE *f, const int *w, int n)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", w[i]);
    fputc(']', f);
}

static void json_result(FILE *f, const nb_bench_result *r)
{
    const nb_bench_spec *s = r->spec;
    int timed = !r->error[0] && r->check_ok == 1 && r->reps > 0;
    int full = s->batch == 0 || s->batch >= s->n;
    fputs("    {\"workload\": ", f), jstr(f, s->name);
    fputs(", \"device\": ", f), jstr(f, r->device);
    fputs(", \"device_name\": ", f), jstr(f, r->device_name[0] ? r->device_name : NULL);
    fputs(", \"driver\": ", f), jstr(f, r->driver[0] ? r->driver : NULL);
    fputs(", \"threads\": ", f);
    if (r->threads > 0) fprintf(f, "%d", r->threads);
    else fputs("null", f);
    fputs(", \"layers\": ", f), jwidths(f, s->widths, s->n_widths);
    fprintf(f, ", \"batch\": %zu, \"full_batch\": %s, \"n\": %zu", full ? s->n : s->batch,
            full ? "true" : "false", s->n);
    fprintf(f, ",\n     \"steps_per_rep\": %ld, \"nominal_steps_per_rep\": %ld, \"steps_reduced\": "
               "%s, \"samples_per_rep\": ",
            timed ? r->steps_per_rep : nb_bench_nominal_steps(s),
            nb_bench_nominal_steps(s), timed && r->steps_per_rep < r->nominal_steps ? "true" : "false");
    jnum(f, nb_bench_samples(s, timed ? r->steps_per_rep : nb_bench_nominal_steps(s)));
    fprintf(f, ", \"reps\": %d, \"rep_seconds\": [", timed ? r->reps : 0);
    for (int i = 0; timed && i < r->reps; i++) fputs(i ? ", " : "", f), jnum(f, r->rep_seconds[i]);
    fputs("],\n     \"check\": ", f);
    if (r->check_ok < 0) fputs("null", f);
    else {
        fprintf(f, "{\"ok\": %s, \"worst_abs\": ", r->check_ok ? "true" : "false");
        jnum(f, r->worst_abs);
        fputs(", \"worst_rel\": ", f), jnum(f, r->worst_rel);
        fprintf(f, ", \"worst_index\": %zu, \"got\": ", r->worst_index);
        jnum(f, r->worst_got);
        fputs(", \"want\": ", f), jnum(f, r->worst_want);
        fputs(", \"max_update\": ", f), jnum(f, r->max_update);
        fprintf(f, ", \"steps\": %d, \"atol\": %g, \"rtol\": %g}", NB_BENCH_CHECK_STEPS,
                NB_BENCH_ATOL, NB_BENCH_RTOL);
    }
    fputs(",\n     \"flops_per_sample\": ", f);
    jnum(f, nb_bench_flops_per_sample(s->widths, s->n_widths, NULL, NULL));
    jstat(f, "samples_per_s", &r->samples_per_s, timed);
    jstat(f, "steps_per_s", &r->steps_per_s, timed);
    jstat(f, "gflops", &r->gflops, timed);
    fputs(",\n     \"time_split_per_step\": ", f);
    if (timed) {
        fputs("{\"kernels\": ", f), jnum(f, r->t_kernels);
        fputs(", \"transfers\": ", f), jnum(f, r->t_transfers);
        fputs(", \"host\": ", f), jnum(f, r->t_host);
        fputc('}', f);
    } else fputs("null", f);
    fputs(", \"profiled_rep_seconds\": ", f), jnum(f, timed ? r->profiled_seconds : NAN);
    fputs(", \"profile_overhead\": ", f), jnum(f, timed ? r->profile_overhead : NAN);
    fputs(",\n     \"bytes_per_step\": ", f), jnum(f, timed ? r->bytes_per_step : NAN);
    fputs(", \"bytes_per_step_excluding_upload\": ", f);
    jnum(f, timed ? r->bytes_per_step_steady : NAN);
    fputs(", \"launches_per_step\": ", f); /* null: the cpu launches no kernels */
    jnum(f, timed ? r->launches_per_step : NAN);
    fputs(",\n     \"build_ms\": ", f);
    if (strcmp(r->device, "cpu") == 0 || isnan(r->build_cold_ms)) fputs("null", f);
    else {
        fputs("{\"cold\": ", f), jnum(f, r->build_cold_ms);
        fputs(", \"cached\": ", f), jnum(f, r->build_cached_ms);
        fputc('}', f);
    }
    fputs(", \"peak_rss_mib\": ", f), jnum(f, r->peak_rss_mib);
    fprintf(f, ", \"peak_rss_scope\": \"%s\"", r->rss_per_result ? "result" : "process");
    fputs(", \"error\": ", f), jstr(f, r->error[0] ? r->error : NULL);
    fputc('}', f);
}

static void json_cross(FILE *f, const nb_bench_cross *x)
{
    const char *key = x->width_sweep ? "width" : "batch";
    fprintf(f, "  \"crossover\": {\"sweep\": \"%s\", \"layers\": ", key);
    jwidths(f, x->widths, x->n_widths);
    fprintf(f, ", \"batch\": %zu, \"n\": %zu, \"opencl_device\": ", x->batch, x->n);
    jstr(f, x->opencl[0] ? x->opencl : NULL);
    fputs(",\n    \"points\": [", f);
    for (int i = 0; i < x->n_pts; i++) {
        fprintf(f, "%s\n      {\"%s\": %d, \"cpu_samples_per_s\": ", i ? "," : "", key, x->pts[i].x);
        jnum(f, x->pts[i].cpu);
        fputs(", \"opencl_samples_per_s\": ", f), jnum(f, x->pts[i].opencl);
        fputc('}', f);
    }
    fputs("],\n    \"first_opencl_faster\": ", f);
    if (x->first_faster > 0) fprintf(f, "%d", x->first_faster);
    else fputs("null", f);
    fputs("}", f);
}

/* "contention": null, or the busy processes and, per workload, the cpu's
 * samples/s at its default threads and at one (results in pairs). */
static void json_contention(FILE *f, const nb_bench_config *c, const nb_bench_result *r, int n)
{
    fputs(",\n  \"contention\": ", f);
    if (c->contention <= 0) {
        fputs("null", f);
        return;
    }
    fprintf(f, "{\"processes\": %d, \"comparisons\": [", c->contention);
    for (int i = 0; i + 1 < n; i += 2) {
        int ok = !isnan(nb_bench_contention_ratio(&r[i]));
        fputs(i ? ",\n" : "\n", f);
        fputs("    {\"workload\": ", f), jstr(f, r[i].spec->name);
        fprintf(f, ", \"default_threads\": %d, \"default_samples_per_s\": ", r[i].threads);
        jnum(f, ok ? r[i].samples_per_s.median : NAN);
        fputs(", \"one_thread_samples_per_s\": ", f);
        jnum(f, ok ? r[i + 1].samples_per_s.median : NAN);
        fputs(", \"ratio\": ", f), jnum(f, nb_bench_contention_ratio(&r[i]));
        fputc('}', f);
    }
    fputs(n > 1 ? "\n  ]}" : "]}", f);
}

/* The "model name" of the first processor in /proc/cpuinfo, or "". */
static void cpu_model(char *buf, size_t n)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    buf[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) continue;
        for (v++; *v == ' ' || *v == '\t'; v++) continue;
        snprintf(buf, n, "%s", v);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    if (f) fclose(f);
}

static double mem_gib(void)
{
    char line[256];
    double kib = NAN;
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lf kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib / (1024.0 * 1024.0);
}

int nb_bench_write_json(const char *path, const nb_bench_config *c, const nb_bench_result *r,
                        int n, const nb_bench_cross *x)
{
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "nabla bench: --json: cannot open '%s' for writing\n", path);
        return 2;
    }
    char model[256], date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cpu_model(model, sizeof model);
    fputs("{\n  \"tool\": \"nabla bench\", \"nabla_version\": ", f);
    jstr(f, NABLA_VERSION);
    fputs(", \"commit\": ", f), jstr(f, NABLA_COMMIT);
    fputs(", \"date\": ", f), jstr(f, date);
    fputs(",\n  \"machine\": {\"cpu_model\": ", f), jstr(f, model[0] ? model : NULL);
    fprintf(f, ", \"cores\": %ld, \"memory_gib\": ", sysconf(_SC_NPROCESSORS_ONLN));
    jnum(f, mem_gib());
    fprintf(f, "},\n  \"method\": {\"optimizer\": \"sgd\", \"lr\": %g, \"loss\": \"mse\", "
               "\"activation\": \"sigmoid\", \"reps\": %d, \"max_rep_seconds\": %g, \"seed\": %llu, "
               "\"divergence_check_every\": %d, \"flops\": \"2P + 2P + 2(P - P1) per sample\"}",
            NB_BENCH_LR, c->reps, c->max_rep_seconds, (unsigned long long)c->seed,
            NB_BENCH_CHECK_EVERY);
    fputs(",\n  \"results\": [", f);
    for (int i = 0; i < n; i++) fputs(i ? ",\n" : "\n", f), json_result(f, &r[i]);
    fputs(n ? "\n  ]" : "]", f);
    json_contention(f, c, r, n);
    if (x) fputs(",\n", f), json_cross(f, x);
    fputs("\n}\n", f);
    int bad = ferror(f) != 0;
    if (!to_stdout) bad |= fclose(f) != 0;
    else bad |= fflush(f) != 0;
    if (bad) {
        fprintf(stderr, "nabla bench: --json: writing '%s' failed\n", path);
        return 1;
    }
    return 0;
}
