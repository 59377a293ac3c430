package mamba4j.models.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;
import mamba4j.io.JsonConfig;
import mamba4j.nn.TrainSettings;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A MOHAWK plan, read from JSON, printed at start and saved with the result (STYLE.md rule 15):
 * <pre>
 * {"seq_len": 128, "batch_size": 8, "attention_layers": [], "xbc_from_vkq": false, "seed": 1,
 *  "eval_batches": 4, "val_fraction": 0.02,
 *  "stages": [{"stage": 1, "steps": 60, "lr": 3e-3},
 *             {"stage": 2, "steps": 60, "lr": 2e-3},
 *             {"stage": 3, "steps": 120, "lr": 1e-3, "temperature": 1.0}]}
 * </pre>
 * Each stage may also set {@code warmup} (default 10% of steps), {@code schedule} (wsd), {@code weight_decay} (0 in
 * stage 1, whose loss does not see every mixer weight; 0.1 otherwise) and {@code train}: regular expressions, any of
 * which a parameter's checkpoint name must contain to train (the rest is frozen). Defaults: stage 1 the parameters
 * the mixing matrix depends on (in_proj, conv1d, D of the mixers), stage 2 all mixer parameters (MLPs and norms
 * frozen), stage 3 everything.
 */
public record DistillPlan(int seqLen, int batchSize, Set<Integer> attentionLayers, boolean xbcFromVkq, long seed,
                          int evalBatches, double valFraction, List<Stage> stages) {

    /** One stage of the plan; {@code stage} is 1, 2 or 3. */
    public record Stage(int stage, long steps, double lr, long warmup, String schedule, double weightDecay,
                        List<String> train, double temperature) {
        public static final List<String> STAGE1_TRAIN = List.of("\\.mixer\\.(in_proj|conv1d)\\.", "\\.mixer\\.D$");
        public static final List<String> STAGE2_TRAIN = List.of("\\.mixer\\.(in_proj|conv1d|out_proj)\\.", "\\.mixer\\.(D|z_bias)$");
        public static final List<String> STAGE3_TRAIN = List.of(".");

        /** "stage1-matrix-orientation", "stage2-hidden-state-alignment", "stage3-knowledge-distillation". */
        public String dirName() {
            return "stage" + stage + "-" + switch (stage) {
                case 1 -> "matrix-orientation";
                case 2 -> "hidden-state-alignment";
                default -> "knowledge-distillation";
            };
        }

        /** Whether a parameter of this checkpoint name trains in this stage. */
        public boolean trains(String name) {
            for (String p : train) if (Pattern.compile(p).matcher(name).find()) return true;
            return false;
        }
    }

    public DistillPlan {
        attentionLayers = Set.copyOf(attentionLayers);
        stages = List.copyOf(stages);
    }

    /** Reads and validates a plan file; every error names the file and the key. */
    public static DistillPlan read(Path file) { return parse(JsonConfig.read(file)); }

    public static DistillPlan parse(JsonConfig c) {
        for (String k : c.keys())
            if (!List.of("description", "seq_len", "batch_size", "attention_layers", "xbc_from_vkq", "seed", "eval_batches", "val_fraction", "stages").contains(k))
                throw new UserInputException(c.file() + ": unknown plan key '" + k + "' (seq_len, batch_size, attention_layers, xbc_from_vkq, seed, eval_batches, val_fraction, stages)");
        int seqLen = c.optInt("seq_len", 128), batch = c.optInt("batch_size", 8);
        if (seqLen < 2) throw new UserInputException(c.file() + ": seq_len must be ≥ 2, got " + seqLen);
        if (batch < 1) throw new UserInputException(c.file() + ": batch_size must be ≥ 1, got " + batch);
        JsonNode arr = c.toObjectNode().get("stages");
        if (arr == null || !arr.isArray() || arr.isEmpty())
            throw new UserInputException(c.file() + ": 'stages' must be a non-empty array of {\"stage\": 1|2|3, \"steps\": …, \"lr\": …}");
        List<Stage> stages = new ArrayList<>();
        int previous = 0;
        for (int i = 0; i < arr.size(); i++) {
            if (!arr.get(i).isObject()) throw new UserInputException(c.file() + ": stages[" + i + "] must be an object");
            Stage s = stage(JsonConfig.of(c.file(), (ObjectNode) arr.get(i)), c.file() + ": stages[" + i + "]");
            if (s.stage() <= previous)
                throw new UserInputException(c.file() + ": stages[" + i + "] is stage " + s.stage() + "; stages must be in increasing order (1, 2, 3; any may be left out)");
            previous = s.stage();
            stages.add(s);
        }
        return new DistillPlan(seqLen, batch, new TreeSet<>(c.optIntList("attention_layers", List.of())), c.optBool("xbc_from_vkq", false),
                c.optLong("seed", 1), c.optInt("eval_batches", 4), c.optDouble("val_fraction", 0.02), stages);
    }

    private static Stage stage(JsonConfig c, String where) {
        try {
            for (String k : c.keys())
                if (!List.of("stage", "steps", "lr", "warmup", "schedule", "weight_decay", "train", "temperature").contains(k))
                    throw new UserInputException("unknown key '" + k + "' (stage, steps, lr, warmup, schedule, weight_decay, train, temperature)");
            int n = c.integer("stage");
            if (n < 1 || n > 3) throw new UserInputException("'stage' must be 1, 2 or 3, got " + n);
            long steps = c.longValue("steps");
            if (steps < 1) throw new UserInputException("'steps' must be ≥ 1, got " + steps);
            double lr = c.number("lr");
            List<String> train = new ArrayList<>();
            JsonNode t = c.toObjectNode().get("train");
            if (t != null) {
                if (!t.isArray()) throw new UserInputException("'train' must be an array of regular expressions");
                for (JsonNode p : t) {
                    try {
                        Pattern.compile(p.asText());
                    } catch (PatternSyntaxException e) {
                        throw new UserInputException("'train' pattern \"" + p.asText() + "\" is not a regular expression: " + e.getDescription());
                    }
                    train.add(p.asText());
                }
            } else {
                train.addAll(n == 1 ? Stage.STAGE1_TRAIN : n == 2 ? Stage.STAGE2_TRAIN : Stage.STAGE3_TRAIN);
            }
            double temperature = c.optDouble("temperature", 1.0);
            if (!(temperature > 0)) throw new UserInputException("'temperature' must be > 0, got " + temperature);
            return new Stage(n, steps, lr, c.optLong("warmup", Math.max(1, steps / 10)), c.optString("schedule", "wsd"),
                    c.optDouble("weight_decay", n == 1 ? 0.0 : 0.1), train, temperature);
        } catch (UserInputException e) {
            throw new UserInputException(where + ": " + e.getMessage());
        }
    }

    /** The same plan with another seed (student init, data order). */
    public DistillPlan withSeed(long newSeed) {
        return new DistillPlan(seqLen, batchSize, attentionLayers, xbcFromVkq, newSeed, evalBatches, valFraction, stages);
    }

    /** Tokens one stage reads: steps · batch · seq_len. */
    public long tokens(Stage s) { return s.steps() * batchSize * seqLen; }

    /** Tokens of all stages. */
    public long totalTokens() { return stages.stream().mapToLong(this::tokens).sum(); }

    /** The trainer settings of one stage (its own checkpoints every quarter, evaluation of its objective at the end). */
    public TrainSettings settings(Stage s, boolean progress, boolean plot) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("lr", s.lr()).put("batch_size", batchSize).put("seq_len", seqLen).put("steps", s.steps()).put("warmup", s.warmup())
                .put("schedule", s.schedule()).put("weight_decay", s.weightDecay()).put("eval_every", s.steps())
                .put("eval_batches", evalBatches).put("checkpoint_every", Math.max(1, s.steps() / 4)).put("seed", seed + s.stage())
                .put("val_fraction", valFraction).put("progress", progress).put("plot", plot);
        try {
            return TrainSettings.resolve(o, List.of());
        } catch (UserInputException e) {
            throw new UserInputException("plan stage " + s.stage() + ": " + e.getMessage());
        }
    }

    /** The plan as JSON (what {@link #parse} reads back to an equal plan). */
    public ObjectNode toJson() {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("seq_len", seqLen).put("batch_size", batchSize);
        ArrayNode attn = o.putArray("attention_layers");
        attentionLayers.stream().sorted().forEach(attn::add);
        o.put("xbc_from_vkq", xbcFromVkq).put("seed", seed).put("eval_batches", evalBatches).put("val_fraction", valFraction);
        ArrayNode st = o.putArray("stages");
        for (Stage s : stages) {
            ObjectNode j = st.addObject();
            j.put("stage", s.stage()).put("steps", s.steps()).put("lr", s.lr()).put("warmup", s.warmup()).put("schedule", s.schedule())
                    .put("weight_decay", s.weightDecay()).put("temperature", s.temperature());
            ArrayNode tr = j.putArray("train");
            s.train().forEach(tr::add);
        }
        return o;
    }

    /** A few lines for the console: one per stage with its tokens, lr and what trains. */
    public String describe() {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "plan: batch %d × seq_len %d, attention kept at %s, x/B/C from V/K/Q: %s%n",
                batchSize, seqLen, attentionLayers.isEmpty() ? "no layer" : "layers " + new TreeSet<>(attentionLayers), xbcFromVkq));
        for (Stage s : stages)
            b.append(String.format(Locale.ROOT, "  %-32s %6d steps  %,10d tokens  lr %.1e (%s, warmup %d, wd %.2f)%s  trains %s%n",
                    s.dirName(), s.steps(), tokens(s), s.lr(), s.schedule(), s.warmup(), s.weightDecay(),
                    s.stage() == 3 ? String.format(Locale.ROOT, " τ %.2f", s.temperature()) : "", s.train()));
        b.append(String.format(Locale.ROOT, "  total %,d tokens", totalTokens()));
        return b.toString();
    }
}
