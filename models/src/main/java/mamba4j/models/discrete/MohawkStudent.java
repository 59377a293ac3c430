package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.models.KvCache;
import mamba4j.models.CausalLM;
import mamba4j.models.TokenIds;
import mamba4j.models.Trace;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.models.teachers.TeacherSpec;

import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
 * <p>{@link #forward} runs whole sequences (chunked SSD, fused causal attention); {@link #step} runs one token from the
 * state: per mixer layer a constant-size (conv_state, ssm_state), per attention layer a KV cache. Trace names as the
 * teacher's ("embedding", "block_out", "norm_f", "attn_probs" where attention is kept) plus "mixer_out" (the mixer's or
 * the kept attention's output after out_proj / dense / o_proj, (B·T, D)) and the mixers' "mixer_y".
 */
public final class MohawkStudent implements CausalLM {
    /** A kept attention block's projections (Phi: q_proj, k_proj, v_proj, dense, with bias; Llama: …, o_proj, biases optional). */
    public record Attention(Tensor q, Tensor qBias, Tensor k, Tensor kBias, Tensor v, Tensor vBias,   // (H·Dh, D), (Hkv·Dh, D)
                            Tensor dense, Tensor denseBias) {}                                       // (D, H·Dh)

    /**
     * One block: the input norm, exactly one of mixer and attention, the MLP. Phi: up = fc1, down = fc2, gelu_new, no
     * norm2 and no gate. Llama: norm2 = post_attention_layernorm, gate/up/down = gate_proj/up_proj/down_proj (SwiGLU);
     * RMSNorms have no bias.
     */
    public record Layer(Tensor norm, Tensor normBias,                // (D) each
                        DiscreteMamba2Mixer mixer, Attention attention,
                        Tensor norm2,                                // (D), Llama only
                        Tensor gate, Tensor gateBias,                // (I, D), (I), Llama only
                        Tensor up, Tensor upBias,                    // (I, D), (I)
                        Tensor down, Tensor downBias) {              // (D, I), (D)
        public Layer {
            if ((mixer == null) == (attention == null))
                throw new IllegalArgumentException("a student layer has exactly one of a mixer and an attention");
            if ((norm2 == null) != (gate == null))
                throw new IllegalArgumentException("a Llama block has both post_attention_layernorm and gate_proj, a Phi block neither");
        }

        public boolean isAttention() { return attention != null; }
    }

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
        /** The teacher's final norm (the student's is backbone.final_layernorm for both). */
        public String teacherFinalNorm() { return llama() ? "model.norm" : "model.final_layernorm"; }
    }

    private final TeacherSpec spec;                 // the teacher's shapes: D, I, heads, rotary, norm eps, vocab
    private final Wiring wiring;
    private final DiscreteMamba2Config mixerConfig;
    private final Backend backend;
    private final Tensor embedding;                 // (V, D)
    private final List<Layer> layers;
    private final Tensor normF, normFBias;          // (D)
    private final Tensor lmHead, lmHeadBias;        // (V, D), (V) or null
    private final Tensor cos, sin;                  // (P, rotaryDim/2), only when some layer keeps attention
    private final boolean anyAttention;

    public MohawkStudent(TeacherSpec spec, DiscreteMamba2Config mixerConfig, Backend backend, Tensor embedding, List<Layer> layers,
                           Tensor normF, Tensor normFBias, Tensor lmHead, Tensor lmHeadBias) {
        this.wiring = new Wiring(spec.arch());
        for (Layer l : layers)
            if ((l.norm2 != null) != wiring.llama())
                throw new IllegalArgumentException("a " + spec.arch() + " student's layers " + (wiring.llama() ? "need" : "have no") + " norm2 and gate");
        if (layers.size() != spec.layers())
            throw new IllegalArgumentException("student has " + layers.size() + " layers, the spec " + spec.layers());
        if (mixerConfig.dModel() != spec.hidden())
            throw new IllegalArgumentException("mixer d_model " + mixerConfig.dModel() + " != hidden_size " + spec.hidden());
        this.spec = spec;
        this.mixerConfig = mixerConfig;
        this.backend = backend;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.normF = normF;
        this.normFBias = normFBias;
        this.lmHead = lmHead;
        this.lmHeadBias = lmHeadBias;
        anyAttention = this.layers.stream().anyMatch(Layer::isAttention);
        if (anyAttention && spec.rotaryDim() > 0) {
            Tensor[] t = Formulas.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);   // as TransformerLM
            cos = backend.upload(t[0]);
            sin = backend.upload(t[1]);
        } else {
            cos = sin = null;
        }
    }

    /**
     * A student over the given tensors, named as {@link #tensors()} names them (no copies: the model reads them in
     * place). The conv weight may be (C, K) or phi-mamba's (C, 1, K). Missing or misshapen tensors are named.
     */
    public static MohawkStudent fromTensors(TeacherSpec spec, DiscreteMamba2Config mc, java.util.Set<Integer> attentionLayers, Backend backend,
                                              Map<String, Tensor> t) {
        Wiring wi = new Wiring(spec.arch());
        int d = spec.hidden(), in = spec.intermediate(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim();
        List<Layer> layers = new java.util.ArrayList<>();
        for (int i = 0; i < spec.layers(); i++) {
            String p = "backbone.layers." + i + ".";
            DiscreteMamba2Mixer mixer = null;
            Attention attention = null;
            if (attentionLayers.contains(i)) {
                String o = p + "mixer." + wi.attentionOut();
                attention = new Attention(need(t, p + "mixer.q_proj.weight", qd, d), opt(t, p + "mixer.q_proj.bias", qd),
                        need(t, p + "mixer.k_proj.weight", kvd, d), opt(t, p + "mixer.k_proj.bias", kvd),
                        need(t, p + "mixer.v_proj.weight", kvd, d), opt(t, p + "mixer.v_proj.bias", kvd),
                        need(t, o + ".weight", d, qd), opt(t, o + ".bias", d));
            } else {
                String m = p + "mixer.";
                Tensor conv = t.get(m + "conv1d.weight");
                if (conv != null && conv.rank() == 3 && conv.dim(1) == 1) conv = conv.reshape(conv.dim(0), conv.dim(2));
                if (conv == null) throw new UserInputException("missing tensor '" + m + "conv1d.weight'");
                mixer = new DiscreteMamba2Mixer(mc, backend, new DiscreteMamba2Mixer.Weights(
                        need(t, m + "in_proj.weight", mc.inProjSize(), d), opt(t, m + "in_proj.bias", mc.inProjSize()),
                        conv, opt(t, m + "conv1d.bias", mc.convDim()), opt(t, m + "z_bias", mc.dInner()), need(t, m + "D", mc.nVHeads()),
                        need(t, m + "out_proj.weight", d, mc.dInner()), opt(t, m + "out_proj.bias", d)));
            }
            String up = p + "mlp." + wi.up(), down = p + "mlp." + wi.down(), gate = wi.llama() ? p + "mlp." + wi.gate() : null;
            layers.add(new Layer(need(t, p + "input_layernorm.weight", d), opt(t, p + "input_layernorm.bias", d), mixer, attention,
                    wi.llama() ? need(t, p + wi.norm2() + ".weight", d) : null,
                    gate == null ? null : need(t, gate + ".weight", in, d), gate == null ? null : opt(t, gate + ".bias", in),
                    need(t, up + ".weight", in, d), opt(t, up + ".bias", in),
                    need(t, down + ".weight", d, in), opt(t, down + ".bias", d)));
        }
        Tensor emb = need(t, "backbone.embedding.weight", spec.vocabSize(), d);
        Tensor head = t.containsKey("lm_head.weight") ? need(t, "lm_head.weight", spec.vocabSize(), d)
                : spec.tieWordEmbeddings() ? emb : need(t, "lm_head.weight", spec.vocabSize(), d);
        return new MohawkStudent(spec, mc, backend, emb, layers, need(t, "backbone.final_layernorm.weight", d),
                opt(t, "backbone.final_layernorm.bias", d), head, opt(t, "lm_head.bias", spec.vocabSize()));
    }

    private static Tensor need(Map<String, Tensor> t, String name, long... dims) {
        Tensor v = t.get(name);
        if (v == null) throw new UserInputException("missing tensor '" + name + "'");
        return opt(t, name, dims);
    }

    private static Tensor opt(Map<String, Tensor> t, String name, long... dims) {
        Tensor v = t.get(name);
        if (v != null && !v.shape().equals(mamba4j.core.Shape.of(dims)))
            throw new UserInputException("tensor '" + name + "' has shape " + v.shape() + ", expected " + mamba4j.core.Shape.of(dims));
        return v;
    }

    public TeacherSpec spec() { return spec; }
    public Wiring wiring() { return wiring; }
    public DiscreteMamba2Config mixerConfig() { return mixerConfig; }
    public Backend backend() { return backend; }
    public List<Layer> layers() { return layers; }
    public Tensor embedding() { return embedding; }
    public Tensor normF() { return normF; }
    public Tensor normFBias() { return normFBias; }
    public Tensor lmHead() { return lmHead; }
    public Tensor lmHeadBias() { return lmHeadBias; }

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
     * norm as {@code post_attention_layernorm}. The conv weight is (C, K) here (phi-mamba stores (C, 1, K)).
     */
    public Map<String, Tensor> tensors() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("backbone.embedding.weight", embedding);
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            String p = "backbone.layers." + i + ".";
            put(m, p + "input_layernorm.weight", l.norm);
            put(m, p + "input_layernorm.bias", l.normBias);
            if (l.mixer != null) {
                DiscreteMamba2Mixer.Weights w = l.mixer.weights();
                put(m, p + "mixer.in_proj.weight", w.inProj());
                put(m, p + "mixer.in_proj.bias", w.inProjBias());
                put(m, p + "mixer.z_bias", w.zBias());
                put(m, p + "mixer.conv1d.weight", w.convWeight());
                put(m, p + "mixer.conv1d.bias", w.convBias());
                put(m, p + "mixer.D", w.d());
                put(m, p + "mixer.out_proj.weight", w.outProj());
                put(m, p + "mixer.out_proj.bias", w.outProjBias());
            } else {
                Attention a = l.attention;
                String o = p + "mixer." + wiring.attentionOut();
                put(m, p + "mixer.q_proj.weight", a.q); put(m, p + "mixer.q_proj.bias", a.qBias);
                put(m, p + "mixer.k_proj.weight", a.k); put(m, p + "mixer.k_proj.bias", a.kBias);
                put(m, p + "mixer.v_proj.weight", a.v); put(m, p + "mixer.v_proj.bias", a.vBias);
                put(m, o + ".weight", a.dense); put(m, o + ".bias", a.denseBias);
            }
            if (wiring.llama()) {
                put(m, p + wiring.norm2() + ".weight", l.norm2);
                put(m, p + "mlp." + wiring.gate() + ".weight", l.gate); put(m, p + "mlp." + wiring.gate() + ".bias", l.gateBias);
            }
            put(m, p + "mlp." + wiring.up() + ".weight", l.up); put(m, p + "mlp." + wiring.up() + ".bias", l.upBias);
            put(m, p + "mlp." + wiring.down() + ".weight", l.down); put(m, p + "mlp." + wiring.down() + ".bias", l.downBias);
        }
        put(m, "backbone.final_layernorm.weight", normF);
        put(m, "backbone.final_layernorm.bias", normFBias);
        put(m, "lm_head.weight", lmHead);
        put(m, "lm_head.bias", lmHeadBias);
        return m;
    }

    private static void put(Map<String, Tensor> m, String name, Tensor t) { if (t != null) m.put(name, t); }

    /** Every weight once, the head once, one embedding row; the kept attention's KV cache is read on top of this. */
    @Override public long weightBytesPerToken() {
        long bytes = 0;
        for (Map.Entry<String, Tensor> e : tensors().entrySet())
            if (!e.getKey().equals("backbone.embedding.weight")) bytes += e.getValue().byteSize();
        return bytes + embedding.dtype().byteCount(spec.hidden());
    }

    // ------------------------------------------------------------------ whole sequence

    @Override public Tensor forward(int[][] ids, Trace trace) {
        int b = ids.length, t = ids[0].length;
        Tensor h = hidden(ids, trace, null);
        Tensor logits = backend.zeros((long) b * t, spec.vocabSize());
        backend.linear(h, lmHead, lmHeadBias, logits);
        return logits.reshape(b, t, spec.vocabSize());
    }

    /** Runs the blocks and returns the final norm's output (B·T, D); fills the state (from empty) when one is given. */
    private Tensor hidden(int[][] ids, Trace trace, State cache) {
        int b = ids.length, t = ids[0].length, d = spec.hidden(), past = cache == null ? 0 : cache.len;
        if (anyAttention && past + t > spec.maxPositions())
            throw new UserInputException("input of " + (past + t) + " tokens is longer than the attention layers' " + spec.maxPositions() + " positions");
        int[] flat = TokenIds.flattenChecked(ids, spec.vocabSize());
        Tensor h = backend.zeros((long) b * t, d);                        // (B·T, D) residual stream
        backend.embedding(embedding, backend.ids(flat), h);
        trace.record("embedding", -1, h);
        Work w = new Work(b, t, anyAttention && trace.wants("attn_probs"));
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            norm(h, l.norm, l.normBias, w.u);
            if (l.mixer != null) l.mixer.forward(w.u, b, t, w.a, cache == null ? null : cache.mixers[i], trace, i);
            else attention(l.attention, w, cache, i);                             // w.u → w.a (B·T, D)
            trace.record("mixer_out", i, w.a);
            block(l, h, w.u, w.a, w.mid, w.gateOut, w.m);
            if (l.attention != null && w.probs != null) trace.record("attn_probs", i, w.probs);
            trace.record("block_out", i, h);
        }
        norm(h, normF, normFBias, w.u);
        trace.record("norm_f", -1, w.u);
        return w.u;
    }

    /** A kept attention block over whole sequences, op for op as TransformerLM's: u (B·T, D) → a (B·T, D). */
    private void attention(Attention l, Work w, State cache, int li) {
        int b = w.b, t = w.t, h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim(), past = cache == null ? 0 : cache.len;
        backend.linear(w.u, l.q, l.qBias, w.q);                                   // (B·T, H·Dh) = (B, T, H, Dh)
        backend.linear(w.u, l.k, l.kBias, w.k);
        backend.linear(w.u, l.v, l.vBias, w.v);
        Tensor q = w.q.reshape(b, t, h, dh), k = w.k.reshape(b, t, hkv, dh), v = w.v.reshape(b, t, hkv, dh);
        if (cos != null) {
            backend.rotary(q, cos, sin, spec.rotaryDim(), past, q);
            backend.rotary(k, cos, sin, spec.rotaryDim(), past, k);
        }
        if (cache != null) cache.kv[li].write(k, v, past);
        if (past == 0) backend.attention(q, k, v, spec.attentionScale(), w.y.reshape(b, t, h, dh), null, w.probs);
        else cache.kv[li].attendCached(q, past, spec.attentionScale(), w.y.reshape(b, t, h, dh));   // queries after the cached positions
        backend.linear(w.y, l.dense, l.denseBias, w.a);
    }

    /** LayerNorm with bias (Phi) or RMSNorm (Llama), the teacher's. */
    private void norm(Tensor x, Tensor w, Tensor b, Tensor out) {
        if (wiring.llama()) backend.rmsNorm(x, w, (float) spec.normEps(), out);
        else backend.layerNorm(x, w, b, (float) spec.normEps(), out);
    }

    /**
     * The rest of a block once the mixer (or attention) has turned u = norm(h) into a, updating h in place. Phi's
     * parallel block: h + a + mlp(u). Llama's sequential one: h += a; h += mlp(norm2(h)) (u is overwritten).
     */
    private void block(Layer l, Tensor h, Tensor u, Tensor a, Tensor mid, Tensor gateOut, Tensor m) {
        if (wiring.llama()) {
            backend.add(h, a, h);
            norm(h, l.norm2, null, u);
            mlp(l, u, mid, gateOut, m);
            backend.add(h, m, h);
        } else {
            mlp(l, u, mid, gateOut, m);
            backend.add(h, a, h);
            backend.add(h, m, h);
        }
    }

    /** fc1 → gelu_new → fc2 (Phi) or down(up(u) · silu(gate(u))) (Llama): u (M, D) → out (M, D), as the teacher's. */
    private void mlp(Layer l, Tensor u, Tensor mid, Tensor gateOut, Tensor out) {
        TransformerLM.mlp(backend, u, l.gate, l.gateBias, l.up, l.upBias, l.down, l.downBias, mid, gateOut, out);
    }

    private final class Work {
        final int b, t;
        final Tensor u, q, k, v, y, a, mid, gateOut, m, probs;

        Work(int b, int t, boolean wantProbs) {
            this.b = b;
            this.t = t;
            long bt = (long) b * t;
            int d = spec.hidden(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim();
            u = backend.zeros(bt, d);
            a = backend.zeros(bt, d);
            mid = backend.zeros(bt, spec.intermediate());
            gateOut = wiring.llama() ? backend.zeros(bt, spec.intermediate()) : null;
            m = backend.zeros(bt, d);
            q = anyAttention ? backend.zeros(bt, qd) : null;
            k = anyAttention ? backend.zeros(bt, kvd) : null;
            v = anyAttention ? backend.zeros(bt, kvd) : null;
            y = anyAttention ? backend.zeros(bt, qd) : null;
            probs = wantProbs ? backend.zeros(b, spec.heads(), t, t) : null;
        }
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
            mixers = new DiscreteMamba2Mixer.Cache[layers.size()];
            kv = new KvCache[layers.size()];
            for (int i = 0; i < layers.size(); i++) {
                Layer l = layers.get(i);
                if (l.mixer != null) mixers[i] = l.mixer.newCache(batch);
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
        int b = prompts.length, t = prompts[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        for (DiscreteMamba2Mixer.Cache c : s.mixers) if (c != null) c.reset();
        s.setLength(0);
        s.reserve(t);
        Tensor hf = hidden(prompts, Trace.NONE, s);                                   // (B·T, D)
        s.setLength(t);
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }

    /**
     * Feeds more tokens (B, T), continuing the mixers' states and the kept attention's caches; {@link #prefill} is this
     * from empty. With a kept attention and rows at different positions, token by token through {@link #step}.
     */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        int b = ids.length, t = ids[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        if (anyAttention && !s.uniform()) return CausalLM.stepThrough(this, s, ids);
        int past = s.at[0];
        if (anyAttention) s.reserve(past + t);
        s.len = past;                                                                 // the whole-sequence path continues from here
        Tensor hf = hidden(ids, Trace.NONE, s);                                       // (B·T, D)
        s.setLength(past + t);
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }

    /** Copies one sequence's mixer states, kept-attention caches and position; the rows of a state may be at different positions. */
    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        int n = a.at[srcRow];
        for (int i = 0; i < layers.size(); i++) {
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
     * One token per sequence through every block, mirroring {@link #hidden} line for line. Returns logits (B, V). Each
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
        backend.embedding(embedding, s.tokenIds, s.h);
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            norm(s.h, l.norm, l.normBias, s.u);
            if (l.mixer != null) {
                l.mixer.step(s.mixers[i], s.u, s.a);
            } else {
                Attention att = l.attention;
                backend.linear(s.u, att.q, att.qBias, s.q);
                backend.linear(s.u, att.k, att.kBias, s.k);
                backend.linear(s.u, att.v, att.vBias, s.v);
                s.kv[i].stepAttention(s.q, s.k, s.v, s.at, h, cos, sin, spec.rotaryDim(), spec.attentionScale(), s.y);
                backend.linear(s.y, att.dense, att.denseBias, s.a);
            }
            block(l, s.h, s.u, s.a, s.mid, s.gateOut, s.m);
        }
        for (int r = 0; r < b; r++) s.at[r]++;
        s.len = last + 1;
        norm(s.h, normF, normFBias, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }
}
