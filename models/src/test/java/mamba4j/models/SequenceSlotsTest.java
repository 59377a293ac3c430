package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The per-sequence operations continuous batching is built on ({@link CausalLM#extend}, {@link CausalLM#copySequence}),
 * for every architecture, against the existing batch paths: a prompt fed in pieces == fed at once; a slot filled alone
 * (batch 1, then copied into its row) == that row of a batched prefill, and stays equal while stepping; and a row's
 * step is bit for bit the same whatever the other rows hold (what makes batched greedy output equal single output).
 */
class SequenceSlotsTest {
    static final Backend CPU = Backends.get("cpu");

    /** One model of every architecture, small. */
    static Map<String, CausalLM> models() {
        Map<String, CausalLM> m = new LinkedHashMap<>();
        m.put("mamba1", Mamba1Init.random(Mamba1IdentityTest.TINY, DType.F32, 3, CPU));
        m.put("mamba2", Mamba2IdentityTest.perturbed(Mamba2IdentityTest.TINY, 2, CPU));
        m.put("phi teacher", MohawkStudentTest.teacher(MohawkStudentTest.PHI).model(CPU));
        m.put("llama teacher (GQA)", MohawkStudentTest.teacher("llama/gqa_untied").model(CPU));
        m.put("gpt2 teacher (learned positions)", MohawkStudentTest.teacher("gpt2/tied").model(CPU));
        m.put("phi-mamba student", MohawkStudentTest.student(Set.of(), false, CPU));
        m.put("phi-mamba hybrid (attention at 1)", MohawkStudentTest.student(Set.of(1), false, CPU));
        m.put("llama-mamba student", MohawkStudentTest.teacher("llama/gqa_untied").student(Set.of(), false, CPU));
        return m;
    }

    static int[][] ids(CausalLM m, int b, int t, long seed) {
        Random r = new Random(seed);
        int[][] ids = new int[b][t];
        for (int[] row : ids) for (int j = 0; j < t; j++) row[j] = r.nextInt(m.vocabSize());
        return ids;
    }

    static float[] row(Tensor logits, int row, int v) { return logits.view((long) row * v, v).toFloatArray(); }

    @Test
    void promptInPiecesEqualsPromptAtOnce() {
        for (var e : models().entrySet()) {
            CausalLM m = e.getValue();
            int b = 2, t = 14, v = m.logitsSize();
            int[][] ids = ids(m, b, t, 1);
            CausalLM.DecodeState one = m.newState(b);
            float[] whole = m.prefill(one, ids).toFloatArray();
            CausalLM.DecodeState three = m.newState(b);
            m.prefill(three, cols(ids, 0, 4));
            m.extend(three, cols(ids, 4, 5));
            float[] pieces = m.extend(three, cols(ids, 5, t)).toFloatArray();
            assertRelClose(e.getKey() + ": last logits, three pieces vs one", pieces, whole, Tolerance.F32_IDENTITY);
            int[] next = {3, 7};
            assertRelClose(e.getKey() + ": the step after", m.step(three, next).toFloatArray(), m.step(one, next).toFloatArray(), Tolerance.F32_IDENTITY);
            assertThrows(IllegalArgumentException.class, () -> m.extend(m.newState(3), ids), e.getKey() + ": batch mismatch");
        }
    }

    @Test
    void slotFilledAloneEqualsRowOfBatchedPrefill() {
        for (var e : models().entrySet()) {
            CausalLM m = e.getValue();
            int b = 3, t = 9, v = m.logitsSize();
            int[][] ids = ids(m, b, t, 2);
            CausalLM.DecodeState batched = m.newState(b);
            Tensor lb = m.prefill(batched, ids);
            float[][] expect = new float[b][];
            for (int i = 0; i < b; i++) expect[i] = row(lb, i, v);
            CausalLM.DecodeState slots = m.newState(b);
            for (int i = b - 1; i >= 0; i--) {                       // filled out of order, one sequence at a time
                CausalLM.DecodeState alone = m.newState(1);
                float[] l = m.prefill(alone, new int[][]{ids[i]}).toFloatArray();
                assertRelClose(e.getKey() + ": row " + i + " prefilled alone", l, expect[i], Tolerance.F32_IDENTITY);
                m.copySequence(alone, 0, slots, i);
            }
            for (int s = 0; s < 4; s++) {
                int[] tok = {s + 1, 2 * s + 3, 5};
                float[] a = m.step(batched, tok).toFloatArray(), c = m.step(slots, tok).toFloatArray();
                assertRelClose(e.getKey() + ": step " + s + " from slots vs batched prefill", c, a, Tolerance.F32_IDENTITY);
            }
        }
    }

    /**
     * A row of a step is computed alike whatever the other rows hold and whatever the batch (up to the decode GEMV's
     * 8 rows): the sequence in a quiet batch of 8, among 7 others, alone in a batch of 1, in a pair, as the odd last row
     * of a batch of 5 and inside a pair of a batch of 7 (what serve's compacted steps use) gives the same logits bit for bit.
     */
    @Test
    void aRowStepsTheSameWhateverTheOtherRowsHold() {
        for (var e : models().entrySet()) {
            CausalLM m = e.getValue();
            int p = 8, t = 7, v = m.logitsSize();
            int[][] prompts = ids(m, p, t, 3);
            CausalLM.DecodeState alone = m.newState(1);
            Tensor first = m.prefill(alone, new int[][]{prompts[0]});
            // the sequence alone in a batch of p (the other rows empty) at row 0, and among p − 1 others at row 5
            CausalLM.DecodeState quiet = m.newState(p), busy = m.newState(p), pair = m.newState(2), five = m.newState(5), seven = m.newState(7);
            m.copySequence(alone, 0, quiet, 0);
            m.copySequence(alone, 0, pair, 1);
            m.copySequence(alone, 0, five, 4);
            m.copySequence(alone, 0, seven, 3);
            for (int i = 0; i < p; i++) {
                CausalLM.DecodeState other = m.newState(1);
                m.prefill(other, new int[][]{prompts[i]});
                m.copySequence(other, 0, busy, i == 0 ? 5 : i == 5 ? 0 : i);
            }
            int[] tq = new int[p], tb = new int[p];
            tq[0] = tb[5] = Sampler.argmax(first.toFloatArray(), 0, m.vocabSize());
            for (int s = 0; s < 6; s++) {
                for (int i = 0; i < p; i++) if (i != 5) tb[i] = (i * 7 + s) % m.vocabSize();
                float[] q = row(m.step(quiet, tq), 0, v), bz = row(m.step(busy, tb), 5, v);
                assertArrayEquals(q, bz, e.getKey() + ": step " + s + ", row 0 of a quiet batch vs row 5 of a busy one");
                assertArrayEquals(q, row(m.step(alone, new int[]{tq[0]}), 0, v), e.getKey() + ": step " + s + ", batch of 8 vs batch of 1");
                assertArrayEquals(q, row(m.step(pair, new int[]{tb[1], tq[0]}), 1, v), e.getKey() + ": step " + s + ", batch of 8 vs batch of 2");
                assertArrayEquals(q, row(m.step(five, new int[]{tb[1], tb[2], tb[3], tb[4], tq[0]}), 4, v), e.getKey() + ": step " + s + ", batch of 8 vs row 4 of 5");
                assertArrayEquals(q, row(m.step(seven, new int[]{tb[1], tb[2], tb[3], tq[0], tb[4], tb[6], tb[7]}), 3, v),
                        e.getKey() + ": step " + s + ", batch of 8 vs row 3 of 7");
                tq[0] = tb[5] = Sampler.argmax(q, 0, m.vocabSize());
            }
        }
    }

    /**
     * Two sequences of different lengths in one state step as each does in a state of its own copies (same batch,
     * uniform path): the Transformer's KV cache, and a hybrid student's kept attention layer.
     */
    @Test
    void kvCacheRowsStepAtTheirOwnPositions() {
        Map<String, CausalLM> models = new LinkedHashMap<>();
        models.put("llama teacher (GQA)", MohawkStudentTest.teacher("llama/gqa_untied").model(CPU));
        models.put("phi-mamba hybrid (attention at 1)", MohawkStudentTest.student(Set.of(1), false, CPU));
        for (var e : models.entrySet()) {
            CausalLM m = e.getValue();
            int v = m.logitsSize();
            CausalLM.DecodeState sa = m.newState(1), sb = m.newState(1), two = m.newState(2), aa = m.newState(2), bb = m.newState(2);
            m.prefill(sa, ids(m, 1, 5, 4));
            m.prefill(sb, ids(m, 1, 9, 5));
            m.copySequence(sb, 0, two, 1);
            m.copySequence(sa, 0, two, 0);
            for (int r = 0; r < 2; r++) {
                m.copySequence(sa, 0, aa, r);
                m.copySequence(sb, 0, bb, r);
            }
            for (int s = 0; s < 4; s++) {
                float[] both = m.step(two, new int[]{s + 1, s + 2}).toFloatArray();
                assertArrayEquals(row(m.step(aa, new int[]{s + 1, s + 1}), 0, v), Arrays.copyOfRange(both, 0, v), e.getKey() + ": row 0 (5 + " + s + " positions)");
                assertArrayEquals(row(m.step(bb, new int[]{s + 2, s + 2}), 1, v), Arrays.copyOfRange(both, v, 2 * v), e.getKey() + ": row 1 (9 + " + s + " positions)");
            }
        }
    }

    static int[][] cols(int[][] ids, int from, int to) {
        int[][] out = new int[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = Arrays.copyOfRange(ids[i], from, to);
        return out;
    }
}
