package mamba4j.cpu;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.testkit.conformance.BackendConformance;

/** The conformance suite on the cpu backend, found as users find it (ServiceLoader, by name). */
class CpuConformanceTest extends BackendConformance {
    private static final Backend CPU = Backends.get("cpu");

    @Override protected Backend backend() { return CPU; }
}
