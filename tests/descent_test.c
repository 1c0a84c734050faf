/*
 * descent_test.c — gradient descent itself: nb_descend on the worked
 * example Φ(x1, x2) = 9x1² + x2² (gradient, directional derivative, steps
 * along −∇Φ perpendicular to the level sets, convergence); the halting
 * rules of nb_schedule firing at exactly the predicted iteration; argument
 * and non-finite errors; and nb_train in full-batch mode on linear least
 * squares against the normal-equation solution computed here in double.
 *
 * Not tested here: gradients of networks (model/gradcheck_test.c),
 * mini-batch training, the CLI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <string.h>

#include "check.h"
#include "nabla.h"
#include "rng.h"

/* ------------------------------------------- the worked example 9x1² + x2² */

enum { HIST = 512 };

/* What on_iterate saw: iterate k's point and gradient. */
typedef struct history {
    long count;          /* callbacks so far; must equal the k passed      */
    long stop_at;        /* return nonzero at this k; −1: never             */
    double x[HIST][2];   /* (HIST, 2) x_k                                  */
    double g[HIST][2];   /* (HIST, 2) ∇Φ(x_k)                              */
    double value[HIST];  /* Φ(x_k)                                         */
    int calls_f;         /* evaluations of Φ                               */
} history;

static nb_status ellipse(void *user, size_t n, const double *x, double *value, double *grad)
{
    history *h = user;
    assert_int_equal(n, 2);
    h->calls_f++;
    *value = 9.0 * x[0] * x[0] + x[1] * x[1];
    grad[0] = 18.0 * x[0];
    grad[1] = 2.0 * x[1];
    return NB_OK;
}

/* Records iterate k; for 1-D problems only x[0]/g[0] are meaningful. */
static int record(void *user, const nb_iterate *it)
{
    history *h = user;
    long k = it->k;
    size_t n = it->n;
    const double *x = it->x, *grad = it->grad;
    double value = it->value;
    assert_int_equal(k, h->count); /* called once per iterate, in order */
    if (k < HIST) {
        for (size_t i = 0; i < n && i < 2; i++) {
            h->x[k][i] = x[i];
            h->g[k][i] = grad[i];
        }
        h->value[k] = value;
    }
    h->count++;
    return k == h->stop_at;
}

/* The defaults with every halting rule off and the divergence factor off
 * (so the non-finite tests see the NaN/Inf path itself). */
static void schedule_off(nb_schedule *s, double lr)
{
    nb_schedule_default(s);
    s->diverge_factor = 0.0;
    s->lr = lr;
    s->max_iters = 0;
    s->max_epochs = 0;
    s->target_loss = NAN;
    s->tol_grad = 0.0;
}

