package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.Tensor;

/**
 * The movements between a whole-sequence forward and a decode state, as strided copies on the backend's device:
 * what every architecture's prefill needs (the last position of each sequence, a sequence's state rows).
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
}
