package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Formulas;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.CausalLM;
import mamba4j.models.InferenceRun;
import mamba4j.models.KvCache;
import mamba4j.models.TensorSpec;
import mamba4j.models.TokenIds;
import mamba4j.models.Trace;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * MOHAWK's students: the teacher's blocks with the attention replaced by a {@link DiscreteMamba2Mixer}, except at the
 * layers that keep attention (hybrid), computed there exactly as {@code TransformerLM} computes the teacher's.
 * <ul>
 * <li><b>Phi-Mamba</b> (Phi teacher; goombalab phi-mamba {@code modules/phi_block.py}): the parallel block
 *     {@code h + mixer(LN h) + mlp(LN h)}, one LayerNorm with bias, fc1 → gelu_new → fc2, final LayerNorm, lm_head with bias.</li>
 * <li><b>Llama-Mamba</b> (Llama teacher): the sequential pre-norm block {@code h += mixer(RMS₁ h); h += swiglu(RMS₂ h)},
 *     SwiGLU = down(up(u) · silu(gate(u))), final RMSNorm; a kept attention has grouped KV heads (GQA) and full rotary.</li>
 * </ul>
 * embedding → blocks → final norm → lm_head.
 *
 * <p>ONE forward ({@link #block}) serves inference and training: on an inference tape it records nothing, frees each
 * block's intermediates before the next and may continue from a decode state (the mixers' conv and SSM states, the
 * kept attention's KV caches); on a recording tape (weights as parameters, {@link #trainable()}) it is what the loss
 * and the MOHAWK stages differentiate: the whole model, one block (stage 2), one mixer's materialised-matrix distance
 * (stage 1). {@link #step} runs one token from the state, mirroring {@link #block} line for line. Every tensor is
 * named once, in {@link StudentWeights}. Trace names as the teacher's ("embedding", "block_out", "norm_f",
 * "attn_probs" where attention is kept) plus "mixer_out" (the mixer's or the kept attention's output after out_proj /
 * dense / o_proj, (B·T, D)) and the mixers' "mixer_y".
 *
 * <p>Freezing: {@link #trainOnly} restricts {@link #parameters()} to the names a predicate accepts; the others enter
 * the tape as constants (no gradient is computed for them) and the trainer does not update them.
 */
public final class MohawkStudent implements CausalLM, TrainableModel {
    /**
     * The names that differ between the two wirings, under {@code backbone.layers.i.} (student) and
     * {@code model.layers.i.} (teacher): the attention's output projection, the MLP's projections, the second norm.
     */
    public record Wiring(TeacherSpec.Arch arch) {
        public Wiring {
            if (arch != TeacherSpec.Arch.PHI && arch != TeacherSpec.Arch.LLAMA)
                throw new UserInputException("MOHAWK students are built from Phi or Llama teachers, not " + arch);
        }

        public boolean llama() { return arch == TeacherSpec.Arch.LLAMA; }
        /** config.json's model_type of the student. */
        public String modelType() { return llama() ? "llama-mamba" : "phi-mamba"; }
        /** A human name of the student. */
        public String studentName() { return llama() ? "Llama-Mamba" : "Phi-Mamba"; }
        public String attentionOut() { return llama() ? "o_proj" : "dense"; }
        public String up() { return llama() ? "up_proj" : "fc1"; }
        public String down() { return llama() ? "down_proj" : "fc2"; }
        /** Llama's gate_proj, or null. */
        public String gate() { return llama() ? "gate_proj" : null; }
        /** Llama's post_attention_layernorm, or null (Phi: one norm feeds both). */
        public String norm2() { return llama() ? "post_attention_layernorm" : null; }
    }

    private final TeacherSpec spec;                 // the teacher's shapes: D, I, heads, rotary, norm eps, vocab
    private final Wiring wiring;
    private final DiscreteMamba2Config mixerConfig;
    private final Backend backend;
    private final StudentWeights<Tensor> w;         // what forward and step read: stored tensors, or parameter values
    private final StudentWeights<Parameter> params; // null unless trainable
    private final StudentWeights<TensorSpec> table;
    private final DiscreteMamba2Mixer[] mixers;     // per layer, the mixer's step (null where attention is kept)
    private final Set<Integer> attentionLayers;
    private final Tensor cos, sin;                  // (P, rotaryDim/2), only when some layer keeps attention
    private final boolean anyAttention;
    private final InferenceRun inference = new InferenceRun();   // the inference forward's workspaces, reused by every call
    private final Workspace trainWs = Workspace.collected();     // one training tape's intermediates
    private Predicate<String> trainable = name -> true;

    private MohawkStudent(TeacherSpec spec, DiscreteMamba2Config mixerConfig, Backend backend, StudentWeights<Tensor> weights,
                          StudentWeights<Parameter> params) {
        this.wiring = new Wiring(spec.arch());
        if (weights.layers().size() != spec.layers())
            throw new IllegalArgumentException("student has " + weights.layers().size() + " layers, the spec " + spec.layers());
        if (mixerConfig.dModel() != spec.hidden())
            throw new IllegalArgumentException("mixer d_model " + mixerConfig.dModel() + " != hidden_size " + spec.hidden());
        this.spec = spec;
        this.mixerConfig = mixerConfig;
        this.backend = backend;
        this.w = weights;
        this.params = params;
        Set<Integer> attn = new TreeSet<>();
        mixers = new DiscreteMamba2Mixer[spec.layers()];
        boolean attentionBias = false, mlpBias = false;
        for (int i = 0; i < spec.layers(); i++) {
            StudentWeights.Layer<Tensor> l = weights.layers().get(i);
            if ((l.norm2() != null) != wiring.llama() || (l.gate() != null) != wiring.llama())
                throw new IllegalArgumentException("a " + spec.arch() + " student's layers " + (wiring.llama() ? "need" : "have no") + " norm2 and gate");
            if (l.isAttention()) {
                attn.add(i);
                attentionBias |= l.attention().qBias() != null;
            } else {
                mixers[i] = new DiscreteMamba2Mixer(mixerConfig, backend, l.mixer());
            }
            mlpBias |= l.upBias() != null;
        }
        this.attentionLayers = Set.copyOf(attn);
        this.table = StudentWeights.table(spec, mixerConfig, attentionLayers, new StudentWeights.Presence(attentionBias, mlpBias, weights.lmHeadBias() != null));
        anyAttention = !attn.isEmpty();
        if (anyAttention && spec.rotaryDim() > 0) {
            Tensor[] t = Formulas.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);   // as TransformerLM
            cos = backend.upload(t[0]);
            sin = backend.upload(t[1]);
        } else {
            cos = sin = null;
        }
    }

    /** An inference student over these tensors as they are (mapped, any linear weight dtype; conv weights (C, K)). */
    public static MohawkStudent of(TeacherSpec spec, DiscreteMamba2Config mixerConfig, Backend backend, StudentWeights<Tensor> weights) {
        return new MohawkStudent(spec, mixerConfig, backend, weights, null);
    }

    /**
     * A student over the given tensors, named as {@link #tensors()} names them (no copies: the model reads them in
     * place). The conv weight may be (C, K) or phi-mamba's (C, 1, K). Which optional tensors exist follows the map;
     * missing or misshapen tensors are named.
     */
    public static MohawkStudent fromTensors(TeacherSpec spec, DiscreteMamba2Config mc, Set<Integer> attentionLayers, Backend backend,
                                            Map<String, Tensor> t) {
        boolean llama = new Wiring(spec.arch()).llama();
        StudentWeights.Presence pr = new StudentWeights.Presence(llama && t.keySet().stream().anyMatch(n -> n.endsWith(".mixer.q_proj.bias")),
                llama && t.keySet().stream().anyMatch(n -> n.contains(".mlp.") && n.endsWith(".bias")), t.containsKey("lm_head.bias"));
        StudentWeights<TensorSpec> table = StudentWeights.table(spec, mc, attentionLayers, pr);
        Set<String> known = new java.util.HashSet<>(table.named(table).keySet());
        known.add("lm_head.weight");
        for (String name : t.keySet())
            if (!known.contains(name)) throw new UserInputException("unexpected tensor '" + name + "' for this student's configuration");
        return of(spec, mc, backend, table.map(s -> {
            Tensor v = t.get(s.name());
            if (v == null) throw new UserInputException("missing tensor '" + s.name() + "'");
            if (v.shape().equals(Shape.of(s.stored())) && s.stored().length != s.dims().length) v = v.reshape(s.dims());   // (C, 1, K) → (C, K)
            if (!v.shape().equals(Shape.of(s.dims())))
                throw new UserInputException("tensor '" + s.name() + "' has shape " + v.shape() + ", expected " + Shape.of(s.dims()));
            return v;
        }));
    }

    /**
     * A trainable student: F32 copies of these weights as parameters on the backend's device, named by the table.
     * {@link #trainable()} of an inference student.
     */
    public MohawkStudent trainable() {
        Map<Tensor, Parameter> ps = TensorSpec.parameters(w.all(), table.all(), backend);
        StudentWeights<Parameter> p = w.map(ps::get);
        return new MohawkStudent(spec, mixerConfig, backend, p.map(Parameter::value), p);
    }

    public TeacherSpec spec() { return spec; }
    public Wiring wiring() { return wiring; }
    public DiscreteMamba2Config mixerConfig() { return mixerConfig; }
    public Backend backend() { return backend; }
    public StudentWeights<Tensor> weights() { return w; }
    public Set<Integer> attentionLayers() { return attentionLayers; }
    public Tensor embedding() { return w.embedding(); }
    public Tensor lmHeadBias() { return w.lmHeadBias(); }

    /** Layer i's mixer (its weights and step), or null where attention is kept. */
    public DiscreteMamba2Mixer mixer(int i) { return mixers[i]; }

    @Override public int logitsSize() { return spec.vocabSize(); }
    @Override public int vocabSize() { return spec.vocabSize(); }
    @Override public int eosTokenId() { return spec.eosTokenId(); }

    /** As the teacher: hidden states are [embedding, blocks 0..L−2, final norm]. */
    @Override public boolean hiddenStatesIncludeEmbedding() { return true; }

    /**
     * Every tensor under phi-mamba's names ({@code backbone.embedding.weight}, {@code backbone.layers.i.input_layernorm.*},
     * {@code backbone.layers.i.mixer.*}, {@code backbone.layers.i.mlp.*}, {@code backbone.final_layernorm.*},
     * {@code lm_head.*}); a kept attention's projections as {@code mixer.q_proj} … {@code mixer.dense} (Llama:
     * {@code mixer.o_proj}); the MLP as the teacher names it (fc1/fc2, or gate_proj/up_proj/down_proj), Llama's second
     * norm as {@code post_attention_layernorm}. The conv weight is (C, K) here (phi-mamba stores (C, 1, K)); a tied
     * lm_head.weight is listed too (the embedding).
     */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> m = new LinkedHashMap<>(w.named(table));
        if (w.tied()) m.put("lm_head.weight", w.lmHead());
        return m;
    }

    /** Every weight once, the head once, one embedding row; the kept attention's KV cache is read on top of this. */
    @Override public long weightBytesPerToken() {
        long bytes = w.lmHead().byteSize() + w.embedding().dtype().byteCount(spec.hidden());
        for (Tensor t : w.all()) if (t != w.embedding() && t != w.lmHead()) bytes += t.byteSize();
        return bytes;
    }

    // ------------------------------------------------------------------ the one forward

    private Var leaf(Tape tape, Tensor t, Parameter p) {
        return p == null ? tape.constant(t) : trainable.test(p.name()) ? tape.param(p) : tape.constant(p.value());
    }

    private StudentWeights.Layer<Var> layerVars(Tape tape, int i) {
        return params == null ? w.layers().get(i).map(tape::constant) : params.layers().get(i).map(p -> leaf(tape, null, p));
    }

    private Var embed(Tape tape, Tensor ids) { return tape.embedding(leaf(tape, w.embedding(), params == null ? null : params.embedding()), ids); }

    /** The residual stream after the embedding, (B·T, D). */
    public Var embed(Tape tape, int[][] ids) { return embed(tape, backend.ids(TokenIds.flattenChecked(ids, spec.vocabSize()))); }

    /** Layer l's input norm of h (B·T, D): what its mixer reads (and, in a Phi block, its MLP too). */
    public Var norm(Tape tape, int l, Var h) {
        StudentWeights.Layer<Var> v = layerVars(tape, l);
        return TransformerLM.norm(tape, spec, h, v.norm(), v.normBias());
    }

    /** One block on a recording tape, (B·T, D) → (B·T, D) (MOHAWK stage 2's student side). */
    public Var block(Tape tape, int l, Var h, int b, int t) { return block(tape, l, h, b, t, null, Trace.NONE, 0); }

    /**
     * Block i, (B·T, D) → (B·T, D): Phi's h + mixer(LN h) + mlp(LN h), or Llama's h' = h + mixer(RMS₁ h); h' + mlp(RMS₂ h').
     * With a state (inference tapes) the mixer continues from its cache and a kept attention writes its KV cache, the
     * tokens at positions [pos0, pos0 + T).
     */
    private Var block(Tape tape, int i, Var h, int b, int t, State cache, Trace trace, int pos0) {
        StudentWeights.Layer<Var> l = layerVars(tape, i);
        Var u = TransformerLM.norm(tape, spec, h, l.norm(), l.normBias());
        Var a;
        if (l.mixer() != null) {
            a = DiscreteMamba2Mixer.forward(tape, mixerConfig, l.mixer(), u, b, t, cache == null ? null : cache.mixers[i], trace, i);
        } else {
            StudentWeights.Attention<Var> at = l.attention();
            Tensor probs = trace.wants("attn_probs") ? tape.scratch(b, spec.heads(), t, t) : null;
            Var y = TransformerLM.attend(tape, spec, cos, sin, tape.linear(u, at.q(), at.qBias()), tape.linear(u, at.k(), at.kBias()),
                    tape.linear(u, at.v(), at.vBias()), b, t, cache == null ? null : cache.kv[i], probs, pos0);
            a = tape.linear(y, at.o(), at.oBias());
            if (probs != null) trace.record("attn_probs", i, probs);
        }
        trace.record("mixer_out", i, a.value());
        if (!wiring.llama()) return tape.add(tape.add(h, a), mlp(tape, u, l));                 // parallel block
        Var h1 = tape.add(h, a);                                                                 // sequential pre-norm block
        return tape.add(h1, mlp(tape, TransformerLM.norm(tape, spec, h1, l.norm2(), null), l));
    }

    private static Var mlp(Tape tape, Var u, StudentWeights.Layer<Var> l) {
        return TransformerLM.mlp(tape, u, l.gate(), l.gateBias(), l.up(), l.upBias(), l.down(), l.downBias(), Tape::linear);
    }

    /** Final norm → head: (R, D) → logits (R, V). */
    private Var head(Tape tape, Var h, Trace trace) {
        boolean p = params != null;
        Var hf = TransformerLM.norm(tape, spec, h, leaf(tape, w.normF(), p ? params.normF() : null), w.normFBias() == null ? null
                : leaf(tape, w.normFBias(), p ? params.normFBias() : null));
        trace.record("norm_f", -1, hf.value());
        Var head = leaf(tape, w.lmHead(), p ? params.lmHead() : null);
        return tape.linear(hf, head, w.lmHeadBias() == null ? null : leaf(tape, w.lmHeadBias(), p ? params.lmHeadBias() : null));
    }

    /** Logits (B·T, V) of inputs (B, T), recorded on one tape. */
    public Var logits(Tape tape, int[][] ids) {
        int b = ids.length, t = ids[0].length;
        checkLength(t);
        Var h = embed(tape, ids);
        for (int l = 0; l < spec.layers(); l++) h = block(tape, l, h, b, t);
        return head(tape, h, Trace.NONE);
    }

    private void checkLength(int positions) {
        if (anyAttention && positions > spec.maxPositions())
            throw new UserInputException("input of " + positions + " tokens is longer than the attention layers' " + spec.maxPositions() + " positions");
    }

    /**
     * MOHAWK stage 1 for mixer layer l: the mean over batch and head of ‖T_student(u) − target‖_F, u = LN_l(h) of the
     * given residual stream h (B·T, D), target (B, H, T, T) the teacher's attention probabilities.
     */
    public Var matrixDistance(Tape tape, int l, Var h, int b, int t, Tensor target) {
        if (attentionLayers.contains(l)) throw new IllegalArgumentException("layer " + l + " keeps attention: it has no mixer matrix");
        StudentWeights.Mixer<Var> p = layerVars(tape, l).mixer();
        DiscreteMamba2Mixer.TapeInputs in = DiscreteMamba2Mixer.ssdInputs(tape, mixerConfig, p, norm(tape, l, h), b, t, null);
        return tape.matrixDistance(in.logA(), in.bm(), in.cm(), p.d(), target);
    }

    // ------------------------------------------------------------------ inference: the forward on inference tapes

    @Override public Tensor forward(int[][] ids, Trace trace) {
        return InferenceRun.allPositions(backend, ids, spec.vocabSize(), logits -> run(ids, trace, null, logits, false, 0));
    }

    /** The inference forward of ids (B, T) at positions [pos0, pos0 + T), continuing the state when given. */
    private void run(int[][] ids, Trace trace, State cache, Tensor logits, boolean lastOnly, int pos0) {
        int b = ids.length, t = ids[0].length;
        checkLength(pos0 + t);
        Tensor idsT = backend.ids(TokenIds.flattenChecked(ids, spec.vocabSize()));
        inference.logits(backend, new InferenceRun.Stack() {
            @Override public int layers() { return spec.layers(); }
            @Override public Var embed(Tape tape) { return MohawkStudent.this.embed(tape, idsT); }
            @Override public Var block(Tape tape, int i, Var h) { return MohawkStudent.this.block(tape, i, h, b, t, cache, trace, pos0); }
            @Override public Var head(Tape tape, Var h) { return MohawkStudent.this.head(tape, h, lastOnly ? Trace.NONE : trace); }
        }, b, t, trace, lastOnly, logits);
    }

    // ------------------------------------------------------------------ training: the forward on a recording tape

    private StudentWeights<Parameter> trainableParams() {
        if (params == null) throw new IllegalStateException("an inference student: call trainable() to train");
        return params;
    }

    /** Every parameter, trainable or frozen, in checkpoint order. */
    public List<Parameter> allParameters() { return trainableParams().all(); }

    /** Only the parameters whose names {@code names} accepts train from now on (the rest are constants on the tape). */
    public MohawkStudent trainOnly(Predicate<String> names) {
        trainableParams();
        this.trainable = names;
        return this;
    }

    /** The trainable parameters (see {@link #trainOnly}). */
    @Override public List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>();
        for (Parameter p : trainableParams().all()) if (trainable.test(p.name())) out.add(p);
        return out;
    }

    /** A fresh recording tape over this model's training workspace (reset: anything from the previous tape is gone). */
    public Tape newTape() {
        trainWs.reset();
        return new Tape(backend, trainWs.on(backend));
    }

    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        trainableParams();
        Tape tape = newTape();
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        trainableParams();
        Tape tape = newTape();
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    /** Greedy prediction per position (B, T). */
    @Override public int[][] predict(int[][] inputs) {
        int b = inputs.length, t = inputs[0].length, v = spec.vocabSize();
        float[] all = backend.download(forward(inputs, Trace.NONE)).toFloatArray();
        return mamba4j.models.Sampler.argmaxRows(all, b, t, v, v);
    }

    /** config.json + model.safetensors of the student ({@link MohawkStudentCheckpoint}), every parameter, frozen or not. */
    @Override public void save(Path dir) { MohawkStudentCheckpoint.save(dir, this); }

    /** Copies the tensors of dir's checkpoint (as {@link #save} wrote them) into the parameters, in place. */
    public void loadFrom(Path dir) {
        trainableParams();
        try (mamba4j.io.CheckpointTensors ck = mamba4j.io.CheckpointTensors.open(dir)) {
            for (Map.Entry<String, Parameter> e : params.named(table).entrySet()) {
                String name = e.getKey();
                Tensor to = e.getValue().value();
                if (!ck.contains(name)) throw new UserInputException(ck.source() + ": missing tensor '" + name + "'");
                Tensor from = ck.get(name);
                if (from.numel() != to.numel())
                    throw new UserInputException(ck.source() + ": tensor '" + name + "' has shape " + from.shape() + ", expected " + to.shape());
                backend.write(from.to(DType.F32).reshape(to.shape().dims()), to);
            }
        }
    }

    /** Frees the workspaces (the weights stay valid until unreachable). */
    @Override public void close() {
        trainWs.close();
        inference.close();
    }

    // ------------------------------------------------------------------ decoding


    /** The decode state: per mixer layer its (conv_state, ssm_state), per kept attention layer a KV cache; plus step buffers. */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final DiscreteMamba2Mixer.Cache[] mixers;
        final KvCache[] kv;
        int len;                                    // the longest row's positions (what the KV caches hold)
        final int[] at;                             // each row's positions: rows step at their own (as the Transformer's)
        final Tensor h, u, a, mid, gateOut, m, q, k, v, y, logits;

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            this.batch = batch;
            at = new int[batch];
            mixers = new DiscreteMamba2Mixer.Cache[spec.layers()];
            kv = new KvCache[spec.layers()];
            for (int i = 0; i < spec.layers(); i++) {
                if (MohawkStudent.this.mixers[i] != null) mixers[i] = MohawkStudent.this.mixers[i].newCache(batch);
                else kv[i] = new KvCache(backend, batch, spec.kvHeads(), spec.headDim(), spec.maxPositions());
            }
            int d = spec.hidden(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim();
            h = backend.zeros(batch, d); u = backend.zeros(batch, d); a = backend.zeros(batch, d);
            mid = backend.zeros(batch, spec.intermediate()); m = backend.zeros(batch, d);
            gateOut = wiring.llama() ? backend.zeros(batch, spec.intermediate()) : null;
            q = backend.zeros(batch, qd); k = backend.zeros(batch, kvd); v = backend.zeros(batch, kvd);
            y = backend.zeros(batch, qd);
            logits = backend.zeros(batch, spec.vocabSize());
        }

        void reserve(int need) { for (KvCache c : kv) if (c != null) c.reserve(need, len); }

        boolean uniform() {
            for (int p : at) if (p != at[0]) return false;
            return true;
        }

        /** Every row at {@code n} positions. */
        void setLength(int n) {
            len = n;
            java.util.Arrays.fill(at, n);
        }

        @Override public int batch() { return batch; }

        @Override public boolean growsWithLength() { return anyAttention; }

        /** The mixers' states (constant in the length) plus the kept attention's keys and values so far. */
        @Override public long stateBytes() {
            long s = 0;
            for (DiscreteMamba2Mixer.Cache c : mixers) if (c != null) s += c.stateBytes();
            for (KvCache c : kv) if (c != null) s += c.bytes(len);
            return s;
        }

        @Override public long allocatedBytes() {
            long s = 0;
            for (DiscreteMamba2Mixer.Cache c : mixers) if (c != null) s += c.stateBytes();
            for (KvCache c : kv) if (c != null) s += c.allocatedBytes();
            return s;
        }

        @Override public long bufferBytes() { return DecodeState.bytes(tokenIds, h, u, a, mid, gateOut, m, q, k, v, y, logits); }

        /** Layer i's mixer state, or null where attention is kept. */
        public DiscreteMamba2Mixer.Cache mixer(int i) { return mixers[i]; }

        /** Positions consumed so far. */
        public int length() { return len; }
    }

    @Override public State newState(int batch) { return new State(batch); }

    @Override public Tensor prefill(DecodeState state, int[][] prompts) {
        State s = (State) state;
        for (DiscreteMamba2Mixer.Cache c : s.mixers) if (c != null) c.reset();
        s.setLength(0);
        return extend(s, prompts);
    }

    /**
     * Feeds more tokens (B, T) through the whole-sequence path, continuing the mixers' states and the kept attention's
     * caches; {@link #prefill} is this from empty. With a kept attention and rows at different positions, token by token
     * through {@link #step}.
     */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        int b = ids.length, t = ids[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        if (anyAttention && !s.uniform()) return CausalLM.stepThrough(this, s, ids);
        int past = s.at[0];
        checkLength(past + t);
        if (anyAttention) s.reserve(past + t);
        s.len = past;
        run(ids, Trace.NONE, s, s.logits, true, past);
        s.setLength(past + t);
        return s.logits;
    }

    /** Copies one sequence's mixer states, kept-attention caches and position; the rows of a state may be at different positions. */
    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        int n = a.at[srcRow];
        for (int i = 0; i < spec.layers(); i++) {
            if (a.mixers[i] != null) {
                mamba4j.models.SequenceCopies.copyRow(backend, a.mixers[i].convState(), srcRow, d.mixers[i].convState(), dstRow);
                mamba4j.models.SequenceCopies.copyRow(backend, a.mixers[i].ssmState(), srcRow, d.mixers[i].ssmState(), dstRow);
            } else {
                KvCache.copyRow(a.kv[i], srcRow, d.kv[i], dstRow, n, d.len);
            }
        }
        d.at[dstRow] = n;
        d.len = d.batch == 1 ? n : Math.max(d.len, n);
    }

    /**
     * One token per sequence through every block, mirroring {@link #block} line for line. Returns logits (B, V). Each
     * row sits at its own position; rows at different positions (sequences copied in by {@link #copySequence}) take
     * rotary, the cache write and attention one row at a time, as TransformerLM's step.
     */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        TokenIds.check(tokens, -1, spec.vocabSize());
        int b = s.batch, h = spec.heads(), last = 0;
        for (int p : s.at) last = Math.max(last, p);
        if (anyAttention) s.reserve(last + 1);
        backend.ids(tokens, s.tokenIds);
        backend.embedding(w.embedding(), s.tokenIds, s.h);
        for (int i = 0; i < spec.layers(); i++) {
            StudentWeights.Layer<Tensor> l = w.layers().get(i);
            norm(s.h, l.norm(), l.normBias(), s.u);
            if (mixers[i] != null) {
                mixers[i].step(s.mixers[i], s.u, s.a);
            } else {
                StudentWeights.Attention<Tensor> att = l.attention();
                backend.linear(s.u, att.q(), att.qBias(), s.q);
                backend.linear(s.u, att.k(), att.kBias(), s.k);
                backend.linear(s.u, att.v(), att.vBias(), s.v);
                s.kv[i].stepAttention(s.q, s.k, s.v, s.at, h, cos, sin, spec.rotaryDim(), spec.attentionScale(), s.y);
                backend.linear(s.y, att.o(), att.oBias(), s.a);
            }
            if (wiring.llama()) {                                                 // the block's rest, as the forward's
                backend.add(s.h, s.a, s.h);
                norm(s.h, l.norm2(), null, s.u);
                TransformerLM.mlp(backend, s.u, l.gate(), l.gateBias(), l.up(), l.upBias(), l.down(), l.downBias(), s.mid, s.gateOut, s.m);
                backend.add(s.h, s.m, s.h);
            } else {
                TransformerLM.mlp(backend, s.u, l.gate(), l.gateBias(), l.up(), l.upBias(), l.down(), l.downBias(), s.mid, s.gateOut, s.m);
                backend.add(s.h, s.a, s.h);
                backend.add(s.h, s.m, s.h);
            }
        }
        for (int r = 0; r < b; r++) s.at[r]++;
        s.len = last + 1;
        norm(s.h, w.normF(), w.normFBias(), s.u);
        backend.linear(s.u, w.lmHead(), w.lmHeadBias(), s.logits);
        return s.logits;
    }

    /** LayerNorm with bias (Phi) or RMSNorm (Llama), the teacher's. */
    private void norm(Tensor x, Tensor weight, Tensor bias, Tensor out) {
        if (wiring.llama()) backend.rmsNorm(x, weight, (float) spec.normEps(), out);
        else backend.layerNorm(x, weight, bias, (float) spec.normEps(), out);
    }
}
