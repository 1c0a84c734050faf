/*
 * gemm.cl — nabla's own float32 GEMM and GEMV kernels, OpenCL C 1.2, no
 * extensions. Row-major contiguous matrices; every buffer is used as
 * ptr + off (element offsets). Not batched, not strided (ld == columns).
 *
 * GEMM  gemm_nn, gemm_nt, gemm_tn, gemm_tt (M, N, K, alpha, A, offA, B, offB, beta, C, offC)
 *   C (M,N) = alpha * opA (M,K) . opB (K,N) + beta * C; beta == 0: C is never read.
 *   opA(i,k) = A[i*K+k] (n) or A[k*M+i] (t);  opB(k,j) = B[k*N+j] (n) or B[j*K+k] (t).
 *   local  = (GEMM_TN/GEMM_WN, GEMM_TM/GEMM_WM)       dim 0 along N, dim 1 along M
 *   global = (ceil(N/GEMM_TN) * local0, ceil(M/GEMM_TM) * local1)
 *   A work-group computes a GEMM_TM x GEMM_TN tile of C; work-item (tx, ty)
 *   the GEMM_WM x GEMM_WN block at rows ty*GEMM_WM.., columns tx*GEMM_WN.. of it.
 *   Local memory, bytes (TM = GEMM_TM etc.; none when GEMM_LOCAL is 0):
 *     gemm_nn, gemm_nt: 4 * (TM * (TK + PAD) + TK * TN)   (A rows padded by PAD floats)
 *     gemm_tn, gemm_tt: 4 * (TK * TM + TK * TN)
 *   twice that with GEMM_DB; so at most 4 * (TK*TM + TK*TN + TM*PAD) * (1 + DB)
 *   for every kernel, which is what the host reserves (nb_cl_gemm_local_bytes).
 *
 * Small GEMM  gemm_small_nn, _nt, _tn, _tt, the same arguments as GEMM, for
 *   products too small to fill a tile (the host picks them below an M*N*K bound):
 *   local = any, global >= M * N, 1-D: work-item id computes C(id / N, id % N).
 *   No local memory.
 *
 * GEMV  gemv_n, gemv_t (N, K, alpha, x, offx, B, offB, beta, y, offy), for M == 1
 *   gemv_n: y[j] = alpha * sum_k x[k] B[j*K+k] + beta * y[j]    B stored N x K
 *     local = GEMV_WG, global = N * GEMV_WG: one work-group per output j.
 *   gemv_t: y[j] = alpha * sum_k x[k] B[k*N+j] + beta * y[j]    B stored K x N
 *     local = GEMV_WG, global = ceil(N/GEMV_WG) * GEMV_WG: one work-item per j.
 *   Local memory: 4 * GEMV_WG bytes each. beta == 0: y is never read.
 *
 * Tunables (-D; defaults below suit a GPU) and what the host must keep:
 *   GEMM_TM, GEMM_TN    tile of C per work-group (any sizes >= 1)
 *   GEMM_TK             K slice staged through local memory per step (>= 1)
 *   GEMM_WM, GEMM_WN    register block; TM % WM == 0, TN % WN == 0, and
 *                       WN in {1, 2, 4, 8, 16} (a block row is one vector)
 *   GEMM_VW             1, 2 or 4: width of global tile loads (vloadN). A tile
 *                       uses it only if it divides the tile's contiguous extent,
 *                       the operand's offset and row length are multiples of it
 *                       and the vector lies inside the matrix; otherwise, and
 *                       for the transposed B of gemm_nt/tt, loads are scalar.
 *   GEMM_PAD            0 … 16 floats appended to each local row of a
 *                       non-transposed A tile, against bank conflicts (1)
 *   GEMM_DB             1: double-buffered K slices, staged one ahead, one
 *                       barrier per slice (0: one buffer, two barriers)
 *   GEMM_LOCAL          0: no local memory; each work-item reads A and B
 *                       from global memory (for CPU devices); then
 *                       GEMM_DB = GEMM_PAD = 0, GEMM_VW = 1 and GEMM_TK is unused
 *   GEMV_WG             a power of two >= 1.
 *   Every impossible value is refused by an #error below.
 *   The work-group size need not divide the tile loads (remainders are
 *   handled). Element indices within one matrix are uint, so M*K, K*N and
 *   M*N must be < 2^32; offsets are added as ulong.
 *
 * Numerics: every output is summed by one work-item in increasing k (gemv_n:
 * per-item partial sums in increasing k, then a fixed tree), with a*b + c,
 * which compilers contract to FMA where the device has it. Results are
 * deterministic for a device and set of tunables; the error obeys the usual
 * float dot-product bound. Nothing assumes -cl-fast-relaxed-math.
 */

