package mamba4j.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every backward op of the reference against central finite differences, all in float64, on small random shapes
 * (sizes that are not multiples of 16). The loss is always Σ R ⊙ out for a fixed random R, so the analytic gradient
 * is the op's backward applied to dOut = R.
 *
 * <p>core cannot depend on testkit (testkit depends on core), so the assertion helper is local.
 */
class ReferenceGradientTest {
    private static final mamba4j.core.Backend R = mamba4j.core.Backends.reference();
    /** Central-difference step: truncation error O(h²·f''') ≈ 1e-10, float64 cancellation ≈ 1e-16/h ≈ 1e-11. */
    private static final double H = 1e-5;
    /** Relative Frobenius error allowed between analytic and numeric gradients, float64 throughout. */
    private static final double FD_TOL = 1e-6;
    /** Two float64 computations of the same formula in different orders. */
    private static final double F64_EXACT = 1e-12;

    interface Loss { double eval(); }

    static Tensor rand(Random r, double scale, long... dims) {
        Tensor t = Tensor.zeros(DType.F64, dims);
        for (long i = 0; i < t.numel(); i++) Formulas.store(t, i, r.nextGaussian() * scale);
        return t;
    }

    static double dot(Tensor a, Tensor w) {
        double s = 0;
        for (long i = 0; i < a.numel(); i++) s += a.getDouble(i) * w.getDouble(i);
        return s;
    }

    /** ∂loss/∂t by central differences, element by element. */
    static double[] numericGrad(Tensor t, Loss f) { return numericGrad(t, f, H); }

