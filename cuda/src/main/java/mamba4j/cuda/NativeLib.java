package mamba4j.cuda;

import mamba4j.core.UserInputException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Optional;

/** One loaded shared library (dlopen through {@link SymbolLookup#libraryLookup}) and its downcall handles. */
final class NativeLib {
    static final Linker LINKER = Linker.nativeLinker();
    static final ValueLayout.OfInt I = ValueLayout.JAVA_INT;
    static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    static final java.lang.foreign.AddressLayout A = ValueLayout.ADDRESS;

    final String name;      // e.g. "libcuda.so.1"
    final String location;  // the path it was loaded from, or "system loader"
    private final SymbolLookup lookup;

    private NativeLib(String name, String location, SymbolLookup lookup) {
        this.name = name;
        this.location = location;
        this.lookup = lookup;
    }

    /** Loads a library from a path; a file that is not a loadable library is the user's to fix, named. */
    static NativeLib load(Path path) {
        try {
            return new NativeLib(path.getFileName().toString(), path.toString(), SymbolLookup.libraryLookup(path, Arena.global()));
        } catch (IllegalArgumentException e) {
            throw new UserInputException("--backend cuda: cannot load " + path + ": " + e.getMessage());
        }
    }

    /** Loads a library by soname through the system loader (ld.so.cache, LD_LIBRARY_PATH), or empty. */
    static Optional<NativeLib> loadBySoname(String soname) {
        try {
            return Optional.of(new NativeLib(soname, "system loader", SymbolLookup.libraryLookup(soname, Arena.global())));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** A downcall handle for a symbol that must exist. */
    MethodHandle fn(String symbol, FunctionDescriptor fd) {
        return find(symbol, fd).orElseThrow(() -> new UserInputException(
                "--backend cuda: " + name + " (" + location + ") has no symbol " + symbol + " (library too old?)"));
    }

    /** The first of the symbols that exists (e.g. a _v2 name, then the plain one). */
    MethodHandle fnFirst(FunctionDescriptor fd, String... symbols) {
        for (String s : symbols) {
            Optional<MethodHandle> h = find(s, fd);
            if (h.isPresent()) return h.get();
        }
        return fn(symbols[0], fd);
    }

    Optional<MethodHandle> find(String symbol, FunctionDescriptor fd) {
        return lookup.find(symbol).map(addr -> LINKER.downcallHandle(addr, fd));
    }

    static FunctionDescriptor intFn(java.lang.foreign.MemoryLayout... args) { return FunctionDescriptor.of(I, args); }

    /** Reads a NUL-terminated C string returned by the library (static storage). */
    static String cString(MemorySegment p) {
        if (p.equals(MemorySegment.NULL)) return "(null)";
        return p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Rethrows what a downcall threw: errors and runtime exceptions as they are, anything else wrapped. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
