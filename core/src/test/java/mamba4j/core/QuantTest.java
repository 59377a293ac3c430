package mamba4j.core;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Q8_0 and Q4_0 against llama.cpp's block layout and reference quantiser (ggml-common.h block_q8_0 / block_q4_0,
 * ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref). The expected bytes below are computed by hand from
 * those rules, written out with the arithmetic, so a change of rounding, layout or scale choice fails here.
 */
class QuantTest {
    /** One block's 32 inputs, the rest of the 32 filled with {@code fill}. */
    private static float[] block(float fill, float... head) {
        float[] x = new float[32];
        java.util.Arrays.fill(x, fill);
        System.arraycopy(head, 0, x, 0, head.length);
        return x;
    }

    private static byte[] bytesOf(Tensor t) { return t.segment().toArray(ValueLayout.JAVA_BYTE); }

    /** Expected Q8_0 block: f16 d little-endian, then the 32 quants. */
    private static byte[] q8(int f16, int... q) {
        byte[] b = new byte[34];
        b[0] = (byte) f16;
        b[1] = (byte) (f16 >>> 8);
        for (int j = 0; j < 32; j++) b[2 + j] = (byte) q[j];
        return b;
    }

    /** Expected Q4_0 block: f16 d little-endian, then qs[j] = nibble[j] | nibble[j + 16] << 4. */
    private static byte[] q4(int f16, int... nibble) {
        byte[] b = new byte[18];
        b[0] = (byte) f16;
        b[1] = (byte) (f16 >>> 8);
        for (int j = 0; j < 16; j++) b[2 + j] = (byte) (nibble[j] | nibble[j + 16] << 4);
        return b;
    }

    private static int[] rest(int fill, int... head) {
        int[] q = new int[32];
        java.util.Arrays.fill(q, fill);
        System.arraycopy(head, 0, q, 0, head.length);
        return q;
    }

    @Test
    void q8_0BytesEqualLlamaCppsReferenceQuantiser() {
        // block 1: amax = 127 → d = 127/127 = 1 (f16 0x3C00), id = 1; q = roundf(x), halves away from zero
        //   127 → 127, −127 → −127, 2.5 → 3, −2.5 → −3, 0.5 → 1, −0.5 → −1, 1.49 → 1, −1.5 → −2, 3.7 → 4, rest 0.25 → 0
        float[] b1 = block(0.25f, 127f, -127f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, -1.5f, 3.7f);
        byte[] e1 = q8(0x3C00, rest(0, 127, -127, 3, -3, 1, -1, 1, -2, 4));
        // block 2: amax = 63.5 → d = 0.5 (f16 0x3800), id = 2; q = roundf(2x)
        //   63.5 → 127, 0.25 → roundf(0.5) = 1, −0.25 → −1, 0.2 → roundf(0.4) = 0, −63.5 → −127, 10.75 → roundf(21.5) = 22,
        //   −10.75 → −22, rest −1 → −2
        float[] b2 = block(-1f, 63.5f, 0.25f, -0.25f, 0.2f, -63.5f, 10.75f, -10.75f);
        byte[] e2 = q8(0x3800, rest(-2, 127, 1, -1, 0, -127, 22, -22));
        // block 3: all zero → d = 0, id = 0: every byte 0
        float[] b3 = new float[32];
        byte[] e3 = new byte[34];
        // block 4: amax = 1 → d = 1/127 = 0.0078740157 in float, stored as f16 2⁻⁷·(1 + 8/1024) = 0x2008 (the scale is
        //   rounded, the quants use id = 1/d of the unrounded d ≈ 127): 1 → 127, −1 → −127, 0.1 → roundf(12.7) = 13,
        //   −0.3 → roundf(−38.1) = −38, rest 0.02 → roundf(2.54) = 3
        float[] b4 = block(0.02f, 1f, -1f, 0.1f, -0.3f);
        byte[] e4 = q8(0x2008, rest(3, 127, -127, 13, -38));

        Tensor x = Tensor.zeros(DType.F32, 2, 64);   // two rows of two blocks: blocks are row-major, 32 elements each
        float[][] bs = {b1, b2, b3, b4};
        for (int b = 0; b < 4; b++) for (int j = 0; j < 32; j++) x.setFloat(b * 32L + j, bs[b][j]);
        Tensor q = Quant.quantise(x, DType.Q8_0);
        assertEquals(DType.Q8_0, q.dtype());
        assertEquals(x.shape(), q.shape());
        assertEquals(4 * 34, q.byteSize());
        byte[] got = bytesOf(q), want = new byte[4 * 34];
        byte[][] es = {e1, e2, e3, e4};
        for (int b = 0; b < 4; b++) System.arraycopy(es[b], 0, want, b * 34, 34);
        assertArrayEquals(want, got);
        // element access dequantises d·q: block 2 element 5 = 0.5·22, block 4 element 2 = f16(1/127)·13
        assertEquals(11f, q.getFloat(32 + 5));
        assertEquals(Float.float16ToFloat((short) 0x2008) * 13, q.getFloat(96 + 2));
    }

