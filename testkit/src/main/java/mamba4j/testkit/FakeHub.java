package mamba4j.testkit;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Hugging Face hub on loopback for download tests, serving the URL layout and headers huggingface_hub relies on:
 * {@code /ORG/NAME/resolve/<revision>/<file>} answers HEAD and GET with {@code X-Repo-Commit}; a small file directly
 * with its git blob hash as {@code ETag}; a large (LFS) file with a 302 to an absolute storage URL
 * {@code /cdn/<sha256>} plus {@code X-Linked-Etag} (the sha256) and {@code X-Linked-Size}; the storage URL honours
 * {@code Range: bytes=N-} with a 206 (unless turned off). An unknown repository is a 401 with
 * {@code X-Error-Code: RepoNotFound} (as the hub answers anonymous requests), an unknown revision a 404
 * {@code RevisionNotFound}, a missing file a 404 {@code EntryNotFound}, a gated repository without its token a 401
 * {@code GatedRepo}; a renamed repository answers with a relative 307 to its new name. Every request is recorded.
 */
public final class FakeHub implements AutoCloseable {
    /** One repository: branches → commits, and per commit its files (name → bytes); names in {@code lfs} go through the storage URL. */
    private record Repo(Map<String, String> branches, Map<String, Map<String, byte[]>> commits, Set<String> lfs, String token) {}

    /** One request as seen: method, path (decoded), the Range and Authorization headers (null when absent). */
    public record Request(String method, String path, String range, String authorization) {
        @Override public String toString() { return method + " " + path + (range == null ? "" : " [" + range + "]"); }
    }

    private final HttpServer server;
    private final Map<String, Repo> repos = new LinkedHashMap<>();
    private final Map<String, String> moved = new LinkedHashMap<>();
    private final Map<String, byte[]> storage = new LinkedHashMap<>();
    private final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private final AtomicLong bodyBytes = new AtomicLong();
    private volatile boolean ranges = true;
    private volatile byte[] corruptStorage;

