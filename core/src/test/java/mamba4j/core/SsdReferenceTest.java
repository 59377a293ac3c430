package mamba4j.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static mamba4j.core.ReferenceGradientTest.assertClose;
import static mamba4j.core.ReferenceGradientTest.assertGrad;
import static mamba4j.core.ReferenceGradientTest.dot;
import static mamba4j.core.ReferenceGradientTest.rand;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reference SSD and Mamba-2's column ops in float64: every gradient against central finite differences of
 * Σ R ⊙ out, and the recurrence's own identities (chunk size does not change the result; chunkStates are the
 * states reached at chunk starts).
 */
class SsdReferenceTest {
    private static final mamba4j.core.Backend R = mamba4j.core.Backends.reference();
    /** Two float64 computations of the same formula in different orders. */
    private static final double F64_EXACT = 1e-12;

    /** Random F64 SSD operands; logA = −(0.05 + |N(0, 0.5)|) (a decay in (0, 1)), scale in [0.1, 1.1). */
    record Inputs(int b, int l, int h, int p, int g, int n, Tensor x, Tensor logA, Tensor scale, Tensor bm, Tensor cm, Tensor d, Tensor state0) {
        static Inputs random(long seed, int b, int l, int h, int p, int g, int n, boolean withScale, boolean withD, boolean withState) {
            Random r = new Random(seed);
            Tensor logA = Tensor.zeros(DType.F64, b, l, h), scale = withScale ? Tensor.zeros(DType.F64, b, l, h) : null;
            for (long i = 0; i < logA.numel(); i++) {
                Formulas.store(logA, i, -(0.05 + Math.abs(r.nextGaussian() * 0.5)));
                if (scale != null) Formulas.store(scale, i, 0.1 + r.nextDouble());
            }
            return new Inputs(b, l, h, p, g, n, rand(r, 1, b, l, h, p), logA, scale, rand(r, 0.7, b, l, g, n), rand(r, 0.7, b, l, g, n),
                    withD ? rand(r, 1, h) : null, withState ? rand(r, 1, b, h, p, n) : null);
        }

        /** The Ssd with a fresh copy of the initial state (the op overwrites it with S_L) and a new out. */
        Ssd args() {
            return new Ssd(x, logA, scale, bm, cm, d, state0 == null ? null : state0.copy(), Tensor.zeros(DType.F64, b, l, h, p));
        }

        Tensor chunkStates(int chunk) { return Tensor.zeros(DType.F64, b, (l + chunk - 1) / chunk, h, p, n); }
    }

