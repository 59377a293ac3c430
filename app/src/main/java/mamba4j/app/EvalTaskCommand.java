package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.models.Models;
import mamba4j.nn.TrainableModel;
import mamba4j.nn.data.InductionHeads;
import mamba4j.nn.data.SelectiveCopying;
import mamba4j.nn.data.SyntheticTask;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Exact-match accuracy of a saved checkpoint on a synthetic task at chosen test lengths, as many fresh sequences per
 * length as asked, from a chosen generator seed — the evaluation {@code train --eval-lengths} runs at the end of a
 * run, for any checkpoint and with more sequences.
 */
@Command(name = "eval-task", description = "Exact-match accuracy of a checkpoint on selective-copying or induction-heads at several test lengths.")
final class EvalTaskCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (config.json + model.safetensors). Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--task", required = true, description = "induction-heads or selective-copying.")
    String task;

    @Option(names = "--vocab", defaultValue = "16", description = "The task's vocabulary (default: ${DEFAULT-VALUE}).")
    int vocab;

    @Option(names = "--num-tokens", defaultValue = "16", description = "Selective copying: tokens to copy (default: ${DEFAULT-VALUE}).")
    int numTokens;

    @Option(names = "--lengths", required = true, split = ",", description = "Test sequence lengths, e.g. 256,1024,16384.")
    List<Integer> lengths;

    @Option(names = "--sequences", defaultValue = "64", description = "Test sequences per length (default: ${DEFAULT-VALUE}).")
    int sequences;

    @Option(names = "--seed", description = "Generator seed of the test sequences (default: the task's validation seed, as train --eval-lengths).")
    Long seed;

    @Option(names = "--out", description = "Also write eval_lengths.json and accuracy_vs_length.png here.")
    Path out;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Override public Integer call() throws Exception {
        Inputs.outputDir("--out", out);
        Backend be = Backends.get(backend);
        int first = lengths.getFirst();
        SyntheticTask t = switch (task) {
            case "induction-heads" -> new InductionHeads(first, vocab);
            case "selective-copying" -> new SelectiveCopying(first, vocab, numTokens);
            default -> throw new UserInputException("--task " + task + ": unknown task (induction-heads, selective-copying)");
        };
        model = ModelSource.resolve("--model", model);
        try (Models.Loaded l = Models.load(model, be)) {
            if (l.model().vocabSize() < vocab)
                throw new UserInputException("--model " + model + ": vocabulary " + l.model().vocabSize() + " is smaller than the task's " + vocab);
            TrainableModel m = Models.trainable(l, be);
            if (out != null) Files.createDirectories(out);
            long t0 = System.nanoTime();
            LengthEval.run(m, t, lengths, sequences, seed, out);
            System.out.printf("evaluated in %.1f s%n", (System.nanoTime() - t0) * 1e-9);
        }
        return 0;
    }
}
