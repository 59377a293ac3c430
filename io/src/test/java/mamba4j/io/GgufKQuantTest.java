package mamba4j.io;

import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * llama.cpp's k-quants (Q4_K, Q5_K, Q6_K: what llama-quantize's Q4_K_M, Q5_K_M and Q6_K files hold, and the Q6_K
 * output/tied embedding it writes beside Q4_0 matrices) read as llama.cpp reads them. The fixtures are two super-blocks
 * of each type from files llama-quantize wrote (mamba2-130m shape, random init) and the floats llama-quantize
 * --allow-requantize ... F32 turned them into (ggml's dequantizer), extracted by tools/gguf/kquant_fixtures.py from
 * scripts/llama-gguf-check.sh's files: equality is bit for bit.
 */
class GgufKQuantTest {
    @TempDir Path dir;

    @Test
    void q4KIsDequantizedAsLlamaCpp() throws IOException { check("q4_k", GgufType.Q4_K); }

    @Test
    void q5KIsDequantizedAsLlamaCpp() throws IOException { check("q5_k", GgufType.Q5_K); }

    @Test
    void q6KIsDequantizedAsLlamaCpp() throws IOException { check("q6_k", GgufType.Q6_K); }

    private void check(String name, GgufType type) throws IOException {
        byte[] blocks = resource(name + ".blocks");
        float[] want = floats(resource(name + ".f32"));
        assertEquals(2L * type.typeSize(), blocks.length);
        assertEquals(512, want.length);
        // through a GGUF file, as a model's tensor is read: (2, 256) widened to F32
        Path p = dir.resolve(name + ".gguf");
        GgufWriter.write(p, new LinkedHashMap<>(), List.of(new GgufWriter.Entry("w", type, new long[] {2, 256}, () -> MemorySegment.ofArray(blocks))));
        try (GgufFile f = GgufFile.open(p)) {
            Tensor t = f.get("w");
            assertArrayEquals(new long[] {2, 256}, t.shape().dims());
            int differ = 0;
            for (int i = 0; i < want.length; i++)
                if (Float.floatToRawIntBits(t.getFloat(i)) != Float.floatToRawIntBits(want[i])) differ++;
            assertEquals(0, differ, name + ": elements that differ from llama.cpp's dequantization (first: "
                    + firstDiff(t, want) + ")");
        }
        // the fixtures are not degenerate: signs, many distinct values, no zero block
        long distinct = java.util.stream.IntStream.range(0, want.length).mapToObj(i -> want[i]).distinct().count();
        assertTrue(distinct > 16, name + " has " + distinct + " distinct values");
        assertTrue(java.util.stream.IntStream.range(0, want.length).anyMatch(i -> want[i] < 0));
    }

    private static String firstDiff(Tensor t, float[] want) {
        for (int i = 0; i < want.length; i++)
            if (Float.floatToRawIntBits(t.getFloat(i)) != Float.floatToRawIntBits(want[i])) return "element " + i + ": " + t.getFloat(i) + " vs " + want[i];
        return "none";
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = GgufKQuantTest.class.getResourceAsStream("/gguf-kquants/" + name)) {
            assertNotNull(in, "test resource gguf-kquants/" + name);
            return in.readAllBytes();
        }
    }

    private static float[] floats(byte[] b) {
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }
}
