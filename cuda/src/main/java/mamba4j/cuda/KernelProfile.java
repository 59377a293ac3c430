package mamba4j.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-kernel GPU time, for finding where a decode step or a prefill spends its time on a host without Nsight: with
 * {@code MAMBA4J_CUDA_PROFILE=1} in the environment every kernel launch and cuBLAS call is bracketed by two events and
 * waited for, after a 200 µs spin kernel that keeps the stream busy while the host queues it (so the figures are each
 * kernel's own GPU time: neither host launch latency nor the gaps between kernels count), CUDA-graph capture is
 * skipped (the steps run op by op), and a table sorted by total time is printed on stderr when the JVM exits.
 * Off by default; it slows everything down and is for measurement only.
 */
final class KernelProfile {
    static final boolean ENABLED = on(System.getenv("MAMBA4J_CUDA_PROFILE"));

    private static boolean on(String v) { return v != null && !v.isEmpty() && !"0".equals(v); }

    private record Totals(long calls, double ms) {}

    private static final Map<String, Totals> TOTALS = new LinkedHashMap<>();
    private static boolean hooked;

    private KernelProfile() {}

    static synchronized void add(String name, double ms) {
        TOTALS.merge(name, new Totals(1, ms), (a, b) -> new Totals(a.calls + b.calls, a.ms + b.ms));
        if (!hooked) {
            hooked = true;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> System.err.print(table())));
        }
    }

    /** The table: kernel, calls, total ms, mean µs per call, share of the total. */
    static synchronized String table() {
        double all = TOTALS.values().stream().mapToDouble(Totals::ms).sum();
        List<Map.Entry<String, Totals>> rows = new ArrayList<>(TOTALS.entrySet());
        rows.sort((a, b) -> Double.compare(b.getValue().ms, a.getValue().ms));
        StringBuilder sb = new StringBuilder("\ncuda profile (each kernel waited for; graphs off)\n");
        sb.append(String.format("| %-34s | %9s | %10s | %9s | %6s |%n", "kernel", "calls", "total ms", "mean µs", "share"));
        sb.append("|").append("-".repeat(36)).append("|").append("-".repeat(11)).append("|").append("-".repeat(12))
                .append("|").append("-".repeat(11)).append("|").append("-".repeat(8)).append("|\n");
        for (Map.Entry<String, Totals> e : rows) {
            Totals t = e.getValue();
            sb.append(String.format("| %-34s | %9d | %10.2f | %9.2f | %5.1f%% |%n", e.getKey(), t.calls, t.ms,
                    1000 * t.ms / t.calls, all > 0 ? 100 * t.ms / all : 0));
        }
        sb.append(String.format("| %-34s | %9d | %10.2f | %9s | %6s |%n", "all", rows.stream().mapToLong(r -> r.getValue().calls).sum(), all, "", ""));
        return sb.toString();
    }
}
