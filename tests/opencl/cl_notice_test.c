/*
 * cl_notice_test.c — the notice handler (nb_set_notice_handler) hears a
 * build from source, once, just before it starts, and with the user
 * pointer it was set with: with an empty program cache the first backend
 * announces its build as cached afterwards and the second says nothing;
 * with the cache off every backend announces one; without a handler
 * nothing is called. Skips without OpenCL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backend_opts.h"
#include "nabla.h"

static char dir[256];

typedef struct heard {
    int calls;
    char last[512];
} heard;

static void on_notice(void *user, const char *line)
{
    heard *h = user;
    h->calls++;
    snprintf(h->last, sizeof h->last, "%s", line);
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/nabla-notice-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nb_set_notice_handler(NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One OpenCL backend, made and freed; skips the test without OpenCL. */
static void open_and_free(void)
{
    nb_backend *be = NULL;
    nb_status st = nb_cli_backend_create("opencl", &be);
    if (st == NB_ERR_UNSUPPORTED) {
        print_message("skipped: no OpenCL: %s\n", nb_last_error());
        skip();
    }
    if (st != NB_OK) print_error("%s\n", nb_last_error());
    assert_int_equal(st, NB_OK);
    nb_backend_free(be);
}

static void test_first_build_is_heard_once(void **state)
{
    (void)state;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("NABLA_CACHE_DIR", cache, 1);
    heard h = {0, ""};
    nb_set_notice_handler(on_notice, &h);
    open_and_free();
    assert_int_equal(h.calls, 1);
    print_message("notice: %s\n", h.last);
    assert_int_equal(strncmp(h.last, "building kernels for opencl:", 28), 0);
    assert_non_null(strstr(h.last, " (first use; cached afterwards)"));
    assert_null(strchr(h.last, '\n'));

    open_and_free(); /* from the cache: nothing to say */
    assert_int_equal(h.calls, 1);
}

static void test_cache_off_and_no_handler(void **state)
{
    (void)state;
    setenv("NABLA_CACHE_DIR", "off", 1);
    heard h = {0, ""}, other = {0, ""};
    nb_set_notice_handler(on_notice, &h);
    open_and_free();
    open_and_free();
    assert_int_equal(h.calls, 2);
    assert_non_null(strstr(h.last, "(the kernel cache is off: every start builds them)"));

    /* A new handler gets its own pointer; none at all is silence. */
    nb_set_notice_handler(on_notice, &other);
    open_and_free();
    assert_int_equal(other.calls, 1);
    assert_int_equal(h.calls, 2);
    nb_set_notice_handler(NULL, NULL);
    open_and_free();
    assert_int_equal(other.calls, 1);
    assert_int_equal(h.calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_build_is_heard_once),
        cmocka_unit_test(test_cache_off_and_no_handler),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
