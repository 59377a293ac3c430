package mamba4j.io;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The two rules every reader of a user's file follows: the file is read through {@link #readJson} (one-line
 * {@link UserInputException} naming the file for every way it can be wrong — missing, a directory, too large,
 * not JSON, nested too deep), and a name found inside a file (a shard, a tokenizer, a plan's data) resolves
 * through {@link #inside} so it cannot leave the folder it belongs to.
 */
public final class UserFiles {
    private UserFiles() {}

    /** Largest JSON file read (configs are kilobytes; the largest tokenizer.json files are tens of megabytes). */
    public static final long MAX_JSON_BYTES = 512L << 20;

    /**
     * The bytes of a small user file, refusing a missing file, a directory, and a file over {@code maxBytes}
     * before reading it.
     */
    public static byte[] readBytes(Path file, long maxBytes) {
        Path p = file.toAbsolutePath();
        if (Files.isDirectory(p)) throw new UserInputException(p + ": is a directory, expected a file");
        try {
            long size = Files.size(p);
            if (size > maxBytes)
                throw new UserInputException(p + ": " + size + " bytes, more than the " + maxBytes + " this reader accepts");
            return Files.readAllBytes(p);
        } catch (NoSuchFileException e) {
            throw new UserInputException(p + ": file not found", e);
        } catch (AccessDeniedException e) {
            throw new UserInputException(p + ": permission denied", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    /** Parses a user's JSON file with {@link JsonConfig}'s strict reader. */
    public static JsonNode readJson(Path file) {
        Path p = file.toAbsolutePath();
        return parseJson(p, readBytes(p, MAX_JSON_BYTES));
    }

    /** Parses {@code bytes}, naming {@code file} in errors (null for an empty input). */
    public static JsonNode parseJson(Path file, byte[] bytes) {
        return parseJson(JsonConfig.JSON, file, bytes);
    }

    static JsonNode parseJson(ObjectMapper mapper, Path file, byte[] bytes) {
        try {
            return mapper.readTree(bytes);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation(); // null for a stream constraint (nesting depth, number length)
            throw new UserInputException(file + ": not valid JSON: " + oneLine(e.getOriginalMessage())
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
        } catch (IOException e) {   // bytes in memory: any other failure is the content's (e.g. an unsupported UCS-4 byte order)
            throw new UserInputException(file + ": not valid JSON: " + oneLine(e.getMessage()), e);
        }
    }

    /** A user's file that must hold one JSON object; {@code what} names it in errors (e.g. "--preset x.json"). */
    public static ObjectNode readJsonObject(Path file, String what) {
        JsonNode n = readJson(file);
        if (!(n instanceof ObjectNode o))
            throw new UserInputException(what + ": expected a JSON object, got " + (n == null ? "an empty file" : n.getNodeType()));
        return o;
    }

    /**
     * {@code name} (read from {@code source}, under {@code key}) resolved in {@code dir}, refusing what would leave
     * it: an empty name, a NUL or other control character, an absolute path, a {@code ..} component, and a symbolic
     * link (anywhere on the way) whose target is outside {@code dir}. The file need not exist.
     */
    public static Path inside(Path dir, String name, Path source, String key) {
        String where = source.toAbsolutePath() + ": key '" + key + "'";
        if (name.isEmpty()) throw new UserInputException(where + " is an empty path");
        for (int i = 0; i < name.length(); i++)
            if (name.charAt(i) < 0x20 || name.charAt(i) == 0x7f)
                throw new UserInputException(where + " holds a control character (code " + (int) name.charAt(i) + ") in the path " + printable(name));
        Path rel;
        try {
            rel = Path.of(name);
        } catch (InvalidPathException e) {
            throw new UserInputException(where + ": " + printable(name) + " is not a valid path: " + e.getReason());
        }
        if (rel.isAbsolute() || name.startsWith("/") || name.startsWith("\\"))
            throw new UserInputException(where + ": " + printable(name) + " is an absolute path; it must name a file inside " + dir.toAbsolutePath());
        for (Path part : rel)
            if (part.toString().equals(".."))
                throw new UserInputException(where + ": " + printable(name) + " leaves its folder (..); it must name a file inside " + dir.toAbsolutePath());
        Path base = dir.toAbsolutePath().normalize();
        Path p = base.resolve(rel).normalize();
        if (Files.exists(p, LinkOption.NOFOLLOW_LINKS) || Files.exists(p)) {
            try {
                Path real = p.toRealPath(), realBase = base.toRealPath();
                if (!real.startsWith(realBase) && !hubBlob(base, real))
                    throw new UserInputException(where + ": " + printable(name) + " is a link to " + real + ", outside its folder " + realBase);
            } catch (NoSuchFileException e) {
                // a dangling link: the reader that opens it reports the missing file
            } catch (IOException e) {
                throw new UncheckedIOException("cannot resolve " + p + ": " + e.getMessage(), e);
            }
        }
        return p;
    }

    /**
     * The Hugging Face hub cache links each file of {@code <repo>/snapshots/<revision>/} to {@code <repo>/blobs/<hash>}:
     * a link from a snapshot folder into its repository's blobs folder stays inside the download.
     */
    private static boolean hubBlob(Path base, Path real) {
        Path snapshots = base.getParent();
        if (snapshots == null || snapshots.getFileName() == null || !snapshots.getFileName().toString().equals("snapshots")) return false;
        try {
            Path blobs = snapshots.getParent().resolve("blobs").toRealPath();
            return real.getParent() != null && real.getParent().equals(blobs);
        } catch (IOException e) {
            return false;
        }
    }

    /** A name for a message: control characters shown as \\uXXXX, at most 200 characters. */
    public static String printable(String s) {
        StringBuilder b = new StringBuilder("'");
        for (int i = 0; i < s.length() && i < 200; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        if (s.length() > 200) b.append("...");
        return b.append('\'').toString();
    }

    /**
     * A message part that quotes a user's bytes (a parser's "Unrecognized token '…'") as one printable line: line
     * breaks become spaces, other control characters {@code \\uXXXX}, at most 300 characters.
     */
    public static String oneLine(String s) {
        if (s == null) return "";
        String t = s.replaceAll("\\s*\\R\\s*", " ");
        StringBuilder b = new StringBuilder(Math.min(t.length(), 310));
        for (int i = 0; i < t.length() && b.length() < 300; i++) {
            char c = t.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.length() >= 300 && t.length() > 300 ? b.substring(0, 297) + "..." : b.toString();
    }
}
