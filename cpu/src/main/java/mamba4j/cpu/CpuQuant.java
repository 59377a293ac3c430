package mamba4j.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.DType;
import mamba4j.core.Quant;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static mamba4j.cpu.CpuKernels.LE;
import static mamba4j.cpu.CpuKernels.S;
import static mamba4j.cpu.CpuKernels.VL;

/**
 * Linear and embedding with block-quantised weights (Q8_0, Q4_0: ggml's layouts, see {@link Quant}). Same as
 * Reference linear / embedding, which dequantise element by element; differs in dequantising a block (32 weights) at
 * a time in vector registers and in summing in float in another order. The dequantised weights are exact floats,
 * so only the summation order differs (the conformance suite holds it to the F32 tolerance).
 *
 * <ul>
 * <li><b>Decode</b> (M &lt; {@link #GEMM_ROWS}): a GEMV that streams each weight byte once — 34 bytes per 32 weights
 *     (Q8_0), 18 (Q4_0) — widening the quants to floats in registers ({@code B2F}), one scale FMA per block. Threads
 *     split the rows of w in groups of {@link #R} = 4 rows; a group's rows share every load of x (Q8_0: all four in one
 *     method; Q4_0: two methods of two rows, as four did not fit C2's inlining budget). With M &gt; 1 the group is
 *     dequantised once into an L1 scratch and each x row runs over it in F32, so the weights are decoded once per
 *     group, not once per x row.</li>
 * <li><b>Prefill</b> (M ≥ {@link #GEMM_ROWS}): w is dequantised straight into the packed panels of {@link CpuGemm}
 *     (the layout its transB packing writes) and the packed GEMM runs unchanged: N·K conversions against 2·M·N·K
 *     flops. The alternative llama.cpp uses — quantise x to int8 per block and multiply in integers — loses here: the
 *     Vector API has no int8 dot product (VNNI), and widening products cost more than the F32 FMAs
 *     (cpu/src/test QuantLab measures both).</li>
 * </ul>
 * Vector widths of 8 and 16 floats (AVX2, AVX-512) take these paths; other widths run the reference's scalar loop.
 */
final class CpuQuant {
    private CpuQuant() {}

    private static final int QK = Quant.QK;
    /**
     * At and above this many x rows the packed GEMM wins over the GEMV: its dequantise-and-pack costs about as much as
     * the GEMV's M dot products at M ≈ 24–32 on in_proj's shape (QuantLab3, the shared 2-vCPU Zen 5 VM).
     */
    static final int GEMM_ROWS = 32;
    /** Weight rows per GEMV group. */
    static final int R = 4;
    /** Bytes of VL quants: the byte species whose B2F conversion fills one float vector. */
    private static final VectorSpecies<Byte> BS = VL == 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** Whether this vector width has the kernels below (8 or 16 floats). */
    static final boolean SUPPORTED = VL == 8 || VL == 16;

