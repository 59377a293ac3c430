package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.core.Tensor;
import mamba4j.io.SafetensorsFile;

import java.nio.file.Path;

/** A single {@code .safetensors} file: header, dtypes, shapes, offsets; every tensor read back. */
class SafetensorsFuzzTest {
    @FuzzTest
    void single(byte[] input) {
        Path f = Fuzz.dir("safetensors").resolve("model.safetensors");
        Fuzz.write(f, input);
        Fuzz.userErrorsOnly(() -> {
            try (SafetensorsFile s = SafetensorsFile.open(f)) {
                for (String n : s.names()) {
                    Tensor t = s.get(n);
                    if (t.byteSize() != s.dtype(n).byteCount(t.numel()))   // whole blocks for Q8_0/Q4_0 (listed in mamba4j.quant)
                        throw new AssertionError(n + ": view of " + t.byteSize() + " bytes for " + t.numel() + " elements of " + s.dtype(n));
                }
                s.metadata();
            }
        });
    }
}