    static Stream<Arguments> ssdCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int chunk : new int[]{1, 3, 4, 9, 12})
            for (int g : new int[]{1, 2})
                for (int sd = 0; sd < 4; sd++) cases.add(Arguments.of(chunk, g, (sd & 1) != 0, (sd & 2) != 0, true));
        cases.add(Arguments.of(4, 2, true, true, false));
        cases.add(Arguments.of(9, 1, false, false, false));
        return cases.stream();
    }

    @ParameterizedTest(name = "chunk {0}, G {1}, scale {2}, D {3}, state {4}")
    @MethodSource("ssdCases")
    void ssdBackwardMatchesFiniteDifferences(int chunk, int g, boolean withScale, boolean withD, boolean withState) {
        Inputs in = Inputs.random(chunk * 31L + g, 2, 9, 4, 3, g, 5, withScale, withD, withState);
        Tensor rOut = rand(new Random(7), 1, 2, 9, 4, 3);
        ReferenceGradientTest.Loss loss = () -> {
            Ssd a = in.args();
            R.ssd(a, chunk);
            return dot(a.out(), rOut);
        };
        Ssd a = in.args();
        Tensor cs = in.chunkStates(chunk);
        R.ssdForward(a, chunk, cs);
        SsdGrads gr = new SsdGrads(Tensor.zeros(DType.F64, 2, 9, 4, 3), Tensor.zeros(DType.F64, 2, 9, 4),
                withScale ? Tensor.zeros(DType.F64, 2, 9, 4) : null, rand(new Random(1), 1, 2, 9, g, 5), rand(new Random(2), 1, 2, 9, g, 5),
                withD ? Tensor.zeros(DType.F64, 4) : null, withState ? Tensor.zeros(DType.F64, 2, 4, 3, 5) : null);
        R.ssdBackward(a, chunk, cs, rOut, gr);   // dB, dC start non-zero: they are written, not accumulated
        assertGrad("dx", gr.dx(), in.x(), loss);
        assertGrad("dLogA", gr.dLogA(), in.logA(), loss);
        assertGrad("dB", gr.dB(), in.bm(), loss);
        assertGrad("dC", gr.dC(), in.cm(), loss);
        if (withScale) assertGrad("dScale", gr.dScale(), in.scale(), loss);
        if (withD) assertGrad("dD", gr.dD(), in.d(), loss);
        if (withState) assertGrad("dState0", gr.dState0(), in.state0(), loss);
    }

    @Test
    void dDAccumulates() {
        Inputs in = Inputs.random(3, 1, 5, 2, 3, 1, 4, true, true, false);
        Ssd a = in.args();
        Tensor cs = in.chunkStates(2), dOut = rand(new Random(4), 1, 1, 5, 2, 3);
        R.ssdForward(a, 2, cs);
        SsdGrads once = grads(1, 5, 2, 3, 1, 4), twice = grads(1, 5, 2, 3, 1, 4);
        R.ssdBackward(a, 2, cs, dOut, once);
        R.ssdBackward(a, 2, cs, dOut, twice);
        R.ssdBackward(a, 2, cs, dOut, twice);
        for (int h = 0; h < 2; h++) assertEquals(2 * once.dD().getDouble(h), twice.dD().getDouble(h), F64_EXACT);
        assertClose("dB written, not accumulated", twice.dB().toDoubleArray(), once.dB().toDoubleArray(), F64_EXACT);
    }

    static SsdGrads grads(int b, int l, int h, int p, int g, int n) {
        return new SsdGrads(Tensor.zeros(DType.F64, b, l, h, p), Tensor.zeros(DType.F64, b, l, h), Tensor.zeros(DType.F64, b, l, h),
                Tensor.zeros(DType.F64, b, l, g, n), Tensor.zeros(DType.F64, b, l, g, n), Tensor.zeros(DType.F64, h), Tensor.zeros(DType.F64, b, h, p, n));
    }

    /** The chunk only decides which states are saved: outputs and final states agree exactly across chunk sizes. */
    @Test
    void chunkSizeDoesNotChangeTheResultAndChunkStatesAreTheStatesReached() {
        Inputs in = Inputs.random(5, 2, 11, 4, 3, 2, 5, true, true, true);
        Ssd whole = in.args();
        R.ssd(whole, 11);
        for (int chunk : new int[]{1, 4, 11, 20}) {
            Ssd a = in.args();
            Tensor cs = in.chunkStates(chunk);
            R.ssdForward(a, chunk, cs);
            assertClose("out, chunk " + chunk, a.out().toDoubleArray(), whole.out().toDoubleArray(), 0);
            assertClose("state, chunk " + chunk, a.state().toDoubleArray(), whole.state().toDoubleArray(), 0);
            // chunkStates[:, c] = the state after the first c·chunk steps
            int chunks = (11 + chunk - 1) / chunk;
            long per = 4L * 3 * 5;
            for (int c = 0; c < chunks; c++) {
                int t = c * chunk;
                double[] want = stateAfter(in, t);
                double[] got = new double[want.length];
                for (int bi = 0; bi < 2; bi++)
                    for (int k = 0; k < per; k++) got[(int) (bi * per + k)] = cs.getDouble(((long) bi * chunks + c) * per + k);
                assertClose("chunkStates[" + c + "], chunk " + chunk, got, want, 0);
            }
        }
    }

    /** S after the first t steps, by running the op on the time prefix [0, t). */
    static double[] stateAfter(Inputs in, int t) {
        if (t == 0) return in.state0().toDoubleArray();
        Ssd a = new Ssd(prefix(in.x(), t), prefix(in.logA(), t), prefix(in.scale(), t), prefix(in.bm(), t), prefix(in.cm(), t), in.d(),
                in.state0().copy(), Tensor.zeros(DType.F64, in.b(), t, in.h(), in.p()));
        R.ssd(a, t);
        return a.state().toDoubleArray();
    }

    /** Copy of t[:, 0:len, ...] for a (B, L, ...) tensor. */
    static Tensor prefix(Tensor t, int len) {
        if (t == null) return null;
        long[] dims = t.shape().dims();
        long inner = t.numel() / (dims[0] * dims[1]);
        dims[1] = len;
        Tensor out = Tensor.zeros(t.dtype(), dims);
        for (long bi = 0; bi < dims[0]; bi++)
            for (long k = 0; k < len * inner; k++) Formulas.store(out, bi * len * inner + k, t.getDouble(bi * t.dim(1) * inner + k));
        return out;
    }

    @Test
    void badChunkStatesAndGradsAreRejectedNamingThem() {
        Inputs in = Inputs.random(1, 1, 5, 2, 3, 1, 4, false, false, false);
        var e = assertThrows(IllegalArgumentException.class, () -> R.ssdForward(in.args(), 2, in.chunkStates(3)));
        assertTrue(e.getMessage().contains("chunkStates"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> R.ssdBackward(in.args(), 2, in.chunkStates(2),
                Tensor.zeros(DType.F64, 1, 5, 2, 3), grads(1, 5, 2, 3, 1, 4)));
        assertTrue(e2.getMessage().contains("dScale"), e2.getMessage());
    }

    // ------------------------------------------------------------------ column ops

    @Test
    void softplusClampBackwardMatchesFiniteDifferences() {
        Random r = new Random(11);
        float lo = 0.1f, hi = 2.5f;
        Tensor bias = rand(r, 1, 5), x = Tensor.zeros(DType.F64, 7, 5);
        int clampedLo = 0, clampedHi = 0;
        for (int i = 0; i < 35; i++) {
            double v, sp;
            do {   // stay 1e-3 away from the clamp points, where the function has a kink
                v = r.nextGaussian() * 3;
                sp = Formulas.softplus(v + bias.getDouble(i % 5));
            } while (Math.abs(sp - lo) < 1e-3 || Math.abs(sp - hi) < 1e-3);
            if (sp < lo) clampedLo++;
            if (sp > hi) clampedHi++;
            Formulas.store(x, i, v);
        }
        assertTrue(clampedLo > 0 && clampedHi > 0, "the sample must exercise both clamps");
        Tensor rOut = rand(r, 1, 7, 5), out = Tensor.zeros(DType.F64, 7, 5);
        ReferenceGradientTest.Loss loss = () -> {
            R.softplusClamp(x, bias, lo, hi, out);
            return dot(out, rOut);
        };
        Tensor dx = Tensor.zeros(DType.F64, 7, 5), dBias = rand(r, 1, 5), dBias0 = dBias.copy();
        R.softplusClampBackward(x, bias, lo, hi, rOut, dx, dBias);
        for (int j = 0; j < 5; j++) Formulas.store(dBias, j, dBias.getDouble(j) - dBias0.getDouble(j));   // accumulated onto its old value
        assertGrad("softplusClamp dx", dx, x, loss);
        assertGrad("softplusClamp dBias", dBias, bias, loss);
        // without bias and with hi = +inf (Mamba-2's default time_step_limit (0, inf))
        Tensor dx2 = Tensor.zeros(DType.F64, 7, 5);
        ReferenceGradientTest.Loss loss2 = () -> {
            R.softplusClamp(x, null, 0f, Float.POSITIVE_INFINITY, out);
            return dot(out, rOut);
        };
        R.softplusClampBackward(x, null, 0f, Float.POSITIVE_INFINITY, rOut, dx2, null);
        assertGrad("softplus (no clamp) dx", dx2, x, loss2);
    }

    @Test
    void mulColumnsBackwardMatchesFiniteDifferences() {
        Random r = new Random(12);
        Tensor x = rand(r, 1, 3, 4, 7), a = rand(r, 1, 7), rOut = rand(r, 1, 3, 4, 7), out = Tensor.zeros(DType.F64, 3, 4, 7);
        ReferenceGradientTest.Loss loss = () -> {
            R.mulColumns(x, a, out);
            return dot(out, rOut);
        };
        Tensor dx = Tensor.zeros(DType.F64, 3, 4, 7), da = Tensor.zeros(DType.F64, 7);
        R.mulColumnsBackward(x, a, rOut, dx, da);
        assertGrad("mulColumns dx", dx, x, loss);
        assertGrad("mulColumns da", da, a, loss);
        R.mulColumnsBackward(x, a, rOut, null, da);   // accumulates, dx may be null
        for (int j = 0; j < 7; j++) {
            double want = 0;
            for (int m = 0; m < 12; m++) want += rOut.getDouble(m * 7L + j) * x.getDouble(m * 7L + j);
            assertEquals(2 * want, da.getDouble(j), F64_EXACT);
        }
    }
}
