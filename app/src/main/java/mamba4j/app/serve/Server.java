package mamba4j.app.serve;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.io.ByteTokenizer;
import mamba4j.io.Tokenizer;
import mamba4j.io.Tokenizers;
import mamba4j.models.Models;

import java.nio.file.Files;
import java.nio.file.Path;

/** A running {@code mamba4j serve}: the model, its tokenizer and chat template, the engine and the HTTP front. */
public final class Server implements AutoCloseable {
    /** Everything the command line sets. */
    public record Options(Path model, String backend, String host, int port, int maxSequences, int maxContext, String apiKey,
                          int stepBatch, int prefillChunk, int maxQueue, long prefixCacheBytes, int maxBodyBytes, Path chatTemplate,
                          String servedModelName, boolean warmup) {
        /** Defaults for everything but the model (the command line's defaults). */
        public static Options defaults(Path model) {
            return new Options(model, "cpu", "127.0.0.1", 8080, 64, 4096, null, 8, 64, 256, 256L << 20, 1 << 20, null, null, true);
        }

        public Options withPort(int p) { return new Options(model, backend, host, p, maxSequences, maxContext, apiKey, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, maxBodyBytes, chatTemplate, servedModelName, warmup); }
        public Options withApiKey(String k) { return new Options(model, backend, host, port, maxSequences, maxContext, k, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, maxBodyBytes, chatTemplate, servedModelName, warmup); }
        public Options withMaxSequences(int m, int queue) { return new Options(model, backend, host, port, m, maxContext, apiKey, stepBatch, prefillChunk, queue, prefixCacheBytes, maxBodyBytes, chatTemplate, servedModelName, warmup); }
        public Options withMaxContext(int c) { return new Options(model, backend, host, port, maxSequences, c, apiKey, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, maxBodyBytes, chatTemplate, servedModelName, warmup); }
        public Options withChatTemplate(Path t) { return new Options(model, backend, host, port, maxSequences, maxContext, apiKey, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, maxBodyBytes, t, servedModelName, warmup); }
        public Options withPrefixCache(long bytes, int chunk) { return new Options(model, backend, host, port, maxSequences, maxContext, apiKey, stepBatch, chunk, maxQueue, bytes, maxBodyBytes, chatTemplate, servedModelName, warmup); }
        public Options withWarmup(boolean w) { return new Options(model, backend, host, port, maxSequences, maxContext, apiKey, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, maxBodyBytes, chatTemplate, servedModelName, w); }
        public Options withMaxBodyBytes(int b) { return new Options(model, backend, host, port, maxSequences, maxContext, apiKey, stepBatch, prefillChunk, maxQueue, prefixCacheBytes, b, chatTemplate, servedModelName, warmup); }
    }

    private final Models.Loaded loaded;
    private final Tokenizer tokenizer;
    private final Engine engine;
    private final HttpApi http;
    private final ServeMetrics metrics = new ServeMetrics();

    public Server(Options o) throws Exception {
        Backend backend = Backends.get(o.backend());
        loaded = Models.load(o.model(), backend);
        try {
            int vocab = loaded.model().vocabSize();
            if (mamba4j.models.Models.isGguf(o.model())) {
                try (mamba4j.io.GgufFile f = mamba4j.io.GgufFile.open(o.model())) {
                    tokenizer = mamba4j.io.GgufTokenizer.load(f).orElseThrow(() -> new UserInputException("--model " + o.model()
                            + ": the GGUF file carries no tokenizer ('tokenizer.ggml.model' is absent or \"none\"); a model is served with one"));
                }
            } else if (Files.isRegularFile(mamba4j.io.ModelFolders.resolve(o.model()).resolve(Tokenizers.TOKENIZER_FILE))) tokenizer = Tokenizers.load(o.model());
            else if (vocab <= 256) tokenizer = new ByteTokenizer();
            else throw new UserInputException("--model " + o.model() + ": no " + Tokenizers.TOKENIZER_FILE + " for its vocabulary of " + vocab
                    + " ids (only byte-level models, vocabulary <= 256, are served without one)");
            ChatTemplate chat = ChatTemplate.load(mamba4j.io.ModelFolders.resolve(o.model()), o.chatTemplate());
            int maxContext = o.maxContext();
            engine = new Engine(loaded.model(), tokenizer, new Engine.Settings(o.maxSequences(), maxContext, o.stepBatch(), o.prefillChunk(),
                    o.maxQueue(), o.prefixCacheBytes(), o.warmup() ? 3000 : 0), metrics);
            String name = o.servedModelName() != null ? o.servedModelName() : o.model().toAbsolutePath().normalize().getFileName().toString();
            http = new HttpApi(engine, tokenizer, chat, vocab, metrics, new HttpApi.Settings(o.host(), o.port(), o.apiKey(), name, o.maxBodyBytes(), 16));
        } catch (Exception | Error e) {
            loaded.close();
            throw e;
        }
    }

    public int port() { return http.port(); }
    public Engine engine() { return engine; }

    @Override public void close() throws Exception {
        http.close();
        engine.close();
        tokenizer.close();
        loaded.close();
    }
}
