package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufQuant;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.GgufType;
import mamba4j.io.GgufValue;
import mamba4j.io.GgufWriter;
import mamba4j.io.SafetensorsFile;
import mamba4j.models.gguf.MambaGguf;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Init;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.testkit.Repo;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import java.util.SplittableRandom;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A Mamba-1 or Mamba-2 checkpoint written as llama.cpp's GGUF and loaded back computes the same logits as the
 * checkpoint itself — bit for bit at f32 and bf16 (the same bytes, A recovered exactly from −exp(A_log)); within f16
 * and Q8_0 rounding otherwise — and the file holds llama.cpp's names, sizes and keys.
 */
class GgufParityTest {
    @TempDir Path dir;
    static final Backend CPU = Backends.get("cpu");

    static int[][] inputIds(Path checkpoint) {
        try (SafetensorsFile f = SafetensorsFile.open(checkpoint.resolve("input.safetensors"))) {
            Tensor t = f.get("input_ids");
            int b = t.size(0), n = t.size(1);
            int[][] ids = new int[b][n];
            for (int i = 0; i < b; i++) for (int j = 0; j < n; j++) ids[i][j] = (int) t.getLong((long) i * n + j);
            return ids;
        }
    }

    private Path export(Models.Loaded loaded, String name, DType dtype) {
        Path out = dir.resolve(name + ".gguf");
        MambaGguf.write(loaded.model(), out, dtype, GgufTokenizer.none(), name);
        return out;
    }

    private static float[] logits(Models.Loaded l, int[][] ids) { return l.model().forward(ids, Trace.NONE).toFloatArray(); }

    @Test
    void mamba1GoldenIsBitExactAtF32() {
        Path ck = Repo.golden().resolve("mamba1/tied");
        int[][] ids = inputIds(ck);
        try (Models.Loaded st = Models.load(ck, CPU)) {
            Path g = export(st, "tied", DType.F32);
            try (Models.Loaded gg = Models.load(g, CPU)) {
                assertInstanceOf(Mamba1Model.class, gg.model());
                assertEquals(((Mamba1Model) st.model()).config(), ((Mamba1Model) gg.model()).config());
                assertArrayEquals(logits(st, ids), logits(gg, ids), "logits of the GGUF-loaded model");
            }
            try (GgufFile f = GgufFile.open(g)) {
                Mamba1Config c = ((Mamba1Model) st.model()).config();
                assertEquals("mamba", f.string("general.architecture"));
                assertEquals(c.hiddenSize(), f.size("mamba.embedding_length"));
                assertEquals(c.dInner(), f.size("mamba.ssm.inner_size"));
                assertEquals(c.stateSize(), f.size("mamba.ssm.state_size"));
                assertEquals(c.dtRank(), f.size("mamba.ssm.time_step_rank"));
                assertEquals(c.convKernel(), f.size("mamba.ssm.conv_kernel"));
                assertEquals(c.numHiddenLayers(), f.size("mamba.block_count"));
                assertEquals(1 << 20, f.size("mamba.context_length"));
                assertEquals(0, f.size("general.file_type"), "ALL_F32");
                assertEquals(c.paddedVocabSize(), f.size("mamba.vocab_size"), "no tokens: llama.cpp reads the size here");
                assertEquals("none", f.string("tokenizer.ggml.model"));
                assertFalse(f.contains("output.weight"), "tied head: llama.cpp duplicates token_embd");
                assertArrayEquals(new long[] {c.hiddenSize(), c.paddedVocabSize()}, f.info("token_embd.weight").ne());
                assertArrayEquals(new long[] {c.hiddenSize(), 2L * c.dInner()}, f.info("blk.0.ssm_in.weight").ne());
                assertArrayEquals(new long[] {c.convKernel(), c.dInner()}, f.info("blk.0.ssm_conv1d.weight").ne(), "squeezed");
                assertArrayEquals(new long[] {c.dInner(), c.dtRank() + 2L * c.stateSize()}, f.info("blk.0.ssm_x.weight").ne());
                assertArrayEquals(new long[] {c.dtRank(), c.dInner()}, f.info("blk.0.ssm_dt.weight").ne());
                assertArrayEquals(new long[] {c.stateSize(), c.dInner()}, f.info("blk.0.ssm_a").ne());
                assertArrayEquals(new long[] {c.dInner()}, f.info("blk.0.ssm_d").ne());
                assertArrayEquals(new long[] {c.dInner(), c.hiddenSize()}, f.info("blk.0.ssm_out.weight").ne());
                Tensor aLog = st.checkpoint().get("backbone.layers.1.mixer.A_log"), a = f.get("blk.1.ssm_a");
                for (int i = 0; i < a.numel(); i++) assertEquals((float) -Math.exp(aLog.getFloat(i)), a.getFloat(i), "A = −exp(A_log)");
            }
        }
    }

