package mamba4j.app.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backends;
import mamba4j.io.ByteTokenizer;
import mamba4j.models.Generator;
import mamba4j.models.Models;
import mamba4j.models.Sampler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static mamba4j.app.serve.ServeFixture.JSON;
import static mamba4j.app.serve.ServeFixture.completion;
import static mamba4j.app.serve.ServeFixture.events;
import static mamba4j.app.serve.ServeFixture.get;
import static mamba4j.app.serve.ServeFixture.post;
import static mamba4j.app.serve.ServeFixture.streamedText;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The endpoints over HTTP on loopback: answers, streaming, stop strings, chat, the metrics, and every error shape. */
class ServeHttpTest {
    static Server server;
    static int port;

    @BeforeAll
    static void start() throws Exception {
        server = new Server(ServeFixture.options().withMaxContext(256).withMaxBodyBytes(4096));
        port = server.port();
    }

    @AfterAll
    static void stop() throws Exception { server.close(); }

    /** The greedy continuation by the model API's own generator (batch 1, whole-prompt prefill), as text. */
    static String generatorText(String prompt, int n) throws Exception {
        try (Models.Loaded m = Models.load(ServeFixture.model(), Backends.get("cpu"))) {
            int[] ids = new ByteTokenizer().encode(prompt);
            int[][] out = Generator.generate(m.model(), new int[][]{ids}, n, Sampler.greedy(), true, (r, id) -> {});
            return new ByteTokenizer().decode(Arrays.copyOfRange(out[0], ids.length, out[0].length));
        }
    }

    @Test
    void completionIsTheGeneratorsGreedyContinuationWithUsage() throws Exception {
        var r = post(port, "/v1/completions", completion("It is a truth", 24));
        assertEquals(200, r.status(), r.body());
        JsonNode c = r.json().path("choices").path(0);
        assertEquals(generatorText("It is a truth", 24), c.path("text").asText());
        assertEquals("length", c.path("finish_reason").asText());
        assertEquals("text_completion", r.json().path("object").asText());
        assertEquals(13, r.json().path("usage").path("prompt_tokens").asInt());
        assertEquals(24, r.json().path("usage").path("completion_tokens").asInt());
        assertEquals(37, r.json().path("usage").path("total_tokens").asInt());
        // the same prompt as token ids
        ObjectNode ids = JSON.createObjectNode().put("max_tokens", 24).put("temperature", 0);
        var arr = ids.putArray("prompt");
        for (int b : new ByteTokenizer().encode("It is a truth")) arr.add(b);
        assertEquals(c.path("text").asText(), post(port, "/v1/completions", ids.toString()).json().path("choices").path(0).path("text").asText());
    }

    @Test
    void streamingSendsTheSameTextAsEventsEndingWithDone() throws Exception {
        String body = JSON.readTree(completion("Once upon", 20)).deepCopy() instanceof ObjectNode o ? o.put("stream", true).toString() : null;
        List<String> ev = events(port, "/v1/completions", body);
        assertEquals("[DONE]", ev.getLast());
        assertEquals("length", JSON.readTree(ev.get(ev.size() - 2)).path("choices").path(0).path("finish_reason").asText());
        assertEquals(post(port, "/v1/completions", completion("Once upon", 20)).json().path("choices").path(0).path("text").asText(), streamedText(ev));
    }

    @Test
    void aStopStringEndsTheTextBeforeIt() throws Exception {
        String full = post(port, "/v1/completions", completion("Stop here", 40)).json().path("choices").path(0).path("text").asText();
        String stop = full.substring(12, 14);
        int at = full.indexOf(stop);
        ObjectNode req = (ObjectNode) JSON.readTree(completion("Stop here", 40));
        req.putArray("stop").add(stop).add("never-in-output-\u0001");
        var r = post(port, "/v1/completions", req.toString());
        assertEquals(full.substring(0, at), r.json().path("choices").path(0).path("text").asText());
        assertEquals("stop", r.json().path("choices").path(0).path("finish_reason").asText());
        req.put("stream", true);
        List<String> ev = events(port, "/v1/completions", req.toString());
        assertEquals(full.substring(0, at), streamedText(ev));
    }

