package mamba4j.models;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link Generator} over prompts of different lengths, for every architecture: each row of a batch gets the ids it
 * gets alone (greedy, and sampled with a sampler of its own seeded alike), the listener sees each row's tokens in
 * order under the row's own index, and EOS stops one row without stopping the others.
 */
class GeneratorBatchTest {
    static final int[] LENGTHS = {5, 1, 9, 5, 3};

    static int[][] prompts(CausalLM m, long seed) {
        int[][] p = new int[LENGTHS.length][];
        for (int i = 0; i < p.length; i++) p[i] = SequenceSlotsTest.ids(m, 1, LENGTHS[i], seed + i)[0];
        return p;
    }

    @Test
    void eachRowOfARaggedBatchEqualsThatPromptAlone() {
        for (var e : SequenceSlotsTest.models().entrySet()) {
            CausalLM m = e.getValue();
            int[][] prompts = prompts(m, 11);
            List<List<Integer>> heard = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) heard.add(new ArrayList<>());
            int[][] batched = Generator.generate(m, prompts, 7, Sampler.greedy(), false, (row, id) -> heard.get(row).add(id));
            for (int i = 0; i < prompts.length; i++) {
                int[] alone = Generator.generate(m, new int[][]{prompts[i]}, 7, Sampler.greedy(), false, (row, id) -> {})[0];
                assertArrayEquals(alone, batched[i], e.getKey() + ": row " + i + " (prompt of " + prompts[i].length + ") batched vs alone");
                assertEquals(Arrays.stream(alone, prompts[i].length, alone.length).boxed().toList(), heard.get(i),
                        e.getKey() + ": the listener's tokens of row " + i);
            }
        }
    }

    @Test
    void sampledRowsWithTheirOwnSamplersEqualThemAlone() {
        for (var e : SequenceSlotsTest.models().entrySet()) {
            CausalLM m = e.getValue();
            int[][] prompts = prompts(m, 21);
            Sampler[] each = new Sampler[prompts.length];
            for (int i = 0; i < each.length; i++) each[i] = new Sampler(0.9f, 20, 0.95f, 7);
            int[][] batched = Generator.generate(m, prompts, 6, each, false, (row, id) -> {});
            for (int i = 0; i < prompts.length; i++) {
                int[] alone = Generator.generate(m, new int[][]{prompts[i]}, 6, new Sampler(0.9f, 20, 0.95f, 7), false, (row, id) -> {})[0];
                assertArrayEquals(alone, batched[i], e.getKey() + ": sampled row " + i);
            }
        }
    }

    /** A model whose EOS is the greedy id of row 0's first step: that row stops after one token, the others go on. */
    @Test
    void eosStopsOneRowOnly() {
        CausalLM base = SequenceSlotsTest.models().get("mamba1");
        int[][] prompts = prompts(base, 31);
        int first = Generator.generate(base, new int[][]{prompts[0]}, 1, Sampler.greedy(), false, (r, id) -> {})[0][prompts[0].length];
        CausalLM m = withEos(base, first);
        int[][] out = Generator.generate(m, prompts, 6, Sampler.greedy(), true, (r, id) -> {});
        assertEquals(prompts[0].length + 1, out[0].length, "row 0 ends at its EOS");
        for (int i = 1; i < prompts.length; i++) {
            int[] alone = Generator.generate(m, new int[][]{prompts[i]}, 6, Sampler.greedy(), true, (r, id) -> {})[0];
            assertArrayEquals(alone, out[i], "row " + i + " goes on as alone");
        }
    }

    @Test
    void refusesWhatCannotBeGenerated() {
        CausalLM m = SequenceSlotsTest.models().get("mamba1");
        assertThrows(IllegalArgumentException.class, () -> Generator.generate(m, new int[0][], 3, Sampler.greedy(), false, (r, id) -> {}));
        assertThrows(IllegalArgumentException.class, () -> Generator.generate(m, new int[][]{{1}, {}}, 3, Sampler.greedy(), false, (r, id) -> {}));
        assertThrows(IllegalArgumentException.class,
                () -> Generator.generate(m, new int[][]{{1}, {2}}, 3, new Sampler[]{Sampler.greedy()}, false, (r, id) -> {}));
    }

    /** {@code m} with another EOS id (everything else delegated). */
    static CausalLM withEos(CausalLM m, int eos) {
        return new CausalLM() {
            @Override public mamba4j.core.Backend backend() { return m.backend(); }
            @Override public int logitsSize() { return m.logitsSize(); }
            @Override public int vocabSize() { return m.vocabSize(); }
            @Override public int eosTokenId() { return eos; }
            @Override public mamba4j.core.Tensor forward(int[][] ids, Trace trace) { return m.forward(ids, trace); }
            @Override public long weightBytesPerToken() { return m.weightBytesPerToken(); }
            @Override public DecodeState newState(int batch) { return m.newState(batch); }
            @Override public mamba4j.core.Tensor prefill(DecodeState s, int[][] p) { return m.prefill(s, p); }
            @Override public mamba4j.core.Tensor step(DecodeState s, int[] t) { return m.step(s, t); }
            @Override public void copySequence(DecodeState a, int ra, DecodeState b, int rb) { m.copySequence(a, ra, b, rb); }
        };
    }
}
