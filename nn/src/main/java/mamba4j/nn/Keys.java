package mamba4j.nn;

import java.util.Collection;
import java.util.Locale;

/** Spelling help for settings keys: the valid key nearest to a misspelt one. */
public final class Keys {
    private Keys() {}

    /** The entry of {@code valid} closest to {@code key} by edit distance (case-insensitive), or null when none is near. */
    public static String nearest(String key, Collection<String> valid) {
        String best = null;
        int bestD = Integer.MAX_VALUE;
        String k = key.toLowerCase(Locale.ROOT);
        for (String v : valid) {
            int d = distance(k, v.toLowerCase(Locale.ROOT));
            if (d < bestD) { bestD = d; best = v; }
        }
        // near: at most a third of the longer word changed (seqlen → seq_len, trian → train)
        return best != null && bestD <= Math.max(2, Math.max(k.length(), best.length()) / 3) ? best : null;
    }

    /** " (did you mean 'x'?)" for the nearest valid key, else " (valid: a, b, …)". */
    public static String hint(String key, Collection<String> valid) {
        String n = nearest(key, valid);
        return n != null ? " (did you mean '" + n + "'?)" : " (valid: " + String.join(", ", valid) + ")";
    }

    /** Levenshtein distance, one row at a time. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++)
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            int[] t = prev; prev = cur; cur = t;
        }
        return prev[b.length()];
    }
}
