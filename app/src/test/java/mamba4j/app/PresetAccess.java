package mamba4j.app;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;

/** Opens {@link TrainCommand}'s package-private preset reader to the fuzz targets. */
public final class PresetAccess {
    private PresetAccess() {}

    public static ObjectNode read(Path file) { return TrainCommand.readPresetFile(file); }
}
