/*
 * cmd_gradcheck.c — `nabla gradcheck`: check backpropagation on the chosen
 * device against double-precision finite differences (nb_gradcheck), for
 * a random network or a saved model (or checkpoint), on random data or on
 * a CSV file, and print the per-layer errors, the directional checks, the
 * tolerances and the verdict.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/data_args.h"
#include "cli/commands.h"
#include "cli/profile.h"
#include "nabla.h"
#include "rng.h"

enum { MAX_LAYERS = 64 };

/* The random data's own stream (rng.h names 1…4; this one is for the CLI). */
#define GC_CLI_STREAM 0x67636c69ull /* "gcli" */

static const char gradcheck_help[] =
    "usage: nabla gradcheck [options]\n"
    "\n"
    "Check backpropagation: the loss gradient computed on the device in float32\n"
    "(as training computes it) against central finite differences of the loss\n"
    "computed in double precision on the host, parameter by parameter and along\n"
    "random directions. Prints per layer the largest absolute and relative error,\n"
    "the directional checks, the tolerances, and PASS or FAIL. With no options it\n"
    "checks a random 4-7-3 tanh network with the MSE loss on 16 random rows.\n"
    "\n"
    "Network and data\n"
    "  --model FILE        check this saved model or training checkpoint (nabla\n"
    "                      train --save) as it is: its architecture, parameters\n"
    "                      and standardisation, on --data or random rows; not\n"
    "                      with --layers, --act, --loss or --standardize\n"
    "  --layers W0,W1,...  widths from input to output (default 4,7,3; with\n"
    "                      --data: inputs,7,outputs)\n"
    "  --act A[,A...]      sigmoid|tanh|relu|identity, one for all layers or one\n"
    "                      per layer (default: tanh)\n"
    "  --loss mse|xent     mean squared error (default) or softmax cross-entropy;\n"
    "                      xent makes the output layer a softmax\n"
    "  --rows N            random rows (default 16): features uniform in [-1, 1),\n"
    "                      MSE targets uniform in [-1, 1), xent labels uniform\n"
    "  --seed S            initialisation, data, checked subset and directions\n"
    "                      (default 1). Biases are drawn uniform in [-0.5, 0.5)\n"
    "                      rather than left at their initial 0, a special point\n"
    "                      (a --model keeps its own).\n"
    "%s"
    "                      (gradcheck: with --data, those rows instead of random)\n"
    "  --standardize       standardise features with the model, as train does\n"
    "\n"
    "Check\n"
    "  --max-params N      above N parameters, check a random subset of about N\n"
    "                      (every bias, and weights of every layer); default 2000,\n"
    "                      0: all\n"
    "  --directions K      random unit directions, 0 to 64 (default 4)\n"
    "  --step H            finite-difference step (default 1e-6)\n"
    "  --atol X            per parameter, |g - g_fd| <= atol*G + rtol*|g_fd| with\n"
    "  --rtol X            G = max(1, largest |g_fd|) (defaults 1e-5, 1e-3)\n"
    "  --device D          auto (default; as 'nabla devices' says), cpu, opencl,\n"
    "                      or opencl:P.D from 'nabla devices'; also set by\n"
    "                      NABLA_DEVICE\n"
    "\n"
    "Testing aid\n"
    "  --perturb L,EPS     multiply the backprop gradient of layer L's weights by\n"
    "                      1+EPS before comparing, to see the check fail (it must,\n"
    "                      for EPS well above rtol)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 PASS, 1 FAIL (or the check could not run), 2 bad arguments\n"
    "or data, 3 the requested device failed.\n";

typedef struct gc_args {
    nb_data_args data;
    const char *device;
    const char *model; /* --model FILE, or NULL for a random network */
    int loss_set;      /* --loss was given */
    int standardize;
    int widths[MAX_LAYERS + 1], n_widths;
    nb_act acts[MAX_LAYERS];
    int n_acts;
    nb_loss loss;
    long rows;
    int rows_set;
    uint64_t seed;
    nb_gradcheck_options opt;
} gc_args;

