package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.Backends;
import mamba4j.models.Models;
import mamba4j.models.discrete.MohawkStudent;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `distill` and `demo` on the shipped teacher (byte-level Phi, inside the jar) and 30k characters of Austen: each stage
 * lowers what it optimises, the student loads and generates through the normal CLI, a re-run resumes (finished stages
 * kept, a lost stage retrained to the same bytes on the reference backend), bad plans are named.
 */
class DistillCliTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir static Path shared;
    static Path teacher, text;

    @BeforeAll
    static void setUp() throws IOException {
        teacher = DemoCommand.extractShippedTeacher(shared.resolve("teacher"));
        String austen = Files.readString(Path.of("../data/austen.txt"));
        text = shared.resolve("austen-30k.txt");
        Files.writeString(text, austen.substring(0, 30_000));
    }

    static Path plan(Path dir, String stages, int seqLen, int batch) throws IOException {
        Path p = dir.resolve("plan.json");
        Files.writeString(p, "{\"seq_len\": " + seqLen + ", \"batch_size\": " + batch + ", \"eval_batches\": 1, \"val_fraction\": 0.1, \"stages\": [" + stages + "]}");
        return p;
    }

    static double mean(JsonNode a) {
        double s = 0;
        for (JsonNode x : a) s += x.asDouble();
        return s / a.size();
    }

    @Test
    void eachStageLowersItsObjectiveAndTheStudentGenerates(@TempDir Path tmp) throws IOException {
        Path plan = plan(tmp, "{\"stage\": 1, \"steps\": 10, \"lr\": 0.003}, {\"stage\": 2, \"steps\": 10, \"lr\": 0.002}, "
                + "{\"stage\": 3, \"steps\": 10, \"lr\": 0.001}", 64, 4);
        Path out = tmp.resolve("run");
        Cli c = Cli.run("distill", "--teacher", teacher.toString(), "--plan", plan.toString(), "--data", text.toString(), "--out", out.toString(), "--no-progress");
        assertEquals(0, c.status(), c.err());
        JsonNode m = JSON.readTree(out.resolve("metrics.json").toFile());
        assertEquals(4, m.size(), "initial + 3 stages");
        JsonNode init = m.get(0), s1 = m.get(1), s2 = m.get(2), s3 = m.get(3);
        assertTrue(mean(s1.get("matrix_distance")) < 0.5 * mean(init.get("matrix_distance")),
                "stage 1 halves the matrix distance: " + init.get("matrix_distance") + " → " + s1.get("matrix_distance"));
        assertTrue(mean(s2.get("hidden_distance")) < mean(s1.get("hidden_distance")),
                "stage 2 lowers the hidden-state distance: " + s1.get("hidden_distance") + " → " + s2.get("hidden_distance"));
        assertTrue(s3.get("kl").asDouble() < init.get("kl").asDouble(), "KL to the teacher: " + init.get("kl") + " → " + s3.get("kl"));
        for (String f : new String[]{"plan.json", "stage1-matrix-orientation/log.jsonl", "stage3-knowledge-distillation/loss.png", "matrix_distance.png",
                "hidden_distance.png", "student/config.json", "student/model.safetensors"})
            assertTrue(Files.exists(out.resolve(f)), f);
        try (Models.Loaded l = Models.load(out.resolve("student"), Backends.get("cpu"))) {
            assertInstanceOf(MohawkStudent.class, l.model());
        }
        assertGeneratesAndTrains(out.resolve("student"), "phi-mamba", tmp);
        try (Models.Loaded l = Models.load(tmp.resolve("more/checkpoint"), Backends.get("cpu"))) {
            assertInstanceOf(MohawkStudent.class, l.model());
        }
    }

    @Test
    void rerunResumesAndALostStageIsRetrainedToTheSameBytes(@TempDir Path tmp) throws IOException {
        Path plan = plan(tmp, "{\"stage\": 1, \"steps\": 2, \"lr\": 0.003}, {\"stage\": 2, \"steps\": 2, \"lr\": 0.002}, "
                + "{\"stage\": 3, \"steps\": 2, \"lr\": 0.001}", 24, 2);
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        String[] args = {"distill", "--teacher", teacher.toString(), "--plan", plan.toString(), "--data", text.toString(), "--backend", "reference", "--no-progress", "--out"};
        Cli first = Cli.run(concat(args, a.toString()));
        assertEquals(0, first.status(), first.err());
        byte[] student = Files.readAllBytes(a.resolve("student/model.safetensors"));
        copyTree(a, b);
        deleteTree(b.resolve("stage3-knowledge-distillation"));
        deleteTree(b.resolve("student"));
        Cli again = Cli.run(concat(args, b.toString()));
        assertEquals(0, again.status(), again.err());
        assertTrue(again.err().contains("resuming"), "stages 1 and 2 are resumed from their checkpoints: " + again.err());
        assertArrayEquals(student, Files.readAllBytes(b.resolve("student/model.safetensors")), "student after a lost stage 3 was retrained");
        // the same --out with another plan is refused, and nothing in it is touched
        Cli other = Cli.run(concat(new String[]{"distill", "--teacher", teacher.toString(), "--plan", plan.toString(), "--seed", "9", "--data", text.toString(),
                "--backend", "reference", "--no-progress", "--out"}, b.toString()));
        assertEquals(2, other.status(), other.err());
        assertTrue(other.err().contains("plan.json holds another plan"), other.err());
        assertArrayEquals(student, Files.readAllBytes(b.resolve("student/model.safetensors")), "the refused run left the student as it was");
        // the same --out and plan from another teacher is refused too (start.json), naming the file
        Path otherTeacher = tmp.resolve("other-teacher");
        copyTree(teacher, otherTeacher);
        try (mamba4j.io.CheckpointTensors ck = mamba4j.io.CheckpointTensors.open(teacher)) {
            java.util.LinkedHashMap<String, mamba4j.core.Tensor> t = new java.util.LinkedHashMap<>();
            for (String n : ck.names()) t.put(n, ck.get(n).to(mamba4j.core.DType.F32).copy());
            mamba4j.core.Tensor w = t.get("model.final_layernorm.weight");
            w.setFloat(0, w.getFloat(0) + 0.5f);
            mamba4j.io.Safetensors.write(otherTeacher.resolve("model.safetensors"), t, java.util.Map.of());
        }
        Cli mixed = Cli.run(concat(new String[]{"distill", "--teacher", otherTeacher.toString(), "--plan", plan.toString(), "--data", text.toString(),
                "--backend", "reference", "--no-progress", "--out"}, b.toString()));
        assertEquals(2, mixed.status(), mixed.err());
        assertTrue(mixed.err().contains("start.json") && mixed.err().contains("another teacher"), mixed.err());
    }

    @Test
    void aHybridKeepsTheTeachersAttentionAtTheChosenLayer(@TempDir Path tmp) throws IOException {
        Path plan = tmp.resolve("plan.json");
        Files.writeString(plan, "{\"seq_len\": 32, \"batch_size\": 2, \"eval_batches\": 1, \"val_fraction\": 0.1, \"attention_layers\": [2], "
                + "\"stages\": [{\"stage\": 1, \"steps\": 2, \"lr\": 0.003}, {\"stage\": 3, \"steps\": 2, \"lr\": 0.001}]}");
        Path out = tmp.resolve("run");
        Cli c = Cli.run("distill", "--teacher", teacher.toString(), "--plan", plan.toString(), "--data", text.toString(), "--out", out.toString(), "--no-progress");
        assertEquals(0, c.status(), c.err());
        JsonNode m = JSON.readTree(out.resolve("metrics.json").toFile());
        assertTrue(m.get(1).get("matrix_distance").get(2).isNull(), "layer 2 keeps attention: no mixer distance " + m.get(1));
        assertTrue(m.get(1).get("matrix_distance").get(1).isNumber());
        try (Models.Loaded l = Models.load(out.resolve("student"), Backends.get("cpu"))) {
            MohawkStudent s = assertInstanceOf(MohawkStudent.class, l.model());
            assertTrue(s.weights().layers().get(2).isAttention() && !s.weights().layers().get(1).isAttention());
            assertDecodeEqualsForward(s, "the hybrid");
        }
    }

    /**
     * A Llama teacher (GQA: 4 query heads, 2 KV heads; RMSNorm, SwiGLU) trained here for a few steps on bytes, distilled
     * into a Llama-Mamba hybrid (attention kept at layer 1, x/B/C from V/K/Q): each stage lowers its objective, the
     * student is saved as llama-mamba, decodes as it forwards, generates through the CLI and trains further.
     */
    @Test
    void aLlamaTeacherGivesALlamaMambaStudent(@TempDir Path tmp) throws IOException {
        Path preset = tmp.resolve("llama.json");
        Files.writeString(preset, "{\"model\": {\"arch\": \"llama\"}, \"data\": {\"text\": \"" + text.toString().replace("\\", "/") + "\"}}");
        Cli tr = Cli.run("train", "--preset", preset.toString(), "--out", tmp.resolve("teacher").toString(), "--model.d_model=64", "--model.n_layer=3",
                "--model.n_head=4", "--model.n_kv_head=2", "--seq_len=64", "--batch_size=8", "--steps=60", "--lr=0.003", "--warmup=5",
                "--eval_every=0", "--progress=false", "--plot=false", "--val_fraction=0.1");
        assertEquals(0, tr.status(), tr.err());
        Path llama = tmp.resolve("teacher/checkpoint");
        Path plan = tmp.resolve("plan.json");
        Files.writeString(plan, "{\"seq_len\": 64, \"batch_size\": 4, \"eval_batches\": 1, \"val_fraction\": 0.1, \"attention_layers\": [1], "
                + "\"xbc_from_vkq\": true, \"stages\": [{\"stage\": 1, \"steps\": 10, \"lr\": 0.003}, {\"stage\": 2, \"steps\": 10, \"lr\": 0.002}, "
                + "{\"stage\": 3, \"steps\": 10, \"lr\": 0.001}]}");
        Path out = tmp.resolve("run");
        Cli c = Cli.run("distill", "--teacher", llama.toString(), "--plan", plan.toString(), "--data", text.toString(), "--out", out.toString(), "--no-progress");
        assertEquals(0, c.status(), c.err());
        assertTrue(c.err().contains("student Llama-Mamba"), c.err());
        JsonNode m = JSON.readTree(out.resolve("metrics.json").toFile());
        JsonNode init = m.get(0), s1 = m.get(1), s2 = m.get(2), s3 = m.get(3);
        assertTrue(s1.get("matrix_distance").get(1).isNull(), "layer 1 keeps attention: " + s1);
        for (int l : new int[]{0, 2})
            assertTrue(s1.get("matrix_distance").get(l).asDouble() < init.get("matrix_distance").get(l).asDouble(),
                    "stage 1 lowers layer " + l + "'s matrix distance: " + init.get("matrix_distance") + " → " + s1.get("matrix_distance"));
        assertTrue(mean(s2.get("hidden_distance")) < mean(s1.get("hidden_distance")),
                "stage 2 lowers the hidden-state distance: " + s1.get("hidden_distance") + " → " + s2.get("hidden_distance"));
        assertTrue(s3.get("kl").asDouble() < init.get("kl").asDouble(), "KL to the teacher: " + init.get("kl") + " → " + s3.get("kl"));
        assertEquals("llama-mamba", JSON.readTree(out.resolve("student/config.json").toFile()).get("model_type").asText());
        try (Models.Loaded l = Models.load(out.resolve("student"), Backends.get("cpu"))) {
            MohawkStudent s = assertInstanceOf(MohawkStudent.class, l.model());
            assertTrue(s.wiring().llama() && s.weights().layers().get(1).isAttention() && !s.weights().layers().get(0).isAttention());
            assertDecodeEqualsForward(s, "the Llama-Mamba hybrid");
        }
        Path more = assertGeneratesAndTrains(out.resolve("student"), "llama-mamba", tmp);
        assertEquals("llama-mamba", JSON.readTree(tmp.resolve("more/checkpoint/model/config.json").toFile()).get("model_type").asText());
        Files.writeString(more, Files.readString(more).replace("llama-mamba", "phi-mamba"));
        Cli wrong = Cli.run("train", "--preset", more.toString(), "--init", out.resolve("student").toString(), "--out", tmp.resolve("wrong").toString());
        assertEquals(2, wrong.status(), wrong.err());
        assertTrue(wrong.err().contains("not a phi-mamba student (model_type llama-mamba)"), wrong.err());
    }

    @Test
    void badPlansAreNamed(@TempDir Path tmp) throws IOException {
        Path bad = tmp.resolve("bad.json");
        Files.writeString(bad, "{\"stages\": [{\"stage\": 3, \"steps\": 2, \"lr\": 0.001}, {\"stage\": 1, \"steps\": 2, \"lr\": 0.001}]}");
        Cli c = Cli.run("distill", "--teacher", teacher.toString(), "--plan", bad.toString(), "--data", text.toString(), "--out", tmp.resolve("o").toString());
        assertEquals(2, c.status());
        assertTrue(c.err().contains("stages[1]") && c.err().contains("increasing order"), c.err());
        Files.writeString(bad, "{\"stages\": [{\"stage\": 1, \"steps\": 2, \"lr\": 0.001, \"lr_max\": 3}]}");
        c = Cli.run("distill", "--teacher", teacher.toString(), "--plan", bad.toString(), "--data", text.toString(), "--out", tmp.resolve("o").toString());
        assertEquals(2, c.status());
        assertTrue(c.err().contains("stages[0]") && c.err().contains("lr_max"), c.err());
        for (String notATeacher : new String[]{"../testdata/golden/mamba1/bf16", "../testdata/golden/gpt2/tied"}) {
            c = Cli.run("distill", "--teacher", notATeacher, "--plan", "demo", "--data", text.toString(), "--out", tmp.resolve("o").toString());
            assertEquals(2, c.status());
            assertTrue(c.err().contains("a Phi or Llama teacher"), c.err());
        }
        c = Cli.run("demo", "--teacher", "../testdata/golden/llama/gqa_untied", "--data", text.toString(), "--out", tmp.resolve("d").toString());
        assertEquals(2, c.status());
        assertTrue(c.err().contains("byte-level (vocab_size 256) Phi or Llama teacher") && c.err().contains("vocab_size 101"), c.err());
    }

    @Test
    void demoPrintsTheComparisonTable(@TempDir Path tmp) throws IOException {
        Path plan = plan(tmp, "{\"stage\": 1, \"steps\": 2, \"lr\": 0.003}, {\"stage\": 3, \"steps\": 2, \"lr\": 0.001}", 32, 2);
        Cli c = Cli.run("demo", "--plan", plan.toString(), "--data", text.toString(), "--out", tmp.resolve("demo").toString(), "--context", "600", "--no-progress");
        assertEquals(0, c.status(), c.err());
        for (String s : new String[]{"teacher: Phi, attention", "distilled Phi-Mamba", "Phi-Mamba from scratch", "distilled:", "scratch:"})
            assertTrue(c.out().contains(s), s + " in:\n" + c.out());
    }

    /**
     * The student generates through the CLI (greedy, 8 ids) and `train --model.arch=ARCH --init` continues it for 2
     * steps into tmp/more; returns the preset written (tmp/more.json).
     */
    static Path assertGeneratesAndTrains(Path student, String arch, Path tmp) throws IOException {
        int[] ids = GoldenChecks.cliGreedy(student, new int[]{73, 116, 32, 105, 115}, 8, true);
        assertTrue(ids.length >= 8, "generated ids: " + java.util.Arrays.toString(ids));
        Path preset = tmp.resolve("more.json");
        Files.writeString(preset, "{\"model\": {\"arch\": \"" + arch + "\"}, \"data\": {\"text\": \"" + text.toString().replace("\\", "/") + "\"}}");
        Cli t = Cli.run("train", "--preset", preset.toString(), "--init", student.toString(), "--out", tmp.resolve("more").toString(),
                "--steps=2", "--warmup=0", "--batch_size=2", "--seq_len=32", "--eval_every=0", "--progress=false", "--plot=false", "--val_fraction=0.1");
        assertEquals(0, t.status(), t.err());
        return preset;
    }

    /** Prefill 6 tokens, step the 7th: its logits equal the forward's at position 6 (relative L2 < 1e-4). */
    static void assertDecodeEqualsForward(MohawkStudent s, String what) {
        int[][] ids = {{73, 116, 32, 105, 115, 32, 97}};
        float[] full = s.forward(ids, mamba4j.models.Trace.NONE).toFloatArray();
        var state = s.newState(1);
        s.prefill(state, new int[][]{java.util.Arrays.copyOf(ids[0], 6)});
        float[] step = s.step(state, new int[]{97}).toFloatArray();
        int v = s.logitsSize();
        double num = 0, den = 0;
        for (int k = 0; k < v; k++) { double e = step[k] - full[6 * v + k]; num += e * e; den += full[6 * v + k] * (double) full[6 * v + k]; }
        assertTrue(Math.sqrt(num / den) < 1e-4, "decode step == forward for " + what + ": " + Math.sqrt(num / den));
    }

    private static String[] concat(String[] a, String last) {
        String[] r = java.util.Arrays.copyOf(a, a.length + 1);
        r[a.length] = last;
        return r;
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : (Iterable<Path>) s.sorted(Comparator.reverseOrder())::iterator) Files.delete(q);
        }
    }
}
