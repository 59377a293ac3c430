package mamba4j.io;

import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Q8_0/Q4_0 tensors in safetensors: U8 bytes of shape (…, rowBytes) plus the mamba4j.quant metadata entry (io package-info). */
class SafetensorsQuantisedTest {
    @TempDir Path dir;

    private static Tensor gauss(long seed, long... dims) {
        Random r = new Random(seed);
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) r.nextGaussian());
        return t;
    }

    @Test
    void quantisedTensorsRoundTripBitForBitBesidePlainOnes() throws IOException {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("in_proj.weight", gauss(1, 6, 64).to(DType.Q8_0));
        tensors.put("norm.weight", gauss(2, 64));
        tensors.put("out_proj.weight", gauss(3, 4, 96).to(DType.Q4_0));
        tensors.put("table", gauss(4, 2, 3, 32).to(DType.Q4_0));            // rank 3: only the last dim is in bytes
        Path file = dir.resolve("q.safetensors");
        Safetensors.write(file, tensors, Map.of("format", "pt"));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(java.util.List.copyOf(tensors.keySet()), f.names());
            for (var e : tensors.entrySet()) SafetensorsRoundTripTest.assertSameBytes(e.getKey(), e.getValue(), f.get(e.getKey()));
            assertEquals(DType.Q8_0, f.dtype("in_proj.weight"));
            assertEquals(Shape.of(4, 96), f.shape("out_proj.weight"));
            assertEquals("pt", f.metadata().get("format"));
        }
        // what another safetensors reader sees: U8 bytes, rows in bytes, and the listing
        String header = header(file);
        assertTrue(header.contains("\"in_proj.weight\":{\"dtype\":\"U8\",\"shape\":[6,68]"), header);
        assertTrue(header.contains("\"table\":{\"dtype\":\"U8\",\"shape\":[2,3,18]"), header);
        assertTrue(header.contains("\"mamba4j.quant\":\"{\\\"in_proj.weight\\\":{\\\"dtype\\\":\\\"Q8_0\\\",\\\"shape\\\":[6,64]}"), header);
    }

    @Test
    void theQuantKeyIsReservedForTheWriter() {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", gauss(1, 32));
        var e = assertThrows(IllegalArgumentException.class, () -> Safetensors.write(dir.resolve("x.safetensors"), tensors, Map.of("mamba4j.quant", "{}")));
        assertTrue(e.getMessage().contains("mamba4j.quant"), e.getMessage());
    }

    @Test
    void aListingThatDisagreesWithTheFileIsNamed() throws IOException {
        LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", gauss(1, 2, 64).to(DType.Q8_0));
        Path good = dir.resolve("good.safetensors");
        Safetensors.write(good, tensors, null);
        String h = header(good);
        assertBad(h.replace("\\\"shape\\\":[2,64]", "\\\"shape\\\":[2,32]"), "tensor 'w'", "stored as U8 (2, 68)");
        assertBad(h.replace("Q8_0", "Q5_K"), "tensor 'w'", "expected \"Q8_0\" or \"Q4_0\"");
        assertBad(h.replace("\\\"w\\\":{", "\\\"v\\\":{"), "mamba4j.quant", "lists tensor 'v'");
        assertBad(h.replace("\\\"shape\\\":[2,64]", "\\\"shape\\\":[2,48]"), "tensor 'w'", "not whole blocks");
    }

    private void assertBad(String header, String... parts) throws IOException {
        Path bad = dir.resolve("bad.safetensors");
        byte[] data = Files.readAllBytes(dir.resolve("good.safetensors"));
        long oldLen = ByteBuffer.wrap(data, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] hb = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + hb.length + (int) (data.length - 8 - oldLen)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(hb.length).put(hb).put(data, (int) (8 + oldLen), (int) (data.length - 8 - oldLen));
        Files.write(bad, out.array());
        var e = assertThrows(UserInputException.class, () -> SafetensorsFile.open(bad).close());
        for (String p : parts) assertTrue(e.getMessage().contains(p), e.getMessage());
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
    }

    private static String header(Path file) throws IOException {
        byte[] data = Files.readAllBytes(file);
        long len = ByteBuffer.wrap(data, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(data, 8, (int) len, StandardCharsets.UTF_8).strip();
    }
}
