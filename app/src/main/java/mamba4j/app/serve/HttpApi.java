package mamba4j.app.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.io.Tokenizer;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The OpenAI-compatible HTTP front over an {@link Engine}, on Jetty 12's core API (no servlets): every request runs on
 * a virtual thread of its own, reads its body with a size limit, validates it (400 naming the field), queues its
 * sequences (429 when the queue is full) and writes the answer, or server-sent events for {@code stream: true}. A
 * stream whose client went away is cancelled on the first failed write, which frees its slot at the next step.
 */
public final class HttpApi implements AutoCloseable {
    /** Front settings. */
    public record Settings(String host, int port, String apiKey, String modelName, int maxBodyBytes, int maxN) {}

    static final ObjectMapper JSON = new ObjectMapper();

    private final Engine engine;
    private final Tokenizer tokenizer;
    private final ChatTemplate chat;
    private final ServeMetrics metrics;
    private final Settings settings;
    private final int vocab;
    private final Server server;
    private final ServerConnector connector;
    private final ExecutorService workers = Executors.newVirtualThreadPerTaskExecutor();
    private final long created = System.currentTimeMillis() / 1000;

    public HttpApi(Engine engine, Tokenizer tokenizer, ChatTemplate chat, int vocab, ServeMetrics metrics, Settings settings) throws Exception {
        this.engine = engine;
        this.tokenizer = tokenizer;
        this.chat = chat;
        this.vocab = vocab;
        this.metrics = metrics;
        this.settings = settings;
        QueuedThreadPool pool = new QueuedThreadPool();
        pool.setName("mamba4j-http");
        pool.setDaemon(true);
        server = new Server(pool);
        HttpConfiguration hc = new HttpConfiguration();
        hc.setSendServerVersion(false);
        connector = new ServerConnector(server, new HttpConnectionFactory(hc));
        connector.setHost(settings.host());
        connector.setPort(settings.port());
        connector.setIdleTimeout(600_000);     // a queued or slow stream may stay silent for minutes; cancellation frees its slot
        server.addConnector(connector);
        server.setHandler(new Handler.Abstract() {
            @Override public boolean handle(Request request, Response response, Callback callback) {
                workers.execute(() -> serve(request, response, callback));
                return true;
            }
        });
        server.start();
    }

    /** The port bound (the one asked for, or the one the OS chose for port 0). */
    public int port() { return connector.getLocalPort(); }

    @Override public void close() throws Exception {
        server.stop();
        workers.shutdownNow();
    }

    // ------------------------------------------------------------------ routing

    private void serve(Request req, Response res, Callback cb) {
        String path = Request.getPathInContext(req), method = req.getMethod();
        String endpoint = switch (path) {
            case "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions" -> path;
            default -> "other";
        };
        int[] status = {200};
        try {
            if (!path.equals("/health")) authorize(req);
            switch (path) {
                case "/health" -> { expect(method, "GET"); sendJson(res, cb, 200, JSON.createObjectNode().put("status", "ok")); }
                case "/metrics" -> {
                    expect(method, "GET");
                    ByteArrayOutputStream out = new ByteArrayOutputStream();
                    metrics.write(out);
                    send(res, cb, 200, ServeMetrics.CONTENT_TYPE, out.toByteArray());
                }
                case "/v1/models" -> { expect(method, "GET"); sendJson(res, cb, 200, models()); }
                case "/v1/completions" -> { expect(method, "POST"); generate(req, res, cb, false, status); }
                case "/v1/chat/completions" -> { expect(method, "POST"); generate(req, res, cb, true, status); }
                default -> throw new ApiError(404, "invalid_request_error", null, "not_found", "no endpoint " + method + " " + path
                        + "; this server has /v1/completions, /v1/chat/completions, /v1/models, /health and /metrics");
            }
        } catch (ApiError e) {
            status[0] = e.status;
            sendError(res, cb, e);
        } catch (Throwable t) {
            status[0] = 500;
            sendError(res, cb, new ApiError(500, "server_error", null, null, "internal error: " + t));
        } finally {
            metrics.requests.labelValues(endpoint, Integer.toString(status[0])).inc();
        }
    }

