package mamba4j.nn;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;
import java.time.Duration;

/**
 * Builds the bars of {@link Progress}: kept apart because verifying this code loads progressbar's classes, which nn
 * has only as an optional dependency; {@link Progress} calls it only once it knows they are there.
 */
final class ProgressBars {
    private ProgressBars() {}

    /** A live bar redrawn in place ({@code tty}), else one plain line every {@code lineSeconds}. */
    static ProgressBar make(String task, long max, long start, double elapsedBefore, PrintStream out, boolean tty, long lineSeconds) {
        ProgressBarBuilder b = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(max)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(tty ? 200 : (int) (lineSeconds * 1000))
                .startsFrom(start, Duration.ofMillis((long) (elapsedBefore * 1000)));
        b.setConsumer(tty ? new ConsoleProgressBarConsumer(out)
                : new DelegatingProgressBarConsumer(line -> { out.println(line.strip()); out.flush(); }, 150));
        return b.build();
    }
}
