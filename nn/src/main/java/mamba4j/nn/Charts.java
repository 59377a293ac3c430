package mamba4j.nn;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.SortedMap;

/**
 * The only class that touches XChart: draws the charts of {@link Plots} and {@link LossPlot} as PNG bytes. XChart is an
 * optional dependency of nn (a library user of the inference modules does not get it), so nothing else names its
 * types: when it is missing, loading this class fails inside {@link Plots#render}, which turns plots off and says so.
 */
final class Charts {
    private Charts() {}

    /** One line per entry of {@code series}: name → {xs, ys}. */
    static byte[] lines(String title, String xTitle, String yTitle, boolean logX, Map<String, double[][]> series) {
        System.setProperty("java.awt.headless", "true");   // before AWT loads: no display on training machines
        XYChart chart = new XYChartBuilder().width(900).height(550).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setXAxisLogarithmic(logX);
        chart.getStyler().setMarkerSize(7);
        for (var e : series.entrySet()) chart.addSeries(e.getKey(), e.getValue()[0], e.getValue()[1]).setMarker(SeriesMarkers.CIRCLE);
        return png(chart);
    }

    /** Training loss, its moving average (from 20 points), validation loss. */
    static byte[] loss(SortedMap<Long, Double> train, SortedMap<Long, Double> val, String title) {
        System.setProperty("java.awt.headless", "true");
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
        return png(chart);
    }

    private static byte[] png(Chart<?, ?> chart) {
        try {
            return BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static double[] xs(Map<Long, Double> m) { return m.keySet().stream().mapToDouble(Long::doubleValue).toArray(); }

    private static double[] ys(Map<Long, Double> m) {
        return m.values().stream().mapToDouble(d -> Double.isFinite(d) ? d : Double.NaN).toArray();
    }
}
