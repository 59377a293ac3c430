package mamba4j.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without a GPU: each op launches the right kernel with the right grid and a completely filled parameter struct. */
class CudaOpsLaunchTest {
    record Launch(String file, String kernel, int[] grid, StructLayout layout, MemorySegment params) {
        long ptr(String m) { return params.get(ValueLayout.JAVA_LONG, KernelParams.offset(layout, m)); }
        int i32(String m) { return params.get(ValueLayout.JAVA_INT, KernelParams.offset(layout, m)); }
        float f32(String m) { return params.get(ValueLayout.JAVA_FLOAT, KernelParams.offset(layout, m)); }
    }

    final Arena arena = Arena.ofConfined();
    final List<Launch> launches = new ArrayList<>();
    final CudaOps ops = new CudaOps(null, arena, (file, kernel, gx, gy, gz, bx, by, bz, p) -> {
        MemorySegment copy = arena.allocate(p.layout().byteSize());
        copy.copyFrom(p.segment());   // segment() throws if a member was left unset
        launches.add(new Launch(file, kernel, new int[] {gx, gy, gz, bx, by, bz}, p.layout(), copy));
    });

    @AfterEach void close() { arena.close(); }

    private Launch only() {
        assertEquals(1, launches.size());
        return launches.getFirst();
    }

    @Test void scanLaunchesOneWarpPerChannelAndOneBlockRowPerBatch() {
        ops.selectiveScan(CudaOps.Scan.contiguous(0x100, 0x200, 0, true, 0x300, 0x400, 0x500, 0x600, 0x700, 0, 0x800, 0x900, 3, 50, 70, 16));
        Launch l = only();
        assertEquals("scan.cu:selective_scan_fwd", l.file() + ":" + l.kernel());
        assertArrayEquals(new int[] {9, 3, 1, 32, 8, 1}, l.grid());   // ceil(70 / 8) channel groups × B
        assertEquals(KernelParams.SCAN, l.layout());
        assertEquals(50L * 70, l.ptr("u_sb"));
        assertEquals(70L, l.ptr("u_st"));
        assertEquals(50L * 16, l.ptr("b_sb"));
        assertEquals(16L, l.ptr("c_st"));
        assertEquals(0L, l.ptr("delta_bias"));
        assertEquals(0L, l.ptr("state_in"));
        assertEquals(0x800L, l.ptr("state_out"));
        assertEquals(0x700L, l.ptr("z"));
        assertEquals(1, l.i32("delta_softplus"));
        assertEquals(16, l.i32("dstate"));
    }

    @Test void convTilesTimeAndChannels() {
        ops.causalConv1d(0x10, 200L * 2 * 300, 2L * 300, 0x20, 0, KernelParams.DTYPE_BF16, 0x30, 0, 2, 200, 300, 4, true);
        Launch l = only();
        assertArrayEquals(new int[] {3, 4, 2, 128, 1, 1}, l.grid());   // ceil(300 / 128), ceil(200 / 64), B
        assertEquals(600L, l.ptr("x_st"));
        assertEquals(1, l.i32("w_dtype"));
        assertEquals(1, l.i32("silu"));
    }

    @Test void everyOpFillsItsWholeStruct() {
        ops.rmsNorm(1, 2, 3, 4, KernelParams.DTYPE_F32, 5, 7, 333, 1e-5f);
        ops.embedding(1, 2, KernelParams.DTYPE_F16, 3, 37, 333);
        ops.causalConv1dStep(1, 2, 3, 4, KernelParams.DTYPE_F32, 5, 2, 100, 4, false);
        ops.selectiveScanStep(1, 2, 3, 4, true, 5, 6, 16, 7, 16, 8, 9, 10, 2, 100, 16);
        ops.add(1, 2, 3, 1000);
        ops.silu(1, 3, 1000);
        ops.mulSilu(1, 2, 3, 1000);
        ops.cast(1, 2, KernelParams.DTYPE_BF16, 1000);
        ops.fillUniform(1, 1000, 7, -1, 1);
        assertEquals(List.of("rmsnorm", "embedding", "causal_conv1d_step", "selective_scan_step", "add", "silu", "mul_silu", "cast_f32", "fill_uniform"),
                launches.stream().map(Launch::kernel).toList());
        Launch norm = launches.getFirst();
        assertArrayEquals(new int[] {7, 1, 1, 96, 1, 1}, norm.grid());   // a block per row; 333 / 4 threads rounded up to warps
        assertEquals(1e-5f, norm.f32("eps"));
        assertEquals(333, norm.i32("dim"));
        assertArrayEquals(new int[] {1, 1, 1, 256, 1, 1}, launches.get(3).grid());   // B·E = 200 threads
        assertArrayEquals(new int[] {4, 1, 1, 256, 1, 1}, launches.get(4).grid());
        assertEquals(0L, launches.get(5).ptr("b"));
    }

    @Test void impossibleArgumentsAreRefusedBeforeALaunch() {
        assertThrows(IllegalArgumentException.class, () -> ops.causalConv1d(1, 1, 1, 2, 0, 0, 3, 0, 1, 10, 10, 9, false));
        assertThrows(IllegalArgumentException.class, () -> ops.selectiveScan(CudaOps.Scan.contiguous(1, 2, 0, true, 3, 4, 5, 0, 0, 0, 0, 6, 1, 10, 10, 65)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ops.selectiveScan(CudaOps.Scan.contiguous(1, 2, 0, true, 3, 0, 5, 0, 0, 0, 0, 6, 1, 10, 10, 16)));
        assertEquals("selectiveScan: B is required", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ops.rmsNorm(1, 0, 0, 2, 3, 4, 1, 10, 1e-5f));   // dtype code 3
        assertThrows(IllegalArgumentException.class, () -> ops.add(1, 2, 3, 0));
        assertTrue(launches.isEmpty());
    }
}
