package mamba4j.io;

import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's Q8_0 and Q4_0 blocks, element by element, for the reference path: Q8_0 = {f16 d; int8 q[32]} (34 bytes
 * per 32 elements, x = d·q), Q4_0 = {f16 d; uint8 qs[16]} (18 bytes per 32, element j in the low nibble of qs[j] and
 * element j + 16 in its high nibble, x = d·(nibble − 8)); as ggml's {@code dequantize_row_q8_0} / {@code
 * dequantize_row_q4_0} and {@code quantize_row_q8_0_ref} compute them, in float.
 *
 * <p>Until {@code DType.Q8_0}/{@code DType.Q4_0} exist, {@link GgufFile#get} widens such tensors to F32 with these.
 */
public final class GgufQuant {
    private GgufQuant() {}

    public static final int BLOCK = 32;

    /** {@code blocks.byteSize() / 34 · 32} elements of Q8_0 blocks as F32. */
    public static float[] dequantizeQ8_0(MemorySegment blocks) {
        int nb = Math.toIntExact(blocks.byteSize() / GgufType.Q8_0.typeSize());
        float[] out = new float[nb * BLOCK];
        for (int b = 0; b < nb; b++) {
            long at = (long) b * GgufType.Q8_0.typeSize();
            float d = Float.float16ToFloat(blocks.get(GgufBytes.U16, at));
            for (int j = 0; j < BLOCK; j++) out[b * BLOCK + j] = blocks.get(ValueLayout.JAVA_BYTE, at + 2 + j) * d;
        }
        return out;
    }

    /** {@code blocks.byteSize() / 18 · 32} elements of Q4_0 blocks as F32. */
    public static float[] dequantizeQ4_0(MemorySegment blocks) {
        int nb = Math.toIntExact(blocks.byteSize() / GgufType.Q4_0.typeSize());
        float[] out = new float[nb * BLOCK];
        for (int b = 0; b < nb; b++) {
            long at = (long) b * GgufType.Q4_0.typeSize();
            float d = Float.float16ToFloat(blocks.get(GgufBytes.U16, at));
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = blocks.get(ValueLayout.JAVA_BYTE, at + 2 + j) & 0xff;
                out[b * BLOCK + j] = ((q & 0x0f) - 8) * d;
                out[b * BLOCK + j + BLOCK / 2] = ((q >>> 4) - 8) * d;
            }
        }
        return out;
    }

    /**
     * Q8_0 blocks of {@code x} (length a multiple of 32), as ggml's reference quantizer: d = max|x| / 127 per block,
     * q = round(x / d) (half away from zero), d stored as f16.
     */
    public static byte[] quantizeQ8_0(float[] x) {
        if (x.length % BLOCK != 0) throw new IllegalArgumentException(x.length + " values are not whole blocks of " + BLOCK);
        int nb = x.length / BLOCK;
        byte[] out = new byte[nb * GgufType.Q8_0.typeSize()];
        for (int b = 0; b < nb; b++) {
            float amax = 0;
            for (int j = 0; j < BLOCK; j++) amax = Math.max(amax, Math.abs(x[b * BLOCK + j]));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            short h = Float.floatToFloat16(d);
            int at = b * GgufType.Q8_0.typeSize();
            out[at] = (byte) h;
            out[at + 1] = (byte) (h >>> 8);
            for (int j = 0; j < BLOCK; j++) out[at + 2 + j] = (byte) roundAway(x[b * BLOCK + j] * id);
        }
        return out;
    }

    /** C's roundf: halves away from zero ({@code Math.round} rounds them up, which differs for negative halves). */
    private static int roundAway(float v) { return v < 0 ? -Math.round(-v) : Math.round(v); }

    /** A new F32 tensor of {@code dims} from quantized blocks. */
    static Tensor toF32(GgufType type, MemorySegment blocks, long... dims) {
        float[] v = switch (type) {
            case Q8_0 -> dequantizeQ8_0(blocks);
            case Q4_0 -> dequantizeQ4_0(blocks);
            default -> throw new IllegalArgumentException("no dequantizer for " + type);
        };
        return Tensor.of(v, dims);
    }
}
