package mamba4j.core;

import java.util.Arrays;

/**
 * The SSD scan of {@link Ssd} as its plain sequential recurrence, one (batch, head) at a time, in double (F32 or
 * F64 tensors): the definition the chunked fast paths are tested against. Any chunk size gives the same result
 * here; the chunk only decides which states are saved for the backward.
 */
final class SsdReference {
    private SsdReference() {}

    /**
     * S_t = exp(logA_t)·S_{t−1} + s_t·x_t ⊗ B_t;  y_t = S_t·C_t + D_h·x_t. S_{t−1} is written to chunkStates
     * (when given) where t is a multiple of chunk, and S_L to the state tensor when there is one.
     */
    static void forward(Ssd a, int chunk, Tensor chunkStates) {
        int b = a.batch(), l = a.length(), h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize();
        int hpg = h / g, chunks = (l + chunk - 1) / chunk;
        double[] st = new double[p * n];   // S (P, N) of one (batch, head)
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                long sBase = ((long) bi * h + hi) * p * n;
                for (int k = 0; k < p * n; k++) st[k] = a.state() == null ? 0 : a.state().getDouble(sBase + k);
                double dSkip = a.d() == null ? 0 : a.d().getDouble(hi);
                for (int t = 0; t < l; t++) {
                    if (chunkStates != null && t % chunk == 0) {
                        long cBase = (((long) bi * chunks + t / chunk) * h + hi) * p * n;
                        for (int k = 0; k < p * n; k++) Formulas.store(chunkStates, cBase + k, st[k]);
                    }
                    long ih = ((long) bi * l + t) * h + hi, ix = ih * p, ig = (((long) bi * l + t) * g + hi / hpg) * n;
                    double decay = Math.exp(a.logA().getDouble(ih)), s = a.scale() == null ? 1 : a.scale().getDouble(ih);
                    for (int pi = 0; pi < p; pi++) {
                        double xv = a.x().getDouble(ix + pi), y = dSkip * xv;
                        for (int j = 0; j < n; j++) {
                            int k = pi * n + j;
                            st[k] = decay * st[k] + s * xv * a.bm().getDouble(ig + j);
                            y += st[k] * a.cm().getDouble(ig + j);
                        }
                        Formulas.store(a.out(), ix + pi, y);
                    }
                }
                if (a.state() != null) for (int k = 0; k < p * n; k++) Formulas.store(a.state(), sBase + k, st[k]);
            }
    }

    /*
     * Backward, per (b, h) with g = h / (H/G), a_t = exp(logA_t), s_t = scale_t (1 without scale). Forward:
     *   S_t = a_t S_{t−1} + s_t x_t ⊗ B_t;   y_t[p] = Σ_n S_t[p, n] C_t[n] + D x_t[p]
     * Reverse mode, with the carry a_{t+1}·dS_{t+1} (0 past the end):
     *   dS_t      = C_t ⊗ dy_t + a_{t+1}·dS_{t+1}
     *   dC_t[n]  += Σ_p S_t[p, n] dy_t[p]                     (summed over the heads of the group)
     *   dx_t[p]   = s_t Σ_n dS_t[p, n] B_t[n] + D dy_t[p]
     *   dB_t[n]  += s_t Σ_p dS_t[p, n] x_t[p]                  (summed over the heads of the group)
     *   ds_t      = Σ_{p,n} dS_t[p, n] x_t[p] B_t[n]
     *   dlogA_t   = Σ_{p,n} dS_t[p, n] a_t S_{t−1}[p, n]       (∂a_t/∂logA_t = a_t)
     *   dD       += Σ_{t,p} dy_t[p] x_t[p]
     *   dState0   = a_1·dS_1 (the final carry)
     * States are recomputed chunk by chunk from chunkStates: chunk + 1 states of one head are held at a time.
     */
    static void backward(Ssd a, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads gr) {
        int b = a.batch(), l = a.length(), h = a.heads(), p = a.headDim(), g = a.groups(), n = a.stateSize();
        int hpg = h / g, chunks = (l + chunk - 1) / chunk, hl = Math.min(chunk, l), pn = p * n;
        if (gr.dB() != null) gr.dB().fill(0f);
        if (gr.dC() != null) gr.dC().fill(0f);
        double[][] hs = new double[hl + 1][pn];   // hs[i] = S before step t0 + i of the current chunk
        double[] carry = new double[pn];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++) {
                Arrays.fill(carry, 0);
                double dSkip = a.d() == null ? 0 : a.d().getDouble(hi), dDacc = 0;
                for (int c = chunks - 1; c >= 0; c--) {
                    int t0 = c * chunk, t1 = Math.min(l, t0 + chunk);
                    long cBase = (((long) bi * chunks + c) * h + hi) * pn;
                    for (int k = 0; k < pn; k++) hs[0][k] = chunkStates.getDouble(cBase + k);
                    for (int t = t0; t < t1; t++) {
                        long ih = ((long) bi * l + t) * h + hi, ix = ih * p, ig = (((long) bi * l + t) * g + hi / hpg) * n;
                        double decay = Math.exp(a.logA().getDouble(ih)), s = a.scale() == null ? 1 : a.scale().getDouble(ih);
                        double[] prev = hs[t - t0], next = hs[t - t0 + 1];
                        for (int pi = 0; pi < p; pi++)
                            for (int j = 0; j < n; j++)
                                next[pi * n + j] = decay * prev[pi * n + j] + s * a.x().getDouble(ix + pi) * a.bm().getDouble(ig + j);
                    }
                    for (int t = t1 - 1; t >= t0; t--) {
                        long ih = ((long) bi * l + t) * h + hi, ix = ih * p, ig = (((long) bi * l + t) * g + hi / hpg) * n;
                        double decay = Math.exp(a.logA().getDouble(ih)), s = a.scale() == null ? 1 : a.scale().getDouble(ih);
                        double[] prev = hs[t - t0], cur = hs[t - t0 + 1];
                        double ds = 0, dla = 0;
                        for (int pi = 0; pi < p; pi++) {
                            double dy = dOut.getDouble(ix + pi), xv = a.x().getDouble(ix + pi), u = 0;
                            for (int j = 0; j < n; j++) {
                                int k = pi * n + j;
                                double bj = a.bm().getDouble(ig + j);
                                double dS = carry[k] + a.cm().getDouble(ig + j) * dy;
                                if (gr.dC() != null) Formulas.accumulate(gr.dC(), ig + j, cur[k] * dy);
                                if (gr.dB() != null) Formulas.accumulate(gr.dB(), ig + j, s * dS * xv);
                                u += dS * bj;
                                dla += dS * decay * prev[k];
                                carry[k] = decay * dS;
                            }
                            Formulas.store(gr.dx(), ix + pi, s * u + dSkip * dy);
                            ds += u * xv;
                            dDacc += dy * xv;
                        }
                        Formulas.store(gr.dLogA(), ih, dla);
                        if (gr.dScale() != null) Formulas.store(gr.dScale(), ih, ds);
                    }
                }
                if (gr.dState0() != null) {
                    long sBase = ((long) bi * h + hi) * pn;
                    for (int k = 0; k < pn; k++) Formulas.store(gr.dState0(), sBase + k, carry[k]);
                }
                if (gr.dD() != null) Formulas.accumulate(gr.dD(), hi, dDacc);
            }
    }
}
