package mamba4j.core;

/**
 * Element types of tensors, with the names safetensors uses in its header.
 *
 * <p>Most types store each element in a whole number of bytes ({@link #byteSize()}). The block-quantised weight types
 * {@link #Q8_0} and {@link #Q4_0} store runs of {@link #blockSize()} consecutive elements of a row in a block of
 * {@link #blockBytes()} bytes holding a scale and the quants — exactly ggml's {@code block_q8_0} and
 * {@code block_q4_0} (ggml-common.h), so the tensor bytes of a GGUF file of those types (ggml type ids 8 and 2) are a
 * mamba4j tensor's bytes as they are. Sizes of any type come from {@link #byteCount(long)}; {@link #byteSize()} is
 * the per-element size of the plain types only and throws for block types, so no caller can compute a wrong size
 * silently. The quantisation rules and element layout are in {@link Quant}.
 */
public enum DType {
    F64(8, "F64"), F32(4, "F32"), F16(2, "F16"), BF16(2, "BF16"),
    I64(8, "I64"), I32(4, "I32"), I8(1, "I8"), U8(1, "U8"), BOOL(1, "BOOL"),
    /** Blocks of 32 weights along a row: {f16 d; int8 q[32]} = 34 bytes; value = d·q (ggml {@code block_q8_0}). */
    Q8_0(32, 34),
    /**
     * Blocks of 32 weights along a row: {f16 d; uint8 qs[16]} = 18 bytes; element j (0..15) is the low nibble of qs[j],
     * element j + 16 the high nibble; value = d·(nibble − 8) (ggml {@code block_q4_0}).
     */
    Q4_0(32, 18);

    private final int blockSize, blockBytes;
    private final String safetensorsName;

    DType(int byteSize, String safetensorsName) {
        this.blockSize = 1;
        this.blockBytes = byteSize;
        this.safetensorsName = safetensorsName;
    }

    /** A block-quantised type: {@code blockSize} elements in {@code blockBytes} bytes; no safetensors dtype of its own. */
    DType(int blockSize, int blockBytes) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.safetensorsName = null;
    }

    /**
     * Bytes per element of a plain type. A block-quantised type has no whole number of bytes per element: use
     * {@link #byteCount(long)}; this throws for them, naming the type.
     */
    public int byteSize() {
        if (blockSize != 1)
            throw new UnsupportedOperationException(this + " stores " + blockSize + " elements in " + blockBytes
                    + " bytes, not a whole number of bytes per element: use byteCount(elements)");
        return blockBytes;
    }

    /** Elements per block: 1 for the plain types, 32 for Q8_0 and Q4_0. */
    public int blockSize() { return blockSize; }

    /** Bytes per block ({@link #byteSize()} for the plain types). */
    public int blockBytes() { return blockBytes; }

    /** Whether this is a block-quantised weight type (Q8_0, Q4_0). */
    public boolean isQuantised() { return blockSize != 1; }

    /**
     * Bytes that {@code elements} consecutive elements occupy. For a block type the count must be a whole number of
     * blocks (a row of a quantised tensor always is), else this throws naming the type and the count.
     */
    public long byteCount(long elements) {
        if (blockSize == 1) return Math.multiplyExact(elements, (long) blockBytes);
        if (elements % blockSize != 0)
            throw new IllegalArgumentException(elements + " elements of " + this + " are not a whole number of blocks of " + blockSize);
        return Math.multiplyExact(elements / blockSize, (long) blockBytes);
    }

    /**
     * The safetensors header name; block types have none (safetensors stores them as U8 bytes plus a metadata entry,
     * see the io package) and this throws for them.
     */
    public String safetensorsName() {
        if (safetensorsName == null)
            throw new UnsupportedOperationException(this + " has no safetensors dtype; it is stored as U8 bytes with a mamba4j.quant metadata entry");
        return safetensorsName;
    }

    public boolean isFloating() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** Parses a safetensors dtype name; returns null when unknown (callers name the file and tensor). */
    public static DType fromSafetensorsName(String name) {
        for (DType d : values()) if (d.safetensorsName != null && d.safetensorsName.equals(name)) return d;
        return null;
    }

    /** The safetensors dtype names, for error messages. */
    public static java.util.List<String> safetensorsNames() {
        return java.util.Arrays.stream(values()).filter(d -> d.safetensorsName != null).map(d -> d.safetensorsName).toList();
    }

    /** A weight dtype as users write it on the command line: f32, bf16, f16, q8_0, q4_0 (any case); null if unknown. */
    public static DType parseWeightType(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> F32;
            case "bf16" -> BF16;
            case "f16" -> F16;
            case "q8_0" -> Q8_0;
            case "q4_0" -> Q4_0;
            default -> null;
        };
    }
}
