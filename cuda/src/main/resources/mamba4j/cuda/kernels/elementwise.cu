// Elementwise ops over n floats (grid-stride loops) and the f32 -> bf16/f16 cast for GEMM inputs.
#include "common.cuh"

extern "C" __global__ void add(EltwiseParams p) {
    PDL_ENTRY();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
        p.out[i] = p.a[i] + p.b[i];
}

extern "C" __global__ void silu(EltwiseParams p) {
    PDL_ENTRY();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
        p.out[i] = silu_f(p.a[i]);
}

// The Mamba output gate: out = a * silu(b).
extern "C" __global__ void mul_silu(EltwiseParams p) {
    PDL_ENTRY();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
        p.out[i] = p.a[i] * silu_f(p.b[i]);
}

extern "C" __global__ void mul(EltwiseParams p) { PDL_ENTRY(); GRID_STRIDE(i, p.n) p.out[i] = p.a[i] * p.b[i]; }

// A = -exp(A_log)
extern "C" __global__ void neg_exp(EltwiseParams p) { PDL_ENTRY(); GRID_STRIDE(i, p.n) p.out[i] = -expf(p.a[i]); }

extern "C" __global__ void softplus(EltwiseParams p) { PDL_ENTRY(); GRID_STRIDE(i, p.n) p.out[i] = softplus_f(p.a[i]); }

// transformers' gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
extern "C" __global__ void gelu_tanh(EltwiseParams p) {
    PDL_ENTRY();
    GRID_STRIDE(i, p.n) {
        const float x = p.a[i];
        p.out[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}

extern "C" __global__ void cast_f32(CastParams p) {
    PDL_ENTRY();
    unsigned short* o = (unsigned short*)p.out;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x) {
        const float v = p.x[i];
        if (p.out_dtype == DTYPE_F32) ((float*)p.out)[i] = v;
        else o[i] = p.out_dtype == DTYPE_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
    }
}

// A 64-bit mix (splitmix64's finalizer) of (seed, i), top 24 bits as a float in [0, 1).
extern "C" __global__ void fill_uniform(FillParams p) {
    PDL_ENTRY();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x) {
        unsigned long long x = (unsigned long long)i + 0x9e3779b97f4a7c15ull * (unsigned long long)(unsigned int)p.seed;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
        p.out[i] = p.lo + (p.hi - p.lo) * ((float)(x >> 40) * (1.0f / 16777216.0f));
    }
}
