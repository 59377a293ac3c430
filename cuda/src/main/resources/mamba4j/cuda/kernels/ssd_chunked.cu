// The SSD of Mamba-2 by chunks (the state space dual form): the same result as ssd.cu's recurrence up to float
// rounding, with the work of a chunk of Q steps done as small matrix products instead of Q dependent steps. Q is
// p.chunk, a multiple of the 64-step tile up to SSD_MAX_Q (the fused kernel, 6, takes Q = 64): a longer chunk writes
// fewer chunk states (B·chunks·H·N·P floats, the memory traffic of 2 and 3) for a longer causal product in 5. Per (b, h), with acum[t] = logA summed over the chunk's steps up to t (inclusive), u_s = scale_s x_s:
//   1. ssd_chunk_cumsum  acum (B, H, L), one thread per (b, chunk, h)
//   2. ssd_chunk_state   the chunk's own state  S_loc[n][p] = sum_s exp(acum[last] - acum[s]) u_s[p] B_s[n]
//   3. ssd_state_pass    S_start[c + 1] = exp(acum_c[last]) S_start[c] + S_loc[c] (S_start[0] = state or 0), written
//                        over S_loc in place; the final S_start[nchunks] is the state out
//   4. ssd_chunk_cb      cb[s][t] = C_t . B_s within each chunk, once per (b, chunk, group) for all its heads
//   5. ssd_chunk_scan    y_t[p] = exp(acum[t]) (C_t . S_start[:, p]) + sum_{s<=t} cb[s][t] exp(acum[t] - acum[s]) u_s[p]
//                        + D x_t[p]
// Decays are always exponentials of differences acum[t] - acum[s] <= 0 (logA <= 0), never exp(acum) divided, so
// nothing overflows. Everything is float32 with float32 accumulation.
//
// The products (2, 4, 5) share one pattern: a 64 x 64 output tile per block of 256 threads, both operands staged in
// shared memory "k-major" (row k holds the 64 values of the reduction index k) 64 values of k at a time, zero-padded
// past L, P and N, so odd shapes need no special cases in the products. Each thread accumulates a 4 x 4 register block on CUDA cores; compiled
// with MAMBA4J_SSD_TENSOR_TILES (CudaDevice passes it for MAMBA4J_CUDA_SSD_TC=1) on sm_80 and later, the tile is eight
// warps' tensor-core products instead, 3xTF32 (float32 accuracy; tf32.cuh), each warp a 16 x 32 block (slower than the
// CUDA-core tiles on an H100). With MAMBA4J_SSD_BF16_TILES (the module ssd_chunked_bf16.cu, CudaOps.ssdBf16Tiles) the
// same warps multiply bf16 operands (m16n8k16, float32 sums), staged as bf16 pairs along k: one conversion an element
// at staging, 12 shared loads and 4 mma a warp per 16 k (3xTF32: 48 loads, 96 conversions, 48 mma for the same); opt-in
// until it has run on a GPU (checked on the CPU emulator). ssd_tile_row/col say which element acc[i][j] holds.
#include "common.cuh"

#define SSD_Q 64              // the fused kernel's chunk length and the shortest (CudaOps.SSD_CHUNK)
#define SSD_MAX_Q 256         // the longest chunk of the five kernels (CudaOps.SSD_MAX_CHUNK)
#define SSD_T 64              // tile edge (CudaOps.SSD_TILE)
#define SSD_THREADS 256       // 16 x 16 threads, each a 4 x 4 block of the tile (CudaOps.SSD_CHUNK_THREADS)
#if defined(MAMBA4J_SSD_BF16_TILES) && (!defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800)
#define SSD_TENSOR_CORES 2    // bf16 operands (m16n8k16), float32 accumulation, staged as bf16 pairs
#define SSD_PITCH 72          // 32-bit words a row of k pairs: = 8 (mod 32), so a fragment's reads (rows q, columns g) hit 32 banks
#elif defined(MAMBA4J_SSD_TENSOR_TILES) && (!defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800)
#define SSD_TENSOR_CORES 1
#define SSD_PITCH 72          // shared row pitch: = 8 (mod 32), so a fragment's reads (rows q, columns g) hit 32 banks
#else
#define SSD_TENSOR_CORES 0
#define SSD_PITCH 68          // shared row pitch: a multiple of 4 (float4 rows) and 4 banks apart (transposed stores)
#endif
#define SSD_PASS_UNROLL 8     // chunk states loaded ahead by ssd_state_pass

static_assert(SSD_Q == SSD_T && SSD_MAX_Q % SSD_T == 0, "a chunk is a whole number of tiles of steps");
static_assert(SSD_THREADS == 256 && SSD_T == 64, "the staging and 4 x 4 thread blocks assume 256 threads and 64-wide tiles");

__device__ __forceinline__ int ssd_chunks(int L, int Q) { return (L + Q - 1) / Q; }
__device__ __forceinline__ int ssd_min(int a, int b) { return a < b ? a : b; }

