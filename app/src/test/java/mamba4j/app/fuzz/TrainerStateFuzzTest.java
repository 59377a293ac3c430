package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.nn.TrainerState;

import java.nio.file.Path;

/** A checkpoint's {@code trainer.json} (what {@code train --resume} reads). */
class TrainerStateFuzzTest {
    @FuzzTest
    void trainerState(byte[] input) {
        Path f = Fuzz.dir("trainer").resolve("trainer.json");
        Fuzz.write(f, input);
        Fuzz.userErrorsOnly(() -> {
            TrainerState s = TrainerState.read(f);
            if (s.step() < 0 || s.step() > s.settings().steps()) throw new AssertionError("step " + s.step() + " accepted");
        });
    }
}
