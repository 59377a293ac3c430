package mamba4j.core;

/**
 * The scalar definition of every op: one obvious loop per formula, computed in double and rounded once when
 * stored. With F64 tensors every op is float64 end to end (what the finite-difference tests need); with F32
 * tensors the results are the double computation rounded to float. Slow by design; the fast backends are
 * tested against it.
 */
public final class ReferenceKernels implements Kernels {
    public static final ReferenceKernels INSTANCE = new ReferenceKernels();

    private ReferenceKernels() {}

    @Override public String name() { return "reference"; }

    @Override public String description() { return "reference (scalar, float64 accumulation, one thread)"; }

    @Override public Device device() { return Device.CPU; }

    @Override public java.util.Set<DType> activationTypes() { return java.util.Set.of(DType.F32, DType.F64); }

    /** F32, BF16, F16 and the block-quantised Q8_0 and Q4_0, dequantised element by element ({@link Quant}): the definition. */
    @Override public java.util.Set<DType> weightTypes() { return WEIGHT_TYPES; }

    private static final java.util.Set<DType> WEIGHT_TYPES = java.util.Set.of(DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0);

    // ------------------------------------------------------------------ memory: host tensors as they are

    @Override public Tensor allocate(DType dtype, Shape shape) { return Tensor.zeros(dtype, shape); }

    @Override public Tensor upload(Tensor host) { return host; }

    @Override public Tensor download(Tensor t) { return t; }

    @Override public void write(Tensor host, Tensor dst) { dst.copyFrom(host); }

    @Override public void copy(Tensor src, Tensor dst, CopyRegion r) { hostCopy(src, dst, r); }

    /** The strided copy on host memory, row by row of the innermost dimension (shared by the host backends). */
    public static void hostCopy(Tensor src, Tensor dst, CopyRegion r) {
        long es = src.dtype().byteSize();
        int rank = r.rank();
        long[] sizes = r.sizes(), ss = r.srcStrides(), ds = r.dstStrides();
        long inner = sizes[rank - 1];
        boolean contiguousInner = ss[rank - 1] == 1 && ds[rank - 1] == 1;
        long outer = r.count() / Math.max(inner, 1);
        if (inner == 0) return;
        long[] idx = new long[rank];
        java.lang.foreign.MemorySegment a = src.segment(), b = dst.segment();
        for (long o = 0; o < outer; o++) {
            long so = r.srcOffset(), dO = r.dstOffset();
            for (int j = 0; j < rank - 1; j++) { so += idx[j] * ss[j]; dO += idx[j] * ds[j]; }
            if (contiguousInner) java.lang.foreign.MemorySegment.copy(a, so * es, b, dO * es, inner * es);
            else for (long i = 0; i < inner; i++)
                java.lang.foreign.MemorySegment.copy(a, (so + i * ss[rank - 1]) * es, b, (dO + i * ds[rank - 1]) * es, es);
            for (int j = rank - 2; j >= 0; j--) {       // odometer over the outer dimensions
                if (++idx[j] < sizes[j]) break;
                idx[j] = 0;
            }
        }
    }

    @Override public void fill(Tensor t, float v) { t.fill(v); }

    @Override public double item(Tensor t, long i) { return t.getDouble(i); }

    @Override public void sync() {}

    // ------------------------------------------------------------------ ops

