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
        String type = c.optString("model_type", "");
        return switch (type) {
            case "phi" -> new PhiConfig(c.integer("vocab_size"), c.integer("hidden_size"), c.integer("intermediate_size"),
                    c.integer("num_hidden_layers"), c.integer("num_attention_heads"),
                    optInt(c, "num_key_value_heads", c.integer("num_attention_heads")), c.optString("hidden_act", "gelu_new"),
                    c.optInt("max_position_embeddings", 2048), c.optDouble("layer_norm_eps", 1e-5), rope(c, "rope_theta", 10000.0),
                    rope(c, "partial_rotary_factor", 0.5), c.optBool("qk_layernorm", false), c.optBool("tie_word_embeddings", false), eos(c));
            case "llama" -> {
                int heads = c.integer("num_attention_heads");
                yield new LlamaConfig(c.integer("vocab_size"), c.integer("hidden_size"), c.integer("intermediate_size"),
                        c.integer("num_hidden_layers"), heads, optInt(c, "num_key_value_heads", heads),
                        optInt(c, "head_dim", c.integer("hidden_size") / heads), c.optString("hidden_act", "silu"),
                        c.optInt("max_position_embeddings", 2048), c.optDouble("rms_norm_eps", 1e-6), rope(c, "rope_theta", 10000.0),
                        c.optBool("attention_bias", false), c.optBool("mlp_bias", false), c.optBool("tie_word_embeddings", false), eos(c));
            }
            case "gpt2" -> {
                int d = c.integer("n_embd");
                yield new Gpt2Config(c.integer("vocab_size"), d, c.integer("n_layer"), c.integer("n_head"), optInt(c, "n_inner", 4 * d),
                        c.optInt("n_positions", 1024), c.optString("activation_function", "gelu_new"), c.optDouble("layer_norm_epsilon", 1e-5),
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
    private static int optInt(JsonConfig c, String key, int def) {
        JsonNode n = c.toObjectNode().get(key);
        return n == null || n.isNull() ? def : c.integer(key);
    }

    private static int eos(JsonConfig c) {
        JsonNode n = c.toObjectNode().get("eos_token_id");
        if (n == null || n.isNull()) return -1;
        if (n.isArray()) return n.isEmpty() ? -1 : n.get(0).asInt();
        return n.asInt();
    }

    /** An inference model over the checkpoint (linear weights keep their dtype; GPT-2's Conv1D weights (in, out) as F32). */
    public static TeacherModel load(TeacherSpec s, CheckpointTensors ck, Backend backend) { return TeacherModel.load(s, ck, backend); }
}
