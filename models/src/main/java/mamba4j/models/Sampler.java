package mamba4j.models;

import mamba4j.core.Sampling;

import java.util.SplittableRandom;

/**
 * A seeded sampler: the settings of {@link Sampling} (temperature, top-k, top-p; temperature 0 is greedy) and the
 * generator that draws each step's uniform, so a row samples the same ids on the host and on a device.
 */
public final class Sampler {
    private final Sampling settings;   // temperature, top-k, top-p (validated there); its uniform unused
    private final SplittableRandom random;

    public Sampler(float temperature, int topK, float topP, long seed) {
        this.settings = new Sampling(temperature, topK, topP, 0);
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() { return new Sampler(0f, 0, 1f, 0); }

    public boolean isGreedy() { return settings.isGreedy(); }

    /** The next row's settings with a fresh draw from this sampler's generator (none when greedy). */
    public Sampling next() {
        return isGreedy() ? Sampling.greedy() : new Sampling(settings.temperature(), settings.topK(), settings.topP(), random.nextDouble());
    }

    /** Picks an id from logits[offset, offset + vocab) ({@link Sampling#pick}, with {@link #next}'s draw). */
    public int sample(float[] logits, int offset, int vocab) {
        return next().pick(logits, offset, vocab);
    }

    /** The greedy id of every position: logits (B·T, width) row-major → (B, T), each over the first {@code vocab} entries. */
    public static int[][] argmaxRows(float[] logits, int b, int t, int width, int vocab) {
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) out[i][j] = argmax(logits, (i * t + j) * width, vocab);
        return out;
    }

    public static int argmax(float[] logits, int offset, int vocab) { return Sampling.argmax(logits, offset, vocab); }
}
