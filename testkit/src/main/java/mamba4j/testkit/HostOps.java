package mamba4j.testkit;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;

/** Test shorthands for the reductions of the op set with host inputs and a value read back (one sync each). */
public final class HostOps {
    private HostOps() {}

    /** {@link Backend#crossEntropy} with host targets; returns the loss. */
    public static double crossEntropy(Backend be, Tensor logits, int[] targets, float scale, Tensor dLogits) {
        Tensor loss = be.zeros(DType.F64, 1);
        be.crossEntropy(logits, be.ids(targets), scale, dLogits, loss);
        return be.item(loss);
    }

    /** {@link Backend#sumSquares} of one tensor, read back. */
    public static double sumSquares(Backend be, Tensor x) {
        Tensor out = be.zeros(DType.F64, 1);
        be.sumSquares(x, out, false);
        return be.item(out);
    }
}
