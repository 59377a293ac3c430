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
        everyPattern(w, k, n);
        // read-only (a model file's mapping): scanned once for infinities and NaNs instead of checked per chunk
        Tensor ro = Tensor.wrap(DType.F16, w.shape(), ws.asReadOnly());
        assertTrue(CpuLinear.mayHoldNonFinite(ro), "the patterns include exponent 31");
        everyPattern(ro, k, n);
    }

    /** Read-only F16 weights without infinities skip the per-chunk check, with the same sums bit for bit. */
    @Test
    void readOnlyFiniteWeightsGiveTheCheckedSums() {
        int k = 256, n = 40;
        java.util.Random r = new java.util.Random(3);
        Tensor w = Tensor.zeros(DType.F16, n, k), x = Tensor.zeros(DType.F32, 3, k);
        for (int i = 0; i < n * k; i++) w.segment().setAtIndex(Tensor.I16, i, Float.floatToFloat16((float) r.nextGaussian()));
        for (int i = 0; i < 3 * k; i++) x.setFloat(i, (float) r.nextGaussian());
        Tensor ro = Tensor.wrap(DType.F16, w.shape(), w.segment().asReadOnly());
        assertTrue(CpuLinear.mayHoldNonFinite(w), "a writable weight is always checked");
        assertTrue(!CpuLinear.mayHoldNonFinite(ro), "finite read-only weights are scanned clean");
        Tensor a = Tensor.zeros(DType.F32, 3, n), b = Tensor.zeros(DType.F32, 3, n);
        CpuLinear.linear(x, w, null, a);
        CpuLinear.linear(x, ro, null, b);
        assertEquals(-1, a.segment().mismatch(b.segment()), "the same sums");
        w.segment().setAtIndex(Tensor.I16, (long) 7 * k + 100, (short) 0x7c00);   // +inf, in a fresh read-only view
        Tensor ro2 = Tensor.wrap(DType.F16, w.shape(), w.segment().asReadOnly());
        assertTrue(CpuLinear.mayHoldNonFinite(ro2));
        CpuLinear.linear(x, ro2, null, b);
        for (int i = 0; i < 3; i++) assertTrue(!Float.isFinite(b.getFloat((long) i * n + 7)), "row " + i + ": the infinity reaches the output");
    }

    private static void everyPattern(Tensor w, int k, int n) {
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
