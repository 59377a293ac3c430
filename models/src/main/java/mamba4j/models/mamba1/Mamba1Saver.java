package mamba4j.models.mamba1;

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
 * Writes a model in transformers' layout (config.json with {@code model_type: mamba}, model.safetensors with
 * HF names), loadable by {@code MambaForCausalLM.from_pretrained} and by {@link Mamba1Loader}. Each file is
 * written to a temporary name and renamed.
 */
public final class Mamba1Saver {
    private Mamba1Saver() {}

    /** Writes the model's tensors under the name table's names (transformers' layout), downloaded from its device. */
    public static void save(Mamba1Model m, Path dir) {
        Mamba1Config c = m.config();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        List<mamba4j.models.TensorSpec> names = Mamba1Weights.table(c, "backbone.embeddings.weight").all();
        List<Tensor> values = m.weights().all();
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++)
            t.put(names.get(i).name(), m.backend().download(values.get(i)).reshape(names.get(i).stored()));
        JsonConfig.write(dir.resolve("config.json"), config(c, m.weights().embedding().dtype()));
        Safetensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));
    }

    /** transformers' MambaConfig keys. */
    public static ObjectNode config(Mamba1Config c, DType dtype) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("model_type", "mamba");
        o.putArray("architectures").add("MambaForCausalLM");
        o.put("vocab_size", c.paddedVocabSize());
        o.put("hidden_size", c.hiddenSize());
        o.put("state_size", c.stateSize());
        o.put("num_hidden_layers", c.numHiddenLayers());
        o.put("expand", c.expand());
        o.put("conv_kernel", c.convKernel());
        o.put("time_step_rank", c.dtRank());
        o.put("use_bias", c.useBias());
        o.put("use_conv_bias", c.useConvBias());
        o.put("layer_norm_epsilon", c.layerNormEpsilon());
        o.put("tie_word_embeddings", c.tieWordEmbeddings());
        o.put("hidden_act", "silu");
        o.put("residual_in_fp32", true);
        o.put("eos_token_id", c.eosTokenId());
        if (!c.selective()) o.put(Mamba1Config.TIME_INVARIANT_KEY, true);
        o.put("dtype", switch (dtype) { case BF16 -> "bfloat16"; case F16 -> "float16"; default -> "float32"; });
        return o;
    }
}
