package mamba4j.core;

import java.util.Objects;

/**
 * The one checked front of the closed op set: every op's shapes, dtypes and device are validated here, once, when it
 * is called (ggml's op constructors), and only then handed to the backend's {@link Kernels} — so the reference, the
 * Vector API backend and an accelerator backend run the same checks and write no checks of their own. A failed
 * check is a bug in the caller ({@link IllegalArgumentException}, an internal error with its stack trace); user input
 * is checked where it enters and raised as {@link UserInputException}.
 *
 * <p>The backend also owns memory and movement: {@link #allocate}, {@link #upload}, {@link #download}, the strided
 * {@link #copy}, {@link #fill}, {@link #item} and {@link #sync}. Parameters, gradients, optimizer moments and
 * intermediates live on its {@link #device()}; the sync points are few and visible (the loss and gradient norm once
 * per step through {@link #item}, one id per sequence per decode step). Op semantics: see {@link Kernels}.
 */
public final class Backend {
    private final Kernels k;

    public Backend(Kernels kernels) { this.k = Objects.requireNonNull(kernels); }

    /** The kernels behind the front (for decorators such as {@link ProfilingKernels}). */
    public Kernels kernels() { return k; }

    public String name() { return k.name(); }

    public String description() { return k.description(); }

    public Device device() { return k.device(); }

    public int threads() { return k.threads(); }

    /** The measured bandwidth of the memory weights are read from, GB/s (NaN if the backend cannot tell). */
    public double memoryBandwidthGBs() { return k.memoryBandwidthGBs(); }

    @Override public String toString() { return "Backend(" + k.name() + " on " + k.device() + ")"; }

    // ------------------------------------------------------------------ checks shared by every op

