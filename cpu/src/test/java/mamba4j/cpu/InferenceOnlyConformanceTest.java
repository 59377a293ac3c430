package mamba4j.cpu;

import mamba4j.core.Backend;
import mamba4j.core.Kernels;
import mamba4j.core.UserInputException;
import mamba4j.testkit.conformance.BackendConformance;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The conformance suite on an inference-only backend, as the cuda backend is until GPU training: the cpu kernels with
 * every op of {@link Kernels#TRAINING_OPS} refused. Checks, without a GPU, that such a backend passes: every inference
 * case runs, the training cases assert a clean refusal naming the op, the all-training tests are skipped with the reason.
 */
class InferenceOnlyConformanceTest extends BackendConformance {
    private static final String REASON = "an inference-only backend";
    private static final Backend INFERENCE_ONLY = new Backend(inferenceOnly(new CpuKernels()));

    static Kernels inferenceOnly(Kernels k) {
        return (Kernels) Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[]{Kernels.class}, (proxy, m, args) -> {
            if (Kernels.TRAINING_OPS.contains(m.getName())) throw new UserInputException("inference-only: " + m.getName() + " refused");
            try {
                return m.invoke(k, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    @Override protected Backend backend() { return INFERENCE_ONLY; }

    @Override protected Map<String, String> refusedOps() {
        return Kernels.TRAINING_OPS.stream().collect(Collectors.toMap(Function.identity(), op -> REASON));
    }
}
