package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.CopyRegion;
import mamba4j.core.Device;
import mamba4j.core.Kernels;
import mamba4j.core.Shape;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static mamba4j.cpu.CpuKernels.LE;
import static mamba4j.cpu.CpuKernels.S;
import static mamba4j.cpu.CpuKernels.SCRATCH;
import static mamba4j.cpu.CpuKernels.VL;

/** Elementwise ops and RMSNorm over F32 rows, lane-wise with scalar tails, threads over ranges. Called by {@link CpuKernels}, which routes to the reference when the Vector API is off. */
final class CpuElementwise {
    private CpuElementwise() {}

    // ---------------------------------------------------------------- elementwise and norms

    static void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        int d = x.size(-1);
        int rows = Math.toIntExact(x.numel() / d);
        MemorySegment xs = x.segment(), ws = w.segment(), os = out.segment();
        int bound = S.loopBound(d);
        Parallel.forRange(rows, Math.max(1, 4096 / d), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long base = (long) r * d * 4;
                FloatVector acc = FloatVector.zero(S);
                int j = 0;
                for (; j < bound; j += VL) {
                    FloatVector v = FloatVector.fromMemorySegment(S, xs, base + j * 4L, LE);
                    acc = v.fma(v, acc);
                }
                float ss = VMath.sum(acc);
                for (; j < d; j++) { float v = xs.getAtIndex(Tensor.F32, (long) r * d + j); ss += v * v; }
                float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
                j = 0;
                for (; j < bound; j += VL) {
                    FloatVector v = FloatVector.fromMemorySegment(S, xs, base + j * 4L, LE);
                    FloatVector g = FloatVector.fromMemorySegment(S, ws, j * 4L, LE);
                    v.mul(inv).mul(g).intoMemorySegment(os, base + j * 4L, LE);
                }
                for (; j < d; j++)
                    os.setAtIndex(Tensor.F32, (long) r * d + j, xs.getAtIndex(Tensor.F32, (long) r * d + j) * inv * ws.getAtIndex(Tensor.F32, j));
            }
        });
    }

    private interface Lanewise {
        FloatVector vec(FloatVector a, FloatVector b);
    }

    private static void elementwise(Tensor a, Tensor b, Tensor out, Lanewise f) {
        int n = Math.toIntExact(out.numel());
        MemorySegment as = a.segment(), bs = b == null ? null : b.segment(), os = out.segment();
        Parallel.forRange(n, 16384, (s, e) -> {
            int i = s, bound = s + S.loopBound(e - s);
            for (; i < bound; i += VL) {
                FloatVector av = FloatVector.fromMemorySegment(S, as, i * 4L, LE);
                FloatVector bv = bs == null ? av : FloatVector.fromMemorySegment(S, bs, i * 4L, LE);
                f.vec(av, bv).intoMemorySegment(os, i * 4L, LE);
            }
            if (i < e) {      // the tail by the same vector formula (masked), so an element's value never depends on where a chunk or row ends
                VectorMask<Float> m = S.indexInRange(0, e - i);
                FloatVector av = FloatVector.fromMemorySegment(S, as, i * 4L, LE, m);
                FloatVector bv = bs == null ? av : FloatVector.fromMemorySegment(S, bs, i * 4L, LE, m);
                f.vec(av, bv).intoMemorySegment(os, i * 4L, LE, m);
            }
        });
    }

    static FloatVector silu(FloatVector x) {
        return x.div(VMath.exp(x.neg()).add(1f));
    }

    /** softplus(x) = log1p(exp(x)), x itself where x > 20 (see {@link VMath#softplus}). */
    static FloatVector softplus(FloatVector x) { return VMath.softplus(x); }

    private static final Lanewise ADD = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return a.add(b); }
    };
    private static final Lanewise SILU = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return silu(a); }
    };
    private static final Lanewise SOFTPLUS = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return softplus(a); }
    };
    private static final Lanewise MUL_SILU = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return a.mul(silu(b)); }
    };

    static void add(Tensor a, Tensor b, Tensor out) {
        elementwise(a, b, out, ADD);
    }

    static void silu(Tensor x, Tensor out) {
        elementwise(x, null, out, SILU);
    }

    static void softplus(Tensor x, Tensor out) {
        elementwise(x, null, out, SOFTPLUS);
    }

    static void mulSilu(Tensor y, Tensor z, Tensor out) {
        elementwise(y, z, out, MUL_SILU);
    }

}
