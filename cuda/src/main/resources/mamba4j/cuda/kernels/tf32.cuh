// 3xTF32 on top of f32_to_tf32 and mma_tf32 (common.cuh on the GPU, the emulator's shim.cuh on the CPU): float32
// accuracy from tf32 tensor cores. Each operand x = big + small, both tf32 (small = x - big rounded again); the product
// is small·big + big·small + big·big, small·small (~2^-22 relative) dropped.
#pragma once

__device__ __forceinline__ void split_tf32(float x, unsigned& big, unsigned& small) {
    big = f32_to_tf32(x);
    small = f32_to_tf32(x - __uint_as_float(big));
}

template <int K> __device__ __forceinline__ void split_tf32(const float (&x)[K], unsigned (&big)[K], unsigned (&small)[K]) {
#pragma unroll
    for (int i = 0; i < K; ++i) split_tf32(x[i], big[i], small[i]);
}

// d += big·big, dSmall += small·big + big·small: two accumulators, so the three products are two dependent chains, not
// three; the caller adds dSmall into d when it reads the result.
__device__ __forceinline__ void mma_3xtf32(float (&d)[4], float (&dSmall)[4], const unsigned (&aBig)[4], const unsigned (&aSmall)[4],
                                           const unsigned (&bBig)[2], const unsigned (&bSmall)[2]) {
    mma_tf32(dSmall, aSmall, bBig);
    mma_tf32(d, aBig, bBig);
    mma_tf32(dSmall, aBig, bSmall);
}
