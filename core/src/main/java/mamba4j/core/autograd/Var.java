package mamba4j.core.autograd;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;

/**
 * A value recorded on a {@link Tape}, with its gradient. A leaf made from a {@link Parameter} accumulates into
 * the parameter's own gradient tensor; intermediate gradients are allocated when the first contribution arrives.
 * A reshaped view shares value and gradient storage with its base.
 */
public final class Var {
    private final Tensor value;
    private final boolean requiresGrad;
    private final Parameter param;
    private final Var base;       // non-null for reshape views
    private final Workspace ws;   // where lazily allocated gradients come from (null: the GC heap)
    private Tensor grad;

    Var(Tensor value, boolean requiresGrad, Parameter param, Var base, Workspace ws) {
        this.value = value;
        this.requiresGrad = requiresGrad;
        this.param = param;
        this.base = base;
        this.ws = ws;
        if (param != null) grad = param.grad();
    }

    /** Takes g as this value's first gradient (no copy); false when a gradient exists or this is a view/parameter. */
    boolean adopt(Tensor g) {
        if (base != null || param != null || grad != null) return false;
        grad = g.reshape(value.shape().dims());
        return true;
    }

    public Tensor value() { return value; }
    public boolean requiresGrad() { return requiresGrad; }
    public Parameter parameter() { return param; }

    /** The gradient so far, or null when nothing has flowed into this value. */
    public Tensor grad() {
        if (base != null) {
            Tensor g = base.grad();
            return g == null ? null : g.reshape(value.shape().dims());
        }
        return grad;
    }

    /** The gradient tensor, allocating zeros if nothing flowed in yet (for ops that accumulate into it). */
    Tensor gradForAccumulate() {
        if (base != null) return base.gradForAccumulate().reshape(value.shape().dims());
        DType d = value.dtype() == DType.F64 ? DType.F64 : DType.F32;   // as the tape's intermediates
        if (grad == null) grad = ws == null ? Tensor.zeros(d, value.shape()) : ws.zeros(d, value.shape().dims());
        return grad;
    }

    /** Same storage, another shape; gradients flow to this Var. */
    public Var reshape(long... dims) {
        return new Var(value.reshape(dims), requiresGrad, null, base != null ? base : this, ws);
    }

    @Override public String toString() { return "Var" + value.shape() + (requiresGrad ? " (grad)" : ""); }
}