    private void authorize(Request req) {
        if (settings.apiKey() == null) return;
        String h = req.getHeaders().get(HttpHeader.AUTHORIZATION);
        byte[] want = ("Bearer " + settings.apiKey()).getBytes(StandardCharsets.UTF_8);
        if (h == null || !MessageDigest.isEqual(h.getBytes(StandardCharsets.UTF_8), want))
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key",
                    h == null ? "missing API key: send the header 'Authorization: Bearer <key>'" : "incorrect API key");
    }

    private static void expect(String method, String want) {
        if (!method.equals(want)) throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", "use " + want + ", not " + method);
    }

    private ObjectNode models() {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        root.putArray("data").addObject().put("id", settings.modelName()).put("object", "model").put("created", created)
                .put("owned_by", "mamba4j").put("max_model_len", engine.settings().maxContext());
        return root;
    }

    // ------------------------------------------------------------------ completions and chat

    /** One parsed request: the prompt ids, the sampling settings, n, stream, and what to answer. */
    private record Job(int[] prompt, Engine.Params params, int n, boolean stream, boolean includeUsage) {}

    private void generate(Request req, Response res, Callback cb, boolean isChat, int[] status) throws Exception {
        JsonNode body = readBody(req);
        Job job = parse(body, isChat);
        List<Engine.Stream> streams = new ArrayList<>();
        try {
            for (int i = 0; i < job.n; i++) {
                Engine.Params p = job.params;
                if (i > 0) p = new Engine.Params(p.maxTokens(), p.temperature(), p.topK(), p.topP(), p.seed() + i, p.stop());
                streams.add(engine.submit(job.prompt, p));
            }
        } catch (Engine.Overloaded e) {
            streams.forEach(Engine.Stream::cancel);
            throw new ApiError(429, "rate_limit_exceeded", null, "server_busy", e.getMessage());
        } catch (IllegalStateException e) {
            streams.forEach(Engine.Stream::cancel);
            throw new ApiError(503, "server_error", null, null, e.getMessage());
        }
        req.addFailureListener(t -> streams.forEach(Engine.Stream::cancel));
        String id = (isChat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long now = System.currentTimeMillis() / 1000;
        try {
            if (job.stream) streamAnswer(res, cb, job, streams, id, now, isChat);
            else sendJson(res, cb, 200, wholeAnswer(job, streams, id, now, isChat));
        } finally {
            streams.forEach(Engine.Stream::cancel);   // no-op for finished ones; frees the rest when the client is gone
        }
    }

    private ObjectNode wholeAnswer(Job job, List<Engine.Stream> streams, String id, long now, boolean isChat) throws InterruptedException {
        ObjectNode root = header(id, isChat ? "chat.completion" : "text_completion", now);
        ArrayNode choices = root.putArray("choices");
        int completion = 0;
        for (int i = 0; i < streams.size(); i++) {
            Engine.Finished f = awaitEnd(streams.get(i));
            completion += f.completionTokens();
            ObjectNode c = choices.addObject().put("index", i);
            if (isChat) c.putObject("message").put("role", "assistant").put("content", f.text());
            else c.put("text", f.text()).putNull("logprobs");
            c.put("finish_reason", f.finishReason());
        }
        usage(root, job.prompt.length, completion);
        return root;
    }

    private Engine.Finished awaitEnd(Engine.Stream s) throws InterruptedException {
        while (true) {
            Engine.Event e = s.next(1, TimeUnit.DAYS);
            if (e instanceof Engine.Finished f) return f;
            if (e instanceof Engine.Failed f) throw new ApiError(500, "server_error", null, null, f.message());
        }
    }

    /** Server-sent events: one chunk per token with text, a last chunk per choice with its finish_reason, then [DONE]. */
    private void streamAnswer(Response res, Callback cb, Job job, List<Engine.Stream> streams, String id, long now, boolean isChat) throws Exception {
        res.setStatus(200);
        res.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        String object = isChat ? "chat.completion.chunk" : "text_completion";
        boolean[] done = new boolean[streams.size()];
        int left = streams.size(), completion = 0;
        try {
            try (Blocker.Callback b = Blocker.callback()) {    // headers now: a queued request's client knows it was accepted
                res.write(false, ByteBuffer.allocate(0), b);
                b.block();
            }
            if (isChat)
                for (int i = 0; i < streams.size(); i++) {
                    ObjectNode ch = header(id, object, now);
                    ch.putArray("choices").addObject().put("index", i).putNull("finish_reason").putObject("delta").put("role", "assistant").put("content", "");
                    event(res, ch.toString());
                }
            while (left > 0) {
                for (int i = 0; i < streams.size(); i++) {
                    if (done[i]) continue;
                    Engine.Event e = streams.get(i).next(streams.size() == 1 ? 1000 : 2, TimeUnit.MILLISECONDS);
                    if (e == null) continue;
                    ObjectNode ch = header(id, object, now);
                    ObjectNode c = ch.putArray("choices").addObject().put("index", i);
                    switch (e) {
                        case Engine.Token t -> {
                            if (t.text().isEmpty() && t.id() < 0) continue;   // one chunk per token, even while its text is held back
                            if (isChat) c.putObject("delta").put("content", t.text());
                            else c.put("text", t.text()).putNull("logprobs");
                            c.putNull("finish_reason");
                        }
                        case Engine.Finished f -> {
                            if (isChat) c.putObject("delta");
                            else c.put("text", "").putNull("logprobs");
                            c.put("finish_reason", f.finishReason());
                            done[i] = true;
                            left--;
                            completion += f.completionTokens();
                        }
                        case Engine.Failed f -> {
                            ObjectNode err = JSON.createObjectNode();
                            err.putObject("error").put("message", f.message()).put("type", "server_error");
                            event(res, err.toString());
                            done[i] = true;
                            left--;
                            continue;
                        }
                    }
                    event(res, ch.toString());
                }
            }
            if (job.includeUsage) {
                ObjectNode u = header(id, object, now);
                u.putArray("choices");
                usage(u, job.prompt.length, completion);
                event(res, u.toString());
            }
            event(res, "[DONE]");
        } catch (IOException e) {      // the client went away: the caller cancels the streams
            cb.failed(e);
            return;
        }
        res.write(true, ByteBuffer.allocate(0), cb);
    }

    private static void event(Response res, String data) throws IOException {
        try (Blocker.Callback b = Blocker.callback()) {
            res.write(false, ByteBuffer.wrap(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8)), b);
            b.block();
        }
    }

    private ObjectNode header(String id, String object, long now) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", now).put("model", settings.modelName());
    }

    private static void usage(ObjectNode root, int prompt, int completion) {
        root.putObject("usage").put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
    }

    // ------------------------------------------------------------------ request parsing and validation

    private JsonNode readBody(Request req) throws IOException {
        long declared = req.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
        if (declared > settings.maxBodyBytes()) throw tooLarge();
        byte[] bytes;
        try (InputStream in = Content.Source.asInputStream(req)) {
            bytes = in.readNBytes(settings.maxBodyBytes() + 1);
        }
        if (bytes.length > settings.maxBodyBytes()) throw tooLarge();
        if (bytes.length == 0) throw ApiError.invalid(null, "the request body is empty; send a JSON object");
        String text;
        try {   // JSON travels as UTF-8 (RFC 8259 §8.1): decoded strictly here rather than by the parser's guess of the encoding
            text = java.nio.charset.StandardCharsets.UTF_8.newDecoder().onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
                    .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw ApiError.invalid(null, "the request body is not UTF-8 text; send a JSON object encoded as UTF-8");
        }
        JsonNode body;
        try {
            body = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "malformed JSON in the request body: " + e.getOriginalMessage());
        }
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        return body;
    }

    private ApiError tooLarge() {
        return ApiError.invalid(null, "the request body exceeds " + settings.maxBodyBytes() + " bytes (--max-body-bytes)");
    }

    private Job parse(JsonNode b, boolean isChat) {
        optString(b, "model");
        int[] prompt = isChat ? chatPrompt(b) : completionPrompt(b);
        if (prompt.length == 0) throw ApiError.invalid(isChat ? "messages" : "prompt", "the prompt is empty");
        for (int j = 0; j < prompt.length; j++)
            if (prompt[j] < 0 || prompt[j] >= vocab)
                throw ApiError.invalid(isChat ? "messages" : "prompt", "token id " + prompt[j] + " at position " + j + " is outside the vocabulary [0, " + vocab + ")");
        int maxContext = engine.settings().maxContext();
        if (prompt.length >= maxContext)
            throw ApiError.invalid(isChat ? "messages" : "prompt", "the prompt has " + prompt.length + " tokens; --max-context is " + maxContext
                    + ", which leaves no room to generate");
        String maxField = isChat && b.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        Integer max = optInt(b, maxField);
        if (max != null && max <= 0) throw ApiError.invalid(maxField, maxField + " must be >= 1, got " + max);
        if (max != null && prompt.length + max > maxContext)
            throw ApiError.invalid(maxField, "the prompt's " + prompt.length + " tokens + " + maxField + " " + max + " exceed --max-context " + maxContext);
        int maxTokens = max != null ? max : maxContext - prompt.length;
        Double temperature = optNumber(b, "temperature");
        if (temperature != null && !(temperature >= 0 && temperature <= 2)) throw ApiError.invalid("temperature", "temperature must be in [0, 2], got " + temperature);
        Double topP = optNumber(b, "top_p");
        if (topP != null && !(topP > 0 && topP <= 1)) throw ApiError.invalid("top_p", "top_p must be in (0, 1], got " + topP);
        Integer topK = optInt(b, "top_k");
        if (topK != null && topK < -1) throw ApiError.invalid("top_k", "top_k must be >= 0 (0 or -1 = off), got " + topK);
        Long seed = b.has("seed") && !b.get("seed").isNull() ? longField(b, "seed") : null;
        Integer n = optInt(b, "n");
        if (n != null && (n < 1 || n > settings.maxN())) throw ApiError.invalid("n", "n must be in [1, " + settings.maxN() + "], got " + n);
        Boolean stream = optBool(b, "stream");
        boolean includeUsage = false;
        if (b.has("stream_options") && !b.get("stream_options").isNull()) {
            JsonNode so = b.get("stream_options");
            if (!so.isObject()) throw ApiError.invalid("stream_options", "stream_options must be an object");
            Boolean iu = optBool(so, "include_usage");
            includeUsage = iu != null && iu;
        }
        List<String> stop = stops(b);
        Engine.Params p = new Engine.Params(maxTokens, temperature == null ? 1f : temperature.floatValue(), topK == null || topK < 0 ? 0 : topK,
                topP == null ? 1f : topP.floatValue(), seed != null ? seed : new java.util.Random().nextLong(), stop);
        return new Job(prompt, p, n == null ? 1 : n, stream != null && stream, includeUsage);
    }

    private int[] completionPrompt(JsonNode b) {
        if (!b.has("prompt") || b.get("prompt").isNull()) throw ApiError.invalid("prompt", "prompt is required: a string or an array of token ids");
        JsonNode p = b.get("prompt");
        if (p.isArray() && p.size() == 1 && (p.get(0).isTextual() || p.get(0).isArray())) p = p.get(0);   // a batch of one
        if (p.isTextual()) return tokenizer.encode(p.asText());
        if (p.isArray()) {
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode e = p.get(i);
                if (e.isTextual() || e.isArray())
                    throw ApiError.invalid("prompt", "several prompts in one request are not supported; send one prompt per request (or use n)");
                if (!e.isIntegralNumber() || !e.canConvertToInt())
                    throw ApiError.invalid("prompt", "prompt must be a string or an array of integer token ids; element " + i + " is " + e);
                ids[i] = e.asInt();
            }
            return ids;
        }
        throw ApiError.invalid("prompt", "prompt must be a string or an array of token ids, got " + p.getNodeType().toString().toLowerCase());
    }

    private int[] chatPrompt(JsonNode b) {
        if (chat == null)
            throw ApiError.invalid("messages", "this model has no chat template (tokenizer_config.json \"chat_template\"); use /v1/completions, "
                    + "or start the server with --chat-template FILE");
        JsonNode ms = b.get("messages");
        if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiError.invalid("messages", "messages must be a non-empty array of {role, content}");
        List<Map<String, Object>> list = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) throw ApiError.invalid(where, where + " must be an object with role and content");
            JsonNode role = m.get("role"), content = m.get("content");
            if (role == null || !role.isTextual()) throw ApiError.invalid(where + ".role", where + ".role must be a string");
            String text;
            if (content == null || content.isNull()) text = "";
            else if (content.isTextual()) text = content.asText();
            else if (content.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : content) {
                    if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual())
                        throw ApiError.invalid(where + ".content", where + ".content parts must be {\"type\": \"text\", \"text\": ...}; only text is supported");
                    sb.append(part.get("text").asText());
                }
                text = sb.toString();
            } else throw ApiError.invalid(where + ".content", where + ".content must be a string or an array of text parts");
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("role", role.asText());
            e.put("content", text);
            list.add(e);
        }
        return tokenizer.encode(chat.render(list));
    }

    private static List<String> stops(JsonNode b) {
        JsonNode s = b.get("stop");
        if (s == null || s.isNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (s.isTextual()) out.add(s.asText());
        else if (s.isArray()) {
            for (JsonNode e : s) {
                if (!e.isTextual()) throw ApiError.invalid("stop", "stop must be a string or an array of strings; got " + e);
                out.add(e.asText());
            }
        } else throw ApiError.invalid("stop", "stop must be a string or an array of up to 4 strings");
        if (out.size() > 4) throw ApiError.invalid("stop", "at most 4 stop sequences, got " + out.size());
        for (String x : out) if (x.isEmpty()) throw ApiError.invalid("stop", "stop sequences must not be empty");
        return List.copyOf(out);
    }

    private static void optString(JsonNode b, String f) {
        if (b.has(f) && !b.get(f).isNull() && !b.get(f).isTextual()) throw ApiError.invalid(f, f + " must be a string");
    }

    private static Integer optInt(JsonNode b, String f) {
        if (!b.has(f) || b.get(f).isNull()) return null;
        JsonNode v = b.get(f);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiError.invalid(f, f + " must be an integer, got " + v);
        return v.asInt();
    }

    private static long longField(JsonNode b, String f) {
        JsonNode v = b.get(f);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiError.invalid(f, f + " must be an integer, got " + v);
        return v.asLong();
    }

    private static Double optNumber(JsonNode b, String f) {
        if (!b.has(f) || b.get(f).isNull()) return null;
        JsonNode v = b.get(f);
        if (!v.isNumber()) throw ApiError.invalid(f, f + " must be a number, got " + v);
        return v.asDouble();
    }

    private static Boolean optBool(JsonNode b, String f) {
        if (!b.has(f) || b.get(f).isNull()) return null;
        JsonNode v = b.get(f);
        if (!v.isBoolean()) throw ApiError.invalid(f, f + " must be true or false, got " + v);
        return v.asBoolean();
    }

    // ------------------------------------------------------------------ writing

    private void sendError(Response res, Callback cb, ApiError e) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode err = root.putObject("error").put("message", e.getMessage()).put("type", e.type);
        if (e.param == null) err.putNull("param"); else err.put("param", e.param);
        if (e.code == null) err.putNull("code"); else err.put("code", e.code);
        if (res.isCommitted()) { cb.failed(e); return; }
        sendJson(res, cb, e.status, root);
    }

    private static void sendJson(Response res, Callback cb, int status, JsonNode body) {
        send(res, cb, status, "application/json", body.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void send(Response res, Callback cb, int status, String contentType, byte[] bytes) {
        res.setStatus(status);
        res.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        res.getHeaders().put(HttpHeader.CONTENT_LENGTH, bytes.length);
        res.write(true, ByteBuffer.wrap(bytes), cb);
    }
}
