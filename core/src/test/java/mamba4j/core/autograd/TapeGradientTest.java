package mamba4j.core.autograd;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Formulas;
import mamba4j.core.Tensor;
import mamba4j.core.Workspace;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every {@link Tape.Node} type's gradient rule against central finite differences, in float64 on the reference:
 * a tiny graph per node type whose leaves are F64 parameters; the tape's backward (seeded with a random R for an
 * output y, so the loss is Σ R ⊙ y; or with a scale for a scalar loss) must give the derivative of that loss with
 * respect to every leaf. This tests the tape's rules (which backend op, which operand, accumulate or adopt, the
 * scaling of a loss's gradient), where ReferenceGradientTest tests the backward kernels themselves.
 *
 * <p>core cannot depend on testkit (testkit depends on core), so the assertion helper is local.
 */
class TapeGradientTest {
    private static final Backend R = Backends.reference();
    /** Central-difference step: truncation error O(h²·f''') ≈ 1e-10, float64 cancellation ≈ 1e-16/h ≈ 1e-11. */
    private static final double H = 1e-5;
    /** Relative Frobenius error allowed between the tape's gradient and the numeric one, float64 throughout. */
    private static final double FD_TOL = 1e-6;
    /** One workspace for the whole class (its blocks are 64 MiB and live as long as it does), reset per case. */
    private static final Workspace WORKSPACE = new Workspace();
    /** Two float64 computations of the same gradient that differ only in where tensors live and how they are summed. */
    private static final double SAME_MATH = 1e-12;
    /** The scale a scalar loss is seeded with (≠ 1, so the rules that scale a loss's gradient are exercised). */
    private static final float LOSS_SCALE = 0.5f;

    /** The graph under test, built on a fresh tape from the leaves; returns its output. */
    interface Graph { Var build(Tape tape, Var[] leaves); }

    /** One node type's case: its leaves (F64, drawn from a seeded Random) and the graph over them. */
    record Case(String name, Class<? extends Tape.Node> node, Function<Random, Tensor[]> leaves, Graph graph) {
        @Override public String toString() { return name; }
    }

    // ------------------------------------------------------------------ leaves

    static Tensor g(Random r, long... dims) {
        Tensor t = Tensor.zeros(DType.F64, dims);
        for (long i = 0; i < t.numel(); i++) Formulas.store(t, i, r.nextGaussian());
        return t;
    }

    /** −(0.1 + |N(0, 1)|·0.5): decays (A of the scan, logA of the SSD). */
    static Tensor neg(Random r, long... dims) {
        Tensor t = Tensor.zeros(DType.F64, dims);
        for (long i = 0; i < t.numel(); i++) Formulas.store(t, i, -(0.1 + Math.abs(r.nextGaussian()) * 0.5));
        return t;
    }

    /** 0.1 + U[0, 1): positive scales. */
    static Tensor pos(Random r, long... dims) {
        Tensor t = Tensor.zeros(DType.F64, dims);
        for (long i = 0; i < t.numel(); i++) Formulas.store(t, i, 0.1 + r.nextDouble());
        return t;
    }

    static Tensor[] of(Tensor... ts) { return ts; }

    // ------------------------------------------------------------------ the cases, one or more per node type

