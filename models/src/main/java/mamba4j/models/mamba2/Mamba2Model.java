package mamba4j.models.mamba2;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.DType;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.BlockRecompute;
import mamba4j.models.CausalLM;
import mamba4j.models.InferenceRun;
import mamba4j.models.SequenceCopies;
import mamba4j.models.TensorSpec;
import mamba4j.models.TokenIds;
import mamba4j.models.Trace;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.List;

/**
 * The Mamba-2 language model (mamba_ssm {@code MambaLMHeadModel} with {@code Mamba2} mixers, transformers
 * {@code Mamba2ForCausalLM}): embedding → [RMSNorm → Mamba-2 mixer → residual] × n_layer → RMSNorm → lm_head.
 *
 * <p>ONE forward ({@link #block}, the chunked SSD with chunk = config chunk_size) serves inference and training: on
 * an inference tape it records nothing, frees each block's intermediates before the next and may continue from a
 * decode state (conv history and S_0; {@link #extend}); on a recording tape (weights as parameters,
 * {@link #trainable}) it is what the loss is differentiated through. {@link #step} runs one token from the
 * (conv_state, ssm_state) cache with preallocated buffers, mirroring {@link #block} line for line. Every tensor is
 * named once, in {@link Mamba2Weights}. Shapes use MATH.md's symbols: E = expand·D = H·P, C = E + 2GN.
 */
public final class Mamba2Model implements CausalLM, TrainableModel {
    private final Mamba2Config config;
    private final Backend backend;
    private final InferenceRun inference = new InferenceRun();   // the inference forward's workspaces, reused by every call
    private final Mamba2Weights<Tensor> w;              // what forward and step read: stored tensors, or parameter values
    private final Mamba2Weights<Parameter> params;      // null unless trainable
    private final Tensor groupOnes;                     // (E/G) of 1: the per-group norm's statistics pass; the weight follows by mulColumns
    private final float lo, hi;                         // time_step_limit
    private final BlockRecompute recomputer = new BlockRecompute();
    private boolean recompute = BlockRecompute.DEFAULT;

    private Mamba2Model(Mamba2Config config, Backend backend, Mamba2Weights<Tensor> weights, Mamba2Weights<Parameter> params) {
        this.config = config;
        this.backend = backend;
        this.w = weights;
        this.params = params;
        groupOnes = backend.zeros(config.dInner() / config.nGroups());
        backend.fill(groupOnes, 1f);
        lo = (float) config.timeStepLo();
        hi = (float) config.timeStepHi();
    }

    /** A model over these tensors as they are (mapped, any weight dtype): for inference. */
    public static Mamba2Model of(Mamba2Config config, Backend backend, Mamba2Weights<Tensor> weights) {
        return new Mamba2Model(config, backend, weights, null);
    }

    /** A trainable model: F32 master copies of {@code weights} as parameters named by the table ({@code embeddingName}: the layout's). */
    public static Mamba2Model trainable(Mamba2Config config, Backend backend, Mamba2Weights<Tensor> weights, String embeddingName) {
        java.util.Map<Tensor, Parameter> ps = TensorSpec.parameters(weights.all(), Mamba2Weights.table(config, embeddingName).all(), backend);
        Mamba2Weights<Parameter> params = weights.map(ps::get);
        return new Mamba2Model(config, backend, params.map(Parameter::value), params);
    }

    /** The same weights under another config (chunk size, norm, time-step limit: what tests compare across). */
    public Mamba2Model withConfig(Mamba2Config c) { return new Mamba2Model(c, backend, w, params); }

    public Mamba2Config config() { return config; }
    public Backend backend() { return backend; }
    public Mamba2Weights<Tensor> weights() { return w; }

    @Override public int logitsSize() { return config.paddedVocabSize(); }
    @Override public int vocabSize() { return config.vocabSize(); }
    @Override public int eosTokenId() { return config.eosTokenId(); }

