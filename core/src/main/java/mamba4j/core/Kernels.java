package mamba4j.core;

import java.util.Set;

/**
 * What a backend implements: the closed op set's kernels plus the memory they run on — no checks. Callers never
 * see a {@code Kernels}: they hold the {@link Backend} front, which validates every op's shapes and dtypes once and
 * then calls these, so a new backend writes kernels, not checks. Found by {@link java.util.ServiceLoader}
 * ({@link Backends}).
 *
 * <p>Destination-passing style: every op writes into an {@code out} tensor the caller owns, so a decode loop runs
 * without allocating. Activations are one floating dtype of {@link #activationTypes()} (F32 on the fast backends;
 * the reference also computes in F64 for float64 golden checks). Weights of {@link #linear} and {@link #embedding}
 * may be F32, BF16 or F16 (and Q8_0/Q4_0 where {@link #weightTypes()} says so) and are widened or dequantised inside
 * the op; every reduction and every scan state is at least F32.
 * Shapes below use the symbols of MATH.md. Implementations: {@link ReferenceKernels} (scalar, the definition), the
 * Vector API kernels of the cpu module; the conformance suite in testkit runs every op of every backend against the
 * reference.
 */
public interface Kernels {
    /**
     * The ops only training calls (backward passes, the optimizer and its gradient clipping, the chunk-state forwards
     * kept for a backward): what an inference-only backend may refuse, naming the op. ({@code matmul} is not one: GPT-2's
     * Conv1D layers run through it.)
     */
    Set<String> TRAINING_OPS = Set.of("embeddingBackward", "sumRows", "rmsNormBackward", "siluBackward",
            "softplusBackward", "mulSiluBackward", "causalConv1dBackward", "selectiveScanForward", "selectiveScanBackward", "sumSquares",
            "scale", "adamW", "ssdForward", "ssdBackward", "softplusClampBackward", "mulColumnsBackward", "layerNormBackward",
            "geluTanhBackward", "rotaryBackward", "attentionBackward", "matrixDistance", "rowDistance", "softCrossEntropy");

    /** The name users pick it by ({@code --backend NAME}). */
    String name();

    /** A line for benchmark headers: the hardware and how it is used (threads, vector width, card). */
    default String description() { return name(); }

    /** Worker threads its host kernels use (1 for the reference; an accelerator backend reports its host threads). */
    default int threads() { return 1; }

    /** The measured bandwidth of the memory its weights are read from, in GB/s (what decode benchmarks divide by); NaN if unknown. */
    default double memoryBandwidthGBs() { return Double.NaN; }

    /**
     * Makes the backend ready (an accelerator opens its device here, not when {@link java.util.ServiceLoader}
     * constructs it, so a class path holding it costs nothing on machines without one); what it lacks is a
     * {@link UserInputException} naming it. Returns this.
     */
    default Kernels open() { return this; }

    /** The device its tensors live on. */
    Device device();

    /** The floating dtypes its kernels accept for activations (the front refuses others, naming the op). */
    Set<DType> activationTypes();

    /**
     * The dtypes its {@link #linear} and {@link #embedding} accept for weights besides {@link #activationTypes()}:
     * F32, BF16 and F16 everywhere; the host backends add the block-quantised Q8_0 and Q4_0 ({@link Quant}).
     */
    default Set<DType> weightTypes() { return Set.of(DType.F32, DType.BF16, DType.F16); }

    // ------------------------------------------------------------------ memory and movement (the backend owns them)

    /** A new zero-filled tensor on {@link #device()}. */
    Tensor allocate(DType dtype, Shape shape);

    /** The host tensor's elements on this device (the host backends return it as it is: no copy, mmap stays zero-copy). */
    Tensor upload(Tensor host);

    /** Copies the host tensor's bytes into dst on this device (same dtype and element count). */
    void write(Tensor host, Tensor dst);