#ifndef GEMM_TM
#define GEMM_TM 64
#endif
#ifndef GEMM_TN
#define GEMM_TN 64
#endif
#ifndef GEMM_TK
#define GEMM_TK 16
#endif
#ifndef GEMM_WM
#define GEMM_WM 4
#endif
#ifndef GEMM_WN
#define GEMM_WN 4
#endif
#ifndef GEMM_VW
#define GEMM_VW 4
#endif
#ifndef GEMV_WG
#define GEMV_WG 64
#endif
#ifndef GEMM_PAD
#define GEMM_PAD 1
#endif
#ifndef GEMM_DB
#define GEMM_DB 0
#endif
#ifndef GEMM_LOCAL
#define GEMM_LOCAL 1
#endif

#if GEMM_TM % GEMM_WM != 0 || GEMM_TN % GEMM_WN != 0
#error "gemm.cl: GEMM_TM must be a multiple of GEMM_WM, and GEMM_TN of GEMM_WN"
#endif
#if GEMM_VW != 1 && GEMM_VW != 2 && GEMM_VW != 4
#error "gemm.cl: GEMM_VW must be 1, 2 or 4"
#endif
#if GEMV_WG < 1 || (GEMV_WG & (GEMV_WG - 1)) != 0
#error "gemm.cl: GEMV_WG must be a power of two"
#endif
#if GEMM_TM < 1 || GEMM_TN < 1 || GEMM_TK < 1 || GEMM_WM < 1
#error "gemm.cl: GEMM_TM, GEMM_TN, GEMM_TK and GEMM_WM must be at least 1"
#endif
#if GEMM_PAD < 0 || GEMM_PAD > 16
#error "gemm.cl: GEMM_PAD must be 0 to 16 floats"
#endif
#if GEMM_LOCAL != 0 && GEMM_LOCAL != 1
#error "gemm.cl: GEMM_LOCAL must be 0 (operands from global memory) or 1 (local tiles)"
#endif
#if GEMM_DB != 0 && GEMM_DB != 1
#error "gemm.cl: GEMM_DB must be 0 or 1"
#endif
#if GEMM_DB && !GEMM_LOCAL
#error "gemm.cl: GEMM_DB=1 double-buffers local tiles, so it needs GEMM_LOCAL=1"
#endif
#if !GEMM_LOCAL && (GEMM_PAD != 0 || GEMM_VW != 1)
#error "gemm.cl: GEMM_PAD and GEMM_VW shape the local tiles: with GEMM_LOCAL=0 they must be 0 and 1"
#endif

#define GEMM_RM (GEMM_TM / GEMM_WM)   /* work-items along M: local size, dim 1 */
#define GEMM_RN (GEMM_TN / GEMM_WN)   /* work-items along N: local size, dim 0 */
#define GEMM_NWI (GEMM_RM * GEMM_RN)  /* work-items per work-group */

/* A block row (GEMM_WN floats) is one OpenCL vector: CPU compilers emit
 * vector FMAs directly and GPUs read it from local memory in one load. */