    /** Bytes of weights one decode step reads: every layer tensor once, the head once, one embedding row. */
    @Override public long weightBytesPerToken() {
        long bytes = w.lmHead().byteSize() + w.embedding().dtype().byteCount(config.hiddenSize());   // the head, one embedding row
        for (Mamba2Weights.Layer<Tensor> l : w.layers()) for (Tensor t : l.all()) bytes += t.byteSize();
        return bytes + w.normF().byteSize();
    }

    // ------------------------------------------------------------------ the one forward

    private Mamba2Weights.Layer<Var> vars(Tape tape, int i) {
        return params != null ? params.layers().get(i).map(tape::param) : w.layers().get(i).map(tape::constant);
    }

    private Var leaf(Tape tape, Tensor t, Parameter p) { return p != null ? tape.param(p) : tape.constant(t); }

    private Var embed(Tape tape, Tensor ids) {
        return tape.embedding(leaf(tape, w.embedding(), params == null ? null : params.embedding()), ids);
    }

    /**
     * The Mamba-2 block (MATH.md "Mamba-2 block"): h + mixer(RMSNorm(h)), (B·T, D) → (B·T, D). When convState (B, C, K)
     * and ssmState (B, H, P, N) are given (inference tapes), the sequence continues from them and they are updated.
     */
    private Var block(Tape tape, int i, Var h, int b, int t, Tensor convState, Tensor ssmState) {
        Mamba2Weights.Layer<Var> l = vars(tape, i);
        int e = config.dInner(), c = config.convDim(), nh = config.numHeads(), hp = config.headDim(), g = config.nGroups(), n = config.stateSize();
        long bt = (long) b * t;
        float eps = (float) config.layerNormEpsilon();
        Var u = tape.rmsNorm(h, l.norm(), eps);
        Var[] zxbcdt = tape.linearSplit(u, l.inProj(), l.inProjBias(), e, c, nh);          // z | xBC | dt
        Var[] xBC = tape.convSplit(zxbcdt[1].reshape(b, t, c), l.convWeight(), l.convBias(), true, convState,   // silu(conv(xBC))
                e, (long) g * n, (long) g * n);                                                        // as x | B | C (B·T, ·)
        Var dt = tape.softplusClamp(zxbcdt[2], l.dtBias(), lo, hi);                                    // clamp(softplus(dt + dt_bias))  (B·T, H)
        Var logA = tape.mulColumns(dt, tape.negExp(l.aLog()));                                         // dt·A, A = −exp(A_log)
        Var y = tape.ssd(xBC[0].reshape(b, t, nh, hp), logA.reshape(b, t, nh), dt.reshape(b, t, nh),
                xBC[1].reshape(b, t, g, n), xBC[2].reshape(b, t, g, n), l.d(), config.chunkSize(), ssmState, l.inProj().value().dtype());
        Var normed = perGroupNorm()                                                                    // y · silu(z), gate first, then
                ? tape.mulColumns(tape.rmsNorm(tape.mulSilu(y.reshape(bt, e), zxbcdt[0]).reshape(bt * g, e / g),   // the norm per group of E/G,
                        tape.constant(groupOnes), eps).reshape(bt, e), l.gateNorm())
                : tape.rmsNormGated(y.reshape(bt, e), zxbcdt[0], l.gateNorm(), eps);                    // or over all E
        Var o = tape.linear(normed, l.outProj(), l.outProjBias());                                     // (B·T, D)
        return tape.add(h, o);
    }

    /** Whether the gated norm's statistics run per group apart from its weight: with one group it is the plain RMSNorm (one op, not two). */
    private boolean perGroupNorm() { return config.normPerGroup() && config.nGroups() > 1; }

    /** Final RMSNorm → head: (R, D) → logits (R, V'). */
    private Var head(Tape tape, Var h, Trace trace) {
        Var hf = tape.rmsNorm(h, leaf(tape, w.normF(), params == null ? null : params.normF()), (float) config.layerNormEpsilon());
        trace.record("norm_f", -1, hf.value());                                                       // transformers' last hidden_states entry
        Var lm = w.tied() ? leaf(tape, w.embedding(), params == null ? null : params.embedding())
                : leaf(tape, w.lmHead(), params == null ? null : params.lmHead());
        return tape.linear(hf, lm, null);
    }

