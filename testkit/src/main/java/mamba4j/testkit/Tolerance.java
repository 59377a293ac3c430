package mamba4j.testkit;

/** Named tolerances, each with the reason it is what it is. Relative Frobenius errors ‖a−b‖/‖b‖ unless said otherwise. */
public final class Tolerance {
    private Tolerance() {}

    /** F32 compute against a float64 PyTorch reference, relative ‖a−b‖/‖b‖: float32 rounding over a few layers (issue 2). */
    public static final double F32_VS_F64 = 1e-5;

    /** Fast kernel against the scalar reference, both F32: only the summation order differs. */
    public static final double FAST_VS_REFERENCE = 2e-6;

    /**
     * Fast linear with Q8_0/Q4_0 weights against the reference: both see the same weights — a dequantised weight d·q is
     * an exact float (11 significant bits times at most 8) — so, as for F32 weights, only the summation order differs.
     */
    public static final double QUANTISED_VS_REFERENCE = FAST_VS_REFERENCE;

    /** Two F32 computations of the same math by different algorithms (decode vs forward, chunked vs recurrent). */
    public static final double F32_IDENTITY = 1e-5;

    /** Movement and gathers (copy, fill, upload/download, embedding rows, BF16/F16 widening): no arithmetic, so bit for bit. */
    public static final double EXACT = 0;

    /**
     * Fast F32 against the reference for outputs that sum hundreds of terms in float (matmul over K, attention rows,
     * dw/db over rows, dA and dDeltaBias over B·L scan steps, dB and dC over the channels of a recurrence): float
     * rounding grows like √terms.
     */
    public static final double LONG_REDUCTION = 2e-5;

    /**
     * A chunked F32 scan (SSD) against the float64-accumulated recurrence rounded to F32: the chunked form sums up to
     * chunk + N products per output in another order and multiplies exp(cum_i − cum_j) factors instead of stepping.
     */
    public static final double CHUNKED_VS_RECURRENCE = F32_IDENTITY;

    /**
     * A linear with BF16/F16 weights on a backend that rounds the activations to the weight's dtype for a tensor-core
     * GEMM (f32 accumulate), as torch runs a half-precision model: each product carries the activation's rounding,
     * 2^-9 relative for bf16, so the result's relative error is a few 1e-3 (1.8e-3 measured on an H100 at K = 7).
     */
    public static final double HALF_PRECISION_ACTIVATIONS = 1e-2;

    /** A scalar accumulated in double (loss, sum of squares) from F32 inputs: only the order of the double sum differs. */
    public static final double DOUBLE_SCALAR = 1e-6;
}