static void test_worked_example(void **state)
{
    (void)state;
    static history h; /* static: too big for a comfortable stack frame */
    memset(&h, 0, sizeof h);
    h.stop_at = -1;
    nb_problem p = {2, ellipse, record, &h};
    nb_schedule s;
    nb_result res;
    double x[2] = {1.0, 2.0};
    const double alpha = 0.05;
    schedule_off(&s, alpha);
    s.tol_grad = 1e-7;
    s.max_iters = 10000; /* safety only; the gradient rule must fire first */
    assert_int_equal(nb_descend(&p, &s, x, &res), NB_OK);

    /* ∇Φ(1, 2) = (18·1, 2·2) = (18, 4): exact in binary, so compared with ==. */
    assert_true(h.g[0][0] == 18.0 && h.g[0][1] == 4.0);
    assert_true(h.value[0] == 13.0);
    /* D_uΦ = ∇Φ·u for u = (√3/2, 1/2): 18·√3/2 + 4/2 = 9√3 + 2 ≈ 17.59.
     * Both sides round √3 and two products, a few ulp of 17.6 (~1e-14);
     * 1e-12 leaves room but would catch any real error. */
    double du = h.g[0][0] * (sqrt(3.0) / 2.0) + h.g[0][1] * 0.5;
    assert_true(fabs(du - (9.0 * sqrt(3.0) + 2.0)) <= 1e-12);

    /* Steps. For the first iterates, x_{k+1} − x_k must be −α∇Φ(x_k):
     * fn_step computes x − α·g, two roundings of ≤ u = 2^-53 each, and the
     * difference here a third, so 2 DBL_EPSILON (= 4u) of the magnitudes
     * involved bounds it. The tangent of the ellipse 9x1² + x2² = c at x
     * is t = (−x2, 9x1); ∇Φ·t = −18x1x2 + 18x1x2 = 0, and so must the step
     * be ⟂ t: a few roundings of products of size |∇Φ||t|, so
     * 1e-12·|∇Φ||t| is generous yet fails for any visible tilt. */
    for (int k = 0; k < 6; k++) {
        const double *xk = h.x[k], *xn = h.x[k + 1], *g = h.g[k];
        double t[2] = {-xk[1], 9.0 * xk[0]};
        double gn = hypot(g[0], g[1]), tn = hypot(t[0], t[1]);
        for (int i = 0; i < 2; i++) {
            double step = xn[i] - xk[i], want = -alpha * g[i];
            double tol = 2.0 * DBL_EPSILON * (fabs(xk[i]) + fabs(xn[i]) + fabs(want));
            assert_true(fabs(step - want) <= tol);
        }
        assert_true(fabs(g[0] * t[0] + g[1] * t[1]) <= 1e-12 * gn * tn);
        double sn = hypot(xn[0] - xk[0], xn[1] - xk[1]);
        assert_true(fabs((xn[0] - xk[0]) * t[0] + (xn[1] - xk[1]) * t[1]) <= 1e-12 * sn * tn);
        /* and the step goes downhill: Φ decreases */
        assert_true(h.value[k + 1] < h.value[k]);
    }

    /* Convergence. x1 ← 0.1 x1 and x2 ← 0.9 x2 per step, so ‖∇Φ‖ ≈ 2|x2|
     * = 4·0.9^k (the 18·0.1^k term is below 1e-150 by then) first drops
     * below 1e-7 at k = ⌈log(2.5e-8)/log 0.9⌉ = 167 (at 166.1, not near a
     * boundary). Then |x| ≤ ‖∇Φ‖/2 ≤ 5e-8 ≤ 1e-6. */
    long expect = (long)ceil(log(1e-7 / 4.0) / log(0.9));
    print_message("ellipse: %ld iterations (predicted %ld): %s\n", res.iters, expect, res.why);
    assert_int_equal(res.halt, NB_HALT_TOL_GRAD);
    assert_non_null(strstr(res.why, "‖∇Φ‖"));
    assert_int_equal(res.iters, expect);
    assert_int_equal(res.epochs, res.iters); /* epochs equal iterations */
    assert_int_equal(h.count, res.iters + 1); /* iterates 0..iters */
    assert_true(res.grad_norm <= 1e-7);
    assert_true(hypot(x[0], x[1]) <= 1e-6);
    assert_true(res.loss == 9.0 * x[0] * x[0] + x[1] * x[1]);
}

/* --------------------------------------------- halting on Φ(x) = x²/2 */

/* Φ = x²/2, ∇Φ = x; with α = 1/2 each step halves x, so from x0 = 1,
 * x_k = 2^-k, ‖∇Φ‖ = 2^-k and Φ_k = 2^-(2k+1), all exact in binary: every
 * rule below has one right answer, compared with ==. */
static nb_status half_square(void *user, size_t n, const double *x, double *value, double *grad)
{
    history *h = user;
    (void)n;
    h->calls_f++;
    *value = 0.5 * (x[0] * x[0]); /* x² first: it overflows as soon as Φ does */
    grad[0] = x[0];
    return NB_OK;
}

/* Run half_square from 1 under s; returns the status and fills h, res, x. */
static nb_status run_half(const nb_schedule *s, long stop_at, history *h, nb_result *res,
                          double *x)
{
    memset(h, 0, sizeof *h);
    h->stop_at = stop_at;
    nb_problem p = {1, half_square, record, h};
    *x = 1.0;
    return nb_descend(&p, s, x, res);
}

