package mamba4j.core.autograd;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;

import java.util.ArrayList;
import java.util.List;

/**
 * Reverse-mode automatic differentiation over the closed op set. Each op runs forward on the {@link Backend}
 * at once and records a {@link Node}; {@link #backward} walks the nodes in reverse and applies each one's
 * gradient rule in ONE exhaustive switch over the sealed {@link Node} interface (no default branch: a new op
 * does not compile without its rule).
 *
 * <p>Fused ops (conv, scan, norms, rotary, attention, cross-entropy) carry hand-written backward kernels in the
 * backend; the selective scan and the SSD keep only chunk-start states and recompute the rest in backward, causal
 * attention keeps its output and each row's logsumexp and recomputes the probabilities tile by tile.
 */
public final class Tape {
    /** The scan's recompute chunk: states are kept every {@code SCAN_CHUNK} steps (memory O(B·E·N·L/chunk)). */
    public static final int SCAN_CHUNK = 64;

    private final Backend be;
    private final Workspace ws;
    private final boolean recording;
    private final List<Node> nodes = new ArrayList<>();

    /** A tape whose intermediates are ordinary tensors (freed by the GC). */
    public Tape(Backend backend) { this(backend, null); }

    /**
     * A tape whose intermediates (values and gradients) come from {@code workspace}; the caller resets the
     * workspace before the next step and must not keep any of them.
     */
    public Tape(Backend backend, Workspace workspace) { this(backend, workspace, true); }

    private Tape(Backend backend, Workspace workspace, boolean recording) {
        this.be = backend;
        this.ws = workspace == null ? null : workspace.on(backend);
        this.recording = recording;
    }

    /**
     * A tape that records nothing: every op runs forward at once and no gradient can be asked for — how a model's one
     * forward serves inference (no chunk states kept, parameters read as constants).
     */
    public static Tape inference(Backend backend, Workspace workspace) { return new Tape(backend, workspace, false); }

    /** Whether ops are recorded for {@link #backward}. */
    public boolean recording() { return recording; }

    public Backend backend() { return be; }

    private void record(Node n) { if (recording) nodes.add(n); }

    /** The recorded ops, oldest first (for tests and tracing). */
    public List<Node> nodes() { return List.copyOf(nodes); }

    // ------------------------------------------------------------------ leaves

    /** A trainable leaf: gradients accumulate into the parameter's gradient tensor (a constant on an inference tape). */
    public Var param(Parameter p) { return recording ? new Var(p.value(), true, p, null, ws) : constant(p.value()); }

    /** A constant leaf (no gradient). */
    public Var constant(Tensor t) { return new Var(t, false, null, null, ws); }

    private Var result(Tensor t, Var... inputs) {
        boolean rg = false;
        if (recording) for (Var v : inputs) if (v != null && v.requiresGrad()) rg = true;
        return new Var(t, rg, null, null, ws);
    }

    /** A zero-filled intermediate ({@link #intermediate}). */
    private Tensor zeros(Tensor like, long... dims) { return intermediate(like, true, dims); }

    private Tensor zerosLike(Tensor t) { return zeros(t, t.shape().dims()); }

    /**
     * An op's forward output, which the op writes in full (the conformance suite gives every such op a NaN-filled
     * output): from the workspace unfilled, else as {@link #zeros}.
     */
    private Tensor output(Tensor like, long... dims) { return intermediate(like, false, dims); }

    /** An intermediate in the dtype of the tensor it derives from: F64 stays F64 (float64 checks on the reference), else F32. */
    private Tensor intermediate(Tensor like, boolean fill, long... dims) {
        DType d = like.dtype() == DType.F64 ? DType.F64 : DType.F32;
        if (ws != null) return fill ? ws.zeros(d, dims) : ws.uninitialized(d, dims);
        return be.device().isHost() ? Tensor.zeros(d, dims) : be.zeros(d, dims);
    }

    private Tensor outputLike(Tensor t) { return output(t, t.shape().dims()); }

    /**
     * A zero F32 tensor on the backend's device for a model's own intermediates beside the tape's ops, carved from the
     * tape's workspace when it has one (so a prefill does not fault in fresh memory for it on every call); valid as
     * long as the tape's results are.
     */
    public Tensor scratch(long... dims) {
        if (ws != null) return ws.zeros(DType.F32, dims);
        return be.zeros(DType.F32, dims);
    }

    // ------------------------------------------------------------------ the ops (forward now, backward later)

    /** The recorded ops. Each record keeps what its backward needs. */
    public sealed interface Node {
        Var out();

