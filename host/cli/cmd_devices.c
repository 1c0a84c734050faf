/*
 * cmd_devices.c — `nabla devices`: every OpenCL platform and device, and
 * which one "auto" would use, and why.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cli/commands.h"
#include "device_pick.h"
#include "nabla.h"

static const char devices_help[] =
    "usage: nabla devices\n"
    "\n"
    "List every OpenCL platform and device with its type, compute units,\n"
    "clock, global and local memory, largest buffer, work-group limit and\n"
    "OpenCL version, and say which device --device auto would use, and why.\n"
    "The pure-C backend (--device cpu) is always available.\n"
    "\n"
    "auto uses the first GPU in platform order (opencl:P.D, P then D), else\n"
    "the first accelerator, else the pure-C backend. A CPU-type OpenCL device\n"
    "is used only when named (--device opencl or opencl:P.D): on the same\n"
    "cores the pure-C backend is faster.\n"
    "\n"
    "Exit status: 0 listed (or no OpenCL: the reason is printed), 2 bad arguments.\n";

int nb_cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') return fputs(devices_help, stdout), NB_EXIT_OK;
        return nb_cli_usage_error("devices", "unknown option '%s' (see --help)", argv[optind - 1]);
    }
    if (optind < argc) return nb_cli_usage_error("devices", "unexpected argument '%s'", argv[optind]);
    nb_device_info d[64];
    int n = 0, pick = -1;
    char why[512];
    nb_backend_options o; /* what "auto" is told (NABLA_CL_AUTO_ANY), and the loader */
    nb_status st = nb_cli_backend_options(&o);
    if (st != NB_OK) return nb_cli_fail("devices", st);
    printf("cpu          pure-C backend (always available)\n");
    if (nb_opencl_devices(d, 64, &n, &pick) != NB_OK) {
        printf("opencl       none: %s\n", nb_cli_error());
        printf("auto         -> cpu (pure C): OpenCL unavailable: %s\n", nb_cli_error());
        return NB_EXIT_OK;
    }
    /* The reason, from the devices listed here (more than 64 is not a
     * machine anyone has; the choice then names only those shown). */
    pick = nb_device_choose(d, n < 64 ? n : 64, o.auto_any_device == 1, why, sizeof why);
    for (int i = 0; i < n && i < 64; i++) {
        printf("opencl:%d.%d   %s%s\n", d[i].platform, d[i].device, d[i].name,
               i == pick ? "   <- auto" : "");
        printf("             platform %s; %s, %u compute units at %u MHz\n", d[i].platform_name,
               d[i].type, d[i].compute_units, d[i].clock_mhz);
        printf("             global %.1f GiB (largest buffer %.1f GiB), local %llu KiB, work-group "
               "%zu\n",
               (double)d[i].global_mem / 1073741824.0, (double)d[i].max_alloc / 1073741824.0,
               (unsigned long long)(d[i].local_mem / 1024), d[i].max_work_group);
        printf("             %s, driver %s\n", d[i].version, d[i].driver);
    }
    if (pick < 0)
        printf("auto         -> cpu (pure C): %s\n", why);
    else
        printf("auto         -> opencl:%d.%d: %s\n", d[pick].platform, d[pick].device, why);
    return NB_EXIT_OK;
}
