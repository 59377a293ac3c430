package mamba4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.SequencedMap;
import java.util.Set;

/**
 * The tokenizer a GGUF file carries in its {@code tokenizer.ggml.*} metadata, both ways: read, it becomes a
 * {@code tokenizer.json} (built in memory and run by the same Rust tokenizers library as every other tokenizer, see
 * {@link HfTokenizer}); written, a byte-level BPE {@code tokenizer.json} (GPT-2 / GPT-NeoX style, the tokenizer of every
 * Mamba checkpoint) or a byte-level model becomes the keys llama.cpp's converter writes.
 *
 * <p>Reading follows what llama.cpp does with the keys: {@code tokenizer.ggml.model = "gpt2"} is a byte-level BPE over
 * {@code tokens} (ids are positions) and {@code merges} ("left right", ranked by position); {@code token_type} 1
 * (normal) and 6 (byte) are the BPE vocabulary, 3 (control) special added tokens, 4 (user-defined) plain added tokens,
 * 5 (unused: the converter's {@code [PAD<id>]} padding) no token at all; text is split by GPT-2's regex (the
 * pre-tokenizer types that use it, {@link #GPT2_REGEX_PRE}) and no normalizer runs (llama.cpp applies none; GPT-NeoX's
 * tokenizer.json applies NFC, which changes only text that is not already NFC). {@code add_bos_token} prepends
 * {@code bos_token_id}. A file with {@code model = "none"} or no tokenizer has no tokenizer: pass token ids.
 */
public final class GgufTokenizer {
    private GgufTokenizer() {}

    public static final String MODEL = "tokenizer.ggml.model";
    public static final String PRE = "tokenizer.ggml.pre";
    public static final String TOKENS = "tokenizer.ggml.tokens";
    public static final String TOKEN_TYPE = "tokenizer.ggml.token_type";
    public static final String MERGES = "tokenizer.ggml.merges";
    public static final String BOS = "tokenizer.ggml.bos_token_id";
    public static final String EOS = "tokenizer.ggml.eos_token_id";
    public static final String ADD_BOS = "tokenizer.ggml.add_bos_token";
    public static final String ADD_EOS = "tokenizer.ggml.add_eos_token";

    /** gguf-py {@code TokenType}. */
    public static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

    /**
     * The {@code tokenizer.ggml.pre} names whose pre-tokenizer is GPT-2's regex alone (llama.cpp src/llama-vocab.cpp:
     * LLAMA_VOCAB_PRE_TYPE_GPT2, MPT, OLMO, JAIS, TRILLION, GRANITE_DOCLING) — what a ByteLevel pre-tokenizer with
     * {@code use_regex} does.
     */
    public static final Set<String> GPT2_REGEX_PRE = Set.of("gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling");

    /** What this writer puts in {@code tokenizer.ggml.pre} for a ByteLevel tokenizer. */
    public static final String PRE_GPT2 = "gpt-2";

    // ------------------------------------------------------------------ read

    /**
     * The tokenizer of a GGUF file: a {@link ByteTokenizer} when its vocabulary is the 256 byte tokens in byte order with
     * no merges (what mamba4j writes for a byte-level model), else an {@link HfTokenizer} over the tokenizer.json
     * {@link #tokenizerJson} builds; empty when the file has no tokenizer.
     *
     * @throws UserInputException naming the file and key when the tokenizer is of a kind mamba4j does not read or its
     *     keys are inconsistent
     */
    public static Optional<Tokenizer> load(GgufFile f) {
        Optional<byte[]> json = tokenizerJson(f);
        if (json.isEmpty()) return Optional.empty();
        OptionalInt eos = eosId(f);
        if (isByteLevel(f)) return Optional.of(new ByteTokenizer(eos));
        return Optional.of(HfTokenizer.fromJson(f.path(), json.get(), eos));
    }

    /** {@code tokenizer.ggml.eos_token_id}, checked against the vocabulary. */
    static OptionalInt eosId(GgufFile f) {
        if (!f.has(EOS)) return OptionalInt.empty();
        int eos = f.size(EOS);
        if (f.has(TOKENS) && eos >= f.array(TOKENS, GgufValueType.STRING).size())
            throw new UserInputException("GGUF file " + f.path() + ": metadata key '" + EOS + "' = " + eos + " is outside the vocabulary of "
                    + f.array(TOKENS, GgufValueType.STRING).size() + " tokens");
        return OptionalInt.of(eos);
    }