static void test_halting_rules(void **state)
{
    (void)state;
    static history h;
    nb_schedule s;
    nb_result res;
    double x;

    schedule_off(&s, 0.5);
    s.tol_grad = ldexp(1.0, -10); /* 2^-9 > tol, 2^-10 ≤ tol */
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_OK);
    assert_int_equal(res.halt, NB_HALT_TOL_GRAD);
    assert_int_equal(res.iters, 10);
    assert_true(x == ldexp(1.0, -10) && res.grad_norm == ldexp(1.0, -10));
    assert_non_null(strstr(res.why, "‖∇Φ‖"));

    schedule_off(&s, 0.5);
    s.target_loss = ldexp(1.0, -21); /* Φ_9 = 2^-19 > target, Φ_10 = 2^-21 ≤ */
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_OK);
    assert_int_equal(res.halt, NB_HALT_TARGET_LOSS);
    assert_int_equal(res.iters, 10);
    assert_true(res.loss == ldexp(1.0, -21));

    schedule_off(&s, 0.5);
    s.max_iters = 7;
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_OK);
    assert_int_equal(res.halt, NB_HALT_MAX_ITERS);
    assert_int_equal(res.iters, 7);
    assert_true(x == ldexp(1.0, -7));

    schedule_off(&s, 0.5);
    s.max_epochs = 5; /* nb_descend: epochs equal iterations */
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_OK);
    assert_int_equal(res.halt, NB_HALT_MAX_EPOCHS);
    assert_int_equal(res.iters, 5);
    assert_int_equal(res.epochs, 5);

    /* A callback that returns nonzero at k = 3 stops at x_3 (no 4th step). */
    schedule_off(&s, 0.5);
    s.max_iters = 100;
    assert_int_equal(run_half(&s, 3, &h, &res, &x), NB_OK);
    assert_int_equal(res.halt, NB_HALT_CALLBACK);
    assert_int_equal(res.iters, 3);
    assert_int_equal(h.count, 4); /* k = 0, 1, 2, 3 */
    assert_true(x == 0.125);
    for (int k = 0; k < 4; k++) assert_true(h.x[k][0] == ldexp(1.0, -k) && h.g[k][0] == h.x[k][0]);

    /* When two rules hold at once the gradient rule is reported. */
    schedule_off(&s, 0.5);
    s.tol_grad = ldexp(1.0, -4);
    s.max_iters = 4;
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_OK);
    assert_int_equal(res.iters, 4);
    assert_int_equal(res.halt, NB_HALT_TOL_GRAD);
}

static void test_bad_schedules(void **state)
{
    (void)state;
    static history h;
    nb_schedule s;
    nb_result res;
    double x;
    const double bad_lr[4] = {0.0, -0.5, NAN, INFINITY};

    schedule_off(&s, 0.5); /* every rule disabled */
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_ERR_ARG);
    assert_true(strlen(nb_last_error()) > 0);
    assert_int_equal(h.calls_f, 0);
    assert_true(x == 1.0); /* untouched */
    for (int i = 0; i < 4; i++) {
        schedule_off(&s, bad_lr[i]);
        s.max_iters = 10;
        assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_ERR_ARG);
        assert_int_equal(h.calls_f, 0);
    }
    nb_problem none = {1, NULL, NULL, NULL};
    schedule_off(&s, 0.5);
    s.max_iters = 10;
    assert_int_equal(nb_descend(&none, &s, &x, &res), NB_ERR_ARG);
}

static nb_status nan_value(void *user, size_t n, const double *x, double *value, double *grad)
{
    (void)user;
    (void)n;
    (void)x;
    *value = NAN;
    grad[0] = 1.0;
    return NB_OK;
}

static nb_status nan_grad(void *user, size_t n, const double *x, double *value, double *grad)
{
    (void)user;
    (void)n;
    *value = x[0] * x[0];
    grad[0] = NAN;
    return NB_OK;
}

static void test_nonfinite(void **state)
{
    (void)state;
    static history h;
    nb_schedule s;
    nb_result res;
    double x = 1.0;
    schedule_off(&s, 0.5);
    s.max_iters = 10;
    nb_problem p = {1, nan_value, NULL, NULL};
    assert_int_equal(nb_descend(&p, &s, &x, &res), NB_ERR_NONFINITE);
    assert_true(x == 1.0); /* no step is taken from a NaN measurement */
    p.f = nan_grad;
    assert_int_equal(nb_descend(&p, &s, &x, &res), NB_ERR_NONFINITE);
    /* α = 3 on x²/2 multiplies x by −2 per step: x_k = (−2)^k, and
     * Φ_k = x_k²/2 first overflows to Inf at k = 512 (x² = 2^1024). The run
     * must stop there with NONFINITE, not loop; iterates 0..511 are seen. */
    schedule_off(&s, 3.0);
    s.max_iters = 100000;
    assert_int_equal(run_half(&s, -1, &h, &res, &x), NB_ERR_NONFINITE);
    print_message("divergent run stopped: %s\n", nb_last_error());
    assert_int_equal(h.count, 512);
}

