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

    /** An inference model over the checkpoint (linear weights keep their dtype; GPT-2's Conv1D weights (in, out) as F32). */
    public static TransformerLM load(TeacherSpec s, CheckpointTensors ck, Backend backend) { return TransformerLM.load(s, ck, backend); }

    /** As {@link #load(TeacherSpec, CheckpointTensors, Backend)} with linear weights and embeddings in {@code weightType} (null: as stored). */
    public static TransformerLM load(TeacherSpec s, CheckpointTensors ck, Backend backend, mamba4j.core.DType weightType) {
        return TransformerLM.load(s, ck, backend, weightType);
    }
}
