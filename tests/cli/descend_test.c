/*
 * descend_test.c — `nabla descend` as a user runs it: the notes' quadratic
 * Φ = 9·x1² + x2² from (1, 2) (zig-zag at α = 0.1, divergence past
 * α = 2/18, the line search), Rosenbrock and Himmelblau reaching their
 * minima, the exact update rule recomputed from the printed iterates, the
 * evaluation counts the README quotes, and bad input.
 *
 * The SVG picture is checked by svg_check.py (needs Python).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>

#include "cli/run_cli.h"

enum { MAX_ROWS = 1100 };

/* The printed iterates of the last run. */
typedef struct rows {
    int n;
    long k[MAX_ROWS];
    double x1[MAX_ROWS], x2[MAX_ROWS], phi[MAX_ROWS], gnorm[MAX_ROWS];
} rows;

static rows R;

/* Parse every iterate line ("k x1 x2 Φ ‖∇Φ‖ α [trials]") of out_text into R.
 * Other lines (heading, column names, stopped:, …) do not start with a
 * number followed by four more and are skipped. */
static void parse_rows(void)
{
    R.n = 0;
    for (const char *p = out_text; *p && R.n < MAX_ROWS;) {
        long k;
        double a, b, c, d;
        if (sscanf(p, "%ld %lf %lf %lf %lf", &k, &a, &b, &c, &d) == 5) {
            R.k[R.n] = k, R.x1[R.n] = a, R.x2[R.n] = b, R.phi[R.n] = c, R.gnorm[R.n] = d;
            R.n++;
        }
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
    }
}

