package mamba4j.nn;

import mamba4j.core.Backend;
import mamba4j.core.DType;
import mamba4j.core.Device;
import mamba4j.core.Kernels;
import mamba4j.core.Shape;
import mamba4j.core.Tensor;

import java.lang.reflect.Proxy;

/**
 * A Backend for this module's tests with only the three ops the trainer calls (sumSquares, scale, adamW), as plain
 * double loops following Backend's javadoc and torch.optim.AdamW; every other op throws. Keeps the nn tests
 * independent of the backends being written beside them.
 */
final class ScalarTrainingBackend {
    private ScalarTrainingBackend() {}

    static final Backend INSTANCE = new Backend((Kernels) Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[] {Kernels.class},
            (proxy, method, args) -> switch (method.getName()) {
                case "name", "description" -> "scalar-training (test)";
                case "device" -> Device.CPU;
                case "activationTypes" -> java.util.Set.of(DType.F32);
                case "allocate" -> Tensor.zeros((DType) args[0], (Shape) args[1]);
                case "item" -> ((Tensor) args[0]).getDouble((long) args[1]);
                case "sumSquares" -> {
                    Tensor out = (Tensor) args[1];
                    double acc = (boolean) args[2] ? out.getDouble(0) : 0;
                    out.segment().setAtIndex(Tensor.F64, 0, acc + sumSquares((Tensor) args[0]));
                    yield null;
                }
                case "scale" -> { scale((Tensor) args[0], (float) args[1]); yield null; }
                case "adamW" -> {
                    adamW((Tensor) args[0], (Tensor) args[1], (Tensor) args[2], (Tensor) args[3], (float) args[4], (float) args[5],
                            (float) args[6], (float) args[7], (float) args[8], (long) args[9]);
                    yield null;
                }
                case "toString" -> "ScalarTrainingBackend";
                case "hashCode" -> 0;
                case "equals" -> proxy == args[0];
                default -> throw new UnsupportedOperationException(method.getName() + " in the nn tests' scalar backend");
            }));

    static double sumSquares(Tensor x) {
        double acc = 0;
        for (long i = 0; i < x.numel(); i++) acc += (double) x.getFloat(i) * x.getFloat(i);
        return acc;
    }

    static void scale(Tensor x, float s) {
        for (long i = 0; i < x.numel(); i++) x.setFloat(i, x.getFloat(i) * s);
    }

    // p ← p(1 − lr·wd); m ← β1 m + (1 − β1) g; v ← β2 v + (1 − β2) g²; p ← p − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
    static void adamW(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float wd, long t) {
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        for (long i = 0; i < p.numel(); i++) {
            double gi = g.getFloat(i);
            double pi = p.getFloat(i) * (1 - (double) lr * wd);
            double mi = beta1 * (double) m.getFloat(i) + (1 - (double) beta1) * gi;
            double vi = beta2 * (double) v.getFloat(i) + (1 - (double) beta2) * gi * gi;
            pi -= lr * (mi / bc1) / (Math.sqrt(vi / bc2) + eps);
            m.setFloat(i, (float) mi);
            v.setFloat(i, (float) vi);
            p.setFloat(i, (float) pi);
        }
    }
}
