package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.app.serve.Server;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * The server's request bodies ({@code mamba4j serve}): a request to /v1/completions or /v1/chat/completions (the
 * input's first byte picks which; the rest is the body) sent over HTTP to a server on a tiny byte-level model with a
 * chat template, at most 64 tokens of context. The rule: every request gets 200 (a completion, or a stream), or a 4xx
 * whose body is a JSON error object naming what is wrong; a 500, a body that is not the API's error JSON, or a server
 * that stops answering is a finding.
 */
class ServeRequestFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private static Server server;

    private static synchronized int port() throws Exception {
        if (server == null) {
            Path dir = Files.createTempDirectory("mamba4j-fuzz-serve");
            Mamba1Config c = new Mamba1Config(128, 128, 16, 8, 1, 2, 4, 2, false, true, 1e-5, true, -1);
            Mamba1Saver.save(Mamba1Init.random(c, DType.F32, 5, Backends.get("cpu")), dir);
            Files.writeString(dir.resolve("tokenizer_config.json"), JSON.createObjectNode()
                    .put("chat_template", "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
                    .put("bos_token", "").toString());
            server = new Server(Server.Options.defaults(dir).withPort(0).withMaxContext(64).withMaxBodyBytes(8192));
        }
        return server.port();
    }

    @FuzzTest
    void request(byte[] input) throws Exception {
        if (input.length == 0) return;
        String path = (input[0] & 1) == 0 ? "/v1/completions" : "/v1/chat/completions";
        byte[] body = Arrays.copyOfRange(input, 1, input.length);
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port() + path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        HttpResponse<String> r = HTTP.send(req, HttpResponse.BodyHandlers.ofString());
        int s = r.statusCode();
        if (s == 200) return;   // a completion or a stream (its content is the model's)
        if (s < 400 || s >= 500) throw new AssertionError(path + " answered " + s + ": " + r.body());
        JsonNode j;
        try {
            j = JSON.readTree(r.body());
        } catch (IOException e) {
            throw new AssertionError(path + " answered " + s + " with a body that is not JSON: " + r.body());
        }
        if (j == null || !j.path("error").path("message").isTextual() || j.path("error").path("message").asText().isBlank())
            throw new AssertionError(path + " answered " + s + " without an error message: " + r.body());
    }
}
