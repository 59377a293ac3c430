package mamba4j.io;

import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * llama.cpp's Q8_0, Q4_0 and k-quant blocks, element by element, for the reference path: Q8_0 = {f16 d; int8 q[32]} (34 bytes
 * per 32 elements, x = d·q), Q4_0 = {f16 d; uint8 qs[16]} (18 bytes per 32, element j in the low nibble of qs[j] and
 * element j + 16 in its high nibble, x = d·(nibble − 8)); as ggml's {@code dequantize_row_q8_0} / {@code
 * dequantize_row_q4_0} and {@code quantize_row_q8_0_ref} compute them, in float.
 *
 * <p>{@link GgufFile#get} wraps Q8_0/Q4_0 as mamba4j's own dtypes and widens llama.cpp's k-quants (Q4_K, Q5_K, Q6_K:
 * the types of llama-quantize's Q4_K_M and friends, and of the output/tied embedding it writes in Q6_K beside Q4_0
 * matrices) to F32 with the dequantizers here.
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

    /** Elements of a k-quant super-block. */
    public static final int QK_K = 256;

    /**
     * Q6_K super-blocks as F32 ({@code blocks.byteSize() / 210 · 256} elements). ggml's block_q6_K: uint8 ql[128] (low
     * 4 bits), uint8 qh[64] (high 2 bits), int8 scales[16], f16 d. Each half of 128 elements reads 64 bytes of ql, 32
     * of qh and 8 scales; element l + 32·i of the half (i &lt; 4, l &lt; 32) is q = (ql nibble | 2 bits of qh[l] &lt;&lt; 4)
     * − 32 with the low nibble of ql[l] (i = 0), of ql[l + 32] (1), the high nibble of ql[l] (2), of ql[l + 32] (3),
     * the bits 2i of qh[l], and x = d · scales[l / 16 + 2i] · q, as ggml's {@code dequantize_row_q6_K}.
     */
    public static float[] dequantizeQ6_K(MemorySegment blocks) {
        int nb = Math.toIntExact(blocks.byteSize() / GgufType.Q6_K.typeSize());
        float[] out = new float[nb * QK_K];
        for (int b = 0; b < nb; b++) {
            long at = (long) b * GgufType.Q6_K.typeSize(), ql = at, qh = at + 128, sc = at + 192;
            float d = Float.float16ToFloat(blocks.get(GgufBytes.U16, at + 208));
            for (int half = 0; half < 2; half++) {
                int y = b * QK_K + half * 128;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16, h = u8(blocks, qh + l), lo = u8(blocks, ql + l), hi = u8(blocks, ql + l + 32);
                    int q1 = ((lo & 0xF) | (h & 3) << 4) - 32, q2 = ((hi & 0xF) | (h >> 2 & 3) << 4) - 32;
                    int q3 = ((lo >> 4) | (h >> 4 & 3) << 4) - 32, q4 = ((hi >> 4) | (h >> 6 & 3) << 4) - 32;
                    out[y + l] = d * s8(blocks, sc + is) * q1;
                    out[y + l + 32] = d * s8(blocks, sc + is + 2) * q2;
                    out[y + l + 64] = d * s8(blocks, sc + is + 4) * q3;
                    out[y + l + 96] = d * s8(blocks, sc + is + 6) * q4;
                }
                ql += 64; qh += 32; sc += 8;
            }
        }
        return out;
    }

    /**
     * Q4_K super-blocks as F32 ({@code blocks.byteSize() / 144 · 256} elements). ggml's block_q4_K: f16 d, f16 dmin,
     * uint8 scales[12] (eight 6-bit scales and eight 6-bit mins, {@link #scaleMin}), uint8 qs[128]. Each 64 elements
     * read 32 bytes of qs: the low nibbles with scale/min 2j, the high nibbles with 2j + 1; x = d·sc·q − dmin·m, as
     * ggml's {@code dequantize_row_q4_K}.
     */
    public static float[] dequantizeQ4_K(MemorySegment blocks) {
        return dequantizeK(blocks, GgufType.Q4_K, -1, 16);
    }

    /**
     * Q5_K super-blocks as F32 ({@code blocks.byteSize() / 176 · 256} elements). ggml's block_q5_K: as Q4_K, with
     * uint8 qh[32] before qs[128]: element l of the 64-element group j has 16 added when bit 2j (low nibble) or 2j + 1
     * (high nibble) of qh[l] is set, as ggml's {@code dequantize_row_q5_K}.
     */
    public static float[] dequantizeQ5_K(MemorySegment blocks) {
        return dequantizeK(blocks, GgufType.Q5_K, 16, 48);
    }

    /** Q4_K (no qh: qhAt −1) and Q5_K: qh and qs at these byte offsets within a block, the scales at 4. */
    private static float[] dequantizeK(MemorySegment blocks, GgufType type, int qhAt, int qsAt) {
        boolean five = qhAt >= 0;
        int nb = Math.toIntExact(blocks.byteSize() / type.typeSize());
        float[] out = new float[nb * QK_K];
        int[] sm = new int[2];
        for (int b = 0; b < nb; b++) {
            long at = (long) b * type.typeSize(), scales = at + 4, qs = at + qsAt, qh = at + qhAt;
            float d = Float.float16ToFloat(blocks.get(GgufBytes.U16, at)), dmin = Float.float16ToFloat(blocks.get(GgufBytes.U16, at + 2));
            for (int j = 0; j < 4; j++) {
                scaleMin(blocks, scales, 2 * j, sm);
                float d1 = d * sm[0], m1 = dmin * sm[1];
                scaleMin(blocks, scales, 2 * j + 1, sm);
                float d2 = d * sm[0], m2 = dmin * sm[1];
                int y = b * QK_K + 64 * j;
                for (int l = 0; l < 32; l++) {
                    int q = u8(blocks, qs + 32L * j + l), h = five ? u8(blocks, qh + l) : 0;
                    out[y + l] = d1 * ((q & 0xF) + ((h >> 2 * j & 1) << 4)) - m1;
                    out[y + 32 + l] = d2 * ((q >> 4) + ((h >> 2 * j + 1 & 1) << 4)) - m2;
                }
            }
        }
        return out;
    }

    /**
     * The 6-bit scale and min number j (&lt; 8) of a Q4_K/Q5_K block's 12 scale bytes at {@code at}, as ggml's
     * {@code get_scale_min_k4}: j &lt; 4 from the low 6 bits of bytes j and j + 4; else the nibbles of byte j + 4 with
     * the top 2 bits of bytes j − 4 (scale) and j (min).
     */
    private static void scaleMin(MemorySegment blocks, long at, int j, int[] sm) {
        if (j < 4) {
            sm[0] = u8(blocks, at + j) & 63;
            sm[1] = u8(blocks, at + j + 4) & 63;
        } else {
            sm[0] = (u8(blocks, at + j + 4) & 0xF) | (u8(blocks, at + j - 4) >> 6) << 4;
            sm[1] = (u8(blocks, at + j + 4) >> 4) | (u8(blocks, at + j) >> 6) << 4;
        }
    }

    private static int u8(MemorySegment m, long at) { return m.get(ValueLayout.JAVA_BYTE, at) & 0xff; }

    private static int s8(MemorySegment m, long at) { return m.get(ValueLayout.JAVA_BYTE, at); }

    /** The GGUF types {@link #toF32} widens (those without a mamba4j dtype of their own). */
    public static boolean widens(GgufType type) {
        return type == GgufType.Q4_K || type == GgufType.Q5_K || type == GgufType.Q6_K;
    }

    /** A new F32 tensor of {@code dims} from blocks of a type {@link #widens} (Q8_0/Q4_0 are wrapped as they are). */
    static Tensor toF32(GgufType type, MemorySegment blocks, long... dims) {
        float[] v = switch (type) {
            case Q4_K -> dequantizeQ4_K(blocks);
            case Q5_K -> dequantizeQ5_K(blocks);
            case Q6_K -> dequantizeQ6_K(blocks);
            default -> throw new IllegalArgumentException("no dequantizer for " + type);
        };
        return Tensor.of(v, dims);
    }
}
