package mamba4j.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The settings of one training run, immutable, mirrored one-to-one by a JSON object whose keys are the
 * components' names in snake_case ({@code weightDecay ↔ "weight_decay"}). Built by {@link #resolve}: the
 * {@link #DEFAULTS}, then a JSON preset, then {@code --key=value} overrides; printed with {@link #toJson} and
 * saved with the run (settings.json, and inside every checkpoint's trainer.json).
 *
 * @param lr peak learning rate ({@code lr})
 * @param beta1 AdamW β1 ({@code beta1})
 * @param beta2 AdamW β2 ({@code beta2})
 * @param eps AdamW ε ({@code eps})
 * @param weightDecay decoupled weight decay, not applied to parameters marked so ({@code weight_decay})
 * @param batchSize sequences per micro-batch, B ({@code batch_size})
 * @param seqLen tokens per sequence, T ({@code seq_len})
 * @param steps optimizer steps of the whole run ({@code steps})
 * @param warmup linear warmup steps ({@code warmup})
 * @param schedule {@code "cosine"}, {@code "wsd"} (warmup-stable-decay) or {@code "constant"} ({@code schedule})
 * @param minLrRatio final lr / peak lr of cosine and wsd ({@code min_lr_ratio})
 * @param decayFraction fraction of the steps over which wsd decays ({@code decay_fraction})
 * @param accumulation micro-batches per optimizer step ({@code accumulation})
 * @param gradClip max global gradient L2 norm; 0 disables ({@code grad_clip})
 * @param evalEvery steps between validation runs; 0 disables, else also at the end ({@code eval_every})
 * @param evalBatches validation batches per evaluation ({@code eval_batches})
 * @param checkpointEvery steps between checkpoints; 0 = only at the end ({@code checkpoint_every})
 * @param checkpointMinutes also a checkpoint when this many minutes passed since the last one; 0 = off ({@code checkpoint_minutes})
 * @param seed seed of the data/sampling generator ({@code seed})
 * @param maxBadSteps consecutive non-finite steps after which the run stops ({@code max_bad_steps})
 * @param valFraction fraction of a token file kept for validation ({@code val_fraction})
 * @param progress progress bar on stderr ({@code progress})
 * @param plot write loss.png at checkpoints and the end ({@code plot})
 */
public record TrainSettings(
        double lr, double beta1, double beta2, double eps, double weightDecay,
        int batchSize, int seqLen, long steps, long warmup,
        String schedule, double minLrRatio, double decayFraction,
        int accumulation, double gradClip,
        long evalEvery, int evalBatches, long checkpointEvery, double checkpointMinutes,
        long seed, int maxBadSteps, double valFraction,
        boolean progress, boolean plot) {

    // before DEFAULTS: the constructor of DEFAULTS reads it during class initialisation
    public static final List<String> SCHEDULES = List.of("cosine", "wsd", "constant");

    public static final TrainSettings DEFAULTS = new TrainSettings(
            1e-3, 0.9, 0.95, 1e-8, 0.1,
            8, 256, 1000, 100,
            "cosine", 0.1, 0.2,
            1, 1.0,
            100, 8, 500, 0.0,
            1234, 10, 0.01,
            true, true);

    public TrainSettings {
        positive("lr", lr);
        if (!(beta1 >= 0 && beta1 < 1)) bad("beta1", beta1, "must be in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) bad("beta2", beta2, "must be in [0, 1)");
        positive("eps", eps);
        if (!(weightDecay >= 0 && Double.isFinite(weightDecay))) bad("weight_decay", weightDecay, "must be ≥ 0");
        if (batchSize < 1) bad("batch_size", batchSize, "must be ≥ 1");
        if (seqLen < 1) bad("seq_len", seqLen, "must be ≥ 1");
        if (steps < 1) bad("steps", steps, "must be ≥ 1");
        if (warmup < 0 || warmup > steps) bad("warmup", warmup, "must be in [0, steps = " + steps + "]; set --warmup");
        if (!SCHEDULES.contains(schedule)) bad("schedule", "\"" + schedule + "\"", "must be one of " + SCHEDULES);
        if (!(minLrRatio >= 0 && minLrRatio <= 1)) bad("min_lr_ratio", minLrRatio, "must be in [0, 1]");
        if (!(decayFraction > 0 && decayFraction <= 1)) bad("decay_fraction", decayFraction, "must be in (0, 1]");
        if (schedule.equals("wsd") && warmup + Math.max(1, Math.round(decayFraction * steps)) > steps)
            bad("warmup", warmup, "plus the wsd decay steps (decay_fraction · steps) exceed steps = " + steps + "; set --warmup or --decay_fraction");
        if (accumulation < 1) bad("accumulation", accumulation, "must be ≥ 1");
        if (!(gradClip >= 0 && Double.isFinite(gradClip))) bad("grad_clip", gradClip, "must be ≥ 0 (0 disables clipping)");
        if (evalEvery < 0) bad("eval_every", evalEvery, "must be ≥ 0 (0 disables evaluation)");
        if (evalBatches < 1) bad("eval_batches", evalBatches, "must be ≥ 1");
        if (checkpointEvery < 0) bad("checkpoint_every", checkpointEvery, "must be ≥ 0 (0 = only at the end)");
        if (!(checkpointMinutes >= 0 && Double.isFinite(checkpointMinutes))) bad("checkpoint_minutes", checkpointMinutes, "must be ≥ 0 (0 = off)");
        if (maxBadSteps < 1) bad("max_bad_steps", maxBadSteps, "must be ≥ 1");
        if (!(valFraction >= 0 && valFraction < 1)) bad("val_fraction", valFraction, "must be in [0, 1)");
    }

    /** The lr multiplier schedule these settings name. */
    public Schedule lrSchedule() {
        return switch (schedule) {
            case "cosine" -> new Schedule.WarmupCosine(warmup, steps, minLrRatio);
            case "wsd" -> new Schedule.WarmupStableDecay(warmup, steps, decayFraction, minLrRatio);
            case "constant" -> new Schedule.Constant(warmup);
            default -> throw new IllegalStateException(schedule); // rejected by the constructor
        };
    }

    /** Input tokens per optimizer step, B · T · accumulation. */
    public long tokensPerStep() { return (long) batchSize * seqLen * accumulation; }

    // ------------------------------------------------------------------ JSON and overrides

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final RecordComponent[] COMPONENTS = TrainSettings.class.getRecordComponents();

    /** The JSON key of each component, in declaration order. */
    public static List<String> keys() { return Arrays.stream(COMPONENTS).map(c -> snake(c.getName())).toList(); }

    /**
     * {@link #DEFAULTS}, then every key of {@code preset} (a JSON object, or null for none), then each override
     * {@code --key=value} (also {@code key=value}; dashes in the key read as underscores), later ones winning.
     *
     * @throws UserInputException naming the key and the value: unknown key, wrong type, or an impossible value
     */
    public static TrainSettings resolve(JsonNode preset, List<String> overrides) {
        Object[] values = new Object[COMPONENTS.length];
        for (int i = 0; i < values.length; i++) values[i] = get(DEFAULTS, i);
        if (preset != null && !preset.isNull() && !preset.isMissingNode()) {
            if (!preset.isObject())
                throw new UserInputException("training preset must be a JSON object, got " + preset.getNodeType());
            for (var it = preset.fields(); it.hasNext(); ) {
                var e = it.next();
                int i = index(e.getKey(), "preset key '" + e.getKey() + "'");
                values[i] = fromJson(i, e.getValue());
            }
        }
        int stepsI = index("steps", "steps"), warmupI = index("warmup", "warmup");
        long presetSteps = (Long) values[stepsI], presetWarmup = (Long) values[warmupI];
        boolean stepsSet = false, warmupSet = false;
        for (String o : overrides) {
            String s = o.startsWith("--") ? o.substring(2) : o;
            int eq = s.indexOf('=');
            if (eq <= 0) throw new UserInputException("override '" + o + "' must look like --key=value or --key value (keys: " + String.join(", ", keys()) + ")");
            String key = s.substring(0, eq).replace('-', '_');
            int i = index(key, "override '" + o + "'");
            values[i] = fromString(i, s.substring(eq + 1), o);
            stepsSet |= i == stepsI;
            warmupSet |= i == warmupI;
        }
        // a run shortened on the command line keeps the preset's warmup fraction unless --warmup is given
        long steps = (Long) values[stepsI];
        if (stepsSet && !warmupSet && steps < presetSteps && presetSteps > 0)
            values[warmupI] = Math.round((double) presetWarmup * steps / presetSteps);
        Constructor<TrainSettings> ctor = canonical();
        try {
            return ctor.newInstance(values);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The settings as a JSON object with every key (what {@link #resolve} reads back to equal settings). */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        for (int i = 0; i < COMPONENTS.length; i++) {
            String k = snake(COMPONENTS[i].getName());
            switch (get(this, i)) {
                case Double d -> o.put(k, d);
                case Integer n -> o.put(k, n);
                case Long n -> o.put(k, n);
                case Boolean b -> o.put(k, b);
                case String s -> o.put(k, s);
                default -> throw new IllegalStateException(k);
            }
        }
        return o;
    }

    @Override
    public String toString() { return toJson().toString(); }

    private static int index(String key, String where) {
        for (int i = 0; i < COMPONENTS.length; i++) if (snake(COMPONENTS[i].getName()).equals(key)) return i;
        throw new UserInputException(where + ": unknown training setting '" + key + "'" + Keys.hint(key, keys()));
    }

    private static Object fromJson(int i, JsonNode v) {
        Class<?> t = COMPONENTS[i].getType();
        String key = snake(COMPONENTS[i].getName());
        if (t == double.class && v.isNumber()) return v.doubleValue();
        if ((t == int.class && v.isIntegralNumber() && v.canConvertToInt())
                || (t == long.class && v.isIntegralNumber() && v.canConvertToLong()))
            return t == int.class ? (Object) v.intValue() : (Object) v.longValue();
        if ((t == int.class || t == long.class) && v.isFloatingPointNumber() && v.doubleValue() == Math.rint(v.doubleValue())
                && Math.abs(v.doubleValue()) < (t == int.class ? 0x1p31 : 0x1p53))
            return t == int.class ? (Object) (int) v.doubleValue() : (Object) (long) v.doubleValue(); // 1e3 → 1000
        if (t == boolean.class && v.isBoolean()) return v.booleanValue();
        if (t == String.class && v.isTextual()) return v.textValue();
        throw new UserInputException("preset key '" + key + "' must be " + typeName(t) + ", got " + v);
    }

    private static Object fromString(int i, String v, String override) {
        Class<?> t = COMPONENTS[i].getType();
        String key = snake(COMPONENTS[i].getName());
        try {
            if (t == double.class) return Double.parseDouble(v.strip());
            if (t == int.class) return Integer.parseInt(v.strip());
            if (t == long.class) return Long.parseLong(v.strip());
            if (t == boolean.class) {
                String b = v.strip().toLowerCase(Locale.ROOT);
                if (b.equals("true") || b.equals("false")) return Boolean.parseBoolean(b);
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new UserInputException("override '" + override + "': key '" + key + "' must be " + typeName(t)
                    + ", got \"" + v + "\"");
        }
    }

    private static String typeName(Class<?> t) {
        if (t == double.class) return "a number";
        if (t == int.class) return "a 32-bit integer";
        if (t == long.class) return "an integer";
        if (t == boolean.class) return "true or false";
        return "a string";
    }

    private static Object get(TrainSettings s, int i) {
        try {
            return COMPONENTS[i].getAccessor().invoke(s);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Constructor<TrainSettings> canonical() {
        try {
            return TrainSettings.class.getDeclaredConstructor(Arrays.stream(COMPONENTS).map(RecordComponent::getType).toArray(Class<?>[]::new));
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    static String snake(String camel) {
        StringBuilder b = new StringBuilder();
        for (char c : camel.toCharArray()) {
            if (Character.isUpperCase(c)) b.append('_').append(Character.toLowerCase(c));
            else b.append(c);
        }
        return b.toString();
    }

    private static void positive(String key, double v) {
        if (!(v > 0 && Double.isFinite(v))) bad(key, v, "must be a positive number");
    }

    private static void bad(String key, Object value, String why) {
        throw new UserInputException("training setting " + key + "=" + value + ": " + why);
    }
}
