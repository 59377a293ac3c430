package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector math whose results do not depend on how the JIT runs it. The Vector API's transcendental lanewise ops
 * (EXP, LOG1P, TANH) and {@code reduceLanes(ADD)} give slightly different floats before and after C2 compiles a
 * method (Java fallback per lane vs SVML stubs and tree reductions), which broke bit-exact training resume.
 * These use only IEEE basic operations and FMA, which every tier computes identically, in a fixed order.
 *
 * <p>Accuracy: exp within ~2 ulp on [−87.3, 88.7] (below: the exact 0 is not produced, ~1e-38 is); log1p on
 * [0, 1] within ~2 ulp; the derived softplus, sigmoid and tanh follow.
 */
public final class VMath {
    private VMath() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    static final int VL = S.length();

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;   // Cody–Waite split of ln 2
    private static final float ROUND = 12582912f;                                  // 1.5·2^23: adds round to integer
    private static final float LO = -87.33654f, HI = 88.72283f;

    /** e^x, lane by lane. */
    public static FloatVector exp(FloatVector x) {
        x = x.max(LO).min(HI);
        FloatVector k = x.mul(LOG2E).add(ROUND).sub(ROUND);                   // round(x / ln 2)
        FloatVector r = k.mul(-LN2_HI).add(x);
        r = k.mul(-LN2_LO).add(r);                                             // r = x − k·ln 2, |r| ≤ ln2/2
        // e^r by its Taylor polynomial to degree 7, Horner form (error < 2e-8 on |r| ≤ 0.347)
        FloatVector p = r.fma(1.98412698e-4f, 1.38888889e-3f);
        p = p.fma(r, FloatVector.broadcast(S, 8.33333333e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.16666667e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.66666667e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 0.5f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        p = p.fma(r, FloatVector.broadcast(S, 1f));
        IntVector e = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        return p.mul(e.reinterpretAsFloats());
    }

    /** log(1 + y) for y in [0, 1]: 2·atanh(s) with s = y / (2 + y) ∈ [0, 1/3], odd series to s^17. */
    public static FloatVector log1pUnit(FloatVector y) {
        FloatVector s = y.div(y.add(2f)), s2 = s.mul(s);
        FloatVector p = s2.fma(1f / 17, 1f / 15);
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 13));
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 11));
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 9));
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 7));
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 5));
        p = p.fma(s2, FloatVector.broadcast(S, 1f / 3));
        p = p.fma(s2, FloatVector.broadcast(S, 1f));
        return s.mul(p).mul(2f);
    }

    /** softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^−|x|); x itself where x > 20 (mamba_ssm's threshold). */
    public static FloatVector softplus(FloatVector x) {
        FloatVector sp = x.max(0f).add(log1pUnit(exp(x.abs().neg())));
        return sp.blend(x, x.compare(VectorOperators.GT, 20f));
    }

    /** σ(x) = 1 / (1 + e^−x). */
    public static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(S, 1f).div(exp(x.neg()).add(1f));
    }

    /** tanh(x) = sign(x)·(1 − e^−2|x|) / (1 + e^−2|x|). */
    public static FloatVector tanh(FloatVector x) {
        FloatVector t = exp(x.abs().mul(-2f));
        FloatVector m = FloatVector.broadcast(S, 1f).sub(t).div(t.add(1f));
        return m.blend(m.neg(), x.compare(VectorOperators.LT, 0f));
    }

    /**
     * Σ lanes in a fixed pairwise order: lane i is added to lane i + VL/2, then i + VL/4, …, so the result is the same on
     * every run (unlike reduceLanes(ADD), whose order is the implementation's), in log₂(VL) shuffle-adds instead of VL − 1
     * dependent scalar adds after a spill.
     */
    public static float sum(FloatVector v) {
        if (VL >= 16) v = v.add(v.rearrange(SWAP8));
        if (VL >= 8) v = v.add(v.rearrange(SWAP4));
        if (VL >= 4) v = v.add(v.rearrange(SWAP2));
        if (VL >= 2) v = v.add(v.rearrange(SWAP1));
        return v.lane(0);
    }

    /**
     * acc[base + t] = Σ lanes of the vector spilled at acc[base + t·VL, base + (t+1)·VL), for t &lt; VL: a dot-product
     * kernel's accumulators, VL at a time (the caller spills them, which keeps its own method small enough for C2 to
     * inline every vector op).
     * log₂(VL) rounds fold pairs of vectors into one holding both their half-length partial sums (one two-vector
     * permute each half: vpermi2ps with AVX-512), in place: 3·(VL − 1) ops for all VL sums, against VL·log₂(VL)·2
     * shuffle-adds of {@link #sum} called VL times. Each sum is a fixed pairwise tree, the same on every run.
     */
    static void sumEach(float[] acc, int base) {
        for (int level = 0, vecs = VL; vecs > 1; level++, vecs /= 2) {
            FloatVector lo = FloatVector.fromArray(S, FOLD_LO, level * VL), hi = FloatVector.fromArray(S, FOLD_HI, level * VL);
            for (int t = 0; t < vecs / 2; t++) {
                int a = base + 2 * t * VL;
                FloatVector u = FloatVector.fromArray(S, acc, a), v = FloatVector.fromArray(S, acc, a + VL);
                lo.selectFrom(u, v).add(hi.selectFrom(u, v)).intoArray(acc, base + t * VL);
            }
        }
    }

    /**
     * The permutes of {@link #sumEach}'s rounds, as float lane indices into (u, v) (v's lanes are VL…2·VL−1). Round r
     * halves groups of 2g lanes (g = VL/2^(r+1)): output group q of g lanes takes u's group q (q &lt; VL/2g) or v's
     * group q − VL/2g, its low half (FOLD_LO) or high half (FOLD_HI); the halves are added. Kept as floats: a vector
     * read from an array of vectors has no static type for C2, and its ops are not inlined.
     */
    private static final float[] FOLD_LO = new float[Integer.numberOfTrailingZeros(VL) * VL], FOLD_HI = FOLD_LO.clone();

    static {
        for (int level = 0, g = VL / 2; g >= 1; level++, g /= 2) {
            int groups = VL / (2 * g);
            for (int l = 0; l < VL; l++) {
                int q = l / g, o = l % g;
                FOLD_LO[level * VL + l] = (q >= groups ? VL : 0) + (q % groups) * 2 * g + o;
                FOLD_HI[level * VL + l] = FOLD_LO[level * VL + l] + g;
            }
        }
    }

    private static final VectorShuffle<Float> SWAP8 = swap(8), SWAP4 = swap(4), SWAP2 = swap(2), SWAP1 = swap(1);

    private static VectorShuffle<Float> swap(int d) { return VectorShuffle.fromOp(S, i -> (i ^ d) % VL); }
}
