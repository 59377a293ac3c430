package mamba4j.testkit.conformance;

import mamba4j.core.Backend;

/**
 * The suite on whatever backend {@link SuiteCatchesBrokenKernelsTest} put here (one check at a time: the tests run
 * sequentially). Named so that surefire does not run it on its own; the launcher of that test runs selected cases.
 */
class MutantSuite extends BackendConformance {
    static volatile Backend current;

    @Override protected Backend backend() { return current; }
}
