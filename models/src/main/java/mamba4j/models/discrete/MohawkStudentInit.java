package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.CheckpointNames;
import mamba4j.models.TensorSpec;
import mamba4j.models.teachers.TeacherWeights;
import mamba4j.models.teachers.TeacherSpec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * Builds a {@link MohawkStudent} from a Phi or Llama teacher's checkpoint (transformers' PhiForCausalLM /
 * LlamaForCausalLM names): MOHAWK's weight transfer and the paper's mixer initialisation (MATH.md "MOHAWK" and
 * "Discrete Mamba-2"). A Phi teacher gives a Phi-Mamba student, a Llama teacher a Llama-Mamba one.
 *
 * <p>Transfer (copied bit for bit, dtype kept): embeddings, every norm (Phi's input_layernorm; Llama's input and
 * post-attention RMSNorms), the MLPs (fc1/fc2; gate/up/down), the final norm, lm_head (weight and bias), and at the
 * layers that keep attention (hybrid) the teacher's q, k, v and output projection (dense; o_proj).
 * Mixer init: conv = identity (last tap 1, others 0, bias 0); z rows of in_proj = 0 and z_bias = 1.278464542761 so
 * silu(z + z_bias) starts "open"; D = 1; out_proj ~ nn.Linear's U(±1/√E) scaled by 1/√n_layer; x, B, C and A_log rows
 * ~ nn.Linear's U(±1/√D) (phi-mamba's default init), or x, B, C copied from the teacher's V, K, Q projections.
 *
 * <p>The tensors are read from the checkpoint rather than from a {@code TransformerLM}, which does not expose its
 * embedding, final norm and head; the names below are the same ones {@code TeacherLoader} reads.
 */
public final class MohawkStudentInit {
    private MohawkStudentInit() {}

    /**
     * @param mixer           the student mixer's shape ({@link DiscreteMamba2Config#forTeacher} by default)
     * @param attentionLayers layers that keep the teacher's attention (hybrid); empty: a mixer at every layer
     * @param xbcFromVkq      start x, B, C rows of in_proj from the teacher's V, K, Q weights (and biases when in_proj
     *                        has one) instead of random; needs E = G·N = H·Dh; with grouped KV heads (GQA) each
     *                        K, V head is repeated for the query heads that share it, as attention does
     * @param seed            seed of the random rows
     */
    public record Options(DiscreteMamba2Config mixer, Set<Integer> attentionLayers, boolean xbcFromVkq, long seed) {
        public Options {
            attentionLayers = Set.copyOf(attentionLayers);
        }
    }

    /** The default options: {@link DiscreteMamba2Config#forTeacher}, no attention kept, random x, B, C. */
    public static Options defaults(TeacherSpec s, long seed) {
        return new Options(DiscreteMamba2Config.forTeacher(s), Set.of(), false, seed);
    }

    /**
     * The weight transfer as a visible mapping: student name ({@link MohawkStudent#tensors}) → teacher checkpoint name
     * (transformers' PhiForCausalLM / LlamaForCausalLM), for every tensor copied from the teacher, in order: the two
     * name tables ({@link StudentWeights#table}, {@link TeacherWeights#table}) zipped field by field. Optional biases
     * are listed when the checkpoint has them; a tied head maps lm_head.weight to the embedding.
     */
    public static Map<String, String> transferNames(TeacherSpec s, Set<Integer> attentionLayers, CheckpointTensors ck) {
        StudentWeights.Presence pr = presence(s, ck);
        StudentWeights<TensorSpec> st = StudentWeights.table(s, DiscreteMamba2Config.forTeacher(s), attentionLayers, pr);
        TeacherWeights<TensorSpec> tt = TeacherWeights.table(s, "transformer.", pr.attentionBias(), pr.mlpBias(), pr.lmHeadBias());
        Map<String, String> m = new LinkedHashMap<>();
        pair(m, st.embedding(), tt.embedding());
        for (int i = 0; i < s.layers(); i++) {
            StudentWeights.Layer<TensorSpec> sl = st.layers().get(i);
            TeacherWeights.Layer<TensorSpec> tl = tt.layers().get(i);
            pair(m, sl.norm(), tl.norm1());
            pair(m, sl.normBias(), tl.norm1Bias());
            pair(m, sl.norm2(), tl.norm2());
            if (sl.isAttention()) {
                StudentWeights.Attention<TensorSpec> a = sl.attention();
                pair(m, a.q(), tl.q()); pair(m, a.qBias(), tl.qBias());
                pair(m, a.k(), tl.k()); pair(m, a.kBias(), tl.kBias());
                pair(m, a.v(), tl.v()); pair(m, a.vBias(), tl.vBias());
                pair(m, a.o(), tl.o()); pair(m, a.oBias(), tl.oBias());
            }
            pair(m, sl.gate(), tl.gate()); pair(m, sl.gateBias(), tl.gateBias());
            pair(m, sl.up(), tl.up()); pair(m, sl.upBias(), tl.upBias());
            pair(m, sl.down(), tl.down()); pair(m, sl.downBias(), tl.downBias());
        }
        pair(m, st.normF(), tt.normF());
        pair(m, st.normFBias(), tt.normFBias());
        m.put("lm_head.weight", tt.lmHead().name());
        pair(m, st.lmHeadBias(), tt.lmHeadBias());
        return m;
    }