#if SSD_TENSOR_CORES == 2
// The bf16 tiles (MAMBA4J_CUDA_SSD_BF16): a k-major operand is staged as bf16 pairs, word [k/2][c] holding rows k (low
// half) and k + 1 (high half) of column c, rounded once here (cvt.rn), so a fragment's two k of a register are one
// 32-bit shared load. ssd_stage: s[r/2][c] = (g[r][c], g[r + 1][c]) · rowScale; a warp reads 32 consecutive floats of
// two rows and writes 32 consecutive banks.
__device__ __forceinline__ void ssd_stage(float* s, const float* g, long long ld, int rows, int cols, const float* rowScale) {
    unsigned* w = reinterpret_cast<unsigned*>(s);
#pragma unroll 4
    for (int k = 0; k < SSD_T * SSD_T / 2 / SSD_THREADS; ++k) {
        const int idx = threadIdx.x + k * SSD_THREADS, kp = idx / SSD_T, c = idx % SSD_T, r = 2 * kp;
        float v0 = 0.0f, v1 = 0.0f;
        if (c < cols) {
            if (r < rows) v0 = g[r * ld + c] * (rowScale ? rowScale[r] : 1.0f);
            if (r + 1 < rows) v1 = g[(r + 1) * ld + c] * (rowScale ? rowScale[r + 1] : 1.0f);
        }
        w[kp * SSD_PITCH + c] = pack_bf16(v0, v1);
    }
}

// The transpose: s[c/2][r] = (g[r][c], g[r][c + 1]). A warp covers 4 pairs (one 32-byte sector) of 8 rows, and its
// writes (bank 8 c/2 + r mod 32) hit 32 distinct banks.
__device__ __forceinline__ void ssd_stage_t(float* s, const float* g, long long ld, int rows, int cols) {
    unsigned* w = reinterpret_cast<unsigned*>(s);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll 4
    for (int i = 0; i < SSD_T * SSD_T / 2 / SSD_THREADS; ++i) {
        const int bi = warp + (SSD_THREADS / 32) * i, cp = 4 * (bi & 7) + (lane & 3), r = 8 * (bi >> 3) + (lane >> 2), c = 2 * cp;
        float v0 = 0.0f, v1 = 0.0f;
        if (r < rows) {
            if (c < cols) v0 = g[r * ld + c];
            if (c + 1 < cols) v1 = g[r * ld + c + 1];
        }
        w[cp * SSD_PITCH + r] = pack_bf16(v0, v1);
    }
}
#else
// s[r][c] = g[r * ld + c] * (rowScale ? rowScale[r] : 1) for r < rows and c < cols, else 0 (r, c < 64). A warp reads
// 32 consecutive floats of one row (coalesced) and writes 32 consecutive banks.
__device__ __forceinline__ void ssd_stage(float* s, const float* g, long long ld, int rows, int cols, const float* rowScale) {
#pragma unroll 4
    for (int k = 0; k < SSD_T * SSD_T / SSD_THREADS; ++k) {
        const int idx = threadIdx.x + k * SSD_THREADS, r = idx / SSD_T, c = idx % SSD_T;
        float v = 0.0f;
        if (r < rows && c < cols) {
            v = g[r * ld + c];
            if (rowScale) v *= rowScale[r];
        }
        s[r * SSD_PITCH + c] = v;
    }
}

// The transpose: s[c][r] = g[r * ld + c] for r < rows and c < cols, else 0. A warp reads 4 rows x 8 consecutive floats
// (four whole 32-byte sectors) and, with the pitch of 68, writes 32 distinct banks (bank = 4 c + r mod 32); with the
// tensor cores' pitch of 72, 16 (a two-way conflict, once per tile, for conflict-free fragment reads many times over).
__device__ __forceinline__ void ssd_stage_t(float* s, const float* g, long long ld, int rows, int cols) {
    const int lane = threadIdx.x & 31, c = (lane & 7) + 8 * (threadIdx.x >> 5);   // 8 warps x 8 columns = 64
#pragma unroll 4
    for (int k = 0; k < SSD_T / 4; ++k) {
        const int r = (lane >> 3) + 4 * k;
        s[c * SSD_PITCH + r] = r < rows && c < cols ? g[r * ld + c] : 0.0f;
    }
}
#endif

#if SSD_TENSOR_CORES
// acc[i][j] += sum_{k < kcount} a[k][row] * b[k][col] (row, col = ssd_tile_row/col(i, j)): warp w owns rows
// [16 (w >> 1), +16) and columns [32 (w & 1), +32), four 16 x 8 tiles i, j the fragment's element. kcount is taken up
// to a multiple of 8: the staged rows past it are zero.
__device__ __forceinline__ int ssd_tile_row(int, int j) { return 16 * (threadIdx.x >> 6) + ((threadIdx.x & 31) >> 2) + 8 * (j >> 1); }
__device__ __forceinline__ int ssd_tile_col(int i, int j) { return 32 * ((threadIdx.x >> 5) & 1) + 8 * i + 2 * (threadIdx.x & 3) + (j & 1); }
// The k count a causal product (M[t][s] = 0 for s > t, rows t) needs for this thread's rows.
__device__ __forceinline__ int ssd_tile_causal_k() { return 16 * ((threadIdx.x >> 6) + 1); }

