package mamba4j.core;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Block-quantised weights, Q8_0 and Q4_0, bit for bit as llama.cpp/ggml stores and makes them (ggml-common.h
 * {@code block_q8_0} / {@code block_q4_0}; ggml-quants.c {@code quantize_row_q8_0_ref} / {@code quantize_row_q4_0_ref}
 * and {@code dequantize_row_*}), so a GGUF file's tensor bytes are a mamba4j tensor's bytes and our quantiser writes
 * the bytes llama.cpp's reference quantiser writes for the same input.
 *
 * <p>A quantised tensor is row-major like any other, its rows (last dimension) a whole number of blocks of 32
 * elements; block b holds elements [32b, 32b + 32) of the flattened tensor:
 * <pre>
 * Q8_0: { f16 d; int8  q[32]; }  34 bytes   x[j] = d · q[j]
 * Q4_0: { f16 d; uint8 qs[16]; } 18 bytes   x[j] = d · ((qs[j] &amp; 0xF) − 8),  x[j + 16] = d · ((qs[j] &gt;&gt; 4) − 8),  j &lt; 16
 * </pre>
 * (d little-endian IEEE half). Dequantised values are exact floats: d has 11 significant bits, the quant at most 8, so
 * their product needs at most 19 of float's 24 — which is why every backend sees the same weights and differs from
 * the reference only in summation order.
 *
 * <p>Quantisation rules (llama.cpp's reference functions, float arithmetic, each product and sum rounded separately):
 * <ul>
 * <li>Q8_0: amax = max |x|; d = amax / 127; id = d ≠ 0 ? 1/d : 0; q[j] = roundf(x[j]·id) (halves away from zero);
 *     the stored d is d rounded to f16 (nearest even), while id is computed from the unrounded float d.</li>
 * <li>Q4_0: max = the signed value of largest magnitude (the first one on ties); d = max / −8; id = d ≠ 0 ? 1/d : 0;
 *     nibble = min(15, (int)(x·id + 8.5)) (truncation toward zero). Sign of d chosen so that max maps to nibble 0
 *     (−8·d = max), which is why the range is asymmetric: the other side reaches only +7·|d|.</li>
 * </ul>
 * Round-trip error per element, with t = x·id the element in units of the unrounded scale d and d̃ the stored f16
 * scale: x̂ = d̃·q and |x − x̂| ≤ |d|·|t − q| + |q|·|d − d̃|. The first term is the rounding of t: ≤ |d|/2 for Q8_0
 * (q = roundf(t)), and for Q4_0 also ≤ |d|/2 except where the top nibble is capped (t ∈ [7.5, 8]: an element of the
 * other sign than max with |x| ≥ 15/16·|max|, stored as 7 instead of 8), where it is ≤ |d|. The second is the f16
 * rounding of d, |d − d̃| ≤ 2⁻¹¹·|d̃| for a normal half: ≤ 127·2⁻¹¹·|d̃| ≈ 0.062·|d̃| for Q8_0, 8·2⁻¹¹·|d̃| for Q4_0.
 * So |x − x̂| ≤ (1/2 + 127/2048)·|d̃|·(1 + 2⁻¹¹) for Q8_0 and ≤ (1 + 8/2048)·|d̃|·(1 + 2⁻¹¹) for Q4_0; QuantTest pins both.
 */
public final class Quant {
    private Quant() {}

    /** Elements per block of both types (ggml QK8_0 = QK4_0 = 32). */
    public static final int QK = 32;

    // ------------------------------------------------------------------ whole tensors

    /**
     * A new host tensor of {@code target} (Q8_0 or Q4_0) holding {@code t} (F32, F64, BF16 or F16, its last dimension a
     * multiple of 32) quantised by llama.cpp's reference rule, same shape; a quantised {@code t} of another block type
     * is dequantised first. This is the library function {@code convert} and the loaders call.
     */
    public static Tensor quantise(Tensor t, DType target) {
        if (!target.isQuantised())
            throw new IllegalArgumentException("quantise: target " + target + " is not a quantised type (Q8_0, Q4_0)");
        if (t.dtype() == target) return t;
        if (!t.dtype().isFloating() && !t.dtype().isQuantised())
            throw new IllegalArgumentException("quantise: " + t + " is not a floating tensor");
        if (t.rank() == 0 || t.dim(-1) % QK != 0)
            throw new IllegalArgumentException("quantise to " + target + ": the rows (last dim) of " + t.shape()
                    + " must be a multiple of " + QK);
        Tensor src = t.dtype() == DType.F32 ? t : t.to(DType.F32);
        Tensor out = Tensor.zeros(target, t.shape());
        MemorySegment s = src.segment(), o = out.segment();
        long blocks = t.numel() / QK;
        float[] x = new float[QK];
        for (long b = 0; b < blocks; b++) {
            MemorySegment.copy(s, Tensor.F32, b * QK * 4, x, 0, QK);
            if (target == DType.Q8_0) quantiseBlockQ8_0(x, 0, o, b * 34);
            else quantiseBlockQ4_0(x, 0, o, b * 18);
        }
        return out;
    }

    /** A new F32 host tensor with the elements of the quantised tensor {@code q}, same shape (ggml's dequantize_row_*). */
    public static Tensor dequantise(Tensor q) {
        if (!q.dtype().isQuantised()) throw new IllegalArgumentException("dequantise: " + q + " is not quantised");
        Tensor out = Tensor.zeros(DType.F32, q.shape());
        MemorySegment s = q.segment(), o = out.segment();
        float[] row = new float[QK];
        for (long b = 0, blocks = q.numel() / QK; b < blocks; b++) {
            dequantiseBlock(q.dtype(), s, b * q.dtype().blockBytes(), row, 0);
            MemorySegment.copy(row, 0, o, Tensor.F32, b * QK * 4, QK);
        }
        return out;
    }

    // ------------------------------------------------------------------ one block

    /** quantize_row_q8_0_ref for one block: x[xo .. xo+32) → 34 bytes at dst[off]. */
    public static void quantiseBlockQ8_0(float[] x, int xo, MemorySegment dst, long off) {
        float amax = 0f;
        for (int j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        dst.set(Tensor.I16, off, Float.floatToFloat16(d));
        for (int j = 0; j < QK; j++) dst.set(ValueLayout.JAVA_BYTE, off + 2 + j, (byte) roundf(x[xo + j] * id));
    }

    /** quantize_row_q4_0_ref for one block: x[xo .. xo+32) → 18 bytes at dst[off]. */
    public static void quantiseBlockQ4_0(float[] x, int xo, MemorySegment dst, long off) {
        float amax = 0f, max = 0f;
        for (int j = 0; j < QK; j++) {
            float v = x[xo + j];
            if (amax < Math.abs(v)) {   // strict: the first of equal magnitudes wins, as in ggml
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        dst.set(Tensor.I16, off, Float.floatToFloat16(d));
        for (int j = 0; j < QK / 2; j++) {
            float x0 = x[xo + j] * id, x1 = x[xo + QK / 2 + j] * id;
            int q0 = Math.min(15, (int) (x0 + 8.5f)), q1 = Math.min(15, (int) (x1 + 8.5f));
            dst.set(ValueLayout.JAVA_BYTE, off + 2 + j, (byte) (q0 | (q1 << 4)));
        }
    }

    /** The 32 elements of the block at src[off] into dst[dOff .. dOff+32). */
    public static void dequantiseBlock(DType type, MemorySegment src, long off, float[] dst, int dOff) {
        float d = Float.float16ToFloat(src.get(Tensor.I16, off));
        if (type == DType.Q8_0) {
            for (int j = 0; j < QK; j++) dst[dOff + j] = d * src.get(ValueLayout.JAVA_BYTE, off + 2 + j);
        } else if (type == DType.Q4_0) {
            for (int j = 0; j < QK / 2; j++) {
                int b = src.get(ValueLayout.JAVA_BYTE, off + 2 + j) & 0xff;
                dst[dOff + j] = d * ((b & 0xf) - 8);
                dst[dOff + j + QK / 2] = d * ((b >>> 4) - 8);
            }
        } else throw new IllegalArgumentException(type + " is not a quantised type");
    }

    /** Element {@code i} (flat index) of a quantised tensor's bytes: what {@link Tensor#getFloat} returns. */
    static float element(DType type, MemorySegment src, long i) {
        long block = i / QK;
        int j = (int) (i % QK);
        long off = block * type.blockBytes();
        float d = Float.float16ToFloat(src.get(Tensor.I16, off));
        if (type == DType.Q8_0) return d * src.get(ValueLayout.JAVA_BYTE, off + 2 + j);
        int b = src.get(ValueLayout.JAVA_BYTE, off + 2 + (j & 15)) & 0xff;
        return d * ((j < 16 ? b & 0xf : b >>> 4) - 8);
    }

    /** The scale d of block {@code block} as a float. */
    public static float scale(DType type, MemorySegment src, long block) {
        return Float.float16ToFloat(src.get(Tensor.I16, block * type.blockBytes()));
    }

    /** C's roundf: to nearest, halves away from zero (Math.round rounds halves up, which differs for negative halves). */
    static float roundf(float v) {
        return (float) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
    }
}
