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
    static void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
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
    static void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
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
                if (i < r1) {   // the tail masked, by the same formula: a channel's value does not depend on the chunking
                    jdk.incubator.vector.VectorMask<Float> m = S.indexInRange(0, r1 - i);
                    silu(FloatVector.fromMemorySegment(S, os, i * 4L, LE, m)).intoMemorySegment(os, i * 4L, LE, m);
                }
            }
        });
    }

}
