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

/** The fused selective scan of Mamba-1 (whole sequence and one step), states in a per-thread scratch, never stored per step. Called by {@link CpuKernels}, which routes to the reference when the Vector API is off. */
final class CpuScan {
    private CpuScan() {}

    // ---------------------------------------------------------------- selective scan

    /**
     * Same as the reference; differs in running VL channels at once in vector lanes (u, Δ, z are
     * channels-last, so their loads are contiguous) with the VL × N state in a per-thread scratch that stays
     * in L1. One pass over L per (batch, channel block); threads split the blocks; states are never stored
     * per time step. Channels past the last full block run the scalar loop.
     */
    static void selectiveScan(SelectiveScan s) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        if (l == 1 && s.state() != null) {                  // decode: lanes over N, state rows used in place
            int blocks = (e + VL - 1) / VL;
            Parallel.forRange(b * blocks, 8, (long) b * e * n * 8, (r0, r1) -> {
                float[][] sc = SCRATCH.get();
                if (sc[1].length < 3 * VL + VL * VL) sc[1] = new float[3 * VL + VL * VL];
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
        if (n == VL) stepStates16(as, st, bm, cm, ((long) bi * e + e0) * n * 4, (long) e0 * n * 4, bBase, sc);
        else
            for (int lane = 0; lane < VL; lane++) {
                float dtc = sc[lane], du = sc[VL + lane];
                long ch = e0 + lane;
                sc[2 * VL + lane] = stepState(as, st, bm, cm, ch * n * 4, ((long) bi * e + ch) * n * 4, bBase, n, dtc, du);
            }
        FloatVector y = FloatVector.fromArray(S, sc, 2 * VL);
        if (s.d() != null) y = y.add(FloatVector.fromMemorySegment(S, s.d().segment(), e0 * 4L, LE).mul(u));
        if (s.z() != null) y = y.mul(silu(FloatVector.fromMemorySegment(S, s.z().segment(), ie, LE)));
        y.intoMemorySegment(s.out().segment(), ie, LE);
    }

    /**
     * {@link #stepState} of VL channels whose state rows are one vector each (N = VL, Mamba-1's d_state 16 with 16 lanes):
     * B and C loaded once for all, each channel's h·C spilled to sc[3·VL + lane·VL …] and the VL sums taken together
     * by {@link VMath#sumEach} into sc[2·VL …] (one horizontal sum per channel costs more than the channel's update).
     */
    private static void stepStates16(MemorySegment as, MemorySegment st, MemorySegment bm, MemorySegment cm, long hBase, long aBase,
                                     long bBase, float[] sc) {
        FloatVector b = FloatVector.fromMemorySegment(S, bm, bBase, LE), c = FloatVector.fromMemorySegment(S, cm, bBase, LE);
        for (int lane = 0; lane < VL; lane++) {
            long off = (long) lane * VL * 4;
            FloatVector dA = VMath.exp(FloatVector.fromMemorySegment(S, as, aBase + off, LE).mul(sc[lane]));
            FloatVector h = FloatVector.fromMemorySegment(S, st, hBase + off, LE).fma(dA, b.mul(sc[VL + lane]));
            h.intoMemorySegment(st, hBase + off, LE);
            h.mul(c).intoArray(sc, 3 * VL + lane * VL);
        }
        VMath.sumEach(sc, 3 * VL);
        System.arraycopy(sc, 3 * VL, sc, 2 * VL, VL);
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
        float y = stepState(as, st, bm, cm, (long) ch * n * 4, ie * n * 4, (long) bi * n * 4, n, dt, du);
        if (s.d() != null) y += s.d().segment().getAtIndex(Tensor.F32, ch) * u;
        if (s.z() != null) y *= Formulas.silu(s.z().segment().getAtIndex(Tensor.F32, ie));
        s.out().segment().setAtIndex(Tensor.F32, ie, y);
    }

    /**
     * One channel's state row advanced one step in place, lanes over N: h = exp(Δ·A)·h + Δu·B; returns h·C. aBase, hBase,
     * bBase: byte offsets of the channel's A row, its state row and the step's B/C row.
     */
    private static float stepState(MemorySegment as, MemorySegment st, MemorySegment bm, MemorySegment cm, long aBase, long hBase,
                                   long bBase, int n, float dt, float du) {
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
            float h = (float) Math.exp(dt * as.getAtIndex(Tensor.F32, aBase / 4 + j)) * st.getAtIndex(Tensor.F32, hBase / 4 + j)
                    + du * bm.getAtIndex(Tensor.F32, bBase / 4 + j);
            st.setAtIndex(Tensor.F32, hBase / 4 + j, h);
            y += h * cm.getAtIndex(Tensor.F32, bBase / 4 + j);
        }
        return y;
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

}
