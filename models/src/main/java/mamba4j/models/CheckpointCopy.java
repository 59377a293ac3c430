package mamba4j.models;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.io.Safetensors;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.models.mamba1.Mamba1Weights;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.models.mamba2.Mamba2Saver;
import mamba4j.models.mamba2.Mamba2Weights;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;

/**
 * Writes a loaded model's {@code config.json} and {@code model.safetensors} into a folder, in another dtype or layout:
 * what {@code mamba4j convert} puts in its output (the caller adds the tokenizer files and checksums, and moves the folder
 * into place).
 *
 * <p>Dtype: the matrices (embeddings, projections, the head) become {@code dtype}; the other tensors (norms, conv, A_log,
 * D, biases) stay as stored, or become F32 when {@code dtype} is F32 — the rule llama.cpp's converter follows too, and
 * what every mamba4j loader reads (it widens those to F32). A null dtype keeps every tensor as stored. Tensors are
 * converted one at a time while they are written.
 *
 * <p>Layout (Mamba-1 and Mamba-2 only): {@link Layout#HF} is transformers' ({@code model_type}, {@code
 * backbone.embeddings.weight}, vocabulary padded in {@code vocab_size}); {@link Layout#ORIGINAL} is state-spaces'
 * ({@code d_model}, {@code n_layer}, {@code ssm_cfg}, {@code backbone.embedding.weight}, {@code pad_vocab_size_multiple}).
 */
public final class CheckpointCopy {
    private CheckpointCopy() {}

    public enum Layout { HF, ORIGINAL }

    /** Writes {@code config.json} and {@code model.safetensors} of {@code loaded} into {@code dir} (which must exist). */
    public static void write(Models.Loaded loaded, Path dir, DType dtype, Layout layout) {
        switch (loaded.model()) {
            case Mamba1Model m -> mamba1(m, loaded.json(), dir, dtype, layout);
            case Mamba2Model m -> mamba2(m, loaded.json(), dir, dtype, layout);
            default -> {
                if (layout == Layout.ORIGINAL)
                    throw new UserInputException("--layout original: only Mamba-1 and Mamba-2 checkpoints have the state-spaces layout; this is "
                            + Models.architecture(loaded.json()));
                copyAll(loaded.checkpoint(), loaded.json(), dir, dtype);
            }
        }
    }

    /** A model made in memory (no source checkpoint), written in transformers' layout or the original one. */
    public static void write(CausalLM model, Path dir, DType dtype, Layout layout) {
        switch (model) {
            case Mamba1Model m -> mamba1(m, null, dir, dtype, layout);
            case Mamba2Model m -> mamba2(m, null, dir, dtype, layout);
            default -> throw new IllegalArgumentException("no checkpoint layout for " + model.getClass().getSimpleName());
        }
    }

    private static void mamba1(Mamba1Model m, JsonConfig source, Path dir, DType dtype, Layout layout) {
        Mamba1Config c = m.config();
        if (layout == Layout.ORIGINAL && !c.selective())
            throw new UserInputException("--layout original: the time-invariant ablation (" + Mamba1Config.TIME_INVARIANT_KEY
                    + ") has no state-spaces layout; write it with --layout hf");
        DType matrices = dtype != null ? dtype : m.weights().embedding().dtype();
        String emb = layout == Layout.HF ? "backbone.embeddings.weight" : "backbone.embedding.weight";
        List<TensorSpec> specs = Mamba1Weights.table(c, emb).all();
        ObjectNode config = layout == Layout.HF ? hfConfig(source, Mamba1Saver.config(c, matrices), matrices) : original1(c);
        write(dir, config, specs, m.weights().all(), m.backend(), dtype);
    }

    private static void mamba2(Mamba2Model m, JsonConfig source, Path dir, DType dtype, Layout layout) {
        Mamba2Config c = m.config();
        if (layout == Layout.ORIGINAL && !c.normPerGroup() && c.nGroups() > 1)
            throw new UserInputException("--layout original: this Mamba-2 model's gated RMSNorm normalises over all " + c.dInner()
                    + " channels (transformers'), the state-spaces layout's per group (mamba_ssm's); they differ for n_groups = "
                    + c.nGroups() + " > 1: write it with --layout hf");
        DType matrices = dtype != null ? dtype : m.weights().embedding().dtype();
        String emb = layout == Layout.HF ? "backbone.embeddings.weight" : "backbone.embedding.weight";
        List<TensorSpec> specs = Mamba2Weights.table(c, emb).all();
        ObjectNode config = layout == Layout.HF ? hfConfig(source, Mamba2Saver.config(c, matrices), matrices) : original2(c);
        write(dir, config, specs, m.weights().all(), m.backend(), dtype);
    }

    /**
     * transformers' config: the source's own config.json when it already is one (its extra keys, e.g. bos_token_id,
     * kept), with the dtype updated; else the one the saver writes.
     */
    private static ObjectNode hfConfig(JsonConfig source, ObjectNode generated, DType matrices) {
        if (source == null || !source.has("model_type") || source.file().getFileName().toString().endsWith(".gguf")) return generated;
        ObjectNode o = source.toObjectNode().deepCopy();
        o.put("vocab_size", generated.get("vocab_size").intValue());
        setDtype(o, matrices);
        return o;
    }

