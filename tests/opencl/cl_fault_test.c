/*
 * cl_fault_test.c — OpenCL fault injection: make the n-th OpenCL call of a
 * short run fail, and check that nabla survives it.
 *
 * nabla runs with the fault shim in place of the OpenCL loader
 * (cl_fault_shim.c), which fails call n with CL_OUT_OF_RESOURCES or the
 * code a scenario names. Scenarios: full-batch and mini-batch training
 * (Adam, so that a replay that lost the optimizer state shows), streamed
 * data (NABLA_DEVICE_DATA_LIMIT), checkpoints every epoch, eval and
 * predict, and the codes CL_MEM_OBJECT_ALLOCATION_FAILURE,
 * CL_INVALID_COMMAND_QUEUE and CL_DEVICE_NOT_AVAILABLE. For each n a run
 * must end, within a time limit and without a signal:
 *   - under --device auto: exit 0 with the right result: the fault-free
 *     OpenCL run's when it stayed there, the cpu's when it moved (on this
 *     small net the cpu and OpenCL losses agree to the printed digits, so
 *     a training replay that went wrong shows as a mismatch).
 *     When it moved to the cpu, its one line names the failing call and
 *     the code, and a training run's log holds a fallback record and no
 *     epoch twice;
 *   - under --device opencl: exit 3 naming the failing call and the code,
 *     or exit 0 with the fault-free result when the failed call was one
 *     nabla can do without (a profiling query, a cached binary).
 * The full-batch run fails every call in turn; the other scenarios sample
 * n evenly over their calls (a full sweep of all of them would take
 * several minutes on 2 cores). Under the sanitizer build the same runs
 * also check for leaks and memory errors (a report aborts the run, which
 * fails the test). Two runs go at a time; each is a fraction of a second.
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

enum { SLOTS = 2, TIME_LIMIT_S = 120, MAX_ARGS = 32 };

static const char *cli, *shim;
static char dir[256], data[300], cache[300], model[300];

/* One scenario: a command line with @DATA, @MODEL, @LOG and @SAVE standing
 * for the test's files, the code to fail with, and how many n to try. */
typedef struct scenario {
    const char *name;
    const char *args[MAX_ARGS]; /* after "nabla", before --device; NULL-ended */
    const char *code;           /* NABLA_CL_FAULT_CODE; NULL: CL_OUT_OF_RESOURCES */
    const char *limit;          /* NABLA_DEVICE_DATA_LIMIT, or NULL          */
    const char *device;         /* "auto" or "opencl"                        */
    unsigned long samples;      /* 0: every call                             */
} scenario;

