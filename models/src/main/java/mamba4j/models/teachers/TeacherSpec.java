package mamba4j.models.teachers;

import mamba4j.core.UserInputException;

/**
 * What {@link TransformerLM} needs from any of the three configs ({@link PhiConfig}, {@link LlamaConfig},
 * {@link Gpt2Config}), in one vocabulary. Shapes use D = hidden, H = heads, Hkv = kvHeads, Dh = headDim, I = intermediate.
 *
 * @param rotaryDim dims of each head that rotary rotates (0: no rotary, learned positions instead)
 */
public record TeacherSpec(Arch arch, int vocabSize, int hidden, int intermediate, int layers, int heads, int kvHeads,
                          int headDim, int rotaryDim, double ropeTheta, int maxPositions, double normEps,
                          boolean tieWordEmbeddings, int eosTokenId) {
    /** The three wirings. */
    public enum Arch {
        /** h + attn(LN h) + mlp(LN h), LayerNorm with bias, gelu_new MLP, biases everywhere, lm_head bias. */
        PHI,
        /** h += attn(RMS h); h += swiglu(RMS h); no biases. */
        LLAMA,
        /** h += attn(LN h); h += mlp(LN h) with learned positions, Conv1D weights stored (in, out). */
        GPT2
    }

    public TeacherSpec {
        if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
            throw new UserInputException("config: num_attention_heads " + heads + " must be a positive multiple of num_key_value_heads " + kvHeads);
        if (rotaryDim < 0 || rotaryDim % 2 != 0 || rotaryDim > headDim)
            throw new UserInputException("config: rotary dims " + rotaryDim + " (head_dim · partial_rotary_factor) must be even and ≤ head_dim " + headDim);
        if (vocabSize <= 0 || hidden <= 0 || intermediate <= 0 || layers <= 0 || headDim <= 0 || maxPositions <= 0)
            throw new UserInputException("config: sizes must be positive (vocab " + vocabSize + ", hidden " + hidden + ", intermediate "
                    + intermediate + ", layers " + layers + ", head_dim " + headDim + ", max positions " + maxPositions + ")");
        if (!(normEps > 0)) throw new UserInputException("config: the norm epsilon must be > 0, got " + normEps);
        // checked before any table is built: RoPE cos/sin tables hold maxPositions · rotaryDim floats (Ops.ropeTables)
        if (rotaryDim > 0)
            mamba4j.io.MemoryBudget.require("config: max_position_embeddings = " + maxPositions + " (rotary tables of "
                    + maxPositions + " × " + rotaryDim + " floats)", mamba4j.io.MemoryBudget.product(maxPositions, rotaryDim, 4));
    }

    /** 1/√Dh, the score scale of all three (GPT-2's scale_attn_weights = true). */
    public float attentionScale() { return (float) (1.0 / Math.sqrt(headDim)); }
}
