import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.cpu.CpuKernels;

import java.util.Random;

/**
 * The cpu backend's F32 linear (out (M, N) = x (M, K) · w (N, K)ᵀ, the op of every projection) timed alone, in GFLOP/s
 * (2·M·N·K flops a call) and % of the FMA peak (tools/bench/FmaPeak.java; pass it, default 200 GFLOP/s a thread).
 * Cold: the calls cycle through enough weight copies (≥ 96 MB) that each is read from memory, as in a model's step;
 * hot: one weight, in cache after the first call. The best of 5 rounds of ≥ 0.3 s each after a 2 s warm-up.
 *
 *   mvn -o -q package -DskipTests
 *   javac --add-modules jdk.incubator.vector -cp core/target/classes:cpu/target/classes -d /tmp/gb tools/bench/GemmBench.java
 *   java --add-modules jdk.incubator.vector -Dmamba4j.threads=2 -cp core/target/classes:cpu/target/classes:/tmp/gb GemmBench [peak] [dtype] [MxKxN,...]
 */
public class GemmBench {
    static final int[][] SHAPES = {{8, 768, 1536}, {32, 768, 1536}, {512, 768, 1536}, {512, 1536, 768}};

    public static void main(String[] args) {
        CpuKernels cpu = new CpuKernels();
        double peak = args.length > 0 ? Double.parseDouble(args[0]) : 200.0 * cpu.threads();
        DType dt = args.length > 1 ? DType.valueOf(args[1].toUpperCase()) : DType.F32;
        System.out.printf("%s, %s weights, FMA peak %.0f GFLOP/s%n", cpu.description(), dt, peak);
        Random rnd = new Random(1);
        int[][] shapes = args.length > 2 ? java.util.Arrays.stream(args[2].split(","))
                .map(t -> java.util.Arrays.stream(t.split("x")).mapToInt(Integer::parseInt).toArray()).toArray(int[][]::new) : SHAPES;
        for (int[] s : shapes) {
            int m = s[0], k = s[1], n = s[2];
            Tensor x = gauss(rnd, m, k), out = Tensor.zeros(DType.F32, m, n);
            int copies = (int) Math.max(1, (96L << 20) / ((long) n * k * 4));
            Tensor[] ws = new Tensor[copies];
            for (int c = 0; c < copies; c++) ws[c] = gauss(rnd, n, k).to(dt);
            double flops = 2.0 * m * n * k;
            for (boolean cold : new boolean[]{true, false}) {
                int cycle = cold ? copies : 1;
                double best = 0;
                long warm = System.nanoTime();
                for (int i = 0; System.nanoTime() - warm < 2_000_000_000L; i++) cpu.linear(x, ws[i % cycle], null, out);
                for (int round = 0; round < 5; round++) {
                    long t0 = System.nanoTime(), t;
                    int calls = 0;
                    do { cpu.linear(x, ws[calls % cycle], null, out); calls++; } while ((t = System.nanoTime() - t0) < 300_000_000L);
                    best = Math.max(best, flops * calls / t);
                }
                System.out.printf("%4d x %4d x %4d %-4s %7.1f GFLOP/s %5.1f%% of peak %8.1f µs/call%n",
                        m, k, n, cold ? "cold" : "hot", best, 100 * best / peak, flops / best / 1e3);
            }
        }
    }

    static Tensor gauss(Random rnd, int... shape) {
        Tensor t = Tensor.zeros(DType.F32, java.util.Arrays.stream(shape).asLongStream().toArray());
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) rnd.nextGaussian() * 0.05f);
        return t;
    }
}
