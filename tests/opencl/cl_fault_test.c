/*
 * cl_fault_test.c — OpenCL fault injection: make the n-th OpenCL call of a
 * short training run fail, for every n, and check that nabla survives it.
 *
 * `nabla train --device auto` runs with the fault shim in place of the
 * OpenCL loader (cl_fault_shim.c). For each n the run must end, within a
 * time limit and without a signal, in one of two ways:
 *   - exit 0 with the right result: the cpu backend's when auto fell back
 *     (its one line names the failing call and CL_OUT_OF_RESOURCES), or the
 *     fault-free OpenCL run's when the failed call was one nabla can do
 *     without (a profiling query, a cached binary);
 *   - exit 3 (the device failed), naming the failing call and the code.
 * Under the sanitizer build the same runs also check for leaks and memory
 * errors (a report aborts the run, which fails the test). Two runs go at a
 * time; each is a fraction of a second.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SLOTS = 2, TIME_LIMIT_S = 120 };

static const char *cli, *shim;
static char dir[256], data[300], cache[300];

typedef struct run {
    pid_t pid;
    unsigned long n;
    char out[300], err[300], log[300];
} run;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return calloc(1, 1);
    char *buf = calloc(1, 1 << 16);
    size_t got = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    (void)got;
    fclose(f);
    return buf;
}

/* Start `nabla train` on the test data with the shim failing call n (0:
 * none) on device dev, in slot s's files. */
static void start(run *r, int s, unsigned long n, const char *dev)
{
    snprintf(r->out, sizeof r->out, "%s/out.%d", dir, s);
    snprintf(r->err, sizeof r->err, "%s/err.%d", dir, s);
    snprintf(r->log, sizeof r->log, "%s/log.%d", dir, s);
    remove(r->log);
    r->n = n;
    fflush(NULL);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        char at[32];
        snprintf(at, sizeof at, "%lu", n);
        setenv("NABLA_OPENCL_LIBRARY", shim, 1);
        setenv("NABLA_CL_FAULT_AT", at, 1);
        setenv("NABLA_CL_FAULT_LOG", r->log, 1);
        setenv("NABLA_CACHE_DIR", cache, 1);
        if (!freopen(r->out, "w", stdout) || !freopen(r->err, "w", stderr)) _exit(127);
        alarm(TIME_LIMIT_S); /* survives exec: a hang ends in SIGALRM */
        execl(cli, cli, "train", "--data", data, "--layers", "4,3,2", "--epochs", "2", "--batch",
              "full", "--val", "0", "--device", dev, (char *)NULL);
        _exit(127);
    }
}

