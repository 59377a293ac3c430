package mamba4j.cuda;

import mamba4j.core.UserInputException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One GPU: its primary context, one non-blocking stream that every operation is ordered on, device memory from
 * the stream-ordered pool ({@code cuMemAllocAsync}; {@code cuMemAlloc} where the device has no pools), pinned
 * host staging for transfers, the kernels compiled for its architecture, a cuBLAS handle, events and CUDA graphs.
 * Closing it frees everything it handed out. Device memory is addressed by raw pointers ({@code long}) and sizes:
 * the layer a {@code CudaBackend} sits on.
 *
 * <p>Use from one thread at a time (the context is made current on the calling thread when it changes).
 */
public final class CudaDevice implements AutoCloseable {
    /** Host staging buffer for uploads and downloads of non-pinned memory. */
    static final long STAGING_BYTES = 32L << 20;
    /** cuBLAS workspace, fixed so cuBLAS allocates nothing during stream capture. */
    static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;

    public final Cuda cuda;
    public final int ordinal;
    public final String name;
    public final int ccMajor, ccMinor, smCount;
    /** The most shared memory one block may ask for, opting in (227 KiB on an H100; 48 KiB without opting in). */
    public final int maxSharedPerBlock;
    public final long totalMemory;
    /** True when allocations come from the stream-ordered pool. */
    public final boolean pools;
    private final Driver drv;
    private final int dev;
    private final long ctx;
    private final long stream;
    private final KernelCache cache;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment launchArgs;   // void*[1]: the address of the parameter struct
    private final MemorySegment pointerArg;   // the one 8-byte argument of launchPointer
    private final MemorySegment launchConfig; // CUlaunchConfig of cuLaunchKernelEx, its one attribute after it
    /** Dynamic shared memory a block gets without opting in; past it, each function is raised once (cuFuncSetAttribute). */
    static final int DEFAULT_SHARED_LIMIT = 48 * 1024;
    private final java.util.Map<Long, Integer> sharedOptIn = new java.util.HashMap<>();
    private boolean programmatic;             // kernels launched with programmatic stream serialization (see launch)
    private final Map<Long, Long> allocations = new LinkedHashMap<>();
    private final List<PinnedBuffer> pinned = new ArrayList<>();
    private final List<CudaGraph> graphs = new ArrayList<>();
    private final Map<String, CudaModule> modules = new HashMap<>();
    private final List<CudaModule> loaded = new ArrayList<>();
    private final Map<String, Long> compileMs = new LinkedHashMap<>();
    private PinnedBuffer staging;
    private long cublasHandle, cublasWorkspace;
    private Thread boundThread;
    private boolean closed;

