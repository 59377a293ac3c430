package mamba4j.models;

import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Autoregressive generation over a {@link CausalLM}: one whole-sequence prefill of the prompts, then one
 * {@link CausalLM#step} per token with a constant-size state. Rows that reach EOS stop growing; the loop
 * ends when every row has stopped or produced {@code maxNewTokens}.
 */
public final class Generator {
    /** Called for every generated token, in order; row is the batch index. */
    @FunctionalInterface
    public interface Listener { void token(int row, int id); }

    private Generator() {}

    /** Returns prompt + continuation per row. Prompts must have equal lengths. */
    public static int[][] generate(CausalLM model, int[][] prompts, int maxNewTokens, Sampler sampler, boolean stopAtEos, Listener listener) {
        int b = prompts.length, t = prompts[0].length, v = model.logitsSize(), vocab = model.vocabSize();
        int[][] out = new int[b][];
        int[] len = new int[b];
        for (int i = 0; i < b; i++) {
            out[i] = java.util.Arrays.copyOf(prompts[i], t + maxNewTokens);
            len[i] = t;
        }
        if (maxNewTokens == 0) return prompts.clone();
        CausalLM.DecodeState state = model.newState(b);
        Tensor logits = model.prefill(state, prompts);
        float[] row = new float[b * v];
        boolean[] done = new boolean[b];
        int[] next = new int[b];
        for (int step = 0; step < maxNewTokens; step++) {
            model.backend().download(logits).readFloats(row);   // the device's logits to the host (no copy on the host)
            boolean all = true;
            for (int i = 0; i < b; i++) {
                if (done[i]) { next[i] = model.eosTokenId() >= 0 ? model.eosTokenId() : 0; continue; }
                int id = sampler.sample(row, i * v, vocab);
                next[i] = id;
                out[i][len[i]++] = id;
                listener.token(i, id);
                if (stopAtEos && id == model.eosTokenId()) done[i] = true;
                all &= done[i];
            }
            if (all || step == maxNewTokens - 1) break;
            logits = model.step(state, next);
        }
        for (int i = 0; i < b; i++) out[i] = java.util.Arrays.copyOf(out[i], len[i]);
        return out;
    }
}