    private static boolean isByteLevel(GgufFile f) {
        GgufArray tokens = f.array(TOKENS, GgufValueType.STRING);
        if (tokens.size() != 256 || f.array(MERGES, GgufValueType.STRING).size() != 0) return false;
        List<String> t = tokens.strings();
        for (int i = 0; i < 256; i++) if (!t.get(i).equals(byteToken(i))) return false;
        if (f.has(TOKEN_TYPE)) {
            GgufArray types = f.integerArray(TOKEN_TYPE);
            for (int i = 0; i < 256; i++) if (types.getLong(i) != NORMAL) return false;
        }
        return !f.has(ADD_BOS) || !f.bool(ADD_BOS);
    }

    /**
     * The {@code tokenizer.json} equivalent of a GGUF file's vocabulary; empty when the file has none
     * ({@code tokenizer.ggml.model} absent, "none" or "no_vocab").
     */
    public static Optional<byte[]> tokenizerJson(GgufFile f) {
        Path p = f.path();
        if (!f.has(MODEL)) return Optional.empty();
        String model = f.string(MODEL);
        if (model.equals("none") || model.equals("no_vocab")) return Optional.empty();
        if (!model.equals("gpt2"))
            throw new UserInputException("GGUF file " + p + ": metadata key '" + MODEL + "' = \"" + UserFiles.oneLine(model)
                    + "\": mamba4j reads byte-level BPE vocabularies (\"gpt2\", what llama.cpp writes for Mamba's GPT-NeoX tokenizer); "
                    + "pass token ids (--prompt-ids) to run this file");
        if (f.has(PRE)) {
            String pre = f.string(PRE);
            if (!GPT2_REGEX_PRE.contains(pre))
                throw new UserInputException("GGUF file " + p + ": metadata key '" + PRE + "' = \"" + UserFiles.oneLine(pre)
                        + "\": mamba4j reads the pre-tokenizers that split with GPT-2's regex (" + String.join(", ", GPT2_REGEX_PRE.stream().sorted().toList())
                        + "); pass token ids (--prompt-ids) to run this file");
        }   // no pre key (files from before llama.cpp added it): the byte-level tokenizers those came from split with GPT-2's regex
        List<String> tokens = f.array(TOKENS, GgufValueType.STRING).strings();
        GgufArray types = f.has(TOKEN_TYPE) ? f.integerArray(TOKEN_TYPE) : null;
        if (types != null && types.size() != tokens.size())
            throw new UserInputException("GGUF file " + p + ": '" + TOKEN_TYPE + "' has " + types.size() + " entries for "
                    + tokens.size() + " tokens in '" + TOKENS + "'");
        if (!f.has(MERGES))
            throw new UserInputException("GGUF file " + p + ": no metadata key '" + MERGES + "' (a gpt2 vocabulary needs its merges)");
        List<String> merges = f.array(MERGES, GgufValueType.STRING).strings();

        JsonNodeFactory j = JsonNodeFactory.instance;
        ObjectNode vocab = j.objectNode();
        ArrayNode added = j.arrayNode();
        Map<String, Integer> normal = new HashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            String tok = tokens.get(id);
            long type = types == null ? NORMAL : types.getLong(id);
            switch ((int) type) {
                case NORMAL, BYTE, UNKNOWN -> {
                    Integer before = normal.putIfAbsent(tok, id);
                    if (before != null)
                        throw new UserInputException("GGUF file " + p + ": token " + UserFiles.printable(tok) + " appears twice in '"
                                + TOKENS + "' (ids " + before + " and " + id + ")");
                    vocab.put(tok, id);   // replaces an added token of the same text listed before it
                }
                case CONTROL, USER_DEFINED -> {
                    if (tok.isEmpty()) throw new UserInputException("GGUF file " + p + ": token " + id + " is an empty added token");
                    // the tokenizers library takes an added token's id from model.vocab (else numbers it after the
                    // vocabulary), so the id is kept there too; text that is also a normal token keeps that token's id
                    if (!vocab.has(tok)) vocab.put(tok, id);
                    ObjectNode a = added.addObject();
                    a.put("id", id).put("content", tok).put("single_word", false).put("lstrip", false).put("rstrip", false)
                            .put("normalized", type == USER_DEFINED).put("special", type == CONTROL);
                }
                case UNUSED -> { /* the converter's [PAD<id>] rows: no text maps to them */ }
                default -> throw new UserInputException("GGUF file " + p + ": '" + TOKEN_TYPE + "'[" + id + "] = " + type
                        + " is not a token type (1-6)");
            }
        }
        ArrayNode mergeList = j.arrayNode();
        for (int i = 0; i < merges.size(); i++) {
            String m = merges.get(i);
            int sp = m.indexOf(' ', 1);   // as llama.cpp splits a merge: the first space after the first character
            if (sp < 0 || sp == m.length() - 1)
                throw new UserInputException("GGUF file " + p + ": '" + MERGES + "'[" + i + "] = " + UserFiles.printable(m)
                        + " is not two tokens separated by a space");
            mergeList.addArray().add(m.substring(0, sp)).add(m.substring(sp + 1));
        }

