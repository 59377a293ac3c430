package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.models.discrete.DiscreteMamba2Config;
import mamba4j.models.discrete.DiscreteMamba2Mixer;
import mamba4j.models.discrete.StudentWeights;
import mamba4j.models.discrete.MohawkStudentInit;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TeacherLoader;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.testkit.Repo;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * MOHAWK students built from the committed tiny teachers — Phi-Mamba from testdata/golden/phi/partial_rotary (D 32,
 * 4 heads, 2 layers, partial rotary, parallel LayerNorm block) and Llama-Mamba from testdata/golden/llama/gqa_untied
 * and gqa_tied (D 32, 4 query / 2 KV heads, RMSNorm sequential block, SwiGLU) — whose teachers' logits are checked
 * against transformers in GoldenTeachersTest: decode step by step == forward (pure SSM, hybrid, x/B/C from V/K/Q),
 * every layer kept as attention == the teacher exactly (logits, hidden states, decode), the weight transfer bit for
 * bit, and the init.
 */
class MohawkStudentTest {
    static final String PHI = "phi/partial_rotary";

    /** A committed teacher: its spec and open checkpoint. */
    record Teacher(String name, TeacherSpec spec, CheckpointTensors ck) {
        MohawkStudent student(Set<Integer> attention, boolean fromVkq, Backend be) {
            MohawkStudentInit.Options d = MohawkStudentInit.defaults(spec, 42);
            // chunk 5: does not divide the lengths used, so the chunked path is exercised
            return MohawkStudentInit.fromTeacher(spec, ck, be, new MohawkStudentInit.Options(d.mixer().withChunkSize(5), attention, fromVkq, 42));
        }

        int[][] ids(int b, int t, long seed) {
            Random r = new Random(seed);
            int[][] ids = new int[b][t];
            for (int[] row : ids) for (int j = 0; j < t; j++) row[j] = r.nextInt(spec.vocabSize());
            return ids;
        }

        TransformerLM model(Backend be) { return TeacherLoader.load(spec, ck, be); }
    }

    private static final Map<String, Teacher> OPEN = new ConcurrentHashMap<>();

    /** The teacher under testdata/golden/{name}, opened once for the JVM (the checkpoints are small and read-only). */
    static Teacher teacher(String name) {
        return OPEN.computeIfAbsent(name, n -> {
            Path dir = Repo.golden().resolve(n);
            return new Teacher(n, TeacherLoader.spec(TeacherLoader.config(JsonConfig.read(dir.resolve("config.json")))), CheckpointTensors.open(dir));
        });
    }

    // the Phi teacher, for the tests written against it alone
    static TeacherSpec spec;
    static CheckpointTensors ck;

    @BeforeAll
    static void open() {
        Teacher t = teacher(PHI);
        spec = t.spec();
        ck = t.ck();
        assertEquals(TeacherSpec.Arch.PHI, spec.arch());
        assertEquals(TeacherSpec.Arch.LLAMA, teacher("llama/gqa_untied").spec().arch());
    }

    static MohawkStudent student(Set<Integer> attention, boolean fromVkq, Backend be) { return teacher(PHI).student(attention, fromVkq, be); }

    static int[][] ids(int b, int t, long seed) { return teacher(PHI).ids(b, t, seed); }

