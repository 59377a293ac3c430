package mamba4j.cuda;

import mamba4j.core.UserInputException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** On a machine without the NVIDIA driver (the CI machines), opening the GPU is one clear line, never a crash. */
class NoGpuTest {
    private static boolean driverAbsent() {
        return CudaLibraries.find(CudaLibraries.folders(), CudaLibraries.DRIVER).path().isEmpty()
                && NativeLib.loadBySoname("libcuda.so.1").isEmpty();
    }

    @Test void openingTheDeviceNamesTheMissingDriver() {
        assumeTrue(driverAbsent(), "this machine has an NVIDIA driver: the no-GPU message cannot be observed here");
        UserInputException e = assertThrows(UserInputException.class, () -> CudaDevice.open(0));
        assertTrue(e.getMessage().startsWith("--backend cuda: libcuda.so.1 not found (no NVIDIA driver?); looked in "), e.getMessage());
        assertTrue(e.getMessage().endsWith(" and the system loader; set MAMBA4J_CUDA_LIBS to the folder that holds it"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test void theSelfTestExitsWithStatus2AndOneLine() {
        assumeTrue(driverAbsent(), "this machine has an NVIDIA driver: the no-GPU path cannot be observed here");
        PrintStream err = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = SelfTest.run(true);
        } finally {
            System.setErr(err);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(2, rc);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.startsWith("cuda self-test: --backend cuda: libcuda.so.1 not found"), out);
    }
}
