package mamba4j.core;

/**
 * Shape and dtype checks of the op set, run once by the {@link Backend} front when an op is called — never inside a
 * kernel's loops, and never written again by a backend. A failure here is a bug in the caller (an internal error),
 * not bad user input: user input is checked where it enters (loaders, the CLI) and named there.
 */
public final class Checks {
    private Checks() {}
    // ---- checks, done once when an op is entered (never inside its loops)

    /** Validates {@link Backend#linear} operands once, naming the mismatch. */
    public static void checkLinear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        checkLinearShapes(x, w, bias, out);
        if (x.dtype() != DType.F32 || out.dtype() != DType.F32)
            throw new IllegalArgumentException("linear computes in F32; x is " + x.dtype() + ", out " + out.dtype());
        if (w.dtype() != DType.F32 && w.dtype() != DType.BF16 && w.dtype() != DType.F16 && !w.dtype().isQuantised())
            throw new IllegalArgumentException("linear weight must be F32, BF16, F16, Q8_0 or Q4_0, got " + w.dtype());
        if (w.dtype().isQuantised() && w.dim(1) % w.dtype().blockSize() != 0)
            throw new IllegalArgumentException("linear: a " + w.dtype() + " weight needs K a multiple of " + w.dtype().blockSize() + ", got " + w.shape());
    }

    /** The shape half of {@link #checkLinear} (the reference also accepts F64 operands). */
    public static void checkLinearShapes(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (x.rank() != 2 || w.rank() != 2 || out.rank() != 2)
            throw new IllegalArgumentException("linear wants x (M, K), w (N, K), out (M, N); got " + x.shape() + ", " + w.shape() + ", " + out.shape());
        if (x.dim(1) != w.dim(1) || out.dim(0) != x.dim(0) || out.dim(1) != w.dim(0))
            throw new IllegalArgumentException("linear shapes disagree: x " + x.shape() + ", w " + w.shape() + ", out " + out.shape());
        if (bias != null && bias.numel() != w.dim(0))
            throw new IllegalArgumentException("linear bias " + bias.shape() + " does not match w " + w.shape());
    }

    /**
     * Validates {@link Backend#matmul} operands and returns {M, K, N}: op(a) (M, K), op(b) (K, N), out (M, N).
     */
    public static int[] checkMatmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out) {
        if (a.rank() != 2 || b.rank() != 2 || out.rank() != 2)
            throw new IllegalArgumentException("matmul wants 2-D a, b, out; got " + a.shape() + ", " + b.shape() + ", " + out.shape());
        int m = a.size(transA ? 1 : 0), k = a.size(transA ? 0 : 1);
        int kb = b.size(transB ? 1 : 0), n = b.size(transB ? 0 : 1);
        if (k != kb || out.size(0) != m || out.size(1) != n)
            throw new IllegalArgumentException("matmul shapes disagree: op(a) (" + m + ", " + k + ") from " + a.shape() + (transA ? "ᵀ" : "")
                    + ", op(b) (" + kb + ", " + n + ") from " + b.shape() + (transB ? "ᵀ" : "") + ", out " + out.shape());
        if (out.overlaps(a) || out.overlaps(b))
            throw new IllegalArgumentException("matmul: out must not overlap a or b");
        return new int[]{m, k, n};
    }

    /** Every tensor has the shape of the first (names the op and the offender). */
    public static void checkSameShape(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && !t.shape().equals(ts[0].shape()))
                throw new IllegalArgumentException(op + ": shape " + t.shape() + " differs from " + ts[0].shape());
    }

    /** The fast backends compute in F32 only; the reference also takes F64. */
    public static void checkF32(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && t.dtype() != DType.F32)
                throw new IllegalArgumentException(op + ": this backend computes in F32, got a " + t.dtype() + " tensor " + t.shape());
    }

    /** F32 or F64 floating tensors, for the reference's training ops. */
    public static void checkFloat(String op, Tensor... ts) {
        for (Tensor t : ts)
            if (t != null && t.dtype() != DType.F32 && t.dtype() != DType.F64)
                throw new IllegalArgumentException(op + ": wants F32 or F64, got a " + t.dtype() + " tensor " + t.shape());
    }

    /** Validates {@link Backend#rmsNormBackward} operands. */
    public static void checkRmsNormBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw) {
        checkSameShape("rmsNormBackward", x, dy, dx);
        int d = x.size(-1);
        if (w.numel() != d || dw.numel() != d)
            throw new IllegalArgumentException("rmsNormBackward: w " + w.shape() + " and dw " + dw.shape() + " must have D = " + d + " elements");
    }

    /** Validates {@link Backend#causalConv1dBackward} operands. */
    public static void checkConvBackward(Tensor x, Tensor w, Tensor bias, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        if (x.rank() != 3 || w.rank() != 2)
            throw new IllegalArgumentException("causalConv1dBackward wants x (B, L, C), w (C, K); got " + x.shape() + ", " + w.shape());
        checkSameShape("causalConv1dBackward", x, dOut, dx);
        checkSameShape("causalConv1dBackward", w, dw);
        int c = x.size(2);
        if (w.size(0) != c) throw new IllegalArgumentException("causalConv1dBackward: w " + w.shape() + " does not match C = " + c);
        if (bias != null && bias.numel() != c) throw new IllegalArgumentException("causalConv1dBackward: bias " + bias.shape() + " is not (C=" + c + ")");
        if (dbias != null && dbias.numel() != c) throw new IllegalArgumentException("causalConv1dBackward: dbias " + dbias.shape() + " is not (C=" + c + ")");
    }

    /** Validates the chunk size and chunkStates (B, ceil(L/chunk), E, N) of the training scan; returns the chunk count. */
    public static int checkChunkStates(int b, int l, int e, int n, int chunk, Tensor chunkStates) {
        if (chunk < 1) throw new IllegalArgumentException("selective scan: chunk must be ≥ 1, got " + chunk);
        int chunks = (l + chunk - 1) / chunk;
        if (!chunkStates.shape().equals(Shape.of(b, chunks, e, n)))
            throw new IllegalArgumentException("selective scan: chunkStates must be " + Shape.of(b, chunks, e, n) + " for chunk " + chunk + ", got " + chunkStates.shape());
        return chunks;
    }

    /** Validates the gradient tensors of {@link Backend#selectiveScanBackward} against the forward's shapes. */
    public static void checkScanGrads(int b, int l, int e, int n, Tensor dOut, SelectiveScanGrads g) {
        if (g.du() == null || g.dDelta() == null) throw new IllegalArgumentException("selective scan backward: du and dDelta are required");
        checkShape("dOut", dOut, b, l, e);
        checkShape("du", g.du(), b, l, e);
        checkShape("dDelta", g.dDelta(), b, l, e);
        checkShape("dA", g.dA(), e, n);
        checkShape("dB", g.dB(), b, l, n);
        checkShape("dC", g.dC(), b, l, n);
        checkShape("dD", g.dD(), e);
        checkShape("dZ", g.dZ(), b, l, e);
        checkShape("dDeltaBias", g.dDeltaBias(), e);
        checkShape("dState0", g.dState0(), b, e, n);
    }

    private static void checkShape(String what, Tensor t, long... dims) {
        if (t != null && !t.shape().equals(Shape.of(dims)))
            throw new IllegalArgumentException("selective scan backward: " + what + " must be " + Shape.of(dims) + ", got " + t.shape());
    }

    /** Validates the chunk size and chunkStates (B, ceil(L/chunk), H, P, N) of the SSD; returns the chunk count. */
    public static int checkSsdChunkStates(Ssd s, int chunk, Tensor chunkStates) {
        if (chunk < 1) throw new IllegalArgumentException("ssd: chunk must be ≥ 1, got " + chunk);
        int chunks = (s.length() + chunk - 1) / chunk;
        Shape want = Shape.of(s.batch(), chunks, s.heads(), s.headDim(), s.stateSize());
        if (chunkStates != null && !chunkStates.shape().equals(want))
            throw new IllegalArgumentException("ssd: chunkStates must be " + want + " for chunk " + chunk + ", got " + chunkStates.shape());
        return chunks;
    }

    /** Validates the gradient tensors of {@link Backend#ssdBackward} against the forward's shapes. */
    public static void checkSsdGrads(Ssd s, Tensor dOut, SsdGrads g) {
        if (g.dx() == null || g.dLogA() == null) throw new IllegalArgumentException("ssd backward: dx and dLogA are required");
        int b = s.batch(), l = s.length(), h = s.heads(), p = s.headDim(), gr = s.groups(), n = s.stateSize();
        checkSsdShape("dOut", dOut, b, l, h, p);
        checkSsdShape("dx", g.dx(), b, l, h, p);
        checkSsdShape("dLogA", g.dLogA(), b, l, h);
        if (g.dScale() != null && s.scale() == null) throw new IllegalArgumentException("ssd backward: dScale given but the forward had no scale");
        checkSsdShape("dScale", g.dScale(), b, l, h);
        checkSsdShape("dB", g.dB(), b, l, gr, n);
        checkSsdShape("dC", g.dC(), b, l, gr, n);
        checkSsdShape("dD", g.dD(), h);
        checkSsdShape("dState0", g.dState0(), b, h, p, n);
    }

    private static void checkSsdShape(String what, Tensor t, long... dims) {
        if (t != null && !t.shape().equals(Shape.of(dims)))
            throw new IllegalArgumentException("ssd backward: " + what + " must be " + Shape.of(dims) + ", got " + t.shape());
    }

    /** Validates {@link Backend#softplusClamp} / {@link Backend#mulColumns} operands: x (M, H) (any leading dims), a per-column vector (H). */
    public static void checkColumns(String op, Tensor x, Tensor col, Tensor... sameAsX) {
        for (Tensor t : sameAsX)
            if (t != null && !t.shape().equals(x.shape()))
                throw new IllegalArgumentException(op + ": shape " + t.shape() + " differs from x " + x.shape());
        if (col != null && col.numel() != x.size(-1))
            throw new IllegalArgumentException(op + ": per-column vector " + col.shape() + " does not match the last dim of x " + x.shape());
    }

    /** Validates {@link Backend#crossEntropy} operands: logits and dLogits (M, V), targets in [0, V) or −100. */
    public static void checkCrossEntropy(Tensor logits, int[] targets, Tensor dLogits) {
        if (logits.rank() != 2) throw new IllegalArgumentException("crossEntropy wants logits (M, V), got " + logits.shape());
        checkSameShape("crossEntropy", logits, dLogits);
        int m = logits.size(0), v = logits.size(1);
        if (targets.length != m) throw new IllegalArgumentException("crossEntropy: " + targets.length + " targets for " + m + " rows");
        for (int i = 0; i < m; i++)
            if (targets[i] != IGNORE_INDEX && (targets[i] < 0 || targets[i] >= v))
                throw new IllegalArgumentException("crossEntropy: target " + targets[i] + " at row " + i + " outside [0, " + v + ") and not " + IGNORE_INDEX);
    }

    /** PyTorch's default ignore_index. */
    public static final int IGNORE_INDEX = -100;

    /** Validates {@link Backend#adamW} operands. */
    public static void checkAdamW(Tensor p, Tensor g, Tensor m, Tensor v, long step) {
        checkSameShape("adamW", p, g, m, v);
        if (step < 1) throw new IllegalArgumentException("adamW: step counts from 1, got " + step);
    }

    /** Validates {@link Backend#layerNorm} / its backward operands. */
    public static void checkLayerNorm(String op, Tensor x, Tensor w, Tensor b, Tensor... sameAsX) {
        checkSameShape(op, x);
        for (Tensor t : sameAsX)
            if (t != null && !t.shape().equals(x.shape())) throw new IllegalArgumentException(op + ": shape " + t.shape() + " differs from x " + x.shape());
        int d = x.size(-1);
        if (w.numel() != d) throw new IllegalArgumentException(op + ": w " + w.shape() + " does not have D = " + d + " elements");
        if (b != null && b.numel() != d) throw new IllegalArgumentException(op + ": bias " + b.shape() + " does not have D = " + d + " elements");
    }

    /** Validates {@link Backend#rotary} operands: x (B, T, H, Dh), tables (P, rotaryDim/2) covering positions pos0 .. pos0 + T − 1. */
    public static void checkRotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        if (x.rank() != 4) throw new IllegalArgumentException("rotary wants x (B, T, H, Dh), got " + x.shape());
        checkSameShape("rotary", x, out);
        int dh = x.size(3), t = x.size(1);
        if (rotaryDim <= 0 || rotaryDim % 2 != 0 || rotaryDim > dh)
            throw new IllegalArgumentException("rotary: rotaryDim " + rotaryDim + " must be even, > 0 and ≤ head dim " + dh);
        if (cos.rank() != 2 || cos.size(1) != rotaryDim / 2 || !cos.shape().equals(sin.shape()))
            throw new IllegalArgumentException("rotary: cos " + cos.shape() + " and sin " + sin.shape() + " must both be (P, " + rotaryDim / 2 + ")");
        if (pos0 < 0 || pos0 + t > cos.size(0))
            throw new IllegalArgumentException("rotary: positions " + pos0 + ".." + (pos0 + t - 1) + " outside the table of " + cos.size(0)
                    + " positions (max_position_embeddings)");
    }

    /** Validates {@link Backend#attention} operands; returns {B, T, H, Hkv, Dh}. */
    public static int[] checkAttention(Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor probs) {
        if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
            throw new IllegalArgumentException("attention wants q (B, T, H, Dh), k, v (B, T, Hkv, Dh); got " + q.shape() + ", " + k.shape() + ", " + v.shape());
        int b = q.size(0), t = q.size(1), h = q.size(2), hkv = k.size(2), dh = q.size(3);
        if (!k.shape().equals(v.shape()) || k.size(0) != b || k.size(1) != t || k.size(3) != dh)
            throw new IllegalArgumentException("attention: k " + k.shape() + " / v " + v.shape() + " do not match q " + q.shape());
        if (hkv <= 0 || h % hkv != 0) throw new IllegalArgumentException("attention: heads " + h + " is not a multiple of kv heads " + hkv);
        checkSameShape("attention", q, out);
        if (lse != null && !lse.shape().equals(Shape.of(b, h, t)))
            throw new IllegalArgumentException("attention: lse must be " + Shape.of(b, h, t) + ", got " + lse.shape());
        if (probs != null && !probs.shape().equals(Shape.of(b, h, t, t)))
            throw new IllegalArgumentException("attention: probs must be " + Shape.of(b, h, t, t) + ", got " + probs.shape());
        return new int[]{b, t, h, hkv, dh};
    }

    /** Validates {@link Backend#attentionDecode} operands; returns {B, H, Hkv, Dh, C}. */
    public static int[] checkAttentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, Tensor out) {
        if (q.rank() != 3 || kCache.rank() != 4 || !kCache.shape().equals(vCache.shape()))
            throw new IllegalArgumentException("attentionDecode wants q (B, H, Dh), caches (B, C, Hkv, Dh); got " + q.shape() + ", " + kCache.shape() + ", " + vCache.shape());
        int b = q.size(0), h = q.size(1), dh = q.size(2), c = kCache.size(1), hkv = kCache.size(2);
        if (kCache.size(0) != b || kCache.size(3) != dh || hkv <= 0 || h % hkv != 0)
            throw new IllegalArgumentException("attentionDecode: cache " + kCache.shape() + " does not match q " + q.shape());
        if (len < 1 || len > c) throw new IllegalArgumentException("attentionDecode: len " + len + " outside [1, " + c + "]");
        checkSameShape("attentionDecode", q, out);
        return new int[]{b, h, hkv, dh, c};
    }
}
