package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.Backends;
import mamba4j.io.SafetensorsFile;
import mamba4j.models.Models;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `perplexity`: the sliding window of the transformers guide, checked against transformers on every architecture. */
class PerplexityTest {
    static final double NLL_REL = 2e-5;   // float32 forward against float64 transformers: ~1e-6 per logit, summed

    /** One window over the whole sequence scores tokens 1..T−1: its mean NLL is transformers' loss with labels = input_ids. */
    @ParameterizedTest
    @ValueSource(strings = {"mamba1/tied", "mamba2/g2_untied", "phi/partial_rotary", "llama/gqa_untied", "gpt2/tied"})
    void oneWholeWindowEqualsTransformersLoss(String golden) {
        Path dir = Repo.golden().resolve(golden);
        int[][] rows = GoldenChecks.inputIds(dir);
        double expected;
        try (SafetensorsFile g = SafetensorsFile.open(dir.resolve("grads.safetensors"))) {
            expected = g.get("loss").getDouble(0);
        }
        try (Models.Loaded l = Models.load(dir, Backends.get("cpu"))) {
            double nll = 0;
            long n = 0;
            for (int[] row : rows) {
                var w = PerplexityCommand.windows(row.length, row.length, row.length);
                assertEquals(List.of(new PerplexityCommand.Window(0, row.length, 1)), w);
                PerplexityCommand.Result r = PerplexityCommand.evaluate(l.model(), row, w, 1, null);
                nll += r.nll();
                n += r.scored();
            }
            assertEquals(rows.length * (rows[0].length - 1L), n);
            assertEquals(expected, nll / n, Math.abs(expected) * NLL_REL, golden + ": mean NLL vs transformers' loss (float64)");
        }
    }

    @Test
    void everyTokenAfterTheFirstIsScoredOnceWithOverlappingWindows() {
        for (int n : new int[]{2, 7, 100, 101}) {
            for (int[] cs : new int[][]{{10, 3}, {10, 10}, {4, 1}, {200, 50}}) {
                var ws = PerplexityCommand.windows(n, cs[0], cs[1]);
                int[] times = new int[n];
                for (var w : ws) {
                    assertTrue(w.end() - w.begin() <= cs[0] && w.from() > w.begin(), w.toString());
                    for (int t = w.from(); t < w.end(); t++) times[t]++;
                }
                assertTrue(ws.getLast().end() == n || cs[0] == cs[1] && (n - 1) % cs[1] == 0, "the last token is scored unless it starts a chunk");
                for (int t = 1; t < n; t++) {
                    boolean windowStart = cs[0] == cs[1] && t % cs[1] == 0;   // disjoint chunks: a chunk's first token has no context
                    assertEquals(windowStart ? 0 : 1, times[t], "n " + n + ", context " + cs[0] + ", stride " + cs[1] + ", token " + t);
                }
            }
        }
        // batching windows of one length gives the same sums as one at a time
        try (Models.Loaded l = Models.load(Repo.golden().resolve("mamba1/tied"), Backends.get("cpu"))) {
            int[] ids = new int[90];
            for (int i = 0; i < ids.length; i++) ids[i] = (i * 37 + 11) % 200;
            var ws = PerplexityCommand.windows(ids.length, 20, 7);
            var one = PerplexityCommand.evaluate(l.model(), ids, ws, 1, null);
            var four = PerplexityCommand.evaluate(l.model(), ids, ws, 4, null);
            assertEquals(one.scored(), four.scored());
            assertEquals(one.nll(), four.nll(), Math.abs(one.nll()) * 1e-6);
        }
    }

