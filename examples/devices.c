/*
 * devices.c — where does nabla run, and where does the time go? Lists the
 * OpenCL devices and the one "auto" picks, opens the device named on the
 * command line (default "auto"), trains a small regression there with the
 * profile on, and prints each op's calls, time and work.
 *
 *   devices [auto|cpu|opencl|opencl:P.D]
 *
 * Exits 0 when the run worked, 1 when it failed, 2 for bad arguments and
 * 3 when the device cannot be used.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nabla.h"

#define ROWS 512
#define INPUTS 8

static void list_devices(void)
{
    nb_device_info devs[16];
    int count = 0, pick = -1;
    nb_status st = nb_opencl_devices(devs, 16, &count, &pick);
    if (st != NB_OK) { /* a build or machine without OpenCL: the cpu is always there */
        printf("no OpenCL devices (%s); auto -> cpu\n", nb_last_error());
        return;
    }
    for (int i = 0; i < count && i < 16; i++)
        printf("opencl:%d.%d  %-5s %s (%s), %u compute units, %llu MiB\n", devs[i].platform,
               devs[i].device, devs[i].type, devs[i].name, devs[i].platform_name,
               devs[i].compute_units, (unsigned long long)(devs[i].global_mem >> 20));
    if (pick >= 0 && pick < count && pick < 16)
        printf("auto -> opencl:%d.%d\n", devs[pick].platform, devs[pick].device);
    else
        printf("auto -> cpu\n");
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: devices [auto|cpu|opencl|opencl:P.D]\n");
        return 2;
    }
    const char *device = argc == 2 ? argv[1] : "auto";
    static float x[ROWS * INPUTS], y[ROWS];
    const int widths[] = {INPUTS, 64, 64, 1};
    const nb_act acts[] = {NB_ACT_TANH, NB_ACT_TANH, NB_ACT_IDENTITY};
    nb_backend *be = NULL;
    nb_dataset *data = NULL;
    nb_model *model = NULL;
    nb_train_options opt;
    nb_result res;
    nb_op_profile prof[32];
    nb_status st;
    int code = 1;

    list_devices();
    /* A smooth target of all inputs, from a fixed formula (no RNG needed). */
    for (int r = 0; r < ROWS; r++) {
        double s = 0;
        for (int j = 0; j < INPUTS; j++) {
            x[r * INPUTS + j] = (float)sin(0.37 * r + 1.3 * j);
            s += x[r * INPUTS + j] * (j % 2 ? 0.5 : -0.25);
        }
        y[r] = (float)tanh(s);
    }
    if ((st = nb_backend_create(device, &be)) != NB_OK) {
        fprintf(stderr, "devices: %s: %s: %s\n", device, nb_status_str(st), nb_last_error());
        /* like the nabla tool: a name of the wrong form is bad input, any
         * other failure is the device's */
        return st == NB_ERR_ARG ? 2 : 3;
    }
    printf("training on %s\n", nb_backend_name(be));
    if (nb_backend_note(be)[0]) printf("note: %s\n", nb_backend_note(be));

    nb_train_options_default(&opt);
    opt.batch = 64;
    opt.schedule.optim = NB_OPT_ADAM;
    opt.schedule.lr = 1e-2;
    opt.schedule.max_epochs = 20;
    if ((st = nb_dataset_from_arrays(ROWS, INPUTS, 1, x, y, &data)) != NB_OK ||
        (st = nb_model_create(be, 3, widths, acts, NB_LOSS_MSE, 1, &model)) != NB_OK ||
        (st = nb_backend_profile_enable(be, 1)) != NB_OK ||
        (st = nb_train(model, data, NULL, &opt, &res)) != NB_OK) {
        fprintf(stderr, "devices: %s: %s\n", nb_status_str(st), nb_last_error());
        code = st == NB_ERR_BACKEND ? 3 : 1;
        goto done;
    }
    printf("%s: loss %.4g in %.3f s\n", res.why, res.loss, res.seconds);

    /* The profile: per op, as the backend measured it (device time on
     * OpenCL, wall time on the cpu). */
    int n = nb_backend_profile(be, prof, 32);
    double build_s;
    int cached;
    printf("%-12s %8s %10s %10s\n", "op", "calls", "ms", "GFLOP/s");
    for (int i = 0; i < n; i++)
        printf("%-12s %8llu %10.3f %10.2f\n", prof[i].op, (unsigned long long)prof[i].calls,
               1e3 * prof[i].seconds,
               prof[i].seconds > 0 ? prof[i].flops / prof[i].seconds * 1e-9 : 0.0);
    nb_backend_build_info(be, &build_s, &cached);
    int64_t launches = nb_backend_launches(be);
    if (launches >= 0) printf("kernel launches: %lld\n", (long long)launches);
    if (cached >= 0) printf("program: %s in %.3f s\n", cached ? "from the cache" : "compiled", build_s);
    /* Every step runs a GEMM: an empty profile would mean it measured nothing. */
    code = n > 0 && res.loss < 0.1 ? 0 : 1;
    if (code) fprintf(stderr, "devices: %d ops profiled, loss %.4g\n", n, res.loss);
done:
    nb_model_free(model);
    nb_dataset_free(data);
    nb_backend_free(be);
    return code;
}
