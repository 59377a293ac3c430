package mamba4j.nn;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointsTest {
    static void writeGood(Path run, long step, String payload) {
        Checkpoints.write(run, step, (model, training) -> {
            Files.writeString(model.resolve("model.bin"), payload);
            Files.writeString(training.resolve(Checkpoints.TRAINER_FILE), "{\"step\": " + step + "}");
        });
    }

    @Test
    void aWriterKilledMidWriteLeavesThePreviousCheckpointIntact(@TempDir Path run) throws Exception {
        writeGood(run, 10, "weights at 10");
        AtomicReference<Throwable> died = new AtomicReference<>();
        Thread writer = new Thread(() -> Checkpoints.write(run, 20, (model, training) -> {
            Files.writeString(model.resolve("model.bin"), "weights at 20, half writ");
            throw new IOException("simulated kill in the middle of the checkpoint");
        }));
        writer.setUncaughtExceptionHandler((t, e) -> died.set(e));
        writer.start();
        writer.join();
        assertNotNull(died.get(), "the writer failed");
        assertEquals("weights at 10", Files.readString(run.resolve("checkpoint/model/model.bin")));
        assertFalse(Files.exists(run.resolve("checkpoint.tmp-20")), "temporary directory removed");
        assertEquals(run.resolve("checkpoint"), Checkpoints.recover(run).orElseThrow());
        assertEquals("weights at 10", Files.readString(Checkpoints.recover(run).orElseThrow().resolve("model/model.bin")));
    }

    @Test
    void aBodyThatForgetsTheTrainerFileIsNotACheckpoint(@TempDir Path run) throws Exception {
        writeGood(run, 1, "one");
        assertThrows(IllegalStateException.class, () -> Checkpoints.write(run, 2, (model, training) -> Files.writeString(model.resolve("model.bin"), "two")));
        assertEquals("one", Files.readString(run.resolve("checkpoint/model/model.bin")));
    }

    @Test
    void aCrashBetweenTheTwoRenamesIsRecovered(@TempDir Path run) throws Exception {
        writeGood(run, 10, "weights at 10");
        // the state a crash leaves after "checkpoint → checkpoint.old" and before "tmp → checkpoint"
        Files.move(run.resolve("checkpoint"), run.resolve("checkpoint.old"));
        Files.createDirectories(run.resolve("checkpoint.tmp-20"));
        Files.writeString(run.resolve("checkpoint.tmp-20/model.bin"), "partial");
        Path recovered = Checkpoints.recover(run).orElseThrow();
        assertEquals("weights at 10", Files.readString(recovered.resolve("model/model.bin")));
        assertFalse(Files.exists(run.resolve("checkpoint.old")));
        assertFalse(Files.exists(run.resolve("checkpoint.tmp-20")));
    }

    @Test
    void replacingKeepsOnlyTheNewest(@TempDir Path run) throws Exception {
        assertTrue(Checkpoints.recover(run).isEmpty());
        writeGood(run, 1, "one");
        writeGood(run, 2, "two");
        assertEquals("two", Files.readString(run.resolve("checkpoint/model/model.bin")));
        try (var s = Files.list(run)) {
            assertEquals(1, s.count(), "only checkpoint/ remains");
        }
    }

    /** The model folder holds only what a model loader reads; the training state sits beside it, each folder checksummed. */
    @Test
    void theModelFolderHoldsTheModelAndTheTrainingStateLivesBesideIt(@TempDir Path run) throws Exception {
        writeGood(run, 3, "weights");
        Path ck = run.resolve("checkpoint");
        try (var s = Files.list(ck.resolve("model"))) {
            assertEquals(java.util.Set.of("model.bin", "checksums.json"), s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
        try (var s = Files.list(ck.resolve("training"))) {
            assertEquals(java.util.Set.of("trainer.json", "checksums.json"), s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
        mamba4j.io.Checksums.verify(ck.resolve("model"));
        mamba4j.io.Checksums.verify(ck.resolve("training"));
        Files.writeString(ck.resolve("model/config.json"), "{}");
        assertEquals(ck.resolve("model"), mamba4j.io.ModelFolders.resolve(ck), "--model <run>/checkpoint means its model/");
        assertEquals(ck.resolve("model"), mamba4j.io.ModelFolders.resolve(ck.resolve("model")));
    }

    /** A run written by an earlier version (one flat folder) is rearranged at the next start, its bytes kept. */
    @Test
    void aFlatCheckpointOfTheEarlierLayoutIsRearranged(@TempDir Path run) throws Exception {
        Path ck = run.resolve("checkpoint");
        Files.createDirectories(ck);
        Files.writeString(ck.resolve("model.safetensors"), "weights");
        Files.writeString(ck.resolve("config.json"), "{}");
        Files.writeString(ck.resolve(Checkpoints.OPTIMIZER_FILE), "moments");
        Files.writeString(ck.resolve(Checkpoints.TRAINER_FILE), "{\"step\": 7}");
        mamba4j.io.Checksums.write(ck);
        Path got = Checkpoints.recover(run).orElseThrow();
        assertEquals("weights", Files.readString(got.resolve("model/model.safetensors")));
        assertEquals("{}", Files.readString(got.resolve("model/config.json")));
        assertEquals("moments", Files.readString(got.resolve("training/" + Checkpoints.OPTIMIZER_FILE)));
        assertEquals("{\"step\": 7}", Files.readString(got.resolve("training/" + Checkpoints.TRAINER_FILE)));
        assertFalse(Files.exists(ck.resolve("model.safetensors")), "nothing left at the top level");
        mamba4j.io.Checksums.verify(got.resolve("model"));
        mamba4j.io.Checksums.verify(got.resolve("training"));
        try (var s = Files.list(run)) {
            assertEquals(1, s.count(), "only checkpoint/ remains");
        }
    }

    /** A flat checkpoint whose bytes changed is refused by name, not rearranged. */
    @Test
    void aCorruptFlatCheckpointIsRefusedNotRearranged(@TempDir Path run) throws Exception {
        Path ck = run.resolve("checkpoint");
        Files.createDirectories(ck);
        Files.writeString(ck.resolve("model.safetensors"), "weights");
        Files.writeString(ck.resolve(Checkpoints.TRAINER_FILE), "{}");
        mamba4j.io.Checksums.write(ck);
        Files.writeString(ck.resolve("model.safetensors"), "weightz");
        var e = assertThrows(mamba4j.core.UserInputException.class, () -> Checkpoints.recover(run));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
        assertTrue(Files.exists(ck.resolve("model.safetensors")), "left as it was");
    }
}
