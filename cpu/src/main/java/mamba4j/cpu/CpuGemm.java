package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.Checks;
import mamba4j.core.DType;
import mamba4j.core.Formulas;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;


/**
 * The packed, blocked GEMM (BLIS-style) every F32 matmul of the cpu backend runs on: the training matmul and the
 * prefill shapes of {@code linear}. Same as the reference matmul; differs in summing over K in float, in K-block order.
 */
final class CpuGemm {
    private CpuGemm() {}

    private static final VectorSpecies<Float> S = CpuKernels.S;
    private static final int VL = CpuKernels.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Per-thread heap scratch: the output tile, and rows of b being packed. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);
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
    /**
     * A work unit: MB rows (8 tiles) × NP micro-panels; units are what the threads split, M blocks fastest, so that a
     * thread's contiguous range is whole N blocks (split by M blocks, 64 rows gave one thread 48 and the other 16).
     */
    static final int MB = 8 * MR, NP = 4;

    /**
     * out (M, N) (+)= op(a) (M, K) · op(b) (K, N), BLIS-style: op(b) is packed once per call (in parallel) into
     * micro-panels of NR columns, K-major and zero-padded (this is where transB is absorbed); op(a) likewise into
     * MR-row tiles (absorbing transA and the M tail); then each thread takes (MB rows × NP panels) units and runs the
     * 6 × 2·VL broadcast-FMA micro-kernel over them, K block by K block. No horizontal reductions anywhere.
     */
    static void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate, int m, int k, int n) {
        if (m == 0 || n == 0) return;
        if (k == 0) { if (!accumulate) out.fill(0f); return; }
        int panels = (n + NR - 1) / NR;
        float[] bp = packedB(panels * k * NR);
        packB(b.segment(), b.dtype(), transB, k, n, panels, bp);
        matmulPacked(a, transA, bp, out, accumulate, m, k, n);
    }

    /** The calling thread's packed-B buffer, at least {@code size} floats (reused across calls). */
    static float[] packedB(int size) {
        float[] bp = PACKED_B.get();
        if (bp.length < size) { bp = new float[size]; PACKED_B.set(bp); }
        return bp;
    }

    /**
     * The compute half of {@link #matmul}: op(b) is already packed in {@code bpf} as {@link #packB} lays it out,
     * bp[(q·K + p)·NR + c] = op(b)[p, q·NR + c] (zero past N) — which is how other weight formats (the quantised
     * ones of {@link CpuQuant}) reuse this GEMM: they dequantise into the packed panels once per call.
     */
    static void matmulPacked(Tensor a, boolean transA, float[] bpf, Tensor out, boolean accumulate, int m, int k, int n) {
        MemorySegment os = out.segment(), as = a.segment();
        int panels = (n + NR - 1) / NR, nBlocks = (panels + NP - 1) / NP;
        int chunk = Math.max(MB, A_FLOATS / k / MB * MB);
        for (int c0 = 0; c0 < m; c0 += chunk) {
            int r0 = c0, r1 = Math.min(m, c0 + chunk), tiles = (r1 - r0 + MR - 1) / MR;
            float[] ap = packedA(tiles * MR * k);
            Parallel.forRange(tiles, (t0, t1) -> packA(as, transA, m, k, r0, r1, t0, t1, ap));
            int mBlocks = (r1 - r0 + MB - 1) / MB;
            Parallel.forRange(mBlocks * nBlocks, (u0, u1) -> {
                float[] tmp = scratch(1, MR * NR);
                for (int u = u0; u < u1; u++) {
                    int i0 = r0 + (u % mBlocks) * MB, i1 = Math.min(r1, i0 + MB);
                    int q0 = (u / mBlocks) * NP, q1 = Math.min(panels, q0 + NP);
                    int tile0 = (i0 - r0) / MR, tiles1 = (i1 - i0 + MR - 1) / MR;
                    for (int k0 = 0; k0 < k; k0 += KC) {
                        int kc = Math.min(KC, k - k0);
                        boolean addOld = accumulate || k0 > 0;
                        for (int q = q0; q < q1; q++) {
                            int bOff = (q * k + k0) * NR;
                            for (int t = 0; t < tiles1; t++)
                                kernel(ap, ((tile0 + t) * k + k0) * MR, bpf, bOff, kc, os, i0 + t * MR, q * NR, m, n, addOld, tmp);
                        }
                    }
                }
            });
        }
    }

    /** Rows of op(a) packed per call at most: 4 Mi floats (16 MiB), so training's tall matmuls go in row chunks. */
    private static final int A_FLOATS = 1 << 22;
    /** The calling thread's packed A (shared by the workers of one call, like {@link #PACKED_B}). */
    private static final ThreadLocal<float[]> PACKED_A = ThreadLocal.withInitial(() -> new float[0]);

    private static float[] packedA(int size) {
        float[] ap = PACKED_A.get();
        if (ap.length < size) { ap = new float[size]; PACKED_A.set(ap); }
        return ap;
    }

    /**
     * bp[(q·K + p)·NR + c] = op(b)[p, q·NR + c], zero for columns past N. b is F32, or (transposed, as linear's weights
     * are) F16/BF16, widened here: once per call, then reused by every row of a. A transposed b (N, K) is read a whole
     * row at a time (a copy, or the widening loop: faster than gathering NR rows element by element along K, mamba2-130m
     * prefill +10–20%), the NR rows of a panel into scratch, then moved into the panel by VL × VL {@link #transpose}s:
     * each panel row written whole, where scattering one column at a time made NR passes over the panel (96 KiB for
     * K = 768, past L1), bound by L2 traffic (GemmBench 32 × 768 × 1536: 108 → 147 GFLOP/s).
     */
    private static void packB(MemorySegment bs, DType dt, boolean transB, int k, int n, int panels, float[] bp) {
        if (transB) {
            if (dt != DType.F32 && dt != DType.F16 && dt != DType.BF16) throw new IllegalStateException("packB: " + dt);
            Parallel.forRange(panels, (q0, q1) -> {
                float[] rows = scratch(0, NR * k), tile = scratch(1, VL * VL);
                for (int q = q0; q < q1; q++) {
                    int j0 = q * NR, w = Math.min(NR, n - j0), base = q * k * NR;
                    for (int c = 0; c < w; c++) {
                        long from = (long) (j0 + c) * k;
                        if (dt == DType.F32) MemorySegment.copy(bs, Tensor.F32, from * 4, rows, c * k, k);
                        else if (dt == DType.F16) CpuLinear.widenF16(bs, from, k, rows, c * k);
                        else for (int p = 0; p < k; p++) rows[c * k + p] = Tensor.bf16ToFloat(bs.getAtIndex(Tensor.I16, from + p));
                    }
                    if (w < NR) Arrays.fill(rows, w * k, NR * k, 0f);
                    int full = k - k % VL;
                    for (int h = 0; h < NR; h += VL)
                        for (int p = 0; p < full; p += VL) transpose(rows, h * k + p, k, tile, bp, base + p * NR + h);
                    for (int c = 0; c < NR; c++)
                        for (int p = full; p < k; p++) bp[base + p * NR + c] = rows[c * k + p];
                }
            });
            return;
        }
        if (dt != DType.F32) throw new IllegalStateException("packB: " + dt + " not transposed");
        Parallel.forRange(panels, (q0, q1) -> {
            for (int q = q0; q < q1; q++) {
                int j0 = q * NR, w = Math.min(NR, n - j0);
                int base = q * k * NR;
                for (int p = 0; p < k; p++) {                    // b (K, N) F32: NR contiguous floats per row
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
            }
        });
    }

    /**
     * dst[d + t·NR + c] = src[s + c·stride + t] for c, t &lt; VL: a VL × VL block transposed in log₂(VL) rounds, round b
     * swapping bit b of the row index with bit b of the lane (rows c and c | 2^b exchange the lanes whose bit b differs;
     * one two-vector permute each), through tile between rounds.
     */
    private static void transpose(float[] src, int s, int stride, float[] tile, float[] dst, int d) {
        int rounds = Integer.numberOfTrailingZeros(VL);
        for (int b = 0; b < rounds; b++) {
            int bit = 1 << b;
            float[] from = b == 0 ? src : tile, to = b == rounds - 1 ? dst : tile;
            int fOff = b == 0 ? s : 0, fStride = b == 0 ? stride : VL, tOff = b == rounds - 1 ? d : 0, tStride = b == rounds - 1 ? NR : VL;
            FloatVector lo = FloatVector.fromArray(S, SWAP_LO, b * VL), hi = FloatVector.fromArray(S, SWAP_HI, b * VL);
            for (int c = 0; c < VL; c++) {
                if ((c & bit) != 0) continue;
                FloatVector u = FloatVector.fromArray(S, from, fOff + c * fStride), v = FloatVector.fromArray(S, from, fOff + (c | bit) * fStride);
                FloatVector x = lo.selectFrom(u, v), y = hi.selectFrom(u, v);
                x.intoArray(to, tOff + c * tStride);
                y.intoArray(to, tOff + (c | bit) * tStride);
            }
        }
    }

    /**
     * {@link #transpose}'s permutes as float lane indices into (u, v), v's lanes from VL: round b, lane t of the new row
     * c (bit b clear) is u[t] where t's bit b is clear, else v[t − 2^b]; of the new row c | 2^b, u[t + 2^b] or v[t].
     */
    private static final float[] SWAP_LO = new float[Integer.numberOfTrailingZeros(VL) * VL], SWAP_HI = SWAP_LO.clone();

    static {
        for (int b = 0, bit = 1; bit < VL; b++, bit <<= 1)
            for (int t = 0; t < VL; t++) {
                SWAP_LO[b * VL + t] = (t & bit) == 0 ? t : VL + (t ^ bit);
                SWAP_HI[b * VL + t] = (t & bit) == 0 ? t ^ bit : VL + t;
            }
    }

    /**
     * ap[(t·K + p)·MR + r] = op(a)[r0 + t·MR + r, p] for tiles t in [t0, t1), zero for rows past r1: the whole K of a
     * tile, packed once per call (it was packed again for every unit of NP panels: 15% of a 512-row prefill GEMM).
     */
    private static void packA(MemorySegment as, boolean transA, int m, int k, int r0, int r1, int t0, int t1, float[] ap) {
        for (int t = t0; t < t1; t++) {
            int base = t * k * MR, i0 = r0 + t * MR, rows = Math.min(MR, r1 - i0);
            if (rows < MR) Arrays.fill(ap, base, base + k * MR, 0f);
            if (!transA) {                                       // a (M, K): each row read along K
                for (int r = 0; r < rows; r++) {
                    long src = (long) (i0 + r) * k;
                    for (int p = 0; p < k; p++) ap[base + p * MR + r] = as.getAtIndex(Tensor.F32, src + p);
                }
            } else {                                             // a (K, M): the MR rows of a tile are contiguous per p
                for (int p = 0; p < k; p++) {
                    long src = (long) p * m + i0;
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

}
