/*
 * train_cli_test.c — `nabla train` as a user's runs end: resumed runs that
 * continue with their own settings, budgets already spent, divergence,
 * Ctrl-C and SIGTERM, a failed write mid-run, and everything a flag can
 * rule out before any data is read.
 *
 * CTest runs this with NABLA_DEVICE=cpu.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/run_cli.h"

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* The line of out_text that starts with prefix, or NULL. */
static const char *line_of(const char *prefix)
{
    for (const char *p = out_text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0) return p;
    return NULL;
}

/*
 * A run saved with --lr 0.05 and --batch 64 resumed at 0.5 and 32, the
 * command line's defaults. Now the checkpoint's settings apply unless a
 * flag says otherwise, and each override says so in one line.
 */
static void test_resume_takes_the_checkpoint_settings(void **state)
{
    (void)state;
    const char *ck = path_in("settings.safetensors");
    assert_exit(run("train", "--lr", "0.05", "--batch", "64", "--epochs", "2", "--act",
                         "tanh", "--save", ck, NULL), 0);
    assert_exit(run("train", "--resume", ck, "--epochs", "3", NULL), 0);
    const char *head = line_of("nabla: ");
    assert_non_null(head);
    assert_non_null(strstr(head, "64-32-10 tanh/mse"));
    assert_non_null(strstr(head, "batch 64, sgd, lr 0.05,"));
    assert_non_null(strstr(out_text, "note: --epochs 3 replaces the checkpoint's 2\n"));
    assert_null(strstr(out_text, "--lr"));
    assert_non_null(strstr(out_text, "reached the epoch limit (3) after 3 epochs"));
    /* An explicit flag wins, and says so. */
    assert_exit(run("train", "--resume", ck, "--epochs", "4", "--lr", "0.02", NULL), 0);
    assert_non_null(strstr(out_text, "note: --lr 0.02 replaces the checkpoint's 0.05\n"));
    assert_non_null(strstr(line_of("nabla: "), "lr 0.02"));
}

/* Flags that would change the model or its optimizer state: refused, both
 * values named, before any training. */
