package mamba4j.nn;

import java.nio.file.Path;
import java.util.SortedMap;

/** The loss curve as a PNG (XChart, rendered headless by {@link Charts}): training loss, its moving average, validation loss. */
public final class LossPlot {
    private LossPlot() {}

    /** Writes {@code png} atomically; does nothing when there is no point to draw or the JVM cannot draw (see {@link Plots#render}). */
    public static void write(Path png, SortedMap<Long, Double> train, SortedMap<Long, Double> val, String title) {
        if (train.isEmpty() && val.isEmpty()) return;
        Plots.write(png, Plots.render(png, () -> Charts.loss(train, val, title)));
    }
}
