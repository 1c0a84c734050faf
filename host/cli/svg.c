/*
 * svg.c — the SVG picture of a 2-D descent (see svg.h for what the
 * document contains and how a test reads it back).
 *
 * Level sets come from marching squares on a GRID × GRID lattice over the
 * window. Every crossing point lies on a lattice edge, and each crossed
 * edge touches at most two segments (one per cell beside it), so the
 * segments form chains and cycles over edge ids; walking those turns the
 * many tiny segments into few long polylines, which keeps the file small.
 */
#include "cli/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    GRID = 200,      /* cells per side of the contour lattice                  */
    N_BELOW = 11,    /* contour levels below Φ(start) ...                      */
    MAX_ABOVE = 12,  /* ... and at most this many above it                     */
    MAX_DOTS = 500,  /* mark each iterate with a dot up to this many           */
    FIRST_ARROWS = 5 /* −∇Φ arrows at the first iterates, then every K-th      */
};

static const double PLOT_MAX = 720.0; /* longest side of the plot area      */
static const double ARROW = 36.0;     /* arrow length, SVG units            */
static const double MIN_WIDTH = 780.0; /* room for the heading lines       */
static const double LEFT = 72.0, RIGHT = 24.0, TOP = 84.0, BOTTOM = 64.0;

/* The window in data coordinates and its map to the canvas. */
typedef struct view {
    double xmin, xmax, ymin, ymax; /* data window                          */
    double s, ox, oy;              /* X = ox + s·x1,  Y = oy − s·x2         */
    double pw, ph;                 /* plot area size; its corner is LEFT,TOP */
} view;

static double map_x(const view *v, double x1) { return v->ox + v->s * x1; }
static double map_y(const view *v, double x2) { return v->oy - v->s * x2; }

/* Last line of defence: nothing non-finite reaches the file. Everything
 * written is finite by construction; this only guards against a slip. */
static double fin(double v) { return isfinite(v) ? v : 0.0; }

/* Text content or attribute value, escaped for XML. Control characters,
 * which XML 1.0 forbids, become '?'. */
static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
        }
    }
}

/* How many leading iterates are finite and within start ± R, R = 1000 ×
 * max(1, |start|∞): a diverging path is drawn up to where it leaves. */
static size_t drawable(const nb_svg_path *p)
{
    const double *x = p->x;
    if (!isfinite(x[0]) || !isfinite(x[1])) return 0;
    double R = 1e3 * fmax(1.0, fmax(fabs(x[0]), fabs(x[1])));
    size_t m = 1;
    while (m < p->n && fabs(x[2 * m] - x[0]) <= R && fabs(x[2 * m + 1] - x[1]) <= R) m++;
    return m; /* NaN fails both comparisons */
}

/* Grow [lo, hi] about its centre to at least width w. */
static void widen(double *lo, double *hi, double w)
{
    double c = 0.5 * (*lo + *hi);
    if (*hi - *lo < w) *lo = c - 0.5 * w, *hi = c + 0.5 * w;
}

/* The window: the drawn iterates' bounding box plus 8% of its longer side
 * on every side, widened so that it is at least 0.8 as wide as high and
 * a third as high as wide (a thin strip would hide the level sets), with
 * one scale for both axes. */
static void make_view(const nb_svg_path *p, size_t m, view *v)
{
    const double *x = p->x;
    v->xmin = v->xmax = x[0], v->ymin = v->ymax = x[1];
    for (size_t i = 1; i < m; i++) {
        v->xmin = fmin(v->xmin, x[2 * i]), v->xmax = fmax(v->xmax, x[2 * i]);
        v->ymin = fmin(v->ymin, x[2 * i + 1]), v->ymax = fmax(v->ymax, x[2 * i + 1]);
    }
    double span = fmax(v->xmax - v->xmin, v->ymax - v->ymin);
    double scale = fmax(1.0, fmax(fabs(x[0]), fabs(x[1])));
    if (span < 1e-9 * scale) span = scale; /* a path that never moved */
    double pad = 0.08 * span;
    v->xmin -= pad, v->xmax += pad, v->ymin -= pad, v->ymax += pad;
    widen(&v->xmin, &v->xmax, 0.8 * (v->ymax - v->ymin));
    widen(&v->ymin, &v->ymax, (v->xmax - v->xmin) / 3.0);
    double w = v->xmax - v->xmin, h = v->ymax - v->ymin;
    v->s = fmin(PLOT_MAX / w, PLOT_MAX / h);
    v->pw = v->s * w, v->ph = v->s * h;
    v->ox = LEFT - v->s * v->xmin;
    v->oy = TOP + v->s * v->ymax;
}

