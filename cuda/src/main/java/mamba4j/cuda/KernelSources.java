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

    /**
     * Sources that are another file compiled with a define first: the same kernels, another arithmetic, loaded as a
     * module of their own so that both can run in one process. ssd_chunked_bf16.cu: the chunked SSD's products on
     * bf16 tensor cores (ssd_chunked.cu's MAMBA4J_SSD_BF16_TILES).
     */
    static final Map<String, String[]> VARIANTS = Map.of("ssd_chunked_bf16.cu", new String[] {"ssd_chunked.cu", "MAMBA4J_SSD_BF16_TILES"});

    public static String read(String file) {
        String[] variant = VARIANTS.get(file);
        if (variant != null) return "#define " + variant[1] + "\n#line 1 \"" + variant[0] + "\"\n" + read(variant[0]);
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
