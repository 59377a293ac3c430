package mamba4j.io;

import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Each way a safetensors file can be broken is reported at open, naming the file and the tensor or value. */
class SafetensorsValidationTest {
    @TempDir Path dir;

    /** Writes the 8-byte length, {@code header} and {@code dataBytes} zero bytes. */
    private Path raw(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    /** Opens {@code p}, expects a UserInputException whose message has the path and every fragment. */
    private static void assertRejected(Path p, String... fragments) {
        UserInputException e = assertThrows(UserInputException.class, () -> SafetensorsFile.open(p).close());
        String m = e.getMessage();
        assertTrue(m.contains(p.toAbsolutePath().toString()), "names the file: " + m);
        for (String f : fragments) assertTrue(m.contains(f), "message should contain <" + f + ">: " + m);
    }

    @Test
    void shorterThanEightBytes() throws IOException {
        Path p = dir.resolve("tiny.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        assertRejected(p, "3 bytes", "shorter than the 8-byte header length");
    }

    @Test
    void missingFile() {
        assertRejected(dir.resolve("absent.safetensors"), "not found");
    }

    @Test
    void headerLengthPastEndOfFile() throws IOException {
        Path p = dir.resolve("trunc.safetensors");
        ByteBuffer b = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(p, b.array());
        assertRejected(p, "header length 1000", "past the end of the file (20 bytes)");
    }

    @Test
    void absurdHeaderLength() throws IOException {
        Path p = dir.resolve("absurd.safetensors");
        Files.write(p, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L).array()); // 2^64 − 1
        assertRejected(p, "header length 18446744073709551615", "absurd");
        Path q = dir.resolve("huge.safetensors");
        Files.write(q, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).array());
        assertRejected(q, "header length " + (1L << 40), "absurd");
    }

    @Test
    void headerNotJson() throws IOException {
        assertRejected(raw("nojson.safetensors", "{\"w\": {\"dtype\": ", 0), "not valid JSON", "{\"w\": {\"dtype\":");
    }

    @Test
    void trailingGarbageAfterHeader() throws IOException {
        assertRejected(raw("trail.safetensors", "{}  x", 0), "not valid JSON", "\"{}  x\"");
        assertRejected(raw("trail2.safetensors", "{} {}", 0), "not valid JSON", "Trailing token");
    }

    @Test
    void headerNotAnObject() throws IOException {
        assertRejected(raw("array.safetensors", "[1, 2]", 0), "must be a JSON object", "ARRAY");
    }

    @Test
    void duplicateTensorName() throws IOException {
        String h = "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                + "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
        assertRejected(raw("dup.safetensors", h, 2), "Duplicate field 'w'");
    }

    @Test
    void entryMissingFields() throws IOException {
        assertRejected(raw("nodtype.safetensors", "{\"enc.w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "tensor 'enc.w'", "no 'dtype'");
        assertRejected(raw("noshape.safetensors", "{\"enc.w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4),
                "tensor 'enc.w'", "no 'shape'");
        assertRejected(raw("nooff.safetensors", "{\"enc.w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4),
                "tensor 'enc.w'", "no 'data_offsets'");
        assertRejected(raw("notobj.safetensors", "{\"enc.w\": 3}", 0), "tensor 'enc.w'", "must be an object");
    }

    @Test
    void unknownDtype() throws IOException {
        assertRejected(raw("f8.safetensors", "{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2),
                "tensor 'q'", "unsupported dtype \"F8_E4M3\"", "BF16");
    }

    @Test
    void badShapes() throws IOException {
        assertRejected(raw("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}", 0),
                "tensor 'w'", "negative dimension -3");
        assertRejected(raw("frac.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,0]}}", 0),
                "tensor 'w'", "array of integers", "[2.5]");
        assertRejected(raw("ovf.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0),
                "tensor 'w'", "more elements than fit");
    }

    @Test
    void offsetsOutOfRangeOrReversed() throws IOException {
        assertRejected(raw("past.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
                "tensor 'w'", "[0,16]", "data section of 8 bytes");
        assertRejected(raw("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8),
                "tensor 'w'", "[8,4]", "begin > end");
        assertRejected(raw("negoff.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8),
                "tensor 'w'", "negative offset");
        assertRejected(raw("three.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8),
                "tensor 'w'", "[begin, end]");
    }

    @Test
    void byteCountDisagreesWithShape() throws IOException {
        assertRejected(raw("count.safetensors", "{\"norm.weight\":{\"dtype\":\"BF16\",\"shape\":[3,4],\"data_offsets\":[0,12]}}", 12),
                "tensor 'norm.weight'", "span 12 bytes", "BF16 (3, 4) needs 12 × 2 = 24 bytes");
    }

    @Test
    void overlappingTensors() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        assertRejected(raw("overlap.safetensors", h, 12), "'a' [0, 8)", "'b' [4, 12)", "overlap");
        String nested = "{\"outer\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
                + "\"mid\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]},"
                + "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,3]}}";
        assertRejected(raw("nested.safetensors", nested, 10), "'outer'", "'mid'", "overlap");
    }

    @Test
    void emptyTensorsAtSharedOffsetsAreFine() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[4,4]}}";
        try (SafetensorsFile f = SafetensorsFile.open(raw("ok.safetensors", h, 4))) {
            assertEquals(3, f.names().size());
            assertEquals(0, f.get("c").numel());
        }
    }

    /** A file whose data section is empty (only zero-size tensors) maps and reads. */
    @Test
    void anEmptyDataSectionMaps() throws IOException {
        String h = "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}";
        try (SafetensorsFile f = SafetensorsFile.open(raw("empty.safetensors", h, 0))) {
            assertEquals(0, f.get("e").numel());
            assertEquals(0, f.dataBytes());
        }
    }

    @Test
    void badMetadata() throws IOException {
        assertRejected(raw("meta.safetensors", "{\"__metadata__\":{\"step\":5}}", 0), "'__metadata__'", "'step'", "string");
        assertRejected(raw("meta2.safetensors", "{\"__metadata__\":[1]}", 0), "'__metadata__' must be an object");
    }
}
