package mamba4j.io.hub;

import mamba4j.core.UserInputException;
import mamba4j.io.CheckpointTensors;
import mamba4j.io.JsonConfig;
import mamba4j.io.UserFiles;

import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A model of the Hugging Face hub as a local folder: the snapshot folder of its revision in the hub cache, holding what
 * mamba4j reads — {@code config.json}, the weights ({@code model.safetensors}, or {@code model.safetensors.index.json}
 * and every shard it names) and the tokenizer files the repository has ({@code tokenizer.json},
 * {@code tokenizer_config.json}, {@code generation_config.json}).
 *
 * <p>The cache comes first: when the revision's snapshot already holds the config and the weights (fetched by
 * transformers, {@code huggingface-cli download} or an earlier run), it is used as it is, with no network. Otherwise
 * the missing files are downloaded ({@link HubClient}) and the revision's commit recorded in {@code refs/}, so the
 * next lookup needs no network either (to move to a newer commit of a branch, name the commit: {@code ORG/NAME@<hash>},
 * or delete {@code refs/<branch>}). Weights only in PyTorch's {@code pytorch_model.bin} are refused, named.
 */
public final class HubModels {
    private HubModels() {}

    /** Files read when the repository has them. */
    public static final List<String> OPTIONAL_FILES = List.of("tokenizer.json", "tokenizer_config.json", "generation_config.json");

    /** {@link #snapshot(RepoId, HubSettings, DownloadListener)} with this process's settings and a plain line per file on stderr. */
    public static Path snapshot(RepoId id) {
        return snapshot(id, HubSettings.fromEnvironment(), DownloadListener.lines(System.err, 30));
    }

    /**
     * The folder of {@code id} in the cache, complete for loading; downloads what it lacks unless offline.
     *
     * @throws UserInputException naming the repository and what is wrong: not in the cache while offline, unknown
     *     repository or revision, access refused (with what to set), no safetensors weights, the host unreachable
     */
    public static Path snapshot(RepoId id, HubSettings settings, DownloadListener listener) {
        HubCache cache = new HubCache(settings.cacheDir(), id);
        Optional<String> known = cache.commitOf(id.revision());
        if (known.isPresent()) {
            List<String> missing = missing(cache, known.get());
            if (missing.isEmpty()) return cache.snapshot(known.get());
            if (settings.offline())
                throw new UserInputException(id + ": the Hugging Face cache " + cache.repoDir() + " lacks " + String.join(", ", missing)
                        + " of commit " + known.get() + ", and HF_HUB_OFFLINE is set: unset it to download them");
        } else if (settings.offline()) {
            throw new UserInputException(id + ": not in the Hugging Face cache " + settings.cacheDir() + (id.isCommit() ? "" : " (no refs/" + id.revision() + ")")
                    + ", and HF_HUB_OFFLINE is set: unset it to download the model, or point HF_HUB_CACHE / HF_HOME at the cache that holds it");
        }
        HubClient hub = new HubClient(settings);
        HubClient.Metadata config = hub.head(id, id.revision(), "config.json");
        if (!config.found()) throw new UserInputException(id + " has no config.json: not a transformers model repository");
        String commit = config.commit();
        if (commit == null || !RepoId.isCommit(commit))
            throw new UserInputException(settings.host() + " did not say which commit " + id.revision() + " of " + id.repo() + " is (no X-Repo-Commit "
                    + "header): is HF_ENDPOINT a Hugging Face hub?");
        cache.writeRef(id.revision(), commit);
        fetch(hub, cache, id, commit, "config.json", config, listener);
        weights(hub, cache, id, commit, listener);
        for (String f : OPTIONAL_FILES) {
            if (cache.has(commit, f) || cache.knownMissing(commit, f)) continue;
            HubClient.Metadata md = hub.head(id, commit, f);
            if (md.found()) fetch(hub, cache, id, commit, f, md, listener);
            else cache.markMissing(commit, f);
        }
        return cache.snapshot(commit);
    }

