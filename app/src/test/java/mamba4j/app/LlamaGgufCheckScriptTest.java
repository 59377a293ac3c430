package mamba4j.app;

import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code scripts/llama-gguf-check.sh} without a llama.cpp build (none is on the CI machines): every argument error (one
 * line, status 2), and — with stand-ins for llama-quantize, llama-completion and mamba4j that print what the real ones
 * print — the table it prints, a failed comparison as FAIL with status 1, and the calls it makes.
 */
class LlamaGgufCheckScriptTest {
    @TempDir Path dir;
    static final Path SCRIPT = Repo.root().resolve("scripts/llama-gguf-check.sh");

    private ScriptRun run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        return ScriptRun.of(SCRIPT, dir, List.of("LLAMA_CPP", "MAMBA4J", "WORK"), env, args);
    }

    private static void error(ScriptRun r, String fragment) { r.assertError(fragment); }

    @Test
    void argumentErrorsAreOneLine() throws Exception {
        Path tok = Files.writeString(dir.resolve("tokenizer.json"), "{}");
        error(run(Map.of(), "--tokenizer", tok.toString()), "LLAMA_CPP is not set");
        error(run(Map.of("LLAMA_CPP", dir.toString())), "--tokenizer is required");
        error(run(Map.of("LLAMA_CPP", dir.toString()), "--tokenizer", "absent.json"), "--tokenizer absent.json: no such file");
        error(run(Map.of("LLAMA_CPP", dir.toString()), "--tokenizer"), "--tokenizer needs a tokenizer.json");
        error(run(Map.of("LLAMA_CPP", dir.toString()), "--bogus"), "unknown argument --bogus");
        error(run(Map.of("LLAMA_CPP", dir.toString()), "--tokenizer", tok.toString()), "LLAMA_CPP=" + dir + ": no llama-quantize in it");
        ScriptRun help = run(Map.of(), "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("LLAMA_CPP") && help.out().contains("--fixtures DIR"), help.out());
    }

    /** scripts/llama-from-debian.sh needs Debian's archive for anything more; its usage error needs nothing. */
    @Test
    void debianUnpackerWithoutAFolderSaysHowToCallIt() throws Exception {
        ScriptRun r = ScriptRun.of(Repo.root().resolve("scripts/llama-from-debian.sh"), dir, List.of(), Map.of());
        r.assertError("usage: ");
        assertTrue(r.err().contains("DIR (the folder to unpack llama.cpp into)"), r.err());
    }

    @Test
    void printsTheTableAndFailsOnADifference() throws Exception {
        Path log = dir.resolve("calls.log"), bin = Files.createDirectories(dir.resolve("llama/bin"));
        Path tok = Files.writeString(dir.resolve("tokenizer.json"), "{}");
        ScriptRun.standIn(bin.resolve("llama-quantize"), """
                echo "quantize $*" >> %s
                [ "$1" = --allow-requantize ] && shift
                echo GGUF > "$2"
                """.formatted(log));
        ScriptRun.standIn(bin.resolve("llama-completion"), "echo \"${TEXT:-The capital of France is Paris}\"\n");
        Path fake = dir.resolve("fake-mamba4j");
        ScriptRun.standIn(fake, """
                echo "mamba4j $1" >> %s
                case "$1" in
                  convert) while [ $# -gt 0 ]; do [ "$1" = --out ] && echo GGUF > "$2"; shift; done ;;
                  generate) echo "The capital of France is Paris"; echo "5 prompt + 24 new tokens" ;;
                  perplexity) echo "perplexity 12.3456, bits per byte 1.0 (10 tokens scored)" ;;
                esac
                """.formatted(log));
        Map<String, String> env = Map.of("LLAMA_CPP", dir.resolve("llama").toString(), "MAMBA4J", fake.toString(),
                "WORK", dir.resolve("work").toString());
        ScriptRun r = run(env, "--tokenizer", tok.toString());
        assertEquals(0, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("| greedy 24 tokens, F32 file mamba4j wrote: llama-completion = mamba4j generate | pass |"), r.out());
        for (String q : List.of("Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"))
            assertTrue(r.out().contains("| llama-quantize " + q + " read by mamba4j = llama.cpp's own F32 of it (perplexity) | pass (12.3456) |"), r.out());
        assertTrue(r.out().contains("| mamba4j convert --dtype q8_0 = llama-quantize Q8_0 (perplexity) | pass (12.3456) |"), r.out());
        List<String> calls = Files.readAllLines(log);
        assertEquals(10, calls.stream().filter(c -> c.startsWith("quantize")).count(), "five types and each back to F32: " + calls);
        assertTrue(calls.contains("quantize --allow-requantize " + dir.resolve("work/mamba2-130m-llama-Q6_K.gguf") + " "
                + dir.resolve("work/mamba2-130m-llama-Q6_K-back-f32.gguf") + " F32"), calls.toString());
        Map<String, String> other = new java.util.HashMap<>(env);
        other.put("TEXT", "The capital of France is Lyon");
        ScriptRun bad = run(other, "--tokenizer", tok.toString());
        assertEquals(1, bad.status(), bad.out() + bad.err());
        assertTrue(bad.out().contains("| greedy 24 tokens, F32 file mamba4j wrote: llama-completion = mamba4j generate | FAIL (texts above) |"), bad.out());
        assertTrue(bad.err().contains("llama.cpp: The capital of France is Lyon"), bad.err());
    }
}