/* ------------------------------------------------------------ contours */

typedef struct lattice {
    const view *v;
    double *val;        /* (GRID+1, GRID+1) Φ at the nodes, row j ↔ x2        */
    int *adj;           /* (edges, 2) segment neighbours of each edge; -1 none */
    unsigned char *seen;/* (edges) already walked                              */
    int edges;
} lattice;

/* Edge ids: horizontal edge (i,j)–(i+1,j) is j·GRID + i; vertical edge
 * (i,j)–(i,j+1) is H + j·(GRID+1) + i with H = GRID·(GRID+1). */
static void edge_point(const lattice *g, int e, double level, double *X, double *Y)
{
    const int n = GRID, H = n * (n + 1);
    int i0, j0, di = 0, dj = 0;
    if (e < H) j0 = e / n, i0 = e % n, di = 1;
    else e -= H, j0 = e / (n + 1), i0 = e % (n + 1), dj = 1;
    double a = g->val[j0 * (n + 1) + i0], b = g->val[(j0 + dj) * (n + 1) + i0 + di];
    double t = (level - a) / (b - a); /* a and b lie on opposite sides: b ≠ a */
    const view *v = g->v;
    double x1 = v->xmin + (i0 + t * di) * (v->xmax - v->xmin) / n;
    double x2 = v->ymin + (j0 + t * dj) * (v->ymax - v->ymin) / n;
    *X = map_x(v, x1), *Y = map_y(v, x2);
}

static void link1(int *adj, int e, int f)
{
    if (adj[2 * e] < 0) adj[2 * e] = f;
    else if (adj[2 * e + 1] < 0) adj[2 * e + 1] = f;
}

static void link(int *adj, int e, int f) { link1(adj, e, f), link1(adj, f, e); }

/* Marching squares for one level: fill adj with the segments. Corner
 * values ≥ level count as inside. Saddle cells are split by the value at
 * the centre (the mean of the corners). Cells with a non-finite corner
 * are left empty. */
static void segments(lattice *g, double level)
{
    const int n = GRID, H = n * (n + 1);
    memset(g->adj, 0xff, (size_t)g->edges * 2 * sizeof *g->adj);
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < n; i++) {
            const double *r0 = g->val + j * (n + 1) + i, *r1 = r0 + n + 1;
            double a = r0[0], b = r0[1], c = r1[1], d = r1[0]; /* BL BR TR TL */
            if (!isfinite(a + b + c + d)) continue;
            int A = a >= level, B = b >= level, C = c >= level, D = d >= level;
            int eb = j * n + i, et = eb + n, el = H + j * (n + 1) + i, er = el + 1;
            int cut[4], nc = 0;
            if (A != B) cut[nc++] = eb;
            if (B != C) cut[nc++] = er;
            if (C != D) cut[nc++] = et;
            if (D != A) cut[nc++] = el;
            if (nc == 2) {
                link(g->adj, cut[0], cut[1]);
            } else if (nc == 4) {
                int centre = (a + b + c + d) / 4.0 >= level;
                if (centre == A) link(g->adj, eb, er), link(g->adj, et, el); /* cut off B, D */
                else link(g->adj, el, eb), link(g->adj, er, et);              /* cut off A, C */
            }
        }
    }
}

/* Write the chain or cycle through edge `start` as one polyline. Points
 * closer than 0.3 units to the last one written are dropped (the ends
 * never are). */
static void walk(FILE *f, lattice *g, int start, double level)
{
    double lx = 0, ly = 0, X = 0, Y = 0;
    int written = 0, pending = 0, prev = -1, e = start;
    fputs("<polyline points=\"", f);
    for (;;) {
        g->seen[e] = 1;
        edge_point(g, e, level, &X, &Y);
        if (!written || hypot(X - lx, Y - ly) >= 0.3) {
            fprintf(f, "%s%.2f,%.2f", written ? " " : "", fin(X), fin(Y));
            lx = X, ly = Y, written++, pending = 0;
        } else {
            pending = 1;
        }
        int a0 = g->adj[2 * e], a1 = g->adj[2 * e + 1];
        int next = a0 != prev ? a0 : a1;
        prev = e;
        if (next < 0) break;
        if (g->seen[next]) {
            if (next == start) { /* a closed level set: back to the first point */
                edge_point(g, start, level, &X, &Y);
                pending = 1;
            }
            break;
        }
        e = next;
    }
    if (pending) fprintf(f, " %.2f,%.2f", fin(X), fin(Y));
    fputs("\"/>\n", f);
}

