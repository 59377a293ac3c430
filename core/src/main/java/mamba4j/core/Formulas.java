package mamba4j.core;

/** Scalar formulas shared by every backend's kernels and the reference, so each is written once. */
public final class Formulas {
    private Formulas() {}
    public static float sigmoid(float x) { return (float) (1.0 / (1.0 + Math.exp(-x))); }

    public static float silu(float x) { return x * sigmoid(x); }

    /** log1p(exp(x)), taken as x when x > 20 (mamba_ssm's kernels use the same threshold). */
    public static float softplus(float x) { return x > 20f ? x : (float) Math.log1p(Math.exp(x)); }

    // ---- the same formulas in double: the reference backend computes in double and rounds once on store

    public static double sigmoid(double x) { return 1.0 / (1.0 + Math.exp(-x)); }

    public static double silu(double x) { return x * sigmoid(x); }

    /** silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
    public static double siluGrad(double x) {
        double s = sigmoid(x);
        return s * (1.0 + x * (1.0 - s));
    }

    /** log1p(exp(x)), x when x > 20. */
    public static double softplus(double x) { return x > 20.0 ? x : Math.log1p(Math.exp(x)); }

    /** softplus'(x) = σ(x), exactly 1 where the forward takes x itself (x > 20). */
    public static double softplusGrad(double x) { return x > 20.0 ? 1.0 : sigmoid(x); }

    /** Stores v at flat index i: exactly for F64 tensors, rounded once to the tensor's dtype otherwise. */
    public static void store(Tensor t, long i, double v) {
        if (t.dtype() == DType.F64) t.segment().setAtIndex(Tensor.F64, i, v);
        else t.setFloat(i, (float) v);
    }

    /** t[i] += v, in double (see {@link #store}). */
    public static void accumulate(Tensor t, long i, double v) { store(t, i, t.getDouble(i) + v); }

    // ---- Transformer teachers

    private static final double GELU_C = Math.sqrt(2.0 / Math.PI);

    /** gelu_new(x) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), transformers' NewGELUActivation. */
    public static double geluTanh(double x) { return 0.5 * x * (1.0 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x))); }

    /** d gelu_new / dx = 0.5(1 + th) + 0.5·x·(1 − th²)·√(2/π)(1 + 3·0.044715x²), th = tanh(√(2/π)(x + 0.044715x³)). */
    public static double geluTanhGrad(double x) {
        double th = Math.tanh(GELU_C * (x + 0.044715 * x * x * x));
        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_C * (1.0 + 3 * 0.044715 * x * x);
    }

    /**
     * cos and sin tables (positions, rotaryDim/2) of rotary embeddings, computed in double and stored in the given
     * dtype: angle[p, i] = p · theta^(−2i/rotaryDim), as transformers' default rope (inv_freq = 1/theta^(2i/dim)).
     */
    public static Tensor[] ropeTables(double theta, int rotaryDim, int positions, DType dtype) {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0) throw new IllegalArgumentException("rotary dim must be even and > 0, got " + rotaryDim);
        int r = rotaryDim / 2;
        Tensor cos = Tensor.zeros(dtype, positions, r), sin = Tensor.zeros(dtype, positions, r);
        for (int i = 0; i < r; i++) {
            double inv = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
            for (int p = 0; p < positions; p++) {
                double a = p * inv;
                store(cos, (long) p * r + i, Math.cos(a));
                store(sin, (long) p * r + i, Math.sin(a));
            }
        }
        return new Tensor[]{cos, sin};
    }

}