static const struct option long_opts[] = {
    {"layers", required_argument, 0, 'L'},     {"act", required_argument, 0, 'a'},
    {"loss", required_argument, 0, 'l'},       {"rows", required_argument, 0, 'n'},
    {"seed", required_argument, 0, 's'},       {"standardize", no_argument, 0, 'z'},
    {"max-params", required_argument, 0, 'm'}, {"directions", required_argument, 0, 'u'},
    {"step", required_argument, 0, 't'},       {"atol", required_argument, 0, 'A'},
    {"rtol", required_argument, 0, 'r'},       {"device", required_argument, 0, 'D'},
    {"perturb", required_argument, 0, 'p'},    {"help", no_argument, 0, 'h'},
    {"model", required_argument, 0, 'M'},      {0, 0, 0, 0}};

/* "L,EPS" for --perturb: a layer (checked against the network later) and a factor. */
static int parse_perturb(const char *v, gc_args *a)
{
    const char *comma = strchr(v, ',');
    char layer[32];
    long l;
    if (!comma || (size_t)(comma - v) >= sizeof layer) {
        nb_cli_usage_error("gradcheck", "--perturb: '%s' is not L,EPS", v);
        return 0;
    }
    memcpy(layer, v, (size_t)(comma - v));
    layer[comma - v] = '\0';
    if (!nb_arg_long("gradcheck", "--perturb", layer, 1, MAX_LAYERS, &l)) return 0;
    a->opt.perturb_layer = (int)l;
    return nb_arg_double("gradcheck", "--perturb", comma + 1, -1e6, 1e6, 0, 0, &a->opt.perturb);
}

/* Parse one option; returns 1 to go on, 0 after printing an error. */
static int parse_opt(int c, const char *v, gc_args *a)
{
    const char *cmd = "gradcheck";
    long n;
    if (nb_data_is_opt(c)) return nb_data_parse(cmd, c, v, &a->data);
    switch (c) {
    case 'L': return nb_arg_widths(cmd, "--layers", v, a->widths, MAX_LAYERS + 1, &a->n_widths);
    case 'a': return nb_arg_acts(cmd, "--act", v, a->acts, MAX_LAYERS, &a->n_acts);
    case 'l':
        a->loss_set = 1;
        if (nb_loss_parse(v, &a->loss) == NB_OK) return 1;
        nb_cli_usage_error(cmd, "--loss: unknown loss '%s' (mse, xent)", v);
        return 0;
    case 'n': a->rows_set = 1; return nb_arg_long(cmd, "--rows", v, 1, 1 << 24, &a->rows);
    case 's': return nb_arg_u64(cmd, "--seed", v, &a->seed);
    case 'z': a->standardize = 1; return 1;
    case 'm':
        if (!nb_arg_long(cmd, "--max-params", v, 0, 1L << 40, &n)) return 0;
        a->opt.max_params = (size_t)n;
        return 1;
    case 'u':
        if (!nb_arg_long(cmd, "--directions", v, 0, NB_GRADCHECK_MAX_DIRS, &n)) return 0;
        a->opt.directions = (int)n;
        return 1;
    case 't': return nb_arg_double(cmd, "--step", v, 0.0, 1.0, 1, 0, &a->opt.step);
    case 'A': return nb_arg_double(cmd, "--atol", v, 0.0, 1e6, 0, 0, &a->opt.atol);
    case 'r': return nb_arg_double(cmd, "--rtol", v, 0.0, 1e6, 0, 0, &a->opt.rtol);
    case 'D': a->device = v; return 1;
    case 'p': return parse_perturb(v, a);
    case 'M': a->model = v; return 1;
    }
    return 0;
}

/* Widths and activations from the flags (and the data's ends); 0 after an error. */
static int build_arch(gc_args *a, const nb_dataset *d)
{
    const char *cmd = "gradcheck";
    if (a->n_widths == 0) {
        a->widths[0] = d ? nb_dataset_inputs(d) : 4;
        a->widths[1] = 7;
        a->widths[2] = d ? nb_dataset_outputs(d) : 3;
        a->n_widths = 3;
    } else if (d && (a->widths[0] != nb_dataset_inputs(d) ||
                     a->widths[a->n_widths - 1] != nb_dataset_outputs(d))) {
        nb_cli_usage_error(cmd, "--layers: %d,...,%d does not match the data's %d inputs and %d "
                                "outputs", a->widths[0], a->widths[a->n_widths - 1],
                           nb_dataset_inputs(d), nb_dataset_outputs(d));
        return 0;
    }
    const int L = a->n_widths - 1;
    if (a->n_acts == 0) a->acts[0] = NB_ACT_TANH, a->n_acts = 1;
    if (a->n_acts != 1 && a->n_acts != L) {
        nb_cli_usage_error(cmd, "--act: give one activation or %d (one per layer), not %d", L,
                           a->n_acts);
        return 0;
    }
    for (int l = 0; l < L; l++) {
        a->acts[l] = a->acts[a->n_acts == 1 ? 0 : l];
        if (a->acts[l] == NB_ACT_SOFTMAX) {
            nb_cli_usage_error(cmd, "--act: softmax comes with --loss xent, not --act");
            return 0;
        }
    }
    if (a->loss == NB_LOSS_XENT) a->acts[L - 1] = NB_ACT_SOFTMAX;
    if (a->opt.perturb_layer > L) {
        nb_cli_usage_error(cmd, "--perturb: layer %d, but the network has %d", a->opt.perturb_layer,
                           L);
        return 0;
    }
    return 1;
}

