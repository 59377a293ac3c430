// Parameter structs of the mamba4j kernels: one per kernel family, passed BY VALUE as the kernel's only argument.
// Mirrored field by field in Java by mamba4j.cuda.KernelParams (same names, order and C types); a CI test lays
// these structs out by the C rules (natural alignment, size rounded up to the largest member) and compares the
// Java layouts, and SelfTest compares them on the GPU against sizeof/offsetof from NVRTC.
// Pointers are device pointers; "or NULL" fields are optional. Shapes use the symbols of MATH.md. Strides are in
// elements; the last dimension is always contiguous. Weight dtypes: DTYPE_F32, DTYPE_BF16, DTYPE_F16.
#pragma once

#define DTYPE_F32 0
#define DTYPE_BF16 1
#define DTYPE_F16 2

// rmsnorm.cu: r = x + residual (x alone when residual is NULL); residual_out = r (when not NULL);
// out = r / sqrt(mean(r^2) + eps) * w. One block per row.
struct RmsNormParams {
    const float* x;          // (M, D)
    const float* residual;   // (M, D) or NULL
    float* residual_out;     // (M, D) or NULL; may alias x or residual
    const void* w;           // (D) in w_dtype
    float* out;              // (M, D)
    int rows;                // M
    int dim;                 // D
    float eps;
    int w_dtype;
};

// embedding.cu: out[i, :] = weight[ids[i], :] widened to f32; ids checked by the caller.
struct EmbeddingParams {
    const int* ids;          // (n) I32
    const void* weight;      // (V, D) in w_dtype
    float* out;              // (n, D)
    int n;
    int dim;                 // D
    int w_dtype;
};

// conv1d.cu, causal_conv1d: out[b, t, c] = bias[c] + sum_k w[c, k] * x[b, t - K + 1 + k, c] (zero before t = 0),
// then SiLU if silu != 0. state_out (when not NULL) receives the last K inputs, oldest first, zero-padded when L < K.
struct Conv1dParams {
    const float* x;          // (B, L, C) with strides x_sb, x_st
    const void* w;           // (C, K) in w_dtype
    const void* bias;        // (C) in w_dtype, or NULL
    float* out;              // (B, L, C) contiguous
    float* state_out;        // (B, C, K) or NULL
    long long x_sb;          // batch stride of x
    long long x_st;          // time stride of x
    int batch;               // B
    int length;              // L
    int channels;            // C
    int width;               // K (at most 8)
    int silu;
    int w_dtype;
};

// conv1d.cu, causal_conv1d_step: state (B, C, K) shifted left and x appended; out = bias + sum_k state[k] * w[k], SiLU if asked.
struct Conv1dStepParams {
    float* state;            // (B, C, K), updated in place
    const float* x;          // (B, C)
    const void* w;           // (C, K) in w_dtype
    const void* bias;        // (C) in w_dtype, or NULL
    float* out;              // (B, C)
    int batch;
    int channels;
    int width;
    int silu;
    int w_dtype;
};

// scan.cu, selective_scan_fwd (mamba_ssm selective_scan_fn, channels-last):
//   dt = softplus(delta + delta_bias) (or delta + delta_bias); h = exp(dt*A) h + dt*u*B; y = h.C + D*u; y *= silu(z).
// h_0 = state_in (or 0); the final h_L is written to state_out (when not NULL; may alias state_in).
struct ScanParams {
    const float* u;          // (B, L, E)  strides u_sb, u_st
    const float* delta;      // (B, L, E)  strides delta_sb, delta_st
    const float* delta_bias; // (E) or NULL
    const float* A;          // (E, N) = -exp(A_log)
    const float* Bm;         // (B, L, N)  strides b_sb, b_st
    const float* Cm;         // (B, L, N)  strides c_sb, c_st
    const float* D;          // (E) or NULL
    const float* z;          // (B, L, E) or NULL  strides z_sb, z_st
    const float* state_in;   // (B, E, N) or NULL
    float* state_out;        // (B, E, N) or NULL
    float* out;              // (B, L, E) strides out_sb, out_st
    long long u_sb, u_st;
    long long delta_sb, delta_st;
    long long b_sb, b_st;
    long long c_sb, c_st;
    long long z_sb, z_st;
    long long out_sb, out_st;
    int batch;               // B
    int length;              // L
    int channels;            // E
    int dstate;              // N (at most 64)
    int delta_softplus;
};

// scan.cu, selective_scan_step: the recurrence above for one token, state (B, E, N) updated in place.
struct ScanStepParams {
    float* state;            // (B, E, N)
    const float* u;          // (B, E)
    const float* delta;      // (B, E)
    const float* delta_bias; // (E) or NULL
    const float* A;          // (E, N)
    const float* Bm;         // (B, N) row stride b_sb
    const float* Cm;         // (B, N) row stride c_sb
    const float* D;          // (E) or NULL
    const float* z;          // (B, E) or NULL
    float* out;              // (B, E)
    long long b_sb;
    long long c_sb;
    int batch;
    int channels;
    int dstate;
    int delta_softplus;
};

// elementwise.cu: add (out = a + b), silu (out = a * sigmoid(a)), mul_silu (out = a * silu(b)); out may alias a or b.
struct EltwiseParams {
    const float* a;
    const float* b;          // NULL for silu
    float* out;
    long long n;
};

// elementwise.cu, cast_f32: out = x rounded to out_dtype (round to nearest even), for GEMM inputs in bf16/f16.
struct CastParams {
    const float* x;
    void* out;
    long long n;
    int out_dtype;
};

// elementwise.cu, fill_uniform: out[i] = lo + (hi - lo) * U_i, U_i in [0, 1) from a hash of (seed, i): inputs made
// on the device for benchmarks (no host round trip).
struct FillParams {
    float* out;
    long long n;
    int seed;
    float lo;
    float hi;
};
