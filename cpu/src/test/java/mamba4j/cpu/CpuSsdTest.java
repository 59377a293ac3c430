package mamba4j.cpu;

import mamba4j.core.DType;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.Ssd;
import mamba4j.core.SsdGrads;
import mamba4j.core.Tensor;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static mamba4j.cpu.CpuKernelsTest.rand;
import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cpu SSD (chunked forward, recompute backward) and Mamba-2's column ops against the reference's sequential
 * recurrence, F32, at sizes that are not multiples of the vector width; and the identities the chunked form must
 * keep: any chunk equals the recurrence, prefill in pieces with state passing equals one piece, decode steps
 * equal the forward.
 */
class CpuSsdTest {
    private final mamba4j.core.Backend cpu = new mamba4j.core.Backend(new CpuKernels());
    private final mamba4j.core.Backend ref = mamba4j.core.Backends.reference();

    /**
     * Chunked F32 against the float64-accumulated recurrence rounded to F32: the chunked form sums up to chunk + N
     * products per output in a different order and multiplies exp(cum_i − cum_j) factors instead of stepping.
     */
    static final double CHUNKED_VS_RECURRENCE = Tolerance.F32_IDENTITY;
    /** Backward sums (dB, dC over heads and P; dD over B·L·P; dlogA over P·N) in float: as CpuTrainingTest.LONG_REDUCTION. */
    static final double BACKWARD = CpuTrainingTest.LONG_REDUCTION;

    static final int B = 2, L = 37, H = 6, P = 20, G = 2, N = 19;

    /** F32 operands: logA = −(0.02 + |N(0, 0.3)|), scale in [0.05, 1.05). */
    record Inputs(int b, int l, int h, int p, int g, int n, Tensor x, Tensor logA, Tensor scale, Tensor bm, Tensor cm, Tensor d, Tensor state0) {
        static Inputs random(long seed, int b, int l, int h, int p, int g, int n, boolean withScale, boolean withD, boolean withState) {
            Random r = new Random(seed);
            Tensor logA = Tensor.zeros(DType.F32, b, l, h), scale = withScale ? Tensor.zeros(DType.F32, b, l, h) : null;
            for (long i = 0; i < logA.numel(); i++) {
                logA.setFloat(i, (float) -(0.02 + Math.abs(r.nextGaussian() * 0.3)));
                if (scale != null) scale.setFloat(i, (float) (0.05 + r.nextDouble()));
            }
            return new Inputs(b, l, h, p, g, n, rand(r, 1, b, l, h, p), logA, scale, rand(r, 0.5f, b, l, g, n), rand(r, 0.5f, b, l, g, n),
                    withD ? rand(r, 1, h) : null, withState ? rand(r, 1, b, h, p, n) : null);
        }

        Ssd args() {
            return new Ssd(x, logA, scale, bm, cm, d, state0 == null ? null : state0.copy(), Tensor.zeros(DType.F32, b, l, h, p));
        }

        /** The time range [from, to) as its own inputs, starting from the given state. */
        Inputs slice(int from, int to, Tensor state) {
            return new Inputs(b, to - from, h, p, g, n, time(x, from, to), time(logA, from, to), time(scale, from, to), time(bm, from, to),
                    time(cm, from, to), d, state);
        }

        Tensor chunkStates(int chunk) { return Tensor.zeros(DType.F32, b, (l + chunk - 1) / chunk, h, p, n); }

        SsdGrads grads() {
            return new SsdGrads(Tensor.zeros(DType.F32, b, l, h, p), Tensor.zeros(DType.F32, b, l, h), scale == null ? null : Tensor.zeros(DType.F32, b, l, h),
                    Tensor.zeros(DType.F32, b, l, g, n), Tensor.zeros(DType.F32, b, l, g, n), d == null ? null : Tensor.zeros(DType.F32, h),
                    Tensor.zeros(DType.F32, b, h, p, n));
        }
    }

