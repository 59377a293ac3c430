package mamba4j.core;

import java.util.Map;
import java.util.TreeMap;

/**
 * Wraps a backend and accumulates wall time and bytes of weights touched per op, for `bench --profile`.
 * Linear ops are keyed by weight shape so the table shows where a decode step's time goes.
 */
public final class ProfilingKernels implements Kernels {
    private final Kernels inner;
    private final Map<String, long[]> stats = new TreeMap<>();   // key → {nanos, calls, bytes}

    public ProfilingKernels(Kernels inner) { this.inner = inner; }

    /** The front over profiled kernels: {@code new Backend(new ProfilingKernels(b.kernels()))}. */
    public static Backend wrap(Backend b) { return new Backend(new ProfilingKernels(b.kernels())); }

    private void add(String key, long t0, long bytes) {
        long[] s = stats.computeIfAbsent(key, k -> new long[3]);
        s[0] += System.nanoTime() - t0;
        s[1]++;
        s[2] += bytes;
    }

    public void reset() { stats.clear(); }

    /** One line per op: total ms, share, calls, GB/s over the weight bytes it read. */
    public String report() {
        long total = 0;
        for (long[] s : stats.values()) total += s[0];
        StringBuilder sb = new StringBuilder(String.format("%-34s %9s %6s %8s %8s%n", "op", "ms", "share", "calls", "GB/s"));
        for (var e : stats.entrySet()) {
            long[] s = e.getValue();
            sb.append(String.format("%-34s %9.2f %5.1f%% %8d %8.1f%n", e.getKey(), s[0] / 1e6, 100.0 * s[0] / total, s[1],
                    s[2] == 0 ? 0 : s[2] / (double) s[0]));
        }
        return sb.toString();
    }

    @Override public String name() { return inner.name(); }
    @Override public String description() { return inner.description() + ", profiled"; }
    @Override public Device device() { return inner.device(); }
    @Override public int threads() { return inner.threads(); }
    @Override public double memoryBandwidthGBs() { return inner.memoryBandwidthGBs(); }
    @Override public java.util.Set<DType> activationTypes() { return inner.activationTypes(); }

    @Override public java.util.Set<DType> weightTypes() { return inner.weightTypes(); }
    @Override public Tensor allocate(DType dtype, Shape shape) { return inner.allocate(dtype, shape); }
    @Override public Tensor upload(Tensor host) { return inner.upload(host); }
    @Override public Tensor download(Tensor t) { return inner.download(t); }
    @Override public void write(Tensor host, Tensor dst) { inner.write(host, dst); }
    @Override public void copy(Tensor src, Tensor dst, CopyRegion r) {
        long t0 = System.nanoTime(); inner.copy(src, dst, r); add("copy", t0, 0);
    }
    @Override public void fill(Tensor t, float v) { inner.fill(t, v); }
    @Override public double item(Tensor t, long i) { return inner.item(t, i); }
    @Override public void sync() { inner.sync(); }
    @Override public void addRow(Tensor x, Tensor row, Tensor out) {
        long t0 = System.nanoTime(); inner.addRow(x, row, out); add("addRow", t0, 0);
    }
    @Override public void mul(Tensor a, Tensor b, Tensor out) {
        long t0 = System.nanoTime(); inner.mul(a, b, out); add("mul", t0, 0);
    }
    @Override public void negExp(Tensor x, Tensor out) {
        long t0 = System.nanoTime(); inner.negExp(x, out); add("negExp", t0, 0);
    }

    @Override public void embedding(Tensor weight, Tensor ids, Tensor out) {
        long t0 = System.nanoTime(); inner.embedding(weight, ids, out); add("embedding", t0, 0);
    }

