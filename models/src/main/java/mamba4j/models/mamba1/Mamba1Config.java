package mamba4j.models.mamba1;

import mamba4j.core.UserInputException;

/**
 * A Mamba-1 language model's hyper-parameters, mirroring transformers' {@code MambaConfig} (config.json with
 * {@code model_type: mamba}); the original state-spaces config ({@code d_model}, {@code n_layer}, {@code ssm_cfg},
 * {@code pad_vocab_size_multiple}) maps onto the same record (see {@code Mamba1Loader}).
 *
 * @param vocabSize       tokens the tokenizer may produce (ids must be below it)
 * @param paddedVocabSize rows of the embedding and width of the logits: vocabSize rounded up to
 *                        pad_vocab_size_multiple for original checkpoints, vocabSize for transformers ones
 * @param selective       true for Mamba (Δ, B, C functions of the input); false for the time-invariant ablation of the
 *                        Mamba paper §4.1 (S4-like: Δ, B, C learned per-layer constants), config key
 *                        {@value #TIME_INVARIANT_KEY} (mamba4j's own, not a transformers architecture)
 */
public record Mamba1Config(int vocabSize, int paddedVocabSize, int hiddenSize, int stateSize, int numHiddenLayers,
                           int expand, int convKernel, int timeStepRank, boolean useBias, boolean useConvBias,
                           double layerNormEpsilon, boolean tieWordEmbeddings, int eosTokenId, boolean selective) {
    /** config.json key marking the time-invariant ablation. */
    public static final String TIME_INVARIANT_KEY = "mamba4j_time_invariant";

    /** A selective (Mamba) config. */
    public Mamba1Config(int vocabSize, int paddedVocabSize, int hiddenSize, int stateSize, int numHiddenLayers,
                        int expand, int convKernel, int timeStepRank, boolean useBias, boolean useConvBias,
                        double layerNormEpsilon, boolean tieWordEmbeddings, int eosTokenId) {
        this(vocabSize, paddedVocabSize, hiddenSize, stateSize, numHiddenLayers, expand, convKernel, timeStepRank, useBias,
                useConvBias, layerNormEpsilon, tieWordEmbeddings, eosTokenId, true);
    }

    /** The same config with {@code selective} set. */
    public Mamba1Config withSelective(boolean on) {
        return new Mamba1Config(vocabSize, paddedVocabSize, hiddenSize, stateSize, numHiddenLayers, expand, convKernel,
                timeStepRank, useBias, useConvBias, layerNormEpsilon, tieWordEmbeddings, eosTokenId, on);
    }

    public Mamba1Config {
        positive("vocab_size", vocabSize);
        positive("hidden_size (d_model)", hiddenSize);
        positive("state_size (d_state)", stateSize);
        positive("num_hidden_layers (n_layer)", numHiddenLayers);
        positive("expand", expand);
        positive("conv_kernel (d_conv)", convKernel);
        positive("time_step_rank (dt_rank)", timeStepRank);
        if (paddedVocabSize < vocabSize)
            throw new UserInputException("config: padded vocab " + paddedVocabSize + " is smaller than vocab_size " + vocabSize);
        if (!(layerNormEpsilon > 0)) throw new UserInputException("config: layer_norm_epsilon must be > 0, got " + layerNormEpsilon);
    }

    /** E = expand · D. */
    public int dInner() { return expand * hiddenSize; }

    /** R, as given or ceil(D / 16) when the config says "auto". */
    public int dtRank() { return timeStepRank; }

    /** mamba_ssm's rule for dt_rank "auto". */
    public static int autoDtRank(int hiddenSize) { return (hiddenSize + 15) / 16; }

    /** Parameters counted as the checkpoint stores them (the tied head counted once), from the name table. */
    public long parameterCount() {
        long n = 0;
        for (mamba4j.models.TensorSpec e : Mamba1Weights.table(this, "backbone.embeddings.weight").all()) n += e.numel();
        return n;
    }

    private static void positive(String key, int v) {
        if (v <= 0) throw new UserInputException("config: " + key + " must be a positive integer, got " + v);
    }
}
