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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without a GPU: each op launches the right kernel with the right grid and a completely filled parameter struct. */
class CudaOpsLaunchTest {
    record Launch(String file, String kernel, int[] grid, int sharedBytes, StructLayout layout, MemorySegment params) {
        long ptr(String m) { return params.get(ValueLayout.JAVA_LONG, KernelParams.offset(layout, m)); }
        int i32(String m) { return params.get(ValueLayout.JAVA_INT, KernelParams.offset(layout, m)); }
        float f32(String m) { return params.get(ValueLayout.JAVA_FLOAT, KernelParams.offset(layout, m)); }
    }

    final Arena arena = Arena.ofConfined();
    final List<Launch> launches = new ArrayList<>();
    final CudaOps.Launcher recorder = (file, kernel, gx, gy, gz, bx, by, bz, shared, p) -> {
        MemorySegment copy = arena.allocate(p.layout().byteSize());
        copy.copyFrom(p.segment());   // segment() throws if a member was left unset
        launches.add(new Launch(file, kernel, new int[] {gx, gy, gz, bx, by, bz}, shared, p.layout(), copy));
    };
    /** Ops of a device without tensor cores (the five-kernel chunked SSD), and of an H100 (227 KiB of shared memory a block). */
    final CudaOps ops = new CudaOps(null, arena, recorder, 0, 132), h100 = new CudaOps(null, arena, recorder, 232448, 132);

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
        ops.causalConv1d(0x10, 200L * 2 * 300, 2L * 300, 0x20, 0, KernelParams.DTYPE_BF16, 0x30, 0, 0, 2, 200, 300, 4, true);
        Launch l = only();
        assertArrayEquals(new int[] {3, 4, 2, 128, 1, 1}, l.grid());   // ceil(300 / 128), ceil(200 / 64), B
        assertEquals(600L, l.ptr("x_st"));
        assertEquals(1, l.i32("w_dtype"));
        assertEquals(1, l.i32("silu"));
    }

    @Test void convContinuingReadsAndLeavesTheState() {
        ops.causalConv1d(0x10, 7L * 96, 96, 0x20, 0, KernelParams.DTYPE_F32, 0x30, 0x40, 0x40, 1, 7, 96, 4, true);
        Launch l = only();
        assertEquals(0x40L, l.ptr("state_in"));
        assertEquals(0x40L, l.ptr("state_out"));
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
        assertArrayEquals(new int[] {13, 1, 1, 256, 1, 1}, launches.get(3).grid());   // B·E = 200 channels × 16 lanes (N 16)
        assertArrayEquals(new int[] {1, 1, 1, 256, 1, 1}, launches.get(4).grid());   // add: 4 floats a thread (float4 when aligned)
        assertArrayEquals(new int[] {4, 1, 1, 256, 1, 1}, launches.get(5).grid());   // silu: one a thread
        assertEquals(0L, launches.get(5).ptr("b"));
    }

    private static final List<String> SSD_KERNELS = List.of("ssd_chunk_cumsum", "ssd_chunk_state", "ssd_state_pass", "ssd_chunk_cb", "ssd_chunk_scan");

    /** The five chunked-SSD launches: same file, same fully filled struct, scratch split into acum | states | cb. */
    private void assertChunkedSsd(long scratch, int b, int l, int h, int p, int g, int n, int[][] grids) {
        assertChunkedSsd(scratch, b, l, h, p, g, n, 64, grids);
    }

    private void assertChunkedSsd(long scratch, int b, int l, int h, int p, int g, int n, int q, int[][] grids) {
        assertEquals(SSD_KERNELS, launches.stream().map(Launch::kernel).toList());
        int chunks = (l + q - 1) / q;
        long states = scratch + 4L * b * h * l, cb = states + 4L * b * chunks * h * n * p;   // the test shapes need no alignment padding
        for (int i = 0; i < launches.size(); i++) {
            Launch x = launches.get(i);
            assertEquals("ssd_chunked.cu", x.file());
            assertEquals(KernelParams.SSD_CHUNKED, x.layout());
            assertArrayEquals(grids[i], x.grid(), x.kernel() + " grid");
            assertEquals(scratch, x.ptr("acum"));
            assertEquals(states, x.ptr("states"));
            assertEquals(cb, x.ptr("cb"));
            assertEquals(List.of(b, l, h, p, g, n, q), List.of(x.i32("batch"), x.i32("length"), x.i32("heads"), x.i32("head_dim"), x.i32("groups"),
                    x.i32("dstate"), x.i32("chunk")));
            assertEquals(launches.getFirst().params().asByteBuffer(), x.params().asByteBuffer(), x.kernel() + " struct");
        }
        long bytes = cb + 4L * b * chunks * g * q * q - scratch;
        assertEquals(bytes, ops.ssdChunkedScratchBytes(b, l, h, p, g, n, false));
        assertTrue(bytes <= CudaOps.ssdChunkedScratchBytes(b, l, h, p, g, n), "the any-chunk scratch covers it");
    }

    @Test void longerChunksTakeFewerChunkStatesAndMoreTilesEach() {
        // mamba2-1.3b at 2k steps in chunks of 256: 8 chunks; cb 4 x 4 tiles a chunk (those above the diagonal return
        // at once), the outputs 4 step tiles x 1 P tile
        ops.ssdChunk = 256;
        ops.ssdChunked(0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x10000, 1, 2048, 64, 64, 1, 128);
        assertChunkedSsd(0x10000, 1, 2048, 64, 64, 1, 128, 256, new int[][] {
                {2, 1, 1, 256, 1, 1}, {64, 8, 2, 256, 1, 1}, {2048, 1, 1, 256, 1, 1}, {1, 8, 16, 256, 1, 1}, {64, 8, 4, 256, 1, 1}});
        launches.clear();
        // L 300 in chunks of 128: 3 chunks, the last of 44 steps
        ops.ssdChunk = 128;
        ops.ssdChunked(0x100, 0x200, 0, 0x400, 0x500, 0, 0, 0x800, 0x10000, 2, 300, 4, 7, 2, 16);
        assertChunkedSsd(0x10000, 2, 300, 4, 7, 2, 16, 128, new int[][] {
                {1, 1, 1, 256, 1, 1}, {8, 3, 1, 256, 1, 1}, {4, 1, 1, 256, 1, 1}, {4, 3, 4, 256, 1, 1}, {8, 3, 2, 256, 1, 1}});
        launches.clear();
        // the chunk states computed and passed in one kernel: a block per (b, h, state tile) walks the chunks
        ops.ssdWalk = true;
        ops.ssdChunked(0x100, 0x200, 0, 0x400, 0x500, 0, 0, 0x800, 0x10000, 2, 300, 4, 7, 2, 16);
        assertEquals(List.of("ssd_chunk_cumsum", "ssd_state_walk", "ssd_chunk_cb", "ssd_chunk_scan"), launches.stream().map(Launch::kernel).toList());
        assertArrayEquals(new int[] {8, 1, 1, 256, 1, 1}, launches.get(1).grid());
        ops.ssdWalk = false;
        assertEquals(0, CudaOps.ssdChunkFromEnv(null));   // by length:
        ops.ssdChunk = 0;
        assertEquals(List.of(64, 64, 128, 128), List.of(ops.ssdChunkFor(128), ops.ssdChunkFor(8191), ops.ssdChunkFor(8192), ops.ssdChunkFor(16384)));
        assertEquals(256, CudaOps.ssdChunkFromEnv("256"));
        var e = assertThrows(mamba4j.core.UserInputException.class, () -> CudaOps.ssdChunkFromEnv("96"));
        assertEquals("MAMBA4J_CUDA_SSD_CHUNK=96: the chunk length must be 64, 128 or 256", e.getMessage());
    }

    @Test void chunkedSsdAtTheMamba2_1_3bShape() {
        ops.ssdChunked(0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x10000, 1, 2048, 64, 64, 1, 128);
        assertChunkedSsd(0x10000, 1, 2048, 64, 64, 1, 128, new int[][] {
                {8, 1, 1, 256, 1, 1},        // cumsum: thread per (b, chunk, h) = 32 · 64
                {64, 32, 2, 256, 1, 1},      // chunk state: B·H × chunks × (2 N tiles · 1 P tile)
                {2048, 1, 1, 256, 1, 1},     // state pass: thread per (b, h, n, p) = 64 · 128 · 64
                {1, 32, 1, 256, 1, 1},       // cb: B·G × chunks
                {64, 32, 1, 256, 1, 1}});    // chunk scan: B·H × chunks × P tiles
        Launch l = launches.getFirst();
        assertEquals(0x300L, l.ptr("scale"));
        assertEquals(0x600L, l.ptr("D"));
        assertEquals(0x700L, l.ptr("state"));
        assertEquals(0x800L, l.ptr("out"));
    }

    @Test void chunkedSsdAtOddShapes() {
        // L 300 = 4 chunks + 44 steps, P 7, G 2, no scale / D / state
        ops.ssdChunked(0x100, 0x200, 0, 0x400, 0x500, 0, 0, 0x800, 0x10000, 2, 300, 4, 7, 2, 16);
        assertChunkedSsd(0x10000, 2, 300, 4, 7, 2, 16, new int[][] {
                {1, 1, 1, 256, 1, 1}, {8, 5, 1, 256, 1, 1}, {4, 1, 1, 256, 1, 1}, {4, 5, 1, 256, 1, 1}, {8, 5, 1, 256, 1, 1}});
        Launch l = launches.getFirst();
        assertEquals(0L, l.ptr("scale"));
        assertEquals(0L, l.ptr("D"));
        assertEquals(0L, l.ptr("state"));
        launches.clear();
        // P 100 and N 200 span several tiles: 4 N tiles × 2 P tiles for the chunk states, 2 P tiles for the outputs
        ops.ssdChunked(0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x10000, 1, 128, 3, 100, 3, 200);
        assertChunkedSsd(0x10000, 1, 128, 3, 100, 3, 200, new int[][] {
                {1, 1, 1, 256, 1, 1}, {3, 2, 8, 256, 1, 1}, {235, 1, 1, 256, 1, 1}, {3, 2, 1, 256, 1, 1}, {3, 2, 2, 256, 1, 1}});
    }

    @Test void theFusedSsdTakesTheStateOnChipWhereItFits() {
        // mamba2-1.3b: cumsum, cb, then one block per (b, h, 32 columns) with 117,760 bytes of shared memory
        h100.ssdChunked(0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800, 0x10000, 1, 2048, 64, 64, 1, 128);
        assertEquals(List.of("ssd_chunk_cumsum", "ssd_chunk_cb", "ssd_chunk_fused"), launches.stream().map(Launch::kernel).toList());
        assertArrayEquals(new int[] {64, 2, 1, 256, 1, 1}, launches.get(2).grid());
        assertEquals(4 * (64 * 132 + 64 * 136 + 64 * 40 + 128 * 40 + 64 * 68 + 4 * 64), launches.get(2).sharedBytes());
        long cb = 0x10000L + 4L * 64 * 2048;   // no chunk states between acum and cb
        for (Launch l : launches) {
            assertEquals(0x10000L, l.ptr("acum"));
            assertEquals(0L, l.ptr("states"));
            assertEquals(cb, l.ptr("cb"));
        }
        assertEquals(cb + 4L * 32 * 64 * 64 - 0x10000, h100.ssdChunkedScratchBytes(1, 2048, 64, 64, 1, 128, true));
        // where it does not apply, the five kernels: N 256 (more state than the warps hold), N not a multiple of 8, P
        // not a multiple of 4, an operand off a 16-byte boundary, or no tensor cores
        assertTrue(h100.ssdFusedApplies(1, 64, 36, 8, 0x100, 0x200, 0x300) && h100.ssdFusedApplies(1, 64, 64, 128, 0, 0, 0));
        assertFalse(h100.ssdFusedApplies(1, 64, 64, 256, 0x100, 0x200, 0x300));
        assertFalse(h100.ssdFusedApplies(1, 64, 64, 20, 0x100, 0x200, 0x300));
        assertFalse(h100.ssdFusedApplies(1, 64, 7, 16, 0x100, 0x200, 0x300));
        assertFalse(h100.ssdFusedApplies(1, 64, 64, 128, 0x100, 0x204, 0x300));
        assertFalse(ops.ssdFusedApplies(1, 64, 64, 128, 0x100, 0x200, 0x300));
        assertFalse(new CudaOps(null, arena, recorder, 48 * 1024, 132).ssdFusedApplies(1, 64, 64, 128, 0x100, 0x200, 0x300));   // shared memory
        // it pays where its blocks fill half the multiprocessors: mamba2-130m's 24 heads x 2 column tiles = 48 < 66
        // do not (the five kernels), four such sequences do; forced on (MAMBA4J_CUDA_SSD_FUSED=1) it runs wherever it fits
        assertFalse(h100.ssdFusedApplies(1, 24, 64, 128, 0, 0, 0));
        assertTrue(h100.ssdFusedApplies(2, 24, 64, 128, 0, 0, 0));
        h100.ssdFused = 1;
        assertTrue(h100.ssdFusedApplies(1, 24, 64, 128, 0, 0, 0));
        h100.ssdFused = 0;
        assertFalse(h100.ssdFusedApplies(1, 64, 64, 128, 0, 0, 0));
        h100.ssdFused = -1;
    }

    @Test void halfPrecisionWeightsTakeTheBf16TilesOverTheFusedKernel() {
        assertFalse(h100.ssdBf16Tiles(true));   // unset: never (opt-in until it has run on a GPU)
        h100.ssdBf16 = -1;   // MAMBA4J_CUDA_SSD_BF16=auto
        assertTrue(h100.ssdFusedApplies(1, 64, 64, 128, 0, 0, 0, false) && !h100.ssdBf16Tiles(false));   // f32 weights: float32 products
        try {
            assertTrue(h100.ssdBf16Tiles(true));
            assertFalse(h100.ssdFusedApplies(1, 64, 64, 128, 0, 0, 0, true));   // the five kernels, their products in bf16
            h100.ssdChunked(0x100, 0x200, 0, 0x300, 0x400, 0, 0, 0x500, 0x10000, 1, 2048, 64, 64, 1, 128, true);
            assertEquals(SSD_KERNELS, launches.stream().map(Launch::kernel).toList());
            assertTrue(launches.stream().allMatch(l -> l.file().equals("ssd_chunked_bf16.cu")));
            h100.ssdBf16 = 0;   // MAMBA4J_CUDA_SSD_BF16=0
            assertFalse(h100.ssdBf16Tiles(true));
            h100.ssdBf16 = 1;   // =1: for f32 weights too, but not without tensor cores
            assertTrue(h100.ssdBf16Tiles(false));
            ops.ssdBf16 = 1;
            assertFalse(ops.ssdBf16Tiles(true));
        } finally {
            h100.ssdBf16 = 0;
            ops.ssdBf16 = 0;
        }
        String bf16 = KernelSources.read("ssd_chunked_bf16.cu");
        assertTrue(bf16.startsWith("#define MAMBA4J_SSD_BF16_TILES\n") && bf16.endsWith(KernelSources.read("ssd_chunked.cu")));
    }

    @Test void theScratchRegionsStartOn16ByteBoundaries() {
        // acum of B·H·L = 1·3·129 floats (1548 bytes) is padded to 1552 before the states
        ops.ssdChunked(1, 2, 0, 3, 4, 0, 0, 5, 0x10000, 1, 129, 3, 5, 1, 7);
        Launch l = launches.getFirst();
        assertEquals(0x10000L + 1552, l.ptr("states"));
        assertEquals(0x10000L + 1552 + 1264, l.ptr("cb"));   // 3 chunks of (H 3, N 7, P 5) states: 1260 bytes, padded to 1264
        assertEquals(1552 + 1264 + 4L * 3 * 64 * 64, ops.ssdChunkedScratchBytes(1, 129, 3, 5, 1, 7, false));
        assertEquals(1552 + 1264 + 4L * 3 * 64 * 64 + 4L * 256 * 256, CudaOps.ssdChunkedScratchBytes(1, 129, 3, 5, 1, 7));   // + cb of one 256-chunk
    }

    @Test void wholeSequencesTakeTheChunkedSsd() {
        assertTrue(!CudaOps.ssdUsesChunks(1) && !CudaOps.ssdUsesChunks(37) && !CudaOps.ssdUsesChunks(127));
        assertTrue(CudaOps.ssdUsesChunks(128) && CudaOps.ssdUsesChunks(2048) && CudaOps.ssdUsesChunks(65535 * 64));
        assertTrue(!CudaOps.ssdUsesChunks(65535 * 64 + 1));   // more chunks than gridDim.y holds: the recurrence
    }

    @Test void aDecodeStepOfTheSsdTakesTheVectorKernelWhenItsRowsAllow() {
        // B 3, L 1, H 4, P 5, G 2, N 16: 60 rows, 2 a warp, 4 warps a block -> 8 blocks
        ops.ssd(0x100, 0x200, 0, 0x300, 0x400, 0, 0x500, 0x600, 3, 1, 4, 5, 2, 16);
        assertEquals("ssd.cu:ssd_step", launches.getLast().file() + ":" + launches.getLast().kernel());
        assertArrayEquals(new int[]{8, 1, 1, 128, 1, 1}, launches.getLast().grid());
        ops.ssd(0x100, 0x200, 0, 0x304, 0x400, 0, 0x500, 0x600, 3, 1, 4, 5, 2, 16);   // B not 16-byte aligned
        ops.ssd(0x100, 0x200, 0, 0x300, 0x400, 0, 0x500, 0x600, 3, 1, 4, 5, 2, 18);   // N not a multiple of 4
        ops.ssd(0x100, 0x200, 0, 0x300, 0x400, 0, 0x500, 0x600, 3, 1, 4, 5, 2, 256);  // N over 128
        ops.ssd(0x100, 0x200, 0, 0x300, 0x400, 0, 0, 0x600, 3, 1, 4, 5, 2, 16);       // no state
        ops.ssd(0x100, 0x200, 0, 0x300, 0x400, 0, 0x500, 0x600, 3, 2, 4, 5, 2, 16);   // two steps
        for (Launch l : launches.subList(launches.size() - 5, launches.size())) assertEquals("ssd_scan", l.kernel());
        var m = java.util.regex.Pattern.compile("#define SSD_STEP_ROWS (\\d+)").matcher(KernelSources.read("ssd.cu"));
        assertTrue(m.find());
        assertEquals(CudaOps.SSD_STEP_ROWS, Integer.parseInt(m.group(1)));
    }

    @Test void theScanStepsLaneLimitIsAPowerOfTwoAndTheGroupFollowsIt() {
        assertEquals(1L << 20, CudaOps.scanStepLanes(null));
        assertEquals(1L << 18, CudaOps.scanStepLanes("262144"));
        for (String bad : new String[] {"100000", "512", "abc", "33554432"}) {
            var e = assertThrows(mamba4j.core.UserInputException.class, () -> CudaOps.scanStepLanes(bad));
            assertEquals("MAMBA4J_CUDA_SCAN_STEP_LANES=" + bad + ": must be a power of two from 1024 to 16777216", e.getMessage());
        }
        assertEquals(16, CudaOps.scanStepGroup(16, 4096));          // batch 1 of mamba-1.4b: a lane per state
        assertEquals(4, CudaOps.scanStepGroup(16, 64L * 4096));     // batch 64: 2^20 lanes
    }

    @Test void promptsSplitTheirProductsIntoOneGemmAPartDecodeBatchesCopyThePartsOut() {
        assertFalse(CudaOps.splitGemm(64));     // a batch-64 decode step: one GEMM, then copies (+9–10% on an H100)
        assertFalse(CudaOps.splitGemm(256));
        assertTrue(CudaOps.splitGemm(257));     // a prompt: a GEMM per part (16k prefill +5–6%)
        assertTrue(CudaOps.splitGemm(16384));
    }

    @Test void theChunkedSsdConstantsAreTheKernelSourcesOwn() {
        String src = KernelSources.read("ssd_chunked.cu");
        for (var e : java.util.Map.of("SSD_Q", CudaOps.SSD_CHUNK, "SSD_MAX_Q", CudaOps.SSD_MAX_CHUNK, "SSD_T", CudaOps.SSD_TILE, "SSD_THREADS", CudaOps.SSD_CHUNK_THREADS,
                "SSDF_P", CudaOps.SSD_FUSED_P, "SSDF_THREADS", CudaOps.SSD_FUSED_THREADS, "SSDF_MAX_N", CudaOps.SSD_FUSED_MAX_N).entrySet()) {
            var m = java.util.regex.Pattern.compile("#define " + e.getKey() + " (\\d+)").matcher(src);
            assertTrue(m.find(), e.getKey() + " defined in ssd_chunked.cu");
            assertEquals(e.getValue(), Integer.parseInt(m.group(1)), e.getKey());
        }
    }

    @Test void impossibleArgumentsAreRefusedBeforeALaunch() {
        assertThrows(IllegalArgumentException.class, () -> ops.causalConv1d(1, 1, 1, 2, 0, 0, 3, 0, 0, 1, 10, 10, 9, false));
        assertThrows(IllegalArgumentException.class, () -> ops.selectiveScan(CudaOps.Scan.contiguous(1, 2, 0, true, 3, 4, 5, 0, 0, 0, 0, 6, 1, 10, 10, 65)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ops.selectiveScan(CudaOps.Scan.contiguous(1, 2, 0, true, 3, 0, 5, 0, 0, 0, 0, 6, 1, 10, 10, 16)));
        assertEquals("selectiveScan: B is required", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ops.rmsNorm(1, 0, 0, 2, 3, 4, 1, 10, 1e-5f));   // dtype code 3
        assertThrows(IllegalArgumentException.class, () -> ops.add(1, 2, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> ops.ssdChunked(1, 2, 0, 3, 4, 0, 0, 5, 6, 1, 200, 4, 64, 3, 128));   // H % G
        assertThrows(IllegalArgumentException.class, () -> ops.ssdChunked(1, 2, 0, 3, 4, 0, 0, 5, 6, 1, 200, 4, 64, 1, 257)); // N > 256
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
                () -> ops.ssdChunked(1, 2, 0, 3, 4, 0, 0, 5, 0, 1, 200, 4, 64, 1, 128));
        assertEquals("ssdChunked: scratch is required", s.getMessage());
        assertTrue(launches.isEmpty());
    }
}
