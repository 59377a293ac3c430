// The smaller ops of the inference path: row broadcasts, fill and strided copy (the movement ops),
// LayerNorm, rotary embeddings, the small-M linear (decode GEMV) and the cross-entropy loss. Each is "same as
// ReferenceKernels' op of that name"; the semantics are in core's Kernels javadoc and MATH.md.
#include "common.cuh"

extern "C" __global__ void add_row(RowParams p) {
    PDL_ENTRY();
    GRID_STRIDE(i, p.rows * p.cols) p.out[i] = p.x[i] + p.row[i % p.cols];
}

// float4 groups with 32-bit index math when the rows are whole groups and aligned (Mamba-2's gate norm weight over
// L x E in a prefill); else element by element. CudaOps sizes the grid for n / 4 threads.
extern "C" __global__ void mul_row(RowParams p) {
    PDL_ENTRY();
    const long long n = p.rows * p.cols;
    if (p.cols % 4 == 0 && n < 0x7fffffffLL && ALIGNED16(p.x) && ALIGNED16(p.row) && ALIGNED16(p.out)) {
        const unsigned c4 = (unsigned)p.cols >> 2, n4 = (unsigned)(n >> 2);
        for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
            const float4 x = ((const float4*)p.x)[i], r = ((const float4*)p.row)[i % c4];
            float4 o;
            o.x = x.x * r.x; o.y = x.y * r.y; o.z = x.z * r.z; o.w = x.w * r.w;
            ((float4*)p.out)[i] = o;
        }
        return;
    }
    GRID_STRIDE(i, n) p.out[i] = p.x[i] * p.row[i % p.cols];
}

extern "C" __global__ void softplus_clamp(ClampParams p) {
    PDL_ENTRY();
    GRID_STRIDE(i, p.rows * p.cols) {
        float v = softplus_f(p.x[i] + (p.bias ? p.bias[i % p.cols] : 0.0f));
        p.out[i] = fminf(fmaxf(v, p.lo), p.hi);
    }
}

extern "C" __global__ void fill_bits(FillBitsParams p) {
    PDL_ENTRY();
    GRID_STRIDE(i, p.n) {
        switch (p.elem_bytes) {
            case 1: ((unsigned char*)p.out)[i] = (unsigned char)p.bits; break;
            case 2: ((unsigned short*)p.out)[i] = (unsigned short)p.bits; break;
            case 4: ((unsigned int*)p.out)[i] = (unsigned int)p.bits; break;
            default: ((unsigned long long*)p.out)[i] = (unsigned long long)p.bits; break;
        }
    }
}

#define COPY_ELEMENT(d, s)                                                                            \
    switch (p.elem_bytes) {                                                                           \
        case 1: ((unsigned char*)p.dst)[d] = ((const unsigned char*)p.src)[s]; break;                 \
        case 2: ((unsigned short*)p.dst)[d] = ((const unsigned short*)p.src)[s]; break;               \
        case 4: ((unsigned int*)p.dst)[d] = ((const unsigned int*)p.src)[s]; break;                   \
        default: ((unsigned long long*)p.dst)[d] = ((const unsigned long long*)p.src)[s]; break;      \
    }

