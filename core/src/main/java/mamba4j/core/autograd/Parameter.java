package mamba4j.core.autograd;

import mamba4j.core.DType;
import mamba4j.core.Tensor;

/**
 * A trainable tensor: its value (F32 master copy; F64 in float64 gradient checks on the reference), its gradient
 * (same dtype and shape, accumulated by backward, zeroed by the optimizer loop) and whether AdamW's weight decay
 * applies (not to A_log, D, norms, biases — mamba_ssm).
 * {@code name} is the checkpoint name (e.g. {@code backbone.layers.0.mixer.in_proj.weight}).
 */
public final class Parameter {
    private final String name;
    private final Tensor value;
    private final Tensor grad;
    private final boolean weightDecay;

    public Parameter(String name, Tensor value, boolean weightDecay) {
        if (value.dtype() != DType.F32 && value.dtype() != DType.F64)
            throw new IllegalArgumentException("parameter " + name + " must be F32 (master weights; F64 for float64 checks on the reference), got "
                    + value.dtype());
        this.name = name;
        this.value = value;
        this.grad = Tensor.zeros(value.dtype(), value.shape());
        this.weightDecay = weightDecay;
    }

    public String name() { return name; }
    public Tensor value() { return value; }
    public Tensor grad() { return grad; }
    public boolean weightDecay() { return weightDecay; }

    public void zeroGrad() { grad.fill(0f); }

    @Override public String toString() { return "Parameter[" + name + " " + value.shape() + "]"; }
}
