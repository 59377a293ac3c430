package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
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

import static mamba4j.cpu.CpuKernels.LE;
import static mamba4j.cpu.CpuKernels.S;
import static mamba4j.cpu.CpuKernels.SCRATCH;
import static mamba4j.cpu.CpuKernels.VL;

/** The linear op (x · wᵀ + bias) for every shape: decode kernels that stream each weight row once, the packed GEMM for prefill. Called by {@link CpuKernels}, which routes to the reference when the Vector API is off. */
final class CpuLinear {
    private CpuLinear() {}

    // ---------------------------------------------------------------- linear

    /**
     * From this many rows of x, {@link #linear} runs the packed GEMM: below, packing w (every call) costs more than the
     * dot kernels' horizontal sums (GemmBench, 768 × 1536 on 2 threads: 32 rows 164 against 125 GFLOP/s, 64 rows even).
     */
    static final int GEMM_ROWS = 64;
    /**
     * Shortest K for which decode widens 16-bit weights in registers; shorter rows (Mamba-1's dt_proj, K = dt_rank = 48
     * at 130m) are mostly tail there and go through the widened-block path instead (DecodeLab, dt_proj 1536 × 48, µs a
     * call: F16 30.4 / 26.7 → 12.6 / 15.1, BF16 13.4 / 18.8 → 12.0 / 13.6).
     */
    static final int HALF_IN_LANES_MIN_K = 64;
    // Not from fewer rows where K is short, though the GEMM is faster there (GemmBench, 2 threads, cold: 32 × 48 × 1536
    // 87–89 against 24–32 GFLOP/s; BENCHMARKS): its sums run in another order than the dot kernels', so a decode row's
    // result would depend on how many rows share the batch (SequenceSlotsTest).