// Rank ≤ 2 (a split of columns, rows gathered: the copies of a prefill) with fewer than 2^31 elements: one 32-bit
// division per element instead of the general path's four 64-bit ones.
extern "C" __global__ void copy_strided(CopyParams p) {
    PDL_ENTRY();
    if (p.size0 == 1 && p.size1 == 1 && p.count < 0x7fffffffLL && p.elem_bytes == 4 && p.ss3 == 1 && p.ds3 == 1
            && ((p.size3 | p.ss2 | p.ds2 | p.src_offset | p.dst_offset) & 3) == 0
            && ALIGNED16(p.src) && ALIGNED16(p.dst)) {   // rows of whole float4 groups: 16 bytes a thread
        const unsigned n4 = (unsigned)(p.count >> 2), c4 = (unsigned)(p.size3 >> 2);
        for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += gridDim.x * blockDim.x) {
            const unsigned r = i / c4, c = i - r * c4;
            ((float4*)p.dst)[(p.dst_offset + r * p.ds2) / 4 + c] = ((const float4*)p.src)[(p.src_offset + r * p.ss2) / 4 + c];
        }
        return;
    }
    if (p.size0 == 1 && p.size1 == 1 && p.count < 0x7fffffffLL) {
        const unsigned n = (unsigned)p.count, cols = (unsigned)p.size3;
        for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
            const unsigned i2 = i / cols, i3 = i - i2 * cols;
            const long long s = p.src_offset + i2 * p.ss2 + i3 * p.ss3;
            const long long d = p.dst_offset + i2 * p.ds2 + i3 * p.ds3;
            COPY_ELEMENT(d, s)
        }
        return;
    }
    GRID_STRIDE(i, p.count) {
        long long r = i;
        const long long i3 = r % p.size3; r /= p.size3;
        const long long i2 = r % p.size2; r /= p.size2;
        const long long i1 = r % p.size1; r /= p.size1;
        const long long i0 = r;
        const long long s = p.src_offset + i0 * p.ss0 + i1 * p.ss1 + i2 * p.ss2 + i3 * p.ss3;
        const long long d = p.dst_offset + i0 * p.ds0 + i1 * p.ds1 + i2 * p.ds2 + i3 * p.ds3;
        COPY_ELEMENT(d, s)
    }
}

// One block per row: the mean, then the biased variance around it (two passes, as the reference: no E[x^2] - E[x]^2
// cancellation), then the affine map.
extern "C" __global__ void layernorm(LayerNormParams p) {
    PDL_ENTRY();
    const int row = blockIdx.x;
    if (row >= p.rows) return;
    const float* x = p.x + (long long)row * p.dim;
    float* out = p.out + (long long)row * p.dim;
    float s = 0.0f;
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) s += x[j];
    const float mean = block_sum(s) / (float)p.dim;
    __syncthreads();   // block_sum's shared partials are reused by the next sum
    float v = 0.0f;
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) { const float d = x[j] - mean; v += d * d; }
    const float inv = rsqrtf(block_sum(v) / (float)p.dim + p.eps);
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x)
        out[j] = (x[j] - mean) * inv * p.w[j] + (p.b ? p.b[j] : 0.0f);
}

// Thread per (b, t, h, j): j < r = rotary_dim / 2 rotates the pair (j, j + r); the others copy one pass-through dim
// (rotary_dim + j - r) of a partial rotary.
extern "C" __global__ void rotary(RotaryParams p) {
    PDL_ENTRY();
    const int r = p.rotary_dim / 2;
    const int per = r + (p.head_dim - p.rotary_dim);   // pairs, then pass-through dims
    const long long n = (long long)p.batch * p.tokens * p.heads * per;
    GRID_STRIDE(idx, n) {
        const int j = (int)(idx % per);
        const long long head = idx / per;                       // (b, t, h) flattened
        const int t = (int)((head / p.heads) % p.tokens);
        const float* x = p.x + head * p.head_dim;
        float* o = p.out + head * p.head_dim;
        if (j < r) {
            const long long at = (long long)(p.pos0 + t) * r + j;
            const float c = p.cos[at], s = p.sin[at], a = x[j], b = x[j + r];
            o[j] = a * c - b * s;
            o[j + r] = b * c + a * s;
        } else {
            const int d = p.rotary_dim + (j - r);
            o[d] = x[d];
        }
    }
}