/* ---------------------------------------------- least squares by nb_train */

enum { LS_N = 200, LS_D = 5, LS_K = 2, LS_P = LS_D + 1 };

/* Solve a (n, n) β = r (n) in place by Gaussian elimination with partial
 * pivoting; β into r. a is destroyed. */
static void solve(int n, double *a, double *r)
{
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int i = c + 1; i < n; i++)
            if (fabs(a[i * n + c]) > fabs(a[piv * n + c])) piv = i;
        assert_true(fabs(a[piv * n + c]) > 1e-12); /* the design is full rank */
        if (piv != c) {
            for (int j = 0; j < n; j++) {
                double t = a[c * n + j];
                a[c * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
            }
            double t = r[c];
            r[c] = r[piv];
            r[piv] = t;
        }
        for (int i = c + 1; i < n; i++) {
            double f = a[i * n + c] / a[c * n + c];
            for (int j = c; j < n; j++) a[i * n + j] -= f * a[c * n + j];
            r[i] -= f * r[c];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double acc = r[i];
        for (int j = i + 1; j < n; j++) acc -= a[i * n + j] * r[j];
        r[i] = acc / a[i * n + i];
    }
}

/* Largest eigenvalue of the symmetric positive semi-definite (n, n) h by
 * power iteration, 500 steps from (1, …, 1), read off as a Rayleigh
 * quotient: its error is quadratic in the eigenvector's, which shrinks like
 * (λ2/λ1)^500 — negligible unless the top two eigenvalues nearly coincide
 * (and α = 1/λ_max would still converge with λ_max off by almost 2×). */
static double lambda_max(int n, const double *h)
{
    double v[LS_P], w[LS_P], lam = 0.0;
    for (int i = 0; i < n; i++) v[i] = 1.0;
    for (int it = 0; it < 500; it++) {
        double nw = 0.0;
        for (int i = 0; i < n; i++) {
            w[i] = 0.0;
            for (int j = 0; j < n; j++) w[i] += h[i * n + j] * v[j];
            nw += w[i] * w[i];
        }
        nw = sqrt(nw);
        lam = 0.0;
        for (int i = 0; i < n; i++) lam += v[i] * w[i]; /* Rayleigh quotient, ‖v‖ = 1 after step 1 */
        for (int i = 0; i < n; i++) v[i] = w[i] / nw;
    }
    return lam;
}

/*
 * nb_train, full batch, on one identity layer (5 → 2) with MSE: that is
 * linear least squares, Φ(W, b) = (1/N) Σ ‖W x_i + b − y_i‖², minimised by
 * the normal equations [X 1]ᵀ[X 1] β_o = [X 1]ᵀ y_o for each output o.
 */
