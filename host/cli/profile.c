/*
 * profile.c — the --profile table ("compare device timings") and opening
 * the backend a command asked for.
 *
 * Kernel ops report achieved GFLOP/s (GEMM) or GB/s (element-wise, from
 * the bytes each op must touch); transfers report bytes across the bus.
 */
#include "cli/profile.h"

#include <string.h>

#include "cli/args.h"
#include "cli/backend_opts.h"

static int is_transfer(const char *op) { return !strcmp(op, "write") || !strcmp(op, "read"); }

void nb_cli_print_profile(FILE *f, nb_backend *be, double wall_seconds)
{
    nb_op_profile p[32];
    int n = nb_backend_profile(be, p, 32);
    double total = 0.0, build = 0.0;
    int cached = -1;
    for (int i = 0; i < n; i++) total += p[i].seconds;
    nb_backend_build_info(be, &build, &cached);
    fprintf(f, "\nprofile: %s\n", nb_backend_name(be));
    fprintf(f, "%-13s %9s %11s %10s %7s %12s\n", "op", "calls", "total ms", "mean us", "share",
            "rate");
    for (int i = 0; i < n; i++) {
        double ms = 1e3 * p[i].seconds, us = 1e6 * p[i].seconds / (double)p[i].calls;
        char rate[32] = "";
        if (p[i].seconds > 0 && p[i].flops > 0)
            snprintf(rate, sizeof rate, "%.2f GFLOP/s", p[i].flops / p[i].seconds * 1e-9);
        else if (p[i].seconds > 0 && p[i].bytes > 0)
            snprintf(rate, sizeof rate, "%.2f GB/s", p[i].bytes / p[i].seconds * 1e-9);
        fprintf(f, "%-13s %9llu %11.2f %10.2f %6.1f%% %12s", p[i].op,
                (unsigned long long)p[i].calls, ms, us, total > 0 ? 100.0 * p[i].seconds / total : 0.0,
                rate);
        if (is_transfer(p[i].op)) fprintf(f, "  %.3g MB moved", p[i].bytes * 1e-6);
        fputc('\n', f);
    }
    fprintf(f, "%-13s %9s %11.2f   (ops); wall %.2f ms, host and waiting %.2f ms\n", "total", "",
            1e3 * total, 1e3 * wall_seconds, 1e3 * (wall_seconds - total));
    if (cached >= 0)
        fprintf(f, "program build: %.1f ms (%s)\n", 1e3 * build, cached ? "from cache" : "compiled");
    int64_t launches = nb_backend_launches(be); /* -1: the cpu launches none */
    if (launches >= 0) fprintf(f, "kernel launches: %lld\n", (long long)launches);
    int tuned = 0;
    const char *tuning = nb_backend_tuning(be, &tuned);
    if (tuning[0])
        fprintf(f, "kernels: %s (%s)\n", tuning, tuned ? "from the tuning record" : "built-in choice");
}

int nb_cli_open_backend(const char *cmd, const char *device, nb_backend **be)
{
    nb_status st = nb_cli_backend_create(device, be);
    if (st != NB_OK) {
        fprintf(stderr, "nabla %s: --device %s: %s\n", cmd, device ? device : "auto",
                nb_cli_error());
        /* A device the user named explicitly must not fail quietly. */
        return st == NB_ERR_ARG ? NB_EXIT_USAGE : NB_EXIT_DEVICE;
    }
    /* On the cpu the note is why auto chose it (no GPU, or OpenCL failed);
     * on OpenCL it is about the device's setup (a kernel cache not used)
     * and the run goes on there. */
    if (nb_backend_note(*be)[0] && strncmp(nb_backend_name(*be), "cpu", 3) == 0)
        fprintf(stderr, "nabla %s: using cpu, %s\n", cmd, nb_backend_note(*be));
    else if (nb_backend_note(*be)[0])
        fprintf(stderr, "nabla %s: %s\n", cmd, nb_backend_note(*be));
    /* Training on an OpenCL device that was never tuned: say how, once;
     * but not after a note, which is about the very directory a record
     * would be kept in (or about a record refused). */
    int tuned = 0;
    const char *tuning = nb_backend_tuning(*be, &tuned);
    if (!strcmp(cmd, "train") && tuning[0] && !tuned && !nb_backend_note(*be)[0]) {
        const char *name = nb_backend_name(*be);
        int len = (int)strcspn(name, " ");
        fprintf(stderr, "nabla train: %.*s has no tuning record; 'nabla tune --device %.*s --quick' "
                        "may make it faster (optional)\n", len, name, len, name);
    }
    return 0;
}
