package mamba4j.core;

/**
 * Bad input from the user's side — a file, tensor, config key, flag or value — with a message that names it.
 * The CLI prints the message alone (no stack trace) and exits with status 2.
 *
 * <p>The message is always one printable line: names and values quoted from a user's bytes may hold line breaks,
 * NUL or other control characters, which are written as {@code \\uXXXX} (a NUL in stderr makes {@code grep} answer
 * "binary file matches" instead of the error).
 */
public class UserInputException extends RuntimeException {
    public UserInputException(String message) { super(printable(message)); }
    public UserInputException(String message, Throwable cause) { super(printable(message), cause); }

    static String printable(String s) {
        if (s == null) return null;
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                if (b == null) b = new StringBuilder(s.length() + 16).append(s, 0, i);
                b.append(String.format("\\u%04x", (int) c));
            } else if (b != null) b.append(c);
        }
        return b == null ? s : b.toString();
    }
}
