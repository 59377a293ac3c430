package mamba4j.nn;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Ctrl-C (SIGINT) or SIGTERM during training: a shutdown hook asks the loop to stop after its current step and waits
 * (at most {@link #MAX_WAIT_MINUTES}) until the loop has written its checkpoint; then the JVM exits. Installed for the
 * length of one {@link Trainer#run}.
 */
final class Interrupt implements AutoCloseable {
    static final long MAX_WAIT_MINUTES = 10;

    private volatile boolean requested;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Thread hook;

    private Interrupt() {
        hook = new Thread(() -> {
            requested = true;
            System.err.println("\nstopping: finishing this step and writing a checkpoint (kill -9 stops at once and loses the steps since the last one)");
            System.err.flush();
            try {
                finished.await(MAX_WAIT_MINUTES, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "mamba4j-interrupt");
    }

    static Interrupt install() {
        Interrupt i = new Interrupt();
        Runtime.getRuntime().addShutdownHook(i.hook);
        return i;
    }

    /** Whether a signal asked the run to stop. */
    boolean requested() { return requested; }

    /** The checkpoint is written: the JVM may exit. */
    void done() { finished.countDown(); }

    @Override public void close() {
        finished.countDown();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is already shutting down (this run was interrupted): the hook is running and returns now
        }
    }
}