    // ------------------------------------------------------------------ inference: the forward on inference tapes

    @Override public Tensor forward(int[][] ids, Trace trace) {
        return InferenceRun.allPositions(backend, ids, config.paddedVocabSize(), logits -> run(ids, trace, null, logits, false));
    }

    private void run(int[][] ids, Trace trace, State cache, Tensor logits, boolean lastOnly) {
        int b = ids.length, t = ids[0].length;
        Tensor idsT = backend.ids(TokenIds.flattenChecked(ids, config.vocabSize()));
        inference.logits(backend, new InferenceRun.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape) { return Mamba2Model.this.embed(tape, idsT); }
            @Override public Var block(Tape tape, int i, Var h) {
                return Mamba2Model.this.block(tape, i, h, b, t, cache == null ? null : cache.conv[i], cache == null ? null : cache.ssm[i]);
            }
            @Override public Var head(Tape tape, Var h) { return Mamba2Model.this.head(tape, h, lastOnly ? Trace.NONE : trace); }
        }, b, t, trace, lastOnly, logits);
    }

    // ------------------------------------------------------------------ training: the forward on a recording tape

    /** In checkpoint order; the conv weight is held as (C, K) (the checkpoint stores (C, 1, K)). */
    @Override public List<Parameter> parameters() { return trainableParams().all(); }

    private Mamba2Weights<Parameter> trainableParams() {
        if (params == null) throw new IllegalStateException("an inference model: build it with Mamba2Model.trainable to train");
        return params;
    }

    /** The whole model recorded on one tape: logits (B·T, V') for inputs (B, T). */
    public Var logits(Tape tape, int[][] inputs) {
        int b = inputs.length, t = inputs[0].length;
        Var h = embed(tape, backend.ids(TokenIds.flatten(inputs)));
        for (int i = 0; i < config.numHiddenLayers(); i++) h = block(tape, i, h, b, t, null, null);
        return head(tape, h, Trace.NONE);
    }

    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        trainableParams();
        if (recompute) return checkpointed(inputs, targets, gradScale, true);
        Tape tape = new Tape(backend);
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        trainableParams();
        if (recompute) return checkpointed(inputs, targets, 1f, false);
        Tape tape = new Tape(backend);
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    /** Loss and gradients with per-block activation recomputation ({@link BlockRecompute}): bit-identical to one tape. */
    private double checkpointed(int[][] inputs, int[][] targets, float gradScale, boolean backward) {
        return recomputer.run(backend, new BlockRecompute.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape, int[][] ids) { return Mamba2Model.this.embed(tape, backend.ids(TokenIds.flatten(ids))); }
            @Override public Var block(Tape tape, int i, Var h, int b, int t) { return Mamba2Model.this.block(tape, i, h, b, t, null, null); }
            @Override public Var loss(Tape tape, Var h, int[][] tg) {
                return tape.crossEntropy(head(tape, h, Trace.NONE), TokenIds.flatten(tg));
            }
        }, inputs, targets, gradScale, backward);
    }

    /** Whether training recomputes each block's intermediates instead of keeping them (bit-identical either way). */
    public boolean recompute() { return recompute; }

    public void setRecompute(boolean on) { recompute = on; }

    /** Bytes the training workspaces have reserved from the OS (they only grow): the tape's memory, for bench-train. */
    public long workspaceBytes() { return recomputer.reservedBytes(); }

    /** Greedy prediction per position (B, T) over the real vocab. */
    @Override public int[][] predict(int[][] inputs) {
        int b = inputs.length, t = inputs[0].length, v = config.paddedVocabSize();
        float[] all = backend.download(forward(inputs, Trace.NONE)).toFloatArray();
        return mamba4j.models.Sampler.argmaxRows(all, b, t, v, config.vocabSize());
    }

    /** Writes an HF-loadable checkpoint (config.json + model.safetensors). */
    @Override public void save(Path dir) { Mamba2Saver.save(this, dir); }

    /** Copies the tensors of dir's checkpoint (either layout) into the parameters, in place (a run's `--init`). */
    public void loadFrom(Path dir) {
        try (mamba4j.io.CheckpointTensors ck = mamba4j.io.CheckpointTensors.open(dir)) {
            List<Tensor> from = Mamba2Loader.tensors(config, ck).all();
            List<Parameter> to = trainableParams().all();
            for (int i = 0; i < to.size(); i++) backend.write(from.get(i).to(DType.F32).reshape(to.get(i).value().shape().dims()), to.get(i).value());
        }
    }

    // ------------------------------------------------------------------ recurrent decoding

    /** The cache of one batch: per layer conv_state (B, C, K) and ssm_state (B, H, P, N), plus step buffers. */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final Tensor[] conv, ssm, a;
        final Tensor h, u, o, zxbcdt, z, xbc, dtRaw, xbcAct, x, bm, cm, dt, logA, y, gated, normed, logits;
        final mamba4j.models.ColumnParts inParts, actParts;   // z | xBC | dt and x | B | C: views at batch 1
        final Ssd[] ssds;
        final mamba4j.models.StepReplay replay = new mamba4j.models.StepReplay(backend, () -> stepOps(this));

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            int e = config.dInner(), c = config.convDim(), nh = config.numHeads(), p = config.headDim(), g = config.nGroups(),
                    n = config.stateSize(), dm = config.hiddenSize();
            this.batch = batch;
            int layers = config.numHiddenLayers();
            conv = new Tensor[layers];
            ssm = new Tensor[layers];
            a = new Tensor[layers];
            for (int i = 0; i < layers; i++) {
                conv[i] = backend.zeros(batch, c, config.convKernel());
                ssm[i] = backend.zeros(batch, nh, p, n);
                Tensor aLog = w.layers().get(i).aLog();
                a[i] = backend.allocate(DType.F32, aLog.shape());
                backend.negExp(aLog, a[i]);                                    // A = −exp(A_log), once per state
            }
            h = backend.zeros(batch, dm); u = backend.zeros(batch, dm); o = backend.zeros(batch, dm);
            zxbcdt = backend.zeros(batch, config.inProjSize());
            inParts = new mamba4j.models.ColumnParts(backend, zxbcdt, e, c, nh);
            z = inParts.get(0); xbc = inParts.get(1); dtRaw = inParts.get(2);
            xbcAct = backend.zeros(batch, c);
            actParts = new mamba4j.models.ColumnParts(backend, xbcAct, e, (long) g * n, (long) g * n);
            x = actParts.get(0); bm = actParts.get(1); cm = actParts.get(2);
            dt = backend.zeros(batch, nh); logA = backend.zeros(batch, nh);
            y = backend.zeros(batch, 1, nh, p);
            gated = backend.zeros(batch, e); normed = backend.zeros(batch, e);
            logits = backend.zeros(batch, config.paddedVocabSize());
            ssds = new Ssd[layers];
            for (int i = 0; i < layers; i++)
                ssds[i] = new Ssd(x.reshape(batch, 1, nh, p), logA.reshape(batch, 1, nh), dt.reshape(batch, 1, nh),
                        bm.reshape(batch, 1, g, n), cm.reshape(batch, 1, g, n), w.layers().get(i).d(), ssm[i], y);
        }

        @Override public int batch() { return batch; }

        @Override public long stateBytes() {
            long s = 0;
            for (int i = 0; i < conv.length; i++) s += conv[i].byteSize() + ssm[i].byteSize();
            return s;
        }

        @Override public long bufferBytes() {
            return DecodeState.bytes(tokenIds, h, u, o, zxbcdt, xbcAct, dt, logA, y, gated, normed, logits) + inParts.extraBytes() + actParts.extraBytes();
        }

        /** Layer i's conv_state (B, E + 2GN, K), oldest input first (transformers' cache layout). */
        public Tensor convState(int i) { return conv[i]; }

        /** Layer i's ssm_state (B, H, P, N). */
        public Tensor ssmState(int i) { return ssm[i]; }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        for (int i = 0; i < config.numHiddenLayers(); i++) {
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
        run(ids, Trace.NONE, s, s.logits, true);
        return s.logits;
    }

    /** One token per sequence through every block, mirroring {@link #block} line for line. Returns logits (B, V'). */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        mamba4j.models.TokenIds.check(tokens, -1, config.vocabSize());
        backend.ids(tokens, s.tokenIds);
        s.replay.run();
        return s.logits;
    }

    /** The ops of one decode step: the same on the same buffers at every token (so an accelerator replays them as a graph). */
    private void stepOps(State s) {
        backend.embedding(w.embedding(), s.tokenIds, s.h);
        float eps = (float) config.layerNormEpsilon();
        backend.rmsNorm(s.h, w.layers().get(0).norm(), eps, s.u);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            Mamba2Weights.Layer<Tensor> l = w.layers().get(i);
            if (s.batch == 1)   // z | xBC | dt views of zxbcdt, the conv on xBC's columns: one kernel on an accelerator
                backend.linearConvStep(s.u, l.inProj(), l.inProjBias(), s.zxbcdt, config.dInner(), s.conv[i], l.convWeight(), l.convBias(), true, s.xbcAct);
            else {
                s.inParts.linear(backend, s.u, l.inProj(), l.inProjBias());   // z | xBC | dt written apart (one kernel on an accelerator)
                s.actParts.convStep(backend, s.conv[i], s.xbc, l.convWeight(), l.convBias(), true);   // x | B | C likewise
            }
            // NO clamp to time_step_limit here: transformers' cached decode step (mamba2_selective_state_update) and
            // mamba_ssm's Mamba2.step do not clamp (manifest fact "dt"; generate.json "decode_steps_clamp_dt_in_transformers":
            // false), so greedy ids match transformers' generate. softplus ≥ 0, so the bounds (0, ∞) change nothing.
            // dt = softplus(dt + dt_bias), dt·A, then one step of the recurrence (ssm_state in place): one kernel on an accelerator
            backend.ssdStepWithDt(s.ssds[i], s.dtRaw, l.dtBias(), s.a[i], 0f, Float.POSITIVE_INFINITY);
            if (perGroupNorm()) {                                              // the block's gated norm, per group or over all E
                int e = config.dInner(), gr = config.nGroups();
                backend.mulSilu(s.y.reshape(s.batch, e), s.z, s.gated);
                backend.rmsNorm(s.gated.reshape((long) s.batch * gr, e / gr), groupOnes, eps, s.normed.reshape((long) s.batch * gr, e / gr));
                backend.mulColumns(s.normed, l.gateNorm(), s.normed);
            } else backend.rmsNormGated(s.y.reshape(s.batch, config.dInner()), s.z, l.gateNorm(), eps, s.normed);
            backend.linear(s.normed, l.outProj(), l.outProjBias(), s.o);
            // h + o, and the next block's RMSNorm (the final norm after the last block) in one op
            backend.addRmsNorm(s.h, s.o, i + 1 < config.numHiddenLayers() ? w.layers().get(i + 1).norm() : w.normF(), eps, s.u);
        }
        backend.linear(s.u, w.lmHead(), null, s.logits);
    }

    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        for (int i = 0; i < a.conv.length; i++) {
            mamba4j.models.SequenceCopies.copyRow(backend, a.conv[i], srcRow, d.conv[i], dstRow);
            mamba4j.models.SequenceCopies.copyRow(backend, a.ssm[i], srcRow, d.ssm[i], dstRow);
        }
    }
}
