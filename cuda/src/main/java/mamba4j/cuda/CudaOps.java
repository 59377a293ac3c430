package mamba4j.cuda;

import mamba4j.core.UserInputException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The core kernels on raw device pointers ({@code long}, 0 for an absent optional operand) and sizes: the layer a
 * {@code CudaBackend} will sit on. Each method is "same as {@code ReferenceKernels}' op of that name" (MATH.md
 * semantics, F32 activations, weights F32/BF16/F16 as the {@code wDtype} code of {@link KernelParams}); arguments
 * are checked here, once, before the launch. Every launch is queued on the device's stream.
 */
public final class CudaOps {
    static final int ELT_BLOCK = 256;
    static final int SCAN_WARPS = 8;         // channels per block of selective_scan_fwd (scan.cu SCAN_WARPS; block 32 × 8)
    static final int CONV_BLOCK = 128, CONV_TILE = 64;
    public static final int MAX_CONV_WIDTH = 8, MAX_SCAN_STATE = 64;

    /** Where the ops' launches go: the device, or a recorder in the CI tests (which have no GPU). */
    interface Launcher {
        void launch(String file, String kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, KernelParams.Block params);

        default void launch(String file, String kernel, int gx, int gy, int gz, int bx, int by, int bz, KernelParams.Block params) {
            launch(file, kernel, gx, gy, gz, bx, by, bz, 0, params);
        }
    }

    private final CudaDevice dev;
    private final Launcher launcher;
    private final int tensorCoreShared, smCount;
    /** MAMBA4J_CUDA_SSD_BF16 (see {@link CudaDevice#ssdBf16}): 1 always, 0 never (the default for now), -1 for half-precision models. */
    int ssdBf16 = CudaDevice.ssdBf16(System::getenv);
    /**
     * When {@link #ssdChunked} takes the fused tensor-core kernel: -1 where it fits and pays (its blocks fill half the
     * multiprocessors or more, see {@link #ssdFusedApplies}), 0 never, 1 wherever it fits. MAMBA4J_CUDA_SSD_FUSED=0 / 1
     * set the latter two (to compare).
     */
    int ssdFused = switch (String.valueOf(System.getenv("MAMBA4J_CUDA_SSD_FUSED"))) {
        case "0" -> 0;
        case "1" -> 1;
        default -> -1;
    };
    /**
     * The chunk length Q of {@link #ssdChunked}'s five-kernel path: 64, 128 or 256 steps (MAMBA4J_CUDA_SSD_CHUNK, to
     * compare), or 0: by length ({@link #ssdChunkFor}; the fused kernel always takes 64). A longer chunk writes fewer
     * chunk states (B·chunks·H·N·P floats, the five kernels' memory traffic) and spends more on each chunk's causal
     * product.
     */
    int ssdChunk = ssdChunkFromEnv(System.getenv("MAMBA4J_CUDA_SSD_CHUNK"));
    /**
     * Whether the five-kernel path computes the chunk states and passes them in one kernel (ssd_state_walk: a block per
     * state tile walks the chunks, the running state in registers, each chunk state written once) instead of two
     * (ssd_chunk_state then ssd_state_pass). MAMBA4J_CUDA_SSD_WALK=1 / 0.
     */
    boolean ssdWalk = "1".equals(System.getenv("MAMBA4J_CUDA_SSD_WALK"));
    private final MemorySegment gemmScalars;   // {alpha, beta} as f32
    private final MemorySegment scratch;       // the parameter struct of the launch being prepared (cuLaunchKernel copies it)

    public CudaOps(CudaDevice dev) {
        this(dev, dev.arena(), (file, kernel, gx, gy, gz, bx, by, bz, shared, p) ->
                dev.launch(dev.module(file).function(kernel), gx, gy, gz, bx, by, bz, shared, p), dev.ccMajor >= 8 ? dev.maxSharedPerBlock : 0,
                dev.smCount);
    }

    /**
     * {@code tensorCoreShared}: the shared bytes a tensor-core kernel's block may use; 0 where there are none (below
     * sm_80). {@code smCount}: the device's multiprocessors (the fused SSD's occupancy rule).
     */
    CudaOps(CudaDevice dev, Arena arena, Launcher launcher, int tensorCoreShared, int smCount) {
        this.dev = dev;
        this.launcher = launcher;
        this.tensorCoreShared = tensorCoreShared;
        this.smCount = smCount;
        this.gemmScalars = arena.allocate(8, 8);
        this.scratch = arena.allocate(1024, 16);
    }

    public CudaDevice device() { return dev; }

    /** A parameter struct in the reused scratch segment, zeroed (one launch is prepared at a time). */
    private KernelParams.Block params(java.lang.foreign.StructLayout layout) {
        scratch.fill((byte) 0);
        return new KernelParams.Block(layout, java.lang.foreign.SegmentAllocator.prefixAllocator(scratch));
    }

    private static int blocks(long n, int per) {
        return (int) Math.min((n + per - 1) / per, Integer.MAX_VALUE);
    }

    private static void positive(String op, long... dims) {
        for (long d : dims) if (d <= 0) throw new IllegalArgumentException(op + ": sizes must be positive, got " + java.util.Arrays.toString(dims));
    }

    private static void dtype(String op, int wDtype) {
        if (wDtype < 0 || wDtype > 2) throw new IllegalArgumentException(op + ": weight dtype code " + wDtype + " (0 f32, 1 bf16, 2 f16)");
    }

    /** One to three output parts, left to right, whose widths add up to the {@code dim} they split ({@code total}). */
    private static void parts(String op, long[] outs, int[] widths, String dim, int total) {
        if (outs.length < 1 || outs.length > 3 || widths.length != outs.length || java.util.Arrays.stream(widths).sum() != total)
            throw new IllegalArgumentException(op + ": " + outs.length + " parts of widths " + java.util.Arrays.toString(widths) + " for " + dim + " = " + total);
    }

    private static void required(String op, String what, long ptr) {
        if (ptr == 0) throw new IllegalArgumentException(op + ": " + what + " is required");
    }

    /** r = x + residual (x alone when residual is 0); residualOut = r when not 0; out = r / sqrt(mean(r²) + eps) · w. x, residual, residualOut, out (rows, dim); w (dim). */
    public void rmsNorm(long x, long residual, long residualOut, long w, int wDtype, long out, int rows, int dim, float eps) {
        rmsNorm(x, residual, residualOut, w, wDtype, out, rows, dim, eps, 0);
    }

    /** As above, with r = x · silu(gate) when gate is not 0 (then without a residual). */
    public void rmsNorm(long x, long residual, long residualOut, long w, int wDtype, long out, int rows, int dim, float eps, long gate) {
        positive("rmsNorm", rows, dim);
        if (gate != 0 && (residual != 0 || residualOut != 0)) throw new IllegalArgumentException("rmsNorm: a gate and a residual together");
        dtype("rmsNorm", wDtype);
        required("rmsNorm", "x", x);
        required("rmsNorm", "w", w);
        required("rmsNorm", "out", out);
        var p = params(KernelParams.RMSNORM).set("x", x).set("residual", residual).set("residual_out", residualOut).set("w", w)
                .set("out", out).set("gate", gate).set("rows", rows).set("dim", dim).set("eps", eps).set("w_dtype", wDtype);
        int threads = Math.min(1024, Math.max(32, (dim / 4 + 31) / 32 * 32));
        launcher.launch("rmsnorm.cu", "rmsnorm", rows, 1, 1, threads, 1, 1, p);
    }

