package mamba4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.UserInputException;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.*;

/** The GPT-NeoX-20B tokenizer (used by every Mamba checkpoint) through DJL's Rust tokenizers. */
class HfTokenizerTest {
    static final String PARAGRAPH = """
            The Mamba architecture replaces attention with a selective state space model: the parameters \
            Δ, B and C depend on the input, so the recurrence can choose what to remember and what to forget. \
            Inference runs in constant memory per token — no key/value cache grows with the context.

            Tokenizers must round-trip everything: "quotes", numbers like 3.14159 and 1,000,000, \
            code such as `for (int i = 0; i < n; i++) { sum += x[i]; }`, accents (naïve café, Zürich), \
            CJK (状态空间模型), emoji 🐍🎉, tabs\tand   runs of   spaces, and trailing whitespace.  \n""";

    static Path tokenizerFile;
    static HfTokenizer tok;

    @BeforeAll
    static void load() {
        tokenizerFile = Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json");
        assertTrue(Files.isRegularFile(tokenizerFile), "missing " + tokenizerFile + " (committed under testdata/tokenizers)");
        tok = HfTokenizer.open(tokenizerFile);
    }

    @AfterAll
    static void close() { tok.close(); }

    @Test
    void paragraphRoundTrips() {
        int[] ids = tok.encode(PARAGRAPH);
        assertTrue(ids.length > 100 && ids.length < PARAGRAPH.length(), "BPE merges: " + ids.length + " ids");
        assertEquals(PARAGRAPH, tok.decode(ids));
    }

    @Test
    void longTextIsNotTruncated() {
        String text = PARAGRAPH.repeat(40);           // ~8000 tokens, far past DJL's default 512
        int[] ids = tok.encode(text);
        assertTrue(ids.length > 4000, "got " + ids.length + " ids");
        assertEquals(text, tok.decode(ids));
        int[] one = tok.encode(PARAGRAPH);
        assertArrayEquals(one, Arrays.copyOf(ids, one.length));
    }

    @Test
    void idsMatchTheVocabularyAndNoSpecialTokensAreAdded() throws IOException {
        JsonNode vocab = new ObjectMapper().readTree(tokenizerFile.toFile()).path("model").path("vocab");
        int hello = vocab.get("Hello").intValue(), world = vocab.get("\u0120world").intValue(); // Ġ marks a leading space
        assertArrayEquals(new int[] {hello, world}, tok.encode("Hello world"),
                "GPT-NeoX's post-processor adds no BOS/EOS, as transformers' tokenizer(text)");
        assertArrayEquals(new int[0], tok.encode(""));
        // ids 0..50253 from BPE, added tokens up to 50276 as in EleutherAI/gpt-neox-20b, and this copy has four more
        // special tokens (<|im_start|>, <|im_end|>, assistant, RWKV = 50277..50280): len(tokenizer) = 50281
        assertEquals(50281, tok.vocabSize());
        assertEquals(OptionalInt.of(50278), tok.tokenId("<|im_end|>"));
        assertEquals(OptionalInt.of(0), tok.tokenId("<|endoftext|>"));
    }

    @Test
    void specialTokensDecodeUnlessSkipped() {
        int[] ids = tok.encode("Hi<|endoftext|>");
        assertEquals(0, ids[ids.length - 1], "special token text maps to its id");
        assertEquals("Hi<|endoftext|>", tok.decode(ids));
        assertEquals("Hi", tok.decode(ids, true));
    }

    @Test
    void streamingMatchesWholeDecodeAcrossSplitCharacters() {
        int[] ids = tok.encode(PARAGRAPH);
        List<String> pieces = StreamingDecoderTest.stream(tok, ids);
        assertTrue(pieces.stream().filter(String::isEmpty).count() > 0,
                "some CJK/emoji characters span several byte tokens and are held back");
    }

    @Test
    void loadFindsEosAndExplainsAMissingTokenizer(@TempDir Path dir) throws IOException {
        UserInputException e = assertThrows(UserInputException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("tokenizer.json")
                && e.getMessage().contains("--prompt-ids"), e.getMessage());

        Files.copy(tokenizerFile, dir.resolve("tokenizer.json"));
        try (HfTokenizer t = Tokenizers.load(dir)) {
            assertEquals(OptionalInt.empty(), t.eosTokenId());
        }
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": {\"content\": \"<|endoftext|>\", \"special\": true}}");
        try (HfTokenizer t = Tokenizers.load(dir)) {
            assertEquals(OptionalInt.of(0), t.eosTokenId());
        }
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"mamba\", \"eos_token_id\": [50276, 0]}");
        try (HfTokenizer t = Tokenizers.load(dir)) {
            assertEquals(OptionalInt.of(50276), t.eosTokenId(), "config.json wins over tokenizer_config.json");
        }
        Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 60000}");
        e = assertThrows(UserInputException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().contains("60000") && e.getMessage().contains("tokenizer.json"), e.getMessage());
    }

    @Test
    void brokenTokenizerFileIsNamed(@TempDir Path dir) throws IOException {
        Path bad = dir.resolve("tokenizer.json");
        Files.writeString(bad, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"version\": \"1.0\"}");
        UserInputException e = assertThrows(UserInputException.class, () -> HfTokenizer.open(bad));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("cannot load"), e.getMessage());
        Files.writeString(bad, "not json");
        e = assertThrows(UserInputException.class, () -> HfTokenizer.open(bad));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("not valid JSON"), e.getMessage());
    }
}
