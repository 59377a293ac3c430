package mamba4j.app;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A run folder resumes by itself, is never overwritten silently, and keeps its progress on SIGTERM; settings are strict. */
class RunFolderTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static long checkpointStep(Path run) throws IOException {
        return JSON.readTree(run.resolve("checkpoint/training/trainer.json").toFile()).get("step").asLong();
    }

    @Test
    void resumeReadsTheSavedSettingsAndRefusesSilentChanges(@TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        assertEquals(0, Cli.run(TrainResumeTest.args(a, "--steps", "20", "--checkpoint_every=0")).status());
        // b: 20 steps with a checkpoint at 10, then resumed after losing the last 10 (the checkpoint at 10 is kept)
        Cli b1 = Cli.run(TrainResumeTest.args(b, "--steps=10", "--checkpoint_every=0"));
        assertEquals(0, b1.status(), b1.err());

        Cli again = Cli.run(TrainResumeTest.args(b, "--steps=10"));
        CliFrontTest.assertOneLineError(again, "--out", "not empty", "--resume");

        Cli changed = Cli.run("train", "--out", b.toString(), "--resume", "--steps", "20", "--lr=0.01");
        CliFrontTest.assertOneLineError(changed, "steps 10 → 20", "lr", "--allow-changes");

        Cli finished = Cli.run("train", "--out", b.toString(), "--resume");
        assertEquals(0, finished.status(), finished.err());
        assertTrue(finished.out().contains("already finished"), finished.out());
        assertFalse(finished.out().contains("NaN"), finished.out());

        Cli more = Cli.run("train", "--out", b.toString(), "--resume", "--allow-changes", "--steps=20");
        assertEquals(0, more.status(), more.err());
        assertTrue(more.err().contains("resume: changing steps 10 → 20"), more.err());
        assertArrayEquals(TrainResumeTest.weights(a), TrainResumeTest.weights(b), "10 + resume from the folder alone + 10 = 20");

        Cli none = Cli.run("train", "--out", tmp.resolve("nothing").toString(), "--resume");
        CliFrontTest.assertOneLineError(none, "holds no run");
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        CliFrontTest.assertOneLineError(Cli.run(TrainResumeTest.args(file, "--steps=2")), "is a file");
    }

    @Test
    void unknownKeysAreErrorsNamingTheNearestValidOne(@TempDir Path tmp) throws IOException {
        CliFrontTest.assertOneLineError(Cli.run(TrainResumeTest.args(tmp.resolve("r1"), "--data.seqlen=64")), "data.seqlen", "did you mean 'seq_len'");
        CliFrontTest.assertOneLineError(Cli.run(TrainResumeTest.args(tmp.resolve("r2"), "--sep_len=64")), "sep_len", "did you mean 'seq_len'");
        CliFrontTest.assertOneLineError(Cli.run(TrainResumeTest.args(tmp.resolve("r3"), "--model.d_modle=8")), "d_modle", "did you mean 'd_model'");
        Path preset = Files.writeString(tmp.resolve("p.json"), "{\"model\": {\"d_model\": 16}, \"data\": {\"task\": \"induction-heads\"}, \"trian\": {\"steps\": 3}}");
        CliFrontTest.assertOneLineError(Cli.run("train", "--preset", preset.toString(), "--out", tmp.resolve("r4").toString()), "'trian'", "did you mean 'train'");
        CliFrontTest.assertOneLineError(Cli.run("train", "--preset", "induction-head", "--out", tmp.resolve("r5").toString()), "did you mean 'induction-heads'");
    }

    @Test
    void aShortenedRunScalesThePresetsWarmup(@TempDir Path tmp) throws IOException {
        // induction-heads: 2000 steps, warmup 100 → 30 steps, warmup round(100 · 30 / 2000) = 2
        Cli r = Cli.run("train", "--preset", "induction-heads", "--out", tmp.resolve("w").toString(), "--steps", "30", "--model.d_model=8",
                "--batch_size=2", "--seq_len=32", "--eval_every=0", "--progress=false", "--plot=false", "--steps=3");
        assertEquals(0, r.status(), r.err());
        assertEquals(0, JSON.readTree(tmp.resolve("w/preset.json").toFile()).at("/train/warmup").asLong(), "round(100 · 3 / 2000)");
        Cli explicit = Cli.run("train", "--preset", "induction-heads", "--out", tmp.resolve("w2").toString(), "--steps=30", "--warmup=100");
        CliFrontTest.assertOneLineError(explicit, "warmup=100", "set --warmup");
    }

    @Test
    void builtInPresetsFindTheirDataFromAnyDirectory(@TempDir Path tmp) throws IOException {
        // the test runs in app/, where data/austen.txt does not exist: the checkout is found from the classes' location
        assertFalse(Files.exists(Path.of("data/austen.txt")));
        Cli r = Cli.run("train", "--preset", "austen-bytes", "--out", tmp.resolve("aus").toString(), "--steps=1", "--model.d_model=8",
                "--model.n_layer=1", "--batch_size=1", "--seq_len=16", "--eval_every=0", "--progress=false", "--plot=false");
        assertEquals(0, r.status(), r.err());
        Path ckpt = tmp.resolve("aus/checkpoint");
        assertTrue(Files.readString(ckpt.resolve("model/config.json")).contains("\"mamba4j_tokenizer\""), "the byte-level checkpoint carries its tokenizer marker");
        Cli g = Cli.run("generate", "--model", ckpt.toString(), "--prompt", "It is", "--max-new-tokens", "3");
        assertEquals(0, g.status(), g.err());
        assertTrue(g.out().startsWith("It is"), g.out());
        assertTrue(g.err().contains("tok/s"), "generate reports tok/s: " + g.err());
    }

    @Test
    void sigtermDuringTrainingWritesACheckpointThenExits(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("t");
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), "mamba4j.app.Main"));
        cmd.addAll(List.of(TrainResumeTest.args(run, "--steps=100000", "--checkpoint_every=0")));
        Path log = tmp.resolve("stderr.txt");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Path trainLog = run.resolve("log.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline && p.isAlive()
                && !(Files.exists(trainLog) && Files.readString(trainLog).contains("\"step\":5,"))) Thread.sleep(20);
        assertTrue(p.isAlive(), "training runs: " + Files.readString(log));
        assertFalse(Files.exists(run.resolve("checkpoint")), "no checkpoint before the signal (checkpoint_every=0)");
        p.destroy();                        // SIGTERM, as Ctrl-C through the launcher
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "exits after the signal");
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(143, p.exitValue(), out);
        long step = checkpointStep(run);
        assertTrue(step >= 5 && step < 100000, "checkpoint at the step reached: " + step);
        assertTrue(out.contains("interrupted at step " + step) && out.contains("--resume"), out);
        Cli r = Cli.run("train", "--out", run.toString(), "--resume", "--allow-changes", "--steps=" + (step + 2));
        assertEquals(0, r.status(), r.err());
        assertEquals(step + 2, checkpointStep(run));
    }
}
