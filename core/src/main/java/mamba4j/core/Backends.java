package mamba4j.core;

import java.lang.module.ModuleFinder;
import java.lang.module.ModuleReference;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * Finds backends by name: the reference (in core) and every {@link Kernels} on the class path through
 * {@link ServiceLoader} ({@code cpu}, later {@code cuda}); each comes wrapped in the checked {@link Backend} front.
 * Never falls back silently to another one: a missing backend is a user error naming what is there, and a backend
 * whose classes cannot load (the cpu backend on a JVM started without {@code --add-modules jdk.incubator.vector})
 * is a user error saying which JDK module to add, not a {@link NoClassDefFoundError}.
 */
public final class Backends {
    private Backends() {}

    private static final Backend REFERENCE = new Backend(ReferenceKernels.INSTANCE);

    /** The scalar reference (float64-capable): the definition the fast backends are tested against. */
    public static Backend reference() { return REFERENCE; }

    /**
     * "reference", or the name of a backend module on the class path ("cpu").
     *
     * @throws UserInputException when there is no such backend, or when a backend on the class path cannot load (naming
     *     the JDK module it needs and the flag that enables it)
     */
    public static Backend get(String name) {
        if (name.equals("reference")) return REFERENCE;
        if (name.startsWith("cuda:")) {   // a device of the cuda backend: its ordinal goes where that backend reads it when it opens
            Device d = Device.parse(name);
            System.setProperty("mamba4j.cuda.device", Integer.toString(d.ordinal()));
            name = "cuda";
        }
        List<String> seen = new ArrayList<>(List.of("reference"));
        List<String> failed = new ArrayList<>();
        for (Kernels k : providers(failed)) {
            if (k.name().equals(name)) return new Backend(k.open());
            seen.add(k.name());
        }
        if (!failed.isEmpty())
            throw new UserInputException("--backend " + name + ": " + failed.getFirst() + " (available now: " + String.join(", ", seen) + ")");
        throw new UserInputException("--backend " + name + ": no such backend on the class path (available: "
                + String.join(", ", seen) + ")");
    }

    /**
     * Every backend on the class path, the reference first (what the conformance suite runs).
     *
     * @throws UserInputException when a backend on the class path cannot load, as {@link #get}
     */
    public static List<Backend> all() {
        List<String> failed = new ArrayList<>();
        List<Backend> out = new ArrayList<>(List.of(REFERENCE));
        for (Kernels k : providers(failed)) out.add(new Backend(k));
        if (!failed.isEmpty()) throw new UserInputException(failed.getFirst());
        return out;
    }

    /**
     * The {@link Kernels} that load; for each one that does not, a sentence in {@code failed}. ServiceLoader's iterator
     * throws the provider's linkage error itself (a {@link NoClassDefFoundError} while it looks up the constructor) or
     * wraps it in a {@link ServiceConfigurationError}; either way it goes on with the next provider.
     */
    private static List<Kernels> providers(List<String> failed) {
        List<Kernels> out = new ArrayList<>();
        Iterator<Kernels> it = ServiceLoader.load(Kernels.class).iterator();
        for (int errors = 0; errors < 16; ) {
            try {
                if (!it.hasNext()) break;
                out.add(it.next());
            } catch (ServiceConfigurationError | LinkageError e) {
                failed.add(whyNotLoaded(e));
                errors++;
            }
        }
        return out;
    }

    /**
     * A sentence for a backend that could not load. A missing class of a JDK module that this JVM was not started with
     * (jdk.incubator.vector is not resolved by default) names the module and the flag to add; anything else names the
     * missing class or the error.
     */
    static String whyNotLoaded(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (!(c instanceof NoClassDefFoundError || c instanceof ClassNotFoundException) || c.getMessage() == null) continue;
            String cls = c.getMessage().replace('/', '.');
            String module = jdkModuleOf(cls);
            if (module != null && ModuleLayer.boot().findModule(module).isEmpty())
                return "a backend needs the JDK module " + module + " (class " + cls + "), which this JVM was started without: add "
                        + "--add-modules " + module + " to the java command line (the mamba4j launcher does), or choose --backend reference";
            return "a backend could not load: class " + cls + " is missing from the class path";
        }
        return "a backend could not load: " + e;
    }

    /** The JDK (system) module that holds {@code className}'s package, or null. */
    static String jdkModuleOf(String className) {
        int dot = className.lastIndexOf('.');
        if (dot < 0) return null;
        String pkg = className.substring(0, dot);
        for (ModuleReference m : ModuleFinder.ofSystem().findAll())
            if (m.descriptor().packages().contains(pkg)) return m.descriptor().name();
        return null;
    }

    /** The default: the cpu backend. */
    public static Backend defaultBackend() { return get("cpu"); }
}
