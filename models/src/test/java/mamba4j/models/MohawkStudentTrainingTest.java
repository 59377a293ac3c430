package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.discrete.DiscreteMamba2Mixer;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Set;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The student's training forward against its inference path (the tape records the same computation), and the
 * stage-1 loss against the materialised mixer of {@link DiscreteMamba2Mixer#materialize} (whose product with x is
 * tested to equal the mixer in {@code DiscreteMamba2MixerTest}) and the teacher's attention probabilities.
 */
class MohawkStudentTrainingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {MohawkStudentTest.PHI, "llama/gqa_untied", "llama/gqa_tied"})
    void trainingForwardEqualsInferenceForward(String teacher) {
        MohawkStudentTest.Teacher te = MohawkStudentTest.teacher(teacher);
        for (Set<Integer> attention : java.util.List.of(Set.<Integer>of(), Set.of(1), Set.of(0, 1))) {
            Backend be = Backends.get("cpu");
            MohawkStudent s = te.student(attention, false, be);
            MohawkStudent tr = s.trainable();
            int[][] ids = te.ids(2, 13, 5);
            Tensor expected = s.forward(ids, Trace.NONE);
            Tensor actual = tr.logits(tr.newTape(), ids).value();
            assertRelClose("logits, attention at " + attention, actual.toFloatArray(), expected.toFloatArray(), 1e-5);
            assertRelClose("the trainable's inference forward over its parameters", tr.forward(ids, Trace.NONE).toFloatArray(), expected.toFloatArray(), 1e-6);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {MohawkStudentTest.PHI, "llama/gqa_untied"})
    void matrixDistanceIsTheFrobeniusDistanceOfTheMaterialisedMixerToTheTeachersAttention(String name) {
        MohawkStudentTest.Teacher te = MohawkStudentTest.teacher(name);
        Backend be = Backends.get("reference");
        MohawkStudent s = te.student(Set.of(), false, be);
        MohawkStudent tr = s.trainable();
        TransformerLM teacher = te.model(be);
        int[][] ids = te.ids(2, 9, 8);
        int b = 2, t = 9, h = te.spec().heads(), layers = te.spec().layers();
        Tensor[] residual = new Tensor[layers + 1], probs = new Tensor[layers];
        teacher.forward(ids, new Trace() {
            @Override public void record(String name, int layer, Tensor x) {
                if (name.equals("embedding")) residual[0] = x.copy();
                if (name.equals("block_out")) residual[layer + 1] = x.copy();
                if (name.equals("attn_probs")) probs[layer] = x.copy();
            }

            @Override public boolean wants(String name) { return true; }
        });
        for (int l = 0; l < layers; l++) {
            Tape tape = tr.newTape();
            double loss = tape.lossValue(tr.matrixDistance(tape, l, tape.constant(residual[l]), b, t, probs[l]));
            // by hand: u = norm_l(h_l) (Phi LayerNorm, Llama RMSNorm) through the student's layer, T = materialize(u),
            // mean over (b, h) of ‖T − A‖_F
            var layer = s.weights().layers().get(l);
            Tensor u = Tensor.zeros(mamba4j.core.DType.F32, (long) b * t, te.spec().hidden());
            if (s.wiring().llama()) be.rmsNorm(residual[l], layer.norm(), (float) te.spec().normEps(), u);
            else be.layerNorm(residual[l], layer.norm(), layer.normBias(), (float) te.spec().normEps(), u);
            Tensor m = s.mixer(l).materialize(u, b, t);
            double want = 0;
            for (int bh = 0; bh < b * h; bh++) {
                double sq = 0;
                for (int k = 0; k < t * t; k++) {
                    double e = m.getDouble((long) bh * t * t + k) - probs[l].getDouble((long) bh * t * t + k);
                    sq += e * e;
                }
                want += Math.sqrt(sq) / (b * h);
            }
            assertEquals(want, loss, 1e-5 * want, "layer " + l);
            assertTrue(loss > 0.1, "an untrained student is far from the teacher: " + loss);
        }
    }

    @Test
    void frozenParametersGetNoGradient() {
        Backend be = Backends.get("cpu");
        MohawkStudent tr = MohawkStudentTest.student(Set.of(), false, be).trainable();
        tr.trainOnly(n -> n.contains(".mixer."));
        assertTrue(tr.parameters().stream().allMatch(p -> p.name().contains(".mixer.")));
        assertTrue(tr.parameters().size() < tr.allParameters().size());
        int[][] ids = MohawkStudentTest.ids(1, 7, 2);
        int[][] targets = MohawkStudentTest.ids(1, 7, 3);
        tr.lossAndBackward(ids, targets, 1f);
        for (var p : tr.allParameters()) {
            double norm = 0;
            for (float x : p.grad().toFloatArray()) norm += x * x;
            if (p.name().contains(".mixer.")) continue;
            assertEquals(0, norm, 0, "frozen " + p.name());
        }
    }
}