#if SSD_TENSOR_CORES == 2
// bf16 (MAMBA4J_CUDA_SSD_BF16): both operands staged as bf16 pairs along k (ssd_stage above), 16 k a step, one 32-bit
// shared load a register; kcount is taken up to a multiple of 16 (the staged rows past it are zero). bf16 inputs with
// float32 sums, as mamba_ssm's Triton SSD on a bf16 model: about 2^-9 relative a product.
__device__ __forceinline__ void ssd_tile_product(float (&acc)[4][4], const float* a, const float* b, int kcount) {
    const unsigned* a2 = reinterpret_cast<const unsigned*>(a);
    const unsigned* b2 = reinterpret_cast<const unsigned*>(b);
    const int lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    const int m0 = 16 * (threadIdx.x >> 6), c0 = 32 * ((threadIdx.x >> 5) & 1);
    for (int k0 = 0; k0 < kcount; k0 += 16) {
        const unsigned* ak = a2 + (k0 / 2 + q) * SSD_PITCH + m0 + g;   // A[g][2q..2q+1] = pair row k0/2 + q, column g
        const unsigned af[4] = {ak[0], ak[8], ak[4 * SSD_PITCH], ak[4 * SSD_PITCH + 8]};
        const unsigned* bk = b2 + (k0 / 2 + q) * SSD_PITCH + c0 + g;   // B_j[2q..2q+1][g] = pair row k0/2 + q, column 8 j + g
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const unsigned bf[2] = {bk[8 * j], bk[4 * SSD_PITCH + 8 * j]};
            mma_bf16(acc[j], af, bf);
        }
    }
}
#else
__device__ __forceinline__ void ssd_tile_product(float (&acc)[4][4], const float* a, const float* b, int kcount) {
    const int lane = threadIdx.x & 31, gq = lane >> 2, q = lane & 3;
    const int m0 = 16 * (threadIdx.x >> 6), c0 = 32 * ((threadIdx.x >> 5) & 1);
    float small[4][4] = {};
    for (int k0 = 0; k0 < kcount; k0 += 8)   // both operands k-major
        mma_3xtf32_k8(acc, small, a + (k0 + q) * SSD_PITCH + m0 + gq, 8, 4 * SSD_PITCH, b + (k0 + q) * SSD_PITCH + c0 + gq, SSD_PITCH);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += small[i][j];
}
#endif
#else
// acc[i][j] += sum_{k < kcount} a[k][4 ty + i] * b[k][4 tx + j] (tx = tid & 15, ty = tid >> 4): this thread's 4 x 4
// block of the 64 x 64 product. In a warp (16 tx x 2 ty) the a reads are 2 broadcast float4, the b reads 256 consecutive bytes.
__device__ __forceinline__ int ssd_tile_row(int i, int) { return 4 * (threadIdx.x >> 4) + i; }
__device__ __forceinline__ int ssd_tile_col(int, int j) { return 4 * (threadIdx.x & 15) + j; }
__device__ __forceinline__ int ssd_tile_causal_k() { return 4 * (threadIdx.x >> 4) + 4; }

__device__ __forceinline__ void ssd_tile_product(float (&acc)[4][4], const float* a, const float* b, int kcount) {
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll 8
    for (int k = 0; k < kcount; ++k) {
        const float4 av = *reinterpret_cast<const float4*>(a + k * SSD_PITCH + 4 * ty);
        const float4 bv = *reinterpret_cast<const float4*>(b + k * SSD_PITCH + 4 * tx);
        const float ar[4] = {av.x, av.y, av.z, av.w};
        const float br[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
}
#endif

__device__ __forceinline__ void ssd_zero(float (&acc)[4][4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
}

// 1. acum[b][h][t] = sum of logA[b, t', h] over t0 <= t' <= t, t0 the start of t's chunk. Thread per (b, chunk, h),
// h fastest (the logA reads of a warp are consecutive). Every later kernel reads these same values.
extern "C" __global__ void ssd_chunk_cumsum(SsdChunkParams p) {
    PDL_ENTRY();
    const int H = p.heads, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q);
    const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= (long long)p.batch * nc * H) return;
    const int h = (int)(i % H), c = (int)((i / H) % nc), b = (int)(i / ((long long)H * nc));
    const int t0 = c * Q, t1 = L - t0 < Q ? L : t0 + Q;
    float* acum = p.acum + ((long long)b * H + h) * L;
    float a = 0.0f;
    for (int t = t0; t < t1; ++t) {
        a += p.logA[((long long)b * L + t) * H + h];
        acum[t] = a;
    }
}

// 2. states[b][c][h][n][p] = sum_{s < len} w_s B[t0 + s][n] x[t0 + s][p], w_s = exp(acum[len - 1] - acum[s]) scale_s.
// grid (B·H, chunks, N tiles · P tiles): one 64 (n) x 64 (p) tile per block, k = the chunk's steps, 64 at a time.
extern "C" __global__ void __launch_bounds__(SSD_THREADS) ssd_chunk_state(SsdChunkParams p) {
    PDL_ENTRY();
    __shared__ float4 sB4[SSD_T * SSD_PITCH / 4], sX4[SSD_T * SSD_PITCH / 4];   // float4: 16-byte aligned rows
    __shared__ float sW[SSD_MAX_Q];
    float* sB = reinterpret_cast<float*>(sB4);   // [s][n]
    float* sX = reinterpret_cast<float*>(sX4);   // [s][p], times w_s
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q);
    const int h = (int)(blockIdx.x % H), b = (int)(blockIdx.x / H), c = blockIdx.y, g = h / (H / G);
    const int nTiles = (N + SSD_T - 1) / SSD_T, n0 = (int)(blockIdx.z % nTiles) * SSD_T, p0 = (int)(blockIdx.z / nTiles) * SSD_T;
    const int t0 = c * Q, len = ssd_min(L - t0, Q);
    const int tid = threadIdx.x;
    const float* acum = p.acum + ((long long)b * H + h) * L + t0;
    for (int s = tid; s < len; s += SSD_THREADS) {
        float w = expf(acum[len - 1] - acum[s]);
        if (p.scale) w *= p.scale[((long long)b * L + t0 + s) * H + h];
        sW[s] = w;
    }
    float acc[4][4];
    ssd_zero(acc);
    for (int s0 = 0; s0 < len; s0 += SSD_T) {
        const int rows = ssd_min(len - s0, SSD_T);
        __syncthreads();   // sW is written; the previous block of steps' readers are done
        ssd_stage(sB, p.Bm + (((long long)b * L + t0 + s0) * G + g) * N + n0, (long long)G * N, rows, N - n0, nullptr);
        ssd_stage(sX, p.x + (((long long)b * L + t0 + s0) * H + h) * P + p0, (long long)H * P, rows, P - p0, sW + s0);
        __syncthreads();
        ssd_tile_product(acc, sB, sX, rows);   // rows n - n0, columns p - p0
    }
    float* dst = p.states + (((long long)b * nc + c) * H + h) * ((long long)N * P);
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = n0 + ssd_tile_row(i, j), pp = p0 + ssd_tile_col(i, j);
            if (n < N && pp < P) dst[(long long)n * P + pp] = acc[i][j];
        }
}

