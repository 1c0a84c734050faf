/*
 * kill_test.c — crash safety of checkpoints: `nabla train --save F
 * --save-every 1` is killed with SIGKILL at random moments, many times,
 * and after every kill F (once it exists) must load as a valid model: a
 * save is either complete under its name or not there at all. The temp
 * files and lock files the kills leave behind are cleared by the next
 * run's saves: one run to the end leaves only F.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <time.h>

#include "cli/run_cli.h"
#include "nabla.h"
#include "rng.h"

enum { KILLS = 60 };

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Entries of tmpdir whose names start with prefix. */
static int entries_starting(const char *prefix)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void test_sigkill_never_corrupts(void **state)
{
    (void)state;
    char ck[400];
    snprintf(ck, sizeof ck, "%s/run.safetensors", tmpdir);
    nb_backend *be = NULL;
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    nb_rng r;
    nb_rng_seed(&r, 2026, NB_STREAM_TEST);
    print_message("seed 2026, %d kills\n", KILLS);
    int loaded = 0;
    for (int i = 0; i < KILLS; i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("NABLA_DEVICE", "cpu", 1);
            if (!freopen("/dev/null", "w", stdout)) _exit(127);
            /* Full batch: an "epoch" is one step, so it saves constantly. */
            execl(cli, cli, "train", "--batch", "full", "--epochs", "100000", "--save", ck,
                  "--save-every", "1", "--optim", "adam", "--lr", "0.01", (char *)NULL);
            _exit(127);
        }
        sleep_us(20000 + (long)nb_rng_below(&r, 200000)); /* 20–220 ms */
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* it was still running: killed mid-flight */
        if (access(ck, F_OK) != 0) continue;
        nb_model *m = NULL;
        if (nb_model_load(be, ck, &m) != NB_OK) {
            print_error("kill %d: %s\n", i, nb_last_error());
            fail();
        }
        nb_model_free(m);
        loaded++;
    }
    print_message("%d of %d kills left a checkpoint; all loaded\n", loaded, KILLS);
    assert_true(loaded >= KILLS / 2); /* the test really killed during saving */

    /* Killed saves leave their temp files; a run's saves remove those of
     * dead processes, and its lock file goes when it ends. */
    print_message("%d temp files left by the kills\n", entries_starting(".run.safetensors.tmp-"));
    setenv("NABLA_DEVICE", "cpu", 1);
    assert_int_equal(run("train", "--batch", "full", "--epochs", "2", "--save", ck, (char *)NULL), 0);
    assert_int_equal(entries_starting(".run.safetensors.tmp-"), 0);
    assert_int_equal(entries_starting(".run.safetensors.lock"), 0);
    assert_int_equal(access(ck, F_OK), 0);
    nb_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sigkill_never_corrupts)};
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
