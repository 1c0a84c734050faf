/*
 * help_test.c — `nabla help CMD` prints CMD's own help, exactly what
 * `nabla CMD --help` prints, for every command the top-level help lists;
 * `nabla help` alone is the top-level help; an unknown command, an option
 * in its place or two commands are bad input (exit 2, one line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cli/run_cli.h"

static char top_help[1 << 16];

/* The command names listed under "Commands" in the top-level help. */
static int listed_commands(char names[][32], int cap)
{
    assert_int_equal(run("--help", NULL), 0);
    snprintf(top_help, sizeof top_help, "%s", out_text);
    const char *p = strstr(top_help, "Commands\n");
    assert_non_null(p);
    int n = 0;
    for (p = strchr(p, '\n') + 1; *p == ' ' && n < cap; p = strchr(p, '\n') + 1) {
        if (sscanf(p, " %31s", names[n]) == 1) n++;
        if (!strchr(p, '\n')) break;
    }
    return n;
}

static void test_help_cmd_is_cmd_help(void **state)
{
    (void)state;
    char names[32][32];
    int n = listed_commands(names, 32);
    assert_true(n >= 7); /* train, eval, predict, devices, descend, gradcheck, bench, … */
    static char own[sizeof out_text];
    for (int i = 0; i < n; i++) {
        assert_int_equal(run(names[i], "--help", NULL), 0);
        snprintf(own, sizeof own, "%s", out_text);
        char usage[64 + 32];
        snprintf(usage, sizeof usage, "usage: nabla %.31s", names[i]);
        assert_non_null(strstr(own, usage));
        int code = run("help", names[i], NULL);
        if (code != 0 || strcmp(out_text, own) != 0 || err_text[0]) {
            print_error("nabla help %s: exit %d, not the same as --help; stderr: %s\n", names[i],
                        code, err_text);
            fail();
        }
        print_message("nabla help %s: same as nabla %s --help\n", names[i], names[i]);
    }
}

static void test_help_alone_and_bad(void **state)
{
    (void)state;
    char names[32][32];
    listed_commands(names, 32);
    assert_int_equal(run("help", NULL), 0);
    assert_string_equal(out_text, top_help);
    assert_int_equal(run("help", "help", NULL), 0);
    assert_string_equal(out_text, top_help);
    static const char *const bad[][3] = {
        {"bogus", NULL, "unknown command 'bogus'"},
        {"--bogus", NULL, "'--bogus' is not a command"},
        {"train", "eval", "one command at a time"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int code = run("help", bad[i][0], bad[i][1], NULL);
        if (code != 2 || !strstr(err_text, bad[i][2]) || out_text[0]) {
            print_error("nabla help %s: exit %d, stderr: %s\n", bad[i][0], code, err_text);
            fail();
        }
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n')); /* one line */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_cmd_is_cmd_help),
        cmocka_unit_test(test_help_alone_and_bad),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
