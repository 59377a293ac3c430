package mamba4j.io;

import mamba4j.core.UserInputException;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Sizes asked for by a user's file are checked here before memory is allocated: a config or preset that needs more
 * bytes than the machine has is refused with the figure, instead of failing later with an OutOfMemoryError.
 *
 * <p>The limit is the machine's (or container's) physical memory, as the JVM sees it; {@code -Dmamba4j.memory=BYTES}
 * sets another (tests use it).
 */
public final class MemoryBudget {
    private MemoryBudget() {}

    /** Bytes this process may plan to use. */
    public static long limit() {
        String s = System.getProperty("mamba4j.memory");
        if (s != null) return Long.parseLong(s.strip());
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            return os.getTotalMemorySize();
        return Runtime.getRuntime().maxMemory();
    }

    /**
     * Refuses {@code bytes} for {@code what} (e.g. "config.json: max_position_embeddings = 2147483647: RoPE tables")
     * when they exceed {@link #limit()}. {@code bytes} &lt; 0 stands for an overflowed product.
     */
    public static void require(String what, long bytes) {
        long limit = limit();
        if (bytes < 0 || bytes > limit)
            throw new UserInputException(what + " needs " + (bytes < 0 ? "more than 2^63 bytes" : human(bytes))
                    + ", more than the " + human(limit) + " of memory this machine has");
    }

    /** {@code a · b · …} saturating at {@link Long#MAX_VALUE}, for size estimates. Negative factors count as huge. */
    public static long product(long... factors) {
        long p = 1;
        for (long f : factors) {
            if (f < 0) return Long.MAX_VALUE;
            if (f != 0 && p > Long.MAX_VALUE / f) return Long.MAX_VALUE;
            p *= f;
        }
        return p;
    }

    public static String human(long bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        return bytes + " bytes";
    }
}
