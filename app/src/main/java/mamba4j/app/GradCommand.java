package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.core.autograd.Parameter;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.Safetensors;
import mamba4j.models.Models;
import mamba4j.nn.TrainableModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Loss and gradients of one batch, for comparing with PyTorch: the mean next-token cross-entropy with
 * labels = input_ids (as transformers computes with {@code labels=input_ids}) and the gradient of every
 * parameter under its checkpoint name and shape (a tied embedding once, with both contributions; GPT-2's Conv1D
 * weights in their stored (in, out) layout). Mamba-1, Mamba-2, Phi, Llama and GPT-2 checkpoints.
 */
@Command(name = "grad", description = "Compute the next-token loss of input_ids and every parameter's gradient (safetensors out).")
final class GradCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory, or a llama.cpp Mamba/Mamba-2 .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--input", required = true, description = "safetensors file with tensor input_ids (I64 or I32, [B, T], T >= 2).")
    Path input;

    @Option(names = "--output", required = true, description = "safetensors file to write: loss (F32 [1]) and grad.<name> (F32).")
    Path output;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Override public Integer call() {
        Inputs.outputFile("--output", output);
        int[][] ids = Inputs.inputIds(input);
        if (ids[0].length < 2) throw new UserInputException("--input " + input + ": input_ids needs at least 2 tokens per row for a next-token loss");
        model = ModelSource.resolve("--model", model);
        try (Models.Loaded loaded = Models.load(model, Backends.get(backend))) {
            int vocab = loaded.model().vocabSize();
            for (int i = 0; i < ids.length; i++)
                for (int j = 0; j < ids[i].length; j++)
                    if (ids[i][j] < 0 || ids[i][j] >= vocab)
                        throw new UserInputException("--input " + input + ": token id " + ids[i][j] + " at row " + i + ", position " + j
                                + " is out of range: vocab_size is " + vocab);
            CheckpointTensors ck = loaded.checkpoint();
            TrainableModel tm = Models.trainable(loaded, Backends.get(backend));     // Mamba-1, Mamba-2 or a teacher
            double loss = tm.lossAndBackward(ids, mamba4j.models.TokenIds.nextTokenTargets(ids), 1f);
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            out.put("loss", Tensor.of(new float[]{(float) loss}, 1));
            for (Parameter p : tm.parameters())
                out.put("grad." + p.name(), p.grad().reshape(ck.shape(p.name()).dims()));
            Safetensors.write(output, out, Map.of("producer", "mamba4j grad", "backend", backend));
            System.err.printf("wrote %s: loss %.6f, %d gradients%n", output, loss, tm.parameters().size());
        }
        return 0;
    }
}
