package mamba4j.app;

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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `generate --prompt` through a real tokenizer.json: the prompt round-trips and the continuation is streamed text. */
class GenerateTextTest {
    @Test
    void promptTextIsTokenizedAndContinuationStreamed(@TempDir Path tmp) throws IOException {
        Path model = tmp.resolve("m");
        // vocab covers the GPT-NeoX tokenizer's 50281 ids
        Mamba1Config cfg = new Mamba1Config(50281, 50288, 16, 4, 1, 2, 4, 1, false, true, 1e-5, true, 0);
        Mamba1Saver.save(Mamba1Init.random(cfg, DType.BF16, 3, Backends.get("cpu")), model);
        Files.copy(Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json"), model.resolve("tokenizer.json"));

        Cli ids = Cli.run("generate", "--model", model.toString(), "--prompt", "Hello world", "--max-new-tokens", "6", "--ids", "--no-stop");
        assertEquals(0, ids.status(), ids.err());
        String[] parts = ids.out().trim().split(",");
        assertEquals(2 + 6, parts.length, ids.out());
        assertEquals("12092", parts[0]);   // GPT-NeoX ids of "Hello" and " world"
        assertEquals("1533", parts[1]);

        Cli text = Cli.run("generate", "--model", model.toString(), "--prompt", "Hello world", "--max-new-tokens", "6", "--no-stop");
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().startsWith("Hello world"), text.out());
        assertTrue(text.out().length() > "Hello world".length() + 1, "a continuation follows the prompt: " + text.out());
    }
}
