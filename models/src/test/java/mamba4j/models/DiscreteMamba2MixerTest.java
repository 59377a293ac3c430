package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.autograd.Parameter;
import mamba4j.core.autograd.Tape;
import mamba4j.core.autograd.Var;
import mamba4j.models.discrete.DiscreteMamba2Config;
import mamba4j.models.discrete.DiscreteMamba2Mixer;
import mamba4j.models.discrete.StudentWeights;
import mamba4j.testkit.Tolerance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static mamba4j.testkit.Compare.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Discrete Mamba-2 identities that need no data: chunked == any chunk (recurrent), step by step == forward, the
 * materialised mixer · x == the SSD output and, through gate and out_proj, == the mixer's output, cpu == reference,
 * and the tape's forward == the inference forward with gradients matching central differences.
 * Each runs without biases (Phi-Mamba: z_bias parameter) and with them (z_bias folded into in_proj.bias).
 */
class DiscreteMamba2MixerTest {
    /** D 16, E 16 = H 4 · P 4, G 2 (two heads per B/C group), N 8, K 4, chunk 5 (does not divide the lengths used). */
    static DiscreteMamba2Config tiny(boolean bias) {
        return new DiscreteMamba2Config(16, 8, 2, 4, 4, 1, bias, true, 5, DiscreteMamba2Config.GATE_OPEN);
    }

    /** Random weights in every tensor (not the paper's init, whose zeros and identities would hide paths). */
    static StudentWeights.Mixer<Tensor> randomWeights(DiscreteMamba2Config c, long seed) {
        Random r = new Random(seed);
        int dm = c.dModel(), e = c.dInner(), cd = c.convDim(), h = c.nVHeads(), in = c.inProjSize();
        Tensor inProj = gauss(r, 0.3, in, dm);
        // A_log rows shifted so decays spread over (0, 1): some near 1 (long memory), some small
        for (int row = cd + e; row < in; row++)
            for (int col = 0; col < dm; col++) inProj.setFloat((long) row * dm + col, inProj.getFloat((long) row * dm + col) * 2f);
        return new StudentWeights.Mixer<>(inProj, c.bias() ? gauss(r, 0.5, in) : null, gauss(r, 0.4, cd, c.convKernel()),
                c.convBias() ? gauss(r, 0.2, cd) : null, c.bias() ? null : gauss(r, 0.5, e), gauss(r, 0.5, h),
                gauss(r, 0.3, dm, e), c.bias() ? gauss(r, 0.2, dm) : null);
    }

    static Tensor gauss(Random r, double s, long... dims) {
        Tensor t = Tensor.zeros(DType.F32, dims);
        for (long i = 0; i < t.numel(); i++) t.setFloat(i, (float) (s * r.nextGaussian()));
        return t;
    }

