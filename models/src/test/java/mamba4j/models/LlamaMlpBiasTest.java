package mamba4j.models;

import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.models.teachers.TeacherSaver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Llama with {@code mlp_bias: true} (gate_proj, up_proj and down_proj biases): the inference model reads all three
 * biases — its logits equal the training forward's, which reads every tensor of the checkpoint by name — and they
 * differ from the same model without the biases (so a dropped bias would be seen).
 */
class LlamaMlpBiasTest {
    @Test
    void inferenceReadsEveryMlpBias(@TempDir Path tmp) {
        Path src = Path.of("../testdata/golden/llama/gqa_untied");
        Backend be = Backends.get("reference");
        LinkedHashMap<String, Tensor> t = new LinkedHashMap<>();
        Random r = new Random(3);
        ObjectNode cfg = JsonConfig.read(src.resolve("config.json")).toObjectNode();
        int layers = cfg.get("num_hidden_layers").asInt(), inter = cfg.get("intermediate_size").asInt(), d = cfg.get("hidden_size").asInt();
        try (CheckpointTensors ck = CheckpointTensors.open(src)) {
            for (String n : ck.names()) t.put(n, ck.get(n).to(DType.F32).copy());
        }
        for (int l = 0; l < layers; l++)
            for (String[] proj : new String[][]{{"gate_proj", "" + inter}, {"up_proj", "" + inter}, {"down_proj", "" + d}}) {
                Tensor b = Tensor.zeros(DType.F32, Long.parseLong(proj[1]));
                for (long i = 0; i < b.numel(); i++) b.setFloat(i, (float) (0.5 * r.nextGaussian()));
                t.put("model.layers." + l + ".mlp." + proj[0] + ".bias", b);
            }
        cfg.put("mlp_bias", true);
        TeacherSaver.save(tmp.resolve("m"), cfg, t);
        int[][] ids = {{3, 17, 5, 9, 2, 11, 7}};
        try (Models.Loaded biased = Models.load(tmp.resolve("m"), be); Models.Loaded plain = Models.load(src, be)) {
            TransformerLM m = assertInstanceOf(TransformerLM.class, biased.model());
            float[] inference = m.forward(ids, Trace.NONE).toFloatArray();
            float[] training = ((TransformerLM) Models.trainable(biased, be)).logits(ids).toFloatArray();
            float[] without = plain.model().forward(ids, Trace.NONE).toFloatArray();
            assertTrue(relErr(inference, training) < 1e-6, "inference vs training forward: " + relErr(inference, training));
            assertTrue(relErr(inference, without) > 1e-2, "the biases change the logits: " + relErr(inference, without));
        }
    }

    private static double relErr(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) { num += (a[i] - b[i]) * (double) (a[i] - b[i]); den += (double) b[i] * b[i]; }
        return Math.sqrt(num / den);
    }
}
