package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.ByteTokenizer;
import mamba4j.io.CheckpointTensors;
import mamba4j.models.CausalLM;
import mamba4j.models.Generator;
import mamba4j.models.Models;
import mamba4j.models.Sampler;
import mamba4j.models.discrete.DiscreteMamba2Config;
import mamba4j.models.discrete.MohawkStudentInit;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.distill.DistillPlan;
import mamba4j.models.distill.Distiller;
import mamba4j.models.distill.Metrics;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.nn.Checkpoints;
import mamba4j.nn.TrainSettings;
import mamba4j.nn.Trainer;
import mamba4j.nn.data.Batch;
import mamba4j.nn.data.TokenFile;
import mamba4j.nn.data.TokenWindows;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * The README's main job: MOHAWK in miniature on the shipped teacher (a byte-level Phi trained by mamba4j on Jane
 * Austen, embedded in the jar) — distil it with the demo plan, train a same-size student from scratch on the same
 * number of tokens, and compare the three: validation perplexity, top-1 agreement with the teacher, decode speed and
 * memory at a 4k context; then a sample from each. Re-running the same command reuses finished work.
 */
@Command(name = "demo", description = "MOHAWK in miniature: distil the shipped Phi teacher (or --teacher) into a Mamba student, train one from "
        + "scratch on the same tokens, compare perplexity, agreement, decode speed and memory at 4k context. No arguments needed.")
final class DemoCommand implements Callable<Integer> {
    static final String PROMPT = "It is a truth universally acknowledged";

    @Option(names = "--out", description = "Run directory (default: runs/demo, or runs/demo-NAME with --teacher …/NAME).")
    Path out;

    @Option(names = "--teacher", description = "A byte-level Phi or Llama teacher directory (default: the shipped Phi, inside the jar).")
    Path teacher;

    @Option(names = "--data", description = "The text (default: data/austen.txt of the mamba4j checkout).")
    Path data;

    @Option(names = "--plan", defaultValue = "demo", description = "The distillation plan, a file or a built-in name (default: ${DEFAULT-VALUE}).")
    String plan;

    @Option(names = "--seed", description = "Overrides the plan's seed (student init, data order).")
    Long seed;

    @Option(names = "--scratch-multiplier", defaultValue = "1", description = "The from-scratch student reads this many times the distillation tokens (default: ${DEFAULT-VALUE}).")
    int scratchMultiplier;

    @Option(names = "--context", defaultValue = "4096", description = "Context length of the decode measurement (default: ${DEFAULT-VALUE}).")
    int context;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--no-progress", description = "No progress bars.")
    boolean noProgress;

    @Option(names = "--no-plots", description = "No PNG plots (for a JVM without java.desktop).")
    boolean noPlots;

    @Option(names = "--scratch-only", description = "Only train and measure the from-scratch student (for the ablations in docs/RESULTS.md).")
    boolean scratchOnly;

