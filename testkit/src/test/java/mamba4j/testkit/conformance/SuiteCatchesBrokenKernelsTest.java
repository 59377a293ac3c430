package mamba4j.testkit.conformance;

import mamba4j.core.Backend;
import mamba4j.core.CopyRegion;
import mamba4j.core.Kernels;
import mamba4j.core.ReferenceKernels;
import mamba4j.core.Ssd;
import mamba4j.core.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The suite fails on broken kernels: the reference's kernels behind a proxy that plants one bug of the kinds fast
 * kernels have (an ignored accumulate flag, an unwritten vector tail, an ignored offset, a read past the filled
 * cache, a dropped state, an overwrite where an accumulate is due), run through the conformance cases that must
 * catch it; and, as the control, the same cases pass on the proxy without a bug.
 */
class SuiteCatchesBrokenKernelsTest {
    /** A planted bug: runs instead of the kernel {@code op}; {@code kernel} runs the real one on (possibly changed) arguments. */
    interface Bug { void run(Object[] args, Kernel kernel) throws Throwable; }

    interface Kernel { void run(Object[] args) throws Throwable; }

    record Mutation(String name, String op, Bug bug, String caseMethod) {
        @Override public String toString() { return name; }
    }

    static Kernels withBug(String op, Bug bug) {
        Kernels ref = ReferenceKernels.INSTANCE;
        return (Kernels) Proxy.newProxyInstance(Kernels.class.getClassLoader(), new Class<?>[]{Kernels.class}, (proxy, m, args) -> {
            Kernel real = a -> invoke(m, ref, a);
            if (bug != null && m.getName().equals(op)) {
                bug.run(args, real);
                return null;
            }
            return invoke(m, ref, args);
        });
    }

    private static Object invoke(Method m, Object target, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    static List<Mutation> mutations() {
        return List.of(
                new Mutation("matmul ignores accumulate", "matmul", (a, k) -> { a[5] = false; k.run(a); },
                        "matmulEveryTransposeAccumulatingAndNot"),
                new Mutation("silu leaves the last element of a ragged tail", "silu", (a, k) -> {
                    k.run(a);
                    Tensor out = (Tensor) a[1];
                    if (out.numel() % 8 != 0) out.setFloat(out.numel() - 1, 0f);
                }, "activationsAndTheirBackwards"),
                new Mutation("copy ignores the destination offset", "copy", (a, k) -> {
                    CopyRegion r = (CopyRegion) a[2];
                    a[2] = new CopyRegion(r.sizes(), r.srcOffset(), r.srcStrides(), 0, r.dstStrides());
                    k.run(a);
                }, "copyMovesExactlyTheRegion"),
                new Mutation("attentionDecode reads one position past len", "attentionDecode", (a, k) -> {
                    if ((int) a[3] < ((Tensor) a[1]).dim(1)) a[3] = (int) a[3] + 1;
                    k.run(a);
                }, "attentionDecodeReadsOnlyTheFilledCache"),
                new Mutation("ssd drops the state (starts from 0, never writes S_L)", "ssd", (a, k) -> {
                    Ssd s = (Ssd) a[0];
                    if (s.state() != null)
                        a[0] = new Ssd(s.x(), s.logA(), s.scale(), s.bm(), s.cm(), s.d(), Tensor.zeros(s.state().dtype(), s.state().shape()), s.out());
                    k.run(a);
                }, "ssdShortSequencesAndSingleSteps"),
                new Mutation("rotary ignores pos0", "rotary", (a, k) -> { a[4] = 0; k.run(a); }, "rotaryFullAndPartialAndItsBackward"),
                new Mutation("layerNormBackward overwrites db instead of accumulating", "layerNormBackward", (a, k) -> {
                    if (a[6] != null) ((Tensor) a[6]).fill(0f);
                    k.run(a);
                }, "layerNormAndItsBackwardWithAndWithoutBias"),
                new Mutation("causalConv1dBackward overwrites dw instead of accumulating", "causalConv1dBackward", (a, k) -> {
                    ((Tensor) a[6]).fill(0f);
                    k.run(a);
                }, "causalConvAndItsBackward"));
    }

    /** Runs the named conformance cases on the given kernels; returns {tests run, failures}. */
    private static long[] runCases(Kernels kernels, String... caseMethods) {
        MutantSuite.current = new Backend(kernels);
        var request = LauncherDiscoveryRequestBuilder.request();
        for (String name : caseMethods)
            for (Method m : BackendConformance.class.getDeclaredMethods())
                if (m.getName().equals(name)) request.selectors(DiscoverySelectors.selectMethod(MutantSuite.class, m));
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(request.build(), listener);
        var summary = listener.getSummary();
        return new long[]{summary.getTestsStartedCount(), summary.getTotalFailureCount()};
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mutations")
    void aPlantedBugFailsTheSuite(Mutation m) {
        long[] r = runCases(withBug(m.op(), m.bug()), m.caseMethod());
        assertTrue(r[0] > 0, m.caseMethod() + " ran no case");
        assertTrue(r[1] > 0, "the suite passed with the bug \"" + m.name() + "\" planted in " + m.op() + " (" + r[0] + " cases of " + m.caseMethod() + ")");
    }

    @Test
    void withoutABugTheSameCasesPass() {
        String[] all = mutations().stream().map(Mutation::caseMethod).distinct().toArray(String[]::new);
        long[] r = runCases(withBug(null, null), all);
        assertTrue(r[0] >= all.length, "cases run: " + r[0] + " for " + Arrays.toString(all));
        assertEquals(0, r[1], "failures of the unmodified reference behind the proxy");
    }

}
