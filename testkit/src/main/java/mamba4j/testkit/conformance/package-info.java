/**
 * The backend conformance suite (ggml's test-backend-ops, candle's per-device tests): every op of the closed set,
 * forward and backward, run on a backend and on the reference from the same random host inputs, each uploaded to its
 * backend's device and downloaded for the comparison, so an accelerator backend runs it unchanged. A backend module
 * runs it by subclassing {@link mamba4j.testkit.conformance.BackendConformance} in its tests.
 *
 * <p>Not here: checks of a backend's internals (threading, determinism under the JIT): those stay with the backend.
 */
package mamba4j.testkit.conformance;
