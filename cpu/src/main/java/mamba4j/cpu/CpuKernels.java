package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import mamba4j.core.CopyRegion;
import mamba4j.core.Device;
import mamba4j.core.Kernels;
import mamba4j.core.Shape;
import mamba4j.core.DType;
import mamba4j.core.Checks;
import mamba4j.core.Formulas;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Same as {@link ReferenceKernels}; differs in using the Vector API (species-agnostic bodies with scalar
 * tails) and all cores through {@link Parallel}. Summation order differs from the reference, so results
 * agree to float32 rounding, not bit for bit.
 *
 * <p>{@code -Dmamba4j.vector=false} routes every op to the reference (the off switch).
 *
 * <p>This class is the dispatcher; the kernels live in one file per op family: {@link CpuLinear} (linear, decode and
 * prefill), {@link CpuQuant} (linear and embedding with Q8_0/Q4_0 weights), {@link CpuGemm} (the packed GEMM), {@link CpuElementwise} (elementwise ops, RMSNorm), {@link CpuConv},
 * {@link CpuScan} (the selective scan), {@link CpuSsd} (Mamba-2's chunked SSD), {@link CpuAttention} (LayerNorm,
 * gelu, rotary, attention) and {@link CpuTraining} (the backward ops, loss and optimizer).
 */
public final class CpuKernels implements Kernels {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final boolean VECTOR = !"false".equals(System.getProperty("mamba4j.vector"));
    private static final ReferenceKernels REF = ReferenceKernels.INSTANCE;
    /** Per-thread scratch for weight rows widened from BF16/F16, and for scan states. */
    static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    @Override public String name() { return "cpu"; }

    @Override public String description() {
        return VECTOR ? "cpu (Vector API, " + VL + " floats per vector, " + Parallel.threads() + " threads)"
                : "cpu (vector off: every op routed to the reference)";
    }

    @Override public Device device() { return Device.CPU; }

    @Override public int threads() { return Parallel.threads(); }

    /** Main-memory read bandwidth with all threads, best of 5 reads of 1 GiB (see {@link MemoryBandwidth}). */
    @Override public double memoryBandwidthGBs() { return MemoryBandwidth.readGBps(1L << 30, 5); }

    private static final java.util.Set<DType> F32_ONLY = java.util.Set.of(DType.F32);

    @Override public java.util.Set<DType> activationTypes() { return VECTOR ? F32_ONLY : REF.activationTypes(); }

    /** F32, BF16, F16, and Q8_0/Q4_0 through {@link CpuQuant} (or the reference's loops where the vector width has no kernel). */
    @Override public java.util.Set<DType> weightTypes() { return REF.weightTypes(); }

    // ---------------------------------------------------------------- memory: host tensors as they are

    @Override public Tensor allocate(DType dtype, Shape shape) { return Tensor.zeros(dtype, shape); }

    @Override public Tensor upload(Tensor host) { return host; }

    @Override public Tensor download(Tensor t) { return t; }

    @Override public void write(Tensor host, Tensor dst) { dst.copyFrom(host); }

    @Override public void copy(Tensor src, Tensor dst, CopyRegion region) { ReferenceKernels.hostCopy(src, dst, region); }

    @Override public void fill(Tensor t, float v) { t.fill(v); }

    @Override public double item(Tensor t, long i) { return t.getDouble(i); }

    @Override public void sync() {}

    @Override public void addRow(Tensor x, Tensor row, Tensor out) {
        if (!VECTOR) { REF.addRow(x, row, out); return; }
        int n = (int) row.numel();
        long m = x.numel() / n;
        MemorySegment xs = x.segment(), rs = row.segment(), os = out.segment();
        int bound = S.loopBound(n);
        for (long r = 0; r < m; r++) {
            long base = r * n;
            int j = 0;
            for (; j < bound; j += VL)
                FloatVector.fromMemorySegment(S, xs, (base + j) * 4, LE).add(FloatVector.fromMemorySegment(S, rs, j * 4L, LE))
                        .intoMemorySegment(os, (base + j) * 4, LE);
            for (; j < n; j++) os.setAtIndex(Tensor.F32, base + j, xs.getAtIndex(Tensor.F32, base + j) + rs.getAtIndex(Tensor.F32, j));
        }
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        if (!VECTOR) { REF.mul(a, b, out); return; }
        MemorySegment as = a.segment(), bs = b.segment(), os = out.segment();
        long n = out.numel(), bound = S.loopBound(n);
        long i = 0;
        for (; i < bound; i += VL)
            FloatVector.fromMemorySegment(S, as, i * 4, LE).mul(FloatVector.fromMemorySegment(S, bs, i * 4, LE)).intoMemorySegment(os, i * 4, LE);
        for (; i < n; i++) os.setAtIndex(Tensor.F32, i, as.getAtIndex(Tensor.F32, i) * bs.getAtIndex(Tensor.F32, i));
    }

