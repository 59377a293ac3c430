package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.app.PresetAccess;
import mamba4j.nn.TrainSettings;

import java.nio.file.Path;
import java.util.List;

/** A training preset file ({@code train --preset FILE}): its sections and its training settings. */
class PresetFuzzTest {
    @FuzzTest
    void preset(byte[] input) {
        Path f = Fuzz.dir("preset").resolve("preset.json");
        Fuzz.write(f, input);
        Fuzz.userErrorsOnly(() -> {
            ObjectNode p = PresetAccess.read(f);
            TrainSettings s = TrainSettings.resolve(p.get("train"), List.of());
            TrainSettings.resolve(s.toJson(), List.of());
        });
    }
}