/* --model: take the file's architecture into a (for the random data and
 * the report); 0 after printing why the other flags do not fit it. */
static int adopt_model(gc_args *a, const nb_model *m)
{
    const int L = nb_model_layers(m);
    if (L < 1 || L > MAX_LAYERS) {
        nb_cli_usage_error("gradcheck", "--model: %s has %d layers; at most %d are checked",
                           a->model, L, MAX_LAYERS);
        return 0;
    }
    a->n_widths = L + 1;
    a->n_acts = L;
    for (int i = 0; i <= L; i++) a->widths[i] = nb_model_width(m, i);
    for (int l = 0; l < L; l++) a->acts[l] = nb_model_act(m, l);
    a->loss = nb_model_loss(m);
    if (a->opt.perturb_layer > L) {
        nb_cli_usage_error("gradcheck", "--perturb: layer %d, but the model has %d",
                           a->opt.perturb_layer, L);
        return 0;
    }
    return 1;
}

/* Random rows for the network a describes: features and MSE targets
 * uniform in [-1, 1), xent labels uniform over the classes. */
static nb_status random_data(const gc_args *a, nb_dataset **out)
{
    const size_t rows = (size_t)a->rows;
    const int in = a->widths[0], K = a->widths[a->n_widths - 1];
    float *x = malloc(rows * (size_t)in * sizeof *x), *y = malloc(rows * (size_t)K * sizeof *y);
    int32_t *lab = malloc(rows * sizeof *lab);
    nb_status st = NB_ERR_NOMEM;
    nb_rng r;
    nb_rng_seed(&r, a->seed, GC_CLI_STREAM);
    if (x && y && lab) {
        for (size_t i = 0; i < rows * (size_t)in; i++) x[i] = 2.0f * nb_rng_uniform(&r) - 1.0f;
        if (a->loss == NB_LOSS_XENT) {
            for (size_t i = 0; i < rows; i++) lab[i] = (int32_t)nb_rng_below(&r, (uint64_t)K);
            st = nb_dataset_from_labels(rows, in, K, x, lab, out);
        } else {
            for (size_t i = 0; i < rows * (size_t)K; i++) y[i] = 2.0f * nb_rng_uniform(&r) - 1.0f;
            st = nb_dataset_from_arrays(rows, in, K, x, y, out);
        }
    }
    free(x);
    free(y);
    free(lab);
    return st;
}

/* Draw the biases uniform in [-0.5, 0.5) from the seed (the weights keep
 * their initialisation), so bias gradients are not checked at 0 only. */
static nb_status randomize_biases(nb_model *m, uint64_t seed)
{
    size_t n = nb_model_param_count(m), o = 0;
    float *th = malloc(n * sizeof *th);
    if (!th) return NB_ERR_NOMEM;
    nb_status st = nb_model_get_params(m, th, n);
    nb_rng r;
    nb_rng_seed(&r, seed, GC_CLI_STREAM + 1);
    for (int l = 0; l < nb_model_layers(m); l++) {
        o += (size_t)nb_model_width(m, l) * (size_t)nb_model_width(m, l + 1);
        for (int j = 0; j < nb_model_width(m, l + 1); j++) th[o++] = nb_rng_uniform(&r) - 0.5f;
    }
    if (st == NB_OK) st = nb_model_set_params(m, th, n);
    free(th);
    return st;
}

static void print_stat(int layer, const char *block, const nb_gradcheck_stat *s)
{
    printf("%5d  %-7s  %6zu/%-6zu %6zu  %11.3g  %11.3g  %9.3g", layer, block, s->checked, s->count,
           s->kinks, s->max_abs, s->max_rel, s->max_ratio);
    if (s->failed) printf("  %zu FAIL", s->failed);
    if (s->kinks) printf("  (kink err %.2g, not judged)", s->kink_max_abs);
    putchar('\n');
}

