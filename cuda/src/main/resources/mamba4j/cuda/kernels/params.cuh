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
    const float* gate;       // (M, D) or NULL: r = x · silu(gate) (Mamba-2's gated norm; no residual then)
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
// then SiLU if silu != 0; state_in (when not NULL) holds the inputs before t = 0: x[b, -j, c] = state_in[b, c, K - j].
// state_out (when not NULL) receives the last K inputs, oldest first (from state_in, or zeros, where L < K); it may be
// state_in itself.
struct Conv1dParams {
    const float* x;          // (B, L, C) with strides x_sb, x_st
    const void* w;           // (C, K) in w_dtype
    const void* bias;        // (C) in w_dtype, or NULL
    float* out;              // (B, L, split1) contiguous: channels [0, split1)
    float* state_out;        // (B, C, K) or NULL
    const float* state_in;   // (B, C, K) or NULL
    float* out2;             // (B, L, split2 - split1): channels [split1, split2), or NULL when split1 = C
    float* out3;             // (B, L, C - split2): channels [split2, C), or NULL when split2 = C
    long long x_sb;          // batch stride of x
    long long x_st;          // time stride of x
    int batch;               // B
    int length;              // L
    int channels;            // C
    int width;               // K (at most 8)
    int silu;
    int w_dtype;
    int split1;              // C when the output is one tensor
    int split2;
};

