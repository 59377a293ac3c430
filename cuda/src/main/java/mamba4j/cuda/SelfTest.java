package mamba4j.cuda;

import mamba4j.core.DType;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.SelectiveScan;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The GPU self-test (run on the GPU host by {@code scripts/gpu-test.sh}): every core kernel on random inputs at odd
 * and round sizes against {@code ReferenceKernels} (the definition, through the checked {@link Backend} front), the parameter-struct layouts against NVRTC's
 * sizeof/offsetof, a CUDA-graph capture and replay, the out-of-memory message, then timings of the selective scan at
 * the shapes of ANCHORS.md, of the Mamba-2 SSD (recurrence vs chunked) and of a bf16 GEMM. Prints a table last; exits 1 on any failure, 2 when there is no GPU.
 * {@code --quick} skips the timings.
 */
public final class SelfTest {
    /** A named tolerance: pass when |got − want| ≤ atol + rtol·|want| everywhere. */
    record Tolerance(String name, double atol, double rtol, String why) {}

    static final Tolerance EXACT = new Tolerance("exact", 0, 0, "a gather or a rounding: no arithmetic to differ");
    static final Tolerance F32_POINTWISE = new Tolerance("f32-pointwise", 1e-6, 1e-5, "expf/log1pf in float32 vs the float64 reference: a few ulp");
    static final Tolerance F32_REDUCE = new Tolerance("f32-reduce", 1e-5, 1e-5, "float32 sums over one row or K taps, rsqrtf (2 ulp)");
    static final Tolerance F32_SCAN = new Tolerance("f32-scan", 5e-4, 5e-4,
            "float32 recurrence over up to 1000 steps with exp2f (2 ulp) and a reordered (parallel) combination vs the float64 sequential reference");
    static final Tolerance F32_GEMM = new Tolerance("f32-gemm", 2e-4, 2e-4, "float32 accumulation over K ≤ 777 in cuBLAS's order");
    static final Tolerance F32_SSD_CHUNKED = new Tolerance("f32-ssd-chunked", 5e-4, 5e-4,
            "float32 chunked SSD: log-decays summed over up to 64 steps and exponentiated as differences, sums of N + 64 "
                    + "products in another order, vs the float64 recurrence (or ssd_scan's float32 one); measured ~2e-5 abs on outputs up to 60");

    static final Tolerance BF16_SSD_CHUNKED = new Tolerance("bf16-ssd-chunked", 5e-1, 2e-2,
            "the chunked SSD's products on bf16 tensor cores (MAMBA4J_CUDA_SSD_BF16=1): operands rounded to 8 bits (2^-9 "
                    + "relative), sums of N + Q products in float32; on the CPU emulator up to 1.8e-1 abs on outputs up to 57 "
                    + "(0.3-0.4% of the largest output), 1.2e-2 on states up to 5");

    record Row(String check, String shape, String result, boolean ok) {}
    record Timing(String what, String shape, double ms, String rate, String peer) {}

    private final CudaDevice dev;
    private final CudaOps ops;
    private final List<Row> rows = new ArrayList<>();
    private final List<Timing> timings = new ArrayList<>();
    private final SplittableRandom rnd = new SplittableRandom(1234);
    private static final Backend REF = Backends.reference();   // the checked front over ReferenceKernels

    SelfTest(CudaDevice dev) {
        this.dev = dev;
        this.ops = new CudaOps(dev);
    }

    public static void main(String[] args) {
        System.exit(run(List.of(args).contains("--quick")));
    }

    static int run(boolean quick) {
        Cuda cuda;
        CudaDevice dev;
        try {
            cuda = Cuda.get();
            dev = CudaDevice.open(0);
        } catch (UserInputException e) {
            System.err.println("cuda self-test: " + e.getMessage());
            return 2;
        }
        System.out.println("mamba4j cuda self-test");
        System.out.println("  " + cuda.describe());
        System.out.println("  " + dev.describe() + "; kernel cache " + dev.kernelCache().dir());
        System.out.println("  (tolerances: " + String.join("; ", java.util.stream.Stream.of(EXACT, F32_POINTWISE, F32_REDUCE, F32_SCAN, F32_GEMM, F32_SSD_CHUNKED, BF16_SSD_CHUNKED)
                .map(t -> t.name() + " = " + t.why()).toList()) + ")");
        SelfTest t = new SelfTest(dev);
        try (dev) {
            t.checks();
            if (!quick) t.timings();
        } catch (RuntimeException e) {
            t.rows.add(new Row("(aborted)", "", e.toString(), false));
            e.printStackTrace();
        }
        return t.report();
    }

    // ================================================================ checks

    private void check(String name, Runnable body) {
        long before = dev.allocationCount();
        try {
            body.run();
            if (dev.allocationCount() != before)
                rows.add(new Row(name, "", "leaked " + (dev.allocationCount() - before) + " allocation(s)", false));
        } catch (RuntimeException e) {
            rows.add(new Row(name, "", "threw " + e, false));
            e.printStackTrace();
        }
    }