#if GEMM_WN == 1
#define GEMM_ROW float
#define GEMM_LOAD_ROW(p) (*(p))
#define GEMM_STORE_ROW(v, p) (*(p) = (v))
#elif GEMM_WN == 2 || GEMM_WN == 4 || GEMM_WN == 8 || GEMM_WN == 16
#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define GEMM_ROW GEMM_CAT(float, GEMM_WN)
#define GEMM_LOAD_ROW(p) GEMM_CAT(vload, GEMM_WN)(0, p)
#define GEMM_STORE_ROW(v, p) GEMM_CAT(vstore, GEMM_WN)(v, 0, p)
#else
#error "gemm.cl: GEMM_WN must be 1, 2, 4, 8 or 16"
#endif

/*
 * Stage one tile of an operand into local memory, zero-filled outside the
 * matrix so that the multiply loop needs no bounds checks. The operand as
 * stored is n_slow x n_fast row-major; the tile is t_slow x t_fast from
 * (slow0, fast0), and its element (s, f) goes to dst[s*ds + f*df]. Work-
 * items take chunks of bh rows x vw columns in flat order, so consecutive
 * ids read consecutive addresses (coalesced). A direct chunk (bh == 1)
 * moves with one vloadN/vstoreN when it is whole and aligned; a chunk on
 * the matrix edge goes element by element. A transposing stage (ds == 1)
 * takes square chunks and moves them element by element. (No partial-
 * vector shuffles anywhere: they crash oclgrind 21.10's --uninitialized
 * checker, as does the freeze LLVM emits for q % per_row next to q /
 * per_row.) Everything but lid is uniform and constant, so the loops
 * unroll. The q < chunks test stays even when it is always true: without
 * it, PoCL vectorises the work-item loop into slow gathers and scatters.
 */
#define GEMM_STAGE(dst, ds, df, src, n_slow, n_fast, slow0, fast0, t_slow, t_fast, vw, bh, vec_ok) { \
    const uint per_row = (t_fast) / (vw), chunks = (t_slow) / (bh) * per_row;               \
    const bool whole = (slow0) + (t_slow) <= (n_slow) && (fast0) + (t_fast) <= (n_fast);    \
    _Pragma("unroll") for (uint p = 0; p < (chunks + GEMM_NWI - 1) / GEMM_NWI; ++p) {      \
        const uint q = lid + p * GEMM_NWI;                                                   \
        if (q < chunks) {                                                                    \
            const uint qs = q / per_row, s = qs * (bh), f = (q - qs * per_row) * (vw);       \
            const uint gs = (slow0) + s, gf = (fast0) + f;                                   \
            __global const float *g = (src) + gs * (n_fast) + gf;                            \
            __local float *d = (dst) + s * (ds) + f * (df);                                  \
            const bool vec = (vec_ok) && (whole || (gs < (n_slow) && gf + (vw) <= (n_fast))); \
            if ((ds) != 1 && (vw) == 4 && vec) {                                             \
                vstore4(vload4(0, g), 0, d);                                                 \
            } else if ((ds) != 1 && (vw) == 2 && vec) {                                      \
                vstore2(vload2(0, g), 0, d);                                                 \
            } else {                                                                         \
                _Pragma("unroll") for (uint u = 0; u < (bh); ++u)                            \
                    _Pragma("unroll") for (uint e = 0; e < (vw); ++e)                        \
                        d[u * (ds) + e * (df)] =                                             \
                            whole || (gs + u < (n_slow) && gf + e < (n_fast))                \
                            ? g[u * (n_fast) + e] : 0.0f;                                    \
            }                                                                                \
        }                                                                                    \
    } }

/*
 * The one GEMM body, expanded in each kernel with constant TA/TB. It is a
 * macro, not a function, so that every compiler sees the transposes and
 * tile sizes as constants before anything else happens to the code (PoCL
 * turns the code between barriers into loops over work-items early; what
 * is not simplified by then stays slow). Its main loop comes in three
 * variants, chosen by GEMM_LOCAL and GEMM_DB; all leave acc[r], row r of
 * the work-item's block, for the common store loop at the end.
 *
 * Local tiles (GEMM_LOCAL 1): B is always k-major, Bs[k][j], so a work-
 * item reads its GEMM_WN columns at one k as one aligned vector; a "t" B
 * is transposed while staged. A keeps its global orientation: "t" A as
 * As[k][i], "n" A as As[i][k] with rows of GEMM_TK + GEMM_PAD floats, so
 * that on a GPU the rows that different work-items read at one k fall in
 * different banks. Per k a work-item reads GEMM_WM scalars of A and one
 * row of B and does GEMM_WM vector multiply-adds into acc[r].
 */
