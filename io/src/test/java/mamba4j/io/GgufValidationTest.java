package mamba4j.io;

import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A corrupt or hostile GGUF file is refused at open with one line naming the file and the field — never an
 * OutOfMemoryError, a hang or another exception: each way the format can be broken, every truncation of a valid file,
 * and random byte flips.
 */
class GgufValidationTest {
    @TempDir Path dir;

    /** Header bytes built field by field. */
    private static GgufBytes header(long tensors, long kvs) {
        return new GgufBytes().u32(GgufFile.MAGIC).u32(3).u64(tensors).u64(kvs);
    }

    /** A tensor info: name, dims (ggml order), type code, offset. */
    private static GgufBytes info(GgufBytes b, String name, long[] ne, int type, long offset) {
        b.string(name).u32(ne.length);
        for (long d : ne) b.u64(d);
        return b.u32(type).u64(offset);
    }

    private Path file(String name, GgufBytes b, int dataBytes) throws IOException {
        b.zeros(GgufFile.alignUp(b.size(), 32) - b.size()).zeros(dataBytes);
        Path p = dir.resolve(name);
        Files.write(p, b.toArray());
        return p;
    }

    private static String rejected(Path p, String... fragments) {
        UserInputException e = assertThrows(UserInputException.class, () -> GgufFile.open(p).close());
        String m = e.getMessage();
        assertTrue(m.contains(p.toAbsolutePath().toString()), "names the file: " + m);
        assertFalse(m.contains("\n"), "one line: " + m);
        for (String f : fragments) assertTrue(m.contains(f), "message should contain <" + f + ">: " + m);
        return m;
    }

    @Test
    void notGguf() throws IOException {
        Path p = dir.resolve("a.gguf");
        Files.write(p, new byte[] {'G', 'G'});
        rejected(p, "2 bytes", "not a GGUF file");
        Files.writeString(p, "{\"model_type\": \"mamba\"}");
        rejected(p, "does not start with the GGUF magic", "0x7b22");
        rejected(dir.resolve("absent.gguf"), "not found");
        UserInputException e = assertThrows(UserInputException.class, () -> GgufFile.open(dir));
        assertTrue(e.getMessage().contains("is a directory"));
    }

    @Test
    void versions() throws IOException {
        rejected(file("be.gguf", new GgufBytes().u32(GgufFile.MAGIC).u32(0x03000000L).u64(0).u64(0), 0), "big-endian");
        rejected(file("v1.gguf", new GgufBytes().u32(GgufFile.MAGIC).u32(1).u64(0).u64(0), 0), "version 1");
        rejected(file("v9.gguf", new GgufBytes().u32(GgufFile.MAGIC).u32(9).u64(0).u64(0), 0), "version 9");
        try (GgufFile f = GgufFile.open(file("v2.gguf", new GgufBytes().u32(GgufFile.MAGIC).u32(2).u64(0).u64(0), 0))) {
            assertEquals(2, f.version());
        }
    }

    @Test
    void countsThatCannotFitAreRefusedBeforeAllocating() throws IOException {
        rejected(file("t.gguf", header(-1L, 0), 0), "tensor count 18446744073709551615 cannot fit");
        rejected(file("t2.gguf", header(1L << 40, 0), 0), "tensor count " + (1L << 40) + " cannot fit");
        rejected(file("k.gguf", header(0, 1L << 50), 0), "metadata count " + (1L << 50) + " cannot fit");
        rejected(file("s.gguf", header(0, 1).string("k").u32(GgufValueType.STRING.code()).u64(1L << 40), 0),
                "metadata key 'k' string", "file ends");
        rejected(file("a.gguf", header(0, 1).string("k").u32(GgufValueType.ARRAY.code()).u32(GgufValueType.UINT64.code()).u64(1L << 40), 0),
                "metadata key 'k' is an array of " + (1L << 40) + " UINT64 elements, which cannot fit");
        rejected(file("as.gguf", header(0, 1).string("k").u32(GgufValueType.ARRAY.code()).u32(GgufValueType.STRING.code()).u64(3)
                .u64(1).bytes(new byte[] {'a'}).u64(1L << 40), 0), "metadata key 'k'[1] string");
        rejected(file("key.gguf", header(0, 1).u64(1L << 20), 64), "metadata key #1", "1048576 bytes long; at most 65535");
        rejected(file("name.gguf", header(1, 0).u64(-5L), 64), "tensor info #1", "18446744073709551611 bytes long");
    }