    /**
     * GGUF does not carry Mamba-2's chunk_size (llama.cpp has no chunked SSD), so a file reads with transformers'
     * default 256: the golden checkpoint's chunk 16 sums in another order (chunked SSD == recurrence within
     * {@link Tolerance#CHUNKED_VS_RECURRENCE}); at its own chunk size the model is bit-exact (next test).
     */
    @Test
    void mamba2GoldenMatchesAtF32() {
        Path ck = Repo.golden().resolve("mamba2/g1_tied");
        int[][] ids = inputIds(ck);
        try (Models.Loaded st = Models.load(ck, CPU)) {
            Path g = export(st, "g1", DType.F32);
            try (Models.Loaded gg = Models.load(g, CPU)) {
                Mamba2Config a = ((Mamba2Model) st.model()).config(), b = ((Mamba2Model) gg.model()).config();
                assertEquals(256, b.chunkSize());
                assertEquals(new Mamba2Config(a.vocabSize(), a.paddedVocabSize(), a.hiddenSize(), a.stateSize(), a.expand(), a.nGroups(),
                        a.numHeads(), a.headDim(), a.convKernel(), a.useBias(), a.useConvBias(), a.layerNormEpsilon(), a.tieWordEmbeddings(),
                        a.timeStepLo(), a.timeStepHi(), 256, a.numHiddenLayers(), a.eosTokenId(), a.normPerGroup()), b,
                        "the config but its chunk size (one group: the per-group norm is transformers' norm over all channels)");
                assertRelClose("logits", gg.model().forward(ids, Trace.NONE), st.model().forward(ids, Trace.NONE), Tolerance.CHUNKED_VS_RECURRENCE);
            }
            try (GgufFile f = GgufFile.open(g)) {
                Mamba2Config c = ((Mamba2Model) st.model()).config();
                assertEquals("mamba2", f.string("general.architecture"));
                assertEquals(c.numHeads(), f.size("mamba2.ssm.time_step_rank"), "the head count");
                assertEquals(c.nGroups(), f.size("mamba2.ssm.group_count"));
                assertArrayEquals(new long[] {c.hiddenSize(), c.inProjSize()}, f.info("blk.0.ssm_in.weight").ne());
                assertArrayEquals(new long[] {c.convKernel(), c.convDim()}, f.info("blk.0.ssm_conv1d.weight").ne());
                assertArrayEquals(new long[] {c.numHeads()}, f.info("blk.0.ssm_dt.bias").ne(), "dt_bias as ssm_dt.bias");
                assertArrayEquals(new long[] {1, c.numHeads()}, f.info("blk.0.ssm_a").ne());
                assertArrayEquals(new long[] {1, c.numHeads()}, f.info("blk.0.ssm_d").ne());
                assertArrayEquals(new long[] {c.dInner() / c.nGroups(), c.nGroups()}, f.info("blk.0.ssm_norm.weight").ne());
                assertEquals(GgufType.F32, f.type("blk.0.ssm_norm.weight"));
            }
        }
    }

