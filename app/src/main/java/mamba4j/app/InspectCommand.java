package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufType;
import mamba4j.io.GgufValue;
import mamba4j.models.Models;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

@Command(name = "inspect", description = "Print a checkpoint's architecture, tensor shapes, dtypes and parameter count; for a .gguf file its metadata and tensors too.")
final class InspectCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (config.json + *.safetensors) or a .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--tensors", description = "List every tensor (default: the first layer's and the model-level ones).")
    boolean allTensors;

    @Override public Integer call() {
        if (Models.isGguf(model)) return gguf();
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

    /** Any GGUF file: its metadata and tensors; then whether (and as what) mamba4j runs it. */
    private int gguf() {
        try (GgufFile f = GgufFile.open(model)) {
            System.out.printf("file:          %s (GGUF v%d, %s, alignment %d, data from byte %d)%n", f.path(), f.version(),
                    mamba4j.io.MemoryBudget.human(f.path().toFile().length()), f.alignment(), f.dataStart());
            System.out.println("metadata:      " + f.metadata().size() + " keys");
            for (Map.Entry<String, GgufValue> e : f.metadata().entrySet())
                System.out.printf("  %-45s %-8s %s%n", e.getKey(), e.getValue().type() == mamba4j.io.GgufValueType.ARRAY ? "ARRAY" : e.getValue().type(),
                        e.getValue().display(8));
            long params = 0;
            Map<GgufType, Long> byType = new TreeMap<>();
            for (GgufFile.TensorInfo t : f.tensorInfos().values()) {
                params += t.numel();
                byType.merge(t.type(), t.numel(), Long::sum);
            }
            System.out.printf("tensors:       %d, %,d parameters %s; sizes in ggml order (ne[0] = row length), then row-major%n",
                    f.tensorNames().size(), params, byType);
            for (GgufFile.TensorInfo t : f.tensorInfos().values())
                if (allTensors || !t.name().startsWith("blk.") || t.name().startsWith("blk.0."))
                    System.out.printf("  %-40s %-6s %-22s %s%n", t.name(), t.type(), Arrays.toString(t.ne()), t.shape());
            if (!allTensors && f.tensorNames().stream().anyMatch(n -> n.startsWith("blk.1.")))
                System.out.println("  (blocks 1.. have the same tensors as block 0; --tensors lists all)");
        }
        try (Models.Loaded loaded = Models.load(model, Backends.get("reference"))) {
            System.out.println("runs as:       " + Models.architecture(loaded.json()) + " " + loaded.config());
        } catch (UserInputException e) {
            System.out.println("runs as:       not runnable by mamba4j: " + e.getMessage());
        }
        return 0;
    }
}