    /** Copy of t[:, from:to, ...] for a (B, L, ...) F32 tensor. */
    static Tensor time(Tensor t, int from, int to) {
        if (t == null) return null;
        long[] dims = t.shape().dims();
        long l = dims[1], inner = t.numel() / (dims[0] * l);
        dims[1] = to - from;
        Tensor out = Tensor.zeros(DType.F32, dims);
        for (long bi = 0; bi < dims[0]; bi++)
            MemorySegment.copy(t.segment(), (bi * l + from) * inner * 4, out.segment(), bi * (to - from) * inner * 4, (to - from) * inner * 4);
        return out;
    }

    /** Writes src (B, len, ...) into dst[:, from:from+len, ...]. */
    static void putTime(Tensor dst, int from, Tensor src) {
        long[] dims = dst.shape().dims();
        long l = dims[1], len = src.dim(1), inner = dst.numel() / (dims[0] * l);
        for (long bi = 0; bi < dims[0]; bi++)
            MemorySegment.copy(src.segment(), bi * len * inner * 4, dst.segment(), (bi * l + from) * inner * 4, len * inner * 4);
    }

    @ParameterizedTest(name = "chunk {0}")
    @ValueSource(ints = {1, 8, 16, 37, 64})
    void chunkedEqualsTheRecurrence(int chunk) {
        for (int variant = 0; variant < 3; variant++) {
            // 0: scale, D, state, G = 2;  1: none of them, G = 1;  2: scale only, H = G (one B, C per head)
            Inputs in = switch (variant) {
                case 0 -> Inputs.random(chunk, B, L, H, P, G, N, true, true, true);
                case 1 -> Inputs.random(chunk + 100, B, L, H, P, 1, N, false, false, false);
                default -> Inputs.random(chunk + 200, 1, L, 3, 33, 3, 35, true, false, true);
            };
            Ssd fast = in.args(), slow = in.args();
            Tensor cs = in.chunkStates(chunk), csRef = in.chunkStates(chunk);
            cpu.ssdForward(fast, chunk, cs);
            ref.ssdForward(slow, chunk, csRef);
            String what = "variant " + variant + ", chunk " + chunk;
            assertRelClose(what + " out", fast.out(), slow.out(), CHUNKED_VS_RECURRENCE);
            assertRelClose(what + " chunkStates", cs, csRef, CHUNKED_VS_RECURRENCE);
            if (in.state0() != null) assertRelClose(what + " final state", fast.state(), slow.state(), CHUNKED_VS_RECURRENCE);
            Ssd plain = in.args();
            cpu.ssd(plain, chunk);
            // the same kernel, but not bit for bit: the Vector API's EXP differs by an ulp between interpreted and compiled code
            assertRelClose(what + " ssd == ssdForward", plain.out(), fast.out(), Tolerance.FAST_VS_REFERENCE);
        }
    }

    /** chunkStates[:, c] is the state a plain run over the first c·chunk steps ends in. */
    @Test
    void chunkStatesAreTheStatesReachedAtChunkStarts() {
        Inputs in = Inputs.random(3, B, L, H, P, G, N, true, true, true);
        int chunk = 8, chunks = 5;
        Tensor cs = in.chunkStates(chunk);
        cpu.ssdForward(in.args(), chunk, cs);
        long per = (long) H * P * N;
        for (int c = 0; c < chunks; c++) {
            Tensor want = in.state0();
            if (c > 0) {
                Ssd run = in.slice(0, c * chunk, in.state0().copy()).args();
                ref.ssd(run, chunk);
                want = run.state();
            }
            Tensor got = Tensor.zeros(DType.F32, B, H, P, N);
            for (int bi = 0; bi < B; bi++)
                MemorySegment.copy(cs.segment(), ((long) bi * chunks + c) * per * 4, got.segment(), bi * per * 4, per * 4);
            assertRelClose("chunkStates[" + c + "]", got, want, CHUNKED_VS_RECURRENCE);
        }
    }

