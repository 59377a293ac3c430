package mamba4j.models;

import mamba4j.core.Sampling;
import mamba4j.core.Tensor;

import java.util.Arrays;

/**
 * Autoregressive generation over a {@link CausalLM}: a prefill of the prompts, then one {@link CausalLM#step} per
 * token for the whole batch with a constant-size state (a growing KV cache for attention). Rows that reach EOS stop
 * growing; the loop ends when every row has stopped or produced {@code maxNewTokens}.
 *
 * <p>Prompts may have different lengths. Equal lengths take one batched whole-sequence prefill (as transformers'
 * {@code generate}). Different lengths need no padding: each row is prefilled alone into a state of batch 1 and
 * copied into its slot of the batched state ({@link CausalLM#copySequence}), after which the decode steps run
 * batched with every row at its own position. A row's step does not depend on the other rows (SequenceSlotsTest), so
 * a row's greedy output in a batch of different lengths is the output it gets alone.
 */
public final class Generator {
    /** Called for every generated token, in order; row is the batch index. */
    @FunctionalInterface
    public interface Listener { void token(int row, int id); }

    private Generator() {}

    /**
     * Returns prompt + continuation per row, in the order of {@code prompts}. One sampler draws for every row in
     * turn, so with temperature &gt; 0 a row's sample depends on the batch; {@link #generate(CausalLM, int[][], int,
     * Sampler[], boolean, Listener)} gives each row its own.
     */
    public static int[][] generate(CausalLM model, int[][] prompts, int maxNewTokens, Sampler sampler, boolean stopAtEos, Listener listener) {
        Sampler[] each = new Sampler[prompts.length];
        Arrays.fill(each, sampler);
        return generate(model, prompts, maxNewTokens, each, stopAtEos, listener);
    }

    /**
     * Returns prompt + continuation per row; row i is sampled by {@code samplers[i]} (samplers made with the same
     * seed give each row the sample it would get alone).
     *
     * @throws IllegalArgumentException when there are no prompts, a prompt is empty, or the samplers do not match the rows
     */
    public static int[][] generate(CausalLM model, int[][] prompts, int maxNewTokens, Sampler[] samplers, boolean stopAtEos, Listener listener) {
        int b = prompts.length;
        if (b == 0) throw new IllegalArgumentException("generate: no prompts");
        if (samplers.length != b) throw new IllegalArgumentException("generate: " + samplers.length + " samplers for " + b + " prompts");
        for (int i = 0; i < b; i++)
            if (prompts[i].length == 0) throw new IllegalArgumentException("generate: prompt " + i + " is empty");
        if (maxNewTokens < 0) throw new IllegalArgumentException("generate: maxNewTokens must be >= 0, got " + maxNewTokens);
        if (maxNewTokens == 0) {
            int[][] same = new int[b][];
            for (int i = 0; i < b; i++) same[i] = prompts[i].clone();
            return same;
        }
        return batch(model, model.newState(b), prompts, maxNewTokens, samplers, stopAtEos, listener);
    }

    /** The rows as one batch: prefilled together (equal lengths) or each alone into its slot, then stepped together. */
    private static int[][] batch(CausalLM model, CausalLM.DecodeState state, int[][] prompts, int maxNewTokens, Sampler[] samplers,
                                 boolean stopAtEos, Listener listener) {
        int b = prompts.length, v = model.logitsSize(), vocab = model.vocabSize();
        int[][] out = new int[b][];
        int[] len = new int[b];
        for (int i = 0; i < b; i++) {
            out[i] = Arrays.copyOf(prompts[i], prompts[i].length + maxNewTokens);
            len[i] = prompts[i].length;
        }
        float[] row = new float[b * v];
        Tensor logits = prefill(model, state, prompts, row);
        boolean[] done = new boolean[b];
        int[] next = new int[b];
        for (int step = 0; step < maxNewTokens; step++) {
            int[] picked = null;
            if (logits != null && !logits.isHost()) {   // picked on the device: b ids come back, not b × V' logits
                Sampling[] each = new Sampling[b];
                for (int i = 0; i < b; i++) each[i] = done[i] ? Sampling.greedy() : samplers[i].next();
                picked = model.backend().sample(logits.reshape(b, v), vocab, each);
            } else if (logits != null) logits.readFloats(row);
            boolean all = true;
            for (int i = 0; i < b; i++) {
                if (done[i]) { next[i] = model.eosTokenId() >= 0 ? model.eosTokenId() : 0; continue; }
                int id = picked != null ? picked[i] : samplers[i].sample(row, i * v, vocab);
                next[i] = id;
                out[i][len[i]++] = id;
                listener.token(i, id);
                if (stopAtEos && id == model.eosTokenId()) done[i] = true;
                all &= done[i];
            }
            if (all || step == maxNewTokens - 1) break;
            logits = model.step(state, next);
        }
        for (int i = 0; i < b; i++) out[i] = Arrays.copyOf(out[i], len[i]);
        return out;
    }

    private static boolean equalLengths(int[][] prompts) {
        for (int[] p : prompts) if (p.length != prompts[0].length) return false;
        return true;
    }

    /**
     * Fills the state with the prompts and returns the last logits (B, V'), or null when they were gathered row by
     * row into {@code rows} (prompts of different lengths, each prefilled alone into its slot).
     */
    private static Tensor prefill(CausalLM model, CausalLM.DecodeState state, int[][] prompts, float[] rows) {
        int b = prompts.length, v = model.logitsSize();
        if (equalLengths(prompts)) return model.prefill(state, prompts);
        float[] one = new float[v];
        for (int i = 0; i < b; i++) {
            CausalLM.DecodeState alone = model.newState(1);
            model.backend().download(model.prefill(alone, new int[][]{prompts[i]})).readFloats(one);
            System.arraycopy(one, 0, rows, i * v, v);
            model.copySequence(alone, 0, state, i);
        }
        return null;
    }
}
