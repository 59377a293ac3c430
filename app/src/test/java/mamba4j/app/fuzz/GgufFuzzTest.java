package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.GgufValue;
import mamba4j.io.Tokenizer;
import mamba4j.models.Models;

import java.nio.file.Path;

/**
 * A {@code .gguf} file: header, metadata of every type, tensor infos and offsets; every tensor read (Q8_0/Q4_0 widened),
 * every value displayed, its tokenizer built and run, and the file loaded as a model ({@code generate --model x.gguf}).
 */
class GgufFuzzTest {
    @FuzzTest
    void gguf(byte[] input) {
        Path f = Fuzz.dir("gguf").resolve("model.gguf");
        Fuzz.write(f, input);
        Fuzz.userErrorsOnly(() -> {
            try (GgufFile g = GgufFile.open(f)) {
                for (GgufValue v : g.metadata().values()) v.display(16);
                for (String n : g.tensorNames())
                    Fuzz.userErrorsOnly(() -> {
                        Tensor t = g.get(n);
                        if (t.numel() != g.info(n).numel())
                            throw new AssertionError(n + ": " + t.numel() + " elements for sizes " + java.util.Arrays.toString(g.info(n).ne()));
                    });
                Fuzz.userErrorsOnly(() -> GgufTokenizer.load(g).ifPresent(t -> {
                    try (Tokenizer tok = t) {
                        tok.decode(tok.encode("It is a truth universally acknowledged"));
                    }
                }));
            }
        });
        Fuzz.userErrorsOnly(() -> {
            try (Models.Loaded l = Models.load(f, Backends.reference())) {
                l.model().vocabSize();
            }
        });
    }
}
