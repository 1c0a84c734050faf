/*
 * cpu_count.c — how many threads the cpu backend starts by default: the
 * CPUs this process may run on, capped by its cgroup's CPU quota (what
 * nb_backend_options.threads = 0 means).
 *
 * Counting the machine's cores is not enough where it matters most: a
 * container or a CI job is often pinned to a few CPUs (taskset, cpusets)
 * or given a quota of CPU time ("2 CPUs" of a 64-core host). More threads
 * than that only take turns, and every GEMM then waits for the slowest
 * turn. The quota is rounded up: 1.5 CPUs of time still runs two threads
 * at three quarters speed each, better than one.
 *
 * The files read here are the kernel's, but they are still parsed as
 * untrusted text: every number is range-checked, and anything odd means
 * "no limit known" rather than a failure.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT_S */

#include "cpu/cpu_pool.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

enum { PATH_MAX_LEN = 4096 };

/* The CPUs in this process's affinity mask (0 if it cannot be read). */
static int affinity_cpus(void)
{
#ifdef __linux__
    /* The mask may be larger than a cpu_set_t on very large machines:
     * grow it until the kernel accepts the size. */
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 4) {
        cpu_set_t *set = CPU_ALLOC((size_t)ncpu);
        if (!set) return 0;
        size_t size = CPU_ALLOC_SIZE((size_t)ncpu);
        CPU_ZERO_S(size, set);
        int rc = sched_getaffinity(0, size, set);
        int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        CPU_FREE(set);
        if (rc == 0) return n;
        if (errno != EINVAL) return 0;
    }
    return 0;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 0 : n > INT_MAX ? INT_MAX : (int)n;
#endif
}

int nb_cpu_default_threads(void)
{
    int n = affinity_cpus();
    if (n < 1) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online < 1 ? 1 : online > NB_CPU_MAX_THREADS ? NB_CPU_MAX_THREADS : (int)online;
    }
    int quota = nb_cgroup_cpu_limit("");
    if (quota > 0 && quota < n) n = quota;
    return n < 1 ? 1 : n > NB_CPU_MAX_THREADS ? NB_CPU_MAX_THREADS : n;
}

/* ------------------------------------------------------------- cgroups */

/* The first line of root/path into buf ("" when it cannot be read). */
static void read_line(const char *dir, const char *name, char *buf, size_t n)
{
    char path[PATH_MAX_LEN];
    buf[0] = '\0';
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(buf, (int)n, f)) buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

/* A decimal in [1, 1e15] filling all of s; 0 otherwise. (A quota or
 * period in microseconds: the kernel caps both far below 1e15.) */
static long long parse_us(const char *s, const char **rest)
{
    if (*s < '0' || *s > '9') return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 1 || v > 1000000000000000LL) return 0;
    if (rest) *rest = end;
    else if (*end != '\0') return 0;
    return v;
}

/* ⌈quota / period⌉ as a CPU count, at most INT_MAX; 0 for no limit. */
static int cpus_of(long long quota, long long period)
{
    if (quota < 1 || period < 1) return 0;
    long long c = quota / period + (quota % period != 0);
    return c > INT_MAX ? INT_MAX : (int)c;
}

/* v2: "max PERIOD" or "QUOTA PERIOD". */
static int v2_limit(const char *dir)
{
    char line[128];
    const char *rest;
    read_line(dir, "cpu.max", line, sizeof line);
    long long q = parse_us(line, &rest);
    if (q == 0 || *rest != ' ') return 0;
    return cpus_of(q, parse_us(rest + 1, NULL));
}

/* v1: cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us. */
static int v1_limit(const char *dir)
{
    char q[64], p[64];
    read_line(dir, "cpu.cfs_quota_us", q, sizeof q);
    read_line(dir, "cpu.cfs_period_us", p, sizeof p);
    return cpus_of(parse_us(q, NULL), parse_us(p, NULL));
}

/* The tightest limit on dir and every directory above it up to the
 * mount point (a parent's quota binds its children too). */
static int walk_up(char *dir, size_t mount_len, int v2)
{
    int best = 0;
    for (;;) {
        int c = v2 ? v2_limit(dir) : v1_limit(dir);
        if (c > 0 && (best == 0 || c < best)) best = c;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= mount_len || !slash || (size_t)(slash - dir) < mount_len) break;
        *slash = '\0';
    }
    return best;
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *d = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *d++ = *s;
        }
    }
    *d = '\0';
}

