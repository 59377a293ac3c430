package mamba4j.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelCacheTest {
    @TempDir Path tmp;

    static final String SRC = "extern \"C\" __global__ void k() {}";
    static final Map<String, String> HDR = Map.of("params.cuh", "struct P { int a; };", "common.cuh", "#pragma once");
    static final List<String> OPTS = List.of("--gpu-architecture=sm_90", "-std=c++17");

    @Test void theKeyIsStableAndIndependentOfHeaderMapOrder() {
        String k = KernelCache.key(SRC, HDR, "sm_90", OPTS, "13.0");
        assertEquals(64, k.length());
        assertTrue(k.matches("[0-9a-f]{64}"));
        assertEquals(k, KernelCache.key(SRC, Map.of("common.cuh", "#pragma once", "params.cuh", "struct P { int a; };"), "sm_90", OPTS, "13.0"));
        // sha256 is fixed by the spec, so the key of these inputs never changes across runs or machines
        assertEquals(k, KernelCache.key(new String(SRC), Map.copyOf(HDR), "sm_" + 90, List.copyOf(OPTS), "13." + 0));
    }

    @Test void theKeyChangesWithEachInput() {
        Set<String> keys = new HashSet<>();
        keys.add(KernelCache.key(SRC, HDR, "sm_90", OPTS, "13.0"));
        keys.add(KernelCache.key(SRC + " ", HDR, "sm_90", OPTS, "13.0"));
        keys.add(KernelCache.key(SRC, Map.of("params.cuh", "struct P { long a; };", "common.cuh", "#pragma once"), "sm_90", OPTS, "13.0"));
        keys.add(KernelCache.key(SRC, Map.of("params.cuh", "struct P { int a; };"), "sm_90", OPTS, "13.0"));
        keys.add(KernelCache.key(SRC, HDR, "sm_80", OPTS, "13.0"));
        keys.add(KernelCache.key(SRC, HDR, "sm_90", List.of("--gpu-architecture=sm_90", "-std=c++17", "-lineinfo"), "13.0"));
        keys.add(KernelCache.key(SRC, HDR, "sm_90", List.of("-std=c++17", "--gpu-architecture=sm_90"), "13.0"));
        keys.add(KernelCache.key(SRC, HDR, "sm_90", OPTS, "12.8"));
        assertEquals(8, keys.size());
    }

    @Test void partsCannotRunTogether() {
        // without length prefixes, options ["ab"] and ["a", "b"] would hash the same bytes
        assertTrue(!KernelCache.key(SRC, HDR, "sm_90", List.of("ab"), "13.0").equals(KernelCache.key(SRC, HDR, "sm_90", List.of("a", "b"), "13.0")));
    }

    @Test void writeThenReadLeavesOneNamedFile() throws IOException {
        KernelCache c = new KernelCache(tmp.resolve("cache"));
        String key = KernelCache.key(SRC, HDR, "sm_90", OPTS, "13.0");
        assertTrue(c.read("scan.cu", "sm_90", key).isEmpty());
        byte[] cubin = {0x7f, 'E', 'L', 'F', 1, 2, 3};
        c.write("scan.cu", "sm_90", key, cubin);
        assertArrayEquals(cubin, c.read("scan.cu", "sm_90", key).orElseThrow());
        try (var files = Files.list(tmp.resolve("cache"))) {
            assertEquals(List.of("scan-sm_90-" + key + ".cubin"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test void anUnwritableCacheIsNotAnError() throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        KernelCache c = new KernelCache(file.resolve("sub"));   // a folder under a regular file cannot be created
        c.write("scan.cu", "sm_90", "k", new byte[] {1});
        assertTrue(c.read("scan.cu", "sm_90", "k").isEmpty());
    }

    @Test void defaultFolderIsTheEnvVarElseUnderHome() {
        assertEquals(Path.of("/x/kc"), KernelCache.defaultDir(Map.of("MAMBA4J_KERNEL_CACHE", "/x/kc"), Path.of("/home/u")));
        assertEquals(Path.of("/home/u/.cache/mamba4j/kernels"), KernelCache.defaultDir(Map.of(), Path.of("/home/u")));
    }
}
