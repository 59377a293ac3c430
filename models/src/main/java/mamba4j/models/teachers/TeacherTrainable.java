package mamba4j.models.teachers;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Ops;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.CheckpointNames;
import mamba4j.models.ParameterSet;
import mamba4j.models.Sampler;
import mamba4j.models.TokenIds;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A Phi, Llama or GPT-2 language model as trainable F32 parameters under the checkpoint's names and shapes, its
 * forward recorded on a {@link Tape} (the data path of {@link TeacherModel#forward}, op for op) and its loss
 * differentiated by the tape. GPT-2's Conv1D weights stay in their (in, out) layout (the tape's {@code matmul}), its
 * fused c_attn is one parameter split into q | k | v after the projection, so every gradient has the checkpoint's
 * layout. A tied head is the embedding parameter used twice.
 */
public final class TeacherTrainable implements TrainableModel {
    /** How a fresh parameter starts (transformers' _init_weights): N(0, std), zeros, or ones. */
    private enum Init { WEIGHT, BIAS, NORM }

    /** One tensor of the checkpoint layout. */
    private record Slot(String name, long[] shape, Init init, double std) {}

    private final TeacherSpec spec;
    private final Backend backend;
    private final String gpt2Prefix;                 // "transformer." or "" (openai-community/gpt2 stores no prefix)
    private final boolean attentionBias, mlpBias;    // Llama's optional biases
    private final boolean lmHeadBias;                // Phi's lm_head.bias
    private final ParameterSet params = new ParameterSet();
    private final Workspace workspace = new Workspace();   // one step's intermediates, reused
    private final Tensor cos, sin;                   // (P, rotaryDim/2) or null

    private TeacherTrainable(TeacherSpec spec, Backend backend, String gpt2Prefix, boolean attentionBias, boolean mlpBias, boolean lmHeadBias) {
        this.spec = spec;
        this.backend = backend;
        this.gpt2Prefix = gpt2Prefix;
        this.attentionBias = attentionBias;
        this.mlpBias = mlpBias;
        this.lmHeadBias = lmHeadBias;
        if (spec.rotaryDim() > 0) {
            Tensor[] t = Ops.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);
            cos = t[0];
            sin = t[1];
        } else {
            cos = sin = null;
        }
    }

    /** F32 copies of a checkpoint's tensors (any floating dtype), every shape asserted with the tensor's name. */
    public static TeacherTrainable fromCheckpoint(TeacherSpec spec, CheckpointTensors ck, Backend backend) {
        String pre = spec.arch() == TeacherSpec.Arch.GPT2 && !ck.contains("transformer.wte.weight") ? "" : "transformer.";
        boolean attnBias = spec.arch() == TeacherSpec.Arch.LLAMA && ck.contains("model.layers.0.self_attn.q_proj.bias");
        boolean mlpBias = spec.arch() == TeacherSpec.Arch.LLAMA && ck.contains("model.layers.0.mlp.up_proj.bias");
        boolean headBias = spec.arch() == TeacherSpec.Arch.PHI && ck.contains("lm_head.bias");
        TeacherTrainable t = new TeacherTrainable(spec, backend, pre, attnBias, mlpBias, headBias);
        CheckpointNames names = new CheckpointNames(ck);
        for (Slot s : t.layout()) t.params.add(s.name(), names.f32(s.name(), s.shape()), s.init() == Init.WEIGHT);
        return t;
    }

    /**
     * A fresh model initialised as transformers' _init_weights with initializer_range 0.02: linear and embedding
     * weights N(0, 0.02) (GPT-2's c_proj N(0, 0.02/√(2·n_layer)), as GPT2PreTrainedModel), biases 0, norms 1. Phi gets
     * its lm_head bias; Llama has no biases.
     */
    public static TeacherTrainable random(TeacherSpec spec, long seed, Backend backend) {
        TeacherTrainable t = new TeacherTrainable(spec, backend, "transformer.", false, false, spec.arch() == TeacherSpec.Arch.PHI);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Slot s : t.layout()) {
            Tensor v = Tensor.zeros(DType.F32, s.shape());
            switch (s.init()) {
                case WEIGHT -> {
                    for (long i = 0, n = v.numel(); i < n; i++)
                        v.setFloat(i, (float) (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble()) * s.std()));
                }
                case BIAS -> { }
                case NORM -> v.fill(1f);
            }
            t.params.add(s.name(), v, s.init() == Init.WEIGHT);
        }
        return t;
    }

    public TeacherSpec spec() { return spec; }

    /** In checkpoint order, each in its checkpoint shape. */
    @Override public List<Parameter> parameters() { return params.list(); }

    // ------------------------------------------------------------------ the checkpoint layout

    /** The checkpoint's tensors, in transformers' module order. */
    private List<Slot> layout() {
        List<Slot> s = new ArrayList<>();
        int d = spec.hidden(), i = spec.intermediate(), qd = spec.heads() * spec.headDim(), kvd = spec.kvHeads() * spec.headDim();
        int v = spec.vocabSize();
        switch (spec.arch()) {
            case PHI -> {
                s.add(w("model.embed_tokens.weight", v, d));
                for (int l = 0; l < spec.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    s.add(w(p + "self_attn.q_proj.weight", qd, d)); s.add(b(p + "self_attn.q_proj.bias", qd));
                    s.add(w(p + "self_attn.k_proj.weight", kvd, d)); s.add(b(p + "self_attn.k_proj.bias", kvd));
                    s.add(w(p + "self_attn.v_proj.weight", kvd, d)); s.add(b(p + "self_attn.v_proj.bias", kvd));
                    s.add(w(p + "self_attn.dense.weight", d, qd)); s.add(b(p + "self_attn.dense.bias", d));
                    s.add(w(p + "mlp.fc1.weight", i, d)); s.add(b(p + "mlp.fc1.bias", i));
                    s.add(w(p + "mlp.fc2.weight", d, i)); s.add(b(p + "mlp.fc2.bias", d));
                    s.add(norm(p + "input_layernorm.weight", d)); s.add(b(p + "input_layernorm.bias", d));
                }
                s.add(norm("model.final_layernorm.weight", d)); s.add(b("model.final_layernorm.bias", d));
                if (!spec.tieWordEmbeddings()) s.add(w("lm_head.weight", v, d));
                if (lmHeadBias) s.add(b("lm_head.bias", v));
            }
            case LLAMA -> {
                s.add(w("model.embed_tokens.weight", v, d));
                for (int l = 0; l < spec.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    s.add(w(p + "self_attn.q_proj.weight", qd, d)); if (attentionBias) s.add(b(p + "self_attn.q_proj.bias", qd));
                    s.add(w(p + "self_attn.k_proj.weight", kvd, d)); if (attentionBias) s.add(b(p + "self_attn.k_proj.bias", kvd));
                    s.add(w(p + "self_attn.v_proj.weight", kvd, d)); if (attentionBias) s.add(b(p + "self_attn.v_proj.bias", kvd));
                    s.add(w(p + "self_attn.o_proj.weight", d, qd)); if (attentionBias) s.add(b(p + "self_attn.o_proj.bias", d));
                    s.add(w(p + "mlp.gate_proj.weight", i, d)); if (mlpBias) s.add(b(p + "mlp.gate_proj.bias", i));
                    s.add(w(p + "mlp.up_proj.weight", i, d)); if (mlpBias) s.add(b(p + "mlp.up_proj.bias", i));
                    s.add(w(p + "mlp.down_proj.weight", d, i)); if (mlpBias) s.add(b(p + "mlp.down_proj.bias", d));
                    s.add(norm(p + "input_layernorm.weight", d));
                    s.add(norm(p + "post_attention_layernorm.weight", d));
                }
                s.add(norm("model.norm.weight", d));
                if (!spec.tieWordEmbeddings()) s.add(w("lm_head.weight", v, d));
            }
            case GPT2 -> {
                String pre = gpt2Prefix;
                double projStd = 0.02 / Math.sqrt(2.0 * spec.layers());
                s.add(w(pre + "wte.weight", v, d));
                s.add(w(pre + "wpe.weight", spec.maxPositions(), d));
                for (int l = 0; l < spec.layers(); l++) {
                    String p = pre + "h." + l + ".";
                    s.add(norm(p + "ln_1.weight", d)); s.add(b(p + "ln_1.bias", d));
                    s.add(w(p + "attn.c_attn.weight", d, 3L * d)); s.add(b(p + "attn.c_attn.bias", 3L * d));   // Conv1D: (in, out)
                    s.add(new Slot(p + "attn.c_proj.weight", new long[]{d, d}, Init.WEIGHT, projStd)); s.add(b(p + "attn.c_proj.bias", d));
                    s.add(norm(p + "ln_2.weight", d)); s.add(b(p + "ln_2.bias", d));
                    s.add(w(p + "mlp.c_fc.weight", d, i)); s.add(b(p + "mlp.c_fc.bias", i));
                    s.add(new Slot(p + "mlp.c_proj.weight", new long[]{i, d}, Init.WEIGHT, projStd)); s.add(b(p + "mlp.c_proj.bias", d));
                }
                s.add(norm(pre + "ln_f.weight", d)); s.add(b(pre + "ln_f.bias", d));
                if (!spec.tieWordEmbeddings()) s.add(w("lm_head.weight", v, d));
            }
        }
        return s;
    }

    private static Slot w(String name, long... shape) { return new Slot(name, shape, Init.WEIGHT, 0.02); }
    private static Slot b(String name, long... shape) { return new Slot(name, shape, Init.BIAS, 0); }
    private static Slot norm(String name, long... shape) { return new Slot(name, shape, Init.NORM, 0); }

    // ------------------------------------------------------------------ the training forward

    /**
     * Logits (B·T, V) for inputs (B, T), recorded on the tape. Mirrors {@link TeacherModel#forward}: embedding
     * (+ positions) → [norm → attention (q, k, v → rotary → causal attention → out proj) and MLP, parallel (Phi)
     * or sequential pre-norm (Llama, GPT-2), added to the residual] × n_layer → final norm → lm_head.
     */
    public Var logits(Tape tape, int[][] inputs) {
        int b = inputs.length, t = inputs[0].length;
        if (t > spec.maxPositions())
            throw new UserInputException("input of " + t + " tokens is longer than the model's " + spec.maxPositions() + " positions (max_position_embeddings / n_positions)");
        Var emb = param(tape, names().embedding);
        Var h = tape.embedding(emb, TokenIds.flattenChecked(inputs, spec.vocabSize()));          // (B·T, D) residual stream
        if (spec.arch() == TeacherSpec.Arch.GPT2) {                                             // + wpe[0..T)
            int[] pos = new int[b * t];
            for (int i = 0; i < pos.length; i++) pos[i] = i % t;
            h = tape.add(h, tape.embedding(param(tape, gpt2Prefix + "wpe.weight"), pos));
        }
        for (int l = 0; l < spec.layers(); l++) {
            Names n = names(l);
            Var u = norm(tape, h, n.norm1);
            Var a = attention(tape, u, n, b, t);
            if (spec.arch() == TeacherSpec.Arch.PHI) {                                          // parallel block: both read the same LN output
                h = tape.add(tape.add(h, a), mlp(tape, u, n));
            } else {                                                                            // sequential pre-norm block
                h = tape.add(h, a);
                h = tape.add(h, mlp(tape, norm(tape, h, n.norm2), n));
            }
        }
        Var hf = norm(tape, h, names().normF);
        Var head = spec.tieWordEmbeddings() ? emb : param(tape, "lm_head.weight");
        return tape.linear(hf, head, opt(tape, "lm_head.bias"));                                 // (B·T, V)
    }

    /** Self-attention of one block: u (B·T, D) → (B·T, D). */
    private Var attention(Tape tape, Var u, Names n, int b, int t) {
        int h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim(), qd = h * dh, kvd = hkv * dh;
        Var q, k, v;
        if (spec.arch() == TeacherSpec.Arch.GPT2) {
            Var[] qkv = tape.split(project(tape, u, n.qkv), qd, kvd, kvd);                    // c_attn: one (D, 3D) Conv1D
            q = qkv[0]; k = qkv[1]; v = qkv[2];
        } else {
            q = project(tape, u, n.q);
            k = project(tape, u, n.k);
            v = project(tape, u, n.v);
        }
        Var q4 = q.reshape(b, t, h, dh), k4 = k.reshape(b, t, hkv, dh), v4 = v.reshape(b, t, hkv, dh);
        if (cos != null) {
            q4 = tape.rotary(q4, cos, sin, spec.rotaryDim());
            k4 = tape.rotary(k4, cos, sin, spec.rotaryDim());
        }
        Var y = tape.attention(q4, k4, v4, spec.attentionScale());                              // (B, T, H, Dh)
        return project(tape, y.reshape((long) b * t, qd), n.o);
    }

    /** gelu_new MLP (Phi, GPT-2) or SwiGLU (Llama): u (M, D) → (M, D). */
    private Var mlp(Tape tape, Var u, Names n) {
        Var up = project(tape, u, n.up);                                                        // (M, I)
        Var mid = n.gate != null ? tape.mulSilu(up, project(tape, u, n.gate))                  // up · silu(gate)
                : tape.geluTanh(up);
        return project(tape, mid, n.down);
    }

    private Var norm(Tape tape, Var x, String prefix) {
        if (spec.arch() == TeacherSpec.Arch.LLAMA) return tape.rmsNorm(x, param(tape, prefix + ".weight"), (float) spec.normEps());
        return tape.layerNorm(x, param(tape, prefix + ".weight"), param(tape, prefix + ".bias"), (float) spec.normEps());
    }

    /** A projection by its module prefix: nn.Linear (out, in) or, for GPT-2, Conv1D (in, out); bias when present. */
    private Var project(Tape tape, Var x, String prefix) {
        Var w = param(tape, prefix + ".weight"), bias = opt(tape, prefix + ".bias");
        return spec.arch() == TeacherSpec.Arch.GPT2 ? tape.matmul(x, w, bias) : tape.linear(x, w, bias);
    }

    /** Module prefixes of one block (or of the model, for embedding and final norm). */
    private record Names(String embedding, String normF, String norm1, String norm2, String qkv, String q, String k, String v,
                         String o, String gate, String up, String down) {}

    private Names names() { return names(-1); }

    private Names names(int l) {
        String p = (spec.arch() == TeacherSpec.Arch.GPT2 ? gpt2Prefix + "h." : "model.layers.") + l + ".";
        return switch (spec.arch()) {
            case PHI -> new Names("model.embed_tokens.weight", "model.final_layernorm", p + "input_layernorm", null, null,
                    p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", p + "self_attn.dense", null, p + "mlp.fc1", p + "mlp.fc2");
            case LLAMA -> new Names("model.embed_tokens.weight", "model.norm", p + "input_layernorm", p + "post_attention_layernorm", null,
                    p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", p + "self_attn.o_proj",
                    p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj");
            case GPT2 -> new Names(gpt2Prefix + "wte.weight", gpt2Prefix + "ln_f", p + "ln_1", p + "ln_2", p + "attn.c_attn",
                    null, null, null, p + "attn.c_proj", null, p + "mlp.c_fc", p + "mlp.c_proj");
        };
    }

    private Var param(Tape tape, String name) {
        Parameter q = params.get(name);
        if (q == null) throw new IllegalStateException("no parameter " + name);
        return tape.param(q);
    }

    private Var opt(Tape tape, String name) {
        Parameter q = params.get(name);
        return q == null ? null : tape.param(q);
    }

    // ------------------------------------------------------------------ TrainableModel

    /** Mean cross-entropy over counted targets (−100 ignored); gradients × gradScale accumulate into the parameters. */
    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        workspace.reset();
        Tape tape = new Tape(backend, workspace);
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        workspace.reset();
        Tape tape = new Tape(backend, workspace);
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    /** The training forward's logits (B, T, V), copied out of the workspace. */
    public Tensor logits(int[][] inputs) {
        workspace.reset();
        Tensor l = logits(new Tape(backend, workspace), inputs).value();
        Tensor out = Tensor.zeros(DType.F32, inputs.length, inputs[0].length, spec.vocabSize());
        out.copyFrom(l.reshape(out.shape().dims()));
        return out;
    }

    /** Greedy prediction per position (B, T). */
    @Override public int[][] predict(int[][] inputs) {
        int b = inputs.length, t = inputs[0].length, v = spec.vocabSize();
        float[] all = logits(inputs).toFloatArray();
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) out[i][j] = Sampler.argmax(all, (i * t + j) * v, v);
        return out;
    }

    /** Writes an HF-loadable checkpoint (config.json + model.safetensors, checkpoint names and layouts). */
    @Override public void save(Path dir) {
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (Parameter q : params.list()) t.put(q.name(), q.value());
        TeacherSaver.save(dir, TeacherSaver.config(spec, attentionBias, mlpBias), t);
    }

    /** Copies the tensors of dir's checkpoint (as {@link #save} wrote them) into the parameters, in place. */
    public void loadFrom(Path dir) { params.loadFrom(dir, ck -> name -> name); }

    /** Frees the step workspaces (the parameters stay valid until unreachable). */
    @Override
    public void close() {
        workspace.close();
    }
}
