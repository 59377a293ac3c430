package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The Transformer-teacher kernels of {@link CpuKernels}: LayerNorm, gelu_new, rotary embedding and causal
 * attention. Same as the Reference ops of the same names; differ in float32 arithmetic, Vector API lanes over
 * the head/feature dim and threads over rows.
 *
 * <p>Attention is FlashAttention's algorithm (Dao et al. 2022) on one query row at a time: keys in tiles of
 * {@link #TILE}, a running max and sum (online softmax) and a rescaled accumulator, so memory is O(TILE + Dh)
 * per thread and the (T, T) score matrix never exists. The backward recomputes scores from q, k and the saved
 * logsumexp in two race-free passes: dq by query rows, then dk and dv by key rows.
 */
final class CpuAttention {
    private CpuAttention() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final int TILE = 64;
    private static final float GELU_C = (float) Math.sqrt(2.0 / Math.PI);
    /** Per-thread scratch: [0] a query row, [1] the accumulator, [2] a tile (or row) of scores, [3] a second row. */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[4][0]);

    private static float[][] scratch(int dh, int scores) {
        float[][] s = SCRATCH.get();
        if (s[0].length < dh) { s[0] = new float[dh]; s[1] = new float[dh]; s[3] = new float[dh]; }
        if (s[2].length < scores) s[2] = new float[scores];
        return s;
    }

    // ---------------------------------------------------------------- small vector helpers

    /** Σ a[aOff + d] · b[bOff + d] over n floats of two segments (byte offsets). */
    private static float dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        int d = 0;
        float acc = 0f;
        if (n >= VL) {
            FloatVector v = FloatVector.zero(S);
            for (int bound = S.loopBound(n); d < bound; d += VL)
                v = FloatVector.fromMemorySegment(S, a, aOff + d * 4L, LE).fma(FloatVector.fromMemorySegment(S, b, bOff + d * 4L, LE), v);
            acc = VMath.sum(v);
        }
        for (; d < n; d++) acc += a.getAtIndex(Tensor.F32, aOff / 4 + d) * b.getAtIndex(Tensor.F32, bOff / 4 + d);
        return acc;
    }

    /** Σ q[d] · b[bOff + d] for a heap row q. */
    private static float dot(float[] q, MemorySegment b, long bOff, int n) {
        int d = 0;
        float acc = 0f;
        if (n >= VL) {
            FloatVector v = FloatVector.zero(S);
            for (int bound = S.loopBound(n); d < bound; d += VL)
                v = FloatVector.fromArray(S, q, d).fma(FloatVector.fromMemorySegment(S, b, bOff + d * 4L, LE), v);
            acc = VMath.sum(v);
        }
        for (; d < n; d++) acc += q[d] * b.getAtIndex(Tensor.F32, bOff / 4 + d);
        return acc;
    }

    /** acc[d] += p · b[bOff + d]. */
    private static void axpy(float p, MemorySegment b, long bOff, float[] acc, int n) {
        int d = 0;
        FloatVector pv = FloatVector.broadcast(S, p);
        for (int bound = S.loopBound(n); d < bound; d += VL)
            FloatVector.fromMemorySegment(S, b, bOff + d * 4L, LE).fma(pv, FloatVector.fromArray(S, acc, d)).intoArray(acc, d);
        for (; d < n; d++) acc[d] += p * b.getAtIndex(Tensor.F32, bOff / 4 + d);
    }

    private static void scaleRow(float[] acc, float s, int n) {
        int d = 0;
        for (int bound = S.loopBound(n); d < bound; d += VL) FloatVector.fromArray(S, acc, d).mul(s).intoArray(acc, d);
        for (; d < n; d++) acc[d] *= s;
    }

    /** n floats from byte offset off of src into dst[0, n). */
    private static void load(MemorySegment src, long off, float[] dst, int n) { MemorySegment.copy(src, Tensor.F32, off, dst, 0, n); }

    /** src[0, n) into dst at element index idx. */
    private static void store(float[] src, MemorySegment dst, long idx, int n) { MemorySegment.copy(src, 0, dst, Tensor.F32, idx * 4, n); }

    // ---------------------------------------------------------------- LayerNorm

    static void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        int d = x.size(-1);
        int rows = Math.toIntExact(x.numel() / d);
        MemorySegment xs = x.segment(), os = out.segment(), ws = w.segment(), bs = b == null ? null : b.segment();
        Parallel.forRange(rows, 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long off = (long) r * d * 4;
                float[] ms = meanInv(xs, off, d, eps);
                float mu = ms[0], inv = ms[1];
                int j = 0;
                FloatVector muV = FloatVector.broadcast(S, mu), invV = FloatVector.broadcast(S, inv);
                for (int bound = S.loopBound(d); j < bound; j += VL) {
                    FloatVector y = FloatVector.fromMemorySegment(S, xs, off + j * 4L, LE).sub(muV).mul(invV)
                            .mul(FloatVector.fromMemorySegment(S, ws, j * 4L, LE));
                    if (bs != null) y = y.add(FloatVector.fromMemorySegment(S, bs, j * 4L, LE));
                    y.intoMemorySegment(os, off + j * 4L, LE);
                }
                for (; j < d; j++) {
                    float y = (xs.getAtIndex(Tensor.F32, (long) r * d + j) - mu) * inv * ws.getAtIndex(Tensor.F32, j);
                    if (bs != null) y += bs.getAtIndex(Tensor.F32, j);
                    os.setAtIndex(Tensor.F32, (long) r * d + j, y);
                }
            }
        });
    }

    /** {mean, 1/sqrt(var + eps)} of one row (two passes: the centred variance, as torch). */
    private static float[] meanInv(MemorySegment xs, long off, int d, float eps) {
        float mu = sumPlain(xs, off, d) / d;
        float var = sumSq(xs, off, d, mu) / d;
        return new float[]{mu, (float) (1.0 / Math.sqrt(var + eps))};
    }

    private static float sumPlain(MemorySegment xs, long off, int d) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S);
        for (int bound = S.loopBound(d); j < bound; j += VL) acc = acc.add(FloatVector.fromMemorySegment(S, xs, off + j * 4L, LE));
        float s = VMath.sum(acc);
        for (; j < d; j++) s += xs.getAtIndex(Tensor.F32, off / 4 + j);
        return s;
    }

    /** Σ (x − c)². */
    private static float sumSq(MemorySegment xs, long off, int d, float c) {
        int j = 0;
        FloatVector acc = FloatVector.zero(S), cv = FloatVector.broadcast(S, c);
        for (int bound = S.loopBound(d); j < bound; j += VL) {
            FloatVector v = FloatVector.fromMemorySegment(S, xs, off + j * 4L, LE).sub(cv);
            acc = v.fma(v, acc);
        }
        float s = VMath.sum(acc);
        for (; j < d; j++) { float v = xs.getAtIndex(Tensor.F32, off / 4 + j) - c; s += v * v; }
        return s;
    }

    /** dx by rows in parallel; dw, db by columns in parallel (each thread owns its columns, no races). */
    static void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        int d = x.size(-1);
        int rows = Math.toIntExact(x.numel() / d);
        MemorySegment xs = x.segment(), ws = w.segment(), gs = dy.segment(), ds = dx.segment();
        float[] mu = new float[rows], inv = new float[rows];
        Parallel.forRange(rows, 8, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long off = (long) r * d * 4;
                float[] ms = meanInv(xs, off, d, eps);
                float m = ms[0], iv = ms[1];
                mu[r] = m;
                inv[r] = iv;
                float mg = 0f, mgx = 0f;
                for (int j = 0; j < d; j++) {
                    float g = gs.getAtIndex(Tensor.F32, (long) r * d + j) * ws.getAtIndex(Tensor.F32, j);
                    mg += g;
                    mgx += g * (xs.getAtIndex(Tensor.F32, (long) r * d + j) - m) * iv;
                }
                mg /= d;
                mgx /= d;
                for (int j = 0; j < d; j++) {
                    float g = gs.getAtIndex(Tensor.F32, (long) r * d + j) * ws.getAtIndex(Tensor.F32, j);
                    float xh = (xs.getAtIndex(Tensor.F32, (long) r * d + j) - m) * iv;
                    ds.setAtIndex(Tensor.F32, (long) r * d + j, iv * (g - mg - xh * mgx));
                }
            }
        });
        Parallel.forRange(d, (c0, c1) -> {
            for (int j = c0; j < c1; j++) {
                float aw = 0f, ab = 0f;
                for (int r = 0; r < rows; r++) {
                    float g = gs.getAtIndex(Tensor.F32, (long) r * d + j);
                    aw += g * (xs.getAtIndex(Tensor.F32, (long) r * d + j) - mu[r]) * inv[r];
                    ab += g;
                }
                dw.setFloat(j, dw.getFloat(j) + aw);
                if (db != null) db.setFloat(j, db.getFloat(j) + ab);
            }
        });
    }

    // ---------------------------------------------------------------- gelu_new

    private static FloatVector geluTanh(FloatVector x) {
        FloatVector inner = x.mul(x).mul(x).mul(0.044715f).add(x).mul(GELU_C);
        return x.mul(0.5f).mul(VMath.tanh(inner).add(1f));
    }

    static void geluTanh(Tensor x, Tensor out) {
        MemorySegment xs = x.segment(), os = out.segment();
        int n = Math.toIntExact(x.numel());
        Parallel.forRange(n, 1024, (i0, i1) -> {
            int i = i0;
            for (int bound = i0 + S.loopBound(i1 - i0); i < bound; i += VL)
                geluTanh(FloatVector.fromMemorySegment(S, xs, i * 4L, LE)).intoMemorySegment(os, i * 4L, LE);
            for (; i < i1; i++) os.setAtIndex(Tensor.F32, i, (float) Formulas.geluTanh(xs.getAtIndex(Tensor.F32, i)));
        });
    }

    static void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        MemorySegment xs = x.segment(), gs = dy.segment(), os = dx.segment();
        int n = Math.toIntExact(x.numel());
        Parallel.forRange(n, 1024, (i0, i1) -> {
            int i = i0;
            for (int bound = i0 + S.loopBound(i1 - i0); i < bound; i += VL) {
                FloatVector v = FloatVector.fromMemorySegment(S, xs, i * 4L, LE);
                FloatVector th = VMath.tanh(v.mul(v).mul(v).mul(0.044715f).add(v).mul(GELU_C));
                // 0.5(1 + th) + 0.5·x·(1 − th²)·c·(1 + 3·0.044715·x²)
                FloatVector g = th.add(1f).mul(0.5f).add(v.mul(0.5f).mul(th.mul(th).neg().add(1f)).mul(GELU_C)
                        .mul(v.mul(v).mul(3 * 0.044715f).add(1f)));
                g.mul(FloatVector.fromMemorySegment(S, gs, i * 4L, LE)).intoMemorySegment(os, i * 4L, LE);
            }
            for (; i < i1; i++) os.setAtIndex(Tensor.F32, i, (float) (gs.getAtIndex(Tensor.F32, i) * Formulas.geluTanhGrad(xs.getAtIndex(Tensor.F32, i))));
        });
    }

    // ---------------------------------------------------------------- rotary

    /** Rotates each (i, i + r) pair of every head by sign·angle; scalar (Dh is small, the op is memory-bound). */
    static void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out, int sign) {
        int b = x.size(0), t = x.size(1), h = x.size(2), dh = x.size(3), r = rotaryDim / 2;
        MemorySegment xs = x.segment(), os = out.segment(), cs = cos.segment(), ss = sin.segment();
        boolean copy = !xs.equals(os);
        Parallel.forRange(b * t, 4, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                int ti = p % t;
                long tab = (long) (pos0 + ti) * r;
                for (int hi = 0; hi < h; hi++) {
                    long base = ((long) p * h + hi) * dh;
                    for (int i = 0; i < r; i++) {
                        float c = cs.getAtIndex(Tensor.F32, tab + i), s = sign * ss.getAtIndex(Tensor.F32, tab + i);
                        float x1 = xs.getAtIndex(Tensor.F32, base + i), x2 = xs.getAtIndex(Tensor.F32, base + i + r);
                        os.setAtIndex(Tensor.F32, base + i, x1 * c - x2 * s);
                        os.setAtIndex(Tensor.F32, base + i + r, x2 * c + x1 * s);
                    }
                    if (copy) for (int i = rotaryDim; i < dh; i++) os.setAtIndex(Tensor.F32, base + i, xs.getAtIndex(Tensor.F32, base + i));
                }
            }
        });
    }

    // ---------------------------------------------------------------- attention

    /** Rows (b, h, i) in parallel; each row walks its keys 0..i in tiles with an online softmax. */
    static void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        int b = q.size(0), t = q.size(1), h = q.size(2), hkv = k.size(2), dh = q.size(3), group = h / hkv;
        MemorySegment qs = q.segment(), ks = k.segment(), vs = v.segment(), os = out.segment();
        Parallel.forRange(b * h * t, 16, (r0, r1) -> {
            float[][] sc = scratch(dh, Math.max(TILE, probs != null ? t : 0));
            float[] qr = sc[0], acc = sc[1], s = sc[2];
            for (int row = r0; row < r1; row++) {
                int i = row % t, hi = (row / t) % h, bi = row / (t * h), kvh = hi / group;
                long qOff = (((long) bi * t + i) * h + hi) * dh;
                load(qs, qOff * 4, qr, dh);
                scaleRow(qr, scale, dh);
                java.util.Arrays.fill(acc, 0, dh, 0f);
                float m = Float.NEGATIVE_INFINITY, l = 0f;
                for (int j0 = 0; j0 <= i; j0 += TILE) {
                    int j1 = Math.min(i + 1, j0 + TILE);
                    float mt = Float.NEGATIVE_INFINITY;
                    for (int j = j0; j < j1; j++) {
                        float sj = dot(qr, ks, ((((long) bi * t + j) * hkv + kvh) * dh) * 4, dh);
                        s[j - j0] = sj;
                        mt = Math.max(mt, sj);
                    }
                    float mNew = Math.max(m, mt);
                    float corr = (float) Math.exp(m - mNew);    // 0 on the first tile (m = −∞)
                    l *= corr;
                    scaleRow(acc, corr, dh);
                    for (int j = j0; j < j1; j++) {
                        float p = (float) Math.exp(s[j - j0] - mNew);
                        l += p;
                        axpy(p, vs, ((((long) bi * t + j) * hkv + kvh) * dh) * 4, acc, dh);
                    }
                    m = mNew;
                }
                scaleRow(acc, 1f / l, dh);
                store(acc, os, qOff, dh);
                float lseRow = m + (float) Math.log(l);
                if (lse != null) lse.segment().setAtIndex(Tensor.F32, ((long) bi * h + hi) * t + i, lseRow);
                if (probs != null) {
                    MemorySegment ps = probs.segment();
                    long pOff = (((long) bi * h + hi) * t + i) * t;
                    for (int j = 0; j <= i; j++)
                        ps.setAtIndex(Tensor.F32, pOff + j, (float) Math.exp(dot(qr, ks, ((((long) bi * t + j) * hkv + kvh) * dh) * 4, dh) - lseRow));
                    for (int j = i + 1; j < t; j++) ps.setAtIndex(Tensor.F32, pOff + j, 0f);
                }
            }
        });
    }

    static void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        int b = q.size(0), t = q.size(1), h = q.size(2), hkv = k.size(2), dh = q.size(3), group = h / hkv;
        MemorySegment qs = q.segment(), ks = k.segment(), vs = v.segment(), os = out.segment(), ls = lse.segment(), gs = dOut.segment();
        MemorySegment dqs = dq.segment(), dks = dk.segment(), dvs = dv.segment();
        float[] dRow = new float[b * h * t];   // D_i = dOut_i · out_i
        // pass 1, query rows: dq_i = scale Σ_{j ≤ i} p_ij (dOut_i·v_j − D_i) k_j
        Parallel.forRange(b * h * t, 16, (r0, r1) -> {
            float[][] sc = scratch(dh, 0);
            float[] qr = sc[0], acc = sc[1];
            for (int row = r0; row < r1; row++) {
                int i = row % t, hi = (row / t) % h, bi = row / (t * h), kvh = hi / group;
                long qOff = (((long) bi * t + i) * h + hi) * dh;
                float di = dot(gs, qOff * 4, os, qOff * 4, dh);
                dRow[row] = di;
                float l = ls.getAtIndex(Tensor.F32, ((long) bi * h + hi) * t + i);
                load(qs, qOff * 4, qr, dh);
                scaleRow(qr, scale, dh);
                java.util.Arrays.fill(acc, 0, dh, 0f);
                for (int j = 0; j <= i; j++) {
                    long kOff = ((((long) bi * t + j) * hkv + kvh) * dh) * 4;
                    float p = (float) Math.exp(dot(qr, ks, kOff, dh) - l);
                    float dp = dot(gs, qOff * 4, vs, kOff, dh);
                    axpy(p * (dp - di) * scale, ks, kOff, acc, dh);
                }
                store(acc, dqs, qOff, dh);
            }
        });
        // pass 2, key rows (b, kvh, j): dv_j = Σ_{h in group, i ≥ j} p_ij dOut_i;  dk_j = scale Σ p_ij (dOut_i·v_j − D_i) q_i
        Parallel.forRange(b * hkv * t, 16, (r0, r1) -> {
            float[][] sc = scratch(dh, 0);
            float[] kr = sc[0], accK = sc[1], accV = sc[3];
            for (int row = r0; row < r1; row++) {
                int j = row % t, kvh = (row / t) % hkv, bi = row / (t * hkv);
                long kOff = (((long) bi * t + j) * hkv + kvh) * dh;
                load(ks, kOff * 4, kr, dh);
                scaleRow(kr, scale, dh);
                java.util.Arrays.fill(accK, 0, dh, 0f);
                java.util.Arrays.fill(accV, 0, dh, 0f);
                for (int hi = kvh * group; hi < (kvh + 1) * group; hi++)
                    for (int i = j; i < t; i++) {
                        long qOff = ((((long) bi * t + i) * h + hi) * dh) * 4;
                        int r = (bi * h + hi) * t + i;
                        float p = (float) Math.exp(dot(kr, qs, qOff, dh) - ls.getAtIndex(Tensor.F32, r));
                        axpy(p, gs, qOff, accV, dh);
                        float dp = dot(gs, qOff, vs, kOff * 4, dh);
                        axpy(p * (dp - dRow[r]) * scale, qs, qOff, accK, dh);
                    }
                store(accK, dks, kOff, dh);
                store(accV, dvs, kOff, dh);
            }
        });
    }

    /** (b, h) pairs in parallel: the scores over len cached keys, their softmax, the weighted sum of cached values. */
    static void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        int b = q.size(0), h = q.size(1), dh = q.size(2), c = kCache.size(1), hkv = kCache.size(2), group = h / hkv;
        MemorySegment qs = q.segment(), ks = kCache.segment(), vs = vCache.segment(), os = out.segment();
        Parallel.forRange(b * h, (p0, p1) -> {
            float[][] sc = scratch(dh, len);
            float[] qr = sc[0], acc = sc[1], s = sc[2];
            for (int p = p0; p < p1; p++) {
                int bi = p / h, hi = p % h, kvh = hi / group;
                load(qs, (long) p * dh * 4, qr, dh);
                scaleRow(qr, scale, dh);
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) {
                    s[j] = dot(qr, ks, ((((long) bi * c + j) * hkv + kvh) * dh) * 4, dh);
                    m = Math.max(m, s[j]);
                }
                java.util.Arrays.fill(acc, 0, dh, 0f);
                float l = 0f;
                for (int j = 0; j < len; j++) {
                    float e = (float) Math.exp(s[j] - m);
                    l += e;
                    axpy(e, vs, ((((long) bi * c + j) * hkv + kvh) * dh) * 4, acc, dh);
                }
                scaleRow(acc, 1f / l, dh);
                store(acc, os, (long) p * dh, dh);
            }
        });
    }
}
