package mamba4j.models;

import mamba4j.core.Backend;

/**
 * A decode state's step ops: run as they are the first time (kernels compile, lazily sized buffers settle), then
 * recorded once by the backend ({@link Backend#capture}: a CUDA graph on the GPU, the ops themselves on the host) and
 * replayed at every later token. The ops must be the same on the same tensors at every step, which holds for the
 * recurrent models: their state and step buffers are allocated once per {@code DecodeState}.
 */
public final class StepReplay implements Runnable {
    private final Backend backend;
    private final Runnable ops;
    private boolean warm;
    private Runnable replay;

    public StepReplay(Backend backend, Runnable ops) {
        this.backend = backend;
        this.ops = ops;
    }

    @Override public void run() {
        if (replay != null) {
            replay.run();
        } else if (!warm) {
            ops.run();
            warm = true;
        } else {
            replay = backend.capture(ops);
            replay.run();
        }
    }
}
