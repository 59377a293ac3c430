package mamba4j.nn;

import mamba4j.core.autograd.Parameter;

import java.util.List;

/**
 * What the {@link Trainer} needs from a model. Implemented by the models module (Mamba-1/2 language models)
 * and, in tests, by tiny models written with plain loops.
 */
public interface TrainableModel extends AutoCloseable {
    List<Parameter> parameters();                       // F32 master weights with .grad()
    /** Forward + backward on inputs (B, T) with targets (B, T; −100 = ignored): returns the mean loss over counted
        targets and ACCUMULATES gradients × gradScale into each Parameter.grad(). */
    double lossAndBackward(int[][] inputs, int[][] targets, float gradScale);
    /** Loss only (validation). */
    double loss(int[][] inputs, int[][] targets);
    /** Greedy argmax prediction per position (B, T), for exact-match evaluation. */
    int[][] predict(int[][] inputs);
    /** Writes an HF-loadable checkpoint (config.json + model.safetensors) into dir (atomically). */
    void save(java.nio.file.Path dir);
    /** Frees the native memory the model owns beyond its parameters (step workspaces); the model is unusable afterwards. */
    @Override default void close() {}
}
