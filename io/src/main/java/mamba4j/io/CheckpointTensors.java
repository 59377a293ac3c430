package mamba4j.io;

import mamba4j.core.DType;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tensors of a Hugging Face checkpoint, whether stored in one {@code model.safetensors} or sharded
 * under {@code model.safetensors.index.json} (as {@code save_pretrained} does past its shard size).
 *
 * <p>{@link #open} accepts a model directory or a path straight to a {@code .safetensors} file. A sharded
 * checkpoint is validated as a whole at open: every shard the index names exists and is a valid
 * safetensors file, and every tensor of the {@code weight_map} is in the shard it is mapped to. Tensors
 * are zero-copy views valid until {@link #close()}.
 */
public final class CheckpointTensors implements AutoCloseable {
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path source;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> byName; // in index (or file) order
    private final Map<String, Tensor> inMemory;        // of(...): tensors already made (null for safetensors files)
    private final AutoCloseable owner;                 // of(...): what holds their memory (a mapped file), or null

    private CheckpointTensors(Path source, List<SafetensorsFile> shards, Map<String, SafetensorsFile> byName) {
        this.source = source;
        this.shards = shards;
        this.byName = byName;
        this.inMemory = null;
        this.owner = null;
    }

    private CheckpointTensors(Path source, Map<String, Tensor> tensors, AutoCloseable owner) {
        this.source = source;
        this.shards = List.of();
        this.byName = Map.of();
        this.inMemory = tensors;
        this.owner = owner;
    }

    /**
     * A checkpoint whose tensors are given under their checkpoint names (e.g. a GGUF file's tensors mapped back to
     * Hugging Face names and shapes); {@code source} names it in messages, {@code owner} (may be null) is closed with it.
     */
    public static CheckpointTensors of(Path source, java.util.SequencedMap<String, Tensor> tensors, AutoCloseable owner) {
        return new CheckpointTensors(source.toAbsolutePath(), Collections.unmodifiableMap(new LinkedHashMap<>(tensors)), owner);
    }

    /**
     * Opens a model directory ({@code model.safetensors}, else {@code model.safetensors.index.json}) or a
     * {@code .safetensors} file.
     *
     * @throws UserInputException naming the path when neither file exists, the index is malformed, a shard is
     *     missing, or a tensor of the index is not in its shard
     */
    public static CheckpointTensors open(Path path) {
        Path p = path.toAbsolutePath();
        if (Files.isRegularFile(p)) {
            if (p.getFileName().toString().endsWith(".index.json")) return openIndex(p);
            return single(p);
        }
        if (!Files.isDirectory(p)) throw new UserInputException(p + ": no such checkpoint directory or file");
        if (Files.isRegularFile(p.resolve(SINGLE_FILE))) return single(p.resolve(SINGLE_FILE));
        if (Files.isRegularFile(p.resolve(INDEX_FILE))) return openIndex(p.resolve(INDEX_FILE));
        String hint = Files.exists(p.resolve("pytorch_model.bin")) || Files.exists(p.resolve("pytorch_model.bin.index.json"))
                ? "; it has PyTorch .bin weights, which mamba4j does not read: convert them with "
                  + "transformers (model.save_pretrained(dir, safe_serialization=True))"
                : "";
        throw new UserInputException("checkpoint directory " + p + ": found neither " + SINGLE_FILE + " nor "
                + INDEX_FILE + hint);
    }

    private static CheckpointTensors single(Path file) {
        SafetensorsFile f = SafetensorsFile.open(file);
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        for (String n : f.names()) byName.put(n, f);
        return new CheckpointTensors(file, List.of(f), Collections.unmodifiableMap(byName));
    }

    private static CheckpointTensors openIndex(Path index) {
        JsonConfig cfg = JsonConfig.read(index);
        JsonConfig weightMap = cfg.node("weight_map");
        Map<String, String> shardOf = new LinkedHashMap<>();
        for (String tensor : weightMap.keys()) {
            String shard = weightMap.string(tensor);
            UserFiles.inside(index.getParent(), shard, index, "weight_map." + tensor); // refuses .., absolute paths, NUL, links out
            shardOf.put(tensor, shard);
        }
        if (shardOf.isEmpty()) throw new UserInputException(index + ": 'weight_map' lists no tensors");

        Path dir = index.getParent();
        Map<String, SafetensorsFile> files = new LinkedHashMap<>();
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : shardOf.entrySet()) {
                String shardName = e.getValue();
                SafetensorsFile shard = files.get(shardName);
                if (shard == null) {
                    Path shardPath = UserFiles.inside(dir, shardName, index, "weight_map." + e.getKey());
                    if (!Files.isRegularFile(shardPath))
                        throw new UserInputException(index + ": shard file " + UserFiles.printable(shardName) + " (holding tensor '"
                                + e.getKey() + "') does not exist in " + dir);
                    shard = SafetensorsFile.open(shardPath);
                    opened.add(shard);
                    files.put(shardName, shard);
                }
                if (!shard.contains(e.getKey()))
                    throw new UserInputException(index + ": tensor '" + e.getKey() + "' is mapped to shard '"
                            + shardName + "', which does not contain it");
                byName.put(e.getKey(), shard);
            }
            return new CheckpointTensors(index, List.copyOf(opened), Collections.unmodifiableMap(byName));
        } catch (RuntimeException | Error e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** The file opened: {@code model.safetensors}, the index, or the file given. */
    public Path source() { return source; }

    /** Tensor names in index order (or file order for a single file). */
    public List<String> names() { return List.copyOf(inMemory != null ? inMemory.keySet() : byName.keySet()); }

    public boolean contains(String name) { return inMemory != null ? inMemory.containsKey(name) : byName.containsKey(name); }

    public DType dtype(String name) { return inMemory != null ? given(name).dtype() : shard(name).dtype(name); }

    public Shape shape(String name) { return inMemory != null ? given(name).shape() : shard(name).shape(name); }

    /** The tensor as a zero-copy, read-only view, valid until {@link #close()}. */
    public Tensor get(String name) { return inMemory != null ? given(name) : shard(name).get(name); }

    /** The file holding {@code name} (a safetensors shard, or the source of given tensors), for messages that name it. */
    public Path file(String name) { return inMemory != null ? source : shard(name).path(); }

    /** Number of files (1 unless sharded). */
    public int shardCount() { return inMemory != null ? 1 : shards.size(); }

    /** The {@code __metadata__} of the first shard (save_pretrained writes {@code {"format": "pt"}} to each); empty for given tensors. */
    public Map<String, String> metadata() { return inMemory != null ? Map.of() : shards.getFirst().metadata(); }

    private Tensor given(String name) {
        Tensor t = inMemory.get(name);
        if (t == null)
            throw new UserInputException("checkpoint " + source + ": no tensor '" + name + "' (it has " + inMemory.size() + " tensors)");
        return t;
    }

    private SafetensorsFile shard(String name) {
        SafetensorsFile f = byName.get(name);
        if (f == null)
            throw new UserInputException("checkpoint " + source + ": no tensor '" + name + "' (it has "
                    + byName.size() + " tensors)");
        return f;
    }

    @Override
    public void close() {
        for (SafetensorsFile f : shards) f.close();
        if (owner != null) {
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("cannot close " + source + ": " + e.getMessage(), e);
            }
        }
    }
}
