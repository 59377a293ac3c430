// Next-token choice on the device (Sampling.pick in core is the definition; equal ids up to double rounding at a
// draw's boundary): one block per row. Greedy is an argmax (lowest id on ties). Otherwise s_i = logit_i / T,
// w_i = exp(s_i - max) in double; top-k and top-p keep the ids whose key (s descending, then id ascending) is at or
// above a threshold found by binary search over the keys' order (each probe one pass over the row: counts for
// top-k, masses for top-p), instead of sorting the row; then the draw walks the kept ids in id order: each thread
// sums a contiguous stretch, a block scan gives each stretch its start, and the stretch holding uniform * total walks.
#include "common.cuh"

#define SAMPLE_THREADS 1024

// Float bits mapped to an unsigned int of the same order (negative floats reversed below the positive ones).
__device__ __forceinline__ unsigned int ordered_bits(float f) {
    const unsigned int u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ double block_sum_d(double v) {
    __shared__ double part[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();   // part may still be read by a previous call
    if (lane == 0) part[warp] = v;
    __syncthreads();
    double t = 0.0;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t += part[w];
    return t;
}

__device__ __forceinline__ unsigned int block_sum_u(unsigned int v) {
    __shared__ unsigned int part[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    unsigned int t = 0;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t += part[w];
    return t;
}

__device__ __forceinline__ float block_max_f(float v) {
    __shared__ float part[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t = fmaxf(t, part[w]);
    return t;
}

__device__ __forceinline__ int block_max_i(int v) {
    __shared__ int part[32];
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(FULL_MASK, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    int t = (int)0x80000000;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t = max(t, part[w]);
    return t;
}

// The measure of the ids scoring at least hv (in ordered bits): their count, or their mass sum w_i.
__device__ double measure_from(const float* x, float temperature, float mx, int vocab, bool by_mass, unsigned int hv, bool strictly_above) {
    double m = 0.0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float s = x[i] / temperature;
        const unsigned int o = ordered_bits(s);
        if (strictly_above ? o > hv : o >= hv) m += by_mass ? exp((double)(s - mx)) : 1.0;
    }
    return block_sum_d(m);
}

// The keep-set threshold as (score bits, last kept id among the ids of exactly that score): the shortest prefix of the
// order (score descending, id ascending) whose count (top-k) or mass (top-p) reaches need. Phase 1 finds the score of
// the prefix's last id by binary search on the score bits (32 probes); phase 2, the number of ids of that score it
// takes (lowest ids first), and the id where it stops (a binary search on ids, by counts only).
struct Cut { unsigned int score; int last_id; };

__device__ Cut threshold(const float* x, float temperature, float mx, int vocab, bool by_mass, double need) {
    unsigned int lo = 0, hi = 0xffffffffu;   // measure(>= lo) >= need holds for lo = 0 (everything)
    while (lo < hi) {
        const unsigned int mid = lo + (hi - lo) / 2 + 1;
        if (measure_from(x, temperature, mx, vocab, by_mass, mid, false) >= need) lo = mid; else hi = mid - 1;
    }
    const double above = measure_from(x, temperature, mx, vocab, by_mass, lo, true);
    unsigned int ties = 0;
    float tie_s = 0.0f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float s = x[i] / temperature;
        if (ordered_bits(s) == lo) { ties++; tie_s = s; }
    }
    ties = block_sum_u(ties);
    // every tie has the same score, so any thread's copy of it will do: share one through the block max
    const float shared_s = block_max_f(ordered_bits(tie_s) == lo ? tie_s : -INFINITY);
    const double unit = by_mass ? exp((double)(shared_s - mx)) : 1.0;
    double want = ceil((need - above) / unit);
    unsigned int j = want < 1.0 ? 1u : want > (double)ties ? ties : (unsigned int)want;
    // the j-th lowest id among the ties: smallest m with #(ties with id <= m) >= j
    int a = 0, b = vocab - 1;
    while (a < b) {
        const int m = a + (b - a) / 2;
        unsigned int c = 0;
        for (int i = threadIdx.x; i <= m; i += blockDim.x) c += ordered_bits(x[i] / temperature) == lo ? 1u : 0u;
        if (block_sum_u(c) >= j) b = m; else a = m + 1;
    }
    Cut cut = {lo, a};
    return cut;
}

// Whether (score bits o, id i) comes no later than the cut in the order.
__device__ __forceinline__ bool kept(unsigned int o, int i, Cut c) { return o > c.score || (o == c.score && i <= c.last_id); }

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(SampleParams p) {
    PDL_ENTRY();
    const int row = blockIdx.x;
    const float* x = p.logits + (long long)row * p.width;
    const float temperature = p.temperature[row];
    const int vocab = p.vocab;
    if (temperature == 0.0f) {   // greedy: the first id of the largest logit (id 0 if none compares larger than it)
        float best = x[0];
        int id = 0;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x)
            if (x[i] > best) { best = x[i]; id = i; }
        const float top = block_max_f(best);
        int cand = 0x7fffffff;
        if (top > x[0]) {
            for (int i = threadIdx.x; i < vocab; i += blockDim.x)
                if (x[i] == top) { cand = i; break; }
        } else cand = 0;
        const int first = -block_max_i(-cand);
        if (threadIdx.x == 0) p.ids[row] = first;
        return;
    }
    // s_i = x_i / T, a float division as on the host, so scores, keys and weights agree
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) mx = fmaxf(mx, x[i] / temperature);
    mx = block_max_f(mx);
    const int top_k = p.top_k[row];
    const float top_p = p.top_p[row];
    Cut cut = {0u, vocab};   // keeps everything
    bool filter = false;
    if (top_k > 0 && top_k < vocab) { cut = threshold(x, temperature, mx, vocab, false, (double)top_k); filter = true; }
    if (top_p < 1.0f) {
        const double sum = measure_from(x, temperature, mx, vocab, true, 0u, false);
        const Cut c = threshold(x, temperature, mx, vocab, true, (double)top_p * sum);
        if (!filter || c.score > cut.score || (c.score == cut.score && c.last_id < cut.last_id)) cut = c;   // the shorter prefix
        filter = true;
    }
    // the draw: thread t sums the kept weights of ids [t·seg, (t+1)·seg), a block scan places each stretch
    const int seg = (vocab + blockDim.x - 1) / blockDim.x;
    const int from = threadIdx.x * seg, to = min(vocab, from + seg);
    double local = 0.0;
    int last_local = -1;
    for (int i = from; i < to; ++i) {
        const float s = x[i] / temperature;
        if (!filter || kept(ordered_bits(s), i, cut)) { local += exp((double)(s - mx)); last_local = i; }
    }
    __shared__ double start[SAMPLE_THREADS];
    __shared__ int picked;
    start[threadIdx.x] = local;
    if (threadIdx.x == 0) picked = 0x7fffffff;
    __syncthreads();
    for (int off = 1; off < (int)blockDim.x; off <<= 1) {   // inclusive scan (Hillis-Steele)
        const double add = threadIdx.x >= (unsigned)off ? start[threadIdx.x - off] : 0.0;
        __syncthreads();
        start[threadIdx.x] += add;
        __syncthreads();
    }
    const double total = start[blockDim.x - 1];
    const double before = start[threadIdx.x] - local;
    const double u = p.uniform[row] * total;
    if (local > 0.0 && u >= before && u < before + local) {
        double r = u - before;
        int id = last_local;
        for (int i = from; i < to; ++i) {
            const float s = x[i] / temperature;
            if (filter && !kept(ordered_bits(s), i, cut)) continue;
            r -= exp((double)(s - mx));
            if (r < 0.0) { id = i; break; }
        }
        atomicMin(&picked, id);
    }
    const int last = block_max_i(last_local);   // rounding left the draw past every stretch: the last kept id, as on the host
    __syncthreads();
    if (threadIdx.x == 0) p.ids[row] = picked == 0x7fffffff ? last : picked;
}
