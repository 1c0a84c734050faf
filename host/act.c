/*
 * act.c — the table of activations (see act.h), and the names.
 */
#include "act.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }
static double sigmoid_dy(double y) { return y * (1.0 - y); } /* σ' = σ(1 − σ) */
static double tanh_dy(double y) { return 1.0 - y * y; }       /* tanh' = 1 − tanh² */
static double relu(double z) { return z <= 0.0 ? 0.0 : z; }   /* NaN passes through */
static double relu_dy(double y) { return y > 0.0 ? 1.0 : 0.0; } /* 0 at z = 0 by convention */
static double identity(double z) { return z; }
static double one(double y)
{
    (void)y;
    return 1.0;
}

const nb_act_info nb_acts[] = {
    [NB_ACT_SIGMOID] = {"sigmoid", sigmoid, sigmoid_dy, false, false},
    [NB_ACT_TANH] = {"tanh", tanh, tanh_dy, false, false},
    [NB_ACT_RELU] = {"relu", relu, relu_dy, false, true},
    [NB_ACT_IDENTITY] = {"identity", identity, one, false, false},
    [NB_ACT_SOFTMAX] = {"softmax", identity, one, true, false},
};
const int nb_act_count = (int)(sizeof nb_acts / sizeof *nb_acts);

void nb_act_names(char *buf, size_t n, const char *sep, bool rowwise)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int a = 0; a < nb_act_count && len < n; a++) {
        if (nb_acts[a].rowwise && !rowwise) continue;
        int w = snprintf(buf + len, n - len, "%s%s", len ? sep : "", nb_acts[a].name);
        len += w > 0 ? (size_t)w : 0;
    }
}

const char *nb_act_name(nb_act a)
{
    const nb_act_info *i = nb_act_get(a);
    return i ? i->name : "?";
}

nb_status nb_act_parse(const char *name, nb_act *out)
{
    for (int a = 0; name && a < nb_act_count; a++)
        if (strcmp(name, nb_acts[a].name) == 0) return *out = (nb_act)a, NB_OK;
    char names[256];
    nb_act_names(names, sizeof names, ", ", true);
    return NB_FAIL(NB_ERR_ARG, "nb_act_parse: unknown activation '%s' (%s)",
                   name ? name : "(null)", names);
}