// Small-M linear (decode): out (M, N) = x (M, K) . w^T + bias, M <= GEMV_MAX_M, the weight row widened from w_dtype
// once and used for every row of x. Bandwidth-bound on the weights, as decode is. A block is GEMV_WARPS warps;
// p.split warps (1, 2, 4 or 8) share one output column, so a layer with few columns (x_proj: R + 2N) still fills the
// GPU. When K is a multiple of 16 bytes' worth and the rows are 16-byte aligned, each lane reads 16 bytes of weights
// at a time (8 bf16/f16 or 4 f32), GEMV_UNROLL of them issued before any is used, so enough bytes are in flight to
// cover the memory latency; x is read as float4 (from L1/L2: it is small and shared by every column).
#define GEMV_MAX_M 8
#define GEMV_WARPS 8
#ifndef GEMV_UNROLL
#define GEMV_UNROLL 4          // 16-byte weight loads in flight per lane (MAMBA4J_CUDA_GEMV_UNROLL compiles another, to compare)
#endif
template <int MAXM>
__device__ __forceinline__ void gemv_fma(float (&acc)[MAXM], const GemvParams& p, int j, float w) {
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
        if (m < p.m) acc[m] = fmaf(p.x[(long long)m * p.k + j], w, acc[m]);
}

// One 16-byte chunk of weights (elements j0 ..) against the same columns of each row of x.
template <int MAXM>
__device__ __forceinline__ void gemv_chunk(float (&acc)[MAXM], const GemvParams& p, uint4 raw, int j0) {
    if (p.w_dtype == DTYPE_F32) {
        const float w0 = __uint_as_float(raw.x), w1 = __uint_as_float(raw.y), w2 = __uint_as_float(raw.z), w3 = __uint_as_float(raw.w);
#pragma unroll
        for (int m = 0; m < MAXM; ++m)
            if (m < p.m) {
                const float4 x = *(const float4*)(p.x + (long long)m * p.k + j0);
                acc[m] = fmaf(w0, x.x, fmaf(w1, x.y, fmaf(w2, x.z, fmaf(w3, x.w, acc[m]))));
            }
        return;
    }
    const bool bf = p.w_dtype == DTYPE_BF16;
    const unsigned int words[4] = {raw.x, raw.y, raw.z, raw.w};
    float w[8];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const unsigned short lo = (unsigned short)(words[q] & 0xffffu), hi = (unsigned short)(words[q] >> 16);
        w[2 * q] = bf ? bf16_to_f32(lo) : f16_to_f32(lo);
        w[2 * q + 1] = bf ? bf16_to_f32(hi) : f16_to_f32(hi);
    }
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
        if (m < p.m) {
            const float4 xa = *(const float4*)(p.x + (long long)m * p.k + j0);
            const float4 xb = *(const float4*)(p.x + (long long)m * p.k + j0 + 4);
            float a = acc[m];
            a = fmaf(w[0], xa.x, a); a = fmaf(w[1], xa.y, a); a = fmaf(w[2], xa.z, a); a = fmaf(w[3], xa.w, a);
            a = fmaf(w[4], xb.x, a); a = fmaf(w[5], xb.y, a); a = fmaf(w[6], xb.z, a); a = fmaf(w[7], xb.w, a);
            acc[m] = a;
        }
}

// The conv1d decode step of output column col (row 0) whose value is v, when it is one of the conv's channels
// (linear_rows_1_conv): the same arithmetic, in the same order, as conv1d.cu's causal_conv1d_step.
__device__ __forceinline__ void gemv_conv_step(const GemvParams& p, int col, float v) {
    const int c = col - p.conv_from, K = p.conv_width;
    if (c < 0 || c >= p.conv_channels) return;
    float* s = p.conv_state + (long long)c * K;
    float acc = p.conv_bias ? load_w(p.conv_bias, c, p.conv_w_dtype) : 0.0f;
    for (int k = 0; k < K; ++k) {
        const float u = k + 1 < K ? s[k + 1] : v;
        s[k] = u;
        acc = fmaf(u, load_w(p.conv_w, (long long)c * K + k, p.conv_w_dtype), acc);
    }
    p.conv_out[c] = p.conv_silu ? silu_f(acc) : acc;
}