/* Levels: Φ(start) and geometric steps of 10^(1/3) in Φ − lo, N_BELOW below
 * it and up to MAX_ABOVE above while inside the window's range, where lo
 * is the least value seen. Geometric spacing keeps the picture readable
 * both far out (quad, Rosenbrock's walls) and near the minimum. */
static int make_levels(const lattice *g, double phi0, double lo_path, double *levels)
{
    double lo = lo_path, hi = -INFINITY;
    for (int i = 0; i < (GRID + 1) * (GRID + 1); i++) {
        double v = g->val[i];
        if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
    }
    if (!(hi > lo) || !isfinite(hi - lo)) return 0;
    double base = phi0 - lo;
    if (!(base > 0.0) || !isfinite(base)) base = 0.5 * (hi - lo);
    int nl = 0;
    for (int j = -N_BELOW; j <= MAX_ABOVE; j++) {
        double c = lo + base * pow(10.0, j / 3.0);
        if (c >= hi) break;
        if (c > lo) levels[nl++] = c;
    }
    return nl;
}

static const char *draw_contours(FILE *f, const nb_svg_path *p, size_t m, const view *v)
{
    const int n = GRID;
    lattice g = {v, NULL, NULL, NULL, 2 * n * (n + 1)};
    g.val = malloc((size_t)(n + 1) * (n + 1) * sizeof *g.val);
    g.adj = malloc((size_t)g.edges * 2 * sizeof *g.adj);
    g.seen = malloc((size_t)g.edges);
    if (!g.val || !g.adj || !g.seen) {
        free(g.val), free(g.adj), free(g.seen);
        return "out of memory";
    }
    double grad[2], lo_path = INFINITY, phi0 = NAN;
    for (int j = 0; j <= n; j++)
        for (int i = 0; i <= n; i++) {
            double x[2] = {v->xmin + i * (v->xmax - v->xmin) / n,
                           v->ymin + j * (v->ymax - v->ymin) / n};
            p->fn->eval(x, &g.val[j * (n + 1) + i], grad);
        }
    for (size_t i = 0; i < m; i++) {
        double phi;
        p->fn->eval(p->x + 2 * i, &phi, grad);
        if (isfinite(phi)) lo_path = fmin(lo_path, phi);
        if (i == 0) phi0 = phi;
    }
    double levels[N_BELOW + MAX_ABOVE + 1];
    int nl = make_levels(&g, phi0, lo_path, levels);
    fputs("<g class=\"contours\" fill=\"none\" stroke-width=\"1\">\n", f);
    for (int l = 0; l < nl; l++) {
        /* dark blue for low levels to pale blue for high ones */
        int light = 22 + (nl > 1 ? 36 * l / (nl - 1) : 0);
        fprintf(f, "<g class=\"contour\" data-level=\"%.6g\" stroke=\"hsl(215,55%%,%d%%)\">\n",
                levels[l], light);
        segments(&g, levels[l]);
        memset(g.seen, 0, (size_t)g.edges);
        for (int pass = 0; pass < 2; pass++) /* open chains from their ends first, then cycles */
            for (int e = 0; e < g.edges; e++)
                if (!g.seen[e] && g.adj[2 * e] >= 0 && (pass == 1 || g.adj[2 * e + 1] < 0))
                    walk(f, &g, e, levels[l]);
        fputs("</g>\n", f);
    }
    fputs("</g>\n", f);
    free(g.val), free(g.adj), free(g.seen);
    return NULL;
}

/* ---------------------------------------------------------------- axes */

/* A round tick step (1, 2 or 5 × 10^k) giving about six ticks over span. */
static double tick_step(double span)
{
    double raw = span / 6.0, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1.0 : r < 3.5 ? 2.0 : r < 7.5 ? 5.0 : 10.0) * mag;
}

