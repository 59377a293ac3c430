package mamba4j.models.mamba2;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.DType;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.models.CausalLM;
import mamba4j.models.Trace;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The Mamba-2 language model (mamba_ssm {@code MambaLMHeadModel} with {@code Mamba2} mixers, transformers
 * {@code Mamba2ForCausalLM}): embedding → [RMSNorm → Mamba-2 mixer → residual] × n_layer → RMSNorm → lm_head.
 *
 * <p>{@link #forward} runs whole sequences with the chunked SSD ({@link Backend#ssd}, chunk = config chunk_size);
 * {@link #step} runs one token from the (conv_state, ssm_state) cache with preallocated buffers, mirroring the
 * mixer line for line. Shapes use MATH.md's symbols: E = expand·D = H·P, C = E + 2GN the conv channels.
 */
public final class Mamba2Model implements CausalLM {
    /** One block's parameters, as the checkpoint stores them. Linear weights keep their dtype; the rest is F32. */
    public record Layer(Tensor norm,                                   // (D)
                        Tensor inProj, Tensor inProjBias,              // (2E + 2GN + H, D) rows z | xBC | dt, bias or null
                        Tensor convWeight, Tensor convBias,            // (C, K), (C) or null
                        Tensor dtBias, Tensor aLog, Tensor d,          // (H) each
                        Tensor gateNorm,                               // mixer.norm.weight (E)
                        Tensor outProj, Tensor outProjBias) {}         // (D, E), (D) or null

    private final Mamba2Config config;
    private final Backend backend;
    private final Tensor embedding;   // (V', D)
    private final List<Layer> layers;
    private final Tensor normF;       // (D)
    private final Tensor lmHead;      // (V', D), the embedding itself when tied
    private final Tensor[] a;         // per layer A = -exp(A_log) (H), computed once in F32
    private final Tensor groupOnes;   // (E/G) of 1: the per-group norm's statistics pass; the weight follows by mulColumns
    private final float lo, hi;       // time_step_limit

    public Mamba2Model(Mamba2Config config, Backend backend, Tensor embedding, List<Layer> layers, Tensor normF, Tensor lmHead) {
        this.config = config;
        this.backend = backend;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.normF = normF;
        this.lmHead = lmHead;
        this.a = new Tensor[layers.size()];
        for (int i = 0; i < a.length; i++) {
            Tensor aLog = layers.get(i).aLog();
            a[i] = backend.allocate(DType.F32, aLog.shape());
            backend.negExp(aLog, a[i]);                                     // A = −exp(A_log), once
        }
        groupOnes = Tensor.zeros(DType.F32, config.dInner() / config.nGroups());
        groupOnes.fill(1f);
        lo = (float) config.timeStepLo();
        hi = (float) config.timeStepHi();
    }

    public Mamba2Config config() { return config; }
    public Backend backend() { return backend; }
    public List<Layer> layers() { return layers; }
    public Tensor embedding() { return embedding; }
    public Tensor lmHead() { return lmHead; }
    public Tensor normF() { return normF; }

    @Override public int logitsSize() { return config.paddedVocabSize(); }
    @Override public int vocabSize() { return config.vocabSize(); }
    @Override public int eosTokenId() { return config.eosTokenId(); }

    /** Bytes of weights one decode step reads: every layer tensor once, the head once, one embedding row. */
    @Override public long weightBytesPerToken() {
        long bytes = lmHead.byteSize() + (long) config.hiddenSize() * embedding.dtype().byteSize();
        for (Layer l : layers)
            for (Tensor t : new Tensor[]{l.norm, l.inProj, l.inProjBias, l.convWeight, l.convBias, l.dtBias, l.aLog, l.d,
                    l.gateNorm, l.outProj, l.outProjBias})
                if (t != null) bytes += t.byteSize();
        return bytes + normF.byteSize();
    }

    // ------------------------------------------------------------------ whole sequence

    @Override public Tensor forward(int[][] ids, Trace trace) {
        int b = ids.length, t = ids[0].length;
        Tensor h = hidden(ids, trace, null);
        Tensor logits = Tensor.zeros(DType.F32, (long) b * t, config.paddedVocabSize());
        backend.linear(h, lmHead, null, logits);
        return logits.reshape(b, t, config.paddedVocabSize());
    }

    /** Runs the backbone and returns norm_f's output (B·T, D); continues (and updates) the decode state when one is given. */
    private Tensor hidden(int[][] ids, Trace trace, State cache) {
        int b = ids.length, t = ids[0].length, dm = config.hiddenSize();
        int[] flat = mamba4j.models.TokenIds.flattenChecked(ids, config.vocabSize());
        Tensor h = Tensor.zeros(DType.F32, (long) b * t, dm);                // (B·T, D) residual stream, F32
        backend.embedding(embedding, backend.ids(flat), h);
        trace.record("embedding", -1, h);
        Tensor u = Tensor.zeros(DType.F32, (long) b * t, dm);
        Tensor o = Tensor.zeros(DType.F32, (long) b * t, dm);
        Work w = new Work(b, t, cache != null);                               // reused by every layer
        float eps = (float) config.layerNormEpsilon();
        for (int i = 0; i < layers.size(); i++) {
            backend.rmsNorm(h, layers.get(i).norm, eps, u);
            mixer(i, u, w, o, cache == null ? null : cache.conv[i], cache == null ? null : cache.ssm[i]);
            backend.add(h, o, h);
            trace.record("block_out", i, h);          // transformers' hidden_states[i]
        }
        backend.rmsNorm(h, normF, eps, u);
        trace.record("norm_f", -1, u);                // transformers' last hidden_states entry
        return u;
    }

    /**
     * The Mamba-2 block (MATH.md "Mamba-2 block") over a whole sequence. u (B·T, D) → out (B·T, D). When convState
     * (B, C, K) and ssmState (B, H, P, N) are given, the sequence continues from them and they are updated.
     */
    private void mixer(int li, Tensor u, Work w, Tensor out, Tensor convState, Tensor ssmState) {
        Layer l = layers.get(li);
        int b = w.b, t = w.t;
        backend.linear(u, l.inProj, l.inProjBias, w.zxbcdt);                              // (B·T, 2E + 2GN + H)
        backend.splitColumns(w.zxbcdt, w.z, w.xbc, w.dtRaw);                                      // z | xBC | dt
        if (convState == null)
            backend.causalConv1d(w.xbc.reshape(b, t, w.c), l.convWeight, l.convBias, true, w.xbcAct);   // silu(conv(xBC))  (B, T, C)
        else convWithHistory(w, l, convState);
        backend.splitColumns(w.xbcAct.reshape(w.bt, w.c), w.x, w.bm, w.cm);                       // x | B | C
        backend.softplusClamp(w.dtRaw, l.dtBias, lo, hi, w.dt);                           // dt = clamp(softplus(dt + dt_bias))  (B·T, H)
        backend.mulColumns(w.dt, a[li], w.logA);                                          // dt·A_h
        backend.ssd(new Ssd(w.x.reshape(b, t, w.h, w.p), w.logA.reshape(b, t, w.h), w.dt.reshape(b, t, w.h),
                w.bm.reshape(b, t, w.g, w.n), w.cm.reshape(b, t, w.g, w.n), l.d, ssmState, w.y), config.chunkSize());
        backend.mulSilu(w.y.reshape(w.bt, w.e), w.z, w.gated);                            // y · silu(z), gate first
        gatedNorm(w.gated, l.gateNorm, w.normed, w.bt);                                   // RMSNorm (all E or per group)
        backend.linear(w.normed, l.outProj, l.outProjBias, out);                          // (B·T, D)
    }

    /** RMSNorm of g (M, E) with weight (E): over all E (transformers), or per group of E/G channels (mamba_ssm). */
    private void gatedNorm(Tensor g, Tensor weight, Tensor out, long m) {
        if (!config.normPerGroup()) { backend.rmsNorm(g, weight, (float) config.layerNormEpsilon(), out); return; }
        int e = config.dInner(), gr = config.nGroups();
        // (M, E) viewed as (M·G, E/G): RMSNorm's last-dim statistics are then per group; the weight differs per group,
        // so it is applied after, column by column
        backend.rmsNorm(g.reshape(m * gr, e / gr), groupOnes, (float) config.layerNormEpsilon(), out.reshape(m * gr, e / gr));
        backend.mulColumns(out, weight, out);
    }

    /**
     * silu(conv(xBC)) for a sequence that continues the one whose last K inputs are in convState (B, C, K), and the
     * new conv_state: the conv runs over [K-1 history inputs | T new] and the first K-1 outputs are dropped.
     */
    private void convWithHistory(Work w, Layer l, Tensor convState) {
        int b = w.b, t = w.t, c = w.c, k = config.convKernel(), th = t + k - 1;
        // hist[b, j, :] = conv_state[b, :, j + 1] for j < K − 1 (the history), then hist[b, K − 1 + τ, :] = xBC[b, τ, :]
        backend.copy(convState, w.hist, new CopyRegion(new long[]{b, k - 1, c}, 1, new long[]{(long) c * k, 1, k},
                0, new long[]{(long) th * c, c, 1}));
        backend.copy(w.xbc, w.hist, CopyRegion.block(b, (long) t * c, 0, (long) t * c, (long) (k - 1) * c, (long) th * c));
        backend.causalConv1d(w.hist.reshape(b, th, c), l.convWeight, l.convBias, true, w.histOut);
        backend.copy(w.histOut, w.xbcAct, CopyRegion.block(b, (long) t * c, (long) (k - 1) * c, (long) th * c, 0, (long) t * c));
        // conv_state[b, :, j] = the input at history position th − K + j (oldest first), transformers' cache layout
        backend.copy(w.hist, convState, new CopyRegion(new long[]{b, k, c}, (long) (th - k) * c, new long[]{(long) th * c, c, 1},
                0, new long[]{(long) c * k, 1, k}));
    }

    /** The whole-sequence intermediates of one mixer, allocated once per forward and reused by every layer. */
    private final class Work {
        final int b, t, e, c, h, p, g, n;
        final long bt;
        final Tensor zxbcdt, z, xbc, dtRaw, xbcAct, x, bm, cm, dt, logA, y, gated, normed, hist, histOut;

        Work(int b, int t, boolean withHistory) {
            this.b = b;
            this.t = t;
            e = config.dInner();
            c = config.convDim();
            h = config.numHeads();
            p = config.headDim();
            g = config.nGroups();
            n = config.stateSize();
            bt = (long) b * t;
            zxbcdt = Tensor.zeros(DType.F32, bt, config.inProjSize());
            z = Tensor.zeros(DType.F32, bt, e);
            xbc = Tensor.zeros(DType.F32, bt, c);
            dtRaw = Tensor.zeros(DType.F32, bt, h);
            xbcAct = Tensor.zeros(DType.F32, b, t, c);
            x = Tensor.zeros(DType.F32, bt, e);
            bm = Tensor.zeros(DType.F32, bt, (long) g * n);
            cm = Tensor.zeros(DType.F32, bt, (long) g * n);
            dt = Tensor.zeros(DType.F32, bt, h);
            logA = Tensor.zeros(DType.F32, bt, h);
            y = Tensor.zeros(DType.F32, b, t, h, p);
            gated = Tensor.zeros(DType.F32, bt, e);
            normed = Tensor.zeros(DType.F32, bt, e);
            long th = t + config.convKernel() - 1;
            hist = withHistory ? Tensor.zeros(DType.F32, b, th, c) : null;
            histOut = withHistory ? Tensor.zeros(DType.F32, b, th, c) : null;
        }
    }


    // ------------------------------------------------------------------ recurrent decoding

    /** The cache of one batch: per layer conv_state (B, C, K) and ssm_state (B, H, P, N), plus step buffers. */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final Tensor[] conv, ssm;
        final Tensor h, u, o, zxbcdt, z, xbc, dtRaw, xbcAct, x, bm, cm, dt, logA, y, gated, normed, logits;
        final Ssd[] ssds;

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            int e = config.dInner(), c = config.convDim(), nh = config.numHeads(), p = config.headDim(), g = config.nGroups(),
                    n = config.stateSize(), dm = config.hiddenSize();
            this.batch = batch;
            conv = new Tensor[layers.size()];
            ssm = new Tensor[layers.size()];
            for (int i = 0; i < layers.size(); i++) {
                conv[i] = Tensor.zeros(DType.F32, batch, c, config.convKernel());
                ssm[i] = Tensor.zeros(DType.F32, batch, nh, p, n);
            }
            h = Tensor.zeros(DType.F32, batch, dm); u = Tensor.zeros(DType.F32, batch, dm); o = Tensor.zeros(DType.F32, batch, dm);
            zxbcdt = Tensor.zeros(DType.F32, batch, config.inProjSize());
            z = Tensor.zeros(DType.F32, batch, e); xbc = Tensor.zeros(DType.F32, batch, c); dtRaw = Tensor.zeros(DType.F32, batch, nh);
            xbcAct = Tensor.zeros(DType.F32, batch, c); x = Tensor.zeros(DType.F32, batch, e);
            bm = Tensor.zeros(DType.F32, batch, (long) g * n); cm = Tensor.zeros(DType.F32, batch, (long) g * n);
            dt = Tensor.zeros(DType.F32, batch, nh); logA = Tensor.zeros(DType.F32, batch, nh);
            y = Tensor.zeros(DType.F32, batch, 1, nh, p);
            gated = Tensor.zeros(DType.F32, batch, e); normed = Tensor.zeros(DType.F32, batch, e);
            logits = Tensor.zeros(DType.F32, batch, config.paddedVocabSize());
            ssds = new Ssd[layers.size()];
            for (int i = 0; i < layers.size(); i++)
                ssds[i] = new Ssd(x.reshape(batch, 1, nh, p), logA.reshape(batch, 1, nh), dt.reshape(batch, 1, nh),
                        bm.reshape(batch, 1, g, n), cm.reshape(batch, 1, g, n), layers.get(i).d, ssm[i], y);
        }

        @Override public int batch() { return batch; }

        @Override public long stateBytes() {
            long s = 0;
            for (int i = 0; i < conv.length; i++) s += conv[i].byteSize() + ssm[i].byteSize();
            return s;
        }

        @Override public long bufferBytes() {
            return DecodeState.bytes(tokenIds, h, u, o, zxbcdt, z, xbc, dtRaw, xbcAct, x, bm, cm, dt, logA, y, gated, normed, logits);
        }

        /** Layer i's conv_state (B, E + 2GN, K), oldest input first (transformers' cache layout). */
        public Tensor convState(int i) { return conv[i]; }

        /** Layer i's ssm_state (B, H, P, N). */
        public Tensor ssmState(int i) { return ssm[i]; }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        for (int i = 0; i < layers.size(); i++) {
            backend.fill(s.conv[i], 0f);
            backend.fill(s.ssm[i], 0f);
        }
        return extend(s, prompts);
    }

    /**
     * Feeds more tokens (B, T) through the whole-sequence path, continuing from the state (conv history and S_0)
     * and leaving it after the last token; returns the last position's logits (B, V'). {@link #prefill} is this
     * from an empty state, so a prompt prefilled in two pieces equals one piece.
     */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        int b = ids.length, t = ids[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        Tensor hf = hidden(ids, Trace.NONE, s);                      // (B·T, D)
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, null, s.logits);
        return s.logits;
    }

    /** One token per sequence through every block, mirroring {@link #mixer} line for line. Returns logits (B, V'). */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        mamba4j.models.TokenIds.check(tokens, -1, config.vocabSize());
        backend.ids(tokens, s.tokenIds);
        backend.embedding(embedding, s.tokenIds, s.h);
        float eps = (float) config.layerNormEpsilon();
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            backend.rmsNorm(s.h, l.norm, eps, s.u);
            backend.linear(s.u, l.inProj, l.inProjBias, s.zxbcdt);
            backend.splitColumns(s.zxbcdt, s.z, s.xbc, s.dtRaw);
            backend.causalConv1dStep(s.conv[i], s.xbc, l.convWeight, l.convBias, true, s.xbcAct);
            backend.splitColumns(s.xbcAct, s.x, s.bm, s.cm);
            // NO clamp to time_step_limit here: transformers' cached decode step (mamba2_selective_state_update) and
            // mamba_ssm's Mamba2.step do not clamp (manifest fact "dt"; generate.json "decode_steps_clamp_dt_in_transformers":
            // false), so greedy ids match transformers' generate. softplus ≥ 0, so the bounds (0, ∞) change nothing.
            backend.softplusClamp(s.dtRaw, l.dtBias, 0f, Float.POSITIVE_INFINITY, s.dt);
            backend.mulColumns(s.dt, a[i], s.logA);
            backend.ssd(s.ssds[i], 1);                                         // one step of the recurrence, ssm_state in place
            backend.mulSilu(s.y.reshape(s.batch, config.dInner()), s.z, s.gated);
            gatedNorm(s.gated, l.gateNorm, s.normed, s.batch);
            backend.linear(s.normed, l.outProj, l.outProjBias, s.o);
            backend.add(s.h, s.o, s.h);
        }
        backend.rmsNorm(s.h, normF, eps, s.u);
        backend.linear(s.u, lmHead, null, s.logits);
        return s.logits;
    }

    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        for (int i = 0; i < layers.size(); i++) {
            mamba4j.models.SequenceCopies.copyRow(backend, a.conv[i], srcRow, d.conv[i], dstRow);
            mamba4j.models.SequenceCopies.copyRow(backend, a.ssm[i], srcRow, d.ssm[i], dstRow);
        }
    }
}
