package mamba4j.cuda;

/**
 * A failed CUDA, NVRTC or cuBLAS call: names the call and the library's own error name (cuGetErrorName,
 * nvrtcGetErrorString, the cublasStatus_t name), e.g. {@code cuModuleLoadData failed: CUDA_ERROR_INVALID_PTX (218)}.
 * Errors that are the user's to fix (no driver, no device, out of memory) are {@link mamba4j.core.UserInputException}s instead.
 */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int code;
    private final String errorName;

    public CudaException(String call, int code, String errorName) {
        this(call, code, errorName, "");
    }

    public CudaException(String call, int code, String errorName, String detail) {
        super(call + " failed: " + errorName + " (" + code + ")" + (detail.isEmpty() ? "" : "; " + detail));
        this.call = call;
        this.code = code;
        this.errorName = errorName;
    }

    public String call() { return call; }
    public int code() { return code; }
    public String errorName() { return errorName; }
}