        record Embedding(Var weight, Tensor ids, Var out) implements Node {}
        record Linear(Var x, Var w, Var bias, Var out) implements Node {}
        record RmsNorm(Var x, Var w, float eps, Var out) implements Node {}
        record Add(Var a, Var b, Var out) implements Node {}
        record AddRow(Var x, Var row, Var out) implements Node {}
        record Split(Var src, Var[] parts, Var out) implements Node {}
        record Conv(Var x, Var w, Var bias, boolean silu, Var out) implements Node {}
        record NegExp(Var x, Var out) implements Node {}
        record Scan(SelectiveScan args, Var u, Var delta, Var deltaBias, Var a, Var bm, Var cm, Var d, Var z,
                    Tensor chunkStates, Var out) implements Node {}
        record SsdScan(Ssd args, int chunk, Var x, Var logA, Var scale, Var bm, Var cm, Var d,
                       Tensor chunkStates, Var out) implements Node {}
        record SoftplusClamp(Var x, Var bias, float lo, float hi, Var out) implements Node {}
        record MulColumns(Var x, Var a, Var out) implements Node {}
        record MulSilu(Var y, Var z, Var out) implements Node {}
        record CrossEntropy(Var logits, Tensor targets, Tensor dLogits, Var out) implements Node {}
        record MatMul(Var x, Var w, Var bias, Var out) implements Node {}
        record LayerNorm(Var x, Var w, Var b, float eps, Var out) implements Node {}
        record GeluTanh(Var x, Var out) implements Node {}
        record Rotary(Var x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Var out) implements Node {}
        record Attention(Var q, Var k, Var v, float scale, Tensor lse, Var out) implements Node {}
        /** A distillation loss (scalar out) whose gradients were computed with its value: {@code grads[i]} belongs to {@code inputs[i]}. */
        record Distance(Var[] inputs, Tensor[] grads, Var out) implements Node {}
    }

    /** As {@link #embedding(Var, Tensor)} for ids on the host (uploaded once, as I32). */
    public Var embedding(Var weight, int[] ids) { return embedding(weight, be.ids(ids)); }

    /** out[i] = weight[ids[i]]. weight (V, D), ids (n) I32 on the backend's device → (n, D). */
    public Var embedding(Var weight, Tensor ids) {
        Var out = result(output(weight.value(), ids.numel(), weight.value().dim(1)), weight);
        be.embedding(weight.value(), ids, out.value());
        record(new Node.Embedding(weight, ids, out));
        return out;
    }

    /** x (M, K) · wᵀ (N, K) + bias → (M, N). */
    public Var linear(Var x, Var w, Var bias) {
        Var out = result(output(x.value(), x.value().dim(0), w.value().dim(0)), x, w, bias);
        be.linear(x.value(), w.value(), bias == null ? null : bias.value(), out.value());
        record(new Node.Linear(x, w, bias, out));
        return out;
    }

    public Var rmsNorm(Var x, Var w, float eps) {
        Var out = result(outputLike(x.value()), x, w);
        be.rmsNorm(x.value(), w.value(), eps, out.value());
        record(new Node.RmsNorm(x, w, eps, out));
        return out;
    }

    /**
     * rmsNorm(y · silu(z), w): on a recording tape those two ops (their gradients); on an inference tape one,
     * {@link Backend#rmsNormGated}, which on an accelerator reads y and z once and writes only the result.
     */
    public Var rmsNormGated(Var y, Var z, Var w, float eps) {
        if (recording) return rmsNorm(mulSilu(y, z), w, eps);
        Var out = result(outputLike(y.value()), y, z, w);
        be.rmsNormGated(y.value(), z.value(), w.value(), eps, out.value());
        return out;
    }

    public Var add(Var a, Var b) {
        Var out = result(outputLike(a.value()), a, b);
        be.add(a.value(), b.value(), out.value());
        record(new Node.Add(a, b, out));
        return out;
    }

    /** x (M, N) + row (N) added to every row: a bias that is not part of a linear. */
    public Var addRow(Var x, Var row) {
        Var out = result(outputLike(x.value()), x, row);
        be.addRow(x.value(), row.value(), out.value());
        record(new Node.AddRow(x, row, out));
        return out;
    }

