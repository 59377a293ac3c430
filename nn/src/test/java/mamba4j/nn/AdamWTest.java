package mamba4j.nn;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.autograd.Parameter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class AdamWTest {
    /** Two float32 roundings per update (m, v, p stored in F32) against a pure double reference. */
    static final double TOL = 1e-6;

    static List<mamba4j.core.Backend> backends() {
        return List.of(ScalarTrainingBackend.INSTANCE, mamba4j.core.Backends.reference());
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("backends")
    void twoStepsMatchAHandComputedDoubleReference(mamba4j.core.Backend backend) {
        double lr = 0.01, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
        var decayed = new Parameter("w", Tensor.of(new float[] {0.5f, -1.0f, 2.0f}, 3), true);
        var plain = new Parameter("bias", Tensor.of(new float[] {0.5f, -1.0f, 2.0f}, 3), false);
        var opt = new AdamW(List.of(decayed, plain), backend, b1, b2, eps, wd);
        double[][] grads = {{0.1, -0.2, 0.3}, {-0.4, 0.5, 0.05}};
        double[] pw = {0.5, -1.0, 2.0}, pb = pw.clone(), mw = new double[3], vw = new double[3], mb = new double[3], vb = new double[3];
        for (int t = 1; t <= 2; t++) {
            for (Parameter p : opt.parameters()) for (int i = 0; i < 3; i++) p.grad().setFloat(i, (float) grads[t - 1][i]);
            opt.step(lr);
            reference(pw, mw, vw, grads[t - 1], lr, b1, b2, eps, wd, t);
            reference(pb, mb, vb, grads[t - 1], lr, b1, b2, eps, 0, t);
        }
        assertEquals(2, opt.stepCount());
        for (int i = 0; i < 3; i++) {
            assertEquals(pw[i], decayed.value().getFloat(i), TOL, "decayed param " + i);
            assertEquals(pb[i], plain.value().getFloat(i), TOL, "param without decay " + i);
            assertEquals(mw[i], opt.firstMoment(0).getFloat(i), TOL);
            assertEquals(vw[i], opt.secondMoment(0).getFloat(i), TOL);
        }
        // hand check of step 1 for element 0 of the decayed param: m̂ = g, v̂ = g², so the update is lr·sign(g)
        double p1 = 0.5 * (1 - lr * wd) - lr * 0.1 / (Math.sqrt(0.01) + eps);
        assertEquals(p1, firstStep(0.5, 0.1, lr, wd, eps), 1e-15);
        assertNotEquals(decayed.value().getFloat(0), plain.value().getFloat(0), "weight decay applies only to w");
    }

    /** torch.optim.AdamW, one element at a time, in double. */
    static void reference(double[] p, double[] m, double[] v, double[] g, double lr, double b1, double b2, double eps, double wd, int t) {
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= lr * (m[i] / (1 - Math.pow(b1, t))) / (Math.sqrt(v[i] / (1 - Math.pow(b2, t))) + eps);
        }
    }

    static double firstStep(double p, double g, double lr, double wd, double eps) {
        double[] pp = {p}, m = {0}, v = {0};
        reference(pp, m, v, new double[] {g}, lr, 0.9, 0.95, eps, wd, 1);
        return pp[0];
    }

    @Test
    void stateSavesAndLoadsExactly(@TempDir Path tmp) {
        var a = new Parameter("a", Tensor.of(new float[] {1f, 2f, 3f, 4f}, 2, 2), true);
        var optA = new AdamW(List.of(a), ScalarTrainingBackend.INSTANCE, 0.9, 0.99, 1e-8, 0.01);
        for (int t = 0; t < 3; t++) {
            for (int i = 0; i < 4; i++) a.grad().setFloat(i, (float) Math.sin(i + 3 * t));
            optA.step(1e-2);
        }
        Path f = tmp.resolve("optimizer.safetensors");
        optA.save(f);
        var b = new Parameter("a", a.value().copy(), true);
        var optB = new AdamW(List.of(b), ScalarTrainingBackend.INSTANCE, 0.9, 0.99, 1e-8, 0.01);
        optB.load(f);
        assertEquals(3, optB.stepCount());
        for (int i = 0; i < 4; i++) {
            a.grad().setFloat(i, 0.3f * i - 0.1f);
            b.grad().setFloat(i, 0.3f * i - 0.1f);
        }
        optA.step(1e-2);
        optB.step(1e-2);
        assertArrayEquals(a.value().toFloatArray(), b.value().toFloatArray());
        assertArrayEquals(optA.secondMoment(0).toFloatArray(), optB.secondMoment(0).toFloatArray());

        var wrong = new AdamW(List.of(new Parameter("a", Tensor.zeros(DType.F32, 3), true)), ScalarTrainingBackend.INSTANCE, 0.9, 0.99, 1e-8, 0);
        var e = assertThrows(UserInputException.class, () -> wrong.load(f));
        assertTrue(e.getMessage().contains("a.exp_avg") && e.getMessage().contains("(2, 2)") && e.getMessage().contains("(3)"), e.getMessage());
    }

    @Test
    void gradClipScalesToTheMaxNorm() {
        var p = new Parameter("p", Tensor.zeros(DType.F32, 2), true);
        var q = new Parameter("q", Tensor.zeros(DType.F32, 1), true);
        p.grad().setFloat(0, 3f);
        q.grad().setFloat(0, 4f);
        assertEquals(5.0, GradClip.norm(List.of(p, q), ScalarTrainingBackend.INSTANCE), 1e-12);
        assertEquals(5.0, GradClip.clip(List.of(p, q), 1.0, ScalarTrainingBackend.INSTANCE), 1e-12);
        assertEquals(1.0, GradClip.norm(List.of(p, q), ScalarTrainingBackend.INSTANCE), 1e-6);
        assertEquals(0.6f, p.grad().getFloat(0), 1e-6);
        assertEquals(1.0, GradClip.clip(List.of(p, q), 2.0, ScalarTrainingBackend.INSTANCE), 1e-6); // below: untouched
        assertEquals(0.6f, p.grad().getFloat(0), 1e-6);
        assertEquals(1.0, GradClip.clip(List.of(p, q), 0.0, ScalarTrainingBackend.INSTANCE), 1e-6); // 0 disables
    }
}
