package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.SelectiveScan;
import mamba4j.core.Tensor;

import java.util.Random;

/**
 * The lab for the batch-1 decode step's ops (STYLE 11; issue 16 part 1): mamba-130m's per-layer ops over 24 layers of
 * weights and states (more bytes than the last-level cache, as in a real step), each op timed on its own (µs per call,
 * GB/s of the bytes it must read), then the whole layer sequence untimed. Not a test; run by hand:
 * <pre>
 * mvn -o -q -pl cpu -am test-compile
 * java --add-modules jdk.incubator.vector -cp core/target/classes:cpu/target/classes:cpu/target/test-classes mamba4j.cpu.DecodeLab [F32,BF16,F16]
 * </pre>
 */
public final class DecodeLab {
    public static void main(String[] args) {
        int layers = 24, d = 768, e = 1536, n = 16, r = 48, k = 4;
        Random rnd = new Random(1);
        double bw = MemoryBandwidth.readGBps(1L << 30, 5);
        System.out.printf("%s; read bandwidth %.1f GB/s%n", new CpuKernels().description(), bw);
        DType[] types = args.length > 0 ? java.util.Arrays.stream(args[0].split(",")).map(DType::valueOf).toArray(DType[]::new)
                : new DType[]{DType.F32, DType.BF16, DType.F16};
        Tensor[] conv = new Tensor[layers], ssm = new Tensor[layers], a = new Tensor[layers], cw = new Tensor[layers], cb = new Tensor[layers];
        Tensor[] dtb = new Tensor[layers], dd = new Tensor[layers];
        for (int l = 0; l < layers; l++) {
            conv[l] = gauss(rnd, 1, e, k); ssm[l] = gauss(rnd, 1, e, n); cw[l] = gauss(rnd, e, k); cb[l] = gauss(rnd, e);
            a[l] = gauss(rnd, e, n); for (long i = 0; i < a[l].numel(); i++) a[l].setFloat(i, -Math.abs(a[l].getFloat(i)));
            dtb[l] = gauss(rnd, e); dd[l] = gauss(rnd, e);
        }
        Tensor u = gauss(rnd, 1, d), xz = gauss(rnd, 1, 2 * e), x = xz.view(0, 1, e), z = xz.view(e, 1, e);
        Tensor xc = gauss(rnd, 1, e), dbc = gauss(rnd, 1, r + 2 * n), dt = dbc.view(0, 1, r);
        Tensor bm = dbc.view(r, 1, n), cm = dbc.view(r + n, 1, n), delta = gauss(rnd, 1, e), y = gauss(rnd, 1, e), o = gauss(rnd, 1, d);
        SelectiveScan[] scans = new SelectiveScan[layers];
        for (int l = 0; l < layers; l++)
            scans[l] = new SelectiveScan(xc.reshape(1, 1, e), delta.reshape(1, 1, e), dtb[l], true, a[l], bm.reshape(1, 1, n),
                    cm.reshape(1, 1, n), dd[l], z.reshape(1, 1, e), ssm[l], y.reshape(1, 1, e));
        String[] names = {"in_proj", "conv step", "x_proj", "dt_proj", "scan step", "out_proj"};
        for (DType t : types) {
            Tensor[] in = new Tensor[layers], xp = new Tensor[layers], dp = new Tensor[layers], op = new Tensor[layers];
            for (int l = 0; l < layers; l++) {
                in[l] = gauss(rnd, 2 * e, d).to(t); xp[l] = gauss(rnd, r + 2 * n, e).to(t);
                dp[l] = gauss(rnd, e, r).to(t); op[l] = gauss(rnd, d, e).to(t);
            }
            long[] bytes = {in[0].byteSize(), conv[0].byteSize() * 2 + cw[0].byteSize(), xp[0].byteSize(), dp[0].byteSize(),
                    ssm[0].byteSize() * 2 + a[0].byteSize(), op[0].byteSize()};
            Runnable[][] ops = new Runnable[layers][];
            for (int l = 0; l < layers; l++) {
                int li = l;
                ops[l] = new Runnable[]{
                        () -> CpuLinear.linear(u, in[li], null, xz),
                        () -> CpuConv.causalConv1dStep(conv[li], x, cw[li], cb[li], true, xc),
                        () -> CpuLinear.linear(xc, xp[li], null, dbc),
                        () -> CpuLinear.linear(dt, dp[li], null, delta),
                        () -> CpuScan.selectiveScan(scans[li]),
                        () -> CpuLinear.linear(y, op[li], null, o)};
            }
            long[] ns = new long[names.length];
            int reps = 200, calls = 0;
            for (int rep = 0; rep < reps; rep++) {
                if (rep == reps / 2) { java.util.Arrays.fill(ns, 0); calls = 0; }   // first half: warm-up
                for (int l = 0; l < layers; l++)
                    for (int i = 0; i < names.length; i++) {
                        long t0 = System.nanoTime();
                        ops[l][i].run();
                        ns[i] += System.nanoTime() - t0;
                    }
                calls += layers;
            }
            double sum = 0;
            for (int i = 0; i < names.length; i++) {
                double us = ns[i] / 1e3 / calls;
                sum += us;
                System.out.printf("%-5s %-10s %8.2f µs/call %7.1f GB/s%n", t, names[i], us, bytes[i] / us / 1e3);
            }
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 50; rep++) {
                long t0 = System.nanoTime();
                for (int l = 0; l < layers; l++) for (Runnable op1 : ops[l]) op1.run();
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
            long all = 0;
            for (long b : bytes) all += b;
            System.out.printf("%-5s 24 layers: sum of ops %.2f ms timed one by one; untimed best %.2f ms = %.1f GB/s (%.0f%% of bandwidth)%n",
                    t, sum * layers / 1e3, best, all * layers / best / 1e6, 100 * all * layers / best / 1e6 / bw);
        }
    }

    static Tensor gauss(Random r, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (r.nextGaussian() * 0.5));
        return t;
    }
}
