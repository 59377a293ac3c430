package mamba4j.io;

import ai.djl.engine.EngineException;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A Hugging Face {@code tokenizer.json}, run by the Rust {@code tokenizers} library through DJL
 * ({@code ai.djl.huggingface:tokenizers}, whose jar carries the native library for linux-x86_64/aarch64,
 * macOS arm64 and Windows; it is extracted once to DJL's cache dir, {@code ~/.djl.ai/tokenizers} unless
 * {@code ENGINE_CACHE_DIR} or {@code DJL_CACHE_DIR} says otherwise, with no network access).
 *
 * <p>Behaviour matches transformers' fast tokenizer called as {@code tokenizer(text)["input_ids"]} and
 * {@code tokenizer.decode(ids)}:
 * <ul>
 *   <li>encode applies the file's post-processor (add_special_tokens=True, transformers' default), so a BOS is
 *       added exactly when {@code tokenizer.json} says so (Llama yes, GPT-NeoX/Mamba no);</li>
 *   <li>no truncation and no padding, whatever the file stores (DJL would otherwise truncate to 512);</li>
 *   <li>decode keeps special tokens unless asked ({@link #decode(int[], boolean)}), and does not apply
 *       transformers' legacy {@code clean_up_tokenization_spaces} rewrite (" ." → "."), so decode inverts
 *       encode exactly.</li>
 * </ul>
 * Thread-safe (the Rust tokenizer is immutable once built). Close it to free the native handle.
 */
public final class HfTokenizer implements Tokenizer {
    private final Path file;
    private final HuggingFaceTokenizer djl;
    private final int vocabSize;
    private final Map<String, Integer> tokenIds;
    private final OptionalInt eos;

    private HfTokenizer(Path file, HuggingFaceTokenizer djl, int vocabSize, Map<String, Integer> tokenIds, OptionalInt eos) {
        this.file = file;
        this.djl = djl;
        this.vocabSize = vocabSize;
        this.tokenIds = tokenIds;
        this.eos = eos;
    }

    /** Loads {@code tokenizer.json} with no end-of-sequence token. */
    public static HfTokenizer open(Path tokenizerJson) {
        return open(tokenizerJson, OptionalInt.empty());
    }

    /**
     * Loads {@code tokenizer.json}; {@code eos} is reported by {@link #eosTokenId()} (the file itself does not
     * say which token ends a sequence: config.json or tokenizer_config.json do, see {@link Tokenizers#load}).
     *
     * @throws UserInputException naming the file when it is missing, the tokenizers library rejects it, or
     *     {@code eos} is outside the vocabulary
     */
    public static HfTokenizer open(Path tokenizerJson, OptionalInt eos) {
        return open(tokenizerJson, eos, null);
    }

    /**
     * Loads {@code tokenizer.json} with the end-of-sequence token given by its text (tokenizer_config.json's
     * {@code eos_token}, e.g. {@code "<|endoftext|>"}).
     *
     * @throws UserInputException naming the file when the token is not in the vocabulary
     */
    public static HfTokenizer open(Path tokenizerJson, String eosToken) {
        return open(tokenizerJson, OptionalInt.empty(), eosToken);
    }

    private static HfTokenizer open(Path tokenizerJson, OptionalInt eosId, String eosToken) {
        Path p = tokenizerJson.toAbsolutePath();
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            throw new UserInputException(p + ": tokenizer file not found", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        }
        return fromJson(p, bytes, eosId, eosToken);
    }

    /**
     * A tokenizer from the bytes of a {@code tokenizer.json} built in memory (e.g. from a GGUF file's vocabulary);
     * {@code source} names it in messages.
     *
     * @throws UserInputException naming {@code source} when the tokenizers library rejects the JSON or {@code eos} is
     *     outside the vocabulary
     */
    public static HfTokenizer fromJson(Path source, byte[] tokenizerJson, OptionalInt eos) {
        return fromJson(source.toAbsolutePath(), tokenizerJson, eos, null);
    }

    private static HfTokenizer fromJson(Path p, byte[] bytes, OptionalInt eosId, String eosToken) {
        Map<String, Integer> ids = new HashMap<>();
        int maxId = collectIds(p, parse(p, bytes), ids);
        OptionalInt eos = eosId;
        if (eosToken != null) {
            Integer id = ids.get(eosToken);
            if (id == null) throw new UserInputException(p + ": end-of-sequence token '" + eosToken + "' is not in the vocabulary");
            eos = OptionalInt.of(id);
        }
        if (eos.isPresent() && (eos.getAsInt() < 0 || eos.getAsInt() > maxId))
            throw new UserInputException(p + ": end-of-sequence id " + eos.getAsInt() + " is outside the vocabulary of "
                    + (maxId + 1) + " ids");

        DjlRuntime.prepare();
        HuggingFaceTokenizer djl;
        try {
            djl = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(bytes), Map.of(
                    "addSpecialTokens", "true", // transformers' default; the post-processor decides what is added
                    "truncation", "false",
                    "padding", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (EngineException e) {
            throw new IllegalStateException("the Hugging Face tokenizers native library (from the DJL jar) failed to load: "
                    + rootMessage(e), e);
        } catch (RuntimeException e) {
            throw new UserInputException(p + ": the tokenizers library cannot load this file: " + rootMessage(e), e);
        }
        return new HfTokenizer(p, djl, maxId + 1, ids, eos);
    }

    /** Parsed leniently (duplicate keys allowed), as the Rust library's serde_json reads it. */
    private static ObjectNode parse(Path p, byte[] bytes) {
        JsonNode n = UserFiles.parseJson(new ObjectMapper(), p, bytes);
        if (n == null || !n.isObject()) throw new UserInputException(p + ": expected a JSON object (a tokenizer.json)");
        return (ObjectNode) n;
    }

    /** Fills token → id from model.vocab and added_tokens; returns the largest id. */
    private static int collectIds(Path p, ObjectNode root, Map<String, Integer> out) {
        int max = -1;
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) { // BPE, WordPiece, WordLevel: {"token": id}
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                out.put(e.getKey(), e.getValue().intValue());
                max = Math.max(max, e.getValue().intValue());
            }
        } else if (vocab.isArray()) { // Unigram: [["piece", score], ...], id = position
            for (int i = 0; i < vocab.size(); i++) out.put(vocab.get(i).path(0).asText(), i);
            max = vocab.size() - 1;
        }
        for (JsonNode t : root.path("added_tokens")) {
            int id = t.path("id").intValue();
            out.put(t.path("content").asText(), id);
            max = Math.max(max, id);
        }
        if (max < 0) throw new UserInputException(p + ": no vocabulary found (model.vocab and added_tokens are empty)");
        return max;
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) t = t.getCause();
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    @Override
    public int[] encode(String text) {
        long[] ids;
        try {
            ids = djl.encode(text).getIds();
        } catch (RuntimeException e) {                     // the tokenizers library rejects what its file describes
            throw new mamba4j.core.UserInputException(file + ": the tokenizer cannot encode text: " + e.getMessage(), e);
        }
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    @Override
    public String decode(int[] ids) { return decode(ids, false); }

    /** Text of {@code ids}; with {@code skipSpecialTokens} tokens marked special (e.g. {@code <|endoftext|>}) are dropped. */
    public String decode(int[] ids, boolean skipSpecialTokens) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) l[i] = ids[i];
        try {
            return djl.decode(l, skipSpecialTokens);
        } catch (RuntimeException e) {
            throw new mamba4j.core.UserInputException(file + ": the tokenizer cannot decode ids: " + e.getMessage(), e);
        }
    }

    @Override
    public OptionalInt eosTokenId() { return eos; }

    @Override
    public int vocabSize() { return vocabSize; }

    /** The id of a token string (vocabulary or added token), as {@code tokenizer.convert_tokens_to_ids}. */
    public OptionalInt tokenId(String token) {
        Integer id = tokenIds.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The tokenizer.json this was loaded from. */
    public Path file() { return file; }

    @Override
    public void close() { djl.close(); }

    @Override
    public String toString() { return "HfTokenizer[" + file + ", " + vocabSize + " ids]"; }
}
