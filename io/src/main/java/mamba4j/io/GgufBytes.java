package mamba4j.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** A growing little-endian byte buffer: how GGUF headers and metadata values are encoded (every field little-endian). */
final class GgufBytes {
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private byte[] buf = new byte[256];
    private int n;

    private void room(int more) {
        if (n + more > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, n + more));
    }

    GgufBytes u8(int v) { room(1); buf[n++] = (byte) v; return this; }

    GgufBytes u16(int v) { room(2); buf[n++] = (byte) v; buf[n++] = (byte) (v >>> 8); return this; }

    GgufBytes u32(long v) {
        room(4);
        for (int i = 0; i < 4; i++) buf[n++] = (byte) (v >>> (8 * i));
        return this;
    }

    GgufBytes u64(long v) {
        room(8);
        for (int i = 0; i < 8; i++) buf[n++] = (byte) (v >>> (8 * i));
        return this;
    }

    GgufBytes f32(float v) { return u32(Float.floatToRawIntBits(v)); }

    GgufBytes f64(double v) { return u64(Double.doubleToRawLongBits(v)); }

    /** A GGUF string: u64 byte length, then the UTF-8 bytes (no terminator). */
    GgufBytes string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(b.length);
        return bytes(b);
    }

    GgufBytes bytes(byte[] b) {
        room(b.length);
        System.arraycopy(b, 0, buf, n, b.length);
        n += b.length;
        return this;
    }

    GgufBytes segment(MemorySegment s) {
        int len = Math.toIntExact(s.byteSize());
        room(len);
        MemorySegment.copy(s, ValueLayout.JAVA_BYTE, 0, buf, n, len);
        n += len;
        return this;
    }

    GgufBytes zeros(long count) {
        room(Math.toIntExact(count));
        n += (int) count;   // the buffer is zero beyond n: it only grows
        return this;
    }

    int size() { return n; }

    byte[] toArray() { return Arrays.copyOf(buf, n); }
}