    /**
     * out (M, N) = x (M, K) · w (N, K)ᵀ + bias. Below {@link #GEMM_ROWS} rows, threads split N in blocks of 8 weight
     * rows; each block is read once from memory and multiplied against every row of x, two rows at a time (16 dot
     * products in registers). For decode (M ≤ 8) this streams every weight byte exactly once, which is what the
     * bandwidth bound assumes. BF16/F16 blocks are widened into a per-thread F32 scratch first (past 8 rows; up to 8,
     * in registers). From {@link #GEMM_ROWS} rows, the packed GEMM.
     */
    static void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        int m = x.size(0), k = x.size(1), n = w.size(0);
        MemorySegment xs = x.segment(), os = out.segment();
        DType wt = w.dtype();
        if (m >= GEMM_ROWS && (wt == DType.F32 || wt == DType.F16 || wt == DType.BF16)) {
            // prefill/training shapes: the packed 6×32 matmul kernel (no horizontal sums), then the bias; 16-bit
            // weights are widened once per call as they are packed, then reused by every row of x
            CpuGemm.matmul(x, false, w, true, out, false, m, k, n);
            if (bias != null) addBias(bias, out, m, n);
            return;
        }
        if (m <= 8 && (wt == DType.BF16 || wt == DType.F16) && I_SPECIES.length() == VL && k >= HALF_IN_LANES_MIN_K) {
            // the same decode blocking for 16-bit weights, widened in registers (half the bytes from memory); x is
            // rearranged once here, before the dispatch, and read by every thread
            MemorySegment ws = w.segment();
            boolean f16 = wt == DType.F16, check = f16 && mayHoldNonFinite(w);
            int kp = paddedK(k);
            float[] xd = deinterleave(xs, m, k);
            float[] unscale = f16 ? prescaleF16(xd, m, kp) : null;
            Parallel.forRange(n, 8, (long) m * n * k, (n0, n1) -> {
                float[] acc = ACC.get();
                int j = n0;
                for (; j + 8 <= n1; j += 8)
                    for (int i = 0; i < m; i++) {
                        if (f16) dot8F16(xd, i * kp, unscale[i], xs, (long) i * k, ws, (long) j * k * 2, k, os, (long) i * n + j, acc, check);
                        else dot8Bf16(xd, i * kp, ws, (long) j * k * 2, k, os, (long) i * n + j, acc);
                    }
                for (; j < n1; j++)
                    for (int i = 0; i < m; i++) {
                        float dot = 0f;
                        for (int p = 0; p < k; p++)
                            dot += xs.getAtIndex(Tensor.F32, (long) i * k + p) * half(ws.getAtIndex(Tensor.I16, (long) j * k + p), f16);
                        os.setAtIndex(Tensor.F32, (long) i * n + j, dot);
                    }
                if (bias != null)
                    for (int i = 0; i < m; i++)
                        for (int jj = n0; jj < n1; jj++)
                            os.setAtIndex(Tensor.F32, (long) i * n + jj, os.getAtIndex(Tensor.F32, (long) i * n + jj) + bias.getFloat(jj));
            });
            return;
        }
        // decode and small batches: blocks of 8 weight rows (8 reads in flight from memory; 16-bit ones widened into a
        // per-thread scratch first), each block used by every x row while it is in L1/L2; x rows go in pairs so each
        // weight load feeds 2 FMAs
        Parallel.forRange(n, 8, (long) m * n * k, (n0, n1) -> {
            float[] acc = ACC.get();
            for (int j = n0; j < n1; j += 8) {
                int nb = Math.min(8, n1 - j);
                MemorySegment ws = wt == DType.F32 ? w.segment() : widen(w, j, nb, k);
                long wOff = wt == DType.F32 ? (long) j * k * 4 : 0;
                if (nb < 8) {
                    kernelSmall(xs, 0, m, ws, wOff, nb, k, os, 0, j, n);
                    continue;
                }
                int i = 0;
                for (; i + 2 <= m; i += 2) dot8x2(xs, (long) i * k * 4, ws, wOff, k, os, (long) i * n + j, n, acc);
                if (i < m) dot8(xs, (long) i * k * 4, ws, wOff, k, os, (long) i * n + j, acc);
            }
            if (bias != null)
                for (int i = 0; i < m; i++)
                    for (int jj = n0; jj < n1; jj++)
                        os.setAtIndex(Tensor.F32, (long) i * n + jj, os.getAtIndex(Tensor.F32, (long) i * n + jj) + bias.getFloat(jj));
        });
    }

    /** Rows [j, j+nb) of a BF16/F16 weight widened to F32, in a per-thread native scratch ({@link #nativeScratch}). */
    private static MemorySegment widen(Tensor w, int j, int nb, int k) {
        float[][] sc = SCRATCH.get();
        if (sc[0].length < nb * k) sc[0] = new float[nb * k];
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
        if (bf16) {
            for (; i < total; i++) dst[i] = Tensor.bf16ToFloat(src.getAtIndex(Tensor.I16, base + i));
        } else widenF16(src, base, total, dst, 0);
        MemorySegment out = nativeScratch(4L * total);
        MemorySegment.copy(dst, 0, out, Tensor.F32, 0, total);
        return out;
    }

    /**
     * A per-thread native scratch of at least {@code bytes}. The widened rows go to the kernels through native memory,
     * not a heap segment over the float[]: one heap segment reaching {@code FloatVector.fromMemorySegment} makes the
     * JIT's profile of that shared code bimorphic for the whole run, and every kernel reading native tensors through it
     * is compiled with per-load checks (JFR, mamba2-130m f16 decode after a 16-token prefill: the SSD step's row loop
     * 3.6× slower, 620 against 170 ms, with {@code Objects.checkIndex} in its samples).
     */
    private static MemorySegment nativeScratch(long bytes) {
        MemorySegment[] s = NATIVE_SCRATCH.get();
        if (s[0].byteSize() < bytes) s[0] = java.lang.foreign.Arena.ofAuto().allocate(bytes, 64);
        return s[0];
    }

    private static final ThreadLocal<MemorySegment[]> NATIVE_SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[] {MemorySegment.NULL});

    /**
     * dst[at, at + count) = the F16 values from element index {@code from} of src. Nothing but the conversion in the loop:
     * C2 turns it into vcvtph2ps over whole vectors (0.08 ns per element on the CI machine class, 5× the same loop
     * shape with BF16's shifts). For widening once and reusing (prefill); decode widens in registers instead
     * ({@link #dot4F16}), as the stores here halve the rate at which two threads stream weights.
     */
    static void widenF16(MemorySegment src, long from, int count, float[] dst, int at) {
        for (int i = 0; i < count; i++) dst[at + i] = Float.float16ToFloat(src.getAtIndex(Tensor.I16, from + i));
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

    /** out[i, :] += bias for the M rows of out (M, N), in place: the bias of the GEMM paths. */
    static void addBias(Tensor bias, Tensor out, int m, int n) {
        MemorySegment bs = bias.segment(), os = out.segment();
        Parallel.forRange(m, 16, (long) m * n, (r0, r1) -> {
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

    /** out[o..o+7] = x · w_b for 8 consecutive weight rows from wOff (x is one row); sums as in {@link #dot8x2}. */
    private static void dot8(MemorySegment xs, long xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o, float[] acc) {
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
        c0.intoArray(acc, 0); c1.intoArray(acc, VL); c2.intoArray(acc, 2 * VL); c3.intoArray(acc, 3 * VL);
        c4.intoArray(acc, 4 * VL); c5.intoArray(acc, 5 * VL); c6.intoArray(acc, 6 * VL); c7.intoArray(acc, 7 * VL);
        storeSums(acc, 8, os, o, 0, 1f);
        for (; p < k; p++) {
            float xv = xs.getAtIndex(Tensor.F32, xa / 4 + p);
            for (int b = 0; b < 8; b++)
                os.setAtIndex(Tensor.F32, o + b, os.getAtIndex(Tensor.F32, o + b) + xv * ws.getAtIndex(Tensor.F32, (wOff + b * rx) / 4 + p));
        }
    }

    private static final VectorSpecies<Integer> I_SPECIES = jdk.incubator.vector.IntVector.SPECIES_PREFERRED;

    private static float half(short bits, boolean f16) { return f16 ? Float.float16ToFloat(bits) : Tensor.bf16ToFloat(bits); }

    /** k rounded up to whole chunks of 2·VL: the row stride of {@link #deinterleave}'s output. */
    private static int paddedK(int k) { return (k + 2 * VL - 1) / (2 * VL) * (2 * VL); }

    /**
     * x rows rearranged for {@link #dot8Bf16} and {@link #dot8F16}: per chunk of 2·VL elements, the VL even-indexed
     * values then the VL odd-indexed ones, matching how one int-vector load of 2·VL 16-bit weights splits into two float
     * vectors. The last, partial chunk is laid out the same way and padded with zeros (its weights are read with a
     * masked load); rows are {@link #paddedK} apart. In the calling thread's scratch.
     */
    private static float[] deinterleave(MemorySegment xs, int m, int k) {
        int kp = paddedK(k), chunk = 2 * VL;
        float[][] sc = SCRATCH.get();
        if (sc[0].length < m * kp) sc[0] = new float[m * kp];
        float[] d = sc[0];
        for (int i = 0; i < m; i++) {
            int row = i * kp;
            java.util.Arrays.fill(d, row + k - k % chunk, row + kp, 0f);
            for (int c = 0; c < k; c += chunk)
                for (int t = 0, len = Math.min(chunk, k - c); 2 * t < len; t++) {
                    d[row + c + t] = xs.getAtIndex(Tensor.F32, (long) i * k + c + 2 * t);
                    if (2 * t + 1 < len) d[row + c + VL + t] = xs.getAtIndex(Tensor.F32, (long) i * k + c + 2 * t + 1);
                }
        }
        return d;
    }

    /**
     * {@link #dot8} for BF16 weights. One int-vector load holds 2·VL bf16 values; an int's low half is the even
     * element (shift left 16 → its float) and its high half the odd one (mask the low half → its float), so no
     * shape-changing conversion is needed. xd is the row of {@link #deinterleave} at offset xa (floats). The last
     * partial chunk (k not a multiple of 2·VL) goes through {@link #pairTail}; an odd last element is scalar.
     */
    private static void dot8Bf16(float[] xd, int xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o, float[] acc) {
        long rx = (long) k * 2;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int chunk = 2 * VL, full = k - k % chunk, p = 0;
        for (; p < full; p += chunk) {
            long off = (long) p * 2;
            FloatVector xe = FloatVector.fromArray(S, xd, xa + p), xo = FloatVector.fromArray(S, xd, xa + p + VL);
            IntVector w;
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + off, LE);
            c0 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c0));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + rx + off, LE);
            c1 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c1));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 2 * rx + off, LE);
            c2 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c2));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 3 * rx + off, LE);
            c3 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c3));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 4 * rx + off, LE);
            c4 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c4));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 5 * rx + off, LE);
            c5 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c5));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 6 * rx + off, LE);
            c6 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c6));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 7 * rx + off, LE);
            c7 = xo.fma(w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats(), xe.fma(w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats(), c7));
        }
        c0.intoArray(acc, 0); c1.intoArray(acc, VL); c2.intoArray(acc, 2 * VL); c3.intoArray(acc, 3 * VL);
        c4.intoArray(acc, 4 * VL); c5.intoArray(acc, 5 * VL); c6.intoArray(acc, 6 * VL); c7.intoArray(acc, 7 * VL);
        storeSums(acc, 8, os, o, 0, 1f);
        if (k - full >= 2) pairTail(xd, xa, 1f, ws, wOff, k, os, o, false, acc);
        if ((k & 1) != 0) {
            int last = k - 1;
            oddTail(xd[xa + last - last % chunk + (last % chunk) / 2], ws, wOff, k, os, o, false);
        }
    }

    /**
     * {@link #dot8Bf16} for F16 weights, widened exactly by integer ops (the Vector API of JDK 25 has no f16 lanes
     * and no conversion to them): an f16's magnitude bits shifted left by 13 are an f32 of the same mantissa whose
     * exponent is 112 too small, subnormals included; an arithmetic shift keeps the sign bit in place. The low half:
     * shift left 16, then arithmetically right 3; the high half: right 3; then mask sign, exponent and mantissa
     * (0x8fffe000). The missing 2^112 is carried by x, which {@link #prescaleF16} multiplied by 2^112 (2^(112-s) with
     * its unscale 2^s for rows whose values reach 2^15): each product is then the product of the true values, so the
     * sums are those of widening first, at half the ops of a multiply per weight (DecodeLab: 21 → 41 GB/s on 2 vCPUs).
     * Infinities and NaNs (exponent 31) would come out as finite values: the main loop notes that it saw one and those
     * rows are redone element by element from the unscaled x ({@link #nonFinite4F16}); the tails turn such lanes
     * into ±infinity in place.
     */
    private static void dot8F16(float[] xd, int xa, float unscale, MemorySegment xs, long xRow, MemorySegment ws, long wOff,
                                int k, MemorySegment os, long o, float[] acc, boolean check) {
        long rx4 = 4L * k * 2;
        boolean bad0 = dot4F16(xd, xa, ws, wOff, k, acc, 0, check), bad1 = dot4F16(xd, xa, ws, wOff + rx4, k, acc, 4 * VL, check);
        storeSums(acc, 8, os, o, 0, unscale);
        int full = k - k % (2 * VL);
        if (bad0) nonFinite4F16(xs, xRow, ws, wOff, full, k, os, o);
        if (bad1) nonFinite4F16(xs, xRow, ws, wOff + rx4, full, k, os, o + 4);
        if (k - full >= 2) pairTail(xd, xa, unscale, ws, wOff, k, os, o, true, acc);
        if ((k & 1) != 0) oddTail(xs.getAtIndex(Tensor.F32, xRow + k - 1), ws, wOff, k, os, o, true);
    }

    /**
     * Four rows of {@link #dot8F16}'s full chunks, the widening written out per row: eight rows of it in one method
     * pass C2's inlining budget (vector ops left out are boxed). The accumulators are spilled to acc[at, at + 4·VL)
     * for {@link #storeSums}: four {@link VMath#sum} calls here were past C2's node budget (NodeCountInliningCutoff),
     * each a call on a boxed vector. Returns whether a weight was an infinity or NaN (looked for only when
     * {@code check}: {@link #mayHoldNonFinite}).
     */
    private static boolean dot4F16(float[] xd, int xa, MemorySegment ws, long wOff, int k, float[] acc, int at, boolean check) {
        long rx = (long) k * 2;
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        IntVector bad = IntVector.zero(I_SPECIES);
        int chunk = 2 * VL, full = k - k % chunk;
        for (int p = 0; p < full; p += chunk) {
            long off = (long) p * 2;
            FloatVector xe = FloatVector.fromArray(S, xd, xa + p), xo = FloatVector.fromArray(S, xd, xa + p + VL);
            IntVector w;
            FloatVector lo, hi;
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + off, LE);
            lo = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            hi = w.lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            if (check) bad = bad.or(w.lanewise(VectorOperators.AND, 0x7c007c00).lanewise(VectorOperators.ADD, 0x04000400));
            c0 = xo.fma(hi, xe.fma(lo, c0));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + rx + off, LE);
            lo = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            hi = w.lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            if (check) bad = bad.or(w.lanewise(VectorOperators.AND, 0x7c007c00).lanewise(VectorOperators.ADD, 0x04000400));
            c1 = xo.fma(hi, xe.fma(lo, c1));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 2 * rx + off, LE);
            lo = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            hi = w.lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            if (check) bad = bad.or(w.lanewise(VectorOperators.AND, 0x7c007c00).lanewise(VectorOperators.ADD, 0x04000400));
            c2 = xo.fma(hi, xe.fma(lo, c2));
            w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + 3 * rx + off, LE);
            lo = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            hi = w.lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
            if (check) bad = bad.or(w.lanewise(VectorOperators.AND, 0x7c007c00).lanewise(VectorOperators.ADD, 0x04000400));
            c3 = xo.fma(hi, xe.fma(lo, c3));
        }
        c0.intoArray(acc, at); c1.intoArray(acc, at + VL); c2.intoArray(acc, at + 2 * VL); c3.intoArray(acc, at + 3 * VL);
        return bad.lanewise(VectorOperators.AND, 0x80008000).compare(VectorOperators.NE, 0).anyTrue();
    }

    /**
     * Whether an F16 weight may hold an infinity or NaN, which the in-lane widening would turn into finite values. A
     * read-only weight (a model file's mapping: its bytes cannot change under it) is scanned once and remembered, and
     * decode then skips the per-chunk check (3 of the widening's 8 integer ops; DecodeLab, mamba-130m's in_proj, four
     * interleaved rounds: 30.9 → 34.1 GB/s); any other weight is checked on every call.
     */
    static boolean mayHoldNonFinite(Tensor w) {
        MemorySegment seg = w.segment();
        if (!seg.isReadOnly()) return true;
        synchronized (F16_SCANNED) {
            Boolean r = F16_SCANNED.get(w);
            if (r == null) F16_SCANNED.put(w, r = holdsNonFiniteF16(seg));
            return r;
        }
    }

    /** Read-only F16 weights already scanned, by identity (Tensor keeps Object's equals), released with the tensor. */
    private static final java.util.Map<Tensor, Boolean> F16_SCANNED = new java.util.WeakHashMap<>();

    /** Whether any f16 in seg has exponent 31 (an infinity or NaN). */
    static boolean holdsNonFiniteF16(MemorySegment seg) {
        long n = seg.byteSize() / 2, i = 0;
        IntVector bad = IntVector.zero(I_SPECIES);
        for (long bound = n - n % (2L * VL); i < bound; i += 2L * VL)
            bad = bad.or(IntVector.fromMemorySegment(I_SPECIES, seg, i * 2, LE).lanewise(VectorOperators.AND, 0x7c007c00)
                    .lanewise(VectorOperators.ADD, 0x04000400));
        if (bad.lanewise(VectorOperators.AND, 0x80008000).compare(VectorOperators.NE, 0).anyTrue()) return true;
        for (; i < n; i++)
            if ((seg.getAtIndex(Tensor.I16, i) & 0x7c00) == 0x7c00) return true;
        return false;
    }

    /**
     * {@link #dot4F16} again, element by element from the unscaled x row, for rows holding an infinity or NaN: the
     * integer widening turns exponent 31 into finite values, so the fast loop only notes that one was seen (exponent
     * + 1 carries into the half's top bit: 3 integer ops per 32 weights, against 8 to fix each lane up in place).
     */
    private static void nonFinite4F16(MemorySegment xs, long xRow, MemorySegment ws, long wOff, int full, int k, MemorySegment os, long o) {
        for (int b = 0; b < 4; b++) {
            float acc = 0f;
            for (int p = 0; p < full; p++)
                acc += xs.getAtIndex(Tensor.F32, xRow + p) * Float.float16ToFloat(ws.getAtIndex(Tensor.I16, wOff / 2 + (long) b * k + p));
            os.setAtIndex(Tensor.F32, o + b, acc);
        }
    }

    /**
     * Multiplies each of the m rows of xd (a {@link #deinterleave} output, rows kp apart) by 2^112 for {@link #dot4F16},
     * or by 2^(112-s) where the row's largest magnitude reaches 2^15 (so that no value passes the float range), and
     * returns each row's 2^s (1 for ordinary activations; then the sums are exactly those of widening first).
     */
    private static float[] prescaleF16(float[] xd, int m, int kp) {
        float[] unscale = new float[m];
        for (int i = 0; i < m; i++) {
            int row = i * kp;
            FloatVector mx = FloatVector.zero(S);
            for (int p = 0; p < kp; p += VL) mx = mx.max(FloatVector.fromArray(S, xd, row + p).abs());
            float max = mx.reduceLanes(VectorOperators.MAX);
            int s = max >= 0x1p15f && max < Float.POSITIVE_INFINITY ? Math.getExponent(max) - 14 : 0;
            float scale = Math.scalb(1f, 112 - s);
            unscale[i] = Math.scalb(1f, s);
            for (int p = 0; p < kp; p += VL) FloatVector.fromArray(S, xd, row + p).mul(scale).intoArray(xd, row + p);
        }
        return unscale;
    }

    /** 65536 (where exponent 31 lands: an f16 infinity or NaN) without the 2^112 that x carries. */
    private static final float F16_NONFINITE = 0x1p-96f;

    private static final FloatVector F16_ONE = FloatVector.broadcast(S, 1f), F16_INF = FloatVector.broadcast(S, Float.POSITIVE_INFINITY);

    /**
     * The pairs of the last, partial chunk of 8 rows, by a masked load each (zero lanes meet zero x), added to the
     * outputs. Kept out of the main loops: a masked load there (even one whose mask is all true) is not compiled to a
     * plain vector load and costs the whole kernel 20×. The 8 products are spilled to acc and summed by
     * {@link VMath#sumEach} (8 calls of {@link VMath#sum} here were not inlined).
     */
    private static void pairTail(float[] xd, int xa, float unscale, MemorySegment ws, long wOff, int k, MemorySegment os, long o,
                                 boolean f16, float[] acc) {
        int full = k - k % (2 * VL);
        VectorMask<Integer> mk = I_SPECIES.indexInRange(0, (k - full) / 2);
        FloatVector xe = FloatVector.fromArray(S, xd, xa + full), xo = FloatVector.fromArray(S, xd, xa + full + VL);
        for (int b = 0; b < 8; b++) {
            IntVector w = IntVector.fromMemorySegment(I_SPECIES, ws, wOff + ((long) b * k + full) * 2, LE, mk);
            FloatVector lo, hi;
            if (f16) {       // as in dot4F16 (x carries the 2^112)
                lo = w.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
                hi = w.lanewise(VectorOperators.ASHR, 3).lanewise(VectorOperators.AND, 0x8fffe000).reinterpretAsFloats();
                lo = lo.mul(F16_INF.blend(F16_ONE, lo.abs().compare(VectorOperators.LT, F16_NONFINITE)));
                hi = hi.mul(F16_INF.blend(F16_ONE, hi.abs().compare(VectorOperators.LT, F16_NONFINITE)));
            } else {
                lo = w.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                hi = w.lanewise(VectorOperators.AND, 0xffff0000).reinterpretAsFloats();
            }
            xo.fma(hi, xe.mul(lo)).intoArray(acc, b * VL);
        }
        sumSpilled(acc, 8);
        for (int b = 0; b < 8; b++) os.setAtIndex(Tensor.F32, o + b, os.getAtIndex(Tensor.F32, o + b) + acc[(b / VL) * VL * VL + b % VL] * unscale);
    }

    /** For odd k: the last element of the 8 rows (x's is xv), which the paired loads leave out. */
    private static void oddTail(float xv, MemorySegment ws, long wOff, int k, MemorySegment os, long o, boolean f16) {
        for (int b = 0; b < 8; b++)
            os.setAtIndex(Tensor.F32, o + b, os.getAtIndex(Tensor.F32, o + b) + xv * half(ws.getAtIndex(Tensor.I16, wOff / 2 + (long) b * k + k - 1), f16));
    }

    /**
     * Like {@link #dot8} for two consecutive x rows at once: out[o..o+7] and out[o+n..o+n+7]. The 16 accumulators are
     * spilled to acc (a per-thread {@link #ACC_FLOATS} floats) and summed by {@link VMath#sumEach}: 16 calls of
     * {@link VMath#sum} here were past C2's inlining budget, each a call with a boxed vector (half the kernel's time).
     */
    private static void dot8x2(MemorySegment xs, long xa, MemorySegment ws, long wOff, int k, MemorySegment os, long o, int n, float[] acc) {
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
        c0.intoArray(acc, 0); c1.intoArray(acc, VL); c2.intoArray(acc, 2 * VL); c3.intoArray(acc, 3 * VL);
        c4.intoArray(acc, 4 * VL); c5.intoArray(acc, 5 * VL); c6.intoArray(acc, 6 * VL); c7.intoArray(acc, 7 * VL);
        d0.intoArray(acc, 8 * VL); d1.intoArray(acc, 9 * VL); d2.intoArray(acc, 10 * VL); d3.intoArray(acc, 11 * VL);
        d4.intoArray(acc, 12 * VL); d5.intoArray(acc, 13 * VL); d6.intoArray(acc, 14 * VL); d7.intoArray(acc, 15 * VL);
        storeSums(acc, 16, os, o, n, 1f);
        for (; p < k; p++) {
            float x0 = xs.getAtIndex(Tensor.F32, xa / 4 + p), x1 = xs.getAtIndex(Tensor.F32, (xa + rx) / 4 + p);
            for (int b = 0; b < 8; b++) {
                float wv = ws.getAtIndex(Tensor.F32, (wOff + b * rx) / 4 + p);
                os.setAtIndex(Tensor.F32, o + b, os.getAtIndex(Tensor.F32, o + b) + x0 * wv);
                os.setAtIndex(Tensor.F32, o + n + b, os.getAtIndex(Tensor.F32, o + n + b) + x1 * wv);
            }
        }
    }

    /** Floats of a decode kernel's spill: 16 accumulators, or VL where vectors are wider. */
    static final int ACC_FLOATS = Math.max(16, VL) * VL;
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[ACC_FLOATS]);

    /**
     * The sums of the {@code count} (8 or 16) accumulators spilled at acc[t·VL]: t &lt; 8 to out[o + t], t ≥ 8 to
     * out[o + n + t − 8] (the second x row), times scale (F16's unscale; 1 otherwise). Unused slots up to VL are zeroed.
     */
    private static void storeSums(float[] acc, int count, MemorySegment os, long o, int n, float scale) {
        sumSpilled(acc, count);
        for (int t = 0; t < count; t++)
            os.setAtIndex(Tensor.F32, t < 8 ? o + t : o + n + t - 8, acc[(t / VL) * VL * VL + t % VL] * scale);
    }

    /** The sum of the vector spilled at acc[t·VL] into acc[(t / VL)·VL·VL + t % VL], for t &lt; count (8 or 16). */
    private static void sumSpilled(float[] acc, int count) {
        int slots = Math.max(count, VL);
        if (slots > count) java.util.Arrays.fill(acc, count * VL, slots * VL, 0f);
        for (int g = 0; g < slots; g += VL) VMath.sumEach(acc, g * VL);
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

}
