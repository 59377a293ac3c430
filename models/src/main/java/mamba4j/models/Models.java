package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.io.GgufFile;
import mamba4j.models.discrete.MohawkStudentCheckpoint;
import mamba4j.models.gguf.MambaGguf;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Loader;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Loader;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.nn.TrainableModel;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/** The registry: picks the architecture from config.json ("model_type", or the original state-spaces keys). */
public final class Models {
    private Models() {}

    /** A loaded model and the open checkpoint it maps (close it when done). */
    public record Loaded(CausalLM model, Object config, CheckpointTensors checkpoint, JsonConfig json) implements AutoCloseable {
        @Override public void close() { checkpoint.close(); }
    }

    public static JsonConfig readConfig(Path path) {
        Path dir = mamba4j.io.ModelFolders.resolve(path);
        if (!Files.isDirectory(dir))
            throw new UserInputException("--model " + dir + ": not a directory (a checkpoint folder with config.json) or a .gguf file");
        Path file = dir.resolve("config.json");
        if (!Files.exists(file)) throw new UserInputException("--model " + dir + ": no config.json in this directory");
        return JsonConfig.read(file);
    }

    /** True when {@code path} is a GGUF file (llama.cpp's format) rather than a checkpoint folder. */
    public static boolean isGguf(Path path) {
        return Files.isRegularFile(path) && (path.getFileName().toString().endsWith(".gguf") || GgufFile.isGguf(path));
    }

    /** Architecture name as config.json declares it. */
    public static String architecture(JsonConfig c) {
        if (Mamba2Loader.isOriginalConfig(c)) return "mamba2 (original state-spaces layout)";
        if (Mamba1Loader.isOriginalConfig(c)) return "mamba (original state-spaces layout)";
        return c.optString("model_type", "(none)");
    }

    /**
     * Loads the model of a checkpoint folder, or of a llama.cpp Mamba-1/Mamba-2 GGUF file (read as the Hugging Face
     * checkpoint it corresponds to, {@link MambaGguf}). A folder mamba4j wrote as a training checkpoint carries
     * {@code checksums.json}; it is verified first, so a corrupt or edited file is refused, named.
     */
    public static Loaded load(Path dir, Backend backend) { return load(dir, backend, null); }

    /**
     * As {@link #load(Path, Backend)} with the linear weights and embeddings converted to {@code weightType} as they are
     * read (null: as stored): F32, BF16, F16, or Q8_0/Q4_0 quantised at load by llama.cpp's rule — every matrix whose
     * rows are whole blocks of 32 except Mamba-1's x_proj and dt_proj ({@link TensorSpec#cast}).
     */
    public static Loaded load(Path path, Backend backend, mamba4j.core.DType weightType) {
        Path dir = mamba4j.io.ModelFolders.resolve(path);   // a training checkpoint's model/
        if (weightType != null && !backend.kernels().weightTypes().contains(weightType))
            throw new UserInputException("weight dtype " + weightType + ": the " + backend.name() + " backend has no kernels for it (it takes "
                    + new java.util.TreeSet<>(backend.kernels().weightTypes()) + ")");
        if (isGguf(dir)) {
            MambaGguf.Checkpoint c = MambaGguf.open(dir);
            return build(c.config(), () -> c.tensors(), backend, weightType);
        }
        if (Files.isRegularFile(dir))
            throw new UserInputException("--model " + dir + ": a file that is not GGUF; pass a checkpoint folder (config.json and "
                    + "*.safetensors) or a .gguf file");
        JsonConfig json = readConfig(dir);
        if (mamba4j.io.Checksums.present(dir)) mamba4j.io.Checksums.verify(dir);
        return build(json, () -> CheckpointTensors.open(dir), backend, weightType);
    }

    /** The model config.json describes, over the tensors {@code open} gives (closed again if the model cannot be built). */
    private static Loaded build(JsonConfig json, Supplier<CheckpointTensors> open, Backend backend, mamba4j.core.DType weightType) {
        String type = json.optString("model_type",
                Mamba2Loader.isOriginalConfig(json) ? "mamba2" : Mamba1Loader.isOriginalConfig(json) ? "mamba" : "");
        Record cfg = switch (type) {
            case "mamba" -> Mamba1Loader.config(json);
            case "mamba2" -> Mamba2Loader.config(json);
            case "phi", "llama", "gpt2" -> mamba4j.models.teachers.TeacherLoader.config(json);   // Transformer teachers
            case MohawkStudentCheckpoint.MODEL_TYPE, MohawkStudentCheckpoint.LLAMA_MODEL_TYPE -> MohawkStudentCheckpoint.readConfig(json);   // MOHAWK students
            case "" -> throw new UserInputException(json.file() + ": no \"model_type\" key (and not an original state-spaces Mamba config with \"d_model\")");
            default -> throw new UserInputException(json.file() + ": unknown model_type \"" + type + "\"; supported: mamba, mamba2, phi, llama, gpt2, phi-mamba, llama-mamba");
        };
        CheckpointTensors ck = open.get();
        try {
            CausalLM model = switch (cfg) {
                case Mamba1Config c -> Mamba1Loader.load(c, ck, backend, weightType);
                case Mamba2Config c -> Mamba2Loader.load(c, ck, backend, weightType);
                case MohawkStudentCheckpoint.Config c -> MohawkStudentCheckpoint.load(json, ck, backend, weightType);
                default -> mamba4j.models.teachers.TeacherLoader.load(mamba4j.models.teachers.TeacherLoader.spec(cfg), ck, backend, weightType);
            };
            return new Loaded(model, cfg, ck, json);
        } catch (RuntimeException | Error ex) {   // OutOfMemoryError too: the mapping is released on any throwable
            ck.close();
            throw ex;
        }
    }

    /**
     * The loaded model's weights as trainable F32 parameters under their checkpoint names (for `grad`, `train --init`):
     * a trainable {@link Mamba1Model}, a trainable {@link Mamba2Model} or a {@link mamba4j.models.teachers.TransformerLM}
     * (Phi, Llama, GPT-2), whichever the checkpoint is.
     */
    public static TrainableModel trainable(Loaded loaded, Backend backend) {
        CheckpointTensors ck = loaded.checkpoint();
        return switch (loaded.model()) {
            case Mamba1Model m -> Mamba1Model.trainable(m.config(), backend, m.weights(), Mamba1Loader.embeddingName(ck));
            case Mamba2Model m -> Mamba2Model.trainable(m.config(), backend, m.weights(), Mamba2Loader.embeddingName(ck));
            case mamba4j.models.teachers.TransformerLM m -> mamba4j.models.teachers.TransformerLM.fromCheckpoint(m.spec(), ck, backend);
            case mamba4j.models.discrete.MohawkStudent m -> m.trainable();
            default -> throw new UserInputException("model " + loaded.model().getClass().getSimpleName() + " has no trainable form");
        };
    }
}
