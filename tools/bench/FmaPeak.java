import jdk.incubator.vector.*;

/**
 * The f32 FMA throughput this machine gives the Vector API: 12 independent FMA chains per thread (enough to cover the
 * FMA latency), the preferred species, THREADS threads, three rounds (the first two include JIT compilation; the last
 * is the figure). The compute bound of batched decode is this peak over 2 flops per parameter per token.
 *
 *   javac --add-modules jdk.incubator.vector -d /tmp tools/bench/FmaPeak.java
 *   java --add-modules jdk.incubator.vector -cp /tmp FmaPeak 2
 */public class FmaPeak {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static float run(long iters) {
        FloatVector a0 = FloatVector.broadcast(S, 1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        FloatVector m = FloatVector.broadcast(S, 0.999999f), c = FloatVector.broadcast(S, 1e-7f);
        for (long i = 0; i < iters; i++) {
            a0 = a0.fma(m, c); a1 = a1.fma(m, c); a2 = a2.fma(m, c); a3 = a3.fma(m, c); a4 = a4.fma(m, c); a5 = a5.fma(m, c);
            a6 = a6.fma(m, c); a7 = a7.fma(m, c); a8 = a8.fma(m, c); a9 = a9.fma(m, c); a10 = a10.fma(m, c); a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).reduceLanes(VectorOperators.ADD);
    }
    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        long iters = 200_000_000L;
        for (int round = 0; round < 3; round++) {
            Thread[] ts = new Thread[threads];
            float[] sink = new float[threads];
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) { int tt = t; ts[t] = new Thread(() -> sink[tt] = run(iters)); ts[t].start(); }
            for (Thread t : ts) t.join();
            double s = (System.nanoTime() - t0) / 1e9;
            double flops = 2.0 * 12 * S.length() * iters * threads;
            System.out.printf("%d threads, %d lanes: %.1f GFLOP/s (%.3f s) %s%n", threads, S.length(), flops / s / 1e9, s, sink[0] > 0 ? "" : "!");
        }
    }
}
