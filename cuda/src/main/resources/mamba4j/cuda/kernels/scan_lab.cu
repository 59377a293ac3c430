// Lab: earlier versions of the selective scan (STYLE.md 11), kept so the GPU self-test validates and times them beside
// the promoted kernel in scan.cu. v1: 4 channels per block, B and C staged in shared memory, u / delta / z / out read
// and written directly from global memory (each lane its own time rows: many L1 wavefronts per access); scan.cu
// stages those tiles too, with 8 channels per block.
#include "common.cuh"

#define SCAN_ITEMS 8
#define SCAN_CHUNK (32 * SCAN_ITEMS)
#define SCAN_WARPS 4          // channels per block (block = 32 x SCAN_WARPS threads)
#define SCAN_NGROUP 16        // states staged in shared memory at a time
#define SCAN_IPITCH 33        // [item][lane] rows padded: lanes read consecutive banks
#define SCAN_JPITCH (SCAN_ITEMS * SCAN_IPITCH + 1)   // 265: the staging writes spread over the banks

// block (32, SCAN_WARPS): threadIdx.x = lane along time, threadIdx.y = channel within the group.
// grid (ceil(E / SCAN_WARPS), B). N <= 64 (lane n holds run0 = h[n], run1 = h[32 + n]).
// B and C of a chunk are shared by the block's channels: staged once per chunk in shared memory, SCAN_NGROUP states
// at a time, laid out [state][item][lane] so that the lanes' reads of one (state, item) hit consecutive banks.
extern "C" __global__ void __launch_bounds__(128) selective_scan_fwd_v1(ScanParams p) {
    PDL_ENTRY();
    __shared__ float sB[SCAN_NGROUP * SCAN_JPITCH], sC[SCAN_NGROUP * SCAN_JPITCH];
    const int lane = threadIdx.x, tid = threadIdx.y * 32 + threadIdx.x;
    const int e = blockIdx.x * blockDim.y + threadIdx.y;
    const int b = blockIdx.y;
    // a warp past E still helps stage B and C and meets every barrier; it computes nothing
    const bool active = e < p.channels;
    const int N = p.dstate, L = p.length;
    float run0 = 0.0f, run1 = 0.0f;
    if (active && p.state_in) {
        const float* s = p.state_in + ((long long)b * p.channels + e) * N;
        if (lane < N) run0 = s[lane];
        if (lane + 32 < N) run1 = s[lane + 32];
    }
    const float dskip = active && p.D ? p.D[e] : 0.0f;
    const float dbias = active && p.delta_bias ? p.delta_bias[e] : 0.0f;
    const float* Arow = p.A + (long long)(active ? e : 0) * N;
    const float* u = p.u + (long long)b * p.u_sb + e;
    const float* delta = p.delta + (long long)b * p.delta_sb + e;
    const float* Bm = p.Bm + (long long)b * p.b_sb;
    const float* Cm = p.Cm + (long long)b * p.c_sb;

    for (int c0 = 0; c0 < L; c0 += SCAN_CHUNK) {
        const int tb = c0 + lane * SCAN_ITEMS;
        float dt[SCAN_ITEMS], du[SCAN_ITEMS], y[SCAN_ITEMS];
#pragma unroll
        for (int i = 0; i < SCAN_ITEMS; ++i) {
            const int t = tb + i;
            if (active && t < L) {   // steps past L are the identity: dt = 0 gives decay 1 and input 0
                const float ut = u[(long long)t * p.u_st];
                float d = delta[(long long)t * p.delta_st] + dbias;   // bias before softplus, as mamba_ssm
                if (p.delta_softplus) d = softplus_f(d);
                dt[i] = d; du[i] = d * ut; y[i] = dskip * ut;
            } else {
                dt[i] = 0.0f; du[i] = 0.0f; y[i] = 0.0f;
            }
        }
        for (int n0 = 0; n0 < N; n0 += SCAN_NGROUP) {
            __syncthreads();   // the previous group's readers are done
            for (int idx = tid; idx < SCAN_NGROUP * SCAN_CHUNK; idx += 32 * SCAN_WARPS) {
                const int j = idx % SCAN_NGROUP, tt = idx / SCAN_NGROUP, t = c0 + tt, n = n0 + j;
                const int at = j * SCAN_JPITCH + (tt % SCAN_ITEMS) * SCAN_IPITCH + tt / SCAN_ITEMS;
                const bool in = t < L && n < N;
                sB[at] = in ? Bm[(long long)t * p.b_st + n] : 0.0f;
                sC[at] = in ? Cm[(long long)t * p.c_st + n] : 0.0f;
            }
            __syncthreads();
            if (!active) continue;
            const int nEnd = N - n0 < SCAN_NGROUP ? N - n0 : SCAN_NGROUP;
#pragma unroll 2
            for (int j = 0; j < nEnd; ++j) {
                const int n = n0 + j;
                const float a = Arow[n] * LOG2E_F;
                const float* sb = sB + j * SCAN_JPITCH + lane;
                const float* sc = sC + j * SCAN_JPITCH + lane;
                float dA[SCAN_ITEMS], bu[SCAN_ITEMS];
                float P = 1.0f, h = 0.0f;
#pragma unroll
                for (int i = 0; i < SCAN_ITEMS; ++i) {
                    dA[i] = exp2f(dt[i] * a);
                    bu[i] = du[i] * sb[i * SCAN_IPITCH];
                    h = fmaf(dA[i], h, bu[i]);
                    P *= dA[i];
                }
#pragma unroll
                for (int off = 1; off < 32; off <<= 1) {   // inclusive scan of (P, h) over the lanes
                    const float Pp = __shfl_up_sync(FULL_MASK, P, off), hp = __shfl_up_sync(FULL_MASK, h, off);
                    if (lane >= off) { h = fmaf(P, hp, h); P *= Pp; }
                }
                const float run = __shfl_sync(FULL_MASK, n < 32 ? run0 : run1, n & 31);
                const float hPrev = __shfl_up_sync(FULL_MASK, h, 1), PPrev = __shfl_up_sync(FULL_MASK, P, 1);
                const float carried = __shfl_sync(FULL_MASK, fmaf(P, run, h), 31);   // h at the end of the chunk
                if (lane == (n & 31)) { if (n < 32) run0 = carried; else run1 = carried; }
                float hs = lane == 0 ? run : fmaf(PPrev, run, hPrev);                // h before this lane's first step
#pragma unroll
                for (int i = 0; i < SCAN_ITEMS; ++i) {
                    hs = fmaf(dA[i], hs, bu[i]);
                    y[i] = fmaf(hs, sc[i * SCAN_IPITCH], y[i]);   // C is 0 past L: y there is never stored
                }
            }
        }
        if (!active) continue;
#pragma unroll
        for (int i = 0; i < SCAN_ITEMS; ++i) {
            const int t = tb + i;
            if (t < L) {
                float v = y[i];
                if (p.z) v *= silu_f(p.z[(long long)b * p.z_sb + (long long)t * p.z_st + e]);
                p.out[(long long)b * p.out_sb + (long long)t * p.out_st + e] = v;
            }
        }
    }
    if (active && p.state_out) {
        float* s = p.state_out + ((long long)b * p.channels + e) * N;
        if (lane < N) s[lane] = run0;
        if (lane + 32 < N) s[lane + 32] = run1;
    }
}
