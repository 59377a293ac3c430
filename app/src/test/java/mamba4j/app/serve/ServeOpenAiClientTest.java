package mamba4j.app.serve;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The official {@code openai} client for Node against a server this test starts on loopback (with an API key):
 * completions, chat, streaming, stop sequences, errors. The client lives in {@code app/src/test/node} (package.json +
 * package-lock.json); {@code npm ci} installs it there when node_modules is missing.
 */
class ServeOpenAiClientTest {
    static final Path DIR = Path.of(System.getProperty("mamba4j.repo", ".")).resolve("app/src/test/node");

    @Test
    void theOpenAiNodeClientWorksAgainstTheServer() throws Exception {
        assumeTrue(run(DIR, 30, "node", "--version") == 0, "Node.js is not on PATH (this test needs Node 20+ and npm; CI has them)");
        if (!Files.isDirectory(DIR.resolve("node_modules/openai")))
            assertEquals(0, run(DIR, 300, "npm", "ci", "--no-audit", "--no-fund"), "npm ci in " + DIR);
        try (Server s = new Server(ServeFixture.options().withApiKey("sk-node-test"))) {
            assertEquals(0, run(DIR, 300, "node", "--test-reporter=spec", "openai-client.test.mjs",
                    "http://127.0.0.1:" + s.port() + "/v1", "sk-node-test"), "node openai-client.test.mjs (output above)");
        }
    }

    /** Runs a command in dir, its output to this test's output; returns the exit status (−1 when it cannot start). */
    static int run(Path dir, int seconds, String... cmd) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
            Thread pump = Thread.ofVirtual().start(() -> {
                try { p.getInputStream().transferTo(System.out); } catch (IOException ignored) { /* process ended */ }
            });
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", cmd) + " ran past " + seconds + " s");
            }
            pump.join();
            return p.exitValue();
        } catch (IOException e) {
            return -1;
        }
    }
}
