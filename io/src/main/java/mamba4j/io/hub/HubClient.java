package mamba4j.io.hub;

import mamba4j.core.UserInputException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Objects;

/**
 * The hub's HTTP side, as huggingface_hub's {@code hf_hub_download} talks to it: a HEAD request on
 * {@code <endpoint>/ORG/NAME/resolve/<revision>/<file>} gives the commit ({@code X-Repo-Commit}), the etag that names
 * the blob ({@code X-Linked-Etag} for a large LFS file, else {@code ETag}; quotes and a weak {@code W/} prefix dropped),
 * the size ({@code X-Linked-Size}, else {@code Content-Length}) and, for large files, a redirect to the storage host
 * (followed only by the GET: a relative redirect — a renamed repository — is followed by the HEAD too). The GET writes
 * into {@code blobs/<etag>.incomplete}, continuing an earlier part with {@code Range: bytes=N-}. The token goes to the
 * endpoint's host only, never to the storage host a redirect names. Redirects are followed by hand for that reason.
 */
final class HubClient {
    /** What a HEAD said: status, and for a found file its commit, etag, size and where to GET it. */
    record Metadata(int status, String commit, String etag, long size, URI location, String errorCode) {
        boolean found() { return status >= 200 && status < 400; }
    }

    private static final int MAX_REDIRECTS = 10;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(20), HEADERS_TIMEOUT = Duration.ofSeconds(60);
    private static final String USER_AGENT = "mamba4j/0.1.0; java/" + Runtime.version().feature();

    private final HubSettings settings;
    private final HttpClient http;
    private final URI endpoint;

    HubClient(HubSettings settings) {
        this.settings = settings;
        try {
            this.endpoint = URI.create(settings.endpoint() + "/");
            if (endpoint.getHost() == null || !(endpoint.getScheme().equals("https") || endpoint.getScheme().equals("http")))
                throw new IllegalArgumentException("not an http(s) URL");
        } catch (IllegalArgumentException e) {
            throw new UserInputException("HF_ENDPOINT " + settings.endpoint() + ": not an http(s) URL (" + e.getMessage() + ")");
        }
        this.http = HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .version(HttpClient.Version.HTTP_1_1)
                .proxy(proxy(endpoint.getScheme()))
                .build();
    }

    /** {@code HTTPS_PROXY} / {@code HTTP_PROXY} (either case) as requests and httpx read them, else the JVM's default. */
    private static ProxySelector proxy(String scheme) {
        String v = null;
        for (String k : scheme.equals("https") ? new String[]{"HTTPS_PROXY", "https_proxy"} : new String[]{"HTTP_PROXY", "http_proxy"})
            if (v == null && System.getenv(k) != null && !System.getenv(k).isBlank()) v = System.getenv(k);
        if (v == null) return ProxySelector.getDefault();
        URI u = URI.create(v.contains("://") ? v : "http://" + v);
        return ProxySelector.of(new InetSocketAddress(u.getHost(), u.getPort() < 0 ? 80 : u.getPort()));
    }

    /** {@code <endpoint>/ORG/NAME/resolve/<revision>/<file>}, the revision and the file's path segments percent-encoded. */
    URI resolveUrl(RepoId id, String revision, String file) {
        StringBuilder b = new StringBuilder(settings.endpoint()).append('/').append(id.repo()).append("/resolve/").append(encode(revision));
        for (String part : file.split("/")) b.append('/').append(encode(part));
        return URI.create(b.toString());
    }

