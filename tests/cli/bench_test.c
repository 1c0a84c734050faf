/*
 * bench_test.c — `nabla bench` as a user runs it: the tiny workload and a
 * tiny custom shape exit 0, print the table and write JSON, on the cpu
 * and (when there is one) on OpenCL; the FLOP count it prints and writes
 * matches a hand count; bad flags exit 2 naming the flag; a missing
 * OpenCL library leaves `--device all` on the cpu and fails an explicit
 * `--device opencl` with status 3; --contention prints both figures and
 * their ratio and leaves no busy process behind, on success, on a failed
 * check and on Ctrl-C.
 *
 * No speed is asserted anywhere: speed lives in benchmarks, not tests.
 * bench_json_check.py validates the JSON's fields and arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static int have_opencl;
static char json_text[1 << 16];

static int setup(void **state)
{
    if (cli_setup(state) != 0) return -1;
#ifdef __linux__
    /* Orphans of the runs come here, where assert_no_children sees them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return -1;
#endif
    int code = run("devices", NULL);
    have_opencl = code == 0 && strstr(out_text, "\nopencl:") != NULL;
    print_message("OpenCL device available: %s\n", have_opencl ? "yes" : "no");
    return code == 0 ? 0 : -1;
}

static const char *json_path(const char *name)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    remove(path);
    return path;
}

/* The table: its header, and a row for workload on device that passed
 * the check (a mismatch or an error row has no "ok"). */
static void assert_row(const char *workload, const char *device)
{
    assert_non_null(strstr(out_text, "samples/s (min-max)"));
    char row[64];
    snprintf(row, sizeof row, "\n%-9s %-11s ", workload, device);
    const char *p = strstr(out_text, row);
    if (!p) {
        print_error("no row for %s on %s in:\n%s\nstderr: %s\n", workload, device, out_text, err_text);
        fail();
        return; /* fail() does not return; this tells the compiler so */
    }
    const char *end = strchr(p + 1, '\n');
    assert_non_null(end);
    const char *ok = strstr(p, " ok ");
    assert_true(ok && ok < end);
}

static void test_tiny_cpu(void **state)
{
    (void)state;
    const char *path = json_path("tiny.json");
    assert_int_equal(run("bench", "--workload", "tiny", "--device", "cpu", "--reps", "5", "--json",
                         path, NULL), 0);
    assert_row("tiny", "cpu");
    /* 2-8-1: P = 2·8 + 8·1 = 24, P1 = 16, 2P + 2P + 2(P − P1) = 112. */
    assert_non_null(strstr(out_text, "= 112 "));
    assert_non_null(strstr(out_text, "10000 updates per repetition"));
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"workload\": \"tiny\""));
    assert_non_null(strstr(json_text, "\"device\": \"cpu\""));
    assert_non_null(strstr(json_text, "\"ok\": true"));
    assert_non_null(strstr(json_text, "\"reps\": 5,"));
    assert_non_null(strstr(json_text, "\"flops_per_sample\": 112,"));
    assert_null(strstr(json_text, "nan"));
}

static void test_custom_cpu(void **state)
{
    (void)state;
    const char *path = json_path("custom.json");
    assert_int_equal(run("bench", "--layers", "3,5,2", "--batch", "4", "--n", "16", "--iters", "20",
                         "--reps", "5", "--device", "cpu", "--json", path, NULL), 0);
    assert_row("custom", "cpu");
    assert_non_null(strstr(out_text, "custom: 3-5-2, N 16, batch 4, 20 updates per repetition"));
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"layers\": [3, 5, 2]"));
    assert_non_null(strstr(json_text, "\"steps_per_rep\": 20,"));
    assert_non_null(strstr(json_text, "\"batch\": 4,"));
}

static void test_custom_opencl(void **state)
{
    (void)state;
    if (!have_opencl) {
        print_message("skipped: no OpenCL\n");
        skip();
    }
    const char *path = json_path("custom_cl.json");
    assert_int_equal(run("bench", "--layers", "3,5,2", "--batch", "4", "--n", "16", "--iters", "20",
                         "--reps", "5", "--device", "opencl", "--json", path, NULL), 0);
    assert_row("custom", "opencl:0.0");
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"ok\": true"));
    assert_non_null(strstr(json_text, "\"build_ms\": {\"cold\": "));
    assert_null(strstr(json_text, "\"driver\": null"));
}

/* The FLOP count of the mnist shape, on a few rows so it runs in a blink:
 *   P  = 784·512 + 512·512 + 512·10 = 401408 + 262144 + 5120 = 668672
 *   P1 = 784·512                                              = 401408
 *   P − P1 = 267264
 *   per sample: 2P + 2P + 2(P − P1) = 1337344 + 1337344 + 534528 = 3209216
 * (forward, weight gradient, input gradient; layer 1 needs no input
 * gradient; biases and element-wise work are not counted). As a second
 * route to the same number: 6P − 2P1 = 4012032 − 802816 = 3209216. */
