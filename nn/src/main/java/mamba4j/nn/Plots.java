package mamba4j.nn;

import mamba4j.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;

/** Small PNG line charts (XChart, headless), written atomically: accuracy against length and the like. */
public final class Plots {
    private Plots() {}

    private static volatile boolean warned;

    /**
     * The PNG bytes of the chart {@code build} makes, or null when this JVM cannot draw (no java.desktop module, no
     * fonts: AWT errors): a plot is a by-product, so the run goes on and the reason is printed once on stderr.
     */
    public static byte[] render(Path png, java.util.function.Supplier<org.knowm.xchart.internal.chartpart.Chart<?, ?>> build) {
        try {
            return BitmapEncoder.getBitmapBytes(build.get(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException | RuntimeException | Error e) {
            if (e instanceof VirtualMachineError vm) throw vm;          // out of memory is not a drawing problem
            if (!warned) {
                warned = true;
                System.err.println("warning: plots are off: cannot draw " + png.getFileName() + " (" + e + ")");
            }
            return null;
        }
    }

    /** One line per entry of {@code series}: name → {xs, ys}. */
    public static void lines(Path png, String title, String xTitle, String yTitle, boolean logX, Map<String, double[][]> series) {
        byte[] bytes = render(png, () -> {
            System.setProperty("java.awt.headless", "true");
            XYChart chart = new XYChartBuilder().width(900).height(550).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
            chart.getStyler().setXAxisLogarithmic(logX);
            chart.getStyler().setMarkerSize(7);
            for (var e : series.entrySet()) chart.addSeries(e.getKey(), e.getValue()[0], e.getValue()[1]).setMarker(SeriesMarkers.CIRCLE);
            return chart;
        });
        if (bytes == null) return;
        AtomicFiles.write(png, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }
}
