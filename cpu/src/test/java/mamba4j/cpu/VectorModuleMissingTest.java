package mamba4j.cpu;

import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A JVM started without {@code --add-modules jdk.incubator.vector} (a library user's plain {@code java -cp …}) asking
 * for the cpu backend gets a {@link UserInputException} that names the module and the flag, not a
 * {@link NoClassDefFoundError}; the reference backend still works there. Runs {@link Probe} in a child JVM with this
 * test's class path and no JVM flags.
 */
class VectorModuleMissingTest {
    /** The child: asks for the backend named in args[0] and prints what happened on one line. */
    public static final class Probe {
        public static void main(String[] args) {
            try {
                System.out.println("ok " + Backends.get(args[0]).kernels().name());
            } catch (Throwable e) {
                System.out.println(e.getClass().getName() + ": " + e.getMessage());
            }
        }
    }

    static String probe(String backend) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"), Probe.class.getName(), backend)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM ends");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void cpuBackendWithoutTheVectorModuleIsANamedUserError() throws Exception {
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(), "this test's own JVM runs with the module");
        String out = probe("cpu");
        List<String> lines = out.lines().toList();
        assertEquals(1, lines.size(), out);
        assertTrue(out.startsWith(UserInputException.class.getName() + ": --backend cpu: "), out);
        assertTrue(out.contains("--add-modules jdk.incubator.vector"), out);
        assertTrue(out.contains("--backend reference"), out);
        assertEquals("ok reference", probe("reference"));
    }
}
