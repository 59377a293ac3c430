package mamba4j.cuda;

import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without a GPU: the kernel variants the environment selects, and the settings it refuses, naming the variable. */
class CompileOptionsTest {
    private static List<String> defines(Map<String, String> env) { return CudaDevice.optionDefines(env::get); }

    @Test void nothingSetCompilesTheDefaults() {
        assertEquals(List.of(), defines(Map.of()));
        assertEquals(List.of(), defines(Map.of("MAMBA4J_CUDA_GEMV_UNROLL", "", "MAMBA4J_CUDA_SSD_TC", "0")));
    }

    @Test void eachOptionBecomesItsDefine() {
        assertEquals(List.of("-DMAMBA4J_SSD_TENSOR_TILES", "-DSSD_TF32_ONE_PASS", "-DGEMV_UNROLL=16", "-DGEMV_MIN_BLOCKS=6"),
                defines(Map.of("MAMBA4J_CUDA_SSD_TC", "1", "MAMBA4J_CUDA_SSD_TF32", "1", "MAMBA4J_CUDA_SSD_BF16", "1",
                        "MAMBA4J_CUDA_GEMV_UNROLL", "16", "MAMBA4J_CUDA_GEMV_MIN_BLOCKS", "6")));
    }

    @Test void theBf16SsdIsAskedForAtRunTime() {   // not a define: ssd_chunked_bf16.cu is its own module
        assertEquals(0, CudaDevice.ssdBf16(Map.<String, String>of()::get));   // opt-in until it has run on a GPU
        assertEquals(0, CudaDevice.ssdBf16(Map.of("MAMBA4J_CUDA_SSD_BF16", "")::get));
        assertEquals(-1, CudaDevice.ssdBf16(Map.of("MAMBA4J_CUDA_SSD_BF16", "auto")::get));
        assertEquals(0, CudaDevice.ssdBf16(Map.of("MAMBA4J_CUDA_SSD_BF16", "0")::get));
        assertEquals(1, CudaDevice.ssdBf16(Map.of("MAMBA4J_CUDA_SSD_BF16", "1")::get));
        assertEquals(List.of(), defines(Map.of("MAMBA4J_CUDA_SSD_BF16", "1")));
    }

    @Test void outOfRangeSettingsAreRefusedNamingTheVariable() {
        for (var bad : List.of(Map.of("MAMBA4J_CUDA_GEMV_UNROLL", "17"), Map.of("MAMBA4J_CUDA_GEMV_UNROLL", "0"),
                Map.of("MAMBA4J_CUDA_GEMV_MIN_BLOCKS", "9"), Map.of("MAMBA4J_CUDA_GEMV_MIN_BLOCKS", "x"),
                Map.of("MAMBA4J_CUDA_SSD_TC", "yes"), Map.of("MAMBA4J_CUDA_SSD_TF32", "true"),
                Map.of("MAMBA4J_CUDA_SSD_BF16", "2"))) {
            var e = assertThrows(UserInputException.class, () -> {
                if (bad.containsKey("MAMBA4J_CUDA_SSD_BF16")) CudaDevice.ssdBf16(bad::get);   // read by CudaOps, not a define
                else defines(bad);
            });
            String variable = bad.keySet().iterator().next();
            assertTrue(e.getMessage().startsWith(variable + "=" + bad.get(variable) + ": "), e.getMessage());
        }
    }
}
