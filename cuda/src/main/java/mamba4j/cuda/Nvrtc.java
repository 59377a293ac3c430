package mamba4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static mamba4j.cuda.NativeLib.A;
import static mamba4j.cuda.NativeLib.I;
import static mamba4j.cuda.NativeLib.L;
import static mamba4j.cuda.NativeLib.intFn;

/**
 * NVRTC (runtime compilation of CUDA C++) through FFM. {@link #compile} turns one source (with its headers) into a
 * CUBIN for a real architecture ({@code --gpu-architecture=sm_XY}); a compile error becomes a
 * {@link KernelCompileException} carrying NVRTC's log.
 */
public final class Nvrtc {
    static final int NVRTC_SUCCESS = 0;
    static final int NVRTC_ERROR_COMPILATION = 6;

    final NativeLib lib;
    private final MethodHandle nvrtcVersion, nvrtcGetErrorString, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetProgramLogSize,
            nvrtcGetProgramLog, nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram;

    Nvrtc(NativeLib lib) {
        this.lib = lib;
        nvrtcVersion = lib.fn("nvrtcVersion", intFn(A, A));
        nvrtcGetErrorString = lib.fn("nvrtcGetErrorString", FunctionDescriptor.of(A, I));
        nvrtcCreateProgram = lib.fn("nvrtcCreateProgram", intFn(A, A, A, I, A, A));
        nvrtcCompileProgram = lib.fn("nvrtcCompileProgram", intFn(L, I, A));
        nvrtcGetProgramLogSize = lib.fn("nvrtcGetProgramLogSize", intFn(L, A));
        nvrtcGetProgramLog = lib.fn("nvrtcGetProgramLog", intFn(L, A));
        nvrtcGetCUBINSize = lib.fn("nvrtcGetCUBINSize", intFn(L, A));
        nvrtcGetCUBIN = lib.fn("nvrtcGetCUBIN", intFn(L, A));
        nvrtcDestroyProgram = lib.fn("nvrtcDestroyProgram", intFn(A));
    }

    public String errorName(int code) {
        try {
            return NativeLib.cString((MemorySegment) nvrtcGetErrorString.invokeExact(code));
        } catch (Throwable t) {
            return "nvrtcResult " + code;
        }
    }

    void check(int r, String call) {
        if (r != NVRTC_SUCCESS) throw new CudaException(call, r, errorName(r));
    }

    private int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
    }

    /** NVRTC's version as "major.minor", part of every kernel cache key. */
    public String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ma = a.allocate(I), mi = a.allocate(I);
            check(call(nvrtcVersion, ma, mi), "nvrtcVersion");
            return ma.get(I, 0) + "." + mi.get(I, 0);
        }
    }

    /**
     * Compiles {@code source} (named {@code fileName} in diagnostics) with the given headers (include name → text)
     * and options; returns the CUBIN bytes.
     */
    public byte[] compile(String fileName, String source, Map<String, String> headers, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(L);
            int nh = headers.size();
            MemorySegment hdrs = nh == 0 ? MemorySegment.NULL : a.allocate(A, nh);
            MemorySegment names = nh == 0 ? MemorySegment.NULL : a.allocate(A, nh);
            int i = 0;
            for (Map.Entry<String, String> h : headers.entrySet()) {
                hdrs.setAtIndex(A, i, a.allocateFrom(h.getValue()));
                names.setAtIndex(A, i, a.allocateFrom(h.getKey()));
                i++;
            }
            check(call(nvrtcCreateProgram, prog, a.allocateFrom(source), a.allocateFrom(fileName), nh, hdrs, names),
                    "nvrtcCreateProgram(" + fileName + ")");
            long p = prog.get(L, 0);
            try {
                MemorySegment opts = a.allocate(A, Math.max(1, options.size()));
                for (int j = 0; j < options.size(); j++) opts.setAtIndex(A, j, a.allocateFrom(options.get(j)));
                int r = call(nvrtcCompileProgram, p, options.size(), opts);
                if (r != NVRTC_SUCCESS) {
                    String log = log(a, p);
                    throw new KernelCompileException(fileName, options, errorName(r), log);
                }
                MemorySegment size = a.allocate(L);
                check(call(nvrtcGetCUBINSize, p, size), "nvrtcGetCUBINSize(" + fileName + ")");
                MemorySegment cubin = a.allocate(size.get(L, 0));
                check(call(nvrtcGetCUBIN, p, cubin), "nvrtcGetCUBIN(" + fileName + ")");
                return cubin.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            } finally {
                check(call(nvrtcDestroyProgram, prog), "nvrtcDestroyProgram");
            }
        }
    }

    private String log(Arena a, long prog) {
        MemorySegment size = a.allocate(L);
        check(call(nvrtcGetProgramLogSize, prog, size), "nvrtcGetProgramLogSize");
        long n = size.get(L, 0);
        if (n <= 1) return "";
        MemorySegment buf = a.allocate(n);
        check(call(nvrtcGetProgramLog, prog, buf), "nvrtcGetProgramLog");
        return buf.getString(0);
    }
}