static void print_report(const gc_args *a, const nb_dataset *d, const nb_backend *be,
                         const nb_gradcheck_report *r)
{
    printf("nabla gradcheck: ");
    for (int i = 0; i < a->n_widths; i++)
        printf("%d%s", a->widths[i], i + 1 < a->n_widths ? "-" : "");
    printf(" ");
    for (int l = 0; l + 1 < a->n_widths; l++)
        printf("%s%s", nb_act_name(a->acts[l]), l + 2 < a->n_widths ? "," : "");
    printf("/%s", nb_loss_name(a->loss));
    if (a->model) printf(" from %s", a->model);
    printf(", %zu %s rows, %zu parameters, seed %llu, device %s\n", nb_dataset_rows(d),
           a->data.data ? nb_data_name(&a->data) : "random", r->params,
           (unsigned long long)a->seed, nb_backend_name(be));
    printf("loss: device (float32) %.9g, reference (double) %.9g; |grad| %.4g\n", r->loss,
           r->loss_ref, r->grad_norm);
    printf("bound per parameter: |g - g_fd| <= atol*G + rtol*|g_fd| + e_fd with atol %g, rtol %g,"
           " G %.3g, e_fd %.2g (step %g)\n", r->atol, r->rtol, r->scale, r->fd_err, r->step);
    printf("relative error: |g - g_fd| / max(|g_fd|, %.3g); informative: |g_fd| > %.3g\n",
           r->rel_floor * r->scale, r->informative_min);
    if (a->opt.perturb_layer)
        printf("testing aid: layer %d weight gradient multiplied by 1%+g\n", a->opt.perturb_layer,
               a->opt.perturb);
    printf("layer  block    checked/total  kinks  max abs err  max rel err  err/bound\n");
    for (int l = 0; l < r->n_layers; l++) {
        print_stat(l + 1, "weights", &r->layers[l].w);
        print_stat(l + 1, "biases", &r->layers[l].b);
    }
    if (r->n_dirs) printf("direction  backprop g.u      finite diff.     |diff|     bound\n");
    for (int k = 0; k < r->n_dirs; k++) {
        const nb_gradcheck_dir *dr = &r->dirs[k];
        printf("%9d  %15.9g  %15.9g  %9.2g  %8.2g  %s\n", k + 1, dr->backprop, dr->fd,
               fabs(dr->backprop - dr->fd), dr->bound,
               dr->kink ? "relu kink, not judged" : dr->pass ? "ok" : "FAIL");
    }
    printf("%s: %s\n", r->pass ? "PASS" : "FAIL", r->why);
}

/* The library's message; this file's own allocations fail without one. */
static int fail(nb_status s)
{
    if (s == NB_ERR_NOMEM)
        fputs("nabla gradcheck: out of memory\n", stderr);
    else
        fprintf(stderr, "nabla gradcheck: %s\n", nb_cli_error());
    return nb_cli_exit_for(s);
}

