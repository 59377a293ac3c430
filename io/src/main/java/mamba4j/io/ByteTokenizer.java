package mamba4j.io;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

/**
 * Byte-level "tokenizer" (vocabulary 256): a token is one byte of the UTF-8 encoding, as in MambaByte and
 * the byte-level models of the Mamba paper's DNA/audio-style experiments. There is no end-of-sequence token unless one
 * is given (a GGUF file of a byte-level model may name one).
 */
public final class ByteTokenizer implements Tokenizer {
    private final OptionalInt eos;

    public ByteTokenizer() { this(OptionalInt.empty()); }

    /** With {@code eos} as the end-of-sequence id (a byte). */
    public ByteTokenizer(OptionalInt eos) { this.eos = eos; }

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) ids[i] = bytes[i] & 0xff;
        return ids;
    }

    /** Malformed or incomplete UTF-8 becomes U+FFFD, as Python's {@code bytes.decode(errors="replace")}. */
    @Override
    public String decode(int[] ids) {
        byte[] bytes = new byte[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] > 255)
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is not a byte (0..255)");
            bytes[i] = (byte) ids[i];
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public OptionalInt eosTokenId() { return eos; }

    @Override
    public int vocabSize() { return 256; }
}
