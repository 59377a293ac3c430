package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.ProfilingKernels;
import mamba4j.core.UserInputException;
import mamba4j.models.CausalLM;
import mamba4j.models.Models;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba2.Mamba2Config;
import mamba4j.models.mamba2.Mamba2Init;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * End-to-end throughput: prefill tok/s, decode tok/s at each batch size, and decode against the memory-bandwidth
 * bound (measured read GB/s ÷ weight bytes read per step). Not a test: numbers go to docs/BENCHMARKS.md.
 */
@Command(name = "bench", description = "Measure prefill and decode throughput against the memory-bandwidth bound.")
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Checkpoint directory or .gguf file (default: a random model of --shape). Or a Hugging Face model ORG/NAME[@REVISION]: found in the Hugging Face cache, else downloaded into it.")
    Path model;

    @Option(names = "--shape", defaultValue = "mamba-130m", description = "Random model of a published shape: mamba-130m, mamba-370m, mamba-790m, mamba-1.4b, mamba-2.8b, or Mamba-2's mamba2-130m … mamba2-2.7b (default: ${DEFAULT-VALUE}).")
    String shape;

    @Option(names = "--dtype", description = "Weight dtype: f32, bf16, f16, q8_0, q4_0 (linear weights, embedding and head; Mamba-1's x_proj and dt_proj stay f32 when quantised, as llama.cpp leaves them); with --model the weights are converted as they load (default: f32 for a random model, as stored with --model).")
    String dtype;

    @Option(names = "--prompt-len", defaultValue = "512", description = "Prefill length (default: ${DEFAULT-VALUE}).")
    int promptLen;

    @Option(names = "--decode-tokens", defaultValue = "64", description = "Timed decode steps per batch size (default: ${DEFAULT-VALUE}).")
    int decodeTokens;

    @Option(names = "--batch", split = ",", defaultValue = "1,8", description = "Decode batch sizes (default: ${DEFAULT-VALUE}).")
    List<Integer> batches;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    Integer threads;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu, cuda (cuda:N for another GPU) or reference (default: ${DEFAULT-VALUE}).")
    String backendName;

    @Option(names = "--profile", description = "Also print where decode time goes, per op (adds a little overhead).")
    boolean profile;

    @Override public Integer call() {
        if (threads != null) {
            if (threads < 1) throw new UserInputException("--threads must be >= 1, got " + threads);
            System.setProperty("mamba4j.threads", threads.toString());
        }
        if (promptLen < 1 || decodeTokens < 1) throw new UserInputException("--prompt-len and --decode-tokens must be >= 1");
        for (int b : batches) if (b < 1) throw new UserInputException("--batch sizes must be >= 1, got " + b);
        Backend backend = profile ? ProfilingKernels.wrap(Backends.get(backendName)) : Backends.get(backendName);
        Models.Loaded loaded = null;
        CausalLM lm;
        String what;
        if (model != null) {
            model = ModelSource.resolve("--model", model);
            loaded = Models.load(model, backend, Inputs.weightType("--dtype", dtype));
            lm = loaded.model();
            what = model + (dtype == null ? "" : " (" + Inputs.weightType("--dtype", dtype) + ")");
        } else {
            DType dt = dtype == null ? DType.F32 : Inputs.weightType("--dtype", dtype);
            if (shape.startsWith("mamba2-")) {
                Mamba2Config cfg = Mamba2Init.shape(shape);
                System.out.printf("building a random %s model (%,d parameters, %s weights)...%n", shape, cfg.parameterCount(), dt);
                lm = Mamba2Init.random(cfg, dt, 0, backend);
            } else {
                Mamba1Config cfg = Mamba1Init.shape(shape);
                System.out.printf("building a random %s model (%,d parameters, %s weights)...%n", shape, cfg.parameterCount(), dt);
                lm = Mamba1Init.random(cfg, dt, 0, backend);
            }
            what = shape + " (random, " + dt + ")";
        }
        try {
            double bw = backend.memoryBandwidthGBs();
            resetPeakRss();   // the probe's buffer is freed; peak memory below is the model's
            long bytes = lm.weightBytesPerToken();
            double bound = bw * 1e9 / bytes;
            System.out.printf("model %s, backend %s%n", what, backend.description());
            System.out.printf("memory read bandwidth %.1f GB/s; weights read per decode step %.1f MB → bound %.1f steps/s%n",
                    bw, bytes / 1e6, bound);

            SplittableRandom rnd = new SplittableRandom(1);
            // prefill: batch 1, promptLen tokens; one untimed run to compile, then the best of 3
            int[][] prompt = {rnd.ints(promptLen, 0, lm.vocabSize()).toArray()};
            lm.prefill(lm.newState(1), prompt);
            backend.sync();
            double prefillSecs = Double.MAX_VALUE;
            for (int rep = 0; rep < 3; rep++) {
                long t0 = System.nanoTime();
                lm.prefill(lm.newState(1), prompt);
                backend.sync();   // an accelerator queues the work: the clock stops when it is done
                prefillSecs = Math.min(prefillSecs, (System.nanoTime() - t0) / 1e9);
            }
            System.out.printf("prefill  batch 1, %d tokens: %.1f tok/s (%.2f s, best of 3)%n", promptLen, promptLen / prefillSecs, prefillSecs);

            StringBuilder table = new StringBuilder();
            for (int b : batches) {
                int[][] p = new int[b][];
                for (int i = 0; i < b; i++) p[i] = rnd.ints(16, 0, lm.vocabSize()).toArray();
                int[] tok = new int[b];
                // warm-up, as llama-bench's: untimed runs like the timed one, on states of their own, repeated for at
                // least 3 seconds (the JIT compiles the decode kernels over the first few hundred steps on 2 cores: at
                // 128 steps mamba2-130m f16 still ran 30% below its steady rate), so that the timed run measures the
                // steady rate over the same positions
                long w0 = System.nanoTime();
                do {
                    CausalLM.DecodeState warm = lm.newState(b);
                    lm.prefill(warm, p);
                    for (int i = 0; i < decodeTokens; i++) lm.step(warm, tok);
                } while (System.nanoTime() - w0 < 3_000_000_000L);
                CausalLM.DecodeState st = lm.newState(b);
                lm.prefill(st, p);
                backend.sync();
                if (backend.kernels() instanceof ProfilingKernels pb) pb.reset();
                long s0 = System.nanoTime();
                for (int i = 0; i < decodeTokens; i++) lm.step(st, tok);
                backend.sync();
                double secs = (System.nanoTime() - s0) / 1e9;
                double steps = decodeTokens / secs;
                System.out.printf("decode   batch %d: %.1f tok/s (%.1f steps/s, %.2f ms/step, weights read at %.1f GB/s = %.0f%% of the bandwidth bound), state %.1f KB%n",
                        b, steps * b, steps, 1e3 / steps, steps * bytes / 1e9, 100 * steps / bound, st.stateBytes() / 1e3);
                if (backend.kernels() instanceof ProfilingKernels pb) System.out.print(pb.report());
                table.append(String.format("| %s | %d | %.1f | %.1f | %.0f%% |%n", what, b, steps * b, bound * b, 100 * steps / bound));
            }
            System.out.printf("peak resident memory %.0f MB%n", peakRssMb());
            System.out.print("\n| model | batch | decode tok/s | bound tok/s | % of bound |\n|---|---|---|---|---|\n" + table);
        } finally {
            if (loaded != null) loaded.close();
        }
        return 0;
    }

    /** Resets the kernel's VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs). */
    static void resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (Exception ignored) {
            // not Linux or not permitted: the peak then includes the bandwidth probe's buffer
        }
    }

    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("\\D", "")) / 1024.0;
        } catch (Exception ignored) {
            // not Linux: reported as 0 below
        }
        return 0;
    }
}
