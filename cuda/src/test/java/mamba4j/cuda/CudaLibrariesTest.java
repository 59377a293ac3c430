package mamba4j.cuda;

import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The library search on fake folder trees: environment, home and filesystem root are injected. */
class CudaLibrariesTest {
    @TempDir Path tmp;

    private Path dir(String rel) throws IOException { return Files.createDirectories(tmp.resolve(rel)); }

    private Path lib(String relDir, String name) throws IOException { return Files.createFile(dir(relDir).resolve(name)); }

    @Test void foldersFollowTheDocumentedOrder() throws IOException {
        Path root = dir("root"), home = dir("home");
        Path user = dir("mine"), cudaHome = dir("toolkit");
        dir("toolkit/lib64");
        dir("toolkit/targets/x86_64-linux/lib");
        Path ld = dir("ld");
        dir("root/usr/local/cuda-12.9/targets/x86_64-linux/lib");
        dir("root/usr/local/cuda-12.10/targets/x86_64-linux/lib");
        dir("root/usr/local/cuda-13.0/lib64");
        dir("root/usr/lib/x86_64-linux-gnu");
        dir("root/usr/lib64");
        dir("venv/lib/python3.12/site-packages/nvidia/cu13/lib");
        dir("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib");
        dir("root/usr/local/lib/python3.10/dist-packages/nvidia/cuda_nvrtc/lib");
        Map<String, String> env = Map.of("MAMBA4J_CUDA_LIBS", user + ":" + tmp.resolve("absent"), "CUDA_HOME", cudaHome.toString(),
                "LD_LIBRARY_PATH", ld.toString(), "VIRTUAL_ENV", tmp.resolve("venv").toString());
        List<Path> f = CudaLibraries.folders(env, home, root);
        assertEquals(List.of(user, cudaHome.resolve("lib64"), cudaHome.resolve("targets/x86_64-linux/lib"), ld,
                root.resolve("usr/local/cuda-13.0/lib64"),
                root.resolve("usr/local/cuda-12.10/targets/x86_64-linux/lib"),
                root.resolve("usr/local/cuda-12.9/targets/x86_64-linux/lib"),
                root.resolve("usr/lib/x86_64-linux-gnu"), root.resolve("usr/lib64"), root.resolve("usr/lib"),
                tmp.resolve("venv/lib/python3.12/site-packages/nvidia/cu13/lib"),
                home.resolve(".local/lib/python3.11/site-packages/nvidia/cublas/lib"),
                root.resolve("usr/local/lib/python3.10/dist-packages/nvidia/cuda_nvrtc/lib")), f);
    }

    @Test void firstFolderWinsAndWithinAFolderTheNewestName() throws IOException {
        Path a = dir("a"), b = dir("b");
        lib("b", "libnvrtc.so.13");
        lib("a", "libnvrtc.so.12");
        lib("a", "libnvrtc.so");
        assertEquals(a.resolve("libnvrtc.so.12"), CudaLibraries.find(List.of(a, b), CudaLibraries.NVRTC).path().orElseThrow());
        lib("a", "libnvrtc.so.13");
        assertEquals(a.resolve("libnvrtc.so.13"), CudaLibraries.find(List.of(a, b), CudaLibraries.NVRTC).path().orElseThrow());
        assertEquals(b.resolve("libnvrtc.so.13"), CudaLibraries.find(List.of(b, a), CudaLibraries.NVRTC).path().orElseThrow());
    }

    @Test void pipInstalledCudaIsFound() throws IOException {
        Path home = dir("home");
        Path nv = lib("home/.local/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib", "libnvrtc.so.12");
        lib("home/.local/lib/python3.12/site-packages/nvidia/cublas/lib", "libcublas.so.12");
        List<Path> f = CudaLibraries.folders(Map.of(), home, dir("emptyroot"));
        assertEquals(nv, CudaLibraries.find(f, CudaLibraries.NVRTC).path().orElseThrow());
        assertEquals(home.resolve(".local/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12"),
                CudaLibraries.find(f, CudaLibraries.CUBLAS).path().orElseThrow());
        assertTrue(CudaLibraries.find(f, CudaLibraries.DRIVER).path().isEmpty());
    }

    @Test void notFoundIsOneLineNamingTheLibraryAndTheFolders() throws IOException {
        Path a = dir("x/lib64"), b = dir("y");
        UserInputException e = CudaLibraries.notFound("libcuda.so.1", "no NVIDIA driver?", List.of(a, b), true);
        assertEquals("--backend cuda: libcuda.so.1 not found (no NVIDIA driver?); looked in " + a + ", " + b
                + " and the system loader; set MAMBA4J_CUDA_LIBS to the folder that holds it", e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test void versionsSortNumerically() {
        assertTrue(CudaLibraries.versionKey(Path.of("cuda-12.10")).compareTo(CudaLibraries.versionKey(Path.of("cuda-12.9"))) > 0);
        assertTrue(CudaLibraries.versionKey(Path.of("cuda-13.0")).compareTo(CudaLibraries.versionKey(Path.of("cuda-12.10"))) > 0);
    }

    @Test void aLibraryThatIsNotTheDriverIsAUserErrorNamingIt() throws IOException {
        // a real shared library under the driver's name: it loads, but has none of the driver's symbols
        Path fake = dir("fake").resolve("libcuda.so.1");
        Files.copy(Path.of(System.getProperty("java.home"), "lib", "libzip.so"), fake);
        UserInputException e = assertThrows(UserInputException.class, () -> Cuda.load(List.of(fake.getParent()), false));
        assertEquals("--backend cuda: libcuda.so.1 (" + fake + ") has no symbol cuGetErrorName (library too old?)", e.getMessage());
    }

    @Test void noDriverInTheFoldersAndNoSystemLoaderIsTheNotFoundLine() throws IOException {
        Path d = dir("nothing");
        UserInputException e = assertThrows(UserInputException.class, () -> Cuda.load(List.of(d), false));
        assertEquals("--backend cuda: libcuda.so.1 not found (no NVIDIA driver?); looked in " + d
                + "; set MAMBA4J_CUDA_LIBS to the folder that holds it", e.getMessage());
    }
}