    public FakeHub() {
        try {
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        server.createContext("/", this::handle);
        server.start();
    }

    /** {@code http://127.0.0.1:PORT}: what HF_ENDPOINT would hold. */
    public String endpoint() { return "http://" + server.getAddress().getHostString() + ":" + server.getAddress().getPort(); }

    /** Adds (or extends) {@code repo} with {@code files} at {@code commit}, which branch {@code branch} points at; names in {@code lfs} are large files. */
    public synchronized FakeHub repo(String repo, String branch, String commit, Map<String, byte[]> files, Set<String> lfs) {
        Repo r = repos.computeIfAbsent(repo, k -> new Repo(new LinkedHashMap<>(), new LinkedHashMap<>(), new java.util.HashSet<>(), null));
        r.branches().put(branch, commit);
        r.commits().put(commit, new LinkedHashMap<>(files));
        r.lfs().addAll(lfs);
        for (var e : files.entrySet()) if (lfs.contains(e.getKey())) storage.put(sha256(e.getValue()), e.getValue());
        return this;
    }

    /** Makes {@code repo} gated: only {@code Authorization: Bearer <token>} gets its files. */
    public synchronized FakeHub gated(String repo, String token) {
        Repo r = repos.get(repo);
        repos.put(repo, new Repo(r.branches(), r.commits(), r.lfs(), token));
        return this;
    }

    /** {@code oldName} was renamed to {@code newName}: its URLs answer 307 with a relative Location. */
    public synchronized FakeHub moved(String oldName, String newName) {
        moved.put(oldName, newName);
        return this;
    }

    /** Whether the storage URL honours Range requests (default true; false: a 200 with the whole file). */
    public FakeHub ranges(boolean on) {
        ranges = on;
        return this;
    }

    /** Serves these bytes from the storage URL instead of the real content (a corrupt download). */
    public FakeHub corruptStorage(byte[] bytes) {
        corruptStorage = bytes;
        return this;
    }

    public List<Request> requests() { synchronized (requests) { return List.copyOf(requests); } }

    /** Body bytes sent so far by GET answers. */
    public long bodyBytes() { return bodyBytes.get(); }

    /** The sha256 of {@code b}, lower-case hex (an LFS file's etag). */
    public static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The git blob hash of {@code b} (sha1 of "blob N\0" + bytes): a small file's etag on the hub. */
    public static String gitBlobHash(byte[] b) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            md.update(("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(md.digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = URLDecoder.decode(ex.getRequestURI().getRawPath().replace("+", "%2B"), StandardCharsets.UTF_8);
            String range = ex.getRequestHeaders().getFirst("Range"), auth = ex.getRequestHeaders().getFirst("Authorization");
            requests.add(new Request(ex.getRequestMethod(), path, range, auth));
            boolean head = ex.getRequestMethod().equals("HEAD");
            if (path.startsWith("/cdn/")) {
                byte[] b = storage.get(path.substring(5));
                if (b == null) { send(ex, 404, null, head); return; }
                if (corruptStorage != null) b = corruptStorage;
                long from = 0;
                if (range != null && ranges && range.matches("bytes=\\d+-")) {
                    from = Long.parseLong(range.substring(6, range.length() - 1));
                    if (from >= b.length) {
                        ex.getResponseHeaders().set("Content-Range", "bytes */" + b.length);
                        send(ex, 416, null, head);
                        return;
                    }
                    ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (b.length - 1) + "/" + b.length);
                    send(ex, 206, java.util.Arrays.copyOfRange(b, (int) from, b.length), head);
                    return;
                }
                send(ex, 200, b, head);
                return;
            }
            // /ORG/NAME/resolve/REV/FILE, REV possibly percent-encoded with slashes (refs/pr/1): split on the raw path
            String[] raw = ex.getRequestURI().getRawPath().split("/", 6);
            if (raw.length < 6 || !raw[3].equals("resolve")) { send(ex, 404, null, head); return; }
            String repoName = raw[1] + "/" + raw[2], rev = URLDecoder.decode(raw[4], StandardCharsets.UTF_8),
                    file = URLDecoder.decode(raw[5].replace("+", "%2B"), StandardCharsets.UTF_8);
            Repo repo;
            String newName;
            synchronized (this) {
                newName = moved.get(repoName);
                repo = repos.get(repoName);
            }
            if (newName != null) {
                ex.getResponseHeaders().set("Location", "/" + newName + "/resolve/" + raw[4] + "/" + raw[5]);
                send(ex, 307, null, head);
                return;
            }
            if (repo == null) { error(ex, 401, "RepoNotFound", head); return; }
            if (repo.token() != null && !("Bearer " + repo.token()).equals(auth)) { error(ex, 401, "GatedRepo", head); return; }
            String commit = repo.commits().containsKey(rev) ? rev : repo.branches().get(rev);
            if (commit == null) { error(ex, 404, "RevisionNotFound", head); return; }
            byte[] b = repo.commits().get(commit).get(file);
            ex.getResponseHeaders().set("X-Repo-Commit", commit);
            if (b == null) { error(ex, 404, "EntryNotFound", head); return; }
            if (repo.lfs().contains(file)) {
                String sha = sha256(b);
                ex.getResponseHeaders().set("X-Linked-Etag", "\"" + sha + "\"");
                ex.getResponseHeaders().set("X-Linked-Size", Long.toString(b.length));
                ex.getResponseHeaders().set("ETag", "W/\"" + gitBlobHash(("pointer " + sha).getBytes(StandardCharsets.US_ASCII)) + "\"");
                ex.getResponseHeaders().set("Location", endpoint() + "/cdn/" + sha);
                send(ex, 302, null, head);
                return;
            }
            ex.getResponseHeaders().set("ETag", "\"" + gitBlobHash(b) + "\"");
            send(ex, 200, b, head);
        }
    }

    private void error(HttpExchange ex, int status, String code, boolean head) throws IOException {
        ex.getResponseHeaders().set("X-Error-Code", code);
        send(ex, status, null, head);
    }

    private void send(HttpExchange ex, int status, byte[] body, boolean head) throws IOException {
        if (body == null || head) {
            if (body != null) ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        bodyBytes.addAndGet(body.length);
    }

    @Override public void close() { server.stop(0); }
}
