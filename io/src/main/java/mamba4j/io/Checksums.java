package mamba4j.io;

import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * {@code checksums.json}: the SHA-256 of every other file of a directory mamba4j wrote (a training checkpoint), so
 * that a flipped byte, a truncated or an edited file is found when the directory is read again, naming the file.
 * <pre>
 * {"format": "mamba4j-checksums-v1", "sha256": {"config.json": "9f…", "model.safetensors": "…", …}}
 * </pre>
 */
public final class Checksums {
    private Checksums() {}

    public static final String FILE = "checksums.json";
    public static final String FORMAT = "mamba4j-checksums-v1";

    /** Writes {@code dir/checksums.json} over every regular file directly in {@code dir}, in name order. */
    public static void write(Path dir) {
        ObjectNode root = JsonConfig.JSON.createObjectNode();
        root.put("format", FORMAT);
        ObjectNode sums = root.putObject("sha256");
        for (Map.Entry<String, String> e : compute(dir).entrySet()) sums.put(e.getKey(), e.getValue());
        JsonConfig.write(dir.resolve(FILE), root);
    }

    /** True when {@code dir} holds a checksums file. */
    public static boolean present(Path dir) { return Files.exists(dir.resolve(FILE)); }

    /**
     * Verifies {@code dir} against its checksums file: every file listed exists with its checksum, and no other
     * file is present.
     *
     * @throws UserInputException naming the file that is missing, extra, or whose bytes changed
     */
    public static void verify(Path dir) {
        Path d = dir.toAbsolutePath();
        Path file = d.resolve(FILE);
        if (!Files.exists(file)) throw new UserInputException(d + ": no " + FILE + "; this checkpoint cannot be checked for corruption");
        JsonConfig c = JsonConfig.read(file);
        if (!FORMAT.equals(c.optString("format", null)))
            throw new UserInputException(file + ": key 'format' must be \"" + FORMAT + "\"");
        JsonConfig sums = c.node("sha256");
        Map<String, String> actual = compute(d);
        for (String name : sums.keys()) {
            String want = sums.string(name);
            Path p = UserFiles.inside(d, name, file, "sha256." + name);
            if (!p.getParent().equals(d.normalize()))
                throw new UserInputException(file + ": key 'sha256." + name + "' names a file in a subfolder");
            String got = actual.remove(name);
            if (got == null) throw new UserInputException(d + ": file " + UserFiles.printable(name) + " listed in " + FILE + " is missing");
            if (!got.equals(want))
                throw new UserInputException(p + ": checksum mismatch (sha256 " + got + ", " + FILE + " says " + want
                        + "); the file is corrupt or was changed after it was written");
        }
        if (!actual.isEmpty())
            throw new UserInputException(d + ": file '" + actual.keySet().iterator().next() + "' is not listed in " + FILE
                    + "; it was added after the checkpoint was written");
    }

    private static Map<String, String> compute(Path dir) {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.sorted().toList()) {
                String name = p.getFileName().toString();
                if (name.equals(FILE) || !Files.isRegularFile(p)) continue;
                out.put(name, sha256(p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** The SHA-256 of a file's bytes, lower-case hex. */
    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