    @Test
    void chatRendersTheTemplateAndAnswersAsTheAssistant() throws Exception {
        ObjectNode req = JSON.createObjectNode().put("max_tokens", 16).put("temperature", 0);
        req.putArray("messages").addObject().put("role", "user").put("content", "Hi");
        var r = post(port, "/v1/chat/completions", req.toString());
        assertEquals(200, r.status(), r.body());
        JsonNode c = r.json().path("choices").path(0);
        assertEquals("assistant", c.path("message").path("role").asText());
        assertEquals(generatorText("<user>Hi\n<assistant>", 16), c.path("message").path("content").asText());
        assertEquals("<user>Hi\n<assistant>".length(), r.json().path("usage").path("prompt_tokens").asInt());
        req.put("stream", true);
        List<String> ev = events(port, "/v1/chat/completions", req.toString());
        assertEquals("assistant", JSON.readTree(ev.getFirst()).path("choices").path(0).path("delta").path("role").asText());
        assertEquals(c.path("message").path("content").asText(), streamedText(ev));
    }

    @Test
    void nChoicesWithSeedsAndSampling() throws Exception {
        ObjectNode req = JSON.createObjectNode().put("prompt", "abc").put("max_tokens", 12).put("temperature", 1.0).put("top_k", 20)
                .put("top_p", 0.9).put("seed", 5).put("n", 3);
        var a = post(port, "/v1/completions", req.toString());
        assertEquals(200, a.status(), a.body());
        assertEquals(3, a.json().path("choices").size());
        assertEquals(36, a.json().path("usage").path("completion_tokens").asInt());
        var b = post(port, "/v1/completions", req.toString());
        assertEquals(a.json().path("choices"), b.json().path("choices"), "same seed, same samples");
        assertNotEquals(a.json().path("choices").path(0).path("text"), a.json().path("choices").path(1).path("text"));
    }

    @Test
    void modelsHealthAndMetrics() throws Exception {
        assertEquals("ok", get(port, "/health").json().path("status").asText());
        JsonNode m = get(port, "/v1/models").json();
        assertEquals(ServeFixture.model().getFileName().toString(), m.path("data").path(0).path("id").asText());
        post(port, "/v1/completions", completion("metrics", 3));
        String text = get(port, "/metrics").body();
        for (String name : new String[]{"mamba4j_requests_total", "mamba4j_prompt_tokens_total", "mamba4j_generation_tokens_total",
                "mamba4j_queue_depth", "mamba4j_active_sequences", "mamba4j_time_to_first_token_seconds_bucket",
                "mamba4j_inter_token_latency_seconds_bucket", "mamba4j_prefix_cache_hit_rate"})
            assertTrue(text.contains(name), name + " in /metrics:\n" + text);
        assertTrue(text.contains("mamba4j_requests_total{code=\"200\",endpoint=\"/v1/completions\"}"), text);
    }

