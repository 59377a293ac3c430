package mamba4j.io.hub;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Where the cache is and how to reach the hub, from the environment variables huggingface_hub reads:
 * <ul>
 *   <li>cache: {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub}, where {@code HF_HOME} defaults to
 *       {@code $XDG_CACHE_HOME/huggingface}, else {@code ~/.cache/huggingface};</li>
 *   <li>endpoint: {@code HF_ENDPOINT} (a mirror), else {@code https://huggingface.co};</li>
 *   <li>token: {@code HF_TOKEN}, else the file {@code huggingface-cli login} writes ({@code HF_TOKEN_PATH}, else
 *       {@code $HF_HOME/token}); sent as {@code Authorization: Bearer} to the endpoint only;</li>
 *   <li>offline: {@code HF_HUB_OFFLINE} = 1, true, yes or on: no network, the cache only.</li>
 * </ul>
 *
 * @param token null when none
 */
public record HubSettings(Path cacheDir, String endpoint, String token, boolean offline) {
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    public HubSettings {
        endpoint = endpoint.replaceAll("/+$", "");
        if (token != null && token.isBlank()) token = null;
    }

    /** The settings of this process's environment and home folder. */
    public static HubSettings fromEnvironment() {
        return from(System.getenv(), Path.of(System.getProperty("user.home")));
    }

    /** The settings {@code env} and the home folder {@code home} give (tests pass their own). */
    public static HubSettings from(Map<String, String> env, Path home) {
        Path hfHome = set(env, "HF_HOME") ? Path.of(env.get("HF_HOME"))
                : (set(env, "XDG_CACHE_HOME") ? Path.of(env.get("XDG_CACHE_HOME")) : home.resolve(".cache")).resolve("huggingface");
        Path cache = set(env, "HF_HUB_CACHE") ? Path.of(env.get("HF_HUB_CACHE")) : hfHome.resolve("hub");
        String endpoint = set(env, "HF_ENDPOINT") ? env.get("HF_ENDPOINT") : DEFAULT_ENDPOINT;
        String token = set(env, "HF_TOKEN") ? env.get("HF_TOKEN").strip() : null;
        if (token == null) {
            Path file = set(env, "HF_TOKEN_PATH") ? Path.of(env.get("HF_TOKEN_PATH")) : hfHome.resolve("token");
            try {
                if (Files.isRegularFile(file)) token = Files.readString(file).strip();
            } catch (IOException e) {
                token = null;   // an unreadable token file is as none: a gated model then says to set HF_TOKEN
            }
        }
        String off = env.getOrDefault("HF_HUB_OFFLINE", "").strip().toLowerCase(Locale.ROOT);
        return new HubSettings(cache, endpoint, token, off.equals("1") || off.equals("true") || off.equals("yes") || off.equals("on"));
    }

    private static boolean set(Map<String, String> env, String key) {
        String v = env.get(key);
        return v != null && !v.isBlank();
    }

    /** The endpoint's host (and port), for messages. */
    public String host() {
        try {
            java.net.URI u = java.net.URI.create(endpoint);
            return u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + u.getPort();
        } catch (IllegalArgumentException e) {
            return endpoint;
        }
    }

    @Override public String toString() {   // never the token
        return "HubSettings[cacheDir=" + cacheDir + ", endpoint=" + endpoint + ", token=" + (token == null ? "none" : "set") + ", offline=" + offline + "]";
    }
}