    void checks() {
        try {   // created up front: its workspace is a device allocation the leak check would otherwise count
            dev.cublas();
            rows.add(new Row("cuBLAS handle", "", "cublas version " + dev.cuda.cublas.version(dev.cublas()), true));
        } catch (RuntimeException e) {
            rows.add(new Row("cuBLAS handle", "", "threw " + e, false));
        }
        long t0 = System.nanoTime();
        check("param struct layouts", this::checkLayouts);
        check("NVRTC compile error", this::compileError);
        check("add / silu / mul_silu", () -> { eltwise(1_000_003); eltwise(4096); });
        check("cast", () -> { cast(100_003); cast(4096); });
        check("embedding", () -> {
            for (int dt : new int[] {KernelParams.DTYPE_F32, KernelParams.DTYPE_BF16, KernelParams.DTYPE_F16}) { embedding(1000, 333, 37, dt); embedding(512, 768, 64, dt); }
        });
        check("rmsnorm (+ residual)", () -> {
            rmsNorm(7, 333, false, KernelParams.DTYPE_F32);
            rmsNorm(7, 333, true, KernelParams.DTYPE_BF16);
            rmsNorm(64, 2048, true, KernelParams.DTYPE_F32);
            rmsNorm(3, 5000, true, KernelParams.DTYPE_F16);
        });
        check("causal conv1d", () -> {
            conv(2, 37, 133, 4, true, KernelParams.DTYPE_F32, true);
            conv(1, 300, 256, 4, false, KernelParams.DTYPE_BF16, false);
            conv(3, 2, 64, 4, true, KernelParams.DTYPE_F32, true);     // L < K: zero-padded history and state
            conv(2, 129, 96, 3, true, KernelParams.DTYPE_F16, true);
        });
        check("causal conv1d step", () -> { convStep(3, 133, 4, true, KernelParams.DTYPE_F32); convStep(1, 2048, 4, false, KernelParams.DTYPE_BF16); });
        check("selective scan", () -> {
            scan(2, 300, 70, 16, true, true, true, true, true);
            scan(1, 1000, 64, 16, true, false, false, false, false);
            scan(1, 257, 33, 64, false, true, true, true, true);      // N = 64: the second register of the carried state
            scan(2, 5, 8, 3, true, true, false, true, true);          // L shorter than one lane's steps
            scan(1, 4096, 32, 16, true, true, true, false, true);     // 16 chunks
        });
        check("selective scan, lab v1", () -> {
            scanV1 = true;
            try {
                scan(2, 300, 70, 16, true, true, true, true, true);
                scan(1, 257, 33, 64, false, true, true, true, true);
            } finally {
                scanV1 = false;
            }
        });
        check("selective scan step", () -> { scanStep(3, 70, 16, true, true); scanStep(1, 2048, 16, true, false); scanStep(70, 4096, 16, true, true); scanStep(9, 4000, 128, true, false); });
        check("decode == forward (scan)", this::decodeEqualsForward);
        check("ssd (recurrence, ssd_scan)", () -> {
            ssd(false, 2, 300, 4, 7, 2, 16, true, true, true);
            ssd(false, 1, 129, 24, 64, 1, 128, true, true, true);
        });
        check("ssd chunked", () -> {
            ssd(true, 2, 300, 4, 7, 2, 16, true, true, true);        // odd P, G 2, L not a multiple of 64
            ssd(true, 1, 1000, 3, 64, 1, 128, false, false, false);  // no scale, no D, no state (S_0 = 0, none written)
            ssd(true, 1, 64 * 3, 2, 16, 1, 256, true, true, true);   // whole chunks only, N = 256 (four state tiles)
            ssd(true, 1, 129, 24, 64, 1, 128, true, true, true);     // mamba2-130m heads, a last chunk of one step
            ssd(true, 1, 200, 3, 100, 3, 200, true, false, true);    // P and N over several tiles, G = H
            ssd(true, 2, 300, 4, 20, 2, 24, true, true, true);       // fused: a partial column tile, N not a multiple of 16
            ssd(true, 1, 130, 2, 36, 1, 8, true, true, true);        // fused: N 8 (one warp's update rows half padding)
        });
        check("ssd chunked == ssd_scan", () -> ssdChunkedEqualsScan(2, 4133, 8, 64, 2, 128));
        check("gemm (cuBLAS)", () -> {
            gemm(37, 129, 777, KernelParams.DTYPE_F32);
            gemm(64, 256, 512, KernelParams.DTYPE_BF16);
            gemm(33, 65, 300, KernelParams.DTYPE_F16);
        });
        check("decode GEMV (linear_rows)", () -> {
            gemv(1, 160, 4096, KernelParams.DTYPE_BF16);   // x_proj of mamba-1.4b: 8 warps per column
            gemv(3, 2048, 4096, KernelParams.DTYPE_F16);   // out_proj: 4 warps per column
            gemv(8, 97, 2048, KernelParams.DTYPE_F32);
            gemv(2, 1000, 1000, KernelParams.DTYPE_BF16);  // one warp per column, a tail past the unrolled loop
            gemv(5, 5, 4099, KernelParams.DTYPE_F32);      // K not a multiple of 4: the scalar path, split
            gemv(1, 4096, 128, KernelParams.DTYPE_BF16);   // dt_proj: K shorter than a warp's chunks
            gemv(8, 8192, 2048, KernelParams.DTYPE_BF16);  // mamba-1.4b's in_proj at batch 8: four columns a warp
            gemv(7, 2562, 1536, KernelParams.DTYPE_F16);   // N not a multiple of the columns a block covers
        });
        check("cuda graph capture + replay", this::graph);
        check("out-of-memory message", this::outOfMemory);
        System.out.printf(Locale.ROOT, "  checks took %d ms; NVRTC compiled %s (ms; files absent came from the kernel cache)%n",
                (System.nanoTime() - t0) / 1_000_000, dev.compileTimes());
    }

