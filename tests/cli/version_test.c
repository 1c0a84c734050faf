/*
 * version_test.c — one version, in one place: the header's numbers, its
 * string, nb_version() and the project's version (passed in by CMake) all
 * agree, and `nabla --version` prints it with the commit (when the build
 * knew it), exactly the backends this build compiled in, and MPI when
 * it is built in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"
#include "nabla.h"

static void test_header_and_library_agree(void **state)
{
    (void)state;
    char composed[64];
    snprintf(composed, sizeof composed, "%d.%d.%d", NABLA_VERSION_MAJOR, NABLA_VERSION_MINOR,
             NABLA_VERSION_PATCH);
    assert_string_equal(composed, NABLA_VERSION);
    assert_string_equal(nb_version(), NABLA_VERSION);
    assert_string_equal(NABLA_VERSION, NB_TEST_PROJECT_VERSION);
}

static void test_cli_version(void **state)
{
    (void)state;
    assert_int_equal(run("--version", NULL), 0);
    char want[256];
    /* First line: the version; then the commit, unless the build had none. */
    if (strcmp(NB_TEST_COMMIT, "unknown") != 0)
        snprintf(want, sizeof want, "nabla %s\ncommit %s\n", NABLA_VERSION, NB_TEST_COMMIT);
    else
        snprintf(want, sizeof want, "nabla %s\n", NABLA_VERSION);
    size_t n = strlen(want);
    if (strncmp(out_text, want, n) != 0) {
        print_error("nabla --version printed:\n%s\nwanted it to start with:\n%s", out_text, want);
        fail();
    }
    /* Then the backends compiled in, MPI when it is, and nothing after. */
    char rest[256];
    snprintf(rest, sizeof rest, "%s%s", NB_TEST_OPENCL ? "backends: cpu opencl\n" : "backends: cpu\n",
             NB_TEST_MPI ? "mpi: built in (mpirun -np K nabla train)\n" : "");
    assert_string_equal(out_text + n, rest);
    assert_string_equal(err_text, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_library_agree),
        cmocka_unit_test(test_cli_version),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
