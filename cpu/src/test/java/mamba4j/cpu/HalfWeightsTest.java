package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decode GEMV widens F16 weights by integer ops in vector lanes ({@code CpuLinear.dot8F16}); this checks that widening
 * against {@link Float#float16ToFloat} for every one of the 65,536 bit patterns, at every lane position of a chunk: x is
 * one-hot, so each output is one weight times 1 (plus zeros). Infinities and NaNs must come out non-finite.
 */
class HalfWeightsTest {
    @Test
    void everyF16PatternWidensExactlyInTheDecodeGemv() {
        int k = 64, n = 65536 / k;                             // row j holds the patterns j·k … j·k + k − 1
        Tensor w = Tensor.zeros(DType.F16, n, k);
        MemorySegment ws = w.segment();
        for (int i = 0; i < 65536; i++) ws.setAtIndex(Tensor.I16, i, (short) i);
        Tensor out = Tensor.zeros(DType.F32, 1, n);
        for (int p = 0; p < k; p++) {
            Tensor x = Tensor.zeros(DType.F32, 1, k);
            x.setFloat(p, 1f);
            CpuLinear.linear(x, w, null, out);
            for (int j = 0; j < n; j++) {
                float want = Float.float16ToFloat((short) (j * k + p)), got = out.getFloat(j);
                if (Float.isFinite(want)) assertEquals(want, got, 0f, "f16 bits 0x" + Integer.toHexString(j * k + p));
                else assertTrue(!Float.isFinite(got), "f16 bits 0x" + Integer.toHexString(j * k + p) + " gave " + got);
            }
        }
    }

    /**
     * x carries the 2^112 that the widening leaves out (2^(112-s) for rows past 2^15, scaled back after): rows of
     * ordinary, tiny and huge activations (one row at 1e30 would overflow without the shift), with k odd so the pair
     * and single-element tails run, against the sum in double of the same widened weights.
     */
    @Test
    void activationsOfEveryMagnitudeGiveTheWidenedSums() {
        activationsOfEveryMagnitude(67);
        activationsOfEveryMagnitude(CpuLinear.HALF_IN_LANES_MIN_K - 16);   // short rows: the widened-block path
    }

    private static void activationsOfEveryMagnitude(int k) {
        int n = 24, m = 4;
        java.util.Random r = new java.util.Random(5);
        Tensor w = Tensor.zeros(DType.F16, n, k);
        for (int i = 0; i < n * k; i++) w.segment().setAtIndex(Tensor.I16, i, Float.floatToFloat16((float) r.nextGaussian() * (i % 7 == 0 ? 1e-6f : 0.5f)));
        float[] scales = {1f, 1e-20f, 4e4f, 1e30f};
        Tensor x = Tensor.zeros(DType.F32, m, k), out = Tensor.zeros(DType.F32, m, n);
        for (int i = 0; i < m * k; i++) x.setFloat(i, (float) r.nextGaussian() * scales[i / k]);
        CpuLinear.linear(x, w, null, out);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double want = 0, mag = 0;
                for (int p = 0; p < k; p++) {
                    double t = (double) x.getFloat((long) i * k + p) * Float.float16ToFloat(w.segment().getAtIndex(Tensor.I16, (long) j * k + p));
                    want += t;
                    mag += Math.abs(t);
                }
                assertEquals(want, out.getFloat((long) i * n + j), 1e-6 * mag, "k " + k + ", row " + i + " (x scale " + scales[i] + "), output " + j);
            }
    }
}
