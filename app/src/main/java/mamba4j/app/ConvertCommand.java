package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.io.AtomicFiles;
import mamba4j.io.Checksums;
import mamba4j.io.GgufFile;
import mamba4j.io.GgufTokenizer;
import mamba4j.io.GgufValue;
import mamba4j.io.HfTokenizer;
import mamba4j.io.Tokenizers;
import mamba4j.models.CausalLM;
import mamba4j.models.CheckpointCopy;
import mamba4j.models.Models;
import mamba4j.models.gguf.MambaGguf;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba2.Mamba2Init;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code mamba4j convert}: a copy of a checkpoint — another dtype, the other Mamba layout, or a llama.cpp GGUF file — written
 * atomically (a temporary folder or file renamed into place), never over its input, and over an existing non-empty
 * {@code --out} only with {@code --force}. A folder copy holds what transformers loads (config.json, model.safetensors, the
 * tokenizer files) and {@code checksums.json}; training state (optimizer, trainer.json) stays behind.
 */
@Command(name = "convert", description = "Write a copy of a checkpoint in another dtype or layout, or as a llama.cpp GGUF file (the input is never changed).")
final class ConvertCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint folder or .gguf file to convert.")
    Path model;

    @Option(names = "--shape", description = "Instead of --model: a randomly initialised model of a published shape, as bench --shape "
            + "(mamba-130m … mamba-2.8b, mamba2-130m … mamba2-2.7b).")
    String shape;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the --shape model (default: ${DEFAULT-VALUE}, bench's).")
    long seed;

    @Option(names = "--out", required = true, description = "Folder (safetensors) or .gguf file to write.")
    Path out;

    @Option(names = "--format", description = "safetensors (a checkpoint folder) or gguf (one file llama.cpp runs); default: gguf when --out ends in .gguf, else safetensors.")
    String format;

    @Option(names = "--dtype", description = "f32, bf16 or f16 for the matrices (embeddings, projections, head); the rest stays as stored, or F32 with f32; q8_0 or q4_0 with --format gguf (llama.cpp's quantiser; rows not a multiple of 32 as f16) (default: as stored).")
    String dtype;

    @Option(names = "--layout", description = "hf (transformers) or original (state-spaces); Mamba-1/Mamba-2 folders only (default: hf).")
    String layout;

    @Option(names = "--tokenizer", description = "bytes or a tokenizer.json to carry instead of the model's own.")
    String tokenizer;

    @Option(names = "--name", description = "general.name of a GGUF file (default: the model's folder or file name).")
    String name;

    @Option(names = "--force", description = "Replace an existing, non-empty --out.")
    boolean force;

    /** The files of a model folder that travel with it (the tokenizer and generation settings). */
    static final List<String> CARRIED = List.of(Tokenizers.TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json",
            "generation_config.json", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "tokenizer.model");

    @Override public Integer call() {
        if ((model == null) == (shape == null)) throw new UserInputException("convert: give exactly one of --model DIR|FILE.gguf and --shape NAME");
        boolean gguf = switch (format == null ? (out.getFileName().toString().endsWith(".gguf") ? "gguf" : "safetensors") : format.toLowerCase()) {
            case "gguf" -> true;
            case "safetensors", "hf" -> false;
            default -> throw new UserInputException("--format " + format + ": expected safetensors or gguf");
        };
        DType dt = dtype == null ? null : switch (dtype.toLowerCase()) {
            case "f32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "float16" -> DType.F16;
            case "q8_0", "q4_0" -> {
                if (!gguf) throw new UserInputException("--dtype " + dtype + ": quantised weights are written to GGUF (--format gguf); a "
                        + "folder copy takes f32, bf16 or f16 (or load with --dtype " + dtype + " where the model runs)");
                yield dtype.equalsIgnoreCase("q8_0") ? DType.Q8_0 : DType.Q4_0;
            }
            default -> throw new UserInputException("--dtype " + dtype + ": expected f32, bf16, f16, q8_0 or q4_0 (the last two for --format gguf)");
        };
        CheckpointCopy.Layout lay = layout == null ? CheckpointCopy.Layout.HF : switch (layout.toLowerCase()) {
            case "hf", "transformers" -> CheckpointCopy.Layout.HF;
            case "original", "state-spaces" -> CheckpointCopy.Layout.ORIGINAL;
            default -> throw new UserInputException("--layout " + layout + ": expected hf or original");
        };
        if (gguf && layout != null) throw new UserInputException("--layout " + layout + ": a GGUF file has one layout, llama.cpp's; --layout is for folders");
        Path dst = out.toAbsolutePath().normalize();
        if (model != null) checkApart(model.toAbsolutePath().normalize(), dst);
        checkOut(dst, gguf);

        Backend cpu = Backends.get("cpu");
        if (shape != null) {
            DType w = dt != null ? dt : DType.F32;
            CausalLM m = shape.startsWith("mamba2-") ? Mamba2Init.random(Mamba2Init.shape(shape), w, seed, cpu)
                    : Mamba1Init.random(Mamba1Init.shape(shape), w, seed, cpu);
            System.out.printf("converting a random %s model (seed %d, %s weights) to %s%n", shape, seed, w, dst);
            if (gguf) writeGguf(m, null, dst, dt, shape);
            else AtomicFiles.writeDirectory(dst, dir -> {
                CheckpointCopy.write(m, dir, dt, lay);
                carryTokenizer(null, dir, m.logitsSize());
                Checksums.write(dir);
            });
        } else {
            if (!Files.exists(model)) throw new UserInputException("--model " + model + ": no such checkpoint folder or .gguf file");
            Path src = mamba4j.io.ModelFolders.resolve(model.toAbsolutePath().normalize());   // a run's checkpoint/: its model/
            System.out.printf("converting %s to %s%n", src, dst);
            try (Models.Loaded loaded = Models.load(src, cpu)) {
                String label = name != null ? name : stem(src);
                if (gguf) writeGguf(loaded.model(), src, dst, dt, label);
                else AtomicFiles.writeDirectory(dst, dir -> {
                    CheckpointCopy.write(loaded, dir, dt, lay);
                    carryTokenizer(src, dir, loaded.model().logitsSize());
                    Checksums.write(dir);
                });
            }
        }
        System.out.printf("wrote %s (%s, %s)%n", dst, gguf ? "GGUF" : "safetensors folder, " + lay.name().toLowerCase() + " layout",
                human(size(dst)));
        return 0;
    }

    /** {@code --out}: not the kind of thing the format writes, and not an existing non-empty one without --force. */
    private void checkOut(Path dst, boolean gguf) {
        if (gguf) {
            if (Files.isDirectory(dst)) throw new UserInputException("--out " + out + ": is a directory; name the .gguf file to write");
            if (Files.exists(dst) && !force) throw new UserInputException("--out " + out + ": exists; pass --force to replace it");
        } else {
            if (Files.exists(dst) && !Files.isDirectory(dst))
                throw new UserInputException("--out " + out + ": is a file; name the folder to write (or --format gguf for a .gguf file)");
            if (Files.isDirectory(dst) && !isEmpty(dst) && !force)
                throw new UserInputException("--out " + out + ": exists and is not empty; pass --force to replace it");
        }
        Path parent = dst.getParent();
        if (parent != null && Files.exists(parent) && !Files.isDirectory(parent))
            throw new UserInputException("--out " + out + ": " + parent + " is a file, not a directory");
    }

    /** The output may be neither the input, nor inside it, nor a folder holding it (replacing that would delete the input). */
    private void checkApart(Path src, Path dst) {
        Path s = real(src), d = real(dst);
        if (d.equals(s)) throw new UserInputException("--out " + out + ": is the input itself; convert writes a copy and never changes its input");
        if (d.startsWith(s)) throw new UserInputException("--out " + out + ": is inside the input " + src + "; write the copy elsewhere");
        if (s.startsWith(d)) throw new UserInputException("--out " + out + ": holds the input " + src + "; replacing it would delete the input");
    }

    /** The real path of {@code p}, or of its nearest existing ancestor with the rest appended (links resolved). */
    private static Path real(Path p) {
        Path existing = p;
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return p;
        try {
            return existing.toRealPath().resolve(existing.relativize(p)).normalize();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resolve " + p + ": " + e.getMessage(), e);
        }
    }

    private void writeGguf(CausalLM m, Path src, Path dst, DType dt, String label) {
        DType matrices = dt != null ? dt : switch (matrixDtype(m)) {
            case BF16 -> DType.BF16;
            case F16 -> DType.F16;
            default -> DType.F32;
        };
        int rows = m.logitsSize(), eos = m.eosTokenId();
        SequencedMap<String, GgufValue> vocab;
        if (tokenizer != null) vocab = tokenizer.equals("bytes") ? GgufTokenizer.byteLevel(eos) : fromTokenizerFile(Path.of(tokenizer), rows, eos);
        else if (src != null && Models.isGguf(src)) {
            vocab = new LinkedHashMap<>();
            try (GgufFile f = GgufFile.open(src)) {
                for (Map.Entry<String, GgufValue> e : f.metadata().entrySet())
                    if (e.getKey().startsWith("tokenizer.")) vocab.put(e.getKey(), copy(e.getValue()));
            }
            if (vocab.isEmpty()) vocab = GgufTokenizer.none();
        } else if (src != null && Files.isRegularFile(src.resolve(Tokenizers.TOKENIZER_FILE))) vocab = fromTokenizerFile(src.resolve(Tokenizers.TOKENIZER_FILE), rows, eos);
        else if (src != null && (ModelTokenizer.isByteLevel(src) || rows == 256)) vocab = GgufTokenizer.byteLevel(eos);
        else vocab = GgufTokenizer.none();
        MambaGguf.write(m, dst, matrices, vocab, label);
    }

    /** A value read from a file, re-made in memory (the file is closed before the copy is written). */
    private static GgufValue copy(GgufValue v) {
        if (v.type() != mamba4j.io.GgufValueType.ARRAY) return v;
        mamba4j.io.GgufArray a = v.asArray();
        return GgufValue.array(switch (a.elementType()) {
            case STRING -> mamba4j.io.GgufArray.ofStrings(a.strings());
            case FLOAT32, FLOAT64 -> {
                double[] d = new double[Math.toIntExact(a.size())];
                for (int i = 0; i < d.length; i++) d[i] = a.getDouble(i);
                yield mamba4j.io.GgufArray.ofDoubles(a.elementType(), d);
            }
            case BOOL -> {
                boolean[] b = new boolean[Math.toIntExact(a.size())];
                for (int i = 0; i < b.length; i++) b[i] = a.getBool(i);
                yield mamba4j.io.GgufArray.ofBools(b);
            }
            case ARRAY -> mamba4j.io.GgufArray.ofArrays(a.arrays().stream().map(x -> copy(GgufValue.array(x)).asArray()).toList());
            default -> {
                long[] l = new long[Math.toIntExact(a.size())];
                for (int i = 0; i < l.length; i++) l[i] = a.getLong(i);
                yield mamba4j.io.GgufArray.ofLongs(a.elementType(), l);
            }
        });
    }

    private static SequencedMap<String, GgufValue> fromTokenizerFile(Path file, int rows, int eos) {
        if (!Files.isRegularFile(file)) throw new UserInputException("--tokenizer " + file + ": no such file (bytes or a tokenizer.json)");
        Path config = file.resolveSibling("tokenizer_config.json");
        return GgufTokenizer.fromTokenizerJson(file, Files.isRegularFile(config) ? config : null, rows, eos);
    }

    private static DType matrixDtype(CausalLM m) {
        return switch (m) {
            case mamba4j.models.mamba1.Mamba1Model x -> x.weights().embedding().dtype();
            case mamba4j.models.mamba2.Mamba2Model x -> x.weights().embedding().dtype();
            default -> DType.F32;
        };
    }

    /**
     * The tokenizer the copy carries: --tokenizer, else the source folder's tokenizer files (or its byte-level marker),
     * else the tokenizer.json a GGUF file's vocabulary makes.
     */
    private void carryTokenizer(Path src, Path dir, int rows) throws IOException {
        if (tokenizer != null) {
            if (!tokenizer.equals("bytes")) {
                Path f = Path.of(tokenizer);
                if (!Files.isRegularFile(f)) throw new UserInputException("--tokenizer " + tokenizer + ": no such file (bytes or a tokenizer.json)");
                try (HfTokenizer t = HfTokenizer.open(f)) {
                    if (t.vocabSize() > rows)
                        throw new UserInputException("--tokenizer " + tokenizer + ": " + t.vocabSize() + " ids, more than the model's " + rows);
                }
            }
            ModelTokenizer.attach(dir, tokenizer);
            return;
        }
        if (src == null) return;
        if (Models.isGguf(src)) {
            try (GgufFile f = GgufFile.open(src)) {
                var json = GgufTokenizer.tokenizerJson(f);
                if (json.isPresent()) {
                    if (GgufTokenizer.load(f).orElseThrow() instanceof mamba4j.io.ByteTokenizer) ModelTokenizer.attach(dir, "bytes");
                    else AtomicFiles.write(dir.resolve(Tokenizers.TOKENIZER_FILE), ch -> ch.write(java.nio.ByteBuffer.wrap(json.get())));
                }
            }
            return;
        }
        for (String n : CARRIED) {
            Path f = src.resolve(n);
            if (Files.isRegularFile(f)) Files.copy(f, dir.resolve(n));
        }
        if (ModelTokenizer.isByteLevel(src) && !ModelTokenizer.isByteLevel(dir)) ModelTokenizer.attach(dir, "bytes");
    }

    private static String stem(Path p) {
        String n = p.getFileName().toString();
        return n.endsWith(".gguf") ? n.substring(0, n.length() - 5) : n;
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static long size(Path p) {
        try (Stream<Path> s = Files.walk(p)) {
            return s.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        } catch (IOException e) {
            return 0;
        }
    }

    private static String human(long bytes) { return mamba4j.io.MemoryBudget.human(bytes); }
}
