package mamba4j.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static mamba4j.core.ReferenceGradientTest.assertClose;
import static mamba4j.core.ReferenceGradientTest.assertGrad;
import static mamba4j.core.ReferenceGradientTest.dot;
import static mamba4j.core.ReferenceGradientTest.rand;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The Transformer-teacher ops of the reference in float64: every backward against central finite differences,
 * attention against the textbook softmax(QKᵀ·scale + mask)·V with the (T, T) matrix written out, decode
 * attention step by step against the full causal attention, rotary against an explicit rotation.
 */
class AttentionReferenceTest {
    private static final mamba4j.core.Backend R = mamba4j.core.Backends.reference();
    private static final double F64_EXACT = 1e-12;

    @Test
    void layerNormBackwardMatchesFiniteDifferences() {
        Random r = new Random(1);
        int m = 5, d = 7;
        Tensor x = rand(r, 1.5, m, d), w = rand(r, 1, d), b = rand(r, 1, d), rr = rand(r, 1, m, d);
        Tensor out = Tensor.zeros(DType.F64, m, d);
        ReferenceGradientTest.Loss f = () -> { R.layerNorm(x, w, b, 1e-5f, out); return dot(out, rr); };
        Tensor dx = Tensor.zeros(DType.F64, m, d), dw = Tensor.zeros(DType.F64, d), db = Tensor.zeros(DType.F64, d);
        R.layerNormBackward(x, w, 1e-5f, rr, dx, dw, db);
        assertGrad("layerNorm dx", dx, x, f);
        assertGrad("layerNorm dw", dw, w, f);
        assertGrad("layerNorm db", db, b, f);
    }

    @Test
    void geluTanhBackwardMatchesFiniteDifferencesAndTheFormula() {
        Random r = new Random(2);
        Tensor x = rand(r, 2, 3, 11), rr = rand(r, 1, 3, 11), out = Tensor.zeros(DType.F64, 3, 11), dx = Tensor.zeros(DType.F64, 3, 11);
        R.geluTanhBackward(x, rr, dx);
        assertGrad("geluTanh dx", dx, x, () -> { R.geluTanh(x, out); return dot(out, rr); });
        assertEquals(0.8411919906082768, Formulas.geluTanh(1.0), 1e-15, "gelu_new(1) as torch computes it");
    }