    /** A host tensor with t's elements (the host backends return t itself). */
    Tensor download(Tensor t);

    /** The strided element copy described by {@code region}, src → dst (same dtype; see {@link CopyRegion}). */
    void copy(Tensor src, Tensor dst, CopyRegion region);

    /** Every element of t set to v (rounded to t's dtype). */
    void fill(Tensor t, float v);

    /** Element i of t, read back to the host (a synchronisation point on an accelerator). */
    double item(Tensor t, long i);

    /** Waits until every op issued so far has finished. */
    void sync();

    /**
     * {@code body}'s ops, recorded once to be replayed by the returned runnable: the ops of a decode step, which are
     * the same ops on the same tensors at every token. An accelerator captures them into a graph (one launch for
     * hundreds of kernels); a host backend returns body itself. The body must not read tensors back, allocate or
     * depend on host state that changes between runs; it is not run by this call.
     */
    default Runnable capture(Runnable body) { return body; }

    // ------------------------------------------------------------------ ops

    /** out[i, :] = weight[ids[i], :]. weight (V, D) of {@link #weightTypes()}; ids (n) I32, in range (checked where they enter); out (n, D). */
    void embedding(Tensor weight, Tensor ids, Tensor out);

    /** out[m, :] = x[m, :] + row: a row broadcast over the rows of x (M, N); row (N); out may alias x. */
    void addRow(Tensor x, Tensor row, Tensor out);

    /** out = a ⊙ b elementwise, same shapes (out may alias a or b). */
    void mul(Tensor a, Tensor b, Tensor out);

    /** out = −exp(x) elementwise (Mamba's A = −exp(A_log)); out may alias x. */
    void negExp(Tensor x, Tensor out);

    /** out = x · wᵀ + bias. x (M, K) F32; w (N, K) of {@link #weightTypes()} (PyTorch Linear layout); bias (N) F32 or null; out (M, N). */
    void linear(Tensor x, Tensor w, Tensor bias, Tensor out);

    /**
     * ids[r] = rows[r].pick(logits row r, first vocab entries) ({@link Sampling#pick}); logits (R, V') F32. The
     * default reads the logits on the host (downloaded once); an accelerator picks on its device and copies back R ids.
     */
    default void sample(Tensor logits, int vocab, Sampling[] rows, int[] ids) {
        float[] all = new float[Math.toIntExact(logits.numel())];
        download(logits).readFloats(all);
        int width = Math.toIntExact(logits.dim(1));
        for (int r = 0; r < rows.length; r++) ids[r] = rows[r].pick(all, r * width, vocab);
    }

    /**
     * parts (M, N_i) = x · wᵀ + bias restricted to consecutive row ranges of w (N_0 rows, then N_1, …; ΣN_i = N): a
     * linear whose output is split by columns, as a Mamba block's in_proj into x | z. {@code full} (M, N) is scratch
     * the op may use: the default computes the whole product there and copies the parts out; an accelerator runs one
     * GEMM per part over that part's weight rows and copies nothing.
     */
    default void linearParts(Tensor x, Tensor w, Tensor bias, Tensor full, Tensor... parts) {
        linear(x, w, bias, full);
        copyColumnParts(full, parts);
    }

    /** parts (M, C_i) = consecutive column ranges of whole (M, ΣC_i), left to right. */
    private void copyColumnParts(Tensor whole, Tensor... parts) {
        long m = whole.dim(0), width = whole.dim(1), col = 0;
        for (Tensor p : parts) {
            copy(whole, p, CopyRegion.block(m, p.dim(1), col, width, 0, p.dim(1)));
            col += p.dim(1);
        }
    }

    /** out = x / sqrt(mean(x², last dim) + eps) · w. x, out (M, D); w (D). */
    void rmsNorm(Tensor x, Tensor w, float eps, Tensor out);