    private CudaDevice(Cuda cuda, int ordinal, KernelCache cache) {
        this.cuda = cuda;
        this.drv = cuda.driver;
        this.ordinal = ordinal;
        this.cache = cache;
        int count = drv.deviceCount();
        if (ordinal < 0 || ordinal >= count)
            throw new UserInputException("--device cuda:" + ordinal + ": this machine has " + count + " CUDA device" + (count == 1 ? "" : "s")
                    + (count > 0 ? " (cuda:0" + (count > 1 ? " to cuda:" + (count - 1) : "") + ")" : ""));
        dev = drv.device(ordinal);
        name = drv.deviceName(dev);
        ccMajor = drv.attribute(dev, Driver.ATTR_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = drv.attribute(dev, Driver.ATTR_COMPUTE_CAPABILITY_MINOR);
        smCount = drv.attribute(dev, Driver.ATTR_MULTIPROCESSOR_COUNT);
        maxSharedPerBlock = drv.attribute(dev, Driver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        totalMemory = drv.totalMemory(dev);
        ctx = drv.primaryCtxRetain(dev);
        drv.ctxSetCurrent(ctx);
        boundThread = Thread.currentThread();
        stream = drv.streamCreate(Driver.STREAM_NON_BLOCKING);
        pools = drv.hasMemPools() && drv.attribute(dev, Driver.ATTR_MEMORY_POOLS_SUPPORTED) == 1;
        if (pools) drv.setPoolReleaseThreshold(dev, Long.MAX_VALUE);   // keep freed blocks cached in the pool
        launchArgs = arena.allocate(ValueLayout.ADDRESS);
        pointerArg = arena.allocate(ValueLayout.JAVA_LONG);
        launchConfig = arena.allocate(KernelParams.LAUNCH_CONFIG.byteSize() + KernelParams.LAUNCH_ATTRIBUTE.byteSize(), 16);
        MemorySegment attr = launchConfig.asSlice(KernelParams.LAUNCH_CONFIG.byteSize());
        attr.set(ValueLayout.JAVA_INT, KernelParams.offset(KernelParams.LAUNCH_ATTRIBUTE, "id"), KernelParams.ATTR_PROGRAMMATIC_STREAM_SERIALIZATION);
        attr.set(ValueLayout.JAVA_INT, KernelParams.offset(KernelParams.LAUNCH_ATTRIBUTE, "value"), 1);
        launchConfig.set(ValueLayout.ADDRESS, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "attrs"), attr);
        launchConfig.set(ValueLayout.JAVA_INT, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "numAttrs"), 1);
        launchConfig.set(ValueLayout.JAVA_LONG, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "hStream"), stream);
        programmatic = programmaticLaunchWanted(drv.hasLaunchEx(), ccMajor, System.getenv("MAMBA4J_CUDA_PDL"), KernelProfile.ENABLED);
    }

    /**
     * Whether kernels are launched with programmatic dependent launch (Hopper and later, a driver with
     * cuLaunchKernelEx): a kernel may then start while the one before it on the stream finishes, runs what depends on
     * no earlier kernel (a GEMV's first weight loads) and waits in {@code PDL_WAIT} (griddepcontrol.wait) for the rest,
     * so the launch latency and the ramp of the memory pipeline between two decode kernels overlap the previous one.
     * Off with {@code MAMBA4J_CUDA_PDL=0} and while profiling (each launch is timed alone then).
     */
    static boolean programmaticLaunchWanted(boolean driverHasLaunchEx, int ccMajor, String env, boolean profiling) {
        return driverHasLaunchEx && ccMajor >= 9 && !"0".equals(env) && !profiling;
    }

    /** Whether launches are programmatic (see {@link #programmaticLaunchWanted}); false after the driver refused one. */
    public boolean programmaticLaunch() { return programmatic; }

    /** Opens device {@code ordinal} with the libraries of this machine and the default kernel cache. */
    public static CudaDevice open(int ordinal) {
        return open(Cuda.get(), ordinal, new KernelCache(KernelCache.defaultDir(System.getenv(), Path.of(System.getProperty("user.home")))));
    }

    public static CudaDevice open(Cuda cuda, int ordinal, KernelCache cache) { return new CudaDevice(cuda, ordinal, cache); }

    /** The NVRTC architecture of this device, e.g. {@code sm_90}. */
    public String arch() { return "sm_" + ccMajor + ccMinor; }

    public long stream() { return stream; }

    public String describe() {
        return String.format("cuda:%d %s (%s, %d SMs, %.1f GiB, %s%s)", ordinal, name, arch(), smCount, totalMemory / (double) (1L << 30),
                pools ? "stream-ordered pool" : "cuMemAlloc", programmatic ? ", programmatic dependent launch" : "");
    }

    /** Makes the context current on this thread if another thread used it last. */
    void bind() {
        if (closed) throw new IllegalStateException("cuda:" + ordinal + " is closed");
        if (Thread.currentThread() != boundThread) {
            drv.ctxSetCurrent(ctx);
            boundThread = Thread.currentThread();
        }
    }

    // ---------------------------------------------------------------- memory

    /** {@code bytes} of device memory, stream-ordered on this device's stream; out of memory is a user error naming the request. */
    public long alloc(long bytes) {
        bind();
        if (bytes <= 0) throw new IllegalArgumentException("cuda alloc of " + bytes + " bytes");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
            int r = pools ? drv.memAllocAsyncRaw(out, bytes, stream) : drv.memAllocRaw(out, bytes);
            if (r == Driver.CUDA_ERROR_OUT_OF_MEMORY) {   // pending stream-ordered frees may make room: wait for them once
                synchronize();
                r = pools ? drv.memAllocAsyncRaw(out, bytes, stream) : drv.memAllocRaw(out, bytes);
                if (r == Driver.CUDA_ERROR_OUT_OF_MEMORY) throw outOfMemory(bytes);
            }
            drv.check(r, pools ? "cuMemAllocAsync(" + bytes + ")" : "cuMemAlloc_v2(" + bytes + ")");
            long ptr = out.get(ValueLayout.JAVA_LONG, 0);
            allocations.put(ptr, bytes);
            return ptr;
        }
    }

    UserInputException outOfMemory(long bytes) {
        long[] info = drv.memGetInfo();
        return new UserInputException(String.format("cuda:%d (%s): out of device memory allocating %s; %s free of %s (%s held by mamba4j)",
                ordinal, name, bytes(bytes), bytes(info[0]), bytes(info[1]), bytes(allocatedBytes())));
    }

    static String bytes(long b) {
        if (b >= 1L << 30) return String.format("%.2f GiB", b / (double) (1L << 30));
        if (b >= 1L << 20) return String.format("%.1f MiB", b / (double) (1L << 20));
        return b + " bytes";
    }

    /** Frees memory from {@link #alloc} (stream-ordered: safe while kernels that use it are still queued). */
    public void free(long ptr) {
        bind();
        if (allocations.remove(ptr) == null)
            throw new IllegalArgumentException("cuda free of 0x" + Long.toHexString(ptr) + ": not allocated by cuda:" + ordinal + " (or freed twice)");
        if (pools) drv.memFreeAsync(ptr, stream);
        else drv.memFree(ptr);
    }

    /** Bytes currently allocated through this device. */
    public long allocatedBytes() { return allocations.values().stream().mapToLong(Long::longValue).sum(); }

    public int allocationCount() { return allocations.size(); }

    /** {free, total} device memory in bytes (cuMemGetInfo). */
    public long[] memInfo() {
        bind();
        return drv.memGetInfo();
    }

    /** Page-locked host memory, for fast and truly asynchronous transfers. */
    public PinnedBuffer pinned(long bytes) {
        bind();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_LONG);
            int r = drv.memHostAllocRaw(out, bytes, 0);
            if (r == Driver.CUDA_ERROR_OUT_OF_MEMORY)
                throw new UserInputException("cuda:" + ordinal + ": out of pinned host memory allocating " + bytes(bytes));
            drv.check(r, "cuMemHostAlloc(" + bytes + ")");
            PinnedBuffer p = new PinnedBuffer(this, MemorySegment.ofAddress(out.get(ValueLayout.JAVA_LONG, 0)).reinterpret(bytes));
            pinned.add(p);
            return p;
        }
    }

    void freePinned(PinnedBuffer p) {
        if (pinned.remove(p)) {
            bind();
            drv.memFreeHost(p.address());
        }
    }

    private PinnedBuffer staging() {
        if (staging == null) staging = pinned(STAGING_BYTES);
        return staging;
    }

    /** Copies host memory (any segment) to the device through the pinned staging buffer; returns when the copy is done. */
    public void upload(long dst, MemorySegment src) {
        bind();
        PinnedBuffer st = staging();
        for (long off = 0, n = src.byteSize(); off < n; off += STAGING_BYTES) {
            long len = Math.min(STAGING_BYTES, n - off);
            MemorySegment.copy(src, off, st.segment(), 0, len);
            drv.memcpyHtoDAsync(dst + off, st.address(), len, stream);
            drv.streamSynchronize(stream);   // the staging buffer is reused by the next piece
        }
    }

    /** Copies device memory into a host segment through the pinned staging buffer (waits for queued work first). */
    public void download(MemorySegment dst, long src) {
        bind();
        PinnedBuffer st = staging();
        for (long off = 0, n = dst.byteSize(); off < n; off += STAGING_BYTES) {
            long len = Math.min(STAGING_BYTES, n - off);
            drv.memcpyDtoHAsync(st.address(), src + off, len, stream);
            drv.streamSynchronize(stream);
            MemorySegment.copy(st.segment(), 0, dst, off, len);
        }
    }

    /** Asynchronous host-to-device copy from pinned memory (the buffer must stay untouched until the stream reaches it). */
    public void uploadAsync(long dst, PinnedBuffer src, long srcOffset, long bytes) {
        bind();
        drv.memcpyHtoDAsync(dst, src.address() + srcOffset, bytes, stream);
    }

    /** Asynchronous device-to-host copy into pinned memory; valid after {@link #synchronize}. */
    public void downloadAsync(PinnedBuffer dst, long dstOffset, long src, long bytes) {
        bind();
        drv.memcpyDtoHAsync(dst.address() + dstOffset, src, bytes, stream);
    }

    /** Device-to-device copy, ordered on the stream. */
    public void copy(long dst, long src, long bytes) {
        bind();
        drv.memcpyDtoDAsync(dst, src, bytes, stream);
    }

    /** Sets {@code bytes} bytes to zero, ordered on the stream. */
    public void zero(long dst, long bytes) {
        bind();
        drv.memsetD8Async(dst, (byte) 0, bytes, stream);
    }

    /** Allocates and uploads. */
    public long upload(float[] a) {
        long p = alloc(Math.max(4, 4L * a.length));
        upload(p, MemorySegment.ofArray(a));
        return p;
    }

    public long upload(int[] a) {
        long p = alloc(Math.max(4, 4L * a.length));
        upload(p, MemorySegment.ofArray(a));
        return p;
    }

    public long upload(short[] a) {
        long p = alloc(Math.max(2, 2L * a.length));
        upload(p, MemorySegment.ofArray(a));
        return p;
    }

    public float[] downloadFloats(long src, int n) {
        float[] out = new float[n];
        download(MemorySegment.ofArray(out), src);
        return out;
    }

    /** Waits for everything queued on the stream. */
    public void synchronize() {
        bind();
        drv.streamSynchronize(stream);
    }

    // ---------------------------------------------------------------- kernels

    /** NVRTC options every kernel is compiled with (part of the cache key). */
    public List<String> compileOptions() {
        List<String> o = new java.util.ArrayList<>(List.of("--gpu-architecture=" + arch(), "-std=c++17", "-lineinfo"));
        o.addAll(optionDefines(System::getenv));
        if (CudaOps.SCAN_STEP_LANES != CudaOps.SCAN_STEP_LANES_DEFAULT) o.add("-DSCAN_STEP_LANES=" + CudaOps.SCAN_STEP_LANES + "LL");   // scan.cu, to compare
        return List.copyOf(o);
    }

    /** The kernel variants the environment asks for (opt-ins and settings to compare), as -D options. */
    static List<String> optionDefines(java.util.function.UnaryOperator<String> env) {
        List<String> o = new java.util.ArrayList<>();
        if (flag(env, "MAMBA4J_CUDA_SSD_TC")) o.add("-DMAMBA4J_SSD_TENSOR_TILES");   // ssd_chunked.cu's tensor-core tiles (opt-in)
        if (flag(env, "MAMBA4J_CUDA_SSD_TF32")) o.add("-DSSD_TF32_ONE_PASS");   // the SSD's tensor-core products in plain TF32, to compare
        define(o, env, "MAMBA4J_CUDA_GEMV_UNROLL", "GEMV_UNROLL", 16, "the loads in flight per lane must be 1 to 16");   // ops.cu's decode GEMV
        define(o, env, "MAMBA4J_CUDA_GEMV_MIN_BLOCKS", "GEMV_MIN_BLOCKS", 8, "must be 1 to 8");   // the batch-1 GEMV's resident blocks (registers capped)
        return o;
    }

    /**
     * MAMBA4J_CUDA_SSD_BF16: 1, the chunked SSD's five kernels multiply on tensor cores with bf16 operands and float32
     * sums (mamba_ssm's precision on a bf16 model; about 2^-9 relative a product) on sm_80 and later; auto (-1), where
     * the model's weights are bf16 or f16 ({@link CudaOps#ssdBf16Tiles}); unset, empty or 0, never. Opt-in until the
     * kernels have run on a GPU (written and checked on the CPU emulator); auto is then meant to become the default.
     */
    static int ssdBf16(java.util.function.UnaryOperator<String> env) {
        String v = env.apply("MAMBA4J_CUDA_SSD_BF16");
        if ("auto".equals(v)) return -1;
        if (v != null && !v.isEmpty() && !v.equals("0") && !v.equals("1"))
            throw new mamba4j.core.UserInputException("MAMBA4J_CUDA_SSD_BF16=" + v + ": must be 0, 1 or auto");
        return "1".equals(v) ? 1 : 0;
    }

    /** An on/off variable: 1 on; unset, empty or 0 off; another value is refused naming it. */
    private static boolean flag(java.util.function.UnaryOperator<String> env, String variable) {
        String v = env.apply(variable);
        if (v == null || v.isEmpty() || v.equals("0")) return false;
        if (v.equals("1")) return true;
        throw new mamba4j.core.UserInputException(variable + "=" + v + ": must be 0 or 1");
    }

    /** -Dmacro=N for the variable's value N in 1..max (unset or empty: nothing); another value is refused naming it. */
    private static void define(List<String> o, java.util.function.UnaryOperator<String> env, String variable, String macro, int max, String rule) {
        String v = env.apply(variable);
        if (v == null || v.isEmpty()) return;
        if (!v.matches("[1-9][0-9]?") || Integer.parseInt(v) > max)
            throw new mamba4j.core.UserInputException(variable + "=" + v + ": " + rule);
        o.add("-D" + macro + "=" + v);
    }

    /** The module of a kernel source resource, compiled for this device on first use (or read from the cache). */
    public CudaModule module(String file) {
        CudaModule m = modules.get(file);
        if (m == null) {
            m = loadModule(file, KernelSources.read(file));
            modules.put(file, m);
        }
        return m;
    }

    /** Compiles (or reads from the cache) and loads a source under {@code file}, its name in diagnostics and the cache. */
    public CudaModule loadModule(String file, String source) {
        bind();
        Map<String, String> headers = KernelSources.headers();
        List<String> options = compileOptions();
        String key = KernelCache.key(source, headers, arch(), options, cuda.nvrtcVersion);
        var cached = cache.read(file, arch(), key);
        if (cached.isPresent()) {
            try {
                return load(file, cached.get());
            } catch (CudaException e) {
                // a damaged cache entry: compile again and overwrite it
            }
        }
        long t0 = System.nanoTime();
        byte[] cubin = cuda.nvrtc.compile(file, source, headers, options);
        compileMs.put(file, (System.nanoTime() - t0) / 1_000_000);
        cache.write(file, arch(), key, cubin);
        return load(file, cubin);
    }

    private CudaModule load(String file, byte[] cubin) {
        MemorySegment img = arena.allocate(cubin.length + 1L, 16);
        MemorySegment.copy(MemorySegment.ofArray(cubin), 0, img, 0, cubin.length);
        CudaModule m = new CudaModule(this, file, drv.moduleLoadData(img, file));
        loaded.add(m);
        return m;
    }

    /** Milliseconds NVRTC took per compiled file this session (files read from the cache are absent). */
    public Map<String, Long> compileTimes() { return compileMs; }

    public KernelCache kernelCache() { return cache; }

    long functionOf(long module, String name) {
        bind();
        return drv.moduleGetFunction(module, name);
    }

    /** Launches a kernel whose only argument is the parameter struct {@code params} (passed by value). */
    public void launch(CudaModule.Function fn, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, KernelParams.Block params) {
        bind();
        if (sharedBytes > DEFAULT_SHARED_LIMIT && sharedOptIn.getOrDefault(fn.handle(), 0) < sharedBytes) {
            drv.funcSetAttribute(fn.handle(), Driver.FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes);
            sharedOptIn.put(fn.handle(), sharedBytes);
        }
        MemorySegment struct = params.segment();
        launchArgs.set(ValueLayout.ADDRESS, 0, struct);   // cuLaunchKernel copies the arguments before returning
        if (KernelProfile.ENABLED) profiled(fn.name() + " <<<" + gx + "," + gy + "," + gz + ">>>", () -> drv.launchKernel(fn.handle(), gx, gy, gz, bx, by, bz, sharedBytes, stream, launchArgs, fn.name()));
        else if (programmatic && fn.programmatic()) launchProgrammatic(fn, gx, gy, gz, bx, by, bz, sharedBytes);
        else drv.launchKernel(fn.handle(), gx, gy, gz, bx, by, bz, sharedBytes, stream, launchArgs, fn.name());
    }

    /**
     * A launch that may overlap the kernel before it: the kernel calls PDL_WAIT before it reads or writes anything an
     * earlier kernel touches (every kernel of kernels/ but the profiler's spin; ProgrammaticLaunchTest checks each). When
     * the driver refuses the attribute, launches go back to plain ones for the rest of the session.
     */
    private void launchProgrammatic(CudaModule.Function fn, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes) {
        // CUlaunchConfig begins with these seven unsigned ints, in this order (ProgrammaticLaunchTest checks the layout)
        launchConfig.set(ValueLayout.JAVA_INT, 0, gx);
        launchConfig.set(ValueLayout.JAVA_INT, 4, gy);
        launchConfig.set(ValueLayout.JAVA_INT, 8, gz);
        launchConfig.set(ValueLayout.JAVA_INT, 12, bx);
        launchConfig.set(ValueLayout.JAVA_INT, 16, by);
        launchConfig.set(ValueLayout.JAVA_INT, 20, bz);
        launchConfig.set(ValueLayout.JAVA_INT, 24, sharedBytes);
        try {
            drv.launchKernelEx(launchConfig, fn.handle(), launchArgs, fn.name());
        } catch (CudaException e) {
            if (capturing) throw e;   // capture() retries the whole capture with plain launches
            programmatic = false;
            drv.launchKernel(fn.handle(), gx, gy, gz, bx, by, bz, sharedBytes, stream, launchArgs, fn.name());
        }
    }

    /** Runs {@code body} (one launch) between two events and adds its GPU time to {@link KernelProfile} under {@code name}. */
    void profiled(String name, Runnable body) {
        long start = drv.eventCreate(0), end = drv.eventCreate(0);
        try {
            MemorySegment args = launchArgs.get(ValueLayout.ADDRESS, 0);        // body's parameter struct (the spin's launch reuses launchArgs)
            launchPointer(module("profile.cu").function("spin_ns"), 200_000L);   // the host queues body while this runs
            launchArgs.set(ValueLayout.ADDRESS, 0, args);
            drv.eventRecord(start, stream);
            body.run();
            drv.eventRecord(end, stream);
            drv.eventSynchronize(end);
            KernelProfile.add(name, drv.eventElapsedMs(start, end));
        } finally {
            drv.eventDestroy(start);
            drv.eventDestroy(end);
        }
    }

    /** Launches a kernel that takes one 8-byte argument (the self-test's layout check, the profiler's spin). */
    void launchPointer(CudaModule.Function fn, long ptr) {
        bind();
        pointerArg.set(ValueLayout.JAVA_LONG, 0, ptr);   // reused: cuLaunchKernel copies the argument before returning
        launchArgs.set(ValueLayout.ADDRESS, 0, pointerArg);
        drv.launchKernel(fn.handle(), 1, 1, 1, 1, 1, 1, 0, stream, launchArgs, fn.name());
    }

    /** An arena for parameter structs that lives as long as the device. */
    public Arena arena() { return arena; }

    // ---------------------------------------------------------------- timing and graphs

    /** Mean milliseconds per call of {@code body} over {@code reps} calls, measured with events on the stream. */
    public double timeMs(Runnable body, int reps) {
        bind();
        long start = drv.eventCreate(0), end = drv.eventCreate(0);
        try {
            drv.eventRecord(start, stream);
            for (int i = 0; i < reps; i++) body.run();
            drv.eventRecord(end, stream);
            drv.eventSynchronize(end);
            return drv.eventElapsedMs(start, end) / reps;
        } finally {
            drv.eventDestroy(start);
            drv.eventDestroy(end);
        }
    }

    /**
     * Records what {@code body} queues on the stream into a CUDA graph (stream capture, thread-local mode) and
     * instantiates it; nothing runs until {@link CudaGraph#replay}. The body must not allocate, free, copy from
     * pageable memory or synchronize.
     */
    public CudaGraph capture(Runnable body) {
        if (!programmatic) return captureOnce(body);
        try {
            return captureOnce(body);
        } catch (CudaException e) {   // a driver that cannot record programmatic launches into a graph: plain ones
            programmatic = false;
            return captureOnce(body);
        }
    }

    private boolean capturing;

    private CudaGraph captureOnce(Runnable body) {
        bind();
        capturing = true;
        try {
            return record(body);
        } finally {
            capturing = false;
        }
    }

    private CudaGraph record(Runnable body) {
        drv.streamBeginCapture(stream, Driver.CAPTURE_MODE_THREAD_LOCAL);
        long graph;
        try {
            body.run();
        } catch (RuntimeException e) {
            try {
                long g = drv.streamEndCapture(stream);
                if (g != 0) drv.graphDestroy(g);
            } catch (CudaException ignored) {
                // the capture was already invalidated by the failure being reported
            }
            throw e;
        }
        graph = drv.streamEndCapture(stream);
        long exec;
        try {
            exec = drv.graphInstantiate(graph);
        } catch (CudaException e) {
            drv.graphDestroy(graph);
            throw e;
        }
        CudaGraph g = new CudaGraph(this, graph, exec);
        graphs.add(g);
        return g;
    }

    void graphLaunch(long exec) {
        bind();
        drv.graphLaunch(exec, stream);
    }

    void destroyGraph(CudaGraph g) {
        if (graphs.remove(g)) {
            bind();
            drv.graphExecDestroy(g.exec);
            drv.graphDestroy(g.graph);
        }
    }

    /** The cuBLAS handle of this device, bound to its stream with a fixed workspace (created on first use). */
    public long cublas() {
        bind();
        if (cublasHandle == 0) {
            cublasHandle = cuda.cublas.create();
            cuda.cublas.setStream(cublasHandle, stream);
            cublasWorkspace = alloc(CUBLAS_WORKSPACE_BYTES);
            cuda.cublas.setWorkspace(cublasHandle, cublasWorkspace, CUBLAS_WORKSPACE_BYTES);
        }
        return cublasHandle;
    }

    // ---------------------------------------------------------------- close

    /** Frees everything this device handed out and releases the context; the first failure is rethrown at the end. */
    @Override
    public void close() {
        if (closed) return;
        RuntimeException first = null;
        List<Runnable> steps = new ArrayList<>();
        steps.add(this::synchronize);
        for (CudaGraph g : List.copyOf(graphs)) steps.add(() -> destroyGraph(g));
        steps.add(() -> { if (cublasHandle != 0) cuda.cublas.destroy(cublasHandle); cublasHandle = 0; });
        for (Long p : List.copyOf(allocations.keySet())) steps.add(() -> free(p));
        steps.add(this::synchronize);
        for (PinnedBuffer p : List.copyOf(pinned)) steps.add(() -> freePinned(p));
        for (CudaModule m : loaded) steps.add(() -> drv.moduleUnload(m.handle()));
        steps.add(() -> drv.streamDestroy(stream));
        steps.add(() -> drv.primaryCtxRelease(dev));
        for (Runnable s : steps) {
            try {
                s.run();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        closed = true;
        arena.close();
        if (first != null) throw first;
    }
}
