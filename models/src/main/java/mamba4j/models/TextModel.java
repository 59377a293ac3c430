package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.io.StreamingDecoder;
import mamba4j.io.Tokenizer;
import mamba4j.io.Tokenizers;
import mamba4j.io.hub.HubModels;
import mamba4j.io.hub.RepoId;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The entry point for Java code that wants text in and text out: a checkpoint folder (any architecture
 * {@link Models#load} reads: Mamba, Mamba-2, Phi, Llama, GPT-2, the MOHAWK students) with the tokenizer that travels
 * with it ({@link Tokenizers#forModel}). It wraps the pieces a finer-grained user takes one by one — {@link Models},
 * {@link CausalLM}, {@link Generator}, {@link Sampler}, {@link Tokenizer}, {@link StreamingDecoder} — and adds no model
 * code of its own.
 *
 * <pre>{@code
 * try (TextModel lm = TextModel.load(Path.of("docs/llama-teacher"))) {
 *     String text = lm.generate("It is a truth", 40, Sampler.greedy(), piece -> System.out.print(piece));
 * }
 * }</pre>
 *
 * <p>The default backend is {@code cpu} (the Vector API: run the JVM with {@code --add-modules jdk.incubator.vector},
 * else loading says so); pass {@code Backends.get("reference")} for the scalar reference. Generation stops at the
 * model's end-of-sequence id. One generation at a time per instance (the model's workspaces are reused); close it to
 * release the mapped weights.
 */
public final class TextModel implements AutoCloseable {
    private final Path directory;
    private final Models.Loaded loaded;
    private final Tokenizer tokenizer;

    private TextModel(Path directory, Models.Loaded loaded, Tokenizer tokenizer) {
        this.directory = directory;
        this.loaded = loaded;
        this.tokenizer = tokenizer;
    }

    /** Loads {@code dir} on the cpu backend. */
    public static TextModel load(Path dir) { return load(dir, Backends.defaultBackend()); }

    /**
     * Loads a folder, or — when there is no folder of that name and it reads {@code ORG/NAME[@REVISION]} — a Hugging
     * Face model from the Hugging Face cache, downloading what the cache lacks ({@link HubModels#snapshot(RepoId)}:
     * {@code HF_HUB_CACHE}, {@code HF_HOME}, {@code HF_TOKEN}, {@code HF_HUB_OFFLINE} as huggingface_hub reads them),
     * on the cpu backend.
     */
    public static TextModel load(String folderOrHubModel) {
        Path dir = Path.of(folderOrHubModel);
        if (!Files.exists(dir)) {
            Optional<RepoId> id = RepoId.parse(folderOrHubModel);
            if (id.isPresent()) dir = HubModels.snapshot(id.get());
        }
        return load(dir);
    }

    /**
     * Loads the checkpoint folder {@code dir} (config.json, safetensors weights, tokenizer.json unless byte-level).
     *
     * @throws UserInputException naming the file at fault: no config.json, an unknown model_type, missing or
     *     mis-shaped tensors, no tokenizer, a tokenizer of another model
     */
    public static TextModel load(Path dir, Backend backend) {
        Models.Loaded loaded = Models.load(dir, backend);
        try {
            return new TextModel(dir, loaded, Tokenizers.forModel(dir, loaded.model().vocabSize()));
        } catch (RuntimeException | Error e) {
            loaded.close();
            throw e;
        }
    }

    /** The folder the model was loaded from. */
    public Path directory() { return directory; }

    /** The model itself: forward, prefill, step (for what this class does not wrap). */
    public CausalLM model() { return loaded.model(); }

    public Tokenizer tokenizer() { return tokenizer; }

    /**
     * The ids of {@code text}.
     *
     * @throws UserInputException when it encodes to nothing or to an id outside the model's vocabulary
     */
    public int[] encode(String text) {
        int[] ids = tokenizer.encode(text);
        if (ids.length == 0) throw new UserInputException("the text encodes to no tokens");
        int vocab = model().vocabSize();
        for (int id : ids)
            if (id < 0 || id >= vocab) throw new UserInputException("token id " + id + " is outside the model's vocabulary of " + vocab);
        return ids;
    }

    public String decode(int[] ids) { return tokenizer.decode(ids); }

    /**
     * The continuation of {@code prompt}, at most {@code maxNewTokens} tokens; {@code onText} receives it piece by
     * piece as it is generated (never a broken character), the pieces adding up to the returned text.
     */
    public String generate(String prompt, int maxNewTokens, Sampler sampler, Consumer<String> onText) {
        int[] ids = encode(prompt);
        StreamingDecoder dec = new StreamingDecoder(tokenizer);
        for (int id : ids) dec.push(id);
        StringBuilder text = new StringBuilder();
        Generator.generate(model(), new int[][]{ids}, maxNewTokens, sampler, true, (row, id) -> {
            String piece = dec.push(id);
            text.append(piece);
            if (!piece.isEmpty()) onText.accept(piece);
        });
        String rest = dec.flush();
        if (!rest.isEmpty()) onText.accept(rest);
        return text.append(rest).toString();
    }

    /** The greedy continuation of {@code prompt}. */
    public String generate(String prompt, int maxNewTokens) {
        return generate(prompt, maxNewTokens, Sampler.greedy(), piece -> {});
    }

    /**
     * The continuations of {@code prompts} (any lengths), generated as one batch, in the order given. Each prompt is
     * sampled by its own sampler from {@code samplers} (called once per prompt), so with samplers made alike each
     * continuation is the one {@link #generate(String, int, Sampler, Consumer)} gives that prompt alone.
     */
    public List<String> generate(List<String> prompts, int maxNewTokens, Supplier<Sampler> samplers) {
        if (prompts.isEmpty()) return List.of();
        int[][] ids = new int[prompts.size()][];
        Sampler[] each = new Sampler[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = encode(prompts.get(i));
            each[i] = samplers.get();
        }
        int[][] out = Generator.generate(model(), ids, maxNewTokens, each, true, (row, id) -> {});
        List<String> texts = new ArrayList<>(ids.length);
        for (int i = 0; i < ids.length; i++) {
            StreamingDecoder dec = new StreamingDecoder(tokenizer);
            for (int id : ids[i]) dec.push(id);
            StringBuilder b = new StringBuilder();
            for (int j = ids[i].length; j < out[i].length; j++) b.append(dec.push(out[i][j]));
            texts.add(b.append(dec.flush()).toString());
        }
        return texts;
    }

    /** Releases the tokenizer and the mapped checkpoint. */
    @Override public void close() {
        try {
            tokenizer.close();
        } finally {
            loaded.close();
        }
    }
}
