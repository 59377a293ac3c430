package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.io.Safetensors;
import mamba4j.io.SafetensorsFile;
import mamba4j.models.Generator;
import mamba4j.models.Sampler;
import mamba4j.models.Trace;
import mamba4j.models.discrete.MohawkStudentCheckpoint;
import mamba4j.models.discrete.MohawkStudentInit;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TeacherLoader;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A saved Phi-Mamba student (hybrid: a Discrete Mamba-2 mixer at layer 0, the teacher's attention kept at layer 1; built
 * from the committed tiny Phi teacher) through the CLI like any checkpoint: `inspect`, `forward --attentions` (logits
 * bit-identical to the in-memory student's), `generate --ids` (the in-memory student's greedy ids), and decode == forward
 * on the loaded model.
 */
class PhiMambaCliTest {
    static final Path TEACHER = Repo.golden().resolve("phi").resolve("partial_rotary");

    @TempDir Path tmp;

    static MohawkStudent student(Backend be) {
        TeacherSpec spec = TeacherLoader.spec(TeacherLoader.config(JsonConfig.read(TEACHER.resolve("config.json"))));
        try (CheckpointTensors ck = CheckpointTensors.open(TEACHER)) {   // fromTeacher copies what it takes
            MohawkStudentInit.Options d = MohawkStudentInit.defaults(spec, 11);
            return MohawkStudentInit.fromTeacher(spec, ck, be, new MohawkStudentInit.Options(d.mixer().withChunkSize(3), Set.of(1), false, 11));
        }
    }

    @Test
    void inspectForwardAndGenerateWorkOnASavedStudent() {
        MohawkStudent s = student(Backends.get("cpu"));
        Path model = tmp.resolve("student");
        MohawkStudentCheckpoint.save(model, s);

        Cli inspect = Cli.run("inspect", "--model", model.toString());
        assertEquals(0, inspect.status(), inspect.err());
        assertTrue(inspect.out().contains("architecture:  phi-mamba"), inspect.out());
        assertTrue(inspect.out().contains("backbone.layers.0.mixer.in_proj.weight"), inspect.out());
        assertTrue(inspect.out().contains("backbone.layers.0.mixer.conv1d.weight"), inspect.out());

        int[][] ids = {{5, 17, 3, 88, 41, 9, 60}, {1, 2, 3, 4, 5, 6, 7}};
        long[] flat = new long[14];
        for (int i = 0; i < 14; i++) flat[i] = ids[i / 7][i % 7];
        Path input = tmp.resolve("ids.safetensors"), output = tmp.resolve("out.safetensors");
        LinkedHashMap<String, Tensor> in = new LinkedHashMap<>();
        in.put("input_ids", Tensor.ofLongs(flat, 2, 7));
        Safetensors.write(input, in, Map.of());
        Cli fwd = Cli.run("forward", "--model", model.toString(), "--input", input.toString(), "--output", output.toString(), "--attentions");
        assertEquals(0, fwd.status(), fwd.err());
        try (SafetensorsFile out = SafetensorsFile.open(output)) {
            assertArrayEquals(s.forward(ids, Trace.NONE).toFloatArray(), out.get("logits").toFloatArray(), "forward logits == in-memory student's");
            assertTrue(out.names().contains("hidden_states.2") && !out.names().contains("hidden_states.3"), "n_layer + 1 hidden states: " + out.names());
            assertTrue(out.names().contains("attentions.0") && !out.names().contains("attentions.1"), "one attention layer kept: " + out.names());
        }

        int[] prompt = {5, 17, 3};
        int[] want = Generator.generate(s, new int[][]{prompt}, 10, Sampler.greedy(), true, (row, id) -> {})[0];
        assertArrayEquals(want, GoldenChecks.cliGreedy(model, prompt, 10, false), "generate --ids == in-memory greedy decoding");
        assertArrayEquals(Generator.generate(s, new int[][]{prompt}, 10, Sampler.greedy(), false, (row, id) -> {})[0],
                GoldenChecks.cliGreedy(model, prompt, 10, true), "generate --ids --no-stop");

        // the loaded model decodes as it runs whole sequences (GoldenChecks reads the model directory's input.safetensors)
        Safetensors.write(model.resolve("input.safetensors"), in, Map.of());
        GoldenChecks.decodeEqualsForward(model, (state, j) -> {});
    }
}