// 3. Thread per (b, h, n, p), p fastest (the chunk-state rows are coalesced), sequential over the chunks: each slot
// of states is read (the chunk's own state) and overwritten with the state entering that chunk. The reads do not
// depend on the running state, so SSD_PASS_UNROLL of them are issued ahead.
extern "C" __global__ void ssd_state_pass(SsdChunkParams p) {
    PDL_ENTRY();
    const int H = p.heads, P = p.head_dim, N = p.dstate, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q);
    const long long per = (long long)N * P;
    const long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= (long long)p.batch * H * per) return;
    const long long bh = i / per, e = i % per;   // bh = b·H + h; e = n·P + p
    const int b = (int)(bh / H), h = (int)(bh % H), n = (int)(e / P), pp = (int)(e % P);
    float* st = p.state ? p.state + (bh * P + pp) * N + n : nullptr;   // state is (B, H, P, N)
    const float* acum = p.acum + bh * L;
    float* slot0 = p.states + ((long long)b * nc * H + h) * per + e;   // chunk c at slot0 + c·H·per
    const long long cstride = (long long)H * per;
    float s = st ? *st : 0.0f;
    for (int c0 = 0; c0 < nc; c0 += SSD_PASS_UNROLL) {
        float loc[SSD_PASS_UNROLL], decay[SSD_PASS_UNROLL];
#pragma unroll
        for (int k = 0; k < SSD_PASS_UNROLL; ++k) {
            const int c = c0 + k;
            loc[k] = 0.0f;
            decay[k] = 1.0f;
            if (c < nc) {
                const int last = ssd_min(L, c * Q + Q) - 1;
                loc[k] = slot0[c * cstride];
                decay[k] = expf(acum[last]);
            }
        }
#pragma unroll
        for (int k = 0; k < SSD_PASS_UNROLL; ++k) {
            const int c = c0 + k;
            if (c < nc) {
                slot0[c * cstride] = s;
                s = fmaf(decay[k], s, loc[k]);
            }
        }
    }
    if (st) *st = s;
}

// 2+3. ssd_state_walk replaces 2 and 3 (MAMBA4J_CUDA_SSD_WALK=1): one block per (b, h, 64 x 64 tile of the state)
// walks the chunks in order with its tile of the running state in registers, writing the state entering each chunk
// (what 5 reads) and adding the chunk's own (2's product) to it; the chunks' own states never reach memory, so the
// chunk states are written once and read once (2 and 3 write, read, write and read them). grid (B·H, N tiles · P tiles).
extern "C" __global__ void __launch_bounds__(SSD_THREADS, 2) ssd_state_walk(SsdChunkParams p) {
    PDL_ENTRY();
    __shared__ float4 sB4[SSD_T * SSD_PITCH / 4], sX4[SSD_T * SSD_PITCH / 4];
    __shared__ float sW[SSD_MAX_Q];
    float* sB = reinterpret_cast<float*>(sB4);   // [s][n]
    float* sX = reinterpret_cast<float*>(sX4);   // [s][p], times w_s
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q);
    const int h = (int)(blockIdx.x % H), b = (int)(blockIdx.x / H), g = h / (H / G);
    const int nTiles = (N + SSD_T - 1) / SSD_T, n0 = (int)(blockIdx.y % nTiles) * SSD_T, p0 = (int)(blockIdx.y / nTiles) * SSD_T;
    const int tid = threadIdx.x;
    const long long bh = (long long)b * H + h;
    const float* acum = p.acum + bh * L;
    float* st = p.state ? p.state + bh * P * N : nullptr;   // (P, N)
    float run[4][4];   // the running state at (n, p) = (n0 + ssd_tile_row, p0 + ssd_tile_col)
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int n = n0 + ssd_tile_row(i, j), pp = p0 + ssd_tile_col(i, j);
            run[i][j] = st && n < N && pp < P ? st[(long long)pp * N + n] : 0.0f;
        }
    for (int c = 0; c < nc; ++c) {
        const int t0 = c * Q, len = ssd_min(L - t0, Q);
        float* dst = p.states + (((long long)b * nc + c) * H + h) * ((long long)N * P);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {   // the state entering chunk c
                const int n = n0 + ssd_tile_row(i, j), pp = p0 + ssd_tile_col(i, j);
                if (n < N && pp < P) dst[(long long)n * P + pp] = run[i][j];
            }
        __syncthreads();   // the previous chunk's readers of sW, sB, sX are done
        for (int s = tid; s < len; s += SSD_THREADS) {
            float w = expf(acum[t0 + len - 1] - acum[t0 + s]);
            if (p.scale) w *= p.scale[((long long)b * L + t0 + s) * H + h];
            sW[s] = w;
        }
        float local[4][4];
        ssd_zero(local);
        const float* Bc = p.Bm + (((long long)b * L + t0) * G + g) * N + n0;   // this chunk's B rows, x rows
        const float* Xc = p.x + (((long long)b * L + t0) * H + h) * P + p0;
        for (int s0 = 0; s0 < len; s0 += SSD_T) {
            const int rows = ssd_min(len - s0, SSD_T);
            __syncthreads();           // sW is written; the previous block of steps' readers are done
            ssd_stage(sB, Bc + (long long)s0 * G * N, (long long)G * N, rows, N - n0, nullptr);
            ssd_stage(sX, Xc + (long long)s0 * H * P, (long long)H * P, rows, P - p0, sW + s0);
            __syncthreads();
            ssd_tile_product(local, sB, sX, rows);
        }
        const float decay = expf(acum[t0 + len - 1]);
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) run[i][j] = fmaf(decay, run[i][j], local[i][j]);
    }
    if (st) {
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int n = n0 + ssd_tile_row(i, j), pp = p0 + ssd_tile_col(i, j);
                if (n < N && pp < P) st[(long long)pp * N + n] = run[i][j];
            }
    }
}

