package mamba4j.app.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import mamba4j.models.distill.DistillPlan;

import java.nio.file.Path;

/** A MOHAWK distillation plan ({@code distill --plan}). */
class PlanFuzzTest {
    @FuzzTest
    void plan(byte[] input) {
        Path f = Fuzz.dir("plan").resolve("plan.json");
        Fuzz.write(f, input);
        Fuzz.userErrorsOnly(() -> {
            DistillPlan plan = DistillPlan.read(f);
            DistillPlan.parse(mamba4j.io.JsonConfig.of(f, plan.toJson()));   // what it prints and saves reads back
        });
    }
}
