package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;

/**
 * Runs a residual stack's one forward on inference tapes (they record nothing), one block's intermediates at a
 * time: each block gets a fresh tape over a workspace reset before it, and the residual stream lives in two buffers
 * that the blocks' outputs are copied into. Memory: 2·B·T·D floats plus the largest block's intermediates — what an
 * inference-only forward would hold, from the same code that training differentiates.
 */
public final class InferenceRun {
    private InferenceRun() {}

    /** The model as its three pieces on a tape (the same pieces training records). */
    public interface Stack {
        int layers();

        /** h_0 (B·T, D). */
        Var embed(Tape tape);

        /** Block i: h_i → h_(i+1). */
        Var block(Tape tape, int i, Var h);

        /** Final norm and head: (R, D) → logits (R, V'). */
        Var head(Tape tape, Var h);
    }

    /**
     * Writes the logits of every position (B·T, V') into {@code logits}, or with {@code lastOnly} those of each
     * sequence's last position (B, V'). The trace sees "embedding", each "block_out" and (through the head) "norm_f".
     */
    public static void logits(Backend be, Stack m, int b, int t, Trace trace, boolean lastOnly, Tensor logits) {
        try (Workspace ws = new Workspace()) {
            Tensor first = m.embed(Tape.inference(be, ws)).value();
            long d = first.dim(1);
            Tensor h = be.zeros((long) b * t, d), next = be.zeros((long) b * t, d);    // (B·T, D) residual stream
            be.copy(first, h);
            trace.record("embedding", -1, h);
            for (int i = 0; i < m.layers(); i++) {
                ws.reset();
                Tape tape = Tape.inference(be, ws);
                be.copy(m.block(tape, i, tape.constant(h)).value(), next);
                Tensor swap = h;
                h = next;
                next = swap;
                trace.record("block_out", i, h);
            }
            ws.reset();
            Tape tape = Tape.inference(be, ws);
            Tensor rows = h;
            if (lastOnly) {
                rows = next.rows(0, b);
                SequenceCopies.lastPositions(be, h, b, t, rows);
            }
            be.copy(m.head(tape, tape.constant(rows)).value(), logits);
        }
    }
}
