package mamba4j.models.mamba2;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A freshly initialised Mamba-2 model, as mamba_ssm's {@code Mamba2.__init__} and {@code _init_weights} do:
 * A_log = log U(1, 16) per head, D = 1, dt_bias = softplus⁻¹(dt) with dt log-uniform in [1e-3, 0.1] floored at
 * 1e-4, conv and in_proj PyTorch defaults (U(±1/sqrt(fan_in)), conv fan_in = K), biases 0, embeddings N(0, 0.02),
 * out_proj divided by sqrt(n_layer), norms (block, gated, final) 1. Linear weights are stored in {@code weightType}.
 */
public final class Mamba2Init {
    private Mamba2Init() {}

    /** The published shapes (state-spaces/mamba2-*): vocab 50277 padded to 50288, N 128, P 64, G 1, chunk 256, tied head. */
    public static Mamba2Config shape(String name) {
        return switch (name) {
            case "mamba2-130m" -> published(768, 24);
            case "mamba2-370m" -> published(1024, 48);
            case "mamba2-780m" -> published(1536, 48);
            case "mamba2-1.3b" -> published(2048, 48);
            case "mamba2-2.7b" -> published(2560, 64);
            default -> throw new mamba4j.core.UserInputException("--shape " + name
                    + ": unknown; known Mamba-2 shapes: mamba2-130m, mamba2-370m, mamba2-780m, mamba2-1.3b, mamba2-2.7b");
        };
    }

    private static Mamba2Config published(int d, int layers) {
        return new Mamba2Config(50277, 50288, d, 128, 2, 1, 2 * d / 64, 64, 4, false, true, 1e-5, true,
                0, Double.POSITIVE_INFINITY, 256, layers, 0, true);
    }

    /** A random model on {@code backend} (see {@link #weights}). */
    public static Mamba2Model random(Mamba2Config c, DType weightType, long seed, Backend backend) {
        return Mamba2Model.of(c, backend, weights(c, weightType, seed).map(backend::upload));
    }

    /** Fresh host tensors for the name table, drawn in a fixed order from {@code seed}. */
    public static Mamba2Weights<Tensor> weights(Mamba2Config c, DType weightType, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int dm = c.hiddenSize(), e = c.dInner(), cd = c.convDim(), h = c.numHeads(), k = c.convKernel(), in = c.inProjSize();
        Tensor emb = normal(rnd, 0.02, c.paddedVocabSize(), dm).to(weightType);
        List<Mamba2Weights.Layer<Tensor>> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            Tensor aLog = Tensor.zeros(DType.F32, h), dtBias = Tensor.zeros(DType.F32, h), dSkip = Tensor.zeros(DType.F32, h);
            for (int j = 0; j < h; j++) {
                aLog.setFloat(j, (float) Math.log(1 + 15 * rnd.nextDouble()));            // A ~ U(1, 16)
                double dt = Math.exp(Math.log(1e-3) + rnd.nextDouble() * (Math.log(0.1) - Math.log(1e-3)));
                dt = Math.max(dt, 1e-4);
                dtBias.setFloat(j, (float) (dt + Math.log(-Math.expm1(-dt))));            // softplus⁻¹(dt)
            }
            dSkip.fill(1f);
            layers.add(new Mamba2Weights.Layer<>(ones(dm),
                    uniform(rnd, 1 / Math.sqrt(dm), in, dm).to(weightType), c.useBias() ? Tensor.zeros(DType.F32, in) : null,
                    uniform(rnd, 1 / Math.sqrt(k), cd, k), c.useConvBias() ? uniform(rnd, 1 / Math.sqrt(k), cd) : null,
                    dtBias, aLog, dSkip, ones(e),
                    uniform(rnd, 1 / Math.sqrt(e) / Math.sqrt(c.numHiddenLayers()), dm, e).to(weightType),
                    c.useBias() ? Tensor.zeros(DType.F32, dm) : null));
        }
        Tensor head = c.tieWordEmbeddings() ? emb : normal(rnd, 0.02, c.paddedVocabSize(), dm).to(weightType);
        return new Mamba2Weights<>(emb, layers, ones(dm), head);
    }

    private static Tensor ones(long n) {
        Tensor t = Tensor.zeros(DType.F32, n);
        t.fill(1f);
        return t;
    }

    static Tensor normal(SplittableRandom rnd, double std, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0, n = t.numel(); i < n; i++)
            t.setFloat(i, (float) (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble()) * std));
        return t;
    }

    static Tensor uniform(SplittableRandom rnd, double bound, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0, n = t.numel(); i < n; i++) t.setFloat(i, (float) ((rnd.nextDouble() * 2 - 1) * bound));
        return t;
    }
}
