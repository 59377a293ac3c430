// RMSNorm fused with the residual add (mamba_ssm's fused add-norm) or with Mamba-2's gate (r = x · silu(gate)): one
// block per row, two passes over the row.
#include "common.cuh"

// Rows of whole float4 groups that the block covers with one group a thread (D <= 4 x 1024, CudaOps launches D / 4
// threads), 16-byte aligned, f32 weights: each thread reads its 4 inputs once (float4) and keeps them in registers for
// the second pass; residual_out is written from them, so aliasing needs no re-read.
__device__ __forceinline__ bool rmsnorm_vec4(const RmsNormParams& p) {
    return (p.dim & 3) == 0 && p.dim / 4 <= (int)blockDim.x && p.w_dtype == DTYPE_F32 && ALIGNED16(p.x) && ALIGNED16(p.residual)
        && ALIGNED16(p.residual_out) && ALIGNED16(p.out) && ALIGNED16(p.w) && ALIGNED16(p.gate);
}

extern "C" __global__ void rmsnorm(RmsNormParams p) {
    PDL_ENTRY();
    const int row = blockIdx.x;
    if (row >= p.rows) return;
    const long long base = (long long)row * p.dim;
    if (rmsnorm_vec4(p)) {   // the same for the whole block
        const int j = threadIdx.x;
        const long long q = base / 4 + j;
        const bool mine = j < p.dim / 4;
        float4 r;
        r.x = r.y = r.z = r.w = 0.0f;
        if (mine) {
            r = ((const float4*)p.x)[q];
            if (p.residual) {
                const float4 s = ((const float4*)p.residual)[q];
                r.x += s.x; r.y += s.y; r.z += s.z; r.w += s.w;
            }
            if (p.gate) {
                const float4 z = ((const float4*)p.gate)[q];
                r.x *= silu_f(z.x); r.y *= silu_f(z.y); r.z *= silu_f(z.z); r.w *= silu_f(z.w);
            }
            if (p.residual_out) ((float4*)p.residual_out)[q] = r;
        }
        const float inv = rsqrtf(block_sum(r.x * r.x + r.y * r.y + r.z * r.z + r.w * r.w) / (float)p.dim + p.eps);
        if (mine) {
            const float4 w = ((const float4*)p.w)[j];
            float4 o;
            o.x = r.x * inv * w.x; o.y = r.y * inv * w.y; o.z = r.z * inv * w.z; o.w = r.w * inv * w.w;
            ((float4*)p.out)[q] = o;
        }
        return;
    }
    float ss = 0.0f;
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) {
        float r = p.x[base + j] + (p.residual ? p.residual[base + j] : 0.0f);
        if (p.gate) r *= silu_f(p.gate[base + j]);
        if (p.residual_out) p.residual_out[base + j] = r;
        ss += r * r;
    }
    const float inv = rsqrtf(block_sum(ss) / (float)p.dim + p.eps);
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) {
        // re-read r as written (residual_out may alias x or residual, so recomputing x + residual could add twice)
        float r = p.residual_out ? p.residual_out[base + j] : p.x[base + j] + (p.residual ? p.residual[base + j] : 0.0f);
        if (p.gate) r *= silu_f(p.gate[base + j]);   // no residual_out with a gate (CudaOps checks)
        p.out[base + j] = r * inv * load_w(p.w, j, p.w_dtype);
    }
}
