package mamba4j.app;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as a user meets it: --help everywhere, both flag styles, one error format. */
class CliFrontTest {
    @Test
    void everyCommandAnswersHelpWithOptionsAndAnExample() {
        CommandLine cli = Main.commandLine();
        assertTrue(cli.getSubcommands().size() >= 13, "commands: " + cli.getSubcommands().keySet());
        for (String name : cli.getSubcommands().keySet()) {
            if (name.equals("help")) continue;
            for (String flag : new String[]{"--help", "-h"}) {
                Cli r = Cli.run(name, flag);
                assertEquals(0, r.status(), name + " " + flag + ": " + r.err());
                assertTrue(r.out().startsWith("Usage: mamba4j " + name), name + " " + flag + " prints its usage: " + r.out());
                assertTrue(r.out().contains("--help"), name + ": lists its options");
                assertTrue(r.out().contains("Example") && r.out().contains("  mamba4j " + name), name + ": shows an example: " + r.out());
            }
        }
        Cli top = Cli.run("--help");
        assertEquals(0, top.status());
        for (String name : cli.getSubcommands().keySet()) assertTrue(top.out().contains(name), "top-level help lists " + name);
    }

    @Test
    void examplesNameRealCommands() {
        CommandLine cli = Main.commandLine();
        for (var e : Main.EXAMPLES.entrySet()) {
            assertTrue(cli.getSubcommands().containsKey(e.getKey()), "example for an unknown command " + e.getKey());
            for (String ex : e.getValue()) {
                assertTrue(ex.startsWith("mamba4j " + e.getKey()), ex);
                for (String word : ex.split(" "))   // the checkout's files an example names exist
                    if (word.startsWith("docs/") || word.startsWith("testdata/") || word.startsWith("data/"))
                        assertTrue(java.nio.file.Files.exists(mamba4j.testkit.Repo.root().resolve(word)), ex + ": " + word);
            }
        }
        for (String name : cli.getSubcommands().keySet()) assertTrue(Main.EXAMPLES.containsKey(name), name + " has an example");
    }

    @Test
    void badFlagsGiveOneErrorLineWithoutTheUsage() {
        Cli missing = Cli.run("inspect");
        assertOneLineError(missing, "--model", "mamba4j inspect --help");
        Cli unknown = Cli.run("generate", "--model", "x", "--prompt-ids", "1", "--max-new-token", "3");
        assertOneLineError(unknown, "--max-new-token", "did you mean");
        Cli badValue = Cli.run("generate", "--model", "x", "--prompt-ids", "1", "--max-new-tokens", "many");
        assertOneLineError(badValue, "many");
        Cli noCommand = Cli.run("frobnicate");
        assertOneLineError(noCommand, "frobnicate");
    }

    @Test
    void bothFlagStylesWorkForSettings() {
        assertEquals(java.util.List.of("steps=10", "lr=0.01", "model.d_model=16"),
                Overrides.pairs(java.util.List.of("--steps", "10", "--lr=0.01", "--model.d_model", "16")));
        Cli r = Cli.run("train", "--preset", "selective-copying", "--out", System.getProperty("java.io.tmpdir") + "/m4j-none-" + System.nanoTime(), "--steps");
        assertOneLineError(r, "--steps", "missing a value");
    }

    static void assertOneLineError(Cli r, String... mustContain) {
        assertEquals(2, r.status(), "exit status; stderr: " + r.err());
        assertTrue(r.err().startsWith("error: "), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertFalse(r.err().contains("Usage:"), "no usage dump: " + r.err());
        assertTrue(r.out().isEmpty(), "nothing on stdout: " + r.out());
        for (String s : mustContain) assertTrue(r.err().contains(s), "mentions '" + s + "': " + r.err());
    }
}
