package mamba4j.models.mamba2;

import com.fasterxml.jackson.databind.JsonNode;
import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.models.CheckpointNames;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Mamba-2 checkpoint: transformers' layout ({@code model_type: mamba2}, {@code backbone.embeddings.weight})
 * or the original state-spaces layout ({@code d_model}, {@code n_layer}, {@code ssm_cfg.layer = "Mamba2"};
 * {@code backbone.embedding.weight}, vocab padded to {@code pad_vocab_size_multiple}). The name → field mapping in
 * {@link #load} is the whole contract; every shape is asserted with the tensor's name.
 *
 * <p>The two layouts differ in one piece of math: mamba_ssm's {@code RMSNormGated(group_size = E/G)} normalises
 * per group, transformers' {@code MambaRMSNormGated} over all E channels (manifest fact "gated_rmsnorm"), so the
 * original dialect sets {@link Mamba2Config#normPerGroup()}.
 */
public final class Mamba2Loader {
    private Mamba2Loader() {}

    /** config.json key (mamba4j only) marking a transformers-layout checkpoint whose gated norm is per group. */
    public static final String NORM_PER_GROUP_KEY = "mamba4j_norm_per_group";

    /** True for the original state-spaces config of a Mamba-2 model (no model_type, d_model, ssm_cfg.layer = "Mamba2"). */
    public static boolean isOriginalConfig(JsonConfig c) {
        if (c.has("model_type") || !c.has("d_model")) return false;
        JsonNode ssm = c.toObjectNode().get("ssm_cfg");
        return ssm != null && ssm.isObject() && ssm.has("layer") && "Mamba2".equals(ssm.get("layer").asText());
    }

    /** The config record from either dialect. */
    public static Mamba2Config config(JsonConfig c) {
        if (isOriginalConfig(c)) {
            // mamba_ssm MambaConfig + Mamba2.__init__ defaults
            JsonConfig ssm = c.node("ssm_cfg");
            if (c.optInt("d_intermediate", 0) != 0)
                throw new UserInputException(c.file() + ": d_intermediate = " + c.integer("d_intermediate") + " (MLP blocks) is not supported");
            if (c.has("attn_layer_idx") && !c.intList("attn_layer_idx").isEmpty())
                throw new UserInputException(c.file() + ": attn_layer_idx is non-empty (hybrid attention layers) is not supported");
            if (!c.optBool("rms_norm", true))
                throw new UserInputException(c.file() + ": rms_norm=false (LayerNorm blocks) is not supported");
            if (!ssm.optBool("rmsnorm", true))
                throw new UserInputException(c.file() + ": ssm_cfg.rmsnorm=false (no gated norm) is not supported");
            if (ssm.optBool("norm_before_gate", false))
                throw new UserInputException(c.file() + ": ssm_cfg.norm_before_gate=true is not supported (released checkpoints gate first)");
            if (ssm.optBool("D_has_hdim", false))
                throw new UserInputException(c.file() + ": ssm_cfg.D_has_hdim=true is not supported");
            int d = c.size("d_model");
            int expand = ssm.optSize("expand", 2);
            if (ssm.has("d_ssm") && ssm.integer("d_ssm") != expand * d)
                throw new UserInputException(c.file() + ": ssm_cfg.d_ssm = " + ssm.integer("d_ssm") + " differs from expand · d_model (partial SSM) — not supported");
            int vocab = c.size("vocab_size");
            int mult = c.optSize("pad_vocab_size_multiple", 8);
            if (mult <= 0) throw new UserInputException(c.file() + ": pad_vocab_size_multiple must be positive, got " + mult);
            int padded = (vocab + mult - 1) / mult * mult;
            int headdim = ssm.optSize("headdim", 64);
            if (expand * d % headdim != 0)
                throw new UserInputException(c.file() + ": expand · d_model = " + expand * d + " is not divisible by ssm_cfg.headdim " + headdim);
            double[] lim = timeStepLimit(c.toObjectNode().get("ssm_cfg").get("dt_limit"), c.file() + ": ssm_cfg.dt_limit");
            return new Mamba2Config(vocab, padded, d, ssm.optSize("d_state", 128), expand, ssm.optSize("ngroups", 1),
                    expand * d / headdim, headdim, ssm.optSize("d_conv", 4), ssm.optBool("bias", false), ssm.optBool("conv_bias", true),
                    c.optDouble("norm_epsilon", 1e-5), c.optBool("tie_embeddings", true), lim[0], lim[1],
                    ssm.optSize("chunk_size", 256), c.size("n_layer"), eos(c, 0), true);
        }
        String type = c.optString("model_type", "");
        if (!type.equals("mamba2"))
            throw new UserInputException(c.file() + ": model_type \"" + type + "\" is not a Mamba-2 checkpoint (expected \"mamba2\")");
        // transformers Mamba2Config defaults
        int vocab = c.size("vocab_size");
        double[] lim = timeStepLimit(c.toObjectNode().get("time_step_limit"), c.file() + ": time_step_limit");
        return new Mamba2Config(vocab, vocab, c.size("hidden_size"), c.optSize("state_size", 128), c.optSize("expand", 2),
                c.optSize("n_groups", 8), c.optSize("num_heads", 128), c.optSize("head_dim", 64), c.optSize("conv_kernel", 4),
                c.optBool("use_bias", false), c.optBool("use_conv_bias", true), c.optDouble("layer_norm_epsilon", 1e-5),
                c.optBool("tie_word_embeddings", false), lim[0], lim[1], c.optSize("chunk_size", 256),
                c.size("num_hidden_layers"), eos(c, -1), c.optBool(NORM_PER_GROUP_KEY, false));
    }

    /**
     * [lo, hi] from a JSON pair: numbers, the strings "inf"/"Infinity", or transformers' encoding of a non-finite
     * float {@code {"__float__": "Infinity"}} (save_pretrained writes the default (0.0, inf) that way). Absent → (0, ∞).
     */
    public static double[] timeStepLimit(JsonNode n, String where) {
        if (n == null || n.isNull()) return new double[]{0, Double.POSITIVE_INFINITY};
        if (!n.isArray() || n.size() != 2) throw new UserInputException(where + " must be a pair [lo, hi], got " + n);
        return new double[]{limit(n.get(0), where), limit(n.get(1), where)};
    }

    private static double limit(JsonNode v, String where) {
        if (v.isNumber()) return v.doubleValue();
        String s = v.isTextual() ? v.asText() : v.isObject() && v.has("__float__") ? v.get("__float__").asText() : null;
        if (s != null) {
            switch (s.trim().toLowerCase()) {
                case "inf", "+inf", "infinity", "+infinity" -> { return Double.POSITIVE_INFINITY; }
                case "-inf", "-infinity" -> { return Double.NEGATIVE_INFINITY; }
                default -> {
                    try {
                        return Double.parseDouble(s);
                    } catch (NumberFormatException ignored) {
                        // reported below
                    }
                }
            }
        }
        throw new UserInputException(where + ": cannot read " + v + " as a number (numbers, \"inf\" or {\"__float__\": \"Infinity\"})");
    }

    private static int eos(JsonConfig c, int def) {
        JsonNode n = c.toObjectNode().get("eos_token_id");
        if (n == null || n.isNull()) return def;
        if (n.isArray()) return n.isEmpty() ? def : n.get(0).asInt();
        return c.integer("eos_token_id");
    }

    /** The embedding's checkpoint name: transformers' "embeddings" or the original "embedding". */
    public static String embeddingName(CheckpointTensors ck) {
        return ck.contains("backbone.embeddings.weight") ? "backbone.embeddings.weight" : "backbone.embedding.weight";
    }

    /**
     * The checkpoint's tensors through the name table: zero-copy from the mapped files (linear weights and the
     * embedding keep their dtype, the rest read as F32), every shape asserted with the tensor's name.
     */
    public static Mamba2Weights<Tensor> tensors(Mamba2Config cfg, CheckpointTensors ck) { return tensors(cfg, ck, null); }

    /** As {@link #tensors(Mamba2Config, CheckpointTensors)} with linear weights and the embedding converted to {@code weightType} (null: as stored; see {@link mamba4j.models.TensorSpec#cast}). */
    public static Mamba2Weights<Tensor> tensors(Mamba2Config cfg, CheckpointTensors ck, DType weightType) {
        CheckpointNames names = new CheckpointNames(ck, weightType);
        return Mamba2Weights.table(cfg, embeddingName(ck)).map(e -> e.read(names));
    }

    /** An inference model over the checkpoint's tensors, uploaded to {@code backend}'s device (zero-copy on the host). */
    public static Mamba2Model load(Mamba2Config cfg, CheckpointTensors ck, Backend backend) { return load(cfg, ck, backend, null); }

    /** As {@link #load(Mamba2Config, CheckpointTensors, Backend)} with the weights in {@code weightType} (null: as stored). */
    public static Mamba2Model load(Mamba2Config cfg, CheckpointTensors ck, Backend backend, DType weightType) {
        return Mamba2Model.of(cfg, backend, tensors(cfg, ck, weightType).map(backend::upload));
    }
}
