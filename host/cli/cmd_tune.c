/*
 * cmd_tune.c — `nabla tune`: time the OpenCL kernels' configurations on a
 * device at the shapes the model will run, and keep the winners as the
 * device's tuning record, which training then uses (host/opencl/cl_tuner.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/bench_workloads.h"
#include "cli/commands.h"
#include "tune.h"

static const char tune_help[] =
    "usage: nabla tune [--device D] [--quick] [--layers W0,W1,... --batch B] [--dry-run]\n"
    "\n"
    "Find the fastest kernel configuration for an OpenCL device and remember\n"
    "it: GEMM tile, register block, K slice, vector width, local memory or\n"
    "none, padding, double buffering and work-group shape; then the GEMV\n"
    "work-group size, the size below which a GEMM runs one work-item per\n"
    "output, and the work-group size of the reduction and element-wise\n"
    "kernels (timed over one step's ops of the first network). Each candidate is checked against the reference before it is\n"
    "timed; one that does not build, gives wrong results or exceeds the\n"
    "device's limits is skipped and counted. The winners are stored next to\n"
    "the kernel cache, for this device, driver and kernel source, and every\n"
    "later run on the device uses them. Tuning is optional: without a record\n"
    "the built-in configuration for the device's limits applies.\n"
    "\n"
    "  --device D        opencl (the first GPU, else the first device) or\n"
    "                    opencl:P.D as 'nabla devices' lists them (default opencl)\n"
    "  --quick           fewer candidates, one timed run each, batches capped at\n"
    "                    128 rows, the reduction work-group size left built in\n"
    "                    (seconds, not minutes)\n"
    "  --layers W0,...   tune for this network instead of the benchmark\n"
    "                    workloads W1-W4 (needs --batch)\n"
    "  --batch B         rows per step of that network\n"
    "  --dry-run         report the winner but store nothing\n"
    "\n"
    "NABLA_CL_RECORD=off makes a run ignore the record (the built-in choice).\n"
    "Exit status: 0 tuned, 1 the record could not be stored, 2 bad arguments, 3 no\n"
    "OpenCL device, or it failed (the built-in configuration included).\n";

static void progress(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

int nb_cmd_tune(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, 0, 'd'}, {"quick", no_argument, 0, 'q'},
        {"layers", required_argument, 0, 'L'}, {"batch", required_argument, 0, 'b'},
        {"dry-run", no_argument, 0, 'n'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    nb_tune_request req;
    memset(&req, 0, sizeof req);
    req.store = true;
    req.progress = progress;
    const char *device = "opencl";
    int widths[NB_TUNE_MAX_WIDTHS], n_widths = 0, c;
    long batch = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': return fputs(tune_help, stdout), NB_EXIT_OK;
        case 'd': device = optarg; break;
        case 'q': req.quick = true; break;
        case 'n': req.store = false; break;
        case 'L':
            if (!nb_arg_widths("tune", "--layers", optarg, widths, NB_TUNE_MAX_WIDTHS, &n_widths))
                return NB_EXIT_USAGE;
            break;
        case 'b':
            if (!nb_arg_long("tune", "--batch", optarg, 1, 1L << 20, &batch)) return NB_EXIT_USAGE;
            break;
        case ':': return nb_cli_usage_error("tune", "%s needs a value", argv[optind - 1]);
        default: return nb_cli_usage_error("tune", "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return nb_cli_usage_error("tune", "unexpected argument '%s'", argv[optind]);
    if ((n_widths > 0) != (batch > 0))
        return nb_cli_usage_error("tune", "--layers and --batch go together");
    if (strcmp(device, "opencl") == 0) req.spec = NULL;
    else if (strncmp(device, "opencl:", 7) == 0) req.spec = device + 7;
    else return nb_cli_usage_error("tune", "--device '%s': want opencl or opencl:P.D", device);

    if (n_widths > 0) {
        req.nets[0].name = "net";
        memcpy(req.nets[0].widths, widths, sizeof(int) * (size_t)n_widths);
        req.nets[0].n_widths = n_widths;
        req.nets[0].batch = (size_t)batch;
        req.n_nets = 1;
    } else { /* the benchmark workloads, one step each */
        for (int w = 0; w < NB_BENCH_N_WORKLOADS && w < NB_TUNE_MAX_NETS; w++) {
            const nb_bench_workload *b = &nb_bench_workloads[w];
            nb_tune_net *n = &req.nets[req.n_nets++];
            n->name = b->id;
            memcpy(n->widths, b->widths, sizeof(int) * (size_t)b->n_widths);
            n->n_widths = b->n_widths;
            n->batch = nb_bench_step_rows(b);
        }
    }
    nb_backend_options o;
    nb_status st = nb_cli_backend_options(&o);
    if (st != NB_OK) return nb_cli_fail("tune", st);
    req.options = &o;
    nb_tune_report rep;
    st = nb_tune_run(&req, &rep);
    if (st == NB_ERR_IO || st == NB_ERR_UNSUPPORTED) {
        /* Not bad input: the record could not be kept, or there is no OpenCL. */
        nb_cli_fail("tune", st);
        return st == NB_ERR_IO ? NB_EXIT_FAIL : NB_EXIT_DEVICE;
    }
    if (st != NB_OK) return nb_cli_fail("tune", st);
    printf("device    %s\n", rep.device);
    printf("GEMM      %d candidates: %d timed, %d skipped (%d over the device's limits, %d did "
           "not build, %d wrong)\n",
           rep.tried, rep.timed, rep.skipped_limit + rep.skipped_build + rep.skipped_check,
           rep.skipped_limit, rep.skipped_build, rep.skipped_check);
    printf("ladder    %s\n", rep.ladder);
    printf("winner    %s\n", rep.winner);
    for (int w = 0; w < req.n_nets; w++) {
        if (rep.ladder_ms[w] <= 0) continue; /* no tiled GEMM in that network */
        printf("  %-6s  step GEMMs %.2f ms (ladder %.2f ms): %.2fx\n", req.nets[w].name,
               rep.winner_ms[w], rep.ladder_ms[w], rep.ladder_ms[w] / rep.winner_ms[w]);
    }
    printf("GEMV      work-group %d\n", rep.gemv_wg);
    printf("reduce    work-group %d (reduction and element-wise kernels%s)\n", rep.wg,
           req.quick ? ", built in: --quick does not time it" : "");
    printf("small     GEMMs up to %.0f multiply-adds run one work-item per output\n", rep.gemm_small);
    if (rep.record[0]) printf("record    %s\n", rep.record);
    else printf("record    not stored (--dry-run)\n");
    printf("time      %.1f s\n", rep.seconds);
    return NB_EXIT_OK;
}
