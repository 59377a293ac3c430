package mamba4j.models.mamba2;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.io.JsonConfig;
import mamba4j.io.Safetensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a model in transformers' layout (config.json with {@code model_type: mamba2}, model.safetensors with HF
 * names), loadable by {@code Mamba2ForCausalLM.from_pretrained} and by {@link Mamba2Loader}. A per-group gated norm
 * (mamba_ssm semantics, which transformers does not have) is marked with {@value Mamba2Loader#NORM_PER_GROUP_KEY}.
 */
public final class Mamba2Saver {
    private Mamba2Saver() {}

    public static void save(Mamba2Model m, Path dir) {
        Mamba2Config c = m.config();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        List<mamba4j.models.TensorSpec> names = Mamba2Weights.table(c, "backbone.embeddings.weight").all();
        List<Tensor> values = m.weights().all();
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++)
            t.put(names.get(i).name(), m.backend().download(values.get(i)).reshape(names.get(i).stored()));
        JsonConfig.write(dir.resolve("config.json"), config(c, m.weights().embedding().dtype()));
        Safetensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));
    }

    /** transformers' Mamba2Config keys (time_step_limit's +∞ written as save_pretrained does). */
    public static ObjectNode config(Mamba2Config c, DType dtype) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("model_type", "mamba2");
        o.putArray("architectures").add("Mamba2ForCausalLM");
        o.put("vocab_size", c.paddedVocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("state_size", c.stateSize());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("expand", c.expand());
        o.put("n_groups", c.nGroups());
        o.put("num_heads", c.numHeads());
        o.put("head_dim", c.headDim());
        o.put("conv_kernel", c.convKernel());
        o.put("chunk_size", c.chunkSize());
        o.put("use_bias", c.useBias());
        o.put("use_conv_bias", c.useConvBias());
        o.put("layer_norm_epsilon", c.layerNormEpsilon());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        ArrayNode lim = o.putArray("time_step_limit");
        lim.add(c.timeStepLo());
        if (Double.isInfinite(c.timeStepHi())) lim.addObject().put("__float__", "Infinity");
        else lim.add(c.timeStepHi());
        o.put("hidden_act", "silu");
        o.put("residual_in_fp32", true);
        o.put("rms_norm", true);
        if (c.normPerGroup()) o.put(Mamba2Loader.NORM_PER_GROUP_KEY, true);
        o.put("eos_token_id", c.eosTokenId());
        o.put("dtype", switch (dtype) { case BF16 -> "bfloat16"; case F16 -> "float16"; default -> "float32"; });
        return o;
    }
}
