package mamba4j.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The kernel sources shipped as resources under {@code mamba4j/cuda/kernels/}: the .cu files and the headers they include. */
public final class KernelSources {
    private KernelSources() {}

    public static final String ROOT = "mamba4j/cuda/kernels/";
    /** Headers handed to NVRTC by name (no include path: NVRTC sees only these). */
    public static final List<String> HEADERS = List.of("params.cuh", "tf32.cuh", "common.cuh");

    public static String read(String file) {
        try (InputStream in = KernelSources.class.getClassLoader().getResourceAsStream(ROOT + file)) {
            if (in == null) throw new IllegalStateException("kernel source " + ROOT + file + " missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read kernel source " + ROOT + file, e);
        }
    }

    /** Include name → text of every header. */
    public static Map<String, String> headers() {
        Map<String, String> h = new LinkedHashMap<>();
        for (String f : HEADERS) h.put(f, read(f));
        return h;
    }
}
