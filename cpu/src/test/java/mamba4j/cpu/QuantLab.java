package mamba4j.cpu;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Quant;
import mamba4j.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * The lab where the quantised linear kernels were chosen (STYLE 11): each variant validated against the reference, then
 * timed in its physical unit. Not a test (no assertions on time); run by hand:
 * <pre>
 * mvn -o -q -pl cpu -am test-compile
 * java --add-modules jdk.incubator.vector -cp core/target/classes:cpu/target/classes:cpu/target/test-classes mamba4j.cpu.QuantLab
 * </pre>
 * Decode: the GEMV over mamba-130m's in_proj and out_proj of all 24 layers (more bytes than the last-level cache), GB/s
 * of weight bytes and % of the measured read bandwidth. Prefill: x (512, 768) against in_proj, GFLOP/s, for
 * (v1) dequantise into the packed GEMM's panels (what CpuQuant does), (v2) llama.cpp's scheme: x quantised to int8 per
 * block, integer products widened to 16 and 32 bits (the Vector API has no int8 dot product).
 */
public final class QuantLab {
    public static void main(String[] args) {
        int layers = 24, d = 768, e = 1536;
        Random r = new Random(1);
        double bw = MemoryBandwidth.readGBps(1L << 30, 5);
        System.out.printf("%s; read bandwidth %.1f GB/s%n", new CpuKernels().description(), bw);
        DType[] types = args.length > 0 ? java.util.Arrays.stream(args[0].split(",")).map(DType::valueOf).toArray(DType[]::new)
                : new DType[]{DType.F32, DType.BF16, DType.Q8_0, DType.Q4_0};
        for (DType t : types) {
            Tensor[] in = new Tensor[layers], out = new Tensor[layers];
            long bytes = 0;
            for (int l = 0; l < layers; l++) {
                in[l] = gauss(r, 2 * e, d).to(t);
                out[l] = gauss(r, d, e).to(t);
                bytes += in[l].byteSize() + out[l].byteSize();
            }
            Tensor x = gauss(r, 1, d), y = gauss(r, 1, e), xo = Tensor.zeros(DType.F32, 1, 2 * e), yo = Tensor.zeros(DType.F32, 1, d);
            check(t + " decode in_proj", x, in[0]);
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 30; rep++) {
                long t0 = System.nanoTime();
                for (int l = 0; l < layers; l++) {
                    linear(x, in[l], xo);
                    linear(y, out[l], yo);
                }
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            System.out.printf("decode %-5s %6.1f MB in %6.2f ms: %5.1f GB/s = %3.0f%% of bandwidth, %5.2f Gweights/s%n", t, bytes / 1e6, best * 1e3,
                    bytes / best / 1e9, 100 * bytes / best / 1e9 / bw, 24.0 * 3 * d * e / best / 1e9);
        }
        if (args.length > 1 && args[1].equals("decode")) return;
        // prefill
        int m = 512;
        Tensor w = gauss(r, 2 * e, d), x = gauss(r, m, d), o = Tensor.zeros(DType.F32, m, 2 * e);
        for (DType t : new DType[]{DType.F32, DType.Q8_0, DType.Q4_0}) {
            Tensor wt = w.to(t);
            check(t + " prefill", x, wt);
            double s = time(() -> linear(x, wt, o));
            System.out.printf("prefill v1 %-5s M=%d: %6.2f ms, %6.1f GFLOP/s%n", t, m, s * 1e3, 2.0 * m * 2 * e * d / s / 1e9);
        }
        Tensor q8 = w.to(DType.Q8_0);
        Tensor want = Tensor.zeros(DType.F32, m, 2 * e);
        linear(x, q8, want);
        Tensor got = Tensor.zeros(DType.F32, m, 2 * e);
        int8Gemm(x, q8, got);
        System.out.printf("prefill v2 int8 activations: relative error vs v1 %.2e (the activation quantisation)%n", relErr(got, want));
        double s = time(() -> int8Gemm(x, q8, got));
        System.out.printf("prefill v2 Q8_0  M=%d: %6.2f ms, %6.1f GFLOP/s%n", m, s * 1e3, 2.0 * m * 2 * e * d / s / 1e9);
    }

