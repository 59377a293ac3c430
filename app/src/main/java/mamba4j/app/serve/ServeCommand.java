package mamba4j.app.serve;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "serve", description = "An OpenAI-compatible server (/v1/completions, /v1/chat/completions, /v1/models, /health, /metrics) with continuous batching.")
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (config.json, weights, tokenizer.json unless byte-level), or a llama.cpp Mamba/Mamba-2 .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;
    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE}, loopback only; 0.0.0.0 for all).")
    String host;
    @Option(names = "--port", defaultValue = "8080", description = "TCP port (default: ${DEFAULT-VALUE}; 0 = any free port).")
    int port;
    @Option(names = "--max-sequences", defaultValue = "64", description = "Sequences decoded at once, each holding a state slot (default: ${DEFAULT-VALUE}).")
    int maxSequences;
    @Option(names = "--max-context", defaultValue = "4096", description = "Prompt + generated tokens per sequence; bounds a Transformer's KV cache (default: ${DEFAULT-VALUE}).")
    int maxContext;
    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' (all endpoints but /health).")
    String apiKey;
    @Option(names = "--max-queue", defaultValue = "256", description = "Requests waiting for a slot before the server answers 429 (default: ${DEFAULT-VALUE}).")
    int maxQueue;
    @Option(names = "--step-batch", defaultValue = "8", description = "Slots per batched decode state, stepped whole (default: ${DEFAULT-VALUE}).")
    int stepBatch;
    @Option(names = "--prefill-chunk", defaultValue = "64", description = "Prompt tokens prefilled between two decode steps; prefix states are cached at its multiples (default: ${DEFAULT-VALUE}).")
    int prefillChunk;
    @Option(names = "--prefix-cache-mb", defaultValue = "256", description = "Bytes of prompt-prefix states kept, least recently used out; 0 = off (default: ${DEFAULT-VALUE}).")
    long prefixCacheMb;
    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "Largest request body (default: ${DEFAULT-VALUE}).")
    int maxBodyBytes;
    @Option(names = "--chat-template", description = "A Jinja chat template file (default: tokenizer_config.json's chat_template).")
    Path chatTemplate;
    @Option(names = "--served-model-name", description = "The model id in /v1/models and responses (default: the model folder's name, or the ORG/NAME given).")
    String servedModelName;

    @Option(names = "--no-warmup", description = "Start serving at once, without first running the decode kernels and a few short generations for ~3 s (the JIT compiles them over the first few hundred steps).")
    boolean noWarmup;

    @Override public Integer call() throws Exception {
        Path given = model;
        model = mamba4j.app.ModelSource.resolve("--model", model);
        if (servedModelName == null && !model.equals(given)) servedModelName = given.toString();   // a hub model: its ORG/NAME, not the commit folder's name
        Server.Options o = new Server.Options(model, backend, host, port, maxSequences, maxContext, apiKey, stepBatch, prefillChunk, maxQueue,
                prefixCacheMb << 20, maxBodyBytes, chatTemplate, servedModelName, !noWarmup);
        Server server = new Server(o);
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { server.close(); } catch (Exception ignored) { /* shutting down */ }
            stop.countDown();
        }));
        System.err.println("mamba4j serve: " + model + " on http://" + host + ":" + server.port() + "/v1 (" + maxSequences
                + " sequences, " + server.engine().pageSize() + " per step batch, max context " + maxContext + (apiKey != null ? ", API key required" : "") + ")");
        stop.await();
        return 0;
    }
}
