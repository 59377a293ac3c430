// Causal depthwise conv1d over time, channels-last (B, L, C) as the in_proj output comes.
#include "common.cuh"

#define CONV_MAXK 8
#define CONV_TILE 64   // time steps per thread

// Thread (b, c, time tile): the last K inputs slide through registers, right-aligned in hist[] (hist[7] newest)
// with the weights right-aligned to match, so every index is static. grid (ceil(C/128), ceil(L/64), B), block 128.
extern "C" __global__ void causal_conv1d(Conv1dParams p) {
    PDL_ENTRY();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    const int b = blockIdx.z;
    if (c >= p.channels) return;
    const int K = p.width;
    const float* x = p.x + (long long)b * p.x_sb + c;
    const float* hs = p.state_in ? p.state_in + ((long long)b * p.channels + c) * K : 0;   // x at t < 0: hs[K + t]
    float wr[CONV_MAXK], hist[CONV_MAXK];
#pragma unroll
    for (int i = 0; i < CONV_MAXK; ++i) {
        const int k = i - (CONV_MAXK - K);   // tap k multiplies hist[CONV_MAXK - K + k]
        wr[i] = k >= 0 ? load_w(p.w, (long long)c * K + k, p.w_dtype) : 0.0f;
        hist[i] = 0.0f;
    }
    const float bias = p.bias ? load_w(p.bias, c, p.w_dtype) : 0.0f;
    const int t0 = blockIdx.y * CONV_TILE, t1 = t0 + CONV_TILE < p.length ? t0 + CONV_TILE : p.length;
#pragma unroll
    for (int i = 1; i < CONV_MAXK; ++i) {   // the window ending at t0 - 1: hist[i] = x[t0 - CONV_MAXK + i], the K - 1 taps needed
        const int t = t0 - CONV_MAXK + i;
        hist[i] = i <= CONV_MAXK - K ? 0.0f : t >= 0 ? x[(long long)t * p.x_st] : hs ? hs[K + t] : 0.0f;
    }
    // the output part that holds channel c, and its row width: Mamba-2's x | B | C written where the SSD reads them
    const int part = c < p.split1 ? 0 : c < p.split2 ? 1 : 2;
    const int lo = part == 0 ? 0 : part == 1 ? p.split1 : p.split2, hi = part == 0 ? p.split1 : part == 1 ? p.split2 : p.channels;
    float* out = (part == 0 ? p.out : part == 1 ? p.out2 : p.out3) + ((long long)b * p.length) * (hi - lo) + (c - lo);
    const long long ot = hi - lo;
    for (int t = t0; t < t1; ++t) {
#pragma unroll
        for (int i = 0; i < CONV_MAXK - 1; ++i) hist[i] = hist[i + 1];
        hist[CONV_MAXK - 1] = x[(long long)t * p.x_st];
        float acc = bias;
#pragma unroll
        for (int i = 0; i < CONV_MAXK; ++i) acc = fmaf(wr[i], hist[i], acc);
        out[(long long)t * ot] = p.silu ? silu_f(acc) : acc;
    }
    if (p.state_out && blockIdx.y == 0) {   // the only block of channel c that reads hs (t0 = 0), after its reads
        float* s = p.state_out + ((long long)b * p.channels + c) * K;
        for (int k = 0; k < K; ++k) {       // in place (s == hs) too: s[k] is written after hs[L + k], k < L + k, was read
            const int t = p.length - K + k;
            s[k] = t >= 0 ? x[(long long)t * p.x_st] : hs ? hs[K + t] : 0.0f;
        }
    }
}

// One decode step, thread per (b, c).
extern "C" __global__ void causal_conv1d_step(Conv1dStepParams p) {
    PDL_ENTRY();
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= p.batch * p.channels) return;
    const int c = idx % p.channels, K = p.width;
    float* s = p.state + (long long)idx * K;
    float acc = p.bias ? load_w(p.bias, c, p.w_dtype) : 0.0f;
    for (int k = 0; k < K; ++k) {
        const float v = k + 1 < K ? s[k + 1] : p.x[idx];
        s[k] = v;
        acc = fmaf(v, load_w(p.w, (long long)c * K + k, p.w_dtype), acc);
    }
    const float v = p.silu ? silu_f(acc) : acc;
    if (p.out2 == nullptr) p.out[idx] = v;
    else {   // the part that holds channel c, row b of it
        const int b = idx / p.channels;
        if (c < p.split1) p.out[(long long)b * p.split1 + c] = v;
        else if (c < p.split2) p.out2[(long long)b * (p.split2 - p.split1) + (c - p.split1)] = v;
        else p.out3[(long long)b * (p.channels - p.split2) + (c - p.split2)] = v;
    }
}
