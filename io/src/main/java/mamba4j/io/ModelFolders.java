package mamba4j.io;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a model folder is. A training run's checkpoint keeps the model (what transformers' from_pretrained loads)
 * in {@code checkpoint/model/} and the training state beside it in {@code checkpoint/training/}; a path naming the
 * checkpoint folder itself means its model, so {@code --model runs/x/checkpoint} and {@code runs/x/checkpoint/model}
 * load the same.
 */
public final class ModelFolders {
    private ModelFolders() {}

    /** The model subfolder of a training checkpoint. */
    public static final String MODEL = "model";

    /** {@code dir/model} when {@code dir} is a training checkpoint (no config.json of its own, one in model/); else dir. */
    public static Path resolve(Path dir) {
        if (Files.isDirectory(dir) && !Files.exists(dir.resolve("config.json")) && Files.isRegularFile(dir.resolve(MODEL).resolve("config.json")))
            return dir.resolve(MODEL);
        return dir;
    }
}
