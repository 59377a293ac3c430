package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.core.Workspace;
import mamba4j.models.Trace;


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
 * <p>ONE forward, {@link #forward(Tape, DiscreteMamba2Config, StudentWeights.Mixer, Var, int, int, Cache, Trace, int)},
 * serves training (a recording tape, weights as parameters) and inference (an inference tape that records nothing, the
 * sequences continuing from a {@link Cache} when one is given). {@link #step} runs one token from the conv and SSM
 * states, mirroring it line for line; {@link #materialize} is the (B, H, T, T) mixing matrix of MOHAWK stage 1. An
 * instance holds one mixer's weights for the step (in_proj's parts as row views, z_bias folded into the bias of z's
 * rows) and offers the forward over tensors for tests and tools.
 */
public final class DiscreteMamba2Mixer {
    /** The SSD's inputs for a whole sequence, copied out of a forward: everything before the scan. Rows are (b, t) flattened. */
    public record SsdInputs(Tensor x,        // (B·T, E)
                            Tensor bm,       // (B·T, G·N)
                            Tensor cm,       // (B·T, G·N)
                            Tensor logA,     // (B·T, H) = −softplus(A_log)
                            Tensor z) {}     // (B·T, E) = z + z_bias

    private final DiscreteMamba2Config config;
    private final Backend backend;
    private final StudentWeights.Mixer<Tensor> w;
    private final Tensor wXbc, wZ, wALog;       // row views of in_proj: (C, D), (E, D), (H, D)
    private final Tensor bXbc, bZ, bALog;       // the matching biases; bZ is z_bias (unbiased in_proj) or in_proj.bias's z part
    private final Tensor minusOnes;             // (H) of −1: logA = −softplus(A_log) as mulColumns(softplus, −1)

    /** One mixer's weights (linear weights F32, BF16 or F16; the rest F32; conv (C, K)), every shape checked against the config. */
    public DiscreteMamba2Mixer(DiscreteMamba2Config config, Backend backend, StudentWeights.Mixer<Tensor> w) {
        this.config = config;
        this.backend = backend;
        this.w = w;
        int dm = config.dModel(), e = config.dInner(), c = config.convDim(), h = config.nVHeads();
        check("in_proj.weight", w.inProj(), config.inProjSize(), dm);
        check("conv1d.weight", w.convWeight(), c, config.convKernel());
        check("D", w.d(), h);
        check("out_proj.weight", w.outProj(), dm, e);
        checkOptional("in_proj.bias", w.inProjBias(), config.bias(), config.inProjSize());
        checkOptional("out_proj.bias", w.outProjBias(), config.bias(), dm);
        checkOptional("conv1d.bias", w.convBias(), config.convBias(), c);
        checkOptional("z_bias", w.zBias(), !config.bias(), e);
        wXbc = w.inProj().rows(0, c);
        wZ = w.inProj().rows(c, c + e);
        wALog = w.inProj().rows(c + e, c + e + h);
        if (config.bias()) {
            bXbc = w.inProjBias().view(0, c);
            bZ = w.inProjBias().view(c, e);
            bALog = w.inProjBias().view(c + e, h);
        } else {
            bXbc = bALog = null;
            bZ = w.zBias();
        }
        minusOnes = backend.zeros(h);
        backend.fill(minusOnes, -1f);
    }

    public DiscreteMamba2Config config() { return config; }
    public StudentWeights.Mixer<Tensor> weights() { return w; }
    public Backend backend() { return backend; }

    // ------------------------------------------------------------------ the one forward

    /**
     * The mixer over whole sequences, u (B·T, D) → (B·T, D): in_proj → xBC | z | A_log; conv without activation; x | B | C;
     * logA = −softplus(A_log); the SSD without dt scaling; out_proj(y ⊙ silu(z + z_bias)). With a cache (inference tapes)
     * the conv runs over its history and the scan starts from its ssm_state, both left after the last token (an empty
     * cache: prefill). Publishes "mixer_y" (B, T, H, P), the SSD output before the gate.
     */
    public static Var forward(Tape tape, DiscreteMamba2Config c, StudentWeights.Mixer<Var> p, Var u, int b, int t, Cache cache, Trace trace, int layer) {
        long bt = (long) b * t;
        TapeInputs in = ssdInputs(tape, c, p, u, b, t, cache == null ? null : cache.conv);
        Var y = tape.ssd(in.x().reshape(b, t, c.nVHeads(), c.headDim()), in.logA(), null, in.bm(), in.cm(), p.d(), c.chunkSize(),
                cache == null ? null : cache.ssm, p.inProj().value().dtype());                  // S_t = a_t·S_{t−1} + x_t⊗B_t; y = S·C + D·x
        trace.record("mixer_y", layer, y.value());
        Var gated = tape.mulSilu(y.reshape(bt, c.dInner()), in.z());                            // y ⊙ silu(z + z_bias)
        return tape.linear(gated, p.outProj(), p.outProjBias());
    }

    /** The SSD's inputs on the tape: x (B·T, E), logA (B, T, H), B and C (B, T, G, N), z + z_bias (B·T, E). */
    public record TapeInputs(Var x, Var logA, Var bm, Var cm, Var z) {}

    /**
     * Everything before the scan (what the forward and MOHAWK stage 1 share): one in_proj linear split xBC | z | A_log,
     * the identity-activation conv (continuing from convState (B, C, K) and updating it when given), the x | B | C split,
     * logA = −softplus(A_log) and z + z_bias.
     */
    public static TapeInputs ssdInputs(Tape tape, DiscreteMamba2Config c, StudentWeights.Mixer<Var> p, Var u, int b, int t, Tensor convState) {
        long bt = (long) b * t;
        int e = c.dInner(), cd = c.convDim(), h = c.nVHeads(), g = c.nQkHeads(), n = c.dState();
        Backend be = tape.backend();
        Var[] xbcZA = tape.linearSplit(u, p.inProj(), p.inProjBias(), cd, e, h);     // xBC | z | A_log
        Var xbc = tape.conv(xbcZA[0].reshape(b, t, cd), p.convWeight(), p.convBias(), false, convState);   // identity activation
        Var[] xBC = tape.split(xbc.reshape(bt, cd), e, (long) g * n, (long) g * n);            // x | B | C
        Tensor minusOnes = tape.scratch(h);
        be.fill(minusOnes, -1f);
        Var logA = tape.mulColumns(tape.softplusClamp(xbcZA[2], null, 0f, Float.POSITIVE_INFINITY), tape.constant(minusOnes));
        Var z = p.zBias() == null ? xbcZA[1] : tape.addRow(xbcZA[1], p.zBias());                 // z + z_bias per row
        return new TapeInputs(xBC[0], logA.reshape(b, t, h), xBC[1].reshape(b, t, g, n), xBC[2].reshape(b, t, g, n), z);
    }

    // ------------------------------------------------------------------ the forward over tensors (inference tapes)

    private StudentWeights.Mixer<Var> constants(Tape tape) { return w.map(tape::constant); }

    /**
     * The one forward on an inference tape: u (B·T, D) → out (B·T, D), continuing from (and updating) the cache when
     * given; "mixer_y" goes to the trace (layer −1).
     */
    public void forward(Tensor u, int b, int t, Tensor out, Cache cache, Trace trace) {
        try (Workspace ws = Workspace.collected()) {
            Tape tape = Tape.inference(backend, ws.on(backend));
            backend.copy(forward(tape, config, constants(tape), tape.constant(u), b, t, cache, trace, -1).value(), out);
        }
    }

    /** The SSD's inputs of u (B·T, D), copied out of the forward's first part. */
    public SsdInputs ssdInputs(Tensor u, int b, int t) {
        try (Workspace ws = Workspace.collected()) {
            Tape tape = Tape.inference(backend, ws.on(backend));
            TapeInputs in = ssdInputs(tape, config, constants(tape), tape.constant(u), b, t, null);
            long bt = (long) b * t;
            long gn = (long) config.nQkHeads() * config.dState();
            return new SsdInputs(copy(in.x().value()), copy(in.bm().value().reshape(bt, gn)), copy(in.cm().value().reshape(bt, gn)),
                    copy(in.logA().value().reshape(bt, config.nVHeads())), copy(in.z().value()));
        }
    }

    private Tensor copy(Tensor t) {
        Tensor out = backend.allocate(t.dtype(), t.shape());
        backend.copy(t, out);
        return out;
    }

    // ------------------------------------------------------------------ the materialised mixer (MOHAWK stage 1)

    /**
     * The mixing matrix (B, H, T, T) of u (B·T, D): per head h (group g = h / (H/G)),
     * T[i, j] = (C_i · B_j) · exp(Σ_{k=j+1..i} logA_k) for j ≤ i, 0 above the diagonal, plus D_h on the diagonal,
     * so that y[:, h] = T[h] · x[:, h] for each of the head's P channels (phi-mamba materialize_mixer, with the
     * −softplus). Scalar, float64 accumulation; O(B·H·T²·N).
     */
    public Tensor materialize(Tensor u, int b, int t) {
        SsdInputs in = ssdInputs(u, b, t);
        return materialize(config, new SsdInputs(backend.download(in.x()), backend.download(in.bm()), backend.download(in.cm()),
                backend.download(in.logA()), backend.download(in.z())), backend.download(w.d()), b, t);
    }

    /** {@link #materialize(Tensor, int, int)} from already computed SSD inputs on the host. */
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
                    bm.reshape(batch, 1, g, n), cm.reshape(batch, 1, g, n), w.d(), ssm, y);
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

    /** One token per sequence, u (B, D) → out (B, D), updating the cache in place; mirrors the forward line for line. */
    public void step(Cache s, Tensor u, Tensor out) {
        backend.linear(u, wXbc, bXbc, s.xbc);
        backend.linear(u, wZ, bZ, s.z);
        backend.linear(u, wALog, bALog, s.aLog);
        backend.causalConv1dStep(s.conv, s.xbc, w.convWeight(), w.convBias(), false, s.xbcConv);
        s.convParts.split(backend);
        backend.softplusClamp(s.aLog, null, 0f, Float.POSITIVE_INFINITY, s.sp);               // logA = −softplus(A_log)
        backend.mulColumns(s.sp, minusOnes, s.logA);
        backend.ssd(s.ssdStep, 1);                                                          // one step of the recurrence, ssm_state in place
        backend.mulSilu(s.y.reshape(s.batch, config.dInner()), s.z, s.gated);
        backend.linear(s.gated, w.outProj(), w.outProjBias(), out);
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