// Output (m, col) of a GEMV: into out (M, N), or into the column part holding col (GemvParams' out1).
__device__ __forceinline__ void gemv_store(const GemvParams& p, int m, int col, float v) {
    if (p.out1 == nullptr) p.out[(long long)m * p.n + col] = v;
    else if (col < p.n0) p.out[(long long)m * p.n0 + col] = v;
    else if (col < p.n0 + p.n1) p.out1[(long long)m * p.n1 + (col - p.n0)] = v;
    else p.out2[(long long)m * (p.n - p.n0 - p.n1) + (col - p.n0 - p.n1)] = v;
}

// The body of the kernels; MAXM bounds the rows of x (registers scale with it: the batch-1 kernel keeps one
// accumulator, which leaves room for more resident warps and so more loads in flight). CONV: the conv step of the
// columns it covers (M = 1).
template <int MAXM, bool CONV = false>
__device__ __forceinline__ void gemv_rows(const GemvParams& p) {
    __shared__ float part[GEMV_WARPS][MAXM];
    const int wib = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int split = p.split;
    const int col = blockIdx.x * (GEMV_WARPS / split) + wib / split;   // this warp's output column
    const int sub = wib % split;                                       // and its share of K
    float acc[MAXM];
#pragma unroll
    for (int m = 0; m < MAXM; ++m) acc[m] = 0.0f;
    const long long row = (long long)col * p.k;
    const int esize = p.w_dtype == DTYPE_F32 ? 4 : 2, per = 16 / esize;
    const char* wrow = (const char*)p.w + row * esize;
    const bool vec = col < p.n && p.k % per == 0 && (((unsigned long long)wrow) & 15) == 0 && (((unsigned long long)p.x) & 15) == 0;
    const uint4* w4 = (const uint4*)wrow;
    const int chunks = p.k / per, stride = 32 * split;
    int c = sub * 32 + lane;
    // The first GEMV_UNROLL chunks of weights are requested before PDL_WAIT: no kernel writes weights, so under a
    // programmatic launch these loads overlap the end of the kernel before (the decode step's chain of small kernels).
    uint4 raw[GEMV_UNROLL];
#pragma unroll
    for (int u = 0; u < GEMV_UNROLL; ++u)
        if (vec && c + u * stride < chunks) raw[u] = __ldg(w4 + c + u * stride);
    PDL_ENTRY();
    if (vec) {
        // chunks c, c + stride, ... in order, GEMV_UNROLL loads in flight; the next group is requested after this one is used
        while (c + (GEMV_UNROLL - 1) * stride < chunks) {
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; ++u) gemv_chunk<MAXM>(acc, p, raw[u], (c + u * stride) * per);
            c += GEMV_UNROLL * stride;
#pragma unroll
            for (int u = 0; u < GEMV_UNROLL; ++u)
                if (c + u * stride < chunks) raw[u] = __ldg(w4 + c + u * stride);
        }
        // fewer than GEMV_UNROLL chunks left: those loaded are raw[0 ..] in order
#pragma unroll
        for (int u = 0; u < GEMV_UNROLL; ++u)
            if (c + u * stride < chunks) gemv_chunk<MAXM>(acc, p, raw[u], (c + u * stride) * per);
    } else if (col < p.n) {
        for (int j = sub * 32 + lane; j < p.k; j += 32 * split) gemv_fma<MAXM>(acc, p, j, load_w(p.w, row + j, p.w_dtype));
    }
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
        for (int o = 16; o > 0; o >>= 1) acc[m] += __shfl_xor_sync(FULL_MASK, acc[m], o);
    if (split > 1) {   // the column's warps add their partial sums in a fixed order
        if (lane == 0)
#pragma unroll
            for (int m = 0; m < MAXM; ++m) part[wib][m] = acc[m];
        __syncthreads();
        if (lane == 0 && sub == 0)
#pragma unroll
            for (int m = 0; m < MAXM; ++m) {
                float v = part[wib][m];
                for (int s = 1; s < split; ++s) v += part[wib + s][m];
                acc[m] = v;
            }
    }
    if (lane == 0 && sub == 0 && col < p.n)
