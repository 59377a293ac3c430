package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.Trace;

import java.lang.foreign.MemorySegment;

/**
 * The Discrete Mamba-2 mixer (MATH.md "Discrete Mamba-2"; goombalab phi-mamba {@code DiscreteMamba2}):
 * <pre>
 * xBC | z | A_log = in_proj(u)                            (B·T, (E + 2GN) + E + H), split in this order (phi-mamba
 *                                                          torch.split of xBCzA_log, in forward and in step)
 * xBC       = conv(xBC) + conv_bias                       depthwise causal, NO activation (phi-mamba "identity")
 * x | B | C = split(xBC, [E, GN, GN])
 * logA      = −softplus(A_log)                            (B·T, H): input-dependent decay a_t = exp(logA_t) in (0, 1)
 * S_t       = a_t · S_{t−1} + x_t ⊗ B_t                   the SSD with no dt scaling (Ssd scale = null)
 * y_t       = S_t · C_t + D_h · x_t
 * out       = out_proj(y ⊙ silu(z + z_bias))
 * </pre>
 * phi-mamba computes the scan as mamba_chunk_scan_combined(x / softplus(A_log), dt = softplus(A_log), A = −1), which is
 * this recurrence: the dt scaling of the input cancels the division.
 *
 * <p>The inference paths run on a {@link Backend}: {@link #forward} (chunked SSD), {@link #step} (one token from the
 * conv and SSM states), {@link #materialize} (the (B, H, T, T) mixing matrix of MOHAWK stage 1). {@link #forward(Tape,
 * DiscreteMamba2Config, Vars, Var, int, int)} records the same computation on the autograd tape. z_bias is folded into
 * the bias of z's rows of in_proj on the inference paths (one linear per part of in_proj, over row views).
 */
public final class DiscreteMamba2Mixer {
    /**
     * One mixer's parameters, as phi-mamba names them under {@code mixer.}. Linear weights are (out, in) and may be
     * F32, BF16 or F16; the rest is F32.
     *
     * @param inProj      in_proj.weight (E + 2GN + E + H, D), rows xBC | z | A_log
     * @param inProjBias  in_proj.bias, or null (config.bias false)
     * @param convWeight  conv1d.weight (C, K) (the checkpoint stores (C, 1, K)), C = E + 2GN
     * @param convBias    conv1d.bias (C), or null (config.convBias false)
     * @param zBias       z_bias (E), or null when config.bias (phi-mamba then has the constant 0)
     * @param d           D (H)
     * @param outProj     out_proj.weight (D, E)
     * @param outProjBias out_proj.bias (D), or null
     */
    public record Weights(Tensor inProj, Tensor inProjBias, Tensor convWeight, Tensor convBias, Tensor zBias, Tensor d,
                          Tensor outProj, Tensor outProjBias) {}

    /** The same parameters as tape leaves (null where the weights have null). */
    public record Vars(Var inProj, Var inProjBias, Var convWeight, Var convBias, Var zBias, Var d, Var outProj, Var outProjBias) {}

    /** The SSD's inputs for a whole sequence: everything before the scan. Rows are (b, t) flattened. */
    public record SsdInputs(Tensor xbcRaw,   // (B·T, C) before the conv (what conv_state keeps)
                            Tensor x,        // (B·T, E)
                            Tensor bm,       // (B·T, G·N)
                            Tensor cm,       // (B·T, G·N)
                            Tensor logA,     // (B·T, H) = −softplus(A_log)
                            Tensor z) {}     // (B·T, E) = z + z_bias

    private final DiscreteMamba2Config config;
    private final Backend backend;
    private final Weights w;
    private final Tensor wXbc, wZ, wALog;       // row views of in_proj: (C, D), (E, D), (H, D)
    private final Tensor bXbc, bZ, bALog;       // the matching biases; bZ is z_bias (unbiased in_proj) or in_proj.bias's z part
    private final Tensor minusOnes;             // (H) of −1: logA = −softplus(A_log) as mulColumns(softplus, −1)

