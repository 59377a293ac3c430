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

/** Every checkpoint mamba4j writes carries its tokenizer; a tokenizer that does not fit the model is refused by size. */
class TokenizerTravelTest {
    static final Path NEOX = Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json");

    @Test
    void aModelTrainedWithATokenizerJsonCarriesIt(@TempDir Path tmp) throws IOException {
        Path text = Files.writeString(tmp.resolve("t.txt"), "It is a truth universally acknowledged, that a single man in possession of a good fortune. ".repeat(40));
        Path preset = Files.writeString(tmp.resolve("p.json"), "{\"model\": {\"d_model\": 8, \"n_layer\": 1}, \"data\": {\"text\": \""
                + text.toString().replace("\\", "\\\\") + "\", \"tokenizer\": \"" + NEOX.toString().replace("\\", "\\\\") + "\"}}");
        Cli t = Cli.run("train", "--preset", preset.toString(), "--out", tmp.resolve("run").toString(), "--steps", "1", "--warmup=0",
                "--batch_size=1", "--seq_len=16", "--eval_every=0", "--progress=false", "--plot=false");
        assertEquals(0, t.status(), t.err());
        Path ckpt = tmp.resolve("run/checkpoint");
        assertEquals(-1, Files.mismatch(NEOX, ckpt.resolve("model/tokenizer.json")), "the checkpoint holds the tokenizer.json it was trained with");
        Cli g = Cli.run("generate", "--model", ckpt.toString(), "--prompt", "It is a truth", "--max-new-tokens", "3", "--no-stop");
        assertEquals(0, g.status(), g.err());
        assertTrue(g.out().startsWith("It is a truth"), g.out());
    }

    @Test
    void aTokenizerLargerThanTheVocabularyIsRefusedNamingBothSizes(@TempDir Path tmp) throws IOException {
        Path model = tmp.resolve("m");
        Mamba1Saver.save(Mamba1Init.random(new Mamba1Config(256, 256, 16, 4, 1, 2, 4, 1, false, true, 1e-5, true, 0), DType.F32, 3,
                Backends.get("cpu")), model);
        Cli bytes = Cli.run("generate", "--model", model.toString(), "--prompt", "abc", "--max-new-tokens", "2");
        assertEquals(0, bytes.status(), "a 256-id model without a tokenizer reads as byte-level: " + bytes.err());
        Files.copy(NEOX, model.resolve("tokenizer.json"));
        Cli r = Cli.run("generate", "--model", model.toString(), "--prompt", "abc", "--max-new-tokens", "2");
        CliFrontTest.assertOneLineError(r, "50", "256");   // GPT-NeoX's 50k ids vs the model's 256
        Cli ids = Cli.run("generate", "--model", model.toString(), "--prompt-ids", "300", "--max-new-tokens", "2", "--ids");
        CliFrontTest.assertOneLineError(ids, "--prompt-ids", "300", "256");
    }

    @Test
    void aModelWithNoTokenizerAndAWideVocabularyNamesTheWayOut(@TempDir Path tmp) {
        Path model = tmp.resolve("m");
        Mamba1Saver.save(Mamba1Init.random(new Mamba1Config(500, 500, 16, 4, 1, 2, 4, 1, false, true, 1e-5, true, 0), DType.F32, 3,
                Backends.get("cpu")), model);
        CliFrontTest.assertOneLineError(Cli.run("generate", "--model", model.toString(), "--prompt", "abc"), "no tokenizer", "--prompt-ids");
    }
}
