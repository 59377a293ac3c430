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
// The block's dynamic shared memory (its size is the launch's sharedBytes), as an array of type.
#define DYNAMIC_SHARED(type, name) extern __shared__ type name[]
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

// Tensor cores (sm_80 and later): a warp's D (16 x 8) += A (16 x 8) · B (8 x 8) on tf32 inputs with float32
// accumulation (mma.sync m16n8k8). Lane = 4 g + q holds a = {A[g][q], A[g+8][q], A[g][q+4], A[g+8][q+4]},
// b = {B[q][g], B[q+4][g]} and d = {D[g][2q], D[g][2q+1], D[g+8][2q], D[g+8][2q+1]} (the PTX ISA's fragment layout).
// tf32 keeps 10 of float32's 23 mantissa bits; split3_tf32 and mma_3xtf32 keep float32's accuracy by splitting each
// operand x = big + small (both tf32) and summing small·big + big·small + big·big (small·small, ~2^-22 relative, dropped).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
__device__ __forceinline__ unsigned f32_to_tf32(float f) {
    unsigned u;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(u) : "f"(f));
    return u;
}
__device__ __forceinline__ void mma_tf32(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// bf16 (m16n8k16): lane = 4 g + q holds a = {A[g][2q..2q+1], A[g+8][2q..], A[g][2q+8..], A[g+8][2q+8..]} and
// b = {B[2q..2q+1][g], B[2q+8..2q+9][g]}, two bf16 a register (the lower k in the low half); d as above.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {   // round to nearest even, lo in the low half
    unsigned u;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(u) : "f"(hi), "f"(lo));
    return u;
}
__device__ __forceinline__ void mma_bf16(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#else   // the host never launches a tensor-core kernel below sm_80 (CudaOps checks the architecture)
__device__ __forceinline__ unsigned f32_to_tf32(float f) { return __float_as_uint(f); }
__device__ __forceinline__ void mma_tf32(float (&)[4], const unsigned (&)[4], const unsigned (&)[2]) { __trap(); }
__device__ __forceinline__ unsigned pack_bf16(float, float) { return 0u; }
__device__ __forceinline__ void mma_bf16(float (&)[4], const unsigned (&)[4], const unsigned (&)[2]) { __trap(); }
#endif

#include "tf32.cuh"
