package mamba4j.nn;

import java.nio.file.Path;

/**
 * Training stopped on SIGINT or SIGTERM after writing a checkpoint (when the last step was finite); the run continues
 * with {@code --resume}. The CLI exits with the shell's status for the signal.
 */
public final class TrainingInterruptedException extends RuntimeException {
    private final long step;
    private final transient Path checkpoint;

    public TrainingInterruptedException(long step, Path checkpoint) {
        super("interrupted at step " + step + (checkpoint == null ? "" : "; checkpoint " + checkpoint));
        this.step = step;
        this.checkpoint = checkpoint;
    }

    public long step() { return step; }

    /** The last checkpoint written, or null. */
    public Path checkpoint() { return checkpoint; }
}