// 4. cb[b][c][g][s][t] = C[t0 + t] . B[t0 + s] within a chunk (Q x Q, row pitch Q; zero past the chunk's end).
// grid (B·G, chunks, (Q/64)^2): one 64 x 64 tile (steps s in tile si, t in tile ti) per block, k = the state index n
// in tiles of 64 (B and C staged transposed, [n][step]); tiles with si > ti are never read (5 is causal) and skipped.
extern "C" __global__ void __launch_bounds__(SSD_THREADS) ssd_chunk_cb(SsdChunkParams p) {
    PDL_ENTRY();
    __shared__ float4 sB4[SSD_T * SSD_PITCH / 4], sC4[SSD_T * SSD_PITCH / 4];
    float* sB = reinterpret_cast<float*>(sB4);   // [n][s]
    float* sC = reinterpret_cast<float*>(sC4);   // [n][t]
    const int N = p.dstate, G = p.groups, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q), tq = Q / SSD_T;
    const int g = (int)(blockIdx.x % G), b = (int)(blockIdx.x / G), c = blockIdx.y;
    const int si = (int)blockIdx.z / tq, ti = (int)blockIdx.z % tq;
    const int t0 = c * Q, len = ssd_min(L - t0, Q);
    if (si > ti || SSD_T * ti >= len) return;   // the whole block: no barrier is skipped by some threads only
    const long long ld = (long long)G * N, row0 = (((long long)b * L + t0) * G + g) * N;
    const float* Bs = p.Bm + row0 + SSD_T * si * ld;   // steps s of tile si
    const float* Ct = p.Cm + row0 + SSD_T * ti * ld;   // steps t of tile ti
    const int sRows = len - SSD_T * si, tRows = len - SSD_T * ti;
    float acc[4][4];
    ssd_zero(acc);
    for (int n0 = 0; n0 < N; n0 += SSD_T) {
        __syncthreads();   // the previous tile's readers are done
        ssd_stage_t(sB, Bs + n0, ld, sRows, N - n0);
        ssd_stage_t(sC, Ct + n0, ld, tRows, N - n0);
        __syncthreads();
        ssd_tile_product(acc, sB, sC, ssd_min(N - n0, SSD_T));   // rows s, columns t
    }
    float* dst = p.cb + (((long long)b * nc + c) * G + g) * ((long long)Q * Q) + (long long)SSD_T * si * Q + SSD_T * ti;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) dst[ssd_tile_row(i, j) * Q + ssd_tile_col(i, j)] = acc[i][j];
}

