package mamba4j.models.mamba2;

import mamba4j.core.UserInputException;

/**
 * A Mamba-2 language model's hyper-parameters, mirroring transformers' {@code Mamba2Config} (config.json with
 * {@code model_type: mamba2}); the original state-spaces config ({@code d_model}, {@code n_layer},
 * {@code ssm_cfg.layer = "Mamba2"}, {@code pad_vocab_size_multiple}) maps onto the same record (see
 * {@code Mamba2Loader}).
 *
 * @param vocabSize       tokens the tokenizer may produce (ids must be below it)
 * @param paddedVocabSize rows of the embedding and width of the logits (vocab rounded up to
 *                        pad_vocab_size_multiple for original checkpoints, vocabSize for transformers ones)
 * @param timeStepLo      time_step_limit[0]: dt is clamped to [lo, hi] on the whole-sequence path
 * @param timeStepHi      time_step_limit[1] (+∞ by default)
 * @param normPerGroup    the gated RMSNorm's statistics per group of E/G channels (mamba_ssm RMSNormGated with
 *                        group_size = E/G) instead of over all E channels (transformers' MambaRMSNormGated);
 *                        identical when G = 1
 */
public record Mamba2Config(int vocabSize, int paddedVocabSize, int hiddenSize, int stateSize, int expand, int nGroups,
                           int numHeads, int headDim, int convKernel, boolean useBias, boolean useConvBias,
                           double layerNormEpsilon, boolean tieWordEmbeddings, double timeStepLo, double timeStepHi,
                           int chunkSize, int numHiddenLayers, int eosTokenId, boolean normPerGroup) {
    public Mamba2Config {
        positive("vocab_size", vocabSize);
        positive("hidden_size (d_model)", hiddenSize);
        positive("state_size (d_state)", stateSize);
        positive("expand", expand);
        positive("n_groups (ngroups)", nGroups);
        positive("num_heads", numHeads);
        positive("head_dim (headdim)", headDim);
        positive("conv_kernel (d_conv)", convKernel);
        positive("chunk_size", chunkSize);
        positive("num_hidden_layers (n_layer)", numHiddenLayers);
        if (paddedVocabSize < vocabSize)
            throw new UserInputException("config: padded vocab " + paddedVocabSize + " is smaller than vocab_size " + vocabSize);
        if ((long) numHeads * headDim != (long) expand * hiddenSize)
            throw new UserInputException("config: num_heads · head_dim = " + numHeads + " · " + headDim + " = " + (long) numHeads * headDim
                    + " must equal expand · hidden_size = " + expand + " · " + hiddenSize + " = " + (long) expand * hiddenSize);
        if (numHeads % nGroups != 0)
            throw new UserInputException("config: num_heads " + numHeads + " is not divisible by n_groups " + nGroups);
        if (!(layerNormEpsilon > 0)) throw new UserInputException("config: layer_norm_epsilon must be > 0, got " + layerNormEpsilon);
        if (Double.isNaN(timeStepLo) || Double.isNaN(timeStepHi) || timeStepLo < 0 || !(timeStepLo < timeStepHi))
            throw new UserInputException("config: time_step_limit must be [lo, hi] with 0 <= lo < hi, got [" + timeStepLo + ", " + timeStepHi + "]");
    }

    /** E = expand · D = H · P. */
    public int dInner() { return expand * hiddenSize; }

    /** Channels of the depthwise conv: x | B | C = E + 2·G·N. */
    public int convDim() { return dInner() + 2 * nGroups * stateSize; }

    /** Output width of in_proj: z | xBC | dt = 2E + 2GN + H. */
    public int inProjSize() { return 2 * dInner() + 2 * nGroups * stateSize + numHeads; }

    /** Parameters counted as the checkpoint stores them (the tied head counted once). */
    public long parameterCount() {
        long n = 0;
        for (mamba4j.models.TensorSpec e : Mamba2Weights.table(this, "backbone.embeddings.weight").all()) n += e.numel();
        return n;
    }

    private static void positive(String key, int v) {
        if (v <= 0) throw new UserInputException("config: " + key + " must be a positive integer, got " + v);
    }
}
