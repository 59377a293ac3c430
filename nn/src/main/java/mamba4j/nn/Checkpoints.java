package mamba4j.nn;

import mamba4j.core.UserInputException;
import mamba4j.io.Checksums;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The latest good checkpoint of a run directory, replaced atomically as a whole directory:
 * <pre>
 * &lt;run&gt;/checkpoint/              the latest complete checkpoint
 *          config.json, model.safetensors   (TrainableModel.save)
 *          optimizer.safetensors            (AdamW moments, step in the metadata)
 *          trainer.json                     (TrainerState; written last by the body: its presence marks a complete directory)
 *          checksums.json                   (SHA-256 of each file above; verified on --resume and when a model is loaded)
 * &lt;run&gt;/checkpoint.tmp-&lt;step&gt;/     being written (removed on failure or at the next start)
 * &lt;run&gt;/checkpoint.old/          the previous one, only between the two renames below
 * </pre>
 * {@link #write}: fill {@code checkpoint.tmp-<step>}, fsync every file and the directory, rename
 * {@code checkpoint → checkpoint.old}, rename {@code checkpoint.tmp-<step> → checkpoint}, fsync the run directory,
 * delete {@code checkpoint.old}. A crash at any point leaves either {@code checkpoint} or {@code checkpoint.old}
 * complete; {@link #recover} (called at start) renames {@code checkpoint.old} back when {@code checkpoint} is missing
 * and removes leftovers.
 */
public final class Checkpoints {
    private Checkpoints() {}

    public static final String DIR = "checkpoint";
    public static final String OLD = "checkpoint.old";
    public static final String TMP_PREFIX = "checkpoint.tmp-";
    public static final String TRAINER_FILE = "trainer.json";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";

    /** Fills a checkpoint directory. */
    @FunctionalInterface
    public interface Body {
        void write(Path dir) throws IOException;
    }

    /**
     * Writes a new checkpoint with {@code body} and makes it {@code runDir/checkpoint}. The body must write
     * {@link #TRAINER_FILE} (last). When the body throws, the previous checkpoint is untouched and the temporary
     * directory removed.
     */
    public static Path write(Path runDir, long step, Body body) {
        Path run = runDir.toAbsolutePath();
        Path tmp = run.resolve(TMP_PREFIX + step);
        Path cur = run.resolve(DIR);
        Path old = run.resolve(OLD);
        try {
            Files.createDirectories(run);
            deleteTree(tmp);
            Files.createDirectory(tmp);
            try {
                body.write(tmp);
                if (!Files.isRegularFile(tmp.resolve(TRAINER_FILE)))
                    throw new IllegalStateException("checkpoint body did not write " + TRAINER_FILE);
                Checksums.write(tmp);
                fsyncTree(tmp);
            } catch (IOException | RuntimeException | Error e) {
                deleteTree(tmp);
                throw e;
            }
            if (Files.exists(cur)) {
                deleteTree(old); // a stale .old beside a complete checkpoint is garbage
                Files.move(cur, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, cur, StandardCopyOption.ATOMIC_MOVE);
            fsync(run);
            deleteTree(old);
            return cur;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + cur + ": " + e.getMessage(), e);
        }
    }

    /**
     * Repairs what a crash may have left and returns the complete checkpoint, if any: restores {@code checkpoint.old}
     * when {@code checkpoint} is missing, deletes {@code checkpoint.old} when both exist, deletes temporary dirs.
     */
    public static Optional<Path> recover(Path runDir) {
        Path run = runDir.toAbsolutePath();
        Path cur = run.resolve(DIR);
        Path old = run.resolve(OLD);
        if (!Files.isDirectory(run)) return Optional.empty();
        try {
            if (!Files.exists(cur) && Files.exists(old)) {
                Files.move(old, cur, StandardCopyOption.ATOMIC_MOVE);
                fsync(run);
            }
            deleteTree(old);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(run, TMP_PREFIX + "*")) {
                for (Path p : ds) deleteTree(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot recover the checkpoint of " + run + ": " + e.getMessage(), e);
        }
        if (!Files.exists(cur)) return Optional.empty();
        if (!Files.isRegularFile(cur.resolve(TRAINER_FILE)))
            throw new UserInputException(cur + ": not a complete training checkpoint (no " + TRAINER_FILE + ")");
        return Optional.of(cur);
    }

    /** Forces every regular file under {@code dir}, then the directories themselves. */
    static void fsyncTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) fsync(p);
        }
    }

    static void fsync(Path p) {
        boolean dir = Files.isDirectory(p);
        try (FileChannel ch = FileChannel.open(p, dir ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            if (!dir) throw new UncheckedIOException("cannot fsync " + p, e instanceof IOException io ? io : new IOException(e));
            // directories cannot be opened on every platform: best effort, as AtomicFiles
        }
    }

    /** Deletes {@code p} and everything below it, if it exists. */
    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
