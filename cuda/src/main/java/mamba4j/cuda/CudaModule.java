package mamba4j.cuda;

import java.util.HashMap;
import java.util.Map;

/** A loaded kernel module (one .cu file compiled for the device) and its functions, looked up once by name. */
public final class CudaModule {
    private final CudaDevice device;
    private final String file;
    private final long handle;
    private final Map<String, Function> functions = new HashMap<>();

    /** A kernel: its CUfunction handle and its name (for error messages). */
    public record Function(String name, long handle) {}

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
