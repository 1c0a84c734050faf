/*
 * fns2d.h — the built-in functions of `nabla descend`: Φ(x1, x2) with its
 * exact gradient, a default start and a default step size.
 *
 * They are the test functions of the notes: an elongated quadratic whose
 * condition number (9) makes fixed-step descent zig-zag, Rosenbrock's
 * banana valley and Himmelblau's four minima. Everything is in double.
 */
#ifndef NB_CLI_FNS2D_H
#define NB_CLI_FNS2D_H

typedef struct nb_fn2d {
    const char *name;    /* as given to --fn: "quad", "rosenbrock", "himmelblau" */
    const char *formula; /* UTF-8, for titles: "9·x1² + x2²"                    */
    double start[2];     /* default starting point                               */
    double lr;           /* default α: what makes a useful picture from start    */
    /* Φ(x) into *value and ∇Φ(x) into grad (2); overflow gives Inf, never traps. */
    void (*eval)(const double x[2], double *value, double grad[2]);
} nb_fn2d;

/* The function called name, or NULL. */
const nb_fn2d *nb_fn2d_find(const char *name);

/* "quad, rosenbrock, himmelblau", for messages and help. */
const char *nb_fn2d_names(void);

#endif
