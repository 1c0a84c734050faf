/*
 * train_dist.c — `nabla train` as one rank of several (see train_dist.h):
 * quiet ranks, the meeting before training, a one-rank failure, and each
 * rank's device and thread count.
 *
 * Why a meeting: the ranks run the same setup (flags, data, model), and a
 * mistake usually fails on all of them alike, which must be said once. A
 * rank whose setup failed on its own (a file only its node lacks) must not
 * leave the others waiting in the library's first exchange either. So
 * every rank, ready or not, says how its setup ended in one all-reduce,
 * and all take the same way out.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */

#include "cli/train_dist.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "cli/args.h"
#include "cli/backend_opts.h"
#include "cpu/cpu_pool.h"

int nb_tdist_ranks(const train_dist *d) { return d && d->comm ? d->comm->ranks : 1; }
int nb_tdist_rank(const train_dist *d) { return d && d->comm ? d->comm->rank : 0; }

void nb_tdist_quiet(train_dist *d)
{
    d->err_fd = -1;
    if (nb_tdist_ranks(d) < 2 || nb_tdist_rank(d) == 0) return;
    fflush(stdout);
    fflush(stderr);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    /* Held in an unnamed file rather than dropped: the message of a
     * failure only this rank sees is printed after the meeting. */
    d->held = tmpfile();
    d->err_fd = d->held ? dup(STDERR_FILENO) : -1;
    if (d->err_fd < 0 || dup2(fileno(d->held), STDERR_FILENO) < 0) {
        if (d->held) fclose(d->held);
        d->held = NULL;
        if (d->err_fd >= 0) close(d->err_fd);
        d->err_fd = -1;
    }
}

/* Give this rank its stderr back; with print, what it held goes there
 * first, each "nabla train: " line saying which rank it comes from. */
static void release(train_dist *d, int print)
{
    if (!d->held) return;
    fflush(stderr);
    if (print) {
        char line[4096];
        rewind(d->held);
        while (fgets(line, sizeof line, d->held)) {
            const char *lead = "nabla train: ";
            size_t k = strlen(lead);
            if (strncmp(line, lead, k) == 0)
                dprintf(d->err_fd, "%srank %d of %d: %s", lead, nb_tdist_rank(d),
                        nb_tdist_ranks(d), line + k);
            else
                dprintf(d->err_fd, "%s", line);
        }
    }
    dup2(d->err_fd, STDERR_FILENO);
    close(d->err_fd);
    d->err_fd = -1;
    fclose(d->held);
    d->held = NULL;
}

void nb_tdist_fail(train_dist *d, const char *msg, int code)
{
    fflush(stdout);
    fflush(stderr);
    int fd = d->err_fd >= 0 ? d->err_fd : STDERR_FILENO;
    dprintf(fd, "nabla train: rank %d of %d: %s\n", nb_tdist_rank(d), nb_tdist_ranks(d), msg);
    if (d->abort) d->abort(d->ctx, code);
    exit(code); /* no way to end the others: at least this rank ends */
}

int nb_tdist_agree(train_dist *d, int code)
{
    d->agreed = 1;
    int k = nb_tdist_ranks(d), me = nb_tdist_rank(d);
    if (k < 2) return code;
    /* Each rank fills its own slot (code + 2: ready is 1, never 0) and
     * the sum hands every rank all of them. */
    int64_t *v = calloc((size_t)k, sizeof *v);
    if (!v) nb_tdist_fail(d, "out of memory", NB_EXIT_FAIL);
    v[me] = (int64_t)code + 2;
    if (d->comm->allreduce(d->comm->ctx, v, (size_t)k, NB_COMM_I64, NB_COMM_SUM) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "the ranks could not meet before training: %s",
                 d->comm->error ? d->comm->error(d->comm->ctx) : "all-reduce failed");
        free(v);
        nb_tdist_fail(d, msg, NB_EXIT_FAIL);
    }
    int first = -1;
    for (int r = 0; r < k && first < 0; r++)
        if (v[r] != 1) first = r;
    int out = first < 0 ? -1 : (int)(v[first] - 2);
    free(v);
    release(d, first == me && me > 0);
    return out;
}

/* ------------------------------------------------------------ devices */

/* The CPUs in this process's affinity mask; 0 when unknown (a machine
 * with more CPUs than a cpu_set_t holds counts as unbound). */