/* Is `item` one of the comma-separated words of list? */
static int has_item(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0) return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/* This process's cgroup path for v2 (`v2`) or for v1's cpu controller,
 * from root/proc/self/cgroup, into path; 0 when there is none. */
static int cgroup_path(const char *root, int v2, char *path, size_t n)
{
    char file[PATH_MAX_LEN], line[PATH_MAX_LEN];
    if ((size_t)snprintf(file, sizeof file, "%s/proc/self/cgroup", root) >= sizeof file) return 0;
    FILE *f = fopen(file, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/') continue;
        *c1 = *c2 = '\0'; /* line: the hierarchy's id; c1 + 1: its controllers */
        found = v2 ? strcmp(line, "0") == 0 && c1[1] == '\0' : has_item(c1 + 1, "cpu");
        if (found && (size_t)snprintf(path, n, "%s", c2 + 1) >= n) found = 0;
    }
    if (f) fclose(f);
    return found;
}

/* The directory of the cgroup at cg (a path in the hierarchy) under a
 * mount of it: mountinfo's fields 4 (the hierarchy's directory that is
 * mounted) and 5 (where). Returns the mount point's length in dir, or 0. */
static size_t cgroup_dir(const char *root, const char *mroot, const char *mpoint, const char *cg,
                         char *dir, size_t n)
{
    size_t rl = strcmp(mroot, "/") == 0 ? 0 : strlen(mroot);
    /* The cgroup must lie under the mounted directory (a cgroup namespace
     * or a container mounts a subtree). */
    if (strncmp(cg, mroot, rl) != 0 || (cg[rl] != '/' && cg[rl] != '\0')) return 0;
    if (strstr(cg, "/..")) return 0; /* never walk outside the mount */
    int mlen = snprintf(dir, n, "%s%s", root, mpoint);
    if (mlen < 0 || (size_t)mlen >= n) return 0;
    const char *rel = cg + rl;
    if (strcmp(rel, "/") == 0) rel = "";
    if ((size_t)snprintf(dir + mlen, n - (size_t)mlen, "%s", rel) >= n - (size_t)mlen) return 0;
    return (size_t)mlen;
}

int nb_cgroup_cpu_limit(const char *root)
{
    char file[PATH_MAX_LEN], line[PATH_MAX_LEN], cg2[PATH_MAX_LEN], cg1[PATH_MAX_LEN];
    int have2 = cgroup_path(root, 1, cg2, sizeof cg2);
    int have1 = cgroup_path(root, 0, cg1, sizeof cg1);
    if (!have1 && !have2) return 0;
    if ((size_t)snprintf(file, sizeof file, "%s/proc/self/mountinfo", root) >= sizeof file) return 0;
    FILE *f = fopen(file, "r");
    int best = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n') && !feof(f)) break; /* longer than any path here: give up */
        line[strcspn(line, "\n")] = '\0';
        /* id parent major:minor root mount-point options [optional…] - type source super-options */
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        *sep = '\0';
        char *field[5], *save = NULL, *tok = strtok_r(line, " ", &save);
        int k = 0;
        for (; tok && k < 5; tok = strtok_r(NULL, " ", &save)) field[k++] = tok;
        char *type = strtok_r(sep + 3, " ", &save);
        strtok_r(NULL, " ", &save); /* source */
        char *super = strtok_r(NULL, " ", &save);
        if (k < 5 || !type) continue;
        int v2 = strcmp(type, "cgroup2") == 0;
        int v1 = strcmp(type, "cgroup") == 0 && super && has_item(super, "cpu");
        if (!(v2 && have2) && !(v1 && have1)) continue;
        unescape(field[3]);
        unescape(field[4]);
        char dir[PATH_MAX_LEN];
        size_t mlen = cgroup_dir(root, field[3], field[4], v2 ? cg2 : cg1, dir, sizeof dir);
        if (mlen == 0) continue;
        int c = walk_up(dir, mlen, v2);
        if (c > 0 && (best == 0 || c < best)) best = c;
    }
    if (f) fclose(f);
    return best;
}
