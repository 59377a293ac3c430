package mamba4j.models.mamba2;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.Sampler;
import mamba4j.models.Trace;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Mamba-2 language model as trainable F32 parameters, its forward recorded on a {@link Tape} (the same data path
 * as {@link Mamba2Model#forward}, op for op) and its loss differentiated by the tape. Parameter names are the
 * checkpoint's; a tied head is the embedding parameter used twice, so its gradient holds both contributions.
 */
public final class Mamba2Trainable implements TrainableModel {
    private final Mamba2Config config;
    private final Backend backend;
    private final mamba4j.models.ParameterSet params = new mamba4j.models.ParameterSet();
    private final String embeddingName;
    private final mamba4j.core.Workspace workspace = new mamba4j.core.Workspace();        // residuals (recompute), reused
    private final mamba4j.models.BlockRecompute recomputer = new mamba4j.models.BlockRecompute();
    private boolean recompute = mamba4j.models.mamba1.Mamba1Trainable.RECOMPUTE_DEFAULT;

    /** Copies a model's weights into F32 parameters (the model may be mapped read-only and BF16). */
    public Mamba2Trainable(Mamba2Model m, Backend backend, String embeddingName) {
        this.config = m.config();
        this.backend = backend;
        this.embeddingName = embeddingName;
        // weight decay as mamba_ssm: not on A_log, D, dt_bias (_no_weight_decay), norms or biases
        params.add(embeddingName, m.embedding(), true);
        for (int i = 0; i < m.layers().size(); i++) {
            Mamba2Model.Layer l = m.layers().get(i);
            String p = "backbone.layers." + i + ".";
            params.add(p + "norm.weight", l.norm(), false);
            params.add(p + "mixer.in_proj.weight", l.inProj(), true);
            if (l.inProjBias() != null) params.add(p + "mixer.in_proj.bias", l.inProjBias(), false);
            params.add(p + "mixer.conv1d.weight", l.convWeight(), true);
            if (l.convBias() != null) params.add(p + "mixer.conv1d.bias", l.convBias(), false);
            params.add(p + "mixer.dt_bias", l.dtBias(), false);
            params.add(p + "mixer.A_log", l.aLog(), false);
            params.add(p + "mixer.D", l.d(), false);
            params.add(p + "mixer.norm.weight", l.gateNorm(), false);
            params.add(p + "mixer.out_proj.weight", l.outProj(), true);
            if (l.outProjBias() != null) params.add(p + "mixer.out_proj.bias", l.outProjBias(), false);
        }
        params.add("backbone.norm_f.weight", m.normF(), false);
        if (!config.tieWordEmbeddings()) params.add("lm_head.weight", m.lmHead(), true);
    }

    public Mamba2Config config() { return config; }

    /** In checkpoint order; the conv weight is held as (C, K) (the checkpoint stores (C, 1, K)). */
    @Override public List<Parameter> parameters() { return params.list(); }

    private Parameter p(String name) { return params.get(name); }

    /**
     * The training forward: logits (B·T, V') for inputs (B, T), recorded on the tape. Mirrors
     * {@link Mamba2Model#forward}: embedding → [RMSNorm → in_proj → z | xBC | dt → conv+SiLU → x | B | C →
     * dt = clamp(softplus(dt + dt_bias)) → SSD(x, dt·A, dt, B, C, D) → gated RMSNorm → out_proj → residual] × n_layer
     * → RMSNorm → head.
     */
    public Var logits(Tape tape, int[][] inputs) {
        int b = inputs.length, t = inputs[0].length;
        Tensor ones = config.normPerGroup() ? onesVector(config.dInner() / config.nGroups()) : null;
        Var emb = tape.param(p(embeddingName));
        Var hs = tape.embedding(emb, mamba4j.models.TokenIds.flatten(inputs));                                              // (B·T, D)
        for (int i = 0; i < config.numHiddenLayers(); i++) hs = block(tape, i, hs, b, t, ones);
        return head(tape, hs, emb);                                                                 // (B·T, V')
    }

    /** Block i: h + mixer(RMSNorm(h)), (B·T, D) → (B·T, D). {@code ones} (E/G) for the per-group gated norm, else null. */
    private Var block(Tape tape, int i, Var hs, int b, int t, Tensor ones) {
        int e = config.dInner(), c = config.convDim(), h = config.numHeads(), hp = config.headDim(), g = config.nGroups(), n = config.stateSize();
        long bt = (long) b * t;
        float eps = (float) config.layerNormEpsilon(), lo = (float) config.timeStepLo(), hi = (float) config.timeStepHi();
        String q = "backbone.layers." + i + ".";
        Var u = tape.rmsNorm(hs, tape.param(p(q + "norm.weight")), eps);
        Var[] zxbcdt = tape.split(tape.linear(u, tape.param(p(q + "mixer.in_proj.weight")), opt(q + "mixer.in_proj.bias", tape)), e, c, h);
        Var xbc = tape.conv(zxbcdt[1].reshape(b, t, c), tape.param(p(q + "mixer.conv1d.weight")), opt(q + "mixer.conv1d.bias", tape), true);
        Var[] xBC = tape.split(xbc.reshape(bt, c), e, (long) g * n, (long) g * n);             // x | B | C
        Var dt = tape.softplusClamp(zxbcdt[2], tape.param(p(q + "mixer.dt_bias")), lo, hi);    // (B·T, H)
        Var logA = tape.mulColumns(dt, tape.negExp(tape.param(p(q + "mixer.A_log"))));        // dt·A, A = −exp(A_log)
        Var y = tape.ssd(xBC[0].reshape(b, t, h, hp), logA.reshape(b, t, h), dt.reshape(b, t, h),
                xBC[1].reshape(b, t, g, n), xBC[2].reshape(b, t, g, n), tape.param(p(q + "mixer.D")), config.chunkSize());
        Var gated = tape.mulSilu(y.reshape(bt, e), zxbcdt[0]);                                 // y · silu(z), gate first
        Var w = tape.param(p(q + "mixer.norm.weight"));
        Var normed = config.normPerGroup()
                ? tape.mulColumns(tape.rmsNorm(gated.reshape(bt * g, e / g), tape.constant(ones), eps).reshape(bt, e), w)   // per group of E/G
                : tape.rmsNorm(gated, w, eps);                                                                          // over all E
        Var o = tape.linear(normed, tape.param(p(q + "mixer.out_proj.weight")), opt(q + "mixer.out_proj.bias", tape));
        return tape.add(hs, o);
    }

    /** Final RMSNorm → head: (B·T, D) → logits (B·T, V'); {@code emb} is the embedding leaf (the tied head). */
    private Var head(Tape tape, Var hs, Var emb) {
        Var hf = tape.rmsNorm(hs, tape.param(p("backbone.norm_f.weight")), (float) config.layerNormEpsilon());
        Var head = config.tieWordEmbeddings() ? emb : tape.param(p("lm_head.weight"));
        return tape.linear(hf, head, null);
    }

    private static Tensor onesVector(long n) {
        Tensor t = Tensor.zeros(DType.F32, n);
        t.fill(1f);
        return t;
    }

    private Var opt(String name, Tape tape) {
        Parameter q = params.get(name);
        return q == null ? null : tape.param(q);
    }

    /** Mean cross-entropy over counted targets (−100 ignored); gradients × gradScale accumulate into the parameters. */
    @Override public double lossAndBackward(int[][] inputs, int[][] targets, float gradScale) {
        if (recompute && config.numHiddenLayers() > 0) return checkpointed(inputs, targets, gradScale, true);
        Tape tape = new Tape(backend);
        Var loss = tape.crossEntropy(logits(tape, inputs), mamba4j.models.TokenIds.flatten(targets));
        tape.backward(loss, gradScale);
        return tape.lossValue(loss);
    }

    /**
     * Whether {@link #lossAndBackward} and {@link #loss} recompute each block's intermediates instead of keeping
     * them (activation checkpointing at block granularity, see {@link #checkpointed}); bit-identical either way.
     */
    public boolean recompute() { return recompute; }

    public void setRecompute(boolean on) { recompute = on; }

    /** Bytes its step workspaces have reserved from the OS (they only grow): the tape's memory, for bench-train. */
    public long workspaceBytes() { return workspace.reservedBytes() + recomputer.reservedBytes(); }

    /** Loss and gradients with per-block activation recomputation ({@link mamba4j.models.BlockRecompute}). */
    private double checkpointed(int[][] inputs, int[][] targets, float gradScale, boolean backward) {
        int b = inputs.length, t = inputs[0].length;
        Tensor ones = config.normPerGroup() ? onesVector(config.dInner() / config.nGroups()) : null;
        return recomputer.run(backend, new mamba4j.models.BlockRecompute.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape, int[][] ids) {
                return tape.embedding(tape.param(p(embeddingName)), mamba4j.models.TokenIds.flatten(ids));
            }
            @Override public Var block(Tape tape, int i, Var h, int bb, int tt) { return Mamba2Trainable.this.block(tape, i, h, bb, tt, ones); }
            @Override public Var loss(Tape tape, Var h, int[][] tg) {
                return tape.crossEntropy(head(tape, h, tape.param(p(embeddingName))), mamba4j.models.TokenIds.flatten(tg));
            }
        }, inputs, targets, gradScale, backward);
    }

    /** Loss without gradients. */
    @Override public double loss(int[][] inputs, int[][] targets) {
        if (recompute && config.numHiddenLayers() > 0) return checkpointed(inputs, targets, 1f, false);
        Tape tape = new Tape(backend);
        Var loss = tape.crossEntropy(logits(tape, inputs), mamba4j.models.TokenIds.flatten(targets));
        return tape.lossValue(loss);
    }

    /** Greedy prediction per position (B, T) over the real vocab. */
    @Override public int[][] predict(int[][] inputs) {
        Tensor logits = toModel().forward(inputs, Trace.NONE);
        int b = inputs.length, t = inputs[0].length, v = config.paddedVocabSize();
        float[] all = logits.toFloatArray();
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) out[i][j] = Sampler.argmax(all, (i * t + j) * v, config.vocabSize());
        return out;
    }

    /** An inference model over the current parameter values (shared, not copied). */
    public Mamba2Model toModel() {
        List<Mamba2Model.Layer> layers = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            String q = "backbone.layers." + i + ".";
            layers.add(new Mamba2Model.Layer(v(q + "norm.weight"), v(q + "mixer.in_proj.weight"), v(q + "mixer.in_proj.bias"),
                    v(q + "mixer.conv1d.weight"), v(q + "mixer.conv1d.bias"), v(q + "mixer.dt_bias"), v(q + "mixer.A_log"),
                    v(q + "mixer.D"), v(q + "mixer.norm.weight"), v(q + "mixer.out_proj.weight"), v(q + "mixer.out_proj.bias")));
        }
        Tensor emb = v(embeddingName);
        return new Mamba2Model(config, backend, emb, layers, v("backbone.norm_f.weight"),
                config.tieWordEmbeddings() ? emb : v("lm_head.weight"));
    }

    private Tensor v(String name) {
        Parameter q = params.get(name);
        return q == null ? null : q.value();
    }

    /** Writes an HF-loadable checkpoint (config.json + model.safetensors). */
    @Override public void save(Path dir) { Mamba2Saver.save(toModel(), dir); }

    /** Copies the tensors of dir/model.safetensors (as {@link #save} wrote them) into the parameters, in place. */
    public void loadFrom(Path dir) {
        // a checkpoint of the other layout names the embedding differently
        params.loadFrom(dir, ck -> name -> name.equals(embeddingName) ? Mamba2Loader.embeddingName(ck) : name);
    }


    /** Frees the step workspaces (the parameters stay valid until unreachable). */
    @Override
    public void close() {
        workspace.close();
        recomputer.close();
    }
}
