/*
 * plot_loss.c — training curves as SVG (see plot_loss.h).
 *
 * Plain SVG 1.1 with no scripts or external resources, so any browser
 * opens it. Non-finite values (a missing validation loss, a zero loss on
 * a log axis) are left out of their curve rather than written.
 *
 * The epoch axis is labelled with whole epochs only, at a round step
 * (1, 2, 5, 10, 20, …) chosen so that at most MAX_ETICKS labels fit: a
 * 4-epoch run reads 1 2 3 4, a 37-epoch run 5 10 … 35, never a repeated
 * or fractional epoch.
 */
#include "cli/plot_loss.h"

#include <limits.h>
#include <math.h>
#include <string.h>

enum { W = 720, PANEL_H = 300, LEFT = 70, RIGHT = 20, TOP = 50, GAP = 60, MAX_ETICKS = 8 };

/* Text with &, <, > and quotes escaped. */
static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef struct axis {
    double lo, hi; /* data range after the transform */
    int log;
} axis;

static double tf(const axis *a, double v) { return a->log ? log10(v) : v; }
static int usable(const axis *a, double v) { return isfinite(v) && (!a->log || v > 0); }

/* Extend [lo, hi] over the usable values of v (n). */
static void extend(axis *a, const double *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        if (!usable(a, v[i])) continue;
        double t = tf(a, v[i]);
        if (t < a->lo) a->lo = t;
        if (t > a->hi) a->hi = t;
    }
}

static void finish(axis *a)
{
    if (!(a->hi > a->lo)) { /* one value, or none: give it some room */
        double c = isfinite(a->lo) ? a->lo : 0.0;
        a->lo = c - 0.5, a->hi = c + 0.5;
    }
}

/* One panel: frame, horizontal grid with labels, and the curves. */
static void panel(FILE *f, int y0, const char *label, const axis *ax, double e_lo, double e_hi,
                  const nb_curves *c, const double *const *series, const char *const *cls,
                  const char *const *color, int ns)
{
    const int pw = W - LEFT - RIGHT, ph = PANEL_H;
    fprintf(f, "<g class=\"panel\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#444\"/>\n", LEFT, y0, pw, ph);
    for (int i = 0; i <= 4; i++) {
        double t = ax->lo + (ax->hi - ax->lo) * i / 4.0;
        double y = y0 + ph - ph * (t - ax->lo) / (ax->hi - ax->lo);
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#ddd\"/>", LEFT, y,
                LEFT + pw, y);
        fprintf(f, "<text x=\"%d\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n",
                LEFT - 6, y + 4, ax->log ? pow(10.0, t) : t);
    }
    fprintf(f, "<text x=\"14\" y=\"%d\" font-size=\"13\" transform=\"rotate(-90 14 %d)\" "
               "text-anchor=\"middle\">", y0 + ph / 2, y0 + ph / 2);
    xml_text(f, label);
    fputs("</text>\n", f);
    for (int s = 0; s < ns; s++) {
        fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"",
                cls[s], color[s]);
        for (size_t i = 0; i < c->n; i++) {
            if (!usable(ax, series[s][i])) continue;
            double x = LEFT + pw * ((double)c->epoch[i] - e_lo) / (e_hi - e_lo);
            double y = y0 + ph - ph * (tf(ax, series[s][i]) - ax->lo) / (ax->hi - ax->lo);
            fprintf(f, "%.2f,%.2f ", x, y);
        }
        fputs("\" data-epoch=\"", f);
        for (size_t i = 0; i < c->n; i++)
            if (usable(ax, series[s][i])) fprintf(f, "%ld ", c->epoch[i]);
        fputs("\" data-value=\"", f);
        for (size_t i = 0; i < c->n; i++)
            if (usable(ax, series[s][i])) fprintf(f, "%.9g ", series[s][i]);
        fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
}

/* The smallest round step (1, 2 or 5 × 10^k epochs) that puts at most
 * MAX_ETICKS whole-epoch ticks on a span of span epochs. */
