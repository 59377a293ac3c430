package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The same op on the same input gives the same bits on its first call and after the JIT has compiled it
 * (thousands of calls later): bit-exact training resume depends on it.
 */
class DeterminismTest {
    static final int CALLS = 4000;
    final mamba4j.core.Backend cpu = new mamba4j.core.Backend(new CpuKernels());

    static Tensor rand(Random r, float scale, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) r.nextGaussian() * scale);
        return t;
    }

    private static void sameEveryCall(String what, Supplier<float[]> op) {
        float[] first = op.get();
        for (int i = 1; i < CALLS; i++) {
            float[] again = op.get();
            if (!Arrays.equals(first, again)) assertArrayEquals(first, again, what + " changed at call " + i);
        }
        assertEquals(first.length, op.get().length);
    }

    @Test
    void elementwiseNormsAndReductions() {
        Random r = new Random(1);
        Tensor x = rand(r, 3, 5, 40), y = rand(r, 3, 5, 40), w = rand(r, 1, 40), b = rand(r, 1, 40), o = Tensor.zeros(DType.F32, 5, 40);
        sameEveryCall("silu", () -> { cpu.silu(x, o); return o.toFloatArray(); });
        sameEveryCall("softplus", () -> { cpu.softplus(x, o); return o.toFloatArray(); });
        sameEveryCall("mulSilu", () -> { cpu.mulSilu(x, y, o); return o.toFloatArray(); });
        sameEveryCall("rmsNorm", () -> { cpu.rmsNorm(x, w, 1e-5f, o); return o.toFloatArray(); });
        sameEveryCall("layerNorm", () -> { cpu.layerNorm(x, w, b, 1e-5f, o); return o.toFloatArray(); });
        sameEveryCall("geluTanh", () -> { cpu.geluTanh(x, o); return o.toFloatArray(); });
        Tensor d = Tensor.zeros(DType.F32, 5, 40);
        int[] targets = {1, 7, -100, 39, 0};
        sameEveryCall("crossEntropy", () -> { double l = mamba4j.testkit.HostOps.crossEntropy(cpu, x, targets, 1f, d); float[] a = d.toFloatArray(); a[0] += (float) l; return a; });
        Tensor x1 = rand(r, 1, 1, 48), w1 = rand(r, 0.2f, 24, 48), o1 = Tensor.zeros(DType.F32, 1, 24);
        sameEveryCall("linear (decode)", () -> { cpu.linear(x1, w1, null, o1); return o1.toFloatArray(); });
    }

    @Test
    void selectiveScanForwardAndBackward() {
        Random r = new Random(2);
        int bsz = 1, l = 12, e = 20, n = 4;
        Tensor u = rand(r, 1, bsz, l, e), delta = rand(r, 1, bsz, l, e), a = Tensor.zeros(DType.F32, e, n);
        for (int i = 0; i < e * n; i++) a.setFloat(i, -1f - i % 3);
        Tensor bm = rand(r, 1, bsz, l, n), cm = rand(r, 1, bsz, l, n), dd = rand(r, 1, e), z = rand(r, 1, bsz, l, e);
        Tensor out = Tensor.zeros(DType.F32, bsz, l, e), cs = Tensor.zeros(DType.F32, bsz, 3, e, n), dOut = rand(r, 1, bsz, l, e);
        SelectiveScan s = new SelectiveScan(u, delta, null, true, a, bm, cm, dd, z, null, out);
        sameEveryCall("scan forward", () -> { cpu.selectiveScanForward(s, 5, cs); return out.toFloatArray(); });
        sameEveryCall("scan backward", () -> {
            SelectiveScanGrads g = new SelectiveScanGrads(Tensor.zeros(DType.F32, bsz, l, e), Tensor.zeros(DType.F32, bsz, l, e),
                    Tensor.zeros(DType.F32, e, n), Tensor.zeros(DType.F32, bsz, l, n), Tensor.zeros(DType.F32, bsz, l, n),
                    Tensor.zeros(DType.F32, e), Tensor.zeros(DType.F32, bsz, l, e), null, null);
            cpu.selectiveScanBackward(s, 5, cs, dOut, g);
            float[] a1 = g.du().toFloatArray(), a2 = g.dA().toFloatArray(), a3 = g.dB().toFloatArray();
            float[] all = Arrays.copyOf(a1, a1.length + a2.length + a3.length);
            System.arraycopy(a2, 0, all, a1.length, a2.length);
            System.arraycopy(a3, 0, all, a1.length + a2.length, a3.length);
            return all;
        });
    }
}
