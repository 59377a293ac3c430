package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.Tensor;

/**
 * The movements between a whole-sequence forward and a decode state, as strided copies on the backend's device:
 * what every architecture's prefill needs (conv history, the last position of each sequence).
 */
public final class SequenceCopies {
    private SequenceCopies() {}

    /** out[b, :] = h[b·T + T − 1, :]: each sequence's last position. h (B·T, D); out (B, D). */
    public static void lastPositions(Backend be, Tensor h, int b, int t, Tensor out) {
        long d = out.dim(1);
        be.copy(h, out, CopyRegion.block(b, d, (long) (t - 1) * d, (long) t * d, 0, d));
    }

    /**
     * Row {@code dstRow} of dst = row {@code srcRow} of src, for tensors (B, ...) whose rows are one sequence's state
     * (conv_state, ssm_state): the batches may differ, the rest of the shape must not.
     */
    public static void copyRow(Backend be, Tensor src, int srcRow, Tensor dst, int dstRow) {
        long row = src.numel() / src.dim(0);
        if (dst.numel() / dst.dim(0) != row || src.rank() != dst.rank())
            throw new IllegalArgumentException("copyRow: " + src.shape() + " and " + dst.shape() + " differ past the batch");
        if (srcRow < 0 || srcRow >= src.dim(0) || dstRow < 0 || dstRow >= dst.dim(0))
            throw new IllegalArgumentException("copyRow: row " + srcRow + " of " + src.shape() + " into row " + dstRow + " of " + dst.shape());
        be.copy(src, dst, CopyRegion.contiguous(row, srcRow * row, dstRow * row));
    }

    /**
     * silu?(conv(x)) for sequences that continue those whose last K conv inputs are in convState (B, C, K), oldest
     * first, and the new conv_state: the conv runs over [K − 1 history inputs | T new] and drops the first K − 1
     * outputs. From a zero state this equals {@link Backend#causalConv1d} (zero padding), convState then holding the last
     * K inputs. x (B·T, C); out (B, T, C).
     */
    public static void convWithHistory(Backend be, Tensor x, int b, int t, Tensor convState, Tensor w, Tensor bias, boolean silu, Tensor out) {
        convWithHistory(be, be::zeros, x, b, t, convState, w, bias, silu, out);
    }

    /** Where {@link #convWithHistory} takes its two (B, T + K − 1, C) intermediates from. */
    @FunctionalInterface
    public interface Scratch { Tensor zeros(long... dims); }

    /** {@link #convWithHistory(Backend, Tensor, int, int, Tensor, Tensor, Tensor, boolean, Tensor)}, its intermediates from {@code scratch}. */
    public static void convWithHistory(Backend be, Scratch scratch, Tensor x, int b, int t, Tensor convState, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int c = convState.size(1), k = convState.size(2), th = t + k - 1;
        Tensor hist = scratch.zeros(b, th, c), histOut = scratch.zeros(b, th, c);
        // hist[b, j, :] = conv_state[b, :, j + 1] for j < K − 1 (the history), then hist[b, K − 1 + τ, :] = x[b, τ, :]
        be.copy(convState, hist, new CopyRegion(new long[]{b, k - 1, c}, 1, new long[]{(long) c * k, 1, k}, 0, new long[]{(long) th * c, c, 1}));
        be.copy(x, hist, CopyRegion.block(b, (long) t * c, 0, (long) t * c, (long) (k - 1) * c, (long) th * c));
        be.causalConv1d(hist, w, bias, silu, histOut);
        be.copy(histOut, out, CopyRegion.block(b, (long) t * c, (long) (k - 1) * c, (long) th * c, 0, (long) t * c));
        // conv_state[b, :, j] = the input at history position th − K + j
        be.copy(hist, convState, new CopyRegion(new long[]{b, k, c}, (long) (th - k) * c, new long[]{(long) th * c, c, 1},
                0, new long[]{(long) c * k, 1, k}));
    }
}
