package mamba4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static mamba4j.cuda.NativeLib.A;
import static mamba4j.cuda.NativeLib.I;
import static mamba4j.cuda.NativeLib.L;
import static mamba4j.cuda.NativeLib.intFn;

/**
 * The CUDA driver API ({@code libcuda.so.1}) through FFM: every call checked, a failure thrown as a
 * {@link CudaException} naming the call and cuGetErrorName's name. Handles (CUcontext, CUstream, CUmodule,
 * CUfunction, CUevent, CUgraph, CUgraphExec) and device pointers (CUdeviceptr) are passed as {@code long}.
 * The {@code _v2} symbols are used where the driver exports them (the names cuda.h maps the plain ones to).
 *
 * <p>Thread use: the calls need the device's context current on the calling thread; {@link CudaDevice} makes it so.
 */
public final class Driver {
    // CUdevice_attribute values (cuda.h)
    public static final int ATTR_MAX_THREADS_PER_BLOCK = 1;
    public static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    public static final int ATTR_CLOCK_RATE = 13;
    public static final int ATTR_MEMORY_CLOCK_RATE = 36;
    public static final int ATTR_GLOBAL_MEMORY_BUS_WIDTH = 37;
    public static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public static final int ATTR_MEMORY_POOLS_SUPPORTED = 115;
    public static final int CUDA_SUCCESS = 0;
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    public static final int STREAM_NON_BLOCKING = 1;
    public static final int CAPTURE_MODE_THREAD_LOCAL = 1;
    public static final int MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
    public static final int FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    final NativeLib lib;
    private final MethodHandle cuGetErrorName, cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName,
            cuDeviceGetAttribute, cuDeviceTotalMem, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent,
            cuStreamCreate, cuStreamDestroy, cuStreamSynchronize, cuMemAlloc, cuMemFree, cuMemGetInfo,
            cuMemHostAlloc, cuMemFreeHost, cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync, cuMemsetD32Async,
            cuMemsetD8Async, cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuFuncSetAttribute, cuLaunchKernel,
            cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventElapsedTime, cuEventDestroy, cuStreamBeginCapture,
            cuStreamEndCapture, cuGraphInstantiateWithFlags, cuGraphLaunch, cuGraphExecDestroy, cuGraphDestroy;
    // stream-ordered allocator (CUDA 11.2+); null when the driver lacks it, then cuMemAlloc is used
    private final MethodHandle cuMemAllocAsync, cuMemFreeAsync, cuDeviceGetDefaultMemPool, cuMemPoolSetAttribute;
    // launch with attributes (CUDA 11.8+); null when the driver lacks it, then no programmatic dependent launch
    private final MethodHandle cuLaunchKernelEx;