// 5. out[b, t0 + t, h, p] for 64 steps t (tile ti of the chunk) and 64 columns p: grid (B·H, chunks, Q/64 · P tiles),
// a 64 (t) x 64 (p) tile per block.
//   part 1: acc = C (t, n) . S_start (n, p), k = n in tiles of 64, then row t times exp(acum[t]);
//   part 2: acc += M (t, s) . x (s, p) over the chunk's steps s <= t, 64 at a time (the tiles si <= ti; causal in the
//           last), M[t][s] = cb[s][t] exp(acum[t] - acum[s]) scale_s for s <= t (else 0);
//   then + D x_t[p].
extern "C" __global__ void __launch_bounds__(SSD_THREADS) ssd_chunk_scan(SsdChunkParams p) {
    PDL_ENTRY();
    __shared__ float4 sA4[SSD_T * SSD_PITCH / 4], sB4[SSD_T * SSD_PITCH / 4];
    __shared__ float sAcum[SSD_MAX_Q], sScale[SSD_MAX_Q];
    float* sA = reinterpret_cast<float*>(sA4);   // part 1: C^T [n][t]; part 2: M^T [s][t]
    float* sB = reinterpret_cast<float*>(sB4);   // part 1: S_start [n][p]; part 2: x [s][p]
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length, Q = p.chunk, nc = ssd_chunks(L, Q), tq = Q / SSD_T;
    const int h = (int)(blockIdx.x % H), b = (int)(blockIdx.x / H), c = blockIdx.y, g = h / (H / G);
    const int ti = (int)blockIdx.z % tq, p0 = (int)blockIdx.z / tq * SSD_T;
    const int t0 = c * Q, len = ssd_min(L - t0, Q), u0 = SSD_T * ti, ulen = ssd_min(len - u0, SSD_T);   // this tile: steps u0 + t
    if (ulen <= 0) return;   // past the last chunk's end: the whole block
    const int tid = threadIdx.x;
    for (int s = tid; s < u0 + SSD_T; s += SSD_THREADS) {   // steps 0 .. the tile's end
        const bool in = s < len;
        sAcum[s] = in ? p.acum[((long long)b * H + h) * L + t0 + s] : 0.0f;
        sScale[s] = in && p.scale ? p.scale[((long long)b * L + t0 + s) * H + h] : 1.0f;
    }
    float acc[4][4];
    ssd_zero(acc);
    // part 1: the state entering the chunk, read out by C_t and decayed to t
    const float* Cg = p.Cm + (((long long)b * L + t0 + u0) * G + g) * N;
    const float* Sg = p.states + (((long long)b * nc + c) * H + h) * ((long long)N * P) + p0;
    for (int n0 = 0; n0 < N; n0 += SSD_T) {
        __syncthreads();   // the previous tile's readers are done (the first time: sAcum is written)
        ssd_stage_t(sA, Cg + n0, (long long)G * N, ulen, N - n0);
        ssd_stage(sB, Sg + (long long)n0 * P, P, N - n0, P - p0, nullptr);
        __syncthreads();
        ssd_tile_product(acc, sA, sB, ssd_min(N - n0, SSD_T));   // rows t, columns p - p0
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] *= expf(sAcum[u0 + ssd_tile_row(i, j)]);   // acum <= 0: at most 1
    // part 2: the chunk's own inputs, through the causal, decayed C.B matrix, one tile of 64 steps s at a time
    const float* cb = p.cb + (((long long)b * nc + c) * G + g) * ((long long)Q * Q) + u0;
    for (int si = 0; si <= ti; ++si) {
        const int s0 = SSD_T * si, slen = ssd_min(len - s0, SSD_T);
        __syncthreads();   // the previous products' readers are done with sA and sB
        auto m = [&](int s, int t) {   // M[t][s] of this block of steps
            return s0 + s <= u0 + t && t < ulen && s < slen ? cb[(long long)(s0 + s) * Q + t] * expf(sAcum[u0 + t] - sAcum[s0 + s]) * sScale[s0 + s] : 0.0f;
        };
#if SSD_TENSOR_CORES == 2
#pragma unroll 4
        for (int k = 0; k < SSD_T * SSD_T / 2 / SSD_THREADS; ++k) {   // as bf16 pairs of s (ssd_stage's layout)
            const int idx = tid + k * SSD_THREADS, sp = idx / SSD_T, t = idx % SSD_T;
            reinterpret_cast<unsigned*>(sA)[sp * SSD_PITCH + t] = pack_bf16(m(2 * sp, t), m(2 * sp + 1, t));
        }
#else
#pragma unroll 4
        for (int k = 0; k < SSD_T * SSD_T / SSD_THREADS; ++k) {
            const int idx = tid + k * SSD_THREADS, s = idx / SSD_T, t = idx % SSD_T;
            sA[s * SSD_PITCH + t] = m(s, t);
        }
#endif
        ssd_stage(sB, p.x + (((long long)b * L + t0 + s0) * H + h) * P + p0, (long long)H * P, slen, P - p0, nullptr);
        __syncthreads();
        ssd_tile_product(acc, sA, sB, si < ti ? SSD_T : ssd_tile_causal_k());   // in the last, rows t see s <= t only
    }
    const float dskip = p.D ? p.D[h] : 0.0f;   // sB holds x of this tile's own steps (si = ti); in bf16 tiles, rounded: read x itself
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int t = ssd_tile_row(i, j), pp = ssd_tile_col(i, j);
            const long long o = (((long long)b * L + t0 + u0 + t) * H + h) * P + p0 + pp;
#if SSD_TENSOR_CORES == 2
            if (t < ulen && p0 + pp < P) p.out[o] = fmaf(dskip, p.x[o], acc[i][j]);
#else
            if (t < ulen && p0 + pp < P) p.out[o] = fmaf(dskip, sB[t * SSD_PITCH + pp], acc[i][j]);
#endif
        }
}

// ==================================================================================================== fused, tensor cores
// 6. ssd_chunk_fused replaces 2, 3 and 5 (after 1 and 4) where the state fits on chip (N <= 128): one block per
// (b, h, 32 columns p) walks the chunks in order with its slice of the state S (N x 32) in registers, so no chunk state
// ever reaches memory (the three-kernel path writes and reads B·chunks·H·N·P floats four times: 2 GB a layer of
// mamba2-1.3b at 16k). Per chunk, all three products run on tensor cores (mma_3xtf32: float32 accuracy):
//   y    = diag(exp(acum_t)) C (t, n) · S_start (n, p)  +  M (t, s) · x (s, p)  +  D x       (M as in 5, part 2)
//   S    = exp(acum_last) S + (B diag(w))^T (n, s) · x (s, p)                                  (w as in 2)
// Warps: for y, warp w owns rows t in [16 (w >> 1), +16) and columns p in [16 (w & 1), +16) (two 16 x 8 tiles); for the
// update, rows n in [16 w, +16) and all 32 columns (four tiles). The operands are staged in dynamic shared memory once
// per chunk, C and B rows pre-scaled by their decays; pitches make every fragment read hit 32 distinct banks: A
// fragments read rows g and columns q (pitch = 4 mod 32), B fragments rows q and columns g (pitch = 8 mod 32).
#define SSDF_P 32            // columns p per block (CudaOps.SSD_FUSED_P)
#define SSDF_THREADS 256     // 8 warps (CudaOps.SSD_FUSED_THREADS)
#define SSDF_MAX_N 128       // the state rows the 8 warps' update tiles cover (CudaOps.SSD_FUSED_MAX_N)
#define SSDF_XP 40           // pitch of x [s][p] and S [n][p] (B operands)
#define SSDF_MP 68           // pitch of M [t][s] (A operand)