    /** What {@code commit}'s snapshot lacks for loading: the config, the weights or shards of them. */
    static List<String> missing(HubCache cache, String commit) {
        List<String> out = new ArrayList<>();
        if (!cache.has(commit, "config.json")) out.add("config.json");
        if (cache.has(commit, CheckpointTensors.SINGLE_FILE)) return out;
        if (!cache.has(commit, CheckpointTensors.INDEX_FILE)) {
            out.add(CheckpointTensors.SINGLE_FILE);
            return out;
        }
        for (String shard : shards(cache.snapshot(commit).resolve(CheckpointTensors.INDEX_FILE)))
            if (!cache.has(commit, shard)) out.add(shard);
        return out;
    }

    /** The shard files an index names, once each, in order; a name that would leave the folder is refused. */
    static Set<String> shards(Path index) {
        JsonConfig weightMap = JsonConfig.read(index).node("weight_map");
        Set<String> out = new LinkedHashSet<>();
        for (String tensor : weightMap.keys()) {
            String shard = weightMap.string(tensor);
            UserFiles.inside(index.getParent(), shard, index, "weight_map." + tensor);
            out.add(shard);
        }
        if (out.isEmpty()) throw new UserInputException(index + ": 'weight_map' lists no tensors");
        return out;
    }

    /** model.safetensors, else the index and its shards; PyTorch-only weights are refused, named. */
    private static void weights(HubClient hub, HubCache cache, RepoId id, String commit, DownloadListener listener) {
        if (cache.has(commit, CheckpointTensors.SINGLE_FILE)) return;
        if (!cache.has(commit, CheckpointTensors.INDEX_FILE)) {
            HubClient.Metadata single = hub.head(id, commit, CheckpointTensors.SINGLE_FILE);
            if (single.found()) {
                fetch(hub, cache, id, commit, CheckpointTensors.SINGLE_FILE, single, listener);
                return;
            }
            cache.markMissing(commit, CheckpointTensors.SINGLE_FILE);
            HubClient.Metadata index = hub.head(id, commit, CheckpointTensors.INDEX_FILE);
            if (!index.found()) {
                cache.markMissing(commit, CheckpointTensors.INDEX_FILE);
                for (String bin : List.of("pytorch_model.bin", "pytorch_model.bin.index.json"))
                    if (hub.head(id, commit, bin).found())
                        throw new UserInputException(id + " has its weights only as " + bin + " (PyTorch pickle), which mamba4j does not read: "
                                + "it reads safetensors. Convert them with transformers (from_pretrained, then save_pretrained(dir, "
                                + "safe_serialization=True)) and pass that folder, or choose a revision with model.safetensors");
                throw new UserInputException(id + " (commit " + commit + ") has neither " + CheckpointTensors.SINGLE_FILE + " nor "
                        + CheckpointTensors.INDEX_FILE + ": no weights mamba4j can read");
            }
            fetch(hub, cache, id, commit, CheckpointTensors.INDEX_FILE, index, listener);
        }
        for (String shard : shards(cache.snapshot(commit).resolve(CheckpointTensors.INDEX_FILE))) {
            if (cache.has(commit, shard)) continue;
            HubClient.Metadata md = hub.head(id, commit, shard);
            if (!md.found())
                throw new UserInputException(id + ": " + CheckpointTensors.INDEX_FILE + " names the shard " + shard + ", which the repository "
                        + "does not have (HTTP 404)");
            fetch(hub, cache, id, commit, shard, md, listener);
        }
    }

    /**
     * Puts {@code file} into the snapshot: its blob when the cache has it (another revision's, or a finished download),
     * else downloaded into {@code blobs/<etag>.incomplete} (continued if a part is there), renamed to the blob, linked.
     */
    private static void fetch(HubClient hub, HubCache cache, RepoId id, String commit, String file, HubClient.Metadata md, DownloadListener listener) {
        if (cache.has(commit, file)) return;
        if (md.etag() == null || md.etag().isEmpty())
            throw new UserInputException(id + ": the hub sent no ETag for " + file + ", so it cannot be cached under its hash");
        Path blob = cache.blob(md.etag());
        try (FileLock lock = cache.lock(md.etag())) {
            if (!complete(blob, md.size())) {
                Path part = cache.incomplete(md.etag());
                Files.createDirectories(blob.getParent());
                hub.download(id, file, md, part, listener);
                Files.move(part, blob, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + blob + ": " + e.getMessage(), e);
        }
        cache.link(commit, file, md.etag());
    }

    private static boolean complete(Path blob, long size) {
        try {
            return Files.isRegularFile(blob) && (size < 0 || Files.size(blob) == size);
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