static int run(gc_args *a)
{
    nb_dataset *d = NULL;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    float *mean = NULL, *stdv = NULL;
    nb_status st = NB_OK;
    int code;
    if (a->model) { /* the architecture, and so the data's shape, come from the file */
        if ((code = nb_cli_open_backend("gradcheck", a->device, &be)) != 0) goto done;
        if ((st = nb_model_load(be, a->model, &m)) != NB_OK) {
            fprintf(stderr, "nabla gradcheck: --model: %s\n", nb_cli_error());
            code = nb_cli_exit_for(st);
            goto done;
        }
        code = NB_EXIT_USAGE;
        if (!adopt_model(a, m)) goto done;
    }
    if (a->data.data) {
        nb_csv_options csv = a->data.csv;
        if (a->n_widths > 0 && !csv.regression && csv.targets == 0)
            csv.classes = a->widths[a->n_widths - 1];
        if ((code = nb_data_load("gradcheck", &a->data, &csv, &d)) != 0) goto done;
    }
    const int in = a->widths[0], out = a->n_widths ? a->widths[a->n_widths - 1] : 0;
    if (a->model && d && (nb_dataset_inputs(d) != in || nb_dataset_outputs(d) != out)) {
        nb_cli_usage_error("gradcheck", "--model: %s takes %d inputs and gives %d outputs; %s "
                                        "has %d and %d", a->model, in, out, nb_data_name(&a->data),
                           nb_dataset_inputs(d), nb_dataset_outputs(d));
        code = NB_EXIT_USAGE;
        goto done;
    }
    if (!a->model && !build_arch(a, d)) {
        code = NB_EXIT_USAGE;
        goto done;
    }
    if (!d && (st = random_data(a, &d)) != NB_OK) goto fail_st;
    if (!be && (code = nb_cli_open_backend("gradcheck", a->device, &be)) != 0) goto done;
    if (!m) { /* a random network; a loaded model is checked as it was saved */
        st = nb_model_create(be, a->n_widths - 1, a->widths, a->acts, a->loss, a->seed, &m);
        if (st == NB_OK) st = randomize_biases(m, a->seed);
        if (st != NB_OK) goto fail_st;
    }
    if (a->standardize) {
        size_t n = (size_t)nb_dataset_inputs(d);
        mean = malloc(n * sizeof *mean);
        stdv = malloc(n * sizeof *stdv);
        st = mean && stdv ? nb_dataset_feature_stats(d, mean, stdv) : NB_ERR_NOMEM;
        if (st == NB_OK) st = nb_model_set_standardization(m, mean, stdv);
        if (st != NB_OK) goto fail_st;
    }
    a->opt.seed = a->seed;
    nb_gradcheck_report r;
    if ((st = nb_gradcheck(m, d, &a->opt, &r)) != NB_OK) goto fail_st;
    print_report(a, d, be, &r);
    code = r.pass ? NB_EXIT_OK : NB_EXIT_FAIL;
    goto done;
fail_st:
    code = fail(st);
done:
    free(mean);
    free(stdv);
    nb_model_free(m);
    nb_backend_free(be);
    nb_dataset_free(d);
    return code;
}

/* The flags into a; 0 to go on, -1 after --help, else the exit status. */
static int parse_args(int argc, char **argv, gc_args *a)
{
    struct option opts[64];
    const struct option *const tables[] = {long_opts, nb_data_options};
    if (!nb_cli_options(opts, 64, tables, 2))
        return nb_cli_usage_error("gradcheck", "internal: too many options");
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') return printf(gradcheck_help, nb_data_help), -1;
        if (c == '?')
            return nb_cli_usage_error("gradcheck", "unknown option '%s' (see --help)",
                                      argv[optind - 1]);
        if (c == ':') return nb_cli_usage_error("gradcheck", "%s needs a value", argv[optind - 1]);
        if (!parse_opt(c, optarg, a)) return NB_EXIT_USAGE;
    }
    if (optind < argc)
        return nb_cli_usage_error("gradcheck", "unexpected argument '%s'", argv[optind]);
    if (a->data.data && a->rows_set)
        return nb_cli_usage_error("gradcheck", "--rows is for random data; --data uses every row");
    /* A model file brings its own architecture and standardisation. */
    const char *fixed = a->n_widths ? "--layers" : a->n_acts ? "--act" : a->loss_set ? "--loss" : NULL;
    if (a->model && fixed)
        return nb_cli_usage_error("gradcheck", "%s and --model: the architecture comes from the "
                                               "model file %s; drop %s", fixed, a->model, fixed);
    if (a->model && a->standardize)
        return nb_cli_usage_error("gradcheck", "--standardize and --model: the model file %s "
                                               "keeps the standardisation it was saved with; "
                                               "drop --standardize", a->model);
    if (!nb_data_check("gradcheck", &a->data)) return NB_EXIT_USAGE;
    const nb_csv_options *csv = &a->data.csv;
    if ((csv->targets > 0 || csv->regression) && a->loss == NB_LOSS_XENT)
        return nb_cli_usage_error("gradcheck", "--loss xent needs class labels, not "
                                               "--regression/--targets");
    return 0;
}

int nb_cmd_gradcheck(int argc, char **argv)
{
    gc_args a;
    memset(&a, 0, sizeof a);
    nb_data_args_init(&a.data);
    nb_gradcheck_options_default(&a.opt);
    a.device = getenv("NABLA_DEVICE");
    if (a.device && !*a.device) a.device = NULL; /* empty means unset: auto */
    a.loss = NB_LOSS_MSE;
    a.rows = 16;
    a.seed = 1;
    int code = parse_args(argc, argv, &a);
    if (code == 0) code = run(&a);
    nb_data_args_free(&a.data);
    return code < 0 ? NB_EXIT_OK : code;
}
