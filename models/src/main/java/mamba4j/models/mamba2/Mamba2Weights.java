package mamba4j.models.mamba2;

import mamba4j.models.TensorSpec;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The one checkpoint-name → field mapping of Mamba-2, generic in what it holds: {@link TensorSpec}s from
 * {@link #table}, then by {@link #map} the loaded tensors, the trainable parameters or a tape's variables. Load, init,
 * save, the parameter list, the parameter count and the bytes per decode token all walk this one record. Optional
 * biases are null where the config has none; a tied head is the embedding itself (the same object, mapped once).
 */
public record Mamba2Weights<T>(T embedding, List<Layer<T>> layers, T normF, T lmHead) {
    public Mamba2Weights {
        layers = List.copyOf(layers);
    }

    /** One block (mamba_ssm {@code Block} with a {@code Mamba2} mixer). Shapes: C = E + 2GN, I = 2E + 2GN + H. */
    public record Layer<T>(T norm,                                 // (D)
                           T inProj, T inProjBias,                 // (I, D) rows z | xBC | dt, (I)
                           T convWeight, T convBias,               // (C, K) (stored (C, 1, K)), (C)
                           T dtBias, T aLog, T d,                  // (H) each
                           T gateNorm,                             // mixer.norm.weight (E)
                           T outProj, T outProjBias) {             // (D, E), (D)

        public <U> Layer<U> map(Function<? super T, ? extends U> f) {
            return new Layer<>(m(f, norm), m(f, inProj), m(f, inProjBias), m(f, convWeight), m(f, convBias), m(f, dtBias),
                    m(f, aLog), m(f, d), m(f, gateNorm), m(f, outProj), m(f, outProjBias));
        }

        /** The present tensors in checkpoint order. */
        public List<T> all() {
            List<T> out = new ArrayList<>();
            for (T t : java.util.Arrays.asList(norm, inProj, inProjBias, convWeight, convBias, dtBias, aLog, d, gateNorm, outProj, outProjBias))
                if (t != null) out.add(t);
            return out;
        }

        private static <T, U> U m(Function<? super T, ? extends U> f, T t) { return t == null ? null : f.apply(t); }
    }

    /** The table of a config; {@code embeddingName} is the layout's (transformers' or the original's). */
    public static Mamba2Weights<TensorSpec> table(Mamba2Config c, String embeddingName) {
        long dm = c.hiddenSize(), e = c.dInner(), cd = c.convDim(), h = c.numHeads(), k = c.convKernel(), in = c.inProjSize(),
                v = c.paddedVocabSize();
        TensorSpec embedding = TensorSpec.matrix(embeddingName, v, dm);
        List<Layer<TensorSpec>> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "backbone.layers." + i + ".";
            // weight decay as mamba_ssm: not on A_log, D, dt_bias (_no_weight_decay), norms or biases
            layers.add(new Layer<>(
                    TensorSpec.vector(p + "norm.weight", dm),
                    TensorSpec.matrix(p + "mixer.in_proj.weight", in, dm),
                    c.useBias() ? TensorSpec.vector(p + "mixer.in_proj.bias", in) : null,
                    TensorSpec.conv(p + "mixer.conv1d.weight", cd, k),
                    c.useConvBias() ? TensorSpec.vector(p + "mixer.conv1d.bias", cd) : null,
                    TensorSpec.vector(p + "mixer.dt_bias", h),
                    TensorSpec.vector(p + "mixer.A_log", h),
                    TensorSpec.vector(p + "mixer.D", h),
                    TensorSpec.vector(p + "mixer.norm.weight", e),
                    TensorSpec.matrix(p + "mixer.out_proj.weight", dm, e),
                    c.useBias() ? TensorSpec.vector(p + "mixer.out_proj.bias", dm) : null));
        }
        TensorSpec head = c.tieWordEmbeddings() ? embedding : TensorSpec.matrix("lm_head.weight", v, dm);
        return new Mamba2Weights<>(embedding, layers, TensorSpec.vector("backbone.norm_f.weight", dm), head);
    }

    /** The same record with every present element mapped once (a tied head maps to the embedding's image). */
    public <U> Mamba2Weights<U> map(Function<? super T, ? extends U> f) {
        Map<T, U> seen = new IdentityHashMap<>();
        Function<T, U> once = t -> seen.computeIfAbsent(t, f::apply);
        List<Layer<U>> ls = new ArrayList<>();
        for (Layer<T> l : layers) ls.add(l.map(once));
        return new Mamba2Weights<>(once.apply(embedding), ls, once.apply(normF), lmHead == null ? null : once.apply(lmHead));
    }

    /** Every present element once, in checkpoint order: embedding, the blocks, norm_f, then an untied head. */
    public List<T> all() {
        List<T> out = new ArrayList<>();
        out.add(embedding);
        for (Layer<T> l : layers) out.addAll(l.all());
        out.add(normF);
        if (lmHead != null && lmHead != embedding) out.add(lmHead);
        return out;
    }

    public boolean tied() { return lmHead == embedding; }
}