        ObjectNode root = j.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.set("added_tokens", added);
        root.putNull("normalizer");
        root.set("pre_tokenizer", byteLevel(false, true));
        root.set("post_processor", postProcessor(f, tokens));
        root.set("decoder", byteLevel(true, true));
        ObjectNode m = root.putObject("model");
        m.put("type", "BPE").putNull("dropout").putNull("unk_token").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        m.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        m.set("vocab", vocab);
        m.set("merges", mergeList);
        try {
            return Optional.of(new ObjectMapper().writeValueAsBytes(root));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        ObjectNode n = JsonNodeFactory.instance.objectNode();
        return n.put("type", "ByteLevel").put("add_prefix_space", addPrefixSpace).put("trim_offsets", trimOffsets).put("use_regex", true);
    }

    /** BOS/EOS added as {@code add_bos_token}/{@code add_eos_token} say (llama.cpp's reading); else nothing added. */
    private static JsonNode postProcessor(GgufFile f, List<String> tokens) {
        boolean bos = f.has(ADD_BOS) && f.bool(ADD_BOS), eos = f.has(ADD_EOS) && f.bool(ADD_EOS);
        if (!bos && !eos) return byteLevel(false, false);
        JsonNodeFactory j = JsonNodeFactory.instance;
        ObjectNode t = j.objectNode().put("type", "TemplateProcessing");
        ArrayNode single = t.putArray("single"), pair = t.putArray("pair");
        ObjectNode specials = j.objectNode();
        String bosTok = bos ? special(f, BOS, ADD_BOS, tokens, specials) : null;
        String eosTok = eos ? special(f, EOS, ADD_EOS, tokens, specials) : null;
        for (ArrayNode seq : List.of(single, pair)) {
            for (String part : seq == single ? List.of("A") : List.of("A", "B")) {
                if (bosTok != null) seq.addObject().putObject("SpecialToken").put("id", bosTok).put("type_id", 0);
                seq.addObject().putObject("Sequence").put("id", part).put("type_id", 0);
                if (eosTok != null) seq.addObject().putObject("SpecialToken").put("id", eosTok).put("type_id", 0);
            }
        }
        t.set("special_tokens", specials);
        return t;
    }

    private static String special(GgufFile f, String idKey, String flagKey, List<String> tokens, ObjectNode specials) {
        if (!f.has(idKey)) throw new UserInputException("GGUF file " + f.path() + ": '" + flagKey + "' is true but there is no '" + idKey + "'");
        int id = f.size(idKey);
        if (id >= tokens.size())
            throw new UserInputException("GGUF file " + f.path() + ": metadata key '" + idKey + "' = " + id + " is outside the vocabulary of "
                    + tokens.size() + " tokens");
        String tok = tokens.get(id);
        ObjectNode s = specials.putObject(tok);
        s.put("id", tok);
        s.putArray("ids").add(id);
        s.putArray("tokens").add(tok);
        return tok;
    }

    // ------------------------------------------------------------------ write

