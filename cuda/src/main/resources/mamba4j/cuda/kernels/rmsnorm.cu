// RMSNorm fused with the residual add (mamba_ssm's fused add-norm): one block per row, two passes over the row.
#include "common.cuh"

extern "C" __global__ void rmsnorm(RmsNormParams p) {
    PDL_ENTRY();
    const int row = blockIdx.x;
    if (row >= p.rows) return;
    const long long base = (long long)row * p.dim;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) {
        float r = p.x[base + j] + (p.residual ? p.residual[base + j] : 0.0f);
        if (p.residual_out) p.residual_out[base + j] = r;
        ss += r * r;
    }
    const float inv = rsqrtf(block_sum(ss) / (float)p.dim + p.eps);
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) {
        // re-read r as written (residual_out may alias x or residual, so recomputing x + residual could add twice)
        float r = p.residual_out ? p.residual_out[base + j] : p.x[base + j] + (p.residual ? p.residual[base + j] : 0.0f);
        p.out[base + j] = r * inv * load_w(p.w, j, p.w_dtype);
    }
}