    /** out[i, :] = weight[ids[i], :]; ids (n) I32 on the device, checked by the caller to lie in [0, V). weight (V, dim); out (n, dim). */
    public void embedding(long ids, long weight, int wDtype, long out, int n, int dim) {
        positive("embedding", n, dim);
        dtype("embedding", wDtype);
        var p = params(KernelParams.EMBEDDING).set("ids", ids).set("weight", weight).set("out", out).set("n", n).set("dim", dim).set("w_dtype", wDtype);
        launcher.launch("embedding.cu", "embedding", n, 1, 1, Math.min(256, Math.max(32, (dim + 31) / 32 * 32)), 1, 1, p);
    }

    /**
     * Causal depthwise conv over time: x (B, L, C) with batch/time strides xSb, xSt (elements; channels contiguous),
     * w (C, K), bias (C) or 0, out (B, L, C) contiguous, SiLU when asked; stateIn (B, C, K) or 0 holds the inputs
     * before t = 0 (zeros when 0); stateOut (B, C, K) or 0, which may be stateIn, receives the last K inputs.
     */
    public void causalConv1d(long x, long xSb, long xSt, long w, long bias, int wDtype, long out, long stateOut, long stateIn,
                             int batch, int length, int channels, int width, boolean silu) {
        causalConv1d(x, xSb, xSt, w, bias, wDtype, out, 0, 0, channels, channels, stateOut, stateIn, batch, length, channels, width, silu);
    }

    /**
     * {@link #causalConv1d} with its output in up to three tensors by channel: [0, split1) into out (B, L, split1),
     * [split1, split2) into out2, [split2, C) into out3 (0 where split1 = C, or split2 = C): Mamba-2's x | B | C
     * written apart, as the SSD reads them, with no copy of the whole output.
     */
    public void causalConv1d(long x, long xSb, long xSt, long w, long bias, int wDtype, long out, long out2, long out3, int split1, int split2,
                             long stateOut, long stateIn, int batch, int length, int channels, int width, boolean silu) {
        positive("causalConv1d", batch, length, channels, width);
        dtype("causalConv1d", wDtype);
        if (width > MAX_CONV_WIDTH) throw new IllegalArgumentException("causalConv1d: width " + width + " > " + MAX_CONV_WIDTH);
        if (split1 <= 0 || split1 > split2 || split2 > channels || split1 < channels && out2 == 0 && split2 > split1 || split2 < channels && out3 == 0)
            throw new IllegalArgumentException("causalConv1d: output parts at " + split1 + ", " + split2 + " of " + channels + " channels");
        var p = params(KernelParams.CONV1D).set("x", x).set("w", w).set("bias", bias).set("out", out).set("state_out", stateOut)
                .set("state_in", stateIn).set("out2", out2).set("out3", out3).set("x_sb", xSb).set("x_st", xSt).set("batch", batch)
                .set("length", length).set("channels", channels).set("width", width).set("silu", silu).set("w_dtype", wDtype)
                .set("split1", split1).set("split2", split2);
        launcher.launch("conv1d.cu", "causal_conv1d", (channels + CONV_BLOCK - 1) / CONV_BLOCK,
                (length + CONV_TILE - 1) / CONV_TILE, batch, CONV_BLOCK, 1, 1, p);
    }

    /** One conv step: state (B, C, K) shifted left and x (B, C) appended; out (B, C) = bias + Σ_k state·w, SiLU when asked. */
    public void causalConv1dStep(long state, long x, long w, long bias, int wDtype, long out, int batch, int channels, int width, boolean silu) {
        causalConv1dStepParts(state, x, w, bias, wDtype, new long[] {out}, new int[] {channels}, batch, channels, width, silu);
    }

