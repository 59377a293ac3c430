package mamba4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * encode/decode agree with transformers' {@code AutoTokenizer("EleutherAI/gpt-neox-20b")} on real texts. The
 * golden file ({"tokenizer": ..., "cases": [{"text", "ids"}]}) is written by the committed script under
 * tools/golden on a machine with transformers; a missing file is a failure, not a skip.
 */
class HfTokenizerGoldenTest {
    @Test
    void encodeAndDecodeMatchTransformers() throws IOException {
        Path golden = Repo.golden().resolve("tokenizer/gpt-neox-20b.json");
        assertTrue(Files.isRegularFile(golden), "golden file " + golden + " is missing: generate it with the tokenizer "
                + "script under tools/golden (transformers AutoTokenizer for EleutherAI/gpt-neox-20b) and commit it");
        JsonNode root = new ObjectMapper().readTree(golden.toFile());
        JsonNode cases = root.path("cases");
        assertTrue(cases.isArray() && !cases.isEmpty(), golden + ": no \"cases\"");

        Path file = Repo.root().resolve("testdata/tokenizers/gpt-neox-20b.tokenizer.json");
        String source = root.path("tokenizer").asText("");
        int at = source.indexOf("sha256 ");
        if (at >= 0)
            assertEquals(source.substring(at + 7).strip(), sha256(file),
                    golden + " was made from another tokenizer.json than " + file);
        List<String> failures = new ArrayList<>();
        try (HfTokenizer tok = HfTokenizer.open(file)) {
            for (int c = 0; c < cases.size(); c++) {
                String text = cases.get(c).path("text").textValue();
                JsonNode idsNode = cases.get(c).path("ids");
                assertNotNull(text, golden + ": case " + c + " has no text");
                int[] expected = new int[idsNode.size()];
                for (int i = 0; i < expected.length; i++) expected[i] = idsNode.get(i).intValue();

                int[] actual = tok.encode(text);
                int diff = firstDifference(expected, actual);
                if (diff >= 0)
                    failures.add("case " + c + " (" + preview(text) + "): encode differs at position " + diff + " of "
                            + expected.length + ": expected " + slice(expected, diff) + ", got " + slice(actual, diff));
                String decoded = tok.decode(expected);
                if (!decoded.equals(text))
                    failures.add("case " + c + " (" + preview(text) + "): decode(ids) = " + preview(decoded));
            }
        }
        if (!failures.isEmpty())
            fail(failures.size() + " of " + (2 * cases.size()) + " checks differ from transformers:\n" + String.join("\n", failures));
    }

    private static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static int firstDifference(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return a.length == b.length ? -1 : n;
    }

    private static String slice(int[] ids, int from) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = from; i < Math.min(ids.length, from + 5); i++) sb.append(i > from ? ", " : "").append(ids[i]);
        return sb.append(ids.length > from + 5 ? ", …]" : "]").toString();
    }

    private static String preview(String s) {
        String t = s.replace("\n", "\\n");
        return "\"" + (t.length() > 60 ? t.substring(0, 57) + "..." : t) + "\"";
    }
}
