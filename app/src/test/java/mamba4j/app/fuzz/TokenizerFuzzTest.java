package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.io.HfTokenizer;
import mamba4j.io.Tokenizers;

import java.nio.file.Path;
import java.util.List;

/**
 * A model folder's tokenizer: {@code tokenizer.json} ⊕ {@code tokenizer_config.json} ⊕ {@code config.json} (the eos
 * id), loaded as {@code generate} does, then a text encoded and decoded.
 */
class TokenizerFuzzTest {
    @FuzzTest
    void tokenizer(byte[] input) {
        List<byte[]> p = Fuzz.parts(input, 3);
        Path dir = Fuzz.dir("tokenizer");
        Fuzz.write(dir.resolve(Tokenizers.TOKENIZER_FILE), p.get(0));
        if (p.get(1).length > 0) Fuzz.write(dir.resolve("tokenizer_config.json"), p.get(1));
        if (p.get(2).length > 0) Fuzz.write(dir.resolve("config.json"), p.get(2));
        Fuzz.userErrorsOnly(() -> {
            HfTokenizer t = Tokenizers.load(dir);
            int[] ids = t.encode("It is a truth universally acknowledged");
            t.decode(ids);
        });
    }
}
