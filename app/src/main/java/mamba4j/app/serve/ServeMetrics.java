package mamba4j.app.serve;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;

/** The server's Prometheus metrics, in a registry of its own (several servers may share a JVM, as in tests). */
public final class ServeMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private static final double[] LATENCY = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

    public final Counter requests = Counter.builder().name("mamba4j_requests_total")
            .help("HTTP requests by endpoint and status code").labelNames("endpoint", "code").register(registry);
    public final Counter requestsFinished = Counter.builder().name("mamba4j_sequences_finished_total")
            .help("Generated sequences by finish reason").labelNames("finish_reason").register(registry);
    public final Counter cancelled = Counter.builder().name("mamba4j_sequences_cancelled_total")
            .help("Sequences dropped because their client went away").register(registry);
    public final Counter promptTokens = Counter.builder().name("mamba4j_prompt_tokens_total")
            .help("Prompt tokens prefilled (tokens served from the prefix cache not counted)").register(registry);
    public final Counter generationTokens = Counter.builder().name("mamba4j_generation_tokens_total")
            .help("Tokens generated").register(registry);
    public final Gauge queueDepth = Gauge.builder().name("mamba4j_queue_depth")
            .help("Requests waiting for a slot").register(registry);
    public final Gauge activeSequences = Gauge.builder().name("mamba4j_active_sequences")
            .help("Sequences holding a state slot and decoding").register(registry);
    public final Gauge slotBytes = Gauge.builder().name("mamba4j_slot_state_bytes")
            .help("Bytes of all slots' decode states and step buffers as allocated (KV caches grow with the context)").register(registry);
    public final Histogram timeToFirstToken = Histogram.builder().name("mamba4j_time_to_first_token_seconds")
            .help("From request arrival to its first generated token").classicUpperBounds(LATENCY).register(registry);
    public final Histogram interTokenLatency = Histogram.builder().name("mamba4j_inter_token_latency_seconds")
            .help("Between consecutive tokens of one sequence").classicUpperBounds(LATENCY).register(registry);
    public final Counter prefixLookups = Counter.builder().name("mamba4j_prefix_cache_lookups_total")
            .help("Prompts looked up in the prefix state cache").register(registry);
    public final Counter prefixHits = Counter.builder().name("mamba4j_prefix_cache_hits_total")
            .help("Prompts that started from a cached prefix state").register(registry);
    public final Counter prefixHitTokens = Counter.builder().name("mamba4j_prefix_cache_hit_tokens_total")
            .help("Prompt tokens whose prefill the prefix cache saved").register(registry);
    public final Counter prefixEvictions = Counter.builder().name("mamba4j_prefix_cache_evictions_total")
            .help("Prefix states evicted (least recently used first)").register(registry);
    public final Gauge prefixBytes = Gauge.builder().name("mamba4j_prefix_cache_bytes")
            .help("Bytes held by the prefix state cache").register(registry);
    public final Gauge prefixEntries = Gauge.builder().name("mamba4j_prefix_cache_entries")
            .help("Prefix states held").register(registry);

    public ServeMetrics() {
        GaugeWithCallback.builder().name("mamba4j_prefix_cache_hit_rate").help("Prefix cache hits / lookups since start")
                .callback(cb -> {
                    double l = prefixLookups.get();
                    cb.call(l == 0 ? 0 : prefixHits.get() / l);
                }).register(registry);
        GaugeWithCallback.builder().name("mamba4j_jvm_heap_used_bytes").help("JVM heap in use")
                .callback(cb -> {
                    Runtime r = Runtime.getRuntime();
                    cb.call(r.totalMemory() - r.freeMemory());
                }).register(registry);
    }

    public static final String CONTENT_TYPE = PrometheusTextFormatWriter.CONTENT_TYPE;

    public void write(OutputStream out) throws IOException {
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
    }
}