    static List<Case> cases() {
        Tensor[] rope = Formulas.ropeTables(10000, 4, 8, DType.F64);
        List<Case> c = new ArrayList<>();
        c.add(new Case("embedding, repeated ids", Tape.Node.Embedding.class, r -> of(g(r, 7, 5)),
                (t, v) -> t.embedding(v[0], new int[]{0, 6, 3, 3})));
        c.add(new Case("linear with bias", Tape.Node.Linear.class, r -> of(g(r, 3, 5), g(r, 4, 5), g(r, 4)),
                (t, v) -> t.linear(v[0], v[1], v[2])));
        c.add(new Case("linear without bias", Tape.Node.Linear.class, r -> of(g(r, 1, 3), g(r, 2, 3)),
                (t, v) -> t.linear(v[0], v[1], null)));
        c.add(new Case("rmsNorm", Tape.Node.RmsNorm.class, r -> of(g(r, 3, 5), g(r, 5)), (t, v) -> t.rmsNorm(v[0], v[1], 1e-5f)));
        c.add(new Case("add", Tape.Node.Add.class, r -> of(g(r, 3, 5), g(r, 3, 5)), (t, v) -> t.add(v[0], v[1])));
        c.add(new Case("addRow", Tape.Node.AddRow.class, r -> of(g(r, 3, 5), g(r, 5)), (t, v) -> t.addRow(v[0], v[1])));
        c.add(new Case("add of a value to itself", Tape.Node.Add.class, r -> of(g(r, 2, 3)), (t, v) -> t.add(v[0], v[0])));
        c.add(new Case("split, one part unused", Tape.Node.Split.class, r -> of(g(r, 3, 7)), (t, v) -> {
            Var[] parts = t.split(v[0], 3, 3, 1);
            return t.add(parts[0], parts[1]);
        }));
        c.add(new Case("conv with bias, silu", Tape.Node.Conv.class, r -> of(g(r, 2, 6, 3), g(r, 3, 4), g(r, 3)),
                (t, v) -> t.conv(v[0], v[1], v[2], true)));
        c.add(new Case("conv without bias", Tape.Node.Conv.class, r -> of(g(r, 1, 5, 2), g(r, 2, 3)),
                (t, v) -> t.conv(v[0], v[1], null, false)));
        c.add(new Case("negExp", Tape.Node.NegExp.class, r -> of(g(r, 3, 4)), (t, v) -> t.negExp(v[0])));
        c.add(new Case("selective scan, every input", Tape.Node.Scan.class,
                r -> of(g(r, 2, 5, 3), g(r, 2, 5, 3), g(r, 3), neg(r, 3, 2), g(r, 2, 5, 2), g(r, 2, 5, 2), g(r, 3), g(r, 2, 5, 3)),
                (t, v) -> t.selectiveScan(v[0], v[1], v[2], true, v[3], v[4], v[5], v[6], v[7])));
        c.add(new Case("selective scan, no bias, D, z; Δ given", Tape.Node.Scan.class,
                r -> of(g(r, 1, 4, 2), pos(r, 1, 4, 2), neg(r, 2, 3), g(r, 1, 4, 3), g(r, 1, 4, 3)),
                (t, v) -> t.selectiveScan(v[0], v[1], null, false, v[2], v[3], v[4], null, null)));
        c.add(new Case("ssd with scale and D, chunk 2 of L 5", Tape.Node.SsdScan.class,
                r -> of(g(r, 2, 5, 2, 3), neg(r, 2, 5, 2), pos(r, 2, 5, 2), g(r, 2, 5, 1, 3), g(r, 2, 5, 1, 3), g(r, 2)),
                (t, v) -> t.ssd(v[0], v[1], v[2], v[3], v[4], v[5], 2)));
        c.add(new Case("ssd without scale and D, G = H", Tape.Node.SsdScan.class,
                r -> of(g(r, 1, 4, 2, 2), neg(r, 1, 4, 2), g(r, 1, 4, 2, 3), g(r, 1, 4, 2, 3)),
                (t, v) -> t.ssd(v[0], v[1], null, v[2], v[3], null, 4)));
        c.add(new Case("softplusClamp, unclamped", Tape.Node.SoftplusClamp.class, r -> of(g(r, 4, 3), g(r, 3)),
                (t, v) -> t.softplusClamp(v[0], v[1], 0f, Float.POSITIVE_INFINITY)));
        c.add(new Case("softplusClamp, clamped both sides", Tape.Node.SoftplusClamp.class, r -> of(g(r, 6, 3), g(r, 3)),
                (t, v) -> t.softplusClamp(v[0], v[1], 0.4f, 1.2f)));
        c.add(new Case("mulColumns", Tape.Node.MulColumns.class, r -> of(g(r, 4, 3), g(r, 3)), (t, v) -> t.mulColumns(v[0], v[1])));
        c.add(new Case("mulSilu", Tape.Node.MulSilu.class, r -> of(g(r, 3, 5), g(r, 3, 5)), (t, v) -> t.mulSilu(v[0], v[1])));
        c.add(new Case("crossEntropy with an ignored row", Tape.Node.CrossEntropy.class, r -> of(g(r, 4, 6)),
                (t, v) -> t.crossEntropy(v[0], new int[]{1, -100, 5, 0})));
        c.add(new Case("matmul with bias", Tape.Node.MatMul.class, r -> of(g(r, 3, 4), g(r, 4, 5), g(r, 5)),
                (t, v) -> t.matmul(v[0], v[1], v[2])));
        c.add(new Case("matmul without bias", Tape.Node.MatMul.class, r -> of(g(r, 2, 3), g(r, 3, 1)), (t, v) -> t.matmul(v[0], v[1], null)));
        c.add(new Case("layerNorm with bias", Tape.Node.LayerNorm.class, r -> of(g(r, 3, 5), g(r, 5), g(r, 5)),
                (t, v) -> t.layerNorm(v[0], v[1], v[2], 1e-5f)));
        c.add(new Case("layerNorm without bias", Tape.Node.LayerNorm.class, r -> of(g(r, 2, 4), g(r, 4)),
                (t, v) -> t.layerNorm(v[0], v[1], null, 1e-5f)));
        c.add(new Case("geluTanh", Tape.Node.GeluTanh.class, r -> of(g(r, 3, 5)), (t, v) -> t.geluTanh(v[0])));
        c.add(new Case("rotary, partial (4 of 6 dims)", Tape.Node.Rotary.class, r -> of(g(r, 1, 4, 2, 6)),
                (t, v) -> t.rotary(v[0], rope[0], rope[1], 4)));
        c.add(new Case("attention, GQA 4 heads on 2", Tape.Node.Attention.class, r -> of(g(r, 1, 5, 4, 3), g(r, 1, 5, 2, 3), g(r, 1, 5, 2, 3)),
                (t, v) -> t.attention(v[0], v[1], v[2], 0.5f)));
        Tensor target = g(new Random(99), 1, 2, 4, 4);
        c.add(new Case("matrix distance (MOHAWK stage 1)", Tape.Node.Distance.class,
                r -> of(neg(r, 1, 4, 2), g(r, 1, 4, 1, 3), g(r, 1, 4, 1, 3), g(r, 2)),
                (t, v) -> t.matrixDistance(v[0], v[1], v[2], v[3], target)));
        Tensor hidden = g(new Random(98), 3, 5);
        c.add(new Case("row distance (MOHAWK stage 2)", Tape.Node.Distance.class, r -> of(g(r, 3, 5)), (t, v) -> t.rowDistance(v[0], hidden)));
        Tensor teacher = g(new Random(97), 3, 6);
        c.add(new Case("soft cross-entropy (MOHAWK stage 3)", Tape.Node.Distance.class, r -> of(g(r, 3, 6)),
                (t, v) -> t.softCrossEntropy(v[0], teacher, 2.0)));
        return c;
    }

