package mamba4j.cuda;

import java.util.HashMap;
import java.util.Map;

/** A loaded kernel module (one .cu file compiled for the device) and its functions, looked up once by name. */
public final class CudaModule {
    private final CudaDevice device;
    private final String file;
    private final long handle;
    private final Map<String, Function> functions = new HashMap<>();

    /** Kernels launched plainly ("file:kernel"), never programmatically: they do not wait in PDL_WAIT (the profiler's spin). */
    public static final java.util.Set<String> PLAIN_LAUNCH = java.util.Set.of("profile.cu:spin_ns");

    /** A kernel: its CUfunction handle and its name, "file:kernel" (for error messages). */
    public record Function(String name, long handle) {
        /** Whether it may be launched programmatically (it reaches PDL_WAIT first; see CudaDevice.launch). */
        public boolean programmatic() { return !PLAIN_LAUNCH.contains(name); }
    }

    CudaModule(CudaDevice device, String file, long handle) {
        this.device = device;
        this.file = file;
        this.handle = handle;
    }

    public String file() { return file; }
    long handle() { return handle; }

    public Function function(String name) {
        return functions.computeIfAbsent(name, n -> new Function(file + ":" + n, device.functionOf(handle, n)));
    }
}