    /** tools/golden/make_perplexity_golden.py: the sliding window in float64 transformers, on every architecture. */
    @Test
    void matchesTheFloat64SlidingWindowGolden() throws IOException {
        Path expected = Repo.golden().resolve("perplexity/expected.json");
        Assumptions.assumeTrue(Files.exists(expected),
                "golden not generated yet: bash tools/golden/make_outside_truth.sh $OUT on the GPU host (it packs expected.json in outside-truth.tgz)");
        JsonNode root = new ObjectMapper().readTree(expected.toFile());
        Path text = Repo.golden().resolve("perplexity/text.txt");
        int[] ids = Files.readAllBytes(text).length == 0 ? new int[0] : toInts(Files.readAllBytes(text));
        int checked = 0;
        for (JsonNode c : root.get("cases")) {
            Path model = Repo.root().resolve(c.get("model").asText());
            int context = c.get("context").asInt(), stride = c.get("stride").asInt();
            List<PerplexityCommand.Window> want = new ArrayList<>();
            for (JsonNode w : c.get("windows")) want.add(new PerplexityCommand.Window(w.get(0).asInt(), w.get(1).asInt(), w.get(2).asInt()));
            assertEquals(want, PerplexityCommand.windows(ids.length, context, stride), c.get("model") + ": windows");
            try (Models.Loaded l = Models.load(model, Backends.get("cpu"))) {
                var r = PerplexityCommand.evaluate(l.model(), ids, want, 2, null);
                assertEquals(c.get("tokens").asLong(), r.scored());
                double nll = c.get("nll").asDouble();
                assertEquals(nll, r.nll(), Math.abs(nll) * NLL_REL, c.get("model") + " context " + context + " stride " + stride);
            }
            // and the command prints the same perplexity and bits per byte
            Cli cli = Cli.run("perplexity", "--model", model.toString(), "--text", text.toString(), "--context", "" + context,
                    "--stride=" + stride, "--tokenizer", "bytes", "--no-progress");
            assertEquals(0, cli.status(), cli.err());
            Matcher m = Pattern.compile("perplexity ([0-9.]+), bits per byte ([0-9.]+)").matcher(cli.out());
            assertTrue(m.find(), cli.out());
            assertEquals(c.get("perplexity").asDouble(), Double.parseDouble(m.group(1)), 1e-4 * c.get("perplexity").asDouble() + 1e-4);
            assertEquals(c.get("bits_per_byte").asDouble(), Double.parseDouble(m.group(2)), 2e-4);
            checked++;
        }
        assertTrue(checked >= 10, "cases in the golden: " + checked);
    }

    @Test
    void theCommandPrintsPerplexityAndBitsPerByteAndNamesBadFlags() {
        // a tiny model keeps this fast; the golden text's bytes are all below its vocabulary of 101
        Path model = Repo.golden().resolve("llama/gqa_untied"), text = Repo.golden().resolve("perplexity/text.txt");
        Cli r = Cli.run("perplexity", "--model", model.toString(), "--text", text.toString(), "--tokenizer", "bytes", "--context", "48",
                "--stride", "20", "--max-tokens", "200", "--batch", "3");
        assertEquals(0, r.status(), r.err());
        Matcher m = Pattern.compile("perplexity ([0-9.]+), bits per byte ([0-9.]+) \\(199 tokens scored, 199 bytes").matcher(r.out());
        assertTrue(m.find(), r.out());
        double ppl = Double.parseDouble(m.group(1)), bpb = Double.parseDouble(m.group(2));
        assertTrue(ppl > 1 && Double.isFinite(ppl), "a random (perturbed) model: " + ppl);
        assertEquals(Math.log(ppl) / Math.log(2), bpb, 1e-3, "byte-level: bits per byte = log2(perplexity)");
        assertTrue(r.err().contains("200 tokens"), r.err());

        CliFrontTest.assertOneLineError(Cli.run("perplexity", "--model", model.toString(), "--text", text.toString(), "--tokenizer", "bytes",
                "--context", "100"), "--context 100", "64 positions");
        CliFrontTest.assertOneLineError(Cli.run("perplexity", "--model", model.toString(), "--text", text.toString(), "--tokenizer", "bytes",
                "--context", "32", "--stride", "33"), "--stride");
        CliFrontTest.assertOneLineError(Cli.run("perplexity", "--model", model.toString(), "--text", "/nonexistent.txt"), "/nonexistent.txt");
        CliFrontTest.assertOneLineError(Cli.run("perplexity", "--model", model.toString(), "--text", Repo.root().resolve("data/austen.txt").toString(),
                "--tokenizer", "bytes", "--context", "32"), "outside the model's vocabulary of 101");
    }

    private static int[] toInts(byte[] b) {
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) out[i] = b[i] & 0xff;
        return out;
    }
}