#pragma unroll
        for (int m = 0; m < MAXM; ++m)
            if (m < p.m) {
                const float v = acc[m] + (p.bias ? p.bias[col] : 0.0f);
                gemv_store(p, m, col, v);
                if (CONV) gemv_conv_step(p, col, v);
            }
}

extern "C" __global__ void __launch_bounds__(32 * GEMV_WARPS) linear_rows(GemvParams p) { gemv_rows<GEMV_MAX_M>(p); }

// Batch 1 (decode of one sequence): the same with one row of x.
#ifndef GEMV_MIN_BLOCKS
#define GEMV_MIN_BLOCKS 1      // blocks a multiprocessor must hold (MAMBA4J_CUDA_GEMV_MIN_BLOCKS compiles another, to compare)
#endif
extern "C" __global__ void __launch_bounds__(32 * GEMV_WARPS, GEMV_MIN_BLOCKS) linear_rows_1(GemvParams p) { gemv_rows<1>(p); }

// Batch 1 with the conv1d step of a range of the output columns (in_proj then the conv of a Mamba block's decode step:
// one kernel instead of two).
extern "C" __global__ void __launch_bounds__(32 * GEMV_WARPS, GEMV_MIN_BLOCKS) linear_rows_1_conv(GemvParams p) { gemv_rows<1, true>(p); }

// Small M (2 .. GEMV_MAX_M rows, batched decode): as gemv_rows, but each warp computes GEMV_COLS adjacent output columns,
// so one read of x's rows serves GEMV_COLS weight rows. gemv_rows reads, per 16 bytes of weights, 32 bytes of every row
// of x from L1/L2 (16 bytes of x per weight byte at M = 8 in bf16), more than L1 delivers at the weights' HBM rate;
// here 4. Each column's sums run in gemv_rows' order (the same lanes, chunks in the same sequence, the same shuffles
// and split), so a row's output does not depend on how many rows share the call.
#define GEMV_COLS 4
#ifndef GEMV_COLS_UNROLL
#define GEMV_COLS_UNROLL 1     // groups of 16-byte loads (one per column) in flight per lane (1: 118 registers at sm_90; 2 spills)
#endif
template <int MAXM>
__device__ __forceinline__ void gemv_chunk_cols(float (&acc)[GEMV_COLS][MAXM], const GemvParams& p, const uint4 (&raw)[GEMV_COLS], int j0) {
    if (p.w_dtype == DTYPE_F32) {
#pragma unroll
        for (int m = 0; m < MAXM; ++m)
            if (m < p.m) {
                const float4 x = *(const float4*)(p.x + (long long)m * p.k + j0);
#pragma unroll
                for (int c = 0; c < GEMV_COLS; ++c)
                    acc[c][m] = fmaf(__uint_as_float(raw[c].x), x.x, fmaf(__uint_as_float(raw[c].y), x.y,
                                fmaf(__uint_as_float(raw[c].z), x.z, fmaf(__uint_as_float(raw[c].w), x.w, acc[c][m]))));
            }
        return;
    }
    const bool bf = p.w_dtype == DTYPE_BF16;
    float w[GEMV_COLS][8];
#pragma unroll
    for (int c = 0; c < GEMV_COLS; ++c) {
        const unsigned int words[4] = {raw[c].x, raw[c].y, raw[c].z, raw[c].w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const unsigned short lo = (unsigned short)(words[q] & 0xffffu), hi = (unsigned short)(words[q] >> 16);
            w[c][2 * q] = bf ? bf16_to_f32(lo) : f16_to_f32(lo);
            w[c][2 * q + 1] = bf ? bf16_to_f32(hi) : f16_to_f32(hi);
        }
    }
#pragma unroll
    for (int m = 0; m < MAXM; ++m)
        if (m < p.m) {
            const float4 xa = *(const float4*)(p.x + (long long)m * p.k + j0);
            const float4 xb = *(const float4*)(p.x + (long long)m * p.k + j0 + 4);
#pragma unroll
            for (int c = 0; c < GEMV_COLS; ++c) {
                float a = acc[c][m];
                a = fmaf(w[c][0], xa.x, a); a = fmaf(w[c][1], xa.y, a); a = fmaf(w[c][2], xa.z, a); a = fmaf(w[c][3], xa.w, a);
                a = fmaf(w[c][4], xb.x, a); a = fmaf(w[c][5], xb.y, a); a = fmaf(w[c][6], xb.z, a); a = fmaf(w[c][7], xb.w, a);
                acc[c][m] = a;
            }
        }
}

