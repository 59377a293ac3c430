package mamba4j.testkit.conformance;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.CopyRegion;
import mamba4j.core.DType;
import mamba4j.core.Device;
import mamba4j.core.Formulas;
import mamba4j.core.SelectiveScan;
import mamba4j.core.SelectiveScanGrads;
import mamba4j.core.Sampling;
import mamba4j.core.Shape;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Storage;
import mamba4j.core.Tensor;
import mamba4j.testkit.Compare;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static mamba4j.testkit.Tolerance.CHUNKED_VS_RECURRENCE;
import static mamba4j.testkit.Tolerance.DOUBLE_SCALAR;
import static mamba4j.testkit.Tolerance.EXACT;
import static mamba4j.testkit.Tolerance.F32_IDENTITY;
import static mamba4j.testkit.Tolerance.FAST_VS_REFERENCE;
import static mamba4j.testkit.Tolerance.LONG_REDUCTION;
import static mamba4j.testkit.Tolerance.QUANTISED_VS_REFERENCE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The conformance suite every backend runs (ggml's test-backend-ops, candle's per-device tests): each op of the
 * {@link Backend} front, forward and backward, on the backend under test and on {@link Backends#reference()} from the
 * same random inputs ({@link OpCase}: uploaded to each device, downloaded to compare), at sizes around the vector width
 * ({@link #WIDTHS}), odd shapes, each weight dtype, with and without the optional arguments, accumulating and not;
 * plus the memory and movement ops against their definitions, and the identities a backend's fast algorithms must
 * keep (decode == forward, any chunk == the recurrence, prefill in pieces == one piece). Nothing here reads host
 * memory of a backend tensor: everything goes through upload and download, so an accelerator runs it unchanged.
 *
 * <p>A backend module runs it with {@code class XConformanceTest extends BackendConformance} in its tests.
 * {@link #everyOpOfTheFrontHasACase} fails when a public op of {@link Backend} is named by no {@link Covers}.
 */
public abstract class BackendConformance {
    /** The backend under test (as users get it: through {@link Backends#get}). */
    protected abstract Backend backend();

    protected static final Backend REF = Backends.reference();

    /** Sizes around the vector widths (8 floats with AVX2, 16 with AVX-512; 32 warp lanes): below, at, just above. */
    protected static final int[] WIDTHS = {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 65};

    static IntStream widths() { return Arrays.stream(WIDTHS); }

    /**
     * One large size: past the element counts at which a backend splits an elementwise op across threads (the cpu
     * backend's 16384) or launches more than one block, with a tail.
     */
    protected static final int LARGE = 40_000;

    /** {@link #WIDTHS} and {@link #LARGE}, for the elementwise ops (cheap at any size). */
    static IntStream elementwiseSizes() { return IntStream.concat(widths(), IntStream.of(LARGE)); }

    /** Rows to run an elementwise op of width n on: 1 and 3 (a flat count that is not n), one row only when n is large. */
    private static int[] rowsFor(int n) { return n > 1000 ? new int[]{1} : new int[]{1, 3}; }

    /** Widths ≥ 2: at D = 1 rmsNorm is sign(x)·w and its dx is the cancellation of two equal terms, ill-conditioned in F32. */
    static IntStream normWidths() { return widths().filter(w -> w >= 2); }

    /**
     * Ops this backend refuses by design, with the reason (an inference-only accelerator refuses the training set);
     * empty for a complete backend. A test whose every covered op is refused is skipped, naming them and the reason;
     * in the others each case of a refused op asserts the refusal instead: a {@link mamba4j.core.UserInputException}
     * naming the op, never a crash or a wrong result.
     */
    protected Map<String, String> refusedOps() { return Map.of(); }

    /**
     * The tolerance of a linear of {@code m} rows with BF16/F16 weights: {@link mamba4j.testkit.Tolerance#FAST_VS_REFERENCE}
     * for a backend that widens the weights (cpu), {@link mamba4j.testkit.Tolerance#HALF_PRECISION_ACTIVATIONS} where
     * it rounds the activations for tensor cores instead.
     */
    protected double halfWeightLinearTolerance(int m) { return FAST_VS_REFERENCE; }

    /** Whether the backend under test runs {@code op} (not in {@link #refusedOps}). */
    protected final boolean runs(String op) { return !refusedOps().containsKey(op); }

    @BeforeEach
    void skipWhenEveryCoveredOpIsRefused(TestInfo info) {
        Covers c = info.getTestMethod().map(m -> m.getAnnotation(Covers.class)).orElse(null);
        if (c == null || refusedOps().isEmpty()) return;
        List<String> refused = Arrays.stream(c.value()).filter(op -> !runs(op)).toList();
        Assumptions.assumeFalse(refused.size() == c.value().length, () -> backend().name() + " refuses " + refused + ": "
                + refused.stream().map(refusedOps()::get).distinct().reduce((a, b) -> a + "; " + b).orElse(""));
    }

    /**
     * Skips a quantised-weight test, naming why, on a backend without Q8_0/Q4_0 kernels ({@link
     * mamba4j.core.Kernels#weightTypes}); such a backend's refusal is a named error at load ({@code Models.load}).
     */
    private void takesQuantisedWeights() {
        Set<DType> w = backend().kernels().weightTypes();
        Assumptions.assumeTrue(w.contains(DType.Q8_0) && w.contains(DType.Q4_0),
                () -> backend().name() + " has no kernels for Q8_0/Q4_0 weights (it takes " + new TreeSet<>(w) + ")");
    }

    /** A case named "op details…"; when the backend refuses that op, a case that asserts the refusal. */
    private OpCase op(String what) {
        String name = what.split(" ", 2)[0];
        return new OpCase(what, backend(), REF, runs(name) ? null : name);
    }

    // ------------------------------------------------------------------ inputs

    /** Host F32 (dims) with N(0, scale²) entries. */
    protected static Tensor gauss(Random r, double scale, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (r.nextGaussian() * scale));
        return t;
    }

    /** Host F32 (dims) of NaN: the initial value of an output the op must write in full. */
    protected static Tensor nan(long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        t.fill(Float.NaN);
        return t;
    }

    /** Mamba-1's continuous A (E, N) = −exp(N(0, 0.5²)): negative, spread over a decade. */
    protected static Tensor negA(Random r, long e, long n) {
        Tensor a = Tensor.zeros(DType.F32, e, n);
        for (long i = 0; i < a.numel(); i++) a.setFloat(i, (float) -Math.exp(r.nextGaussian() * 0.5));
        return a;
    }

    /** A device copy of a host tensor (null stays null). */
    private Tensor up(Tensor host) { return host == null ? null : backend().upload(host.copy()); }

    private Tensor down(Tensor t) { return backend().download(t); }

    /** (B, L, inner…) on the device: a new tensor with time steps [from, to), copied on the device. */
    private Tensor time(Tensor t, int from, int to) {
        if (t == null) return null;
        long[] dims = t.shape().dims();
        long l = dims[1], inner = t.numel() / (dims[0] * l);
        dims[1] = to - from;
        Tensor out = backend().allocate(t.dtype(), Shape.of(dims));
        backend().copy(t, out, CopyRegion.block(dims[0], (to - from) * inner, from * inner, l * inner, 0, (to - from) * inner));
        return out;
    }

    /** Writes src (B, len, inner…) into dst[:, from:from+len] on the device. */
    private void putTime(Tensor dst, int from, Tensor src) {
        long b = dst.dim(0), l = dst.dim(1), len = src.dim(1), inner = dst.numel() / (b * l);
        backend().copy(src, dst, CopyRegion.block(b, len * inner, 0, len * inner, from * inner, l * inner));
    }

    // ------------------------------------------------------------------ completeness

    /** Public methods of the front that are not ops: identity and description of the backend. */
    private static final Set<String> NOT_OPS = Set.of("kernels", "name", "description", "device", "threads", "memoryBandwidthGBs",
            "toString", "equals", "hashCode");

    @Test
    void everyOpOfTheFrontHasACase() {
        Set<String> ops = new TreeSet<>();
        for (Method m : Backend.class.getDeclaredMethods())
            if (Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()) && !NOT_OPS.contains(m.getName()))
                ops.add(m.getName());
        Set<String> covered = new TreeSet<>();
        for (Method m : BackendConformance.class.getDeclaredMethods()) {
            Covers c = m.getAnnotation(Covers.class);
            if (c != null) covered.addAll(List.of(c.value()));
        }
        Set<String> missing = new TreeSet<>(ops), stale = new TreeSet<>(covered);
        missing.removeAll(covered);
        stale.removeAll(ops);
        assertTrue(missing.isEmpty(), "ops of Backend with no conformance case: " + missing + " (add a case with @Covers)");
        assertTrue(stale.isEmpty(), "@Covers names that are not ops of Backend: " + stale);
    }

    /** The front refuses activations in a dtype the backend does not compute in, naming the op (never a silent cast). */
    @Test
    void dtypesTheBackendDoesNotComputeInAreRefusedNamingTheOp() {
        Backend be = backend();
        for (DType d : List.of(DType.F64, DType.F16, DType.BF16)) {
            if (be.kernels().activationTypes().contains(d)) continue;
            Tensor a = be.allocate(d, Shape.of(3, 3)), o = be.allocate(d, Shape.of(3, 3));
            var e = assertThrows(IllegalArgumentException.class, () -> be.matmul(a, false, a, false, o, false));
            assertTrue(e.getMessage().contains("matmul"), e.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> be.scale(a, 2f));
            assertTrue(e2.getMessage().contains("scale"), e2.getMessage());
            if (d == DType.F64) {
                Tensor x = be.allocate(d, Shape.of(1, 3, 2, 4)), la = be.allocate(d, Shape.of(1, 3, 2)), bc = be.allocate(d, Shape.of(1, 3, 1, 5));
                Ssd s = new Ssd(x, la, null, bc, bc, null, null, be.allocate(d, Shape.of(1, 3, 2, 4)));
                var e3 = assertThrows(IllegalArgumentException.class, () -> be.ssd(s, 2));
                assertTrue(e3.getMessage().contains("ssd"), e3.getMessage());
            }
        }
    }

    /** A tensor on another device (a made-up address on cuda:7, never dereferenced) is refused naming the op and both devices. */
    @Test
    void tensorsOfAnotherDeviceAreRefusedNamingTheDevices() {
        Backend be = backend();
        Device other = be.device().equals(Device.cuda(7)) ? Device.cuda(6) : Device.cuda(7);
        Tensor elsewhere = Tensor.onDevice(DType.F32, Shape.of(2, 3), new Storage.OnDevice(other, 1 << 20, 24, null), 0);
        Tensor mine = be.zeros(2, 3);
        var e = assertThrows(IllegalArgumentException.class, () -> be.add(mine, elsewhere, mine));
        assertTrue(e.getMessage().contains("add") && e.getMessage().contains(other.toString()) && e.getMessage().contains(be.device().toString()),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> be.download(elsewhere));
        assertThrows(IllegalArgumentException.class, () -> be.copy(elsewhere, mine));
    }

    // ------------------------------------------------------------------ memory and movement

    static Stream<DType> storedTypes() { return Stream.of(DType.F32, DType.BF16, DType.F16, DType.I32, DType.F64); }

    /** Random host tensor of any stored dtype (integers in ±1000; floats rounded to the dtype). */
    private static Tensor randomOf(Random r, DType d, long... dims) {
        Tensor t = Tensor.zeros(d, dims);
        for (long i = 0; i < t.numel(); i++)
            switch (d) {
                case I32 -> t.segment().setAtIndex(Tensor.I32, i, r.nextInt(2001) - 1000);
                case F64 -> t.segment().setAtIndex(Tensor.F64, i, r.nextGaussian());
                default -> t.setFloat(i, (float) r.nextGaussian());
            }
        return t;
    }

    private static void assertSameBytes(String what, Tensor expected, Tensor actual) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertEquals(expected.shape(), actual.shape(), what + ": shape");
        byte[] e = expected.segment().toArray(ValueLayout.JAVA_BYTE), a = actual.segment().toArray(ValueLayout.JAVA_BYTE);
        if (!Arrays.equals(e, a)) {
            long i = Arrays.mismatch(e, a) / expected.dtype().byteSize();
            fail(what + ": first differing element [" + i + "] of " + expected.dtype() + " " + expected.shape() + ": "
                    + actual.getDouble(i) + ", expected " + expected.getDouble(i));
        }
    }

    @ParameterizedTest
    @MethodSource("storedTypes")
    @Covers({"allocate", "zeros"})
    void allocateGivesZerosOnTheDevice(DType d) {
        Backend be = backend();
        for (Tensor t : List.of(be.allocate(d, Shape.of(3, 17)), be.zeros(d, 3, 17))) {
            assertEquals(be.device(), t.device(), "allocated on the backend's device");
            assertSameBytes("allocate " + d, Tensor.zeros(d, 3, 17), down(t));
        }
        Tensor f = be.zeros(5, 7);
        assertEquals(DType.F32, f.dtype());
        assertSameBytes("zeros F32", Tensor.zeros(DType.F32, 5, 7), down(f));
        assertEquals(0, be.allocate(d, Shape.of(0, 4)).numel(), "an empty tensor");
    }

    @ParameterizedTest
    @MethodSource("storedTypes")
    @Covers({"upload", "download", "write", "sync"})
    void uploadWriteAndDownloadMoveTheBytes(DType d) {
        Backend be = backend();
        Random r = new Random(d.ordinal());
        for (long n : new long[]{1, 7, 16, 33, 1000}) {
            Tensor host = randomOf(r, d, n), keep = host.copy();
            Tensor dev = be.upload(host);
            assertEquals(be.device(), dev.device());
            be.sync();
            assertSameBytes("upload/download " + d + " n=" + n, keep, be.download(dev));
            Tensor other = randomOf(r, d, n);
            be.write(other, dev);
            assertSameBytes("write " + d + " n=" + n, other, be.download(dev));
            if (n > 3) {   // a write into a view at an offset leaves the rest alone
                Tensor part = randomOf(r, d, n - 3), want = other.copy();
                MemorySegment.copy(part.segment(), 0, want.segment(), 2L * d.byteSize(), part.byteSize());
                be.write(part, dev.view(2, n - 3));
                assertSameBytes("write into a view " + d + " n=" + n, want, be.download(dev));
            }
        }
    }

    @Test
    @Covers("ids")
    void idsAreUploadedAsI32() {
        Backend be = backend();
        int[] ids = {0, 5, 5, 1000, 3, -100, 7};
        Tensor t = be.ids(ids);
        assertEquals(DType.I32, t.dtype());
        assertEquals(Shape.of(ids.length), t.shape());
        assertArrayEquals(ids, down(t).toIntArray());
        int[] again = {9, 8, 7, 6, 5, 4, 3};
        be.ids(again, t);
        assertArrayEquals(again, down(t).toIntArray(), "ids written into an existing tensor");
    }

    /** Named strided copies: (name, src elements, dst elements, region). */
    static Stream<Arguments> regions() {
        return Stream.of(
                Arguments.of("contiguous at offsets", 40, 30, CopyRegion.contiguous(17, 3, 5)),
                Arguments.of("columns 5..15 of (7, 33)", 7 * 33, 7 * 10, CopyRegion.block(7, 10, 5, 33, 0, 10)),
                Arguments.of("into columns of (7, 33)", 7 * 10, 7 * 33, CopyRegion.block(7, 10, 0, 10, 20, 33)),
                Arguments.of("transpose (9, 17) -> (17, 9)", 9 * 17, 17 * 9,
                        new CopyRegion(new long[]{9, 17}, 0, new long[]{17, 1}, 0, new long[]{1, 9})),
                Arguments.of("transpose (B, L, C) -> (B, C, L)", 2 * 5 * 7, 2 * 7 * 5,
                        new CopyRegion(new long[]{2, 5, 7}, 0, new long[]{35, 7, 1}, 0, new long[]{35, 1, 5})),
                Arguments.of("every other element", 65, 33, new CopyRegion(new long[]{33}, 0, new long[]{2}, 0, new long[]{1})),
                Arguments.of("one row broadcast over 4 rows", 16, 4 * 16, new CopyRegion(new long[]{4, 16}, 0, new long[]{0, 1}, 0, new long[]{16, 1})),
                Arguments.of("kv-cache write of 3 steps at position 5", 2 * 3 * 2 * 8, 2 * 11 * 2 * 8,
                        new CopyRegion(new long[]{2, 3, 16}, 0, new long[]{48, 16, 1}, 5 * 16, new long[]{11 * 16, 16, 1})),
                Arguments.of("rank 4 with odd strides", 3 * 4 * 5 * 6, 3 * 4 * 5 * 6,
                        new CopyRegion(new long[]{3, 2, 5, 3}, 7, new long[]{120, 30, 6, 1}, 1, new long[]{1, 3, 6, 30 * 3})),
                Arguments.of("empty", 10, 10, new CopyRegion(new long[]{0, 4}, 0, new long[]{4, 1}, 0, new long[]{4, 1})));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("regions")
    @Covers("copy")
    void copyMovesExactlyTheRegion(String name, int srcN, int dstN, CopyRegion region) {
        Backend be = backend();
        for (DType d : List.of(DType.F32, DType.BF16, DType.I32)) {
            Random r = new Random(srcN * 31L + dstN);
            Tensor src = randomOf(r, d, srcN), dst0 = randomOf(r, d, dstN);
            // the definition (CopyRegion's javadoc), element by element: everything outside the region keeps its value
            Tensor want = dst0.copy();
            long es = d.byteSize();
            long[] idx = new long[region.rank()], sizes = region.sizes(), ss = region.srcStrides(), ds = region.dstStrides();
            for (long c = 0; c < region.count(); c++) {
                long si = region.srcOffset(), di = region.dstOffset(), rest = c;
                for (int j = region.rank() - 1; j >= 0; j--) {
                    idx[j] = rest % sizes[j];
                    rest /= sizes[j];
                    si += idx[j] * ss[j];
                    di += idx[j] * ds[j];
                }
                MemorySegment.copy(src.segment(), si * es, want.segment(), di * es, es);
            }
            Tensor dst = up(dst0);
            be.copy(up(src), dst, region);
            assertSameBytes("copy " + name + " " + d, want, down(dst));
        }
    }

    @Test
    @Covers({"copy", "splitColumns"})
    void wholeCopiesAndColumnSplits() {
        Backend be = backend();
        Random r = new Random(5);
        Tensor src = gauss(r, 1, 7, 33);
        Tensor dst = up(nan(7, 33));
        be.copy(up(src), dst);
        assertSameBytes("copy", src, down(dst));
        long[] widths = {3, 16, 14};
        Tensor[] parts = new Tensor[widths.length];
        for (int i = 0; i < parts.length; i++) parts[i] = up(nan(7, widths[i]));
        be.splitColumns(up(src), parts);
        long col = 0;
        for (int i = 0; i < parts.length; i++) {
            Tensor want = Tensor.zeros(DType.F32, 7, widths[i]);
            for (long row = 0; row < 7; row++)
                for (long c = 0; c < widths[i]; c++) want.setFloat(row * widths[i] + c, src.getFloat(row * 33 + col + c));
            assertSameBytes("splitColumns part " + i, want, down(parts[i]));
            col += widths[i];
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "F16", "F64"})
    @Covers("fill")
    void fillRoundsToTheDtype(DType d) {
        Backend be = backend();
        for (float v : new float[]{0f, -2.5f, 1f / 3, 65504f}) {
            Tensor t = be.allocate(d, Shape.of(3, 17));
            be.fill(t.view(5, 40), v);   // a view: elements 0..4 and 45..50 stay 0
            Tensor got = down(t);
            double want = switch (d) {
                case BF16 -> Tensor.bf16ToFloat(Tensor.floatToBf16(v));
                case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
                default -> v;
            };
            for (long i = 0; i < got.numel(); i++)
                assertEquals(i >= 5 && i < 45 ? want : 0.0, got.getDouble(i), 0.0, "fill " + d + " " + v + " at " + i);
        }
    }

    /** A recorded body replays on the tensors' current values: run, change the inputs, run again (decode's graphs). */
    @Test
    @Covers("capture")
    void captureReplaysTheOpsOnTheCurrentValues() {
        Random r = new Random(5);
        Backend be = backend();
        Tensor a = be.upload(gauss(r, 1, 3, 40)), b = be.upload(gauss(r, 1, 3, 40)), out = be.zeros(3, 40), gated = be.zeros(3, 40);
        Runnable body = () -> {
            be.add(a, b, out);
            be.mulSilu(out, b, gated);
        };
        body.run();                                     // as a model's first step: kernels load before the capture
        Runnable replay = be.capture(body);
        for (int round = 0; round < 3; round++) {
            Tensor ha = gauss(r, 1, 3, 40), hb = gauss(r, 1, 3, 40);
            be.write(ha, a);
            be.write(hb, b);
            replay.run();
            Tensor sum = REF.zeros(3, 40), want = REF.zeros(3, 40);
            REF.add(ha, hb, sum);
            REF.mulSilu(sum, hb, want);
            Compare.assertRelClose("capture: replay " + round, be.download(gated), want, FAST_VS_REFERENCE);
        }
    }

    @Test
    @Covers("item")
    void itemReadsOneElementBack() {
        Backend be = backend();
        Random r = new Random(6);
        for (DType d : List.of(DType.F32, DType.F64, DType.BF16, DType.I32)) {
            Tensor host = randomOf(r, d, 37), dev = up(host);
            for (long i : new long[]{0, 1, 16, 36}) assertEquals(host.getDouble(i), be.item(dev, i), 0.0, "item " + d + " [" + i + "]");
            assertEquals(host.getDouble(0), be.item(dev), 0.0, "item " + d);
        }
    }

    // ------------------------------------------------------------------ embedding and linear

    @ParameterizedTest
    @CsvSource({"11, 19", "5, 16", "70, 33", "3, 1", "200, 64"})
    @Covers("embedding")
    void embeddingGathersRowsOfEachWeightDtype(int v, int d) {
        Random r = new Random(v * 100L + d);
        Tensor w = gauss(r, 1, v, d);
        int[] ids = {0, v - 1, v / 2, v / 2, 0};
        for (DType wt : List.of(DType.F32, DType.BF16, DType.F16))
            op("embedding V=" + v + " D=" + d + " " + wt).in("w", w.to(wt)).out("out", nan(ids.length, d), EXACT)
                    .run((be, t) -> be.embedding(t.get("w"), be.ids(ids), t.get("out")));
    }

    /** Quantised embedding tables (D a multiple of the block of 32): rows dequantised exactly, so bit for bit. */
    @ParameterizedTest
    @CsvSource({"11, 32", "70, 64", "5, 96", "200, 768"})
    @Covers("embedding")
    void embeddingGathersRowsOfQuantisedWeights(int v, int d) {
        takesQuantisedWeights();
        Random r = new Random(v * 100L + d + 1);
        Tensor w = gauss(r, 1, v, d);
        int[] ids = {0, v - 1, v / 2, v / 2, 0};
        for (DType wt : List.of(DType.Q8_0, DType.Q4_0))
            op("embedding V=" + v + " D=" + d + " " + wt).in("w", w.to(wt)).out("out", nan(ids.length, d), EXACT)
                    .run((be, t) -> be.embedding(t.get("w"), be.ids(ids), t.get("out")));
    }

    @ParameterizedTest
    @MethodSource("widths")
    @Covers("embeddingBackward")
    void embeddingBackwardAccumulatesRepeatedIds(int d) {
        Random r = new Random(d);
        int[] ids = {3, 0, 3, 5, 3, 1};
        op("embeddingBackward D=" + d).in("dOut", gauss(r, 1, ids.length, d)).out("dW", gauss(r, 1, 6, d), FAST_VS_REFERENCE)
                .run((be, t) -> be.embeddingBackward(be.ids(ids), t.get("dOut"), t.get("dW")));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 8, 17, 33, 65})
    @Covers("linear")
    void linearOfEachWeightDtypeWithAndWithoutBias(int m) {
        Random r = new Random(m);
        for (int[] nk : new int[][]{{5, 7}, {16, 16}, {17, 31}, {64, 65}, {130, 200}}) {
            int n = nk[0], k = nk[1];
            Tensor x = gauss(r, 1, m, k), w = gauss(r, 0.3, n, k), b = gauss(r, 1, n);
            for (DType wt : List.of(DType.F32, DType.BF16, DType.F16))
                for (Tensor bias : Arrays.asList(null, b))
                    op("linear M=" + m + " N=" + n + " K=" + k + " " + wt + (bias == null ? " no bias" : ""))
                            .in("x", x).in("w", w.to(wt)).in("bias", bias)
                            .out("out", nan(m, n), wt == DType.F32 ? FAST_VS_REFERENCE : halfWeightLinearTolerance(m))
                            .run((be, t) -> be.linear(t.get("x"), t.get("w"), t.get("bias"), t.get("out")));
        }
    }

    /** A linear split by columns at once: parts of the weight's rows, at decode and prefill row counts, odd part widths. */
    @ParameterizedTest
    @ValueSource(ints = {1, 3, 9, 33})
    @Covers("linearParts")
    void linearIntoColumnPartsOfEachWeightDtype(int m) {
        Random r = new Random(m + 555);
        for (int[] widths : new int[][]{{8, 8}, {5, 16, 3}, {64, 1, 31}}) {
            int n = Arrays.stream(widths).sum(), k = 40;
            Tensor x = gauss(r, 1, m, k), w = gauss(r, 0.3, n, k), b = gauss(r, 1, n);
            for (DType wt : List.of(DType.F32, DType.BF16, DType.F16))
                for (Tensor bias : Arrays.asList(null, b)) {
                    OpCase c = op("linearParts M=" + m + " " + Arrays.toString(widths) + " " + wt + (bias == null ? " no bias" : ""))
                            .in("x", x).in("w", w.to(wt)).in("bias", bias).in("full", nan(m, n));
                    double tol = wt == DType.F32 ? FAST_VS_REFERENCE : halfWeightLinearTolerance(m);
                    for (int i = 0; i < widths.length; i++) c.out("part" + i, nan(m, widths[i]), tol);
                    c.run((be, t) -> {
                        Tensor[] parts = new Tensor[widths.length];
                        for (int i = 0; i < parts.length; i++) parts[i] = t.get("part" + i);
                        be.linearParts(t.get("x"), t.get("w"), t.get("bias"), t.get("full"), parts);
                    });
                }
        }
    }

    /**
     * A decode step's in_proj and conv at once (one sequence): the product of each weight dtype, and the conv step of a
     * range of its columns (first, middle, last, the whole), with and without biases, silu or not; the same as the
     * linear then the conv step on the reference.
     */
    @ParameterizedTest
    @CsvSource({"40, 0, 16, 4", "40, 10, 17, 4", "40, 28, 12, 3", "24, 0, 24, 4"})
    @Covers("linearConvStep")
    void linearConvStepIsTheLinearThenTheConvStep(int n, int from, int c, int kw) {
        Random r = new Random(n * 7L + from + c);
        int k = 64;
        Tensor x = gauss(r, 1, 1, k), w = gauss(r, 0.3, n, k), b = gauss(r, 1, n), cw = gauss(r, 1, c, kw), cb = gauss(r, 1, c);
        for (DType wt : List.of(DType.F32, DType.BF16, DType.F16))
            for (boolean biases : new boolean[]{true, false})
                for (boolean silu : new boolean[]{true, false}) {
                    Tensor bias = biases ? b : null, convBias = biases ? cb : null, state = gauss(r, 1, 1, c, kw);
                    double tol = wt == DType.F32 ? FAST_VS_REFERENCE : halfWeightLinearTolerance(1);
                    op("linearConvStep N=" + n + " conv [" + from + ", " + (from + c) + ") K'=" + kw + " " + wt + (biases ? "" : " no biases")
                            + (silu ? " silu" : "")).in("x", x).in("w", w.to(wt)).in("bias", bias).in("cw", cw).in("cb", convBias)
                            .out("out", nan(1, n), tol).out("state", state, tol).out("convOut", nan(1, c), tol)
                            .run((be, t) -> be.linearConvStep(t.get("x"), t.get("w"), t.get("bias"), t.get("out"), from, t.get("state"),
                                    t.get("cw"), t.get("cb"), silu, t.get("convOut")));
                    Tensor out = nan(1, n), st = state.copy(), convOut = nan(1, c), want = nan(1, c), wantSt = state.copy();
                    REF.linearConvStep(x, w.to(wt), bias, out, from, st, cw, convBias, silu, convOut);
                    REF.causalConv1dStep(wantSt, out.view(from, 1, c), cw, convBias, silu, want);
                    Compare.assertRelClose("linearConvStep == linear, conv step", want, convOut, 0);
                    Compare.assertRelClose("linearConvStep == linear, conv step: state", wantSt, st, 0);
                }
    }

    /**
     * Q8_0 and Q4_0 weights (K a multiple of the block of 32): decode rows (the cpu backend's GEMV below 32 rows) and
     * prefill rows (its packed GEMM), N with tails of the 4-row groups and of the GEMM's panels.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 8, 17, 31, 33, 65})
    @Covers("linear")
    void linearOfQuantisedWeightsWithAndWithoutBias(int m) {
        takesQuantisedWeights();
        Random r = new Random(m + 1000);
        for (int[] nk : new int[][]{{5, 32}, {16, 64}, {17, 96}, {64, 256}, {130, 160}, {3, 768}}) {
            int n = nk[0], k = nk[1];
            Tensor x = gauss(r, 1, m, k), w = gauss(r, 0.3, n, k), b = gauss(r, 1, n);
            for (DType wt : List.of(DType.Q8_0, DType.Q4_0))
                for (Tensor bias : Arrays.asList(null, b))
                    op("linear M=" + m + " N=" + n + " K=" + k + " " + wt + (bias == null ? " no bias" : ""))
                            .in("x", x).in("w", w.to(wt)).in("bias", bias).out("out", nan(m, n), QUANTISED_VS_REFERENCE)
                            .run((be, t) -> be.linear(t.get("x"), t.get("w"), t.get("bias"), t.get("out")));
        }
    }

    /** The front refuses a quantised weight whose rows are not whole blocks, and quantised operands anywhere else. */
    @Test
    void quantisedTensorsAreRefusedOutsideLinearAndEmbedding() {
        Backend be = backend();
        Tensor w = be.upload(gauss(new Random(2), 1, 4, 64).to(DType.Q4_0)), x = be.zeros(2, 64), out = be.zeros(2, 4);
        var e = assertThrows(IllegalArgumentException.class, () -> be.rmsNorm(x, w, 1e-5f, x));
        assertTrue(e.getMessage().startsWith("rmsNorm:") && e.getMessage().contains("Q4_0"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> be.linear(w, w, null, out));
        assertTrue(e2.getMessage().startsWith("linear:") && e2.getMessage().contains("linear and embedding"), e2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> be.fill(w, 1f));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    @Covers("matmul")
    void matmulEveryTransposeAccumulatingAndNot(int flags) {
        boolean ta = (flags & 1) != 0, tb = (flags & 2) != 0;
        Random r = new Random(flags);
        for (int[] mkn : new int[][]{{1, 1, 1}, {7, 13, 5}, {6, 16, 32}, {8, 17, 15}, {49, 33, 129}, {50, 300, 70}, {100, 37, 200}}) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            Tensor a = ta ? gauss(r, 1, k, m) : gauss(r, 1, m, k), b = tb ? gauss(r, 1, n, k) : gauss(r, 1, k, n);
            String what = "matmul " + (ta ? "aᵀ" : "a") + (tb ? "bᵀ" : "b") + " " + m + "x" + k + "x" + n;
            for (boolean acc : new boolean[]{true, false})
                op(what + (acc ? " accumulate" : "")).in("a", a).in("b", b).out("out", acc ? gauss(r, 1, m, n) : nan(m, n), LONG_REDUCTION)
                        .run((be, t) -> be.matmul(t.get("a"), ta, t.get("b"), tb, t.get("out"), acc));
        }
    }

    @ParameterizedTest
    @MethodSource("widths")
    @Covers("sumRows")
    void sumRowsAccumulatingAndNot(int n) {
        Random r = new Random(n);
        for (int m : new int[]{1, 37}) {
            Tensor x = gauss(r, 1, m, n);
            op("sumRows " + m + "x" + n).in("x", x).out("out", nan(n), FAST_VS_REFERENCE).run((be, t) -> be.sumRows(t.get("x"), t.get("out"), false));
            op("sumRows accumulate " + m + "x" + n).in("x", x).out("out", gauss(r, 1, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.sumRows(t.get("x"), t.get("out"), true));
        }
    }

    // ------------------------------------------------------------------ elementwise, norms

    @ParameterizedTest
    @MethodSource("elementwiseSizes")
    @Covers({"add", "mul", "addRow", "negExp", "scale"})
    void arithmeticIncludingInPlace(int n) {
        Random r = new Random(n);
        for (int m : rowsFor(n)) {
            Tensor a = gauss(r, 2, m, n), b = gauss(r, 2, m, n), row = gauss(r, 1, n);
            String s = " " + m + "x" + n;
            op("add" + s).in("a", a).in("b", b).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.add(t.get("a"), t.get("b"), t.get("out")));
            op("add in place" + s).in("b", b).out("a", a, FAST_VS_REFERENCE).run((be, t) -> be.add(t.get("a"), t.get("b"), t.get("a")));
            op("mul" + s).in("a", a).in("b", b).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.mul(t.get("a"), t.get("b"), t.get("out")));
            op("mul in place" + s).in("a", a).out("b", b, FAST_VS_REFERENCE).run((be, t) -> be.mul(t.get("a"), t.get("b"), t.get("b")));
            op("addRow" + s).in("x", a).in("row", row).out("out", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.addRow(t.get("x"), t.get("row"), t.get("out")));
            op("addRow in place" + s).in("row", row).out("x", a, FAST_VS_REFERENCE).run((be, t) -> be.addRow(t.get("x"), t.get("row"), t.get("x")));
            op("negExp" + s).in("x", a).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.negExp(t.get("x"), t.get("out")));
            op("negExp in place" + s).out("x", a, FAST_VS_REFERENCE).run((be, t) -> be.negExp(t.get("x"), t.get("x")));
            op("scale" + s).out("x", a, FAST_VS_REFERENCE).run((be, t) -> be.scale(t.get("x"), 0.37f));
        }
    }

    /** x with entries past softplus's threshold (±25) and around 0, so both branches of every activation run. */
    private static Tensor activationInput(Random r, int m, int n) {
        Tensor x = gauss(r, 4, m, n);
        x.setFloat(0, 25f);
        if (x.numel() > 1) x.setFloat(x.numel() - 1, -25f);
        if (x.numel() > 2) x.setFloat(1, 20.5f);
        return x;
    }

    @ParameterizedTest
    @MethodSource("elementwiseSizes")
    @Covers({"silu", "siluBackward", "softplus", "softplusBackward", "mulSilu", "mulSiluBackward", "geluTanh", "geluTanhBackward"})
    void activationsAndTheirBackwards(int n) {
        Random r = new Random(n);
        for (int m : rowsFor(n)) {
            Tensor x = activationInput(r, m, n), y = gauss(r, 1, m, n), dy = gauss(r, 1, m, n);
            String s = " " + m + "x" + n;
            op("silu" + s).in("x", x).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.silu(t.get("x"), t.get("out")));
            op("softplus" + s).in("x", x).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.softplus(t.get("x"), t.get("out")));
            op("geluTanh" + s).in("x", x).out("out", nan(m, n), FAST_VS_REFERENCE).run((be, t) -> be.geluTanh(t.get("x"), t.get("out")));
            op("mulSilu" + s).in("y", y).in("z", x).out("out", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.mulSilu(t.get("y"), t.get("z"), t.get("out")));
            op("siluBackward" + s).in("x", x).in("dy", dy).out("dx", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.siluBackward(t.get("x"), t.get("dy"), t.get("dx")));
            op("softplusBackward" + s).in("x", x).in("dy", dy).out("dx", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.softplusBackward(t.get("x"), t.get("dy"), t.get("dx")));
            op("geluTanhBackward" + s).in("x", x).in("dy", dy).out("dx", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.geluTanhBackward(t.get("x"), t.get("dy"), t.get("dx")));
            op("mulSiluBackward" + s).in("y", y).in("z", x).in("dOut", dy).out("dy", nan(m, n), FAST_VS_REFERENCE).out("dz", nan(m, n), FAST_VS_REFERENCE)
                    .run((be, t) -> be.mulSiluBackward(t.get("y"), t.get("z"), t.get("dOut"), t.get("dy"), t.get("dz")));
        }
    }

    @ParameterizedTest
    @MethodSource("widths")
    @Covers("rmsNorm")
    void rmsNormRows(int d) {
        Random r = new Random(d);
        for (int m : new int[]{1, 37}) {
            Tensor x = gauss(r, 2, m, d), w = gauss(r, 1, d);
            op("rmsNorm " + m + "x" + d).in("x", x).in("w", w).out("out", nan(m, d), FAST_VS_REFERENCE)
                    .run((be, t) -> be.rmsNorm(t.get("x"), t.get("w"), 1e-5f, t.get("out")));
        }
    }

    /**
     * The device's pick equals {@link Sampling#pick} on the host for every setting, row by row: greedy, full
     * softmax, top-k, top-p, both, settings differing between rows of one call, rows full of ties (the order is
     * score descending then id ascending), and padded columns past the vocabulary that must never be chosen.
     */
    @Test
    @Covers("sample")
    void sampleEqualsTheHostDefinitionForEverySetting() {
        Backend be = backend();
        Random r = new Random(77);
        int rows = 7, width = 1030, vocab = 1000;
        float[] host = new float[rows * width];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < width; j++) {
                float g = (float) (r.nextGaussian() * 3);
                host[i * width + j] = j >= vocab ? 100f : i % 3 == 1 ? Math.round(g) / 2f : g;   // every third row: ties
            }
        Tensor logits = be.upload(Tensor.of(host, rows, width));
        float[][] settings = {{0, 0, 1}, {1, 0, 1}, {0.7f, 5, 1}, {1.3f, 0, 0.9f}, {1, 1, 1}, {0.9f, 50, 0.5f}, {1, 0, 0.01f},
                {2, 3, 0.99f}, {0.5f, 1000, 1}, {1, 0, 0.3f}};
        for (int round = 0; round < 6; round++) {
            Sampling[] each = new Sampling[rows];
            for (int i = 0; i < rows; i++) {
                float[] s = settings[(i + round * 3) % settings.length];
                each[i] = new Sampling(s[0], (int) s[1], s[2], r.nextDouble());
            }
            int[] got = be.sample(logits, vocab, each);
            for (int i = 0; i < rows; i++)
                assertEquals(each[i].pick(host, i * width, vocab), got[i], "row " + i + " " + each[i]);
        }
    }

    @ParameterizedTest
    @MethodSource("widths")
    @Covers("addRmsNorm")
    void addRmsNormAddsInPlaceThenNorms(int d) {
        Random r = new Random(d + 1000);
        for (int m : new int[]{1, 37}) {
            Tensor o = gauss(r, 1, m, d), w = gauss(r, 1, d);
            op("addRmsNorm " + m + "x" + d).in("o", o).in("w", w).out("h", gauss(r, 2, m, d), FAST_VS_REFERENCE).out("out", nan(m, d), FAST_VS_REFERENCE)
                    .run((be, t) -> be.addRmsNorm(t.get("h"), t.get("o"), t.get("w"), 1e-5f, t.get("out")));
        }
    }

    /** The gated norm is the gate's product then the norm (Kernels' definition), whatever one kernel a backend runs for it. */
    @ParameterizedTest
    @MethodSource("widths")
    @Covers("rmsNormGated")
    void rmsNormGatedIsTheGateThenTheNorm(int d) {
        Random r = new Random(d + 2000);
        for (int m : new int[]{1, 37}) {
            Tensor y = gauss(r, 1, m, d), z = gauss(r, 2, m, d), w = gauss(r, 1, d);
            op("rmsNormGated " + m + "x" + d).in("y", y).in("z", z).in("w", w).out("out", nan(m, d), FAST_VS_REFERENCE)
                    .run((be, t) -> be.rmsNormGated(t.get("y"), t.get("z"), t.get("w"), 1e-5f, t.get("out")));
            Tensor gated = Tensor.zeros(DType.F32, m, d), want = Tensor.zeros(DType.F32, m, d), got = Tensor.zeros(DType.F32, m, d);
            REF.mulSilu(y, z, gated);
            REF.rmsNorm(gated, w, 1e-5f, want);
            REF.rmsNormGated(y, z, w, 1e-5f, got);
            Compare.assertRelClose("rmsNormGated == rmsNorm(mulSilu) " + m + "x" + d, want, got, FAST_VS_REFERENCE);
        }
    }

    @ParameterizedTest
    @MethodSource("normWidths")
    @Covers("rmsNormBackward")
    void rmsNormBackwardWritesDxAccumulatesDw(int d) {
        Random r = new Random(d);
        for (int m : new int[]{1, 37}) {
            Tensor x = gauss(r, 2, m, d), w = gauss(r, 1, d), dy = gauss(r, 1, m, d);
            op("rmsNormBackward " + m + "x" + d).in("x", x).in("w", w).in("dy", dy)
                    .out("dx", nan(m, d), FAST_VS_REFERENCE).out("dw", gauss(r, 1, d), FAST_VS_REFERENCE)
                    .run((be, t) -> be.rmsNormBackward(t.get("x"), t.get("w"), 1e-5f, t.get("dy"), t.get("dx"), t.get("dw")));
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 1", "1, 3", "7, 8", "7, 33", "50, 100", "3, 64", "2, 65"})
    @Covers({"layerNorm", "layerNormBackward"})
    void layerNormAndItsBackwardWithAndWithoutBias(int m, int d) {
        Random r = new Random(m * 1000L + d);
        Tensor x = gauss(r, 2, m, d), w = gauss(r, 1, d), b = gauss(r, 1, d), dy = gauss(r, 1, m, d);
        for (Tensor bias : Arrays.asList(b, null)) {
            String s = " " + m + "x" + d + (bias == null ? " no bias" : "");
            op("layerNorm" + s).in("x", x).in("w", w).in("b", bias).out("out", nan(m, d), FAST_VS_REFERENCE)
                    .run((be, t) -> be.layerNorm(t.get("x"), t.get("w"), t.get("b"), 1e-5f, t.get("out")));
            OpCase c = op("layerNormBackward" + s).in("x", x).in("w", w).in("dy", dy)
                    .out("dx", nan(m, d), LONG_REDUCTION).out("dw", gauss(r, 1, d), LONG_REDUCTION);
            if (bias != null) c.out("db", gauss(r, 1, d), LONG_REDUCTION);
            else c.in("db", null);
            c.run((be, t) -> be.layerNormBackward(t.get("x"), t.get("w"), 1e-5f, t.get("dy"), t.get("dx"), t.get("dw"), t.get("db")));
        }
    }

    // ------------------------------------------------------------------ losses and the optimizer

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 16, 17, 33, 1001})
    @Covers("crossEntropy")
    void crossEntropyWithIgnoredRowsWithAndWithoutGradient(int v) {
        Random r = new Random(v);
        int m = 7;
        int[] targets = {v - 1, -100, 0, v / 2, Math.min(v - 1, 5), -100, v / 3};
        Tensor logits = gauss(r, 3, m, v);
        for (DType lossType : List.of(DType.F64, DType.F32)) {
            Tensor loss0 = Tensor.zeros(lossType, 1);
            loss0.fill(Float.NaN);
            op("crossEntropy V=" + v + " loss " + lossType).in("logits", logits).out("dLogits", nan(m, v), FAST_VS_REFERENCE)
                    .out("loss", loss0, DOUBLE_SCALAR)
                    .run((be, t) -> be.crossEntropy(t.get("logits"), be.ids(targets), 0.5f, t.get("dLogits"), t.get("loss")));
            op("crossEntropy loss only V=" + v + " " + lossType).in("logits", logits).in("dLogits", null).out("loss", loss0, DOUBLE_SCALAR)
                    .run((be, t) -> be.crossEntropy(t.get("logits"), be.ids(targets), 1f, null, t.get("loss")));
        }
        // dLogits may alias logits (the loss reads every logit before a gradient is written): same bits as out of place
        Backend be = backend();
        Tensor apart = up(nan(m, v)), inPlace = up(logits), l1 = be.zeros(DType.F64, 1), l2 = be.zeros(DType.F64, 1);
        be.crossEntropy(up(logits), be.ids(targets), 0.5f, apart, l1);
        be.crossEntropy(inPlace, be.ids(targets), 0.5f, inPlace, l2);
        assertEquals(be.item(l1), be.item(l2), 0.0, "loss in place");
        Compare.assertRelClose("dLogits in place", down(inPlace), down(apart), EXACT);
    }

    @ParameterizedTest
    @MethodSource("widths")
    @Covers("sumSquares")
    void sumSquaresAccumulatingAndNot(int n) {
        Random r = new Random(n);
        Tensor x = gauss(r, 2, 3, n);
        for (DType outType : List.of(DType.F64, DType.F32)) {
            Tensor fresh = Tensor.zeros(outType, 1), start = Tensor.zeros(outType, 1);
            fresh.fill(Float.NaN);
            start.fill(1.25f);
            op("sumSquares " + n + " " + outType).in("x", x).out("out", fresh, DOUBLE_SCALAR).run((be, t) -> be.sumSquares(t.get("x"), t.get("out"), false));
            op("sumSquares accumulate " + n + " " + outType).in("x", x).out("out", start, DOUBLE_SCALAR)
                    .run((be, t) -> be.sumSquares(t.get("x"), t.get("out"), true));
        }
    }

    /** MOHAWK's three losses: value and gradients (added into a non-zero start), with and without the gradients. */
    @ParameterizedTest
    @CsvSource({"1, 1, 1, 1, 1", "2, 7, 4, 2, 3", "1, 17, 3, 3, 16", "2, 33, 2, 1, 5"})
    @Covers({"matrixDistance", "rowDistance", "softCrossEntropy"})
    void distillationLossesWithAndWithoutGradients(int b, int t, int h, int g, int n) {
        Random r = new Random(31L * t + n);
        Tensor logA = gauss(r, 0.5, b, t, h);
        for (long i = 0; i < logA.numel(); i++) logA.setFloat(i, -Math.abs(logA.getFloat(i)));        // decays in (0, 1]
        Tensor bm = gauss(r, 1, b, t, g, n), cm = gauss(r, 1, b, t, g, n), d = gauss(r, 1, h), target = gauss(r, 0.3, b, h, t, t);
        for (Tensor dd : java.util.Arrays.asList(d, null)) {
            OpCase c = op("matrixDistance B" + b + " T" + t + " H" + h + " G" + g + " N" + n + (dd == null ? " no D" : ""))
                    .in("logA", logA).in("bm", bm).in("cm", cm).in("d", dd).in("target", target)
                    .out("dLogA", gauss(r, 1, b, t, h), FAST_VS_REFERENCE).out("dBm", gauss(r, 1, b, t, g, n), FAST_VS_REFERENCE)
                    .out("dCm", gauss(r, 1, b, t, g, n), FAST_VS_REFERENCE).out("loss", Tensor.zeros(DType.F64, 1), DOUBLE_SCALAR);
            if (dd == null) c.in("dD", null);
            else c.out("dD", gauss(r, 1, h), FAST_VS_REFERENCE);
            c.run((be, x) -> be.matrixDistance(x.get("logA"), x.get("bm"), x.get("cm"), x.get("d"), x.get("target"), x.get("dLogA"),
                            x.get("dBm"), x.get("dCm"), x.get("dD"), x.get("loss")));
        }
        op("matrixDistance loss only T" + t).in("logA", logA).in("bm", bm).in("cm", cm).in("d", d).in("target", target)
                .out("loss", Tensor.zeros(DType.F32, 1), DOUBLE_SCALAR)
                .run((be, x) -> be.matrixDistance(x.get("logA"), x.get("bm"), x.get("cm"), x.get("d"), x.get("target"), null, null, null, null, x.get("loss")));
        int m = b * t, v = 3 * n + 1;
        Tensor xs = gauss(r, 1, m, v), ys = gauss(r, 1, m, v);
        ys.setFloat(0, xs.getFloat(0));
        op("rowDistance M" + m + " D" + v).in("x", xs).in("y", ys).out("dx", gauss(r, 1, m, v), FAST_VS_REFERENCE)
                .out("loss", Tensor.zeros(DType.F64, 1), DOUBLE_SCALAR)
                .run((be, x) -> be.rowDistance(x.get("x"), x.get("y"), x.get("dx"), x.get("loss")));
        for (double tau : new double[]{1, 2.5})
            op("softCrossEntropy M" + m + " V" + v + " tau " + tau).in("s", xs).in("t", ys).out("ds", gauss(r, 1, m, v), FAST_VS_REFERENCE)
                    .out("loss", Tensor.zeros(DType.F64, 1), DOUBLE_SCALAR)
                    .run((be, x) -> be.softCrossEntropy(x.get("s"), x.get("t"), tau, x.get("ds"), x.get("loss")));
        op("softCrossEntropy loss only").in("s", xs).in("t", ys).out("loss", Tensor.zeros(DType.F32, 1), DOUBLE_SCALAR)
                .run((be, x) -> be.softCrossEntropy(x.get("s"), x.get("t"), 1, null, x.get("loss")));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 17, 64, 1003})
    @Covers("adamW")
    void adamWThreeSteps(int n) {
        Random r = new Random(n);
        for (float wd : new float[]{0f, 0.1f}) {
            List<Tensor> grads = List.of(gauss(r, 0.1, n), gauss(r, 0.1, n), gauss(r, 0.1, n));
            op("adamW n=" + n + " wd=" + wd).in("g1", grads.get(0)).in("g2", grads.get(1)).in("g3", grads.get(2))
                    .out("p", gauss(r, 1, n), FAST_VS_REFERENCE).out("m", Tensor.zeros(DType.F32, n), FAST_VS_REFERENCE)
                    .out("v", Tensor.zeros(DType.F32, n), FAST_VS_REFERENCE)
                    .run((be, t) -> {
                        for (int step = 1; step <= 3; step++)
                            be.adamW(t.get("p"), t.get("g" + step), t.get("m"), t.get("v"), 1e-3f, 0.9f, 0.95f, 1e-8f, wd, step);
                    });
        }
    }

    // ------------------------------------------------------------------ causal conv

    @ParameterizedTest
    @CsvSource({"1, 4", "5, 4", "8, 2", "16, 4", "17, 3", "37, 4", "64, 4"})
    @Covers({"causalConv1d", "causalConv1dBackward"})
    void causalConvAndItsBackward(int c, int k) {
        Random r = new Random(c * 10L + k);
        int b = 2;
        for (int l : new int[]{1, 3, 11}) {
            Tensor x = gauss(r, 1, b, l, c), w = gauss(r, 0.5, c, k), bias = gauss(r, 0.5, c), dOut = gauss(r, 1, b, l, c);
            for (boolean silu : new boolean[]{false, true})
                for (Tensor bs : Arrays.asList(bias, null)) {
                    String s = " C=" + c + " K=" + k + " L=" + l + (silu ? " silu" : "") + (bs == null ? " no bias" : "");
                    op("causalConv1d" + s).in("x", x).in("w", w).in("bias", bs).out("out", nan(b, l, c), FAST_VS_REFERENCE)
                            .run((be, t) -> be.causalConv1d(t.get("x"), t.get("w"), t.get("bias"), silu, t.get("out")));
                    OpCase back = op("causalConv1dBackward" + s).in("x", x).in("w", w).in("bias", bs).in("dOut", dOut)
                            .out("dx", nan(b, l, c), FAST_VS_REFERENCE).out("dw", gauss(r, 1, c, k), FAST_VS_REFERENCE);
                    if (bs != null) back.out("dbias", gauss(r, 1, c), FAST_VS_REFERENCE);
                    else back.in("dbias", null);
                    back.run((be, t) -> be.causalConv1dBackward(t.get("x"), t.get("w"), t.get("bias"), silu, t.get("dOut"),
                            t.get("dx"), t.get("dw"), t.get("dbias")));
                }
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 4", "5, 4", "16, 4", "17, 3", "37, 4", "80, 4"})
    @Covers("causalConv1dStep")
    void convStepsMatchTheReferenceAndTheWholeSequenceConv(int c, int k) {
        Random r = new Random(c + 7L * k);
        int b = 2, l = 9;
        Tensor x = gauss(r, 1, b, l, c), w = gauss(r, 1, c, k), bias = gauss(r, 1, c);
        for (boolean silu : new boolean[]{false, true}) {
            for (Tensor bs : Arrays.asList(bias, null))
                op("causalConv1dStep C=" + c + " K=" + k + (silu ? " silu" : "") + (bs == null ? " no bias" : "")).in("x", gauss(r, 1, b, c))
                        .in("w", w).in("bias", bs).out("state", gauss(r, 1, b, c, k), FAST_VS_REFERENCE).out("out", nan(b, c), FAST_VS_REFERENCE)
                        .run((be, t) -> be.causalConv1dStep(t.get("state"), t.get("x"), t.get("w"), t.get("bias"), silu, t.get("out")));
            // step by step from a zero state reproduces the whole-sequence conv
            Backend be = backend();
            Tensor xd = up(x), wd = up(w), bd = up(bias), whole = up(nan(b, l, c)), stepped = up(nan(b, l, c));
            be.causalConv1d(xd, wd, bd, silu, whole);
            Tensor state = be.zeros(b, c, k), ot = be.zeros(b, c);
            for (int t = 0; t < l; t++) {
                be.causalConv1dStep(state, time(xd, t, t + 1).reshape(b, c), wd, bd, silu, ot);
                putTime(stepped, t, ot.reshape(b, 1, c));
            }
            Compare.assertRelClose("conv steps == conv C=" + c, down(stepped), down(whole), FAST_VS_REFERENCE);
        }
    }

    /** Channels, kernel width and the part widths of the split-conv cases: one part, two, three, odd widths. */
    static Stream<Arguments> convParts() {
        return Stream.of(Arguments.of(40, 4, "40"), Arguments.of(40, 4, "24,16"), Arguments.of(37, 4, "20,9,8"),
                Arguments.of(130, 3, "64,33,33"), Arguments.of(5, 2, "1,1,3"));
    }

    private static long[] partWidths(String list) { return Arrays.stream(list.split(",")).mapToLong(Long::parseLong).toArray(); }

    /** A decode conv step with its output split by channels (Mamba-2's x | B | C at batch > 1), 1 to 3 parts. */
    @ParameterizedTest
    @MethodSource("convParts")
    @Covers("causalConv1dStepParts")
    void convStepPartsAreTheStepThenTheSplit(int c, int k, String widthList) {
        long[] widths = partWidths(widthList);
        Random r = new Random(c * 17L + k + widths.length);
        int b = 3;
        Tensor w = gauss(r, 1, c, k), bias = gauss(r, 1, c);
        for (boolean silu : new boolean[]{false, true}) {
            OpCase oc = op("causalConv1dStepParts C=" + c + " K=" + k + " parts " + widthList + (silu ? " silu" : ""))
                    .in("x", gauss(r, 1, b, c)).in("w", w).in("bias", bias).in("whole", nan(b, c))
                    .out("state", gauss(r, 1, b, c, k), FAST_VS_REFERENCE);
            for (int i = 0; i < widths.length; i++) oc.out("part" + i, nan(b, (int) widths[i]), FAST_VS_REFERENCE);
            oc.run((be, t) -> {
                Tensor[] parts = new Tensor[widths.length];
                for (int i = 0; i < parts.length; i++) parts[i] = t.get("part" + i);
                be.causalConv1dStepParts(t.get("state"), t.get("x"), t.get("w"), t.get("bias"), silu, t.get("whole"), parts);
            });
        }
    }

    /** The conv with its output split by channels (Mamba-2's x | B | C), from a state and without, 1 to 3 parts. */
    @ParameterizedTest
    @MethodSource("convParts")
    @Covers("causalConv1dSplit")
    void convSplitIsTheConvThenTheSplit(int c, int k, String widthList) {
        long[] widths = partWidths(widthList);
        Random r = new Random(c * 13L + k + widths.length);
        int b = 2;
        for (int l : new int[]{1, 3, 70})
            for (boolean withState : new boolean[]{true, false}) {
                Tensor x = gauss(r, 1, b, l, c), w = gauss(r, 1, c, k), bias = gauss(r, 1, c), state = gauss(r, 1, b, c, k);
                OpCase op = op("causalConv1dSplit C=" + c + " K=" + k + " parts " + widthList + " L=" + l + (withState ? " from a state" : ""))
                        .in("x", x).in("w", w).in("bias", bias);
                if (withState) op.out("state", state, FAST_VS_REFERENCE);
                else op.in("state", null);
                for (int i = 0; i < widths.length; i++) op.out("part" + i, nan(b, l, widths[i]), FAST_VS_REFERENCE);
                op.run((be, t) -> {
                    Tensor[] parts = new Tensor[widths.length];
                    for (int i = 0; i < parts.length; i++) parts[i] = t.get("part" + i);
                    be.causalConv1dSplit(t.get("state"), t.get("x"), t.get("w"), t.get("bias"), true, parts);
                });
            }
    }

    @ParameterizedTest
    @CsvSource({"1, 4", "5, 4", "16, 4", "17, 3", "37, 4", "80, 4", "33, 2"})
    @Covers("causalConv1dContinue")
    void convContinuingAStateMatchesTheReferenceAndTheWholeSequence(int c, int k) {
        Random r = new Random(c * 31L + k);
        int b = 2;
        for (int l : new int[]{1, 2, 3, 11, 70})                         // shorter than the window too: the state keeps history
            for (boolean silu : new boolean[]{false, true})
                for (Tensor bs : Arrays.asList(gauss(r, 1, c), null))
                    op("causalConv1dContinue C=" + c + " K=" + k + " L=" + l + (silu ? " silu" : "") + (bs == null ? " no bias" : ""))
                            .in("x", gauss(r, 1, b, l, c)).in("w", gauss(r, 1, c, k)).in("bias", bs)
                            .out("state", gauss(r, 1, b, c, k), FAST_VS_REFERENCE).out("out", nan(b, l, c), FAST_VS_REFERENCE)
                            .run((be, t) -> be.causalConv1dContinue(t.get("state"), t.get("x"), t.get("w"), t.get("bias"), silu, t.get("out")));
        // from a zero state it is the whole-sequence conv; a prompt in three pieces equals it in one, state included
        Backend be = backend();
        int l = 13;
        Tensor x = up(gauss(r, 1, b, l, c)), w = up(gauss(r, 1, c, k)), bias = up(gauss(r, 1, c));
        Tensor whole = up(nan(b, l, c)), once = up(nan(b, l, c)), pieces = up(nan(b, l, c));
        be.causalConv1d(x, w, bias, true, whole);
        Tensor s1 = be.zeros(b, c, k), s3 = be.zeros(b, c, k);
        be.causalConv1dContinue(s1, x, w, bias, true, once);
        Compare.assertRelClose("conv continuing a zero state == conv C=" + c, down(once), down(whole), FAST_VS_REFERENCE);
        int[] cuts = {0, 2, 7, l};
        for (int i = 0; i + 1 < cuts.length; i++) {
            Tensor part = up(nan(b, cuts[i + 1] - cuts[i], c));
            be.causalConv1dContinue(s3, time(x, cuts[i], cuts[i + 1]), w, bias, true, part);
            putTime(pieces, cuts[i], part);
        }
        Compare.assertRelClose("conv in pieces == in one C=" + c, down(pieces), down(once), FAST_VS_REFERENCE);
        Compare.assertRelClose("conv state in pieces == in one C=" + c, down(s3), down(s1), EXACT);
    }

    // ------------------------------------------------------------------ selective scan (Mamba-1)

    /** Scan inputs on the host: u, Δ, Δ bias, A, B, C, D, z, h_0. */
    protected record ScanInputs(Tensor u, Tensor delta, Tensor bias, Tensor a, Tensor bm, Tensor cm, Tensor d, Tensor z, Tensor state0,
                                boolean softplus) {
        /** full: every optional input and softplus(Δ + bias); plain: none of them, Δ given directly (positive). */
        static ScanInputs random(Random r, int b, int l, int e, int n, boolean full) {
            Tensor delta = gauss(r, full ? 1 : 0.5, b, l, e);
            if (!full) for (long i = 0; i < delta.numel(); i++) delta.setFloat(i, Math.abs(delta.getFloat(i)) + 0.05f);
            return new ScanInputs(gauss(r, 1, b, l, e), delta, full ? gauss(r, 0.5, e) : null, negA(r, e, n), gauss(r, 1, b, l, n),
                    gauss(r, 1, b, l, n), full ? gauss(r, 1, e) : null, full ? gauss(r, 1, b, l, e) : null,
                    full ? gauss(r, 1, b, e, n) : null, full);
        }

        /** The mixed case: softplus(Δ) without a bias, D and h_0 but no gate z. */
        static ScanInputs mixed(Random r, int b, int l, int e, int n) {
            return new ScanInputs(gauss(r, 1, b, l, e), gauss(r, 1, b, l, e), null, negA(r, e, n), gauss(r, 1, b, l, n), gauss(r, 1, b, l, n),
                    gauss(r, 1, e), null, gauss(r, 1, b, e, n), true);
        }

        int b() { return u.size(0); }
        int l() { return u.size(1); }
        int e() { return u.size(2); }
        int n() { return a.size(1); }

        /** Declares the inputs (and the state, an output when present) on an op case. */
        OpCase declare(OpCase c, double stateTol) {
            c.in("u", u).in("delta", delta).in("bias", bias).in("a", a).in("B", bm).in("C", cm).in("D", d).in("z", z);
            return state0 == null ? c.in("state", null) : c.out("state", state0, stateTol);
        }

        SelectiveScan args(OpCase.Args t, Tensor state, Tensor out) {
            return new SelectiveScan(t.get("u"), t.get("delta"), t.get("bias"), softplus, t.get("a"), t.get("B"), t.get("C"), t.get("D"),
                    t.get("z"), state, out);
        }
    }

    /** (B, L, E, N): odd channel and state sizes, single steps (decode), L spanning several chunks. */
    static Stream<Arguments> scanShapes() {
        return Stream.of(Arguments.of(2, 23, 3, 16), Arguments.of(2, 23, 16, 16), Arguments.of(2, 23, 17, 19), Arguments.of(1, 1, 21, 4), Arguments.of(3, 1, 21, 19),
                Arguments.of(3, 1, 64, 16), Arguments.of(1, 65, 8, 1), Arguments.of(2, 23, 40, 8));
    }

    @ParameterizedTest(name = "B={0} L={1} E={2} N={3}")
    @MethodSource("scanShapes")
    @Covers("selectiveScan")
    void selectiveScanWithAndWithoutOptionalInputs(int b, int l, int e, int n) {
        Random r = new Random(b * 1000L + l * 100L + e * 10L + n);
        for (String variant : List.of("full", "plain", "mixed")) {
            ScanInputs in = variant.equals("mixed") ? ScanInputs.mixed(r, b, l, e, n) : ScanInputs.random(r, b, l, e, n, variant.equals("full"));
            in.declare(op("selectiveScan B=" + b + " L=" + l + " E=" + e + " N=" + n + " " + variant), FAST_VS_REFERENCE)
                    .out("out", nan(b, l, e), FAST_VS_REFERENCE)
                    .run((be, t) -> be.selectiveScan(in.args(t, t.get("state"), t.get("out"))));
        }
    }

    /** (B, E, N, R): batch 1 and several, odd sizes, R below and above a lane group. */
    static Stream<Arguments> scanStepShapes() {
        return Stream.of(Arguments.of(1, 21, 4, 5), Arguments.of(3, 64, 16, 8), Arguments.of(2, 40, 19, 3), Arguments.of(1, 33, 16, 40),
                Arguments.of(4, 17, 1, 2));
    }

    @ParameterizedTest(name = "B={0} E={1} N={2} R={3}")
    @MethodSource("scanStepShapes")
    @Covers("selectiveScanStep")
    void scanStepWithItsDeltaProjection(int b, int e, int n, int rank) {
        Random r = new Random(b * 1000L + e * 10L + n + rank);
        ScanInputs in = ScanInputs.random(r, b, 1, e, n, true);
        Tensor dtLow = gauss(r, 1, b, rank), dtProj = gauss(r, 0.5, e, rank);
        for (DType wt : List.of(DType.F32, DType.BF16))
            in.declare(op("selectiveScanStep B=" + b + " E=" + e + " N=" + n + " R=" + rank + " " + wt), FAST_VS_REFERENCE)
                    .in("dtLow", dtLow).in("dtProj", dtProj.to(wt))
                    .out("out", nan(b, 1, e), FAST_VS_REFERENCE)
                    .run((be, t) -> be.selectiveScanStep(t.get("dtLow"), t.get("dtProj"), in.args(t, t.get("state"), t.get("out"))));
    }

    @Test
    @Covers("selectiveScan")
    void scanInTwoPiecesWithStateEqualsOnePiece() {
        Backend be = backend();
        Random r = new Random(7);
        int b = 2, l = 20, e = 32, n = 8, cut = 13;
        ScanInputs in = ScanInputs.random(r, b, l, e, n, true);
        Tensor u = up(in.u), delta = up(in.delta), a = up(in.a), bm = up(in.bm), cm = up(in.cm), z = up(in.z), dd = up(in.d), bias = up(in.bias);
        Tensor whole = up(nan(b, l, e)), state = up(in.state0), wholeState = up(in.state0);
        be.selectiveScan(new SelectiveScan(u, delta, bias, true, a, bm, cm, dd, z, wholeState, whole));
        Tensor pieces = up(nan(b, l, e));
        for (int[] p : new int[][]{{0, cut}, {cut, l}}) {
            Tensor out = be.zeros(b, p[1] - p[0], e);
            be.selectiveScan(new SelectiveScan(time(u, p[0], p[1]), time(delta, p[0], p[1]), bias, true, a, time(bm, p[0], p[1]),
                    time(cm, p[0], p[1]), dd, time(z, p[0], p[1]), state, out));
            putTime(pieces, p[0], out);
        }
        Compare.assertRelClose("scan in two pieces", down(pieces), down(whole), F32_IDENTITY);
        Compare.assertRelClose("scan in two pieces, final state", down(state), down(wholeState), F32_IDENTITY);
    }

    /** Chunks that divide L, that do not, of one step, and longer than L. */
    static Stream<Arguments> scanChunks() {
        return Stream.of(Arguments.of(23, 1), Arguments.of(23, 5), Arguments.of(23, 7), Arguments.of(23, 23), Arguments.of(23, 64),
                Arguments.of(24, 8), Arguments.of(1, 4));
    }

    private static SelectiveScanGrads scanGrads(OpCase.Args t) {
        return new SelectiveScanGrads(t.get("du"), t.get("dDelta"), t.get("dA"), t.get("dB"), t.get("dC"), t.get("dD"), t.get("dZ"),
                t.get("dDeltaBias"), t.get("dState0"));
    }

    @ParameterizedTest(name = "L={0} chunk={1}")
    @MethodSource("scanChunks")
    @Covers({"selectiveScanForward", "selectiveScanBackward"})
    void scanForwardAndBackwardForChunksThatDoAndDoNotDivideL(int l, int chunk) {
        int b = 2, n = 16, chunks = (l + chunk - 1) / chunk;
        for (int e : new int[]{3, 17, 40}) {
            Random r = new Random(l * 1000L + chunk * 10L + e);
            for (String variant : List.of("full", "plain", "mixed")) {
                boolean plain = variant.equals("plain");
                ScanInputs in = variant.equals("mixed") ? ScanInputs.mixed(r, b, l, e, n) : ScanInputs.random(r, b, l, e, n, !plain);
                String s = " L=" + l + " chunk=" + chunk + " E=" + e + " " + variant;
                Map<String, Tensor> fwd = in.declare(op("selectiveScanForward" + s), FAST_VS_REFERENCE)
                        .out("out", nan(b, l, e), FAST_VS_REFERENCE).out("chunkStates", nan(b, chunks, e, n), FAST_VS_REFERENCE)
                        .run((be, t) -> be.selectiveScanForward(in.args(t, t.get("state"), t.get("out")), chunk, t.get("chunkStates")));
                // backward from the forward's saved states, as the tape calls it (state holds h_L by then): per-step
                // gradients written (NaN before), parameter gradients accumulated (random before); plain asks for
                // du, dDelta and dC only, the others for the gradient of every input they have
                OpCase back = op("selectiveScanBackward" + s).in("u", in.u).in("delta", in.delta).in("bias", in.bias).in("a", in.a)
                        .in("B", in.bm).in("C", in.cm).in("D", in.d).in("z", in.z).in("state", fwd.get("state")).in("out", fwd.get("out"))
                        .in("chunkStates", fwd.get("chunkStates")).in("dOut", gauss(r, 1, b, l, e))
                        .out("du", nan(b, l, e), LONG_REDUCTION).out("dDelta", nan(b, l, e), LONG_REDUCTION).out("dC", nan(b, l, n), LONG_REDUCTION);
                if (plain) back.in("dA", null).in("dB", null);
                else back.out("dA", gauss(r, 1, e, n), LONG_REDUCTION).out("dB", nan(b, l, n), LONG_REDUCTION);
                if (in.d == null || plain) back.in("dD", null); else back.out("dD", gauss(r, 1, e), LONG_REDUCTION);
                if (in.z == null) back.in("dZ", null); else back.out("dZ", nan(b, l, e), LONG_REDUCTION);
                if (in.bias == null) back.in("dDeltaBias", null); else back.out("dDeltaBias", gauss(r, 1, e), LONG_REDUCTION);
                if (in.state0 == null) back.in("dState0", null); else back.out("dState0", nan(b, e, n), LONG_REDUCTION);
                back.run((be, t) -> be.selectiveScanBackward(in.args(t, t.get("state"), t.get("out")), chunk, t.get("chunkStates"),
                        t.get("dOut"), scanGrads(t)));
            }
        }
    }

    @Test
    @Covers({"selectiveScanForward", "selectiveScanBackward"})
    void scanChunkStatesAreTheStatesReachedAndGradientsDoNotDependOnTheChunk() {
        Backend be = backend();
        Random r = new Random(77);
        int b = 2, l = 37, e = 21, n = 16;
        ScanInputs in = ScanInputs.random(r, b, l, e, n, true);
        Tensor u = up(in.u), delta = up(in.delta), a = up(in.a), bm = up(in.bm), cm = up(in.cm), z = up(in.z), dd = up(in.d), bias = up(in.bias);
        Tensor dOut = up(gauss(r, 1, b, l, e));
        Map<String, Tensor> first = null;
        for (int chunk : new int[]{1, 7, 16, 37, 64}) {
            int chunks = (l + chunk - 1) / chunk;
            Tensor cs = be.zeros(b, chunks, e, n), out = be.zeros(b, l, e), state = up(in.state0);
            SelectiveScan args = new SelectiveScan(u, delta, bias, true, a, bm, cm, dd, z, state, out);
            be.selectiveScanForward(args, chunk, cs);
            // chunkStates[:, c] is the state a plain scan from h_0 reaches after c·chunk steps (two chunk sizes suffice)
            for (int c = 1; c < chunks && (chunk == 7 || chunk == 16); c++) {
                int t = c * chunk;
                Tensor st = up(in.state0), want = be.zeros(b, e, n);
                be.selectiveScan(new SelectiveScan(time(u, 0, t), time(delta, 0, t), bias, true, a, time(bm, 0, t), time(cm, 0, t), dd,
                        time(z, 0, t), st, be.zeros(b, t, e)));
                be.copy(cs, want, CopyRegion.block(b, (long) e * n, (long) c * e * n, (long) chunks * e * n, 0, (long) e * n));
                Compare.assertRelClose("chunk " + chunk + ": chunkStates[:, " + c + "]", down(want), down(st), F32_IDENTITY);
            }
            SelectiveScanGrads g = new SelectiveScanGrads(be.zeros(b, l, e), be.zeros(b, l, e), be.zeros(e, n), be.zeros(b, l, n),
                    be.zeros(b, l, n), be.zeros(e), be.zeros(b, l, e), be.zeros(e), be.zeros(b, e, n));
            be.selectiveScanBackward(args, chunk, cs, dOut, g);
            Map<String, Tensor> got = Map.of("du", down(g.du()), "dDelta", down(g.dDelta()), "dA", down(g.dA()), "dB", down(g.dB()),
                    "dC", down(g.dC()), "dD", down(g.dD()), "dZ", down(g.dZ()), "dDeltaBias", down(g.dDeltaBias()), "dState0", down(g.dState0()));
            if (first == null) first = got;
            else for (String k : got.keySet()) Compare.assertRelClose("scan " + k + ", chunk " + chunk + " vs chunk 1", got.get(k), first.get(k), F32_IDENTITY);
        }
    }

    // ------------------------------------------------------------------ SSD (Mamba-2, Discrete Mamba-2)

    /** SSD inputs on the host: logA = −(0.02 + |N(0, 0.3²)|), scale in [0.05, 1.05). */
    protected record SsdInputs(Tensor x, Tensor logA, Tensor scale, Tensor bm, Tensor cm, Tensor d, Tensor state0) {
        static SsdInputs random(long seed, int b, int l, int h, int p, int g, int n, boolean withScale, boolean withD, boolean withState) {
            Random r = new Random(seed);
            Tensor logA = Tensor.zeros(DType.F32, b, l, h), scale = withScale ? Tensor.zeros(DType.F32, b, l, h) : null;
            for (long i = 0; i < logA.numel(); i++) {
                logA.setFloat(i, (float) -(0.02 + Math.abs(r.nextGaussian() * 0.3)));
                if (scale != null) scale.setFloat(i, (float) (0.05 + r.nextDouble()));
            }
            return new SsdInputs(gauss(r, 1, b, l, h, p), logA, scale, gauss(r, 0.5, b, l, g, n), gauss(r, 0.5, b, l, g, n),
                    withD ? gauss(r, 1, h) : null, withState ? gauss(r, 1, b, h, p, n) : null);
        }

        int b() { return x.size(0); }
        int l() { return x.size(1); }
        int h() { return x.size(2); }
        int p() { return x.size(3); }
        int g() { return bm.size(2); }
        int n() { return bm.size(3); }

        OpCase declare(OpCase c, double stateTol) {
            c.in("x", x).in("logA", logA).in("scale", scale).in("B", bm).in("C", cm).in("D", d);
            return state0 == null ? c.in("state", null) : c.out("state", state0, stateTol);
        }

        static Ssd args(OpCase.Args t) {
            return new Ssd(t.get("x"), t.get("logA"), t.get("scale"), t.get("B"), t.get("C"), t.get("D"), t.get("state"), t.get("out"));
        }
    }

    /** 0: scale, D, state, G = 2; 1: none of them, G = 1; 2: scale only, G = H (one B, C per head), odd P and N. */
    private static SsdInputs ssdVariant(int variant, long seed) {
        return switch (variant) {
            case 0 -> SsdInputs.random(seed, 2, 37, 6, 20, 2, 19, true, true, true);
            case 1 -> SsdInputs.random(seed + 100, 2, 37, 6, 20, 1, 19, false, false, false);
            default -> SsdInputs.random(seed + 200, 1, 37, 3, 33, 3, 35, true, false, true);
        };
    }

    @ParameterizedTest(name = "chunk {0}")
    @ValueSource(ints = {1, 8, 16, 37, 64})
    @Covers({"ssd", "ssdForward"})
    void ssdForAnyChunkEqualsTheRecurrence(int chunk) {
        for (int variant = 0; variant < 3; variant++) {
            SsdInputs in = ssdVariant(variant, chunk);
            String s = " variant " + variant + ", chunk " + chunk;
            Map<String, Tensor> fwd = in.declare(op("ssdForward" + s), CHUNKED_VS_RECURRENCE)
                    .out("out", nan(in.b(), in.l(), in.h(), in.p()), CHUNKED_VS_RECURRENCE)
                    .out("chunkStates", nan(in.b(), (in.l() + chunk - 1) / chunk, in.h(), in.p(), in.n()), CHUNKED_VS_RECURRENCE)
                    .run((be, t) -> be.ssdForward(SsdInputs.args(t), chunk, t.get("chunkStates")));
            Map<String, Tensor> plain = in.declare(op("ssd" + s), CHUNKED_VS_RECURRENCE)
                    .out("out", nan(in.b(), in.l(), in.h(), in.p()), CHUNKED_VS_RECURRENCE)
                    .run((be, t) -> be.ssd(SsdInputs.args(t), chunk));
            // the same algorithm, but not bit for bit: a vectorised exp may differ by an ulp between interpreted and compiled code
            if (runs("ssdForward")) Compare.assertRelClose("ssd == ssdForward" + s, plain.get("out"), fwd.get("out"), FAST_VS_REFERENCE);
        }
    }

    @ParameterizedTest(name = "L {0}")
    @ValueSource(ints = {1, 2, 17})
    @Covers("ssd")
    void ssdShortSequencesAndSingleSteps(int l) {
        for (boolean withState : new boolean[]{true, false}) {
            SsdInputs in = SsdInputs.random(l, 3, l, 4, 16, 2, 8, true, true, withState);
            in.declare(op("ssd L=" + l + (withState ? "" : " no state")), FAST_VS_REFERENCE)
                    .out("out", nan(in.b(), l, in.h(), in.p()), FAST_VS_REFERENCE)
                    .run((be, t) -> be.ssd(SsdInputs.args(t), 4));
        }
    }

    /**
     * Mamba-2's decode step with its Δ: dt = clamp(softplus(dtRaw + dtBias)), logA = dt·A, then the step; the state,
     * the output, dt and logA as on the reference, at state sizes the accelerators' vector step takes (N a multiple of 4
     * up to 128) and others, with and without a dt bias, clamped and not.
     */
    @ParameterizedTest
    @CsvSource({"1, 4, 8, 1, 16", "3, 6, 5, 2, 32", "2, 4, 64, 1, 128", "1, 3, 4, 3, 24", "2, 2, 3, 1, 19"})
    @Covers("ssdStepWithDt")
    void ssdStepWithDtIsTheDtOpsThenTheStep(int b, int h, int p, int g, int n) {
        Random r = new Random(b * 1000L + h * 100 + p * 10 + n);
        for (boolean bias : new boolean[]{true, false})
            for (float hi : new float[]{Float.POSITIVE_INFINITY, 0.5f}) {
                Tensor a = gauss(r, 1, h);
                for (int i = 0; i < h; i++) a.setFloat(i, -Math.abs(a.getFloat(i)) - 0.1f);   // A = -exp(A_log) < 0
                op("ssdStepWithDt B=" + b + " H=" + h + " P=" + p + " G=" + g + " N=" + n + (bias ? "" : " no dt bias") + (hi < 1 ? " clamped" : ""))
                        .in("x", gauss(r, 1, b, 1, h, p)).in("bm", gauss(r, 1, b, 1, g, n)).in("cm", gauss(r, 1, b, 1, g, n)).in("d", gauss(r, 1, h))
                        .in("dtRaw", gauss(r, 1, b, h)).in("dtBias", bias ? gauss(r, 1, h) : null).in("a", a)
                        .out("state", gauss(r, 1, b, h, p, n), FAST_VS_REFERENCE).out("y", nan(b, 1, h, p), FAST_VS_REFERENCE)
                        .out("dt", nan(b, 1, h), FAST_VS_REFERENCE).out("logA", nan(b, 1, h), FAST_VS_REFERENCE)
                        .run((be, t) -> be.ssdStepWithDt(new Ssd(t.get("x"), t.get("logA"), t.get("dt"), t.get("bm"), t.get("cm"), t.get("d"),
                                t.get("state"), t.get("y")), t.get("dtRaw"), t.get("dtBias"), t.get("a"), 0f, hi));
            }
    }

    /** chunkStates[:, c] is the state a plain run over the first c·chunk steps ends in. */
    @Test
    @Covers("ssdForward")
    void ssdChunkStatesAreTheStatesReachedAtChunkStarts() {
        Backend be = backend();
        SsdInputs in = ssdVariant(0, 3);
        int b = in.b(), l = in.l(), h = in.h(), p = in.p(), n = in.n(), chunk = 8, chunks = (l + chunk - 1) / chunk;
        long per = (long) h * p * n;
        Tensor x = up(in.x), logA = up(in.logA), scale = up(in.scale), bm = up(in.bm), cm = up(in.cm), d = up(in.d);
        Tensor cs = be.zeros(b, chunks, h, p, n);
        be.ssdForward(new Ssd(x, logA, scale, bm, cm, d, up(in.state0), be.zeros(b, l, h, p)), chunk, cs);
        for (int c = 0; c < chunks; c++) {
            Tensor want = up(in.state0), got = be.zeros(b, h, p, n);
            int t = c * chunk;
            if (t > 0) be.ssd(new Ssd(time(x, 0, t), time(logA, 0, t), time(scale, 0, t), time(bm, 0, t), time(cm, 0, t), d, want,
                    be.zeros(b, t, h, p)), chunk);
            be.copy(cs, got, CopyRegion.block(b, per, c * per, chunks * per, 0, per));
            Compare.assertRelClose("ssd chunkStates[:, " + c + "]", down(got), down(want), CHUNKED_VS_RECURRENCE);
        }
    }

    @Test
    @Covers("ssd")
    void ssdPrefillInPiecesAndDecodeStepsEqualOnePiece() {
        Backend be = backend();
        for (boolean withState : new boolean[]{true, false}) {
            SsdInputs in = SsdInputs.random(withState ? 4 : 5, 2, 37, 6, 20, 2, 19, true, true, withState);
            int b = in.b(), l = in.l(), h = in.h(), p = in.p(), n = in.n();
            Tensor x = up(in.x), logA = up(in.logA), scale = up(in.scale), bm = up(in.bm), cm = up(in.cm), d = up(in.d);
            Tensor s0 = withState ? in.state0 : Tensor.zeros(DType.F32, b, h, p, n);   // no state tensor: S_0 = 0
            Tensor wholeState = up(s0), whole = be.zeros(b, l, h, p);
            be.ssd(new Ssd(x, logA, scale, bm, cm, d, wholeState, whole), 16);
            for (int[][] pieces : new int[][][]{{{0, 20}, {20, l}}, IntStream.range(0, l).mapToObj(t -> new int[]{t, t + 1}).toArray(int[][]::new)}) {
                Tensor state = up(s0), out = up(nan(b, l, h, p));
                for (int[] piece : pieces) {
                    int f = piece[0], to = piece[1];
                    Tensor o = be.zeros(b, to - f, h, p);
                    be.ssd(new Ssd(time(x, f, to), time(logA, f, to), time(scale, f, to), time(bm, f, to), time(cm, f, to), d, state, o), 16);
                    putTime(out, f, o);
                }
                String what = (pieces.length == 2 ? "two pieces" : "decode steps") + (withState ? "" : " from S_0 = 0");
                Compare.assertRelClose(what + " out", down(out), down(whole), CHUNKED_VS_RECURRENCE);
                Compare.assertRelClose(what + " state", down(state), down(wholeState), CHUNKED_VS_RECURRENCE);
            }
        }
    }

    @ParameterizedTest(name = "chunk {0}")
    @ValueSource(ints = {1, 8, 37, 64})
    @Covers("ssdBackward")
    void ssdBackwardWritesStepGradientsAccumulatesDD(int chunk) {
        for (int variant = 0; variant < 3; variant++) {
            SsdInputs in = ssdVariant(variant, chunk);
            int b = in.b(), l = in.l(), h = in.h(), p = in.p(), g = in.g(), n = in.n();
            Tensor cs = Tensor.zeros(DType.F32, b, (l + chunk - 1) / chunk, h, p, n);
            REF.ssdForward(new Ssd(in.x, in.logA, in.scale, in.bm, in.cm, in.d, in.state0 == null ? null : in.state0.copy(),
                    Tensor.zeros(DType.F32, b, l, h, p)), chunk, cs);
            OpCase c = op("ssdBackward variant " + variant + ", chunk " + chunk).in("x", in.x).in("logA", in.logA).in("scale", in.scale)
                    .in("B", in.bm).in("C", in.cm).in("D", in.d).in("state", in.state0).in("out", Tensor.zeros(DType.F32, b, l, h, p))
                    .in("chunkStates", cs).in("dOut", gauss(new Random(chunk), 1, b, l, h, p))
                    .out("dx", nan(b, l, h, p), LONG_REDUCTION).out("dLogA", nan(b, l, h), LONG_REDUCTION)
                    .out("dB", nan(b, l, g, n), LONG_REDUCTION).out("dC", nan(b, l, g, n), LONG_REDUCTION);
            if (in.scale != null) c.out("dScale", nan(b, l, h), LONG_REDUCTION); else c.in("dScale", null);
            if (in.d != null) c.out("dD", gauss(new Random(variant), 1, h), LONG_REDUCTION); else c.in("dD", null);
            if (in.state0 != null) c.out("dState0", nan(b, h, p, n), LONG_REDUCTION); else c.in("dState0", null);
            c.run((be, t) -> be.ssdBackward(new Ssd(t.get("x"), t.get("logA"), t.get("scale"), t.get("B"), t.get("C"), t.get("D"),
                    t.get("state"), t.get("out")), chunk, t.get("chunkStates"), t.get("dOut"),
                    new SsdGrads(t.get("dx"), t.get("dLogA"), t.get("dScale"), t.get("dB"), t.get("dC"), t.get("dD"), t.get("dState0"))));
        }
    }

    // ------------------------------------------------------------------ Mamba-2 column ops

    @ParameterizedTest
    @MethodSource("widths")
    @Covers({"softplusClamp", "softplusClampBackward", "mulColumns", "mulColumnsBackward"})
    void columnOpsAndTheirBackwards(int h) {
        Random r = new Random(h);
        int m = 45;
        Tensor x = gauss(r, 3, m, h), bias = gauss(r, 1, h), a = gauss(r, 1, h), dy = gauss(r, 1, m, h);
        for (float[] lohi : new float[][]{{0f, Float.POSITIVE_INFINITY}, {0.1f, 2.5f}})
            for (Tensor bs : Arrays.asList(bias, null)) {
                float lo = lohi[0], hi = lohi[1];
                String s = " H=" + h + " [" + lo + ", " + hi + "]" + (bs == null ? " no bias" : "");
                op("softplusClamp" + s).in("x", x).in("bias", bs).out("out", nan(m, h), FAST_VS_REFERENCE)
                        .run((be, t) -> be.softplusClamp(t.get("x"), t.get("bias"), lo, hi, t.get("out")));
                OpCase back = op("softplusClampBackward" + s).in("x", x).in("bias", bs).in("dy", dy).out("dx", nan(m, h), FAST_VS_REFERENCE);
                if (bs != null) back.out("dBias", gauss(r, 1, h), FAST_VS_REFERENCE); else back.in("dBias", null);
                back.run((be, t) -> be.softplusClampBackward(t.get("x"), t.get("bias"), lo, hi, t.get("dy"), t.get("dx"), t.get("dBias")));
            }
        Tensor x3 = gauss(r, 1, 5, 9, h), dy3 = gauss(r, 1, 5, 9, h);
        op("mulColumns H=" + h).in("x", x3).in("a", a).out("out", nan(5, 9, h), FAST_VS_REFERENCE)
                .run((be, t) -> be.mulColumns(t.get("x"), t.get("a"), t.get("out")));
        op("mulColumnsBackward H=" + h).in("x", x3).in("a", a).in("dy", dy3).out("dx", nan(5, 9, h), FAST_VS_REFERENCE)
                .out("da", gauss(r, 1, h), LONG_REDUCTION)
                .run((be, t) -> be.mulColumnsBackward(t.get("x"), t.get("a"), t.get("dy"), t.get("dx"), t.get("da")));
        op("mulColumnsBackward dx only H=" + h).in("x", x3).in("a", a).in("dy", dy3).out("dx", nan(5, 9, h), FAST_VS_REFERENCE)
                .run((be, t) -> be.mulColumnsBackward(t.get("x"), t.get("a"), t.get("dy"), t.get("dx"), null));
        op("mulColumnsBackward da only H=" + h).in("x", x3).in("a", a).in("dy", dy3).out("da", gauss(r, 1, h), LONG_REDUCTION)
                .run((be, t) -> be.mulColumnsBackward(t.get("x"), t.get("a"), t.get("dy"), null, t.get("da")));
    }

    // ------------------------------------------------------------------ rotary and attention

    @ParameterizedTest(name = "T={0} H={1} Dh={2} rotaryDim={3} pos0={4}")
    @CsvSource({"17, 3, 14, 10, 5", "1, 2, 16, 16, 0", "7, 4, 33, 32, 3", "16, 1, 64, 64, 1", "5, 2, 65, 2, 0", "3, 5, 8, 4, 30"})
    @Covers({"rotary", "rotaryBackward"})
    void rotaryFullAndPartialAndItsBackward(int t, int h, int dh, int rotaryDim, int pos0) {
        Random r = new Random(t * 100L + dh);
        Tensor[] cs = Formulas.ropeTables(10000, rotaryDim, 40, DType.F32);
        Tensor x = gauss(r, 1, 2, t, h, dh);
        String s = " T=" + t + " H=" + h + " Dh=" + dh + " rotaryDim=" + rotaryDim + " pos0=" + pos0;
        op("rotary" + s).in("x", x).in("cos", cs[0]).in("sin", cs[1]).out("out", nan(2, t, h, dh), FAST_VS_REFERENCE)
                .run((be, a) -> be.rotary(a.get("x"), a.get("cos"), a.get("sin"), rotaryDim, pos0, a.get("out")));
        op("rotary in place" + s).in("cos", cs[0]).in("sin", cs[1]).out("x", x, FAST_VS_REFERENCE)
                .run((be, a) -> be.rotary(a.get("x"), a.get("cos"), a.get("sin"), rotaryDim, pos0, a.get("x")));
        op("rotaryBackward" + s).in("dy", x).in("cos", cs[0]).in("sin", cs[1]).out("dx", nan(2, t, h, dh), FAST_VS_REFERENCE)
                .run((be, a) -> be.rotaryBackward(a.get("dy"), a.get("cos"), a.get("sin"), rotaryDim, pos0, a.get("dx")));
        op("rotaryBackward in place" + s).in("cos", cs[0]).in("sin", cs[1]).out("dy", x, FAST_VS_REFERENCE)
                .run((be, a) -> be.rotaryBackward(a.get("dy"), a.get("cos"), a.get("sin"), rotaryDim, pos0, a.get("dy")));
    }

    /** T spans several key tiles (64) so an online softmax's rescaling runs; GQA (H > Hkv); head dims around the vector width. */
    @ParameterizedTest(name = "B={0} T={1} H={2} Hkv={3} Dh={4}")
    @CsvSource({"1, 1, 2, 1, 8", "2, 37, 4, 2, 8", "1, 150, 6, 3, 20", "2, 131, 2, 2, 33", "1, 65, 4, 1, 16", "1, 17, 3, 3, 1"})
    @Covers({"attention", "attentionBackward"})
    void attentionWithGqaAndItsBackward(int b, int t, int h, int hkv, int dh) {
        Random r = new Random(t * 7L + dh);
        Tensor q = gauss(r, 1, b, t, h, dh), k = gauss(r, 1, b, t, hkv, dh), v = gauss(r, 1, b, t, hkv, dh), dOut = gauss(r, 1, b, t, h, dh);
        float scale = (float) (2 / Math.sqrt(dh));   // sharper than usual: a larger spread of scores
        String s = " B=" + b + " T=" + t + " H=" + h + " Hkv=" + hkv + " Dh=" + dh;
        // probs above the diagonal start as NaN: they must be written (zeros)
        Map<String, Tensor> fwd = op("attention" + s).in("q", q).in("k", k).in("v", v).out("out", nan(b, t, h, dh), LONG_REDUCTION)
                .out("lse", nan(b, h, t), LONG_REDUCTION).out("probs", nan(b, h, t, t), LONG_REDUCTION)
                .run((be, a) -> be.attention(a.get("q"), a.get("k"), a.get("v"), scale, a.get("out"), a.get("lse"), a.get("probs")));
        Map<String, Tensor> bare = op("attention without lse and probs" + s).in("q", q).in("k", k).in("v", v).out("out", nan(b, t, h, dh), LONG_REDUCTION)
                .run((be, a) -> be.attention(a.get("q"), a.get("k"), a.get("v"), scale, a.get("out"), null, null));
        // the same kernel without its side outputs; not bit for bit: exp may differ by an ulp interpreted vs compiled
        Compare.assertRelClose("attention out without lse/probs == with" + s, bare.get("out"), fwd.get("out"), FAST_VS_REFERENCE);
        op("attentionBackward" + s).in("q", q).in("k", k).in("v", v).in("out", fwd.get("out")).in("lse", fwd.get("lse")).in("dOut", dOut)
                .out("dq", nan(b, t, h, dh), LONG_REDUCTION).out("dk", nan(b, t, hkv, dh), LONG_REDUCTION).out("dv", nan(b, t, hkv, dh), LONG_REDUCTION)
                .run((be, a) -> be.attentionBackward(a.get("q"), a.get("k"), a.get("v"), scale, a.get("out"), a.get("lse"), a.get("dOut"),
                        a.get("dq"), a.get("dk"), a.get("dv")));
    }

    @ParameterizedTest(name = "B={0} C={1} len={2} H={3} Hkv={4} Dh={5}")
    @CsvSource({"3, 70, 70, 4, 2, 12", "2, 80, 65, 6, 3, 16", "1, 8, 1, 2, 1, 33", "2, 40, 17, 2, 2, 7"})
    @Covers("attentionDecode")
    void attentionDecodeReadsOnlyTheFilledCache(int b, int c, int len, int h, int hkv, int dh) {
        Random r = new Random(c * 31L + len);
        Tensor q = gauss(r, 1, b, h, dh), kc = gauss(r, 1, b, c, hkv, dh), vc = gauss(r, 1, b, c, hkv, dh);
        for (long bi = 0; bi < b; bi++)    // past len the cache holds garbage: NaN, which must not be read
            for (long i = (bi * c + len) * hkv * dh; i < (bi + 1) * c * hkv * dh; i++) { kc.setFloat(i, Float.NaN); vc.setFloat(i, Float.NaN); }
        op("attentionDecode B=" + b + " C=" + c + " len=" + len + " H=" + h + " Hkv=" + hkv + " Dh=" + dh).in("q", q).in("k", kc).in("v", vc)
                .out("out", nan(b, h, dh), LONG_REDUCTION)
                .run((be, a) -> be.attentionDecode(a.get("q"), a.get("k"), a.get("v"), len, 0.3f, a.get("out")));
    }

    @Test
    @Covers("attentionDecode")
    void attentionDecodeIsTheLastRowOfFullAttention() {
        Backend be = backend();
        Random r = new Random(9);
        int b = 3, t = 70, h = 4, hkv = 2, dh = 12;
        Tensor q = up(gauss(r, 1, b, t, h, dh)), k = up(gauss(r, 1, b, t, hkv, dh)), v = up(gauss(r, 1, b, t, hkv, dh));
        Tensor full = be.zeros(b, t, h, dh), last = be.zeros(b, h, dh), decoded = be.zeros(b, h, dh);
        be.attention(q, k, v, 0.3f, full, null, null);
        Tensor qLast = time(q, t - 1, t).reshape(b, h, dh);
        be.attentionDecode(qLast, k, v, t, 0.3f, decoded);     // the whole k/v as a cache filled to capacity
        be.copy(full, last, CopyRegion.block(b, (long) h * dh, (long) (t - 1) * h * dh, (long) t * h * dh, 0, (long) h * dh));
        Compare.assertRelClose("decode == last row of full attention", down(decoded), down(last), F32_IDENTITY);
    }
}