    private static void setDtype(ObjectNode o, DType matrices) {
        String name = switch (matrices) { case BF16 -> "bfloat16"; case F16 -> "float16"; default -> "float32"; };
        if (o.has("torch_dtype")) o.put("torch_dtype", name);
        o.put("dtype", name);
    }

    private static ObjectNode original1(Mamba1Config c) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("d_model", c.hiddenSize()).put("n_layer", c.numHiddenLayers()).put("vocab_size", c.vocabSize());
        ObjectNode ssm = o.putObject("ssm_cfg");
        ssm.put("d_state", c.stateSize()).put("d_conv", c.convKernel()).put("expand", c.expand()).put("dt_rank", c.dtRank());
        ssm.put("bias", c.useBias()).put("conv_bias", c.useConvBias());
        commonOriginal(o, c.vocabSize(), c.paddedVocabSize(), c.tieWordEmbeddings(), c.layerNormEpsilon(), c.eosTokenId());
        return o;
    }

    private static ObjectNode original2(Mamba2Config c) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("d_model", c.hiddenSize()).put("d_intermediate", 0).put("n_layer", c.numHiddenLayers()).put("vocab_size", c.vocabSize());
        ObjectNode ssm = o.putObject("ssm_cfg");
        ssm.put("layer", "Mamba2").put("d_state", c.stateSize()).put("d_conv", c.convKernel()).put("expand", c.expand());
        ssm.put("headdim", c.headDim()).put("ngroups", c.nGroups()).put("chunk_size", c.chunkSize());
        ssm.put("bias", c.useBias()).put("conv_bias", c.useConvBias()).put("rmsnorm", true).put("norm_before_gate", false);
        if (c.timeStepLo() != 0 || c.timeStepHi() != Double.POSITIVE_INFINITY) {
            var lim = ssm.putArray("dt_limit").add(c.timeStepLo());
            if (Double.isInfinite(c.timeStepHi())) lim.add("inf"); else lim.add(c.timeStepHi());
        }
        commonOriginal(o, c.vocabSize(), c.paddedVocabSize(), c.tieWordEmbeddings(), c.layerNormEpsilon(), c.eosTokenId());
        return o;
    }

    private static void commonOriginal(ObjectNode o, int vocab, int padded, boolean tied, double eps, int eos) {
        o.put("rms_norm", true).put("residual_in_fp32", true).put("fused_add_norm", true);
        o.put("pad_vocab_size_multiple", padMultiple(vocab, padded));
        o.put("tie_embeddings", tied).put("norm_epsilon", eps);
        if (eos >= 0) o.put("eos_token_id", eos);
    }

    /** A pad_vocab_size_multiple that rounds {@code vocab} up to exactly {@code padded} (8 or 16 when they do). */
    static int padMultiple(int vocab, int padded) {
        for (int m : new int[] {8, 16, 32, 64, 128}) if ((vocab + m - 1) / m * m == padded) return m;
        for (int m = 1; m <= padded; m++) if ((vocab + m - 1) / m * m == padded) return m;
        throw new IllegalStateException("no multiple pads " + vocab + " to " + padded);
    }

    private static void write(Path dir, ObjectNode config, List<TensorSpec> specs, List<Tensor> values, Backend backend, DType dtype) {
        if (specs.size() != values.size()) throw new IllegalStateException(specs.size() + " names for " + values.size() + " tensors");
        SequencedMap<String, Safetensors.Source> out = new LinkedHashMap<>();
        for (int i = 0; i < specs.size(); i++) {
            TensorSpec s = specs.get(i);
            Tensor t = values.get(i);
            DType target = target(t.dtype(), s.keepsDtype(), dtype);
            Shape stored = Shape.of(s.stored());
            out.put(s.name(), new Safetensors.Source(target, stored, () -> backend.download(t).to(target).reshape(stored.dims())));
        }
        JsonConfig.write(dir.resolve("config.json"), config);
        Safetensors.writeLazy(dir.resolve(CheckpointTensors.SINGLE_FILE), out, Map.of("format", "pt"));
    }

    /** Every tensor of a checkpoint under its own name (Transformer teachers, MOHAWK students). */
    private static void copyAll(CheckpointTensors ck, JsonConfig source, Path dir, DType dtype) {
        SequencedMap<String, Safetensors.Source> out = new LinkedHashMap<>();
        for (String n : ck.names()) {
            Shape shape = ck.shape(n);
            boolean matrix = shape.rank() >= 2 && n.endsWith(".weight") && !n.contains("norm") && !n.contains("conv1d");
            DType target = target(ck.dtype(n), matrix, dtype);
            out.put(n, new Safetensors.Source(target, shape, () -> ck.get(n).to(target)));
        }
        ObjectNode config = source.toObjectNode().deepCopy();
        if (dtype != null) setDtype(config, dtype);
        JsonConfig.write(dir.resolve("config.json"), config);
        Safetensors.writeLazy(dir.resolve(CheckpointTensors.SINGLE_FILE), out, Map.of("format", "pt"));
    }

    /** The dtype a tensor is written in (see the class comment). */
    static DType target(DType stored, boolean matrix, DType dtype) {
        if (dtype == null || !stored.isFloating()) return stored;
        if (matrix || dtype == DType.F32) return dtype;
        return stored;
    }
}
