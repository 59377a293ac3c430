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
 * The latest good checkpoint of a run directory, replaced atomically as a whole directory. The model folder holds
 * what transformers loads and nothing else; the training state lives beside it:
 * <pre>
 * &lt;run&gt;/checkpoint/              the latest complete checkpoint
 *          model/                   config.json, model.safetensors, tokenizer (TrainableModel.save and the run's extras),
 *                                   checksums.json — from_pretrained("&lt;run&gt;/checkpoint/model") loads it; --model may name
 *                                   &lt;run&gt;/checkpoint itself ({@link mamba4j.io.ModelFolders})
 *          training/                optimizer.safetensors (AdamW moments, step in the metadata), trainer.json (TrainerState;
 *                                   written last by the body: its presence marks a complete directory), checksums.json
 * &lt;run&gt;/checkpoint.tmp-&lt;step&gt;/     being written (removed on failure or at the next start)
 * &lt;run&gt;/checkpoint.old/          the previous one, only between the two renames below
 * </pre>
 * {@link #write}: fill {@code checkpoint.tmp-<step>}, fsync every file and the directory, rename
 * {@code checkpoint → checkpoint.old}, rename {@code checkpoint.tmp-<step> → checkpoint}, fsync the run directory,
 * delete {@code checkpoint.old}. A crash at any point leaves either {@code checkpoint} or {@code checkpoint.old}
 * complete; {@link #recover} (called at start) renames {@code checkpoint.old} back when {@code checkpoint} is missing
 * and removes leftovers. A checkpoint of the earlier flat layout (training files beside the weights in one folder) is
 * rearranged into this one by {@link #recover}, atomically in the same way.
 */
public final class Checkpoints {
    private Checkpoints() {}

    public static final String DIR = "checkpoint";
    public static final String OLD = "checkpoint.old";
    public static final String TMP_PREFIX = "checkpoint.tmp-";
    public static final String TRAINER_FILE = "trainer.json";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    /** The model subfolder (what transformers loads) and the training-state subfolder of a checkpoint. */
    public static final String MODEL = mamba4j.io.ModelFolders.MODEL, TRAINING = "training";

    /** The model folder of checkpoint {@code ckpt}. */
    public static Path model(Path ckpt) { return ckpt.resolve(MODEL); }

    /** The training-state folder of checkpoint {@code ckpt}. */
    public static Path training(Path ckpt) { return ckpt.resolve(TRAINING); }

    /** Fills a checkpoint: the model into {@code model}, the training state into {@code training} (both exist). */
    @FunctionalInterface
    public interface Body {
        void write(Path model, Path training) throws IOException;
    }

    /**
     * Writes a new checkpoint with {@code body} and makes it {@code runDir/checkpoint}. The body must write
     * {@link #TRAINER_FILE} into the training folder (last). Each folder gets its own checksums.json. When the body
     * throws, the previous checkpoint is untouched and the temporary directory removed.
     */
    public static Path write(Path runDir, long step, Body body) {
        Path run = runDir.toAbsolutePath();
        Path tmp = run.resolve(TMP_PREFIX + step);
        Path cur = run.resolve(DIR);
        try {
            Files.createDirectories(run);
            deleteTree(tmp);
            Files.createDirectory(tmp);
            try {
                Files.createDirectory(model(tmp));
                Files.createDirectory(training(tmp));
                body.write(model(tmp), training(tmp));
                if (!Files.isRegularFile(training(tmp).resolve(TRAINER_FILE)))
                    throw new IllegalStateException("checkpoint body did not write " + TRAINING + "/" + TRAINER_FILE);
                Checksums.write(model(tmp));
                Checksums.write(training(tmp));
                fsyncTree(tmp);
            } catch (IOException | RuntimeException | Error e) {
                deleteTree(tmp);
                throw e;
            }
            replace(run, tmp);
            return cur;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + cur + ": " + e.getMessage(), e);
        }
    }

    /** Makes the complete, synced {@code tmp} the run's checkpoint: the two renames and the fsync of the run directory. */
    private static void replace(Path run, Path tmp) throws IOException {
        Path cur = run.resolve(DIR), old = run.resolve(OLD);
        if (Files.exists(cur)) {
            deleteTree(old); // a stale .old beside a complete checkpoint is garbage
            Files.move(cur, old, StandardCopyOption.ATOMIC_MOVE);
        }
        Files.move(tmp, cur, StandardCopyOption.ATOMIC_MOVE);
        fsync(run);
        deleteTree(old);
    }

    /**
     * Rearranges a checkpoint of the earlier flat layout (weights, tokenizer, optimizer.safetensors, trainer.json and
     * one checksums.json in a single folder): its checksums are verified, the files copied into model/ and training/
     * of a temporary checkpoint with a checksums.json each, and that made the checkpoint as {@link #write} does.
     */
    private static void migrateFlat(Path run, Path cur) throws IOException {
        if (Checksums.present(cur)) Checksums.verify(cur);
        Path tmp = run.resolve(TMP_PREFIX + "layout");
        deleteTree(tmp);
        Files.createDirectories(model(tmp));
        Files.createDirectories(training(tmp));
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(cur)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (!Files.isRegularFile(p) || name.equals(Checksums.FILE)) continue;
                boolean state = name.equals(TRAINER_FILE) || name.equals(OPTIMIZER_FILE);
                Files.copy(p, (state ? training(tmp) : model(tmp)).resolve(name));
            }
        }
        Checksums.write(model(tmp));
        Checksums.write(training(tmp));
        fsyncTree(tmp);
        replace(run, tmp);
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
        if (!Files.isDirectory(training(cur)) && Files.isRegularFile(cur.resolve(TRAINER_FILE))) {
            try {
                migrateFlat(run, cur);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot rearrange the checkpoint " + cur + " into model/ and training/: " + e.getMessage(), e);
            }
        }
        if (!Files.isRegularFile(training(cur).resolve(TRAINER_FILE)))
            throw new UserInputException(cur + ": not a complete training checkpoint (no " + TRAINING + "/" + TRAINER_FILE + ")");
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
