package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.Models;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

@Command(name = "inspect", description = "Print a checkpoint's architecture, tensor shapes, dtypes and parameter count.")
final class InspectCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (config.json + *.safetensors). Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--tensors", description = "List every tensor (default: the first layer's and the model-level ones).")
    boolean allTensors;

    @Override public Integer call() {
        model = ModelSource.resolve("--model", model);
        try (Models.Loaded loaded = Models.load(model, Backends.get("reference"))) {
            CheckpointTensors ck = loaded.checkpoint();
            System.out.println("model:         " + model.toAbsolutePath());
            System.out.println("architecture:  " + Models.architecture(loaded.json()));
            System.out.println("config:        " + loaded.config());
            long params = 0;
            Map<DType, Long> byType = new TreeMap<>();
            for (String n : ck.names()) {
                long c = ck.shape(n).numel();
                params += c;
                byType.merge(ck.dtype(n), c, Long::sum);
            }
            System.out.printf("parameters:    %,d (%s) in %d tensors, %d file(s)%n", params, byType, ck.names().size(), ck.shardCount());
            System.out.println("tensors:");
            for (String n : ck.names())
                if (allTensors || !n.contains("layers.") || n.contains("layers.0."))
                    System.out.printf("  %-50s %-6s %s%n", n, ck.dtype(n), ck.shape(n));
            if (!allTensors) System.out.println("  (layers 1.. have the same shapes as layer 0; --tensors lists all)");
        }
        return 0;
    }
}
