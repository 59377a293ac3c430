package mamba4j.models;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Next-token choice from one row of logits, in the order of transformers' logits processors: temperature,
 * then top-k, then top-p (nucleus), then a draw. Temperature 0 is greedy (argmax, lowest id on ties).
 * Only ids below {@code vocab} are candidates (padded vocab rows are never sampled).
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom random;
    private float[] probs = new float[0];
    private Integer[] order = new Integer[0];

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

    /** Picks an id from logits[offset, offset + vocab). */
    public int sample(float[] logits, int offset, int vocab) {
        if (isGreedy()) return argmax(logits, offset, vocab);
        if (probs.length < vocab) { probs = new float[vocab]; order = new Integer[vocab]; }
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i] / temperature);
        for (int i = 0; i < vocab; i++) probs[i] = logits[offset + i] / temperature;
        int kept = vocab;
        if (topK > 0 && topK < vocab || topP < 1f) {
            for (int i = 0; i < vocab; i++) order[i] = i;
            final float[] p = probs;
            Arrays.sort(order, 0, vocab, (a, b) -> Float.compare(p[b], p[a]) != 0 ? Float.compare(p[b], p[a]) : Integer.compare(a, b));
            if (topK > 0) kept = Math.min(kept, topK);
        }
        double sum = 0;
        double[] w = new double[vocab];
        for (int i = 0; i < vocab; i++) { w[i] = Math.exp(probs[i] - max); sum += w[i]; }
        boolean[] keep = new boolean[vocab];
        if (kept == vocab && topP >= 1f) Arrays.fill(keep, true);
        else {
            double cum = 0;
            for (int r = 0; r < kept; r++) {
                int id = order[r];
                keep[id] = true;
                cum += w[id] / sum;
                if (cum >= topP) break;   // smallest prefix whose mass reaches top-p (always keeps the best token)
            }
        }
        double total = 0;
        for (int i = 0; i < vocab; i++) if (keep[i]) total += w[i];
        double u = random.nextDouble() * total;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (!keep[i]) continue;
            last = i;
            u -= w[i];
            if (u < 0) return i;
        }
        return last;
    }

    /** The greedy id of every position: logits (B·T, width) row-major → (B, T), each over the first {@code vocab} entries. */
    public static int[][] argmaxRows(float[] logits, int b, int t, int width, int vocab) {
        int[][] out = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) out[i][j] = argmax(logits, (i * t + j) * width, vocab);
        return out;
    }

    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bv = logits[offset];
        for (int i = 1; i < vocab; i++) if (logits[offset + i] > bv) { bv = logits[offset + i]; best = i; }
        return best;
    }
}
