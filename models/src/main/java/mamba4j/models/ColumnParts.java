package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Tensor;

/**
 * The column blocks of a (B, W) decode buffer, as the step reads them (x | z of in_proj, Δ | B | C of x_proj, ...).
 * At batch 1 each block is a contiguous stretch of the one row, so the parts are views of the buffer and splitting
 * costs nothing — no copy kernel, fewer nodes in a decode graph; at B > 1 they are buffers of their own, filled by
 * {@link Backend#splitColumns} or written by {@link #linear}. Nothing may write a part in place (at batch 1 it would
 * write the buffer).
 */
public final class ColumnParts {
    private final Tensor src;
    private final Tensor[] parts;
    private final boolean views;

    /** Parts of {@code src} (B, Σ widths), left to right. */
    public ColumnParts(Backend backend, Tensor src, long... widths) {
        long total = 0;
        for (long w : widths) total += w;
        if (src.rank() != 2 || src.dim(1) != total)
            throw new IllegalArgumentException("ColumnParts: " + src.shape() + " is not (B, " + total + ")");
        this.src = src;
        this.views = src.dim(0) == 1;
        parts = new Tensor[widths.length];
        long col = 0;
        for (int i = 0; i < widths.length; i++) {
            parts[i] = views ? src.view(col, 1, widths[i]) : backend.zeros(src.dim(0), widths[i]);
            col += widths[i];
        }
    }

    /** Part i: (B, widths[i]). */
    public Tensor get(int i) { return parts[i]; }

    /**
     * The buffer = x · wᵀ + bias, then its parts up to date: at batch 1 one linear into the buffer, which the parts
     * view; at B > 1 {@link Backend#linearParts}, which an accelerator runs as one product writing each part (the
     * buffer is then not written).
     */
    public void linear(Backend backend, Tensor x, Tensor w, Tensor bias) {
        if (views) backend.linear(x, w, bias, src);
        else backend.linearParts(x, w, bias, src, parts);
    }

    /**
     * The buffer = {@link Backend#causalConv1dStep} of x (state in place), then its parts up to date: at batch 1 the
     * step into the buffer, which the parts view; at B > 1 {@link Backend#causalConv1dStepParts}, which an accelerator
     * runs as one kernel writing each part.
     */
    public void convStep(Backend backend, Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu) {
        if (views) backend.causalConv1dStep(state, x, w, bias, silu, src);
        else backend.causalConv1dStepParts(state, x, w, bias, silu, src, parts);
    }

    /** Brings the parts up to date with the buffer (nothing to do at batch 1). */
    public void split(Backend backend) {
        if (!views) backend.splitColumns(src, parts);
    }

    /** Bytes the parts hold beyond the buffer's (0 at batch 1). */
    public long extraBytes() {
        long b = 0;
        if (!views) for (Tensor p : parts) b += p.byteSize();
        return b;
    }
}