static void test_resume_refuses_incompatible_flags(void **state)
{
    (void)state;
    const char *ck = path_in("incompat.safetensors");
    assert_exit(run("train", "--epochs", "1", "--save", ck, NULL), 0);
    static const char *cases[][3] = {
        {"--act", "relu", "--act relu: the layers of the model in"},
        {"--layers", "64,16,10", "--layers 64,16,10: the model in"},
        {"--loss", "xent", "--loss xent: the model in"},
        {"--optim", "adam", "--optim adam: "},
        {"--standardize", NULL, "--standardize: the run in"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = cases[i][1] ? run("train", "--resume", ck, cases[i][0], cases[i][1], NULL)
                               : run("train", "--resume", ck, cases[i][0], NULL);
        if (code != 2 || !strstr(err_text, cases[i][2])) {
            print_error("%s: exit %d, stderr: %s\n", cases[i][0], code, err_text);
            fail();
        }
        assert_null(strstr(out_text, "epoch "));
    }
    assert_non_null(strstr(err_text, "")); /* the last message is one line */
    assert_exit(run("train", "--resume", ck, "--act", "sigmoid", "--epochs", "2", NULL), 0);
    assert_exit(run("train", "--resume", ck, "--optim", "adam", NULL), 2);
    assert_non_null(strstr(err_text, "trained with sgd"));
}

/*
 * `--epochs 3 --save g` then, repeated, `--resume g --epochs 3 --save g`
 * trained one more epoch each time and overwrote g. Now it trains nothing,
 * leaves g as it was, and its last lines say so.
 */
static void test_resume_with_the_budget_spent(void **state)
{
    (void)state;
    const char *ck = path_in("spent.safetensors");
    assert_exit(run("train", "--epochs", "3", "--save", ck, NULL), 0);
    char before[1 << 16], after[1 << 16];
    size_t n = file_size(ck);
    assert_true(n > 0 && n < sizeof before);
    slurp(ck, before, sizeof before);
    for (int i = 0; i < 3; i++) {
        assert_exit(run("train", "--resume", ck, "--epochs", "3", "--save", ck, NULL), 0);
        assert_non_null(strstr(out_text, "stopped: the epoch limit (3) was already reached after 3 "
                                         "epochs: nothing to train"));
        assert_non_null(line_of("final: loss "));
        assert_null(line_of("checkpoint: ")); /* nothing was written */
        assert_null(strstr(out_text, "epoch     4"));
    }
    assert_int_equal(file_size(ck), n);
    slurp(ck, after, sizeof after);
    assert_memory_equal(before, after, n);
}

/* A diverging run still ends with its final line, its log and its plot. */
static void test_stopped_run_writes_everything(void **state)
{
    (void)state;
    const char *data = write_file("line.csv", "0,1\n1,3\n2,5\n3,7\n4,9\n5,11\n");
    const char *log = path_in("div.jsonl"), *plot = path_in("div.svg");
    int code = run("train", "--data", data, "--regression", "--layers", "1,1", "--act", "identity",
                   "--batch", "full", "--lr", "1", "--val", "0", "--epochs", "500", "--log", log,
                   "--plot", plot, NULL);
    assert_int_equal(code, 1);
    assert_non_null(strstr(out_text, "stopped: diverged: "));
    assert_non_null(strstr(out_text, "the last good parameters were restored"));
    assert_non_null(line_of("final: loss "));
    assert_non_null(line_of("plot: "));
    assert_true(file_size(log) > 0);
    assert_true(file_size(plot) > 0);
}

/* The header names every layer's activation, not just the first. */
static void test_header_names_each_activation(void **state)
{
    (void)state;
    assert_exit(run("train", "--layers", "64,16,8,10", "--act", "relu,tanh,sigmoid",
                         "--epochs", "1", NULL), 0);
    assert_non_null(strstr(line_of("nabla: "), "64-16-8-10 relu,tanh,sigmoid/mse,"));
    assert_exit(run("train", "--act", "relu", "--loss", "xent", "--epochs", "1", NULL), 0);
    assert_non_null(strstr(line_of("nabla: "), "64-32-10 relu/xent,"));
}

/* What a flag rules out is refused before any data is read or epoch run. */
static void test_refused_before_training(void **state)
{
    (void)state;
    static const char *cases[][4] = {
        {"--save", "/nonexistent/m.safetensors", "--save-every", "--save: cannot write"},
        {"--plot", "/nonexistent/p.svg", NULL, "--plot: cannot write"},
        {"--early-stop", "3", "--val", "--early-stop needs validation rows"},
        {"--line-search", NULL, NULL, "--line-search needs --batch full"},
        {"--layers", "64,32", NULL, "the output width is 32 but the labels of bundled digits go up to 9: 10 classes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *extra = cases[i][2];
        int code;
        if (extra && strcmp(extra, "--val") == 0)
            code = run("train", cases[i][0], cases[i][1], "--val", "0", NULL);
        else if (extra)
            code = run("train", "--epochs", "40", cases[i][0], cases[i][1], extra, "1000", NULL);
        else if (cases[i][1])
            code = run("train", cases[i][0], cases[i][1], NULL);
        else
            code = run("train", cases[i][0], NULL);
        if (code != 2 || !strstr(err_text, cases[i][3])) {
            print_error("%s: exit %d, stderr: %s\n", cases[i][0], code, err_text);
            fail();
        }
        assert_null(strstr(out_text, "epoch "));
    }
    /* A one-row file: the message names --val and the file. */
    const char *one = write_file("one.csv", "1,2,0\n");
    assert_exit(run("train", "--data", one, NULL), 2);
    assert_non_null(strstr(err_text, "--val 0.2: "));
    assert_non_null(strstr(err_text, "one.csv has 1 row"));
    assert_exit(run("train", "--data", one, "--val", "0", "--layers", "2,1", "--regression",
                         "--epochs", "1", NULL), 0);
}

/* `--lr-schedule cosine --epochs 6`: the period is the update budget. */
static void test_cosine_with_epochs(void **state)
{
    (void)state;
    assert_exit(run("train", "--lr-schedule", "cosine", "--epochs", "6", NULL), 0);
    assert_non_null(strstr(out_text, "reached the epoch limit (6)"));
    assert_exit(run("train", "--lr-schedule", "cosine", "--epochs", "0", "--time-limit", "1s",
                         NULL), 2);
    assert_non_null(strstr(err_text, "cosine needs a period"));
}

/* Library errors come without nabla's source locations, unless --verbose. */
static void test_error_lines_without_source_locations(void **state)
{
    (void)state;
    const char *bad = write_file("ragged2.csv", "1,2,0\n3,4,1\n5,1\n");
    assert_exit(run("train", "--data", bad, NULL), 2);
    assert_non_null(strstr(err_text, "ragged2.csv:3:"));
    assert_null(strstr(err_text, "(host/"));
    assert_exit(run("train", "--data", bad, "--verbose", NULL), 2);
    assert_non_null(strstr(err_text, "(host/"));
}

/* ------------------------------------------------------ signals, writes */

/* Start `nabla args` with its output in files; return the pid. limit_bytes
 * > 0 caps the size of every file it writes (RLIMIT_FSIZE), which makes a
 * write fail as on a full disk. */
static pid_t spawn(long limit_bytes, const char *const *args)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/stdout", tmpdir);
    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    const char *argv[32];
    int n = 0;
    argv[n++] = cli;
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (limit_bytes > 0) {
            struct rlimit rl = {(rlim_t)limit_bytes, (rlim_t)limit_bytes};
            signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG */
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(125);
        }
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(127);
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char path[300];
    snprintf(path, sizeof path, "%s/stdout", tmpdir);
    slurp(path, out_text, sizeof out_text);
    snprintf(path, sizeof path, "%s/stderr", tmpdir);
    slurp(path, err_text, sizeof err_text);
    if (!WIFEXITED(status)) {
        print_error("nabla ended by signal %d; stderr: %s\n", WTERMSIG(status), err_text);
        fail();
    }
    return WEXITSTATUS(status);
}

/* Wait until the run's stdout shows a few epochs (at most 60 s). */
static void wait_for_epochs(void)
{
    char path[300], text[4096];
    snprintf(path, sizeof path, "%s/stdout", tmpdir);
    for (int i = 0; i < 6000; i++) {
        slurp(path, text, sizeof text);
        if (strstr(text, "epoch     3")) return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    print_error("the run showed no third epoch in 60 s: %s\n", text);
    fail();
}

/*
 * Ctrl-C and SIGTERM end a run as a stop: after the update in progress, a
 * checkpoint is saved, the log is flushed, the plot is drawn, the last
 * lines say where it stopped, and the exit status is 128 + the signal.
 * The checkpoint continues the run.
 */
static void test_signals_end_a_run_cleanly(void **state)
{
    (void)state;
    const int sigs[] = {SIGINT, SIGTERM}, codes[] = {130, 143};
    for (int i = 0; i < 2; i++) {
        const char *ck = path_in("signal.safetensors"), *log = path_in("signal.jsonl");
        const char *plot = path_in("signal.svg");
        unlink(ck);
        const char *args[] = {"train", "--epochs", "100000", "--save", ck, "--save-every",
                              "1000000", "--log", log, "--plot", plot, NULL};
        pid_t pid = spawn(0, args);
        wait_for_epochs();
        assert_int_equal(kill(pid, sigs[i]), 0);
        assert_int_equal(wait_exit(pid), codes[i]);
        assert_non_null(strstr(out_text, "stopped: interrupted after "));
        int inside = strstr(out_text, " batches (") != NULL; /* not at an epoch's end */
        assert_non_null(line_of("final: loss "));
        assert_non_null(line_of("checkpoint: "));
        assert_non_null(line_of("plot: "));
        assert_true(file_size(ck) > 0);
        assert_true(file_size(log) > 0);
        assert_true(file_size(plot) > 0);
        /* The checkpoint continues the run; inside an epoch, only with
         * the batch size it stopped with. */
        assert_exit(run("train", "--resume", ck, "--epochs", "0", "--iters", "1", NULL), 0);
        assert_non_null(strstr(out_text, "already reached"));
        if (!inside) continue;
        assert_exit(run("train", "--resume", ck, "--batch", "16", NULL), 2);
        assert_non_null(strstr(err_text, "stopped inside an epoch"));
    }
}

/* A save that fails mid-run (here: a file-size limit, as a full disk) is a
 * failed run, exit 1, not bad input. */
static void test_failed_save_is_a_failed_run(void **state)
{
    (void)state;
    const char *ck = path_in("full.safetensors");
    unlink(ck);
    const char *args[] = {"train", "--epochs", "3", "--save", ck, NULL};
    pid_t pid = spawn(4096, args); /* the checkpoint needs ~10 KB */
    int code = wait_exit(pid);
    if (code != 1) print_error("exit %d; stderr: %s\n", code, err_text);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err_text, "full.safetensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_takes_the_checkpoint_settings),
        cmocka_unit_test(test_resume_refuses_incompatible_flags),
        cmocka_unit_test(test_resume_with_the_budget_spent),
        cmocka_unit_test(test_stopped_run_writes_everything),
        cmocka_unit_test(test_header_names_each_activation),
        cmocka_unit_test(test_refused_before_training),
        cmocka_unit_test(test_cosine_with_epochs),
        cmocka_unit_test(test_error_lines_without_source_locations),
        cmocka_unit_test(test_signals_end_a_run_cleanly),
        cmocka_unit_test(test_failed_save_is_a_failed_run),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
