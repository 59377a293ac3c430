// Causal attention, one warp per (b, h, query row) (v1 of the lab: CUDA cores, online softmax, no (T, T) scores in
// memory): the 32 lanes take 32 keys at a time for the scores (each lane one key's dot product against the query
// staged in shared memory), then 32 output dims each for the weighted sum of values. Serves prefill (q_len = kv_len)
// and decode over a KV cache (q_len = 1, keys 0..kv_len-1 of a cache with room for more: batch stride kv_sb).
#include "common.cuh"

#define ATT_WARPS 4
#define ATT_MAX_DH 256
#define ATT_R (ATT_MAX_DH / 32)

extern "C" __global__ void __launch_bounds__(32 * ATT_WARPS) attention_rows(AttentionParams p) {
    PDL_ENTRY();
    __shared__ float sq[ATT_WARPS][ATT_MAX_DH];
    const int wib = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long row = (long long)blockIdx.x * ATT_WARPS + wib;   // (b, h, i) flattened, i fastest
    const long long rows = (long long)p.batch * p.heads * p.q_len;
    const bool live = row < rows;
    const int i = live ? (int)(row % p.q_len) : 0;
    const int h = live ? (int)((row / p.q_len) % p.heads) : 0;
    const int b = live ? (int)(row / ((long long)p.q_len * p.heads)) : 0;
    const int Dh = p.head_dim, kvh = h / (p.heads / p.kv_heads);
    const long long pos_stride = (long long)p.kv_heads * Dh;
    const float* q = p.q + (((long long)b * p.q_len + i) * p.heads + h) * Dh;
    const float* kb = p.k + (long long)b * p.kv_sb + (long long)kvh * Dh;
    const float* vb = p.v + (long long)b * p.kv_sb + (long long)kvh * Dh;
    for (int d = lane; d < Dh; d += 32) sq[wib][d] = live ? q[d] * p.scale : 0.0f;
    __syncwarp();
    if (!live) return;
    const int last = i + p.kv_len - p.q_len;   // this row sees keys 0..last
    float acc[ATT_R];
#pragma unroll
    for (int r = 0; r < ATT_R; ++r) acc[r] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 <= last; j0 += 32) {
        const int j = j0 + lane;
        float s = -INFINITY;
        if (j <= last) {
            const float* kr = kb + (long long)j * pos_stride;
            s = 0.0f;
            for (int d = 0; d < Dh; ++d) s = fmaf(sq[wib][d], kr[d], s);
        }
        float mt = s;
        for (int o = 16; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(FULL_MASK, mt, o));
        const float mNew = fmaxf(m, mt);
        const float corr = expf(m - mNew);          // 0 on the first tile (m = -inf)
        const float pj = j <= last ? expf(s - mNew) : 0.0f;
        float ps = pj;
        for (int o = 16; o > 0; o >>= 1) ps += __shfl_xor_sync(FULL_MASK, ps, o);
        l = l * corr + ps;
        m = mNew;
#pragma unroll
        for (int r = 0; r < ATT_R; ++r) acc[r] *= corr;
        const int n = last - j0 + 1 < 32 ? last - j0 + 1 : 32;
        for (int jj = 0; jj < n; ++jj) {
            const float w = __shfl_sync(FULL_MASK, pj, jj);
            const float* vr = vb + (long long)(j0 + jj) * pos_stride;
#pragma unroll
            for (int r = 0; r < ATT_R; ++r) {
                const int d = lane + 32 * r;
                if (d < Dh) acc[r] = fmaf(w, vr[d], acc[r]);
            }
        }
    }
    const float inv = 1.0f / l;
    float* out = p.out + (((long long)b * p.q_len + i) * p.heads + h) * Dh;
#pragma unroll
    for (int r = 0; r < ATT_R; ++r) {
        const int d = lane + 32 * r;
        if (d < Dh) out[d] = acc[r] * inv;
    }
    const float lse = m + logf(l);
    if (p.lse && lane == 0) p.lse[((long long)b * p.heads + h) * p.q_len + i] = lse;
    if (p.probs) {   // MOHAWK stage 1 reads the attention matrix itself: recompute each score, normalised by lse
        float* pr = p.probs + (((long long)b * p.heads + h) * p.q_len + i) * p.kv_len;
        for (int j = lane; j < p.kv_len; j += 32) {
            float v = 0.0f;
            if (j <= last) {
                const float* kr = kb + (long long)j * pos_stride;
                float s = 0.0f;
                for (int d = 0; d < Dh; ++d) s = fmaf(sq[wib][d], kr[d], s);
                v = expf(s - lse);
            }
            pr[j] = v;
        }
    }
}
