package mamba4j.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import mamba4j.io.AtomicFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static mamba4j.app.ScalingBenchCommand.MAMBA;
import static mamba4j.app.ScalingBenchCommand.TEACHER;

/**
 * The plot of {@code bench-scaling}, in a class of its own so that the command class names no {@code java.awt} type:
 * picocli reflects on every command's methods when the CLI starts, and a runtime without {@code java.desktop} (the
 * slim one the GPU host carries) must still start it.
 */
final class ScalingPlot {
    private ScalingPlot() {}

    /** Four log-log panels in one PNG: prefill time, prefill peak memory, decode tok/s, state bytes. Phi red, Mamba blue. */
    static void plot(Path png, JsonNode json) {
        System.setProperty("java.awt.headless", "true");
        Map<String, List<ObjectNode>> forward = new LinkedHashMap<>();
        for (String m : List.of(TEACHER, MAMBA)) forward.put(m, rows(json.get("forward")).stream().filter(r -> r.get("model").asText().equals(m)).toList());
        List<ObjectNode> decode = rows(json.get("decode"));
        JsonNode t = json.get("teacher"), mc = json.get("mamba");
        Map<String, String> names = Map.of(TEACHER, "Phi", MAMBA, "Mamba-1");
        XYChart time = chart("prefill time vs L (batch 1)", "L (tokens)", "seconds");
        XYChart mem = chart("prefill peak memory vs L (batch 1)", "L (tokens)", "MB");
        for (String m : List.of(TEACHER, MAMBA)) {
            List<ObjectNode> ok = forward.get(m).stream().filter(r -> !r.has("skipped")).toList();
            if (ok.isEmpty()) continue;
            add(time, names.get(m), col(ok, "length"), col(ok, "seconds"), color(m, 0), Style.MEASURED);
            add(mem, names.get(m) + ": process peak", col(ok, "length"), col(ok, "peak_rss_mb"), color(m, 0), Style.MEASURED);
            add(mem, names.get(m) + ": peak − resident before", col(ok, "length"), positive(col(ok, "work_mb")), color(m, 2), Style.MEASURED);
            // reference slopes through this model's largest measured point: 2 for attention, 1 for Mamba
            ObjectNode lastPt = ok.getLast();
            int p = m.equals(TEACHER) ? 2 : 1;
            double[] xs = col(forward.get(m), "length"), ys = new double[xs.length];
            for (int i = 0; i < xs.length; i++) ys[i] = lastPt.get("seconds").asDouble() * Math.pow(xs[i] / lastPt.get("length").asDouble(), p);
            add(time, "slope " + p + " (∝ L" + (p == 2 ? "²" : "") + ")", xs, ys, color(m, 2), Style.REFERENCE);
        }
        XYChart tps = chart("decode vs context", "context (tokens)", "tokens/s (all sequences)");
        XYChart state = chart("decode state: KV cache vs recurrent state", "context (tokens)", "bytes");
        List<Integer> bs = decode.stream().map(r -> r.get("batch").asInt()).distinct().toList();
        for (int bi = 0; bi < bs.size(); bi++)
            for (String m : List.of(TEACHER, MAMBA)) {
                int b = bs.get(bi);
                List<ObjectNode> all = decode.stream().filter(r -> r.get("batch").asInt() == b && r.get("model").asText().equals(m)).toList();
                List<ObjectNode> ok = all.stream().filter(r -> !r.has("skipped")).toList();
                String n = names.get(m) + ", batch " + b;
                Color c = color(m, Math.min(bi, 1));
                if (!ok.isEmpty()) add(tps, n, col(ok, "context"), col(ok, "tokens_per_s"), c, Style.MEASURED);
                // analytic bytes need no run: 2·layers·B·c·Hkv·Dh·4 for the KV cache, layers·B·E·(K + N)·4 for the state
                double[] xs = col(all, "context"), ys = new double[xs.length];
                for (int i = 0; i < xs.length; i++)
                    ys[i] = m.equals(TEACHER) ? 2.0 * t.get("n_layer").asInt() * b * xs[i] * t.get("n_kv_head").asInt() * t.get("head_dim").asInt() * 4
                            : (double) mc.get("n_layer").asInt() * b * mc.get("d_inner").asInt() * (mc.get("d_conv").asInt() + mc.get("d_state").asInt()) * 4;
                add(state, n + ": analytic", xs, ys, c, Style.REFERENCE);
                if (!ok.isEmpty()) {
                    add(state, n + ": allocated", col(ok, "context"), col(ok, "state_allocated_bytes"), c, Style.MEASURED);
                    add(state, n + ": RSS growth", col(ok, "context"), positive(col(ok, "state_rss_growth_bytes")), c, Style.POINTS);
                }
            }
        int w = 900, h = 560;
        BufferedImage img = new BufferedImage(2 * w, 2 * h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, 2 * w, 2 * h);
        XYChart[] panels = {time, mem, tps, state};
        state.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.OutsideE);   // its lines fill the corners
        for (int i = 0; i < panels.length; i++) g.drawImage(BitmapEncoder.getBufferedImage(panels[i]), (i % 2) * w, (i / 2) * h, null);
        g.dispose();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", bytes);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot render " + png, ex);
        }
        AtomicFiles.write(png, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes.toByteArray());
            while (b.hasRemaining()) ch.write(b);
        });
    }

    /** Phi in reds, Mamba in blues: shade 0 the first batch, 1 (darker) the second and later, 2 (lighter) a model's secondary series. */
    private static Color color(String model, int shade) {
        Color[] c = model.equals(TEACHER) ? new Color[]{new Color(0xD62728), new Color(0x8C1C1C), new Color(0xFF9896)}
                : new Color[]{new Color(0x1F77B4), new Color(0x0B3D66), new Color(0x9EC9E2)};
        return c[Math.min(shade, 2)];
    }

    private enum Style { MEASURED, REFERENCE, POINTS }

    private static XYChart chart(String title, String x, String y) {
        XYChart c = new XYChartBuilder().width(900).height(560).title(title).xAxisTitle(x).yAxisTitle(y).build();
        c.getStyler().setXAxisLogarithmic(true);
        c.getStyler().setYAxisLogarithmic(true);
        c.getStyler().setMarkerSize(7);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
        return c;
    }

    /** A series with only its positive points (log axes): measured = line and circles, reference = dashed, points = crosses. */
    private static void add(XYChart c, String name, double[] xs, double[] ys, Color color, Style style) {
        List<double[]> pts = new ArrayList<>();
        for (int i = 0; i < xs.length; i++) if (xs[i] > 0 && ys[i] > 0 && Double.isFinite(ys[i])) pts.add(new double[]{xs[i], ys[i]});
        if (pts.isEmpty()) return;
        XYSeries s = c.addSeries(name, pts.stream().mapToDouble(p -> p[0]).toArray(), pts.stream().mapToDouble(p -> p[1]).toArray());
        s.setLineColor(color);
        s.setMarkerColor(color);
        switch (style) {
            case MEASURED -> s.setMarker(SeriesMarkers.CIRCLE);
            case REFERENCE -> { s.setMarker(SeriesMarkers.NONE); s.setLineStyle(SeriesLines.DASH_DASH); }
            case POINTS -> { s.setMarker(SeriesMarkers.CROSS); s.setLineStyle(SeriesLines.NONE); }
        }
    }

    private static List<ObjectNode> rows(JsonNode array) {
        List<ObjectNode> r = new ArrayList<>();
        array.forEach(n -> r.add((ObjectNode) n));
        return r;
    }

    private static double[] col(List<ObjectNode> rows, String key) { return rows.stream().mapToDouble(r -> r.get(key).asDouble()).toArray(); }

    private static double[] positive(double[] v) {
        double[] o = v.clone();
        for (int i = 0; i < o.length; i++) if (!(o[i] > 0)) o[i] = Double.NaN;
        return o;
    }
}
