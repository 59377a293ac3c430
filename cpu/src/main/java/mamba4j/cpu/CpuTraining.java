package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The training kernels of {@link CpuKernels} (matmul, backward ops, chunked scan, cross-entropy, AdamW), F32 only.
 * Operands are validated by CpuKernels before these run; each kernel's contract is the reference's, and the
 * algorithm is described where it differs.
 */
final class CpuTraining {
    private CpuTraining() {}

    private static final VectorSpecies<Float> S = CpuKernels.S;
    private static final int VL = CpuKernels.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Per-thread heap scratch: [0] packed A block / scan states, [1..] further per-thread buffers. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[7][0]);
    /** The calling thread's packed B (shared by the workers of one call; a nested call runs inline on its own thread). */
    private static final ThreadLocal<float[]> PACKED_B = ThreadLocal.withInitial(() -> new float[0]);

    private static float[] scratch(int slot, int size) {
        float[][] sc = SCRATCH.get();
        if (sc[slot].length < size) sc[slot] = new float[size];
        return sc[slot];
    }

    // ================================================================ matmul

    /** Micro-tile: MR rows of op(a) × NR = 2·VL columns of op(b), 12 accumulators in registers. */
    static final int MR = 6, NR = 2 * VL;
    /** K block: a B micro-panel (KC × NR floats, 32 KiB with AVX-512) stays in L1 while the A tiles stream past it. */
    static final int KC = 256;
    /** A work unit: MB rows (8 tiles) × NP micro-panels; units are what the threads split. */
    static final int MB = 8 * MR, NP = 4;

    /**
     * out (M, N) (+)= op(a) (M, K) · op(b) (K, N), BLIS-style: op(b) is packed once per call (in parallel) into
     * micro-panels of NR columns, K-major and zero-padded (this is where transB is absorbed); each thread takes
     * (MB rows × NP panels) units, packs its A rows per K block into MR-row tiles (absorbing transA and the
     * M tail), and runs the 6 × 2·VL broadcast-FMA micro-kernel. No horizontal reductions anywhere.
     */
    static void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate, int m, int k, int n) {
        MemorySegment os = out.segment();
        if (m == 0 || n == 0) return;
        if (k == 0) { if (!accumulate) out.fill(0f); return; }
        int panels = (n + NR - 1) / NR;
        float[] bp = PACKED_B.get();
        if (bp.length < panels * k * NR) { bp = new float[panels * k * NR]; PACKED_B.set(bp); }
        float[] bpf = bp;
        packB(b.segment(), transB, k, n, panels, bpf);
        MemorySegment as = a.segment();
        int mBlocks = (m + MB - 1) / MB, nBlocks = (panels + NP - 1) / NP;
        Parallel.forRange(mBlocks * nBlocks, (u0, u1) -> {
            float[] ap = scratch(0, MB * KC);
            float[] tmp = scratch(1, MR * NR);
            for (int u = u0; u < u1; u++) {
                int i0 = (u / nBlocks) * MB, i1 = Math.min(m, i0 + MB);
                int q0 = (u % nBlocks) * NP, q1 = Math.min(panels, q0 + NP);
                int tiles = (i1 - i0 + MR - 1) / MR;
                for (int k0 = 0; k0 < k; k0 += KC) {
                    int kc = Math.min(KC, k - k0);
                    packA(as, transA, m, k, i0, i1, k0, kc, ap);
                    boolean addOld = accumulate || k0 > 0;
                    for (int q = q0; q < q1; q++) {
                        int bOff = (q * k + k0) * NR;
                        for (int tile = 0; tile < tiles; tile++)
                            kernel(ap, tile * kc * MR, bpf, bOff, kc, os, i0 + tile * MR, q * NR, m, n, addOld, tmp);
                    }
                }
            }
        });
    }

    /** bp[(q·K + p)·NR + c] = op(b)[p, q·NR + c], zero for columns past N. */
    private static void packB(MemorySegment bs, boolean transB, int k, int n, int panels, float[] bp) {
        Parallel.forRange(panels, (q0, q1) -> {
            for (int q = q0; q < q1; q++) {
                int j0 = q * NR, w = Math.min(NR, n - j0);
                int base = q * k * NR;
                if (!transB) {                                   // b (K, N): NR contiguous floats per row
                    for (int p = 0; p < k; p++) {
                        long src = ((long) p * n + j0) * 4;
                        int dst = base + p * NR;
                        if (w == NR) {
                            FloatVector.fromMemorySegment(S, bs, src, LE).intoArray(bp, dst);
                            FloatVector.fromMemorySegment(S, bs, src + VL * 4L, LE).intoArray(bp, dst + VL);
                        } else {
                            for (int c = 0; c < w; c++) bp[dst + c] = bs.getAtIndex(Tensor.F32, (long) p * n + j0 + c);
                            Arrays.fill(bp, dst + w, dst + NR, 0f);
                        }
                    }
                } else {                                         // b (N, K): NR rows read in step along K (their lines stay in L1)
                    for (int p = 0; p < k; p++) {
                        int dst = base + p * NR;
                        for (int c = 0; c < w; c++) bp[dst + c] = bs.getAtIndex(Tensor.F32, (long) (j0 + c) * k + p);
                        if (w < NR) Arrays.fill(bp, dst + w, dst + NR, 0f);
                    }
                }
            }
        });
    }

    /** ap[tile·kc·MR + p·MR + r] = op(a)[i0 + tile·MR + r, k0 + p], zero for rows past i1. */
    private static void packA(MemorySegment as, boolean transA, int m, int k, int i0, int i1, int k0, int kc, float[] ap) {
        int tiles = (i1 - i0 + MR - 1) / MR;
        for (int tile = 0; tile < tiles; tile++) {
            int base = tile * kc * MR;
            int rows = Math.min(MR, i1 - i0 - tile * MR), r0 = i0 + tile * MR;
            if (rows < MR) Arrays.fill(ap, base, base + kc * MR, 0f);
            if (!transA) {                                       // a (M, K): each row read along K
                for (int r = 0; r < rows; r++) {
                    long src = (long) (r0 + r) * k + k0;
                    for (int p = 0; p < kc; p++) ap[base + p * MR + r] = as.getAtIndex(Tensor.F32, src + p);
                }
            } else {                                             // a (K, M): the MR rows of a tile are contiguous per p
                for (int p = 0; p < kc; p++) {
                    long src = (long) (k0 + p) * m + r0;
                    for (int r = 0; r < rows; r++) ap[base + p * MR + r] = as.getAtIndex(Tensor.F32, src + r);
                }
            }
        }
    }

    private static void kernel(float[] ap, int aOff, float[] bp, int bOff, int kc, MemorySegment os, int i, int j,
                               int m, int n, boolean addOld, float[] tmp) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int bo = bOff + p * NR, ao = aOff + p * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bo), b1 = FloatVector.fromArray(S, bp, bo + VL);
            FloatVector a0 = FloatVector.broadcast(S, ap[ao]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
        }
        // spill to a per-thread tile and store from there: keeps this method small enough for C2 to intrinsify fully
        c00.intoArray(tmp, 0); c01.intoArray(tmp, VL); c10.intoArray(tmp, NR); c11.intoArray(tmp, NR + VL);
        c20.intoArray(tmp, 2 * NR); c21.intoArray(tmp, 2 * NR + VL); c30.intoArray(tmp, 3 * NR); c31.intoArray(tmp, 3 * NR + VL);
        c40.intoArray(tmp, 4 * NR); c41.intoArray(tmp, 4 * NR + VL); c50.intoArray(tmp, 5 * NR); c51.intoArray(tmp, 5 * NR + VL);
        storeTile(tmp, os, i, j, m, n, addOld);
    }

    /** out[i..i+MR, j..j+NR] (+)= tile, clipped to (m, n). */
    private static void storeTile(float[] tile, MemorySegment os, int i, int j, int m, int n, boolean addOld) {
        int rows = Math.min(MR, m - i);
        for (int r = 0; r < rows; r++) {
            long o = (long) (i + r) * n + j;
            if (j + NR <= n) {
                for (int h = 0; h < NR; h += VL) {
                    FloatVector v = FloatVector.fromArray(S, tile, r * NR + h);
                    if (addOld) v = v.add(FloatVector.fromMemorySegment(S, os, (o + h) * 4, LE));
                    v.intoMemorySegment(os, (o + h) * 4, LE);
                }
            } else {
                for (int c = 0; c < n - j; c++)
                    os.setAtIndex(Tensor.F32, o + c, addOld ? os.getAtIndex(Tensor.F32, o + c) + tile[r * NR + c] : tile[r * NR + c]);
            }
        }
    }

    // ================================================================ small reductions and elementwise ops

    /** Splits [0, n) into at most Parallel.threads() parts; body(part, from, to); returns the part count. */
    private interface Part { void run(int part, int from, int to); }

    private static int parts(int n, int minPerPart, Part body) {
        int parts = Math.max(1, Math.min(Parallel.threads(), n / Math.max(1, minPerPart)));
        Parallel.forRange(parts, (p0, p1) -> {
            for (int p = p0; p < p1; p++) body.run(p, (int) ((long) n * p / parts), (int) ((long) n * (p + 1) / parts));
        });
        return parts;
    }

    /** dWeight[ids[i], :] += dOut[i, :]; threads split the D columns, so repeated ids never race. */
    static void embeddingBackward(int[] ids, Tensor dOut, Tensor dWeight) {
        int d = dWeight.size(1);
        MemorySegment gs = dOut.segment(), ws = dWeight.segment();
        Parallel.forRange(d, VL * 4, (j0, j1) -> {
            for (int i = 0; i < ids.length; i++) {
                long src = (long) i * d, dst = (long) ids[i] * d;
                int j = j0, bound = j0 + S.loopBound(j1 - j0);
                for (; j < bound; j += VL)
                    FloatVector.fromMemorySegment(S, ws, (dst + j) * 4, LE).add(FloatVector.fromMemorySegment(S, gs, (src + j) * 4, LE))
                            .intoMemorySegment(ws, (dst + j) * 4, LE);
                for (; j < j1; j++) ws.setAtIndex(Tensor.F32, dst + j, ws.getAtIndex(Tensor.F32, dst + j) + gs.getAtIndex(Tensor.F32, src + j));
            }
        });
    }

    /** out[j] (+)= Σ_i x[i, j]; threads split the columns, each sums its rows top to bottom in float lanes. */
    static void sumRows(Tensor x, Tensor out, boolean accumulate) {
        int n = x.size(-1);
        int m = Math.toIntExact(x.numel() / n);
        MemorySegment xs = x.segment(), os = out.segment();
        Parallel.forRange(n, VL * 4, (j0, j1) -> {
            float[] acc = scratch(0, j1 - j0);
            Arrays.fill(acc, 0, j1 - j0, 0f);
            int w = j1 - j0, bound = S.loopBound(w);
            for (int i = 0; i < m; i++) {
                long row = (long) i * n + j0;
                int j = 0;
                for (; j < bound; j += VL)
                    FloatVector.fromArray(S, acc, j).add(FloatVector.fromMemorySegment(S, xs, (row + j) * 4, LE)).intoArray(acc, j);
                for (; j < w; j++) acc[j] += xs.getAtIndex(Tensor.F32, row + j);
            }
            for (int j = 0; j < w; j++)
                os.setAtIndex(Tensor.F32, j0 + j, accumulate ? os.getAtIndex(Tensor.F32, j0 + j) + acc[j] : acc[j]);
        });
    }

    /** Rows split into parts; each part accumulates its dw in a private partial, the partials are summed at the end. */
    static void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        int d = x.size(-1);
        int rows = Math.toIntExact(x.numel() / d);
        MemorySegment xs = x.segment(), ws = w.segment(), gs = dy.segment(), os = dx.segment();
        float[][] partial = new float[Parallel.threads()][];
        int bound = S.loopBound(d);
        int used = parts(rows, 1, (part, r0, r1) -> {
            float[] pdw = new float[d];
            partial[part] = pdw;
            for (int r = r0; r < r1; r++) {
                long base = (long) r * d;
                FloatVector ssv = FloatVector.zero(S), dotv = ssv;
                int j = 0;
                for (; j < bound; j += VL) {
                    FloatVector xv = FloatVector.fromMemorySegment(S, xs, (base + j) * 4, LE);
                    FloatVector gw = FloatVector.fromMemorySegment(S, gs, (base + j) * 4, LE).mul(FloatVector.fromMemorySegment(S, ws, j * 4L, LE));
                    ssv = xv.fma(xv, ssv);
                    dotv = gw.fma(xv, dotv);
                }
                float ss = VMath.sum(ssv), dot = VMath.sum(dotv);
                for (; j < d; j++) {
                    float xv = xs.getAtIndex(Tensor.F32, base + j);
                    ss += xv * xv;
                    dot += gs.getAtIndex(Tensor.F32, base + j) * ws.getAtIndex(Tensor.F32, j) * xv;
                }
                float inv = (float) (1.0 / Math.sqrt(ss / d + eps));
                float c = inv * inv * inv * dot / d;
                j = 0;
                for (; j < bound; j += VL) {
                    FloatVector xv = FloatVector.fromMemorySegment(S, xs, (base + j) * 4, LE);
                    FloatVector g = FloatVector.fromMemorySegment(S, gs, (base + j) * 4, LE);
                    FloatVector wv = FloatVector.fromMemorySegment(S, ws, j * 4L, LE);
                    g.mul(wv).mul(inv).sub(xv.mul(c)).intoMemorySegment(os, (base + j) * 4, LE);
                    g.mul(xv).mul(inv).add(FloatVector.fromArray(S, pdw, j)).intoArray(pdw, j);
                }
                for (; j < d; j++) {
                    float xv = xs.getAtIndex(Tensor.F32, base + j), g = gs.getAtIndex(Tensor.F32, base + j);
                    os.setAtIndex(Tensor.F32, base + j, g * ws.getAtIndex(Tensor.F32, j) * inv - xv * c);
                    pdw[j] += g * xv * inv;
                }
            }
        });
        for (int j = 0; j < d; j++) {
            float acc = dw.segment().getAtIndex(Tensor.F32, j);
            for (int p = 0; p < used; p++) acc += partial[p][j];
            dw.segment().setAtIndex(Tensor.F32, j, acc);
        }
    }

    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);

    static FloatVector sigmoid(FloatVector x) {
        return ONE.div(VMath.exp(x.neg()).add(1f));
    }

    /** silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
    static FloatVector siluGrad(FloatVector x) {
        FloatVector s = sigmoid(x);
        return s.mul(x.mul(s.neg().add(1f)).add(1f));
    }

    private static float siluGrad(float x) {
        float s = Formulas.sigmoid(x);
        return s * (1f + x * (1f - s));
    }

    /** out = f(a, b) elementwise, in lanes, with threads over contiguous ranges. */
    private interface Binary { FloatVector vec(FloatVector a, FloatVector b); float scalar(float a, float b); }

    private static void elementwise(Tensor a, Tensor b, Tensor out, Binary f) {
        int n = Math.toIntExact(out.numel());
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        Parallel.forRange(n, 16384, (s, e) -> {
            int i = s, bound = s + S.loopBound(e - s);
            for (; i < bound; i += VL)
                f.vec(FloatVector.fromMemorySegment(S, as, i * 4L, LE), FloatVector.fromMemorySegment(S, bs, i * 4L, LE)).intoMemorySegment(os, i * 4L, LE);
            for (; i < e; i++) os.setAtIndex(Tensor.F32, i, f.scalar(as.getAtIndex(Tensor.F32, i), bs.getAtIndex(Tensor.F32, i)));
        });
    }

    private static final Binary SILU_BACKWARD = new Binary() {
        public FloatVector vec(FloatVector x, FloatVector dy) { return dy.mul(siluGrad(x)); }
        public float scalar(float x, float dy) { return dy * siluGrad(x); }
    };
    private static final Binary SOFTPLUS_BACKWARD = new Binary() {
        public FloatVector vec(FloatVector x, FloatVector dy) { return dy.mul(sigmoid(x)).blend(dy, x.compare(VectorOperators.GT, 20f)); }
        public float scalar(float x, float dy) { return x > 20f ? dy : dy * Formulas.sigmoid(x); }
    };

    static void siluBackward(Tensor x, Tensor dy, Tensor dx) { elementwise(x, dy, dx, SILU_BACKWARD); }

    static void softplusBackward(Tensor x, Tensor dy, Tensor dx) { elementwise(x, dy, dx, SOFTPLUS_BACKWARD); }

    static void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        int n = Math.toIntExact(y.numel());
        MemorySegment ys = y.segment(), zs = z.segment(), gs = dOut.segment(), dys = dy.segment(), dzs = dz.segment();
        Parallel.forRange(n, 16384, (s, e) -> {
            int i = s, bound = s + S.loopBound(e - s);
            for (; i < bound; i += VL) {
                long o = i * 4L;
                FloatVector zv = FloatVector.fromMemorySegment(S, zs, o, LE), g = FloatVector.fromMemorySegment(S, gs, o, LE);
                FloatVector yv = FloatVector.fromMemorySegment(S, ys, o, LE);
                FloatVector sg = sigmoid(zv);
                g.mul(zv.mul(sg)).intoMemorySegment(dys, o, LE);
                g.mul(yv).mul(sg.mul(zv.mul(sg.neg().add(1f)).add(1f))).intoMemorySegment(dzs, o, LE);
            }
            for (; i < e; i++) {
                float zv = zs.getAtIndex(Tensor.F32, i), g = gs.getAtIndex(Tensor.F32, i), yv = ys.getAtIndex(Tensor.F32, i);
                dys.setAtIndex(Tensor.F32, i, g * Formulas.silu(zv));
                dzs.setAtIndex(Tensor.F32, i, g * yv * siluGrad(zv));
            }
        });
    }

    /** x *= s in lanes. */
    static void scale(Tensor x, float s) {
        int n = Math.toIntExact(x.numel());
        MemorySegment xs = x.segment();
        Parallel.forRange(n, 16384, (a, e) -> {
            int i = a, bound = a + S.loopBound(e - a);
            for (; i < bound; i += VL) FloatVector.fromMemorySegment(S, xs, i * 4L, LE).mul(s).intoMemorySegment(xs, i * 4L, LE);
            for (; i < e; i++) xs.setAtIndex(Tensor.F32, i, xs.getAtIndex(Tensor.F32, i) * s);
        });
    }

    /** Σ x²: float lanes over blocks of 4096 elements, each block's sum added to a per-part double. */
    static double sumSquares(Tensor x) {
        int n = Math.toIntExact(x.numel());
        MemorySegment xs = x.segment();
        double[] partial = new double[Parallel.threads()];
        int used = parts(n, 16384, (part, s, e) -> {
            double acc = 0;
            for (int b0 = s; b0 < e; b0 += 4096) {
                int b1 = Math.min(e, b0 + 4096), i = b0, bound = b0 + S.loopBound(b1 - b0);
                FloatVector v = FloatVector.zero(S);
                for (; i < bound; i += VL) { FloatVector t = FloatVector.fromMemorySegment(S, xs, i * 4L, LE); v = t.fma(t, v); }
                double blk = VMath.sum(v);
                for (; i < b1; i++) { double t = xs.getAtIndex(Tensor.F32, i); blk += t * t; }
                acc += blk;
            }
            partial[part] = acc;
        });
        double total = 0;
        for (int p = 0; p < used; p++) total += partial[p];
        return total;
    }

    /**
     * PyTorch's AdamW arithmetic in float lanes: p ·= 1 − lr·wd; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
     * p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps), bc = 1 − β^step computed in double.
     */
    static void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        int n = Math.toIntExact(p.numel());
        float decay = 1f - lr * weightDecay;
        float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
        float bc2Sqrt = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float ob1 = 1f - beta1, ob2 = 1f - beta2;
        MemorySegment ps = p.segment(), gs = g.segment(), ms = m.segment(), vs = v.segment();
        Parallel.forRange(n, 16384, (s, e) -> {
            int i = s, bound = s + S.loopBound(e - s);
            for (; i < bound; i += VL) {
                long o = i * 4L;
                FloatVector gv = FloatVector.fromMemorySegment(S, gs, o, LE);
                FloatVector mv = FloatVector.fromMemorySegment(S, ms, o, LE).mul(beta1).add(gv.mul(ob1));
                FloatVector vv = FloatVector.fromMemorySegment(S, vs, o, LE).mul(beta2).add(gv.mul(gv).mul(ob2));
                FloatVector denom = vv.lanewise(VectorOperators.SQRT).div(bc2Sqrt).add(eps);
                FloatVector pv = FloatVector.fromMemorySegment(S, ps, o, LE).mul(decay);
                pv.sub(mv.div(denom).mul(stepSize)).intoMemorySegment(ps, o, LE);
                mv.intoMemorySegment(ms, o, LE);
                vv.intoMemorySegment(vs, o, LE);
            }
            for (; i < e; i++) {
                float gv = gs.getAtIndex(Tensor.F32, i);
                float mv = ms.getAtIndex(Tensor.F32, i) * beta1 + gv * ob1;
                float vv = vs.getAtIndex(Tensor.F32, i) * beta2 + gv * gv * ob2;
                float pv = ps.getAtIndex(Tensor.F32, i) * decay;
                ps.setAtIndex(Tensor.F32, i, pv - mv / ((float) Math.sqrt(vv) / bc2Sqrt + eps) * stepSize);
                ms.setAtIndex(Tensor.F32, i, mv);
                vs.setAtIndex(Tensor.F32, i, vv);
            }
        });
    }

    /**
     * Threads split the rows; per row a lane-wise max, Σ exp(x − max) and logsumexp, then dLogits = softmax ·
     * scale/count with scale/count subtracted at the target. Row losses are summed in double in row order.
     */
    static double crossEntropy(Tensor logits, int[] targets, float scale, Tensor dLogits) {
        int m = logits.size(0), v = logits.size(1);
        int count = 0;
        for (int t : targets) if (t != Checks.IGNORE_INDEX) count++;
        float coef = (float) ((double) scale / count);
        MemorySegment xs = logits.segment(), ds = dLogits == null ? null : dLogits.segment();
        double[] rowLoss = new double[m];
        int bound = S.loopBound(v);
        Parallel.forRange(m, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long row = (long) r * v;
                if (targets[r] == Checks.IGNORE_INDEX) { if (ds != null) ds.asSlice(row * 4, v * 4L).fill((byte) 0); continue; }
                FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
                int j = 0;
                for (; j < bound; j += VL) mx = mx.max(FloatVector.fromMemorySegment(S, xs, (row + j) * 4, LE));
                float max = mx.reduceLanes(VectorOperators.MAX);
                for (; j < v; j++) max = Math.max(max, xs.getAtIndex(Tensor.F32, row + j));
                FloatVector sv = FloatVector.zero(S);
                j = 0;
                for (; j < bound; j += VL) sv = sv.add(VMath.exp(FloatVector.fromMemorySegment(S, xs, (row + j) * 4, LE).sub(max)));
                double sum = VMath.sum(sv);
                for (; j < v; j++) sum += Math.exp(xs.getAtIndex(Tensor.F32, row + j) - max);
                double lse = max + Math.log(sum);
                float target = xs.getAtIndex(Tensor.F32, row + targets[r]);
                rowLoss[r] = lse - target;
                if (ds == null) continue;                                   // the loss alone (evaluation)
                float lsef = (float) lse;
                j = 0;
                for (; j < bound; j += VL)
                    VMath.exp(FloatVector.fromMemorySegment(S, xs, (row + j) * 4, LE).sub(lsef)).mul(coef).intoMemorySegment(ds, (row + j) * 4, LE);
                for (; j < v; j++) ds.setAtIndex(Tensor.F32, row + j, (float) Math.exp(xs.getAtIndex(Tensor.F32, row + j) - lsef) * coef);
                ds.setAtIndex(Tensor.F32, row + targets[r], ds.getAtIndex(Tensor.F32, row + targets[r]) - coef);
            }
        });
        double loss = 0;
        for (int r = 0; r < m; r++) loss += rowLoss[r];
        return loss / count;
    }

    // ================================================================ causal conv backward

    /**
     * Lanes over channels (channels-last), threads over channel blocks, so dw and dbias of a channel belong to
     * one thread. Per (batch, block): g = dOut · silu'(pre) for all t into a per-thread (L, VL) buffer (pre
     * recomputed with the transposed kernel), then dx[s] = Σ_k g[s + K − 1 − k]·w[k]. The last block is masked.
     */
    static void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        int b = x.size(0), l = x.size(1), c = x.size(2), k = w.size(1);
        int blocks = (c + VL - 1) / VL, cp = blocks * VL;
        float[] wt = new float[k * cp], bs = new float[cp];
        for (int ch = 0; ch < c; ch++) for (int j = 0; j < k; j++) wt[j * cp + ch] = w.getFloat((long) ch * k + j);
        if (bias != null) for (int ch = 0; ch < c; ch++) bs[ch] = bias.getFloat(ch);
        MemorySegment xs = x.segment(), gs = dOut.segment(), dxs = dx.segment();
        Parallel.forRange(blocks, (k0, k1) -> {
            float[] g = scratch(0, l * VL);
            float[] dwAcc = scratch(1, (k + 1) * VL);   // dw (K, VL) | dbias (VL)
            for (int blk = k0; blk < k1; blk++) {
                int e0 = blk * VL, valid = Math.min(VL, c - e0);
                Arrays.fill(dwAcc, 0, (k + 1) * VL, 0f);
                for (int bi = 0; bi < b; bi++) {
                    for (int t = 0; t < l; t++) convGradStep(xs, gs, wt, bs, cp, l, c, k, silu, bi, t, e0, valid, g, dwAcc);
                    for (int s = 0; s < l; s++) convDxStep(dxs, wt, cp, l, c, k, bi, s, e0, valid, g);
                }
                for (int lane = 0; lane < valid; lane++) {
                    for (int j = 0; j < k; j++) {
                        long o = (long) (e0 + lane) * k + j;
                        dw.segment().setAtIndex(Tensor.F32, o, dw.segment().getAtIndex(Tensor.F32, o) + dwAcc[j * VL + lane]);
                    }
                    if (dbias != null)
                        dbias.segment().setAtIndex(Tensor.F32, e0 + lane, dbias.segment().getAtIndex(Tensor.F32, e0 + lane) + dwAcc[k * VL + lane]);
                }
            }
        });
    }

    /** g[t] = dOut · silu'(pre) (or dOut); dbias += g; dw[j] += g · x[t − K + 1 + j]. */
    private static void convGradStep(MemorySegment xs, MemorySegment gs, float[] wt, float[] bs, int cp, int l, int c, int k, boolean silu,
                                     int bi, int t, int e0, int valid, float[] g, float[] dwAcc) {
        boolean full = valid == VL;
        long row = ((long) bi * l + t) * c + e0;
        FloatVector gv = load(gs, row, full, valid);
        if (silu) {
            FloatVector pre = FloatVector.fromArray(S, bs, e0);
            for (int j = Math.max(0, k - 1 - t); j < k; j++)
                pre = load(xs, row + (long) (j - k + 1) * c, full, valid).fma(FloatVector.fromArray(S, wt, j * cp + e0), pre);
            gv = gv.mul(siluGrad(pre));
        }
        gv.intoArray(g, t * VL);
        gv.add(FloatVector.fromArray(S, dwAcc, k * VL)).intoArray(dwAcc, k * VL);
        for (int j = Math.max(0, k - 1 - t); j < k; j++)
            load(xs, row + (long) (j - k + 1) * c, full, valid).fma(gv, FloatVector.fromArray(S, dwAcc, j * VL)).intoArray(dwAcc, j * VL);
    }

    /** dx[s] = Σ_j g[s + K − 1 − j] · w[j] over the taps that stay inside the sequence. */
    private static void convDxStep(MemorySegment dxs, float[] wt, int cp, int l, int c, int k, int bi, int s, int e0, int valid, float[] g) {
        FloatVector acc = FloatVector.zero(S);
        for (int j = Math.max(0, s + k - l); j < k; j++)
            acc = FloatVector.fromArray(S, g, (s + k - 1 - j) * VL).fma(FloatVector.fromArray(S, wt, j * cp + e0), acc);
        store(acc, dxs, ((long) bi * l + s) * c + e0, valid == VL, valid);
    }

    /** VL floats at element offset off; lanes from valid on read 0 (only the last channel block is partial). */
    private static FloatVector load(MemorySegment seg, long off, boolean full, int valid) {
        return full ? FloatVector.fromMemorySegment(S, seg, off * 4, LE) : FloatVector.fromMemorySegment(S, seg, off * 4, LE, S.indexInRange(0, valid));
    }

    private static void store(FloatVector v, MemorySegment seg, long off, boolean full, int valid) {
        if (full) v.intoMemorySegment(seg, off * 4, LE);
        else v.intoMemorySegment(seg, off * 4, LE, S.indexInRange(0, valid));
    }

    // ================================================================ selective scan for training

    /** A (E, N) transposed to (N, Ep) and the (E) vectors padded to Ep = a multiple of VL, zeros past E. */
    private record ScanParams(float[] at, float[] bias, float[] dskip, int ep) {
        static ScanParams of(SelectiveScan s) {
            int e = s.channels(), n = s.stateSize(), ep = (e + VL - 1) / VL * VL;
            float[] at = new float[n * ep], bias = new float[ep], dskip = new float[ep];
            for (int ch = 0; ch < e; ch++) {
                for (int j = 0; j < n; j++) at[j * ep + ch] = s.a().getFloat((long) ch * n + j);
                if (s.deltaBias() != null) bias[ch] = s.deltaBias().getFloat(ch);
                if (s.d() != null) dskip[ch] = s.d().getFloat(ch);
            }
            return new ScanParams(at, bias, dskip, ep);
        }
    }

    /** h[j·VL + lane] ↔ t[(base + lane)·N + j] for the valid lanes (the (…, E, N) layouts of state and chunkStates). */
    private static void loadState(MemorySegment t, long base, int valid, int n, float[] h, int hOff) {
        Arrays.fill(h, hOff, hOff + n * VL, 0f);
        for (int lane = 0; lane < valid; lane++)
            for (int j = 0; j < n; j++) h[hOff + j * VL + lane] = t.getAtIndex(Tensor.F32, (base + lane) * n + j);
    }

    private static void saveState(MemorySegment t, long base, int valid, int n, float[] h, int hOff) {
        for (int lane = 0; lane < valid; lane++)
            for (int j = 0; j < n; j++) t.setAtIndex(Tensor.F32, (base + lane) * n + j, h[hOff + j * VL + lane]);
    }

    /**
     * As the inference scan (lanes over VL channels, the VL × N state in a per-thread L1 buffer, threads over
     * (batch, channel block)), plus: before step t with t % chunk == 0 the state is written to chunkStates.
     * The last channel block runs masked instead of a scalar tail.
     */
    static void scanForward(SelectiveScan s, int chunk, Tensor chunkStates) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        int blocks = (e + VL - 1) / VL, chunks = (l + chunk - 1) / chunk;
        ScanParams prm = ScanParams.of(s);
        MemorySegment us = s.u().segment(), ds = s.delta().segment(), bm = s.bm().segment(), cm = s.cm().segment(), os = s.out().segment();
        MemorySegment zs = s.z() == null ? null : s.z().segment(), st = s.state() == null ? null : s.state().segment();
        MemorySegment cs = chunkStates.segment();
        boolean softplus = s.deltaSoftplus();
        Parallel.forRange(b * blocks, (r0, r1) -> {
            float[] h = scratch(2, n * VL);
            for (int r = r0; r < r1; r++) {
                int bi = r / blocks, e0 = (r % blocks) * VL, valid = Math.min(VL, e - e0);
                boolean full = valid == VL;
                if (st != null) loadState(st, (long) bi * e + e0, valid, n, h, 0);
                else Arrays.fill(h, 0, n * VL, 0f);
                FloatVector bias = FloatVector.fromArray(S, prm.bias, e0), dskip = FloatVector.fromArray(S, prm.dskip, e0);
                for (int t = 0; t < l; t++) {
                    if (t % chunk == 0) saveState(cs, ((long) bi * chunks + t / chunk) * e + e0, valid, n, h, 0);
                    long ie = ((long) bi * l + t) * e + e0, in = ((long) bi * l + t) * n;
                    FloatVector dt = load(ds, ie, full, valid).add(bias);
                    if (softplus) dt = CpuKernels.softplus(dt);
                    FloatVector u = load(us, ie, full, valid);
                    FloatVector du = dt.mul(u);
                    FloatVector y = dskip.mul(u);
                    for (int j = 0; j < n; j++) {
                        FloatVector dA = VMath.exp(dt.mul(FloatVector.fromArray(S, prm.at, j * prm.ep + e0)));
                        FloatVector hj = FloatVector.fromArray(S, h, j * VL).fma(dA, du.mul(bm.getAtIndex(Tensor.F32, in + j)));
                        hj.intoArray(h, j * VL);
                        y = hj.fma(FloatVector.broadcast(S, cm.getAtIndex(Tensor.F32, in + j)), y);
                    }
                    if (zs != null) y = y.mul(CpuKernels.silu(load(zs, ie, full, valid)));
                    store(y, os, ie, full, valid);
                }
                if (st != null) saveState(st, (long) bi * e + e0, valid, n, h, 0);
            }
        });
    }

    /** Per-call operands of the scan backward, so the per-step kernels take few arguments. */
    private record Bwd(MemorySegment us, MemorySegment ds, MemorySegment bm, MemorySegment cm, MemorySegment gs, MemorySegment zs,
                       MemorySegment dus, MemorySegment dds, MemorySegment dzs, float[] at, float[] bias, float[] dskip,
                       int l, int e, int n, int ep, boolean softplus) {}

    /**
     * The reference's derivative (see ReferenceKernels.scanBackward) in lanes over VL channels. Threads split the
     * channel blocks and each walks every batch row, so dA, dD and dDeltaBias of a channel belong to one thread;
     * dB and dC (sums over channels) are reduced across lanes per step into a per-part (B, L, N) partial and the
     * partials summed at the end. Per thread: the chunk's states (chunk + 1, N, VL), its Δ and y (chunk, VL), dh (N, VL).
     * The per-step bodies are separate small methods so C2 keeps every vector op intrinsified (no boxing).
     */
    static void scanBackward(SelectiveScan s, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads g) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        int blocks = (e + VL - 1) / VL, chunks = (l + chunk - 1) / chunk, hl = Math.min(chunk, l);
        ScanParams prm = ScanParams.of(s);
        Bwd c = new Bwd(s.u().segment(), s.delta().segment(), s.bm().segment(), s.cm().segment(), dOut.segment(), s.z() == null ? null : s.z().segment(),
                g.du().segment(), g.dDelta().segment(), g.dZ() == null ? null : g.dZ().segment(), prm.at, prm.bias, prm.dskip, l, e, n, prm.ep, s.deltaSoftplus());
        int bln = Math.toIntExact((long) b * l * n);
        boolean wantB = g.dB() != null, wantC = g.dC() != null;
        float[][] dBp = new float[Parallel.threads()][], dCp = new float[Parallel.threads()][];
        MemorySegment cs = chunkStates.segment();
        int used = parts(blocks, 1, (part, k0, k1) -> {
            // dB/dC partials kept as vectors over lanes (B·L·N, VL): one horizontal sum per entry at the end of
            // this thread's blocks instead of one per (step, n, block)
            float[] pdB = wantB ? new float[bln * VL] : null, pdC = wantC ? new float[bln * VL] : null;
            float[] hs = scratch(2, (hl + 1) * n * VL), dts = scratch(3, hl * VL), ys = scratch(4, hl * VL);
            float[] das = scratch(6, hl * n * VL);   // exp(Δ·A) per step of the chunk, from the recompute
            float[] acc = scratch(5, (2 * n + SLOTS) * VL);   // dh (N, VL) | dA (N, VL) | the slots below
            for (int blk = k0; blk < k1; blk++) {
                int e0 = blk * VL, valid = Math.min(VL, e - e0);
                Arrays.fill(acc, n * VL, (2 * n + SLOTS) * VL, 0f);
                for (int bi = 0; bi < b; bi++) {
                    Arrays.fill(acc, 0, n * VL, 0f);
                    for (int ci = chunks - 1; ci >= 0; ci--) {
                        int t0 = ci * chunk, t1 = Math.min(l, t0 + chunk);
                        loadState(cs, ((long) bi * chunks + ci) * e + e0, valid, n, hs, 0);
                        for (int t = t0; t < t1; t++) recomputeStep(c, bi, t, t - t0, e0, valid, hs, dts, ys, das);
                        for (int t = t1 - 1; t >= t0; t--) reverseStep(c, bi, t, t - t0, e0, valid, hs, dts, ys, das, acc, pdB, pdC);
                    }
                    if (g.dState0() != null) saveState(g.dState0().segment(), (long) bi * e + e0, valid, n, acc, 0);
                }
                for (int lane = 0; lane < valid; lane++) {
                    int ch = e0 + lane;
                    if (g.dA() != null)
                        for (int j = 0; j < n; j++) {
                            long o = (long) ch * n + j;
                            g.dA().segment().setAtIndex(Tensor.F32, o, g.dA().segment().getAtIndex(Tensor.F32, o) + acc[(n + j) * VL + lane]);
                        }
                    if (g.dD() != null) g.dD().segment().setAtIndex(Tensor.F32, ch, g.dD().segment().getAtIndex(Tensor.F32, ch) + acc[(2 * n + S_DD) * VL + lane]);
                    if (g.dDeltaBias() != null)
                        g.dDeltaBias().segment().setAtIndex(Tensor.F32, ch, g.dDeltaBias().segment().getAtIndex(Tensor.F32, ch) + acc[(2 * n + S_DBIAS) * VL + lane]);
                }
            }
            dBp[part] = pdB == null ? null : lanesToScalars(pdB, bln);
            dCp[part] = pdC == null ? null : lanesToScalars(pdC, bln);
        });
        reduceParts(g.dB(), dBp, used, bln);
        reduceParts(g.dC(), dCp, used, bln);
    }

    /** Sums each group of VL lanes of a (size, VL) vector partial into a (size) scalar array. */
    private static float[] lanesToScalars(float[] v, int size) {
        float[] out = new float[size];
        for (int i = 0; i < size; i++) out[i] = VMath.sum(FloatVector.fromArray(S, v, i * VL));
        return out;
    }

    private static void reduceParts(Tensor out, float[][] partial, int used, int size) {
        if (out == null) return;
        MemorySegment os = out.segment();
        Parallel.forRange(size, VL * 64, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                float acc = 0f;
                for (int p = 0; p < used; p++) acc += partial[p][i];
                os.setAtIndex(Tensor.F32, i, acc);
            }
        });
    }

    /** Forward step t (index i in its chunk) again: hs[i + 1] from hs[i]; Δ and the pre-gate y saved for the reverse walk. */
    private static void recomputeStep(Bwd c, int bi, int t, int i, int e0, int valid, float[] hs, float[] dts, float[] ys, float[] das) {
        int n = c.n, nv = n * VL;
        boolean full = valid == VL;
        long ie = ((long) bi * c.l + t) * c.e + e0, in = ((long) bi * c.l + t) * n;
        FloatVector dt = load(c.ds, ie, full, valid).add(FloatVector.fromArray(S, c.bias, e0));
        if (c.softplus) dt = CpuKernels.softplus(dt);
        FloatVector u = load(c.us, ie, full, valid), du = dt.mul(u), y = FloatVector.fromArray(S, c.dskip, e0).mul(u);
        int hp = i * nv, hn = hp + nv;
        for (int j = 0; j < n; j++) {
            FloatVector dA = VMath.exp(dt.mul(FloatVector.fromArray(S, c.at, j * c.ep + e0)));
            dA.intoArray(das, hp + j * VL);
            FloatVector hj = FloatVector.fromArray(S, hs, hp + j * VL).fma(dA, du.mul(c.bm.getAtIndex(Tensor.F32, in + j)));
            hj.intoArray(hs, hn + j * VL);
            y = hj.fma(FloatVector.broadcast(S, c.cm.getAtIndex(Tensor.F32, in + j)), y);
        }
        dt.intoArray(dts, i * VL);
        y.intoArray(ys, i * VL);
    }

    // slots of the per-thread accumulator array after dh (N, VL) and dA (N, VL), in units of VL
    private static final int S_DD = 0, S_DBIAS = 1, S_DY = 2, S_U = 3, S_DU = 4, S_DDT = 5, SLOTS = 6;

    /**
     * Reverse step t in three small methods that pass vectors through the per-thread array (C2 would stop inlining
     * inside one big body and box the vectors crossing calls): head = dy, dz, dD; states = the per-n loop (dh, dC,
     * dB, du, dΔ, dA); tail = dΔ through softplus and the stores.
     */
    private static void reverseStep(Bwd c, int bi, int t, int i, int e0, int valid, float[] hs, float[] dts, float[] ys,
                                    float[] das, float[] acc, float[] pdB, float[] pdC) {
        int sl = 2 * c.n * VL;
        reverseHead(c, bi, t, i, e0, valid, ys, acc, sl);
        reverseStates(c, bi, t, i, e0, hs, dts, das, acc, sl, pdB, pdC);
        reverseTail(c, bi, t, e0, valid, acc, sl);
    }

    private static void reverseHead(Bwd c, int bi, int t, int i, int e0, int valid, float[] ys, float[] acc, int sl) {
        boolean full = valid == VL;
        long ie = ((long) bi * c.l + t) * c.e + e0;
        FloatVector u = load(c.us, ie, full, valid), dy = load(c.gs, ie, full, valid);
        if (c.zs != null) {
            FloatVector zv = load(c.zs, ie, full, valid), sg = sigmoid(zv);
            if (c.dzs != null)
                store(dy.mul(FloatVector.fromArray(S, ys, i * VL)).mul(sg.mul(zv.mul(sg.neg().add(1f)).add(1f))), c.dzs, ie, full, valid);
            dy = dy.mul(zv.mul(sg));
        }
        dy.fma(u, FloatVector.fromArray(S, acc, sl + S_DD * VL)).intoArray(acc, sl + S_DD * VL);
        dy.intoArray(acc, sl + S_DY * VL);
        u.intoArray(acc, sl + S_U * VL);
    }

    private static void reverseStates(Bwd c, int bi, int t, int i, int e0, float[] hs, float[] dts, float[] das, float[] acc, int sl,
                                      float[] pdB, float[] pdC) {
        int n = c.n, nv = n * VL;
        int in = Math.toIntExact(((long) bi * c.l + t) * n);
        FloatVector dt = FloatVector.fromArray(S, dts, i * VL);
        FloatVector dy = FloatVector.fromArray(S, acc, sl + S_DY * VL), u = FloatVector.fromArray(S, acc, sl + S_U * VL);
        FloatVector du = dy.mul(FloatVector.fromArray(S, c.dskip, e0)), dDt = FloatVector.zero(S), dtu = dt.mul(u);
        int hp = i * nv, hn = hp + nv;
        for (int j = 0; j < n; j++) {
            float bj = c.bm.getAtIndex(Tensor.F32, in + j), cj = c.cm.getAtIndex(Tensor.F32, in + j);
            FloatVector a = FloatVector.fromArray(S, c.at, j * c.ep + e0);
            FloatVector dA = FloatVector.fromArray(S, das, hp + j * VL);
            FloatVector dhj = dy.fma(FloatVector.broadcast(S, cj), FloatVector.fromArray(S, acc, j * VL));
            int pv = (in + j) * VL;
            if (pdC != null) dy.fma(FloatVector.fromArray(S, hs, hn + j * VL), FloatVector.fromArray(S, pdC, pv)).intoArray(pdC, pv);
            if (pdB != null) dhj.fma(dtu, FloatVector.fromArray(S, pdB, pv)).intoArray(pdB, pv);
            FloatVector dhdt = dhj.mul(dt);
            du = dhdt.fma(FloatVector.broadcast(S, bj), du);
            FloatVector dAh = dA.mul(FloatVector.fromArray(S, hs, hp + j * VL));
            dDt = dhj.fma(a.mul(dAh).add(u.mul(bj)), dDt);
            dhdt.fma(dAh, FloatVector.fromArray(S, acc, nv + j * VL)).intoArray(acc, nv + j * VL);
            dhj.mul(dA).intoArray(acc, j * VL);
        }
        du.intoArray(acc, sl + S_DU * VL);
        dDt.intoArray(acc, sl + S_DDT * VL);
    }

    private static void reverseTail(Bwd c, int bi, int t, int e0, int valid, float[] acc, int sl) {
        boolean full = valid == VL;
        long ie = ((long) bi * c.l + t) * c.e + e0;
        FloatVector dDt = FloatVector.fromArray(S, acc, sl + S_DDT * VL);
        if (c.softplus) {
            FloatVector v = load(c.ds, ie, full, valid).add(FloatVector.fromArray(S, c.bias, e0));
            dDt = dDt.mul(sigmoid(v)).blend(dDt, v.compare(VectorOperators.GT, 20f));
        }
        store(FloatVector.fromArray(S, acc, sl + S_DU * VL), c.dus, ie, full, valid);
        store(dDt, c.dds, ie, full, valid);
        dDt.add(FloatVector.fromArray(S, acc, sl + S_DBIAS * VL)).intoArray(acc, sl + S_DBIAS * VL);
    }
}
