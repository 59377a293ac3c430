package mamba4j.models.mamba1;

import com.fasterxml.jackson.databind.JsonNode;
import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.models.CheckpointNames;


/**
 * Reads a Mamba-1 checkpoint: transformers' layout ({@code model_type: mamba}, {@code backbone.embeddings.weight})
 * or the original state-spaces layout ({@code d_model}, {@code n_layer}, {@code ssm_cfg}; {@code backbone.embedding.weight},
 * vocab padded to {@code pad_vocab_size_multiple}). The name → field mapping below is the whole contract; every
 * shape is asserted with the tensor's name.
 */
public final class Mamba1Loader {
    private Mamba1Loader() {}

    /** True for the original state-spaces config (no model_type, has d_model). */
    public static boolean isOriginalConfig(JsonConfig c) { return !c.has("model_type") && c.has("d_model"); }

    /** The config record from either dialect. */
    public static Mamba1Config config(JsonConfig c) {
        if (isOriginalConfig(c)) {
            JsonConfig ssm = c.optNode("ssm_cfg").orElse(null);
            if (ssm != null && ssm.has("layer") && !ssm.string("layer").equals("Mamba1"))
                throw new UserInputException(c.file() + ": ssm_cfg.layer is \"" + ssm.string("layer")
                        + "\"; this loader reads Mamba1 checkpoints (Mamba-2 support is tracked separately)");
            if (!c.optBool("rms_norm", true))
                throw new UserInputException(c.file() + ": rms_norm=false (LayerNorm blocks) is not supported; released Mamba checkpoints use RMSNorm");
            int d = c.size("d_model");
            int vocab = c.size("vocab_size");
            int mult = c.optSize("pad_vocab_size_multiple", 1);
            if (mult <= 0) throw new UserInputException(c.file() + ": pad_vocab_size_multiple must be positive, got " + mult);
            int padded = (vocab + mult - 1) / mult * mult;
            int dState = ssm == null ? 16 : ssm.optSize("d_state", 16);
            int dConv = ssm == null ? 4 : ssm.optSize("d_conv", 4);
            int expand = ssm == null ? 2 : ssm.optSize("expand", 2);
            int dtRank = ssm == null ? Mamba1Config.autoDtRank(d) : rank(ssm, "dt_rank", d);
            boolean bias = ssm != null && ssm.optBool("bias", false);
            boolean convBias = ssm == null || ssm.optBool("conv_bias", true);
            return new Mamba1Config(vocab, padded, d, dState, c.size("n_layer"), expand, dConv, dtRank, bias, convBias,
                    c.optDouble("norm_epsilon", 1e-5), c.optBool("tie_embeddings", true), eos(c, 0));
        }
        String type = c.optString("model_type", "");
        if (!type.equals("mamba"))
            throw new UserInputException(c.file() + ": model_type \"" + type + "\" is not a Mamba-1 checkpoint (expected \"mamba\")");
        int d = c.size("hidden_size");
        int vocab = c.size("vocab_size");
        return new Mamba1Config(vocab, vocab, d, c.optSize("state_size", 16), c.size("num_hidden_layers"),
                c.optSize("expand", 2), c.optSize("conv_kernel", 4), rank(c, "time_step_rank", d),
                c.optBool("use_bias", false), c.optBool("use_conv_bias", true), c.optDouble("layer_norm_epsilon", 1e-5),
                c.optBool("tie_word_embeddings", true), eos(c, -1), !c.optBool(Mamba1Config.TIME_INVARIANT_KEY, false));
    }

    private static int rank(JsonConfig c, String key, int d) {
        JsonNode n = c.toObjectNode().get(key);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().equals("auto"))) return Mamba1Config.autoDtRank(d);
        return c.integer(key);
    }

    private static int eos(JsonConfig c, int def) {
        JsonNode n = c.toObjectNode().get("eos_token_id");
        if (n == null || n.isNull()) return def;
        if (n.isArray()) return n.isEmpty() ? def : n.get(0).asInt();
        return c.integer("eos_token_id");
    }

    /**
     * The checkpoint's tensors through the name table: zero-copy from the mapped files (linear weights and the
     * embedding keep their dtype, the rest read as F32), every shape asserted with the tensor's name.
     */
    public static Mamba1Weights<Tensor> tensors(Mamba1Config cfg, CheckpointTensors ck) { return tensors(cfg, ck, null); }

    /** As {@link #tensors(Mamba1Config, CheckpointTensors)} with linear weights and the embedding converted to {@code weightType} (null: as stored; see {@link mamba4j.models.TensorSpec#cast}). */
    public static Mamba1Weights<Tensor> tensors(Mamba1Config cfg, CheckpointTensors ck, DType weightType) {
        CheckpointNames names = new CheckpointNames(ck, weightType);
        return Mamba1Weights.table(cfg, embeddingName(ck)).map(e -> e.read(names));
    }

    /** The layout's embedding name: transformers' {@code backbone.embeddings.weight} or the original {@code backbone.embedding.weight}. */
    public static String embeddingName(CheckpointTensors ck) {
        return ck.contains("backbone.embeddings.weight") ? "backbone.embeddings.weight" : "backbone.embedding.weight";
    }

    /** An inference model over the checkpoint's tensors, uploaded to {@code backend}'s device (zero-copy on the host). */
    public static Mamba1Model load(Mamba1Config cfg, CheckpointTensors ck, Backend backend) { return load(cfg, ck, backend, null); }

    /** As {@link #load(Mamba1Config, CheckpointTensors, Backend)} with the weights in {@code weightType} (null: as stored). */
    public static Mamba1Model load(Mamba1Config cfg, CheckpointTensors ck, Backend backend, DType weightType) {
        return Mamba1Model.of(cfg, backend, tensors(cfg, ck, weightType).map(backend::upload));
    }
}