    private void on(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && !t.device().equals(k.device()))
                throw new IllegalArgumentException(op + ": " + t + " is on " + t.device() + ", the " + k.name() + " backend runs on " + k.device());
    }

    /** Activations: on the device and of a floating dtype the kernels compute in. */
    private void act(String op, Tensor... ts) {
        on(op, ts);
        for (Tensor t : ts)
            if (t != null && t.dtype().isQuantised())
                throw new IllegalArgumentException(op + ": got a " + t.dtype() + " tensor " + t.shape() + "; quantised tensors are "
                        + "weights of linear and embedding only (dequantise it with Tensor.to(F32) for anything else)");
            else if (t != null && !k.activationTypes().contains(t.dtype()))
                throw new IllegalArgumentException(op + ": the " + k.name() + " backend computes in " + k.activationTypes()
                        + ", got a " + t.dtype() + " tensor " + t.shape());
    }

    /**
     * Stored weights of linear / embedding: a dtype of {@link Kernels#weightTypes()} (F32, BF16, F16; Q8_0 and Q4_0
     * on the host backends) or an activation dtype; a quantised weight's rows (K) are whole blocks of 32.
     */
    private void weight(String op, Tensor w) {
        on(op, w);
        DType d = w.dtype();
        if (!k.weightTypes().contains(d) && !k.activationTypes().contains(d))
            throw new IllegalArgumentException(op + ": the " + k.name() + " backend takes weights of " + new java.util.TreeSet<>(k.weightTypes())
                    + ", got " + d + " " + w.shape());
        if (d.isQuantised() && (w.rank() != 2 || w.dim(1) % d.blockSize() != 0))
            throw new IllegalArgumentException(op + ": a " + d + " weight must be (N, K) with K a multiple of " + d.blockSize() + ", got " + w.shape());
    }

    private void ids(String op, Tensor ids, long n) {
        on(op, ids);
        if (ids.dtype() != DType.I32 || ids.rank() != 1 || ids.dim(0) != n)
            throw new IllegalArgumentException(op + ": ids must be I32 (" + n + "), got " + ids.dtype() + " " + ids.shape());
    }

    private static void scalarOut(String op, Tensor t) {
        if (t.numel() != 1 || !t.dtype().isFloating())
            throw new IllegalArgumentException(op + ": the result must be one floating element, got " + t.dtype() + " " + t.shape());
    }

    private static void rank(String op, String what, Tensor t, int rank) {
        if (t.rank() != rank) throw new IllegalArgumentException(op + ": " + what + " must have rank " + rank + ", got " + t.shape());
    }

    private static void vec(String op, String what, Tensor t, long n) {
        if (t != null && t.numel() != n)
            throw new IllegalArgumentException(op + ": " + what + " " + t.shape() + " must have " + n + " elements");
    }

    // ------------------------------------------------------------------ memory and movement

    /** A new zero-filled tensor on this backend's device. */
    public Tensor allocate(DType dtype, Shape shape) { return k.allocate(dtype, shape); }

    public Tensor zeros(DType dtype, long... dims) { return k.allocate(dtype, Shape.of(dims)); }

    /** F32 zeros: the common case of intermediates. */
    public Tensor zeros(long... dims) { return k.allocate(DType.F32, Shape.of(dims)); }

    /** The host tensor on this device (no copy on a host backend). */
    public Tensor upload(Tensor host) {
        if (!host.isHost()) throw new IllegalArgumentException("upload: " + host + " is not a host tensor");
        return k.upload(host);
    }

    /** Token ids (or targets) as an I32 tensor on this device: uploaded once per batch. */
    public Tensor ids(int[] values) {
        Tensor t = Tensor.zeros(DType.I32, values.length);
        java.lang.foreign.MemorySegment.copy(values, 0, t.segment(), Tensor.I32, 0, values.length);
        return k.upload(t);
    }

    /** Writes token ids into an existing I32 tensor of this device (no allocation on a host backend: decode steps). */
    public void ids(int[] values, Tensor dst) {
        on("ids", dst);
        if (dst.dtype() != DType.I32 || dst.numel() != values.length)
            throw new IllegalArgumentException("ids: " + values.length + " ids into " + dst.dtype() + " " + dst.shape());
        if (dst.isHost()) {
            java.lang.foreign.MemorySegment.copy(values, 0, dst.segment(), Tensor.I32, 0, values.length);
            return;
        }
        Tensor host = Tensor.zeros(DType.I32, values.length);
        java.lang.foreign.MemorySegment.copy(values, 0, host.segment(), Tensor.I32, 0, values.length);
        k.write(host, dst);
    }

    /** Copies a host tensor's elements into dst on this device. */
    public void write(Tensor host, Tensor dst) {
        on("write", dst);
        if (!host.isHost() || host.dtype() != dst.dtype() || host.numel() != dst.numel())
            throw new IllegalArgumentException("write: " + host + " into " + dst);
        k.write(host, dst);
    }

    /** A host tensor with t's elements (t itself on a host backend). */
    public Tensor download(Tensor t) {
        on("download", t);
        return k.download(t);
    }

    /**
     * One id per row of logits (R, V'), each chosen by its {@link Sampling} over the first {@code vocab} entries: on
     * an accelerator the choice runs on the device and only the R ids come back (a decode step's one copy).
     */
    public int[] sample(Tensor logits, int vocab, Sampling... rows) {
        on("sample", logits);
        if (logits.dtype() != DType.F32 || logits.rank() != 2)
            throw new IllegalArgumentException("sample: logits must be F32 (R, V'), got " + logits.dtype() + " " + logits.shape());
        if (rows.length != logits.dim(0))
            throw new IllegalArgumentException("sample: " + rows.length + " settings for the " + logits.dim(0) + " rows of " + logits.shape());
        if (vocab < 1 || vocab > logits.dim(1))
            throw new IllegalArgumentException("sample: vocab " + vocab + " outside the " + logits.dim(1) + " columns of " + logits.shape());
        int[] ids = new int[rows.length];
        k.sample(logits, vocab, rows, ids);
        return ids;
    }

    /** The strided copy {@code region}, src → dst; both on this device, same dtype, the region inside both. */
    public void copy(Tensor src, Tensor dst, CopyRegion region) {
        on("copy", src, dst);
        if (src.dtype() != dst.dtype()) throw new IllegalArgumentException("copy: " + src.dtype() + " into " + dst.dtype());
        if (src.dtype().isQuantised())
            throw new IllegalArgumentException("copy: " + src + " is quantised; its blocks move whole (upload, download, write), not element by element");
        if (region.srcExtent() >= src.numel() || region.dstExtent() >= dst.numel())
            throw new IllegalArgumentException("copy: " + region + " reaches outside src " + src.shape() + " or dst " + dst.shape());
        if (region.count() > 0) k.copy(src, dst, region);
    }

    /** dst = src, element for element (same dtype and count). */
    public void copy(Tensor src, Tensor dst) {
        if (src.numel() != dst.numel()) throw new IllegalArgumentException("copy: " + src.shape() + " into " + dst.shape());
        copy(src, dst, CopyRegion.contiguous(src.numel(), 0, 0));
    }

    /**
     * Copies consecutive column ranges of src (M, ΣC_i) into parts (M, C_i): a split of the last dimension, as
     * {@code torch.split(src, [C_0, C_1, …], dim=-1)} followed by {@code .contiguous()}.
     */
    public void splitColumns(Tensor src, Tensor... parts) {
        long m = src.dim(0), width = src.dim(1), col = 0;
        columnParts("splitColumns", parts, m, width, "", src, "columns", "", src);
        for (Tensor p : parts) {
            copy(src, p, CopyRegion.block(m, p.dim(1), col, width, 0, p.dim(1)));
            col += p.dim(1);
        }
    }

    public void fill(Tensor t, float v) {
        on("fill", t);
        if (t.dtype().isQuantised()) throw new IllegalArgumentException("fill: " + t + " is quantised; quantise a filled F32 tensor instead");
        k.fill(t, v);
    }

    /** Element i read back to the host (a synchronisation point on an accelerator). */
    public double item(Tensor t, long i) {
        on("item", t);
        if (i < 0 || i >= t.numel()) throw new IllegalArgumentException("item: index " + i + " outside " + t.shape());
        return k.item(t, i);
    }

    public double item(Tensor t) { return item(t, 0); }

    public void sync() { k.sync(); }

    /** {@code body}'s ops recorded for replay ({@link Kernels#capture}): a CUDA graph on the GPU, body itself on the host. */
    public Runnable capture(Runnable body) { return k.capture(body); }

    // ------------------------------------------------------------------ inference ops

    public void embedding(Tensor weight, Tensor ids, Tensor out) {
        weight("embedding", weight);
        act("embedding", out);
        rank("embedding", "weight", weight, 2);
        rank("embedding", "out", out, 2);
        ids("embedding", ids, out.dim(0));
        if (out.dim(1) != weight.dim(1)) throw new IllegalArgumentException("embedding: out " + out.shape() + " vs weight " + weight.shape());
        k.embedding(weight, ids, out);
    }

    public void addRow(Tensor x, Tensor row, Tensor out) {
        act("addRow", x, row, out);
        Checks.checkSameShape("addRow", x, out);
        vec("addRow", "row", row, x.dim(-1));
        k.addRow(x, row, out);
    }

    public void mul(Tensor a, Tensor b, Tensor out) {
        act("mul", a, b, out);
        Checks.checkSameShape("mul", a, b, out);
        k.mul(a, b, out);
    }

    public void negExp(Tensor x, Tensor out) {
        act("negExp", x, out);
        Checks.checkSameShape("negExp", x, out);
        k.negExp(x, out);
    }

    public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        act("linear", x, bias, out);
        weight("linear", w);
        Checks.checkLinearShapes(x, w, bias, out);
        k.linear(x, w, bias, out);
    }

    public void linearParts(Tensor x, Tensor w, Tensor bias, Tensor full, Tensor... parts) {
        act("linearParts", x, bias, full);
        act("linearParts", parts);
        weight("linearParts", w);
        Checks.checkLinearShapes(x, w, bias, full);
        columnParts("linearParts", parts, x.dim(0), w.dim(0), "x ", x, "columns", "w ", w);
        k.linearParts(x, w, bias, full, parts);
    }

    /**
     * Parts (rows, C_i) whose widths add up to {@code total}; else an error naming the op, the input whose rows they
     * split ({@code inputName} + its shape) and the tensor that sets the total. The messages are built only on failure
     * (this runs at every decode step on the host backends).
     */
    private static void columnParts(String op, Tensor[] parts, long rows, long total, String inputName, Tensor input, String unit,
                                    String ofName, Tensor of) {
        long col = 0;
        for (Tensor p : parts) {
            if (p.rank() != 2 || p.dim(0) != rows)
                throw new IllegalArgumentException(op + ": part " + p.shape() + " does not have the " + rows + " rows of " + inputName + input.shape());
            col += p.dim(1);
        }
        if (col != total) throw new IllegalArgumentException(op + ": parts of " + col + " " + unit + " for " + ofName + of.shape());
    }

    public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        act("rmsNorm", x, w, out);
        Checks.checkSameShape("rmsNorm", x, out);
        vec("rmsNorm", "w", w, x.dim(-1));
        k.rmsNorm(x, w, eps, out);
    }

    /** h ← h + o, then out = rmsNorm(h, w) ({@link Kernels#addRmsNorm}). */
    public void addRmsNorm(Tensor h, Tensor o, Tensor w, float eps, Tensor out) {
        act("addRmsNorm", h, o, w, out);
        Checks.checkSameShape("addRmsNorm", h, o, out);
        vec("addRmsNorm", "w", w, h.dim(-1));
        k.addRmsNorm(h, o, w, eps, out);
    }

    public void rmsNormGated(Tensor y, Tensor z, Tensor w, float eps, Tensor out) {
        act("rmsNormGated", y, z, w, out);
        Checks.checkSameShape("rmsNormGated", y, z, out);
        vec("rmsNormGated", "w", w, y.dim(-1));
        k.rmsNormGated(y, z, w, eps, out);
    }

    public void add(Tensor a, Tensor b, Tensor out) {
        act("add", a, b, out);
        Checks.checkSameShape("add", a, b, out);
        k.add(a, b, out);
    }

    public void silu(Tensor x, Tensor out) {
        act("silu", x, out);
        Checks.checkSameShape("silu", x, out);
        k.silu(x, out);
    }

    public void softplus(Tensor x, Tensor out) {
        act("softplus", x, out);
        Checks.checkSameShape("softplus", x, out);
        k.softplus(x, out);
    }

    public void mulSilu(Tensor y, Tensor z, Tensor out) {
        act("mulSilu", y, z, out);
        Checks.checkSameShape("mulSilu", y, z, out);
        k.mulSilu(y, z, out);
    }

    private static void conv(String op, Tensor x, Tensor w, Tensor bias, Tensor out) {
        rank(op, "x", x, 3);
        Checks.checkSameShape(op, x, out);
        if (w.rank() != 2 || w.dim(0) != x.dim(2))
            throw new IllegalArgumentException(op + ": w must be (C=" + x.dim(2) + ", K), got " + w.shape());
        vec(op, "bias", bias, x.dim(2));
    }

    public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        act("causalConv1d", x, w, bias, out);
        conv("causalConv1d", x, w, bias, out);
        k.causalConv1d(x, w, bias, silu, out);
    }

    public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        convStep("causalConv1dStep", state, x, w, bias, out);
        k.causalConv1dStep(state, x, w, bias, silu, out);
    }

    public void causalConv1dStepParts(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor whole, Tensor... parts) {
        convStep("causalConv1dStepParts", state, x, w, bias, whole);
        act("causalConv1dStepParts", parts);
        columnParts("causalConv1dStepParts", parts, x.dim(0), x.dim(1), "x ", x, "channels", "x ", x);
        k.causalConv1dStepParts(state, x, w, bias, silu, whole, parts);
    }

    /** The operands of a decode conv step: state (B, C, K), x and out (B, C), w (C, K), bias (C) or null. */
    private void convStep(String op, Tensor state, Tensor x, Tensor w, Tensor bias, Tensor out) {
        act(op, state, x, w, bias, out);
        rank(op, "x", x, 2);
        Checks.checkSameShape(op, x, out);
        if (w.rank() != 2 || w.dim(0) != x.dim(1) || !state.shape().equals(Shape.of(x.dim(0), x.dim(1), w.dim(1))))
            throw new IllegalArgumentException(op + ": state " + state.shape() + ", x " + x.shape() + ", w " + w.shape()
                    + " are not (B, C, K), (B, C), (C, K)");
        vec(op, "bias", bias, x.dim(1));
    }

    public void ssdStepWithDt(Ssd s, Tensor dtRaw, Tensor dtBias, Tensor a, float lo, float hi) {
        act("ssdStepWithDt", s.x(), s.logA(), s.scale(), s.bm(), s.cm(), s.d(), s.state(), s.out(), dtRaw, dtBias, a);
        if (s.length() != 1 || s.state() == null || s.scale() == null)
            throw new IllegalArgumentException("ssdStepWithDt: one step (L = 1) with a state and a scale (dt), got L " + s.length()
                    + (s.state() == null ? ", no state" : "") + (s.scale() == null ? ", no scale" : ""));
        if (!dtRaw.shape().equals(Shape.of(s.batch(), s.heads())))
            throw new IllegalArgumentException("ssdStepWithDt: dt must be (B, H) = (" + s.batch() + ", " + s.heads() + "), got " + dtRaw.shape());
        vec("ssdStepWithDt", "dt bias", dtBias, s.heads());
        if (a == null) throw new IllegalArgumentException("ssdStepWithDt: A is required");
        vec("ssdStepWithDt", "A", a, s.heads());
        k.ssdStepWithDt(s, dtRaw, dtBias, a, lo, hi);
    }

    public void causalConv1dSplit(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor... parts) {
        act("causalConv1dSplit", x, w, bias, state);
        act("causalConv1dSplit", parts);
        rank("causalConv1dSplit", "x", x, 3);
        if (w.rank() != 2 || w.dim(0) != x.dim(2))
            throw new IllegalArgumentException("causalConv1dSplit: w must be (C=" + x.dim(2) + ", K), got " + w.shape());
        vec("causalConv1dSplit", "bias", bias, x.dim(2));
        if (state != null && !state.shape().equals(Shape.of(x.dim(0), x.dim(2), w.dim(1))))
            throw new IllegalArgumentException("causalConv1dSplit: state " + state.shape() + " is not (B, C, K) = (" + x.dim(0) + ", " + x.dim(2) + ", " + w.dim(1) + ")");
        if (parts.length < 1 || parts.length > 3) throw new IllegalArgumentException("causalConv1dSplit: 1 to 3 parts, got " + parts.length);
        long col = 0;
        for (Tensor p : parts) {
            if (p.rank() != 3 || p.dim(0) != x.dim(0) || p.dim(1) != x.dim(1))
                throw new IllegalArgumentException("causalConv1dSplit: part " + p.shape() + " is not (" + x.dim(0) + ", " + x.dim(1) + ", ·)");
            col += p.dim(2);
        }
        if (col != x.dim(2)) throw new IllegalArgumentException("causalConv1dSplit: parts of " + col + " channels for x " + x.shape());
        k.causalConv1dSplit(state, x, w, bias, silu, parts);
    }

    public void linearConvStep(Tensor x, Tensor w, Tensor bias, Tensor out, long convFrom, Tensor convState, Tensor convW, Tensor convBias,
                               boolean silu, Tensor convOut) {
        act("linearConvStep", x, bias, out, convState, convW, convBias, convOut);
        weight("linearConvStep", w);
        Checks.checkLinearShapes(x, w, bias, out);
        if (x.dim(0) != 1) throw new IllegalArgumentException("linearConvStep: one sequence (x (1, K)), got x " + x.shape());
        if (convW.rank() != 2 || convFrom < 0 || convFrom + convW.dim(0) > out.dim(1)
                || !convState.shape().equals(Shape.of(1, convW.dim(0), convW.dim(1))) || !convOut.shape().equals(Shape.of(1, convW.dim(0))))
            throw new IllegalArgumentException("linearConvStep: conv columns from " + convFrom + " of out " + out.shape() + ", state "
                    + convState.shape() + ", w " + convW.shape() + ", out " + convOut.shape() + " are not [from, from + C) of N, (1, C, K), (C, K), (1, C)");
        vec("linearConvStep", "conv bias", convBias, convW.dim(0));
        k.linearConvStep(x, w, bias, out, convFrom, convState, convW, convBias, silu, convOut);
    }

    public void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        act("causalConv1dContinue", state, x, w, bias, out);
        conv("causalConv1dContinue", x, w, bias, out);
        if (!state.shape().equals(Shape.of(x.dim(0), x.dim(2), w.dim(1))))
            throw new IllegalArgumentException("causalConv1dContinue: state " + state.shape() + " is not (B, C, K) = ("
                    + x.dim(0) + ", " + x.dim(2) + ", " + w.dim(1) + ")");
        k.causalConv1dContinue(state, x, w, bias, silu, out);
    }

    private void scan(String op, SelectiveScan s) {   // shapes were checked when the record was built
        act(op, s.u(), s.delta(), s.deltaBias(), s.a(), s.bm(), s.cm(), s.d(), s.z(), s.state(), s.out());
    }

    public void selectiveScan(SelectiveScan args) {
        scan("selectiveScan", args);
        k.selectiveScan(args);
    }

    /** One decode step with Δ = dtLow · dtProjᵀ computed in it ({@link Kernels#selectiveScanStep}). */
    public void selectiveScanStep(Tensor dtLow, Tensor dtProj, SelectiveScan args) {
        scan("selectiveScanStep", args);
        act("selectiveScanStep", dtLow);
        weight("selectiveScanStep", dtProj);
        if (args.length() != 1 || args.state() == null)
            throw new IllegalArgumentException("selectiveScanStep: one step (L = 1) with a state, got L = " + args.length()
                    + (args.state() == null ? " and no state" : ""));
        rank("selectiveScanStep", "dtLow", dtLow, 2);
        if (dtLow.dim(0) != args.batch() || dtProj.rank() != 2 || dtProj.dim(0) != args.channels() || dtProj.dim(1) != dtLow.dim(1))
            throw new IllegalArgumentException("selectiveScanStep: dtLow " + dtLow.shape() + " and dtProj " + dtProj.shape() + " are not (B="
                    + args.batch() + ", R) and (E=" + args.channels() + ", R)");
        k.selectiveScanStep(dtLow, dtProj, args);
    }

    // ------------------------------------------------------------------ training

    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        act("matmul", a, b, out);
        Checks.checkMatmul(a, transA, b, transB, out);
        k.matmul(a, transA, b, transB, out, accumulate);
    }

    public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) {
        act("embeddingBackward", dOut, dWeight);
        rank("embeddingBackward", "dOut", dOut, 2);
        rank("embeddingBackward", "dWeight", dWeight, 2);
        ids("embeddingBackward", ids, dOut.dim(0));
        if (dOut.dim(1) != dWeight.dim(1))
            throw new IllegalArgumentException("embeddingBackward: dOut " + dOut.shape() + " vs dWeight " + dWeight.shape());
        k.embeddingBackward(ids, dOut, dWeight);
    }

    public void sumRows(Tensor x, Tensor out, boolean accumulate) {
        act("sumRows", x, out);
        rank("sumRows", "x", x, 2);
        vec("sumRows", "out", out, x.dim(1));
        k.sumRows(x, out, accumulate);
    }

    public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        act("rmsNormBackward", x, w, dy, dx, dw);
        Checks.checkRmsNormBackward(x, w, dy, dx, dw);
        k.rmsNormBackward(x, w, eps, dy, dx, dw);
    }

    public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        act("siluBackward", x, dy, dx);
        Checks.checkSameShape("siluBackward", x, dy, dx);
        k.siluBackward(x, dy, dx);
    }

    public void softplusBackward(Tensor x, Tensor dy, Tensor dx) {
        act("softplusBackward", x, dy, dx);
        Checks.checkSameShape("softplusBackward", x, dy, dx);
        k.softplusBackward(x, dy, dx);
    }

    public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        act("mulSiluBackward", y, z, dOut, dy, dz);
        Checks.checkSameShape("mulSiluBackward", y, z, dOut, dy, dz);
        k.mulSiluBackward(y, z, dOut, dy, dz);
    }

    public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        act("causalConv1dBackward", x, w, bias, dOut, dx, dw, dbias);
        Checks.checkConvBackward(x, w, bias, dOut, dx, dw, dbias);
        k.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias);
    }

    public void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates) {
        scan("selectiveScanForward", args);
        act("selectiveScanForward", chunkStates);
        Checks.checkChunkStates(args.batch(), args.length(), args.channels(), args.stateSize(), chunk, chunkStates);
        k.selectiveScanForward(args, chunk, chunkStates);
    }

    public void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads g) {
        scan("selectiveScanBackward", args);
        act("selectiveScanBackward", chunkStates, dOut, g.du(), g.dDelta(), g.dA(), g.dB(), g.dC(), g.dD(), g.dZ(), g.dDeltaBias(), g.dState0());
        Checks.checkChunkStates(args.batch(), args.length(), args.channels(), args.stateSize(), chunk, chunkStates);
        Checks.checkScanGrads(args.batch(), args.length(), args.channels(), args.stateSize(), dOut, g);
        k.selectiveScanBackward(args, chunk, chunkStates, dOut, g);
    }

    /** Writes the mean loss into {@code loss} (1); dLogits as {@link Kernels#crossEntropy}, or null for the loss alone. */
    public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss) {
        act("crossEntropy", logits, dLogits);
        rank("crossEntropy", "logits", logits, 2);
        if (dLogits != null) Checks.checkSameShape("crossEntropy", logits, dLogits);
        ids("crossEntropy", targets, logits.dim(0));
        on("crossEntropy", loss);
        scalarOut("crossEntropy", loss);
        k.crossEntropy(logits, targets, scale, dLogits, loss);
    }

    public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        act("sumSquares", x);
        on("sumSquares", out);
        scalarOut("sumSquares", out);
        k.sumSquares(x, out, accumulate);
    }

    /** MOHAWK stage 1's loss into loss (1) and, when dLogA is given, its gradients added into dLogA, dBm, dCm (and dD); see {@link Kernels#matrixDistance}. */
    public void matrixDistance(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target, Tensor dLogA, Tensor dBm, Tensor dCm,
                               Tensor dD, Tensor loss) {
        act("matrixDistance", logA, bm, cm, d, target, dLogA, dBm, dCm, dD);
        rank("matrixDistance", "logA", logA, 3);
        rank("matrixDistance", "B", bm, 4);
        long b = logA.dim(0), t = logA.dim(1), h = logA.dim(2), g = bm.dim(2);
        if (bm.dim(0) != b || bm.dim(1) != t || g <= 0 || h % g != 0)
            throw new IllegalArgumentException("matrixDistance: B " + bm.shape() + " does not fit logA " + logA.shape() + " (B, T, G, N) with H % G == 0");
        Checks.checkSameShape("matrixDistance", bm, cm);
        if (d != null) vec("matrixDistance", "D", d, h);
        if (!target.shape().equals(Shape.of(b, h, t, t)))
            throw new IllegalArgumentException("matrixDistance: target " + target.shape() + ", expected " + Shape.of(b, h, t, t));
        if (dLogA != null) {
            Checks.checkSameShape("matrixDistance", logA, dLogA);
            Checks.checkSameShape("matrixDistance", bm, dBm, dCm);
            if ((d == null) != (dD == null)) throw new IllegalArgumentException("matrixDistance: dD must be given exactly when D is");
            if (dD != null) Checks.checkSameShape("matrixDistance", d, dD);
        } else if (dBm != null || dCm != null || dD != null) throw new IllegalArgumentException("matrixDistance: gradients need dLogA");
        on("matrixDistance", loss);
        scalarOut("matrixDistance", loss);
        k.matrixDistance(logA, bm, cm, d, target, dLogA, dBm, dCm, dD, loss);
    }

    /** MOHAWK stage 2's loss into loss (1), its gradient added into dx when given; see {@link Kernels#rowDistance}. */
    public void rowDistance(Tensor x, Tensor target, Tensor dx, Tensor loss) {
        act("rowDistance", x, target, dx);
        rank("rowDistance", "x", x, 2);
        Checks.checkSameShape("rowDistance", x, target);
        if (dx != null) Checks.checkSameShape("rowDistance", x, dx);
        on("rowDistance", loss);
        scalarOut("rowDistance", loss);
        k.rowDistance(x, target, dx, loss);
    }

    /** MOHAWK stage 3's loss into loss (1), its gradient added into dStudent when given; see {@link Kernels#softCrossEntropy}. */
    public void softCrossEntropy(Tensor student, Tensor teacher, double tau, Tensor dStudent, Tensor loss) {
        act("softCrossEntropy", student, teacher, dStudent);
        rank("softCrossEntropy", "student", student, 2);
        Checks.checkSameShape("softCrossEntropy", student, teacher);
        if (dStudent != null) Checks.checkSameShape("softCrossEntropy", student, dStudent);
        if (!(tau > 0) || Double.isInfinite(tau)) throw new IllegalArgumentException("softCrossEntropy: temperature " + tau + " must be positive and finite");
        on("softCrossEntropy", loss);
        scalarOut("softCrossEntropy", loss);
        k.softCrossEntropy(student, teacher, tau, dStudent, loss);
    }

    public void scale(Tensor x, float s) {
        act("scale", x);
        k.scale(x, s);
    }

    public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        act("adamW", p, g, m, v);
        Checks.checkAdamW(p, g, m, v, step);
        k.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    // ------------------------------------------------------------------ Mamba-2 / SSD

    private void ssdArgs(String op, Ssd s) {   // shapes were checked when the record was built
        act(op, s.x(), s.logA(), s.scale(), s.bm(), s.cm(), s.d(), s.state(), s.out());
    }

    public void ssd(Ssd args, int chunk) { ssd(args, chunk, false); }

    /** As {@link #ssd(Ssd, int)}; {@code halfOperands}: the model's weights are half precision (see {@link Kernels#ssd(Ssd, int, boolean)}). */
    public void ssd(Ssd args, int chunk, boolean halfOperands) {
        ssdArgs("ssd", args);
        Checks.checkSsdChunkStates(args, chunk, null);
        k.ssd(args, chunk, halfOperands);
    }

    public void ssdForward(Ssd args, int chunk, Tensor chunkStates) {
        ssdArgs("ssdForward", args);
        act("ssdForward", chunkStates);
        Checks.checkSsdChunkStates(args, chunk, chunkStates);
        k.ssdForward(args, chunk, chunkStates);
    }

    public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads g) {
        ssdArgs("ssdBackward", args);
        act("ssdBackward", chunkStates, dOut, g.dx(), g.dLogA(), g.dScale(), g.dB(), g.dC(), g.dD(), g.dState0());
        Checks.checkSsdChunkStates(args, chunk, chunkStates);
        Checks.checkSsdGrads(args, dOut, g);
        k.ssdBackward(args, chunk, chunkStates, dOut, g);
    }

    public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        act("softplusClamp", x, bias, out);
        Checks.checkColumns("softplusClamp", x, bias, out);
        k.softplusClamp(x, bias, lo, hi, out);
    }

    public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        act("softplusClampBackward", x, bias, dy, dx, dBias);
        Checks.checkColumns("softplusClampBackward", x, bias, dy, dx);
        Checks.checkColumns("softplusClampBackward", x, dBias);
        k.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias);
    }

    public void mulColumns(Tensor x, Tensor a, Tensor out) {
        act("mulColumns", x, a, out);
        Checks.checkColumns("mulColumns", x, a, out);
        k.mulColumns(x, a, out);
    }

    public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        act("mulColumnsBackward", x, a, dy, dx, da);
        Checks.checkColumns("mulColumnsBackward", x, a, dy, dx);
        Checks.checkColumns("mulColumnsBackward", x, da);
        k.mulColumnsBackward(x, a, dy, dx, da);
    }

    // ------------------------------------------------------------------ Transformer teachers

    public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        act("layerNorm", x, w, b, out);
        Checks.checkLayerNorm("layerNorm", x, w, b, out);
        k.layerNorm(x, w, b, eps, out);
    }

    public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        act("layerNormBackward", x, w, dy, dx, dw, db);
        Checks.checkLayerNorm("layerNormBackward", x, w, db, dy, dx);
        vec("layerNormBackward", "dw", dw, x.dim(-1));
        k.layerNormBackward(x, w, eps, dy, dx, dw, db);
    }

    public void geluTanh(Tensor x, Tensor out) {
        act("geluTanh", x, out);
        Checks.checkSameShape("geluTanh", x, out);
        k.geluTanh(x, out);
    }

    public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        act("geluTanhBackward", x, dy, dx);
        Checks.checkSameShape("geluTanhBackward", x, dy, dx);
        k.geluTanhBackward(x, dy, dx);
    }

    public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        act("rotary", x, cos, sin, out);
        Checks.checkRotary(x, cos, sin, rotaryDim, pos0, out);
        k.rotary(x, cos, sin, rotaryDim, pos0, out);
    }

    public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) {
        act("rotaryBackward", dy, cos, sin, dx);
        Checks.checkRotary(dy, cos, sin, rotaryDim, pos0, dx);
        k.rotaryBackward(dy, cos, sin, rotaryDim, pos0, dx);
    }

    public void attention(Tensor q, Tensor kk, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        act("attention", q, kk, v, out, lse, probs);
        Checks.checkAttention(q, kk, v, out, lse, probs);
        k.attention(q, kk, v, scale, out, lse, probs);
    }

    public void attentionBackward(Tensor q, Tensor kk, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        act("attentionBackward", q, kk, v, out, lse, dOut, dq, dk, dv);
        Checks.checkAttention(q, kk, v, out, lse, null);
        Checks.checkSameShape("attentionBackward", q, dOut, dq);
        Checks.checkSameShape("attentionBackward", kk, dk, dv);
        if (lse == null) throw new IllegalArgumentException("attentionBackward needs the forward's lse");
        k.attentionBackward(q, kk, v, scale, out, lse, dOut, dq, dk, dv);
    }

    public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        act("attentionDecode", q, kCache, vCache, out);
        Checks.checkAttentionDecode(q, kCache, vCache, len, out);
        k.attentionDecode(q, kCache, vCache, len, scale, out);
    }
}