static long epoch_step(long span)
{
    for (long mag = 1;; mag *= 10) {
        static const long m[] = {1, 2, 5};
        for (int i = 0; i < 3; i++)
            if (span / (m[i] * mag) + 1 <= MAX_ETICKS) return m[i] * mag;
        if (mag > LONG_MAX / 100) return mag * 10; /* ≥ span: one or two ticks */
    }
}

/* Tick marks and labels at the multiples of the step from the first to the
 * last recorded epoch, placed on the x scale [e_lo, e_hi]. */
static void epoch_ticks(FILE *f, const nb_curves *c, double e_lo, double e_hi, int y_axis)
{
    if (c->n == 0) return;
    long first = c->epoch[0], last = c->epoch[c->n - 1];
    long step = epoch_step(last - first);
    /* The first multiple of step at or after the first epoch (epochs ≥ 0). */
    long t = first % step == 0 ? first : first + (step - first % step);
    fputs("<g class=\"eticks\">", f);
    for (; t <= last; t += step) {
        double x = LEFT + (W - LEFT - RIGHT) * ((double)t - e_lo) / (e_hi - e_lo);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>", x,
                y_axis, x, y_axis + 4);
        fprintf(f, "<text class=\"etick\" x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                   "text-anchor=\"middle\">%ld</text>", x, y_axis + 16, t);
        if (t > LONG_MAX - step) break;
    }
    fputs("</g>\n", f);
}

const char *nb_curves_write(FILE *f, const nb_curves *c)
{
    axis loss = {INFINITY, -INFINITY, c->log_scale}, acc = {INFINITY, -INFINITY, 0};
    extend(&loss, c->loss, c->n);
    extend(&loss, c->val, c->n);
    if (!(loss.hi >= loss.lo)) return "no finite loss to plot";
    extend(&acc, c->acc, c->n);
    int has_acc = acc.hi >= acc.lo;
    finish(&loss);
    acc.lo = 0.0, acc.hi = 1.0; /* accuracy always on [0, 1] */
    double e_lo = c->n ? (double)c->epoch[0] : 0, e_hi = c->n ? (double)c->epoch[c->n - 1] : 1;
    if (!(e_hi > e_lo)) e_hi = e_lo + 1;
    int h = TOP + PANEL_H + (has_acc ? GAP + PANEL_H : 0) + 64;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
               "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
            W, h, W, h);
    fputs("<title>", f);
    xml_text(f, c->title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text class=\"title\" "
          "x=\"70\" y=\"28\" font-size=\"15\">", f);
    xml_text(f, c->title);
    fputs("</text>\n", f);
    const double *ls[] = {c->loss, c->val};
    const char *lc[] = {"train", "val"}, *lcol[] = {"#1f77b4", "#d62728"};
    panel(f, TOP, c->log_scale ? "loss (log scale)" : "loss", &loss, e_lo, e_hi, c, ls, lc, lcol,
          c->val ? 2 : 1);
    int y_acc = TOP + PANEL_H + GAP;
    if (has_acc) {
        const double *as[] = {c->acc};
        const char *ac[] = {"acc"}, *acol[] = {"#2ca02c"};
        panel(f, y_acc, "validation accuracy", &acc, e_lo, e_hi, c, as, ac, acol, 1);
    }
    int y_axis = (has_acc ? y_acc : TOP) + PANEL_H;
    epoch_ticks(f, c, e_lo, e_hi, y_axis);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">epoch</text>\n",
            LEFT + (W - LEFT - RIGHT) / 2, y_axis + 32);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#1f77b4\">— training loss</text>",
            LEFT, h - 12);
    if (c->val)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#d62728\">— validation loss"
                   "</text>", LEFT + 160, h - 12);
    if (has_acc)
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#2ca02c\">— validation "
                   "accuracy</text>", LEFT + 340, h - 12);
    fputs("\n</svg>\n", f);
    return NULL;
}
