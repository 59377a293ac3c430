package mamba4j.core;

import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MOHAWK losses in float64: values against an independent computation, gradients against central finite
 * differences (relative Frobenius error ≤ 1e-6), and the tape's nodes against the direct calls.
 */
class DistillationLossesTest {
    private static final double H = 1e-6, TOL = 1e-6;


    /** The ops' definitions ({@link DistillationLosses}), their loss returned. */
    static double matrix(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target, Tensor[] grads) {
        Tensor loss = Tensor.zeros(DType.F64, 1);
        DistillationLosses.matrix(logA, bm, cm, d, target, grads, loss);
        return loss.getDouble(0);
    }

    static double rows(Tensor x, Tensor y, Tensor dx) {
        Tensor loss = Tensor.zeros(DType.F64, 1);
        DistillationLosses.rows(x, y, dx, loss);
        return loss.getDouble(0);
    }

    static double soft(Tensor s, Tensor t, double tau, Tensor ds) {
        Tensor loss = Tensor.zeros(DType.F64, 1);
        DistillationLosses.soft(s, t, tau, ds, loss);
        return loss.getDouble(0);
    }

    static Tensor rand(Random r, double scale, long... dims) {
        Tensor t = Tensor.zeros(DType.F64, dims);
        for (long i = 0; i < t.numel(); i++) Formulas.store(t, i, r.nextGaussian() * scale);
        return t;
    }

    static void assertFd(String what, Tensor analytic, Tensor x, ReferenceGradientTest.Loss f) {
        double[] fd = ReferenceGradientTest.numericGrad(x, f, H);
        double num = 0, den = 0;
        for (int i = 0; i < fd.length; i++) {
            double e = analytic.getDouble(i) - fd[i];
            num += e * e;
            den += fd[i] * fd[i];
        }
        double rel = Math.sqrt(num / den);
        assertTrue(rel <= TOL, what + ": relative error " + rel);
    }

    /** T[i, j] by the product of decays (not prefix sums), then the mean Frobenius distance. */
    static double matrixByProducts(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target) {
        int b = (int) logA.dim(0), t = (int) logA.dim(1), h = (int) logA.dim(2), g = (int) bm.dim(2), n = (int) bm.dim(3);
        double total = 0;
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                int gi = hi / (h / g);
                double sq = 0;
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++) {
                        double v = 0;
                        if (j <= i) {
                            double decay = 1;
                            for (int k = j + 1; k <= i; k++) decay *= Math.exp(logA.getDouble(((long) bi * t + k) * h + hi));
                            for (int k = 0; k < n; k++)
                                v += cm.getDouble((((long) bi * t + i) * g + gi) * n + k) * bm.getDouble((((long) bi * t + j) * g + gi) * n + k);
                            v *= decay;
                            if (i == j && d != null) v += d.getDouble(hi);
                        }
                        double e = v - target.getDouble((((long) bi * h + hi) * t + i) * t + j);
                        sq += e * e;
                    }
                total += Math.sqrt(sq);
            }
        return total / (b * h);
    }

    @Test
    void matrixDistanceValueAndGradients() {
        Random r = new Random(11);
        int b = 2, t = 7, h = 4, g = 2, n = 3;
        Tensor logA = rand(r, 0.5, b, t, h);
        for (long i = 0; i < logA.numel(); i++) Formulas.store(logA, i, -Math.abs(logA.getDouble(i)));   // decays in (0, 1]
        Tensor bm = rand(r, 1, b, t, g, n), cm = rand(r, 1, b, t, g, n), d = rand(r, 1, h), target = rand(r, 0.3, b, h, t, t);
        double loss = matrix(logA, bm, cm, d, target, null);
        assertEquals(matrixByProducts(logA, bm, cm, d, target), loss, 1e-12 * Math.abs(loss));
        Tensor[] grads = {Tensor.zeros(DType.F64, b, t, h), Tensor.zeros(DType.F64, b, t, g, n), Tensor.zeros(DType.F64, b, t, g, n), Tensor.zeros(DType.F64, h)};
        assertEquals(loss, matrix(logA, bm, cm, d, target, grads), 0);
        ReferenceGradientTest.Loss f = () -> matrix(logA, bm, cm, d, target, null);
        assertFd("dlogA", grads[0], logA, f);
        assertFd("dB", grads[1], bm, f);
        assertFd("dC", grads[2], cm, f);
        assertFd("dD", grads[3], d, f);
    }

    @Test
    void rowDistanceValueAndGradient() {
        Random r = new Random(3);
        Tensor x = rand(r, 1, 6, 5), y = rand(r, 1, 6, 5), dx = Tensor.zeros(DType.F64, 6, 5);
        double expected = 0;
        for (int m = 0; m < 6; m++) {
            double s = 0;
            for (int k = 0; k < 5; k++) s += Math.pow(x.getDouble(m * 5 + k) - y.getDouble(m * 5 + k), 2);
            expected += Math.sqrt(s) / 6;
        }
        assertEquals(expected, rows(x, y, dx), 1e-12);
        assertFd("dx", dx, x, () -> rows(x, y, null));
    }

    @Test
    void softCrossEntropyValueAndGradient() {
        Random r = new Random(4);
        for (double tau : new double[]{1, 2.5}) {
            Tensor s = rand(r, 2, 5, 9), te = rand(r, 2, 5, 9), ds = Tensor.zeros(DType.F64, 5, 9);
            double expected = 0;
            for (int m = 0; m < 5; m++) {
                double zs = 0, zt = 0;
                for (int k = 0; k < 9; k++) { zs += Math.exp(s.getDouble(m * 9 + k) / tau); zt += Math.exp(te.getDouble(m * 9 + k) / tau); }
                for (int k = 0; k < 9; k++)
                    expected -= Math.exp(te.getDouble(m * 9 + k) / tau) / zt * (s.getDouble(m * 9 + k) / tau - Math.log(zs)) / 5;
            }
            assertEquals(expected, soft(s, te, tau, ds), 1e-12);
            assertFd("dlogits tau " + tau, ds, s, () -> soft(s, te, tau, null));
        }
    }

    @Test
    void tapeNodesScaleAndRouteTheGradients() {
        Random r = new Random(8);
        Tape tape = new Tape(mamba4j.core.Backends.reference());
        Tensor xv = Tensor.zeros(DType.F32, 4, 3), target = Tensor.zeros(DType.F32, 4, 3);
        for (int i = 0; i < 12; i++) { xv.setFloat(i, (float) r.nextGaussian()); target.setFloat(i, (float) r.nextGaussian()); }
        Parameter p = new Parameter("x", xv, true);
        Var loss = tape.rowDistance(tape.param(p), target);
        Tensor expected = Tensor.zeros(DType.F32, 4, 3);
        double value = rows(xv, target, expected);
        assertEquals(value, tape.lossValue(loss), 0);
        tape.backward(loss, 0.5f);
        for (int i = 0; i < 12; i++) assertEquals(0.5f * expected.getFloat(i), p.grad().getFloat(i), 1e-7f);
    }
}
