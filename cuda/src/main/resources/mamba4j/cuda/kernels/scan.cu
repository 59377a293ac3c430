// The Mamba-1 selective scan, fused (mamba_ssm's selective_scan_fwd_kernel design, for channels-last tensors):
// one block per (channel group, batch); one warp per channel, its 32 lanes along time, each lane owning SCAN_ITEMS
// consecutive steps of a chunk of 32 * SCAN_ITEMS steps. For each state index n, a lane scans its steps locally,
// the (decay product, partial state) pairs are combined across the warp with an inclusive shuffle scan (the
// associative op of mamba_ssm's SSMScanOp: (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2)), seeded with the state
// carried from the previous chunk, and the lane rescans its steps from its true incoming state, accumulating
// y += h . C. The carried state of channel e lives in registers, lane n holding h[n]; the (L, N) states are never
// written to memory, only the final h_L (for decoding). Delta bias and softplus, the D skip and the z gate are fused.
#include "common.cuh"

#define SCAN_ITEMS 8
#define SCAN_CHUNK (32 * SCAN_ITEMS)
#define SCAN_WARPS 8          // channels per block (block = 32 x SCAN_WARPS threads): 8 floats = one 32-byte sector per row
#define SCAN_THREADS (32 * SCAN_WARPS)
#define SCAN_NGROUP 16        // states of B and C staged in shared memory at a time
#define SCAN_IPITCH 33        // B/C rows [item][lane] padded: the lanes read consecutive banks
#define SCAN_JPITCH (SCAN_ITEMS * SCAN_IPITCH + 1)   // 265: the staging writes spread over the banks
#define SCAN_XCH 9            // (B, L, E) tiles [item][lane][channel]: channel rows padded to 9 (lanes read distinct banks)
#define SCAN_XPITCH (32 * SCAN_XCH + 8)              // 296: four consecutive steps of one warp's staging write distinct banks

// Stages the chunk's (SCAN_CHUNK steps x SCAN_WARPS channels) tile of a channels-last tensor into shared memory with
// coalesced reads (a warp reads 4 rows of 8 consecutive channels), laid out [item][lane][channel] for the scan's reads.
__device__ __forceinline__ void scan_stage_in(float* sX, const float* g, long long st, int c0, int L, int e0, int E, int tid) {
#pragma unroll
    for (int k = 0; k < SCAN_CHUNK * SCAN_WARPS / SCAN_THREADS; ++k) {
        const int idx = tid + k * SCAN_THREADS, ch = idx % SCAN_WARPS, tt = idx / SCAN_WARPS, t = c0 + tt, e = e0 + ch;
        sX[(tt % SCAN_ITEMS) * SCAN_XPITCH + (tt / SCAN_ITEMS) * SCAN_XCH + ch] = (t < L && e < E) ? g[(long long)t * st + e] : 0.0f;
    }
}

// The reverse: the tile in shared memory written out with coalesced stores (steps past L and channels past E skipped).
__device__ __forceinline__ void scan_stage_out(const float* sX, float* g, long long st, int c0, int L, int e0, int E, int tid) {
#pragma unroll
    for (int k = 0; k < SCAN_CHUNK * SCAN_WARPS / SCAN_THREADS; ++k) {
        const int idx = tid + k * SCAN_THREADS, ch = idx % SCAN_WARPS, tt = idx / SCAN_WARPS, t = c0 + tt, e = e0 + ch;
        if (t < L && e < E) g[(long long)t * st + e] = sX[(tt % SCAN_ITEMS) * SCAN_XPITCH + (tt / SCAN_ITEMS) * SCAN_XCH + ch];
    }
}

