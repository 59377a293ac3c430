package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.Tensor;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static mamba4j.cpu.CpuKernelsTest.rand;
import static mamba4j.testkit.Compare.assertRelClose;

/** The cpu Transformer-teacher ops against the reference on the same random F32 inputs, at sizes that are not multiples of 16. */
class CpuAttentionTest {
    private final mamba4j.core.Backend cpu = new mamba4j.core.Backend(new CpuKernels());
    private final mamba4j.core.Backend ref = mamba4j.core.Backends.reference();
    /** Sums over up to a few hundred keys/rows in float32 (attention rows, dw/db over rows). */
    static final double LONG_REDUCTION = 2e-5;

    @Test
    void layerNormAndItsBackwardMatchReference() {
        Random r = new Random(1);
        for (int[] md : new int[][]{{1, 3}, {7, 33}, {50, 100}}) {
            int m = md[0], d = md[1];
            Tensor x = rand(r, 2, m, d), w = rand(r, 1, d), b = rand(r, 1, d), dy = rand(r, 1, m, d);
            Tensor o1 = Tensor.zeros(DType.F32, m, d), o2 = o1.copy();
            cpu.layerNorm(x, w, b, 1e-5f, o1);
            ref.layerNorm(x, w, b, 1e-5f, o2);
            assertRelClose("layerNorm " + m + "x" + d, o1, o2, Tolerance.FAST_VS_REFERENCE);
            cpu.layerNorm(x, w, null, 1e-5f, o1);
            ref.layerNorm(x, w, null, 1e-5f, o2);
            assertRelClose("layerNorm no bias", o1, o2, Tolerance.FAST_VS_REFERENCE);
            Tensor dx1 = Tensor.zeros(DType.F32, m, d), dx2 = dx1.copy(), dw1 = rand(r, 1, d), dw2 = dw1.copy(), db1 = rand(r, 1, d), db2 = db1.copy();
            cpu.layerNormBackward(x, w, 1e-5f, dy, dx1, dw1, db1);
            ref.layerNormBackward(x, w, 1e-5f, dy, dx2, dw2, db2);
            assertRelClose("layerNorm dx", dx1, dx2, LONG_REDUCTION);
            assertRelClose("layerNorm dw (accumulated)", dw1, dw2, LONG_REDUCTION);
            assertRelClose("layerNorm db (accumulated)", db1, db2, LONG_REDUCTION);
        }
    }

