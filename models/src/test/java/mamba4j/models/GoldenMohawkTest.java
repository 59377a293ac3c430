package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.io.SafetensorsFile;
import mamba4j.models.discrete.DiscreteMamba2Mixer;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.distill.HiddenStateAlignment;
import mamba4j.models.distill.KnowledgeDistillation;
import mamba4j.models.distill.MatrixOrientation;
import mamba4j.models.distill.Stage;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.testkit.Repo;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The MOHAWK student against goombalab/phi-mamba's reference code, run in float64 PyTorch by
 * tools/golden/make_mohawk_golden.py (testdata/golden/mohawk/phi_mamba): the same student checkpoint (phi-mamba's
 * state_dict names, mamba4j's phi-mamba config), the same Phi teacher (transformers), the same batch.
 * <ul>
 * <li>each Discrete Mamba-2 mixer's output and its materialised (L×L per head) matrix, given phi-mamba's mixer input
 *     LN_l(h_l) (phi-mamba's Mixer.forward / materialize_mixer);</li>
 * <li>the student end to end (logits) and each block on the teacher's h_l;</li>
 * <li>the three stage losses through mamba4j's own stages ({@link MatrixOrientation}, {@link HiddenStateAlignment},
 *     {@link KnowledgeDistillation}, teacher targets from mamba4j's teacher), and per layer on phi-mamba's teacher
 *     targets. Conventions (the same on both sides, phi-mamba's assets/mohawk_stage{1,2}.py and the paper): stage 1 =
 *     Σ_l mean_{batch,head} ‖T_l − A_l‖_F (not squared), stage 2 = Σ_l mean_{batch,token} ‖block_l(h_l) − h_{l+1}‖₂ (not
 *     squared, the whole block), stage 3 = mean_token CE(softmax(teacher), student), τ = 1;</li>
 * <li>each stage's gradient w.r.t. every student tensor (the hand-written backward of the distances and the tape)
 *     against autograd through phi-mamba's code; a tensor phi-mamba gives no gradient must get exactly none.</li>
 * </ul>
 * Every quantity is an F32 computation against an F64 one of the same math: {@link Tolerance#F32_VS_F64} (the stage
 * losses are norms of differences of O(1) quantities that do not nearly cancel, so their relative error is the
 * forward's). Worst seen with the committed files: mixer output 2.1e-7, matrix 1.1e-7, block 2.3e-7, logits 3.0e-7,
 * stage losses 2.3e-8.
 */
class GoldenMohawkTest {
    static final String MISSING = "no MOHAWK golden files: run `bash tools/golden/make_outside_truth.sh OUT` on the GPU host "
            + "and unpack OUT/outside-truth.tgz in the repository root (tools/golden/README.md, \"Outside truth\")";

    static Path dir() {
        Path d = Repo.golden().resolve("mohawk").resolve("phi_mamba");
        assertTrue(Files.exists(d.resolve("expected.safetensors")), MISSING + " (missing " + d + ")");
        return d;
    }

    static int[][] ids(Path dir) {
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("input.safetensors"))) {
            Tensor t = f.get("input_ids");
            int b = (int) t.shape().dims()[0], l = (int) t.shape().dims()[1];
            int[][] out = new int[b][l];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < l; j++) out[i][j] = Math.toIntExact(t.getLong((long) i * l + j));
            return out;
        }
    }

    /** An F64 golden tensor as F32 (a copy that outlives the file), reshaped. */
    static Tensor f32(SafetensorsFile f, String name, long... dims) {
        Tensor t = f.get(name).to(DType.F32);
        return dims.length == 0 ? t : t.reshape(dims);
    }

    /**
     * Gradients of a stage loss, F32 against F64 autograd, relative per tensor: the backward of the distances is
     * hand-written and sums over B·H·L² (stage 1) or B·L rows in F32; worst seen 1.0e-6 (stage 3), so 1e-5 leaves 10×
     * (the `grad` command's golden tests allow 1e-4 over whole models).
     */
    static final double GRAD_REL = 1e-5;

    static double scalar(SafetensorsFile f, String name) { return f.get(name).toDoubleArray()[0]; }

    static void assertScalar(String what, double actual, double expected) {
        assertRelClose(what, new double[]{actual}, new double[]{expected}, Tolerance.F32_VS_F64);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cpu", "reference"})
    void mixerOutputAndMatrixMatchPhiMamba(String backend) {
        Path dir = dir();
        Backend be = Backends.get(backend);
        int[][] ids = ids(dir);
        int b = ids.length, t = ids[0].length;
        try (Models.Loaded ls = Models.load(dir.resolve("student"), be);
             SafetensorsFile want = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            MohawkStudent s = (MohawkStudent) ls.model();
            int d = s.spec().hidden(), h = s.mixerConfig().nVHeads();
            for (int l = 0; l < s.spec().layers(); l++) {
                DiscreteMamba2Mixer mixer = s.mixer(l);
                Tensor u = f32(want, "mixer_input." + l, (long) b * t, d);
                Tensor out = Tensor.zeros(DType.F32, (long) b * t, d);
                mixer.forward(u, b, t, out, null, Trace.NONE);
                assertRelClose("layer " + l + " mixer output", out.reshape(b, t, d), want.get("mixer_output." + l), Tolerance.F32_VS_F64);
                Tensor m = mixer.materialize(u, b, t);
                assertEquals(want.get("matrix." + l).shape(), m.shape(), "matrix shape (B, H, L, L), H = " + h);
                assertRelClose("layer " + l + " materialised matrix", m, want.get("matrix." + l), Tolerance.F32_VS_F64);
            }
            Tensor logits = s.forward(ids, Trace.NONE);
            assertRelClose("student logits", logits, want.get("student_logits"), Tolerance.F32_VS_F64);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cpu", "reference"})
    void stageLossesMatchPhiMamba(String backend) {
        Path dir = dir();
        Backend be = Backends.get(backend);
        int[][] ids = ids(dir);
        int b = ids.length, t = ids[0].length;
        try (Models.Loaded lt = Models.load(dir.resolve("teacher"), be);
             Models.Loaded ls = Models.load(dir.resolve("student"), be);
             SafetensorsFile want = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            TransformerLM teacher = (TransformerLM) lt.model();
            MohawkStudent student = ((MohawkStudent) ls.model()).trainable();
            int d = student.spec().hidden(), layers = student.spec().layers();

            // per layer, on phi-mamba's own teacher targets (the student side alone)
            for (int l = 0; l < layers; l++) {
                Tensor hl = f32(want, "teacher_residual." + l, (long) b * t, d);
                Tensor next = f32(want, "teacher_residual." + (l + 1), (long) b * t, d);
                Tape tape = student.newTape();
                double s1 = tape.lossValue(student.matrixDistance(tape, l, tape.constant(hl), b, t, f32(want, "teacher_attention." + l)));
                assertScalar("stage 1, layer " + l, s1, scalar(want, "stage1." + l));
                tape = student.newTape();
                var block = student.block(tape, l, tape.constant(hl), b, t);
                assertRelClose("block " + l + " output", block.value().reshape(b, t, d), want.get("block_output." + l), Tolerance.F32_VS_F64);
                double s2 = tape.lossValue(tape.rowDistance(block, next));
                assertScalar("stage 2, layer " + l, s2, scalar(want, "stage2." + l));
            }

            // the stages as `distill` runs them: mamba4j's teacher gives the targets; their gradients against autograd
            try (SafetensorsFile grads = SafetensorsFile.open(dir.resolve("grads.safetensors"))) {
                List<Stage> stages = List.of(new MatrixOrientation(teacher, student), new HiddenStateAlignment(teacher, student),
                        new KnowledgeDistillation(teacher, student, 1.0));
                for (int k = 1; k <= 3; k++) {
                    for (Parameter p : student.parameters()) p.zeroGrad();
                    stages.get(k - 1).lossAndBackward(ids, null, 1f);
                    int compared = 0;
                    for (Parameter p : student.parameters()) {
                        String key = "grad.stage" + k + "." + p.name();
                        double[] got = p.grad().toDoubleArray();
                        if (grads.names().contains(key)) {
                            assertRelClose("stage " + k + " gradient of " + p.name(), got, grads.get(key).toDoubleArray(), GRAD_REL);
                            compared++;
                        } else {
                            for (double g : got)
                                if (g != 0) throw new AssertionError("stage " + k + ": " + p.name() + " has a gradient; phi-mamba's is zero");
                        }
                    }
                    assertTrue(compared > 0, "no stage " + k + " gradients in grads.safetensors");
                }
            }

            // the stages as `distill` runs them: mamba4j's teacher gives the targets
            assertScalar("stage 1 (matrix orientation)", new MatrixOrientation(teacher, student).loss(ids, null), scalar(want, "stage1"));
            assertScalar("stage 2 (hidden-state alignment)", new HiddenStateAlignment(teacher, student).loss(ids, null), scalar(want, "stage2"));
            assertScalar("stage 3 (knowledge distillation, τ = 1)", new KnowledgeDistillation(teacher, student, 1.0).loss(ids, null),
                    scalar(want, "stage3"));
        }
    }
}
