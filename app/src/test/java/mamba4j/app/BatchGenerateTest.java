package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code generate --prompts-file}: prompts of different lengths in one batch give, each, the ids that prompt gets from
 * {@code generate --prompt} alone (greedy and sampled), for Mamba-1, Mamba-2 and a Transformer (KV cache at per-row
 * positions); outputs come in input order; a bad file is one named line and exit 2.
 */
class BatchGenerateTest {
    /** Upper-case ASCII, digits and spaces: byte ids below 97, inside every golden model's vocabulary. */
    static final List<String> PROMPTS = List.of("HELLO THERE", "A", "THE CAT SAT ON 3 MATS", "HELLO", "ZZ 12");

    static final String[] MODELS = {"testdata/golden/mamba1/tied", "testdata/golden/mamba2/g2_untied", "testdata/golden/llama/gqa_untied"};

    static Path promptsFile(Path dir, List<String> lines) throws IOException {
        Path f = dir.resolve("prompts.txt");
        Files.writeString(f, String.join("\n", lines) + "\n");
        return f;
    }

    @Test
    void eachPromptOfTheBatchEqualsItAlone(@TempDir Path tmp) throws IOException {
        Path file = promptsFile(tmp, PROMPTS);
        for (String model : MODELS) {
            String dir = Repo.root().resolve(model).toString();
            Cli batch = Cli.run("generate", "--model", dir, "--prompts-file", file.toString(), "--tokenizer", "bytes",
                    "--max-new-tokens", "8", "--no-stop", "--ids");
            assertEquals(0, batch.status(), model + ": " + batch.err());
            String[] lines = batch.out().strip().split("\n");
            assertEquals(PROMPTS.size(), lines.length, model + ": one line per prompt\n" + batch.out());
            for (int i = 0; i < PROMPTS.size(); i++) {
                Cli alone = Cli.run("generate", "--model", dir, "--prompt", PROMPTS.get(i), "--tokenizer", "bytes",
                        "--max-new-tokens", "8", "--no-stop", "--ids");
                assertEquals(0, alone.status(), alone.err());
                assertEquals(alone.out().strip(), lines[i], model + ": prompt " + (i + 1) + " '" + PROMPTS.get(i) + "' batched vs alone");
                assertTrue(lines[i].startsWith(String.join(",", PROMPTS.get(i).chars().mapToObj(Integer::toString).toList()) + ","),
                        model + ": line " + (i + 1) + " starts with its own prompt's bytes: " + lines[i]);
            }
        }
    }

    @Test
    void sampledPromptsEqualThemAloneWithTheSameSeed(@TempDir Path tmp) throws IOException {
        Path file = promptsFile(tmp, PROMPTS);
        String dir = Repo.root().resolve(MODELS[1]).toString();
        String[] sampling = {"--temperature", "0.9", "--top-k", "20", "--seed", "5", "--tokenizer", "bytes", "--max-new-tokens", "6", "--no-stop", "--ids"};
        Cli batch = Cli.run(concat(new String[]{"generate", "--model", dir, "--prompts-file", file.toString(), "--batch", "2"}, sampling));
        assertEquals(0, batch.status(), batch.err());
        String[] lines = batch.out().strip().split("\n");
        assertEquals(PROMPTS.size(), lines.length, batch.out());
        for (int i = 0; i < PROMPTS.size(); i++) {
            Cli alone = Cli.run(concat(new String[]{"generate", "--model", dir, "--prompt", PROMPTS.get(i)}, sampling));
            assertEquals(alone.out().strip(), lines[i], "sampled prompt " + (i + 1) + " (batches of 2)");
        }
    }

    @Test
    void jsonAndTextOutputsKeepTheInputOrder(@TempDir Path tmp) throws IOException {
        Path file = promptsFile(tmp, PROMPTS);
        String dir = byteLevelModel(tmp).toString();   // carries its tokenizer: no --tokenizer flag
        Cli json = Cli.run("generate", "--model", dir, "--prompts-file", file.toString(), "--max-new-tokens", "5", "--json", "--no-stop");
        assertEquals(0, json.status(), json.err());
        String[] lines = json.out().strip().split("\n");
        assertEquals(PROMPTS.size(), lines.length, json.out());
        ObjectMapper m = new ObjectMapper();
        List<String> completions = new ArrayList<>();
        for (int i = 0; i < lines.length; i++) {
            JsonNode o = m.readTree(lines[i]);
            assertEquals(i + 1, o.get("line").asInt());
            assertEquals(PROMPTS.get(i), o.get("prompt").asText());
            assertEquals(PROMPTS.get(i).length(), o.get("prompt_ids").size());
            assertEquals(5, o.get("completion_ids").size(), lines[i]);
            assertEquals("length", o.get("finish_reason").asText());
            completions.add(o.get("completion").asText());
        }
        Cli text = Cli.run("generate", "--model", dir, "--prompts-file", file.toString(), "--max-new-tokens", "5", "--no-stop");
        assertEquals(0, text.status(), text.err());
        int at = 0;
        for (int i = 0; i < PROMPTS.size(); i++) {
            String block = "==> prompt " + (i + 1) + " <==\n" + PROMPTS.get(i) + completions.get(i) + "\n";
            int found = text.out().indexOf(block, at);
            assertTrue(found >= at, "prompt " + (i + 1) + " in order in:\n" + text.out());
            at = found + block.length();
        }
    }

    @Test
    void badPromptFilesAreOneNamedLine(@TempDir Path tmp) throws IOException {
        String dir = Repo.root().resolve(MODELS[0]).toString();
        Path missing = tmp.resolve("nope.txt");
        Path empty = promptsFile(tmp, List.of("HELLO", "", "A"));
        Path none = Files.writeString(tmp.resolve("none.txt"), "");
        Path latin1 = Files.write(tmp.resolve("latin1.txt"), new byte[]{'A', (byte) 0xE9, '\n'});
        record Case(Path file, String says) {}
        for (Case c : List.of(new Case(missing, "no such file"), new Case(empty, "line 2 is empty"), new Case(none, "holds no prompts"),
                new Case(latin1, "not UTF-8"), new Case(tmp, "is a directory"))) {
            Cli r = Cli.run("generate", "--model", dir, "--prompts-file", c.file().toString(), "--tokenizer", "bytes");
            assertEquals(2, r.status(), c + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
            assertTrue(r.err().startsWith("error: --prompts-file " + c.file()), r.err());
            assertTrue(r.err().contains(c.says()), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        Cli both = Cli.run("generate", "--model", dir, "--prompts-file", empty.toString(), "--prompt", "A");
        assertEquals(2, both.status(), "--prompt and --prompts-file exclude each other: " + both.err());
    }

    /** A tiny Mamba-1 of vocabulary 256 (random weights, seed 9) carrying the byte-level marker, as train writes it. */
    static Path byteLevelModel(Path tmp) {
        Path m = tmp.resolve("bytes-model");
        Mamba1Config cfg = new Mamba1Config(256, 256, 32, 8, 2, 2, 4, 2, false, true, 1e-5, true, 0, true);
        Mamba1Saver.save(Mamba1Init.random(cfg, DType.F32, 9, Backends.get("cpu")), m);
        ModelTokenizer.attach(m, "bytes");
        return m;
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
