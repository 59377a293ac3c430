package mamba4j.nn;

import mamba4j.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.SortedMap;

/** The loss curve as a PNG (XChart, rendered headless): training loss, its moving average, validation loss. */
public final class LossPlot {
    private LossPlot() {}

    /** Writes {@code png} atomically; does nothing when there is no point to draw. */
    public static void write(Path png, SortedMap<Long, Double> train, SortedMap<Long, Double> val, String title) {
        if (train.isEmpty() && val.isEmpty()) return;
        byte[] bytes = Plots.render(png, () -> {
            System.setProperty("java.awt.headless", "true"); // before AWT loads: no display on training machines
            XYChart chart = new XYChartBuilder().width(1000).height(600).title(title).xAxisTitle("step").yAxisTitle("loss").build();
            chart.getStyler().setMarkerSize(4);
            if (!train.isEmpty()) {
                XYSeries s = chart.addSeries("train", xs(train), ys(train));
                s.setMarker(SeriesMarkers.NONE);
                if (train.size() >= 20) {
                    double[] ema = ys(train);
                    double a = 2.0 / (Math.max(10, train.size() / 50) + 1); // EMA over ~2% of the run
                    for (int i = 1; i < ema.length; i++) ema[i] = a * ema[i] + (1 - a) * ema[i - 1];
                    chart.addSeries("train (EMA)", xs(train), ema).setMarker(SeriesMarkers.NONE);
                }
            }
            if (!val.isEmpty()) chart.addSeries("validation", xs(val), ys(val)).setMarker(SeriesMarkers.CIRCLE);
            return chart;
        });
        if (bytes == null) return;
        AtomicFiles.write(png, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }

    private static double[] xs(Map<Long, Double> m) { return m.keySet().stream().mapToDouble(Long::doubleValue).toArray(); }

    private static double[] ys(Map<Long, Double> m) {
        return m.values().stream().mapToDouble(d -> Double.isFinite(d) ? d : Double.NaN).toArray();
    }
}
