package mamba4j.nn;

import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.core.Backend;
import mamba4j.core.UserInputException;
import mamba4j.core.autograd.Parameter;
import mamba4j.io.JsonConfig;
import mamba4j.nn.data.Batch;
import mamba4j.nn.data.DataSource;
import mamba4j.nn.data.SplitMix64;
import me.tongfei.progressbar.ProgressBar;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The training loop. One optimizer step:
 * <pre>
 * zero grads → accumulation × (batch ← data(rng); loss += model.lossAndBackward(batch, 1/accumulation))
 *   → norm = ‖grads‖₂ → non-finite loss or norm? skip (count; stop after max_bad_steps in a row)
 *   → clip to grad_clip → AdamW step at lr · schedule(step) → log → [evaluate] → [checkpoint]
 * </pre>
 * The run directory holds {@code settings.json}, {@code log.jsonl}, {@code loss.png} and {@code checkpoint/}
 * (see {@link Checkpoints}). A run resumed from its checkpoint continues bit-exactly: weights (through the
 * caller's {@code loadModel}), AdamW moments and step, the data generator's state, counters.
 */
public final class Trainer {
    public static final String SETTINGS_FILE = "settings.json";
    public static final String LOG_FILE = "log.jsonl";
    public static final String PLOT_FILE = "loss.png";

    /**
     * What a finished run reports.
     *
     * @param lastValidation null when evaluation is off
     */
    public record Result(long steps, double lastLoss, Evaluation lastValidation, long badSteps, long tokens,
                         double elapsedSeconds, Path checkpoint) {}

    private final TrainableModel model;
    private final DataSource data;
    private final TrainSettings settings;
    private final Backend backend;
    private final Path runDir;
    private final Consumer<Path> loadModel;
    private PrintStream console = System.err;

    /**
     * @param model the model to train; its parameters are updated in place
     * @param data training and validation batches
     * @param backend runs sumSquares, scale and adamW on the parameters
     * @param runDir the run directory (created if missing)
     * @param loadModel on resume, loads the model's weights from the checkpoint directory it is given (the files
     *     {@link TrainableModel#save} wrote there) into the same {@link Parameter} tensors {@code model.parameters()}
     *     returns
     */
    public Trainer(TrainableModel model, DataSource data, TrainSettings settings, Backend backend, Path runDir,
                   Consumer<Path> loadModel) {
        this.model = model;
        this.data = data;
        this.settings = settings;
        this.backend = backend;
        this.runDir = runDir.toAbsolutePath();
        this.loadModel = loadModel;
    }

    private Consumer<Path> checkpointExtras = dir -> {};

    /**
     * Also run on every checkpoint directory after the model is saved into it (before it is marked complete): e.g.
     * putting the tokenizer beside the weights, so that every checkpoint carries it.
     */
    public Trainer checkpointExtras(Consumer<Path> extras) {
        this.checkpointExtras = extras;
        return this;
    }

    /** Where notes (resume, settings changes, evaluation lines when the bar is off) go; stderr by default. */
    public Trainer console(PrintStream console) {
        this.console = console;
        return this;
    }

    /**
     * Trains up to {@code settings.steps()} steps.
     *
     * @param resume continue from {@code runDir/checkpoint}; without it, a run directory that already holds a
     *     checkpoint is refused (never overwritten by accident)
     * @throws TrainingStoppedException after max_bad_steps consecutive non-finite steps
     * @throws UserInputException for a missing checkpoint on resume, or data that does not fit the settings
     */
    public Result run(boolean resume) {
        data.check(settings);
        List<Parameter> params = model.parameters();
        AdamW opt = AdamW.of(params, backend, settings);
        Schedule schedule = settings.lrSchedule();
        SplitMix64 rng = new SplitMix64(settings.seed());
        try {
            Files.createDirectories(runDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the run directory " + runDir + ": " + e.getMessage(), e);
        }
        Optional<Path> found = Checkpoints.recover(runDir);
        TrainerState start;
        if (resume) {
            Path ckpt = found.orElseThrow(() -> new UserInputException("--resume: " + runDir + " holds no checkpoint to resume from"));
            mamba4j.io.Checksums.verify(Checkpoints.model(ckpt));      // a flipped byte in any file is refused, naming the file
            mamba4j.io.Checksums.verify(Checkpoints.training(ckpt));
            TrainerState saved = TrainerState.read(Checkpoints.training(ckpt).resolve(Checkpoints.TRAINER_FILE));
            loadModel.accept(Checkpoints.model(ckpt));
            opt.load(Checkpoints.training(ckpt).resolve(Checkpoints.OPTIMIZER_FILE));
            rng.setState(saved.rngState());
            start = saved;
            noteChangedSettings(saved.settings());
            console.println("resuming " + runDir + " at step " + saved.step() + " of " + settings.steps());
        } else {
            if (found.isPresent())
                throw new UserInputException(runDir + " already holds a checkpoint (" + found.get()
                        + "); pass --resume to continue that run, or choose another output directory");
            start = new TrainerState(0, 0, rng.state(), 0, 0, 0, 0, settings);
        }
        JsonConfig.write(runDir.resolve(SETTINGS_FILE), settings.toJson());

        long step = start.step(), dataPosition = start.dataPosition(), bad = start.badSteps(), streak = start.consecutiveBadSteps();
        long tokens = start.tokens();
        double elapsedBefore = start.elapsedSeconds();
        long t0 = System.nanoTime();
        Path lastCheckpoint = found.orElse(null);
        double lastLoss = Double.NaN;
        Evaluation lastEval = null;

        Interrupt interrupt = Interrupt.install();
        long lastCheckpointNanos = System.nanoTime();
        try (interrupt; TrainLog log = new TrainLog(runDir.resolve(LOG_FILE), resume ? step : 0);
             ProgressBar bar = settings.progress() ? Progress.bar("train", settings.steps(), step, elapsedBefore, console) : null) {
            ObjectNode hello = log.record(resume ? "resume" : "start");
            hello.put("step", step);
            hello.put("data", data.describe());
            hello.set("settings", settings.toJson());
            log.append(hello);

            while (step < settings.steps()) {
                long s0 = System.nanoTime();
                for (Parameter p : params) p.zeroGrad();
                double lossSum = 0;
                long stepTokens = 0;
                float gradScale = 1f / settings.accumulation();
                for (int a = 0; a < settings.accumulation(); a++) {
                    Batch b = data.trainBatch(settings.batchSize(), settings.seqLen(), rng);
                    dataPosition++;
                    lossSum += model.lossAndBackward(b.inputs(), b.targets(), gradScale);
                    stepTokens += b.tokens();
                }
                double loss = lossSum / settings.accumulation();
                double norm = GradClip.norm(params, backend);
                double lr = settings.lr() * schedule.multiplier(step);
                boolean finite = Double.isFinite(loss) && Double.isFinite(norm);
                if (finite) {
                    streak = 0;
                    GradClip.clipTo(params, norm, settings.gradClip(), backend);
                    opt.step(lr);
                    lastLoss = loss;
                } else {
                    bad++;
                    streak++;
                }
                step++;
                tokens += stepTokens;
                double stepSeconds = (System.nanoTime() - s0) * 1e-9;
                double elapsed = elapsedBefore + (System.nanoTime() - t0) * 1e-9;

                ObjectNode rec = log.record("train");
                rec.put("step", step);
                putNumber(rec, "loss", loss);
                rec.put("lr", lr);
                putNumber(rec, "grad_norm", norm);
                rec.put("tokens", tokens);
                rec.put("tok_per_s", stepTokens / Math.max(stepSeconds, 1e-9));
                rec.put("elapsed_s", elapsed);
                if (!finite) rec.put("skipped", true);
                log.append(rec);
                if (bar != null) {
                    bar.stepTo(step);
                    bar.setExtraMessage(String.format(Locale.ROOT, " loss %.4f | lr %.2e | %s tok/s%s%s", loss, lr,
                            human(stepTokens / Math.max(stepSeconds, 1e-9)),
                            lastEval == null ? "" : String.format(Locale.ROOT, " | val %.4f", lastEval.loss()),
                            bad == 0 ? "" : " | skipped " + bad));
                }

                if (!finite) {
                    console.println(String.format(Locale.ROOT, "step %d: non-finite %s (loss %s, grad norm %s); skipped, %d in a row",
                            step, Double.isFinite(loss) ? "gradient norm" : "loss", loss, norm, streak));
                    if (streak >= settings.maxBadSteps()) {
                        ObjectNode stop = log.record("stop");
                        stop.put("step", step);
                        stop.put("reason", "max_bad_steps");
                        log.append(stop);
                        plot(log);
                        throw new TrainingStoppedException(String.format(Locale.ROOT,
                                "training stopped at step %d: %d consecutive steps had a non-finite loss or gradient norm "
                                        + "(max_bad_steps=%d). %s Try a lower lr, a longer warmup or grad_clip > 0.",
                                step, streak, settings.maxBadSteps(),
                                lastCheckpoint == null ? "No checkpoint was written yet."
                                        : "The last good checkpoint is kept in " + lastCheckpoint + "; continue from it with --resume."),
                                step, lastCheckpoint);
                    }
                }

                boolean stopping = interrupt.requested();
                boolean last = step == settings.steps();
                if (settings.evalEvery() > 0 && (step % settings.evalEvery() == 0 || last)) {
                    lastEval = Evaluation.run(model, data, settings.evalBatches(), settings.batchSize(), settings.seqLen());
                    ObjectNode ev = log.record("eval");
                    ev.put("step", step);
                    putNumber(ev, "val_loss", lastEval.loss());
                    putNumber(ev, "val_ppl", lastEval.perplexity());
                    if (lastEval.accuracy() != null) {
                        putNumber(ev, "accuracy", lastEval.accuracy().tokenAccuracy());
                        putNumber(ev, "seq_accuracy", lastEval.accuracy().sequenceAccuracy());
                    }
                    log.append(ev);
                    if (bar == null) console.println("eval " + ev.toString());
                }
                // Never checkpoint inside a streak of non-finite steps: the kept checkpoint stays the last good one.
                boolean timeUp = settings.checkpointMinutes() > 0 && System.nanoTime() - lastCheckpointNanos >= settings.checkpointMinutes() * 60e9;
                if (streak == 0 && ((settings.checkpointEvery() > 0 && step % settings.checkpointEvery() == 0) || last || stopping || timeUp)) {
                    TrainerState st = new TrainerState(step, dataPosition, rng.state(), bad, streak, tokens,
                            elapsedBefore + (System.nanoTime() - t0) * 1e-9, settings);
                    lastCheckpoint = Checkpoints.write(runDir, step, (modelDir, trainingDir) -> {
                        model.save(modelDir);
                        checkpointExtras.accept(modelDir);
                        opt.save(trainingDir.resolve(Checkpoints.OPTIMIZER_FILE));
                        st.write(trainingDir.resolve(Checkpoints.TRAINER_FILE)); // last: marks the directory complete
                    });
                    lastCheckpointNanos = System.nanoTime();
                    plot(log);
                }
                if (stopping) {
                    ObjectNode stop = log.record("stop");
                    stop.put("step", step);
                    stop.put("reason", "interrupted");
                    log.append(stop);
                    if (bar != null) bar.close();
                    console.println("interrupted at step " + step + " of " + settings.steps() + (lastCheckpoint == null ? "; no checkpoint yet"
                            : "; checkpoint written to " + lastCheckpoint + "; continue with --resume"));
                    interrupt.done();
                    throw new TrainingInterruptedException(step, lastCheckpoint);
                }
            }
            plot(log);
        }
        return new Result(step, lastLoss, lastEval, bad, tokens, elapsedBefore + (System.nanoTime() - t0) * 1e-9, lastCheckpoint);
    }

    private void plot(TrainLog log) {
        if (settings.plot())
            LossPlot.write(runDir.resolve(PLOT_FILE), log.trainLoss, log.valLoss, runDir.getFileName() + " — " + data.describe());
    }

    private void noteChangedSettings(TrainSettings saved) {
        ObjectNode a = saved.toJson(), b = settings.toJson();
        List<String> changed = new ArrayList<>();
        for (String k : TrainSettings.keys())
            if (!a.get(k).equals(b.get(k))) changed.add(k + " " + a.get(k) + " → " + b.get(k));
        if (!changed.isEmpty()) console.println("resume: settings differ from the checkpoint's: " + String.join(", ", changed));
    }

    /** JSON has no NaN/Infinity: non-finite values are written as strings ("NaN", "Infinity"). */
    private static void putNumber(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) o.put(key, v);
        else o.put(key, Double.toString(v));
    }

    private static String human(double v) {
        if (v >= 1e6) return String.format(Locale.ROOT, "%.2fM", v / 1e6);
        if (v >= 1e3) return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        return String.format(Locale.ROOT, "%.0f", v);
    }
}
