package mamba4j.app;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** `distill` refuses what would train nothing or divide by nothing, with one named line. */
class DistillStrictTest {
    @Test
    void aPlanPatternMatchingNoParameterAndATooShortTextAreNamedErrors(@TempDir Path tmp) throws IOException {
        Path teacher = DemoCommand.extractShippedTeacher(tmp.resolve("teacher"));
        Path text = Files.writeString(tmp.resolve("t.txt"), "It is a truth universally acknowledged. ".repeat(200));
        Path plan = Files.writeString(tmp.resolve("plan.json"), """
                {"seq_len": 32, "batch_size": 2, "attention_layers": [], "xbc_from_vkq": false, "seed": 1, "eval_batches": 1,
                 "val_fraction": 0.2, "stages": [{"stage": 3, "steps": 2, "lr": 0.001, "train": ["mixer\\\\.no_such_weight"]}]}""");
        Cli r = Cli.run("distill", "--teacher", teacher.toString(), "--plan", plan.toString(), "--data", text.toString(),
                "--out", tmp.resolve("out").toString(), "--no-progress", "--no-plots");
        CliFrontTest.assertOneLineError(r, "plan stage 3", "no_such_weight", "matches no parameter");

        Path tiny = Files.writeString(tmp.resolve("tiny.txt"), "too short");
        Cli s = Cli.run("distill", "--teacher", teacher.toString(), "--plan", "stage3-only", "--data", tiny.toString(),
                "--out", tmp.resolve("out2").toString(), "--no-progress", "--no-plots");
        CliFrontTest.assertOneLineError(s, "--data", "a longer text is needed");
        Cli empty = Cli.run("distill", "--teacher", teacher.toString(), "--plan", "stage3-only", "--data",
                Files.writeString(tmp.resolve("empty.txt"), "").toString(), "--out", tmp.resolve("out3").toString(), "--no-progress");
        CliFrontTest.assertOneLineError(empty, "--data");

        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        CliFrontTest.assertOneLineError(Cli.run("distill", "--teacher", teacher.toString(), "--plan", "stage3-only", "--data", text.toString(),
                "--out", file.toString()), "--out", "is a file");
    }
}