    private static void linear(Tensor x, Tensor w, Tensor out) {
        if (w.dtype().isQuantised()) CpuQuant.linear(x, w, null, out);
        else CpuLinear.linear(x, w, null, out);
    }

    private static double time(Runnable r) { return time(r, 3, 7); }

    /** Best of {@code reps} timed runs after {@code warm} untimed ones, in seconds (QuantLab3 too). */
    static double time(Runnable r, int warm, int reps) {
        for (int i = 0; i < warm; i++) r.run();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    private static void check(String what, Tensor x, Tensor w) {
        Tensor a = Tensor.zeros(DType.F32, x.dim(0), w.dim(0)), b = Tensor.zeros(DType.F32, x.dim(0), w.dim(0));
        linear(x, w, a);
        Backends.reference().linear(x, w, null, b);
        double err = relErr(a, b);
        if (err > 2e-6) throw new AssertionError(what + ": relative error " + err + " against the reference");
    }

    private static double relErr(Tensor a, Tensor b) {
        double num = 0, den = 0;
        for (long i = 0; i < a.numel(); i++) {
            double d = a.getFloat(i) - b.getFloat(i);
            num += d * d;
            den += (double) b.getFloat(i) * b.getFloat(i);
        }
        return Math.sqrt(num / den);
    }

    private static Tensor gauss(Random r, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (r.nextGaussian() * 0.1));
        return t;
    }

    /**
     * v2: llama.cpp's CPU scheme for Q8_0 · f32: x rows quantised to Q8_0 (int8 + a scale per block), then per block
     * Σ qx·qw in integers (bytes widened to shorts, products in shorts — |q| ≤ 127 so |qx·qw| ≤ 16129 fits —, pairs
     * widened to ints), scaled by dx·dw. Threads over the rows of w, as v1's GEMM splits units.
     */
    static void int8Gemm(Tensor x, Tensor w, Tensor out) {
        int m = x.size(0), k = x.size(1), n = w.size(0), blocks = k / 32;
        Tensor xq = x.to(DType.Q8_0);   // the activations' quantisation (scalar; llama.cpp vectorises it: not the part timed here to matter)
        byte[] qx = new byte[m * k];
        float[] dx = new float[m * blocks];
        MemorySegment xs = xq.segment(), ws = w.segment(), os = out.segment();
        for (int i = 0; i < m; i++)
            for (int b = 0; b < blocks; b++) {
                long off = ((long) i * blocks + b) * 34;
                dx[i * blocks + b] = Quant.scale(DType.Q8_0, xs, (long) i * blocks + b);
                MemorySegment.copy(xs, java.lang.foreign.ValueLayout.JAVA_BYTE, off + 2, qx, i * k + b * 32, 32);
            }
        long rowBytes = DType.Q8_0.byteCount(k);
        Parallel.forRange(n, 4, (n0, n1) -> {
            for (int j = n0; j < n1; j++)
                for (int i = 0; i < m; i++) {
                    FloatVector acc = FloatVector.zero(FloatVector.SPECIES_512);
                    for (int b = 0; b < blocks; b++) {
                        long wo = j * rowBytes + b * 34L;
                        ShortVector a = (ShortVector) ByteVector.fromArray(ByteVector.SPECIES_256, qx, i * k + b * 32).convertShape(VectorOperators.B2S, ShortVector.SPECIES_512, 0);
                        ShortVector c = (ShortVector) ByteVector.fromMemorySegment(ByteVector.SPECIES_256, ws, wo + 2, CpuKernels.LE).convertShape(VectorOperators.B2S, ShortVector.SPECIES_512, 0);
                        ShortVector p = a.mul(c);
                        IntVector s = ((IntVector) p.convertShape(VectorOperators.S2I, IntVector.SPECIES_512, 0))
                                .add((IntVector) p.convertShape(VectorOperators.S2I, IntVector.SPECIES_512, 1));
                        float scale = dx[i * blocks + b] * Float.float16ToFloat(ws.get(Tensor.I16, wo));
                        acc = ((FloatVector) s.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(FloatVector.SPECIES_512, scale), acc);
                    }
                    os.setAtIndex(Tensor.F32, (long) i * n + j, VMath.sum(acc));
                }
        });
    }

    static { if (FloatVector.SPECIES_PREFERRED.length() != 16) System.err.println("QuantLab's v2 assumes AVX-512"); }
}