    @Test
    void untiedHeadsAndGroupedNormsTravel() {
        Mamba1Config c1 = new Mamba1Config(61, 64, 32, 8, 2, 2, 4, 2, false, false, 1e-5, false, 3);   // no conv bias: zeros
        Mamba1Model m1 = Mamba1Init.random(c1, DType.F32, 5, CPU);
        Mamba2Config c2 = new Mamba2Config(70, 80, 32, 16, 2, 2, 4, 16, 4, false, true, 1e-5, false, 0, Double.POSITIVE_INFINITY,
                256, 2, 1, true);   // chunk 256: what a GGUF file reads with
        Mamba2Model m2 = Mamba2Init.random(c2, DType.F32, 6, CPU);
        int[][] ids = {{1, 5, 9, 33, 2, 60, 7}, {4, 4, 4, 8, 16, 32, 59}};
        for (CausalLM m : List.of(m1, m2)) {
            Path g = dir.resolve(m.getClass().getSimpleName() + ".gguf");
            MambaGguf.write(m, g, DType.F32, GgufTokenizer.none(), "random");
            try (Models.Loaded gg = Models.load(g, CPU)) {
                assertArrayEquals(m.forward(ids, Trace.NONE).toFloatArray(), logits(gg, ids), m.getClass().getSimpleName());
                assertTrue(gg.checkpoint().contains("lm_head.weight"));
                if (gg.config() instanceof Mamba2Config c) assertTrue(c.normPerGroup() && c.nGroups() == 2, "grouped norm: " + c);
                if (gg.config() instanceof Mamba1Config c) assertTrue(c.useConvBias(), "the zero conv bias llama.cpp needs: " + c);
            }
        }
    }

    @Test
    void halfPrecisionExports() {
        Path bf = Repo.golden().resolve("mamba1/bf16");
        int[][] ids = inputIds(bf);
        try (Models.Loaded st = Models.load(bf, CPU)) {
            try (Models.Loaded gg = Models.load(export(st, "bf16", DType.BF16), CPU)) {
                assertEquals(DType.BF16, gg.checkpoint().dtype("backbone.layers.0.mixer.in_proj.weight"));
                assertArrayEquals(logits(st, ids), logits(gg, ids), "bf16 stays bf16: bit-exact");
            }
        }
        Path f32 = Repo.golden().resolve("mamba1/tied");
        try (Models.Loaded st = Models.load(f32, CPU); Models.Loaded gg = Models.load(export(st, "f16", DType.F16), CPU)) {
            assertEquals(DType.F16, gg.checkpoint().dtype("backbone.embeddings.weight"));
            assertEquals(DType.F32, gg.checkpoint().dtype("backbone.layers.0.norm.weight"), "norms stay F32");
            try (GgufFile f = GgufFile.open(dir.resolve("f16.gguf"))) {
                assertEquals(1, f.size("general.file_type"), "MOSTLY_F16");
                assertEquals(GgufType.F32, f.type("blk.0.ssm_conv1d.weight"), "conv stays F32, as the converter keeps it");
            }
            Tensor a = st.model().forward(inputIds(f32), Trace.NONE), b = gg.model().forward(inputIds(f32), Trace.NONE);
            assertRelClose("f16 logits", b, a, 2e-2);
        }
    }

