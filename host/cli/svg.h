/*
 * svg.h — the picture of `nabla descend`: a standalone SVG with the level
 * sets of Φ, the descent path and −∇Φ arrows at some iterates.
 *
 * The document is meant to be read back by a test as well as looked at:
 *
 *   <polyline id="path" points="X,Y ..." data-k="k0 k1 ..."
 *             data-x1="..." data-x2="..." data-affine="s ox oy" .../>
 *
 * holds the iterates in data coordinates (%.17g) and in SVG coordinates
 * through the affine map  X = ox + s·x1,  Y = oy − s·x2  (one scale s for
 * both axes, so angles, and with them the right angle between −∇Φ and
 * the level sets, are the same on screen as in the plane). The points
 * attribute is printed to 1/1000 of a unit.
 *
 *   <line class="grad" data-k="k" x1 y1 x2 y2/>  −∇Φ at iterate k, from
 *                                                 the iterate, 36 units long
 *   <g class="contour" data-level="c">            the level set Φ = c
 *   <circle id="start"/>, <circle id="end"/>      first and last drawn iterate
 *
 * The window is the bounding box of the path with a margin. A diverging
 * path is drawn up to its last iterate inside start ± 1000·max(1, |start|∞)
 * (data-total says how many iterates there were); the step that leaves it
 * is drawn as <line class="escape"> cut at the window's edge. No NaN or
 * Inf is ever written.
 */
#ifndef NB_CLI_SVG_H
#define NB_CLI_SVG_H

#include <stddef.h>
#include <stdio.h>

#include "cli/fns2d.h"

typedef struct nb_svg_path {
    const nb_fn2d *fn;
    size_t n;             /* iterates given (≥ 1)                          */
    const long *k;        /* (n) their iterate numbers, increasing         */
    const double *x;      /* (n, 2) the iterates, row-major                */
    /* Heading lines, plain UTF-8 (escaped here); unused ones NULL. The
     * first is also the document's <title>. */
    const char *heading[3];
} nb_svg_path;

/* Write the picture to f. Returns NULL, or why it failed ("out of memory",
 * "no finite iterate"); write errors are left to ferror/fclose. */
const char *nb_svg_write(FILE *f, const nb_svg_path *p);

#endif
