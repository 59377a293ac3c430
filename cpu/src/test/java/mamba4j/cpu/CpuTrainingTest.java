package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Tensor;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static mamba4j.cpu.CpuKernelsTest.rand;
import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every cpu training op against the reference on the same random F32 inputs, at sizes that are not multiples of the vector width. */
class CpuTrainingTest {
    private final mamba4j.core.Backend cpu = new mamba4j.core.Backend(new CpuKernels());
    private final mamba4j.core.Backend ref = mamba4j.core.Backends.reference();

    /**
     * Fast F32 against the reference for ops that sum hundreds of terms per output in float (matmul over K, dA and
     * dDeltaBias over B·L steps, dB and dC over E channels of a recurrence): float rounding grows like √terms.
     */
    static final double LONG_REDUCTION = 2e-5;

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void matmulMatchesReference(int flags) {
        boolean ta = (flags & 1) != 0, tb = (flags & 2) != 0;
        Random r = new Random(flags);
        for (int[] mkn : new int[][]{{1, 1, 1}, {7, 13, 5}, {6, 16, 32}, {49, 33, 129}, {50, 300, 70}, {100, 37, 200}}) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            Tensor a = ta ? rand(r, 1, k, m) : rand(r, 1, m, k), b = tb ? rand(r, 1, n, k) : rand(r, 1, k, n);
            Tensor o1 = rand(r, 1, m, n), o2 = o1.copy();
            String what = "matmul " + (ta ? "aᵀ" : "a") + (tb ? "bᵀ" : "b") + " " + m + "x" + k + "x" + n;
            cpu.matmul(a, ta, b, tb, o1, true);
            ref.matmul(a, ta, b, tb, o2, true);
            assertRelClose(what + " accumulate", o1, o2, LONG_REDUCTION);
            cpu.matmul(a, ta, b, tb, o1, false);
            ref.matmul(a, ta, b, tb, o2, false);
            assertRelClose(what, o1, o2, LONG_REDUCTION);
        }
    }

    @Test
    void nonF32IsRejectedNamingTheOp() {
        Tensor a = Tensor.zeros(DType.F64, 3, 3);
        var e = assertThrows(IllegalArgumentException.class, () -> cpu.matmul(a, false, a, false, Tensor.zeros(DType.F64, 3, 3), false));
        assertTrue(e.getMessage().contains("matmul"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> cpu.scale(a, 2f));
        assertTrue(e2.getMessage().contains("scale"), e2.getMessage());
    }

    /** D ≥ 2: at D = 1 rmsNorm is sign(x)·w and dx is pure cancellation of two equal terms, ill-conditioned in F32. */
    @ParameterizedTest
    @ValueSource(ints = {2, 15, 17, 48, 100})
    void rowOpsMatchReference(int d) {
        Random r = new Random(d);
        int m = 37;
        Tensor x = rand(r, 2, m, d), w = rand(r, 1, d), dy = rand(r, 1, m, d);
        Tensor dx1 = Tensor.zeros(DType.F32, m, d), dx2 = Tensor.zeros(DType.F32, m, d);
        Tensor dw1 = rand(r, 1, d), dw2 = dw1.copy();
        cpu.rmsNormBackward(x, w, 1e-5f, dy, dx1, dw1);
        ref.rmsNormBackward(x, w, 1e-5f, dy, dx2, dw2);
        assertRelClose("rmsNormBackward dx", dx1, dx2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("rmsNormBackward dw", dw1, dw2, Tolerance.FAST_VS_REFERENCE);
        Tensor s1 = rand(r, 1, d), s2 = s1.copy();
        cpu.sumRows(dy, s1, true);
        ref.sumRows(dy, s2, true);
        assertRelClose("sumRows accumulate", s1, s2, Tolerance.FAST_VS_REFERENCE);
        cpu.sumRows(dy, s1, false);
        ref.sumRows(dy, s2, false);
        assertRelClose("sumRows", s1, s2, Tolerance.FAST_VS_REFERENCE);
        int[] ids = {3, 0, 3, 5, 3, 1};
        Tensor g = rand(r, 1, ids.length, d), e1 = rand(r, 1, 6, d), e2 = e1.copy();
        cpu.embeddingBackward(cpu.ids(ids), g, e1);
        ref.embeddingBackward(ref.ids(ids), g, e2);
        assertRelClose("embeddingBackward", e1, e2, Tolerance.FAST_VS_REFERENCE);
        assertEquals(mamba4j.testkit.HostOps.sumSquares(ref, x), mamba4j.testkit.HostOps.sumSquares(cpu, x), 1e-6 * mamba4j.testkit.HostOps.sumSquares(ref, x), "sumSquares");
        Tensor c1 = x.copy(), c2 = x.copy();
        cpu.scale(c1, 0.37f);
        ref.scale(c2, 0.37f);
        assertRelClose("scale", c1, c2, Tolerance.FAST_VS_REFERENCE);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 15, 16, 17, 100, 40000})
    void elementwiseBackwardsMatchReference(int n) {
        Random r = new Random(n);
        Tensor x = rand(r, 4, n), y = rand(r, 1, n), g = rand(r, 1, n);
        x.setFloat(0, 25f);  // past the softplus threshold
        Tensor a1 = Tensor.zeros(DType.F32, n), a2 = Tensor.zeros(DType.F32, n), b1 = Tensor.zeros(DType.F32, n), b2 = Tensor.zeros(DType.F32, n);
        cpu.siluBackward(x, g, a1); ref.siluBackward(x, g, a2);
        assertRelClose("siluBackward", a1, a2, Tolerance.FAST_VS_REFERENCE);
        cpu.softplusBackward(x, g, a1); ref.softplusBackward(x, g, a2);
        assertRelClose("softplusBackward", a1, a2, Tolerance.FAST_VS_REFERENCE);
        cpu.mulSiluBackward(y, x, g, a1, b1); ref.mulSiluBackward(y, x, g, a2, b2);
        assertRelClose("mulSiluBackward dy", a1, a2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("mulSiluBackward dz", b1, b2, Tolerance.FAST_VS_REFERENCE);
    }

    @ParameterizedTest
    @ValueSource(ints = {5, 16, 37})
    void convBackwardMatchesReference(int c) {
        Random r = new Random(c);
        int b = 2, k = 4;
        for (int l : new int[]{3, 11}) {
            Tensor x = rand(r, 1, b, l, c), w = rand(r, 0.5f, c, k), bias = rand(r, 0.5f, c), g = rand(r, 1, b, l, c);
            for (boolean silu : new boolean[]{false, true}) {
                Tensor dx1 = Tensor.zeros(DType.F32, b, l, c), dx2 = Tensor.zeros(DType.F32, b, l, c);
                Tensor dw1 = rand(r, 1, c, k), dw2 = dw1.copy(), db1 = rand(r, 1, c), db2 = db1.copy();
                cpu.causalConv1dBackward(x, w, bias, silu, g, dx1, dw1, db1);
                ref.causalConv1dBackward(x, w, bias, silu, g, dx2, dw2, db2);
                assertRelClose("conv dx", dx1, dx2, Tolerance.FAST_VS_REFERENCE);
                assertRelClose("conv dw", dw1, dw2, Tolerance.FAST_VS_REFERENCE);
                assertRelClose("conv dbias", db1, db2, Tolerance.FAST_VS_REFERENCE);
            }
        }
    }

    @Test
    void crossEntropyMatchesReference() {
        Random r = new Random(4);
        int m = 7, v = 1001;
        int[] targets = {5, -100, 1000, 0, 17, -100, 999};
        Tensor logits = rand(r, 3, m, v), d1 = Tensor.zeros(DType.F32, m, v), d2 = Tensor.zeros(DType.F32, m, v);
        double l1 = mamba4j.testkit.HostOps.crossEntropy(cpu, logits, targets, 0.5f, d1), l2 = mamba4j.testkit.HostOps.crossEntropy(ref, logits, targets, 0.5f, d2);
        assertEquals(l2, l1, 1e-6 * l2, "loss");
        assertRelClose("dLogits", d1, d2, Tolerance.FAST_VS_REFERENCE);
        Tensor inPlace = logits.copy();
        assertEquals(l1, mamba4j.testkit.HostOps.crossEntropy(cpu, inPlace, targets, 0.5f, inPlace), 0, "in place loss");
        assertRelClose("dLogits in place", inPlace, d1, 0);
    }

    @Test
    void adamWMatchesReference() {
        Random r = new Random(8);
        int n = 1000 + 3;
        Tensor p1 = rand(r, 1, n), m1 = Tensor.zeros(DType.F32, n), v1 = Tensor.zeros(DType.F32, n);
        Tensor p2 = p1.copy(), m2 = m1.copy(), v2 = v1.copy();
        for (int step = 1; step <= 3; step++) {
            Tensor g = rand(r, 0.1f, n);
            cpu.adamW(p1, g, m1, v1, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
            ref.adamW(p2, g, m2, v2, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
        }
        assertRelClose("adamW p", p1, p2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("adamW m", m1, m2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("adamW v", v1, v2, Tolerance.FAST_VS_REFERENCE);
    }

    // ------------------------------------------------------------------ scan

    record ScanInputs(Tensor u, Tensor delta, Tensor bias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor z, Tensor state0) {
        static ScanInputs random(Random r, int b, int l, int e, int n) {
            Tensor a = Tensor.zeros(DType.F32, e, n);
            for (int i = 0; i < e * n; i++) a.setFloat(i, (float) -Math.exp(r.nextGaussian() * 0.5));
            return new ScanInputs(rand(r, 1, b, l, e), rand(r, 1, b, l, e), rand(r, 0.5f, e), a, rand(r, 1, b, l, n),
                    rand(r, 1, b, l, n), rand(r, 1, e), rand(r, 1, b, l, e), rand(r, 1, b, e, n));
        }

        SelectiveScan args(Tensor state, Tensor out) { return new SelectiveScan(u, delta, bias, true, a, bm, cm, d, z, state, out); }

        int b() { return u.size(0); } int l() { return u.size(1); } int e() { return u.size(2); } int n() { return a.size(1); }
    }

    static SelectiveScanGrads grads(int b, int l, int e, int n) {
        return new SelectiveScanGrads(Tensor.zeros(DType.F32, b, l, e), Tensor.zeros(DType.F32, b, l, e), Tensor.zeros(DType.F32, e, n),
                Tensor.zeros(DType.F32, b, l, n), Tensor.zeros(DType.F32, b, l, n), Tensor.zeros(DType.F32, e),
                Tensor.zeros(DType.F32, b, l, e), Tensor.zeros(DType.F32, e), Tensor.zeros(DType.F32, b, e, n));
    }

    static void assertGradsClose(String what, SelectiveScanGrads g1, SelectiveScanGrads g2, double tol) {
        assertRelClose(what + " du", g1.du(), g2.du(), tol);
        assertRelClose(what + " dDelta", g1.dDelta(), g2.dDelta(), tol);
        assertRelClose(what + " dA", g1.dA(), g2.dA(), tol);
        assertRelClose(what + " dB", g1.dB(), g2.dB(), tol);
        assertRelClose(what + " dC", g1.dC(), g2.dC(), tol);
        assertRelClose(what + " dD", g1.dD(), g2.dD(), tol);
        assertRelClose(what + " dZ", g1.dZ(), g2.dZ(), tol);
        assertRelClose(what + " dDeltaBias", g1.dDeltaBias(), g2.dDeltaBias(), tol);
        assertRelClose(what + " dState0", g1.dState0(), g2.dState0(), tol);
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 16, 40})
    void scanForwardSavesTheStatesAPlainScanReaches(int e) {
        Random r = new Random(e);
        int b = 2, l = 23, n = 16, chunk = 7, chunks = 4;
        ScanInputs in = ScanInputs.random(r, b, l, e, n);
        Tensor cs1 = Tensor.zeros(DType.F32, b, chunks, e, n), cs2 = cs1.copy();
        Tensor s1 = in.state0.copy(), s2 = in.state0.copy();
        Tensor o1 = Tensor.zeros(DType.F32, b, l, e), o2 = Tensor.zeros(DType.F32, b, l, e);
        cpu.selectiveScanForward(in.args(s1, o1), chunk, cs1);
        ref.selectiveScanForward(in.args(s2, o2), chunk, cs2);
        assertRelClose("scan forward out", o1, o2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("scan forward final state", s1, s2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("scan forward chunk states", cs1, cs2, Tolerance.FAST_VS_REFERENCE);
        // chunkStates[:, c] is the state a plain scan from state0 reaches after c·chunk steps
        for (int bi = 0; bi < b; bi++)
            for (int c = 0; c < chunks; c++) {
                Tensor st = in.state0.view((long) bi * e * n, 1, e, n).copy();
                int t = c * chunk;
                if (t > 0) {
                    long ue = (long) bi * l * e, un = (long) bi * l * n;
                    cpu.selectiveScan(new SelectiveScan(in.u.view(ue, 1, t, e), in.delta.view(ue, 1, t, e), in.bias, true, in.a,
                            in.bm.view(un, 1, t, n), in.cm.view(un, 1, t, n), in.d, in.z.view(ue, 1, t, e), st, Tensor.zeros(DType.F32, 1, t, e)));
                }
                assertRelClose("chunk state b=" + bi + " c=" + c, cs1.view(((long) bi * chunks + c) * e * n, 1, e, n), st, Tolerance.F32_IDENTITY);
            }
    }

    @ParameterizedTest
    @ValueSource(ints = {3, 16, 40})
    void scanBackwardMatchesReference(int e) {
        Random r = new Random(e + 100);
        int b = 2, l = 23, n = 16, chunk = 5, chunks = 5;
        ScanInputs in = ScanInputs.random(r, b, l, e, n);
        Tensor cs = Tensor.zeros(DType.F32, b, chunks, e, n), out = Tensor.zeros(DType.F32, b, l, e), dOut = rand(r, 1, b, l, e);
        SelectiveScan args = in.args(in.state0.copy(), out);
        ref.selectiveScanForward(args, chunk, cs);
        SelectiveScanGrads g1 = grads(b, l, e, in.n()), g2 = grads(b, l, e, in.n());
        cpu.selectiveScanBackward(args, chunk, cs, dOut, g1);
        ref.selectiveScanBackward(args, chunk, cs, dOut, g2);
        assertGradsClose("scan backward E=" + e, g1, g2, LONG_REDUCTION);
        // without the optional inputs (no z, D, bias, state; Δ given directly)
        Tensor delta = in.delta.copy();
        for (long i = 0; i < delta.numel(); i++) delta.setFloat(i, Math.abs(delta.getFloat(i)) * 0.5f);
        SelectiveScan plain = new SelectiveScan(in.u, delta, null, false, in.a, in.bm, in.cm, null, null, null, out);
        ref.selectiveScanForward(plain, chunk, cs);
        SelectiveScanGrads p1 = new SelectiveScanGrads(Tensor.zeros(DType.F32, b, l, e), Tensor.zeros(DType.F32, b, l, e), null, null,
                Tensor.zeros(DType.F32, b, l, n), null, null, null, null);
        SelectiveScanGrads p2 = new SelectiveScanGrads(Tensor.zeros(DType.F32, b, l, e), Tensor.zeros(DType.F32, b, l, e), null, null,
                Tensor.zeros(DType.F32, b, l, n), null, null, null, null);
        cpu.selectiveScanBackward(plain, chunk, cs, dOut, p1);
        ref.selectiveScanBackward(plain, chunk, cs, dOut, p2);
        assertRelClose("plain scan du", p1.du(), p2.du(), LONG_REDUCTION);
        assertRelClose("plain scan dDelta", p1.dDelta(), p2.dDelta(), LONG_REDUCTION);
        assertRelClose("plain scan dC", p1.dC(), p2.dC(), LONG_REDUCTION);
    }

    @Test
    void scanBackwardAgreesAcrossChunkSizes() {
        Random r = new Random(77);
        int b = 2, l = 37, e = 21, n = 16;
        ScanInputs in = ScanInputs.random(r, b, l, e, n);
        Tensor dOut = rand(r, 1, b, l, e);
        SelectiveScanGrads first = null;
        for (int chunk : new int[]{1, 7, 16, 37, 64}) {
            int chunks = (l + chunk - 1) / chunk;
            Tensor cs = Tensor.zeros(DType.F32, b, chunks, e, n), out = Tensor.zeros(DType.F32, b, l, e);
            SelectiveScan args = in.args(in.state0.copy(), out);
            cpu.selectiveScanForward(args, chunk, cs);
            SelectiveScanGrads g = grads(b, l, e, n);
            cpu.selectiveScanBackward(args, chunk, cs, dOut, g);
            if (first == null) first = g;
            else assertGradsClose("chunk " + chunk + " vs chunk 1", g, first, Tolerance.F32_IDENTITY);
        }
    }
}
