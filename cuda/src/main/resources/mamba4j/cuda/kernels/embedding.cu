// Embedding gather: one block per id, threads over D.
#include "common.cuh"

extern "C" __global__ void embedding(EmbeddingParams p) {
    PDL_ENTRY();
    const int i = blockIdx.x;
    if (i >= p.n) return;
    const long long src = (long long)p.ids[i] * p.dim, dst = (long long)i * p.dim;
    for (int j = threadIdx.x; j < p.dim; j += blockDim.x) p.out[dst + j] = load_w(p.weight, src + j, p.w_dtype);
}
