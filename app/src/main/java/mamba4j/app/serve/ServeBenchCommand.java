package mamba4j.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.models.CausalLM;
import mamba4j.models.Models;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Load against an in-process {@code serve} over loopback HTTP: C concurrent streaming clients, each sending one
 * greedy request of random prompt ids, measured at the client: aggregate generated tok/s (tokens from the usage chunk),
 * time to first token and inter-token latency (between streamed chunks; a chunk is one token unless a character spans
 * tokens), p50 and p99. Also the decode state one stream holds at the context reached.
 */
@Command(name = "bench-serve", description = "Serving throughput and latency at several numbers of concurrent streaming clients.")
public final class ServeBenchCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint directory. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;
    @Option(names = "--shape", description = "Instead of --model: a random Mamba-1 of this published shape (e.g. mamba-130m), written to a temporary folder with the GPT-NeoX tokenizer.")
    String shape;
    @Option(names = "--clients", defaultValue = "1,8,32,64", split = ",", description = "Concurrent clients per round (default: ${DEFAULT-VALUE}).")
    int[] clients;
    @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt length in tokens (default: ${DEFAULT-VALUE}).")
    int promptTokens;
    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens generated per request (default: ${DEFAULT-VALUE}).")
    int maxTokens;
    @Option(names = "--max-sequences", defaultValue = "64", description = "Server slots (default: ${DEFAULT-VALUE}).")
    int maxSequences;
    @Option(names = "--step-batch", defaultValue = "8", description = "Server slots per batched state (default: ${DEFAULT-VALUE}).")
    int stepBatch;
    @Option(names = "--backend", defaultValue = "cpu", description = "The server's backend: cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;
    @Option(names = "--dtype", defaultValue = "f32", description = "With --shape: the weights' dtype, f32, bf16 or f16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override public Integer call() throws Exception {
        if ((model == null) == (shape == null)) throw new UserInputException("give exactly one of --model and --shape");
        if (promptTokens < 1 || maxTokens < 1) throw new UserInputException("--prompt-tokens and --max-tokens must be >= 1");
        Backends.get(backend);   // an unknown or unavailable backend is reported before any work
        DType weights = DType.parseWeightType(dtype);
        if (weights == null || !weights.isFloating()) throw new UserInputException("--dtype " + dtype + ": expected f32, bf16 or f16");
        if (model != null && weights != DType.F32) throw new UserInputException("--dtype applies to --shape only (a checkpoint keeps its own dtype)");
        Path dir = model != null ? mamba4j.app.ModelSource.resolve("--model", model) : writeShape(shape, weights);
        long perStream;
        int vocab;
        try (Models.Loaded m = Models.load(dir, Backends.get("cpu"))) {
            CausalLM lm = m.model();
            vocab = lm.vocabSize();
            CausalLM.DecodeState one = lm.newState(1);
            int[] ids = new int[promptTokens + maxTokens];
            lm.prefill(one, new int[][]{ids});
            perStream = one.stateBytes();
        }
        Server.Options o = Server.Options.defaults(dir).withPort(0).withPrefixCache(0, 64)
                .withMaxSequences(maxSequences, 1024).withMaxContext(Math.max(4096, promptTokens + maxTokens + 1));
        o = new Server.Options(o.model(), backend, o.host(), o.port(), o.maxSequences(), o.maxContext(), null, stepBatch, o.prefillChunk(),
                o.maxQueue(), o.prefixCacheBytes(), o.maxBodyBytes(), null, null, true);
        try (Server server = new Server(o)) {
            System.out.printf("model %s: decode state per stream at %d tokens of context %.3f MB; %d slots, %d per step batch%n",
                    dir.getFileName(), promptTokens + maxTokens, perStream / 1e6, maxSequences, server.engine().pageSize());
            round(server.port(), Math.min(8, maxSequences), vocab, new Random(1), Math.min(16, maxTokens));   // warm-up (JIT)
            System.out.println("| clients | aggregate tok/s | TTFT p50 (ms) | TTFT p99 (ms) | ITL p50 (ms) | ITL p99 (ms) | wall (s) |");
            System.out.println("|---:|---:|---:|---:|---:|---:|---:|");
            for (int c : clients) {
                Result r = round(server.port(), c, vocab, new Random(c), maxTokens);
                System.out.printf("| %d | %.1f | %.0f | %.0f | %.1f | %.1f | %.1f |%n", c, r.tokens / r.seconds, pct(r.ttft, 50), pct(r.ttft, 99),
                        pct(r.itl, 50), pct(r.itl, 99), r.seconds);
            }
        }
        return 0;
    }

    private record Result(long tokens, double seconds, List<Double> ttft, List<Double> itl) {}

    private record One(int tokens, double ttft, List<Double> itl) {}

    private Result round(int port, int n, int vocab, Random rnd, int tokens) throws Exception {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ObjectNode b = JSON.createObjectNode().put("max_tokens", tokens).put("temperature", 0).put("stream", true);
            b.putObject("stream_options").put("include_usage", true);
            var p = b.putArray("prompt");
            for (int j = 0; j < promptTokens; j++) p.add(rnd.nextInt(Math.min(vocab, 256)));
            bodies.add(b.toString());
        }
        long t0 = System.nanoTime();
        List<Future<One>> fs = new ArrayList<>();
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            for (String body : bodies) fs.add(ex.submit(() -> client(http, port, body)));
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long total = 0;
        List<Double> ttft = new ArrayList<>(), itl = new ArrayList<>();
        for (Future<One> f : fs) {
            One o = f.get();
            total += o.tokens;
            ttft.add(o.ttft);
            itl.addAll(o.itl);
        }
        return new Result(total, seconds, ttft, itl);
    }

    private static One client(HttpClient http, int port, String body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        long start = System.nanoTime(), last = 0;
        HttpResponse<java.io.InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        if (r.statusCode() != 200) throw new IllegalStateException("status " + r.statusCode());
        double ttft = -1;
        List<Double> itl = new ArrayList<>();
        int tokens = 0;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                JsonNode chunk = JSON.readTree(line.substring(6));
                if (chunk.has("usage")) { tokens = chunk.path("usage").path("completion_tokens").asInt(); continue; }
                if (!chunk.path("choices").path(0).path("finish_reason").isNull()) continue;
                long now = System.nanoTime();
                if (ttft < 0) ttft = (now - start) / 1e6;
                else itl.add((now - last) / 1e6);
                last = now;
            }
        }
        return new One(tokens, ttft, itl);
    }

    private static double pct(List<Double> xs, double p) {
        if (xs.isEmpty()) return Double.NaN;
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, (int) Math.ceil(p / 100 * s.size()) - 1));
    }

    /** A random Mamba-1 of a published shape with the GPT-NeoX tokenizer (testdata/tokenizers), in a temporary folder. */
    private static Path writeShape(String name, DType dtype) throws Exception {
        Path tok = Path.of(System.getProperty("mamba4j.home", ".")).resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json");
        if (!Files.isRegularFile(tok)) throw new UserInputException(tok + ": not found (run from the repository checkout)");
        Path dir = Files.createTempDirectory("mamba4j-bench-serve-" + name);
        Mamba1Saver.save(Mamba1Init.random(Mamba1Init.shape(name), dtype, 1, Backends.get("cpu")), dir);
        Files.copy(tok, dir.resolve("tokenizer.json"));
        dir.toFile().deleteOnExit();
        return dir;
    }
}
