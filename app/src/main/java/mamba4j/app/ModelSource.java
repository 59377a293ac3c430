package mamba4j.app;

import java.nio.file.Path;

/** Where a command's model comes from: a checkpoint folder. */
final class ModelSource {
    private ModelSource() {}

    static Path resolve(String flag, Path given) {
        return given;
    }
}
