package mamba4j.nn;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;

import java.util.List;

/** Gradient clipping by the global L2 norm over all parameters, as torch.nn.utils.clip_grad_norm_. */
public final class GradClip {
    private GradClip() {}

    /**
     * sqrt(Σ over all grads of Σ g²), accumulated in double on the backend's device and read back once (the step's
     * one sync for clipping); NaN or ∞ when any gradient is.
     */
    public static double norm(List<Parameter> params, Backend backend) {
        Tensor sum = backend.zeros(DType.F64, 1);
        for (Parameter p : params) backend.sumSquares(p.grad(), sum, true);
        return Math.sqrt(backend.item(sum));
    }

    /**
     * Scales every gradient by maxNorm / (norm + 1e-6) when the global norm exceeds maxNorm (the 1e-6 as PyTorch);
     * maxNorm ≤ 0 disables clipping. Returns the norm before clipping.
     */
    public static double clip(List<Parameter> params, double maxNorm, Backend backend) {
        double norm = norm(params, backend);
        clipTo(params, norm, maxNorm, backend);
        return norm;
    }

    /** Clips given an already computed {@code norm} (the trainer checks it for NaN first). */
    public static void clipTo(List<Parameter> params, double norm, double maxNorm, Backend backend) {
        if (maxNorm <= 0 || !(norm > maxNorm)) return;
        float coef = (float) (maxNorm / (norm + 1e-6));
        for (Parameter p : params) backend.scale(p.grad(), coef);
    }
}
