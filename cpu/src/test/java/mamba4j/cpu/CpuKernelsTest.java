package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.SelectiveScan;
import mamba4j.core.Tensor;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static mamba4j.testkit.Compare.assertRelClose;

/** Every cpu op against the reference on random inputs, at sizes that are and are not multiples of the vector width. */
class CpuKernelsTest {
    private final mamba4j.core.Backend cpu = new mamba4j.core.Backend(new CpuKernels());
    private final mamba4j.core.Backend ref = mamba4j.core.Backends.reference();

    static Tensor rand(Random r, float scale, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) r.nextGaussian() * scale);
        return t;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 7, 16, 33, 100})
    void linearMatchesReference(int m) {
        Random r = new Random(m);
        for (int[] nk : new int[][]{{5, 7}, {16, 16}, {37, 61}, {64, 128}, {130, 200}}) {
            int n = nk[0], k = nk[1];
            Tensor x = rand(r, 1, m, k), w = rand(r, 0.3f, n, k), b = rand(r, 1, n);
            for (DType wt : new DType[]{DType.F32, DType.BF16, DType.F16}) {
                Tensor wq = w.to(wt);
                for (Tensor bias : new Tensor[]{null, b}) {
                    Tensor o1 = Tensor.zeros(DType.F32, m, n), o2 = Tensor.zeros(DType.F32, m, n);
                    cpu.linear(x, wq, bias, o1);
                    ref.linear(x, wq, bias, o2);
                    assertRelClose("linear m=" + m + " n=" + n + " k=" + k + " " + wt, o1, o2, Tolerance.FAST_VS_REFERENCE);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 15, 16, 17, 48, 100})
    void elementwiseAndNormMatchReference(int d) {
        Random r = new Random(d);
        Tensor x = rand(r, 4, 3, d), y = rand(r, 4, 3, d), w = rand(r, 1, d);
        x.setFloat(0, 25f);  // exercise the softplus threshold
        Tensor o1 = Tensor.zeros(DType.F32, 3, d), o2 = Tensor.zeros(DType.F32, 3, d);
        cpu.rmsNorm(x, w, 1e-5f, o1); ref.rmsNorm(x, w, 1e-5f, o2); assertRelClose("rmsNorm", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.add(x, y, o1); ref.add(x, y, o2); assertRelClose("add", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.silu(x, o1); ref.silu(x, o2); assertRelClose("silu", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.softplus(x, o1); ref.softplus(x, o2); assertRelClose("softplus", o1, o2, Tolerance.FAST_VS_REFERENCE);
        cpu.mulSilu(x, y, o1); ref.mulSilu(x, y, o2); assertRelClose("mulSilu", o1, o2, Tolerance.FAST_VS_REFERENCE);
    }

    @Test
    void embeddingMatchesReference() {
        Random r = new Random(1);
        Tensor w = rand(r, 1, 11, 19);
        int[] ids = {0, 10, 3, 3};
        for (DType dt : new DType[]{DType.F32, DType.BF16, DType.F16}) {
            Tensor o1 = Tensor.zeros(DType.F32, 4, 19), o2 = Tensor.zeros(DType.F32, 4, 19);
            cpu.embedding(w.to(dt), cpu.ids(ids), o1);
            ref.embedding(w.to(dt), ref.ids(ids), o2);
            assertRelClose("embedding " + dt, o1, o2, 0);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 16, 37})
    void convMatchesReference(int c) {
        Random r = new Random(c);
        int b = 2, l = 9, k = 4;
        Tensor x = rand(r, 1, b, l, c), w = rand(r, 1, c, k), bias = rand(r, 1, c);
        for (boolean silu : new boolean[]{false, true}) {
            Tensor o1 = Tensor.zeros(DType.F32, b, l, c), o2 = Tensor.zeros(DType.F32, b, l, c);
            cpu.causalConv1d(x, w, bias, silu, o1);
            ref.causalConv1d(x, w, bias, silu, o2);
            assertRelClose("conv", o1, o2, Tolerance.FAST_VS_REFERENCE);
            // step by step from a zero state reproduces the whole-sequence conv
            Tensor state = Tensor.zeros(DType.F32, b, c, k), xt = Tensor.zeros(DType.F32, b, c), ot = Tensor.zeros(DType.F32, b, c);
            Tensor stepped = Tensor.zeros(DType.F32, b, l, c);
            for (int t = 0; t < l; t++) {
                for (int bi = 0; bi < b; bi++) for (int ch = 0; ch < c; ch++) xt.setFloat((long) bi * c + ch, x.getFloat(((long) bi * l + t) * c + ch));
                cpu.causalConv1dStep(state, xt, w, bias, silu, ot);
                for (int bi = 0; bi < b; bi++) for (int ch = 0; ch < c; ch++) stepped.setFloat(((long) bi * l + t) * c + ch, ot.getFloat((long) bi * c + ch));
            }
            assertRelClose("conv step == conv", stepped, o2, Tolerance.FAST_VS_REFERENCE);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 16, 40, 64})
    void selectiveScanMatchesReference(int e) {
        Random r = new Random(e);
        int b = 2, l = 23, n = 16;
        Tensor u = rand(r, 1, b, l, e), delta = rand(r, 1, b, l, e), dbias = rand(r, 0.5f, e);
        Tensor a = Tensor.zeros(DType.F32, e, n);
        for (int i = 0; i < e * n; i++) a.setFloat(i, (float) -Math.exp(r.nextGaussian()));
        Tensor bm = rand(r, 1, b, l, n), cm = rand(r, 1, b, l, n), d = rand(r, 1, e), z = rand(r, 1, b, l, e);
        Tensor s1 = rand(r, 1, b, e, n), s2 = s1.copy();
        Tensor o1 = Tensor.zeros(DType.F32, b, l, e), o2 = Tensor.zeros(DType.F32, b, l, e);
        cpu.selectiveScan(new SelectiveScan(u, delta, dbias, true, a, bm, cm, d, z, s1, o1));
        ref.selectiveScan(new SelectiveScan(u, delta, dbias, true, a, bm, cm, d, z, s2, o2));
        assertRelClose("scan out", o1, o2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("scan final state", s1, s2, Tolerance.FAST_VS_REFERENCE);
        // without optional inputs, Δ given directly (positive)
        for (long i = 0; i < delta.numel(); i++) delta.setFloat(i, Math.abs(delta.getFloat(i)) * 0.5f);
        cpu.selectiveScan(new SelectiveScan(u, delta, null, false, a, bm, cm, null, null, null, o1));
        ref.selectiveScan(new SelectiveScan(u, delta, null, false, a, bm, cm, null, null, null, o2));
        assertRelClose("scan out (no D, z, bias)", o1, o2, Tolerance.FAST_VS_REFERENCE);
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 16, 19, 64})
    void singleStepScanMatchesReference(int n) {
        Random r = new Random(n);
        int b = 3, e = 21;
        Tensor u = rand(r, 1, b, 1, e), delta = rand(r, 1, b, 1, e), dbias = rand(r, 0.5f, e);
        Tensor a = Tensor.zeros(DType.F32, e, n);
        for (int i = 0; i < e * n; i++) a.setFloat(i, (float) -Math.exp(r.nextGaussian()));
        Tensor bm = rand(r, 1, b, 1, n), cm = rand(r, 1, b, 1, n), d = rand(r, 1, e), z = rand(r, 1, b, 1, e);
        Tensor s1 = rand(r, 1, b, e, n), s2 = s1.copy();
        Tensor o1 = Tensor.zeros(DType.F32, b, 1, e), o2 = Tensor.zeros(DType.F32, b, 1, e);
        cpu.selectiveScan(new SelectiveScan(u, delta, dbias, true, a, bm, cm, d, z, s1, o1));
        ref.selectiveScan(new SelectiveScan(u, delta, dbias, true, a, bm, cm, d, z, s2, o2));
        assertRelClose("step out", o1, o2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("step state", s1, s2, Tolerance.FAST_VS_REFERENCE);
    }

    @Test
    void scanInTwoPiecesWithStateEqualsOnePiece() {
        Random r = new Random(7);
        int b = 1, l = 20, e = 32, n = 8, cut = 13;
        Tensor u = rand(r, 1, b, l, e), delta = rand(r, 1, b, l, e);
        Tensor a = Tensor.zeros(DType.F32, e, n);
        for (int i = 0; i < e * n; i++) a.setFloat(i, -1f - i % 5);
        Tensor bm = rand(r, 1, b, l, n), cm = rand(r, 1, b, l, n);
        Tensor whole = Tensor.zeros(DType.F32, b, l, e);
        cpu.selectiveScan(new SelectiveScan(u, delta, null, true, a, bm, cm, null, null, null, whole));
        Tensor state = Tensor.zeros(DType.F32, b, e, n);
        Tensor p1 = Tensor.zeros(DType.F32, b, cut, e), p2 = Tensor.zeros(DType.F32, b, l - cut, e);
        cpu.selectiveScan(new SelectiveScan(u.view(0, b, cut, e), delta.view(0, b, cut, e), null, true, a,
                bm.view(0, b, cut, n), cm.view(0, b, cut, n), null, null, state, p1));
        cpu.selectiveScan(new SelectiveScan(u.view((long) cut * e, b, l - cut, e), delta.view((long) cut * e, b, l - cut, e), null, true, a,
                bm.view((long) cut * n, b, l - cut, n), cm.view((long) cut * n, b, l - cut, n), null, null, state, p2));
        assertRelClose("first piece", p1, whole.view(0, b, cut, e), Tolerance.F32_IDENTITY);
        assertRelClose("second piece", p2, whole.view((long) cut * e, b, l - cut, e), Tolerance.F32_IDENTITY);
    }
}