    @Override public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        long t0 = System.nanoTime(); inner.linear(x, w, bias, out); add("linear " + w.shape() + " " + w.dtype(), t0, w.byteSize());
    }

    @Override public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        long t0 = System.nanoTime(); inner.rmsNorm(x, w, eps, out); add("rmsNorm", t0, 0);
    }

    @Override public void add(Tensor a, Tensor b, Tensor out) {
        long t0 = System.nanoTime(); inner.add(a, b, out); add("add", t0, 0);
    }

    @Override public void silu(Tensor x, Tensor out) {
        long t0 = System.nanoTime(); inner.silu(x, out); add("silu", t0, 0);
    }

    @Override public void softplus(Tensor x, Tensor out) {
        long t0 = System.nanoTime(); inner.softplus(x, out); add("softplus", t0, 0);
    }

    @Override public void mulSilu(Tensor y, Tensor z, Tensor out) {
        long t0 = System.nanoTime(); inner.mulSilu(y, z, out); add("mulSilu", t0, 0);
    }

    @Override public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        long t0 = System.nanoTime(); inner.causalConv1d(x, w, bias, silu, out); add("causalConv1d", t0, 0);
    }

    @Override public void linearParts(Tensor x, Tensor w, Tensor bias, Tensor full, Tensor... parts) {
        long t0 = System.nanoTime(); inner.linearParts(x, w, bias, full, parts); add("linearParts " + w.shape(), t0, w.byteSize());
    }

    @Override public void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        long t0 = System.nanoTime(); inner.causalConv1dContinue(state, x, w, bias, silu, out); add("causalConv1dContinue", t0, 0);
    }

    @Override public void causalConv1dStepParts(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor whole, Tensor... parts) {
        long t0 = System.nanoTime(); inner.causalConv1dStepParts(state, x, w, bias, silu, whole, parts); add("causalConv1dStepParts", t0, 0);
    }

    @Override public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        long t0 = System.nanoTime(); inner.causalConv1dStep(state, x, w, bias, silu, out); add("causalConv1dStep", t0, 0);
    }

    @Override public void selectiveScan(SelectiveScan args) {
        long t0 = System.nanoTime(); inner.selectiveScan(args); add("selectiveScan L=" + args.length(), t0, 0);
    }

    // ------------------------------------------------------------------ training ops

    @Override public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        long t0 = System.nanoTime(); inner.matmul(a, transA, b, transB, out, accumulate);
        add("matmul " + a.shape() + (transA ? "ᵀ" : "") + "·" + b.shape() + (transB ? "ᵀ" : ""), t0, 0);
    }

    @Override public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) {
        long t0 = System.nanoTime(); inner.embeddingBackward(ids, dOut, dWeight); add("embeddingBackward", t0, 0);
    }

    @Override public void sumRows(Tensor x, Tensor out, boolean accumulate) {
        long t0 = System.nanoTime(); inner.sumRows(x, out, accumulate); add("sumRows", t0, 0);
    }

    @Override public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) {
        long t0 = System.nanoTime(); inner.rmsNormBackward(x, w, eps, dy, dx, dw); add("rmsNormBackward", t0, 0);
    }

    @Override public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        long t0 = System.nanoTime(); inner.siluBackward(x, dy, dx); add("siluBackward", t0, 0);
    }

    @Override public void softplusBackward(Tensor x, Tensor dy, Tensor dx) {
        long t0 = System.nanoTime(); inner.softplusBackward(x, dy, dx); add("softplusBackward", t0, 0);
    }

    @Override public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) {
        long t0 = System.nanoTime(); inner.mulSiluBackward(y, z, dOut, dy, dz); add("mulSiluBackward", t0, 0);
    }

    @Override public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) {
        long t0 = System.nanoTime(); inner.causalConv1dBackward(x, w, bias, silu, dOut, dx, dw, dbias); add("causalConv1dBackward", t0, 0);
    }

    @Override public void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates) {
        long t0 = System.nanoTime(); inner.selectiveScanForward(args, chunk, chunkStates); add("selectiveScanForward L=" + args.length(), t0, 0);
    }

    @Override public void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads grads) {
        long t0 = System.nanoTime(); inner.selectiveScanBackward(args, chunk, chunkStates, dOut, grads); add("selectiveScanBackward L=" + args.length(), t0, 0);
    }

    @Override public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss) {
        long t0 = System.nanoTime(); inner.crossEntropy(logits, targets, scale, dLogits, loss); add("crossEntropy", t0, 0);
    }

    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) {
        long t0 = System.nanoTime(); inner.sumSquares(x, out, accumulate); add("sumSquares", t0, 0);
    }

    @Override public void scale(Tensor x, float s) {
        long t0 = System.nanoTime(); inner.scale(x, s); add("scale", t0, 0);
    }

    @Override public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        long t0 = System.nanoTime(); inner.adamW(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step); add("adamW", t0, 0);
    }

    // ------------------------------------------------------------------ Mamba-2 / SSD

    @Override public void ssd(Ssd args, int chunk) {
        long t0 = System.nanoTime(); inner.ssd(args, chunk); add("ssd L=" + args.length(), t0, 0);
    }

    @Override public void ssd(Ssd args, int chunk, boolean halfOperands) {
        long t0 = System.nanoTime(); inner.ssd(args, chunk, halfOperands); add("ssd L=" + args.length(), t0, 0);
    }

    @Override public void ssdForward(Ssd args, int chunk, Tensor chunkStates) {
        long t0 = System.nanoTime(); inner.ssdForward(args, chunk, chunkStates); add("ssdForward L=" + args.length(), t0, 0);
    }

    @Override public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads) {
        long t0 = System.nanoTime(); inner.ssdBackward(args, chunk, chunkStates, dOut, grads); add("ssdBackward L=" + args.length(), t0, 0);
    }

    @Override public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        long t0 = System.nanoTime(); inner.softplusClamp(x, bias, lo, hi, out); add("softplusClamp", t0, 0);
    }

    @Override public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) {
        long t0 = System.nanoTime(); inner.softplusClampBackward(x, bias, lo, hi, dy, dx, dBias); add("softplusClampBackward", t0, 0);
    }

    @Override public void mulColumns(Tensor x, Tensor a, Tensor out) {
        long t0 = System.nanoTime(); inner.mulColumns(x, a, out); add("mulColumns", t0, 0);
    }

    @Override public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) {
        long t0 = System.nanoTime(); inner.mulColumnsBackward(x, a, dy, dx, da); add("mulColumnsBackward", t0, 0);
    }

    // ------------------------------------------------------------------ Transformer teachers

    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        long t0 = System.nanoTime(); inner.layerNorm(x, w, b, eps, out); add("layerNorm", t0, 0);
    }

    @Override public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) {
        long t0 = System.nanoTime(); inner.layerNormBackward(x, w, eps, dy, dx, dw, db); add("layerNormBackward", t0, 0);
    }

    @Override public void geluTanh(Tensor x, Tensor out) {
        long t0 = System.nanoTime(); inner.geluTanh(x, out); add("geluTanh", t0, 0);
    }

    @Override public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) {
        long t0 = System.nanoTime(); inner.geluTanhBackward(x, dy, dx); add("geluTanhBackward", t0, 0);
    }

    @Override public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        long t0 = System.nanoTime(); inner.rotary(x, cos, sin, rotaryDim, pos0, out); add("rotary", t0, 0);
    }

    @Override public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) {
        long t0 = System.nanoTime(); inner.rotaryBackward(dy, cos, sin, rotaryDim, pos0, dx); add("rotaryBackward", t0, 0);
    }

    @Override public void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        long t0 = System.nanoTime(); inner.attention(q, k, v, scale, out, lse, probs);
        add("attention T=" + q.dim(1) + (probs != null ? " +probs" : ""), t0, 0);
    }

    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        long t0 = System.nanoTime(); inner.attentionBackward(q, k, v, scale, out, lse, dOut, dq, dk, dv); add("attentionBackward T=" + q.dim(1), t0, 0);
    }

    @Override public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        long t0 = System.nanoTime(); inner.attentionDecode(q, kCache, vCache, len, scale, out);
        add("attentionDecode", t0, 2L * len * kCache.dim(0) * kCache.dim(2) * kCache.dim(3) * kCache.dtype().byteSize());
    }
}
