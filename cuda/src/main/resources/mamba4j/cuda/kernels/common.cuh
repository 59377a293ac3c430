// Device helpers shared by the mamba4j kernels. No CUDA headers are included (NVRTC from a pip install ships
// none): bf16 and f16 are handled as raw 16-bit patterns.
#pragma once
#include "params.cuh"

#define FULL_MASK 0xffffffffu
// Programmatic dependent launch (sm_90 and later; CudaDevice.launch): a kernel may start while the one before it on the
// stream is finishing. PDL_WAIT blocks until that kernel has completed and its writes are visible (a no-op when the
// launch was a plain one); PDL_LAUNCH_DEPENDENTS lets the next kernel begin launching. Every kernel reaches PDL_WAIT,
// in every thread, before it reads or writes memory that an earlier kernel touches (PDL_ENTRY at its top; the decode
// GEMV first issues its weight loads), so ordering on the stream still holds transitively.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#define PDL_LAUNCH_DEPENDENTS() asm volatile("griddepcontrol.launch_dependents;" ::: "memory")
#else
#define PDL_WAIT() do {} while (0)
#define PDL_LAUNCH_DEPENDENTS() do {} while (0)
#endif
#define PDL_ENTRY() do { PDL_WAIT(); PDL_LAUNCH_DEPENDENTS(); } while (0)
// A grid-stride loop over n elements.
#define ALIGNED16(ptr) ((((unsigned long long)(ptr)) & 15) == 0)
#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
#define LOG2E_F 1.4426950408889634f
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)   // no <math.h> under NVRTC
#endif

__device__ __forceinline__ float bf16_to_f32(unsigned short h) { return __uint_as_float(((unsigned int)h) << 16); }

__device__ __forceinline__ float f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN.
__device__ __forceinline__ unsigned short f32_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}

__device__ __forceinline__ unsigned short f32_to_f16(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Element i of a weight stored in dtype (DTYPE_F32 / DTYPE_BF16 / DTYPE_F16), widened to f32.
__device__ __forceinline__ float load_w(const void* p, long long i, int dtype) {
    if (dtype == DTYPE_BF16) return bf16_to_f32(((const unsigned short*)p)[i]);
    if (dtype == DTYPE_F16) return f16_to_f32(((const unsigned short*)p)[i]);
    return ((const float*)p)[i];
}

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }

// log(1 + exp(x)), taken as x when x > 20 (mamba_ssm's threshold).
__device__ __forceinline__ float softplus_f(float x) { return x <= 20.0f ? log1pf(expf(x)) : x; }

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    return partial[0];
}