static_assert(SSDF_THREADS == 256 && SSDF_P == 32 && SSD_Q == 64, "the warp tiling assumes 8 warps, 32 columns, 64 steps");
static_assert(SSDF_MAX_N == 16 * (SSDF_THREADS / 32), "each warp updates 16 state rows");

// Shared floats of one block (CudaOps.ssdFusedSharedBytes mirrors it): C [64][pc], B [64][pb], x [64][XP],
// S [N16][XP], M [64][MP], and four per-step vectors of 64.
__device__ __forceinline__ int ssdf_pitch_c(int N) { return (N + 31) / 32 * 32 + 4; }
__device__ __forceinline__ int ssdf_pitch_b(int N) { return (N + 31) / 32 * 32 + 8; }

// One chunk's operands as this thread loads them, a chunk ahead: the loads of chunk c + 1 are issued before chunk c's
// products and consumed after them, so their latency hides behind the tensor-core work (a block walks 256 chunks at
// 16k steps; loads waited for one by one cost it ~17 µs a chunk). Element i of each is float4 number
// tid + SSDF_THREADS·i of its tile: C and B rows (t, 4 n), x rows (s, 4 p), cb rows (s, 4 t); zero past the chunk.
struct SsdfAhead {
    float4 c[8], b[8], x[2], cb[4];
    float acum, last, scale;   // threads below 64: step tid's
};

__device__ __forceinline__ void ssdf_load(SsdfAhead& a, const SsdChunkParams& p, int b, int h, int g, int p0, int c) {
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length, nc = ssd_chunks(L, SSD_Q), tid = threadIdx.x;
    const int t0 = c * SSD_Q, len = L - t0 < SSD_Q ? L - t0 : SSD_Q, q16 = (N + 15) / 16 * 4;
    const float4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
    const long long ldBC = (long long)G * N, row0 = (((long long)b * L + t0) * G + g) * N;
#pragma unroll
    for (int k = 0; k < 8; ++k) {   // 64 rows x N / 4 <= 2048 float4s
        const int i = tid + SSDF_THREADS * k, t = i / q16, n = (i - t * q16) * 4;
        const bool in = t < len && n < N;
        a.c[k] = in ? *reinterpret_cast<const float4*>(p.Cm + row0 + t * ldBC + n) : zero;
        a.b[k] = in ? *reinterpret_cast<const float4*>(p.Bm + row0 + t * ldBC + n) : zero;
    }
    const float* Xg = p.x + (((long long)b * L + t0) * H + h) * P + p0;
#pragma unroll
    for (int k = 0; k < 2; ++k) {   // 64 rows x 8 float4s
        const int i = tid + SSDF_THREADS * k, s = i >> 3, pp = (i & 7) * 4;
        a.x[k] = s < len && p0 + pp < P ? *reinterpret_cast<const float4*>(Xg + (long long)s * H * P + pp) : zero;
    }
    const float* cbg = p.cb + (((long long)b * nc + c) * G + g) * (SSD_Q * SSD_Q);
#pragma unroll
    for (int k = 0; k < 4; ++k) a.cb[k] = reinterpret_cast<const float4*>(cbg)[tid + SSDF_THREADS * k];   // 64 x 16 float4s
    if (tid < SSD_Q) {
        const float* acum = p.acum + ((long long)b * H + h) * L;
        const bool in = tid < len;
        a.acum = in ? acum[t0 + tid] : 0.0f;
        a.last = acum[t0 + len - 1];
        a.scale = in && p.scale ? p.scale[((long long)b * L + t0 + tid) * H + h] : 1.0f;
    }
}

