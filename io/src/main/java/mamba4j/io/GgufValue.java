package mamba4j.io;

import java.util.Locale;

/**
 * One GGUF metadata value: its type and its content — a {@code Long} for every integer type (UINT64 as its raw bits),
 * a {@code Double} for FLOAT32/FLOAT64 (a FLOAT32 widened exactly), a {@code Boolean}, a {@code String} or a
 * {@link GgufArray}. The type is kept so that a file is written back with the types it was read with.
 */
public record GgufValue(GgufValueType type, Object value) {
    public GgufValue {
        boolean ok = switch (type) {
            case STRING -> value instanceof String;
            case ARRAY -> value instanceof GgufArray;
            case BOOL -> value instanceof Boolean;
            case FLOAT32, FLOAT64 -> value instanceof Double;
            default -> value instanceof Long;
        };
        if (!ok) throw new IllegalArgumentException("a GGUF " + type + " cannot hold " + value);
    }

    public static GgufValue u8(int v) { return new GgufValue(GgufValueType.UINT8, (long) (v & 0xff)); }
    public static GgufValue i8(int v) { return new GgufValue(GgufValueType.INT8, (long) (byte) v); }
    public static GgufValue u16(int v) { return new GgufValue(GgufValueType.UINT16, (long) (v & 0xffff)); }
    public static GgufValue i16(int v) { return new GgufValue(GgufValueType.INT16, (long) (short) v); }
    public static GgufValue u32(long v) { return new GgufValue(GgufValueType.UINT32, v & 0xffffffffL); }
    public static GgufValue i32(int v) { return new GgufValue(GgufValueType.INT32, (long) v); }
    public static GgufValue u64(long v) { return new GgufValue(GgufValueType.UINT64, v); }
    public static GgufValue i64(long v) { return new GgufValue(GgufValueType.INT64, v); }
    public static GgufValue f32(float v) { return new GgufValue(GgufValueType.FLOAT32, (double) v); }
    public static GgufValue f64(double v) { return new GgufValue(GgufValueType.FLOAT64, v); }
    public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, v); }
    public static GgufValue string(String v) { return new GgufValue(GgufValueType.STRING, v); }
    public static GgufValue array(GgufArray v) { return new GgufValue(GgufValueType.ARRAY, v); }

    /** The value of an integer type as a long (UINT64 as raw bits). */
    public long asLong() {
        if (!(value instanceof Long l)) throw new IllegalStateException("GGUF " + type + " value is not an integer");
        return l;
    }

    public double asDouble() {
        if (value instanceof Double d) return d;
        if (type == GgufValueType.UINT64) return GgufArray.unsignedToDouble((Long) value);
        if (value instanceof Long l) return l;
        throw new IllegalStateException("GGUF " + type + " value is not a number");
    }

    public boolean asBool() { return (Boolean) value; }

    public String asString() { return (String) value; }

    public GgufArray asArray() { return (GgufArray) value; }

    /** The value as a person reads it: numbers, quoted strings, arrays as type, length and first elements. */
    public String display(int maxElements) {
        return switch (type) {
            case STRING -> "\"" + UserFiles.oneLine(asString()).replace("\"", "\\\"") + "\"";
            case ARRAY -> {
                GgufArray a = asArray();
                StringBuilder b = new StringBuilder("[" + a.elementType() + " × " + a.size() + "]");
                if (a.size() > 0 && maxElements > 0) {
                    b.append(" [");
                    long n = Math.min(a.size(), maxElements);
                    for (long i = 0; i < n; i++) b.append(i > 0 ? ", " : "").append(a.get(i).display(0));
                    b.append(a.size() > n ? ", …]" : "]");
                }
                yield b.toString();
            }
            case UINT64 -> Long.toUnsignedString(asLong());
            case FLOAT32 -> String.format(Locale.ROOT, "%s", (float) asDouble());
            default -> String.valueOf(value);
        };
    }

    @Override public String toString() { return type + " " + display(4); }
}
