package mamba4j.cpu;
import mamba4j.core.*;
import java.util.Random;
public final class QuantLab2 {
    public static void main(String[] a) {
        Random r = new Random(1);
        Tensor w = Tensor.zeros(DType.F32, 256, 768);
        for (long i = 0; i < w.numel(); i++) w.setFloat(i, (float) r.nextGaussian());
        Tensor x = Tensor.zeros(DType.F32, 1, 768), o = Tensor.zeros(DType.F32, 1, 256);
        for (DType t : new DType[]{DType.valueOf(a[0])}) {
            Tensor wt = w.to(t);
            for (int rep = 0; rep < 8; rep++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 2000; i++) { if (t.isQuantised()) CpuQuant.linear(x, wt, null, o); else CpuLinear.linear(x, wt, null, o); }
                double ns = (System.nanoTime() - t0) / 2000.0 / w.numel();
                System.out.printf("%s %.4f ns/weight (%.2f Gw/s)%n", t, ns, 1 / ns);
            }
        }
    }
}
