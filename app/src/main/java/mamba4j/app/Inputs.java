package mamba4j.app;

import mamba4j.core.DType;
import mamba4j.core.Tensor;
import mamba4j.core.UserInputException;
import mamba4j.io.SafetensorsFile;

import java.nio.file.Path;

/** Reads command inputs, naming the flag and file in every error. */
final class Inputs {
    private Inputs() {}

    /** Tensor {@code input_ids} (I64 or I32, [B, T]) of a safetensors file, as int rows. */
    static int[][] inputIds(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            if (!f.contains("input_ids"))
                throw new UserInputException("--input " + file + ": no tensor named 'input_ids' (found: " + String.join(", ", f.names()) + ")");
            Tensor t = f.get("input_ids");
            if (t.dtype() != DType.I64 && t.dtype() != DType.I32)
                throw new UserInputException("--input " + file + ": tensor 'input_ids' must be I64 or I32, got " + t.dtype());
            if (t.rank() != 2 || t.dim(0) == 0 || t.dim(1) == 0)
                throw new UserInputException("--input " + file + ": tensor 'input_ids' must be [B, T] with B, T > 0, got " + t.shape());
            int b = t.size(0), n = t.size(1);
            int[][] ids = new int[b][n];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < n; j++) {
                    long v = t.getLong((long) i * n + j);
                    if (v < 0 || v > Integer.MAX_VALUE)
                        throw new UserInputException("--input " + file + ": input_ids[" + i + ", " + j + "] = " + v + " is not a valid token id");
                    ids[i][j] = (int) v;
                }
            return ids;
        }
    }

    /** The value of a weight-dtype flag ({@code --dtype}): f32, bf16, f16, q8_0 or q4_0 (any case); null stays null (as stored). */
    static DType weightType(String flag, String value) {
        if (value == null) return null;
        DType t = DType.parseWeightType(value);
        if (t == null) throw new UserInputException(flag + " " + value + ": expected f32, bf16, f16, q8_0 or q4_0");
        return t;
    }

    /** An output file: not an existing directory, and its folder exists or can be made. */
    static void outputFile(String flag, Path file) {
        if (java.nio.file.Files.isDirectory(file))
            throw new UserInputException(flag + " " + file + ": is a directory; name the file to write");
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && java.nio.file.Files.exists(parent) && !java.nio.file.Files.isDirectory(parent))
            throw new UserInputException(flag + " " + file + ": " + parent + " is a file, not a directory");
    }

    /** An output directory: not an existing file. */
    static void outputDir(String flag, Path dir) {
        if (dir != null && java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir))
            throw new UserInputException(flag + " " + dir + ": is a file, not a directory");
    }

    /** "1,2,3" → ids. */
    static int[] parseIds(String flag, String text) {
        String[] parts = text.trim().split("\\s*,\\s*");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new UserInputException(flag + ": '" + parts[i] + "' is not an integer token id");
            }
        }
        return ids;
    }
}
