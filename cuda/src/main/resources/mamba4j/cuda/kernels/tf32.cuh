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
// With SSD_TF32_ONE_PASS (MAMBA4J_CUDA_SSD_TF32=1, to compare) only big·big: plain TF32 (~2^-11 relative per
// operand, as torch's allow_tf32), a third of the tensor-core work.
__device__ __forceinline__ void mma_3xtf32(float (&d)[4], float (&dSmall)[4], const unsigned (&aBig)[4], const unsigned (&aSmall)[4],
                                           const unsigned (&bBig)[2], const unsigned (&bSmall)[2]) {
#ifdef SSD_TF32_ONE_PASS
    (void)dSmall; (void)aSmall; (void)bSmall;
    mma_tf32(d, aBig, bBig);
#else
    mma_tf32(dSmall, aSmall, bBig);
    mma_tf32(d, aBig, bBig);
    mma_tf32(dSmall, aBig, bSmall);
#endif
}

// One k-step of 8 for a warp: D_j (16 x 8) += A (16 x 8) · B_j (8 x 8) for j < NT, in 3xTF32 (the caller adds dSmall
// into d). a points at this lane's A[g][q], with A[g + 8][q] at a[rowStep] and A[g][q + 4] at a[colStep] (row-major A:
// rowStep 8·pitch, colStep 4; k-major: 8 and 4·pitch); b at this lane's B_0[q][g], k-major with row pitch bPitch and
// B_j's columns 8 j further.
template <int NT> __device__ __forceinline__ void mma_3xtf32_k8(float (&d)[NT][4], float (&dSmall)[NT][4], const float* a, int rowStep,
                                                                int colStep, const float* b, int bPitch) {
    const float af[4] = {a[0], a[rowStep], a[colStep], a[rowStep + colStep]};
    unsigned ab[4], as[4];
    split_tf32(af, ab, as);
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const float bf[2] = {b[8 * j], b[8 * j + 4 * bPitch]};
        unsigned bb[2], bs[2];
        split_tf32(bf, bb, bs);
        mma_3xtf32(d[j], dSmall[j], ab, as, bb, bs);
    }
}
