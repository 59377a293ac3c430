package mamba4j.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Programmatic dependent launch without a GPU: the driver structs' layouts as cuda.h declares them, when it is on,
 * and the rule that makes it safe — every kernel launched that way reaches PDL_WAIT (so a kernel never runs ahead of
 * one it depends on, directly or through the kernels between them).
 */
class ProgrammaticLaunchTest {
    @Test void launchConfigAndAttributeHaveCudaHsLayout() {
        // CUlaunchConfig: seven unsigned ints (28 bytes), padding to 8, CUstream, CUlaunchAttribute*, unsigned int numAttrs
        assertEquals(56, KernelParams.LAUNCH_CONFIG.byteSize());
        String[] dims = {"gridDimX", "gridDimY", "gridDimZ", "blockDimX", "blockDimY", "blockDimZ", "sharedMemBytes"};
        for (int i = 0; i < dims.length; i++)   // CudaDevice.launchProgrammatic writes them at these offsets
            assertEquals(4L * i, KernelParams.offset(KernelParams.LAUNCH_CONFIG, dims[i]), dims[i]);
        assertEquals(32, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "hStream"));
        assertEquals(40, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "attrs"));
        assertEquals(48, KernelParams.offset(KernelParams.LAUNCH_CONFIG, "numAttrs"));
        // CUlaunchAttribute: CUlaunchAttributeID, char pad[4], a 64-byte CUlaunchAttributeValue union
        assertEquals(72, KernelParams.LAUNCH_ATTRIBUTE.byteSize());
        assertEquals(8, KernelParams.offset(KernelParams.LAUNCH_ATTRIBUTE, "value"));
        assertEquals(6, KernelParams.ATTR_PROGRAMMATIC_STREAM_SERIALIZATION);
    }

    @Test void onForHopperAndLaterUnlessSwitchedOffOrProfiling() {
        assertTrue(CudaDevice.programmaticLaunchWanted(true, 9, null, false));
        assertTrue(CudaDevice.programmaticLaunchWanted(true, 10, "1", false));
        assertFalse(CudaDevice.programmaticLaunchWanted(true, 8, null, false), "sm_80 has no griddepcontrol");
        assertFalse(CudaDevice.programmaticLaunchWanted(false, 9, null, false), "a driver without cuLaunchKernelEx");
        assertFalse(CudaDevice.programmaticLaunchWanted(true, 9, "0", false), "MAMBA4J_CUDA_PDL=0");
        assertFalse(CudaDevice.programmaticLaunchWanted(true, 9, null, true), "each launch is timed alone when profiling");
    }

    /** Every kernel of kernels/*.cu not in PLAIN_LAUNCH reaches PDL_WAIT: in its body, or in the device template it calls. */
    @Test void everyProgrammaticKernelWaitsForTheOneBefore() throws IOException, URISyntaxException {
        Path dir = Path.of(KernelSources.class.getClassLoader().getResource(KernelSources.ROOT).toURI());
        String common = Files.readString(dir.resolve("common.cuh"));
        assertTrue(common.contains("#define PDL_ENTRY() do { PDL_WAIT();"), "PDL_ENTRY waits");
        List<String> checked = new ArrayList<>(), missing = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) { files = s.filter(p -> p.toString().endsWith(".cu")).sorted().toList(); }
        for (Path f : files) {
            String src = Files.readString(f).replaceAll("//[^\n]*", "");
            Matcher m = Pattern.compile("__global__\\s+void\\s+(?:__launch_bounds__\\([^)]*\\)\\s+)?(\\w+)\\s*\\([^)]*\\)\\s*\\{").matcher(src);
            while (m.find()) {
                String name = f.getFileName() + ":" + m.group(1);
                if (CudaModule.PLAIN_LAUNCH.contains(name)) continue;
                String body = body(src, m.end() - 1);
                Matcher call = Pattern.compile("(\\w+)<[^>]*>\\(").matcher(body);
                String callee = call.find() ? template(src, call.group(1)) : "";
                if (!waits(body) && !waits(callee)) missing.add(name);
                checked.add(name);
            }
        }
        assertTrue(checked.size() > 30, "kernels found: " + checked);
        assertTrue(missing.isEmpty(), "kernels launched programmatically that never reach PDL_WAIT: " + missing);
        assertTrue(CudaModule.PLAIN_LAUNCH.stream().allMatch(n -> !new CudaModule.Function(n, 0).programmatic()));
    }

    private static boolean waits(String body) { return body.contains("PDL_ENTRY()") || body.contains("PDL_WAIT()"); }

    /** The text between the brace at {@code open} and its match. */
    private static String body(String src, int open) {
        int depth = 0;
        for (int i = open; i < src.length(); i++) {
            if (src.charAt(i) == '{') depth++;
            else if (src.charAt(i) == '}' && --depth == 0) return src.substring(open + 1, i);
        }
        throw new AssertionError("unbalanced braces after offset " + open);
    }

    /** The body of the device function template {@code name} in the same file. */
    private static String template(String src, String name) {
        Matcher m = Pattern.compile("__device__[^;{]*\\b" + name + "\\s*\\([^)]*\\)\\s*\\{").matcher(src);
        return m.find() ? body(src, m.end() - 1) : "";
    }
}
