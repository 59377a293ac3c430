package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;

import java.util.Random;

/**
 * The lab for Mamba-2's batch-1 decode SSD step (issue 16 part 1): mamba2-130m's shape (24 heads of 64 × 128, one
 * group) over 24 layers of states (19.5 MB, as in a real step), each call timed, with and without ~10 MB of other
 * reads between two layers (a layer's f16 weights: the state then comes from memory, as in a real step). Not a test;
 * run by hand:
 * <pre>
 * mvn -o -q -pl cpu -am test-compile
 * java --add-modules jdk.incubator.vector -cp core/target/classes:cpu/target/classes:cpu/target/test-classes mamba4j.cpu.SsdStepLab
 * </pre>
 */
public final class SsdStepLab {
    public static void main(String[] args) {
        int layers = 24, h = 24, p = 64, n = 128;
        Random rnd = new Random(1);
        Tensor x = DecodeLab.gauss(rnd, 1, 1, h, p), logA = DecodeLab.gauss(rnd, 1, 1, h), dt = DecodeLab.gauss(rnd, 1, 1, h);
        for (int i = 0; i < h; i++) { logA.setFloat(i, -Math.abs(logA.getFloat(i)) * 0.1f); dt.setFloat(i, Math.abs(dt.getFloat(i))); }
        Tensor bm = DecodeLab.gauss(rnd, 1, 1, 1, n), cm = DecodeLab.gauss(rnd, 1, 1, 1, n), d = DecodeLab.gauss(rnd, h), y = Tensor.zeros(DType.F32, 1, 1, h, p);
        Ssd[] s = new Ssd[layers];
        for (int l = 0; l < layers; l++) s[l] = new Ssd(x, logA, dt, bm, cm, d, DecodeLab.gauss(rnd, 1, h, p, n), y);
        int[] other = new int[10 << 18];   // 10 MiB
        java.util.Arrays.fill(other, 1);
        double bytes = 2.0 * h * p * n * 4;
        Tensor u = DecodeLab.gauss(rnd, 1, 768), o = Tensor.zeros(DType.F32, 1, 3352);
        Tensor[][] w = new Tensor[3][layers];
        DType[] wt = {DType.F32, DType.BF16, DType.F16};
        for (int t = 0; t < 3; t++) for (int l = 0; l < layers; l++) w[t][l] = DecodeLab.gauss(rnd, 3352, 768).to(wt[t]);
        for (int t = 0; t < 3; t++) {
            long ns = 0, calls = 0;
            for (int rep = 0; rep < 300; rep++) {
                if (rep == 100) { ns = 0; calls = 0; }
                for (int l = 0; l < layers; l++) {
                    CpuLinear.linear(u, w[t][l], null, o);
                    long t0 = System.nanoTime();
                    CpuSsd.forward(s[l], 256, null);
                    ns += System.nanoTime() - t0;
                    calls++;
                }
            }
            double us = ns / 1e3 / calls;
            System.out.printf("ssd step after an in_proj GEMV of %s weights: %.1f µs/call, %.1f GB/s%n", wt[t], us, bytes / us / 1e3);
        }
        for (boolean flush : new boolean[]{false, true}) {
            long ns = 0, calls = 0;
            long sink = 0;
            for (int rep = 0; rep < 400; rep++) {
                if (rep == 200) { ns = 0; calls = 0; }
                for (int l = 0; l < layers; l++) {
                    if (flush) for (int v : other) sink += v;
                    long t0 = System.nanoTime();
                    CpuSsd.forward(s[l], 256, null);
                    ns += System.nanoTime() - t0;
                    calls++;
                }
            }
            double us = ns / 1e3 / calls;
            System.out.printf("ssd step %s: %.1f µs/call, state read+written at %.1f GB/s (%s)%n", flush ? "after 10 MiB of other reads" : "states in cache",
                    us, bytes / us / 1e3, sink == 1 ? "!" : "");
        }
    }
}