    /**
     * {@link #causalConv1dStep} with the output split by channels into up to three parts, left to right: outs[i]
     * (B, widths[i]), Σ widths = C (Mamba-2's x | B | C at a batched decode step, with no copies after).
     */
    public void causalConv1dStepParts(long state, long x, long w, long bias, int wDtype, long[] outs, int[] widths, int batch, int channels,
                                      int width, boolean silu) {
        positive("causalConv1dStep", batch, channels, width);
        dtype("causalConv1dStep", wDtype);
        parts("causalConv1dStep", outs, widths, "C", channels);
        boolean parts = outs.length > 1;
        var p = params(KernelParams.CONV1D_STEP).set("state", state).set("x", x).set("w", w).set("bias", bias).set("out", outs[0])
                .set("batch", batch).set("channels", channels).set("width", width).set("silu", silu).set("w_dtype", wDtype)
                .set("out2", parts ? outs[1] : 0L).set("out3", outs.length > 2 ? outs[2] : 0L)
                .set("split1", parts ? widths[0] : channels).set("split2", parts ? widths[0] + widths[1] : channels);
        long n = (long) batch * channels;
        launcher.launch("conv1d.cu", "causal_conv1d_step", blocks(n, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /**
     * Operands of the fused selective scan ({@code mamba4j.core.SelectiveScan}'s, as device pointers). The (B, L, ·)
     * operands carry batch and time strides in elements (their last dimension contiguous), so views such as z =
     * xz[..., E:] or B, C = dbc[..., R:R+N], dbc[..., R+N:] need no copy. Optional pointers are 0.
     */
    public record Scan(long u, long uSb, long uSt, long delta, long deltaSb, long deltaSt, long deltaBias, boolean deltaSoftplus,
                       long a, long bm, long bSb, long bSt, long cm, long cSb, long cSt, long d, long z, long zSb, long zSt,
                       long stateIn, long stateOut, long out, long outSb, long outSt, int batch, int length, int channels, int dstate) {
        /** All operands contiguous: (B, L, E) tensors with strides (L·E, E), B and C with (L·N, N). */
        public static Scan contiguous(long u, long delta, long deltaBias, boolean deltaSoftplus, long a, long bm, long cm, long d, long z,
                                      long stateIn, long stateOut, long out, int batch, int length, int channels, int dstate) {
            long le = (long) length * channels, ln = (long) length * dstate;
            return new Scan(u, le, channels, delta, le, channels, deltaBias, deltaSoftplus, a, bm, ln, dstate, cm, ln, dstate, d,
                    z, le, channels, stateIn, stateOut, out, le, channels, batch, length, channels, dstate);
        }
    }

    /** The fused selective scan over the whole sequence; see {@link Scan} and scan.cu. N ≤ 64. */
    public void selectiveScan(Scan s) {
        scan(s, "scan.cu", "selective_scan_fwd", SCAN_WARPS);
    }

    /** The lab's earlier scan (scan_lab.cu v1, 4 channels per block): validated and timed by the self-test beside {@link #selectiveScan}. */
    void selectiveScanV1(Scan s) {
        scan(s, "scan_lab.cu", "selective_scan_fwd_v1", 4);
    }

    private void scan(Scan s, String file, String kernel, int warps) {
        positive("selectiveScan", s.batch(), s.length(), s.channels(), s.dstate());
        if (s.dstate() > MAX_SCAN_STATE) throw new IllegalArgumentException("selectiveScan: N = " + s.dstate() + " > " + MAX_SCAN_STATE);
        required("selectiveScan", "u", s.u());
        required("selectiveScan", "delta", s.delta());
        required("selectiveScan", "A", s.a());
        required("selectiveScan", "B", s.bm());
        required("selectiveScan", "C", s.cm());
        required("selectiveScan", "out", s.out());
        var p = params(KernelParams.SCAN).set("u", s.u()).set("delta", s.delta()).set("delta_bias", s.deltaBias()).set("A", s.a())
                .set("Bm", s.bm()).set("Cm", s.cm()).set("D", s.d()).set("z", s.z()).set("state_in", s.stateIn())
                .set("state_out", s.stateOut()).set("out", s.out())
                .set("u_sb", s.uSb()).set("u_st", s.uSt()).set("delta_sb", s.deltaSb()).set("delta_st", s.deltaSt())
                .set("b_sb", s.bSb()).set("b_st", s.bSt()).set("c_sb", s.cSb()).set("c_st", s.cSt())
                .set("z_sb", s.zSb()).set("z_st", s.zSt()).set("out_sb", s.outSb()).set("out_st", s.outSt())
                .set("batch", s.batch()).set("length", s.length()).set("channels", s.channels()).set("dstate", s.dstate())
                .set("delta_softplus", s.deltaSoftplus());
        launcher.launch(file, kernel, (s.channels() + warps - 1) / warps, s.batch(), 1, 32, warps, 1, p);
    }

    /**
     * One decode step of the scan: state (B, E, N) advanced in place; u, delta, z, out (B, E); B, C (B, N) with row
     * strides bSb, cSb; A (E, N); deltaBias, D (E) or 0.
     */
    public void selectiveScanStep(long state, long u, long delta, long deltaBias, boolean deltaSoftplus, long a, long bm, long bSb,
                                  long cm, long cSb, long d, long z, long out, int batch, int channels, int dstate) {
        selectiveScanStep(state, u, delta, deltaBias, deltaSoftplus, a, bm, bSb, cm, cSb, d, z, out, batch, channels, dstate, 0, 0, 0, 0, 0);
    }

    /**
     * The same with Δ computed in the step: delta (B, E) ← dtLow (B, R; row stride dtSb) · dtWᵀ (dtW (E, R) in
     * dtWDtype), Mamba-1's dt_proj; dtW = 0 reads delta as given.
     */
    public void selectiveScanStep(long state, long u, long delta, long deltaBias, boolean deltaSoftplus, long a, long bm, long bSb,
                                  long cm, long cSb, long d, long z, long out, int batch, int channels, int dstate,
                                  long dtW, int dtWDtype, long dtLow, long dtSb, int dtRank) {
        positive("selectiveScanStep", batch, channels, dstate);
        if (dtW != 0) positive("selectiveScanStep (dt_rank)", dtRank);
        var p = params(KernelParams.SCAN_STEP).set("state", state).set("u", u).set("delta", delta).set("delta_bias", deltaBias)
                .set("A", a).set("Bm", bm).set("Cm", cm).set("D", d).set("z", z).set("out", out).set("b_sb", bSb).set("c_sb", cSb)
                .set("batch", batch).set("channels", channels).set("dstate", dstate).set("delta_softplus", deltaSoftplus)
                .set("dt_w", dtW).set("dt_low", dtLow).set("dt_sb", dtSb).set("dt_rank", dtRank).set("dt_w_dtype", dtWDtype);
        long n = (long) batch * channels * scanStepGroup(dstate, (long) batch * channels);
        launcher.launch("scan.cu", "selective_scan_step", blocks(n, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    static final long SCAN_STEP_LANES_DEFAULT = 1L << 20;
    /**
     * Lanes in flight above which selective_scan_step's group shrinks (scan.cu SCAN_STEP_LANES): 2^20;
     * MAMBA4J_CUDA_SCAN_STEP_LANES (a power of two from 2^10 to 2^24) compiles another, to compare.
     */
    static final long SCAN_STEP_LANES = scanStepLanes(System.getenv("MAMBA4J_CUDA_SCAN_STEP_LANES"));

    static long scanStepLanes(String v) {
        if (v == null || v.isEmpty()) return SCAN_STEP_LANES_DEFAULT;
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException e) {
            n = 0;
        }
        if (n < 1 << 10 || n > 1 << 24 || Long.bitCount(n) != 1)
            throw new mamba4j.core.UserInputException("MAMBA4J_CUDA_SCAN_STEP_LANES=" + v + ": must be a power of two from 1024 to 16777216");
        return n;
    }

    /**
     * Lanes per channel of selective_scan_step (scan.cu scan_step_group, which the grid must match): N rounded up to a
     * power of two, at most 32, then halved while more than {@link #SCAN_STEP_LANES} lanes would run.
     */
    static int scanStepGroup(int dstate, long channels) {
        int gs = 1;
        while (gs < dstate && gs < 32) gs <<= 1;
        while (gs > 1 && channels * gs > SCAN_STEP_LANES) gs >>= 1;
        return gs;
    }

    /** Kernels that move 4 floats a thread when their pointers are 16-byte aligned: a grid for n / 4 threads. */
    private static final java.util.Set<String> VEC4 = java.util.Set.of("add", "mul_silu", "cast_f32", "mul_row", "copy_strided");

    private static int eltBlocks(String kernel, long n) { return blocks(VEC4.contains(kernel) ? (n + 3) / 4 : n, ELT_BLOCK); }

    private void eltwise(String kernel, long a, long b, long out, long n) {
        positive(kernel, n);
        var p = params(KernelParams.ELTWISE).set("a", a).set("b", b).set("out", out).set("n", n);
        launcher.launch("elementwise.cu", kernel, eltBlocks(kernel, n), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** out = a + b over n floats (out may alias a or b). */
    public void add(long a, long b, long out, long n) { eltwise("add", a, b, out, n); }

    /** out = x · sigmoid(x). */
    public void silu(long x, long out, long n) { eltwise("silu", x, 0, out, n); }

    /** out = y · silu(z), the Mamba output gate. */
    public void mulSilu(long y, long z, long out, long n) { eltwise("mul_silu", y, z, out, n); }

    /** out = x rounded to outDtype (round to nearest even), n elements: f32 activations into a bf16/f16 GEMM. */
    public void cast(long x, long out, int outDtype, long n) {
        positive("cast", n);
        dtype("cast", outDtype);
        var p = params(KernelParams.CAST).set("x", x).set("out", out).set("n", n).set("out_dtype", outDtype);
        launcher.launch("elementwise.cu", "cast_f32", eltBlocks("cast_f32", n), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** out[i] = lo + (hi − lo)·U_i with U_i in [0, 1) hashed from (seed, i): benchmark inputs made on the device. */
    public void fillUniform(long out, long n, int seed, float lo, float hi) {
        positive("fillUniform", n);
        var p = params(KernelParams.FILL).set("out", out).set("n", n).set("seed", seed).set("lo", lo).set("hi", hi);
        launcher.launch("elementwise.cu", "fill_uniform", blocks(n, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** out = a ⊙ b over n floats. */
    public void mul(long a, long b, long out, long n) { eltwise("mul", a, b, out, n); }

    /** out = −exp(x) (Mamba's A = −exp(A_log)). */
    public void negExp(long x, long out, long n) { eltwise("neg_exp", x, 0, out, n); }

    /** out = softplus(x), x past 20 taken as is. */
    public void softplus(long x, long out, long n) { eltwise("softplus", x, 0, out, n); }

    /** out = gelu_new(x), the tanh approximation. */
    public void geluTanh(long x, long out, long n) { eltwise("gelu_tanh", x, 0, out, n); }

    private void rows(String kernel, long x, long row, long out, long rows, int cols) {
        positive(kernel, rows, cols);
        var p = params(KernelParams.ROW).set("x", x).set("row", row).set("out", out).set("rows", rows).set("cols", cols);
        launcher.launch("ops.cu", kernel, eltBlocks(kernel, rows * cols), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** out[m, j] = x[m, j] + row[j] over (rows, cols). */
    public void addRow(long x, long row, long out, long rows, int cols) { rows("add_row", x, row, out, rows, cols); }

    /** out[m, j] = x[m, j] · row[j] over (rows, cols). */
    public void mulRow(long x, long row, long out, long rows, int cols) { rows("mul_row", x, row, out, rows, cols); }

    /** out = clamp(softplus(x + bias[column]), lo, hi) over (rows, cols); bias may be 0. */
    public void softplusClamp(long x, long bias, long out, long rows, int cols, float lo, float hi) {
        positive("softplusClamp", rows, cols);
        var p = params(KernelParams.CLAMP).set("x", x).set("bias", bias).set("out", out).set("rows", rows).set("cols", cols)
                .set("lo", lo).set("hi", hi);
        launcher.launch("ops.cu", "softplus_clamp", blocks(rows * cols, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** n elements of elemBytes (1, 2, 4, 8) at out set to the low bytes of bits. */
    public void fillBits(long out, long n, long bits, int elemBytes) {
        positive("fillBits", n);
        elemBytes("fillBits", elemBytes);
        var p = params(KernelParams.FILL_BITS).set("out", out).set("n", n).set("bits", bits).set("elem_bytes", elemBytes);
        launcher.launch("ops.cu", "fill_bits", blocks(n, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    private static void elemBytes(String op, int b) {
        if (b != 1 && b != 2 && b != 4 && b != 8) throw new IllegalArgumentException(op + ": element size " + b + " (1, 2, 4 or 8)");
    }

    /**
     * The strided copy of rank ≤ 4 (sizes and strides in elements, the leading ones padded with size 1):
     * dst[dstOffset + Σ i_j·ds_j] = src[srcOffset + Σ i_j·ss_j].
     */
    public void copyStrided(long src, long dst, long srcOffset, long dstOffset, long[] sizes, long[] ss, long[] ds, int elemBytes) {
        if (sizes.length > 4 || ss.length != sizes.length || ds.length != sizes.length)
            throw new IllegalArgumentException("copyStrided: rank " + sizes.length + " (at most 4, one stride per size)");
        elemBytes("copyStrided", elemBytes);
        long[] z = new long[4], a = new long[4], b = new long[4];
        java.util.Arrays.fill(z, 1);
        int pad = 4 - sizes.length;
        long count = 1;
        for (int j = 0; j < sizes.length; j++) {
            z[pad + j] = sizes[j];
            a[pad + j] = ss[j];
            b[pad + j] = ds[j];
            count *= sizes[j];
        }
        if (count == 0) return;
        var p = params(KernelParams.COPY).set("src", src).set("dst", dst).set("src_offset", srcOffset).set("dst_offset", dstOffset)
                .set("size0", z[0]).set("size1", z[1]).set("size2", z[2]).set("size3", z[3])
                .set("ss0", a[0]).set("ss1", a[1]).set("ss2", a[2]).set("ss3", a[3])
                .set("ds0", b[0]).set("ds1", b[1]).set("ds2", b[2]).set("ds3", b[3])
                .set("count", count).set("elem_bytes", elemBytes);
        launcher.launch("ops.cu", "copy_strided", eltBlocks("copy_strided", count), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** out = (x − mean) / sqrt(var + eps) · w + b per row of (rows, dim); b may be 0. */
    public void layerNorm(long x, long w, long b, long out, int rows, int dim, float eps) {
        positive("layerNorm", rows, dim);
        required("layerNorm", "w", w);
        var p = params(KernelParams.LAYERNORM).set("x", x).set("w", w).set("b", b).set("out", out).set("rows", rows).set("dim", dim)
                .set("eps", eps);
        int threads = Math.min(1024, Math.max(32, (dim / 4 + 31) / 32 * 32));
        launcher.launch("ops.cu", "layernorm", rows, 1, 1, threads, 1, 1, p);
    }

    /** Rotary embedding (rotate_half) on the first rotaryDim dims of each head of x (B, T, H, Dh); cos, sin (P, rotaryDim/2). */
    public void rotary(long x, long cos, long sin, long out, int batch, int tokens, int heads, int headDim, int rotaryDim, int pos0) {
        positive("rotary", batch, tokens, heads, headDim, rotaryDim);
        var p = params(KernelParams.ROTARY).set("x", x).set("cos", cos).set("sin", sin).set("out", out).set("batch", batch)
                .set("tokens", tokens).set("heads", heads).set("head_dim", headDim).set("rotary_dim", rotaryDim).set("pos0", pos0);
        long n = (long) batch * tokens * heads * (rotaryDim / 2 + headDim - rotaryDim);
        launcher.launch("ops.cu", "rotary", blocks(n, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p);
    }

    /** Rows of x the small-M linear takes at once (ops.cu GEMV_MAX_M). */
    public static final int GEMV_MAX_M = 8;
    static final int GEMV_WARPS = 8;

    /**
     * Warps per output column of linear_rows: doubled (up to the block's 8) while the columns alone give fewer than
     * 32 warps per SM and each warp still gets at least two 16-byte chunks per lane — x_proj's R + 2N columns would
     * otherwise leave most of the GPU idle.
     */
    static int gemvSplit(int n, int k, int wDtype, int smCount) {
        int perChunk = wDtype == KernelParams.DTYPE_F32 ? 4 : 8;
        long chunks = k / perChunk;
        int split = 1;
        while (split < GEMV_WARPS && (long) n * split < 32L * smCount && chunks >= 2L * 32 * split * 2) split *= 2;
        return split;
    }

    /** out (M, N) = x (M, K) · wᵀ + bias for M ≤ {@link #GEMV_MAX_M}: the decode path, weights read once in their stored dtype. */
    public void linearRows(long x, long w, int wDtype, long bias, long out, int m, int n, int k) {
        linearRowsParts(x, w, wDtype, bias, new long[] {out}, new int[] {n}, m, n, k);
    }

    /**
     * {@link #linearRows} whose output columns go to up to three parts, left to right: outs[i] (M, widths[i]), Σ widths
     * = N (in_proj into x | z, x_proj into Δ | B | C at a batched decode step, with no copies after). Each part's values
     * are those linearRows writes in its columns.
     */
    public void linearRowsParts(long x, long w, int wDtype, long bias, long[] outs, int[] widths, int m, int n, int k) {
        positive("linearRows", m, n, k);
        dtype("linearRows", wDtype);
        if (m > GEMV_MAX_M) throw new IllegalArgumentException("linearRows: M = " + m + " > " + GEMV_MAX_M);
        parts("linearRows", outs, widths, "N", n);
        for (int i = 0; i < outs.length; i++) required("linearRows", "part " + i, outs[i]);
        int sms = dev == null ? 132 : dev.smCount, split = gemvSplit(n, k, wDtype, sms);
        boolean cols = gemvCols(m, n, k, wDtype, sms);   // the same split as at M = 1: a row's sums do not depend on M
        int columnsPerBlock = GEMV_WARPS / split * (cols ? GEMV_COLS : 1);
        boolean parts = outs.length > 1;
        var p = params(KernelParams.GEMV).set("x", x).set("w", w).set("bias", bias).set("out", outs[0]).set("m", m).set("n", n).set("k", k)
                .set("w_dtype", wDtype).set("split", split).set("conv_state", 0L).set("conv_w", 0L).set("conv_bias", 0L).set("conv_out", 0L)
                .set("conv_from", 0).set("conv_channels", 0).set("conv_width", 0).set("conv_silu", false).set("conv_w_dtype", 0)
                .set("out1", parts ? outs[1] : 0L).set("out2", outs.length > 2 ? outs[2] : 0L)
                .set("n0", parts ? widths[0] : 0).set("n1", parts ? widths[1] : 0);
        launcher.launch("ops.cu", m == 1 ? "linear_rows_1" : cols ? "linear_rows_cols" : "linear_rows", (n + columnsPerBlock - 1) / columnsPerBlock,
                1, 1, 32 * GEMV_WARPS, 1, 1, p);
    }

    /** Output columns per warp of linear_rows_cols (ops.cu GEMV_COLS). */
    static final int GEMV_COLS = 4;
    /**
     * Batched decode (2 to {@link #GEMV_MAX_M} rows) through linear_rows_cols, each warp on {@link #GEMV_COLS} columns
     * (one read of x for four weight rows); MAMBA4J_CUDA_GEMV_COLS=0 runs linear_rows (a warp per column), to compare.
     */
    static final String GEMV_COLS_MODE = System.getenv().getOrDefault("MAMBA4J_CUDA_GEMV_COLS", "auto");

    /**
     * Whether an M-row GEMV runs linear_rows_cols: from 2 rows, where its blocks still fill every multiprocessor —
     * four columns a warp launch a quarter of the blocks, and a short N (x_proj's R + 2N, 160 at mamba-1.4b: 40
     * blocks on 132 multiprocessors, 22 µs a call at batch 8 in the profile) leaves most of the card idle; there
     * linear_rows, whose column sums are the same bit for bit. MAMBA4J_CUDA_GEMV_COLS=1 always, 0 never.
     */
    static boolean gemvCols(int m, int n, int k, int wDtype, int smCount) {
        if (m < 2 || "0".equals(GEMV_COLS_MODE)) return false;
        if ("1".equals(GEMV_COLS_MODE)) return true;
        int columnsPerBlock = GEMV_WARPS / gemvSplit(n, k, wDtype, smCount) * GEMV_COLS;
        return (n + columnsPerBlock - 1) / columnsPerBlock >= smCount;
    }

    /**
     * {@link #linearRows} of one row (out (1, N) = x · wᵀ + bias), then {@link #causalConv1dStep} of its columns
     * [convFrom, convFrom + channels) — one kernel (linear_rows_1_conv): the warp that computes such a column steps its
     * conv channel (state (1, C, K) in place, convOut (1, C)), in causal_conv1d_step's arithmetic.
     */
    public void linearRowsConvStep(long x, long w, int wDtype, long bias, long out, int n, int k, long convState, long convW, long convBias,
                                   int convWDtype, long convOut, int convFrom, int channels, int width, boolean silu) {
        positive("linearRowsConvStep", n, k, channels, width);
        dtype("linearRowsConvStep", wDtype);
        dtype("linearRowsConvStep", convWDtype);
        if (convFrom < 0 || (long) convFrom + channels > n)
            throw new IllegalArgumentException("linearRowsConvStep: conv columns [" + convFrom + ", " + ((long) convFrom + channels) + ") past N = " + n);
        required("linearRowsConvStep", "conv state", convState);
        required("linearRowsConvStep", "conv weight", convW);
        required("linearRowsConvStep", "conv out", convOut);
        int split = gemvSplit(n, k, wDtype, dev == null ? 132 : dev.smCount);
        int columnsPerBlock = GEMV_WARPS / split;
        var p = params(KernelParams.GEMV).set("x", x).set("w", w).set("bias", bias).set("out", out).set("m", 1).set("n", n).set("k", k)
                .set("w_dtype", wDtype).set("split", split).set("conv_state", convState).set("conv_w", convW).set("conv_bias", convBias)
                .set("conv_out", convOut).set("conv_from", convFrom).set("conv_channels", channels).set("conv_width", width)
                .set("conv_silu", silu).set("conv_w_dtype", convWDtype).set("out1", 0L).set("out2", 0L).set("n0", 0).set("n1", 0);
        launcher.launch("ops.cu", "linear_rows_1_conv", (n + columnsPerBlock - 1) / columnsPerBlock, 1, 1, 32 * GEMV_WARPS, 1, 1, p);
    }

    /**
     * Mean cross-entropy of logits (rows, vocab) against targets (−100 ignored) into loss (f32, or f64 when lossF64);
     * dLogits (or 0) = (softmax − onehot) / count · scale. rowLoss (rows doubles) and count (one int) are scratch.
     */
    public void crossEntropy(long logits, long targets, long dLogits, long loss, boolean lossF64, long rowLoss, long count,
                             int rows, int vocab, float scale) {
        positive("crossEntropy", rows, vocab);
        var layout = KernelParams.CROSS_ENTROPY;
        java.util.function.Supplier<KernelParams.Block> p = () -> params(layout).set("logits", logits).set("targets", targets)
                .set("dlogits", dLogits).set("loss", loss).set("row_loss", rowLoss).set("count", count).set("rows", rows)
                .set("vocab", vocab).set("scale", scale).set("loss_f64", lossF64);
        launcher.launch("ops.cu", "cross_entropy_count", 1, 1, 1, 1024, 1, 1, p.get());
        launcher.launch("ops.cu", "cross_entropy_rows", rows, 1, 1, 256, 1, 1, p.get());
        launcher.launch("ops.cu", "cross_entropy_mean", 1, 1, 1, 1024, 1, 1, p.get());
    }

    static final int ATT_WARPS = 4, ATT_MAX_DH = 256;

    /**
     * Causal attention (attention.cu): q, out (B, qLen, H, Dh); k, v (B, ·, Hkv, Dh) with batch stride kvSb elements;
     * query i sees keys 0 … i + kvLen − qLen. lse (B, H, qLen) and probs (B, H, qLen, kvLen) or 0.
     */
    public void attention(long q, long k, long v, long out, long lse, long probs, long kvSb, int batch, int qLen, int kvLen,
                          int heads, int kvHeads, int headDim, float scale) {
        positive("attention", batch, qLen, kvLen, heads, kvHeads, headDim);
        if (headDim > ATT_MAX_DH) throw new IllegalArgumentException("attention: head dim " + headDim + " > " + ATT_MAX_DH);
        if (heads % kvHeads != 0 || qLen > kvLen) throw new IllegalArgumentException("attention: H " + heads + ", Hkv " + kvHeads + ", q " + qLen + ", kv " + kvLen);
        var p = params(KernelParams.ATTENTION).set("q", q).set("k", k).set("v", v).set("out", out).set("lse", lse).set("probs", probs)
                .set("kv_sb", kvSb).set("batch", batch).set("q_len", qLen).set("kv_len", kvLen).set("heads", heads)
                .set("kv_heads", kvHeads).set("head_dim", headDim).set("scale", scale);
        long rows = (long) batch * heads * qLen;
        launcher.launch("attention.cu", "attention_rows", blocks(rows, ATT_WARPS), 1, 1, 32 * ATT_WARPS, 1, 1, p);
    }

    static final int SAMPLE_THREADS = 1024;

    /**
     * One id per row of logits (rows, width) over the first vocab columns (sample.cu): settings points at rows
     * doubles (the draws), then rows floats (temperatures), rows floats (top-p), rows ints (top-k); ids (rows ints).
     */
    public void sample(long logits, long settings, long ids, int rows, int width, int vocab) {
        positive("sample", rows, width, vocab);
        if (vocab > width) throw new IllegalArgumentException("sample: vocab " + vocab + " > width " + width);
        var p = params(KernelParams.SAMPLE).set("logits", logits).set("uniform", settings).set("temperature", settings + 8L * rows)
                .set("top_p", settings + 12L * rows).set("top_k", settings + 16L * rows).set("ids", ids).set("width", width).set("vocab", vocab);
        launcher.launch("sample.cu", "sample_rows", rows, 1, 1, SAMPLE_THREADS, 1, 1, p);
    }

    static final int SSD_WARPS = 4;
    public static final int MAX_SSD_STATE = 256;

    /** The SSD recurrence (ssd.cu): x, out (B, L, H, P); logA, scale (B, L, H) (scale may be 0); B, C (B, L, G, N); D (H) or 0; state (B, H, P, N) or 0. */
    public void ssd(long x, long logA, long scale, long bm, long cm, long d, long state, long out,
                    int batch, int length, int heads, int headDim, int groups, int dstate) {
        positive("ssd", batch, length, heads, headDim, groups, dstate);
        if (dstate > MAX_SSD_STATE) throw new IllegalArgumentException("ssd: N = " + dstate + " > " + MAX_SSD_STATE);
        var p = params(KernelParams.SSD).set("x", x).set("logA", logA).set("scale", scale).set("Bm", bm).set("Cm", cm).set("D", d)
                .set("state", state).set("out", out).set("dt_raw", 0L).set("dt_bias", 0L).set("a", 0L).set("dt_out", 0L).set("logA_out", 0L)
                .set("dt_lo", 0f).set("dt_hi", 0f).set("batch", batch).set("length", length).set("heads", heads)
                .set("head_dim", headDim).set("groups", groups).set("dstate", dstate);
        long rows = (long) batch * heads * headDim;
        if (ssdStepApplies(length, dstate, state, bm, cm)) {   // a decode step: ssd_step, 16-byte state accesses
            launcher.launch("ssd.cu", "ssd_step", blocks((rows + SSD_STEP_ROWS - 1) / SSD_STEP_ROWS, SSD_WARPS), 1, 1, 32 * SSD_WARPS, 1, 1, p);
            return;
        }
        launcher.launch("ssd.cu", "ssd_scan", blocks(rows, SSD_WARPS), 1, 1, 32 * SSD_WARPS, 1, 1, p);
    }

    /**
     * Mamba-2's decode step with its Δ (ssd_step, one kernel for three): dt = clamp(softplus(dtRaw + dtBias), lo, hi)
     * (B, H) and logA = dt·a are computed in the step and written to dtOut and logAOut, then the step as {@link #ssd}
     * with scale = dt. Only where {@link #ssdStepApplies} (one step, a state, 16-byte rows).
     */
    public void ssdStepWithDt(long x, long dtRaw, long dtBias, long a, float lo, float hi, long dtOut, long logAOut, long bm, long cm, long d,
                              long state, long out, int batch, int heads, int headDim, int groups, int dstate) {
        positive("ssdStepWithDt", batch, heads, headDim, groups, dstate);
        if (!ssdStepApplies(1, dstate, state, bm, cm))
            throw new IllegalArgumentException("ssdStepWithDt: N = " + dstate + " (a multiple of 4 up to 128), a state and 16-byte rows are required");
        required("ssdStepWithDt", "dt", dtRaw);
        required("ssdStepWithDt", "A", a);
        required("ssdStepWithDt", "dt out", dtOut);
        required("ssdStepWithDt", "logA out", logAOut);
        var p = params(KernelParams.SSD).set("x", x).set("logA", logAOut).set("scale", dtOut).set("Bm", bm).set("Cm", cm).set("D", d)
                .set("state", state).set("out", out).set("dt_raw", dtRaw).set("dt_bias", dtBias).set("a", a).set("dt_out", dtOut)
                .set("logA_out", logAOut).set("dt_lo", lo).set("dt_hi", hi).set("batch", batch).set("length", 1).set("heads", heads)
                .set("head_dim", headDim).set("groups", groups).set("dstate", dstate);
        long rows = (long) batch * heads * headDim;
        launcher.launch("ssd.cu", "ssd_step", blocks((rows + SSD_STEP_ROWS - 1) / SSD_STEP_ROWS, SSD_WARPS), 1, 1, 32 * SSD_WARPS, 1, 1, p);
    }

    /** ssd.cu's SSD_STEP_ROWS: state rows per warp of ssd_step. */
    static final int SSD_STEP_ROWS = 2;
    /**
     * The decode kernels of this version: Mamba-1's scan step with its Δ projection (CudaKernels.selectiveScanStep),
     * Mamba-2's ssd_step and, at batch 1, in_proj with the conv step (linear_rows_1_conv); MAMBA4J_CUDA_FUSE=0 runs
     * those of before (the separate dt_proj GEMV, ssd_scan, the conv step's own kernel), to compare.
     */
    static final boolean FUSED_DECODE = !"0".equals(System.getenv("MAMBA4J_CUDA_FUSE"));
    /** in_proj with the conv step at batch 1 (linear_rows_1_conv); MAMBA4J_CUDA_GEMV_CONV=0 runs the two kernels, to compare. */
    static final boolean GEMV_CONV = FUSED_DECODE && !"0".equals(System.getenv("MAMBA4J_CUDA_GEMV_CONV"));
    /** Mamba-2's dt computed in ssd_step; MAMBA4J_CUDA_SSD_DT=0 runs softplus_clamp and mul_row first, to compare. */
    static final boolean SSD_STEP_DT = FUSED_DECODE && !"0".equals(System.getenv("MAMBA4J_CUDA_SSD_DT"));
    /** Mamba-2's prompt conv writing x | B | C apart; MAMBA4J_CUDA_CONV_SPLIT=0 writes the whole output and copies, to compare. */
    static final boolean CONV_SPLIT = !"0".equals(System.getenv("MAMBA4J_CUDA_CONV_SPLIT"));

    /** Rows from which {@code linearParts} past the decode GEMV runs a GEMM per part; below, one whole product and copies ({@link #splitGemm}). */
    static final int SPLIT_GEMM_MIN_ROWS = 257;
    static final String SPLIT_GEMM_MODE = System.getenv().getOrDefault("MAMBA4J_CUDA_SPLIT_GEMM", "auto");

    /**
     * Whether {@code linearParts} of {@code rows} rows (past the decode GEMV) runs one GEMM per part rather than one
     * GEMM and a copy per part. Measured on an H100 (BENCHMARKS): per part, 16k-token prefill +5–6%; one whole GEMM,
     * batch-64 decode +9–10% (each GEMM launch costs more than copying 64 rows). So per part from
     * {@link #SPLIT_GEMM_MIN_ROWS} rows (a prompt; decode batches are at most 256); MAMBA4J_CUDA_SPLIT_GEMM=1 always, 0 never.
     */
    static boolean splitGemm(int rows) {
        if ("0".equals(SPLIT_GEMM_MODE)) return false;
        return "1".equals(SPLIT_GEMM_MODE) || rows >= SPLIT_GEMM_MIN_ROWS;
    }

    /** Whether a call of {@link #ssd} runs ssd_step: one step with a state, N a multiple of 4 up to 128, 16-byte aligned rows. */
    static boolean ssdStepApplies(int length, int dstate, long state, long bm, long cm) {
        return FUSED_DECODE && length == 1 && state != 0 && dstate % 4 == 0 && dstate <= 128 && ((state | bm | cm) & 15) == 0;
    }

    /**
     * ssd_chunked.cu's SSD_Q (the shortest chunk, the fused kernel's), SSD_MAX_Q (the longest), SSD_T (tile edge) and
     * SSD_THREADS (block size); a CI test reads them there.
     */
    static final int SSD_CHUNK = 64, SSD_MAX_CHUNK = 256, SSD_TILE = 64, SSD_CHUNK_THREADS = 256;
    /** MAMBA4J_CUDA_SSD_CHUNK's value as a chunk length: unset is 0 (by length); anything but 64, 128, 256 is refused. */
    static int ssdChunkFromEnv(String v) {
        if (v == null || v.isEmpty()) return 0;
        return switch (v) {
            case "64", "128", "256" -> Integer.parseInt(v);
            default -> throw new UserInputException("MAMBA4J_CUDA_SSD_CHUNK=" + v + ": the chunk length must be 64, 128 or 256");
        };
    }
    /**
     * Sequences at least this long take the chunked SSD ({@link #ssdChunked}); shorter ones and decode steps the
     * recurrence ({@link #ssd}), whose sequential steps cost less than five launches and the scratch round trips there.
     */
    public static final int SSD_CHUNKED_MIN_LENGTH = 2 * SSD_CHUNK;
    private static final int MAX_GRID_YZ = 65535;   // gridDim.y and gridDim.z limit: chunks ride on y

    /** Whether an SSD over {@code length} steps takes {@link #ssdChunked} (else {@link #ssd}). */
    public static boolean ssdUsesChunks(int length) {
        return length >= SSD_CHUNKED_MIN_LENGTH && ssdChunkCount(length) <= MAX_GRID_YZ;
    }

    private static int ssdChunkCount(int length) { return ssdChunkCount(length, SSD_CHUNK); }

    private static int ssdChunkCount(int length, int chunk) { return (length + chunk - 1) / chunk; }

    private static long align16(long bytes) { return (bytes + 15) & ~15L; }

    /** ssd_chunked.cu's SSDF_P (columns p per block), SSDF_THREADS and SSDF_MAX_N: the fused kernel's tiling. */
    static final int SSD_FUSED_P = 32, SSD_FUSED_THREADS = 256, SSD_FUSED_MAX_N = 128;

    /** ssd_chunk_fused's dynamic shared memory (the kernel's layout): C, B, x, S, M tiles and four per-step vectors. */
    static int ssdFusedSharedBytes(int dstate) {
        int n32 = (dstate + 31) / 32 * 32, n16 = (dstate + 15) / 16 * 16;
        return 4 * (SSD_CHUNK * (n32 + 4) + SSD_CHUNK * (n32 + 8) + SSD_CHUNK * 40 + n16 * 40 + SSD_CHUNK * 68 + 4 * SSD_CHUNK);
    }

    /**
     * Whether {@link #ssdChunked} runs the fused tensor-core kernel (ssd_chunk_fused: the state on chip, no chunk states
     * in memory). It fits where N ≤ 128 and a multiple of 8, P a multiple of 4, x, B and C are 16-byte aligned (float4
     * staging), on a device of sm_80 or later with the shared memory. It pays where its blocks (B·H·⌈P/32⌉, one per
     * multiprocessor, each walking every chunk in turn) fill at least half the multiprocessors: measured on an H100
     * (BENCHMARKS), mamba2-1.3b's 128 blocks beat the five kernels at 2k and 16k steps (0.37 vs 0.44 ms, 2.61 vs 2.80
     * ms), mamba2-130m's 48 lost (0.34 vs 0.21 ms, 2.51 vs 1.19 ms).
     */
    public boolean ssdFusedApplies(int batch, int heads, int headDim, int dstate, long x, long bm, long cm) {
        return ssdFusedApplies(batch, heads, headDim, dstate, x, bm, cm, false);
    }

    /** As above for a model whose weights are half precision or not ({@code halfOperands}, see {@link #ssdBf16Tiles}). */
    public boolean ssdFusedApplies(int batch, int heads, int headDim, int dstate, long x, long bm, long cm, boolean halfOperands) {
        boolean fits = dstate <= SSD_FUSED_MAX_N && dstate % 8 == 0 && headDim % 4 == 0 && ((x | bm | cm) & 15) == 0
                && ssdFusedSharedBytes(dstate) <= tensorCoreShared;
        long blocks = (long) batch * heads * ((headDim + SSD_FUSED_P - 1) / SSD_FUSED_P);
        return fits && (ssdFused == 1 || ssdFused == -1 && !ssdBf16Tiles(halfOperands) && 2 * blocks >= smCount);
    }

    /**
     * Whether the chunked SSD's five kernels multiply on bf16 tensor cores (ssd_chunked_bf16.cu), and are taken over the
     * fused kernel: on sm_80 or later, with MAMBA4J_CUDA_SSD_BF16=1 always, with =auto for a model with half-precision
     * weights ({@code halfOperands}: its linears already round their inputs to bf16 on the tensor cores), else never.
     */
    public boolean ssdBf16Tiles(boolean halfOperands) {
        return tensorCoreShared > 0 && (ssdBf16 == 1 || ssdBf16 == -1 && halfOperands);
    }

    /**
     * Device scratch bytes of {@link #ssdChunked} with chunks of {@code chunk} steps: acum (B, H, L), the chunk states
     * (B, chunks, H, N, P) and cb (B, chunks, G, Q, Q), f32, one after the other at 16-byte boundaries. The states are
     * the big part: N/Q times the size of x; the fused kernel ({@code fused}, Q = 64) needs none of them.
     */
    static long ssdChunkedScratchBytes(int batch, int length, int heads, int headDim, int groups, int dstate, int chunk, boolean fused) {
        long chunks = ssdChunkCount(length, chunk);
        return align16(4L * batch * heads * length) + (fused ? 0 : align16(4L * batch * chunks * heads * dstate * headDim))
                + align16(4L * batch * chunks * groups * chunk * chunk);
    }

    /** Device scratch bytes of {@link #ssdChunked} as this instance runs it (its chunk length; {@code fused} as {@link #ssdFusedApplies} says). */
    public long ssdChunkedScratchBytes(int batch, int length, int heads, int headDim, int groups, int dstate, boolean fused) {
        return ssdChunkedScratchBytes(batch, length, heads, headDim, groups, dstate, fused ? SSD_CHUNK : ssdChunkFor(length), fused);
    }

    /**
     * The five kernels' chunk length for a sequence of {@code length} steps: {@link #ssdChunk} when set, else 128 from
     * 8,192 steps and 64 below (on an H100, a Mamba-2 layer's SSD, B1 H64 P64 N128: Q 128 2.69 against Q 64 2.80 ms at
     * 16k steps, 0.44 against 0.43 at 2k; H24: 1.12 against 1.17, 0.23 against 0.21).
     */
    int ssdChunkFor(int length) {
        return ssdChunk > 0 ? ssdChunk : length >= 8192 ? 128 : SSD_CHUNK;
    }

    /** Scratch bytes enough for either path of {@link #ssdChunked} at any chunk length (the states' of 64, the cb's of 256). */
    public static long ssdChunkedScratchBytes(int batch, int length, int heads, int headDim, int groups, int dstate) {
        return ssdChunkedScratchBytes(batch, length, heads, headDim, groups, dstate, SSD_CHUNK, false)
                + align16(4L * batch * ssdChunkCount(length, SSD_MAX_CHUNK) * groups * SSD_MAX_CHUNK * SSD_MAX_CHUNK);
    }

    /**
     * The SSD by chunks of Q steps (ssd_chunked.cu; {@link #ssdChunk}, 64 for the fused kernel), same operands and result as {@link #ssd} up to float rounding,
     * for whole sequences. Where {@link #ssdFusedApplies}: three launches (cumulative log-decays, C·B within each
     * chunk, then one block per (b, h, 32 columns) walking the chunks with its state on chip, the products on tensor
     * cores); else five (the decays, each chunk's own state, the state passed from chunk to chunk, C·B, the outputs).
     * {@code scratch} is a device buffer of {@link #ssdChunkedScratchBytes} bytes (with {@code fused} as this call
     * takes it), used by this op alone until its kernels have run (stream order).
     */
    public void ssdChunked(long x, long logA, long scale, long bm, long cm, long d, long state, long out, long scratch,
                           int batch, int length, int heads, int headDim, int groups, int dstate) {
        ssdChunked(x, logA, scale, bm, cm, d, state, out, scratch, batch, length, heads, headDim, groups, dstate, false);
    }

    /** As above for a model whose weights are half precision or not ({@code halfOperands}, see {@link #ssdBf16Tiles}). */
    public void ssdChunked(long x, long logA, long scale, long bm, long cm, long d, long state, long out, long scratch,
                           int batch, int length, int heads, int headDim, int groups, int dstate, boolean halfOperands) {
        positive("ssdChunked", batch, length, heads, headDim, groups, dstate);
        if (dstate > MAX_SSD_STATE) throw new IllegalArgumentException("ssdChunked: N = " + dstate + " > " + MAX_SSD_STATE);
        if (heads % groups != 0) throw new IllegalArgumentException("ssdChunked: heads " + heads + " not divisible by groups " + groups);
        required("ssdChunked", "x", x);
        required("ssdChunked", "logA", logA);
        required("ssdChunked", "B", bm);
        required("ssdChunked", "C", cm);
        required("ssdChunked", "out", out);
        required("ssdChunked", "scratch", scratch);
        boolean fused = ssdFusedApplies(batch, heads, headDim, dstate, x, bm, cm, halfOperands);
        int q = fused ? SSD_CHUNK : ssdChunkFor(length), tq = q / SSD_TILE, chunks = ssdChunkCount(length, q);
        long bh = (long) batch * heads, bg = (long) batch * groups;
        int nTiles = (dstate + SSD_TILE - 1) / SSD_TILE, pTiles = (headDim + SSD_TILE - 1) / SSD_TILE;
        if (chunks > MAX_GRID_YZ || bh > Integer.MAX_VALUE || (long) nTiles * pTiles > MAX_GRID_YZ || (long) tq * pTiles > MAX_GRID_YZ)
            throw new IllegalArgumentException("ssdChunked: " + chunks + " chunks, B·H " + bh + ", P " + headDim + " past the grid limits");
        long acum = scratch, states = fused ? 0 : acum + align16(4L * batch * heads * length);
        long cb = acum + align16(4L * batch * heads * length) + (fused ? 0 : align16(4L * batch * chunks * heads * dstate * headDim));
        java.util.function.Supplier<KernelParams.Block> p = () -> params(KernelParams.SSD_CHUNKED).set("x", x).set("logA", logA)
                .set("scale", scale).set("Bm", bm).set("Cm", cm).set("D", d).set("state", state).set("out", out)
                .set("acum", acum).set("states", states).set("cb", cb).set("batch", batch).set("length", length).set("heads", heads)
                .set("head_dim", headDim).set("groups", groups).set("dstate", dstate).set("chunk", q);
        String f = !fused && ssdBf16Tiles(halfOperands) ? "ssd_chunked_bf16.cu" : "ssd_chunked.cu";
        launcher.launch(f, "ssd_chunk_cumsum", blocks(bh * chunks, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p.get());
        if (fused) {
            launcher.launch(f, "ssd_chunk_cb", (int) bg, chunks, 1, SSD_CHUNK_THREADS, 1, 1, p.get());
            launcher.launch(f, "ssd_chunk_fused", (int) bh, (headDim + SSD_FUSED_P - 1) / SSD_FUSED_P, 1, SSD_FUSED_THREADS, 1, 1,
                    ssdFusedSharedBytes(dstate), p.get());
            return;
        }
        if (ssdWalk) launcher.launch(f, "ssd_state_walk", (int) bh, nTiles * pTiles, 1, SSD_CHUNK_THREADS, 1, 1, p.get());
        else {
            launcher.launch(f, "ssd_chunk_state", (int) bh, chunks, nTiles * pTiles, SSD_CHUNK_THREADS, 1, 1, p.get());
            launcher.launch(f, "ssd_state_pass", blocks(bh * dstate * headDim, ELT_BLOCK), 1, 1, ELT_BLOCK, 1, 1, p.get());
        }
        launcher.launch(f, "ssd_chunk_cb", (int) bg, chunks, tq * tq, SSD_CHUNK_THREADS, 1, 1, p.get());
        launcher.launch(f, "ssd_chunk_scan", (int) bh, chunks, tq * pTiles, SSD_CHUNK_THREADS, 1, 1, p.get());
    }

    /**
     * out (M, N) f32 = op(a) · op(b) + beta·out, all f32 row-major, op(t) = tᵀ when its flag is set (a is (M, K) or
     * (K, M), b (K, N) or (N, K)). Column-major cuBLAS computes outᵀ = op(b)ᵀ · op(a)ᵀ: a row-major t is tᵀ to it.
     */
    public void matmul(long a, boolean transA, long b, boolean transB, long out, int m, int n, int k, float beta) {
        positive("matmul", m, n, k);
        gemmScalars.set(ValueLayout.JAVA_FLOAT, 0, 1f);
        gemmScalars.set(ValueLayout.JAVA_FLOAT, 4, beta);
        Runnable call = () -> dev.cuda.cublas.gemmEx(dev.cublas(), transB ? Cublas.OP_T : Cublas.OP_N, transA ? Cublas.OP_T : Cublas.OP_N, n, m, k,
                gemmScalars.asSlice(0, 4), b, Cublas.CUDA_R_32F, transB ? k : n, a, Cublas.CUDA_R_32F, transA ? m : k,
                gemmScalars.asSlice(4, 4), out, Cublas.CUDA_R_32F, n, Cublas.COMPUTE_32F);
        if (KernelProfile.ENABLED) dev.profiled("cublas matmul f32 " + m + "x" + n + "x" + k, call);
        else call.run();
    }

    /** The cudaDataType of a weight dtype code. */
    static int cudaType(int dtype) {
        return switch (dtype) {
            case KernelParams.DTYPE_F32 -> Cublas.CUDA_R_32F;
            case KernelParams.DTYPE_BF16 -> Cublas.CUDA_R_16BF;
            case KernelParams.DTYPE_F16 -> Cublas.CUDA_R_16F;
            default -> throw new IllegalArgumentException("dtype code " + dtype);
        };
    }

    /**
     * out (M, N) f32 = x (M, K) · wᵀ + beta·out, w (N, K) in PyTorch Linear layout, x and w both in {@code dtype}
     * (f32 activations go through {@link #cast} first for bf16/f16 weights), f32 accumulate (cublasGemmEx,
     * CUBLAS_COMPUTE_32F: no TF32). Row-major out = x·wᵀ is column-major outᵀ = w·xᵀ: cuBLAS gets A = w (op T, lda K),
     * B = x (op N, ldb K), m = N, n = M.
     */
    public void linear(long x, long w, int dtype, long out, int m, int n, int k, float beta) {
        positive("linear", m, n, k);
        int t = cudaType(dtype);
        gemmScalars.set(ValueLayout.JAVA_FLOAT, 0, 1f);
        gemmScalars.set(ValueLayout.JAVA_FLOAT, 4, beta);
        Runnable call = () -> dev.cuda.cublas.gemmEx(dev.cublas(), Cublas.OP_T, Cublas.OP_N, n, m, k, gemmScalars.asSlice(0, 4), w, t, k, x, t, k,
                gemmScalars.asSlice(4, 4), out, Cublas.CUDA_R_32F, n, Cublas.COMPUTE_32F);
        if (KernelProfile.ENABLED) dev.profiled("cublas linear " + m + "x" + n + "x" + k, call);
        else call.run();
    }
}
