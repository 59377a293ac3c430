package mamba4j.models.discrete;

import mamba4j.models.TensorSpec;
import mamba4j.models.teachers.TeacherSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * The one checkpoint-name → field mapping of a MOHAWK student (phi-mamba's names, {@code backbone.…}), generic in what
 * it holds: {@link TensorSpec}s from {@link #table}, then by {@link #map} the loaded tensors, the trainable parameters
 * or a tape's variables. Load, init, save, the parameter list, the parameter count and the bytes per decode token all
 * walk this record, in checkpoint order ({@link #all}). Each layer has exactly one of a mixer and a kept attention.
 */
public record StudentWeights<T>(TeacherSpec.Arch arch, T embedding, List<Layer<T>> layers, T normF, T normFBias, T lmHead, T lmHeadBias) {
    public StudentWeights {
        layers = List.copyOf(layers);
    }

    /**
     * One Discrete Mamba-2 mixer under {@code mixer.}: in_proj (E + 2GN + E + H, D) with rows xBC | z | A_log and its
     * bias (config.bias), conv1d (C, K) (stored (C, 1, K)) and its bias (config.conv_bias), z_bias (E, only without
     * in_proj's bias: phi-mamba's constant 0 otherwise), D (H), out_proj (D, E) and its bias (config.bias).
     */
    public record Mixer<T>(T inProj, T inProjBias, T convWeight, T convBias, T zBias, T d, T outProj, T outProjBias) {
        public <U> Mixer<U> map(Function<? super T, ? extends U> f) {
            return new Mixer<>(m(f, inProj), m(f, inProjBias), m(f, convWeight), m(f, convBias), m(f, zBias), m(f, d), m(f, outProj), m(f, outProjBias));
        }

        /** The present elements in checkpoint order. */
        public List<T> all() { return present(inProj, inProjBias, zBias, convWeight, convBias, d, outProj, outProjBias); }
    }

    /** A kept attention under {@code mixer.}: q, k, v (H·Dh or Hkv·Dh, D) and the output projection o (D, H·Dh): Phi's dense, Llama's o_proj. */
    public record Attention<T>(T q, T qBias, T k, T kBias, T v, T vBias, T o, T oBias) {
        public <U> Attention<U> map(Function<? super T, ? extends U> f) {
            return new Attention<>(m(f, q), m(f, qBias), m(f, k), m(f, kBias), m(f, v), m(f, vBias), m(f, o), m(f, oBias));
        }

        List<T> all() { return present(q, qBias, k, kBias, v, vBias, o, oBias); }
    }

    /**
     * One block: the input norm (Phi: LayerNorm with bias; Llama: RMSNorm), exactly one of mixer and attention, Llama's
     * post_attention_layernorm (norm2) and gate_proj, the MLP's up (fc1 / up_proj) and down (fc2 / down_proj).
     */
    public record Layer<T>(T norm, T normBias, Mixer<T> mixer, Attention<T> attention, T norm2, T gate, T gateBias,
                           T up, T upBias, T down, T downBias) {
        public Layer {
            if ((mixer == null) == (attention == null))
                throw new IllegalArgumentException("a student layer has exactly one of a mixer and an attention");
        }

        public boolean isAttention() { return attention != null; }

        public <U> Layer<U> map(Function<? super T, ? extends U> f) {
            return new Layer<>(m(f, norm), m(f, normBias), mixer == null ? null : mixer.map(f), attention == null ? null : attention.map(f),
                    m(f, norm2), m(f, gate), m(f, gateBias), m(f, up), m(f, upBias), m(f, down), m(f, downBias));
        }

        List<T> all() {
            List<T> out = new ArrayList<>(present(norm, normBias));
            out.addAll(mixer != null ? mixer.all() : attention.all());
            out.addAll(present(norm2, gate, gateBias, up, upBias, down, downBias));
            return out;
        }
    }

    /** Which optional tensors exist: Llama's attention and MLP biases (Phi always has both), the head's bias. */
    public record Presence(boolean attentionBias, boolean mlpBias, boolean lmHeadBias) {}

    /** The names and shapes of a student: the teacher's shapes, the mixer's, the kept-attention layers and the optional tensors. */
    public static StudentWeights<TensorSpec> table(TeacherSpec s, DiscreteMamba2Config mc, Set<Integer> attentionLayers, Presence pr) {
        MohawkStudent.Wiring wi = new MohawkStudent.Wiring(s.arch());
        boolean llama = wi.llama(), attnBias = !llama || pr.attentionBias(), mlpBias = !llama || pr.mlpBias();
        long d = s.hidden(), in = s.intermediate(), qd = (long) s.heads() * s.headDim(), kvd = (long) s.kvHeads() * s.headDim(), v = s.vocabSize();
        List<Layer<TensorSpec>> layers = new ArrayList<>();
        for (int i = 0; i < s.layers(); i++) {
            String p = "backbone.layers." + i + ".", x = p + "mixer.";
            Mixer<TensorSpec> mixer = null;
            Attention<TensorSpec> attention = null;
            if (attentionLayers.contains(i)) {
                String o = x + wi.attentionOut();
                attention = new Attention<>(TensorSpec.matrix(x + "q_proj.weight", qd, d), bias(attnBias, x + "q_proj.bias", qd),
                        TensorSpec.matrix(x + "k_proj.weight", kvd, d), bias(attnBias, x + "k_proj.bias", kvd),
                        TensorSpec.matrix(x + "v_proj.weight", kvd, d), bias(attnBias, x + "v_proj.bias", kvd),
                        TensorSpec.matrix(o + ".weight", d, qd), bias(attnBias, o + ".bias", d));
            } else {
                mixer = new Mixer<>(TensorSpec.matrix(x + "in_proj.weight", mc.inProjSize(), d), bias(mc.bias(), x + "in_proj.bias", mc.inProjSize()),
                        TensorSpec.conv(x + "conv1d.weight", mc.convDim(), mc.convKernel()), bias(mc.convBias(), x + "conv1d.bias", mc.convDim()),
                        bias(!mc.bias(), x + "z_bias", mc.dInner()), TensorSpec.vector(x + "D", mc.nVHeads()),
                        TensorSpec.matrix(x + "out_proj.weight", d, mc.dInner()), bias(mc.bias(), x + "out_proj.bias", d));
            }
            String up = p + "mlp." + wi.up(), down = p + "mlp." + wi.down();
            layers.add(new Layer<>(TensorSpec.vector(p + "input_layernorm.weight", d), bias(!llama, p + "input_layernorm.bias", d), mixer, attention,
                    llama ? TensorSpec.vector(p + wi.norm2() + ".weight", d) : null,
                    llama ? TensorSpec.matrix(p + "mlp." + wi.gate() + ".weight", in, d) : null, bias(llama && mlpBias, p + "mlp." + wi.gate() + ".bias", in),
                    TensorSpec.matrix(up + ".weight", in, d), bias(mlpBias, up + ".bias", in),
                    TensorSpec.matrix(down + ".weight", d, in), bias(mlpBias, down + ".bias", d)));
        }
        TensorSpec emb = TensorSpec.matrix("backbone.embedding.weight", v, d);
        return new StudentWeights<>(s.arch(), emb, layers, TensorSpec.vector("backbone.final_layernorm.weight", d),
                bias(!llama, "backbone.final_layernorm.bias", d), s.tieWordEmbeddings() ? emb : TensorSpec.matrix("lm_head.weight", v, d),
                bias(pr.lmHeadBias(), "lm_head.bias", v));
    }

    private static TensorSpec bias(boolean exists, String name, long n) { return exists ? TensorSpec.vector(name, n) : null; }

    /** The same record with every present element mapped once (a tied head maps to the embedding's image). */
    public <U> StudentWeights<U> map(Function<? super T, ? extends U> f) {
        Map<T, U> seen = new IdentityHashMap<>();
        Function<T, U> once = t -> t == null ? null : seen.computeIfAbsent(t, f::apply);
        List<Layer<U>> ls = new ArrayList<>();
        for (Layer<T> l : layers) ls.add(l.map(once));
        return new StudentWeights<>(arch, once.apply(embedding), ls, once.apply(normF), once.apply(normFBias), once.apply(lmHead), once.apply(lmHeadBias));
    }

    /** Every present element once, in checkpoint order (a tied head is the embedding, listed once). */
    public List<T> all() {
        List<T> out = new ArrayList<>();
        out.add(embedding);
        for (Layer<T> l : layers) out.addAll(l.all());
        out.addAll(present(normF, normFBias));
        if (lmHead != embedding) out.add(lmHead);
        if (lmHeadBias != null) out.add(lmHeadBias);
        return out;
    }

    public boolean tied() { return lmHead == embedding; }

    /** The elements under the names of {@code table} (this record's shape), in checkpoint order. */
    public Map<String, T> named(StudentWeights<TensorSpec> table) {
        List<TensorSpec> names = table.all();
        List<T> values = all();
        if (names.size() != values.size()) throw new IllegalArgumentException(values.size() + " tensors for " + names.size() + " names");
        Map<String, T> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) out.put(names.get(i).name(), values.get(i));
        return out;
    }

    @SafeVarargs
    private static <T> List<T> present(T... ts) { return Arrays.stream(ts).filter(Objects::nonNull).toList(); }

    private static <T, U> U m(Function<? super T, ? extends U> f, T t) { return t == null ? null : f.apply(t); }
}
