package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.Tensor;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/** Identities that need no data: decode == forward, cpu == reference, batch rows independent. */
class Mamba1IdentityTest {
    static final Mamba1Config TINY = new Mamba1Config(97, 104, 40, 16, 3, 2, 4, 5, true, true, 1e-5, false, 0);

    static int[][] ids(int b, int t, long seed) {
        Random r = new Random(seed);
        int[][] ids = new int[b][t];
        for (int[] row : ids) for (int j = 0; j < t; j++) row[j] = r.nextInt(TINY.vocabSize());
        return ids;
    }

    @Test
    void stepByStepEqualsWholeSequence() {
        Mamba1Model m = Mamba1Init.random(TINY, DType.F32, 3, Backends.get("cpu"));
        int b = 2, t = 13, v = TINY.paddedVocabSize();
        int[][] ids = ids(b, t, 1);
        Tensor full = m.forward(ids, Trace.NONE);                       // (B, T, V')
        // prefill the first 5 tokens, then step the rest one at a time
        int p = 5;
        int[][] prompt = new int[b][];
        for (int i = 0; i < b; i++) prompt[i] = java.util.Arrays.copyOf(ids[i], p);
        CausalLM.DecodeState s = m.newState(b);
        Tensor logits = m.prefill(s, prompt);
        for (int j = p - 1; j < t; j++) {
            if (j > p - 1) {
                int[] tok = new int[b];
                for (int i = 0; i < b; i++) tok[i] = ids[i][j];
                logits = m.step(s, tok);
            }
            for (int i = 0; i < b; i++)
                assertRelClose("logits row " + i + " position " + j, logits.view((long) i * v, v),
                        full.view(((long) i * t + j) * v, v), Tolerance.F32_IDENTITY);
        }
    }

    @Test
    void cpuEqualsReference() {
        Mamba1Model cpu = Mamba1Init.random(TINY, DType.BF16, 4, Backends.get("cpu"));
        Mamba1Model ref = Mamba1Init.random(TINY, DType.BF16, 4, mamba4j.core.Backends.reference());
        int[][] ids = ids(2, 9, 2);
        assertRelClose("logits cpu vs reference", cpu.forward(ids, Trace.NONE), ref.forward(ids, Trace.NONE), 1e-5);
    }

    @Test
    void batchRowsAreIndependent() {
        Backend be = Backends.get("cpu");
        Mamba1Model m = Mamba1Init.random(TINY, DType.F32, 5, be);
        int[][] ids = ids(3, 7, 3);
        Tensor all = m.forward(ids, Trace.NONE);
        int v = TINY.paddedVocabSize();
        for (int i = 0; i < 3; i++) {
            Tensor one = m.forward(new int[][]{ids[i]}, Trace.NONE);
            assertRelClose("row " + i, all.view((long) i * 7 * v, 1, 7, v), one, Tolerance.F32_IDENTITY);
        }
    }

    @Test
    void greedyGenerationIsDeterministicAndMatchesArgmaxOfForward() {
        Mamba1Model m = Mamba1Init.random(TINY, DType.F32, 6, Backends.get("cpu"));
        int[][] prompt = ids(1, 4, 4);
        int[][] out = Generator.generate(m, prompt, 6, Sampler.greedy(), false, (r, id) -> {});
        // every generated token is the argmax of a whole-sequence forward over what precedes it
        for (int j = 4; j < out[0].length; j++) {
            int[][] prefix = {java.util.Arrays.copyOf(out[0], j)};
            Tensor lg = m.forward(prefix, Trace.NONE);
            float[] last = lg.view((long) (j - 1) * TINY.paddedVocabSize(), TINY.paddedVocabSize()).toFloatArray();
            assertArrayEquals(new int[]{Sampler.argmax(last, 0, TINY.vocabSize())}, new int[]{out[0][j]}, "token " + j);
        }
    }
}