static void test_least_squares(void **state)
{
    (void)state;
    const uint64_t seed = 5150;
    print_message("least squares: %d rows, %d features, %d outputs, seed %llu\n", LS_N, LS_D,
                  LS_K, (unsigned long long)seed);
    nb_rng r;
    nb_rng_seed(&r, seed, NB_STREAM_TEST);
    static float x[LS_N * LS_D], y[LS_N * LS_K];
    double wtrue[LS_K][LS_P];
    for (int o = 0; o < LS_K; o++)
        for (int j = 0; j < LS_P; j++) wtrue[o][j] = 4.0 * nb_rng_uniform(&r) - 2.0;
    for (int i = 0; i < LS_N; i++) {
        for (int j = 0; j < LS_D; j++) x[i * LS_D + j] = 2.0f * nb_rng_uniform(&r) - 1.0f;
        for (int o = 0; o < LS_K; o++) {
            double v = wtrue[o][LS_D] + 0.01 * (2.0 * nb_rng_uniform(&r) - 1.0); /* b + noise */
            for (int j = 0; j < LS_D; j++) v += wtrue[o][j] * x[i * LS_D + j];
            y[i * LS_K + o] = (float)v;
        }
    }

    /* M = [X 1]ᵀ[X 1] (P, P); the Hessian of Φ is (2/N) M for each output. */
    double m[LS_P * LS_P] = {0}, hess[LS_P * LS_P], beta[LS_K][LS_P] = {{0}};
    for (int i = 0; i < LS_N; i++) {
        double z[LS_P];
        for (int j = 0; j < LS_D; j++) z[j] = x[i * LS_D + j];
        z[LS_D] = 1.0;
        for (int a = 0; a < LS_P; a++) {
            for (int b = 0; b < LS_P; b++) m[a * LS_P + b] += z[a] * z[b];
            for (int o = 0; o < LS_K; o++) beta[o][a] += z[a] * y[i * LS_K + o];
        }
    }
    for (int o = 0; o < LS_K; o++) {
        double a[LS_P * LS_P];
        memcpy(a, m, sizeof a);
        solve(LS_P, a, beta[o]);
    }
    /* Sanity of the reference: with noise ±0.01 the fit is within a few
     * 1e-3 of the generating weights (standard error ≈ 0.006/√(N/3) ≈ 7e-4). */
    for (int o = 0; o < LS_K; o++)
        for (int j = 0; j < LS_P; j++) assert_true(fabs(beta[o][j] - wtrue[o][j]) < 5e-3);

    /* Step size: GD on a quadratic converges for α < 2/λ_max; α = 1/λ_max
     * contracts every error component by 1 − λ/λ_max ∈ [0, 1 − λ_min/λ_max].
     * λ_min from power iteration on λ_max I − H. */
    for (int i = 0; i < LS_P * LS_P; i++) hess[i] = 2.0 / LS_N * m[i];
    double lmax = lambda_max(LS_P, hess), shifted[LS_P * LS_P];
    for (int i = 0; i < LS_P * LS_P; i++) shifted[i] = (i % (LS_P + 1) == 0 ? lmax : 0.0) - hess[i];
    double lmin = lmax - lambda_max(LS_P, shifted);
    print_message("  Hessian eigenvalues in [%.4g, %.4g]\n", lmin, lmax);
    assert_true(lmin > 0.1);

    /* Halting: Φ is λ_min-strongly convex, so ‖θ − β‖ ≤ ‖∇Φ(θ)‖ / λ_min.
     * tol_grad = 1e-5·λ_min keeps the error ≤ 1e-5, a tenth of the 1e-4
     * allowed, leaving the rest for float32: the gradient nb_train measures
     * is off by ~1e-7 (a float32 sum over 200 rows of residuals ~0.01) and
     * θ itself is stored in float32 (ulp 2.4e-7 at |θ| ≤ 2). */
    nb_backend *be = NULL;
    nb_model *mod = NULL;
    nb_dataset *d = NULL;
    const int widths[2] = {LS_D, LS_K};
    const nb_act acts[1] = {NB_ACT_IDENTITY};
    assert_int_equal(nb_backend_create("cpu", &be), NB_OK);
    assert_int_equal(nb_model_create(be, 1, widths, acts, NB_LOSS_MSE, seed, &mod), NB_OK);
    assert_int_equal(nb_dataset_from_arrays(LS_N, LS_D, LS_K, x, y, &d), NB_OK);
    nb_train_options o;
    nb_train_options_default(&o);
    o.batch = 0;
    schedule_off(&o.schedule, 1.0 / lmax);
    o.schedule.tol_grad = 1e-5 * lmin;
    o.schedule.max_iters = 100000; /* safety: (1 − λ_min/λ_max)^k needs ~40 */
    nb_result res;
    assert_int_equal(nb_train(mod, d, NULL, &o, &res), NB_OK);
    print_message("  %s\n", res.why);
    assert_int_equal(res.halt, NB_HALT_TOL_GRAD);

    /* Compare with β: the model's A is (K, D) row-major, then b (K). */
    float theta[LS_K * LS_P];
    double want[LS_K * LS_P];
    assert_int_equal(nb_model_param_count(mod), LS_K * LS_P);
    assert_int_equal(nb_model_get_params(mod, theta, LS_K * LS_P), NB_OK);
    for (int o2 = 0; o2 < LS_K; o2++) {
        for (int j = 0; j < LS_D; j++) want[o2 * LS_D + j] = beta[o2][j];
        want[LS_K * LS_D + o2] = beta[o2][LS_D];
    }
    double worst = 0.0;
    for (int i = 0; i < LS_K * LS_P; i++) worst = fmax(worst, fabs(theta[i] - want[i]));
    print_message("  max |θ − β| = %.2g\n", worst);
    assert_close(theta, want, LS_K * LS_P, 1e-4, 0.0);

    nb_dataset_free(d);
    nb_model_free(mod);
    nb_backend_free(be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_halting_rules),
        cmocka_unit_test(test_bad_schedules),
        cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_least_squares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
