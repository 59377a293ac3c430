package mamba4j.nn;

import me.tongfei.progressbar.ProgressBar;

import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Progress of long work on stderr: a live bar redrawn in place when stderr is a terminal, else (a log file, a pipe)
 * one plain line every {@code -Dmamba4j.progress.seconds} seconds (default 30) and one at the end, so logs stay
 * readable. {@code -Dmamba4j.progress=bar|lines} overrides the detection.
 *
 * <p>The bars are me.tongfei:progressbar, an optional dependency of nn (a library user of the inference modules does
 * not get it): without it {@link #bar} returns null (no bar, said once on stderr), which every caller already takes
 * for "progress off". Only {@link ProgressBars} builds one, so this class loads without the library.
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

    private static volatile Boolean available;

    /** Whether me.tongfei:progressbar is on the class path. */
    public static boolean available() {
        Boolean a = available;
        if (a == null) {
            try {
                Class.forName("me.tongfei.progressbar.ProgressBar", false, Progress.class.getClassLoader());
                a = true;
            } catch (ClassNotFoundException | LinkageError e) {
                a = false;
                System.err.println("warning: progress bars are off: me.tongfei:progressbar is not on the class path");
            }
            available = a;
        }
        return a;
    }

    /**
     * A bar for {@code max} units named {@code task}, starting at {@code start} units already done in
     * {@code elapsedBefore} seconds (a resumed run), printing to {@code out}; null when progressbar is not on the class
     * path (see {@link #available}).
     */
    public static ProgressBar bar(String task, long max, long start, double elapsedBefore, PrintStream out) {
        if (!available()) return null;
        return ProgressBars.make(task, max, start, elapsedBefore, out, stderrIsTerminal(), lineSeconds());
    }

    /** A bar counting from zero. */
    public static ProgressBar bar(String task, long max, PrintStream out) {
        return bar(task, max, 0, 0, out);
    }
}
