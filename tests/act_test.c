/*
 * act_test.c — the table of activations (host/act.c) that the reference
 * ops, the gradient check, the model and the OpenCL kernels' ids read:
 * every entry is named and parses back, and every element-wise entry's
 * derivative, written through the output, is the derivative of its
 * function. A new activation is checked here as soon as it has an entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "act.h"
#include "nabla.h"

static void test_names_round_trip(void **state)
{
    (void)state;
    assert_true(nb_act_count > (int)NB_ACT_SOFTMAX);
    for (int a = 0; a < nb_act_count; a++) {
        const nb_act_info *i = nb_act_get((nb_act)a);
        assert_non_null(i);
        assert_non_null(i->name);
        assert_non_null(i->f);
        assert_non_null(i->dy);
        assert_string_equal(nb_act_name((nb_act)a), i->name);
        nb_act back = (nb_act)-1;
        assert_int_equal(nb_act_parse(i->name, &back), NB_OK);
        assert_int_equal((int)back, a);
    }
    assert_null(nb_act_get((nb_act)nb_act_count));
    assert_null(nb_act_get((nb_act)-1));
    assert_string_equal(nb_act_name((nb_act)nb_act_count), "?");
    /* Softmax is the one row-wise case the passes and kernels treat apart. */
    assert_true(nb_act_get(NB_ACT_SOFTMAX)->rowwise);
    assert_false(nb_act_get(NB_ACT_RELU)->rowwise);
    /* An unknown name fails, and the message lists every name. */
    nb_act out;
    assert_int_equal(nb_act_parse("swish?", &out), NB_ERR_ARG);
    for (int a = 0; a < nb_act_count; a++)
        assert_non_null(strstr(nb_last_error(), nb_acts[a].name));
    assert_int_equal(nb_act_parse(NULL, &out), NB_ERR_ARG);
}

/* Occurrences of s in text. */
static int count(const char *text, const char *s)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, s)); p += strlen(s)) n++;
    return n;
}

static void test_names_list(void **state)
{
    (void)state;
    char all[256], elem[256], tiny[8];
    nb_act_names(all, sizeof all, ", ", true);
    nb_act_names(elem, sizeof elem, "|", false);
    int rowwise = 0;
    for (int a = 0; a < nb_act_count; a++) {
        assert_non_null(strstr(all, nb_acts[a].name));
        /* the row-wise ones only when asked for ("sigmoid" holds no other name) */
        assert_int_equal(strstr(elem, nb_acts[a].name) != NULL, !nb_acts[a].rowwise);
        rowwise += nb_acts[a].rowwise;
    }
    assert_int_equal(count(all, ", "), nb_act_count - 1);
    assert_int_equal(count(elem, "|"), nb_act_count - rowwise - 1);
    nb_act_names(tiny, sizeof tiny, ", ", true); /* cut short, still a string */
    assert_true(strlen(tiny) < sizeof tiny);
    assert_int_equal(strncmp(tiny, all, strlen(tiny)), 0);
}

/* σ'(z) from y = σ(z) against the central difference of σ in double. */
static void test_derivative_through_output(void **state)
{
    (void)state;
    const double h = 1e-5;
    for (int a = 0; a < nb_act_count; a++) {
        const nb_act_info *i = &nb_acts[a];
        if (i->rowwise) continue; /* softmax is differentiated through its loss */
        for (int k = -400; k <= 400; k++) {
            double z = k / 100.0;
            if (fabs(z) < 2 * h) continue; /* relu's kink: no derivative to compare */
            double fd = (i->f(z + h) - i->f(z - h)) / (2 * h);
            double got = i->dy(i->f(z));
            /* Central difference: truncation h²·|σ'''|/6 ≤ 1e-10·|σ'''| with
             * |σ'''| ≤ 2 for these functions on [−4, 4], plus rounding of
             * about 1e-16/h = 1e-11; 1e-8 leaves room for both. */
            if (fabs(got - fd) > 1e-8) {
                print_error("%s at z = %g: σ' through y is %.17g, the difference %.17g\n",
                            i->name, z, got, fd);
                fail();
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_names_list),
        cmocka_unit_test(test_derivative_through_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
