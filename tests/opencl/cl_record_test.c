/*
 * cl_record_test.c — the tuner and its records on a real OpenCL device
 * (skips, saying why, without one):
 *  - under the limits of a small GPU (NABLA_CL_MAX_WG=16,
 *    NABLA_CL_MAX_LOCAL_MEM=1024) nb_tune_run skips and counts the
 *    candidates over them, picks one within them, and its record comes
 *    back into a backend created under the same limits;
 *  - a record written by hand decides the configuration a backend runs,
 *    NABLA_CL_RECORD=off restores the built-in one, and `nabla train`
 *    says how to tune exactly when there is no record;
 *  - `nabla tune` itself: bad arguments, its counts and winner, --dry-run,
 *    and a cache directory others could write, which it must not use.
 * The candidate list is cut to a few small tiles (NABLA_CL_TUNE_CANDIDATES)
 * so the test takes seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cli/backend_opts.h"
#include "nabla.h"
#include "opencl/cl_internal.h"
#include "tune.h"

static char cache_dir[256];
static int have_device;

static int setup(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof cache_dir, "/tmp/nabla-record-test-XXXXXX");
    if (!mkdtemp(cache_dir)) return -1;
    setenv("NABLA_CACHE_DIR", cache_dir, 1);
    nb_backend *be = NULL;
    nb_status st = nb_cli_backend_create("opencl", &be);
    have_device = st == NB_OK;
    if (!have_device) print_message("skipped: no OpenCL: %s\n", nb_last_error());
    nb_backend_free(be);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void small_gpu(int on)
{
    if (on) {
        setenv("NABLA_CL_MAX_WG", "16", 1);
        setenv("NABLA_CL_MAX_LOCAL_MEM", "1024", 1);
    } else {
        unsetenv("NABLA_CL_MAX_WG");
        unsetenv("NABLA_CL_MAX_LOCAL_MEM");
    }
}

static void test_tuner_stays_within_small_limits(void **state)
{
    (void)state;
    if (!have_device) return;
    small_gpu(1);
    /* 256 and 64 work-items: over the limit; the rest fit 16 items and 1 KiB. */
    setenv("NABLA_CL_TUNE_CANDIDATES",
           "64,64,16,4,4,4,1,0,1;32,32,8,4,4,4,1,0,1;8,8,4,2,2,2,1,1,1;16,16,1,4,4,1,0,0,0", 1);
    nb_tune_request req;
    memset(&req, 0, sizeof req);
    req.nets[0] = (nb_tune_net){"net", {64, 96, 40}, 3, 64};
    req.n_nets = 1;
    req.quick = true;
    req.store = true;
    nb_tune_report rep;
    nb_backend_options o; /* the variables above, as `nabla tune` takes them */
    assert_int_equal(nb_cli_backend_options(&o), NB_OK);
    req.options = &o;
    assert_int_equal(nb_tune_run(&req, &rep), NB_OK);
    unsetenv("NABLA_CL_TUNE_CANDIDATES");
    print_message("winner %s (ladder %s): %d tried, %d over the limits, gemv %d, record %s\n",
                  rep.winner, rep.ladder, rep.tried, rep.skipped_limit, rep.gemv_wg, rep.record);
    assert_int_equal(rep.tried, 5); /* the ladder's and four candidates */
    assert_int_equal(rep.skipped_limit, 2);
    assert_int_equal(rep.timed, 3);
    nb_cl_tunables w;
    memset(&w, 0, sizeof w);
    w.max_wg = 16, w.local_mem = 1024;
    assert_int_equal(nb_cl_gemm_parse(rep.winner, strlen(rep.winner), &w), 9);
    size_t items[2] = {4096, 4096};
    assert_true(nb_cl_gemm_fits(&w, items));
    assert_true(rep.gemv_wg >= 1 && rep.gemv_wg <= 16);
    assert_true(rep.record[0] != '\0');

    /* The record comes back into a backend under the same limits... */
    nb_backend *be = NULL;
    assert_int_equal(nb_cli_backend_create("opencl", &be), NB_OK);
    int tuned = 0;
    char want[256];
    snprintf(want, sizeof want, "gemm %s, gemv_wg %d,", rep.winner, rep.gemv_wg);
    print_message("in use: %s\n", nb_backend_tuning(be, &tuned));
    assert_int_equal(tuned, 1);
    assert_non_null(strstr(nb_backend_tuning(be, NULL), want));
    nb_backend_free(be);
    /* ...but not into one without them if it was made for them? It still
     * fits a bigger device, so it applies there too. */
    small_gpu(0);
    assert_int_equal(nb_cli_backend_create("opencl", &be), NB_OK);
    nb_backend_tuning(be, &tuned);
    assert_int_equal(tuned, 1);
    nb_backend_free(be);
    /* Under even smaller limits it no longer fits: refused, with a note. */
    setenv("NABLA_CL_MAX_WG", "4", 1);
    assert_int_equal(nb_cli_backend_create("opencl", &be), NB_OK);
    nb_backend_tuning(be, &tuned);
    assert_int_equal(tuned, 0);
    assert_non_null(strstr(nb_backend_note(be), "does not fit the device's limits"));
    nb_backend_free(be);
    small_gpu(0);
}

