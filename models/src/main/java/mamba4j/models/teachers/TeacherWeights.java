package mamba4j.models.teachers;

import mamba4j.models.TensorSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The one checkpoint-name → field mapping of the Transformer LM (Phi, Llama, GPT-2), generic in what it holds:
 * {@link TensorSpec}s from {@link #table}, then by {@link #map} the loaded tensors, the trainable parameters or a
 * tape's variables. Load, init, save, the parameter list, the parameter count and the bytes per decode token all walk
 * this one record, in each architecture's checkpoint order ({@link #all}). Linear weights are nn.Linear (out, in);
 * GPT-2's are Conv1D (in, out), used as they are stored (through matmul), with c_attn one fused (D, 3D) q | k | v.
 */
public record TeacherWeights<T>(TeacherSpec.Arch arch, T embedding, T positions, List<Layer<T>> layers, T normF, T normFBias,
                                T lmHead, T lmHeadBias) {
    public TeacherWeights {
        layers = List.copyOf(layers);
    }

    /**
     * One block. norm2 is null for Phi (one norm feeds attention and MLP); qkv is GPT-2's c_attn (q, k, v null there);
     * gate is Llama's gate_proj; up is fc1 / c_fc / up_proj, down is fc2 / c_proj / down_proj, o is dense / c_proj / o_proj.
     */
    public record Layer<T>(T norm1, T norm1Bias, T norm2, T norm2Bias,
                           T qkv, T qkvBias,                        // GPT-2: (D, 3D), (3D)
                           T q, T qBias, T k, T kBias, T v, T vBias, // (H·Dh, D), (Hkv·Dh, D)
                           T o, T oBias,                            // (D, H·Dh)
                           T gate, T gateBias, T up, T upBias,      // (I, D), (I)
                           T down, T downBias) {                    // (D, I)

        public <U> Layer<U> map(Function<? super T, ? extends U> f) {
            return new Layer<>(m(f, norm1), m(f, norm1Bias), m(f, norm2), m(f, norm2Bias), m(f, qkv), m(f, qkvBias),
                    m(f, q), m(f, qBias), m(f, k), m(f, kBias), m(f, v), m(f, vBias), m(f, o), m(f, oBias),
                    m(f, gate), m(f, gateBias), m(f, up), m(f, upBias), m(f, down), m(f, downBias));
        }

        /** The present tensors in the architecture's checkpoint (transformers module) order. */
        public List<T> all(TeacherSpec.Arch arch) {
            List<T> in = switch (arch) {
                case PHI -> Arrays.asList(q, qBias, k, kBias, v, vBias, o, oBias, up, upBias, down, downBias, norm1, norm1Bias);
                case LLAMA -> Arrays.asList(q, qBias, k, kBias, v, vBias, o, oBias, gate, gateBias, up, upBias, down, downBias, norm1, norm2);
                case GPT2 -> Arrays.asList(norm1, norm1Bias, qkv, qkvBias, o, oBias, norm2, norm2Bias, up, upBias, down, downBias);
            };
            return in.stream().filter(Objects::nonNull).toList();
        }

        private static <T, U> U m(Function<? super T, ? extends U> f, T t) { return t == null ? null : f.apply(t); }
    }

    /**
     * The table of a spec. {@code gpt2Prefix} is "transformer." or "" (openai-community/gpt2 stores none); Llama's
     * optional attention and MLP biases and Phi's lm_head bias are present when the flags say so.
     */
    public static TeacherWeights<TensorSpec> table(TeacherSpec s, String gpt2Prefix, boolean attentionBias, boolean mlpBias, boolean lmHeadBias) {
        long d = s.hidden(), i = s.intermediate(), qd = (long) s.heads() * s.headDim(), kvd = (long) s.kvHeads() * s.headDim(), v = s.vocabSize();
        List<Layer<TensorSpec>> layers = new ArrayList<>();
        return switch (s.arch()) {
            case PHI -> {
                for (int l = 0; l < s.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    layers.add(new Layer<>(TensorSpec.vector(p + "input_layernorm.weight", d), TensorSpec.vector(p + "input_layernorm.bias", d), null, null,
                            null, null,
                            TensorSpec.matrix(p + "self_attn.q_proj.weight", qd, d), TensorSpec.vector(p + "self_attn.q_proj.bias", qd),
                            TensorSpec.matrix(p + "self_attn.k_proj.weight", kvd, d), TensorSpec.vector(p + "self_attn.k_proj.bias", kvd),
                            TensorSpec.matrix(p + "self_attn.v_proj.weight", kvd, d), TensorSpec.vector(p + "self_attn.v_proj.bias", kvd),
                            TensorSpec.matrix(p + "self_attn.dense.weight", d, qd), TensorSpec.vector(p + "self_attn.dense.bias", d),
                            null, null, TensorSpec.matrix(p + "mlp.fc1.weight", i, d), TensorSpec.vector(p + "mlp.fc1.bias", i),
                            TensorSpec.matrix(p + "mlp.fc2.weight", d, i), TensorSpec.vector(p + "mlp.fc2.bias", d)));
                }
                TensorSpec emb = TensorSpec.matrix("model.embed_tokens.weight", v, d);
                yield new TeacherWeights<>(s.arch(), emb, null, layers, TensorSpec.vector("model.final_layernorm.weight", d),
                        TensorSpec.vector("model.final_layernorm.bias", d), s.tieWordEmbeddings() ? emb : TensorSpec.matrix("lm_head.weight", v, d),
                        lmHeadBias ? TensorSpec.vector("lm_head.bias", v) : null);
            }
            case LLAMA -> {
                for (int l = 0; l < s.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    layers.add(new Layer<>(TensorSpec.vector(p + "input_layernorm.weight", d), null,
                            TensorSpec.vector(p + "post_attention_layernorm.weight", d), null, null, null,
                            TensorSpec.matrix(p + "self_attn.q_proj.weight", qd, d), attentionBias ? TensorSpec.vector(p + "self_attn.q_proj.bias", qd) : null,
                            TensorSpec.matrix(p + "self_attn.k_proj.weight", kvd, d), attentionBias ? TensorSpec.vector(p + "self_attn.k_proj.bias", kvd) : null,
                            TensorSpec.matrix(p + "self_attn.v_proj.weight", kvd, d), attentionBias ? TensorSpec.vector(p + "self_attn.v_proj.bias", kvd) : null,
                            TensorSpec.matrix(p + "self_attn.o_proj.weight", d, qd), attentionBias ? TensorSpec.vector(p + "self_attn.o_proj.bias", d) : null,
                            TensorSpec.matrix(p + "mlp.gate_proj.weight", i, d), mlpBias ? TensorSpec.vector(p + "mlp.gate_proj.bias", i) : null,
                            TensorSpec.matrix(p + "mlp.up_proj.weight", i, d), mlpBias ? TensorSpec.vector(p + "mlp.up_proj.bias", i) : null,
                            TensorSpec.matrix(p + "mlp.down_proj.weight", d, i), mlpBias ? TensorSpec.vector(p + "mlp.down_proj.bias", d) : null));
                }
                TensorSpec emb = TensorSpec.matrix("model.embed_tokens.weight", v, d);
                yield new TeacherWeights<>(s.arch(), emb, null, layers, TensorSpec.vector("model.norm.weight", d), null,
                        s.tieWordEmbeddings() ? emb : TensorSpec.matrix("lm_head.weight", v, d), null);
            }
            case GPT2 -> {
                String pre = gpt2Prefix;
                for (int l = 0; l < s.layers(); l++) {
                    String p = pre + "h." + l + ".";
                    layers.add(new Layer<>(TensorSpec.vector(p + "ln_1.weight", d), TensorSpec.vector(p + "ln_1.bias", d),
                            TensorSpec.vector(p + "ln_2.weight", d), TensorSpec.vector(p + "ln_2.bias", d),
                            TensorSpec.f32Matrix(p + "attn.c_attn.weight", d, 3 * d), TensorSpec.vector(p + "attn.c_attn.bias", 3 * d),
                            null, null, null, null, null, null,
                            TensorSpec.f32Matrix(p + "attn.c_proj.weight", d, d), TensorSpec.vector(p + "attn.c_proj.bias", d),
                            null, null, TensorSpec.f32Matrix(p + "mlp.c_fc.weight", d, i), TensorSpec.vector(p + "mlp.c_fc.bias", i),
                            TensorSpec.f32Matrix(p + "mlp.c_proj.weight", i, d), TensorSpec.vector(p + "mlp.c_proj.bias", d)));
                }
                TensorSpec emb = TensorSpec.matrix(pre + "wte.weight", v, d);
                yield new TeacherWeights<>(s.arch(), emb, TensorSpec.f32Matrix(pre + "wpe.weight", s.maxPositions(), d), layers,
                        TensorSpec.vector(pre + "ln_f.weight", d), TensorSpec.vector(pre + "ln_f.bias", d),
                        s.tieWordEmbeddings() ? emb : TensorSpec.matrix("lm_head.weight", v, d), null);
            }
        };
    }

    /** The same record with every present element mapped once (a tied head maps to the embedding's image). */
    public <U> TeacherWeights<U> map(Function<? super T, ? extends U> f) {
        Map<T, U> seen = new IdentityHashMap<>();
        Function<T, U> once = t -> t == null ? null : seen.computeIfAbsent(t, f::apply);
        List<Layer<U>> ls = new ArrayList<>();
        for (Layer<T> l : layers) ls.add(l.map(once));
        return new TeacherWeights<>(arch, once.apply(embedding), once.apply(positions), ls, once.apply(normF), once.apply(normFBias),
                once.apply(lmHead), once.apply(lmHeadBias));
    }

    /** Every present element once, in the architecture's checkpoint order (transformers' module order). */
    public List<T> all() {
        List<T> out = new ArrayList<>();
        out.add(embedding);
        if (positions != null) out.add(positions);
        for (Layer<T> l : layers) out.addAll(l.all(arch));
        out.add(normF);
        if (normFBias != null) out.add(normFBias);
        if (lmHead != embedding) out.add(lmHead);
        if (lmHeadBias != null) out.add(lmHeadBias);
        return out;
    }

    public boolean tied() { return lmHead == embedding; }
}