static void test_flop_count(void **state)
{
    (void)state;
    const char *path = json_path("flops.json");
    assert_int_equal(run("bench", "--layers", "784,512,512,10", "--n", "16", "--batch", "4",
                         "--iters", "2", "--device", "cpu", "--json", path, NULL), 0);
    assert_non_null(strstr(out_text, "= 3209216  (P = 668672 weights, P1 = 401408 in layer 1)"));
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"flops_per_sample\": 3209216,"));
}

/* --json - puts the JSON alone on stdout and the table on stderr. */
static void test_json_stdout(void **state)
{
    (void)state;
    assert_int_equal(run("bench", "--layers", "2,3,1", "--n", "8", "--batch", "4", "--iters", "5",
                         "--device", "cpu", "--json", "-", NULL), 0);
    assert_true(out_text[0] == '{');
    assert_non_null(strstr(out_text, "\"results\": ["));
    assert_null(strstr(out_text, "samples/s (min-max)"));
    assert_non_null(strstr(err_text, "samples/s (min-max)"));
}

static void test_bad_flags(void **state)
{
    (void)state;
    static const char *cases[][5] = {
        {"--workload", "huge", NULL, NULL, "--workload"},
        {"--device", "gpu", NULL, NULL, "--device"},
        {"--device", "opencl:x.1", NULL, NULL, "--device"},
        {"--reps", "3", NULL, NULL, "--reps"},
        {"--reps", "five", NULL, NULL, "--reps"},
        {"--batch", "0", NULL, NULL, "--batch"},
        {"--n", "0", NULL, NULL, "--n"},
        {"--iters", "-1", NULL, NULL, "--iters"},
        {"--epochs", "1.5", NULL, NULL, "--epochs"},
        {"--layers", "3", NULL, NULL, "--layers"},
        {"--layers", "3,x,2", NULL, NULL, "--layers"},
        {"--max-rep-seconds", "0", NULL, NULL, "--max-rep-seconds"},
        {"--seed", "-1", NULL, NULL, "--seed"},
        {"--iters", "5", "--epochs", "1", "--iters"},
        {"--layers", "3,5,2", "--workload", "tiny", "--layers"},
        {"--sweep-width", "--device", "cpu", NULL, "--sweep-width"},
        {"--crossover", "--reps", "5", NULL, "--crossover"},
        {"--no-such-flag", NULL, NULL, NULL, "--no-such-flag"},
        {"--json", NULL, NULL, NULL, "--json"},
        {"stray", NULL, NULL, NULL, "stray"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = run("bench", cases[i][0], cases[i][1], cases[i][2], cases[i][3], NULL);
        if (code != 2 || !strstr(err_text, cases[i][4])) {
            print_error("bench %s %s: exit %d, stderr: %s\n", cases[i][0],
                        cases[i][1] ? cases[i][1] : "", code, err_text);
            fail();
        }
        assert_null(strstr(out_text, "samples/s"));
    }
}

/* Without an OpenCL library: `all` is the cpu alone, `opencl` fails. */
static void test_no_opencl(void **state)
{
    (void)state;
    static const char *const env[] = {"NABLA_OPENCL_LIBRARY=/nonexistent/libOpenCL.so.1", NULL};
    assert_int_equal(run_env(env, "bench", "--layers", "2,3,1", "--n", "8", "--batch", "4",
                             "--iters", "5", NULL), 0);
    assert_row("custom", "cpu");
    assert_null(strstr(out_text, "opencl:"));
    assert_non_null(strstr(err_text, "cpu only"));
    assert_int_equal(run_env(env, "bench", "--layers", "2,3,1", "--n", "8", "--iters", "5",
                             "--device", "opencl", NULL), 3);
    assert_non_null(strstr(err_text, "--device opencl"));
}

/* A device that disagrees with the cpu gets the mismatch, not numbers
 * (forced with the NABLA_BENCH_PERTURB testing aid), and exit status 1. */
static void test_mismatch(void **state)
{
    (void)state;
    static const char *const env[] = {"NABLA_BENCH_PERTURB=0.01", NULL};
    const char *path = json_path("mismatch.json");
    assert_int_equal(run_env(env, "bench", "--layers", "3,5,2", "--n", "16", "--batch", "4",
                             "--iters", "5", "--device", "cpu", "--json", path, NULL), 1);
    const char *row = strstr(out_text, "\ncustom    cpu         MISMATCH vs cpu after 3 updates: theta[0] = ");
    if (!row) {
        print_error("no mismatch row in:\n%s\n", out_text);
        fail();
    }
    assert_null(strstr(out_text, " ok "));
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"check\": {\"ok\": false, "));
    assert_non_null(strstr(json_text, "\"worst_index\": 0,"));
    assert_non_null(strstr(json_text, "\"samples_per_s\": null"));
    assert_non_null(strstr(json_text, "\"time_split_per_step\": null"));
}

/* Orphans of the nabla runs come to this process (a subreaper, set in
 * setup): a busy process that nabla neither reaped nor stopped would be
 * one, running or a zombie. Fails if there is any. */
