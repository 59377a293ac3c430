package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;

/**
 * Loss and gradients of a residual stack with per-block activation recomputation (gradient checkpointing at block
 * granularity), shared by the Mamba-1 and Mamba-2 trainables. The forward runs each block on a tape that is dropped
 * at once (its workspace reset per block), keeping only the block's input residual h_i (B·T, D); the head's tape then
 * back-propagates into h_L. Backward walks the blocks in reverse: block i is recorded again on a fresh tape from h_i,
 * its output is seeded with dL/dh_(i+1) and back-propagated, and its intermediates are freed before block i − 1.
 * Memory: (n_layer + 1)·B·T·D floats of residuals plus one block's (or the head's) intermediates, against every
 * block's on one tape; time: one more forward of every block. With the model's ops in the whole-tape order, the loss
 * and every gradient are bit-identical to the whole-model tape's (RecomputeTest).
 */
public final class BlockRecompute {
    /** The model as three pieces recorded on a tape. */
    public interface Stack {
        int layers();

        /** The embedding output h_0 (B·T, D). */
        Var embed(Tape tape, int[][] inputs);

        /** Block i: h_i → h_(i+1), (B·T, D). */
        Var block(Tape tape, int i, Var h, int b, int t);

        /** Final norm, head and the mean cross-entropy against the targets, from h_L. */
        Var loss(Tape tape, Var h, int[][] targets);
    }

    /**
     * Block recomputation on by default: at the mamba-130m shape it cuts the tape's memory from ~4.6 to ~0.57 MB per
     * token for ~30% more CPU time per step (docs/BENCHMARKS.md "Training throughput and memory");
     * {@code -Dmamba4j.recompute=false} keeps every intermediate on one tape instead.
     */
    public static final boolean DEFAULT = !"false".equals(System.getProperty("mamba4j.recompute"));

    private final Workspace residuals = new Workspace();   // the saved block inputs, reset per step
    private final Workspace block = new Workspace();       // one block's (or the head's) intermediates, reset per block
    private Parameter[] leaves;                             // see leaves()

    /** Bytes the two workspaces have reserved (they only grow): the tape's memory, for bench-train. */
    public long reservedBytes() { return residuals.reservedBytes() + block.reservedBytes(); }

    /** The loss; with {@code backward}, gradients × gradScale accumulate into the stack's parameters. */
    public double run(Backend backend, Stack m, int[][] inputs, int[][] targets, float gradScale, boolean backward) {
        int b = inputs.length, t = inputs[0].length, layers = m.layers();
        residuals.reset();
        Tape embTape = new Tape(backend, residuals);
        Var h0 = m.embed(embTape, inputs);                                                     // (B·T, D)
        long bt = h0.value().dim(0), d = h0.value().dim(1);
        Tensor[] saved = new Tensor[layers];                  // block inputs h_0 … h_(L−1), (B·T, D) each
        saved[0] = h0.value();
        Parameter[] leaf = leaves(bt, d);                     // block i reads leaf[i % 2]; the head leaf[L % 2]
        for (int i = 0; i < layers; i++) {
            block.reset();
            Tape tape = new Tape(backend, block);
            Tensor out = m.block(tape, i, tape.constant(saved[i]), b, t).value();
            Tensor next = i + 1 < layers ? (saved[i + 1] = residuals.zeros(DType.F32, bt, d)) : leaf[layers % 2].value();
            next.copyFrom(out);
        }
        // the head shares the block workspace: its logits (B·T, V') are freed before the blocks' backward
        block.reset();
        leaf[layers % 2].zeroGrad();
        Tape headTape = new Tape(backend, block);
        Var loss = m.loss(headTape, headTape.param(leaf[layers % 2]), targets);
        double value = headTape.lossValue(loss);
        if (!backward) return value;
        headTape.backward(loss, gradScale);                   // leaf[L % 2].grad() = dL/dh_L
        for (int i = layers - 1; i >= 0; i--) {
            block.reset();
            Parameter in = leaf[i % 2];
            in.value().copyFrom(saved[i]);
            in.zeroGrad();
            Tape tape = new Tape(backend, block);
            tape.backward(m.block(tape, i, tape.param(in), b, t), leaf[(i + 1) % 2].grad());   // in.grad() = dL/dh_i
        }
        embTape.backward(h0, leaf[0].grad());
        block.reset();
        return value;
    }

    /**
     * Two (B·T, D) leaves that gather a block input's gradient, used alternately (block i's input gradient is block
     * i − 1's seed). A {@link Parameter} only as the tape's gradient-accumulating leaf, never a model parameter.
     */
    private Parameter[] leaves(long bt, long d) {
        if (leaves == null || leaves[0].value().dim(0) != bt || leaves[0].value().dim(1) != d)
            leaves = new Parameter[]{new Parameter("recompute.h.even", Tensor.zeros(DType.F32, bt, d), false),
                    new Parameter("recompute.h.odd", Tensor.zeros(DType.F32, bt, d), false)};
        return leaves;
    }
}