    Driver(NativeLib lib) {
        this.lib = lib;
        cuGetErrorName = lib.fn("cuGetErrorName", intFn(I, A));
        cuInit = lib.fn("cuInit", intFn(I));
        cuDriverGetVersion = lib.fn("cuDriverGetVersion", intFn(A));
        cuDeviceGetCount = lib.fn("cuDeviceGetCount", intFn(A));
        cuDeviceGet = lib.fn("cuDeviceGet", intFn(A, I));
        cuDeviceGetName = lib.fn("cuDeviceGetName", intFn(A, I, I));
        cuDeviceGetAttribute = lib.fn("cuDeviceGetAttribute", intFn(A, I, I));
        cuDeviceTotalMem = lib.fn("cuDeviceTotalMem_v2", intFn(A, I));
        cuDevicePrimaryCtxRetain = lib.fn("cuDevicePrimaryCtxRetain", intFn(A, I));
        cuDevicePrimaryCtxRelease = lib.fn("cuDevicePrimaryCtxRelease_v2", intFn(I));
        cuCtxSetCurrent = lib.fn("cuCtxSetCurrent", intFn(L));
        cuStreamCreate = lib.fn("cuStreamCreate", intFn(A, I));
        cuStreamDestroy = lib.fn("cuStreamDestroy_v2", intFn(L));
        cuStreamSynchronize = lib.fn("cuStreamSynchronize", intFn(L));
        cuMemAlloc = lib.fn("cuMemAlloc_v2", intFn(A, L));
        cuMemFree = lib.fn("cuMemFree_v2", intFn(L));
        cuMemGetInfo = lib.fn("cuMemGetInfo_v2", intFn(A, A));
        cuMemHostAlloc = lib.fn("cuMemHostAlloc", intFn(A, L, I));
        cuMemFreeHost = lib.fn("cuMemFreeHost", intFn(L));
        cuMemcpyHtoDAsync = lib.fn("cuMemcpyHtoDAsync_v2", intFn(L, L, L, L));
        cuMemcpyDtoHAsync = lib.fn("cuMemcpyDtoHAsync_v2", intFn(L, L, L, L));
        cuMemcpyDtoDAsync = lib.fn("cuMemcpyDtoDAsync_v2", intFn(L, L, L, L));
        cuMemsetD32Async = lib.fn("cuMemsetD32Async", intFn(L, I, L, L));
        cuMemsetD8Async = lib.fn("cuMemsetD8Async", intFn(L, java.lang.foreign.ValueLayout.JAVA_BYTE, L, L));
        cuModuleLoadData = lib.fn("cuModuleLoadData", intFn(A, A));
        cuModuleUnload = lib.fn("cuModuleUnload", intFn(L));
        cuModuleGetFunction = lib.fn("cuModuleGetFunction", intFn(A, L, A));
        cuFuncSetAttribute = lib.fn("cuFuncSetAttribute", intFn(L, I, I));
        cuLaunchKernel = lib.fn("cuLaunchKernel", intFn(L, I, I, I, I, I, I, I, L, A, A));
        cuEventCreate = lib.fn("cuEventCreate", intFn(A, I));
        cuEventRecord = lib.fn("cuEventRecord", intFn(L, L));
        cuEventSynchronize = lib.fn("cuEventSynchronize", intFn(L));
        cuEventElapsedTime = lib.fnFirst(intFn(A, L, L), "cuEventElapsedTime_v2", "cuEventElapsedTime");
        cuEventDestroy = lib.fn("cuEventDestroy_v2", intFn(L));
        cuStreamBeginCapture = lib.fn("cuStreamBeginCapture_v2", intFn(L, I));
        cuStreamEndCapture = lib.fn("cuStreamEndCapture", intFn(L, A));
        cuGraphInstantiateWithFlags = lib.fn("cuGraphInstantiateWithFlags", intFn(A, L, L));
        cuGraphLaunch = lib.fn("cuGraphLaunch", intFn(L, L));
        cuGraphExecDestroy = lib.fn("cuGraphExecDestroy", intFn(L));
        cuGraphDestroy = lib.fn("cuGraphDestroy", intFn(L));
        cuMemAllocAsync = lib.find("cuMemAllocAsync", intFn(A, L, L)).orElse(null);
        cuMemFreeAsync = lib.find("cuMemFreeAsync", intFn(L, L)).orElse(null);
        cuDeviceGetDefaultMemPool = lib.find("cuDeviceGetDefaultMemPool", intFn(A, I)).orElse(null);
        cuMemPoolSetAttribute = lib.find("cuMemPoolSetAttribute", intFn(L, I, A)).orElse(null);
        cuLaunchKernelEx = lib.find("cuLaunchKernelEx", intFn(A, L, A, A)).orElse(null);
    }

