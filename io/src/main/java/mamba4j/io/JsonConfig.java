package mamba4j.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A JSON object read from a file (a Hugging Face {@code config.json}, a shard index, a tokenizer config)
 * with typed getters whose errors name the file and the key: {@code /m/config.json: key 'd_model' must be
 * an integer, got "abc"}. Nested objects ({@code ssm_cfg}) are JsonConfigs too, with dotted key names in
 * their messages ({@code 'ssm_cfg.d_state'}).
 *
 * <p>Optional getters treat an absent key and an explicit {@code null} alike (transformers writes
 * {@code "rope_scaling": null} for "not set"); required getters reject both. Instances are read-only views.
 */
public final class JsonConfig {
    /**
     * Strict as Python's json and Rust's serde_json on what they reject (trailing data), and stricter on
     * duplicate keys, which they silently resolve to the last value.
     */
    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path file;
    private final String prefix; // "" at the root, "ssm_cfg." below it
    private final ObjectNode node;

    private JsonConfig(Path file, String prefix, ObjectNode node) {
        this.file = file;
        this.prefix = prefix;
        this.node = node;
    }

    /**
     * Reads {@code file}, which must hold one JSON object.
     *
     * @throws UserInputException naming the file when it is missing, not JSON, or not an object
     */
    public static JsonConfig read(Path file) {
        Path p = file.toAbsolutePath();
        JsonNode root = UserFiles.readJson(p);
        if (root == null || !root.isObject())
            throw new UserInputException(p + ": expected a JSON object, got " + (root == null ? "an empty file" : root.getNodeType()));
        return new JsonConfig(p, "", (ObjectNode) root);
    }

    /** Wraps an object already parsed; {@code file} is only used in messages. */
    public static JsonConfig of(Path file, ObjectNode node) {
        return new JsonConfig(file.toAbsolutePath(), "", node.deepCopy());
    }

    /**
     * Writes {@code value} (a Map, record, or {@link JsonNode}) as indented JSON, atomically (temporary file,
     * then rename), ending with a newline.
     */
    public static void write(Path file, Object value) {
        byte[] bytes;
        try {
            DefaultPrettyPrinter pp = new DefaultPrettyPrinter(
                    Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                    .withArrayIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"))
                    .withObjectIndenter(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
            String s = JSON.writer(pp).writeValueAsString(value) + "\n";
            bytes = s.getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot serialize " + value.getClass().getName() + " to JSON for " + file, e);
        }
        AtomicFiles.write(file, out -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) out.write(b);
        });
    }

    /** The file this object came from. */
    public Path file() { return file; }

    /** True when {@code key} is present and not null. */
    public boolean has(String key) {
        JsonNode v = node.get(key);
        return v != null && !v.isNull();
    }

    /** The keys of this object, in file order. */
    public List<String> keys() {
        List<String> out = new ArrayList<>();
        node.fieldNames().forEachRemaining(out::add);
        return out;
    }

    /** A deep copy of the underlying object, e.g. to copy unknown keys through when re-saving a config. */
    public ObjectNode toObjectNode() { return node.deepCopy(); }

    public String string(String key) {
        JsonNode v = required(key);
        if (!v.isTextual()) throw wrongType(key, "a string", v);
        return v.textValue();
    }

    public String optString(String key, String def) { return has(key) ? string(key) : def; }

    /** An integer that fits in 32 bits; an integral float such as {@code 768.0} is accepted. */
    public int integer(String key) {
        long v = longValue(key);
        if (v != (int) v) throw new UserInputException(where(key) + " must be a 32-bit integer, got " + v);
        return (int) v;
    }

    public int optInt(String key, int def) { return has(key) ? integer(key) : def; }

    /** A size or count (a dimension, a number of layers or heads): a 32-bit integer ≥ 1. */
    public int size(String key) {
        int v = integer(key);
        if (v < 1) throw new UserInputException(where(key) + " must be ≥ 1, got " + v);
        return v;
    }

    public int optSize(String key, int def) { return has(key) ? size(key) : def; }

    public long longValue(String key) {
        JsonNode v = required(key);
        if (v.isIntegralNumber() && v.canConvertToLong()) return v.longValue();
        if (v.isFloatingPointNumber() && v.doubleValue() == Math.rint(v.doubleValue()) && Math.abs(v.doubleValue()) < 0x1p53)
            return (long) v.doubleValue();
        throw wrongType(key, "an integer", v);
    }

    public long optLong(String key, long def) { return has(key) ? longValue(key) : def; }

    public double number(String key) {
        JsonNode v = required(key);
        if (!v.isNumber()) throw wrongType(key, "a number", v);
        return v.doubleValue();
    }

    public double optDouble(String key, double def) { return has(key) ? number(key) : def; }

    public boolean bool(String key) {
        JsonNode v = required(key);
        if (!v.isBoolean()) throw wrongType(key, "true or false", v);
        return v.booleanValue();
    }

    public boolean optBool(String key, boolean def) { return has(key) ? bool(key) : def; }

    /** A nested object, e.g. {@code ssm_cfg}; errors from it name {@code 'ssm_cfg.key'}. */
    public JsonConfig node(String key) {
        JsonNode v = required(key);
        if (!v.isObject()) throw wrongType(key, "an object", v);
        return new JsonConfig(file, prefix + key + ".", (ObjectNode) v);
    }

    /** The nested object, or empty when absent or null. */
    public Optional<JsonConfig> optNode(String key) { return has(key) ? Optional.of(node(key)) : Optional.empty(); }

    /** An array of 32-bit integers. */
    public List<Integer> intList(String key) {
        JsonNode v = required(key);
        if (!v.isArray()) throw wrongType(key, "an array of integers", v);
        List<Integer> out = new ArrayList<>(v.size());
        for (JsonNode e : v) {
            if (!e.isIntegralNumber() || !e.canConvertToInt()) throw wrongType(key, "an array of integers", v);
            out.add(e.intValue());
        }
        return List.copyOf(out);
    }

    /**
     * An array of integers, or {@code def} when absent or null. A single integer is accepted as a list of one,
     * as transformers does for {@code eos_token_id} (an int or a list).
     */
    public List<Integer> optIntList(String key, List<Integer> def) {
        if (!has(key)) return def;
        JsonNode v = node.get(key);
        if (v.isIntegralNumber()) return List.of(integer(key));
        return intList(key);
    }

    private JsonNode required(String key) {
        JsonNode v = node.get(key);
        if (v == null) throw new UserInputException(file + ": missing required key '" + prefix + key + "'");
        return v;
    }

    private String where(String key) { return file + ": key '" + prefix + key + "'"; }

    private UserInputException wrongType(String key, String expected, JsonNode got) {
        String shown = got.toString();
        if (shown.length() > 80) shown = shown.substring(0, 77) + "...";
        return new UserInputException(where(key) + " must be " + expected + ", got " + shown);
    }

    @Override
    public String toString() { return "JsonConfig[" + file + (prefix.isEmpty() ? "" : " " + prefix) + "]"; }
}
