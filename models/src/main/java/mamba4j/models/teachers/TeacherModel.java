package mamba4j.models.teachers;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.models.KvCache;
import mamba4j.models.CausalLM;
import mamba4j.models.Trace;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Phi, Llama and GPT-2 language models (see {@link TeacherSpec.Arch} for the three wirings):
 * embedding (+ learned positions) → blocks → final norm → lm_head.
 *
 * <p>{@link #forward} runs whole sequences through the fused causal attention; {@link #step} runs one token per
 * sequence against the KV cache, mirroring forward line for line. The cache holds the keys after rotary.
 */
public final class TeacherModel implements CausalLM {
    /**
     * One block's parameters. Linear weights are (out, in); biases may be null. norm2 is null for Phi (one norm
     * feeds attention and MLP); gate is Llama's gate_proj (null otherwise; gateBias with mlp_bias); up is fc1 / c_fc / up_proj, down is
     * fc2 / c_proj / down_proj.
     */
    public record Layer(Tensor norm1, Tensor norm1Bias, Tensor norm2, Tensor norm2Bias,
                        Tensor q, Tensor qBias, Tensor k, Tensor kBias, Tensor v, Tensor vBias,   // (H·Dh, D), (Hkv·Dh, D)
                        Tensor o, Tensor oBias,                                                  // (D, H·Dh)
                        Tensor gate, Tensor gateBias, Tensor up, Tensor upBias,                  // (I, D), (I)
                        Tensor down, Tensor downBias) {}                                         // (D, I)

    private final TeacherSpec spec;
    private final Backend backend;
    private final Tensor embedding;    // (V, D)
    private final Tensor positions;    // (P, D) GPT-2's wpe, or null
    private final List<Layer> layers;
    private final Tensor normF, normFBias;
    private final Tensor lmHead, lmHeadBias;   // (V, D), the embedding itself when tied; (V) or null
    private final Tensor cos, sin;             // (P, rotaryDim/2) or null

    public TeacherModel(TeacherSpec spec, Backend backend, Tensor embedding, Tensor positions, List<Layer> layers,
                        Tensor normF, Tensor normFBias, Tensor lmHead, Tensor lmHeadBias) {
        this.spec = spec;
        this.backend = backend;
        this.embedding = embedding;
        this.positions = positions;
        this.layers = List.copyOf(layers);
        this.normF = normF;
        this.normFBias = normFBias;
        this.lmHead = lmHead;
        this.lmHeadBias = lmHeadBias;
        if (spec.rotaryDim() > 0) {
            Tensor[] t = Formulas.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);
            cos = t[0];
            sin = t[1];
        } else {
            cos = sin = null;
        }
    }

    public TeacherSpec spec() { return spec; }
    public Backend backend() { return backend; }
    public List<Layer> layers() { return layers; }

    @Override public int logitsSize() { return spec.vocabSize(); }
    @Override public int vocabSize() { return spec.vocabSize(); }
    @Override public int eosTokenId() { return spec.eosTokenId(); }

    /** transformers' output_hidden_states of these models: the embedding output, blocks 0..L−2, then the final norm. */
    @Override public boolean hiddenStatesIncludeEmbedding() { return true; }

    /** Every weight once, the head once, one embedding (and position) row; the KV cache is read on top of this. */
    @Override public long weightBytesPerToken() {
        long bytes = lmHead.byteSize() + (long) spec.hidden() * embedding.dtype().byteSize();
        if (positions != null) bytes += (long) spec.hidden() * 4;
        for (Layer l : layers)
            for (Tensor t : new Tensor[]{l.norm1, l.norm1Bias, l.norm2, l.norm2Bias, l.q, l.qBias, l.k, l.kBias, l.v, l.vBias,
                    l.o, l.oBias, l.gate, l.gateBias, l.up, l.upBias, l.down, l.downBias})
                if (t != null) bytes += t.byteSize();
        bytes += normF.byteSize() + (normFBias == null ? 0 : normFBias.byteSize()) + (lmHeadBias == null ? 0 : lmHeadBias.byteSize());
        return bytes;
    }

    // ------------------------------------------------------------------ whole sequence

    @Override public Tensor forward(int[][] ids, Trace trace) {
        int b = ids.length, t = ids[0].length;
        Tensor h = hidden(ids, trace, null);
        Tensor logits = Tensor.zeros(DType.F32, (long) b * t, spec.vocabSize());
        backend.linear(h, lmHead, lmHeadBias, logits);
        return logits.reshape(b, t, spec.vocabSize());
    }

    /** Runs the blocks and returns the final norm's output (B·T, D); continues the KV cache (after its len positions) when one is given. */
    private Tensor hidden(int[][] ids, Trace trace, State cache) {
        int b = ids.length, t = ids[0].length, d = spec.hidden(), past = cache == null ? 0 : cache.len;
        if (past + t > spec.maxPositions())
            throw new UserInputException("input of " + (past + t) + " tokens is longer than the model's " + spec.maxPositions() + " positions (max_position_embeddings / n_positions)");
        int[] flat = flatten(ids);
        Tensor h = Tensor.zeros(DType.F32, (long) b * t, d);                       // (B·T, D) residual stream
        backend.embedding(embedding, backend.ids(flat), h);
        if (positions != null) {                                                    // GPT-2: + wpe[0..T)
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) pos[i] = past + i % t;
            Tensor p = Tensor.zeros(DType.F32, (long) b * t, d);
            backend.embedding(positions, backend.ids(pos), p);
            backend.add(h, p, h);
        }
        trace.record("embedding", -1, h);
        Work w = new Work(b, t, trace.wants("attn_probs"));
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            norm(h, l.norm1, l.norm1Bias, w.u);
            attention(l, w, cache, i);                                              // w.u → w.a (B·T, D)
            if (spec.arch() == TeacherSpec.Arch.PHI) {                              // parallel block: both read the same LN output
                mlp(l, w.u, w.mid, w.gateOut, w.m);
                backend.add(h, w.a, h);
                backend.add(h, w.m, h);
            } else {                                                                // sequential pre-norm block
                backend.add(h, w.a, h);
                norm(h, l.norm2, l.norm2Bias, w.u);
                mlp(l, w.u, w.mid, w.gateOut, w.m);
                backend.add(h, w.m, h);
            }
            if (w.probs != null) trace.record("attn_probs", i, w.probs);
            trace.record("block_out", i, h);
        }
        norm(h, normF, normFBias, w.u);
        trace.record("norm_f", -1, w.u);
        return w.u;
    }

    private void norm(Tensor x, Tensor w, Tensor b, Tensor out) {
        if (spec.arch() == TeacherSpec.Arch.LLAMA) backend.rmsNorm(x, w, (float) spec.normEps(), out);
        else backend.layerNorm(x, w, b, (float) spec.normEps(), out);
    }

    /** Self-attention of one block over whole sequences: u (B·T, D) → a (B·T, D); k (after rotary) and v go to the cache when given. */
    private void attention(Layer l, Work w, State cache, int li) {
        int b = w.b, t = w.t, h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim(), past = cache == null ? 0 : cache.len;
        backend.linear(w.u, l.q, l.qBias, w.q);                                   // (B·T, H·Dh) = (B, T, H, Dh)
        backend.linear(w.u, l.k, l.kBias, w.k);                                   // (B, T, Hkv, Dh)
        backend.linear(w.u, l.v, l.vBias, w.v);
        Tensor q = w.q.reshape(b, t, h, dh), k = w.k.reshape(b, t, hkv, dh), v = w.v.reshape(b, t, hkv, dh);
        if (cos != null) {
            backend.rotary(q, cos, sin, spec.rotaryDim(), past, q);
            backend.rotary(k, cos, sin, spec.rotaryDim(), past, k);
        }
        if (cache != null) cache.write(li, k, v, past);
        if (past == 0) backend.attention(q, k, v, spec.attentionScale(), w.y.reshape(b, t, h, dh), null, w.probs);
        else cache.kv[li].attendCached(q, past, spec.attentionScale(), w.y.reshape(b, t, h, dh));   // queries after the cached positions
        backend.linear(w.y, l.o, l.oBias, w.a);
    }

    /** gelu_new MLP (Phi, GPT-2) or SwiGLU (Llama): u (M, D) → out (M, D). */
    private void mlp(Layer l, Tensor u, Tensor mid, Tensor gateOut, Tensor out) {
        mlp(backend, u, l.gate, l.gateBias, l.up, l.upBias, l.down, l.downBias, mid, gateOut, out);
    }

    /**
     * down(gelu_new(up(u))) without a gate, down(up(u) · silu(gate(u))) with one (SwiGLU): u (M, D) → out (M, D), through
     * mid and gateOut (M, I). Shared with the MOHAWK students, whose MLPs are the teacher's.
     */
    public static void mlp(Backend backend, Tensor u, Tensor gate, Tensor gateBias, Tensor up, Tensor upBias, Tensor down, Tensor downBias,
                           Tensor mid, Tensor gateOut, Tensor out) {
        backend.linear(u, up, upBias, mid);                                        // (M, I)
        if (gate != null) {
            backend.linear(u, gate, gateBias, gateOut);
            backend.mulSilu(mid, gateOut, mid);                                    // up · silu(gate)
        } else {
            backend.geluTanh(mid, mid);
        }
        backend.linear(mid, down, downBias, out);
    }

    /** The whole-sequence intermediates, allocated once per forward and reused by every layer. */
    private final class Work {
        final int b, t;
        final Tensor u, q, k, v, y, a, mid, gateOut, m, probs;

        Work(int b, int t, boolean wantProbs) {
            this.b = b;
            this.t = t;
            long bt = (long) b * t;
            int d = spec.hidden(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim(), i = spec.intermediate();
            u = Tensor.zeros(DType.F32, bt, d);
            q = Tensor.zeros(DType.F32, bt, qd);
            k = Tensor.zeros(DType.F32, bt, kvd);
            v = Tensor.zeros(DType.F32, bt, kvd);
            y = Tensor.zeros(DType.F32, bt, qd);
            a = Tensor.zeros(DType.F32, bt, d);
            mid = Tensor.zeros(DType.F32, bt, i);
            gateOut = Tensor.zeros(DType.F32, bt, i);
            m = Tensor.zeros(DType.F32, bt, d);
            probs = wantProbs ? Tensor.zeros(DType.F32, b, spec.heads(), t, t) : null;
        }
    }

    // ------------------------------------------------------------------ decoding with a KV cache

    /**
     * The KV cache of one batch: per layer keys (after rotary) and values (B, C, Hkv, Dh) for the first {@code len}
     * positions; the capacity C doubles when full (the only allocations of {@link #step}, amortised), up to the
     * model's positions. Plus the step buffers.
     */
    public final class State implements DecodeState {
        final Tensor tokenIds;                      // (B) I32: the step's input ids on the backend's device
        final int batch;
        final KvCache[] kv;                         // per layer
        int len;                                    // positions filled in the caches (the longest sequence)
        final int[] at;                             // (B) each sequence's position: len for all after prefill, own after copySequence
        final Tensor h, u, q, k, v, y, a, mid, gateOut, m, logits, pos;
        final int[] posIds;
        final Tensor posTensor;                     // (B) I32 positions for GPT-2's wpe

        State(int batch) {
            tokenIds = backend.zeros(DType.I32, batch);
            this.batch = batch;
            int d = spec.hidden(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim(), i = spec.intermediate();
            kv = new KvCache[layers.size()];
            for (int li = 0; li < kv.length; li++) kv[li] = new KvCache(backend, batch, spec.kvHeads(), spec.headDim(), spec.maxPositions());
            h = Tensor.zeros(DType.F32, batch, d); u = Tensor.zeros(DType.F32, batch, d);
            q = Tensor.zeros(DType.F32, batch, qd); k = Tensor.zeros(DType.F32, batch, kvd); v = Tensor.zeros(DType.F32, batch, kvd);
            y = Tensor.zeros(DType.F32, batch, qd); a = Tensor.zeros(DType.F32, batch, d);
            mid = Tensor.zeros(DType.F32, batch, i); gateOut = Tensor.zeros(DType.F32, batch, i); m = Tensor.zeros(DType.F32, batch, d);
            logits = Tensor.zeros(DType.F32, batch, spec.vocabSize());
            pos = Tensor.zeros(DType.F32, batch, d);
            posIds = new int[batch];
            posTensor = backend.zeros(DType.I32, batch);
            at = new int[batch];
        }

        boolean uniform() {
            for (int p : at) if (p != at[0]) return false;
            return true;
        }

        /** Makes room for {@code need} positions in every layer's cache. */
        void reserve(int need) { for (KvCache c : kv) c.reserve(need, len); }

        /** Writes k, v (B, T, Hkv, Dh) at positions [at, at + T) of layer li's cache. */
        void write(int li, Tensor k, Tensor v, int at) { kv[li].write(k, v, at); }

        @Override public int batch() { return batch; }

        @Override public boolean growsWithLength() { return true; }

        /** Rows step at their own positions (see {@link #step}). */
        @Override public boolean sequencesShareOnePosition() { return false; }

        /** Bytes of the keys and values of the current context: 2 · layers · B · len · Hkv · Dh · 4, growing with every token. */
        @Override public long stateBytes() { return layers.size() * kv[0].bytes(len); }

        @Override public long allocatedBytes() {
            long s = 0;
            for (KvCache c : kv) s += c.allocatedBytes();
            return s;
        }

        @Override public long bufferBytes() { return DecodeState.bytes(tokenIds, h, u, q, k, v, y, a, mid, gateOut, m, logits, pos, posTensor); }

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
        Tensor hf = hidden(prompts, Trace.NONE, s);                                  // (B·T, D)
        s.len = t;
        java.util.Arrays.fill(s.at, t);
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }

    /** Feeds more tokens (B, T) after the cached positions; {@link #prefill} is this from an empty cache. */
    @Override public Tensor extend(DecodeState state, int[][] ids) {
        State s = (State) state;
        int b = ids.length, t = ids[0].length;
        if (b != s.batch) throw new IllegalArgumentException("state is for batch " + s.batch + ", prompts are " + b);
        if (!s.uniform() || s.at[0] != s.len) throw new IllegalArgumentException("extend needs every sequence of the state at one position, got " + java.util.Arrays.toString(s.at));
        s.reserve(s.len + t);
        Tensor hf = hidden(ids, Trace.NONE, s);                                      // (B·T, D)
        s.len += t;
        java.util.Arrays.fill(s.at, s.len);
        mamba4j.models.SequenceCopies.lastPositions(backend, hf, b, t, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }

    /** Copies one sequence's keys and values and its position; the rows of a state may be at different positions. */
    @Override public void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        State a = (State) src, d = (State) dst;
        int n = a.at[srcRow];
        for (int i = 0; i < layers.size(); i++) KvCache.copyRow(a.kv[i], srcRow, d.kv[i], dstRow, n, d.len);
        d.at[dstRow] = n;
        d.len = Math.max(d.len, n);
        if (d.batch == 1) d.len = n;
    }

    /**
     * One token per sequence through every block, each at its own position (all at len after a prefill), mirroring
     * {@link #hidden} line for line. Returns logits (B, V). Rows at different positions (sequences copied in by
     * {@link #copySequence}) take rotary, the cache write and attention one row at a time.
     */
    @Override public Tensor step(DecodeState state, int[] tokens) {
        State s = (State) state;
        checkIds(tokens, -1);
        boolean uniform = s.uniform();
        int b = s.batch, h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim(), at = s.at[0], last = 0;
        for (int p : s.at) last = Math.max(last, p);
        s.reserve(last + 1);
        backend.ids(tokens, s.tokenIds);
        backend.embedding(embedding, s.tokenIds, s.h);
        if (positions != null) {
            System.arraycopy(s.at, 0, s.posIds, 0, b);
            backend.ids(s.posIds, s.posTensor);
            backend.embedding(positions, s.posTensor, s.pos);
            backend.add(s.h, s.pos, s.h);
        }
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            norm(s.h, l.norm1, l.norm1Bias, s.u);
            backend.linear(s.u, l.q, l.qBias, s.q);
            backend.linear(s.u, l.k, l.kBias, s.k);
            backend.linear(s.u, l.v, l.vBias, s.v);
            if (uniform) {
                Tensor q = s.q.reshape(b, 1, h, dh), k = s.k.reshape(b, 1, hkv, dh);
                if (cos != null) {
                    backend.rotary(q, cos, sin, spec.rotaryDim(), at, q);
                    backend.rotary(k, cos, sin, spec.rotaryDim(), at, k);
                }
                s.write(i, k, s.v.reshape(b, 1, hkv, dh), at);
                backend.attentionDecode(s.q.reshape(b, h, dh), s.kv[i].keys(), s.kv[i].values(), at + 1, spec.attentionScale(), s.y.reshape(b, h, dh));
            } else for (int r = 0; r < b; r++) {                                    // the same, one row at its own position
                int p = s.at[r];
                Tensor q = s.q.rows(r, r + 1).reshape(1, 1, h, dh), k = s.k.rows(r, r + 1).reshape(1, 1, hkv, dh);
                if (cos != null) {
                    backend.rotary(q, cos, sin, spec.rotaryDim(), p, q);
                    backend.rotary(k, cos, sin, spec.rotaryDim(), p, k);
                }
                s.kv[i].writeRow(k, s.v.rows(r, r + 1).reshape(1, 1, hkv, dh), r, p);
                backend.attentionDecode(q.reshape(1, h, dh), s.kv[i].keys().rows(r, r + 1), s.kv[i].values().rows(r, r + 1), p + 1,
                        spec.attentionScale(), s.y.rows(r, r + 1).reshape(1, h, dh));
            }
            backend.linear(s.y, l.o, l.oBias, s.a);
            if (spec.arch() == TeacherSpec.Arch.PHI) {
                mlp(l, s.u, s.mid, s.gateOut, s.m);
                backend.add(s.h, s.a, s.h);
                backend.add(s.h, s.m, s.h);
            } else {
                backend.add(s.h, s.a, s.h);
                norm(s.h, l.norm2, l.norm2Bias, s.u);
                mlp(l, s.u, s.mid, s.gateOut, s.m);
                backend.add(s.h, s.m, s.h);
            }
        }
        for (int r = 0; r < b; r++) s.at[r]++;
        s.len = last + 1;
        norm(s.h, normF, normFBias, s.u);
        backend.linear(s.u, lmHead, lmHeadBias, s.logits);
        return s.logits;
    }

    private int[] flatten(int[][] ids) {
        int t = ids[0].length;
        if (t == 0) throw new UserInputException("input_ids: sequence length is 0");
        int[] flat = new int[ids.length * t];
        for (int bi = 0; bi < ids.length; bi++) {
            if (ids[bi].length != t) throw new UserInputException("input_ids: row " + bi + " has " + ids[bi].length + " tokens, row 0 has " + t);
            checkIds(ids[bi], bi);
            System.arraycopy(ids[bi], 0, flat, bi * t, t);
        }
        return flat;
    }

    private void checkIds(int[] ids, int row) {
        for (int j = 0; j < ids.length; j++)
            if (ids[j] < 0 || ids[j] >= spec.vocabSize())
                throw new UserInputException("token id " + ids[j] + " at " + (row >= 0 ? "row " + row + ", " : "") + "position " + j
                        + " is out of range: vocab_size is " + spec.vocabSize());
    }
}
