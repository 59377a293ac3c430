package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `bench-scaling` at tiny sizes: every point runs in its child JVM and reports positive numbers, the JSON has the
 * fields docs/BENCHMARKS.md quotes, and the PNG is written. No timing assertions (the numbers are noise at this size).
 */
class ScalingBenchCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void tinyRunWritesJsonWithPositiveNumbersAndAPlot(@TempDir Path tmp) throws IOException {
        Cli r = Cli.run("bench-scaling", "--out", tmp.toString(), "--lengths", "64,128", "--contexts", "64", "--batches", "2",
                "--d-model", "32", "--heads", "2", "--decode-tokens", "4", "--point-timeout", "300");
        assertEquals(0, r.status(), r.err() + r.out());
        assertTrue(r.out().contains("| L | Phi prefill s"), "prints the prefill table: " + r.out());

        JsonNode j = JSON.readTree(tmp.resolve("scaling.json").toFile());
        for (String m : List.of("teacher", "mamba")) {
            assertPositive(j.get(m), "parameters", "non_embedding_parameters", "weight_bytes", "n_layer");
            assertTrue(j.get("time_slopes").get(m).has("all"), "fitted slope of " + m);
        }
        assertEquals(4, j.get("forward").size(), "2 lengths × 2 models");
        for (JsonNode p : j.get("forward")) {
            assertFalse(p.has("skipped"), "no point skipped at this size: " + p);
            assertPositive(p, "length", "seconds", "tokens_per_s", "peak_rss_mb", "base_rss_mb", "reps");
        }
        assertEquals(2, j.get("decode").size(), "1 context × 1 batch × 2 models");
        for (JsonNode p : j.get("decode")) {
            assertFalse(p.has("skipped"), "no point skipped at this size: " + p);
            assertPositive(p, "context", "batch", "tokens_per_s", "ms_per_step", "fill_seconds", "state_bytes", "state_allocated_bytes",
                    "step_buffer_bytes", "peak_rss_mb");
            assertTrue(p.has("state_rss_growth_bytes"), "RSS growth is reported (it may be noise-level, even negative): " + p);
            assertTrue(p.get("state_allocated_bytes").asLong() >= p.get("state_bytes").asLong(),
                    "the state holds at least its analytic bytes: " + p);
        }
        // the analytic sizes: KV cache 2·layers·B·c·D·4 (Hkv·Dh = D); Mamba layers·B·E·(K + N)·4
        JsonNode t = j.get("teacher"), m = j.get("mamba"), td = j.get("decode").get(0), md = j.get("decode").get(1);
        assertEquals(2L * t.get("n_layer").asInt() * 2 * 64 * 32 * 4, td.get("state_bytes").asLong(), "teacher KV cache bytes");
        assertEquals((long) m.get("n_layer").asInt() * 2 * 64 * (4 + 16) * 4, md.get("state_bytes").asLong(), "Mamba state bytes");

        BufferedImage png = ImageIO.read(tmp.resolve("scaling.png").toFile());
        assertNotNull(png, "scaling.png is a readable image");
        assertEquals(1800, png.getWidth());
        assertEquals(1120, png.getHeight());
    }

    @Test
    void pointsPastTheTimeoutAreRecordedAsSkipped(@TempDir Path tmp) throws IOException {
        Cli r = Cli.run("bench-scaling", "--out", tmp.toString(), "--lengths", "64,128", "--contexts", "64", "--batches", "1",
                "--d-model", "32", "--heads", "2", "--point-timeout", "1");
        assertEquals(0, r.status(), r.err() + r.out());
        JsonNode j = JSON.readTree(tmp.resolve("scaling.json").toFile());
        // a JVM may in principle start, build and measure within 1 s; then the point has its numbers instead
        for (JsonNode p : j.get("forward")) assertTrue(p.has("skipped") || p.get("seconds").asDouble() > 0, p.toString());
        for (JsonNode p : j.get("decode")) assertTrue(p.has("skipped") || p.get("tokens_per_s").asDouble() > 0, p.toString());
        assertNotNull(ImageIO.read(tmp.resolve("scaling.png").toFile()), "the plot is written even with nothing measured");
    }

    @Test
    void badFlagsGiveOneLine() {
        for (String[] bad : List.of(new String[]{"--lengths", "0"}, new String[]{"--heads", "3"}, new String[]{"--batches", "0"},
                new String[]{"--child-heap", "lots"}, new String[]{"--point-timeout", "0"})) {
            String[] args = new String[bad.length + 1];
            args[0] = "bench-scaling";
            System.arraycopy(bad, 0, args, 1, bad.length);
            Cli r = Cli.run(args);
            assertEquals(2, r.status(), String.join(" ", bad) + ": " + r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, String.join(" ", bad) + ": " + r.err());
        }
    }

    private static void assertPositive(JsonNode n, String... keys) {
        for (String k : keys) {
            assertNotNull(n.get(k), "field " + k + " in " + n);
            assertTrue(n.get(k).asDouble() > 0, k + " should be positive in " + n);
        }
    }
}
