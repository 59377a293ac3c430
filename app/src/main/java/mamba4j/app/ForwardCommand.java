package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.models.CausalLM;
import mamba4j.models.Trace;
import mamba4j.io.Safetensors;
import mamba4j.models.Models;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Whole-sequence forward, for comparing with PyTorch: writes {@code logits} and {@code hidden_states.<i>} in the
 * order of transformers' {@code output_hidden_states} of the architecture (n_layer + 1 entries): for Mamba the
 * output of each block, then norm_f's output (no embedding entry); for Phi, Llama and GPT-2 the embedding output,
 * the output of blocks 0 .. n_layer − 2, then the final norm's output. With {@code --attentions}, also
 * {@code attentions.<i>} [B, H, T, T]: layer i's softmax(QKᵀ/√d + causal mask), as output_attentions.
 */
@Command(name = "forward", description = "Run a whole-sequence forward pass: input_ids in, logits and hidden states out (safetensors).")
final class ForwardCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Checkpoint directory, or a llama.cpp Mamba/Mamba-2 .gguf file. Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--input", required = true, description = "safetensors file with tensor input_ids (I64 or I32, [B, T]).")
    Path input;

    @Option(names = "--output", required = true, description = "safetensors file to write: logits (F32 [B, T, V]) and hidden_states.<i> (F32 [B, T, D]).")
    Path output;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--attentions", description = "Also write attentions.<i> (F32 [B, H, T, T]) for every attention layer (Transformer models).")
    boolean attentions;

    /** A host copy of a traced tensor (the model reuses its memory for the next layer). */
    private static Tensor host(Backend be, Tensor x) {
        Tensor h = be.download(x);
        return h == x ? x.copy() : h;
    }

    @Override public Integer call() {
        Inputs.outputFile("--output", output);
        int[][] ids = Inputs.inputIds(input);
        model = ModelSource.resolve("--model", model);
        Backend be = Backends.get(backend);
        try (Models.Loaded loaded = Models.load(model, be)) {
            int b = ids.length, t = ids[0].length;
            CausalLM lm = loaded.model();
            List<Tensor> hidden = new ArrayList<>();
            List<Tensor> probs = new ArrayList<>();
            Tensor logits = lm.forward(ids, new Trace() {
                @Override public void record(String name, int layer, Tensor x) {
                    switch (name) {
                        case "embedding" -> { if (lm.hiddenStatesIncludeEmbedding()) hidden.add(host(be, x).reshape(b, t, x.dim(1))); }
                        case "block_out", "norm_f" -> hidden.add(host(be, x).reshape(b, t, x.dim(1)));
                        case "attn_probs" -> probs.add(host(be, x));
                        default -> {}
                    }
                }

                @Override public boolean wants(String name) { return attentions && name.equals("attn_probs"); }
            });
            // Transformers' tuple replaces the last block's output by the final norm's: [emb, blocks 0..L-2, norm]
            if (lm.hiddenStatesIncludeEmbedding()) hidden.remove(hidden.size() - 2);
            if (attentions && probs.isEmpty())
                throw new UserInputException("--attentions: " + model + " has no attention layers (architecture " + Models.architecture(loaded.json()) + ")");
            LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
            out.put("logits", be.download(logits));
            for (int i = 0; i < hidden.size(); i++) out.put("hidden_states." + i, hidden.get(i));
            for (int i = 0; i < probs.size(); i++) out.put("attentions." + i, probs.get(i));
            Safetensors.write(output, out, Map.of("producer", "mamba4j forward", "backend", backend));
            System.err.printf("wrote %s: logits %s, %d hidden states, %d attention maps%n", output, logits.shape(), hidden.size(), probs.size());
        }
        return 0;
    }
}
