package mamba4j.app.serve;

import mamba4j.models.CausalLM;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The decode state after a prompt prefix, kept for prompts that repeat it (a system prompt, a few-shot block): the
 * recurrent-state counterpart of a KV prefix cache (vLLM's prefix caching in "align" mode for Mamba, llama-server's
 * context checkpoints). Entries are taken at multiples of the prefill chunk, so a prompt that starts from one computes
 * exactly what it would from empty. Least recently used first out, bounded in bytes (state + its step buffers).
 * Used by the decode thread only.
 */
public final class PrefixCache {
    /** A cached prefix: its length and a batch-1 state after it. */
    public record Hit(int length, CausalLM.DecodeState state) {}

    private record Key(int[] ids) {
        @Override public boolean equals(Object o) { return o instanceof Key k && Arrays.equals(ids, k.ids); }
        @Override public int hashCode() { return Arrays.hashCode(ids); }
    }

    private final CausalLM model;
    private final long capacity;
    private final ServeMetrics metrics;
    private final LinkedHashMap<Key, CausalLM.DecodeState> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;

    PrefixCache(CausalLM model, long capacityBytes, ServeMetrics metrics) {
        this.model = model;
        this.capacity = capacityBytes;
        this.metrics = metrics;
    }

    public int size() { return entries.size(); }
    public long bytes() { return bytes; }

    /** The longest cached prefix of the prompt at a multiple of {@code chunk}, shorter than the prompt (its last token yields the logits). */
    Hit lookup(int[] prompt, int chunk) {
        if (capacity == 0) return null;
        metrics.prefixLookups.inc();
        for (int len = (prompt.length - 1) / chunk * chunk; len >= chunk; len -= chunk) {
            CausalLM.DecodeState s = entries.get(new Key(Arrays.copyOf(prompt, len)));
            if (s != null) {
                metrics.prefixHits.inc();
                metrics.prefixHitTokens.inc(len);
                return new Hit(len, s);
            }
        }
        return null;
    }

    /** Keeps a copy of row 0 of {@code state} as the state after {@code prefix} (refreshes it when present). */
    void put(int[] prefix, CausalLM.DecodeState state) {
        if (capacity == 0) return;
        Key k = new Key(prefix);
        if (entries.get(k) != null) return;
        CausalLM.DecodeState copy = model.newState(1);
        model.copySequence(state, 0, copy, 0);
        long size = size(copy);
        if (size > capacity) return;
        entries.put(k, copy);
        bytes += size;
        for (Iterator<Map.Entry<Key, CausalLM.DecodeState>> it = entries.entrySet().iterator(); bytes > capacity && it.hasNext(); ) {
            Map.Entry<Key, CausalLM.DecodeState> oldest = it.next();
            bytes -= size(oldest.getValue());
            it.remove();
            metrics.prefixEvictions.inc();
        }
        metrics.prefixBytes.set(bytes);
        metrics.prefixEntries.set(entries.size());
    }

    private static long size(CausalLM.DecodeState s) { return s.allocatedBytes() + s.bufferBytes(); }
}
