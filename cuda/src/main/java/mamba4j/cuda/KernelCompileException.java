package mamba4j.cuda;

import java.util.List;

/**
 * NVRTC rejected a kernel source: names the kernel file, NVRTC's error and the options, then NVRTC's log
 * (the compiler's "file(line): error: …" lines), trimmed to the first {@value #MAX_LOG_LINES} lines.
 */
public final class KernelCompileException extends RuntimeException {
    static final int MAX_LOG_LINES = 40;
    private final String file;
    private final String log;

    public KernelCompileException(String file, List<String> options, String error, String log) {
        super(format(file, options, error, log));
        this.file = file;
        this.log = log;
    }

    public String file() { return file; }
    public String log() { return log; }

    /** "kernel scan.cu failed to compile (NVRTC_ERROR_COMPILATION, options …):\n  log lines…" */
    static String format(String file, List<String> options, String error, String log) {
        StringBuilder sb = new StringBuilder("kernel ").append(file).append(" failed to compile (").append(error)
                .append(", options ").append(String.join(" ", options)).append(")");
        String[] lines = log.strip().split("\\R");
        if (log.isBlank()) return sb.append(": NVRTC gave no log").toString();
        sb.append(':');
        for (int i = 0; i < Math.min(lines.length, MAX_LOG_LINES); i++) sb.append("\n  ").append(lines[i]);
        if (lines.length > MAX_LOG_LINES) sb.append("\n  … ").append(lines.length - MAX_LOG_LINES).append(" more lines");
        return sb.toString();
    }
}
