package mamba4j.models.teachers;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.CausalLM;
import mamba4j.models.CheckpointNames;
import mamba4j.models.InferenceRun;
import mamba4j.models.KvCache;
import mamba4j.models.Sampler;
import mamba4j.models.TensorSpec;
import mamba4j.models.TokenIds;
import mamba4j.models.Trace;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The Transformer language model — Phi, Llama or GPT-2 (see {@link TeacherSpec.Arch} for the three wirings) —
 * MOHAWK's teacher and a model of its own: embedding (+ learned positions) → blocks → final norm → lm_head.
 *
 * <p>ONE forward ({@link #block}) serves inference and training: on an inference tape it records nothing, frees
 * each block's intermediates before the next, may fill a KV cache and publish attention probabilities; on a
 * recording tape (weights as parameters, {@link #fromCheckpoint} / {@link #random}) it is what the loss is
 * differentiated through, every gradient in the checkpoint's layout. {@link #step} runs one token per sequence
 * against the KV cache (keys after rotary), mirroring {@link #block} line for line. Every tensor is named once, in
 * {@link TeacherWeights}.
 */
public final class TransformerLM implements CausalLM, TrainableModel {
    private final TeacherSpec spec;
    private final Backend backend;
    private final InferenceRun inference = new InferenceRun();   // the inference forward's workspaces, reused by every call
    private final TeacherWeights<Tensor> w;
    private final TeacherWeights<Parameter> params;    // null unless trainable
    private final boolean attentionBias, mlpBias;      // Llama's optional biases (for the saved config)
    private final Tensor cos, sin;                     // (P, rotaryDim/2) or null
    private final Workspace trainWs = Workspace.collected(); // one training step's tape

    private TransformerLM(TeacherSpec spec, Backend backend, TeacherWeights<Tensor> weights, TeacherWeights<Parameter> params,
                         boolean attentionBias, boolean mlpBias) {
        this.spec = spec;
        this.backend = backend;
        this.w = weights;
        this.params = params;
        this.attentionBias = attentionBias;
        this.mlpBias = mlpBias;
        if (spec.rotaryDim() > 0) {
            Tensor[] t = Formulas.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);
            cos = backend.upload(t[0]);
            sin = backend.upload(t[1]);
        } else {
            cos = sin = null;
        }
    }

    /** The layout facts of a checkpoint: GPT-2's name prefix, Llama's optional biases, Phi's lm_head bias. */
    private record Layout(String gpt2Prefix, boolean attentionBias, boolean mlpBias, boolean lmHeadBias) {
        static Layout of(TeacherSpec spec, CheckpointTensors ck) {
            return new Layout(spec.arch() == TeacherSpec.Arch.GPT2 && !ck.contains("transformer.wte.weight") ? "" : "transformer.",
                    spec.arch() == TeacherSpec.Arch.LLAMA && ck.contains("model.layers.0.self_attn.q_proj.bias"),
                    spec.arch() == TeacherSpec.Arch.LLAMA && ck.contains("model.layers.0.mlp.up_proj.bias"),
                    spec.arch() == TeacherSpec.Arch.PHI && ck.contains("lm_head.bias"));
        }

        /** What a fresh model has: Phi's lm_head bias, no Llama biases. */
        static Layout fresh(TeacherSpec spec) { return new Layout("transformer.", false, false, spec.arch() == TeacherSpec.Arch.PHI); }

        TeacherWeights<TensorSpec> table(TeacherSpec spec) { return TeacherWeights.table(spec, gpt2Prefix, attentionBias, mlpBias, lmHeadBias); }
    }

    /** An inference model over the checkpoint's tensors (linear weights keep their dtype), every shape asserted with its name. */
    public static TransformerLM load(TeacherSpec spec, CheckpointTensors ck, Backend backend) { return load(spec, ck, backend, null); }

    /** As {@link #load(TeacherSpec, CheckpointTensors, Backend)} with linear weights and embeddings in {@code weightType} (null: as stored). */
    public static TransformerLM load(TeacherSpec spec, CheckpointTensors ck, Backend backend, DType weightType) {
        Layout layout = Layout.of(spec, ck);
        CheckpointNames names = new CheckpointNames(ck, weightType);
        return new TransformerLM(spec, backend, layout.table(spec).map(e -> backend.upload(e.read(names))), null,
                layout.attentionBias(), layout.mlpBias());
    }

    /** A trainable model: F32 copies of a checkpoint's tensors (any floating dtype) as parameters. */
    public static TransformerLM fromCheckpoint(TeacherSpec spec, CheckpointTensors ck, Backend backend) {
        Layout layout = Layout.of(spec, ck);
        CheckpointNames names = new CheckpointNames(ck);
        TeacherWeights<TensorSpec> table = layout.table(spec);
        return trainable(spec, backend, table, table.map(e -> e.read(names)), layout);
    }

    /**
     * A fresh trainable model initialised as transformers' _init_weights with initializer_range 0.02: linear and
     * embedding weights N(0, 0.02) (GPT-2's c_proj N(0, 0.02/√(2·n_layer)), as GPT2PreTrainedModel), biases 0, norms 1,
     * drawn in checkpoint order from {@code seed}. Phi gets its lm_head bias; Llama has no biases.
     */
    public static TransformerLM random(TeacherSpec spec, long seed, Backend backend) {
        Layout layout = Layout.fresh(spec);
        TeacherWeights<TensorSpec> table = layout.table(spec);
        SplittableRandom rnd = new SplittableRandom(seed);
        double projStd = 0.02 / Math.sqrt(2.0 * spec.layers());
        Map<TensorSpec, Tensor> init = new java.util.IdentityHashMap<>();
        for (TensorSpec s : table.all()) {                           // in checkpoint order: the draw order
            Tensor v = Tensor.zeros(DType.F32, s.dims());
            if (s.decays()) {                                        // a weight: N(0, std)
                double std = spec.arch() == TeacherSpec.Arch.GPT2 && s.name().endsWith("c_proj.weight") ? projStd : 0.02;
                for (long i = 0, n = v.numel(); i < n; i++)
                    v.setFloat(i, (float) (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble()) * std));
            } else if (!s.name().endsWith(".bias")) {
                v.fill(1f);                                          // a norm weight
            }
            init.put(s, v);
        }
        return trainable(spec, backend, table, table.map(init::get), layout);
    }

    private static TransformerLM trainable(TeacherSpec spec, Backend backend, TeacherWeights<TensorSpec> table, TeacherWeights<Tensor> values,
                                          Layout layout) {
        Map<Tensor, Parameter> ps = TensorSpec.parameters(values.all(), table.all(), backend);
        TeacherWeights<Parameter> params = values.map(ps::get);
        return new TransformerLM(spec, backend, params.map(Parameter::value), params, layout.attentionBias(), layout.mlpBias());
    }

    public TeacherSpec spec() { return spec; }
    public Backend backend() { return backend; }
    public TeacherWeights<Tensor> weights() { return w; }

    @Override public int logitsSize() { return spec.vocabSize(); }
    @Override public int vocabSize() { return spec.vocabSize(); }
    @Override public int eosTokenId() { return spec.eosTokenId(); }

    /** transformers' output_hidden_states of these models: the embedding output, blocks 0..L−2, then the final norm. */
    @Override public boolean hiddenStatesIncludeEmbedding() { return true; }

    /** Every weight once, the head once, one embedding (and position) row; the KV cache is read on top of this. */
    @Override public long weightBytesPerToken() {
        long bytes = w.lmHead().byteSize() + w.embedding().dtype().byteCount(spec.hidden());
        if (w.positions() != null) bytes += w.positions().dtype().byteCount(spec.hidden());
        for (TeacherWeights.Layer<Tensor> l : w.layers()) for (Tensor t : l.all(spec.arch())) bytes += t.byteSize();
        bytes += w.normF().byteSize() + (w.normFBias() == null ? 0 : w.normFBias().byteSize())
                + (w.lmHeadBias() == null ? 0 : w.lmHeadBias().byteSize());
        return bytes;
    }

    // ------------------------------------------------------------------ the one forward

    private TeacherWeights<Var> vars(Tape tape) {
        return params != null ? params.map(tape::param) : w.map(tape::constant);
    }

    private TeacherWeights.Layer<Var> layerVars(Tape tape, int i) {
        return params != null ? params.layers().get(i).map(tape::param) : w.layers().get(i).map(tape::constant);
    }

    /** Token (and GPT-2 position) embedding: h_0 (B·T, D), token t at position pos0 + t. */
    private Var embed(Tape tape, Tensor ids, int b, int t, int pos0) {
        TeacherWeights<Var> v = vars(tape);
        Var h = tape.embedding(v.embedding(), ids);                                             // (B·T, D) residual stream
        if (v.positions() != null) {                                                            // GPT-2: + wpe[0..T)
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) pos[i] = pos0 + i % t;
            h = tape.add(h, tape.embedding(v.positions(), backend.ids(pos)));
        }
        return h;
    }

    /**
     * Block i: attention and MLP, parallel (Phi: both read one LayerNorm's output) or sequential pre-norm (Llama,
     * GPT-2), added to the residual. (B·T, D) → (B·T, D). On an inference tape, keys (after rotary) and values go to
     * {@code kv} when given and the attention probabilities to {@code probs} (B, H, T, T) when given. The tokens sit
     * at positions [pos0, pos0 + T): after pos0 positions already in {@code kv} (inference only).
     */
    private Var block(Tape tape, int i, Var h, int b, int t, KvCache kv, Tensor probs, int pos0) {
        TeacherWeights.Layer<Var> l = layerVars(tape, i);
        Var u = norm(tape, h, l.norm1(), l.norm1Bias());
        Var a = attention(tape, u, l, b, t, kv, probs, pos0);
        if (spec.arch() == TeacherSpec.Arch.PHI) return tape.add(tape.add(h, a), mlp(tape, u, l));    // parallel block
        Var h1 = tape.add(h, a);                                                                 // sequential pre-norm block
        return tape.add(h1, mlp(tape, norm(tape, h1, l.norm2(), l.norm2Bias()), l));
    }

    /** Self-attention of one block: u (B·T, D) → (B·T, D). */
    private Var attention(Tape tape, Var u, TeacherWeights.Layer<Var> l, int b, int t, KvCache kv, Tensor probs, int pos0) {
        int h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim(), qd = h * dh, kvd = hkv * dh;
        Var q, k, v;
        if (l.qkv() != null) {                                                                   // GPT-2's c_attn: one (D, 3D) Conv1D
            Var[] qkv = tape.split(project(tape, u, l.qkv(), l.qkvBias()), qd, kvd, kvd);
            q = qkv[0]; k = qkv[1]; v = qkv[2];
        } else {
            q = project(tape, u, l.q(), l.qBias());                                              // (B·T, H·Dh) = (B, T, H, Dh)
            k = project(tape, u, l.k(), l.kBias());                                              // (B, T, Hkv, Dh)
            v = project(tape, u, l.v(), l.vBias());
        }
        Var y = attend(tape, spec, cos, sin, q, k, v, b, t, kv, probs, pos0);
        return project(tape, y, l.o(), l.oBias());
    }

    /**
     * The attention between the projections, shared by the teacher and the students' kept layers: q (B·T, H·Dh), k and
     * v (B·T, Hkv·Dh) → (partial) rotary at positions [pos0, pos0 + T) → causal attention (grouped KV heads) → y
     * (B·T, H·Dh). On an inference tape the keys (after rotary) and values go to {@code kv} when given, the
     * probabilities to {@code probs} (B, H, T, T) when given, and pos0 &gt; 0 attends to the cached positions too.
     */
    public static Var attend(Tape tape, TeacherSpec spec, Tensor cos, Tensor sin, Var q, Var k, Var v, int b, int t, KvCache kv,
                             Tensor probs, int pos0) {
        int h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim();
        Var q4 = q.reshape(b, t, h, dh), k4 = k.reshape(b, t, hkv, dh), v4 = v.reshape(b, t, hkv, dh);
        if (cos != null) {
            q4 = tape.rotary(q4, cos, sin, spec.rotaryDim(), pos0);
            k4 = tape.rotary(k4, cos, sin, spec.rotaryDim(), pos0);
        }
        if (kv != null) kv.write(k4.value(), v4.value(), pos0);
        Var y;
        if (pos0 == 0) y = tape.attention(q4, k4, v4, spec.attentionScale(), probs);              // (B, T, H, Dh)
        else {                                                                                   // queries after the cached positions
            Tensor yt = tape.scratch(b, t, h, dh);
            kv.attendCached(q4.value(), pos0, spec.attentionScale(), yt);
            y = tape.constant(yt);
        }
        return y.reshape((long) b * t, (long) h * dh);
    }

    /** gelu_new MLP (Phi, GPT-2) or SwiGLU (Llama): u (M, D) → (M, D). */
    private Var mlp(Tape tape, Var u, TeacherWeights.Layer<Var> l) {
        return mlp(tape, u, l.gate(), l.gateBias(), l.up(), l.upBias(), l.down(), l.downBias(), this::project);
    }

    /** A projection x → x·W (+ bias) on the tape: nn.Linear, or GPT-2's Conv1D as stored. */
    @FunctionalInterface
    public interface Projection { Var apply(Tape tape, Var x, Var weight, Var bias); }

    /** The MLP shared by the teacher and the students: down(up(u) · silu(gate(u))) with a gate (Llama), else down(gelu_new(up(u))). */
    public static Var mlp(Tape tape, Var u, Var gate, Var gateBias, Var up, Var upBias, Var down, Var downBias, Projection p) {
        Var a = p.apply(tape, u, up, upBias);                                                    // (M, I)
        Var mid = gate != null ? tape.mulSilu(a, p.apply(tape, u, gate, gateBias))               // up · silu(gate)
                : tape.geluTanh(a);
        return p.apply(tape, mid, down, downBias);
    }

    private Var norm(Tape tape, Var x, Var weight, Var bias) { return norm(tape, spec, x, weight, bias); }

    /** The block norms: RMSNorm (Llama) or LayerNorm with its bias (Phi, GPT-2). */
    public static Var norm(Tape tape, TeacherSpec spec, Var x, Var weight, Var bias) {
        if (spec.arch() == TeacherSpec.Arch.LLAMA) return tape.rmsNorm(x, weight, (float) spec.normEps());
        return tape.layerNorm(x, weight, bias, (float) spec.normEps());
    }

    /** nn.Linear (out, in), or for GPT-2 Conv1D (in, out) as stored; bias when present. */
    private Var project(Tape tape, Var x, Var weight, Var bias) {
        return spec.arch() == TeacherSpec.Arch.GPT2 ? tape.matmul(x, weight, bias) : tape.linear(x, weight, bias);
    }

    /** Final norm → head: (R, D) → logits (R, V). */
    private Var head(Tape tape, Var h, Trace trace) {
        TeacherWeights<Var> v = vars(tape);
        Var hf = norm(tape, h, v.normF(), v.normFBias());
        trace.record("norm_f", -1, hf.value());
        return tape.linear(hf, v.lmHead(), v.lmHeadBias());                                     // (R, V)
    }

    // ------------------------------------------------------------------ inference: the forward on inference tapes

    @Override public Tensor forward(int[][] ids, Trace trace) {
        return InferenceRun.allPositions(backend, ids, spec.vocabSize(), logits -> run(ids, trace, null, logits, false, 0));
    }

    /** The inference forward of ids (B, T) at positions [pos0, pos0 + T), after pos0 positions held in cache. */
    private void run(int[][] ids, Trace trace, State cache, Tensor logits, boolean lastOnly, int pos0) {
        int b = ids.length, t = ids[0].length;
        if (pos0 + t > spec.maxPositions())
            throw new UserInputException("input of " + (pos0 + t) + " tokens is longer than the model's " + spec.maxPositions() + " positions (max_position_embeddings / n_positions)");
        Tensor idsT = backend.ids(TokenIds.flattenChecked(ids, spec.vocabSize()));
        boolean wantProbs = trace.wants("attn_probs");
        inference.logits(backend, new InferenceRun.Stack() {
            @Override public int layers() { return spec.layers(); }
            @Override public Var embed(Tape tape) { return TransformerLM.this.embed(tape, idsT, b, t, pos0); }
            @Override public Var block(Tape tape, int i, Var h) {
                Tensor probs = wantProbs ? backend.zeros(b, spec.heads(), t, t) : null;
                Var out = TransformerLM.this.block(tape, i, h, b, t, cache == null ? null : cache.kv[i], probs, pos0);
                if (probs != null) trace.record("attn_probs", i, probs);
                return out;
            }
            @Override public Var head(Tape tape, Var h) { return TransformerLM.this.head(tape, h, lastOnly ? Trace.NONE : trace); }
        }, b, t, trace, lastOnly, logits);
    }

    // ------------------------------------------------------------------ training: the forward on a recording tape

    /** In checkpoint order, each in its checkpoint shape. */
    @Override public List<Parameter> parameters() { return trainableParams().all(); }

    private TeacherWeights<Parameter> trainableParams() {
        if (params == null) throw new IllegalStateException("an inference model: build it with TransformerLM.fromCheckpoint or random to train");
        return params;
    }

    /** The whole model recorded on one tape: logits (B·T, V) for inputs (B, T). */
    public Var logits(Tape tape, int[][] inputs) {
        int b = inputs.length, t = inputs[0].length;
        if (t > spec.maxPositions())
            throw new UserInputException("input of " + t + " tokens is longer than the model's " + spec.maxPositions() + " positions (max_position_embeddings / n_positions)");
        Var h = embed(tape, backend.ids(TokenIds.flattenChecked(inputs, spec.vocabSize())), b, t, 0);
        for (int i = 0; i < spec.layers(); i++) h = block(tape, i, h, b, t, null, null, 0);
        return head(tape, h, Trace.NONE);
    }

    /** Mean cross-entropy over counted targets (−100 ignored); gradients × gradScale accumulate into the parameters. */
    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        trainableParams();
        trainWs.reset();
        Tape tape = new Tape(backend, trainWs);
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        trainableParams();
        trainWs.reset();
        Tape tape = new Tape(backend, trainWs);
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    /** The recording-tape forward's logits (B, T, V), copied out (what training differentiates; tests compare it with inference). */
    public Tensor logits(int[][] inputs) {
        trainWs.reset();
        Tensor l = logits(new Tape(backend, trainWs), inputs).value();
        Tensor out = backend.zeros(inputs.length, inputs[0].length, spec.vocabSize());
        backend.copy(l, out);
        return out;
    }

    /** Greedy prediction per position (B, T). */
    @Override public int[][] predict(int[][] inputs) {
        int b = inputs.length, t = inputs[0].length, v = spec.vocabSize();
        float[] all = backend.download(forward(inputs, Trace.NONE)).toFloatArray();
        return mamba4j.models.Sampler.argmaxRows(all, b, t, v, v);
    }

    /** Writes an HF-loadable checkpoint (config.json + model.safetensors, checkpoint names and layouts). */
    @Override public void save(Path dir) {
        TeacherWeights<TensorSpec> table = TeacherWeights.table(spec, "transformer.", attentionBias, mlpBias, w.lmHeadBias() != null);
        List<TensorSpec> names = table.all();
        List<Tensor> values = w.all();
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) t.put(names.get(i).name(), backend.download(values.get(i)));
        TeacherSaver.save(dir, TeacherSaver.config(spec, attentionBias, mlpBias), t);
    }

    /** Copies the tensors of dir's checkpoint into the parameters, in place (a run's `--init`). */
    public void loadFrom(Path dir) {
        try (CheckpointTensors ck = CheckpointTensors.open(dir)) {
            CheckpointNames names = new CheckpointNames(ck);
            List<TensorSpec> specs = Layout.of(spec, ck).table(spec).all();
            List<Parameter> to = trainableParams().all();
            if (specs.size() != to.size())
                throw new UserInputException(ck.source() + ": holds " + specs.size() + " tensors for this model's " + to.size());
            for (int i = 0; i < to.size(); i++) backend.write(specs.get(i).read(names).to(DType.F32), to.get(i).value());
        }
    }

    // ------------------------------------------------------------------ decoding with a KV cache

    /** Per layer a {@link KvCache} (keys after rotary) for the first {@code len} positions, plus the step buffers. */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final KvCache[] kv;                         // per layer
        int len;                                    // positions filled in the caches (the longest sequence)
        final int[] at;                             // (B) each sequence's position: len for all after prefill, own after copySequence
        final Tensor h, u, q, k, v, qkv, y, a, mid, gateOut, m, logits, pos;
        final int[] posIds;
        final Tensor posTensor;                     // (B) I32 positions for GPT-2's wpe

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            this.batch = batch;
            int d = spec.hidden(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim(), i = spec.intermediate();
            kv = new KvCache[spec.layers()];
            for (int li = 0; li < kv.length; li++) kv[li] = new KvCache(backend, batch, spec.kvHeads(), spec.headDim(), spec.maxPositions());
            h = backend.zeros(batch, d); u = backend.zeros(batch, d);
            q = backend.zeros(batch, qd); k = backend.zeros(batch, kvd); v = backend.zeros(batch, kvd);
            qkv = spec.arch() == TeacherSpec.Arch.GPT2 ? backend.zeros(batch, qd + 2L * kvd) : null;
            y = backend.zeros(batch, qd); a = backend.zeros(batch, d);
            mid = backend.zeros(batch, i); gateOut = backend.zeros(batch, i); m = backend.zeros(batch, d);
            logits = backend.zeros(batch, spec.vocabSize());
            pos = backend.zeros(batch, d);
            posIds = new int[batch];
            posTensor = backend.zeros(DType.I32, batch);
            at = new int[batch];
        }

        boolean uniform() {
            for (int p : at) if (p != at[0]) return false;
            return true;
        }

        @Override public boolean growsWithLength() { return true; }

        /** Makes room for {@code need} positions in every layer's cache. */
        void reserve(int need) { for (KvCache c : kv) c.reserve(need, len); }

        @Override public int batch() { return batch; }

        /** Bytes of the keys and values of the current context: 2 · layers · B · len · Hkv · Dh · 4, growing with every token. */
        @Override public long stateBytes() { return kv.length * kv[0].bytes(len); }

        @Override public long allocatedBytes() {
            long s = 0;
            for (KvCache c : kv) s += c.allocatedBytes();
            return s;
        }

        @Override public long bufferBytes() { return DecodeState.bytes(tokenIds, h, u, q, k, v, qkv, y, a, mid, gateOut, m, logits, pos, posTensor); }

        /** Positions filled so far. */
        public int length() { return len; }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        int b = prompts.length, t = prompts[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        s.len = 0;
        s.reserve(t);
        run(prompts, Trace.NONE, s, s.logits, true, 0);
        s.len = t;
        java.util.Arrays.fill(s.at, t);
        return s.logits;
    }

    /**
     * Feeds more tokens (B, T): from an empty cache the whole-sequence prefill; after cached positions, with every row
     * at the same position, the whole-sequence path over the new tokens (their projections and MLPs as one matmul)
     * with each query attending to the cache ({@link KvCache#attendCached}); rows at different positions step token
     * by token through {@link #step}, each at its own position.
     */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        int b = ids.length, t = ids[0].length, past = s.at[0];
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        if (t == 0) throw new IllegalArgumentException("extend: no tokens");
        if (!s.uniform()) return CausalLM.stepThrough(this, s, ids);
        if (past == 0) return prefill(s, ids);
        s.reserve(past + t);
        run(ids, Trace.NONE, s, s.logits, true, past);
        s.len = past + t;
        java.util.Arrays.fill(s.at, s.len);
        return s.logits;
    }

    /** Copies one sequence's keys, values and position; the rows of a state may be at different positions. */
    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        int n = a.at[srcRow];
        for (int i = 0; i < a.kv.length; i++) KvCache.copyRow(a.kv[i], srcRow, d.kv[i], dstRow, n, d.len);
        d.at[dstRow] = n;
        d.len = d.batch == 1 ? n : Math.max(d.len, n);
    }

    /**
     * One token per sequence through every block, each at its own position (all at len after a prefill), mirroring
     * {@link #block} line for line. Returns logits (B, V). Rows at different positions (sequences copied in by
     * {@link #copySequence}) take rotary, the cache write and attention one row at a time.
     */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        TokenIds.check(tokens, -1, spec.vocabSize());
        int b = s.batch, h = spec.heads(), last = 0;
        for (int p : s.at) last = Math.max(last, p);
        s.reserve(last + 1);
        backend.ids(tokens, s.tokenIds);
        backend.embedding(w.embedding(), s.tokenIds, s.h);
        if (w.positions() != null) {
            System.arraycopy(s.at, 0, s.posIds, 0, b);
            backend.ids(s.posIds, s.posTensor);
            backend.embedding(w.positions(), s.posTensor, s.pos);
            backend.add(s.h, s.pos, s.h);
        }
        for (int i = 0; i < spec.layers(); i++) {
            TeacherWeights.Layer<Tensor> l = w.layers().get(i);
            norm(s.h, l.norm1(), l.norm1Bias(), s.u);
            if (l.qkv() != null) {
                project(s.u, l.qkv(), l.qkvBias(), s.qkv);
                backend.splitColumns(s.qkv, s.q, s.k, s.v);
            } else {
                project(s.u, l.q(), l.qBias(), s.q);
                project(s.u, l.k(), l.kBias(), s.k);
                project(s.u, l.v(), l.vBias(), s.v);
            }
            s.kv[i].stepAttention(s.q, s.k, s.v, s.at, h, cos, sin, spec.rotaryDim(), spec.attentionScale(), s.y);
            project(s.y, l.o(), l.oBias(), s.a);
            if (spec.arch() == TeacherSpec.Arch.PHI) {
                mlp(l, s.u, s.mid, s.gateOut, s.m);
                backend.add(s.h, s.a, s.h);
                backend.add(s.h, s.m, s.h);
            } else {
                backend.add(s.h, s.a, s.h);
                norm(s.h, l.norm2(), l.norm2Bias(), s.u);
                mlp(l, s.u, s.mid, s.gateOut, s.m);
                backend.add(s.h, s.m, s.h);
            }
        }
        for (int r = 0; r < b; r++) s.at[r]++;
        s.len = last + 1;
        norm(s.h, w.normF(), w.normFBias(), s.u);
        backend.linear(s.u, w.lmHead(), w.lmHeadBias(), s.logits);
        return s.logits;
    }

    private void norm(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        if (spec.arch() == TeacherSpec.Arch.LLAMA) backend.rmsNorm(x, weight, (float) spec.normEps(), out);
        else backend.layerNorm(x, weight, bias, (float) spec.normEps(), out);
    }

    /** As {@link #project(Tape, Var, Var, Var)} on tensors: nn.Linear, or GPT-2's Conv1D through matmul plus its bias. */
    private void project(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        if (spec.arch() != TeacherSpec.Arch.GPT2) { backend.linear(x, weight, bias, out); return; }
        backend.matmul(x, false, weight, false, out, false);
        if (bias != null) backend.addRow(out, bias, out);
    }

    private void mlp(TeacherWeights.Layer<Tensor> l, Tensor u, Tensor mid, Tensor gateOut, Tensor out) {
        project(u, l.up(), l.upBias(), mid);                                       // (M, I)
        if (l.gate() != null) {
            project(u, l.gate(), l.gateBias(), gateOut);
            backend.mulSilu(mid, gateOut, mid);                                    // up · silu(gate)
        } else {
            backend.geluTanh(mid, mid);
        }
        project(mid, l.down(), l.downBias(), out);
    }

    /**
     * down(gelu_new(up(u))) without a gate, down(up(u) · silu(gate(u))) with one (SwiGLU), nn.Linear weights: u (M, D)
     * → out (M, D), through mid and gateOut (M, I). The MOHAWK students' MLPs are the teacher's (Phi, Llama).
     */
    public static void mlp(Backend backend, Tensor u, Tensor gate, Tensor gateBias, Tensor up, Tensor upBias, Tensor down, Tensor downBias,
                           Tensor mid, Tensor gateOut, Tensor out) {
        backend.linear(u, up, upBias, mid);
        if (gate != null) {
            backend.linear(u, gate, gateBias, gateOut);
            backend.mulSilu(mid, gateOut, mid);
        } else {
            backend.geluTanh(mid, mid);
        }
        backend.linear(mid, down, downBias, out);
    }
}
