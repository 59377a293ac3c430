package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.io.StreamingDecoder;
import mamba4j.io.Tokenizer;
import mamba4j.io.Tokenizers;
import mamba4j.models.Generator;
import mamba4j.models.Models;
import mamba4j.models.Sampler;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "generate", description = "Generate a continuation: prefill with the whole-sequence scan, then O(1) memory per token.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory.")
    Path model;

    @ArgGroup(multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", description = "Prompt text (tokenised with the model's tokenizer.json, or as UTF-8 bytes for a byte-level model).")
        String text;
        @Option(names = "--prompt-ids", description = "Prompt as comma-separated token ids, e.g. 1,2,3.")
        String ids;
    }

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass; 1 = off (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ids", description = "Print one line: the comma-separated ids of prompt + continuation.")
    boolean printIds;

    @Option(names = "--no-stop", description = "Do not stop at the end-of-sequence token.")
    boolean noStop;

    @Option(names = "--tokenizer", description = "bytes or a tokenizer.json (default: the one the model folder carries: its tokenizer.json or byte-level marker).")
    String tokenizer;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--dtype", description = "Convert the linear weights and embeddings as they load: f32, bf16, f16, or q8_0 / q4_0 (quantised by llama.cpp's rule; Mamba-1's x_proj and dt_proj stay as stored) (default: as stored).")
    String dtype;

    @Override public Integer call() throws Exception {
        if (maxNewTokens < 0) throw new UserInputException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (!(temperature >= 0)) throw new UserInputException("--temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new UserInputException("--top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new UserInputException("--top-p must be in (0, 1], got " + topP);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Models.Loaded loaded = Models.load(model, Backends.get(backend), Inputs.weightType("--dtype", dtype))) {
            Tokenizer tok = null;
            int[] ids;
            int vocab = loaded.model().vocabSize();
            if (prompt.text != null) {
                tok = ModelTokenizer.load(model, vocab, tokenizer, "--prompt");
                ids = tok.encode(prompt.text);
                if (ids.length == 0) throw new UserInputException("--prompt: the text encodes to no tokens");
                for (int id : ids)
                    if (id >= vocab) throw new UserInputException("--prompt: token id " + id + " is outside the model's vocabulary of " + vocab);
            } else {
                ids = Inputs.parseIds("--prompt-ids", prompt.ids);
                for (int id : ids)
                    if (id < 0 || id >= vocab) throw new UserInputException("--prompt-ids: id " + id + " is outside the model's vocabulary of " + vocab);
                if (!printIds && (tokenizer != null || java.nio.file.Files.exists(model.resolve(Tokenizers.TOKENIZER_FILE)) || ModelTokenizer.isByteLevel(model)))
                    tok = ModelTokenizer.load(model, vocab, tokenizer, "--prompt-ids");
            }
            Sampler sampler = new Sampler(temperature, topK, topP, seed);
            StreamingDecoder dec = tok == null || printIds ? null : new StreamingDecoder(tok);
            if (dec != null) {
                for (int id : ids) dec.push(id);
                out.print(tok.decode(ids));
            } else if (!printIds) {   // no tokenizer: stream ids
                out.print(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            }
            long t0 = System.nanoTime();
            int[][] result = Generator.generate(loaded.model(), new int[][]{ids}, maxNewTokens, sampler, !noStop, (row, id) -> {
                if (dec != null) out.print(dec.push(id));
                else if (!printIds) out.print("," + id);
            });
            if (printIds) out.println(Arrays.stream(result[0]).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            else {
                if (dec != null) out.print(dec.flush());
                out.println();
            }
            double sec = (System.nanoTime() - t0) * 1e-9;
            int made = result[0].length - ids.length;
            System.err.printf(java.util.Locale.ROOT, "%d prompt + %d new tokens in %.2f s: %.1f tok/s%n", ids.length, made, sec, made / Math.max(sec, 1e-9));
            if (tok != null) tok.close();
        }
        return 0;
    }
}