    @Test
    void metadataErrorsNameTheKey() throws IOException {
        rejected(file("vt.gguf", header(0, 1).string("general.name").u32(13), 0), "metadata key 'general.name' has unknown value type code 13");
        rejected(file("et.gguf", header(0, 1).string("k").u32(GgufValueType.ARRAY.code()).u32(99).u64(0), 0), "unknown value type code 99");
        rejected(file("dup.gguf", header(0, 2).string("k").u32(GgufValueType.BOOL.code()).u8(1)
                .string("k").u32(GgufValueType.BOOL.code()).u8(0), 0), "metadata key 'k' appears twice");
        rejected(file("bool.gguf", header(0, 1).string("k").u32(GgufValueType.BOOL.code()).u8(7), 0), "'k' is a BOOL holding 7");
        rejected(file("empty.gguf", header(0, 1).string("").u32(GgufValueType.BOOL.code()).u8(0), 0), "metadata key #1", "is empty");
        rejected(file("utf.gguf", header(0, 1).u64(2).bytes(new byte[] {(byte) 0xc3, 0x28}).u32(GgufValueType.BOOL.code()).u8(0), 0),
                "not valid UTF-8");
        rejected(file("ctl.gguf", header(0, 1).string("a\nb").u32(GgufValueType.BOOL.code()).u8(0), 0), "control character");
        GgufBytes deep = header(0, 1).string("deep").u32(GgufValueType.ARRAY.code());
        for (int i = 0; i < 6; i++) deep.u32(GgufValueType.ARRAY.code()).u64(1);
        rejected(file("deep.gguf", deep.u32(GgufValueType.UINT8.code()).u64(0), 0), "nests arrays more than 4 deep");
        rejected(file("al.gguf", header(0, 1).string(GgufFile.ALIGNMENT_KEY).u32(GgufValueType.UINT64.code()).u64(32), 0),
                "'general.alignment' is UINT64, expected UINT32");
        rejected(file("al2.gguf", header(0, 1).string(GgufFile.ALIGNMENT_KEY).u32(GgufValueType.UINT32.code()).u32(24), 0),
                "'general.alignment' = 24 is not a power of two");
    }

    @Test
    void tensorInfoErrorsNameTheTensor() throws IOException {
        rejected(file("dims.gguf", info(header(1, 0), "w", new long[] {1, 1, 1, 1, 1}, 0, 0), 32), "tensor 'w' has 5 dimensions");
        rejected(file("neg.gguf", info(header(1, 0), "w", new long[] {-1L}, 0, 0), 32), "tensor 'w' has size ne[0] = 18446744073709551615");
        rejected(file("ovf.gguf", info(header(1, 0), "w", new long[] {1L << 40, 1L << 40}, 0, 0), 32), "tensor 'w'", "overflows 64 bits");
        rejected(file("type.gguf", info(header(1, 0), "w", new long[] {4}, 4, 0), 32), "tensor 'w' has unknown ggml type code 4");
        rejected(file("blk.gguf", info(header(1, 0), "w", new long[] {33, 2}, GgufType.Q8_0.code(), 0), 256),
                "tensor 'w' is Q8_0 with rows of ne[0] = 33 elements, not a whole number of 32-element blocks");
        rejected(file("off.gguf", info(header(1, 0), "w", new long[] {4}, 0, 16), 64), "tensor 'w' has offset 16, not a multiple of the alignment 32");
        rejected(file("past.gguf", info(header(1, 0), "w", new long[] {4, 4}, 0, 0), 32),
                "tensor 'w' (F32 [4, 4], 64 bytes at offset 0) runs past the end of the data section (32 bytes");
        rejected(file("far.gguf", info(header(1, 0), "w", new long[] {1}, 0, 1L << 62), 32), "tensor 'w'", "runs past the end");
        GgufBytes two = info(info(header(2, 0), "a", new long[] {16}, 0, 0), "b", new long[] {4}, 0, 32);
        rejected(file("overlap.gguf", two, 96), "tensors 'a' [0, 64) and 'b' [32, 48) overlap");
        rejected(file("dupt.gguf", info(info(header(2, 0), "a", new long[] {1}, 0, 0), "a", new long[] {1}, 0, 32), 64),
                "tensor 'a' appears twice");
        rejected(file("long.gguf", info(header(1, 0), "x".repeat(64), new long[] {1}, 0, 0), 32), "64 bytes long; at most 63");
        rejected(file("noname.gguf", info(header(1, 0), "", new long[] {1}, 0, 0), 32), "tensor info #1", "empty name");
    }

