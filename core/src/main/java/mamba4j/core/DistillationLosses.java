package mamba4j.core;

import java.util.stream.IntStream;

/**
 * The three distillation losses of MOHAWK (MATH.md "MOHAWK") on host tensors, each a value and its gradient with
 * respect to the student's side, computed in double: the definition of the ops {@link Kernels#matrixDistance},
 * {@link Kernels#rowDistance} and {@link Kernels#softCrossEntropy} (their default, which every host backend uses). They
 * are losses at the end of a tape, not layers: O(B·H·T²·N) for the matrix distance, O(M·D) and O(M·V) for the
 * others, so plain loops (parallel over the batch where it matters) suffice. Shapes are checked by the {@link Backend} front.
 */
public final class DistillationLosses {
    private DistillationLosses() {}

    /**
     * Stage 1, matrix orientation: the mean over batch and head of ‖T − A‖_F, where T is the Discrete Mamba-2 mixing
     * matrix of head h, T[i, j] = (C_i · B_j) · exp(L_i − L_j) for j ≤ i (L_i = Σ_{k ≤ i} logA_k), plus D_h on the
     * diagonal, 0 above it, and A the target (B, H, T, T) (the teacher's attention probabilities).
     *
     * <p>Gradient, with G = (T − A) / (‖T − A‖_F · B·H) per (b, h) and P_ij = G_ij · exp(L_i − L_j), Q_ij = P_ij · (C_i·B_j):
     * dC_i = Σ_j P_ij B_j, dB_j = Σ_i P_ij C_i, dL_i = Σ_{j<i} Q_ij − Σ_{k>i} Q_ki, dlogA_m = Σ_{i ≥ m} dL_i, dD_h = Σ_i G_ii.
     *
     * @param logA   (B, T, H)
     * @param bm     (B, T, G, N); head h reads group h / (H/G)
     * @param cm     (B, T, G, N)
     * @param d      (H) or null
     * @param target (B, H, T, T)
     * @param grads  null (value only) or {dLogA, dB, dC, dD} with the shapes above (dD may be null); ADDED into
     * @param loss   (1): the loss is written here
     */
    public static void matrix(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target, Tensor[] grads, Tensor loss) {
        int b = (int) logA.dim(0), t = (int) logA.dim(1), h = (int) logA.dim(2), g = (int) bm.dim(2), n = (int) bm.dim(3);
        int per = h / g;
        double[] la = logA.toDoubleArray(), bv = bm.toDoubleArray(), cv = cm.toDoubleArray(), av = target.toDoubleArray();
        double[] dv = d == null ? null : d.toDoubleArray();
        double scale = 1.0 / ((double) b * h);
        double[] perBatch = new double[b];
        double[][] dLogA = new double[b][], dB = new double[b][], dC = new double[b][], dD = new double[b][];
        IntStream.range(0, b).parallel().forEach(bi -> {
            double[] gl = grads == null ? null : new double[t * h], gb = grads == null ? null : new double[t * g * n];
            double[] gc = grads == null ? null : new double[t * g * n], gd = grads == null ? null : new double[h];
            double[] l = new double[t], diff = new double[t * t], dot = new double[t * t], dl = new double[t];
            double total = 0;
            for (int hi = 0; hi < h; hi++) {
                int gi = hi / per;
                double acc = 0;
                for (int i = 0; i < t; i++) acc = l[i] = acc + la[(bi * t + i) * h + hi];
                double sq = 0;
                long abase = ((long) bi * h + hi) * t * t;
                for (int i = 0; i < t; i++) {
                    int ci = ((bi * t + i) * g + gi) * n;
                    for (int j = 0; j < t; j++) {
                        double m = 0, tv = 0;
                        if (j <= i) {
                            int bj = ((bi * t + j) * g + gi) * n;
                            for (int k = 0; k < n; k++) m += cv[ci + k] * bv[bj + k];
                            m *= Math.exp(l[i] - l[j]);
                            tv = m + (j == i && dv != null ? dv[hi] : 0);
                        }
                        double e = tv - av[(int) (abase + (long) i * t + j)];
                        diff[i * t + j] = e;
                        dot[i * t + j] = m;
                        sq += e * e;
                    }
                }
                double norm = Math.sqrt(sq);
                total += norm;
                if (grads == null || norm == 0) continue;
                double c = scale / norm;
                java.util.Arrays.fill(dl, 0);
                for (int i = 0; i < t; i++) {
                    int ci = ((bi * t + i) * g + gi) * n;
                    for (int j = 0; j <= i; j++) {
                        double gij = diff[i * t + j] * c;
                        if (j == i) {
                            gd[hi] += gij;
                            // exp(L_i − L_i) = 1: no L gradient on the diagonal
                        } else {
                            double q = gij * dot[i * t + j];
                            dl[i] += q;
                            dl[j] -= q;
                        }
                        double p = gij * Math.exp(l[i] - l[j]);
                        int bj = ((bi * t + j) * g + gi) * n, ciLocal = (i * g + gi) * n, bjLocal = (j * g + gi) * n;
                        for (int k = 0; k < n; k++) {
                            gc[ciLocal + k] += p * bv[bj + k];
                            gb[bjLocal + k] += p * cv[ci + k];
                        }
                    }
                }
                double suffix = 0;
                for (int m = t - 1; m >= 0; m--) {
                    suffix += dl[m];
                    gl[m * h + hi] += suffix;
                }
            }
            perBatch[bi] = total;
            dLogA[bi] = gl;
            dB[bi] = gb;
            dC[bi] = gc;
            dD[bi] = gd;
        });
        double sum = 0;
        for (double v : perBatch) sum += v;
        Formulas.store(loss, 0, sum * scale);
        if (grads != null) {
            for (int bi = 0; bi < b; bi++) {
                addInto(grads[0], (long) bi * t * h, dLogA[bi]);
                addInto(grads[1], (long) bi * t * g * n, dB[bi]);
                addInto(grads[2], (long) bi * t * g * n, dC[bi]);
                if (grads[3] != null) addInto(grads[3], 0, dD[bi]);
            }
        }
    }

