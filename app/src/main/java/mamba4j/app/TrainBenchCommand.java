package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.UserInputException;
import mamba4j.core.autograd.Parameter;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Init;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.nn.AdamW;
import mamba4j.nn.TrainableModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * Training throughput and memory: forward + backward + AdamW step of a random model of a published shape at
 * batch 1, for each sequence length; tok/s, CPU seconds per step (steadier than wall time on a shared machine), an
 * estimate of the FLOP rate (6 × parameters × tokens), the bytes the model's step workspaces reserved (the tape's
 * intermediates: exact, but Mamba-2 without recompute allocates from the GC heap and shows 0) and the peak resident
 * memory (VmHWM) of those steps, which also holds weights, gradients, AdamW moments and the Java heap. Each length runs in a fresh JVM (the workspaces keep their blocks across
 * steps, so an earlier, shorter length would leave its blocks behind in the peak), and the peaks are fitted to
 * a + b·L to give the bytes per token. Not a test: numbers go to docs/BENCHMARKS.md.
 */
@Command(name = "bench-train", description = "Measure training tok/s (forward + backward + AdamW) and peak memory against sequence length.")
final class TrainBenchCommand implements Callable<Integer> {
    @Option(names = "--shape", defaultValue = "mamba-130m", description = "Published shape: mamba-130m … mamba-2.8b, or Mamba-2's mamba2-130m … mamba2-2.7b (default: ${DEFAULT-VALUE}).")
    String shape;

    @Option(names = "--seq-lens", split = ",", defaultValue = "256,512,1024,2048,4096,8192", description = "Sequence lengths (default: ${DEFAULT-VALUE}).")
    List<Integer> seqLens;

    @Option(names = "--steps", defaultValue = "2", description = "Timed steps per length, after one untimed step (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--recompute", arity = "1", description = "Recompute each block's intermediates in backward instead of keeping them: true or false (default: the models' default, -Dmamba4j.recompute).")
    Boolean recompute;

    @Option(names = "--same-jvm", description = "Run every length in this JVM (peaks then include blocks kept from shorter lengths).")
    boolean sameJvm;