#define GEMM_LDA(TA) ((TA) ? GEMM_TM : GEMM_TK + GEMM_PAD) /* local row length of A */
#define GEMM_ASZ(TA) ((TA) ? GEMM_TK * GEMM_TM : GEMM_TM * (GEMM_TK + GEMM_PAD))
#define GEMM_BSZ (GEMM_TK * GEMM_RN)                    /* one B slice, in rows */

/* Stage K slice t of both operands into the buffers Ad and Bd. */
#define GEMM_STAGE_SLICE(TA, TB, Ad, Bd, t) {                                                    \
    const uint k0 = (t) * GEMM_TK;                                                           \
    if (TA) GEMM_STAGE(Ad, GEMM_TM, 1, A, K, M, k0, i0, GEMM_TK, GEMM_TM, vwa, 1, va)          \
    else GEMM_STAGE(Ad, GEMM_LDA(TA), 1, A, M, K, i0, k0, GEMM_TM, GEMM_TK, vwa, 1, va)        \
    if (TB) GEMM_STAGE(Bd, 1, GEMM_TN, B, N, K, j0, k0, GEMM_TN, GEMM_TK, vwb, vwb, vb)        \
    else GEMM_STAGE(Bd, GEMM_TN, 1, B, K, N, k0, j0, GEMM_TK, GEMM_TN, vwb, 1, vb) }

/* Multiply one staged slice (A tile Ab, B tile Bb as rows) into acc.
 * Under a per-item condition PoCL runs this loop whole inside each item
 * with acc in registers (a uniform loop it would split into one work-item
 * loop per k, spilling acc in between). GPU compilers unroll it: constant
 * trip count. */
#define GEMM_MULTIPLY_SLICE(TA, Ab, Bb)                                                      \
    if (live) {                                                                              \
        __local const float *a = (Ab) + row0 * ((TA) ? 1 : GEMM_LDA(TA));                    \
        __local const GEMM_ROW *b = (Bb) + tx;                                               \
        for (uint kk = 0; kk < GEMM_TK; ++kk) {                                              \
            const GEMM_ROW bk = b[kk * GEMM_RN];                                             \
            _Pragma("unroll") for (uint r = 0; r < GEMM_WM; ++r)                             \
                acc[r] += a[(TA) ? kk * GEMM_TM + r : r * GEMM_LDA(TA) + kk] * bk;           \
        }                                                                                    \
    }

#if GEMM_LOCAL && !GEMM_DB
/* One local buffer per operand: two barriers per K slice. */
#define GEMM_MAIN(TA, TB)                                                                    \
    __local float As[GEMM_ASZ(TA)];                                                          \
    __local GEMM_ROW Bs[GEMM_BSZ]; /* typed as rows, so aligned for them */                  \
    for (uint t = 0; t < slices; ++t) {                                                      \
        /* Nobody restages while others still read the last slice. (At the top of      \
         * the loop, not the bottom: PoCL then carries less state across it.) */       \
        barrier(CLK_LOCAL_MEM_FENCE);                                                        \
        GEMM_STAGE_SLICE(TA, TB, As, ((__local float *)Bs), t)                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                                        \
        GEMM_MULTIPLY_SLICE(TA, As, Bs)                                                      \
    }
#elif GEMM_LOCAL
/* Double-buffered: slice t + 1 is staged into one buffer while slice t is
 * multiplied from the other, with one barrier per slice. At the barrier of
 * slice t, slice t is complete and everybody has finished reading slice
 * t - 1, whose buffer the staging of slice t + 1 then overwrites. */
