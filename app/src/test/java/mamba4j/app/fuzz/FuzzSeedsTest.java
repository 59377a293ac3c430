package mamba4j.app.fuzz;

import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.io.Safetensors;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.nn.TrainSettings;
import mamba4j.nn.TrainerState;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed seed corpora of the fuzz targets ({@code src/test/resources/mamba4j/app/fuzz/<Target>Inputs/<method>/}):
 * every target has seeds, and each seed is a valid input that its reader accepts (so fuzzing starts from deep inside
 * the format). {@code -Dmamba4j.fuzz.writeSeeds=true} rewrites them from the real files and code they come from.
 */
class FuzzSeedsTest {
    static final Path ROOT = Path.of("src/test/resources/mamba4j/app/fuzz");
    static final Path REPO = Path.of(System.getProperty("mamba4j.repo", ".."));
    static final List<String> TARGETS = List.of("SafetensorsFuzzTestInputs/single", "ShardedCheckpointFuzzTestInputs/sharded",
            "ConfigFuzzTestInputs/configJson", "TokenizerFuzzTestInputs/tokenizer", "PlanFuzzTestInputs/plan",
            "PresetFuzzTestInputs/preset", "TrainerStateFuzzTestInputs/trainerState", "GgufFuzzTestInputs/gguf");

    @Test
    void everyTargetHasSeedsItsReaderAccepts() throws IOException {
        if (Boolean.getBoolean("mamba4j.fuzz.writeSeeds")) writeSeeds();
        for (String t : TARGETS) {
            Path d = ROOT.resolve(t);
            assertTrue(Files.isDirectory(d), "no seed corpus " + d);
            try (Stream<Path> s = Files.list(d)) {
                List<Path> seeds = s.toList();
                assertTrue(seeds.size() >= 2, d + " holds " + seeds.size() + " seeds");
            }
        }
        // valid seeds go through without error (the targets only tolerate UserInputException; here none at all)
        try (Stream<Path> s = Files.list(ROOT.resolve("PlanFuzzTestInputs/plan"))) {
            for (Path p : seeds(s)) new PlanFuzzTest().plan(Files.readAllBytes(p));
        }
        mamba4j.nn.TrainerState.read(ROOT.resolve("TrainerStateFuzzTestInputs/trainerState/seed-valid"));
        try (Stream<Path> s = Files.list(ROOT.resolve(TARGETS.get(7)))) {
            for (Path p : seeds(s))
                try (mamba4j.io.GgufFile f = mamba4j.io.GgufFile.open(p)) {
                    for (String n : f.tensorNames()) f.get(n);
                    mamba4j.io.GgufTokenizer.load(f).ifPresent(mamba4j.io.Tokenizer::close);
                    if (f.value("general.architecture").map(v -> v.asString().startsWith("mamba")).orElse(false))
                        mamba4j.models.Models.load(p, mamba4j.core.Backends.reference()).close();
                }
        }
        try (Stream<Path> s = Files.list(ROOT.resolve("PresetFuzzTestInputs/preset"))) {
            for (Path p : seeds(s)) mamba4j.app.PresetAccess.read(p);
        }
    }

    /** The seeds (valid inputs), not the crash-* regression inputs beside them. */
    private static List<Path> seeds(Stream<Path> s) {
        return s.filter(p -> p.getFileName().toString().startsWith("seed-")).toList();
    }

    private static void put(String target, String name, byte[] bytes) throws IOException {
        Path d = ROOT.resolve(target);
        Files.createDirectories(d);
        Files.write(d.resolve(name), bytes);
    }