    static Tensor forward(DiscreteMamba2Mixer m, Tensor u, int b, int t) {
        Tensor out = Tensor.zeros(DType.F32, (long) b * t, m.config().dModel());
        m.forward(u, b, t, out, null, Trace.NONE);
        return out;
    }

    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {false, true})
    void chunkedEqualsRecurrentForAnyChunk(boolean bias) {
        DiscreteMamba2Config c = tiny(bias);
        StudentWeights.Mixer<Tensor> w = randomWeights(c, 1);
        Backend be = Backends.get("cpu");
        Tensor u = gauss(new Random(2), 1, 2 * 13, c.dModel());
        Tensor ref = forward(new DiscreteMamba2Mixer(c.withChunkSize(1), be, w), u, 2, 13);   // chunk 1: the recurrence
        for (int chunk : new int[]{5, 4, 64})
            assertRelClose("chunk " + chunk, forward(new DiscreteMamba2Mixer(c.withChunkSize(chunk), be, w), u, 2, 13), ref, Tolerance.F32_IDENTITY);
    }

    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {false, true})
    void stepByStepEqualsForward(boolean bias) {
        DiscreteMamba2Config c = tiny(bias);
        DiscreteMamba2Mixer m = new DiscreteMamba2Mixer(c, Backends.get("cpu"), randomWeights(c, 3));
        int b = 2, t = 11, t0 = 6, dm = c.dModel();
        Tensor u = gauss(new Random(4), 1, (long) b * t, dm);
        Tensor full = forward(m, u, b, t);
        for (int prefix : new int[]{0, 2, t0}) {          // 2 < K: conv_state zero-padded after the prefill
            DiscreteMamba2Mixer.Cache cache = m.newCache(b);
            if (prefix > 0) {
                Tensor up = Tensor.zeros(DType.F32, (long) b * prefix, dm), op = Tensor.zeros(DType.F32, (long) b * prefix, dm);
                for (int bi = 0; bi < b; bi++) up.rows((long) bi * prefix, (long) (bi + 1) * prefix).copyFrom(u.rows((long) bi * t, (long) bi * t + prefix));
                m.forward(up, b, prefix, op, cache, Trace.NONE);
                for (int bi = 0; bi < b; bi++)
                    assertRelClose("prefill " + prefix + " batch " + bi, op.rows((long) bi * prefix, (long) (bi + 1) * prefix),
                            full.rows((long) bi * t, (long) bi * t + prefix), Tolerance.F32_IDENTITY);
            }
            Tensor ut = Tensor.zeros(DType.F32, b, dm), ot = Tensor.zeros(DType.F32, b, dm);
            for (int j = prefix; j < t; j++) {
                for (int bi = 0; bi < b; bi++) ut.rows(bi, bi + 1).copyFrom(u.rows((long) bi * t + j, (long) bi * t + j + 1));
                m.step(cache, ut, ot);
                for (int bi = 0; bi < b; bi++)
                    assertRelClose("prefix " + prefix + " step " + j + " batch " + bi, ot.rows(bi, bi + 1),
                            full.rows((long) bi * t + j, (long) bi * t + j + 1), Tolerance.F32_IDENTITY);
            }
        }
    }

    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {false, true})
    void materialisedMixerTimesXEqualsMixer(boolean bias) {
        DiscreteMamba2Config c = tiny(bias);
        DiscreteMamba2Mixer m = new DiscreteMamba2Mixer(c, Backends.get("cpu"), randomWeights(c, 5));
        int b = 2, t = 9, h = c.nVHeads(), p = c.headDim(), e = c.dInner();
        Tensor u = gauss(new Random(6), 1, (long) b * t, c.dModel());
        DiscreteMamba2Mixer.SsdInputs in = m.ssdInputs(u, b, t);
        Tensor mat = DiscreteMamba2Mixer.materialize(c, in, m.weights().d(), b, t);
        assertEquals(mamba4j.core.Shape.of(b, h, t, t), mat.shape());
        assertRelClose("materialize(u) == materialize(ssdInputs(u))", m.materialize(u, b, t), mat, 0);
        // y[b, i, h, p] = Σ_j T[b, h, i, j] · x[b, j, h, p]
        Tensor yT = Tensor.zeros(DType.F32, b, t, h, p);
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++)
                    for (int pi = 0; pi < p; pi++) {
                        double s = 0;
                        for (int j = 0; j < t; j++)
                            s += mat.getDouble((((long) bi * h + hi) * t + i) * t + j) * in.x().getDouble(((long) bi * t + j) * e + hi * p + pi);
                        yT.setFloat((((long) bi * t + i) * h + hi) * p + pi, (float) s);
                    }
        for (int bi = 0; bi < b; bi++)                     // causal: nothing above the diagonal
            for (int hi = 0; hi < h; hi++)
                for (int i = 0; i < t; i++)
                    for (int j = i + 1; j < t; j++) assertEquals(0f, mat.getFloat((((long) bi * h + hi) * t + i) * t + j));
        Tensor[] traced = new Tensor[1];
        Tensor out = Tensor.zeros(DType.F32, (long) b * t, c.dModel());
        m.forward(u, b, t, out, null, (name, layer, x) -> { if (name.equals("mixer_y")) traced[0] = x.copy(); });
        assertRelClose("T·x == the forward's SSD output (traced mixer_y)", yT, traced[0], Tolerance.F32_IDENTITY);
        Tensor outT = Tensor.zeros(DType.F32, (long) b * t, c.dModel()), gated = Tensor.zeros(DType.F32, (long) b * t, e);
        Backend be = m.backend();
        be.mulSilu(yT.reshape((long) b * t, e), in.z(), gated);
        be.linear(gated, m.weights().outProj(), m.weights().outProjBias(), outT);
        assertRelClose("out_proj(T·x ⊙ silu(z + z_bias)) == mixer(u)", outT, out, Tolerance.F32_IDENTITY);
    }

    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {false, true})
    void cpuEqualsReference(boolean bias) {
        DiscreteMamba2Config c = tiny(bias);
        StudentWeights.Mixer<Tensor> w = randomWeights(c, 7);
        Tensor u = gauss(new Random(8), 1, 3 * 7, c.dModel());
        assertRelClose("cpu vs reference", forward(new DiscreteMamba2Mixer(c, Backends.get("cpu"), w), u, 3, 7),
                forward(new DiscreteMamba2Mixer(c, Backends.get("reference"), w), u, 3, 7), Tolerance.F32_IDENTITY);
    }

    /** Tape leaves for the weights (parameters, so gradients land in Parameter.grad()). */
    record Params(Parameter inProj, Parameter inProjBias, Parameter conv, Parameter convBias, Parameter zBias, Parameter d,
                  Parameter outProj, Parameter outProjBias) {
        static Params of(StudentWeights.Mixer<Tensor> w) {
            return new Params(p("in_proj.weight", w.inProj()), p("in_proj.bias", w.inProjBias()), p("conv1d.weight", w.convWeight()),
                    p("conv1d.bias", w.convBias()), p("z_bias", w.zBias()), p("D", w.d()), p("out_proj.weight", w.outProj()),
                    p("out_proj.bias", w.outProjBias()));
        }

        static Parameter p(String name, Tensor t) { return t == null ? null : new Parameter(name, t, true); }

        Parameter[] all() { return new Parameter[]{inProj, inProjBias, conv, convBias, zBias, d, outProj, outProjBias}; }

        StudentWeights.Mixer<Var> vars(Tape tape) {
            return new StudentWeights.Mixer<>(v(tape, inProj), v(tape, inProjBias), v(tape, conv), v(tape, convBias), v(tape, zBias),
                    v(tape, d), v(tape, outProj), v(tape, outProjBias));
        }

        static Var v(Tape tape, Parameter p) { return p == null ? null : tape.param(p); }
    }

    /** Σ of the tape forward's output, in double. */
    static double sum(Tensor t) {
        double s = 0;
        for (long i = 0; i < t.numel(); i++) s += t.getDouble(i);
        return s;
    }

    @ParameterizedTest(name = "bias {0}")
    @ValueSource(booleans = {false, true})
    void tapeForwardEqualsInferenceAndGradientsMatchDifferences(boolean bias) {
        DiscreteMamba2Config c = tiny(bias);
        Backend be = Backends.get("reference");
        StudentWeights.Mixer<Tensor> w = randomWeights(c, 9);
        int b = 2, t = 7;
        Tensor u = gauss(new Random(10), 1, (long) b * t, c.dModel());
        Params ps = Params.of(w);
        Tape tape = new Tape(be);
        Var out = DiscreteMamba2Mixer.forward(tape, c, ps.vars(tape), tape.constant(u), b, t, null, Trace.NONE, 0);
        assertRelClose("tape forward == inference forward", out.value(), forward(new DiscreteMamba2Mixer(c, be, w), u, b, t), Tolerance.F32_IDENTITY);
        tape.backward(out, 1f);                            // seeding every output with 1: the gradient of Σ out
        // central differences of Σ out along a random direction of each parameter, on the reference backend
        Random r = new Random(11);
        double eps = 1e-2;
        for (Parameter p : ps.all()) {
            if (p == null) continue;
            Tensor dir = gauss(r, 1, p.value().shape().dims());
            double norm = Math.sqrt(dir.numel());               // ≈ ‖dir‖: steps of about eps in norm, whatever the size
            for (long i = 0; i < dir.numel(); i++) dir.setFloat(i, (float) (dir.getDouble(i) / norm));
            double analytic = 0;
            for (long i = 0; i < dir.numel(); i++) analytic += dir.getDouble(i) * p.grad().getDouble(i);
            Tensor saved = p.value().copy();
            double[] f = new double[2];
            for (int s = 0; s < 2; s++) {
                double sign = s == 0 ? 1 : -1;
                for (long i = 0; i < dir.numel(); i++) p.value().setFloat(i, (float) (saved.getDouble(i) + sign * eps * dir.getDouble(i)));
                Tape tp = new Tape(be);
                f[s] = sum(DiscreteMamba2Mixer.forward(tp, c, ps.vars(tp), tp.constant(u), b, t, null, Trace.NONE, 0).value());
            }
            p.value().copyFrom(saved);
            double numeric = (f[0] - f[1]) / (2 * eps);
            // F32 forward values (Σ out to ~1e-5 absolute, /2eps) and an O(eps²) truncation: ~1e-3 is the resolution here
            assertTrue(Math.abs(analytic - numeric) <= 2e-3 * Math.max(1, Math.abs(numeric)),
                    p.name() + ": analytic " + analytic + " vs central difference " + numeric);
        }
    }
}