    /** ∂loss/∂t by central differences of step h, element by element. */
    static double[] numericGrad(Tensor t, Loss f, double h) {
        double[] g = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < g.length; i++) {
            double v = t.getDouble(i);
            Formulas.store(t, i, v + h);
            double fp = f.eval();
            Formulas.store(t, i, v - h);
            double fm = f.eval();
            Formulas.store(t, i, v);
            g[i] = (fp - fm) / (2 * h);
        }
        return g;
    }

    static void assertClose(String what, double[] actual, double[] expected, double tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        double num = 0, den = 0, max = 0;
        int worst = -1;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
            if (!(Math.abs(d) <= max)) { max = Math.abs(d); worst = i; }
        }
        double rel = den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
        if (!(rel <= tol))
            fail(String.format("%s: relative error %.3e > %.1e; max abs %.3e at [%d]: %.10g vs %.10g", what, rel, tol, max, worst,
                    worst < 0 ? Double.NaN : actual[worst], worst < 0 ? Double.NaN : expected[worst]));
    }

    static void assertGrad(String what, Tensor analytic, Tensor param, Loss f) {
        double[] num = numericGrad(param, f);
        assertTrue(norm(num) > 0, what + ": numeric gradient is zero, the check would be vacuous");
        assertClose(what, analytic.toDoubleArray(), num, FD_TOL);
    }

    static double norm(double[] v) {
        double s = 0;
        for (double x : v) s += x * x;
        return Math.sqrt(s);
    }

    // ------------------------------------------------------------------ matmul

    static double[][] op(Tensor t, boolean trans) {
        int r = t.size(0), c = t.size(1);
        double[][] m = trans ? new double[c][r] : new double[r][c];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) {
                if (trans) m[j][i] = t.getDouble((long) i * c + j);
                else m[i][j] = t.getDouble((long) i * c + j);
            }
        return m;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void matmulAllTransposesAndAccumulate(int flags) {
        boolean ta = (flags & 1) != 0, tb = (flags & 2) != 0;
        Random r = new Random(flags);
        for (int[] mkn : new int[][]{{1, 1, 1}, {5, 7, 3}, {17, 19, 13}}) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            Tensor a = ta ? rand(r, 1, k, m) : rand(r, 1, m, k), b = tb ? rand(r, 1, n, k) : rand(r, 1, k, n);
            double[][] am = op(a, ta), bm = op(b, tb);
            Tensor old = rand(r, 1, m, n), out = old.copy();
            R.matmul(a, ta, b, tb, out, true);
            Tensor fresh = rand(r, 1, m, n);
            R.matmul(a, ta, b, tb, fresh, false);
            double[] want = new double[m * n], wantAcc = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) s += am[i][p] * bm[p][j];
                    want[i * n + j] = s;
                    wantAcc[i * n + j] = s + old.getDouble((long) i * n + j);
                }
            assertClose("matmul " + (ta ? "aᵀ" : "a") + (tb ? "bᵀ" : "b") + " " + m + "x" + k + "x" + n, fresh.toDoubleArray(), want, F64_EXACT);
            assertClose("matmul accumulate", out.toDoubleArray(), wantAcc, F64_EXACT);
        }
    }

    /** The three products of a linear's backward, with the bias gradient from sumRows, against finite differences. */
    @Test
    void linearBackwardThroughMatmulAndSumRows() {
        Random r = new Random(11);
        int m = 6, k = 17, n = 5;
        Tensor x = rand(r, 1, m, k), w = rand(r, 1, n, k), bias = rand(r, 1, n), dOut = rand(r, 1, m, n);
        Tensor out = Tensor.zeros(DType.F64, m, n);
        Loss f = () -> { R.linear(x, w, bias, out); return dot(out, dOut); };
        Tensor dx = Tensor.zeros(DType.F64, m, k), dw = rand(r, 1, n, k), dwStart = dw.copy(), db = Tensor.zeros(DType.F64, n);
        R.matmul(dOut, false, w, false, dx, false);                  // dx = dOut · w
        R.matmul(dOut, true, x, false, dw, true);                    // dw += dOutᵀ · x
        R.sumRows(dOut, db, false);                                  // db = Σ_rows dOut
        for (long i = 0; i < dw.numel(); i++) Formulas.store(dw, i, dw.getDouble(i) - dwStart.getDouble(i));
        assertGrad("linear dx", dx, x, f);
        assertGrad("linear dw", dw, w, f);
        assertGrad("linear dbias", db, bias, f);
        Tensor db2 = db.copy();
        R.sumRows(dOut, db2, true);
        double[] twice = db.toDoubleArray();
        for (int i = 0; i < twice.length; i++) twice[i] *= 2;
        assertClose("sumRows accumulate", db2.toDoubleArray(), twice, F64_EXACT);
    }

    // ------------------------------------------------------------------ embedding, norms, activations

    @Test
    void embeddingBackwardAccumulatesRepeatedIds() {
        Random r = new Random(3);
        int v = 7, d = 19;
        int[] ids = {4, 0, 4, 6, 4};
        Tensor w = rand(r, 1, v, d), dOut = rand(r, 1, ids.length, d), out = Tensor.zeros(DType.F64, ids.length, d);
        Tensor dw = rand(r, 1, v, d), start = dw.copy();
        R.embeddingBackward(R.ids(ids), dOut, dw);
        for (long i = 0; i < dw.numel(); i++) Formulas.store(dw, i, dw.getDouble(i) - start.getDouble(i));
        assertGrad("embedding dW", dw, w, () -> { R.embedding(w, R.ids(ids), out); return dot(out, dOut); });
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 17, 33})
    void rmsNormBackward(int d) {
        Random r = new Random(d);
        int m = 3;
        Tensor x = rand(r, 2, m, d), w = rand(r, 1, d), dy = rand(r, 1, m, d), out = Tensor.zeros(DType.F64, m, d);
        Tensor dx = Tensor.zeros(DType.F64, m, d), dw = Tensor.zeros(DType.F64, d);
        float eps = 1e-5f;
        R.rmsNormBackward(x, w, eps, dy, dx, dw);
        Loss f = () -> { R.rmsNorm(x, w, eps, out); return dot(out, dy); };
        assertGrad("rmsNorm dx", dx, x, f);
        assertGrad("rmsNorm dw", dw, w, f);
    }

    @Test
    void activationBackwards() {
        Random r = new Random(5);
        int n = 37;
        Tensor x = rand(r, 4, n), y = rand(r, 1, n), dOut = rand(r, 1, n), out = Tensor.zeros(DType.F64, n);
        Formulas.store(x, 0, 25.0);      // past the softplus threshold: the forward is x, the derivative 1
        Formulas.store(x, 1, -30.0);
        Tensor dx = Tensor.zeros(DType.F64, n), dy = Tensor.zeros(DType.F64, n);
        R.siluBackward(x, dOut, dx);
        assertGrad("silu", dx, x, () -> { R.silu(x, out); return dot(out, dOut); });
        R.softplusBackward(x, dOut, dx);
        assertGrad("softplus", dx, x, () -> { R.softplus(x, out); return dot(out, dOut); });
        assertEquals(dOut.getDouble(0), dx.getDouble(0), 0, "softplus' is exactly 1 past the threshold");
        R.mulSiluBackward(y, x, dOut, dy, dx);
        Loss f = () -> { R.mulSilu(y, x, out); return dot(out, dOut); };
        assertGrad("mulSilu dy", dy, y, f);
        assertGrad("mulSilu dz", dx, x, f);
    }

    static Stream<Arguments> convCases() {
        return Stream.of(Arguments.of(9, 5, true, true), Arguments.of(9, 5, false, true), Arguments.of(9, 17, true, false),
                Arguments.of(3, 6, true, true));   // L < K
    }

    @ParameterizedTest
    @MethodSource("convCases")
    void causalConv1dBackward(int l, int c, boolean silu, boolean withBias) {
        Random r = new Random(l * 31 + c);
        int b = 2, k = 4;
        Tensor x = rand(r, 1, b, l, c), w = rand(r, 0.5, c, k), bias = withBias ? rand(r, 0.5, c) : null;
        Tensor dOut = rand(r, 1, b, l, c), out = Tensor.zeros(DType.F64, b, l, c);
        Tensor dx = Tensor.zeros(DType.F64, b, l, c), dw = Tensor.zeros(DType.F64, c, k), db = withBias ? Tensor.zeros(DType.F64, c) : null;
        R.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, db);
        Loss f = () -> { R.causalConv1d(x, w, bias, silu, out); return dot(out, dOut); };
        assertGrad("conv dx", dx, x, f);
        assertGrad("conv dw", dw, w, f);
        if (withBias) assertGrad("conv dbias", db, bias, f);
    }

    // ------------------------------------------------------------------ selective scan

    static Stream<Arguments> scanCases() {
        List<Arguments> cases = new ArrayList<>();
        int l = 9;
        for (int chunk : new int[]{1, 4, 9, 20})                  // 4 does not divide L; 9 = L; 20 > L
            cases.add(Arguments.of(l, chunk, true, true, true, true, true));
        cases.add(Arguments.of(l, 3, false, false, false, false, false));
        cases.add(Arguments.of(l, 3, true, false, true, false, true));
        cases.add(Arguments.of(l, 2, false, true, false, true, false));
        cases.add(Arguments.of(1, 1, true, true, true, true, true));
        return cases.stream();
    }

    @ParameterizedTest
    @MethodSource("scanCases")
    void selectiveScanBackward(int l, int chunk, boolean withZ, boolean withD, boolean withBias, boolean softplus, boolean withState) {
        Random r = new Random(l * 100 + chunk * 10 + (withZ ? 1 : 0) + (withState ? 2 : 0));
        int b = 2, e = 5, n = 3;
        Tensor u = rand(r, 1, b, l, e), delta = rand(r, softplus ? 1 : 0.3, b, l, e);
        if (!softplus) for (long i = 0; i < delta.numel(); i++) Formulas.store(delta, i, Math.abs(delta.getDouble(i)) + 0.05);
        Tensor bias = withBias ? rand(r, 0.5, e) : null;
        if (bias != null && !softplus) for (long i = 0; i < e; i++) Formulas.store(bias, i, Math.abs(bias.getDouble(i)));
        Tensor a = Tensor.zeros(DType.F64, e, n);
        for (int i = 0; i < e * n; i++) Formulas.store(a, i, -Math.exp(r.nextGaussian() * 0.5));
        Tensor bm = rand(r, 1, b, l, n), cm = rand(r, 1, b, l, n);
        Tensor d = withD ? rand(r, 1, e) : null, z = withZ ? rand(r, 1, b, l, e) : null;
        Tensor state0 = withState ? rand(r, 1, b, e, n) : null;
        Tensor state = withState ? state0.copy() : null;
        Tensor out = Tensor.zeros(DType.F64, b, l, e), dOut = rand(r, 1, b, l, e);
        int chunks = (l + chunk - 1) / chunk;
        Tensor cs = Tensor.zeros(DType.F64, b, chunks, e, n);
        ReferenceKernels.Scan s = new ReferenceKernels.Scan(u, delta, bias, softplus, a, bm, cm, d, z, state, out);
        ReferenceKernels.scanForward(s, chunk, cs);

        // the chunked forward is the plain forward: same output whatever the chunk
        Tensor outPlain = Tensor.zeros(DType.F64, b, l, e);
        ReferenceKernels.scanForward(new ReferenceKernels.Scan(u, delta, bias, softplus, a, bm, cm, d, z,
                withState ? state0.copy() : null, outPlain), Math.max(1, l), Tensor.zeros(DType.F64, b, 1, e, n));
        assertClose("chunked forward out", out.toDoubleArray(), outPlain.toDoubleArray(), F64_EXACT);

        SelectiveScanGrads g = new SelectiveScanGrads(Tensor.zeros(DType.F64, b, l, e), Tensor.zeros(DType.F64, b, l, e),
                Tensor.zeros(DType.F64, e, n), rand(r, 1, b, l, n), rand(r, 1, b, l, n), withD ? Tensor.zeros(DType.F64, e) : null,
                withZ ? rand(r, 1, b, l, e) : null, withBias ? Tensor.zeros(DType.F64, e) : null, Tensor.zeros(DType.F64, b, e, n));
        ReferenceKernels.scanBackward(s, chunk, cs, dOut, g);

        Loss f = () -> {
            Tensor st = withState ? state0.copy() : null;
            ReferenceKernels.scanForward(new ReferenceKernels.Scan(u, delta, bias, softplus, a, bm, cm, d, z, st, out), chunk, cs.copy());
            return dot(out, dOut);
        };
        String tag = " (L=" + l + " chunk=" + chunk + ")";
        assertGrad("scan du" + tag, g.du(), u, f);
        assertGrad("scan dDelta" + tag, g.dDelta(), delta, f);
        assertGrad("scan dA" + tag, g.dA(), a, f);
        assertGrad("scan dB" + tag, g.dB(), bm, f);
        assertGrad("scan dC" + tag, g.dC(), cm, f);
        if (withD) assertGrad("scan dD" + tag, g.dD(), d, f);
        if (withZ) assertGrad("scan dz" + tag, g.dZ(), z, f);
        if (withBias) assertGrad("scan dDeltaBias" + tag, g.dDeltaBias(), bias, f);
        if (withState) assertGrad("scan dState0" + tag, g.dState0(), state0, f);
    }

    // ------------------------------------------------------------------ loss and optimiser

    /** The loss of {@link Backend#crossEntropy} with host targets, read back (the shape the tape uses). */
    private static double ce(Tensor logits, int[] targets, float scale, Tensor dLogits) {
        Tensor loss = Tensor.zeros(DType.F64, 1);
        R.crossEntropy(logits, R.ids(targets), scale, dLogits, loss);
        return R.item(loss);
    }

    @Test
    void crossEntropyWithIgnoredRows() {
        Random r = new Random(9);
        int m = 5, v = 11;
        int[] targets = {3, -100, 10, 0, -100};
        Tensor logits = rand(r, 2, m, v), dLogits = Tensor.zeros(DType.F64, m, v);
        float scale = 0.75f;
        double loss = ce(logits, targets, scale, dLogits);
        // the loss by its definition, without the max shift (logits are small here)
        double want = 0;
        for (int i = 0; i < m; i++) {
            if (targets[i] < 0) continue;
            double se = 0;
            for (int j = 0; j < v; j++) se += Math.exp(logits.getDouble((long) i * v + j));
            want += Math.log(se) - logits.getDouble((long) i * v + targets[i]);
        }
        assertEquals(want / 3, loss, 1e-12, "mean over the 3 counted rows");
        for (int j = 0; j < v; j++) {
            assertEquals(0.0, dLogits.getDouble(v + j), 0, "ignored row 1 has zero gradient");
            assertEquals(0.0, dLogits.getDouble(4L * v + j), 0, "ignored row 4 has zero gradient");
        }
        Tensor scratch = Tensor.zeros(DType.F64, m, v);
        Tensor dScaled = dLogits.copy();
        for (long i = 0; i < dScaled.numel(); i++) Formulas.store(dScaled, i, dScaled.getDouble(i) / scale);
        assertGrad("crossEntropy dLogits / scale", dScaled, logits, () -> ce(logits, targets, 1f, scratch));
        // in place (dLogits = logits) gives the same loss and gradient
        Tensor inPlace = logits.copy();
        assertEquals(loss, ce(inPlace, targets, scale, inPlace), 0);
        assertClose("crossEntropy in place", inPlace.toDoubleArray(), dLogits.toDoubleArray(), 0);
        // numerically stable: huge logits give a finite loss
        Tensor big = Tensor.zeros(DType.F64, 1, 3);
        Formulas.store(big, 0, 1000); Formulas.store(big, 1, 999); Formulas.store(big, 2, -1000);
        double lb = ce(big, new int[]{1}, 1f, Tensor.zeros(DType.F64, 1, 3));
        assertEquals(1 + Math.log1p(Math.exp(-1)), lb, 1e-12);
        assertTrue(Double.isNaN(ce(logits, new int[]{-100, -100, -100, -100, -100}, 1f, scratch)), "all ignored: 0/0 as PyTorch");
    }

    @Test
    void sumSquaresAndScale() {
        Tensor x = Tensor.ofDoubles(new double[]{1, -2, 3, 0.5}, 2, 2);
        Tensor ss = Tensor.zeros(DType.F64, 1);
        R.sumSquares(x, ss, false);
        assertEquals(14.25, ss.getDouble(0), 0);
        R.sumSquares(x, ss, true);
        assertEquals(28.5, ss.getDouble(0), 0, "accumulate adds to what is there");
        R.scale(x, 2f);
        assertClose("scale", x.toDoubleArray(), new double[]{2, -4, 6, 1}, 0);
    }

    /** Two AdamW steps on float64 tensors against torch.optim.AdamW's update written out by hand. */
    @Test
    void adamWTwoStepsAsPyTorch() {
        float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
        double[] p0 = {0.5, -1.25, 2.0}, g1 = {0.1, -0.3, 0.0}, g2 = {-0.2, 0.05, 1.5};
        Tensor p = Tensor.ofDoubles(p0, 3), m = Tensor.zeros(DType.F64, 3), v = Tensor.zeros(DType.F64, 3);
        R.adamW(p, Tensor.ofDoubles(g1, 3), m, v, lr, b1, b2, eps, wd, 1);
        R.adamW(p, Tensor.ofDoubles(g2, 3), m, v, lr, b1, b2, eps, wd, 2);
        double[] want = new double[3];
        for (int i = 0; i < 3; i++) {
            double pi = p0[i], mi = 0, vi = 0;
            double[][] gs = {g1, g2};
            for (int t = 1; t <= 2; t++) {
                double gi = gs[t - 1][i];
                pi *= 1 - (double) lr * wd;                                  // param.mul_(1 - lr * weight_decay)
                mi = mi + (gi - mi) * (1 - (double) b1);                     // exp_avg.lerp_(grad, 1 - beta1)
                vi = vi * b2 + (1 - (double) b2) * gi * gi;                  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
                double stepSize = lr / (1 - Math.pow(b1, t));
                double denom = Math.sqrt(vi) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                pi -= stepSize * mi / denom;                                 // param.addcdiv_(exp_avg, denom, value=-step_size)
            }
            want[i] = pi;
        }
        assertClose("adamW p after 2 steps", p.toDoubleArray(), want, F64_EXACT);
        // step 1 without decay moves each weight by lr · sign(g) (up to eps): the defining property of Adam
        Tensor q = Tensor.ofDoubles(p0, 3);
        R.adamW(q, Tensor.ofDoubles(new double[]{3, -0.01, 7}, 3), Tensor.zeros(DType.F64, 3), Tensor.zeros(DType.F64, 3), lr, b1, b2, eps, 0f, 1);
        assertClose("adamW first step", q.toDoubleArray(), new double[]{p0[0] - lr, p0[1] + lr, p0[2] - lr}, 1e-6);
    }

    @Test
    void f32CallersGetTheDoubleResultRoundedOnce() {
        Random r = new Random(2);
        Tensor x = rand(r, 1, 4, 33), w = rand(r, 1, 5, 33);
        Tensor out64 = Tensor.zeros(DType.F64, 4, 5), out32 = Tensor.zeros(DType.F32, 4, 5);
        R.linear(x, w, null, out64);
        R.linear(x.to(DType.F32), w.to(DType.F32), null, out32);
        Tensor x32 = x.to(DType.F32).to(DType.F64), w32 = w.to(DType.F32).to(DType.F64);
        R.linear(x32, w32, null, out64);
        for (int i = 0; i < 20; i++) assertEquals((float) out64.getDouble(i), out32.getFloat(i), 0f);
    }
}
