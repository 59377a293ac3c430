package mamba4j.cuda;

import mamba4j.core.UserInputException;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The three CUDA libraries, found by {@link CudaLibraries} and loaded once per JVM: the driver (initialised with
 * cuInit), NVRTC and cuBLAS. Anything missing — no driver, no device, no NVRTC, no cuBLAS — is a one-line
 * {@link UserInputException} naming what is missing and where it was looked for.
 */
public final class Cuda {
    public final Driver driver;
    public final Nvrtc nvrtc;
    public final Cublas cublas;
    public final String nvrtcVersion;
    public final int driverVersion;

    private static Cuda instance;

    private Cuda(Driver driver, Nvrtc nvrtc, Cublas cublas) {
        this.driver = driver;
        this.nvrtc = nvrtc;
        this.cublas = cublas;
        this.nvrtcVersion = nvrtc.version();
        this.driverVersion = driver.driverVersion();
    }

    /** The libraries of this machine (searched and loaded on first call). */
    public static synchronized Cuda get() {
        if (instance == null) instance = load(CudaLibraries.folders(), true);
        return instance;
    }

    /** Finds and loads the libraries in {@code folders}; the system loader is asked for the driver when {@code systemLoader}. */
    static Cuda load(List<Path> folders, boolean systemLoader) {
        Driver driver = new Driver(loadDriver(folders, systemLoader));
        int r = driver.initRaw();
        if (r != Driver.CUDA_SUCCESS)
            throw new UserInputException("--backend cuda: " + (r == Driver.CUDA_ERROR_NO_DEVICE ? "no CUDA device" : "the NVIDIA driver does not start")
                    + " (cuInit: " + driver.errorName(r) + "; driver " + driver.lib.location + ")");
        CudaLibraries.Found nv = CudaLibraries.find(folders, CudaLibraries.NVRTC);
        Path nvrtcPath = nv.path().orElseThrow(() -> CudaLibraries.notFound("libnvrtc (" + String.join(", ", CudaLibraries.NVRTC) + ")",
                "install the CUDA toolkit or pip install nvidia-cuda-nvrtc", folders, false));
        // NVRTC dlopens its builtins library by soname: load it first from the same folder so that open finds it
        preload(nvrtcPath.getParent(), "libnvrtc-builtins.so");
        Nvrtc nvrtc = new Nvrtc(NativeLib.load(nvrtcPath));
        CudaLibraries.Found cb = CudaLibraries.find(folders, CudaLibraries.CUBLAS);
        Path cublasPath = cb.path().orElseThrow(() -> CudaLibraries.notFound("libcublas (" + String.join(", ", CudaLibraries.CUBLAS) + ")",
                "install the CUDA toolkit or pip install nvidia-cublas", folders, false));
        // libcublas needs libcublasLt of the same version, by soname: load it from the same folder first
        Path lt = cublasPath.resolveSibling(cublasPath.getFileName().toString().replace("libcublas", "libcublasLt"));
        if (Files.exists(lt)) NativeLib.load(lt);
        preload(cublasPath.getParent(), "libcudart.so");   // in case this cuBLAS links the runtime dynamically
        Cublas cublas = new Cublas(NativeLib.load(cublasPath));
        return new Cuda(driver, nvrtc, cublas);
    }

    private static NativeLib loadDriver(List<Path> folders, boolean systemLoader) {
        Optional<Path> p = CudaLibraries.find(folders, CudaLibraries.DRIVER).path();
        if (p.isPresent()) return NativeLib.load(p.get());
        if (systemLoader) {
            Optional<NativeLib> sys = NativeLib.loadBySoname(CudaLibraries.DRIVER.getFirst());
            if (sys.isPresent()) return sys.get();
        }
        throw CudaLibraries.notFound(CudaLibraries.DRIVER.getFirst(), "no NVIDIA driver?", folders, systemLoader);
    }

    /** Loads the first file in dir whose name starts with prefix (newest name last in sort order wins), if any. */
    private static void preload(Path dir, String prefix) {
        Path best = null;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, prefix + "*")) {
            for (Path f : ds) if (best == null || f.getFileName().toString().compareTo(best.getFileName().toString()) > 0) best = f;
        } catch (IOException e) {
            return;
        }
        if (best == null) return;
        try {
            NativeLib.load(best);
        } catch (UserInputException e) {
            // not fatal here: NVRTC may still find it itself, and says so at compile time if not
        }
    }

    /** Where each library was loaded from, for the self-test's header. */
    public String describe() {
        return "driver " + (driverVersion / 1000) + "." + (driverVersion % 1000 / 10) + " (" + driver.lib.location + "), NVRTC " + nvrtcVersion
                + " (" + nvrtc.lib.location + "), cuBLAS (" + cublas.lib.location + ")";
    }
}
