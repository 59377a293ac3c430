package mamba4j.io.hub;

import mamba4j.core.UserInputException;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A model on the Hugging Face hub: {@code ORG/NAME} and a revision (a branch, a tag or a 40-hex commit hash;
 * {@code main} when not given), written {@code ORG/NAME[@REVISION]} on the command line.
 */
public record RepoId(String repo, String revision) {
    public static final String DEFAULT_REVISION = "main";

    /** One name part as the hub allows it (huggingface_hub's repo-id rule): letters, digits, '-', '_', '.', at most 96. */
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.\\-]{0,95}");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    public RepoId {
        String[] parts = repo.split("/", -1);
        if (parts.length != 2 || !valid(parts[0]) || !valid(parts[1]))
            throw new UserInputException("'" + repo + "' is not a Hugging Face model id ORG/NAME (letters, digits, '-', '_', '.')");
        if (revision.isEmpty() || revision.chars().anyMatch(c -> c <= ' ' || c == 0x7f) || revision.contains("..")
                || revision.startsWith("/") || revision.endsWith("/"))
            throw new UserInputException("'" + revision + "' is not a revision of " + repo + " (a branch, a tag or a commit hash)");
    }

    private static boolean valid(String part) {
        return PART.matcher(part).matches() && !part.contains("--") && !part.contains("..") && !part.endsWith(".") && !part.endsWith("-");
    }

    /**
     * {@code ORG/NAME[@REVISION]} parsed, or empty when {@code text} does not have that shape (a folder path such as
     * {@code runs/a/checkpoint} or {@code ./model} is not taken for a hub id).
     */
    public static Optional<RepoId> parse(String text) {
        int at = text.indexOf('@');
        String repo = at < 0 ? text : text.substring(0, at), rev = at < 0 ? DEFAULT_REVISION : text.substring(at + 1);
        String[] parts = repo.split("/", -1);
        if (parts.length != 2 || !valid(parts[0]) || !valid(parts[1])) return Optional.empty();
        return Optional.of(new RepoId(repo, rev));
    }

    /** Whether the revision is a full commit hash (then no branch needs resolving). */
    public boolean isCommit() { return COMMIT.matcher(revision).matches(); }

    static boolean isCommit(String s) { return COMMIT.matcher(s).matches(); }

    /** The cache folder name: {@code models--ORG--NAME}. */
    public String folderName() { return "models--" + repo.replace("/", "--"); }

    @Override public String toString() { return revision.equals(DEFAULT_REVISION) ? repo : repo + "@" + revision; }
}