    /**
     * Stage 2, hidden-state alignment: the mean over rows of ‖x_m − y_m‖₂ for x, y (M, D); gradient
     * (x_m − y_m) / (‖x_m − y_m‖₂ · M) (0 for a row that matches exactly) ADDED into dx (or null: the value only).
     */
    public static void rows(Tensor x, Tensor y, Tensor dx, Tensor lossOut) {
        int m = (int) x.dim(0), dd = (int) x.dim(1);
        double[] xv = x.toDoubleArray(), yv = y.toDoubleArray();
        double loss = 0;
        for (int r = 0; r < m; r++) {
            double sq = 0;
            for (int k = 0; k < dd; k++) {
                double e = xv[r * dd + k] - yv[r * dd + k];
                sq += e * e;
            }
            double norm = Math.sqrt(sq);
            loss += norm;
            if (dx != null && norm > 0)
                for (int k = 0; k < dd; k++) {
                    long i = (long) r * dd + k;
                    Formulas.store(dx, i, dx.getDouble(i) + (xv[r * dd + k] - yv[r * dd + k]) / (norm * m));
                }
        }
        Formulas.store(lossOut, 0, loss / m);
    }

    /**
     * Stage 3, knowledge distillation: the mean over rows of the cross-entropy −Σ_v p_v log q_v with
     * p = softmax(teacher/τ), q = softmax(student/τ) over (M, V) logits; gradient (q − p) / (τ·M) ADDED into dStudent (or null).
     */
    public static void soft(Tensor student, Tensor teacher, double tau, Tensor dStudent, Tensor lossOut) {
        int m = (int) student.dim(0), v = (int) student.dim(1);
        double[] s = student.toDoubleArray(), te = teacher.toDoubleArray();
        double loss = 0;
        double[] q = new double[v], p = new double[v];
        for (int r = 0; r < m; r++) {
            double lseS = softmax(s, r * v, v, tau, q);
            softmax(te, r * v, v, tau, p);
            double ce = 0;
            for (int k = 0; k < v; k++) ce -= p[k] * (s[r * v + k] / tau - lseS);
            loss += ce;
            if (dStudent != null)
                for (int k = 0; k < v; k++) {
                    long i = (long) r * v + k;
                    Formulas.store(dStudent, i, dStudent.getDouble(i) + (q[k] - p[k]) / (tau * m));
                }
        }
        Formulas.store(lossOut, 0, loss / m);
    }

    /** out = softmax(x[off .. off+v) / τ); returns the log-sum-exp of x/τ. */
    private static double softmax(double[] x, int off, int v, double tau, double[] out) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < v; k++) max = Math.max(max, x[off + k] / tau);
        double sum = 0;
        for (int k = 0; k < v; k++) sum += out[k] = Math.exp(x[off + k] / tau - max);
        for (int k = 0; k < v; k++) out[k] /= sum;
        return max + Math.log(sum);
    }

    private static void addInto(Tensor dst, long offset, double[] src) {
        for (int i = 0; i < src.length; i++) Formulas.store(dst, offset + i, dst.getDouble(offset + i) + src[i]);
    }
}
