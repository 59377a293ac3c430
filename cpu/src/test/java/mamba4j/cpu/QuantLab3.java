package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.Tensor;

import java.util.Random;

/** Where the GEMV (CpuQuant.decode) hands over to the packed GEMM (CpuQuant.prefill): time both for M = 1 .. 64 on in_proj's shape. */
public final class QuantLab3 {
    public static void main(String[] args) {
        Random r = new Random(1);
        int n = 3072, k = 768;
        Tensor w = Tensor.zeros(DType.F32, n, k);
        for (long i = 0; i < w.numel(); i++) w.setFloat(i, (float) r.nextGaussian());
        for (DType t : new DType[]{DType.Q8_0, DType.Q4_0}) {
            Tensor q = w.to(t);
            for (int m : new int[]{1, 2, 4, 8, 12, 16, 24, 32, 64}) {
                Tensor x = Tensor.zeros(DType.F32, m, k), o = Tensor.zeros(DType.F32, m, n);
                for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) r.nextGaussian());
                double gemv = time(() -> CpuQuant.decode(x, q, o, m, k, n)), gemm = time(() -> CpuQuant.prefill(x, q, o, m, k, n));
                System.out.printf("%s M=%2d: GEMV %7.3f ms (%5.1f GFLOP/s)  GEMM %7.3f ms (%5.1f GFLOP/s)  %s%n", t, m, gemv * 1e3, 2.0 * m * n * k / gemv / 1e9,
                        gemm * 1e3, 2.0 * m * n * k / gemm / 1e9, gemv < gemm ? "GEMV" : "GEMM");
            }
        }
    }

    private static double time(Runnable r) { return QuantLab.time(r, 5, 15); }
}