    /** A llama.cpp file whose matrices are Q8_0 loads (widened to F32 until DType.Q8_0 exists) within Q8_0's rounding. */
    /**
     * llama.cpp's own tools (llama-quantize, and so most GGUF files in circulation) write a tensor with its trailing
     * sizes of 1 dropped: Mamba-2's ssm_norm [d_inner, 1] becomes [d_inner]. Such a file reads as the converter's.
     */
    @Test
    void trailingOnesDroppedAsGgmlWritesThemRead() {
        Path ck = Repo.golden().resolve("mamba2/g1_tied");
        int[][] ids = inputIds(ck);
        try (Models.Loaded st = Models.load(ck, CPU)) {
            Path g = export(st, "g1", DType.F32), squeezed = dir.resolve("g1-squeezed.gguf");
            int rewritten = 0;
            try (GgufFile f = GgufFile.open(g)) {
                List<GgufWriter.Entry> t = new ArrayList<>();
                for (String n : f.tensorNames()) {
                    Tensor v = f.get(n).copy();
                    long[] ne = f.info(n).ne();
                    if (ne.length == 2 && ne[1] == 1) { v = v.reshape(ne[0]); rewritten++; }
                    t.add(GgufWriter.Entry.of(n, v));
                }
                GgufWriter.write(squeezed, new LinkedHashMap<>(f.metadata()), t);
            }
            assertTrue(rewritten >= 2, rewritten + " tensors with a trailing size of 1 (ssm_norm of each layer)");
            try (GgufFile f = GgufFile.open(squeezed)) {
                assertArrayEquals(new long[] {((Mamba2Model) st.model()).config().dInner()}, f.info("blk.0.ssm_norm.weight").ne());
            }
            try (Models.Loaded a = Models.load(g, CPU); Models.Loaded b = Models.load(squeezed, CPU)) {
                assertArrayEquals(a.model().forward(ids, Trace.NONE).toFloatArray(), b.model().forward(ids, Trace.NONE).toFloatArray());
            }
        }
    }

    @Test
    void q8_0MatricesLoad() {
        Mamba1Config c = new Mamba1Config(64, 64, 64, 16, 2, 2, 4, 4, false, true, 1e-5, true, 0);
        Mamba1Model m = Mamba1Init.random(c, DType.F32, 9, CPU);
        Path f32 = dir.resolve("m.gguf"), q8 = dir.resolve("q8.gguf");
        MambaGguf.write(m, f32, DType.F32, GgufTokenizer.none(), "m");
        int quantized = 0;
        try (GgufFile f = GgufFile.open(f32)) {
            SequencedMap<String, GgufValue> meta = new LinkedHashMap<>(f.metadata());
            meta.put("general.file_type", GgufValue.u32(7));   // MOSTLY_Q8_0
            List<GgufWriter.Entry> t = new ArrayList<>();
            for (String n : f.tensorNames()) {
                GgufFile.TensorInfo info = f.info(n);
                boolean matrix = n.endsWith(".weight") && info.ne().length == 2 && !n.contains("norm") && !n.contains("conv1d")
                        && info.ne()[0] % 32 == 0;
                if (matrix) {
                    byte[] blocks = GgufQuant.quantizeQ8_0(f.get(n).toFloatArray());
                    t.add(new GgufWriter.Entry(n, GgufType.Q8_0, f.shape(n).dims(), () -> MemorySegment.ofArray(blocks)));
                    quantized++;
                } else {
                    Tensor v = f.get(n).copy();
                    t.add(GgufWriter.Entry.of(n, v));
                }
            }
            GgufWriter.write(q8, meta, t);
        }
        assertTrue(quantized >= 5, quantized + " Q8_0 matrices");
        int[][] ids = {{1, 2, 3, 40, 50, 60, 7, 8}};
        try (Models.Loaded gg = Models.load(q8, CPU)) {
            assertRelClose("Q8_0 logits", gg.model().forward(ids, Trace.NONE), m.forward(ids, Trace.NONE), 5e-2);
        }
    }

