package mamba4j.models.discrete;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.Workspace;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.ParameterSet;
import mamba4j.models.Sampler;
import mamba4j.models.TokenIds;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * A {@link MohawkStudent} as trainable F32 parameters under its checkpoint names ({@link MohawkStudent#tensors}),
 * with its forward recorded on a {@link Tape}, op for op the inference path: embedding → blocks (Phi: LN → mixer (or
 * kept attention) ∥ MLP, added to the residual; Llama: h += mixer(RMS h), h += swiglu(RMS h)) → final norm → lm_head. Besides the whole model (plain next-token
 * loss, for {@code train}) it exposes the pieces the MOHAWK stages train: one mixer's materialised-matrix distance, one
 * block's output, the logits.
 *
 * <p>Freezing: {@link #trainOnly} restricts {@link #parameters()} to the names a predicate accepts; the others enter
 * the tape as constants (no gradient is computed for them) and the trainer does not update them.
 */
public final class MohawkStudentTrainable implements TrainableModel {
    private final TeacherSpec spec;
    private final MohawkStudent.Wiring wiring;
    private final DiscreteMamba2Config mixer;
    private final Set<Integer> attentionLayers;
    private final boolean lmHeadBias;
    private final Backend backend;
    private final ParameterSet params = new ParameterSet();
    private final Workspace workspace = Workspace.collected();
    private final Tensor cos, sin;                  // rotary tables for kept attention, or null
    private Predicate<String> trainable = name -> true;

    private MohawkStudentTrainable(MohawkStudent s, Backend backend) {
        this.spec = s.spec();
        this.wiring = s.wiring();
        this.mixer = s.mixerConfig();
        this.backend = backend;
        Set<Integer> attn = new TreeSet<>();
        for (int i = 0; i < s.layers().size(); i++) if (s.layers().get(i).isAttention()) attn.add(i);
        this.attentionLayers = Set.copyOf(attn);
        this.lmHeadBias = s.lmHeadBias() != null;
        Map<String, Tensor> t = s.tensors();
        for (Map.Entry<String, Tensor> e : t.entrySet()) {
            if (e.getKey().equals("lm_head.weight") && spec.tieWordEmbeddings()) continue;   // the embedding, used twice
            String n = e.getKey();
            Tensor v = e.getValue().dtype() == DType.F32 ? e.getValue().copy() : e.getValue().to(DType.F32);
            params.add(n, v, n.endsWith(".weight") && !n.contains("layernorm"));   // no decay on norms and biases
        }
        if (!attn.isEmpty() && spec.rotaryDim() > 0) {
            Tensor[] r = Formulas.ropeTables(spec.ropeTheta(), spec.rotaryDim(), spec.maxPositions(), DType.F32);
            cos = r[0];
            sin = r[1];
        } else {
            cos = sin = null;
        }
    }

    /** F32 copies of the student's weights. */
    public static MohawkStudentTrainable of(MohawkStudent s, Backend backend) { return new MohawkStudentTrainable(s, backend); }

    public TeacherSpec spec() { return spec; }
    public MohawkStudent.Wiring wiring() { return wiring; }
    public DiscreteMamba2Config mixerConfig() { return mixer; }
    public Set<Integer> attentionLayers() { return attentionLayers; }
    public Backend backend() { return backend; }

    /** Every parameter, trainable or frozen, in checkpoint order. */
    public List<Parameter> allParameters() { return params.list(); }

    /** Only the parameters whose names {@code names} accepts train from now on (the rest are constants on the tape). */
    public MohawkStudentTrainable trainOnly(Predicate<String> names) {
        this.trainable = names;
        return this;
    }

    /** The trainable parameters (see {@link #trainOnly}). */
    @Override public List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>();
        for (Parameter p : params.list()) if (trainable.test(p.name())) out.add(p);
        return out;
    }

    /**
     * An inference model over the SAME tensors (no copy): it sees every later update of the parameters. Used for
     * evaluation, generation and the per-layer metrics.
     */
    public MohawkStudent student() {
        Map<String, Tensor> t = new java.util.LinkedHashMap<>();
        for (Parameter p : params.list()) t.put(p.name(), p.value());
        if (spec.tieWordEmbeddings()) t.put("lm_head.weight", t.get("backbone.embedding.weight"));
        return MohawkStudent.fromTensors(spec, mixer, attentionLayers, backend, t);
    }

    // ------------------------------------------------------------------ the pieces on the tape

    private Var var(Tape tape, String name) {
        Parameter p = params.get(name);
        if (p == null) throw new IllegalStateException("no parameter " + name);
        return trainable.test(name) ? tape.param(p) : tape.constant(p.value());
    }

    private Var opt(Tape tape, String name) { return params.get(name) == null ? null : var(tape, name); }

    private static String layer(int l) { return "backbone.layers." + l + "."; }

    /** The residual stream after the embedding, (B·T, D). */
    public Var embed(Tape tape, int[][] ids) {
        return tape.embedding(var(tape, "backbone.embedding.weight"), TokenIds.flattenChecked(ids, spec.vocabSize()));
    }

    /** Layer l's input norm of h (B·T, D): what its mixer reads (and, in a Phi block, its MLP too). */
    public Var norm(Tape tape, int l, Var h) { return norm(tape, layer(l) + "input_layernorm", h); }

    /** LayerNorm with bias (Phi) or RMSNorm (Llama) of the parameters under {@code prefix}. */
    private Var norm(Tape tape, String prefix, Var h) {
        if (wiring.llama()) return tape.rmsNorm(h, var(tape, prefix + ".weight"), (float) spec.normEps());
        return tape.layerNorm(h, var(tape, prefix + ".weight"), opt(tape, prefix + ".bias"), (float) spec.normEps());
    }

    /** One block, (B·T, D) → (B·T, D): Phi's h + mixer(LN h) + mlp(LN h), or Llama's h' = h + mixer(RMS₁ h); h' + mlp(RMS₂ h'). */
    public Var block(Tape tape, int l, Var h, int b, int t) {
        Var u = norm(tape, l, h);
        Var a = attentionLayers.contains(l) ? attention(tape, l, u, b, t) : DiscreteMamba2Mixer.forward(tape, mixer, mixerVars(tape, l), u, b, t);
        if (!wiring.llama()) return tape.add(tape.add(h, a), mlp(tape, l, u));
        Var h1 = tape.add(h, a);
        return tape.add(h1, mlp(tape, l, norm(tape, layer(l) + wiring.norm2(), h1)));
    }

    /** Logits (B·T, V) of inputs (B, T). */
    public Var logits(Tape tape, int[][] ids) {
        int b = ids.length, t = ids[0].length;
        if (!attentionLayers.isEmpty() && t > spec.maxPositions())
            throw new UserInputException("input of " + t + " tokens is longer than the attention layers' " + spec.maxPositions() + " positions");
        Var h = embed(tape, ids);
        for (int l = 0; l < spec.layers(); l++) h = block(tape, l, h, b, t);
        Var hf = norm(tape, "backbone.final_layernorm", h);
        Var head = spec.tieWordEmbeddings() ? var(tape, "backbone.embedding.weight") : var(tape, "lm_head.weight");
        return tape.linear(hf, head, lmHeadBias ? var(tape, "lm_head.bias") : null);
    }

    /**
     * MOHAWK stage 1 for mixer layer l: the mean over batch and head of ‖T_student(u) − target‖_F, u = LN_l(h) of the
     * given residual stream h (B·T, D), target (B, H, T, T) the teacher's attention probabilities.
     */
    public Var matrixDistance(Tape tape, int l, Var h, int b, int t, Tensor target) {
        if (attentionLayers.contains(l)) throw new IllegalArgumentException("layer " + l + " keeps attention: it has no mixer matrix");
        DiscreteMamba2Mixer.Vars p = mixerVars(tape, l);
        DiscreteMamba2Mixer.TapeInputs in = DiscreteMamba2Mixer.ssdInputs(tape, mixer, p, norm(tape, l, h), b, t);
        return tape.matrixDistance(in.logA(), in.bm(), in.cm(), p.d(), target);
    }

    private DiscreteMamba2Mixer.Vars mixerVars(Tape tape, int l) {
        String p = layer(l) + "mixer.";
        return new DiscreteMamba2Mixer.Vars(var(tape, p + "in_proj.weight"), opt(tape, p + "in_proj.bias"), var(tape, p + "conv1d.weight"),
                opt(tape, p + "conv1d.bias"), opt(tape, p + "z_bias"), var(tape, p + "D"), var(tape, p + "out_proj.weight"), opt(tape, p + "out_proj.bias"));
    }

    /** A kept attention, as the teacher's: q, k, v → (partial) rotary → causal attention (grouped KV heads) → dense / o_proj. */
    private Var attention(Tape tape, int l, Var u, int b, int t) {
        String p = layer(l) + "mixer.";
        int h = spec.heads(), hkv = spec.kvHeads(), dh = spec.headDim();
        Var q = tape.linear(u, var(tape, p + "q_proj.weight"), opt(tape, p + "q_proj.bias")).reshape(b, t, h, dh);
        Var k = tape.linear(u, var(tape, p + "k_proj.weight"), opt(tape, p + "k_proj.bias")).reshape(b, t, hkv, dh);
        Var v = tape.linear(u, var(tape, p + "v_proj.weight"), opt(tape, p + "v_proj.bias")).reshape(b, t, hkv, dh);
        if (cos != null) {
            q = tape.rotary(q, cos, sin, spec.rotaryDim());
            k = tape.rotary(k, cos, sin, spec.rotaryDim());
        }
        Var y = tape.attention(q, k, v, spec.attentionScale());
        String o = p + wiring.attentionOut();
        return tape.linear(y.reshape((long) b * t, (long) h * dh), var(tape, o + ".weight"), opt(tape, o + ".bias"));
    }

    /** fc1 → gelu_new → fc2 (Phi), or down(up(u) · silu(gate(u))) (Llama). */
    private Var mlp(Tape tape, int l, Var u) {
        String p = layer(l) + "mlp.";
        Var up = tape.linear(u, var(tape, p + wiring.up() + ".weight"), opt(tape, p + wiring.up() + ".bias"));
        Var mid = wiring.llama()
                ? tape.mulSilu(up, tape.linear(u, var(tape, p + wiring.gate() + ".weight"), opt(tape, p + wiring.gate() + ".bias")))
                : tape.geluTanh(up);
        return tape.linear(mid, var(tape, p + wiring.down() + ".weight"), opt(tape, p + wiring.down() + ".bias"));
    }

    /** A fresh tape over this model's workspace (reset: anything from the previous tape is gone). */
    public Tape newTape() {
        workspace.reset();
        return new Tape(backend, workspace);
    }

    // ------------------------------------------------------------------ TrainableModel: plain next-token training

    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        Tape tape = newTape();
        Var loss = tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    @Override public double loss(int[][] inputs, int[][] targets) {
        Tape tape = newTape();
        return tape.lossValue(tape.crossEntropy(logits(tape, inputs), TokenIds.flatten(targets)));
    }

    @Override public int[][] predict(int[][] inputs) {
        int b = inputs.length, t = inputs[0].length, v = spec.vocabSize();
        float[] all = logits(newTape(), inputs).value().toFloatArray();
        return mamba4j.models.Sampler.argmaxRows(all, b, t, v, v);
    }

    /** config.json + model.safetensors of the student ({@link MohawkStudentCheckpoint}), every parameter, frozen or not. */
    @Override public void save(Path dir) {
        MohawkStudentCheckpoint.save(dir, student());
    }

    /** Copies the tensors of dir's checkpoint (as {@link #save} wrote them) into the parameters, in place. */
    public void loadFrom(Path dir) {
        params.loadFrom(dir, ck -> name -> name);
    }

    /** Frees the step workspaces (the parameters stay valid until unreachable). */
    @Override
    public void close() {
        workspace.close();
    }
}
