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

    /**
     * conv_state[b, :, j] = x[b, T − K + j, :], zeros where T − K + j &lt; 0: the last K conv inputs of each sequence,
     * oldest first (transformers' conv cache layout). x (B·T, C); convState (B, C, K).
     */
    public static void keepConvInputs(Backend be, Tensor x, int b, int t, Tensor convState) {
        int c = convState.size(1), k = convState.size(2);
        int j0 = Math.max(0, k - t);                                   // the first K − T slots stay 0 for short prompts
        if (j0 > 0) be.fill(convState, 0f);
        be.copy(x, convState, new CopyRegion(new long[]{b, k - j0, c}, (long) (t - k + j0) * c, new long[]{(long) t * c, c, 1},
                j0, new long[]{(long) c * k, 1, k}));
    }

    /** out[b, :] = h[b·T + T − 1, :]: each sequence's last position. h (B·T, D); out (B, D). */
    public static void lastPositions(Backend be, Tensor h, int b, int t, Tensor out) {
        long d = out.dim(1);
        be.copy(h, out, CopyRegion.block(b, d, (long) (t - 1) * d, (long) t * d, 0, d));
    }
}
