package mamba4j.io;

/** The value types of GGUF metadata ({@code gguf-py/gguf/constants.py} {@code GGUFValueType}), with their codes and widths. */
public enum GgufValueType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4), BOOL(7, 1),
    STRING(8, -1), ARRAY(9, -1), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    private final int code, width;

    GgufValueType(int code, int width) {
        this.code = code;
        this.width = width;
    }

    public int code() { return code; }

    /** Bytes of one value; -1 for STRING and ARRAY (length-prefixed). */
    public int width() { return width; }

    public boolean isInteger() { return width > 0 && this != FLOAT32 && this != FLOAT64 && this != BOOL; }

    public boolean isFloat() { return this == FLOAT32 || this == FLOAT64; }

    /** The type of a code, or null when GGUF has none. */
    public static GgufValueType of(long code) {
        for (GgufValueType t : values()) if (t.code == code) return t;
        return null;
    }
}
