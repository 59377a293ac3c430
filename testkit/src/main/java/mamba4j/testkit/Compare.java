package mamba4j.testkit;

import mamba4j.core.Tensor;

import static org.junit.jupiter.api.Assertions.fail;

/** Assertions on tensors that print max/mean error and the first differing elements when they fail. */
public final class Compare {
    private Compare() {}

    /** Relative Frobenius error ‖a − b‖ / ‖b‖ (b is the reference); 0 when both are zero. */
    public static double relativeError(double[] actual, double[] expected) {
        if (actual.length != expected.length)
            throw new AssertionError("length " + actual.length + " != expected " + expected.length);
        double num = 0, den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        if (den == 0) return Math.sqrt(num);
        return Math.sqrt(num / den);
    }

    public static void assertRelClose(String what, Tensor actual, Tensor expected, double tol) {
        if (!actual.shape().equals(expected.shape()))
            fail(what + ": shape " + actual.shape() + " != expected " + expected.shape());
        assertRelClose(what + " " + expected.dtype() + expected.shape(), actual.toDoubleArray(), expected.toDoubleArray(), tol);
    }

    public static void assertRelClose(String what, float[] actual, float[] expected, double tol) {
        double[] a = new double[actual.length], e = new double[expected.length];
        for (int i = 0; i < a.length; i++) a[i] = actual[i];
        for (int i = 0; i < e.length; i++) e[i] = expected[i];
        assertRelClose(what, a, e, tol);
    }

    public static void assertRelClose(String what, double[] actual, double[] expected, double tol) {
        double rel = relativeError(actual, expected);
        boolean finite = true;
        for (double v : actual) if (!Double.isFinite(v)) { finite = false; break; }
        if (rel <= tol && finite) return;
        StringBuilder sb = new StringBuilder();
        sb.append(what).append(": relative error ").append(String.format("%.3e", rel)).append(" > ").append(tol);
        double max = 0, mean = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = Math.abs(actual[i] - expected[i]);
            max = Math.max(max, d);
            mean += d / actual.length;
        }
        sb.append(String.format("; max abs %.3e, mean abs %.3e; first differing:", max, mean));
        int shown = 0;
        for (int i = 0; i < actual.length && shown < 5; i++) {
            double d = Math.abs(actual[i] - expected[i]);
            if (!(d <= tol * (Math.abs(expected[i]) + 1e-6))) {
                sb.append(String.format(" [%d] %.7g vs %.7g;", i, actual[i], expected[i]));
                shown++;
            }
        }
        fail(sb.toString());
    }
}
