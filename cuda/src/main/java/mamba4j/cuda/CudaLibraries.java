package mamba4j.cuda;

import mamba4j.core.UserInputException;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Where the CUDA libraries are looked for (the search documented in {@code package-info} and the README), as a
 * pure function of the environment and the home folder so tests can inject fake folders. Only finds files; loading
 * them is {@link NativeLib}'s job.
 *
 * <p>Folder order (the first folder holding one of a library's names wins; within a folder the newest name wins):
 * <ol>
 *   <li>{@code MAMBA4J_CUDA_LIBS} (folders separated by {@code :});</li>
 *   <li>{@code CUDA_HOME}, then {@code CUDA_PATH}: their {@code lib64} and {@code targets/x86_64-linux/lib};</li>
 *   <li>{@code LD_LIBRARY_PATH};</li>
 *   <li>{@code /usr/local/cuda}, then {@code /usr/local/cuda-*} newest version first: {@code targets/x86_64-linux/lib}, {@code lib64};</li>
 *   <li>the system loader folders {@code /usr/lib/x86_64-linux-gnu}, {@code /usr/lib64}, {@code /usr/lib}, {@code /usr/lib/wsl/lib};</li>
 *   <li>pip-installed CUDA (e.g. PyTorch's): {@code nvidia/*&#47;lib} in the site-packages of {@code VIRTUAL_ENV},
 *       {@code CONDA_PREFIX} (and its {@code lib}), {@code ~/.local/lib/python3*}, {@code /usr/local/lib/python3*}
 *       and {@code /usr/lib/python3*} (site-packages and dist-packages).</li>
 * </ol>
 * The driver ({@code libcuda.so.1}) is installed with the NVIDIA driver, not with CUDA; when no folder holds it,
 * {@link NativeLib} also asks the system loader by name (ld.so.cache), which is where containers put it.
 */
public final class CudaLibraries {
    private CudaLibraries() {}

    /** The driver library's name (the NVIDIA driver installs exactly this soname). */
    public static final List<String> DRIVER = List.of("libcuda.so.1");   // not libcuda.so: in a toolkit folder that is the stub
    /** NVRTC, newest major first. */
    public static final List<String> NVRTC = List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so");
    /** cuBLAS, newest major first; cuBLASLt is taken from the same folder with the same suffix. */
    public static final List<String> CUBLAS = List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so");

    /** What was found: a library's path, or empty, and the folders that were searched (for the error message). */
    public record Found(Optional<Path> path, List<Path> searched) {}

    /** The search folders on this machine, in order, that exist. */
    public static List<Path> folders() {
        return folders(System.getenv(), Path.of(System.getProperty("user.home")), Path.of("/"));
    }

    /**
     * The search folders, in order, that exist (duplicates removed). Fixed system paths are taken under {@code root}
     * ("/" in use; a temporary folder in tests).
     */
    public static List<Path> folders(Map<String, String> env, Path home, Path root) {
        LinkedHashSet<Path> out = new LinkedHashSet<>();
        splitPath(env.get("MAMBA4J_CUDA_LIBS")).forEach(out::add);
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                out.add(Path.of(v, "lib64"));
                out.add(Path.of(v, "targets", "x86_64-linux", "lib"));
            }
        }
        splitPath(env.get("LD_LIBRARY_PATH")).forEach(out::add);
        List<Path> cudas = new ArrayList<>();
        cudas.add(root.resolve("usr/local/cuda"));
        cudas.addAll(children(root.resolve("usr/local"), "cuda-").stream().sorted(Comparator.comparing(CudaLibraries::versionKey).reversed()).toList());
        for (Path c : cudas) {
            out.add(c.resolve("targets/x86_64-linux/lib"));
            out.add(c.resolve("lib64"));
        }
        for (String s : List.of("usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib", "usr/lib/wsl/lib")) out.add(root.resolve(s));
        for (Path sp : sitePackages(env, home, root)) out.addAll(children(sp.resolve("nvidia"), "").stream().map(p -> p.resolve("lib")).toList());
        String conda = env.get("CONDA_PREFIX");
        if (conda != null && !conda.isBlank()) out.add(Path.of(conda, "lib"));
        return out.stream().filter(Files::isDirectory).toList();
    }

    /** site-packages / dist-packages folders of the Python installs a pip-installed CUDA may live in. */
    static List<Path> sitePackages(Map<String, String> env, Path home, Path root) {
        List<Path> roots = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) roots.add(Path.of(v, "lib"));
        }
        if (home != null) roots.add(home.resolve(".local/lib"));
        roots.add(root.resolve("usr/local/lib"));
        roots.add(root.resolve("usr/lib"));
        List<Path> out = new ArrayList<>();
        for (Path r : roots)
            for (Path py : children(r, "python3").stream().sorted(Comparator.comparing(CudaLibraries::versionKey).reversed()).toList())
                for (String s : List.of("site-packages", "dist-packages")) out.add(py.resolve(s));
        return out;
    }

    /** The first folder (in order) that holds one of {@code names}; within it, the earliest name in the list. */
    public static Found find(List<Path> folders, List<String> names) {
        for (Path f : folders)
            for (String n : names) {
                Path p = f.resolve(n);
                if (Files.exists(p)) return new Found(Optional.of(p), folders);
            }
        return new Found(Optional.empty(), folders);
    }

    /** The one-line "not found" message the CLI prints for {@code --backend cuda}. */
    public static UserInputException notFound(String what, String hint, List<Path> searched, boolean systemLoaderTried) {
        String where = searched.isEmpty() ? "no existing search folder" : String.join(", ", searched.stream().map(Path::toString).toList());
        return new UserInputException("--backend cuda: " + what + " not found" + (hint.isEmpty() ? "" : " (" + hint + ")")
                + "; looked in " + where + (systemLoaderTried ? " and the system loader" : "")
                + "; set MAMBA4J_CUDA_LIBS to the folder that holds it");
    }

    private static List<Path> splitPath(String v) {
        if (v == null || v.isBlank()) return List.of();
        return Stream.of(v.split(":")).filter(s -> !s.isBlank()).map(Path::of).toList();
    }

    private static List<Path> children(Path dir, String prefix) {
        if (!Files.isDirectory(dir)) return List.of();
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds)
                if (p.getFileName().toString().startsWith(prefix) && Files.isDirectory(p)) out.add(p);
        } catch (IOException e) {
            return List.of();
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    /** "cuda-12.8" → sortable key with numeric parts, so cuda-13.0 sorts after cuda-12.10 after cuda-12.9. */
    static String versionKey(Path p) {
        String name = p.getFileName().toString();
        StringBuilder sb = new StringBuilder();
        for (String part : name.split("[^0-9]+"))
            if (!part.isEmpty()) sb.append(String.format("%08d.", Long.parseLong(part.length() > 8 ? part.substring(0, 8) : part)));
        return sb.toString();
    }
}
