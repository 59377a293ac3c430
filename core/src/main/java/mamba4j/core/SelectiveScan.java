package mamba4j.core;

/**
 * Arguments of the fused selective scan (mamba_ssm {@code selective_scan_fn}), checked once when built.
 *
 * <pre>
 * Δ_t  = softplus(delta_t + deltaBias)   if deltaSoftplus, else delta_t + deltaBias     (B, L, E)
 * h_t  = exp(Δ_t ⊙ A) ⊙ h_{t-1} + (Δ_t ⊙ u_t) ⊗ B_t                                    (B, E, N)
 * y_t  = h_t · C_t + D ⊙ u_t,  then y_t ⊙ silu(z_t) if z is given                       (B, L, E)
 * </pre>
 *
 * @param u      (B, L, E) input
 * @param delta  (B, L, E) Δ before bias and softplus
 * @param deltaBias (E) or null
 * @param a      (E, N) the continuous A = -exp(A_log)
 * @param bm     (B, L, N) input-dependent B
 * @param cm     (B, L, N) input-dependent C
 * @param d      (E) skip connection, or null
 * @param z      (B, L, E) gate, or null
 * @param state  (B, E, N) or null: read as h_0 when given (else h_0 = 0) and overwritten with h_L
 * @param out    (B, L, E) y
 */
public record SelectiveScan(Tensor u, Tensor delta, Tensor deltaBias, boolean deltaSoftplus, Tensor a,
                            Tensor bm, Tensor cm, Tensor d, Tensor z, Tensor state, Tensor out) {
    public SelectiveScan {
        if (u.rank() != 3) throw new IllegalArgumentException("selective scan: u must be (B, L, E), got " + u.shape());
        int b = u.size(0), l = u.size(1), e = u.size(2);
        if (a.rank() != 2 || a.size(0) != e) throw new IllegalArgumentException("selective scan: A must be (E=" + e + ", N), got " + a.shape());
        int n = a.size(1);
        check("delta", delta, b, l, e);
        check("B", bm, b, l, n);
        check("C", cm, b, l, n);
        check("out", out, b, l, e);
        if (z != null) check("z", z, b, l, e);
        if (state != null) check("state", state, b, e, n);
        if (deltaBias != null) check("deltaBias", deltaBias, e);
        if (d != null) check("D", d, e);
    }

    public int batch() { return u.size(0); }
    public int length() { return u.size(1); }
    public int channels() { return u.size(2); }
    public int stateSize() { return a.size(1); }

    private static void check(String what, Tensor t, long... dims) {
        if (t.dtype() != DType.F32 && t.dtype() != DType.F64)
            throw new IllegalArgumentException("selective scan: " + what + " must be F32 (or F64 on the reference), got " + t.dtype());
        if (!t.shape().equals(Shape.of(dims)))
            throw new IllegalArgumentException("selective scan: " + what + " must be " + Shape.of(dims) + ", got " + t.shape());
    }
}