    /** Per-thread scratch: dequantised weight rows (R·K floats), one row, the lanes of reductions, x, Q4_0's −8·x. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[5][0]);

    private static float[] scratch(int slot, int size) {
        float[][] sc = SCRATCH.get();
        if (sc[slot].length < size) sc[slot] = new float[size];
        return sc[slot];
    }

    // ================================================================ linear

    /** out (M, N) = x (M, K) · dequant(w) (N, K)ᵀ + bias for a Q8_0 or Q4_0 w. */
    static void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        int m = x.size(0), k = x.size(1), n = w.size(0);
        if (m >= GEMM_ROWS) prefill(x, w, out, m, k, n);
        else decode(x, w, out, m, k, n);
        if (bias != null) CpuLinear.addBias(bias, out, m, n);
    }

    /**
     * The GEMV. Threads split the rows of w; a thread cuts its range into R = 4 contiguous quarters and takes row i of
     * each quarter together, so its reads are 4 long sequential streams that share every load of x. (Taking 4 adjacent
     * rows instead made 4 streams of one short row each, which the hardware prefetchers never locked on to: 3× slower
     * from memory, although faster in cache — QuantLab's streaming test.)
     */
    static void decode(Tensor x, Tensor w, Tensor out, int m, int k, int n) {
        MemorySegment xs = x.segment(), ws = w.segment(), os = out.segment();
        DType t = w.dtype();
        long rb = t.byteCount(k);
        int blocks = k / QK;
        Parallel.forRange(n, R, (long) m * n * k, (n0, n1) -> {
            float[] wf = m > 1 ? scratch(0, R * k) : null, lanes = scratch(2, 4 * VL);
            float[] xf = scratch(3, k), mx = scratch(4, k / QK * VL);
            if (m == 1) {
                MemorySegment.copy(xs, Tensor.F32, 0, xf, 0, k);
                if (t == DType.Q4_0) minus8(xf, mx, blocks);
            }
            int q = (n1 - n0) / R;                                         // rows per stream
            for (int i = 0; i < q; i++) {
                int j0 = n0 + i, j1 = j0 + q, j2 = j1 + q, j3 = j2 + q;
                if (m == 1) {
                    if (t == DType.Q8_0) dot4Q8_0(xf, ws, j0 * rb, j1 * rb, j2 * rb, j3 * rb, blocks, lanes);
                    else {
                        dot2Q4_0(xf, mx, ws, j0 * rb, j1 * rb, blocks, lanes, 0);
                        dot2Q4_0(xf, mx, ws, j2 * rb, j3 * rb, blocks, lanes, 2 * VL);
                    }
                    os.setAtIndex(Tensor.F32, j0, sumLanes(lanes, 0));
                    os.setAtIndex(Tensor.F32, j1, sumLanes(lanes, VL));
                    os.setAtIndex(Tensor.F32, j2, sumLanes(lanes, 2 * VL));
                    os.setAtIndex(Tensor.F32, j3, sumLanes(lanes, 3 * VL));
                } else {
                    dequantRow(t, ws, j0 * rb, blocks, wf, 0);
                    dequantRow(t, ws, j1 * rb, blocks, wf, k);
                    dequantRow(t, ws, j2 * rb, blocks, wf, 2 * k);
                    dequantRow(t, ws, j3 * rb, blocks, wf, 3 * k);
                    for (int r = 0; r < m; r++) {
                        dot4F32(xs, (long) r * k * 4, wf, k, lanes);
                        long o = (long) r * n;
                        os.setAtIndex(Tensor.F32, o + j0, sumLanes(lanes, 0));
                        os.setAtIndex(Tensor.F32, o + j1, sumLanes(lanes, VL));
                        os.setAtIndex(Tensor.F32, o + j2, sumLanes(lanes, 2 * VL));
                        os.setAtIndex(Tensor.F32, o + j3, sumLanes(lanes, 3 * VL));
                    }
                }
            }
            for (int j = n0 + R * q; j < n1; j++) {                        // the last (n1 − n0) mod 4 rows
                float[] row = scratch(1, k);
                dequantRow(t, ws, j * rb, blocks, row, 0);
                for (int r = 0; r < m; r++) os.setAtIndex(Tensor.F32, (long) r * n + j, dot1F32(xs, (long) r * k * 4, row, k));
            }
        });
    }

    /**
     * The "− 8" of Q4_0's nibbles moved to the x side, once per call: Σ_j x_j·(n_j − 8) = Σ_j x_j·n_j − 8·Σ_j x_j, and
     * mx[blk·VL + l] = −8·Σ x[blk·32 + i] over the i ≡ l (mod VL), a vector whose lanes sum to the block's −8·Σ x — the
     * kernel starts each block's sum at it and widens the raw nibbles (0..15).
     */
    private static void minus8(float[] x, float[] mx, int blocks) {
        for (int blk = 0; blk < blocks; blk++)
            for (int l = 0; l < VL; l++) {
                float s = 0;
                for (int i = l; i < QK; i += VL) s += x[blk * QK + i];
                mx[blk * VL + l] = -8f * s;
            }
    }

    /**
     * lanes[b·VL .. (b+1)·VL) = the lane sums of x · w_b for the Q8_0 rows at bytes w0..w3 (x one F32 row, a heap copy):
     * one x load feeds 4 rows' FMAs; per block and row, the quants widen to floats (B2F), multiply x, and the block's
     * sum takes the scale in one FMA into the row's accumulator. The accumulators are spilled to lanes, not reduced
     * here: no vector crosses a call.
     */
    private static void dot4Q8_0(float[] x, MemorySegment ws, long w0, long w1, long w2, long w3, int blocks, float[] lanes) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        for (int blk = 0; blk < blocks; blk++) {
            long bo = blk * 34L;
            FloatVector t0 = FloatVector.zero(S), t1 = t0, t2 = t0, t3 = t0;
            for (int h = 0; h < QK; h += VL) {
                FloatVector xv = FloatVector.fromArray(S, x, blk * QK + h);
                t0 = q8(ws, w0 + bo + 2 + h).fma(xv, t0);
                t1 = q8(ws, w1 + bo + 2 + h).fma(xv, t1);
                t2 = q8(ws, w2 + bo + 2 + h).fma(xv, t2);
                t3 = q8(ws, w3 + bo + 2 + h).fma(xv, t3);
            }
            c0 = t0.fma(scale(ws, w0 + bo), c0);
            c1 = t1.fma(scale(ws, w1 + bo), c1);
            c2 = t2.fma(scale(ws, w2 + bo), c2);
            c3 = t3.fma(scale(ws, w3 + bo), c3);
        }
        c0.intoArray(lanes, 0);
        c1.intoArray(lanes, VL);
        c2.intoArray(lanes, 2 * VL);
        c3.intoArray(lanes, 3 * VL);
    }

    /**
     * As {@link #dot4Q8_0} for two Q4_0 rows, spilled to lanes[at ..]. Of VL quant bytes at qs + h, the low nibbles are
     * elements h .. h+VL and the high nibbles elements 16+h .. 16+h+VL (ggml's order); the nibbles widen as they are
     * (0..15) and each block's sum starts at its −8·Σx vector from mx ({@link #minus8}). Two rows per call: four did
     * not fit C2's inlining node budget, and a vector op left out of the inlining falls back to boxed Java code.
     */
    private static void dot2Q4_0(float[] x, float[] mx, MemorySegment ws, long w0, long w1, int blocks, float[] lanes, int at) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0;
        for (int blk = 0; blk < blocks; blk++) {
            long bo = blk * 18L + 2;
            FloatVector t0 = FloatVector.fromArray(S, mx, blk * VL), t1 = t0;   // the block's −8·x terms
            for (int h = 0; h < QK / 2; h += VL) {                       // one pass with AVX-512, two with AVX2
                FloatVector xl = FloatVector.fromArray(S, x, blk * QK + h), xh = FloatVector.fromArray(S, x, blk * QK + QK / 2 + h);
                ByteVector q0 = ByteVector.fromMemorySegment(BS, ws, w0 + bo + h, LE), q1 = ByteVector.fromMemorySegment(BS, ws, w1 + bo + h, LE);
                t0 = nib(q0.lanewise(VectorOperators.LSHR, 4)).fma(xh, nib(q0.and((byte) 0x0f)).fma(xl, t0));
                t1 = nib(q1.lanewise(VectorOperators.LSHR, 4)).fma(xh, nib(q1.and((byte) 0x0f)).fma(xl, t1));
            }
            c0 = t0.fma(scale(ws, w0 + bo - 2), c0);
            c1 = t1.fma(scale(ws, w1 + bo - 2), c1);
        }
        c0.intoArray(lanes, at);
        c1.intoArray(lanes, at + VL);
    }

    /** Σ lanes[from .. from+VL) in lane order, as {@link VMath#sum} (kernels spill their accumulators here: no vector crosses a call). */
    private static float sumLanes(float[] lanes, int from) {
        float s = lanes[from];
        for (int i = 1; i < VL; i++) s += lanes[from + i];
        return s;
    }

    /** Nibbles 0..15 (bytes already masked or shifted down) widened to floats. */
    private static FloatVector nib(ByteVector q) {
        return (FloatVector) q.convertShape(VectorOperators.B2F, S, 0);
    }

    /** VL int8 quants at byte {@code off}, widened to floats. */
    private static FloatVector q8(MemorySegment ws, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(BS, ws, off, LE).convertShape(VectorOperators.B2F, S, 0);
    }

    /** Low nibbles − 8, as floats. */
    private static FloatVector lo(ByteVector q) {
        return (FloatVector) q.and((byte) 0x0f).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0);
    }

    /** High nibbles − 8, as floats. */
    private static FloatVector hi(ByteVector q) {
        return (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f).sub((byte) 8).convertShape(VectorOperators.B2F, S, 0);
    }

    /** The block's f16 scale d at byte {@code off}, broadcast. */
    private static FloatVector scale(MemorySegment ws, long off) {
        return FloatVector.broadcast(S, Float.float16ToFloat(ws.get(Tensor.I16, off)));
    }

    /** dst[dOff ..] = the {@code blocks} blocks of the row at byte {@code off}, dequantised (d · q, exact in float). */
    static void dequantRow(DType t, MemorySegment ws, long off, int blocks, float[] dst, int dOff) {
        if (t == DType.Q8_0) {
            for (int blk = 0; blk < blocks; blk++) {
                long o = off + blk * 34L;
                FloatVector d = scale(ws, o);
                int at = dOff + blk * QK;
                for (int h = 0; h < QK; h += VL) q8(ws, o + 2 + h).mul(d).intoArray(dst, at + h);
            }
        } else {
            for (int blk = 0; blk < blocks; blk++) {
                long o = off + blk * 18L;
                FloatVector d = scale(ws, o);
                int at = dOff + blk * QK;
                for (int h = 0; h < QK / 2; h += VL) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, ws, o + 2 + h, LE);
                    lo(q).mul(d).intoArray(dst, at + h);
                    hi(q).mul(d).intoArray(dst, at + QK / 2 + h);
                }
            }
        }
    }

    /** lanes[b·VL ..] = the lane sums of x · w_b for the 4 dequantised rows of wf (row b at b·k). */
    private static void dot4F32(MemorySegment xs, long xa, float[] wf, int k, float[] lanes) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        for (int p = 0; p < k; p += VL) {                                // k is a multiple of 32, so of VL
            FloatVector xv = FloatVector.fromMemorySegment(S, xs, xa + p * 4L, LE);
            c0 = xv.fma(FloatVector.fromArray(S, wf, p), c0);
            c1 = xv.fma(FloatVector.fromArray(S, wf, k + p), c1);
            c2 = xv.fma(FloatVector.fromArray(S, wf, 2 * k + p), c2);
            c3 = xv.fma(FloatVector.fromArray(S, wf, 3 * k + p), c3);
        }
        c0.intoArray(lanes, 0);
        c1.intoArray(lanes, VL);
        c2.intoArray(lanes, 2 * VL);
        c3.intoArray(lanes, 3 * VL);
    }

    private static float dot1F32(MemorySegment xs, long xa, float[] w, int k) {
        FloatVector c = FloatVector.zero(S);
        for (int p = 0; p < k; p += VL) c = FloatVector.fromMemorySegment(S, xs, xa + p * 4L, LE).fma(FloatVector.fromArray(S, w, p), c);
        return VMath.sum(c);
    }

    // ================================================================ prefill: dequantise into the GEMM's packed panels

    /** out = x · dequant(w)ᵀ through {@link CpuGemm#matmulPacked}, w dequantised once into its packed-B layout. */
    static void prefill(Tensor x, Tensor w, Tensor out, int m, int k, int n) {
        int nr = CpuGemm.NR, panels = (n + nr - 1) / nr;
        float[] bp = CpuGemm.packedB(panels * k * nr);
        packB(w, k, n, panels, bp);
        CpuGemm.matmulPacked(x, false, bp, out, false, m, k, n);
    }

    /**
     * bp[(q·K + p)·NR + c] = w[q·NR + c, p] dequantised, zero for rows past N (CpuGemm's transB packing). A panel is
     * filled one block of 32 columns at a time: its rows' blocks are dequantised in registers into a row-major
     * tile (NR × 32 floats, 4 KiB in L1), which is then copied transposed into the panel. (Filling whole rows first
     * strode through the 96 KiB panel, and a call per block cost more than the block.)
     */
    static void packB(Tensor w, int k, int n, int panels, float[] bp) {
        MemorySegment ws = w.segment();
        DType t = w.dtype();
        long rowBytes = t.byteCount(k);
        int nr = CpuGemm.NR, blocks = k / QK;
        Parallel.forRange(panels, (q0, q1) -> {
            float[] tile = scratch(1, nr * QK);
            for (int q = q0; q < q1; q++) {
                int j0 = q * nr, width = Math.min(nr, n - j0), base = q * k * nr;
                if (width < nr) Arrays.fill(tile, 0f);                    // rows past N stay zero in every tile
                for (int blk = 0; blk < blocks; blk++) {
                    long off = j0 * rowBytes + (long) blk * t.blockBytes();
                    if (t == DType.Q8_0) tileQ8_0(ws, off, rowBytes, width, tile);
                    else tileQ4_0(ws, off, rowBytes, width, tile);
                    int dst = base + blk * QK * nr;
                    for (int p = 0; p < QK; p++)
                        for (int c = 0; c < nr; c++) bp[dst + p * nr + c] = tile[c * QK + p];
                }
            }
        });
    }

    /** tile[c·32 .. c·32+32) = the Q8_0 block at byte off + c·rowBytes, dequantised, for c &lt; rows. */
    private static void tileQ8_0(MemorySegment ws, long off, long rowBytes, int rows, float[] tile) {
        for (int c = 0; c < rows; c++) {
            long o = off + c * rowBytes;
            FloatVector d = scale(ws, o);
            for (int h = 0; h < QK; h += VL) q8(ws, o + 2 + h).mul(d).intoArray(tile, c * QK + h);
        }
    }

    /** As {@link #tileQ8_0} for Q4_0 blocks. */
    private static void tileQ4_0(MemorySegment ws, long off, long rowBytes, int rows, float[] tile) {
        for (int c = 0; c < rows; c++) {
            long o = off + c * rowBytes;
            FloatVector d = scale(ws, o);
            for (int h = 0; h < QK / 2; h += VL) {
                ByteVector q = ByteVector.fromMemorySegment(BS, ws, o + 2 + h, LE);
                lo(q).mul(d).intoArray(tile, c * QK + h);
                hi(q).mul(d).intoArray(tile, c * QK + QK / 2 + h);
            }
        }
    }

    // ================================================================ embedding

    /** out[i, :] = dequant(w)[ids[i], :]: one row's blocks per id. */
    static void embedding(Tensor w, Tensor ids, Tensor out) {
        int d = w.size(1), blocks = d / QK;
        long rowBytes = w.dtype().byteCount(d);
        MemorySegment ws = w.segment(), os = out.segment();
        float[] row = scratch(1, d);
        for (int i = 0, n = (int) ids.numel(); i < n; i++) {
            dequantRow(w.dtype(), ws, ids.getLong(i) * rowBytes, blocks, row, 0);
            MemorySegment.copy(row, 0, os, Tensor.F32, (long) i * d * 4, d);
        }
    }
}