    static Stream<Arguments> nodeCases() { return cases().stream().map(Arguments::of); }

    @Test
    void everyNodeTypeHasACase() {
        Set<String> permitted = new TreeSet<>(), covered = new TreeSet<>();
        for (Class<?> k : Tape.Node.class.getPermittedSubclasses()) permitted.add(k.getSimpleName());
        for (Case c : cases()) covered.add(c.node().getSimpleName());
        permitted.removeAll(covered);
        assertTrue(permitted.isEmpty(), "Tape.Node types with no finite-difference case: " + permitted);
    }

    // ------------------------------------------------------------------ the check

    /** The loss the tape's backward differentiates: Σ seed ⊙ y for an output y, or LOSS_SCALE · loss for a scalar loss. */
    private static double loss(Tape tape, Var out, Tensor seed) {
        if (seed == null) return LOSS_SCALE * tape.lossValue(out);
        double s = 0;
        Tensor y = out.value();
        for (long i = 0; i < y.numel(); i++) s += seed.getDouble(i) * y.getDouble(i);
        return s;
    }

    private static boolean isLoss(Tape tape, Var out) {
        Tape.Node last = tape.nodes().getLast();
        return last.out() == out && (last instanceof Tape.Node.CrossEntropy || last instanceof Tape.Node.Distance);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("nodeCases")
    void gradientIsTheFiniteDifference(Case c) {
        Random r = new Random(c.name().hashCode());
        Tensor[] values = c.leaves().apply(r);
        Parameter[] params = new Parameter[values.length];
        for (int i = 0; i < values.length; i++) params[i] = new Parameter(c.name() + "." + i, values[i], false);

        Tape tape = new Tape(R);
        Var[] leaves = Arrays.stream(params).map(tape::param).toArray(Var[]::new);
        Var out = c.graph().build(tape, leaves);
        assertTrue(tape.nodes().stream().anyMatch(c.node()::isInstance), c.name() + ": the graph recorded no " + c.node().getSimpleName());
        boolean scalar = isLoss(tape, out);
        if (!scalar) assertEquals(DType.F64, out.value().dtype(), c.name() + ": the tape computes in the dtype of its inputs");
        Tensor seed = null;
        if (scalar) tape.backward(out, LOSS_SCALE);
        else tape.backward(out, seed = g(r, out.value().shape().dims()));

        Tensor seedFinal = seed;
        for (int i = 0; i < params.length; i++) {
            Tensor x = params[i].value();
            double[] numeric = new double[Math.toIntExact(x.numel())];
            for (int k = 0; k < numeric.length; k++) {
                double v = x.getDouble(k);
                Formulas.store(x, k, v + H);
                double fp = forward(c, params, seedFinal);
                Formulas.store(x, k, v - H);
                double fm = forward(c, params, seedFinal);
                Formulas.store(x, k, v);
                numeric[k] = (fp - fm) / (2 * H);
            }
            assertClose(c.name() + ": d/d input " + i + " " + x.shape(), params[i].grad().toDoubleArray(), numeric);
        }
    }

    /**
     * The same gradients when the tape allocates from a {@link Workspace} and the graph's inputs are intermediates
     * (each leaf + 0 through an Add node) rather than parameters: then gradients are adopted or accumulated into
     * tape-allocated tensors instead of the parameters' own, an allocation path of its own in the tape's dtype.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("nodeCases")
    void sameGradientThroughIntermediatesFromAWorkspace(Case c) {
        Random r = new Random(c.name().hashCode() + 1);
        Tensor[] values = c.leaves().apply(r);
        Tensor seed = null;
        List<double[]> direct = new ArrayList<>();
        for (int variant = 0; variant < 2; variant++) {
            Parameter[] params = new Parameter[values.length];
            for (int i = 0; i < values.length; i++) params[i] = new Parameter(c.name() + "." + i, values[i], false);
            WORKSPACE.reset();
            Tape tape = variant == 0 ? new Tape(R) : new Tape(R, WORKSPACE);
            Var[] leaves = new Var[params.length];
            for (int i = 0; i < params.length; i++) {
                leaves[i] = tape.param(params[i]);
                if (variant == 1) leaves[i] = tape.add(leaves[i], tape.constant(Tensor.zeros(DType.F64, values[i].shape())));
            }
            Var out = c.graph().build(tape, leaves);
            if (isLoss(tape, out)) tape.backward(out, LOSS_SCALE);
            else {
                if (seed == null) seed = g(r, out.value().shape().dims());
                tape.backward(out, seed);
            }
            for (int i = 0; i < params.length; i++) {
                if (variant == 0) direct.add(params[i].grad().toDoubleArray());
                else assertClose(c.name() + ": input " + i + " through an intermediate, workspace tape", params[i].grad().toDoubleArray(), direct.get(i),
                        SAME_MATH);
            }
        }
    }

    private static double forward(Case c, Parameter[] params, Tensor seed) {
        Tape tape = new Tape(R);
        Var out = c.graph().build(tape, Arrays.stream(params).map(tape::param).toArray(Var[]::new));
        return loss(tape, out, seed);
    }

    static void assertClose(String what, double[] actual, double[] expected) { assertClose(what, actual, expected, FD_TOL); }

    static void assertClose(String what, double[] actual, double[] expected, double tol) {
        double num = 0, den = 0, max = 0;
        int worst = -1;
        for (int i = 0; i < actual.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
            if (!(Math.abs(d) <= max)) { max = Math.abs(d); worst = i; }
        }
        if (den == 0) fail(what + ": the numeric gradient is zero, the check would be vacuous");
        double rel = Math.sqrt(num / den);
        if (!(rel <= tol))
            fail(String.format("%s: relative error %.3e > %.1e; max abs %.3e at [%d]: tape %.10g vs numeric %.10g; first elements: tape %s, numeric %s",
                    what, rel, tol, max, worst, actual[worst], expected[worst], head(actual), head(expected)));
    }

    private static String head(double[] v) {
        return Arrays.toString(Arrays.copyOf(v, Math.min(v.length, 8))) + (v.length > 8 ? "…" : "");
    }
}
