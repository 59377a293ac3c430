package mamba4j.app;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.io.Checksums;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The examples of issue 13 ("Hardening"), each reproduced through the CLI: every one is now a one-line error that
 * names the file and the key, with exit status 2 — no "internal error", no stack trace, no OutOfMemoryError.
 */
class HardeningTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir Path tmp;

    static void assertNamedError(Cli r, String... mustContain) {
        assertEquals(2, r.status(), "exit status; stderr was: " + r.err());
        // train prints its settings first; the error is then the one last line
        List<String> lines = r.err().strip().lines().toList();
        assertTrue(lines.getLast().startsWith("error: "), r.err());
        assertEquals(1, lines.stream().filter(l -> l.contains("error")).count(), "one error line: " + r.err());
        assertFalse(r.err().contains("internal error") || r.err().contains("\tat ") || r.err().contains("Exception"), r.err());
        for (String s : mustContain) assertTrue(r.err().contains(s), "stderr should mention '" + s + "': " + r.err());
    }

    private Path mamba1() {
        Path m = tmp.resolve("model");
        Mamba1Saver.save(Mamba1Init.random(BadInputTest.TINY, DType.F32, 1, Backends.get("cpu")), m);
        return m;
    }

    private Path phi() throws IOException {
        Path m = tmp.resolve("phi");
        Files.createDirectories(m);
        Path src = Path.of("..", "testdata", "golden", "phi", "partial_rotary");
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(src.resolve(f), m.resolve(f));
        return m;
    }

    private static void setKey(Path json, String key, Object value) throws IOException {
        ObjectNode o = (ObjectNode) JSON.readTree(json.toFile());
        o.set(key, JSON.valueToTree(value));
        Files.writeString(json, o.toString());
    }

    private static Cli inspect(Path model) { return Cli.run("inspect", "--model", model.toString()); }

    // ---------------------------------------------------------------- malformed files

    @Test
    void jsonNestedDeeperThanJacksonsLimit() throws IOException {
        Path m = mamba1();
        Files.writeString(m.resolve("config.json"), "[".repeat(5000) + "]".repeat(5000));
        assertNamedError(inspect(m), "config.json", "not valid JSON");
    }

    @Test
    void configJsonThatIsADirectory() throws IOException {
        Path m = mamba1();
        Files.delete(m.resolve("config.json"));
        Files.createDirectory(m.resolve("config.json"));
        assertNamedError(inspect(m), "config.json", "directory");
    }

    @Test
    void zeroHeadsInAConfig() throws IOException {
        Path m = phi();
        setKey(m.resolve("config.json"), "num_attention_heads", 0);
        assertNamedError(inspect(m), "config.json", "num_attention_heads", "≥ 1");
    }

    @Test
    void maxPositionEmbeddingsOfTwoToTheThirtyOneIsRefusedWithTheFigure() throws IOException {
        Path m = phi();
        setKey(m.resolve("config.json"), "max_position_embeddings", Integer.MAX_VALUE);
        assertNamedError(inspect(m), "config.json", "max_position_embeddings = 2147483647", "GiB", "memory this machine has");
    }

    // ---------------------------------------------------------------- presets

    private Cli train(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of(TrainResumeTest.args(out, more)));
        return Cli.run(a.toArray(String[]::new));
    }

    private Cli trainPreset(String presetText, String... more) throws IOException {
        Path p = tmp.resolve("preset.json");
        Files.writeString(p, presetText);
        List<String> a = new ArrayList<>(List.of("train", "--out", tmp.resolve("run").toString(), "--preset", p.toString(),
                "--steps=1", "--warmup=0", "--progress=false", "--plot=false", "--eval_every=0"));
        a.addAll(List.of(more));
        return Cli.run(a.toArray(String[]::new));
    }

    @Test
    void presetThatIsNotJson() throws IOException {
        assertNamedError(trainPreset("{model: nope"), "preset.json", "not valid JSON");
    }

    @Test
    void presetWhoseModelOrDataIsAnArray() throws IOException {
        assertNamedError(trainPreset("{\"model\": [1, 2]}"), "preset.json", "'model'", "object");
        assertNamedError(trainPreset("{\"data\": [1, 2]}"), "preset.json", "'data'", "object");
    }

    @Test
    void dataTokenizerThatIsNotAString() throws IOException {
        Files.writeString(tmp.resolve("t.txt"), "some text ".repeat(200));
        assertNamedError(trainPreset("{\"data\": {\"text\": \"t.txt\", \"tokenizer\": {\"a\": 1}}}"), "preset.json", "data.tokenizer", "string");
    }

    @Test
    void zeroHeadsInAPreset() throws IOException {
        assertNamedError(trainPreset("{\"model\": {\"arch\": \"phi\", \"n_head\": 0}, \"data\": {\"task\": \"induction-heads\"}}"), "model.n_head", "≥ 1");
    }

    @Test
    void hugeBatchSeqLenAndModelAreRefusedBeforeAllocating() {
        assertNamedError(train(tmp.resolve("a"), "--batch_size=2147483647"), "batch_size", "memory this machine has");
        assertNamedError(train(tmp.resolve("b"), "--seq_len=2147483647"), "seq_len", "memory this machine has");
        assertNamedError(train(tmp.resolve("c"), "--model.d_model=1000000", "--model.n_layer=1000"), "d_model 1000000", "parameters", "memory this machine has");
    }

    @Test
    void hugeTeacherInAPresetIsRefused() throws IOException {
        assertNamedError(trainPreset("{\"model\": {\"arch\": \"llama\", \"d_model\": 65536, \"n_layer\": 512, \"n_head\": 8},"
                + " \"data\": {\"task\": \"induction-heads\"}}"), "model.llama", "memory this machine has");
    }

    // ---------------------------------------------------------------- files stay in their folder

    private Path shardedWithName(String shardName) throws IOException {
        Path m = mamba1();
        Files.writeString(m.resolve("model.safetensors.index.json"),
                "{\"metadata\": {}, \"weight_map\": {\"backbone.embeddings.weight\": " + JSON.writeValueAsString(shardName) + "}}");
        Files.delete(m.resolve("model.safetensors"));
        return m;
    }

    @Test
    void shardNamesLeavingTheirFolderAreRefusedNamed() throws IOException {
        Path secret = tmp.resolve("secret.safetensors");
        Files.writeString(secret, "not yours");
        assertNamedError(inspect(shardedWithName("../secret.safetensors")), "model.safetensors.index.json", "weight_map.backbone.embeddings.weight", "..");
        Files.delete(tmp.resolve("model").resolve("model.safetensors.index.json"));
        assertNamedError(inspect(shardedWithName(secret.toString())), "model.safetensors.index.json", "absolute path");
    }

    @Test
    void shardNameWithANul() throws IOException {
        Cli r = inspect(shardedWithName("model\u0000.safetensors"));
        assertNamedError(r, "model.safetensors.index.json", "control character");
        assertFalse(r.err().contains("\u0000"), "no NUL byte in the message");
    }

    @Test
    void shardThatIsALinkOutOfItsFolder() throws IOException {
        Path outside = tmp.resolve("outside.safetensors");
        Files.writeString(outside, "x");
        Path m = shardedWithName("link.safetensors");
        Files.createSymbolicLink(m.resolve("link.safetensors"), outside);
        assertNamedError(inspect(m), "link.safetensors", "outside its folder");
    }

    @Test
    void presetDataPathLeavingItsFolder() throws IOException {
        Files.createDirectories(tmp.resolve("presets"));
        Path p = tmp.resolve("presets").resolve("p.json");
        Files.writeString(tmp.resolve("t.txt"), "text ".repeat(100));
        Files.writeString(p, "{\"data\": {\"text\": \"../t.txt\"}}");
        assertNamedError(Cli.run("train", "--out", tmp.resolve("r").toString(), "--preset", p.toString(), "--steps=1", "--warmup=0"), "p.json", "data.text", "..");
    }

    // ---------------------------------------------------------------- checkpoints know their integrity

    private Path trainedRun() {
        Path run = tmp.resolve("run");
        Cli r = train(run, "--steps=4", "--checkpoint_every=2");
        assertEquals(0, r.status(), r.err());
        return run;
    }

    private Cli resume(Path run) { return train(run, "--steps=6", "--checkpoint_every=2", "--resume", "--allow-changes"); }

    private static void flipBytes(Path file, long from, int count) throws IOException {
        byte[] b = Files.readAllBytes(file);
        for (int i = 0; i < count; i++) b[(int) ((from + i) % b.length)] ^= (byte) 0x5a;
        Files.write(file, b);
    }

    @Test
    void flippedWeightOrOptimizerBytesAreDetectedOnResumeAndOnLoad() throws IOException {
        Path run = trainedRun();
        Path ck = run.resolve("checkpoint/model"), tr = run.resolve("checkpoint/training");
        assertTrue(Files.exists(ck.resolve(Checksums.FILE)));
        assertTrue(Files.exists(tr.resolve(Checksums.FILE)));
        Path w = ck.resolve("model.safetensors");
        long size = Files.size(w);
        flipBytes(w, size - 200, 64);
        assertNamedError(resume(run), "model.safetensors", "checksum mismatch");
        assertNamedError(Cli.run("inspect", "--model", ck.toString()), "model.safetensors", "checksum mismatch");
        flipBytes(w, size - 200, 64);   // back
        flipBytes(tr.resolve("optimizer.safetensors"), Files.size(tr.resolve("optimizer.safetensors")) - 50, 8);
        assertNamedError(resume(run), "optimizer.safetensors", "checksum mismatch");
    }

    @Test
    void editedTrainerStateOrConfigIsRefused() throws IOException {
        Path run = trainedRun();
        Path ck = run.resolve("checkpoint/model"), tr = run.resolve("checkpoint/training");
        byte[] trainer = Files.readAllBytes(tr.resolve("trainer.json"));
        setKey(tr.resolve("trainer.json"), "step", -5);
        assertNamedError(resume(run), "trainer.json");
        Files.write(tr.resolve("trainer.json"), trainer);
        setKey(ck.resolve("config.json"), "layer_norm_epsilon", 0.5);
        assertNamedError(resume(run), "config.json", "checksum mismatch");
    }

    @Test
    void trainerStateIsValidatedEvenWhenTheChecksumsAreRewritten() throws IOException {
        Path run = trainedRun();
        Path ck = run.resolve("checkpoint/training"), t = ck.resolve("trainer.json");
        byte[] good = Files.readAllBytes(t);
        for (Object[] bad : new Object[][] {{"step", -5}, {"step", 1_000_000_000_000_000_000L}, {"rng_state", "abc"}, {"rng_state", 1.5}}) {
            Files.write(t, good);
            setKey(t, (String) bad[0], bad[1]);
            Checksums.write(ck);
            assertNamedError(resume(run), "trainer.json", "'" + bad[0] + "'");
        }
        Files.writeString(t, new String(good, StandardCharsets.UTF_8).substring(0, good.length / 2));
        Checksums.write(ck);
        assertNamedError(resume(run), "trainer.json", "not valid JSON");
        Files.writeString(t, new String(good, StandardCharsets.UTF_8).replaceFirst("\"elapsed_s\" ?: ?[0-9.eE+-]+", "\"elapsed_s\": NaN"));
        Checksums.write(ck);
        assertNamedError(resume(run), "trainer.json");
    }

    @Test
    void everyCheckpointFileIsByteReproducible() throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        assertEquals(0, train(a, "--steps=3").status());
        assertEquals(0, train(b, "--steps=3").status());
        List<String> names;
        try (Stream<Path> s = Stream.concat(Files.list(a.resolve("checkpoint/model")), Files.list(a.resolve("checkpoint/training")))) {
            names = s.map(p -> a.resolve("checkpoint").relativize(p).toString()).sorted().toList();
        }
        assertTrue(names.containsAll(List.of("training/optimizer.safetensors", "model/model.safetensors", "model/config.json",
                "model/" + Checksums.FILE, "training/" + Checksums.FILE)), names.toString());
        for (String n : names) {
            // trainer.json holds the wall time (elapsed_s), and so the training folder's checksums differ
            if (n.equals("training/trainer.json") || n.equals("training/" + Checksums.FILE)) continue;
            assertArrayEquals(Files.readAllBytes(a.resolve("checkpoint").resolve(n)), Files.readAllBytes(b.resolve("checkpoint").resolve(n)), n);
        }
    }
}
