package mamba4j.app;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The mamba4j checkout the command runs from: where the built-in presets' data (data/austen.txt) lives. */
final class Home {
    private Home() {}

    /**
     * {@code -Dmamba4j.home} (the launcher sets it), else the nearest folder above the jar or classes this code was
     * loaded from that holds {@code data/} and {@code pom.xml}; null when neither is found (a jar copied elsewhere).
     */
    static Path checkout() {
        String prop = System.getProperty("mamba4j.home");
        if (prop != null) return Path.of(prop).toAbsolutePath();
        try {
            Path p = Path.of(Home.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath();
            for (; p != null; p = p.getParent())
                if (Files.isDirectory(p.resolve("data")) && Files.isRegularFile(p.resolve("pom.xml"))) return p;
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            return null;   // no code source (an unusual class loader): the caller reports the missing file
        }
        return null;
    }
}