    /**
     * The {@code tokenizer.ggml.*} keys of a byte-level BPE {@code tokenizer.json}, as llama.cpp's converter writes
     * them for a model of {@code rows} embedding rows: {@code rows} tokens (ids missing from the tokenizer as
     * {@code [PAD<id>]}, type unused), their types (an added token marked special, or looking like {@code <|…|>}, is
     * control; other added tokens user-defined; the rest normal), the merges as "left right", {@code pre = "gpt-2"},
     * the BOS/EOS ids and whether BOS is added.
     *
     * @param tokenizerConfig {@code tokenizer_config.json} beside it, or null
     * @param eos the model's end-of-sequence id, or -1
     * @throws UserInputException naming the file when it is not a byte-level BPE tokenizer, or has ids beyond {@code rows}
     */
    public static SequencedMap<String, GgufValue> fromTokenizerJson(Path tokenizerJson, Path tokenizerConfig, int rows, int eos) {
        Path p = tokenizerJson.toAbsolutePath();
        JsonNode root = UserFiles.parseJson(new ObjectMapper(), p, UserFiles.readBytes(p, UserFiles.MAX_JSON_BYTES));
        if (root == null || !root.isObject()) throw new UserInputException(p + ": expected a JSON object (a tokenizer.json)");
        JsonNode model = root.path("model");
        if (!"BPE".equals(model.path("type").asText(null)))
            throw new UserInputException(p + ": model.type is " + model.path("type") + "; GGUF export writes byte-level BPE tokenizers "
                    + "(GPT-2 / GPT-NeoX style, llama.cpp's \"gpt2\")");
        JsonNode pre = root.path("pre_tokenizer");
        if (!"ByteLevel".equals(pre.path("type").asText(null)) || !pre.path("use_regex").asBoolean(true) || pre.path("add_prefix_space").asBoolean(false))
            throw new UserInputException(p + ": pre_tokenizer is " + UserFiles.oneLine(pre.toString()) + "; GGUF export writes tokenizers whose "
                    + "pre_tokenizer is ByteLevel with GPT-2's regex and no prefix space (llama.cpp's \"gpt-2\" pre-tokenizer)");
        JsonNode norm = root.path("normalizer");
        if (!norm.isMissingNode() && !norm.isNull() && !"NFC".equals(norm.path("type").asText(null)))
            throw new UserInputException(p + ": normalizer " + UserFiles.oneLine(norm.toString()) + " has no GGUF equivalent (llama.cpp "
                    + "normalises nothing); GGUF export writes tokenizers without a normalizer, or with NFC");

        String[] tokens = new String[rows];
        int[] types = new int[rows];
        JsonNode vocab = model.path("vocab");
        if (!vocab.isObject()) throw new UserInputException(p + ": model.vocab is not an object of token → id");
        for (Map.Entry<String, JsonNode> e : vocab.properties()) {
            int id = e.getValue().asInt(-1);
            if (id < 0 || id >= rows)
                throw new UserInputException(p + ": token " + UserFiles.printable(e.getKey()) + " has id " + e.getValue()
                        + ", outside the model's " + rows + " embedding rows");
            tokens[id] = e.getKey();
            types[id] = NORMAL;
        }
        for (JsonNode a : root.path("added_tokens")) {
            int id = a.path("id").asInt(-1);
            String content = a.path("content").asText("");
            if (id < 0 || id >= rows)
                throw new UserInputException(p + ": added token " + UserFiles.printable(content) + " has id " + a.path("id")
                        + ", outside the model's " + rows + " embedding rows");
            tokens[id] = content;
            types[id] = a.path("special").asBoolean(false) || looksSpecial(content) ? CONTROL : USER_DEFINED;
        }
        List<String> tokenList = new ArrayList<>(rows);
        long[] typeList = new long[rows];
        for (int i = 0; i < rows; i++) {
            tokenList.add(tokens[i] != null ? tokens[i] : "[PAD" + i + "]");
            typeList[i] = tokens[i] != null ? types[i] : UNUSED;
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            if (m.isTextual()) merges.add(m.asText());
            else if (m.isArray() && m.size() == 2) merges.add(spaceless(m.get(0).asText()) + " " + spaceless(m.get(1).asText()));
            else throw new UserInputException(p + ": model.merges holds " + UserFiles.oneLine(m.toString()) + ", not \"a b\" or [a, b]");
        }

        JsonNode config = tokenizerConfig != null && Files.isRegularFile(tokenizerConfig) ? UserFiles.readJson(tokenizerConfig) : null;
        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < rows; i++) if (tokens[i] != null) ids.putIfAbsent(tokens[i], i);
        int bos = tokenId(config, "bos_token", ids);
        // what the tokenizer adds to every text: a leading special token of a TemplateProcessing post-processor
        boolean addBos = false;
        JsonNode post = root.path("post_processor");
        if ("TemplateProcessing".equals(post.path("type").asText(null))) {
            JsonNode first = post.path("single").path(0).path("SpecialToken").path("id");
            if (first.isTextual() && ids.containsKey(first.asText())) {
                addBos = true;
                bos = ids.get(first.asText());
            }
        }
        SequencedMap<String, GgufValue> out = new LinkedHashMap<>();
        out.put(MODEL, GgufValue.string("gpt2"));
        out.put(PRE, GgufValue.string(PRE_GPT2));
        out.put(TOKENS, GgufValue.array(GgufArray.ofStrings(tokenList)));
        out.put(TOKEN_TYPE, GgufValue.array(GgufArray.ofLongs(GgufValueType.INT32, typeList)));
        out.put(MERGES, GgufValue.array(GgufArray.ofStrings(merges)));
        if (bos >= 0) out.put(BOS, GgufValue.u32(bos));
        if (eos >= 0 && eos < rows) out.put(EOS, GgufValue.u32(eos));
        out.put(ADD_BOS, GgufValue.bool(addBos));
        out.put(ADD_EOS, GgufValue.bool(false));
        return out;
    }

    /** The keys for a byte-level model (ids are UTF-8 bytes): the 256 byte tokens in byte order, no merges. */
    public static SequencedMap<String, GgufValue> byteLevel(int eos) {
        List<String> tokens = new ArrayList<>(256);
        long[] types = new long[256];
        for (int b = 0; b < 256; b++) {
            tokens.add(byteToken(b));
            types[b] = NORMAL;
        }
        SequencedMap<String, GgufValue> out = new LinkedHashMap<>();
        out.put(MODEL, GgufValue.string("gpt2"));
        out.put(PRE, GgufValue.string(PRE_GPT2));
        out.put(TOKENS, GgufValue.array(GgufArray.ofStrings(tokens)));
        out.put(TOKEN_TYPE, GgufValue.array(GgufArray.ofLongs(GgufValueType.INT32, types)));
        out.put(MERGES, GgufValue.array(GgufArray.ofStrings(List.of())));
        if (eos >= 0 && eos < 256) out.put(EOS, GgufValue.u32(eos));
        out.put(ADD_BOS, GgufValue.bool(false));
        out.put(ADD_EOS, GgufValue.bool(false));
        return out;
    }

    /** The keys of a model without a tokenizer (llama.cpp's "none" vocabulary). */
    public static SequencedMap<String, GgufValue> none() {
        SequencedMap<String, GgufValue> out = new LinkedHashMap<>();
        out.put(MODEL, GgufValue.string("none"));
        return out;
    }

    /** The converter's test for added tokens that are special though not marked so ({@code <|…|>}, {@code <pad>}, …). */
    static boolean looksSpecial(String t) {
        return t.equals("<pad>") || t.equals("<mask>") || t.equals("<2mass>") || t.equals("[@BOS@]")
                || (t.startsWith("<|") && t.endsWith("|>")) || (t.startsWith("<｜") && t.endsWith("｜>"))
                || (t.startsWith("<unused") && t.endsWith(">"));
    }

    /** A space inside one side of a pair merge, written as U+0120 as gguf-py does (a merge string has one separating space). */
    private static String spaceless(String s) { return s.replace(' ', '\u0120'); }

    private static int tokenId(JsonNode config, String key, Map<String, Integer> ids) {
        if (config == null) return -1;
        JsonNode t = config.path(key);
        String s = t.isTextual() ? t.asText() : t.path("content").isTextual() ? t.path("content").asText() : null;
        Integer id = s == null ? null : ids.get(s);
        return id == null ? -1 : id;
    }

    /**
     * The token GPT-2's byte-level alphabet gives byte {@code b}: printable Latin-1 bytes ('!'–'~', '¡'–'¬', '®'–'ÿ')
     * stand for themselves, the other 68 bytes for U+0100 onwards in byte order (OpenAI gpt-2 encoder.py
     * {@code bytes_to_unicode}, which HF's ByteLevel and llama.cpp use).
     */
    public static String byteToken(int b) {
        if ((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)) return String.valueOf((char) b);
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff))) n++;
        return String.valueOf((char) (256 + n));
    }
}
