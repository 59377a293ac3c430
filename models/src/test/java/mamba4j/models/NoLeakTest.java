package mamba4j.models;

import mamba4j.core.Backend;
import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.core.Workspace;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Model;
import mamba4j.models.mamba2.Mamba2Model;
import mamba4j.nn.TrainableModel;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13 part 5: building and dropping many trainable models in one JVM keeps resident memory flat. Each model's
 * step workspaces reserve native memory (blocks from 1 MiB up), which before was a never-closed shared arena (~130 MB
 * per trainable stayed for the life of the JVM). Now a workspace is closed by its owner or returned by the GC with
 * its model. The figure read is VmRSS of /proc/self/status (Linux, as on CI); a leak of the workspaces fails the test
 * (checked: with the arena never freed, RSS grew by 740 MiB over 100 models).
 */
class NoLeakTest {
    static final long MIB = 1L << 20;
    /** Allowed RSS growth from iteration 10 to 100: the JVM's own (heap, code cache) and the allocator's noise. */
    static final long BOUND = 64 * MIB;

    static long rss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/self/status (the leak test reads Linux RSS)", e);
        }
        throw new IllegalStateException("no VmRSS line in /proc/self/status");
    }

    /**
     * {@code n} times: build, one training step (the workspaces are touched), then close (or only drop). Returns the
     * RSS after a GC at iteration 10 and at the end, and the peak between: with owned, closed workspaces the end is
     * within a few MiB of iteration 10, where a leak would add ≥ 64 MiB per model.
     */
    private static long[] cycle(int n, IntFunction<TrainableModel> make, boolean close) {
        int[][] ids = Mamba1IdentityTest.ids(2, 32, 3);
        for (int[] row : ids) for (int j = 0; j < row.length; j++) row[j] %= 61;   // within both tiny vocabularies (Mamba-1 97, Mamba-2 61)
        int[][] targets = TokenIds.nextTokenTargets(ids);
        long at10 = 0, peak = 0, workspaces = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            TrainableModel m = make.apply(i);
            m.lossAndBackward(ids, targets, 1f);
            workspaces = switch (m) {
                case Mamba1Model t -> t.workspaceBytes();
                case Mamba2Model t -> t.workspaceBytes();
                default -> 0;
            };
            if (close) m.close();
            // a GC now and then: parameters live in GC-managed native memory, freed only when collected; dropped models'
            // workspaces are freed after a GC
            if (i % (close ? 10 : 5) == (close ? 9 : 4)) collect();
            if (i == 9) at10 = rss();
            peak = Math.max(peak, rss());
        }
        collect();
        System.out.printf("  %d cycles in %.1f s, %.1f MiB of workspaces each%n", n, (System.nanoTime() - t0) * 1e-9, workspaces / (double) MIB);
        assertTrue(workspaces * (n - 10) >= 2 * BOUND, "the test must be sensitive: a leak would add ≥ twice the bound");
        return new long[] {at10, rss(), peak};
    }

    private static void collect() {
        for (int k = 0; k < 2; k++) {
            System.gc();
            try {
                Thread.sleep(100);   // the cleaner thread runs after the GC
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Test
    void hundredTrainablesBuiltAndClosedKeepResidentMemoryFlat() {
        Backend be = Backends.get("cpu");
        long[] m1 = cycle(100, i -> Mamba1Model.trainable(Mamba1IdentityTest.TINY, be, Mamba1Init.weights(Mamba1IdentityTest.TINY, DType.F32, i),
                "backbone.embeddings.weight"), true);
        long[] m2 = cycle(100, i -> trainableMamba2(i, be), true);
        System.out.printf("RSS, 100 Mamba-1 trainables: %d MiB after 10, %d MiB after 100 (peak %d); 100 Mamba-2: %d → %d MiB (peak %d)%n",
                m1[0] / MIB, m1[1] / MIB, m1[2] / MIB, m2[0] / MIB, m2[1] / MIB, m2[2] / MIB);
        assertTrue(m1[1] - m1[0] < BOUND, "Mamba-1: RSS grew from " + m1[0] / MIB + " to " + m1[1] / MIB + " MiB");
        assertTrue(m2[1] - m2[0] < BOUND, "Mamba-2: RSS grew from " + m2[0] / MIB + " to " + m2[1] / MIB + " MiB");
    }

    @Test
    void droppedUnclosedModelsAreFreedByTheCollector() {
        Backend be = Backends.get("cpu");
        long[] r = cycle(100, i -> Mamba1Model.trainable(Mamba1IdentityTest.TINY, be, Mamba1Init.weights(Mamba1IdentityTest.TINY, DType.F32, i),
                "backbone.embeddings.weight"), false);
        System.out.printf("RSS, 100 dropped unclosed Mamba-1 trainables: %d MiB after 10, %d MiB after 100 and a GC (peak %d)%n",
                r[0] / MIB, r[1] / MIB, r[2] / MIB);
        assertTrue(r[1] - r[0] < BOUND, "RSS grew from " + r[0] / MIB + " to " + r[1] / MIB + " MiB");
    }

    private static Mamba2Model trainableMamba2(long seed, Backend be) {
        Mamba2Model src = Mamba2IdentityTest.perturbed(Mamba2IdentityTest.tiny(3, false, 1.5), seed, be);
        return Mamba2Model.trainable(src.config(), be, src.weights(), "backbone.embeddings.weight");
    }

    @Test
    void aClosedWorkspaceRefusesUse() {
        Workspace ws = new Workspace();
        ws.zeros(DType.F32, 4);
        ws.close();
        ws.close();   // idempotent
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> ws.zeros(DType.F32, 4));
    }

    @Test
    void hundredModelsLoadedAndClosedKeepResidentMemoryFlat(@org.junit.jupiter.api.io.TempDir Path tmp) {
        Backend be = Backends.get("cpu");
        Mamba1Model m = Mamba1Init.random(Mamba1IdentityTest.TINY, DType.F32, 1, be);
        mamba4j.models.mamba1.Mamba1Saver.save(m, tmp.resolve("m"));
        long before = 0, peak = 0;
        for (int i = 0; i < 100; i++) {
            try (Models.Loaded l = Models.load(tmp.resolve("m"), be)) {
                l.model();
            }
            if (i == 4) before = rss();
            if (i >= 4) peak = Math.max(peak, rss());
        }
        System.out.printf("RSS over 100 loads: %d → peak %d MiB%n", before / MIB, peak / MIB);
        assertTrue(peak - before < BOUND, "RSS grew from " + before / MIB + " to " + peak / MIB + " MiB");
    }
}
