package mamba4j.models;

import mamba4j.core.UserInputException;

/** Token-id batches: (B, T) rows flattened to B·T, with the checks every model's input needs. */
public final class TokenIds {
    private TokenIds() {}

    /** Rows of equal, non-zero length with every id in [0, vocab), flattened row-major. */
    public static int[] flattenChecked(int[][] ids, int vocab) {
        int t = ids[0].length;
        if (t == 0) throw new UserInputException("input_ids: sequence length is 0");
        int[] flat = new int[ids.length * t];
        for (int bi = 0; bi < ids.length; bi++) {
            if (ids[bi].length != t) throw new UserInputException("input_ids: row " + bi + " has " + ids[bi].length + " tokens, row 0 has " + t);
            check(ids[bi], bi, vocab);
            System.arraycopy(ids[bi], 0, flat, bi * t, t);
        }
        return flat;
    }

    /** Labels = inputs shifted by one (as transformers with labels=input_ids): the last position is ignored (−100). */
    public static int[][] nextTokenTargets(int[][] inputs) {
        int[][] t = new int[inputs.length][];
        for (int i = 0; i < inputs.length; i++) {
            t[i] = new int[inputs[i].length];
            for (int j = 0; j < t[i].length; j++) t[i][j] = j + 1 < t[i].length ? inputs[i][j + 1] : -100;
        }
        return t;
    }

    /** Rows flattened row-major without checks (targets, which may hold −100). */
    public static int[] flatten(int[][] rows) {
        int t = rows[0].length;
        int[] flat = new int[rows.length * t];
        for (int i = 0; i < rows.length; i++) System.arraycopy(rows[i], 0, flat, i * t, t);
        return flat;
    }

    /** Every id in [0, vocab); row −1 for a single step's tokens. */
    public static void check(int[] ids, int row, int vocab) {
        for (int j = 0; j < ids.length; j++)
            if (ids[j] < 0 || ids[j] >= vocab)
                throw new UserInputException("token id " + ids[j] + " at " + (row >= 0 ? "row " + row + ", " : "") + "position " + j
                        + " is out of range: vocab_size is " + vocab);
    }
}
