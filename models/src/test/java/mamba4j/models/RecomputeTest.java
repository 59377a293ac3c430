package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.autograd.Parameter;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.nn.TrainableModel;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Block recomputation (activation checkpointing) runs the same ops in the same order as the whole-model tape, so
 * the loss and every gradient are bit-identical with it on and off: an identity, no tolerance. Two accumulated
 * steps with different lengths catch state left over between steps; an odd (Mamba-1, 3) and an even (Mamba-2, 2)
 * number of blocks cover both parities of the alternating residual leaves.
 */
class RecomputeTest {
    @Test
    void mamba1GradientsAreBitIdentical() {
        for (Backend be : new Backend[]{Backends.get("cpu"), mamba4j.core.Backends.reference()})
            for (boolean selective : new boolean[]{true, false}) {
                var cfg = Mamba1IdentityTest.TINY.withSelective(selective);
                Mamba1Model m = Mamba1Model.trainable(cfg, be, Mamba1Init.weights(cfg, DType.F32, 11), "backbone.embeddings.weight");
                assertBitIdentical("mamba1 " + (selective ? "selective" : "time-invariant") + " (" + be.getClass().getSimpleName() + ")",
                        m, m::setRecompute, Mamba1IdentityTest.TINY.vocabSize());
            }
    }

    @Test
    void mamba2GradientsAreBitIdentical() {
        Backend be = Backends.get("cpu");
        for (boolean perGroup : new boolean[]{false, true}) {
            Mamba2Model src = Mamba2IdentityTest.perturbed(Mamba2IdentityTest.tiny(5, perGroup, 1.5), 12, be);
            Mamba2Model m = Mamba2Model.trainable(src.config(), be, src.weights(), "backbone.embeddings.weight");
            assertBitIdentical("mamba2 " + (perGroup ? "per-group norm" : "all-E norm"), m, m::setRecompute,
                    Mamba2IdentityTest.TINY.vocabSize());
        }
    }

    /** Loss, validation loss and gradients of two accumulated steps (B 2, T 11 then B 1, T 7) with recompute off, then on. */
    private static void assertBitIdentical(String what, TrainableModel m, Consumer<Boolean> setRecompute, int vocab) {
        int[][] a = Mamba1IdentityTest.ids(2, 11, 21), b = Mamba1IdentityTest.ids(1, 7, 22);
        for (int[] row : a) for (int j = 0; j < row.length; j++) row[j] %= vocab;
        for (int[] row : b) for (int j = 0; j < row.length; j++) row[j] %= vocab;
        int[][] ta = mamba4j.models.TokenIds.nextTokenTargets(a), tb = mamba4j.models.TokenIds.nextTokenTargets(b);
        ta[1][3] = -100;                                               // an ignored target inside the sequence
        List<Parameter> params = m.parameters();

        setRecompute.accept(false);
        params.forEach(Parameter::zeroGrad);
        double[] want = {m.lossAndBackward(a, ta, 1f), m.lossAndBackward(b, tb, 0.5f), m.loss(a, ta)};
        float[][] wantGrads = params.stream().map(p -> p.grad().toFloatArray()).toArray(float[][]::new);

        setRecompute.accept(true);
        params.forEach(Parameter::zeroGrad);
        double[] got = {m.lossAndBackward(a, ta, 1f), m.lossAndBackward(b, tb, 0.5f), m.loss(a, ta)};
        for (int i = 0; i < want.length; i++)
            assertEquals(Double.doubleToRawLongBits(want[i]), Double.doubleToRawLongBits(got[i]),
                    what + ": loss " + i + " recompute " + got[i] + " vs tape " + want[i]);
        for (int i = 0; i < params.size(); i++) {
            float[] g = params.get(i).grad().toFloatArray(), w = wantGrads[i];
            boolean anyNonZero = false;
            for (int j = 0; j < w.length; j++) {
                anyNonZero |= w[j] != 0f;
                if (Float.floatToRawIntBits(g[j]) != Float.floatToRawIntBits(w[j]))
                    fail(what + ": " + params.get(i).name() + "[" + j + "] recompute " + g[j] + " vs tape " + w[j]);
            }
            if (!anyNonZero && !params.get(i).name().endsWith("bias"))
                fail(what + ": " + params.get(i).name() + " got no gradient at all (the comparison would be vacuous)");
        }
    }
}
