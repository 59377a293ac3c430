package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.io.Checksums;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.GgufValue;
import mamba4j.io.GgufWriter;
import mamba4j.io.HfTokenizer;
import mamba4j.io.JsonConfig;
import mamba4j.models.Models;
import mamba4j.models.Trace;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code convert}: copies in another dtype or layout and GGUF files, each loading to the model it came from; the input
 * never changes; every refusal is one named line with exit status 2.
 */
class ConvertCommandTest {
    @TempDir Path dir;
    static final Backend CPU = Backends.get("cpu");
    static final Path TIED = Repo.golden().resolve("mamba1/tied");
    static final int[][] IDS = {{107, 170, 70, 180, 4, 15, 56}, {1, 2, 3, 4, 5, 6, 7}};

    static final int[][] SMALL_IDS = {{1, 5, 9, 33, 2, 60, 7}, {4, 4, 4, 8, 16, 32, 59}};   // inside every golden vocabulary

    static float[] logits(Path model) { return logits(model, IDS); }

    static float[] logits(Path model, int[][] ids) {
        try (Models.Loaded l = Models.load(model, CPU)) {
            return l.model().forward(ids, Trace.NONE).toFloatArray();
        }
    }

    static Map<String, String> hashes(Path folder) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(folder)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(folder.relativize(p).toString(), Checksums.sha256(p));
        }
        return m;
    }

    private static void ok(Cli r) { assertEquals(0, r.status(), r.err()); }

    private static void refused(Cli r, String... fragments) {
        assertEquals(2, r.status(), r.out() + r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, "one line: " + r.err());
        for (String f : fragments) assertTrue(r.err().contains(f), "<" + f + "> in " + r.err());
    }

    @Test
    void aBf16CopyCarriesWhatTransformersLoadsAndChecksums() throws IOException {
        Map<String, String> before = hashes(TIED);
        Path out = dir.resolve("bf16");
        ok(Cli.run("convert", "--model", TIED.toString(), "--out", out.toString(), "--dtype", "bf16"));
        assertEquals(before, hashes(TIED), "the input is untouched");
        assertTrue(Files.isRegularFile(out.resolve("generation_config.json")), "generation settings travel");
        assertFalse(Files.exists(out.resolve("expected.safetensors")), "only the model's files: " + hashes(out).keySet());
        Checksums.verify(out);
        JsonConfig c = JsonConfig.read(out.resolve("config.json"));
        assertEquals("bfloat16", c.string("dtype"));
        assertEquals(0, c.integer("bos_token_id"), "the source config's other keys are kept");
        try (Models.Loaded l = Models.load(out, CPU)) {
            assertEquals(DType.BF16, l.checkpoint().dtype("backbone.layers.0.mixer.in_proj.weight"));
            assertEquals(DType.F32, l.checkpoint().dtype("backbone.layers.0.mixer.A_log"), "small tensors stay as stored");
        }
        float[] a = logits(TIED), b = logits(out);
        assertRelClose("bf16 copy", mamba4j.core.Tensor.of(b, b.length), mamba4j.core.Tensor.of(a, a.length), 2e-2);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(out), s.toList(), "no temporary folder left beside it");
        }
    }

    @Test
    void layoutsRoundTripExactly() {
        Path orig = dir.resolve("orig"), hf = dir.resolve("hf");
        ok(Cli.run("convert", "--model", TIED.toString(), "--out", orig.toString(), "--layout", "original"));
        JsonConfig c = JsonConfig.read(orig.resolve("config.json"));
        assertEquals(48, c.integer("d_model"));
        assertFalse(c.has("model_type"));
        try (Models.Loaded l = Models.load(orig, CPU)) {
            assertTrue(l.checkpoint().contains("backbone.embedding.weight"));
        }
        assertArrayEquals(logits(TIED), logits(orig));
        ok(Cli.run("convert", "--model", orig.toString(), "--out", hf.toString(), "--layout", "hf"));
        assertEquals("mamba", JsonConfig.read(hf.resolve("config.json")).string("model_type"));
        assertArrayEquals(logits(TIED), logits(hf));
        Path orig2 = dir.resolve("orig2");   // the original layout's vocabulary padding travels
        ok(Cli.run("convert", "--model", Repo.golden().resolve("mamba1/orig_layout").toString(), "--out", orig2.toString(), "--layout", "original"));
        assertEquals(8, JsonConfig.read(orig2.resolve("config.json")).integer("pad_vocab_size_multiple"));
        assertArrayEquals(logits(Repo.golden().resolve("mamba1/orig_layout")), logits(orig2));
    }

    @Test
    void otherArchitecturesAndMamba2Copy() {
        Path phi = Repo.golden().resolve("phi/partial_rotary"), phiBf = dir.resolve("phi-bf16");
        ok(Cli.run("convert", "--model", phi.toString(), "--out", phiBf.toString(), "--dtype", "bf16"));
        try (Models.Loaded l = Models.load(phiBf, CPU)) {
            assertEquals(DType.BF16, l.checkpoint().dtype("model.layers.0.self_attn.q_proj.weight"));
            assertEquals(DType.F32, l.checkpoint().dtype("model.layers.0.input_layernorm.weight"), "norms stay as stored");
        }
        float[] a = logits(phi, SMALL_IDS), b = logits(phiBf, SMALL_IDS);
        assertRelClose("phi bf16 copy", mamba4j.core.Tensor.of(b, b.length), mamba4j.core.Tensor.of(a, a.length), 3e-2);
        Path g1 = Repo.golden().resolve("mamba2/g1_tied"), g1o = dir.resolve("g1-orig");
        ok(Cli.run("convert", "--model", g1.toString(), "--out", g1o.toString(), "--layout", "original"));
        assertEquals("Mamba2", JsonConfig.read(g1o.resolve("config.json")).node("ssm_cfg").string("layer"));
        assertEquals(16, JsonConfig.read(g1o.resolve("config.json")).node("ssm_cfg").integer("chunk_size"));
        float[] c = logits(g1, SMALL_IDS), d = logits(g1o, SMALL_IDS);
        assertRelClose("mamba2 original layout", mamba4j.core.Tensor.of(d, d.length), mamba4j.core.Tensor.of(c, c.length), 1e-6);
        refused(Cli.run("convert", "--model", Repo.golden().resolve("mamba2/g2_untied").toString(), "--out", dir.resolve("g2o").toString(),
                "--layout", "original"), "normalises over all 96 channels", "n_groups = 2 > 1");
    }

    @Test
    void ggufBothWays() {
        Path g = dir.resolve("tied.gguf"), back = dir.resolve("back");
        ok(Cli.run("convert", "--model", TIED.toString(), "--out", g.toString()));
        assertArrayEquals(logits(TIED), logits(g), "GGUF-loaded logits");
        Cli insp = Cli.run("inspect", "--model", g.toString());
        ok(insp);
        for (String s : List.of("general.architecture", "\"mamba\"", "mamba.ssm.inner_size", "UINT32   96", "blk.0.ssm_a", "[16, 96]",
                "(96, 16)", "runs as:       mamba Mamba1Config[vocabSize=203"))
            assertTrue(insp.out().contains(s), "<" + s + "> in\n" + insp.out());
        ok(Cli.run("convert", "--model", g.toString(), "--out", back.toString()));
        assertArrayEquals(logits(TIED), logits(back), "GGUF → transformers layout");
        Cli gen = Cli.run("generate", "--model", g.toString(), "--prompt-ids", "107,170,70,180", "--max-new-tokens", "8", "--ids");
        Cli ref = Cli.run("generate", "--model", TIED.toString(), "--prompt-ids", "107,170,70,180", "--max-new-tokens", "8", "--ids");
        ok(gen);
        assertEquals(ref.out(), gen.out());
        Path f16 = dir.resolve("f16.gguf");
        ok(Cli.run("convert", "--model", TIED.toString(), "--out", f16.toString(), "--dtype", "f16", "--name", "tiny"));
        try (GgufFile f = GgufFile.open(f16)) {
            assertEquals("tiny", f.string("general.name"));
            assertEquals(1, f.size("general.file_type"));
        }
    }

    /**
     * Quantised GGUF export: the matrices whose rows are whole blocks of 32 are written Q8_0/Q4_0 (llama.cpp's file
     * types 7 and 2), the others F16, as llama.cpp's converter does; the file loads and its logits stay near the f32
     * model's (Q8_0 within 1%); a quantised folder copy is refused, naming the flag.
     */
    @Test
    void quantisedGgufExport() {
        float[] ref = logits(TIED);
        // 4-bit blocks on this tiny model with heavily perturbed weights cost ~12% of the logits (measured 0.116); the
        // quantiser itself is pinned byte for byte below and by QuantTest
        for (String[] q : new String[][]{{"q8_0", "Q8_0", "7", "0.01"}, {"q4_0", "Q4_0", "2", "0.2"}}) {
            Path g = dir.resolve(q[0] + ".gguf");
            ok(Cli.run("convert", "--model", TIED.toString(), "--out", g.toString(), "--dtype", q[0]));
            try (GgufFile f = GgufFile.open(g)) {
                assertEquals(Integer.parseInt(q[2]), f.size("general.file_type"));
                assertEquals(q[1], f.info("blk.0.ssm_out.weight").type().name(), "out_proj (K = 96) quantised");
                assertEquals("F16", f.info("blk.0.ssm_in.weight").type().name(), "in_proj (K = 48) falls back to F16");
                try (mamba4j.io.SafetensorsFile st = mamba4j.io.SafetensorsFile.open(TIED.resolve("model.safetensors"))) {
                    mamba4j.core.Tensor want = mamba4j.core.Quant.quantise(st.get("backbone.layers.0.mixer.out_proj.weight").to(mamba4j.core.DType.F32),
                            mamba4j.core.DType.valueOf(q[1]));
                    assertEquals(-1, f.raw("blk.0.ssm_out.weight").mismatch(want.segment()), q[0] + " blocks are the quantiser's bytes");
                }
            }
            float[] got = logits(g);
            double num = 0, den = 0;
            for (int i = 0; i < ref.length; i++) { num += (got[i] - ref[i]) * (double) (got[i] - ref[i]); den += ref[i] * (double) ref[i]; }
            assertTrue(Math.sqrt(num / den) < Double.parseDouble(q[3]), q[0] + " relative error " + Math.sqrt(num / den));
        }
        Cli folder = Cli.run("convert", "--model", TIED.toString(), "--out", dir.resolve("q8-folder").toString(), "--dtype", "q8_0");
        assertEquals(2, folder.status());
        assertTrue(folder.err().contains("--dtype q8_0"), folder.err());
    }

    /** A byte-level model and a GPT-NeoX-tokenized one carry their tokenizers into GGUF and back. */
    @Test
    void tokenizersTravelThroughGguf() throws IOException {
        Path bytes = dir.resolve("bytes");
        Mamba1Saver.save(Mamba1Init.random(new Mamba1Config(256, 256, 32, 8, 1, 2, 4, 2, false, true, 1e-5, true, -1), DType.F32, 3, CPU), bytes);
        ModelTokenizer.attach(bytes, "bytes");
        Path bg = dir.resolve("bytes.gguf");
        ok(Cli.run("convert", "--model", bytes.toString(), "--out", bg.toString()));
        try (GgufFile f = GgufFile.open(bg)) {
            assertEquals(256, f.array(GgufTokenizer.TOKENS, mamba4j.io.GgufValueType.STRING).size());
        }
        Cli a = Cli.run("generate", "--model", bg.toString(), "--prompt", "It is", "--max-new-tokens", "5", "--ids");
        Cli b = Cli.run("generate", "--model", bytes.toString(), "--prompt", "It is", "--max-new-tokens", "5", "--ids");
        ok(a);
        assertTrue(a.out().startsWith("73,116,32,105,115,"), a.out());
        assertEquals(b.out(), a.out());
        Path textFile = Files.writeString(dir.resolve("text.txt"), "It is a truth universally acknowledged, that a single man in possession of a good fortune.");
        Cli pg = Cli.run("perplexity", "--model", bg.toString(), "--text", textFile.toString(), "--context", "32");
        ok(pg);
        String folderPpl = Cli.run("perplexity", "--model", bytes.toString(), "--text", textFile.toString(), "--context", "32").out();
        assertTrue(pg.out().startsWith("perplexity "), pg.out());
        assertEquals(folderPpl.substring(0, folderPpl.indexOf(';')), pg.out().substring(0, pg.out().indexOf(';')),
                "perplexity of the GGUF file = of the folder (timing aside)");
        Path back = dir.resolve("bytes-back");
        ok(Cli.run("convert", "--model", bg.toString(), "--out", back.toString()));
        assertTrue(ModelTokenizer.isByteLevel(back), "the byte-level marker comes back");

        Path neox = dir.resolve("neox");
        Mamba1Saver.save(Mamba1Init.random(new Mamba1Config(50288, 50288, 16, 4, 1, 2, 4, 1, false, true, 1e-5, true, 0), DType.F32, 4, CPU), neox);
        Files.copy(Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json"), neox.resolve("tokenizer.json"));
        Path ng = dir.resolve("neox.gguf");
        ok(Cli.run("convert", "--model", neox.toString(), "--out", ng.toString(), "--dtype", "f16"));
        String text = "It is a truth universally acknowledged,   that a single man";
        Cli fromGguf = Cli.run("generate", "--model", ng.toString(), "--prompt", text, "--max-new-tokens", "0", "--ids");
        ok(fromGguf);
        try (HfTokenizer t = HfTokenizer.open(neox.resolve("tokenizer.json"))) {
            StringBuilder want = new StringBuilder();
            for (int id : t.encode(text)) want.append(want.isEmpty() ? "" : ",").append(id);
            assertEquals(want.toString(), fromGguf.out().strip(), "the GGUF's vocabulary tokenizes as the tokenizer.json");
        }
        Path nb = dir.resolve("neox-back");
        ok(Cli.run("convert", "--model", ng.toString(), "--out", nb.toString()));
        assertTrue(Files.isRegularFile(nb.resolve("tokenizer.json")), "the GGUF vocabulary comes back as a tokenizer.json");
        Cli again = Cli.run("generate", "--model", nb.toString(), "--prompt", text, "--max-new-tokens", "0", "--ids");
        assertEquals(fromGguf.out(), again.out());
    }

    @Test
    void refusalsNameTheFlagAndLeaveEverythingAsItWas() throws IOException {
        Map<String, String> before = hashes(TIED);
        String in = TIED.toString();
        refused(Cli.run("convert", "--model", in, "--out", in), "is the input itself");
        refused(Cli.run("convert", "--model", in, "--out", in, "--force"), "is the input itself");
        refused(Cli.run("convert", "--model", in, "--out", TIED.resolve("copy").toString()), "is inside the input");
        refused(Cli.run("convert", "--model", in, "--out", TIED.getParent().toString(), "--force"), "holds the input", "would delete the input");
        assertEquals(before, hashes(TIED));

        Path taken = dir.resolve("taken");
        Files.createDirectories(taken);
        Files.writeString(taken.resolve("keep.txt"), "mine");
        refused(Cli.run("convert", "--model", in, "--out", taken.toString()), "exists and is not empty; pass --force");
        assertEquals("mine", Files.readString(taken.resolve("keep.txt")));
        ok(Cli.run("convert", "--model", in, "--out", taken.toString(), "--force"));
        assertFalse(Files.exists(taken.resolve("keep.txt")), "--force replaces the folder");
        assertTrue(Files.isRegularFile(taken.resolve("model.safetensors")));
        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        ok(Cli.run("convert", "--model", in, "--out", empty.toString()));

        Path file = dir.resolve("a.txt");
        Files.writeString(file, "x");
        refused(Cli.run("convert", "--model", in, "--out", file.toString()), "is a file; name the folder");
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("d").toString(), "--format", "gguf", "--layout", "hf"), "--layout is for folders");
        Files.createDirectories(dir.resolve("x.gguf"));
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("x.gguf").toString()), "is a directory; name the .gguf file");
        Path g = dir.resolve("m.gguf");
        Files.writeString(g, "not yet");
        refused(Cli.run("convert", "--model", in, "--out", g.toString()), "exists; pass --force");
        assertEquals("not yet", Files.readString(g));
        refused(Cli.run("convert", "--out", dir.resolve("n").toString()), "exactly one of --model");
        refused(Cli.run("convert", "--model", in, "--shape", "mamba-130m", "--out", dir.resolve("n").toString()), "exactly one of --model");
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("n").toString(), "--format", "onnx"), "--format onnx");
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("n").toString(), "--dtype", "q8_0"), "--dtype q8_0");
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("n").toString(), "--layout", "keras"), "--layout keras");
        refused(Cli.run("convert", "--model", dir.resolve("absent").toString(), "--out", dir.resolve("n").toString()), "no such checkpoint");
        refused(Cli.run("convert", "--model", Repo.golden().resolve("phi/partial_rotary").toString(), "--out", dir.resolve("p").toString(),
                "--layout", "original"), "--layout original", "this is phi");
        refused(Cli.run("convert", "--model", Repo.golden().resolve("mamba2/g2_untied").toString(), "--out", dir.resolve("g.gguf").toString()),
                "cannot run in llama.cpp", "use_bias = true");
        refused(Cli.run("convert", "--model", Repo.golden().resolve("phi/partial_rotary").toString(), "--out", dir.resolve("p.gguf").toString()),
                "GGUF export writes Mamba-1 and Mamba-2");
        refused(Cli.run("convert", "--model", in, "--out", dir.resolve("t.gguf").toString(), "--tokenizer",
                Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json").toString()), "outside the model's 203 embedding rows");
        for (String n : List.of("n", "p", "g.gguf", "p.gguf", "t.gguf")) assertFalse(Files.exists(dir.resolve(n)), n + " was not written");
        assertEquals(before, hashes(TIED));
    }

    @Test
    void inspectShowsAnyGgufAndWhyItDoesNotRun() {
        Path p = dir.resolve("llama.gguf");
        var meta = new LinkedHashMap<String, GgufValue>();
        meta.put("general.architecture", GgufValue.string("llama"));
        meta.put("llama.block_count", GgufValue.u32(1));
        GgufWriter.write(p, meta, List.of(GgufWriter.Entry.of("blk.0.attn_q.weight", mamba4j.core.Tensor.of(new float[] {1, 2, 3, 4}, 2, 2))));
        Cli r = Cli.run("inspect", "--model", p.toString());
        ok(r);
        assertTrue(r.out().contains("\"llama\"") && r.out().contains("blk.0.attn_q.weight"), r.out());
        assertTrue(r.out().contains("not runnable by mamba4j") && r.out().contains("\"mamba\" (Mamba-1) and \"mamba2\""), r.out());
        refused(Cli.run("generate", "--model", p.toString(), "--prompt-ids", "1"), "'general.architecture' is \"llama\"");
        Path notGguf = dir.resolve("weights.bin");
        try {
            Files.writeString(notGguf, "hello");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        refused(Cli.run("generate", "--model", notGguf.toString(), "--prompt-ids", "1"), "a file that is not GGUF");
    }
}