// conv1d.cu, causal_conv1d_step: state (B, C, K) shifted left and x appended; out = bias + sum_k state[k] * w[k], SiLU if asked.
struct Conv1dStepParams {
    float* state;            // (B, C, K), updated in place
    const float* x;          // (B, C)
    const void* w;           // (C, K) in w_dtype
    const void* bias;        // (C) in w_dtype, or NULL
    float* out;              // (B, C), or (B, split1) when out2 is set
    int batch;
    int channels;
    int width;
    int silu;
    int w_dtype;
    // the output split by channels when out2 is not NULL (Mamba-2's x | B | C at a batched decode step): channels
    // [0, split1) to out (B, split1), [split1, split2) to out2 (B, split2 - split1), the rest to out3
    float* out2;
    float* out3;
    int split1;
    int split2;
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

// scan.cu, selective_scan_step: the recurrence above for one token, state (B, E, N) updated in place. With dt_w,
// delta is first computed (and written): delta[b, e] = dt_low[b, :] . dt_w[e, :] (Mamba-1's dt_proj, R = dt_rank).
struct ScanStepParams {
    float* state;            // (B, E, N)
    const float* u;          // (B, E)
    float* delta;            // (B, E); written when dt_w
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
    const void* dt_w;        // (E, R) in dt_w_dtype, or NULL: delta is an input
    const float* dt_low;     // (B, R) row stride dt_sb
    long long dt_sb;
    int dt_rank;
    int dt_w_dtype;
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

// ops.cu, add_row / mul_row: out[m, j] = x[m, j] + row[j] (or * row[j]): a row broadcast over the rows of x
// (addRow, and mulColumns with row = a); out may alias x.
struct RowParams {
    const float* x;          // (M, N)
    const float* row;        // (N)
    float* out;              // (M, N)
    long long rows;          // M
    int cols;                // N
};

// ops.cu, softplus_clamp: out[m, h] = clamp(softplus(x[m, h] + bias[h]), lo, hi) (Mamba-2's dt).
struct ClampParams {
    const float* x;          // (M, H)
    const float* bias;       // (H) or NULL
    float* out;              // (M, H)
    long long rows;          // M
    int cols;                // H
    float lo;
    float hi;
};

// ops.cu, fill_bits: n elements of elem_bytes (1, 2, 4 or 8) each set to the low elem_bytes bytes of bits.
struct FillBitsParams {
    void* out;
    long long n;
    long long bits;
    int elem_bytes;
};

// ops.cu, copy_strided: for every index (i0, i1, i2, i3) below (size0..size3),
// dst[dst_offset + sum i_j * ds_j] = src[src_offset + sum i_j * ss_j]; elements of elem_bytes bytes (1, 2, 4 or 8).
struct CopyParams {
    const void* src;
    void* dst;
    long long src_offset;
    long long dst_offset;
    long long size0, size1, size2, size3;
    long long ss0, ss1, ss2, ss3;
    long long ds0, ds1, ds2, ds3;
    long long count;         // size0 * size1 * size2 * size3
    int elem_bytes;
};

// ops.cu, layernorm: out = (x - mean) / sqrt(var + eps) * w + b over the last dim (biased variance). One block per row.
struct LayerNormParams {
    const float* x;          // (M, D)
    const float* w;          // (D)
    const float* b;          // (D) or NULL
    float* out;              // (M, D)
    int rows;
    int dim;
    float eps;
};

// ops.cu, rotary: rotate_half RoPE on the first rotary_dim dims of each head; token t at position pos0 + t.
struct RotaryParams {
    const float* x;          // (B, T, H, Dh)
    const float* cos;        // (P, rotary_dim / 2)
    const float* sin;        // (P, rotary_dim / 2)
    float* out;              // (B, T, H, Dh), may alias x
    int batch;
    int tokens;
    int heads;
    int head_dim;
    int rotary_dim;
    int pos0;
};

// ops.cu, linear_rows: out (M, N) = x (M, K) . w^T + bias for small M (decode): split warps per output column n,
// the weight row read once for all M rows, f32 accumulate.
struct GemvParams {
    const float* x;          // (M, K)
    const void* w;           // (N, K) in w_dtype
    const float* bias;       // (N) or NULL
    float* out;              // (M, N)
    int m;
    int n;
    int k;
    int w_dtype;
    int split;               // warps per output column: 1, 2, 4 or 8
    // linear_rows_1_conv only (M = 1): the conv1d decode step (causal_conv1d_step) of output columns [conv_from,
    // conv_from + conv_channels), done by the warp that computed each: conv_out[c] = act(conv_bias[c] + sum_k
    // conv_w[c][k] window[k]), the window the state's last K - 1 inputs and out[conv_from + c], left in the state
    float* conv_state;       // (1, C, K), updated in place
    const void* conv_w;      // (C, K) in conv_w_dtype
    const void* conv_bias;   // (C) in conv_w_dtype, or NULL
    float* conv_out;         // (1, C)
    int conv_from;
    int conv_channels;       // C
    int conv_width;          // K
    int conv_silu;
    int conv_w_dtype;
    // column parts (batched decode's in_proj into x | z, x_proj into dt | B | C: no copies after): when out1 is not
    // NULL, columns [0, n0) go to out (M, n0), [n0, n0 + n1) to out1 (M, n1), the rest to out2 (M, n - n0 - n1)
    float* out1;
    float* out2;
    int n0;
    int n1;
};

// ops.cu, cross_entropy_*: mean cross-entropy over the rows whose target is not -100; dlogits (when not NULL) =
// (softmax - onehot) / count * scale, 0 on ignored rows. row_loss and count are device scratch.
struct CrossEntropyParams {
    const float* logits;     // (M, V)
    const int* targets;      // (M)
    float* dlogits;          // (M, V) or NULL
    void* loss;              // (1) f32, or f64 when loss_f64
    double* row_loss;        // (M) scratch
    int* count;              // (1) scratch
    int rows;
    int vocab;
    float scale;
    int loss_f64;
};

// attention.cu, attention_rows: causal softmax(q . k^T * scale) . v, query i attending keys j <= i + kv_len - q_len
// (prefill: q_len = kv_len; decode: q_len = 1 over a cache of kv_len filled positions). Head h reads kv head
// h / (heads / kv_heads). lse and probs optional (probs (B, H, q_len, kv_len), zeros above the diagonal).
struct AttentionParams {
    const float* q;          // (B, q_len, H, Dh)
    const float* k;          // (B, ·, Hkv, Dh) batch stride kv_sb
    const float* v;          // (B, ·, Hkv, Dh) batch stride kv_sb
    float* out;              // (B, q_len, H, Dh)
    float* lse;              // (B, H, q_len) or NULL
    float* probs;            // (B, H, q_len, kv_len) or NULL
    long long kv_sb;
    int batch;
    int q_len;
    int kv_len;
    int heads;
    int kv_heads;
    int head_dim;            // at most 256
    float scale;
};

// ssd.cu, ssd_scan: the SSD recurrence S_t = exp(logA_t) S_{t-1} + s_t x_t B_t^T, y_t = S_t C_t + D x_t, one warp per
// (b, h, p) row of the state, its lanes over N. state read as S_0 and overwritten with S_L when not NULL.
struct SsdParams {
    const float* x;          // (B, L, H, P)
    const float* logA;       // (B, L, H)
    const float* scale;      // (B, L, H) or NULL
    const float* Bm;         // (B, L, G, N)
    const float* Cm;         // (B, L, G, N)
    const float* D;          // (H) or NULL
    float* state;            // (B, H, P, N) or NULL
    float* out;              // (B, L, H, P)
    // ssd_step only, when dt_raw is set (Mamba-2's decode step): dt = clamp(softplus(dt_raw + dt_bias), dt_lo, dt_hi) and
    // logA = dt · a are computed here (logA and scale above unread) and written to dt_out and logA_out
    const float* dt_raw;     // (B, H) or NULL
    const float* dt_bias;    // (H) or NULL
    const float* a;          // (H): A = -exp(A_log)
    float* dt_out;           // (B, H)
    float* logA_out;         // (B, H)
    float dt_lo;
    float dt_hi;
    int batch;
    int length;
    int heads;
    int head_dim;            // P
    int groups;              // G
    int dstate;              // N (at most 256)
};

// ssd_chunked.cu: the same SSD as SsdParams computed by chunks of Q steps (Mamba-2's chunked form; long sequences),
// five kernels on this one struct: ssd_chunk_cumsum, ssd_chunk_state, ssd_state_pass, ssd_chunk_cb, ssd_chunk_scan.
// acum, states and cb are device scratch (CudaOps.ssdChunkedScratchBytes), written and read by those kernels in turn.
struct SsdChunkParams {
    const float* x;          // (B, L, H, P)
    const float* logA;       // (B, L, H)
    const float* scale;      // (B, L, H) or NULL
    const float* Bm;         // (B, L, G, N)
    const float* Cm;         // (B, L, G, N)
    const float* D;          // (H) or NULL
    float* state;            // (B, H, P, N) or NULL: read as S_0, overwritten with S_L
    float* out;              // (B, L, H, P)
    float* acum;             // (B, H, L) scratch: logA summed within each chunk up to and including t
    float* states;           // (B, chunks, H, N, P) scratch: each chunk's own state, then the state entering it
    float* cb;               // (B, chunks, G, Q, Q) scratch: cb[s][t] = C_t . B_s within a chunk
    int batch;
    int length;
    int heads;
    int head_dim;            // P
    int groups;              // G
    int dstate;              // N (at most 256)
    int chunk;               // Q: 64, 128 or 256 (ssd_chunk_fused: 64)
};

// sample.cu, sample_rows: one id per row of logits (rows, width) over the first vocab columns, each row with its own
// settings (Sampling in core): temperature 0 = greedy, top_k 0 = off, top_p 1 = off, uniform the host's draw.
struct SampleParams {
    const float* logits;
    const double* uniform;     // (rows)
    const float* temperature;  // (rows)
    const float* top_p;        // (rows)
    const int* top_k;          // (rows)
    int* ids;                  // (rows), written
    int width;
    int vocab;
};
