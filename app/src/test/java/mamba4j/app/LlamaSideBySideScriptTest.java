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
 * {@code scripts/llama-side-by-side.sh} without a llama.cpp build (none is on the CI machines): the reference table and
 * what it says about it, every argument error (one line, status 2), and — with stand-ins for llama-bench and mamba4j
 * that print what the real ones print — the interleaving, the arguments both engines get and the ratio table.
 */
class LlamaSideBySideScriptTest {
    @TempDir Path dir;
    static final Path SCRIPT = Repo.root().resolve("scripts/llama-side-by-side.sh");

    private ScriptRun run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        return ScriptRun.of(SCRIPT, dir, List.of("LLAMA_CPP", "MAMBA4J"), env, args);
    }

    private static void error(ScriptRun r, String fragment) { r.assertError(fragment); }

    @Test
    void withoutLlamaCppItPrintsTheReferenceTableAndSaysSo() throws Exception {
        ScriptRun r = run(Map.of());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("LLAMA_CPP is not set, so nothing was run: this is the reference table of issue 16"), r.out());
        for (String row : List.of("| mamba-130m f32 | 242 / 246 | 532 / 448 | 59.9 / 60.6 | 56.5 / 54.8 |",
                "| mamba2-130m f16 | 740 / 727 |", "| mamba-370m f32 | 88 / 97 | 156 / 171 | 18.7 / 21.0 | 20.1 / 22.5 |"))
            assertTrue(r.out().contains(row), "<" + row + "> in " + r.out());
        ScriptRun help = run(Map.of(), "--help");
        assertEquals(0, help.status());
        assertTrue(help.out().contains("--threads N") && help.out().contains("LLAMA_CPP"), help.out());
    }

    @Test
    void argumentErrorsAreOneLine() throws Exception {
        error(run(Map.of(), "--threads", "0"), "--threads 0: expected a positive integer");
        error(run(Map.of(), "--prompt=12x"), "--prompt 12x: expected a positive integer");
        error(run(Map.of(), "--rounds"), "--rounds needs a value");
        error(run(Map.of(), "--bogus"), "unknown option --bogus");
        error(run(Map.of(), "absent.gguf"), "absent.gguf: no such GGUF file");
        error(run(Map.of("LLAMA_CPP", dir.toString())), "LLAMA_CPP=" + dir + ": no llama-bench in it");
    }

    /** Stand-ins print what llama-bench -o jsonl and mamba4j bench print, and log each call in order. */
    @Test
    void interleavesBothEnginesAndPrintsTheRatios() throws Exception {
        Path log = dir.resolve("calls.log");
        Path bin = Files.createDirectories(dir.resolve("llama/bin"));
        ScriptRun.standIn(bin.resolve("llama-bench"), """
                echo "llama $*" >> %s
                echo '{"build_commit": "x", "n_prompt": 512, "n_gen": 0, "avg_ts": 100.000000, "stddev_ts": 0.0}'
                echo '{"build_commit": "x", "n_prompt": 0, "n_gen": 128, "avg_ts": 50.000000, "stddev_ts": 0.0}'
                """.formatted(log));
        Path fake = dir.resolve("fake-mamba4j");
        ScriptRun.standIn(fake, """
                echo "mamba4j $*" >> %s
                echo "model $3, backend cpu"
                echo "prefill  batch 1, 512 tokens: 150.0 tok/s (3.41 s, best of 3)"
                echo "decode   batch 1: 40.0 tok/s (40.0 steps/s, 25.00 ms/step, 55%% of the bandwidth bound), state 1.0 KB"
                """.formatted(log));
        Path a = Files.writeString(dir.resolve("a.gguf"), "GGUF"), b = Files.writeString(dir.resolve("b.gguf"), "GGUF");
        ScriptRun r = run(Map.of("LLAMA_CPP", dir.resolve("llama").toString(), "MAMBA4J", fake.toString()), a.toString(), b.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("| a | 100.0 / 100.0 | 150.0 / 150.0 | 1.50x | 50.0 / 50.0 | 40.0 / 40.0 | 0.80x |"), r.out());
        assertTrue(r.out().contains("| b |"), r.out());
        List<String> calls = Files.readAllLines(log);
        assertEquals(8, calls.size(), "2 rounds × 2 files × 2 engines: " + calls);
        assertEquals("llama -m " + a + " -p 512 -n 128 -t 2 -r 1 -o jsonl", calls.get(0));
        assertEquals("mamba4j bench --model " + a + " --threads 2 --batch 1 --prompt-len 512 --decode-tokens 128", calls.get(1));
        assertTrue(calls.get(2).startsWith("llama -m " + b) && calls.get(3).startsWith("mamba4j bench --model " + b)
                && calls.get(4).startsWith("llama -m " + a), "interleaved: " + calls);
        Files.delete(log);
        ScriptRun t = run(Map.of("LLAMA_CPP", bin.toString(), "MAMBA4J", fake.toString()), "--threads", "4", "--rounds", "1", a.toString());
        assertEquals(0, t.status(), t.err());
        assertEquals(List.of("llama -m " + a + " -p 512 -n 128 -t 4 -r 1 -o jsonl",
                "mamba4j bench --model " + a + " --threads 4 --batch 1 --prompt-len 512 --decode-tokens 128"), Files.readAllLines(log));
        ScriptRun.standIn(bin.resolve("llama-bench"), "echo 'not json'");
        ScriptRun bad = run(Map.of("LLAMA_CPP", bin.toString(), "MAMBA4J", fake.toString()), a.toString());
        assertEquals(2, bad.status(), bad.err());
        String last = bad.err().strip().lines().reduce((x, y) -> y).orElse("");   // after the progress lines
        assertTrue(last.startsWith("error: could not read prefill and decode tok/s from llama-bench's output for " + a), bad.err());
    }

}