extern "C" __global__ void __launch_bounds__(SSDF_THREADS) ssd_chunk_fused(SsdChunkParams p) {
    PDL_ENTRY();
    DYNAMIC_SHARED(float4, ssdf_smem);
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length, nc = ssd_chunks(L, SSD_Q);   // p.chunk = SSD_Q
    const int h = (int)(blockIdx.x % H), b = (int)(blockIdx.x / H), g = h / (H / G), p0 = blockIdx.y * SSDF_P;
    const int pc = ssdf_pitch_c(N), pb = ssdf_pitch_b(N), n16 = (N + 15) / 16 * 16, q16 = n16 / 4;
    float* sC = reinterpret_cast<float*>(ssdf_smem);   // [t][n]: C_t exp(acum_t)
    float* sB = sC + SSD_Q * pc;                        // [s][n]: B_s w_s, zero for n in [N, N16)
    float* sX = sB + SSD_Q * pb;                        // [s][p]
    float* sS = sX + SSD_Q * SSDF_XP;                   // [n][p]: the state entering the chunk
    float* sM = sS + n16 * SSDF_XP;                     // [t][s]
    float* sE = sM + SSD_Q * SSDF_MP;                   // exp(acum_t)
    float* sW = sE + SSD_Q;                             // exp(acum_last - acum_s) scale_s
    float* sAc = sW + SSD_Q;                            // acum_t
    float* sSc = sAc + SSD_Q;                           // scale_s
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, gq = lane >> 2, q = lane & 3;
    const int tt = warp >> 1, ph = warp & 1, nr = 16 * warp;
    const bool updates = nr < N;
    const long long bh = (long long)b * H + h;
    float* st = p.state ? p.state + bh * P * N : nullptr;   // this head's (P, N)
    // S[n][p] at n = nr + gq + 8 (e >> 1), p = p0 + 8 j + 2 q + (e & 1): the update's accumulator layout
    float sAcc[4][4];
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            const int n = nr + gq + 8 * (e >> 1), pp = p0 + 8 * j + 2 * q + (e & 1);
            sAcc[j][e] = st && n < N && pp < P ? st[(long long)pp * N + n] : 0.0f;
        }
    const float dskip = p.D ? p.D[h] : 0.0f;
    SsdfAhead ahead;
    ssdf_load(ahead, p, b, h, g, p0, 0);
    for (int c = 0; c < nc; ++c) {
        const int t0 = c * SSD_Q, len = L - t0 < SSD_Q ? L - t0 : SSD_Q;
        // The chunk's decays. Safe before the barrier: after the previous chunk's second barrier nothing reads them.
        if (tid < SSD_Q) {
            const bool in = tid < len;
            sAc[tid] = ahead.acum;
            sSc[tid] = ahead.scale;
            sE[tid] = in ? expf(ahead.acum) : 0.0f;
            sW[tid] = in ? expf(ahead.last - ahead.acum) * ahead.scale : 0.0f;
        }
        __syncthreads();   // the decays are visible, and every warp is done with the previous chunk's tiles
        const float decay = expf(sAc[len - 1]);   // read before the next barrier, after which sAc may change
#pragma unroll
        for (int k = 0; k < 8; ++k) {   // C rows times exp(acum_t), B rows times w_s
            const int i = tid + SSDF_THREADS * k, t = i / q16, n = (i - t * q16) * 4;
            if (t < SSD_Q) {
                const float e = sE[t], w = sW[t];
                const float4 cv = ahead.c[k], bv = ahead.b[k];
                *reinterpret_cast<float4*>(sC + t * pc + n) = {cv.x * e, cv.y * e, cv.z * e, cv.w * e};
                *reinterpret_cast<float4*>(sB + t * pb + n) = {bv.x * w, bv.y * w, bv.z * w, bv.w * w};
            }
        }
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int i = tid + SSDF_THREADS * k;
            *reinterpret_cast<float4*>(sX + (i >> 3) * SSDF_XP + (i & 7) * 4) = ahead.x[k];
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) {   // M[t][s] = cb[s][t] exp(acum_t - acum_s) scale_s for s <= t < len, else 0
            const int i = tid + SSDF_THREADS * k, s = i >> 4, t4 = (i & 15) * 4;
            const float v[4] = {ahead.cb[k].x, ahead.cb[k].y, ahead.cb[k].z, ahead.cb[k].w};
            const float as = sAc[s], ss = sSc[s];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int t = t4 + u;
                sM[t * SSDF_MP + s] = s <= t && t < len ? v[u] * expf(sAc[t] - as) * ss : 0.0f;
            }
        }
        if (updates) {
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) sS[(nr + gq + 8 * (e >> 1)) * SSDF_XP + 8 * j + 2 * q + (e & 1)] = sAcc[j][e];
        }
        __syncthreads();   // the chunk's tiles are staged
        if (c + 1 < nc) ssdf_load(ahead, p, b, h, g, p0, c + 1);   // in flight during this chunk's products
        if (16 * tt < len) {
            float acc[2][4] = {}, accSmall[2][4] = {};
            for (int k0 = 0; k0 < N; k0 += 8)   // the state entering the chunk, read out by C (row-major): k = n
                mma_3xtf32_k8(acc, accSmall, sC + (16 * tt + gq) * pc + k0 + q, 8 * pc, 4, sS + (k0 + q) * SSDF_XP + 16 * ph + gq, SSDF_XP);
            for (int k0 = 0; k0 < 16 * (tt + 1); k0 += 8)   // the chunk's own inputs through M (row-major): k = s <= t
                mma_3xtf32_k8(acc, accSmall, sM + (16 * tt + gq) * SSDF_MP + k0 + q, 8 * SSDF_MP, 4, sX + (k0 + q) * SSDF_XP + 16 * ph + gq, SSDF_XP);
#pragma unroll
            for (int j = 0; j < 2; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    const int t = 16 * tt + gq + 8 * (e >> 1), pp = 16 * ph + 8 * j + 2 * q + (e & 1);
                    if (t < len && p0 + pp < P)
                        p.out[(((long long)b * L + t0 + t) * H + h) * P + p0 + pp] = fmaf(dskip, sX[t * SSDF_XP + pp], acc[j][e] + accSmall[j][e]);
                }
        }
        if (updates) {   // S = exp(acum_last) S + (B diag(w))^T x: k = s
            float small[4][4] = {};
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) sAcc[j][e] *= decay;
            for (int k0 = 0; k0 < len; k0 += 8)   // B diag(w) transposed: k-major A
                mma_3xtf32_k8(sAcc, small, sB + (k0 + q) * pb + nr + gq, 8, 4 * pb, sX + (k0 + q) * SSDF_XP + gq, SSDF_XP);
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e) sAcc[j][e] += small[j][e];
        }
    }
    if (st && updates) {
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int n = nr + gq + 8 * (e >> 1), pp = p0 + 8 * j + 2 * q + (e & 1);
                if (n < N && pp < P) st[(long long)pp * N + n] = sAcc[j][e];
            }
    }
}
