/*
 * device_pick.c — the rule by which "auto" picks a device, and its reason
 * in words, from the devices' descriptions alone.
 *
 * The rule: the first GPU in platform order (platform P, then device D,
 * as "opencl:P.D" numbers them), else the first accelerator, else the
 * pure-C cpu backend. Platform order is what the OpenCL loader reports and
 * is stable on a machine, so the same GPU wins every run; a user who wants
 * another names it. A CPU-type OpenCL device (PoCL and the like) runs on
 * the same cores as the cpu backend, through a generic compiler and a
 * launch per op, and is slower there for the work nabla does, so "auto"
 * leaves it alone: it is used only when named.
 */
#include "device_pick.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

enum { RANK_GPU = 0, RANK_ACCEL = 1, RANK_NAMED_ONLY = 2 };

/* GPUs first, then accelerators; anything else only when named. */
static int rank_of(const nb_device_info *d, bool cpu_as_gpu)
{
    if (strcmp(d->type, "GPU") == 0) return RANK_GPU;
    if (cpu_as_gpu && strcmp(d->type, "CPU") == 0) return RANK_GPU;
    if (strcmp(d->type, "ACCEL") == 0) return RANK_ACCEL;
    return RANK_NAMED_ONLY;
}

/* Append to a line that may already be full; truncation is harmless. */
static void add(char *buf, size_t n, const char *fmt, ...) NB_PRINTF(3, 4);
static void add(char *buf, size_t n, const char *fmt, ...)
{
    if (!buf || n == 0) return;
    size_t len = strlen(buf);
    if (len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* " (opencl:0.0, opencl:1.0, ...)": the devices of one rank other than
 * skip, at most four of them named. */
static void add_list(char *buf, size_t n, const nb_device_info *devs, int count, int rank,
                     bool cpu_as_gpu, int skip, const char *lead)
{
    int shown = 0;
    for (int i = 0; i < count; i++) {
        if (i == skip || rank_of(&devs[i], cpu_as_gpu) != rank) continue;
        if (shown == 4) {
            add(buf, n, ", ...");
            break;
        }
        add(buf, n, "%sopencl:%d.%d", shown++ ? ", " : lead, devs[i].platform, devs[i].device);
    }
    if (shown) add(buf, n, ")");
}

int nb_device_choose(const nb_device_info *devs, int n, bool cpu_as_gpu, char *why,
                     size_t why_size)
{
    if (why && why_size) why[0] = '\0';
    if (!devs || n <= 0) {
        add(why, why_size, "no OpenCL device");
        return -1;
    }
    int first[3] = {-1, -1, -1}, count[3] = {0, 0, 0}, cpus = 0;
    for (int i = 0; i < n; i++) {
        int r = rank_of(&devs[i], cpu_as_gpu);
        if (first[r] < 0) first[r] = i;
        count[r]++;
        cpus += strcmp(devs[i].type, "CPU") == 0;
    }
    int r = first[RANK_GPU] >= 0 ? RANK_GPU : first[RANK_ACCEL] >= 0 ? RANK_ACCEL : -1;
    if (r < 0) {
        /* Nothing auto may take: say what there is, and how to use it. */
        if (cpus == n)
            add(why, why_size, "the only OpenCL devices are CPU devices");
        else
            add(why, why_size, "no OpenCL GPU or accelerator, only %s devices",
                cpus ? "CPU and other" : "other");
        add_list(why, why_size, devs, n, RANK_NAMED_ONLY, cpu_as_gpu, -1, " (");
        add(why, why_size, ", used only when named (--device opencl:%d.%d)",
            devs[first[RANK_NAMED_ONLY]].platform, devs[first[RANK_NAMED_ONLY]].device);
        return -1;
    }
    int pick = first[r];
    const char *kind = r == RANK_GPU ? "GPU" : "accelerator";
    if (cpu_as_gpu && strcmp(devs[first[r]].type, "CPU") == 0)
        add(why, why_size, "auto_any_device (NABLA_CL_AUTO_ANY=1): CPU devices count as GPUs; ");
    if (r == RANK_ACCEL) add(why, why_size, "no GPU; ");
    if (count[r] == 1) {
        add(why, why_size, "the only %s", kind);
    } else {
        add(why, why_size, "the first of %d %ss in platform order", count[r], kind);
        add_list(why, why_size, devs, n, r, cpu_as_gpu, pick, " (others: ");
    }
    return pick;
}

int nb_device_choose_named(const nb_device_info *devs, int n)
{
    int pick = nb_device_choose(devs, n, false, NULL, 0);
    return pick >= 0 ? pick : n > 0 && devs ? 0 : -1;
}

int nb_device_auto_choice(const nb_device_info *devs, int n, char *why, size_t why_size)
{
    return nb_device_choose(devs, n, false, why, why_size);
}
