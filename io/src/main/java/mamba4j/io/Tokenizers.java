package mamba4j.io;

import mamba4j.core.UserInputException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * Finds the tokenizer of a model folder. It travels with the checkpoint: {@code tokenizer.json} in the folder, or the
 * byte-level marker {@code "mamba4j_tokenizer": "bytes"} in its config.json (ids are UTF-8 bytes); a checkpoint with
 * neither and a 256-id vocabulary (written before the marker existed) reads as byte-level too.
 */
public final class Tokenizers {
    private Tokenizers() {}

    public static final String TOKENIZER_FILE = "tokenizer.json";

    /** The config.json key marking a byte-level model (value {@code "bytes"}). */
    public static final String BYTE_LEVEL_KEY = "mamba4j_tokenizer";

    /**
     * The tokenizer that travels with the checkpoint in {@code modelDir}, for a model of {@code vocab} ids: its
     * tokenizer.json ({@link #load}), else a {@link ByteTokenizer} when config.json carries the byte-level marker or
     * the vocabulary has 256 ids.
     *
     * @throws UserInputException when the folder carries none, or when the tokenizer has more ids than the model
     *     (naming both sizes: it is another model's tokenizer)
     */
    public static Tokenizer forModel(Path modelDir, int vocab) {
        Path dir = ModelFolders.resolve(modelDir).toAbsolutePath();
        Tokenizer tok;
        String what;
        if (Files.isRegularFile(dir.resolve(TOKENIZER_FILE))) {
            tok = load(dir);
            what = dir.resolve(TOKENIZER_FILE).toString();
        } else if (isByteLevel(dir) || vocab == 256) {
            tok = new ByteTokenizer();
            what = "the byte-level tokenizer of " + dir;
        } else {
            throw new UserInputException(dir + ": no tokenizer in the model folder (no " + TOKENIZER_FILE + ", no byte-level marker) and its "
                    + "vocabulary of " + vocab + " ids is not byte-level: copy the model's tokenizer.json there");
        }
        if (tok.vocabSize() > vocab) {
            tok.close();
            throw new UserInputException(what + " has " + tok.vocabSize() + " ids, more than the model's vocabulary of " + vocab
                    + "; it is not this model's tokenizer");
        }
        return tok;
    }

    /** Whether {@code modelDir}/config.json carries the byte-level marker. */
    public static boolean isByteLevel(Path modelDir) {
        Path cfg = ModelFolders.resolve(modelDir).resolve("config.json");
        return Files.isRegularFile(cfg) && "bytes".equals(JsonConfig.read(cfg).optString(BYTE_LEVEL_KEY, null));
    }

    /**
     * The {@link HfTokenizer} of {@code modelDir/tokenizer.json}, with its end-of-sequence id taken from (first
     * found) {@code generation_config.json} or {@code config.json} {@code eos_token_id} (an int, or a list whose
     * first entry is used), else {@code tokenizer_config.json} {@code eos_token}.
     *
     * <p>Byte-level models (vocabulary 256) have no tokenizer file; callers that know the model is one use
     * {@link ByteTokenizer} instead of calling this.
     *
     * @throws UserInputException when the folder has no tokenizer.json, naming the folder and the way out
     */
    public static HfTokenizer load(Path modelDir) {
        Path dir = ModelFolders.resolve(modelDir).toAbsolutePath();
        Path file = dir.resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(file))
            throw new UserInputException(dir + ": no " + TOKENIZER_FILE + " in the model folder. Copy the tokenizer.json of the "
                    + "model's tokenizer there (Mamba checkpoints use EleutherAI/gpt-neox-20b's), or pass token ids "
                    + "directly with --prompt-ids");
        OptionalInt eos = eosId(dir);
        if (eos.isPresent()) return HfTokenizer.open(file, eos);
        Path tc = dir.resolve("tokenizer_config.json");
        String eosToken = Files.isRegularFile(tc) ? eosTokenString(JsonConfig.read(tc)) : null;
        return eosToken != null ? HfTokenizer.open(file, eosToken) : HfTokenizer.open(file);
    }

    /** eos_token_id of generation_config.json, else config.json. */
    private static OptionalInt eosId(Path dir) {
        for (String name : List.of("generation_config.json", "config.json")) {
            Path f = dir.resolve(name);
            if (!Files.isRegularFile(f)) continue;
            List<Integer> ids = JsonConfig.read(f).optIntList("eos_token_id", List.of());
            if (!ids.isEmpty()) return OptionalInt.of(ids.getFirst());
        }
        return OptionalInt.empty();
    }

    /** tokenizer_config.json's eos_token: a string, or an AddedToken object {"content": ...}. */
    private static String eosTokenString(JsonConfig tc) {
        if (!tc.has("eos_token")) return null;
        return tc.toObjectNode().get("eos_token").isObject() ? tc.node("eos_token").string("content") : tc.string("eos_token");
    }
}
