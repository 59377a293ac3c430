package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.io.ByteTokenizer;
import mamba4j.io.HfTokenizer;
import mamba4j.io.Tokenizer;
import mamba4j.models.Models;
import mamba4j.models.discrete.PhiMambaStudent;
import mamba4j.models.discrete.PhiMambaTrainable;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Init;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.models.teachers.TeacherModel;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.nn.TrainableModel;
import mamba4j.nn.TrainSettings;
import mamba4j.nn.Trainer;
import mamba4j.nn.TrainingStoppedException;
import mamba4j.nn.data.Accuracy;
import mamba4j.nn.data.Batch;
import mamba4j.nn.data.DataSource;
import mamba4j.nn.data.InductionHeads;
import mamba4j.nn.data.SelectiveCopying;
import mamba4j.nn.data.SplitMix64;
import mamba4j.nn.data.SyntheticTask;
import mamba4j.nn.data.TokenFile;
import mamba4j.nn.data.TokenWindows;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

/**
 * Trains a Mamba-1 model (or a Mamba-2 one with {@code "arch": "mamba2"}, or a Transformer teacher with {@code "arch"}
 * "phi", "llama" or "gpt2" in the model section) from a JSON preset ({"model": …, "data": …, "train": …}) plus --key=value overrides
 * (--model.KEY / --data.KEY for the first two sections, plain keys for training settings). The run directory
 * holds the resolved settings, a JSONL log, a loss plot and the latest checkpoint (HF-loadable, resumable).
 */