    @ParameterizedTest
    @CsvSource({"8, 8, 0", "8, 4, 3", "6, 2, 5"})
    void rotaryIsAnExplicitRotationAndItsBackwardMatchesFiniteDifferences(int dh, int rd, int pos0) {
        Random r = new Random(dh * 31 + rd);
        int b = 2, t = 3, h = 3;
        Tensor[] cs = Formulas.ropeTables(500.0, rd, 16, DType.F64);
        Tensor x = rand(r, 1, b, t, h, dh), out = Tensor.zeros(DType.F64, b, t, h, dh), rr = rand(r, 1, b, t, h, dh);
        R.rotary(x, cs[0], cs[1], rd, pos0, out);
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int hi = 0; hi < h; hi++) {
                    long base = (((long) bi * t + ti) * h + hi) * dh;
                    for (int i = 0; i < dh; i++) {
                        double want;
                        if (i >= rd) want = x.getDouble(base + i);
                        else {
                            int half = rd / 2, f = i % half;
                            double ang = (pos0 + ti) * Math.pow(500.0, -2.0 * f / rd);
                            double rot = i < half ? -x.getDouble(base + i + half) : x.getDouble(base + i - half);   // rotate_half
                            want = x.getDouble(base + i) * Math.cos(ang) + rot * Math.sin(ang);
                        }
                        assertEquals(want, out.getDouble(base + i), 1e-13, "rotary at " + base + i);
                    }
                }
        Tensor dx = Tensor.zeros(DType.F64, b, t, h, dh);
        R.rotaryBackward(rr, cs[0], cs[1], rd, pos0, dx);
        assertGrad("rotary dx", dx, x, () -> { R.rotary(x, cs[0], cs[1], rd, pos0, out); return dot(out, rr); });
        R.rotary(x, cs[0], cs[1], rd, pos0, out);   // out was left at the last finite-difference point
        Tensor inPlace = x.copy();
        R.rotary(inPlace, cs[0], cs[1], rd, pos0, inPlace);
        assertClose("rotary in place", inPlace.toDoubleArray(), out.toDoubleArray(), 0);
    }

    /** softmax(Q Kᵀ·scale + causal mask)·V with the (B, H, T, T) matrix materialised: the textbook definition. */
    static double[][] naive(Tensor q, Tensor k, Tensor v, double scale) {
        int b = q.size(0), t = q.size(1), h = q.size(2), hkv = k.size(2), dh = q.size(3), g = h / hkv;
        double[] out = new double[(int) q.numel()], probs = new double[b * h * t * t];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                double[][] s = new double[t][t];
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++) {
                        double acc = 0;
                        for (int d = 0; d < dh; d++)
                            acc += q.getDouble((((long) bi * t + i) * h + hi) * dh + d) * k.getDouble((((long) bi * t + j) * hkv + hi / g) * dh + d);
                        s[i][j] = j <= i ? acc * scale : Double.NEGATIVE_INFINITY;
                    }
                for (int i = 0; i < t; i++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j < t; j++) max = Math.max(max, s[i][j]);
                    for (int j = 0; j < t; j++) sum += Math.exp(s[i][j] - max);
                    for (int j = 0; j < t; j++) {
                        double p = Math.exp(s[i][j] - max) / sum;
                        probs[((bi * h + hi) * t + i) * t + j] = p;
                        for (int d = 0; d < dh; d++)
                            out[(int) ((((long) bi * t + i) * h + hi) * dh + d)] += p * v.getDouble((((long) bi * t + j) * hkv + hi / g) * dh + d);
                    }
                }
            }
        return new double[][]{out, probs};
    }

    @ParameterizedTest
    @CsvSource({"1, 5, 2, 2, 3", "2, 9, 4, 2, 5", "2, 7, 6, 3, 8", "1, 1, 2, 1, 4"})
    void attentionEqualsTheTextbookFormulaAndItsBackwardMatchesFiniteDifferences(int b, int t, int h, int hkv, int dh) {
        Random r = new Random(b * 1000 + t * 10 + h);
        Tensor q = rand(r, 1, b, t, h, dh), k = rand(r, 1, b, t, hkv, dh), v = rand(r, 1, b, t, hkv, dh), rr = rand(r, 1, b, t, h, dh);
        float scale = (float) (1 / Math.sqrt(dh));
        Tensor out = Tensor.zeros(DType.F64, b, t, h, dh), lse = Tensor.zeros(DType.F64, b, h, t), probs = Tensor.zeros(DType.F64, b, h, t, t);
        R.attention(q, k, v, scale, out, lse, probs);
        double[][] want = naive(q, k, v, scale);
        assertClose("attention out", out.toDoubleArray(), want[0], F64_EXACT);
        assertClose("attention probs", probs.toDoubleArray(), want[1], F64_EXACT);

        Tensor dq = Tensor.zeros(DType.F64, q.shape()), dk = Tensor.zeros(DType.F64, k.shape()), dv = Tensor.zeros(DType.F64, v.shape());
        R.attentionBackward(q, k, v, scale, out, lse, rr, dq, dk, dv);
        Tensor o2 = Tensor.zeros(DType.F64, out.shape());
        ReferenceGradientTest.Loss f = () -> { R.attention(q, k, v, scale, o2, null, null); return dot(o2, rr); };
        if (t > 1) {   // with one position the softmax is constant 1: dq = dk = 0 exactly
            assertGrad("attention dq", dq, q, f);
            assertGrad("attention dk", dk, k, f);
        } else {
            assertEquals(0.0, ReferenceGradientTest.norm(dq.toDoubleArray()) + ReferenceGradientTest.norm(dk.toDoubleArray()), "T = 1: dq, dk");
        }
        assertGrad("attention dv", dv, v, f);
    }

    @Test
    void decodeStepByStepEqualsFullAttention() {
        Random r = new Random(5);
        int b = 2, t = 9, h = 4, hkv = 2, dh = 5, cap = 12;
        Tensor q = rand(r, 1, b, t, h, dh), k = rand(r, 1, b, t, hkv, dh), v = rand(r, 1, b, t, hkv, dh);
        Tensor full = Tensor.zeros(DType.F64, b, t, h, dh);
        R.attention(q, k, v, 0.4f, full, null, null);
        Tensor kc = Tensor.zeros(DType.F64, b, cap, hkv, dh), vc = Tensor.zeros(DType.F64, b, cap, hkv, dh);
        Tensor qs = Tensor.zeros(DType.F64, b, h, dh), os = Tensor.zeros(DType.F64, b, h, dh);
        for (int ti = 0; ti < t; ti++) {
            for (int bi = 0; bi < b; bi++) {
                kc.view(((long) bi * cap + ti) * hkv * dh, hkv * dh).copyFrom(k.view(((long) bi * t + ti) * hkv * dh, hkv * dh));
                vc.view(((long) bi * cap + ti) * hkv * dh, hkv * dh).copyFrom(v.view(((long) bi * t + ti) * hkv * dh, hkv * dh));
                qs.view((long) bi * h * dh, h * dh).copyFrom(q.view(((long) bi * t + ti) * h * dh, h * dh));
            }
            R.attentionDecode(qs, kc, vc, ti + 1, 0.4f, os);
            for (int bi = 0; bi < b; bi++)
                assertClose("decode step " + ti + " row " + bi, os.view((long) bi * h * dh, h * dh).toDoubleArray(),
                        full.view(((long) bi * t + ti) * h * dh, h * dh).toDoubleArray(), F64_EXACT);
        }
    }

    @Test
    void shapeErrorsNameTheOperand() {
        Tensor q = Tensor.zeros(DType.F64, 1, 4, 3, 2), k = Tensor.zeros(DType.F64, 1, 4, 2, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> R.attention(q, k, k, 1f, q.copy(), null, null));
        assertEquals(true, e.getMessage().contains("kv heads"), e.getMessage());
        Tensor[] cs = Formulas.ropeTables(1e4, 2, 3, DType.F64);
        var e2 = assertThrows(IllegalArgumentException.class, () -> R.rotary(q, cs[0], cs[1], 2, 0, q.copy()));
        assertEquals(true, e2.getMessage().contains("max_position_embeddings"), e2.getMessage());
    }
}
