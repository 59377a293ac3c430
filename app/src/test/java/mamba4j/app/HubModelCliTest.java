package mamba4j.app;

import mamba4j.io.hub.HubSettings;
import mamba4j.testkit.FakeHub;
import mamba4j.testkit.Repo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --model ORG/NAME[@REVISION]} on the command line: downloaded from a hub on loopback ({@link FakeHub}) into a
 * cache folder, then the same answers as from the checkpoint folder itself; a second run needs no hub; the errors a
 * user meets are one line with exit 2.
 */
class HubModelCliTest {
    static final String COMMIT = "fedcba9876543210fedcba9876543210fedcba98";

    @AfterEach
    void environmentAgain() { ModelSource.settings = HubSettings::fromEnvironment; }

    /** testdata/golden/mamba1/tied as a hub repository (weights as a large file behind the storage redirect). */
    static FakeHub hubWithTinyMamba() throws IOException {
        Path dir = Repo.golden().resolve("mamba1/tied");
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (String f : List.of("config.json", "model.safetensors", "generation_config.json")) files.put(f, Files.readAllBytes(dir.resolve(f)));
        return new FakeHub().repo("org/tiny-mamba", "main", COMMIT, files, Set.of("model.safetensors")).gated("org/tiny-mamba", "hf_ok");
    }

    @Test
    void aHubModelAnswersAsItsFolder(@TempDir Path cache) throws IOException {
        String local = Repo.golden().resolve("mamba1/tied").toString();
        Cli want = Cli.run("generate", "--model", local, "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--ids");
        assertEquals(0, want.status(), want.err());
        try (FakeHub hub = hubWithTinyMamba()) {
            ModelSource.settings = () -> new HubSettings(cache, hub.endpoint(), null, false);
            Cli refused = Cli.run("generate", "--model", "org/tiny-mamba", "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--ids");
            assertEquals(2, refused.status(), refused.err());
            assertEquals(1, refused.err().strip().lines().count(), refused.err());
            assertTrue(refused.err().startsWith("error: --model org/tiny-mamba: is gated (HTTP 401)") && refused.err().contains("HF_TOKEN"), refused.err());

            ModelSource.settings = () -> new HubSettings(cache, hub.endpoint(), "hf_ok", false);
            Cli got = Cli.run("generate", "--model", "org/tiny-mamba", "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--ids");
            assertEquals(0, got.status(), got.err());
            assertEquals(want.out(), got.out(), "the same ids as from the folder");
            assertTrue(got.err().contains("downloading model.safetensors"), "progress on stderr: " + got.err());
            assertTrue(Files.isSymbolicLink(cache.resolve("models--org--tiny-mamba/snapshots").resolve(COMMIT).resolve("model.safetensors")));
        }
        // the hub is gone: the cache answers, offline or not
        for (boolean offline : new boolean[]{false, true}) {
            ModelSource.settings = () -> new HubSettings(cache, "http://127.0.0.1:9", null, offline);
            Cli again = Cli.run("generate", "--model", "org/tiny-mamba@main", "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--ids");
            assertEquals(0, again.status(), again.err());
            assertEquals(want.out(), again.out());
            Cli inspect = Cli.run("inspect", "--model", "org/tiny-mamba@" + COMMIT);
            assertEquals(0, inspect.status(), inspect.err());
        }
    }

    @Test
    void hubErrorsAreOneNamedLine(@TempDir Path cache) throws IOException {
        try (FakeHub hub = hubWithTinyMamba()) {
            ModelSource.settings = () -> new HubSettings(cache, hub.endpoint(), "hf_ok", false);
            record Case(String model, String says) {}
            for (Case c : List.of(new Case("org/nope", "error: --model org/nope: no such model on 127.0.0.1:"),
                    new Case("org/tiny-mamba@v7", "error: --model org/tiny-mamba@v7: has no revision 'v7'"))) {
                Cli r = Cli.run("inspect", "--model", c.model());
                assertEquals(2, r.status(), r.err());
                assertTrue(r.err().startsWith(c.says()) && r.err().contains("(no folder " + c.model() + " here either)"), r.err());
                assertEquals(1, r.err().strip().lines().count(), r.err());
                assertFalse(r.err().contains("Exception"), r.err());
            }
        }
        ModelSource.settings = () -> new HubSettings(cache, "http://127.0.0.1:9", null, true);
        Cli offline = Cli.run("inspect", "--model", "org/elsewhere");
        assertEquals(2, offline.status(), offline.err());
        assertTrue(offline.err().contains("not in the Hugging Face cache") && offline.err().contains("HF_HUB_OFFLINE"), offline.err());
        Cli folder = Cli.run("inspect", "--model", "no/such/folder");
        assertEquals(2, folder.status(), folder.err());
        assertTrue(folder.err().contains("no/such/folder") && !folder.err().contains("Hugging Face"), "a path that is no hub id stays a folder: " + folder.err());
    }
}
