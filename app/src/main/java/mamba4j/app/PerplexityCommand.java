package mamba4j.app;

import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.Tokenizer;
import mamba4j.models.CausalLM;
import mamba4j.models.Models;
import mamba4j.models.Trace;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.Progress;
import me.tongfei.progressbar.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Perplexity of a text with a sliding window, as the transformers perplexity guide ("Perplexity of fixed-length
 * models"): windows of {@code --context} tokens start every {@code --stride} tokens; each token is scored once, in the
 * first window that holds it after the part already scored, with everything before it in that window as context; the
 * text's first token (no context) is never scored. {@code stride = context} is llama.cpp's non-overlapping chunks.
 * Bits per byte = the scored tokens' negative log-likelihood in bits / the UTF-8 bytes those tokens decode to.
 */
@Command(name = "perplexity", description = {"Perplexity and bits per byte of a model on a text file, with a sliding window (as the transformers perplexity guide).",
        "Every token after the first is scored once, with up to --context tokens of context; windows start every --stride tokens."})
final class PerplexityCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory (any architecture), or a llama.cpp Mamba/Mamba-2 .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--text", required = true, description = "The text file (UTF-8).")
    Path text;

    @Option(names = "--context", description = "Tokens per window (default: the model's positions for attention models, else 1024).")
    Integer context;

    @Option(names = "--stride", description = "Tokens between window starts, 1..context (default: context / 2).")
    Integer stride;

    @Option(names = "--batch", defaultValue = "1", description = "Windows per forward pass (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--max-tokens", defaultValue = "0", description = "Score only the text's first N tokens; 0 = all (default: ${DEFAULT-VALUE}).")
    long maxTokens;

    @Option(names = "--tokenizer", description = "bytes or a tokenizer.json (default: the one the model folder carries).")
    String tokenizer;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--dtype", description = "Convert the linear weights and embeddings as they load: f32, bf16, f16, or q8_0 / q4_0 (quantised by llama.cpp's rule; Mamba-1's x_proj and dt_proj stay as stored) (default: as stored).")
    String dtype;

    @Option(names = "--no-progress", description = "No progress bar.")
    boolean noProgress;

    /**
     * The outcome: total negative log-likelihood (nats) of {@code scored} tokens, which decode to {@code bytes} bytes.
     */
    record Result(double nll, long scored, long bytes, int windows) {
        double perplexity() { return Math.exp(nll / scored); }
        double bitsPerByte() { return nll / Math.log(2) / bytes; }
    }

    /** One window: ids [begin, end), scoring the tokens at positions [from, end). */
    record Window(int begin, int end, int from) {}

    @Override public Integer call() throws IOException {
        if (!Files.isRegularFile(text)) throw new UserInputException("--text " + text + ": no such file");
        if (batch < 1) throw new UserInputException("--batch must be ≥ 1, got " + batch);
        if (maxTokens < 0) throw new UserInputException("--max-tokens must be ≥ 0, got " + maxTokens);
        model = ModelSource.resolve("--model", model);
        try (Models.Loaded loaded = Models.load(model, Backends.get(backend), Inputs.weightType("--dtype", dtype))) {
            CausalLM lm = loaded.model();
            int positions = maxPositions(lm);
            int ctx = context != null ? context : Math.min(positions, 1024);
            if (ctx < 2) throw new UserInputException("--context must be ≥ 2, got " + ctx);
            if (ctx > positions)
                throw new UserInputException("--context " + ctx + " exceeds the model's " + positions + " positions (" + model + ")");
            int str = stride != null ? stride : Math.max(1, ctx / 2);
            if (str < 1 || str > ctx) throw new UserInputException("--stride must be in [1, --context = " + ctx + "], got " + str);
            String content = Files.readString(text, StandardCharsets.UTF_8);
            int[] ids;
            Tokenizer tok = ModelTokenizer.load(model, lm.vocabSize(), tokenizer, "--tokenizer");
            try {
                ids = tok.encode(content);
                if (maxTokens > 0 && ids.length > maxTokens) ids = Arrays.copyOf(ids, (int) maxTokens);
                for (int i = 0; i < ids.length; i++)
                    if (ids[i] >= lm.vocabSize())
                        throw new UserInputException("--text " + text + ": token " + i + " has id " + ids[i] + ", outside the model's vocabulary of "
                                + lm.vocabSize() + " (a tokenizer that does not belong to this model?)");
                if (ids.length < 2) throw new UserInputException("--text " + text + ": needs at least 2 tokens, has " + ids.length);
                PrintStream err = System.err;
                List<Window> windows = windows(ids.length, ctx, str);
                err.printf(Locale.ROOT, "%s: %,d tokens, %d windows of ≤ %d tokens, stride %d%n", text, ids.length, windows.size(), ctx, str);
                long t0 = System.nanoTime();
                Result r = evaluate(lm, ids, windows, batch, noProgress ? null : err);
                long bytes = scoredBytes(tok, ids, windows);
                r = new Result(r.nll(), r.scored(), bytes, r.windows());
                double s = (System.nanoTime() - t0) * 1e-9;
                System.out.printf(Locale.ROOT, "perplexity %.4f, bits per byte %.4f (%,d tokens scored, %,d bytes; context %d, stride %d; %.1f s, %.0f tok/s)%n",
                        r.perplexity(), r.bitsPerByte(), r.scored(), r.bytes(), ctx, str, s, windows.stream().mapToLong(w -> w.end() - w.begin()).sum() / Math.max(s, 1e-9));
            } finally {
                tok.close();
            }
        }
        return 0;
    }

    /** The longest input the model takes: its attention layers' positions, else unlimited. */
    static int maxPositions(CausalLM lm) {
        if (lm instanceof TransformerLM t) return t.spec().maxPositions();
        if (lm instanceof MohawkStudent s && !s.attentionLayers().isEmpty()) return s.spec().maxPositions();
        return Integer.MAX_VALUE;
    }

    /** The sliding windows over n tokens (the transformers guide's loop). */
    static List<Window> windows(int n, int context, int stride) {
        List<Window> out = new ArrayList<>();
        int prevEnd = 0;
        for (int begin = 0; ; begin += stride) {
            int end = Math.min(begin + context, n);
            int from = Math.max(prevEnd, begin + 1);
            if (from < end) out.add(new Window(begin, end, from));
            prevEnd = end;
            if (end == n) break;
        }
        return out;
    }

    /** Sum of −log p(token) over the scored positions, in float64 from the model's logits; windows of one length share a batch. */
    static Result evaluate(CausalLM lm, int[] ids, List<Window> windows, int batch, PrintStream progress) {
        double nll = 0;
        long scored = 0;
        try (ProgressBar bar = progress == null ? null : Progress.bar("perplexity", windows.size(), progress)) {
            for (int i = 0; i < windows.size(); ) {
                int len = windows.get(i).end() - windows.get(i).begin();
                int j = i;
                while (j < windows.size() && j - i < batch && windows.get(j).end() - windows.get(j).begin() == len) j++;
                int[][] rows = new int[j - i][];
                for (int k = i; k < j; k++) rows[k - i] = Arrays.copyOfRange(ids, windows.get(k).begin(), windows.get(k).end());
                Tensor logits = lm.forward(rows, Trace.NONE);   // (b, len, V)
                int v = (int) logits.dim(2);
                float[] all = lm.backend().download(logits).toFloatArray();
                for (int k = i; k < j; k++) {
                    Window w = windows.get(k);
                    for (int t = w.from(); t < w.end(); t++) {
                        int off = ((k - i) * len + (t - 1 - w.begin())) * v;   // logits at t−1 predict the token at t
                        double max = Double.NEGATIVE_INFINITY;
                        for (int c = 0; c < v; c++) max = Math.max(max, all[off + c]);
                        double sum = 0;
                        for (int c = 0; c < v; c++) sum += Math.exp(all[off + c] - max);
                        nll += max + Math.log(sum) - all[off + ids[t]];
                        scored++;
                    }
                }
                if (bar != null) bar.stepBy(j - i);
                i = j;
            }
        }
        return new Result(nll, scored, 0, windows.size());
    }

    /** UTF-8 bytes of the scored tokens: the whole prefix's bytes less those of the tokens never scored. */
    static long scoredBytes(Tokenizer tok, int[] ids, List<Window> windows) {
        boolean[] isScored = new boolean[ids.length];
        for (Window w : windows) for (int t = w.from(); t < w.end(); t++) isScored[t] = true;
        long bytes = tok.decode(ids).getBytes(StandardCharsets.UTF_8).length;
        for (int t = 0; t < ids.length; t++)
            if (!isScored[t]) bytes -= tok.decode(new int[]{ids[t]}).getBytes(StandardCharsets.UTF_8).length;
        return Math.max(bytes, 1);
    }
}
