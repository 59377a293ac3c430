package mamba4j.io.hub;

import mamba4j.core.UserInputException;
import mamba4j.io.AtomicFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * One model repository's folder in the hub cache ({@code <cache>/models--ORG--NAME}), read and written in
 * huggingface_hub's layout (see the package documentation): files only, no network.
 */
public final class HubCache {
    private final Path cacheDir;
    private final RepoId id;
    private final Path dir;

    public HubCache(Path cacheDir, RepoId id) {
        this.cacheDir = cacheDir;
        this.id = id;
        this.dir = cacheDir.resolve(id.folderName());
    }

    /** {@code <cache>/models--ORG--NAME}. */
    public Path repoDir() { return dir; }

    /**
     * The commit a revision names here: a commit hash is itself; a branch or tag is what {@code refs/<revision>}
     * holds; empty when the cache has not seen it.
     */
    public Optional<String> commitOf(String revision) {
        if (RepoId.isCommit(revision)) return Optional.of(revision);
        Path ref = dir.resolve("refs").resolve(revision);
        try {
            if (!Files.isRegularFile(ref)) return Optional.empty();
            String commit = Files.readString(ref, StandardCharsets.UTF_8).strip();
            if (!RepoId.isCommit(commit))
                throw new UserInputException(ref + ": holds '" + commit.lines().findFirst().orElse("") + "', not a commit hash; delete it to resolve "
                        + revision + " again");
            return Optional.of(commit);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + ref + ": " + e.getMessage(), e);
        }
    }

    /** Records that {@code revision} (a branch or tag) is at {@code commit}: {@code refs/<revision>}, written atomically. */
    public void writeRef(String revision, String commit) {
        if (revision.equals(commit)) return;
        byte[] b = commit.getBytes(StandardCharsets.US_ASCII);
        AtomicFiles.write(dir.resolve("refs").resolve(revision), ch -> ch.write(ByteBuffer.wrap(b)));
    }

    /** {@code snapshots/<commit>}. */
    public Path snapshot(String commit) { return dir.resolve("snapshots").resolve(commit); }

    /** Whether {@code snapshots/<commit>/<file>} is there and readable (a link whose blob was deleted is not). */
    public boolean has(String commit, String file) { return Files.isRegularFile(snapshot(commit).resolve(file)); }

    /** Whether the hub said {@code file} is not in {@code commit} ({@code .no_exist/<commit>/<file>}). */
    public boolean knownMissing(String commit, String file) { return Files.exists(dir.resolve(".no_exist").resolve(commit).resolve(file)); }

    /** Remembers that {@code file} is not in {@code commit}, so the next lookup does not ask again. */
    public void markMissing(String commit, String file) {
        Path p = dir.resolve(".no_exist").resolve(commit).resolve(file);
        try {
            Files.createDirectories(p.getParent());
            if (!Files.exists(p)) Files.createFile(p);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // another process marked it first
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
        }
    }

    /** {@code blobs/<etag>}. */
    public Path blob(String etag) {
        if (!etag.matches("[A-Za-z0-9_.\\-]+") || etag.startsWith("."))
            throw new UserInputException(id + ": the hub sent the etag '" + etag + "', which cannot name a file in " + dir.resolve("blobs"));
        return dir.resolve("blobs").resolve(etag);
    }

    /** {@code blobs/<etag>.incomplete}: a download in progress, continued from its length. */
    public Path incomplete(String etag) { return blob(etag).resolveSibling(etag + ".incomplete"); }

    /**
     * An exclusive lock for writing the blob {@code etag} ({@code <cache>/.locks/models--ORG--NAME/<etag>.lock}),
     * held by this process until closed: two mamba4j processes never write one blob at once.
     */
    public FileLock lock(String etag) {
        Path p = cacheDir.resolve(".locks").resolve(id.folderName()).resolve(blob(etag).getFileName() + ".lock");
        try {
            Files.createDirectories(p.getParent());
            FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                return ch.lock();
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lock " + p + ": " + e.getMessage(), e);
        }
    }

    /**
     * Points {@code snapshots/<commit>/<file>} at {@code blobs/<etag>} with a relative symbolic link (as
     * huggingface_hub: {@code ../../blobs/<etag>} for a top-level file), replacing an older entry atomically; where the
     * file system has no symbolic links, a copy of the blob.
     */
    public Path link(String commit, String file, String etag) {
        Path pointer = snapshot(commit).resolve(file), blob = blob(etag);
        try {
            Files.createDirectories(pointer.getParent());
            Path tmp = pointer.resolveSibling("." + pointer.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".link");
            try {
                Files.createSymbolicLink(tmp, pointer.getParent().relativize(blob));
            } catch (UnsupportedOperationException | FileSystemException e) {
                Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
            }
            Files.move(tmp, pointer, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return pointer;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + pointer + ": " + e.getMessage(), e);
        }
    }
}
