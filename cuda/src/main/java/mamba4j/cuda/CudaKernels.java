package mamba4j.cuda;

import mamba4j.core.CopyRegion;
import mamba4j.core.DType;
import mamba4j.core.Device;
import mamba4j.core.Kernels;
import mamba4j.core.Sampling;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Shape;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Storage;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The {@code cuda} backend: core's {@link Kernels} on one NVIDIA GPU through {@link CudaOps} (NVRTC-compiled kernels,
 * cuBLAS). Same as {@code ReferenceKernels} op for op; differs in: F32 activations only; linear with BF16/F16 weights
 * and more than {@link CudaOps#GEMV_MAX_M} rows rounds the activations to the weight dtype for the tensor-core GEMM
 * (f32 accumulate), as torch does in half precision; reductions in other orders (f32). The inference op set runs
 * here; the training ops (backward passes, AdamW) come with GPU training and are refused, naming the op.
 *
 * <p>Tensors live in device memory from the device's stream-ordered pool; a tensor's memory is freed once it is
 * unreachable (a {@link Cleaner} queues the address, and the next allocation on the owning thread frees it on the
 * stream). Every op is queued on the device's one stream: host reads ({@link #download}, {@link #item}) wait for it.
 *
 * <p>Found by {@link java.util.ServiceLoader} like every backend; constructing it touches no GPU (the class path
 * holds it on machines without one). {@link #open} opens the device — {@code cuda:0}, or the ordinal in the system
 * property {@code mamba4j.cuda.device} — and fails with one line naming what is missing.
 */
public final class CudaKernels implements Kernels {
    private static final Cleaner CLEANER = Cleaner.create();
    /**
     * A batched decode step's linear into column parts as one GEMV writing each part (no copies after); 0 runs the
     * linear into the whole buffer and copies the parts out, as before, to compare (MAMBA4J_CUDA_GEMV_PARTS).
     */
    static final boolean GEMV_PARTS = !"0".equals(System.getenv("MAMBA4J_CUDA_GEMV_PARTS"));

    private static final String TRAINING = " is a training op: the cuda backend runs inference (GPU training is the next step); "
            + "train with --backend cpu";

    /** One per device ordinal, shared by every front on it: one stream, one allocator, one scratch buffer. */
    private static final class State {
        final CudaDevice dev;
        final CudaOps ops;
        final ConcurrentLinkedQueue<Long> unreachable = new ConcurrentLinkedQueue<>();
        long scratch, scratchBytes;   // reused by one op at a time (activations cast for a GEMM, loss rows, the chunked SSD's states)

        State(int ordinal) {
            dev = CudaDevice.open(ordinal);
            ops = new CudaOps(dev);
        }
    }

    private static final java.util.Map<Integer, State> STATES = new java.util.concurrent.ConcurrentHashMap<>();

    private State st;
    private CudaDevice dev;

    /** The owner of a device allocation: what the cleaner frees when no tensor refers to it any more. */
    private record Allocation(long address) {}

    private static int ordinalProperty() {
        String v = System.getProperty("mamba4j.cuda.device", "0");
        try {
            int n = Integer.parseInt(v.startsWith("cuda:") ? v.substring(5) : v);
            if (n >= 0) return n;
        } catch (NumberFormatException e) {
            // named below
        }
        throw new UserInputException("--device " + v + ": not a CUDA device (cuda:N, N >= 0)");
    }

    @Override public String name() { return "cuda"; }

    /** Opens the device on first use; missing driver, libraries or GPU is a {@link UserInputException} naming it. */
    @Override public synchronized Kernels open() {
        if (st == null) {
            st = STATES.computeIfAbsent(ordinalProperty(), State::new);
            dev = st.dev;
        }
        return this;
    }

    private CudaOps ops() {
        if (st == null) open();
        return st.ops;
    }

    /** The open device (opening it). */
    public CudaDevice cudaDevice() {
        open();
        return dev;
    }

    @Override public String description() {
        return dev == null ? "cuda (not opened)" : dev.describe();
    }

    private static double bandwidth = Double.NaN;

    /**
     * Device-to-device copy bandwidth, bytes read + written per second (measured once: 256 MiB copied 20 times after a
     * warm-up), the ceiling a bandwidth-bound kernel such as decode's GEMV is held to.
     */
    @Override public synchronized double memoryBandwidthGBs() {
        if (Double.isNaN(bandwidth)) {
            open();
            long bytes = 256L << 20;
            long a = dev.alloc(bytes), b = dev.alloc(bytes);
            try {
                dev.copy(b, a, bytes);
                double ms = dev.timeMs(() -> dev.copy(b, a, bytes), 20);
                bandwidth = 2.0 * bytes / (ms * 1e-3) / 1e9;
            } finally {
                dev.free(a);
                dev.free(b);
            }
        }
        return bandwidth;
    }

    @Override public Device device() { return Device.cuda(dev == null ? ordinalProperty() : dev.ordinal); }

    @Override public Set<DType> activationTypes() { return Set.of(DType.F32); }

    // ------------------------------------------------------------------ memory and movement

    private static long ptr(Tensor t) {
        if (t == null) return 0;
        if (!(t.storage() instanceof Storage.OnDevice d)) throw new IllegalArgumentException(t + " is not on a CUDA device");
        return d.address() + t.byteOffset();
    }

    private void freeUnreachable() {
        for (Long p; (p = st.unreachable.poll()) != null; ) dev.free(p);
    }

    @Override public Tensor allocate(DType dtype, Shape shape) {
        ops();
        freeUnreachable();
        long bytes = dtype.byteCount(shape.numel());
        long address = dev.alloc(Math.max(bytes, 16));
        dev.zero(address, Math.max(bytes, 16));
        Allocation owner = new Allocation(address);
        Storage.OnDevice storage = new Storage.OnDevice(device(), address, bytes, owner);
        var queue = st.unreachable;
        CLEANER.register(storage, () -> queue.add(address));
        return Tensor.onDevice(dtype, shape, storage, 0);
    }

    @Override public Tensor upload(Tensor host) {
        Tensor t = allocate(host.dtype(), host.shape());
        write(host, t);
        return t;
    }

    @Override public void write(Tensor host, Tensor dst) {
        ops();
        MemorySegment src = host.segment();
        if (src.byteSize() != dst.byteSize()) src = src.asSlice(0, dst.byteSize());
        if (src.byteSize() > 0) dev.upload(ptr(dst), src);
    }

    @Override public Tensor download(Tensor t) {
        ops();
        Tensor host = Tensor.zeros(t.dtype(), t.shape());
        if (t.byteSize() > 0) dev.download(host.segment(), ptr(t));
        return host;
    }

    @Override public void copy(Tensor src, Tensor dst, CopyRegion r) {
        if (r.count() == 0) return;
        int eb = src.dtype().byteSize();
        if (r.rank() == 1 && r.srcStrides()[0] == 1 && r.dstStrides()[0] == 1) {
            ops();
            dev.copy(ptr(dst) + r.dstOffset() * eb, ptr(src) + r.srcOffset() * eb, r.count() * eb);
            return;
        }
        copyLeading(src, dst, r, 0, r.srcOffset(), r.dstOffset(), eb);
    }

    /** Ranks above 4: one launch per index of the leading dimensions, the last four in the kernel. */
    private void copyLeading(Tensor src, Tensor dst, CopyRegion r, int dim, long so, long dO, int eb) {
        int rank = r.rank();
        if (rank - dim <= 4) {
            ops().copyStrided(ptr(src), ptr(dst), so, dO, java.util.Arrays.copyOfRange(r.sizes(), dim, rank),
                    java.util.Arrays.copyOfRange(r.srcStrides(), dim, rank), java.util.Arrays.copyOfRange(r.dstStrides(), dim, rank), eb);
            return;
        }
        for (long i = 0; i < r.sizes()[dim]; i++)
            copyLeading(src, dst, r, dim + 1, so + i * r.srcStrides()[dim], dO + i * r.dstStrides()[dim], eb);
    }

    @Override public void fill(Tensor t, float v) {
        if (t.numel() == 0) return;
        Tensor one = Tensor.zeros(t.dtype(), 1);
        one.fill(v);                                   // the host's rounding to t's dtype, byte for byte
        MemorySegment b = one.segment();
        int eb = t.dtype().byteSize();
        long bits = switch (eb) {
            case 1 -> b.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xffL;
            case 2 -> b.get(Tensor.I16, 0) & 0xffffL;
            case 4 -> b.get(Tensor.I32, 0) & 0xffffffffL;
            default -> b.get(Tensor.I64, 0);
        };
        ops().fillBits(ptr(t), t.numel(), bits, eb);
    }

    @Override public double item(Tensor t, long i) {
        ops();
        Tensor one = Tensor.zeros(t.dtype(), 1);
        dev.download(one.segment(), ptr(t) + i * t.dtype().byteSize());
        return one.getDouble(0);
    }

    private static boolean captureWarned;

    /** A CUDA graph of body's launches (not run here); if the driver refuses the capture, body itself, said once on stderr. */
    @Override public Runnable capture(Runnable body) {
        open();
        if (KernelProfile.ENABLED) return body;   // profiling times each launch, which a graph would hide
        try {
            CudaGraph g = dev.capture(body);
            return g::replay;
        } catch (RuntimeException e) {
            if (!captureWarned) {
                captureWarned = true;
                System.err.println("cuda: decode steps run op by op (graph capture failed: " + e.getMessage() + ")");
            }
            return body;
        }
    }

    @Override public void sync() {
        if (dev != null) dev.synchronize();
    }

    /** A device buffer of at least {@code bytes}, reused across ops (the stream orders its uses). */
    private long scratch(long bytes) {
        ops();
        if (st.scratchBytes < bytes) {
            if (st.scratch != 0) dev.free(st.scratch);
            st.scratchBytes = Math.max(bytes, 2 * st.scratchBytes);
            st.scratch = dev.alloc(st.scratchBytes);
        }
        return st.scratch;
    }

    // ------------------------------------------------------------------ ops

    static int code(DType d) {
        return switch (d) {
            case F32 -> KernelParams.DTYPE_F32;
            case BF16 -> KernelParams.DTYPE_BF16;
            case F16 -> KernelParams.DTYPE_F16;
            default -> throw new IllegalArgumentException("no CUDA kernel reads " + d + " weights");
        };
    }

    /** On the device (sample.cu): the settings go up (24 bytes a row), R ids come back, the logits stay. */
    @Override public void sample(Tensor logits, int vocab, Sampling[] rows, int[] ids) {
        int r = rows.length;
        long bytes = 24L * r;
        long buf = scratch(bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(bytes, 8);
            for (int i = 0; i < r; i++) {
                host.setAtIndex(ValueLayout.JAVA_DOUBLE, i, rows[i].uniform());
                host.set(ValueLayout.JAVA_FLOAT, 8L * r + 4L * i, rows[i].temperature());
                host.set(ValueLayout.JAVA_FLOAT, 12L * r + 4L * i, rows[i].topP());
                host.set(ValueLayout.JAVA_INT, 16L * r + 4L * i, rows[i].topK());
            }
            dev.upload(buf, host);
            ops().sample(ptr(logits), buf, buf + 20L * r, r, (int) logits.dim(1), vocab);
            MemorySegment out = host.asSlice(20L * r, 4L * r);
            dev.download(out, buf + 20L * r);
            MemorySegment.copy(out, ValueLayout.JAVA_INT, 0, ids, 0, r);
        }
    }

    @Override public void embedding(Tensor weight, Tensor ids, Tensor out) {
        ops().embedding(ptr(ids), ptr(weight), code(weight.dtype()), ptr(out), (int) ids.numel(), weight.size(1));
    }

    @Override public void addRow(Tensor x, Tensor row, Tensor out) {
        ops().addRow(ptr(x), ptr(row), ptr(out), x.numel() / row.numel(), (int) row.numel());
    }

    @Override public void mul(Tensor a, Tensor b, Tensor out) { ops().mul(ptr(a), ptr(b), ptr(out), a.numel()); }

    @Override public void negExp(Tensor x, Tensor out) { ops().negExp(ptr(x), ptr(out), x.numel()); }

    @Override public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        int m = x.size(0), k = x.size(1), n = w.size(0), dt = code(w.dtype());
        linearRowsOf(ops(), linearInput(x, dt), ptr(w), dt, ptr(bias), ptr(out), m, n, k);
    }

    /** x as the linear reads it: itself for the decode GEMV (≤ 8 rows) or f32 weights; else cast into the scratch, as tensor cores take both operands in the weights' dtype. */
    private long linearInput(Tensor x, int dt) {
        int m = x.size(0), k = x.size(1);
        if (m <= CudaOps.GEMV_MAX_M || dt == KernelParams.DTYPE_F32) return ptr(x);
        long cast = scratch((long) m * k * 2);
        ops().cast(ptr(x), cast, dt, (long) m * k);
        return cast;
    }

    /** out (M, N) = x · (the N weight rows at w)ᵀ + bias (0: none), x from {@link #linearInput}: the GEMV, or cuBLAS then the bias. */
    private static void linearRowsOf(CudaOps o, long x, long w, int dt, long bias, long out, int m, int n, int k) {
        if (m <= CudaOps.GEMV_MAX_M) {
            o.linearRows(x, w, dt, bias, out, m, n, k);
            return;
        }
        o.linear(x, w, dt, out, m, n, k, 0f);
        if (bias != 0) o.addRow(out, bias, out, m, n);
    }

    /**
     * One GEMM (or decode GEMV) per part over that part's rows of w, writing the part directly; x cast to the weights'
     * dtype once for all of them. {@code full} is not touched: no product is written whole and copied out.
     */
    @Override public void linearParts(Tensor x, Tensor w, Tensor bias, Tensor full, Tensor... parts) {
        int rows = x.size(0);
        if (rows <= CudaOps.GEMV_MAX_M && parts.length <= 3) {   // a decode step: one GEMV writing the parts
            if (!GEMV_PARTS) {
                Kernels.super.linearParts(x, w, bias, full, parts);
                return;
            }
            ops().linearRowsParts(ptr(x), ptr(w), code(w.dtype()), ptr(bias), ptrs(parts), widths(parts), rows, w.size(0), x.size(1));
            return;
        }
        if (!CudaOps.splitGemm(rows)) {
            Kernels.super.linearParts(x, w, bias, full, parts);
            return;
        }
        int m = x.size(0), k = x.size(1), dt = code(w.dtype());
        long xa = linearInput(x, dt), row = 0, eb = w.dtype().byteSize();
        for (Tensor p : parts) {
            int n = p.size(1);
            linearRowsOf(ops(), xa, ptr(w) + row * k * eb, dt, bias == null ? 0 : ptr(bias) + row * 4, ptr(p), m, n, k);
            row += n;
        }
    }

    @Override public void addRmsNorm(Tensor h, Tensor o, Tensor w, float eps, Tensor out) {   // rmsnorm.cu's residual path: one launch
        ops().rmsNorm(ptr(h), ptr(o), ptr(h), ptr(w), KernelParams.DTYPE_F32, ptr(out), (int) (h.numel() / w.numel()), (int) w.numel(), eps);
    }

    @Override public void rmsNormGated(Tensor y, Tensor z, Tensor w, float eps, Tensor out) {   // rmsnorm.cu's gate: one launch
        ops().rmsNorm(ptr(y), 0, 0, ptr(w), KernelParams.DTYPE_F32, ptr(out), (int) (y.numel() / w.numel()), (int) w.numel(), eps, ptr(z));
    }

    @Override public void rmsNorm(Tensor x, Tensor w, float eps, Tensor out) {
        ops().rmsNorm(ptr(x), 0, 0, ptr(w), KernelParams.DTYPE_F32, ptr(out), (int) (x.numel() / w.numel()), (int) w.numel(), eps);
    }

    @Override public void add(Tensor a, Tensor b, Tensor out) { ops().add(ptr(a), ptr(b), ptr(out), a.numel()); }

    @Override public void silu(Tensor x, Tensor out) { ops().silu(ptr(x), ptr(out), x.numel()); }

    @Override public void softplus(Tensor x, Tensor out) { ops().softplus(ptr(x), ptr(out), x.numel()); }

    @Override public void mulSilu(Tensor y, Tensor z, Tensor out) { ops().mulSilu(ptr(y), ptr(z), ptr(out), y.numel()); }

    @Override public void causalConv1d(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = x.size(0), l = x.size(1), c = x.size(2);
        ops().causalConv1d(ptr(x), (long) l * c, c, ptr(w), ptr(bias), KernelParams.DTYPE_F32, ptr(out), 0, 0, b, l, c, w.size(1), silu);
    }

    /** One launch: the kernel reads the history from the state and leaves the last K inputs there (no copies). */
    @Override public void causalConv1dContinue(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        int b = x.size(0), l = x.size(1), c = x.size(2);
        ops().causalConv1d(ptr(x), (long) l * c, c, ptr(w), ptr(bias), KernelParams.DTYPE_F32, ptr(out), ptr(state), ptr(state), b, l, c, w.size(1), silu);
    }

    /** One launch (ssd_step computing dt and logA) where the step kernel applies; else the three ops. */
    @Override public void ssdStepWithDt(Ssd s, Tensor dtRaw, Tensor dtBias, Tensor a, float lo, float hi) {
        if (!CudaOps.SSD_STEP_DT || !CudaOps.ssdStepApplies(1, s.stateSize(), ptr(s.state()), ptr(s.bm()), ptr(s.cm()))) {
            Kernels.super.ssdStepWithDt(s, dtRaw, dtBias, a, lo, hi);
            return;
        }
        ops().ssdStepWithDt(ptr(s.x()), ptr(dtRaw), ptr(dtBias), ptr(a), lo, hi, ptr(s.scale()), ptr(s.logA()), ptr(s.bm()), ptr(s.cm()),
                ptr(s.d()), ptr(s.state()), ptr(s.out()), s.batch(), s.heads(), s.headDim(), s.groups(), s.stateSize());
    }

    /** One launch: the conv kernel writes each channel into its part (no whole output, no copies). */
    @Override public void causalConv1dSplit(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor... parts) {
        int b = x.size(0), l = x.size(1), c = x.size(2);
        if (!CudaOps.CONV_SPLIT) {   // as before (to compare): the whole output, then a copy per part
            long whole = scratch(4L * b * l * c), col = 0;
            ops().causalConv1d(ptr(x), (long) l * c, c, ptr(w), ptr(bias), KernelParams.DTYPE_F32, whole, ptr(state), ptr(state), b, l, c, w.size(1), silu);
            for (Tensor p : parts) {
                long pw = p.dim(2);
                ops().copyStrided(whole, ptr(p), col, 0, new long[] {(long) b * l, pw}, new long[] {c, 1}, new long[] {pw, 1}, 4);
                col += pw;
            }
            return;
        }
        int s1 = parts[0].size(2), s2 = parts.length > 1 ? s1 + parts[1].size(2) : c;
        ops().causalConv1d(ptr(x), (long) l * c, c, ptr(w), ptr(bias), KernelParams.DTYPE_F32, ptr(parts[0]), parts.length > 1 ? ptr(parts[1]) : 0,
                parts.length > 2 ? ptr(parts[2]) : 0, s1, s2, ptr(state), ptr(state), b, l, c, w.size(1), silu);
    }

    /** One launch (linear_rows_1_conv) where the weights are the GEMV's dtypes; else the two ops. */
    @Override public void linearConvStep(Tensor x, Tensor w, Tensor bias, Tensor out, long convFrom, Tensor convState, Tensor convW,
                                         Tensor convBias, boolean silu, Tensor convOut) {
        if (!CudaOps.GEMV_CONV || !gemvReads(w.dtype()) || convW.dtype() != DType.F32 || convBias != null && convBias.dtype() != DType.F32) {
            Kernels.super.linearConvStep(x, w, bias, out, convFrom, convState, convW, convBias, silu, convOut);
            return;
        }
        ops().linearRowsConvStep(ptr(x), ptr(w), code(w.dtype()), ptr(bias), ptr(out), w.size(0), x.size(1), ptr(convState), ptr(convW),
                ptr(convBias), KernelParams.DTYPE_F32, ptr(convOut), Math.toIntExact(convFrom), convW.size(0), convW.size(1), silu);
    }

    private static boolean gemvReads(DType d) { return d == DType.F32 || d == DType.BF16 || d == DType.F16; }

    /** One launch writing each part ({@link CudaOps#causalConv1dStepParts}); MAMBA4J_CUDA_GEMV_PARTS=0: the step, then copies. */
    @Override public void causalConv1dStepParts(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor whole, Tensor... parts) {
        if (!GEMV_PARTS || parts.length > 3) {
            Kernels.super.causalConv1dStepParts(state, x, w, bias, silu, whole, parts);
            return;
        }
        ops().causalConv1dStepParts(ptr(state), ptr(x), ptr(w), ptr(bias), KernelParams.DTYPE_F32, ptrs(parts), widths(parts), x.size(0), x.size(1),
                w.size(1), silu);
    }

    private static long[] ptrs(Tensor[] parts) {
        long[] p = new long[parts.length];
        for (int i = 0; i < parts.length; i++) p[i] = ptr(parts[i]);
        return p;
    }

    /** The column count of each (rows, C_i) part. */
    private static int[] widths(Tensor[] parts) {
        int[] w = new int[parts.length];
        for (int i = 0; i < parts.length; i++) w[i] = parts[i].size(1);
        return w;
    }

    @Override public void causalConv1dStep(Tensor state, Tensor x, Tensor w, Tensor bias, boolean silu, Tensor out) {
        ops().causalConv1dStep(ptr(state), ptr(x), ptr(w), ptr(bias), KernelParams.DTYPE_F32, ptr(out), x.size(0), x.size(1), w.size(1), silu);
    }

    @Override public void selectiveScan(SelectiveScan s) {
        int b = s.batch(), l = s.length(), e = s.channels(), n = s.stateSize();
        if (l == 1 && s.state() != null) {   // a decode step: thread per (b, e), the state advanced in place
            ops().selectiveScanStep(ptr(s.state()), ptr(s.u()), ptr(s.delta()), ptr(s.deltaBias()), s.deltaSoftplus(), ptr(s.a()),
                    ptr(s.bm()), n, ptr(s.cm()), n, ptr(s.d()), ptr(s.z()), ptr(s.out()), b, e, n);
            return;
        }
        if (n > CudaOps.MAX_SCAN_STATE)
            throw new UserInputException("selective scan: state size N = " + n + " > " + CudaOps.MAX_SCAN_STATE + " is not supported by the cuda backend");
        ops().selectiveScan(CudaOps.Scan.contiguous(ptr(s.u()), ptr(s.delta()), ptr(s.deltaBias()), s.deltaSoftplus(), ptr(s.a()),
                ptr(s.bm()), ptr(s.cm()), ptr(s.d()), ptr(s.z()), ptr(s.state()), ptr(s.state()), ptr(s.out()), b, l, e, n));
    }

    /**
     * At batch 1, Δ = dtLow · dtProjᵀ computed by each channel's lanes inside the scan step (scan.cu), and written to
     * args.delta; at larger batches the projection and the step run apart: every (sequence, channel) group re-reads its
     * channel's row of dt_proj, and on an H100 mamba-1.4b at batch 64 decoded 10,366 tok/s fused against 13,396 apart
     * (batch 1: 487 against 463, programmatic launch on in both).
     */
    @Override public void selectiveScanStep(Tensor dtLow, Tensor dtProj, SelectiveScan s) {
        if (!CudaOps.FUSED_DECODE || s.batch() > 1 || !dtProj.dtype().isFloating() || dtProj.dtype() == DType.F64) {
            Kernels.super.selectiveScanStep(dtLow, dtProj, s);
            return;
        }
        int b = s.batch(), e = s.channels(), n = s.stateSize(), r = dtLow.size(1);
        ops().selectiveScanStep(ptr(s.state()), ptr(s.u()), ptr(s.delta()), ptr(s.deltaBias()), s.deltaSoftplus(), ptr(s.a()),
                ptr(s.bm()), n, ptr(s.cm()), n, ptr(s.d()), ptr(s.z()), ptr(s.out()), b, e, n, ptr(dtProj), code(dtProj.dtype()), ptr(dtLow), r, r);
    }

    /**
     * Whole sequences (L ≥ {@link CudaOps#SSD_CHUNKED_MIN_LENGTH}) by the chunked kernels, with their own chunk of 64
     * steps; short ones and decode steps by the recurrence. Every chunk size gives the same result up to rounding, so
     * {@code chunk} (which only decides the saved states of the training ops) is not needed here.
     */
    @Override public void ssd(Ssd s, int chunk) { ssd(s, chunk, false); }

    /** {@code halfOperands}: the chunked SSD's products on bf16 tensor cores where {@link CudaOps#ssdBf16Tiles} says. */
    @Override public void ssd(Ssd s, int chunk, boolean halfOperands) {
        int b = s.batch(), l = s.length(), h = s.heads(), p = s.headDim(), g = s.groups(), n = s.stateSize();
        if (n > CudaOps.MAX_SSD_STATE)
            throw new UserInputException("ssd: state size N = " + n + " > " + CudaOps.MAX_SSD_STATE + " is not supported by the cuda backend");
        if (CudaOps.ssdUsesChunks(l)) {
            boolean fused = ops().ssdFusedApplies(b, h, p, n, ptr(s.x()), ptr(s.bm()), ptr(s.cm()), halfOperands);
            long work = scratch(ops().ssdChunkedScratchBytes(b, l, h, p, g, n, fused));
            ops().ssdChunked(ptr(s.x()), ptr(s.logA()), ptr(s.scale()), ptr(s.bm()), ptr(s.cm()), ptr(s.d()), ptr(s.state()), ptr(s.out()),
                    work, b, l, h, p, g, n, halfOperands);
            return;
        }
        ops().ssd(ptr(s.x()), ptr(s.logA()), ptr(s.scale()), ptr(s.bm()), ptr(s.cm()), ptr(s.d()), ptr(s.state()), ptr(s.out()),
                b, l, h, p, g, n);
    }

    @Override public void softplusClamp(Tensor x, Tensor bias, float lo, float hi, Tensor out) {
        int h = x.size(x.rank() - 1);
        ops().softplusClamp(ptr(x), ptr(bias), ptr(out), x.numel() / h, h, lo, hi);
    }

    @Override public void mulColumns(Tensor x, Tensor a, Tensor out) {
        ops().mulRow(ptr(x), ptr(a), ptr(out), x.numel() / a.numel(), (int) a.numel());
    }

    @Override public void layerNorm(Tensor x, Tensor w, Tensor b, float eps, Tensor out) {
        int d = (int) w.numel();
        ops().layerNorm(ptr(x), ptr(w), ptr(b), ptr(out), (int) (x.numel() / d), d, eps);
    }

    @Override public void geluTanh(Tensor x, Tensor out) { ops().geluTanh(ptr(x), ptr(out), x.numel()); }

    @Override public void rotary(Tensor x, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor out) {
        ops().rotary(ptr(x), ptr(cos), ptr(sin), ptr(out), x.size(0), x.size(1), x.size(2), x.size(3), rotaryDim, pos0);
    }

    @Override public void attention(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor probs) {
        int b = q.size(0), t = q.size(1), h = q.size(2), dh = q.size(3), hkv = k.size(2);
        ops().attention(ptr(q), ptr(k), ptr(v), ptr(out), ptr(lse), ptr(probs), (long) t * hkv * dh, b, t, t, h, hkv, dh, scale);
    }

    @Override public void attentionDecode(Tensor q, Tensor kCache, Tensor vCache, int len, float scale, Tensor out) {
        int b = q.size(0), h = q.size(1), dh = q.size(2), c = kCache.size(1), hkv = kCache.size(2);
        ops().attention(ptr(q), ptr(kCache), ptr(vCache), ptr(out), 0, 0, (long) c * hkv * dh, b, 1, len, h, hkv, dh, scale);
    }

    @Override public void crossEntropy(Tensor logits, Tensor targets, float scale, Tensor dLogits, Tensor loss) {
        int m = logits.size(0), v = logits.size(1);
        long rows = scratch(8L * m + 16);
        ops().crossEntropy(ptr(logits), ptr(targets), ptr(dLogits), ptr(loss), loss.dtype() == DType.F64, rows, rows + 8L * m, m, v, scale);
    }

    // ------------------------------------------------------------------ training: refused, naming the op

    private static UserInputException training(String op) { return new UserInputException("cuda: " + op + TRAINING); }

    @Override public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor out, boolean accumulate) {
        int m = out.size(0), n = out.size(1), k = transA ? a.size(0) : a.size(1);
        ops().matmul(ptr(a), transA, ptr(b), transB, ptr(out), m, n, k, accumulate ? 1f : 0f);
    }


    @Override public void embeddingBackward(Tensor ids, Tensor dOut, Tensor dWeight) { throw training("embeddingBackward"); }
    @Override public void sumRows(Tensor x, Tensor out, boolean accumulate) { throw training("sumRows"); }
    @Override public void matrixDistance(Tensor logA, Tensor bm, Tensor cm, Tensor d, Tensor target, Tensor dLogA, Tensor dBm, Tensor dCm,
                                         Tensor dD, Tensor loss) { throw training("matrixDistance"); }
    @Override public void rowDistance(Tensor x, Tensor target, Tensor dx, Tensor loss) { throw training("rowDistance"); }
    @Override public void softCrossEntropy(Tensor student, Tensor teacher, double tau, Tensor dStudent, Tensor loss) { throw training("softCrossEntropy"); }
    @Override public void rmsNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw) { throw training("rmsNormBackward"); }
    @Override public void siluBackward(Tensor x, Tensor dy, Tensor dx) { throw training("siluBackward"); }
    @Override public void softplusBackward(Tensor x, Tensor dy, Tensor dx) { throw training("softplusBackward"); }
    @Override public void mulSiluBackward(Tensor y, Tensor z, Tensor dOut, Tensor dy, Tensor dz) { throw training("mulSiluBackward"); }
    @Override public void causalConv1dBackward(Tensor x, Tensor w, Tensor bias, boolean silu, Tensor dOut, Tensor dx, Tensor dw, Tensor dbias) { throw training("causalConv1dBackward"); }
    @Override public void selectiveScanForward(SelectiveScan args, int chunk, Tensor chunkStates) { throw training("selectiveScanForward"); }
    @Override public void selectiveScanBackward(SelectiveScan args, int chunk, Tensor chunkStates, Tensor dOut, SelectiveScanGrads grads) { throw training("selectiveScanBackward"); }
    @Override public void sumSquares(Tensor x, Tensor out, boolean accumulate) { throw training("sumSquares"); }
    @Override public void scale(Tensor x, float s) { throw training("scale"); }
    @Override public void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) { throw training("adamW"); }
    @Override public void ssdForward(Ssd args, int chunk, Tensor chunkStates) { throw training("ssdForward"); }
    @Override public void ssdBackward(Ssd args, int chunk, Tensor chunkStates, Tensor dOut, SsdGrads grads) { throw training("ssdBackward"); }
    @Override public void softplusClampBackward(Tensor x, Tensor bias, float lo, float hi, Tensor dy, Tensor dx, Tensor dBias) { throw training("softplusClampBackward"); }
    @Override public void mulColumnsBackward(Tensor x, Tensor a, Tensor dy, Tensor dx, Tensor da) { throw training("mulColumnsBackward"); }
    @Override public void layerNormBackward(Tensor x, Tensor w, float eps, Tensor dy, Tensor dx, Tensor dw, Tensor db) { throw training("layerNormBackward"); }
    @Override public void geluTanhBackward(Tensor x, Tensor dy, Tensor dx) { throw training("geluTanhBackward"); }
    @Override public void rotaryBackward(Tensor dy, Tensor cos, Tensor sin, int rotaryDim, int pos0, Tensor dx) { throw training("rotaryBackward"); }
    @Override public void attentionBackward(Tensor q, Tensor k, Tensor v, float scale, Tensor out, Tensor lse, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) { throw training("attentionBackward"); }
}