static int mask_cpus(void)
{
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

/* The cpu backend's threads for this rank, and why, unless the user
 * chose them. */
static void cpu_share(const train_dist *d, char *line, size_t n)
{
    const char *user = getenv("NABLA_THREADS");
    if (user && *user) {
        snprintf(line, n, "device: cpu, threads per rank from NABLA_THREADS=%s", user);
        return;
    }
    int L = d->local_size > 0 ? d->local_size : 1;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int mask = mask_cpus(), threads;
    if (mask > 0 && online > 0 && mask < online) {
        /* mpirun bound the ranks (to a core each, or a socket): the mask
         * is this rank's share already. */
        threads = mask < NB_CPU_MAX_THREADS ? mask : NB_CPU_MAX_THREADS;
        snprintf(line, n, "device: cpu, %d thread%s per rank (the launcher bound each rank to %d "
                          "CPU%s)", threads, threads == 1 ? "" : "s", mask, mask == 1 ? "" : "s");
    } else {
        /* Unbound, every rank of the node sees all its CPUs: L ranks of
         * all-CPUs threads each would only take turns. */
        int cpus = nb_cpu_default_threads();
        threads = cpus / L > 1 ? cpus / L : 1;
        snprintf(line, n, "device: cpu, %d thread%s per rank (%d rank%s on this node share %d "
                          "CPU%s)", threads, threads == 1 ? "" : "s", L, L == 1 ? "" : "s", cpus,
                 cpus == 1 ? "" : "s");
    }
    nb_cli_choose_threads(threads);
}

enum { MAX_DEVS = 64 };

const char *nb_tdist_device(train_dist *d, const char *device, char *line, size_t n)
{
    int i = d->local_rank, L = d->local_size > 0 ? d->local_size : 1;
    int all = nb_cli_device_is_auto(device);
    line[0] = '\0';
    if (device && strcmp(device, "cpu") == 0) {
        cpu_share(d, line, n);
        return device;
    }
    if (!all && strcmp(device, "opencl") != 0) { /* opencl:P.D: as named, on every rank */
        snprintf(line, n, "device: %s on every rank", device);
        return device;
    }
    nb_device_info devs[MAX_DEVS];
    nb_backend_options o;
    int count = 0, pick = -1;
    if (nb_cli_backend_options(&o) != NB_OK ||
        nb_opencl_devices(devs, MAX_DEVS, &count, &pick) != NB_OK)
        count = 0;
    if (count > MAX_DEVS) count = MAX_DEVS;
    if (!all) { /* "opencl": the i-th device of the list, shared when too few */
        if (count == 0) return device; /* the backend says why it cannot open */
        const nb_device_info *dv = &devs[i % count];
        snprintf(d->device, sizeof d->device, "opencl:%d.%d", dv->platform, dv->device);
        snprintf(line, n, "device: opencl, local rank i takes device i of 'nabla devices'%s "
                          "(rank 0: %s)", count < L ? " modulo their number" : "", d->device);
        return d->device;
    }
    /* auto: the node's GPUs, then its accelerators, one for each local
     * rank; when there are fewer than ranks, the cpu backend for all. */
    int fit[MAX_DEVS], m = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < count; k++) {
            /* As auto ranks them: CPU devices with the GPUs only when asked. */
            int gpu = strcmp(devs[k].type, "GPU") == 0 ||
                      (o.auto_any_device == 1 && strcmp(devs[k].type, "CPU") == 0);
            if (pass == 0 ? gpu : strcmp(devs[k].type, "ACCEL") == 0) fit[m++] = k;
        }
    if (m >= L) {
        const nb_device_info *dv = &devs[fit[i]];
        snprintf(d->device, sizeof d->device, "opencl:%d.%d", dv->platform, dv->device);
        snprintf(line, n, "device: auto, local rank i takes the i-th of the node's %d "
                          "GPU%s/accelerator%s (rank 0: %s)", m, m == 1 ? "" : "s",
                 m == 1 ? "" : "s", d->device);
        return d->device;
    }
    snprintf(d->device, sizeof d->device, "cpu");
    cpu_share(d, line, n);
    return d->device;
}

int nb_cli_env_ranks(int *rank)
{
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    *rank = 0;
    for (int v = 0; v < 2; v++) {
        const char *s = getenv(size_vars[v]), *r = getenv(rank_vars[v]);
        long k = s ? strtol(s, NULL, 10) : 0;
        if (k < 1) continue;
        *rank = r ? (int)strtol(r, NULL, 10) : 0;
        return k > 1000000 ? 1000000 : (int)k;
    }
    return 1;
}
