package mamba4j.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static mamba4j.app.serve.ServeFixture.JSON;
import static mamba4j.app.serve.ServeFixture.events;
import static mamba4j.app.serve.ServeFixture.get;
import static mamba4j.app.serve.ServeFixture.post;
import static mamba4j.app.serve.ServeFixture.streamedText;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching under load, over HTTP: 64 concurrent streaming clients, each greedy output equal to the same
 * prompt served alone; nothing lost, the server up and its memory bounded after rounds of load for
 * {@code -Dmamba4j.serve.loadSeconds} (default one round; {@code scripts/serve-load-test.sh} runs 60 s); a client that
 * disconnects frees its slot; a full server answers 429.
 */
class ServeLoadTest {
    static final int CLIENTS = 64, TOKENS = 12;
    static final String SHARED = "A shared system prompt, longer than one prefill chunk. ";

    static String body(String prompt, boolean stream, int tokens) {
        return JSON.createObjectNode().put("prompt", prompt).put("max_tokens", tokens).put("temperature", 0).put("stream", stream).toString();
    }

    @Test
    void sixtyFourStreamsLoseNothingAndEqualSingleRequests() throws Exception {
        long seconds = Long.getLong("mamba4j.serve.loadSeconds", 0);
        try (Server s = new Server(ServeFixture.options().withPrefixCache(64L << 20, 16))) {
            int port = s.port();
            int distinct = 8;
            String[] prompts = new String[distinct];
            String[] alone = new String[distinct];
            for (int i = 0; i < distinct; i++) {
                prompts[i] = SHARED + "Request " + i + (i % 2 == 0 ? " asks for more." : ":");
                alone[i] = streamedText(events(port, "/v1/completions", body(prompts[i], true, TOKENS)));   // one at a time: alone in the batch
                assertEquals(TOKENS, alone[i].length(), "one byte per token");
            }
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            int rounds = 0;
            do {
                List<Future<String>> fs = new ArrayList<>();
                try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                    for (int c = 0; c < CLIENTS; c++) {
                        String p = prompts[c % distinct];
                        fs.add(clients.submit(() -> {
                            List<String> ev = events(port, "/v1/completions", body(p, true, TOKENS));
                            assertEquals("[DONE]", ev.getLast());
                            assertEquals("length", JSON.readTree(ev.get(ev.size() - 2)).path("choices").path(0).path("finish_reason").asText());
                            return streamedText(ev);
                        }));
                    }
                }
                for (int c = 0; c < CLIENTS; c++)
                    assertEquals(alone[c % distinct], fs.get(c).get(), "round " + rounds + ", client " + c + ": batched greedy output == alone");
                rounds++;
            } while (System.nanoTime() < deadline);
            assertEquals("ok", get(port, "/health").json().path("status").asText());
            String m = get(port, "/metrics").body();
            assertEquals(0, metric(m, "mamba4j_active_sequences"), 0);
            assertEquals((long) (distinct + rounds * CLIENTS) * TOKENS, metric(m, "mamba4j_generation_tokens_total"), 0, "every token of every request");
            assertTrue(metric(m, "mamba4j_prefix_cache_hits_total") >= rounds * CLIENTS, "the shared prefix's state is reused:\n" + m);
            System.gc();
            Runtime r = Runtime.getRuntime();
            long used = r.totalMemory() - r.freeMemory();
            assertTrue(used < 512L << 20, "heap after " + rounds + " rounds: " + (used >> 20) + " MiB");
        }
    }

    /**
     * The demo's Phi teacher: KV-cache rows at their own positions in one batched state give the same greedy text as
     * alone. Prompts go in chunks of 4 tokens, so all but the first chunk continue a KV cache (the whole-sequence path
     * attending to the cache), and the repeats start from cached prefixes.
     */
    @Test
    void aTransformerTeacherBatchesWithoutChangingGreedyOutput() throws Exception {
        java.nio.file.Path teacher = java.nio.file.Path.of(System.getProperty("mamba4j.repo", ".")).resolve("app/src/main/resources/demo/teacher");
        try (Server s = new Server(Server.Options.defaults(teacher).withPort(0).withMaxContext(512).withPrefixCache(64L << 20, 4))) {
            int port = s.port();
            String[] prompts = {"It is a truth universally", "Mr. Darcy", "She was", "Elizabeth, having rather expected"};
            String[] alone = new String[prompts.length];
            for (int i = 0; i < prompts.length; i++) alone[i] = streamedText(events(port, "/v1/completions", body(prompts[i], true, 8)));
            List<Future<String>> fs = new ArrayList<>();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < 8; c++) {
                    String p = prompts[c % prompts.length];
                    fs.add(clients.submit(() -> streamedText(events(port, "/v1/completions", body(p, true, 8)))));
                }
            }
            for (int c = 0; c < 8; c++) assertEquals(alone[c % prompts.length], fs.get(c).get(), "client " + c);
            assertTrue(alone[0].length() > 0);
        }
    }

    @Test
    void aClientThatDisconnectsFreesItsSlot() throws Exception {
        try (Server s = new Server(ServeFixture.options())) {
            HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body("Leaving soon", true, 4000))).build();
            HttpResponse<InputStream> r = ServeFixture.HTTP.send(req, HttpResponse.BodyHandlers.ofInputStream());
            InputStream in = r.body();
            for (int newlines = 0; newlines < 6; ) if (in.read() == '\n') newlines++;   // three events arrived
            in.close();
            double active = 1;
            for (int i = 0; i < 200 && active > 0; i++) {
                Thread.sleep(50);
                active = metric(get(s.port(), "/metrics").body(), "mamba4j_active_sequences");
            }
            String m = get(s.port(), "/metrics").body();
            assertEquals(0, active, 0, m);
            assertEquals(1, metric(m, "mamba4j_sequences_cancelled_total"), 0, m);
            assertTrue(metric(m, "mamba4j_generation_tokens_total") < 4000, m);
        }
    }

    @Test
    void aFullServerAnswers429AndStaysUp() throws Exception {
        try (Server s = new Server(ServeFixture.options().withMaxSequences(1, 1))) {
            int port = s.port();
            AtomicInteger busy = new AtomicInteger();
            Map<Integer, JsonNode> errors = new ConcurrentHashMap<>();
            List<InputStream> open = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(body("Long one " + i, true, 3000))).build();
                HttpResponse<InputStream> r = ServeFixture.HTTP.send(req, HttpResponse.BodyHandlers.ofInputStream());
                if (r.statusCode() == 429) {
                    busy.incrementAndGet();
                    errors.put(i, JSON.readTree(r.body().readAllBytes()));
                } else open.add(r.body());
            }
            assertTrue(busy.get() >= 2, "one runs, one waits, the rest are refused: " + busy.get() + " refused");
            JsonNode e = errors.values().iterator().next().path("error");
            assertEquals("rate_limit_exceeded", e.path("type").asText(), e.toString());
            assertTrue(e.path("message").asText().contains("--max-queue"), e.toString());
            for (InputStream in : open) in.close();
            ObjectNode small = JSON.createObjectNode().put("prompt", "after").put("max_tokens", 2);
            int status = 429;
            for (int i = 0; i < 200 && status == 429; i++) {      // the cancelled streams leave at the next step boundaries
                Thread.sleep(50);
                status = post(port, "/v1/completions", small.toString()).status();
            }
            assertEquals(200, status, "served again once the slot is free");
        }
    }

    /** A metric's value (the first sample of that name) in Prometheus text. */
    static double metric(String text, String name) {
        for (String line : text.split("\n"))
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        throw new AssertionError(name + " not in /metrics:\n" + text);
    }
}