typedef struct run {
    pid_t pid;
    unsigned long n;
    char out[300], err[300], log[300], nlog[300], save[300];
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

/* Start scenario sc with the shim failing call n (0: none) on device dev,
 * in slot k's files. */
static void start(run *r, const scenario *sc, int k, unsigned long n, const char *dev)
{
    snprintf(r->out, sizeof r->out, "%s/out.%d", dir, k);
    snprintf(r->err, sizeof r->err, "%s/err.%d", dir, k);
    snprintf(r->log, sizeof r->log, "%s/log.%d", dir, k);
    snprintf(r->nlog, sizeof r->nlog, "%s/nlog.%d", dir, k);
    snprintf(r->save, sizeof r->save, "%s/save.%d", dir, k);
    remove(r->log), remove(r->nlog), remove(r->save);
    r->n = n;
    const char *argv[MAX_ARGS + 4];
    int c = 0;
    argv[c++] = cli;
    for (int i = 0; sc->args[i]; i++) {
        const char *v = sc->args[i];
        argv[c++] = strcmp(v, "@DATA") == 0    ? data
                    : strcmp(v, "@MODEL") == 0 ? model
                    : strcmp(v, "@LOG") == 0   ? r->nlog
                    : strcmp(v, "@SAVE") == 0  ? r->save
                                               : v;
    }
    argv[c++] = "--device";
    argv[c++] = dev;
    argv[c] = NULL;
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
        /* auto must reach PoCL, a CPU-type device, to be put to the test. */
        setenv("NABLA_CL_AUTO_ANY", "1", 1);
        if (sc->code) setenv("NABLA_CL_FAULT_CODE", sc->code, 1);
        if (sc->limit) setenv("NABLA_DEVICE_DATA_LIMIT", sc->limit, 1);
        if (!freopen(r->out, "w", stdout) || !freopen(r->err, "w", stderr)) _exit(127);
        alarm(TIME_LIMIT_S); /* survives exec: a hang ends in SIGALRM */
        execv(cli, (char *const *)argv);
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

/* What a run gives: train's "final: loss …" up to the timing (or "" when
 * absent); for eval and predict, all of standard output. */
static void result(const scenario *sc, const char *out, char *buf, size_t n)
{
    buf[0] = '\0';
    if (strcmp(sc->args[0], "train") != 0) {
        snprintf(buf, n, "%s", out);
        return;
    }
    const char *p = strstr(out, "final: ");
    if (!p) return;
    const char *end = strstr(p, " in ");
    size_t len = end ? (size_t)(end - p) : strcspn(p, "\n");
    if (len >= n) len = n - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
}

/* A training log after a fallback: one fallback record, and the epochs
 * in increasing order (a replay reports none twice). */
static int log_ok(const char *log)
{
    long last = -1, e; /* full batch reports epoch 0 */
    int records = 0;
    for (const char *p = log; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (sscanf(p, "{\"epoch\":%ld", &e) == 1) {
            if (e <= last) return 0;
            last = e;
        } else if (strncmp(p, "{\"fallback\":\"cpu\"", 17) == 0) {
            records++;
        }
    }
    return records == 1;
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
    snprintf(model, sizeof model, "%s/model.ckpt", dir);
    FILE *f = fopen(data, "w");
    if (!f) return -1;
    /* 12 rows, 4 features, 2 classes; the class is whether x0 + x1 > 1. */
    fputs("a,b,c,d,label\n", f);
    for (int i = 0; i < 12; i++) {
        double x[4];
        for (int j = 0; j < 4; j++) x[j] = (double)((i * 7 + j * 5 + i * j) % 11) / 10.0;
        fprintf(f, "%.1f,%.1f,%.1f,%.1f,%d\n", x[0], x[1], x[2], x[3], x[0] + x[1] > 1.0);
    }
    if (fclose(f) != 0) return -1;
    /* The model eval and predict read, trained fault-free on the cpu. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' train --data '%s' --layers 4,3,2 --epochs 3 --val 0 "
             "--device cpu --save '%s' >/dev/null", cli, data, model);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Check one finished run against the fault-free result. Returns 0 moved
 * to the cpu, 1 finished on OpenCL, 2 exited with status 3, -1 wrong. */
static int check(const scenario *sc, run *r, int code, const char *want, const char *want_cl)
{
    char *out = slurp(r->out), *err = slurp(r->err), *log = slurp(r->log), *nlog = slurp(r->nlog);
    const char *fault = sc->code ? sc->code : "CL_OUT_OF_RESOURCES";
    static char got[1 << 16];
    char name[64] = "";
    unsigned long at = 0;
    const char *line = strstr(log, "failed ");
    int fired = line && sscanf(line, "failed %lu %63s", &at, name) == 2;
    int named = fired && strstr(err, name) && strstr(err, fault);
    int moved = strstr(err, "using cpu") || strstr(err, "the device failed");
    int mid_run = strstr(err, "continuing on cpu") || strstr(err, "starting again on cpu");
    int is_auto = strcmp(sc->device, "auto") == 0;
    result(sc, out, got, sizeof got);
    int kind = -1;
    if (code == 0 && moved) {
        kind = strcmp(got, want) == 0 && named && is_auto ? 0 : -1;
        if (kind == 0 && mid_run && !log_ok(nlog)) kind = -1;
    } else if (code == 0) {
        kind = strcmp(got, want_cl) == 0 ? 1 : -1;
    } else if (code == 3) {
        kind = named && !is_auto ? 2 : -1;
    }
    if (kind < 0)
        print_error("%s: fault at call %lu (%s): exit %d, result '%.300s' (want '%.300s')\n"
                    "stderr:\n%s\nlog:\n%s\n", sc->name, r->n, fired ? name : "not reached",
                    code, got, want, err, nlog);
    free(out), free(err), free(log), free(nlog);
    return kind;
}

/* The fault-free result on the cpu and on OpenCL, and the number of
 * OpenCL calls; 0 calls when there is no OpenCL device. The printed loss
 * of train and eval must agree (6 digits); predict prints 9 digits of
 * each output, where the backends' float rounding differs. */
static unsigned long reference(const scenario *sc, char *want, char *cl, size_t n)
{
    run r;
    start(&r, sc, 0, 0, "cpu");
    assert_int_equal(finish(&r), 0);
    char *out = slurp(r.out);
    result(sc, out, want, n);
    free(out);
    start(&r, sc, 0, 0, "opencl");
    int code = finish(&r);
    char *err = slurp(r.err), *log = slurp(r.log);
    unsigned long calls = 0;
    if (code != 0) {
        print_message("skipped: no OpenCL device here (%s)\n", err);
    } else {
        assert_int_equal(sscanf(log, "calls %lu", &calls), 1);
        out = slurp(r.out);
        result(sc, out, cl, n);
        free(out);
        if (strcmp(sc->args[0], "predict") != 0) assert_string_equal(cl, want);
        assert_true(want[0] != '\0');
    }
    free(err), free(log);
    return calls;
}

/* Run scenario sc for its n; counts by check()'s kinds. */
static void sweep(const scenario *sc)
{
    static char want[1 << 16], want_cl[1 << 16];
    unsigned long calls = reference(sc, want, want_cl, sizeof want);
    if (calls == 0) skip();
    assert_true(calls > 50);
    unsigned long total = sc->samples && sc->samples < calls ? sc->samples : calls;
    unsigned long count[3] = {0, 0, 0}, bad = 0, next = 0;
    run r[SLOTS];
    int busy[SLOTS] = {0};
    for (;;) {
        for (int k = 0; k < SLOTS; k++)
            if (!busy[k] && next < total) {
                /* Evenly over the calls, the middle of each share. */
                unsigned long n = total == calls ? next + 1 : 1 + (2 * next + 1) * calls / (2 * total);
                start(&r[k], sc, k, n, sc->device);
                busy[k] = 1;
                next++;
            }
        int any = 0;
        for (int k = 0; k < SLOTS; k++) {
            if (!busy[k]) continue;
            any = 1;
            int kind = check(sc, &r[k], finish(&r[k]), want, want_cl);
            busy[k] = 0;
            if (kind < 0) bad++;
            else count[kind]++;
        }
        if (!any) break;
    }
    print_message("%s: %lu OpenCL calls, %lu runs each failing one: %lu moved to the cpu, "
                  "%lu finished on OpenCL, %lu exited with status 3, %lu wrong\n", sc->name,
                  calls, total, count[0], count[1], count[2], bad);
    assert_int_equal(bad, 0);
    if (strcmp(sc->device, "auto") == 0)
        assert_true(count[0] > 0);
    else
        assert_true(count[2] > 0);
}

#define TRAIN "train", "--data", "@DATA", "--layers", "4,3,2", "--val", "0", "--log", "@LOG"
#define MINI TRAIN, "--epochs", "3", "--batch", "4", "--optim", "adam", "--lr", "0.05"

static void test_full_batch(void **state)
{
    (void)state;
    scenario sc = {"full batch", {TRAIN, "--epochs", "2", "--batch", "full", NULL}, NULL, NULL,
                   "auto", 0};
    sweep(&sc);
}

static void test_mini_batch(void **state)
{
    (void)state;
    scenario sc = {"mini-batch", {MINI, NULL}, NULL, NULL, "auto", 100};
    sweep(&sc);
}

static void test_streaming(void **state)
{
    (void)state;
    /* 64 bytes hold no batch: every batch is streamed. */
    scenario sc = {"streaming", {MINI, NULL}, NULL, "64", "auto", 60};
    sweep(&sc);
}

static void test_saving(void **state)
{
    (void)state;
    scenario sc = {"saving", {MINI, "--save", "@SAVE", "--save-every", "1", NULL}, NULL, NULL,
                   "auto", 60};
    sweep(&sc);
}

static void test_eval(void **state)
{
    (void)state;
    scenario sc = {"eval", {"eval", "--model", "@MODEL", "--data", "@DATA", NULL}, NULL, NULL,
                   "auto", 60};
    sweep(&sc);
}

static void test_predict(void **state)
{
    (void)state;
    scenario sc = {"predict", {"predict", "--model", "@MODEL", "--data", "@DATA", "--out", "-",
                               NULL}, NULL, NULL, "auto", 60};
    sweep(&sc);
}

static void test_other_codes(void **state)
{
    (void)state;
    const char *codes[] = {"CL_MEM_OBJECT_ALLOCATION_FAILURE", "CL_INVALID_COMMAND_QUEUE",
                           "CL_DEVICE_NOT_AVAILABLE"};
    for (int i = 0; i < 3; i++) {
        scenario sc = {codes[i], {MINI, NULL}, codes[i], NULL, "auto", 40};
        sweep(&sc);
    }
}

static void test_explicit_opencl_exits_3(void **state)
{
    (void)state;
    const char *codes[] = {"CL_OUT_OF_RESOURCES", "CL_MEM_OBJECT_ALLOCATION_FAILURE",
                           "CL_INVALID_COMMAND_QUEUE", "CL_DEVICE_NOT_AVAILABLE"};
    for (int i = 0; i < 4; i++) {
        scenario sc = {codes[i], {MINI, NULL}, codes[i], NULL, "opencl", 20};
        sweep(&sc);
    }
    scenario ev = {"eval on opencl", {"eval", "--model", "@MODEL", "--data", "@DATA", NULL}, NULL,
                   NULL, "opencl", 30};
    sweep(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_batch),
        cmocka_unit_test(test_mini_batch),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_saving),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_other_codes),
        cmocka_unit_test(test_explicit_opencl_exits_3),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
