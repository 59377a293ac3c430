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
import mamba4j.io.MemoryBudget;
import mamba4j.io.Tokenizer;
import mamba4j.models.Models;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Init;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.models.teachers.TransformerLM;
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
@Command(name = "train", description = {"Train a Mamba model or a Transformer teacher (phi, llama, gpt2): text (bytes or tokenizer.json) or a synthetic task.",
        "Settings: --preset, then overrides --KEY VALUE or --KEY=VALUE: --model.KEY and --data.KEY (task, text, tokenizer, num_tokens) for those sections, "
                + "plain keys for the training settings: lr, beta1, beta2, eps, weight_decay, batch_size, seq_len, steps, warmup, schedule (cosine, wsd, constant), "
                + "min_lr_ratio, decay_fraction, accumulation, grad_clip, eval_every, eval_batches, checkpoint_every, checkpoint_minutes, seed, max_bad_steps, "
                + "val_fraction, progress, plot. A shortened --steps scales the preset's warmup. An unknown key is an error.",
        "Ctrl-C (SIGINT) or SIGTERM writes a checkpoint before exiting; --resume continues from it."})
final class TrainCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--preset", description = "A preset name (selective-copying, induction-heads, austen-bytes, phi-austen-bytes, llama-austen-bytes) or a JSON file; with --resume, optional (the run's saved settings are used).")
    String preset;

    @Option(names = "--out", required = true, description = "Run directory (settings, log.jsonl, loss.png, checkpoint/).")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --out from its last checkpoint, with its saved settings (preset.json).")
    boolean resume;

    @Option(names = "--init", description = "Start from this checkpoint directory instead of a fresh initialisation. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path init;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--eval-lengths", split = ",", description = "Synthetic tasks: after training, also report exact-match accuracy at these sequence lengths.")
    List<Integer> evalLengths;

    @Option(names = "--eval-sequences", defaultValue = "64", description = "Test sequences per length for --eval-lengths (default: ${DEFAULT-VALUE}).")
    int evalSequences;

    @Option(names = "--eval-seed", description = "Generator seed of the --eval-lengths test sequences (default: the task's validation seed).")
    Long evalSeed;

    @Unmatched
    List<String> overrides = new ArrayList<>();

    @Option(names = "--allow-changes", description = "With --resume: let settings given on the command line differ from the run's saved ones (each change is printed).")
    boolean allowChanges;

    /** The resolved settings of a run ({"model", "data", "train"}), what --resume reads back. */
    static final String RUN_SETTINGS = "preset.json";
    static final List<String> SECTIONS = List.of("description", "model", "data", "train");
    static final List<String> DATA_KEYS = List.of("task", "text", "tokenizer", "num_tokens", "seq_len");   // seq_len: must equal the training seq_len
    static final List<String> PRESETS = List.of("selective-copying", "induction-heads", "austen-bytes", "phi-austen-bytes", "llama-austen-bytes");

    @Override public Integer call() throws IOException {
        List<String> pairs = Overrides.pairs(overrides);
        init = ModelSource.resolve("--init", init);
        if (Files.exists(out) && !Files.isDirectory(out))
            throw new UserInputException("--out " + out + ": is a file, not a run directory");
        ObjectNode saved = null;
        ObjectNode p;
        if (resume) {
            Path savedFile = out.resolve(RUN_SETTINGS);
            if (!Files.isRegularFile(savedFile))
                throw new UserInputException("--resume: " + out + " holds no run to resume (no " + RUN_SETTINGS + "); start one with --preset NAME --out " + out);
            JsonNode n = JSON.readTree(savedFile.toFile());
            if (!(n instanceof ObjectNode o)) throw new UserInputException(savedFile + ": not a JSON object");
            saved = o;
            p = preset != null ? loadPreset() : saved.deepCopy();
        } else {
            if (Files.isDirectory(out)) {
                try (var files = Files.list(out)) {
                    if (files.findAny().isPresent())
                        throw new UserInputException("--out " + out + " is not empty (" + (Files.exists(out.resolve(RUN_SETTINGS)) ? "it holds a run" : "it holds other files")
                                + "); continue that run with --resume, or choose another --out");
                }
            }
            if (preset == null)
                throw new UserInputException("--preset is needed to start a run (" + String.join(", ", PRESETS) + ", or a JSON file); --resume continues the run in --out");
            p = loadPreset();
        }
        for (Iterator<String> it = p.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!SECTIONS.contains(k)) throw new UserInputException("--preset " + (preset != null ? preset : out.resolve(RUN_SETTINGS))
                    + ": unknown section '" + k + "'" + mamba4j.nn.Keys.hint(k, SECTIONS));
        }
        List<String> trainOverrides = new ArrayList<>();
        for (String kv : pairs) {
            int eq = kv.indexOf('=');
            String key = kv.substring(0, eq), value = kv.substring(eq + 1);
            if (key.startsWith("model.") || key.startsWith("data.")) {
                String section = key.substring(0, key.indexOf('.')), sub = key.substring(key.indexOf('.') + 1).replace('-', '_');
                ObjectNode node = p.has(section) ? (ObjectNode) p.get(section) : p.putObject(section);
                if (section.equals("data")) overriddenData.add(sub);
                node.set(sub, parseValue(value));
            } else trainOverrides.add("--" + kv);
        }
        if (p.has("data")) {
            for (Iterator<String> it = p.get("data").fieldNames(); it.hasNext(); ) {
                String k = it.next();
                if (!DATA_KEYS.contains(k))
                    throw new UserInputException("data." + k + ": unknown data key" + (TrainSettings.keys().contains(k)
                            ? " ('" + k + "' is a training setting: --" + k + "=VALUE)" : mamba4j.nn.Keys.hint(k, DATA_KEYS)));
            }
        }
        TrainSettings settings = TrainSettings.resolve(p.get("train"), trainOverrides);
        if (p.path("data").has("seq_len") && p.get("data").get("seq_len").asLong() != settings.seqLen())
            throw new UserInputException("data.seq_len " + p.get("data").get("seq_len") + " differs from the training seq_len " + settings.seqLen()
                    + " (the task's sequences are seq_len long): set --seq_len, or drop data.seq_len");
        ObjectNode modelCfg = p.has("model") ? (ObjectNode) p.get("model") : JSON.createObjectNode();
        ObjectNode dataCfg = p.has("data") ? (ObjectNode) p.get("data") : JSON.createObjectNode();
        Backend be = Backends.get(backend);

        TokenFile tokens = null;
        String tokenizerName = null;   // what the checkpoints carry: "bytes" or a tokenizer.json; none for a synthetic task
        DataSource data;
        int vocab;
        try {
            if (dataCfg.has("task")) {
                String task = dataString(dataCfg, "task");
                int seq = settings.seqLen();
                vocab = intKey(modelCfg, "model.vocab_size", 16);
                data = switch (task) {
                    case "selective-copying" -> new SelectiveCopying(seq, vocab, intKey(dataCfg, "data.num_tokens", 16));
                    case "induction-heads" -> new InductionHeads(seq, vocab);
                    default -> throw new UserInputException("data.task: unknown task \"" + task + "\" (selective-copying, induction-heads)");
                };
            } else if (dataCfg.has("text")) {
                Path text = dataPath(dataCfg, "text");
                if (!Files.exists(text)) throw new UserInputException("data.text: " + text + " does not exist");
                dataCfg.put("text", text.toString());
                String tokName = dataCfg.has("tokenizer") ? dataString(dataCfg, "tokenizer") : "bytes";
                if (!tokName.equals("bytes")) {
                    Path tp = dataPath(dataCfg, "tokenizer");
                    if (!Files.isRegularFile(tp)) throw new UserInputException("data.tokenizer: " + tp + " does not exist (bytes or a tokenizer.json)");
                    tokName = tp.toString();
                    dataCfg.put("tokenizer", tokName);
                }
                Tokenizer tok = tokName.equals("bytes") ? new ByteTokenizer() : HfTokenizer.open(Path.of(tokName));
                vocab = tokName.equals("bytes") ? 256 : (tok.vocabSize() + 7) / 8 * 8;
                if (modelCfg.has("vocab_size") && intKey(modelCfg, "model.vocab_size", 1) < tok.vocabSize())
                    throw new UserInputException("model.vocab_size " + modelCfg.get("vocab_size").asInt() + " is smaller than the tokenizer's " + tok.vocabSize() + " ids");
                if (modelCfg.has("vocab_size")) vocab = intKey(modelCfg, "model.vocab_size", 1);
                tokens = TokenFile.prepare(text, tok, tokName, TokenFile.defaultTokensPath(text));
                tokenizerName = tokName;
                data = new TokenWindows(tokens, settings.valFraction());
            } else {
                throw new UserInputException("the preset's \"data\" needs \"task\" (selective-copying, induction-heads) or \"text\" (a file)");
            }

            // sized before anything is allocated: a micro-batch's logits and their gradient alone are B · T · V floats each
            MemoryBudget.require("batch_size · seq_len = " + settings.batchSize() + " · " + settings.seqLen()
                    + " tokens per micro-batch (logits and gradients over a vocabulary of " + vocab + ")",
                    MemoryBudget.product(settings.batchSize(), settings.seqLen(), vocab, 8));
            Built built = buildModel(modelCfg, vocab, settings.seed(), settings.seqLen(), be);
            TrainableModel model = built.model();
            ObjectNode resolved = JSON.createObjectNode();
            resolved.set("model", modelCfg);
            resolved.set("data", dataCfg);
            resolved.set("train", settings.toJson());
            if (saved != null) {
                List<String> changes = changes(saved, resolved);
                if (!changes.isEmpty() && !allowChanges)
                    throw new UserInputException("--resume: the command line changes the run's saved settings (" + String.join(", ", changes)
                            + "); pass --allow-changes to change them, or leave them out to continue as saved");
                if (!changes.isEmpty()) System.err.println("resume: changing " + String.join(", ", changes));
            }
            System.err.println("settings: " + JSON.writerWithDefaultPrettyPrinter().writeValueAsString(resolved));
            Files.createDirectories(out);
            mamba4j.io.JsonConfig.write(out.resolve(RUN_SETTINGS), resolved);
            System.err.printf("model: %s, %,d parameters; data: %s%n", built.what(),
                    model.parameters().stream().mapToLong(q -> q.value().numel()).sum(), data.describe());

            Trainer.Result r;
            try {
                String carried = tokenizerName;
                r = new Trainer(model, data, settings, be, out, built.loadFrom())
                        .checkpointExtras(dir -> { if (carried != null) ModelTokenizer.attach(dir, carried); })
                        .run(resume);
            } catch (TrainingStoppedException e) {
                System.err.println("error: " + e.getMessage());
                return 1;
            }
            if (Double.isNaN(r.lastLoss()) && r.steps() >= settings.steps()) {
                System.out.printf("the run in %s had already finished (step %d of %d); nothing to train. To train further: --resume --allow-changes --steps=N%n",
                        out, r.steps(), settings.steps());
                return 0;
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
        MohawkStudent t;
        try (Models.Loaded l = Models.load(init, be)) {
            if (!(l.model() instanceof MohawkStudent s) || !s.wiring().modelType().equals(arch))
                throw new UserInputException("--init " + init + ": not a " + arch + " student (model_type " + Models.architecture(l.json()) + ")");
            if (s.vocabSize() < vocab) throw new UserInputException("--init " + init + ": vocabulary " + s.vocabSize() + " is smaller than the data's " + vocab);
            t = s.trainable();
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
                if (!known.contains(k)) throw new UserInputException("model." + k + ": unknown key for arch mamba2" + mamba4j.nn.Keys.hint(k, known));
            }
            int d = intKey(m, "model.d_model", 64), expand = intKey(m, "model.expand", 2), headDim = intKey(m, "model.head_dim", 16);
            fits("mamba2", vocab, d, intKey(m, "model.n_layer", 2), MemoryBudget.product(expand, d, d, 3)
                    + MemoryBudget.product(expand, d, intKey(m, "model.d_state", 16), 2));
            if (expand * d % headDim != 0)
                throw new UserInputException("model.head_dim " + headDim + " does not divide expand · d_model = " + expand * d);
            Mamba2Config cfg = new Mamba2Config(vocab, vocab, d, intKey(m, "model.d_state", 16), expand, intKey(m, "model.n_groups", 1),
                    expand * d / headDim, headDim, intKey(m, "model.d_conv", 4), m.has("bias") && m.get("bias").asBoolean(),
                    !m.has("conv_bias") || m.get("conv_bias").asBoolean(), 1e-5,
                    !m.has("tie_embeddings") || m.get("tie_embeddings").asBoolean(), 0, Double.POSITIVE_INFINITY,
                    intKey(m, "model.chunk_size", 64), intKey(m, "model.n_layer", 2), 0, m.has("norm_per_group") && m.get("norm_per_group").asBoolean());
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
        TransformerLM t;
        if (init != null) {
            try (Models.Loaded l = Models.load(init, be)) {
                if (!(l.model() instanceof TransformerLM tm) || !tm.spec().arch().name().equalsIgnoreCase(arch))
                    throw new UserInputException("--init " + init + ": not a " + arch + " checkpoint (model.arch is " + arch + ")");
                t = TransformerLM.fromCheckpoint(tm.spec(), l.checkpoint(), be);
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
                if (!known.contains(k)) throw new UserInputException("model." + k + ": unknown key for arch " + arch + mamba4j.nn.Keys.hint(k, known));
            }
            int d = intKey(m, "model.d_model", 128), heads = intKey(m, "model.n_head", 4), kvHeads = intKey(m, "model.n_kv_head", heads);
            if (!arch.equals("llama") && d % heads != 0)
                throw new UserInputException("model.n_head " + heads + " does not divide model.d_model " + d);
            int headDim = arch.equals("llama") ? intKey(m, "model.head_dim", Math.max(1, d / heads)) : d / heads;
            fits(arch, vocab, d, intKey(m, "model.n_layer", 4), MemoryBudget.product(d, heads, headDim, 4)
                    + MemoryBudget.product(d, m.has("d_ff") ? intKey(m, "model.d_ff", 1) : 4L * d, 3));
            int context = intKey(m, "model.context", seqLen);
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
                    intKey(m, "model.d_ff", 4 * d), intKey(m, "model.n_layer", 4), heads, arch.equals("gpt2") ? heads : kvHeads, headDim, rotary,
                    rotary > 0 ? theta : 0, context, eps, tie, -1);
            t = TransformerLM.random(spec, seed, be);
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
                throw new UserInputException("model." + k + ": unknown key for arch mamba" + mamba4j.nn.Keys.hint(k,
                        List.of("arch", "d_model", "n_layer", "vocab_size", "d_state", "expand", "d_conv", "dt_rank", "selective", "bias", "conv_bias", "tie_embeddings")));
        }
        int d = intKey(m, "model.d_model", 64);
        fits("mamba", vocab, d, intKey(m, "model.n_layer", 2), MemoryBudget.product(intKey(m, "model.expand", 2), d, d, 3)
                + MemoryBudget.product(intKey(m, "model.expand", 2), d, intKey(m, "model.d_state", 16), 2));
        Mamba1Config cfg = new Mamba1Config(vocab, vocab, d, intKey(m, "model.d_state", 16), intKey(m, "model.n_layer", 2),
                intKey(m, "model.expand", 2), intKey(m, "model.d_conv", 4), intKey(m, "model.dt_rank", Mamba1Config.autoDtRank(d)),
                m.has("bias") && m.get("bias").asBoolean(), !m.has("conv_bias") || m.get("conv_bias").asBoolean(),
                1e-5, !m.has("tie_embeddings") || m.get("tie_embeddings").asBoolean(), 0, selective);
        return Mamba1Model.trainable(cfg, be, Mamba1Init.weights(cfg, DType.F32, seed), "backbone.embeddings.weight");
    }

    /** "section.key old → new" for every setting that differs between a run's saved settings and the new ones. */
    static List<String> changes(ObjectNode saved, ObjectNode now) {
        List<String> out = new ArrayList<>();
        for (String section : List.of("model", "data", "train")) {
            JsonNode a = saved.path(section), b = now.path(section);
            java.util.Set<String> keys = new java.util.TreeSet<>();
            a.fieldNames().forEachRemaining(keys::add);
            b.fieldNames().forEachRemaining(keys::add);
            for (String k : keys) {
                JsonNode x = a.get(k), y = b.get(k);
                boolean same = x != null && y != null && (x.equals(y) || x.isNumber() && y.isNumber() && x.doubleValue() == y.doubleValue());
                if (!same) out.add((section.equals("train") ? "" : section + ".") + k + " " + (x == null ? "(unset)" : x) + " → " + (y == null ? "(unset)" : y));
            }
        }
        return out;
    }

    /**
     * A data path of the preset: as given when it exists from here or is absolute; a relative path of a built-in preset
     * (data/austen.txt) is found in the mamba4j checkout (-Dmamba4j.home, set by the launcher, or the folder the
     * classes were loaded from), so built-in presets work from any directory.
     */
    private Path dataPath(String given) {
        Path p = Path.of(given);
        if (p.isAbsolute() || Files.exists(p) || preset == null || !PRESETS.contains(preset) || Files.exists(Path.of(preset)))
            return p.toAbsolutePath().normalize();
        Path home = Home.checkout();
        return home != null && Files.exists(home.resolve(p)) ? home.resolve(p).normalize() : p.toAbsolutePath().normalize();
    }

    /**
     * Refuses a model that cannot fit before it is built: a lower bound of its parameters (embedding and head,
     * {@code perLayer} · n_layer) times 16 bytes (F32 weights, gradients and the two AdamW moments).
     */
    private static void fits(String arch, long vocab, long d, long layers, long perLayer) {
        long params = MemoryBudget.product(vocab, d, 2);
        long body = MemoryBudget.product(perLayer < 0 ? Long.MAX_VALUE : perLayer, layers);   // < 0: the caller's sum overflowed
        params = params > Long.MAX_VALUE - body ? Long.MAX_VALUE : params + body;
        MemoryBudget.require("model." + arch + " (d_model " + d + ", n_layer " + layers + ", vocabulary " + vocab + "): ≥ "
                + (params == Long.MAX_VALUE ? "2^63" : String.format("%,d", params)) + " parameters × 16 bytes (weights, gradients, AdamW moments)",
                MemoryBudget.product(params, 16));
    }

    /** A size of the preset's model or data section ({@code "model.d_model"}): an integer ≥ 1, else {@code def}. */
    private static int intKey(ObjectNode n, String dottedKey, int def) {
        String key = dottedKey.substring(dottedKey.indexOf('.') + 1);
        if (!n.has(key)) return def;
        JsonNode v = n.get(key);
        if (!v.canConvertToInt() || !v.isIntegralNumber()) throw new UserInputException("key '" + dottedKey + "' must be a 32-bit integer, got " + v);
        if (v.asInt() < 1) throw new UserInputException("key '" + dottedKey + "' must be ≥ 1, got " + v);
        return v.asInt();
    }

    private static JsonNode parseValue(String v) {
        try {
            return JSON.readTree(v);
        } catch (IOException e) {
            return JSON.getNodeFactory().textNode(v);
        }
    }

    /** The preset file's folder (null for a built-in preset or none): its data paths resolve inside it. */
    private Path presetDir;
    private Path presetFile;
    /** data keys set by a --data.KEY override: a path there is the user's own, resolved from the working directory. */
    private final java.util.Set<String> overriddenData = new java.util.HashSet<>();

    private ObjectNode loadPreset() throws IOException {
        if (preset == null) return JSON.createObjectNode();
        Path file = cliPath(preset, "--preset");
        if (Files.exists(file)) {
            presetFile = file.toAbsolutePath();
            presetDir = presetFile.getParent();
            return readPresetFile(presetFile);
        }
        try (InputStream in = TrainCommand.class.getResourceAsStream("/presets/" + preset + ".json")) {
            if (in == null || preset.contains("/")) throw new UserInputException("--preset " + preset + ": no such file or built-in preset" + mamba4j.nn.Keys.hint(preset, PRESETS));
            return sections((ObjectNode) JSON.readTree(in), preset);
        }
    }

    /**
     * A preset file: one JSON object whose "model", "data" and "train" are objects (or absent / null), errors naming
     * the file and the key. The fuzz target of presets reads files through here.
     */
    static ObjectNode readPresetFile(Path file) {
        return sections(mamba4j.io.UserFiles.readJsonObject(file, "--preset " + file.toAbsolutePath()), file.toAbsolutePath().toString());
    }

    private static ObjectNode sections(ObjectNode o, String name) {
        for (String section : List.of("model", "data", "train"))
            if (o.has(section) && !o.get(section).isObject() && !o.get(section).isNull())
                throw new UserInputException("--preset " + name + ": key '" + section + "' must be an object, got " + o.get(section).getNodeType());
        for (String section : List.of("model", "data", "train")) if (o.has(section) && o.get(section).isNull()) o.remove(section);
        return o;
    }

    /** A path given on the command line; a NUL or another invalid character is a named error, not a JDK exception. */
    private static Path cliPath(String value, String flag) {
        try {
            return Path.of(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw new UserInputException(flag + " " + mamba4j.io.UserFiles.printable(value) + ": not a valid path (" + e.getReason() + ")");
        }
    }

    /** data.KEY as a path: from a preset file, inside the preset's folder; from a built-in preset or an override, as given. */
    private Path dataPath(ObjectNode dataCfg, String key) {
        String v = dataString(dataCfg, key);
        // a relative path in a preset file stays inside the preset's folder; an absolute one is the user's own choice
        if (presetDir != null && !overriddenData.contains(key) && !cliPath(v, "data." + key).isAbsolute())
            return mamba4j.io.UserFiles.inside(presetDir, v, presetFile, "data." + key);
        return dataPath(cliPath(v, "data." + key).toString());
    }

    private String dataString(ObjectNode dataCfg, String key) {
        JsonNode v = dataCfg.get(key);
        if (!v.isTextual())
            throw new UserInputException((presetFile != null && !overriddenData.contains(key) ? presetFile + ": " : "") + "key 'data." + key + "' must be a string, got " + v);
        return v.textValue();
    }
}