    @Override public Integer call() {
        if (steps < 1) throw new UserInputException("--steps must be >= 1");
        for (int len : seqLens) if (len < 2) throw new UserInputException("--seq-lens must be >= 2, got " + len);
        if (shape.startsWith("mamba2-")) Mamba2Init.shape(shape); else Mamba1Init.shape(shape);   // a bad name fails here, not in a child
        boolean on = recompute != null ? recompute : mamba4j.models.BlockRecompute.DEFAULT;
        System.out.printf("%s, batch 1, F32, AdamW, recompute %s, threads %d, one fresh JVM per length: %s%n",
                shape, on, Backends.get("cpu").threads(), !sameJvm && seqLens.size() > 1);
        System.out.println("| L | tok/s | s/step | CPU s/step | GFLOP/s (6·P·tokens) | workspace MB | RSS before MB | peak RSS MB |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        List<double[]> peaks = new ArrayList<>();             // (L, peak bytes)
        if (sameJvm || seqLens.size() == 1) {
            Bench b = new Bench(shape, on);
            for (int len : seqLens) peaks.add(new double[]{len, b.run(len, steps)});
        } else {
            for (int len : seqLens) peaks.add(new double[]{len, child(len, on)});
        }
        if (peaks.size() >= 2) {
            double[] fit = fitLine(peaks);
            System.out.printf("peak RSS ≈ %.0f MB + %.0f bytes/token × L (least squares over %d lengths; MB = 2^20 bytes)%n",
                    fit[0] / (1 << 20), fit[1], peaks.size());
        }
        return 0;
    }

    /** One model and optimizer; each run prints its table row and returns the peak RSS in bytes. */
    private static final class Bench {
        final TrainableModel model;
        final List<Parameter> params;
        final long nParams;
        final AdamW opt;
        final int vocab;
        final SplittableRandom rnd = new SplittableRandom(1);

        Bench(String shape, boolean recompute) {
            Backend be = Backends.get("cpu");
            if (shape.startsWith("mamba2-")) {
                Mamba2Config cfg = Mamba2Init.shape(shape);
                Mamba2Model m = Mamba2Model.trainable(cfg, be, Mamba2Init.weights(cfg, DType.F32, 0), "backbone.embeddings.weight");
                m.setRecompute(recompute);
                model = m;
                vocab = cfg.vocabSize();
            } else {
                Mamba1Config cfg = Mamba1Init.shape(shape);
                Mamba1Model m = Mamba1Model.trainable(cfg, be, Mamba1Init.weights(cfg, DType.F32, 0), "backbone.embeddings.weight");
                m.setRecompute(recompute);
                model = m;
                vocab = cfg.vocabSize();
            }
            params = model.parameters();
            nParams = params.stream().mapToLong(p -> p.value().numel()).sum();
            opt = new AdamW(params, be, 0.9, 0.95, 1e-8, 0.1);
        }

        double run(int len, int steps) {
            int[][] ids = {rnd.ints(len + 1, 0, vocab).toArray()};
            int[][] in = {java.util.Arrays.copyOf(ids[0], len)}, tg = {java.util.Arrays.copyOfRange(ids[0], 1, len + 1)};
            System.gc();                                          // the init model's copies are garbage by now:
            try { Thread.sleep(500); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }   // let the Cleaner free them
            double before = rssMb();
            BenchCommand.resetPeakRss();
            step(in, tg);                                         // untimed: sizes the workspaces, compiles
            long t0 = System.nanoTime(), c0 = cpuNanos();
            for (int s = 0; s < steps; s++) step(in, tg);
            double secs = (System.nanoTime() - t0) / 1e9 / steps, cpu = (cpuNanos() - c0) / 1e9 / steps;
            double peak = BenchCommand.peakRssMb();
            long ws = switch (model) {
                case Mamba1Model m -> m.workspaceBytes();
                case Mamba2Model m -> m.workspaceBytes();
                default -> 0;
            };
            System.out.printf("| %d | %.0f | %.2f | %.2f | %.1f | %.0f | %.0f | %.0f |%n", len, len / secs, secs, cpu,
                    6.0 * nParams * len / secs / 1e9, ws / (double) (1 << 20), before, peak);
            System.out.flush();
            return peak * (1 << 20);
        }

        private void step(int[][] in, int[][] tg) {
            for (Parameter p : params) p.zeroGrad();
            model.lossAndBackward(in, tg, 1f);
            opt.step(1e-4);
        }
    }

    /** Runs one length in a fresh JVM (same java, flags and class path), echoes its row, returns its peak in bytes. */
    private double child(int len, boolean on) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "bench-train",
                "--shape", shape, "--seq-lens", Integer.toString(len), "--steps", Integer.toString(steps), "--recompute", Boolean.toString(on)));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            double peak = Double.NaN;
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("| " + len + " |")) {
                        System.out.println(line);
                        String[] cells = line.split("\\|");
                        peak = Double.parseDouble(cells[cells.length - 1].trim()) * (1 << 20);
                    } else if (!line.startsWith("|") && !line.startsWith(shape) && !line.startsWith("WARNING: Using incubator")) {
                        System.out.println("  [L = " + len + "] " + line);
                    }
                }
            }
            int rc = p.waitFor();
            if (rc != 0 || Double.isNaN(peak))
                throw new IllegalStateException("bench-train child for L = " + len + " exited " + rc + (rc == 137 ? " (killed: out of memory?)" : ""));
            return peak;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Least squares y = a + b·x over (x, y) rows: {a, b}. */
    static double[] fitLine(List<double[]> xy) {
        double n = xy.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (double[] p : xy) {
            sx += p[0];
            sy += p[1];
            sxx += p[0] * p[0];
            sxy += p[0] * p[1];
        }
        double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        return new double[]{(sy - b * sx) / n, b};
    }

    /** CPU time of this process (all threads, user + system): on a shared machine, steadier than wall time. */
    static long cpuNanos() {
        return ManagementFactory.getPlatformMXBean(com.sun.management.OperatingSystemMXBean.class).getProcessCpuTime();
    }

    static double rssMb() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
        } catch (IOException ignored) {
            // not Linux: reported as 0
        }
        return 0;
    }
}