#define GEMM_MAIN(TA, TB)                                                                    \
    __local float As[2 * GEMM_ASZ(TA)];                                                      \
    __local GEMM_ROW Bs[2 * GEMM_BSZ];                                                       \
    if (slices > 0) GEMM_STAGE_SLICE(TA, TB, As, ((__local float *)Bs), 0)                   \
    for (uint t = 0; t < slices; ++t) {                                                      \
        const uint cur = t & 1u, nxt = cur ^ 1u;                                             \
        barrier(CLK_LOCAL_MEM_FENCE);                                                        \
        if (t + 1 < slices)                                                                  \
            GEMM_STAGE_SLICE(TA, TB, (As + nxt * GEMM_ASZ(TA)),                              \
                             ((__local float *)(Bs + nxt * GEMM_BSZ)), t + 1)                \
        GEMM_MULTIPLY_SLICE(TA, (As + cur * GEMM_ASZ(TA)), (Bs + cur * GEMM_BSZ))            \
    }
#else
/* No local memory: each work-item reads its operands from global memory
 * (for CPU devices, whose caches do what local memory does on a GPU, and
 * where staging is only copying). Rows and columns past the edge of C are
 * clamped to the last one, so the loop needs no bounds checks; what they
 * compute is never stored. No barriers, so dead items simply skip. */
#define GEMM_MAIN(TA, TB)                                                                    \
    if (live) {                                                                              \
        const uint jl = min(j0 + col0, N - 1);                                               \
        const bool whole_row = j0 + col0 + GEMM_WN <= N;                                     \
        uint ia[GEMM_WM], jb[GEMM_WN];                                                       \
        _Pragma("unroll") for (uint r = 0; r < GEMM_WM; ++r)                                 \
            ia[r] = min(i0 + row0 + r, M - 1);                                               \
        _Pragma("unroll") for (uint c = 0; c < GEMM_WN; ++c)                                 \
            jb[c] = min(jl + c, N - 1);                                                      \
        for (uint k = 0; k < K; ++k) {                                                       \
            GEMM_ROW bk;                                                                     \
            if (!(TB) && whole_row) {                                                        \
                bk = GEMM_LOAD_ROW(B + (k * N + jl));                                        \
            } else {                                                                         \
                float e[GEMM_WN];                                                            \
                _Pragma("unroll") for (uint c = 0; c < GEMM_WN; ++c)                         \
                    e[c] = B[(TB) ? jb[c] * K + k : k * N + jb[c]];                          \
                bk = GEMM_LOAD_ROW(e);                                                       \
            }                                                                                \
            _Pragma("unroll") for (uint r = 0; r < GEMM_WM; ++r)                             \
                acc[r] += A[(TA) ? k * M + ia[r] : ia[r] * K + k] * bk;                      \
        }                                                                                    \
    }
#endif

#define GEMM_BODY(TA, TB)                                                                    \
    const uint tx = get_local_id(0), ty = get_local_id(1);                                   \
    const uint lid = ty * GEMM_RN + tx;                                                      \
    const uint i0 = get_group_id(1) * GEMM_TM, j0 = get_group_id(0) * GEMM_TN;               \
    const uint row0 = ty * GEMM_WM, col0 = tx * GEMM_WN;                                     \
    /* Items whose block lies wholly outside C (ragged last tiles) skip the             \
     * arithmetic; they still stage their share and reach every barrier. */             \
    const bool live = i0 + row0 < M && j0 + col0 < N;                                        \
    /* Load widths per tile: compile-time divisibility, then uniform alignment. */         \
    const uint vwa = ((TA) ? GEMM_TM : GEMM_TK) % GEMM_VW == 0 ? GEMM_VW : 1;               \
    const uint vwb = ((TB) ? GEMM_TK % GEMM_VW == 0 && GEMM_TN % GEMM_VW == 0               \
                           : GEMM_TN % GEMM_VW == 0) ? GEMM_VW : 1;                          \
    const bool va = offA % vwa == 0 && ((TA) ? M : K) % vwa == 0;                            \
    const bool vb = offB % vwb == 0 && ((TB) ? K : N) % vwb == 0;                            \
    (void)lid, (void)va, (void)vb;                                                           \
    A += offA;                                                                               \
    B += offB;                                                                               \
    C += offC;                                                                               \
    GEMM_ROW acc[GEMM_WM];                                                                   \
    _Pragma("unroll") for (uint r = 0; r < GEMM_WM; ++r)                                     \
        acc[r] = 0.0f;                                                                       \
    const uint slices = K / GEMM_TK + (K % GEMM_TK != 0); /* no overflow near 2^32 */        \
    (void)slices;                                                                            \
    GEMM_MAIN(TA, TB)                                                                        \
    GEMM_STORE_C()

