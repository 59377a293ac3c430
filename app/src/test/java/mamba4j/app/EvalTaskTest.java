package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `eval-task` and `train --eval-lengths`: the same (task, length, sequences, seed) scores the same; --sequences and
 * --seed change what is scored; the committed 64× induction-heads checkpoint (docs/induction-heads-64x, RESULTS.md)
 * still solves the task at its training length and 4× it; bad flags are named.
 */
class EvalTaskTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void evalTaskScoresWhatTrainScored(@TempDir Path tmp) throws IOException {
        Path preset = tmp.resolve("ih.json");
        Files.writeString(preset, "{\"model\": {\"d_model\": 16, \"n_layer\": 1, \"vocab_size\": 16}, \"data\": {\"task\": \"induction-heads\", \"seq_len\": 32}}");
        Cli t = Cli.run("train", "--preset", preset.toString(), "--out", tmp.resolve("run").toString(), "--seq_len=32", "--batch_size=8", "--steps=20",
                "--lr=0.01", "--warmup=0", "--eval_every=0", "--progress=false", "--plot=false", "--eval-lengths", "32,64", "--eval-sequences", "40");
        assertEquals(0, t.status(), t.err());
        JsonNode trained = JSON.readTree(tmp.resolve("run/eval_lengths.json").toFile());
        Cli e = Cli.run("eval-task", "--model", tmp.resolve("run/checkpoint").toString(), "--task", "induction-heads", "--lengths", "32,64",
                "--sequences", "40", "--out", tmp.resolve("eval").toString());
        assertEquals(0, e.status(), e.err());
        JsonNode evaluated = JSON.readTree(tmp.resolve("eval/eval_lengths.json").toFile());
        assertEquals(trained, evaluated, "train --eval-lengths and eval-task on its checkpoint");
        assertEquals(40, evaluated.get(1).get("sequences").asInt(), "40 sequences (batches of 16, 16, 8)");
        Cli other = Cli.run("eval-task", "--model", tmp.resolve("run/checkpoint").toString(), "--task", "induction-heads", "--lengths", "64",
                "--sequences", "40", "--seed", "7", "--out", tmp.resolve("eval7").toString());
        assertEquals(0, other.status(), other.err());
        assertEquals(7, JSON.readTree(tmp.resolve("eval7/eval_lengths.json").toFile()).get(0).get("seed").asLong());
        Cli bad = Cli.run("eval-task", "--model", tmp.resolve("run/checkpoint").toString(), "--task", "copying", "--lengths", "64");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--task copying"), bad.err());
        bad = Cli.run("eval-task", "--model", tmp.resolve("run/checkpoint").toString(), "--task", "induction-heads", "--lengths", "64", "--sequences", "0");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("--sequences must be ≥ 1"), bad.err());
    }

    @Test
    void theCommittedInductionHeadsCheckpointSolvesTheTask() {
        Cli e = Cli.run("eval-task", "--model", "../docs/induction-heads-64x", "--task", "induction-heads", "--lengths", "256,1024", "--sequences", "64");
        assertEquals(0, e.status(), e.err());
        assertTrue(e.out().contains("eval length    256: token accuracy 1.0000, sequence accuracy 1.0000 (64 sequences)"), e.out());
        assertTrue(e.out().contains("eval length   1024: token accuracy 1.0000, sequence accuracy 1.0000 (64 sequences)"), e.out());
    }
}
