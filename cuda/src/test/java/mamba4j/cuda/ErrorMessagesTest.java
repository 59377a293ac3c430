package mamba4j.cuda;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How CUDA, NVRTC and cuBLAS failures read, and the self-test's comparison verdicts. */
class ErrorMessagesTest {
    static final List<String> OPTS = List.of("--gpu-architecture=sm_90", "-std=c++17");

    @Test void aCompileErrorShowsTheFileTheOptionsAndNvrtcsLog() {
        String log = "scan.cu(42): error: identifier \"hh\" is undefined\n\n1 error detected in the compilation of \"scan.cu\".\n";
        KernelCompileException e = new KernelCompileException("scan.cu", OPTS, "NVRTC_ERROR_COMPILATION", log);
        assertEquals("kernel scan.cu failed to compile (NVRTC_ERROR_COMPILATION, options --gpu-architecture=sm_90 -std=c++17):\n"
                + "  scan.cu(42): error: identifier \"hh\" is undefined\n  \n  1 error detected in the compilation of \"scan.cu\".", e.getMessage());
        assertEquals("scan.cu", e.file());
        assertEquals(log, e.log());
    }

    @Test void aLongLogIsCutAndAnEmptyOneSaidSo() {
        String log = IntStream.range(0, 100).mapToObj(i -> "x.cu(" + i + "): error: e" + i).collect(Collectors.joining("\n"));
        String msg = KernelCompileException.format("x.cu", OPTS, "NVRTC_ERROR_COMPILATION", log);
        assertTrue(msg.contains("x.cu(39): error: e39"));
        assertFalse(msg.contains("x.cu(40): error"));
        assertTrue(msg.endsWith("… 60 more lines"), msg);
        assertTrue(KernelCompileException.format("x.cu", OPTS, "NVRTC_ERROR_INVALID_OPTION", "").endsWith(": NVRTC gave no log"));
    }

    @Test void aFailedCallNamesTheCallAndTheErrorName() {
        CudaException e = new CudaException("cuModuleLoadData(scan.cu)", 218, "CUDA_ERROR_INVALID_PTX");
        assertEquals("cuModuleLoadData(scan.cu) failed: CUDA_ERROR_INVALID_PTX (218)", e.getMessage());
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", Cublas.statusName(15));
        assertEquals("cublasStatus 99", Cublas.statusName(99));
    }

    @Test void comparisonsPassWithinTheToleranceAndNameTheFirstBadElement() {
        SelfTest.Tolerance tol = new SelfTest.Tolerance("t", 1e-3, 1e-2, "test");
        assertTrue(SelfTest.compareRow("c", "s", new float[] {1f, 100.5f}, new double[] {1.0005, 100}, tol).ok());
        SelfTest.Row bad = SelfTest.compareRow("c", "s", new float[] {1f, 2f, 3f}, new double[] {1, 2.5, 3.5}, tol);
        assertFalse(bad.ok());
        assertTrue(bad.result().contains("first bad [1]: got 2.0000000 want 2.5000000"), bad.result());
        assertFalse(SelfTest.compareRow("c", "s", new float[] {Float.NaN}, new double[] {0}, tol).ok());
        assertTrue(SelfTest.compareRow("c", "s", new float[] {Float.NaN}, new double[] {Double.NaN}, tol).ok());
        assertFalse(SelfTest.compareRow("c", "s", new float[] {1f}, new double[] {1, 2}, tol).ok());
    }
}
