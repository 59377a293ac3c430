package mamba4j.app;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A project script run by the tests of scripts: its status, stdout and stderr; stand-in programs for what it calls. */
record ScriptRun(int status, String out, String err) {
    /** bash SCRIPT ARGS in dir, the variables {@code unset} removed from the environment, then env added. */
    static ScriptRun of(Path script, Path dir, List<String> unset, Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", script.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        unset.forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        Path out = dir.resolve("stdout.txt"), err = dir.resolve("stderr.txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the script finishes");
        return new ScriptRun(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** Exit status 2 and one line on stderr, "error: …" holding fragment. */
    void assertError(String fragment) {
        assertEquals(2, status, out + err);
        assertTrue(err.startsWith("error: ") && err.strip().lines().count() == 1, "one line: " + err);
        assertTrue(err.contains(fragment), "<" + fragment + "> in " + err);
    }

    /** An executable bash script at p with this body (a stand-in for a program the script calls). */
    static void standIn(Path p, String body) throws IOException {
        Files.writeString(p, "#!/usr/bin/env bash\n" + body, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
