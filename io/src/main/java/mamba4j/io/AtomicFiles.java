package mamba4j.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a file so that a reader sees either the old content or the complete new content, never a half:
 * the bytes go to a temporary file in the same directory, are forced to disk, and the temporary file is
 * renamed over the target ({@code rename(2)} is atomic within one file system). A run killed mid-write
 * leaves at most a stray {@code .<name>.*.tmp} beside the target.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** The body that fills the temporary file through its channel. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel out) throws IOException;
    }

    /**
     * Writes {@code target} atomically with {@code body}, replacing any existing file.
     *
     * @throws UncheckedIOException when the directory is not writable or the disk is full; the target is
     *     then untouched and the temporary file removed
     */
    public static void write(Path target, Body body) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // a fresh name created like any other file (permissions from the umask, not createTempFile's 0600,
            // so the renamed result is readable like a normal output)
            tmp = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong()) + ".tmp");
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                body.write(out);
                out.force(true);
            }
            // ATOMIC_MOVE replaces an existing target on POSIX (rename(2)); REPLACE_EXISTING states the intent.
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + abs + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original failure is the one worth reporting
                }
            }
        }
    }

    /** The body that fills a temporary directory. */
    @FunctionalInterface
    public interface DirectoryBody {
        void write(Path dir) throws IOException;
    }

    /**
     * Writes the directory {@code target} atomically: {@code body} fills a fresh temporary directory beside it, which is
     * then renamed to {@code target}; an existing {@code target} (the caller decided it may go) is first renamed aside and
     * removed only once the new one is in place. A failure leaves {@code target} as it was and no temporary directory.
     *
     * @throws UncheckedIOException when the directory cannot be written or renamed
     */
    public static void writeDirectory(Path target, DirectoryBody body) {
        Path abs = target.toAbsolutePath().normalize();
        Path parent = abs.getParent();
        String base = "." + abs.getFileName() + "." + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong());
        Path tmp = parent.resolve(base + ".tmp"), old = parent.resolve(base + ".old");
        try {
            Files.createDirectories(parent);
            Files.createDirectory(tmp);
            body.write(tmp);
            if (Files.exists(abs, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.move(abs, old, StandardCopyOption.ATOMIC_MOVE);
                try {
                    Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    Files.move(old, abs, StandardCopyOption.ATOMIC_MOVE);
                    throw e;
                }
                deleteTree(old);
            } else {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            }
            syncDirectory(parent);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + abs + ": " + e.getMessage(), e);
        } finally {
            try {
                deleteTree(tmp);
            } catch (IOException ignored) {
                // the original failure is the one worth reporting
            }
        }
    }

    /** Deletes a file or a directory tree (links are removed, not followed); absent is fine. */
    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
            try (var s = Files.list(p)) {
                for (Path c : s.toList()) deleteTree(c);
            }
        Files.delete(p);
    }

    /** Makes the rename itself durable; not every platform can open a directory, which is fine. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort: Windows cannot open directories as channels
        }
    }
}