static void assert_no_children(void)
{
#ifdef __linux__
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid != -1 || errno != ECHILD) {
        print_error("a process was left behind (waitpid: %d)\n", (int)pid);
        fail();
    }
#endif
}

/* The row of a cpu run at `threads` threads that passed the check. */
static void assert_thread_row(const char *workload, int threads)
{
    char dev[32];
    snprintf(dev, sizeof dev, "cpu %d thr", threads);
    assert_row(workload, dev);
}

static void test_contention(void **state)
{
    (void)state;
    const char *path = json_path("contention.json");
    assert_exit(run("bench", "--contention", "1", "--workload", "tiny", "--device", "cpu", "--reps",
                    "5", "--json", path, NULL), 0);
    assert_no_children();
    assert_non_null(strstr(out_text, "contention: 1 busy process at normal priority beside every run"));
    /* The default count first, then one thread; then the summary. */
    const char *dflt = strstr(out_text, "default ");
    assert_non_null(dflt);
    int threads = atoi(dflt + strlen("default "));
    assert_true(threads >= 1);
    assert_thread_row("tiny", threads);
    assert_thread_row("tiny", 1);
    char want[64];
    snprintf(want, sizeof want, "\n  tiny      %d thread", threads);
    const char *sum = strstr(out_text, want);
    assert_non_null(sum);
    assert_non_null(strstr(sum, ", 1 thread "));
    assert_non_null(strstr(sum, ": ratio "));
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"contention\": {\"processes\": 1, \"comparisons\": ["));
    assert_non_null(strstr(json_text, "\"workload\": \"tiny\", \"default_threads\": "));
    assert_non_null(strstr(json_text, "\"threads\": 1,"));
    assert_null(strstr(json_text, "\"ratio\": null"));
    /* Without --contention: null, and the cpu's thread count all the same. */
    path = json_path("plain.json");
    assert_exit(run("bench", "--layers", "2,3,1", "--n", "8", "--batch", "4", "--iters", "5",
                    "--device", "cpu", "--json", path, NULL), 0);
    slurp(path, json_text, sizeof json_text);
    assert_non_null(strstr(json_text, "\"contention\": null"));
    snprintf(want, sizeof want, "\"threads\": %d,", threads);
    assert_non_null(strstr(json_text, want));
    /* Flags that do not go with it. */
    assert_int_equal(run("bench", "--contention", "0", NULL), 2);
    assert_non_null(strstr(err_text, "--contention"));
    assert_int_equal(run("bench", "--contention", "1", "--device", "opencl", NULL), 2);
    assert_non_null(strstr(err_text, "--contention"));
    assert_int_equal(run("bench", "--contention", "1", "--crossover", NULL), 2);
    assert_non_null(strstr(err_text, "--contention"));
    assert_no_children();
}

/* A failed run (the check fails) still stops the busy processes. */
static void test_contention_failed_run(void **state)
{
    (void)state;
    static const char *const env[] = {"NABLA_BENCH_PERTURB=0.01", NULL};
    assert_int_equal(run_env(env, "bench", "--contention", "2", "--layers", "3,5,2", "--n", "16",
                             "--batch", "4", "--iters", "5", NULL), 1);
    assert_non_null(strstr(out_text, "MISMATCH"));
    assert_non_null(strstr(out_text, "no ratio: a run failed"));
    assert_no_children();
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ctrl-C in the middle of the runs: the busy processes are stopped and
 * reaped, and the signal ends nabla as it would have. */
static void test_contention_interrupted(void **state)
{
    (void)state;
    char out[300];
    snprintf(out, sizeof out, "%s/interrupted.txt", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execl(cli, cli, "bench", "--contention", "2", "--layers", "2,8,1", "--n", "4", "--iters",
              "1000000000", (char *)NULL);
        _exit(127);
    }
    /* The table's header comes once the busy processes run. */
    for (int i = 0; i < 3000; i++) {
        slurp(out, out_text, sizeof out_text);
        if (strstr(out_text, "samples/s (min-max)")) break;
        sleep_ms(10);
    }
    assert_non_null(strstr(out_text, "samples/s (min-max)"));
    sleep_ms(200); /* into the runs */
    assert_int_equal(kill(pid, SIGINT), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGINT);
    sleep_ms(100); /* a busy process nabla did not stop dies (PR_SET_PDEATHSIG) and comes here */
    assert_no_children();
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("bench", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: nabla bench"));
    assert_non_null(strstr(out_text, "every 1000 updates"));
    assert_int_equal(run("--help", NULL), 0);
    assert_non_null(strstr(out_text, "  bench      time the workloads on every device, in one run"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_cpu),    cmocka_unit_test(test_custom_cpu),
        cmocka_unit_test(test_custom_opencl), cmocka_unit_test(test_flop_count),
        cmocka_unit_test(test_json_stdout), cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_no_opencl),   cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_help),        cmocka_unit_test(test_contention),
        cmocka_unit_test(test_contention_failed_run),
        cmocka_unit_test(test_contention_interrupted),
    };
    return cmocka_run_group_tests(tests, setup, cli_teardown);
}