// block (32, SCAN_WARPS): threadIdx.x = lane along time, threadIdx.y = channel within the group.
// grid (ceil(E / SCAN_WARPS), B). N <= 64 (lane n holds run0 = h[n], run1 = h[32 + n]).
// Every global access goes through shared memory: the (B, L, E) tiles of u, delta, z and out with coalesced rows,
// and B and C (shared by the block's channels) once per chunk, SCAN_NGROUP states at a time, laid out
// [state][item][lane] so that the lanes' reads of one (state, item) hit consecutive banks.
extern "C" __global__ void __launch_bounds__(SCAN_THREADS, 2) selective_scan_fwd(ScanParams p) {
    PDL_ENTRY();
    __shared__ float sB[SCAN_NGROUP * SCAN_JPITCH], sC[SCAN_NGROUP * SCAN_JPITCH], sX[SCAN_ITEMS * SCAN_XPITCH];
    const int lane = threadIdx.x, ch = threadIdx.y, tid = threadIdx.y * 32 + threadIdx.x;
    const int e0 = blockIdx.x * SCAN_WARPS, e = e0 + ch;
    const int b = blockIdx.y;
    // a warp past E stages and meets every barrier like the others; it computes on zeros and stores nothing
    const bool active = e < p.channels;
    const int N = p.dstate, L = p.length, E = p.channels;
    float run0 = 0.0f, run1 = 0.0f;
    if (active && p.state_in) {
        const float* s = p.state_in + ((long long)b * E + e) * N;
        if (lane < N) run0 = s[lane];
        if (lane + 32 < N) run1 = s[lane + 32];
    }
    const float dskip = active && p.D ? p.D[e] : 0.0f;
    const float dbias = active && p.delta_bias ? p.delta_bias[e] : 0.0f;
    const float* Arow = p.A + (long long)(active ? e : 0) * N;
    const float* ub = p.u + (long long)b * p.u_sb;
    const float* deltab = p.delta + (long long)b * p.delta_sb;
    const float* zb = p.z ? p.z + (long long)b * p.z_sb : nullptr;
    float* outb = p.out + (long long)b * p.out_sb;
    const float* Bm = p.Bm + (long long)b * p.b_sb;
    const float* Cm = p.Cm + (long long)b * p.c_sb;
    const float* mine = sX + lane * SCAN_XCH + ch;   // this thread's element of item i: mine[i * SCAN_XPITCH]

    for (int c0 = 0; c0 < L; c0 += SCAN_CHUNK) {
        const int tb = c0 + lane * SCAN_ITEMS;
        float dt[SCAN_ITEMS], du[SCAN_ITEMS], y[SCAN_ITEMS];
        __syncthreads();   // sX is free: the previous chunk's stores have read it
        scan_stage_in(sX, ub, p.u_st, c0, L, e0, E, tid);
        __syncthreads();
#pragma unroll
        for (int i = 0; i < SCAN_ITEMS; ++i) du[i] = mine[i * SCAN_XPITCH];   // u for now
        __syncthreads();
        scan_stage_in(sX, deltab, p.delta_st, c0, L, e0, E, tid);
        __syncthreads();
#pragma unroll
        for (int i = 0; i < SCAN_ITEMS; ++i) {
            const float ut = du[i];
            float d = mine[i * SCAN_XPITCH] + dbias;   // bias before softplus, as mamba_ssm
            if (p.delta_softplus) d = softplus_f(d);
            if (tb + i >= L) d = 0.0f;                 // steps past L are the identity: decay 1, input 0
            dt[i] = d; du[i] = d * ut; y[i] = dskip * ut;
        }
        for (int n0 = 0; n0 < N; n0 += SCAN_NGROUP) {
            __syncthreads();   // the previous group's readers are done
            for (int idx = tid; idx < SCAN_NGROUP * SCAN_CHUNK; idx += SCAN_THREADS) {
                const int j = idx % SCAN_NGROUP, tt = idx / SCAN_NGROUP, t = c0 + tt, n = n0 + j;
                const int at = j * SCAN_JPITCH + (tt % SCAN_ITEMS) * SCAN_IPITCH + tt / SCAN_ITEMS;
                const bool in = t < L && n < N;
                sB[at] = in ? Bm[(long long)t * p.b_st + n] : 0.0f;
                sC[at] = in ? Cm[(long long)t * p.c_st + n] : 0.0f;
            }
            __syncthreads();
            if (!active) continue;
            const int nEnd = N - n0 < SCAN_NGROUP ? N - n0 : SCAN_NGROUP;
#pragma unroll 1
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
        if (zb) {   // the gate y * silu(z)
            __syncthreads();
            scan_stage_in(sX, zb, p.z_st, c0, L, e0, E, tid);
            __syncthreads();
#pragma unroll
            for (int i = 0; i < SCAN_ITEMS; ++i) y[i] *= silu_f(mine[i * SCAN_XPITCH]);
        }
        __syncthreads();   // every thread has read sX
#pragma unroll
        for (int i = 0; i < SCAN_ITEMS; ++i) sX[i * SCAN_XPITCH + lane * SCAN_XCH + ch] = y[i];
        __syncthreads();
        scan_stage_out(sX, outb, p.out_st, c0, L, e0, E, tid);
    }
    if (active && p.state_out) {
        float* s = p.state_out + ((long long)b * E + e) * N;
        if (lane < N) s[lane] = run0;
        if (lane + 32 < N) s[lane + 32] = run1;
    }
}

// One decode step: a group of gs lanes per (b, e) (gs = N rounded up to a power of two, at most 32), lane j holding
// states n = j, j + gs, ...: the state row is read and written coalesced, every lane takes one exp2 per state it
// holds, and y is summed across the group by shuffles — instead of one thread walking the N states in turn, which
// left decode waiting on N dependent loads per channel with only B·E threads in flight. With many channels (large
// batches) the group shrinks until about 2^20 lanes are in flight: each lane's share of the per-channel work (the
// softplus, the loads of u, Δ, z) was redone by every lane of its group, and at batch 64 that, not memory, bounded
// the kernel (H200: 62 µs for 34 MB of state, 0.54 TB/s).
#ifndef SCAN_STEP_LANES
#define SCAN_STEP_LANES (1LL << 20)   // MAMBA4J_CUDA_SCAN_STEP_LANES compiles another, to compare (CudaOps.scanStepGroup mirrors it)
#endif
__device__ __forceinline__ int scan_step_group(int N, long long channels) {
    int gs = 1;
    while (gs < N && gs < 32) gs <<= 1;
    while (gs > 1 && channels * gs > SCAN_STEP_LANES) gs >>= 1;
    return gs;
}

// With dt_w (Mamba-1's dt_proj fused in, one kernel fewer per layer of a decode step), the group's lanes also split
// the R-long dot product delta = dt_low[b, :] . dt_w[e, :] (lane j takes r = j, j + gs, ...) and add it up by shuffles;
// the first DT_PREFETCH of each lane's weights are loaded before PDL_WAIT (no kernel writes weights).
#define DT_PREFETCH 8
extern "C" __global__ void selective_scan_step(ScanStepParams p) {
    const int N = p.dstate;
    const int total = p.batch * p.channels;
    const int gs = scan_step_group(N, total), lg = __ffs(gs) - 1;
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int idx = (int)(t >> lg);                   // (b, e); the whole group of a channel is inside one warp
    const int j = (int)(t & (gs - 1));
    const bool live = t < ((long long)total << lg);
    const int b = live ? idx / p.channels : 0, e = live ? idx - b * p.channels : 0;
    const int R = p.dt_rank;
    float wpre[DT_PREFETCH];
#pragma unroll
    for (int q = 0; q < DT_PREFETCH; ++q) {
        const int r = j + q * gs;
        wpre[q] = p.dt_w && live && r < R ? load_w(p.dt_w, (long long)e * R + r, p.dt_w_dtype) : 0.0f;
    }
    PDL_ENTRY();
    float dproj = 0.0f;
    if (p.dt_w) {   // uniform over the grid: every lane of a warp reaches the shuffles
        if (live) {
            const float* xl = p.dt_low + (long long)b * p.dt_sb;
#pragma unroll
            for (int q = 0; q < DT_PREFETCH; ++q)
                if (j + q * gs < R) dproj = fmaf(xl[j + q * gs], wpre[q], dproj);
            for (int r = j + DT_PREFETCH * gs; r < R; r += gs) dproj = fmaf(xl[r], load_w(p.dt_w, (long long)e * R + r, p.dt_w_dtype), dproj);
        }
        for (int o = gs >> 1; o > 0; o >>= 1) dproj += __shfl_xor_sync(FULL_MASK, dproj, o);
    }
    float y = 0.0f, ut = 0.0f;
    if (live) {
        ut = p.u[idx];
        float d = p.dt_w ? dproj : p.delta[idx];
        if (p.dt_w && j == 0) p.delta[idx] = dproj;
        d += p.delta_bias ? p.delta_bias[e] : 0.0f;
        if (p.delta_softplus) d = softplus_f(d);
        const float du = d * ut;
        float* s = p.state + (long long)idx * N;
        const float* A = p.A + (long long)e * N;
        const float* Bm = p.Bm + (long long)b * p.b_sb;
        const float* Cm = p.Cm + (long long)b * p.c_sb;
        for (int n = j; n < N; n += gs) {
            const float h = fmaf(exp2f(d * A[n] * LOG2E_F), s[n], du * Bm[n]);
            s[n] = h;
            y = fmaf(h, Cm[n], y);
        }
    }
    for (int o = gs >> 1; o > 0; o >>= 1) y += __shfl_xor_sync(FULL_MASK, y, o);   // every lane of the warp takes part
    if (live && j == 0) {
        y += p.D ? p.D[e] * ut : 0.0f;
        if (p.z) y *= silu_f(p.z[idx]);
        p.out[idx] = y;
    }
}
