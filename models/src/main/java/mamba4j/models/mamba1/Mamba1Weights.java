package mamba4j.models.mamba1;

import mamba4j.models.TensorSpec;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The one checkpoint-name → field mapping of Mamba-1, generic in what it holds: {@link TensorSpec} (name, shape,
 * storage rules) from {@link #table}, then by {@link #map} the loaded tensors, the trainable parameters or a tape's variables.
 * Load, init, save, the parameter list, the parameter count and the bytes per decode token all walk this one record.
 * Optional tensors (biases, the time-invariant ablation's constants) are null where the config has none; a tied head
 * is the embedding itself (the same object, mapped once).
 */
public record Mamba1Weights<T>(T embedding, List<Layer<T>> layers, T normF, T lmHead) {
    public Mamba1Weights {
        layers = List.copyOf(layers);
    }

    /** One block (mamba_ssm {@code Block} with a {@code Mamba} mixer). */
    public record Layer<T>(T norm,
                           T inProj, T inProjBias,                 // (2E, D) rows x | z, (2E)
                           T convWeight, T convBias,               // (E, K) (stored (E, 1, K)), (E)
                           T xProj,                                // (R + 2N, E) rows Δ | B | C; null when time-invariant
                           T dtProjWeight, T dtProjBias,           // (E, R) (null when time-invariant), (E)
                           T aLog, T d,                            // A_log (E, N), D (E)
                           T outProj, T outProjBias,               // (D, E), (D)
                           T dtConst, T bConst, T cConst) {        // time-invariant ablation only: (E, 1), (N, 1), (N, 1)

        public <U> Layer<U> map(Function<? super T, ? extends U> f) {
            return new Layer<>(m(f, norm), m(f, inProj), m(f, inProjBias), m(f, convWeight), m(f, convBias), m(f, xProj),
                    m(f, dtProjWeight), m(f, dtProjBias), m(f, aLog), m(f, d), m(f, outProj), m(f, outProjBias),
                    m(f, dtConst), m(f, bConst), m(f, cConst));
        }

        /** The present tensors in checkpoint order. */
        public List<T> all() {
            List<T> out = new ArrayList<>();
            for (T t : java.util.Arrays.asList(norm, inProj, inProjBias, convWeight, convBias, xProj, dtProjWeight, dtConst,
                    bConst, cConst, dtProjBias, aLog, d, outProj, outProjBias))
                if (t != null) out.add(t);
            return out;
        }

        private static <T, U> U m(Function<? super T, ? extends U> f, T t) { return t == null ? null : f.apply(t); }
    }

    /**
     * The table of a config. {@code embeddingName}: transformers' {@code backbone.embeddings.weight} or the original
     * layout's {@code backbone.embedding.weight} (the only name that differs between the two layouts).
     */
    public static Mamba1Weights<TensorSpec> table(Mamba1Config c, String embeddingName) {
        long dm = c.hiddenSize(), e = c.dInner(), n = c.stateSize(), r = c.dtRank(), k = c.convKernel(), v = c.paddedVocabSize();
        TensorSpec embedding = TensorSpec.matrix(embeddingName, v, dm);
        List<Layer<TensorSpec>> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "backbone.layers." + i + ".";
            boolean sel = c.selective();
            layers.add(new Layer<>(
                    TensorSpec.vector(p + "norm.weight", dm),
                    TensorSpec.matrix(p + "mixer.in_proj.weight", 2 * e, dm),
                    c.useBias() ? TensorSpec.vector(p + "mixer.in_proj.bias", 2 * e) : null,
                    TensorSpec.conv(p + "mixer.conv1d.weight", e, k),
                    c.useConvBias() ? TensorSpec.vector(p + "mixer.conv1d.bias", e) : null,
                    sel ? TensorSpec.smallMatrix(p + "mixer.x_proj.weight", r + 2 * n, e) : null,
                    sel ? TensorSpec.smallMatrix(p + "mixer.dt_proj.weight", e, r) : null,
                    TensorSpec.vector(p + "mixer.dt_proj.bias", e),
                    TensorSpec.vector(p + "mixer.A_log", e, n),
                    TensorSpec.vector(p + "mixer.D", e),
                    TensorSpec.matrix(p + "mixer.out_proj.weight", dm, e),
                    c.useBias() ? TensorSpec.vector(p + "mixer.out_proj.bias", dm) : null,
                    sel ? null : TensorSpec.vector(p + "mixer.dt_const", e, 1),
                    sel ? null : TensorSpec.vector(p + "mixer.B_const", n, 1),
                    sel ? null : TensorSpec.vector(p + "mixer.C_const", n, 1)));
        }
        TensorSpec head = c.tieWordEmbeddings() ? embedding : TensorSpec.matrix("lm_head.weight", v, dm);
        return new Mamba1Weights<>(embedding, layers, TensorSpec.vector("backbone.norm_f.weight", dm), head);
    }

    /** The same record with every present element mapped once (a tied head maps to the embedding's image). */
    public <U> Mamba1Weights<U> map(Function<? super T, ? extends U> f) {
        Map<T, U> seen = new IdentityHashMap<>();
        Function<T, U> once = t -> seen.computeIfAbsent(t, f::apply);
        List<Layer<U>> ls = new ArrayList<>();
        for (Layer<T> l : layers) ls.add(l.map(once));
        return new Mamba1Weights<>(once.apply(embedding), ls, once.apply(normF), lmHead == null ? null : once.apply(lmHead));
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