    @Test
    void prefillInTwoPiecesWithStatePassingEqualsOnePiece() {
        Inputs in = Inputs.random(4, B, L, H, P, G, N, true, true, true);
        Ssd whole = in.args();
        cpu.ssd(whole, 16);
        Tensor state = in.state0().copy(), out = Tensor.zeros(DType.F32, B, L, H, P);
        for (int[] piece : new int[][]{{0, 20}, {20, L}}) {
            Inputs part = in.slice(piece[0], piece[1], null);
            Ssd a = new Ssd(part.x(), part.logA(), part.scale(), part.bm(), part.cm(), part.d(), state, Tensor.zeros(DType.F32, B, piece[1] - piece[0], H, P));
            cpu.ssd(a, 16);
            putTime(out, piece[0], a.out());
        }
        assertRelClose("two pieces out", out, whole.out(), CHUNKED_VS_RECURRENCE);
        assertRelClose("two pieces state", state, whole.state(), CHUNKED_VS_RECURRENCE);
    }

    @Test
    void decodeStepsEqualTheForward() {
        for (boolean withState : new boolean[]{true, false}) {
            Inputs in = Inputs.random(5, B, L, H, P, G, N, true, true, withState);
            Ssd whole = in.args();
            cpu.ssd(whole, 16);
            // a state tensor is needed to carry steps; without an initial state it starts at 0
            Tensor state = withState ? in.state0().copy() : Tensor.zeros(DType.F32, B, H, P, N), out = Tensor.zeros(DType.F32, B, L, H, P);
            for (int t = 0; t < L; t++) {
                Inputs step = in.slice(t, t + 1, null);
                Ssd a = new Ssd(step.x(), step.logA(), step.scale(), step.bm(), step.cm(), step.d(), state, Tensor.zeros(DType.F32, B, 1, H, P));
                cpu.ssd(a, 16);
                putTime(out, t, a.out());
            }
            assertRelClose("decode out, state " + withState, out, whole.out(), CHUNKED_VS_RECURRENCE);
            if (withState) assertRelClose("decode state", state, whole.state(), CHUNKED_VS_RECURRENCE);
        }
        // L = 1 without a state tensor is one step from S_0 = 0
        Inputs one = Inputs.random(6, B, 1, H, P, G, N, true, true, false);
        Ssd fast = one.args(), slow = one.args();
        cpu.ssd(fast, 4);
        ref.ssd(slow, 4);
        assertRelClose("single step without state", fast.out(), slow.out(), Tolerance.FAST_VS_REFERENCE);
    }

    @ParameterizedTest(name = "chunk {0}")
    @ValueSource(ints = {1, 8, 37, 64})
    void backwardMatchesReference(int chunk) {
        for (int variant = 0; variant < 2; variant++) {
            Inputs in = variant == 0 ? Inputs.random(chunk, B, L, H, P, G, N, true, true, true)
                    : Inputs.random(chunk + 50, B, L, H, P, 1, N, false, false, false);
            Tensor cs = in.chunkStates(chunk);
            ref.ssdForward(in.args(), chunk, cs);
            Tensor dOut = rand(new Random(chunk), 1, B, L, H, P);
            SsdGrads g1 = in.grads(), g2 = in.grads();
            g1.dB().fill(5f);   // written, not accumulated
            if (g1.dD() != null) { g1.dD().fill(0.5f); g2.dD().fill(0.5f); }   // accumulated
            cpu.ssdBackward(in.args(), chunk, cs, dOut, g1);
            ref.ssdBackward(in.args(), chunk, cs, dOut, g2);
            String what = "variant " + variant + ", chunk " + chunk;
            assertRelClose(what + " dx", g1.dx(), g2.dx(), BACKWARD);
            assertRelClose(what + " dLogA", g1.dLogA(), g2.dLogA(), BACKWARD);
            assertRelClose(what + " dB", g1.dB(), g2.dB(), BACKWARD);
            assertRelClose(what + " dC", g1.dC(), g2.dC(), BACKWARD);
            assertRelClose(what + " dState0", g1.dState0(), g2.dState0(), BACKWARD);
            if (g1.dScale() != null) assertRelClose(what + " dScale", g1.dScale(), g2.dScale(), BACKWARD);
            if (g1.dD() != null) assertRelClose(what + " dD", g1.dD(), g2.dD(), BACKWARD);
        }
    }