    /** cuGetErrorName's name for a CUresult, or "CUresult N" when the driver does not know it. */
    public String errorName(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(A);
            int r = (int) cuGetErrorName.invokeExact(code, p);
            return r == 0 ? NativeLib.cString(p.get(A, 0)) : "CUresult " + code;
        } catch (Throwable t) {
            return "CUresult " + code;
        }
    }

    /** Throws a {@link CudaException} naming the call unless r is CUDA_SUCCESS. */
    public void check(int r, String call) {
        if (r != CUDA_SUCCESS) throw new CudaException(call, r, errorName(r));
    }

    private int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
    }

    // ---------------------------------------------------------------- init and devices

    /** cuInit(0), returning the CUresult unchecked (the caller turns "no device" into a user error). */
    public int initRaw() { return call(cuInit, 0); }

    public int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(I);
            check(call(cuDriverGetVersion, p), "cuDriverGetVersion");
            return p.get(I, 0);
        }
    }

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(I);
            check(call(cuDeviceGetCount, p), "cuDeviceGetCount");
            return p.get(I, 0);
        }
    }

    public int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(I);
            check(call(cuDeviceGet, p, ordinal), "cuDeviceGet(" + ordinal + ")");
            return p.get(I, 0);
        }
    }

    public String deviceName(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(256);
            check(call(cuDeviceGetName, p, 256, dev), "cuDeviceGetName");
            return p.getString(0);
        }
    }

    public int attribute(int dev, int attr) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(I);
            check(call(cuDeviceGetAttribute, p, attr, dev), "cuDeviceGetAttribute(" + attr + ")");
            return p.get(I, 0);
        }
    }

    public long totalMemory(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuDeviceTotalMem, p, dev), "cuDeviceTotalMem_v2");
            return p.get(L, 0);
        }
    }

    public long primaryCtxRetain(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuDevicePrimaryCtxRetain, p, dev), "cuDevicePrimaryCtxRetain");
            return p.get(L, 0);
        }
    }

    public void primaryCtxRelease(int dev) { check(call(cuDevicePrimaryCtxRelease, dev), "cuDevicePrimaryCtxRelease_v2"); }

    public void ctxSetCurrent(long ctx) { check(call(cuCtxSetCurrent, ctx), "cuCtxSetCurrent"); }

    // ---------------------------------------------------------------- streams

    public long streamCreate(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuStreamCreate, p, flags), "cuStreamCreate");
            return p.get(L, 0);
        }
    }

    public void streamDestroy(long stream) { check(call(cuStreamDestroy, stream), "cuStreamDestroy_v2"); }

    public void streamSynchronize(long stream) {
        int r;
        try {
            r = (int) cuStreamSynchronize.invokeExact(stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuStreamSynchronize");
    }

    // ---------------------------------------------------------------- memory

    /** True when this driver exports the stream-ordered allocator. */
    public boolean hasMemPools() { return cuMemAllocAsync != null && cuMemFreeAsync != null; }

    /** cuMemAllocAsync, returning the CUresult; the pointer is written to out[0]. */
    public int memAllocAsyncRaw(MemorySegment out, long bytes, long stream) { return call(cuMemAllocAsync, out, bytes, stream); }

    public void memFreeAsync(long ptr, long stream) { check(call(cuMemFreeAsync, ptr, stream), "cuMemFreeAsync"); }

    /** cuMemAlloc_v2, returning the CUresult; the pointer is written to out[0]. */
    public int memAllocRaw(MemorySegment out, long bytes) { return call(cuMemAlloc, out, bytes); }

    public void memFree(long ptr) { check(call(cuMemFree, ptr), "cuMemFree_v2"); }

    /** {free, total} bytes of the current context's device. */
    public long[] memGetInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(L), t = a.allocate(L);
            check(call(cuMemGetInfo, f, t), "cuMemGetInfo_v2");
            return new long[] {f.get(L, 0), t.get(L, 0)};
        }
    }

    /** Keeps freed pool memory cached instead of returning it to the OS at each synchronize (threshold in bytes). */
    public void setPoolReleaseThreshold(int dev, long bytes) {
        if (cuDeviceGetDefaultMemPool == null || cuMemPoolSetAttribute == null) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuDeviceGetDefaultMemPool, p, dev), "cuDeviceGetDefaultMemPool");
            MemorySegment v = a.allocate(L);
            v.set(L, 0, bytes);
            check(call(cuMemPoolSetAttribute, p.get(L, 0), MEMPOOL_ATTR_RELEASE_THRESHOLD, v), "cuMemPoolSetAttribute(RELEASE_THRESHOLD)");
        }
    }

    /** cuMemHostAlloc (page-locked host memory), returning the CUresult; the address is written to out[0]. */
    public int memHostAllocRaw(MemorySegment out, long bytes, int flags) { return call(cuMemHostAlloc, out, bytes, flags); }

    public void memFreeHost(long addr) { check(call(cuMemFreeHost, addr), "cuMemFreeHost"); }

    public void memcpyHtoDAsync(long dst, long srcHost, long bytes, long stream) {
        int r;
        try {
            r = (int) cuMemcpyHtoDAsync.invokeExact(dst, srcHost, bytes, stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuMemcpyHtoDAsync_v2");
    }

    public void memcpyDtoHAsync(long dstHost, long src, long bytes, long stream) {
        int r;
        try {
            r = (int) cuMemcpyDtoHAsync.invokeExact(dstHost, src, bytes, stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuMemcpyDtoHAsync_v2");
    }

    public void memcpyDtoDAsync(long dst, long src, long bytes, long stream) {
        int r;
        try {
            r = (int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuMemcpyDtoDAsync_v2");
    }

    public void memsetD32Async(long dst, int value, long count, long stream) {
        check(call(cuMemsetD32Async, dst, value, count, stream), "cuMemsetD32Async");
    }

    public void memsetD8Async(long dst, byte value, long count, long stream) {
        check(call(cuMemsetD8Async, dst, value, count, stream), "cuMemsetD8Async");
    }

    // ---------------------------------------------------------------- modules and launches

    /** cuModuleLoadData from a CUBIN or PTX image (a native segment). */
    public long moduleLoadData(MemorySegment image, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuModuleLoadData, p, image), "cuModuleLoadData(" + what + ")");
            return p.get(L, 0);
        }
    }

    public void moduleUnload(long module) { check(call(cuModuleUnload, module), "cuModuleUnload"); }

    public long moduleGetFunction(long module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuModuleGetFunction, p, module, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
            return p.get(L, 0);
        }
    }

    public void funcSetAttribute(long fn, int attr, int value) {
        check(call(cuFuncSetAttribute, fn, attr, value), "cuFuncSetAttribute(" + attr + ")");
    }

    /** cuLaunchKernel; kernelParams is a native array of pointers to each argument's bytes. */
    public void launchKernel(long fn, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, long stream,
                             MemorySegment kernelParams, String what) {
        int r;
        try {
            r = (int) cuLaunchKernel.invokeExact(fn, gx, gy, gz, bx, by, bz, sharedBytes, stream, kernelParams, MemorySegment.NULL);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        if (r != CUDA_SUCCESS)
            throw new CudaException("cuLaunchKernel(" + what + ", grid " + gx + "x" + gy + "x" + gz + ", block " + bx + "x" + by + "x" + bz
                    + ", smem " + sharedBytes + ")", r, errorName(r));
    }

    /** Whether the driver has cuLaunchKernelEx (launch attributes, so programmatic dependent launch). */
    public boolean hasLaunchEx() { return cuLaunchKernelEx != null; }

    /**
     * cuLaunchKernelEx with a prepared {@code CUlaunchConfig} ({@link KernelParams#LAUNCH_CONFIG}: grid, block, shared
     * bytes, stream and its attributes filled by the caller); kernelParams as for {@link #launchKernel}.
     */
    public void launchKernelEx(MemorySegment config, long fn, MemorySegment kernelParams, String what) {
        int r;
        try {
            r = (int) cuLaunchKernelEx.invokeExact(config, fn, kernelParams, MemorySegment.NULL);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        if (r != CUDA_SUCCESS) throw new CudaException("cuLaunchKernelEx(" + what + ", programmatic dependent launch)", r, errorName(r));
    }

    // ---------------------------------------------------------------- events

    public long eventCreate(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuEventCreate, p, flags), "cuEventCreate");
            return p.get(L, 0);
        }
    }

    public void eventRecord(long event, long stream) {
        int r;
        try {
            r = (int) cuEventRecord.invokeExact(event, stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuEventRecord");
    }

    public void eventSynchronize(long event) { check(call(cuEventSynchronize, event), "cuEventSynchronize"); }

    /** Milliseconds between two recorded events. */
    public float eventElapsedMs(long start, long end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(NativeLib.F);
            check(call(cuEventElapsedTime, p, start, end), "cuEventElapsedTime");
            return p.get(NativeLib.F, 0);
        }
    }

    public void eventDestroy(long event) { check(call(cuEventDestroy, event), "cuEventDestroy_v2"); }

    // ---------------------------------------------------------------- stream capture and graphs

    public void streamBeginCapture(long stream, int mode) { check(call(cuStreamBeginCapture, stream, mode), "cuStreamBeginCapture_v2"); }

    public long streamEndCapture(long stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuStreamEndCapture, stream, p), "cuStreamEndCapture");
            return p.get(L, 0);
        }
    }

    public long graphInstantiate(long graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cuGraphInstantiateWithFlags, p, graph, 0L), "cuGraphInstantiateWithFlags");
            return p.get(L, 0);
        }
    }

    public void graphLaunch(long exec, long stream) {
        int r;
        try {
            r = (int) cuGraphLaunch.invokeExact(exec, stream);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        check(r, "cuGraphLaunch");
    }

    public void graphExecDestroy(long exec) { check(call(cuGraphExecDestroy, exec), "cuGraphExecDestroy"); }

    public void graphDestroy(long graph) { check(call(cuGraphDestroy, graph), "cuGraphDestroy"); }
}
