package mamba4j.core;

import java.util.Arrays;

/**
 * One row's next-token choice, in the order of transformers' logits processors: temperature, then top-k, then top-p
 * (nucleus), then a draw that walks the kept ids in id order with {@code uniform} (in [0, 1)) times their mass.
 * Temperature 0 is greedy (argmax, lowest id on ties). Only ids below the vocabulary size are candidates (padded
 * vocab rows are never sampled). {@link #pick} is the definition; {@link Backend#sample} computes it on the
 * backend's device (one id per row copied back instead of the logits).
 *
 * @param topK    0 = off
 * @param topP    in (0, 1]; 1 = off
 * @param uniform the draw in [0, 1), taken by the caller from its own seeded generator (unused when greedy)
 */
public record Sampling(float temperature, int topK, float topP, double uniform) {
    public Sampling {
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(uniform >= 0 && uniform < 1)) throw new IllegalArgumentException("uniform must be in [0, 1), got " + uniform);
    }

    public static Sampling greedy() { return new Sampling(0f, 0, 1f, 0); }

    public boolean isGreedy() { return temperature == 0f; }

    /** Whether top-k or top-p removes candidates over a vocabulary of {@code vocab}. */
    public boolean filters(int vocab) { return topK > 0 && topK < vocab || topP < 1f; }

    /** The id picked from logits[offset, offset + vocab). */
    public int pick(float[] logits, int offset, int vocab) {
        if (isGreedy()) return argmax(logits, offset, vocab);
        float[] s = new float[vocab];
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) { s[i] = logits[offset + i] / temperature; max = Math.max(max, s[i]); }
        double sum = 0;
        double[] w = new double[vocab];
        for (int i = 0; i < vocab; i++) { w[i] = Math.exp(s[i] - max); sum += w[i]; }
        boolean[] keep = new boolean[vocab];
        if (!filters(vocab)) Arrays.fill(keep, true);
        else {   // the best ids (score descending, id ascending) up to top-k, stopping once their mass reaches top-p
            Integer[] order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Float.compare(s[b], s[a]) != 0 ? Float.compare(s[b], s[a]) : Integer.compare(a, b));
            int kept = topK > 0 ? Math.min(topK, vocab) : vocab;
            double cum = 0;
            for (int r = 0; r < kept; r++) {
                int id = order[r];
                keep[id] = true;
                cum += w[id] / sum;
                if (cum >= topP) break;   // the smallest prefix whose mass reaches top-p (always keeps the best id)
            }
        }
        double total = 0;
        for (int i = 0; i < vocab; i++) if (keep[i]) total += w[i];
        double u = uniform * total;
        int last = -1;
        for (int i = 0; i < vocab; i++) {
            if (!keep[i]) continue;
            last = i;
            u -= w[i];
            if (u < 0) return i;
        }
        return last;
    }

    /** The first id of the largest logit in logits[offset, offset + vocab). */
    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bv = logits[offset];
        for (int i = 1; i < vocab; i++) if (logits[offset + i] > bv) { bv = logits[offset + i]; best = i; }
        return best;
    }
}
