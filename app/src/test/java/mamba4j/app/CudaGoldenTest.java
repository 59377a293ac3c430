package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.SafetensorsFile;
import mamba4j.models.CausalLM;
import mamba4j.models.Generator;
import mamba4j.models.Models;
import mamba4j.models.Sampler;
import mamba4j.models.Trace;
import mamba4j.testkit.Repo;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every golden checkpoint on the cuda backend (issue "CUDA backend", part 7): `forward --backend cuda` logits and
 * hidden states against the float64 PyTorch files, greedy ids equal to transformers' (and so to the cpu backend's),
 * decode == forward on the GPU. Runs where a GPU is (scripts/gpu-test.sh on the GPU host); elsewhere skipped with the
 * line `--backend cuda` prints there.
 */
class CudaGoldenTest {
    /**
     * f32 weights: the GPU sums in other orders than the cpu (warp shuffles, cuBLAS tiles) and uses the hardware's
     * exp; the error budget of an f32 forward against float64 stays that of the cpu backend.
     */
    static final double F32_WEIGHTS = Tolerance.F32_VS_F64;
    /**
     * bf16/f16 weights with more than 8 rows: the activations are rounded to the weight dtype for the tensor-core GEMM
     * (as torch runs a bf16 model), 8 significant bits: a relative error of a few 2^-8 over a forward.
     */
    static final double HALF_WEIGHTS = 3e-2;

    private static String unavailable;

    @BeforeAll
    static void gpu() {
        try {
            Backends.get("cuda");
        } catch (UserInputException e) {
            unavailable = e.getMessage();
        }
        Assumptions.assumeTrue(unavailable == null, () -> "no CUDA GPU on this machine: " + unavailable);
    }

    /** Every golden checkpoint folder with a forward reference. */
    static List<Path> cases() throws IOException {
        List<Path> out = new ArrayList<>();
        for (String arch : List.of("mamba1", "mamba2", "phi", "llama", "gpt2")) {
            try (Stream<Path> s = Files.list(Repo.golden().resolve(arch))) {
                s.filter(p -> Files.isRegularFile(p.resolve("expected.safetensors"))).sorted().forEach(out::add);
            }
        }
        return out;
    }

    private static String name(Path dir) { return dir.getParent().getFileName() + "/" + dir.getFileName(); }

    private static boolean halfWeights(Path dir) {
        try (mamba4j.io.CheckpointTensors ck = mamba4j.io.CheckpointTensors.open(dir)) {
            return ck.names().stream().anyMatch(n -> ck.get(n).dtype() != mamba4j.core.DType.F32);
        }
    }

    @ParameterizedTest(name = "{0} forward on cuda")
    @MethodSource("cases")
    void forwardMatchesPyTorch(Path dir, @TempDir Path tmp) {
        Path out = tmp.resolve("out.safetensors");
        Cli r = Cli.run("forward", "--model", dir.toString(), "--input", dir.resolve("input.safetensors").toString(),
                "--output", out.toString(), "--backend", "cuda");
        assertEquals(0, r.status(), r.err());
        double tol = halfWeights(dir) ? HALF_WEIGHTS : F32_WEIGHTS;
        try (SafetensorsFile got = SafetensorsFile.open(out); SafetensorsFile want = SafetensorsFile.open(dir.resolve("expected.safetensors"))) {
            assertRelClose(name(dir) + " logits on cuda", got.get("logits"), want.get("logits"), tol);
            for (String n : want.names())
                if (n.startsWith("hidden_states.")) assertRelClose(name(dir) + " " + n + " on cuda", got.get(n), want.get(n), tol);
        }
    }

    @ParameterizedTest(name = "{0} greedy ids on cuda")
    @MethodSource("cases")
    void greedyIdsMatchTransformers(Path dir) throws IOException {
        Path gen = dir.resolve("generate.json");
        Assumptions.assumeTrue(Files.exists(gen), () -> name(dir) + " has no generate.json");
        Assumptions.assumeFalse(halfWeights(dir), () -> name(dir) + ": greedy ids are compared for f32 weights (bf16 activations may flip a near tie)");
        JsonNode g = GoldenMamba1Test.JSON.readTree(gen.toFile());
        int maxNew = g.get("max_new_tokens").asInt();
        int[][] prompts = new int[g.get("prompt_ids").size()][];
        for (int i = 0; i < prompts.length; i++) prompts[i] = GoldenChecks.ids(g.get("prompt_ids").get(i));
        try (Models.Loaded m = Models.load(dir, Backends.get("cuda"))) {
            int[][] out = Generator.generate(m.model(), prompts, maxNew, Sampler.greedy(), dir.getParent().getFileName().toString().equals("mamba1"), (row, id) -> {});   // as each golden test generates
            for (int i = 0; i < prompts.length; i++) assertArrayEquals(GoldenChecks.ids(g.get("greedy_ids").get(i)), out[i], name(dir) + " row " + i);
        }
    }

    @ParameterizedTest(name = "{0} decode == forward on cuda")
    @MethodSource("cases")
    void decodeStepsEqualForward(Path dir) {
        int[][] ids = GoldenChecks.inputIds(dir);
        Backend cuda = Backends.get("cuda");
        try (Models.Loaded m = Models.load(dir, cuda)) {
            Assumptions.assumeFalse(m.config() instanceof mamba4j.models.mamba2.Mamba2Config c
                            && (Double.isFinite(c.timeStepHi()) || c.timeStepLo() > 0),
                    () -> name(dir) + ": the forward clamps dt to time_step_limit and decode steps do not (as transformers); "
                            + "greedyIdsMatchTransformers covers it");
            CausalLM lm = m.model();
            int b = ids.length, t = ids[0].length, v = lm.logitsSize();
            Tensor full = cuda.download(lm.forward(ids, Trace.NONE));
            CausalLM.DecodeState s = lm.newState(b);
            int[][] first = new int[b][];
            for (int i = 0; i < b; i++) first[i] = new int[]{ids[i][0]};
            Tensor logits = cuda.download(lm.prefill(s, first));
            double tol = halfWeights(dir) ? HALF_WEIGHTS : Tolerance.F32_IDENTITY;
            for (int j = 0; j < t; j++) {
                if (j > 0) {
                    int[] tok = new int[b];
                    for (int i = 0; i < b; i++) tok[i] = ids[i][j];
                    logits = cuda.download(lm.step(s, tok));
                }
                for (int i = 0; i < b; i++)
                    assertRelClose(name(dir) + " step " + j + " row " + i, logits.view((long) i * v, v),
                            full.view(((long) i * t + j) * v, v), tol);
            }
        }
    }
}