    @Override public void addRow(Tensor x, Tensor row, Tensor out) {
        int n = (int) row.numel();
        for (long i = 0, m = out.numel(); i < m; i++) Formulas.store(out, i, x.getDouble(i) + row.getDouble(i % n));
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, a.getDouble(i) * b.getDouble(i));
    }

    @Override public void negExp(Tensor x, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, -Math.exp(x.getDouble(i)));
    }

    /** out[i, :] = weight[ids[i], :], each element read through {@link Tensor#getDouble} (widened or dequantised). */
    @Override public void embedding(Tensor weight, Tensor ids, Tensor out) {
        int d = weight.size(1);
        for (int i = 0, n = (int) ids.numel(); i < n; i++) {
            long id = ids.getLong(i);
            for (int j = 0; j < d; j++) Formulas.store(out, (long) i * d + j, weight.getDouble(id * d + j));
        }
    }

    /** Σ_p x[i, p]·w[j, p] in double, w's elements read through {@link Tensor#getDouble} (widened or dequantised). */
    @Override public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        int m = x.size(0), k = x.size(1), n = w.size(0);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) acc += x.getDouble((long) i * k + p) * w.getDouble((long) j * k + p);
                if (bias != null) acc += bias.getDouble(j);
                Formulas.store(out, (long) i * n + j, acc);
            }
    }

    @Override public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        int d = x.size(-1);
        long rows = x.numel() / d;
        for (long r = 0; r < rows; r++) {
            double ss = 0;
            for (int j = 0; j < d; j++) { double v = x.getDouble(r * d + j); ss += v * v; }
            double inv = 1.0 / Math.sqrt(ss / d + eps);
            for (int j = 0; j < d; j++) Formulas.store(out, r * d + j, x.getDouble(r * d + j) * inv * w.getDouble(j));
        }
    }

    @Override public void add(Tensor a, Tensor b, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, a.getDouble(i) + b.getDouble(i));
    }

    @Override public void silu(Tensor x, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, Formulas.silu(x.getDouble(i)));
    }

    @Override public void softplus(Tensor x, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, Formulas.softplus(x.getDouble(i)));
    }

    @Override public void mulSilu(Tensor y, Tensor z, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, y.getDouble(i) * Formulas.silu(z.getDouble(i)));
    }

    /** The conv's pre-activation bias[c] + Σ_k w[c, k] · x[b, t − K + 1 + k, c] (zero before t = 0). */
    private static double convPre(Tensor x, Tensor w, Tensor bias, int bi, int t, int ch) {
        int l = x.size(1), c = x.size(2), k = w.size(1);
        double acc = bias == null ? 0 : bias.getDouble(ch);
        for (int j = 0; j < k; j++) {
            int src = t - k + 1 + j;
            if (src >= 0) acc += w.getDouble((long) ch * k + j) * x.getDouble(((long) bi * l + src) * c + ch);
        }
        return acc;
    }

    @Override public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = x.size(0), l = x.size(1), c = x.size(2);
        for (int bi = 0; bi < b; bi++)
            for (int t = 0; t < l; t++)
                for (int ch = 0; ch < c; ch++) {
                    double acc = convPre(x, w, bias, bi, t, ch);
                    Formulas.store(out, ((long) bi * l + t) * c + ch, silu ? Formulas.silu(acc) : acc);
                }
    }

    @Override public void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = x.size(0), l = x.size(1), c = x.size(2), k = w.size(1);
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < c; ch++) {
                long base = ((long) bi * c + ch) * k;
                double[] in = new double[k - 1 + l];                 // [the state's last K − 1 inputs | x]
                for (int j = 1; j < k; j++) in[j - 1] = state.getDouble(base + j);
                for (int t = 0; t < l; t++) in[k - 1 + t] = x.getDouble(((long) bi * l + t) * c + ch);
                for (int t = 0; t < l; t++) {
                    double acc = bias == null ? 0 : bias.getDouble(ch);
                    for (int j = 0; j < k; j++) acc += w.getDouble((long) ch * k + j) * in[t + j];
                    Formulas.store(out, ((long) bi * l + t) * c + ch, silu ? Formulas.silu(acc) : acc);
                }
                for (int j = 0; j < k; j++) Formulas.store(state, base + j, in[l - 1 + j]);
            }
    }

    @Override public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = state.size(0), c = state.size(1), k = state.size(2);
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < c; ch++) {
                long base = ((long) bi * c + ch) * k;
                for (int j = 0; j < k - 1; j++) Formulas.store(state, base + j, state.getDouble(base + j + 1));
                Formulas.store(state, base + k - 1, x.getDouble((long) bi * c + ch));
                double acc = bias == null ? 0 : bias.getDouble(ch);
                for (int j = 0; j < k; j++) acc += state.getDouble(base + j) * w.getDouble((long) ch * k + j);
                Formulas.store(out, (long) bi * c + ch, silu ? Formulas.silu(acc) : acc);
            }
    }

    // ------------------------------------------------------------------ selective scan

    /**
     * The operands of {@link SelectiveScan} with the scalar loops' helpers (Δ per step and channel); tests in this
     * package call {@link #scanForward} and {@link #scanBackward} on it directly.
     */
    record Scan(Tensor u, Tensor delta, Tensor deltaBias, boolean deltaSoftplus, Tensor a,
                Tensor bm, Tensor cm, Tensor d, Tensor z, Tensor state, Tensor out) {
        static Scan of(SelectiveScan s) {
            return new Scan(s.u(), s.delta(), s.deltaBias(), s.deltaSoftplus(), s.a(), s.bm(), s.cm(), s.d(), s.z(), s.state(), s.out());
        }
        int batch() { return u.size(0); }
        int length() { return u.size(1); }
        int channels() { return u.size(2); }
        int stateSize() { return a.size(1); }

        /** Δ at flat index ie = (b, t, e) of channel ch: softplus(delta + bias) or delta + bias. */
        double dt(long ie, int ch) { return deltaSoftplus ? Formulas.softplus(dtRaw(ie, ch)) : dtRaw(ie, ch); }

        /** delta + bias, before softplus. */
        double dtRaw(long ie, int ch) { return delta.getDouble(ie) + (deltaBias == null ? 0 : deltaBias.getDouble(ch)); }
    }

    @Override public void selectiveScan(SelectiveScan s) {
        scanForward(Scan.of(s), Math.max(1, s.length()), null);
    }

    @Override public void selectiveScanForward(SelectiveScan s, int chunk, Tensor chunkStates) {
        scanForward(Scan.of(s), chunk, chunkStates);
    }

    @Override public void selectiveScanBackward(SelectiveScan s, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads g) {
        scanBackward(Scan.of(s), chunk, chunkStates, dOut, g);
    }

    /** The recurrence, one (batch, channel) at a time; h_{t-1} is written to chunkStates when t is a multiple of chunk. */
    static void scanForward(Scan s, int chunk, Tensor chunkStates) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        int chunks = (l + chunk - 1) / chunk;
        double[] h = new double[n];
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < e; ch++) {
                for (int j = 0; j < n; j++)
                    h[j] = s.state() == null ? 0 : s.state().getDouble(((long) bi * e + ch) * n + j);
                for (int t = 0; t < l; t++) {
                    if (chunkStates != null && t % chunk == 0)
                        for (int j = 0; j < n; j++)
                            Formulas.store(chunkStates, ((((long) bi * chunks + t / chunk) * e) + ch) * n + j, h[j]);
                    long ie = ((long) bi * l + t) * e + ch, in = ((long) bi * l + t) * n;
                    double dt = s.dt(ie, ch);
                    double u = s.u().getDouble(ie);
                    double y = 0;
                    for (int j = 0; j < n; j++) {
                        double dA = Math.exp(dt * s.a().getDouble((long) ch * n + j));
                        h[j] = dA * h[j] + dt * u * s.bm().getDouble(in + j);
                        y += h[j] * s.cm().getDouble(in + j);
                    }
                    if (s.d() != null) y += s.d().getDouble(ch) * u;
                    if (s.z() != null) y *= Formulas.silu(s.z().getDouble(ie));
                    Formulas.store(s.out(), ie, y);
                }
                if (s.state() != null)
                    for (int j = 0; j < n; j++) Formulas.store(s.state(), ((long) bi * e + ch) * n + j, h[j]);
            }
    }

    /*
     * Backward of the scan. Forward, per (b, e), with a_n = A[e, n] and Δ_t = softplus(v_t) (or v_t), v_t = delta_t + bias:
     *   h_t[n] = exp(Δ_t a_n) h_{t-1}[n] + Δ_t u_t B_t[n];   y_t = Σ_n h_t[n] C_t[n] + D u_t;   out_t = y_t · silu(z_t)
     * Reverse mode, with dh carried from t+1 as exp(Δ_{t+1} a) ⊙ dh_{t+1} (0 past the end):
     *   dy_t   = dout_t · silu(z_t);   dz_t = dout_t · y_t · silu'(z_t)
     *   dh_t   = dy_t C_t + exp(Δ_{t+1} a) ⊙ dh_{t+1}
     *   dC_t[n] = Σ_e dy_t h_t[n]                       (B and C are shared by all E channels)
     *   dD    += Σ_t dy_t u_t
     *   du_t   = dy_t D + Σ_n dh_t[n] Δ_t B_t[n]
     *   dΔ_t   = Σ_n dh_t[n] (a_n exp(Δ_t a_n) h_{t-1}[n] + u_t B_t[n])
     *   dA[n] += Σ_t dh_t[n] Δ_t exp(Δ_t a_n) h_{t-1}[n]
     *   dB_t[n] = Σ_e dh_t[n] Δ_t u_t
     *   dv_t   = dΔ_t σ(v_t) (1 where v_t > 20, as the forward's threshold), or dΔ_t without softplus; dBias += Σ_{b,t} dv_t
     *   dh_0   = exp(Δ_1 a) ⊙ dh_1 (the gradient w.r.t. the initial state)
     * States are recomputed chunk by chunk from chunkStates; only chunk + 1 states of one channel are held at a time.
     */
    static void scanBackward(Scan s, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads g) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        int chunks = (l + chunk - 1) / chunk;
        int hl = Math.min(chunk, l);
        if (g.dB() != null) g.dB().fill(0f);
        if (g.dC() != null) g.dC().fill(0f);
        double[][] hs = new double[hl + 1][n];   // hs[i] = h before step t0 + i of the current chunk
        double[] dh = new double[n];
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < e; ch++) {
                java.util.Arrays.fill(dh, 0);
                double dSkip = s.d() == null ? 0 : s.d().getDouble(ch);
                double dDacc = 0, dBiasAcc = 0;
                double[] dAacc = new double[n];
                for (int c = chunks - 1; c >= 0; c--) {
                    int t0 = c * chunk, t1 = Math.min(l, t0 + chunk);
                    for (int j = 0; j < n; j++) hs[0][j] = chunkStates.getDouble(((((long) bi * chunks + c) * e) + ch) * n + j);
                    for (int t = t0; t < t1; t++) {
                        long ie = ((long) bi * l + t) * e + ch, in = ((long) bi * l + t) * n;
                        double dt = s.dt(ie, ch), u = s.u().getDouble(ie);
                        for (int j = 0; j < n; j++)
                            hs[t - t0 + 1][j] = Math.exp(dt * s.a().getDouble((long) ch * n + j)) * hs[t - t0][j] + dt * u * s.bm().getDouble(in + j);
                    }
                    for (int t = t1 - 1; t >= t0; t--) {
                        int i = t - t0;
                        long ie = ((long) bi * l + t) * e + ch, in = ((long) bi * l + t) * n;
                        double v = s.dtRaw(ie, ch), dt = s.dt(ie, ch), u = s.u().getDouble(ie), dout = dOut.getDouble(ie);
                        double dy = dout;
                        if (s.z() != null) {
                            double z = s.z().getDouble(ie), y = dSkip * u;
                            for (int j = 0; j < n; j++) y += hs[i + 1][j] * s.cm().getDouble(in + j);
                            dy = dout * Formulas.silu(z);
                            if (g.dZ() != null) Formulas.store(g.dZ(), ie, dout * y * Formulas.siluGrad(z));
                        }
                        dDacc += dy * u;
                        double du = dy * dSkip, dDt = 0;
                        for (int j = 0; j < n; j++) {
                            double aj = s.a().getDouble((long) ch * n + j), bj = s.bm().getDouble(in + j);
                            double dA = Math.exp(dt * aj);
                            double dhj = dh[j] + dy * s.cm().getDouble(in + j);
                            if (g.dC() != null) Formulas.accumulate(g.dC(), in + j, dy * hs[i + 1][j]);
                            if (g.dB() != null) Formulas.accumulate(g.dB(), in + j, dhj * dt * u);
                            du += dhj * dt * bj;
                            dDt += dhj * (aj * dA * hs[i][j] + u * bj);
                            dAacc[j] += dhj * dt * dA * hs[i][j];
                            dh[j] = dhj * dA;
                        }
                        double dv = s.deltaSoftplus() ? dDt * Formulas.softplusGrad(v) : dDt;
                        Formulas.store(g.du(), ie, du);
                        Formulas.store(g.dDelta(), ie, dv);
                        dBiasAcc += dv;
                    }
                }
                if (g.dState0() != null)
                    for (int j = 0; j < n; j++) Formulas.store(g.dState0(), ((long) bi * e + ch) * n + j, dh[j]);
                if (g.dA() != null) for (int j = 0; j < n; j++) Formulas.accumulate(g.dA(), (long) ch * n + j, dAacc[j]);
                if (g.dD() != null) Formulas.accumulate(g.dD(), ch, dDacc);
                if (g.dDeltaBias() != null) Formulas.accumulate(g.dDeltaBias(), ch, dBiasAcc);
            }
    }

    // ------------------------------------------------------------------ training ops

    /** out[i, j] (+)= Σ_p op(a)[i, p] · op(b)[p, j]. */
    @Override public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        int[] mkn = Checks.checkMatmul(a, transA, b, transB, out);
        int m = mkn[0], k = mkn[1], n = mkn[2];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double acc = accumulate ? out.getDouble((long) i * n + j) : 0;
                for (int p = 0; p < k; p++) {
                    double av = transA ? a.getDouble((long) p * m + i) : a.getDouble((long) i * k + p);
                    double bv = transB ? b.getDouble((long) j * k + p) : b.getDouble((long) p * n + j);
                    acc += av * bv;
                }
                Formulas.store(out, (long) i * n + j, acc);
            }
    }

    @Override public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) {
        int d = dWeight.size(1);
        for (int i = 0, n = (int) ids.numel(); i < n; i++) {
            long id = ids.getLong(i);
            for (int j = 0; j < d; j++) Formulas.accumulate(dWeight, id * d + j, dOut.getDouble((long) i * d + j));
        }
    }

    @Override public void sumRows(Tensor x, Tensor out, boolean accumulate) {
        int n = x.size(-1);
        long m = x.numel() / n;
        if (out.numel() != n) throw new IllegalArgumentException("sumRows: out " + out.shape() + " does not have N = " + n + " elements");
        for (int j = 0; j < n; j++) {
            double acc = accumulate ? out.getDouble(j) : 0;
            for (long i = 0; i < m; i++) acc += x.getDouble(i * n + j);
            Formulas.store(out, j, acc);
        }
    }

    /*
     * y_j = x_j r w_j with r = (mean(x²) + eps)^(−1/2), so ∂r/∂x_k = −r³ x_k / D and
     *   dx_k = r w_k dy_k − r³ x_k / D · Σ_j dy_j w_j x_j;   dw_j += Σ_rows dy_j x_j r.
     */
    @Override public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        int d = x.size(-1);
        long rows = x.numel() / d;
        double[] dwAcc = new double[d];
        for (long r = 0; r < rows; r++) {
            double ss = 0, dot = 0;
            for (int j = 0; j < d; j++) {
                double v = x.getDouble(r * d + j);
                ss += v * v;
                dot += dy.getDouble(r * d + j) * w.getDouble(j) * v;
            }
            double inv = 1.0 / Math.sqrt(ss / d + eps);
            double c = inv * inv * inv * dot / d;
            for (int j = 0; j < d; j++) {
                double v = x.getDouble(r * d + j), g = dy.getDouble(r * d + j);
                dwAcc[j] += g * v * inv;
                Formulas.store(dx, r * d + j, inv * w.getDouble(j) * g - c * v);
            }
        }
        for (int j = 0; j < d; j++) Formulas.accumulate(dw, j, dwAcc[j]);
    }

    @Override public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        for (long i = 0, n = dx.numel(); i < n; i++) Formulas.store(dx, i, dy.getDouble(i) * Formulas.siluGrad(x.getDouble(i)));
    }

    @Override public void softplusBackward(Tensor x, Tensor dy, Tensor dx) {
        for (long i = 0, n = dx.numel(); i < n; i++) Formulas.store(dx, i, dy.getDouble(i) * Formulas.softplusGrad(x.getDouble(i)));
    }

    /* out = y · silu(z):  dy = dOut · silu(z);  dz = dOut · y · silu'(z). */
    @Override public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        for (long i = 0, n = y.numel(); i < n; i++) {
            double g = dOut.getDouble(i), yv = y.getDouble(i), zv = z.getDouble(i);
            Formulas.store(dy, i, g * Formulas.silu(zv));
            Formulas.store(dz, i, g * yv * Formulas.siluGrad(zv));
        }
    }

    /*
     * pre[b, t, c] = bias[c] + Σ_k w[c, k] x[b, t − K + 1 + k, c];  out = silu(pre) or pre.  With g = dOut · silu'(pre) (or dOut):
     *   dx[b, s, c] = Σ_k g[b, s + K − 1 − k, c] w[c, k]  (terms with s + K − 1 − k ≥ L dropped)
     *   dw[c, k]   += Σ_{b,t} g[b, t, c] x[b, t − K + 1 + k, c];   dbias[c] += Σ_{b,t} g[b, t, c]
     */
    @Override public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        int b = x.size(0), l = x.size(1), c = x.size(2), k = w.size(1);
        double[] gs = new double[l];
        for (int ch = 0; ch < c; ch++) {
            double[] dwAcc = new double[k];
            double dbAcc = 0;
            for (int bi = 0; bi < b; bi++) {
                for (int t = 0; t < l; t++) {
                    double g = dOut.getDouble(((long) bi * l + t) * c + ch);
                    gs[t] = silu ? g * Formulas.siluGrad(convPre(x, w, bias, bi, t, ch)) : g;
                    dbAcc += gs[t];
                    for (int j = 0; j < k; j++) {
                        int src = t - k + 1 + j;
                        if (src >= 0) dwAcc[j] += gs[t] * x.getDouble(((long) bi * l + src) * c + ch);
                    }
                }
                for (int s = 0; s < l; s++) {
                    double acc = 0;
                    for (int j = 0; j < k; j++) {
                        int t = s + k - 1 - j;
                        if (t < l) acc += gs[t] * w.getDouble((long) ch * k + j);
                    }
                    Formulas.store(dx, ((long) bi * l + s) * c + ch, acc);
                }
            }
            for (int j = 0; j < k; j++) Formulas.accumulate(dw, (long) ch * k + j, dwAcc[j]);
            if (dbias != null) Formulas.accumulate(dbias, ch, dbAcc);
        }
    }

    /*
     * loss = (1/count) Σ_{counted rows i} (logsumexp(x_i) − x_i[target_i]), log-softmax taken around the row max;
     * dLogits_i = (softmax(x_i) − onehot(target_i)) / count · scale, 0 on ignored rows. dLogits may be logits itself.
     * With every row ignored, count = 0 and the loss is NaN (0/0), as PyTorch's mean reduction.
     */
    @Override public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor lossOut) {
        int m = logits.size(0), v = logits.size(1);
        int count = 0;
        for (int i = 0; i < m; i++) if (targets.getLong(i) != Checks.IGNORE_INDEX) count++;
        double loss = 0;
        for (int i = 0; i < m; i++) {
            long row = (long) i * v;
            int target = (int) targets.getLong(i);
            if (target == Checks.IGNORE_INDEX) {
                if (dLogits != null) for (int j = 0; j < v; j++) Formulas.store(dLogits, row + j, 0);
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, logits.getDouble(row + j));
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.exp(logits.getDouble(row + j) - max);
            double lse = max + Math.log(sum);
            loss += lse - logits.getDouble(row + target);
            if (dLogits != null)
                for (int j = 0; j < v; j++) {
                    double p = Math.exp(logits.getDouble(row + j) - lse);
                    Formulas.store(dLogits, row + j, (p - (j == target ? 1 : 0)) / count * scale);
                }
        }
        Formulas.store(lossOut, 0, loss / count);                 // NaN when every target is ignored, as torch
    }

    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        double acc = accumulate ? out.getDouble(0) : 0;
        for (long i = 0, n = x.numel(); i < n; i++) { double v = x.getDouble(i); acc += v * v; }
        Formulas.store(out, 0, acc);
    }

    @Override public void scale(Tensor x, float s) {
        for (long i = 0, n = x.numel(); i < n; i++) Formulas.store(x, i, x.getDouble(i) * s);
    }

    /*
     * torch.optim.AdamW (amsgrad off, maximize off), step t ≥ 1:
     *   p ← p (1 − lr·wd);  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
     *   p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
     */
    @Override public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        for (long i = 0, n = p.numel(); i < n; i++) {
            double gi = g.getDouble(i);
            double pi = p.getDouble(i) * (1 - (double) lr * weightDecay);
            double mi = beta1 * m.getDouble(i) + (1 - (double) beta1) * gi;
            double vi = beta2 * v.getDouble(i) + (1 - (double) beta2) * gi * gi;
            pi -= lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
            Formulas.store(m, i, mi);
            Formulas.store(v, i, vi);
            Formulas.store(p, i, pi);
        }
    }

    // ------------------------------------------------------------------ Mamba-2 / SSD

    /** The sequential recurrence of {@link Ssd} (see {@link SsdReference}); the chunk size does not change the result. */
    @Override public void ssd(Ssd args, int chunk) {
        SsdReference.forward(args, chunk, null);
    }

    @Override public void ssdForward(Ssd args, int chunk, Tensor chunkStates) {
        SsdReference.forward(args, chunk, chunkStates);
    }

    @Override public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads) {
        SsdReference.backward(args, chunk, chunkStates, dOut, grads);
    }

    @Override public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        int h = x.size(-1);
        for (long i = 0, n = x.numel(); i < n; i++) {
            double v = Formulas.softplus(x.getDouble(i) + (bias == null ? 0 : bias.getDouble(i % h)));
            Formulas.store(out, i, Math.min(Math.max(v, lo), hi));
        }
    }

    /* out = clamp(softplus(v), lo, hi), v = x + b:  dv = dy·σ(v) where lo < softplus(v) < hi, else 0;  dx = dv;  dBias[h] += Σ_m dv. */
    @Override public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        int h = x.size(-1);
        double[] db = new double[h];
        for (long i = 0, n = x.numel(); i < n; i++) {
            double v = x.getDouble(i) + (bias == null ? 0 : bias.getDouble(i % h)), sp = Formulas.softplus(v);
            double g = sp > lo && sp < hi ? dy.getDouble(i) * Formulas.softplusGrad(v) : 0;
            Formulas.store(dx, i, g);
            db[(int) (i % h)] += g;
        }
        if (dBias != null) for (int j = 0; j < h; j++) Formulas.accumulate(dBias, j, db[j]);
    }

    @Override public void mulColumns(Tensor x, Tensor a, Tensor out) {
        int h = x.size(-1);
        for (long i = 0, n = x.numel(); i < n; i++) Formulas.store(out, i, x.getDouble(i) * a.getDouble(i % h));
    }

    /* out = x·a[h]:  dx = dy·a[h];  da[h] += Σ_m dy·x. */
    @Override public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        int h = x.size(-1);
        double[] acc = new double[h];
        for (long i = 0, n = x.numel(); i < n; i++) {
            double g = dy.getDouble(i);
            if (dx != null) Formulas.store(dx, i, g * a.getDouble(i % h));
            acc[(int) (i % h)] += g * x.getDouble(i);
        }
        if (da != null) for (int j = 0; j < h; j++) Formulas.accumulate(da, j, acc[j]);
    }

    // ------------------------------------------------------------------ Transformer teachers

    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        int d = x.size(-1);
        long rows = x.numel() / d;
        for (long r = 0; r < rows; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < d; j++) mu += x.getDouble(r * d + j);
            mu /= d;
            for (int j = 0; j < d; j++) { double c = x.getDouble(r * d + j) - mu; var += c * c; }
            double inv = 1.0 / Math.sqrt(var / d + eps);
            for (int j = 0; j < d; j++)
                Formulas.store(out, r * d + j, (x.getDouble(r * d + j) - mu) * inv * w.getDouble(j) + (b == null ? 0 : b.getDouble(j)));
        }
    }

    /*
     * y = x̂·w + b, x̂ = (x − μ)·r, r = (var + eps)^(−1/2). With g = dy·w:
     *   dx = r·(g − mean(g) − x̂·mean(g·x̂));   dw += Σ_rows dy·x̂;   db += Σ_rows dy.
     */
    @Override public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        int d = x.size(-1);
        long rows = x.numel() / d;
        double[] dwAcc = new double[d], dbAcc = new double[d], xh = new double[d];
        for (long r = 0; r < rows; r++) {
            double mu = 0, var = 0;
            for (int j = 0; j < d; j++) mu += x.getDouble(r * d + j);
            mu /= d;
            for (int j = 0; j < d; j++) { double c = x.getDouble(r * d + j) - mu; var += c * c; }
            double inv = 1.0 / Math.sqrt(var / d + eps);
            double mg = 0, mgx = 0;
            for (int j = 0; j < d; j++) {
                xh[j] = (x.getDouble(r * d + j) - mu) * inv;
                double gy = dy.getDouble(r * d + j), g = gy * w.getDouble(j);
                mg += g;
                mgx += g * xh[j];
                dwAcc[j] += gy * xh[j];
                dbAcc[j] += gy;
            }
            mg /= d;
            mgx /= d;
            for (int j = 0; j < d; j++)
                Formulas.store(dx, r * d + j, inv * (dy.getDouble(r * d + j) * w.getDouble(j) - mg - xh[j] * mgx));
        }
        for (int j = 0; j < d; j++) {
            Formulas.accumulate(dw, j, dwAcc[j]);
            if (db != null) Formulas.accumulate(db, j, dbAcc[j]);
        }
    }

    @Override public void geluTanh(Tensor x, Tensor out) {
        for (long i = 0, n = out.numel(); i < n; i++) Formulas.store(out, i, Formulas.geluTanh(x.getDouble(i)));
    }

    @Override public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        for (long i = 0, n = dx.numel(); i < n; i++) Formulas.store(dx, i, dy.getDouble(i) * Formulas.geluTanhGrad(x.getDouble(i)));
    }

    @Override public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        rotate(x, cos, sin, rotaryDim, pos0, out, 1);
    }

    @Override public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) {
        rotate(dy, cos, sin, rotaryDim, pos0, dx, -1);
    }

    /** Rotates each (i, i + r) pair by sign·angle; pass-through dims copied. out may alias x. */
    private static void rotate(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out, int sign) {
        int b = x.size(0), t = x.size(1), h = x.size(2), dh = x.size(3), r = rotaryDim / 2;
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int hi = 0; hi < h; hi++) {
                    long base = (((long) bi * t + ti) * h + hi) * dh;
                    for (int i = 0; i < r; i++) {
                        double c = cos.getDouble((long) (pos0 + ti) * r + i), s = sign * sin.getDouble((long) (pos0 + ti) * r + i);
                        double x1 = x.getDouble(base + i), x2 = x.getDouble(base + i + r);
                        Formulas.store(out, base + i, x1 * c - x2 * s);
                        Formulas.store(out, base + i + r, x2 * c + x1 * s);
                    }
                    if (out != x) for (int i = rotaryDim; i < dh; i++) Formulas.store(out, base + i, x.getDouble(base + i));
                }
    }

    /** The scaled score q_i·k_j of query (b, i, h) and key (b, j, kvh); q, k channels-last. */
    private static double score(Tensor q, Tensor k, int bi, int i, int h, int j, int kvh, int t, int nh, int nkv, int dh, int tk) {
        long qo = (((long) bi * t + i) * nh + h) * dh, ko = (((long) bi * tk + j) * nkv + kvh) * dh;
        double acc = 0;
        for (int d = 0; d < dh; d++) acc += q.getDouble(qo + d) * k.getDouble(ko + d);
        return acc;
    }

    /** Naive causal attention: the whole score row, max-shifted softmax, then the weighted sum of v. */
    @Override public void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        int[] s = Checks.checkAttention(q, k, v, out, lse, probs);
        int b = s[0], t = s[1], h = s[2], hkv = s[3], dh = s[4], group = h / hkv;
        double[] row = new double[t];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++) {
                    int kvh = hi / group;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) { row[j] = scale * score(q, k, bi, i, hi, j, kvh, t, h, hkv, dh, t); max = Math.max(max, row[j]); }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += Math.exp(row[j] - max);
                    double l = max + Math.log(sum);
                    if (lse != null) Formulas.store(lse, ((long) bi * h + hi) * t + i, l);
                    long oo = (((long) bi * t + i) * h + hi) * dh;
                    for (int d = 0; d < dh; d++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += Math.exp(row[j] - l) * v.getDouble((((long) bi * t + j) * hkv + kvh) * dh + d);
                        Formulas.store(out, oo + d, acc);
                    }
                    if (probs != null)
                        for (int j = 0; j < t; j++) Formulas.store(probs, (((long) bi * h + hi) * t + i) * t + j, j <= i ? Math.exp(row[j] - l) : 0);
                }
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        int[] s = Checks.checkAttention(q, k, v, out, lse, null);
        int b = s[0], t = s[1], h = s[2], hkv = s[3], dh = s[4], group = h / hkv;
        double[] dkAcc = new double[(int) k.numel()], dvAcc = new double[(int) v.numel()];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++) {
                    int kvh = hi / group;
                    long qo = (((long) bi * t + i) * h + hi) * dh;
                    double l = lse.getDouble(((long) bi * h + hi) * t + i), dd = 0;
                    for (int d = 0; d < dh; d++) dd += dOut.getDouble(qo + d) * out.getDouble(qo + d);
                    double[] dqAcc = new double[dh];
                    for (int j = 0; j <= i; j++) {
                        long ko = (((long) bi * t + j) * hkv + kvh) * dh;
                        double p = Math.exp(scale * score(q, k, bi, i, hi, j, kvh, t, h, hkv, dh, t) - l), dp = 0;
                        for (int d = 0; d < dh; d++) {
                            dp += dOut.getDouble(qo + d) * v.getDouble(ko + d);
                            dvAcc[(int) (ko + d)] += p * dOut.getDouble(qo + d);
                        }
                        double ds = p * (dp - dd) * scale;
                        for (int d = 0; d < dh; d++) {
                            dqAcc[d] += ds * k.getDouble(ko + d);
                            dkAcc[(int) (ko + d)] += ds * q.getDouble(qo + d);
                        }
                    }
                    for (int d = 0; d < dh; d++) Formulas.store(dq, qo + d, dqAcc[d]);
                }
        for (int i = 0; i < dkAcc.length; i++) { Formulas.store(dk, i, dkAcc[i]); Formulas.store(dv, i, dvAcc[i]); }
    }

    @Override public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        int[] s = Checks.checkAttentionDecode(q, kCache, vCache, len, out);
        int b = s[0], h = s[1], hkv = s[2], dh = s[3], c = s[4], group = h / hkv;
        double[] row = new double[len];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                int kvh = hi / group;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < len; j++) { row[j] = scale * score(q, kCache, bi, 0, hi, j, kvh, 1, h, hkv, dh, c); max = Math.max(max, row[j]); }
                double sum = 0;
                for (int j = 0; j < len; j++) sum += Math.exp(row[j] - max);
                long oo = ((long) bi * h + hi) * dh;
                for (int d = 0; d < dh; d++) {
                    double acc = 0;
                    for (int j = 0; j < len; j++) acc += Math.exp(row[j] - max) * vCache.getDouble((((long) bi * c + j) * hkv + kvh) * dh + d);
                    Formulas.store(out, oo + d, acc / sum);
                }
            }
    }
}