    /** Prefill the first {@code prefix} tokens, then step; every step's logits against the forward's at that position. */
    static void assertDecodeEqualsForward(CausalLM m, String what, int[][] ids, int prefix, double tol, boolean exact) {
        int b = ids.length, t = ids[0].length, v = m.logitsSize();
        float[] full = m.forward(ids, Trace.NONE).toFloatArray();
        CausalLM.DecodeState s = m.newState(b);
        int[][] head = new int[b][];
        for (int i = 0; i < b; i++) head[i] = java.util.Arrays.copyOf(ids[i], prefix);
        Tensor logits = m.prefill(s, head);
        for (int j = prefix - 1; j < t; j++) {
            if (j >= prefix) {
                int[] tok = new int[b];
                for (int i = 0; i < b; i++) tok[i] = ids[i][j];
                logits = m.step(s, tok);
            }
            float[] got = logits.toFloatArray();
            for (int i = 0; i < b; i++) {
                float[] want = java.util.Arrays.copyOfRange(full, (i * t + j) * v, (i * t + j + 1) * v);
                float[] row = java.util.Arrays.copyOfRange(got, i * v, (i + 1) * v);
                if (exact) assertArrayEquals(want, row, what + " position " + j + " row " + i);
                else assertRelClose(what + " position " + j + " row " + i, row, want, tol);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {PHI, "llama/gqa_untied", "llama/gqa_tied"})
    void decodeStepByStepEqualsForward(String name) {
        Teacher te = teacher(name);
        Backend be = Backends.get("cpu");
        int[][] ids = te.ids(2, 14, 1);
        assertDecodeEqualsForward(te.student(Set.of(), false, be), "pure SSM", ids, 3, Tolerance.F32_IDENTITY, false);
        assertDecodeEqualsForward(te.student(Set.of(), false, be), "pure SSM, prefill 1", ids, 1, Tolerance.F32_IDENTITY, false);
        assertDecodeEqualsForward(te.student(Set.of(1), false, be), "hybrid (attention at 1)", ids, 6, Tolerance.F32_IDENTITY, false);
        assertDecodeEqualsForward(te.student(Set.of(0), true, be), "hybrid, x/B/C from V/K/Q", ids, 4, Tolerance.F32_IDENTITY, false);
        // all three teachers: D 32, H 4, P = N = 8, C = E + 2GN = 96, K 4: per layer and sequence conv 96·4 + ssm 4·8·8
        // floats, whatever the length
        MohawkStudent pure = te.student(Set.of(), false, be);
        CausalLM.DecodeState s = pure.newState(2);
        long expected = 2L /* layers */ * 2 /* batch */ * (96 * 4 + 4 * 8 * 8) * 4;
        pure.prefill(s, te.ids(2, 3, 5));
        assertEquals(expected, s.stateBytes(), "pure SSM state after 3 tokens");
        for (int j = 0; j < 20; j++) pure.step(s, new int[]{1, 2});
        assertEquals(expected, s.stateBytes(), "pure SSM state after 23 tokens: constant");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {PHI, "llama/gqa_untied", "llama/gqa_tied"})
    void everyLayerAttentionEqualsTheTeacherExactly(String name) {
        Teacher te = teacher(name);
        Backend be = Backends.get("cpu");
        TransformerLM teacher = te.model(be);
        MohawkStudent s = te.student(Set.of(0, 1), false, be);
        int[][] ids = te.ids(2, 11, 2);
        Map<String, float[]> ts = new TreeMap<>(), ss = new TreeMap<>();
        float[] tl = teacher.forward(ids, (n, l, t) -> ts.put(n + l, t.toFloatArray())).toFloatArray();
        float[] sl = s.forward(ids, (n, l, t) -> { if (!n.startsWith("mixer")) ss.put(n + l, t.toFloatArray()); }).toFloatArray();
        assertArrayEquals(tl, sl, "logits");
        assertEquals(ts.keySet(), ss.keySet(), "trace names");
        for (String k : ts.keySet()) assertArrayEquals(ts.get(k), ss.get(k), k);
        // decoding from the KV cache too, token for token
        CausalLM.DecodeState tst = teacher.newState(2), sst = s.newState(2);
        int[][] head = {java.util.Arrays.copyOf(ids[0], 4), java.util.Arrays.copyOf(ids[1], 4)};
        assertArrayEquals(teacher.prefill(tst, head).toFloatArray(), s.prefill(sst, head).toFloatArray(), "prefill");
        for (int j = 4; j < 11; j++) {
            int[] tok = {ids[0][j], ids[1][j]};
            assertArrayEquals(teacher.step(tst, tok).toFloatArray(), s.step(sst, tok).toFloatArray(), "step " + j);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {PHI, "llama/gqa_untied", "llama/gqa_tied"})
    void weightTransferCopiesTheNamedTensorsBitForBit(String name) {
        Teacher te = teacher(name);
        TeacherSpec spec = te.spec();
        CheckpointTensors ck = te.ck();
        boolean llama = spec.arch() == TeacherSpec.Arch.LLAMA;
        for (Set<Integer> attention : java.util.List.of(Set.<Integer>of(), Set.of(1))) {
            MohawkStudent s = te.student(attention, false, Backends.get("reference"));
            Map<String, Tensor> st = s.tensors();
            Map<String, String> names = MohawkStudentInit.transferNames(spec, attention, ck);
            // Phi: embedding, per layer LN (w, b) + fc1, fc2 (w, b), final LN (w, b), head (w, b), kept attention q, k, v, dense (w, b).
            // Llama (no biases): embedding, per layer 2 RMSNorms + gate, up, down, final norm, head, kept attention q, k, v, o.
            int expected = llama ? 1 + spec.layers() * 5 + 1 + 1 + attention.size() * 4
                    : 1 + spec.layers() * 6 + 2 + 2 + attention.size() * 8;
            assertEquals(expected, names.size(), "transfer list " + names.keySet());
            for (Map.Entry<String, String> e : names.entrySet()) {
                Tensor got = st.get(e.getKey()), want = ck.get(e.getValue());
                assertNotNull(got, "student has no " + e.getKey());
                assertEquals(want.dtype(), got.dtype(), e.getKey() + " dtype");
                assertEquals(want.shape(), got.shape(), e.getKey() + " shape");
                assertArrayEquals(want.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), got.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        e.getKey() + " <- " + e.getValue());
                assertTrue(got.segment().address() != want.segment().address(), e.getKey() + " is a copy, not the teacher's memory");
            }
            // every student tensor is either transferred or a mixer's
            for (String n : st.keySet())
                assertTrue(names.containsKey(n) || n.matches("backbone\\.layers\\.\\d+\\.mixer\\.(in_proj|z_bias|conv1d|D|out_proj).*"), n);
        }
    }

    /** A teacher tensor of the wrong shape, or missing, is named by its teacher name (not the student's). */
    @Test
    void aBadTeacherTensorIsNamed(@org.junit.jupiter.api.io.TempDir Path tmp) {
        Teacher te = teacher("llama/gqa_untied");
        java.util.LinkedHashMap<String, Tensor> t = new java.util.LinkedHashMap<>();
        for (String n : te.ck().names()) t.put(n, te.ck().get(n));
        t.put("model.layers.0.mlp.up_proj.weight", te.ck().get("model.layers.0.mlp.up_proj.weight").rows(0, 8));
        t.remove("model.layers.1.post_attention_layernorm.weight");
        mamba4j.io.Safetensors.write(tmp.resolve("model.safetensors"), t, Map.of());
        try (CheckpointTensors bad = CheckpointTensors.open(tmp)) {
            MohawkStudentInit.Options o = MohawkStudentInit.defaults(te.spec(), 1);
            var e = org.junit.jupiter.api.Assertions.assertThrows(mamba4j.core.UserInputException.class,
                    () -> MohawkStudentInit.fromTeacher(te.spec(), bad, Backends.get("reference"), o));
            assertTrue(e.getMessage().contains("missing tensor 'model.layers.1.post_attention_layernorm.weight'"), e.getMessage());
            t.put("model.layers.1.post_attention_layernorm.weight", te.ck().get("model.layers.1.post_attention_layernorm.weight"));
        }
        mamba4j.io.Safetensors.write(tmp.resolve("model.safetensors"), t, Map.of());
        try (CheckpointTensors bad = CheckpointTensors.open(tmp)) {
            MohawkStudentInit.Options o = MohawkStudentInit.defaults(te.spec(), 1);
            var e = org.junit.jupiter.api.Assertions.assertThrows(mamba4j.core.UserInputException.class,
                    () -> MohawkStudentInit.fromTeacher(te.spec(), bad, Backends.get("reference"), o));
            assertTrue(e.getMessage().contains("tensor 'model.layers.0.mlp.up_proj.weight'") && e.getMessage().contains("(8, 32)")
                    && e.getMessage().contains("model.safetensors"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {PHI, "llama/gqa_untied"})
    void mixerInitIsThePapers(String name) {
        Teacher te = teacher(name);
        TeacherSpec spec = te.spec();
        MohawkStudent s = te.student(Set.of(), false, Backends.get("reference"));
        DiscreteMamba2Config c = s.mixerConfig();
        int dm = c.dModel(), e = c.dInner(), cd = c.convDim(), k = c.convKernel(), h = c.nVHeads();
        assertEquals(spec.hidden(), dm);
        assertEquals(spec.headDim(), c.dState());
        assertEquals(spec.heads(), c.nVHeads());
        double outBound = 1 / Math.sqrt(e) / Math.sqrt(spec.layers());
        for (int li = 0; li < spec.layers(); li++) {
            StudentWeights.Mixer<Tensor> w = s.mixer(li).weights();
            for (int ch = 0; ch < cd; ch++)
                for (int j = 0; j < k; j++) assertEquals(j == k - 1 ? 1f : 0f, w.convWeight().getFloat((long) ch * k + j), "conv identity");
            for (long i = 0; i < cd; i++) assertEquals(0f, w.convBias().getFloat(i), "conv bias");
            for (long i = (long) cd * dm; i < (long) (cd + e) * dm; i++) assertEquals(0f, w.inProj().getFloat(i), "z rows of in_proj");
            for (long i = 0; i < e; i++) assertEquals((float) DiscreteMamba2Config.GATE_OPEN, w.zBias().getFloat(i), "z_bias");
            for (long i = 0; i < h; i++) assertEquals(1f, w.d().getFloat(i), "D");
            double maxOut = 0;
            for (long i = 0; i < w.outProj().numel(); i++) maxOut = Math.max(maxOut, Math.abs(w.outProj().getFloat(i)));
            assertTrue(maxOut <= outBound && maxOut > 0.5 * outBound, "out_proj ~ U(±1/√E)/√n_layer, max |w| " + maxOut + " bound " + outBound);
            double sumSq = 0;
            for (long i = 0; i < (long) cd * dm; i++) sumSq += w.inProj().getDouble(i) * w.inProj().getDouble(i);
            assertTrue(sumSq > 0, "x, B, C rows random");
        }
        // x ← V, B ← K, C ← Q, bit for bit (F32 teacher); with grouped KV heads (Llama: 4 query heads, 2 KV heads) query
        // head q reads KV head q / 2, so V and K rows repeat: student row r of x or B = teacher row (r / Dh / 2) · Dh + r % Dh
        MohawkStudent v = te.student(Set.of(), true, Backends.get("reference"));
        int dh = spec.headDim();
        for (int i = 0; i < spec.layers(); i++) {
            Tensor in = v.mixer(i).weights().inProj();
            String p = "model.layers." + i + ".self_attn.";
            String[] src = {"v_proj", "k_proj", "q_proj"};
            for (int part = 0; part < 3; part++) {
                Tensor want = te.ck().get(p + src[part] + ".weight");
                int group = part == 2 ? 1 : spec.heads() / spec.kvHeads();
                for (int r = 0; r < e; r++) {
                    int from = (r / dh / group) * dh + r % dh;
                    for (int col = 0; col < dm; col++)
                        assertEquals(want.getFloat((long) from * dm + col), in.getFloat((long) (part * e + r) * dm + col),
                                "layer " + i + " " + src[part] + " row " + r + " col " + col);
                }
            }
        }
        if (spec.kvHeads() < spec.heads()) assertTrue(spec.heads() / spec.kvHeads() == 2, "the GQA case is exercised");
    }
}