    @Override public Integer call() throws IOException {
        long t0 = System.nanoTime();
        PrintStream err = System.err;
        Backend be = Backends.get(backend);
        DistillPlan p = DistillCommand.loadPlan(plan);
        if (seed != null) p = p.withSeed(seed);
        if (scratchMultiplier < 1) throw new UserInputException("--scratch-multiplier must be ≥ 1, got " + scratchMultiplier);
        if (context < 544) throw new UserInputException("--context must be ≥ 544 (512 decode steps are run at its end), got " + context);
        Path text = data != null ? data : Path.of(System.getProperty("mamba4j.home", "."), "data", "austen.txt");
        if (!Files.exists(text)) throw new UserInputException("--data " + text + ": no such file (the demo reads data/austen.txt of the checkout)");
        if (out == null) out = Path.of(teacher == null ? "runs/demo" : "runs/demo-" + teacher.toAbsolutePath().normalize().getFileName());
        Inputs.outputDir("--out", out);
        Path teacherDir = teacher != null ? teacher : extractShippedTeacher(out.resolve("teacher"));
        Files.createDirectories(out);

        try (Models.Loaded t = Models.load(teacherDir, be)) {
            if (!(t.model() instanceof TransformerLM tm) || tm.spec().arch() == mamba4j.models.teachers.TeacherSpec.Arch.GPT2 || tm.vocabSize() != 256)
                throw new UserInputException("--teacher " + teacherDir + ": the demo needs a byte-level (vocab_size 256) Phi or Llama teacher, got "
                        + Models.architecture(t.json()) + (t.model() instanceof TransformerLM m ? " with vocab_size " + m.vocabSize() : ""));
            String arch = tm.spec().arch() == mamba4j.models.teachers.TeacherSpec.Arch.LLAMA ? "Llama" : "Phi";
            if (scratchOnly) {
                long tokens = p.totalTokens() * scratchMultiplier;
                MohawkStudent s = scratchStudent(t, p, be, out.resolve("scratch"), text, tokens, !noProgress, !noPlots);
                try (TokenFile tf = TokenFile.open(TokenFile.defaultTokensPath(text))) {
                    TokenWindows windows = new TokenWindows(tf, p.valFraction());
                    List<Batch> val = new java.util.ArrayList<>();
                    for (int i = 0; i < p.evalBatches(); i++) val.add(windows.validationBatch(i, p.batchSize(), p.seqLen()));
                    Metrics m = Metrics.measure("scratch", tokens, tm, s, val);
                    mamba4j.io.JsonConfig.write(out.resolve("scratch").resolve("metrics.json"), m.toJson());
                    System.out.println(m.line());
                }
                return 0;
            }
            err.println("== 1/3  MOHAWK distillation of the teacher (" + teacherDir + ")");
            Distiller.Result distilled = DistillCommand.distill(t, p, text, "bytes", out.resolve("distill"), be, !noProgress, !noPlots, err);

            long scratchTokens = p.totalTokens() * scratchMultiplier;
            err.printf("== 2/3  the same student trained from scratch on %,d tokens (next-token loss)%n", scratchTokens);
            MohawkStudent scratch = scratchStudent(t, p, be, out.resolve("scratch"), text, scratchTokens, !noProgress, !noPlots);

            err.printf("== 3/3  evaluation: perplexity and agreement on the validation split, decode at %d tokens of context%n", context);
            try (TokenFile tokens = TokenFile.open(TokenFile.defaultTokensPath(text))) {
                TokenWindows windows = new TokenWindows(tokens, p.valFraction());
                List<Batch> val = new java.util.ArrayList<>();
                for (int i = 0; i < p.evalBatches(); i++) val.add(windows.validationBatch(i, p.batchSize(), p.seqLen()));
                MohawkStudent distilledStudent = (MohawkStudent) Models.load(distilled.student(), be).model();
                MohawkStudent d = distilledStudent.trainable();
                Metrics md = Metrics.measure("distilled", p.totalTokens(), tm, d, val), ms = Metrics.measure("scratch", scratchTokens, tm, scratch, val);
                Decode dt = decode(tm, context), dd = decode(d, context), ds = decode(scratch, context);
                System.out.println();
                System.out.printf(Locale.ROOT, "%-34s %10s %12s %10s %12s %16s%n", "model (byte-level Austen)", "tokens", "val ppl", "agree", "decode tok/s", "state @ " + context);
                row("teacher: " + arch + ", attention", "(trained)", md.teacherPerplexity(), 1.0, dt);
                row("distilled " + arch + "-Mamba (MOHAWK " + stages(p) + ")", String.format(Locale.ROOT, "%,d", p.totalTokens()), md.studentPerplexity(), md.agreement(), dd);
                row(arch + "-Mamba from scratch", String.format(Locale.ROOT, "%,d", scratchTokens), ms.studentPerplexity(), ms.agreement(), ds);
                System.out.println();
                ByteTokenizer bytes = new ByteTokenizer();
                for (var e : List.of(java.util.Map.entry("teacher", (CausalLM) tm), java.util.Map.entry("distilled", (CausalLM) d),
                        java.util.Map.entry("scratch", (CausalLM) scratch))) {
                    int[] ids = bytes.encode(PROMPT);
                    int[][] outIds = Generator.generate(e.getValue(), new int[][]{ids}, 160, new Sampler(0.7f, 0, 1f, 7), false, (r, id) -> {});
                    System.out.printf("%-10s %s%n", e.getKey() + ":", bytes.decode(outIds[0]).replace('\n', ' '));
                }
                System.out.printf(Locale.ROOT, "%ndone in %.0f s. Plots and logs: %s (distill/stage*/loss.png, distill/matrix_distance.png, "
                        + "distill/hidden_distance.png, scratch/loss.png); the student: %s%n", (System.nanoTime() - t0) * 1e-9, out, distilled.student());
            }
        }
        return 0;
    }