    @Test
    void badInputIsA400NamingTheField() throws Exception {
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", "), 400, null, "malformed JSON");
        assertError(post(port, "/v1/completions", "[1, 2]"), 400, null, "JSON object");
        assertError(post(port, "/v1/completions", "{}"), 400, "prompt", "required");
        assertError(post(port, "/v1/completions", "{\"prompt\": 5}"), 400, "prompt", "string or an array");
        assertError(post(port, "/v1/completions", "{\"prompt\": [1, 999]}"), 400, "prompt", "outside the vocabulary");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": 0}"), 400, "max_tokens", ">= 1");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"max_tokens\": \"ten\"}"), 400, "max_tokens", "integer");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"temperature\": \"hot\"}"), 400, "temperature", "number");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"top_p\": 0}"), 400, "top_p", "(0, 1]");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"stream\": \"yes\"}"), 400, "stream", "true or false");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"stop\": [1]}"), 400, "stop", "strings");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"x\", \"n\": 99}"), 400, "n", "n must be");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"" + "y".repeat(300) + "\"}"), 400, "prompt", "--max-context");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"" + "y".repeat(200) + "\", \"max_tokens\": 100}"), 400, "max_tokens", "--max-context");
        assertError(post(port, "/v1/completions", "{\"prompt\": \"" + "z".repeat(5000) + "\"}"), 400, null, "--max-body-bytes");
        assertError(post(port, "/v1/chat/completions", "{\"messages\": []}"), 400, "messages", "non-empty");
        assertError(post(port, "/v1/chat/completions", "{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}"), 400, "messages[0].role", "string");
        assertError(get(port, "/v1/completions"), 405, null, "POST");
        assertError(get(port, "/v2/nothing"), 404, null, "no endpoint");
        assertEquals("ok", get(port, "/health").json().path("status").asText(), "still up");
    }

    @Test
    void aModelWithoutChatTemplateAnswersChatWith400() throws Exception {
        Path bare = Files.createTempDirectory("mamba4j-serve-bare");
        for (String f : new String[]{"config.json", "model.safetensors"}) Files.copy(ServeFixture.model().resolve(f), bare.resolve(f));
        try (Server s = new Server(Server.Options.defaults(bare).withPort(0))) {
            ObjectNode req = JSON.createObjectNode();
            req.putArray("messages").addObject().put("role", "user").put("content", "Hi");
            assertError(post(s.port(), "/v1/chat/completions", req.toString()), 400, "messages", "no chat template");
            assertEquals(200, post(s.port(), "/v1/completions", completion("still fine", 2)).status());
        }
    }

    /** A Transformer of 64 positions under the default --max-context 4096: the start-up warm-up stays within its positions. */
    @Test
    void aModelWithFewPositionsStartsAndServes() throws Exception {
        Path llama = mamba4j.testkit.Repo.golden().resolve("llama/gqa_untied");
        try (Server s = new Server(Server.Options.defaults(llama).withPort(0))) {
            // the warm-up's own generations (it ran: defaults) are not in the metrics a user reads
            String before = get(s.port(), "/metrics").body();
            assertTrue(before.contains("mamba4j_generation_tokens_total 0.0"), before);
            ServeFixture.Reply r = post(s.port(), "/v1/completions", "{\"prompt\": [1, 2, 3], \"max_tokens\": 5}");
            assertEquals(200, r.status());
            int n = r.json().path("usage").path("completion_tokens").asInt();
            String after = get(s.port(), "/metrics").body();
            assertTrue(n > 0 && after.contains("mamba4j_generation_tokens_total " + n + ".0"), n + " tokens; " + after);
        }
    }

    @Test
    void anApiKeyIsRequiredWhenSet() throws Exception {
        try (Server s = new Server(ServeFixture.options().withApiKey("sk-test"))) {
            assertError(post(s.port(), "/v1/completions", completion("x", 2)), 401, null, "missing API key");
            assertError(post(s.port(), "/v1/completions", completion("x", 2), "Authorization", "Bearer wrong"), 401, null, "incorrect");
            assertEquals(200, post(s.port(), "/v1/completions", completion("x", 2), "Authorization", "Bearer sk-test").status());
            assertError(get(s.port(), "/v1/models"), 401, null, "API key");
            assertEquals(200, get(s.port(), "/health").status(), "health stays open for probes");
        }
    }

    static void assertError(ServeFixture.Reply r, int status, String param, String fragment) {
        assertEquals(status, r.status(), r.body());
        JsonNode e = r.json().path("error");
        assertFalse(e.isMissingNode(), "an OpenAI error object: " + r.body());
        assertTrue(e.path("message").asText().contains(fragment), "message contains '" + fragment + "': " + r.body());
        assertTrue(e.has("type") && e.has("param") && e.has("code"), r.body());
        if (param == null) assertTrue(e.path("param").isNull(), r.body());
        else assertEquals(param, e.path("param").asText(), r.body());
    }
}
