package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.core.Backends;
import mamba4j.models.Models;

import java.nio.file.Path;
import java.util.List;

/**
 * {@code config.json} of every dialect — transformers' mamba, mamba2, phi, llama, gpt2, the original state-spaces
 * Mamba/Mamba-2 layout, mamba4j's phi-mamba/llama-mamba students — with the checkpoint's weights beside it (input =
 * config.json ⊕ model.safetensors), loaded as {@code generate}/{@code inspect} do.
 */
class ConfigFuzzTest {
    @FuzzTest
    void configJson(byte[] input) {
        List<byte[]> p = Fuzz.parts(input, 2);
        Path dir = Fuzz.dir("config");
        Fuzz.write(dir.resolve("config.json"), p.get(0));
        if (p.get(1).length > 0) Fuzz.write(dir.resolve("model.safetensors"), p.get(1));
        Fuzz.userErrorsOnly(() -> {
            try (Models.Loaded l = Models.load(dir, Backends.get("reference"))) {
                Models.architecture(l.json());
            }
        });
    }
}
