/*
 * cmd_descend.c — `nabla descend`: gradient descent on a built-in function
 * of two variables (fns2d.h) through the library's nb_descend, printed
 * iterate by iterate, with an optional SVG picture (svg.h): the picture
 * from the notes — level sets, the zig-zag of a large fixed α, divergence
 * past α = 2/L, and −∇Φ at right angles to the level sets.
 *
 * This file only parses flags, prints and keeps the path for the picture;
 * the step sizes, line search, optimizers and halting rules are all the
 * library's, exactly as `nabla train` uses them.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/fns2d.h"
#include "cli/sched_args.h"
#include "cli/svg.h"
#include "nabla.h"

enum {
    PLOT_CAP = 8192,   /* iterates kept for the picture; longer paths are thinned */
    PRINT_ALL = 1000,  /* by default every iterate up to this k is printed ...   */
    PRINT_LATER = 1000 /* ... and after it every this-many-th                    */
};

/* descend's own defaults, where they differ from nb_schedule_default:
 * a 2-D picture wants an iteration budget and a gradient tolerance, not
 * 100 epochs. */
static const long DEFAULT_ITERS = 1000;
static const double DEFAULT_TOL_GRAD = 1e-6;

static const char descend_help_head[] =
    "usage: nabla descend [options]\n"
    "\n"
    "Gradient descent on a built-in function of two variables, printed iterate\n"
    "by iterate, optionally drawn. With no options it descends quad from (1, 2)\n"
    "with alpha = 0.1: it zig-zags (alpha > 1/18) and converges (alpha < 2/18);\n"
    "alpha = 0.12 diverges.\n"
    "\n"
    "Function\n"
    "  --fn NAME           quad        9 x1^2 + x2^2 (the default; start 1,2;\n"
    "                                  alpha 0.1)\n"
    "                      rosenbrock  (1 - x1)^2 + 100 (x2 - x1^2)^2, minimum at\n"
    "                                  (1, 1) (start -1.2,1; alpha 0.001)\n"
    "                      himmelblau  (x1^2 + x2 - 11)^2 + (x1 + x2^2 - 7)^2, four\n"
    "                                  minima, one at (3, 2) (start 0,0; alpha 0.01)\n"
    "  --start X1,X2       the starting point, |Xi| <= 1e100\n"
    "\n"
    "Output\n"
    "  --print-every N     print iterate k when N divides k (default: every iterate\n"
    "                      up to k = 1000, then every 1000th); the last iterate is\n"
    "                      always printed. Columns: k, x1, x2 (%.17g), Phi,\n"
    "                      |grad Phi|, the alpha of the step that led to x_k, and\n"
    "                      with --line-search that step's Phi evaluations\n"
    "  --plot FILE.svg     draw the level sets of Phi, the path, -grad Phi arrows\n"
    "                      at some iterates (equal scale on both axes, so they meet\n"
    "                      the level sets at right angles), start and end\n"
    "  -h, --help          this help\n"
    "\n"
    "The schedule flags are those of nabla train. For descend one epoch is one\n"
    "iteration, and the defaults are alpha as above, --iters 1000, --tol-grad\n"
    "1e-6 and no epoch limit (--epochs N without --iters drops the 1000).\n"
    "\n";

static const char descend_help_tail[] =
    "\n"
    "Exit status: 0 a halting rule fired, 1 the descent diverged (reported as\n"
    "'stopped: diverged: ...'; the picture is still written) or the picture\n"
    "could not be written, 2 bad arguments.\n";

/* One printed or remembered iterate. */
typedef struct row {
    long k;
    double x[2], value, gnorm, lr;
    int trials;
} row;

/* What the iterate callback needs. */
typedef struct tracker {
    const nb_fn2d *fn;
    const char *header; /* printed before the first iterate               */
    long print_every;   /* 0: the default rule                             */
    int line_search;    /* print the trials column                         */
    long printed;       /* k of the last printed iterate; -1: none yet     */
    row last;           /* the latest iterate                              */
    /* The picture's path: iterates k with stride | k, at most PLOT_CAP of
     * them (+1 for the final iterate). When full, every other one is
     * dropped and the stride doubles, so a long run keeps its shape. */
    long *k;
    double *x; /* (cap + 1, 2) */
    size_t n;
    long stride;
} tracker;