    private static String encode(String s) {
        StringBuilder b = new StringBuilder();
        for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~')
                b.append((char) c);
            else b.append('%').append(String.format("%02X", c & 0xff));
        }
        return b.toString();
    }

    /**
     * HEAD of {@code file} at {@code revision}. A 404 comes back as such (the caller knows whether the file is optional);
     * a refusal (401, 403), an unknown repository or revision, or a server error is a {@link UserInputException}.
     */
    Metadata head(RepoId id, String revision, String file) {
        URI u = resolveUrl(id, revision, file);
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpResponse<Void> r = send(HttpRequest.newBuilder(u).method("HEAD", HttpRequest.BodyPublishers.noBody()), u, HttpResponse.BodyHandlers.discarding(), id, file);
            int st = r.statusCode();
            HttpHeaders h = r.headers();
            if (st >= 300 && st < 400) {
                URI at = u;
                String loc = h.firstValue("Location").orElseThrow(() -> new UserInputException(settings.host() + " answered HTTP " + st + " without a Location for " + at));
                if (loc.startsWith("/") && !loc.startsWith("//")) {   // the repository moved: ask there
                    u = u.resolve(loc);
                    continue;
                }
                return metadata(st, h, u.resolve(loc));
            }
            if (st == 404 || st == 401 || st == 403) {
                String code = h.firstValue("X-Error-Code").orElse("");
                if (st == 404 && (code.isEmpty() || code.equals("EntryNotFound"))) return new Metadata(404, null, null, -1, u, code);
                throw refused(id, revision, file, st, code);
            }
            if (st != 200) throw new UserInputException(settings.host() + " answered HTTP " + st + " for " + u);
            return metadata(st, h, u);
        }
        throw new UserInputException(settings.host() + ": more than " + MAX_REDIRECTS + " redirects for " + resolveUrl(id, revision, file));
    }

    private static Metadata metadata(int status, HttpHeaders h, URI location) {
        String etag = h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).map(HubClient::normalizeEtag).orElse(null);
        long size = h.firstValue("X-Linked-Size").or(() -> h.firstValue("Content-Length")).map(s -> {
            try {
                return Long.parseLong(s.strip());
            } catch (NumberFormatException e) {
                return -1L;
            }
        }).orElse(-1L);
        return new Metadata(status, h.firstValue("X-Repo-Commit").map(String::strip).orElse(null), etag, size, location, "");
    }

    /** {@code W/"abc"} → {@code abc}, as huggingface_hub's {@code _normalize_etag}. */
    static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) e = e.substring(1, e.length() - 1);
        return e;
    }

    /** The one-line error for a refused or unknown repository, revision or file. */
    private UserInputException refused(RepoId id, String revision, String file, int status, String code) {
        String page = settings.endpoint() + "/" + id.repo();
        return new UserInputException(switch (code) {
            case "RepoNotFound" -> id.repo() + ": no such model on " + settings.host() + " (HTTP " + status + "), or it is private: "
                    + (settings.token() == null ? "set HF_TOKEN to a token with access to it" : "the token in HF_TOKEN has no access to it");
            case "RevisionNotFound" -> id.repo() + " has no revision '" + revision + "' (HTTP " + status + ")";
            case "GatedRepo" -> id.repo() + " is gated (HTTP " + status + "): accept its conditions on " + page + " and "
                    + (settings.token() == null ? "set HF_TOKEN to" : "make sure HF_TOKEN is") + " a token of that account (" + settings.endpoint() + "/settings/tokens)";
            case "EntryNotFound" -> id + " has no file " + file + " (HTTP " + status + ")";
            default -> status == 404 ? id + ": " + file + " not found (HTTP 404)"
                    : id.repo() + ": " + settings.host() + " refused access (HTTP " + status + "): "
                    + (settings.token() == null ? "a gated or private model needs HF_TOKEN set to a token with access to it (" + settings.endpoint() + "/settings/tokens)"
                    : "the token in HF_TOKEN has no access to it; accept its conditions on " + page + " or use another token");
        });
    }

    /**
     * Downloads {@code md}'s file into {@code incomplete}, continuing from the bytes already there, and checks its size
     * (and its sha256 when the etag is one). Returns when {@code incomplete} holds the whole file.
     */
    void download(RepoId id, String file, Metadata md, Path incomplete, DownloadListener listener) {
        long from = sizeOf(incomplete);
        if (md.size() >= 0 && from > md.size()) from = truncate(incomplete);   // longer than the file: not a part of it
        listener.started(file, md.size(), from);
        if (md.size() < 0 || from < md.size()) from = get(id, file, md, incomplete, from, listener, true);
        long got = sizeOf(incomplete);
        if (md.size() >= 0 && got != md.size()) {
            throw new UserInputException(id + ": " + file + " arrived with " + got + " bytes where the hub announced " + md.size()
                    + "; run again to continue it (" + incomplete + ")");
        }
        if (md.etag() != null && md.etag().matches("[0-9a-f]{64}")) {
            String sha = sha256(incomplete);
            if (!sha.equals(md.etag())) {
                truncate(incomplete);
                throw new UserInputException(id + ": " + file + " from " + md.location().getHost() + " does not match its sha256 " + md.etag()
                        + " (got " + sha + "); the part was discarded, run again to download it afresh");
            }
        }
        listener.finished();
    }

    /** One GET (following redirects), appending from {@code from}; returns the bytes now in the file. */
    private long get(RepoId id, String file, Metadata md, Path incomplete, long from, DownloadListener listener, boolean mayRestart) {
        URI u = md.location();
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpRequest.Builder rb = HttpRequest.newBuilder(u).GET().header("Accept-Encoding", "identity");
            if (from > 0) rb.header("Range", "bytes=" + from + "-");
            HttpResponse<InputStream> r = send(rb, u, HttpResponse.BodyHandlers.ofInputStream(), id, file);
            int st = r.statusCode();
            if (st >= 300 && st < 400) {
                close(r);
                String host = u.getHost();
                String loc = r.headers().firstValue("Location").orElseThrow(() -> new UserInputException(host + " answered HTTP " + st + " without a Location for " + file));
                u = u.resolve(loc);
                continue;
            }
            if (st == 416 && from > 0) {   // the range starts at or past the end: the part is the whole file, or not this file
                close(r);
                if (md.size() == from) return from;
                if (!mayRestart) throw new UserInputException(u.getHost() + " refused the range of " + file + " twice");
                return get(id, file, md, incomplete, truncate(incomplete), listener, false);
            }
            if (st == 401 || st == 403 || st == 404) {
                close(r);
                throw refused(id, md.commit() == null ? id.revision() : md.commit(), file, st, r.headers().firstValue("X-Error-Code").orElse(""));
            }
            if (st != 200 && st != 206) {
                close(r);
                throw new UserInputException(u.getHost() + " answered HTTP " + st + " for " + file + " of " + id);
            }
            if (st == 206) {
                String range = r.headers().firstValue("Content-Range").orElse("");
                if (!range.startsWith("bytes " + from + "-")) {
                    close(r);
                    throw new UserInputException(u.getHost() + " sent the range '" + range + "' of " + file + " for bytes=" + from + "-");
                }
            } else if (from > 0) {
                from = truncate(incomplete);   // 200: the whole file again (the server does not do ranges)
            }
            return write(r, incomplete, from, listener, id, file, u);
        }
        throw new UserInputException(md.location().getHost() + ": more than " + MAX_REDIRECTS + " redirects for " + file + " of " + id);
    }

    private long write(HttpResponse<InputStream> r, Path incomplete, long from, DownloadListener listener, RepoId id, String file, URI u) {
        long done = from;
        try (InputStream in = r.body();
             FileChannel out = FileChannel.open(incomplete, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                while (bb.hasRemaining()) out.write(bb);
                done += n;
                listener.progress(done);
            }
            out.force(false);
            return done;
        } catch (IOException e) {
            throw new UserInputException("the download of " + file + " from " + u.getHost() + " broke off after " + done + " bytes (" + e
                    + "); run the same command again to continue it");
        }
    }

    /** Sends one request with the token for the endpoint's host; a network failure is one line naming the host. */
    private <T> HttpResponse<T> send(HttpRequest.Builder rb, URI u, HttpResponse.BodyHandler<T> body, RepoId id, String file) {
        rb.timeout(HEADERS_TIMEOUT).header("User-Agent", USER_AGENT);
        if (settings.token() != null && sameOrigin(u)) rb.header("Authorization", "Bearer " + settings.token());
        try {
            return http.send(rb.build(), body);
        } catch (IOException e) {
            String why = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
            throw new UserInputException("cannot reach " + hostOf(u) + " for " + file + " of " + id + " (" + why + "): check the network (or "
                    + "HF_ENDPOINT, HTTPS_PROXY); with HF_HUB_OFFLINE=1 only the Hugging Face cache is used");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UncheckedIOException(new java.io.InterruptedIOException("interrupted while talking to " + hostOf(u)));
        }
    }

    private boolean sameOrigin(URI u) {
        return Objects.equals(u.getScheme(), endpoint.getScheme()) && Objects.equals(u.getHost(), endpoint.getHost()) && u.getPort() == endpoint.getPort();
    }

    private static String hostOf(URI u) { return u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + u.getPort(); }

    private static void close(HttpResponse<InputStream> r) {
        try {
            r.body().close();
        } catch (IOException ignored) {
            // an unread redirect body: nothing to keep
        }
    }

    private static long sizeOf(Path p) {
        try {
            return Files.exists(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private static long truncate(Path p) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.truncate(0);
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
        }
    }

    static String sha256(Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest()).toLowerCase(Locale.ROOT);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
