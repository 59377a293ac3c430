package mamba4j.nn;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.time.Duration;

/**
 * Progress of long work on stderr: a live bar redrawn in place when stderr is a terminal, else (a log file, a pipe)
 * one plain line every {@code -Dmamba4j.progress.seconds} seconds (default 30) and one at the end, so logs stay
 * readable. {@code -Dmamba4j.progress=bar|lines} overrides the detection.
 */
public final class Progress {
    private Progress() {}

    private static volatile Boolean terminal;

    /** Whether file descriptor 2 is a terminal (isatty through the FFM API; false when that cannot be asked). */
    public static boolean stderrIsTerminal() {
        Boolean t = terminal;
        if (t == null) {
            String mode = System.getProperty("mamba4j.progress", "");
            if (mode.equals("bar")) t = true;
            else if (mode.equals("lines")) t = false;
            else {
                try {
                    Linker linker = Linker.nativeLinker();
                    MethodHandle isatty = linker.downcallHandle(linker.defaultLookup().find("isatty").orElseThrow(),
                            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                    t = (int) isatty.invokeExact(2) == 1;
                } catch (Throwable e) {
                    t = false;   // no native access or no libc symbol: plain lines are always readable
                }
            }
            terminal = t;
        }
        return t;
    }

    /** Seconds between the plain lines when stderr is not a terminal. */
    static long lineSeconds() {
        return Math.max(1, Long.getLong("mamba4j.progress.seconds", 30));
    }

    /**
     * A bar for {@code max} units named {@code task}, starting at {@code start} units already done in
     * {@code elapsedBefore} seconds (a resumed run), printing to {@code out}.
     */
    public static ProgressBar bar(String task, long max, long start, double elapsedBefore, PrintStream out) {
        boolean tty = stderrIsTerminal();
        ProgressBarBuilder b = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(max)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(tty ? 200 : (int) (lineSeconds() * 1000))
                .startsFrom(start, Duration.ofMillis((long) (elapsedBefore * 1000)));
        b.setConsumer(tty ? new ConsoleProgressBarConsumer(out)
                : new DelegatingProgressBarConsumer(line -> { out.println(line.strip()); out.flush(); }, 150));
        return b.build();
    }

    /** A bar counting from zero. */
    public static ProgressBar bar(String task, long max, PrintStream out) {
        return bar(task, max, 0, 0, out);
    }
}