static void draw_axes(FILE *f, const view *v)
{
    double bottom = TOP + v->ph;
    fprintf(f, "<rect class=\"frame\" x=\"%.3f\" y=\"%.3f\" width=\"%.3f\" height=\"%.3f\" "
               "fill=\"none\" stroke=\"#333\"/>\n", LEFT, TOP, fin(v->pw), fin(v->ph));
    fputs("<g class=\"ticks\" stroke=\"#333\" fill=\"#333\">\n", f);
    for (int axis = 0; axis < 2; axis++) {
        double lo = axis ? v->ymin : v->xmin, hi = axis ? v->ymax : v->xmax;
        double step = tick_step(hi - lo);
        for (double t = ceil(lo / step); t * step <= hi && t <= ceil(lo / step) + 20; t++) {
            double val = fabs(t * step) < 1e-9 * step ? 0.0 : t * step;
            if (axis == 0) {
                double X = map_x(v, val);
                fprintf(f, "<line x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" y2=\"%.3f\"/>", fin(X),
                        bottom, fin(X), bottom + 5);
                fprintf(f, "<text x=\"%.3f\" y=\"%.3f\" text-anchor=\"middle\" stroke=\"none\">"
                           "%.6g</text>\n", fin(X), bottom + 18, fin(val));
            } else {
                double Y = map_y(v, val);
                fprintf(f, "<line x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" y2=\"%.3f\"/>", LEFT - 5,
                        fin(Y), LEFT, fin(Y));
                fprintf(f, "<text x=\"%.3f\" y=\"%.3f\" text-anchor=\"end\" stroke=\"none\">"
                           "%.6g</text>\n", LEFT - 8, fin(Y) + 4, fin(val));
            }
        }
    }
    fputs("</g>\n", f);
    fprintf(f, "<text x=\"%.3f\" y=\"%.3f\" text-anchor=\"middle\">x1</text>\n",
            LEFT + 0.5 * v->pw, bottom + 36);
    fprintf(f, "<text x=\"%.3f\" y=\"%.3f\" text-anchor=\"middle\">x2</text>\n", LEFT - 52,
            TOP + 0.5 * v->ph);
}

/* ---------------------------------------------------------------- path */

static void draw_path(FILE *f, const nb_svg_path *p, size_t m, const view *v)
{
    const double *x = p->x;
    fputs("<polyline id=\"path\" fill=\"none\" stroke=\"#d35400\" stroke-width=\"1.6\" "
          "stroke-linejoin=\"round\" points=\"", f);
    for (size_t i = 0; i < m; i++)
        fprintf(f, "%s%.3f,%.3f", i ? " " : "", fin(map_x(v, x[2 * i])),
                fin(map_y(v, x[2 * i + 1])));
    fprintf(f, "\"\n  data-affine=\"%.17g %.17g %.17g\" data-total=\"%zu\"\n  data-k=\"", v->s,
            v->ox, v->oy, p->n);
    for (size_t i = 0; i < m; i++) fprintf(f, "%s%ld", i ? " " : "", p->k[i]);
    for (int c = 0; c < 2; c++) {
        fprintf(f, "\"\n  data-x%d=\"", c + 1);
        for (size_t i = 0; i < m; i++) fprintf(f, "%s%.17g", i ? " " : "", x[2 * i + c]);
    }
    fputs("\"/>\n", f);
    if (m <= MAX_DOTS) {
        fputs("<g class=\"iterates\" fill=\"#d35400\">\n", f);
        for (size_t i = 0; i < m; i++)
            fprintf(f, "<circle cx=\"%.3f\" cy=\"%.3f\" r=\"2\"/>\n", fin(map_x(v, x[2 * i])),
                    fin(map_y(v, x[2 * i + 1])));
        fputs("</g>\n", f);
    }
    /* The step that leaves the window, cut at its edge. */
    if (m < p->n) {
        double a0 = x[2 * (m - 1)], a1 = x[2 * m - 1], d0 = x[2 * m] - a0, d1 = x[2 * m + 1] - a1;
        if (isfinite(d0) && isfinite(d1)) {
            double t = 1.0;
            if (d0 > 0) t = fmin(t, (v->xmax - a0) / d0);
            if (d0 < 0) t = fmin(t, (v->xmin - a0) / d0);
            if (d1 > 0) t = fmin(t, (v->ymax - a1) / d1);
            if (d1 < 0) t = fmin(t, (v->ymin - a1) / d1);
            fprintf(f, "<line class=\"escape\" x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" y2=\"%.3f\" "
                       "stroke=\"#d35400\" stroke-dasharray=\"5,4\" marker-end=\"url(#esc)\"/>\n",
                    fin(map_x(v, a0)), fin(map_y(v, a1)), fin(map_x(v, a0 + t * d0)),
                    fin(map_y(v, a1 + t * d1)));
        }
    }
}

/* −∇Φ at the first FIRST_ARROWS iterates and at every K-th, K chosen for
 * about a dozen more, leaving out any that would start within 12 units of
 * an arrow already drawn (near the minimum they would pile up). The screen
 * direction of −∇Φ = −(g1, g2) is (−g1, +g2) because Y grows downwards. */
