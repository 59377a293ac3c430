package mamba4j.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;
import mamba4j.io.JsonConfig;
import mamba4j.io.UserFiles;

import java.nio.file.Path;

/**
 * Everything besides the weights and the optimizer moments that a resumed run needs to continue bit-exactly;
 * saved as {@code trainer.json} in each checkpoint.
 *
 * @param step optimizer steps done (skipped non-finite steps included)
 * @param dataPosition micro-batches drawn so far
 * @param rngState the {@link mamba4j.nn.data.SplitMix64} state of the training data generator
 * @param badSteps non-finite steps skipped in total
 * @param consecutiveBadSteps the current streak of them
 * @param tokens input tokens consumed
 * @param elapsedSeconds wall time spent training, over all resumed runs
 * @param settings the run's settings
 */
public record TrainerState(long step, long dataPosition, long rngState, long badSteps, long consecutiveBadSteps,
                           long tokens, double elapsedSeconds, TrainSettings settings) {
    public static final String FORMAT = "mamba4j-trainer-v1";
    private static final ObjectMapper JSON = new ObjectMapper();

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("format", FORMAT);
        o.put("step", step);
        o.put("data_position", dataPosition);
        o.put("rng_state", rngState);
        o.put("bad_steps", badSteps);
        o.put("consecutive_bad_steps", consecutiveBadSteps);
        o.put("tokens", tokens);
        o.put("elapsed_s", elapsedSeconds);
        o.set("settings", settings.toJson());
        return o;
    }

    public void write(Path file) { JsonConfig.write(file, toJson()); }

    /**
     * Reads and validates {@code trainer.json}: the format, every counter an integer in its range (step within
     * [0, settings.steps], data_position ≥ step, bad_steps ≤ step, consecutive_bad_steps ≤ bad_steps, tokens ≥ 0),
     * the rng state a 64-bit integer, elapsed_s a finite number ≥ 0 and the settings valid.
     *
     * @throws UserInputException naming the file and the key at fault
     */
    public static TrainerState read(Path file) {
        Path p = file.toAbsolutePath();
        JsonNode o = UserFiles.readJson(p);
        if (o == null || !o.isObject() || !FORMAT.equals(o.path("format").asText()))
            throw new UserInputException(p + ": not a " + FORMAT + " trainer state (key 'format')");
        for (String k : new String[] {"step", "data_position", "rng_state", "bad_steps", "consecutive_bad_steps", "tokens"}) {
            JsonNode v = o.path(k);
            if (!v.isIntegralNumber() || !v.canConvertToLong())
                throw new UserInputException(p + ": key '" + k + "' must be a 64-bit integer, got " + (v.isMissingNode() ? "nothing" : shorten(v)));
        }
        JsonNode el = o.path("elapsed_s");
        if (!el.isNumber() || !(el.doubleValue() >= 0) || !Double.isFinite(el.doubleValue()))
            throw new UserInputException(p + ": key 'elapsed_s' must be a finite number ≥ 0, got " + (el.isMissingNode() ? "nothing" : shorten(el)));
        if (!o.path("settings").isObject()) throw new UserInputException(p + ": key 'settings' must be an object");
        TrainSettings settings;
        try {
            settings = TrainSettings.resolve(o.get("settings"), java.util.List.of());
        } catch (UserInputException e) {
            throw new UserInputException(p + ": key 'settings': " + e.getMessage(), e);
        }
        long step = o.get("step").longValue(), pos = o.get("data_position").longValue(), bad = o.get("bad_steps").longValue(),
                streak = o.get("consecutive_bad_steps").longValue(), tokens = o.get("tokens").longValue();
        if (step < 0 || step > settings.steps())
            throw new UserInputException(p + ": key 'step' = " + step + " is outside [0, settings.steps = " + settings.steps() + "]");
        if (pos < step) throw new UserInputException(p + ": key 'data_position' = " + pos + " is below step " + step + " (each step draws ≥ 1 batch)");
        if (bad < 0 || bad > step) throw new UserInputException(p + ": key 'bad_steps' = " + bad + " is outside [0, step = " + step + "]");
        if (streak < 0 || streak > bad) throw new UserInputException(p + ": key 'consecutive_bad_steps' = " + streak + " is outside [0, bad_steps = " + bad + "]");
        if (tokens < 0) throw new UserInputException(p + ": key 'tokens' = " + tokens + " is negative");
        return new TrainerState(step, pos, o.get("rng_state").longValue(), bad, streak, tokens, el.doubleValue(), settings);
    }

    private static String shorten(JsonNode v) {
        String s = v.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