    @Test
    void q4_0BytesEqualLlamaCppsReferenceQuantiser() {
        // block 1: the value of largest magnitude is −8 (first of the ties with 8) → d = −8/−8 = 1 (f16 0x3C00), id = 1;
        //   nibble = min(15, (int)(x + 8.5)): −8 → 0, 7 → 15, 8 → (int)16.5 = 16 → 15 (capped), 7.5 → 16 → 15,
        //   0 → 8, −0.5 → (int)8.0 = 8, 0.49 → (int)8.99 = 8, −3.7 → (int)4.8 = 4, 2.5 → (int)11.0 = 11; rest 1.2 → 9;
        //   elements 16..31 are the high nibbles: x[16] = −1 → 7, x[17] = 3 → 11
        float[] b1 = block(1.2f, -8f, 7f, 8f, 7.5f, 0f, -0.5f, 0.49f, -3.7f, 2.5f);
        b1[16] = -1f;
        b1[17] = 3f;
        int[] n1 = rest(9, 0, 15, 15, 15, 8, 8, 8, 4, 11);
        n1[16] = 7;
        n1[17] = 11;
        // block 2: largest magnitude 4 (positive) → d = 4/−8 = −0.5 (f16 0xB800), id = −2; nibble = min(15, (int)(−2x + 8.5)):
        //   4 → 0 (the max maps to nibble 0, value −0.5·(0 − 8) = 4), −4 → (int)16.5 = 16 → 15 (capped: value −3.5),
        //   1 → 6, −1.25 → 11, rest 0 → 8
        float[] b2 = block(0f, 4f, -4f, 1f, -1.25f);
        int[] n2 = rest(8, 0, 15, 6, 11);
        // block 3: all zero → max = 0, d = 0/−8 = −0 (f16 0x8000: the sign survives, as in C), id = 0,
        //   every nibble (int)8.5 = 8: qs bytes 0x88
        float[] b3 = new float[32];
        int[] n3 = rest(8);

        Tensor x = Tensor.zeros(DType.F32, 96);
        float[][] bs = {b1, b2, b3};
        for (int b = 0; b < 3; b++) for (int j = 0; j < 32; j++) x.setFloat(b * 32L + j, bs[b][j]);
        Tensor q = x.to(DType.Q4_0);   // Tensor.to quantises by the same rule
        byte[] want = new byte[3 * 18];
        System.arraycopy(q4(0x3C00, n1), 0, want, 0, 18);
        System.arraycopy(q4(0xB800, n2), 0, want, 18, 18);
        System.arraycopy(q4(0x8000, n3), 0, want, 36, 18);
        assertArrayEquals(want, bytesOf(q));
        // element access: d·(nibble − 8); the high nibble of qs[1] is element 17
        assertEquals(3f, q.getFloat(17));
        assertEquals(-3.5f, q.getFloat(32 + 1));
        assertEquals(4f, q.getFloat(32));
    }