    /** Compares NVRTC's sizeof/offsetof of every params.cuh struct with {@link KernelParams}. */
    private void checkLayouts() {
        StringBuilder src = new StringBuilder("#include \"params.cuh\"\nextern \"C\" __global__ void layout_check(long long* out) {\n");
        List<Long> want = new ArrayList<>();
        List<String> what = new ArrayList<>();
        for (StructLayout s : KernelParams.ALL) {
            String n = s.name().orElseThrow();
            src.append("  out[").append(want.size()).append("] = sizeof(").append(n).append(");\n");
            want.add(s.byteSize());
            what.add("sizeof(" + n + ")");
            for (ValueLayout m : KernelParams.members(s)) {
                String f = m.name().orElseThrow();
                src.append("  out[").append(want.size()).append("] = (long long)(unsigned long long)&(((").append(n).append("*)0)->").append(f).append(");\n");
                want.add(KernelParams.offset(s, f));
                what.add("offsetof(" + n + ", " + f + ")");
            }
        }
        src.append("}\n");
        CudaModule m = dev.loadModule("layout_check.cu", src.toString());
        long out = dev.alloc(8L * want.size());
        dev.launchPointer(m.function("layout_check"), out);
        long[] got = new long[want.size()];
        dev.download(MemorySegment.ofArray(got), out);
        dev.free(out);
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < got.length; i++) if (got[i] != want.get(i)) bad.add(what.get(i) + " C " + got[i] + " Java " + want.get(i));
        rows.add(new Row("param struct layouts", KernelParams.ALL.size() + " structs, " + got.length + " values",
                bad.isEmpty() ? "sizeof/offsetof all equal" : String.join("; ", bad), bad.isEmpty()));
    }

    /** A source NVRTC must reject: the exception names the file and carries NVRTC's log with the offending name. */
    private void compileError() {
        String src = "#include \"params.cuh\"\nextern \"C\" __global__ void broken(EltwiseParams p) { p.out[0] = no_such_symbol; }\n";
        try {
            dev.loadModule("broken.cu", src);
            rows.add(new Row("NVRTC compile error", "broken.cu", "compiled (expected an error)", false));
        } catch (KernelCompileException e) {
            boolean ok = e.getMessage().startsWith("kernel broken.cu failed to compile (NVRTC_ERROR_COMPILATION") && e.log().contains("no_such_symbol");
            rows.add(new Row("NVRTC compile error", "broken.cu", e.getMessage().lines().skip(1).findFirst().orElse("(no log)").strip(), ok));
        }
    }

    // ---------------------------------------------------------------- helpers

    private float[] uniform(int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return a;
    }

    private static DType dtype(int code) {
        return switch (code) {
            case KernelParams.DTYPE_BF16 -> DType.BF16;
            case KernelParams.DTYPE_F16 -> DType.F16;
            default -> DType.F32;
        };
    }

    /** Uploads a tensor's raw bytes (any dtype). */
    private long upload(Tensor t) {
        long p = dev.alloc(Math.max(1, t.byteSize()));
        dev.upload(p, t.segment());
        return p;
    }

    private float[] download(long ptr, int n) { return dev.downloadFloats(ptr, n); }

    private void free(long... ptrs) { for (long p : ptrs) if (p != 0) dev.free(p); }

    /** Compares and records one row: max abs and rel error, the first element outside the tolerance. */
    void compare(String check, String shape, float[] got, Tensor want, Tolerance tol) {
        compare(check, shape, got, want.toDoubleArray(), tol);
    }

    void compare(String check, String shape, float[] got, double[] want, Tolerance tol) {
        rows.add(compareRow(check, shape, got, want, tol));
    }

    static Row compareRow(String check, String shape, float[] got, double[] want, Tolerance tol) {
        if (got.length != want.length) return new Row(check, shape, "length " + got.length + " vs " + want.length, false);
        double maxAbs = 0, maxRel = 0;
        int firstBad = -1;
        for (int i = 0; i < got.length; i++) {
            boolean nanGot = Float.isNaN(got[i]), nanWant = Double.isNaN(want[i]);
            if (nanGot || nanWant) {   // NaN matches only NaN
                if (nanGot != nanWant) { maxAbs = Double.POSITIVE_INFINITY; if (firstBad < 0) firstBad = i; }
                continue;
            }
            double d = Math.abs(got[i] - want[i]);
            maxAbs = Math.max(maxAbs, d);
            if (want[i] != 0) maxRel = Math.max(maxRel, d / Math.abs(want[i]));
            if (firstBad < 0 && !(d <= tol.atol() + tol.rtol() * Math.abs(want[i]))) firstBad = i;
        }
        String r = String.format(Locale.ROOT, "max abs %.2e, max rel %.2e (%s: atol %.0e rtol %.0e)", maxAbs, maxRel, tol.name(), tol.atol(), tol.rtol());
        if (firstBad >= 0)
            r += String.format(Locale.ROOT, "; first bad [%d]: got %.8g want %.8g", firstBad, got[firstBad], want[firstBad]);
        return new Row(check, shape, r, firstBad < 0);
    }

    // ---------------------------------------------------------------- kernels

    private void eltwise(int n) {
        float[] a = uniform(n, -8, 8), b = uniform(n, -8, 8);
        long pa = dev.upload(a), pb = dev.upload(b), po = dev.alloc(4L * n);
        Tensor ta = Tensor.of(a, n), tb = Tensor.of(b, n), want = Tensor.zeros(DType.F32, n);
        ops.add(pa, pb, po, n);
        REF.add(ta, tb, want);
        compare("add", "n " + n, download(po, n), want, F32_POINTWISE);
        ops.silu(pa, po, n);
        REF.silu(ta, want);
        compare("silu", "n " + n, download(po, n), want, F32_POINTWISE);
        ops.mulSilu(pa, pb, pa, n);   // out aliasing an input
        REF.mulSilu(ta, tb, want);
        compare("mul_silu (out = a)", "n " + n, download(pa, n), want, F32_POINTWISE);
        free(pa, pb, po);
    }

    private void cast(int n) {
        float[] a = uniform(n, -100, 100);
        a[0] = Float.NaN;
        a[1] = 1e30f;
        a[2] = -0.0f;
        long pa = dev.upload(a), po = dev.alloc(2L * n);
        for (int code : new int[] {KernelParams.DTYPE_BF16, KernelParams.DTYPE_F16}) {
            ops.cast(pa, po, code, n);
            short[] got = new short[n];
            dev.download(MemorySegment.ofArray(got), po);
            Tensor want = Tensor.of(a, n).to(dtype(code));
            int bad = -1;
            for (int i = 0; i < n && bad < 0; i++) {
                short w = want.segment().get(Tensor.I16, 2L * i);
                boolean nan = (code == KernelParams.DTYPE_BF16 ? Float.isNaN(Tensor.bf16ToFloat(got[i])) : Float.isNaN(Float.float16ToFloat(got[i])));
                if (got[i] != w && !(i == 0 && nan)) bad = i;
            }
            rows.add(new Row("cast f32 → " + dtype(code), "n " + n, bad < 0 ? "bit-exact (round to nearest even; NaN stays NaN)"
                    : "first differing bits at [" + bad + "] of " + a[bad] + ": 0x" + Integer.toHexString(got[bad] & 0xffff), bad < 0));
        }
        free(pa, po);
    }

    private void embedding(int v, int d, int n, int code) {
        Tensor w = Tensor.of(uniform(v * d, -1, 1), v, d).to(dtype(code));
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(v);
        ids[0] = v - 1;
        long pw = upload(w), pi = dev.upload(ids), po = dev.alloc(4L * n * d);
        ops.embedding(pi, pw, code, po, n, d);
        Tensor want = Tensor.zeros(DType.F32, n, d);
        REF.embedding(w, REF.ids(ids), want);
        compare("embedding " + dtype(code), "V " + v + " D " + d + " n " + n, download(po, n * d), want, EXACT);
        free(pw, pi, po);
    }

    private void rmsNorm(int m, int d, boolean residual, int code) {
        float[] x = uniform(m * d, -2, 2), r = uniform(m * d, -2, 2);
        Tensor w = Tensor.of(uniform(d, 0.5, 1.5), d).to(dtype(code));
        long px = dev.upload(x), pr = residual ? dev.upload(r) : 0, pw = upload(w), po = dev.alloc(4L * m * d);
        float eps = 1e-5f;
        // residual_out aliases residual, as the model's in-place residual stream would
        ops.rmsNorm(px, pr, pr, pw, code, po, m, d, eps);
        Tensor sum = Tensor.of(x, m, d);
        if (residual) REF.add(Tensor.of(x, m, d), Tensor.of(r, m, d), sum);
        Tensor want = Tensor.zeros(DType.F32, m, d);
        REF.rmsNorm(sum, w.to(DType.F32), eps, want);   // the front takes F32 norm weights: widened exactly, as the kernel does
        String shape = "M " + m + " D " + d + " w " + dtype(code) + (residual ? " +res" : "");
        compare("rmsnorm", shape, download(po, m * d), want, F32_REDUCE);
        if (residual) compare("rmsnorm residual_out", shape, download(pr, m * d), sum, F32_POINTWISE);
        free(px, pr, pw, po);
    }

    private void conv(int b, int l, int c, int k, boolean silu, int code, boolean bias) {
        // x is the first C channels of a (B, L, 2C) buffer, as x = xz[..., :E]
        float[] xz = uniform(b * l * 2 * c, -1, 1);
        float[] x = new float[b * l * c];
        for (int i = 0; i < b * l; i++) System.arraycopy(xz, i * 2 * c, x, i * c, c);
        Tensor w = Tensor.of(uniform(c * k, -0.5, 0.5), c, k).to(dtype(code));
        Tensor bs = bias ? Tensor.of(uniform(c, -0.5, 0.5), c).to(dtype(code)) : null;
        long pxz = dev.upload(xz), pw = upload(w), pb = bias ? upload(bs) : 0, po = dev.alloc(4L * b * l * c), ps = dev.alloc(4L * b * c * k);
        ops.causalConv1d(pxz, (long) l * 2 * c, 2L * c, pw, pb, code, po, ps, 0, b, l, c, k, silu);
        Tensor want = Tensor.zeros(DType.F32, b, l, c);
        REF.causalConv1d(Tensor.of(x, b, l, c), w.to(DType.F32), bs == null ? null : bs.to(DType.F32), silu, want);
        String shape = "B " + b + " L " + l + " C " + c + " K " + k + (silu ? " silu" : "") + " w " + dtype(code) + " strided x";
        compare("causal conv1d", shape, download(po, b * l * c), want, F32_REDUCE);
        double[] state = new double[b * c * k];
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < c; ch++)
                for (int j = 0; j < k; j++) {
                    int t = l - k + j;
                    state[(bi * c + ch) * k + j] = t >= 0 ? x[(bi * l + t) * c + ch] : 0;
                }
        compare("causal conv1d state_out", shape, download(ps, b * c * k), state, EXACT);
        free(pxz, pw, pb, po, ps);
    }

    private void convStep(int b, int c, int k, boolean silu, int code) {
        float[] st = uniform(b * c * k, -1, 1), x = uniform(b * c, -1, 1);
        Tensor w = Tensor.of(uniform(c * k, -0.5, 0.5), c, k).to(dtype(code));
        Tensor bs = Tensor.of(uniform(c, -0.5, 0.5), c).to(dtype(code));
        long pst = dev.upload(st), px = dev.upload(x), pw = upload(w), pb = upload(bs), po = dev.alloc(4L * b * c);
        ops.causalConv1dStep(pst, px, pw, pb, code, po, b, c, k, silu);
        Tensor state = Tensor.of(st, b, c, k), want = Tensor.zeros(DType.F32, b, c);
        REF.causalConv1dStep(state, Tensor.of(x, b, c), w.to(DType.F32), bs.to(DType.F32), silu, want);
        String shape = "B " + b + " C " + c + " K " + k + " w " + dtype(code);
        compare("causal conv1d step", shape, download(po, b * c), want, F32_REDUCE);
        compare("causal conv1d step state", shape, download(pst, b * c * k), state, EXACT);
        free(pst, px, pw, pb, po);
    }

    /** Host operands of one scan; B and C live inside a (B, L, R + 2N) buffer like x_proj's output when strided. */
    private final class ScanCase {
        final int b, l, e, n, r = 5;
        final float[] u, delta, bias, a, dbc, bm, cm, d, z, state;
        final boolean softplus;

        ScanCase(int b, int l, int e, int n, boolean softplus, boolean withBias, boolean withD, boolean withZ, boolean withState) {
            this.b = b; this.l = l; this.e = e; this.n = n; this.softplus = softplus;
            u = uniform(b * l * e, -1, 1);
            delta = uniform(b * l * e, softplus ? -4 : 0.001, softplus ? 1 : 0.2);
            bias = withBias ? (softplus ? uniform(e, -1, 0.5) : uniform(e, 0, 0.05)) : null;   // without softplus Δ must stay ≥ 0
            a = new float[e * n];
            for (int i = 0; i < e * n; i++) a[i] = (float) -((i % n) + 1 + 0.5 * rnd.nextDouble());   // A = -exp(A_log), A_log ≈ log(n + 1)
            int row = r + 2 * n;
            dbc = uniform(b * l * row, -1, 1);
            bm = new float[b * l * n];
            cm = new float[b * l * n];
            for (int i = 0; i < b * l; i++) {
                System.arraycopy(dbc, i * row + r, bm, i * n, n);
                System.arraycopy(dbc, i * row + r + n, cm, i * n, n);
            }
            d = withD ? uniform(e, 0.5, 1.5) : null;
            z = withZ ? uniform(b * l * e, -2, 2) : null;
            state = withState ? uniform(b * e * n, -1, 1) : null;
        }

        String shape() {
            return "B " + b + " L " + l + " E " + e + " N " + n + (softplus ? " softplus" : "") + (bias != null ? " bias" : "") + (d != null ? " D" : "")
                    + (z != null ? " z" : "") + (state != null ? " h0" : "");
        }

        /** The reference: out (B, L, E) and the final state (B, E, N). */
        Tensor[] reference() {
            Tensor out = Tensor.zeros(DType.F32, b, l, e);
            Tensor st = state != null ? Tensor.of(state.clone(), b, e, n) : Tensor.zeros(DType.F32, b, e, n);
            REF.selectiveScan(new SelectiveScan(Tensor.of(u, b, l, e), Tensor.of(delta, b, l, e), bias == null ? null : Tensor.of(bias, e), softplus,
                    Tensor.of(a, e, n), Tensor.of(bm, b, l, n), Tensor.of(cm, b, l, n), d == null ? null : Tensor.of(d, e),
                    z == null ? null : Tensor.of(z, b, l, e), st, out));
            return new Tensor[] {out, st};
        }
    }

    private long up(float[] a) { return a == null ? 0 : dev.upload(a); }

    private boolean scanV1;   // route scan() to the lab's v1 kernel

    private void scan(int b, int l, int e, int n, boolean softplus, boolean withBias, boolean withD, boolean withZ, boolean withState) {
        ScanCase c = new ScanCase(b, l, e, n, softplus, withBias, withD, withZ, withState);
        int row = c.r + 2 * n;
        long pu = up(c.u), pdl = up(c.delta), pbias = up(c.bias), pa = up(c.a), pdbc = up(c.dbc), pd = up(c.d), pz = up(c.z);
        long pst = up(c.state), pso = dev.alloc(4L * b * e * n), po = dev.alloc(4L * b * l * e);
        long le = (long) l * e, lr = (long) l * row;
        CudaOps.Scan s = new CudaOps.Scan(pu, le, e, pdl, le, e, pbias, softplus, pa, pdbc + 4L * c.r, lr, row,
                pdbc + 4L * (c.r + n), lr, row, pd, pz, le, e, pst, pso, po, le, e, b, l, e, n);
        if (scanV1) ops.selectiveScanV1(s);
        else ops.selectiveScan(s);
        Tensor[] want = c.reference();
        String name = scanV1 ? "selective scan (lab v1)" : "selective scan";
        compare(name, c.shape() + ", strided B/C", download(po, b * l * e), want[0], F32_SCAN);
        compare(name + " final state", c.shape(), download(pso, b * e * n), want[1], F32_SCAN);
        free(pu, pdl, pbias, pa, pdbc, pd, pz, pst, pso, po);
    }

    private void scanStep(int b, int e, int n, boolean withZ, boolean withD) {
        ScanCase c = new ScanCase(b, 1, e, n, true, true, withD, withZ, true);
        long pu = up(c.u), pdl = up(c.delta), pbias = up(c.bias), pa = up(c.a), pb = up(c.bm), pc = up(c.cm), pd = up(c.d), pz = up(c.z);
        long pst = up(c.state), po = dev.alloc(4L * b * e);
        ops.selectiveScanStep(pst, pu, pdl, pbias, true, pa, pb, n, pc, n, pd, pz, po, b, e, n);
        Tensor[] want = c.reference();
        compare("selective scan step", c.shape(), download(po, b * e), want[0], F32_SCAN);
        compare("selective scan step state", c.shape(), download(pst, b * e * n), want[1], F32_SCAN);
        free(pu, pdl, pbias, pa, pb, pc, pd, pz, pst, po);
    }

    /**
     * Host operands of one SSD ({@link Ssd}'s layout), drawn like the conformance suite's but with two decay regimes:
     * even heads forget within a few steps (logA ≈ −0.24 on average), odd heads remember across chunks (≈ −0.018),
     * so both each chunk's own state and the state passed between chunks shape the outputs.
     */
    private final class SsdCase {
        final int b, l, h, p, g, n;
        final float[] x, logA, scale, bm, cm, d, state;

        SsdCase(int b, int l, int h, int p, int g, int n, boolean withScale, boolean withD, boolean withState) {
            this.b = b; this.l = l; this.h = h; this.p = p; this.g = g; this.n = n;
            x = uniform(b * l * h * p, -1, 1);
            logA = new float[b * l * h];
            for (int i = 0; i < logA.length; i++) logA[i] = (float) -(0.002 + Math.abs(rnd.nextGaussian()) * ((i % h) % 2 == 0 ? 0.3 : 0.02));
            scale = withScale ? uniform(b * l * h, 0.05, 1.05) : null;
            bm = uniform(b * l * g * n, -1, 1);
            cm = uniform(b * l * g * n, -1, 1);
            d = withD ? uniform(h, 0.5, 1.5) : null;
            state = withState ? uniform(b * h * p * n, -1, 1) : null;
        }

        String shape() {
            return "B " + b + " L " + l + " H " + h + " P " + p + " G " + g + " N " + n + (scale != null ? " scale" : "") + (d != null ? " D" : "")
                    + (state != null ? " S0" : "");
        }

        /** The reference: out (B, L, H, P) and the final state (B, H, P, N) (null without a state). */
        Tensor[] reference() {
            Tensor out = Tensor.zeros(DType.F32, b, l, h, p);
            Tensor st = state == null ? null : Tensor.of(state.clone(), b, h, p, n);
            REF.ssd(new Ssd(Tensor.of(x, b, l, h, p), Tensor.of(logA, b, l, h), scale == null ? null : Tensor.of(scale, b, l, h),
                    Tensor.of(bm, b, l, g, n), Tensor.of(cm, b, l, g, n), d == null ? null : Tensor.of(d, h), st, out), CudaOps.SSD_CHUNK);
            return new Tensor[] {out, st};
        }
    }

    /**
     * One SSD on the device against the reference: by the recurrence (ssd.cu), or chunked (ssd_chunked.cu) by the
     * five-kernel path in chunks of 64, 128 and 256 steps and, where it applies, the fused tensor-core kernel.
     */
    private void ssd(boolean chunked, int b, int l, int h, int p, int g, int n, boolean withScale, boolean withD, boolean withState) {
        SsdCase c = new SsdCase(b, l, h, p, g, n, withScale, withD, withState);
        Tensor[] want = c.reference();
        long px = up(c.x), pla = up(c.logA), psc = up(c.scale), pb = up(c.bm), pc = up(c.cm), pd = up(c.d);
        long po = dev.alloc(4L * b * l * h * p), work = chunked ? dev.alloc(CudaOps.ssdChunkedScratchBytes(b, l, h, p, g, n)) : 0;
        int wasFused = ops.ssdFused, wasChunk = ops.ssdChunk, wasBf16 = ops.ssdBf16;
        boolean wasWalk = ops.ssdWalk;
        // Q 64, 128, 256; ssd_state_walk at 64 and 128; the bf16 tiles at 64, 128, 256 (sm_80 and later); then the fused kernel
        int[] chunks = {CudaOps.SSD_CHUNK, 128, CudaOps.SSD_MAX_CHUNK, CudaOps.SSD_CHUNK, 128, CudaOps.SSD_CHUNK, 128, CudaOps.SSD_MAX_CHUNK};
        try {
            for (int k = 0; k < (chunked ? chunks.length + 1 : 1); k++) {
                boolean fused = k == chunks.length;
                ops.ssdFused = fused ? 1 : 0;
                ops.ssdWalk = (k == 3 || k == 4) && !fused;
                ops.ssdBf16 = k >= 5 && !fused ? 1 : 0;
                if (!fused) ops.ssdChunk = chunks[k];
                if (k >= 5 && !fused && !ops.ssdBf16Tiles(false)) continue;
                if (fused && !ops.ssdFusedApplies(b, h, p, n, px, pb, pc)) break;
                long pst = up(c.state);
                if (chunked) ops.ssdChunked(px, pla, psc, pb, pc, pd, pst, po, work, b, l, h, p, g, n);
                else ops.ssd(px, pla, psc, pb, pc, pd, pst, po, b, l, h, p, g, n);
                String name = !chunked ? "ssd_scan" : fused ? "ssd chunked fused (tensor cores)"
                        : "ssd chunked Q" + chunks[k] + (ops.ssdWalk ? " walk" : "") + (ops.ssdBf16Tiles(false) ? " bf16 tiles" : "");
                Tolerance tol = !chunked ? F32_SCAN : !fused && ops.ssdBf16Tiles(false) ? BF16_SSD_CHUNKED : F32_SSD_CHUNKED;
                compare(name, c.shape(), download(po, b * l * h * p), want[0], tol);
                if (withState) compare(name + " final state", c.shape(), download(pst, b * h * p * n), want[1], tol);
                free(pst);
            }
        } finally {
            ops.ssdFused = wasFused;
            ops.ssdChunk = wasChunk;
            ops.ssdWalk = wasWalk;
            ops.ssdBf16 = wasBf16;
        }
        free(px, pla, psc, pb, pc, pd, po, work);
    }

    /** The chunked SSD against the recurrence kernel (ssd_scan, v1) on one longer sequence, outputs and final state. */
    private void ssdChunkedEqualsScan(int b, int l, int h, int p, int g, int n) {
        SsdCase c = new SsdCase(b, l, h, p, g, n, true, true, true);
        long px = up(c.x), pla = up(c.logA), psc = up(c.scale), pb = up(c.bm), pc = up(c.cm), pd = up(c.d);
        long st1 = up(c.state), st2 = up(c.state), o1 = dev.alloc(4L * b * l * h * p), o2 = dev.alloc(4L * b * l * h * p);
        long work = dev.alloc(CudaOps.ssdChunkedScratchBytes(b, l, h, p, g, n));
        ops.ssd(px, pla, psc, pb, pc, pd, st1, o1, b, l, h, p, g, n);
        ops.ssdChunked(px, pla, psc, pb, pc, pd, st2, o2, work, b, l, h, p, g, n);
        float[] wantOut = download(o1, b * l * h * p), wantState = download(st1, b * h * p * n);
        Tolerance tol = ops.ssdBf16Tiles(false) && !ops.ssdFusedApplies(b, h, p, n, px, pb, pc) ? BF16_SSD_CHUNKED : F32_SSD_CHUNKED;
        compare("ssd chunked == ssd_scan", c.shape(), download(o2, b * l * h * p), toDoubles(wantOut), tol);
        compare("ssd chunked == ssd_scan, final state", c.shape(), download(st2, b * h * p * n), toDoubles(wantState), tol);
        free(px, pla, psc, pb, pc, pd, st1, st2, o1, o2, work);
    }

    private static double[] toDoubles(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /** The scan over L then one step == the scan over L + 1 (the final state hands over to decoding). */
    private void decodeEqualsForward() {
        int b = 2, l = 40, e = 48, n = 16;
        ScanCase c = new ScanCase(b, l + 1, e, n, true, true, true, true, false);
        long pu = up(c.u), pdl = up(c.delta), pbias = up(c.bias), pa = up(c.a), pb = up(c.bm), pc = up(c.cm), pd = up(c.d), pz = up(c.z);
        long le1 = (long) (l + 1) * e, ln1 = (long) (l + 1) * n;
        long full = dev.alloc(4L * b * (l + 1) * e), st = dev.alloc(4L * b * e * n), part = dev.alloc(4L * b * (l + 1) * e);
        ops.selectiveScan(new CudaOps.Scan(pu, le1, e, pdl, le1, e, pbias, true, pa, pb, ln1, n, pc, ln1, n, pd, pz, le1, e, 0, 0, full, le1, e,
                b, l + 1, e, n));
        // first L steps (views with the (L + 1)-long strides), state out; then the last step from that state
        ops.selectiveScan(new CudaOps.Scan(pu, le1, e, pdl, le1, e, pbias, true, pa, pb, ln1, n, pc, ln1, n, pd, pz, le1, e, 0, st, part, le1, e,
                b, l, e, n));
        // the step reads token l of every batch row: gather them (B, E) and (B, N) with strided copies
        long su = dev.alloc(4L * b * e), sd = dev.alloc(4L * b * e), sz = dev.alloc(4L * b * e), so = dev.alloc(4L * b * e);
        for (int bi = 0; bi < b; bi++) {
            long off = 4L * (bi * le1 + (long) l * e);
            dev.copy(su + 4L * bi * e, pu + off, 4L * e);
            dev.copy(sd + 4L * bi * e, pdl + off, 4L * e);
            dev.copy(sz + 4L * bi * e, pz + off, 4L * e);
        }
        ops.selectiveScanStep(st, su, sd, pbias, true, pa, pb + 4L * l * n, ln1, pc + 4L * l * n, ln1, pd, sz, so, b, e, n);
        float[] f = download(full, b * (l + 1) * e), s = download(so, b * e);
        double[] last = new double[b * e];
        for (int bi = 0; bi < b; bi++) for (int j = 0; j < e; j++) last[bi * e + j] = f[(int) (bi * le1 + (long) l * e + j)];
        compare("decode == forward", "B " + b + " L " + l + "+1 E " + e + " N " + n, s, last, F32_SCAN);
        free(pu, pdl, pbias, pa, pb, pc, pd, pz, full, st, part, su, sd, sz, so);
    }

    private void gemm(int m, int n, int k, int code) {
        float[] x = uniform(m * k, -1, 1);
        Tensor w = Tensor.of(uniform(n * k, -1, 1), n, k).to(dtype(code));
        long px = dev.upload(x), pw = upload(w), po = dev.alloc(4L * m * n), pxc = 0;
        long xin = px;
        if (code != KernelParams.DTYPE_F32) {   // activations rounded to the weight dtype on the device, as a bf16 linear would
            pxc = dev.alloc(2L * m * k);
            ops.cast(px, pxc, code, (long) m * k);
            xin = pxc;
        }
        ops.linear(xin, pw, code, po, m, n, k, 0f);
        Tensor want = Tensor.zeros(DType.F32, m, n);
        REF.linear(Tensor.of(x, m, k).to(dtype(code)).to(DType.F32), w, null, want);
        compare("gemm " + dtype(code) + " (f32 accumulate)", "M " + m + " N " + n + " K " + k, download(po, m * n), want, F32_GEMM);
        free(px, pw, po, pxc);
    }

    /** The decode linear (linear_rows, M ≤ 8, weights in their stored dtype) against the reference linear. */
    private void gemv(int m, int n, int k, int code) {
        float[] x = uniform(m * k, -1, 1), bias = uniform(n, -1, 1);
        Tensor w = Tensor.of(uniform(n * k, -1, 1), n, k).to(dtype(code));
        long px = dev.upload(x), pw = upload(w), pb = dev.upload(bias), po = dev.alloc(4L * m * n);
        ops.linearRows(px, pw, code, pb, po, m, n, k);
        Tensor want = Tensor.zeros(DType.F32, m, n);
        REF.linear(Tensor.of(x, m, k), w, Tensor.of(bias, n), want);
        float[] got = download(po, m * n);
        compare("gemv " + dtype(code) + " (split " + CudaOps.gemvSplit(n, k, code, dev.smCount) + ")" + (CudaOps.gemvCols(m, n, k, code, dev.smCount) ? ", "
                + CudaOps.GEMV_COLS + " columns a warp" : ""), "M " + m + " N " + n + " K " + k, got, want, F32_GEMM);
        if (m > 1) {   // each row as linear_rows_1 computes it alone, bit for bit: a decode row does not depend on the batch
            long p1 = dev.alloc(4L * n);
            int differ = 0;
            for (int r = 0; r < m; r++) {
                ops.linearRows(px + 4L * r * k, pw, code, pb, p1, 1, n, k);
                float[] one = download(p1, n);
                for (int c = 0; c < n; c++) if (Float.floatToRawIntBits(one[c]) != Float.floatToRawIntBits(got[r * n + c])) differ++;
            }
            rows.add(new Row("gemv " + dtype(code) + ", each row alone == batched", "M " + m + " N " + n + " K " + k,
                    differ + " of " + m * n + " outputs differ", differ == 0));
            free(p1);
        }
        free(px, pw, pb, po);
    }

    /** Captures conv step → scan step on fixed buffers once, replays it 5 times, and compares with 5 reference steps. */
    private void graph() {
        int b = 2, e = 96, n = 16, k = 4, steps = 5;
        ScanCase c = new ScanCase(b, 1, e, n, true, true, true, true, true);
        float[] convState = uniform(b * e * k, -1, 1);
        Tensor w = Tensor.of(uniform(e * k, -0.5, 0.5), e, k), bs = Tensor.of(uniform(e, -0.5, 0.5), e);
        long pu = up(c.u), pdl = up(c.delta), pbias = up(c.bias), pa = up(c.a), pb = up(c.bm), pc = up(c.cm), pd = up(c.d), pz = up(c.z);
        long pst = up(c.state), pcs = dev.upload(convState), pw = upload(w), pbs = upload(bs), px = dev.alloc(4L * b * e), po = dev.alloc(4L * b * e);
        // one decode step: x = silu(conv(u)); y = scan_step(x); the next step's input is y (a fixed buffer)
        Runnable step = () -> {
            ops.causalConv1dStep(pcs, pu, pw, pbs, KernelParams.DTYPE_F32, px, b, e, k, true);
            ops.selectiveScanStep(pst, px, pdl, pbias, true, pa, pb, n, pc, n, pd, pz, po, b, e, n);
            dev.copy(pu, po, 4L * b * e);
        };
        CudaGraph g = dev.capture(step);
        for (int i = 0; i < steps; i++) g.replay();
        float[] got = download(po, b * e), gotState = download(pst, b * e * n);
        g.close();
        Tensor u = Tensor.of(c.u, b, e), cs = Tensor.of(convState, b, e, k), x = Tensor.zeros(DType.F32, b, e);
        Tensor st = Tensor.of(c.state.clone(), b, e, n), y = Tensor.zeros(DType.F32, b, e);
        for (int i = 0; i < steps; i++) {
            REF.causalConv1dStep(cs, u, w, bs, true, x);
            REF.selectiveScan(new SelectiveScan(x.reshape(b, 1, e), Tensor.of(c.delta, b, 1, e), Tensor.of(c.bias, e), true, Tensor.of(c.a, e, n),
                    Tensor.of(c.bm, b, 1, n), Tensor.of(c.cm, b, 1, n), Tensor.of(c.d, e), Tensor.of(c.z, b, 1, e), st, y.reshape(b, 1, e)));
            u = y.copy();
        }
        compare("graph replay ×" + steps + " (conv step → scan step)", "B " + b + " E " + e + " N " + n, got, y, F32_SCAN);
        compare("graph replay state", "B " + b + " E " + e + " N " + n, gotState, st, F32_SCAN);
        free(pu, pdl, pbias, pa, pb, pc, pd, pz, pst, pcs, pw, pbs, px, po);
    }

    private void outOfMemory() {
        long ask = dev.totalMemory * 2;
        try {
            long p = dev.alloc(ask);
            dev.free(p);
            rows.add(new Row("out-of-memory message", CudaDevice.bytes(ask), "allocation succeeded (expected out of memory)", false));
        } catch (UserInputException e) {
            boolean ok = e.getMessage().contains("out of device memory allocating " + CudaDevice.bytes(ask)) && e.getMessage().contains("free of");
            rows.add(new Row("out-of-memory message", CudaDevice.bytes(ask), e.getMessage(), ok));
        }
    }

    // ================================================================ timings

    /** mamba_ssm's selective-scan forward on an H100 (ANCHORS.md), ms. */
    private static final double[][] ANCHOR_LONG = {{2048, 0.091}, {8192, 0.265}, {32768, 0.833}, {131072, 3.02}, {524288, 11.8}};

    void timings() {
        copyBandwidth();
        for (double[] a : ANCHOR_LONG) timeScan(1, (int) a[0], 1024, 16, a[1]);
        timeScan(8, 2048, 1536, 16, 0.535);
        timeScan(8, 2048, 3072, 16, 0.975);
        for (int l : new int[] {2048, 16384}) {
            timeSsd("mamba2-130m", 24, l);
            timeSsd("mamba2-1.3b", 64, l);
        }
        timeGemm(4096);
        timeGemm(8192);
        for (int[] g : new int[][] {{8192, 2048}, {2048, 4096}, {160, 4096}, {4096, 128}, {50280, 2048}}) timeGemv(1, g[0], g[1]);
        for (int[] g : new int[][] {{8192, 2048}, {2048, 4096}, {50280, 2048}}) timeGemv(8, g[0], g[1]);   // batched decode
        for (int[] g : new int[][] {{8192, 2048}, {2048, 4096}, {160, 4096}, {50280, 2048}}) timeGemvGraph(g[0], g[1]);
        timeDecodeLaunches();
    }

    private int reps(double estimateMs) { return (int) Math.max(3, Math.min(100, 200 / Math.max(estimateMs, 1e-3))); }

    private void copyBandwidth() {
        long bytes = 1L << 30;
        long a = dev.alloc(bytes), b = dev.alloc(bytes);
        dev.zero(a, bytes);
        dev.copy(b, a, bytes);
        double ms = dev.timeMs(() -> dev.copy(b, a, bytes), 10);
        timings.add(new Timing("device copy", "1 GiB", ms, gbps(2.0 * bytes, ms), "~3.0 TB/s (ANCHORS, H100)"));
        free(a, b);
    }

    private static String gbps(double bytes, double ms) { return String.format(Locale.ROOT, "%.0f GB/s", bytes / ms / 1e6); }

    private void timeScan(int b, int l, int e, int n, double anchorMs) {
        long be = (long) b * l * e, bn = (long) b * l * n;
        long u = dev.alloc(4 * be), dl = dev.alloc(4 * be), z = dev.alloc(4 * be), out = dev.alloc(4 * be);
        long bm = dev.alloc(4 * bn), cm = dev.alloc(4 * bn), st = dev.alloc(4L * b * e * n);
        float[] a = new float[e * n], d = new float[e], bias = new float[e];
        for (int i = 0; i < e * n; i++) a[i] = -((i % n) + 1);
        java.util.Arrays.fill(d, 1f);
        for (int i = 0; i < e; i++) bias[i] = (float) Math.log(Math.expm1(0.01 + 0.09 * rnd.nextDouble()));   // inverse softplus of dt ∈ [0.01, 0.1]
        long pa = dev.upload(a), pd = dev.upload(d), pbias = dev.upload(bias);
        ops.fillUniform(u, be, 1, -1, 1);
        ops.fillUniform(dl, be, 2, -0.5f, 0.5f);
        ops.fillUniform(z, be, 3, -1, 1);
        ops.fillUniform(bm, bn, 4, -1, 1);
        ops.fillUniform(cm, bn, 5, -1, 1);
        CudaOps.Scan s = CudaOps.Scan.contiguous(u, dl, pbias, true, pa, bm, cm, pd, z, 0, st, out, b, l, e, n);
        double bytes = 4.0 * (4 * be + 2 * bn);   // u, Δ, z in + y out, B and C in (f32)
        for (boolean v1 : new boolean[] {false, true}) {
            Runnable run = v1 ? () -> ops.selectiveScanV1(s) : () -> ops.selectiveScan(s);
            run.run();   // warm-up
            dev.synchronize();
            double est = dev.timeMs(run, 1);
            double ms = dev.timeMs(run, reps(est));
            float[] probe = download(out, 4);
            String finite = Float.isFinite(probe[0]) ? "" : " NON-FINITE OUTPUT";
            timings.add(new Timing(v1 ? "  (lab v1)" : "selective scan fwd (f32)", "B" + b + " L" + l + " D" + e + " N" + n, ms,
                    gbps(bytes, ms) + finite, String.format(Locale.ROOT, "%.3f ms (%.2fx)", anchorMs, anchorMs / ms)));
            if (!finite.isEmpty()) rows.add(new Row("selective scan timing output", "B" + b + " L" + l, "non-finite output", false));
        }
        free(u, dl, z, out, bm, cm, st, pa, pd, pbias);
    }

    /**
     * One Mamba-2 layer's SSD at a model's shape (B1, P 64, G 1, N 128, scale and state as the model passes them, no D):
     * the recurrence (ssd_scan), the five chunked kernels and the fused tensor-core kernel, ms and bytes of x, logA,
     * scale, B, C in + y out per second.
     */
    private void timeSsd(String model, int h, int l) {
        int b = 1, p = 64, g = 1, n = 128;
        long bl = (long) b * l, xs = bl * h * p, hs = bl * h, gs = bl * g * n;
        long x = dev.alloc(4 * xs), out = dev.alloc(4 * xs), la = dev.alloc(4 * hs), sc = dev.alloc(4 * hs), bm = dev.alloc(4 * gs), cm = dev.alloc(4 * gs);
        long st = dev.alloc(4L * b * h * p * n), work = dev.alloc(CudaOps.ssdChunkedScratchBytes(b, l, h, p, g, n));
        ops.fillUniform(x, xs, 11, -1, 1);
        ops.fillUniform(la, hs, 12, -0.3f, -0.001f);   // dt·A of a trained model: decays exp(logA) in [0.74, 1)
        ops.fillUniform(sc, hs, 13, 0.001f, 0.1f);     // dt
        ops.fillUniform(bm, gs, 14, -1, 1);
        ops.fillUniform(cm, gs, 15, -1, 1);
        dev.zero(st, 4L * b * h * p * n);
        double bytes = 4.0 * (2 * xs + 2 * hs + 2 * gs);
        String shape = model + " B" + b + " L" + l + " H" + h + " P" + p + " N" + n;
        String[] names = {"ssd_scan (recurrence)", "  ssd chunked (Q 64)", "  ssd chunked (Q 128)", "  ssd chunked (Q 256)",
                "  ssd chunked, states walked (Q 64)", "  ssd chunked, states walked (Q 128)", "  ssd chunked, bf16 tiles (Q 64)",
                "  ssd chunked, bf16 tiles (Q 128)", "  ssd chunked, bf16 tiles (Q 256)", "  ssd chunked fused (tensor cores)"};
        int[] chunks = {0, CudaOps.SSD_CHUNK, 128, CudaOps.SSD_MAX_CHUNK, CudaOps.SSD_CHUNK, 128, CudaOps.SSD_CHUNK, 128, CudaOps.SSD_MAX_CHUNK,
                CudaOps.SSD_CHUNK};
        double[] ms = new double[names.length];
        int wasFused = ops.ssdFused, wasChunk = ops.ssdChunk, wasBf16 = ops.ssdBf16;
        boolean wasWalk = ops.ssdWalk;
        try {
            for (int k = 0; k < names.length; k++) {
                ops.ssdFused = k == names.length - 1 ? 1 : 0;
                ops.ssdWalk = k == 4 || k == 5;
                ops.ssdBf16 = k >= 6 && k <= 8 ? 1 : 0;
                ops.ssdChunk = chunks[k] > 0 ? chunks[k] : wasChunk;
                if (k >= 6 && k <= 8 && !ops.ssdBf16Tiles(false)) continue;
                if (k == names.length - 1 && !ops.ssdFusedApplies(b, h, p, n, x, bm, cm)) break;
                Runnable run = k > 0 ? () -> ops.ssdChunked(x, la, sc, bm, cm, 0, st, out, work, b, l, h, p, g, n)
                        : () -> ops.ssd(x, la, sc, bm, cm, 0, st, out, b, l, h, p, g, n);
                run.run();   // warm-up (and the compile)
                dev.synchronize();
                double est = dev.timeMs(run, 1);
                ms[k] = dev.timeMs(run, reps(est));
                float[] probe = download(out, 4);
                String finite = Float.isFinite(probe[0]) ? "" : " NON-FINITE OUTPUT";
                timings.add(new Timing(names[k], shape, ms[k], gbps(bytes, ms[k]) + finite,
                        k > 0 ? String.format(Locale.ROOT, "%.2fx ssd_scan", ms[0] / ms[k]) : ""));
                if (!finite.isEmpty()) rows.add(new Row("ssd timing output", shape, "non-finite output", false));
            }
        } finally {
            ops.ssdFused = wasFused;
            ops.ssdChunk = wasChunk;
            ops.ssdWalk = wasWalk;
            ops.ssdBf16 = wasBf16;
        }
        free(x, out, la, sc, bm, cm, st, work);
    }

    private void timeGemm(int s) {
        long n2 = (long) s * s;
        long xf = dev.alloc(4 * n2), x = dev.alloc(2 * n2), w = dev.alloc(2 * n2), out = dev.alloc(4 * n2);
        ops.fillUniform(xf, n2, 7, -1, 1);
        ops.cast(xf, x, KernelParams.DTYPE_BF16, n2);
        ops.fillUniform(xf, n2, 8, -1, 1);
        ops.cast(xf, w, KernelParams.DTYPE_BF16, n2);
        ops.linear(x, w, KernelParams.DTYPE_BF16, out, s, s, s, 0f);
        dev.synchronize();
        double est = dev.timeMs(() -> ops.linear(x, w, KernelParams.DTYPE_BF16, out, s, s, s, 0f), 1);
        double ms = dev.timeMs(() -> ops.linear(x, w, KernelParams.DTYPE_BF16, out, s, s, s, 0f), reps(est));
        timings.add(new Timing("gemm bf16 → f32", s + "³", ms, String.format(Locale.ROOT, "%.0f TFLOP/s", 2.0 * s * s * s / ms / 1e9),
                s == 8192 ? "~780-800 TFLOP/s (ANCHORS, bf16 out)" : ""));
        free(xf, x, w, out);
    }

    /** The decode linear at batch m (≤ 8), bf16 weights (N, K): weight bytes read per µs against the copy bandwidth. */
    private void timeGemv(int m, int n, int k) {
        long x = dev.alloc(4L * m * k), wf = dev.alloc(4L * n * k), w = dev.alloc(2L * n * k), out = dev.alloc(4L * m * n);
        ops.fillUniform(x, (long) m * k, 9, -1, 1);
        ops.fillUniform(wf, (long) n * k, 10, -1, 1);
        ops.cast(wf, w, KernelParams.DTYPE_BF16, (long) n * k);
        Runnable run = () -> ops.linearRows(x, w, KernelParams.DTYPE_BF16, 0, out, m, n, k);
        run.run();
        dev.synchronize();
        double ms = dev.timeMs(run, reps(dev.timeMs(run, 1)));
        timings.add(new Timing("decode gemv bf16 (M " + m + (CudaOps.gemvCols(m, n, k, KernelParams.DTYPE_BF16, dev.smCount) ? ", " + CudaOps.GEMV_COLS + " columns a warp" : "") + ")",
                "N " + n + " K " + k + " split " + CudaOps.gemvSplit(n, k, KernelParams.DTYPE_BF16, dev.smCount), ms, gbps(2.0 * n * k, ms), ""));
        free(x, wf, w, out);
    }

    /**
     * The batch-1 decode linear without the host in the way: a CUDA graph of back-to-back calls over enough copies of
     * the weights (≥ 256 MB together) that each call reads its own from memory, not from L2 — the figure a decode
     * step's graph sees. {@link #timeGemv}'s launch loop gave 16–17 µs a call for x_proj's and dt_proj's 1 MB (H100),
     * three times the profiler's per-kernel figure: there the host's launches, not the kernel, look like the limit.
     */
    private void timeGemvGraph(int n, int k) {
        long bytes = 2L * n * k;
        int copies = (int) Math.max(2, Math.min(64, ((256L << 20) + bytes - 1) / bytes));
        long x = dev.alloc(4L * k), wf = dev.alloc(4L * n * k), out = dev.alloc(4L * n);
        long[] w = new long[copies];
        ops.fillUniform(x, k, 9, -1, 1);
        ops.fillUniform(wf, (long) n * k, 10, -1, 1);
        for (int c = 0; c < copies; c++) {
            w[c] = dev.alloc(bytes);
            ops.cast(wf, w[c], KernelParams.DTYPE_BF16, (long) n * k);
        }
        Runnable all = () -> { for (long wc : w) ops.linearRows(x, wc, KernelParams.DTYPE_BF16, 0, out, 1, n, k); };
        all.run();
        dev.synchronize();
        CudaGraph g = dev.capture(all);
        g.replay();
        double ms = dev.timeMs(g::replay, 10) / copies;
        g.close();
        timings.add(new Timing("decode gemv bf16 (M 1), graph of " + copies + " calls, each its own weights",
                "N " + n + " K " + k + " split " + CudaOps.gemvSplit(n, k, KernelParams.DTYPE_BF16, dev.smCount), ms, gbps(bytes, ms), ""));
        free(x, wf, out);
        free(w);
    }

    /**
     * Launch overhead, the reason decode is captured in a graph: 48 layers × (conv step + scan step) at the
     * mamba-1.4b decode shape (B1, E 4096, N 16), launched one by one vs replayed as one graph.
     */
    private void timeDecodeLaunches() {
        int layers = 48, b = 1, e = 4096, n = 16, k = 4;
        long x = dev.alloc(4L * b * e), y = dev.alloc(4L * b * e), dl = dev.alloc(4L * b * e), z = dev.alloc(4L * b * e);
        long bc = dev.alloc(8L * b * n), a = dev.alloc(4L * e * n), w = dev.alloc(4L * e * k);
        long cs = dev.alloc(4L * layers * b * e * k), ss = dev.alloc(4L * layers * b * e * n);
        ops.fillUniform(x, (long) b * e, 1, -1, 1);
        ops.fillUniform(dl, (long) b * e, 2, -1, 0);
        ops.fillUniform(z, (long) b * e, 3, -1, 1);
        ops.fillUniform(bc, 2L * b * n, 4, -1, 1);
        ops.fillUniform(a, (long) e * n, 5, -2, -1);
        ops.fillUniform(w, (long) e * k, 6, -0.5f, 0.5f);
        dev.zero(cs, 4L * layers * b * e * k);
        dev.zero(ss, 4L * layers * b * e * n);
        Runnable token = () -> {
            for (int i = 0; i < layers; i++) {
                ops.causalConv1dStep(cs + 4L * i * b * e * k, x, w, 0, KernelParams.DTYPE_F32, y, b, e, k, true);
                ops.selectiveScanStep(ss + 4L * i * b * e * n, y, dl, 0, true, a, bc, n, bc + 4L * n, n, 0, z, x, b, e, n);
            }
        };
        token.run();
        dev.synchronize();
        double eager = dev.timeMs(token, 20);
        CudaGraph g = dev.capture(token);
        g.replay();
        double graphMs = dev.timeMs(g::replay, 50);
        g.close();
        timings.add(new Timing("decode chain, launches", layers + "×(conv step + scan step) B1 E" + e, eager,
                String.format(Locale.ROOT, "%.1f µs/launch", eager * 1000 / (2 * layers)), ""));
        timings.add(new Timing("decode chain, CUDA graph", layers + "×(conv step + scan step) B1 E" + e, graphMs,
                String.format(Locale.ROOT, "%.1fx faster", eager / graphMs), ""));
        free(x, y, dl, z, bc, a, w, cs, ss);
    }

    // ================================================================ report

    int report() {
        int failed = 0;
        System.out.println();
        System.out.println("| check | shape | result | ok |");
        System.out.println("|---|---|---|---|");
        for (Row r : rows) {
            System.out.println("| " + r.check() + " | " + r.shape() + " | " + r.result() + " | " + (r.ok() ? "PASS" : "FAIL") + " |");
            if (!r.ok()) failed++;
        }
        if (!timings.isEmpty()) {
            System.out.println();
            System.out.println("| timing (" + dev.name + ") | shape | ms | rate | mamba_ssm / ceiling (ANCHORS.md, H100) |");
            System.out.println("|---|---|---|---|---|");
            for (Timing t : timings)
                System.out.printf(Locale.ROOT, "| %s | %s | %.4f | %s | %s |%n", t.what(), t.shape(), t.ms(), t.rate(), t.peer());
        }
        System.out.println();
        System.out.println(failed == 0 ? "cuda self-test: all " + rows.size() + " checks passed" : "cuda self-test: " + failed + " of " + rows.size() + " checks FAILED");
        return failed == 0 ? 0 : 1;
    }
}
