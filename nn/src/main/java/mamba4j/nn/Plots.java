package mamba4j.nn;

import mamba4j.io.AtomicFiles;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;

/** Small PNG line charts (XChart, headless, drawn by {@link Charts}), written atomically: accuracy against length and the like. */
public final class Plots {
    private Plots() {}

    private static volatile boolean warned;

    /**
     * The PNG bytes {@code draw} makes, or null when this JVM cannot draw: XChart not on the class path (it is an
     * optional dependency of nn), no java.desktop module, no fonts (AWT errors). A plot is a by-product, so the run goes
     * on and the reason is printed once on stderr.
     */
    static byte[] render(Path png, Supplier<byte[]> draw) {
        try {
            return draw.get();
        } catch (RuntimeException | Error e) {
            if (e instanceof VirtualMachineError vm) throw vm;          // out of memory is not a drawing problem
            if (!warned) {
                warned = true;
                String why = e instanceof NoClassDefFoundError n && n.getMessage() != null && n.getMessage().startsWith("org/knowm/xchart")
                        ? "XChart (org.knowm.xchart:xchart) is not on the class path" : e.toString();
                System.err.println("warning: plots are off: cannot draw " + png.getFileName() + " (" + why + ")");
            }
            return null;
        }
    }

    /** One line per entry of {@code series}: name → {xs, ys}. Writes nothing when the JVM cannot draw (see {@link #render}). */
    public static void lines(Path png, String title, String xTitle, String yTitle, boolean logX, Map<String, double[][]> series) {
        write(png, render(png, () -> Charts.lines(title, xTitle, yTitle, logX, series)));
    }

    /** Writes {@code bytes} to {@code png} atomically; nothing when null. */
    static void write(Path png, byte[] bytes) {
        if (bytes == null) return;
        AtomicFiles.write(png, ch -> {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
        });
    }
}