    /** The plan's stages as "1-2-3", "2-3", "3". */
    private static String stages(DistillPlan p) {
        return String.join("-", p.stages().stream().map(st -> String.valueOf(st.stage())).toList());
    }

    private static void row(String name, String tokens, double ppl, double agree, Decode d) {
        System.out.printf(Locale.ROOT, "%-34s %10s %12.3f %9.1f%% %12.1f %13.2f MB%n", name, tokens, ppl, 100 * agree, d.tokPerS, d.stateBytes / 1e6);
    }

    record Decode(double tokPerS, long stateBytes) {}

    /**
     * Prefills {@code context − 512} tokens, runs 128 decode steps untimed (the JIT compiles the step path), then times
     * three rounds of 128 steps at batch 1 and keeps the fastest (a GC pause or a late compilation does not count):
     * tok/s, and the state's bytes at the end ({@code context} tokens).
     */
    static Decode decode(CausalLM m, int context) {
        int warm = 128, steps = 128, rounds = 3, prompt = context - warm - rounds * steps;
        int[][] ids = new int[1][prompt];
        for (int i = 0; i < prompt; i++) ids[0][i] = 32 + i % 90;
        CausalLM.DecodeState s = m.newState(1);
        Tensor logits = m.prefill(s, ids);
        int[] next = {Sampler.argmax(m.backend().download(logits).toFloatArray(), 0, m.vocabSize())};
        double best = 0;
        for (int r = -1; r < rounds; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < (r < 0 ? warm : steps); i++) {
                logits = m.step(s, next);
                next[0] = Sampler.argmax(m.backend().download(logits).toFloatArray(), 0, m.vocabSize());
            }
            if (r >= 0) best = Math.max(best, steps / ((System.nanoTime() - t0) * 1e-9));
        }
        return new Decode(best, s.stateBytes());
    }

    /**
     * The baseline: the same Phi-Mamba architecture with every weight fresh (a student of a randomly initialised
     * teacher of the same shape), trained with the next-token loss on {@code tokens} tokens; resumes in {@code dir}.
     */
    static MohawkStudent scratchStudent(Models.Loaded t, DistillPlan p, Backend be, Path dir, Path text, long tokens, boolean progress, boolean plots) throws IOException {
        TransformerLM tm = (TransformerLM) t.model();
        Path randomTeacher = dir.resolve("random-teacher");
        if (!Files.exists(randomTeacher.resolve("model.safetensors"))) TransformerLM.random(tm.spec(), p.seed() + 100, be).save(randomTeacher);
        MohawkStudent s;
        try (CheckpointTensors ck = CheckpointTensors.open(randomTeacher)) {
            s = MohawkStudentInit.fromTeacher(tm.spec(), ck, be,
                    new MohawkStudentInit.Options(DiscreteMamba2Config.forTeacher(tm.spec()), p.attentionLayers(), false, p.seed())).trainable();
        }
        long steps = Math.max(1, tokens / ((long) p.batchSize() * p.seqLen()));
        com.fasterxml.jackson.databind.node.ObjectNode o = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        o.put("lr", 2e-3).put("batch_size", p.batchSize()).put("seq_len", p.seqLen()).put("steps", steps).put("warmup", Math.max(1, steps / 10))
                .put("schedule", "wsd").put("eval_every", steps).put("eval_batches", p.evalBatches()).put("checkpoint_every", Math.max(1, steps / 4))
                .put("seed", p.seed()).put("val_fraction", p.valFraction()).put("progress", progress).put("plot", plots);
        try (TokenFile tf = TokenFile.prepare(text, new ByteTokenizer(), "bytes", TokenFile.defaultTokensPath(text))) {
            new Trainer(s, new TokenWindows(tf, p.valFraction()), TrainSettings.resolve(o, List.of()), be, dir.resolve("run"), s::loadFrom)
                    .run(Checkpoints.recover(dir.resolve("run")).isPresent());
        }
        return s;
    }

    /** Copies the jar's demo/teacher (config.json, model.safetensors) into dir (once). */
    static Path extractShippedTeacher(Path dir) throws IOException {
        if (Files.exists(dir.resolve("model.safetensors"))) return dir;
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) {
            try (InputStream in = DemoCommand.class.getResourceAsStream("/demo/teacher/" + f)) {
                if (in == null) throw new IllegalStateException("the jar has no demo/teacher/" + f);
                Path tmp = dir.resolve(f + ".tmp");
                Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, dir.resolve(f), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
        }
        return dir;
    }
}
