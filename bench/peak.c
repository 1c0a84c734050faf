/*
 * peak.c — the FP32 FMA peak of one core, measured rather than assumed:
 * a loop of independent fused multiply-adds in registers (no memory), in
 * the widest vectors the CPU has, timed for about half a second. Its rate
 * is the most any float code can reach on that core at the clock it runs
 * at now, which is what GEMM efficiency is stated against.
 *
 *   usage: bench_peak [--json]
 *
 * 24 accumulators hide the FMA latency on two pipes for both AVX2 (16
 * registers: the compiler keeps what it can) and AVX-512 (32 registers).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NB_X86 1
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum { ACC = 12 };

#ifdef NB_X86
/* n rounds of ACC independent 8-lane FMAs: 16·ACC·n FLOP. */
__attribute__((target("avx2,fma"))) static float fma_avx2(long n)
{
    __m256 acc[ACC], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long r = 0; r < n; r++)
        for (int i = 0; i < ACC; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

/* The same with 16 lanes: 32·2·ACC·n FLOP (two sets of ACC). */
__attribute__((target("avx512f"))) static float fma_avx512(long n)
{
    __m512 acc[2 * ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 2 * ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long r = 0; r < n; r++)
        for (int i = 0; i < 2 * ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < 2 * ACC; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}
#endif

int main(int argc, char **argv)
{
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: bench_peak [--json]\n");
        return 2;
    }
#ifdef NB_X86
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf(json ? "{\"isa\":null}\n" : "bench_peak: no AVX2+FMA or AVX-512 on this CPU\n");
        return 0;
    }
    volatile float sink = 0.0f;
    double best = 0.0;
    long n = 1 << 20;
    for (int rep = 0; rep < 7; rep++) { /* the first reps also warm the clock up */
        double t0 = now();
        sink += wide ? fma_avx512(n) : fma_avx2(n);
        double t = now() - t0, flop = (double)n * ACC * (wide ? 2 * 32 : 16);
        if (t < 0.05) { /* too short to time: grow it */
            n *= 4;
            rep--;
            continue;
        }
        if (flop / t > best) best = flop / t;
    }
    (void)sink;
    const char *isa = wide ? "avx512" : "avx2";
    if (json)
        printf("{\"isa\":\"%s\",\"peak_gflops_per_core\":%.2f}\n", isa, best * 1e-9);
    else
        printf("FP32 FMA peak, one core, measured (%s, %d independent FMAs in registers): %.1f "
               "GFLOP/s\n", isa, wide ? 2 * ACC : ACC, best * 1e-9);
    return 0;
#else
    printf(json ? "{\"isa\":null}\n" : "bench_peak: measured only on x86-64\n");
    return 0;
#endif
}
