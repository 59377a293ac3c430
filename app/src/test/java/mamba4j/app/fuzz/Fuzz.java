package mamba4j.app.fuzz;

import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * What every fuzz target shares. The rule under test: a reader given any bytes either succeeds or throws a
 * {@link UserInputException} (one line, naming the file); anything else — NullPointerException, ClassCastException,
 * ArithmeticException, OutOfMemoryError, an InvalidPathException, a hang — is a finding.
 *
 * <p>Targets that read several files take one input split at {@link #SEPARATOR} (so a seed is the files of a real
 * checkpoint joined by it). Sizes are bounded at 256 MiB ({@code mamba4j.memory}) so that a config asking for a huge
 * model is refused by the size check rather than allocated.
 */
final class Fuzz {
    private Fuzz() {}

    static final byte[] SEPARATOR = "\n--mamba4j-fuzz-part--\n".getBytes(StandardCharsets.US_ASCII);

    static {
        System.setProperty("mamba4j.memory", Long.toString(256L << 20));
    }

    /** A fresh, empty directory for one input (the same one each time, emptied). */
    static Path dir(String name) {
        Path d = Path.of(System.getProperty("java.io.tmpdir"), "mamba4j-fuzz-" + ProcessHandle.current().pid(), name);
        try {
            if (Files.exists(d)) {
                try (Stream<Path> s = Files.walk(d)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) if (!p.equals(d)) Files.delete(p);
                }
            } else Files.createDirectories(d);
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code input} split at {@link #SEPARATOR} into exactly {@code n} parts (missing ones empty). */
    static List<byte[]> parts(byte[] input, int n) {
        List<byte[]> out = new ArrayList<>();
        int from = 0;
        for (int k = 0; k < n - 1; k++) {
            int at = indexOf(input, SEPARATOR, from);
            if (at < 0) break;
            out.add(Arrays.copyOfRange(input, from, at));
            from = at + SEPARATOR.length;
        }
        out.add(Arrays.copyOfRange(input, Math.min(from, input.length), input.length));
        while (out.size() < n) out.add(new byte[0]);
        return out;
    }

    private static int indexOf(byte[] a, byte[] b, int from) {
        outer:
        for (int i = from; i <= a.length - b.length; i++) {
            for (int j = 0; j < b.length; j++) if (a[i + j] != b[j]) continue outer;
            return i;
        }
        return -1;
    }

    /** Runs {@code reader}; a {@link UserInputException} is the expected way to refuse, and must be one line. */
    static void userErrorsOnly(Runnable reader) {
        try {
            reader.run();
        } catch (UserInputException e) {
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.chars().anyMatch(c -> c < 0x20 || c == 0x7f))
                throw new AssertionError("a user error must be one printable line, got: " + m, e);
        }
    }
}
