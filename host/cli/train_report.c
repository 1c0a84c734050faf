/*
 * train_report.c — per-epoch lines, the terminal progress bar, the JSON
 * log and the history for --plot (see train_report.h).
 *
 * The bar is redrawn in place with a carriage return and replaced by the
 * epoch's line when the epoch ends, so a terminal shows one line per
 * epoch; when stdout is not a terminal there is no bar at all, only the
 * plain lines.
 */
#include "cli/train_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/plot_loss.h"

/* JSON number or null. */
static void json_num(FILE *f, const char *key, double v, int last)
{
    if (isfinite(v))
        fprintf(f, "\"%s\":%.9g%s", key, v, last ? "" : ",");
    else
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

void nb_report_clear_bar(nb_report *r)
{
    if (!r->bar_drawn) return;
    printf("\r\033[K"); /* back to column 0, erase the line */
    r->bar_drawn = 0;
}

static void remember(nb_report *r, const nb_epoch_stats *s)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        long *e = realloc(r->epoch, cap * sizeof *e);
        if (e) r->epoch = e;
        double *l = realloc(r->loss, cap * sizeof *l);
        if (l) r->loss = l;
        double *v = realloc(r->val, cap * sizeof *v);
        if (v) r->val = v;
        double *a = realloc(r->acc, cap * sizeof *a);
        if (a) r->acc = a;
        if (!e || !l || !v || !a) return; /* the plot just ends early */
        r->cap = cap;
    }
    r->epoch[r->n] = s->epoch, r->loss[r->n] = s->loss;
    r->val[r->n] = s->val_loss, r->acc[r->n] = s->val_acc;
    r->n++;
}

int nb_report_epoch(void *user, const nb_epoch_stats *s)
{
    nb_report *r = user;
    r->last_loss = s->loss;
    if (r->keep_history) remember(r, s);
    if (r->log) {
        fprintf(r->log, "{\"epoch\":%ld,", s->epoch);
        json_num(r->log, "loss", s->loss, 0);
        json_num(r->log, "val_loss", s->val_loss, 0);
        json_num(r->log, "val_acc", s->val_acc, 0);
        json_num(r->log, "grad_norm", s->grad_norm, 0);
        json_num(r->log, "lr", s->lr, 0);
        json_num(r->log, "seconds", s->seconds, 1);
        fputs("}\n", r->log);
    }
    if (s->epoch % r->print_every != 0) return 0;
    nb_report_clear_bar(r);
    printf("epoch %5ld  loss %.6g", s->epoch, s->loss);
    if (!isnan(s->val_loss)) printf("  val_loss %.6g", s->val_loss);
    if (r->classify && !isnan(s->val_acc)) printf("  val_acc %6.2f%%", 100.0 * s->val_acc);
    if (!isnan(s->grad_norm)) printf("  ‖∇Φ‖ %.3g", s->grad_norm);
    if (s->iters > 0) printf("  lr %.3g", s->lr);
    if (s->trials > 0) printf(" (%d trial%s)", s->trials, s->trials == 1 ? "" : "s");
    printf("  %.2fs\n", s->seconds);
    fflush(stdout);
    return 0;
}

void nb_report_batch(void *user, const nb_batch_progress *p)
{
    nb_report *r = user;
    if (!r->bar) return;
    enum { WIDTH = 24 };
    int done = p->batches ? (int)(WIDTH * p->batch / p->batches) : 0;
    double rows_done = (double)p->epoch * (double)r->rows + (double)p->rows;
    double rate = p->seconds > 0 ? rows_done / p->seconds : 0;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < done ? '#' : '.';
    bar[WIDTH] = '\0';
    printf("\repoch %5ld [%s] %ld/%ld  %.0f samples/s", p->epoch + 1, bar, p->batch, p->batches, rate);
    if (p->epoch > 0) printf("  loss %.4g", r->last_loss);
    if (r->max_epochs > 0 && rate > 0) {
        double left = ((double)r->max_epochs * (double)r->rows - rows_done) / rate;
        printf("  ETA %.0fs", left > 0 ? left : 0);
    }
    printf("\033[K"); /* erase whatever a longer previous bar left */
    fflush(stdout);
    r->bar_drawn = 1;
}

void nb_report_arch(char *buf, size_t n, const nb_model *m)
{
    size_t len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (len < n) len += (size_t)snprintf(buf + len, n - len, __VA_ARGS__);                     \
    } while (0)
    if (n == 0) return;
    buf[0] = '\0';
    const int L = nb_model_layers(m);
    for (int i = 0; i <= L; i++) PUT("%d%s", nb_model_width(m, i), i < L ? "-" : " ");
    /* The softmax that xent implies is not repeated; one activation shared
     * by every layer is named once. */
    int shown = L;
    if (nb_model_loss(m) == NB_LOSS_XENT && L > 1 && nb_model_act(m, L - 1) == NB_ACT_SOFTMAX)
        shown = L - 1;
    int same = 1;
    for (int l = 1; l < shown; l++) same &= nb_model_act(m, l) == nb_model_act(m, 0);
    for (int l = 0; l < (same ? 1 : shown); l++)
        PUT("%s%s", l ? "," : "", nb_act_name(nb_model_act(m, l)));
    PUT("/%s", nb_loss_name(nb_model_loss(m)));
#undef PUT
}

void nb_report_title(char *buf, size_t n, const nb_model *m, const char *data)
{
    char arch[512];
    nb_report_arch(arch, sizeof arch, m);
    const char *base = data ? strrchr(data, '/') : NULL;
    snprintf(buf, n, "%s on %s", arch, !data ? "digits" : strcmp(data, "-") == 0 ? "standard input"
                                                       : base ? base + 1 : data);
}

int nb_report_plot(const nb_report *r, const char *path, int log_scale, const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "nabla train: --plot: cannot open '%s' for writing\n", path);
        return -1;
    }
    nb_curves c = {r->n, r->epoch, r->loss, r->val, r->classify ? r->acc : NULL, log_scale, title};
    const char *why = nb_curves_write(f, &c);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (why || bad) {
        fprintf(stderr, "nabla train: --plot: %s\n", why ? why : "write failed");
        return -1;
    }
    return 0;
}

void nb_report_free(nb_report *r)
{
    free(r->epoch), free(r->loss), free(r->val), free(r->acc);
    r->epoch = NULL, r->loss = r->val = r->acc = NULL;
    r->n = r->cap = 0;
}
