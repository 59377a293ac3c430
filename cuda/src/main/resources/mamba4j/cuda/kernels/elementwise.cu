// Elementwise ops over n floats (grid-stride loops) and the f32 -> bf16/f16 cast for GEMM inputs.
#include "common.cuh"

// add, mul_silu and cast_f32 carry a prefill's largest tensors (L x E): when their pointers are 16-byte aligned they
// move 4 floats a thread as float4 (a memory-bound kernel on an H100 needs 16-byte accesses for its bandwidth), then
// the tail one by one; otherwise one by one. CudaOps sizes their grids for n / 4 threads; the loops stride the grid.
extern "C" __global__ void add(EltwiseParams p) {
    PDL_ENTRY();
    const long long n4 = ALIGNED16(p.a) && ALIGNED16(p.b) && ALIGNED16(p.out) ? p.n >> 2 : 0;
    GRID_STRIDE(i, n4) {
        const float4 a = ((const float4*)p.a)[i], b = ((const float4*)p.b)[i];
        float4 o;
        o.x = a.x + b.x; o.y = a.y + b.y; o.z = a.z + b.z; o.w = a.w + b.w;
        ((float4*)p.out)[i] = o;
    }
    GRID_STRIDE(i, p.n - 4 * n4) {
        const long long j = 4 * n4 + i;
        p.out[j] = p.a[j] + p.b[j];
    }
}

extern "C" __global__ void silu(EltwiseParams p) {
    PDL_ENTRY();
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p.n; i += (long long)gridDim.x * blockDim.x)
        p.out[i] = silu_f(p.a[i]);
}

// The Mamba output gate: out = a * silu(b).
extern "C" __global__ void mul_silu(EltwiseParams p) {
    PDL_ENTRY();
    const long long n4 = ALIGNED16(p.a) && ALIGNED16(p.b) && ALIGNED16(p.out) ? p.n >> 2 : 0;
    GRID_STRIDE(i, n4) {
        const float4 a = ((const float4*)p.a)[i], b = ((const float4*)p.b)[i];
        float4 o;
        o.x = a.x * silu_f(b.x); o.y = a.y * silu_f(b.y); o.z = a.z * silu_f(b.z); o.w = a.w * silu_f(b.w);
        ((float4*)p.out)[i] = o;
    }
    GRID_STRIDE(i, p.n - 4 * n4) {
        const long long j = 4 * n4 + i;
        p.out[j] = p.a[j] * silu_f(p.b[j]);
    }
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

__device__ __forceinline__ unsigned int cast_pair(float a, float b, int dtype) {
    return dtype == DTYPE_BF16 ? (unsigned int)f32_to_bf16(a) | (unsigned int)f32_to_bf16(b) << 16
                               : (unsigned int)f32_to_f16(a) | (unsigned int)f32_to_f16(b) << 16;
}

extern "C" __global__ void cast_f32(CastParams p) {
    PDL_ENTRY();
    unsigned short* o = (unsigned short*)p.out;
    const bool f32 = p.out_dtype == DTYPE_F32;
    const long long n4 = ALIGNED16(p.x) && (((unsigned long long)p.out) & (f32 ? 15 : 7)) == 0 ? p.n >> 2 : 0;
    GRID_STRIDE(i, n4) {   // 4 floats in, 4 floats or 4 halves (8 bytes) out
        const float4 v = ((const float4*)p.x)[i];
        if (f32) {
            ((float4*)p.out)[i] = v;
        } else {
            uint2 r;
            r.x = cast_pair(v.x, v.y, p.out_dtype);
            r.y = cast_pair(v.z, v.w, p.out_dtype);
            ((uint2*)p.out)[i] = r;
        }
    }
    GRID_STRIDE(t, p.n - 4 * n4) {
        const long long i = 4 * n4 + t;
        const float v = p.x[i];
        if (f32) ((float*)p.out)[i] = v;
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
