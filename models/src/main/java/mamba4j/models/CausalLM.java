package mamba4j.models;

import mamba4j.core.Tensor;

/** A next-token model: whole-sequence forward, and a recurrent state for O(1)-per-token decoding. */
public interface CausalLM {
    /** The backend its weights and states live on (logits it returns are on this backend's device: download to read). */
    mamba4j.core.Backend backend();

    /** Width of the logits (the embedding's rows, padded vocab for original state-spaces checkpoints). */
    int logitsSize();

    /** Ids below this may be fed and sampled (config vocab_size). */
    int vocabSize();

    /** End-of-sequence id from config.json, or -1. */
    int eosTokenId();

    /** Logits (B, T, V) for ids (B, T); publishes intermediates to the trace. */
    Tensor forward(int[][] ids, Trace trace);

    /**
     * Whether transformers' output_hidden_states of this architecture starts with the embedding output: then it is
     * [embedding, block 0 .. block L−2, final norm] (Transformers); otherwise [block 0 .. block L−1, final norm] (Mamba).
     */
    default boolean hiddenStatesIncludeEmbedding() { return false; }

    /** Bytes of weights one decode step reads (the numerator of the memory-bandwidth bound). */
    long weightBytesPerToken();

    /** A fresh decoding state for {@code batch} sequences. */
    DecodeState newState(int batch);

    /** Runs the prompts (B, T, equal lengths) with the whole-sequence path, leaves the state ready for {@link #step}, and returns the last position's logits (B, V). */
    Tensor prefill(DecodeState state, int[][] prompts);

    /** Feeds one token per sequence and returns logits (B, V); allocates no tensors. */
    Tensor step(DecodeState state, int[] tokens);

    // ------------------------------------------------------------------ per-sequence operations (continuous batching)

    /**
     * Continues every sequence of the state with ids (B, T) through the whole-sequence path, from wherever the state
     * is (conv history and S_0; a KV cache's filled positions), and returns the last position's logits (B, V).
     * {@link #prefill} equals this from an empty state, and a prompt fed in pieces equals it fed at once.
     */
    default Tensor extend(DecodeState state, int[][] ids) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot continue a decode state with several tokens");
    }

    /**
     * Copies sequence {@code srcRow} of {@code src} into row {@code dstRow} of {@code dst}: two states of this model of
     * any batch sizes. What a server needs to move a prefilled sequence into its slot of a batched state, to clear a
     * slot (copy a fresh state's row) and to keep the state after a prompt prefix (prefix cache).
     */
    default void copySequence(DecodeState src, int srcRow, DecodeState dst, int dstRow) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot copy one sequence's decode state");
    }

    /**
     * {@link #extend} by stepping: the ids (B, T) fed column by column through {@link #step}; returns the last logits.
     * Exactly the recurrence the whole-sequence path computes (decode == forward), for architectures whose
     * whole-sequence path starts from an empty state.
     */
    static Tensor stepThrough(CausalLM m, DecodeState state, int[][] ids) {
        int b = ids.length, t = ids[0].length;
        if (b != state.batch()) throw new IllegalArgumentException("state is for batch " + state.batch() + ", prompts are " + b);
        if (t == 0) throw new IllegalArgumentException("extend: no tokens");
        int[] col = new int[b];
        Tensor logits = null;
        for (int j = 0; j < t; j++) {
            for (int i = 0; i < b; i++) col[i] = ids[i][j];
            logits = m.step(state, col);
        }
        return logits;
    }

    /** The recurrent state of one batch of sequences. */
    interface DecodeState {
        int batch();

        /** Bytes held by the state (constant in the sequence length for SSMs). */
        long stateBytes();

        /**
         * Whether the state grows with every token (a KV cache): a server then clears the rows it does not use, so
         * they do not grow.
         */
        default boolean growsWithLength() { return false; }

        /** Bytes the state's tensors occupy as allocated (a KV cache at its capacity, not only its filled part). */
        default long allocatedBytes() { return stateBytes(); }

        /** Bytes of the step's own scratch buffers (allocated once per state, reused by every step). */
        long bufferBytes();

        /** Σ byte sizes, nulls skipped: for {@link #bufferBytes()}. */
        static long bytes(Tensor... ts) {
            long s = 0;
            for (Tensor t : ts) if (t != null) s += t.byteSize();
            return s;
        }
    }
}
