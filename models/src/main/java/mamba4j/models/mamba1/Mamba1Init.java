package mamba4j.models.mamba1;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A freshly initialised Mamba-1 model, as mamba_ssm initialises one (MATH.md "Init"): A_log[e, n] = log(n+1),
 * D = 1, dt_proj.weight ~ U(±R^-1/2), dt_proj.bias = softplus⁻¹(dt) with dt log-uniform in [1e-3, 0.1]
 * floored at 1e-4, embeddings N(0, 0.02), other Linear weights U(±1/sqrt(fan_in)) (PyTorch's default),
 * biases 0, out_proj divided by sqrt(n_layer), norms 1. Linear weights are stored in {@code weightType}.
 */
public final class Mamba1Init {
    private Mamba1Init() {}

    /** The published shapes (state-spaces/mamba-*), vocab 50277 padded to 50280, tied head. */
    public static Mamba1Config shape(String name) {
        return switch (name) {
            case "mamba-130m" -> published(768, 24);
            case "mamba-370m" -> published(1024, 48);
            case "mamba-790m" -> published(1536, 48);
            case "mamba-1.4b" -> published(2048, 48);
            case "mamba-2.8b" -> published(2560, 64);
            default -> throw new mamba4j.core.UserInputException("--shape " + name
                    + ": unknown; known shapes: mamba-130m, mamba-370m, mamba-790m, mamba-1.4b, mamba-2.8b");
        };
    }

    private static Mamba1Config published(int d, int layers) {
        return new Mamba1Config(50280, 50280, d, 16, layers, 2, 4, Mamba1Config.autoDtRank(d), false, true, 1e-5, true, 0);
    }

    /** A random model on {@code backend} (see {@link #weights}). */
    public static Mamba1Model random(Mamba1Config c, DType weightType, long seed, Backend backend) {
        return Mamba1Model.of(c, backend, weights(c, weightType, seed).map(backend::upload));
    }

    /**
     * Fresh host tensors for the name table. The time-invariant ablation draws the selective tensors first (so both
     * variants share every other tensor for a seed), then replaces x_proj and dt_proj.weight by its constants:
     * Δ_const = 0, B = 1 and C ~ N(0, 1/N) (S4D-style), from a stream seeded per layer.
     */
    public static Mamba1Weights<Tensor> weights(Mamba1Config c, DType weightType, long seed) {
        DType small = weightType.isQuantised() ? DType.F32 : weightType;   // x_proj, dt_proj: never quantised (TensorSpec.smallMatrix)
        SplittableRandom rnd = new SplittableRandom(seed);
        int dm = c.hiddenSize(), e = c.dInner(), n = c.stateSize(), r = c.dtRank(), k = c.convKernel();
        Tensor emb = normal(rnd, 0.02, c.paddedVocabSize(), dm).to(weightType);
        List<Mamba1Weights.Layer<Tensor>> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            Tensor aLog = Tensor.zeros(DType.F32, e, n);
            for (int ch = 0; ch < e; ch++) for (int j = 0; j < n; j++) aLog.setFloat((long) ch * n + j, (float) Math.log(j + 1));
            Tensor dtBias = Tensor.zeros(DType.F32, e);
            for (int ch = 0; ch < e; ch++) {
                double dt = Math.exp(Math.log(1e-3) + rnd.nextDouble() * (Math.log(0.1) - Math.log(1e-3)));
                dt = Math.max(dt, 1e-4);
                dtBias.setFloat(ch, (float) (dt + Math.log(-Math.expm1(-dt))));
            }
            Tensor ones = Tensor.zeros(DType.F32, dm);
            ones.fill(1f);
            Tensor dSkip = Tensor.zeros(DType.F32, e);
            dSkip.fill(1f);
            Tensor outProj = uniform(rnd, 1 / Math.sqrt(e) / Math.sqrt(c.numHiddenLayers()), dm, e);
            Tensor inProj = uniform(rnd, 1 / Math.sqrt(dm), 2L * e, dm).to(weightType);
            Tensor inBias = c.useBias() ? Tensor.zeros(DType.F32, 2L * e) : null;
            Tensor convW = uniform(rnd, 1 / Math.sqrt(k), e, k), convB = c.useConvBias() ? uniform(rnd, 1 / Math.sqrt(k), e) : null;
            Tensor xProj = uniform(rnd, 1 / Math.sqrt(e), r + 2L * n, e).to(small);
            Tensor dtW = uniform(rnd, 1 / Math.sqrt(r), e, r).to(small);
            Tensor outBias = c.useBias() ? Tensor.zeros(DType.F32, dm) : null;
            Tensor dtConst = null, bConst = null, cConst = null;
            if (!c.selective()) {
                SplittableRandom lr = new SplittableRandom(seed * 31 + i);
                xProj = dtW = null;
                dtConst = Tensor.zeros(DType.F32, e, 1);
                bConst = Tensor.zeros(DType.F32, n, 1);
                bConst.fill(1f);
                cConst = Tensor.zeros(DType.F32, n, 1);
                for (int j = 0; j < n; j++) cConst.setFloat(j, (float) (gaussian(lr) / Math.sqrt(n)));
            }
            layers.add(new Mamba1Weights.Layer<>(ones, inProj, inBias, convW, convB, xProj, dtW, dtBias, aLog, dSkip,
                    outProj.to(weightType), outBias, dtConst, bConst, cConst));
        }
        Tensor normF = Tensor.zeros(DType.F32, dm);
        normF.fill(1f);
        Tensor head = c.tieWordEmbeddings() ? emb : normal(rnd, 0.02, c.paddedVocabSize(), dm).to(weightType);
        return new Mamba1Weights<>(emb, layers, normF, head);
    }

    static Tensor normal(SplittableRandom rnd, double std, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0, n = t.numel(); i < n; i++) t.setFloat(i, (float) (gaussian(rnd) * std));
        return t;
    }

    static Tensor uniform(SplittableRandom rnd, double bound, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0, n = t.numel(); i < n; i++) t.setFloat(i, (float) ((rnd.nextDouble() * 2 - 1) * bound));
        return t;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    }
}
