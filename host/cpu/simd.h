/*
 * simd.h — vectors of NB_VL floats for the cpu backend's kernels, and the
 * vector math their epilogues need (exp, sigmoid, tanh, and the
 * activations' derivatives). A template: the including file defines NB_VL
 * (4, 8 or 16) and is compiled for the instruction set whose registers
 * hold that many floats (SSE, AVX2, AVX-512), so each vector is one
 * register. GCC/Clang vector extensions keep the arithmetic portable; the
 * compiler picks the instructions.
 *
 * Accuracy, against libm in double over every float in the tested ranges
 * (tests/cpu/gemm_test.c sweeps them, ±Inf and NaN included):
 *   nb_vsigmoid  ≤ 3 ulp, or 1e-38 absolute where σ is below the smallest
 *                normal float (measured: 2.6 ulp);
 *   nb_vtanh     ≤ 3 ulp (measured: 2.5 ulp).
 * NaN in gives NaN out; ±Inf give the limits.
 */
#ifndef NB_CPU_SIMD_H
#define NB_CPU_SIMD_H

#ifndef NB_VL
#error "define NB_VL (floats per vector) before including simd.h"
#endif

#include <stdint.h>
#include <string.h>

#include "act.h"
#include "nabla.h"

typedef float vf __attribute__((vector_size(NB_VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(NB_VL * sizeof(int32_t))));

/* Unaligned loads and stores: memcpy compiles to one vector move. */
static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* The first n (< NB_VL) floats, zero beyond; and their store. */
static inline vf vload_part(const float *p, size_t n)
{
    float t[NB_VL] = {0};
    memcpy(t, p, n * sizeof(float));
    return vload(t);
}
static inline void vstore_part(float *p, vf v, size_t n)
{
    float t[NB_VL];
    vstore(t, v);
    memcpy(p, t, n * sizeof(float));
}

/* x − 0 is x for every x (−0 included), so the compiler drops the
 * subtraction and keeps a bare broadcast. */
static inline vf vsplat(float x) { return x - (vf){0}; }

/* Lane-wise m ? a : b, for a mask m of all-ones or zero lanes. */
static inline vf vsel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

static inline vf vabs(vf x) { return (vf)((vi)x & 0x7fffffff); }

/* Round to the nearest integer-valued float, |x| < 2^22. */
static inline vf vround(vf x)
{
    const float magic = 12582912.0f; /* 1.5 · 2^23: its ulp is 1 */
    return (x + magic) - magic;
}

/* 2^n for integer-valued n in [−252, 254], as two factors that each stay
 * normal (n split in halves), so subnormal results come out right. */
static inline vf vpow2_split(vf n, vf *second)
{
    vi ni = __builtin_convertvector(n, vi);
    vi n1 = ni >> 1, n2 = ni - n1;
    *second = (vf)((n2 + 127) << 23);
    return (vf)((n1 + 127) << 23);
}

/*
 * The shared core of e^x and e^x − 1: c = n·ln2 + r with |r| ≤ ln2/2 (ln2
 * in two parts, so r is exact to float rounding); returns the polynomial
 * part P of e^r = 1 + r + r²·P, the Taylor series to r^8 (truncation below
 * 5e-9 relative), and n in *n.
 */
static inline vf exp_reduced(vf c, vf *n, vf *r)
{
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.428606765330187e-06f;
    *n = vround(c * log2e);
    *r = (c - *n * ln2_hi) - *n * ln2_lo;
    vf p = 1.0f / 5040 + *r * (1.0f / 40320);
    p = 1.0f / 720 + *r * p;
    p = 1.0f / 120 + *r * p;
    p = 1.0f / 24 + *r * p;
    p = 1.0f / 6 + *r * p;
    return 0.5f + *r * p;
}

/* e^x: e^r · 2^n. Inputs are clamped to [−104, 89]: beyond, the result is
 * 0 or overflows to Inf anyway. */
static inline vf nb_vexp(vf x)
{
    vi nan = x != x;
    vf c = vsel(nan, vsplat(0.0f), x); /* no NaN reaches the int conversion */
    c = vsel(c < -104.0f, vsplat(-104.0f), c);
    c = vsel(c > 89.0f, vsplat(89.0f), c);
    vf n, r, p = exp_reduced(c, &n, &r);
    p = 1.0f + r + r * r * p;
    vf s2, s1 = vpow2_split(n, &s2);
    return vsel(nan, x, p * s1 * s2);
}

/* e^z − 1 for z ≤ 0 without cancellation near 0: 2^n·(e^r − 1) + (2^n − 1). */
static inline vf nb_vexpm1_neg(vf z)
{
    vi nan = z != z;
    vf c = vsel(z < -30.0f, vsplat(-30.0f), z); /* e^-30 − 1 is −1 in float */
    c = vsel(nan, vsplat(0.0f), c);               /* the caller restores NaN */
    vf n, r, p = exp_reduced(c, &n, &r);
    vf em_r = r + r * r * p;            /* e^r − 1 */
    vi ni = __builtin_convertvector(n, vi);
    vf s = (vf)((ni + 127) << 23);      /* n ≥ −44: a normal 2^n */
    return s * em_r + (s - 1.0f);
}

/* σ(x) = 1/(1 + e^−x), from e^−|x| so nothing overflows. */
static inline vf nb_vsigmoid(vf x)
{
    vf e = nb_vexp(-vabs(x));
    vf s = 1.0f / (1.0f + e);
    return vsel(x >= 0.0f, s, e * s); /* NaN: e*s is NaN */
}

/* tanh x = sign(x) · −m/(2 + m), m = e^−2|x| − 1. */
static inline vf nb_vtanh(vf x)
{
    vi nan = x != x;
    vf a = vabs(x);
    vf m = nb_vexpm1_neg(-2.0f * a);
    vf t = vabs(m) / (2.0f + m); /* −m ≥ 0, and +0 (not −0) at x = ±0 */
    vf y = (vf)((vi)t | ((vi)x & (int32_t)0x80000000)); /* the sign of x */
    return vsel(nan, x, y);
}

/* f applied to each lane in double: for an activation with no vector
 * code of its own (act.h's table is the specification). */
static inline vf nb_vlanes(double (*f)(double), vf v)
{
    float t[NB_VL];
    vstore(t, v);
    for (int l = 0; l < NB_VL; l++) t[l] = (float)f(t[l]);
    return vload(t);
}

/* act(v), lane-wise. Softmax is row-wise and not handled here. */
static inline vf nb_vact(nb_act act, vf v)
{
    switch (act) {
    case NB_ACT_SIGMOID: return nb_vsigmoid(v);
    case NB_ACT_TANH: return nb_vtanh(v);
    case NB_ACT_RELU: return vsel(v <= 0.0f, vsplat(0.0f), v); /* NaN passes through */
    case NB_ACT_IDENTITY: return v;
    default: return nb_act_get(act) ? nb_vlanes(nb_act_get(act)->f, v) : v;
    }
}

/* act'(z) written in terms of the output y = act(z). */
static inline vf nb_vdact(nb_act act, vf y)
{
    switch (act) {
    case NB_ACT_SIGMOID: return y * (1.0f - y);
    case NB_ACT_TANH: return 1.0f - y * y;
    case NB_ACT_RELU: return vsel(y > 0.0f, vsplat(1.0f), vsplat(0.0f));
    case NB_ACT_IDENTITY: return vsplat(1.0f);
    default: return nb_act_get(act) ? nb_vlanes(nb_act_get(act)->dy, y) : vsplat(1.0f);
    }
}

#endif
