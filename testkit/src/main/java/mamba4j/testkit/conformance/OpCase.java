package mamba4j.testkit.conformance;

import mamba4j.core.Backend;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.testkit.Compare;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One op run from the same host inputs on the backend under test and on the reference, each side on its own copies
 * uploaded to its backend's device (so an in-place or accumulating op cannot leak from one side to the other, and a
 * device backend never sees host memory); every declared output is then downloaded and compared with its named
 * tolerance, the reference's result being the expected one.
 *
 * <pre>
 * new OpCase("rmsNorm 3x17", be, ref).in("x", x).in("w", w).out("out", nan(3, 17), Tolerance.FAST_VS_REFERENCE)
 *         .run((b, t) -> b.rmsNorm(t.get("x"), t.get("w"), 1e-5f, t.get("out")));
 * </pre>
 * An output's initial value is part of the case: NaN where the op must write every element (an element left
 * unwritten, or read before it is written, shows up as NaN), random values where it accumulates.
 */
public final class OpCase {
    /** The op, written once against whichever backend runs it. */
    public interface Op {
        void run(Backend backend, Args tensors);
    }

    /** The case's tensors on one side, by name (null for an absent optional argument). */
    public static final class Args {
        private final Map<String, Tensor> byName = new HashMap<>();

        public Tensor get(String name) {
            if (!byName.containsKey(name)) throw new IllegalArgumentException("no tensor named " + name + " in this case");
            return byName.get(name);
        }
    }

    private final String what;
    private final Backend backend, reference;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, Double> outputs = new LinkedHashMap<>();

    private final String refused;

    public OpCase(String what, Backend backend, Backend reference) { this(what, backend, reference, null); }

    /**
     * A case of an op the backend refuses by design when {@code refusedOp} is not null: {@link #run} then asserts that
     * the backend throws a {@link UserInputException} naming that op, and returns no outputs.
     */
    public OpCase(String what, Backend backend, Backend reference, String refusedOp) {
        this.what = what;
        this.backend = backend;
        this.reference = reference;
        this.refused = refusedOp;
    }

    /** An input (host tensor, or null for an absent optional argument). */
    public OpCase in(String name, Tensor host) {
        if (tensors.put(name, host) != null) throw new IllegalArgumentException("tensor " + name + " declared twice");
        return this;
    }

    /** An output (or an in-place operand) with its initial host value, compared after the op within {@code tol}. */
    public OpCase out(String name, Tensor initial, double tol) {
        in(name, initial);
        outputs.put(name, tol);
        return this;
    }

    /** Runs the op on both sides and compares every output; returns the backend's outputs, downloaded. */
    public Map<String, Tensor> run(Op op) {
        if (refused != null) {
            Args mine = upload(backend);
            UserInputException e = assertThrows(UserInputException.class, () -> op.run(backend, mine), what + ": refused on " + backend.name());
            assertTrue(e.getMessage().contains(refused), what + ": the refusal must name " + refused + ", got: " + e.getMessage());
            return Map.of();
        }
        Args mine = upload(backend), theirs = upload(reference);
        op.run(backend, mine);
        op.run(reference, theirs);
        backend.sync();
        Map<String, Tensor> got = new LinkedHashMap<>();
        for (var o : outputs.entrySet()) {
            Tensor actual = backend.download(mine.get(o.getKey())), expected = reference.download(theirs.get(o.getKey()));
            Compare.assertRelClose(what + ": " + o.getKey() + " on " + backend.name() + " vs reference", actual, expected, o.getValue());
            got.put(o.getKey(), actual);
        }
        return got;
    }

    private Args upload(Backend be) {
        Args a = new Args();
        for (var e : tensors.entrySet()) a.byName.put(e.getKey(), e.getValue() == null ? null : be.upload(e.getValue().copy()));
        return a;
    }
}
