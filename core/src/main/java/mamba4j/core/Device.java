package mamba4j.core;

import java.util.Locale;

/**
 * Where a tensor's bytes live: the host ({@link #CPU}) or one accelerator, {@code cuda:N}. Parsed from and printed
 * as PyTorch spells it ({@code cpu}, {@code cuda:0}); a bare {@code cuda} is {@code cuda:0}.
 */
public record Device(Kind kind, int ordinal) {
    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (ordinal < 0) throw new IllegalArgumentException("device ordinal " + ordinal + " < 0");
        if (kind == Kind.CPU && ordinal != 0) throw new IllegalArgumentException("the host is device cpu, not cpu:" + ordinal);
    }

    public static Device cuda(int ordinal) { return new Device(Kind.CUDA, ordinal); }

    public boolean isHost() { return kind == Kind.CPU; }

    /** "cpu", "cuda", "cuda:N"; anything else is a user error naming the text. */
    public static Device parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        if (s.equals("cuda")) return cuda(0);
        if (s.startsWith("cuda:")) {
            try {
                int n = Integer.parseInt(s.substring(5));
                if (n >= 0) return cuda(n);
            } catch (NumberFormatException ignored) {
                // falls through to the error below
            }
        }
        throw new UserInputException("device '" + text + "': expected cpu, cuda or cuda:N");
    }

    @Override public String toString() { return kind == Kind.CPU ? "cpu" : "cuda:" + ordinal; }
}