    /** Splits the last dimension of src (M, ΣC_i) into parts of widths C_i. */
    public Var[] split(Var src, long... widths) {
        long m = src.value().dim(0), sum = 0;
        for (long w : widths) sum += w;
        if (sum != src.value().dim(1)) throw new IllegalArgumentException("split widths " + sum + " != " + src.value().dim(1));
        Var[] parts = new Var[widths.length];
        for (int i = 0; i < widths.length; i++) parts[i] = result(output(src.value(), m, widths[i]), src);
        Tensor[] values = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++) values[i] = parts[i].value();
        be.splitColumns(src.value(), values);
        // one node per split; out() is the first part (backward reads all parts' gradients)
        record(new Node.Split(src, parts, parts[0]));
        return parts;
    }

    /**
     * As {@link #conv(Var, Var, Var, boolean)} continuing the sequences whose last K inputs are in {@code state}
     * (B, C, K) when it is given (inference tapes only; a zeroed state is a plain prefill), which is left holding the
     * last K inputs, for decoding or extending on.
     */
    public Var conv(Var x, Var w, Var bias, boolean silu, Tensor state) {
        if (state == null) return conv(x, w, bias, silu);
        if (recording) throw new IllegalArgumentException("conv: a carried state is for inference tapes");
        Var out = result(outputLike(x.value()), x, w, bias);
        be.causalConv1dContinue(state, x.value(), w.value(), bias == null ? null : bias.value(), silu, out.value());
        return out;
    }

    /**
     * {@link #split}({@link #linear}(x, w, bias), widths): on a recording tape those two ops; on an inference tape one,
     * {@link Backend#linearParts}, which on an accelerator writes each part by its own GEMM instead of copying it out of
     * the whole product (a Mamba block's in_proj into x | z, its x_proj into Δ | B | C).
     */
    public Var[] linearSplit(Var x, Var w, Var bias, long... widths) {
        if (recording) return split(linear(x, w, bias), widths);
        Tensor xv = x.value();
        long m = xv.dim(0);
        Tensor full = output(xv, m, w.value().dim(0));
        Var[] parts = new Var[widths.length];
        Tensor[] values = new Tensor[widths.length];
        for (int i = 0; i < widths.length; i++) {
            parts[i] = result(output(xv, m, widths[i]), x, w, bias);
            values[i] = parts[i].value();
        }
        be.linearParts(xv, w.value(), bias == null ? null : bias.value(), full, values);
        return parts;
    }

    /** Causal depthwise conv over time: x (B, L, C), w (C, K), bias (C) or null; SiLU after if asked. */
    public Var conv(Var x, Var w, Var bias, boolean silu) {
        Var out = result(outputLike(x.value()), x, w, bias);
        be.causalConv1d(x.value(), w.value(), bias == null ? null : bias.value(), silu, out.value());
        record(new Node.Conv(x, w, bias, silu, out));
        return out;
    }

    /**
     * The conv (continuing {@code state} when given, as {@link #conv(Var, Var, Var, boolean, Tensor)}) of x (B, T, C)
     * with its output split by channels into parts (B·T, width_i), as {@link #split} gives them: on an inference tape
     * one op, {@link Backend#causalConv1dSplit}, which on an accelerator writes each part directly; on a recording
     * tape the conv and the split (their gradients).
     */
    public Var[] convSplit(Var x, Var w, Var bias, boolean silu, Tensor state, long... widths) {
        Tensor xv = x.value();
        long b = xv.dim(0), t = xv.dim(1);
        if (recording) return split(conv(x, w, bias, silu, state).reshape(b * t, xv.dim(2)), widths);
        Var[] parts = new Var[widths.length];
        Tensor[] values = new Tensor[widths.length];
        for (int i = 0; i < widths.length; i++) {
            parts[i] = result(output(xv, b * t, widths[i]), x, w, bias);
            values[i] = parts[i].value().reshape(b, t, widths[i]);
        }
        be.causalConv1dSplit(state, xv, w.value(), bias == null ? null : bias.value(), silu, values);
        return parts;
    }

    /** out = −exp(x): A from A_log. */
    public Var negExp(Var x) {
        Var out = result(outputLike(x.value()), x);
        be.negExp(x.value(), out.value());
        record(new Node.NegExp(x, out));
        return out;
    }

    /** The fused selective scan (see {@link SelectiveScan}), h_0 = 0, keeping chunk-start states for backward. */
    public Var selectiveScan(Var u, Var delta, Var deltaBias, boolean softplus, Var a, Var bm, Var cm, Var d, Var z) {
        return selectiveScan(u, delta, deltaBias, softplus, a, bm, cm, d, z, null);
    }

    /**
     * As {@link #selectiveScan(Var, Var, Var, boolean, Var, Var, Var, Var, Var)} continuing from {@code state} (B, E, N)
     * when it is given: read as h_0 and overwritten with h_L (a prefill — from a zeroed state — or a continuation filling
     * the decode cache; inference tapes only, which keep no chunk states), as {@link #ssd} carries S.
     */
    public Var selectiveScan(Var u, Var delta, Var deltaBias, boolean softplus, Var a, Var bm, Var cm, Var d, Var z, Tensor finalState) {
        Tensor uv = u.value();
        int b = uv.size(0), l = uv.size(1), e = uv.size(2), n = a.value().size(1);
        Var out = result(output(uv, b, l, e), u, delta, deltaBias, a, bm, cm, d, z);
        SelectiveScan args = new SelectiveScan(uv, delta.value(), deltaBias == null ? null : deltaBias.value(), softplus,
                a.value(), bm.value(), cm.value(), d == null ? null : d.value(), z == null ? null : z.value(), finalState, out.value());
        if (!recording) {
            be.selectiveScan(args);
            return out;
        }
        if (finalState != null) throw new IllegalArgumentException("selectiveScan: a carried state is for inference tapes");
        Tensor chunkStates = zeros(uv, b, (l + SCAN_CHUNK - 1) / SCAN_CHUNK, e, n);
        be.selectiveScanForward(args, SCAN_CHUNK, chunkStates);
        record(new Node.Scan(args, u, delta, deltaBias, a, bm, cm, d, z, chunkStates, out));
        return out;
    }

    /**
     * The SSD scan of Mamba-2 (see {@link Ssd}), S_0 = 0, by the chunked algorithm with chunks of {@code chunk} steps,
     * keeping the chunk-start states (B, ceil(L/chunk), H, P, N) for backward. x (B, L, H, P), logA and scale
     * (B, L, H; scale may be null), bm and cm (B, L, G, N), d (H) or null → y (B, L, H, P).
     */
    public Var ssd(Var x, Var logA, Var scale, Var bm, Var cm, Var d, int chunk) { return ssd(x, logA, scale, bm, cm, d, chunk, null); }

    /**
     * As {@link #ssd(Var, Var, Var, Var, Var, Var, int)} continuing from {@code state} (B, H, P, N) when it is given:
     * read as S_0 and overwritten with S_L (a prefill or a continuation filling the decode cache; inference tapes only,
     * which keep no chunk states).
     */
    public Var ssd(Var x, Var logA, Var scale, Var bm, Var cm, Var d, int chunk, Tensor state) {
        return ssd(x, logA, scale, bm, cm, d, chunk, state, false);
    }

    /**
     * As {@link #ssd(Var, Var, Var, Var, Var, Var, int, Tensor)} for a model whose weights are {@code weights}' dtype: a
     * half-precision model lets the backend multiply in bf16 ({@link Kernels#ssd(Ssd, int, boolean)}; inference only).
     */
    public Var ssd(Var x, Var logA, Var scale, Var bm, Var cm, Var d, int chunk, Tensor state, DType weights) {
        return ssd(x, logA, scale, bm, cm, d, chunk, state, weights == DType.BF16 || weights == DType.F16);
    }

    private Var ssd(Var x, Var logA, Var scale, Var bm, Var cm, Var d, int chunk, Tensor state, boolean halfOperands) {
        Tensor xv = x.value();
        int b = xv.size(0), l = xv.size(1), h = xv.size(2), p = xv.size(3), n = bm.value().size(3);
        if (chunk <= 0) throw new IllegalArgumentException("ssd: chunk must be positive, got " + chunk);
        Var out = result(output(xv, b, l, h, p), x, logA, scale, bm, cm, d);
        Ssd args = new Ssd(xv, logA.value(), scale == null ? null : scale.value(), bm.value(), cm.value(),
                d == null ? null : d.value(), state, out.value());
        if (!recording) {
            be.ssd(args, chunk, halfOperands);
            return out;
        }
        if (state != null) throw new IllegalArgumentException("ssd: a carried state is for inference tapes");
        Tensor chunkStates = zeros(xv, b, (l + chunk - 1) / chunk, h, p, n);
        be.ssdForward(args, chunk, chunkStates);
        record(new Node.SsdScan(args, chunk, x, logA, scale, bm, cm, d, chunkStates, out));
        return out;
    }

    /** out = clamp(softplus(x + bias[h]), lo, hi): Mamba-2's dt. x (M, H), bias (H) or null. */
    public Var softplusClamp(Var x, Var bias, float lo, float hi) {
        Var out = result(outputLike(x.value()), x, bias);
        be.softplusClamp(x.value(), bias == null ? null : bias.value(), lo, hi, out.value());
        record(new Node.SoftplusClamp(x, bias, lo, hi, out));
        return out;
    }

    /** out[m, h] = x[m, h] · a[h]. x (M, H), a (H). */
    public Var mulColumns(Var x, Var a) {
        Var out = result(outputLike(x.value()), x, a);
        be.mulColumns(x.value(), a.value(), out.value());
        record(new Node.MulColumns(x, a, out));
        return out;
    }

    /** out = y · silu(z), same shapes: the output gate. */
    public Var mulSilu(Var y, Var z) {
        Var out = result(outputLike(y.value()), y, z);
        be.mulSilu(y.value(), z.value(), out.value());
        record(new Node.MulSilu(y, z, out));
        return out;
    }

    /**
     * x (M, K) · w (K, N) + bias → (M, N): a weight stored (in, out), as GPT-2's Conv1D, used in its checkpoint
     * layout (no transposed copy, so its gradient is (in, out) too).
     */
    public Var matmul(Var x, Var w, Var bias) {
        long m = x.value().dim(0), n = w.value().dim(1);
        if (x.value().dim(1) != w.value().dim(0))
            throw new IllegalArgumentException("matmul: x " + x.value().shape() + " · w " + w.value().shape());
        Var out = result(output(x.value(), m, n), x, w, bias);
        be.matmul(x.value(), false, w.value(), false, out.value(), false);
        if (bias != null) be.addRow(out.value(), bias.value(), out.value());
        record(new Node.MatMul(x, w, bias, out));
        return out;
    }

    /** LayerNorm over the last dim with weight w and bias b (may be null): x (M, D) → (M, D). */
    public Var layerNorm(Var x, Var w, Var b, float eps) {
        Var out = result(outputLike(x.value()), x, w, b);
        be.layerNorm(x.value(), w.value(), b == null ? null : b.value(), eps, out.value());
        record(new Node.LayerNorm(x, w, b, eps, out));
        return out;
    }

    /** gelu_new (the tanh approximation), elementwise. */
    public Var geluTanh(Var x) {
        Var out = result(outputLike(x.value()), x);
        be.geluTanh(x.value(), out.value());
        record(new Node.GeluTanh(x, out));
        return out;
    }

    /**
     * Rotary embedding of the first rotaryDim dims of every head, token t at position t: x (B, T, H, Dh) → same;
     * cos, sin (P ≥ T, rotaryDim/2) constant tables (see {@link Backend#rotary}).
     */
    public Var rotary(Var x, Tensor cos, Tensor sin, int rotaryDim) { return rotary(x, cos, sin, rotaryDim, 0); }

    /** As {@link #rotary(Var, Tensor, Tensor, int)} with token t at position pos0 + t (a prompt continued after pos0 cached positions). */
    public Var rotary(Var x, Tensor cos, Tensor sin, int rotaryDim, int pos0) {
        Var out = result(outputLike(x.value()), x);
        be.rotary(x.value(), cos, sin, rotaryDim, pos0, out.value());
        record(new Node.Rotary(x, cos, sin, rotaryDim, pos0, out));
        return out;
    }

    /**
     * Causal self-attention softmax(q·kᵀ·scale + mask)·v by the fused tiled op: q (B, T, H, Dh), k, v (B, T, Hkv, Dh)
     * → (B, T, H, Dh). Keeps the output and the (B, H, T) row logsumexps for backward, never the (T, T) matrix.
     */
    public Var attention(Var q, Var k, Var v, float scale) { return attention(q, k, v, scale, null); }

    /**
     * As {@link #attention(Var, Var, Var, float)}, also writing the softmax probabilities (B, H, T, T) into
     * {@code probs} when it is given (what MOHAWK stage 1 reads from a teacher; inference tapes only).
     */
    public Var attention(Var q, Var k, Var v, float scale, Tensor probs) {
        Tensor qv = q.value();
        Var out = result(outputLike(qv), q, k, v);
        if (!recording) {
            be.attention(qv, k.value(), v.value(), scale, out.value(), null, probs);
            return out;
        }
        if (probs != null) throw new IllegalArgumentException("attention: probabilities are for inference tapes");
        Tensor lse = zeros(qv, qv.dim(0), qv.dim(2), qv.dim(1));
        be.attention(qv, k.value(), v.value(), scale, out.value(), lse, null);
        record(new Node.Attention(q, k, v, scale, lse, out));
        return out;
    }

    /** As {@link #crossEntropy(Var, Tensor)} for targets on the host (uploaded once, as I32). */
    public Var crossEntropy(Var logits, int[] targets) { return crossEntropy(logits, be.ids(targets)); }

    /**
     * Mean cross-entropy of logits (M, V) against targets (M) I32 (−100 ignored): a scalar Var holding the loss, kept
     * on the device in F64 (read once per step through {@link #lossValue}).
     */
    public Var crossEntropy(Var logits, Tensor targets) {
        Tensor d = logits.requiresGrad() ? zerosLike(logits.value()) : null;
        Tensor loss = be.zeros(DType.F64, 1);
        be.crossEntropy(logits.value(), targets, 1f, d, loss);
        Var out = result(loss, logits);
        record(new Node.CrossEntropy(logits, targets, d, out));
        return out;
    }

    /** The loss value of a {@link #crossEntropy} or distance result, in double: the step's one read-back. */
    public double lossValue(Var loss) {
        for (int i = nodes.size() - 1; i >= 0; i--) {
            if (nodes.get(i) instanceof Node.CrossEntropy ce && ce.out() == loss) return be.item(ce.out().value());
            if (nodes.get(i) instanceof Node.Distance d && d.out() == loss) return be.item(d.out().value());
        }
        throw new IllegalArgumentException("not a loss recorded on this tape");
    }

    // ------------------------------------------------------------------ the distillation losses (MOHAWK)

    /**
     * MOHAWK stage 1: mean over batch and head of ‖T − target‖_F, T the Discrete Mamba-2 mixing matrix built from
     * logA (B, T, H), B and C (B, T, G, N) and D (H, or null), target (B, H, T, T) constant (see {@link mamba4j.core.DistillationLosses#matrix}).
     */
    public Var matrixDistance(Var logA, Var bm, Var cm, Var d, Tensor target) {
        Tensor[] g = {zerosLike(logA.value()), zerosLike(bm.value()), zerosLike(cm.value()),
                d == null ? null : zerosLike(d.value())};
        Tensor loss = be.zeros(DType.F64, 1);
        be.matrixDistance(logA.value(), bm.value(), cm.value(), d == null ? null : d.value(), target, g[0], g[1], g[2], g[3], loss);
        return distance(new Var[]{logA, bm, cm, d}, g, loss);
    }

    /** MOHAWK stage 2: mean over rows of ‖x_m − target_m‖₂, x and target (M, D). */
    public Var rowDistance(Var x, Tensor target) {
        Tensor g = zerosLike(x.value()), loss = be.zeros(DType.F64, 1);
        be.rowDistance(x.value(), target, g, loss);
        return distance(new Var[]{x}, new Tensor[]{g}, loss);
    }

    /** MOHAWK stage 3: mean over rows of CE(softmax(teacher/τ), softmax(logits/τ)), logits and teacher (M, V). */
    public Var softCrossEntropy(Var logits, Tensor teacherLogits, double tau) {
        Tensor g = zerosLike(logits.value()), loss = be.zeros(DType.F64, 1);
        be.softCrossEntropy(logits.value(), teacherLogits, tau, g, loss);
        return distance(new Var[]{logits}, new Tensor[]{g}, loss);
    }

    /** A loss (1) on the device whose gradients with respect to the inputs were written with it (by the loss op). */
    private Var distance(Var[] inputs, Tensor[] grads, Tensor loss) {
        Var out = result(loss, inputs);
        record(new Node.Distance(inputs, grads, out));
        return out;
    }

    // ------------------------------------------------------------------ backward

    /** Back-propagates from a scalar loss (seeded with {@code scale}) to every Var that requires a gradient. */
    public void backward(Var loss, float scale) {
        if (!recording) throw new IllegalStateException("backward on an inference tape (it records nothing)");
        be.fill(loss.gradForAccumulate(), scale);
        walkBackward();
    }

    /**
     * Back-propagates from a non-scalar output whose gradient is {@code seedGrad} (copied; same element count as
     * {@code out}): how a block recomputed from its saved input is differentiated given the gradient of its output
     * (activation checkpointing). The walk is the one of {@link #backward(Var, float)}, so a block's gradients are
     * bit-identical to those of the same ops recorded inside one whole-model tape.
     */
    public void backward(Var out, Tensor seedGrad) {
        if (!recording) throw new IllegalStateException("backward on an inference tape (it records nothing)");
        Tensor seed = out.gradForAccumulate();
        if (seedGrad.dtype() != seed.dtype() || seedGrad.numel() != seed.numel())
            throw new IllegalArgumentException("backward: seed " + seedGrad.dtype() + seedGrad.shape() + " for output " + out);
        be.copy(seedGrad, seed);
        walkBackward();
    }

    /** Every recorded node from the last to the first, each passing its output's gradient to its inputs. */
    private void walkBackward() {
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node node = nodes.get(i);
            if (!node.out().requiresGrad()) continue;
            if (node instanceof Node.Split s) { backwardSplit(s); continue; }
            Tensor g = node.out().grad();
            if (g == null) continue;      // nothing flowed into this value
            backward(node, g);
        }
    }

    private void backwardSplit(Node.Split s) {
        if (!s.src().requiresGrad()) return;
        boolean any = false;
        for (Var p : s.parts()) any |= p.grad() != null;
        if (!any) return;
        Tensor dst = s.src().gradForAccumulate();
        Tensor tmp = zerosLike(dst);
        Var[] parts = s.parts();
        Tensor[] grads = new Tensor[parts.length];
        for (int i = 0; i < parts.length; i++)
            grads[i] = parts[i].grad() != null ? parts[i].grad() : zerosLike(parts[i].value());
        long m = tmp.dim(0), width = tmp.dim(1), col = 0;
        for (Tensor g : grads) {                                  // concat along the last dim: the inverse of split
            be.copy(g, tmp, mamba4j.core.CopyRegion.block(m, g.dim(1), 0, g.dim(1), col, width));
            col += g.dim(1);
        }
        be.add(dst, tmp, dst);
    }

    /** The gradient rules, one per op. */
    private void backward(Node node, Tensor g) {
        switch (node) {
            case Node.Embedding n -> {
                // d weight[ids[i]] += g[i]
                if (n.weight().requiresGrad()) be.embeddingBackward(n.ids(), g, n.weight().gradForAccumulate());
            }
            case Node.Linear n -> {
                // y = x·Wᵀ + b:  dx = g·W,  dW += gᵀ·x,  db += Σ_rows g
                if (n.x().requiresGrad()) {
                    Tensor dx = zerosLike(n.x().value());
                    be.matmul(g, false, n.w().value(), false, dx, false);
                    accumulate(n.x(), dx);
                }
                if (n.w().requiresGrad()) be.matmul(g, true, n.x().value(), false, n.w().gradForAccumulate(), true);
                if (n.bias() != null && n.bias().requiresGrad()) be.sumRows(g, n.bias().gradForAccumulate(), true);
            }
            case Node.RmsNorm n -> {
                Tensor dx = zerosLike(n.x().value());
                Tensor dw = n.w().requiresGrad() ? n.w().gradForAccumulate() : zerosLike(n.w().value());
                be.rmsNormBackward(n.x().value(), n.w().value(), n.eps(), g, dx, dw);
                if (n.x().requiresGrad()) accumulate(n.x(), dx);
            }
            case Node.Add n -> {
                // y = a + b: both receive g
                if (n.a().requiresGrad()) accumulateShared(n.a(), g);
                if (n.b().requiresGrad()) accumulateShared(n.b(), g);
            }
            case Node.AddRow n -> {
                // y = x + 1·rowᵀ: dx = g, drow += Σ_rows g
                if (n.x().requiresGrad()) accumulateShared(n.x(), g);
                if (n.row().requiresGrad()) be.sumRows(g, n.row().gradForAccumulate(), true);
            }
            case Node.Split n -> backwardSplit(n);
            case Node.Conv n -> {
                Tensor dx = zerosLike(n.x().value());
                Tensor dw = n.w().requiresGrad() ? n.w().gradForAccumulate() : zerosLike(n.w().value());
                Tensor db = n.bias() == null ? null
                        : n.bias().requiresGrad() ? n.bias().gradForAccumulate() : zerosLike(n.bias().value());
                be.causalConv1dBackward(n.x().value(), n.w().value(), n.bias() == null ? null : n.bias().value(), n.silu(), g, dx, dw, db);
                if (n.x().requiresGrad()) accumulate(n.x(), dx);
            }
            case Node.NegExp n -> {
                // y = −exp(x): dx = g·y
                if (n.x().requiresGrad()) {
                    Tensor dx = zerosLike(n.x().value());
                    be.mul(g, n.out().value(), dx);
                    accumulate(n.x(), dx);
                }
            }
            case Node.Scan n -> {
                SelectiveScan a = n.args();
                SelectiveScanGrads grads = new SelectiveScanGrads(
                        zerosLike(a.u()), zerosLike(a.delta()),
                        grad(n.a()), zerosLike(a.bm()), zerosLike(a.cm()),
                        grad(n.d()), n.z() == null ? null : zerosLike(a.z()), grad(n.deltaBias()), null);
                be.selectiveScanBackward(a, SCAN_CHUNK, n.chunkStates(), g, grads);
                if (n.u().requiresGrad()) accumulate(n.u(), grads.du());
                if (n.delta().requiresGrad()) accumulate(n.delta(), grads.dDelta());
                if (n.bm().requiresGrad()) accumulate(n.bm(), grads.dB());
                if (n.cm().requiresGrad()) accumulate(n.cm(), grads.dC());
                if (n.z() != null && n.z().requiresGrad()) accumulate(n.z(), grads.dZ());
            }
            case Node.SsdScan n -> {
                // hand-written backward (backend): recompute each chunk's states from the saved chunk starts, then
                // walk it in reverse; dD accumulates into the parameter
                Ssd a = n.args();
                SsdGrads grads = new SsdGrads(zerosLike(a.x()), zerosLike(a.logA()),
                        n.scale() == null ? null : zerosLike(a.scale()),
                        zerosLike(a.bm()), zerosLike(a.cm()), grad(n.d()), null);
                be.ssdBackward(a, n.chunk(), n.chunkStates(), g, grads);
                if (n.x().requiresGrad()) accumulate(n.x(), grads.dx());
                if (n.logA().requiresGrad()) accumulate(n.logA(), grads.dLogA());
                if (n.scale() != null && n.scale().requiresGrad()) accumulate(n.scale(), grads.dScale());
                if (n.bm().requiresGrad()) accumulate(n.bm(), grads.dB());
                if (n.cm().requiresGrad()) accumulate(n.cm(), grads.dC());
            }
            case Node.SoftplusClamp n -> {
                // y = clamp(softplus(x + b), lo, hi): dx = g·σ(x + b) where lo < y < hi, else 0 (torch.clamp);
                // db += Σ_rows dx
                Tensor dx = zerosLike(n.x().value());
                be.softplusClampBackward(n.x().value(), n.bias() == null ? null : n.bias().value(), n.lo(), n.hi(), g, dx, grad(n.bias()));
                if (n.x().requiresGrad()) accumulate(n.x(), dx);
            }
            case Node.MulColumns n -> {
                // y[m, h] = x[m, h]·a[h]: dx = g·a, da += Σ_m g·x
                Tensor dx = n.x().requiresGrad() ? zerosLike(n.x().value()) : null;
                Tensor da = n.a().requiresGrad() ? n.a().gradForAccumulate() : null;
                be.mulColumnsBackward(n.x().value(), n.a().value(), g, dx, da);
                if (dx != null) accumulate(n.x(), dx);
            }
            case Node.MulSilu n -> {
                // y·silu(z): dy = g·silu(z), dz = g·y·silu'(z)
                Tensor dy = zerosLike(n.y().value()), dz = zerosLike(n.z().value());
                be.mulSiluBackward(n.y().value(), n.z().value(), g, dy, dz);
                if (n.y().requiresGrad()) accumulate(n.y(), dy);
                if (n.z().requiresGrad()) accumulate(n.z(), dz);
            }
            case Node.CrossEntropy n -> {
                // dlogits = g · (softmax − onehot) / count, computed in the forward
                if (n.logits().requiresGrad()) {
                    Tensor d = n.dLogits();
                    float s = (float) be.item(g);
                    if (s != 1f) be.scale(d, s);
                    accumulate(n.logits(), d);
                }
            }
            case Node.MatMul n -> backwardMatMul(n, g);
            case Node.LayerNorm n -> {
                // y = x̂·w + b, x̂ = (x − μ)/σ:  dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ with ĝ = g·w;  dw += Σ g·x̂;  db += Σ g
                Tensor dx = zerosLike(n.x().value());
                be.layerNormBackward(n.x().value(), n.w().value(), n.eps(), g, dx, grad(n.w()), grad(n.b()));
                if (n.x().requiresGrad()) accumulate(n.x(), dx);
            }
            case Node.GeluTanh n -> {
                // y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³):  dx = g·(½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²))
                if (n.x().requiresGrad()) {
                    Tensor dx = zerosLike(n.x().value());
                    be.geluTanhBackward(n.x().value(), g, dx);
                    accumulate(n.x(), dx);
                }
            }
            case Node.Rotary n -> {
                // a rotation by the angle: its transpose rotates back, dx = R(−θ)·g
                if (n.x().requiresGrad()) {
                    Tensor dx = zerosLike(n.x().value());
                    be.rotaryBackward(g.reshape(dx.shape().dims()), n.cos(), n.sin(), n.rotaryDim(), n.pos0(), dx);
                    accumulate(n.x(), dx);
                }
            }
            case Node.Attention n -> backwardAttention(n, g);
            case Node.Distance n -> {
                // the gradients were computed with the value; scaled by the incoming scalar
                float sc = (float) be.item(g);
                for (int i = 0; i < n.inputs().length; i++) {
                    Var in = n.inputs()[i];
                    if (in == null || !in.requiresGrad()) continue;
                    if (sc != 1f) be.scale(n.grads()[i], sc);
                    accumulate(in, n.grads()[i]);
                }
            }
        }
    }

    /** The rules of the Transformer ops (split out of the switch only to keep it readable; each is one case). */
    private void backwardMatMul(Node.MatMul n, Tensor g) {
        // y = x·W + b with W (K, N):  dx = g·Wᵀ,  dW += xᵀ·g,  db += Σ_rows g
        if (n.x().requiresGrad()) {
            Tensor dx = zerosLike(n.x().value());
            be.matmul(g, false, n.w().value(), true, dx, false);
            accumulate(n.x(), dx);
        }
        if (n.w().requiresGrad()) be.matmul(n.x().value(), true, g, false, n.w().gradForAccumulate(), true);
        if (n.bias() != null && n.bias().requiresGrad()) be.sumRows(g, n.bias().gradForAccumulate(), true);
    }

    private void backwardAttention(Node.Attention n, Tensor g) {
        // with p = exp(s − lse) recomputed per tile, D_i = Σ_d dOut_i·out_i:  dv_j = Σ_i p_ij dOut_i;
        // ds_ij = p_ij (dOut_i·v_j − D_i);  dq_i = scale Σ_j ds_ij k_j;  dk_j = scale Σ_i ds_ij q_i (GQA: summed over the group)
        Tensor dq = zerosLike(n.q().value()), dk = zerosLike(n.k().value()), dv = zerosLike(n.v().value());
        be.attentionBackward(n.q().value(), n.k().value(), n.v().value(), n.scale(), n.out().value(), n.lse(),
                g.reshape(n.out().value().shape().dims()), dq, dk, dv);
        if (n.q().requiresGrad()) accumulate(n.q(), dq);
        if (n.k().requiresGrad()) accumulate(n.k(), dk);
        if (n.v().requiresGrad()) accumulate(n.v(), dv);
    }

    /** The accumulating gradient of a parameter-like input, or a scratch tensor when it needs none. */
    private Tensor grad(Var v) {
        if (v == null) return null;
        return v.requiresGrad() ? v.gradForAccumulate() : zerosLike(v.value());
    }

    /** Adds g into v's gradient; when v has none yet, g itself becomes it (g must then be a fresh temporary). */
    private void accumulate(Var v, Tensor g) {
        if (v.adopt(g)) return;
        Tensor dst = v.gradForAccumulate();
        be.add(dst, g.reshape(dst.shape().dims()), dst);
    }

    /** As {@link #accumulate} for a gradient tensor that is shared (must be copied, never adopted). */
    private void accumulateShared(Var v, Tensor g) {
        Tensor dst = v.gradForAccumulate();
        be.add(dst, g.reshape(dst.shape().dims()), dst);
    }

}