    /** The derived bounds (Quant's javadoc): rounding of t = x/d plus the f16 rounding of d, with d̃ the stored scale. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0"})
    void roundTripErrorIsWithinTheDerivedBoundPerElement(DType type) {
        Random r = new Random(7);
        int rows = 64, k = 256;
        Tensor x = Tensor.zeros(DType.F32, rows, k);
        for (int i = 0; i < rows; i++) {
            double scale = Math.pow(10, -2 + 4 * r.nextDouble());   // 0.01 .. 100: d stays a normal half
            for (int j = 0; j < k; j++) x.setFloat((long) i * k + j, (float) (r.nextGaussian() * scale * (j % 7 == 0 ? 4 : 1)));
        }
        // one block where Q4_0 caps the top nibble: an element of the other sign within 15/16 of max (t = 7.92)
        for (int j = 0; j < 32; j++) x.setFloat(j, 0.1f * j / 32);
        x.setFloat(0, 5f);
        x.setFloat(1, -4.95f);
        Tensor q = Quant.quantise(x, type), back = Quant.dequantise(q);
        double rounding = type == DType.Q8_0 ? 0.5 + 127 / 2048.0 : 1 + 8 / 2048.0;
        double uncapped = type == DType.Q8_0 ? 0.5 + 127 / 2048.0 : 0.5 + 8 / 2048.0;
        double worst = 0;
        long capped = 0;
        for (long b = 0; b < x.numel() / 32; b++) {
            double d = Math.abs(Quant.scale(type, q.segment(), b));
            double bound = rounding * d * (1 + 1.0 / 2048) + 1e-6 * d;   // + float rounding of d·q and x·id
            for (int j = 0; j < 32; j++) {
                long i = b * 32 + j;
                double err = Math.abs(x.getFloat(i) - back.getFloat(i));
                assertTrue(err <= bound, type + " element " + i + ": |x − x̂| = " + err + " > bound " + bound + " (d = " + d + ")");
                worst = Math.max(worst, err / d);
                if (err > uncapped * d * (1 + 1.0 / 2048) + 1e-6 * d) capped++;
            }
        }
        if (type == DType.Q8_0) assertEquals(0, capped, "Q8_0 elements beyond |d|/2 + the f16 rounding of d");
        else assertTrue(capped > 0, "no Q4_0 element hit the capped top nibble, so the |d| half of the bound went untested");
        assertTrue(worst > 0.4, "the data never came near the bound (worst " + worst + "·d): the test would not catch a looser rule");
        assertEquals(x.shape(), back.shape());
    }

    @Test
    void blockTypesHaveNoBytesPerElementAndSizesComeFromByteCount() {
        assertEquals(34, DType.Q8_0.byteCount(32));
        assertEquals(18 * 24, DType.Q4_0.byteCount(768));
        assertEquals(4 * 768, DType.F32.byteCount(768));
        var e = assertThrows(UnsupportedOperationException.class, DType.Q8_0::byteSize);
        assertTrue(e.getMessage().contains("Q8_0") && e.getMessage().contains("byteCount"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DType.Q4_0.byteCount(33));
        assertThrows(UnsupportedOperationException.class, DType.Q4_0::safetensorsName);
        assertEquals(null, DType.fromSafetensorsName("Q8_0"));
        var e2 = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(DType.Q8_0, 4, 48));
        assertTrue(e2.getMessage().contains("whole blocks"), e2.getMessage());
    }

    @Test
    void rowsOfAQuantisedWeightAreViewsAtWholeBlocks() {
        Random r = new Random(3);
        Tensor x = Tensor.zeros(DType.F32, 6, 64);
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, (float) r.nextGaussian());
        for (DType t : new DType[]{DType.Q8_0, DType.Q4_0}) {
            Tensor q = x.to(t), rows = q.rows(2, 5);
            assertEquals(Shape.of(3, 64), rows.shape());
            assertEquals(t.byteCount(3 * 64), rows.byteSize());
            for (long i = 0; i < rows.numel(); i++) assertEquals(q.getFloat(2 * 64 + i), rows.getFloat(i));
            Tensor copy = rows.copy();
            assertArrayEquals(bytesOf(rows), bytesOf(copy));
            assertArrayEquals(Quant.dequantise(rows).toFloatArray(), rows.to(DType.F32).toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> q.view(16, 32));   // not a whole block
            assertThrows(IllegalStateException.class, () -> q.setFloat(0, 1f));
        }
    }

    @Test
    void theFrontAcceptsQuantisedWeightsInLinearAndEmbeddingOnly() {
        Backend be = Backends.reference();
        Random r = new Random(5);
        Tensor w = Tensor.zeros(DType.F32, 3, 64);
        for (long i = 0; i < w.numel(); i++) w.setFloat(i, (float) r.nextGaussian());
        Tensor q = w.to(DType.Q8_0), x = Tensor.zeros(DType.F32, 2, 64), out = Tensor.zeros(DType.F32, 2, 3);
        be.linear(x, q, null, out);
        be.embedding(q, be.ids(new int[]{2, 0}), Tensor.zeros(DType.F32, 2, 64));
        var e = assertThrows(IllegalArgumentException.class, () -> be.add(q, q, q));
        assertTrue(e.getMessage().startsWith("add:") && e.getMessage().contains("Q8_0") && e.getMessage().contains("linear and embedding"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> be.matmul(x, false, q, true, out, false));
        assertTrue(e2.getMessage().startsWith("matmul:"), e2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> be.copy(q, q.copy()));
        // a backend without quantised kernels is refused naming it and what it takes (the reference, reporting F32 only)
        Kernels f32Weights = (Kernels) java.lang.reflect.Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[]{Kernels.class},
                (proxy, m, args) -> m.getName().equals("weightTypes") ? java.util.Set.of(DType.F32) : m.invoke(ReferenceKernels.INSTANCE, args));
        Backend f32Only = new Backend(f32Weights);
        var e3 = assertThrows(IllegalArgumentException.class, () -> f32Only.linear(x, q, null, out));
        assertTrue(e3.getMessage().startsWith("linear: the reference backend takes weights of [F32]"), e3.getMessage());
    }

    @Test
    void roundfRoundsHalvesAwayFromZeroAsC() {
        assertEquals(3f, Quant.roundf(2.5f));
        assertEquals(-3f, Quant.roundf(-2.5f));
        assertEquals(0f, Quant.roundf(0.49999997f));
        assertEquals(-1f, Quant.roundf(-0.5f));
        assertEquals(127f, Quant.roundf(126.5f));
    }
}
