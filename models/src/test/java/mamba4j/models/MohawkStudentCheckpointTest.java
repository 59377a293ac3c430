package mamba4j.models;

import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.io.Safetensors;
import mamba4j.models.discrete.MohawkStudentCheckpoint;
import mamba4j.models.discrete.MohawkStudentInit;
import mamba4j.models.discrete.StudentWeights;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TeacherLoader;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.testkit.Repo;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Phi-Mamba student's checkpoint (model_type "phi-mamba"): students built by MOHAWK's weight transfer from the
 * committed tiny Phi teacher (testdata/golden/phi/partial_rotary: D 32, 4 heads, 2 layers) — pure SSM, hybrid, without
 * lm_head bias, with tied embeddings, with BF16 matmul weights — saved, then loaded through {@link Models#load}: same
 * tensors bit for bit, logits bit-identical to the in-memory student's, decode == forward; bad checkpoints give a
 * {@link UserInputException} naming the key or tensor at fault.
 */
class MohawkStudentCheckpointTest {
    static final Path TEACHER = Repo.golden().resolve("phi").resolve("partial_rotary");
    static CheckpointTensors teacher;
    static TeacherSpec spec;
    final Backend cpu = Backends.get("cpu");

    @TempDir Path tmp;

    @BeforeAll
    static void open() {
        teacher = CheckpointTensors.open(TEACHER);
        spec = TeacherLoader.spec(TeacherLoader.config(JsonConfig.read(TEACHER.resolve("config.json"))));
    }

    @AfterAll
    static void close() { teacher.close(); }

    /** A student of the tiny teacher; chunk 5 so the chunked SSD path is exercised (as MohawkStudentTest). */
    MohawkStudent student(Set<Integer> attention) {
        MohawkStudentInit.Options d = MohawkStudentInit.defaults(spec, 7);
        return MohawkStudentInit.fromTeacher(spec, teacher, cpu, new MohawkStudentInit.Options(d.mixer().withChunkSize(5), attention, false, 7));
    }

    /** The same student with another spec, head and head bias (the constructor is public; the layers are shared). */
    static MohawkStudent withHead(MohawkStudent s, TeacherSpec spec, Tensor head, Tensor headBias) {
        StudentWeights<Tensor> w = s.weights();
        return MohawkStudent.of(spec, s.mixerConfig(), s.backend(),
                new StudentWeights<>(w.arch(), w.embedding(), w.layers(), w.normF(), w.normFBias(), head, headBias));
    }

    static TeacherSpec tied(TeacherSpec s) {
        return new TeacherSpec(s.arch(), s.vocabSize(), s.hidden(), s.intermediate(), s.layers(), s.heads(), s.kvHeads(), s.headDim(),
                s.rotaryDim(), s.ropeTheta(), s.maxPositions(), s.normEps(), true, s.eosTokenId());
    }

    static int[][] ids(int b, int t, long seed) {
        Random r = new Random(seed);
        int[][] ids = new int[b][t];
        for (int[] row : ids) for (int j = 0; j < t; j++) row[j] = r.nextInt(spec.vocabSize());
        return ids;
    }

    static byte[] bytes(Tensor t) { return t.segment().toArray(ValueLayout.JAVA_BYTE); }

    /** Saves, loads through Models.load, and checks config, tensors, logits and decode against the in-memory student. */
    void assertRoundTrip(String what, MohawkStudent s) {
        Path dir = tmp.resolve(what.replaceAll("\\W+", "_"));
        MohawkStudentCheckpoint.save(dir, s);
        try (Models.Loaded loaded = Models.load(dir, cpu)) {
            assertEquals(s.wiring().modelType(), Models.architecture(loaded.json()), what);
            MohawkStudentCheckpoint.Config c = (MohawkStudentCheckpoint.Config) loaded.config();
            assertEquals(s.spec(), c.spec(), what + " spec");
            assertEquals(s.mixerConfig(), c.mixer(), what + " mixer config");
            MohawkStudent m = (MohawkStudent) loaded.model();
            assertEquals(s.spec().tieWordEmbeddings(), !loaded.checkpoint().contains("lm_head.weight"), what + ": lm_head.weight stored iff untied");
            assertEquals(Shape.of(s.mixerConfig().convDim(), 1, s.mixerConfig().convKernel()),
                    loaded.checkpoint().shape("backbone.layers.0.mixer.conv1d.weight"), what + ": conv stored (C, 1, K)");
            Map<String, Tensor> want = s.tensors(), got = m.tensors();
            assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()), what + " tensor names");
            for (String name : want.keySet()) {
                assertEquals(want.get(name).dtype(), got.get(name).dtype(), what + " " + name + " dtype");
                assertEquals(want.get(name).shape(), got.get(name).shape(), what + " " + name + " shape");
                assertArrayEquals(bytes(want.get(name)), bytes(got.get(name)), what + " " + name);
            }
            int[][] ids = new int[2][13];
            Random r = new Random(3);
            for (int[] row : ids) for (int j = 0; j < 13; j++) row[j] = r.nextInt(s.vocabSize());
            assertArrayEquals(s.forward(ids, Trace.NONE).toFloatArray(), m.forward(ids, Trace.NONE).toFloatArray(), what + " logits");
            MohawkStudentTest.assertDecodeEqualsForward(m, what + " loaded", ids, 4, Tolerance.F32_IDENTITY, false);
        }
    }

    @Test
    void savedLlamaMambaStudentsLoadBitIdentical() {
        for (String name : List.of("llama/gqa_untied", "llama/gqa_tied")) {
            MohawkStudentTest.Teacher te = MohawkStudentTest.teacher(name);
            assertRoundTrip(name + " pure SSM", te.student(Set.of(), false, cpu));
            assertRoundTrip(name + " hybrid (attention at 1, x/B/C from V/K/Q)", te.student(Set.of(1), true, cpu));
        }
        // a Llama student whose kept attention and MLPs have biases (attention_bias, mlp_bias): every bias round-trips
        MohawkStudent h = MohawkStudentTest.teacher("llama/gqa_untied").student(Set.of(1), false, cpu);
        List<StudentWeights.Layer<Tensor>> biased = new java.util.ArrayList<>();
        Random r = new Random(5);
        StudentWeights<Tensor> hw = h.weights();
        for (StudentWeights.Layer<Tensor> l : hw.layers()) {
            StudentWeights.Attention<Tensor> a = l.attention() == null ? null : new StudentWeights.Attention<>(l.attention().q(), rand(r, l.attention().q().dim(0)),
                    l.attention().k(), rand(r, l.attention().k().dim(0)), l.attention().v(), rand(r, l.attention().v().dim(0)),
                    l.attention().o(), rand(r, l.attention().o().dim(0)));
            biased.add(new StudentWeights.Layer<>(l.norm(), null, l.mixer(), a, l.norm2(), l.gate(), rand(r, l.gate().dim(0)),
                    l.up(), rand(r, l.up().dim(0)), l.down(), rand(r, l.down().dim(0))));
        }
        MohawkStudent withBiases = MohawkStudent.of(h.spec(), h.mixerConfig(), cpu,
                new StudentWeights<>(hw.arch(), hw.embedding(), biased, hw.normF(), null, hw.lmHead(), null));
        assertRoundTrip("llama with attention and MLP biases", withBiases);
        int[][] ids = {{1, 2, 3, 4, 5}};
        assertFalse(java.util.Arrays.equals(h.forward(ids, Trace.NONE).toFloatArray(), withBiases.forward(ids, Trace.NONE).toFloatArray()),
                "the biases are used");
    }

    static Tensor rand(Random r, long n) {
        Tensor t = Tensor.zeros(mamba4j.core.DType.F32, n);
        for (long i = 0; i < n; i++) t.setFloat(i, (float) r.nextGaussian() * 0.1f);
        return t;
    }

    @Test
    void savedStudentsLoadBitIdentical() {
        assertTrue(teacher.contains("lm_head.bias"), "the tiny Phi teacher has an lm_head bias");
        assertRoundTrip("pure SSM", student(Set.of()));
        MohawkStudent hybrid = student(Set.of(1));
        assertRoundTrip("hybrid (attention at 1)", hybrid);
        assertRoundTrip("no lm_head bias", withHead(hybrid, spec, hybrid.weights().lmHead(), null));
        MohawkStudent pure = student(Set.of());
        assertRoundTrip("tied embeddings", withHead(pure, tied(spec), pure.embedding(), pure.lmHeadBias()));
    }

    @Test
    void configIsThePhiConfigPlusSsmCfgAndAttnLayers() {
        MohawkStudent s = student(Set.of(1));
        ObjectNode c = MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(1), true);
        assertEquals("phi-mamba", c.get("model_type").asText());
        assertEquals("PhiMambaForCausalLM", c.get("architectures").get(0).asText());
        ObjectNode phi = mamba4j.models.teachers.TeacherSaver.config(spec, false, false);
        for (String key : List.of("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                "partial_rotary_factor", "rope_theta", "rope_parameters", "max_position_embeddings", "layer_norm_eps", "vocab_size",
                "tie_word_embeddings", "eos_token_id", "hidden_act"))
            assertEquals(phi.get(key), c.get(key), key);
        ObjectNode ssm = (ObjectNode) c.get("ssm_cfg");
        assertEquals(8, ssm.get("d_state").asInt());
        assertEquals(4, ssm.get("n_qk_heads").asInt());
        assertEquals(4, ssm.get("n_v_heads").asInt());
        assertEquals(4, ssm.get("d_conv").asInt());
        assertEquals(1, ssm.get("expand").asInt());
        assertFalse(ssm.get("bias").asBoolean());
        assertTrue(ssm.get("conv_bias").asBoolean());
        assertEquals(5, ssm.get("chunk_size").asInt());
        assertEquals("[1]", c.get("attn_layers").toString());
        assertEquals("[0,1]", MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(1, 0), true).get("attn_layers").toString(), "sorted");
        JsonConfig json = JsonConfig.of(tmp.resolve("config.json"), c);
        assertEquals(spec, MohawkStudentCheckpoint.spec(json));
        assertEquals(s.mixerConfig(), MohawkStudentCheckpoint.mixerConfig(json));
        assertEquals(Set.of(1), MohawkStudentCheckpoint.attentionLayers(json));
    }

    @Test
    void matmulWeightsMayBeBf16AndTheConvMayBeCK() {
        MohawkStudent s = student(Set.of(1));
        ObjectNode config = MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(1), true);
        // BF16 linear weights and embedding (stored dtype kept by the loader), conv written (C, K) directly
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : s.tensors().entrySet()) {
            boolean matmul = e.getValue().rank() == 2 && !e.getKey().endsWith("conv1d.weight");
            t.put(e.getKey(), matmul ? e.getValue().to(DType.BF16) : e.getValue());
        }
        Path dir = tmp.resolve("bf16");
        MohawkStudentCheckpoint.save(dir, config, t);
        Safetensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "pt"));     // conv (C, K), as stored in memory
        try (Models.Loaded loaded = Models.load(dir, cpu)) {
            assertEquals(2, loaded.checkpoint().shape("backbone.layers.0.mixer.conv1d.weight").rank(), "conv stored (C, K)");
            MohawkStudent m = (MohawkStudent) loaded.model();
            assertEquals(DType.BF16, m.tensors().get("backbone.layers.0.mixer.in_proj.weight").dtype());
            assertEquals(DType.BF16, m.tensors().get("backbone.layers.1.mixer.q_proj.weight").dtype());
            assertEquals(DType.BF16, m.embedding().dtype());
            MohawkStudentTest.assertDecodeEqualsForward(m, "bf16 weights", ids(2, 9, 4), 3, Tolerance.F32_IDENTITY, false);
        }
    }

    // ------------------------------------------------------------------ bad inputs

    /** A good hybrid checkpoint, edited, must fail to load with every fragment in the message. */
    void assertRejected(Consumer<ObjectNode> editConfig, Consumer<LinkedHashMap<String, Tensor>> editTensors, String... fragments) {
        MohawkStudent s = student(Set.of(1));
        Path dir = tmp.resolve("bad" + System.nanoTime());
        ObjectNode config = MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(1), true);
        editConfig.accept(config);
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>(s.tensors());
        editTensors.accept(t);
        MohawkStudentCheckpoint.save(dir, config, t);
        UserInputException e = assertThrows(UserInputException.class, () -> Models.load(dir, cpu).close());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message should contain '" + f + "': " + e.getMessage());
    }

    static void none(Object o) {}

    @Test
    void badCheckpointsNameTheProblem() {
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.remove("backbone.layers.0.mixer.D"), "missing tensor 'backbone.layers.0.mixer.D'");
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.put("backbone.layers.0.mixer.D", Tensor.zeros(DType.F32, 5)),
                "'backbone.layers.0.mixer.D'", "(5)", "(4)");
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.put("backbone.layers.0.mixer.conv1d.weight", Tensor.zeros(DType.F32, 96, 3)),
                "'backbone.layers.0.mixer.conv1d.weight'", "(96, 1, 3)", "(96, 1, 4)");
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.remove("backbone.layers.1.mixer.q_proj.weight"),
                "missing tensor 'backbone.layers.1.mixer.q_proj.weight'");
        assertRejected(c -> c.putArray("attn_layers").add(1).add(2), MohawkStudentCheckpointTest::none, "attn_layers", "layer 2", "num_hidden_layers is 2");
        assertRejected(c -> c.putArray("attn_layers").add(-1), MohawkStudentCheckpointTest::none, "attn_layers", "layer -1");
        assertRejected(c -> ((ObjectNode) c.get("ssm_cfg")).remove("d_state"), MohawkStudentCheckpointTest::none, "ssm_cfg.d_state");
        assertRejected(c -> ((ObjectNode) c.get("ssm_cfg")).remove("chunk_size"), MohawkStudentCheckpointTest::none, "ssm_cfg.chunk_size");
        assertRejected(c -> c.remove("ssm_cfg"), MohawkStudentCheckpointTest::none, "ssm_cfg");
        assertRejected(c -> ((ObjectNode) c.get("ssm_cfg")).put("n_qk_heads", 3), MohawkStudentCheckpointTest::none, "config.json", "n_qk_heads 3");
        assertRejected(c -> ((ObjectNode) c.get("ssm_cfg")).put("activation", "silu"), MohawkStudentCheckpointTest::none, "ssm_cfg.activation", "silu");
        // the config decides which tensors exist: an extra one is an error, not silently dropped
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.put("backbone.layers.0.mixer.in_proj.bias", Tensor.zeros(DType.F32, 4)),
                "unexpected tensor 'backbone.layers.0.mixer.in_proj.bias'");
        assertRejected(c -> c.put("lm_head_bias", false), MohawkStudentCheckpointTest::none, "unexpected tensor 'lm_head.bias'");
        assertRejected(MohawkStudentCheckpointTest::none, t -> t.remove("lm_head.bias"), "missing tensor 'lm_head.bias'");
        // attention at layer 0 in the config, a mixer's tensors in the checkpoint
        assertRejected(c -> c.putArray("attn_layers").add(0).add(1), MohawkStudentCheckpointTest::none, "missing tensor 'backbone.layers.0.mixer.q_proj.weight'");
    }

    @Test
    void configRejectsAttentionLayersOutOfRange() {
        MohawkStudent s = student(Set.of());
        assertThrows(IllegalArgumentException.class, () -> MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(2), true));
        assertThrows(IllegalArgumentException.class, () -> MohawkStudentCheckpoint.config(spec, s.mixerConfig(), Set.of(-1), true));
    }
}
