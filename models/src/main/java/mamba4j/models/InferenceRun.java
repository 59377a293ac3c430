package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;

/**
 * Runs a residual stack's one forward on inference tapes (they record nothing), one block's intermediates at a
 * time: each block gets a fresh tape over a workspace reset before it, and the residual stream lives in two buffers
 * that the blocks' outputs are copied into. Memory: 2·B·T·D floats plus the largest block's intermediates — what an
 * inference-only forward would hold, from the same code that training differentiates. The workspaces belong to the
 * model and are reused by every call (one call at a time per model), so a forward allocates nothing once they have
 * grown to its size.
 */
public final class InferenceRun implements AutoCloseable {
    private final Workspace residual = Workspace.collected();   // the two residual buffers, reset per call
    private final Workspace block = Workspace.collected();      // one block's intermediates, reset per block

    /** Returns both workspaces' memory (the collector also does, once the model is unreachable). */
    @Override public void close() {
        residual.close();
        block.close();
    }

    /** Logits (B, T, V) of every position of ids (B, T): {@code run} fills them as (B·T, V). A model's whole-sequence forward. */
    public static Tensor allPositions(Backend be, int[][] ids, int vocab, java.util.function.Consumer<Tensor> run) {
        int b = ids.length, t = ids[0].length;
        Tensor logits = be.zeros((long) b * t, vocab);
        run.accept(logits);
        return logits.reshape(b, t, vocab);
    }

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
    public synchronized void logits(Backend be, Stack m, int b, int t, Trace trace, boolean lastOnly, Tensor logits) {
        residual.on(be).reset();   // blocks on be's device (a GPU's memory for the cuda backend)
        block.on(be);
        block.reset();
        Workspace ws = block;
        {
            Tensor first = m.embed(Tape.inference(be, ws)).value();
            long d = first.dim(1);
            Tensor h = residual.zeros(DType.F32, (long) b * t, d), next = residual.zeros(DType.F32, (long) b * t, d);   // (B·T, D) residual stream
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
