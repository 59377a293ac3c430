package mamba4j.cuda;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The on-disk cache of compiled kernels: one CUBIN per (source with its headers, architecture, options, NVRTC
 * version), named {@code <kernel>-<arch>-<sha256>.cubin} in {@code MAMBA4J_KERNEL_CACHE} (default
 * {@code ~/.cache/mamba4j/kernels}). Files are written to a temporary name and renamed, so a killed run leaves no
 * half-written entry. The cache is an optimisation: an unwritable folder costs a recompile, with one warning.
 */
public final class KernelCache {
    private final Path dir;
    private boolean warned;

    public KernelCache(Path dir) { this.dir = dir; }

    public Path dir() { return dir; }

    /** {@code MAMBA4J_KERNEL_CACHE}, else {@code <home>/.cache/mamba4j/kernels}. */
    public static Path defaultDir(Map<String, String> env, Path home) {
        String v = env.get("MAMBA4J_KERNEL_CACHE");
        if (v != null && !v.isBlank()) return Path.of(v);
        return home.resolve(".cache").resolve("mamba4j").resolve("kernels");
    }

    /**
     * sha256 (hex) of every input that changes the CUBIN: the source, each header (name and text, in name order),
     * the architecture, the options in order, and the NVRTC version. Each part is length-prefixed so no two
     * different inputs concatenate to the same bytes.
     */
    public static String key(String source, Map<String, String> headers, String arch, List<String> options, String nvrtcVersion) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        part(md, "source", source);
        for (Map.Entry<String, String> h : new TreeMap<>(headers).entrySet()) {
            part(md, "header", h.getKey());
            part(md, "text", h.getValue());
        }
        part(md, "arch", arch);
        for (String o : options) part(md, "option", o);
        part(md, "nvrtc", nvrtcVersion);
        return HexFormat.of().formatHex(md.digest());
    }

    private static void part(MessageDigest md, String tag, String value) {
        byte[] b = (tag + ":" + value).getBytes(StandardCharsets.UTF_8);
        md.update(new byte[] {(byte) (b.length >>> 24), (byte) (b.length >>> 16), (byte) (b.length >>> 8), (byte) b.length});
        md.update(b);
    }

    /** The entry's file: {@code <kernel file without .cu>-<arch>-<key>.cubin}. */
    public Path path(String kernelFile, String arch, String key) {
        return dir.resolve(kernelFile.replaceFirst("\\.cu$", "") + "-" + arch + "-" + key + ".cubin");
    }

    public Optional<byte[]> read(String kernelFile, String arch, String key) {
        Path p = path(kernelFile, arch, key);
        try {
            return Files.isRegularFile(p) ? Optional.of(Files.readAllBytes(p)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public void write(String kernelFile, String arch, String key, byte[] cubin) {
        Path p = path(kernelFile, arch, key);
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, p.getFileName().toString(), ".tmp");
            Files.write(tmp, cubin);
            try {
                Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            if (!warned) System.err.println("warning: kernel cache " + dir + " not writable (" + e.getMessage() + "); kernels are recompiled each run");
            warned = true;
        }
    }
}
