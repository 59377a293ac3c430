package mamba4j.models.mamba1;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import mamba4j.models.ColumnParts;
import mamba4j.models.InferenceRun;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.BlockRecompute;
import mamba4j.models.CausalLM;
import mamba4j.models.SequenceCopies;
import mamba4j.models.TokenIds;
import mamba4j.models.Trace;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.List;

/**
 * The Mamba-1 language model (mamba_ssm {@code MambaLMHeadModel}, transformers {@code MambaForCausalLM}):
 * embedding → [RMSNorm → mixer → residual] × n_layer → RMSNorm → lm_head, with the time-invariant ablation of the
 * paper's §4.1 as a config option ({@link Mamba1Config#selective()}).
 *
 * <p>ONE forward ({@link #block}) serves inference and training: on an inference tape it records nothing and each
 * block's intermediates are freed before the next; on a recording tape (with the weights as trainable parameters,
 * {@link #trainable}) it is what the loss is differentiated through. {@link #step} runs one token from the
 * (conv_state, ssm_state) cache with preallocated buffers, mirroring {@link #block} line for line. Every tensor is
 * named once, in {@link Mamba1Weights}.
 */
public final class Mamba1Model implements CausalLM, TrainableModel {
    private final Mamba1Config config;
    private final Backend backend;
    private final InferenceRun inference = new InferenceRun();   // the inference forward's workspaces, reused by every call
    private final Mamba1Weights<Tensor> w;              // what forward and step read: stored tensors, or parameter values
    private final Mamba1Weights<Parameter> params;      // null unless trainable
    private final Workspace trainWs = Workspace.collected();  // one training step's tape (recompute off)
    private final BlockRecompute recomputer = new BlockRecompute();
    private boolean recompute = BlockRecompute.DEFAULT;

    private Mamba1Model(Mamba1Config config, Backend backend, Mamba1Weights<Tensor> weights, Mamba1Weights<Parameter> params) {
        this.config = config;
        this.backend = backend;
        this.w = weights;
        this.params = params;
    }

    /** A model over these tensors as they are (mapped, any weight dtype): for inference. */
    public static Mamba1Model of(Mamba1Config config, Backend backend, Mamba1Weights<Tensor> weights) {
        return new Mamba1Model(config, backend, weights, null);
    }

    /**
     * A trainable model: F32 master copies of {@code weights} as parameters under their checkpoint names
     * ({@code embeddingName} picks the layout), AdamW decaying the matrices; forward and step read the parameters.
     */
    public static Mamba1Model trainable(Mamba1Config config, Backend backend, Mamba1Weights<Tensor> weights, String embeddingName) {
        java.util.Map<Tensor, Parameter> ps = mamba4j.models.TensorSpec.parameters(weights.all(),
                Mamba1Weights.table(config, embeddingName).all(), backend);
        Mamba1Weights<Parameter> params = weights.map(ps::get);
        return new Mamba1Model(config, backend, params.map(Parameter::value), params);
    }

    public Mamba1Config config() { return config; }
    public Backend backend() { return backend; }
    public Mamba1Weights<Tensor> weights() { return w; }

    @Override public int logitsSize() { return config.paddedVocabSize(); }
    @Override public int vocabSize() { return config.vocabSize(); }
    @Override public int eosTokenId() { return config.eosTokenId(); }

    /** Bytes of weights one decode step reads: every block tensor and the head once, one embedding row. */
    @Override public long weightBytesPerToken() {
        long bytes = w.lmHead().byteSize() + w.embedding().dtype().byteCount(config.hiddenSize());   // the head, one embedding row
        for (Mamba1Weights.Layer<Tensor> l : w.layers()) for (Tensor t : l.all()) bytes += t.byteSize();
        return bytes + w.normF().byteSize();
    }

    // ------------------------------------------------------------------ the one forward

    /** A block's tensors as tape variables: trainable leaves when this model trains, constants otherwise. */
    private Mamba1Weights.Layer<Var> vars(Tape tape, int i) {
        return params != null ? params.layers().get(i).map(tape::param) : w.layers().get(i).map(tape::constant);
    }

    private Var leaf(Tape tape, Tensor t, Parameter p) { return p != null ? tape.param(p) : tape.constant(t); }

    /** The embedding output h_0 (B·T, D). */
    private Var embed(Tape tape, Tensor ids) {
        return tape.embedding(leaf(tape, w.embedding(), params == null ? null : params.embedding()), ids);
    }

