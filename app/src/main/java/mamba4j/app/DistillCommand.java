package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.UserInputException;
import mamba4j.io.JsonConfig;
import mamba4j.io.ByteTokenizer;
import mamba4j.io.HfTokenizer;
import mamba4j.io.Tokenizer;
import mamba4j.models.Models;
import mamba4j.models.discrete.DiscreteMamba2Config;
import mamba4j.models.discrete.MohawkStudent;
import mamba4j.models.discrete.MohawkStudentInit;
import mamba4j.models.distill.DistillPlan;
import mamba4j.models.distill.Distiller;
import mamba4j.models.distill.Metrics;
import mamba4j.models.teachers.TransformerLM;
import mamba4j.models.teachers.TeacherSpec;
import mamba4j.nn.data.TokenFile;
import mamba4j.nn.data.TokenWindows;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * MOHAWK distillation of a Phi teacher into a Phi-Mamba student, or of a Llama teacher into a Llama-Mamba one
 * ({@link Distiller}). Re-running the same command on the same --out resumes: finished stages are kept, the interrupted
 * one continues from its last checkpoint.
 */
@Command(name = "distill", description = "MOHAWK: distil a Phi (or Llama) teacher into a Phi-Mamba (Llama-Mamba) student (stage 1 matrix orientation, "
        + "2 hidden-state alignment, 3 knowledge distillation). Re-run the same command to resume.")
final class DistillCommand implements Callable<Integer> {
    @Option(names = "--teacher", required = true, description = "The teacher's checkpoint directory (model_type phi or llama). Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path teacher;

    @Option(names = "--plan", required = true, description = "A plan JSON file or a built-in plan name (demo).")
    String plan;

    @Option(names = "--data", required = true, description = "A text file; tokenised once into FILE.tokens beside it.")
    Path data;

    @Option(names = "--tokenizer", description = "bytes or a tokenizer.json (default: bytes for a 256-token vocabulary, else the teacher's tokenizer.json).")
    String tokenizer;

    @Option(names = "--out", required = true, description = "Run directory: plan.json, metrics.json, stage directories, student/.")
    Path out;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--seed", description = "Overrides the plan's seed (student init, data order).")
    Long seed;

    @Option(names = "--no-progress", description = "No progress bars (one line per evaluation instead).")
    boolean noProgress;

    @Option(names = "--no-plots", description = "No PNG plots (for a JVM without java.desktop).")
    boolean noPlots;

    @Override public Integer call() {
        Inputs.outputDir("--out", out);
        Backend be = Backends.get(backend);
        DistillPlan p = seed == null ? loadPlan(plan) : loadPlan(plan).withSeed(seed);
        teacher = ModelSource.resolve("--teacher", teacher);
        try (Models.Loaded t = Models.load(teacher, be)) {
            Distiller.Result r = distill(t, p, data, tokenizer, out, be, !noProgress, !noPlots, System.err);
            Metrics last = r.metrics().getLast();
            System.out.printf("distilled in %.1f s: student perplexity %.3f (teacher %.3f), top-1 agreement %.1f%%; student saved to %s%n",
                    r.seconds(), last.studentPerplexity(), last.teacherPerplexity(), 100 * last.agreement(), r.student());
        }
        return 0;
    }

    /** Builds the student from the loaded teacher (weight transfer, the plan's init) and runs the plan. */
    static Distiller.Result distill(Models.Loaded t, DistillPlan p, Path text, String tokenizerName, Path out, Backend be,
                                    boolean progress, boolean plots, java.io.PrintStream console) {
        if (!(t.model() instanceof TransformerLM tm) || tm.spec().arch() == TeacherSpec.Arch.GPT2)
            throw new UserInputException("--teacher " + t.json().file().getParent() + ": a Phi or Llama teacher (model_type phi or llama) is needed, got "
                    + Models.architecture(t.json()));
        if (!Files.exists(text)) throw new UserInputException("--data " + text + ": no such file");
        TeacherSpec spec = tm.spec();
        if (p.seqLen() > spec.maxPositions())
            throw new UserInputException("plan seq_len " + p.seqLen() + " exceeds the teacher's " + spec.maxPositions() + " positions");
        String name = tokenizerName != null ? tokenizerName
                : spec.vocabSize() == 256 ? "bytes" : t.json().file().resolveSibling("tokenizer.json").toString();
        Tokenizer tok = name.equals("bytes") ? new ByteTokenizer() : HfTokenizer.open(Path.of(name));
        if (tok.vocabSize() > spec.vocabSize())
            throw new UserInputException("tokenizer " + name + " has " + tok.vocabSize() + " ids, the teacher's vocabulary " + spec.vocabSize());
        try (TokenFile tokens = TokenFile.prepare(text, tok, name, TokenFile.defaultTokensPath(text))) {
            TokenWindows windows = new TokenWindows(tokens, p.valFraction());
            if (windows.trainTokens() < p.seqLen() + 1L || windows.validationTokens() < p.seqLen() + 1L)
                throw new UserInputException("--data " + text + ": " + tokens.size() + " tokens give " + windows.trainTokens() + " for training and "
                        + windows.validationTokens() + " for validation (val_fraction " + p.valFraction() + "); each needs at least the plan's seq_len + 1 = "
                        + (p.seqLen() + 1) + ": a longer text is needed");

            MohawkStudent student = MohawkStudentInit.fromTeacher(spec, t.checkpoint(), be,
                    new MohawkStudentInit.Options(DiscreteMamba2Config.forTeacher(spec), p.attentionLayers(), p.xbcFromVkq(), p.seed())).trainable();
            checkTrainPatterns(p, student);
            console.printf("teacher %s (%s), student %s %,d parameters; data %s%n", t.json().file().getParent(),
                    spec.arch(), student.wiring().studentName(), student.allParameters().stream().mapToLong(q -> q.value().numel()).sum(), windows.describe());
            Distiller.Result r = new Distiller(tm, student, p, windows, be, out, console, progress, plots).run();
            ModelTokenizer.attach(r.student(), name);   // the student carries its tokenizer (or the byte-level marker)
            return r;
        }
    }

    /** Every 'train' pattern of every stage must match a parameter of the student, else the stage would train nothing of it. */
    static void checkTrainPatterns(DistillPlan p, MohawkStudent student) {
        java.util.List<String> names = student.allParameters().stream().map(q -> q.name()).toList();
        for (DistillPlan.Stage s : p.stages())
            for (String pattern : s.train()) {
                java.util.regex.Pattern re = java.util.regex.Pattern.compile(pattern);
                if (names.stream().noneMatch(n -> re.matcher(n).find()))
                    throw new UserInputException("plan stage " + s.stage() + ": 'train' pattern \"" + pattern + "\" matches no parameter of the "
                            + student.wiring().studentName() + " student (names look like " + names.get(Math.min(1, names.size() - 1)) + ")");
            }
    }

    /** A plan file, or a built-in plan from the jar's plans/ folder. */
    static DistillPlan loadPlan(String plan) {
        Path file = Path.of(plan);
        if (Files.exists(file)) return DistillPlan.read(file);
        try (InputStream in = DistillCommand.class.getResourceAsStream("/plans/" + plan + ".json")) {
            if (in == null) throw new UserInputException("--plan " + plan + ": no such file or built-in plan (demo)");
            Path tmp = Files.createTempFile("plan-", ".json");
            Files.write(tmp, in.readAllBytes());
            try {
                return DistillPlan.parse(JsonConfig.read(tmp));
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