/*
 * The store of C, the epilogue: each output becomes alpha * acc + beta * C
 * (beta == 0: C unread), then GEMM_EPI(v, i, j), the identity here. A fused
 * kernel (act.cl) redefines GEMM_EPI and GEMM_EPI_ROW before it expands
 * GEMM_BODY, so every kernel shares this one store. GEMM_EPI_ROW applies
 * GEMM_EPI to a whole block row v (columns j..j+GEMM_WN); empty here, so
 * the plain kernels keep their vector stores untouched.
 * No unroll pragma on purpose: indexing acc with a variable keeps it an array
 * in PoCL's front end, updated in place across barriers rather than copied
 * between spill slots every slice. GPU compilers unroll it and keep acc in
 * registers.
 */
#define GEMM_EPI(v, i, j) (v)
#define GEMM_EPI_ROW(v, i, j)
#define GEMM_STORE_C()                                                                       \
    for (uint r = 0; r < GEMM_WM; ++r) {                                                     \
        const uint i = i0 + row0 + r, j = j0 + col0;                                         \
        if (i < M && j + GEMM_WN <= N) { /* a whole block row: vector access */             \
            __global float *y = C + (i * N + j);                                             \
            GEMM_ROW v = alpha * acc[r];                                                     \
            if (beta != 0.0f) v += beta * GEMM_LOAD_ROW(y);                                  \
            GEMM_EPI_ROW(v, i, j)                                                            \
            GEMM_STORE_ROW(v, y);                                                            \
        } else if (i < M && j < N) { /* right edge of C: element by element */              \
            __global float *y = C + (i * N + j);                                             \
            float v[GEMM_WN];                                                                \
            GEMM_STORE_ROW(alpha * acc[r], v);                                               \
            for (uint c = 0; c < GEMM_WN && j + c < N; ++c)                                  \
                y[c] = GEMM_EPI(beta == 0.0f ? v[c] : v[c] + beta * y[c], i, j + c);         \
        }                                                                                    \
    }

/* The signature every GEMM kernel, tiled or small, shares. */
#define GEMM_SIGNATURE(name)                                                           \
    __kernel void name(const uint M, const uint N, const uint K, const float alpha,    \
                       __global const float *A, const ulong offA,                      \
                       __global const float *B, const ulong offB,                      \
                       const float beta, __global float *C, const ulong offC)

#define GEMM_KERNEL(name, TA, TB)                                                      \
    GEMM_SIGNATURE(name)                                                               \
    {                                                                                  \
        GEMM_BODY(TA, TB)                                                              \
    }

GEMM_KERNEL(gemm_nn, 0, 0) /* dX = dY . W          (input gradient) */
GEMM_KERNEL(gemm_nt, 0, 1) /* Y = X . W^T          (forward)        */
GEMM_KERNEL(gemm_tn, 1, 0) /* dW = dY^T . X        (weight gradient) */
GEMM_KERNEL(gemm_tt, 1, 1)

/*
 * Small GEMM: one work-item per output, its dot product in increasing k as
 * in the tiled kernels. For the few-row products of a tiny network, where a
 * tile's work-group would be almost all idle lanes and fixed cost.
 */
#define GEMM_SMALL_KERNEL(name, TA, TB)                                                \
    GEMM_SIGNATURE(name)                                                               \
    {                                                                                  \
        const uint id = get_global_id(0);                                              \
        if (id >= M * N)                                                               \
            return;                                                                    \
        const uint i = id / N, j = id - i * N; /* not %: Oclgrind lacks LLVM's freeze */ \
        __global const float *a = A + offA, *b = B + offB;                             \
        float acc = 0.0f;                                                              \
        for (uint k = 0; k < K; ++k)                                                   \
            acc += a[(TA) ? k * M + i : i * K + k] * b[(TB) ? j * K + k : k * N + j];  \
        __global float *y = C + offC + id;                                             \
        const float v = alpha * acc;                                                   \
        *y = beta == 0.0f ? v : v + beta * *y;                                         \
    }

