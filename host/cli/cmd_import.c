/*
 * cmd_import.c — `nabla import`: a nabla model file from plain weights in
 * a safetensors file (as Python's safetensors writes them), so that
 * `nabla eval` and `nabla predict` can use weights trained elsewhere.
 * The architecture comes from the tensors' shapes (nb_model_import); the
 * activations, which plain weights do not record, from --act.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/profile.h"
#include "nabla.h"

enum { MAX_LAYERS = 64 };

typedef struct import_args {
    const char *weights, *out, *device;
    nb_act acts[MAX_LAYERS];
    int n_acts;
    nb_loss loss;
} import_args;

static const char import_help[] =
    "usage: nabla import WEIGHTS.safetensors --act A[,A...] --out MODEL.safetensors\n"
    "                    [--loss mse|xent] [--device D]\n"
    "\n"
    "Make a nabla model from plain weights in a safetensors file, such as\n"
    "Python's safetensors.numpy.save_file writes: float32 tensors\n"
    "layers.L.weight (out, in) and layers.L.bias (out) for L = 0, 1, ..., and\n"
    "optionally input.mean and input.std (in), the standardisation applied to\n"
    "every input. The layers' widths come from the shapes, which must chain;\n"
    "any other tensor is an error. The model file is what nabla eval --model\n"
    "and nabla predict --model read.\n"
    "\n"
    "  --act A[,A...]      sigmoid|tanh|relu|identity, one for all layers or one\n"
    "                      per layer (required: weights do not record them)\n"
    "  --loss mse|xent     mean squared error (default) or softmax cross-entropy;\n"
    "                      xent makes the output layer a softmax\n"
    "  --out FILE          where to write the model (required)\n"
    "  --device D          auto, cpu, opencl or opencl:P.D (default auto)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 imported, 1 failed, 2 bad arguments or weights file,\n"
    "3 device failure.\n";

/* 0 to go on, -1 after --help, or the exit status of a bad argument. */
static int parse(int argc, char **argv, import_args *a)
{
    static const struct option opts[] = {
        {"act", required_argument, 0, 'a'},    {"loss", required_argument, 0, 'l'},
        {"out", required_argument, 0, 'o'},    {"device", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(import_help, stdout); return -1;
        case 'a':
            if (!nb_arg_acts("import", "--act", optarg, a->acts, MAX_LAYERS, &a->n_acts))
                return NB_EXIT_USAGE;
            break;
        case 'l':
            if (nb_loss_parse(optarg, &a->loss) != NB_OK)
                return nb_cli_usage_error("import", "--loss: unknown loss '%s' (mse, xent)", optarg);
            break;
        case 'o': a->out = optarg; break;
        case 'D': a->device = optarg; break;
        case ':': return nb_cli_usage_error("import", "%s needs a value", argv[optind - 1]);
        default: return nb_cli_usage_error("import", "unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) a->weights = argv[optind++];
    if (optind < argc) return nb_cli_usage_error("import", "unexpected argument '%s'", argv[optind]);
    if (!a->weights) return nb_cli_usage_error("import", "the weights file is required (see --help)");
    if (a->n_acts == 0)
        return nb_cli_usage_error("import", "--act is required: weights do not record the "
                                            "activations");
    for (int i = 0; i < a->n_acts; i++)
        if (a->acts[i] == NB_ACT_SOFTMAX)
            return nb_cli_usage_error("import", "--act: softmax comes with --loss xent, not --act");
    if (!a->out) return nb_cli_usage_error("import", "--out is required");
    return 0;
}

/* "4-16-3 relu,softmax/xent": the model as the tool prints it. */
static void print_arch(const nb_model *m)
{
    int L = nb_model_layers(m);
    for (int l = 0; l <= L; l++) printf("%s%d", l ? "-" : "", nb_model_width(m, l));
    for (int l = 0; l < L; l++) printf("%s%s", l ? "," : " ", nb_act_name(nb_model_act(m, l)));
    printf("/%s", nb_loss_name(nb_model_loss(m)));
}

int nb_cmd_import(int argc, char **argv)
{
    import_args a = {.loss = NB_LOSS_MSE};
    a.device = getenv("NABLA_DEVICE");
    if (a.device && !*a.device) a.device = NULL;
    int code = parse(argc, argv, &a);
    if (code) return code < 0 ? NB_EXIT_OK : code;
    nb_backend *be = NULL;
    nb_model *m = NULL;
    if ((code = nb_cli_open_backend("import", a.device, &be)) != 0) return code;
    nb_status st = nb_model_import(be, a.weights, a.n_acts, a.acts, a.loss, &m);
    if (st != NB_OK) {
        /* The file's faults name the file; NB_ERR_ARG is --act not fitting
         * the layers the file holds. */
        fprintf(stderr, "nabla import: %s%s\n", st == NB_ERR_ARG ? "--act: " : "", nb_last_error());
        code = nb_cli_exit_for(st);
        goto done;
    }
    if ((st = nb_model_save(m, a.out)) != NB_OK) {
        fprintf(stderr, "nabla import: --out: %s\n", nb_last_error());
        code = nb_cli_exit_for(st);
        goto done;
    }
    printf("imported ");
    print_arch(m);
    printf(" from %s: %zu parameters%s; wrote %s\n", a.weights, nb_model_param_count(m),
           nb_model_feature_mean(m) ? " and input standardisation" : "", a.out);
done:
    nb_model_free(m);
    nb_backend_free(be);
    return code;
}