extern "C" __global__ void __launch_bounds__(32 * GEMV_WARPS) linear_rows_cols(GemvParams p) {
    constexpr int MAXM = GEMV_MAX_M;
    __shared__ float part[GEMV_WARPS][GEMV_COLS][MAXM];
    const int wib = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int split = p.split;
    const int col0 = (blockIdx.x * (GEMV_WARPS / split) + wib / split) * GEMV_COLS;   // this warp's first column
    const int sub = wib % split;
    float acc[GEMV_COLS][MAXM];
#pragma unroll
    for (int c = 0; c < GEMV_COLS; ++c)
#pragma unroll
        for (int m = 0; m < MAXM; ++m) acc[c][m] = 0.0f;
    const int esize = p.w_dtype == DTYPE_F32 ? 4 : 2, per = 16 / esize;
    const bool vec = col0 < p.n && p.k % per == 0 && (((unsigned long long)p.w) & 15) == 0 && (((unsigned long long)p.x) & 15) == 0;
    // columns past N read row N - 1 again (in bounds; their sums are not stored)
    const uint4* w4[GEMV_COLS];
#pragma unroll
    for (int c = 0; c < GEMV_COLS; ++c)
        w4[c] = (const uint4*)((const char*)p.w + (long long)min(col0 + c, p.n - 1) * p.k * esize);
    const int chunks = p.k / per, stride = 32 * split;
    int ch = sub * 32 + lane;
    uint4 raw[GEMV_COLS_UNROLL][GEMV_COLS];
#pragma unroll
    for (int u = 0; u < GEMV_COLS_UNROLL; ++u)
        if (vec && ch + u * stride < chunks)
#pragma unroll
            for (int c = 0; c < GEMV_COLS; ++c) raw[u][c] = __ldg(w4[c] + ch + u * stride);
    PDL_ENTRY();
    if (vec) {
        while (ch + (GEMV_COLS_UNROLL - 1) * stride < chunks) {
#pragma unroll
            for (int u = 0; u < GEMV_COLS_UNROLL; ++u) gemv_chunk_cols<MAXM>(acc, p, raw[u], (ch + u * stride) * per);
            ch += GEMV_COLS_UNROLL * stride;
#pragma unroll
            for (int u = 0; u < GEMV_COLS_UNROLL; ++u)
                if (ch + u * stride < chunks)
#pragma unroll
                    for (int c = 0; c < GEMV_COLS; ++c) raw[u][c] = __ldg(w4[c] + ch + u * stride);
        }
#pragma unroll
        for (int u = 0; u < GEMV_COLS_UNROLL; ++u)
            if (ch + u * stride < chunks) gemv_chunk_cols<MAXM>(acc, p, raw[u], (ch + u * stride) * per);
    } else {
#pragma unroll
        for (int c = 0; c < GEMV_COLS; ++c)
            if (col0 + c < p.n)
                for (int j = sub * 32 + lane; j < p.k; j += 32 * split)
                    gemv_fma<MAXM>(acc[c], p, j, load_w(p.w, (long long)(col0 + c) * p.k + j, p.w_dtype));
    }
#pragma unroll
    for (int c = 0; c < GEMV_COLS; ++c)
#pragma unroll
        for (int m = 0; m < MAXM; ++m)
            for (int o = 16; o > 0; o >>= 1) acc[c][m] += __shfl_xor_sync(FULL_MASK, acc[c][m], o);
    if (split > 1) {   // the columns' warps add their partial sums in a fixed order, as gemv_rows
        if (lane == 0)
#pragma unroll
            for (int c = 0; c < GEMV_COLS; ++c)
#pragma unroll
                for (int m = 0; m < MAXM; ++m) part[wib][c][m] = acc[c][m];
        __syncthreads();
        if (lane == 0 && sub == 0)
#pragma unroll
            for (int c = 0; c < GEMV_COLS; ++c)
#pragma unroll
                for (int m = 0; m < MAXM; ++m) {
                    float v = part[wib][c][m];
                    for (int s = 1; s < split; ++s) v += part[wib + s][c][m];
                    acc[c][m] = v;
                }
    }
    if (lane == 0 && sub == 0)
#pragma unroll
        for (int c = 0; c < GEMV_COLS; ++c)
            if (col0 + c < p.n)
#pragma unroll
                for (int m = 0; m < MAXM; ++m)
                    if (m < p.m) gemv_store(p, m, col0 + c, acc[c][m] + (p.bias ? p.bias[col0 + c] : 0.0f));
}

