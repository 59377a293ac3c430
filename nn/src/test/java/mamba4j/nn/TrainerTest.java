package mamba4j.nn;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.UserInputException;
import mamba4j.nn.data.InductionHeads;
import mamba4j.nn.data.SelectiveCopying;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class TrainerTest {
    static final int VOCAB = 8;
    static final InductionHeads TASK = new InductionHeads(12, VOCAB);
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

    static TrainSettings settings(String... overrides) {
        List<String> o = new ArrayList<>(List.of("--batch_size=4", "--seq_len=12", "--steps=20", "--warmup=3", "--lr=0.05",
                "--schedule=cosine", "--accumulation=2", "--grad_clip=0.5", "--eval_every=5", "--eval_batches=2",
                "--checkpoint_every=5", "--progress=false", "--plot=false", "--seed=42"));
        o.addAll(List.of(overrides));
        return TrainSettings.resolve(null, o);
    }

    static Trainer trainer(BigramModel m, TrainSettings s, Path run) {
        return new Trainer(m, TASK, s, ScalarTrainingBackend.INSTANCE, run, m::load).console(QUIET);
    }

    @Test
    void resumeAfterACrashIsBitExact(@TempDir Path tmp) {
        BigramModel straight = new BigramModel(VOCAB, 7);
        var r = trainer(straight, settings(), tmp.resolve("a")).run(false);
        assertEquals(20, r.steps());

        BigramModel crashed = new BigramModel(VOCAB, 7);
        crashed.crashAtCall = 2 * 13 + 1; // second micro-batch of step 14: after the checkpoint at step 10
        Path run = tmp.resolve("b");
        assertThrows(IllegalStateException.class, () -> trainer(crashed, settings(), run).run(false));
        BigramModel resumed = new BigramModel(VOCAB, 99); // fresh weights: everything must come from the checkpoint
        var r2 = trainer(resumed, settings(), run).run(true);
        assertEquals(20, r2.steps());
        assertArrayEquals(straight.bytes(), resumed.bytes(), "20 steps == 10 + crash + resume + 10, bit for bit");
        assertEquals(r.tokens(), r2.tokens());
        assertEquals(r.lastValidation().loss(), r2.lastValidation().loss());
    }

    @Test
    void tenStepsThenResumeForTenMoreEqualsTwenty(@TempDir Path tmp) {
        BigramModel straight = new BigramModel(VOCAB, 3);
        trainer(straight, settings("--schedule=constant", "--steps=20"), tmp.resolve("a")).run(false);
        BigramModel first = new BigramModel(VOCAB, 3);
        Path run = tmp.resolve("b");
        trainer(first, settings("--schedule=constant", "--steps=10"), run).run(false);
        BigramModel second = new BigramModel(VOCAB, 3);
        trainer(second, settings("--schedule=constant", "--steps=20"), run).run(true);
        assertArrayEquals(straight.bytes(), second.bytes());
        assertNotEquals(new String(first.bytes()), new String(second.bytes()));
    }

    @Test
    void aRunDirectoryWithACheckpointIsNotOverwrittenWithoutResume(@TempDir Path tmp) {
        BigramModel m = new BigramModel(VOCAB, 1);
        trainer(m, settings("--steps=5"), tmp).run(false);
        var e = assertThrows(UserInputException.class, () -> trainer(new BigramModel(VOCAB, 1), settings("--steps=5"), tmp).run(false));
        assertTrue(e.getMessage().contains("--resume"), e.getMessage());
        var none = assertThrows(UserInputException.class, () -> trainer(m, settings(), tmp.resolve("empty")).run(true));
        assertTrue(none.getMessage().contains("no checkpoint"), none.getMessage());
    }

    @Test
    void nonFiniteStepsAreSkippedAndCounted(@TempDir Path run) throws Exception {
        BigramModel m = new BigramModel(VOCAB, 5);
        m.nanLossCalls = Set.of(6L);   // step 4 (micro-batch 0 of calls 6, 7)
        m.nanGradCalls = Set.of(11L);  // step 6: finite loss, NaN gradient
        var r = trainer(m, settings("--max_bad_steps=2"), run).run(false);
        assertEquals(20, r.steps());
        assertEquals(2, r.badSteps());
        List<JsonNode> lines = log(run);
        JsonNode step4 = lines.stream().filter(n -> n.path("type").asText().equals("train") && n.path("step").asLong() == 4).findFirst().orElseThrow();
        assertTrue(step4.path("skipped").asBoolean());
        assertEquals("NaN", step4.path("loss").asText());
        long skipped = lines.stream().filter(n -> n.path("skipped").asBoolean()).count();
        assertEquals(2, skipped);
        for (float f : m.w.value().toFloatArray()) assertTrue(Float.isFinite(f), "a skipped step leaves the weights finite");
    }

    @Test
    void maxBadStepsInARowStopsAndKeepsTheLastGoodCheckpoint(@TempDir Path run) throws Exception {
        BigramModel m = new BigramModel(VOCAB, 5);
        Set<Long> bad = new java.util.HashSet<>();
        for (long c = 2 * 12; c < 2 * 20; c++) bad.add(c); // every step from 13 on
        m.nanLossCalls = bad;
        var e = assertThrows(TrainingStoppedException.class, () -> trainer(m, settings("--max_bad_steps=3"), run).run(false));
        assertEquals(15, e.step());
        assertTrue(e.getMessage().contains("3 consecutive") && e.getMessage().contains("checkpoint"), e.getMessage());
        assertEquals(run.resolve("checkpoint"), e.checkpoint());
        TrainerState st = TrainerState.read(run.resolve("checkpoint/training").resolve(Checkpoints.TRAINER_FILE));
        assertEquals(10, st.step(), "the checkpoint of step 10 is kept");
        assertEquals(0, st.consecutiveBadSteps());
        assertEquals("stop", log(run).getLast().path("type").asText());
    }

    @Test
    void logsEvaluationAccuracyAndWritesThePlot(@TempDir Path run) throws Exception {
        BigramModel m = new BigramModel(VOCAB, 11);
        var task = new SelectiveCopying(16, VOCAB, 3);
        var s = settings("--seq_len=16", "--plot=true", "--steps=10", "--checkpoint_every=0");
        var r = new Trainer(m, task, s, ScalarTrainingBackend.INSTANCE, run, m::load).console(QUIET).run(false);
        assertNotNull(r.lastValidation().accuracy());
        List<JsonNode> evals = log(run).stream().filter(n -> n.path("type").asText().equals("eval")).toList();
        assertEquals(List.of(5L, 10L), evals.stream().map(n -> n.get("step").asLong()).toList());
        for (JsonNode ev : evals) {
            assertTrue(ev.get("val_loss").isNumber());
            assertEquals(Math.exp(ev.get("val_loss").asDouble()), ev.get("val_ppl").asDouble(), 1e-9);
            assertTrue(ev.get("accuracy").asDouble() >= 0 && ev.get("accuracy").asDouble() <= 1);
        }
        JsonNode first = log(run).stream().filter(n -> n.path("type").asText().equals("train")).findFirst().orElseThrow();
        for (String k : List.of("step", "loss", "lr", "grad_norm", "tokens", "tok_per_s", "elapsed_s")) assertTrue(first.has(k), k);
        assertEquals(2L * 4 * 16, first.get("tokens").asLong());
        byte[] png = Files.readAllBytes(run.resolve(Trainer.PLOT_FILE));
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
        assertTrue(Files.isRegularFile(run.resolve("checkpoint/model/model.safetensors")));
        assertTrue(Files.isRegularFile(run.resolve("checkpoint/model/config.json")));
        assertTrue(Files.isRegularFile(run.resolve("checkpoint/training/optimizer.safetensors")));
        assertEquals(s, TrainSettings.resolve(new ObjectMapper().readTree(run.resolve(Trainer.SETTINGS_FILE).toFile()), List.of()));
        var wrongLen = assertThrows(UserInputException.class,
                () -> new Trainer(m, task, settings("--seq_len=12"), ScalarTrainingBackend.INSTANCE, run.resolve("x"), m::load).run(false));
        assertTrue(wrongLen.getMessage().contains("seq_len=12"), wrongLen.getMessage());
    }

    /** Rows count up mod VOCAB from a random start: a bigram model can learn it to a loss near 0. */
    static final mamba4j.nn.data.DataSource COUNTING = new mamba4j.nn.data.DataSource() {
        @Override public String describe() { return "counting"; }
        @Override public mamba4j.nn.data.Batch trainBatch(int batchSize, int seqLen, mamba4j.nn.data.SplitMix64 rng) {
            int[][] in = new int[batchSize][seqLen], tg = new int[batchSize][seqLen];
            for (int b = 0; b < batchSize; b++) {
                int x = rng.nextInt(VOCAB);
                for (int t = 0; t < seqLen; t++) { in[b][t] = x; x = (x + 1) % VOCAB; tg[b][t] = x; }
            }
            return new mamba4j.nn.data.Batch(in, tg);
        }
        @Override public mamba4j.nn.data.Batch validationBatch(int index, int batchSize, int seqLen) {
            return trainBatch(batchSize, seqLen, mamba4j.nn.data.SplitMix64.stream(0, index));
        }
    };

    @Test
    void trainingLowersTheLoss(@TempDir Path run) {
        BigramModel m = new BigramModel(VOCAB, 2);
        var s = settings("--steps=60", "--lr=0.1", "--eval_every=60", "--checkpoint_every=0", "--grad_clip=0", "--weight_decay=0");
        double before = Evaluation.run(m, COUNTING, 2, 4, 12).loss();
        var r = new Trainer(m, COUNTING, s, ScalarTrainingBackend.INSTANCE, run, m::load).console(QUIET).run(false);
        assertEquals(Math.log(VOCAB), before, 0.05);
        assertTrue(r.lastValidation().loss() < 0.1, before + " → " + r.lastValidation().loss());
    }

    @Test
    void progressBarShowsLossAndThroughput(@TempDir Path run) {
        BigramModel m = new BigramModel(VOCAB, 2);
        var out = new ByteArrayOutputStream();
        var s = settings("--steps=4", "--progress=true", "--eval_every=0", "--checkpoint_every=0");
        new Trainer(m, COUNTING, s, ScalarTrainingBackend.INSTANCE, run, m::load).console(new PrintStream(out, true)).run(false);
        String shown = out.toString();
        assertTrue(shown.contains("train") && shown.contains("4/4") && shown.contains("loss") && shown.contains("tok/s"), shown);
    }

    static List<JsonNode> log(Path run) throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(Trainer.LOG_FILE))) out.add(json.readTree(line));
        return out;
    }
}