    /**
     * h ← h + o, then out = rmsNorm(h, w): one block's residual add and the next block's norm (mamba_ssm's fused
     * add-norm; one kernel on an accelerator, fewer nodes in a decode graph). h, o, out (M, D); w (D).
     */
    default void addRmsNorm(Tensor h, Tensor o, Tensor w, float eps, Tensor out) {
        add(h, o, h);
        rmsNorm(h, w, eps, out);
    }

    /**
     * out = rmsNorm(y · silu(z), w): Mamba-2's gated norm (mamba_ssm's RMSNormGated with the gate before the norm, one
     * group), one pass over y and z on an accelerator instead of the gate's product written and read back. y, z, out
     * (M, D); w (D).
     */
    default void rmsNormGated(Tensor y, Tensor z, Tensor w, float eps, Tensor out) {
        mulSilu(y, z, out);
        rmsNorm(out, w, eps, out);
    }

    /** out = a + b, elementwise, same shapes (out may alias a or b). */
    void add(Tensor a, Tensor b, Tensor out);

    /** out = x · sigmoid(x). */
    void silu(Tensor x, Tensor out);

    /** out = log(1 + exp(x)), taken as x when x > 20 (as mamba_ssm's kernels). */
    void softplus(Tensor x, Tensor out);

    /** out = y · silu(z), the Mamba output gate. */
    void mulSilu(Tensor y, Tensor z, Tensor out);