    @Test
    void everyTruncationOfAValidFileIsAUserError() throws IOException {
        Path good = validFile();
        byte[] all = Files.readAllBytes(good);
        try (GgufFile f = GgufFile.open(good)) {
            assertEquals(2, f.tensorNames().size());
        }
        Path p = dir.resolve("cut.gguf");
        for (int len = 0; len < all.length; len++) {
            Files.write(p, Arrays.copyOf(all, len));
            try {
                GgufFile.open(p).close();
                // only a cut inside the last tensor's padding may still be a whole file
                assertTrue(len >= all.length - 32, "truncated to " + len + " of " + all.length + " bytes yet accepted");
            } catch (UserInputException e) {
                assertTrue(e.getMessage().contains(p.toString()) && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    @Test
    void randomByteFlipsGiveUserErrorsOnly() throws IOException {
        byte[] all = Files.readAllBytes(validFile());
        Path p = dir.resolve("flip.gguf");
        SplittableRandom rnd = new SplittableRandom(16);
        for (int round = 0; round < 3000; round++) {
            byte[] b = all.clone();
            int flips = 1 + rnd.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int at = rnd.nextInt(Math.min(b.length, 400));   // the header and metadata, where the structure is
                b[at] = rnd.nextBoolean() ? (byte) rnd.nextInt(256) : (byte) (b[at] ^ (1 << rnd.nextInt(8)));
            }
            Files.write(p, b);
            try (GgufFile f = GgufFile.open(p)) {
                for (String n : f.tensorNames()) {
                    try {
                        Tensor t = f.get(n);
                        assertEquals(f.info(n).numel(), t.numel());
                    } catch (UserInputException e) {
                        assertFalse(e.getMessage().contains("\n"));
                    }
                }
                for (GgufValue v : f.metadata().values()) v.display(8);
            } catch (UserInputException e) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    private Path validFile() {
        SequencedMap<String, GgufValue> m = GgufRoundTripTest.everyValueType();
        Path p = dir.resolve("valid.gguf");
        GgufWriter.write(p, m, List.of(GgufWriter.Entry.of("blk.0.w", Tensor.of(GgufRoundTripTest.floats(12), 3, 4)),
                GgufWriter.Entry.of("output_norm.weight", Tensor.of(GgufRoundTripTest.floats(5), 5))));
        return p;
    }

    @Test
    void aMetadataOnlyFileNeedsNoDataSection() throws IOException {
        SequencedMap<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("mamba"));
        GgufBytes b = header(0, 1).string("general.architecture").u32(GgufValueType.STRING.code()).string("mamba");
        Path p = dir.resolve("meta.gguf");
        Files.write(p, b.toArray());   // no padding after the header at all
        try (GgufFile f = GgufFile.open(p)) {
            assertEquals("mamba", f.string("general.architecture"));
        }
    }
}
