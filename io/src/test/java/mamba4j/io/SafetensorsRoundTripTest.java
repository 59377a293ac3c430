package mamba4j.io;

import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class SafetensorsRoundTripTest {
    @TempDir Path dir;

    /** A tensor of {@code dtype} and shape {@code dims} filled with random bytes (every bit pattern is a valid element). */
    static Tensor random(DType dtype, long seed, long... dims) {
        Tensor t = Tensor.zeros(dtype, dims);
        byte[] b = new byte[(int) t.byteSize()];
        new Random(seed).nextBytes(b);
        if (dtype == DType.BOOL) for (int i = 0; i < b.length; i++) b[i] &= 1;
        MemorySegment.copy(MemorySegment.ofArray(b), 0, t.segment(), 0, b.length);
        return t;
    }

    static void assertSameBytes(String what, Tensor expected, Tensor actual) {
        assertEquals(expected.dtype(), actual.dtype(), what + " dtype");
        assertEquals(expected.shape(), actual.shape(), what + " shape");
        assertEquals(-1, expected.segment().mismatch(actual.segment()), what + ": bytes differ");
    }

    /**
     * Mapped tensors reach the kernels as plain native segments (the JIT compiles the Vector API's loads with a type
     * check per access once it has seen a mapped segment beside native ones), yet stay read-only and die with the file.
     */
    @Test
    void mappedTensorsAreReadOnlyNativeSegmentsThatDieWithTheFile() {
        Path file = dir.resolve("m.safetensors");
        Tensor w = random(DType.F32, 7, 4, 8);
        Safetensors.write(file, new LinkedHashMap<>(Map.of("w", w)), Map.of());
        Tensor got;
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            got = f.get("w");
            MemorySegment seg = got.segment();
            assertFalse(seg.isMapped(), "a plain native segment");
            assertTrue(seg.isNative());
            assertTrue(seg.isReadOnly(), "the mapping is read-only: a write must fail, not reach the file's pages");
            assertThrows(IllegalArgumentException.class, () -> seg.set(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, 1f));
            assertSameBytes("w", w, got);
        }
        assertThrows(IllegalStateException.class, () -> got.segment().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0),
                "unmapped with the file");
    }

    @Test
    void everyDtypeRoundTripsWithMetadataAndOrder() {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        int seed = 0;
        for (DType dt : DType.values())
            if (!dt.isQuantised()) tensors.put("layers." + seed + "." + dt.name().toLowerCase(), random(dt, seed++, 3, 5));   // quantised: their own test
        tensors.put("scalar", Tensor.of(new float[] {2.5f}));          // shape ()
        tensors.put("empty", Tensor.zeros(DType.F32, 0, 4));             // zero elements
        tensors.put("a.first.in.alphabet", Tensor.ofLongs(new long[] {-1, Long.MAX_VALUE}, 2));
        Map<String, String> meta = Map.of("format", "pt", "note", "héllo ✓");
        Path file = dir.resolve("m.safetensors");
        Safetensors.write(file, tensors, meta);

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(List.copyOf(tensors.keySet()), f.names(), "names in write order, not sorted");
            assertEquals(meta, f.metadata());
            for (var e : tensors.entrySet()) {
                assertTrue(f.contains(e.getKey()));
                assertEquals(e.getValue().dtype(), f.dtype(e.getKey()));
                assertEquals(e.getValue().shape(), f.shape(e.getKey()));
                assertSameBytes(e.getKey(), e.getValue(), f.get(e.getKey()));
            }
            assertEquals(Shape.of(), f.shape("scalar"));
            assertEquals(2.5f, f.get("scalar").getFloat(0));
            assertEquals(Long.MAX_VALUE, f.get("a.first.in.alphabet").getLong(1));
            assertFalse(f.contains("nope"));
            assertTrue(f.get("layers.0.f64").segment().isReadOnly(), "weights are a read-only mapping");
        }
    }

    @Test
    void layoutIsTheStandardOne() throws IOException {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", Tensor.of(new float[] {1, 2, 3}, 3));
        Path file = dir.resolve("x.safetensors");
        Safetensors.write(file, tensors, Map.of());
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to a multiple of 8");
        String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", header.strip());
        assertTrue(header.substring(header.strip().length()).chars().allMatch(c -> c == ' '), "padding is spaces");
        assertEquals(8 + n + 12, all.length);
        assertEquals(2f, ByteBuffer.wrap(all, (int) (8 + n + 4), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
    }

    @Test
    void chunkedWriteMatchesForTensorsLargerThanAChunk() {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("big", random(DType.BF16, 7, 1000, 37));    // 74 000 bytes
        tensors.put("odd", random(DType.U8, 8, 1001));
        Path file = dir.resolve("c.safetensors");
        Safetensors.write(file, tensors, null, 4096 + 3);           // many chunks, none aligned
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertSameBytes("big", tensors.get("big"), f.get("big"));
            assertSameBytes("odd", tensors.get("odd"), f.get("odd"));
            assertEquals(Map.of(), f.metadata());
        }
    }

    @Test
    void overwriteIsAtomicAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("ckpt.safetensors");
        LinkedHashMap<String, Tensor> v1 = new LinkedHashMap<>(Map.of("w", Tensor.of(new float[] {1}, 1)));
        LinkedHashMap<String, Tensor> v2 = new LinkedHashMap<>(Map.of("w", Tensor.of(new float[] {2, 3}, 2)));
        Safetensors.write(file, v1, Map.of());
        try (SafetensorsFile old = SafetensorsFile.open(file)) {
            Tensor oldW = old.get("w");
            Safetensors.write(file, v2, Map.of());
            assertEquals(1f, oldW.getFloat(0), "a reader of the old file keeps its mapping after the rename");
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Shape.of(2), f.shape("w"));
            assertEquals(3f, f.get("w").getFloat(1));
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(file), s.toList(), "no temporary files left behind");
        }
    }

    @Test
    void failedWriteLeavesOldFileAndNoTemporary() throws IOException {
        Path file = dir.resolve("keep.safetensors");
        Safetensors.write(file, new LinkedHashMap<>(Map.of("w", Tensor.of(new float[] {1}, 1))), Map.of());
        LinkedHashMap<String, Tensor> bad = new LinkedHashMap<>();
        bad.put("__metadata__", Tensor.of(new float[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> Safetensors.write(file, bad, Map.of()));
        try (SafetensorsFile f = SafetensorsFile.open(file); Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("w"), f.names());
            assertEquals(1, s.count());
        }
    }

    @Test
    void unknownTensorAndClosedFileAreReported() {
        Path file = dir.resolve("k.safetensors");
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        t.put("backbone.layers.0.mixer.A_log", Tensor.of(new float[] {1}, 1));
        Safetensors.write(file, t, Map.of());
        SafetensorsFile f = SafetensorsFile.open(file);
        UserInputException e = assertThrows(UserInputException.class, () -> f.get("backbone.layers.0.mixer.D"));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("'backbone.layers.0.mixer.D'"), e.getMessage());
        assertTrue(e.getMessage().contains("backbone.layers.0.mixer.A_log"), "suggests the neighbours: " + e.getMessage());
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, () -> f.get("backbone.layers.0.mixer.A_log"));
    }
}
