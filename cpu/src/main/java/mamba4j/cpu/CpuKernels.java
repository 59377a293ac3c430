package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.CopyRegion;
import mamba4j.core.Device;
import mamba4j.core.Kernels;
import mamba4j.core.Shape;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Same as {@link ReferenceKernels}; differs in using the Vector API (species-agnostic bodies with scalar
 * tails) and all cores through {@link Parallel}. Summation order differs from the reference, so results
 * agree to float32 rounding, not bit for bit.
 *
 * <p>{@code -Dmamba4j.vector=false} routes every op to the reference (the off switch).
 */
public final class CpuKernels implements Kernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final boolean VECTOR = !"false".equals(System.getProperty("mamba4j.vector"));
    private static final ReferenceKernels REF = ReferenceKernels.INSTANCE;
    /** Per-thread scratch for weight rows widened from BF16/F16, and for scan states. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    @Override public String name() { return "cpu"; }

    @Override public String description() {
        return VECTOR ? "cpu (Vector API, " + VL + " floats per vector, " + Parallel.threads() + " threads)"
                : "cpu (vector off: every op routed to the reference)";
    }

    @Override public Device device() { return Device.CPU; }

    @Override public int threads() { return Parallel.threads(); }

    /** Main-memory read bandwidth with all threads, best of 5 reads of 1 GiB (see {@link MemoryBandwidth}). */
    @Override public double memoryBandwidthGBs() { return MemoryBandwidth.readGBps(1L << 30, 5); }

    private static final java.util.Set<DType> F32_ONLY = java.util.Set.of(DType.F32);

    @Override public java.util.Set<DType> activationTypes() { return VECTOR ? F32_ONLY : REF.activationTypes(); }

    // ---------------------------------------------------------------- memory: host tensors as they are

    @Override public Tensor allocate(DType dtype, Shape shape) { return Tensor.zeros(dtype, shape); }

    @Override public Tensor upload(Tensor host) { return host; }

    @Override public Tensor download(Tensor t) { return t; }

    @Override public void write(Tensor host, Tensor dst) { dst.copyFrom(host); }

    @Override public void copy(Tensor src, Tensor dst, CopyRegion region) { ReferenceKernels.hostCopy(src, dst, region); }

    @Override public void fill(Tensor t, float v) { t.fill(v); }

    @Override public double item(Tensor t, long i) { return t.getDouble(i); }

    @Override public void sync() {}

    @Override public void addRow(Tensor x, Tensor row, Tensor out) {
        if (!VECTOR) { REF.addRow(x, row, out); return; }
        int n = (int) row.numel();
        long m = x.numel() / n;
        MemorySegment xs = x.segment(), rs = row.segment(), os = out.segment();
        int bound = S.loopBound(n);
        for (long r = 0; r < m; r++) {
            long base = r * n;
            int j = 0;
            for (; j < bound; j += VL)
                FloatVector.fromMemorySegment(S, xs, (base + j) * 4, LE).add(FloatVector.fromMemorySegment(S, rs, j * 4L, LE))
                        .intoMemorySegment(os, (base + j) * 4, LE);
            for (; j < n; j++) os.setAtIndex(Tensor.F32, base + j, xs.getAtIndex(Tensor.F32, base + j) + rs.getAtIndex(Tensor.F32, j));
        }
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        if (!VECTOR) { REF.mul(a, b, out); return; }
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        long n = out.numel(), bound = S.loopBound(n);
        long i = 0;
        for (; i < bound; i += VL)
            FloatVector.fromMemorySegment(S, as, i * 4, LE).mul(FloatVector.fromMemorySegment(S, bs, i * 4, LE)).intoMemorySegment(os, i * 4, LE);
        for (; i < n; i++) os.setAtIndex(Tensor.F32, i, as.getAtIndex(Tensor.F32, i) * bs.getAtIndex(Tensor.F32, i));
    }

    @Override public void negExp(Tensor x, Tensor out) {
        if (!VECTOR) { REF.negExp(x, out); return; }
        for (long i = 0, n = x.numel(); i < n; i++) out.setFloat(i, (float) -Math.exp(x.getFloat(i)));
    }

    @Override public void embedding(Tensor weight, Tensor ids, Tensor out) {
        if (!VECTOR) { REF.embedding(weight, ids, out); return; }
        int d = weight.size(1);
        for (int i = 0, n = (int) ids.numel(); i < n; i++) {
            long src = ids.getLong(i) * d, dst = (long) i * d;
            if (weight.dtype() == DType.F32)
                MemorySegment.copy(weight.segment(), src * 4, out.segment(), dst * 4, d * 4L);
            else
                for (int j = 0; j < d; j++) out.setFloat(dst + j, weight.getFloat(src + j));
        }
    }

    // ---------------------------------------------------------------- linear

    /**
     * out (M, N) = x (M, K) · w (N, K)ᵀ + bias. Threads split N in blocks of 4 weight rows; each block is read
     * once from memory and multiplied against up to 4 rows of x at a time (16 dot products in registers).
     * For decode (M ≤ 8) this streams every weight byte exactly once, which is what the bandwidth bound assumes.
     * BF16/F16 blocks are widened into a per-thread F32 scratch first.
     */
    @Override public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (!VECTOR) { REF.linear(x, w, bias, out); return; }
        int m = x.size(0), k = x.size(1), n = w.size(0);
        MemorySegment xs = x.segment(), os = out.segment();
        DType wt = w.dtype();
        if (m >= 32 && wt == DType.F32) {
            // prefill/training shapes: the packed 6×32 matmul kernel (no horizontal sums), then the bias
            CpuTraining.matmul(x, false, w, true, out, false, m, k, n);
            if (bias != null) {
                MemorySegment bs = bias.segment();
                Parallel.forRange(m, 16, (r0, r1) -> {
                    for (int i = r0; i < r1; i++) {
                        int j = 0, bound = S.loopBound(n);
                        for (; j < bound; j += VL) {
                            long o = ((long) i * n + j) * 4;
                            FloatVector.fromMemorySegment(S, os, o, LE).add(FloatVector.fromMemorySegment(S, bs, j * 4L, LE)).intoMemorySegment(os, o, LE);
                        }
                        for (; j < n; j++) os.setAtIndex(Tensor.F32, (long) i * n + j, os.getAtIndex(Tensor.F32, (long) i * n + j) + bs.getAtIndex(Tensor.F32, j));
                    }
                });
            }
            return;
        }
        if (m <= 8 && wt == DType.BF16 && I_SPECIES.length() == VL) {
            // the same decode blocking for BF16 weights, widened in registers (half the bytes from memory)
            MemorySegment ws = w.segment();
            Parallel.forRange(n, 8, (long) m * n * k, (n0, n1) -> {
                float[] xd = deinterleave(xs, m, k);
                int j = n0;
                for (; j + 8 <= n1; j += 8)
                    for (int i = 0; i < m; i++) dot8Bf16(xd, i * k, ws, (long) j * k * 2, k, os, (long) i * n + j);
                for (; j < n1; j++)
                    for (int i = 0; i < m; i++) {
                        float acc = 0f;
                        for (int p = 0; p < k; p++)
                            acc += xs.getAtIndex(Tensor.F32, (long) i * k + p) * Tensor.bf16ToFloat(ws.getAtIndex(Tensor.I16, (long) j * k + p));
                        os.setAtIndex(Tensor.F32, (long) i * n + j, acc);
                    }
                if (bias != null)
                    for (int i = 0; i < m; i++)
                        for (int jj = n0; jj < n1; jj++)
                            os.setAtIndex(Tensor.F32, (long) i * n + jj, os.getAtIndex(Tensor.F32, (long) i * n + jj) + bias.getFloat(jj));
            });
            return;
        }
        if (m <= 8 && wt == DType.F32) {
            // decode: blocks of 8 weight rows (8 reads in flight from memory), each block used by every x row
            // while it is in L1/L2; x rows go in pairs so each weight load feeds 2 FMAs
            MemorySegment ws = w.segment();
            Parallel.forRange(n, 8, (long) m * n * k, (n0, n1) -> {
                int j = n0;
                for (; j + 8 <= n1; j += 8) {
                    long wOff = (long) j * k * 4;
                    int i = 0;
                    for (; i + 2 <= m; i += 2) dot8x2(xs, (long) i * k * 4, ws, wOff, k, os, (long) i * n + j, n);
                    if (i < m) dot8(xs, (long) i * k * 4, ws, wOff, k, os, (long) i * n + j);
                }
                if (j < n1) kernelSmall(xs, 0, m, ws, (long) j * k * 4, n1 - j, k, os, 0, j, n);
                if (bias != null)
                    for (int i = 0; i < m; i++)
                        for (int jj = n0; jj < n1; jj++)
                            os.setAtIndex(Tensor.F32, (long) i * n + jj, os.getAtIndex(Tensor.F32, (long) i * n + jj) + bias.getFloat(jj));
            });
            return;
        }
        Parallel.forRange(n, 4, (long) m * n * k, (n0, n1) -> {
            MemorySegment ws;
            long wBase;
            for (int j = n0; j < n1; j += 4) {
                int nb = Math.min(4, n1 - j);
                if (wt == DType.F32) {
                    ws = w.segment();
                    wBase = (long) j * k * 4;
                } else {
                    ws = widen(w, j, nb, k);
                    wBase = 0;
                }
                for (int i = 0; i < m; i += 4) {
                    int mb = Math.min(4, m - i);
                    if (mb == 4 && nb == 4) kernel4x4(xs, (long) i * k * 4, ws, wBase, k, os, i, j, n);
                    else kernelSmall(xs, (long) i * k * 4, mb, ws, wBase, nb, k, os, i, j, n);
                }
                if (bias != null)
                    for (int i = 0; i < m; i++)
                        for (int jj = j; jj < j + nb; jj++)
                            os.setAtIndex(Tensor.F32, (long) i * n + jj, os.getAtIndex(Tensor.F32, (long) i * n + jj) + bias.getFloat(jj));
            }
        });
    }

    /** Rows [j, j+nb) of a BF16/F16 weight widened to F32 in a per-thread heap scratch. */
    private static MemorySegment widen(Tensor w, int j, int nb, int k) {
        float[][] sc = SCRATCH.get();
        if (sc[0].length < 4 * k) sc[0] = new float[4 * k];
        float[] dst = sc[0];
        MemorySegment src = w.segment();
        long base = (long) j * k;
        int total = nb * k;
        boolean bf16 = w.dtype() == DType.BF16;
        int i = 0;
        if (bf16 && VL == 16) {
            // 16 bf16 values (256 bits) → 16 floats: zero-extend to int, shift into the high half
            for (; i + 16 <= total; i += 16) {
                ShortVector sv = ShortVector.fromMemorySegment(ShortVector.SPECIES_256, src, (base + i) * 2, LE);
                FloatVector f = ((jdk.incubator.vector.IntVector) sv.convertShape(VectorOperators.ZERO_EXTEND_S2I, jdk.incubator.vector.IntVector.SPECIES_512, 0))
                        .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                f.intoArray(dst, i);
            }
        }
        for (; i < total; i++) {
            short s = src.getAtIndex(Tensor.I16, base + i);
            dst[i] = bf16 ? Tensor.bf16ToFloat(s) : Float.float16ToFloat(s);
        }
        return MemorySegment.ofArray(dst);
    }

    private static void kernel4x4(MemorySegment xs, long xOff, MemorySegment ws, long wOff, int k,
                                  MemorySegment os, int i, int j, int n) {
        long rx = (long) k * 4;
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int p = 0, bound = S.loopBound(k);
        for (; p < bound; p += VL) {
            long o = (long) p * 4;
            FloatVector w0 = FloatVector.fromMemorySegment(S, ws, wOff + o, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(S, ws, wOff + rx + o, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(S, ws, wOff + 2 * rx + o, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(S, ws, wOff + 3 * rx + o, LE);
            FloatVector x0 = FloatVector.fromMemorySegment(S, xs, xOff + o, LE);
            a00 = x0.fma(w0, a00); a01 = x0.fma(w1, a01); a02 = x0.fma(w2, a02); a03 = x0.fma(w3, a03);
            FloatVector x1 = FloatVector.fromMemorySegment(S, xs, xOff + rx + o, LE);
            a10 = x1.fma(w0, a10); a11 = x1.fma(w1, a11); a12 = x1.fma(w2, a12); a13 = x1.fma(w3, a13);
            FloatVector x2 = FloatVector.fromMemorySegment(S, xs, xOff + 2 * rx + o, LE);
            a20 = x2.fma(w0, a20); a21 = x2.fma(w1, a21); a22 = x2.fma(w2, a22); a23 = x2.fma(w3, a23);
            FloatVector x3 = FloatVector.fromMemorySegment(S, xs, xOff + 3 * rx + o, LE);
            a30 = x3.fma(w0, a30); a31 = x3.fma(w1, a31); a32 = x3.fma(w2, a32); a33 = x3.fma(w3, a33);
        }
        float[] r = {
                VMath.sum(a00), VMath.sum(a01), VMath.sum(a02), VMath.sum(a03),
                VMath.sum(a10), VMath.sum(a11), VMath.sum(a12), VMath.sum(a13),
                VMath.sum(a20), VMath.sum(a21), VMath.sum(a22), VMath.sum(a23),
                VMath.sum(a30), VMath.sum(a31), VMath.sum(a32), VMath.sum(a33)};
        for (; p < k; p++)
            for (int a = 0; a < 4; a++) {
                float xv = xs.getAtIndex(Tensor.F32, xOff / 4 + (long) a * k + p);
                for (int b = 0; b < 4; b++) r[a * 4 + b] += xv * ws.getAtIndex(Tensor.F32, wOff / 4 + (long) b * k + p);
            }
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) os.setAtIndex(Tensor.F32, (long) (i + a) * n + j + b, r[a * 4 + b]);
    }

    /**
     * Edge blocks and decode: each of mb ≤ 4 rows of x against nb ≤ 4 weight rows. Straight-line bodies
     * without per-lane conditions, so C2 keeps every vector op intrinsified.
     */
    private static void kernelSmall(MemorySegment xs, long xOff, int mb, MemorySegment ws, long wOff, int nb, int k,
                                    MemorySegment os, int i, int j, int n) {
        long rx = (long) k * 4;
        for (int a = 0; a < mb; a++) {
            long xa = xOff + a * rx, o = (long) (i + a) * n + j;
            if (nb == 4) dot4(xs, xa, ws, wOff, k, os, o);
            else for (int b = 0; b < nb; b++) os.setAtIndex(Tensor.F32, o + b, dot1(xs, xa, ws, wOff + b * rx, k));
        }
    }

    /** out[o..o+3] = x · w_b for the 4 weight rows starting at wOff (one x load feeds 4 FMAs). */
    private static void dot4(MemorySegment xs, long xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o) {
        long rx = (long) k * 4;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        int p = 0, bound = S.loopBound(k);
        for (; p < bound; p += VL) {
            long off = (long) p * 4;
            FloatVector xv = FloatVector.fromMemorySegment(S, xs, xa + off, LE);
            c0 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + off, LE), c0);
            c1 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + rx + off, LE), c1);
            c2 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 2 * rx + off, LE), c2);
            c3 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 3 * rx + off, LE), c3);
        }
        float r0 = VMath.sum(c0), r1 = VMath.sum(c1);
        float r2 = VMath.sum(c2), r3 = VMath.sum(c3);
        for (; p < k; p++) {
            float xv = xs.getAtIndex(Tensor.F32, xa / 4 + p);
            r0 += xv * ws.getAtIndex(Tensor.F32, wOff / 4 + p);
            r1 += xv * ws.getAtIndex(Tensor.F32, (wOff + rx) / 4 + p);
            r2 += xv * ws.getAtIndex(Tensor.F32, (wOff + 2 * rx) / 4 + p);
            r3 += xv * ws.getAtIndex(Tensor.F32, (wOff + 3 * rx) / 4 + p);
        }
        os.setAtIndex(Tensor.F32, o, r0);
        os.setAtIndex(Tensor.F32, o + 1, r1);
        os.setAtIndex(Tensor.F32, o + 2, r2);
        os.setAtIndex(Tensor.F32, o + 3, r3);
    }

    /** out[o..o+7] = x · w_b for 8 consecutive weight rows from wOff (x is one row). */
    private static void dot8(MemorySegment xs, long xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o) {
        long rx = (long) k * 4;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int p = 0, bound = S.loopBound(k);
        for (; p < bound; p += VL) {
            long off = (long) p * 4;
            FloatVector xv = FloatVector.fromMemorySegment(S, xs, xa + off, LE);
            c0 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + off, LE), c0);
            c1 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + rx + off, LE), c1);
            c2 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 2 * rx + off, LE), c2);
            c3 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 3 * rx + off, LE), c3);
            c4 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 4 * rx + off, LE), c4);
            c5 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 5 * rx + off, LE), c5);
            c6 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 6 * rx + off, LE), c6);
            c7 = xv.fma(FloatVector.fromMemorySegment(S, ws, wOff + 7 * rx + off, LE), c7);
        }
        float[] r = {VMath.sum(c0), VMath.sum(c1), VMath.sum(c2),
                VMath.sum(c3), VMath.sum(c4), VMath.sum(c5),
                VMath.sum(c6), VMath.sum(c7)};
        for (; p < k; p++) {
            float xv = xs.getAtIndex(Tensor.F32, xa / 4 + p);
            for (int b = 0; b < 8; b++) r[b] += xv * ws.getAtIndex(Tensor.F32, (wOff + b * rx) / 4 + p);
        }
        for (int b = 0; b < 8; b++) os.setAtIndex(Tensor.F32, o + b, r[b]);
    }

    private static final VectorSpecies<Integer> I_SPECIES = jdk.incubator.vector.IntVector.SPECIES_PREFERRED;

    /**
     * x rows rearranged for {@link #dot8Bf16}: per chunk of 2·VL elements, the VL even-indexed values then the VL
     * odd-indexed ones, matching how one int-vector load of 2·VL bf16 weights splits into two float vectors.
     */
    private static float[] deinterleave(MemorySegment xs, int m, int k) {
        float[][] sc = SCRATCH.get();
        if (sc[0].length < m * k) sc[0] = new float[m * k];
        float[] d = sc[0];
        int chunk = 2 * VL, full = k - k % chunk;
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++) {
                float v = xs.getAtIndex(Tensor.F32, (long) i * k + p);
                if (p < full) d[i * k + p - p % chunk + (p % 2) * VL + (p % chunk) / 2] = v;
                else d[i * k + p] = v;
            }
        return d;
    }

    /**
     * {@link #dot8} for BF16 weights. One int-vector load holds 2·VL bf16 values; an int's low half is the even
     * element (shift left 16 → its float) and its high half the odd one (mask the low half → its float), so no
     * shape-changing conversion is needed. xd is the row of {@link #deinterleave} at offset xa (floats).
     */
    private static void dot8Bf16(float[] xd, int xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o) {
        long rx = (long) k * 2;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int chunk = 2 * VL, full = k - k % chunk, p = 0;
        for (; p < full; p += chunk) {
            long off = (long) p * 2;
            FloatVector xe = FloatVector.fromArray(S, xd, xa + p), xo = FloatVector.fromArray(S, xd, xa + p + VL);
            jdk.incubator.vector.IntVector w;
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 0 + off, LE);
            c0 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c0));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + rx + off, LE);
            c1 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c1));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 2 * rx + off, LE);
            c2 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c2));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 3 * rx + off, LE);
            c3 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c3));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 4 * rx + off, LE);
            c4 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c4));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 5 * rx + off, LE);
            c5 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c5));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 6 * rx + off, LE);
            c6 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c6));
            w = jdk.incubator.vector.IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 7 * rx + off, LE);
            c7 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c7));
        }
        float[] r = {VMath.sum(c0), VMath.sum(c1), VMath.sum(c2),
                VMath.sum(c3), VMath.sum(c4), VMath.sum(c5),
                VMath.sum(c6), VMath.sum(c7)};
        for (; p < k; p++)
            for (int b = 0; b < 8; b++) r[b] += xd[xa + p] * Tensor.bf16ToFloat(ws.getAtIndex(Tensor.I16, (wOff + b * rx) / 2 + p));
        for (int b = 0; b < 8; b++) os.setAtIndex(Tensor.F32, o + b, r[b]);
    }


    /** Like {@link #dot8} for two consecutive x rows at once: out[o..o+7] and out[o+n..o+n+7]. */
    private static void dot8x2(MemorySegment xs, long xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o, int n) {
        long rx = (long) k * 4;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        FloatVector d0 = c0, d1 = c0, d2 = c0, d3 = c0, d4 = c0, d5 = c0, d6 = c0, d7 = c0;
        int p = 0, bound = S.loopBound(k);
        for (; p < bound; p += VL) {
            long off = (long) p * 4;
            FloatVector x0 = FloatVector.fromMemorySegment(S, xs, xa + off, LE);
            FloatVector x1 = FloatVector.fromMemorySegment(S, xs, xa + rx + off, LE);
            FloatVector w = FloatVector.fromMemorySegment(S, ws, wOff + off, LE);
            c0 = x0.fma(w, c0); d0 = x1.fma(w, d0);
            w = FloatVector.fromMemorySegment(S, ws, wOff + rx + off, LE);
            c1 = x0.fma(w, c1); d1 = x1.fma(w, d1);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 2 * rx + off, LE);
            c2 = x0.fma(w, c2); d2 = x1.fma(w, d2);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 3 * rx + off, LE);
            c3 = x0.fma(w, c3); d3 = x1.fma(w, d3);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 4 * rx + off, LE);
            c4 = x0.fma(w, c4); d4 = x1.fma(w, d4);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 5 * rx + off, LE);
            c5 = x0.fma(w, c5); d5 = x1.fma(w, d5);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 6 * rx + off, LE);
            c6 = x0.fma(w, c6); d6 = x1.fma(w, d6);
            w = FloatVector.fromMemorySegment(S, ws, wOff + 7 * rx + off, LE);
            c7 = x0.fma(w, c7); d7 = x1.fma(w, d7);
        }
        float[] r = {VMath.sum(c0), VMath.sum(c1), VMath.sum(c2),
                VMath.sum(c3), VMath.sum(c4), VMath.sum(c5),
                VMath.sum(c6), VMath.sum(c7),
                VMath.sum(d0), VMath.sum(d1), VMath.sum(d2),
                VMath.sum(d3), VMath.sum(d4), VMath.sum(d5),
                VMath.sum(d6), VMath.sum(d7)};
        for (; p < k; p++) {
            float x0 = xs.getAtIndex(Tensor.F32, xa / 4 + p), x1 = xs.getAtIndex(Tensor.F32, (xa + rx) / 4 + p);
            for (int b = 0; b < 8; b++) {
                float wv = ws.getAtIndex(Tensor.F32, (wOff + b * rx) / 4 + p);
                r[b] += x0 * wv;
                r[8 + b] += x1 * wv;
            }
        }
        for (int b = 0; b < 8; b++) {
            os.setAtIndex(Tensor.F32, o + b, r[b]);
            os.setAtIndex(Tensor.F32, o + n + b, r[8 + b]);
        }
    }

    private static float dot1(MemorySegment xs, long xa, MemorySegment ws, long wa, int k) {
        FloatVector c = FloatVector.zero(S);
        int p = 0, bound = S.loopBound(k);
        for (; p < bound; p += VL) {
            long off = (long) p * 4;
            c = FloatVector.fromMemorySegment(S, xs, xa + off, LE).fma(FloatVector.fromMemorySegment(S, ws, wa + off, LE), c);
        }
        float r = VMath.sum(c);
        for (; p < k; p++) r += xs.getAtIndex(Tensor.F32, xa / 4 + p) * ws.getAtIndex(Tensor.F32, wa / 4 + p);
        return r;
    }

    // ---------------------------------------------------------------- elementwise and norms

    @Override public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        if (!VECTOR) { REF.rmsNorm(x, w, eps, out); return; }
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
        float scalar(float a, float b);
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
            for (; i < e; i++)
                os.setAtIndex(Tensor.F32, i, f.scalar(as.getAtIndex(Tensor.F32, i), bs == null ? 0f : bs.getAtIndex(Tensor.F32, i)));
        });
    }

    static FloatVector silu(FloatVector x) {
        return x.div(VMath.exp(x.neg()).add(1f));
    }

    /** softplus(x) = log1p(exp(x)), x itself where x > 20 (see {@link VMath#softplus}). */
    static FloatVector softplus(FloatVector x) { return VMath.softplus(x); }

    private static final Lanewise ADD = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return a.add(b); }
        public float scalar(float a, float b) { return a + b; }
    };
    private static final Lanewise SILU = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return silu(a); }
        public float scalar(float a, float b) { return Formulas.silu(a); }
    };
    private static final Lanewise SOFTPLUS = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return softplus(a); }
        public float scalar(float a, float b) { return Formulas.softplus(a); }
    };
    private static final Lanewise MUL_SILU = new Lanewise() {
        public FloatVector vec(FloatVector a, FloatVector b) { return a.mul(silu(b)); }
        public float scalar(float a, float b) { return a * Formulas.silu(b); }
    };

    @Override public void add(Tensor a, Tensor b, Tensor out) {
        if (!VECTOR) { REF.add(a, b, out); return; }
        elementwise(a, b, out, ADD);
    }

    @Override public void silu(Tensor x, Tensor out) {
        if (!VECTOR) { REF.silu(x, out); return; }
        elementwise(x, null, out, SILU);
    }

    @Override public void softplus(Tensor x, Tensor out) {
        if (!VECTOR) { REF.softplus(x, out); return; }
        elementwise(x, null, out, SOFTPLUS);
    }

    @Override public void mulSilu(Tensor y, Tensor z, Tensor out) {
        if (!VECTOR) { REF.mulSilu(y, z, out); return; }
        elementwise(y, z, out, MUL_SILU);
    }

    // ---------------------------------------------------------------- conv

    /** Lanes run over channels (x is channels-last); the (C, K) kernel is transposed to (K, C) once per call. */
    @Override public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        if (!VECTOR) { REF.causalConv1d(x, w, bias, silu, out); return; }
        int b = x.size(0), l = x.size(1), c = x.size(2), k = w.size(1);
        float[] wt = new float[k * c];
        for (int ch = 0; ch < c; ch++) for (int j = 0; j < k; j++) wt[j * c + ch] = w.getFloat((long) ch * k + j);
        float[] bs = new float[c];
        if (bias != null) for (int ch = 0; ch < c; ch++) bs[ch] = bias.getFloat(ch);
        MemorySegment xs = x.segment(), os = out.segment();
        int bound = S.loopBound(c);
        Parallel.forRange(b * l, Math.max(1, 2048 / c), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int t = r % l;
                long row = (long) r * c;
                int ch = 0;
                for (; ch < bound; ch += VL) {
                    FloatVector acc = FloatVector.fromArray(S, bs, ch);
                    for (int j = Math.max(0, k - 1 - t); j < k; j++) {
                        long src = (row + (long) (j - k + 1) * c + ch) * 4;
                        acc = FloatVector.fromMemorySegment(S, xs, src, LE).fma(FloatVector.fromArray(S, wt, j * c + ch), acc);
                    }
                    (silu ? silu(acc) : acc).intoMemorySegment(os, (row + ch) * 4, LE);
                }
                for (; ch < c; ch++) {
                    float acc = bs[ch];
                    for (int j = Math.max(0, k - 1 - t); j < k; j++)
                        acc += wt[j * c + ch] * xs.getAtIndex(Tensor.F32, row + (long) (j - k + 1) * c + ch);
                    os.setAtIndex(Tensor.F32, row + ch, silu ? Formulas.silu(acc) : acc);
                }
            }
        });
    }

    /**
     * Same as the reference; differs in doing the shift and the K-tap dot per channel in scalar code (K is tiny)
     * and the SiLU afterwards in vector lanes over all channels.
     */
    @Override public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        if (!VECTOR) { REF.causalConv1dStep(state, x, w, bias, silu, out); return; }
        int b = state.size(0), c = state.size(1), k = state.size(2);
        MemorySegment ss = state.segment(), xs = x.segment(), ws = w.segment(), os = out.segment();
        MemorySegment bsg = bias == null ? null : bias.segment();
        Parallel.forRange(b * c, 256, (long) b * c * k * 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long base = (long) r * k;
                int ch = r % c;
                float acc = bsg == null ? 0f : bsg.getAtIndex(Tensor.F32, ch);
                for (int j = 0; j < k - 1; j++) {
                    float v = ss.getAtIndex(Tensor.F32, base + j + 1);
                    ss.setAtIndex(Tensor.F32, base + j, v);
                    acc += v * ws.getAtIndex(Tensor.F32, (long) ch * k + j);
                }
                float v = xs.getAtIndex(Tensor.F32, r);
                ss.setAtIndex(Tensor.F32, base + k - 1, v);
                acc += v * ws.getAtIndex(Tensor.F32, (long) ch * k + k - 1);
                os.setAtIndex(Tensor.F32, r, acc);
            }
            if (silu) {   // SiLU over this chunk in vector lanes
                int i = r0, bound = r0 + S.loopBound(r1 - r0);
                for (; i < bound; i += VL) silu(FloatVector.fromMemorySegment(S, os, i * 4L, LE)).intoMemorySegment(os, i * 4L, LE);
                for (; i < r1; i++) os.setAtIndex(Tensor.F32, i, Formulas.silu(os.getAtIndex(Tensor.F32, i)));
            }
        });
    }

    // ---------------------------------------------------------------- selective scan

    /**
     * Same as the reference; differs in running VL channels at once in vector lanes (u, Δ, z are
     * channels-last, so their loads are contiguous) with the VL × N state in a per-thread scratch that stays
     * in L1. One pass over L per (batch, channel block); threads split the blocks; states are never stored
     * per time step. Channels past the last full block run the scalar loop.
     */
    @Override public void selectiveScan(SelectiveScan s) {
        if (!VECTOR) { REF.selectiveScan(s); return; }
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        if (l == 1 && s.state() != null) {                  // decode: lanes over N, state rows used in place
            int blocks = (e + VL - 1) / VL;
            Parallel.forRange(b * blocks, 8, (long) b * e * n * 8, (r0, r1) -> {
                float[][] sc = SCRATCH.get();
                if (sc[1].length < 3 * VL) sc[1] = new float[3 * VL];
                for (int r = r0; r < r1; r++) {
                    int bi = r / blocks, e0 = (r % blocks) * VL;
                    if (e0 + VL <= e) stepBlock(s, bi, e0, sc[1]);
                    else for (int ch = e0; ch < e; ch++) stepChannel(s, bi, ch);
                }
            });
            return;
        }
        float[] at = new float[n * e];  // Aᵀ (N, E): lanes over channels
        MemorySegment as = s.a().segment();
        for (int ch = 0; ch < e; ch++) for (int j = 0; j < n; j++) at[j * e + ch] = as.getAtIndex(Tensor.F32, (long) ch * n + j);
        int blocks = (e + VL - 1) / VL;
        Parallel.forRange(b * blocks, (r0, r1) -> {
            float[][] sc = SCRATCH.get();
            if (sc[1].length < n * VL) sc[1] = new float[n * VL];
            float[] h = sc[1];
            for (int r = r0; r < r1; r++) {
                int bi = r / blocks, e0 = (r % blocks) * VL;
                if (e0 + VL <= e) scanBlock(s, at, h, bi, e0);
                else for (int ch = e0; ch < e; ch++) scanChannel(s, bi, ch);
            }
        });
    }

    /**
     * One time step of VL channels: Δ = softplus(δ + bias), Δ·u, D·u and silu(z) in lanes over channels, then
     * per channel the N-wide state update in lanes over N (the state rows (B, E, N) are updated in place).
     */
    private static void stepBlock(SelectiveScan s, int bi, int e0, float[] sc) {
        int e = s.channels(), n = s.stateSize();
        MemorySegment as = s.a().segment(), st = s.state().segment(), bm = s.bm().segment(), cm = s.cm().segment();
        long ie = ((long) bi * e + e0) * 4;
        FloatVector dt = FloatVector.fromMemorySegment(S, s.delta().segment(), ie, LE);
        if (s.deltaBias() != null) dt = dt.add(FloatVector.fromMemorySegment(S, s.deltaBias().segment(), e0 * 4L, LE));
        if (s.deltaSoftplus()) dt = softplus(dt);
        FloatVector u = FloatVector.fromMemorySegment(S, s.u().segment(), ie, LE);
        dt.intoArray(sc, 0);
        dt.mul(u).intoArray(sc, VL);
        long bBase = (long) bi * n * 4;
        int bound = S.loopBound(n);
        for (int lane = 0; lane < VL; lane++) {
            float dtc = sc[lane], du = sc[VL + lane];
            long ch = e0 + lane, aBase = ch * n * 4, hBase = ((long) bi * e + ch) * n * 4;
            FloatVector acc = FloatVector.zero(S);
            int j = 0;
            for (; j < bound; j += VL) {
                FloatVector dA = VMath.exp(FloatVector.fromMemorySegment(S, as, aBase + j * 4L, LE).mul(dtc));
                FloatVector h = FloatVector.fromMemorySegment(S, st, hBase + j * 4L, LE);
                h = h.fma(dA, FloatVector.fromMemorySegment(S, bm, bBase + j * 4L, LE).mul(du));
                h.intoMemorySegment(st, hBase + j * 4L, LE);
                acc = h.fma(FloatVector.fromMemorySegment(S, cm, bBase + j * 4L, LE), acc);
            }
            float y = VMath.sum(acc);
            for (; j < n; j++) {
                float h = (float) Math.exp(dtc * as.getAtIndex(Tensor.F32, ch * n + j)) * st.getAtIndex(Tensor.F32, hBase / 4 + j)
                        + du * bm.getAtIndex(Tensor.F32, (long) bi * n + j);
                st.setAtIndex(Tensor.F32, hBase / 4 + j, h);
                y += h * cm.getAtIndex(Tensor.F32, (long) bi * n + j);
            }
            sc[2 * VL + lane] = y;
        }
        FloatVector y = FloatVector.fromArray(S, sc, 2 * VL);
        if (s.d() != null) y = y.add(FloatVector.fromMemorySegment(S, s.d().segment(), e0 * 4L, LE).mul(u));
        if (s.z() != null) y = y.mul(silu(FloatVector.fromMemorySegment(S, s.z().segment(), ie, LE)));
        y.intoMemorySegment(s.out().segment(), ie, LE);
    }

    /** One time step of one channel with lanes over the state dimension N: h = exp(Δ·A)·h + Δ·u·B; y = h·C + D·u. */
    private static void stepChannel(SelectiveScan s, int bi, int ch) {
        int e = s.channels(), n = s.stateSize();
        MemorySegment as = s.a().segment(), st = s.state().segment(), bm = s.bm().segment(), cm = s.cm().segment();
        long ie = (long) bi * e + ch;
        float dt = s.delta().segment().getAtIndex(Tensor.F32, ie) + (s.deltaBias() == null ? 0f : s.deltaBias().segment().getAtIndex(Tensor.F32, ch));
        if (s.deltaSoftplus()) dt = Formulas.softplus(dt);
        float u = s.u().segment().getAtIndex(Tensor.F32, ie);
        float du = dt * u;
        long aBase = (long) ch * n * 4, hBase = ie * n * 4, bBase = (long) bi * n * 4;
        FloatVector acc = FloatVector.zero(S);
        int j = 0, bound = S.loopBound(n);
        for (; j < bound; j += VL) {
            FloatVector dA = VMath.exp(FloatVector.fromMemorySegment(S, as, aBase + j * 4L, LE).mul(dt));
            FloatVector h = FloatVector.fromMemorySegment(S, st, hBase + j * 4L, LE);
            h = h.fma(dA, FloatVector.fromMemorySegment(S, bm, bBase + j * 4L, LE).mul(du));
            h.intoMemorySegment(st, hBase + j * 4L, LE);
            acc = h.fma(FloatVector.fromMemorySegment(S, cm, bBase + j * 4L, LE), acc);
        }
        float y = VMath.sum(acc);
        for (; j < n; j++) {
            float h = (float) Math.exp(dt * as.getAtIndex(Tensor.F32, (long) ch * n + j)) * st.getAtIndex(Tensor.F32, ie * n + j)
                    + du * bm.getAtIndex(Tensor.F32, (long) bi * n + j);
            st.setAtIndex(Tensor.F32, ie * n + j, h);
            y += h * cm.getAtIndex(Tensor.F32, (long) bi * n + j);
        }
        if (s.d() != null) y += s.d().segment().getAtIndex(Tensor.F32, ch) * u;
        if (s.z() != null) y *= Formulas.silu(s.z().segment().getAtIndex(Tensor.F32, ie));
        s.out().segment().setAtIndex(Tensor.F32, ie, y);
    }

    private static void scanBlock(SelectiveScan s, float[] at, float[] h, int bi, int e0) {
        int l = s.length(), e = s.channels(), n = s.stateSize();
        MemorySegment us = s.u().segment(), ds = s.delta().segment(), bm = s.bm().segment(), cm = s.cm().segment(), os = s.out().segment();
        MemorySegment zs = s.z() == null ? null : s.z().segment();
        MemorySegment st = s.state() == null ? null : s.state().segment();
        FloatVector bias = s.deltaBias() == null ? FloatVector.zero(S) : FloatVector.fromMemorySegment(S, s.deltaBias().segment(), e0 * 4L, LE);
        FloatVector dskip = s.d() == null ? FloatVector.zero(S) : FloatVector.fromMemorySegment(S, s.d().segment(), e0 * 4L, LE);
        // h[j·VL + lane] = state[bi, e0 + lane, j]
        for (int lane = 0; lane < VL; lane++)
            for (int j = 0; j < n; j++)
                h[j * VL + lane] = st == null ? 0f : st.getAtIndex(Tensor.F32, ((long) bi * e + e0 + lane) * n + j);
        for (int t = 0; t < l; t++) {
            long ie = (((long) bi * l + t) * e + e0) * 4, in = ((long) bi * l + t) * n;
            FloatVector dt = FloatVector.fromMemorySegment(S, ds, ie, LE).add(bias);
            if (s.deltaSoftplus()) dt = softplus(dt);
            FloatVector u = FloatVector.fromMemorySegment(S, us, ie, LE);
            FloatVector du = dt.mul(u);
            FloatVector y = dskip.mul(u);
            for (int j = 0; j < n; j++) {
                FloatVector dA = VMath.exp(dt.mul(FloatVector.fromArray(S, at, j * e + e0)));
                FloatVector hj = FloatVector.fromArray(S, h, j * VL);
                hj = hj.fma(dA, du.mul(bm.getAtIndex(Tensor.F32, in + j)));
                hj.intoArray(h, j * VL);
                y = hj.mul(cm.getAtIndex(Tensor.F32, in + j)).add(y);
            }
            if (zs != null) y = y.mul(silu(FloatVector.fromMemorySegment(S, zs, ie, LE)));
            y.intoMemorySegment(os, ie, LE);
        }
        if (st != null)
            for (int lane = 0; lane < VL; lane++)
                for (int j = 0; j < n; j++)
                    st.setAtIndex(Tensor.F32, ((long) bi * e + e0 + lane) * n + j, h[j * VL + lane]);
    }

    /** One channel, scalar: the tail of {@link #scanBlock}, the reference's formula. */
    private static void scanChannel(SelectiveScan s, int bi, int ch) {
        int l = s.length(), e = s.channels(), n = s.stateSize();
        float[] h = new float[n];
        if (s.state() != null) for (int j = 0; j < n; j++) h[j] = s.state().getFloat(((long) bi * e + ch) * n + j);
        float bias = s.deltaBias() == null ? 0f : s.deltaBias().getFloat(ch);
        float dskip = s.d() == null ? 0f : s.d().getFloat(ch);
        for (int t = 0; t < l; t++) {
            long ie = ((long) bi * l + t) * e + ch, in = ((long) bi * l + t) * n;
            float dt = s.delta().getFloat(ie) + bias;
            if (s.deltaSoftplus()) dt = Formulas.softplus(dt);
            float u = s.u().getFloat(ie), y = dskip * u;
            for (int j = 0; j < n; j++) {
                h[j] = (float) Math.exp(dt * s.a().getFloat((long) ch * n + j)) * h[j] + dt * u * s.bm().getFloat(in + j);
                y += h[j] * s.cm().getFloat(in + j);
            }
            if (s.z() != null) y *= Formulas.silu(s.z().getFloat(ie));
            s.out().setFloat(ie, y);
        }
        if (s.state() != null) for (int j = 0; j < n; j++) s.state().setFloat(((long) bi * e + ch) * n + j, h[j]);
    }

    // ---------------------------------------------------------------- training ops (kernels in CpuTraining)

    /**
     * Same as Reference matmul; differs in being a packed, blocked GEMM: op(b) packed into 2·VL-wide K-major panels,
     * op(a) packed per thread in 6-row tiles, a 6 × 2·VL broadcast-FMA micro-kernel, threads over (48 rows × 4
     * panels) units. Sums over K in float, in K-block order. F32 only.
     */
    @Override public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.matmul(a, transA, b, transB, out, accumulate); return; }
        int[] mkn = Checks.checkMatmul(a, transA, b, transB, out);
        CpuTraining.matmul(a, transA, b, transB, out, accumulate, mkn[0], mkn[1], mkn[2]);
    }

    /** Same as Reference embeddingBackward; differs in threads over column ranges (repeated ids never race) and lanes. */
    @Override public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) {
        if (!VECTOR) { REF.embeddingBackward(ids, dOut, dWeight); return; }
        CpuTraining.embeddingBackward(ids.toIntArray(), dOut, dWeight);
    }

    /** Same as Reference sumRows; differs in summing in float lanes (threads over column ranges), not in double. */
    @Override public void sumRows(Tensor x, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.sumRows(x, out, accumulate); return; }
        if (out.numel() != x.size(-1)) throw new IllegalArgumentException("sumRows: out " + out.shape() + " does not match x " + x.shape());
        CpuTraining.sumRows(x, out, accumulate);
    }

    /** Same as Reference rmsNormBackward; differs in float lanes, threads over rows with per-thread dw partials. */
    @Override public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        if (!VECTOR) { REF.rmsNormBackward(x, w, eps, dy, dx, dw); return; }
        CpuTraining.rmsNormBackward(x, w, eps, dy, dx, dw);
    }

    /** Same as Reference siluBackward; differs in float lanes. */
    @Override public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.siluBackward(x, dy, dx); return; }
        CpuTraining.siluBackward(x, dy, dx);
    }

    /** Same as Reference softplusBackward; differs in float lanes. */
    @Override public void softplusBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.softplusBackward(x, dy, dx); return; }
        CpuTraining.softplusBackward(x, dy, dx);
    }

    /** Same as Reference mulSiluBackward; differs in float lanes. */
    @Override public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        if (!VECTOR) { REF.mulSiluBackward(y, z, dOut, dy, dz); return; }
        CpuTraining.mulSiluBackward(y, z, dOut, dy, dz);
    }

    /**
     * Same as Reference causalConv1dBackward; differs in lanes over channels, threads over channel blocks (each owns
     * its dw/dbias), a masked last block, float sums.
     */
    @Override public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        if (!VECTOR) { REF.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias); return; }
        CpuTraining.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias);
    }

    /**
     * Same as Reference selectiveScanForward; differs as {@link #selectiveScan} does (lanes over channels, threads over
     * (batch, channel block)), with the last channel block masked instead of a scalar tail.
     */
    @Override public void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates) {
        if (!VECTOR) { REF.selectiveScanForward(args, chunk, chunkStates); return; }
        CpuTraining.scanForward(args, chunk, chunkStates);
    }

    /**
     * Same as Reference selectiveScanBackward; differs in lanes over channels, threads over channel blocks (each
     * walks every batch row, so per-channel parameter gradients never race), dB/dC reduced across lanes per step
     * into per-thread partials, float sums.
     */
    @Override public void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads grads) {
        if (!VECTOR) { REF.selectiveScanBackward(args, chunk, chunkStates, dOut, grads); return; }
        CpuTraining.scanBackward(args, chunk, chunkStates, dOut, grads);
    }

    /** Same as Reference crossEntropy; differs in float lanes for max, Σ exp and the softmax (threads over rows). */
    @Override public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss) {
        if (!VECTOR) { REF.crossEntropy(logits, targets, scale, dLogits, loss); return; }
        Formulas.store(loss, 0, CpuTraining.crossEntropy(logits, targets.toIntArray(), scale, dLogits));
    }

    /** Same as Reference sumSquares; differs in float lanes within blocks of 4096, blocks summed in double. */
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.sumSquares(x, out, accumulate); return; }
        Formulas.store(out, 0, (accumulate ? out.getDouble(0) : 0) + CpuTraining.sumSquares(x));
    }

    /** Same as Reference scale; differs in float lanes. */
    @Override public void scale(Tensor x, float s) {
        if (!VECTOR) { REF.scale(x, s); return; }
        CpuTraining.scale(x, s);
    }

    /** Same as Reference adamW; differs in float arithmetic in PyTorch's order (lr/bc1 step size, sqrt(v)/sqrt(bc2) + eps). */
    @Override public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        if (!VECTOR) { REF.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step); return; }
        CpuTraining.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    // ---------------------------------------------------------------- Mamba-2 / SSD (kernels in CpuSsd)

    /**
     * Same as Reference ssd; differs in being the chunked SSD algorithm (mamba_ssm ssd_minimal_discrete: the
     * intra-chunk masked L ∘ C Bᵀ form, chunk states, the inter-chunk pass, state-to-output) in float lanes over P,
     * threads over (batch, head); L = 1 is a direct recurrence step in lanes over N. Equal to the recurrence up to
     * float rounding for any chunk.
     */
    @Override public void ssd(Ssd args, int chunk) {
        if (!VECTOR) { REF.ssd(args, chunk); return; }
        CpuSsd.forward(args, chunk, null);
    }

    /** Same as Reference ssdForward; differs as {@link #ssd} does, the chunk being both the algorithm's and the saved states'. */
    @Override public void ssdForward(Ssd args, int chunk, Tensor chunkStates) {
        if (!VECTOR) { REF.ssdForward(args, chunk, chunkStates); return; }
        CpuSsd.forward(args, chunk, chunkStates);
    }

    /**
     * Same as Reference ssdBackward (recompute each chunk's states, walk it in reverse); differs in float lanes over N,
     * threads over (batch, head), dB/dC/dD summed through per-thread partials.
     */
    @Override public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads) {
        if (!VECTOR) { REF.ssdBackward(args, chunk, chunkStates, dOut, grads); return; }
        CpuSsd.backward(args, chunk, chunkStates, dOut, grads);
    }

    /** Same as Reference softplusClamp; differs in float lanes over H, threads over rows. */
    @Override public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        if (!VECTOR) { REF.softplusClamp(x, bias, lo, hi, out); return; }
        CpuSsd.softplusClamp(x, bias, lo, hi, out);
    }

    /** Same as Reference softplusClampBackward; differs in float lanes, dBias through per-thread partials. */
    @Override public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        if (!VECTOR) { REF.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias); return; }
        CpuSsd.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias);
    }

    /** Same as Reference mulColumns; differs in float lanes over H, threads over rows. */
    @Override public void mulColumns(Tensor x, Tensor a, Tensor out) {
        if (!VECTOR) { REF.mulColumns(x, a, out); return; }
        CpuSsd.mulColumns(x, a, out);
    }

    /** Same as Reference mulColumnsBackward; differs in float lanes, da through per-thread partials. */
    @Override public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        if (!VECTOR) { REF.mulColumnsBackward(x, a, dy, dx, da); return; }
        CpuSsd.mulColumnsBackward(x, a, dy, dx, da);
    }

    // ------------------------------------------------------------------ Transformer teachers (kernels in CpuAttention)

    /** Same as Reference layerNorm; differs in float32 lanes and threads over rows. */
    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        if (!VECTOR) { REF.layerNorm(x, w, b, eps, out); return; }
        CpuAttention.layerNorm(x, w, b, eps, out);
    }

    /** Same as Reference layerNormBackward; differs in float32 and threads (dx by rows, dw/db by columns). */
    @Override public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        if (!VECTOR) { REF.layerNormBackward(x, w, eps, dy, dx, dw, db); return; }
        CpuAttention.layerNormBackward(x, w, eps, dy, dx, dw, db);
    }

    /** Same as Reference geluTanh; differs in float32 lanes (the Vector API's tanh). */
    @Override public void geluTanh(Tensor x, Tensor out) {
        if (!VECTOR) { REF.geluTanh(x, out); return; }
        CpuAttention.geluTanh(x, out);
    }

    @Override public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.geluTanhBackward(x, dy, dx); return; }
        CpuAttention.geluTanhBackward(x, dy, dx);
    }

    /** Same as Reference rotary; differs in float32 and threads over (b, t). */
    @Override public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        if (!VECTOR) { REF.rotary(x, cos, sin, rotaryDim, pos0, out); return; }
        CpuAttention.rotary(x, cos, sin, rotaryDim, pos0, out, 1);
    }

    @Override public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) {
        if (!VECTOR) { REF.rotaryBackward(dy, cos, sin, rotaryDim, pos0, dx); return; }
        CpuAttention.rotary(dy, cos, sin, rotaryDim, pos0, dx, -1);
    }

    /** Same as Reference attention; differs in being tiled with an online softmax (never the (T, T) matrix), float32 lanes over Dh. */
    @Override public void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        if (!VECTOR) { REF.attention(q, k, v, scale, out, lse, probs); return; }
        CpuAttention.attention(q, k, v, scale, out, lse, probs);
    }

    /** Same as Reference attentionBackward; differs in recomputing scores in two race-free passes (dq by queries, dk/dv by keys). */
    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        if (!VECTOR) { REF.attentionBackward(q, k, v, scale, out, lse, dOut, dq, dk, dv); return; }
        if (lse == null) throw new IllegalArgumentException("attentionBackward: lse is required");
        CpuAttention.attentionBackward(q, k, v, scale, out, lse, dOut, dq, dk, dv);
    }

    /** Same as Reference attentionDecode; differs in float32 lanes over Dh and threads over (b, h). */
    @Override public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        if (!VECTOR) { REF.attentionDecode(q, kCache, vCache, len, scale, out); return; }
        CpuAttention.attentionDecode(q, kCache, vCache, len, scale, out);
    }
}
