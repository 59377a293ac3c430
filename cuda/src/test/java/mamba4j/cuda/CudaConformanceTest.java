package mamba4j.cuda;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.Kernels;
import mamba4j.core.UserInputException;
import mamba4j.testkit.conformance.BackendConformance;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;

import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The conformance suite on the cuda backend, found as users find it (ServiceLoader, by name). Runs on a machine with
 * an NVIDIA GPU and its libraries (scripts/gpu-test.sh on the GPU host); elsewhere (CI) every case is skipped with
 * the one line that {@code --backend cuda} prints there. The training ops are refused until GPU training.
 */
class CudaConformanceTest extends BackendConformance {
    private static Backend cuda;
    private static String unavailable;

    @BeforeAll
    static void openTheGpu() {
        if (cuda == null && unavailable == null) {
            try {
                cuda = Backends.get("cuda");
            } catch (UserInputException e) {
                unavailable = e.getMessage();
            }
        }
        Assumptions.assumeTrue(cuda != null, () -> "no CUDA GPU on this machine: " + unavailable);
    }

    @Override protected Backend backend() { return cuda; }

    /** Above 8 rows, BF16/F16 weights take the tensor-core GEMM with the activations rounded to their dtype. */
    @Override protected double halfWeightLinearTolerance(int m) {
        return m <= CudaOps.GEMV_MAX_M ? mamba4j.testkit.Tolerance.FAST_VS_REFERENCE : mamba4j.testkit.Tolerance.HALF_PRECISION_ACTIVATIONS;
    }

    @Override protected Map<String, String> refusedOps() {
        return Kernels.TRAINING_OPS.stream().collect(Collectors.toMap(Function.identity(), op -> "training ops come with GPU training"));
    }
}
