package mamba4j.models;

import mamba4j.core.Sampling;

import java.util.SplittableRandom;

/**
 * A seeded sampler: the settings of {@link Sampling} (temperature, top-k, top-p; temperature 0 is greedy) and the
 * generator that draws each step's uniform, so a row samples the same ids on the host and on a device.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom random;

    public Sampler(float temperature, int topK, float topP, long seed) {
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() { return new Sampler(0f, 0, 1f, 0); }

    public boolean isGreedy() { return temperature == 0f; }

    /** The next row's settings with a fresh draw from this sampler's generator (none when greedy). */
    public Sampling next() {
        return isGreedy() ? Sampling.greedy() : new Sampling(temperature, topK, topP, random.nextDouble());
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
