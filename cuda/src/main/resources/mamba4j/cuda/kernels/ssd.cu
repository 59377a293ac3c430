// The SSD scan of Mamba-2 / Discrete Mamba-2 by its recurrence (v1 of the lab): one warp per (b, h, p) row of the
// (P, N) state, lane k holding S[p, k + 32 r] in registers; per step the decay, the rank-1 input and the C read-out
// (a warp sum). Sequential in L, parallel over B·H·P warps; the warps of one head share the B/C rows through L1.
// The chunked form on tensor cores (intra-chunk products as GEMMs) is the next version; both must equal this.
#include "common.cuh"

#define SSD_WARPS 4
#define SSD_MAX_N 256
#define SSD_R (SSD_MAX_N / 32)

extern "C" __global__ void __launch_bounds__(32 * SSD_WARPS) ssd_scan(SsdParams p) {
    PDL_ENTRY();
    const int lane = threadIdx.x & 31;
    const long long w = (long long)blockIdx.x * SSD_WARPS + (threadIdx.x >> 5);   // (b, h, pp), pp fastest
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups, L = p.length;
    if (w >= (long long)p.batch * H * P) return;
    const int pp = (int)(w % P), h = (int)((w / P) % H), b = (int)(w / ((long long)P * H));
    const int g = h / (H / G);
    float S[SSD_R];
    float* st = p.state ? p.state + w * N : nullptr;   // (B, H, P, N): row w
#pragma unroll
    for (int r = 0; r < SSD_R; ++r) {
        const int n = lane + 32 * r;
        S[r] = st && n < N ? st[n] : 0.0f;
    }
    const float dskip = p.D ? p.D[h] : 0.0f;
    for (int t = 0; t < L; ++t) {
        const long long bt = (long long)b * L + t;
        const float decay = expf(p.logA[bt * H + h]);
        const float xv = p.x[(bt * H + h) * P + pp];
        const float u = (p.scale ? p.scale[bt * H + h] : 1.0f) * xv;
        const float* Bt = p.Bm + (bt * G + g) * N;
        const float* Ct = p.Cm + (bt * G + g) * N;
        float y = 0.0f;
#pragma unroll
        for (int r = 0; r < SSD_R; ++r) {
            const int n = lane + 32 * r;
            if (n < N) {
                S[r] = fmaf(decay, S[r], u * Bt[n]);
                y = fmaf(S[r], Ct[n], y);
            }
        }
        for (int o = 16; o > 0; o >>= 1) y += __shfl_xor_sync(FULL_MASK, y, o);
        if (lane == 0) p.out[(bt * H + h) * P + pp] = y + dskip * xv;
    }
    if (st) {
#pragma unroll
        for (int r = 0; r < SSD_R; ++r) {
            const int n = lane + 32 * r;
            if (n < N) st[n] = S[r];
        }
    }
}

// One decode step (L = 1, the state advanced in place) for N a multiple of 4 up to 128: lane k holds S[row, 4k .. 4k+3]
// and reads and writes them as one 16-byte access (the recurrence above has each lane load four 4-byte elements, 128
// bytes apart); each warp takes SSD_STEP_ROWS consecutive rows (b, h, p) of one state and loads all of them before
// using any, so more bytes are in flight per warp. At large batch this step is the decode's bandwidth: mamba2-1.3b
// keeps 96 MiB of f32 state per sequence, read and written every token. Pointers 16-byte aligned (CudaOps checks).
#define SSD_STEP_ROWS 2
extern "C" __global__ void __launch_bounds__(32 * SSD_WARPS) ssd_step(SsdParams p) {
    PDL_ENTRY();
    const int lane = threadIdx.x & 31;
    const int H = p.heads, P = p.head_dim, N = p.dstate, G = p.groups;
    const long long rows = (long long)p.batch * H * P;
    const long long w0 = ((long long)blockIdx.x * SSD_WARPS + (threadIdx.x >> 5)) * SSD_STEP_ROWS;
    const bool on = 4 * lane < N;
    float4 s[SSD_STEP_ROWS];
#pragma unroll
    for (int r = 0; r < SSD_STEP_ROWS; ++r)
        if (on && w0 + r < rows) s[r] = *(const float4*)(p.state + (w0 + r) * N + 4 * lane);
#pragma unroll
    for (int r = 0; r < SSD_STEP_ROWS; ++r) {
        const long long w = w0 + r;
        if (w >= rows) break;                           // the same for every lane of the warp
        const int pp = (int)(w % P), h = (int)((w / P) % H), b = (int)(w / ((long long)P * H));
        const int g = h / (H / G);
        const long long bh = (long long)b * H + h;
        float logA, dt;
        if (p.dt_raw) {   // Mamba-2's Δ in the step, in softplus_clamp's and mul_row's arithmetic
            dt = fminf(fmaxf(softplus_f(p.dt_raw[bh] + (p.dt_bias ? p.dt_bias[h] : 0.0f)), p.dt_lo), p.dt_hi);
            logA = dt * p.a[h];
            if (pp == 0 && lane == 0) {
                p.dt_out[bh] = dt;
                p.logA_out[bh] = logA;
            }
        } else {
            logA = p.logA[bh];
            dt = p.scale ? p.scale[bh] : 1.0f;
        }
        const float decay = expf(logA);
        const float xv = p.x[bh * P + pp];
        const float u = dt * xv;
        float y = 0.0f;
        if (on) {
            const float4 Bv = *(const float4*)(p.Bm + ((long long)b * G + g) * N + 4 * lane);
            const float4 Cv = *(const float4*)(p.Cm + ((long long)b * G + g) * N + 4 * lane);
            float4 v = s[r];
            v.x = fmaf(decay, v.x, u * Bv.x); v.y = fmaf(decay, v.y, u * Bv.y);
            v.z = fmaf(decay, v.z, u * Bv.z); v.w = fmaf(decay, v.w, u * Bv.w);
            y = fmaf(v.x, Cv.x, y); y = fmaf(v.y, Cv.y, y); y = fmaf(v.z, Cv.z, y); y = fmaf(v.w, Cv.w, y);
            *(float4*)(p.state + w * N + 4 * lane) = v;
        }
        for (int o = 16; o > 0; o >>= 1) y += __shfl_xor_sync(FULL_MASK, y, o);
        if (lane == 0) p.out[bh * P + pp] = y + (p.D ? p.D[h] : 0.0f) * xv;
    }
}
