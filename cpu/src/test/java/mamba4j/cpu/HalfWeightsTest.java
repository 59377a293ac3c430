package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decode GEMV widens F16 weights by integer ops in vector lanes ({@code CpuLinear.dot8F16}); this checks that widening
 * against {@link Float#float16ToFloat} for every one of the 65,536 bit patterns, at every lane position of a chunk: x is
 * one-hot, so each output is one weight times 1 (plus zeros). Infinities and NaNs must come out non-finite.
 */
class HalfWeightsTest {
    @Test
    void everyF16PatternWidensExactlyInTheDecodeGemv() {
        int k = 64, n = 65536 / k;                             // row j holds the patterns j·k … j·k + k − 1
        Tensor w = Tensor.zeros(DType.F16, n, k);
        MemorySegment ws = w.segment();
        for (int i = 0; i < 65536; i++) ws.setAtIndex(Tensor.I16, i, (short) i);
        Tensor out = Tensor.zeros(DType.F32, 1, n);
        for (int p = 0; p < k; p++) {
            Tensor x = Tensor.zeros(DType.F32, 1, k);
            x.setFloat(p, 1f);
            CpuLinear.linear(x, w, null, out);
            for (int j = 0; j < n; j++) {
                float want = Float.float16ToFloat((short) (j * k + p)), got = out.getFloat(j);
                if (Float.isFinite(want)) assertEquals(want, got, 0f, "f16 bits 0x" + Integer.toHexString(j * k + p));
                else assertTrue(!Float.isFinite(got), "f16 bits 0x" + Integer.toHexString(j * k + p) + " gave " + got);
            }
        }
    }
}
