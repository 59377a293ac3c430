package mamba4j.core;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Finds backends by name: the reference (in core) and every {@link Kernels} on the class path through
 * {@link ServiceLoader} ({@code cpu}, later {@code cuda}); each comes wrapped in the checked {@link Backend} front.
 * Never falls back silently to another one: a missing backend is a user error naming what is there.
 */
public final class Backends {
    private Backends() {}

    private static final Backend REFERENCE = new Backend(ReferenceKernels.INSTANCE);

    /** The scalar reference (float64-capable): the definition the fast backends are tested against. */
    public static Backend reference() { return REFERENCE; }

    /** "reference", or the name of a backend module on the class path ("cpu"). */
    public static Backend get(String name) {
        if (name.equals("reference")) return REFERENCE;
        if (name.startsWith("cuda:")) {   // a device of the cuda backend: its ordinal goes where that backend reads it when it opens
            Device d = Device.parse(name);
            System.setProperty("mamba4j.cuda.device", Integer.toString(d.ordinal()));
            name = "cuda";
        }
        List<String> seen = new ArrayList<>(List.of("reference"));
        for (Kernels k : ServiceLoader.load(Kernels.class)) {
            if (k.name().equals(name)) return new Backend(k.open());
            seen.add(k.name());
        }
        throw new UserInputException("--backend " + name + ": no such backend on the class path (available: "
                + String.join(", ", seen) + ")");
    }

    /** Every backend on the class path, the reference first (what the conformance suite runs). */
    public static List<Backend> all() {
        List<Backend> out = new ArrayList<>(List.of(REFERENCE));
        for (Kernels k : ServiceLoader.load(Kernels.class)) out.add(new Backend(k));
        return out;
    }

    /** The default: the cpu backend. */
    public static Backend defaultBackend() { return get("cpu"); }
}
