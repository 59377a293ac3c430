package mamba4j.io.hub;

import mamba4j.core.UserInputException;
import mamba4j.testkit.FakeHub;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The hub cache: lookups in a cache folder built here in huggingface_hub's layout (no network touched), and downloads
 * from {@link FakeHub} on loopback into that layout — blobs named by etag, relative snapshot links, refs, .no_exist,
 * a storage redirect, a resumed part, a gated repository, the errors a user can meet.
 */
class HubModelsTest {
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567", COMMIT2 = "89abcdef0123456789abcdef0123456789abcdef";
    static final byte[] CONFIG = "{\"model_type\": \"mamba\"}".getBytes(StandardCharsets.UTF_8);
    static final byte[] TOKENIZER = "{\"version\": \"1.0\"}".getBytes(StandardCharsets.UTF_8);
    static final byte[] WEIGHTS = bytes(300_000, 1);

    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static Map<String, byte[]> files(Object... kv) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], (byte[]) kv[i + 1]);
        return m;
    }

    static HubSettings settings(Path cache, FakeHub hub) { return new HubSettings(cache, hub.endpoint(), null, false); }

    static FakeHub tinyHub() {
        return new FakeHub().repo("org/tiny", "main", COMMIT,
                files("config.json", CONFIG, "model.safetensors", WEIGHTS, "tokenizer.json", TOKENIZER), Set.of("model.safetensors"));
    }

    // ------------------------------------------------------------------ lookup in a cache built by hand

    /** What huggingface_hub leaves after hf_hub_download of config.json and model.safetensors at main. */
    static Path handMadeCache(Path cache) throws IOException {
        Path repo = cache.resolve("models--org--tiny");
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), COMMIT);
        Files.createDirectories(repo.resolve("blobs"));
        String cfgEtag = FakeHub.gitBlobHash(CONFIG), wEtag = FakeHub.sha256(WEIGHTS);
        Files.write(repo.resolve("blobs").resolve(cfgEtag), CONFIG);
        Files.write(repo.resolve("blobs").resolve(wEtag), WEIGHTS);
        Path snap = Files.createDirectories(repo.resolve("snapshots").resolve(COMMIT));
        Files.createSymbolicLink(snap.resolve("config.json"), Path.of("../../blobs/" + cfgEtag));
        Files.createSymbolicLink(snap.resolve("model.safetensors"), Path.of("../../blobs/" + wEtag));
        return snap;
    }

    @Test
    void filesAlreadyInTheCacheAreUsedWithoutTheNetwork(@TempDir Path cache) throws IOException {
        Path snap = handMadeCache(cache);
        try (FakeHub hub = new FakeHub()) {   // knows no repository: any request would fail the lookup
            HubSettings s = settings(cache, hub);
            assertEquals(snap, HubModels.snapshot(RepoId.parse("org/tiny").orElseThrow(), s, DownloadListener.NONE));
            assertEquals(snap, HubModels.snapshot(RepoId.parse("org/tiny@" + COMMIT).orElseThrow(), s, DownloadListener.NONE));
            assertEquals(List.of(), hub.requests(), "no request for a complete snapshot");
            assertArrayEquals(WEIGHTS, Files.readAllBytes(snap.resolve("model.safetensors")));
        }
        // offline: the same, and what is not there is named
        HubSettings offline = new HubSettings(cache, "http://127.0.0.1:9", null, true);
        assertEquals(snap, HubModels.snapshot(new RepoId("org/tiny", "main"), offline, DownloadListener.NONE));
        var e = assertThrows(UserInputException.class, () -> HubModels.snapshot(new RepoId("org/tiny", "v2"), offline, DownloadListener.NONE));
        assertTrue(e.getMessage().contains("org/tiny@v2") && e.getMessage().contains("HF_HUB_OFFLINE") && e.getMessage().contains("refs/v2"), e.getMessage());
        Files.delete(snap.resolve("model.safetensors"));
        e = assertThrows(UserInputException.class, () -> HubModels.snapshot(new RepoId("org/tiny", "main"), offline, DownloadListener.NONE));
        assertTrue(e.getMessage().contains("lacks model.safetensors") && e.getMessage().contains("HF_HUB_OFFLINE"), e.getMessage());
    }

    @Test
    void aShardedSnapshotIsCompleteOnlyWithEveryShard(@TempDir Path cache) throws IOException {
        Path snap = handMadeCache(cache);
        Files.delete(snap.resolve("model.safetensors"));
        Files.writeString(snap.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00002-of-00002.safetensors\", \"c\": \"model-00001-of-00002.safetensors\"}}");
        Files.write(snap.resolve("model-00001-of-00002.safetensors"), new byte[8]);
        assertEquals(List.of("model-00002-of-00002.safetensors"), HubModels.missing(new HubCache(cache, new RepoId("org/tiny", "main")), COMMIT));
        Files.write(snap.resolve("model-00002-of-00002.safetensors"), new byte[8]);
        assertEquals(List.of(), HubModels.missing(new HubCache(cache, new RepoId("org/tiny", "main")), COMMIT));
        Files.writeString(snap.resolve("model.safetensors.index.json"), "{\"weight_map\": {\"a\": \"../../blobs/x\"}}");
        assertThrows(UserInputException.class, () -> HubModels.missing(new HubCache(cache, new RepoId("org/tiny", "main")), COMMIT));
    }

    // ------------------------------------------------------------------ downloads

    @Test
    void downloadsIntoHuggingFaceHubsLayout(@TempDir Path cache) throws IOException {
        try (FakeHub hub = tinyHub()) {
            Path snap = HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), DownloadListener.NONE);
            Path repo = cache.resolve("models--org--tiny");
            assertEquals(repo.resolve("snapshots").resolve(COMMIT), snap);
            assertEquals(COMMIT, Files.readString(repo.resolve("refs/main")));
            String sha = FakeHub.sha256(WEIGHTS), cfg = FakeHub.gitBlobHash(CONFIG);
            assertEquals(Path.of("../../blobs/" + sha), Files.readSymbolicLink(snap.resolve("model.safetensors")), "relative link to the blob named by X-Linked-Etag");
            assertEquals(Path.of("../../blobs/" + cfg), Files.readSymbolicLink(snap.resolve("config.json")), "a small file's blob named by its ETag");
            assertArrayEquals(WEIGHTS, Files.readAllBytes(repo.resolve("blobs").resolve(sha)));
            assertArrayEquals(CONFIG, Files.readAllBytes(snap.resolve("config.json")));
            assertArrayEquals(TOKENIZER, Files.readAllBytes(snap.resolve("tokenizer.json")));
            for (String absent : List.of("tokenizer_config.json", "generation_config.json"))
                assertTrue(Files.exists(repo.resolve(".no_exist").resolve(COMMIT).resolve(absent)), absent + " recorded as absent");
            assertFalse(Files.exists(repo.resolve("blobs").resolve(sha + ".incomplete")));
            List<String> got = hub.requests().stream().map(FakeHub.Request::toString).toList();
            assertTrue(got.contains("GET /cdn/" + sha), "the storage redirect was followed: " + got);
            assertTrue(got.contains("HEAD /org/tiny/resolve/main/config.json"), got.toString());
            assertTrue(got.contains("HEAD /org/tiny/resolve/" + COMMIT + "/model.safetensors"), "later files at the resolved commit: " + got);

            int before = hub.requests().size();
            assertEquals(snap, HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), DownloadListener.NONE));
            assertEquals(before, hub.requests().size(), "the second lookup is served by the cache");
        }
    }

    @Test
    void aPartialDownloadIsContinuedWithARangeRequest(@TempDir Path cache) throws IOException {
        String sha = FakeHub.sha256(WEIGHTS);
        Path blobs = Files.createDirectories(cache.resolve("models--org--tiny/blobs"));
        int half = WEIGHTS.length / 2 + 17;
        Files.write(blobs.resolve(sha + ".incomplete"), Arrays.copyOf(WEIGHTS, half));
        List<long[]> heard = new java.util.ArrayList<>();
        DownloadListener l = new DownloadListener() {
            @Override public void started(String file, long total, long from) { if (file.equals("model.safetensors")) heard.add(new long[]{total, from}); }
            @Override public void progress(long done) {}
            @Override public void finished() {}
        };
        try (FakeHub hub = tinyHub()) {
            Path snap = HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), l);
            assertArrayEquals(WEIGHTS, Files.readAllBytes(snap.resolve("model.safetensors")));
            FakeHub.Request cdn = hub.requests().stream().filter(r -> r.path().startsWith("/cdn/")).findFirst().orElseThrow();
            assertEquals("bytes=" + half + "-", cdn.range());
            assertEquals(CONFIG.length + TOKENIZER.length + WEIGHTS.length - half, hub.bodyBytes(), "only the rest was sent");
            assertArrayEquals(new long[]{WEIGHTS.length, half}, heard.getFirst(), "the listener hears the size and where it resumed");
        }
    }

    @Test
    void aServerWithoutRangesSendsTheWholeFileAgain(@TempDir Path cache) throws IOException {
        Path blobs = Files.createDirectories(cache.resolve("models--org--tiny/blobs"));
        Files.write(blobs.resolve(FakeHub.sha256(WEIGHTS) + ".incomplete"), Arrays.copyOf(WEIGHTS, 1000));
        try (FakeHub hub = tinyHub().ranges(false)) {
            Path snap = HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), DownloadListener.NONE);
            assertArrayEquals(WEIGHTS, Files.readAllBytes(snap.resolve("model.safetensors")));
        }
    }

    @Test
    void aCorruptDownloadIsRefusedAndDiscarded(@TempDir Path cache) {
        try (FakeHub hub = tinyHub().corruptStorage(bytes(WEIGHTS.length, 2))) {
            var e = assertThrows(UserInputException.class, () -> HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), DownloadListener.NONE));
            assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("sha256"), e.getMessage());
            assertFalse(Files.exists(cache.resolve("models--org--tiny/blobs").resolve(FakeHub.sha256(WEIGHTS))), "no blob under a hash it does not have");
        }
    }

    @Test
    void shardedWeightsComeWithEveryShard(@TempDir Path cache) throws IOException {
        byte[] s1 = bytes(5000, 3), s2 = bytes(7000, 4);
        byte[] index = ("{\"metadata\": {}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
                + "\"b\": \"model-00002-of-00002.safetensors\"}}").getBytes(StandardCharsets.UTF_8);
        try (FakeHub hub = new FakeHub().repo("org/big", "main", COMMIT2, files("config.json", CONFIG, "model.safetensors.index.json", index,
                "model-00001-of-00002.safetensors", s1, "model-00002-of-00002.safetensors", s2),
                Set.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"))) {
            Path snap = HubModels.snapshot(new RepoId("org/big", "main"), settings(cache, hub), DownloadListener.NONE);
            assertArrayEquals(s1, Files.readAllBytes(snap.resolve("model-00001-of-00002.safetensors")));
            assertArrayEquals(s2, Files.readAllBytes(snap.resolve("model-00002-of-00002.safetensors")));
            assertTrue(Files.exists(cache.resolve("models--org--big/.no_exist").resolve(COMMIT2).resolve("model.safetensors")));
        }
    }

    @Test
    void aGatedModelNeedsItsToken(@TempDir Path cache) throws IOException {
        try (FakeHub hub = tinyHub().gated("org/tiny", "hf_secret")) {
            var e = assertThrows(UserInputException.class, () -> HubModels.snapshot(new RepoId("org/tiny", "main"), settings(cache, hub), DownloadListener.NONE));
            assertTrue(e.getMessage().startsWith("org/tiny is gated (HTTP 401)") && e.getMessage().contains("set HF_TOKEN"), e.getMessage());
            Path snap = HubModels.snapshot(new RepoId("org/tiny", "main"), new HubSettings(cache, hub.endpoint(), "hf_secret", false), DownloadListener.NONE);
            assertArrayEquals(WEIGHTS, Files.readAllBytes(snap.resolve("model.safetensors")));
            for (FakeHub.Request r : hub.requests())
                if (r.path().startsWith("/org/") && r.authorization() != null) assertEquals("Bearer hf_secret", r.authorization());
        }
    }

    @Test
    void aRenamedRepositoryIsFollowed(@TempDir Path cache) throws IOException {
        try (FakeHub hub = tinyHub().moved("old-org/tiny", "org/tiny")) {
            Path snap = HubModels.snapshot(new RepoId("old-org/tiny", "main"), settings(cache, hub), DownloadListener.NONE);
            assertArrayEquals(WEIGHTS, Files.readAllBytes(snap.resolve("model.safetensors")));
            assertTrue(snap.startsWith(cache.resolve("models--old-org--tiny")), "cached under the name asked for, as huggingface_hub");
        }
    }

    @Test
    void whatCannotBeFoundIsNamed(@TempDir Path cache) throws IOException {
        try (FakeHub hub = tinyHub().repo("org/pickle", "main", COMMIT2, files("config.json", CONFIG, "pytorch_model.bin", WEIGHTS), Set.of())
                .repo("org/empty", "main", COMMIT2, files("config.json", CONFIG), Set.of())) {
            HubSettings s = settings(cache, hub);
            record Case(String id, String says) {}
            for (Case c : List.of(new Case("org/nope", "org/nope: no such model on 127.0.0.1"), new Case("org/tiny@v9", "org/tiny has no revision 'v9'"),
                    new Case("org/pickle", "pytorch_model.bin"), new Case("org/empty", "has neither model.safetensors nor model.safetensors.index.json"))) {
                var e = assertThrows(UserInputException.class, () -> HubModels.snapshot(RepoId.parse(c.id()).orElseThrow(), s, DownloadListener.NONE), c.id());
                assertTrue(e.getMessage().contains(c.says()), c + ": " + e.getMessage());
                assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            }
        }
        int closed;
        try (ServerSocket sock = new ServerSocket(0)) { closed = sock.getLocalPort(); }
        var e = assertThrows(UserInputException.class, () -> HubModels.snapshot(new RepoId("org/tiny", "main"),
                new HubSettings(cache, "http://127.0.0.1:" + closed, null, false), DownloadListener.NONE));
        assertTrue(e.getMessage().startsWith("cannot reach 127.0.0.1:" + closed), e.getMessage());
    }

    // ------------------------------------------------------------------ names and settings

    @Test
    void repoIdsAndFolderPathsAreTold() {
        assertEquals(new RepoId("state-spaces/mamba-130m-hf", "main"), RepoId.parse("state-spaces/mamba-130m-hf").orElseThrow());
        assertEquals(new RepoId("org/m", "refs/pr/1"), RepoId.parse("org/m@refs/pr/1").orElseThrow());
        assertEquals("models--state-spaces--mamba-130m-hf", RepoId.parse("state-spaces/mamba-130m-hf").orElseThrow().folderName());
        assertTrue(RepoId.parse("org/m@" + COMMIT).orElseThrow().isCommit());
        for (String notAnId : List.of("runs/austen/checkpoint", "./model", "/abs/path", "model", "a/b/", "../x", "org/..", "org/a--b"))
            assertTrue(RepoId.parse(notAnId).isEmpty(), notAnId);
        assertThrows(UserInputException.class, () -> RepoId.parse("org/m@a b"));
    }

    @Test
    void settingsComeFromTheEnvironmentAsHuggingfaceHubReadsThem(@TempDir Path home) throws IOException {
        Path h = home;
        assertEquals(h.resolve(".cache/huggingface/hub"), HubSettings.from(Map.of(), h).cacheDir());
        assertEquals(Path.of("/x/huggingface/hub"), HubSettings.from(Map.of("XDG_CACHE_HOME", "/x"), h).cacheDir());
        assertEquals(Path.of("/hf/hub"), HubSettings.from(Map.of("HF_HOME", "/hf", "XDG_CACHE_HOME", "/x"), h).cacheDir());
        assertEquals(Path.of("/c"), HubSettings.from(Map.of("HF_HUB_CACHE", "/c", "HF_HOME", "/hf"), h).cacheDir());
        assertEquals("https://huggingface.co", HubSettings.from(Map.of(), h).endpoint());
        assertEquals("http://mirror:8080", HubSettings.from(Map.of("HF_ENDPOINT", "http://mirror:8080/"), h).endpoint());
        for (String on : List.of("1", "true", "YES", "on")) assertTrue(HubSettings.from(Map.of("HF_HUB_OFFLINE", on), h).offline(), on);
        for (String off : List.of("0", "false", "")) assertFalse(HubSettings.from(Map.of("HF_HUB_OFFLINE", off), h).offline(), off);
        assertEquals(null, HubSettings.from(Map.of(), h).token());
        Files.createDirectories(h.resolve(".cache/huggingface"));
        Files.writeString(h.resolve(".cache/huggingface/token"), "hf_fromfile\n");
        assertEquals("hf_fromfile", HubSettings.from(Map.of(), h).token(), "huggingface-cli login's token file");
        assertEquals("hf_env", HubSettings.from(Map.of("HF_TOKEN", "hf_env"), h).token(), "HF_TOKEN first");
        assertFalse(HubSettings.from(Map.of("HF_TOKEN", "hf_env"), h).toString().contains("hf_env"), "the token is never printed");
    }
}
