package mamba4j.testkit;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the repository root and the committed golden files from tests (a fresh clone needs nothing beside it). */
public final class Repo {
    private Repo() {}

    public static Path root() {
        String p = System.getProperty("mamba4j.repo");
        Path dir = p != null ? Path.of(p) : Path.of("").toAbsolutePath();
        for (Path d = dir.toAbsolutePath(); d != null; d = d.getParent())
            if (Files.isDirectory(d.resolve("testdata")) && Files.exists(d.resolve("pom.xml")) && Files.exists(d.resolve("mamba4j")))
                return d;
        throw new IllegalStateException("repository root (with testdata/ and pom.xml) not found from " + dir);
    }

    /** testdata/golden under the root. */
    public static Path golden() { return root().resolve("testdata").resolve("golden"); }

}