/* s right-aligned in width columns, counting UTF-8 characters, not bytes. */
static void print_padded(const char *s, int width)
{
    int chars = 0;
    for (const char *p = s; *p; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
    for (int i = chars; i < width; i++) putchar(' ');
    fputs(s, stdout);
}

static void print_columns(int line_search)
{
    static const char *const names[] = {"k", "x1", "x2", "Φ", "‖∇Φ‖", "α", "trials"};
    static const int widths[] = {6, 24, 24, 24, 13, 12, 7};
    for (int i = 0; i < (line_search ? 7 : 6); i++) print_padded(names[i], widths[i] + (i ? 2 : 0));
    putchar('\n');
}

static void print_row(const row *r, int line_search)
{
    printf("%6ld  %24.17g  %24.17g  %24.17g  %13.6e", r->k, r->x[0], r->x[1], r->value, r->gnorm);
    if (isnan(r->lr)) printf("  %12s", "-"); /* x_0 was not reached by a step */
    else printf("  %12.6g", r->lr);
    if (line_search) printf("  %7d", r->trials);
    putchar('\n');
}

static int due(const tracker *t, long k)
{
    if (t->print_every > 0) return k % t->print_every == 0;
    return k <= PRINT_ALL || k % PRINT_LATER == 0;
}

static void keep(tracker *t, long k, const double x[2])
{
    if (k % t->stride != 0) return;
    if (t->n == PLOT_CAP) { /* keep the even entries: multiples of 2·stride */
        size_t m = 0;
        for (size_t i = 0; i < t->n; i += 2, m++) {
            t->k[m] = t->k[i];
            t->x[2 * m] = t->x[2 * i], t->x[2 * m + 1] = t->x[2 * i + 1];
        }
        t->n = m;
        t->stride *= 2;
        if (k % t->stride != 0) return;
    }
    t->k[t->n] = k;
    t->x[2 * t->n] = x[0], t->x[2 * t->n + 1] = x[1];
    t->n++;
}

static int on_iterate(void *user, const nb_iterate *it)
{
    tracker *t = user;
    row r = {it->k, {it->x[0], it->x[1]}, it->value, hypot(it->grad[0], it->grad[1]), it->lr,
             it->trials};
    if (t->printed < 0 && it->k == 0) { /* the run is valid: nb_descend got this far */
        fputs(t->header, stdout);
        print_columns(t->line_search);
    }
    t->last = r;
    if (due(t, r.k)) print_row(&r, t->line_search), t->printed = r.k;
    if (t->k) keep(t, r.k, r.x);
    return 0;
}

/* Φ(x) for nb_descend: the built-in function, which never fails. */
static nb_status value_grad(void *user, size_t n, const double *x, double *value, double *grad)
{
    const tracker *t = user;
    (void)n;
    t->fn->eval(x, value, grad);
    return NB_OK;
}

/* "α = 0.1 constant, sgd" or "line search from α = 1 (Armijo c = 0.0001), sgd". */
static void describe(const nb_schedule *s, char *buf, size_t size)
{
    int n;
    if (s->line_search)
        n = snprintf(buf, size, "line search from α = %g (Armijo c = %g)", s->lr, s->armijo_c);
    else
        n = snprintf(buf, size, "α = %g %s", s->lr, nb_lr_kind_name(s->lr_kind));
    if (n < 0 || (size_t)n >= size) return;
    if (s->optim == NB_OPT_MOMENTUM || s->optim == NB_OPT_NESTEROV)
        snprintf(buf + n, size - (size_t)n, ", %s μ = %g", nb_optim_name(s->optim), s->momentum);
    else if (s->optim == NB_OPT_ADAM || s->optim == NB_OPT_ADAMW)
        snprintf(buf + n, size - (size_t)n, ", %s β1 = %g, β2 = %g", nb_optim_name(s->optim),
                 s->beta1, s->beta2);
    else
        snprintf(buf + n, size - (size_t)n, ", %s", nb_optim_name(s->optim));
}

/* "X1,X2": exactly two finite numbers. */
static int parse_start(const char *v, double out[2])
{
    const char *comma = strchr(v, ',');
    char a[64];
    if (!comma || strchr(comma + 1, ',') || (size_t)(comma - v) >= sizeof a) {
        nb_cli_usage_error("descend", "--start: expected two numbers X1,X2, got '%s'", v);
        return 0;
    }
    memcpy(a, v, (size_t)(comma - v));
    a[comma - v] = '\0';
    return nb_arg_double("descend", "--start", a, -1e100, 1e100, 0, 0, &out[0]) &&
           nb_arg_double("descend", "--start", comma + 1, -1e100, 1e100, 0, 0, &out[1]);
}

typedef struct descend_args {
    const nb_fn2d *fn;
    double start[2];
    int start_set;
    long print_every;
    const char *plot;
    nb_schedule s;
} descend_args;

/* Run, print, draw. */
static int run(descend_args *a)
{
    nb_schedule *s = &a->s;
    FILE *plot = NULL;
    if (a->plot && !(plot = fopen(a->plot, "w")))
        return nb_cli_usage_error("descend", "--plot: cannot open '%s' for writing", a->plot);
    char sched[160], header[512], halting[160] = "";
    describe(s, sched, sizeof sched);
    size_t hl = 0, hs = sizeof halting; /* the buffer holds all three rules */
    if (s->tol_grad > 0) hl += (size_t)snprintf(halting, hs, "‖∇Φ‖ ≤ %g", s->tol_grad);
    if (s->max_iters > 0)
        hl += (size_t)snprintf(halting + hl, hs - hl, "%s%ld iterations", hl ? ", " : "",
                               s->max_iters);
    if (s->max_epochs > 0)
        snprintf(halting + hl, hs - hl, "%s%ld epochs", hl ? ", " : "", s->max_epochs);
    snprintf(header, sizeof header, "descend: %s, Φ = %s, from (%.17g, %.17g); %s; stop at %s\n",
             a->fn->name, a->fn->formula, a->start[0], a->start[1], sched,
             *halting ? halting : "the flags' rules");

    tracker t = {a->fn, header, a->print_every, s->line_search, -1, {0, {0, 0}, 0, 0, 0, 0},
                 NULL, NULL, 0, 1};
    if (plot) {
        t.k = malloc((PLOT_CAP + 1) * sizeof *t.k);
        t.x = malloc(2 * (PLOT_CAP + 1) * sizeof *t.x);
        if (!t.k || !t.x) {
            free(t.k), free(t.x), fclose(plot);
            fprintf(stderr, "nabla descend: out of memory\n");
            return NB_EXIT_FAIL;
        }
    }
    double x[2] = {a->start[0], a->start[1]};
    nb_problem prob = {2, value_grad, on_iterate, &t};
    nb_result res;
    nb_status st = nb_descend(&prob, s, x, &res);
    int code = NB_EXIT_OK;
    char stopped[256];
    if (st == NB_ERR_NONFINITE || st == NB_ERR_DIVERGED) {
        const char *why = res.why[0] ? res.why : nb_cli_error();
        snprintf(stopped, sizeof stopped, "stopped: %s%s",
                 strncmp(why, "diverged", 8) == 0 ? "" : "diverged: ", why);
        code = NB_EXIT_FAIL;
    } else if (st != NB_OK) {
        fprintf(stderr, "nabla descend: %s\n", nb_cli_error());
        free(t.k), free(t.x);
        if (plot) fclose(plot), remove(a->plot);
        return nb_cli_exit_for(st);
    } else {
        snprintf(stopped, sizeof stopped, "stopped: %s", res.why);
    }
    if (t.printed < 0) /* diverged at x_0 itself (Φ(start) is not finite) */
        fputs(header, stdout);
    else if (t.printed != t.last.k)
        print_row(&t.last, t.line_search);
    printf("%s\n", stopped);
    printf("evaluations: Φ %ld, ∇Φ %ld\n", res.evals, res.grad_evals);
    double phi, g[2];
    a->fn->eval(x, &phi, g); /* x is the last (good) iterate; not counted above */
    printf("final: x1 %.17g  x2 %.17g  Φ %.17g\n", x[0], x[1], phi);

    if (plot) {
        /* The final iterate ends the drawn path even when thinning skipped
         * it; with no iterate at all the start stands alone. */
        if (t.printed < 0) t.last = (row){0, {a->start[0], a->start[1]}, NAN, NAN, NAN, 0};
        if (t.n == 0 || t.k[t.n - 1] != t.last.k) {
            t.k[t.n] = t.last.k;
            t.x[2 * t.n] = t.last.x[0], t.x[2 * t.n + 1] = t.last.x[1];
            t.n++;
        }
        char title[256];
        snprintf(title, sizeof title, "nabla descend: %s, Φ = %s, from (%g, %g)", a->fn->name,
                 a->fn->formula, a->start[0], a->start[1]);
        nb_svg_path path = {a->fn, t.n, t.k, t.x, {title, sched, stopped}};
        const char *err = nb_svg_write(plot, &path);
        int bad = ferror(plot);
        if (fclose(plot) != 0 || bad || err) {
            fprintf(stderr, "nabla descend: --plot: writing '%s' failed%s%s\n", a->plot,
                    err ? ": " : "", err ? err : "");
            code = NB_EXIT_FAIL;
        } else {
            printf("plot: %s\n", a->plot);
        }
    }
    free(t.k), free(t.x);
    return code;
}

/* Flags of descend itself; the schedule's are merged in after them. */
static const struct option own_opts[] = {
    {"fn", required_argument, 0, 'f'},          {"start", required_argument, 0, 's'},
    {"print-every", required_argument, 0, 'p'}, {"plot", required_argument, 0, 'o'},
    {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};

static int parse_opt(int c, const char *v, descend_args *a, int *epochs_set)
{
    switch (c) {
    case 'f':
        if ((a->fn = nb_fn2d_find(v))) return 1;
        nb_cli_usage_error("descend", "--fn: unknown function '%s' (%s)", v, nb_fn2d_names());
        return 0;
    case 's': return a->start_set = 1, parse_start(v, a->start);
    case 'p': return nb_arg_long("descend", "--print-every", v, 1, 1000000000L, &a->print_every);
    case 'o': return a->plot = v, 1;
    }
    if (nb_sched_is_opt(c)) return nb_sched_parse("descend", c, v, &a->s, epochs_set);
    nb_cli_usage_error("descend", "internal: unknown option %d", c);
    return 0;
}

int nb_cmd_descend(int argc, char **argv)
{
    struct option opts[64];
    const struct option *const tables[] = {own_opts, nb_sched_options};
    if (!nb_cli_options(opts, 64, tables, 2))
        return nb_cli_usage_error("descend", "internal: too many options");
    descend_args a;
    memset(&a, 0, sizeof a);
    a.fn = nb_fn2d_find("quad");
    nb_schedule_default(&a.s);
    /* Sentinels: whatever is still negative after parsing gets descend's default. */
    a.s.lr = -1.0, a.s.max_iters = -1, a.s.tol_grad = -1.0;
    a.s.max_epochs = 0;
    int epochs_set = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(descend_help_head, stdout);
            fputs(nb_sched_help, stdout);
            fputs(descend_help_tail, stdout);
            return NB_EXIT_OK;
        }
        const char *arg = argv[optind - 1];
        if (c == '?') return nb_cli_usage_error("descend", "unknown option '%s' (see --help)", arg);
        if (c == ':') return nb_cli_usage_error("descend", "%s needs a value", arg);
        if (!parse_opt(c, optarg, &a, &epochs_set)) return NB_EXIT_USAGE;
    }
    if (optind < argc)
        return nb_cli_usage_error("descend", "unexpected argument '%s'", argv[optind]);
    if (!a.start_set) a.start[0] = a.fn->start[0], a.start[1] = a.fn->start[1];
    if (a.s.lr < 0) a.s.lr = a.fn->lr;
    if (a.s.tol_grad < 0) a.s.tol_grad = DEFAULT_TOL_GRAD;
    if (a.s.max_iters < 0) a.s.max_iters = epochs_set && a.s.max_epochs > 0 ? 0 : DEFAULT_ITERS;
    return run(&a);
}
