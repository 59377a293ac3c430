package mamba4j.models.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import mamba4j.core.Backend;
import mamba4j.io.JsonConfig;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.Checkpoints;
import mamba4j.nn.Plots;
import mamba4j.nn.Trainer;
import mamba4j.nn.data.Batch;
import mamba4j.nn.data.DataSource;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a {@link DistillPlan}: each stage is an ordinary {@link Trainer} run in {@code out/stageN-name/} (so each has its
 * checkpoints, log.jsonl and loss.png, and a killed run resumes: finished stages reload their final weights, the
 * interrupted one continues from its last checkpoint), with {@link Metrics} measured before the first stage and after
 * each. Writes {@code out/plan.json}, {@code out/metrics.json}, {@code out/layer_distances.png} and the final student
 * in {@code out/student/}.
 */
public final class Distiller {
    /** @param metrics initial, then one per stage; @param student the saved student's directory */
    public record Result(List<Metrics> metrics, Path student, double seconds) {}

    private final TransformerLM teacher;
    private final MohawkStudent student;
    private final DistillPlan plan;
    private final DataSource data;
    private final Backend backend;
    private final Path out;
    private final PrintStream console;
    private final boolean progress, plot;

    public Distiller(TransformerLM teacher, MohawkStudent student, DistillPlan plan, DataSource data, Backend backend, Path out,
                     PrintStream console, boolean progress, boolean plot) {
        this.teacher = teacher;
        this.student = student;
        this.plan = plan;
        this.data = data;
        this.backend = backend;
        this.out = out.toAbsolutePath();
        this.console = console;
        this.progress = progress;
        this.plot = plot;
    }

    /** The fixed validation batches every measurement uses. */
    public List<Batch> validation() {
        List<Batch> val = new ArrayList<>();
        for (int i = 0; i < plan.evalBatches(); i++) val.add(data.validationBatch(i, plan.batchSize(), plan.seqLen()));
        return val;
    }

    /**
     * Refuses an --out started from another teacher (or another weight transfer): out/start.json records the teacher's
     * shapes and a CRC-32 of every student parameter before the first stage (the copied teacher weights and the
     * plan-seeded mixer init); a re-run must start from the same bytes, or resuming would mix two students.
     */
    private void checkSameStart() {
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        for (var p : student.allParameters()) {
            float[] f = student.backend().download(p.value()).toFloatArray();
            java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(f.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            bytes.asFloatBuffer().put(f);
            crc.update(bytes);
        }
        var start = new ObjectMapper().createObjectNode().put("teacher", teacher.spec().toString()).put("student", student.wiring().studentName())
                .put("init_crc32", Long.toHexString(crc.getValue()));
        Path file = out.resolve("start.json");
        if (Files.exists(file)) {
            var was = JsonConfig.read(file).toObjectNode();
            if (!was.equals(start))
                throw new mamba4j.core.UserInputException(file + ": this run was started from another teacher or weight transfer ("
                        + was.path("teacher").asText() + ", init " + was.path("init_crc32").asText() + "; now " + start.path("teacher").asText()
                        + ", init " + start.path("init_crc32").asText() + "); resuming would mix two students. Use another --out");
        } else {
            JsonConfig.write(file, start);
        }
    }

    public Result run() {
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + out + ": " + e.getMessage(), e);
        }
        Path planFile = out.resolve("plan.json");
        if (Files.exists(planFile) && !DistillPlan.read(planFile).toJson().toString().equals(plan.toJson().toString()))
            throw new mamba4j.core.UserInputException(planFile + " holds another plan than the one given; resuming would mix the two. "
                    + "Use another --out, or the same plan (and --seed) to resume");
        checkSameStart();
        JsonConfig.write(planFile, plan.toJson());
        console.println(plan.describe());
        List<Batch> val = validation();
        List<Metrics> metrics = new ArrayList<>();
        Metrics m = Metrics.measure("initial (weight transfer)", 0, teacher, student, val);
        console.println(m.line());
        metrics.add(m);
        long tokens = 0;
        for (DistillPlan.Stage s : plan.stages()) {
            Path dir = out.resolve(s.dirName());
            student.trainOnly(s::trains);
            Stage objective = switch (s.stage()) {
                case 1 -> new MatrixOrientation(teacher, student);
                case 2 -> new HiddenStateAlignment(teacher, student);
                default -> new KnowledgeDistillation(teacher, student, s.temperature());
            };
            long trainable = student.parameters().stream().mapToLong(p -> p.value().numel()).sum();
            console.printf("%s: %,d trainable parameters, %,d tokens%n", s.dirName(), trainable, plan.tokens(s));
            new Trainer(objective, data, plan.settings(s, progress, plot), backend, dir, student::loadFrom).console(console)
                    .run(Checkpoints.recover(dir).isPresent());
            tokens += plan.tokens(s);
            m = Metrics.measure(s.dirName(), tokens, teacher, student, val);
            console.println(m.line());
            metrics.add(m);
            writeMetrics(metrics);
        }
        student.trainOnly(name -> true);
        Path studentDir = out.resolve("student");
        student.save(studentDir);
        writeMetrics(metrics);
        if (plot) plotLayers(metrics);
        return new Result(metrics, studentDir, (System.nanoTime() - t0) * 1e-9);
    }

    private void writeMetrics(List<Metrics> metrics) {
        ArrayNode a = new ObjectMapper().createArrayNode();
        for (Metrics x : metrics) a.add(x.toJson());
        JsonConfig.write(out.resolve("metrics.json"), a);
    }

    /** Per-layer matrix and hidden-state distances after each stage. */
    private void plotLayers(List<Metrics> metrics) {
        for (String which : List.of("matrix", "hidden")) {
            Map<String, double[][]> series = new LinkedHashMap<>();
            for (Metrics x : metrics) {
                double[] d = which.equals("matrix") ? x.matrixDistance() : x.hiddenDistance();
                List<double[]> pts = new ArrayList<>();
                for (int l = 0; l < d.length; l++) if (!Double.isNaN(d[l])) pts.add(new double[]{l, d[l]});
                if (pts.isEmpty()) continue;
                double[][] xy = new double[2][pts.size()];
                for (int i = 0; i < pts.size(); i++) { xy[0][i] = pts.get(i)[0]; xy[1][i] = pts.get(i)[1]; }
                series.put(x.after(), xy);
            }
            if (!series.isEmpty())
                Plots.lines(out.resolve(which + "_distance.png"), which.equals("matrix") ? "Stage 1 objective per layer: ‖T_student − A_teacher‖_F"
                        : "Stage 2 objective per layer: ‖block_student(h_l) − h_l+1‖₂", "layer", which + " distance", false, series);
        }
    }
}