static void draw_arrows(FILE *f, const nb_svg_path *p, size_t m, const view *v)
{
    size_t every = m / 12 + 1;
    double drawn[2 * (FIRST_ARROWS + 13)];
    int nd = 0;
    fputs("<g class=\"arrows\" stroke=\"#c0392b\" stroke-width=\"1.4\">\n", f);
    for (size_t i = 0; i < m; i++) {
        if (i >= FIRST_ARROWS && i % every != 0) continue;
        double phi, g[2];
        p->fn->eval(p->x + 2 * i, &phi, g);
        double norm = hypot(g[0], g[1]);
        if (!(norm > 0.0) || !isfinite(norm)) continue;
        double X = map_x(v, p->x[2 * i]), Y = map_y(v, p->x[2 * i + 1]);
        int crowded = nd == (int)(sizeof drawn / sizeof *drawn / 2);
        for (int j = 0; j < nd && !crowded; j++)
            crowded = hypot(X - drawn[2 * j], Y - drawn[2 * j + 1]) < 12.0;
        if (crowded) continue;
        drawn[2 * nd] = X, drawn[2 * nd + 1] = Y, nd++;
        double dX = -ARROW * g[0] / norm, dY = ARROW * g[1] / norm;
        fprintf(f, "<line class=\"grad\" data-k=\"%ld\" x1=\"%.3f\" y1=\"%.3f\" x2=\"%.3f\" "
                   "y2=\"%.3f\" marker-end=\"url(#head)\"/>\n",
                p->k[i], fin(X), fin(Y), fin(X + dX), fin(Y + dY));
    }
    fputs("</g>\n", f);
}

static void draw_marks(FILE *f, const nb_svg_path *p, size_t m, const view *v)
{
    const double *a = p->x, *b = p->x + 2 * (m - 1);
    fprintf(f, "<circle id=\"start\" cx=\"%.3f\" cy=\"%.3f\" r=\"6\" fill=\"#27ae60\" "
               "stroke=\"#fff\"><title>start, k = %ld</title></circle>\n",
            fin(map_x(v, a[0])), fin(map_y(v, a[1])), p->k[0]);
    fprintf(f, "<circle id=\"end\" cx=\"%.3f\" cy=\"%.3f\" r=\"6\" fill=\"#8e44ad\" "
               "stroke=\"#fff\"><title>end, k = %ld</title></circle>\n",
            fin(map_x(v, b[0])), fin(map_y(v, b[1])), p->k[m - 1]);
}

const char *nb_svg_write(FILE *f, const nb_svg_path *p)
{
    size_t m = drawable(p);
    if (m == 0) return "no finite iterate";
    view v;
    make_view(p, m, &v);
    double width = fmax(LEFT + v.pw + RIGHT, MIN_WIDTH), height = TOP + v.ph + BOTTOM;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            ceil(width), ceil(height), ceil(width), ceil(height));
    fputs("<!-- Made by `nabla descend`. One scale for x1 and x2 (aspect ratio 1), so\n"
          "     −∇Φ meets the level sets at right angles in the picture as in the plane.\n"
          "     SVG coordinates: X = ox + s·x1, Y = oy − s·x2, with \"s ox oy\" in the\n"
          "     data-affine attribute of #path; data-x1/data-x2 hold the iterates. -->\n", f);
    fputs("<title>", f);
    put_text(f, p->heading[0]);
    fputs("</title>\n<defs>\n"
          "<marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
          "markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c0392b\"/>"
          "</marker>\n"
          "<marker id=\"esc\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
          "markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d35400\"/>"
          "</marker>\n</defs>\n", f);
    fprintf(f, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", ceil(width), ceil(height));
    const char *err = draw_contours(f, p, m, &v);
    if (err) return err;
    draw_axes(f, &v);
    draw_path(f, p, m, &v);
    draw_arrows(f, p, m, &v);
    draw_marks(f, p, m, &v);
    for (int i = 0; i < 3; i++) {
        if (!p->heading[i]) continue;
        fprintf(f, "<text class=\"heading\" x=\"%.3f\" y=\"%d\"%s>", LEFT, 24 + 20 * i,
                i ? "" : " font-size=\"15\"");
        put_text(f, p->heading[i]);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text class=\"legend\" x=\"%.3f\" y=\"%.3f\" fill=\"#555\">level sets of Φ "
               "(geometric, 3 per decade, one through the start); red arrows: −∇Φ; "
               "equal scale on both axes</text>\n", LEFT, height - 10);
    if (m < p->n)
        fprintf(f, "<text class=\"note\" x=\"%.3f\" y=\"%.3f\" fill=\"#d35400\">the path leaves "
                   "the window after iterate %ld: %zu of %zu stored iterates drawn</text>\n",
                LEFT + 8, TOP + 16, p->k[m - 1], m, p->n);
    fputs("</svg>\n", f);
    return NULL;
}
