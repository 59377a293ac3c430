package mamba4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static mamba4j.cuda.NativeLib.A;
import static mamba4j.cuda.NativeLib.I;
import static mamba4j.cuda.NativeLib.L;
import static mamba4j.cuda.NativeLib.intFn;

/**
 * cuBLAS through FFM: a handle bound to one stream, and {@link #gemmEx} (cublasGemmEx: bf16/f16/f32 inputs,
 * f32 accumulate). Statuses are reported by their cublasStatus_t names.
 */
public final class Cublas {
    // cudaDataType_t (library_types.h)
    public static final int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    // cublasComputeType_t
    public static final int COMPUTE_32F = 68, COMPUTE_32F_FAST_TF32 = 77;
    public static final int OP_N = 0, OP_T = 1;
    static final int GEMM_DEFAULT = -1;

    final NativeLib lib;
    private final MethodHandle cublasCreate, cublasDestroy, cublasSetStream, cublasGemmEx, cublasGetVersion, cublasSetWorkspace;

    Cublas(NativeLib lib) {
        this.lib = lib;
        cublasCreate = lib.fn("cublasCreate_v2", intFn(A));
        cublasDestroy = lib.fn("cublasDestroy_v2", intFn(L));
        cublasSetStream = lib.fn("cublasSetStream_v2", intFn(L, L));
        cublasGetVersion = lib.fn("cublasGetVersion_v2", intFn(L, A));
        cublasSetWorkspace = lib.find("cublasSetWorkspace_v2", intFn(L, L, L)).orElse(null);
        cublasGemmEx = lib.fn("cublasGemmEx", intFn(L, I, I, I, I, I, A, L, I, I, L, I, I, A, L, I, I, I, I));
    }

    /** The cublasStatus_t name of a status code (cublas_api.h). */
    public static String statusName(int s) {
        return switch (s) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + s;
        };
    }

    static void check(int s, String call) {
        if (s != 0) throw new CudaException(call, s, statusName(s));
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
    }

    public long create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(L);
            check(call(cublasCreate, p), "cublasCreate_v2");
            return p.get(L, 0);
        }
    }

    public void destroy(long handle) { check(call(cublasDestroy, handle), "cublasDestroy_v2"); }

    public void setStream(long handle, long stream) { check(call(cublasSetStream, handle, stream), "cublasSetStream_v2"); }

    /** A fixed workspace for cuBLAS (so it allocates nothing during stream capture); ignored by libraries without the call. */
    public void setWorkspace(long handle, long ptr, long bytes) {
        if (cublasSetWorkspace != null) check(call(cublasSetWorkspace, handle, ptr, bytes), "cublasSetWorkspace_v2");
    }

    public int version(long handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(I);
            check(call(cublasGetVersion, handle, p), "cublasGetVersion_v2");
            return p.get(I, 0);
        }
    }

    /**
     * cublasGemmEx in cuBLAS's column-major convention: C (m×n, ldc) = alpha·op(A)·op(B) + beta·C, with alpha and
     * beta f32 (host), computeType {@link #COMPUTE_32F}. {@code scalars} holds {alpha, beta} as two floats in native memory.
     */
    public void gemmEx(long handle, int opA, int opB, int m, int n, int k, MemorySegment alpha, long a, int aType, int lda,
                       long b, int bType, int ldb, MemorySegment beta, long c, int cType, int ldc, int computeType) {
        int s;
        try {
            s = (int) cublasGemmEx.invokeExact(handle, opA, opB, m, n, k, alpha, a, aType, lda, b, bType, ldb, beta, c, cType, ldc,
                    computeType, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw NativeLib.rethrow(t);
        }
        if (s != 0)
            throw new CudaException("cublasGemmEx(m=" + m + ", n=" + n + ", k=" + k + ", types " + aType + "/" + bType + "/" + cType + ")",
                    s, statusName(s));
    }
}