    /**
     * Causal depthwise conv over time. x (B, L, C); w (C, K); bias (C) or null; out (B, L, C):
     * out[b, t, c] = bias[c] + Σ_k w[c, k] · x[b, t - K + 1 + k, c], with x = 0 before t = 0; then SiLU if asked.
     */
    void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out);

    /**
     * One step of {@link #causalConv1d}. state (B, C, K) holds the last K inputs, oldest first; it is shifted
     * left and x (B, C) appended, then out (B, C) = bias + Σ_k state[:, :, k] · w[:, k], SiLU if asked.
     */
    void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out);

    /**
     * Mamba-2's decode step with its Δ: s.scale() (B, 1, H) ← clamp(softplus(dtRaw + dtBias), lo, hi), s.logA() ←
     * s.scale() · a (a (H): A = −exp(A_log)), then {@link #ssd} of the one step (s.length() = 1, with a state). dtRaw
     * (B, H), dtBias (H) or null. On an accelerator one kernel instead of three.
     */
    default void ssdStepWithDt(Ssd s, Tensor dtRaw, Tensor dtBias, Tensor a, float lo, float hi) {
        int b = s.batch(), h = s.heads();
        Tensor dt = s.scale().reshape(b, h), logA = s.logA().reshape(b, h);
        softplusClamp(dtRaw, dtBias, lo, hi, dt);
        mulColumns(dt, a, logA);
        ssd(s, 1);
    }

    /**
     * {@link #causalConv1d} (state null) or {@link #causalConv1dContinue} with the output (B, L, C) split by channels
     * into parts (B, L, width_i) left to right (Mamba-2's x | B | C): an accelerator writes each part where it belongs
     * instead of the whole output and then its copies. Here: the conv into a host buffer, then the split.
     */
    default void causalConv1dSplit(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor... parts) {
        int b = x.size(0), l = x.size(1), c = x.size(2);
        Tensor whole = Tensor.zeros(x.dtype(), b, l, c);   // F64 on the reference's float64 checks
        if (state == null) causalConv1d(x, w, bias, silu, whole);
        else causalConv1dContinue(state, x, w, bias, silu, whole);
        long col = 0;
        for (Tensor p : parts) {
            copy(whole, p, CopyRegion.block((long) b * l, p.dim(2), col, c, 0, p.dim(2)));
            col += p.dim(2);
        }
    }

    /**
     * A decode step's input projection and its conv, for one sequence: out (1, N) = x (1, K) · wᵀ + bias, then
     * {@link #causalConv1dStep} of out's columns [convFrom, convFrom + C) with convState (1, C, K'), convW (C, K'),
     * convBias (C) or null into convOut (1, C). One kernel on an accelerator (the conv done by the threads that computed
     * each column) instead of two.
     */
    default void linearConvStep(Tensor x, Tensor w, Tensor bias, Tensor out, long convFrom, Tensor convState, Tensor convW, Tensor convBias,
                                boolean silu, Tensor convOut) {
        linear(x, w, bias, out);
        causalConv1dStep(convState, out.view(convFrom, 1, convW.dim(0)), convW, convBias, silu, convOut);
    }

    /**
     * {@link #causalConv1dStep} with its output split by channels into parts (B, C_i), left to right (Mamba-2's x | B |
     * C at a batched decode step). {@code whole} (B, C) is scratch the op may use: the default steps into it and copies
     * the parts out (the values of causalConv1dStep, bit for bit); an accelerator writes each part directly.
     */
    default void causalConv1dStepParts(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor whole, Tensor... parts) {
        causalConv1dStep(state, x, w, bias, silu, whole);
        copyColumnParts(whole, parts);
    }

    /**
     * {@link #causalConv1d} continuing sequences whose last K inputs are in state (B, C, K), oldest first: before t = 0
     * x is the state's last K − 1 inputs (x[b, −j, c] = state[b, c, K − j]) instead of zero; the state is then left
     * holding the last K inputs of [state | x]. x, out (B, L, C). A prefill from a zeroed state, or the next chunk of a
     * long prompt, without copying x beside its history.
     */
    void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out);

    /** The fused selective scan of Mamba-1; see {@link SelectiveScan}. States are never stored per step. */
    void selectiveScan(SelectiveScan args);

    /**
     * One decode step of Mamba-1's scan with its Δ projection: args.delta (B, 1, E) ← dtLow (B, R) · dtProjᵀ (dtProj
     * (E, R), a stored weight of any float dtype), then {@link #selectiveScan}(args) (L = 1, state in place). An
     * accelerator computes each channel's Δ inside the scan step (one kernel fewer per layer of a decode step).
     */
    default void selectiveScanStep(Tensor dtLow, Tensor dtProj, SelectiveScan args) {
        linear(dtLow, dtProj, null, args.delta().reshape(args.batch(), args.channels()));
        selectiveScan(args);
    }

    // ------------------------------------------------------------------ training: backward ops and updates
    // Gradient outputs named d* are written (overwritten) unless the doc says "accumulate" (+=), which is how
    // parameter gradients are collected across uses and micro-batches.

    /** out = op(a) · op(b), or out += … when accumulate; op(t) = tᵀ if its flag is set. a, b, out 2-D F32. */
    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate);

    /** dWeight[ids[i], :] += dOut[i, :] (accumulate). ids (n) I32; dWeight (V, D); dOut (n, D). */
    void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight);

    /** out[j] (+)= Σ_i x[i, j]: the bias gradient of a linear. x (M, N); out (N). */
    void sumRows(Tensor x, Tensor out, boolean accumulate);

    /** Backward of {@link #rmsNorm}: dx written, dw accumulated. x, dy, dx (M, D); w, dw (D). */
    void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw);

    /** dx = dy · silu'(x), silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
    void siluBackward(Tensor x, Tensor dy, Tensor dx);

    /** dx = dy · σ(x) (softplus' = sigmoid; 1 where x > 20, matching the forward's threshold). */
    void softplusBackward(Tensor x, Tensor dy, Tensor dx);

    /** Backward of {@link #mulSilu} (out = y · silu(z)): dy = dOut · silu(z), dz = dOut · y · silu'(z), both written. */
    void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz);

    /**
     * Backward of {@link #causalConv1d} (recomputing the pre-activation when silu): dx written, dw and dbias
     * (may be null) accumulated. x, dOut, dx (B, L, C); w, dw (C, K); bias, dbias (C).
     */
    void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias);

    /**
     * The fused selective scan's forward for training: as {@link #selectiveScan}, and additionally writes the
     * state at the start of every chunk of {@code chunk} steps into chunkStates (B, ceil(L/chunk), E, N) — the only
     * states kept; backward recomputes the rest (memory O(B·E·N·L/chunk), never O(B·L·E·N)).
     */
    void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates);

    /**
     * Backward of the fused scan from the saved chunk-start states: recomputes each chunk's states forward, then
     * walks it in reverse. The gradient tensors are described in {@link SelectiveScanGrads}.
     */
    void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads grads);

    /**
     * Mean cross-entropy of logits (M, V) against targets (M) I32 (−100 = ignored, as PyTorch's ignore_index; others
     * in [0, V)) over the counted rows, written to loss (1) F32/F64; writes dLogits = (softmax − onehot) / count · scale
     * (ignored rows get 0), or only the loss when dLogits is null.
     */
    void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss);

    /** out[0] = Σ x² over all elements (or out[0] += … when accumulate), summed in double; out (1) F32/F64. */
    void sumSquares(Tensor x, Tensor out, boolean accumulate);

    /**
     * MOHAWK stage 1: loss (1) F32/F64 = the mean over batch and head of ‖T − target‖_F, T the Discrete Mamba-2 mixing
     * matrix of logA (B, T, H), bm and cm (B, T, G, N) and d (H) or null, target (B, H, T, T); the gradients of the
     * loss are ADDED into dLogA, dBm, dCm, dD (all null: the loss only; dD null when d is). Definition and default (host
     * tensors): {@link DistillationLosses#matrix}.
     */
    default void matrixDistance(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target, Tensor dLogA, Tensor dBm, Tensor dCm,
                                Tensor dD, Tensor loss) {
        DistillationLosses.matrix(logA, bm, cm, d, target, dLogA == null ? null : new Tensor[]{dLogA, dBm, dCm, dD}, loss);
    }

    /**
     * MOHAWK stage 2: loss (1) = the mean over rows of ‖x_m − target_m‖₂, x and target (M, D); its gradient ADDED into
     * dx, or null. Default (host tensors): {@link DistillationLosses#rows}.
     */
    default void rowDistance(Tensor x, Tensor target, Tensor dx, Tensor loss) { DistillationLosses.rows(x, target, dx, loss); }

    /**
     * MOHAWK stage 3: loss (1) = the mean over rows of CE(softmax(teacher/τ), softmax(student/τ)), both (M, V); its
     * gradient ADDED into dStudent, or null. Default (host tensors): {@link DistillationLosses#soft}.
     */
    default void softCrossEntropy(Tensor student, Tensor teacher, double tau, Tensor dStudent, Tensor loss) {
        DistillationLosses.soft(student, teacher, tau, dStudent, loss);
    }

    /** x *= s, in place. */
    void scale(Tensor x, float s);

    /**
     * One AdamW step in place (decoupled weight decay, PyTorch's torch.optim.AdamW): m = β1·m + (1−β1)·g;
     * v = β2·v + (1−β2)·g²; p −= lr·(m/(1−β1^t) / (sqrt(v/(1−β2^t)) + eps) + wd·p). All F32, same shape.
     */
    void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step);

    // ------------------------------------------------------------------ Mamba-2 / SSD

    /** The SSD scan ({@link Ssd}) by the chunked algorithm with chunks of {@code chunk} steps (any chunk gives the same result). */
    void ssd(Ssd args, int chunk);

    /**
     * As {@link #ssd(Ssd, int)} for a model whose weights are half precision ({@code halfOperands}): a backend may then
     * multiply in bf16 with float32 sums, as torch and mamba_ssm run such a model (the host kernels do not).
     */
    default void ssd(Ssd args, int chunk, boolean halfOperands) { ssd(args, chunk); }

    /** As {@link #ssd}, also writing the state at the start of every chunk into chunkStates (B, ceil(L/chunk), H, P, N). */
    void ssdForward(Ssd args, int chunk, Tensor chunkStates);

    /** Backward of the SSD scan from the saved chunk-start states; see {@link SsdGrads}. */
    void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads);

    /** out = clamp(softplus(x + bias[h]), lo, hi) for x (M, H), bias (H) or null: Mamba-2's dt. */
    void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out);

    /** Backward of {@link #softplusClamp}: dx = dy·σ(x + b) where lo < out < hi (0 where clamped), written; dBias accumulated. */
    void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias);

    /** out[m, h] = x[m, h] · a[h] for x (M, H), a (H). */
    void mulColumns(Tensor x, Tensor a, Tensor out);

    /** Backward of {@link #mulColumns}: dx = dy · a written, da += Σ_m dy · x accumulated (either may be null). */
    void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da);

    // ------------------------------------------------------------------ Transformer teachers (Phi, Llama, GPT-2)
    // Attention operands are channels-last, as they come out of the projections: q (B, T, H, Dh),
    // k, v (B, T, Hkv, Dh) with H a multiple of Hkv (grouped-query: head h reads kv head h / (H / Hkv)).

    /** out = (x − mean) / sqrt(var + eps) · w + b over the last dim (biased variance, as torch's LayerNorm). x, out (M, D); w, b (D), b may be null. */
    void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out);

    /** Backward of {@link #layerNorm}: dx written; dw and db (may be null) accumulated. */
    void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db);

    /** out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): transformers' gelu_new (the tanh approximation). */
    void geluTanh(Tensor x, Tensor out);

    /** dx = dy · gelu_new'(x). */
    void geluTanhBackward(Tensor x, Tensor dy, Tensor dx);

    /**
     * Rotary position embedding, rotate_half convention (GPT-NeoX / transformers), on the first {@code rotaryDim}
     * dims of every head (partial rotary when rotaryDim < Dh; the rest pass through). x, out (B, T, H, Dh), out
     * may alias x; cos, sin (P, rotaryDim/2) tables from {@link Formulas#ropeTables}; token t sits at position pos0 + t:
     * with r = rotaryDim/2 and (c, s) = (cos, sin)[pos0 + t, i], for i < r:
     * out[i] = x[i]·c − x[i + r]·s,  out[i + r] = x[i + r]·c + x[i]·s.
     */
    void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out);

    /** Backward of {@link #rotary} (the rotation by −angle): dx[i] = dy[i]·c + dy[i + r]·s, dx[i + r] = dy[i + r]·c − dy[i]·s. dx may alias dy. */
    void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx);

    /**
     * Causal self-attention out = softmax(q·kᵀ·scale + causal mask)·v without materialising the (T, T) scores
     * (tiled, online softmax). q, out (B, T, H, Dh); k, v (B, T, Hkv, Dh); lse (B, H, T) receives each row's
     * logsumexp of the scaled scores (for the backward), or null; probs (B, H, T, T), when not null, receives
     * the softmax probabilities themselves (zeros above the diagonal): what MOHAWK stage 1 reads.
     */
    void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs);

    /**
     * Backward of {@link #attention}, recomputing the probabilities tile by tile from q, k and lse:
     * with p = exp(s − lse), D_i = Σ_d dOut_i·out_i: dv_j = Σ_i p_ij dOut_i; ds_ij = p_ij (dOut_i·v_j − D_i);
     * dq_i = scale Σ_j ds_ij k_j; dk_j = scale Σ_i ds_ij q_i (summed over the heads that share a kv head).
     * dq, dk, dv written.
     */
    void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv);

    /**
     * One decode step: each sequence's single query against its first {@code len} cached keys and values.
     * q, out (B, H, Dh); kCache, vCache (B, C, Hkv, Dh) with len ≤ C. Equal to the last row of {@link #attention}
     * over those len positions.
     */
    void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out);
}
