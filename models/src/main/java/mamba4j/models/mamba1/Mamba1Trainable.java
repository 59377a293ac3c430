package mamba4j.models.mamba1;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.nn.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Mamba-1 language model as trainable F32 parameters, its forward recorded on a {@link Tape} (the same data
 * path as {@link Mamba1Model#forward}, op for op) and its loss differentiated by the tape. Parameter names are
 * the checkpoint's; a tied head is the embedding parameter used twice, so its gradient holds both contributions.
 */
public final class Mamba1Trainable implements TrainableModel {
    /** config.json key marking the time-invariant ablation (not a transformers architecture). */
    public static final String TIME_INVARIANT_KEY = "mamba4j_time_invariant";
    /**
     * Block recomputation (Mamba-1 and Mamba-2 trainables) on by default: at the mamba-130m shape it cuts the tape's
     * memory from ~4.6 to ~0.57 MB per token for ~30% more CPU time per step (docs/BENCHMARKS.md "Training throughput
     * and memory"); {@code -Dmamba4j.recompute=false} keeps every intermediate on one tape instead.
     */
    public static final boolean RECOMPUTE_DEFAULT = !"false".equals(System.getProperty("mamba4j.recompute"));

    private final Mamba1Config config;
    private final Backend backend;
    private final mamba4j.models.ParameterSet params = new mamba4j.models.ParameterSet();
    private final String embeddingName;
    private final boolean selective;
    private final mamba4j.core.Workspace workspace = new mamba4j.core.Workspace();   // one step's intermediates, reused
    private final mamba4j.models.BlockRecompute recomputer = new mamba4j.models.BlockRecompute();
    private boolean recompute = RECOMPUTE_DEFAULT;

    /** Copies a model's weights into F32 parameters (the model may be mapped read-only and BF16). */
    public Mamba1Trainable(Mamba1Model m, Backend backend, String embeddingName) {
        this(m, backend, embeddingName, true, 0);
    }

    /**
     * With {@code selective = false}, the time-invariant ablation of the Mamba paper §4.1 (S4-like): Δ, B and C
     * are learned per-layer constants instead of functions of the input (x_proj and dt_proj.weight are dropped;
     * Δ = softplus(dt_const + dt_proj.bias) per channel, B = B_const, C = C_const for every position).
     */
    public Mamba1Trainable(Mamba1Model m, Backend backend, String embeddingName, boolean selective, long seed) {
        this.config = m.config();
        this.backend = backend;
        this.embeddingName = embeddingName;
        this.selective = selective;
        params.add(embeddingName, m.embedding(), true);
        for (int i = 0; i < m.layers().size(); i++) {
            Mamba1Model.Layer l = m.layers().get(i);
            String p = "backbone.layers." + i + ".";
            params.add(p + "norm.weight", l.norm(), false);
            params.add(p + "mixer.in_proj.weight", l.inProj(), true);
            if (l.inProjBias() != null) params.add(p + "mixer.in_proj.bias", l.inProjBias(), false);
            params.add(p + "mixer.conv1d.weight", l.convWeight(), true);
            if (l.convBias() != null) params.add(p + "mixer.conv1d.bias", l.convBias(), false);
            if (selective) {
                params.add(p + "mixer.x_proj.weight", l.xProj(), true);
                params.add(p + "mixer.dt_proj.weight", l.dtProjWeight(), true);
            } else {
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed * 31 + i);
                int e = config.dInner(), n = config.stateSize();
                params.add(p + "mixer.dt_const", Tensor.zeros(DType.F32, e, 1), false);
                Tensor bc = Tensor.zeros(DType.F32, n, 1), cc = Tensor.zeros(DType.F32, n, 1);
                bc.fill(1f);                                                    // S4D-style: B = 1, C ~ N(0, 1/N)
                for (int j = 0; j < n; j++) cc.setFloat(j, (float) (gaussian(rnd) / Math.sqrt(n)));
                params.add(p + "mixer.B_const", bc, false);
                params.add(p + "mixer.C_const", cc, false);
            }
            params.add(p + "mixer.dt_proj.bias", l.dtProjBias(), false);
            params.add(p + "mixer.A_log", l.aLog(), false);
            params.add(p + "mixer.D", l.d(), false);
            params.add(p + "mixer.out_proj.weight", l.outProj(), true);
            if (l.outProjBias() != null) params.add(p + "mixer.out_proj.bias", l.outProjBias(), false);
        }
        params.add("backbone.norm_f.weight", m.normF(), false);
        if (!config.tieWordEmbeddings()) params.add("lm_head.weight", m.lmHead(), true);
    }

    private static double gaussian(java.util.SplittableRandom r) {
        return Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
    }

    public boolean selective() { return selective; }

    public Mamba1Config config() { return config; }

    /** In checkpoint order; the conv weight is held as (E, K) (the checkpoint stores (E, 1, K)). */
    @Override public List<Parameter> parameters() { return params.list(); }

    private Parameter p(String name) { return params.get(name); }

    /**
     * The training forward: logits (B·T, V') for inputs (B, T), recorded on the tape. Mirrors
     * {@link Mamba1Model#forward}: embedding → [RMSNorm → in_proj → conv+SiLU → x_proj → dt_proj → scan (gate
     * inside) → out_proj → residual] × n_layer → RMSNorm → head.
     */
    public Var logits(Tape tape, int[][] inputs) {
        int b = inputs.length, t = inputs[0].length;
        Var emb = tape.param(p(embeddingName));
        Var h = tape.embedding(emb, mamba4j.models.TokenIds.flatten(inputs));             // (B·T, D)
        Tensor ones = selective ? null : onesColumn((long) b * t);
        for (int i = 0; i < config.numHiddenLayers(); i++) h = block(tape, i, h, b, t, ones);
        return head(tape, h, emb);                                                          // (B·T, V')
    }

    /**
     * Block i: h + mixer(RMSNorm(h)), (B·T, D) → (B·T, D). {@code ones} (B·T, 1) for the time-invariant ablation
     * (its constant rows are ones · constᵀ), else null.
     */
    private Var block(Tape tape, int i, Var h, int b, int t, Tensor ones) {
        int e = config.dInner(), n = config.stateSize(), r = config.dtRank();
        float eps = (float) config.layerNormEpsilon();
        String q = "backbone.layers." + i + ".";
        Var u = tape.rmsNorm(h, tape.param(p(q + "norm.weight")), eps);
        Var[] xz = tape.split(tape.linear(u, tape.param(p(q + "mixer.in_proj.weight")), opt(q + "mixer.in_proj.bias", tape)), e, e);
        Var xc = tape.conv(xz[0].reshape(b, t, e), tape.param(p(q + "mixer.conv1d.weight")), opt(q + "mixer.conv1d.bias", tape), true);
        Var delta, bm, cm;
        if (selective) {
            Var[] dbc = tape.split(tape.linear(xc.reshape((long) b * t, e), tape.param(p(q + "mixer.x_proj.weight")), null), r, n, n);
            delta = tape.linear(dbc[0], tape.param(p(q + "mixer.dt_proj.weight")), null);      // bias inside the scan
            bm = dbc[1];
            cm = dbc[2];
        } else {   // the same constant row at every position: ones (B·T, 1) · constᵀ (1, ·)
            Var one = tape.constant(ones);
            delta = tape.linear(one, tape.param(p(q + "mixer.dt_const")), null);
            bm = tape.linear(one, tape.param(p(q + "mixer.B_const")), null);
            cm = tape.linear(one, tape.param(p(q + "mixer.C_const")), null);
        }
        Var a = tape.negExp(tape.param(p(q + "mixer.A_log")));
        Var y = tape.selectiveScan(xc, delta.reshape(b, t, e), tape.param(p(q + "mixer.dt_proj.bias")), true, a,
                bm.reshape(b, t, n), cm.reshape(b, t, n), tape.param(p(q + "mixer.D")), xz[1].reshape(b, t, e));
        Var o = tape.linear(y.reshape((long) b * t, e), tape.param(p(q + "mixer.out_proj.weight")), opt(q + "mixer.out_proj.bias", tape));
        return tape.add(h, o);
    }

    /** Final RMSNorm → head: (B·T, D) → logits (B·T, V'); {@code emb} is the embedding leaf (the tied head). */
    private Var head(Tape tape, Var h, Var emb) {
        Var hf = tape.rmsNorm(h, tape.param(p("backbone.norm_f.weight")), (float) config.layerNormEpsilon());
        Var head = config.tieWordEmbeddings() ? emb : tape.param(p("lm_head.weight"));
        return tape.linear(hf, head, null);
    }

    private static Tensor onesColumn(long rows) {
        Tensor t = Tensor.zeros(DType.F32, rows, 1);
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
        workspace.reset();
        Tape tape = new Tape(backend, workspace);
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
        Tensor ones = selective ? null : onesColumn((long) b * t);
        return recomputer.run(backend, new mamba4j.models.BlockRecompute.Stack() {
            @Override public int layers() { return config.numHiddenLayers(); }
            @Override public Var embed(Tape tape, int[][] ids) {
                return tape.embedding(tape.param(p(embeddingName)), mamba4j.models.TokenIds.flatten(ids));
            }
            @Override public Var block(Tape tape, int i, Var h, int bb, int tt) { return Mamba1Trainable.this.block(tape, i, h, bb, tt, ones); }
            @Override public Var loss(Tape tape, Var h, int[][] tg) {
                return tape.crossEntropy(head(tape, h, tape.param(p(embeddingName))), mamba4j.models.TokenIds.flatten(tg));
            }
        }, inputs, targets, gradScale, backward);
    }

    /** Loss without gradients. */
    @Override public double loss(int[][] inputs, int[][] targets) {
        if (recompute && config.numHiddenLayers() > 0) return checkpointed(inputs, targets, 1f, false);
        workspace.reset();
        Tape tape = new Tape(backend, workspace);
        Var loss = tape.crossEntropy(logits(tape, inputs), mamba4j.models.TokenIds.flatten(targets));
        return tape.lossValue(loss);
    }

    /** Greedy prediction per position (B, T) over the real vocab. */
    @Override public int[][] predict(int[][] inputs) {
        Tensor logits = selective ? toModel().forward(inputs, mamba4j.models.Trace.NONE) : logitsNoGrad(inputs);
        int b = inputs.length, t = inputs[0].length, v = config.paddedVocabSize();
        float[] all = logits.toFloatArray();
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) out[i][j] = mamba4j.models.Sampler.argmax(all, (i * t + j) * v, config.vocabSize());
        return out;
    }

    private Tensor logitsNoGrad(int[][] inputs) {
        workspace.reset();
        return logits(new Tape(backend, workspace), inputs).value();
    }

    /** Labels = inputs shifted by one (as transformers with labels=input_ids): the last position is ignored. */
    public static int[][] nextTokenTargets(int[][] inputs) {
        int[][] t = new int[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
            t[i] = new int[inputs[i].length];
            for (int j = 0; j < t[i].length; j++) t[i][j] = j + 1 < t[i].length ? inputs[i][j + 1] : -100;
        }
        return t;
    }

    /** An inference model over the current parameter values (shared, not copied). */
    public Mamba1Model toModel() {
        List<Mamba1Model.Layer> layers = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            String q = "backbone.layers." + i + ".";
            layers.add(new Mamba1Model.Layer(v(q + "norm.weight"), v(q + "mixer.in_proj.weight"), v(q + "mixer.in_proj.bias"),
                    v(q + "mixer.conv1d.weight"), v(q + "mixer.conv1d.bias"), v(q + "mixer.x_proj.weight"),
                    v(q + "mixer.dt_proj.weight"), v(q + "mixer.dt_proj.bias"), v(q + "mixer.A_log"), v(q + "mixer.D"),
                    v(q + "mixer.out_proj.weight"), v(q + "mixer.out_proj.bias")));
        }
        Tensor emb = v(embeddingName);
        return new Mamba1Model(config, backend, emb, layers, v("backbone.norm_f.weight"),
                config.tieWordEmbeddings() ? emb : v("lm_head.weight"));
    }

    private Tensor v(String name) {
        Parameter q = params.get(name);
        return q == null ? null : q.value();
    }

    /**
     * Writes an HF-loadable checkpoint (config.json + model.safetensors); the time-invariant ablation writes its
     * own tensors and a config marked {@value #TIME_INVARIANT_KEY} (mamba4j-only).
     */
    @Override public void save(Path dir) {
        if (selective) { Mamba1Saver.save(toModel(), dir); return; }
        try {
            java.nio.file.Files.createDirectories(dir);
        } catch (java.io.IOException ex) {
            throw new java.io.UncheckedIOException(ex);
        }
        com.fasterxml.jackson.databind.node.ObjectNode c = Mamba1Saver.config(config, DType.F32);
        c.put(TIME_INVARIANT_KEY, true);
        mamba4j.io.JsonConfig.write(dir.resolve("config.json"), c);
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        for (Parameter q : params.list()) t.put(q.name(), q.value());
        mamba4j.io.Safetensors.write(dir.resolve("model.safetensors"), t, Map.of("format", "mamba4j"));
    }

    /** Copies the tensors of dir/model.safetensors (as {@link #save} wrote them) into the parameters, in place. */
    public void loadFrom(Path dir) { params.loadFrom(dir, ck -> name -> name); }


    /** Frees the step workspaces (the parameters stay valid until unreachable). */
    @Override
    public void close() {
        workspace.close();
        recomputer.close();
    }
}
