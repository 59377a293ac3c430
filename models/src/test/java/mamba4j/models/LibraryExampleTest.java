package mamba4j.models;

import mamba4j.core.Backends;
import mamba4j.core.DType;
import mamba4j.io.Tokenizers;
import mamba4j.models.mamba1.Mamba1Config;
import mamba4j.models.mamba1.Mamba1Init;
import mamba4j.models.mamba1.Mamba1Saver;
import mamba4j.core.UserInputException;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The README's "Use it as a library" example, compiled and run here, and checked to be the README's text line for line
 * (only the line choosing the folder differs: the README's docs/llama-teacher takes seconds to warm up in a cold test
 * JVM, so the test runs the example on a tiny byte-level Mamba-1 written here). What it prints is what the model
 * generates: the streamed pieces add up to the returned text, which is the greedy continuation of {@link Generator},
 * and the batch gives each prompt what it gets alone.
 */
class LibraryExampleTest {
    static final Path SOURCE = Repo.root().resolve("models/src/test/java/mamba4j/models/LibraryExampleTest.java");

    String text;
    List<String> more;
    @TempDir Path dir;

    /** A tiny byte-level Mamba-1 (vocab 256, random weights, seed 5) carrying the byte-level marker: quick from a cold JVM. */
    Path model() {
        Path m = dir.resolve("tiny");
        Mamba1Config cfg = new Mamba1Config(256, 256, 32, 8, 2, 2, 4, 2, false, true, 1e-5, true, 0, true);
        Mamba1Saver.save(Mamba1Init.random(cfg, DType.F32, 5, Backends.get("cpu")), m);
        try {
            Path c = m.resolve("config.json");
            Files.writeString(c, Files.readString(c).replaceFirst("\\{", "{\n  \"" + Tokenizers.BYTE_LEVEL_KEY + "\": \"bytes\","));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return m;
    }

    /** The example; between the markers it must read as the README's block. */
    void example() {
        Path dir = model();
        // README example begin
        try (TextModel lm = TextModel.load(dir)) {                       // config.json, weights, its tokenizer
            int[] ids = lm.encode("It is a truth universally acknowledged");
            System.out.println(ids.length + " tokens: " + lm.decode(ids));
            String text = lm.generate("It is a truth universally acknowledged", 40, Sampler.greedy(),
                    piece -> System.out.print(piece));                 // streamed as it is generated
            System.out.println();
            List<String> more = lm.generate(List.of("Mr. Darcy", "She was"), 20, Sampler::greedy);   // one batch
            more.forEach(System.out::println);
            // README example end
            this.text = text;
            this.more = more;
        }
    }

    @Test
    void theExampleRunsAndPrintsWhatTheModelGenerates() throws IOException {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            example();
        } finally {
            System.setOut(old);
        }
        String printed = buf.toString(StandardCharsets.UTF_8);
        String prompt = "It is a truth universally acknowledged";
        // byte-level: one id per byte; the streamed pieces add up to the returned text
        assertEquals(prompt.length() + " tokens: " + prompt + "\n" + text + "\n" + more.get(0) + "\n" + more.get(1) + "\n", printed);

        try (Models.Loaded m = Models.load(dir.resolve("tiny"), Backends.get("cpu"))) {
            int[] ids = prompt.chars().toArray();   // ASCII: its bytes
            int[] want = Generator.generate(m.model(), new int[][]{ids}, 40, Sampler.greedy(), true, (r, id) -> {})[0];
            byte[] cont = new byte[want.length - ids.length];
            for (int j = 0; j < cont.length; j++) cont[j] = (byte) want[ids.length + j];
            assertEquals(new String(cont, StandardCharsets.UTF_8), text, "the greedy continuation");
            assertTrue(cont.length > 0, "a continuation");
        }
        try (TextModel lm = TextModel.load(dir.resolve("tiny"))) {
            assertEquals(lm.generate("Mr. Darcy", 20), more.get(0), "batched == alone");
            assertEquals(lm.generate("She was", 20), more.get(1), "batched == alone");
            assertThrows(UserInputException.class, () -> lm.encode(""));
        }
    }

    @Test
    void theReadmeShowsThisExample() throws IOException {
        List<String> readme = Files.readAllLines(Repo.root().resolve("README.md"));
        int section = readme.indexOf("## Use it as a library");
        assertTrue(section >= 0, "README has the section");
        int open = readme.subList(section, readme.size()).indexOf("```java") + section, close = readme.subList(open + 1, readme.size()).indexOf("```") + open + 1;
        List<String> shown = new ArrayList<>();
        for (String l : readme.subList(open + 1, close)) {
            if (l.startsWith("import ")) {
                String cls = l.substring("import ".length(), l.length() - 1);
                assertEquals(cls, assertDoesNotThrow(() -> Class.forName(cls), l).getName(), "the README's import names a class");
                continue;
            }
            if (!l.isBlank() && !l.contains("Path dir = ")) shown.add(l.strip());
        }
        List<String> src = Files.readAllLines(SOURCE);
        List<String> ran = src.subList(src.indexOf("        // README example begin") + 1, src.indexOf("            // README example end"))
                .stream().map(String::strip).toList();
        assertEquals(ran, shown.subList(0, shown.size() - 1), "README block == the example this test runs");
        assertEquals("}", shown.getLast());
    }
}
