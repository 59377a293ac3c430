package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.io.CheckpointTensors;

import java.nio.file.Path;
import java.util.List;

/**
 * A sharded checkpoint: {@code model.safetensors.index.json} + two shards (input = index ⊕ shard 1 ⊕ shard 2). A
 * shard name outside the folder must be refused, never followed: the folder's parent holds a file a name like
 * {@code ../secret.safetensors} would reach, and reading it is a finding.
 */
class ShardedCheckpointFuzzTest {
    @FuzzTest
    void sharded(byte[] input) {
        List<byte[]> p = Fuzz.parts(input, 3);
        Path root = Fuzz.dir("sharded");
        Path dir = root.resolve("m");
        try {
            java.nio.file.Files.createDirectories(dir);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Fuzz.write(root.resolve("secret.safetensors"), p.get(1));   // the same bytes as a valid shard: following ".." would succeed
        Fuzz.write(dir.resolve(CheckpointTensors.INDEX_FILE), p.get(0));
        Fuzz.write(dir.resolve("model-00001-of-00002.safetensors"), p.get(1));
        Fuzz.write(dir.resolve("model-00002-of-00002.safetensors"), p.get(2));
        Fuzz.userErrorsOnly(() -> {
            try (CheckpointTensors ck = CheckpointTensors.open(dir)) {
                for (String n : ck.names()) {
                    Path f = ck.file(n).toAbsolutePath().normalize();
                    if (!f.startsWith(dir.toAbsolutePath().normalize()))
                        throw new AssertionError("tensor " + n + " was read from " + f + ", outside the checkpoint folder");
                    ck.get(n);
                }
            }
        });
    }
}