    private static byte[] join(byte[]... parts) {
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) o.writeBytes(Fuzz.SEPARATOR);
            o.writeBytes(parts[i]);
        }
        return o.toByteArray();
    }

    private static byte[] utf8(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    private static byte[] safetensors(Map<String, Tensor> tensors, Map<String, String> meta) throws IOException {
        Path f = Files.createTempFile("seed", ".safetensors");
        try {
            Safetensors.write(f, new LinkedHashMap<>(tensors), meta);
            return Files.readAllBytes(f);
        } finally {
            Files.deleteIfExists(f);
        }
    }

    static void writeGgufSeeds(String target) throws IOException {
        mamba4j.core.Backend cpu = Backends.get("cpu");
        Path m1 = Files.createTempFile("seed", ".gguf"), m2 = Files.createTempFile("seed", ".gguf"), any = Files.createTempFile("seed", ".gguf");
        try {
            Mamba1Config c1 = new Mamba1Config(256, 256, 16, 4, 2, 2, 4, 1, false, true, 1e-5, false, 0);
            mamba4j.models.gguf.MambaGguf.write(Mamba1Init.random(c1, DType.F32, 1, cpu), m1, DType.F16, mamba4j.io.GgufTokenizer.byteLevel(0), "seed");
            // the same file with one out_proj as Q8_0 blocks (rows of E = 32 elements: one block each)
            try (mamba4j.io.GgufFile f = mamba4j.io.GgufFile.open(m1)) {
                java.util.List<mamba4j.io.GgufWriter.Entry> t = new java.util.ArrayList<>();
                for (String n : f.tensorNames()) {
                    Tensor v = f.get(n).copy();
                    if (n.equals("blk.1.ssm_out.weight")) {
                        byte[] q = mamba4j.io.GgufQuant.quantizeQ8_0(v.toFloatArray());
                        t.add(new mamba4j.io.GgufWriter.Entry(n, mamba4j.io.GgufType.Q8_0, v.shape().dims(), () -> java.lang.foreign.MemorySegment.ofArray(q)));
                    } else t.add(mamba4j.io.GgufWriter.Entry.of(n, v));
                }
                mamba4j.io.GgufWriter.write(any, new LinkedHashMap<>(f.metadata()), t);
            }
            put(target, "seed-mamba1-bytes-q8", Files.readAllBytes(any));
            mamba4j.models.mamba2.Mamba2Config c2 = new mamba4j.models.mamba2.Mamba2Config(8, 8, 8, 4, 2, 2, 2, 8, 4, false, true, 1e-5, true,
                    0, Double.POSITIVE_INFINITY, 256, 1, 0, true);
            var vocab = new LinkedHashMap<String, mamba4j.io.GgufValue>();
            vocab.put(mamba4j.io.GgufTokenizer.MODEL, mamba4j.io.GgufValue.string("gpt2"));
            vocab.put(mamba4j.io.GgufTokenizer.PRE, mamba4j.io.GgufValue.string("gpt-2"));
            vocab.put(mamba4j.io.GgufTokenizer.TOKENS, mamba4j.io.GgufValue.array(mamba4j.io.GgufArray.ofStrings(
                    List.of("I", "t", "i", "s", "Ġ", "It", "is", "<|endoftext|>"))));
            vocab.put(mamba4j.io.GgufTokenizer.TOKEN_TYPE, mamba4j.io.GgufValue.array(mamba4j.io.GgufArray.ofLongs(
                    mamba4j.io.GgufValueType.INT32, 1, 1, 1, 1, 1, 1, 1, 3)));
            vocab.put(mamba4j.io.GgufTokenizer.MERGES, mamba4j.io.GgufValue.array(mamba4j.io.GgufArray.ofStrings(List.of("I t", "i s"))));
            vocab.put(mamba4j.io.GgufTokenizer.EOS, mamba4j.io.GgufValue.u32(7));
            vocab.put(mamba4j.io.GgufTokenizer.ADD_BOS, mamba4j.io.GgufValue.bool(false));
            mamba4j.models.gguf.MambaGguf.write(mamba4j.models.mamba2.Mamba2Init.random(c2, DType.F32, 2, cpu), m2, DType.BF16, vocab, "seed");
            put(target, "seed-mamba2-gpt2-vocab", Files.readAllBytes(m2));
            var meta = new LinkedHashMap<String, mamba4j.io.GgufValue>();
            meta.put("general.architecture", mamba4j.io.GgufValue.string("test"));
            meta.put("general.alignment", mamba4j.io.GgufValue.u32(64));
            meta.put("t.u8", mamba4j.io.GgufValue.u8(200));
            meta.put("t.i16", mamba4j.io.GgufValue.i16(-3));
            meta.put("t.u64", mamba4j.io.GgufValue.u64(-1));
            meta.put("t.f64", mamba4j.io.GgufValue.f64(0.5));
            meta.put("t.bools", mamba4j.io.GgufValue.array(mamba4j.io.GgufArray.ofBools(true, false)));
            meta.put("t.nested", mamba4j.io.GgufValue.array(mamba4j.io.GgufArray.ofArrays(List.of(
                    mamba4j.io.GgufArray.ofStrings(List.of("a")), mamba4j.io.GgufArray.ofDoubles(mamba4j.io.GgufValueType.FLOAT32, 1.5)))));
            byte[] q4 = new byte[18];
            mamba4j.io.GgufWriter.write(any, meta, List.of(
                    mamba4j.io.GgufWriter.Entry.of("h", Tensor.of(new float[] {1, -2, 3}, 3).to(DType.F16)),
                    mamba4j.io.GgufWriter.Entry.of("b", Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).to(DType.BF16)),
                    new mamba4j.io.GgufWriter.Entry("q", mamba4j.io.GgufType.Q4_0, new long[] {32}, () -> java.lang.foreign.MemorySegment.ofArray(q4))));
            put(target, "seed-every-type", Files.readAllBytes(any));
        } finally {
            Files.deleteIfExists(m1);
            Files.deleteIfExists(m2);
            Files.deleteIfExists(any);
        }
    }

    static void writeSeeds() throws IOException {
        // safetensors: each dtype, metadata, an empty tensor, a scalar
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("w", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        t.put("ids", Tensor.ofLongs(new long[] {1, 2, 3}, 1, 3));
        t.put("h", Tensor.of(new float[] {0.5f, -1}, 2).to(DType.BF16));
        t.put("g", Tensor.of(new float[] {0.25f, 8}, 2).to(DType.F16));
        put(TARGETS.get(0), "seed-dtypes", safetensors(t, Map.of("format", "pt")));
        put(TARGETS.get(0), "seed-empty", safetensors(Map.of(), null));
        put(TARGETS.get(0), "seed-scalar-and-zero", safetensors(Map.of("s", Tensor.of(new float[] {7f}), "z", Tensor.zeros(DType.F32, 0, 4)), Map.of()));
        put(TARGETS.get(0), "seed-golden-input", Files.readAllBytes(REPO.resolve("testdata/golden/mamba1/tied/input.safetensors")));

        // sharded: an index over two shards (valid), a shard name leaving the folder, a NUL in a name
        byte[] s1 = safetensors(Map.of("a", Tensor.of(new float[] {1, 2}, 2)), Map.of("format", "pt"));
        byte[] s2 = safetensors(Map.of("b", Tensor.of(new float[] {3}, 1)), Map.of("format", "pt"));
        String index = "{\"metadata\": {\"total_size\": 12}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\"}}";
        put(TARGETS.get(1), "seed-valid", join(utf8(index), s1, s2));
        put(TARGETS.get(1), "seed-dotdot", join(utf8(index.replace("\"model-00001-of-00002", "\"../secret")), s1, s2));
        put(TARGETS.get(1), "seed-absolute", join(utf8(index.replace("\"model-00002-of-00002", "\"/etc/passwd\", \"c\": \"model-00002-of-00002")), s1, s2));
        put(TARGETS.get(1), "seed-golden-index", join(Files.readAllBytes(REPO.resolve("testdata/golden/mamba1/untied_bias_sharded/model.safetensors.index.json")), s1, s2));

        // config.json of each dialect (the golden checkpoints'), one with its (tiny) weights
        for (String g : List.of("mamba1/tied", "mamba1/orig_layout", "mamba2/g1_tied", "phi/partial_rotary", "llama/gqa_untied", "gpt2/tied"))
            put(TARGETS.get(2), "seed-" + g.replace('/', '-'), Files.readAllBytes(REPO.resolve("testdata/golden").resolve(g).resolve("config.json")));
        Path tiny = Files.createTempDirectory("seed-model");
        Mamba1Saver.save(Mamba1Init.random(new Mamba1Config(8, 8, 4, 2, 1, 2, 2, 1, false, true, 1e-5, true, 0), DType.F32, 1,
                Backends.get("cpu")), tiny);
        put(TARGETS.get(2), "seed-mamba1-with-weights", join(Files.readAllBytes(tiny.resolve("config.json")), Files.readAllBytes(tiny.resolve("model.safetensors"))));
        put(TARGETS.get(2), "seed-mamba2-original", utf8("{\"d_model\": 64, \"d_intermediate\": 0, \"n_layer\": 2, \"vocab_size\": 50, \"ssm_cfg\": {\"layer\": \"Mamba2\", \"d_state\": 16, \"headdim\": 16, \"ngroups\": 1}, \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true, \"pad_vocab_size_multiple\": 8, \"tie_embeddings\": true}"));
        put(TARGETS.get(2), "seed-phi-mamba", utf8("{\"model_type\": \"phi-mamba\", \"vocab_size\": 64}"));

        // tokenizer.json: a word-level and a BPE vocabulary, with the eos from tokenizer_config.json or config.json
        String wordLevel = "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<eos>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],"
                + " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"post_processor\": null, \"decoder\": null,"
                + " \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"<eos>\": 0, \"It\": 1, \"is\": 2, \"a\": 3, \"truth\": 4, \"<unk>\": 5}, \"unk_token\": \"<unk>\"}}";
        String bpe = "{\"version\": \"1.0\", \"added_tokens\": [], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
                + " \"post_processor\": null, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},"
                + " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false,"
                + " \"vocab\": {\"I\": 0, \"t\": 1, \"i\": 2, \"s\": 3, \"Ġ\": 4, \"It\": 5, \"is\": 6, \"Ġis\": 7}, \"merges\": [\"I t\", \"i s\", \"Ġ is\"]}}";
        put(TARGETS.get(3), "seed-wordlevel-eos-config", join(utf8(wordLevel), utf8("{\"eos_token\": \"<eos>\"}"), new byte[0]));
        put(TARGETS.get(3), "seed-wordlevel-eos-object", join(utf8(wordLevel), utf8("{\"eos_token\": {\"content\": \"<eos>\"}}"), new byte[0]));
        put(TARGETS.get(3), "seed-bpe-eos-id", join(utf8(bpe), new byte[0], utf8("{\"model_type\": \"mamba\", \"eos_token_id\": [7, 0]}")));

        // plans and presets: the built-in ones
        for (String dir : List.of("plans", "presets"))
            for (String name : switch (dir) {
                case "plans" -> List.of("demo", "demo-hybrid", "stage3-only", "stages-2-3");
                default -> List.of("selective-copying", "induction-heads", "austen-bytes", "phi-austen-bytes", "llama-austen-bytes");
            })
                try (InputStream in = FuzzSeedsTest.class.getResourceAsStream("/" + dir + "/" + name + ".json")) {
                    put(dir.equals("plans") ? TARGETS.get(4) : TARGETS.get(5), "seed-" + name, in.readAllBytes());
                }

        // GGUF: a Mamba-1 (byte-level vocabulary, untied head, a Q8_0 matrix) and a Mamba-2 (gpt2 vocabulary with merges)
        // as mamba4j writes them for llama.cpp, and a file of every metadata type with F16/BF16/Q4_0 tensors
        writeGgufSeeds(TARGETS.get(7));

        // trainer.json: as a run writes it, and at its first step
        Path tj = Files.createTempFile("trainer", ".json");
        new TrainerState(250, 250, 0x5eed1234abcdL, 1, 0, 1_024_000, 12.5, TrainSettings.DEFAULTS).write(tj);
        put(TARGETS.get(6), "seed-valid", Files.readAllBytes(tj));
        new TrainerState(0, 0, -7, 0, 0, 0, 0, TrainSettings.DEFAULTS).write(tj);
        put(TARGETS.get(6), "seed-start", Files.readAllBytes(tj));
        Files.delete(tj);
    }
}
