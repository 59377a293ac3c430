package mamba4j.models;

import mamba4j.core.Tensor;

/** A next-token model: whole-sequence forward, and a recurrent state for O(1)-per-token decoding. */
public interface CausalLM {
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

    /** The recurrent state of one batch of sequences. */
    interface DecodeState {
        int batch();

        /** Bytes held by the state (constant in the sequence length for SSMs). */
        long stateBytes();

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
