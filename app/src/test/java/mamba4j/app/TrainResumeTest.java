package mamba4j.app;

import mamba4j.io.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `train` on a real (tiny) Mamba: resume is bit-exact, and SIGKILL at any moment leaves a loadable checkpoint. */
class TrainResumeTest {
    static final String[] TINY = {"--preset", "selective-copying", "--model.d_model=16", "--model.n_layer=2", "--seq_len=40",
            "--data.num_tokens=4", "--batch_size=4", "--schedule=constant", "--warmup=0", "--eval_every=0", "--progress=false", "--plot=false"};

    static String[] args(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--out", out.toString()));
        a.addAll(List.of(TINY));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static byte[] weights(Path run) throws IOException {
        return Files.readAllBytes(run.resolve("checkpoint/model").resolve("model.safetensors"));
    }

    @Test
    void twentyStepsEqualTenPlusResumePlusTen(@TempDir Path tmp) throws IOException {
        Cli a = Cli.run(args(tmp.resolve("a"), "--steps=20", "--checkpoint_every=0"));
        assertEquals(0, a.status(), a.err());
        Cli b1 = Cli.run(args(tmp.resolve("b"), "--steps=10", "--checkpoint_every=0"));
        assertEquals(0, b1.status(), b1.err());
        Cli b2 = Cli.run(args(tmp.resolve("b"), "--steps=20", "--checkpoint_every=0", "--resume", "--allow-changes"));
        assertEquals(0, b2.status(), b2.err());
        assertArrayEquals(weights(tmp.resolve("a")), weights(tmp.resolve("b")), "weights after 20 steps vs 10 + resume + 10");
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/checkpoint/training/optimizer.safetensors")),
                Files.readAllBytes(tmp.resolve("b/checkpoint/training/optimizer.safetensors")), "optimizer state");
    }

    @Test
    void sigkillDuringCheckpointingLosesNothing(@TempDir Path tmp) throws Exception {
        long[] delaysMs = {0, 37, 151};
        for (long delay : delaysMs) {
            Path run = tmp.resolve("k" + delay);
            Path childLog = tmp.resolve("child" + delay + ".txt");
            Process p = javaProcess(childLog, args(run, "--steps=400", "--checkpoint_every=1"));
            Path marker = run.resolve("checkpoint/training").resolve("trainer.json");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(marker) && System.nanoTime() < deadline && p.isAlive()) Thread.sleep(5);
            assertTrue(Files.exists(marker), "a first checkpoint appears; the child printed: " + Files.readString(childLog));
            Thread.sleep(delay);
            p.destroyForcibly();           // SIGKILL
            p.waitFor(30, TimeUnit.SECONDS);
            // the last good checkpoint is intact: it opens, and training resumes from it to the end
            Cli r = Cli.run(args(run, "--steps=400", "--checkpoint_every=100", "--resume", "--allow-changes"));
            assertEquals(0, r.status(), "resume after SIGKILL at +" + delay + " ms: " + r.err());
            try (SafetensorsFile f = SafetensorsFile.open(run.resolve("checkpoint/model").resolve("model.safetensors"))) {
                assertTrue(f.names().contains("backbone.embeddings.weight"));
            }
            assertEquals(400, new com.fasterxml.jackson.databind.ObjectMapper().readTree(run.resolve("checkpoint/training/trainer.json").toFile())
                    .get("step").asInt(), "the resumed run reached the last step");
        }
    }

    private static Process javaProcess(Path log, String... cliArgs) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "mamba4j.app.Main"));
        cmd.addAll(List.of(cliArgs));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