/* "evaluations: Φ N, ∇Φ M" of the last run. */
static void counts(long *evals, long *grads)
{
    const char *p = strstr(out_text, "evaluations: Φ ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "evaluations: Φ %ld, ∇Φ %ld", evals, grads), 2);
}

/* "final: x1 A  x2 B  Φ C" of the last run. */
static void final_point(double *x1, double *x2)
{
    const char *p = strstr(out_text, "final: x1 ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "final: x1 %lf x2 %lf", x1, x2), 2);
}

/* The run stopped on the gradient rule at 1e-6. */
static void assert_converged(void)
{
    if (!strstr(out_text, "stopped: ‖∇Φ‖ = ") || !strstr(out_text, "≤ 1e-06 after ")) {
        print_error("not converged; stdout:\n%.2000s\n", out_text);
        fail();
    }
}

/*
 * Every consecutive pair of printed iterates satisfies
 * x_{k+1} = x_k − α ∇Φ(x_k), ∇Φ = (18 x1, 2 x2), recomputed from the
 * printed %.17g values (which round-trip exactly). Tolerance: 4 ulps of
 * the larger of |x_k| and |α ∇Φ| — the library computes x − α·g in double
 * exactly like this, so the difference is 0 unless a compiler contracts
 * α·g and the subtraction into one FMA (one rounding instead of two, at
 * most 1 ulp each); 4 leaves room without hiding a wrong step (a wrong α
 * or gradient is off by orders of magnitude more).
 */
static void assert_fixed_steps(double alpha)
{
    assert_true(R.n >= 3);
    for (int i = 0; i + 1 < R.n; i++) {
        assert_int_equal(R.k[i + 1], R.k[i] + 1);
        double g[2] = {18.0 * R.x1[i], 2.0 * R.x2[i]};
        double x[2] = {R.x1[i], R.x2[i]}, got[2] = {R.x1[i + 1], R.x2[i + 1]};
        for (int c = 0; c < 2; c++) {
            double want = x[c] - alpha * g[c];
            double tol = 4.0 * DBL_EPSILON * fmax(fabs(x[c]), fabs(alpha * g[c]));
            if (fabs(got[c] - want) > tol) {
                print_error("k = %ld, x%d: printed %.17g, x - alpha grad = %.17g (tol %.3g)\n",
                            R.k[i + 1], c + 1, got[c], want, tol);
                fail();
            }
        }
    }
}

/* α = 0.12 > 2/18: |1 − 18α| = 1.16, x1 grows by 1.16 per step, Φ passes
 * 1000 × its best and the run ends as divergence, exit status 1. */
static void test_quad_diverges(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--lr", "0.12", NULL), 1);
    assert_non_null(strstr(out_text, "stopped: diverged: "));
    parse_rows();
    assert_true(R.n >= 10);
    for (int i = 1; i < R.n; i++) assert_true(fabs(R.x1[i]) > fabs(R.x1[i - 1])); /* growing */
    assert_fixed_steps(0.12);
    /* The same through the non-finite path: no divergence factor, so the
     * loss overflows to Inf; still status 1 and reported as divergence. */
    assert_int_equal(run("descend", "--lr", "0.12", "--diverge-factor", "0", "--iters", "100000",
                         "--print-every", "1000", NULL), 1);
    assert_non_null(strstr(out_text, "stopped: diverged: "));
    assert_null(strstr(out_text, "final: x1 nan"));
}

/* α = 0.1: 1 − 18α = −0.8, so x1 flips sign at every step (the zig-zag),
 * 1 − 2α = 0.8 for x2; both shrink, so it converges. */
static void test_quad_zigzag(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--lr", "0.1", NULL), 0);
    assert_converged();
    parse_rows();
    assert_true(R.n >= 20);
    assert_int_equal(R.k[0], 0);
    assert_true(R.x1[0] == 1.0 && R.x2[0] == 2.0);
    for (int i = 0; i + 1 < R.n; i++) {
        if (!(R.x1[i] * R.x1[i + 1] < 0.0)) {
            print_error("no zig-zag between k = %ld and %ld: x1 = %g, %g\n", R.k[i], R.k[i + 1],
                        R.x1[i], R.x1[i + 1]);
            fail();
        }
    }
    assert_fixed_steps(0.1);
    /* It stopped at the first iterate with ‖∇Φ‖ ≤ 1e-6. */
    assert_true(R.gnorm[R.n - 1] <= 1e-6);
    assert_true(R.gnorm[R.n - 2] > 1e-6);
}

/* α = 0.05 < 1/18: both coordinates shrink without changing sign. */
static void test_quad_small_step(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--lr", "0.05", NULL), 0);
    assert_converged();
    parse_rows();
    for (int i = 0; i < R.n; i++) assert_true(R.x1[i] > 0.0 && R.x2[i] > 0.0);
    assert_fixed_steps(0.05);
}

/* The line search from α = 1 (which alone would diverge) converges
 * without tuning, and the printed α of each step passes Armijo's test. */
static void test_quad_line_search(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--line-search", "--lr", "1", NULL), 0);
    assert_converged();
    parse_rows();
    assert_true(R.gnorm[R.n - 1] <= 1e-6);
    for (int i = 0; i + 1 < R.n; i++) assert_true(R.phi[i + 1] < R.phi[i]); /* always downhill */
    assert_non_null(strstr(out_text, "trials"));
}

/*
 * Evaluations to ‖∇Φ‖ ≤ 1e-6 on Φ = 9·x1² + x2² from (1, 2), as measured
 * (the README's table):
 *
 *   schedule                  iterations   Φ evals   ∇Φ evals
 *   fixed α = 0.01                   753       754        754
 *   fixed α = 0.05                   145       146        146
 *   fixed α = 0.1                     75        76         76
 *   line search from α = 1            50       135         51
 *
 * Asserted exactly: the run is deterministic (only + and × in double, no
 * libm, no randomness) and the README quotes these numbers, so a change
 * in the library's step or line-search policy must fail here and get the
 * table updated. The claim behind the table is asserted too: the line
 * search needs fewer gradients than α = 0.01 and 0.05.
 */
static void test_evaluation_counts(void **state)
{
    (void)state;
    static const struct {
        const char *lr;
        int line_search;
        long evals, grads;
    } want[] = {{"0.01", 0, 754, 754}, {"0.05", 0, 146, 146}, {"0.1", 0, 76, 76},
                {"1", 1, 135, 51}};
    long grads[4];
    for (int i = 0; i < 4; i++) {
        /* the last argument is NULL (ends the list) without the line search */
        int code = run("descend", "--lr", want[i].lr, "--print-every", "100",
                       want[i].line_search ? "--line-search" : NULL, NULL);
        assert_int_equal(code, 0);
        assert_converged();
        long e, g;
        counts(&e, &g);
        print_message("%s alpha = %s: Φ %ld, ∇Φ %ld\n",
                      want[i].line_search ? "line search from" : "fixed", want[i].lr, e, g);
        if (e != want[i].evals || g != want[i].grads) {
            print_error("expected Φ %ld, ∇Φ %ld: update this test and the README table\n",
                        want[i].evals, want[i].grads);
            fail();
        }
        grads[i] = g;
    }
    assert_true(grads[3] < grads[0] && grads[3] < grads[1]);
}

/* Momentum straightens the zig-zag: fewer iterations than plain α = 0.05. */
static void test_quad_momentum(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--lr", "0.05", "--print-every", "100", NULL), 0);
    long e_plain, g_plain, e_mom, g_mom;
    counts(&e_plain, &g_plain);
    assert_int_equal(run("descend", "--lr", "0.05", "--optim", "momentum", "--momentum", "0.5",
                         "--print-every", "100", NULL), 0);
    assert_converged();
    counts(&e_mom, &g_mom);
    assert_true(g_mom < g_plain);
}

/* --print-every N prints the multiples of N and always the last iterate. */
static void test_print_every(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--print-every", "10", NULL), 0);
    parse_rows();
    assert_true(R.n >= 3);
    for (int i = 0; i + 1 < R.n; i++) assert_int_equal(R.k[i], 10L * i);
    assert_true(R.k[R.n - 1] % 10 != 0); /* 75: the last, printed although not a multiple */
    assert_true(R.gnorm[R.n - 1] <= 1e-6);
}

/* Distance from (x1, x2) to the nearest of n points (2n). */
static double nearest(double x1, double x2, const double *pts, int n)
{
    double best = INFINITY;
    for (int i = 0; i < n; i++) best = fmin(best, hypot(x1 - pts[2 * i], x2 - pts[2 * i + 1]));
    return best;
}

/*
 * Rosenbrock reaches (1, 1) with Adam and with the line search. Tolerance
 * 1e-5: at ‖∇Φ‖ ≤ 1e-6 the distance to the minimum is about ‖∇Φ‖ / λ_min
 * of the Hessian there (λ_min ≈ 0.4), i.e. ≤ 3e-6.
 */
static void test_rosenbrock(void **state)
{
    (void)state;
    static const double min[2] = {1.0, 1.0};
    double x1, x2;
    assert_int_equal(run("descend", "--fn", "rosenbrock", "--optim", "adam", "--lr", "0.01",
                         "--iters", "50000", "--print-every", "10000", NULL), 0);
    assert_converged();
    final_point(&x1, &x2);
    assert_true(nearest(x1, x2, min, 1) < 1e-5);
    assert_int_equal(run("descend", "--fn", "rosenbrock", "--line-search", "--lr", "1", "--iters",
                         "50000", "--print-every", "10000", NULL), 0);
    assert_converged();
    final_point(&x1, &x2);
    assert_true(nearest(x1, x2, min, 1) < 1e-5);
}

/*
 * Himmelblau reaches one of its four minima: (3, 2) exactly and three
 * known to 6 decimals, hence the tolerance 1e-5 (rounding of the known
 * values 1e-6, plus ‖∇Φ‖ / λ_min ≤ 1e-6 / 8 of convergence error).
 */
static void test_himmelblau(void **state)
{
    (void)state;
    static const double mins[8] = {3.0, 2.0, -2.805118, 3.131312, -3.779310, -3.283186,
                                   3.584428, -1.848126};
    static const char *const starts[] = {"0,0", "-1,3", "-3,-3", "3,-3"};
    double x1, x2;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(run("descend", "--fn", "himmelblau", "--line-search", "--lr", "1",
                             "--start", starts[i], "--print-every", "100", NULL), 0);
        assert_converged();
        final_point(&x1, &x2);
        print_message("himmelblau from %s: (%.9f, %.9f)\n", starts[i], x1, x2);
        assert_true(nearest(x1, x2, mins, 4) < 1e-5);
    }
    /* The default fixed α = 0.01 from (0, 0) gets there too. */
    assert_int_equal(run("descend", "--fn", "himmelblau", NULL), 0);
    assert_converged();
    final_point(&x1, &x2);
    assert_true(nearest(x1, x2, mins, 1) < 1e-5);
}

/* Each bad input: exit 2, one line naming the flag, nothing on stdout. */
static void test_bad_input(void **state)
{
    (void)state;
    static const char *cases[][3] = {
        {"--fn", "sphere", "--fn"},     {"--start", "1", "--start"},
        {"--start", "a,b", "--start"},  {"--start", "1,2,3", "--start"},
        {"--start", "nan,1", "--start"}, {"--start", "1,", "--start"},
        {"--start", "1e999,0", "--start"}, {"--lr", "abc", "--lr"},
        {"--lr", "-1", "--lr"},         {"--lr", "0", "--lr"},
        {"--lr", "inf", "--lr"},        {"--print-every", "0", "--print-every"},
        {"--iters", "0", "--iters"},    {"--optim", "lbfgs", "--optim"},
        {"--tol-grad", "0", "--tol-grad"}, {"--plot", "/nonexistent/dir/p.svg", "--plot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = run("descend", cases[i][0], cases[i][1], NULL);
        if (code != 2 || !strstr(err_text, cases[i][2])) {
            print_error("%s %s: exit %d, stderr: %s\n", cases[i][0], cases[i][1], code, err_text);
            fail();
        }
        assert_non_null(strchr(err_text, '\n'));
        assert_null(strchr(strchr(err_text, '\n') + 1, '\n'));
        assert_string_equal(out_text, "");
    }
    assert_int_equal(run("descend", "--no-such-flag", NULL), 2);
    assert_non_null(strstr(err_text, "--no-such-flag"));
    assert_int_equal(run("descend", "--start", NULL), 2);
    assert_non_null(strstr(err_text, "--start"));
    assert_int_equal(run("descend", "extra", NULL), 2);
    /* Valid flags the library refuses together: still 2, with its reason. */
    assert_int_equal(run("descend", "--line-search", "--optim", "momentum", NULL), 2);
    assert_non_null(strstr(err_text, "line search"));
    assert_string_equal(out_text, "");
}

/* --help works and every flag it names is accepted by the parser. */
static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("descend", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "--fn NAME"));
    assert_non_null(strstr(out_text, "--line-search"));
    char help[sizeof out_text];
    memcpy(help, out_text, sizeof help);
    for (const char *p = help; (p = strstr(p, "  --")); p += 4) {
        char flag[64];
        size_t n = strcspn(p + 2, " ,\n");
        assert_true(n < sizeof flag);
        memcpy(flag, p + 2, n);
        flag[n] = '\0';
        run("descend", flag, NULL);
        if (strstr(err_text, "unknown option")) {
            print_error("help names %s, which the parser rejects\n", flag);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quad_diverges),     cmocka_unit_test(test_quad_zigzag),
        cmocka_unit_test(test_quad_small_step),   cmocka_unit_test(test_quad_line_search),
        cmocka_unit_test(test_evaluation_counts), cmocka_unit_test(test_quad_momentum),
        cmocka_unit_test(test_print_every),       cmocka_unit_test(test_rosenbrock),
        cmocka_unit_test(test_himmelblau),        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, cli_setup, cli_teardown);
}
