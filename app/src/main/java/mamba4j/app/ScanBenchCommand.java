package mamba4j.app;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * The two scan ops side by side on the CPU: Mamba-1's selective scan (E channels, each with an N-vector state and
 * its own Δ, A per channel) and Mamba-2's chunked SSD (H heads of P channels sharing a scalar decay per head),
 * at the same E = H·P, forward (with chunk-state saving, as in training) and backward, for each N and L.
 */
@Command(name = "bench-scan", description = "Time the Mamba-1 selective scan against the Mamba-2 SSD (forward and backward) for N and L.")
final class ScanBenchCommand implements Callable<Integer> {
    @Option(names = "--channels", defaultValue = "1536", description = "E = expand·d_model (default: ${DEFAULT-VALUE}, mamba-130m).")
    int channels;

    @Option(names = "--head-dim", defaultValue = "64", description = "P for the SSD (H = E / P) (default: ${DEFAULT-VALUE}).")
    int headDim;

    @Option(names = "--state", split = ",", defaultValue = "16,64,128", description = "N values (default: ${DEFAULT-VALUE}).")
    List<Integer> states;

    @Option(names = "--lengths", split = ",", defaultValue = "1024,4096,16384", description = "L values (default: ${DEFAULT-VALUE}).")
    List<Integer> lengths;

    @Option(names = "--chunk", defaultValue = "64", description = "Chunk of both ops' saved states / SSD blocks (default: ${DEFAULT-VALUE}).")
    int chunk;

    @Override public Integer call() {
        Backend be = Backends.get("cpu");
        int e = channels, p = headDim, h = e / p;
        SplittableRandom r = new SplittableRandom(3);
        System.out.printf("E = %d (SSD: H = %d × P = %d, G = 1), batch 1, chunk %d, threads %d; times in ms (best of 2)%n", e, h, p, chunk, Backends.get("cpu").threads());
        System.out.println("| N | L | Mamba-1 scan fwd | bwd | SSD fwd | bwd |");
        System.out.println("|---|---|---|---|---|---|");
        for (int n : states)
            for (int l : lengths) {
                // Mamba-1: u, Δ (B, L, E); A (E, N); B, C (B, L, N)
                Tensor u = rand(r, 1, l, e), delta = rand(r, 1, l, e), a = Tensor.zeros(DType.F32, e, n);
                for (long i = 0; i < a.numel(); i++) a.setFloat(i, (float) -(1 + (i % n)));
                Tensor bm = rand(r, 1, l, n), cm = rand(r, 1, l, n), y = Tensor.zeros(DType.F32, 1, l, e);
                int chunks = (l + chunk - 1) / chunk;
                SelectiveScan s = new SelectiveScan(u, delta, null, true, a, bm, cm, null, null, null, y);
                Tensor cs = Tensor.zeros(DType.F32, 1, chunks, e, n);
                double f1 = time(() -> be.selectiveScanForward(s, chunk, cs));
                SelectiveScanGrads g = new SelectiveScanGrads(Tensor.zeros(DType.F32, 1, l, e), Tensor.zeros(DType.F32, 1, l, e),
                        Tensor.zeros(DType.F32, e, n), Tensor.zeros(DType.F32, 1, l, n), Tensor.zeros(DType.F32, 1, l, n), null, null, null, null);
                double b1 = time(() -> be.selectiveScanBackward(s, chunk, cs, y, g));
                // SSD: x (B, L, H, P); logA, scale (B, L, H); B, C (B, L, 1, N)
                Tensor x = u.reshape(1, l, h, p), logA = Tensor.zeros(DType.F32, 1, l, h), sc = Tensor.zeros(DType.F32, 1, l, h);
                for (long i = 0; i < logA.numel(); i++) { logA.setFloat(i, (float) (-0.05 * r.nextDouble())); sc.setFloat(i, (float) (0.1 * r.nextDouble())); }
                Tensor out = Tensor.zeros(DType.F32, 1, l, h, p);
                Ssd d = new Ssd(x, logA, sc, bm.reshape(1, l, 1, n), cm.reshape(1, l, 1, n), null, null, out);
                Tensor cs2 = Tensor.zeros(DType.F32, 1, chunks, h, p, n);
                double f2 = time(() -> be.ssdForward(d, chunk, cs2));
                SsdGrads g2 = new SsdGrads(Tensor.zeros(DType.F32, 1, l, h, p), Tensor.zeros(DType.F32, 1, l, h), Tensor.zeros(DType.F32, 1, l, h),
                        Tensor.zeros(DType.F32, 1, l, 1, n), Tensor.zeros(DType.F32, 1, l, 1, n), null, null);
                double b2 = time(() -> be.ssdBackward(d, chunk, cs2, out, g2));
                System.out.printf("| %d | %d | %.1f | %.1f | %.1f | %.1f |%n", n, l, f1, b1, f2, b2);
            }
        return 0;
    }

    private static double time(Runnable op) {
        op.run();   // warm-up
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            op.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e6);
        }
        return best;
    }

    private static Tensor rand(SplittableRandom r, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (r.nextDouble() - 0.5));
        return t;
    }
}
