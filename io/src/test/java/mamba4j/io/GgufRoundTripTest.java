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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;

import static org.junit.jupiter.api.Assertions.*;

/** What {@link GgufWriter} writes, {@link GgufFile} reads back: every value type, the alignment, shapes and bytes. */
class GgufRoundTripTest {
    @TempDir Path dir;

    static SequencedMap<String, GgufValue> everyValueType() {
        SequencedMap<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("test"));
        m.put("t.u8", GgufValue.u8(250));
        m.put("t.i8", GgufValue.i8(-7));
        m.put("t.u16", GgufValue.u16(65000));
        m.put("t.i16", GgufValue.i16(-30000));
        m.put("t.u32", GgufValue.u32(4_000_000_000L));
        m.put("t.i32", GgufValue.i32(-2_000_000_000));
        m.put("t.f32", GgufValue.f32(1.5e-5f));
        m.put("t.bool", GgufValue.bool(true));
        m.put("t.string", GgufValue.string("Grüße, 東京 🙂"));
        m.put("t.u64", GgufValue.u64(-1L));   // 2^64 − 1
        m.put("t.i64", GgufValue.i64(Long.MIN_VALUE));
        m.put("t.f64", GgufValue.f64(Math.PI));
        m.put("t.empty_string", GgufValue.string(""));
        m.put("t.strings", GgufValue.array(GgufArray.ofStrings(List.of("Ġthe", "", "<|endoftext|>", "  "))));
        m.put("t.ints", GgufValue.array(GgufArray.ofLongs(GgufValueType.INT32, 1, -2, 3)));
        m.put("t.u8s", GgufValue.array(GgufArray.ofLongs(GgufValueType.UINT8, 0, 255)));
        m.put("t.u64s", GgufValue.array(GgufArray.ofLongs(GgufValueType.UINT64, -1L, 5)));
        m.put("t.f32s", GgufValue.array(GgufArray.ofDoubles(GgufValueType.FLOAT32, 0.25, -1e30)));
        m.put("t.f64s", GgufValue.array(GgufArray.ofDoubles(GgufValueType.FLOAT64, Math.E)));
        m.put("t.bools", GgufValue.array(GgufArray.ofBools(true, false, true)));
        m.put("t.empty", GgufValue.array(GgufArray.ofStrings(List.of())));
        m.put("t.nested", GgufValue.array(GgufArray.ofArrays(List.of(
                GgufArray.ofLongs(GgufValueType.INT16, 1, 2), GgufArray.ofStrings(List.of("a", "bc")), GgufArray.ofBools()))));
        return m;
    }

    @Test
    void everyValueTypeRoundTrips() {
        SequencedMap<String, GgufValue> m = everyValueType();
        Path p = dir.resolve("values.gguf");
        GgufWriter.write(p, m, List.of());
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(3, f.version());
            assertEquals(List.copyOf(m.keySet()), List.copyOf(f.metadata().keySet()), "keys in file order");
            for (var e : m.entrySet()) assertEquals(e.getValue(), f.metadata().get(e.getKey()), e.getKey());
            assertEquals(250, f.metadata().get("t.u8").asLong());
            assertEquals(-7, f.metadata().get("t.i8").asLong());
            assertEquals(4_000_000_000L, f.metadata().get("t.u32").asLong());
            assertEquals("18446744073709551615", f.metadata().get("t.u64").display(0));
            assertEquals(1.5e-5f, (float) f.number("t.f32"));
            assertEquals("Grüße, 東京 🙂", f.string("t.string"));
            assertEquals(List.of("Ġthe", "", "<|endoftext|>", "  "), f.array("t.strings", GgufValueType.STRING).strings());
            GgufArray ints = f.integerArray("t.ints");
            assertEquals(-2, ints.getLong(1));
            assertEquals(-1L, f.array("t.u64s", GgufValueType.UINT64).getLong(0));
            assertEquals(-1e30f, (float) f.array("t.f32s", GgufValueType.FLOAT32).getDouble(1));
            assertFalse(f.array("t.bools", GgufValueType.BOOL).getBool(1));
            List<GgufArray> nested = f.array("t.nested", GgufValueType.ARRAY).arrays();
            assertEquals(3, nested.size());
            assertEquals(2, nested.get(0).getLong(1));
            assertEquals(List.of("a", "bc"), nested.get(1).strings());
            assertEquals(0, nested.get(2).size());
            assertEquals("\"bc\"", f.array("t.nested", GgufValueType.ARRAY).get(1).asArray().get(1).display(0));
            assertEquals(0, f.tensorNames().size());
        }
    }

    @Test
    void typedGettersNameTheKeyAndType() {
        Path p = dir.resolve("typed.gguf");
        GgufWriter.write(p, everyValueType(), List.of());
        try (GgufFile f = GgufFile.open(p)) {
            UserInputException e = assertThrows(UserInputException.class, () -> f.string("t.u32"));
            assertTrue(e.getMessage().contains("'t.u32' is UINT32 4000000000, expected a STRING"), e.getMessage());
            e = assertThrows(UserInputException.class, () -> f.size("t.i32"));
            assertTrue(e.getMessage().contains("'t.i32' = -2000000000 is not a size"), e.getMessage());
            e = assertThrows(UserInputException.class, () -> f.size("absent.key"));
            assertTrue(e.getMessage().contains("no metadata key 'absent.key'") && e.getMessage().contains(p.toString()), e.getMessage());
            e = assertThrows(UserInputException.class, () -> f.array("t.ints", GgufValueType.STRING));
            assertTrue(e.getMessage().contains("is an ARRAY of INT32, expected an ARRAY of STRING"), e.getMessage());
        }
    }

    @Test
    void tensorsRoundTripRowMajorWithSizesFastestFirst() {
        Tensor w = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);           // (rows 2, cols 3): ne = [3, 2]
        Tensor h = Tensor.of(new float[] {0.5f, -1, 65504, 1e-3f}, 4).to(DType.F16);
        Tensor b = Tensor.of(floats(24), 2, 3, 4).to(DType.BF16);           // ne = [4, 3, 2]
        Tensor four = Tensor.of(floats(2 * 1 * 3 * 2), 2, 1, 3, 2);
        Tensor empty = Tensor.zeros(DType.F32, 0, 5);
        byte[] q = GgufQuant.quantizeQ8_0(floats(64));
        List<GgufWriter.Entry> tensors = List.of(
                GgufWriter.Entry.of("w", w), GgufWriter.Entry.of("h", h), GgufWriter.Entry.of("b", b),
                GgufWriter.Entry.of("four", four), GgufWriter.Entry.of("empty", empty),
                new GgufWriter.Entry("q", GgufType.Q8_0, new long[] {2, 32}, () -> MemorySegment.ofArray(q)));
        Path p = dir.resolve("tensors.gguf");
        SequencedMap<String, GgufValue> meta = new LinkedHashMap<>();
        meta.put("general.architecture", GgufValue.string("test"));
        GgufWriter.write(p, meta, tensors);
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(List.of("w", "h", "b", "four", "empty", "q"), f.tensorNames());
            assertArrayEquals(new long[] {3, 2}, f.info("w").ne(), "ne[0] is the row length");
            assertEquals(Shape.of(2, 3), f.shape("w"));
            assertArrayEquals(new long[] {4, 3, 2}, f.info("b").ne());
            assertEquals(Shape.of(2, 1, 3, 2), f.shape("four"));
            assertEquals(GgufType.F16, f.type("h"));
            assertEquals(GgufType.BF16, f.type("b"));
            assertArrayEquals(w.toFloatArray(), f.get("w").toFloatArray());
            assertEquals(DType.F16, f.get("h").dtype());
            assertEquals(-1, f.get("h").segment().mismatch(h.segment()), "F16 bytes as written");
            assertFalse(f.get("h").segment().isMapped(), "a plain native segment over the mapping (MappedFiles)");
            assertTrue(f.get("h").segment().isReadOnly());
            assertEquals(-1, f.get("b").segment().mismatch(b.segment()), "BF16 bytes as written");
            assertArrayEquals(four.toFloatArray(), f.get("four").toFloatArray());
            assertEquals(0, f.get("empty").numel());
            assertEquals(Shape.of(0, 5), f.shape("empty"));
            assertEquals(-1, f.raw("q").mismatch(MemorySegment.ofArray(q)), "quantized blocks addressable as stored");
            Tensor qt = f.get("q");   // the blocks as they are, zero-copy
            assertEquals(DType.Q8_0, qt.dtype());
            assertEquals(Shape.of(2, 32), qt.shape());
            Tensor qf = mamba4j.core.Quant.dequantise(qt);
            float[] want = floats(64), got = qf.toFloatArray();
            for (int i = 0; i < 64; i++) assertEquals(want[i], got[i], 64 / 127f / 2 + 1e-2, "element " + i);
            // ggml's layout: each offset is the previous one's plus its size padded to the alignment
            long expect = 0;
            for (String n : f.tensorNames()) {
                assertEquals(expect, f.info(n).offset(), n);
                expect += GgufFile.alignUp(f.info(n).bytes(), 32);
            }
            assertEquals(0, f.dataStart() % 32);
        }
    }

    @Test
    void alignmentFromMetadataPlacesTheDataSection() throws IOException {
        SequencedMap<String, GgufValue> meta = new LinkedHashMap<>();
        meta.put("general.architecture", GgufValue.string("test"));
        meta.put(GgufFile.ALIGNMENT_KEY, GgufValue.u32(64));
        Path p = dir.resolve("aligned.gguf");
        GgufWriter.write(p, meta, List.of(GgufWriter.Entry.of("a", Tensor.of(new float[] {1, 2, 3}, 3)),
                GgufWriter.Entry.of("b", Tensor.of(new float[] {4}, 1))));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(64, f.alignment());
            assertEquals(0, f.dataStart() % 64);
            assertEquals(64, f.info("b").offset(), "a's 12 bytes padded to 64");
            assertEquals(4f, f.get("b").getFloat(0));
            assertEquals(f.dataStart() + 128, Files.size(p), "the last tensor is padded too, as gguf-py does");
        }
        byte[] bytes = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals('G', bytes[0]);
        assertEquals('G', bytes[1]);
        assertEquals('U', bytes[2]);
        assertEquals('F', bytes[3]);
        assertEquals(3, bb.getInt(4), "version");
        assertEquals(2, bb.getLong(8), "tensor count");
        assertEquals(2, bb.getLong(16), "metadata count");
    }

    @Test
    void q4BlocksDequantizeAsLlamaCpp() {
        // one block, d = 0.5: qs[j] = lo | hi << 4 → element j = (lo − 8)·d, element j + 16 = (hi − 8)·d
        byte[] block = new byte[18];
        short d = Float.floatToFloat16(0.5f);
        block[0] = (byte) d;
        block[1] = (byte) (d >>> 8);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte) ((j & 0xf) | ((15 - j) << 4));
        float[] x = GgufQuant.dequantizeQ4_0(MemorySegment.ofArray(block));
        for (int j = 0; j < 16; j++) {
            assertEquals((j - 8) * 0.5f, x[j], "low nibble " + j);
            assertEquals((15 - j - 8) * 0.5f, x[j + 16], "high nibble " + j);
        }
        // Q8_0: d = max|x| / 127, x = d·q; −2.5·(127/2.5) → −127 exactly
        float[] v = new float[32];
        v[0] = -2.5f;
        v[1] = 1.25f;
        byte[] q8 = GgufQuant.quantizeQ8_0(v);
        assertEquals(-127, q8[2]);
        assertEquals(64, q8[3], "63.5 rounds away from zero");
        float[] back = GgufQuant.dequantizeQ8_0(MemorySegment.ofArray(q8));
        assertEquals(-2.5f, back[0], 1e-3f);
    }

    @Test
    void unreadableTypesAreNamedWhenRead() {
        Path p = dir.resolve("q2k.gguf");
        byte[] blocks = new byte[84];
        GgufWriter.write(p, new LinkedHashMap<>(), List.of(new GgufWriter.Entry("k", GgufType.Q2_K, new long[] {256}, () -> MemorySegment.ofArray(blocks))));
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals(GgufType.Q2_K, f.type("k"));
            assertEquals(84, f.raw("k").byteSize());
            UserInputException e = assertThrows(UserInputException.class, () -> f.get("k"));
            assertTrue(e.getMessage().contains("tensor 'k' has type Q2_K, which mamba4j does not read"), e.getMessage());
            assertTrue(e.getMessage().contains("Q4_K, Q5_K, Q6_K"), e.getMessage());
            e = assertThrows(UserInputException.class, () -> f.get("absent"));
            assertTrue(e.getMessage().contains("no tensor 'absent'"), e.getMessage());
        }
    }

    @Test
    void writerRefusesWhatGgufCannotHold() {
        Tensor t = Tensor.of(new float[] {1}, 1);
        String longName = "x".repeat(64);
        assertThrows(IllegalArgumentException.class, () -> GgufWriter.write(dir.resolve("a.gguf"), new LinkedHashMap<>(),
                List.of(GgufWriter.Entry.of(longName, t))));
        assertThrows(IllegalArgumentException.class, () -> GgufWriter.write(dir.resolve("b.gguf"), new LinkedHashMap<>(),
                List.of(GgufWriter.Entry.of("t", t), GgufWriter.Entry.of("t", t))));
        SequencedMap<String, GgufValue> bad = new LinkedHashMap<>();
        bad.put(GgufFile.ALIGNMENT_KEY, GgufValue.u32(48));
        assertThrows(IllegalArgumentException.class, () -> GgufWriter.write(dir.resolve("c.gguf"), bad, List.of()));
        assertFalse(Files.exists(dir.resolve("a.gguf")) || Files.exists(dir.resolve("b.gguf")) || Files.exists(dir.resolve("c.gguf")));
    }

    @Test
    void isGgufLooksAtTheMagic() throws IOException {
        Path p = dir.resolve("model.bin");
        GgufWriter.write(p, new LinkedHashMap<>(), List.of());
        assertTrue(GgufFile.isGguf(p));
        Files.writeString(dir.resolve("x.gguf"), "{}");
        assertFalse(GgufFile.isGguf(dir.resolve("x.gguf")));
        assertFalse(GgufFile.isGguf(dir));
    }

    static float[] floats(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Math.sin(i * 0.7) * (1 + i % 5);
        return v;
    }
}
