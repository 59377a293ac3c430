package mamba4j.models.discrete;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.models.CheckpointNames;
import mamba4j.models.TensorSpec;
import mamba4j.models.teachers.TeacherLoader;
import mamba4j.models.teachers.TeacherSaver;
import mamba4j.models.teachers.TeacherSpec;

import java.nio.file.Path;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A MOHAWK student's checkpoint: config.json with {@code "model_type": "phi-mamba"} (Phi teacher) or
 * {@code "llama-mamba"} (Llama teacher) and model.safetensors under the names of {@link MohawkStudent#tensors()}
 * (goombalab phi-mamba's layout), the conv weight stored (C, 1, K) as PyTorch stores it.
 *
 * <p>config.json holds the teacher's keys exactly as {@link TeacherSaver#config} writes them (and
 * {@link TeacherLoader} reads them: hidden_size, num_hidden_layers, rope, layer_norm_eps / rms_norm_eps, vocab_size,
 * num_key_value_heads, attention_bias, mlp_bias, tie_word_embeddings, eos_token_id, …), plus
 * <pre>
 * "ssm_cfg":      {d_state, n_qk_heads, n_v_heads, d_conv, expand, activation "identity", bias, conv_bias, chunk_size}
 *                  (phi-mamba's "core_input" names; d_model = hidden_size)
 * "attn_layers":  [i, …]   layers that keep the teacher's attention, sorted (absent: none)
 * "lm_head_bias": bool     (absent: whether lm_head.bias is in the checkpoint)
 * </pre>
 * Every tensor of the checkpoint must be used: an extra one (e.g. in_proj.bias under {@code "bias": false}) is an error,
 * not silently dropped.
 */
public final class MohawkStudentCheckpoint {
    private MohawkStudentCheckpoint() {}

    /** config.json's model_type of a Phi-Mamba student. */
    public static final String MODEL_TYPE = "phi-mamba";
    /** config.json's model_type of a Llama-Mamba student. */
    public static final String LLAMA_MODEL_TYPE = "llama-mamba";

    /** What config.json declares: the teacher's shapes, the mixer, the layers that keep attention (sorted). */
    public record Config(TeacherSpec spec, DiscreteMamba2Config mixer, Set<Integer> attentionLayers) {}

    // ------------------------------------------------------------------ writing

    /** config.json for a student of these shapes without attention or MLP biases beyond Phi's (see the class comment). */
    public static ObjectNode config(TeacherSpec spec, DiscreteMamba2Config mixer, Set<Integer> attentionLayers, boolean lmHeadBias) {
        return config(spec, mixer, attentionLayers, lmHeadBias, false, false);
    }

    /** config.json for a student of these shapes; attentionBias and mlpBias are Llama's attention_bias and mlp_bias. */
    public static ObjectNode config(TeacherSpec spec, DiscreteMamba2Config mixer, Set<Integer> attentionLayers, boolean lmHeadBias,
                                    boolean attentionBias, boolean mlpBias) {
        MohawkStudent.Wiring wiring = new MohawkStudent.Wiring(spec.arch());
        if (mixer.dModel() != spec.hidden())
            throw new IllegalArgumentException("mixer d_model " + mixer.dModel() + " != hidden_size " + spec.hidden());
        for (int i : attentionLayers)
            if (i < 0 || i >= spec.layers()) throw new IllegalArgumentException("attention layer " + i + " out of range [0, " + spec.layers() + ")");
        ObjectNode o = TeacherSaver.config(spec, attentionBias, mlpBias);    // the teacher's keys
        o.put("model_type", wiring.modelType());
        o.putArray("architectures").add(wiring.llama() ? "LlamaMambaForCausalLM" : "PhiMambaForCausalLM");
        o.putObject("ssm_cfg")
                .put("d_state", mixer.dState())
                .put("n_qk_heads", mixer.nQkHeads())
                .put("n_v_heads", mixer.nVHeads())
                .put("d_conv", mixer.convKernel())
                .put("expand", mixer.expand())
                .put("activation", "identity")
                .put("bias", mixer.bias())
                .put("conv_bias", mixer.convBias())
                .put("chunk_size", mixer.chunkSize());
        ArrayNode attn = o.putArray("attn_layers");
        new TreeSet<>(attentionLayers).forEach(attn::add);
        o.put("lm_head_bias", lmHeadBias);
        return o;
    }

    /**
     * Writes config.json and model.safetensors (each atomically, through {@link TeacherSaver#save}). A mixer conv weight
     * given (C, K) is stored (C, 1, K); lm_head.weight is left out when config.json ties it to the embedding.
     */
    public static void save(Path dir, ObjectNode config, Map<String, Tensor> tensors) {
        boolean tied = config.path("tie_word_embeddings").asBoolean(false);
        LinkedHashMap<String, Tensor> stored = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (tied && name.equals("lm_head.weight")) continue;              // transformers' save_pretrained drops tied weights too
            if (name.endsWith(".mixer.conv1d.weight") && t.rank() == 2) t = t.reshape(t.dim(0), 1, t.dim(1));
            stored.put(name, t);
        }
        TeacherSaver.save(dir, config, stored);
    }

    /** Saves the student with the config of its own shapes; "dtype" is the embedding's. */
    public static void save(Path dir, MohawkStudent s) {
        boolean attentionBias = false, mlpBias = false;
        for (StudentWeights.Layer<Tensor> l : s.weights().layers()) {
            if (l.isAttention() && l.attention().qBias() != null) attentionBias = true;
            if (l.upBias() != null) mlpBias = true;
        }
        boolean llama = s.wiring().llama();
        ObjectNode c = config(s.spec(), s.mixerConfig(), s.attentionLayers(), s.lmHeadBias() != null, llama && attentionBias, llama && mlpBias);
        c.put("dtype", switch (s.embedding().dtype()) { case BF16 -> "bfloat16"; case F16 -> "float16"; default -> "float32"; });
        save(dir, c, s.tensors());
    }

    // ------------------------------------------------------------------ reading config.json

    /** All of config.json's declarations; model_type must be "phi-mamba" or "llama-mamba". */
    public static Config readConfig(JsonConfig json) {
        TeacherSpec spec = spec(json);
        return new Config(spec, mixerConfig(json), attentionLayers(json, spec.layers()));
    }

    /** The teacher's shapes, read by {@link TeacherLoader} as a Phi or Llama config (the same keys). */
    public static TeacherSpec spec(JsonConfig json) {
        String type = json.string("model_type");
        if (!type.equals(MODEL_TYPE) && !type.equals(LLAMA_MODEL_TYPE))
            throw new UserInputException(json.file() + ": model_type \"" + type + "\" is not a MOHAWK student (expected \"" + MODEL_TYPE
                    + "\" or \"" + LLAMA_MODEL_TYPE + "\")");
        ObjectNode teacher = json.toObjectNode();
        teacher.put("model_type", type.equals(MODEL_TYPE) ? "phi" : "llama");
        return TeacherLoader.spec(TeacherLoader.config(JsonConfig.of(json.file(), teacher)));
    }

    /** The mixer from "ssm_cfg" (every key required) and hidden_size. */
    public static DiscreteMamba2Config mixerConfig(JsonConfig json) {
        JsonConfig s = json.node("ssm_cfg");
        String act = s.optString("activation", "identity");
        if (!act.equals("identity"))
            throw new UserInputException(json.file() + ": key 'ssm_cfg.activation' is \"" + act + "\"; only \"identity\" (no activation after the conv) is supported");
        try {
            return new DiscreteMamba2Config(json.size("hidden_size"), s.size("d_state"), s.size("n_qk_heads"), s.size("n_v_heads"),
                    s.size("d_conv"), s.size("expand"), s.bool("bias"), s.bool("conv_bias"), s.size("chunk_size"),
                    DiscreteMamba2Config.GATE_OPEN);                            // z_bias's init value: irrelevant once trained
        } catch (UserInputException e) {
            if (e.getMessage().startsWith(json.file().toString())) throw e;
            throw new UserInputException(json.file() + ": ssm_cfg: " + e.getMessage().replaceFirst("^config: ", ""), e);
        }
    }

    /** "attn_layers", sorted (absent or null: none); each in [0, num_hidden_layers), no repeats. */
    public static Set<Integer> attentionLayers(JsonConfig json) {
        return attentionLayers(json, json.size("num_hidden_layers"));
    }

    private static Set<Integer> attentionLayers(JsonConfig json, int layers) {
        Set<Integer> out = new TreeSet<>();
        for (int i : json.optIntList("attn_layers", List.of())) {
            if (i < 0 || i >= layers)
                throw new UserInputException(json.file() + ": key 'attn_layers' has layer " + i + ", out of range: num_hidden_layers is " + layers);
            if (!out.add(i)) throw new UserInputException(json.file() + ": key 'attn_layers' lists layer " + i + " twice");
        }
        return Collections.unmodifiableSet(out);
    }

    // ------------------------------------------------------------------ loading

    /**
     * The student from config.json and its tensors: the name → field mapping below is the whole contract (the
     * inverse of {@link MohawkStudent#tensors()}). Matmul weights and the embedding keep their dtype (F32, BF16,
     * F16); the rest is read as F32. The conv weight may be (C, 1, K) or (C, K).
     */
    public static MohawkStudent load(JsonConfig json, CheckpointTensors ck, Backend backend) { return load(json, ck, backend, null); }

    /** As {@link #load(JsonConfig, CheckpointTensors, Backend)} with matmul weights and the embedding in {@code weightType} (null: as stored). */
    public static MohawkStudent load(JsonConfig json, CheckpointTensors ck, Backend backend, mamba4j.core.DType weightType) {
        Config c = readConfig(json);
        boolean headBias = json.has("lm_head_bias") ? json.bool("lm_head_bias") : ck.contains("lm_head.bias");
        StudentWeights<TensorSpec> table = StudentWeights.table(c.spec(), c.mixer(), c.attentionLayers(),
                new StudentWeights.Presence(json.optBool("attention_bias", false), json.optBool("mlp_bias", false), headBias));
        Names n = new Names(new CheckpointNames(ck, weightType), new HashSet<>(), backend);
        StudentWeights<Tensor> w = table.map(n::read);
        if (table.tied()) n.used().add("lm_head.weight");                      // a tied copy, if stored, is ignored
        n.rejectUnused(json);
        return MohawkStudent.of(c.spec(), c.mixer(), backend, w);
    }

    /**
     * {@link CheckpointNames} that remembers which tensors were read, to reject the rest, and uploads each to the
     * backend's device (zero-copy on the host).
     */
    private record Names(CheckpointNames names, Set<String> used, Backend backend) {
        /** The tensor a table entry names: a conv weight as below, a linear weight or embedding in the weight dtype, the rest F32. */
        Tensor read(TensorSpec s) {
            if (s.stored().length == 3) return conv(s.name(), (int) s.dims()[0], (int) s.dims()[1]);
            return s.keepsDtype() ? weight(s.name(), s.dims()) : f32(s.name(), s.dims());
        }

        Tensor weight(String name, long... dims) {
            used.add(name);
            return backend.upload(names.weight(name, dims));
        }

        Tensor f32(String name, long... dims) {
            used.add(name);
            return backend.upload(names.f32(name, dims));
        }

        /** A depthwise conv weight (C, 1, K) as PyTorch stores it, or (C, K); returned (C, K) as F32. */
        Tensor conv(String name, int c, int k) {
            CheckpointTensors ck = names.ck();
            if (ck.contains(name) && ck.shape(name).equals(Shape.of(c, 1, k))) return f32(name, c, 1, k).reshape(c, k);
            if (ck.contains(name) && !ck.shape(name).equals(Shape.of(c, k)))
                throw new UserInputException(ck.file(name) + ": tensor '" + name + "' has shape " + ck.shape(name)
                        + ", expected " + Shape.of(c, 1, k) + " or " + Shape.of(c, k));
            return f32(name, c, k);
        }

        void rejectUnused(JsonConfig json) {
            for (String name : names.ck().names())
                if (!used.contains(name))
                    throw new UserInputException(names.ck().file(name) + ": unexpected tensor '" + name + "' for the configuration in "
                            + json.file() + " (attn_layers, ssm_cfg.bias / conv_bias, lm_head_bias, attention_bias, mlp_bias decide which tensors exist)");
        }
    }
}
