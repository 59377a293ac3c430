package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The SSD kernels of {@link CpuKernels} (F32, Vector API, threads over (batch, head)), and Mamba-2's small
 * per-head column ops. The forward is the chunked SSD of mamba_ssm {@code ssd_minimal_discrete}; the backward is
 * the reference's recompute-per-chunk reverse recurrence. Per-thread scratch rows are zero-padded to a multiple of
 * the vector width (P to pp, N to np), so no inner loop needs a scalar tail: padded lanes of B, C and x are 0, which
 * keeps padded state entries exactly 0.
 */
final class CpuSsd {
    private CpuSsd() {}

    private static final VectorSpecies<Float> S = CpuKernels.S;
    private static final int VL = CpuKernels.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[12][0]);
    private static final ThreadLocal<double[][]> DSCRATCH = ThreadLocal.withInitial(() -> new double[1][0]);

    private static float[] scratch(int slot, int size) {
        float[][] sc = SCRATCH.get();
        if (sc[slot].length < size) sc[slot] = new float[size];
        return sc[slot];
    }

    private static double[] dscratch(int size) {
        double[][] sc = DSCRATCH.get();
        if (sc[0].length < size) sc[0] = new double[size];
        return sc[0];
    }

    private static int padded(int k) { return (k + VL - 1) / VL * VL; }

    private static float f(MemorySegment m, long i) { return m.getAtIndex(Tensor.F32, i); }

    /** row[off, off + len) = seg[from, from + len), then zeros up to off + pad. */
    private static void loadRow(MemorySegment seg, long from, int len, float[] row, int off, int pad) {
        MemorySegment.copy(seg, Tensor.F32, from * 4, row, off, len);
        Arrays.fill(row, off + len, off + pad, 0f);
    }

    private static float[] skip(Ssd a) {
        float[] d = new float[a.heads()];
        if (a.d() != null) for (int h = 0; h < d.length; h++) d[h] = a.d().getFloat(h);
        return d;
    }

    // ================================================================ forward

    /** Chunked forward over every (batch, head); S_{t0} of each chunk into chunkStates when given. */
    static void forward(Ssd a, int chunk, Tensor chunkStates) {
        int b = a.batch(), h = a.heads();
        float[] d = skip(a);
        if (a.length() == 1) {   // decode: one recurrence step, the state updated in place
            Parallel.forRange(b * h, 1, (long) b * h * a.headDim() * a.stateSize() * 4, (k0, k1) -> {
                for (int k = k0; k < k1; k++) step(a, chunkStates, k / h, k % h, d[k % h]);
            });
            return;
        }
        if (chunkStates == null && RECURRENT_FORWARD) {   // inference: no chunk states to save
            Parallel.forRange(b * h, (k0, k1) -> {
                for (int k = k0; k < k1; k++) headRecurrence(a, k / h, k % h, d[k % h]);
            });
            return;
        }
        float[] cb = groupProducts(a, chunk);
        Parallel.forRange(b * h, (k0, k1) -> {
            for (int k = k0; k < k1; k++) headForward(a, chunk, chunkStates, k / h, k % h, d[k % h], cb);
        });
    }

    /**
     * Whole sequences without saved chunk states (inference) by the recurrence rather than the chunked form: on these
     * vector units both cost about 6·P·N flops a token and head, and the recurrence keeps one head's state (N × P) in
     * L1/L2 with no Q×Q products, exponentials of differences or passes between chunks. {@code -Dmamba4j.ssd.chunked=true}
     * restores the chunked forward (to compare).
     */
    static final boolean RECURRENT_FORWARD = !Boolean.getBoolean("mamba4j.ssd.chunked");

    /**
     * One (batch, head) over all L steps: S_t = exp(logA_t)·S_{t−1} + s_t·x_t ⊗ B_t; y_t = S_t·C_t + D·x_t. The state
     * is held transposed, st (N, pp), lanes over P: per step and state index j, S[j, :] = decay·S[j, :] + B_t[j]·(s x_t)
     * and y += S[j, :]·C_t[j] with broadcast scalars (no horizontal sums).
     */
    private static void headRecurrence(Ssd a, int bi, int hi, float dSkip) {
        int l = a.length(), h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize(), hpg = h / g, gi = hi / hpg;
        int pp = padded(p);
        MemorySegment xseg = a.x().segment(), la = a.logA().segment(), bs = a.bm().segment(), cs = a.cm().segment(), os = a.out().segment();
        MemorySegment sc = a.scale() == null ? null : a.scale().segment(), st0 = a.state() == null ? null : a.state().segment();
        float[] st = scratch(8, n * pp), xs = scratch(9, pp), y = scratch(10, pp), bc = scratch(11, 2 * n);
        long sBase = ((long) bi * h + hi) * p * n;
        Arrays.fill(st, 0, n * pp, 0f);
        if (st0 != null) loadTransposed(st0, sBase, p, n, st, pp);
        for (int t = 0; t < l; t++) {
            long ih = ((long) bi * l + t) * h + hi, ig = (((long) bi * l + t) * g + gi) * n;
            float decay = (float) Math.exp(f(la, ih)), s = sc == null ? 1f : f(sc, ih);
            loadRow(xseg, ih * p, p, xs, 0, pp);
            MemorySegment.copy(bs, Tensor.F32, ig * 4, bc, 0, n);
            MemorySegment.copy(cs, Tensor.F32, ig * 4, bc, n, n);
            recurrenceStep(st, xs, bc, n, pp, decay, s, y);
            long ix = ih * p;
            for (int pi = 0; pi < p; pi++) os.setAtIndex(Tensor.F32, ix + pi, y[pi] + dSkip * xs[pi]);
        }
        if (st0 != null) storeTransposed(st, pp, st0, sBase, p, n);
    }

    /** st (N, pp) advanced by one step (B in bc[0, n), C in bc[n, 2n)); y[0, pp) = S·C. xs holds x unscaled. */
    private static void recurrenceStep(float[] st, float[] xs, float[] bc, int n, int pp, float decay, float s, float[] y) {
        FloatVector dv = FloatVector.broadcast(S, decay);
        int c = 0;
        // four vectors of P at a time, state index j inner: each j reads and writes one contiguous run of S[j, :], and
        // B[j], C[j] are broadcast once for the four
        for (; c + 4 * VL <= pp; c += 4 * VL) {
            FloatVector x0 = FloatVector.fromArray(S, xs, c).mul(s), x1 = FloatVector.fromArray(S, xs, c + VL).mul(s);
            FloatVector x2 = FloatVector.fromArray(S, xs, c + 2 * VL).mul(s), x3 = FloatVector.fromArray(S, xs, c + 3 * VL).mul(s);
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
            for (int j = 0; j < n; j++) {
                int o = j * pp + c;
                float bj = bc[j];
                FloatVector cj = FloatVector.broadcast(S, bc[n + j]);
                FloatVector s0 = FloatVector.fromArray(S, st, o).fma(dv, x0.mul(bj));
                FloatVector s1 = FloatVector.fromArray(S, st, o + VL).fma(dv, x1.mul(bj));
                FloatVector s2 = FloatVector.fromArray(S, st, o + 2 * VL).fma(dv, x2.mul(bj));
                FloatVector s3 = FloatVector.fromArray(S, st, o + 3 * VL).fma(dv, x3.mul(bj));
                s0.intoArray(st, o);
                s1.intoArray(st, o + VL);
                s2.intoArray(st, o + 2 * VL);
                s3.intoArray(st, o + 3 * VL);
                a0 = s0.fma(cj, a0);
                a1 = s1.fma(cj, a1);
                a2 = s2.fma(cj, a2);
                a3 = s3.fma(cj, a3);
            }
            a0.intoArray(y, c);
            a1.intoArray(y, c + VL);
            a2.intoArray(y, c + 2 * VL);
            a3.intoArray(y, c + 3 * VL);
        }
        for (; c < pp; c += VL) {
            FloatVector sx = FloatVector.fromArray(S, xs, c).mul(s), acc = FloatVector.zero(S);
            for (int j = 0; j < n; j++) {
                int o = j * pp + c;
                FloatVector sv = FloatVector.fromArray(S, st, o).fma(dv, sx.mul(bc[j]));
                sv.intoArray(st, o);
                acc = sv.fma(FloatVector.broadcast(S, bc[n + j]), acc);
            }
            acc.intoArray(y, c);
        }
    }

    /** Floats of C·Bᵀ kept for sharing between the heads of a group (32 MiB); past it each head computes its own. */
    private static final long GROUP_PRODUCTS_MAX = 8L << 20;

    /**
     * C_i·B_j (j ≤ i) of every chunk of every (batch, group), cb[((bi·G + gi)·chunks + c)·Q² + i·Q + j]: the same for
     * all H/G heads of a group, so computed once here instead of once per head ({@link #headForward} does each
     * head's Q²/2 products of length N itself when this returns null: one head per group, or too large).
     */
    private static float[] groupProducts(Ssd a, int chunk) {
        int b = a.batch(), l = a.length(), g = a.groups(), n = a.stateSize(), np = padded(n);
        int q = Math.min(chunk, l), chunks = (l + chunk - 1) / chunk;
        long size = (long) b * g * chunks * q * q;
        if (a.heads() == g || size > GROUP_PRODUCTS_MAX) return null;
        float[] cb = new float[(int) size];
        MemorySegment bs = a.bm().segment(), cs = a.cm().segment();
        Parallel.forRange(b * g * chunks, (u0, u1) -> {
            float[] bc = scratch(2, q * np), cc = scratch(3, q * np);
            for (int u = u0; u < u1; u++) {
                int c = u % chunks, bg = u / chunks, bi = bg / g, gi = bg % g, t0 = c * chunk, len = Math.min(chunk, l - t0);
                for (int i = 0; i < len; i++) {
                    long ig = (((long) bi * l + t0 + i) * g + gi) * n;
                    loadRow(bs, ig, n, bc, i * np, np);
                    loadRow(cs, ig, n, cc, i * np, np);
                }
                int base = u * q * q;
                for (int i = 0; i < len; i++)
                    for (int j = 0; j <= i; j++) cb[base + i * q + j] = dot(cc, i * np, bc, j * np, np);
            }
        });
        return cb;
    }

    /** S = exp(logA)·S + s·x ⊗ B; y = S·C + D·x for L = 1, lanes over N, state rows in place. */
    private static void step(Ssd a, Tensor chunkStates, int bi, int hi, float dSkip) {
        int h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize(), hpg = h / g;
        MemorySegment xs = a.x().segment(), bs = a.bm().segment(), cs = a.cm().segment(), os = a.out().segment();
        MemorySegment st = a.state() == null ? null : a.state().segment();
        long ih = (long) bi * h + hi, ig = ((long) bi * g + hi / hpg) * n, sBase = ih * p * n;
        if (chunkStates != null) {
            if (st != null) MemorySegment.copy(st, sBase * 4, chunkStates.segment(), sBase * 4, (long) p * n * 4);
            else chunkStates.segment().asSlice(sBase * 4, (long) p * n * 4).fill((byte) 0);
        }
        float decay = (float) Math.exp(f(a.logA().segment(), ih)), s = a.scale() == null ? 1f : f(a.scale().segment(), ih);
        for (int pi = 0; pi < p; pi++) {
            float xv = f(xs, ih * p + pi);
            float y = st == null ? stepRowFromZero(bs, cs, ig, n, s * xv) : stepRow(st, sBase + (long) pi * n, bs, cs, ig, n, decay, s * xv);
            os.setAtIndex(Tensor.F32, ih * p + pi, y + dSkip * xv);
        }
    }

    /** One state row in place: S[p, :] = decay·S[p, :] + sx·B; returns S[p, :]·C. (Separate methods keep C2's vectors unboxed.) */
    private static float stepRow(MemorySegment st, long row, MemorySegment bs, MemorySegment cs, long ig, int n, float decay, float sx) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0, bound = S.loopBound(n);
        for (; j < bound; j += VL) {
            FloatVector sv = FloatVector.fromMemorySegment(S, st, (row + j) * 4, LE)
                    .fma(FloatVector.broadcast(S, decay), FloatVector.fromMemorySegment(S, bs, (ig + j) * 4, LE).mul(sx));
            sv.intoMemorySegment(st, (row + j) * 4, LE);
            acc = sv.fma(FloatVector.fromMemorySegment(S, cs, (ig + j) * 4, LE), acc);
        }
        float y = VMath.sum(acc);
        for (; j < n; j++) {
            float sv = decay * f(st, row + j) + sx * f(bs, ig + j);
            st.setAtIndex(Tensor.F32, row + j, sv);
            y += sv * f(cs, ig + j);
        }
        return y;
    }

    /** The first step from S_0 = 0 without a state tensor: returns sx·(B·C). */
    private static float stepRowFromZero(MemorySegment bs, MemorySegment cs, long ig, int n, float sx) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0, bound = S.loopBound(n);
        for (; j < bound; j += VL)
            acc = FloatVector.fromMemorySegment(S, bs, (ig + j) * 4, LE).fma(FloatVector.fromMemorySegment(S, cs, (ig + j) * 4, LE), acc);
        float y = VMath.sum(acc);
        for (; j < n; j++) y += f(bs, ig + j) * f(cs, ig + j);
        return sx * y;
    }

    /*
     * One (batch, head), chunk by chunk (mamba_ssm ssd_minimal_discrete), with cum_i = Σ_{k=t0..t0+i} logA_k:
     *   Y_diag[i, :] = Σ_{j≤i} exp(cum_i − cum_j)·(C_i·B_j)·s_j x_j          intra-chunk, the masked (Q×Q) L ∘ C Bᵀ
     *   Y_off[i, :]  = exp(cum_i)·S_{t0}·C_i                                  state-to-output
     *   S_{t0+Q}     = exp(cum_{Q−1})·S_{t0} + Σ_i exp(cum_{Q−1} − cum_i)·s_i x_i ⊗ B_i     the inter-chunk pass
     * The state is held transposed, st (N, pp), so every product runs in lanes over P with broadcast scalars
     * (no horizontal sums); only C_i·B_j reduces across lanes. cum is summed in double, so exp(cum_i − cum_j)
     * does not lose the small differences of two large sums.
     */
    private static void headForward(Ssd a, int chunk, Tensor chunkStates, int bi, int hi, float dSkip, float[] cb) {
        int l = a.length(), h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize(), hpg = h / g, gi = hi / hpg;
        int pp = padded(p), np = padded(n), q = Math.min(chunk, l), chunks = (l + chunk - 1) / chunk;
        MemorySegment xseg = a.x().segment(), la = a.logA().segment(), bs = a.bm().segment(), cs = a.cm().segment(), os = a.out().segment();
        MemorySegment sc = a.scale() == null ? null : a.scale().segment(), st0 = a.state() == null ? null : a.state().segment();
        float[] st = scratch(0, n * pp), xs = scratch(1, q * pp), bc = scratch(2, q * np), cc = scratch(3, q * np);
        float[] m = scratch(4, q * q), wb = scratch(5, n * q), yrow = scratch(6, pp), w = scratch(7, padded(q));
        double[] cum = dscratch(q);
        long sBase = ((long) bi * h + hi) * p * n;
        Arrays.fill(st, 0, n * pp, 0f);
        if (st0 != null) loadTransposed(st0, sBase, p, n, st, pp);
        for (int c = 0; c < chunks; c++) {
            int t0 = c * chunk, len = Math.min(chunk, l - t0);
            if (chunkStates != null) {
                MemorySegment cseg = chunkStates.segment();
                long cBase = (((long) bi * chunks + c) * h + hi) * p * n;
                for (int pi = 0; pi < p; pi++) for (int j = 0; j < n; j++) cseg.setAtIndex(Tensor.F32, cBase + (long) pi * n + j, st[j * pp + pi]);
            }
            // the chunk's s·x, B and C rows, zero-padded; the cumulative log-decay
            double acc = 0;
            for (int i = 0; i < len; i++) {
                long ih = ((long) bi * l + t0 + i) * h + hi, ig = (((long) bi * l + t0 + i) * g + gi) * n;
                acc += f(la, ih);
                cum[i] = acc;
                loadRow(xseg, ih * p, p, xs, i * pp, pp);
                if (sc != null) {
                    float s = f(sc, ih);
                    for (int pi = 0; pi < p; pi++) xs[i * pp + pi] *= s;
                }
                loadRow(bs, ig, n, bc, i * np, np);
                loadRow(cs, ig, n, cc, i * np, np);
            }
            // m[i, j] = exp(cum_i − cum_j)·(C_i·B_j) for j ≤ i
            for (int i = 0; i < len; i++) {
                int r = i * q;
                for (int j = 0; j <= i; j++) m[r + j] = (float) (cum[i] - cum[j]);
                expInPlace(m, r, i + 1);
                if (cb != null) {
                    int cbRow = (((bi * g + gi) * chunks + c) * q + i) * q;
                    for (int j = 0; j <= i; j++) m[r + j] *= cb[cbRow + j];
                } else for (int j = 0; j <= i; j++) m[r + j] *= dot(cc, i * np, bc, j * np, np);
            }
            // y_i = Y_diag + exp(cum_i)·S_{t0}·C_i + D·x_i
            for (int i = 0; i < len; i++) {
                outputRow(m, i * q, i + 1, xs, st, cc, i * np, n, pp, (float) Math.exp(cum[i]), yrow);
                long ix = (((long) bi * l + t0 + i) * h + hi) * p;
                for (int pi = 0; pi < p; pi++) os.setAtIndex(Tensor.F32, ix + pi, yrow[pi] + dSkip * f(xseg, ix + pi));
            }
            // S ← exp(cum_last)·S + Σ_i exp(cum_last − cum_i)·B_i[n]·s_i x_i
            double last = cum[len - 1];
            for (int i = 0; i < len; i++) w[i] = (float) Math.exp(last - cum[i]);
            for (int j = 0; j < n; j++) for (int i = 0; i < len; i++) wb[j * q + i] = w[i] * bc[i * np + j];
            updateState(st, xs, wb, q, len, n, pp, (float) Math.exp(last));
        }
        if (st0 != null) storeTransposed(st, pp, st0, sBase, p, n);
    }

    /** st[j·pp + pi] = state[base + pi·n + j]: a head's (P, N) state row-major into the transposed (N, pp) scratch. */
    private static void loadTransposed(MemorySegment state, long base, int p, int n, float[] st, int pp) {
        for (int pi = 0; pi < p; pi++) for (int j = 0; j < n; j++) st[j * pp + pi] = f(state, base + (long) pi * n + j);
    }

    /** The inverse of {@link #loadTransposed}. */
    private static void storeTransposed(float[] st, int pp, MemorySegment state, long base, int p, int n) {
        for (int pi = 0; pi < p; pi++) for (int j = 0; j < n; j++) state.setAtIndex(Tensor.F32, base + (long) pi * n + j, st[j * pp + pi]);
    }

    /** a[off, off + len) = exp(a[off, off + len)). */
    private static void expInPlace(float[] a, int off, int len) {
        int j = 0, bound = S.loopBound(len);
        for (; j < bound; j += VL) VMath.exp(FloatVector.fromArray(S, a, off + j)).intoArray(a, off + j);
        for (; j < len; j++) a[off + j] = (float) Math.exp(a[off + j]);
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int len) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S);
        int k = 0;
        for (; k + 2 * VL <= len; k += 2 * VL) {
            s0 = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), s0);
            s1 = FloatVector.fromArray(S, a, ao + k + VL).fma(FloatVector.fromArray(S, b, bo + k + VL), s1);
        }
        if (k < len) s0 = FloatVector.fromArray(S, a, ao + k).fma(FloatVector.fromArray(S, b, bo + k), s0);
        return VMath.sum(s0.add(s1));
    }

    /** yrow (pp) = Σ_{j<cnt} m[mo + j]·xs[j, :] + e·Σ_{k<n} cc[co + k]·st[k, :], four P-vectors at a time. */
    private static void outputRow(float[] m, int mo, int cnt, float[] xs, float[] st, float[] cc, int co, int n, int pp, float e, float[] yrow) {
        FloatVector ev = FloatVector.broadcast(S, e);
        int v = 0;
        for (; v + 4 * VL <= pp; v += 4 * VL) {
            FloatVector d0 = FloatVector.zero(S), d1 = d0, d2 = d0, d3 = d0;
            for (int j = 0; j < cnt; j++) {
                FloatVector mj = FloatVector.broadcast(S, m[mo + j]);
                int o = j * pp + v;
                d0 = FloatVector.fromArray(S, xs, o).fma(mj, d0);
                d1 = FloatVector.fromArray(S, xs, o + VL).fma(mj, d1);
                d2 = FloatVector.fromArray(S, xs, o + 2 * VL).fma(mj, d2);
                d3 = FloatVector.fromArray(S, xs, o + 3 * VL).fma(mj, d3);
            }
            FloatVector o0 = FloatVector.zero(S), o1 = o0, o2 = o0, o3 = o0;
            for (int k = 0; k < n; k++) {
                FloatVector ck = FloatVector.broadcast(S, cc[co + k]);
                int o = k * pp + v;
                o0 = FloatVector.fromArray(S, st, o).fma(ck, o0);
                o1 = FloatVector.fromArray(S, st, o + VL).fma(ck, o1);
                o2 = FloatVector.fromArray(S, st, o + 2 * VL).fma(ck, o2);
                o3 = FloatVector.fromArray(S, st, o + 3 * VL).fma(ck, o3);
            }
            o0.fma(ev, d0).intoArray(yrow, v);
            o1.fma(ev, d1).intoArray(yrow, v + VL);
            o2.fma(ev, d2).intoArray(yrow, v + 2 * VL);
            o3.fma(ev, d3).intoArray(yrow, v + 3 * VL);
        }
        for (; v < pp; v += VL) {
            FloatVector d0 = FloatVector.zero(S), o0 = d0;
            for (int j = 0; j < cnt; j++) d0 = FloatVector.fromArray(S, xs, j * pp + v).fma(FloatVector.broadcast(S, m[mo + j]), d0);
            for (int k = 0; k < n; k++) o0 = FloatVector.fromArray(S, st, k * pp + v).fma(FloatVector.broadcast(S, cc[co + k]), o0);
            o0.fma(ev, d0).intoArray(yrow, v);
        }
    }

    /** st[k, :] = decay·st[k, :] + Σ_{i<len} wb[k, i]·xs[i, :] for k < n, four P-vectors at a time. */
    private static void updateState(float[] st, float[] xs, float[] wb, int q, int len, int n, int pp, float decay) {
        for (int k = 0; k < n; k++) {
            int so = k * pp, wo = k * q, v = 0;
            for (; v + 4 * VL <= pp; v += 4 * VL) {
                FloatVector a0 = FloatVector.fromArray(S, st, so + v).mul(decay), a1 = FloatVector.fromArray(S, st, so + v + VL).mul(decay);
                FloatVector a2 = FloatVector.fromArray(S, st, so + v + 2 * VL).mul(decay), a3 = FloatVector.fromArray(S, st, so + v + 3 * VL).mul(decay);
                for (int i = 0; i < len; i++) {
                    FloatVector wi = FloatVector.broadcast(S, wb[wo + i]);
                    int o = i * pp + v;
                    a0 = FloatVector.fromArray(S, xs, o).fma(wi, a0);
                    a1 = FloatVector.fromArray(S, xs, o + VL).fma(wi, a1);
                    a2 = FloatVector.fromArray(S, xs, o + 2 * VL).fma(wi, a2);
                    a3 = FloatVector.fromArray(S, xs, o + 3 * VL).fma(wi, a3);
                }
                a0.intoArray(st, so + v);
                a1.intoArray(st, so + v + VL);
                a2.intoArray(st, so + v + 2 * VL);
                a3.intoArray(st, so + v + 3 * VL);
            }
            for (; v < pp; v += VL) {
                FloatVector a0 = FloatVector.fromArray(S, st, so + v).mul(decay);
                for (int i = 0; i < len; i++) a0 = FloatVector.fromArray(S, xs, i * pp + v).fma(FloatVector.broadcast(S, wb[wo + i]), a0);
                a0.intoArray(st, so + v);
            }
        }
    }

    // ================================================================ backward

    /**
     * The reference's derivative (see mamba4j.core.SsdReference.backward), threads over (batch, head): each
     * thread recomputes a chunk's states (chunk + 1, P, np) from chunkStates, then walks it in reverse with lanes
     * over N. dB and dC (shared by the H/G heads of a group) and dD go to per-part partials summed at the end.
     */
    static void backward(Ssd a, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads gr) {
        int b = a.batch(), l = a.length(), h = a.heads(), g = a.groups(), n = a.stateSize();
        int tasks = b * h, parts = Math.min(Parallel.threads(), tasks);
        int bln = Math.toIntExact((long) b * l * g * n);
        float[] d = skip(a);
        float[][] dBp = new float[parts][], dCp = new float[parts][];
        double[][] dDp = new double[parts][];
        Parallel.forRange(parts, (p0, p1) -> {
            for (int part = p0; part < p1; part++) {
                float[] pdB = gr.dB() == null ? null : new float[bln], pdC = gr.dC() == null ? null : new float[bln];
                double[] pdD = new double[h];
                dBp[part] = pdB;
                dCp[part] = pdC;
                dDp[part] = pdD;
                int k0 = (int) ((long) tasks * part / parts), k1 = (int) ((long) tasks * (part + 1) / parts);
                for (int k = k0; k < k1; k++) headBackward(a, chunk, chunkStates, dOut, gr, k / h, k % h, d[k % h], pdB, pdC, pdD);
            }
        });
        reduceParts(gr.dB(), dBp, bln);
        reduceParts(gr.dC(), dCp, bln);
        if (gr.dD() != null)
            for (int hi = 0; hi < h; hi++) {
                double acc = gr.dD().getFloat(hi);
                for (double[] pd : dDp) acc += pd[hi];
                gr.dD().setFloat(hi, (float) acc);
            }
    }

    private static void reduceParts(Tensor out, float[][] partial, int size) {
        if (out == null) return;
        MemorySegment os = out.segment();
        Parallel.forRange(size, VL * 64, (i0, i1) -> {
            int i = i0, bound = i0 + S.loopBound(i1 - i0);
            for (; i < bound; i += VL) {
                FloatVector acc = FloatVector.zero(S);
                for (float[] pt : partial) acc = acc.add(FloatVector.fromArray(S, pt, i));
                acc.intoMemorySegment(os, i * 4L, LE);
            }
            for (; i < i1; i++) {
                float acc = 0f;
                for (float[] pt : partial) acc += pt[i];
                os.setAtIndex(Tensor.F32, i, acc);
            }
        });
    }

    private static void headBackward(Ssd a, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads gr, int bi, int hi, float dSkip,
                                     float[] pdB, float[] pdC, double[] pdD) {
        int l = a.length(), h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize(), hpg = h / g, gi = hi / hpg;
        int np = padded(n), pnp = p * np, q = Math.min(chunk, l), chunks = (l + chunk - 1) / chunk;
        MemorySegment xseg = a.x().segment(), la = a.logA().segment(), bs = a.bm().segment(), cs = a.cm().segment(), cst = chunkStates.segment();
        MemorySegment sc = a.scale() == null ? null : a.scale().segment(), dos = dOut.segment(), dxs = gr.dx().segment(), dls = gr.dLogA().segment();
        MemorySegment dss = gr.dScale() == null ? null : gr.dScale().segment();
        float[] hs = scratch(0, (q + 1) * pnp), carry = scratch(1, pnp), bc = scratch(2, q * np), cc = scratch(3, q * np);
        float[] xr = scratch(4, q * p), dyr = scratch(5, p), accB = scratch(6, np), accC = scratch(7, np), dec = scratch(8, q), ss = scratch(9, q);
        Arrays.fill(carry, 0, pnp, 0f);
        double dDacc = 0;
        for (int c = chunks - 1; c >= 0; c--) {
            int t0 = c * chunk, len = Math.min(chunk, l - t0);
            long cBase = (((long) bi * chunks + c) * h + hi) * p * n;
            for (int pi = 0; pi < p; pi++) loadRow(cst, cBase + (long) pi * n, n, hs, pi * np, np);
            for (int i = 0; i < len; i++) {   // recompute S_{t0+i} into hs[i + 1]
                long ih = ((long) bi * l + t0 + i) * h + hi, ig = (((long) bi * l + t0 + i) * g + gi) * n;
                float decay = (float) Math.exp(f(la, ih)), s = sc == null ? 1f : f(sc, ih);
                dec[i] = decay;
                ss[i] = s;
                loadRow(bs, ig, n, bc, i * np, np);
                loadRow(cs, ig, n, cc, i * np, np);
                MemorySegment.copy(xseg, Tensor.F32, ih * p * 4, xr, i * p, p);
                recomputeStep(hs, i * pnp, bc, i * np, xr, i * p, p, np, decay, s);
            }
            for (int i = len - 1; i >= 0; i--) {
                long ih = ((long) bi * l + t0 + i) * h + hi, ig = (((long) bi * l + t0 + i) * g + gi) * n;
                MemorySegment.copy(dos, Tensor.F32, ih * p * 4, dyr, 0, p);
                dDacc += reverseStep(hs, i * pnp, carry, bc, cc, i * np, xr, i * p, dyr, p, np, dec[i], ss[i], dSkip, accB, accC, dxs, ih * p);
                float[] outs = scratch(10, 2);   // ds, dlogA of the step (see reverseStep)
                dls.setAtIndex(Tensor.F32, ih, outs[1]);
                if (dss != null) dss.setAtIndex(Tensor.F32, ih, outs[0]);
                if (pdC != null) for (int j = 0; j < n; j++) pdC[(int) ig + j] += accC[j];
                if (pdB != null) { float s = ss[i]; for (int j = 0; j < n; j++) pdB[(int) ig + j] += s * accB[j]; }
            }
        }
        if (gr.dState0() != null) {
            MemorySegment d0 = gr.dState0().segment();
            long sBase = ((long) bi * h + hi) * p * n;
            for (int pi = 0; pi < p; pi++) MemorySegment.copy(carry, pi * np, d0, Tensor.F32, (sBase + (long) pi * n) * 4, n);
        }
        pdD[hi] += dDacc;
    }

    /** hs[next] = decay·hs[prev] + s·x ⊗ B, state rows (P, np) in lanes over N. */
    private static void recomputeStep(float[] hs, int prev, float[] bc, int bo, float[] xr, int xo, int p, int np, float decay, float s) {
        int next = prev + p * np;
        FloatVector dv = FloatVector.broadcast(S, decay);
        for (int pi = 0; pi < p; pi++) {
            FloatVector sx = FloatVector.broadcast(S, s * xr[xo + pi]);
            for (int v = 0; v < np; v += VL)
                FloatVector.fromArray(S, hs, prev + pi * np + v).fma(dv, FloatVector.fromArray(S, bc, bo + v).mul(sx)).intoArray(hs, next + pi * np + v);
        }
    }

    /**
     * One reverse step in lanes over N: dS = carry + C ⊗ dy; accC = Σ_p S_t[p, :]·dy_p; accB = Σ_p dS[p, :]·x_p;
     * u_p = dS[p, :]·B → dx_p = s·u_p + D·dy_p; ds = Σ_p u_p x_p; dlogA = decay·Σ dS ⊙ S_{t−1}; carry = decay·dS.
     * ds and dlogA go to scratch slot 10; returns Σ_p dy_p x_p (this step's dD term).
     */
    private static double reverseStep(float[] hs, int prev, float[] carry, float[] bc, float[] cc, int ro, float[] xr, int xo, float[] dyr,
                                      int p, int np, float decay, float s, float dSkip, float[] accB, float[] accC, MemorySegment dxs, long dxo) {
        int pnp = p * np, cur = prev + pnp;
        Arrays.fill(accB, 0, np, 0f);
        Arrays.fill(accC, 0, np, 0f);
        FloatVector dla = FloatVector.zero(S);
        double ds = 0, dD = 0;
        for (int pi = 0; pi < p; pi++) {
            float dy = dyr[pi], xv = xr[xo + pi];
            FloatVector u = FloatVector.zero(S), dyv = FloatVector.broadcast(S, dy), xvv = FloatVector.broadcast(S, xv);
            int row = pi * np;
            for (int v = 0; v < np; v += VL) {
                FloatVector dS = FloatVector.fromArray(S, cc, ro + v).fma(dyv, FloatVector.fromArray(S, carry, row + v));
                FloatVector.fromArray(S, hs, cur + row + v).fma(dyv, FloatVector.fromArray(S, accC, v)).intoArray(accC, v);
                dS.fma(xvv, FloatVector.fromArray(S, accB, v)).intoArray(accB, v);
                u = dS.fma(FloatVector.fromArray(S, bc, ro + v), u);
                dla = dS.fma(FloatVector.fromArray(S, hs, prev + row + v), dla);
                dS.mul(decay).intoArray(carry, row + v);
            }
            float uv = VMath.sum(u);
            dxs.setAtIndex(Tensor.F32, dxo + pi, s * uv + dSkip * dy);
            ds += uv * xv;
            dD += dy * xv;
        }
        float[] outs = scratch(10, 2);
        outs[0] = (float) ds;
        outs[1] = decay * VMath.sum(dla);
        return dD;
    }

    // ================================================================ per-head column ops of Mamba-2 (x (M, H), lanes over H)

    /** out = clamp(softplus(x + bias), lo, hi); threads over rows. */
    static void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        int h = x.size(-1), rows = Math.toIntExact(x.numel() / h);
        MemorySegment xs = x.segment(), os = out.segment();
        float[] bv = bias == null ? new float[padded(h)] : Arrays.copyOf(bias.toFloatArray(), padded(h));
        Parallel.forRange(rows, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long o = (long) r * h;
                int j = 0, bound = S.loopBound(h);
                for (; j < bound; j += VL) {
                    FloatVector v = FloatVector.fromMemorySegment(S, xs, (o + j) * 4, LE).add(FloatVector.fromArray(S, bv, j));
                    CpuElementwise.softplus(v).max(lo).min(hi).intoMemorySegment(os, (o + j) * 4, LE);
                }
                for (; j < h; j++) os.setAtIndex(Tensor.F32, o + j, Math.min(Math.max(Formulas.softplus(f(xs, o + j) + bv[j]), lo), hi));
            }
        });
    }

    /** dx = dy·σ(x + b) where lo < softplus(x + b) < hi, else 0; dBias += Σ_rows dx through per-part partials. */
    static void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        int h = x.size(-1), rows = Math.toIntExact(x.numel() / h), hp = padded(h);
        MemorySegment xs = x.segment(), gs = dy.segment(), dxs = dx.segment();
        float[] bv = bias == null ? new float[hp] : Arrays.copyOf(bias.toFloatArray(), hp);
        int parts = Math.max(1, Math.min(Parallel.threads(), rows / 64));
        float[][] partial = new float[parts][];
        Parallel.forRange(parts, (p0, p1) -> {
            for (int part = p0; part < p1; part++) {
                float[] acc = new float[hp];
                partial[part] = acc;
                for (int r = (int) ((long) rows * part / parts), r1 = (int) ((long) rows * (part + 1) / parts); r < r1; r++) {
                    long o = (long) r * h;
                    int j = 0, bound = S.loopBound(h);
                    for (; j < bound; j += VL) {
                        FloatVector v = FloatVector.fromMemorySegment(S, xs, (o + j) * 4, LE).add(FloatVector.fromArray(S, bv, j));
                        FloatVector sp = CpuElementwise.softplus(v), sig = FloatVector.broadcast(S, 1f).div(VMath.exp(v.neg()).add(1f));
                        FloatVector gv = FloatVector.fromMemorySegment(S, gs, (o + j) * 4, LE).mul(sig)
                                .blend(0f, sp.compare(VectorOperators.LE, lo).or(sp.compare(VectorOperators.GE, hi)));
                        gv.intoMemorySegment(dxs, (o + j) * 4, LE);
                        gv.add(FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
                    }
                    for (; j < h; j++) {
                        float v = f(xs, o + j) + bv[j], sp = Formulas.softplus(v);
                        float gv = sp > lo && sp < hi ? f(gs, o + j) * (float) Formulas.softplusGrad((double) v) : 0f;
                        dxs.setAtIndex(Tensor.F32, o + j, gv);
                        acc[j] += gv;
                    }
                }
            }
        });
        if (dBias != null)
            for (int j = 0; j < h; j++) {
                float acc = dBias.getFloat(j);
                for (float[] pt : partial) acc += pt[j];
                dBias.setFloat(j, acc);
            }
    }

    /** out[m, h] = x[m, h]·a[h]; threads over rows. */
    static void mulColumns(Tensor x, Tensor a, Tensor out) {
        int h = x.size(-1), rows = Math.toIntExact(x.numel() / h);
        MemorySegment xs = x.segment(), os = out.segment();
        float[] av = Arrays.copyOf(a.toFloatArray(), padded(h));
        Parallel.forRange(rows, 64, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long o = (long) r * h;
                int j = 0, bound = S.loopBound(h);
                for (; j < bound; j += VL)
                    FloatVector.fromMemorySegment(S, xs, (o + j) * 4, LE).mul(FloatVector.fromArray(S, av, j)).intoMemorySegment(os, (o + j) * 4, LE);
                for (; j < h; j++) os.setAtIndex(Tensor.F32, o + j, f(xs, o + j) * av[j]);
            }
        });
    }

    /** dx = dy·a (when dx is given); da += Σ_rows dy·x through per-part partials (when da is given). */
    static void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        int h = x.size(-1), rows = Math.toIntExact(x.numel() / h), hp = padded(h);
        MemorySegment xs = x.segment(), gs = dy.segment(), dxs = dx == null ? null : dx.segment();
        float[] av = Arrays.copyOf(a.toFloatArray(), hp);
        int parts = Math.max(1, Math.min(Parallel.threads(), rows / 64));
        float[][] partial = new float[parts][];
        Parallel.forRange(parts, (p0, p1) -> {
            for (int part = p0; part < p1; part++) {
                float[] acc = new float[hp];
                partial[part] = acc;
                for (int r = (int) ((long) rows * part / parts), r1 = (int) ((long) rows * (part + 1) / parts); r < r1; r++) {
                    long o = (long) r * h;
                    int j = 0, bound = S.loopBound(h);
                    for (; j < bound; j += VL) {
                        FloatVector gv = FloatVector.fromMemorySegment(S, gs, (o + j) * 4, LE);
                        if (dxs != null) gv.mul(FloatVector.fromArray(S, av, j)).intoMemorySegment(dxs, (o + j) * 4, LE);
                        gv.fma(FloatVector.fromMemorySegment(S, xs, (o + j) * 4, LE), FloatVector.fromArray(S, acc, j)).intoArray(acc, j);
                    }
                    for (; j < h; j++) {
                        float gv = f(gs, o + j);
                        if (dxs != null) dxs.setAtIndex(Tensor.F32, o + j, gv * av[j]);
                        acc[j] += gv * f(xs, o + j);
                    }
                }
            }
        });
        if (da != null)
            for (int j = 0; j < h; j++) {
                float acc = da.getFloat(j);
                for (float[] pt : partial) acc += pt[j];
                da.setFloat(j, acc);
            }
    }
}
