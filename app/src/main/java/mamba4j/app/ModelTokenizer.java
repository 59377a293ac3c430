package mamba4j.app;

import mamba4j.core.UserInputException;
import mamba4j.io.ByteTokenizer;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.HfTokenizer;
import mamba4j.io.JsonConfig;
import mamba4j.io.Tokenizer;
import mamba4j.io.Tokenizers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The tokenizer that travels with a checkpoint: {@code tokenizer.json} in the model folder, or the byte-level marker
 * {@code "mamba4j_tokenizer": "bytes"} in its config.json (ids are UTF-8 bytes); a checkpoint with neither and a
 * 256-id vocabulary (written before the marker existed) reads as byte-level too. A GGUF file carries its vocabulary in
 * its metadata ({@link GgufTokenizer}).
 */
final class ModelTokenizer {
    private ModelTokenizer() {}

    /** The config.json key marking a byte-level model. */
    static final String MARKER = Tokenizers.BYTE_LEVEL_KEY;

    /**
     * The tokenizer of {@code modelDir} for a model of {@code vocab} ids, or {@code override} ("bytes" or a
     * tokenizer.json) when given.
     *
     * @throws UserInputException when there is none, or when its ids do not fit the model's vocabulary (naming both sizes)
     */
    static Tokenizer load(Path model, int vocab, String override, String flag) {
        Path modelDir = mamba4j.io.ModelFolders.resolve(model);   // a run's checkpoint/: its model/
        Tokenizer tok;
        String what;
        if (override != null) {
            if (override.equals("bytes")) { tok = new ByteTokenizer(); what = "byte-level tokenizer"; }
            else {
                Path f = Path.of(override);
                if (!Files.isRegularFile(f)) throw new UserInputException(flag + " " + override + ": no such file (bytes or a tokenizer.json)");
                tok = HfTokenizer.open(f);
                what = "tokenizer " + f;
            }
        } else if (mamba4j.models.Models.isGguf(modelDir)) {
            try (GgufFile f = GgufFile.open(modelDir)) {
                tok = GgufTokenizer.load(f).orElseThrow(() -> new UserInputException(modelDir + ": the GGUF file carries no tokenizer ('"
                        + GgufTokenizer.MODEL + "' is absent or \"none\"): pass token ids (--prompt-ids) or --tokenizer bytes|FILE"));
            }
            what = "tokenizer of " + modelDir;
        } else if (Files.isRegularFile(modelDir.resolve(Tokenizers.TOKENIZER_FILE))) {
            tok = Tokenizers.load(modelDir);
            what = "tokenizer " + modelDir.resolve(Tokenizers.TOKENIZER_FILE);
        } else if (isByteLevel(modelDir) || vocab == 256) {
            tok = new ByteTokenizer();
            what = "byte-level tokenizer";
        } else {
            throw new UserInputException(modelDir + ": no tokenizer in the model folder (no " + Tokenizers.TOKENIZER_FILE
                    + ", no byte-level marker) and its vocabulary of " + vocab + " ids is not byte-level: copy the model's "
                    + "tokenizer.json there, or pass token ids (--prompt-ids)");
        }
        // an explicit "bytes" on a smaller vocabulary is allowed: the callers check each id (a text of ASCII only fits 128 ids)
        if (tok.vocabSize() > vocab && !(override != null && tok instanceof ByteTokenizer)) {
            tok.close();
            throw new UserInputException(flag + ": the " + what + " has " + tok.vocabSize() + " ids, more than the model's vocabulary of "
                    + vocab + " (" + modelDir + "); it is not this model's tokenizer");
        }
        return tok;
    }

    /** Whether the model (a folder or a GGUF file) carries a tokenizer of its own. */
    static boolean carriesTokenizer(Path path) {
        Path model = mamba4j.io.ModelFolders.resolve(path);
        if (mamba4j.models.Models.isGguf(model)) {
            try (GgufFile f = GgufFile.open(model)) {
                return f.has(GgufTokenizer.MODEL) && !List.of("none", "no_vocab").contains(f.string(GgufTokenizer.MODEL));
            }
        }
        return Files.isRegularFile(model.resolve(Tokenizers.TOKENIZER_FILE)) || isByteLevel(model);
    }

    /** Whether config.json carries the byte-level marker. */
    static boolean isByteLevel(Path modelDir) { return Tokenizers.isByteLevel(modelDir); }

    /**
     * Makes {@code checkpointDir} carry {@code tokenizer}: "bytes" adds the marker to its config.json, a tokenizer.json
     * path is copied in beside the weights.
     */
    static void attach(Path checkpointDir, String tokenizer) {
        try {
            if (tokenizer.equals("bytes")) {
                Path cfg = checkpointDir.resolve("config.json");
                var node = JsonConfig.read(cfg).toObjectNode().deepCopy();
                if (!"bytes".equals(node.path(MARKER).asText(null))) {
                    node.put(MARKER, "bytes");
                    JsonConfig.write(cfg, node);
                }
            } else {
                Path src = Path.of(tokenizer), dst = checkpointDir.resolve(Tokenizers.TOKENIZER_FILE);
                if (!Files.exists(dst) || Files.mismatch(src, dst) != -1) {
                    Path tmp = checkpointDir.resolve(Tokenizers.TOKENIZER_FILE + ".tmp");
                    Files.copy(src, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, dst, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot attach the tokenizer to " + checkpointDir + ": " + e.getMessage(), e);
        }
    }
}