    @Test
    void geluTanhAndItsBackwardMatchReference() {
        Random r = new Random(2);
        Tensor x = rand(r, 3, 37, 41), dy = rand(r, 1, 37, 41);
        Tensor o1 = Tensor.zeros(DType.F32, 37, 41), o2 = o1.copy();
        cpu.geluTanh(x, o1);
        ref.geluTanh(x, o2);
        assertRelClose("geluTanh", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.geluTanhBackward(x, dy, o1);
        ref.geluTanhBackward(x, dy, o2);
        assertRelClose("geluTanhBackward", o1, o2, Tolerance.FAST_VS_REFERENCE);
    }

    @Test
    void rotaryAndItsBackwardMatchReference() {
        Random r = new Random(3);
        Tensor[] cs = Formulas.ropeTables(10000, 10, 40, DType.F32);
        Tensor x = rand(r, 1, 2, 17, 3, 14), o1 = Tensor.zeros(DType.F32, 2, 17, 3, 14), o2 = o1.copy();
        cpu.rotary(x, cs[0], cs[1], 10, 5, o1);
        ref.rotary(x, cs[0], cs[1], 10, 5, o2);
        assertRelClose("rotary", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.rotaryBackward(x, cs[0], cs[1], 10, 5, o1);
        ref.rotaryBackward(x, cs[0], cs[1], 10, 5, o2);
        assertRelClose("rotaryBackward", o1, o2, Tolerance.FAST_VS_REFERENCE);
        Tensor inPlace = x.copy();
        cpu.rotary(inPlace, cs[0], cs[1], 10, 5, inPlace);
        ref.rotary(x, cs[0], cs[1], 10, 5, o2);
        assertRelClose("rotary in place", inPlace, o2, Tolerance.FAST_VS_REFERENCE);
    }

    /** T spans several key tiles (TILE = 64) so the online-softmax rescaling is exercised; head dims below and above the vector width. */
    @ParameterizedTest
    @CsvSource({"1, 1, 2, 1, 8", "2, 37, 4, 2, 8", "1, 150, 6, 3, 20", "2, 131, 2, 2, 33"})
    void attentionForwardProbsAndBackwardMatchReference(int b, int t, int h, int hkv, int dh) {
        Random r = new Random(t * 7 + dh);
        Tensor q = rand(r, 1, b, t, h, dh), k = rand(r, 1, b, t, hkv, dh), v = rand(r, 1, b, t, hkv, dh), dOut = rand(r, 1, b, t, h, dh);
        float scale = (float) (1 / Math.sqrt(dh)) * 2;   // sharper than usual: larger score spread
        Tensor o1 = Tensor.zeros(DType.F32, b, t, h, dh), o2 = o1.copy();
        Tensor l1 = Tensor.zeros(DType.F32, b, h, t), l2 = l1.copy(), p1 = Tensor.zeros(DType.F32, b, h, t, t), p2 = p1.copy();
        p1.fill(7f);   // garbage above the diagonal must be overwritten with zeros
        cpu.attention(q, k, v, scale, o1, l1, p1);
        ref.attention(q, k, v, scale, o2, l2, p2);
        assertRelClose("attention out", o1, o2, LONG_REDUCTION);
        assertRelClose("attention lse", l1, l2, LONG_REDUCTION);
        assertRelClose("attention probs", p1, p2, LONG_REDUCTION);
        Tensor o3 = Tensor.zeros(DType.F32, b, t, h, dh);
        cpu.attention(q, k, v, scale, o3, null, null);
        assertRelClose("attention without lse/probs", o3, o1, Tolerance.FAST_VS_REFERENCE);   // Math.exp may differ by an ulp interpreted vs compiled

        Tensor dq1 = Tensor.zeros(DType.F32, q.shape()), dq2 = dq1.copy(), dk1 = Tensor.zeros(DType.F32, k.shape()), dk2 = dk1.copy();
        Tensor dv1 = Tensor.zeros(DType.F32, v.shape()), dv2 = dv1.copy();
        cpu.attentionBackward(q, k, v, scale, o2, l2, dOut, dq1, dk1, dv1);
        ref.attentionBackward(q, k, v, scale, o2, l2, dOut, dq2, dk2, dv2);
        assertRelClose("attention dq", dq1, dq2, LONG_REDUCTION);
        assertRelClose("attention dk", dk1, dk2, LONG_REDUCTION);
        assertRelClose("attention dv", dv1, dv2, LONG_REDUCTION);
    }

    @Test
    void decodeMatchesReferenceAndTheLastRowOfFullAttention() {
        Random r = new Random(9);
        int b = 3, t = 70, h = 4, hkv = 2, dh = 12;
        Tensor q = rand(r, 1, b, t, h, dh), k = rand(r, 1, b, t, hkv, dh), v = rand(r, 1, b, t, hkv, dh);
        Tensor full = Tensor.zeros(DType.F32, b, t, h, dh);
        cpu.attention(q, k, v, 0.3f, full, null, null);
        Tensor qLast = Tensor.zeros(DType.F32, b, h, dh), o1 = qLast.copy(), o2 = qLast.copy();
        for (int bi = 0; bi < b; bi++) qLast.view((long) bi * h * dh, h * dh).copyFrom(q.view(((long) bi * t + t - 1) * h * dh, h * dh));
        cpu.attentionDecode(qLast, k, v, t, 0.3f, o1);     // the whole k/v as a cache filled to capacity
        ref.attentionDecode(qLast, k, v, t, 0.3f, o2);
        assertRelClose("decode cpu vs reference", o1, o2, LONG_REDUCTION);
        for (int bi = 0; bi < b; bi++)
            assertRelClose("decode == last row of full, row " + bi, o1.view((long) bi * h * dh, h * dh),
                    full.view(((long) bi * t + t - 1) * h * dh, h * dh), Tolerance.F32_IDENTITY);
    }
}