    /**
     * The Mamba block of the paper's Figure 3: h + mixer(RMSNorm(h)), (B·T, D) → (B·T, D). When convState (B, E, K)
     * and ssmState (B, E, N) are given (inference tape only) the block continues the sequence they hold (zeros: a
     * prefill) and leaves them after its last token, for decoding or extending on.
     */
    private Var block(Tape tape, int i, Var h, int b, int t, Tensor convState, Tensor ssmState) {
        Mamba1Weights.Layer<Var> l = vars(tape, i);
        int e = config.dInner(), n = config.stateSize(), r = config.dtRank();
        long bt = (long) b * t;
        Var u = tape.rmsNorm(h, l.norm(), (float) config.layerNormEpsilon());                 // (B·T, D)
        Var[] xz = tape.linearSplit(u, l.inProj(), l.inProjBias(), e, e);         // x, z: (B·T, E)
        Var xc = tape.conv(xz[0].reshape(b, t, e), l.convWeight(), l.convBias(), true, convState);  // silu(conv(x))  (B, T, E)
        Var delta, bm, cm;
        if (config.selective()) {
            Var[] dbc = tape.linearSplit(xc.reshape(bt, e), l.xProj(), null, r, n, n); // Δ | B | C
            delta = tape.linear(dbc[0], l.dtProjWeight(), null);                              // bias added in the scan, before softplus
            bm = dbc[1];
            cm = dbc[2];
        } else {                                                                              // the same row at every position
            Var one = tape.constant(ones(bt));
            delta = tape.linear(one, l.dtConst(), null);
            bm = tape.linear(one, l.bConst(), null);
            cm = tape.linear(one, l.cConst(), null);
        }
        Var a = tape.negExp(l.aLog());                                                        // A = −exp(A_log)  (E, N)
        Var y = tape.selectiveScan(xc, delta.reshape(b, t, e), l.dtProjBias(), true, a, bm.reshape(b, t, n),
                cm.reshape(b, t, n), l.d(), xz[1].reshape(b, t, e), ssmState);               // gate y·silu(z) inside
        Var o = tape.linear(y.reshape(bt, e), l.outProj(), l.outProjBias());                 // (B·T, D)
        return tape.add(h, o);
    }

    /** Final RMSNorm → head: (B·T, D) → logits (B·T, V'). */
    private Var head(Tape tape, Var h, Trace trace) {
        Var hf = tape.rmsNorm(h, leaf(tape, w.normF(), params == null ? null : params.normF()), (float) config.layerNormEpsilon());
        trace.record("norm_f", -1, hf.value());
        Var lm = w.tied() ? leaf(tape, w.embedding(), params == null ? null : params.embedding())
                : leaf(tape, w.lmHead(), params == null ? null : params.lmHead());
        return tape.linear(hf, lm, null);
    }

    private Tensor ones(long rows) {
        Tensor t = backend.zeros(rows, 1);
        backend.fill(t, 1f);
        return t;
    }

    // ------------------------------------------------------------------ inference: the forward on an inference tape

    @Override public Tensor forward(int[][] ids, Trace trace) {
        return InferenceRun.allPositions(backend, ids, config.paddedVocabSize(), logits -> run(ids, trace, null, logits, false));
    }