/* Progress lines of the work-group tuning: the time of each WG_SIZE. */
typedef struct wg_seen {
    int n;
    int wg[8];
    double ms[8];
} wg_seen;

static void wg_progress(void *user, const char *line)
{
    wg_seen *w = user;
    int wg;
    double ms;
    if (w->n < 8 && sscanf(line, "  WG_SIZE %d %lf ms", &wg, &ms) == 2)
        w->wg[w->n] = wg, w->ms[w->n] = ms, w->n++;
}

/* The reduction and element-wise work-group size is tuned in a full run:
 * every size within the limit is checked and timed through a whole
 * backend, and the built-in one (the limit, 64 here) stays unless another
 * was faster. */
static void test_tuner_times_the_work_group_size(void **state)
{
    (void)state;
    if (!have_device) return;
    setenv("NABLA_CL_MAX_WG", "64", 1);
    setenv("NABLA_CL_TUNE_CANDIDATES", "16,16,8,4,4,4,1,0,1", 1);
    nb_tune_request req;
    memset(&req, 0, sizeof req);
    req.nets[0] = (nb_tune_net){"net", {8, 40, 4}, 3, 32};
    req.n_nets = 1;
    req.store = false;
    wg_seen seen = {0};
    req.progress = wg_progress;
    req.user = &seen;
    nb_backend_options o;
    assert_int_equal(nb_cli_backend_options(&o), NB_OK);
    req.options = &o;
    nb_tune_report rep;
    assert_int_equal(nb_tune_run(&req, &rep), NB_OK);
    unsetenv("NABLA_CL_TUNE_CANDIDATES");
    unsetenv("NABLA_CL_MAX_WG");
    print_message("WG_SIZE %d chosen from %d timed sizes\n", rep.wg, seen.n);
    assert_int_equal(seen.n, 2); /* 32 and 64: the sizes within the limit */
    assert_int_equal(seen.wg[0], 32);
    assert_int_equal(seen.wg[1], 64);
    assert_int_equal(rep.wg, seen.ms[0] < seen.ms[1] ? 32 : 64);
}

/* Run `nabla train` on the device; 1 if its stderr mentions the tuner. */
static int train_says_tune(void)
{
    const char *cli = getenv("NABLA_CLI");
    assert_non_null(cli);
    char cmd[1200], path[300], line[1024];
    snprintf(path, sizeof path, "%s/train.err", cache_dir);
    snprintf(cmd, sizeof cmd, "'%s' train --device opencl --epochs 1 >/dev/null 2>'%s'", cli, path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int says = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "has no tuning record") && strstr(line, "nabla tune --device opencl:") &&
            strstr(line, "optional"))
            says++;
    fclose(f);
    return says;
}