    @Test
    void nonF32IsRejectedNamingTheOp() {
        Tensor x = Tensor.zeros(DType.F64, 1, 3, 2, 4), la = Tensor.zeros(DType.F64, 1, 3, 2), bc = Tensor.zeros(DType.F64, 1, 3, 1, 5);
        Ssd a = new Ssd(x, la, null, bc, bc, null, null, Tensor.zeros(DType.F64, 1, 3, 2, 4));
        var e = assertThrows(IllegalArgumentException.class, () -> cpu.ssd(a, 2));
        assertTrue(e.getMessage().contains("ssd"), e.getMessage());
    }

    // ---------------------------------------------------------------- column ops

    @ParameterizedTest(name = "H {0}")
    @ValueSource(ints = {1, 7, 24, 37})
    void columnOpsMatchReference(int h) {
        Random r = new Random(h);
        int m = 45;
        Tensor x = rand(r, 3, m, h), bias = rand(r, 1, h), a = rand(r, 1, h), dy = rand(r, 1, m, h);
        for (float[] lohi : new float[][]{{0f, Float.POSITIVE_INFINITY}, {0.1f, 2.5f}}) {
            float lo = lohi[0], hi = lohi[1];
            Tensor o1 = Tensor.zeros(DType.F32, m, h), o2 = Tensor.zeros(DType.F32, m, h);
            cpu.softplusClamp(x, bias, lo, hi, o1);
            ref.softplusClamp(x, bias, lo, hi, o2);
            assertRelClose("softplusClamp", o1, o2, Tolerance.FAST_VS_REFERENCE);
            Tensor dx1 = Tensor.zeros(DType.F32, m, h), dx2 = Tensor.zeros(DType.F32, m, h), db1 = rand(r, 1, h), db2 = db1.copy();
            cpu.softplusClampBackward(x, bias, lo, hi, dy, dx1, db1);
            ref.softplusClampBackward(x, bias, lo, hi, dy, dx2, db2);
            assertRelClose("softplusClampBackward dx", dx1, dx2, Tolerance.FAST_VS_REFERENCE);
            assertRelClose("softplusClampBackward dBias", db1, db2, Tolerance.FAST_VS_REFERENCE);
            cpu.softplusClamp(x, null, lo, hi, o1);
            ref.softplusClamp(x, null, lo, hi, o2);
            assertRelClose("softplusClamp without bias", o1, o2, Tolerance.FAST_VS_REFERENCE);
        }
        Tensor o1 = Tensor.zeros(DType.F32, 5, 9, h), o2 = Tensor.zeros(DType.F32, 5, 9, h), x3 = rand(r, 1, 5, 9, h), dy3 = rand(r, 1, 5, 9, h);
        cpu.mulColumns(x3, a, o1);
        ref.mulColumns(x3, a, o2);
        assertRelClose("mulColumns", o1, o2, Tolerance.FAST_VS_REFERENCE);
        Tensor dx1 = Tensor.zeros(DType.F32, 5, 9, h), dx2 = Tensor.zeros(DType.F32, 5, 9, h), da1 = rand(r, 1, h), da2 = da1.copy();
        cpu.mulColumnsBackward(x3, a, dy3, dx1, da1);
        ref.mulColumnsBackward(x3, a, dy3, dx2, da2);
        assertRelClose("mulColumnsBackward dx", dx1, dx2, Tolerance.FAST_VS_REFERENCE);
        assertRelClose("mulColumnsBackward da", da1, da2, Tolerance.FAST_VS_REFERENCE);
        cpu.mulColumnsBackward(x3, a, dy3, null, da1);
        ref.mulColumnsBackward(x3, a, dy3, null, da2);
        assertRelClose("mulColumnsBackward da, dx null", da1, da2, Tolerance.FAST_VS_REFERENCE);
    }
}
