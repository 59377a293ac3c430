package mamba4j.models.teachers;

import com.fasterxml.jackson.databind.JsonNode;
import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads Phi, Llama and GPT-2 checkpoints in transformers' layout. The three name → field mappings below are the
 * whole contract; every shape is asserted with the tensor's name. GPT-2's Conv1D weights are stored (in, out) and
 * transposed here to the (out, in) layout of {@link Backend#linear}; its fused c_attn is split into q | k | v.
 */
public final class TeacherLoader {
    private TeacherLoader() {}

    /** The config record of the checkpoint's model_type ("phi", "llama" or "gpt2"). */
    public static Record config(JsonConfig c) {
        Record r = read(c);
        try {
            spec(r);   // the spec's checks (head counts, rotary dims, memory of the position tables), named with the file
        } catch (UserInputException e) {
            throw new UserInputException(c.file() + ": " + e.getMessage().replaceFirst("^config: ", ""), e);
        }
        return r;
    }

    private static Record read(JsonConfig c) {
        String type = c.optString("model_type", "");
        return switch (type) {
            case "phi" -> new PhiConfig(c.size("vocab_size"), c.size("hidden_size"), c.size("intermediate_size"),
                    c.size("num_hidden_layers"), c.size("num_attention_heads"),
                    optSize(c, "num_key_value_heads", c.size("num_attention_heads")), c.optString("hidden_act", "gelu_new"),
                    c.optSize("max_position_embeddings", 2048), c.optDouble("layer_norm_eps", 1e-5), rope(c, "rope_theta", 10000.0),
                    rope(c, "partial_rotary_factor", 0.5), c.optBool("qk_layernorm", false), c.optBool("tie_word_embeddings", false), eos(c));
            case "llama" -> {
                int heads = c.size("num_attention_heads");
                yield new LlamaConfig(c.size("vocab_size"), c.size("hidden_size"), c.size("intermediate_size"),
                        c.size("num_hidden_layers"), heads, optSize(c, "num_key_value_heads", heads),
                        optSize(c, "head_dim", c.size("hidden_size") / heads), c.optString("hidden_act", "silu"),
                        c.optSize("max_position_embeddings", 2048), c.optDouble("rms_norm_eps", 1e-6), rope(c, "rope_theta", 10000.0),
                        c.optBool("attention_bias", false), c.optBool("mlp_bias", false), c.optBool("tie_word_embeddings", false), eos(c));
            }
            case "gpt2" -> {
                int d = c.size("n_embd");
                yield new Gpt2Config(c.size("vocab_size"), d, c.size("n_layer"), c.size("n_head"), optSize(c, "n_inner", 4 * d),
                        c.optSize("n_positions", 1024), c.optString("activation_function", "gelu_new"), c.optDouble("layer_norm_epsilon", 1e-5),
                        c.optBool("scale_attn_weights", true), c.optBool("tie_word_embeddings", true), eos(c));
            }
            default -> throw new UserInputException(c.file() + ": model_type \"" + type + "\" is not a Transformer teacher (phi, llama, gpt2)");
        };
    }

    public static TeacherSpec spec(Record config) {
        return switch (config) {
            case PhiConfig p -> p.spec();
            case LlamaConfig l -> l.spec();
            case Gpt2Config g -> g.spec();
            default -> throw new IllegalArgumentException("not a teacher config: " + config);
        };
    }

    /** A rope key from rope_parameters (transformers 5), else the top level (older config.json), else the default; rope_type must be "default". */
    private static double rope(JsonConfig c, String key, double def) {
        Optional<JsonConfig> rp = c.optNode("rope_parameters");
        if (rp.isPresent()) {
            String kind = rp.get().optString("rope_type", "default");
            if (!kind.equals("default")) throw new UserInputException(c.file() + ": rope_parameters.rope_type \"" + kind + "\" is not supported (only \"default\")");
            if (rp.get().has(key)) return rp.get().number(key);
        }
        JsonNode scaling = c.toObjectNode().get("rope_scaling");
        if (scaling != null && !scaling.isNull())
            throw new UserInputException(c.file() + ": rope_scaling is not supported");
        return c.optDouble(key, def);
    }

    /** An integer key that may be absent or null. */
    private static int optSize(JsonConfig c, String key, int def) {
        JsonNode n = c.toObjectNode().get(key);
        return n == null || n.isNull() ? def : c.size(key);
    }

    private static int eos(JsonConfig c) {
        JsonNode n = c.toObjectNode().get("eos_token_id");
        if (n == null || n.isNull()) return -1;
        if (n.isArray()) return n.isEmpty() ? -1 : n.get(0).asInt();
        return n.asInt();
    }

    /** Loads the weights (linear weights keep their dtype unless transposed) into a model on {@code backend}. */
    public static TeacherModel load(TeacherSpec s, CheckpointTensors ck, Backend backend) {
        Names n = new Names(ck);
        int d = s.hidden(), i = s.intermediate(), qd = s.heads() * s.headDim(), kvd = s.kvHeads() * s.headDim(), v = s.vocabSize();
        List<TeacherModel.Layer> layers = new ArrayList<>();
        return switch (s.arch()) {
            case PHI -> {
                for (int l = 0; l < s.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    layers.add(new TeacherModel.Layer(
                            n.f32(p + "input_layernorm.weight", d), n.f32(p + "input_layernorm.bias", d), null, null,
                            n.weight(p + "self_attn.q_proj.weight", qd, d), n.f32(p + "self_attn.q_proj.bias", qd),
                            n.weight(p + "self_attn.k_proj.weight", kvd, d), n.f32(p + "self_attn.k_proj.bias", kvd),
                            n.weight(p + "self_attn.v_proj.weight", kvd, d), n.f32(p + "self_attn.v_proj.bias", kvd),
                            n.weight(p + "self_attn.dense.weight", d, qd), n.f32(p + "self_attn.dense.bias", d),
                            null, null, n.weight(p + "mlp.fc1.weight", i, d), n.f32(p + "mlp.fc1.bias", i),
                            n.weight(p + "mlp.fc2.weight", d, i), n.f32(p + "mlp.fc2.bias", d)));
                }
                Tensor emb = n.weight("model.embed_tokens.weight", v, d);
                yield new TeacherModel(s, backend, emb, null, layers,
                        n.f32("model.final_layernorm.weight", d), n.f32("model.final_layernorm.bias", d),
                        s.tieWordEmbeddings() ? emb : n.weight("lm_head.weight", v, d),
                        ck.contains("lm_head.bias") ? n.f32("lm_head.bias", v) : null);
            }
            case LLAMA -> {
                for (int l = 0; l < s.layers(); l++) {
                    String p = "model.layers." + l + ".";
                    layers.add(new TeacherModel.Layer(
                            n.f32(p + "input_layernorm.weight", d), null, n.f32(p + "post_attention_layernorm.weight", d), null,
                            n.weight(p + "self_attn.q_proj.weight", qd, d), n.optF32(p + "self_attn.q_proj.bias", qd),
                            n.weight(p + "self_attn.k_proj.weight", kvd, d), n.optF32(p + "self_attn.k_proj.bias", kvd),
                            n.weight(p + "self_attn.v_proj.weight", kvd, d), n.optF32(p + "self_attn.v_proj.bias", kvd),
                            n.weight(p + "self_attn.o_proj.weight", d, qd), n.optF32(p + "self_attn.o_proj.bias", d),
                            n.weight(p + "mlp.gate_proj.weight", i, d), n.optF32(p + "mlp.gate_proj.bias", i),
                            n.weight(p + "mlp.up_proj.weight", i, d), n.optF32(p + "mlp.up_proj.bias", i),
                            n.weight(p + "mlp.down_proj.weight", d, i), n.optF32(p + "mlp.down_proj.bias", d)));
                }
                Tensor emb = n.weight("model.embed_tokens.weight", v, d);
                yield new TeacherModel(s, backend, emb, null, layers, n.f32("model.norm.weight", d), null,
                        s.tieWordEmbeddings() ? emb : n.weight("lm_head.weight", v, d), null);
            }
            case GPT2 -> {
                String pre = ck.contains("transformer.wte.weight") ? "transformer." : "";   // openai-community/gpt2 stores no prefix
                for (int l = 0; l < s.layers(); l++) {
                    String p = pre + "h." + l + ".";
                    Tensor qkv = n.conv1d(p + "attn.c_attn.weight", d, 3 * d);              // (3D, D) after the transpose: rows q | k | v
                    Tensor qkvBias = n.f32(p + "attn.c_attn.bias", 3L * d);
                    layers.add(new TeacherModel.Layer(
                            n.f32(p + "ln_1.weight", d), n.f32(p + "ln_1.bias", d), n.f32(p + "ln_2.weight", d), n.f32(p + "ln_2.bias", d),
                            qkv.rows(0, d), qkvBias.view(0, d), qkv.rows(d, 2L * d), qkvBias.view(d, d), qkv.rows(2L * d, 3L * d), qkvBias.view(2L * d, d),
                            n.conv1d(p + "attn.c_proj.weight", d, d), n.f32(p + "attn.c_proj.bias", d),
                            null, null, n.conv1d(p + "mlp.c_fc.weight", d, i), n.f32(p + "mlp.c_fc.bias", i),
                            n.conv1d(p + "mlp.c_proj.weight", i, d), n.f32(p + "mlp.c_proj.bias", d)));
                }
                Tensor emb = n.weight(pre + "wte.weight", v, d);
                yield new TeacherModel(s, backend, emb, n.f32(pre + "wpe.weight", s.maxPositions(), d), layers,
                        n.f32(pre + "ln_f.weight", d), n.f32(pre + "ln_f.bias", d),
                        s.tieWordEmbeddings() ? emb : n.weight("lm_head.weight", v, d), null);
            }
        };
    }

    /** Fetches tensors by name, asserting shape and dtype with messages that name the tensor and the file. */
    private record Names(CheckpointTensors ck) {
        Tensor raw(String name, long... dims) {
            if (!ck.contains(name)) throw new UserInputException(ck.source() + ": missing tensor '" + name + "'");
            Shape want = Shape.of(dims), got = ck.shape(name);
            if (!got.equals(want))
                throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has shape " + got + ", expected " + want);
            Tensor t = ck.get(name);
            if (!t.dtype().isFloating())
                throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has dtype " + t.dtype() + ", expected a floating type");
            return t;
        }

        /** A matmul/embedding weight: kept as stored when F32/BF16/F16 (widened inside the op). */
        Tensor weight(String name, long... dims) {
            Tensor t = raw(name, dims);
            return t.dtype() == DType.F64 ? t.to(DType.F32) : t;
        }

        /** A small parameter, as an F32 tensor. */
        Tensor f32(String name, long... dims) {
            Tensor t = raw(name, dims);
            return t.dtype() == DType.F32 ? t : t.to(DType.F32);
        }

        Tensor optF32(String name, long... dims) { return ck.contains(name) ? f32(name, dims) : null; }

        /** A GPT-2 Conv1D weight stored (in, out), returned transposed as an F32 (out, in) copy. */
        Tensor conv1d(String name, int in, int out) {
            Tensor t = raw(name, in, out);
            Tensor w = Tensor.zeros(DType.F32, out, in);
            for (int r = 0; r < in; r++)
                for (int c = 0; c < out; c++) w.setFloat((long) c * in + r, t.getFloat((long) r * out + c));
            return w;
        }
    }
}
