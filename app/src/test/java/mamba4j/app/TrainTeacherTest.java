package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.models.Models;
import mamba4j.models.teachers.TransformerLM;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * `train` with "arch": phi | llama | gpt2 (tiny, fresh): resume is bit-exact and the checkpoint loads as a teacher.
 * On the reference backend: the cpu backend's Vector API kernels (gelu_new, SiLU, LayerNorm, RMSNorm) were seen to
 * return results that differ in the last bit once the JIT compiles them (same inputs, same JVM, after some hundred
 * calls), so two cpu runs are not bit-identical; -Dteacher.backend=cpu runs it there anyway.
 */
class TrainTeacherTest {
    static final String BACKEND = System.getProperty("teacher.backend", "reference");

    static String[] args(String arch, Path preset, Path out, String... more) throws IOException {
        if (!Files.exists(preset))
            Files.writeString(preset, "{\"model\": {\"arch\": \"" + arch + "\", \"vocab_size\": 16}, \"data\": {\"task\": \"selective-copying\"}}");
        List<String> a = new ArrayList<>(List.of("train", "--out", out.toString(), "--preset", preset.toString(),
                "--model.d_model=16", "--model.n_layer=2", "--model.n_head=2", "--seq_len=40",
                "--data.num_tokens=4", "--batch_size=4", "--lr=0.003", "--schedule=constant", "--warmup=0", "--eval_every=0", "--progress=false", "--plot=false", "--backend=" + BACKEND));
        if (arch.equals("llama")) a.add("--model.n_kv_head=1");
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"phi", "llama", "gpt2"})
    void tenStepsPlusResumeEqualTwenty(String arch, @TempDir Path tmp) throws IOException {
        Cli a = Cli.run(args(arch, tmp.resolve("preset.json"), tmp.resolve("a"), "--steps=20", "--checkpoint_every=0"));
        assertEquals(0, a.status(), a.err());
        Cli b1 = Cli.run(args(arch, tmp.resolve("preset.json"), tmp.resolve("b"), "--steps=10", "--checkpoint_every=0"));
        assertEquals(0, b1.status(), b1.err());
        Cli b2 = Cli.run(args(arch, tmp.resolve("preset.json"), tmp.resolve("b"), "--steps=20", "--checkpoint_every=0", "--resume", "--allow-changes"));
        assertEquals(0, b2.status(), b2.err());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/checkpoint/model/model.safetensors")),
                Files.readAllBytes(tmp.resolve("b/checkpoint/model/model.safetensors")), "weights after 20 steps vs 10 + resume + 10");
        try (Models.Loaded l = Models.load(tmp.resolve("a/checkpoint"), Backends.get("cpu"))) {
            TransformerLM m = assertInstanceOf(TransformerLM.class, l.model());
            assertEquals(arch, m.spec().arch().name().toLowerCase(java.util.Locale.ROOT));
        }
    }
}
