package mamba4j.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Measures the read bandwidth this process gets from main memory with all {@link Parallel} threads: the
 * ceiling of a decode step, which must read every weight once per token.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {}

    /** Best of {@code repeats} full reads of a buffer of {@code bytes} (choose it well above the last-level cache), in GB/s. */
    public static double readGBps(long bytes, int repeats) {
        try (Arena arena = Arena.ofShared()) {
            return measure(arena.allocate(bytes, 64), bytes, repeats);
        }
    }

    private static double measure(MemorySegment seg, long bytes, int repeats) {
        for (long i = 0; i < bytes; i += 4096) seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) 1);
        int floats = Math.toIntExact(bytes / 4);
        int vl = CpuKernels.VL;
        double[] sink = new double[Parallel.threads() * 16];
        double best = 0;
        for (int rep = 0; rep < repeats; rep++) {
            long t0 = System.nanoTime();
            Parallel.forRange(floats, 4096, (s, e) -> {
                FloatVector a0 = FloatVector.zero(CpuKernels.S), a1 = a0, a2 = a0, a3 = a0;
                int i = s;
                for (; i + 4 * vl <= e; i += 4 * vl) {
                    a0 = a0.add(FloatVector.fromMemorySegment(CpuKernels.S, seg, i * 4L, ByteOrder.LITTLE_ENDIAN));
                    a1 = a1.add(FloatVector.fromMemorySegment(CpuKernels.S, seg, (i + vl) * 4L, ByteOrder.LITTLE_ENDIAN));
                    a2 = a2.add(FloatVector.fromMemorySegment(CpuKernels.S, seg, (i + 2 * vl) * 4L, ByteOrder.LITTLE_ENDIAN));
                    a3 = a3.add(FloatVector.fromMemorySegment(CpuKernels.S, seg, (i + 3 * vl) * 4L, ByteOrder.LITTLE_ENDIAN));
                }
                sink[(s / 4096) % sink.length] += VMath.sum(a0.add(a1).add(a2).add(a3));
            });
            double secs = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, bytes / secs / 1e9);
        }
        if (sink[0] == 12345.678) System.out.print("");   // keep the reads alive
        return best;
    }
}