    /** The one forward on inference tapes ({@link InferenceRun}); fills the cache when one is given. */
    private void run(int[][] ids, Trace trace, State cache, Tensor logits, boolean lastOnly) {
        int b = ids.length, t = ids[0].length;
        Tensor idsT = backend.ids(TokenIds.flattenChecked(ids, config.vocabSize()));
        inference.logits(backend, new InferenceRun.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape) { return Mamba1Model.this.embed(tape, idsT); }
            @Override public Var block(Tape tape, int i, Var h) {
                return Mamba1Model.this.block(tape, i, h, b, t, cache == null ? null : cache.conv[i], cache == null ? null : cache.ssm[i]);
            }
            @Override public Var head(Tape tape, Var h) { return Mamba1Model.this.head(tape, h, lastOnly ? Trace.NONE : trace); }
        }, b, t, trace, lastOnly, logits);
    }

    // ------------------------------------------------------------------ training: the forward on a recording tape

    /** In checkpoint order; the conv weight is held as (E, K) (the checkpoint stores (E, 1, K)). */
    @Override public List<Parameter> parameters() { return trainableParams().all(); }

    private Mamba1Weights<Parameter> trainableParams() {
        if (params == null) throw new IllegalStateException("an inference model: build it with Mamba1Model.trainable to train");
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
        trainWs.reset();
        Tape tape = new Tape(backend, trainWs);
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        trainableParams();
        if (recompute) return checkpointed(inputs, targets, 1f, false);
        trainWs.reset();
        Tape tape = new Tape(backend, trainWs);
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    /** Loss and gradients with per-block activation recomputation ({@link BlockRecompute}): bit-identical to one tape. */
    private double checkpointed(int[][] inputs, int[][] targets, float gradScale, boolean backward) {
        return recomputer.run(backend, new BlockRecompute.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape, int[][] ids) { return Mamba1Model.this.embed(tape, backend.ids(TokenIds.flatten(ids))); }
            @Override public Var block(Tape tape, int i, Var h, int b, int t) { return Mamba1Model.this.block(tape, i, h, b, t, null, null); }
            @Override public Var loss(Tape tape, Var h, int[][] tg) {
                return tape.crossEntropy(head(tape, h, Trace.NONE), TokenIds.flatten(tg));
            }
        }, inputs, targets, gradScale, backward);
    }

    /** Whether training recomputes each block's intermediates instead of keeping them (bit-identical either way). */
    public boolean recompute() { return recompute; }

    public void setRecompute(boolean on) { recompute = on; }

    /** Bytes the training workspaces have reserved from the OS (they only grow): the tape's memory, for bench-train. */
    public long workspaceBytes() { return trainWs.reservedBytes() + recomputer.reservedBytes(); }

    /** Greedy prediction per position (B, T) over the real vocab. */
    @Override public int[][] predict(int[][] inputs) { return argmax(forward(inputs, Trace.NONE), inputs.length, inputs[0].length); }

    private int[][] argmax(Tensor logits, int b, int t) {
        int v = config.paddedVocabSize();
        float[] all = backend.download(logits).toFloatArray();
        return mamba4j.models.Sampler.argmaxRows(all, b, t, v, config.vocabSize());
    }

    /** Writes an HF-loadable checkpoint (the time-invariant ablation: its own tensors, config marked as such). */
    @Override public void save(Path dir) { Mamba1Saver.save(this, dir); }

    /** Copies the tensors of dir's checkpoint into the parameters, in place (a run's `--init`). */
    public void loadFrom(Path dir) {
        try (mamba4j.io.CheckpointTensors ck = mamba4j.io.CheckpointTensors.open(dir)) {
            Mamba1Weights<Tensor> src = Mamba1Loader.tensors(config, ck);
            List<Tensor> from = src.all();
            List<Parameter> to = trainableParams().all();
            for (int i = 0; i < to.size(); i++) backend.write(from.get(i).to(DType.F32).reshape(to.get(i).value().shape().dims()), to.get(i).value());
        }
    }

    // ------------------------------------------------------------------ recurrent decoding

    /** The cache of one batch: per layer conv_state (B, E, K) and ssm_state (B, E, N), plus step buffers. */
    public final class State implements DecodeState {
        final int batch;
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final Tensor[] conv, ssm, a;                // per layer; A = −exp(A_log) (E, N), computed once per state
        final int[] pos;                            // (B) tokens each sequence has consumed (0 = empty)
        final Tensor h, u, o, xz, x, z, xc, dbc, dt, bm, cm, delta, y, logits, one;
        final ColumnParts xzParts, dbcParts;                 // x | z and Δ | B | C: views at batch 1
        final SelectiveScan[] scans;
        final mamba4j.models.StepReplay replay = new mamba4j.models.StepReplay(backend, () -> stepOps(this));

        State(int batch) {
            int e = config.dInner(), n = config.stateSize(), dm = config.hiddenSize(), layers = config.numHiddenLayers();
            this.batch = batch;
            pos = new int[batch];
            tokenIds = backend.zeros(DType.I32, batch);
            conv = new Tensor[layers];
            ssm = new Tensor[layers];
            a = new Tensor[layers];
            for (int i = 0; i < layers; i++) {
                conv[i] = backend.zeros(batch, e, config.convKernel());
                ssm[i] = backend.zeros(batch, e, n);
                Tensor aLog = w.layers().get(i).aLog();
                a[i] = backend.allocate(DType.F32, aLog.shape());
                backend.negExp(aLog, a[i]);
            }
            h = backend.zeros(batch, dm); u = backend.zeros(batch, dm); o = backend.zeros(batch, dm);
            xz = backend.zeros(batch, 2L * e);
            xzParts = new ColumnParts(backend, xz, e, e);
            x = xzParts.get(0); z = xzParts.get(1); xc = backend.zeros(batch, e);
            dbc = backend.zeros(batch, config.dtRank() + 2L * n);
            dbcParts = new ColumnParts(backend, dbc, config.dtRank(), n, n);
            dt = dbcParts.get(0); bm = dbcParts.get(1); cm = dbcParts.get(2);
            delta = backend.zeros(batch, e); y = backend.zeros(batch, e);
            logits = backend.zeros(batch, config.paddedVocabSize());
            one = config.selective() ? null : ones(batch);
            scans = new SelectiveScan[layers];
            for (int i = 0; i < layers; i++)
                scans[i] = new SelectiveScan(xc.reshape(batch, 1, e), delta.reshape(batch, 1, e), w.layers().get(i).dtProjBias(), true,
                        a[i], bm.reshape(batch, 1, n), cm.reshape(batch, 1, n), w.layers().get(i).d(), z.reshape(batch, 1, e), ssm[i],
                        y.reshape(batch, 1, e));
        }

        @Override public int batch() { return batch; }

        @Override public long stateBytes() {
            long s = 0;
            for (int i = 0; i < conv.length; i++) s += conv[i].byteSize() + ssm[i].byteSize();
            return s;
        }

        @Override public long bufferBytes() {
            return DecodeState.bytes(tokenIds, h, u, o, xz, xc, dbc, delta, y, logits, one) + xzParts.extraBytes() + dbcParts.extraBytes();
        }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        if (prompts.length != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + prompts.length);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            backend.fill(s.conv[i], 0f);
            backend.fill(s.ssm[i], 0f);
        }
        java.util.Arrays.fill(s.pos, 0);
        return extend(s, prompts);
    }

    /**
     * Feeds more tokens (B, T) through the whole-sequence path, continuing from the state (conv history and h_0) and
     * leaving it after the last token; returns the last position's logits (B, V'). {@link #prefill} is this from an
     * empty state, so a prompt prefilled in pieces equals one piece.
     */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        if (ids.length != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + ids.length);
        run(ids, Trace.NONE, s, s.logits, true);
        for (int r = 0; r < s.batch; r++) s.pos[r] += ids[r].length;
        return s.logits;
    }

    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            SequenceCopies.copyRow(backend, a.conv[i], srcRow, d.conv[i], dstRow);
            SequenceCopies.copyRow(backend, a.ssm[i], srcRow, d.ssm[i], dstRow);
        }
        d.pos[dstRow] = a.pos[srcRow];
    }

    /** One token per sequence through every block, mirroring {@link #block} line for line. Returns logits (B, V'). */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        TokenIds.check(tokens, -1, config.vocabSize());
        backend.ids(tokens, s.tokenIds);
        for (int r = 0; r < s.batch; r++) s.pos[r]++;
        s.replay.run();
        return s.logits;
    }

    /** The ops of one decode step: the same on the same buffers at every token (so an accelerator replays them as a graph). */
    private void stepOps(State s) {
        backend.embedding(w.embedding(), s.tokenIds, s.h);
        float eps = (float) config.layerNormEpsilon();
        backend.rmsNorm(s.h, w.layers().get(0).norm(), eps, s.u);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            Mamba1Weights.Layer<Tensor> l = w.layers().get(i);
            if (s.batch == 1)   // x | z views of xz, the conv on x's columns: one kernel on an accelerator
                backend.linearConvStep(s.u, l.inProj(), l.inProjBias(), s.xz, 0, s.conv[i], l.convWeight(), l.convBias(), true, s.xc);
            else {
                s.xzParts.linear(backend, s.u, l.inProj(), l.inProjBias());   // x | z written apart (one kernel on an accelerator)
                backend.causalConv1dStep(s.conv[i], s.x, l.convWeight(), l.convBias(), true, s.xc);
            }
            if (config.selective()) {
                s.dbcParts.linear(backend, s.xc, l.xProj(), null);
                // Δ = dt · dt_projᵀ, then one step of the recurrence (ssm_state in place): one kernel on an accelerator
                backend.selectiveScanStep(s.dt, l.dtProjWeight(), s.scans[i]);
            } else {
                backend.linear(s.one, l.dtConst(), null, s.delta);
                backend.linear(s.one, l.bConst(), null, s.bm);
                backend.linear(s.one, l.cConst(), null, s.cm);
                backend.selectiveScan(s.scans[i]);                          // one step of the recurrence, ssm_state in place
            }
            backend.linear(s.y, l.outProj(), l.outProjBias(), s.o);
            // h + o, and the next block's RMSNorm (the final norm after the last block) in one op
            backend.addRmsNorm(s.h, s.o, i + 1 < config.numHiddenLayers() ? w.layers().get(i + 1).norm() : w.normF(), eps, s.u);
        }
        backend.linear(s.u, w.lmHead(), null, s.logits);
    }
}
