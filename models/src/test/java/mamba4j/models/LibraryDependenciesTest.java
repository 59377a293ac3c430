package mamba4j.models;

import mamba4j.nn.LossPlot;
import mamba4j.nn.Plots;
import mamba4j.nn.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * This module's test class path is what a library user of mamba4j-models gets (plus JUnit and the cpu backend, test
 * scope): no CLI, progress-bar, terminal, plotting or PDF jars. The classes that would use them still load and run,
 * with progress bars and plots off.
 */
class LibraryDependenciesTest {
    @Test
    void noCliOrPlottingJarsComeWithTheModelsModule() {
        for (String cls : new String[]{"picocli.CommandLine", "me.tongfei.progressbar.ProgressBar", "org.jline.terminal.Terminal",
                "org.knowm.xchart.XYChart", "org.apache.pdfbox.pdmodel.PDDocument", "org.eclipse.jetty.server.Server"})
            assertThrows(ClassNotFoundException.class, () -> Class.forName(cls), cls + " is not on a library user's class path");
    }

    @Test
    void trainingClassesLoadAndRunWithoutThem(@TempDir Path tmp) throws Exception {
        // linking verifies every method: a class whose code needs a missing jar's types fails here, not in a user's run
        for (String cls : new String[]{"mamba4j.nn.Trainer", "mamba4j.nn.Progress", "mamba4j.nn.Plots", "mamba4j.nn.LossPlot",
                "mamba4j.models.distill.Distiller"})
            Class.forName(cls, true, getClass().getClassLoader());
        assertFalse(Progress.available(), "Progress.bar gives null (progress off): its callers (Trainer) run without a bar");
        Plots.lines(tmp.resolve("a.png"), "t", "x", "y", false, Map.of("s", new double[][]{{1, 2}, {3, 4}}));
        TreeMap<Long, Double> loss = new TreeMap<>(Map.of(1L, 2.0, 2L, 1.5));
        LossPlot.write(tmp.resolve("loss.png"), loss, new TreeMap<>(), "t");
        assertFalse(Files.exists(tmp.resolve("a.png")) || Files.exists(tmp.resolve("loss.png")), "no plot without XChart, and no failure");
    }
}
