package mamba4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;
import mamba4j.io.SafetensorsFile;
import mamba4j.nn.TrainSettings;
import mamba4j.nn.TrainableModel;
import mamba4j.nn.Trainer;
import mamba4j.nn.data.Batch;
import mamba4j.nn.data.DataSource;
import mamba4j.nn.data.SplitMix64;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Ten optimizer steps of mamba4j's trainer against float64 PyTorch (llm.c's expected_losses): the golden files of
 * tools/golden/make_training_golden.py (testdata/golden/training/{mamba1,mamba2}) hold an initial checkpoint, the
 * settings (AdamW, warmup + cosine or wsd, global-norm clipping, accumulation 2), the fixed micro-batches, and
 * torch.optim.AdamW + clip_grad_norm_ + LambdaLR's per-step loss, gradient norm, learning rate and final weights.
 * Here the checkpoint is loaded as the {@code train --init} command loads it ({@link Models#trainable}) and trained
 * by {@link Trainer#run} itself, the batches coming from a {@link DataSource} that hands out the golden micro-batches
 * in order (the only seam: the rest is the code path of {@code train}). The losses, norms and learning rates are read
 * back from the trainer's own log.jsonl.
 */
class GoldenTrainingTest {
    static final String MISSING = "no training golden files: run `bash tools/golden/make_outside_truth.sh OUT` on the GPU host "
            + "and unpack OUT/outside-truth.tgz in the repository root (tools/golden/README.md, \"Outside truth\")";

    /** The schedule is the same double formula on both sides: only the last bits may differ. */
    static final double LR_REL = 1e-12;
    /**
     * Per-step loss, F32 forward against F64: the first step is a plain F32-vs-F64 forward ({@code Tolerance.F32_VS_F64},
     * 1e-5); the later ones also carry the F32 rounding of nine earlier updates through the weights. Adam's update is
     * ~lr per entry whatever the gradient's rounding, so the drift stays at the forward's order; 1e-4 leaves 10×.
     * (The manifest's float32_torch_vs_float64.loss_max_rel_diff is what float32 PyTorch itself gives.)
     */
    static final double LOSS_REL = 1e-4;
    /** Gradient norm before clipping: F32 gradients against F64 (`grad` is held to 1e-4 per tensor) after drift. */
    static final double GRAD_NORM_REL = 1e-3;
    /**
     * The ten-step update (final − initial), relative Frobenius per tensor. Adam normalises each entry by its own
     * gradient scale, so entries whose gradient is near zero are where F32 and F64 can part most (up to ~lr each);
     * 1e-2 of the update's norm allows that and still fails any wrong decay group, schedule, clip or moment (each of
     * which changes the update by ≥ 5%).
     */
    static final double UPDATE_REL = 1e-2;
    /** The final weights themselves (initial weights are bit-identical F32 on both sides; the update is ~1% of them). */
    static final double WEIGHT_REL = 1e-4;

    static Path dir(String name) {
        Path d = Repo.golden().resolve("training").resolve(name);
        assertTrue(Files.exists(d.resolve("expected.safetensors")), MISSING + " (missing " + d + ")");
        return d;
    }

    static Stream<Object[]> cases() {
        return Stream.of("mamba1", "mamba2").flatMap(c -> Stream.of(new Object[]{c, "cpu"}, new Object[]{c, "reference"}));
    }

    /** The golden micro-batches in order: [step][micro-batch] → (inputs, targets). */
    static final class FixedBatches implements DataSource {
        private final List<Batch> batches;
        private int next;

        FixedBatches(List<Batch> batches) { this.batches = batches; }

        @Override public String describe() { return "golden batches (" + batches.size() + " micro-batches)"; }

        @Override public Batch trainBatch(int batchSize, int seqLen, SplitMix64 rng) {
            if (next == batches.size()) fail("the trainer asked for more than the " + batches.size() + " golden micro-batches");
            Batch b = batches.get(next++);
            assertEquals(batchSize, b.batchSize(), "batch_size");
            assertEquals(seqLen, b.seqLen(), "seq_len");
            return b;
        }

        @Override public Batch validationBatch(int index, int batchSize, int seqLen) {
            throw new AssertionError("evaluation is off in this test");
        }
    }

    static List<Batch> readBatches(Path file) {
        List<Batch> out = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor ids = f.get("input_ids"), tg = f.get("targets");
            long[] d = ids.shape().dims();             // [steps, accumulation, B, T]
            assertEquals(4, d.length, "input_ids rank");
            assertEquals(ids.shape(), tg.shape(), "targets shape");
            int steps = (int) d[0], acc = (int) d[1], b = (int) d[2], t = (int) d[3];
            for (int s = 0; s < steps; s++)
                for (int a = 0; a < acc; a++) {
                    int[][] in = new int[b][t], target = new int[b][t];
                    for (int r = 0; r < b; r++)
                        for (int j = 0; j < t; j++) {
                            long i = (((long) s * acc + a) * b + r) * t + j;
                            in[r][j] = Math.toIntExact(ids.getLong(i));
                            target[r][j] = Math.toIntExact(tg.getLong(i));
                        }
                    out.add(new Batch(in, target));
                }
        }
        return out;
    }

    @ParameterizedTest(name = "{0} ({1})")
    @MethodSource("cases")
    void tenStepsMatchPyTorch(String name, String backendName, @TempDir Path tmp) throws IOException {
        Path dir = dir(name);
        ObjectMapper json = new ObjectMapper();
        JsonNode manifestCase = null;
        for (JsonNode c : json.readTree(Repo.golden().resolve("training").resolve("manifest.json").toFile()).get("cases"))
            if (c.get("folder").asText().equals(name)) manifestCase = c;
        assertTrue(manifestCase != null, "manifest.json has no case " + name);
        TrainSettings settings = TrainSettings.resolve(json.readTree(dir.resolve("settings.json").toFile()),
                List.of("progress=false", "plot=false", "eval_every=0", "checkpoint_every=0"));
        List<Batch> batches = readBatches(dir.resolve("batches.safetensors"));
        assertEquals(settings.steps() * settings.accumulation(), batches.size(), "micro-batches in batches.safetensors");

        Backend be = Backends.get(backendName);
        Map<String, Tensor> initial = new TreeMap<>();
        Trainer.Result result;
        TrainableModel model;
        try (Models.Loaded loaded = Models.load(dir, be)) {
            model = Models.trainable(loaded, be);
            for (Parameter p : model.parameters()) initial.put(p.name(), p.value().copy());
            // the decay groups: mamba4j's flags against the groups torch.optim.AdamW was given
            List<String> decayed = new ArrayList<>();
            manifestCase.get("weight_decay").forEach(n -> decayed.add(n.asText()));
            for (Parameter p : model.parameters())
                assertEquals(decayed.contains(p.name()), p.weightDecay(), "weight decay of " + p.name());
            assertEquals(manifestCase.get("parameters").size(), model.parameters().size(), "number of parameters");
            result = new Trainer(model, new FixedBatches(batches), settings, be, tmp.resolve("run"), d -> fail("no resume here"))
                    .console(new PrintStream(OutputStream.nullOutputStream()))
                    .run(false);
        }
        assertEquals(settings.steps(), result.steps());
        assertEquals(0, result.badSteps(), "skipped steps");

        List<JsonNode> steps = new ArrayList<>();
        for (String line : Files.readAllLines(tmp.resolve("run").resolve(Trainer.LOG_FILE))) {
            JsonNode n = json.readTree(line);
            if (n.path("type").asText().equals("train")) steps.add(n);
        }
        assertEquals(settings.steps(), steps.size(), "train records in log.jsonl");
        JsonNode f32 = manifestCase.path("float32_torch_vs_float64");
        try (SafetensorsFile want = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            double[] loss = want.get("loss").toDoubleArray(), norm = want.get("grad_norm").toDoubleArray(), lr = want.get("lr").toDoubleArray();
            for (int s = 0; s < steps.size(); s++) {
                JsonNode r = steps.get(s);
                assertEquals(s + 1, r.get("step").asLong());
                assertRelClose(name + " step " + s + " lr", new double[]{r.get("lr").asDouble()}, new double[]{lr[s]}, LR_REL);
                assertRelClose(name + " step " + s + " loss (float32 torch: " + f32.path("loss_rel_diff_per_step").path(s) + ")",
                        new double[]{r.get("loss").asDouble()}, new double[]{loss[s]}, LOSS_REL);
                assertRelClose(name + " step " + s + " grad_norm (float32 torch: " + f32.path("grad_norm_max_rel_diff") + ")",
                        new double[]{r.get("grad_norm").asDouble()}, new double[]{norm[s]}, GRAD_NORM_REL);
            }
            for (Parameter p : model.parameters()) {
                Tensor expected = want.get("final." + p.name());
                assertEquals(expected.numel(), p.value().numel(), "size of " + p.name());
                double[] got = p.value().toDoubleArray(), exp = expected.toDoubleArray(), init = initial.get(p.name()).toDoubleArray();
                double[] dGot = new double[got.length], dExp = new double[exp.length];
                for (int i = 0; i < got.length; i++) {
                    dGot[i] = got[i] - init[i];
                    dExp[i] = exp[i] - init[i];
                }
                assertRelClose(name + " final " + p.name(), got, exp, WEIGHT_REL);
                assertRelClose(name + " update of " + p.name() + " (float32 torch: " + f32.path("update_rel_err").path(p.name()) + ")",
                        dGot, dExp, UPDATE_REL);
            }
        }
    }
}
