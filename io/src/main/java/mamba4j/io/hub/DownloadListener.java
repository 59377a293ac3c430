package mamba4j.io.hub;

import java.io.PrintStream;
import java.util.Locale;

/** Hears how a download goes: one {@link #started}, any number of {@link #progress}, one {@link #finished} per file. */
public interface DownloadListener {
    /** {@code file} of {@code total} bytes (-1 when unknown) starts, {@code from} bytes already there (a resumed download). */
    void started(String file, long total, long from);

    /** {@code done} bytes of the current file are on disk. */
    void progress(long done);

    /** The current file is complete. */
    void finished();

    /** Hears nothing. */
    DownloadListener NONE = new DownloadListener() {
        @Override public void started(String file, long total, long from) {}
        @Override public void progress(long done) {}
        @Override public void finished() {}
    };

    /** One line when a file starts, one every {@code seconds} while it goes, one when it is done: readable in logs. */
    static DownloadListener lines(PrintStream out, long seconds) {
        return new DownloadListener() {
            String file;
            long total, from, last;
            long t0, lastPrint;

            @Override public void started(String file, long total, long from) {
                this.file = file;
                this.total = total;
                this.from = from;
                last = from;
                t0 = lastPrint = System.nanoTime();
                out.println("downloading " + file + " (" + mb(total) + (from > 0 ? ", resuming at " + mb(from) : "") + ")");
            }

            @Override public void progress(long done) {
                last = done;
                long now = System.nanoTime();
                if (now - lastPrint < seconds * 1_000_000_000L) return;
                lastPrint = now;
                out.println("  " + file + ": " + mb(done) + (total > 0 ? String.format(Locale.ROOT, " of %s (%.0f%%)", mb(total), 100.0 * done / total) : "")
                        + String.format(Locale.ROOT, ", %.1f MB/s", (done - from) / 1e6 / Math.max(1e-9, (now - t0) * 1e-9)));
            }

            @Override public void finished() {
                out.println(String.format(Locale.ROOT, "  %s: done, %s in %.1f s", file, mb(last), (System.nanoTime() - t0) * 1e-9));
            }
        };
    }

    private static String mb(long bytes) {
        return bytes < 0 ? "size unknown" : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }
}
