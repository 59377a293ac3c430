package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.io.StreamingDecoder;
import mamba4j.io.Tokenizer;
import mamba4j.io.Tokenizers;
import mamba4j.models.CausalLM;
import mamba4j.models.Generator;
import mamba4j.models.Models;
import mamba4j.models.Sampler;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

@Command(name = "generate", description = {"Generate a continuation: prefill with the whole-sequence scan, then O(1) memory per token.",
        "--prompts-file runs many prompts as one batch (each with its own state, at its own length) and prints each "
                + "completion in input order."})
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory, or a llama.cpp Mamba/Mamba-2 .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @ArgGroup(multiplicity = "1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", description = "Prompt text (tokenised with the model's tokenizer.json, or as UTF-8 bytes for a byte-level model).")
        String text;
        @Option(names = "--prompt-ids", description = "Prompt as comma-separated token ids, e.g. 1,2,3.")
        String ids;
        @Option(names = "--prompts-file", paramLabel = "FILE", description = "A UTF-8 text file of prompts, one a line (empty lines are refused); "
                + "all are generated as one batch and printed in input order.")
        Path file;
    }

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "Nucleus sampling mass; 1 = off (default: ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed; with --prompts-file every prompt samples with it as it would alone (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--ids", description = "Print one line per prompt: the comma-separated ids of prompt + continuation.")
    boolean printIds;

    @Option(names = "--json", description = "Print one JSON object per prompt, one a line: prompt, completion, their ids, finish_reason (stop or length).")
    boolean json;

    @Option(names = "--batch", defaultValue = "64", description = "With --prompts-file: at most this many prompts in one batch (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--no-stop", description = "Do not stop at the end-of-sequence token.")
    boolean noStop;

    @Option(names = "--tokenizer", description = "bytes or a tokenizer.json (default: the one the model folder carries: its tokenizer.json or byte-level marker).")
    String tokenizer;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    private static final ObjectMapper JSON = new ObjectMapper();
    @Option(names = "--dtype", description = "Convert the linear weights and embeddings as they load: f32, bf16, f16, or q8_0 / q4_0 (quantised by llama.cpp's rule; Mamba-1's x_proj and dt_proj stay as stored) (default: as stored).")
    String dtype;

    @Override public Integer call() throws Exception {
        if (maxNewTokens < 0) throw new UserInputException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (!(temperature >= 0)) throw new UserInputException("--temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new UserInputException("--top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new UserInputException("--top-p must be in (0, 1], got " + topP);
        if (batch < 1) throw new UserInputException("--batch must be >= 1, got " + batch);
        if (printIds && json) throw new UserInputException("--ids and --json: choose one output format");
        List<String> lines = prompt.file == null ? null : readPrompts(prompt.file);   // a bad file fails before the model loads
        model = ModelSource.resolve("--model", model);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Models.Loaded loaded = Models.load(model, Backends.get(backend), Inputs.weightType("--dtype", dtype))) {
            if (lines != null) return generateAll(loaded.model(), lines, out);
            Tokenizer tok = null;
            int[] ids;
            int vocab = loaded.model().vocabSize();
            if (prompt.text != null) {
                tok = ModelTokenizer.load(model, vocab, tokenizer, "--prompt");
                ids = encode(tok, prompt.text, vocab, "--prompt");
            } else {
                ids = Inputs.parseIds("--prompt-ids", prompt.ids);
                for (int id : ids)
                    if (id < 0 || id >= vocab) throw new UserInputException("--prompt-ids: id " + id + " is outside the model's vocabulary of " + vocab);
                if (!printIds && (tokenizer != null || ModelTokenizer.carriesTokenizer(model)))
                    tok = ModelTokenizer.load(model, vocab, tokenizer, "--prompt-ids");
            }
            Sampler sampler = new Sampler(temperature, topK, topP, seed);
            boolean stream = !printIds && !json;
            StreamingDecoder dec = tok == null || !stream ? null : new StreamingDecoder(tok);
            if (dec != null) {
                for (int id : ids) dec.push(id);
                out.print(tok.decode(ids));
            } else if (stream) {   // no tokenizer: stream ids
                out.print(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            }
            long t0 = System.nanoTime();
            int[][] result = Generator.generate(loaded.model(), new int[][]{ids}, maxNewTokens, sampler, !noStop, (row, id) -> {
                if (dec != null) out.print(dec.push(id));
                else if (stream) out.print("," + id);
            });
            if (printIds) out.println(joinIds(result[0]));
            else if (json) out.println(JSON.writeValueAsString(record(-1, tok, ids, result[0], loaded.model())));
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

    /**
     * The prompts of {@code --prompts-file}: UTF-8, one a line (a final line break is optional, CR LF is read as a
     * line break). An empty line is refused rather than skipped, so prompt n of the output is line n of the file.
     */
    static List<String> readPrompts(Path file) {
        String where = "--prompts-file " + file;
        if (java.nio.file.Files.isDirectory(file)) throw new UserInputException(where + ": is a directory, expected a text file of prompts");
        byte[] bytes;
        try {
            bytes = java.nio.file.Files.readAllBytes(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new UserInputException(where + ": no such file");
        } catch (java.nio.file.AccessDeniedException e) {
            throw new UserInputException(where + ": permission denied");
        } catch (java.io.IOException e) {
            throw new UserInputException(where + ": cannot read it (" + e.getMessage() + ")");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new UserInputException(where + ": not UTF-8 text");
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);   // a byte order mark is not part of the first prompt
        List<String> lines = new ArrayList<>(List.of(text.split("\n", -1)));
        if (!lines.isEmpty() && lines.getLast().isEmpty()) lines.removeLast();   // the final line break
        if (lines.isEmpty()) throw new UserInputException(where + ": holds no prompts (one prompt a line)");
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (l.endsWith("\r")) lines.set(i, l = l.substring(0, l.length() - 1));
            if (l.isEmpty()) throw new UserInputException(where + ": line " + (i + 1) + " is empty (one prompt a line; remove empty lines)");
        }
        return lines;
    }

    /**
     * Every prompt of the file through the model, {@code --batch} rows at a time (each row with its own state and
     * sampler, so a prompt's output is the one it gets alone), printed in input order once its batch is done.
     */
    private int generateAll(CausalLM m, List<String> lines, PrintStream out) throws Exception {
        int vocab = m.vocabSize();
        try (Tokenizer tok = ModelTokenizer.load(model, vocab, tokenizer, "--prompts-file")) {
            int[][] prompts = new int[lines.size()][];
            for (int i = 0; i < prompts.length; i++)
                prompts[i] = encode(tok, lines.get(i), vocab, "--prompts-file " + prompt.file + ": line " + (i + 1));
            long t0 = System.nanoTime(), made = 0, read = 0;
            for (int from = 0; from < prompts.length; from += batch) {
                int[][] rows = Arrays.copyOfRange(prompts, from, Math.min(prompts.length, from + batch));
                Sampler[] samplers = new Sampler[rows.length];
                for (int i = 0; i < rows.length; i++) samplers[i] = new Sampler(temperature, topK, topP, seed);
                int[][] result = Generator.generate(m, rows, maxNewTokens, samplers, !noStop, (row, id) -> {});
                for (int i = 0; i < rows.length; i++) {
                    int n = from + i + 1;
                    made += result[i].length - rows[i].length;
                    read += rows[i].length;
                    if (printIds) out.println(joinIds(result[i]));
                    else if (json) out.println(JSON.writeValueAsString(record(n, tok, rows[i], result[i], m)));
                    else {
                        out.println((n > 1 ? "\n" : "") + "==> prompt " + n + " <==");
                        out.println(tok.decode(rows[i]) + completion(tok, rows[i], result[i]));
                    }
                }
                if (prompts.length > batch)
                    System.err.printf(java.util.Locale.ROOT, "%d of %d prompts done%n", Math.min(prompts.length, from + batch), prompts.length);
            }
            double sec = (System.nanoTime() - t0) * 1e-9;
            System.err.printf(java.util.Locale.ROOT, "%d prompts (batch %d): %d prompt + %d new tokens in %.2f s: %.1f tok/s%n",
                    prompts.length, Math.min(batch, prompts.length), read, made, sec, made / Math.max(sec, 1e-9));
        }
        return 0;
    }

    /** The ids of a prompt text, each checked against the model's vocabulary; {@code what} names the prompt in errors. */
    private static int[] encode(Tokenizer tok, String text, int vocab, String what) {
        int[] ids = tok.encode(text);
        if (ids.length == 0) throw new UserInputException(what + ": the text encodes to no tokens");
        for (int id : ids)
            if (id >= vocab) throw new UserInputException(what + ": token id " + id + " is outside the model's vocabulary of " + vocab);
        return ids;
    }

    /** The continuation's text as the streaming path prints it (decoded in the context of the prompt). */
    private static String completion(Tokenizer tok, int[] prompt, int[] all) {
        StreamingDecoder dec = new StreamingDecoder(tok);
        for (int id : prompt) dec.push(id);
        StringBuilder b = new StringBuilder();
        for (int j = prompt.length; j < all.length; j++) b.append(dec.push(all[j]));
        return b.append(dec.flush()).toString();
    }

    /** One prompt's result as JSON: line (with --prompts-file), prompt and completion text (with a tokenizer), ids, finish_reason. */
    private ObjectNode record(int line, Tokenizer tok, int[] prompt, int[] all, CausalLM m) {
        ObjectNode o = JSON.createObjectNode();
        if (line > 0) o.put("line", line);
        if (tok != null) {
            o.put("prompt", tok.decode(prompt));
            o.put("completion", completion(tok, prompt, all));
        }
        ArrayNode p = o.putArray("prompt_ids"), c = o.putArray("completion_ids");
        for (int id : prompt) p.add(id);
        for (int j = prompt.length; j < all.length; j++) c.add(all[j]);
        boolean stopped = !noStop && all.length > prompt.length && all[all.length - 1] == m.eosTokenId();
        o.put("finish_reason", stopped ? "stop" : "length");
        return o;
    }

    private static String joinIds(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(","));
    }
}
