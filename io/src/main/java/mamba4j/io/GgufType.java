package mamba4j.io;

/**
 * The tensor element types a GGUF file may declare (ggml's {@code ggml_type}), with their block layout: {@code blockSize}
 * elements stored in {@code typeSize} bytes. Codes and sizes are llama.cpp's ({@code gguf-py/gguf/constants.py},
 * {@code GGMLQuantizationType} and {@code GGML_QUANT_SIZES}); codes 4, 5 and 31–33, 36–38 were removed from ggml and
 * are unknown here as they are there.
 *
 * <p>Every type is known so that any GGUF file can be opened, bounds-checked and inspected; mamba4j reads the
 * elements of {@link #F32}, {@link #F16}, {@link #BF16}, {@link #Q8_0} and {@link #Q4_0} (see
 * {@link GgufFile#dtypeOf(GgufType)}).
 */
public enum GgufType {
    F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q4_1(3, 32, 20), Q5_0(6, 32, 22), Q5_1(7, 32, 24),
    Q8_0(8, 32, 34), Q8_1(9, 32, 40), Q2_K(10, 256, 84), Q3_K(11, 256, 110), Q4_K(12, 256, 144), Q5_K(13, 256, 176),
    Q6_K(14, 256, 210), Q8_K(15, 256, 292), IQ2_XXS(16, 256, 66), IQ2_XS(17, 256, 74), IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50), IQ4_NL(20, 32, 18), IQ3_S(21, 256, 110), IQ2_S(22, 256, 82), IQ4_XS(23, 256, 136),
    I8(24, 1, 1), I16(25, 1, 2), I32(26, 1, 4), I64(27, 1, 8), F64(28, 1, 8), IQ1_M(29, 256, 56), BF16(30, 1, 2),
    TQ1_0(34, 256, 54), TQ2_0(35, 256, 66), MXFP4(39, 32, 17), NVFP4(40, 64, 36), Q1_0(41, 128, 18);

    private final int code, blockSize, typeSize;

    GgufType(int code, int blockSize, int typeSize) {
        this.code = code;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** The code stored in a tensor info. */
    public int code() { return code; }

    /** Elements per block (1 for plain types). */
    public int blockSize() { return blockSize; }

    /** Bytes per block. */
    public int typeSize() { return typeSize; }

    public boolean quantized() { return blockSize > 1; }

    /** The type of a code, or null when ggml has no such type. */
    public static GgufType of(long code) {
        for (GgufType t : values()) if (t.code == code) return t;
        return null;
    }

    /**
     * Bytes of a row-major tensor whose rows hold {@code rowLength} elements and that has {@code elements} in all;
     * -1 when the row is not a whole number of blocks, {@link Long#MAX_VALUE} on overflow.
     */
    public long bytes(long rowLength, long elements) {
        if (rowLength % blockSize != 0 || elements % blockSize != 0) return -1;
        long blocks = elements / blockSize;
        return blocks > Long.MAX_VALUE / typeSize ? Long.MAX_VALUE : blocks * typeSize;
    }
}
