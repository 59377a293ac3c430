package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.models.mamba2.Mamba2Init;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Q8_0/Q4_0 weights through whole models: quantised at load by the policy of {@link TensorSpec#cast} (every matrix
 * but Mamba-1's x_proj and dt_proj), a quantised model == the F32 model of its dequantised weights, cpu == reference,
 * and a quantised checkpoint saves and loads back bit for bit.
 */
class QuantisedWeightsTest {
    /** D 64, E 128, N 16, R 4, tied head, vocab 97 padded to 128: rows of 64 and 128, whole blocks of 32 (dt_proj's K = R = 4 is not). */
    static final Mamba1Config SMALL = new Mamba1Config(97, 128, 64, 16, 2, 2, 4, 4, false, true, 1e-5, true, 0, true);

    @TempDir Path dir;

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0"})
    void aQuantisedCheckpointLoadIsTheF32ModelOfItsDequantisedWeights(DType q) {
        Backend cpu = Backends.get("cpu");
        Mamba1Saver.save(Mamba1Init.random(SMALL, DType.F32, 11, cpu), dir);
        try (Models.Loaded loaded = Models.load(dir, cpu, q)) {
            Mamba1Model m = (Mamba1Model) loaded.model();
            var w = m.weights();
            assertEquals(q, w.embedding().dtype(), "embedding (and the tied head)");
            assertEquals(q, w.layers().get(0).inProj().dtype(), "in_proj");
            assertEquals(q, w.layers().get(1).outProj().dtype(), "out_proj");
            assertEquals(DType.F32, w.layers().get(0).xProj().dtype(), "x_proj stays as stored (llama.cpp leaves ssm_x alone)");
            assertEquals(DType.F32, w.layers().get(0).dtProjWeight().dtype(), "dt_proj stays as stored");
            Mamba1Model dequantised = Mamba1Model.of(SMALL, cpu, w.map(t -> t.dtype().isQuantised() ? t.to(DType.F32) : t));
            int[][] ids = Mamba1IdentityTest.ids(2, 9, 5);
            assertRelClose(q + " model vs the F32 model of its dequantised weights", m.forward(ids, Trace.NONE),
                    dequantised.forward(ids, Trace.NONE), Tolerance.F32_IDENTITY);
            // decode reads the weights through the GEMV, prefill through the GEMM: both agree with the forward
            CausalLM.DecodeState s = m.newState(1);
            Tensor last = m.prefill(s, new int[][]{ids[0]});
            Tensor full = m.forward(new int[][]{ids[0]}, Trace.NONE);
            int v = SMALL.paddedVocabSize();
            assertRelClose("prefill's last logits vs forward", last.view(0, v), full.view(8L * v, v), Tolerance.F32_IDENTITY);
            // saved quantised (U8 bytes + mamba4j.quant listing), loaded as stored: the same tensors, the same logits
            Path again = dir.resolve("quantised");
            Mamba1Saver.save(m, again);
            try (Models.Loaded back = Models.load(again, cpu)) {
                Mamba1Model b = (Mamba1Model) back.model();
                assertEquals(q, b.weights().layers().get(0).inProj().dtype());
                assertEquals(-1, w.layers().get(0).inProj().segment().mismatch(b.weights().layers().get(0).inProj().segment()), "in_proj bytes");
                assertRelClose("reloaded quantised logits", b.forward(ids, Trace.NONE), m.forward(ids, Trace.NONE), Tolerance.EXACT);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0"})
    void cpuEqualsReferenceWithQuantisedWeights(DType q) {
        Mamba2Model cpu = Mamba2Init.random(Mamba2IdentityTest.TINY, q, 4, Backends.get("cpu"));
        Mamba2Model ref = Mamba2Init.random(Mamba2IdentityTest.TINY, q, 4, Backends.reference());
        assertEquals(q, cpu.weights().layers().get(0).inProj().dtype());
        int[][] ids = Mamba2IdentityTest.ids(2, 9, 2);
        assertRelClose("Mamba-2 " + q + " logits cpu vs reference", cpu.forward(ids, Trace.NONE), ref.forward(ids, Trace.NONE), 1e-5);
        Mamba1Model c1 = Mamba1Init.random(SMALL, q, 4, Backends.get("cpu")), r1 = Mamba1Init.random(SMALL, q, 4, Backends.reference());
        assertRelClose("Mamba-1 " + q + " logits cpu vs reference", c1.forward(ids, Trace.NONE), r1.forward(ids, Trace.NONE), 1e-5);
    }

    @Test
    void bytesPerTokenCountBlocksNotElements() {
        Mamba1Model q8 = Mamba1Init.random(SMALL, DType.Q8_0, 4, Backends.get("cpu")), f32 = Mamba1Init.random(SMALL, DType.F32, 4, Backends.get("cpu"));
        long head = 128L * 64;                                        // tied: the head is read whole, plus one embedding row
        long diff = f32.weightBytesPerToken() - q8.weightBytesPerToken();
        long quantised = head + 64 + SMALL.numHiddenLayers() * (256L * 64 + 64L * 128);   // embedding row, in_proj, out_proj elements
        assertEquals(quantised * 4 - quantised / 32 * 34, diff);
    }
}
