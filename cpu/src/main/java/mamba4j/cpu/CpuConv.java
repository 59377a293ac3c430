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

import static mamba4j.cpu.CpuElementwise.silu;
import static mamba4j.cpu.CpuElementwise.softplus;
import static mamba4j.cpu.CpuKernels.LE;
import static mamba4j.cpu.CpuKernels.S;
import static mamba4j.cpu.CpuKernels.SCRATCH;
import static mamba4j.cpu.CpuKernels.VL;

/** The causal depthwise conv1d (+SiLU) over whole sequences and its single-step form on the conv state. Called by {@link CpuKernels}, which routes to the reference when the Vector API is off. */
final class CpuConv {
    private CpuConv() {}

    // ---------------------------------------------------------------- conv

    /** Lanes run over channels (x is channels-last); the (C, K) kernel is transposed to (K, C) once per call. */
    static void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) { causalConv1d(null, x, w, bias, silu, out); }

    /**
     * As {@link #causalConv1d(Tensor, Tensor, Tensor, boolean, Tensor)} over [history | x] when state (B, C, K) is
     * given (Kernels.causalConv1dContinue): its last K − 1 inputs are transposed to (B, K − 1, C) once, read where the
     * window reaches before t = 0, and the state is left holding the last K inputs.
     */
    static void causalConv1d(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        causalConv1d(state, x, w, bias, silu, out, null);
    }

    /**
     * As above with the output split by channels into parts (B, L, width_i) when {@code parts} is given (out then
     * unused): each row is computed into a per-thread buffer and its column ranges copied out while in L1
     * (Kernels.causalConv1dSplit: Mamba-2's x | B | C).
     */
    static void causalConv1d(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out, Tensor[] parts) {
        int b = x.size(0), l = x.size(1), c = x.size(2), k = w.size(1);
        float[] hist = state == null ? null : new float[b * (k - 1) * c];   // hist[(bi·(K − 1) + K − 1 + p)·C + ch] = input at p < 0
        if (state != null)
            for (int bi = 0; bi < b; bi++)
                for (int ch = 0; ch < c; ch++)
                    for (int j = 1; j < k; j++) hist[(bi * (k - 1) + j - 1) * c + ch] = state.getFloat(((long) bi * c + ch) * k + j);
        float[] wt = new float[k * c];
        for (int ch = 0; ch < c; ch++) for (int j = 0; j < k; j++) wt[j * c + ch] = w.getFloat((long) ch * k + j);
        float[] bs = new float[c];
        if (bias != null) for (int ch = 0; ch < c; ch++) bs[ch] = bias.getFloat(ch);
        MemorySegment xs = x.segment(), os = parts == null ? out.segment() : null;
        int bound = S.loopBound(c);
        Parallel.forRange(b * l, Math.max(1, 2048 / c), (r0, r1) -> {
            float[] rowBuf = parts == null ? null : new float[c];   // an array, not a heap segment: os stays native at its call sites
            for (int r = r0; r < r1; r++) {
                int t = r % l, hj = hist == null ? Math.max(0, k - 1 - t) : 0;   // the first tap read from x
                long row = (long) r * c;
                int hrow = (r / l) * (k - 1) + t;                               // history row of tap j: hrow + j
                int ch = 0;
                for (; ch < bound; ch += VL) {
                    FloatVector acc = FloatVector.fromArray(S, bs, ch);
                    for (int j = hj; j < k - 1 - t; j++)
                        acc = FloatVector.fromArray(S, hist, (hrow + j) * c + ch).fma(FloatVector.fromArray(S, wt, j * c + ch), acc);
                    for (int j = Math.max(hj, k - 1 - t); j < k; j++) {
                        long src = (row + (long) (j - k + 1) * c + ch) * 4;
                        acc = FloatVector.fromMemorySegment(S, xs, src, LE).fma(FloatVector.fromArray(S, wt, j * c + ch), acc);
                    }
                    FloatVector v = silu ? silu(acc) : acc;
                    if (rowBuf == null) v.intoMemorySegment(os, (row + ch) * 4, LE);
                    else v.intoArray(rowBuf, ch);
                }
                for (; ch < c; ch++) {
                    float acc = bs[ch];
                    for (int j = hj; j < k - 1 - t; j++) acc += wt[j * c + ch] * hist[(hrow + j) * c + ch];
                    for (int j = Math.max(hj, k - 1 - t); j < k; j++)
                        acc += wt[j * c + ch] * xs.getAtIndex(Tensor.F32, row + (long) (j - k + 1) * c + ch);
                    float v = silu ? Formulas.silu(acc) : acc;
                    if (rowBuf == null) os.setAtIndex(Tensor.F32, row + ch, v);
                    else rowBuf[ch] = v;
                }
                if (rowBuf != null) {   // the row's column ranges into the parts
                    int col = 0;
                    for (Tensor p : parts) {
                        int pw = p.size(2);
                        MemorySegment.copy(rowBuf, col, p.segment(), Tensor.F32, (long) r * pw * 4, pw);
                        col += pw;
                    }
                }
            }
        });
        if (state == null) return;
        for (int bi = 0; bi < b; bi++)                                     // the last K inputs of [history | x]
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < k; j++) {
                    int p = l - k + j;
                    state.setFloat(((long) bi * c + ch) * k + j, p >= 0 ? x.getFloat(((long) bi * l + p) * c + ch)
                            : hist[(bi * (k - 1) + k - 1 + p) * c + ch]);
                }
    }

    // step16's lane maps (16 lanes = 4 channels × 4 taps): shift each channel's taps left by one; the lane of tap j
    // + t of the same channel; x (or bias) of channel 4q + g to lane 4g + 3 (4g); lane 4g's sum to lane 4q + g
    private static final jdk.incubator.vector.VectorShuffle<Float> SHIFT1 = shuffle(i -> i % 4 == 3 ? i : i + 1),
            NEXT1 = shuffle(i -> i + 1 & 15), NEXT2 = shuffle(i -> i + 2 & 15), NEXT3 = shuffle(i -> i + 3 & 15);
    private static final jdk.incubator.vector.VectorShuffle<Float>[] SPREAD = new jdk.incubator.vector.VectorShuffle[4], GATHER = new jdk.incubator.vector.VectorShuffle[4];
    private static final jdk.incubator.vector.VectorMask<Float> LAST_TAP = mask(i -> i % 4 == 3);
    private static final jdk.incubator.vector.VectorMask<Float>[] QUARTER = new jdk.incubator.vector.VectorMask[4];
    static {
        for (int q = 0; q < 4; q++) {
            int qq = q;
            SPREAD[q] = shuffle(i -> 4 * qq + i / 4);
            GATHER[q] = shuffle(i -> i / 4 == qq ? 4 * (i % 4) : 0);
            QUARTER[q] = mask(i -> i / 4 == qq);
        }
    }

    private static jdk.incubator.vector.VectorShuffle<Float> shuffle(java.util.function.IntUnaryOperator f) {
        int[] m = new int[VL];
        for (int i = 0; i < VL; i++) m[i] = VL == 16 ? f.applyAsInt(i) : i;
        return jdk.incubator.vector.VectorShuffle.fromArray(S, m, 0);
    }

    private static jdk.incubator.vector.VectorMask<Float> mask(java.util.function.IntPredicate f) {
        boolean[] m = new boolean[VL];
        for (int i = 0; i < VL; i++) m[i] = VL == 16 && f.test(i);
        return jdk.incubator.vector.VectorMask.fromArray(S, m, 0);
    }

    /**
     * The decode conv step of channels r … r + 15 (ch … ch + 15 of one batch row; K = 4, 16 lanes) in vector lanes:
     * each channel's 4 taps shifted left with x entering the last, then bias + Σ taps·w summed tap by tap in the
     * scalar loop's order (so the values are the scalar loop's, bit for bit).
     */
    private static void step16(MemorySegment ss, MemorySegment xs, MemorySegment ws, MemorySegment bsg, MemorySegment os, int r, int ch) {
        FloatVector xv = FloatVector.fromMemorySegment(S, xs, r * 4L, LE);
        FloatVector bv = bsg == null ? FloatVector.zero(S) : FloatVector.fromMemorySegment(S, bsg, ch * 4L, LE);
        FloatVector acc = FloatVector.zero(S);
        for (int q = 0; q < 4; q++) {
            long so = ((long) r + 4 * q) * 16, wo = ((long) ch + 4 * q) * 16;
            FloatVector st = FloatVector.fromMemorySegment(S, ss, so, LE).rearrange(SHIFT1).blend(xv.rearrange(SPREAD[q]), LAST_TAP);
            st.intoMemorySegment(ss, so, LE);
            FloatVector p = st.mul(FloatVector.fromMemorySegment(S, ws, wo, LE));      // tap products, lanes 4g + j
            FloatVector sum = bv.rearrange(SPREAD[q]).add(p).add(p.rearrange(NEXT1)).add(p.rearrange(NEXT2)).add(p.rearrange(NEXT3));
            acc = acc.blend(sum.rearrange(GATHER[q]), QUARTER[q]);                       // lane 4g holds channel 4q + g
        }
        acc.intoMemorySegment(os, r * 4L, LE);
    }

    /**
     * Same as the reference; differs in doing the shift and the K-tap dot per channel in scalar code (K is tiny; with
     * K = 4, 16 channels at a time in vector lanes: {@link #step16}) and the SiLU afterwards in vector lanes.
     */
    static void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = state.size(0), c = state.size(1), k = state.size(2);
        MemorySegment ss = state.segment(), xs = x.segment(), ws = w.segment(), os = out.segment();
        MemorySegment bsg = bias == null ? null : bias.segment();
        boolean lanes = VL == 16 && k == 4 && c % 16 == 0;            // 16 channels at a time in 4 vectors of 4 taps
        Parallel.forRange(b * c, 256, (long) b * c * k * 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                if (lanes) {
                    step16(ss, xs, ws, bsg, os, r, r % c);
                    r += 15;
                    continue;
                }
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
                if (i < r1) {   // the tail masked, by the same formula: a channel's value does not depend on the chunking
                    jdk.incubator.vector.VectorMask<Float> m = S.indexInRange(0, r1 - i);
                    silu(FloatVector.fromMemorySegment(S, os, i * 4L, LE, m)).intoMemorySegment(os, i * 4L, LE, m);
                }
            }
        });
    }

}