// Cross-entropy, step 1 (one block): count the rows whose target is not -100.
extern "C" __global__ void cross_entropy_count(CrossEntropyParams p) {
    PDL_ENTRY();
    float c = 0.0f;
    for (int i = threadIdx.x; i < p.rows; i += blockDim.x) c += p.targets[i] != -100 ? 1.0f : 0.0f;
    c = block_sum(c);
    if (threadIdx.x == 0) *p.count = (int)c;
}

// Step 2, one block per row: logsumexp, the row's negative log-likelihood (in double) and the gradient.
extern "C" __global__ void cross_entropy_rows(CrossEntropyParams p) {
    PDL_ENTRY();
    const int row = blockIdx.x;
    if (row >= p.rows) return;
    const float* x = p.logits + (long long)row * p.vocab;
    const int target = p.targets[row];
    __shared__ float smax[32];
    float m = -INFINITY;
    for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) m = fmaxf(m, x[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(FULL_MASK, m, o));
    if ((threadIdx.x & 31) == 0) smax[threadIdx.x >> 5] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) m = fmaxf(m, smax[w]);
    float s = 0.0f;
    for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) s += expf(x[j] - m);
    const float lse = m + logf(block_sum(s));
    if (threadIdx.x == 0) p.row_loss[row] = target == -100 ? 0.0 : (double)lse - (double)x[target];
    if (p.dlogits) {
        float* g = p.dlogits + (long long)row * p.vocab;
        const int count = *p.count;
        const float k = target == -100 || count == 0 ? 0.0f : p.scale / (float)count;
        for (int j = threadIdx.x; j < p.vocab; j += blockDim.x) g[j] = k * (expf(x[j] - lse) - (j == target ? 1.0f : 0.0f));
    }
}

// Step 3 (one block): the mean over the counted rows, summed in double.
extern "C" __global__ void cross_entropy_mean(CrossEntropyParams p) {
    PDL_ENTRY();
    __shared__ double part[1024];
    double s = 0.0;
    for (int i = threadIdx.x; i < p.rows; i += blockDim.x) s += p.row_loss[i];
    part[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < (int)blockDim.x; ++i) t += part[i];
        const int count = *p.count;
        const double mean = t / (double)count;   // NaN when every target is ignored (0/0), as torch's mean reduction
        if (p.loss_f64) *(double*)p.loss = mean; else *(float*)p.loss = (float)mean;
    }
}
