package mamba4j.io;

import mamba4j.core.UserInputException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A GGUF metadata array: an element type, a count, and the elements in their GGUF encoding. An array read from a file
 * is a view of the mapping (valid until the file is closed) and costs nothing until its elements are asked for, so a
 * file's 50,000-token vocabulary is decoded only by the reader that needs it; the factories build arrays in memory for
 * writing.
 *
 * <p>Elements of integer types are read with {@link #getLong} (UINT64 as its raw 64 bits), of FLOAT32/FLOAT64 with
 * {@link #getDouble}, BOOL with {@link #getBool}; strings and nested arrays, whose elements have varying lengths, are
 * decoded in order by {@link #strings()} and {@link #arrays()}.
 */
public final class GgufArray {
    private final GgufValueType type;
    private final long count;
    private final MemorySegment data;   // the encoded elements, exactly

    GgufArray(GgufValueType type, long count, MemorySegment data) {
        this.type = type;
        this.count = count;
        this.data = data;
    }

    public GgufValueType elementType() { return type; }

    /** Number of elements. */
    public long size() { return count; }

    /** Bytes of the encoded elements (without the array's type and count). */
    public long encodedBytes() { return data.byteSize(); }

    MemorySegment data() { return data; }

    /** Element {@code i} of an integer array, sign- or zero-extended as its type says (UINT64: the raw bits). */
    public long getLong(long i) {
        check(i);
        long at = i * type.width();
        return switch (type) {
            case UINT8 -> data.get(ValueLayout.JAVA_BYTE, at) & 0xffL;
            case INT8 -> data.get(ValueLayout.JAVA_BYTE, at);
            case UINT16 -> data.get(GgufBytes.U16, at) & 0xffffL;
            case INT16 -> data.get(GgufBytes.U16, at);
            case UINT32 -> data.get(GgufBytes.U32, at) & 0xffffffffL;
            case INT32 -> data.get(GgufBytes.U32, at);
            case UINT64, INT64 -> data.get(GgufBytes.U64, at);
            default -> throw new IllegalStateException("getLong on a GGUF array of " + type);
        };
    }

    /** Element {@code i} of a FLOAT32/FLOAT64 (or integer) array. */
    public double getDouble(long i) {
        check(i);
        return switch (type) {
            case FLOAT32 -> data.get(GgufBytes.F32, i * 4);
            case FLOAT64 -> data.get(GgufBytes.F64, i * 8);
            case UINT64 -> unsignedToDouble(getLong(i));
            default -> type.isInteger() ? getLong(i) : fail("getDouble");
        };
    }

    public boolean getBool(long i) {
        check(i);
        if (type != GgufValueType.BOOL) throw new IllegalStateException("getBool on a GGUF array of " + type);
        return data.get(ValueLayout.JAVA_BYTE, i) != 0;
    }

    /** All elements of a STRING array, in order. */
    public List<String> strings() {
        if (type != GgufValueType.STRING) throw new IllegalStateException("strings() on a GGUF array of " + type);
        MemoryBudget.require("GGUF string array of " + count + " strings", MemoryBudget.product(count, 48) + data.byteSize() * 2);
        List<String> out = new ArrayList<>((int) Math.min(count, Integer.MAX_VALUE - 8));
        long at = 0;
        for (long i = 0; i < count; i++) {
            long len = data.get(GgufBytes.U64, at);
            out.add(utf8(data.asSlice(at + 8, len)));
            at += 8 + len;
        }
        return out;
    }

    /** All elements of an ARRAY array (arrays of arrays), in order. */
    public List<GgufArray> arrays() {
        if (type != GgufValueType.ARRAY) throw new IllegalStateException("arrays() on a GGUF array of " + type);
        List<GgufArray> out = new ArrayList<>();
        long at = 0;
        for (long i = 0; i < count; i++) {
            GgufValueType t = GgufValueType.of(data.get(GgufBytes.U32, at));
            long n = data.get(GgufBytes.U64, at + 4);
            long len = encodedLength(t, n, data, at + 12);
            out.add(new GgufArray(t, n, data.asSlice(at + 12, len)));
            at += 12 + len;
        }
        return out;
    }

    /** Element {@code i} as a value (strings and nested arrays are found by walking the elements before it). */
    public GgufValue get(long i) {
        check(i);
        return switch (type) {
            case STRING -> {
                long at = 0;
                for (long k = 0; k < i; k++) at += 8 + data.get(GgufBytes.U64, at);
                yield GgufValue.string(utf8(data.asSlice(at + 8, data.get(GgufBytes.U64, at))));
            }
            case ARRAY -> {
                long at = 0;
                for (long k = 0; k <= i; k++) {
                    GgufValueType t = GgufValueType.of(data.get(GgufBytes.U32, at));
                    long n = data.get(GgufBytes.U64, at + 4);
                    long len = encodedLength(t, n, data, at + 12);
                    if (k == i) yield GgufValue.array(new GgufArray(t, n, data.asSlice(at + 12, len)));
                    at += 12 + len;
                }
                throw new AssertionError();
            }
            case BOOL -> GgufValue.bool(getBool(i));
            case FLOAT32 -> GgufValue.f32((float) getDouble(i));
            case FLOAT64 -> GgufValue.f64(getDouble(i));
            default -> new GgufValue(type, getLong(i));
        };
    }

    /**
     * Bytes taken by {@code n} encoded elements of type {@code t} starting at {@code at} (valid data: read from a
     * validated file or built by a factory).
     */
    static long encodedLength(GgufValueType t, long n, MemorySegment seg, long at) {
        if (t.width() > 0) return n * t.width();
        long pos = at;
        for (long i = 0; i < n; i++) {
            if (t == GgufValueType.STRING) pos += 8 + seg.get(GgufBytes.U64, pos);
            else {
                GgufValueType inner = GgufValueType.of(seg.get(GgufBytes.U32, pos));
                long m = seg.get(GgufBytes.U64, pos + 4);
                pos += 12 + encodedLength(inner, m, seg, pos + 12);
            }
        }
        return pos - at;
    }

    // ------------------------------------------------------------------ factories (for writing)

    public static GgufArray ofStrings(List<String> values) {
        GgufBytes b = new GgufBytes();
        for (String s : values) b.string(s);
        return of(GgufValueType.STRING, values.size(), b);
    }

    /** An array of an integer {@code type} (values are truncated to its width). */
    public static GgufArray ofLongs(GgufValueType type, long... values) {
        if (!type.isInteger()) throw new IllegalArgumentException(type + " is not an integer type");
        GgufBytes b = new GgufBytes();
        for (long v : values)
            switch (type.width()) {
                case 1 -> b.u8((int) v);
                case 2 -> b.u16((int) v);
                case 4 -> b.u32(v);
                default -> b.u64(v);
            }
        return of(type, values.length, b);
    }

    /** An array of FLOAT32 or FLOAT64. */
    public static GgufArray ofDoubles(GgufValueType type, double... values) {
        if (!type.isFloat()) throw new IllegalArgumentException(type + " is not a float type");
        GgufBytes b = new GgufBytes();
        for (double v : values) if (type == GgufValueType.FLOAT32) b.f32((float) v); else b.f64(v);
        return of(type, values.length, b);
    }

    public static GgufArray ofBools(boolean... values) {
        GgufBytes b = new GgufBytes();
        for (boolean v : values) b.u8(v ? 1 : 0);
        return of(GgufValueType.BOOL, values.length, b);
    }

    /** An array whose elements are arrays (each with its own element type). */
    public static GgufArray ofArrays(List<GgufArray> values) {
        GgufBytes b = new GgufBytes();
        for (GgufArray a : values) b.u32(a.type.code()).u64(a.count).segment(a.data);
        return of(GgufValueType.ARRAY, values.size(), b);
    }

    private static GgufArray of(GgufValueType type, long count, GgufBytes b) {
        return new GgufArray(type, count, MemorySegment.ofArray(b.toArray()));
    }

    // ------------------------------------------------------------------

    private void check(long i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("element " + i + " of a GGUF array of " + count);
    }

    private double fail(String what) { throw new IllegalStateException(what + " on a GGUF array of " + type); }

    static double unsignedToDouble(long v) { return v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1); }

    /** UTF-8 text of a value string; malformed bytes become U+FFFD (GGUF strings are UTF-8 by the format). */
    static String utf8(MemorySegment s) {
        if (s.byteSize() > Integer.MAX_VALUE - 8) throw new UserInputException("GGUF string of " + s.byteSize() + " bytes is too long");
        return new String(s.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray a && a.type == type && a.count == count && data.mismatch(a.data) == -1;
    }

    @Override
    public int hashCode() { return type.hashCode() * 31 + Long.hashCode(count); }

    @Override
    public String toString() { return "[" + type + " × " + count + "]"; }
}