@Command(name = "train", description = "Train a Mamba model or a Transformer teacher (phi, llama, gpt2): text (bytes or tokenizer.json) or a synthetic task. Settings: --preset plus --key=value overrides.")
final class TrainCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--preset", description = "A preset name (selective-copying, induction-heads, austen-bytes, phi-austen-bytes) or a JSON file.")
    String preset;

    @Option(names = "--out", required = true, description = "Run directory (settings, log.jsonl, loss.png, checkpoint/).")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint.")
    boolean resume;

    @Option(names = "--init", description = "Start from this checkpoint directory instead of a fresh initialisation.")
    Path init;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--eval-lengths", split = ",", description = "Synthetic tasks: after training, also report exact-match accuracy at these sequence lengths.")
    List<Integer> evalLengths;

    @Option(names = "--eval-sequences", defaultValue = "64", description = "Test sequences per length for --eval-lengths (default: ${DEFAULT-VALUE}).")
    int evalSequences;

    @Option(names = "--eval-seed", description = "Generator seed of the --eval-lengths test sequences (default: the task's validation seed).")
    Long evalSeed;

    @Unmatched
    List<String> overrides = new ArrayList<>();

    @Override public Integer call() throws IOException {
        ObjectNode p = loadPreset();
        List<String> trainOverrides = new ArrayList<>();
        for (String o : overrides) {
            String kv = o.startsWith("--") ? o.substring(2) : o;
            int eq = kv.indexOf('=');
            if (eq < 0) throw new UserInputException("argument '" + o + "': expected --key=value");
            String key = kv.substring(0, eq), value = kv.substring(eq + 1);
            if (key.startsWith("model.") || key.startsWith("data.")) {
                String section = key.substring(0, key.indexOf('.')), sub = key.substring(key.indexOf('.') + 1).replace('-', '_');
                ObjectNode node = p.has(section) ? (ObjectNode) p.get(section) : p.putObject(section);
                node.set(sub, parseValue(value));
            } else trainOverrides.add(o);
        }
        TrainSettings settings = TrainSettings.resolve(p.get("train"), trainOverrides);
        ObjectNode modelCfg = p.has("model") ? (ObjectNode) p.get("model") : JSON.createObjectNode();
        ObjectNode dataCfg = p.has("data") ? (ObjectNode) p.get("data") : JSON.createObjectNode();
        Backend be = Backends.get(backend);

        TokenFile tokens = null;
        DataSource data;
        int vocab;
        try {
            if (dataCfg.has("task")) {
                String task = dataCfg.get("task").asText();
                int seq = settings.seqLen();
                vocab = intKey(modelCfg, "vocab_size", 16);
                data = switch (task) {
                    case "selective-copying" -> new SelectiveCopying(seq, vocab, intKey(dataCfg, "num_tokens", 16));
                    case "induction-heads" -> new InductionHeads(seq, vocab);
                    default -> throw new UserInputException("data.task: unknown task \"" + task + "\" (selective-copying, induction-heads)");
                };
            } else if (dataCfg.has("text")) {
                Path text = Path.of(dataCfg.get("text").asText());
                if (!Files.exists(text)) throw new UserInputException("data.text: " + text + " does not exist");
                String tokName = dataCfg.has("tokenizer") ? dataCfg.get("tokenizer").asText() : "bytes";
                Tokenizer tok = tokName.equals("bytes") ? new ByteTokenizer() : HfTokenizer.open(Path.of(tokName));
                vocab = tokName.equals("bytes") ? 256 : (tok.vocabSize() + 7) / 8 * 8;
                if (modelCfg.has("vocab_size") && modelCfg.get("vocab_size").asInt() < tok.vocabSize())
                    throw new UserInputException("model.vocab_size " + modelCfg.get("vocab_size").asInt() + " is smaller than the tokenizer's " + tok.vocabSize() + " ids");
                if (modelCfg.has("vocab_size")) vocab = modelCfg.get("vocab_size").asInt();
                tokens = TokenFile.prepare(text, tok, tokName, TokenFile.defaultTokensPath(text));
                data = new TokenWindows(tokens, settings.valFraction());
            } else {
                throw new UserInputException("the preset's \"data\" needs \"task\" (selective-copying, induction-heads) or \"text\" (a file)");
            }

            Built built = buildModel(modelCfg, vocab, settings.seed(), settings.seqLen(), be);
            TrainableModel model = built.model();
            ObjectNode resolved = JSON.createObjectNode();
            resolved.set("model", modelCfg);
            resolved.set("data", dataCfg);
            resolved.set("train", settings.toJson());
            System.err.println("settings: " + JSON.writerWithDefaultPrettyPrinter().writeValueAsString(resolved));
            Files.createDirectories(out);
            mamba4j.io.JsonConfig.write(out.resolve("preset.json"), resolved);
            System.err.printf("model: %s, %,d parameters; data: %s%n", built.what(),
                    model.parameters().stream().mapToLong(q -> q.value().numel()).sum(), data.describe());

            Trainer.Result r;
            try {
                r = new Trainer(model, data, settings, be, out, built.loadFrom()).run(resume);
            } catch (TrainingStoppedException e) {
                System.err.println("error: " + e.getMessage());
                return 1;
            }
            System.out.printf("trained %d steps, %,d tokens in %.1f s (%.0f tok/s); last loss %.4f%s; checkpoint %s%n",
                    r.steps(), r.tokens(), r.elapsedSeconds(), r.tokens() / Math.max(r.elapsedSeconds(), 1e-9), r.lastLoss(),
                    r.lastValidation() == null ? "" : String.format(", validation loss %.4f (ppl %.3f)%s", r.lastValidation().loss(),
                            r.lastValidation().perplexity(), r.lastValidation().accuracy() == null ? ""
                                    : String.format(", accuracy %.4f", r.lastValidation().accuracy().tokenAccuracy())),
                    r.checkpoint());
            if (evalLengths != null) {
                if (!(data instanceof SyntheticTask st)) throw new UserInputException("--eval-lengths needs a synthetic task");
                LengthEval.run(model, st, evalLengths, evalSequences, evalSeed, out);
            }
            return 0;
        } finally {
            if (tokens != null) tokens.close();
        }
    }

    /** The model to train, how to load a checkpoint into it (resume), and a one-line description. */
    private record Built(TrainableModel model, Consumer<Path> loadFrom, String what) {}

    private Built buildModel(ObjectNode m, int vocab, long seed, int seqLen, Backend be) {
        String arch = m.has("arch") ? m.get("arch").asText() : "mamba";
        if (arch.equals("mamba2")) return buildMamba2(m, vocab, seed, be);
        if (List.of("phi", "llama", "gpt2").contains(arch)) return buildTeacher(arch, m, vocab, seed, seqLen, be);
        if (arch.equals("phi-mamba") || arch.equals("llama-mamba")) return buildStudent(arch, vocab, be);
        if (!arch.equals("mamba"))
            throw new UserInputException("model.arch: unknown architecture \"" + arch + "\" (mamba, mamba2, phi, llama, gpt2, phi-mamba, llama-mamba)");
        Mamba1Model t = buildMamba1(m, vocab, seed, be);
        return new Built(t, t::loadFrom, "Mamba-1 " + (t.config().selective() ? "(selective)" : "(time-invariant ablation)"));
    }

    /** A distilled Phi-Mamba or Llama-Mamba student (the output of {@code distill}), trained further with the next-token loss: needs --init. */
    private Built buildStudent(String arch, int vocab, Backend be) {
        if (init == null) throw new UserInputException("model.arch=" + arch + " needs --init DIR (a student written by `mamba4j distill`)");
        PhiMambaTrainable t;
        try (Models.Loaded l = Models.load(init, be)) {
            if (!(l.model() instanceof PhiMambaStudent s) || !s.wiring().modelType().equals(arch))
                throw new UserInputException("--init " + init + ": not a " + arch + " student (model_type " + Models.architecture(l.json()) + ")");
            if (s.vocabSize() < vocab) throw new UserInputException("--init " + init + ": vocabulary " + s.vocabSize() + " is smaller than the data's " + vocab);
            t = PhiMambaTrainable.of(s, be);
        }
        return new Built(t, t::loadFrom, String.format("%s student (%d layers, attention kept at %s)", t.wiring().studentName(), t.spec().layers(), t.attentionLayers()));
    }

    private Built buildMamba2(ObjectNode m, int vocab, long seed, Backend be) {
        Mamba2Model t;
        if (init != null) {
            try (Models.Loaded l = Models.load(init, be)) {
                if (!(l.model() instanceof Mamba2Model mm)) throw new UserInputException("--init " + init + ": not a Mamba-2 checkpoint (model.arch is mamba2)");
                t = Mamba2Model.trainable(mm.config(), be, mm.weights(), mamba4j.models.mamba2.Mamba2Loader.embeddingName(l.checkpoint()));
            }
        } else {
            List<String> known = List.of("arch", "d_model", "n_layer", "vocab_size", "d_state", "expand", "d_conv", "n_groups", "head_dim",
                    "chunk_size", "bias", "conv_bias", "tie_embeddings", "norm_per_group", "selective");
            if (m.has("selective") && !m.get("selective").asBoolean())
                throw new UserInputException("model.selective=false: the time-invariant ablation exists for Mamba-1 only (arch mamba)");
            for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!known.contains(k)) throw new UserInputException("model." + k + ": unknown key for arch mamba2 " + known);
            }
            int d = intKey(m, "d_model", 64), expand = intKey(m, "expand", 2), headDim = intKey(m, "head_dim", 16);
            if (expand * d % headDim != 0)
                throw new UserInputException("model.head_dim " + headDim + " does not divide expand · d_model = " + expand * d);
            Mamba2Config cfg = new Mamba2Config(vocab, vocab, d, intKey(m, "d_state", 16), expand, intKey(m, "n_groups", 1),
                    expand * d / headDim, headDim, intKey(m, "d_conv", 4), m.has("bias") && m.get("bias").asBoolean(),
                    !m.has("conv_bias") || m.get("conv_bias").asBoolean(), 1e-5,
                    !m.has("tie_embeddings") || m.get("tie_embeddings").asBoolean(), 0, Double.POSITIVE_INFINITY,
                    intKey(m, "chunk_size", 64), intKey(m, "n_layer", 2), 0, m.has("norm_per_group") && m.get("norm_per_group").asBoolean());
            t = Mamba2Model.trainable(cfg, be, Mamba2Init.weights(cfg, DType.F32, seed), "backbone.embeddings.weight");
        }
        Mamba2Config c = t.config();
        return new Built(t, t::loadFrom, String.format("Mamba-2 (H %d, P %d, G %d, N %d, chunk %d)",
                c.numHeads(), c.headDim(), c.nGroups(), c.stateSize(), c.chunkSize()));
    }

    /**
     * A Transformer teacher (Phi, Llama or GPT-2): from --init, or fresh as transformers initialises it (weights
     * N(0, 0.02), biases 0, norms 1). Shape keys: d_model, n_layer, n_head, n_kv_head (phi, llama), head_dim (llama),
     * d_ff (default 4·d_model), context (positions, default seq_len), partial_rotary_factor (phi, default 0.5),
     * rope_theta (default 10000), norm_eps, tie_embeddings (default: true for gpt2, false otherwise), vocab_size.
     */
    private Built buildTeacher(String arch, ObjectNode m, int vocab, long seed, int seqLen, Backend be) {
        TeacherModel t;
        if (init != null) {
            try (Models.Loaded l = Models.load(init, be)) {
                if (!(l.model() instanceof TeacherModel tm) || !tm.spec().arch().name().equalsIgnoreCase(arch))
                    throw new UserInputException("--init " + init + ": not a " + arch + " checkpoint (model.arch is " + arch + ")");
                t = TeacherModel.fromCheckpoint(tm.spec(), l.checkpoint(), be);
            }
        } else {
            List<String> known = new ArrayList<>(List.of("arch", "d_model", "n_layer", "n_head", "d_ff", "context", "rope_theta",
                    "norm_eps", "tie_embeddings", "vocab_size"));
            if (!arch.equals("gpt2")) known.add("n_kv_head");
            if (arch.equals("phi")) known.add("partial_rotary_factor");
            if (arch.equals("llama")) known.add("head_dim");
            if (arch.equals("gpt2")) known.remove("rope_theta");
            for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!known.contains(k)) throw new UserInputException("model." + k + ": unknown key for arch " + arch + " " + known);
            }
            int d = intKey(m, "d_model", 128), heads = intKey(m, "n_head", 4), kvHeads = intKey(m, "n_kv_head", heads);
            if (!arch.equals("llama") && d % heads != 0)
                throw new UserInputException("model.n_head " + heads + " does not divide model.d_model " + d);
            int headDim = arch.equals("llama") ? intKey(m, "head_dim", d / heads) : d / heads;
            int context = intKey(m, "context", seqLen);
            if (context < seqLen) throw new UserInputException("model.context " + context + " is shorter than seq_len " + seqLen);
            double theta = m.has("rope_theta") ? m.get("rope_theta").asDouble() : 10000.0;
            int rotary = switch (arch) {
                case "phi" -> (int) (headDim * (m.has("partial_rotary_factor") ? m.get("partial_rotary_factor").asDouble() : 0.5));
                case "llama" -> headDim;
                default -> 0;
            };
            double eps = m.has("norm_eps") ? m.get("norm_eps").asDouble() : arch.equals("llama") ? 1e-6 : 1e-5;
            boolean tie = m.has("tie_embeddings") ? m.get("tie_embeddings").asBoolean() : arch.equals("gpt2");
            TeacherSpec spec = new TeacherSpec(TeacherSpec.Arch.valueOf(arch.toUpperCase(java.util.Locale.ROOT)), vocab, d,
                    intKey(m, "d_ff", 4 * d), intKey(m, "n_layer", 4), heads, arch.equals("gpt2") ? heads : kvHeads, headDim, rotary,
                    rotary > 0 ? theta : 0, context, eps, tie, -1);
            t = TeacherModel.random(spec, seed, be);
        }
        TeacherSpec s = t.spec();
        return new Built(t, t::loadFrom, String.format("%s (D %d, %d layers, H %d, Hkv %d, Dh %d, rotary %d, context %d)",
                s.arch().name().toLowerCase(java.util.Locale.ROOT), s.hidden(), s.layers(), s.heads(), s.kvHeads(), s.headDim(),
                s.rotaryDim(), s.maxPositions()));
    }

    private Mamba1Model buildMamba1(ObjectNode m, int vocab, long seed, Backend be) {
        boolean selective = !m.has("selective") || m.get("selective").asBoolean();
        if (init != null) {
            try (Models.Loaded l = Models.load(init, be)) {
                if (!(l.model() instanceof Mamba1Model mm)) throw new UserInputException("--init " + init + ": not a Mamba-1 checkpoint");
                if (m.has("selective") && mm.config().selective() != selective)
                    throw new UserInputException("model.selective=" + selective + " but --init " + init + " is "
                            + (mm.config().selective() ? "a selective" : "a time-invariant") + " Mamba-1 checkpoint");
                return Mamba1Model.trainable(mm.config(), be, mm.weights(), mamba4j.models.mamba1.Mamba1Loader.embeddingName(l.checkpoint()));
            }
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
            String k = it.next().getKey();
            if (!List.of("arch", "d_model", "n_layer", "vocab_size", "d_state", "expand", "d_conv", "dt_rank", "selective", "bias", "conv_bias", "tie_embeddings").contains(k))
                throw new UserInputException("model." + k + ": unknown key (d_model, n_layer, vocab_size, d_state, expand, d_conv, dt_rank, selective, bias, conv_bias, tie_embeddings)");
        }
        int d = intKey(m, "d_model", 64);
        Mamba1Config cfg = new Mamba1Config(vocab, vocab, d, intKey(m, "d_state", 16), intKey(m, "n_layer", 2),
                intKey(m, "expand", 2), intKey(m, "d_conv", 4), intKey(m, "dt_rank", Mamba1Config.autoDtRank(d)),
                m.has("bias") && m.get("bias").asBoolean(), !m.has("conv_bias") || m.get("conv_bias").asBoolean(),
                1e-5, !m.has("tie_embeddings") || m.get("tie_embeddings").asBoolean(), 0, selective);
        return Mamba1Model.trainable(cfg, be, Mamba1Init.weights(cfg, DType.F32, seed), "backbone.embeddings.weight");
    }

    private static int intKey(ObjectNode n, String key, int def) {
        if (!n.has(key)) return def;
        JsonNode v = n.get(key);
        if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new UserInputException("key '" + key + "' must be an integer, got " + v);
        return v.asInt();
    }

    private static JsonNode parseValue(String v) {
        try {
            return JSON.readTree(v);
        } catch (IOException e) {
            return JSON.getNodeFactory().textNode(v);
        }
    }

    private ObjectNode loadPreset() throws IOException {
        if (preset == null) return JSON.createObjectNode();
        Path file = Path.of(preset);
        if (Files.exists(file)) {
            JsonNode n = JSON.readTree(file.toFile());
            if (!(n instanceof ObjectNode o)) throw new UserInputException("--preset " + file + ": not a JSON object");
            return o;
        }
        try (InputStream in = TrainCommand.class.getResourceAsStream("/presets/" + preset + ".json")) {
            if (in == null) throw new UserInputException("--preset " + preset + ": no such file or built-in preset (selective-copying, induction-heads, austen-bytes, phi-austen-bytes)");
            return (ObjectNode) JSON.readTree(in);
        }
    }
}
