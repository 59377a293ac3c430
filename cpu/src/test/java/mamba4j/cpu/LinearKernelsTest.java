package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static mamba4j.testkit.Compare.assertRelClose;
import static mamba4j.testkit.Tolerance.FAST_VS_REFERENCE;
import static mamba4j.testkit.Tolerance.LONG_REDUCTION;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The linear kernels of each row count against the reference: the 8-weight-row dot kernels below
 * {@link CpuLinear#GEMM_ROWS} (their accumulators summed by {@link VMath#sumEach}; 16-bit weights widened 8 rows at a
 * time past 8 rows) and the packed GEMM from there, with M, N, K off every tile (pairs of x rows, 8 weight rows, VL, the
 * GEMM's 6 × 2·VL tile, its K block) and the GEMM's A packed in row chunks. K = 80 is whole chunks of 2·VL 16-bit
 * weights and a pair tail (as dt_proj's K = 48), whose products are summed by sumEach too.
 */
class LinearKernelsTest {
    @Test
    void sumEachGivesEachVectorsLaneSum() {
        int vl = VMath.VL;
        float[] acc = new float[vl * vl], want = new float[vl];
        Random r = new Random(1);
        for (int t = 0; t < vl; t++)
            for (int l = 0; l < vl; l++) {
                acc[t * vl + l] = (float) Math.scalb((double) r.nextInt(1 << 10), r.nextInt(8));   // exact in float, any order
                want[t] += acc[t * vl + l];
            }
        VMath.sumEach(acc, 0);
        for (int t = 0; t < vl; t++) assertEquals(want[t], acc[t], 0f, "sum of vector " + t);
    }

    @Test
    void linearOfEveryRowCountMatchesTheReference() {
        int g = CpuLinear.GEMM_ROWS;
        Random r = new Random(2);
        for (int m : new int[]{1, 2, 5, 9, 16, g - 1, g, g + 1, g + 7})
            for (int[] nk : new int[][]{{8, 16}, {13, 3}, {41, 37}, {67, 300}, {24, 80}})
                for (DType wt : new DType[]{DType.F32, DType.BF16, DType.F16}) {
                    int n = nk[0], k = nk[1];
                    Tensor x = gauss(r, m, k), w = gauss(r, n, k).to(wt), bias = gauss(r, n);
                    Tensor got = Tensor.zeros(DType.F32, m, n), want = Tensor.zeros(DType.F32, m, n);
                    CpuLinear.linear(x, w, bias, got);
                    ReferenceKernels.INSTANCE.linear(x, w, bias, want);
                    assertRelClose("linear M=" + m + " N=" + n + " K=" + k + " " + wt, got, want, FAST_VS_REFERENCE);
                }
    }

    /** M·K past the packed-A budget (4 Mi floats), so the GEMM packs A in row chunks; both layouts of a. */
    @Test
    void matmulPacksTallAInRowChunks() {
        Random r = new Random(3);
        int m = 701, k = 6007, n = 37;
        for (boolean ta : new boolean[]{false, true}) {
            Tensor a = ta ? gauss(r, k, m) : gauss(r, m, k), b = gauss(r, k, n);
            Tensor got = gauss(r, m, n), want = got.copy();
            CpuGemm.matmul(a, ta, b, false, got, true, m, k, n);
            ReferenceKernels.INSTANCE.matmul(a, ta, b, false, want, true);
            assertRelClose("matmul " + (ta ? "aᵀ" : "a") + " " + m + "x" + k + "x" + n, got, want, LONG_REDUCTION);
        }
    }

    private static Tensor gauss(Random r, int... shape) {
        Tensor t = Tensor.zeros(DType.F32, java.util.Arrays.stream(shape).asLongStream().toArray());
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) r.nextGaussian());
        return t;
    }
}