/* Wait for r; its exit status, or fail the test on a signal. */
static int finish(run *r)
{
    int status;
    assert_int_equal(waitpid(r->pid, &status, 0), r->pid);
    if (!WIFEXITED(status)) {
        char *err = slurp(r->err);
        print_error("fault at call %lu: nabla ended by signal %d%s; stderr:\n%s\n", r->n,
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                    WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (hung)" : "", err);
        free(err);
        fail();
    }
    return WEXITSTATUS(status);
}

/* "final: loss …" up to the timing, or "" when absent. */
static void final_line(const char *out, char *buf, size_t n)
{
    buf[0] = '\0';
    const char *p = strstr(out, "final: ");
    if (!p) return;
    const char *end = strstr(p, " in ");
    size_t len = end ? (size_t)(end - p) : strcspn(p, "\n");
    if (len >= n) len = n - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
}

static int setup(void **state)
{
    (void)state;
    cli = getenv("NABLA_CLI");
    shim = getenv("NABLA_CL_FAULT_SHIM");
    if (!cli || !shim) {
        print_error("NABLA_CLI and NABLA_CL_FAULT_SHIM must be set (CTest sets them)\n");
        return -1;
    }
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla-fault-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(data, sizeof data, "%s/data.csv", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    FILE *f = fopen(data, "w");
    if (!f) return -1;
    /* 12 rows, 4 features, 2 classes; the class is whether x0 + x1 > 1. */
    fputs("a,b,c,d,label\n", f);
    for (int i = 0; i < 12; i++) {
        double x[4];
        for (int j = 0; j < 4; j++) x[j] = (double)((i * 7 + j * 5 + i * j) % 11) / 10.0;
        fprintf(f, "%.1f,%.1f,%.1f,%.1f,%d\n", x[0], x[1], x[2], x[3], x[0] + x[1] > 1.0);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Check one finished run against the references. Returns 0 fell back to
 * the cpu, 1 finished on OpenCL, 2 exited with status 3. */
static int check(run *r, int code, const char *want_cpu, const char *want_cl)
{
    char *out = slurp(r->out), *err = slurp(r->err), *log = slurp(r->log);
    char got[256], name[64] = "", failed[160];
    unsigned long at = 0;
    const char *line = strstr(log, "failed ");
    int fired = line && sscanf(line, "failed %lu %63s", &at, name) == 2;
    snprintf(failed, sizeof failed, "fault at call %lu (%s)", r->n, fired ? name : "not reached");
    final_line(out, got, sizeof got);
    int kind = -1;
    if (code == 0 && strstr(err, "using cpu")) {
        kind = 0;
        if (strcmp(got, want_cpu) != 0 || !fired || !strstr(err, name) ||
            !strstr(err, "CL_OUT_OF_RESOURCES"))
            kind = -1;
    } else if (code == 0) {
        kind = strcmp(got, want_cl) == 0 ? 1 : -1;
    } else if (code == 3) {
        kind = fired && strstr(err, name) && strstr(err, "CL_OUT_OF_RESOURCES") ? 2 : -1;
    }
    if (kind < 0)
        print_error("%s: exit %d, final '%s' (cpu '%s', opencl '%s')\nstderr:\n%s\n", failed,
                    code, got, want_cpu, want_cl, err);
    free(out), free(err), free(log);
    return kind;
}

static void test_every_call_can_fail(void **state)
{
    (void)state;
    run r[SLOTS];
    char want_cpu[256], want_cl[256];

    /* References: the cpu result, and a fault-free OpenCL run that also
     * counts the calls and fills the program cache. */
    start(&r[0], 0, 0, "cpu");
    assert_int_equal(finish(&r[0]), 0);
    char *out = slurp(r[0].out);
    final_line(out, want_cpu, sizeof want_cpu);
    free(out);
    start(&r[0], 0, 0, "opencl");
    int code = finish(&r[0]);
    char *err = slurp(r[0].err), *log = slurp(r[0].log);
    if (code != 0) {
        print_message("skipped: no OpenCL device here (%s)\n", err);
        free(err), free(log);
        skip();
    }
    unsigned long calls = 0;
    assert_int_equal(sscanf(log, "calls %lu", &calls), 1);
    free(err), free(log);
    out = slurp(r[0].out);
    final_line(out, want_cl, sizeof want_cl);
    free(out);
    assert_true(want_cpu[0] && want_cl[0]);
    assert_true(calls > 100);

    unsigned long count[3] = {0, 0, 0}, bad = 0, runs = 0;
    int busy[SLOTS] = {0};
    unsigned long next = 1;
    for (;;) {
        for (int k = 0; k < SLOTS; k++)
            if (!busy[k] && next <= calls) {
                start(&r[k], k, next, "auto");
                busy[k] = 1;
                next++;
            }
        int any = 0;
        for (int k = 0; k < SLOTS; k++) {
            if (!busy[k]) continue;
            any = 1;
            int kind = check(&r[k], finish(&r[k]), want_cpu, want_cl);
            busy[k] = 0;
            runs++;
            if (kind < 0) bad++;
            else count[kind]++;
        }
        if (!any) break;
    }
    print_message("%lu OpenCL calls; %lu runs, each failing one: %lu fell back to the cpu, "
                  "%lu finished on OpenCL, %lu exited with status 3, %lu wrong\n",
                  calls, runs, count[0], count[1], count[2], bad);
    assert_int_equal(bad, 0);
    assert_true(count[0] > 0 && count[2] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_call_can_fail),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