    public DiscreteMamba2Mixer(DiscreteMamba2Config config, Backend backend, Weights w) {
        this.config = config;
        this.backend = backend;
        this.w = w;
        int dm = config.dModel(), e = config.dInner(), c = config.convDim(), h = config.nVHeads();
        check("in_proj.weight", w.inProj, config.inProjSize(), dm);
        check("conv1d.weight", w.convWeight, c, config.convKernel());
        check("D", w.d, h);
        check("out_proj.weight", w.outProj, dm, e);
        checkOptional("in_proj.bias", w.inProjBias, config.bias(), config.inProjSize());
        checkOptional("out_proj.bias", w.outProjBias, config.bias(), dm);
        checkOptional("conv1d.bias", w.convBias, config.convBias(), c);
        checkOptional("z_bias", w.zBias, !config.bias(), e);
        wXbc = w.inProj.rows(0, c);
        wZ = w.inProj.rows(c, c + e);
        wALog = w.inProj.rows(c + e, c + e + h);
        if (config.bias()) {
            bXbc = w.inProjBias.view(0, c);
            bZ = w.inProjBias.view(c, e);
            bALog = w.inProjBias.view(c + e, h);
        } else {
            bXbc = bALog = null;
            bZ = w.zBias;
        }
        minusOnes = backend.zeros(h);
        backend.fill(minusOnes, -1f);
    }

    public DiscreteMamba2Config config() { return config; }
    public Weights weights() { return w; }
    public Backend backend() { return backend; }

    // ------------------------------------------------------------------ whole sequence

    /**
     * The mixer over whole sequences: u (B·T, D) → out (B·T, D). With a cache the sequences continue from it (an empty
     * one: prefill): the conv runs over its history and its ssm_state is S_0; it is left at S_T and the last K inputs. Publishes "mixer_y" (B, T, H, P), the
     * SSD output before the gate, to the trace.
     */
    public void forward(Tensor u, int b, int t, Tensor out, Cache cache, Trace trace, int layer) {
        SsdInputs in = ssdInputs(u, b, t, cache == null ? null : cache.conv);              // in_proj → conv → x | B | C, logA
        Tensor y = backend.zeros(b, t, config.nVHeads(), config.headDim());
        ssd(in, b, t, cache == null ? null : cache.ssm, y);                                 // S_t = a_t·S_{t−1} + x_t⊗B_t; y = S·C + D·x
        trace.record("mixer_y", layer, y);
        gateAndProject(y.reshape((long) b * t, config.dInner()), in.z, out);                // out_proj(y ⊙ silu(z + z_bias))
    }

    /** in_proj (one linear per part: xBC | z | A_log), the identity-activation conv, the x | B | C split and the decay. */
    public SsdInputs ssdInputs(Tensor u, int b, int t) { return ssdInputs(u, b, t, null); }

    /** As {@link #ssdInputs(Tensor, int, int)}, the conv continuing from (and updating) convState (B, C, K) when not null. */
    public SsdInputs ssdInputs(Tensor u, int b, int t, Tensor convState) {
        long bt = (long) b * t;
        int e = config.dInner(), c = config.convDim(), h = config.nVHeads(), gn = config.nQkHeads() * config.dState();
        Tensor xbcRaw = backend.zeros(bt, c), z = backend.zeros(bt, e), aLog = backend.zeros(bt, h);
        backend.linear(u, wXbc, bXbc, xbcRaw);                                             // (B·T, C)
        backend.linear(u, wZ, bZ, z);                                                      // (B·T, E)  z + z_bias
        backend.linear(u, wALog, bALog, aLog);                                             // (B·T, H)
        Tensor xbc = backend.zeros(bt, c);
        if (convState == null) backend.causalConv1d(xbcRaw.reshape(b, t, c), w.convWeight, w.convBias, false, xbc.reshape(b, t, c));
        else mamba4j.models.SequenceCopies.convWithHistory(backend, xbcRaw, b, t, convState, w.convWeight, w.convBias, false, xbc.reshape(b, t, c));
        Tensor x = backend.zeros(bt, e), bm = backend.zeros(bt, gn), cm = backend.zeros(bt, gn);
        backend.splitColumns(xbc, x, bm, cm);
        Tensor logA = backend.zeros(bt, h);
        decay(aLog, backend.zeros(bt, h), logA);
        return new SsdInputs(xbcRaw, x, bm, cm, logA, z);
    }

    /** The SSD scan (chunked, config chunk_size) of the inputs into y (B, T, H, P); state (B, H, P, N) read as S_0 and left at S_T, or null. */
    public void ssd(SsdInputs in, int b, int t, Tensor state, Tensor y) {
        int h = config.nVHeads(), p = config.headDim(), g = config.nQkHeads(), n = config.dState();
        backend.ssd(new Ssd(in.x.reshape(b, t, h, p), in.logA.reshape(b, t, h), null,
                in.bm.reshape(b, t, g, n), in.cm.reshape(b, t, g, n), w.d, state, y), config.chunkSize());
    }

    /** out (M, D) = out_proj(y ⊙ silu(z)) for y, z (M, E); z already carries z_bias. */
    public void gateAndProject(Tensor y, Tensor z, Tensor out) {
        Tensor gated = backend.zeros(y.dim(0), config.dInner());
        backend.mulSilu(y, z, gated);
        backend.linear(gated, w.outProj, w.outProjBias, out);
    }

