package mamba4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.UserInputException;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.OptionalInt;
import java.util.SequencedMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The tokenizer a GGUF file carries: GPT-NeoX-20B's tokenizer.json (every Mamba checkpoint's) written as llama.cpp's
 * converter writes it and read back tokenizes exactly as the tokenizer.json itself — and as transformers, on the golden
 * texts; byte-level models travel as 256 byte tokens; what mamba4j cannot read is refused naming the key.
 */
class GgufTokenizerTest {
    @TempDir Path dir;

    static final Path NEOX = Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json");

    private Path gguf(String name, SequencedMap<String, GgufValue> tokenizerKeys) {
        SequencedMap<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("mamba"));
        m.putAll(tokenizerKeys);
        Path p = dir.resolve(name);
        GgufWriter.write(p, m, List.of());
        return p;
    }

    @Test
    void neoxVocabularyIsWrittenAsTheConverterWritesIt() {
        SequencedMap<String, GgufValue> keys = GgufTokenizer.fromTokenizerJson(NEOX, null, 50288, 0);
        try (GgufFile f = GgufFile.open(gguf("neox.gguf", keys))) {
            assertEquals("gpt2", f.string(GgufTokenizer.MODEL));
            assertEquals("gpt-2", f.string(GgufTokenizer.PRE));
            List<String> tokens = f.array(GgufTokenizer.TOKENS, GgufValueType.STRING).strings();
            GgufArray types = f.array(GgufTokenizer.TOKEN_TYPE, GgufValueType.INT32);
            assertEquals(50288, tokens.size(), "one token per embedding row (mamba2-130m's 50288: the vocabulary padded to the model)");
            assertEquals("<|endoftext|>", tokens.get(0));
            assertEquals(GgufTokenizer.CONTROL, types.getLong(0), "special added token");
            assertEquals("Ġthe", tokens.get(253));
            assertEquals(GgufTokenizer.NORMAL, types.getLong(253));
            assertEquals(" ".repeat(24), tokens.get(50254), "a normalized added token keeps its text");
            assertEquals(GgufTokenizer.USER_DEFINED, types.getLong(50254));
            assertEquals("RWKV", tokens.get(50280));
            assertEquals(GgufTokenizer.CONTROL, types.getLong(50280));
            assertEquals("[PAD50281]", tokens.get(50281));
            assertEquals(GgufTokenizer.UNUSED, types.getLong(50281));
            List<String> merges = f.array(GgufTokenizer.MERGES, GgufValueType.STRING).strings();
            assertEquals(50009, merges.size());
            assertEquals("Ġ Ġ", merges.get(0));
            assertEquals(0, f.size(GgufTokenizer.EOS));
            assertFalse(f.bool(GgufTokenizer.ADD_BOS), "GPT-NeoX adds no BOS");
        }
    }

    @Test
    void readBackItTokenizesAsTransformersAndTheTokenizerJson() throws IOException {
        Path p = gguf("neox.gguf", GgufTokenizer.fromTokenizerJson(NEOX, null, 50288, 0));
        JsonNode golden = new ObjectMapper().readTree(Repo.golden().resolve("tokenizer/gpt-neox-20b.json").toFile());
        List<String> extra = List.of(
                Files.readString(Repo.root().resolve("data/austen.txt")).substring(100_000, 104_000),
                "def f(x):\n\treturn x**2  # squared\n\n\n", "<|endoftext|>Hello<|padding|> world" + " ".repeat(30) + "end",
                "Ünïcödé 🙂 東京 — naïve façade");
        try (GgufFile f = GgufFile.open(p); Tokenizer fromGguf = GgufTokenizer.load(f).orElseThrow();
             HfTokenizer original = HfTokenizer.open(NEOX)) {
            assertInstanceOf(HfTokenizer.class, fromGguf);
            assertEquals(OptionalInt.of(0), fromGguf.eosTokenId());
            assertEquals(50281, fromGguf.vocabSize(), "ids up to the last real token; the [PAD] rows are no tokens");
            int cases = 0;
            for (JsonNode c : golden.path("cases")) {
                String text = c.path("text").asText();
                int[] want = new int[c.path("ids").size()];
                for (int i = 0; i < want.length; i++) want[i] = c.path("ids").get(i).asInt();
                assertArrayEquals(want, fromGguf.encode(text), "transformers' ids for " + c.path("source").asText());
                assertEquals(text, fromGguf.decode(want));
                cases++;
            }
            assertTrue(cases >= 10, cases + " golden cases");
            for (String text : extra) {
                assertArrayEquals(original.encode(text), fromGguf.encode(text), text.substring(0, Math.min(30, text.length())));
                assertEquals(text, fromGguf.decode(fromGguf.encode(text)));
            }
        }
    }

    @Test
    void byteLevelModelsTravelAsByteTokens() {
        assertEquals("Ġ", GgufTokenizer.byteToken(' '));
        assertEquals("Ċ", GgufTokenizer.byteToken('\n'));
        assertEquals("a", GgufTokenizer.byteToken('a'));
        assertEquals("Ā", GgufTokenizer.byteToken(0));
        assertEquals("ÿ", GgufTokenizer.byteToken(0xff));
        Path p = gguf("bytes.gguf", GgufTokenizer.byteLevel(-1));
        try (GgufFile f = GgufFile.open(p); Tokenizer t = GgufTokenizer.load(f).orElseThrow()) {
            assertInstanceOf(ByteTokenizer.class, t);
            String s = "héllo\n🙂";
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            int[] ids = t.encode(s);
            for (int i = 0; i < utf8.length; i++) assertEquals(utf8[i] & 0xff, ids[i]);
            // the same vocabulary as a BPE over the byte alphabet gives the same ids: what llama.cpp computes
            try (HfTokenizer bpe = HfTokenizer.fromJson(p, GgufTokenizer.tokenizerJson(f).orElseThrow(), OptionalInt.empty())) {
                assertArrayEquals(ids, bpe.encode(s));
                assertEquals(s, bpe.decode(ids));
            }
        }
    }

    @Test
    void noVocabularyMeansNoTokenizer() {
        try (GgufFile f = GgufFile.open(gguf("none.gguf", GgufTokenizer.none()))) {
            assertTrue(GgufTokenizer.load(f).isEmpty());
        }
        try (GgufFile f = GgufFile.open(gguf("absent.gguf", new LinkedHashMap<>()))) {
            assertTrue(GgufTokenizer.load(f).isEmpty());
        }
    }

    @Test
    void addBosTokenPrependsIt() {
        SequencedMap<String, GgufValue> keys = GgufTokenizer.byteLevel(-1);
        keys.put(GgufTokenizer.BOS, GgufValue.u32(2));
        keys.put(GgufTokenizer.ADD_BOS, GgufValue.bool(true));
        try (GgufFile f = GgufFile.open(gguf("bos.gguf", keys)); Tokenizer t = GgufTokenizer.load(f).orElseThrow()) {
            assertInstanceOf(HfTokenizer.class, t, "adding a BOS is not the plain byte tokenizer");
            assertArrayEquals(new int[] {2, 'h', 'i'}, t.encode("hi"));
        }
    }

    @Test
    void whatCannotBeReadIsNamed() {
        SequencedMap<String, GgufValue> spm = new LinkedHashMap<>();
        spm.put(GgufTokenizer.MODEL, GgufValue.string("llama"));
        assertLoadFails(gguf("spm.gguf", spm), "'tokenizer.ggml.model' = \"llama\"");
        SequencedMap<String, GgufValue> pre = GgufTokenizer.byteLevel(-1);
        pre.put(GgufTokenizer.PRE, GgufValue.string("llama-bpe"));
        assertLoadFails(gguf("pre.gguf", pre), "'tokenizer.ggml.pre' = \"llama-bpe\"");
        SequencedMap<String, GgufValue> dup = GgufTokenizer.byteLevel(-1);
        dup.put(GgufTokenizer.TOKENS, GgufValue.array(GgufArray.ofStrings(List.of("a", "b", "a"))));
        dup.put(GgufTokenizer.TOKEN_TYPE, GgufValue.array(GgufArray.ofLongs(GgufValueType.INT32, 1, 1, 1)));
        assertLoadFails(gguf("dup.gguf", dup), "token 'a' appears twice", "ids 0 and 2");
        SequencedMap<String, GgufValue> merge = GgufTokenizer.byteLevel(-1);
        merge.put(GgufTokenizer.MERGES, GgufValue.array(GgufArray.ofStrings(List.of("ab"))));
        assertLoadFails(gguf("merge.gguf", merge), "'tokenizer.ggml.merges'[0] = 'ab' is not two tokens");
        SequencedMap<String, GgufValue> types = GgufTokenizer.byteLevel(-1);
        types.put(GgufTokenizer.TOKEN_TYPE, GgufValue.array(GgufArray.ofLongs(GgufValueType.INT32, 1)));
        assertLoadFails(gguf("types.gguf", types), "has 1 entries for 256 tokens");
        SequencedMap<String, GgufValue> eos = GgufTokenizer.byteLevel(-1);
        eos.put(GgufTokenizer.EOS, GgufValue.u32(999));
        assertLoadFails(gguf("eos.gguf", eos), "'tokenizer.ggml.eos_token_id' = 999 is outside the vocabulary of 256");
        SequencedMap<String, GgufValue> bos = GgufTokenizer.byteLevel(-1);
        bos.put(GgufTokenizer.ADD_BOS, GgufValue.bool(true));
        assertLoadFails(gguf("bos.gguf", bos), "'tokenizer.ggml.add_bos_token' is true but there is no 'tokenizer.ggml.bos_token_id'");
        SequencedMap<String, GgufValue> type = GgufTokenizer.byteLevel(-1);
        type.put(GgufTokenizer.TOKENS, GgufValue.u32(5));
        assertLoadFails(gguf("type.gguf", type), "'tokenizer.ggml.tokens' is UINT32 5, expected an ARRAY of STRING");
    }

    @Test
    void exportRefusesWhatLlamaCppCannotRun() throws IOException {
        Path wl = dir.resolve("wordlevel.json");
        Files.writeString(wl, "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
        UserInputException e = assertThrows(UserInputException.class, () -> GgufTokenizer.fromTokenizerJson(wl, null, 10, -1));
        assertTrue(e.getMessage().contains(wl.toString()) && e.getMessage().contains("model.type is \"WordLevel\""), e.getMessage());
        e = assertThrows(UserInputException.class, () -> GgufTokenizer.fromTokenizerJson(NEOX, null, 50280, 0));
        assertTrue(e.getMessage().contains("added token 'RWKV' has id 50280, outside the model's 50280 embedding rows"), e.getMessage());
    }

    private static void assertLoadFails(Path p, String... fragments) {
        try (GgufFile f = GgufFile.open(p)) {
            UserInputException e = assertThrows(UserInputException.class, () -> GgufTokenizer.load(f).ifPresent(Tokenizer::close));
            assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
            for (String s : fragments) assertTrue(e.getMessage().contains(s), "<" + s + "> in " + e.getMessage());
        }
    }
}
