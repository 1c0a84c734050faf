/*
 * fns2d.c — the built-in 2-D test functions (see fns2d.h). Each gradient
 * is the exact derivative of its Φ, written out by hand; descend_test.c
 * and svg_check.py recompute them independently.
 */
#include "cli/fns2d.h"

#include <stddef.h>
#include <string.h>

/* Φ = 9 x1² + x2²: Hessian diag(18, 2), so fixed α converges iff
 * α < 2/18 and the x1 coordinate flips sign each step once α > 1/18. */
static void quad_eval(const double x[2], double *value, double grad[2])
{
    *value = 9.0 * x[0] * x[0] + x[1] * x[1];
    grad[0] = 18.0 * x[0];
    grad[1] = 2.0 * x[1];
}

/* Φ = (a − x1)² + b (x2 − x1²)², a = 1, b = 100; minimum 0 at (1, 1). */
static void rosenbrock_eval(const double x[2], double *value, double grad[2])
{
    const double a = 1.0, b = 100.0;
    double u = a - x[0], w = x[1] - x[0] * x[0];
    *value = u * u + b * w * w;
    grad[0] = -2.0 * u - 4.0 * b * x[0] * w;
    grad[1] = 2.0 * b * w;
}

/* Φ = (x1² + x2 − 11)² + (x1 + x2² − 7)²; minimum 0 at (3, 2) and three
 * other points. */
static void himmelblau_eval(const double x[2], double *value, double grad[2])
{
    double u = x[0] * x[0] + x[1] - 11.0, w = x[0] + x[1] * x[1] - 7.0;
    *value = u * u + w * w;
    grad[0] = 4.0 * x[0] * u + 2.0 * w;
    grad[1] = 2.0 * u + 4.0 * x[1] * w;
}

/* Default α per function: quad's 0.1 shows the zig-zag (0.1 > 1/18) and
 * still converges (< 2/18); the other two need far smaller fixed steps
 * where they are steep (Rosenbrock's walls have curvature ~ 1000). */
static const nb_fn2d fns[] = {
    {"quad", "9·x1² + x2²", {1.0, 2.0}, 0.1, quad_eval},
    {"rosenbrock", "(1 − x1)² + 100 (x2 − x1²)²", {-1.2, 1.0}, 1e-3, rosenbrock_eval},
    {"himmelblau", "(x1² + x2 − 11)² + (x1 + x2² − 7)²", {0.0, 0.0}, 0.01, himmelblau_eval},
};

const nb_fn2d *nb_fn2d_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof fns / sizeof *fns; i++)
        if (strcmp(name, fns[i].name) == 0) return &fns[i];
    return NULL;
}

const char *nb_fn2d_names(void) { return "quad, rosenbrock, himmelblau"; }