    /** logA = −softplus(A_log): softplus (clamped to [0, ∞), a no-op) into sp, then times −1 per column. */
    private void decay(Tensor aLog, Tensor sp, Tensor logA) {
        backend.softplusClamp(aLog, null, 0f, Float.POSITIVE_INFINITY, sp);
        backend.mulColumns(sp, minusOnes, logA);
    }

    // ------------------------------------------------------------------ the materialised mixer (MOHAWK stage 1)

    /**
     * The mixing matrix (B, H, T, T) of u (B·T, D): per head h (group g = h / (H/G)),
     * T[i, j] = (C_i · B_j) · exp(Σ_{k=j+1..i} logA_k) for j ≤ i, 0 above the diagonal, plus D_h on the diagonal,
     * so that y[:, h] = T[h] · x[:, h] for each of the head's P channels (phi-mamba materialize_mixer, with the
     * −softplus). Scalar, float64 accumulation; O(B·H·T²·N).
     */
    public Tensor materialize(Tensor u, int b, int t) {
        return materialize(config, ssdInputs(u, b, t), w.d, b, t);
    }

    /** {@link #materialize(Tensor, int, int)} from already computed SSD inputs. */
    public static Tensor materialize(DiscreteMamba2Config c, SsdInputs in, Tensor d, int b, int t) {
        int h = c.nVHeads(), g = c.nQkHeads(), n = c.dState(), per = h / g, gn = g * n;
        Tensor out = Tensor.zeros(DType.F32, b, h, t, t);
        float[] bm = in.bm.toFloatArray(), cm = in.cm.toFloatArray(), logA = in.logA.toFloatArray();
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                int gi = hi / per;
                long base = ((long) bi * h + hi) * t * t;
                for (int i = 0; i < t; i++) {
                    int ci = (bi * t + i) * gn + gi * n;
                    double sum = 0;                          // Σ_{k=j+1..i} logA_k, grown as j walks down from i
                    for (int j = i; j >= 0; j--) {
                        if (j < i) sum += logA[(bi * t + j + 1) * h + hi];
                        int bj = (bi * t + j) * gn + gi * n;
                        double dot = 0;
                        for (int k = 0; k < n; k++) dot += (double) cm[ci + k] * bm[bj + k];
                        double v = dot * Math.exp(sum) + (j == i ? d.getDouble(hi) : 0);
                        out.setFloat(base + (long) i * t + j, (float) v);
                    }
                }
            }
        return out;
    }

    // ------------------------------------------------------------------ recurrent decoding

    /** One mixer's decode state for a batch: conv_state (B, C, K), oldest input first, and ssm_state (B, H, P, N); plus step buffers. */
    public final class Cache {
        final int batch;
        final Tensor conv, ssm;
        final Tensor xbc, z, aLog, xbcConv, x, bm, cm, sp, logA, y, gated;
        final mamba4j.models.ColumnParts convParts;
        final Ssd ssdStep;

        Cache(int batch) {
            int e = config.dInner(), c = config.convDim(), h = config.nVHeads(), p = config.headDim(), g = config.nQkHeads(), n = config.dState();
            this.batch = batch;
            conv = backend.zeros(batch, c, config.convKernel());
            ssm = backend.zeros(batch, h, p, n);
            xbc = backend.zeros(batch, c); z = backend.zeros(batch, e); aLog = backend.zeros(batch, h);
            xbcConv = backend.zeros(batch, c);
            convParts = new mamba4j.models.ColumnParts(backend, xbcConv, e, (long) g * n, (long) g * n);   // views at batch 1
            x = convParts.get(0); bm = convParts.get(1); cm = convParts.get(2);
            sp = backend.zeros(batch, h); logA = backend.zeros(batch, h);
            y = backend.zeros(batch, 1, h, p); gated = backend.zeros(batch, e);
            ssdStep = new Ssd(x.reshape(batch, 1, h, p), logA.reshape(batch, 1, h), null,
                    bm.reshape(batch, 1, g, n), cm.reshape(batch, 1, g, n), w.d, ssm, y);
        }

        public int batch() { return batch; }
        public Tensor convState() { return conv; }
        public Tensor ssmState() { return ssm; }
        public long stateBytes() { return conv.byteSize() + ssm.byteSize(); }

        /** Both states to zero (a new sequence). */
        public void reset() {
            backend.fill(conv, 0f);
            backend.fill(ssm, 0f);
        }
    }

    public Cache newCache(int batch) { return new Cache(batch); }

    /** One token per sequence, u (B, D) → out (B, D), updating the cache in place; mirrors {@link #forward} line for line. */
    public void step(Cache s, Tensor u, Tensor out) {
        backend.linear(u, wXbc, bXbc, s.xbc);
        backend.linear(u, wZ, bZ, s.z);
        backend.linear(u, wALog, bALog, s.aLog);
        backend.causalConv1dStep(s.conv, s.xbc, w.convWeight, w.convBias, false, s.xbcConv);
        s.convParts.split(backend);
        decay(s.aLog, s.sp, s.logA);
        backend.ssd(s.ssdStep, 1);                                                          // one step of the recurrence, ssm_state in place
        backend.mulSilu(s.y.reshape(s.batch, config.dInner()), s.z, s.gated);
        backend.linear(s.gated, w.outProj, w.outProjBias, out);
    }

    // ------------------------------------------------------------------ training forward on the tape

    /**
     * The mixer recorded on the tape, u (B·T, D) → (B·T, D), op for op the math of {@link #forward} with only the tape's
     * existing nodes: one in_proj linear split xBC | z | A_log; conv without SiLU; x | B | C split; logA =
     * mulColumns(softplusClamp(A_log, 0, ∞), −1); SSD without scale; z + z_bias as z + ones(B·T, 1) · z_biasᵀ (a rank-1
     * linear, since the tape has no broadcasting add); mulSilu; out_proj.
     */
    public static Var forward(Tape tape, DiscreteMamba2Config c, Vars p, Var u, int b, int t) {
        long bt = (long) b * t;
        int e = c.dInner(), h = c.nVHeads(), hp = c.headDim();
        TapeInputs in = ssdInputs(tape, c, p, u, b, t);
        Var y = tape.ssd(in.x().reshape(b, t, h, hp), in.logA(), null, in.bm(), in.cm(), p.d(), c.chunkSize());
        Var gated = tape.mulSilu(y.reshape(bt, e), in.z());
        return tape.linear(gated, p.outProj(), p.outProjBias());
    }

    /** The SSD's inputs on the tape: x (B·T, E), logA (B, T, H), B and C (B, T, G, N), z + z_bias (B·T, E). */
    public record TapeInputs(Var x, Var logA, Var bm, Var cm, Var z) {}

    /** Everything before the scan, recorded on the tape (what {@link #forward(Tape, DiscreteMamba2Config, Vars, Var, int, int)} and MOHAWK stage 1 share). */
    public static TapeInputs ssdInputs(Tape tape, DiscreteMamba2Config c, Vars p, Var u, int b, int t) {
        long bt = (long) b * t;
        int e = c.dInner(), cd = c.convDim(), h = c.nVHeads(), g = c.nQkHeads(), n = c.dState();
        Var[] xbcZA = tape.split(tape.linear(u, p.inProj(), p.inProjBias()), cd, e, h);         // xBC | z | A_log
        Var xbc = tape.conv(xbcZA[0].reshape(b, t, cd), p.convWeight(), p.convBias(), false);   // identity activation
        Var[] xBC = tape.split(xbc.reshape(bt, cd), e, (long) g * n, (long) g * n);            // x | B | C
        mamba4j.core.Backend be = tape.backend();
        Tensor minusOnes = be.zeros(h);
        be.fill(minusOnes, -1f);
        Var logA = tape.mulColumns(tape.softplusClamp(xbcZA[2], null, 0f, Float.POSITIVE_INFINITY), tape.constant(minusOnes));
        Var z = xbcZA[1];
        if (p.zBias() != null) {
            Tensor ones = be.zeros(bt, 1);
            be.fill(ones, 1f);
            z = tape.add(z, tape.linear(tape.constant(ones), p.zBias().reshape(e, 1), null));    // z + z_bias per row
        }
        return new TapeInputs(xBC[0], logA.reshape(b, t, h), xBC[1].reshape(b, t, g, n), xBC[2].reshape(b, t, g, n), z);
    }

    // ------------------------------------------------------------------ helpers


    private static void check(String name, Tensor t, long... dims) {
        if (t == null) throw new IllegalArgumentException("mixer." + name + " is missing");
        if (!t.shape().equals(Shape.of(dims)))
            throw new IllegalArgumentException("mixer." + name + ": expected shape " + Shape.of(dims) + ", got " + t.shape());
    }

    private static void checkOptional(String name, Tensor t, boolean expected, long... dims) {
        if (!expected) {
            if (t != null) throw new IllegalArgumentException("mixer." + name + " given, but the config says it does not exist");
            return;
        }
        check(name, t, dims);
    }
}