    @Test
    void whatLlamaCppCannotRunIsRefusedNamed() {
        try (Models.Loaded l = Models.load(Repo.golden().resolve("mamba1/untied_bias_sharded"), CPU)) {
            assertRefused(l, "use_bias = true");
        }
        try (Models.Loaded l = Models.load(Repo.golden().resolve("mamba2/timelimit"), CPU)) {
            assertRefused(l, "time_step_limit is [0.0, 0.5]");
        }
        Mamba2Config perAll = new Mamba2Config(70, 70, 32, 16, 2, 2, 4, 16, 4, false, true, 1e-5, true, 0, Double.POSITIVE_INFINITY,
                8, 1, 1, false);
        Models.Loaded l = new Models.Loaded(Mamba2Init.random(perAll, DType.F32, 1, CPU), perAll, null, null);
        assertRefused(l, "normalises over all 64 channels", "n_groups = 2");
        Mamba1Config ti = new Mamba1Config(64, 64, 32, 8, 1, 2, 4, 2, false, true, 1e-5, true, 0).withSelective(false);
        assertRefused(new Models.Loaded(Mamba1Init.random(ti, DType.F32, 1, CPU), ti, null, null), "time-invariant");
        Mamba1Config e3 = new Mamba1Config(64, 64, 32, 8, 1, 3, 4, 2, false, true, 1e-5, true, 0);
        assertRefused(new Models.Loaded(Mamba1Init.random(e3, DType.F32, 1, CPU), e3, null, null), "expand is 3");
    }

    private void assertRefused(Models.Loaded l, String... fragments) {
        UserInputException e = assertThrows(UserInputException.class, () -> export(l, "refused", DType.F32));
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "<" + s + "> in " + e.getMessage());
    }

    @Test
    void aLogIsRecoveredExactlyFromA() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 200_000; i++) {
            float x = (float) (r.nextDouble() * 12 - 6);
            float a = (float) -Math.exp(x);
            assertEquals(a, (float) -Math.exp(MambaGguf.aLogOf(a)), "A from A_log = " + x);
        }
        assertEquals(Float.NEGATIVE_INFINITY, MambaGguf.aLogOf(-0f));
    }

    @Test
    void hostileGgufTensorsAreNamed() {
        Mamba1Config c = new Mamba1Config(64, 64, 32, 8, 1, 2, 4, 2, false, true, 1e-5, true, 0);
        Path g = dir.resolve("ok.gguf"), bad = dir.resolve("bad.gguf");
        MambaGguf.write(Mamba1Init.random(c, DType.F32, 2, CPU), g, DType.F32, GgufTokenizer.none(), "m");
        try (GgufFile f = GgufFile.open(g)) {
            List<GgufWriter.Entry> t = new ArrayList<>();
            for (String n : f.tensorNames()) {
                Tensor v = f.get(n).copy();
                if (n.equals("blk.0.ssm_a")) v.setFloat(3, 0.5f);
                if (!n.equals("blk.0.ssm_d")) t.add(GgufWriter.Entry.of(n, v));
            }
            GgufWriter.write(bad, new LinkedHashMap<>(f.metadata()), t);
        }
        UserInputException e = assertThrows(UserInputException.class, () -> Models.load(bad, CPU));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("tensor 'blk.0.ssm_a' holds A = 0.5 at element 3"),
                e.getMessage());
    }

    @Test
    void savedAgainItIsTheTransformersCheckpoint() {
        Path ck = Repo.golden().resolve("mamba2/g1_tied");
        try (Models.Loaded st = Models.load(ck, CPU)) {
            Path g = export(st, "again", DType.F32);
            Path out = dir.resolve("hf");
            try (Models.Loaded gg = Models.load(g, CPU)) {
                mamba4j.models.mamba2.Mamba2Saver.save((Mamba2Model) gg.model(), out);
            }
            try (Models.Loaded back = Models.load(out, CPU)) {
                for (String n : st.checkpoint().names()) {
                    float[] a = st.checkpoint().get(n).toFloatArray(), b = back.checkpoint().get(n).toFloatArray();
                    if (n.endsWith("A_log"))   // one A may have several float32 A_log: the one recovered gives the same A
                        for (int i = 0; i < a.length; i++) assertEquals((float) -Math.exp(a[i]), (float) -Math.exp(b[i]), n);
                    else assertArrayEquals(a, b, n);
                }
            }
        }
    }
}