GEMM_SMALL_KERNEL(gemm_small_nn, 0, 0)
GEMM_SMALL_KERNEL(gemm_small_nt, 0, 1)
GEMM_SMALL_KERNEL(gemm_small_tn, 1, 0)
GEMM_SMALL_KERNEL(gemm_small_tt, 1, 1)

/*
 * gemv_n: one work-group per output j, so a GPU reads each row of B with
 * all its lanes (coalesced). Items walk the row in chunks of GEMV_WG
 * consecutive k, each keeping a partial sum in increasing k; a halving tree
 * in local memory then adds the partials in a fixed order. The chunk count
 * is uniform and barriers sit outside any condition (PoCL mishandles some
 * barriers under branches). x (K), B (N, K) row-major, y (N).
 */
__kernel void gemv_n(const uint N, const uint K, const float alpha,
                     __global const float *x, const ulong offx,
                     __global const float *B, const ulong offB,
                     const float beta, __global float *y, const ulong offy)
{
    __local float part[GEMV_WG];
    const uint lid = get_local_id(0), j = get_group_id(0);
    __global const float *xv = x + offx;
    /* j < N under the documented launch; clamped so over-launch stays in bounds */
    __global const float *row = B + offB + (ulong)min(j, N - 1) * K;

    float acc = 0.0f;
    const uint chunks = K / GEMV_WG + (K % GEMV_WG != 0);
    for (uint c = 0; c < chunks; ++c) {
        const uint k = c * GEMV_WG + lid;
        if (k < K)
            acc += xv[k] * row[k];
    }
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = GEMV_WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && j < N) {
        const float v = alpha * part[0];
        y[offy + j] = beta == 0.0f ? v : v + beta * y[offy + j];
    }
}

/*
 * gemv_t: one work-item per output j; each k reads one row of B across the
 * work-items (coalesced), and x, shared by all, is staged through local
 * memory GEMV_WG values at a time. Sums run in increasing k. A whole chunk
 * in a work-group wholly inside N (both tests uniform) has no per-item
 * condition and a constant trip count, so it unrolls (and PoCL vectorises
 * across work-items); the last group and chunk take the guarded loop.
 * Items past N read nothing but reach every barrier. x (K), B (K, N), y (N).
 */
__kernel void gemv_t(const uint N, const uint K, const float alpha,
                     __global const float *x, const ulong offx,
                     __global const float *B, const ulong offB,
                     const float beta, __global float *y, const ulong offy)
{
    __local float xs[GEMV_WG];
    const uint lid = get_local_id(0), j = get_global_id(0);
    const bool whole_group = (get_group_id(0) + 1) * GEMV_WG <= N;
    __global const float *xv = x + offx;
    __global const float *col = B + offB + j; /* dereferenced only if j < N */
    const uint chunks = K / GEMV_WG + (K % GEMV_WG != 0);

    float acc = 0.0f;
    for (uint t = 0; t < chunks; ++t) {
        const uint k0 = t * GEMV_WG, n = min((uint)GEMV_WG, K - k0);
        if (lid < n)
            xs[lid] = xv[k0 + lid];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (whole_group && n == GEMV_WG) {
#pragma unroll
            for (uint kk = 0; kk < GEMV_WG; ++kk)
                acc += xs[kk] * col[(k0 + kk) * N];
        } else if (j < N) {
            for (uint kk = 0; kk < n; ++kk)
                acc += xs[kk] * col[(k0 + kk) * N];
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* xs is rewritten next chunk */
    }
    if (j < N) {
        const float v = alpha * acc;
        y[offy + j] = beta == 0.0f ? v : v + beta * y[offy + j];
    }
}