    @Override public void negExp(Tensor x, Tensor out) {
        if (!VECTOR) { REF.negExp(x, out); return; }
        for (long i = 0, n = x.numel(); i < n; i++) out.setFloat(i, (float) -Math.exp(x.getFloat(i)));
    }

    @Override public void embedding(Tensor weight, Tensor ids, Tensor out) {
        if (!VECTOR || weight.dtype().isQuantised() && !CpuQuant.SUPPORTED) { REF.embedding(weight, ids, out); return; }
        if (weight.dtype().isQuantised()) { CpuQuant.embedding(weight, ids, out); return; }
        int d = weight.size(1);
        for (int i = 0, n = (int) ids.numel(); i < n; i++) {
            long src = ids.getLong(i) * d, dst = (long) i * d;
            if (weight.dtype() == DType.F32)
                MemorySegment.copy(weight.segment(), src * 4, out.segment(), dst * 4, d * 4L);
            else
                for (int j = 0; j < d; j++) out.setFloat(dst + j, weight.getFloat(src + j));
        }
    }

    // ---------------------------------------------------------------- linear (kernels in CpuLinear)

    @Override public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (!VECTOR || w.dtype().isQuantised() && !CpuQuant.SUPPORTED) { REF.linear(x, w, bias, out); return; }
        if (w.dtype().isQuantised()) { CpuQuant.linear(x, w, bias, out); return; }
        CpuLinear.linear(x, w, bias, out);
    }

    // ---------------------------------------------------------------- elementwise and norms (kernels in CpuElementwise)

    @Override public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        if (!VECTOR) { REF.rmsNorm(x, w, eps, out); return; }
        CpuElementwise.rmsNorm(x, w, eps, out);
    }

    @Override public void add(Tensor a, Tensor b, Tensor out) {
        if (!VECTOR) { REF.add(a, b, out); return; }
        CpuElementwise.add(a, b, out);
    }

    @Override public void silu(Tensor x, Tensor out) {
        if (!VECTOR) { REF.silu(x, out); return; }
        CpuElementwise.silu(x, out);
    }

    @Override public void softplus(Tensor x, Tensor out) {
        if (!VECTOR) { REF.softplus(x, out); return; }
        CpuElementwise.softplus(x, out);
    }

    @Override public void mulSilu(Tensor y, Tensor z, Tensor out) {
        if (!VECTOR) { REF.mulSilu(y, z, out); return; }
        CpuElementwise.mulSilu(y, z, out);
    }

    // ---------------------------------------------------------------- conv (kernels in CpuConv)

    @Override public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        if (!VECTOR) { REF.causalConv1d(x, w, bias, silu, out); return; }
        CpuConv.causalConv1d(x, w, bias, silu, out);
    }

    @Override public void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        if (!VECTOR) { REF.causalConv1dContinue(state, x, w, bias, silu, out); return; }
        CpuConv.causalConv1d(state, x, w, bias, silu, out);
    }

    /** Each row computed once and its column ranges copied into the parts (no whole output in memory). */
    @Override public void causalConv1dSplit(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor... parts) {
        if (!VECTOR) { REF.causalConv1dSplit(state, x, w, bias, silu, parts); return; }
        CpuConv.causalConv1d(state, x, w, bias, silu, null, parts);
    }

    @Override public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        if (!VECTOR) { REF.causalConv1dStep(state, x, w, bias, silu, out); return; }
        CpuConv.causalConv1dStep(state, x, w, bias, silu, out);
    }

    // ---------------------------------------------------------------- selective scan (kernels in CpuScan)

    @Override public void selectiveScan(SelectiveScan s) {
        if (!VECTOR) { REF.selectiveScan(s); return; }
        CpuScan.selectiveScan(s);
    }

    // ---------------------------------------------------------------- training ops (kernels in CpuTraining)

    /**
     * Same as Reference matmul; differs in being a packed, blocked GEMM: op(b) packed into 2·VL-wide K-major panels,
     * op(a) packed once per call in 6-row tiles, a 6 × 2·VL broadcast-FMA micro-kernel, threads over (48 rows × 4
     * panels) units. Sums over K in float, in K-block order. F32 only.
     */
    @Override public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.matmul(a, transA, b, transB, out, accumulate); return; }
        int[] mkn = Checks.checkMatmul(a, transA, b, transB, out);
        CpuGemm.matmul(a, transA, b, transB, out, accumulate, mkn[0], mkn[1], mkn[2]);
    }

    /** Same as Reference embeddingBackward; differs in threads over column ranges (repeated ids never race) and lanes. */
    @Override public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) {
        if (!VECTOR) { REF.embeddingBackward(ids, dOut, dWeight); return; }
        CpuTraining.embeddingBackward(ids.toIntArray(), dOut, dWeight);
    }

    /** Same as Reference sumRows; differs in summing in float lanes (threads over column ranges), not in double. */
    @Override public void sumRows(Tensor x, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.sumRows(x, out, accumulate); return; }
        if (out.numel() != x.size(-1)) throw new IllegalArgumentException("sumRows: out " + out.shape() + " does not match x " + x.shape());
        CpuTraining.sumRows(x, out, accumulate);
    }

    /** Same as Reference rmsNormBackward; differs in float lanes, threads over rows with per-thread dw partials. */
    @Override public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        if (!VECTOR) { REF.rmsNormBackward(x, w, eps, dy, dx, dw); return; }
        CpuTraining.rmsNormBackward(x, w, eps, dy, dx, dw);
    }

    /** Same as Reference siluBackward; differs in float lanes. */
    @Override public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.siluBackward(x, dy, dx); return; }
        CpuTraining.siluBackward(x, dy, dx);
    }

    /** Same as Reference softplusBackward; differs in float lanes. */
    @Override public void softplusBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.softplusBackward(x, dy, dx); return; }
        CpuTraining.softplusBackward(x, dy, dx);
    }

    /** Same as Reference mulSiluBackward; differs in float lanes. */
    @Override public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        if (!VECTOR) { REF.mulSiluBackward(y, z, dOut, dy, dz); return; }
        CpuTraining.mulSiluBackward(y, z, dOut, dy, dz);
    }

    /**
     * Same as Reference causalConv1dBackward; differs in lanes over channels, threads over channel blocks (each owns
     * its dw/dbias), a masked last block, float sums.
     */
    @Override public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        if (!VECTOR) { REF.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias); return; }
        CpuTraining.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias);
    }

    /**
     * Same as Reference selectiveScanForward; differs as {@link #selectiveScan} does (lanes over channels, threads over
     * (batch, channel block)), with the last channel block masked instead of a scalar tail.
     */
    @Override public void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates) {
        if (!VECTOR) { REF.selectiveScanForward(args, chunk, chunkStates); return; }
        CpuTraining.scanForward(args, chunk, chunkStates);
    }

    /**
     * Same as Reference selectiveScanBackward; differs in lanes over channels, threads over channel blocks (each
     * walks every batch row, so per-channel parameter gradients never race), dB/dC reduced across lanes per step
     * into per-thread partials, float sums.
     */
    @Override public void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads grads) {
        if (!VECTOR) { REF.selectiveScanBackward(args, chunk, chunkStates, dOut, grads); return; }
        CpuTraining.scanBackward(args, chunk, chunkStates, dOut, grads);
    }

    /** Same as Reference crossEntropy; differs in float lanes for max, Σ exp and the softmax (threads over rows). */
    @Override public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss) {
        if (!VECTOR) { REF.crossEntropy(logits, targets, scale, dLogits, loss); return; }
        Formulas.store(loss, 0, CpuTraining.crossEntropy(logits, targets.toIntArray(), scale, dLogits));
    }

    /** Same as Reference sumSquares; differs in float lanes within blocks of 4096, blocks summed in double. */
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        if (!VECTOR) { REF.sumSquares(x, out, accumulate); return; }
        Formulas.store(out, 0, (accumulate ? out.getDouble(0) : 0) + CpuTraining.sumSquares(x));
    }

    /** Same as Reference scale; differs in float lanes. */
    @Override public void scale(Tensor x, float s) {
        if (!VECTOR) { REF.scale(x, s); return; }
        CpuTraining.scale(x, s);
    }

    /** Same as Reference adamW; differs in float arithmetic in PyTorch's order (lr/bc1 step size, sqrt(v)/sqrt(bc2) + eps). */
    @Override public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        if (!VECTOR) { REF.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step); return; }
        CpuTraining.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    // ---------------------------------------------------------------- Mamba-2 / SSD (kernels in CpuSsd)

    /**
     * Same as Reference ssd; differs in being the chunked SSD algorithm (mamba_ssm ssd_minimal_discrete: the
     * intra-chunk masked L ∘ C Bᵀ form, chunk states, the inter-chunk pass, state-to-output) in float lanes over P,
     * threads over (batch, head); L = 1 is a direct recurrence step in lanes over N. Equal to the recurrence up to
     * float rounding for any chunk.
     */
    @Override public void ssd(Ssd args, int chunk) {
        if (!VECTOR) { REF.ssd(args, chunk); return; }
        CpuSsd.forward(args, chunk, null);
    }

    /** Same as Reference ssdForward; differs as {@link #ssd} does, the chunk being both the algorithm's and the saved states'. */
    @Override public void ssdForward(Ssd args, int chunk, Tensor chunkStates) {
        if (!VECTOR) { REF.ssdForward(args, chunk, chunkStates); return; }
        CpuSsd.forward(args, chunk, chunkStates);
    }

    /**
     * Same as Reference ssdBackward (recompute each chunk's states, walk it in reverse); differs in float lanes over N,
     * threads over (batch, head), dB/dC/dD summed through per-thread partials.
     */
    @Override public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads) {
        if (!VECTOR) { REF.ssdBackward(args, chunk, chunkStates, dOut, grads); return; }
        CpuSsd.backward(args, chunk, chunkStates, dOut, grads);
    }

    /** Same as Reference softplusClamp; differs in float lanes over H, threads over rows. */
    @Override public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        if (!VECTOR) { REF.softplusClamp(x, bias, lo, hi, out); return; }
        CpuSsd.softplusClamp(x, bias, lo, hi, out);
    }

    /** Same as Reference softplusClampBackward; differs in float lanes, dBias through per-thread partials. */
    @Override public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        if (!VECTOR) { REF.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias); return; }
        CpuSsd.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias);
    }

    /** Same as Reference mulColumns; differs in float lanes over H, threads over rows. */
    @Override public void mulColumns(Tensor x, Tensor a, Tensor out) {
        if (!VECTOR) { REF.mulColumns(x, a, out); return; }
        CpuSsd.mulColumns(x, a, out);
    }

    /** Same as Reference mulColumnsBackward; differs in float lanes, da through per-thread partials. */
    @Override public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        if (!VECTOR) { REF.mulColumnsBackward(x, a, dy, dx, da); return; }
        CpuSsd.mulColumnsBackward(x, a, dy, dx, da);
    }

    // ------------------------------------------------------------------ Transformer teachers (kernels in CpuAttention)

    /** Same as Reference layerNorm; differs in float32 lanes and threads over rows. */
    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        if (!VECTOR) { REF.layerNorm(x, w, b, eps, out); return; }
        CpuAttention.layerNorm(x, w, b, eps, out);
    }

    /** Same as Reference layerNormBackward; differs in float32 and threads (dx by rows, dw/db by columns). */
    @Override public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        if (!VECTOR) { REF.layerNormBackward(x, w, eps, dy, dx, dw, db); return; }
        CpuAttention.layerNormBackward(x, w, eps, dy, dx, dw, db);
    }

    /** Same as Reference geluTanh; differs in float32 lanes (the Vector API's tanh). */
    @Override public void geluTanh(Tensor x, Tensor out) {
        if (!VECTOR) { REF.geluTanh(x, out); return; }
        CpuAttention.geluTanh(x, out);
    }

    @Override public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        if (!VECTOR) { REF.geluTanhBackward(x, dy, dx); return; }
        CpuAttention.geluTanhBackward(x, dy, dx);
    }

    /** Same as Reference rotary; differs in float32 and threads over (b, t). */
    @Override public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        if (!VECTOR) { REF.rotary(x, cos, sin, rotaryDim, pos0, out); return; }
        CpuAttention.rotary(x, cos, sin, rotaryDim, pos0, out, 1);
    }

    @Override public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) {
        if (!VECTOR) { REF.rotaryBackward(dy, cos, sin, rotaryDim, pos0, dx); return; }
        CpuAttention.rotary(dy, cos, sin, rotaryDim, pos0, dx, -1);
    }

    /** Same as Reference attention; differs in being tiled with an online softmax (never the (T, T) matrix), float32 lanes over Dh. */
    @Override public void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        if (!VECTOR) { REF.attention(q, k, v, scale, out, lse, probs); return; }
        CpuAttention.attention(q, k, v, scale, out, lse, probs);
    }

    /** Same as Reference attentionBackward; differs in recomputing scores in two race-free passes (dq by queries, dk/dv by keys). */
    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        if (!VECTOR) { REF.attentionBackward(q, k, v, scale, out, lse, dOut, dq, dk, dv); return; }
        if (lse == null) throw new IllegalArgumentException("attentionBackward: lse is required");
        CpuAttention.attentionBackward(q, k, v, scale, out, lse, dOut, dq, dk, dv);
    }

    /** Same as Reference attentionDecode; differs in float32 lanes over Dh and threads over (b, h). */
    @Override public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        if (!VECTOR) { REF.attentionDecode(q, kCache, vCache, len, scale, out); return; }
        CpuAttention.attentionDecode(q, kCache, vCache, len, scale, out);
    }
}