static void test_record_decides_the_configuration(void **state)
{
    (void)state;
    if (!have_device) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/tune-*.txt", cache_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(train_says_tune(), 1);

    assert_int_equal(nb_cl_load(), NB_OK);
    nb_cl_device dev;
    nb_cl_tunables t;
    nb_be_config cfg; /* the test's cache directory, as its backends have it */
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.cache_dir, sizeof cfg.cache_dir, "%s", cache_dir);
    assert_int_equal(nb_cl_pick_device(NULL, &cfg, &dev), NB_OK);
    assert_int_equal(nb_cl_tune_ladder(&dev, &t), NB_OK);
    t.gemm_tm = 32, t.gemm_tn = 64, t.gemm_tk = 1, t.gemm_wm = 4, t.gemm_wn = 8;
    t.gemm_vw = 1, t.gemm_pad = 0, t.gemm_db = 0, t.gemm_local = 0;
    t.gemv_wg = 8, t.gemm_small = 1000;
    char path[4200];
    assert_int_equal(nb_cl_record_store(&dev, &t, path, sizeof path), NB_OK);

    nb_backend *be = NULL;
    int tuned = 0;
    assert_int_equal(nb_cli_backend_create("opencl", &be), NB_OK);
    print_message("in use: %s\n", nb_backend_tuning(be, &tuned));
    assert_int_equal(tuned, 1);
    assert_non_null(strstr(nb_backend_tuning(be, NULL),
                           "gemm 32,64,1,4,8,1,0,0,0, gemv_wg 8, wg "));
    assert_non_null(strstr(nb_backend_tuning(be, NULL), "gemm_small 1000"));
    nb_backend_free(be);
    assert_int_equal(train_says_tune(), 0);

    setenv("NABLA_CL_RECORD", "off", 1);
    assert_int_equal(nb_cli_backend_create("opencl", &be), NB_OK);
    nb_backend_tuning(be, &tuned);
    assert_int_equal(tuned, 0);
    assert_null(strstr(nb_backend_tuning(be, NULL), "gemm 32,64,1,4,8,1,0,0,0"));
    nb_backend_free(be);
    unsetenv("NABLA_CL_RECORD");

    /* The cpu has no kernel configuration. */
    assert_int_equal(nb_cli_backend_create("cpu", &be), NB_OK);
    assert_string_equal(nb_backend_tuning(be, &tuned), "");
    assert_int_equal(tuned, 0);
    nb_backend_free(be);
}

/* Run the CLI with args (a shell fragment); its exit status, stdout in out. */
static int cli(const char *args, char *out, size_t n)
{
    const char *bin = getenv("NABLA_CLI");
    assert_non_null(bin);
    char cmd[1400], path[300];
    snprintf(path, sizeof path, "%s/cli.out", cache_dir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", bin, args, path);
    int rc = system(cmd);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
    print_message("nabla %s -> %d\n%s", args, WEXITSTATUS(rc), out);
    return WEXITSTATUS(rc);
}

static int records_in_cache(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s'/tune-*.txt >/dev/null 2>&1", cache_dir);
    return system(cmd) == 0;
}

/* `nabla tune`: bad arguments, the counts and the winner it prints,
 * --dry-run, and a cache directory it must not write into. */
static void test_tune_command(void **state)
{
    (void)state;
    if (!have_device) return;
    char out[16384], cmd[700];
    assert_int_equal(cli("tune --bogus", out, sizeof out), 2);
    assert_int_equal(cli("tune --layers 8,4", out, sizeof out), 2);
    assert_int_equal(cli("tune --device cpu", out, sizeof out), 2);
    assert_int_equal(cli("tune --batch 0 --layers 8,4", out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "rm -f '%s'/tune-*.txt", cache_dir);
    assert_int_equal(system(cmd), 0);
    /* One candidate that fits and one that is not a configuration at all. */
    setenv("NABLA_CL_TUNE_CANDIDATES", "16,16,1,4,4,1,0,0,0;0,0,0,0,0,0", 1);
    const char *run = "tune --layers 64,96,40 --batch 64 --quick";
    snprintf(cmd, sizeof cmd, "%s --dry-run", run);
    assert_int_equal(cli(cmd, out, sizeof out), 0);
    assert_non_null(strstr(out, "3 candidates: 2 timed, 1 skipped (1 over the device's limits"));
    assert_non_null(strstr(out, "\nwinner    "));
    assert_non_null(strstr(out, "step GEMMs"));
    assert_non_null(strstr(out, "(ladder "));
    assert_non_null(strstr(out, "record    not stored"));
    assert_false(records_in_cache());
    assert_int_equal(cli(run, out, sizeof out), 0);
    assert_non_null(strstr(out, "record    "));
    assert_true(records_in_cache());
    /* A cache directory others can write: no record is written there. */
    snprintf(cmd, sizeof cmd, "rm -f '%s'/tune-*.txt && chmod 777 '%s'", cache_dir, cache_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cli(run, out, sizeof out), 1);
    assert_non_null(strstr(out, "is writable by others"));
    assert_false(records_in_cache());
    assert_int_equal(chmod(cache_dir, 0700), 0);
    unsetenv("NABLA_CL_TUNE_CANDIDATES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tuner_stays_within_small_limits),
        cmocka_unit_test(test_record_decides_the_configuration),
        cmocka_unit_test(test_tune_command),
        cmocka_unit_test(test_tuner_times_the_work_group_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