    /** Which optional tensors the teacher has, as the student's table takes them (Phi has every bias). */
    static StudentWeights.Presence presence(TeacherSpec s, CheckpointTensors ck) {
        boolean llama = s.arch() == TeacherSpec.Arch.LLAMA;
        return new StudentWeights.Presence(llama && ck.contains("model.layers.0.self_attn.q_proj.bias"),
                llama && ck.contains("model.layers.0.mlp.up_proj.bias"), ck.contains("lm_head.bias"));
    }

    /** student ← teacher, where both tables have the tensor (one side only would be a table bug). */
    private static void pair(Map<String, String> m, TensorSpec student, TensorSpec teacher) {
        if ((student == null) != (teacher == null))
            throw new IllegalStateException("student " + student + " and teacher " + teacher + " tables disagree");
        if (student != null) m.put(student.name(), teacher.name());
    }

    /** The student of a Phi or Llama teacher whose config gave {@code s} and whose tensors are in {@code ck}. */
    public static MohawkStudent fromTeacher(TeacherSpec s, CheckpointTensors ck, Backend backend, Options o) {
        if (s.arch() != TeacherSpec.Arch.PHI && s.arch() != TeacherSpec.Arch.LLAMA)
            throw new UserInputException("MOHAWK students are built from Phi or Llama teachers, got " + s.arch());
        for (int i : o.attentionLayers())
            if (i < 0 || i >= s.layers())
                throw new UserInputException("attention layer " + i + " is out of range: the teacher has " + s.layers() + " layers");
        DiscreteMamba2Config mc = o.mixer();
        if (mc.dModel() != s.hidden())
            throw new UserInputException("student mixer d_model " + mc.dModel() + " != the teacher's hidden_size " + s.hidden());
        Map<String, String> names = transferNames(s, o.attentionLayers(), ck);
        CheckpointNames n = new CheckpointNames(ck);
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : names.entrySet()) {
            String st = e.getKey(), te = e.getValue();
            if (!ck.contains(te)) throw new UserInputException("teacher checkpoint: missing tensor '" + te + "'");
            long[] dims = ck.shape(te).dims();                                    // the shapes are checked by fromTensors
            t.put(st, te.endsWith(".weight") && dims.length == 2 ? w(n, te, dims) : f(n, te, dims));
        }
        if (s.tieWordEmbeddings()) t.put("lm_head.weight", t.get("backbone.embedding.weight"));
        SplittableRandom rnd = new SplittableRandom(o.seed());
        StudentWeights<TensorSpec> table = StudentWeights.table(s, mc, o.attentionLayers(), presence(s, ck));
        for (int i = 0; i < s.layers(); i++) {
            if (o.attentionLayers().contains(i)) continue;
            StudentWeights.Mixer<Tensor> w = o.xbcFromVkq() ? mixerFromVkq(mc, n, "model.layers." + i + ".", s, rnd) : mixerWeights(mc, s.layers(), rnd, null);
            List<TensorSpec> specs = table.layers().get(i).mixer().all();
            List<Tensor> values = w.all();
            if (specs.size() != values.size())
                throw new IllegalStateException("layer " + i + ": the mixer has " + values.size() + " tensors, its name table " + specs.size());
            for (int j = 0; j < specs.size(); j++) t.put(specs.get(j).name(), values.get(j));
        }
        try {
            return MohawkStudent.fromTensors(s, mc, o.attentionLayers(), backend, t);
        } catch (UserInputException ex) {                                         // name the teacher's tensor, not the student's
            for (Map.Entry<String, String> e : names.entrySet())
                if (ex.getMessage().contains("'" + e.getKey() + "'"))
                    throw new UserInputException(ck.file(e.getValue()) + ": tensor '" + e.getValue() + "' (copied to the student's '" + e.getKey()
                            + "'): " + ex.getMessage().replace("'" + e.getKey() + "' ", ""), ex);
            throw ex;
        }
    }

    /** Layers that get a mixer: all but the attention ones (for callers listing the mixer layers). */
    public static Set<Integer> mixerLayers(TeacherSpec s, Set<Integer> attentionLayers) {
        Set<Integer> m = new TreeSet<>();
        for (int i = 0; i < s.layers(); i++) if (!attentionLayers.contains(i)) m.add(i);
        return m;
    }

    /**
     * One mixer's weights with the paper's init; {@code xbc} = the (x | B | C) rows and their bias (null: random rows,
     * no bias) to start from instead of random.
     */
    static StudentWeights.Mixer<Tensor> mixerWeights(DiscreteMamba2Config c, int nLayer, SplittableRandom rnd, Tensor[] xbc) {
        int dm = c.dModel(), e = c.dInner(), cd = c.convDim(), h = c.nVHeads(), k = c.convKernel(), rows = c.inProjSize();
        Tensor inProj = Tensor.zeros(DType.F32, rows, dm);
        double bound = 1 / Math.sqrt(dm);                                        // nn.Linear default: U(±1/√fan_in)
        for (int r = 0; r < rows; r++) {
            boolean z = r >= cd && r < cd + e;                                     // z rows stay 0: the gate starts open
            for (int col = 0; col < dm; col++) {
                long idx = (long) r * dm + col;
                if (r < cd && xbc != null) inProj.setFloat(idx, xbc[0].getFloat(idx));
                else if (!z) inProj.setFloat(idx, (float) rnd.nextDouble(-bound, bound));
            }
        }
        Tensor inProjBias = null, zBias = null;
        if (c.bias()) {                                                           // phi-mamba: z_bias is 0, in_proj.bias plays its part
            inProjBias = Tensor.zeros(DType.F32, rows);
            for (int r = 0; r < cd && xbc != null && xbc[1] != null; r++) inProjBias.setFloat(r, xbc[1].getFloat(r));
            for (int r = cd; r < cd + e; r++) inProjBias.setFloat(r, (float) c.zBiasInit());
        } else {
            zBias = Tensor.zeros(DType.F32, e);
            zBias.fill((float) c.zBiasInit());
        }
        Tensor conv = Tensor.zeros(DType.F32, cd, k);                             // identity: out_t = in_t
        for (int ch = 0; ch < cd; ch++) conv.setFloat((long) ch * k + k - 1, 1f);
        Tensor convBias = c.convBias() ? Tensor.zeros(DType.F32, cd) : null;
        Tensor dSkip = Tensor.zeros(DType.F32, h);
        dSkip.fill(1f);
        Tensor outProj = Tensor.zeros(DType.F32, dm, e);
        double ob = 1 / Math.sqrt(e), scale = 1 / Math.sqrt(nLayer);              // out_proj / √n_layer (MATH.md)
        for (long i = 0; i < outProj.numel(); i++) outProj.setFloat(i, (float) (rnd.nextDouble(-ob, ob) * scale));
        Tensor outProjBias = c.bias() ? Tensor.zeros(DType.F32, dm) : null;
        return new StudentWeights.Mixer<>(inProj, inProjBias, conv, convBias, zBias, dSkip, outProj, outProjBias);
    }

    /**
     * The paper's init with x ← V, B ← K, C ← Q (rows of in_proj, and the biases when in_proj has one and the teacher
     * has them). With grouped KV heads, query head h reads KV head h / (H / Hkv): its V and K rows are repeated.
     */
    private static StudentWeights.Mixer<Tensor> mixerFromVkq(DiscreteMamba2Config c, CheckpointNames n, String p, TeacherSpec s, SplittableRandom rnd) {
        int dm = c.dModel(), e = c.dInner(), gn = c.nQkHeads() * c.dState(), dh = s.headDim(), qd = s.heads() * dh, kvd = s.kvHeads() * dh;
        if (e != qd || gn != qd)
            throw new UserInputException("x, B, C from V, K, Q need E = G·N = H·Dh; got E " + e + ", G·N " + gn + ", H·Dh " + qd);
        int group = s.heads() / s.kvHeads();
        Tensor xbc = Tensor.zeros(DType.F32, c.convDim(), dm), xbcBias = Tensor.zeros(DType.F32, c.convDim());
        String[] src = {"v_proj", "k_proj", "q_proj"};                            // x | B | C
        int[] at = {0, e, e + gn};
        for (int part = 0; part < 3; part++) {
            int rows = part == 2 ? qd : kvd, rep = part == 2 ? 1 : group;
            Tensor wt = n.raw(p + "self_attn." + src[part] + ".weight", rows, dm);
            String bn = p + "self_attn." + src[part] + ".bias";
            Tensor b = n.ck().contains(bn) ? n.raw(bn, rows) : null;
            for (int r = 0; r < qd; r++) {                                        // target row r: head r / Dh, within r % Dh
                int from = (r / dh / rep) * dh + r % dh;
                for (int col = 0; col < dm; col++) xbc.setFloat((long) (at[part] + r) * dm + col, wt.getFloat((long) from * dm + col));
                if (b != null) xbcBias.setFloat(at[part] + r, b.getFloat(from));
            }
        }
        // an unbiased in_proj (the default) drops the teacher's V, K, Q biases
        return mixerWeights(c, s.layers(), rnd, new Tensor[]{xbc, c.bias() ? xbcBias : null});
    }

    /** A matmul weight, copied with its dtype. */
    private static Tensor w(CheckpointNames n, String name, long... dims) { return n.weight(name, dims).copy(); }

    /** A small parameter as F32, copied. */
    private static Tensor f(CheckpointNames n, String name, long... dims) { return n.f32(name, dims).copy(); }
}
